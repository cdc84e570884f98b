/*
 * collections/dict_merge.c - a sorted run of puts merged into a Dictionary
 * in one pass (pb__dict_merge, dict.h; docs/coll-dict.md section 6).
 *
 * The puts (strictly ascending keys) are split among the children of each
 * branch by its separators, from the root down.  A child that gets no put,
 * or only puts of the values it already holds (a read-only walk tells),
 * keeps its slot as it is: its atom, and its node if loaded.  Any other
 * child is made private (pb__dict_own_kid: copy on write) and merged in
 * turn.  A leaf merges its entries with its puts into one array (a put
 * replaces an equal key); a branch collects the slots of its children's
 * results.  A node that ends up with more than F items is cut into
 * ceil(items / F) near-equal nodes (each then holds at least F / 2, so the
 * minimum fill holds), which its parent takes as new slots beside it.  At
 * the root, more than one node grows the tree by as many levels as it
 * takes.  A merge only adds entries, so no node underflows.
 */
#include <assert.h>
#include <stdlib.h>
#include <string.h>

#include "atom/value.h"
#include "collections/dict_int.h"

static const pb_atom_ptr null_ptr = {0, 0, 0};

typedef struct merge_ctx {
  pb__dict *d;
  pb__dict_at_fn at;
  const void *ctx;
  size_t f; /* fanout */
} merge_ctx;

/* A growing array of slots. */
typedef struct slots {
  pb__dkid *v;
  size_t n, cap;
} slots;

static int slots_push(slots *s, pb__dkid k) {
  if (s->n == s->cap) {
    size_t cap = s->cap ? s->cap * 2 : 8;
    pb__dkid *v = realloc(s->v, cap * sizeof *v);
    if (!v) return PB_ENOMEM;
    s->v = v;
    s->cap = cap;
  }
  s->v[s->n++] = k;
  return PB_OK;
}

static pb_str key_at(const merge_ctx *m, size_t i) {
  pb_str k;
  pb_value v;
  m->at(m->ctx, i, &k, &v);
  return k;
}

/* The end of the puts from `lo` (below `hi`) that go to child i of
 * `branch`: those below the next separator (all the rest for the last
 * child). */
static size_t kid_end(const merge_ctx *m, const pb__dnode *branch, size_t i,
                      size_t lo, size_t hi) {
  if (i + 1 == branch->n) return hi;
  pb_str sep = branch->kids[i + 1].key;
  while (lo < hi && pb__dict_key_cmp(key_at(m, lo), sep) < 0) lo++;
  return lo;
}

/* *yes: whether puts [lo, hi) change anything under `node` (shared or
 * private, bounds b): a new key, or another value.  Reads only. */
static int changes(const merge_ctx *m, pb__dnode *node, const pb__dbounds *b,
                   size_t lo, size_t hi, bool *yes) {
  assert(node->level < PB__COLL_MAX_DEPTH); /* bounds the recursion */
  *yes = false;
  if (node->level == 0) {
    for (size_t i = lo; i < hi; i++) {
      pb_str k;
      pb_value v;
      m->at(m->ctx, i, &k, &v);
      bool found;
      size_t at = pb__dict_leaf_search(node, k, &found);
      if (!found || !pb__value_equal(&node->ents[at].val, &v)) {
        *yes = true;
        return PB_OK;
      }
    }
    return PB_OK;
  }
  size_t p = lo;
  for (size_t i = 0; i < node->n && p < hi; i++) {
    size_t end = kid_end(m, node, i, p, hi);
    if (end == p) continue;
    pb__dbounds kb;
    pb__dict_kid_bounds(node, b, i, &kb);
    pb__dnode *kid;
    int rc = pb__dict_kid(m->d, node, b, i, &kid);
    if (rc == PB_OK) rc = changes(m, kid, &kb, p, end, yes);
    if (rc != PB_OK || *yes) return rc;
    p = end;
  }
  return PB_OK;
}

/* The size of piece j of s items cut into k near-equal pieces. */
static size_t piece(size_t s, size_t k, size_t j) {
  return s / k + (j < s % k);
}

/* Merges the puts [lo, hi) into the leaf `node` (private) and pushes the
 * slots of the leaves that replace it onto `out`: node itself first (its
 * key is the caller's to set), then any cut from it. */
