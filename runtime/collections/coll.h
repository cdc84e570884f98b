/*
 * collections/coll.h - what the persistent collections share: where they
 * read atoms from, where they write new ones, the node encoding, and the
 * limits that keep hostile bytes harmless.
 *
 * The four collections (dict.h: Dictionary, a B+tree with string keys;
 * list.h: List, a counted B-tree; hash.h: HashDictionary and Set, a CHAMP
 * trie on XXH3) are copy-on-write trees of NODES, each node one atom.
 * Inside a transaction a collection is a handle over an in-memory tree:
 *
 *   - a child slot holds the child's pointer and, once it was needed, the
 *     decoded node.  A slot whose node is NULL and whose pointer is not
 *     null is explicitly NOT LOADED: every access loads it through the
 *     pb__src first, and nothing ever reads a not-loaded child as empty
 *     (SPEC 11: the Python original lost entries that way);
 *   - a changed node is DIRTY: its pointer is cleared, and so is every
 *     ancestor's, up to the root;
 *   - flush writes the dirty nodes, children first, through a pb__sink,
 *     and gives the new root.  Unchanged subtrees keep their pointers, so
 *     a new version shares them with the old one on disk: an update writes
 *     only the path from the root to the changed leaf (plus a split
 *     sibling).
 *
 * Node encoding (atom/atom.h type ids 2..8): the atom envelope, then
 *
 *   varint n, then n values (atom/value.h)
 *
 * which each collection reads in its own way (dict.h, list.h, hash.h say
 * how).  One grammar for every node means one schema-free walker
 * (atom/refs.c) finds every pointer for compaction, and one decoder is
 * fuzzed.  Keys and child pointers are values too (STRING, REF, UINT).
 *
 * Memory: nodes are read through the object cache (cache/atomcache.h,
 * pb__obj_load): each collection decodes a node atom WITHOUT context (its
 * level, bounds or hash prefix) into an object the cache may share with
 * every handle and thread, so it is never written to.
 *
 *   - Dictionary (dict_int.h): a handle reads shared nodes IN PLACE.  The
 *     decoded node is the cached object's own, so a read copies nothing.
 *     Children loaded under a shared node go into the handle's kid map,
 *     not into the node.  A handle copies a node on its first write to it
 *     (copy on write, the path from the root down).  What depends on
 *     where the node was found (level, bounds, count) is checked when a
 *     handle first loads it there, so corrupt data is refused whether it
 *     was cached or not; what a node holds is checked once, when it is
 *     decoded.  Decoded nodes also carry a prefix array for the search.
 *   - List and hash trie: a load checks that the node fits where it was
 *     found (every load, shared or private) and gives the handle a node of
 *     its own: a clone of the shared node's arrays, or the node of an
 *     object built privately for that load.  Handles edit their nodes in
 *     place and load children into them.
 *
 * Nothing a handle does reaches the shared objects.  Values read from a
 * collection are views into the atoms of the pb__src (valid while its
 * atoms are: a transaction's storage pin), into a cached object's own
 * copy of its atom (which the source holds as long), or into copies the
 * handle owns; either way they stay valid until the handle is freed.  Values given to put/insert are
 * copied before the call returns.
 * The price of that promise: a handle keeps every copy it made, also of
 * values since replaced or removed, so its memory grows with the changes
 * made through it (a handle lives for one transaction).
 *
 * Errors: PB_ENOTFOUND means "no such key or index" and "no more
 * entries", never a missing atom: a node the tree points at and the
 * source does not have is PB_ECORRUPT (pb__obj_load).  Out-of-memory
 * paths return PB_ENOMEM and leave the handle as it was, but no test
 * injects allocation failures yet.
 *
 * Threads: a handle belongs to one thread at a time (its transaction's).
 */
#ifndef PB_COLLECTIONS_COLL_H
#define PB_COLLECTIONS_COLL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cache/atomcache.h" /* pb__src: where atoms are read */
#include "protobase/protobase.h"

/** Where flush writes new atoms: write(arg, atom, len, &ptr) appends one
 * whole atom (envelope included) and gives its pointer at once.  Errors it
 * may return: PB_ENOMEM, PB_ETOOBIG. */
typedef struct pb__sink {
  int (*write)(void *arg, const void *atom, size_t len, pb_atom_ptr *out);
  void *arg;
} pb__sink;

