/*
 * test_key.c - the order-preserving key codec (protobase/key.h).
 *
 * Properties, over thousands of random values of each kind with their edge
 * cases (0, min, max, -0.0, +-inf, NaNs, denormals, empty strings, strings
 * with 0x00 and 0xFF bytes, strings that are prefixes of each other), and
 * over random composite tuples of 2 or 3 components of mixed kinds:
 *   - order: sign(bytewise order of the encodings) == sign(natural order)
 *     for every pair tested;
 *   - round trip: decode(encode(x)) == x (canonicalized for -0.0 and NaN),
 *     the decoded value encodes to the same bytes, and skip agrees;
 *   - prefix successor: every key with the prefix is below it, every key at
 *     or above it lacks the prefix.
 * Then the exact bytes the format fixes, the sticky errors (out of memory
 * too, through a wrapped malloc), and truncated and hostile input to every
 * decoder.  The seed is fixed so a failure
 * reproduces.
 */
#include <float.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "corrupt_detail.h"
#include "key_values.h"
#include "protobase/key.h"

static uint64_t rng_state = 0x853c49e6748fea9bull;
static uint64_t rnd(void) { /* xorshift64*, fixed seed */
  rng_state ^= rng_state >> 12;
  rng_state ^= rng_state << 25;
  rng_state ^= rng_state >> 27;
  return rng_state * 0x2545f4914f6cdd1dull;
}

/* --- failing allocations ---
 * The test links with -Wl,--wrap=malloc,--wrap=realloc (tests/CMakeLists.txt),
 * so the runtime's malloc and realloc come here: when fail_next is set,
 * the next one fails. */
static bool fail_next;
void *__real_malloc(size_t n);
void *__real_realloc(void *p, size_t n);
void *__wrap_malloc(size_t n);
void *__wrap_realloc(void *p, size_t n);
void *__wrap_malloc(size_t n) {
  if (fail_next) {
    fail_next = false;
    return NULL;
  }
  return __real_malloc(n);
}
void *__wrap_realloc(void *p, size_t n) {
  if (fail_next) {
    fail_next = false;
    return NULL;
  }
  return __real_realloc(p, n);
}

/* --- generators --- */

/* A random integer of `bits` bits (signed: sign-extended), edges often. */
static uint64_t gen_bits(unsigned bits, bool is_signed) {
  uint64_t mask = bits == 64 ? ~0ull : (1ull << bits) - 1;
  uint64_t top = 1ull << (bits - 1);
  uint64_t v;
  switch (rnd() % 8) {
    case 0: { /* an edge: 0, 1, -1, min, max and their neighbours */
      static const uint64_t edges[] = {0, 1, 2, ~0ull, ~0ull - 1};
      uint64_t e[] = {edges[0], edges[1], edges[2], edges[3], edges[4],
                      top, top - 1, top + 1, mask, mask - 1};
      v = e[rnd() % 10];
      break;
    }
    case 1: v = rnd() % 5; break;               /* small */
    case 2: v = rnd() >> (rnd() % 64); break;   /* any magnitude */
    case 3: v = ~(rnd() >> (rnd() % 64)); break; /* small negative */
    default: v = rnd(); break;
  }
  v &= mask;
  if (is_signed && (v & top)) v |= ~mask; /* sign-extend */
  return v;
}

static double gen_f64(void) {
  static const double edges[] = {0.0, -0.0, 1.0, -1.0, INFINITY, -INFINITY,
                                 DBL_MAX, -DBL_MAX, DBL_MIN, -DBL_MIN,
                                 DBL_TRUE_MIN, -DBL_TRUE_MIN, 0.5, -0.5,
                                 DBL_MIN / 2, -DBL_MIN / 2, DBL_EPSILON};
  uint64_t bits;
  double d;
  switch (rnd() % 6) {
    case 0: return edges[rnd() % (sizeof edges / sizeof *edges)];
    case 1: /* a NaN of either sign and any payload */
      bits = 0x7ff0000000000000ull | (rnd() & 0x800fffffffffffffull) | 1;
      memcpy(&d, &bits, 8);
      return d;
    case 2: return (double)(int64_t)(rnd() % 7) - 3; /* equal values */
    case 3: /* a denormal */
      bits = (rnd() & 0x800fffffffffffffull);
      memcpy(&d, &bits, 8);
      return d;
    default: /* any bits (NaNs sometimes) */
      bits = rnd();
      memcpy(&d, &bits, 8);
      return d;
  }
}

static float gen_f32(void) {
  static const float edges[] = {0.0f, -0.0f, 1.0f, -1.0f, INFINITY,
                                -INFINITY, FLT_MAX, -FLT_MAX, FLT_MIN,
                                -FLT_MIN, FLT_TRUE_MIN, -FLT_TRUE_MIN};
  uint32_t bits;
  float f;
  switch (rnd() % 6) {
    case 0: return edges[rnd() % (sizeof edges / sizeof *edges)];
    case 1:
      bits = 0x7f800000u | ((uint32_t)rnd() & 0x807fffffu) | 1;
      memcpy(&f, &bits, 4);
      return f;
    case 2: return (float)((int)(rnd() % 7) - 3);
    case 3:
      bits = (uint32_t)rnd() & 0x807fffffu;
      memcpy(&f, &bits, 4);
      return f;
    default:
      bits = (uint32_t)rnd();
      memcpy(&f, &bits, 4);
      return f;
  }
}

/* Random bytes from a small alphabet (so that prefixes and equal values
 * are common): 0x00, 0x01, 0xFF, 'a', 'b', and for strings UTF-8 of two
 * and four bytes instead of 0xFF. */
