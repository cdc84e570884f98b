/*
 * util/endian.h - little-endian loads and stores of fixed-width integers.
 * Every on-disk integer in ProtoBase is little-endian; these compile to
 * plain moves on little-endian machines and are correct on any.
 */
#ifndef PB_UTIL_ENDIAN_H
#define PB_UTIL_ENDIAN_H

#include <stddef.h>
#include <stdint.h>

static inline void pb__store_le32(uint8_t *p, uint32_t v) {
  p[0] = (uint8_t)v;
  p[1] = (uint8_t)(v >> 8);
  p[2] = (uint8_t)(v >> 16);
  p[3] = (uint8_t)(v >> 24);
}

static inline uint32_t pb__load_le32(const uint8_t *p) {
  return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
         (uint32_t)p[3] << 24;
}

static inline void pb__store_le64(uint8_t *p, uint64_t v) {
  pb__store_le32(p, (uint32_t)v);
  pb__store_le32(p + 4, (uint32_t)(v >> 32));
}

static inline uint64_t pb__load_le64(const uint8_t *p) {
  return (uint64_t)pb__load_le32(p) | (uint64_t)pb__load_le32(p + 4) << 32;
}

/* Writes v as a LEB128 varint at p (room for 10 bytes) and gives its
 * length: the varints of the record and node encodings. */
static inline size_t pb__put_varint(uint8_t *p, uint64_t v) {
  size_t n = 0;
  while (v >= 0x80) {
    p[n++] = (uint8_t)(v | 0x80);
    v >>= 7;
  }
  p[n++] = (uint8_t)v;
  return n;
}

#endif /* PB_UTIL_ENDIAN_H */
