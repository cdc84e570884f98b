/*
 * test_cache.c - the 2Q rules of the cache engine (runtime/cache/cache.h),
 * one thread, one shard unless said, with the queues read through the
 * test hooks:
 *
 *   - probation (A1in) entries are evicted before protected (Am) ones, and
 *     Am evicts its least recently used entry once A1in is within its
 *     share;
 *   - a key seen again while it is a ghost (A1out) goes straight to Am; a
 *     key evicted from Am leaves no ghost; the ghost list keeps at most
 *     Kout keys, oldest dropped first;
 *   - a one-time scan ten times larger than the cache leaves a hot set
 *     that reached Am untouched;
 *   - eviction removes only what the new entry needs, in bytes and in
 *     entries; an entry over the byte limit is not cached, evicts nothing,
 *     and is still given out;
 *   - a re-put of a resident key keeps the cached value and counts it once
 *     (also when a put wins the race against a load of the same key);
 *   - with several shards, each shard keeps its part of the limits and the
 *     sums never exceed the cache's;
 *   - a drop removes a resident entry from either queue and leaves no
 *     ghost; a handle held across it stays valid until released.
 *
 * test_cache_life.c covers lifetimes, statistics and errors;
 * test_cache_model.c a randomized comparison with a model of 2Q;
 * test_cache_mt.c single-flight and threads.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "cache/cache.h"

static int destroyed; /* values whose destructor ran */

static void count_destroy(void *v) {
  destroyed++;
  free(v);
}

static pb__cache_key key(uint64_t n) {
  pb__cache_key k = {0xb1, 0xb2, n, 0};
  return k;
}

/* A cache of one shard with these limits and shares. */
static pb__cache *make(uint64_t max_bytes, uint64_t max_entries,
                       uint32_t in_pct, uint32_t out_pct) {
  pb__cache_opts o;
  pb__cache_opts_init(&o);
  o.max_bytes = max_bytes;
  o.max_entries = max_entries;
  o.in_pct = in_pct;
  o.out_pct = out_pct;
  o.shards = 1;
  pb__cache *c = NULL;
  assert_int_equal(pb__cache_create(&o, &c), PB_OK);
  destroyed = 0;
  return c;
}

/* Puts key n with a value of `size` bytes (a heap copy of n). */
static void put(pb__cache *c, uint64_t n, uint64_t size) {
  uint64_t *v = malloc(sizeof *v);
  assert_non_null(v);
  *v = n;
  pb__cache_item it = {v, size, count_destroy};
  pb__cache_key k = key(n);
  assert_int_equal(pb__cache_put(c, &k, &it, NULL), PB_OK);
  assert_int_equal(pb__cache_check(c), PB_OK);
}

static pb__cache_queue where(pb__cache *c, uint64_t n) {
  pb__cache_key k = key(n);
  pb__cache_queue q;
  assert_int_equal(pb__cache_debug_queue(c, &k, &q), PB_OK);
  return q;
}

/* A get that must hit (and releases its handle). */
static void touch(pb__cache *c, uint64_t n) {
  pb__cache_key k = key(n);
  pb__cache_handle *h = NULL;
  assert_int_equal(pb__cache_get(c, &k, &h), PB_OK);
  assert_int_equal(*(uint64_t *)pb__cache_value(h), n);
  pb__cache_release(h);
}

/* Asserts that queue q holds exactly keys[0..n) in that order (head
 * first). */
static void expect_queue(pb__cache *c, pb__cache_queue q, const uint64_t *keys,
                         size_t n) {
  pb__cache_key got[64];
  size_t len = 0;
  assert_int_equal(pb__cache_debug_keys(c, 0, q, got, 64, &len), PB_OK);
  assert_int_equal(len, n);
  for (size_t i = 0; i < n; i++) assert_int_equal(got[i].offset, keys[i]);
}

static pb_cache_stats stats(pb__cache *c) {
  pb_cache_stats s;
  assert_int_equal(pb__cache_stats(c, &s), PB_OK);
  return s;
}

