/*
 * atom/value.c - encoding of tagged values (see value.h).
 */
#include "atom/value.h"

#include <string.h>

#include "atom/ptr.h"
#include "util/endian.h"
#include "util/errdetail.h"

#define BOOL_TRUE_BIT 0x80u

bool pb__value_valid(const pb_value *v) {
  switch (v->kind) {
  case PB_VALUE_NULL: case PB_VALUE_BOOL: case PB_VALUE_INT:
  case PB_VALUE_UINT: case PB_VALUE_DOUBLE:
    return true;
  case PB_VALUE_REF: case PB_VALUE_DICT: case PB_VALUE_LIST:
  case PB_VALUE_SET: case PB_VALUE_HASHDICT:
    return v->as.ref.offset <= UINT32_MAX; /* the 4-byte offset of ptr.h */
  case PB_VALUE_RECORD:
    return v->as.rec.body.ptr || v->as.rec.body.len == 0;
  case PB_VALUE_STRING:
    return (v->as.s.ptr || v->as.s.len == 0) &&
           pb_utf8_valid(v->as.s.ptr, v->as.s.len);
  case PB_VALUE_BYTES:
    return v->as.bytes.ptr || v->as.bytes.len == 0;
  }
  return false;
}

void pb__value_encode(pb_buf *b, const pb_value *v) {
  if (!pb__value_valid(v)) {
    if (b->err == PB_OK) b->err = PB_EINVAL;
    return;
  }
  uint8_t kind = (uint8_t)v->kind;
  if (v->kind == PB_VALUE_BOOL && v->as.b) kind |= BOOL_TRUE_BIT;
  pb_buf_append(b, &kind, 1);
  uint8_t raw[PB__PTR_SIZE];
  switch (v->kind) {
  case PB_VALUE_NULL: case PB_VALUE_BOOL:
    break;
  case PB_VALUE_INT:
    pb_wire_put_varint(b, ((uint64_t)v->as.i << 1) ^ (uint64_t)(v->as.i >> 63));
    break;
  case PB_VALUE_UINT:
    pb_wire_put_varint(b, v->as.u);
    break;
  case PB_VALUE_DOUBLE: {
    uint64_t bits;
    memcpy(&bits, &v->as.d, sizeof bits);
    pb__store_le64(raw, bits);
    pb_buf_append(b, raw, 8);
    break;
  }
  case PB_VALUE_STRING:
    pb_wire_put_varint(b, v->as.s.len);
    pb_buf_append(b, v->as.s.ptr, v->as.s.len);
    break;
  case PB_VALUE_BYTES:
    pb_wire_put_varint(b, v->as.bytes.len);
    pb_buf_append(b, v->as.bytes.ptr, v->as.bytes.len);
    break;
  case PB_VALUE_REF: case PB_VALUE_DICT: case PB_VALUE_LIST:
  case PB_VALUE_SET: case PB_VALUE_HASHDICT:
    pb__ptr_store(raw, &v->as.ref);
    pb_buf_append(b, raw, PB__PTR_SIZE);
    break;
  case PB_VALUE_RECORD:
    pb__store_le64(raw, v->as.rec.fingerprint);
    pb_buf_append(b, raw, 8);
    pb_wire_put_varint(b, v->as.rec.body.len);
    pb_buf_append(b, v->as.rec.body.ptr, v->as.rec.body.len);
    break;
  }
}

bool pb__value_equal(const pb_value *a, const pb_value *b) {
  if (a->kind != b->kind) return false;
  switch (a->kind) {
  case PB_VALUE_NULL:
    return true;
  case PB_VALUE_BOOL:
    return a->as.b == b->as.b;
  case PB_VALUE_INT:
    return a->as.i == b->as.i;
  case PB_VALUE_UINT:
    return a->as.u == b->as.u;
  case PB_VALUE_DOUBLE: /* bitwise: the encodings are equal */
    return memcmp(&a->as.d, &b->as.d, sizeof a->as.d) == 0;
  case PB_VALUE_STRING:
    return a->as.s.len == b->as.s.len &&
           (a->as.s.len == 0 || memcmp(a->as.s.ptr, b->as.s.ptr,
                                       a->as.s.len) == 0);
  case PB_VALUE_BYTES:
    return a->as.bytes.len == b->as.bytes.len &&
           (a->as.bytes.len == 0 ||
            memcmp(a->as.bytes.ptr, b->as.bytes.ptr, a->as.bytes.len) == 0);
  case PB_VALUE_RECORD:
    return a->as.rec.fingerprint == b->as.rec.fingerprint &&
           a->as.rec.body.len == b->as.rec.body.len &&
           (a->as.rec.body.len == 0 ||
            memcmp(a->as.rec.body.ptr, b->as.rec.body.ptr,
                   a->as.rec.body.len) == 0);
  case PB_VALUE_REF: case PB_VALUE_DICT: case PB_VALUE_LIST:
  case PB_VALUE_SET: case PB_VALUE_HASHDICT:
    return pb_atom_ptr_equal(a->as.ref, b->as.ref);
  }
  return false;
}

