/*
 * atom/key.c - the order-preserving key codec (protobase/key.h).
 *
 * A key is a sequence of components whose bytes compare, with memcmp and
 * the shorter first on a common prefix, as their values do.  Fixed-width
 * numbers are big-endian, so bytewise order is numeric order for unsigned
 * values; flipping the sign bit maps int64's order onto uint64's (INT64_MIN
 * becomes 0); a float's bits, inverted when negative and with the sign bit
 * set when positive, run in the order of the numbers (the sign-magnitude
 * bits of positive floats already grow with the value, and inverting the
 * negative ones reverses their order and puts them all below the
 * positives).  Strings and bytes are variable, so their encoding must be
 * prefix-free for composites to work: 0x00 becomes 0x00 0xFF, and
 * 0x00 0x01 ends the component.  docs/format.md proves the orders.
 *
 * The builder keeps up to PB_KEY_INLINE bytes in the struct itself and
 * grows onto the heap (doubling, never past PB_KEY_MAX) beyond; its first
 * error is sticky like pb_buf's.  The readers check every length before
 * touching a byte, and refuse any byte sequence the writers would not
 * produce, so decode and encode are inverse bijections on valid keys.
 */
#include "protobase/key.h"

#include <assert.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "util/errdetail.h"

/* The canonical NaNs, as IEEE bits (quiet, positive, zero payload). */
#define F32_NAN_BITS 0x7fc00000u
#define F64_NAN_BITS 0x7ff8000000000000ull

/* --- the builder --- */

void pb_keybuf_init(pb_keybuf *k) {
  if (!k) return;
  k->ptr = k->inline_;
  k->len = 0;
  k->cap = PB_KEY_INLINE;
  k->err = PB_OK;
}

void pb_keybuf_reset(pb_keybuf *k) {
  if (!k) return;
  k->len = 0;
  k->err = PB_OK;
}

void pb_keybuf_free(pb_keybuf *k) {
  if (!k) return;
  if (k->ptr != k->inline_) free(k->ptr);
  pb_keybuf_init(k);
}

/* Records `err` as the sticky error of `k` (not NULL) unless it has one,
 * with `why` as this thread's detail. */
static void key_fail(pb_keybuf *k, int err, const char *why) {
  if (k->err != PB_OK) return;
  k->err = err;
  pb__errdetail_set(why);
}

/* Makes room for `extra` more bytes.  Returns false (with the sticky error
 * set) when the key would exceed PB_KEY_MAX or memory runs out. */
static bool key_reserve(pb_keybuf *k, size_t extra) {
  if (k->err != PB_OK) return false;
  assert(k->len <= k->cap && k->cap <= PB_KEY_MAX);
  if (extra <= k->cap - k->len) return true;
  if (extra > PB_KEY_MAX - k->len) {
    key_fail(k, PB_ETOOBIG, "key: longer than PB_KEY_MAX (4096) bytes");
    return false;
  }
  size_t need = k->len + extra, cap = k->cap;
  while (cap < need) cap *= 2;
  if (cap > PB_KEY_MAX) cap = PB_KEY_MAX;
  uint8_t *p;
  if (k->ptr == k->inline_) {
    p = malloc(cap);
    if (p) memcpy(p, k->inline_, k->len);
  } else {
    p = realloc(k->ptr, cap);
  }
  if (!p) {
    key_fail(k, PB_ENOMEM, "key: out of memory growing the key buffer");
    return false;
  }
  k->ptr = p;
  k->cap = cap;
  return true;
}

/* Appends the low `n` bytes of `v`, most significant first. */
static void put_be(pb_keybuf *k, uint64_t v, unsigned n) {
  if (!k || !key_reserve(k, n)) return;
  for (unsigned i = 0; i < n; i++)
    k->ptr[k->len + i] = (uint8_t)(v >> (8 * (n - 1 - i)));
  k->len += n;
}

void pb_key_put_bool(pb_keybuf *k, bool v) { put_be(k, v ? 1 : 0, 1); }
void pb_key_put_u8(pb_keybuf *k, uint8_t v) { put_be(k, v, 1); }
void pb_key_put_u16(pb_keybuf *k, uint16_t v) { put_be(k, v, 2); }
void pb_key_put_u32(pb_keybuf *k, uint32_t v) { put_be(k, v, 4); }
void pb_key_put_u64(pb_keybuf *k, uint64_t v) { put_be(k, v, 8); }

