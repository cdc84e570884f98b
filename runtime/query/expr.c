/*
 * query/expr.c - query expressions (protobase/query.h, "Expressions"):
 * the constructors, the build-time check against the shape of the rows a
 * node reads (query_int.h: pb__expr_check), evaluation with SQL's
 * three-valued logic, the readable form that explain and error details
 * print, and the value order and hash that sorting, grouping, distinct and
 * hash joins share.
 *
 * Constructors never fail but for memory: an argument they cannot use (an
 * IN list with a NULL array, a NULL callback, a bad type or flag) is kept
 * and refused by the check, with a detail, when the expression is given to
 * a plan.
 *
 * NUMBERS.  INT, UINT and FLOAT compare by their exact values, as SQLite
 * compares its integers with its reals: no conversion that rounds (an
 * int64 near 2^63 is not converted to a double to be compared with one).
 * A NaN (which SQLite would have stored as NULL) sorts after every other
 * number and equals itself, as the key codec orders it.
 */
#include <assert.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

#include "query/query_int.h"
#include "util/errdetail.h"

/* --- Constructors --- */

static pb_expr *enew(pb__ekind kind) {
  pb_expr *e = calloc(1, sizeof *e);
  if (e)
    e->kind = kind;
  return e;
}

/* A copy of v that owns its STR or BYTES bytes; false: out of memory.  A
 * view with a NULL pointer and a length is kept as it is (the check
 * refuses it). */
static bool val_own(pb_qval *dst, pb_qval v) {
  *dst = v;
  if ((v.type == PB_QSTR || v.type == PB_QBYTES) && v.as.s.ptr) {
    uint8_t *p = malloc(v.as.s.len ? v.as.s.len : 1);
    if (!p) {
      dst->type = PB_QNULL; /* owns nothing */
      return false;
    }
    memcpy(p, v.as.s.ptr, v.as.s.len);
    dst->as.s.ptr = p;
  }
  return true;
}

static void val_drop(pb_qval *v) {
  if (v->type == PB_QSTR || v->type == PB_QBYTES)
    free((void *)v->as.s.ptr);
  v->type = PB_QNULL;
}

pb_expr *pb_expr_field(unsigned src, uint32_t tag) {
  pb_expr *e = enew(PB__E_FIELD);
  if (e) {
    e->src = src;
    e->tag = tag;
  }
  return e;
}

pb_expr *pb_expr_col(unsigned col) {
  pb_expr *e = enew(PB__E_COL);
  if (e)
    e->col = col;
  return e;
}

pb_expr *pb_expr_const(pb_qval v) {
  pb_expr *e = enew(PB__E_CONST);
  if (e && !val_own(&e->val, v)) {
    free(e);
    return NULL;
  }
  return e;
}

/* A node of `kind` over a, b, c (each may be NULL when not used: `n` says
 * how many are); frees them all when one used is NULL or memory fails. */
static pb_expr *enode(pb__ekind kind, int n, pb_expr *a, pb_expr *b,
                      pb_expr *c) {
  pb_expr *e = NULL;
  if (a && (n < 2 || b) && (n < 3 || c))
    e = enew(kind);
  if (!e) {
    pb_expr_free(a);
    pb_expr_free(b);
    pb_expr_free(c);
    return NULL;
  }
  e->a = a;
  e->b = b;
  e->c = c;
  return e;
}

pb_expr *pb_expr_cmp(pb_cmp op, pb_expr *a, pb_expr *b) {
  pb_expr *e = enode(PB__E_CMP, 2, a, b, NULL);
  if (e)
    e->op = op;
  return e;
}

pb_expr *pb_expr_between(pb_expr *x, pb_expr *lo, pb_expr *hi,
                         unsigned flags) {
  pb_expr *e = enode(PB__E_BETWEEN, 3, x, lo, hi);
  if (e)
    e->flags = flags;
  return e;
}

pb_expr *pb_expr_and(pb_expr *a, pb_expr *b) {
  return enode(PB__E_AND, 2, a, b, NULL);
}

pb_expr *pb_expr_or(pb_expr *a, pb_expr *b) {
  return enode(PB__E_OR, 2, a, b, NULL);
}

pb_expr *pb_expr_not(pb_expr *a) { return enode(PB__E_NOT, 1, a, NULL, NULL); }

/* IN's flags: the list was a NULL array with n > 0 (refused by the
 * check). */
#define IN_BAD_LIST 0x1u

