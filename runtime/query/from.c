/*
 * query/from.c - the leaves of a plan: From(table) (a full scan in
 * primary-key order), a primary-key range and an index range (what the
 * optimizer turns a Where into, and pb_plan_from_index), and
 * From(collection) (a Dictionary, List, Set or HashDictionary).
 *
 * Table rows are decoded by the table's cursor into one record struct the
 * node owns (def->size bytes), which the row gives as its source 0; its
 * views stay valid as the cursor's do (protobase/table.h, VIEWS).
 *
 * BOUNDS.  A range's bounds are pb_qval values of the key's (or the
 * index's first) fields, encoded as the generated key functions encode
 * them (compiler/gen_table.c): each by the pb_key_put_* of its field's C
 * type and width, an optional field as pb_key_put_bool(present) then the
 * value (a NULL bound value is "absent", which sorts first).  A value must
 * be exactly a value of its field's type: an INT, a UINT or an integral
 * FLOAT within the field's range for an integer field (an enum's is
 * int32), a number a float field holds exactly, a BOOL for a bool, a STR
 * for a string, BYTES for bytes.  Anything else is PB_EINVAL, not a
 * clamped bound: "grp >= -1" on a uint field is every row, and "grp >= 2.5"
 * on an int field is "grp >= 3", but as a component of a composite bound
 * such a value changes which earlier components the range keeps, so the
 * caller (the optimizer) keeps such a term in its Where over a wider scan
 * instead.
 */
#include <assert.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "atom/value.h"
#include "query/query_int.h"
#include "table/table_int.h"
#include "util/errdetail.h"

/* --- Encoding bounds --- */

static const pb_record_field *field_of(const pb_table_def *def,
                                       uint32_t tag) {
  for (size_t i = 0; i < def->type->n_fields; i++)
    if (def->type->fields[i].tag == tag)
      return &def->type->fields[i];
  return NULL;
}

/* v as an exact integer: *neg and the value (int64 when neg, else
 * uint64).  false: not an integer. */
static bool exact_int(const pb_qval *v, bool *neg, int64_t *i, uint64_t *u) {
  switch (v->type) {
  case PB_QINT:
    *neg = v->as.i < 0;
    *i = v->as.i;
    *u = (uint64_t)v->as.i;
    return true;
  case PB_QUINT:
    *neg = false;
    *u = v->as.u;
    *i = v->as.u > INT64_MAX ? INT64_MAX : (int64_t)v->as.u;
    return true;
  case PB_QFLOAT: {
    double f = v->as.f;
    if (f != trunc(f)) /* NaN, inf or a fraction */
      return false;
    if (f < 0) {
      if (f < -9223372036854775808.0)
        return false;
      *neg = true;
      *i = (int64_t)f;
      *u = (uint64_t)*i;
      return true;
    }
    if (f >= 18446744073709551616.0)
      return false;
    *neg = false;
    *u = (uint64_t)f;
    *i = *u > INT64_MAX ? INT64_MAX : (int64_t)*u;
    return true;
  }
  default:
    return false;
  }
}

/* v as a double, exactly; false when v is no number or not exact. */
static bool exact_double(const pb_qval *v, double *out) {
  switch (v->type) {
  case PB_QFLOAT:
    *out = v->as.f;
    return true;
  case PB_QINT: {
    double d = (double)v->as.i;
    if (d >= 9223372036854775808.0 || (int64_t)d != v->as.i)
      return false;
    *out = d;
    return true;
  }
  case PB_QUINT: {
    double d = (double)v->as.u;
    if (d >= 18446744073709551616.0 || (uint64_t)d != v->as.u)
      return false;
    *out = d;
    return true;
  }
  default:
    return false;
  }
}

/* Appends the key component of field f with value v to kb; PB_EINVAL
 * (false) when v is not exactly a value of f's type. */
static bool put_value(pb_keybuf *kb, const pb_record_field *f,
                      const pb_qval *v) {
  if (f->flags & PB_FIELD_OPTIONAL) {
    pb_key_put_bool(kb, v->type != PB_QNULL);
    if (v->type == PB_QNULL)
      return true;
  } else if (v->type == PB_QNULL) {
    return false;
  }
  bool neg = false;
  int64_t i = 0;
  uint64_t u = 0;
  double d = 0;
  switch (f->ctype) {
  case PB_CTYPE_BOOL:
    if (v->type != PB_QBOOL)
      return false;
    pb_key_put_bool(kb, v->as.b);
    return true;
#define SIGNED(CT, T, MIN, MAX, PUT)                                        \
  case CT:                                                                  \
    if (!exact_int(v, &neg, &i, &u) || (!neg && u > (uint64_t)(MAX)) ||     \
        (neg && i < (MIN)))                                                 \
      return false;                                                         \
    PUT(kb, (T)(neg ? i : (int64_t)u));                                     \
    return true;
    SIGNED(PB_CTYPE_I8, int8_t, INT8_MIN, INT8_MAX, pb_key_put_i8)
    SIGNED(PB_CTYPE_I16, int16_t, INT16_MIN, INT16_MAX, pb_key_put_i16)
    SIGNED(PB_CTYPE_I32, int32_t, INT32_MIN, INT32_MAX, pb_key_put_i32)
    SIGNED(PB_CTYPE_ENUM, int32_t, INT32_MIN, INT32_MAX, pb_key_put_i32)
    SIGNED(PB_CTYPE_I64, int64_t, INT64_MIN, INT64_MAX, pb_key_put_i64)
#undef SIGNED
#define UNSIGNED(CT, T, MAX, PUT)                                           \
  case CT:                                                                  \
    if (!exact_int(v, &neg, &i, &u) || neg || u > (uint64_t)(MAX))          \
      return false;                                                         \
    PUT(kb, (T)u);                                                          \
    return true;
    UNSIGNED(PB_CTYPE_U8, uint8_t, UINT8_MAX, pb_key_put_u8)
    UNSIGNED(PB_CTYPE_U16, uint16_t, UINT16_MAX, pb_key_put_u16)
    UNSIGNED(PB_CTYPE_U32, uint32_t, UINT32_MAX, pb_key_put_u32)
    UNSIGNED(PB_CTYPE_U64, uint64_t, UINT64_MAX, pb_key_put_u64)
#undef UNSIGNED
  case PB_CTYPE_F32:
    if (!exact_double(v, &d) || (!isnan(d) && (double)(float)d != d))
      return false;
    pb_key_put_f32(kb, (float)d);
    return true;
  case PB_CTYPE_F64:
    if (!exact_double(v, &d))
      return false;
    pb_key_put_f64(kb, d);
    return true;
  case PB_CTYPE_STR:
    if (v->type != PB_QSTR || (!v->as.s.ptr && v->as.s.len))
      return false;
    pb_key_put_str(kb, (pb_str){(const char *)v->as.s.ptr, v->as.s.len});
    return true;
  case PB_CTYPE_BYTES:
    if (v->type != PB_QBYTES || (!v->as.s.ptr && v->as.s.len))
      return false;
    pb_key_put_bytes(kb, v->as.s);
    return true;
  default:
    return false;
  }
}

