/*
 * atom/utf8.h - the inline front of pb_utf8_valid (atom/utf8.c) for the
 * short strings a decoder checks per entry (a Dictionary leaf's keys):
 * a string of at most 16 bytes whose bytes are all ASCII is answered
 * here, with no call, by one or two word loads that stay inside the
 * string (two overlapping 8-byte words from 8 bytes up, two overlapping
 * 4-byte words from 4, bytes below); anything else (a top bit set, or a
 * longer string) goes to pb_utf8_valid, which decides.  Same answer as
 * pb_utf8_valid for every input.
 */
#ifndef PB_ATOM_UTF8_H
#define PB_ATOM_UTF8_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "protobase/wire.h"

/** pb_utf8_valid(s, n), with the short ASCII case inline. */
static inline bool pb__utf8_valid_short(const uint8_t *s, size_t n) {
  uint64_t any;
  if (n >= 8) {
    if (n > 16) return pb_utf8_valid(s, n);
    uint64_t a, b;
    memcpy(&a, s, 8);
    memcpy(&b, s + n - 8, 8);
    any = a | b;
  } else if (n >= 4) {
    uint32_t a, b;
    memcpy(&a, s, 4);
    memcpy(&b, s + n - 4, 4);
    any = a | b;
  } else {
    any = 0;
    for (size_t i = 0; i < n; i++) any |= s[i];
  }
  return !(any & 0x8080808080808080ull) || pb_utf8_valid(s, n);
}

#endif
