/*
 * bench_cache.c - the cache engine (runtime/cache/cache.h): hit ratios of
 * 2Q against a plain LRU on a Zipf trace, and the cost of a hit on 1, 2
 * and 8 threads.
 *
 *   bench_cache [--accesses N] [--ops N] [--runs K] [--kin PCT] [--kout PCT]
 *               [--quick]
 *
 * Hit ratio (SPEC section 12: the object cache's target is >= 0.75 at 10%).
 * One trace of 1,000,000 accesses (--accesses) over 100,000 keys, drawn
 * from Zipf(0.99) with a fixed seed (rank r has weight 1/(r+1)^0.99; the
 * ranks are scattered over the key space by a fixed permutation).  Each
 * cache starts empty and runs the whole trace: the warm-up's cold misses
 * count.  Cache sizes are 1%, 5%, 10% and 25% of the key count, in
 * entries, every entry of the same size (64 bytes, byte limit = 64 x the
 * entry limit, so both limits bind at once).  Compared in the same run:
 *
 *   LRU          a plain LRU written here (an array-based list over the
 *                dense key space), the baseline 2Q is meant to beat;
 *   2Q, 1 shard  the engine with one shard: the paper's 2Q exactly;
 *   2Q, default  the engine with its default options (Kin 25%, Kout 50%,
 *                the automatic shard count);
 *   2Q, bytes    the engine as a space makes it: no entry limit, the byte
 *                limit the same entries' charges (64 + the engine's
 *                overhead each), ghosts weighed by bytes, the automatic
 *                shard count: what the database uses.
 *
 * --kin and --kout change Kin and Kout of both 2Q columns (percent of the
 * entry limit), to see how much the paper's defaults matter.
 *
 * Every access is a pb__cache_get_or_load whose loader gives a 64-byte
 * item; the ratio is hits / accesses from the engine's own statistics.
 *
 * Hit latency: a cache of 20,000 entries (default options otherwise, but
 * Kout 200%) holds 10,000 protected keys (in Am, brought there through the
 * ghost list) and about 10,000 on probation (in A1in); the keys to hit are
 * read from the queues themselves (pb__cache_debug_keys).  Each thread runs --ops (default 2,000,000) pb__cache_get +
 * pb__cache_release pairs on random resident keys of one queue, all
 * threads at once after a barrier; ns/op is the wall time divided by the
 * operations of one thread (what a caller waits), Mops/s the total.  The
 * median of --runs (default 5) runs.  8 threads on a 2-core machine are
 * oversubscribed: that row shows lock contention and scheduling, not
 * parallel speed-up.  A last row runs 8 threads on a single shard, to show
 * what sharding buys.
 */
#include <inttypes.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cache/cache.h"

#define NKEYS 100000u
#define ITEM 64u /* bytes per entry */
#define MAXTHREADS 8

static void die(const char *what, int rc) {
  fprintf(stderr, "bench_cache: %s failed: %s\n", what, pb_errname(rc));
  exit(1);
}