static const char *qtype_name(pb_qtype t) {
  static const char *const names[] = {"NULL", "BOOL",  "INT",  "UINT",
                                      "FLOAT", "STR", "BYTES"};
  return (unsigned)t <= PB_QBYTES ? names[t] : "bad";
}

/* Encodes vals[0..n) as the components of fields fs[0..n) into kb.
 * `what` names the bound for the detail. */
static int encode_bound(pb_keybuf *kb, const pb_record_field *const *fs,
                        const pb_qval *vals, size_t n, const char *node,
                        const char *what) {
  for (size_t i = 0; i < n; i++) {
    if (!put_value(kb, fs[i], &vals[i])) {
      char msg[256];
      snprintf(msg, sizeof msg,
               "%s: %s value #%zu, a %s, is not a value of field %s (%s)",
               node, what, i, qtype_name(vals[i].type),
               fs[i]->name ? fs[i]->name : "?",
               fs[i]->type ? fs[i]->type : "?");
      pb__errdetail_set(msg);
      return PB_EINVAL;
    }
  }
  return pb_keybuf_error(kb);
}

/* --- Table, key and index scans --- */

typedef enum scan_mode { SCAN_TABLE, SCAN_KEY, SCAN_INDEX } scan_mode;

/* A field a pushed predicate reads: where its member lives and how big it
 * is (LAZY DECODING, below). */
typedef struct lazy_field {
  uint32_t tag;
  uint32_t ctype;
  uint32_t offset, has_offset;
  bool optional;
  size_t size;
} lazy_field;

/* COMPILED TERMS.  A pushed predicate that is an AND of comparisons of
 * an integer field with an integer constant (BETWEENs too) is also kept
 * as a list of terms evaluated on the scratch record without pb_qval
 * values: the same answer (numbers by value; an absent optional field
 * NULL, so its term and the AND not TRUE), fewer steps per row. */
typedef struct fast_term {
  uint32_t offset, has_offset;
  bool optional, is_signed;
  uint8_t size; /* 1, 2, 4 or 8 */
  pb_cmp op;
  bool c_signed; /* the constant: an INT (ci), else a UINT (cu) */
  int64_t ci;
  uint64_t cu;
} fast_term;

typedef struct scan_state {
  const pb_table_def *def;
  scan_mode mode;
  size_t index;
  unsigned flags;
  pb_keybuf lo, hi;
  bool has_lo, has_hi;
  pb_qval *vals; /* lo's then hi's, owned copies (for explain) */
  size_t n_lo, n_hi;
  pb_cursor *cur;
  void *rec;
  const void *recp;
  uint64_t id;
  /* A pushed predicate (pb__scan_push; the Where above owns it): read
   * from each row's encoded bytes before the row is decoded. */
  const pb_expr *pushed;
  /* A gate (pb__scan_gate): a row the predicate keeps is decoded only if
   * gate_fn says yes to its sort keys, read from the encoded bytes too. */
  const pb_sort_key *gate_keys; /* borrowed from the OrderBy */
  size_t n_gate;
  pb__scan_gate_fn gate_fn;
  void *gate_ctx;
  pb_qval *gate_kv;
  fast_term *fast; /* COMPILED TERMS, or NULL */
  size_t n_fast;
  lazy_field *lazy; /* the fields it reads, each once */
  size_t n_lazy;
  uint64_t want;    /* bit t: a tag t < 64 of lazy */
  void *scratch;         /* a record struct holding only those fields */
  const void *scratchp;  /* &scratch, as a row's source */
  void *defaults;        /* def->init's record: the fields' defaults */
} scan_state;

static void qvals_free(pb_qval *v, size_t n) {
  for (size_t i = 0; i < n; i++)
    if (v[i].type == PB_QSTR || v[i].type == PB_QBYTES)
      free((void *)v[i].as.s.ptr);
  free(v);
}

static int scan_open(pb_plan *n) {
  scan_state *s = n->state;
  s->rec = calloc(1, s->def->size ? s->def->size : 1);
  if (!s->rec)
    return PB_ENOMEM;
  s->recp = s->rec;
  if (s->pushed || s->gate_fn) {
    size_t size = s->def->size ? s->def->size : 1;
    s->scratch = calloc(1, size);
    s->defaults = calloc(1, size);
    if (!s->scratch || !s->defaults)
      return PB_ENOMEM;
    s->def->init(s->defaults);
    memcpy(s->scratch, s->defaults, size);
    s->scratchp = s->scratch;
  }
  pb_bytes lo = pb_keybuf_bytes(&s->lo), hi = pb_keybuf_bytes(&s->hi);
  if (s->mode == SCAN_INDEX)
    return pb_table_index_scan(n->txn, s->def, s->index,
                               s->has_lo ? &lo : NULL,
                               s->has_hi ? &hi : NULL, s->flags, &s->cur);
  return pb_table_scan(n->txn, s->def, s->has_lo ? &lo : NULL,
                       s->has_hi ? &hi : NULL,
                       s->flags | (s->mode == SCAN_KEY ? PB_SCAN_PREFIX : 0),
                       &s->cur);
}

/*
 * LAZY DECODING.  A scan given a predicate (pb__scan_push) reads each
 * row's encoded bytes (pb__cursor_next_raw) and decodes into its scratch
 * record only the fields the predicate names: each starts from its
 * default (def->init's value; an optional one absent), then one pass over
 * the row's fields reads those tags with the generated decoder's own
 * readers (pb_field_*; a later copy of a field wins, as there), and skips
 * the others (unknown tags too).  So a field an older schema did not
 * write reads as its default and an absent optional field as NULL,
 * exactly as the decoded record has them.  The predicate is evaluated on
 * the scratch record; only a row it keeps is decoded whole, by the
 * table's decoder.  A needed field that does not read (bytes that are not
 * a valid record) sends the row to the whole decoder, which reports the
 * error as the plain scan would; a row the predicate drops is not checked
 * beyond the fields it names.
 */

