/*
 * query/filter.c - the nodes that pass rows through one at a time: Where
 * (keeps the rows whose predicate is TRUE), Select (computed columns),
 * Limit and Offset.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "query/query_int.h"
#include "util/errdetail.h"

static void bputs(pb_buf *out, const char *s) {
  pb_buf_append(out, s, strlen(s));
}

/* --- Where --- */

typedef struct where_state {
  pb_expr *pred;
  bool pushed; /* the scan under it evaluates pred (pb__where_push) */
} where_state;

static int where_next(pb_plan *n, pb_row *row) {
  where_state *s = n->state;
  if (s->pushed)
    return n->kid[0]->ops->next(n->kid[0], row);
  for (;;) {
    int rc = n->kid[0]->ops->next(n->kid[0], row);
    if (rc != PB_OK)
      return rc;
    pb_qval v;
    if ((rc = pb__expr_eval(s->pred, row, &v)) != PB_OK)
      return rc;
    if (v.type == PB_QBOOL && v.as.b)
      return PB_OK;
  }
}

static void where_free(pb_plan *n) {
  where_state *s = n->state;
  if (s)
    pb_expr_free(s->pred);
  free(s);
  n->state = NULL;
}

static void where_explain(const pb_plan *n, pb_buf *out) {
  const where_state *s = n->state;
  pb__expr_print(s->pred, &n->kid[0]->shape, out);
  if (s->pushed)
    bputs(out, ", in the scan on encoded rows");
}

static const pb__qnode_ops where_ops = {"Where", NULL, where_next,
                                        where_free, where_explain};

int pb_plan_where(pb_plan **p, pb_expr *pred) {
  if (!p || !*p) {
    pb_expr_free(pred);
    return PB_EINVAL;
  }
  if (!pred)
    return PB_ENOMEM;
  int rc = pb__expr_check(pred, &(*p)->shape, "Where", true);
  if (rc != PB_OK) {
    pb_expr_free(pred);
    return rc;
  }
  pb_plan *n = pb__plan_wrap(&where_ops, *p);
  where_state *s = calloc(1, sizeof *s);
  if (!n || !s || pb__qshape_concat(&n->shape, &(*p)->shape, NULL)) {
    free(n);
    free(s);
    pb_expr_free(pred);
    return PB_ENOMEM;
  }
  s->pred = pred;
  n->state = s;
  *p = n;
  return PB_OK;
}

pb_expr *pb__where_pred(pb_plan *n) {
  if (!n || n->ops != &where_ops)
    return NULL;
  return ((where_state *)n->state)->pred;
}

bool pb__where_pushed(const pb_plan *n) {
  return n && n->ops == &where_ops && ((where_state *)n->state)->pushed;
}

int pb__where_push(pb_plan *n) {
  if (!n || n->ops != &where_ops || n->opened)
    return PB_OK;
  where_state *s = n->state;
  if (s->pushed)
    return PB_OK;
  bool pushed = false;
  int rc = pb__scan_push(n->kid[0], s->pred, &pushed);
  if (rc == PB_OK)
    s->pushed = pushed;
  return rc;
}

/* --- Select --- */

typedef struct select_state {
  pb_expr **exprs;
  size_t n;
  pb_qval *cols;
} select_state;

static int select_next(pb_plan *n, pb_row *row) {
  select_state *s = n->state;
  pb_row in;
  memset(&in, 0, sizeof in);
  int rc = n->kid[0]->ops->next(n->kid[0], &in);
  if (rc != PB_OK)
    return rc;
  for (size_t i = 0; i < s->n; i++)
    if ((rc = pb__expr_eval(s->exprs[i], &in, &s->cols[i])) != PB_OK)
      return rc;
  memset(row, 0, sizeof *row);
  row->cols = s->cols;
  row->n_cols = s->n;
  return PB_OK;
}

static void select_free(pb_plan *n) {
  select_state *s = n->state;
  if (!s)
    return;
  for (size_t i = 0; i < s->n; i++)
    pb_expr_free(s->exprs[i]);
  free(s->exprs);
  free(s->cols);
  free(s);
  n->state = NULL;
}

static void select_explain(const pb_plan *n, pb_buf *out) {
  const select_state *s = n->state;
  for (size_t i = 0; i < s->n; i++) {
    if (i)
      bputs(out, ", ");
    pb__expr_print(s->exprs[i], &n->kid[0]->shape, out);
  }
}

static const pb__qnode_ops select_ops = {"Select", NULL, select_next,
                                         select_free, select_explain};

