/*
 * query/join.c - Join: inner, left, right and full, by a hash join, an
 * index nested-loop join or a nested loop.
 *
 * A joined row is the left row's sources and columns followed by the right
 * row's; on a side an outer join found no partner for, that side's sources
 * are NULL and its columns NULL.  The output order: the left rows in their
 * order, each followed by its partners in the right side's order (an
 * unmatched left row of a LEFT or FULL join in its place, with a NULL
 * right side); then, for RIGHT and FULL joins, the right rows that matched
 * no left row, in the right side's order.  An INNER join driven by the
 * right side (below) gives the right rows in their order instead, each
 * with its partners in the left table's index (or key) order; a row's
 * sources are the left side's, then the right side's, either way.
 *
 * The condition `on` is split (pb__join_choose) into its AND terms: an
 * EQUALITY TERM is `l = r` with l reading only the left side and r only the
 * right side (or the reverse); every other term is RESIDUAL, checked on
 * each pair the equalities found.  As in SQL, an equality with a NULL on
 * either side matches nothing.
 *
 * The algorithms (chosen once the kids are optimized, or at open):
 *   IndexJoin       an INNER or LEFT join with equality terms whose right
 *                   sides are exactly the fields of the right table's
 *                   primary key, or the leading fields of one of its
 *                   indexes (in any order), with the right side a plain
 *                   From(table) and each pair of the same type: for each
 *                   left row, a key or index lookup (pb__from_key_node,
 *                   pb__from_index_node) with the left values.  Following
 *                   a ref<R> to R's key is this case.  RIGHT and FULL
 *                   joins, which must find the right rows no left row
 *                   matched, take the hash join instead.  DRIVEN BY THE
 *                   RIGHT SIDE: an INNER join whose LEFT side is a plain
 *                   From(table) with its key or an index on the left
 *                   fields of the equalities, when the optimizer's
 *                   estimates say the right side's rows find fewer rows
 *                   than the left table holds (rindex_path): for each
 *                   right row, a lookup in the left table;
 *   HashJoin        otherwise, with at least one equality term: the right
 *                   side is read once into held rows (rowbuf.c), indexed
 *                   by the canonical encoding of its equality values
 *                   (pb__qval_canon, so 1 = 1.0), and each left row looks
 *                   its values up;
 *   NestedLoopJoin  otherwise (no equality term, or no `on`: a cross
 *                   join): the right side is read once into held rows and
 *                   each left row is tried with each of them.
 * The held right rows count against the plan's memory budget (PB_ENOMEM
 * past it: a join does not spill).
 */
#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "query/query_int.h"
#include "util/errdetail.h"

#define NONE ((size_t)-1)

typedef enum algo { ALG_NONE, ALG_HASH, ALG_INDEX, ALG_RINDEX, ALG_LOOP } algo;

typedef struct eqterm {
  pb_expr *l, *r; /* the left side's and the right side's (views into on) */
} eqterm;

typedef struct join_state {
  pb_join_type type;
  pb_expr *on; /* owned; NULL: every pair */
  algo alg;
  eqterm *eqs; /* equality terms */
  size_t n_eqs;
  pb_expr **resid; /* residual terms (views into on) */
  size_t n_resid;
  size_t L, R, Lc, Rc; /* sources and columns of each side */
  /* IndexJoin: the table looked up (the right one; the left one when
   * driven by the right side: ALG_RINDEX) */
  const pb_table_def *rdef;
  bool by_key;      /* the primary key, else index `index` */
  size_t index;
  size_t *order;    /* order[j]: the equality term of the lookup's field j */
  pb_qval *lookup;  /* the values looked up */
  pb_plan *inner;   /* the lookup of the current left row */
  /* HashJoin, NestedLoopJoin */
  pb__rowbuf rb;
  pb__hrow **right; /* the right rows, in order */
  size_t n_right, cap_right;
  size_t *next;     /* HashJoin: the next right row with the same values */
  pb__qhash table;  /* HashJoin: values -> first right row */
  bool built;
  /* Iteration */
  bool left_done;
  bool have_left;
  bool left_matched;
  size_t cand;     /* the next candidate right row (chain or position) */
  size_t tail;     /* RIGHT/FULL: the next right row to check at the end */
  const void **recs; /* the joined row */
  uint64_t *ids;
  pb_qval *cols;
  pb_qval *kv;       /* equality values of a row */
  pb_buf canon;
  int err;
} join_state;

