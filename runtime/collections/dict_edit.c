/*
 * collections/dict_edit.c - put and remove on the Dictionary's B+tree.
 *
 * An edit changes one leaf (an entry in or out), then fixes the path from
 * that leaf up to the root, one level at a time, with one rule for every
 * node on the path (F = the fanout, min = ceil(F / 2)):
 *
 *   empty           the node goes: its slot leaves the parent;
 *   below min       it is concatenated with a sibling (the left one, or
 *                   the right one for a first child), and the result is
 *                   split again if it holds more than F (a borrow);
 *   more than F     it is split into ceil(n / F) nodes of near-equal size
 *                   (each between min and F);
 *
 * and at the root: a root over F grows a level (as often as needed); a
 * branch root with one loaded child gives way to that child; an empty root
 * leaves an empty dictionary.  On trees this code built only "empty" never
 * happens below the root and splits make two nodes; the general rule lets
 * a tree written with another fanout (coll.h) be edited with this one.
 *
 * No half-applied edits: every edit is PLANNED first, which is the only
 * step that can fail (loading a sibling, growing node arrays, allocating
 * the new nodes into a pool, copying the key and value into the arena),
 * then APPLIED, which cannot fail.  The plan simulates the apply's sizes
 * level by level, and the apply takes new nodes from the pool in the
 * order the plan put them there.
 */
#include <assert.h>
#include <stdlib.h>
#include <string.h>

#include "atom/value.h"
#include "collections/dict_int.h"

/* --- keys and copies --- */

int pb__dict_check_key(pb_str key) {
  if (key.len > PB__DICT_KEY_MAX) return PB_ETOOBIG;
  if (key.len > 0 && !key.ptr) return PB_EINVAL;
  if (!pb_utf8_valid(key.ptr, key.len)) return PB_EINVAL;
  return PB_OK;
}

/* The payload bytes a value points to (none for most kinds). */
static pb_bytes value_payload(const pb_value *v) {
  switch (v->kind) {
    case PB_VALUE_STRING:
      return (pb_bytes){(const uint8_t *)v->as.s.ptr, v->as.s.len};
    case PB_VALUE_BYTES:
      return v->as.bytes;
    case PB_VALUE_RECORD:
      return v->as.rec.body;
    default:
      return (pb_bytes){NULL, 0};
  }
}

/* Points v's payload at `at` (len unchanged; NULL when it is empty). */
static void value_repoint(pb_value *v, const uint8_t *at) {
  if (v->kind == PB_VALUE_STRING)
    v->as.s.ptr = v->as.s.len ? (const char *)at : NULL;
  else if (v->kind == PB_VALUE_BYTES)
    v->as.bytes.ptr = v->as.bytes.len ? at : NULL;
  else if (v->kind == PB_VALUE_RECORD)
    v->as.rec.body.ptr = v->as.rec.body.len ? at : NULL;
}

int pb__dict_copy_entry(pb__dict *d, pb_str key, const pb_value *v,
                        pb__dent *out) {
  int rc = pb__dict_check_key(key);
  if (rc != PB_OK) return rc;
  if (!pb__value_valid(v)) return PB_EINVAL;
  pb_bytes pay = value_payload(v);
  if (pay.len > SIZE_MAX - key.len) return PB_ENOMEM;
  uint8_t *mem = NULL;
  if (key.len + pay.len > 0) {
    mem = pb_arena_alloc(d->arena, key.len + pay.len);
    if (!mem) return PB_ENOMEM;
    if (key.len) memcpy(mem, key.ptr, key.len);
    if (pay.len) memcpy(mem + key.len, pay.ptr, pay.len);
  }
  out->key = (pb_str){key.len ? (const char *)mem : NULL, key.len};
  out->val = *v;
  value_repoint(&out->val, mem ? mem + key.len : NULL); /* no NULL + 0 */
  return PB_OK;
}

/* --- the path --- */

void pb__dict_path_bounds(pb__dpath *p, size_t l) {
  assert(l < p->depth);
  for (; p->nbounds <= l; p->nbounds++) {
    size_t k = p->nbounds - 1;
    pb__dict_kid_bounds(p->node[k], &p->bounds[k], p->idx[k],
                        &p->bounds[k + 1]);
  }
}