pb_expr *pb_expr_in(pb_expr *x, const pb_qval *vals, size_t n) {
  pb_expr *e = enode(PB__E_IN, 1, x, NULL, NULL);
  if (!e)
    return NULL;
  if (n > 0 && !vals) {
    e->flags = IN_BAD_LIST;
    return e;
  }
  if (n > 0) {
    e->vals = calloc(n, sizeof *e->vals);
    if (!e->vals) {
      pb_expr_free(e);
      return NULL;
    }
    for (size_t i = 0; i < n; i++) {
      if (!val_own(&e->vals[i], vals[i])) {
        e->n_vals = i;
        pb_expr_free(e);
        return NULL;
      }
      e->n_vals = i + 1;
    }
  }
  return e;
}

pb_expr *pb_expr_prefix(pb_expr *x, pb_qval prefix) {
  pb_expr *e = enode(PB__E_PREFIX, 1, x, NULL, NULL);
  if (e && !val_own(&e->val, prefix)) {
    pb_expr_free(e);
    return NULL;
  }
  return e;
}

pb_expr *pb_expr_is_null(pb_expr *x) {
  return enode(PB__E_ISNULL, 1, x, NULL, NULL);
}

pb_expr *pb_expr_pred(pb_pred_fn fn, void *ctx) {
  pb_expr *e = enew(PB__E_PRED);
  if (e) {
    e->pred = fn;
    e->ctx = ctx;
  }
  return e;
}

pb_expr *pb_expr_fn(pb_qtype type, pb_value_fn fn, void *ctx) {
  pb_expr *e = enew(PB__E_FN);
  if (e) {
    e->type = type;
    e->fn = fn;
    e->ctx = ctx;
  }
  return e;
}

void pb_expr_free(pb_expr *e) {
  if (!e)
    return;
  pb_expr_free(e->a);
  pb_expr_free(e->b);
  pb_expr_free(e->c);
  if (e->kind == PB__E_CONST || e->kind == PB__E_PREFIX)
    val_drop(&e->val);
  for (size_t i = 0; i < e->n_vals; i++)
    val_drop(&e->vals[i]);
  free(e->vals);
  free(e);
}

pb_expr *pb__expr_copy(const pb_expr *e) {
  if (!e)
    return NULL;
  pb_expr *c = malloc(sizeof *c);
  if (!c)
    return NULL;
  *c = *e;
  c->a = c->b = c->c = NULL;
  c->vals = NULL;
  c->n_vals = 0;
  if (e->kind == PB__E_CONST || e->kind == PB__E_PREFIX) {
    if (!val_own(&c->val, e->val)) {
      c->val.type = PB_QNULL;
      pb_expr_free(c);
      return NULL;
    }
  }
  if (e->n_vals) {
    c->vals = calloc(e->n_vals, sizeof *c->vals);
    if (!c->vals) {
      pb_expr_free(c);
      return NULL;
    }
    for (size_t i = 0; i < e->n_vals; i++) {
      if (!val_own(&c->vals[i], e->vals[i])) {
        pb_expr_free(c);
        return NULL;
      }
      c->n_vals = i + 1;
    }
  }
  if ((e->a && !(c->a = pb__expr_copy(e->a))) ||
      (e->b && !(c->b = pb__expr_copy(e->b))) ||
      (e->c && !(c->c = pb__expr_copy(e->c)))) {
    pb_expr_free(c);
    return NULL;
  }
  return c;
}

/* --- Shapes --- */

int pb__qshape_concat(pb__qshape *out, const pb__qshape *a,
                      const pb__qshape *b) {
  static const pb__qshape none = {0, NULL, 0, NULL};
  if (!b)
    b = &none;
  pb__qshape s = {a->n_srcs + b->n_srcs, NULL, a->n_cols + b->n_cols, NULL};
  if (s.n_srcs) {
    s.srcs = malloc(s.n_srcs * sizeof *s.srcs);
    if (!s.srcs)
      return PB_ENOMEM;
    for (size_t i = 0; i < a->n_srcs; i++)
      s.srcs[i] = a->srcs[i];
    for (size_t i = 0; i < b->n_srcs; i++)
      s.srcs[a->n_srcs + i] = b->srcs[i];
  }
  if (s.n_cols) {
    s.col_types = malloc(s.n_cols * sizeof *s.col_types);
    if (!s.col_types) {
      free(s.srcs);
      return PB_ENOMEM;
    }
    for (size_t i = 0; i < a->n_cols; i++)
      s.col_types[i] = a->col_types[i];
    for (size_t i = 0; i < b->n_cols; i++)
      s.col_types[a->n_cols + i] = b->col_types[i];
  }
  *out = s;
  return PB_OK;
}

void pb__qshape_free(pb__qshape *s) {
  if (!s)
    return;
  free(s->srcs);
  free(s->col_types);
  memset(s, 0, sizeof *s);
}

/* --- Fields --- */