static const pb__qnode_ops join_ops, hash_ops, index_ops, loop_ops;

bool pb__is_join(const pb_plan *n) {
  return n != NULL && (n->ops == &join_ops || n->ops == &hash_ops ||
                       n->ops == &index_ops || n->ops == &loop_ops);
}

static const char *type_word(pb_join_type t) {
  switch (t) {
    case PB_JOIN_INNER: return "INNER";
    case PB_JOIN_LEFT: return "LEFT";
    case PB_JOIN_RIGHT: return "RIGHT";
    case PB_JOIN_FULL: return "FULL";
  }
  return "?";
}

/* --- Which side an expression reads --- */

enum { SIDE_L = 1, SIDE_R = 2, SIDE_ANY = 4 };

static unsigned side_of(const join_state *s, const pb_expr *e) {
  if (e == NULL) return 0;
  switch (e->kind) {
    case PB__E_FIELD:
      return e->src < s->L ? SIDE_L : SIDE_R;
    case PB__E_COL:
      return e->col < s->Lc ? SIDE_L : SIDE_R;
    case PB__E_CONST:
      return 0;
    case PB__E_PRED:
    case PB__E_FN:
      return SIDE_ANY;
    default:
      return side_of(s, e->a) | side_of(s, e->b) | side_of(s, e->c);
  }
}

/* Appends the AND terms of e to v. */
static int terms(pb_expr *e, pb_expr ***v, size_t *n, size_t *cap) {
  if (e->kind == PB__E_AND) {
    int rc = terms(e->a, v, n, cap);
    return rc == PB_OK ? terms(e->b, v, n, cap) : rc;
  }
  if (*n == *cap) {
    size_t c = *cap ? *cap * 2 : 8;
    pb_expr **nv = realloc(*v, c * sizeof *nv);
    if (nv == NULL) return PB_ENOMEM;
    *v = nv;
    *cap = c;
  }
  (*v)[(*n)++] = e;
  return PB_OK;
}

/* Splits on into equality and residual terms. */
static int split(join_state *s) {
  free(s->eqs);
  free(s->resid);
  s->eqs = NULL;
  s->resid = NULL;
  s->n_eqs = s->n_resid = 0;
  assert(s->on != NULL); /* pb_plan_join refuses a NULL one */
  pb_expr **t = NULL;
  size_t n = 0, cap = 0;
  int rc = terms(s->on, &t, &n, &cap);
  if (rc == PB_OK && n > 0) {
    s->eqs = malloc(n * sizeof *s->eqs);
    s->resid = malloc(n * sizeof *s->resid);
    if (s->eqs == NULL || s->resid == NULL) rc = PB_ENOMEM;
  }
  for (size_t i = 0; rc == PB_OK && i < n; i++) {
    pb_expr *e = t[i];
    if (e->kind == PB__E_CMP && e->op == PB_EQ) {
      unsigned a = side_of(s, e->a), b = side_of(s, e->b);
      if (a == SIDE_L && b == SIDE_R) {
        s->eqs[s->n_eqs].l = e->a;
        s->eqs[s->n_eqs++].r = e->b;
        continue;
      }
      if (a == SIDE_R && b == SIDE_L) {
        s->eqs[s->n_eqs].l = e->b;
        s->eqs[s->n_eqs++].r = e->a;
        continue;
      }
    }
    s->resid[s->n_resid++] = e;
  }
  free(t);
  return rc;
}

/* Whether the equality terms' sides on one side (`left`: their left
 * expressions, else their right ones) name exactly the primary key of
 * that side's table `def` (a plain From(table), whose source is `src`),
 * or the leading fields of one of its indexes (*yes); sets rdef, by_key,
 * index, order.  Errors: PB_ENOMEM. */
