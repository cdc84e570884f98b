/*
 * test_cache_bytes.c - the cache engine limited by bytes alone
 * (max_entries = PB__CACHE_NO_ENTRY_LIMIT), as a space makes its caches
 * (pb__space_cache_opts: no entry limit, the engine's own memory charged
 * per entry):
 *
 *   bytes_alone             no entry limit: stats say 0; the shard count
 *                           follows the bytes; an entry is charged its
 *                           size plus the overhead, and one whose charge
 *                           is over a shard's bytes is not cached
 *   ghosts_weighed          with no entry limit, the ghosts' weight (each
 *                           its entry's charge) stays within Kout of the
 *                           bytes, so small entries leave more ghosts
 *   defaults_bytes_first    the space's default caches (64 MiB objects,
 *                           16 MiB bytes) take 100k small records whole,
 *                           and with 1M every shard is full by bytes
 *                           before anything is evicted; the old default
 *                           (65,536 entries) bound at 100k, half empty
 *   scan_keeps_hot_set      a hot set of entries of mixed sizes that
 *                           reached Am survives a one-time scan of ten
 *                           times the cache's bytes: every hot key hits
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "cache/cache.h"
#include "txn/space.h"

static pb__cache_key key(uint64_t n) {
  pb__cache_key k = {0xb1, 0xb2, n, 0};
  return k;
}

static void free_value(void *v) { free(v); }

/* Puts key n with a value said to be `size` bytes; no check (fast). */
static void put(pb__cache *c, uint64_t n, uint64_t size) {
  uint64_t *v = malloc(sizeof *v);
  assert_non_null(v);
  *v = n;
  pb__cache_item it = {v, size, free_value};
  pb__cache_key k = key(n);
  assert_int_equal(pb__cache_put(c, &k, &it, NULL), PB_OK);
}

/* A get: true on a hit (the value is checked). */
static bool get(pb__cache *c, uint64_t n) {
  pb__cache_key k = key(n);
  pb__cache_handle *h = NULL;
  if (pb__cache_get(c, &k, &h) != PB_OK) return false;
  assert_int_equal(*(uint64_t *)pb__cache_value(h), n);
  pb__cache_release(h);
  return true;
}

static pb_cache_stats stats(pb__cache *c) {
  pb_cache_stats s;
  assert_int_equal(pb__cache_stats(c, &s), PB_OK);
  return s;
}

static pb__cache *make(const pb__cache_opts *o) {
  pb__cache *c = NULL;
  assert_int_equal(pb__cache_create(o, &c), PB_OK);
  return c;
}

/* A deterministic spread of sizes in [lo, hi]. */
static uint64_t size_of(uint64_t n, uint64_t lo, uint64_t hi) {
  uint64_t x = n * 0x9e3779b97f4a7c15u;
  x ^= x >> 29;
  return lo + x % (hi - lo + 1);
}

static void bytes_alone(void **state) {
  (void)state;
  pb__cache_opts o;
  pb__cache_opts_init(&o);
  o.max_entries = PB__CACHE_NO_ENTRY_LIMIT;
  const struct {
    uint64_t bytes;
    unsigned shards;
  } auto_shards[] = {{64u << 20, 16}, {1u << 20, 4}, {512u << 10, 2},
                     {256u << 10, 1}, {1000, 1}};
  for (size_t i = 0; i < sizeof auto_shards / sizeof auto_shards[0]; i++) {
    o.max_bytes = auto_shards[i].bytes;
    pb__cache *c = make(&o);
    assert_int_equal(pb__cache_debug_nshards(c), auto_shards[i].shards);
    assert_int_equal(stats(c).max_entries, 0); /* none */
    pb__cache_destroy(c);
  }

  /* One shard of 1,000 bytes, 100 charged per entry. */
  o.max_bytes = 1000;
  o.shards = 1;
  o.entry_overhead = 100;
  pb__cache *c = make(&o);
  for (uint64_t n = 0; n < 20; n++) put(c, n, 0); /* 100 each: 10 fit */
  pb_cache_stats s = stats(c);
  assert_int_equal(s.entries, 10);
  assert_int_equal(s.bytes, 1000);
  assert_int_equal(s.evictions, 10);
  put(c, 100, 750); /* charge 850: evicts nine entries, not ten */
  s = stats(c);
  assert_int_equal(s.entries, 2);
  assert_int_equal(s.bytes, 950);
  assert_int_equal(s.evictions, 19);
  put(c, 101, 901); /* charge 1001: over the shard, not cached */
  s = stats(c);
  assert_int_equal(s.rejected, 1);
  assert_int_equal(s.entries, 2);
  assert_int_equal(pb__cache_check(c), PB_OK);
  pb__cache_destroy(c);
}