int pb__dict_descend(pb__dict *d, pb_str key, bool write, pb__dpath *p) {
  return pb__dict_descend_to(d, key, write, 0, p);
}

int pb__dict_descend_to(pb__dict *d, pb_str key, bool write, unsigned stop,
                        pb__dpath *p) {
  static const pb__dbounds open = {{NULL, 0}, {NULL, 0}, false, false};
  assert(d->root.node && d->root.node->level >= stop);
  int rc = write ? pb__dict_own_root(d) : PB_OK;
  if (rc != PB_OK) return rc;
  pb__dnode *node = d->root.node;
  p->depth = 0;
  p->found = false;
  p->bounds[0] = open;
  p->nbounds = 1;
  for (;;) {
    size_t l = p->depth++;
    p->node[l] = node;
    if (node->level == 0) {
      p->idx[l] = pb__dict_leaf_search(node, key, &p->found);
      return PB_OK;
    }
    /* Levels fall by one per step and start below PB__COLL_MAX_DEPTH. */
    assert(p->depth < PB__COLL_MAX_DEPTH);
    size_t i = pb__dict_kid_search(node, key);
    p->idx[l] = i;
    if (node->level == stop) return PB_OK; /* the child to take is idx[l] */
    pb__dnode *child = write ? NULL : pb__dict_linked_kid(d, node, i);
    if (!child) { /* a load or a private slot: it needs the bounds */
      pb__dict_path_bounds(p, l);
      rc = write ? pb__dict_own_kid(d, node, &p->bounds[l], i, &child)
                 : pb__dict_kid(d, node, &p->bounds[l], i, &child);
      if (rc != PB_OK) return rc;
      pb__dict_kid_bounds(node, &p->bounds[l], i, &p->bounds[l + 1]);
      p->nbounds = l + 2;
    }
    node = child;
  }
}

/* Makes the path `p` for `key`, found by a descent without `write`,
 * editable: descends again with `write` (copying the shared nodes on it)
 * unless every node on it is private already.  Put and remove first
 * descend without copying, so an edit that changes nothing (a remove of
 * an absent key, a put of the value already there) copies nothing. */
static int descend_for_edit(pb__dict *d, pb_str key, pb__dpath *p) {
  for (size_t l = 0; l < p->depth; l++)
    if (p->node[l]->shared || p->node[l]->pfx)
      return pb__dict_descend(d, key, true, p);
  /* Every node on the path is private and editable (so no link was
   * followed, and every bound is set). */
  assert(p->nbounds == p->depth);
  return PB_OK;
}

/* Clears the pointers from the root down to the path's leaf. */
static void dirty_path(pb__dict *d, const pb__dpath *p) {
  for (size_t l = 0; l + 1 < p->depth; l++)
    p->node[l]->kids[p->idx[l]].ptr = (pb_atom_ptr){0, 0, 0};
  d->root.ptr = (pb_atom_ptr){0, 0, 0};
  d->dirty = true;
}

/* --- the plan --- */

typedef enum step_kind {
  STEP_KEEP,  /* the node stays one node (only its count changes) */
  STEP_DROP,  /* the node is empty and leaves its parent */
  STEP_MERGE, /* concatenated with sibling `sib`, then split if pieces > 1 */
  STEP_SPLIT  /* split into `pieces` nodes */
} step_kind;

typedef struct step {
  step_kind kind; /* what happens to path node l */
  size_t sib;     /* STEP_MERGE: the sibling's index in the parent */
  size_t pieces;  /* nodes it becomes (after a merge) */
} step;

typedef struct plan {
  step steps[PB__COLL_MAX_DEPTH]; /* per path level; [0] (root) unused */
  pb__dnode **pool;               /* new nodes, in the order apply takes */
  size_t npool, cap;              /* pool size and room */
  size_t taken;                   /* nodes apply took so far */
} plan;

static size_t pieces_for(size_t n) {
  size_t f = pb__dict_fanout();
  return n <= f ? 1 : (n + f - 1) / f;
}

