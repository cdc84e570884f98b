/*
 * collections/list.c - the List (list.h): a copy-on-write counted B-tree.
 *
 * Each node is one atom in the shared node grammar (coll.h: envelope,
 * varint n, n values):
 *
 *   leaf   (PB__TYPE_LIST_LEAF = 4):   [v1, v2, ..., vn]
 *          the list's values in order, any value kind; n >= 1 except in
 *          a root leaf, where n = 0 reads as the empty list (never
 *          written: an empty list is the null root).
 *   branch (PB__TYPE_LIST_BRANCH = 5): [UINT c1, REF p1, UINT c2, REF p2,
 *                                       ..., UINT ck, REF pk]
 *          2k values, k >= 1: for each child in order, the number of
 *          values under it (UINT, >= 1) and its atom (REF, not null).
 *
 * The count of the whole list is the root's total (a leaf's n, or the sum
 * of a branch's counts).  Get, set, insert and remove at index i walk down
 * by the counts: O(log n) nodes, O(fanout) each.
 *
 * Decoding trusts nothing: a node of the wrong type for its level, a
 * branch of odd length, a count of 0 or a sum that overflows, a null or
 * non-REF child, a loaded child whose total is not what its parent says,
 * or a leftmost path longer than PB__COLL_MAX_DEPTH (a cycle) is
 * PB_ECORRUPT.  Nothing recurses or loops more than PB__COLL_MAX_DEPTH
 * levels (list_int.h says how levels are fixed).
 *
 * Loading goes through the object cache (cache/atomcache.h): an atom is
 * decoded WITHOUT context into a list_obj (the node, every child NOT
 * LOADED, and its total), which the cache may share between handles and
 * threads, so it is never written to.  What depends on where the node was
 * found (leaf or branch for its level, its total against the parent's
 * count) is checked when a handle first loads it there.  The handle then
 * reads a cached node in place (shared: list_int.h) and keeps it in the
 * parent's slot or its kid map; it copies the node only on its first
 * write to it.  The node of an object built for this load alone is the
 * handle's own from the start.
 *
 * Balance (list_edit.c): a node over pb__coll_fanout entries passes
 * entries to an adjacent sibling with room, or else splits in two halves;
 * a node but the root under ceil(fanout / 2) borrows one from an adjacent
 * sibling that has more, or else merges with it; a root branch of one
 * child gives way to the child.  Nodes decode at any size, so a tree
 * written with one fanout is used and fixed up with another.  The fanout
 * is clamped to [3, 32767]: from 3 on, every node but the root holds two
 * entries at least, so 32 levels need 2^31 values; up to 32767, a branch
 * of fanout + 1 children still encodes within PB__NODE_MAX_VALUES.
 *
 * Memory: loaded values are views into the source's atoms (or into the
 * atom copy of a cached object, which the source holds as long as its
 * atoms).  Values given to set and insert are copied into an arena the
 * handle owns, freed with the handle (never earlier, so every view handed
 * out stays valid until then): a handle's memory grows with the values
 * written through it.
 *
 * Flush (below) writes dirty nodes children first and gives clean
 * subtrees their old pointers, so an update shares every untouched node
 * with the previous version.
 */
#include "collections/list_int.h"

#include <assert.h>
#include <stdlib.h>
#include <string.h>

#include "atom/atom.h"
#include "atom/value.h"
#include "util/errdetail.h"

uint32_t pb__list_fanout(void) {
  unsigned f = pb__coll_fanout;
  if (f < 3) return 3;
  if (f > PB__NODE_MAX_VALUES / 2 - 1) return PB__NODE_MAX_VALUES / 2 - 1;
  return (uint32_t)f;
}

uint32_t pb__list_min_fill(void) { return (pb__list_fanout() + 1) / 2; }

/* --- Nodes --- */

pb__lnode *pb__lnode_new(uint32_t level, uint32_t cap) {
  pb__lnode *n = calloc(1, sizeof *n);
  if (!n) return NULL;
  n->level = level;
  if (cap == 0) cap = 1;
  if (level == 0) n->vals = malloc(cap * sizeof *n->vals);
  else n->kids = malloc(cap * sizeof *n->kids);
  if (!n->vals && !n->kids) {
    free(n);
    return NULL;
  }
  n->cap = cap;
  return n;
}

_Atomic uint64_t pb__list_copies;