static int lookup_path(join_state *s, const pb_table_def *def, bool left,
                       size_t src, bool *yes) {
  *yes = false;
  for (size_t i = 0; i < s->n_eqs; i++) {
    const pb_expr *r = left ? s->eqs[i].l : s->eqs[i].r;
    const pb_expr *o = left ? s->eqs[i].r : s->eqs[i].l;
    if (r->kind != PB__E_FIELD || r->src != src) return PB_OK;
    if (o->type != r->type || r->type == PB_QNULL) return PB_OK;
    for (size_t j = 0; j < i; j++)
      if ((left ? s->eqs[j].l : s->eqs[j].r)->tag == r->tag)
        return PB_OK; /* a field twice */
  }
  size_t *order = malloc(s->n_eqs * sizeof *order);
  if (order == NULL) return PB_ENOMEM;
  /* The primary key: a keyed table's one [key] field. */
  if (def->key != NULL && s->n_eqs == 1) {
    const pb_record_type *t = def->type;
    size_t n_key = 0;
    uint32_t key_tag = 0;
    for (size_t i = 0; i < t->n_fields; i++)
      if (t->fields[i].flags & PB_FIELD_KEY) {
        n_key++;
        key_tag = t->fields[i].tag;
      }
    if (n_key == 1 && (left ? s->eqs[0].l : s->eqs[0].r)->tag == key_tag) {
      order[0] = 0;
      free(s->order);
      s->order = order;
      s->rdef = def;
      s->by_key = true;
      *yes = true;
      return PB_OK;
    }
  }
  for (size_t x = 0; x < def->n_indexes; x++) {
    const pb_table_index *ix = &def->indexes[x];
    if (ix->n_tags < s->n_eqs) continue;
    bool all = true;
    for (size_t j = 0; j < s->n_eqs && all; j++) {
      size_t found = NONE;
      for (size_t i = 0; i < s->n_eqs; i++)
        if ((left ? s->eqs[i].l : s->eqs[i].r)->tag == ix->tags[j])
          found = i;
      if (found == NONE) all = false;
      order[j] = found;
    }
    if (all) {
      free(s->order);
      s->order = order;
      s->rdef = def;
      s->by_key = false;
      s->index = x;
      *yes = true;
      return PB_OK;
    }
  }
  free(order);
  return PB_OK;
}

/* A plain From(table) (a key or index range scan there, which
 * pb__from_table_def also names, would have its range ignored by the
 * lookups): its table, else NULL. */
static const pb_table_def *plain_table(const pb_plan *n) {
  const pb_table_def *def = pb__from_table_def(n);
  if (def == NULL || strcmp(n->ops->kind, "TableScan") != 0) return NULL;
  return def;
}

/* Whether the join looks up the right table per left row (*yes). */
static int index_path(pb_plan *n, join_state *s, bool *yes) {
  *yes = false;
  const pb_table_def *def = plain_table(n->kid[1]);
  if (def == NULL || s->n_eqs == 0) return PB_OK;
  if (s->type != PB_JOIN_INNER && s->type != PB_JOIN_LEFT) return PB_OK;
  return lookup_path(s, def, false, s->L, yes);
}

/* The rows of the table under a chain of one-input nodes: its count when
 * the leaf is a scan of a table (an index range's est is already the
 * filtered rows), else the leaf's est.  *out < 0: unknown. */
static int base_rows(const pb_plan *n, double *out) {
  while (n->kid[0] != NULL && n->kid[1] == NULL) n = n->kid[0];
  *out = n->est;
  const pb_table_def *def = pb__from_table_def(n);
  if (def == NULL || n->kid[0] != NULL) return PB_OK;
  uint64_t count;
  int rc = pb_table_count(n->txn, def, &count);
  if (rc == PB_OK) *out = (double)count;
  return rc;
}

/*
 * Whether an INNER join should look up the LEFT table per right row
 * (*yes): the left side a plain From(table) with its key or an index on
 * the equality fields, and the right side estimated small enough that its
 * rows' lookups read fewer rows than the left table has.  The optimizer's
 * estimates decide (unknown: no): the join gives about
 * max(left table, right table) * (right rows / right table) rows, each a
 * lookup of an entry and a row (twice a scanned row), against a scan of
 * the whole left table by any other algorithm.
 */