static uint64_t now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static uint64_t splitmix(uint64_t *x) {
  uint64_t z = (*x += 0x9e3779b97f4a7c15ull);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

/* The key of key id k: atoms of 64-atom batches. */
static pb__cache_key key_of(uint32_t k) {
  pb__cache_key key = {0x5eed0000u + k / 64, 0xba7c4, (k % 64) * 128u, 0};
  return key;
}

/* --- the trace --- */

static uint32_t *make_trace(size_t n) {
  double *cdf = malloc(NKEYS * sizeof *cdf);
  uint32_t *perm = malloc(NKEYS * sizeof *perm);
  uint32_t *trace = malloc(n * sizeof *trace);
  if (!cdf || !perm || !trace) die("malloc", PB_ENOMEM);
  double sum = 0;
  for (uint32_t r = 0; r < NKEYS; r++) {
    sum += 1.0 / pow((double)(r + 1), 0.99);
    cdf[r] = sum;
  }
  uint64_t seed = 20240601;
  for (uint32_t i = 0; i < NKEYS; i++) perm[i] = i;
  for (uint32_t i = NKEYS - 1; i > 0; i--) { /* Fisher-Yates */
    uint32_t j = (uint32_t)(splitmix(&seed) % (i + 1));
    uint32_t t = perm[i];
    perm[i] = perm[j];
    perm[j] = t;
  }
  for (size_t i = 0; i < n; i++) {
    double u = (double)(splitmix(&seed) >> 11) * 0x1p-53 * sum;
    uint32_t lo = 0, hi = NKEYS - 1; /* first rank with cdf >= u */
    while (lo < hi) {
      uint32_t mid = lo + (hi - lo) / 2;
      if (cdf[mid] >= u) hi = mid;
      else lo = mid + 1;
    }
    trace[i] = perm[lo];
  }
  free(cdf);
  free(perm);
  return trace;
}

/* --- a plain LRU over the dense key space, for comparison --- */

static double lru_hit_ratio(const uint32_t *trace, size_t n, uint32_t cap) {
  enum { NIL = UINT32_MAX };
  uint32_t *prev = malloc(NKEYS * sizeof *prev);
  uint32_t *next = malloc(NKEYS * sizeof *next);
  unsigned char *in = calloc(NKEYS, 1);
  if (!prev || !next || !in) die("malloc", PB_ENOMEM);
  uint32_t head = NIL, tail = NIL, count = 0;
  size_t hits = 0;
  for (size_t i = 0; i < n; i++) {
    uint32_t k = trace[i];
    if (in[k]) { /* unlink, to be pushed at the head */
      hits++;
      if (head == k) continue;
      next[prev[k]] = next[k];
      if (next[k] != NIL) prev[next[k]] = prev[k];
      else tail = prev[k];
    } else {
      if (count == cap) { /* evict the tail */
        uint32_t t = tail;
        tail = prev[t];
        if (tail != NIL) next[tail] = NIL;
        else head = NIL;
        in[t] = 0;
        count--;
      }
      in[k] = 1;
      count++;
    }
    prev[k] = NIL;
    next[k] = head;
    if (head != NIL) prev[head] = k;
    head = k;
    if (tail == NIL) tail = k;
  }
  free(prev);
  free(next);
  free(in);
  return (double)hits / (double)n;
}

/* --- 2Q, the engine --- */

static int load_item(void *arg, const pb__cache_key *k, pb__cache_item *out) {
  (void)arg;
  (void)k;
  *out = (pb__cache_item){NULL, ITEM, NULL};
  return PB_OK;
}

static uint32_t kin_pct = 25, kout_pct = 50; /* --kin, --kout */

/* shards == UINT32_MAX: limited by bytes alone, as a space makes it. */
static pb__cache *make_cache(uint64_t entries, uint32_t shards) {
  pb__cache_opts o;
  pb__cache_opts_init(&o);
  o.in_pct = kin_pct;
  o.out_pct = kout_pct;
  o.max_entries = entries;
  o.max_bytes = entries * ITEM;
  o.shards = shards;
  if (shards == UINT32_MAX) {
    o.max_entries = PB__CACHE_NO_ENTRY_LIMIT;
    o.entry_overhead = PB__CACHE_ENTRY_OVERHEAD;
    o.max_bytes = entries * (ITEM + PB__CACHE_ENTRY_OVERHEAD);
    o.shards = 0;
  }
  pb__cache *c;
  int rc = pb__cache_create(&o, &c);
  if (rc != PB_OK) die("pb__cache_create", rc);
  return c;
}

static double q2_hit_ratio(const uint32_t *trace, size_t n, uint32_t cap,
                           uint32_t shards, unsigned *nshards) {
  pb__cache *c = make_cache(cap, shards);
  *nshards = pb__cache_debug_nshards(c);
  for (size_t i = 0; i < n; i++) {
    pb__cache_key k = key_of(trace[i]);
    pb__cache_handle *h;
    int rc = pb__cache_get_or_load(c, &k, load_item, NULL, &h);
    if (rc != PB_OK) die("pb__cache_get_or_load", rc);
    pb__cache_release(h);
  }
  pb_cache_stats s;
  pb__cache_stats(c, &s);
  if (pb__cache_check(c) != PB_OK) die("pb__cache_check", PB_ECORRUPT);
  pb__cache_destroy(c);
  return (double)s.hits / (double)n;
}

/* --- hit latency --- */

#define HOT 10000u

typedef struct lat_run {
  pb__cache *c;
  const pb__cache_key *keys; /* resident keys to hit */
  uint32_t nkeys;
  long ops; /* per thread */
  pthread_barrier_t *go;
  uint64_t seed;
} lat_run;

static void *lat_thread(void *arg) {
  lat_run *r = arg;
  uint64_t seed = r->seed;
  pthread_barrier_wait(r->go);
  for (long i = 0; i < r->ops; i++) {
    const pb__cache_key *k = &r->keys[splitmix(&seed) % r->nkeys];
    pb__cache_handle *h;
    if (pb__cache_get(r->c, k, &h) != PB_OK) die("a hit", PB_ENOTFOUND);
    pb__cache_release(h);
  }
  return NULL;
}

/* Wall ns of `threads` threads each doing `ops` hits on keys[]. */
static uint64_t time_hits(pb__cache *c, const pb__cache_key *keys,
                          uint32_t nkeys, int threads, long ops) {
  pthread_t th[MAXTHREADS];
  lat_run runs[MAXTHREADS];
  pthread_barrier_t go;
  pthread_barrier_init(&go, NULL, (unsigned)threads + 1);
  for (int i = 0; i < threads; i++) {
    runs[i] = (lat_run){c, keys, nkeys, ops, &go, 77u + (uint64_t)i};
    if (pthread_create(&th[i], NULL, lat_thread, &runs[i]) != 0)
      die("pthread_create", PB_ENOMEM);
  }
  pthread_barrier_wait(&go);
  uint64_t t0 = now_ns();
  for (int i = 0; i < threads; i++) pthread_join(th[i], NULL);
  uint64_t t = now_ns() - t0;
  pthread_barrier_destroy(&go);
  return t;
}

static void put_key(pb__cache *c, uint32_t k) {
  pb__cache_key key = key_of(k);
  pb__cache_item it = {NULL, ITEM, NULL};
  int rc = pb__cache_put(c, &key, &it, NULL);
  if (rc != PB_OK) die("pb__cache_put", rc);
}

/* A cache of 2 x HOT entries: keys 0..HOT-1 put, pushed out to the ghost
 * list by 3 x HOT others, and put again, so they are in Am; the rest of
 * the room is the newest of the others, in A1in. */
static pb__cache *make_warm(uint32_t shards) {
  pb__cache_opts o;
  pb__cache_opts_init(&o);
  o.max_entries = 2 * HOT;
  o.max_bytes = 2 * HOT * ITEM;
  o.out_pct = 200; /* every shard remembers all of its pushed-out keys */
  o.shards = shards;
  pb__cache *c;
  int rc = pb__cache_create(&o, &c);
  if (rc != PB_OK) die("pb__cache_create", rc);
  for (uint32_t k = 0; k < HOT; k++) put_key(c, k);
  for (uint32_t k = HOT; k < 4 * HOT; k++) put_key(c, k);
  for (uint32_t k = 0; k < HOT; k++) put_key(c, k);
  return c;
}

/* The keys now in queue q, from every shard: a malloc'd array. */
static pb__cache_key *queue_keys(pb__cache *c, pb__cache_queue q,
                                 uint32_t *n) {
  pb__cache_key *all = malloc(4 * HOT * sizeof *all);
  if (!all) die("malloc", PB_ENOMEM);
  size_t total = 0;
  for (unsigned s = 0; s < pb__cache_debug_nshards(c); s++) {
    size_t len;
    int rc = pb__cache_debug_keys(c, s, q, all + total, 4 * HOT - total, &len);
    if (rc != PB_OK) die("pb__cache_debug_keys", rc);
    total += len;
  }
  *n = (uint32_t)total;
  return all;
}

static int cmp_u64(const void *a, const void *b) {
  uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
  return x < y ? -1 : x > y;
}

static void latency_row(const char *what, uint32_t shards, pb__cache_queue q,
                        int threads, long ops, int nruns) {
  pb__cache *c = make_warm(shards);
  uint32_t n;
  pb__cache_key *keys = queue_keys(c, q, &n);
  if (q == PB__CACHE_AM && n != HOT) die("warming (Am)", PB_ECORRUPT);
  uint64_t t[101];
  time_hits(c, keys, n, threads, ops / 10 + 1); /* warm-up */
  for (int r = 0; r < nruns; r++) t[r] = time_hits(c, keys, n, threads, ops);
  qsort(t, (size_t)nruns, sizeof t[0], cmp_u64);
  uint64_t med = t[nruns / 2];
  printf("| %-34s | %7d | %6u | %8.1f | %7.2f |\n", what, threads,
         pb__cache_debug_nshards(c), (double)med / (double)ops,
         (double)ops * threads / (double)med * 1e3);
  free(keys);
  pb__cache_destroy(c);
}

int main(int argc, char **argv) {
  size_t accesses = 1000000;
  long ops = 2000000;
  int runs = 5;
  for (int i = 1; i < argc; i++) {
    if (!strcmp(argv[i], "--accesses") && i + 1 < argc)
      accesses = (size_t)atol(argv[++i]);
    else if (!strcmp(argv[i], "--ops") && i + 1 < argc)
      ops = atol(argv[++i]);
    else if (!strcmp(argv[i], "--runs") && i + 1 < argc)
      runs = atoi(argv[++i]);
    else if (!strcmp(argv[i], "--kin") && i + 1 < argc)
      kin_pct = (uint32_t)atoi(argv[++i]);
    else if (!strcmp(argv[i], "--kout") && i + 1 < argc)
      kout_pct = (uint32_t)atoi(argv[++i]);
    else if (!strcmp(argv[i], "--quick"))
      ops = 100000, runs = 1;
    else {
      fprintf(stderr, "usage: bench_cache [--accesses N] [--ops N] "
                      "[--runs K] [--kin PCT] [--kout PCT] [--quick]\n");
      return 2;
    }
  }
  if (runs < 1 || runs > 101 || ops < 1 || accesses < 1) {
    fprintf(stderr, "bench_cache: --runs 1..101, --ops and --accesses > 0\n");
    return 2;
  }

  uint32_t *trace = make_trace(accesses);
  printf("bench_cache: Zipf(0.99) trace, %zu accesses over %u keys, fixed "
         "seed, warm-up counted; entries of %u bytes; 2Q with Kin %u%%, "
         "Kout %u%%\n\n",
         accesses, NKEYS, ITEM, kin_pct, kout_pct);
  printf("| cache size | entries | LRU    | 2Q, 1 shard | 2Q, default (shards) "
         "| 2Q, bytes (shards) | target |\n");
  printf("|------------|---------|--------|-------------|----------------------"
         "|--------------------|--------|\n");
  static const unsigned pct[] = {1, 5, 10, 25};
  for (int i = 0; i < 4; i++) {
    uint32_t cap = NKEYS / 100 * pct[i];
    unsigned one, ns, nb;
    double lru = lru_hit_ratio(trace, accesses, cap);
    double q1 = q2_hit_ratio(trace, accesses, cap, 1, &one);
    double qd = q2_hit_ratio(trace, accesses, cap, 0, &ns);
    double qb = q2_hit_ratio(trace, accesses, cap, UINT32_MAX, &nb);
    char target[16] = "";
    if (pct[i] == 10)
      snprintf(target, sizeof target, ">= 0.75 %s",
               qd >= 0.75 && qb >= 0.75 ? "PASS" : "FAIL");
    printf("| %9u%% | %7u | %.4f | %11.4f | %15.4f (%2u) | %13.4f (%2u) "
           "| %s |\n", pct[i], cap, lru, q1, qd, ns, qb, nb, target);
  }
  free(trace);

  printf("\nhit latency: pb__cache_get + pb__cache_release on resident keys, "
         "%ld ops per thread, median of %d runs\n\n", ops, runs);
  printf("| hits on                            | threads | shards | ns/op    "
         "| Mops/s  |\n");
  printf("|------------------------------------|---------|--------|----------"
         "|---------|\n");
  const int nthreads[] = {1, 2, 8};
  for (int i = 0; i < 3; i++)
    latency_row("Am (protected: moved to MRU)", 0, PB__CACHE_AM,
                nthreads[i], ops, runs);
  for (int i = 0; i < 3; i++)
    latency_row("A1in (probation: nothing moves)", 0, PB__CACHE_A1IN,
                nthreads[i], ops, runs);
  latency_row("Am, one shard (contention)", 1, PB__CACHE_AM, 8, ops, runs);
  return 0;
}