static size_t gen_text(uint8_t *s, bool utf8) {
  size_t max = rnd() % 4 == 0 ? KV_MAX_BYTES - 4 : 6;
  size_t target = rnd() % (max + 1), n = 0;
  while (n < target) {
    switch (rnd() % 7) {
      case 0: s[n++] = 0x00; break;
      case 1: s[n++] = 0x01; break;
      case 2: s[n++] = 'a'; break;
      case 3: s[n++] = 'b'; break;
      case 4:
        if (utf8) { /* U+00E9 */
          s[n++] = 0xc3;
          s[n++] = 0xa9;
        } else {
          s[n++] = 0xff;
        }
        break;
      case 5:
        if (utf8) { /* U+1F600 */
          memcpy(s + n, "\xf0\x9f\x98\x80", 4);
          n += 4;
        } else {
          s[n++] = 0xfe;
        }
        break;
      default: s[n++] = (uint8_t)(0x20 + rnd() % 0x5f); break;
    }
  }
  return n;
}

static kv gen_kv(pb_key_kind kind) {
  kv v;
  memset(&v, 0, sizeof v);
  v.kind = kind;
  switch (kind) {
    case PB_KEY_BOOL: v.as.b = rnd() & 1; break;
    case PB_KEY_U8: v.as.u = gen_bits(8, false); break;
    case PB_KEY_U16: v.as.u = gen_bits(16, false); break;
    case PB_KEY_U32: v.as.u = gen_bits(32, false); break;
    case PB_KEY_U64: v.as.u = gen_bits(64, false); break;
    case PB_KEY_I8: v.as.i = (int64_t)gen_bits(8, true); break;
    case PB_KEY_I16: v.as.i = (int64_t)gen_bits(16, true); break;
    case PB_KEY_I32: v.as.i = (int64_t)gen_bits(32, true); break;
    case PB_KEY_I64: v.as.i = (int64_t)gen_bits(64, true); break;
    case PB_KEY_F32: v.as.f = gen_f32(); break;
    case PB_KEY_F64: v.as.f = gen_f64(); break;
    case PB_KEY_STR: v.n = gen_text(v.s, true); break;
    case PB_KEY_BYTES: v.n = gen_text(v.s, false); break;
  }
  return v;
}

/* --- encoded tuples --- */

#define MAX_COMPONENTS 3

typedef struct tuple {
  kv c[MAX_COMPONENTS];   /* the components */
  size_t n;               /* how many */
  uint8_t key[PB_KEY_MAX]; /* their encoding */
  size_t len;             /* its length */
} tuple;

static void encode_tuple(tuple *t) {
  pb_keybuf k;
  pb_keybuf_init(&k);
  for (size_t i = 0; i < t->n; i++) kv_put(&k, &t->c[i]);
  assert_int_equal(pb_keybuf_error(&k), PB_OK);
  assert_true(k.len <= PB_KEY_MAX);
  memcpy(t->key, k.ptr, k.len);
  t->len = k.len;
  pb_keybuf_free(&k);
}

/* Decodes t's key with the gets of its kinds: each equals the original
 * (canonicalized), re-encodes to the same bytes, and skip agrees. */
static void check_round_trip(const tuple *t, pb_arena *arena) {
  pb_keyreader r, s;
  pb_keybuf again;
  pb_keybuf_init(&again);
  pb_keyreader_init(&r, t->key, t->len);
  pb_keyreader_init(&s, t->key, t->len);
  for (size_t i = 0; i < t->n; i++) {
    kv got;
    assert_int_equal(kv_get(&r, t->c[i].kind, arena, &got), PB_OK);
    if (!kv_equal(&got, &t->c[i]))
      fail_msg("component %zu of kind %d decoded to another value", i,
               (int)t->c[i].kind);
    kv_put(&again, &got);
    assert_int_equal(pb_key_skip(&s, t->c[i].kind), PB_OK);
    assert_int_equal(pb_keyreader_offset(&s), pb_keyreader_offset(&r));
  }
  assert_true(pb_keyreader_done(&r));
  assert_int_equal(pb_key_expect_end(&r), PB_OK);
  assert_int_equal(pb_keybuf_error(&again), PB_OK);
  assert_int_equal(again.len, t->len);
  assert_memory_equal(again.ptr, t->key, t->len);
  pb_keybuf_free(&again);
  pb_arena_reset(arena);
}

/* Checks order and round trip over `count` tuples of the kinds `kinds`.
 * Returns the number of pairs that differ while their first components are
 * equal (where the later components decide). */
static size_t check_tuples(const pb_key_kind *kinds, size_t n, size_t count) {
  tuple *t = malloc(count * sizeof *t);
  assert_non_null(t);
  pb_arena *arena;
  assert_int_equal(pb_arena_create(&arena), PB_OK);
  for (size_t i = 0; i < count; i++) {
    t[i].n = n;
    for (size_t j = 0; j < n; j++) t[i].c[j] = gen_kv(kinds[j]);
    encode_tuple(&t[i]);
    check_round_trip(&t[i], arena);
  }
  size_t equal = 0;
  for (size_t i = 0; i < count; i++)
    for (size_t j = i; j < count; j++) {
      int natural = kv_cmp_tuple(t[i].c, t[j].c, n);
      int bytes = kv_cmp_bytes(t[i].key, t[i].len, t[j].key, t[j].len);
      if (natural != bytes)
        fail_msg("tuples %zu and %zu (kinds %d..): natural order %d, bytes "
                 "%d",
                 i, j, (int)kinds[0], natural, bytes);
      equal += natural != 0 && kv_cmp(&t[i].c[0], &t[j].c[0]) == 0;
    }
  pb_arena_destroy(arena);
  free(t);
  return equal;
}

