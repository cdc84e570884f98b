/*
 * atom/arena.h - what the runtime itself needs of pb_arena (atom/arena.c)
 * beyond the public API in protobase/wire.h: an arena whose first block is
 * small, and the memory an arena really takes.  The object cache keeps one
 * arena per decoded record (txn/record.c) and counts it in full, so an
 * arena sized for a whole transaction (4 KiB at first) would waste most
 * of a small record's share of the cache.
 */
#ifndef PB_ATOM_ARENA_H
#define PB_ATOM_ARENA_H

#include <stddef.h>

#include "protobase/wire.h"

/**
 * pb_arena_create with a first block of `first_block` bytes (rounded up
 * to 8, at most the default 4 KiB); later blocks double as usual.
 * Errors: PB_ENOMEM.
 */
int pb__arena_create_sized(size_t first_block, pb_arena **out);

/**
 * pb_arena_reset that keeps the largest block only when it holds at most
 * `keep_max` bytes (else frees every block): for an arena kept for reuse
 * (a pooled Dictionary handle, collections/dict.h), so that one big
 * transaction does not leave a big block behind.
 */
void pb__arena_reset_max(pb_arena *a, size_t keep_max);

/** The bytes the arena holds from malloc: its handle and every block,
 * headers included (0 for NULL). */
size_t pb__arena_footprint(const pb_arena *a);

#endif /* PB_ATOM_ARENA_H */
