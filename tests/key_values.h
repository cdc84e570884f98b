/*
 * tests/key_values.h - typed key components for the tests of the key codec
 * (protobase/key.h): one value of any kind, its natural order (the order
 * its encoding must have), its encoding and decoding, and equality after
 * canonicalization (-0.0 is +0.0, every NaN is one NaN).  Header-only;
 * used by unit/test_key.c and the key fuzzers.
 */
#ifndef PB_TEST_KEY_VALUES_H
#define PB_TEST_KEY_VALUES_H

#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "protobase/key.h"

#define KV_MAX_BYTES 64 /* the longest string or bytes value generated */

/* One component value. */
typedef struct kv {
  pb_key_kind kind; /* which member holds the value */
  union {
    bool b;
    uint64_t u; /* U8..U64 */
    int64_t i;  /* I8..I64 */
    double f;   /* F32 (exactly a float) and F64 */
  } as;
  uint8_t s[KV_MAX_BYTES]; /* STR, BYTES: the bytes */
  size_t n;                /* STR, BYTES: their length */
} kv;

static inline int kv_sign(int64_t d) { return (d > 0) - (d < 0); }

/* Natural order of two doubles with -0.0 == +0.0 and NaN == NaN above all. */
static inline int kv_cmp_double(double a, double b) {
  if (isnan(a) || isnan(b)) return isnan(a) - isnan(b);
  return (a > b) - (a < b);
}

/* Natural order of two values of the same kind: -1, 0 or 1. */
static inline int kv_cmp(const kv *a, const kv *b) {
  switch (a->kind) {
    case PB_KEY_BOOL: return (int)a->as.b - (int)b->as.b;
    case PB_KEY_U8: case PB_KEY_U16: case PB_KEY_U32: case PB_KEY_U64:
      return (a->as.u > b->as.u) - (a->as.u < b->as.u);
    case PB_KEY_I8: case PB_KEY_I16: case PB_KEY_I32: case PB_KEY_I64:
      return (a->as.i > b->as.i) - (a->as.i < b->as.i);
    case PB_KEY_F32: case PB_KEY_F64: return kv_cmp_double(a->as.f, b->as.f);
    case PB_KEY_STR: case PB_KEY_BYTES: {
      size_t m = a->n < b->n ? a->n : b->n;
      int c = m ? memcmp(a->s, b->s, m) : 0;
      if (c) return c < 0 ? -1 : 1;
      return (a->n > b->n) - (a->n < b->n);
    }
  }
  return 0;
}

/* Natural order of two tuples of `n` components each. */
static inline int kv_cmp_tuple(const kv *a, const kv *b, size_t n) {
  for (size_t i = 0; i < n; i++) {
    int c = kv_cmp(&a[i], &b[i]);
    if (c) return c;
  }
  return 0;
}

/* Bytewise order of two keys: memcmp, then the shorter first. */
static inline int kv_cmp_bytes(const uint8_t *a, size_t na, const uint8_t *b,
                               size_t nb) {
  size_t m = na < nb ? na : nb;
  int c = m ? memcmp(a, b, m) : 0;
  if (c) return c < 0 ? -1 : 1;
  return (na > nb) - (na < nb);
}

/* Appends `v` with the put of its kind. */
static inline void kv_put(pb_keybuf *k, const kv *v) {
  switch (v->kind) {
    case PB_KEY_BOOL: pb_key_put_bool(k, v->as.b); break;
    case PB_KEY_U8: pb_key_put_u8(k, (uint8_t)v->as.u); break;
    case PB_KEY_U16: pb_key_put_u16(k, (uint16_t)v->as.u); break;
    case PB_KEY_U32: pb_key_put_u32(k, (uint32_t)v->as.u); break;
    case PB_KEY_U64: pb_key_put_u64(k, v->as.u); break;
    case PB_KEY_I8: pb_key_put_i8(k, (int8_t)v->as.i); break;
    case PB_KEY_I16: pb_key_put_i16(k, (int16_t)v->as.i); break;
    case PB_KEY_I32: pb_key_put_i32(k, (int32_t)v->as.i); break;
    case PB_KEY_I64: pb_key_put_i64(k, v->as.i); break;
    case PB_KEY_F32: pb_key_put_f32(k, (float)v->as.f); break;
    case PB_KEY_F64: pb_key_put_f64(k, v->as.f); break;
    case PB_KEY_STR:
      pb_key_put_str(k, (pb_str){(const char *)v->s, v->n});
      break;
    case PB_KEY_BYTES: pb_key_put_bytes(k, (pb_bytes){v->s, v->n}); break;
  }
}

