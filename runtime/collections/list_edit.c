/*
 * collections/list_edit.c - insert and remove at an index in the List's
 * counted B-tree (list.c has the layouts, list_int.h the in-memory tree).
 *
 * Each edit runs in two phases so that an error leaves the list as it
 * was:
 *
 *   plan   everything that can fail: walk down (loading), load the
 *          siblings an edit may pass entries to, borrow from or merge
 *          with, make room in the nodes that will grow, and allocate the
 *          nodes a split needs;
 *   apply  what cannot fail: move entries, fix the counts on the path,
 *          mark the path dirty.
 *
 * Insert adds the value to its leaf.  A node but the root that then
 * holds more than pb__coll_fanout entries first tries to pass entries to
 * an adjacent sibling with room (the left one, else the right): it fills
 * that sibling up to the fanout, keeping at least half for itself, and
 * its parent does not grow.  Otherwise it splits in two halves (the
 * first keeps the larger), the right half becoming the next slot in its
 * parent, which may overflow in turn; a root that splits gets a new root
 * above it.  Passing keeps trees built by appends (or by inserts at the
 * front) nearly full, where splitting alone would leave every node half
 * empty: 100,000 appends make 1,589 nodes in 3 levels, not 3,124 in 4
 * (fanout 64).  Only nodes on the path and at most one neighbour per
 * level change, so an append touches the right spine and, every fanout /
 * 2 appends or so, the node left of it.
 *
 * Remove takes the value out of its leaf; a node but the root left under
 * ceil(fanout / 2) entries takes one from its left sibling (or its right,
 * for a first child) when that has more than the minimum, or else merges
 * with it (into the left of the two), and its parent loses a slot.  A
 * node left empty (possible only in trees this code does not build, such
 * as a branch of one child below the root) is dropped from its parent.  A root
 * branch with one child gives way to it; an empty root is the empty list.
 */
#include <assert.h>
#include <stdlib.h>
#include <string.h>

#include "collections/list_int.h"

static const pb_atom_ptr null_ptr;

/* --- Moving entries (values in a leaf, child slots in a branch) --- */

static size_t entry_size(const pb__lnode *n) {
  return n->level ? sizeof(pb__lslot) : sizeof(pb_value);
}

static uint8_t *entry(pb__lnode *n, uint32_t i) {
  return n->level ? (uint8_t *)(n->kids + i) : (uint8_t *)(n->vals + i);
}

/* Makes room for `cnt` entries at i (the capacity is there already). */
static void open_gap(pb__lnode *n, uint32_t i, uint32_t cnt) {
  assert(n->n + cnt <= n->cap && i <= n->n);
  memmove(entry(n, i + cnt), entry(n, i), (n->n - i) * entry_size(n));
  n->n += cnt;
}

/* Takes out `cnt` entries at i. */
static void close_gap(pb__lnode *n, uint32_t i, uint32_t cnt) {
  assert(i + cnt <= n->n);
  memmove(entry(n, i), entry(n, i + cnt), (n->n - i - cnt) * entry_size(n));
  n->n -= cnt;
}

/* Copies `cnt` entries from src at s over dst at d (same level). */
static void copy_entries(pb__lnode *dst, uint32_t d, pb__lnode *src,
                         uint32_t s, uint32_t cnt) {
  assert(dst->level == src->level && d + cnt <= dst->cap);
  memcpy(entry(dst, d), entry(src, s), cnt * entry_size(dst));
}

/* How many values entry i of n stands for. */
static uint64_t entry_count(const pb__lnode *n, uint32_t i) {
  return n->level ? n->kids[i].count : 1;
}

/* --- Insert --- */

/* What an insert does at each depth of its path where the node
 * overflows: pass entries to a neighbour, or split (into a new sibling,
 * and for the root under a new root). */
typedef struct insert_plan {
  uint32_t give[PB__COLL_MAX_DEPTH];  /* entries passed on; 0: none */
  uint32_t to[PB__COLL_MAX_DEPTH];    /* to this child of the parent */
  pb__lnode *sib[PB__COLL_MAX_DEPTH]; /* by path depth; NULL: no split */
  pb__lnode *new_root;                /* NULL unless the root splits */
} insert_plan;

