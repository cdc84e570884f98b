/*
 * collections/list.h - List: an indexable sequence of values, as a
 * copy-on-write counted B-tree whose nodes are atoms (coll.h).
 *
 * Leaves hold at most pb__coll_fanout values and branches at most that
 * many children, each with the number of values under it, so get, set,
 * insert and remove at an index are O(log n); every node but the root
 * holds at least half.  Node layouts are documented in list.c, and so is
 * loading: decoded nodes come through the object cache, shared, and each
 * handle reads them in place and copies one only on its first write to
 * it (list_int.h).
 *
 * Errors common to every function that reads nodes: PB_ECORRUPT (a node
 * of the wrong type or shape, counts that do not add up, a tree deeper
 * than PB__COLL_MAX_DEPTH, a child atom missing), PB_EVERSION, PB_EIO,
 * PB_ENOMEM.
 */
#ifndef PB_COLLECTIONS_LIST_H
#define PB_COLLECTIONS_LIST_H

#include "collections/coll.h"

typedef struct pb__list pb__list;
typedef struct pb__list_iter pb__list_iter;

/** A handle over the tree at `root` (null: empty), read through `src`
 * (copied; src->arg must outlive the handle).  Loads nothing yet.
 * Errors: PB_ENOMEM. */
int pb__list_open(const pb__src *src, pb_atom_ptr root, pb__list **out);
/** Frees the handle.  NULL is a no-op. */
void pb__list_free(pb__list *l);

/** The number of values.  Errors: as above. */
int pb__list_count(pb__list *l, uint64_t *out);
/** The value at `i`.  Errors: PB_ERANGE (i >= count), and the above. */
int pb__list_get(pb__list *l, uint64_t i, pb_value *out);
/** Replaces the value at `i` (copied).  Errors: PB_ERANGE, PB_EINVAL (a
 * value with no encoding), and the above. */
int pb__list_set(pb__list *l, uint64_t i, const pb_value *v);
/** Inserts before index `i` (i == count appends).  Errors: PB_ERANGE
 * (i > count), PB_EINVAL, PB_ETOOBIG (the tree would grow past
 * PB__COLL_MAX_DEPTH levels: not below 2^31 values), and the above.  On
 * any error the list is unchanged. */
int pb__list_insert(pb__list *l, uint64_t i, const pb_value *v);
/** Appends.  Errors: PB_EINVAL, PB_ETOOBIG, and the above. */
int pb__list_append(pb__list *l, const pb_value *v);
/** Removes the value at `i`.  Errors: PB_ERANGE, and the above.  On any
 * error the list is unchanged (set and insert too). */
int pb__list_remove(pb__list *l, uint64_t i);

/**
 * Iterates over indexes [from, to) (to is clamped to the count).  A change
 * to the list invalidates its iterators.  Errors: PB_ERANGE (from >
 * count or from > to), PB_ENOMEM, and the above.
 */
int pb__list_iter_open(pb__list *l, uint64_t from, uint64_t to,
                       pb__list_iter **out);
/** The next value: PB_OK, or PB_ENOTFOUND after the last.  Views valid
 * until the list is freed.  A child atom missing on the way is
 * PB_ECORRUPT here (never PB_ENOTFOUND, which would read as the end);
 * after an error every later call returns it again. */
int pb__list_iter_next(pb__list_iter *it, pb_value *val);
/** Frees the iterator.  NULL is a no-op. */
void pb__list_iter_free(pb__list_iter *it);

/**
 * A new list holding the values [from, to) of `l` (to clamped to the
 * count; to < from gives an empty list), read through the same source;
 * it is dirty until flushed.  The values are copied and the tree is
 * built anew: O(to - from) time and memory, no node shared with `l`.
 * Errors: PB_ERANGE (from > count), and the above.
 */
int pb__list_slice(pb__list *l, uint64_t from, uint64_t to, pb__list **out);

/** True when the list changed since it was opened or last flushed. */
bool pb__list_dirty(const pb__list *l);
/** The root as of the last open or flush. */
pb_atom_ptr pb__list_base(const pb__list *l);
/** Writes the dirty nodes, children first, and gives the new root (null
 * when empty); as pb__dict_flush.  Errors: the sink's, PB_ENOMEM. */
int pb__list_flush(pb__list *l, const pb__sink *sink, pb_atom_ptr *root);

/** The tree's height (0 empty, 1 one leaf).  Errors: as above. */
int pb__list_height(pb__list *l, unsigned *out);

#endif /* PB_COLLECTIONS_LIST_H */