static int merge_leaf(const merge_ctx *m, pb__dnode *node, size_t lo,
                      size_t hi, slots *out) {
  size_t cnt = hi - lo, s = 0, i = 0;
  pb__dent *ents = malloc((node->n + cnt) * sizeof *ents);
  if (!ents) return PB_ENOMEM;
  for (size_t j = lo; j < hi; j++) {
    pb__dent put;
    m->at(m->ctx, j, &put.key, &put.val);
    int c = -1;
    while (i < node->n &&
           (c = pb__dict_key_cmp(node->ents[i].key, put.key)) < 0)
      ents[s++] = node->ents[i++];
    if (i < node->n && c == 0) i++; /* replaced */
    ents[s++] = put;
  }
  while (i < node->n) ents[s++] = node->ents[i++];
  size_t k = (s + m->f - 1) / m->f, at = piece(s, k, 0);
  size_t first = out->n;
  int rc = slots_push(out, (pb__dkid){{NULL, 0}, at, null_ptr, node});
  for (size_t j = 1; rc == PB_OK && j < k; j++) {
    size_t size = piece(s, k, j);
    pb__dnode *leaf = pb__dnode_new(0, size);
    if (!leaf) {
      rc = PB_ENOMEM;
      break;
    }
    memcpy(leaf->ents, ents + at, size * sizeof *ents);
    leaf->n = size;
    rc = slots_push(out, (pb__dkid){leaf->ents[0].key, size, null_ptr, leaf});
    if (rc != PB_OK) pb__dnode_free(leaf);
    at += size;
  }
  if (rc != PB_OK) { /* node unchanged; the cut leaves go */
    for (size_t j = first + 1; j < out->n; j++) pb__dnode_free(out->v[j].node);
    out->n = first;
    free(ents);
    return rc;
  }
  free(node->ents);
  free(node->pfx);
  node->pfx = NULL;
  node->lcp = 0;
  node->ents = ents;
  node->cap = node->n + cnt;
  node->n = piece(s, k, 0);
  return PB_OK;
}

/* Whether `node` is the node of one of parent's slots. */
static bool is_kid(const pb__dnode *parent, const pb__dnode *node) {
  for (size_t i = 0; i < parent->n; i++)
    if (parent->kids[i].node == node) return true;
  return false;
}

/* Frees the branches out->v[first..] built so far (their children are
 * still the caller's) and forgets them. */
static void drop_from(slots *out, size_t first) {
  for (size_t j = first; j < out->n; j++) {
    out->v[j].node->n = 0;
    pb__dnode_free(out->v[j].node);
  }
  out->n = first;
}

/* Cuts the slots `all` (a branch of `level`'s new children, taken over)
 * into near-equal branches: `node` (when not NULL) takes the first, new
 * ones the rest; pushes their slots onto `out`.  On an error nothing is
 * pushed and `all` is still the caller's. */
static int cut_branches(const merge_ctx *m, pb__dnode *node, unsigned level,
                        slots *all, slots *out) {
  size_t s = all->n, k = (s + m->f - 1) / m->f, at = 0, first = out->n;
  int rc = PB_OK;
  at = node ? piece(s, k, 0) : 0;
  for (size_t j = node ? 1 : 0; rc == PB_OK && j < k; j++) {
    size_t size = piece(s, k, j);
    pb__dnode *b = pb__dnode_new(level, size);
    if (!b) {
      rc = PB_ENOMEM;
      break;
    }
    memcpy(b->kids, all->v + at, size * sizeof *b->kids);
    b->n = size;
    pb_str low = b->kids[0].key;
    b->kids[0].key = (pb_str){NULL, 0};
    rc = slots_push(out, (pb__dkid){low, pb__dict_node_total(b), null_ptr, b});
    if (rc != PB_OK) {
      b->n = 0; /* its children are still the caller's */
      pb__dnode_free(b);
    }
    at += size;
  }
  if (rc != PB_OK) {
    drop_from(out, first);
    return rc;
  }
  if (!node) {
    free(all->v);
    *all = (slots){0};
    return PB_OK;
  }
  /* node takes the first piece: it goes in front of the new ones */
  size_t n0 = piece(s, k, 0);
  pb__dkid self = {{NULL, 0}, 0, null_ptr, node};
  rc = slots_push(out, self);
  if (rc != PB_OK) {
    drop_from(out, first);
    return rc;
  }
  memmove(out->v + first + 1, out->v + first,
          (out->n - first - 1) * sizeof *out->v);
  out->v[first] = self;
  free(node->kids);
  free(node->pfx);
  node->pfx = NULL;
  node->lcp = 0;
  node->kids = all->v;
  node->cap = all->cap;
  node->n = n0;
  out->v[first].count = pb__dict_node_total(node);
  *all = (slots){0};
  return PB_OK;
}

static int merge_node(const merge_ctx *m, pb__dnode *node,
                      const pb__dbounds *b, size_t lo, size_t hi,
                      slots *out);

/* Merges the puts [lo, hi) into the branch `node` (private), pushing the
 * slots that replace it onto `out` (node first, as merge_leaf). */
