/*
 * tools/pbtool/values.c - records, values and collections printed as text
 * or JSON (docs/pbtool.md, "dump").  In JSON, strings are escaped as RFC
 * 8259 says, bytes are lowercase hex strings, a non-finite float is the
 * string "nan", "inf" or "-inf", and an atom pointer is the string
 * "@<batch_hi><batch_lo>+<offset>" in hex.  Text prints the same
 * structure with unquoted names.  With a NULL FILE nothing is printed,
 * but everything is read (and so checked).
 */
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "pbtool.h"

void pbt_puts(pbt_out *o, const char *s) {
  if (o->f) fputs(s, o->f);
}

void pbt_printf(pbt_out *o, const char *fmt, ...) {
  if (!o->f) return;
  va_list ap;
  va_start(ap, fmt);
  vfprintf(o->f, fmt, ap);
  va_end(ap);
}

void pbt_str(pbt_out *o, const void *p, size_t n) {
  if (!o->f) return;
  const unsigned char *s = p;
  bool utf8 = pb_utf8_valid(s, n);
  fputc('"', o->f);
  for (size_t i = 0; i < n; i++) {
    unsigned char ch = s[i];
    if (ch == '"' || ch == '\\') fprintf(o->f, "\\%c", ch);
    else if (ch == '\n') fputs("\\n", o->f);
    else if (ch == '\t') fputs("\\t", o->f);
    else if (ch == '\r') fputs("\\r", o->f);
    else if (ch < 0x20 || ch == 0x7f || (!utf8 && ch >= 0x80))
      fprintf(o->f, "\\u%04x", ch); /* invalid UTF-8: bytes as code points */
    else fputc(ch, o->f);
  }
  fputc('"', o->f);
}

void pbt_hex(pbt_out *o, const void *p, size_t n) {
  if (!o->f) return;
  const unsigned char *s = p;
  fputc('"', o->f);
  for (size_t i = 0; i < n; i++) fprintf(o->f, "%02x", s[i]);
  fputc('"', o->f);
}

void pbt_ptr(pbt_out *o, pb_atom_ptr p) {
  pbt_printf(o, "\"@%016" PRIx64 "%016" PRIx64 "+%" PRIx64 "\"", p.batch_hi,
             p.batch_lo, p.offset);
}

static void name_out(pbt_out *o, const char *s, size_t n) {
  if (o->json) pbt_str(o, s, n);
  else pbt_printf(o, "%.*s", (int)n, s);
  pbt_puts(o, o->json ? ": " : ": ");
}

static void dbl(pbt_out *o, double d) {
  if (isnan(d)) pbt_puts(o, "\"nan\"");
  else if (isinf(d)) pbt_puts(o, d > 0 ? "\"inf\"" : "\"-inf\"");
  else pbt_printf(o, "%.17g", d);
}

static bool ends_with(pb_str s, const char *lit) {
  size_t n = strlen(lit);
  return s.len >= n && memcmp(s.ptr + s.len - n, lit, n) == 0;
}

static bool is(pb_str s, const char *lit) {
  return s.len == strlen(lit) && memcmp(s.ptr, lit, s.len) == 0;
}

/* An enum's name for number v from "A=0,B=1", or NULL. */
static bool enum_name(pb_str enums, int64_t v, pb_str *out) {
  const char *p = enums.ptr, *end = enums.ptr + enums.len;
  while (p < end) {
    const char *comma = memchr(p, ',', (size_t)(end - p));
    const char *e = comma ? comma : end;
    const char *eq = memchr(p, '=', (size_t)(e - p));
    if (eq && strtoll(eq + 1, NULL, 10) == v) {
      *out = (pb_str){p, (size_t)(eq - p)};
      return true;
    }
    p = e + 1;
  }
  return false;
}

