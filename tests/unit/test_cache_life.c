/*
 * test_cache_life.c - the cache engine's contracts other than the 2Q
 * rules (runtime/cache/cache.h), one thread:
 *
 *   - options: the defaults, the automatic shard count, every PB_EINVAL;
 *   - a value stays readable, unchanged, while a handle holds it, even
 *     after its entry was evicted; its destructor runs at the last
 *     release, once (under ASan, a use after free would stop the test);
 *   - statistics: hits, misses, the hit ratio, loads, load errors, held
 *     values, and the load-latency histogram (a 2 ms load lands in the
 *     bucket of 2^20..2^21 ns or the next); errors are never cached;
 *   - out of memory, injected at each allocation in turn: creation fails
 *     cleanly; a failed put leaves the value with the caller and the cache
 *     unchanged; a failed load destroys the loaded value and caches
 *     nothing; a ghost or a table growth that cannot be allocated is
 *     skipped and the cache stays consistent.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cache/cache.h"

static int destroyed; /* values whose destructor ran */
static int loads;     /* loader calls */

static void count_destroy(void *v) {
  destroyed++;
  free(v);
}

static pb__cache_key key(uint64_t n) {
  pb__cache_key k = {7, 8, n, 3};
  return k;
}

static pb__cache *make(uint64_t max_bytes, uint64_t max_entries,
                       uint32_t shards) {
  pb__cache_opts o;
  pb__cache_opts_init(&o);
  o.max_bytes = max_bytes;
  o.max_entries = max_entries;
  o.shards = shards;
  pb__cache *c = NULL;
  assert_int_equal(pb__cache_create(&o, &c), PB_OK);
  destroyed = loads = 0;
  return c;
}

static void put(pb__cache *c, uint64_t n, uint64_t size) {
  uint64_t *v = malloc(sizeof *v);
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

static pb_cache_stats stats(pb__cache *c) {
  pb_cache_stats s;
  assert_int_equal(pb__cache_stats(c, &s), PB_OK);
  return s;
}

/* Loads key n as a heap copy of n, size 8; key 3 fails with PB_EIO; key 1
 * takes 2 ms. */
static int loader(void *arg, const pb__cache_key *k, pb__cache_item *out) {
  (void)arg;
  loads++;
  if (k->offset == 3) return PB_EIO;
  if (k->offset == 1) {
    struct timespec ts = {0, 2000000};
    nanosleep(&ts, NULL);
  }
  uint64_t *v = malloc(sizeof *v);
  *v = k->offset;
  *out = (pb__cache_item){v, 8, count_destroy};
  return PB_OK;
}

static void test_options_and_einval(void **state) {
  (void)state;
  pb__cache_opts o;
  pb__cache_opts_init(&o);
  assert_int_equal(o.max_bytes, 64u << 20);
  assert_int_equal(o.max_entries, 65536);
  assert_int_equal(o.in_pct, 25);
  assert_int_equal(o.out_pct, 50);
  pb__cache *c = NULL;
  assert_int_equal(pb__cache_create(NULL, &c), PB_OK);
  assert_int_equal(pb__cache_debug_nshards(c), 16);
  pb__cache_destroy(c);
  c = make(1u << 20, 1000, 0); /* automatic: >= 256 entries per shard */
  assert_int_equal(pb__cache_debug_nshards(c), 2);
  pb__cache_destroy(c);
  c = make(1u << 20, 100, 0);
  assert_int_equal(pb__cache_debug_nshards(c), 1);
  pb__cache_destroy(c);

  const pb__cache_opts bad[] = {
      {0, 10, 25, 50, 1, 0, NULL},     {10, 0, 25, 50, 1, 0, NULL},
      {10, 10, 101, 50, 1, 0, NULL},   {10, 10, 25, 401, 1, 0, NULL},
      {10, 10, 25, 50, 3, 0, NULL},    {1000, 1000, 25, 50, 512, 0, NULL},
      {1000, 10, 25, 50, 16, 0, NULL}, {10, 1000, 25, 50, 16, 0, NULL},
  };
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    c = (pb__cache *)&o; /* must be cleared */
    assert_int_equal(pb__cache_create(&bad[i], &c), PB_EINVAL);
    assert_null(c);
  }
  assert_int_equal(pb__cache_create(&o, NULL), PB_EINVAL);

  c = make(100, 10, 1);
  pb__cache_key k = key(1);
  pb__cache_handle *h = NULL;
  pb__cache_item it = {NULL, 1, NULL};
  pb_cache_stats s;
  size_t n;
  assert_int_equal(pb__cache_get(NULL, &k, &h), PB_EINVAL);
  assert_int_equal(pb__cache_get(c, NULL, &h), PB_EINVAL);
  assert_int_equal(pb__cache_get(c, &k, NULL), PB_EINVAL);
  assert_int_equal(pb__cache_put(NULL, &k, &it, NULL), PB_EINVAL);
  assert_int_equal(pb__cache_put(c, NULL, &it, NULL), PB_EINVAL);
  assert_int_equal(pb__cache_put(c, &k, NULL, NULL), PB_EINVAL);
  assert_int_equal(pb__cache_get_or_load(c, &k, NULL, NULL, &h), PB_EINVAL);
  assert_int_equal(pb__cache_get_or_load(c, &k, loader, NULL, NULL),
                   PB_EINVAL);
  assert_int_equal(pb__cache_stats(c, NULL), PB_EINVAL);
  assert_int_equal(pb__cache_stats(NULL, &s), PB_EINVAL);
  assert_int_equal(pb__cache_debug_queue(c, &k, NULL), PB_EINVAL);
  assert_int_equal(pb__cache_debug_keys(c, 1, PB__CACHE_AM, NULL, 0, &n),
                   PB_EINVAL);
  assert_int_equal(pb__cache_debug_keys(c, 0, PB__CACHE_NONE, NULL, 0, &n),
                   PB_EINVAL);
  assert_int_equal(pb__cache_check(NULL), PB_EINVAL);
  assert_int_equal(pb__cache_get(c, &k, &h), PB_ENOTFOUND);
  /* A NULL value with no destructor is a valid item. */
  assert_int_equal(pb__cache_put(c, &k, &it, &h), PB_OK);
  assert_null(pb__cache_value(h));
  assert_int_equal(pb__cache_release(h), PB_OK);
  assert_int_equal(pb__cache_release(NULL), PB_OK);
  assert_null(pb__cache_value(NULL));
  assert_int_equal(pb__cache_size(NULL), 0);
  assert_int_equal(pb__cache_destroy(c), PB_OK);
  assert_int_equal(pb__cache_destroy(NULL), PB_OK);
}

