/*
 * tools/pbtool/record.c - table keys derived from a record body and the
 * catalog's field layout, as generated key functions build them from the
 * struct (compiler/gen_table.c): each component by the pb_key_put_* of
 * the field's declared type (an enum as int32, a ref by key as its
 * target's key type); an optional field writes pb_key_put_bool(has) and
 * then, when present, its value.  An absent field that is not optional
 * has its default (the layout's exact default).
 */
#include <stdlib.h>
#include <string.h>

#include "pbtool.h"

static bool is(pb_str s, const char *lit) {
  return s.len == strlen(lit) && memcmp(s.ptr, lit, s.len) == 0;
}

/* The scalar type a key reads field f as: "int32", "string", ... */
pb_str pbt_key_type(const pbt_catalog *c, const pb__lfield *f) {
  if (f->enums.len) return (pb_str){"int32", 5};
  pb_str t = f->type;
  if (t.len > 5 && memcmp(t.ptr, "ref<", 4) == 0 && t.ptr[t.len - 1] == '>') {
    const pbt_type *target =
        pbt_type_by_name(c, (pb_str){t.ptr + 4, t.len - 5});
    const pb__lfield *k =
        target && target->has_layout ? pbt_key_field(&target->layout) : NULL;
    return k ? pbt_key_type(c, k) : (pb_str){"", 0};
  }
  return t;
}

int pbt_read_as(pb_str t, const pb_field *fv, pb_str dflt, pbt_val *out) {
  memset(out, 0, sizeof *out);
  char d[64] = "0";
  if (!fv && dflt.len && dflt.len < sizeof d) {
    memcpy(d, dflt.ptr, dflt.len);
    d[dflt.len] = '\0';
  }
  static const struct {
    const char *name;
    pbt_vkind kind;
    int width;
  } ints[] = {{"int8", PBT_V_I64, 8},   {"int16", PBT_V_I64, 16},
              {"int32", PBT_V_I64, 32}, {"int64", PBT_V_I64, 64},
              {"uint8", PBT_V_U64, 8},  {"uint16", PBT_V_U64, 16},
              {"uint32", PBT_V_U64, 32}, {"uint64", PBT_V_U64, 64}};
  for (size_t i = 0; i < sizeof ints / sizeof ints[0]; i++) {
    if (!is(t, ints[i].name)) continue;
    out->kind = ints[i].kind;
    out->width = ints[i].width;
    if (!fv) {
      if (out->kind == PBT_V_I64) out->as.i = strtoll(d, NULL, 10);
      else out->as.u = strtoull(d, NULL, 10);
      return PB_OK;
    }
    int rc = PB_OK;
    switch (ints[i].width * (out->kind == PBT_V_I64 ? 1 : -1)) {
    case 8: { int8_t v; rc = pb_field_i8(fv, &v); out->as.i = v; break; }
    case 16: { int16_t v; rc = pb_field_i16(fv, &v); out->as.i = v; break; }
    case 32: { int32_t v; rc = pb_field_i32(fv, &v); out->as.i = v; break; }
    case 64: rc = pb_field_i64(fv, &out->as.i); break;
    case -8: { uint8_t v; rc = pb_field_u8(fv, &v); out->as.u = v; break; }
    case -16: { uint16_t v; rc = pb_field_u16(fv, &v); out->as.u = v; break; }
    case -32: { uint32_t v; rc = pb_field_u32(fv, &v); out->as.u = v; break; }
    default: rc = pb_field_u64(fv, &out->as.u); break;
    }
    return rc;
  }
  if (is(t, "bool")) {
    out->kind = PBT_V_BOOL;
    if (!fv) out->as.b = strcmp(d, "true") == 0;
    return fv ? pb_field_bool(fv, &out->as.b) : PB_OK;
  }
  if (is(t, "float32") || is(t, "float64")) {
    out->kind = is(t, "float32") ? PBT_V_F32 : PBT_V_F64;
    if (!fv) {
      out->as.d = strtod(d, NULL);
      return PB_OK;
    }
    if (out->kind == PBT_V_F64) return pb_field_double(fv, &out->as.d);
    float f;
    int rc = pb_field_float(fv, &f);
    out->as.d = f;
    return rc;
  }
  if (is(t, "string") || is(t, "bytes")) {
    out->kind = is(t, "string") ? PBT_V_STR : PBT_V_BYTES;
    if (fv) return pb_field_bytes(fv, &out->as.s);
    /* defaults of strings and bytes read "N:text" */
    const char *colon = memchr(dflt.ptr, ':', dflt.len);
    if (dflt.len && colon) {
      size_t n = strtoull(dflt.ptr, NULL, 10);
      size_t left = (size_t)(dflt.ptr + dflt.len - colon - 1);
      out->as.s = (pb_bytes){(const uint8_t *)colon + 1, n < left ? n : left};
    }
    return PB_OK;
  }
  return PB_ENOTSUP;
}

