/*
 * collections/hash.h - HashDictionary (any value as key) and Set (of
 * values), one copy-on-write hash trie whose nodes are atoms (coll.h).
 *
 * The trie is a CHAMP (compressed hash-array mapped prefix trie): each
 * node covers 5 bits of the key's 64-bit hash, with one bitmap for the
 * entries stored inline and one for the child nodes.  Deletion compacts a
 * node that is left with a single entry into its parent, so a given
 * content always has the same shape, and equal contents have equal roots.
 * Keys whose 64-bit hashes are equal end in a collision node (a flat list
 * past the last level).  Node layouts are documented in hash.c.
 *
 * A key's hash is pb__hash_fn over the key's value encoding (atom/value.h):
 * XXH3-64 by default.  Two keys are the same when their encodings are
 * (pb__value_equal).  A Set is a trie whose values are all NULL.
 *
 * A key (or Set element) may not hold a non-null atom pointer: a REF, a
 * nested collection, or a RECORD with a pointer field.  Compaction
 * rewrites pointers in place (storage/compact.c), which would change such
 * a key's encoding, hence its hash, but not its place in the trie.  Insert
 * refuses them with PB_EINVAL; get, remove and contains simply do not find
 * them.  Keys that name atoms belong in a Dictionary or in the record.
 *
 * Errors common to every function that reads nodes: PB_ECORRUPT (a node
 * of the wrong type or shape, an entry in the wrong place for its hash, a
 * trie deeper than PB__COLL_MAX_DEPTH, a child atom missing), PB_EVERSION,
 * PB_EIO, PB_ENOMEM.
 */
#ifndef PB_COLLECTIONS_HASH_H
#define PB_COLLECTIONS_HASH_H

#include "collections/coll.h"

/**
 * The hash of a key's encoding.  Tests replace it (for example with one
 * that sends every key to the same few hashes, to force collisions) before
 * any trie is used; it is not meant to change while tries exist, and a
 * store written with one function is read with the same one.
 */
typedef uint64_t (*pb__hash_fn_t)(const void *bytes, size_t len);
extern pb__hash_fn_t pb__hash_fn;
/** The default: XXH3-64, seed 0. */
uint64_t pb__hash_xxh3(const void *bytes, size_t len);

typedef struct pb__hash pb__hash;
typedef struct pb__hash_iter pb__hash_iter;

/** A handle over the trie at `root` (null: empty), read through `src`
 * (copied; src->arg must outlive the handle).  Errors: PB_ENOMEM. */
int pb__hash_open(const pb__src *src, pb_atom_ptr root, pb__hash **out);
/** Frees the handle.  NULL is a no-op. */
void pb__hash_free(pb__hash *h);

/** Looks `key` up.  Errors: PB_ENOTFOUND, PB_EINVAL (a key with no
 * encoding), and the above. */
int pb__hash_get(pb__hash *h, const pb_value *key, pb_value *out);
/** Inserts or replaces (copied).  Errors: PB_EINVAL (a key with no
 * encoding or with a pointer, an invalid value), PB_ETOOBIG (a collision
 * node would hold more than 32,767 keys), and the above. */
int pb__hash_put(pb__hash *h, const pb_value *key, const pb_value *v);
/** Removes `key`.  Errors: PB_ENOTFOUND, PB_EINVAL, and the above. */
int pb__hash_remove(pb__hash *h, const pb_value *key);
/** The number of entries.  Errors: as above (may load the whole trie the
 * first time: nodes do not store counts). */
int pb__hash_count(pb__hash *h, uint64_t *out);

/** Iterates over every entry, in hash order.  A change invalidates the
 * iterators.  Errors: PB_ENOMEM. */
int pb__hash_iter_open(pb__hash *h, pb__hash_iter **out);
/** The next entry: PB_OK, or PB_ENOTFOUND after the last.  Views valid
 * until the handle is freed. */
int pb__hash_iter_next(pb__hash_iter *it, pb_value *key, pb_value *val);
/** Frees the iterator.  NULL is a no-op. */
void pb__hash_iter_free(pb__hash_iter *it);

/** True when the trie changed since it was opened or last flushed. */
bool pb__hash_dirty(const pb__hash *h);
/** The root as of the last open or flush. */
pb_atom_ptr pb__hash_base(const pb__hash *h);
/** Writes the dirty nodes, children first, and gives the new root (null
 * when empty); as pb__dict_flush.  Errors: the sink's, PB_ENOMEM. */
int pb__hash_flush(pb__hash *h, const pb__sink *sink, pb_atom_ptr *root);

/* --- Set: a pb__hash whose values are NULL --- */

/** Adds `elem`; *added (may be NULL) tells whether it was new.
 * Errors: PB_EINVAL (as pb__hash_put's key), PB_ETOOBIG, and the above. */
int pb__set_add(pb__hash *s, const pb_value *elem, bool *added);
/** Whether `elem` is in the set.  Errors: PB_EINVAL, and the above. */
int pb__set_contains(pb__hash *s, const pb_value *elem, bool *out);
/* Remove, count, iterate, flush: pb__hash_remove, pb__hash_count,
 * pb__hash_iter_* (val is NULL), pb__hash_flush. */

/** The kinds of set algebra. */
typedef enum pb__set_op {
  PB__SET_UNION,        /* in a or in b */
  PB__SET_INTERSECTION, /* in a and in b */
  PB__SET_DIFFERENCE    /* in a and not in b */
} pb__set_op;

/**
 * A new set, read through a's source, holding `a op b`; a and b are not
 * changed (b may use another source).  Errors: as above.
 */
int pb__set_algebra(pb__hash *a, pb__hash *b, pb__set_op op, pb__hash **out);

#endif /* PB_COLLECTIONS_HASH_H */
