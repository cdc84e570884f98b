/*
 * collections/list_iter.c - iterating a List over an index range, and
 * slicing one (list.h; list_int.h has the in-memory tree).
 *
 * An iterator keeps the path from the root to the next value.  After the
 * last value of a leaf it climbs to the nearest ancestor with a child
 * further right and walks down that child's leftmost path, loading what
 * it needs: one step costs O(1) amortized, and nothing is loaded outside
 * the range but the one path to its start.
 *
 * A slice copies the values of the range (payloads into the new list's
 * arena) and builds a new tree bottom-up, leaf by leaf as the iterator
 * gives them: leaves of ceil(k / fanout) equal shares, then branches the
 * same way over the level below, so every node but the root is at least
 * half full.  It costs O(k) time and memory for k values (plus the path
 * loads of the range in the source) and shares no node with the source:
 * every node of the slice is dirty until flushed.
 */
#include <assert.h>
#include <stdlib.h>
#include <string.h>

#include "collections/list_int.h"
#include "util/errdetail.h"

struct pb__list_iter {
  pb__list *l;     /* the list walked */
  pb__lpath path;  /* to the next value (past a leaf's end: climb first) */
  uint64_t left;   /* values still to give */
  int err;         /* a failure, repeated by every later call */
};

int pb__list_iter_open(pb__list *l, uint64_t from, uint64_t to,
                       pb__list_iter **out) {
  uint64_t count;
  int rc = pb__list_count(l, &count);
  if (rc != PB_OK) return rc;
  if (from > count || from > to) return PB_ERANGE;
  if (to > count) to = count;
  pb__list_iter *it = calloc(1, sizeof *it);
  if (!it) return PB_ENOMEM;
  it->l = l;
  it->left = to - from;
  if (it->left > 0) rc = pb__list_descend(l, from, false, false, &it->path);
  if (rc != PB_OK) {
    free(it);
    return rc;
  }
  *out = it;
  return PB_OK;
}

/* Moves the path from past the end of its leaf to the next leaf's start. */
static int next_leaf(pb__list_iter *it) {
  pb__lpath *p = &it->path;
  int m = (int)p->depth - 2;
  while (m >= 0 && p->step[m].idx + 1 >= p->step[m].node->n) m--;
  if (m < 0)
    return PB__CORRUPT(
        "list iterator ran past the last leaf"); /* cannot happen: counts were
                                                    checked */
  p->step[m].idx++;
  for (; m + 1 < (int)p->depth; m++) {
    pb__lnode *kid;
    int rc = pb__list_load_kid(it->l, p->step[m].node,
                               (uint32_t)((int)p->depth - 1 - m),
                               p->step[m].idx, &kid);
    if (rc != PB_OK) return rc;
    p->step[m + 1] = (pb__lstep){kid, 0};
  }
  return PB_OK;
}

int pb__list_iter_next(pb__list_iter *it, pb_value *val) {
  if (it->err != PB_OK) return it->err;
  if (it->left == 0) return PB_ENOTFOUND;
  pb__lstep *leaf = &it->path.step[it->path.depth - 1];
  if (leaf->idx >= leaf->node->n) {
    int rc = next_leaf(it);
    if (rc != PB_OK) {
      /* A missing child atom must not read as the end of the list. */
      it->err = rc == PB_ENOTFOUND ? PB__CORRUPT("a list node is missing") : rc;
      return it->err;
    }
  }
  *val = leaf->node->vals[leaf->idx++];
  it->left--;
  return PB_OK;
}

void pb__list_iter_free(pb__list_iter *it) { free(it); }

/* --- Slice --- */

/* A level of the tree being built: the slots of its nodes, in order. */
typedef struct level {
  pb__lslot *slot; /* m slots */
  size_t m;        /* how many */
} level;

/* Frees the nodes of slots [from, m) and the array. */
static void level_free(level *lv, size_t from) {
  for (size_t i = from; i < lv->m; i++) pb__lnode_free(lv->slot[i].node);
  free(lv->slot);
  lv->slot = NULL;
}