int pbt_key_value(const pbt_catalog *c, const pb__lfield *f, pb_bytes body,
                  pbt_val *out) {
  pb_reader r;
  pb_field fld, last;
  bool found = false;
  int rc;
  pb_reader_init(&r, body.ptr, body.len);
  while ((rc = pb_reader_next(&r, &fld)) == 1)
    if (fld.tag == f->tag) {
      last = fld;
      found = true;
    }
  if (rc < 0) return rc;
  if (!found && (f->flags & PB_FIELD_OPTIONAL)) {
    memset(out, 0, sizeof *out);
    out->kind = PBT_V_ABSENT;
    return PB_OK;
  }
  return pbt_read_as(pbt_key_type(c, f), found ? &last : NULL, f->dflt, out);
}

static void put_val(pb_keybuf *k, const pbt_val *v) {
  switch (v->kind) {
  case PBT_V_BOOL: pb_key_put_bool(k, v->as.b); break;
  case PBT_V_I64:
    switch (v->width) {
    case 8: pb_key_put_i8(k, (int8_t)v->as.i); break;
    case 16: pb_key_put_i16(k, (int16_t)v->as.i); break;
    case 32: pb_key_put_i32(k, (int32_t)v->as.i); break;
    default: pb_key_put_i64(k, v->as.i); break;
    }
    break;
  case PBT_V_U64:
    switch (v->width) {
    case 8: pb_key_put_u8(k, (uint8_t)v->as.u); break;
    case 16: pb_key_put_u16(k, (uint16_t)v->as.u); break;
    case 32: pb_key_put_u32(k, (uint32_t)v->as.u); break;
    default: pb_key_put_u64(k, v->as.u); break;
    }
    break;
  case PBT_V_F32: pb_key_put_f32(k, (float)v->as.d); break;
  case PBT_V_F64: pb_key_put_f64(k, v->as.d); break;
  case PBT_V_STR:
    pb_key_put_str(k, (pb_str){(const char *)v->as.s.ptr, v->as.s.len});
    break;
  case PBT_V_BYTES: pb_key_put_bytes(k, v->as.s); break;
  case PBT_V_ABSENT: break;
  }
}

void pbt_key_put(pb_keybuf *k, const pb__lfield *f, const pbt_val *v) {
  if (f->flags & PB_FIELD_OPTIONAL) {
    pb_key_put_bool(k, v->kind != PBT_V_ABSENT);
    if (v->kind == PBT_V_ABSENT) return;
  }
  put_val(k, v);
}

int pbt_record_key(const pbt_catalog *c, const pbt_type *t, pb_bytes body,
                   pb_keybuf *out) {
  pb_keybuf_reset(out);
  const pb__lfield *f = t && t->has_layout ? pbt_key_field(&t->layout) : NULL;
  if (!f) return PB_ENOTSUP;
  pbt_val v;
  int rc = pbt_key_value(c, f, body, &v);
  if (rc != PB_OK) return rc;
  put_val(out, &v); /* a key field is never optional */
  return pb_keybuf_error(out);
}

int pbt_index_entry(const pbt_catalog *c, const pbt_type *t,
                    const pbt_index *x, pb_bytes body, pb_bytes pk,
                    pb_keybuf *out) {
  pb_keybuf_reset(out);
  if (!t || !t->has_layout) return PB_ENOTSUP;
  for (size_t i = 0; i < x->n_tags; i++) {
    const pb__lfield *f = pbt_field(&t->layout, x->tags[i]);
    if (!f) return PB_ENOTSUP;
    pbt_val v;
    int rc = pbt_key_value(c, f, body, &v);
    if (rc != PB_OK) return rc;
    pbt_key_put(out, f, &v);
  }
  if (!(x->flags & PB_INDEX_UNIQUE))
    for (size_t i = 0; i < pk.len; i++) pb_key_put_u8(out, pk.ptr[i]);
  return pb_keybuf_error(out);
}