static int rindex_path(pb_plan *n, join_state *s, bool *yes) {
  *yes = false;
  if (s->type != PB_JOIN_INNER || s->n_eqs == 0 || s->L != 1) return PB_OK;
  const pb_table_def *def = plain_table(n->kid[0]);
  if (def == NULL) return PB_OK;
  double a = n->kid[0]->est, b = n->kid[1]->est, bb;
  if (a < 0 || b < 0) return PB_OK;
  int rc = base_rows(n->kid[1], &bb);
  if (rc != PB_OK || bb <= 0) return rc;
  double out = (a > bb ? a : bb) * (b / bb);
  if (!(2 * out + b < a)) return PB_OK;
  return lookup_path(s, def, true, 0, yes);
}

int pb__join_choose(pb_plan *n) {
  if (!pb__is_join(n)) return PB_OK;
  join_state *s = n->state;
  int rc = split(s);
  if (rc != PB_OK) return rc;
  bool by_index = false, by_rindex = false;
  rc = rindex_path(n, s, &by_rindex);
  if (rc == PB_OK && !by_rindex) rc = index_path(n, s, &by_index);
  if (rc != PB_OK) return rc;
  if (s->n_eqs == 0) {
    s->alg = ALG_LOOP;
    n->ops = &loop_ops;
  } else if (by_rindex) {
    s->alg = ALG_RINDEX;
    n->ops = &index_ops;
  } else if (by_index) {
    s->alg = ALG_INDEX;
    n->ops = &index_ops;
  } else {
    s->alg = ALG_HASH;
    n->ops = &hash_ops;
  }
  return PB_OK;
}

/* --- Running --- */

static void set_left(join_state *s, const pb_row *l) {
  assert(l == NULL || (l->n_recs == s->L && l->n_cols == s->Lc));
  for (size_t i = 0; i < s->L; i++) {
    s->recs[i] = l ? l->recs[i] : NULL;
    s->ids[i] = l && l->ids ? l->ids[i] : 0;
  }
  for (size_t i = 0; i < s->Lc; i++) s->cols[i] = l ? l->cols[i] : pb_qnull();
}

static void set_right(join_state *s, const pb_row *r) {
  assert(r == NULL || (r->n_recs == s->R && r->n_cols == s->Rc));
  for (size_t i = 0; i < s->R; i++) {
    s->recs[s->L + i] = r ? r->recs[i] : NULL;
    s->ids[s->L + i] = r && r->ids ? r->ids[i] : 0;
  }
  for (size_t i = 0; i < s->Rc; i++)
    s->cols[s->Lc + i] = r ? r->cols[i] : pb_qnull();
}

static void joined(const join_state *s, pb_row *out) {
  out->recs = s->recs;
  out->ids = s->ids;
  out->n_recs = s->L + s->R;
  out->cols = s->cols;
  out->n_cols = s->Lc + s->Rc;
}

/* Evaluates one side's equality values over the joined row; *null when
 * one is NULL. */
static int eq_values(join_state *s, bool left, bool *null) {
  pb_row row;
  joined(s, &row);
  *null = false;
  for (size_t i = 0; i < s->n_eqs; i++) {
    int rc = pb__expr_eval(left ? s->eqs[i].l : s->eqs[i].r, &row, &s->kv[i]);
    if (rc != PB_OK) return rc;
    if (s->kv[i].type == PB_QNULL) *null = true;
  }
  return PB_OK;
}

static int canon(join_state *s) {
  pb_buf_reset(&s->canon);
  for (size_t i = 0; i < s->n_eqs; i++) pb__qval_canon(&s->kv[i], &s->canon);
  return pb_buf_error(&s->canon);
}