void pb__lnode_free(pb__lnode *n) {
  if (!n || n->shared) return;
  if (n->level > 0)
    for (uint32_t i = 0; i < n->n; i++) pb__lnode_free(n->kids[i].node);
  free(n->vals);
  free(n->kids);
  free(n);
}

int pb__lnode_reserve(pb__lnode *n, uint32_t need) {
  if (need <= n->cap) return PB_OK;
  uint32_t cap = n->cap + n->cap / 2;
  if (cap < need) cap = need;
  if (cap < pb__list_fanout() + 1) cap = pb__list_fanout() + 1;
  if (n->level == 0) {
    pb_value *v = realloc(n->vals, (size_t)cap * sizeof *v);
    if (!v) return PB_ENOMEM;
    n->vals = v;
  } else {
    pb__lslot *k = realloc(n->kids, (size_t)cap * sizeof *k);
    if (!k) return PB_ENOMEM;
    n->kids = k;
  }
  n->cap = cap;
  return PB_OK;
}

uint64_t pb__lnode_total(const pb__lnode *n) {
  if (n->level == 0) return n->n;
  uint64_t sum = 0;
  for (uint32_t i = 0; i < n->n; i++) sum += n->kids[i].count;
  return sum;
}

/* --- Decoding --- */

/* A leaf from a decoded view: its values, still views into the atom. */
static int leaf_from_view(const pb__node_view *v, pb__lnode **out) {
  pb__lnode *n = pb__lnode_new(0, (uint32_t)v->n);
  if (!n) return PB_ENOMEM;
  if (v->n) memcpy(n->vals, v->vals, v->n * sizeof *v->vals);
  n->n = (uint32_t)v->n;
  *out = n;
  return PB_OK;
}

/* A branch from a decoded view, checking its shape and counts.  Its level
 * is set by the caller. */
static int branch_from_view(const pb__node_view *v, pb__lnode **out) {
  if (v->n < 2 || v->n % 2 != 0)
    return PB__CORRUPT(
        "list branch: %zu values, not an even number of 2 or more", v->n);
  uint32_t k = (uint32_t)(v->n / 2);
  uint64_t sum = 0;
  for (uint32_t i = 0; i < k; i++) {
    const pb_value *c = &v->vals[2 * i], *p = &v->vals[2 * i + 1];
    if (c->kind != PB_VALUE_UINT || c->as.u == 0 || c->as.u > UINT64_MAX - sum)
      return PB__CORRUPT("list branch: child %" PRIu32 " has a bad count", i);
    if (p->kind != PB_VALUE_REF || pb_atom_ptr_is_null(p->as.ref))
      return PB__CORRUPT("list branch: child %" PRIu32 " has a bad pointer", i);
    sum += c->as.u;
  }
  pb__lnode *n = pb__lnode_new(1, k);
  if (!n) return PB_ENOMEM;
  for (uint32_t i = 0; i < k; i++)
    n->kids[i] = (pb__lslot){.ptr = v->vals[2 * i + 1].as.ref,
                             .count = v->vals[2 * i].as.u, .node = NULL};
  n->n = k;
  *out = n;
  return PB_OK;
}

/* --- The decoded node as the object cache shares it --- */

/* A node decoded with no context: its values or child slots (every child
 * NOT LOADED), and its total.  Immutable once built (it may be shared by
 * every handle, in every thread), so handles read it in place and copy
 * it before their first write to it (list_int.h). */
typedef struct list_obj {
  pb__obj h;
  pb__lnode *node; /* level 0 (leaf) or 1 (any branch: the load sets it) */
  uint64_t total;  /* values under it: its n, or the sum of its counts */
} list_obj;

static int obj_build(const void *ctx, pb_bytes atom, pb__obj **out,
                     uint64_t *extra) {
  (void)ctx;
  pb__node_view v;
  int rc = pb__node_decode(atom, PB__TYPE_LIST_LEAF, PB__TYPE_LIST_BRANCH, &v);
  if (rc != PB_OK) return rc;
  pb__lnode *n;
  if (v.type == PB__TYPE_LIST_LEAF) rc = leaf_from_view(&v, &n);
  else rc = branch_from_view(&v, &n);
  pb__node_view_free(&v);
  if (rc != PB_OK) return rc;
  list_obj *o = malloc(sizeof *o);
  if (!o) {
    pb__lnode_free(n);
    return PB_ENOMEM;
  }
  o->h = (pb__obj){&pb__list_obj_class, 0, NULL};
  n->shared = true; /* private again if this load alone takes it */
  o->node = n;
  o->total = pb__lnode_total(n);
  *extra = sizeof *o + sizeof *n +
           (size_t)n->cap * (n->level ? sizeof *n->kids : sizeof *n->vals);
  *out = &o->h;
  return PB_OK;
}

