/*
 * collections/list_int.h - the List's in-memory tree, shared by list.c
 * (handle, loading, descent, get/set, flush), list_edit.c (insert and
 * remove: split, borrow, merge) and list_iter.c (iterators, slice).  Not
 * part of any interface: list.h is.
 *
 * A handle owns a tree of pb__lnode.  Each branch holds one pb__lslot per
 * child, and the handle holds one for the root:
 *
 *   ptr non-null, node NULL    NOT LOADED: the child is the atom at ptr;
 *                              every access loads it first
 *                              (pb__list_load_kid), never reads it as empty
 *   ptr non-null, node set     CLEAN: node is exactly what the atom holds
 *   ptr null, node set         DIRTY (changed, or new): flush writes it
 *   ptr null, node NULL        only in the root slot: the empty list
 *
 * A node is SHARED or PRIVATE.  A load takes the decoded node from the
 * object cache (list.c, list_obj), where other handles and threads may
 * read it too: such a node is shared (pb__lnode.shared), read in place,
 * never written nor freed by a handle, and the node fields of its slots
 * stay NULL.  A child loaded under a shared node goes into the handle's
 * KID MAP (pb__list.kmap: (shared node, index) -> child) instead of the
 * slot.  A handle writes only private nodes: before its first edit of a
 * shared node it copies it (pb__list_own_kid, the path from the root
 * down: copy on first write), moving the children it loaded under it
 * from the kid map into the copy's slots.  A node built for one load
 * alone (no object cache) is private from the start.
 *
 * LEVELS (0 for a leaf; a branch's children are one level lower) are
 * fixed when the root is first loaded by walking its leftmost path down
 * to a leaf.  A shared node's level field only says leaf (0) or branch
 * (1), since one node may be read by handles that found it at different
 * depths: the walk carries the level (pb__list.root_level, minus one per
 * step).  A private node's level is exact.  A child is loaded as a leaf
 * exactly when its parent is at level 1, so leaves all sit at one depth,
 * nodes of one level always have the same kind, and a cycle in hostile
 * bytes ends in PB_ECORRUPT instead of a loop.
 */
#ifndef PB_COLLECTIONS_LIST_INT_H
#define PB_COLLECTIONS_LIST_INT_H

#include <stdatomic.h>

#include "collections/list.h"

typedef struct pb__lnode pb__lnode;

/** A child of a branch (or the root of a handle). */
typedef struct pb__lslot {
  pb_atom_ptr ptr;  /* the child's atom; null while dirty */
  uint64_t count;   /* values under the child */
  pb__lnode *node;  /* the decoded child; NULL with a non-null ptr: not loaded */
} pb__lslot;

/** A node in memory: a leaf of values or a branch of child slots. */
struct pb__lnode {
  uint32_t level; /* 0: leaf; otherwise a branch (over level - 1 when
                     private; 1 for every shared branch) */
  bool shared;    /* read in place by every handle: never written */
  uint32_t n;     /* values (leaf) or children (branch) */
  uint32_t cap;   /* room in vals or kids */
  pb_value *vals; /* leaf: n values (views into src atoms or arena copies) */
  pb__lslot *kids; /* branch: n child slots */
};

/** The handle's map from (shared node, child index) to the child it
 * loaded there (open addressing; parent NULL: an empty cell). */
typedef struct pb__lkmap_ent {
  const pb__lnode *parent; /* a shared node; NULL: the cell is empty */
  uint32_t idx;            /* the child's index in it */
  pb__lnode *child;        /* NULL once moved into a private copy */
} pb__lkmap_ent;

/** Cells of the kid map inside the handle (enough for a get's path). */
#define PB__LKMAP_SMALL 8u