static void ghosts_weighed(void **state) {
  (void)state;
  pb__cache_opts o;
  pb__cache_opts_init(&o);
  o.max_entries = PB__CACHE_NO_ENTRY_LIMIT;
  o.max_bytes = 10000;
  o.shards = 1;
  o.out_pct = 50; /* ghosts weigh at most 5,000 */
  const uint64_t sizes[] = {1000, 100, 10};
  const uint64_t most[] = {5, 50, 500};
  for (int i = 0; i < 3; i++) {
    pb__cache *c = make(&o);
    for (uint64_t n = 0; n < 2000; n++) {
      put(c, n, sizes[i]);
      if (n % 97 == 0) assert_int_equal(pb__cache_check(c), PB_OK);
    }
    assert_int_equal(stats(c).ghosts, most[i]);
    assert_int_equal(pb__cache_check(c), PB_OK);
    /* The newest ghost comes back to Am; an older one, forgotten, does
     * not. */
    pb__cache_queue q;
    uint64_t newest = 2000 - 10000 / sizes[i] - 1;
    pb__cache_key k = key(newest);
    assert_int_equal(pb__cache_debug_queue(c, &k, &q), PB_OK);
    assert_int_equal(q, PB__CACHE_A1OUT);
    k = key(newest - most[i]);
    assert_int_equal(pb__cache_debug_queue(c, &k, &q), PB_OK);
    assert_int_equal(q, PB__CACHE_NONE);
    put(c, newest, sizes[i]);
    k = key(newest);
    assert_int_equal(pb__cache_debug_queue(c, &k, &q), PB_OK);
    assert_int_equal(q, PB__CACHE_AM);
    assert_int_equal(pb__cache_check(c), PB_OK);
    pb__cache_destroy(c);
  }
}

/* Fills a cache with the options the space gives `max_bytes` with no
 * entry limit, with n entries of sizes in [lo, hi]. */
static pb_cache_stats fill(const pb__cache_opts *o, uint64_t n, uint64_t lo,
                           uint64_t hi) {
  pb__cache *c = make(o);
  for (uint64_t i = 0; i < n; i++) { /* sizes only: no value to allocate */
    pb__cache_item it = {NULL, size_of(i, lo, hi), NULL};
    pb__cache_key k = key(i);
    assert_int_equal(pb__cache_put(c, &k, &it, NULL), PB_OK);
  }
  pb_cache_stats s = stats(c);
  assert_int_equal(pb__cache_check(c), PB_OK);
  pb__cache_destroy(c);
  return s;
}