/* 4 entries: Kin = 1 entry, Kout = 2 ghosts. */
static void test_probation_evicted_before_protected(void **state) {
  (void)state;
  pb__cache *c = make(1000, 4, 25, 50);
  for (uint64_t n = 1; n <= 4; n++) put(c, n, 1);
  expect_queue(c, PB__CACHE_A1IN, (uint64_t[]){4, 3, 2, 1}, 4);
  touch(c, 1); /* A1in is a FIFO: a hit does not save 1 */
  expect_queue(c, PB__CACHE_A1IN, (uint64_t[]){4, 3, 2, 1}, 4);
  put(c, 5, 1); /* A1in is over its share: its tail (1) goes, as a ghost */
  expect_queue(c, PB__CACHE_A1IN, (uint64_t[]){5, 4, 3, 2}, 4);
  expect_queue(c, PB__CACHE_A1OUT, (uint64_t[]){1}, 1);
  put(c, 1, 1); /* seen again: to Am; 2 leaves A1in to make room */
  assert_int_equal(where(c, 1), PB__CACHE_AM);
  expect_queue(c, PB__CACHE_A1IN, (uint64_t[]){5, 4, 3}, 3);
  /* New keys now push A1in's tail out, never the protected 1. */
  for (uint64_t n = 10; n < 30; n++) {
    put(c, n, 1);
    assert_int_equal(where(c, 1), PB__CACHE_AM);
  }
  expect_queue(c, PB__CACHE_A1IN, (uint64_t[]){29, 28, 27}, 3);
  /* Bring 28 and 27 back into Am through the ghost list: Am is {27, 28, 1}
   * and A1in holds just 29 (= Kin), so the next new key evicts from Am,
   * and Am's least recently used entry, which a hit changes. */
  put(c, 30, 1);                /* evicts 27 to the ghosts */
  put(c, 31, 1);                /* evicts 28 */
  put(c, 27, 1);                /* ghost: to Am, evicts 29 */
  put(c, 28, 1);                /* ghost: to Am, evicts 30 */
  expect_queue(c, PB__CACHE_AM, (uint64_t[]){28, 27, 1}, 3);
  expect_queue(c, PB__CACHE_A1IN, (uint64_t[]){31}, 1);
  touch(c, 1); /* 1 becomes most recently used; 27 is now the LRU */
  expect_queue(c, PB__CACHE_AM, (uint64_t[]){1, 28, 27}, 3);
  touch(c, 31); /* a hit in A1in moves nothing */
  expect_queue(c, PB__CACHE_A1IN, (uint64_t[]){31}, 1);
  put(c, 40, 1); /* A1in within its share: Am's LRU (27) goes, no ghost */
  assert_int_equal(where(c, 27), PB__CACHE_NONE);
  expect_queue(c, PB__CACHE_AM, (uint64_t[]){1, 28}, 2);
  expect_queue(c, PB__CACHE_A1IN, (uint64_t[]){40, 31}, 2);
  pb__cache_destroy(c);
}

static void test_ghost_goes_to_protected(void **state) {
  (void)state;
  pb__cache *c = make(1000, 4, 25, 50); /* Kout = 2 */
  for (uint64_t n = 1; n <= 6; n++) put(c, n, 1); /* 1, 2 become ghosts */
  assert_int_equal(where(c, 1), PB__CACHE_A1OUT);
  assert_int_equal(where(c, 2), PB__CACHE_A1OUT);
  /* A get of a ghost is a miss and leaves the ghost as it is. */
  pb__cache_key k1 = key(1);
  pb__cache_handle *h = NULL;
  assert_int_equal(pb__cache_get(c, &k1, &h), PB_ENOTFOUND);
  assert_null(h);
  assert_int_equal(where(c, 1), PB__CACHE_A1OUT);
  put(c, 2, 1);
  assert_int_equal(where(c, 2), PB__CACHE_AM); /* straight to protected */
  assert_int_equal(stats(c).ghost_hits, 1);
  assert_int_equal(stats(c).insertions, 7);
  /* Kout bounds the ghosts: the oldest is forgotten first. */
  expect_queue(c, PB__CACHE_A1OUT, (uint64_t[]){3, 1}, 2); /* 2 made room */
  put(c, 7, 1); /* evicts 4: ghosts {4, 3}, and 1 is forgotten */
  expect_queue(c, PB__CACHE_A1OUT, (uint64_t[]){4, 3}, 2);
  assert_int_equal(where(c, 1), PB__CACHE_NONE);
  put(c, 1, 1); /* no longer remembered: probation again */
  assert_int_equal(where(c, 1), PB__CACHE_A1IN);
  assert_int_equal(stats(c).ghost_hits, 1);
  pb__cache_destroy(c);
  assert_int_equal(destroyed, 9); /* every value put, exactly once */
}