/* The pb_qtype a field of C type `ctype` reads as; PB_QNULL: unreadable. */
static pb_qtype ctype_qtype(uint32_t ctype) {
  switch (ctype) {
  case PB_CTYPE_BOOL:
    return PB_QBOOL;
  case PB_CTYPE_I8:
  case PB_CTYPE_I16:
  case PB_CTYPE_I32:
  case PB_CTYPE_I64:
  case PB_CTYPE_ENUM:
    return PB_QINT;
  case PB_CTYPE_U8:
  case PB_CTYPE_U16:
  case PB_CTYPE_U32:
  case PB_CTYPE_U64:
    return PB_QUINT;
  case PB_CTYPE_F32:
  case PB_CTYPE_F64:
    return PB_QFLOAT;
  case PB_CTYPE_STR:
    return PB_QSTR;
  case PB_CTYPE_BYTES:
    return PB_QBYTES;
  default:
    return PB_QNULL;
  }
}

pb_qval pb__field_value(const pb_record_field *f, const void *rec) {
  const char *p = (const char *)rec + f->offset;
  pb_qval v = pb_qnull();
  if (f->flags & PB_FIELD_OPTIONAL) {
    bool has;
    memcpy(&has, (const char *)rec + f->has_offset, sizeof has);
    if (!has)
      return v;
  }
  switch (f->ctype) {
  case PB_CTYPE_BOOL: {
    bool b;
    memcpy(&b, p, sizeof b);
    return pb_qbool(b);
  }
#define RD(CT, T, MK)                                                       \
  case CT: {                                                                \
    T x;                                                                    \
    memcpy(&x, p, sizeof x);                                                \
    return MK(x);                                                           \
  }
    RD(PB_CTYPE_I8, int8_t, pb_qint)
    RD(PB_CTYPE_I16, int16_t, pb_qint)
    RD(PB_CTYPE_I32, int32_t, pb_qint)
    RD(PB_CTYPE_ENUM, int32_t, pb_qint)
    RD(PB_CTYPE_I64, int64_t, pb_qint)
    RD(PB_CTYPE_U8, uint8_t, pb_quint)
    RD(PB_CTYPE_U16, uint16_t, pb_quint)
    RD(PB_CTYPE_U32, uint32_t, pb_quint)
    RD(PB_CTYPE_U64, uint64_t, pb_quint)
    RD(PB_CTYPE_F32, float, pb_qfloat)
    RD(PB_CTYPE_F64, double, pb_qfloat)
    RD(PB_CTYPE_STR, pb_str, pb_qstr)
    RD(PB_CTYPE_BYTES, pb_bytes, pb_qbytes)
#undef RD
  default:
    return v;
  }
}

/* The field of `type` with tag `tag`, or NULL. */
static const pb_record_field *field_by_tag(const pb_record_type *type,
                                           uint32_t tag) {
  if (!type)
    return NULL;
  for (size_t i = 0; i < type->n_fields; i++)
    if (type->fields[i].tag == tag)
      return &type->fields[i];
  return NULL;
}

/* --- The value order and hash --- */

static bool is_num(pb_qtype t) {
  return t == PB_QINT || t == PB_QUINT || t == PB_QFLOAT;
}

bool pb__qtype_comparable(pb_qtype a, pb_qtype b) {
  if (a == PB_QNULL || b == PB_QNULL)
    return true;
  if (is_num(a) && is_num(b))
    return true;
  return a == b && a <= PB_QBYTES;
}

static int cmp3(bool lt, bool gt) { return lt ? -1 : gt ? 1 : 0; }

/* An int64 against a double, exactly: <0, 0, >0. */
static int cmp_i_f(int64_t i, double f) {
  if (isnan(f))
    return -1;
  if (f < -9223372036854775808.0)
    return 1;
  if (f >= 9223372036854775808.0)
    return -1;
  int64_t y = (int64_t)f; /* truncated: exact, f is in range */
  if (i != y)
    return cmp3(i < y, i > y);
  double frac = f - (double)y; /* exact: f and y are within one unit */
  return cmp3(frac > 0, frac < 0);
}

/* A uint64 against a double, exactly. */
static int cmp_u_f(uint64_t u, double f) {
  if (isnan(f))
    return -1;
  if (f < 0)
    return 1;
  if (f >= 18446744073709551616.0)
    return -1;
  uint64_t y = (uint64_t)f;
  if (u != y)
    return cmp3(u < y, u > y);
  double frac = f - (double)y;
  return cmp3(frac > 0, frac < 0);
}

static int cmp_f_f(double a, double b) {
  bool na = isnan(a), nb = isnan(b);
  if (na || nb)
    return cmp3(!na, !nb); /* NaN last, equal to itself */
  return cmp3(a < b, a > b);
}

