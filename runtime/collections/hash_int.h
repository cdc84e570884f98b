/*
 * collections/hash_int.h - the in-memory form of the CHAMP trie of hash.h,
 * shared by hash.c (nodes: layouts, look up, put, remove), hash_node.c
 * (loading and validating nodes, through the object cache) and set.c
 * (walks: flush, count, iterators, statistics; the Set calls and set
 * algebra).
 * Not a public interface: tests include it for pb__hash_stats and for
 * white-box checks (levels, fragments, whether a root is loaded).
 *
 * A handle owns a tree of pb__hnode.  Each child slot (pb__hslot) holds
 * the child's atom pointer and, once loaded, the node:
 *
 *   ptr non-null, node NULL      NOT LOADED: load through the source first
 *   ptr non-null, node non-null  loaded and clean (the node is that atom)
 *   ptr null,     node non-null  dirty: flush writes it
 *   ptr null,     node NULL      only the root slot, for an empty trie
 *
 * A dirty node's ancestors are all dirty (their pointers are cleared), so
 * flush only descends into slots whose pointer is null.
 *
 * A node is SHARED or PRIVATE.  A load (pb__hash_ensure, pb__hash_kid)
 * takes the decoded node from the object cache, where other handles and
 * threads read it too, with its keys already hashed, checks that it fits
 * its place, and reads it in place: such a node is shared
 * (pb__hnode.shared), never written nor freed by a handle, and the node
 * fields of its slots stay NULL.  A child loaded under a shared node
 * goes into the handle's KID MAP (pb__hash.kmap) instead.  Before its
 * first edit of a shared node a handle copies it (copy on first write,
 * the path from the root down: pb__hash_own_kid), moving the children it
 * loaded under it from the kid map into the copy's slots.  A node built
 * for one load alone, or whose cached hashes came from another hash
 * function (rehashed in a copy), is private from the start.
 * hash_node.c has the details.
 */
#ifndef PB_COLLECTIONS_HASH_INT_H
#define PB_COLLECTIONS_HASH_INT_H

#include <stdatomic.h>

#include "collections/hash.h"

/** Bits of the hash that each level consumes. */
#define PB__HASH_BITS 5u
/** Levels 0..12 consume the 64 hash bits (the last one only 4 of them);
 * level 13 holds only collision nodes, whose keys share the whole hash. */
#define PB__HASH_COLL_LEVEL 13u
/** Slots in a node at `level`: 32, and 16 at level 12. */
#define PB__HASH_SLOTS(level) ((level) < 12u ? 32u : 16u)

typedef struct pb__hnode pb__hnode;

/** One key and its value. */
typedef struct pb__hentry {
  pb_value key;  /* a view: into a source atom, or into the handle's arena */
  pb_value val;  /* likewise; PB_VALUE_NULL in a Set */
  uint64_t hash; /* pb__hash_fn of the key's encoding, computed once */
} pb__hentry;

/** A child slot (and the handle's root slot); see the table above. */
typedef struct pb__hslot {
  pb_atom_ptr ptr; /* the child's atom; null while the child is dirty */
  pb__hnode *node; /* the child in memory; NULL: not loaded (or empty root) */
} pb__hslot;

/** A node in memory. */
struct pb__hnode {
  bool collision;    /* a collision node (level 13) rather than a CHAMP node */
  bool shared;       /* read in place by every handle: never written */
  uint32_t datamap;  /* CHAMP: bit i set when slot i holds an entry */
  uint32_t nodemap;  /* CHAMP: bit i set when slot i holds a child */
  uint64_t chash;    /* collision: the hash all of its keys have */
  uint32_t nent;     /* entries: popcount(datamap), or the collision list */
  uint32_t cap_ent;  /* room in ents */
  uint32_t nkid;     /* children: popcount(nodemap) */
  uint32_t cap_kid;  /* room in kids */
  pb__hentry *ents;  /* entries, in slot order (collision: encoding order) */
  pb__hslot *kids;   /* children, in slot order */
};

/** The handle's map from (shared node, child index) to the child it
 * loaded there, with the place it was checked for (open addressing;
 * parent NULL: an empty cell). */
typedef struct pb__hkmap_ent {
  const pb__hnode *parent; /* a shared node; NULL: the cell is empty */
  uint32_t idx;            /* the child's index in parent->kids */
  unsigned level;          /* the child's level when checked */
  uint64_t prefix;         /* and its hash prefix */
  pb__hnode *child;        /* NULL once moved into a private copy */
} pb__hkmap_ent;

/** Cells of the kid map inside the handle (enough for a get's path). */
#define PB__HKMAP_SMALL 16u

/** The handle of hash.h. */
struct pb__hash {
  pb__src src;         /* where nodes are read */
  pb__hslot root;      /* the root slot */
  pb_atom_ptr base;    /* the root as of the last open or flush */
  uint64_t count;      /* entries; meaningful only when count_known */
  bool count_known;    /* count is up to date */
  pb_arena *arena;     /* copies of the keys and values given to put */
  pb_buf scratch;      /* key encodings, to hash and to compare them */
  pb_buf out;          /* a node's encoding, in flush */
  pb_value *vals;      /* a node's values, in flush */
  size_t vals_cap;     /* room in vals */
  pb__hkmap_ent *kmap; /* children loaded under shared nodes, or NULL */
  size_t kmap_cap, kmap_used; /* cells (a power of 2) and cells in use */
  pb__hkmap_ent kmap_small[PB__HKMAP_SMALL]; /* the first cells */
};