/* One value of element type `t` read from fv. */
static int scalar(pbt_out *o, const pbt_catalog *c, const pb__lfield *f,
                  pb_str t, const pb_field *fv) {
  if (fv->wire_type == PB_WT_PTR) {
    pb_atom_ptr p;
    int rc = pb_field_atom_ptr(fv, &p);
    if (rc == PB_OK) pbt_ptr(o, p);
    return rc;
  }
  if (fv->wire_type == PB_WT_REC) {
    pb_bytes b;
    int rc = pb_field_rec(fv, &b);
    if (rc != PB_OK) return rc;
    const pbt_type *e = f && f->embedded.len ? pbt_type_by_name(c, f->embedded)
                                             : NULL;
    return pbt_print_record(o, c, e, b, false);
  }
  if (f && f->enums.len && fv->wire_type == PB_WT_VARINT) {
    int32_t v;
    int rc = pb_field_i32(fv, &v);
    if (rc != PB_OK) return rc;
    pb_str n;
    if (enum_name(f->enums, v, &n)) pbt_str(o, n.ptr, n.len);
    else pbt_printf(o, "%" PRId32, v);
    return PB_OK;
  }
  /* A scalar by its declared type; a ref by key has its target's key. */
  if (t.len > 5 && memcmp(t.ptr, "ref<", 4) == 0 && f) t = pbt_key_type(c, f);
  pbt_val v;
  int rc = pbt_read_as(t, fv, (pb_str){NULL, 0}, &v);
  if (rc == PB_ENOTSUP) { /* a type we do not know: the raw value */
    if (fv->wire_type == PB_WT_LEN) pbt_hex(o, fv->data, fv->size);
    else pbt_printf(o, "%" PRIu64, fv->value);
    return PB_OK;
  }
  if (rc != PB_OK) return rc;
  switch (v.kind) {
  case PBT_V_BOOL: pbt_puts(o, v.as.b ? "true" : "false"); break;
  case PBT_V_I64: pbt_printf(o, "%" PRId64, v.as.i); break;
  case PBT_V_U64: pbt_printf(o, "%" PRIu64, v.as.u); break;
  case PBT_V_F32:
  case PBT_V_F64: dbl(o, v.as.d); break;
  case PBT_V_STR:
    if (!pb_utf8_valid(v.as.s.ptr, v.as.s.len))
      return PB_ECORRUPT;
    pbt_str(o, v.as.s.ptr, v.as.s.len);
    break;
  case PBT_V_BYTES: pbt_hex(o, v.as.s.ptr, v.as.s.len); break;
  case PBT_V_ABSENT: pbt_puts(o, "null"); break;
  }
  return PB_OK;
}

/* The elements of one array field occurrence (packed or one element). */
static int elements(pbt_out *o, const pbt_catalog *c, const pb__lfield *f,
                    pb_str elem, const pb_field *fv, bool *first) {
  bool packed = fv->wire_type == PB_WT_LEN && !is(elem, "string") &&
                !is(elem, "bytes") && !f->embedded.len;
  if (!packed) {
    if (!*first) pbt_puts(o, ", ");
    *first = false;
    return scalar(o, c, f, elem, fv);
  }
  uint8_t wt = is(elem, "float32")   ? PB_WT_I32
               : is(elem, "float64") ? PB_WT_I64
                                     : PB_WT_VARINT;
  pb_packed p;
  pb_field e;
  int rc = pb_packed_begin(fv, wt, &p);
  if (rc != PB_OK) return rc;
  while ((rc = pb_packed_next(&p, &e)) == 1) {
    e.tag = fv->tag;
    if (!*first) pbt_puts(o, ", ");
    *first = false;
    if ((rc = scalar(o, c, f, elem, &e)) != PB_OK) return rc;
  }
  return rc;
}

/* An absent field that is not optional reads as its default: printed so
 * that every field shows (encoders omit a field equal to its default).
 * Members, embedded records and unknown types print nothing. */
