/*
 * collections/dict.h - Dictionary: an ordered map from string keys to
 * values, as a copy-on-write B+tree whose nodes are atoms (coll.h).
 *
 * Keys are UTF-8, at most PB__DICT_KEY_MAX bytes, ordered bytewise
 * (memcmp, a shorter key first when one is a prefix of the other).  Leaves
 * hold at most pb__coll_fanout entries and branches at most that many
 * children; every node but the root holds at least half.  Branches keep
 * the entry count of each child, so count is O(1) and a 1M-entry tree
 * with fanout 64 is at most 4 levels deep.
 *
 * Node layouts (values, coll.h grammar) are documented in dict.c and
 * docs/coll-dict.md.
 *
 * Memory: keys and values that put and bulk load copy stay in the handle
 * until pb__dict_free or pb__dict_reuse, also after they were replaced or
 * removed, because views that get and iterators handed out stay valid
 * that long (coll.h).
 *
 * Errors common to every function that reads nodes: PB_ECORRUPT (a node
 * of the wrong type or shape, keys out of order, a tree deeper than
 * PB__COLL_MAX_DEPTH, a child atom missing), PB_EVERSION, PB_EIO,
 * PB_ENOMEM.
 */
#ifndef PB_COLLECTIONS_DICT_H
#define PB_COLLECTIONS_DICT_H

#include "collections/coll.h"

/** The longest key, in bytes. */
#define PB__DICT_KEY_MAX 4096u

typedef struct pb__dict pb__dict;
typedef struct pb__dict_iter pb__dict_iter;

/** A key range; a side with has_* false is open. */
typedef struct pb__dict_range {
  pb_str lo, hi;            /* bounds */
  bool has_lo, has_hi;      /* whether each bound applies */
  bool lo_incl, hi_incl;    /* inclusive (true) or exclusive */
} pb__dict_range;

/** A handle over the tree at `root` (null: empty), read through `src`
 * (copied; src->arg must outlive the handle).  Loads nothing yet.
 * Errors: PB_ENOMEM. */
int pb__dict_open(const pb__src *src, pb_atom_ptr root, pb__dict **out);
/** Frees the handle, its in-memory nodes and copies.  NULL is a no-op. */
void pb__dict_free(pb__dict *d);
/**
 * Makes `d` what pb__dict_open(src, root) gives (src NULL: the handle's
 * own), without allocating: frees
 * its in-memory nodes and copies as pb__dict_free does (so every view it
 * handed out dies here, as with pb__dict_free) and keeps the handle, its
 * arena and a small arena block for the next user (txn/tcoll.c pools
 * them per transaction handle, so a warm read allocates no handle).
 */
void pb__dict_reuse(pb__dict *d, const pb__src *src, pb_atom_ptr root);

/**
 * The atoms of the shared (cached) nodes this handle copied to change
 * them since it was opened or reused, in *out (n of them; valid until the
 * handle changes again, is reused or freed): nodes that its flush
 * replaces, which a commit that published the flush may drop from the
 * object cache (txn/txn_cache.c).  Cannot fail.
 */
size_t pb__dict_gone(const pb__dict *d, const pb_atom_ptr **out);

/** Looks `key` up.  Errors: PB_ENOTFOUND (no such key), and the above. */
int pb__dict_get(pb__dict *d, pb_str key, pb_value *out);
/**
 * A hint that `key` will be got soon: descends to the leaf's parent (as a
 * get does, loading branches through the caches) and prefetches the
 * leaf's first lines, so that several gets whose keys are known ahead
 * (a cursor over an index) wait for memory together rather than one after
 * the other.  Changes nothing a reader sees; errors are ignored (the get
 * reports them).
 */
void pb__dict_prefetch(pb__dict *d, pb_str key);
/** Inserts or replaces (key and value are copied; replacing a value by an
 * equal one changes nothing).  On any error the dictionary is unchanged.
 * Errors: PB_EINVAL (key not UTF-8, value with no encoding), PB_ETOOBIG
 * (key too long, or the root would split past PB__COLL_MAX_DEPTH levels),
 * and the above. */
int pb__dict_put(pb__dict *d, pb_str key, const pb_value *v);
/** Removes `key`.  On any error the dictionary is unchanged.  Errors:
 * PB_ENOTFOUND, and the above. */
int pb__dict_remove(pb__dict *d, pb_str key);
/** The number of entries.  Errors: as above (the root may need loading). */
int pb__dict_count(pb__dict *d, uint64_t *out);

/**
 * Iterates in key order over `r` (NULL: every key), or in reverse order
 * when `reverse`.  A put or remove on the dictionary invalidates its
 * iterators (use after that is undefined).  Errors: PB_ENOMEM.
 */
int pb__dict_iter_open(pb__dict *d, const pb__dict_range *r, bool reverse,
                       pb__dict_iter **out);