static void obj_destroy(pb__obj *h) {
  list_obj *o = (list_obj *)h;
  if (o->node) o->node->shared = false; /* its owner frees it */
  pb__lnode_free(o->node);
  free(o);
}

const pb__obj_class pb__list_obj_class = {"list node", obj_build,
                                          obj_destroy, NULL, NULL};

/* Reads the node at `ptr` (object cache, bytes cache, storage), checks it
 * is a leaf (`want` PB__TYPE_LIST_LEAF), a branch (PB__TYPE_LIST_BRANCH)
 * or either (0), and gives it: the cached node itself (shared, read in
 * place), or the node of an object built for this load alone (private,
 * its level set by the caller); *total is the values under it. */
static int load_node(pb__list *l, pb_atom_ptr ptr, uint32_t want,
                     pb__lnode **out, uint64_t *total) {
  const pb__obj *h;
  pb__obj *owned;
  int rc = pb__obj_load(&l->src, ptr, 0, &pb__list_obj_class, NULL, 0, &h,
                        &owned);
  if (rc != PB_OK) return rc;
  const list_obj *o = (const list_obj *)h;
  bool leaf = o->node->level == 0;
  if ((want == PB__TYPE_LIST_LEAF && !leaf) ||
      (want == PB__TYPE_LIST_BRANCH && leaf)) {
    rc = PB__CORRUPT(
        PB__ATOM_FMT " (list node): a %s where a %s belongs",
        PB__ATOM_ARGS(ptr), leaf ? "leaf" : "branch",
        leaf ? "branch" : "leaf"); /* a node of the wrong kind for its level */
  } else if (owned) { /* built for this load alone: take its node */
    *out = o->node;
    o->node->shared = false;
    ((list_obj *)owned)->node = NULL;
  } else {
    *out = o->node; /* shared: read in place */
  }
  if (rc == PB_OK) *total = o->total;
  pb__obj_free(owned);
  return rc;
}

/* Frees the nodes of a chain that load_root has not linked yet. */
static void free_chain(pb__lnode **chain, unsigned n) {
  for (unsigned i = 0; i < n; i++) pb__lnode_free(chain[i]);
}

/* --- The kid map --- */

static size_t kmap_slot(const pb__lnode *parent, uint32_t idx, size_t cap) {
  uint64_t h = (uint64_t)(uintptr_t)parent * 0x9E3779B97F4A7C15u ^ idx;
  h ^= h >> 29;
  return (size_t)(h * 0xBF58476D1CE4E5B9u >> 32) & (cap - 1);
}

static pb__lkmap_ent *kmap_find(const pb__list *l, const pb__lnode *parent,
                                uint32_t idx) {
  if (!l->kmap) return NULL;
  for (size_t s = kmap_slot(parent, idx, l->kmap_cap);;
       s = (s + 1) & (l->kmap_cap - 1)) {
    pb__lkmap_ent *e = &l->kmap[s];
    if (!e->parent) return NULL;
    if (e->parent == parent && e->idx == idx) return e;
  }
}

static void kmap_put_cell(pb__lkmap_ent *cells, size_t cap,
                          const pb__lkmap_ent *e) {
  size_t s = kmap_slot(e->parent, e->idx, cap);
  while (cells[s].parent) s = (s + 1) & (cap - 1);
  cells[s] = *e;
}