/* Reads field f (of the row) into the scratch member of l. */
static int lazy_read(const pb_field *f, const lazy_field *l, uint8_t *rec) {
  void *m = rec + l->offset;
  int rc;
  switch ((pb_ctype)l->ctype) {
  case PB_CTYPE_BOOL:
    rc = pb_field_bool(f, m);
    break;
  case PB_CTYPE_I8:
    rc = pb_field_i8(f, m);
    break;
  case PB_CTYPE_I16:
    rc = pb_field_i16(f, m);
    break;
  case PB_CTYPE_I32:
  case PB_CTYPE_ENUM:
    rc = pb_field_i32(f, m);
    break;
  case PB_CTYPE_I64:
    rc = pb_field_i64(f, m);
    break;
  case PB_CTYPE_U8:
    rc = pb_field_u8(f, m);
    break;
  case PB_CTYPE_U16:
    rc = pb_field_u16(f, m);
    break;
  case PB_CTYPE_U32:
    rc = pb_field_u32(f, m);
    break;
  case PB_CTYPE_U64:
    rc = pb_field_u64(f, m);
    break;
  case PB_CTYPE_F32:
    rc = pb_field_float(f, m);
    break;
  case PB_CTYPE_F64:
    rc = pb_field_double(f, m);
    break;
  case PB_CTYPE_STR:
    rc = pb_field_str(f, m);
    break;
  case PB_CTYPE_BYTES:
    rc = pb_field_bytes(f, m);
    break;
  default:
    assert(!"a field lazy decoding does not read (lazy_ctype_size)");
    rc = PB_EINVAL; /* the row is then decoded whole */
    break;
  }
  if (rc == PB_OK && l->optional)
    *(bool *)(void *)(rec + l->has_offset) = true;
  return rc;
}

/* Whether every compiled term holds on the scratch record rec. */
static bool fast_eval(const scan_state *s, const uint8_t *rec) {
  for (size_t i = 0; i < s->n_fast; i++) {
    const fast_term *t = &s->fast[i];
    if (t->optional && !*(const bool *)(const void *)(rec + t->has_offset))
      return false; /* NULL: not TRUE */
    const uint8_t *m = rec + t->offset;
    int c;
    if (t->is_signed) {
      int64_t v;
      switch (t->size) {
      case 1: v = *(const int8_t *)(const void *)m; break;
      case 2: v = *(const int16_t *)(const void *)m; break;
      case 4: v = *(const int32_t *)(const void *)m; break;
      default: v = *(const int64_t *)(const void *)m; break;
      }
      if (t->c_signed)
        c = (v > t->ci) - (v < t->ci);
      else
        c = v < 0 ? -1 : ((uint64_t)v > t->cu) - ((uint64_t)v < t->cu);
    } else {
      uint64_t v;
      switch (t->size) {
      case 1: v = *(const uint8_t *)(const void *)m; break;
      case 2: v = *(const uint16_t *)(const void *)m; break;
      case 4: v = *(const uint32_t *)(const void *)m; break;
      default: v = *(const uint64_t *)(const void *)m; break;
      }
      if (t->c_signed && t->ci < 0)
        c = 1;
      else {
        uint64_t k = t->c_signed ? (uint64_t)t->ci : t->cu;
        c = (v > k) - (v < k);
      }
    }
    if (!pb__cmp_holds(t->op, c))
      return false;
  }
  return true;
}

/* The pushed predicate over the row `body`: *keep when it is TRUE.
 * *whole: a needed field did not read; decode the row whole. */
static int lazy_eval(scan_state *s, pb_bytes body, bool *keep, bool *whole) {
  uint8_t *rec = s->scratch;
  const uint8_t *dflt = s->defaults;
  *keep = *whole = false;
  for (size_t i = 0; i < s->n_lazy; i++) {
    const lazy_field *l = &s->lazy[i];
    memcpy(rec + l->offset, dflt + l->offset, l->size);
    if (l->optional)
      memcpy(rec + l->has_offset, dflt + l->has_offset, sizeof(bool));
  }
  /* One pass over the fields: a wanted one is read by pb_reader_next
   * (exactly as the decoder reads it), the others skipped here. */
  const uint8_t *p = body.ptr, *end = body.ptr + body.len;
  while (p < end) {
    const uint8_t *at = p;
    uint64_t key;
    if (*p < 0x80) {
      key = *p++;
    } else {
      pb_reader kr = {p, end};
      if (pb_reader_varint(&kr, &key) != PB_OK)
        goto whole;
      p = kr.pos;
    }
    uint64_t tag = key >> 3;
    size_t i = 0;
    if (tag < 64 && !(s->want & ((uint64_t)1 << tag)))
      i = s->n_lazy; /* not wanted */
    else
      while (i < s->n_lazy && s->lazy[i].tag != tag)
        i++;
    if (i < s->n_lazy && (key & 7) == PB_WT_VARINT && at + 1 == p) {
      /* the common wanted field: a one-byte key and a varint of at most
       * 9 bytes, read here as pb_reader_next reads it (longer, or
       * truncated: pb_reader_next below says what it is) */
      uint64_t v = 0;
      unsigned sh = 0;
      const uint8_t *q = p;
      while (q < end && sh < 63 && (*q & 0x80)) {
        v |= (uint64_t)(*q++ & 0x7f) << sh;
        sh += 7;
      }
      if (q < end && sh < 63) {
        v |= (uint64_t)*q++ << sh;
        pb_field f = {.key = at, .tag = (uint32_t)tag,
                      .wire_type = PB_WT_VARINT, .value = v};
        if (lazy_read(&f, &s->lazy[i], rec))
          goto whole;
        p = q;
        continue;
      }
    }
    if (i < s->n_lazy) {
      pb_reader rd = {at, end};
      pb_field f;
      if (pb_reader_next(&rd, &f) != 1 || lazy_read(&f, &s->lazy[i], rec))
        goto whole;
      p = rd.pos;
      continue;
    }
    if (tag == 0 || tag > PB_TAG_MAX)
      goto whole;
    if ((key & 7) == PB_WT_VARINT && p < end && *p < 0x80) {
      p++; /* the common case: a one-byte varint */
      continue;
    }
    uint64_t len;
    switch (key & 7) {
    case PB_WT_VARINT:
      while (p < end && (*p & 0x80))
        p++;
      if (p == end)
        goto whole;
      p++;
      break;
    case PB_WT_I64:
      len = 8;
      goto skip;
    case PB_WT_I32:
      len = 4;
      goto skip;
    case PB_WT_PTR:
      len = 20;
      goto skip;
    case PB_WT_LEN:
    case PB_WT_REC: {
      if (p < end && *p < 0x80) {
        len = *p++;
        goto skip;
      }
      pb_reader lr = {p, end};
      if (pb_reader_varint(&lr, &len) != PB_OK)
        goto whole;
      p = lr.pos;
      goto skip;
    }
    default:
      goto whole;
    }
    continue;
  skip:
    if (len > (uint64_t)(end - p))
      goto whole;
    p += len;
  }
  pb_row row;
  row.recs = &s->scratchp;
  row.ids = &s->id;
  row.n_recs = 1;
  row.cols = NULL;
  row.n_cols = 0;
  int rc;
  if (s->fast) {
    *keep = fast_eval(s, rec);
  } else if (s->pushed) {
    pb_qval v;
    if ((rc = pb__expr_eval(s->pushed, &row, &v)) != PB_OK)
      return rc;
    *keep = v.type == PB_QBOOL && v.as.b;
  } else {
    *keep = true;
  }
  if (*keep && s->gate_fn) {
    for (size_t i = 0; i < s->n_gate; i++)
      if ((rc = pb__expr_eval(s->gate_keys[i].expr, &row,
                              &s->gate_kv[i])) != PB_OK)
        return rc;
    *keep = s->gate_fn(s->gate_ctx, s->gate_kv);
  }
  return PB_OK;
whole:
  *whole = true;
  return PB_OK;
}

