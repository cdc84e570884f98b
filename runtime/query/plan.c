/*
 * query/plan.c - the life of a plan (protobase/query.h): nodes, the first
 * pb_plan_next (optimize once, open every node bottom-up), pulling rows,
 * sticky errors, the memory budget, explain's walk and freeing.
 */
#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "query/query_int.h"
#include "util/errdetail.h"

pb_plan *pb__plan_node(const pb__qnode_ops *ops, pb_txn *txn) {
  pb_plan *n = calloc(1, sizeof *n);
  if (!n)
    return NULL;
  n->ops = ops;
  n->txn = txn;
  n->est = -1;
  n->memory = PB_PLAN_MEMORY_DEFAULT;
  return n;
}

pb_plan *pb__plan_wrap(const pb__qnode_ops *ops, pb_plan *kid) {
  pb_plan *n = pb__plan_node(ops, kid->txn);
  if (n) {
    n->kid[0] = kid;
    n->memory = kid->memory;
  }
  return n;
}

void pb__plan_node_free(pb_plan *n) {
  if (!n)
    return;
  if (n->ops && n->ops->free)
    n->ops->free(n);
  pb__plan_node_free(n->kid[0]);
  pb__plan_node_free(n->kid[1]);
  pb__qshape_free(&n->shape);
  free(n);
}

/* Opens the tree under n, kids first; the budget is copied down. */
static int open_tree(pb_plan *n) {
  for (int i = 0; i < 2; i++) {
    if (!n->kid[i])
      continue;
    n->kid[i]->memory = n->memory;
    int rc = open_tree(n->kid[i]);
    if (rc != PB_OK)
      return rc;
  }
  if (n->opened)
    return PB_OK;
  n->opened = true;
  return n->ops->open ? n->ops->open(n) : PB_OK;
}

/* Optimizes the tree once.  The optimizer may swap the root's contents
 * with another node's (query_int.h), so the flag is set again after it. */
static int optimize(pb_plan *p) {
  if (p->optimized)
    return PB_OK;
  p->optimized = true;
  int rc = pb__plan_optimize(p);
  p->optimized = true;
  return rc;
}

int pb_plan_next(pb_plan *p, pb_row *row) {
  if (!p || !row)
    return PB_EINVAL;
  memset(row, 0, sizeof *row);
  if (p->err)
    return p->err;
  int rc = optimize(p);
  if (rc == PB_OK && !p->opened)
    rc = open_tree(p);
  assert(rc != PB_OK || (p->opened && p->ops && p->ops->next));
  if (rc == PB_OK)
    rc = p->ops->next(p, row);
  if (rc != PB_OK) {
    memset(row, 0, sizeof *row);
    p->err = rc; /* PB_ENOTFOUND too: the end stays the end */
  }
  return rc;
}

int pb_plan_set_memory(pb_plan *p, size_t bytes) {
  if (!p || bytes == 0 || p->optimized)
    return PB_EINVAL;
  p->memory = bytes;
  return PB_OK;
}

static void explain_node(const pb_plan *n, int depth, pb_buf *out) {
  for (int i = 0; i < depth; i++)
    pb_buf_append(out, "  ", 2);
  const char *kind = n->ops && n->ops->kind ? n->ops->kind : "?";
  pb_buf_append(out, kind, strlen(kind));
  if (n->ops && n->ops->explain) {
    pb_buf_append(out, " ", 1);
    n->ops->explain(n, out);
  }
  char est[64];
  if (n->est >= 0)
    snprintf(est, sizeof est, " (est %.0f rows)\n", n->est);
  else
    snprintf(est, sizeof est, " (est ? rows)\n");
  pb_buf_append(out, est, strlen(est));
  for (int i = 0; i < 2; i++)
    if (n->kid[i])
      explain_node(n->kid[i], depth + 1, out);
}

int pb_plan_explain(pb_plan *p, pb_buf *out) {
  if (!p || !out)
    return PB_EINVAL;
  if (p->err && p->err != PB_ENOTFOUND)
    return p->err;
  int rc = optimize(p);
  if (rc != PB_OK) {
    p->err = rc;
    return rc;
  }
  explain_node(p, 0, out);
  return pb_buf_error(out) == PB_OK ? PB_OK : PB_ENOMEM;
}

void pb_plan_free(pb_plan *p) { pb__plan_node_free(p); }
