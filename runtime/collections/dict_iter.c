/*
 * collections/dict_iter.c - range iteration over the Dictionary, forward
 * or in reverse.
 *
 * An iterator keeps the path from the root to its current leaf: a node
 * and a position per level, so each step is O(1) amortized and loads a
 * node only when it enters it.  Nothing is loaded before the first
 * pb__dict_iter_next (opening cannot fail but for memory); the first call
 * descends to the range's start:
 *
 *   forward   the first key >= lo (> lo when exclusive), or the first key;
 *   reverse   the last key <= hi (< hi when exclusive), or the last key;
 *
 * and each call stops at the far bound.  Positions: forward, pos is the
 * next entry of the leaf (the current child in a branch); in reverse, the
 * next entry is pos - 1 in the leaf (a branch's pos is still the current
 * child).  An error while loading is sticky: the iterator returns it
 * again rather than resuming from a half-moved path.
 *
 * Leaves: on a tier whose reads are views of the stored bytes (file and
 * memory: pb__src_caches.inplace), a leaf that no link or private slot
 * gives is decoded from those bytes into the iterator's own leaf
 * (pb__dict_leaf_scratch), reused from leaf to leaf, rather than loaded
 * into the object cache, unless the doorkeeper admits it as a get would
 * (pb__dict_read_in_place): a scan reads each leaf once, and caching it
 * would only decode it into a block and push out what the cache holds.
 * The entries' views point into the stored bytes, valid as long as the
 * source's views (a transaction's: until it ends).
 */
#include <assert.h>
#include <stdlib.h>
#include <string.h>

#include "collections/dict_int.h"

bool pb__dict_scan_cached;

typedef enum iter_state { ITER_NEW, ITER_RUNNING, ITER_DONE } iter_state;

struct pb__dict_iter {
  pb__dict *d;                            /* the dictionary */
  pb__dict_range r;                       /* bounds, copied into mem */
  char *mem;                              /* the bounds' bytes */
  bool reverse;                           /* descending key order */
  iter_state state;                       /* where it is */
  int err;                                /* a sticky error, or PB_OK */
  size_t depth;                           /* nodes on the path */
  pb__dnode *node[PB__COLL_MAX_DEPTH];    /* node[0] is the root */
  size_t pos[PB__COLL_MAX_DEPTH];         /* position per level (above) */
  pb__dbounds bounds[PB__COLL_MAX_DEPTH]; /* the keys node[l] may hold */
  pb__dnode *scratch; /* leaves read from their stored bytes (below) */
};

int pb__dict_iter_open(pb__dict *d, const pb__dict_range *r, bool reverse,
                       pb__dict_iter **out) {
  if (!d || !out) return PB_EINVAL;
  pb__dict_iter *it = calloc(1, sizeof *it);
  if (!it) return PB_ENOMEM;
  it->d = d;
  it->reverse = reverse;
  if (r) {
    it->r = *r;
    size_t lo = r->has_lo ? r->lo.len : 0, hi = r->has_hi ? r->hi.len : 0;
    if (lo + hi > 0 && !(it->mem = malloc(lo + hi))) {
      free(it);
      return PB_ENOMEM;
    }
    if (lo) memcpy(it->mem, r->lo.ptr, lo);
    if (hi) memcpy(it->mem + lo, r->hi.ptr, hi);
    it->r.lo = (pb_str){lo ? it->mem : NULL, lo};
    it->r.hi = (pb_str){hi ? it->mem + lo : NULL, hi};
  }
  *out = it;
  return PB_OK;
}

void pb__dict_iter_free(pb__dict_iter *it) {
  if (!it) return;
  pb__dnode_free(it->scratch);
  free(it->mem);
  free(it);
}

/* Where a descent enters `node` at level l: at the start bound when
 * `seek`, else at the node's first (forward) or last (reverse) item. */
static void enter(pb__dict_iter *it, size_t l, pb__dnode *node, bool seek) {
  bool fwd = !it->reverse;
  bool use = seek && (fwd ? it->r.has_lo : it->r.has_hi);
  pb_str key = fwd ? it->r.lo : it->r.hi;
  it->node[l] = node;
  if (node->level > 0) {
    it->pos[l] = use ? pb__dict_kid_search(node, key) : fwd ? 0 : node->n - 1;
    return;
  }
  if (!use) {
    it->pos[l] = fwd ? 0 : node->n;
    return;
  }
  bool found;
  size_t p = pb__dict_leaf_search(node, key, &found);
  bool incl = fwd ? it->r.lo_incl : it->r.hi_incl;
  /* forward: skip an excluded match; reverse: include an included one */
  it->pos[l] = found && (fwd ? !incl : incl) ? p + 1 : p;
}