/* --- properties --- */

static void order_and_round_trip_per_kind(void **state) {
  (void)state;
  for (int kind = 0; kind < KV_NKINDS; kind++) {
    pb_key_kind k = (pb_key_kind)kind;
    check_tuples(&k, 1, 2000); /* 2000 values, every pair: 2M pairs */
  }
}

static void order_and_round_trip_composites(void **state) {
  (void)state;
  size_t decided_later = 0;
  for (int round = 0; round < 60; round++) {
    pb_key_kind kinds[MAX_COMPONENTS];
    size_t n = 2 + rnd() % 2;
    for (size_t j = 0; j < n; j++)
      kinds[j] = (pb_key_kind)(rnd() % KV_NKINDS);
    /* Every round with a string or bytes component first, half the time,
     * so a variable-length component is followed by another. */
    if (round % 2 == 0) kinds[0] = round % 4 ? PB_KEY_STR : PB_KEY_BYTES;
    decided_later += check_tuples(kinds, n, 400);
  }
  assert_true(decided_later > 10000);
}

/* The orders the format promises, spelled out. */
static void strings_order_as_promised(void **state) {
  (void)state;
  const char *in[] = {"", "\x00", "\x00\x00", "\x00\x01", "\x01", "a",
                      "a\x00", "a\x00\x00", "a\0b", "a\x01", "ab",
                      "b"};
  size_t lens[] = {0, 1, 2, 2, 1, 1, 2, 3, 3, 2, 2, 1};
  size_t count = sizeof in / sizeof *in;
  pb_keybuf prev, cur;
  pb_keybuf_init(&prev);
  pb_keybuf_init(&cur);
  for (size_t i = 0; i < count; i++) {
    pb_keybuf_reset(&cur);
    pb_key_put_str(&cur, (pb_str){in[i], lens[i]});
    pb_key_put_u8(&cur, 0); /* a second component after each */
    assert_int_equal(pb_keybuf_error(&cur), PB_OK);
    if (i > 0 && kv_cmp_bytes(prev.ptr, prev.len, cur.ptr, cur.len) >= 0)
      fail_msg("string %zu does not sort after string %zu", i, i - 1);
    pb_keybuf_reset(&prev);
    pb_key_put_str(&prev, (pb_str){in[i], lens[i]});
    pb_key_put_u8(&prev, 255); /* the largest second component */
  }
  pb_keybuf_free(&prev);
  pb_keybuf_free(&cur);
}

/* Exact bytes, as docs/format.md gives them. */
static void exact_bytes(void **state) {
  (void)state;
  pb_keybuf k;
  pb_keybuf_init(&k);
#define EXPECT(put, bytes)                                  \
  do {                                                      \
    pb_keybuf_reset(&k);                                    \
    put;                                                    \
    assert_int_equal(pb_keybuf_error(&k), PB_OK);           \
    assert_int_equal(k.len, sizeof(bytes) - 1);             \
    assert_memory_equal(k.ptr, bytes, sizeof(bytes) - 1);   \
  } while (0)
  EXPECT(pb_key_put_bool(&k, true), "\x01");
  EXPECT(pb_key_put_u16(&k, 0x1234), "\x12\x34");
  EXPECT(pb_key_put_u32(&k, 1), "\x00\x00\x00\x01");
  EXPECT(pb_key_put_u64(&k, 0x0102030405060708ull),
         "\x01\x02\x03\x04\x05\x06\x07\x08");
  EXPECT(pb_key_put_i8(&k, -1), "\x7f");
  EXPECT(pb_key_put_i32(&k, -1), "\x7f\xff\xff\xff");
  EXPECT(pb_key_put_i32(&k, 0), "\x80\x00\x00\x00");
  EXPECT(pb_key_put_i64(&k, INT64_MIN), "\x00\x00\x00\x00\x00\x00\x00\x00");
  EXPECT(pb_key_put_f64(&k, 1.0), "\xbf\xf0\x00\x00\x00\x00\x00\x00");
  EXPECT(pb_key_put_f64(&k, -1.0), "\x40\x0f\xff\xff\xff\xff\xff\xff");
  EXPECT(pb_key_put_f64(&k, -0.0), "\x80\x00\x00\x00\x00\x00\x00\x00");
  EXPECT(pb_key_put_f64(&k, 0.0), "\x80\x00\x00\x00\x00\x00\x00\x00");
  EXPECT(pb_key_put_f64(&k, INFINITY), "\xff\xf0\x00\x00\x00\x00\x00\x00");
  EXPECT(pb_key_put_f64(&k, -NAN), "\xff\xf8\x00\x00\x00\x00\x00\x00");
  EXPECT(pb_key_put_f32(&k, -0.0f), "\x80\x00\x00\x00");
  EXPECT(pb_key_put_f32(&k, NAN), "\xff\xc0\x00\x00");
  EXPECT(pb_key_put_f32(&k, -INFINITY), "\x00\x7f\xff\xff");
  EXPECT(pb_key_put_str(&k, ((pb_str){"a\0b", 3})), "a\x00\xff" "b\x00\x01");
  EXPECT(pb_key_put_str(&k, ((pb_str){NULL, 0})), "\x00\x01");
  EXPECT(pb_key_put_bytes(&k, ((pb_bytes){(const uint8_t *)"\xff\x00", 2})),
         "\xff\x00\xff\x00\x01");
  EXPECT(pb_key_put_str_prefix(&k, ((pb_str){"a\0", 2})), "a\x00\xff");
#undef EXPECT
  pb_keybuf_free(&k);
}