/* Takes `n` bytes from the reader, or fails if fewer are left. */
static int take(pb_reader *r, size_t n, const uint8_t **out) {
  if ((size_t)(r->end - r->pos) < n)
    return PB__CORRUPT("value needs %zu bytes, %zu left", n,
                       (size_t)(r->end - r->pos));
  *out = r->pos;
  r->pos += n;
  return PB_OK;
}

int pb__value_decode(pb_reader *r, pb_value *out) {
  const uint8_t *p;
  uint64_t n;
  if (take(r, 1, &p) != PB_OK) return PB__CORRUPT("value kind byte missing");
  uint8_t kind = p[0];
  memset(out, 0, sizeof *out);
  if ((kind & 0x7f) == PB_VALUE_BOOL) {
    out->kind = PB_VALUE_BOOL;
    out->as.b = (kind & BOOL_TRUE_BIT) != 0;
    return PB_OK;
  }
  out->kind = (pb_value_kind)kind;
  switch (kind) {
  case PB_VALUE_NULL:
    return PB_OK;
  case PB_VALUE_INT:
    if (pb_reader_varint(r, &n) != PB_OK)
      return PB__CORRUPT("INT value: truncated varint");
    out->as.i = (int64_t)(n >> 1) ^ -(int64_t)(n & 1);
    return PB_OK;
  case PB_VALUE_UINT:
    return pb_reader_varint(r, &out->as.u);
  case PB_VALUE_DOUBLE: {
    if (take(r, 8, &p) != PB_OK) return PB__CORRUPT("DOUBLE value: truncated");
    uint64_t bits = pb__load_le64(p);
    memcpy(&out->as.d, &bits, sizeof bits);
    return PB_OK;
  }
  case PB_VALUE_STRING:
  case PB_VALUE_BYTES:
    if (pb_reader_varint(r, &n) != PB_OK || n > (uint64_t)(r->end - r->pos))
      return PB__CORRUPT("%s value: bad length",
                         kind == PB_VALUE_STRING ? "STRING" : "BYTES");
    take(r, (size_t)n, &p);
    if (kind == PB_VALUE_STRING) {
      if (!pb_utf8_valid(p, (size_t)n))
        return PB__CORRUPT("STRING value: invalid UTF-8");
      out->as.s.ptr = (const char *)p;
      out->as.s.len = (size_t)n;
    } else {
      out->as.bytes.ptr = p;
      out->as.bytes.len = (size_t)n;
    }
    return PB_OK;
  case PB_VALUE_REF: case PB_VALUE_DICT: case PB_VALUE_LIST:
  case PB_VALUE_SET: case PB_VALUE_HASHDICT:
    if (take(r, PB__PTR_SIZE, &p) != PB_OK)
      return PB__CORRUPT("pointer value (kind %u): truncated", kind);
    out->as.ref = pb__ptr_load(p);
    return PB_OK;
  case PB_VALUE_RECORD:
    if (take(r, 8, &p) != PB_OK)
      return PB__CORRUPT("RECORD value: truncated fingerprint");
    out->as.rec.fingerprint = pb__load_le64(p);
    if (pb_reader_varint(r, &n) != PB_OK || n > (uint64_t)(r->end - r->pos))
      return PB__CORRUPT("RECORD value: bad body length");
    take(r, (size_t)n, &p);
    out->as.rec.body.ptr = p;
    out->as.rec.body.len = (size_t)n;
    return PB_OK;
  default:
    return PB__CORRUPT("unknown value kind %u", kind);
  }
}

bool pb__value_skip(pb_reader *r) {
  if (r->pos == r->end) return false;
  uint8_t kind = *r->pos++;
  uint64_t n;
  size_t fixed = 0;
  if ((kind & ~BOOL_TRUE_BIT) == PB_VALUE_BOOL) return true;
  switch (kind) {
    case PB_VALUE_NULL:
      return true;
    case PB_VALUE_INT:
    case PB_VALUE_UINT:
      return pb_reader_varint(r, &n) == PB_OK;
    case PB_VALUE_DOUBLE:
      fixed = 8;
      break;
    case PB_VALUE_STRING:
    case PB_VALUE_BYTES:
      if (pb_reader_varint(r, &n) != PB_OK) return false;
      fixed = n > (uint64_t)(r->end - r->pos) ? SIZE_MAX : (size_t)n;
      break;
    case PB_VALUE_REF: case PB_VALUE_DICT: case PB_VALUE_LIST:
    case PB_VALUE_SET: case PB_VALUE_HASHDICT:
      fixed = PB__PTR_SIZE;
      break;
    case PB_VALUE_RECORD:
      if ((size_t)(r->end - r->pos) < 8) return false;
      r->pos += 8;
      if (pb_reader_varint(r, &n) != PB_OK) return false;
      fixed = n > (uint64_t)(r->end - r->pos) ? SIZE_MAX : (size_t)n;
      break;
    default:
      return false;
  }
  if (fixed > (size_t)(r->end - r->pos)) return false;
  r->pos += fixed;
  return true;
}
