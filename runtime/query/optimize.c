/*
 * query/optimize.c - the optimizer: access paths, dropped sorts, top-N,
 * join algorithms and the rows each node is expected to give.
 *
 * pb__plan_optimize runs once, at the plan's first pb_plan_next (or
 * pb_plan_explain), over the whole tree, bottom up:
 *
 *   1. ACCESS PATHS.  A chain of Where nodes over a From(table) is split
 *      into its conjuncts (the leaves of the ANDs of every predicate).
 *      A conjunct that compares a field of the table with constants (=,
 *      <, <=, >, >=, BETWEEN with either end exclusive, IN, a string
 *      prefix, IS NULL on an optional field) is a SARGABLE term.  For the
 *      primary key and each index, the terms give a range: equalities on
 *      the leading fields (an IN on one of them makes one range per
 *      value), then the tightest bounds on the next field.  Each range
 *      gets an estimate (below); the cheapest path wins over the full
 *      scan (an index row costs about two key rows: the entry, then the
 *      row).  A conjunct that is an OR whose every branch has a path of
 *      its own may instead become a Union of those scans (union.c).
 *      The terms a single range answers exactly are removed from the
 *      Where (it becomes TRUE, and a Where left with TRUE is removed);
 *      every other term stays: the residual is always correct.  A range
 *      whose lower end is open over an optional field also reads the
 *      absent values (they sort first), so its upper bound stays too.
 *      Constants of another type than the field (a FLOAT against an
 *      int32, an INT beyond an int8) are left to the residual.
 *   2. ORDER.  An OrderBy whose keys are fields of the table, all in one
 *      direction, that the access path under it delivers (the primary
 *      key; the index's fields after those an equality fixes, then the
 *      primary key) is removed; descending ones make the scan reverse.
 *      Under a Limit, a full table scan whose order an index delivers is
 *      replaced by that index (so that the Limit stops it early).  Float
 *      fields are never used for order (NaN orders differently).
 *   3. LIMITS.  A Limit (with the Offsets and Selects between) over an
 *      OrderBy makes it a top-N heap of limit + offset rows.  Pulls are
 *      lazy, so a Limit over anything else stops its input already.
 *   4. JOINS.  Both sides are optimized first, then pb__join_choose.
 *
 * ESTIMATES (n->est).  N is the table's row count, which the table's
 * Dictionary keeps in its root (pb_table_count: one root read, not a
 * scan).  An equality on a unique index (all its fields), or on the
 * primary key, is 1 row; an equality on other fields keeps 1/sqrt(N) of
 * the rows per field (no statistics are kept: a guess of sqrt(N) distinct
 * values); a range with two ends 1/9, with one end 1/3, a prefix 1/10,
 * IS NULL 1/10; a residual term 1/3; a Limit its count.  Joins: the larger
 * side; GroupBy: sqrt of its input.
 *
 * pb__query_no_optimize (tests): only joins choose their algorithm (no
 * estimates either): the plan runs as it was built, so a test can compare
 * the rows of both, or pin the nodes' own order.
 */
#include <assert.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "protobase/table.h"
#include "query/query_int.h"

bool pb__query_no_optimize = false;

/* The most fields of an index a range uses (longer indexes use their
 * first ones). */
#define OPT_MAX_FIELDS 16
/* The most values of an IN turned into ranges. */
#define OPT_MAX_IN 64
/* The most terms one range answers. */
#define OPT_MAX_USED 64
/* The most scans a Union of an OR gets. */
#define OPT_MAX_BRANCHES 64

/* --- Scans the optimizer made, and the order they deliver --- */

typedef enum path_kind {
  PATH_NONE = 0,  /* not a scan */
  PATH_TABLE = 1, /* From(table): primary-key order */
  PATH_KEY = 2,   /* a primary-key range */
  PATH_INDEX = 3, /* an index range */
  PATH_UNION = 4  /* no order */
} path_kind;

typedef struct path_info {
  pb_plan *node;            /* the scan node */
  path_kind kind;           /* what it is */
  const pb_table_def *def;  /* its table */
  size_t index;             /* PATH_INDEX: the index */
  size_t n_eq;              /* leading index fields fixed by equalities */
  bool reverse;             /* built with PB_SCAN_REVERSE */
  /* What it was built from, to rebuild it reversed or ordered: */
  pb_qval lo[OPT_MAX_FIELDS], hi[OPT_MAX_FIELDS];
  size_t n_lo, n_hi;
  unsigned flags;
} path_info;

typedef struct opt_ctx {
  pb_plan *root;     /* the caller's handle */
  path_info *paths;  /* scans made (or found) so far */
  size_t n_paths, cap_paths;
  void **bufs;       /* copies of the string bounds of paths */
  size_t n_bufs, cap_bufs;
  struct {
    const pb_table_def *def;
    size_t index;
    bool ok;
  } usable[16]; /* indexes found usable (or not) so far */
  size_t n_usable;
} opt_ctx;

/*
 * Whether index `index` of def can be read in txn: a read-only
 * transaction cannot build an index the schema declares and the database
 * lacks (or has with another definition), and reading one is PB_ESCHEMA
 * (protobase/table.h, INDEXES), where the full scan would work.  Probed
 * by opening (and closing) a cursor on it, once per index and plan.
 * *ok false for PB_ESCHEMA; other errors are returned.
 */
static int index_usable(opt_ctx *c, pb_txn *txn, const pb_table_def *def,
                        size_t index, bool *ok) {
  for (size_t i = 0; i < c->n_usable; i++)
    if (c->usable[i].def == def && c->usable[i].index == index) {
      *ok = c->usable[i].ok;
      return PB_OK;
    }
  pb_cursor *cur = NULL;
  int rc = pb_table_index_scan(txn, def, index, NULL, NULL, 0, &cur);
  pb_cursor_close(cur);
  *ok = rc == PB_OK;
  if (rc != PB_OK && rc != PB_ESCHEMA) return rc;
  if (c->n_usable < sizeof c->usable / sizeof *c->usable) {
    c->usable[c->n_usable].def = def;
    c->usable[c->n_usable].index = index;
    c->usable[c->n_usable].ok = *ok;
    c->n_usable++;
  }
  return PB_OK;
}

/* Makes a STR or BYTES value *v a copy that lives as long as ctx (the
 * expression it viewed may be freed by the rewrite). */
static int ctx_keep(opt_ctx *c, pb_qval *v) {
  if (v->type != PB_QSTR && v->type != PB_QBYTES) return PB_OK;
  if (c->n_bufs == c->cap_bufs) {
    size_t cap = c->cap_bufs ? 2 * c->cap_bufs : 8;
    void **nb = realloc(c->bufs, cap * sizeof *nb);
    if (!nb) return PB_ENOMEM;
    c->bufs = nb;
    c->cap_bufs = cap;
  }
  uint8_t *b = malloc(v->as.s.len ? v->as.s.len : 1);
  if (!b) return PB_ENOMEM;
  if (v->as.s.len) memcpy(b, v->as.s.ptr, v->as.s.len);
  c->bufs[c->n_bufs++] = b;
  v->as.s.ptr = b;
  return PB_OK;
}

static path_info *path_find(opt_ctx *c, const pb_plan *n) {
  for (size_t i = 0; i < c->n_paths; i++)
    if (c->paths[i].node == n) return &c->paths[i];
  return NULL;
}

