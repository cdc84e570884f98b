/*
 * collections/dict_check.c - a full consistency check of a Dictionary's
 * tree, for tests and debugging (like SQLite's integrity_check): it loads
 * every node and checks what the B+tree promises, in memory as well as on
 * disk.
 */
#include <assert.h>

#include "collections/dict_int.h"
#include "util/errdetail.h"

typedef struct check_ctx {
  pb__dict *d;   /* the dictionary */
  bool strict;   /* also the fanout and the minimum fill */
  size_t f, min; /* fanout and minimum fill */
} check_ctx;

static bool in_bounds(const pb__dbounds *b, pb_str k, bool strict_lo) {
  if (b->has_lo) {
    int c = pb__dict_key_cmp(k, b->lo);
    if (strict_lo ? c <= 0 : c < 0) return false;
  }
  return !b->has_hi || pb__dict_key_cmp(k, b->hi) < 0;
}

/* The node's size against the fanout rules. */
static bool size_ok(const check_ctx *c, const pb__dnode *node, bool root) {
  if (node->n > node->cap) return false;
  if (!root && node->n == 0) return false;
  if (!c->strict) return true;
  if (node->n > c->f) return false;
  if (root) return node->level == 0 || node->n >= 2;
  return node->n >= c->min;
}

/* `at` is the node's atom (null: a node not written yet), for messages. */
static int check_node(check_ctx *c, pb__dnode *node, pb_atom_ptr at,
                      const pb__dbounds *b, bool root, uint64_t *total);

static int check_kids(check_ctx *c, pb__dnode *node, pb_atom_ptr at,
                      const pb__dbounds *b) {
  for (size_t i = 0; i < node->n; i++) {
    pb__dkid *k = &node->kids[i];
    if (i > 0 && !in_bounds(b, k->key, true))
      return PB__CORRUPT(PB__ATOM_FMT " (dict node): separator %zu out of "
                         "bounds", PB__ATOM_ARGS(at), i);
    if (i > 1 && pb__dict_key_cmp(node->kids[i - 1].key, k->key) >= 0)
      return PB__CORRUPT(PB__ATOM_FMT " (dict node): separator %zu not "
                         "ascending", PB__ATOM_ARGS(at), i);
    if (!k->node && pb_atom_ptr_is_null(k->ptr))
      return PB__CORRUPT(PB__ATOM_FMT " (dict node): child %zu has no node "
                         "and no pointer", PB__ATOM_ARGS(at), i);
    pb__dnode *child;
    int rc = pb__dict_kid(c->d, node, b, i, &child);
    if (rc != PB_OK) return rc;
    if (child->level + 1 != node->level)
      return PB__CORRUPT(PB__ATOM_FMT " (dict node): child %zu is at level "
                         "%u under level %u", PB__ATOM_ARGS(k->ptr), i,
                         child->level, node->level);
    pb__dbounds kb;
    pb__dict_kid_bounds(node, b, i, &kb);
    uint64_t t;
    if ((rc = check_node(c, child, k->ptr, &kb, false, &t)) != PB_OK)
      return rc;
    if (t != k->count)
      return PB__CORRUPT(PB__ATOM_FMT " (dict node): holds %" PRIu64
                         " keys, its parent says %" PRIu64,
                         PB__ATOM_ARGS(k->ptr), t, k->count);
  }
  return PB_OK;
}

/* Recursion bounded by the level, which falls by one per call. */
static int check_node(check_ctx *c, pb__dnode *node, pb_atom_ptr at,
                      const pb__dbounds *b, bool root, uint64_t *total) {
  assert(node->level < PB__COLL_MAX_DEPTH);
  if (!size_ok(c, node, root))
    return PB__CORRUPT(PB__ATOM_FMT " (dict node): %zu entries at level %u",
                       PB__ATOM_ARGS(at), node->n, node->level);
  if ((node->level == 0) != (node->ents != NULL))
    return PB__CORRUPT(PB__ATOM_FMT " (dict node): level %u and entries "
                       "disagree", PB__ATOM_ARGS(at), node->level);
  if (node->level == 0) {
    for (size_t i = 0; i < node->n; i++) {
      pb_str k = node->ents[i].key;
      if (!in_bounds(b, k, false) || pb__dict_check_key(k) != PB_OK)
        return PB__CORRUPT(PB__ATOM_FMT " (dict leaf): key %zu out of bounds "
                           "or invalid", PB__ATOM_ARGS(at), i);
      if (i > 0 && pb__dict_key_cmp(node->ents[i - 1].key, k) >= 0)
        return PB__CORRUPT(PB__ATOM_FMT " (dict leaf): key %zu not ascending",
                           PB__ATOM_ARGS(at), i);
    }
  } else {
    int rc = check_kids(c, node, at, b);
    if (rc != PB_OK) return rc;
  }
  *total = pb__dict_node_total(node);
  return PB_OK;
}

int pb__dict_verify(pb__dict *d, bool strict) {
  int rc = pb__dict_load_root(d);
  if (rc != PB_OK) return rc;
  if (!d->root.node) return PB_OK;
  check_ctx c = {d, strict, pb__dict_fanout(), pb__dict_min_fill()};
  static const pb__dbounds open = {{NULL, 0}, {NULL, 0}, false, false};
  uint64_t total;
  rc = check_node(&c, d->root.node, d->root.ptr, &open, true, &total);
  if (rc != PB_OK)
    return rc;
  return total == d->root.count
             ? PB_OK
             : PB__CORRUPT(PB__ATOM_FMT " (dict root): holds %" PRIu64
                           " keys, the handle says %" PRIu64,
                           PB__ATOM_ARGS(d->root.ptr), total, d->root.count);
}
