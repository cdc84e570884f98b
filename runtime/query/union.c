/*
 * query/union.c - Union: the rows of several scans of one table, each row
 * once.  The optimizer (optimize.c) makes one for a Where whose OR has a
 * path in every branch, and for an IN on an indexed field.
 *
 * The scans are in GROUPS: group g stands for the predicate preds[g] (a
 * disjunct of the OR; NULL: none, the scans' ranges are exact), and its
 * scans have disjoint ranges (one per value of an IN).  A row that scan s
 * of group g gives is passed on only when preds[g] is TRUE on it (or
 * NULL), and no earlier group's predicate is TRUE on it: a row that
 * several disjuncts select is given by the first of them, once, and no
 * memory is kept of the rows given (no set of primary keys to grow).
 * Order: the scans one after another (no order: an OrderBy above stays).
 *
 * The scans are not kids (a node has two); the Union opens, pulls, frees
 * and explains them itself.
 */
#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "query/query_int.h"

typedef struct union_state {
  pb_plan **scans;  /* n scans, owned */
  unsigned *groups; /* each scan's group */
  size_t n;
  pb_expr **preds;  /* n_groups predicates, owned (NULL: none) */
  size_t n_groups;
  size_t cur;       /* the scan being read */
} union_state;

static int union_open(pb_plan *n) {
  union_state *u = n->state;
  for (size_t i = 0; i < u->n; i++) {
    pb_plan *s = u->scans[i];
    if (s->opened) continue;
    s->memory = n->memory;
    if (s->ops->open) {
      int rc = s->ops->open(s);
      if (rc != PB_OK) return rc;
    }
    s->opened = true;
  }
  return PB_OK;
}

/* Whether predicate p is TRUE on row. */
static int is_true(const pb_expr *p, const pb_row *row, bool *out) {
  pb_qval v;
  int rc = pb__expr_eval(p, row, &v);
  if (rc != PB_OK) return rc;
  *out = v.type == PB_QBOOL && v.as.b;
  return PB_OK;
}

static int union_next(pb_plan *n, pb_row *row) {
  union_state *u = n->state;
  while (u->cur < u->n) {
    pb_plan *s = u->scans[u->cur];
    int rc = s->ops->next(s, row);
    if (rc == PB_ENOTFOUND) {
      u->cur++;
      continue;
    }
    if (rc != PB_OK) return rc;
    unsigned g = u->groups[u->cur];
    bool keep = true, t;
    if (u->preds[g]) {
      rc = is_true(u->preds[g], row, &keep);
      if (rc != PB_OK) return rc;
    }
    for (unsigned h = 0; h < g && keep; h++) {
      if (!u->preds[h]) continue;
      rc = is_true(u->preds[h], row, &t);
      if (rc != PB_OK) return rc;
      keep = !t; /* an earlier group gave it */
    }
    if (keep) return PB_OK;
  }
  return PB_ENOTFOUND;
}

static void union_state_free(union_state *u) {
  if (!u) return;
  for (size_t i = 0; i < u->n; i++) pb__plan_node_free(u->scans[i]);
  for (size_t i = 0; i < u->n_groups; i++) pb_expr_free(u->preds[i]);
  free(u->scans);
  free(u->groups);
  free(u->preds);
  free(u);
}

static void union_free(pb_plan *n) {
  union_state_free(n->state);
  n->state = NULL;
}

static void put_str(pb_buf *out, const char *s) {
  pb_buf_append(out, s, strlen(s));
}

static void union_explain(const pb_plan *n, pb_buf *out) {
  const union_state *u = n->state;
  char num[64];
  snprintf(num, sizeof num, "of %zu scans [", u->n);
  put_str(out, num);
  for (size_t i = 0; i < u->n; i++) {
    const pb_plan *s = u->scans[i];
    if (i) put_str(out, "; ");
    put_str(out, s->ops->kind);
    if (s->ops->explain) {
      put_str(out, " ");
      s->ops->explain(s, out);
    }
    if (s->est >= 0) {
      snprintf(num, sizeof num, " (est %.0f rows)", s->est);
      put_str(out, num);
    }
  }
  put_str(out, "]");
}

static const pb__qnode_ops union_ops = {
    .kind = "Union",
    .open = union_open,
    .next = union_next,
    .free = union_free,
    .explain = union_explain,
};

int pb__union_node(pb_txn *txn, const pb__qshape *shape, pb_plan **scans,
                   const unsigned *groups, size_t n, pb_expr **preds,
                   size_t n_groups, pb_plan **out) {
  assert(n > 0 && n_groups > 0);
  union_state *u = calloc(1, sizeof *u);
  pb_plan *node = NULL;
  int rc = PB_ENOMEM;
  if (!u) goto fail;
  u->scans = malloc(n * sizeof *u->scans);
  u->groups = malloc(n * sizeof *u->groups);
  u->preds = malloc(n_groups * sizeof *u->preds);
  if (!u->scans || !u->groups || !u->preds) goto fail;
  memcpy(u->scans, scans, n * sizeof *scans);
  memcpy(u->groups, groups, n * sizeof *groups);
  memcpy(u->preds, preds, n_groups * sizeof *preds);
  u->n = n;
  u->n_groups = n_groups;
  for (size_t i = 0; i < n; i++) assert(groups[i] < n_groups);
  node = pb__plan_node(&union_ops, txn);
  if (!node) goto fail_owned;
  rc = pb__qshape_concat(&node->shape, shape, NULL);
  if (rc != PB_OK) goto fail_owned;
  node->state = u;
  *out = node;
  return PB_OK;
fail:
  if (u) {
    free(u->scans);
    free(u->groups);
    free(u->preds);
    free(u);
  }
  for (size_t i = 0; i < n; i++) pb__plan_node_free(scans[i]);
  for (size_t i = 0; i < n_groups; i++) pb_expr_free(preds[i]);
  return rc;
fail_owned:
  union_state_free(u);
  pb__plan_node_free(node);
  return rc;
}