/* Whether every term of v is TRUE over the joined row. */
static int all_true(join_state *s, pb_expr *const *v, size_t n, bool *yes) {
  pb_row row;
  joined(s, &row);
  *yes = true;
  for (size_t i = 0; i < n; i++) {
    pb_qval b;
    int rc = pb__expr_eval(v[i], &row, &b);
    if (rc != PB_OK) return rc;
    if (b.type != PB_QBOOL || !b.as.b) {
      *yes = false;
      return PB_OK;
    }
  }
  return PB_OK;
}

/* Reads the right side into held rows (and the hash table). */
static int build(pb_plan *n, join_state *s) {
  pb_plan *kid = n->kid[1];
  pb_row row;
  int rc;
  set_left(s, NULL);
  while ((rc = pb__pull(kid, &row)) == PB_OK) {
    if (s->n_right == s->cap_right) {
      size_t cap = s->cap_right ? s->cap_right * 2 : 64;
      rc = pb__rowbuf_take(&s->rb, (cap - s->cap_right) *
                                       (sizeof *s->right + sizeof *s->next));
      if (rc != PB_OK) return rc;
      pb__hrow **nr = realloc(s->right, cap * sizeof *nr);
      if (nr == NULL) return PB_ENOMEM;
      s->right = nr;
      size_t *nx = realloc(s->next, cap * sizeof *nx);
      if (nx == NULL) return PB_ENOMEM;
      s->next = nx;
      s->cap_right = cap;
    }
    size_t nv = 0;
    bool null = false;
    if (s->alg == ALG_HASH) {
      set_right(s, &row);
      rc = eq_values(s, false, &null);
      if (rc != PB_OK) return rc;
      nv = s->n_eqs;
    }
    pb__hrow *h;
    rc = pb__rowbuf_hold(&s->rb, kid, &row, s->kv, nv, &h);
    if (rc != PB_OK) return rc;
    /* A row with a NULL value is held (an outer join gives it) but never
     * found: mark it so with no values. */
    if (null) h->n_vals = 0;
    s->next[s->n_right] = NONE;
    s->right[s->n_right++] = h;
  }
  if (rc != PB_ENOTFOUND) return rc;
  if (s->alg == ALG_HASH) {
    /* Chains in the right side's order: insert from the last row, each
     * new row in front. */
    for (size_t i = s->n_right; i-- > 0;) {
      pb__hrow *h = s->right[i];
      if (h->n_vals == 0) continue;
      memcpy(s->kv, h->vals, s->n_eqs * sizeof *s->kv);
      rc = canon(s);
      size_t *at;
      bool added;
      if (rc == PB_OK)
        rc = pb__qhash_put(&s->table, &s->rb, s->canon.data, s->canon.len, i,
                           &at, &added);
      if (rc != PB_OK) return rc;
      if (!added) {
        s->next[i] = *at;
        *at = i;
      }
    }
  }
  s->built = true;
  return PB_OK;
}

/* IndexJoin: opens the lookup of the current left row (s->inner; of the
 * current right row when driven by the right side: `left` false), or
 * leaves it NULL when a value is NULL. */
static int open_lookup(pb_plan *n, join_state *s, bool left) {
  bool null;
  int rc = eq_values(s, left, &null);
  if (rc != PB_OK || null) return rc;
  for (size_t j = 0; j < s->n_eqs; j++) s->lookup[j] = s->kv[s->order[j]];
  pb_plan *in = NULL;
  if (s->by_key)
    rc = pb__from_key_node(n->txn, s->rdef, s->lookup, 1, s->lookup, 1,
                           PB_SCAN_HI_INCL, &in);
  else
    rc = pb__from_index_node(n->txn, s->rdef, s->index, s->lookup, s->n_eqs,
                             s->lookup, s->n_eqs, PB_SCAN_HI_INCL, &in);
  /* PB_EINVAL: a value the field cannot hold (an INT past an int32
   * field's range, a FLOAT a float32 field cannot hold exactly), which no
   * row can equal.  The types were checked when the join was chosen. */
  if (rc == PB_EINVAL) return PB_OK;
  if (rc != PB_OK) return rc;
  in->memory = n->memory;
  if (in->ops->open != NULL) rc = in->ops->open(in);
  in->opened = true;
  if (rc != PB_OK) {
    pb__plan_node_free(in);
    return rc;
  }
  s->inner = in;
  return PB_OK;
}