/* Keeps `child` as child idx of the shared `parent`.  Errors: PB_ENOMEM. */
static int kmap_set(pb__list *l, const pb__lnode *parent, uint32_t idx,
                    pb__lnode *child) {
  pb__lkmap_ent *e = kmap_find(l, parent, idx);
  if (e) { /* moved out before (or a node met twice): the cell is free */
    assert(!e->child);
    e->child = child;
    return PB_OK;
  }
  if (2 * (l->kmap_used + 1) > l->kmap_cap) {
    size_t cap = l->kmap_cap ? 2 * l->kmap_cap : PB__LKMAP_SMALL;
    pb__lkmap_ent *cells =
        l->kmap_cap ? calloc(cap, sizeof *cells) : l->kmap_small;
    if (!cells) return PB_ENOMEM;
    if (!l->kmap_cap) memset(cells, 0, cap * sizeof *cells);
    for (size_t i = 0; i < l->kmap_cap; i++)
      if (l->kmap[i].parent) kmap_put_cell(cells, cap, &l->kmap[i]);
    if (l->kmap != l->kmap_small) free(l->kmap);
    l->kmap = cells;
    l->kmap_cap = cap;
  }
  pb__lkmap_ent n = {parent, idx, child};
  kmap_put_cell(l->kmap, l->kmap_cap, &n);
  l->kmap_used++;
  return PB_OK;
}

static void kmap_free(pb__list *l) {
  for (size_t i = 0; i < l->kmap_cap; i++)
    if (l->kmap[i].parent) pb__lnode_free(l->kmap[i].child);
  if (l->kmap != l->kmap_small) free(l->kmap);
  l->kmap = NULL;
  l->kmap_cap = l->kmap_used = 0;
}

/* The loaded child i of `parent`, or NULL. */
static pb__lnode *kid_of(const pb__list *l, const pb__lnode *parent,
                         uint32_t i) {
  if (!parent->shared) return parent->kids[i].node;
  pb__lkmap_ent *e = kmap_find(l, parent, i);
  return e ? e->child : NULL;
}

/* Keeps `child` (loaded, checked) as child i of `parent`. */
static int set_kid(pb__list *l, pb__lnode *parent, uint32_t i,
                   pb__lnode *child) {
  if (parent->shared) return kmap_set(l, parent, i, child);
  parent->kids[i].node = child;
  return PB_OK;
}

/* Links chain[0..n) (a leftmost path, checked, chain[n - 1] a leaf):
 * sets the levels of private nodes and hangs each node under its parent
 * (slot or kid map).  Errors: PB_ENOMEM, after freeing the chain. */
static int link_chain(pb__list *l, pb__lnode **chain, unsigned n) {
  for (unsigned i = 0; i < n; i++)
    if (!chain[i]->shared) chain[i]->level = n - 1 - i;
  for (unsigned i = 1; i < n; i++) {
    int rc = set_kid(l, chain[i - 1], 0, chain[i]);
    if (rc != PB_OK) { /* chain[1..i) hang under chain[0] already */
      for (unsigned k = i; k < n; k++) pb__lnode_free(chain[k]);
      pb__lnode_free(chain[0]);
      return rc;
    }
  }
  return PB_OK;
}

/* Loads the root and its leftmost path down to a leaf, which fixes the
 * height (and so every node's level). */
static int load_root(pb__list *l) {
  pb__lnode *chain[PB__COLL_MAX_DEPTH];
  uint64_t total[PB__COLL_MAX_DEPTH];
  unsigned n = 0;
  pb_atom_ptr ptr = l->root.ptr;
  for (;;) {
    if (n == PB__COLL_MAX_DEPTH) {
      free_chain(chain, n);
      return PB__CORRUPT(
          PB__ATOM_FMT " (list root): more than %d levels",
          PB__ATOM_ARGS(l->root.ptr),
          PB__COLL_MAX_DEPTH); /* too deep: a cycle, or hostile bytes */
    }
    int rc = load_node(l, ptr, 0, &chain[n], &total[n]);
    if (rc != PB_OK) {
      free_chain(chain, n);
      return rc;
    }
    if (chain[n++]->level == 0) break;
    ptr = chain[n - 1]->kids[0].ptr;
  }
  for (unsigned i = n - 1; i > 0; i--)
    if (total[i] != chain[i - 1]->kids[0].count) {
      int rc = PB__CORRUPT(PB__ATOM_FMT
                           " (list root path): level %u holds %" PRIu64
                           " values, its parent says %" PRIu64,
                           PB__ATOM_ARGS(chain[i - 1]->kids[0].ptr), n - 1 - i,
                           total[i], chain[i - 1]->kids[0].count);
      free_chain(chain, n);
      return rc;
    }
  int rc = link_chain(l, chain, n); /* frees the chain when it fails */
  if (rc != PB_OK) return rc;
  l->root.node = chain[0];
  l->root.count = total[0];
  l->root_level = n - 1;
  return PB_OK;
}