/* Signed: two's complement with the sign bit flipped, so that the most
 * negative value is all zeros and -1 sorts just below 0. */
void pb_key_put_i8(pb_keybuf *k, int8_t v) {
  put_be(k, (uint8_t)v ^ 0x80u, 1);
}
void pb_key_put_i16(pb_keybuf *k, int16_t v) {
  put_be(k, (uint16_t)v ^ 0x8000u, 2);
}
void pb_key_put_i32(pb_keybuf *k, int32_t v) {
  put_be(k, (uint32_t)v ^ 0x80000000u, 4);
}
void pb_key_put_i64(pb_keybuf *k, int64_t v) {
  put_be(k, (uint64_t)v ^ 0x8000000000000000ull, 8);
}

/* The order-preserving form of a float's bits (`sign` is its top bit). */
static uint64_t float_order(uint64_t bits, uint64_t sign) {
  return (bits & sign) ? ~bits : bits | sign;
}

void pb_key_put_f32(pb_keybuf *k, float v) {
  uint32_t bits;
  if (isnan(v))
    bits = F32_NAN_BITS;
  else if (v == 0.0f)
    bits = 0; /* -0.0 as +0.0 */
  else
    memcpy(&bits, &v, 4);
  put_be(k, (uint32_t)float_order(bits, 0x80000000u), 4);
}

void pb_key_put_f64(pb_keybuf *k, double v) {
  uint64_t bits;
  if (isnan(v))
    bits = F64_NAN_BITS;
  else if (v == 0.0)
    bits = 0; /* -0.0 as +0.0 */
  else
    memcpy(&bits, &v, 8);
  put_be(k, float_order(bits, 0x8000000000000000ull), 8);
}

/* Appends `n` bytes with each 0x00 escaped as 0x00 0xFF, and the
 * terminator 0x00 0x01 when `terminate`. */
static void put_escaped(pb_keybuf *k, const uint8_t *p, size_t n,
                        bool terminate) {
  if (n > PB_KEY_MAX) {
    key_fail(k, PB_ETOOBIG, "key: longer than PB_KEY_MAX (4096) bytes");
    return;
  }
  size_t zeros = 0;
  if (n > 0)
    for (const uint8_t *z = memchr(p, 0, n); z;
         z = memchr(z + 1, 0, n - (size_t)(z + 1 - p)))
      zeros++;
  /* n + zeros + 2 <= 2 * PB_KEY_MAX + 2: no overflow. */
  if (!key_reserve(k, n + zeros + (terminate ? 2 : 0))) return;
  uint8_t *o = k->ptr + k->len;
  while (n > 0) {
    const uint8_t *z = memchr(p, 0, n);
    size_t run = z ? (size_t)(z - p) : n;
    memcpy(o, p, run);
    o += run;
    p += run;
    n -= run;
    if (z) {
      *o++ = 0x00;
      *o++ = 0xff;
      p++;
      n--;
    }
  }
  if (terminate) {
    *o++ = 0x00;
    *o++ = 0x01;
  }
  assert(o <= k->ptr + k->cap);
  k->len = (size_t)(o - k->ptr);
}

/* The checks of a bytes view before it is written. */
static bool view_ok(pb_keybuf *k, const void *ptr, size_t len, bool utf8) {
  if (len > 0 && !ptr) {
    key_fail(k, PB_EINVAL, "key: NULL pointer with a non-zero length");
    return false;
  }
  if (utf8 && !pb_utf8_valid(ptr, len)) {
    key_fail(k, PB_EINVAL, "key: string is not valid UTF-8");
    return false;
  }
  return true;
}

void pb_key_put_str(pb_keybuf *k, pb_str s) {
  if (!k || k->err != PB_OK || !view_ok(k, s.ptr, s.len, true)) return;
  put_escaped(k, (const uint8_t *)s.ptr, s.len, true);
}