static void print_default(pbt_out *o, const pbt_catalog *c,
                          const pb__lfield *f, bool *first) {
  if ((f->flags & PB_FIELD_OPTIONAL) || f->embedded.len) return;
  bool array = ends_with(f->type, "[]");
  pbt_val v;
  if (!array && pbt_read_as(pbt_key_type(c, f), NULL, f->dflt, &v) != PB_OK)
    return; /* list<>, set<>, map<>, a keyless ref: no default to show */
  if (!*first) pbt_puts(o, ", ");
  *first = false;
  name_out(o, f->name.ptr, f->name.len);
  pb_str n;
  if (array) pbt_puts(o, "[]");
  else if (f->enums.len && enum_name(f->enums, v.as.i, &n))
    pbt_str(o, n.ptr, n.len);
  else switch (v.kind) {
    case PBT_V_BOOL: pbt_puts(o, v.as.b ? "true" : "false"); break;
    case PBT_V_I64: pbt_printf(o, "%" PRId64, v.as.i); break;
    case PBT_V_U64: pbt_printf(o, "%" PRIu64, v.as.u); break;
    case PBT_V_F32:
    case PBT_V_F64: dbl(o, v.as.d); break;
    case PBT_V_STR: pbt_str(o, v.as.s.ptr, v.as.s.len); break;
    case PBT_V_BYTES: pbt_hex(o, v.as.s.ptr, v.as.s.len); break;
    case PBT_V_ABSENT: pbt_puts(o, "null"); break;
    }
}

int pbt_print_record(pbt_out *o, const pbt_catalog *c, const pbt_type *t,
                     pb_bytes body, bool with_type) {
  const pb__layout *l = t && t->has_layout ? &t->layout : NULL;
  pb_reader r;
  pb_field fv;
  int rc;
  bool first = true;
  pbt_puts(o, "{");
  if (with_type && t) {
    name_out(o, "@type", 5);
    pbt_str(o, t->name, strlen(t->name));
    first = false;
  }
  pb_reader_init(&r, body.ptr, body.len);
  rc = pb_reader_next(&r, &fv);
  size_t next = 0; /* layout fields before it are shown with defaults */
  while (rc == 1) {
    while (l && next < l->n_fields && l->fields[next].tag < fv.tag)
      print_default(o, c, &l->fields[next++], &first);
    if (l && next < l->n_fields && l->fields[next].tag == fv.tag) next++;
    const pb__lfield *f = l ? pbt_field(l, fv.tag) : NULL;
    if (!first) pbt_puts(o, ", ");
    first = false;
    if (f) {
      name_out(o, f->name.ptr, f->name.len);
    } else {
      char n[16];
      int len = snprintf(n, sizeof n, "#%u", fv.tag);
      name_out(o, n, (size_t)len);
    }
    if (f && ends_with(f->type, "[]")) {
      pb_str elem = {f->type.ptr, f->type.len - 2};
      bool efirst = true;
      uint32_t tag = fv.tag;
      pbt_puts(o, "[");
      do {
        if ((rc = elements(o, c, f, elem, &fv, &efirst)) < 0) return rc;
      } while ((rc = pb_reader_next(&r, &fv)) == 1 && fv.tag == tag);
      pbt_puts(o, "]");
      continue; /* fv holds the next field already */
    }
    if (f) {
      rc = scalar(o, c, f, f->type, &fv);
    } else if (fv.wire_type == PB_WT_LEN) {
      pbt_hex(o, fv.data, fv.size);
    } else if (fv.wire_type == PB_WT_REC) {
      pb_bytes b = {fv.data, fv.size};
      rc = pbt_print_record(o, c, NULL, b, false);
    } else if (fv.wire_type == PB_WT_PTR) {
      rc = scalar(o, c, NULL, (pb_str){"", 0}, &fv);
    } else {
      pbt_printf(o, "%" PRIu64, fv.value);
    }
    if (rc != PB_OK) return rc;
    rc = pb_reader_next(&r, &fv);
  }
  while (rc == 0 && l && next < l->n_fields)
    print_default(o, c, &l->fields[next++], &first);
  pbt_puts(o, "}");
  return rc < 0 ? rc : PB_OK;
}