/* Keys built with the inline part, then grown onto the heap and reused. */
static void builder_grows_and_resets(void **state) {
  (void)state;
  pb_keybuf k;
  pb_keybuf_init(&k);
  assert_ptr_equal(k.ptr, k.inline_);
  for (uint64_t i = 0; i < PB_KEY_MAX / 8; i++) pb_key_put_u64(&k, i);
  assert_int_equal(pb_keybuf_error(&k), PB_OK);
  assert_int_equal(k.len, PB_KEY_MAX);
  assert_true(k.ptr != k.inline_);
  for (uint64_t i = 0; i < PB_KEY_MAX / 8; i++) {
    uint8_t be[8];
    for (int j = 0; j < 8; j++) be[j] = (uint8_t)(i >> (56 - 8 * j));
    assert_memory_equal(k.ptr + 8 * i, be, 8);
  }
  pb_keybuf_reset(&k);
  assert_int_equal(k.len, 0);
  pb_key_put_u8(&k, 7);
  assert_int_equal(k.ptr[0], 7);
  pb_keybuf_bytes(&k);
  assert_int_equal(pb_keybuf_bytes(&k).len, 1);
  assert_null(pb_keybuf_bytes(NULL).ptr);
  pb_keybuf_free(&k);
  assert_ptr_equal(k.ptr, k.inline_);
  pb_keybuf_free(&k); /* twice is fine */
}

/* --- prefix successor --- */

static bool has_prefix(const uint8_t *key, size_t len, const uint8_t *p,
                       size_t n) {
  return len >= n && (n == 0 || memcmp(key, p, n) == 0);
}

/* For the prefix p: every key with it is below the successor; every key at
 * or above the successor lacks it.  Keys are drawn around the prefix and
 * around the successor. */
static void check_successor(const uint8_t *p, size_t n) {
  pb_keybuf succ;
  pb_keybuf_init(&succ);
  int rc = pb_key_prefix_successor(p, n, &succ);
  size_t strip = n;
  while (strip > 0 && p[strip - 1] == 0xff) strip--;
  if (strip == 0) {
    assert_int_equal(rc, PB_ENOTFOUND);
    assert_int_equal(succ.len, 0);
    pb_keybuf_free(&succ);
    return;
  }
  assert_int_equal(rc, PB_OK);
  assert_true(succ.len <= n);
  assert_true(kv_cmp_bytes(p, n, succ.ptr, succ.len) < 0);
  uint8_t key[64];
  for (int i = 0; i < 400; i++) {
    const uint8_t *base = (i & 1) ? succ.ptr : p;
    size_t blen = (i & 1) ? succ.len : n;
    size_t keep = rnd() % (blen + 1), len = keep + rnd() % 4;
    if (len > sizeof key) len = sizeof key;
    if (keep > len) keep = len;
    memcpy(key, base, keep);
    for (size_t j = keep; j < len; j++) {
      uint64_t x = rnd() % 4;
      key[j] = x == 0 ? 0x00 : x == 1 ? 0xff : (uint8_t)rnd();
    }
    if (len > 0 && rnd() % 4 == 0) key[len - 1] ^= (uint8_t)(1u << rnd() % 8);
    bool with = has_prefix(key, len, p, n);
    int vs = kv_cmp_bytes(key, len, succ.ptr, succ.len);
    if (with) assert_true(vs < 0);
    if (vs >= 0) assert_false(with);
    /* Everything between the prefix and the successor has the prefix. */
    if (kv_cmp_bytes(key, len, p, n) >= 0 && vs < 0) assert_true(with);
  }
  pb_keybuf_free(&succ);
}

static void prefix_successor_random(void **state) {
  (void)state;
  uint8_t p[48];
  for (int i = 0; i < 3000; i++) {
    size_t n = rnd() % sizeof p;
    for (size_t j = 0; j < n; j++) {
      uint64_t x = rnd() % 3;
      p[j] = x == 0 ? 0xff : x == 1 ? 0x00 : (uint8_t)rnd();
    }
    if (rnd() % 4 == 0) /* a run of 0xFF at the end */
      for (size_t j = n / 2; j < n; j++) p[j] = 0xff;
    check_successor(p, n);
  }
  /* Prefixes made of encoded components, cut at random points. */
  for (int i = 0; i < 1000; i++) {
    tuple t;
    t.n = 2;
    t.c[0] = gen_kv((pb_key_kind)(rnd() % KV_NKINDS));
    t.c[1] = gen_kv((pb_key_kind)(rnd() % KV_NKINDS));
    encode_tuple(&t);
    check_successor(t.key, rnd() % (t.len + 1));
  }
}

static void prefix_successor_edges(void **state) {
  (void)state;
  pb_keybuf k;
  pb_keybuf_init(&k);
  assert_int_equal(pb_key_prefix_successor(NULL, 0, &k), PB_ENOTFOUND);
  assert_int_equal(pb_key_prefix_successor("\xff\xff", 2, &k), PB_ENOTFOUND);
  assert_int_equal(k.len, 0);
  assert_int_equal(pb_keybuf_error(&k), PB_OK);
  assert_int_equal(pb_key_prefix_successor("a\xfe\xff", 3, &k), PB_OK);
  assert_int_equal(k.len, 2);
  assert_memory_equal(k.ptr, "a\xff", 2);
  /* In place, on the buffer's own bytes, past the inline part. */
  for (int i = 0; i < 40; i++) pb_key_put_u64(&k, 0x41ffffffffffffffull);
  assert_int_equal(pb_key_prefix_successor(k.ptr, k.len, &k), PB_OK);
  assert_int_equal(k.len, 2 + 39 * 8 + 1);
  assert_int_equal(k.ptr[k.len - 1], 0x42);
  assert_int_equal(k.ptr[k.len - 2], 0xff);
  /* Errors. */
  assert_int_equal(pb_key_prefix_successor("a", 1, NULL), PB_EINVAL);
  assert_int_equal(pb_key_prefix_successor(NULL, 1, &k), PB_EINVAL);
  assert_int_equal(pb_keybuf_error(&k), PB_EINVAL);
  static uint8_t big[PB_KEY_MAX + 1];
  big[0] = 1;
  assert_int_equal(pb_key_prefix_successor(big, sizeof big, &k), PB_ETOOBIG);
  assert_int_equal(pb_key_prefix_successor(big, PB_KEY_MAX, &k), PB_OK);
  assert_int_equal(k.len, PB_KEY_MAX);
  assert_int_equal(k.ptr[0], 1);
  assert_int_equal(k.ptr[PB_KEY_MAX - 1], 1);
  pb_keybuf_free(&k);
}