void pb_key_put_bytes(pb_keybuf *k, pb_bytes v) {
  if (!k || k->err != PB_OK || !view_ok(k, v.ptr, v.len, false)) return;
  put_escaped(k, v.ptr, v.len, true);
}

void pb_key_put_str_prefix(pb_keybuf *k, pb_str s) {
  if (!k || k->err != PB_OK || !view_ok(k, s.ptr, s.len, true)) return;
  put_escaped(k, (const uint8_t *)s.ptr, s.len, false);
}

void pb_key_put_bytes_prefix(pb_keybuf *k, pb_bytes v) {
  if (!k || k->err != PB_OK || !view_ok(k, v.ptr, v.len, false)) return;
  put_escaped(k, v.ptr, v.len, false);
}

/* --- ranges --- */

int pb_key_prefix_successor(const void *prefix, size_t len, pb_keybuf *out) {
  if (!out) return PB_EINVAL;
  if (!prefix && len > 0) {
    pb_keybuf_reset(out);
    key_fail(out, PB_EINVAL, "key: NULL prefix with a non-zero length");
    return PB_EINVAL;
  }
  const uint8_t *p = prefix;
  uintptr_t at = (uintptr_t)p, buf = (uintptr_t)out->ptr;
  bool in_place = len > 0 && at >= buf && at < buf + out->cap;
  pb_keybuf_reset(out);
  if (len > PB_KEY_MAX) {
    key_fail(out, PB_ETOOBIG, "key: prefix longer than PB_KEY_MAX bytes");
    return PB_ETOOBIG;
  }
  while (len > 0 && p[len - 1] == 0xff) len--;
  if (len == 0) return PB_ENOTFOUND;
  if (in_place) {
    /* The bytes are already in the buffer: nothing can need room. */
    assert(p + len <= out->ptr + out->cap);
    memmove(out->ptr, p, len);
  } else {
    if (!key_reserve(out, len)) return out->err;
    memcpy(out->ptr, p, len);
  }
  out->ptr[len - 1]++;
  out->len = len;
  return PB_OK;
}

/* --- readers --- */

void pb_keyreader_init(pb_keyreader *r, const void *data, size_t size) {
  if (!r) return;
  r->start = data;
  r->pos = data;
  r->end = data ? r->pos + size : r->pos; /* no arithmetic on NULL */
}

/* PB_ECORRUPT for a key longer than any put writes, else PB_OK. */
static int check_size(const pb_keyreader *r) {
  size_t size = (size_t)(r->end - r->start);
  if (size > PB_KEY_MAX)
    return PB__CORRUPT("key: %zu bytes, more than PB_KEY_MAX (4096)", size);
  return PB_OK;
}

/* Reads `n` big-endian bytes into *v, or PB_ECORRUPT when fewer are left. */
static int get_be(pb_keyreader *r, unsigned n, uint64_t *v,
                  const char *kind) {
  size_t left = (size_t)(r->end - r->pos);
  int rc = check_size(r);
  if (rc != PB_OK) return rc;
  if (left < n)
    return PB__CORRUPT("key: %s component at offset %zu needs %u bytes, %zu "
                       "left",
                       kind, (size_t)(r->pos - r->start), n, left);
  uint64_t x = 0;
  for (unsigned i = 0; i < n; i++) x = x << 8 | r->pos[i];
  *v = x;
  return PB_OK;
}

int pb_key_get_bool(pb_keyreader *r, bool *out) {
  uint64_t v;
  if (!r || !out) return PB_EINVAL;
  int rc = get_be(r, 1, &v, "bool");
  if (rc != PB_OK) return rc;
  if (v > 1)
    return PB__CORRUPT("key: bool byte 0x%02x at offset %zu", (unsigned)v,
                       (size_t)(r->pos - r->start));
  r->pos += 1;
  *out = v == 1;
  return PB_OK;
}

/* The unsigned and signed gets: read, then move and store. */
#define KEY_GET_INT(name, type, n, flip)                 \
  int pb_key_get_##name(pb_keyreader *r, type *out) {    \
    uint64_t v;                                          \
    if (!r || !out) return PB_EINVAL;                    \
    int rc = get_be(r, n, &v, #name);                    \
    if (rc != PB_OK) return rc;                          \
    r->pos += n;                                         \
    *out = (type)(v ^ (flip));                           \
    return PB_OK;                                        \
  }

