/*
 * atom/wire.c - the field-tagged encoding of record bodies (see wire.h).
 *
 * Writers append to a pb_buf whose first error is sticky, so generated
 * encoders can write every field without checking each call and read the
 * outcome once.  Readers check every length against the end of the input
 * before touching a byte; nothing here allocates while decoding.
 *
 * Also here: nested LEN and REC fields (written first, length patched
 * after), packed arrays, fixed-size atom pointers (atom/ptr.h), and
 * pb_field_check / pb_packed_check, which call the very accessors decoders
 * use, so that a generated _verify accepts exactly what the matching
 * _decode accepts.  The arena, the unknown-field
 * cursor and the verify path helpers have files of their own (arena.c,
 * unknown.c, verify.c).
 */
#include "protobase/wire.h"

#include <assert.h>
#include <stdlib.h>
#include <string.h>

#include "atom/ptr.h"
#include "protobase/protobase.h" /* pb_atom_ptr */
#include "util/endian.h"
#include "util/errdetail.h"

/* --- pb_str / pb_buf --- */

pb_str pb_str_from_cstr(const char *s) {
  pb_str v = {s ? s : "", s ? strlen(s) : 0};
  return v;
}

void pb_buf_init(pb_buf *b) {
  if (!b) return;
  b->data = NULL;
  b->len = 0;
  b->cap = 0;
  b->err = PB_OK;
}

void pb_buf_free(pb_buf *b) {
  if (!b) return;
  free(b->data);
  pb_buf_init(b);
}

void pb_buf_reset(pb_buf *b) {
  if (!b) return;
  b->len = 0;
  b->err = PB_OK;
}

int pb_buf_reserve(pb_buf *b, size_t extra) {
  if (!b) return PB_EINVAL;
  if (b->err != PB_OK) return b->err;
  if (b->cap - b->len >= extra) return PB_OK;
  if (extra > SIZE_MAX / 2 - b->len) return b->err = PB_ETOOBIG;
  size_t need = b->len + extra;
  size_t cap = b->cap ? b->cap : 64;
  while (cap < need) cap *= 2;
  uint8_t *p = realloc(b->data, cap);
  if (!p) return b->err = PB_ENOMEM;
  b->data = p;
  b->cap = cap;
  return PB_OK;
}

/* Makes PB_EINVAL the sticky error of `b` (not NULL) unless it has one. */
static void buf_invalid(pb_buf *b) {
  if (b->err == PB_OK) b->err = PB_EINVAL;
}

void pb_buf_append(pb_buf *b, const void *data, size_t size) {
  if (!b) return;
  if (!data && size) return buf_invalid(b);
  if (size == 0 || pb_buf_reserve(b, size) != PB_OK) return;
  memcpy(b->data + b->len, data, size);
  b->len += size;
}

/* --- writers --- */

void pb_wire_put_varint(pb_buf *b, uint64_t v) {
  if (pb_buf_reserve(b, 10) != PB_OK) return;
  b->len += pb__put_varint(b->data + b->len, v);
}

/* Writes a field key; the caller has reserved room for it. */
static void put_key(pb_buf *b, uint32_t tag, unsigned wire_type) {
  assert(tag >= 1 && tag <= PB_TAG_MAX);
  b->len += pb__put_varint(b->data + b->len, (uint64_t)tag << 3 | wire_type);
}

void pb_wire_put_uint(pb_buf *b, uint32_t tag, uint64_t v) {
  if (pb_buf_reserve(b, 15) != PB_OK) return;
  put_key(b, tag, PB_WT_VARINT);
  b->len += pb__put_varint(b->data + b->len, v);
}

void pb_wire_put_sint(pb_buf *b, uint32_t tag, int64_t v) {
  uint64_t zz = ((uint64_t)v << 1) ^ (uint64_t)(v >> 63);
  pb_wire_put_uint(b, tag, zz);
}

void pb_wire_put_bool(pb_buf *b, uint32_t tag, bool v) {
  pb_wire_put_uint(b, tag, v ? 1 : 0);
}

void pb_wire_put_float(pb_buf *b, uint32_t tag, float v) {
  uint32_t bits;
  memcpy(&bits, &v, sizeof bits);
  if (pb_buf_reserve(b, 9) != PB_OK) return;
  put_key(b, tag, PB_WT_I32);
  pb__store_le32(b->data + b->len, bits);
  b->len += 4;
}

