/*
 * query/group.c - GroupBy and its aggregates.
 *
 * Hash grouping: at its first next the node reads its whole input; for
 * each row it computes the keys, finds the row's group by the canonical
 * encoding of the key values (pb__qval_canon: 1 and 1.0 meet, NULLs form
 * one group), and folds the aggregates' arguments into the group's state.
 * Then the groups are sorted by their keys (pb__qval_cmp, ascending, NULL
 * first) and given one per next: columns only, the keys then the
 * aggregates.  Having is a Where over those columns (filter.c).
 *
 * The aggregates follow SQL's NULL rules and give what SQLite 3.40 (the
 * library the differential tests compare with) gives:
 *   COUNT(*)  the rows;  COUNT(x) the rows where x is not NULL (INT);
 *   SUM(x)    NULL over no value; integers: an INT, and PB_ERANGE when the
 *             running sum leaves int64 at any step (SQLite's "integer
 *             overflow"; a UINT above INT64_MAX is such a step); FLOAT
 *             values: a FLOAT, summed left to right in double;
 *   AVG(x)    NULL over no value; else a FLOAT: the values summed left to
 *             right in double (integers converted one by one), divided by
 *             their count;
 *   MIN, MAX  NULL over no value; else the least or greatest non-NULL
 *             value, of x's type (the first of equal ones).
 * With no key, the input makes one group even when it is empty: COUNT 0,
 * the others NULL.  With keys, an empty input gives no row.
 *
 * Memory: groups (their key values, their MIN/MAX values copied deep) and
 * the hash table are counted against the plan's budget; past it
 * PB_ENOMEM (a GroupBy does not spill).
 */
#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "query/query_int.h"
#include "util/errdetail.h"

typedef struct agg_state {
  int64_t count; /* values seen (rows for COUNT(*)) */
  int64_t isum;  /* SUM over integers, while it fits */
  double fsum;   /* every value summed in double (AVG; SUM of FLOATs) */
  bool overflow; /* the integer sum left int64 */
  pb_qval best;  /* MIN/MAX so far (STR/BYTES owned); NULL when none */
} agg_state;

typedef struct group {
  pb_qval *keys;   /* n_keys values (STR/BYTES owned) */
  agg_state *aggs; /* n_aggs */
} group;

typedef struct group_state {
  pb_expr **keys;
  size_t n_keys;
  pb_agg *aggs;
  size_t n_aggs;
  pb__rowbuf rb; /* counts groups and the table */
  pb__qhash index; /* canonical keys -> group number */
  group *groups;
  size_t n_groups, cap_groups;
  pb_buf canon;
  pb_qval *kv;   /* a row's key values */
  pb_qval *out;  /* the row given: n_keys + n_aggs values */
  bool loaded;
  size_t pos;
  int err;
} group_state;

static const pb__qnode_ops group_ops;

static bool is_number(pb_qtype t) {
  return t == PB_QINT || t == PB_QUINT || t == PB_QFLOAT || t == PB_QNULL;
}

static const char *agg_name(pb_agg_fn f) {
  switch (f) {
    case PB_AGG_COUNT: return "COUNT";
    case PB_AGG_SUM: return "SUM";
    case PB_AGG_MIN: return "MIN";
    case PB_AGG_MAX: return "MAX";
    case PB_AGG_AVG: return "AVG";
    case PB_AGG_COUNT_ALL: return "COUNT";
  }
  return "?";
}

static const char *type_name(pb_qtype t) {
  switch (t) {
    case PB_QNULL: return "NULL";
    case PB_QBOOL: return "BOOL";
    case PB_QINT: return "INT";
    case PB_QUINT: return "UINT";
    case PB_QFLOAT: return "FLOAT";
    case PB_QSTR: return "STR";
    case PB_QBYTES: return "BYTES";
  }
  return "?";
}

static pb_qtype agg_type(const pb_agg *a) {
  switch (a->fn) {
    case PB_AGG_COUNT:
    case PB_AGG_COUNT_ALL: return PB_QINT;
    case PB_AGG_SUM: return a->arg->type == PB_QFLOAT ? PB_QFLOAT : PB_QINT;
    case PB_AGG_AVG: return PB_QFLOAT;
    case PB_AGG_MIN:
    case PB_AGG_MAX: return a->arg->type;
  }
  return PB_QNULL;
}