/**
 * Fanout: the most entries in a leaf and children in a branch (B+tree and
 * List); at least half of that in every node but the root.  64 by default,
 * so 1M entries take at most 4 levels; a build with -DPB_TINY_FANOUT=ON
 * makes the default 4.  pb__coll_fanout is read when a node splits or
 * merges, never when one is decoded (any size up to PB__NODE_MAX_VALUES
 * decodes), so stores written with one fanout open with any other.  The
 * collections clamp it to what their nodes can hold: the Dictionary to
 * [4, 21845] (a leaf of n entries is 2n + 1 values), the List to
 * [3, 32767]; the hash trie's fanout is fixed at 32 by its 5-bit levels
 * and ignores it.  Tests
 * set it once at start (test `--tiny` variants); it is not meant to change
 * while collections are in use.
 */
#ifdef PB_TINY_FANOUT
#define PB__FANOUT_DEFAULT 4u
#else
#define PB__FANOUT_DEFAULT 64u
#endif
extern unsigned pb__coll_fanout;

/** The most values a node may hold when decoded (hostile input). */
#define PB__NODE_MAX_VALUES 65536u
/** The deepest a tree may be (B+tree, List: levels; hash: levels of 5
 * bits plus the collision level).  Deeper is PB_ECORRUPT (a cycle, or
 * hostile bytes), so no walk loops or recurses without a limit. */
#define PB__COLL_MAX_DEPTH 32u

/** A decoded node: its type and its values (views into the atom). */
typedef struct pb__node_view {
  uint32_t type;   /* PB__TYPE_NODE_FIRST .. PB__TYPE_NODE_LAST */
  pb_value *vals;  /* n values, heap array owned by the view */
  size_t n;
} pb__node_view;

/**
 * Decodes a node atom.  `want_a` and `want_b` are the acceptable types
 * (give the same one twice for one).  The values are views into `atom`.
 * Errors: PB_ECORRUPT (another type, a malformed value, more than
 * PB__NODE_MAX_VALUES values, bytes left over); PB_EVERSION (unknown
 * atom format); PB_ENOMEM.
 */
int pb__node_decode(pb_bytes atom, uint32_t want_a, uint32_t want_b,
                    pb__node_view *out);
/** Frees the values array of a view (not what they point into). */
void pb__node_view_free(pb__node_view *v);

/** Reads the node at `ptr` through `src` and decodes it (as above).  An
 * atom the source does not have is PB_ECORRUPT, never the source's
 * PB_ENOTFOUND: the tree points at it, and every collection keeps
 * PB_ENOTFOUND for "no such key" and "end of iteration". */
int pb__node_load(const pb__src *src, pb_atom_ptr ptr, uint32_t want_a,
                  uint32_t want_b, pb__node_view *out);

/**
 * Encodes a node (envelope, count, values) into `b`, which is reset first,
 * and writes it through `sink`.  Errors: PB_EINVAL (a value with no
 * encoding), PB_ENOMEM, PB_ETOOBIG, or the sink's.
 */
int pb__node_write(const pb__sink *sink, pb_buf *b, uint32_t type,
                   const pb_value *vals, size_t n, pb_atom_ptr *out);

/**
 * The object class (cache/atomcache.h) of the collection node atoms of
 * type id `type`, for the object cache's write-through; NULL for any
 * other type.  Cannot fail.
 */
const pb__obj_class *pb__coll_obj_class(uint32_t type);

/** The classes of the decoded nodes each collection shares through the
 * object cache: Dictionary (dict_node.c), List (list.c), and the hash
 * trie of HashDictionary and Set, CHAMP and collision nodes alike
 * (hash_node.c). */
extern const pb__obj_class pb__dict_obj_class;
extern const pb__obj_class pb__list_obj_class;
extern const pb__obj_class pb__hash_obj_class;

/**
 * A deep copy of a value's payload (string, bytes, record body) into one
 * heap block, so the value no longer points into anything else: *owned is
 * that block (NULL when the kind has no payload), to free with free().
 * Errors: PB_ENOMEM; PB_EINVAL (pb__value_valid says no).
 */
int pb__value_copy(const pb_value *in, pb_value *out, void **owned);

#endif /* PB_COLLECTIONS_COLL_H */