KEY_GET_INT(u8, uint8_t, 1, 0)
KEY_GET_INT(u16, uint16_t, 2, 0)
KEY_GET_INT(u32, uint32_t, 4, 0)
KEY_GET_INT(u64, uint64_t, 8, 0)
KEY_GET_INT(i8, int8_t, 1, 0x80u)
KEY_GET_INT(i16, int16_t, 2, 0x8000u)
KEY_GET_INT(i32, int32_t, 4, 0x80000000u)
KEY_GET_INT(i64, int64_t, 8, 0x8000000000000000ull)
#undef KEY_GET_INT

/* Undoes float_order: the encoded sign bit set means the value was
 * positive (clear it), else negative (invert all bits). */
static uint64_t float_unorder(uint64_t e, uint64_t sign) {
  return (e & sign) ? e & ~sign : ~e & (sign | (sign - 1));
}

/* Checks that `bits` is what the put writes: not -0.0, and a NaN only as
 * the canonical one.  `exp` is the exponent mask, `nan` the canonical NaN.
 */
static int float_canonical(pb_keyreader *r, uint64_t bits, uint64_t sign,
                           uint64_t exp, uint64_t nan, const char *kind) {
  bool is_nan = (bits & exp) == exp && (bits & ~(sign | exp)) != 0;
  if (bits == sign || (is_nan && bits != nan))
    return PB__CORRUPT("key: %s at offset %zu is %s, which keys never hold",
                       kind, (size_t)(r->pos - r->start),
                       bits == sign ? "-0.0" : "a non-canonical NaN");
  return PB_OK;
}

int pb_key_get_f32(pb_keyreader *r, float *out) {
  uint64_t e;
  if (!r || !out) return PB_EINVAL;
  int rc = get_be(r, 4, &e, "f32");
  if (rc != PB_OK) return rc;
  uint32_t bits = (uint32_t)float_unorder(e, 0x80000000u);
  rc = float_canonical(r, bits, 0x80000000u, 0x7f800000u, F32_NAN_BITS,
                       "f32");
  if (rc != PB_OK) return rc;
  r->pos += 4;
  memcpy(out, &bits, 4);
  return PB_OK;
}

int pb_key_get_f64(pb_keyreader *r, double *out) {
  uint64_t e;
  if (!r || !out) return PB_EINVAL;
  int rc = get_be(r, 8, &e, "f64");
  if (rc != PB_OK) return rc;
  uint64_t bits = float_unorder(e, 0x8000000000000000ull);
  rc = float_canonical(r, bits, 0x8000000000000000ull, 0x7ff0000000000000ull,
                       F64_NAN_BITS, "f64");
  if (rc != PB_OK) return rc;
  r->pos += 8;
  memcpy(out, &bits, 8);
  return PB_OK;
}

/* Scans an escaped component at r->pos without moving the reader: *size is
 * its encoded size (terminator included), *zeros the number of escaped
 * 0x00 bytes.  With `utf8`, each run between escapes must be UTF-8 (a
 * multi-byte sequence never spans a 0x00, so the whole text then is). */
static int scan_escaped(const pb_keyreader *r, bool utf8, size_t *size,
                        size_t *zeros, const char *kind) {
  const uint8_t *p = r->pos, *end = r->end;
  size_t nz = 0;
  int rc = check_size(r);
  if (rc != PB_OK) return rc;
  for (;;) {
    const uint8_t *z = p < end ? memchr(p, 0, (size_t)(end - p)) : NULL;
    size_t at = (size_t)(r->pos - r->start);
    if (!z || z + 1 == end)
      return PB__CORRUPT("key: %s component at offset %zu has no terminator",
                         kind, at);
    if (utf8 && !pb_utf8_valid(p, (size_t)(z - p)))
      return PB__CORRUPT("key: %s component at offset %zu is not UTF-8", kind,
                         at);
    if (z[1] == 0x01) {
      *size = (size_t)(z + 2 - r->pos);
      *zeros = nz;
      return PB_OK;
    }
    if (z[1] != 0xff)
      return PB__CORRUPT("key: %s component at offset %zu: byte 0x00 then "
                         "0x%02x at offset %zu (0xff or 0x01 expected)",
                         kind, at, (unsigned)z[1],
                         (size_t)(z + 1 - r->start));
    nz++;
    p = z + 2;
  }
}

