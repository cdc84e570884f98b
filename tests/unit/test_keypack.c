/*
 * test_keypack.c - table/keypack.h: encoded table keys packed into 7-bit
 * bytes for the Dictionary.  Packing keeps bytewise order (shorter first on
 * a common prefix) and is one-to-one: checked on every pair of a set of
 * short keys that are prefixes of each other, and on random pairs; every
 * packing unpacks to its key; and random and mutated bytes given to the
 * unpacker (hostile: they come from stored Dictionary keys) are refused
 * with PB_ECORRUPT and a detail, or unpack to a key that packs back to
 * exactly them.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "protobase/protobase.h"
#include "table/keypack.h"

static uint64_t rng = 0x9e3779b97f4a7c15ull;
static uint32_t rnd(void) {
  rng = rng * 6364136223846793005ull + 1442695040888963407ull;
  return (uint32_t)(rng >> 33);
}

static int cmp(const uint8_t *a, size_t na, const uint8_t *b, size_t nb) {
  int c = memcmp(a, b, na < nb ? na : nb);
  if (c) return c < 0 ? -1 : 1;
  return (na > nb) - (na < nb);
}

static void check_pair(const uint8_t *a, size_t na, const uint8_t *b,
                       size_t nb) {
  uint8_t pa[64], pb[64];
  pb__keypack(a, na, pa);
  pb__keypack(b, nb, pb);
  size_t la = pb__keypack_len(na), lb = pb__keypack_len(nb);
  assert_int_equal(cmp(pa, la, pb, lb), cmp(a, na, b, nb));
  for (size_t i = 0; i < la; i++) assert_true(pa[i] < 0x80);
}

/* All keys of up to 9 bytes over {0x00, 0x01, 0x7f, 0x80, 0xfe, 0xff}
 * sampled, in every pair: prefixes, and the bytes that sit at the edges
 * of 7-bit groups. */
static void order_kept(void **state) {
  (void)state;
  static const uint8_t alpha[] = {0x00, 0x01, 0x7f, 0x80, 0xfe, 0xff};
  enum { K = 600 };
  static uint8_t keys[K][9];
  static size_t lens[K];
  for (size_t i = 0; i < K; i++) {
    lens[i] = rnd() % 10;
    for (size_t j = 0; j < lens[i]; j++) keys[i][j] = alpha[rnd() % 6];
    if (i > 0 && rnd() % 3 == 0) { /* a prefix or extension of another */
      size_t o = rnd() % i;
      memcpy(keys[i], keys[o], lens[o]);
      if (lens[i] < lens[o]) lens[i] = rnd() % (lens[o] + 1);
    }
  }
  for (size_t i = 0; i < K; i++)
    for (size_t j = 0; j < K; j++)
      check_pair(keys[i], lens[i], keys[j], lens[j]);
  for (int r = 0; r < 100000; r++) { /* random pairs up to 40 bytes */
    uint8_t a[40], b[40];
    size_t na = rnd() % 41, nb = rnd() % 41;
    for (size_t i = 0; i < na; i++) a[i] = (uint8_t)rnd();
    memcpy(b, a, na < nb ? na : nb); /* often a common prefix */
    for (size_t i = rnd() % (nb + 1); i < nb; i++) b[i] = (uint8_t)rnd();
    check_pair(a, na, b, nb);
  }
}

static void round_trip(void **state) {
  (void)state;
  for (size_t n = 0; n <= 300; n++) {
    uint8_t in[300], packed[400], out[400];
    for (size_t i = 0; i < n; i++) in[i] = (uint8_t)rnd();
    pb__keypack(in, n, packed);
    size_t m = pb__keypack_len(n), got = 999;
    assert_int_equal(m, (8 * n + 6) / 7);
    assert_int_equal(pb__keyunpack(packed, m, out, &got), PB_OK);
    assert_int_equal(got, n);
    assert_memory_equal(out, in, n);
  }
}

/* Hostile bytes: refused with a detail, or a key that packs back to them
 * exactly (so two different stored keys never name one table key). */
static void hostile(void **state) {
  (void)state;
  size_t refused = 0, accepted = 0;
  for (int r = 0; r < 200000; r++) {
    uint8_t in[24], out[24], again[32];
    size_t m = rnd() % 25;
    for (size_t i = 0; i < m; i++)
      in[i] = (uint8_t)(rnd() % 4 ? rnd() & 0x7f : rnd());
    size_t n;
    int rc = pb__keyunpack(in, m, out, &n);
    if (rc != PB_OK) {
      assert_int_equal(rc, PB_ECORRUPT);
      assert_non_null(strstr(pb_errdetail(), "packed key"));
      refused++;
      continue;
    }
    accepted++;
    assert_int_equal(pb__keypack_len(n), m);
    pb__keypack(out, n, again);
    assert_memory_equal(again, in, m);
  }
  assert_true(refused > 1000 && accepted > 1000);
  /* the three reasons */
  uint8_t one = 0x01, high[2] = {0x80, 0x00}, pad[2] = {0x00, 0x01};
  size_t n;
  uint8_t out[4];
  assert_int_equal(pb__keyunpack(&one, 1, out, &n), PB_ECORRUPT); /* length */
  assert_int_equal(pb__keyunpack(high, 2, out, &n), PB_ECORRUPT);
  assert_int_equal(pb__keyunpack(pad, 2, out, &n), PB_ECORRUPT);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(order_kept),
      cmocka_unit_test(round_trip),
      cmocka_unit_test(hostile),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