static int path_add(opt_ctx *c, const path_info *p) {
  if (c->n_paths == c->cap_paths) {
    size_t cap = c->cap_paths ? 2 * c->cap_paths : 8;
    path_info *np = realloc(c->paths, cap * sizeof *np);
    if (!np) return PB_ENOMEM;
    c->paths = np;
    c->cap_paths = cap;
  }
  c->paths[c->n_paths++] = *p;
  return PB_OK;
}

/* Moves node n's contents into the root object (the caller's handle) and
 * frees what the root held before, except the kids given in `keep`
 * (detached first).  Paths that named n now name the root. */
static void root_take(opt_ctx *c, pb_plan *n) {
  pb_plan *root = c->root;
  assert(n != root);
  pb_plan old = *root;
  *root = *n;
  root->optimized = old.optimized;
  root->memory = old.memory;
  *n = old;
  for (int k = 0; k < 2; k++)
    if (n->kid[k] == n) n->kid[k] = NULL; /* was the kid moved up */
  for (size_t i = 0; i < c->n_paths; i++)
    if (c->paths[i].node == n) c->paths[i].node = root;
  pb__plan_node_free(n);
}

/* Replaces *slot (a node with one kid) by its kid, and frees it. */
static void unlink_node(opt_ctx *c, pb_plan **slot) {
  pb_plan *n = *slot;
  pb_plan *k = n->kid[0];
  assert(k && !n->kid[1]);
  if (n == c->root) {
    root_take(c, k); /* the root's old contents had k as its kid */
    return;
  }
  *slot = k;
  n->kid[0] = NULL;
  pb__plan_node_free(n);
}

/* Replaces the leaf *slot by `fresh` (a new subtree), freeing the leaf. */
static void replace_leaf(opt_ctx *c, pb_plan **slot, pb_plan *fresh) {
  pb_plan *n = *slot;
  assert(!n->kid[0] && !n->kid[1]);
  if (n == c->root) {
    root_take(c, fresh);
    return;
  }
  *slot = fresh;
  pb__plan_node_free(n);
}

static bool kind_is(const pb_plan *n, const char *k) {
  return n->ops && n->ops->kind && strcmp(n->ops->kind, k) == 0;
}

/* The table of a From(table) (a full scan; NULL for anything else, a key
 * or index range given by the plan's author too). */
static const pb_table_def *table_scan_def(const pb_plan *n) {
  if (!n || !kind_is(n, "TableScan")) return NULL;
  return pb__from_table_def(n);
}

/* --- Fields and values --- */

static const pb_record_field *field_of(const pb_table_def *def, uint32_t tag) {
  const pb_record_type *t = def->type;
  for (size_t i = 0; i < t->n_fields; i++)
    if (t->fields[i].tag == tag) return &t->fields[i];
  return NULL;
}

/* The field of the primary key (NULL: keyless). */
static const pb_record_field *key_field(const pb_table_def *def) {
  if (!def->key) return NULL;
  const pb_record_type *t = def->type;
  for (size_t i = 0; i < t->n_fields; i++)
    if (t->fields[i].flags & PB_FIELD_KEY) return &t->fields[i];
  return NULL;
}

static pb_qtype field_qtype(const pb_record_field *f) {
  switch ((pb_ctype)f->ctype) {
  case PB_CTYPE_BOOL: return PB_QBOOL;
  case PB_CTYPE_I8: case PB_CTYPE_I16: case PB_CTYPE_I32:
  case PB_CTYPE_I64: case PB_CTYPE_ENUM: return PB_QINT;
  case PB_CTYPE_U8: case PB_CTYPE_U16: case PB_CTYPE_U32:
  case PB_CTYPE_U64: return PB_QUINT;
  case PB_CTYPE_F32: case PB_CTYPE_F64: return PB_QFLOAT;
  case PB_CTYPE_STR: return PB_QSTR;
  case PB_CTYPE_BYTES: return PB_QBYTES;
  default: return PB_QNULL;
  }
}

/* The constant v as a value of field f's own type, exactly equal to it
 * (an INT, UINT or integral FLOAT for an integer field within its width;
 * a number a float field holds exactly; the same type otherwise), so
 * that a key range over it selects what the comparison does; false when
 * there is none (then the term is left to the residual). */
static bool conv(const pb_record_field *f, const pb_qval *v, pb_qval *out) {
  pb_qtype t = field_qtype(f);
  if (t == PB_QNULL || v->type == PB_QNULL) return false;
  if (t == PB_QINT || t == PB_QUINT) {
    bool neg;
    uint64_t mag; /* |v| */
    if (v->type == PB_QINT) {
      neg = v->as.i < 0;
      mag = neg ? (uint64_t)0 - (uint64_t)v->as.i : (uint64_t)v->as.i;
    } else if (v->type == PB_QUINT) {
      neg = false;
      mag = v->as.u;
    } else if (v->type == PB_QFLOAT) {
      double d = v->as.f;
      if (d != d) return false; /* NaN */
      if (d >= 18446744073709551616.0 || d < -9223372036854775808.0)
        return false;
      neg = d < 0;
      double a = neg ? -d : d;
      mag = (uint64_t)a;
      if ((double)mag != a) return false; /* a fraction */
    } else {
      return false;
    }
    uint64_t max_pos, max_neg = 0; /* the field's range: -max_neg..max_pos */
    switch ((pb_ctype)f->ctype) {
    case PB_CTYPE_I8: max_pos = INT8_MAX, max_neg = 128; break;
    case PB_CTYPE_I16: max_pos = INT16_MAX, max_neg = 32768; break;
    case PB_CTYPE_I32: case PB_CTYPE_ENUM:
      max_pos = INT32_MAX, max_neg = 2147483648u;
      break;
    case PB_CTYPE_I64: max_pos = INT64_MAX, max_neg = (uint64_t)1 << 63; break;
    case PB_CTYPE_U8: max_pos = UINT8_MAX; break;
    case PB_CTYPE_U16: max_pos = UINT16_MAX; break;
    case PB_CTYPE_U32: max_pos = UINT32_MAX; break;
    default: max_pos = UINT64_MAX; break;
    }
    if (neg ? mag > max_neg : mag > max_pos) return false;
    if (t == PB_QINT)
      *out = pb_qint(neg ? (int64_t)((uint64_t)0 - mag) : (int64_t)mag);
    else
      *out = pb_quint(mag);
    return true;
  }
  if (t == PB_QFLOAT) {
    double d;
    if (v->type == PB_QFLOAT) {
      d = v->as.f;
    } else if (v->type == PB_QINT) {
      d = (double)v->as.i;
      if (d >= 9223372036854775808.0 || (int64_t)d != v->as.i) return false;
    } else if (v->type == PB_QUINT) {
      d = (double)v->as.u;
      if (d >= 18446744073709551616.0 || (uint64_t)d != v->as.u) return false;
    } else {
      return false;
    }
    if (d != d) return false; /* NaN orders differently */
    if (f->ctype == PB_CTYPE_F32 && (double)(float)d != d) return false;
    *out = pb_qfloat(d);
    return true;
  }
  if (v->type != t) return false;
  *out = *v;
  return true;
}

/* --- Terms --- */