static int pool_add(plan *pl, unsigned level, size_t cap) {
  if (pl->npool == pl->cap) {
    size_t c = pl->cap ? 2 * pl->cap : 8;
    pb__dnode **p = realloc(pl->pool, c * sizeof *p);
    if (!p) return PB_ENOMEM;
    pl->pool = p;
    pl->cap = c;
  }
  pb__dnode *node = pb__dnode_new(level, cap);
  if (!node) return PB_ENOMEM;
  pl->pool[pl->npool++] = node;
  return PB_OK;
}

static pb__dnode *pool_take(plan *pl, unsigned level) {
  assert(pl->taken < pl->npool);
  pb__dnode *node = pl->pool[pl->taken++];
  assert(node->level == level);
  (void)level;
  return node;
}

/* Frees what apply did not take (everything, when the plan failed). */
static void plan_free(plan *pl) {
  for (size_t i = pl->taken; i < pl->npool; i++) pb__dnode_free(pl->pool[i]);
  free(pl->pool);
}

/* Plans path level l >= 1, whose node will hold `size` items; gives the
 * size of its parent afterwards. */
static int plan_level(pb__dict *d, const pb__dpath *p, size_t l, size_t size,
                      plan *pl, size_t *parent_size) {
  pb__dnode *node = p->node[l], *parent = p->node[l - 1];
  size_t at = p->idx[l - 1], f = pb__dict_fanout();
  step *s = &pl->steps[l];
  *s = (step){STEP_KEEP, 0, 1};
  int rc = pb__dnode_reserve(node, size);
  if (rc != PB_OK) return rc;
  if (size == 0) {
    s->kind = STEP_DROP;
    *parent_size = parent->n - 1;
    return PB_OK;
  }
  size_t total = size, shells = 0;
  if (size < pb__dict_min_fill() && parent->n > 1) {
    s->kind = STEP_MERGE;
    s->sib = at > 0 ? at - 1 : at + 1;
    pb__dnode *sib;
    rc = pb__dict_own_kid(d, parent, &p->bounds[l - 1], s->sib, &sib);
    if (rc != PB_OK) return rc;
    pb__dnode *left = s->sib < at ? sib : node;
    pb__dnode *right = s->sib < at ? node : sib;
    total = size + sib->n;
    shells = 1; /* the right node, emptied by the merge, is reused */
    if ((rc = pb__dnode_reserve(left, total)) != PB_OK) return rc;
    if (total > f && (rc = pb__dnode_reserve(right, f)) != PB_OK) return rc;
  }
  s->pieces = pieces_for(total);
  if (s->kind == STEP_KEEP && s->pieces > 1) s->kind = STEP_SPLIT;
  for (size_t j = 1 + shells; j < s->pieces; j++)
    if ((rc = pool_add(pl, node->level, f)) != PB_OK) return rc;
  *parent_size = parent->n - shells + (s->pieces - 1);
  return PB_OK;
}

/* Plans the whole path, given the leaf's size after the edit. */
static int plan_edit(pb__dict *d, const pb__dpath *p, size_t size,
                     plan *pl) {
  memset(pl, 0, sizeof *pl);
  int rc;
  for (size_t l = p->depth - 1; l > 0; l--)
    if ((rc = plan_level(d, p, l, size, pl, &size)) != PB_OK) return rc;
  pb__dnode *root = p->node[0];
  if ((rc = pb__dnode_reserve(root, size)) != PB_OK) return rc;
  unsigned level = root->level;
  size_t f = pb__dict_fanout();
  while (size > f) { /* the root splits: a new level above it */
    size_t k = pieces_for(size);
    if (level + 1 >= PB__COLL_MAX_DEPTH) return PB_ETOOBIG;
    if ((rc = pool_add(pl, level + 1, k)) != PB_OK) return rc;
    for (size_t j = 1; j < k; j++)
      if ((rc = pool_add(pl, level, f)) != PB_OK) return rc;
    size = k;
    level++;
  }
  return PB_OK;
}

/* --- the apply (cannot fail) --- */

static void remove_slot(pb__dnode *parent, size_t i) {
  memmove(&parent->kids[i], &parent->kids[i + 1],
          (parent->n - i - 1) * sizeof *parent->kids);
  parent->n--;
}

/* Refreshes slot i of `parent` after its node changed. */
static void touch_slot(pb__dnode *parent, size_t i) {
  pb__dkid *k = &parent->kids[i];
  k->count = pb__dict_node_total(k->node);
  k->ptr = (pb_atom_ptr){0, 0, 0};
}