void pb_wire_put_double(pb_buf *b, uint32_t tag, double v) {
  uint64_t bits;
  memcpy(&bits, &v, sizeof bits);
  if (pb_buf_reserve(b, 13) != PB_OK) return;
  put_key(b, tag, PB_WT_I64);
  pb__store_le64(b->data + b->len, bits);
  b->len += 8;
}

void pb_wire_put_len(pb_buf *b, uint32_t tag, const void *data, size_t size) {
  if (!b) return;
  if (!data && size) return buf_invalid(b);
  if (size > SIZE_MAX - 15 || pb_buf_reserve(b, 15 + size) != PB_OK) return;
  put_key(b, tag, PB_WT_LEN);
  b->len += pb__put_varint(b->data + b->len, size);
  if (size) memcpy(b->data + b->len, data, size);
  b->len += size;
}

void pb_wire_put_str(pb_buf *b, uint32_t tag, pb_str s) {
  if (!b) return;
  /* A string field holds UTF-8: refuse to store what decode would reject. */
  if (!pb_utf8_valid(s.ptr, s.len)) {
    if (b->err == PB_OK) b->err = PB_EINVAL;
    return;
  }
  pb_wire_put_len(b, tag, s.ptr, s.len);
}

void pb_wire_put_bytes(pb_buf *b, uint32_t tag, pb_bytes v) {
  pb_wire_put_len(b, tag, v.ptr, v.len);
}

/* --- readers --- */

void pb_reader_init(pb_reader *r, const void *data, size_t size) {
  if (!r) return;
  /* NULL + 0 is undefined behaviour in C: an empty input reads nothing. */
  r->pos = data;
  r->end = data ? r->pos + size : NULL;
}

int pb_reader_varint(pb_reader *r, uint64_t *out) {
  if (!r || !out) return PB_EINVAL;
  if (r->pos != r->end && *r->pos < 0x80) { /* one byte: most keys, lengths */
    *out = *r->pos++;
    return PB_OK;
  }
  uint64_t v = 0;
  for (unsigned shift = 0; shift < 64; shift += 7) {
    if (r->pos == r->end)
      return PB__CORRUPT("varint runs past the end of the input");
    uint8_t byte = *r->pos++;
    /* The tenth byte may carry only the top bit of a 64-bit value. */
    if (shift == 63 && byte > 1) return PB__CORRUPT("varint overflows 64 bits");
    v |= (uint64_t)(byte & 0x7f) << shift;
    if (!(byte & 0x80)) {
      *out = v;
      return PB_OK;
    }
  }
  return PB__CORRUPT("varint longer than 10 bytes");
}

int pb_reader_next(pb_reader *r, pb_field *f) {
  if (!r || !f) return PB_EINVAL;
  f->key = r->pos;
  if (r->pos == r->end) return 0;
  uint64_t key;
  if (pb_reader_varint(r, &key) != PB_OK)
    return PB__CORRUPT("truncated field key");
  uint64_t tag = key >> 3;
  if (tag == 0 || tag > PB_TAG_MAX)
    return PB__CORRUPT("field tag %" PRIu64 " out of range", tag);
  f->tag = (uint32_t)tag;
  f->wire_type = (uint8_t)(key & 7);
  f->value = 0;
  f->data = NULL;
  f->size = 0;
  size_t left = (size_t)(r->end - r->pos);
  switch (f->wire_type) {
  case PB_WT_VARINT:
    return pb_reader_varint(r, &f->value) == PB_OK
               ? 1
               : PB__CORRUPT("field %u: truncated varint", f->tag);
  case PB_WT_I64:
    if (left < 8)
      return PB__CORRUPT("field %u: truncated I64 (%zu bytes left)", f->tag,
                         left);
    f->value = pb__load_le64(r->pos);
    r->pos += 8;
    return 1;
  case PB_WT_I32:
    if (left < 4)
      return PB__CORRUPT("field %u: truncated I32 (%zu bytes left)", f->tag,
                         left);
    f->value = pb__load_le32(r->pos);
    r->pos += 4;
    return 1;
  case PB_WT_PTR:
    if (left < PB__PTR_SIZE)
      return PB__CORRUPT("field %u: truncated atom pointer (%zu bytes left)",
                         f->tag, left);
    f->data = r->pos;
    f->size = PB__PTR_SIZE;
    r->pos += PB__PTR_SIZE;
    return 1;
  case PB_WT_LEN:
  case PB_WT_REC: {
    uint64_t n;
    if (pb_reader_varint(r, &n) != PB_OK)
      return PB__CORRUPT("field %u: truncated length", f->tag);
    if (n > (uint64_t)(r->end - r->pos))
      return PB__CORRUPT("field %u: length %" PRIu64 " runs past the end",
                         f->tag, n);
    f->data = r->pos;
    f->size = (size_t)n;
    r->pos += n;
    return 1;
  }
  default:
    return PB__CORRUPT("field %u: unknown wire type %u", f->tag, f->wire_type);
  }
}

