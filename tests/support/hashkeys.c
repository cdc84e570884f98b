/*
 * tests/support/hashkeys.c - random stream, low-entropy hash and key
 * universe of the hash tests (see hashkeys.h).
 */
#include "support/hashkeys.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "atom/value.h"
#include "collections/hash.h"

static uint64_t rng;

void pb_test_rng_seed(uint64_t seed) { rng = seed; }

uint64_t pb_test_rnd(void) {
  uint64_t z = (rng += 0x9e3779b97f4a7c15ULL);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

unsigned pb_test_below(unsigned n) { return (unsigned)(pb_test_rnd() % n); }

uint64_t pb_test_seed_from(const char *prog, int argc, char **argv,
                           uint64_t dflt) {
  uint64_t seed = dflt;
  const char *env = getenv("PB_SEED");
  if (env && *env) seed = strtoull(env, NULL, 0);
  for (int i = 1; i < argc; i++)
    if (strncmp(argv[i], "--seed=", 7) == 0)
      seed = strtoull(argv[i] + 7, NULL, 0);
  printf("%s: seed %llu (PB_SEED=<n> or --seed=<n> to change)\n", prog,
         (unsigned long long)seed);
  return seed;
}

uint64_t pb_test_low_entropy(const void *bytes, size_t len) {
  uint64_t x = pb__hash_xxh3(bytes, len), out = 0;
  for (unsigned i = 0; i < 7; i++) out |= ((x >> i) & 1u) << (9 * i);
  return out | (((x >> 7) & 1u) * (0xfULL << 60));
}

/* A record body of one field: tag 1, a LEN payload "r<i>". */
static pb_value record_key(unsigned i, char *buf) {
  int n = snprintf(buf + 2, PB_TEST_KEY_BUF - 2, "r%u", i);
  buf[0] = (char)(1u << 3 | PB_WT_LEN);
  buf[1] = (char)n;
  pb_value v = {.kind = PB_VALUE_RECORD};
  v.as.rec.fingerprint = i % 3;
  v.as.rec.body = (pb_bytes){(const uint8_t *)buf, (size_t)n + 2};
  return v;
}

pb_value pb_test_key_of(unsigned i, char *buf) {
  pb_value v;
  memset(&v, 0, sizeof v);
  switch (i % 8) {
  case 0: v.kind = PB_VALUE_INT; v.as.i = (int64_t)i * 7 - 5000; break;
  case 1: v.kind = PB_VALUE_UINT; v.as.u = (uint64_t)i * 1000003u; break;
  case 2:
    v.kind = PB_VALUE_STRING;
    v.as.s.len = (size_t)snprintf(buf, PB_TEST_KEY_BUF, "s%u", i);
    v.as.s.ptr = buf;
    break;
  case 3:
    v.kind = PB_VALUE_BYTES;
    buf[0] = (char)i, buf[1] = (char)(i >> 8);
    buf[2] = 0, buf[3] = (char)(i >> 16);
    v.as.bytes = (pb_bytes){(const uint8_t *)buf, 4};
    break;
  case 4:
    v.kind = PB_VALUE_DOUBLE;
    v.as.d = i == 4 ? -0.0 : (double)(i / 8) * 0.25 - 50.0;
    break;
  case 5: /* pointers only when null; else UINTs apart from case 1's */
    if (i == 5) v.kind = PB_VALUE_REF;
    else if (i == 13) v.kind = PB_VALUE_SET;
    else v.kind = PB_VALUE_UINT, v.as.u = (uint64_t)i * 1000003u;
    break;
  case 6: v = record_key(i, buf); break;
  default:
    if (i == 7) v.kind = PB_VALUE_NULL;
    else if (i == 15 || i == 23) v.kind = PB_VALUE_BOOL, v.as.b = i == 23;
    else {
      v.kind = PB_VALUE_STRING;
      v.as.s.len = (size_t)snprintf(buf, PB_TEST_KEY_BUF,
                                    "a longer key, number %u", i);
      v.as.s.ptr = buf;
    }
  }
  return v;
}

/* --- the key index --- */

typedef struct enc {
  uint8_t bytes[64]; /* the key's value encoding */
  size_t len;
  unsigned idx;      /* its number */
} enc;

static enc table[PB_TEST_KEY_INDEX_MAX];
static unsigned table_n;

static int enc_cmp(const void *pa, const void *pb) {
  const enc *a = pa, *b = pb;
  size_t n = a->len < b->len ? a->len : b->len;
  int c = memcmp(a->bytes, b->bytes, n);
  return c ? c : (a->len > b->len) - (a->len < b->len);
}

/* Encodes k into e; false if it has no encoding or is too long. */
static bool encode_to(const pb_value *k, enc *e) {
  pb_buf b;
  pb_buf_init(&b);
  pb__value_encode(&b, k);
  bool ok = pb_buf_error(&b) == PB_OK && b.len <= sizeof e->bytes;
  if (ok) memcpy(e->bytes, b.data, b.len), e->len = b.len;
  pb_buf_free(&b);
  return ok;
}

void pb_test_key_index_build(unsigned u) {
  if (u > PB_TEST_KEY_INDEX_MAX) abort();
  for (unsigned i = 0; i < u; i++) {
    char kb[PB_TEST_KEY_BUF];
    pb_value k = pb_test_key_of(i, kb);
    if (!encode_to(&k, &table[i])) abort();
    table[i].idx = i;
  }
  qsort(table, u, sizeof *table, enc_cmp);
  for (unsigned i = 1; i < u; i++) /* the keys are distinct */
    if (enc_cmp(&table[i - 1], &table[i]) >= 0) abort();
  table_n = u;
}

unsigned pb_test_key_index(const pb_value *k) {
  enc e;
  if (!encode_to(k, &e)) return UINT_MAX;
  const enc *hit = bsearch(&e, table, table_n, sizeof *table, enc_cmp);
  return hit ? hit->idx : UINT_MAX;
}