/* Moves the items of child j + 1 to the end of child j and removes slot
 * j + 1; gives the emptied right node. */
static pb__dnode *merge_pair(pb__dnode *parent, size_t j) {
  pb__dnode *left = parent->kids[j].node, *right = parent->kids[j + 1].node;
  assert(left->level == right->level);
  assert(left->cap >= left->n + right->n);
  if (left->level == 0) {
    memcpy(&left->ents[left->n], right->ents, right->n * sizeof *right->ents);
  } else {
    /* The parent's separator comes down as the right node's first. */
    right->kids[0].key = parent->kids[j + 1].key;
    memcpy(&left->kids[left->n], right->kids, right->n * sizeof *right->kids);
  }
  left->n += right->n;
  right->n = 0;
  remove_slot(parent, j + 1);
  touch_slot(parent, j);
  return right;
}

/* The lowest key a piece may hold, for its slot: a leaf's first key, or a
 * branch's first separator (which moves up and leaves the piece). */
static pb_str take_separator(pb__dnode *piece) {
  if (piece->level == 0) return piece->ents[0].key;
  pb_str s = piece->kids[0].key;
  piece->kids[0].key = (pb_str){NULL, 0};
  return s;
}

/* Splits child `at` of `parent` into k pieces: the child keeps the first,
 * `spare` (if not NULL) and then pool nodes take the others, and their
 * slots follow the child's. */
static void split_kid(pb__dnode *parent, size_t at, size_t k,
                      pb__dnode *spare, plan *pl) {
  pb__dnode *x = parent->kids[at].node;
  size_t n = x->n, item = x->level == 0 ? sizeof(pb__dent) : sizeof(pb__dkid);
  assert(parent->cap >= parent->n + k - 1);
  memmove(&parent->kids[at + k], &parent->kids[at + 1],
          (parent->n - at - 1) * sizeof *parent->kids);
  parent->n += k - 1;
  for (size_t i = 1; i < k; i++) {
    size_t from = n * i / k, to = n * (i + 1) / k;
    pb__dnode *piece = spare ? spare : pool_take(pl, x->level);
    spare = NULL;
    assert(piece->cap >= to - from && piece->n == 0);
    char *src = x->level == 0 ? (char *)x->ents : (char *)x->kids;
    char *dst = x->level == 0 ? (char *)piece->ents : (char *)piece->kids;
    memcpy(dst, src + from * item, (to - from) * item);
    piece->n = to - from;
    parent->kids[at + i] = (pb__dkid){take_separator(piece), 0, {0, 0, 0},
                                      piece};
    touch_slot(parent, at + i);
  }
  x->n = n / k;
  touch_slot(parent, at);
}

/* Applies the plan to path level l >= 1. */
static void apply_level(const pb__dpath *p, size_t l, plan *pl) {
  const step *s = &pl->steps[l];
  pb__dnode *parent = p->node[l - 1];
  size_t at = p->idx[l - 1];
  if (s->kind == STEP_DROP) {
    pb__dnode_free(parent->kids[at].node);
    remove_slot(parent, at);
    return;
  }
  pb__dnode *spare = NULL;
  if (s->kind == STEP_MERGE) {
    at = s->sib < at ? s->sib : at;
    spare = merge_pair(parent, at);
  }
  if (s->pieces > 1) {
    split_kid(parent, at, s->pieces, spare, pl);
  } else {
    pb__dnode_free(spare);
    touch_slot(parent, at);
  }
}

/* Grows the root while it is over the fanout; then shrinks it while it is
 * a branch with one loaded child; then drops it if it is empty. */
static void apply_root(pb__dict *d, plan *pl) {
  pb__dnode *root = d->root.node;
  size_t f = pb__dict_fanout();
  d->root.ptr = (pb_atom_ptr){0, 0, 0};
  while (root->n > f) {
    pb__dnode *top = pool_take(pl, root->level + 1);
    top->kids[0] = (pb__dkid){{NULL, 0}, 0, {0, 0, 0}, root};
    top->n = 1;
    split_kid(top, 0, pieces_for(root->n), NULL, pl);
    root = top;
  }
  while (root->level > 0 && root->n == 1 && root->kids[0].node) {
    pb__dnode *child = root->kids[0].node;
    d->root.ptr = root->kids[0].ptr;
    root->n = 0;
    pb__dnode_free(root);
    root = child;
  }
  if (root->n == 0) {
    pb__dnode_free(root);
    root = NULL;
    d->root.ptr = (pb_atom_ptr){0, 0, 0};
  }
  d->root.node = root;
}