/* --- typed accessors --- */

int pb_field_u64(const pb_field *f, uint64_t *out) {
  if (!f || !out) return PB_EINVAL;
  if (f->wire_type != PB_WT_VARINT)
    return PB__CORRUPT("field %u: wire type %u, not VARINT", f->tag,
                       f->wire_type);
  *out = f->value;
  return PB_OK;
}

/* Reads an unsigned varint that must not exceed `max`. */
static int field_uint_max(const pb_field *f, uint64_t max, uint64_t *out) {
  if (f->wire_type != PB_WT_VARINT || f->value > max)
    return PB__CORRUPT("field %u: wire type %u or value %" PRIu64
                       " does not fit an unsigned of max %" PRIu64,
                       f->tag, f->wire_type, f->value, max);
  *out = f->value;
  return PB_OK;
}

int pb_field_u32(const pb_field *f, uint32_t *out) {
  if (!f || !out) return PB_EINVAL;
  uint64_t v;
  int rc = field_uint_max(f, UINT32_MAX, &v);
  if (rc == PB_OK) *out = (uint32_t)v;
  return rc;
}

int pb_field_u16(const pb_field *f, uint16_t *out) {
  if (!f || !out) return PB_EINVAL;
  uint64_t v;
  int rc = field_uint_max(f, UINT16_MAX, &v);
  if (rc == PB_OK) *out = (uint16_t)v;
  return rc;
}

int pb_field_u8(const pb_field *f, uint8_t *out) {
  if (!f || !out) return PB_EINVAL;
  uint64_t v;
  int rc = field_uint_max(f, UINT8_MAX, &v);
  if (rc == PB_OK) *out = (uint8_t)v;
  return rc;
}

int pb_field_i64(const pb_field *f, int64_t *out) {
  if (!f || !out) return PB_EINVAL;
  if (f->wire_type != PB_WT_VARINT)
    return PB__CORRUPT("field %u: wire type %u, not VARINT", f->tag,
                       f->wire_type);
  uint64_t zz = f->value;
  /* Undo zigzag without signed overflow. */
  *out = (int64_t)(zz >> 1) ^ -(int64_t)(zz & 1);
  return PB_OK;
}

/* Reads a zigzag varint that must lie in [min, max]. */
static int field_sint_range(const pb_field *f, int64_t min, int64_t max,
                            int64_t *out) {
  int64_t v;
  if (pb_field_i64(f, &v) != PB_OK || v < min || v > max)
    return PB__CORRUPT("field %u: value out of range [%" PRId64 ", %" PRId64
                       "]",
                       f->tag, min, max);
  *out = v;
  return PB_OK;
}

int pb_field_i32(const pb_field *f, int32_t *out) {
  if (!f || !out) return PB_EINVAL;
  int64_t v;
  int rc = field_sint_range(f, INT32_MIN, INT32_MAX, &v);
  if (rc == PB_OK) *out = (int32_t)v;
  return rc;
}

int pb_field_i16(const pb_field *f, int16_t *out) {
  if (!f || !out) return PB_EINVAL;
  int64_t v;
  int rc = field_sint_range(f, INT16_MIN, INT16_MAX, &v);
  if (rc == PB_OK) *out = (int16_t)v;
  return rc;
}

int pb_field_i8(const pb_field *f, int8_t *out) {
  if (!f || !out) return PB_EINVAL;
  int64_t v;
  int rc = field_sint_range(f, INT8_MIN, INT8_MAX, &v);
  if (rc == PB_OK) *out = (int8_t)v;
  return rc;
}

int pb_field_bool(const pb_field *f, bool *out) {
  if (!f || !out) return PB_EINVAL;
  if (f->wire_type != PB_WT_VARINT || f->value > 1)
    return PB__CORRUPT("field %u: not a bool (wire type %u, value %" PRIu64 ")",
                       f->tag, f->wire_type, f->value);
  *out = f->value != 0;
  return PB_OK;
}