static int scan_next(pb_plan *n, pb_row *row) {
  scan_state *s = n->state;
  assert(s->cur && s->rec); /* opened */
  int rc;
  if (!s->pushed && !s->gate_fn) {
    rc = pb_cursor_next(s->cur, s->rec, &s->id);
    if (rc != PB_OK)
      return rc;
  } else {
    for (;;) {
      pb_bytes body;
      if ((rc = pb__cursor_next_raw(s->cur, &body, &s->id)) != PB_OK)
        return rc;
      bool keep, whole;
      if ((rc = lazy_eval(s, body, &keep, &whole)) != PB_OK)
        return rc;
      if (!keep && !whole)
        continue;
      if ((rc = pb__cursor_decode(s->cur, body, s->rec)) != PB_OK)
        return rc;
      if (!whole || !s->pushed)
        break;
      /* decoded whole after all: the predicate on the decoded record (a
       * gate's keys are the OrderBy's to judge) */
      pb_row r1 = {.recs = &s->recp, .ids = &s->id, .n_recs = 1};
      pb_qval v;
      if ((rc = pb__expr_eval(s->pushed, &r1, &v)) != PB_OK)
        return rc;
      if (v.type == PB_QBOOL && v.as.b)
        break;
    }
  }
  row->recs = &s->recp;
  row->ids = &s->id;
  row->n_recs = 1;
  row->cols = NULL, row->n_cols = 0; /* q-opt: a row has no columns */
  return PB_OK;
}

/* The size of a member of C type ct; 0: not one lazy decoding reads. */
static size_t lazy_ctype_size(uint32_t ct) {
  switch ((pb_ctype)ct) {
  case PB_CTYPE_BOOL:
    return sizeof(bool);
  case PB_CTYPE_I8:
  case PB_CTYPE_U8:
    return 1;
  case PB_CTYPE_I16:
  case PB_CTYPE_U16:
    return 2;
  case PB_CTYPE_I32:
  case PB_CTYPE_U32:
  case PB_CTYPE_ENUM:
  case PB_CTYPE_F32:
    return 4;
  case PB_CTYPE_I64:
  case PB_CTYPE_U64:
  case PB_CTYPE_F64:
    return 8;
  case PB_CTYPE_STR:
    return sizeof(pb_str);
  case PB_CTYPE_BYTES:
    return sizeof(pb_bytes);
  default:
    return 0;
  }
}

/* Collects the fields e reads into s->lazy; false when e cannot be
 * evaluated on a scratch record (a callback, a column, a field lazy
 * decoding does not read). */
static bool lazy_collect(scan_state *s, const pb_expr *e, size_t cap) {
  if (!e)
    return true;
  switch (e->kind) {
  case PB__E_PRED:
  case PB__E_FN:
  case PB__E_COL:
    return false;
  case PB__E_FIELD: {
    const pb_record_field *f = e->field;
    if (e->src != 0 || !f || !lazy_ctype_size(f->ctype))
      return false;
    for (size_t i = 0; i < s->n_lazy; i++)
      if (s->lazy[i].tag == f->tag)
        return true;
    if (s->n_lazy == cap)
      return false;
    if (f->tag < 64)
      s->want |= (uint64_t)1 << f->tag;
    lazy_field *l = &s->lazy[s->n_lazy++];
    l->tag = f->tag;
    l->ctype = f->ctype;
    l->offset = f->offset;
    l->has_offset = f->has_offset;
    l->optional = (f->flags & PB_FIELD_OPTIONAL) != 0;
    l->size = lazy_ctype_size(f->ctype);
    return true;
  }
  default:
    return lazy_collect(s, e->a, cap) && lazy_collect(s, e->b, cap) &&
           lazy_collect(s, e->c, cap);
  }
}

static bool is_scan(const pb_plan *n);

/* An integer field of source 0 (not a bool, float, string or bytes). */
static bool int_field(const pb_expr *e) {
  if (e->kind != PB__E_FIELD || e->src != 0 || !e->field)
    return false;
  switch ((pb_ctype)e->field->ctype) {
  case PB_CTYPE_I8: case PB_CTYPE_I16: case PB_CTYPE_I32: case PB_CTYPE_I64:
  case PB_CTYPE_ENUM: case PB_CTYPE_U8: case PB_CTYPE_U16: case PB_CTYPE_U32:
  case PB_CTYPE_U64:
    return true;
  default:
    return false;
  }
}