static int merge_branch(const merge_ctx *m, pb__dnode *node,
                        const pb__dbounds *b, size_t lo, size_t hi,
                        slots *out) {
  slots nk = {0};
  int rc = PB_OK;
  size_t p = lo;
  for (size_t i = 0; rc == PB_OK && i < node->n; i++) {
    size_t end = p < hi ? kid_end(m, node, i, p, hi) : p;
    bool yes = false;
    pb__dbounds kb;
    pb__dict_kid_bounds(node, b, i, &kb);
    if (end > p) {
      pb__dnode *kid;
      rc = pb__dict_kid(m->d, node, b, i, &kid);
      if (rc == PB_OK) rc = changes(m, kid, &kb, p, end, &yes);
    }
    if (rc == PB_OK && !yes) {
      rc = slots_push(&nk, node->kids[i]);
    } else if (rc == PB_OK) {
      pb__dnode *kid;
      rc = pb__dict_own_kid(m->d, node, b, i, &kid);
      if (rc == PB_OK) {
        node->kids[i].ptr = null_ptr;
        size_t first = nk.n;
        rc = merge_node(m, kid, &kb, p, end, &nk);
        if (rc == PB_OK) {
          nk.v[first].key = node->kids[i].key;
          node->kids[i].count = nk.v[first].count;
        }
      }
    }
    p = end;
  }
  if (rc == PB_OK && nk.n <= m->f) {
    rc = slots_push(out, (pb__dkid){{NULL, 0}, 0, null_ptr, node});
    if (rc == PB_OK) {
      free(node->kids);
      free(node->pfx);
      node->pfx = NULL;
      node->lcp = 0;
      node->kids = nk.v;
      node->cap = nk.cap;
      node->n = nk.n;
      out->v[out->n - 1].count = pb__dict_node_total(node);
      return PB_OK;
    }
  } else if (rc == PB_OK) {
    rc = cut_branches(m, node, node->level, &nk, out);
    if (rc == PB_OK) return PB_OK;
  }
  /* node keeps its own slots: free what only nk holds (leaves and
   * branches cut off below) */
  for (size_t j = 0; j < nk.n; j++)
    if (nk.v[j].node && !is_kid(node, nk.v[j].node))
      pb__dnode_free(nk.v[j].node);
  free(nk.v);
  return rc;
}

/* Merges the puts [lo, hi) into `node` (private, bounds b) and pushes the
 * slots of the nodes that replace it onto `out`: node itself first. */
static int merge_node(const merge_ctx *m, pb__dnode *node,
                      const pb__dbounds *b, size_t lo, size_t hi,
                      slots *out) {
  assert(!node->shared && node->level < PB__COLL_MAX_DEPTH);
  if (node->level == 0) return merge_leaf(m, node, lo, hi, out);
  return merge_branch(m, node, b, lo, hi, out);
}

int pb__dict_merge(pb__dict *d, pb__dict_at_fn at, const void *ctx,
                   size_t n) {
  if (!d || !at || n == 0) return PB_EINVAL;
  merge_ctx m = {d, at, ctx, pb__dict_fanout()};
  static const pb__dbounds open = {{"", 0}, {"", 0}, false, false};
  int rc = pb__dict_load_root(d);
  if (rc != PB_OK) return rc;
  if (!d->root.node) {
    pb__dnode *leaf = pb__dnode_new(0, 0);
    if (!leaf) return PB_ENOMEM;
    d->root = (pb__dkid){{NULL, 0}, 0, null_ptr, leaf};
  } else {
    bool yes;
    rc = changes(&m, d->root.node, &open, 0, n, &yes);
    if (rc != PB_OK || !yes) return rc;
    if ((rc = pb__dict_own_root(d)) != PB_OK) return rc;
  }
  d->root.ptr = null_ptr;
  d->dirty = true;
  slots out = {0};
  rc = merge_node(&m, d->root.node, &open, 0, n, &out);
  unsigned level = d->root.node->level;
  while (rc == PB_OK && out.n > 1) {
    if (++level >= PB__COLL_MAX_DEPTH) {
      rc = PB_ETOOBIG;
      break;
    }
    slots up = {0};
    rc = cut_branches(&m, NULL, level, &out, &up);
    if (rc == PB_OK) out = up;
    else free(up.v);
  }
  if (rc != PB_OK) {
    /* The merge failed (nothing in out: the root keeps its slots), or
     * growing it did: then out's first node holds the old root (cuts keep
     * the order), so it becomes the root and the others go.  Either way
     * the handle can only be freed now (dict.h). */
    if (out.n > 0) {
      d->root.node = out.v[0].node;
      d->root.count = out.v[0].count;
    }
    for (size_t j = 1; j < out.n; j++) pb__dnode_free(out.v[j].node);
    free(out.v);
    return rc;
  }
  d->root = (pb__dkid){{NULL, 0}, out.v[0].count, null_ptr, out.v[0].node};
  free(out.v);
  return PB_OK;
}