int pb_field_float(const pb_field *f, float *out) {
  if (!f || !out) return PB_EINVAL;
  if (f->wire_type != PB_WT_I32)
    return PB__CORRUPT("field %u: wire type %u, not I32", f->tag, f->wire_type);
  uint32_t bits = (uint32_t)f->value;
  memcpy(out, &bits, sizeof *out);
  return PB_OK;
}

int pb_field_double(const pb_field *f, double *out) {
  if (!f || !out) return PB_EINVAL;
  if (f->wire_type != PB_WT_I64)
    return PB__CORRUPT("field %u: wire type %u, not I64", f->tag, f->wire_type);
  memcpy(out, &f->value, sizeof *out);
  return PB_OK;
}

int pb_field_str(const pb_field *f, pb_str *out) {
  if (!f || !out) return PB_EINVAL;
  if (f->wire_type != PB_WT_LEN || !pb_utf8_valid(f->data, f->size))
    return PB__CORRUPT("field %u: not a LEN of valid UTF-8", f->tag);
  out->ptr = (const char *)f->data;
  out->len = f->size;
  return PB_OK;
}

int pb_field_bytes(const pb_field *f, pb_bytes *out) {
  if (!f || !out) return PB_EINVAL;
  if (f->wire_type != PB_WT_LEN)
    return PB__CORRUPT("field %u: wire type %u, not LEN", f->tag, f->wire_type);
  out->ptr = f->data;
  out->len = f->size;
  return PB_OK;
}

int pb_field_rec(const pb_field *f, pb_bytes *out) {
  if (!f || !out) return PB_EINVAL;
  if (f->wire_type != PB_WT_REC)
    return PB__CORRUPT("field %u: wire type %u, not REC", f->tag, f->wire_type);
  out->ptr = f->data;
  out->len = f->size;
  return PB_OK;
}

/* --- nested LEN fields --- */

/* Bytes that the varint form of v takes. */
static size_t varint_size(uint64_t v) {
  size_t n = 1;
  while (v >= 0x80) {
    v >>= 7;
    n++;
  }
  return n;
}

/* Starts a length-prefixed field of `wire_type` (LEN or REC). */
static pb_len_mark begin_nested(pb_buf *b, uint32_t tag, unsigned wire_type) {
  pb_len_mark m = {0, 0};
  if (!b) return m;
  m.key = m.body = b->len;
  if (pb_buf_reserve(b, 6) != PB_OK) return m;
  put_key(b, tag, wire_type);
  b->data[b->len++] = 0; /* one byte for the length; grown at the end */
  m.body = b->len;
  return m;
}

pb_len_mark pb_wire_begin_len(pb_buf *b, uint32_t tag) {
  return begin_nested(b, tag, PB_WT_LEN);
}

pb_len_mark pb_wire_begin_rec(pb_buf *b, uint32_t tag) {
  return begin_nested(b, tag, PB_WT_REC);
}

void pb_wire_end_len(pb_buf *b, pb_len_mark m, bool omit_empty) {
  if (!b || b->err != PB_OK) return;
  assert(m.body > m.key && m.body <= b->len);
  size_t n = b->len - m.body;
  if (n == 0 && omit_empty) {
    b->len = m.key;
    return;
  }
  size_t extra = varint_size(n) - 1;
  if (extra > 0) {
    if (pb_buf_reserve(b, extra) != PB_OK) return;
    memmove(b->data + m.body + extra, b->data + m.body, n);
    b->len += extra;
  }
  pb__put_varint(b->data + m.body - 1, n);
}

/* --- packed array elements --- */

void pb_wire_raw_zigzag(pb_buf *b, int64_t v) {
  pb_wire_put_varint(b, ((uint64_t)v << 1) ^ (uint64_t)(v >> 63));
}

void pb_wire_raw_float(pb_buf *b, float v) {
  uint32_t bits;
  memcpy(&bits, &v, sizeof bits);
  if (pb_buf_reserve(b, 4) != PB_OK) return;
  pb__store_le32(b->data + b->len, bits);
  b->len += 4;
}

void pb_wire_raw_double(pb_buf *b, double v) {
  uint64_t bits;
  memcpy(&bits, &v, sizeof bits);
  if (pb_buf_reserve(b, 8) != PB_OK) return;
  pb__store_le64(b->data + b->len, bits);
  b->len += 8;
}