static bool int_const(const pb_expr *e) {
  return e->kind == PB__E_CONST &&
         (e->val.type == PB_QINT || e->val.type == PB_QUINT);
}

/* Appends the term `f op c` (f a field, c a constant). */
static bool fast_add(scan_state *s, size_t cap, const pb_expr *f, pb_cmp op,
                     const pb_expr *c) {
  if (s->n_fast == cap)
    return false;
  const pb_record_field *rf = f->field;
  fast_term *t = &s->fast[s->n_fast++];
  t->offset = rf->offset;
  t->has_offset = rf->has_offset;
  t->optional = (rf->flags & PB_FIELD_OPTIONAL) != 0;
  pb_ctype ct = (pb_ctype)rf->ctype;
  t->is_signed = ct == PB_CTYPE_I8 || ct == PB_CTYPE_I16 ||
                 ct == PB_CTYPE_I32 || ct == PB_CTYPE_I64 ||
                 ct == PB_CTYPE_ENUM;
  t->size = (uint8_t)lazy_ctype_size(ct);
  t->op = op;
  t->c_signed = c->val.type == PB_QINT;
  t->ci = c->val.type == PB_QINT ? c->val.as.i : 0;
  t->cu = c->val.type == PB_QUINT ? c->val.as.u : 0;
  return true;
}

/* Compiles e (an AND of integer comparisons) into s->fast. */
static bool fast_compile(scan_state *s, const pb_expr *e, size_t cap) {
  switch (e->kind) {
  case PB__E_AND:
    return fast_compile(s, e->a, cap) && fast_compile(s, e->b, cap);
  case PB__E_CMP:
    if (int_field(e->a) && int_const(e->b))
      return fast_add(s, cap, e->a, e->op, e->b);
    if (int_const(e->a) && int_field(e->b))
      return fast_add(s, cap, e->b, pb__cmp_flip(e->op), e->a);
    return false;
  case PB__E_BETWEEN:
    return int_field(e->a) && int_const(e->b) && int_const(e->c) &&
           fast_add(s, cap, e->a,
                    e->flags & PB_BETWEEN_LO_EXCL ? PB_GT : PB_GE, e->b) &&
           fast_add(s, cap, e->a,
                    e->flags & PB_BETWEEN_HI_EXCL ? PB_LT : PB_LE, e->c);
  default:
    return false;
  }
}

/* Prepares s->lazy for the fields of exprs[0..n) (a predicate, or sort
 * keys) on top of those collected already: false (and nothing added)
 * when one cannot be read lazily.  Errors: PB_ENOMEM. */
static int lazy_add(scan_state *s, const pb_expr *const *exprs, size_t n,
                    bool *ok) {
  *ok = false;
  size_t cap = s->def->type->n_fields;
  if (cap == 0 || !s->def->init)
    return PB_OK;
  if (!s->lazy && !(s->lazy = calloc(cap, sizeof *s->lazy)))
    return PB_ENOMEM;
  size_t n_lazy = s->n_lazy;
  uint64_t want = s->want;
  for (size_t i = 0; i < n; i++)
    if (!lazy_collect(s, exprs[i], cap)) {
      s->n_lazy = n_lazy;
      s->want = want;
      return PB_OK;
    }
  *ok = true;
  return PB_OK;
}

int pb__scan_push(pb_plan *n, const pb_expr *pred, bool *pushed) {
  *pushed = false;
  if (!is_scan(n) || n->opened || !pred)
    return PB_OK;
  scan_state *s = n->state;
  if (s->pushed)
    return PB_OK;
  bool ok;
  int rc = lazy_add(s, &pred, 1, &ok);
  if (rc != PB_OK || !ok)
    return rc;
  s->pushed = pred;
  *pushed = true;
  s->fast = calloc(16, sizeof *s->fast);
  if (!s->fast)
    return PB_ENOMEM;
  if (!fast_compile(s, pred, 16)) {
    free(s->fast);
    s->fast = NULL;
    s->n_fast = 0;
  }
  return PB_OK;
}

int pb__scan_gate(pb_plan *n, const pb_sort_key *keys, size_t n_keys,
                  pb__scan_gate_fn fn, void *ctx, bool *set) {
  *set = false;
  if (!is_scan(n) || n->opened || n_keys == 0 || n_keys > 64)
    return PB_OK;
  scan_state *s = n->state;
  if (s->gate_fn)
    return PB_OK;
  const pb_expr *exprs[64];
  for (size_t i = 0; i < n_keys; i++)
    exprs[i] = keys[i].expr;
  bool ok;
  int rc = lazy_add(s, exprs, n_keys, &ok);
  if (rc != PB_OK || !ok)
    return rc;
  s->gate_kv = calloc(n_keys, sizeof *s->gate_kv);
  if (!s->gate_kv)
    return PB_ENOMEM;
  s->gate_keys = keys;
  s->n_gate = n_keys;
  s->gate_fn = fn;
  s->gate_ctx = ctx;
  *set = true;
  return PB_OK;
}

static void scan_free(pb_plan *n) {
  scan_state *s = n->state;
  if (!s)
    return;
  pb_cursor_close(s->cur);
  pb_keybuf_free(&s->lo);
  pb_keybuf_free(&s->hi);
  qvals_free(s->vals, s->n_lo + s->n_hi);
  free(s->rec);
  free(s->lazy);
  free(s->gate_kv);
  free(s->fast);
  s->fast = NULL;
  free(s->scratch);
  free(s->defaults);
  free(s);
  n->state = NULL;
}

static void bprint_val(pb_buf *out, const pb_qval *v) {
  /* expr.c prints constants; reuse it through a constant node view */
  pb_expr c;
  memset(&c, 0, sizeof c);
  c.kind = PB__E_CONST;
  c.val = *v;
  pb__expr_print(&c, NULL, out);
}

static void print_bound(pb_buf *out, const pb_qval *v, size_t n) {
  if (n > 1)
    pb_buf_append(out, "(", 1);
  for (size_t i = 0; i < n; i++) {
    if (i)
      pb_buf_append(out, ", ", 2);
    bprint_val(out, &v[i]);
  }
  if (n > 1)
    pb_buf_append(out, ")", 1);
}

static void bputs(pb_buf *out, const char *s) {
  pb_buf_append(out, s, strlen(s));
}