/* Strings that start with s are exactly the keys in
 * [str_prefix(s), successor). */
static void string_prefix_range(void **state) {
  (void)state;
  for (int i = 0; i < 300; i++) {
    kv s = gen_kv(PB_KEY_STR);
    pb_keybuf lo, hi;
    pb_keybuf_init(&lo);
    pb_keybuf_init(&hi);
    pb_key_put_u8(&lo, 9); /* an index field before the string */
    pb_key_put_str_prefix(&lo, (pb_str){(const char *)s.s, s.n});
    assert_int_equal(pb_keybuf_error(&lo), PB_OK);
    assert_int_equal(pb_key_prefix_successor(lo.ptr, lo.len, &hi), PB_OK);
    for (int j = 0; j < 300; j++) {
      tuple t;
      t.n = 3;
      t.c[0].kind = PB_KEY_U8;
      t.c[0].as.u = 8 + rnd() % 3;
      t.c[1] = gen_kv(PB_KEY_STR);
      if (rnd() % 2 && s.n + t.c[1].n <= KV_MAX_BYTES) { /* s + suffix */
        memmove(t.c[1].s + s.n, t.c[1].s, t.c[1].n);
        memcpy(t.c[1].s, s.s, s.n);
        t.c[1].n += s.n;
      }
      t.c[2] = gen_kv(PB_KEY_I32);
      encode_tuple(&t);
      bool starts = t.c[0].as.u == 9 && t.c[1].n >= s.n &&
                    (s.n == 0 || memcmp(t.c[1].s, s.s, s.n) == 0);
      bool in = kv_cmp_bytes(t.key, t.len, lo.ptr, lo.len) >= 0 &&
                kv_cmp_bytes(t.key, t.len, hi.ptr, hi.len) < 0;
      if (starts != in)
        fail_msg("string prefix %d, key %d: starts %d, in range %d", i, j,
                 starts, in);
    }
    pb_keybuf_free(&lo);
    pb_keybuf_free(&hi);
  }
}

/* --- errors --- */

static void too_long_is_sticky(void **state) {
  (void)state;
  pb_keybuf k;
  pb_keybuf_init(&k);
  for (int i = 0; i < PB_KEY_MAX / 8; i++) pb_key_put_u64(&k, 1);
  assert_int_equal(pb_keybuf_error(&k), PB_OK);
  pb_key_put_bool(&k, true); /* byte 4097 */
  assert_int_equal(pb_keybuf_error(&k), PB_ETOOBIG);
  assert_true(strstr(pb_errdetail(), "PB_KEY_MAX") != NULL);
  pb_key_put_str(&k, (pb_str){"\xff", 1}); /* no-op: the first error stays */
  assert_int_equal(pb_keybuf_error(&k), PB_ETOOBIG);
  assert_int_equal(k.len, PB_KEY_MAX);
  pb_keybuf_reset(&k);
  assert_int_equal(pb_keybuf_error(&k), PB_OK);

  /* A string whose escapes push it past the limit. */
  static uint8_t zeros[PB_KEY_MAX];
  pb_key_put_bytes(&k, (pb_bytes){zeros, PB_KEY_MAX / 2 - 1});
  assert_int_equal(pb_keybuf_error(&k), PB_OK); /* 2 * 2047 + 2 = 4096 */
  assert_int_equal(k.len, PB_KEY_MAX);
  pb_keybuf_reset(&k);
  pb_key_put_bytes(&k, (pb_bytes){zeros, PB_KEY_MAX / 2});
  assert_int_equal(pb_keybuf_error(&k), PB_ETOOBIG);
  pb_keybuf_reset(&k);
  pb_key_put_bytes(&k, (pb_bytes){zeros, PB_KEY_MAX});
  assert_int_equal(pb_keybuf_error(&k), PB_ETOOBIG);
  static uint8_t xs[PB_KEY_MAX];
  memset(xs, 'x', sizeof xs);
  xs[0] = 0;
  pb_keybuf_reset(&k); /* 4095 bytes, one of them escaped, no terminator */
  pb_key_put_bytes_prefix(&k, (pb_bytes){xs, PB_KEY_MAX - 1});
  assert_int_equal(pb_keybuf_error(&k), PB_OK);
  assert_int_equal(k.len, PB_KEY_MAX);
  pb_keybuf_reset(&k); /* the same with its terminator */
  pb_key_put_bytes(&k, (pb_bytes){xs, PB_KEY_MAX - 1});
  assert_int_equal(pb_keybuf_error(&k), PB_ETOOBIG);
  pb_keybuf_free(&k);
}