/* --- atom pointers --- */

void pb_wire_put_atom_ptr(pb_buf *b, uint32_t tag, const pb_atom_ptr *p) {
  if (!b) return;
  if (!p || p->offset > UINT32_MAX) /* no 4-byte encoding */
    return buf_invalid(b);
  if (pb_buf_reserve(b, 5 + PB__PTR_SIZE) != PB_OK) return;
  put_key(b, tag, PB_WT_PTR);
  pb__ptr_store(b->data + b->len, p);
  b->len += PB__PTR_SIZE;
}

int pb_field_atom_ptr(const pb_field *f, pb_atom_ptr *out) {
  if (!f || !out) return PB_EINVAL;
  /* pb_reader_next gives a PTR field exactly 20 bytes; a field built by
     hand may not. */
  if (f->wire_type != PB_WT_PTR || f->size != PB__PTR_SIZE || !f->data)
    return PB__CORRUPT("field %u: not a 20-byte atom pointer", f->tag);
  *out = pb__ptr_load(f->data);
  return PB_OK;
}

/* --- packed arrays --- */

/* Checks the shape of a packed field: LEN, and whole fixed-size elements. */
static int packed_shape(const pb_field *f, uint8_t wire_type) {
  if (f->wire_type != PB_WT_LEN)
    return PB__CORRUPT("field %u: packed array with wire type %u, not LEN",
                       f->tag, f->wire_type);
  switch (wire_type) {
  case PB_WT_VARINT:
    /* A payload must end with a varint's last byte (top bit clear). */
    return f->size == 0 || !(f->data[f->size - 1] & 0x80)
               ? PB_OK
               : PB__CORRUPT("field %u: packed varints end inside a varint",
                             f->tag);
  case PB_WT_I32:
    return f->size % 4 == 0
               ? PB_OK
               : PB__CORRUPT("field %u: packed I32 array of %zu bytes", f->tag,
                             f->size);
  case PB_WT_I64:
    return f->size % 8 == 0
               ? PB_OK
               : PB__CORRUPT("field %u: packed I64 array of %zu bytes", f->tag,
                             f->size);
  default:
    return PB__CORRUPT("field %u: wire type %u cannot be packed", f->tag,
                       wire_type);
  }
}

int pb_packed_count(const pb_field *f, uint8_t wire_type, size_t *count) {
  if (!f || !count) return PB_EINVAL;
  if (packed_shape(f, wire_type) != PB_OK)
    return PB__CORRUPT("field %u: bad packed array", f->tag);
  size_t n = 0;
  if (wire_type == PB_WT_VARINT) {
    for (size_t i = 0; i < f->size; i++) n += !(f->data[i] & 0x80);
  } else {
    n = f->size / (wire_type == PB_WT_I32 ? 4 : 8);
  }
  *count += n;
  return PB_OK;
}

int pb_packed_begin(const pb_field *f, uint8_t wire_type, pb_packed *p) {
  if (!f || !p) return PB_EINVAL;
  if (packed_shape(f, wire_type) != PB_OK)
    return PB__CORRUPT("field %u: bad packed array", f->tag);
  pb_reader_init(&p->rd, f->data, f->size);
  p->wire_type = wire_type;
  return PB_OK;
}

int pb_packed_next(pb_packed *p, pb_field *elem) {
  if (!p || !elem) return PB_EINVAL;
  pb_reader *r = &p->rd;
  elem->key = r->pos;
  if (r->pos == r->end) return 0;
  elem->tag = 0;
  elem->wire_type = p->wire_type;
  elem->data = NULL;
  elem->size = 0;
  size_t left = (size_t)(r->end - r->pos);
  switch (p->wire_type) {
  case PB_WT_VARINT:
    return pb_reader_varint(r, &elem->value) == PB_OK
               ? 1
               : PB__CORRUPT("packed element: truncated varint");
  case PB_WT_I32:
    if (left < 4) return PB__CORRUPT("packed element: truncated I32");
    elem->value = pb__load_le32(r->pos);
    r->pos += 4;
    return 1;
  case PB_WT_I64:
    if (left < 8) return PB__CORRUPT("packed element: truncated I64");
    elem->value = pb__load_le64(r->pos);
    r->pos += 8;
    return 1;
  default:
    return PB__CORRUPT("packed element: wire type %u cannot be packed",
                       p->wire_type);
  }
}