static int cmp_num(const pb_qval *a, const pb_qval *b) {
  switch (a->type) {
  case PB_QINT:
    if (b->type == PB_QINT)
      return cmp3(a->as.i < b->as.i, a->as.i > b->as.i);
    if (b->type == PB_QUINT)
      return a->as.i < 0 ? -1
                         : cmp3((uint64_t)a->as.i < b->as.u,
                                (uint64_t)a->as.i > b->as.u);
    return cmp_i_f(a->as.i, b->as.f);
  case PB_QUINT:
    if (b->type == PB_QUINT)
      return cmp3(a->as.u < b->as.u, a->as.u > b->as.u);
    if (b->type == PB_QINT)
      return -cmp_num(b, a);
    return cmp_u_f(a->as.u, b->as.f);
  default: /* PB_QFLOAT */
    if (b->type == PB_QFLOAT)
      return cmp_f_f(a->as.f, b->as.f);
    return -cmp_num(b, a);
  }
}

/* The rank of a type in the order of values of types that are not
 * comparable (never met after the check, but the order stays total). */
static int type_rank(pb_qtype t) {
  switch (t) {
  case PB_QNULL:
    return 0;
  case PB_QBOOL:
    return 1;
  case PB_QINT:
  case PB_QUINT:
  case PB_QFLOAT:
    return 2;
  case PB_QSTR:
    return 3;
  default:
    return 4;
  }
}

int pb__qval_cmp(const pb_qval *a, const pb_qval *b) {
  int ra = type_rank(a->type), rb = type_rank(b->type);
  if (ra != rb)
    return cmp3(ra < rb, ra > rb);
  switch (ra) {
  case 0:
    return 0;
  case 1:
    return cmp3(!a->as.b && b->as.b, a->as.b && !b->as.b);
  case 2:
    return cmp_num(a, b);
  default: {
    size_t n = a->as.s.len < b->as.s.len ? a->as.s.len : b->as.s.len;
    int c = n ? memcmp(a->as.s.ptr, b->as.s.ptr, n) : 0;
    if (c)
      return c < 0 ? -1 : 1;
    return cmp3(a->as.s.len < b->as.s.len, a->as.s.len > b->as.s.len);
  }
  }
}

static uint64_t mix64(uint64_t x) {
  x ^= x >> 33;
  x *= 0xff51afd7ed558ccdull;
  x ^= x >> 33;
  x *= 0xc4ceb9fe1a85ec53ull;
  x ^= x >> 33;
  return x;
}

/* Numbers equal by value hash alike: an integral value (of any of the
 * three types) hashes as its 64-bit two's-complement integer, any other
 * double as its bits. */
static uint64_t hash_num(const pb_qval *v, uint64_t seed) {
  uint64_t bits;
  uint64_t kind = 1;
  if (v->type == PB_QINT) {
    bits = (uint64_t)v->as.i;
  } else if (v->type == PB_QUINT) {
    bits = v->as.u;
  } else {
    double f = v->as.f;
    if (f >= -9223372036854775808.0 && f < 0 && f == trunc(f)) {
      bits = (uint64_t)(int64_t)f;
    } else if (f >= 0 && f < 18446744073709551616.0 && f == trunc(f)) {
      bits = (uint64_t)f; /* also -0.0 */
    } else if (isnan(f)) {
      bits = 0;
      kind = 3;
    } else {
      memcpy(&bits, &f, sizeof bits);
      kind = 2;
    }
  }
  return mix64(bits ^ mix64(seed + kind));
}

uint64_t pb__qval_hash(const pb_qval *v, uint64_t seed) {
  switch (type_rank(v->type)) {
  case 0:
    return mix64(seed ^ 0x9e3779b97f4a7c15ull);
  case 1:
    return mix64(seed + 0x51ull + (v->as.b ? 1 : 0));
  case 2:
    return hash_num(v, seed);
  default:
    return XXH3_64bits_withSeed(v->as.s.ptr, v->as.s.len,
                                seed + (v->type == PB_QSTR ? 5 : 6));
  }
}

/* --- Printing --- */

static void bputs(pb_buf *out, const char *s) {
  pb_buf_append(out, s, strlen(s));
}