static void bad_input_to_puts(void **state) {
  (void)state;
  pb_keybuf k;
  pb_keybuf_init(&k);
  const char *bad[] = {"\xff", "\xc0\x80", "\xed\xa0\x80", "a\xe2\x82",
                       "\xf4\x90\x80\x80"};
  for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
    pb_keybuf_reset(&k);
    pb_key_put_u8(&k, 1);
    pb_key_put_str(&k, pb_str_from_cstr(bad[i]));
    assert_int_equal(pb_keybuf_error(&k), PB_EINVAL);
    assert_int_equal(k.len, 1); /* nothing of it was written */
    assert_true(strstr(pb_errdetail(), "UTF-8") != NULL);
    pb_keybuf_reset(&k);
    pb_key_put_str_prefix(&k, pb_str_from_cstr(bad[i]));
    assert_int_equal(pb_keybuf_error(&k), PB_EINVAL);
    pb_keybuf_reset(&k); /* the same bytes are fine as bytes */
    pb_key_put_bytes(&k, (pb_bytes){(const uint8_t *)bad[i], strlen(bad[i])});
    assert_int_equal(pb_keybuf_error(&k), PB_OK);
  }
  pb_keybuf_reset(&k);
  pb_key_put_str(&k, (pb_str){NULL, 3});
  assert_int_equal(pb_keybuf_error(&k), PB_EINVAL);
  pb_keybuf_reset(&k);
  pb_key_put_bytes(&k, (pb_bytes){NULL, 1});
  assert_int_equal(pb_keybuf_error(&k), PB_EINVAL);
  pb_keybuf_reset(&k);
  pb_key_put_bytes_prefix(&k, (pb_bytes){NULL, 1});
  assert_int_equal(pb_keybuf_error(&k), PB_EINVAL);
  assert_int_equal(k.len, 0);

  /* NULL handles: nothing happens, nothing crashes. */
  pb_keybuf_init(NULL);
  pb_keybuf_reset(NULL);
  pb_keybuf_free(NULL);
  pb_key_put_u64(NULL, 1);
  pb_key_put_f64(NULL, 1.0);
  pb_key_put_str(NULL, pb_str_from_cstr("a"));
  pb_key_put_bytes_prefix(NULL, (pb_bytes){NULL, 0});
  assert_int_equal(pb_keybuf_error(NULL), PB_EINVAL);
  pb_keybuf_free(&k);
}

static void null_arguments_to_gets(void **state) {
  (void)state;
  pb_keyreader r;
  pb_keyreader_init(&r, "\x00\x01", 2);
  bool b;
  uint64_t u;
  int64_t i;
  double d;
  pb_str s;
  pb_bytes v;
  assert_int_equal(pb_key_get_bool(NULL, &b), PB_EINVAL);
  assert_int_equal(pb_key_get_bool(&r, NULL), PB_EINVAL);
  assert_int_equal(pb_key_get_u64(NULL, &u), PB_EINVAL);
  assert_int_equal(pb_key_get_u64(&r, NULL), PB_EINVAL);
  assert_int_equal(pb_key_get_i64(&r, NULL), PB_EINVAL);
  assert_int_equal(pb_key_get_i64(NULL, &i), PB_EINVAL);
  assert_int_equal(pb_key_get_f64(NULL, &d), PB_EINVAL);
  assert_int_equal(pb_key_get_f32(&r, NULL), PB_EINVAL);
  assert_int_equal(pb_key_get_str(NULL, NULL, &s), PB_EINVAL);
  assert_int_equal(pb_key_get_str(&r, NULL, NULL), PB_EINVAL);
  assert_int_equal(pb_key_get_bytes(NULL, NULL, &v), PB_EINVAL);
  assert_int_equal(pb_key_get_bytes(&r, NULL, NULL), PB_EINVAL);
  assert_int_equal(pb_key_skip(NULL, PB_KEY_U8), PB_EINVAL);
  assert_int_equal(pb_key_skip(&r, (pb_key_kind)99), PB_EINVAL);
  assert_int_equal(pb_key_expect_end(NULL), PB_EINVAL);
  assert_int_equal(pb_keyreader_offset(&r), 0); /* nothing moved */
  assert_int_equal(pb_key_get_str(&r, NULL, &s), PB_OK);
  assert_int_equal(s.len, 0);
  assert_int_equal(pb_key_expect_end(&r), PB_OK);
  pb_keyreader_init(NULL, "a", 1);
  assert_true(pb_keyreader_done(NULL));
  assert_int_equal(pb_keyreader_offset(NULL), 0);
  pb_keyreader_init(&r, NULL, 5); /* NULL data: an empty key */
  assert_true(pb_keyreader_done(&r));
  assert_corrupt(pb_key_get_u8(&r, (uint8_t *)&b), PB_AT_SOURCE);
  assert_corrupt(pb_key_skip(&r, PB_KEY_STR), PB_AT_SOURCE);
}

/* Every valid encoding cut short fails with PB_ECORRUPT, leaves the reader
 * where it was, and writes nothing. */
static void truncated_input(void **state) {
  (void)state;
  pb_arena *arena;
  assert_int_equal(pb_arena_create(&arena), PB_OK);
  for (int kind = 0; kind < KV_NKINDS; kind++) {
    for (int round = 0; round < 50; round++) {
      tuple t;
      t.n = 1;
      t.c[0] = gen_kv((pb_key_kind)kind);
      encode_tuple(&t);
      for (size_t cut = 0; cut < t.len; cut++) {
        uint8_t *copy = malloc(cut ? cut : 1); /* exact size for ASan */
        assert_non_null(copy);
        memcpy(copy, t.key, cut);
        pb_keyreader r;
        pb_keyreader_init(&r, copy, cut);
        kv got;
        size_t before = pb_arena_allocated(arena);
        assert_corrupt(kv_get(&r, (pb_key_kind)kind, arena, &got),
                       PB_AT_SOURCE);
        assert_int_equal(pb_keyreader_offset(&r), 0);
        assert_int_equal(pb_arena_allocated(arena), before);
        assert_corrupt(pb_key_skip(&r, (pb_key_kind)kind), PB_AT_SOURCE);
        assert_int_equal(pb_keyreader_offset(&r), 0);
        free(copy);
      }
    }
  }
  pb_arena_destroy(arena);
}