/* Adds 1 to *count for a field of `wire_type`, else PB_ECORRUPT. */
static int count_one(const pb_field *f, uint8_t wire_type, size_t *count) {
  if (!f || !count) return PB_EINVAL;
  if (f->wire_type != wire_type)
    return PB__CORRUPT("field %u: wire type %u, not %u", f->tag, f->wire_type,
                       wire_type);
  (*count)++;
  return PB_OK;
}

int pb_len_count(const pb_field *f, size_t *count) {
  return count_one(f, PB_WT_LEN, count);
}

int pb_rec_count(const pb_field *f, size_t *count) {
  return count_one(f, PB_WT_REC, count);
}

int pb_ptr_count(const pb_field *f, size_t *count) {
  return count_one(f, PB_WT_PTR, count);
}

/* --- checks (generated _verify) --- */

int pb_field_check(const pb_field *f, pb_check kind) {
  if (!f) return PB_EINVAL;
  union {
    bool b;
    int8_t i8;
    int16_t i16;
    int32_t i32;
    int64_t i64;
    uint8_t u8;
    uint16_t u16;
    uint32_t u32;
    uint64_t u64;
    float f32;
    double f64;
    pb_str s;
    pb_bytes bytes;
    pb_atom_ptr ptr;
  } v;
  switch (kind) {
  case PB_CHECK_BOOL: return pb_field_bool(f, &v.b);
  case PB_CHECK_I8: return pb_field_i8(f, &v.i8);
  case PB_CHECK_I16: return pb_field_i16(f, &v.i16);
  case PB_CHECK_I32: return pb_field_i32(f, &v.i32);
  case PB_CHECK_I64: return pb_field_i64(f, &v.i64);
  case PB_CHECK_U8: return pb_field_u8(f, &v.u8);
  case PB_CHECK_U16: return pb_field_u16(f, &v.u16);
  case PB_CHECK_U32: return pb_field_u32(f, &v.u32);
  case PB_CHECK_U64: return pb_field_u64(f, &v.u64);
  case PB_CHECK_FLOAT: return pb_field_float(f, &v.f32);
  case PB_CHECK_DOUBLE: return pb_field_double(f, &v.f64);
  case PB_CHECK_STR: return pb_field_str(f, &v.s);
  case PB_CHECK_BYTES: return pb_field_bytes(f, &v.bytes);
  case PB_CHECK_ATOM_PTR: return pb_field_atom_ptr(f, &v.ptr);
  case PB_CHECK_REC: return pb_field_rec(f, &v.bytes);
  }
  return PB__CORRUPT("field %u: unknown check kind %d", f->tag, (int)kind);
}

/* The wire type of the elements of a packed array of `kind`. */
static int check_wire_type(pb_check kind) {
  switch (kind) {
  case PB_CHECK_FLOAT: return PB_WT_I32;
  case PB_CHECK_DOUBLE: return PB_WT_I64;
  case PB_CHECK_STR:
  case PB_CHECK_BYTES:
  case PB_CHECK_ATOM_PTR:
  case PB_CHECK_REC: return -1; /* not packable */
  default: return PB_WT_VARINT;
  }
}

int pb_packed_check(const pb_field *f, pb_check kind, size_t *count,
                    size_t *bad) {
  int wt = check_wire_type(kind);
  pb_packed p;
  pb_field e;
  int rc;
  if (!f || !count || !bad) return PB_EINVAL;
  *bad = PB_VERIFY_NO_INDEX;
  if (wt < 0 || pb_packed_begin(f, (uint8_t)wt, &p) != PB_OK)
    return PB__CORRUPT("field %u: bad packed array for check kind %d", f->tag,
                       (int)kind);
  while ((rc = pb_packed_next(&p, &e)) == 1) {
    if (pb_field_check(&e, kind) != PB_OK) {
      *bad = *count;
      return PB__CORRUPT("field %u: packed element %zu fails its check", f->tag,
                         *count);
    }
    (*count)++;
  }
  if (rc != 0) *bad = *count;
  return rc == 0 ? PB_OK
                 : PB__CORRUPT("field %u: packed element %zu is truncated",
                               f->tag, *count);
}

int pb_wire_too_deep(void) {
  return PB__CORRUPT("records nested deeper than %d levels", PB_WIRE_MAX_DEPTH);
}