static int fold(agg_state *st, const pb_agg *a, const pb_qval *v) {
  if (a->fn == PB_AGG_COUNT_ALL) {
    st->count++;
    return PB_OK;
  }
  if (v->type == PB_QNULL) return PB_OK;
  st->count++;
  switch (a->fn) {
    case PB_AGG_COUNT:
    case PB_AGG_COUNT_ALL:
      return PB_OK;
    case PB_AGG_SUM:
    case PB_AGG_AVG:
      if (v->type == PB_QFLOAT) {
        st->fsum += v->as.f;
      } else if (v->type == PB_QINT) {
        st->fsum += (double)v->as.i;
        if (!st->overflow &&
            __builtin_add_overflow(st->isum, v->as.i, &st->isum))
          st->overflow = true;
      } else {
        assert(v->type == PB_QUINT);
        st->fsum += (double)v->as.u;
        if (!st->overflow &&
            (v->as.u > (uint64_t)INT64_MAX ||
             __builtin_add_overflow(st->isum, (int64_t)v->as.u, &st->isum)))
          st->overflow = true;
      }
      return PB_OK;
    case PB_AGG_MIN:
    case PB_AGG_MAX: {
      if (st->best.type != PB_QNULL) {
        int c = pb__qval_cmp(v, &st->best);
        if (a->fn == PB_AGG_MIN ? c >= 0 : c <= 0) return PB_OK;
      }
      pb_qval nv = *v;
      int rc = pb__qval_own(&nv);
      if (rc != PB_OK) return rc;
      pb__qval_disown(&st->best);
      st->best = nv;
      return PB_OK;
    }
  }
  return PB_OK;
}

static int result(const agg_state *st, const pb_agg *a, pb_qval *out) {
  switch (a->fn) {
    case PB_AGG_COUNT:
    case PB_AGG_COUNT_ALL:
      *out = pb_qint(st->count);
      return PB_OK;
    case PB_AGG_SUM:
      if (st->count == 0) {
        *out = pb_qnull();
      } else if (a->arg->type == PB_QFLOAT) {
        *out = pb_qfloat(st->fsum);
      } else if (st->overflow) {
        pb__errdetail_set("GroupBy: SUM: integer overflow");
        return PB_ERANGE;
      } else {
        *out = pb_qint(st->isum);
      }
      return PB_OK;
    case PB_AGG_AVG:
      *out = st->count == 0 ? pb_qnull()
                            : pb_qfloat(st->fsum / (double)st->count);
      return PB_OK;
    case PB_AGG_MIN:
    case PB_AGG_MAX:
      *out = st->best;
      return PB_OK;
  }
  return PB_OK;
}

static size_t group_bytes(const group_state *s, const pb_qval *keys) {
  size_t b = sizeof(group) + s->n_keys * sizeof(pb_qval) +
             s->n_aggs * sizeof(agg_state);
  for (size_t i = 0; i < s->n_keys; i++)
    if (keys[i].type == PB_QSTR || keys[i].type == PB_QBYTES)
      b += keys[i].as.s.len;
  return b;
}

static int new_group(group_state *s, size_t *out) {
  int rc = pb__rowbuf_take(&s->rb, group_bytes(s, s->kv));
  if (rc != PB_OK) return rc;
  if (s->n_groups == s->cap_groups) {
    size_t cap = s->cap_groups ? s->cap_groups * 2 : 16;
    group *ng = realloc(s->groups, cap * sizeof *ng);
    if (ng == NULL) return PB_ENOMEM;
    s->groups = ng;
    s->cap_groups = cap;
  }
  group *g = &s->groups[s->n_groups];
  g->keys = s->n_keys ? calloc(s->n_keys, sizeof *g->keys) : NULL;
  g->aggs = s->n_aggs ? calloc(s->n_aggs, sizeof *g->aggs) : NULL;
  if ((s->n_keys && g->keys == NULL) || (s->n_aggs && g->aggs == NULL)) {
    free(g->keys);
    free(g->aggs);
    return PB_ENOMEM;
  }
  for (size_t i = 0; i < s->n_keys; i++) {
    g->keys[i] = s->kv[i];
    rc = pb__qval_own(&g->keys[i]);
    if (rc != PB_OK) {
      for (size_t j = 0; j < i; j++) pb__qval_disown(&g->keys[j]);
      free(g->keys);
      free(g->aggs);
      return rc;
    }
  }
  *out = s->n_groups++;
  return PB_OK;
}