typedef enum term_kind {
  T_OTHER = 0,  /* not sargable */
  T_CMP = 1,    /* lo and/or hi (an equality: both, inclusive, equal) */
  T_IN = 2,     /* vals */
  T_NULL = 3,   /* IS NULL on an optional field */
  T_OR = 4      /* an OR */
} term_kind;

typedef struct term {
  pb_expr *e;          /* the conjunct, inside its Where's predicate */
  term_kind kind;
  uint32_t tag;        /* the field */
  const pb_record_field *f;
  bool has_lo, has_hi; /* T_CMP */
  bool lo_excl, hi_excl;
  pb_qval lo, hi;
  bool eq;             /* T_CMP: an equality */
  const pb_qval *vals; /* T_IN: its values of the field's type, no NULL */
  size_t n_vals;
  pb_qval *in_buf;     /* owns them */
  bool prefix;         /* T_CMP from a string prefix */
  pb_qval succ;        /* its upper end (owned buffer `succ_buf`) */
  uint8_t *succ_buf;
} term;

typedef struct terms {
  term *v;
  size_t n, cap;
} terms;

static void terms_free(terms *t) {
  for (size_t i = 0; i < t->n; i++) {
    free(t->v[i].succ_buf);
    free(t->v[i].in_buf);
  }
  free(t->v);
  t->v = NULL;
  t->n = t->cap = 0;
}

static term *terms_push(terms *t) {
  if (t->n == t->cap) {
    size_t cap = t->cap ? 2 * t->cap : 8;
    term *nv = realloc(t->v, cap * sizeof *nv);
    if (!nv) return NULL;
    t->v = nv;
    t->cap = cap;
  }
  term *r = &t->v[t->n++];
  memset(r, 0, sizeof *r);
  return r;
}

static bool is_field0(const pb_expr *e) {
  return e && e->kind == PB__E_FIELD && e->src == 0 && e->field;
}

static bool is_const(const pb_expr *e) {
  return e && e->kind == PB__E_CONST;
}

/*
 * The smallest string above every string that starts with p (bytewise),
 * as valid UTF-8 when p is (the last code point incremented, dropping
 * those that cannot be); *has false when there is none (p empty or made
 * of U+10FFFF only).  BYTES: the last byte below 0xFF incremented.
 */
static int prefix_succ(const pb_qval *p, term *t) {
  size_t len = p->as.s.len;
  const uint8_t *s = p->as.s.ptr;
  t->has_hi = false;
  if (len == 0) return PB_OK;
  uint8_t *buf = malloc(len + 4);
  if (!buf) return PB_ENOMEM;
  memcpy(buf, s, len);
  if (p->type == PB_QBYTES) {
    while (len > 0 && buf[len - 1] == 0xFF) len--;
    if (len == 0) {
      free(buf);
      return PB_OK;
    }
    buf[len - 1]++;
  } else {
    for (;;) {
      if (len == 0) {
        free(buf);
        return PB_OK;
      }
      /* the last code point: its start, then its value */
      size_t st = len - 1;
      while (st > 0 && (buf[st] & 0xC0) == 0x80) st--;
      uint32_t cp;
      size_t cl = len - st;
      if (cl == 1) cp = buf[st];
      else if (cl == 2) cp = ((buf[st] & 0x1Fu) << 6) | (buf[st + 1] & 0x3Fu);
      else if (cl == 3)
        cp = ((buf[st] & 0x0Fu) << 12) | ((buf[st + 1] & 0x3Fu) << 6) |
             (buf[st + 2] & 0x3Fu);
      else if (cl == 4)
        cp = ((buf[st] & 0x07u) << 18) | ((buf[st + 1] & 0x3Fu) << 12) |
             ((buf[st + 2] & 0x3Fu) << 6) | (buf[st + 3] & 0x3Fu);
      else {
        free(buf); /* not UTF-8: not sargable */
        t->kind = T_OTHER;
        t->prefix = false;
        return PB_OK;
      }
      len = st;
      if (cp >= 0x10FFFF) continue; /* drop it, increment the one before */
      cp++;
      if (cp == 0xD800) cp = 0xE000; /* skip the surrogates */
      if (cp < 0x80) {
        buf[len++] = (uint8_t)cp;
      } else if (cp < 0x800) {
        buf[len++] = (uint8_t)(0xC0 | (cp >> 6));
        buf[len++] = (uint8_t)(0x80 | (cp & 0x3F));
      } else if (cp < 0x10000) {
        buf[len++] = (uint8_t)(0xE0 | (cp >> 12));
        buf[len++] = (uint8_t)(0x80 | ((cp >> 6) & 0x3F));
        buf[len++] = (uint8_t)(0x80 | (cp & 0x3F));
      } else {
        buf[len++] = (uint8_t)(0xF0 | (cp >> 18));
        buf[len++] = (uint8_t)(0x80 | ((cp >> 12) & 0x3F));
        buf[len++] = (uint8_t)(0x80 | ((cp >> 6) & 0x3F));
        buf[len++] = (uint8_t)(0x80 | (cp & 0x3F));
      }
      break;
    }
  }
  t->succ_buf = buf;
  t->succ.type = p->type;
  t->succ.as.s.ptr = buf;
  t->succ.as.s.len = len;
  t->hi = t->succ;
  t->has_hi = true;
  t->hi_excl = true;
  return PB_OK;
}

/* Classifies conjunct e of a predicate over def's rows into *t. */
static int classify(const pb_table_def *def, pb_expr *e, term *t) {
  t->e = e;
  t->kind = T_OTHER;
  const pb_expr *fe = NULL;
  switch (e->kind) {
  case PB__E_OR:
    t->kind = T_OR;
    return PB_OK;
  case PB__E_CMP: {
    const pb_expr *ce;
    pb_cmp op = e->op;
    if (is_field0(e->a) && is_const(e->b)) {
      fe = e->a;
      ce = e->b;
    } else if (is_field0(e->b) && is_const(e->a)) {
      fe = e->b;
      ce = e->a;
      op = pb__cmp_flip(op);
    } else {
      return PB_OK;
    }
    pb_qval cv;
    if (!conv(fe->field, &ce->val, &cv)) return PB_OK;
    switch (op) {
    case PB_EQ:
      t->eq = t->has_lo = t->has_hi = true;
      t->lo = t->hi = cv;
      break;
    case PB_LT: case PB_LE:
      t->has_hi = true;
      t->hi = cv;
      t->hi_excl = op == PB_LT;
      break;
    case PB_GT: case PB_GE:
      t->has_lo = true;
      t->lo = cv;
      t->lo_excl = op == PB_GT;
      break;
    default:
      return PB_OK; /* NE */
    }
    t->kind = T_CMP;
    break;
  }
  case PB__E_BETWEEN:
    if (!is_field0(e->a) || !is_const(e->b) || !is_const(e->c)) return PB_OK;
    fe = e->a;
    if (!conv(fe->field, &e->b->val, &t->lo) ||
        !conv(fe->field, &e->c->val, &t->hi))
      return PB_OK;
    if (pb__qval_cmp(&t->lo, &t->hi) > 0) return PB_OK; /* empty */
    t->kind = T_CMP;
    t->has_lo = t->has_hi = true;
    t->lo_excl = (e->flags & PB_BETWEEN_LO_EXCL) != 0;
    t->hi_excl = (e->flags & PB_BETWEEN_HI_EXCL) != 0;
    break;
  case PB__E_IN:
    if (!is_field0(e->a) || e->n_vals == 0 || e->n_vals > OPT_MAX_IN)
      return PB_OK;
    fe = e->a;
    /* the values of the field's type (NULLs, which equal nothing, out) */
    t->in_buf = malloc(e->n_vals * sizeof *t->in_buf);
    if (!t->in_buf) return PB_ENOMEM;
    for (size_t i = 0; i < e->n_vals; i++) {
      if (e->vals[i].type == PB_QNULL) continue;
      if (!conv(fe->field, &e->vals[i], &t->in_buf[t->n_vals])) {
        t->n_vals = 0;
        return PB_OK;
      }
      t->n_vals++;
    }
    if (t->n_vals == 0) return PB_OK; /* never TRUE: left to the Where */
    t->kind = T_IN;
    t->vals = t->in_buf;
    break;
  case PB__E_PREFIX: {
    if (!is_field0(e->a)) return PB_OK;
    fe = e->a;
    pb_qval cv;
    if (!conv(fe->field, &e->val, &cv)) return PB_OK;
    if (e->val.as.s.len == 0) return PB_OK; /* every value: IS NOT NULL */
    t->kind = T_CMP;
    t->prefix = true;
    int rc = prefix_succ(&e->val, t);
    if (rc != PB_OK || t->kind != T_CMP) return rc;
    t->has_lo = true;
    t->lo = e->val;
    break;
  }
  case PB__E_ISNULL:
    if (!is_field0(e->a) || !(e->a->field->flags & PB_FIELD_OPTIONAL))
      return PB_OK;
    fe = e->a;
    t->kind = T_NULL;
    break;
  default:
    return PB_OK;
  }
  t->f = fe->field;
  t->tag = fe->field->tag;
  (void)def;
  return PB_OK;
}

