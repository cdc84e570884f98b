/*
 * atom/utf8.c - strict UTF-8 validation (RFC 3629): no overlong forms, no
 * surrogates, nothing above U+10FFFF.  Strings are checked when encoded and
 * when decoded, so a string view handed to the application is always valid.
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "protobase/wire.h"

bool pb_utf8_valid(const void *s, size_t size) {
  if (size == 0) return true; /* and s may be NULL: NULL + 0 is undefined */
  if (!s) return false;
  const uint8_t *p = s;
  const uint8_t *end = p + size;
  while (p < end) {
    /* Fast path: eight ASCII bytes at a time (no byte has its top bit). */
    while ((size_t)(end - p) >= 8) {
      uint64_t w;
      memcpy(&w, p, 8);
      if (w & 0x8080808080808080ull) break;
      p += 8;
    }
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
