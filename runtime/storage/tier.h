/*
 * storage/tier.h - checks that every tier applies to a commit before it
 * touches its state, so that all tiers accept and refuse the same commits
 * (implemented in storage/storage.c).
 */
#ifndef PB_STORAGE_TIER_H
#define PB_STORAGE_TIER_H

#include "storage/batch_index.h"
#include "storage/storage.h"

/**
 * Checks a batch handed to commit: not NULL; when it has bytes, a non-zero
 * id, non-NULL data, and a well-formed atom sequence (pb__batch_check).
 * Errors: PB_EINVAL.
 */
int pb__storage_check_batch(const pb__batch *batch);

/**
 * Checks that a new root is null, or addresses an atom's length prefix
 * inside `batch` or inside a batch of `ix`.  Call with the index stable.
 * Errors: PB_EINVAL (a dangling root would be unreadable after commit).
 */
int pb__storage_check_root(const pb__batch *batch, const pb__batch_index *ix,
                           pb_atom_ptr root);

#endif /* PB_STORAGE_TIER_H */