static void plan_free(insert_plan *pl) {
  for (unsigned k = 0; k < PB__COLL_MAX_DEPTH; k++) pb__lnode_free(pl->sib[k]);
  pb__lnode_free(pl->new_root);
}

/* Moves `cnt` entries from child a of `parent` to its neighbour b (a and
 * b adjacent, both loaded, room made in b): the entries nearest b. */
static void move_entries(pb__lnode *parent, uint32_t a, uint32_t b,
                         uint32_t cnt) {
  pb__lnode *src = parent->kids[a].node, *dst = parent->kids[b].node;
  uint32_t first = b < a ? 0 : src->n - cnt;
  uint64_t moved = 0;
  for (uint32_t i = first; i < first + cnt; i++) moved += entry_count(src, i);
  if (b < a) {
    copy_entries(dst, dst->n, src, 0, cnt);
    dst->n += cnt;
    close_gap(src, 0, cnt);
  } else {
    open_gap(dst, 0, cnt);
    copy_entries(dst, 0, src, first, cnt);
    src->n -= cnt;
  }
  parent->kids[a].count -= moved;
  parent->kids[b].count += moved;
  parent->kids[a].ptr = null_ptr;
  parent->kids[b].ptr = null_ptr;
}

/* Plans to pass entries of the node at depth k (k >= 1, about to hold
 * n + 1 > f) to its left or else right neighbour, filling that one up to
 * f but leaving the node at least the minimum, when that leaves the node
 * at most f.  Sets pl->give[k] when it does.  Errors: list.h's. */
static int plan_pass(pb__list *l, const pb__lpath *p, unsigned k,
                     insert_plan *pl) {
  uint32_t f = pb__list_fanout(), min = pb__list_min_fill();
  pb__lnode *n = p->step[k].node, *parent = p->step[k - 1].node;
  uint32_t j = p->step[k - 1].idx;
  for (int side = 0; side < 2; side++) {
    if (side == 0 ? j == 0 : j + 1 >= parent->n) continue;
    uint32_t t = side == 0 ? j - 1 : j + 1;
    pb__lnode *nb;
    int rc = pb__list_own_kid(l, parent, parent->level, t, &nb);
    if (rc != PB_OK) return rc;
    if (nb->n >= f) continue;
    uint32_t cnt = f - nb->n;
    if (cnt > n->n + 1 - min) cnt = n->n + 1 - min;
    if (n->n + 1 - cnt > f) continue; /* still too big: split */
    if (pb__lnode_reserve(nb, nb->n + cnt) != PB_OK) return PB_ENOMEM;
    pl->give[k] = cnt;
    pl->to[k] = t;
    return PB_OK;
  }
  return PB_OK;
}

/* Makes room for one more entry in every node on the path, and for each
 * node that overflows plans a pass to a neighbour or allocates its split
 * sibling (pl starts zeroed).  Errors: list.h's, PB_ETOOBIG (the root
 * would split past PB__COLL_MAX_DEPTH levels). */
static int plan_insert(pb__list *l, const pb__lpath *p, insert_plan *pl) {
  uint32_t f = pb__list_fanout();
  for (unsigned k = 0; k < p->depth; k++) {
    pb__lnode *n = p->step[k].node;
    if (pb__lnode_reserve(n, n->n + 1) != PB_OK) return PB_ENOMEM;
  }
  for (unsigned k = p->depth; k-- > 0;) {
    pb__lnode *n = p->step[k].node;
    if (n->n + 1 <= f) break; /* grows without splitting: done */
    int rc = k > 0 ? plan_pass(l, p, k, pl) : PB_OK;
    if (rc != PB_OK) return rc;
    if (pl->give[k]) break; /* the parent does not grow */
    uint32_t half = (n->n + 1) / 2;
    pl->sib[k] = pb__lnode_new(n->level, half > f + 1 ? half : f + 1);
    if (!pl->sib[k]) return PB_ENOMEM;
    if (k == 0 && n->level + 2 > PB__COLL_MAX_DEPTH) return PB_ETOOBIG;
    if (k == 0 && !(pl->new_root = pb__lnode_new(n->level + 1, f + 1)))
      return PB_ENOMEM;
  }
  return PB_OK;
}