/* Bytes no put writes. */
static void hostile_input(void **state) {
  (void)state;
  struct {
    pb_key_kind kind;
    const char *bytes;
    size_t len;
  } cases[] = {
      {PB_KEY_BOOL, "\x02", 1},
      {PB_KEY_BOOL, "\xff", 1},
      {PB_KEY_F64, "\x7f\xff\xff\xff\xff\xff\xff\xff", 8},  /* -0.0 */
      {PB_KEY_F64, "\xff\xf8\x00\x00\x00\x00\x00\x01", 8},  /* NaN payload */
      {PB_KEY_F64, "\xff\xff\xff\xff\xff\xff\xff\xff", 8},  /* NaN */
      {PB_KEY_F64, "\x00\x07\xff\xff\xff\xff\xff\xff", 8},  /* -NaN */
      {PB_KEY_F32, "\x7f\xff\xff\xff", 4},                  /* -0.0 */
      {PB_KEY_F32, "\xff\xc0\x00\x01", 4},                  /* NaN payload */
      {PB_KEY_F32, "\x00\x3f\xff\xff", 4},                  /* -NaN */
      {PB_KEY_STR, "a\x00\x02", 3},            /* bad escape */
      {PB_KEY_STR, "a\x00\x00\x01", 4},        /* bad escape */
      {PB_KEY_STR, "a\x00", 2},                /* cut in the terminator */
      {PB_KEY_STR, "abc", 3},                  /* no terminator */
      {PB_KEY_STR, "\xff\x00\x01", 3},         /* not UTF-8 */
      {PB_KEY_STR, "\xc3\x00\xff\xa9\x00\x01", 6}, /* a sequence split */
      {PB_KEY_STR, "\xc0\x80\x00\x01", 4},     /* overlong */
      {PB_KEY_BYTES, "\x00\x10", 2},
      {PB_KEY_BYTES, "\x00\xff\x00", 3},
      {PB_KEY_BYTES, "", 0},
  };
  pb_arena *arena;
  assert_int_equal(pb_arena_create(&arena), PB_OK);
  for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
    uint8_t *copy = malloc(cases[i].len ? cases[i].len : 1);
    assert_non_null(copy);
    memcpy(copy, cases[i].bytes, cases[i].len);
    pb_keyreader r;
    pb_keyreader_init(&r, copy, cases[i].len);
    kv got;
    pb_test_detail_clear();
    int rc = kv_get(&r, cases[i].kind, arena, &got);
    if (rc != PB_ECORRUPT) fail_msg("case %zu: %d", i, rc);
    assert_corrupt_rc(rc, PB_AT_SOURCE);
    assert_corrupt(pb_key_skip(&r, cases[i].kind), PB_AT_SOURCE);
    assert_int_equal(pb_keyreader_offset(&r), 0);
    assert_int_equal(pb_arena_allocated(arena), 0);
    free(copy);
  }
  /* The same bytes as bytes are fine where only UTF-8 was wrong. */
  pb_keyreader r;
  pb_bytes v;
  pb_keyreader_init(&r, "\xff\x00\x01", 3);
  assert_int_equal(pb_key_get_bytes(&r, NULL, &v), PB_OK);
  assert_int_equal(v.len, 1);
  /* A key longer than any put writes: every component of it is refused. */
  static uint8_t big[PB_KEY_MAX + 1];
  memset(big, 'a', sizeof big);
  pb_keyreader_init(&r, big, PB_KEY_MAX);
  assert_int_equal(pb_key_skip(&r, PB_KEY_U64), PB_OK);
  pb_keyreader_init(&r, big, sizeof big);
  assert_corrupt(pb_key_skip(&r, PB_KEY_U64), PB_AT_SOURCE);
  assert_corrupt(pb_key_skip(&r, PB_KEY_BYTES), PB_AT_SOURCE);
  assert_corrupt(pb_key_expect_end(&r), PB_AT_SOURCE);
  assert_true(strstr(pb_errdetail(), "PB_KEY_MAX") != NULL);
  /* Trailing bytes. */
  pb_keyreader_init(&r, "\x01\x02", 2);
  uint8_t u8;
  assert_int_equal(pb_key_get_u8(&r, &u8), PB_OK);
  assert_corrupt(pb_key_expect_end(&r), PB_AT_SOURCE);
  assert_false(pb_keyreader_done(&r));
  pb_arena_destroy(arena);
}