/* Appends the leaves of e's AND tree to out, classified. */
static int collect(const pb_table_def *def, pb_expr *e, terms *out) {
  if (e->kind == PB__E_AND) {
    int rc = collect(def, e->a, out);
    return rc == PB_OK ? collect(def, e->b, out) : rc;
  }
  term *t = terms_push(out);
  if (!t) return PB_ENOMEM;
  return classify(def, e, t);
}

/* --- Candidate paths --- */

typedef struct cand {
  path_kind kind;  /* PATH_TABLE (nothing better), PATH_KEY, PATH_INDEX */
  size_t index;
  size_t n_fields; /* fields of the path's order (1 for the key) */
  size_t n_eq;     /* leading fields fixed by equality (or IS NULL) */
  pb_qval eqv[OPT_MAX_FIELDS];
  const term *in;  /* an IN on field in_pos < n_eq (fixed per scan) */
  size_t in_pos;
  bool has_lo, has_hi, lo_excl, hi_excl; /* the range on the next field */
  pb_qval lo, hi;
  size_t used[OPT_MAX_USED]; /* terms answered exactly */
  size_t n_used;
  double est;  /* rows */
  double cost; /* rows read, an index row counting 2 */
} cand;

/* Whether a's bound is tighter than b's: for a lower end the larger
 * value (exclusive above inclusive at one value); for an upper end the
 * smaller. */
static bool tighter(const pb_qval *a, bool a_excl, const pb_qval *b,
                    bool b_excl, bool lower) {
  int c = pb__qval_cmp(a, b);
  if (c == 0) return a_excl && !b_excl;
  return lower ? c > 0 : c < 0;
}

/* sqrt(x) for x >= 0, by Newton's method (the runtime does not link
 * libm); estimates need no more than a few digits. */
static double opt_sqrt(double x) {
  if (x <= 0) return 0;
  double r = x > 1 ? x / 2 : 1;
  for (int i = 0; i < 64; i++) {
    double nr = 0.5 * (r + x / r);
    if (nr == r) break;
    r = nr;
  }
  return r;
}

static double eq_sel(double n) { return n > 1 ? 1.0 / opt_sqrt(n) : 1.0; }

/* The best range of the primary key (index == SIZE_MAX) or of index
 * `index` from the terms ts[0..n) (those of kind T_OR are skipped). */
static void cand_for(const pb_table_def *def, double n_rows, size_t index,
                     const term *ts, size_t n, cand *c) {
  memset(c, 0, sizeof *c);
  const uint32_t *tags;
  size_t n_tags;
  uint32_t key_tag;
  bool unique;
  if (index == SIZE_MAX) {
    const pb_record_field *kf = key_field(def);
    if (!kf) {
      c->kind = PATH_NONE;
      return;
    }
    key_tag = kf->tag;
    tags = &key_tag;
    n_tags = 1;
    unique = true;
    c->kind = PATH_KEY;
  } else {
    const pb_table_index *ix = &def->indexes[index];
    tags = ix->tags;
    n_tags = ix->n_tags < OPT_MAX_FIELDS ? ix->n_tags : OPT_MAX_FIELDS;
    unique = (ix->flags & PB_INDEX_UNIQUE) && n_tags == ix->n_tags;
    c->kind = PATH_INDEX;
    c->index = index;
  }
  c->n_fields = n_tags;
  double sel = 1.0, mult = 1.0;
  size_t j = 0;
  for (; j < n_tags; j++) {
    size_t hit = SIZE_MAX;
    for (size_t i = 0; i < n && hit == SIZE_MAX; i++)
      if (ts[i].tag == tags[j] &&
          ((ts[i].kind == T_CMP && ts[i].eq) || ts[i].kind == T_NULL))
        hit = i;
    if (hit != SIZE_MAX) {
      c->eqv[j] = ts[hit].kind == T_NULL ? pb_qnull() : ts[hit].lo;
      c->used[c->n_used++] = hit; /* n_used <= j < OPT_MAX_USED */
      sel *= ts[hit].kind == T_NULL ? 0.1 : eq_sel(n_rows);
      continue;
    }
    if (!c->in) {
      for (size_t i = 0; i < n && hit == SIZE_MAX; i++)
        if (ts[i].tag == tags[j] && ts[i].kind == T_IN) hit = i;
      if (hit != SIZE_MAX) {
        c->in = &ts[hit];
        c->in_pos = j;
        c->used[c->n_used++] = hit;
        sel *= eq_sel(n_rows);
        mult = (double)ts[hit].n_vals;
        continue;
      }
    }
    break;
  }
  c->n_eq = j;
  if (j == n_tags && unique) {
    /* one row at most (per value of an IN) */
    c->est = n_rows < mult ? n_rows : mult;
    c->cost = (c->kind == PATH_KEY ? 1 : 2) * mult;
    return;
  }
  if (j < n_tags) {
    /* the tightest bounds on field j */
    size_t lo_t = SIZE_MAX, hi_t = SIZE_MAX;
    for (size_t i = 0; i < n; i++) {
      const term *t = &ts[i];
      if (t->tag != tags[j] || t->kind != T_CMP) continue;
      if (t->has_lo && (lo_t == SIZE_MAX ||
                        tighter(&t->lo, t->lo_excl, &c->lo, c->lo_excl, true))) {
        lo_t = i;
        c->has_lo = true;
        c->lo = t->lo;
        c->lo_excl = t->lo_excl;
      }
      if (t->has_hi && (hi_t == SIZE_MAX ||
                        tighter(&t->hi, t->hi_excl, &c->hi, c->hi_excl, false))) {
        hi_t = i;
        c->has_hi = true;
        c->hi = t->hi;
        c->hi_excl = t->hi_excl;
      }
    }
    const pb_record_field *f = field_of(def, tags[j]);
    bool optional = f && (f->flags & PB_FIELD_OPTIONAL);
    if (optional && !c->has_lo && c->has_hi) {
      /* start after the absent values, which sort first */
      c->has_lo = true;
      c->lo = pb_qnull();
      c->lo_excl = true;
      lo_t = SIZE_MAX - 1; /* no term's */
    }
    /* A term is answered when the range's bounds are at least as tight
     * as each bound it has (the range's own terms, and the looser ones on
     * the same field).  Over an optional field the range starts after
     * the absent values (above), or a term with no lower end would let
     * them in. */
    for (size_t i = 0; i < n; i++) {
      const term *t = &ts[i];
      if (t->tag != tags[j] || t->kind != T_CMP) continue;
      bool ok = (!t->has_lo ||
                 (c->has_lo && !tighter(&t->lo, t->lo_excl, &c->lo,
                                        c->lo_excl, true))) &&
                (!t->has_hi ||
                 (c->has_hi && !tighter(&t->hi, t->hi_excl, &c->hi,
                                        c->hi_excl, false)));
      if (optional && !c->has_lo) ok = false;
      if (ok && c->n_used < OPT_MAX_USED) c->used[c->n_used++] = i;
    }
    if (c->has_lo && c->has_hi) {
      bool pre = lo_t == hi_t && lo_t < n && ts[lo_t].prefix;
      sel *= pre ? 0.1 : 1.0 / 9;
    } else if (c->has_lo || c->has_hi) {
      sel *= 1.0 / 3;
    }
  }
  c->est = n_rows * sel * mult;
  if (c->est > n_rows) c->est = n_rows;
  if (c->n_eq == 0 && !c->has_lo && !c->has_hi) c->est = n_rows;
  c->cost = c->kind == PATH_KEY ? c->est : 2 * c->est;
  if (c->n_eq > 0 || c->has_lo || c->has_hi) c->cost += 1;
}

