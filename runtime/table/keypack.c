/*
 * table/keypack.c - 8-bit keys packed into 7-bit bytes (keypack.h).
 */
#include "table/keypack.h"

#include <assert.h>

#include "util/errdetail.h"

void pb__keypack(const uint8_t *in, size_t n, uint8_t *out) {
  uint8_t *o = out;
  size_t i = 0;
  /* Whole blocks: 7 bytes (56 bits) are exactly 8 groups of 7. */
  for (; i + 7 <= n; i += 7, o += 8) {
    uint64_t x = 0;
    for (int b = 0; b < 7; b++) x = x << 8 | in[i + b];
    for (int g = 0; g < 8; g++) o[g] = (uint8_t)(x >> (49 - 7 * g) & 0x7f);
  }
  uint32_t acc = 0; /* bits not yet written, right-aligned */
  unsigned bits = 0;
  for (; i < n; i++) {
    acc = (acc << 8) | in[i];
    bits += 8;
    while (bits >= 7) {
      bits -= 7;
      *o++ = (uint8_t)((acc >> bits) & 0x7f);
    }
  }
  if (bits > 0) *o++ = (uint8_t)((acc << (7 - bits)) & 0x7f);
  assert((size_t)(o - out) == pb__keypack_len(n));
}

int pb__keyunpack(const uint8_t *in, size_t m, uint8_t *out, size_t *n) {
  size_t len = m * 7 / 8; /* the only n that can pack into m bytes */
  if (pb__keypack_len(len) != m)
    return PB__CORRUPT("packed key: %zu bytes is no packed length", m);
  uint32_t acc = 0;
  unsigned bits = 0;
  size_t k = 0;
  for (size_t i = 0; i < m; i++) {
    if (in[i] & 0x80)
      return PB__CORRUPT("packed key: byte %zu is above 0x7f", i);
    acc = (acc << 7) | in[i];
    bits += 7;
    if (bits >= 8) {
      bits -= 8;
      if (k < len) out[k++] = (uint8_t)(acc >> bits);
      acc &= (1u << bits) - 1;
    }
  }
  /* What is left is padding: fewer than 8 bits, all zero. */
  if (k != len || acc != 0)
    return PB__CORRUPT("packed key: padding bits that are not zero");
  *n = len;
  return PB_OK;
}