/* Views where no escape occurs; an arena copy where one does. */
static void views_and_copies(void **state) {
  (void)state;
  pb_keybuf k;
  pb_keybuf_init(&k);
  pb_key_put_str(&k, pb_str_from_cstr("plain"));
  pb_key_put_bytes(&k, (pb_bytes){(const uint8_t *)"x\0y", 3});
  pb_key_put_u32(&k, 77);
  pb_keyreader r;
  pb_keyreader_init(&r, k.ptr, k.len);
  pb_str s;
  pb_bytes v;
  assert_int_equal(pb_key_get_str(&r, NULL, &s), PB_OK);
  assert_ptr_equal(s.ptr, (const char *)k.ptr); /* a view */
  assert_int_equal(s.len, 5);
  /* A copy is needed and there is no arena: PB_EINVAL, the reader stays. */
  size_t at = pb_keyreader_offset(&r);
  assert_int_equal(pb_key_get_bytes(&r, NULL, &v), PB_EINVAL);
  assert_int_equal(pb_keyreader_offset(&r), at);
  assert_true(strstr(pb_errdetail(), "arena") != NULL);
  pb_arena *arena;
  assert_int_equal(pb_arena_create(&arena), PB_OK);
  assert_int_equal(pb_key_get_bytes(&r, arena, &v), PB_OK);
  assert_int_equal(v.len, 3);
  assert_memory_equal(v.ptr, "x\0y", 3);
  assert_true(v.ptr < k.ptr || v.ptr >= k.ptr + k.len); /* a copy */
  assert_int_equal(pb_arena_allocated(arena) >= 3, true);
  uint32_t u;
  assert_int_equal(pb_key_get_u32(&r, &u), PB_OK);
  assert_int_equal(u, 77);
  assert_int_equal(pb_key_expect_end(&r), PB_OK);
  /* An index entry: skip the index fields, the primary key follows. */
  pb_keybuf_reset(&k);
  pb_key_put_i32(&k, 2);                       /* priority */
  pb_key_put_str(&k, pb_str_from_cstr("a\xc3\xa9"));
  pb_key_put_u64(&k, 123456789);               /* the primary key */
  pb_keyreader_init(&r, k.ptr, k.len);
  assert_int_equal(pb_key_skip(&r, PB_KEY_I32), PB_OK);
  assert_int_equal(pb_key_skip(&r, PB_KEY_STR), PB_OK);
  assert_int_equal(pb_keyreader_offset(&r), k.len - 8);
  uint64_t id;
  assert_int_equal(pb_key_get_u64(&r, &id), PB_OK);
  assert_int_equal(id, 123456789);
  assert_true(pb_keyreader_done(&r));
  pb_arena_destroy(arena);
  pb_keybuf_free(&k);
}

/* Out of memory: growing onto the heap (malloc) and on it (realloc), the
 * successor of a long prefix, and an arena copy. */
static void out_of_memory(void **state) {
  (void)state;
  pb_keybuf k;
  pb_keybuf_init(&k);
  for (int i = 0; i < PB_KEY_INLINE / 8; i++) pb_key_put_u64(&k, 5);
  fail_next = true;
  pb_key_put_u64(&k, 6); /* needs the heap */
  assert_false(fail_next);
  assert_int_equal(pb_keybuf_error(&k), PB_ENOMEM);
  assert_int_equal(k.len, PB_KEY_INLINE);
  assert_ptr_equal(k.ptr, k.inline_);
  pb_key_put_u64(&k, 6); /* sticky: no-op */
  assert_int_equal(pb_keybuf_error(&k), PB_ENOMEM);
  assert_int_equal(k.len, PB_KEY_INLINE);
  pb_keybuf_reset(&k);
  for (int i = 0; i < PB_KEY_INLINE / 8 + 1; i++) pb_key_put_u64(&k, 5);
  assert_int_equal(pb_keybuf_error(&k), PB_OK); /* on the heap now */
  size_t cap = k.cap;
  while (k.len + 8 <= cap) pb_key_put_u64(&k, 5);
  fail_next = true;
  pb_key_put_u64(&k, 7); /* needs a realloc */
  assert_int_equal(pb_keybuf_error(&k), PB_ENOMEM);
  assert_int_equal(k.cap, cap);
  for (size_t i = 0; i < k.len; i++) assert_int_equal(k.ptr[i], i % 8 == 7 ? 5 : 0);
  pb_keybuf_free(&k);

  static uint8_t prefix[PB_KEY_INLINE * 2];
  pb_keybuf_init(&k);
  fail_next = true;
  assert_int_equal(pb_key_prefix_successor(prefix, sizeof prefix, &k),
                   PB_ENOMEM);
  assert_int_equal(pb_keybuf_error(&k), PB_ENOMEM);
  assert_int_equal(pb_key_prefix_successor(prefix, sizeof prefix, &k), PB_OK);
  pb_keybuf_free(&k);

  pb_arena *arena;
  assert_int_equal(pb_arena_create(&arena), PB_OK);
  pb_keybuf_init(&k);
  pb_key_put_bytes(&k, (pb_bytes){(const uint8_t *)"\0\0", 2});
  pb_keyreader r;
  pb_keyreader_init(&r, k.ptr, k.len);
  pb_bytes v;
  fail_next = true;
  assert_int_equal(pb_key_get_bytes(&r, arena, &v), PB_ENOMEM);
  assert_int_equal(pb_keyreader_offset(&r), 0);
  assert_int_equal(pb_key_get_bytes(&r, arena, &v), PB_OK);
  assert_int_equal(v.len, 2);
  pb_keybuf_free(&k);
  pb_arena_destroy(arena);
  fail_next = false;
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(order_and_round_trip_per_kind),
      cmocka_unit_test(order_and_round_trip_composites),
      cmocka_unit_test(strings_order_as_promised),
      cmocka_unit_test(exact_bytes),
      cmocka_unit_test(builder_grows_and_resets),
      cmocka_unit_test(prefix_successor_random),
      cmocka_unit_test(prefix_successor_edges),
      cmocka_unit_test(string_prefix_range),
      cmocka_unit_test(too_long_is_sticky),
      cmocka_unit_test(bad_input_to_puts),
      cmocka_unit_test(null_arguments_to_gets),
      cmocka_unit_test(truncated_input),
      cmocka_unit_test(hostile_input),
      cmocka_unit_test(views_and_copies),
      cmocka_unit_test(out_of_memory),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