/* Splits k entries into the fewest nodes of at most f: count, and the
 * size of node b. */
static size_t shares(uint64_t k, uint32_t f) {
  return (size_t)(k / f + (k % f != 0));
}
static uint32_t share(uint64_t k, size_t parts, size_t b) {
  return (uint32_t)(k / parts + (b < k % parts ? 1 : 0));
}

/* Makes leaves of the next k values of `it`, copied into `dst`. */
static int build_leaves(pb__list *dst, pb__list_iter *it, uint64_t k,
                        level *out) {
  size_t parts = shares(k, pb__list_fanout());
  out->m = 0;
  out->slot = calloc(parts, sizeof *out->slot);
  if (!out->slot) return PB_ENOMEM;
  for (size_t b = 0; b < parts; b++) {
    uint32_t sz = share(k, parts, b);
    pb__lnode *leaf = pb__lnode_new(0, sz);
    int rc = leaf ? PB_OK : PB_ENOMEM;
    out->slot[out->m++] = (pb__lslot){.count = sz, .node = leaf};
    for (uint32_t i = 0; i < sz && rc == PB_OK; i++) {
      pb_value v;
      rc = pb__list_iter_next(it, &v);
      if (rc == PB_OK) rc = pb__list_copy_value(dst, &v, &leaf->vals[i]);
      if (rc == PB_OK) leaf->n++;
    }
    if (rc != PB_OK) {
      level_free(out, 0);
      return rc == PB_ENOTFOUND ? PB__CORRUPT("a list node is missing") : rc;
    }
  }
  return PB_OK;
}

/* Builds the level above `below` (consumed, even on failure). */
static int build_branches(level *below, uint32_t lvl, level *out) {
  size_t parts = shares(below->m, pb__list_fanout()), pos = 0;
  out->m = 0;
  out->slot = calloc(parts, sizeof *out->slot);
  if (!out->slot) {
    level_free(below, 0);
    return PB_ENOMEM;
  }
  for (size_t b = 0; b < parts; b++) {
    uint32_t sz = share(below->m, parts, b);
    pb__lnode *n = pb__lnode_new(lvl, sz);
    if (!n) {
      level_free(below, pos);
      level_free(out, 0);
      return PB_ENOMEM;
    }
    memcpy(n->kids, below->slot + pos, sz * sizeof *n->kids);
    n->n = sz;
    pos += sz;
    out->slot[out->m++] = (pb__lslot){.count = pb__lnode_total(n), .node = n};
  }
  free(below->slot);
  below->slot = NULL;
  return PB_OK;
}

/* Builds dst's tree from the next k > 0 values of `it`. */
static int build(pb__list *dst, pb__list_iter *it, uint64_t k) {
  level lv;
  uint32_t top = 0;
  int rc = build_leaves(dst, it, k, &lv);
  for (uint32_t lvl = 1; rc == PB_OK && lv.m > 1; lvl++) {
    level up;
    rc = build_branches(&lv, lvl, &up);
    lv = up;
    top = lvl;
  }
  if (rc != PB_OK) return rc;
  dst->root = lv.slot[0];
  dst->root_level = top;
  free(lv.slot);
  return PB_OK;
}

int pb__list_slice(pb__list *l, uint64_t from, uint64_t to, pb__list **out) {
  uint64_t count;
  int rc = pb__list_count(l, &count);
  if (rc != PB_OK) return rc;
  if (from > count) return PB_ERANGE;
  if (to > count) to = count;
  if (to < from) to = from; /* an empty slice */
  pb__list *dst;
  if (pb__list_open(&l->src, (pb_atom_ptr){0, 0, 0}, &dst) != PB_OK)
    return PB_ENOMEM;
  dst->dirty = true;
  pb__list_iter *it = NULL;
  if (to > from) rc = pb__list_iter_open(l, from, to, &it);
  if (rc == PB_OK && it) rc = build(dst, it, to - from);
  pb__list_iter_free(it);
  if (rc != PB_OK) {
    pb__list_free(dst);
    return rc;
  }
  *out = dst;
  return PB_OK;
}