/* A keyless table's primary key: its id, a uint64. */
static const pb_record_field id_field = {.tag = 0,
                                         .name = "id",
                                         .type = "uint64",
                                         .ctype = PB_CTYPE_U64};

/* The fields of a scan's range: the index's, or the primary key's one
 * (*n of them; a field not found is NULL). */
static size_t range_fields(const scan_state *s, const pb_record_field **fs,
                           size_t cap) {
  if (s->mode == SCAN_INDEX) {
    const pb_table_index *ix = &s->def->indexes[s->index];
    size_t n = ix->n_tags < cap ? ix->n_tags : cap;
    for (size_t i = 0; i < n; i++)
      fs[i] = ix->tags ? field_of(s->def, ix->tags[i]) : NULL;
    return n;
  }
  fs[0] = &id_field;
  if (s->def->key)
    for (size_t i = 0; i < s->def->type->n_fields; i++)
      if (s->def->type->fields[i].flags & PB_FIELD_KEY)
        fs[0] = &s->def->type->fields[i];
  return 1;
}

static void put_fname(pb_buf *out, const pb_record_field *f) {
  bputs(out, f && f->name ? f->name : "?");
}

/* "f op v", or "(f1, f2) op (v1, v2)" for fields fs[from..to). */
static void put_cmp(pb_buf *out, const pb_record_field *const *fs,
                    const pb_qval *v, size_t from, size_t to,
                    const char *op) {
  if (to - from == 1 && v[from].type == PB_QNULL) {
    /* the absent value of an optional field, which sorts first */
    put_fname(out, fs[from]);
    if (!strcmp(op, ">"))
      bputs(out, " IS NOT NULL");
    else if (!strcmp(op, "<="))
      bputs(out, " IS NULL");
    else {
      bputs(out, " ");
      bputs(out, op);
      bputs(out, " NULL");
    }
    return;
  }
  if (to - from > 1)
    bputs(out, "(");
  for (size_t i = from; i < to; i++) {
    if (i > from)
      bputs(out, ", ");
    put_fname(out, fs[i]);
  }
  bputs(out, to - from > 1 ? ") " : " ");
  bputs(out, op);
  bputs(out, " ");
  print_bound(out, v + from, to - from);
}

/*
 * A range as the conditions it answers: "[owner = 3, due >= 10]" for
 * lo (3, 10), hi (3) inclusive on (owner, due).  The leading components
 * the two bounds share (each end inclusive where it ends) are equalities;
 * what is left of each bound is one comparison (of a tuple when it has
 * several components: bounds are prefixes, so `(owner, due) >= (3, 10)`
 * and `owner <= 5`); "[all]" when neither end is bounded.
 */
static void put_range(pb_buf *out, const scan_state *s) {
  const pb_record_field *fs[64];
  size_t nf = range_fields(s, fs, 64);
  const pb_qval *lo = s->vals, *hi = s->vals + s->n_lo;
  size_t nl = s->n_lo < nf ? s->n_lo : nf, nh = s->n_hi < nf ? s->n_hi : nf;
  bool lo_excl = (s->flags & PB_SCAN_LO_EXCL) != 0;
  bool hi_incl = (s->flags & PB_SCAN_HI_INCL) != 0;
  size_t k = 0;
  while (k < nl && k < nh && lo[k].type == hi[k].type &&
         pb__qval_cmp(&lo[k], &hi[k]) == 0 &&
         (k + 1 < nl || !lo_excl) && (k + 1 < nh || hi_incl))
    k++;
  bputs(out, "[");
  bool any = false;
  for (size_t i = 0; i < k; i++) {
    if (any)
      bputs(out, ", ");
    any = true;
    if (lo[i].type == PB_QNULL) {
      put_fname(out, fs[i]);
      bputs(out, " IS NULL");
    } else {
      put_cmp(out, fs, lo, i, i + 1, "=");
    }
  }
  if (nl > k) {
    if (any)
      bputs(out, ", ");
    any = true;
    put_cmp(out, fs, lo, k, nl, lo_excl ? ">" : ">=");
  }
  if (nh > k) {
    if (any)
      bputs(out, ", ");
    any = true;
    put_cmp(out, fs, hi, k, nh, hi_incl ? "<=" : "<");
  }
  bputs(out, any ? "]" : "all]");
}

static void scan_explain(const pb_plan *n, pb_buf *out) {
  const scan_state *s = n->state;
  bputs(out, s->def->type->name ? s->def->type->name : "?");
  if (s->mode == SCAN_TABLE) {
    bputs(out, " full scan");
    return;
  }
  if (s->mode == SCAN_INDEX) {
    bputs(out, ".");
    bputs(out, s->def->indexes[s->index].name
                   ? s->def->indexes[s->index].name
                   : "?");
  } else {
    const pb_record_field *kf;
    range_fields(s, &kf, 1);
    bputs(out, ".");
    put_fname(out, kf);
  }
  bputs(out, " ");
  put_range(out, s);
  if (s->flags & PB_SCAN_REVERSE)
    bputs(out, " reverse");
}

static const pb__qnode_ops table_ops = {"TableScan", scan_open, scan_next,
                                        scan_free, scan_explain};
static const pb__qnode_ops key_ops = {"KeyScan", scan_open, scan_next,
                                      scan_free, scan_explain};
static const pb__qnode_ops index_ops = {"IndexScan", scan_open, scan_next,
                                        scan_free, scan_explain};

/* A scan node of `def` with an empty state and shape (one source). */
static int scan_node(pb_txn *txn, const pb_table_def *def,
                     const pb__qnode_ops *ops, scan_mode mode,
                     pb_plan **out) {
  pb_plan *n = pb__plan_node(ops, txn);
  scan_state *s = calloc(1, sizeof *s);
  const pb_table_def **srcs = malloc(sizeof *srcs);
  if (!n || !s || !srcs) {
    free(n);
    free(s);
    free(srcs);
    return PB_ENOMEM;
  }
  s->def = def;
  s->mode = mode;
  pb_keybuf_init(&s->lo);
  pb_keybuf_init(&s->hi);
  n->state = s;
  srcs[0] = def;
  n->shape.srcs = srcs;
  n->shape.n_srcs = 1;
  *out = n;
  return PB_OK;
}