static void test_value_outlives_eviction(void **state) {
  (void)state;
  enum { LEN = 4096 };
  pb__cache *c = make(1u << 20, 8, 1);
  unsigned char *buf = malloc(LEN);
  for (int i = 0; i < LEN; i++) buf[i] = (unsigned char)(i * 7 + 1);
  pb__cache_item it = {buf, LEN, count_destroy};
  pb__cache_key k = key(1000);
  pb__cache_handle *h1 = NULL, *h2 = NULL;
  assert_int_equal(pb__cache_put(c, &k, &it, &h1), PB_OK);
  assert_int_equal(pb__cache_get(c, &k, &h2), PB_OK);
  assert_ptr_equal(h1, h2);
  for (uint64_t n = 0; n < 100; n++) put(c, n, 1); /* evicts 1000 */
  assert_true(where(c, 1000) != PB__CACHE_A1IN &&
              where(c, 1000) != PB__CACHE_AM);
  pb_cache_stats s = stats(c);
  assert_int_equal(s.held_entries, 1);
  assert_int_equal(s.held_bytes, LEN);
  assert_int_equal(destroyed, 92); /* the other evicted values, not ours */
  const unsigned char *v = pb__cache_value(h1);
  for (int i = 0; i < LEN; i++) assert_int_equal(v[i], (unsigned char)(i * 7 + 1));
  pb__cache_release(h1);
  assert_int_equal(destroyed, 92); /* h2 still holds it */
  assert_int_equal(((const unsigned char *)pb__cache_value(h2))[LEN - 1],
                   (unsigned char)((LEN - 1) * 7 + 1));
  pb__cache_release(h2);
  assert_int_equal(destroyed, 93);
  assert_int_equal(stats(c).held_entries, 0);
  assert_int_equal(stats(c).held_bytes, 0);
  /* A resident value's destructor runs when the cache is destroyed. */
  pb__cache_destroy(c);
  assert_int_equal(destroyed, 101);
}