/* The best path for the terms: a key or index range, or PATH_TABLE. */
static int best_for(opt_ctx *ctx, pb_txn *txn, const pb_table_def *def,
                    double n_rows, const term *ts, size_t n, cand *best) {
  memset(best, 0, sizeof *best);
  best->kind = PATH_TABLE;
  best->est = n_rows;
  best->cost = n_rows;
  cand c;
  for (size_t ix = 0; ix <= def->n_indexes; ix++) {
    size_t index = ix == 0 ? SIZE_MAX : ix - 1;
    cand_for(def, n_rows, index, ts, n, &c);
    if (c.kind == PATH_NONE) continue;
    if (c.n_eq == 0 && !c.has_lo && !c.has_hi) continue;
    if (c.cost < best->cost ||
        (c.cost == best->cost && best->kind != PATH_TABLE &&
         c.n_used > best->n_used)) {
      bool ok = true;
      if (index != SIZE_MAX) {
        int rc = index_usable(ctx, txn, def, index, &ok);
        if (rc != PB_OK) return rc;
      }
      if (ok) *best = c;
    }
  }
  return PB_OK;
}

/* --- Building scans --- */

/* Fills lo/hi/flags of the scan of candidate c, with field n_eq (an IN's)
 * fixed to `inv` when c->in. */
static void cand_bounds(const cand *c, const pb_qval *inv, path_info *p) {
  size_t k = c->n_eq;
  for (size_t j = 0; j < k; j++) p->lo[j] = p->hi[j] = c->eqv[j];
  if (c->in) {
    assert(c->in_pos < k); /* c->n_eq counts the IN's field */
    p->lo[c->in_pos] = p->hi[c->in_pos] = *inv;
  }
  p->flags = 0;
  p->n_lo = p->n_hi = k;
  if (c->has_lo) {
    p->lo[k] = c->lo;
    p->n_lo = k + 1;
    if (c->lo_excl) p->flags |= PB_SCAN_LO_EXCL;
  }
  if (c->has_hi) {
    p->hi[k] = c->hi;
    p->n_hi = k + 1;
    if (!c->hi_excl) p->flags |= PB_SCAN_HI_INCL;
  } else if (k > 0) {
    p->flags |= PB_SCAN_HI_INCL; /* every entry that starts with them */
  }
}

/* Builds the scan of p into p->node, with estimate est; `reg`: recorded
 * among the paths (a scan whose order may be used). */
static int build_scan(opt_ctx *ctx, pb_txn *txn, path_info *p, double est,
                      bool reg) {
  int rc = PB_OK;
  pb_plan *node = NULL;
  for (size_t i = 0; i < p->n_lo && rc == PB_OK; i++)
    rc = ctx_keep(ctx, &p->lo[i]);
  for (size_t i = 0; i < p->n_hi && rc == PB_OK; i++)
    rc = ctx_keep(ctx, &p->hi[i]);
  if (rc != PB_OK) return rc;
  unsigned flags = p->flags | (p->reverse ? PB_SCAN_REVERSE : 0);
  if (p->kind == PATH_KEY)
    rc = pb__from_key_node(txn, p->def, p->lo, p->n_lo, p->hi, p->n_hi,
                           flags, &node);
  else
    rc = pb__from_index_node(txn, p->def, p->index, p->lo, p->n_lo, p->hi,
                             p->n_hi, flags, &node);
  if (rc != PB_OK) return rc;
  node->est = est;
  p->node = node;
  if (!reg) return PB_OK;
  rc = path_add(ctx, p);
  if (rc != PB_OK) {
    pb__plan_node_free(node);
    p->node = NULL;
  }
  return rc;
}

/* The values of an IN, without NULLs and repeats (they would give a row
 * twice), in *out (malloc'ed). */
static int in_values(const term *t, pb_qval **out, size_t *n_out) {
  pb_qval *v = malloc((t->n_vals ? t->n_vals : 1) * sizeof *v);
  if (!v) return PB_ENOMEM;
  size_t n = 0;
  for (size_t i = 0; i < t->n_vals; i++) {
    if (t->vals[i].type == PB_QNULL) continue;
    bool dup = false;
    for (size_t j = 0; j < n && !dup; j++)
      dup = pb__qval_cmp(&v[j], &t->vals[i]) == 0;
    if (!dup) v[n++] = t->vals[i];
  }
  *out = v;
  *n_out = n;
  return PB_OK;
}

/* Builds the scans of candidate c into scans[*n_scans...] (one, or one
 * per IN value), each with group `group`. */
static int build_cand(opt_ctx *ctx, pb_txn *txn, const pb_table_def *def,
                      const cand *c, pb_plan **scans, unsigned *groups,
                      size_t *n_scans, size_t max, unsigned group, bool reg) {
  path_info p;
  memset(&p, 0, sizeof p);
  p.kind = c->kind;
  p.def = def;
  p.index = c->index;
  p.n_eq = c->n_eq;
  if (!c->in) {
    if (*n_scans >= max) return PB_EINVAL;
    cand_bounds(c, NULL, &p);
    int rc = build_scan(ctx, txn, &p, c->est, reg);
    if (rc != PB_OK) return rc;
    groups[*n_scans] = group;
    scans[(*n_scans)++] = p.node;
    return PB_OK;
  }
  pb_qval *vals;
  size_t n_vals;
  int rc = in_values(c->in, &vals, &n_vals);
  if (rc != PB_OK) return rc;
  double est = n_vals ? c->est / (double)n_vals : 0;
  for (size_t i = 0; i < n_vals && rc == PB_OK; i++) {
    if (*n_scans >= max) {
      rc = PB_EINVAL;
      break;
    }
    cand_bounds(c, &vals[i], &p);
    rc = build_scan(ctx, txn, &p, est, false);
    if (rc == PB_OK) {
      groups[*n_scans] = group;
      scans[(*n_scans)++] = p.node;
    }
  }
  free(vals);
  return rc;
}