static bool def_ok(const pb_table_def *def) {
  return def && def->type && (def->type->fields || !def->type->n_fields);
}

int pb_plan_from_table(pb_txn *txn, const pb_table_def *def, pb_plan **out) {
  if (!out)
    return PB_EINVAL;
  *out = NULL;
  if (!txn || !def_ok(def))
    return PB_EINVAL;
  return scan_node(txn, def, &table_ops, SCAN_TABLE, out);
}

static bool is_scan(const pb_plan *n) {
  return n && (n->ops == &table_ops || n->ops == &key_ops ||
               n->ops == &index_ops);
}

const pb_table_def *pb__from_table_def(const pb_plan *n) {
  if (!is_scan(n))
    return NULL;
  return ((const scan_state *)n->state)->def;
}

/* A range node: fields fs[0..n_fields) are the key's or the index's. */
static int range_node(pb_txn *txn, const pb_table_def *def,
                      const pb__qnode_ops *ops, scan_mode mode, size_t index,
                      const pb_record_field *const *fs, size_t n_fields,
                      const pb_qval *lo, size_t n_lo, const pb_qval *hi,
                      size_t n_hi, unsigned flags, const char *node,
                      pb_plan **out) {
  char msg[256];
  if (n_lo > n_fields || n_hi > n_fields) {
    snprintf(msg, sizeof msg, "%s: %zu values for %zu field(s)", node,
             n_lo > n_hi ? n_lo : n_hi, n_fields);
    pb__errdetail_set(msg);
    return PB_EINVAL;
  }
  unsigned allowed = PB_SCAN_LO_EXCL | PB_SCAN_HI_INCL | PB_SCAN_REVERSE;
  if (mode == SCAN_KEY)
    allowed |= PB_SCAN_PREFIX; /* what a key scan does anyway */
  if (flags & ~allowed) {
    snprintf(msg, sizeof msg, "%s: unknown flags 0x%x", node, flags);
    pb__errdetail_set(msg);
    return PB_EINVAL;
  }
  pb_plan *n;
  int rc = scan_node(txn, def, ops, mode, &n);
  if (rc != PB_OK)
    return rc;
  scan_state *s = n->state;
  s->index = index;
  s->flags = flags;
  s->has_lo = n_lo > 0;
  s->has_hi = n_hi > 0;
  rc = encode_bound(&s->lo, fs, lo, n_lo, node, "lo");
  if (rc == PB_OK)
    rc = encode_bound(&s->hi, fs, hi, n_hi, node, "hi");
  if (rc == PB_OK && n_lo + n_hi) {
    s->vals = calloc(n_lo + n_hi, sizeof *s->vals);
    if (!s->vals)
      rc = PB_ENOMEM;
    for (size_t i = 0; rc == PB_OK && i < n_lo + n_hi; i++) {
      pb_qval v = i < n_lo ? lo[i] : hi[i - n_lo];
      if ((v.type == PB_QSTR || v.type == PB_QBYTES)) {
        uint8_t *p = malloc(v.as.s.len ? v.as.s.len : 1);
        if (!p) {
          rc = PB_ENOMEM;
          break;
        }
        if (v.as.s.len)
          memcpy(p, v.as.s.ptr, v.as.s.len);
        v.as.s.ptr = p;
      }
      s->vals[i] = v;
      if (i < n_lo)
        s->n_lo = i + 1;
      else
        s->n_hi = i + 1 - n_lo;
    }
  }
  if (rc != PB_OK) {
    pb__plan_node_free(n);
    return rc;
  }
  *out = n;
  return PB_OK;
}

int pb__from_index_node(pb_txn *txn, const pb_table_def *def, size_t index,
                        const pb_qval *lo, size_t n_lo, const pb_qval *hi,
                        size_t n_hi, unsigned flags, pb_plan **out) {
  if (!out)
    return PB_EINVAL;
  *out = NULL;
  if (!txn || !def_ok(def) || (n_lo && !lo) || (n_hi && !hi))
    return PB_EINVAL;
  char msg[160];
  if (index >= def->n_indexes || !def->indexes) {
    snprintf(msg, sizeof msg, "IndexScan: %s has no index #%zu",
             def->type->name ? def->type->name : "?", index);
    pb__errdetail_set(msg);
    return PB_EINVAL;
  }
  const pb_table_index *ix = &def->indexes[index];
  const pb_record_field *fs[64];
  size_t nf = ix->n_tags < 64 ? ix->n_tags : 64;
  for (size_t i = 0; i < nf; i++) {
    fs[i] = ix->tags ? field_of(def, ix->tags[i]) : NULL;
    if (!fs[i] && i < (n_lo > n_hi ? n_lo : n_hi)) {
      snprintf(msg, sizeof msg, "IndexScan: index %s field #%zu is not a "
                                "field of %s",
               ix->name ? ix->name : "?", i,
               def->type->name ? def->type->name : "?");
      pb__errdetail_set(msg);
      return PB_EINVAL;
    }
  }
  return range_node(txn, def, &index_ops, SCAN_INDEX, index, fs, nf, lo,
                    n_lo, hi, n_hi, flags, "IndexScan", out);
}

int pb_plan_from_index(pb_txn *txn, const pb_table_def *def, size_t index,
                       const pb_qval *lo, size_t n_lo, const pb_qval *hi,
                       size_t n_hi, unsigned flags, pb_plan **out) {
  return pb__from_index_node(txn, def, index, lo, n_lo, hi, n_hi, flags,
                             out);
}

int pb__from_key_node(pb_txn *txn, const pb_table_def *def, const pb_qval *lo,
                      size_t n_lo, const pb_qval *hi, size_t n_hi,
                      unsigned flags, pb_plan **out) {
  if (!out)
    return PB_EINVAL;
  *out = NULL;
  if (!txn || !def_ok(def) || (n_lo && !lo) || (n_hi && !hi))
    return PB_EINVAL;
  const pb_record_field *key = &id_field;
  if (def->key) {
    key = NULL;
    for (size_t i = 0; i < def->type->n_fields; i++)
      if (def->type->fields[i].flags & PB_FIELD_KEY)
        key = &def->type->fields[i];
    if (!key) {
      char msg[160];
      snprintf(msg, sizeof msg, "KeyScan: %s has no [key] field",
               def->type->name ? def->type->name : "?");
      pb__errdetail_set(msg);
      return PB_EINVAL;
    }
  }
  const pb_record_field *fs[1] = {key};
  return range_node(txn, def, &key_ops, SCAN_KEY, 0, fs, 1, lo, n_lo, hi,
                    n_hi, flags, "KeyScan", out);
}