/** The 5-bit fragment of `hash` that `level` (0..12) consumes. */
static inline unsigned pb__hash_frag(uint64_t hash, unsigned level) {
  return (unsigned)(hash >> (PB__HASH_BITS * level)) & 31u;
}

/** The bits of a hash that the levels above `level` consumed. */
static inline uint64_t pb__hash_prefix_mask(unsigned level) {
  unsigned bits = PB__HASH_BITS * level;
  return bits >= 64 ? UINT64_MAX : (((uint64_t)1 << bits) - 1);
}

/** The number of set bits of `map`. */
static inline uint32_t pb__hash_popcount(uint32_t map) {
#if defined(__GNUC__) || defined(__clang__)
  return (uint32_t)__builtin_popcount(map);
#else
  uint32_t n = 0;
  for (; map; map &= map - 1u) n++;
  return n;
#endif
}

/** The number of set bits of `map` below `bit` (a slot's array index). */
static inline uint32_t pb__hash_index(uint32_t map, uint32_t bit) {
  return pb__hash_popcount(map & (bit - 1u));
}

/** Makes sure `s` is loaded: reads and validates its node when it is not
 * (at `level`, under the hash bits `prefix`), through the object cache,
 * and gives the slot a node of the handle's own (hash_node.c).  Errors:
 * those of hash.h. */
int pb__hash_ensure(pb__hash *h, pb__hslot *s, unsigned level,
                    uint64_t prefix);

/** Loads child `k` (index into parent->kids) of the CHAMP node
 * `parent`, the child being at `level` under the hash bits `prefix`, into
 * parent's slot (private parent) or the kid map (shared parent), and
 * gives it (it may be shared: read only).  Errors: those of hash.h. */
int pb__hash_kid(pb__hash *h, pb__hnode *parent, uint32_t k, unsigned level,
                 uint64_t prefix, pb__hnode **out);
/** As pb__hash_kid for a PRIVATE parent, and makes the child private
 * (copying it when shared) before giving it.  Errors: as above. */
int pb__hash_own_kid(pb__hash *h, pb__hnode *parent, uint32_t k,
                     unsigned level, uint64_t prefix, pb__hnode **out);
/** Makes the loaded root private.  Errors: PB_ENOMEM. */
int pb__hash_own_root(pb__hash *h);
/** Frees the kid map and the private children in it. */
void pb__hash_kmap_free(pb__hash *h);
/** How many nodes handles copied (copy on write, or a rehash under
 * another hash function), since start: for tests. */
extern _Atomic uint64_t pb__hash_copies;

/** The hash under `fn` of `key`'s encoding, made in `scratch`.  Errors:
 * PB_EINVAL (no encoding), PB_ENOMEM. */
int pb__hash_key_hash(pb_buf *scratch, pb__hash_fn_t fn, const pb_value *key,
                      uint64_t *out);
/** Compares the encodings of two valid keys, made in `scratch`: bytewise,
 * shorter first.  Errors: PB_EINVAL, PB_ENOMEM. */
int pb__hash_key_cmp(pb_buf *scratch, const pb_value *a, const pb_value *b,
                     int *cmp);

/** What pb__hash_insert did. */
typedef enum pb__hash_put_result {
  PB__HASH_UNCHANGED, /* the key was there (and no new value was stored) */
  PB__HASH_REPLACED,  /* the key was there; its value was replaced */
  PB__HASH_ADDED      /* a new key */
} pb__hash_put_result;

/** Inserts `key` with `val`; an existing key keeps its value unless
 * `replace`.  `*res` (may be NULL) says what happened.  Errors: those of
 * pb__hash_put. */
int pb__hash_insert(pb__hash *h, const pb_value *key, const pb_value *val,
                    bool replace, pb__hash_put_result *res);

/** Copies `in` (which pb__value_valid accepts) into the handle's arena.
 * Errors: PB_ENOMEM. */
int pb__hash_own_value(pb__hash *h, const pb_value *in, pb_value *out);

/** A zeroed node with room for `cap_ent` entries and `cap_kid` children.
 * Returns NULL when out of memory. */
pb__hnode *pb__hnode_alloc(bool collision, uint32_t cap_ent, uint32_t cap_kid);

/** Frees a private node and every private child in memory under it.
 * NULL and shared nodes are no-ops. */
void pb__hnode_free(pb__hnode *n);

/** Shape of a trie, for tests and statistics (pb__hash_stats). */
typedef struct pb__hash_stats_t {
  uint64_t entries;    /* every key */
  uint64_t nodes;      /* CHAMP nodes */
  uint64_t collisions; /* collision nodes */
  uint64_t coll_keys;  /* keys held in collision nodes */
  unsigned depth;      /* levels of nodes on the longest path (0: empty) */
  uint64_t depth_sum;  /* sum over the keys of the level of their node + 1 */
} pb__hash_stats_t;

/** Loads the whole trie and describes its shape (also caches the count).
 * Errors: those of hash.h. */
int pb__hash_stats(pb__hash *h, pb__hash_stats_t *out);

#endif /* PB_COLLECTIONS_HASH_INT_H */