/* --- Residuals --- */

/* Makes e (a conjunct inside a predicate) the constant TRUE. */
static int expr_make_true(pb_expr *e) {
  pb_expr *t = pb_expr_const(pb_qbool(true));
  if (!t) return PB_ENOMEM;
  t->type = PB_QBOOL;
  pb_expr tmp = *e;
  *e = *t;
  *t = tmp;
  pb_expr_free(t); /* the conjunct's old contents */
  return PB_OK;
}

static bool expr_is_true(const pb_expr *e) {
  return e->kind == PB__E_CONST && e->val.type == PB_QBOOL && e->val.as.b;
}

/* Folds AND(TRUE, x) and AND(x, TRUE) into x, in place. */
static void expr_fold(pb_expr *e) {
  if (e->kind != PB__E_AND) return;
  expr_fold(e->a);
  expr_fold(e->b);
  pb_expr *keep = expr_is_true(e->a) ? e->b : expr_is_true(e->b) ? e->a : NULL;
  if (!keep) return;
  /* e takes keep's contents; keep takes the AND's, minus keep itself */
  pb_expr tmp = *e;
  *e = *keep;
  *keep = tmp;
  if (keep->a == keep) keep->a = NULL;
  if (keep->b == keep) keep->b = NULL;
  pb_expr_free(keep);
}

/* The selectivity of a residual predicate, for estimates. */
static double pred_sel(const pb_expr *e) {
  if (!e) return 1.0;
  switch (e->kind) {
  case PB__E_AND: return pred_sel(e->a) * pred_sel(e->b);
  case PB__E_OR: {
    double s = pred_sel(e->a) + pred_sel(e->b);
    return s > 1 ? 1 : s;
  }
  case PB__E_CONST:
    return e->val.type == PB_QBOOL && !e->val.as.b ? 0 : 1;
  case PB__E_CMP: return e->op == PB_EQ ? 0.1 : e->op == PB_NE ? 0.9 : 1.0 / 3;
  case PB__E_BETWEEN: return 1.0 / 9;
  case PB__E_IN:
    return e->n_vals > 10 ? 1.0 : 0.1 * (double)e->n_vals;
  case PB__E_ISNULL: case PB__E_PREFIX: return 0.1;
  case PB__E_NOT: return 1 - pred_sel(e->a);
  default: return 1.0 / 3;
  }
}

/* The rows a Where with predicate p keeps of `in` rows: at least one
 * when there is one (a guess of 0.2 rows would print as none). */
static double est_where(double in, const pb_expr *p) {
  double e = in * pred_sel(p);
  return e < 1 && in >= 1 ? 1 : e;
}

/* --- Where over From(table) --- */

#define MAX_CHAIN 32

/* The leaves of e's OR tree, left to right, into out[0..*n); false when
 * there are more than OPT_MAX_BRANCHES. */
static bool disjuncts(pb_expr *e, pb_expr **out, size_t *n) {
  if (e->kind == PB__E_OR)
    return disjuncts(e->a, out, n) && disjuncts(e->b, out, n);
  if (*n >= OPT_MAX_BRANCHES) return false;
  out[(*n)++] = e;
  return true;
}

/*
 * *slot is a Where.  If the Wheres under it end in a From(table), chooses
 * the access path of their conjuncts and rewrites the chain; *done true.
 * Otherwise *done false and nothing changes.
 */