/** The handle (list.h). */
struct pb__list {
  pb__src src;          /* where nodes are read */
  pb_atom_ptr base;     /* the root as of open or the last flush */
  pb__lslot root;       /* the root (count valid once root.node is set) */
  uint32_t root_level;  /* the root's level, once root.node is set */
  pb__lkmap_ent *kmap;  /* children loaded under shared nodes, or NULL */
  size_t kmap_cap, kmap_used; /* cells (a power of 2) and cells in use */
  pb__lkmap_ent kmap_small[PB__LKMAP_SMALL]; /* the first cells: a short
                                 read allocates no map */
  bool dirty;           /* changed since open or the last flush */
  pb_arena *arena;      /* payload copies of values given to set/insert */
  pb_buf buf;           /* encoding scratch for flush */
  pb_value *scratch;    /* branch encoding scratch for flush */
  size_t scratch_cap;   /* values in scratch */
};

/** One step of a descent: a node and the child index (branch) or value
 * position (leaf) taken in it. */
typedef struct pb__lstep {
  pb__lnode *node; /* the node at this depth */
  uint32_t idx;    /* child taken (branch) or position (leaf) */
} pb__lstep;

/** A root-to-leaf path; depth entries, path[0] the root. */
typedef struct pb__lpath {
  pb__lstep step[PB__COLL_MAX_DEPTH];
  unsigned depth;
} pb__lpath;

/** pb__coll_fanout, clamped to [3, PB__NODE_MAX_VALUES / 2 - 1] (list.c
 * says why). */
uint32_t pb__list_fanout(void);
/** The fewest entries in a node but the root: ceil(fanout / 2). */
uint32_t pb__list_min_fill(void);

/** How many shared nodes handles copied (pb__list_own_kid and the root),
 * since start: for tests, which check that reads copy nothing. */
extern _Atomic uint64_t pb__list_copies;

/** A new empty node at `level` with room for `cap` entries, or NULL. */
pb__lnode *pb__lnode_new(uint32_t level, uint32_t cap);
/** Frees a private node and every private loaded node in its slots.
 * NULL and shared nodes are no-ops. */
void pb__lnode_free(pb__lnode *n);
/** Makes room for `need` entries.  Errors: PB_ENOMEM (node unchanged). */
int pb__lnode_reserve(pb__lnode *n, uint32_t need);
/** The values under a node (its n for a leaf, the sum of its counts for
 * a branch; no overflow: checked when decoded, kept when edited). */
uint64_t pb__lnode_total(const pb__lnode *n);

/** Loads the root if it is not loaded yet.  Errors: list.h's. */
int pb__list_ensure_root(pb__list *l);
/** Loads child `i` of `parent` (at `level` >= 1) if it is not loaded,
 * into parent's slot (private parent) or the kid map (shared parent),
 * and gives it (it may be shared: read only).  Errors: list.h's. */
int pb__list_load_kid(pb__list *l, pb__lnode *parent, uint32_t level,
                      uint32_t i, pb__lnode **out);
/** As pb__list_load_kid for a PRIVATE parent, and makes the child
 * private too (copying it when shared) before giving it. */
int pb__list_own_kid(pb__list *l, pb__lnode *parent, uint32_t level,
                     uint32_t i, pb__lnode **out);
/** Makes the root (loaded) private.  Errors: PB_ENOMEM. */
int pb__list_own_root(pb__list *l);

/**
 * Walks from the root (loaded, not empty) to the leaf holding index `i`,
 * loading what it needs, and records the path.  With `insert`, i may be
 * the count: the path then ends after the last value.  With `write`,
 * every node on the path is made private first (copy on write), so the
 * caller may edit them; without it, nothing is copied and the path is
 * read only.  Errors: list.h's.
 */
int pb__list_descend(pb__list *l, uint64_t i, bool insert, bool write,
                     pb__lpath *p);
/** Marks every slot on `p` and the root dirty. */
void pb__list_touch(pb__list *l, const pb__lpath *p);

/** Copies v's payload into the handle's arena.  Errors: PB_EINVAL (no
 * encoding), PB_ENOMEM. */
int pb__list_copy_value(pb__list *l, const pb_value *v, pb_value *out);

#endif /* PB_COLLECTIONS_LIST_INT_H */