/* --- Collections --- */

typedef struct coll_state {
  pb_value_kind kind;
  void *coll;
  void *it;
  uint64_t pos; /* a List's next index */
  pb_qval cols[2];
  pb_buf enc[2]; /* encoded REF, RECORD and collection values */
} coll_state;

static int coll_open(pb_plan *n) {
  coll_state *s = n->state;
  switch (s->kind) {
  case PB_VALUE_DICT:
    return pb_dict_iter_open(s->coll, NULL, 0, (pb_dict_iter **)&s->it);
  case PB_VALUE_LIST:
    return pb_list_iter_open(s->coll, 0, UINT64_MAX, (pb_list_iter **)&s->it);
  case PB_VALUE_SET:
    return pb_set_iter_open(s->coll, (pb_set_iter **)&s->it);
  default:
    return pb_hdict_iter_open(s->coll, (pb_hdict_iter **)&s->it);
  }
}

/* A stored value as a column; an encoded one goes into enc. */
static int coll_val(const pb_value *v, pb_buf *enc, pb_qval *out) {
  switch (v->kind) {
  case PB_VALUE_NULL:
    *out = pb_qnull();
    return PB_OK;
  case PB_VALUE_BOOL:
    *out = pb_qbool(v->as.b);
    return PB_OK;
  case PB_VALUE_INT:
    *out = pb_qint(v->as.i);
    return PB_OK;
  case PB_VALUE_UINT:
    *out = pb_quint(v->as.u);
    return PB_OK;
  case PB_VALUE_DOUBLE:
    *out = pb_qfloat(v->as.d);
    return PB_OK;
  case PB_VALUE_STRING:
    *out = pb_qstr(v->as.s);
    return PB_OK;
  case PB_VALUE_BYTES:
    *out = pb_qbytes(v->as.bytes);
    return PB_OK;
  default:
    pb_buf_reset(enc);
    pb__value_encode(enc, v);
    if (pb_buf_error(enc) == PB_ENOMEM)
      return PB_ENOMEM;
    if (pb_buf_error(enc) != PB_OK) /* a value read that has no encoding */
      return PB__CORRUPT("CollectionScan: a stored value of kind %d does "
                         "not encode", (int)v->kind);
    *out = pb_qbytes((pb_bytes){enc->data, enc->len});
    return PB_OK;
  }
}

static int coll_next(pb_plan *n, pb_row *row) {
  coll_state *s = n->state;
  pb_value k, v;
  pb_str ks;
  int rc;
  memset(&k, 0, sizeof k);
  memset(&v, 0, sizeof v);
  switch (s->kind) {
  case PB_VALUE_DICT:
    rc = pb_dict_iter_next(s->it, &ks, &v);
    if (rc == PB_OK)
      s->cols[0] = pb_qstr(ks);
    break;
  case PB_VALUE_LIST:
    rc = pb_list_iter_next(s->it, &v);
    if (rc == PB_OK)
      s->cols[0] = pb_quint(s->pos++);
    break;
  case PB_VALUE_SET:
    rc = pb_set_iter_next(s->it, &k);
    if (rc == PB_OK)
      rc = coll_val(&k, &s->enc[0], &s->cols[0]);
    v.kind = PB_VALUE_NULL;
    break;
  default:
    rc = pb_hdict_iter_next(s->it, &k, &v);
    if (rc == PB_OK)
      rc = coll_val(&k, &s->enc[0], &s->cols[0]);
    break;
  }
  if (rc == PB_OK)
    rc = coll_val(&v, &s->enc[1], &s->cols[1]);
  if (rc != PB_OK)
    return rc;
  row->recs = NULL; /* no source */
  row->ids = NULL;
  row->n_recs = 0;
  row->cols = s->cols;
  row->n_cols = 2;
  return PB_OK;
}

static void coll_free(pb_plan *n) {
  coll_state *s = n->state;
  if (!s)
    return;
  if (s->it) {
    switch (s->kind) {
    case PB_VALUE_DICT:
      pb_dict_iter_close(s->it);
      break;
    case PB_VALUE_LIST:
      pb_list_iter_close(s->it);
      break;
    case PB_VALUE_SET:
      pb_set_iter_close(s->it);
      break;
    default:
      pb_hdict_iter_close(s->it);
    }
  }
  pb_buf_free(&s->enc[0]);
  pb_buf_free(&s->enc[1]);
  free(s);
  n->state = NULL;
}

static void coll_explain(const pb_plan *n, pb_buf *out) {
  const coll_state *s = n->state;
  bputs(out, s->kind == PB_VALUE_DICT    ? "Dictionary"
             : s->kind == PB_VALUE_LIST  ? "List"
             : s->kind == PB_VALUE_SET   ? "Set"
                                         : "HashDictionary");
}

static const pb__qnode_ops coll_ops = {"CollectionScan", coll_open,
                                       coll_next, coll_free, coll_explain};

int pb_plan_from_collection(pb_txn *txn, pb_value_kind kind, void *coll,
                            pb_plan **out) {
  if (!out)
    return PB_EINVAL;
  *out = NULL;
  if (!txn || !coll ||
      (kind != PB_VALUE_DICT && kind != PB_VALUE_LIST &&
       kind != PB_VALUE_SET && kind != PB_VALUE_HASHDICT))
    return PB_EINVAL;
  pb_plan *n = pb__plan_node(&coll_ops, txn);
  coll_state *s = calloc(1, sizeof *s);
  pb_qtype *types = malloc(2 * sizeof *types);
  if (!n || !s || !types) {
    free(n);
    free(s);
    free(types);
    return PB_ENOMEM;
  }
  s->kind = kind;
  s->coll = coll;
  pb_buf_init(&s->enc[0]);
  pb_buf_init(&s->enc[1]);
  types[0] = kind == PB_VALUE_DICT   ? PB_QSTR
             : kind == PB_VALUE_LIST ? PB_QUINT
                                     : PB_QNULL;
  types[1] = PB_QNULL; /* any: a collection's values have no one type */
  n->state = s;
  n->shape.col_types = types;
  n->shape.n_cols = 2;
  *out = n;
  return PB_OK;
}