int pbt_print_value(pbt_out *o, const pbt_catalog *c, const pb_value *v,
                    void *coll) {
  switch (v->kind) {
  case PB_VALUE_NULL: pbt_puts(o, "null"); return PB_OK;
  case PB_VALUE_BOOL: pbt_puts(o, v->as.b ? "true" : "false"); return PB_OK;
  case PB_VALUE_INT: pbt_printf(o, "%" PRId64, v->as.i); return PB_OK;
  case PB_VALUE_UINT: pbt_printf(o, "%" PRIu64, v->as.u); return PB_OK;
  case PB_VALUE_DOUBLE: dbl(o, v->as.d); return PB_OK;
  case PB_VALUE_STRING: pbt_str(o, v->as.s.ptr, v->as.s.len); return PB_OK;
  case PB_VALUE_BYTES:
    pbt_hex(o, v->as.bytes.ptr, v->as.bytes.len);
    return PB_OK;
  case PB_VALUE_REF: pbt_ptr(o, v->as.ref); return PB_OK;
  case PB_VALUE_RECORD: {
    const pbt_type *t = pbt_type_by_fp(c, v->as.rec.fingerprint, NULL);
    return pbt_print_record(o, c, t, v->as.rec.body, true);
  }
  default:
    if (coll) return pbt_print_coll(o, c, v->kind, coll);
    pbt_ptr(o, v->as.ref);
    return PB_OK;
  }
}

/* A Dictionary entry's nested collection, opened by key. */
static int open_nested(pb_dict *d, pb_str key, pb_value_kind kind,
                       void **out) {
  switch (kind) {
  case PB_VALUE_DICT: return pb_dict_open_dict(d, key, 0, (pb_dict **)out);
  case PB_VALUE_LIST: return pb_dict_open_list(d, key, 0, (pb_list **)out);
  case PB_VALUE_SET: return pb_dict_open_set(d, key, 0, (pb_set **)out);
  case PB_VALUE_HASHDICT:
    return pb_dict_open_hdict(d, key, 0, (pb_hdict **)out);
  default: *out = NULL; return PB_OK;
  }
}

int pbt_print_coll(pbt_out *o, const pbt_catalog *c, pb_value_kind kind,
                   void *coll) {
  int rc = PB_OK;
  bool first = true;
  pb_value k, v;
  pb_str ks;
  if (kind == PB_VALUE_DICT) {
    pb_dict_iter *it;
    if ((rc = pb_dict_iter_open(coll, NULL, 0, &it)) != PB_OK) return rc;
    pbt_puts(o, "{");
    while ((rc = pb_dict_iter_next(it, &ks, &v)) == PB_OK) {
      if (!first) pbt_puts(o, ", ");
      first = false;
      pbt_str(o, ks.ptr, ks.len);
      pbt_puts(o, ": ");
      void *sub = NULL;
      if (pb_value_is_collection(v.kind) &&
          (rc = open_nested(coll, ks, v.kind, &sub)) != PB_OK)
        break;
      if ((rc = pbt_print_value(o, c, &v, sub)) != PB_OK) break;
    }
    pb_dict_iter_close(it);
    pbt_puts(o, "}");
  } else if (kind == PB_VALUE_LIST) {
    pb_list_iter *it;
    uint64_t n;
    if ((rc = pb_list_count(coll, &n)) != PB_OK) return rc;
    if ((rc = pb_list_iter_open(coll, 0, n, &it)) != PB_OK) return rc;
    pbt_puts(o, "[");
    while ((rc = pb_list_iter_next(it, &v)) == PB_OK) {
      if (!first) pbt_puts(o, ", ");
      first = false;
      if ((rc = pbt_print_value(o, c, &v, NULL)) != PB_OK) break;
    }
    pb_list_iter_close(it);
    pbt_puts(o, "]");
  } else if (kind == PB_VALUE_SET) {
    pb_set_iter *it;
    if ((rc = pb_set_iter_open(coll, &it)) != PB_OK) return rc;
    pbt_puts(o, "[");
    while ((rc = pb_set_iter_next(it, &v)) == PB_OK) {
      if (!first) pbt_puts(o, ", ");
      first = false;
      if ((rc = pbt_print_value(o, c, &v, NULL)) != PB_OK) break;
    }
    pb_set_iter_close(it);
    pbt_puts(o, "]");
  } else if (kind == PB_VALUE_HASHDICT) {
    pb_hdict_iter *it;
    if ((rc = pb_hdict_iter_open(coll, &it)) != PB_OK) return rc;
    pbt_puts(o, "[");
    while ((rc = pb_hdict_iter_next(it, &k, &v)) == PB_OK) {
      if (!first) pbt_puts(o, ", ");
      first = false;
      pbt_puts(o, "[");
      if ((rc = pbt_print_value(o, c, &k, NULL)) != PB_OK) break;
      pbt_puts(o, ", ");
      if ((rc = pbt_print_value(o, c, &v, NULL)) != PB_OK) break;
      pbt_puts(o, "]");
    }
    pb_hdict_iter_close(it);
    pbt_puts(o, "]");
  }
  return rc == PB_ENOTFOUND ? PB_OK : rc;
}