static void test_scan_keeps_hot_set(void **state) {
  (void)state;
  enum { CAP = 100, HOT = 20, SCAN = 1000 };
  pb__cache *c = make(1u << 20, CAP, 25, 50);
  /* Warm up as a workload would: the hot keys come back, each time after
   * enough one-time keys to have left A1in, so they reach Am. */
  uint64_t cold = 1000;
  for (int round = 0; round < 5; round++) {
    for (uint64_t n = 0; n < HOT; n++) {
      pb__cache_key k = key(n);
      pb__cache_handle *h = NULL;
      if (pb__cache_get(c, &k, &h) == PB_OK) pb__cache_release(h);
      else put(c, n, 1);
    }
    for (int i = 0; i < CAP; i++) put(c, cold++, 1);
  }
  for (uint64_t n = 0; n < HOT; n++) assert_int_equal(where(c, n), PB__CACHE_AM);
  /* A one-time scan ten times the cache's size. */
  pb_cache_stats before = stats(c);
  for (uint64_t i = 0; i < SCAN; i++) put(c, 1000000 + i, 1);
  assert_int_equal(stats(c).evictions - before.evictions, SCAN);
  for (uint64_t n = 0; n < HOT; n++) touch(c, n); /* every one a hit */
  assert_int_equal(stats(c).am_entries, HOT);
  pb__cache_destroy(c);
}

static void test_minimal_eviction(void **state) {
  (void)state;
  /* Bytes: ten entries of 10 fill 100 bytes; one of 25 evicts exactly the
   * three oldest. */
  pb__cache *c = make(100, 1000, 25, 50);
  for (uint64_t n = 1; n <= 10; n++) put(c, n, 10);
  assert_int_equal(stats(c).bytes, 100);
  put(c, 11, 25);
  pb_cache_stats s = stats(c);
  assert_int_equal(s.evictions, 3);
  assert_int_equal(s.bytes, 95);
  assert_int_equal(s.entries, 8);
  for (uint64_t n = 1; n <= 3; n++) assert_int_equal(where(c, n), PB__CACHE_A1OUT);
  for (uint64_t n = 4; n <= 11; n++) assert_int_equal(where(c, n), PB__CACHE_A1IN);
  /* Size 0 still takes an entry slot, and no byte. */
  put(c, 12, 0);
  assert_int_equal(stats(c).evictions, 3);
  /* An entry over the whole byte limit is not cached and evicts nothing;
   * its handle still gives it. */
  uint64_t *v = malloc(sizeof *v);
  *v = 99;
  pb__cache_item big = {v, 101, count_destroy};
  pb__cache_key k = key(99);
  pb__cache_handle *h = NULL;
  assert_int_equal(pb__cache_put(c, &k, &big, &h), PB_OK);
  assert_ptr_equal(pb__cache_value(h), v);
  assert_int_equal(pb__cache_size(h), 101);
  assert_int_equal(where(c, 99), PB__CACHE_NONE);
  s = stats(c);
  assert_int_equal(s.evictions, 3);
  assert_int_equal(s.rejected, 1);
  assert_int_equal(s.held_entries, 1);
  assert_int_equal(s.held_bytes, 101);
  assert_int_equal(destroyed, 3); /* the three evicted values */
  pb__cache_release(h);
  assert_int_equal(destroyed, 4);
  assert_int_equal(stats(c).held_entries, 0);
  /* Without a handle, a rejected value is destroyed at once. */
  put(c, 98, 1000);
  assert_int_equal(destroyed, 5);
  pb__cache_destroy(c);

  /* Entries: five fill the limit; a sixth evicts one, the oldest. */
  c = make(1u << 20, 5, 25, 100);
  for (uint64_t n = 1; n <= 6; n++) put(c, n, 7);
  s = stats(c);
  assert_int_equal(s.evictions, 1);
  assert_int_equal(s.entries, 5);
  assert_int_equal(s.bytes, 35);
  assert_int_equal(where(c, 1), PB__CACHE_A1OUT);
  pb__cache_destroy(c);
}

/* A loader that puts its own key first (a put that wins the race against
 * the load) and then gives another value. */
static int racing_loader(void *arg, const pb__cache_key *k,
                         pb__cache_item *out) {
  pb__cache *c = arg;
  uint64_t *first = malloc(sizeof *first);
  *first = 111;
  pb__cache_item it = {first, 40, count_destroy};
  assert_int_equal(pb__cache_put(c, k, &it, NULL), PB_OK);
  uint64_t *second = malloc(sizeof *second);
  *second = 222;
  *out = (pb__cache_item){second, 30, count_destroy};
  return PB_OK;
}