static void free_group(group_state *s, group *g) {
  for (size_t i = 0; i < s->n_keys; i++) pb__qval_disown(&g->keys[i]);
  for (size_t i = 0; i < s->n_aggs; i++) pb__qval_disown(&g->aggs[i].best);
  free(g->keys);
  free(g->aggs);
}

/* qsort has no context: the key count travels with each element. */
typedef struct gref {
  const group *g;
  size_t n_keys;
} gref;

static int cmp_groups(const void *a, const void *b) {
  const gref *x = a, *y = b;
  for (size_t i = 0; i < x->n_keys; i++) {
    int c = pb__qval_cmp(&x->g->keys[i], &y->g->keys[i]);
    if (c != 0) return c;
  }
  return 0;
}

static int group_load(pb_plan *n, group_state *s) {
  pb_plan *kid = n->kid[0];
  pb_row row;
  int rc;
  if (s->n_keys == 0) {
    size_t g;
    rc = new_group(s, &g);
    if (rc != PB_OK) return rc;
  }
  while ((rc = pb__pull(kid, &row)) == PB_OK) {
    for (size_t i = 0; i < s->n_keys; i++) {
      rc = pb__expr_eval(s->keys[i], &row, &s->kv[i]);
      if (rc != PB_OK) return rc;
    }
    size_t gi = 0;
    if (s->n_keys > 0) {
      pb_buf_reset(&s->canon);
      for (size_t i = 0; i < s->n_keys; i++) pb__qval_canon(&s->kv[i], &s->canon);
      rc = pb_buf_error(&s->canon);
      if (rc != PB_OK) return rc;
      if (!pb__qhash_get(&s->index, s->canon.data, s->canon.len, &gi)) {
        rc = new_group(s, &gi);
        bool added;
        size_t *found;
        if (rc == PB_OK)
          rc = pb__qhash_put(&s->index, &s->rb, s->canon.data, s->canon.len,
                             gi, &found, &added);
        if (rc != PB_OK) return rc;
      }
    }
    group *g = &s->groups[gi];
    for (size_t i = 0; i < s->n_aggs; i++) {
      pb_qval v = pb_qnull();
      if (s->aggs[i].arg != NULL) {
        rc = pb__expr_eval(s->aggs[i].arg, &row, &v);
        if (rc != PB_OK) return rc;
      }
      size_t before = g->aggs[i].best.type == PB_QSTR ||
                              g->aggs[i].best.type == PB_QBYTES
                          ? g->aggs[i].best.as.s.len
                          : 0;
      rc = fold(&g->aggs[i], &s->aggs[i], &v);
      if (rc != PB_OK) return rc;
      size_t after = g->aggs[i].best.type == PB_QSTR ||
                             g->aggs[i].best.type == PB_QBYTES
                         ? g->aggs[i].best.as.s.len
                         : 0;
      if (after > before) {
        rc = pb__rowbuf_take(&s->rb, after - before);
        if (rc != PB_OK) return rc;
      } else if (before > after) {
        pb__rowbuf_give(&s->rb, before - after);
      }
    }
  }
  if (rc != PB_ENOTFOUND) return rc;
  if (s->n_groups > 1) {
    gref *refs = malloc(s->n_groups * sizeof *refs);
    group *sorted = malloc(s->n_groups * sizeof *sorted);
    if (refs == NULL || sorted == NULL) {
      free(refs);
      free(sorted);
      return PB_ENOMEM;
    }
    for (size_t i = 0; i < s->n_groups; i++) {
      refs[i].g = &s->groups[i];
      refs[i].n_keys = s->n_keys;
    }
    qsort(refs, s->n_groups, sizeof *refs, cmp_groups);
    for (size_t i = 0; i < s->n_groups; i++) sorted[i] = *refs[i].g;
    free(refs);
    free(s->groups);
    s->groups = sorted;
    s->cap_groups = s->n_groups;
  }
  return PB_OK;
}

static int group_open(pb_plan *n) {
  group_state *s = n->state;
  s->rb.limit = n->memory;
  return PB_OK;
}