static void free_exprs(pb_expr *const *exprs, size_t n) {
  for (size_t i = 0; exprs && i < n; i++)
    pb_expr_free(exprs[i]);
}

int pb_plan_select(pb_plan **p, pb_expr *const *exprs, size_t n) {
  if (!p || !*p || !exprs || n == 0) {
    free_exprs(exprs, n);
    if (p && *p && exprs && n == 0)
      pb__errdetail_set("Select: no column");
    return PB_EINVAL;
  }
  for (size_t i = 0; i < n; i++) {
    if (!exprs[i]) {
      free_exprs(exprs, n);
      return PB_ENOMEM;
    }
  }
  char node[48];
  for (size_t i = 0; i < n; i++) {
    snprintf(node, sizeof node, "Select column %zu", i);
    int rc = pb__expr_check(exprs[i], &(*p)->shape, node, false);
    if (rc != PB_OK) {
      free_exprs(exprs, n);
      return rc;
    }
  }
  pb_plan *nd = pb__plan_wrap(&select_ops, *p);
  select_state *s = calloc(1, sizeof *s);
  pb_expr **es = malloc(n * sizeof *es);
  pb_qval *cols = calloc(n, sizeof *cols);
  pb_qtype *types = malloc(n * sizeof *types);
  if (!nd || !s || !es || !cols || !types) {
    free(nd);
    free(s);
    free(es);
    free(cols);
    free(types);
    free_exprs(exprs, n);
    return PB_ENOMEM;
  }
  for (size_t i = 0; i < n; i++) {
    es[i] = exprs[i];
    types[i] = exprs[i]->type;
  }
  s->exprs = es;
  s->n = n;
  s->cols = cols;
  nd->state = s;
  nd->shape.n_cols = n;
  nd->shape.col_types = types;
  *p = nd;
  return PB_OK;
}

/* --- Limit and Offset --- */

typedef struct count_state {
  uint64_t n;    /* the limit, or the rows to skip */
  uint64_t seen; /* rows given (Limit) or skipped (Offset) */
} count_state;

static int limit_next(pb_plan *n, pb_row *row) {
  count_state *s = n->state;
  if (s->seen >= s->n)
    return PB_ENOTFOUND; /* without pulling the input further */
  int rc = n->kid[0]->ops->next(n->kid[0], row);
  if (rc == PB_OK)
    s->seen++;
  return rc;
}

static int offset_next(pb_plan *n, pb_row *row) {
  count_state *s = n->state;
  while (s->seen < s->n) {
    int rc = n->kid[0]->ops->next(n->kid[0], row);
    if (rc != PB_OK)
      return rc;
    s->seen++;
  }
  return n->kid[0]->ops->next(n->kid[0], row);
}

static void count_free(pb_plan *n) {
  free(n->state);
  n->state = NULL;
}

static void count_explain(const pb_plan *n, pb_buf *out) {
  const count_state *s = n->state;
  char tmp[32];
  snprintf(tmp, sizeof tmp, "%llu", (unsigned long long)s->n);
  bputs(out, tmp);
}

static const pb__qnode_ops limit_ops = {"Limit", NULL, limit_next,
                                        count_free, count_explain};
static const pb__qnode_ops offset_ops = {"Offset", NULL, offset_next,
                                         count_free, count_explain};

static int count_node(pb_plan **p, const pb__qnode_ops *ops, uint64_t n) {
  if (!p || !*p)
    return PB_EINVAL;
  pb_plan *nd = pb__plan_wrap(ops, *p);
  count_state *s = calloc(1, sizeof *s);
  if (!nd || !s || pb__qshape_concat(&nd->shape, &(*p)->shape, NULL)) {
    free(nd);
    free(s);
    return PB_ENOMEM;
  }
  s->n = n;
  nd->state = s;
  *p = nd;
  return PB_OK;
}

int pb_plan_limit(pb_plan **p, uint64_t n) {
  return count_node(p, &limit_ops, n);
}

int pb_plan_offset(pb_plan **p, uint64_t n) {
  return count_node(p, &offset_ops, n);
}

/* Limit: its count (the optimizer pushes it into an OrderBy below);
 * false for any other node. */
bool pb__limit_count(const pb_plan *n, uint64_t *count) {
  if (!n || n->ops != &limit_ops)
    return false;
  *count = ((const count_state *)n->state)->n;
  return true;
}

/* Offset: its count (q-opt: a Limit over it and an OrderBy makes a top-N
 * of both); false for any other node. */
bool pb__offset_count(const pb_plan *n, uint64_t *count) {
  if (!n || n->ops != &offset_ops)
    return false;
  *count = ((const count_state *)n->state)->n;
  return true;
}