void pbt_key_text(const pbt_catalog *c, const pbt_table *t, pb_bytes pk,
                  char *out, size_t cap) {
  pb_keyreader r;
  pb_keyreader_init(&r, pk.ptr, pk.len);
  const pb__lfield *f = t->type && t->type->has_layout
                            ? pbt_key_field(&t->type->layout)
                            : NULL;
  if (t->keyless) {
    uint64_t id;
    if (pb_key_get_u64(&r, &id) == PB_OK && pb_key_expect_end(&r) == PB_OK) {
      snprintf(out, cap, "id=%" PRIu64, id);
      return;
    }
  } else if (f) {
    pb_str ty = pbt_key_type(c, f);
    pb_arena *a = NULL;
    int rc = PB_ECORRUPT;
    char v[700] = ""; /* 150 bytes of at most 4 characters each, quoted */
    if (is(ty, "string") || is(ty, "bytes")) {
      pb_bytes b;
      if (pb_arena_create(&a) == PB_OK &&
          (rc = pb_key_get_bytes(&r, a, &b)) == PB_OK) {
        size_t n = b.len < 150 ? b.len : 150;
        int k = 0;
        v[k++] = '"';
        for (size_t i = 0; i < n; i++)
          k += snprintf(v + k, sizeof v - (size_t)k,
                        b.ptr[i] >= 0x20 && b.ptr[i] < 0x7f &&
                                b.ptr[i] != '"' ? "%c" : "\\x%02x",
                        b.ptr[i]);
        snprintf(v + k, sizeof v - (size_t)k, "\"");
      }
      pb_arena_destroy(a);
    } else if (is(ty, "bool")) {
      bool b;
      if ((rc = pb_key_get_bool(&r, &b)) == PB_OK)
        snprintf(v, sizeof v, "%s", b ? "true" : "false");
    } else if (ty.len > 0 && ty.ptr[0] == 'i') {
      int64_t x = 0;
      int8_t x8; int16_t x16; int32_t x32;
      if (is(ty, "int8") && (rc = pb_key_get_i8(&r, &x8)) == PB_OK) x = x8;
      if (is(ty, "int16") && (rc = pb_key_get_i16(&r, &x16)) == PB_OK) x = x16;
      if (is(ty, "int32") && (rc = pb_key_get_i32(&r, &x32)) == PB_OK) x = x32;
      if (is(ty, "int64")) rc = pb_key_get_i64(&r, &x);
      if (rc == PB_OK) snprintf(v, sizeof v, "%" PRId64, x);
    } else if (ty.len > 0 && ty.ptr[0] == 'u') {
      uint64_t x = 0;
      uint8_t x8; uint16_t x16; uint32_t x32;
      if (is(ty, "uint8") && (rc = pb_key_get_u8(&r, &x8)) == PB_OK) x = x8;
      if (is(ty, "uint16") && (rc = pb_key_get_u16(&r, &x16)) == PB_OK)
        x = x16;
      if (is(ty, "uint32") && (rc = pb_key_get_u32(&r, &x32)) == PB_OK)
        x = x32;
      if (is(ty, "uint64")) rc = pb_key_get_u64(&r, &x);
      if (rc == PB_OK) snprintf(v, sizeof v, "%" PRIu64, x);
    }
    if (rc == PB_OK && pb_key_expect_end(&r) == PB_OK) {
      snprintf(out, cap, "%.*s=%s", (int)f->name.len, f->name.ptr, v);
      return;
    }
  }
  size_t k = (size_t)snprintf(out, cap, "key=0x");
  for (size_t i = 0; i < pk.len && k + 3 < cap; i++)
    k += (size_t)snprintf(out + k, cap - k, "%02x", pk.ptr[i]);
}