/* The bytes of an escaped component: a view, or an unescaped copy. */
static int get_escaped(pb_keyreader *r, pb_arena *arena, bool utf8,
                       pb_bytes *out, const char *kind) {
  size_t size, zeros;
  int rc = scan_escaped(r, utf8, &size, &zeros, kind);
  if (rc != PB_OK) return rc;
  size_t n = size - 2 - zeros; /* the value's length */
  pb_bytes v = {n ? r->pos : NULL, n};
  if (zeros > 0) {
    if (!arena) {
      pb__errdetail_set("key: the component holds 0x00 bytes and needs a "
                        "copy, but no arena was given");
      return PB_EINVAL;
    }
    uint8_t *c = pb_arena_alloc(arena, n);
    if (!c) return PB_ENOMEM;
    const uint8_t *p = r->pos;
    for (size_t i = 0; i < n; i++) {
      c[i] = *p;
      p += *p == 0 ? 2 : 1; /* an escape is 0x00 0xFF */
    }
    v.ptr = c;
  }
  r->pos += size;
  *out = v;
  return PB_OK;
}

int pb_key_get_bytes(pb_keyreader *r, pb_arena *arena, pb_bytes *out) {
  if (!r || !out) return PB_EINVAL;
  return get_escaped(r, arena, false, out, "bytes");
}

int pb_key_get_str(pb_keyreader *r, pb_arena *arena, pb_str *out) {
  if (!r || !out) return PB_EINVAL;
  pb_bytes v;
  int rc = get_escaped(r, arena, true, &v, "string");
  if (rc != PB_OK) return rc;
  out->ptr = (const char *)v.ptr;
  out->len = v.len;
  return PB_OK;
}

int pb_key_skip(pb_keyreader *r, pb_key_kind kind) {
  if (!r) return PB_EINVAL;
  union {
    bool b;
    uint8_t u8;
    uint16_t u16;
    uint32_t u32;
    uint64_t u64;
    int8_t i8;
    int16_t i16;
    int32_t i32;
    int64_t i64;
    float f32;
    double f64;
  } v;
  size_t size, zeros;
  int rc;
  switch (kind) {
    case PB_KEY_BOOL: return pb_key_get_bool(r, &v.b);
    case PB_KEY_U8: return pb_key_get_u8(r, &v.u8);
    case PB_KEY_U16: return pb_key_get_u16(r, &v.u16);
    case PB_KEY_U32: return pb_key_get_u32(r, &v.u32);
    case PB_KEY_U64: return pb_key_get_u64(r, &v.u64);
    case PB_KEY_I8: return pb_key_get_i8(r, &v.i8);
    case PB_KEY_I16: return pb_key_get_i16(r, &v.i16);
    case PB_KEY_I32: return pb_key_get_i32(r, &v.i32);
    case PB_KEY_I64: return pb_key_get_i64(r, &v.i64);
    case PB_KEY_F32: return pb_key_get_f32(r, &v.f32);
    case PB_KEY_F64: return pb_key_get_f64(r, &v.f64);
    case PB_KEY_STR:
    case PB_KEY_BYTES:
      rc = scan_escaped(r, kind == PB_KEY_STR, &size, &zeros,
                        kind == PB_KEY_STR ? "string" : "bytes");
      if (rc != PB_OK) return rc;
      r->pos += size;
      return PB_OK;
  }
  pb__errdetail_set("key: pb_key_skip given an unknown kind");
  return PB_EINVAL;
}

int pb_key_expect_end(const pb_keyreader *r) {
  if (!r) return PB_EINVAL;
  int rc = check_size(r);
  if (rc != PB_OK) return rc;
  if (r->pos != r->end)
    return PB__CORRUPT("key: %zu bytes after the last component at offset "
                       "%zu",
                       (size_t)(r->end - r->pos), (size_t)(r->pos - r->start));
  return PB_OK;
}
