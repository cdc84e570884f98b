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
 * Every node in the tree belongs to the handle alone, which edits it in
 * place: a load takes the decoded node from the object cache (list.c,
 * list_obj), where it may be shared by other handles and threads, and
 * clones it (its arrays; values stay views into the shared atom copy).
 *
 * Every node knows its LEVEL (0 for a leaf; a branch's children are one
 * level lower), fixed when the root is first loaded by walking its
 * leftmost path down to a leaf.  A child is then loaded as a leaf exactly
 * when its parent is at level 1, so leaves all sit at one depth, nodes of
 * one level always have the same kind, and a cycle in hostile bytes ends
 * in PB_ECORRUPT instead of a loop.
 */
#ifndef PB_COLLECTIONS_LIST_INT_H
#define PB_COLLECTIONS_LIST_INT_H

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
  uint32_t level; /* 0: leaf; otherwise a branch over level - 1 */
  uint32_t n;     /* values (leaf) or children (branch) */
  uint32_t cap;   /* room in vals or kids */
  pb_value *vals; /* leaf: n values (views into src atoms or arena copies) */
  pb__lslot *kids; /* branch: n child slots */
};

/** The handle (list.h). */
struct pb__list {
  pb__src src;          /* where nodes are read */
  pb_atom_ptr base;     /* the root as of open or the last flush */
  pb__lslot root;       /* the root (count valid once root.node is set) */
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

/** A new empty node at `level` with room for `cap` entries, or NULL. */
pb__lnode *pb__lnode_new(uint32_t level, uint32_t cap);
/** Frees a node and every loaded node under it.  NULL is a no-op. */
void pb__lnode_free(pb__lnode *n);
/** Makes room for `need` entries.  Errors: PB_ENOMEM (node unchanged). */
int pb__lnode_reserve(pb__lnode *n, uint32_t need);
/** The values under a node (its n for a leaf, the sum of its counts for
 * a branch; no overflow: checked when decoded, kept when edited). */
uint64_t pb__lnode_total(const pb__lnode *n);

/** Loads the root if it is not loaded yet.  Errors: list.h's. */
int pb__list_ensure_root(pb__list *l);
/** Loads child `i` of `parent` if it is not loaded.  Errors: list.h's. */
int pb__list_load_kid(pb__list *l, pb__lnode *parent, uint32_t i);

/**
 * Walks from the root (loaded, not empty) to the leaf holding index `i`,
 * loading what it needs, and records the path.  With `insert`, i may be
 * the count: the path then ends after the last value.  Errors: list.h's.
 */
int pb__list_descend(pb__list *l, uint64_t i, bool insert, pb__lpath *p);
/** Marks every slot on `p` and the root dirty. */
void pb__list_touch(pb__list *l, const pb__lpath *p);

/** Copies v's payload into the handle's arena.  Errors: PB_EINVAL (no
 * encoding), PB_ENOMEM. */
int pb__list_copy_value(pb__list *l, const pb_value *v, pb_value *out);

#endif /* PB_COLLECTIONS_LIST_INT_H */