int pb__list_ensure_root(pb__list *l) {
  if (l->root.node || pb_atom_ptr_is_null(l->root.ptr)) return PB_OK;
  return load_root(l);
}

int pb__list_load_kid(pb__list *l, pb__lnode *parent, uint32_t level,
                      uint32_t i, pb__lnode **out) {
  assert(level > 0 && parent->level > 0 && i < parent->n);
  assert(parent->shared || parent->level == level);
  bool want_leaf = level == 1;
  pb__lnode *child = kid_of(l, parent, i);
  if (child) {
    /* Checked when loaded here; a shared parent may be met again at
     * another depth (hostile bytes), so its kind is checked again. */
    if ((child->level == 0) != want_leaf)
      return PB__CORRUPT(PB__ATOM_FMT " (list node): a %s where a %s belongs",
                         PB__ATOM_ARGS(parent->kids[i].ptr),
                         want_leaf ? "branch" : "leaf",
                         want_leaf ? "leaf" : "branch");
    *out = child;
    return PB_OK;
  }
  const pb__lslot *s = &parent->kids[i];
  assert(!pb_atom_ptr_is_null(s->ptr)); /* only a loaded node can be dirty */
  uint64_t total;
  int rc = load_node(l, s->ptr, want_leaf ? PB__TYPE_LIST_LEAF
                                          : PB__TYPE_LIST_BRANCH,
                     &child, &total);
  if (rc != PB_OK) return rc;
  if (!child->shared) child->level = level - 1;
  if (total != s->count) {
    pb__lnode_free(child);
    return PB__CORRUPT(PB__ATOM_FMT " (list node): holds %" PRIu64
                                    " values, its parent says %" PRIu64,
                       PB__ATOM_ARGS(s->ptr), total,
                       s->count); /* the parent's count lies */
  }
  rc = set_kid(l, parent, i, child);
  if (rc != PB_OK) {
    pb__lnode_free(child);
    return rc;
  }
  *out = child;
  return PB_OK;
}

/* A private copy of the shared node `n` at `level`, with the children
 * the handle loaded under n moved from the kid map into its slots (the
 * values in it still point into the shared object's atom). */
static pb__lnode *copy_shared(pb__list *l, const pb__lnode *n,
                              uint32_t level) {
  assert(n->shared);
  pb__lnode *c = pb__lnode_new(level, n->n);
  if (!c) return NULL;
  if (level == 0) {
    memcpy(c->vals, n->vals, n->n * sizeof *n->vals);
  } else {
    memcpy(c->kids, n->kids, n->n * sizeof *n->kids);
    if (l->kmap_used)
      for (uint32_t i = 0; i < n->n; i++) {
        pb__lkmap_ent *e = kmap_find(l, n, i);
        if (e && e->child) {
          c->kids[i].node = e->child;
          e->child = NULL;
        }
      }
  }
  c->n = n->n;
  atomic_fetch_add_explicit(&pb__list_copies, 1, memory_order_relaxed);
  return c;
}

int pb__list_own_kid(pb__list *l, pb__lnode *parent, uint32_t level,
                     uint32_t i, pb__lnode **out) {
  assert(!parent->shared);
  pb__lnode *child;
  int rc = pb__list_load_kid(l, parent, level, i, &child);
  if (rc != PB_OK) return rc;
  if (child->shared) {
    pb__lnode *c = copy_shared(l, child, level - 1);
    if (!c) return PB_ENOMEM;
    parent->kids[i].node = child = c;
  }
  *out = child;
  return PB_OK;
}

int pb__list_own_root(pb__list *l) {
  pb__lnode *r = l->root.node;
  assert(r);
  if (!r->shared) return PB_OK;
  pb__lnode *c = copy_shared(l, r, l->root_level);
  if (!c) return PB_ENOMEM;
  l->root.node = c;
  return PB_OK;
}

/* --- Descent --- */

/* The child of `n` (holding `in_node` values) that holds index *i, which
 * becomes the index inside that child.  With `insert`, *i == in_node
 * picks the end of the last child. */
static uint32_t pick_kid(const pb__lnode *n, uint64_t *i, uint64_t in_node,
                         bool insert) {
  if (insert && *i == in_node) {
    *i = n->kids[n->n - 1].count;
    return n->n - 1;
  }
  for (uint32_t j = 0; j + 1 < n->n; j++) {
    if (*i < n->kids[j].count) return j;
    *i -= n->kids[j].count;
  }
  return n->n - 1; /* the counts add up to in_node > *i */
}