/* Moves the upper half of n's entries to the empty sibling `sib`. */
static void split(pb__lnode *n, pb__lnode *sib) {
  uint32_t keep = (n->n + 1) / 2, move = n->n - keep;
  assert(sib->n == 0 && sib->level == n->level);
  copy_entries(sib, 0, n, keep, move);
  sib->n = move;
  n->n = keep;
}

/* One level up: the child at path depth k (k >= 1) gained a value, and
 * passes entries on or splits as planned. */
static void grow_slot(const pb__lpath *p, unsigned k, const insert_plan *pl) {
  pb__lnode *parent = p->step[k - 1].node;
  uint32_t j = p->step[k - 1].idx;
  pb__lslot *s = &parent->kids[j];
  s->ptr = null_ptr;
  s->count++;
  if (pl->give[k]) {
    move_entries(parent, j, pl->to[k], pl->give[k]);
    return;
  }
  pb__lnode *sib = pl->sib[k];
  if (!sib) return;
  split(p->step[k].node, sib);
  uint64_t right = pb__lnode_total(sib);
  s->count -= right;
  open_gap(parent, j + 1, 1);
  parent->kids[j + 1] = (pb__lslot){.ptr = null_ptr, .count = right,
                                    .node = sib};
}

static void apply_insert(pb__list *l, const pb__lpath *p, insert_plan *pl,
                         const pb_value *v) {
  const pb__lstep *leaf = &p->step[p->depth - 1];
  open_gap(leaf->node, leaf->idx, 1);
  leaf->node->vals[leaf->idx] = *v;
  for (unsigned k = p->depth - 1; k > 0; k--) grow_slot(p, k, pl);
  l->root.ptr = null_ptr;
  l->root.count++;
  l->dirty = true;
  if (!pl->sib[0]) return;
  pb__lnode *old = l->root.node, *r = pl->new_root;
  split(old, pl->sib[0]);
  uint64_t right = pb__lnode_total(pl->sib[0]);
  r->kids[0] = (pb__lslot){.count = l->root.count - right, .node = old};
  r->kids[1] = (pb__lslot){.count = right, .node = pl->sib[0]};
  r->n = 2;
  l->root.node = r;
  l->root_level++;
}

int pb__list_insert(pb__list *l, uint64_t i, const pb_value *v) {
  uint64_t count;
  int rc = pb__list_count(l, &count);
  if (rc != PB_OK) return rc;
  if (i > count) return PB_ERANGE;
  pb_value copy;
  rc = pb__list_copy_value(l, v, &copy);
  if (rc != PB_OK) return rc;
  if (!l->root.node) { /* the empty list: a root leaf, kept only on success */
    l->root.node = pb__lnode_new(0, pb__list_fanout() + 1);
    if (!l->root.node) return PB_ENOMEM;
    l->root.count = 0;
    l->root_level = 0;
  }
  pb__lpath p;
  insert_plan pl = {0};
  rc = pb__list_descend(l, i, true, true, &p);
  if (rc == PB_OK) rc = plan_insert(l, &p, &pl);
  if (rc == PB_OK) {
    apply_insert(l, &p, &pl, &copy);
    return PB_OK;
  }
  plan_free(&pl);
  if (l->root.count == 0 && pb_atom_ptr_is_null(l->root.ptr)) {
    pb__lnode_free(l->root.node);
    l->root.node = NULL;
  }
  return rc;
}

int pb__list_append(pb__list *l, const pb_value *v) {
  uint64_t count;
  int rc = pb__list_count(l, &count);
  if (rc != PB_OK) return rc;
  return pb__list_insert(l, count, v);
}