static void bprintf(pb_buf *out, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void bprintf(pb_buf *out, const char *fmt, ...) {
  char tmp[128];
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(tmp, sizeof tmp, fmt, ap);
  va_end(ap);
  if (n > 0)
    pb_buf_append(out, tmp, (size_t)n < sizeof tmp ? (size_t)n
                                                   : sizeof tmp - 1);
}

static const char *type_name(pb_qtype t) {
  static const char *const names[] = {"NULL", "BOOL",  "INT",  "UINT",
                                      "FLOAT", "STR", "BYTES"};
  return (unsigned)t <= PB_QBYTES ? names[t] : "a bad type";
}

static void print_val(const pb_qval *v, pb_buf *out) {
  switch (v->type) {
  case PB_QNULL:
    bputs(out, "NULL");
    break;
  case PB_QBOOL:
    bputs(out, v->as.b ? "TRUE" : "FALSE");
    break;
  case PB_QINT:
    bprintf(out, "%lld", (long long)v->as.i);
    break;
  case PB_QUINT:
    bprintf(out, "%llu", (unsigned long long)v->as.u);
    break;
  case PB_QFLOAT:
    bprintf(out, "%.17g", v->as.f);
    break;
  case PB_QSTR:
    if (!v->as.s.ptr && v->as.s.len) {
      bputs(out, "'<NULL pointer>'");
      break;
    }
    pb_buf_append(out, "'", 1);
    for (size_t i = 0; i < v->as.s.len; i++) {
      char ch = (char)v->as.s.ptr[i];
      pb_buf_append(out, ch == '\'' ? "''" : &ch, ch == '\'' ? 2 : 1);
    }
    pb_buf_append(out, "'", 1);
    break;
  case PB_QBYTES:
    if (!v->as.s.ptr && v->as.s.len) {
      bputs(out, "x'<NULL pointer>'");
      break;
    }
    bputs(out, "x'");
    for (size_t i = 0; i < v->as.s.len; i++)
      bprintf(out, "%02x", v->as.s.ptr[i]);
    pb_buf_append(out, "'", 1);
    break;
  default:
    bprintf(out, "<a value of bad type %d>", (int)v->type);
  }
}

static bool is_atom(const pb_expr *e) {
  return e->kind == PB__E_FIELD || e->kind == PB__E_COL ||
         e->kind == PB__E_CONST || e->kind == PB__E_PRED ||
         e->kind == PB__E_FN;
}

static void print(const pb_expr *e, const pb__qshape *in, pb_buf *out);

/* e as an operand of a comparison-level operator: parenthesized unless an
 * atom. */
static void print_operand(const pb_expr *e, const pb__qshape *in,
                          pb_buf *out) {
  if (is_atom(e)) {
    print(e, in, out);
    return;
  }
  pb_buf_append(out, "(", 1);
  print(e, in, out);
  pb_buf_append(out, ")", 1);
}

static void print(const pb_expr *e, const pb__qshape *in, pb_buf *out) {
  static const char *const ops[] = {" = ", " <> ", " < ", " <= ", " > ",
                                    " >= "};
  switch (e->kind) {
  case PB__E_FIELD: {
    const pb_record_field *f = e->field;
    if (!f && in && e->src < in->n_srcs && in->srcs[e->src])
      f = field_by_tag(in->srcs[e->src]->type, e->tag);
    if (!in || in->n_srcs != 1 || e->src != 0)
      bprintf(out, "s%u.", e->src);
    if (f && f->name)
      bputs(out, f->name);
    else
      bprintf(out, "#%lu", (unsigned long)e->tag);
    break;
  }
  case PB__E_COL:
    bprintf(out, "col%u", e->col);
    break;
  case PB__E_CONST:
    print_val(&e->val, out);
    break;
  case PB__E_CMP:
    print_operand(e->a, in, out);
    bputs(out, (unsigned)e->op <= PB_GE ? ops[e->op] : " ?op ");
    print_operand(e->b, in, out);
    break;
  case PB__E_BETWEEN:
    print_operand(e->a, in, out);
    bputs(out, " BETWEEN ");
    print_operand(e->b, in, out);
    if (e->flags & PB_BETWEEN_LO_EXCL)
      bputs(out, " EXCLUSIVE");
    bputs(out, " AND ");
    print_operand(e->c, in, out);
    if (e->flags & PB_BETWEEN_HI_EXCL)
      bputs(out, " EXCLUSIVE");
    break;
  case PB__E_AND:
  case PB__E_OR: {
    const pb_expr *kids[2] = {e->a, e->b};
    for (int i = 0; i < 2; i++) {
      if (i)
        bputs(out, e->kind == PB__E_AND ? " AND " : " OR ");
      /* same-kind children chain without parentheses */
      if (kids[i]->kind == e->kind || is_atom(kids[i]) ||
          (kids[i]->kind != PB__E_AND && kids[i]->kind != PB__E_OR))
        print(kids[i], in, out);
      else
        print_operand(kids[i], in, out);
    }
    break;
  }
  case PB__E_NOT:
    bputs(out, "NOT ");
    print_operand(e->a, in, out);
    break;
  case PB__E_IN:
    print_operand(e->a, in, out);
    bputs(out, " IN (");
    for (size_t i = 0; i < e->n_vals; i++) {
      if (i)
        bputs(out, ", ");
      print_val(&e->vals[i], out);
    }
    pb_buf_append(out, ")", 1);
    break;
  case PB__E_PREFIX:
    print_operand(e->a, in, out);
    bputs(out, " PREFIX ");
    print_val(&e->val, out);
    break;
  case PB__E_ISNULL:
    print_operand(e->a, in, out);
    bputs(out, " IS NULL");
    break;
  case PB__E_PRED:
    bputs(out, "pred()");
    break;
  case PB__E_FN:
    bprintf(out, "fn():%s", type_name(e->type));
    break;
  }
}

void pb__expr_print(const pb_expr *e, const pb__qshape *in, pb_buf *out) {
  if (!e || !out)
    return;
  print(e, in, out);
}

/* --- The check --- */

typedef struct check_ctx {
  const pb__qshape *in;
  const char *node;
  const pb_expr *root;
} check_ctx;

/* Sets the detail: "<node>: <what> (in `<expression>`)"; PB_EINVAL. */
static int fail(const check_ctx *cx, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static int fail(const check_ctx *cx, const char *fmt, ...) {
  char what[256];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(what, sizeof what, fmt, ap);
  va_end(ap);
  pb_buf b;
  pb_buf_init(&b);
  print(cx->root, cx->in, &b);
  char msg[PB__ERRDETAIL_SIZE];
  snprintf(msg, sizeof msg, "%s: %s (in `%.*s`)", cx->node ? cx->node : "?",
           what, pb_buf_error(&b) == PB_OK ? (int)b.len : 0,
           b.data ? (const char *)b.data : "");
  pb_buf_free(&b);
  pb__errdetail_set(msg);
  return PB_EINVAL;
}

static bool valid_type(pb_qtype t) { return (unsigned)t <= PB_QBYTES; }

/* A value given to a constant, IN or PREFIX. */
static int check_val(const check_ctx *cx, const pb_qval *v) {
  if (!valid_type(v->type))
    return fail(cx, "a value of unknown type %d", (int)v->type);
  if ((v->type == PB_QSTR || v->type == PB_QBYTES) && !v->as.s.ptr &&
      v->as.s.len)
    return fail(cx, "a %s value with a NULL pointer and length %zu",
                type_name(v->type), v->as.s.len);
  return PB_OK;
}

static bool boolish(pb_qtype t) { return t == PB_QBOOL || t == PB_QNULL; }

static int check_cmp_types(const check_ctx *cx, const pb_expr *a,
                           const pb_expr *b, const char *what) {
  if (pb__qtype_comparable(a->type, b->type))
    return PB_OK;
  pb_buf x, y;
  pb_buf_init(&x);
  pb_buf_init(&y);
  print(a, cx->in, &x);
  print(b, cx->in, &y);
  pb_buf_append(&x, "", 1);
  pb_buf_append(&y, "", 1);
  int rc = fail(cx, "%s compares %s `%s` with %s `%s`", what,
                type_name(a->type),
                pb_buf_error(&x) == PB_OK ? (const char *)x.data : "",
                type_name(b->type),
                pb_buf_error(&y) == PB_OK ? (const char *)y.data : "");
  pb_buf_free(&x);
  pb_buf_free(&y);
  return rc;
}

static int check(const check_ctx *cx, pb_expr *e);

static int check_kids(const check_ctx *cx, pb_expr *e) {
  int rc = PB_OK;
  if (e->a && (rc = check(cx, e->a)) != PB_OK)
    return rc;
  if (e->b && (rc = check(cx, e->b)) != PB_OK)
    return rc;
  if (e->c && (rc = check(cx, e->c)) != PB_OK)
    return rc;
  return PB_OK;
}

static int check(const check_ctx *cx, pb_expr *e) {
  int rc = check_kids(cx, e);
  if (rc != PB_OK)
    return rc;
  const pb__qshape *in = cx->in;
  switch (e->kind) {
  case PB__E_FIELD: {
    if (e->src >= in->n_srcs)
      return fail(cx, "field #%lu of source %u: the rows have %zu "
                      "source(s)", (unsigned long)e->tag, e->src,
                  in->n_srcs);
    const pb_table_def *def = in->srcs[e->src];
    const pb_record_type *t = def ? def->type : NULL;
    const pb_record_field *f = field_by_tag(t, e->tag);
    if (!f)
      return fail(cx, "source %u (%s) has no field with tag %lu", e->src,
                  t && t->name ? t->name : "?", (unsigned long)e->tag);
    pb_qtype qt = ctype_qtype(f->ctype);
    if (qt == PB_QNULL)
      return fail(cx, "field %s (tag %lu, type %s) of %s cannot be read by "
                      "a query",
                  f->name ? f->name : "?", (unsigned long)f->tag,
                  f->type ? f->type : "?", t->name ? t->name : "?");
    e->field = f;
    e->type = qt;
    return PB_OK;
  }
  case PB__E_COL:
    if (e->col >= in->n_cols)
      return fail(cx, "column %u: the rows have %zu column(s)", e->col,
                  in->n_cols);
    e->type = in->col_types[e->col];
    return PB_OK;
  case PB__E_CONST:
    if ((rc = check_val(cx, &e->val)) != PB_OK)
      return rc;
    e->type = e->val.type;
    return PB_OK;
  case PB__E_CMP:
    if ((unsigned)e->op > PB_GE)
      return fail(cx, "unknown comparison operator %d", (int)e->op);
    if ((rc = check_cmp_types(cx, e->a, e->b, "a comparison")) != PB_OK)
      return rc;
    e->type = PB_QBOOL;
    return PB_OK;
  case PB__E_BETWEEN:
    if (e->flags & ~(PB_BETWEEN_LO_EXCL | PB_BETWEEN_HI_EXCL))
      return fail(cx, "BETWEEN with unknown flags 0x%x", e->flags);
    if ((rc = check_cmp_types(cx, e->a, e->b, "BETWEEN")) != PB_OK ||
        (rc = check_cmp_types(cx, e->a, e->c, "BETWEEN")) != PB_OK)
      return rc;
    e->type = PB_QBOOL;
    return PB_OK;
  case PB__E_AND:
  case PB__E_OR:
  case PB__E_NOT: {
    const char *op = e->kind == PB__E_AND  ? "AND"
                     : e->kind == PB__E_OR ? "OR"
                                           : "NOT";
    if (!boolish(e->a->type) || (e->b && !boolish(e->b->type)))
      return fail(cx, "%s of a %s operand (not a boolean)", op,
                  type_name(boolish(e->a->type) ? e->b->type : e->a->type));
    e->type = PB_QBOOL;
    return PB_OK;
  }
  case PB__E_IN:
    if (e->flags & IN_BAD_LIST)
      return fail(cx, "IN with a NULL list of values");
    for (size_t i = 0; i < e->n_vals; i++) {
      if ((rc = check_val(cx, &e->vals[i])) != PB_OK)
        return rc;
      if (!pb__qtype_comparable(e->a->type, e->vals[i].type))
        return fail(cx, "IN compares %s with the %s value #%zu",
                    type_name(e->a->type), type_name(e->vals[i].type), i);
    }
    e->type = PB_QBOOL;
    return PB_OK;
  case PB__E_PREFIX:
    if ((rc = check_val(cx, &e->val)) != PB_OK)
      return rc;
    if (e->val.type != PB_QSTR && e->val.type != PB_QBYTES)
      return fail(cx, "PREFIX of a %s value (STR or BYTES only)",
                  type_name(e->val.type));
    if (e->a->type != PB_QNULL && e->a->type != e->val.type)
      return fail(cx, "PREFIX: a %s operand with a %s prefix",
                  type_name(e->a->type), type_name(e->val.type));
    e->type = PB_QBOOL;
    return PB_OK;
  case PB__E_ISNULL:
    e->type = PB_QBOOL;
    return PB_OK;
  case PB__E_PRED:
    if (!e->pred)
      return fail(cx, "a predicate with a NULL function");
    e->type = PB_QBOOL;
    return PB_OK;
  case PB__E_FN:
    if (!e->fn)
      return fail(cx, "a value function with a NULL function");
    if (!valid_type(e->type))
      return fail(cx, "a value function of unknown type %d", (int)e->type);
    return PB_OK;
  }
  return fail(cx, "an expression of unknown kind %d", (int)e->kind);
}

int pb__expr_check(pb_expr *e, const pb__qshape *in, const char *node,
                   bool want_bool) {
  static const pb__qshape none = {0, NULL, 0, NULL};
  check_ctx cx = {in ? in : &none, node, e};
  if (!e) {
    pb__errdetail_set("a NULL expression");
    return PB_EINVAL;
  }
  int rc = check(&cx, e);
  if (rc == PB_OK && want_bool && !boolish(e->type))
    rc = fail(&cx, "a %s expression where a predicate is needed",
              type_name(e->type));
  return rc;
}

/* --- Evaluation --- */

static pb_qval tv(int t) { /* 0 FALSE, 1 TRUE, -1 NULL */
  return t < 0 ? pb_qnull() : pb_qbool(t != 0);
}

/* A predicate's value as 0 FALSE, 1 TRUE, -1 NULL (anything else that is
 * not a BOOL counts as NULL). */
static int truth(const pb_qval *v) {
  return v->type == PB_QBOOL ? (v->as.b ? 1 : 0) : -1;
}

/* a OP b in three-valued logic. */
static int cmp_tv(pb_cmp op, const pb_qval *a, const pb_qval *b) {
  if (a->type == PB_QNULL || b->type == PB_QNULL)
    return -1;
  return pb__cmp_holds(op, pb__qval_cmp(a, b)) ? 1 : 0;
}

static int and_tv(int a, int b) {
  if (a == 0 || b == 0)
    return 0;
  return a < 0 || b < 0 ? -1 : 1;
}

int pb__expr_eval(const pb_expr *e, const pb_row *row, pb_qval *out) {
  pb_qval x, y, z;
  int rc;
  switch (e->kind) {
  case PB__E_FIELD: {
    assert(e->field); /* set by the check */
    const void *rec = e->src < row->n_recs ? row->recs[e->src] : NULL;
    *out = rec && e->field ? pb__field_value(e->field, rec) : pb_qnull();
    return PB_OK;
  }
  case PB__E_COL:
    *out = e->col < row->n_cols ? row->cols[e->col] : pb_qnull();
    return PB_OK;
  case PB__E_CONST:
    *out = e->val;
    return PB_OK;
  case PB__E_CMP:
    if ((rc = pb__expr_eval(e->a, row, &x)) != PB_OK ||
        (rc = pb__expr_eval(e->b, row, &y)) != PB_OK)
      return rc;
    *out = tv(cmp_tv(e->op, &x, &y));
    return PB_OK;
  case PB__E_BETWEEN:
    if ((rc = pb__expr_eval(e->a, row, &x)) != PB_OK ||
        (rc = pb__expr_eval(e->b, row, &y)) != PB_OK ||
        (rc = pb__expr_eval(e->c, row, &z)) != PB_OK)
      return rc;
    *out = tv(and_tv(
        cmp_tv(e->flags & PB_BETWEEN_LO_EXCL ? PB_GT : PB_GE, &x, &y),
        cmp_tv(e->flags & PB_BETWEEN_HI_EXCL ? PB_LT : PB_LE, &x, &z)));
    return PB_OK;
  case PB__E_AND:
  case PB__E_OR: {
    if ((rc = pb__expr_eval(e->a, row, &x)) != PB_OK)
      return rc;
    int ta = truth(&x);
    int stop = e->kind == PB__E_AND ? 0 : 1; /* FALSE AND, TRUE OR */
    if (ta == stop) {
      *out = tv(stop);
      return PB_OK;
    }
    if ((rc = pb__expr_eval(e->b, row, &y)) != PB_OK)
      return rc;
    int tb = truth(&y);
    if (tb == stop)
      *out = tv(stop);
    else
      *out = tv(ta < 0 || tb < 0 ? -1 : !stop);
    return PB_OK;
  }
  case PB__E_NOT: {
    if ((rc = pb__expr_eval(e->a, row, &x)) != PB_OK)
      return rc;
    int t = truth(&x);
    *out = tv(t < 0 ? -1 : !t);
    return PB_OK;
  }
  case PB__E_IN: {
    if (e->n_vals == 0) { /* x IN () is FALSE, even for a NULL x */
      *out = pb_qbool(false);
      return PB_OK;
    }
    if ((rc = pb__expr_eval(e->a, row, &x)) != PB_OK)
      return rc;
    if (x.type == PB_QNULL) {
      *out = pb_qnull();
      return PB_OK;
    }
    int t = 0;
    for (size_t i = 0; i < e->n_vals && t != 1; i++) {
      int c = cmp_tv(PB_EQ, &x, &e->vals[i]);
      if (c != 0)
        t = c;
    }
    *out = tv(t);
    return PB_OK;
  }
  case PB__E_PREFIX:
    if ((rc = pb__expr_eval(e->a, row, &x)) != PB_OK)
      return rc;
    if (x.type == PB_QNULL) {
      *out = pb_qnull();
      return PB_OK;
    }
    *out = pb_qbool(x.type == e->val.type &&
                    x.as.s.len >= e->val.as.s.len &&
                    (e->val.as.s.len == 0 ||
                     memcmp(x.as.s.ptr, e->val.as.s.ptr,
                            e->val.as.s.len) == 0));
    return PB_OK;
  case PB__E_ISNULL:
    if ((rc = pb__expr_eval(e->a, row, &x)) != PB_OK)
      return rc;
    *out = pb_qbool(x.type == PB_QNULL);
    return PB_OK;
  case PB__E_PRED: {
    assert(e->pred);
    bool b = false;
    if ((rc = e->pred(row, e->ctx, &b)) != PB_OK)
      return rc;
    *out = pb_qbool(b);
    return PB_OK;
  }
  case PB__E_FN:
    assert(e->fn);
    *out = pb_qnull();
    if ((rc = e->fn(row, e->ctx, out)) != PB_OK)
      return rc;
    if (out->type != PB_QNULL && out->type != e->type) {
      char msg[160];
      snprintf(msg, sizeof msg,
               "a value function declared %s returned a %s value",
               type_name(e->type), type_name(out->type));
      pb__errdetail_set(msg);
      *out = pb_qnull();
      return PB_EINVAL;
    }
    return PB_OK;
  }
  return PB_EINVAL;
}