int pb__list_descend(pb__list *l, uint64_t i, bool insert, bool write,
                     pb__lpath *p) {
  assert(l->root.node);
  if (write) {
    int rc = pb__list_own_root(l);
    if (rc != PB_OK) return rc;
  }
  pb__lnode *n = l->root.node;
  uint64_t in_node = l->root.count;
  uint32_t level = l->root_level;
  assert(insert ? i <= in_node : i < in_node);
  p->depth = 0;
  for (; level > 0; level--) {
    uint32_t j = pick_kid(n, &i, in_node, insert);
    pb__lnode *kid;
    int rc = write ? pb__list_own_kid(l, n, level, j, &kid)
                   : pb__list_load_kid(l, n, level, j, &kid);
    if (rc != PB_OK) return rc;
    p->step[p->depth++] = (pb__lstep){n, j};
    in_node = n->kids[j].count;
    n = kid;
  }
  assert(n->level == 0);
  p->step[p->depth++] = (pb__lstep){n, (uint32_t)i};
  return PB_OK;
}

void pb__list_touch(pb__list *l, const pb__lpath *p) {
  static const pb_atom_ptr null_ptr;
  for (unsigned k = 0; k + 1 < p->depth; k++)
    p->step[k].node->kids[p->step[k].idx].ptr = null_ptr;
  l->root.ptr = null_ptr;
  l->dirty = true;
}

int pb__list_copy_value(pb__list *l, const pb_value *v, pb_value *out) {
  static const uint8_t empty[1];
  if (!pb__value_valid(v)) return PB_EINVAL;
  *out = *v;
  const void *from;
  size_t len;
  if (v->kind == PB_VALUE_STRING) from = v->as.s.ptr, len = v->as.s.len;
  else if (v->kind == PB_VALUE_BYTES) from = v->as.bytes.ptr, len = v->as.bytes.len;
  else if (v->kind == PB_VALUE_RECORD)
    from = v->as.rec.body.ptr, len = v->as.rec.body.len;
  else return PB_OK; /* no payload */
  const uint8_t *copy = empty; /* a length-0 payload points nowhere else */
  if (len > 0) {
    if (!l->arena && pb_arena_create(&l->arena) != PB_OK) return PB_ENOMEM;
    uint8_t *mem = pb_arena_alloc(l->arena, len);
    if (!mem) return PB_ENOMEM;
    memcpy(mem, from, len);
    copy = mem;
  }
  if (v->kind == PB_VALUE_STRING) out->as.s.ptr = (const char *)copy;
  else if (v->kind == PB_VALUE_BYTES) out->as.bytes.ptr = copy;
  else out->as.rec.body.ptr = copy;
  return PB_OK;
}

/* --- The handle --- */

int pb__list_open(const pb__src *src, pb_atom_ptr root, pb__list **out) {
  pb__list *l = calloc(1, sizeof *l);
  if (!l) return PB_ENOMEM;
  l->src = *src;
  l->base = root;
  l->root.ptr = root;
  pb_buf_init(&l->buf);
  l->kmap = NULL; /* the small cells are taken on the first load */
  *out = l;
  return PB_OK;
}

void pb__list_free(pb__list *l) {
  if (!l) return;
  pb__lnode_free(l->root.node);
  kmap_free(l);
  pb_arena_destroy(l->arena);
  pb_buf_free(&l->buf);
  free(l->scratch);
  free(l);
}

int pb__list_count(pb__list *l, uint64_t *out) {
  int rc = pb__list_ensure_root(l);
  if (rc != PB_OK) return rc;
  *out = l->root.node ? l->root.count : 0;
  return PB_OK;
}

int pb__list_height(pb__list *l, unsigned *out) {
  int rc = pb__list_ensure_root(l);
  if (rc != PB_OK) return rc;
  *out = l->root.node ? l->root_level + 1 : 0;
  return PB_OK;
}

int pb__list_get(pb__list *l, uint64_t i, pb_value *out) {
  uint64_t count;
  int rc = pb__list_count(l, &count);
  if (rc != PB_OK) return rc;
  if (i >= count) return PB_ERANGE;
  pb__lpath p;
  rc = pb__list_descend(l, i, false, false, &p);
  if (rc != PB_OK) return rc;
  const pb__lstep *leaf = &p.step[p.depth - 1];
  *out = leaf->node->vals[leaf->idx];
  return PB_OK;
}