static void defaults_bytes_first(void **state) {
  (void)state;
  /* What the space's defaults make (txn/space.c), and realistic sizes:
   * a record of a 16-byte key and a 100-byte value decodes to about 200
   * to 300 bytes (struct, atom copy); a full Dictionary leaf to about
   * 2.3 KB. */
  pb_space_options so;
  pb_space_options_init(&so);
  assert_int_equal(so.object_cache_entries, 0);
  assert_int_equal(so.bytes_cache_entries, 0);
  pb__cache_opts objects, bytes;
  pb__space_cache_opts(64u << 20, so.object_cache_entries, &objects);
  pb__space_cache_opts(16u << 20, so.bytes_cache_entries, &bytes);
  assert_true(objects.max_entries == PB__CACHE_NO_ENTRY_LIMIT);
  assert_int_equal(objects.entry_overhead, PB__CACHE_ENTRY_OVERHEAD);

  /* 100k records: all cached, none evicted (with the overhead, about
   * 40 MB of the 64 MiB). */
  pb_cache_stats s = fill(&objects, 100000, 200, 300);
  assert_int_equal(s.entries, 100000);
  assert_int_equal(s.evictions, 0);
  assert_true(s.bytes > 100000 * (200 + PB__CACHE_ENTRY_OVERHEAD));

  /* 1M records: far more than fit.  Every shard stops at its bytes: the
   * total is within one entry per shard of the limit. */
  const uint64_t max_charge = 300 + PB__CACHE_ENTRY_OVERHEAD;
  s = fill(&objects, 1000000, 200, 300);
  assert_true(s.evictions > 0);
  assert_true(s.entries > 2 * 65536);
  assert_true(s.bytes > s.max_bytes - 16 * max_charge);
  assert_true(s.entries + s.evictions == 1000000);
  /* The same for the bytes cache (about 63,000 fit), with raw atoms of
   * 120 to 140 bytes. */
  s = fill(&bytes, 300000, 120, 140);
  assert_true(s.evictions > 0);
  assert_true(s.bytes > s.max_bytes - 16 * (140 + PB__CACHE_ENTRY_OVERHEAD));
  /* Dictionary leaves: bytes bind long before any count would. */
  s = fill(&objects, 100000, 2000, 2600);
  assert_true(s.bytes > s.max_bytes - 16 * (2600 + PB__CACHE_ENTRY_OVERHEAD));

  /* The old defaults bound by entries at 100k records, with the cache
   * less than half full. */
  pb__cache_opts old;
  pb__cache_opts_init(&old);
  old.max_bytes = 64u << 20;
  old.max_entries = 65536;
  s = fill(&old, 100000, 200, 300);
  assert_int_equal(s.entries, 65536);
  assert_true(s.bytes < s.max_bytes / 2);
}

static void scan_keeps_hot_set(void **state) {
  (void)state;
  /* A 1 MiB cache as the space makes it (4 shards, entries charged
   * their overhead), entries of 200 to 3,000 bytes. */
  enum { HOT = 100, LO = 200, HI = 3000 };
  pb__cache_opts o;
  pb__space_cache_opts(1u << 20, 0, &o);
  pb__cache *c = make(&o);
  uint64_t cap = o.max_bytes;
  uint64_t cold = 1000000;
  /* Warm up as a workload would: the hot keys come back, each time after
   * enough one-time keys to push them out of A1in, so they reach Am. */
  for (int round = 0; round < 4; round++) {
    for (uint64_t n = 0; n < HOT; n++)
      if (!get(c, n)) put(c, n, size_of(n, LO, HI));
    for (uint64_t b = 0; b < cap / 2;) {
      uint64_t size = size_of(cold, LO, HI);
      put(c, cold++, size);
      b += size + PB__CACHE_ENTRY_OVERHEAD;
    }
  }
  for (uint64_t n = 0; n < HOT; n++) get(c, n); /* the last warm pass */
  for (uint64_t n = 0; n < HOT; n++) {
    pb__cache_queue q;
    pb__cache_key k = key(n);
    assert_int_equal(pb__cache_debug_queue(c, &k, &q), PB_OK);
    assert_int_equal(q, PB__CACHE_AM);
  }
  /* A one-time scan of ten times the cache's bytes. */
  pb_cache_stats before = stats(c);
  uint64_t scanned = 0;
  for (uint64_t b = 0; b < 10 * cap; scanned++) {
    uint64_t size = size_of(cold, LO, HI);
    put(c, cold++, size);
    b += size + PB__CACHE_ENTRY_OVERHEAD;
  }
  pb_cache_stats after = stats(c);
  assert_true(after.evictions - before.evictions > scanned - scanned / 5);
  assert_int_equal(pb__cache_check(c), PB_OK);
  unsigned hits = 0;
  for (uint64_t n = 0; n < HOT; n++) hits += get(c, n);
  assert_int_equal(hits, HOT); /* every hot key survived */
  pb__cache_destroy(c);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(bytes_alone),
      cmocka_unit_test(ghosts_weighed),
      cmocka_unit_test(defaults_bytes_first),
      cmocka_unit_test(scan_keeps_hot_set),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