static int join_open(pb_plan *n) {
  join_state *s = n->state;
  s->rb.limit = n->memory;
  if (s->alg == ALG_NONE) return pb__join_choose(n);
  return PB_OK;
}

/* The next right row of the current left row that matches it, into the
 * joined row: true, or false when there is none left. */
static int next_match(pb_plan *n, join_state *s, bool *got) {
  *got = false;
  int rc;
  bool yes;
  switch (s->alg) {
    case ALG_HASH:
      while (s->cand != NONE) {
        pb__hrow *h = s->right[s->cand];
        s->cand = s->next[s->cand];
        set_right(s, &h->row);
        rc = all_true(s, s->resid, s->n_resid, &yes);
        if (rc != PB_OK) return rc;
        if (yes) {
          h->matched = true;
          *got = true;
          return PB_OK;
        }
      }
      return PB_OK;
    case ALG_LOOP:
      while (s->cand < s->n_right) {
        pb__hrow *h = s->right[s->cand++];
        set_right(s, &h->row);
        rc = all_true(s, &s->on, 1, &yes);
        if (rc != PB_OK) return rc;
        if (yes) {
          h->matched = true;
          *got = true;
          return PB_OK;
        }
      }
      return PB_OK;
    case ALG_INDEX:
    case ALG_RINDEX:
      while (s->inner != NULL) {
        pb_row r;
        rc = pb__pull(s->inner, &r);
        if (rc == PB_ENOTFOUND) {
          pb__plan_node_free(s->inner);
          s->inner = NULL;
          return PB_OK;
        }
        if (rc != PB_OK) return rc;
        if (s->alg == ALG_INDEX)
          set_right(s, &r);
        else
          set_left(s, &r);
        rc = all_true(s, s->resid, s->n_resid, &yes);
        if (rc != PB_OK) return rc;
        if (yes) {
          *got = true;
          return PB_OK;
        }
      }
      return PB_OK;
    case ALG_NONE:
      break;
  }
  assert(!"a join without an algorithm");
  return PB_EINVAL;
}

/* IndexJoin driven by the right side (INNER only): each right row in its
 * order, followed by its partners in the lookup's order. */
static int rindex_step(pb_plan *n, join_state *s, pb_row *row) {
  assert(s->type == PB_JOIN_INNER);
  for (;;) {
    if (!s->have_left) { /* here: a current right row */
      pb_row r;
      int rc = pb__pull(n->kid[1], &r);
      if (rc != PB_OK) return rc; /* PB_ENOTFOUND: the end */
      s->have_left = true;
      set_left(s, NULL);
      set_right(s, &r);
      rc = open_lookup(n, s, false);
      if (rc != PB_OK) return rc;
    }
    bool got;
    int rc = next_match(n, s, &got);
    if (rc != PB_OK) return rc;
    if (got) {
      joined(s, row);
      return PB_OK;
    }
    s->have_left = false;
  }
}