/** The next entry.  Returns PB_OK, or PB_ENOTFOUND after the last; other
 * errors as above (nodes load as the iterator reaches them), after which
 * the iterator returns that error again.  Key and value are views valid
 * until the dict is freed. */
int pb__dict_iter_next(pb__dict_iter *it, pb_str *key, pb_value *val);
/** One entry of a leaf (collections/dict_int.h): a key and its value. */
typedef struct pb__dent pb__dent;
/** The next entries as a run of the current leaf, for a caller that walks
 * them itself: *ents and *n (>= 1) are the entries pb__dict_iter_next
 * would give next, in order (forward: up to the leaf's end or the far
 * bound; in reverse, one entry), and the iterator moves past them.
 * PB_ENOTFOUND (*n 0) after the last; errors as pb__dict_iter_next
 * (sticky, shared with it).  The array is the iterator's (its leaf), valid
 * until the next call on it; the keys and values are views as above. */
int pb__dict_iter_run(pb__dict_iter *it, const pb__dent **ents, size_t *n);
/** Frees the iterator.  NULL is a no-op. */
void pb__dict_iter_free(pb__dict_iter *it);

/**
 * Loads n entries into an EMPTY dictionary, building full leaves left to
 * right (much faster than n puts).  Keys must be strictly ascending.
 * Errors: PB_EINVAL (not empty, keys out of order or not UTF-8, a value
 * with no encoding; nothing is changed), PB_ETOOBIG (a key too long),
 * PB_ENOMEM, and the read errors above when the root must be loaded to
 * see whether it is empty.
 */
int pb__dict_bulk_load(pb__dict *d, const pb_str *keys, const pb_value *vals,
                       size_t n);

/** Gives entry i (0 <= i < n) of a caller's sorted run: its key and its
 * value, as views that stay valid as long as the caller says. */
typedef void (*pb__dict_at_fn)(const void *ctx, size_t i, pb_str *key,
                               pb_value *val);

/**
 * Builds the tree of n >= 1 entries (strictly ascending keys, each valid
 * UTF-8 of at most PB__DICT_KEY_MAX bytes, values pb__value_valid: the
 * caller has checked them; given by `at`) for an EMPTY
 * dictionary and writes every node through `sink` as it is built: a leaf
 * is encoded and freed at once, so the entries' bytes need to live only
 * until this returns, and the handle holds no node of the new tree
 * afterwards.  The dictionary's root becomes the written root, not
 * loaded (reads load it through the source, which must read what the
 * sink wrote), and the handle is dirty.  *root (may be NULL) gets the
 * written root.  On an error the dictionary is unchanged (atoms already
 * written are left in the sink).  Errors: PB_EINVAL (not empty, n == 0),
 * the sink's, PB_ENOMEM, and the read errors above when the root must be
 * loaded.
 */
int pb__dict_bulk_write(pb__dict *d, const pb__sink *sink, pb__dict_at_fn at,
                        const void *ctx, size_t n, pb_atom_ptr *root);

/**
 * Merges n >= 1 puts (strictly ascending keys, checked by the caller as
 * for pb__dict_bulk_write; the tree keeps views of their keys and
 * payloads, which must stay valid until the handle is freed) into the
 * dictionary in one pass (a merge-build, dict_merge.c): only the leaves
 * that gain or change an entry and their ancestors are copied and
 * rewritten, every other subtree keeps its atom and stays unloaded; an
 * overfull node is cut into near-equal nodes.  Puts of the value already
 * there change nothing (a merge of only those leaves the handle clean).
 * An empty dictionary is built the same way, from an empty leaf.  Errors:
 * PB_ETOOBIG (the tree would grow past PB__COLL_MAX_DEPTH levels),
 * PB_ENOMEM and the read errors above; after an error the handle may hold
 * part of the puts and must only be freed (a transaction marks its
 * collection broken: txn/tcoll.h).
 */
int pb__dict_merge(pb__dict *d, pb__dict_at_fn at, const void *ctx,
                   size_t n);

/** True when the dictionary changed since it was opened or last flushed. */
bool pb__dict_dirty(const pb__dict *d);
/** The root as of the last open or flush (what the dictionary was based
 * on; unchanged by puts until flush). */
pb_atom_ptr pb__dict_base(const pb__dict *d);
/**
 * Writes every dirty node, children first, through `sink` and gives the
 * new root (the null pointer for an empty dictionary); clean subtrees keep
 * their atoms.  The handle stays usable and is clean afterwards.  On an
 * error the handle is unchanged, but atoms may have been written.
 * Errors: the sink's, PB_EINVAL, PB_ENOMEM.
 */
int pb__dict_flush(pb__dict *d, const pb__sink *sink, pb_atom_ptr *root);

/** The tree's height (0 when empty, 1 for a single leaf), from the root's
 * level (loading the root).  For tests and statistics.  Errors: as
 * above. */
int pb__dict_height(pb__dict *d, unsigned *out);

#endif /* PB_COLLECTIONS_DICT_H */