/* --- Remove --- */

/* Which sibling of child j a rebalance uses: the left one, or the right
 * one for the first child. */
static uint32_t sibling_of(uint32_t j) { return j > 0 ? j - 1 : 1; }

/* Loads the siblings that a remove may need and makes room in the node
 * that would receive a merge.  Errors: list.h's. */
static int plan_remove(pb__list *l, const pb__lpath *p) {
  uint32_t min = pb__list_min_fill();
  for (unsigned k = p->depth - 1; k > 0; k--) {
    pb__lnode *n = p->step[k].node, *parent = p->step[k - 1].node;
    uint32_t j = p->step[k - 1].idx, s = sibling_of(j);
    if (n->n > min || parent->n < 2) continue; /* cannot underflow, or no
                                                   sibling to turn to */
    pb__lnode *sib;
    int rc = pb__list_own_kid(l, parent, parent->level, s, &sib);
    if (rc != PB_OK) return rc;
    pb__lnode *left = parent->kids[s < j ? s : j].node;
    pb__lnode *right = parent->kids[s < j ? j : s].node;
    if (pb__lnode_reserve(left, left->n + right->n) != PB_OK) return PB_ENOMEM;
  }
  return PB_OK;
}

/* Merges child r into child r - 1 and drops r's slot. */
static void merge(pb__lnode *parent, uint32_t r) {
  pb__lslot *ls = &parent->kids[r - 1], *rs = &parent->kids[r];
  pb__lnode *left = ls->node, *right = rs->node;
  copy_entries(left, left->n, right, 0, right->n);
  left->n += right->n;
  right->n = 0; /* its entries now belong to left */
  pb__lnode_free(right);
  ls->count += rs->count;
  ls->ptr = null_ptr;
  close_gap(parent, r, 1);
}

/* One level up: the child at path depth k (k >= 1) lost a value; drop it
 * when empty, rebalance it when under the minimum. */
static void shrink_slot(const pb__lpath *p, unsigned k, uint32_t min) {
  pb__lnode *parent = p->step[k - 1].node, *n = p->step[k].node;
  uint32_t j = p->step[k - 1].idx;
  parent->kids[j].ptr = null_ptr;
  parent->kids[j].count--;
  if (n->n == 0) {
    pb__lnode_free(n);
    close_gap(parent, j, 1);
  } else if (n->n < min && parent->n >= 2) {
    uint32_t s = sibling_of(j);
    if (parent->kids[s].node->n > min) move_entries(parent, s, j, 1);
    else merge(parent, s < j ? j : s);
  }
}

/* Drops an empty root, and root branches of one (loaded) child. */
static void collapse_root(pb__list *l) {
  pb__lnode *r = l->root.node;
  while (l->root_level > 0 && r->n == 1 && r->kids[0].node) {
    assert(!r->shared);
    l->root = r->kids[0];
    l->root_level--;
    r->n = 0; /* the child is the root now */
    pb__lnode_free(r);
    r = l->root.node;
  }
  if (r->n == 0) {
    pb__lnode_free(r);
    l->root = (pb__lslot){.ptr = null_ptr, .count = 0, .node = NULL};
  }
}

int pb__list_remove(pb__list *l, uint64_t i) {
  uint64_t count;
  int rc = pb__list_count(l, &count);
  if (rc != PB_OK) return rc;
  if (i >= count) return PB_ERANGE;
  pb__lpath p;
  rc = pb__list_descend(l, i, false, true, &p);
  if (rc == PB_OK) rc = plan_remove(l, &p);
  if (rc != PB_OK) return rc;
  const pb__lstep *leaf = &p.step[p.depth - 1];
  close_gap(leaf->node, leaf->idx, 1);
  uint32_t min = pb__list_min_fill();
  for (unsigned k = p.depth - 1; k > 0; k--) shrink_slot(&p, k, min);
  l->root.ptr = null_ptr;
  l->root.count--;
  l->dirty = true;
  collapse_root(l);
  return PB_OK;
}