static int opt_where_chain(opt_ctx *ctx, pb_plan **slot, bool *done) {
  pb_plan *ws[MAX_CHAIN];
  pb_plan **slots[MAX_CHAIN];
  size_t nw = 0;
  pb_plan **s = slot;
  *done = false;
  while (*s && pb__where_pred(*s) && nw < MAX_CHAIN) {
    slots[nw] = s;
    ws[nw++] = *s;
    s = &(*s)->kid[0];
  }
  pb_plan *from = *s;
  const pb_table_def *def = table_scan_def(from);
  if (!def) return PB_OK;
  *done = true;
  uint64_t count = 0;
  int rc = pb_table_count(from->txn, def, &count);
  if (rc != PB_OK) return rc;
  double n_rows = (double)count;
  from->est = n_rows;
  path_info tp;
  memset(&tp, 0, sizeof tp);
  tp.node = from;
  tp.kind = PATH_TABLE;
  tp.def = def;
  rc = path_add(ctx, &tp);
  if (rc != PB_OK) return rc;

  terms ts = {0};
  for (size_t i = 0; i < nw && rc == PB_OK; i++)
    rc = collect(def, pb__where_pred(ws[i]), &ts);
  pb_plan *scans[OPT_MAX_BRANCHES];
  unsigned groups[OPT_MAX_BRANCHES];
  pb_expr *preds[OPT_MAX_BRANCHES];
  size_t n_scans = 0, n_groups = 0;
  cand best;
  if (rc != PB_OK) goto done;
  rc = best_for(ctx, from->txn, def, n_rows, ts.v, ts.n, &best);
  if (rc != PB_OK) goto done;

  /* An OR conjunct whose every branch has a path: a Union. */
  size_t or_term = SIZE_MAX;
  double or_cost = best.cost, or_est = 0;
  for (size_t i = 0; i < ts.n; i++) {
    if (ts.v[i].kind != T_OR) continue;
    pb_expr *disj[OPT_MAX_BRANCHES];
    size_t nd = 0;
    if (!disjuncts(ts.v[i].e, disj, &nd)) continue;
    double cost = 0, est = 0;
    bool ok = true;
    for (size_t d = 0; d < nd && ok; d++) {
      terms dt = {0};
      rc = collect(def, disj[d], &dt);
      cand dc;
      if (rc == PB_OK)
        rc = best_for(ctx, from->txn, def, n_rows, dt.v, dt.n, &dc);
      terms_free(&dt);
      if (rc != PB_OK) goto done;
      if (dc.kind == PATH_TABLE) ok = false;
      cost += dc.cost;
      est += dc.est;
    }
    if (ok && cost < or_cost) {
      or_cost = cost;
      or_est = est > n_rows ? n_rows : est;
      or_term = i;
    }
  }

  if (or_term == SIZE_MAX && best.kind == PATH_TABLE) goto done;
  pb_plan *fresh = NULL;
  if (or_term == SIZE_MAX && !best.in) {
    rc = build_cand(ctx, from->txn, def, &best, scans, groups, &n_scans,
                    OPT_MAX_BRANCHES, 0, true);
    if (rc != PB_OK) goto fallback;
    fresh = scans[0];
    n_scans = 0;
  } else {
    if (or_term == SIZE_MAX) {
      /* an IN: one scan per value; the values are distinct, so the
       * ranges are disjoint and the union checks nothing */
      rc = build_cand(ctx, from->txn, def, &best, scans, groups, &n_scans,
                      OPT_MAX_BRANCHES, 0, false);
      if (rc != PB_OK) goto fallback;
      preds[0] = NULL;
      n_groups = 1;
    } else {
      /* an OR: each disjunct's path (its group); a row is given by the
       * first disjunct that is TRUE on it */
      pb_expr *disj[OPT_MAX_BRANCHES];
      size_t nd = 0;
      disjuncts(ts.v[or_term].e, disj, &nd);
      for (size_t d = 0; d < nd; d++) {
        terms dt = {0};
        cand dc;
        rc = collect(def, disj[d], &dt);
        if (rc == PB_OK)
          rc = best_for(ctx, from->txn, def, n_rows, dt.v, dt.n, &dc);
        if (rc == PB_OK) {
          assert(dc.kind != PATH_TABLE); /* as when it was chosen */
          preds[n_groups] = pb__expr_copy(disj[d]);
          if (!preds[n_groups]) rc = PB_ENOMEM;
          else n_groups++;
        }
        if (rc == PB_OK)
          rc = build_cand(ctx, from->txn, def, &dc, scans, groups, &n_scans,
                          OPT_MAX_BRANCHES, (unsigned)(n_groups - 1), false);
        terms_free(&dt);
        if (rc != PB_OK) goto fallback;
      }
    }
    rc = pb__union_node(from->txn, &from->shape, scans, groups, n_scans,
                        preds, n_groups, &fresh);
    n_scans = n_groups = 0; /* given, also on failure */
    if (rc != PB_OK) goto fallback;
    fresh->est = or_term == SIZE_MAX ? best.est : or_est;
    path_info up;
    memset(&up, 0, sizeof up);
    up.node = fresh;
    up.kind = PATH_UNION;
    up.def = def;
    rc = path_add(ctx, &up);
    if (rc != PB_OK) {
      pb__plan_node_free(fresh);
      goto done;
    }
  }
  /* the From becomes the scan */
  for (size_t i = 0; i < ctx->n_paths; i++)
    if (ctx->paths[i].node == from) ctx->paths[i].node = NULL;
  replace_leaf(ctx, s, fresh);
  /* the terms a single range answers leave the residual; so does the OR
   * a Union answers (it gives exactly the rows one of its disjuncts is
   * TRUE on) */
  if (or_term == SIZE_MAX) {
    for (size_t u = 0; u < best.n_used && rc == PB_OK; u++)
      rc = expr_make_true(ts.v[best.used[u]].e);
  } else {
    rc = expr_make_true(ts.v[or_term].e);
  }
  if (rc != PB_OK) goto done;
  for (size_t i = 0; i < nw; i++) expr_fold(pb__where_pred(ws[i]));
  /* estimates, bottom up; Wheres left with TRUE go */
  double est = (*s)->est;
  for (size_t i = nw; i-- > 0;) {
    pb_expr *p = pb__where_pred(ws[i]);
    if (expr_is_true(p)) {
      unlink_node(ctx, slots[i]);
      continue;
    }
    est = est_where(est, p);
    ws[i]->est = est;
  }
  goto done;

fallback:
  /* a scan that could not be built: the full scan stays (out of memory
   * is an error) */
  for (size_t i = 0; i < ctx->n_paths; i++)
    for (size_t j = 0; j < n_scans; j++)
      if (ctx->paths[i].node == scans[j]) ctx->paths[i].node = NULL;
  for (size_t i = 0; i < n_scans; i++) pb__plan_node_free(scans[i]);
  for (size_t i = 0; i < n_groups; i++) pb_expr_free(preds[i]);
  if (rc != PB_ENOMEM) rc = PB_OK;
done:
  if (rc == PB_OK && (*slot) && pb__where_pred(*slot) &&
      (*slot)->est < 0) {
    /* unchanged chain: estimates over the full scan */
    double e = n_rows;
    for (size_t i = nw; i-- > 0;) {
      e = est_where(e, pb__where_pred(ws[i]));
      ws[i]->est = e;
    }
  }
  terms_free(&ts);
  return rc;
}

/* --- Order --- */

/* The node under a chain of Wheres (and their slots). */
static pb_plan **under_wheres(pb_plan **slot) {
  while (*slot && pb__where_pred(*slot)) slot = &(*slot)->kid[0];
  return slot;
}

/* Whether path p delivers the order of keys[0..n) (all of direction dir),
 * rows tied on every key coming in the path's order. */
static bool path_delivers(const path_info *p, const pb_sort_key *keys,
                          size_t n, unsigned dir) {
  if (p->kind == PATH_UNION || p->kind == PATH_NONE) return false;
  if (p->reverse != (dir == PB_DESC)) return false;
  uint32_t order[OPT_MAX_FIELDS + 1];
  size_t n_order = 0, n_fixed = 0;
  if (p->kind == PATH_INDEX) {
    const pb_table_index *ix = &p->def->indexes[p->index];
    for (size_t j = 0; j < ix->n_tags && j < OPT_MAX_FIELDS; j++)
      order[n_order++] = ix->tags[j];
    n_fixed = p->n_eq;
    if (ix->n_tags > OPT_MAX_FIELDS) n_order = OPT_MAX_FIELDS; /* a prefix */
  }
  const pb_record_field *kf = key_field(p->def);
  if (kf && (p->kind != PATH_INDEX ||
             p->def->indexes[p->index].n_tags <= OPT_MAX_FIELDS))
    order[n_order++] = kf->tag;
  size_t o = n_fixed;
  for (size_t i = 0; i < n; i++) {
    const pb_expr *e = keys[i].expr;
    if (!is_field0(e)) return false;
    pb_ctype ct = (pb_ctype)e->field->ctype;
    if (ct == PB_CTYPE_F32 || ct == PB_CTYPE_F64) return false;
    bool fixed = false;
    for (size_t j = 0; j < n_fixed; j++) fixed = fixed || order[j] == e->tag;
    if (fixed) continue; /* one value: any order */
    if (o < n_order && order[o] == e->tag) {
      o++;
      continue;
    }
    return false;
  }
  return true;
}

/* Rebuilds path p (a key or index range, or a full index scan) reversed. */
static int path_rebuild(opt_ctx *ctx, pb_plan **slot, path_info *p,
                        bool reverse) {
  path_info q = *p;
  q.reverse = reverse;
  int rc = build_scan(ctx, (*slot)->txn, &q, (*slot)->est, true);
  if (rc != PB_OK) return rc;
  pb_plan *fresh = path_find(ctx, q.node) ? q.node : NULL;
  assert(fresh);
  p = path_find(ctx, *slot);
  if (p) p->node = NULL;
  replace_leaf(ctx, slot, fresh);
  return PB_OK;
}

/* *slot is an OrderBy (already optimized under it).  `limited`: a Limit
 * stands above it. */