static int group_next(pb_plan *n, pb_row *row) {
  group_state *s = n->state;
  if (s->err != PB_OK) return s->err;
  if (!s->loaded) {
    s->loaded = true;
    int rc = group_load(n, s);
    if (rc != PB_OK) return s->err = rc;
  }
  if (s->pos >= s->n_groups) return PB_ENOTFOUND;
  assert(s->n_keys > 0 || s->n_groups == 1); /* no key: one group */
  const group *g = &s->groups[s->pos];
  for (size_t i = 0; i < s->n_keys; i++) s->out[i] = g->keys[i];
  for (size_t i = 0; i < s->n_aggs; i++) {
    int rc = result(&g->aggs[i], &s->aggs[i], &s->out[s->n_keys + i]);
    if (rc != PB_OK) return s->err = rc;
  }
  s->pos++;
  row->recs = NULL;
  row->ids = NULL;
  row->n_recs = 0;
  row->cols = s->out;
  row->n_cols = s->n_keys + s->n_aggs;
  return PB_OK;
}

static void group_free(pb_plan *n) {
  group_state *s = n->state;
  if (s == NULL) return;
  for (size_t i = 0; i < s->n_keys; i++) pb_expr_free(s->keys[i]);
  for (size_t i = 0; i < s->n_aggs; i++) pb_expr_free(s->aggs[i].arg);
  free(s->keys);
  free(s->aggs);
  for (size_t i = 0; i < s->n_groups; i++) free_group(s, &s->groups[i]);
  free(s->groups);
  pb__qhash_free(&s->index, NULL);
  pb__rowbuf_free(&s->rb);
  pb_buf_free(&s->canon);
  free(s->kv);
  free(s->out);
  free(s);
  n->state = NULL;
}

static void puts_buf(pb_buf *out, const char *s) {
  pb_buf_append(out, s, strlen(s));
}

static void group_explain(const pb_plan *n, pb_buf *out) {
  const group_state *s = n->state;
  const pb__qshape *in = &n->kid[0]->shape;
  puts_buf(out, "(hash)");
  if (s->n_keys) puts_buf(out, " by ");
  for (size_t i = 0; i < s->n_keys; i++) {
    if (i) puts_buf(out, ", ");
    pb__expr_print(s->keys[i], in, out);
  }
  if (s->n_aggs) puts_buf(out, s->n_keys ? "; " : " ");
  for (size_t i = 0; i < s->n_aggs; i++) {
    if (i) puts_buf(out, ", ");
    puts_buf(out, agg_name(s->aggs[i].fn));
    puts_buf(out, "(");
    if (s->aggs[i].arg != NULL)
      pb__expr_print(s->aggs[i].arg, in, out);
    else
      puts_buf(out, "*");
    puts_buf(out, ")");
  }
}

static const pb__qnode_ops group_ops = {
    .kind = "GroupBy",
    .open = group_open,
    .next = group_next,
    .free = group_free,
    .explain = group_explain,
};

static int check_aggs(const pb__qshape *in, const pb_agg *aggs, size_t n) {
  for (size_t i = 0; i < n; i++) {
    const pb_agg *a = &aggs[i];
    char msg[200];
    if ((unsigned)a->fn > PB_AGG_COUNT_ALL) {
      snprintf(msg, sizeof msg, "GroupBy: aggregate %zu: no function %u", i,
               (unsigned)a->fn);
      pb__errdetail_set(msg);
      return PB_EINVAL;
    }
    if (a->fn == PB_AGG_COUNT_ALL) {
      if (a->arg == NULL) continue; /* COUNT(*) */
      snprintf(msg, sizeof msg,
               "GroupBy: aggregate %zu: COUNT(*) (PB_AGG_COUNT_ALL) takes "
               "no argument", i);
      pb__errdetail_set(msg);
      return PB_EINVAL;
    }
    if (a->arg == NULL) {
      /* A NULL expression is one whose constructor ran out of memory
       * (protobase/query.h, BUILDING). */
      snprintf(msg, sizeof msg,
               "GroupBy: aggregate %zu: %s without an argument (a NULL "
               "expression: out of memory)",
               i, agg_name(a->fn));
      pb__errdetail_set(msg);
      return PB_ENOMEM;
    }
    snprintf(msg, sizeof msg, "GroupBy %s", agg_name(a->fn));
    int rc = pb__expr_check(a->arg, in, msg, false);
    if (rc != PB_OK) return rc;
    pb_qtype t = a->arg->type;
    bool bad = false;
    if ((a->fn == PB_AGG_SUM || a->fn == PB_AGG_AVG) && !is_number(t))
      bad = true;
    if ((a->fn == PB_AGG_MIN || a->fn == PB_AGG_MAX) &&
        !pb__qtype_comparable(t, t))
      bad = true;
    if (bad) {
      pb_buf e;
      pb_buf_init(&e);
      pb__expr_print(a->arg, in, &e);
      pb_buf_append(&e, "", 1);
      snprintf(msg, sizeof msg, "GroupBy: %s(%s): %s of a %s value",
               agg_name(a->fn), e.err == PB_OK ? (const char *)e.data : "?",
               a->fn == PB_AGG_SUM || a->fn == PB_AGG_AVG
                   ? "not a number: the sum"
                   : "not ordered: the extreme",
               type_name(t));
      pb_buf_free(&e);
      pb__errdetail_set(msg);
      return PB_EINVAL;
    }
  }
  return PB_OK;
}