/* Reads a value of kind `kind` with the get of that kind into *v.  Strings
 * and bytes longer than KV_MAX_BYTES are read but cut to that length (the
 * caller compares only what it generated).  Returns the get's code. */
static inline int kv_get(pb_keyreader *r, pb_key_kind kind, pb_arena *arena,
                         kv *v) {
  int rc = PB_EINVAL;
  memset(v, 0, sizeof *v);
  v->kind = kind;
  switch (kind) {
    case PB_KEY_BOOL: return pb_key_get_bool(r, &v->as.b);
#define KV_GET(K, T, get, member)            \
  case K: {                                  \
    T x;                                     \
    rc = get(r, &x);                         \
    if (rc == PB_OK) v->as.member = x;       \
    return rc;                               \
  }
    KV_GET(PB_KEY_U8, uint8_t, pb_key_get_u8, u)
    KV_GET(PB_KEY_U16, uint16_t, pb_key_get_u16, u)
    KV_GET(PB_KEY_U32, uint32_t, pb_key_get_u32, u)
    KV_GET(PB_KEY_U64, uint64_t, pb_key_get_u64, u)
    KV_GET(PB_KEY_I8, int8_t, pb_key_get_i8, i)
    KV_GET(PB_KEY_I16, int16_t, pb_key_get_i16, i)
    KV_GET(PB_KEY_I32, int32_t, pb_key_get_i32, i)
    KV_GET(PB_KEY_I64, int64_t, pb_key_get_i64, i)
    KV_GET(PB_KEY_F32, float, pb_key_get_f32, f)
    KV_GET(PB_KEY_F64, double, pb_key_get_f64, f)
#undef KV_GET
    case PB_KEY_STR: {
      pb_str s;
      rc = pb_key_get_str(r, arena, &s);
      if (rc != PB_OK) return rc;
      v->n = s.len < KV_MAX_BYTES ? s.len : KV_MAX_BYTES;
      if (v->n) memcpy(v->s, s.ptr, v->n);
      return rc;
    }
    case PB_KEY_BYTES: {
      pb_bytes b;
      rc = pb_key_get_bytes(r, arena, &b);
      if (rc != PB_OK) return rc;
      v->n = b.len < KV_MAX_BYTES ? b.len : KV_MAX_BYTES;
      if (v->n) memcpy(v->s, b.ptr, v->n);
      return rc;
    }
  }
  return rc;
}

/* Equality after canonicalization: -0.0 == +0.0 and NaN == NaN. */
static inline bool kv_equal(const kv *a, const kv *b) {
  return a->kind == b->kind && kv_cmp(a, b) == 0;
}

/* The byte width of a fixed-size kind, or 0 for STR and BYTES. */
static inline size_t kv_width(pb_key_kind kind) {
  switch (kind) {
    case PB_KEY_BOOL: case PB_KEY_U8: case PB_KEY_I8: return 1;
    case PB_KEY_U16: case PB_KEY_I16: return 2;
    case PB_KEY_U32: case PB_KEY_I32: case PB_KEY_F32: return 4;
    case PB_KEY_U64: case PB_KEY_I64: case PB_KEY_F64: return 8;
    case PB_KEY_STR: case PB_KEY_BYTES: return 0;
  }
  return 0;
}

#define KV_NKINDS 13 /* PB_KEY_BOOL .. PB_KEY_BYTES */

#endif /* PB_TEST_KEY_VALUES_H */