static void test_stats_and_latency(void **state) {
  (void)state;
  pb__cache *c = make(1u << 20, 100, 1);
  pb__cache_handle *h = NULL;
  pb__cache_key k1 = key(1), k2 = key(2), k3 = key(3);
  assert_int_equal(pb__cache_get_or_load(c, &k1, loader, NULL, &h), PB_OK);
  assert_int_equal(*(uint64_t *)pb__cache_value(h), 1);
  pb__cache_release(h);
  assert_int_equal(pb__cache_get_or_load(c, &k2, loader, NULL, &h), PB_OK);
  pb__cache_release(h);
  assert_int_equal(pb__cache_get_or_load(c, &k3, loader, NULL, &h), PB_EIO);
  assert_null(h);
  assert_int_equal(where(c, 3), PB__CACHE_NONE); /* errors are not cached */
  assert_int_equal(pb__cache_get_or_load(c, &k1, loader, NULL, &h), PB_OK);
  pb__cache_release(h);
  assert_int_equal(loads, 3);
  pb_cache_stats s = stats(c);
  assert_int_equal(s.hits, 1);
  assert_int_equal(s.misses, 3);
  assert_true(s.hit_ratio > 0.2499 && s.hit_ratio < 0.2501);
  assert_int_equal(s.loads, 3);
  assert_int_equal(s.load_errors, 1);
  assert_int_equal(s.insertions, 2);
  assert_int_equal(s.entries, 2);
  assert_int_equal(s.bytes, 16);
  assert_int_equal(s.waits, 0);
  assert_true(s.load_ns >= 2000000);
  uint64_t total = 0, slow = 0;
  for (int b = 0; b < PB_CACHE_LATENCY_BUCKETS; b++) {
    total += s.load_latency[b];
    if (b >= 13) slow += s.load_latency[b]; /* 2^20 ns = 1.05 ms and up */
  }
  assert_int_equal(total, 3);
  assert_int_equal(slow, 1);
  /* The next load of the failed key runs the loader again. */
  assert_int_equal(pb__cache_get_or_load(c, &k3, loader, NULL, &h), PB_EIO);
  assert_int_equal(loads, 4);
  pb__cache_destroy(c);
}

static void test_out_of_memory(void **state) {
  (void)state;
  pb__cache_opts o;
  pb__cache_opts_init(&o);
  o.max_entries = 200;
  o.shards = 4;
  pb__cache *c = NULL;
  int failures = 0;
  for (unsigned n = 1;; n++) {
    pb__cache_debug_fail_alloc(n);
    int rc = pb__cache_create(&o, &c);
    if (rc == PB_OK) break;
    assert_int_equal(rc, PB_ENOMEM);
    assert_null(c);
    failures++;
  }
  pb__cache_debug_fail_alloc(0);
  assert_int_equal(failures, 6); /* cache, shards, 4 tables */
  pb__cache_destroy(c);

  c = make(1u << 20, 200, 1);
  pb__cache_key k = key(1);
  pb__cache_handle *h = NULL;
  uint64_t mine = 5;
  pb__cache_item it = {&mine, 8, count_destroy}; /* must not be called */
  pb__cache_debug_fail_alloc(1);
  assert_int_equal(pb__cache_put(c, &k, &it, &h), PB_ENOMEM);
  assert_null(h);
  assert_int_equal(destroyed, 0);
  assert_int_equal(stats(c).insertions, 0);
  /* The flight, then the entry of the loaded value. */
  pb__cache_debug_fail_alloc(1);
  assert_int_equal(pb__cache_get_or_load(c, &k, loader, NULL, &h), PB_ENOMEM);
  assert_int_equal(loads, 0);
  pb__cache_debug_fail_alloc(2);
  assert_int_equal(pb__cache_get_or_load(c, &k, loader, NULL, &h), PB_ENOMEM);
  assert_int_equal(loads, 1);
  assert_int_equal(destroyed, 1);
  assert_int_equal(where(c, 1), PB__CACHE_NONE);
  assert_int_equal(pb__cache_get_or_load(c, &k, loader, NULL, &h), PB_OK);
  pb__cache_release(h);
  pb__cache_destroy(c);

  /* A ghost that cannot be allocated is skipped. */
  c = make(1u << 20, 2, 1);
  put(c, 1, 1);
  put(c, 2, 1);
  pb__cache_debug_fail_alloc(2); /* 1: the entry, 2: the ghost */
  put(c, 3, 1);
  assert_int_equal(where(c, 1), PB__CACHE_NONE);
  put(c, 4, 1); /* and the next one is remembered again */
  assert_int_equal(where(c, 2), PB__CACHE_A1OUT);
  pb__cache_destroy(c);

  /* A table that cannot grow keeps longer chains. */
  c = make(1u << 20, 500, 1);
  for (uint64_t n = 0; n < 64; n++) put(c, n, 1);
  pb__cache_debug_fail_alloc(2); /* 1: the entry, 2: the bigger table */
  put(c, 64, 1);
  for (uint64_t n = 65; n < 300; n++) put(c, n, 1);
  for (uint64_t n = 0; n < 300; n++) assert_int_equal(where(c, n), PB__CACHE_A1IN);
  pb__cache_destroy(c);
  pb__cache_debug_fail_alloc(0);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_options_and_einval),
      cmocka_unit_test(test_value_outlives_eviction),
      cmocka_unit_test(test_stats_and_latency),
      cmocka_unit_test(test_out_of_memory),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