/* Descends from level l (whose node and pos are set) to a leaf. */
static int descend_from(pb__dict_iter *it, size_t l, bool seek) {
  while (it->node[l]->level > 0) {
    pb__dnode *node = it->node[l];
    size_t i = it->pos[l];
    pb__dnode *child = NULL;
    int rc = PB_OK;
    assert(l + 1 < PB__COLL_MAX_DEPTH); /* levels fall by one per step */
    pb__dict_kid_bounds(node, &it->bounds[l], i, &it->bounds[l + 1]);
    /* A leaf that no link or private slot gives is decoded from its
     * stored bytes into the iterator's own leaf, on a tier where reads
     * are views (as a get reads it in place), unless the doorkeeper admits
     * it: a scan then neither decodes each leaf into a block nor pushes
     * the cache's entries out for leaves it reads once. */
    if (node->level == 1 && pb__dict_inplace_on(it->d) &&
        !pb__dict_scan_cached &&
        !(child = pb__dict_near_kid(it->d, node, i)) &&
        pb__dict_read_in_place(&it->d->src, node->kids[i].ptr))
      rc = pb__dict_leaf_scratch(it->d, &node->kids[i], &it->bounds[l + 1],
                                 &it->scratch), child = it->scratch;
    else if (!child)
      rc = pb__dict_kid(it->d, node, &it->bounds[l], i, &child);
    if (rc != PB_OK) return rc;
    enter(it, l + 1, child, seek);
    l++;
  }
  it->depth = l + 1;
  return PB_OK;
}

static int start(pb__dict_iter *it) {
  int rc = pb__dict_load_root(it->d);
  if (rc != PB_OK) return rc;
  if (!it->d->root.node) {
    it->state = ITER_DONE;
    return PB_OK;
  }
  it->bounds[0] = (pb__dbounds){{NULL, 0}, {NULL, 0}, false, false};
  enter(it, 0, it->d->root.node, true);
  if ((rc = descend_from(it, 0, true)) != PB_OK) return rc;
  it->state = ITER_RUNNING;
  return PB_OK;
}

/* Moves to the next leaf in the iteration's direction; ITER_DONE when
 * there is none. */
static int next_leaf(pb__dict_iter *it) {
  size_t l = it->depth - 1;
  while (l > 0) {
    l--;
    pb__dnode *node = it->node[l];
    bool more = it->reverse ? it->pos[l] > 0 : it->pos[l] + 1 < node->n;
    if (!more) continue;
    it->pos[l] += it->reverse ? (size_t)-1 : 1;
    return descend_from(it, l, false);
  }
  it->state = ITER_DONE;
  return PB_OK;
}

/* True when `key` lies past the far bound. */
static bool past_end(const pb__dict_iter *it, pb_str key) {
  if (!it->reverse) {
    if (!it->r.has_hi) return false;
    int c = pb__dict_key_cmp(key, it->r.hi);
    return c > 0 || (c == 0 && !it->r.hi_incl);
  }
  if (!it->r.has_lo) return false;
  int c = pb__dict_key_cmp(key, it->r.lo);
  return c < 0 || (c == 0 && !it->r.lo_incl);
}

/* Gives the next entry of the current leaf, moving to later leaves while
 * it has none. */
static int step(pb__dict_iter *it, pb_str *key, pb_value *val) {
  for (;;) {
    if (it->state == ITER_DONE) return PB_ENOTFOUND;
    size_t l = it->depth - 1;
    pb__dnode *leaf = it->node[l];
    bool have = it->reverse ? it->pos[l] > 0 : it->pos[l] < leaf->n;
    if (!have) {
      int rc = next_leaf(it);
      if (rc != PB_OK) return rc;
      continue;
    }
    const pb__dent *e = &leaf->ents[it->reverse ? it->pos[l] - 1 : it->pos[l]];
    if (past_end(it, e->key)) {
      it->state = ITER_DONE;
      return PB_ENOTFOUND;
    }
    it->pos[l] += it->reverse ? (size_t)-1 : 1;
    *key = e->key;
    *val = e->val;
    return PB_OK;
  }
}

int pb__dict_iter_next(pb__dict_iter *it, pb_str *key, pb_value *val) {
  if (!it || !key || !val) return PB_EINVAL;
  if (it->err != PB_OK) return it->err;
  int rc = it->state == ITER_NEW ? start(it) : PB_OK;
  if (rc == PB_OK) rc = step(it, key, val);
  if (rc != PB_OK && rc != PB_ENOTFOUND) it->err = rc;
  return rc;
}

int pb__dict_iter_run(pb__dict_iter *it, const pb__dent **ents, size_t *n) {
  if (!it || !ents || !n) return PB_EINVAL;
  *n = 0;
  if (it->err != PB_OK) return it->err;
  int rc = it->state == ITER_NEW ? start(it) : PB_OK;
  while (rc == PB_OK) {
    if (it->state == ITER_DONE) {
      rc = PB_ENOTFOUND;
      break;
    }
    size_t l = it->depth - 1;
    const pb__dnode *leaf = it->node[l];
    size_t pos = it->pos[l];
    if (it->reverse ? pos == 0 : pos >= leaf->n) {
      rc = next_leaf(it);
      continue;
    }
    const pb__dent *e = &leaf->ents[it->reverse ? pos - 1 : pos];
    size_t m = it->reverse ? 1 : leaf->n - pos;
    /* keys ascend: only the run's last key can be past a forward bound
     * when no key is; else the run ends before the first that is */
    if (past_end(it, e[m - 1].key)) {
      size_t k = 0;
      while (k < m && !past_end(it, e[k].key)) k++;
      if (k == 0) {
        it->state = ITER_DONE;
        rc = PB_ENOTFOUND;
        break;
      }
      m = k;
    }
    it->pos[l] = it->reverse ? pos - 1 : pos + m;
    *ents = e;
    *n = m;
    return PB_OK;
  }
  if (rc != PB_ENOTFOUND) it->err = rc;
  return rc;
}