static void test_reput_does_not_double_count(void **state) {
  (void)state;
  pb__cache *c = make(1000, 10, 25, 50);
  put(c, 1, 10);
  uint64_t *again = malloc(sizeof *again);
  *again = 1000;
  pb__cache_item it = {again, 30, count_destroy};
  pb__cache_key k = key(1);
  pb__cache_handle *h = NULL;
  assert_int_equal(pb__cache_put(c, &k, &it, &h), PB_OK);
  /* The cached value is kept: the new one was destroyed at once. */
  assert_int_equal(*(uint64_t *)pb__cache_value(h), 1);
  assert_int_equal(pb__cache_size(h), 10);
  assert_int_equal(destroyed, 1);
  pb_cache_stats s = stats(c);
  assert_int_equal(s.bytes, 10);
  assert_int_equal(s.entries, 1);
  assert_int_equal(s.insertions, 1);
  pb__cache_release(h);

  /* A put that lands while the same key loads: the load's value loses. */
  pb__cache_key k2 = key(2);
  assert_int_equal(pb__cache_get_or_load(c, &k2, racing_loader, c, &h), PB_OK);
  assert_int_equal(*(uint64_t *)pb__cache_value(h), 111);
  assert_int_equal(destroyed, 2);
  s = stats(c);
  assert_int_equal(s.bytes, 50);
  assert_int_equal(s.entries, 2);
  assert_int_equal(s.insertions, 2);
  assert_int_equal(s.loads, 1);
  pb__cache_release(h);
  assert_int_equal(pb__cache_check(c), PB_OK);
  pb__cache_destroy(c);
  assert_int_equal(destroyed, 4);
}

static void test_drop(void **state) {
  (void)state;
  pb__cache *c = make(1000, 10, 25, 50);
  put(c, 1, 10);
  put(c, 2, 20);
  pb__cache_key k1 = key(1), k2 = key(2), k3 = key(3);
  pb__cache_handle *h = NULL;
  assert_int_equal(pb__cache_get(c, &k2, &h), PB_OK); /* to Am, held */
  pb__cache_drop(c, &k1); /* from A1in: gone, destroyed, no ghost */
  assert_int_equal(destroyed, 1);
  assert_int_equal(where(c, 1), PB__CACHE_NONE);
  assert_int_equal(pb__cache_check(c), PB_OK);
  pb__cache_drop(c, &k2); /* from Am, while held: its handle stays valid */
  assert_int_equal(destroyed, 1);
  assert_int_equal(*(uint64_t *)pb__cache_value(h), 2);
  assert_int_equal(where(c, 2), PB__CACHE_NONE);
  pb__cache_handle *none = NULL;
  assert_int_equal(pb__cache_get(c, &k2, &none), PB_ENOTFOUND);
  pb_cache_stats s = stats(c);
  assert_int_equal(s.entries, 0);
  assert_int_equal(s.bytes, 0);
  pb__cache_release(h); /* the last handle: destroyed now */
  assert_int_equal(destroyed, 2);
  pb__cache_drop(c, &k3); /* not cached: nothing happens */
  pb__cache_drop(NULL, &k3);
  pb__cache_drop(c, NULL);
  put(c, 1, 10); /* a dropped key comes back as new (no ghost: A1in) */
  assert_int_equal(where(c, 1), PB__CACHE_A1IN);
  assert_int_equal(pb__cache_check(c), PB_OK);
  pb__cache_destroy(c);
  assert_int_equal(destroyed, 3);
}

static void test_shards_split_the_limits(void **state) {
  (void)state;
  pb__cache_opts o;
  pb__cache_opts_init(&o);
  o.max_bytes = 1000; /* 250 per shard */
  o.max_entries = 10; /* 3, 3, 2, 2 */
  o.shards = 4;
  pb__cache *c = NULL;
  assert_int_equal(pb__cache_create(&o, &c), PB_OK);
  assert_int_equal(pb__cache_debug_nshards(c), 4);
  unsigned used[4] = {0};
  for (uint64_t n = 0; n < 200; n++) {
    put(c, n, 1 + n % 60);
    pb__cache_key k = key(n);
    used[pb__cache_debug_shard(c, &k)]++;
    pb_cache_stats s = stats(c);
    assert_true(s.entries <= 10 && s.bytes <= 1000);
  }
  for (int i = 0; i < 4; i++) assert_true(used[i] > 20); /* keys spread */
  assert_int_equal(stats(c).entries, 10); /* every shard full */
  /* 300 bytes: under the cache's limit, over a shard's: not cached. */
  put(c, 500, 300);
  assert_int_equal(where(c, 500), PB__CACHE_NONE);
  assert_int_equal(stats(c).rejected, 1);
  pb__cache_destroy(c);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_probation_evicted_before_protected),
      cmocka_unit_test(test_ghost_goes_to_protected),
      cmocka_unit_test(test_scan_keeps_hot_set),
      cmocka_unit_test(test_minimal_eviction),
      cmocka_unit_test(test_reput_does_not_double_count),
      cmocka_unit_test(test_drop),
      cmocka_unit_test(test_shards_split_the_limits),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