static int join_step(pb_plan *n, join_state *s, pb_row *row) {
  int rc;
  assert(s->alg != ALG_NONE);
  if (s->alg == ALG_RINDEX) return rindex_step(n, s, row);
  assert(s->alg != ALG_INDEX ||
         s->type == PB_JOIN_INNER || s->type == PB_JOIN_LEFT);
  if ((s->alg == ALG_HASH || s->alg == ALG_LOOP) && !s->built) {
    rc = build(n, s);
    if (rc != PB_OK) return rc;
  }
  bool outer_left = s->type == PB_JOIN_LEFT || s->type == PB_JOIN_FULL;
  bool outer_right = s->type == PB_JOIN_RIGHT || s->type == PB_JOIN_FULL;
  for (;;) {
    if (!s->have_left) {
      if (s->left_done) {
        if (!outer_right) return PB_ENOTFOUND;
        while (s->tail < s->n_right && s->right[s->tail]->matched) s->tail++;
        if (s->tail >= s->n_right) return PB_ENOTFOUND;
        set_left(s, NULL);
        set_right(s, &s->right[s->tail++]->row);
        joined(s, row);
        return PB_OK;
      }
      pb_row l;
      rc = pb__pull(n->kid[0], &l);
      if (rc == PB_ENOTFOUND) {
        s->left_done = true;
        continue;
      }
      if (rc != PB_OK) return rc;
      s->have_left = true;
      s->left_matched = false;
      set_left(s, &l);
      set_right(s, NULL);
      s->cand = NONE;
      if (s->alg == ALG_LOOP) {
        s->cand = 0;
      } else if (s->alg == ALG_HASH) {
        bool null;
        rc = eq_values(s, true, &null);
        if (rc == PB_OK && !null) {
          rc = canon(s);
          size_t head;
          if (rc == PB_OK &&
              pb__qhash_get(&s->table, s->canon.data, s->canon.len, &head))
            s->cand = head;
        }
        if (rc != PB_OK) return rc;
      } else {
        rc = open_lookup(n, s, true);
        if (rc != PB_OK) return rc;
      }
    }
    bool got;
    rc = next_match(n, s, &got);
    if (rc != PB_OK) return rc;
    if (got) {
      s->left_matched = true;
      joined(s, row);
      return PB_OK;
    }
    s->have_left = false;
    if (!s->left_matched && outer_left) {
      set_right(s, NULL);
      joined(s, row);
      return PB_OK;
    }
  }
}

static int join_next(pb_plan *n, pb_row *row) {
  join_state *s = n->state;
  if (s->err != PB_OK) return s->err;
  if (s->alg == ALG_NONE) {
    int rc = pb__join_choose(n);
    if (rc != PB_OK) return s->err = rc;
  }
  int rc = join_step(n, s, row);
  if (rc != PB_OK && rc != PB_ENOTFOUND) s->err = rc;
  return rc;
}

static void join_free(pb_plan *n) {
  join_state *s = n->state;
  if (s == NULL) return;
  pb_expr_free(s->on);
  free(s->eqs);
  free(s->resid);
  free(s->order);
  free(s->lookup);
  pb__plan_node_free(s->inner);
  for (size_t i = 0; i < s->n_right; i++) pb__rowbuf_drop(&s->rb, s->right[i]);
  free(s->right);
  free(s->next);
  pb__qhash_free(&s->table, NULL);
  pb__rowbuf_free(&s->rb);
  free(s->recs);
  free(s->ids);
  free(s->cols);
  free(s->kv);
  pb_buf_free(&s->canon);
  free(s);
  n->state = NULL;
}

static void puts_buf(pb_buf *out, const char *s) {
  pb_buf_append(out, s, strlen(s));
}

/* "<table> by primary key)" or "<table> index <name>)": the table an
 * index join looks rows up in. */
static void explain_lookup(const join_state *s, pb_buf *out) {
  puts_buf(out, s->rdef->type->name);
  if (s->by_key) {
    puts_buf(out, " by primary key)");
  } else {
    puts_buf(out, " index ");
    puts_buf(out, s->rdef->indexes[s->index].name);
    puts_buf(out, ")");
  }
}

static void join_explain(const pb_plan *n, pb_buf *out) {
  const join_state *s = n->state;
  puts_buf(out, type_word(s->type));
  switch (s->alg) {
    case ALG_HASH:
      puts_buf(out, " (hash on the right side)");
      break;
    case ALG_LOOP:
      puts_buf(out, " (nested loop)");
      break;
    case ALG_RINDEX:
      /* The left side's TableScan below is not run: each right row
       * looks its values up. */
      puts_buf(out, " (index nested loop driven by the right side: per "
                    "right row, a lookup in ");
      explain_lookup(s, out);
      break;
    case ALG_INDEX:
      /* The right side's TableScan below is not run: each left row
       * looks its values up. */
      puts_buf(out, " (index nested loop: per left row, a lookup in ");
      explain_lookup(s, out);
      break;
    case ALG_NONE:
      break;
  }
  puts_buf(out, " on ");
  pb__expr_print(s->on, &n->shape, out);
}

