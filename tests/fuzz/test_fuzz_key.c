/*
 * test_fuzz_key.c - hostile bytes against the key codec (protobase/key.h),
 * with the checks of fuzz_key.h: random inputs, and random mutations (bit
 * flips, truncations, byte insertions, splices) of valid keys of random
 * kinds.  The seed is fixed so a failure reproduces.  The coverage-guided
 * libFuzzer target (libfuzzer/fuzz_key.c) runs the same checks.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "fuzz_key.h"
#include "protobase/key.h"

#define ITERATIONS 200000

static uint64_t rng_state = 0x2545f4914f6cdd1dull;
static uint64_t rnd(void) { /* xorshift64*, fixed seed */
  rng_state ^= rng_state >> 12;
  rng_state ^= rng_state << 25;
  rng_state ^= rng_state >> 27;
  return rng_state * 0x2545f4914f6cdd1dull;
}

/* Bytes that matter to the format: escapes, terminators, sign bits. */
static uint8_t interesting(void) {
  static const uint8_t b[] = {0x00, 0x01, 0xff, 0x80, 0x7f, 0xc3, 0xa9,
                              0xf0, 0x9f, 'a'};
  return b[rnd() % sizeof b];
}

/* Writes a valid input: a header of kinds, then a key of those kinds. */
static size_t valid_input(uint8_t *out, size_t cap) {
  size_t n = 1 + rnd() % 4;
  out[0] = (uint8_t)(n - 1 + 4 * (rnd() % 8));
  pb_keybuf k;
  pb_keybuf_init(&k);
  for (size_t i = 0; i < n; i++) {
    pb_key_kind kind = (pb_key_kind)(rnd() % 13);
    out[1 + i] = (uint8_t)kind;
    uint64_t x = rnd() % 3 == 0 ? interesting() * 0x0101010101010101ull
                                : rnd();
    double d;
    switch (kind) {
      case PB_KEY_BOOL: pb_key_put_bool(&k, x & 1); break;
      case PB_KEY_U8: case PB_KEY_I8: pb_key_put_u8(&k, (uint8_t)x); break;
      case PB_KEY_U16: case PB_KEY_I16: pb_key_put_u16(&k, (uint16_t)x); break;
      case PB_KEY_U32: case PB_KEY_I32: pb_key_put_u32(&k, (uint32_t)x); break;
      case PB_KEY_U64: case PB_KEY_I64: pb_key_put_u64(&k, x); break;
      case PB_KEY_F32: {
        float f;
        uint32_t w = (uint32_t)x;
        memcpy(&f, &w, 4);
        pb_key_put_f32(&k, f);
        break;
      }
      case PB_KEY_F64:
        memcpy(&d, &x, 8);
        pb_key_put_f64(&k, d);
        break;
      case PB_KEY_STR: case PB_KEY_BYTES: {
        uint8_t s[24];
        size_t len = rnd() % sizeof s;
        for (size_t j = 0; j < len; j++)
          s[j] = kind == PB_KEY_STR ? (uint8_t)(rnd() % 2 ? 0 : 'a' + rnd() % 3)
                                    : interesting();
        pb_key_put_bytes(&k, (pb_bytes){s, len});
        break;
      }
    }
  }
  size_t len = 1 + n;
  if (pb_keybuf_error(&k) == PB_OK && len + k.len <= cap) {
    memcpy(out + len, k.ptr, k.len);
    len += k.len;
  }
  pb_keybuf_free(&k);
  return len;
}

static void random_inputs(void **state) {
  (void)state;
  uint8_t in[256];
  for (int i = 0; i < ITERATIONS / 4; i++) {
    size_t n = rnd() % sizeof in;
    for (size_t j = 0; j < n; j++)
      in[j] = rnd() % 2 ? interesting() : (uint8_t)rnd();
    pb_fuzz_key(in, n);
  }
}

static void mutated_valid_keys(void **state) {
  (void)state;
  uint8_t in[512];
  for (int i = 0; i < ITERATIONS; i++) {
    size_t n = valid_input(in, 256);
    pb_fuzz_key(in, n); /* unmutated: everything decodes */
    switch (rnd() % 4) {
      case 0: /* bit flips */
        for (int f = 0; f < 1 + (int)(rnd() % 3); f++)
          in[rnd() % n] ^= (uint8_t)(1u << rnd() % 8);
        break;
      case 1: /* truncation */
        n = rnd() % (n + 1);
        break;
      case 2: { /* an inserted interesting byte */
        size_t at = rnd() % (n + 1);
        memmove(in + at + 1, in + at, n - at);
        in[at] = interesting();
        n++;
        break;
      }
      default: { /* a splice of another valid input's tail */
        uint8_t other[256];
        size_t m = valid_input(other, sizeof other);
        size_t from = rnd() % (m + 1), at = rnd() % (n + 1);
        memcpy(in + at, other + from, m - from);
        n = at + m - from;
        break;
      }
    }
    pb_fuzz_key(in, n);
  }
}

/* Long keys: near PB_KEY_MAX, and beyond it for the successor. */
static void long_inputs(void **state) {
  (void)state;
  static uint8_t in[PB_KEY_MAX + 64];
  for (int i = 0; i < 200; i++) {
    size_t n = PB_KEY_MAX - 64 + rnd() % 128;
    for (size_t j = 0; j < n; j++)
      in[j] = rnd() % 4 ? interesting() : (uint8_t)rnd();
    pb_fuzz_key(in, n);
  }
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(random_inputs),
      cmocka_unit_test(mutated_valid_keys),
      cmocka_unit_test(long_inputs),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
