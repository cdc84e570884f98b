/*
 * atom/utf8.c - strict UTF-8 validation (RFC 3629): no overlong forms, no
 * surrogates, nothing above U+10FFFF.  Strings are checked when encoded and
 * when decoded, so a string view handed to the application is always valid.
 *
 * Most strings (keys above all) are ASCII, so the check is built around
 * that: 16 bytes at a time (two 8-byte words, one test of their top bits),
 * then the last bytes as ONE word that ends at the string's end (it
 * overlaps bytes already checked, which were ASCII too); a string shorter
 * than 8 as two 4-byte words (overlapping), or byte by byte below 4.
 * Only a word with a top bit set goes to the sequence-by-sequence path,
 * which returns to the word loop after each multi-byte sequence.
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "protobase/wire.h"

#define HIGH_BITS 0x8080808080808080ull

static inline uint64_t load64(const uint8_t *p) {
  uint64_t w;
  memcpy(&w, p, 8);
  return w;
}

/* The general path from p, which starts a sequence (p < end). */
static bool valid_from(const uint8_t *p, const uint8_t *end) {
  while (p < end) {
    /* Eight ASCII bytes at a time (no byte has its top bit). */
    while ((size_t)(end - p) >= 8 && !(load64(p) & HIGH_BITS)) p += 8;
    if (p == end) break;
    uint8_t c = *p;
    if (c < 0x80) {
      p++;
      continue;
    }
    size_t n;
    uint8_t lo = 0x80, hi = 0xbf; /* allowed range of the second byte */
    if (c >= 0xc2 && c <= 0xdf) {
      n = 2;
    } else if (c >= 0xe0 && c <= 0xef) {
      n = 3;
      if (c == 0xe0) lo = 0xa0;      /* overlong */
      else if (c == 0xed) hi = 0x9f; /* surrogates */
    } else if (c >= 0xf0 && c <= 0xf4) {
      n = 4;
      if (c == 0xf0) lo = 0x90;      /* overlong */
      else if (c == 0xf4) hi = 0x8f; /* above U+10FFFF */
    } else {
      return false;
    }
    if ((size_t)(end - p) < n) return false;
    if (p[1] < lo || p[1] > hi) return false;
    for (size_t i = 2; i < n; i++)
      if ((p[i] & 0xc0) != 0x80) return false;
    p += n;
  }
  return true;
}

bool pb_utf8_valid(const void *s, size_t size) {
  if (size == 0) return true; /* and s may be NULL: NULL + 0 is undefined */
  if (!s) return false;
  const uint8_t *p = s;
  const uint8_t *end = p + size;
  if (size < 8) { /* short: two 4-byte words that may overlap, or bytes */
    uint32_t any = 0;
    if (size >= 4) {
      uint32_t w0, w1;
      memcpy(&w0, p, 4);
      memcpy(&w1, end - 4, 4);
      any = w0 | w1;
    } else {
      for (size_t i = 0; i < size; i++) any |= p[i];
    }
    return !(any & 0x80808080u) || valid_from(p, end);
  }
  for (; (size_t)(end - p) >= 16; p += 16)
    if ((load64(p) | load64(p + 8)) & HIGH_BITS) return valid_from(p, end);
  if (p == end) return true;
  /* 1 to 15 bytes left, all before them ASCII: at most two words, the
   * second ending at the end (size >= 8, so it starts inside s). */
  if ((size_t)(end - p) >= 8) {
    if (load64(p) & HIGH_BITS) return valid_from(p, end);
    p += 8;
    if (p == end) return true;
  }
  return !(load64(end - 8) & HIGH_BITS) || valid_from(p, end);
}