#define JOIN_OPS(name, k)                                                 \
  static const pb__qnode_ops name = {.kind = k,                           \
                                     .open = join_open,                   \
                                     .next = join_next,                   \
                                     .free = join_free,                   \
                                     .explain = join_explain}
JOIN_OPS(join_ops, "Join");
JOIN_OPS(hash_ops, "HashJoin");
JOIN_OPS(index_ops, "IndexJoin");
JOIN_OPS(loop_ops, "NestedLoopJoin");

int pb_plan_join(pb_plan **left, pb_plan *right, pb_join_type type,
                 pb_expr *on) {
  int rc = PB_OK;
  if (left == NULL || *left == NULL || right == NULL) {
    pb__errdetail_set("Join: no left or right plan");
    rc = PB_EINVAL;
  } else if ((unsigned)type > PB_JOIN_FULL) {
    pb__errdetail_set("Join: not a join type");
    rc = PB_EINVAL;
  } else if ((*left)->txn != right->txn) {
    pb__errdetail_set("Join: the two plans belong to different transactions");
    rc = PB_EINVAL;
  } else if (on == NULL) {
    /* protobase/query.h, BUILDING: a NULL expression is one whose
     * constructor ran out of memory.  A cross join is ON TRUE. */
    pb__errdetail_set("Join: no condition (a NULL expression: out of "
                      "memory; a cross join is on pb_qbool(true))");
    rc = PB_ENOMEM;
  }
  pb_plan *node = NULL;
  join_state *s = NULL;
  if (rc == PB_OK) {
    node = pb__plan_node(&join_ops, (*left)->txn);
    s = calloc(1, sizeof *s);
    if (node == NULL || s == NULL ||
        pb__qshape_concat(&node->shape, &(*left)->shape, &right->shape) !=
            PB_OK)
      rc = PB_ENOMEM;
  }
  if (rc == PB_OK) {
    /* The check names both sides of a comparison that cannot be. */
    rc = pb__expr_check(on, &node->shape, "Join on", true);
  }
  if (rc == PB_OK) {
    s->L = (*left)->shape.n_srcs;
    s->Lc = (*left)->shape.n_cols;
    s->R = right->shape.n_srcs;
    s->Rc = right->shape.n_cols;
    size_t ns = s->L + s->R, nc = s->Lc + s->Rc;
    size_t ne = 0;
    { /* an upper bound of the equality terms */
      pb_expr **t = NULL;
      size_t cap = 0;
      rc = terms(on, &t, &ne, &cap);
      free(t);
    }
    s->recs = calloc(ns ? ns : 1, sizeof *s->recs);
    s->ids = calloc(ns ? ns : 1, sizeof *s->ids);
    s->cols = calloc(nc ? nc : 1, sizeof *s->cols);
    s->kv = calloc(ne ? ne : 1, sizeof *s->kv);
    s->lookup = calloc(ne ? ne : 1, sizeof *s->lookup);
    if (rc == PB_OK && (!s->recs || !s->ids || !s->cols || !s->kv ||
                        !s->lookup))
      rc = PB_ENOMEM;
  }
  if (rc != PB_OK) {
    if (s != NULL) {
      free(s->recs);
      free(s->ids);
      free(s->cols);
      free(s->kv);
      free(s->lookup);
      free(s);
    }
    pb__plan_node_free(node);
    pb_plan_free(right);
    pb_expr_free(on);
    return rc;
  }
  s->type = type;
  s->on = on;
  s->alg = ALG_NONE;
  pb__rowbuf_init(&s->rb, "Join", PB_PLAN_MEMORY_DEFAULT);
  pb_buf_init(&s->canon);
  node->state = s;
  node->kid[0] = *left;
  node->kid[1] = right;
  /* A first choice from the kids as built, so that explain shows one
   * before the optimizer runs; the optimizer chooses again once it has
   * optimized the kids. */
  rc = pb__join_choose(node);
  if (rc != PB_OK) {
    node->kid[0] = NULL;
    pb__plan_node_free(node);
    return rc;
  }
  *left = node;
  return PB_OK;
}
