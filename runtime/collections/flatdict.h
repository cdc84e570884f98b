/*
 * collections/flatdict.h - a Dictionary held in ONE atom: a sorted array of
 * (string key, value) entries.
 *
 * This is the walking skeleton's Dictionary, used for the two roots (the
 * space root: database name -> database root; a database root: name ->
 * value).  The copy-on-write B+tree Dictionary of issue 5 replaces it, with
 * the same role.  Lookups are binary searches; updates copy the array, which
 * is fine for the handful of names a root holds.
 *
 * Body (after the atom envelope, type PB__TYPE_FLATDICT):
 *   varint count, then count times: varint key length, key bytes (UTF-8),
 *   value (atom/value.h).  Keys are strictly ascending (bytewise), so the
 *   encoding of a dictionary is unique.
 */
#ifndef PB_COLLECTIONS_FLATDICT_H
#define PB_COLLECTIONS_FLATDICT_H

#include "protobase/protobase.h"
#include "storage/storage.h"

typedef struct pb__flat_entry {
  pb_str key;     /* a view: into the decoded atom, or into `owned` */
  pb_value value; /* strings and bytes are views like the key */
  void *owned;    /* heap copy of key and payload for entries set here */
} pb__flat_entry;

typedef struct pb__flatdict {
  pb__flat_entry *entries; /* sorted by key, bytewise */
  size_t count;            /* entries in use */
  size_t cap;              /* entries allocated */
} pb__flatdict;

void pb__flatdict_init(pb__flatdict *d);
void pb__flatdict_free(pb__flatdict *d);

/**
 * Loads the dictionary at `ptr` (the null pointer is the empty dictionary).
 * Entries are views into storage memory, valid while the storage is open.
 * Errors: PB_ENOTFOUND, PB_ECORRUPT, PB_EVERSION, PB_ENOMEM, PB_EIO.
 */
int pb__flatdict_load(pb_storage *st, pb_atom_ptr ptr, pb__flatdict *d);

/**
 * pb__flatdict_load for a committer rebasing on the pending head: the atom
 * may belong to a commit that is appended but not yet published.
 */
int pb__flatdict_load_pending(pb_storage *st, pb_atom_ptr ptr,
                              pb__flatdict *d);

/** Decodes a body (views into it).  Errors: PB_ECORRUPT, PB_ENOMEM. */
int pb__flatdict_decode(pb__flatdict *d, pb_bytes body);

/** Appends the whole atom (envelope and body) to `b`. */
void pb__flatdict_encode(const pb__flatdict *d, pb_buf *b);

/** Looks `key` up.  Errors: PB_ENOTFOUND. */
int pb__flatdict_get(const pb__flatdict *d, pb_str key, pb_value *out);

/** Inserts or replaces; copies key and value.  Errors: PB_ENOMEM. */
int pb__flatdict_put(pb__flatdict *d, pb_str key, const pb_value *v);

/** Removes `key`.  Errors: PB_ENOTFOUND. */
int pb__flatdict_remove(pb__flatdict *d, pb_str key);

#endif /* PB_COLLECTIONS_FLATDICT_H */