int pb_plan_group_by(pb_plan **p, pb_expr *const *keys, size_t n_keys,
                     const pb_agg *aggs, size_t n_aggs) {
  int rc = PB_OK;
  bool null_expr = false;
  for (size_t i = 0; keys != NULL && i < n_keys; i++)
    if (keys[i] == NULL) null_expr = true;
  if (p == NULL || *p == NULL || (n_keys && keys == NULL) ||
      (n_aggs && aggs == NULL)) {
    pb__errdetail_set("GroupBy: a NULL argument");
    rc = PB_EINVAL;
  } else if (n_keys == 0 && n_aggs == 0) {
    pb__errdetail_set("GroupBy: no key and no aggregate");
    rc = PB_EINVAL;
  } else if (null_expr) {
    rc = PB_ENOMEM;
  }
  for (size_t i = 0; rc == PB_OK && i < n_keys; i++)
    rc = pb__expr_check(keys[i], &(*p)->shape, "GroupBy key", false);
  if (rc == PB_OK) rc = check_aggs(&(*p)->shape, aggs, n_aggs);

  group_state *s = NULL;
  pb_plan *node = NULL;
  if (rc == PB_OK) {
    s = calloc(1, sizeof *s);
    node = pb__plan_node(&group_ops, (*p)->txn);
    if (s != NULL) {
      s->keys = n_keys ? malloc(n_keys * sizeof *s->keys) : NULL;
      s->aggs = n_aggs ? malloc(n_aggs * sizeof *s->aggs) : NULL;
      s->kv = n_keys ? calloc(n_keys, sizeof *s->kv) : NULL;
      s->out = calloc(n_keys + n_aggs, sizeof *s->out);
    }
    pb__qshape sh = {0};
    sh.n_cols = n_keys + n_aggs;
    if (s == NULL || node == NULL || (n_keys && (!s->keys || !s->kv)) ||
        (n_aggs && !s->aggs) || s->out == NULL) {
      rc = PB_ENOMEM;
    } else {
      node->shape.n_srcs = 0;
      node->shape.srcs = NULL;
      node->shape.n_cols = sh.n_cols;
      node->shape.col_types = calloc(sh.n_cols, sizeof(pb_qtype));
      if (node->shape.col_types == NULL) rc = PB_ENOMEM;
    }
  }
  if (rc != PB_OK) {
    if (s != NULL) {
      free(s->keys);
      free(s->aggs);
      free(s->kv);
      free(s->out);
      free(s);
    }
    pb__plan_node_free(node);
    for (size_t i = 0; keys != NULL && i < n_keys; i++) pb_expr_free(keys[i]);
    for (size_t i = 0; aggs != NULL && i < n_aggs; i++)
      pb_expr_free(aggs[i].arg);
    return rc;
  }
  for (size_t i = 0; i < n_keys; i++) {
    s->keys[i] = keys[i];
    node->shape.col_types[i] = keys[i]->type;
  }
  for (size_t i = 0; i < n_aggs; i++) {
    s->aggs[i] = aggs[i];
    node->shape.col_types[n_keys + i] = agg_type(&aggs[i]);
  }
  s->n_keys = n_keys;
  s->n_aggs = n_aggs;
  pb__rowbuf_init(&s->rb, "GroupBy", PB_PLAN_MEMORY_DEFAULT);
  pb__qhash_init(&s->index);
  pb_buf_init(&s->canon);
  node->state = s;
  node->kid[0] = *p;
  *p = node;
  return PB_OK;
}