static void apply_edit(pb__dict *d, const pb__dpath *p, plan *pl) {
  for (size_t l = p->depth - 1; l > 0; l--) apply_level(p, l, pl);
  apply_root(d, pl);
  assert(pl->taken == pl->npool);
  d->dirty = true;
}

/* --- put and remove --- */

/* The first entry of an empty dictionary: a root leaf. */
static int put_first(pb__dict *d, const pb__dent *e) {
  pb__dnode *leaf = pb__dnode_new(0, pb__dict_fanout());
  if (!leaf) return PB_ENOMEM;
  leaf->ents[0] = *e;
  leaf->n = 1;
  d->root = (pb__dkid){{NULL, 0}, 1, {0, 0, 0}, leaf};
  d->dirty = true;
  return PB_OK;
}

int pb__dict_put(pb__dict *d, pb_str key, const pb_value *v) {
  if (!d || !v) return PB_EINVAL;
  int rc = pb__dict_check_key(key);
  if (rc != PB_OK) return rc;
  if (!pb__value_valid(v)) return PB_EINVAL;
  if ((rc = pb__dict_load_root(d)) != PB_OK) return rc;
  pb__dent e;
  if (!d->root.node) {
    if ((rc = pb__dict_copy_entry(d, key, v, &e)) != PB_OK) return rc;
    return put_first(d, &e);
  }
  pb__dpath p;
  if ((rc = pb__dict_descend(d, key, false, &p)) != PB_OK) return rc;
  if (p.found && pb__value_equal(&p.node[p.depth - 1]->ents[p.idx[p.depth -
                                                                  1]].val,
                                 v))
    return PB_OK; /* nothing changes: nothing copied */
  if ((rc = descend_for_edit(d, key, &p)) != PB_OK) return rc;
  pb__dnode *leaf = p.node[p.depth - 1];
  size_t pos = p.idx[p.depth - 1];
  pb_str copy_key = p.found ? (pb_str){NULL, 0} : key; /* keep the old */
  if ((rc = pb__dict_copy_entry(d, copy_key, v, &e)) != PB_OK) return rc;
  if (p.found) {
    leaf->ents[pos].val = e.val;
    dirty_path(d, &p);
    return PB_OK;
  }
  plan pl;
  rc = plan_edit(d, &p, leaf->n + 1, &pl);
  if (rc == PB_OK) {
    memmove(&leaf->ents[pos + 1], &leaf->ents[pos],
            (leaf->n - pos) * sizeof *leaf->ents);
    leaf->ents[pos] = e;
    leaf->n++;
    d->root.count++;
    apply_edit(d, &p, &pl);
  }
  plan_free(&pl);
  return rc;
}

int pb__dict_remove(pb__dict *d, pb_str key) {
  if (!d) return PB_EINVAL;
  int rc = pb__dict_load_root(d);
  if (rc != PB_OK) return rc;
  if (!d->root.node) return PB_ENOTFOUND;
  pb__dpath p;
  if ((rc = pb__dict_descend(d, key, false, &p)) != PB_OK) return rc;
  if (!p.found) return PB_ENOTFOUND; /* nothing changes: nothing copied */
  if ((rc = descend_for_edit(d, key, &p)) != PB_OK) return rc;
  pb__dnode *leaf = p.node[p.depth - 1];
  size_t pos = p.idx[p.depth - 1];
  plan pl;
  rc = plan_edit(d, &p, leaf->n - 1, &pl);
  if (rc == PB_OK) {
    memmove(&leaf->ents[pos], &leaf->ents[pos + 1],
            (leaf->n - pos - 1) * sizeof *leaf->ents);
    leaf->n--;
    d->root.count--;
    apply_edit(d, &p, &pl);
  }
  plan_free(&pl);
  return rc;
}