int pb__list_set(pb__list *l, uint64_t i, const pb_value *v) {
  uint64_t count;
  int rc = pb__list_count(l, &count);
  if (rc != PB_OK) return rc;
  if (i >= count) return PB_ERANGE;
  pb_value copy;
  rc = pb__list_copy_value(l, v, &copy);
  if (rc != PB_OK) return rc;
  pb__lpath p;
  rc = pb__list_descend(l, i, false, true, &p);
  if (rc != PB_OK) return rc;
  const pb__lstep *leaf = &p.step[p.depth - 1];
  leaf->node->vals[leaf->idx] = copy;
  pb__list_touch(l, &p);
  return PB_OK;
}

bool pb__list_dirty(const pb__list *l) { return l->dirty; }

pb_atom_ptr pb__list_base(const pb__list *l) { return l->base; }

/* --- Flush --- */

/* The slots whose pointers a flush set, so that a failed flush can clear
 * them again and leave the handle as it was. */
typedef struct flush_log {
  pb__lslot **slot; /* slots given a pointer by this flush */
  size_t n, cap;    /* used and allocated entries */
} flush_log;

static int log_push(flush_log *g, pb__lslot *s) {
  if (g->n == g->cap) {
    size_t cap = g->cap ? g->cap * 2 : 64;
    pb__lslot **a = realloc(g->slot, cap * sizeof *a);
    if (!a) return PB_ENOMEM;
    g->slot = a;
    g->cap = cap;
  }
  g->slot[g->n++] = s;
  return PB_OK;
}

/* Writes a branch whose children all have atoms: [UINT count, REF ptr]
 * for each. */
static int write_branch(pb__list *l, const pb__sink *sink, const pb__lnode *n,
                        pb_atom_ptr *out) {
  size_t need = 2 * (size_t)n->n;
  if (need > l->scratch_cap) {
    pb_value *s = realloc(l->scratch, need * sizeof *s);
    if (!s) return PB_ENOMEM;
    l->scratch = s;
    l->scratch_cap = need;
  }
  for (uint32_t i = 0; i < n->n; i++) {
    l->scratch[2 * i] = (pb_value){.kind = PB_VALUE_UINT,
                                   .as.u = n->kids[i].count};
    l->scratch[2 * i + 1] = (pb_value){.kind = PB_VALUE_REF,
                                       .as.ref = n->kids[i].ptr};
  }
  return pb__node_write(sink, &l->buf, PB__TYPE_LIST_BRANCH, l->scratch, need,
                        out);
}

/* Writes the dirty node `n`: its dirty children first (recursion is as
 * deep as the tree, at most PB__COLL_MAX_DEPTH), then itself. */
static int flush_node(pb__list *l, const pb__sink *sink, pb__lnode *n,
                      flush_log *g, pb_atom_ptr *out) {
  if (n->level == 0)
    return pb__node_write(sink, &l->buf, PB__TYPE_LIST_LEAF, n->vals, n->n,
                          out);
  for (uint32_t i = 0; i < n->n; i++) {
    pb__lslot *s = &n->kids[i];
    if (!pb_atom_ptr_is_null(s->ptr)) continue; /* clean: shared */
    int rc = log_push(g, s);
    if (rc == PB_OK) rc = flush_node(l, sink, s->node, g, &s->ptr);
    if (rc != PB_OK) return rc;
  }
  return write_branch(l, sink, n, out);
}

int pb__list_flush(pb__list *l, const pb__sink *sink, pb_atom_ptr *root) {
  if (!l->root.node || !pb_atom_ptr_is_null(l->root.ptr)) {
    *root = l->root.ptr; /* empty, or clean */
  } else {
    flush_log g = {0};
    pb_atom_ptr ptr;
    int rc = flush_node(l, sink, l->root.node, &g, &ptr);
    if (rc != PB_OK) {
      static const pb_atom_ptr null_ptr;
      for (size_t i = 0; i < g.n; i++) g.slot[i]->ptr = null_ptr;
      free(g.slot);
      return rc;
    }
    free(g.slot);
    l->root.ptr = ptr;
    *root = ptr;
  }
  l->base = *root;
  l->dirty = false;
  return PB_OK;
}