static int opt_order(opt_ctx *ctx, pb_plan **slot, bool limited) {
  pb_plan *n = *slot;
  size_t nk = 0;
  const pb_sort_key *keys = pb__sort_keys(n, &nk);
  if (!keys || nk == 0) return PB_OK;
  unsigned dir = keys[0].dir;
  for (size_t i = 1; i < nk; i++)
    if (keys[i].dir != dir) return PB_OK;
  pb_plan **ss = under_wheres(&n->kid[0]);
  if (!*ss) return PB_OK;
  path_info *p = path_find(ctx, *ss);
  if (!p) return PB_OK;
  path_info probe = *p;
  probe.reverse = dir == PB_DESC;
  int rc;
  if (p->kind == PATH_TABLE || p->kind == PATH_KEY || p->kind == PATH_INDEX) {
    if (path_delivers(&probe, keys, nk, dir)) {
      if (p->reverse != probe.reverse) {
        if (p->kind == PATH_TABLE) {
          /* a full scan, reversed: the key range with open ends */
          if (!key_field(p->def)) return PB_OK;
          path_info q;
          memset(&q, 0, sizeof q);
          q.kind = PATH_KEY;
          q.def = p->def;
          q.node = *ss;
          *p = q;
        }
        rc = path_rebuild(ctx, ss, p, probe.reverse);
        if (rc != PB_OK) return rc == PB_ENOMEM ? rc : PB_OK;
      }
      unlink_node(ctx, slot);
      return PB_OK;
    }
  }
  /* a full scan under a Limit: an index that delivers the order */
  if (p->kind != PATH_TABLE || !limited) return PB_OK;
  for (size_t ix = 0; ix < p->def->n_indexes; ix++) {
    path_info q;
    memset(&q, 0, sizeof q);
    q.kind = PATH_INDEX;
    q.def = p->def;
    q.index = ix;
    q.reverse = dir == PB_DESC;
    if (p->def->indexes[ix].n_tags > OPT_MAX_FIELDS) continue;
    if (!path_delivers(&q, keys, nk, dir)) continue;
    bool ok;
    rc = index_usable(ctx, (*ss)->txn, p->def, ix, &ok);
    if (rc != PB_OK) return rc;
    if (!ok) continue;
    rc = path_rebuild(ctx, ss, &q, q.reverse);
    if (rc != PB_OK) return rc == PB_ENOMEM ? rc : PB_OK;
    unlink_node(ctx, slot);
    return PB_OK;
  }
  return PB_OK;
}

/* --- The walk --- */

/* A Limit's count or an Offset's (false: not that node). */
static bool limit_of(const pb_plan *n, uint64_t *v) {
  return pb__limit_count(n, v);
}
static bool offset_of(const pb_plan *n, uint64_t *v) {
  return pb__offset_count(n, v);
}

/* A Limit over (Offsets, Selects) over an OrderBy: a top-N. */
static void push_limit(pb_plan *n, uint64_t limit) {
  uint64_t need = limit, v; /* rows needed from the node below */
  pb_plan *k = n->kid[0];
  while (k) {
    if (offset_of(k, &v)) {
      need = need + v < need ? UINT64_MAX : need + v;
    } else if (limit_of(k, &v)) {
      if (v < need) need = v;
    } else if (!kind_is(k, "Select")) {
      break;
    }
    k = k->kid[0];
  }
  if (!k || !pb__sort_keys(k, &(size_t){0})) return;
  if (need != UINT64_MAX) pb__sort_set_limit(k, need);
}

/* The rows of the table (or join) a plan reads, for a side's selectivity:
 * the est of the leaf under its one-input nodes. */
static double base_rows(const pb_plan *n) {
  while (n->kid[0] && !n->kid[1]) n = n->kid[0];
  return n->est;
}

static void estimate(pb_plan *n) {
  if (n->est >= 0) return;
  double a = n->kid[0] ? n->kid[0]->est : -1;
  double b = n->kid[1] ? n->kid[1]->est : -1;
  uint64_t v;
  if (n->kid[1]) {
    /* a join on a key (the usual one): the larger table's rows, times
     * the part of each side its filters keep */
    double ba = base_rows(n->kid[0]), bb = base_rows(n->kid[1]);
    if (a < 0 || b < 0 || ba <= 0 || bb <= 0)
      n->est = a > b ? a : b;
    else
      n->est = (ba > bb ? ba : bb) * (a / ba) * (b / bb);
  } else if (!n->kid[0]) {
    n->est = -1;
  } else if (a < 0) {
    n->est = -1;
  } else if (pb__where_pred(n)) {
    n->est = est_where(a, pb__where_pred(n));
  } else if (limit_of(n, &v)) {
    n->est = (double)v < a ? (double)v : a;
  } else if (offset_of(n, &v)) {
    n->est = a > (double)v ? a - (double)v : 0;
  } else if (kind_is(n, "GroupBy")) {
    n->est = a > 1 ? (double)(uint64_t)(opt_sqrt(a) + 0.5) : 1;
  } else {
    n->est = a;
  }
}

static int opt_node(opt_ctx *ctx, pb_plan **slot, bool limited) {
  pb_plan *n = *slot;
  if (!n) return PB_OK;
  int rc;
  bool opt = !pb__query_no_optimize;
  if (pb__where_pred(n)) {
    bool done = false;
    if (opt) {
      rc = opt_where_chain(ctx, slot, &done);
      if (rc != PB_OK || done) return rc;
    }
  }
  const pb_table_def *def = table_scan_def(n);
  if (def && opt) {
    uint64_t count;
    rc = pb_table_count(n->txn, def, &count);
    if (rc != PB_OK) return rc;
    n->est = (double)count;
    path_info tp;
    memset(&tp, 0, sizeof tp);
    tp.node = n;
    tp.kind = PATH_TABLE;
    tp.def = def;
    return path_add(ctx, &tp);
  }
  uint64_t v;
  bool is_limit = limit_of(n, &v);
  bool kid_limited =
      is_limit || (limited && (offset_of(n, &v) || kind_is(n, "Select") ||
                               pb__where_pred(n)));
  for (int k = 0; k < 2; k++) {
    rc = opt_node(ctx, &n->kid[k], k == 0 && kid_limited);
    if (rc != PB_OK) return rc;
  }
  if (n->kid[1]) {
    rc = pb__join_choose(n);
    if (rc != PB_OK) return rc;
    /* the join may have replaced its sides; no OrderBy above it looks
     * through it for a scan */
    ctx->n_paths = 0;
  }
  if (opt && pb__sort_keys(n, &(size_t){0})) {
    rc = opt_order(ctx, slot, limited);
    if (rc != PB_OK) return rc;
    n = *slot;
  }
  if (opt && limit_of(n, &v)) push_limit(n, v);
  if (opt) estimate(n);
  return PB_OK;
}

/* 5. PUSHDOWN (after every rewrite): each Where directly over a scan
 * gives its predicate to the scan (pb__where_push), and a top-N OrderBy
 * over a scan gives it its keys (pb__sort_gate). */
static int push_wheres(pb_plan *n) {
  if (!n) return PB_OK;
  for (int k = 0; k < 2; k++) {
    int rc = push_wheres(n->kid[k]);
    if (rc != PB_OK) return rc;
  }
  if (pb__where_pred(n)) return pb__where_push(n);
  return pb__sort_gate(n);
}

int pb__plan_optimize(pb_plan *root) {
  if (!root) return PB_EINVAL;
  opt_ctx ctx;
  memset(&ctx, 0, sizeof ctx);
  ctx.root = root;
  pb_plan *top = root;
  int rc = opt_node(&ctx, &top, false);
  assert(top == root);
  if (rc == PB_OK && !pb__query_no_optimize) rc = push_wheres(root);
  free(ctx.paths);
  for (size_t i = 0; i < ctx.n_bufs; i++) free(ctx.bufs[i]);
  free(ctx.bufs);
  return rc;
}
