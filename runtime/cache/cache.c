/*
 * cache/cache.c - the cache as a whole: options, creation and destruction,
 * how a key picks its shard, statistics, and the hooks the tests use.
 *
 * Sharding: a key's XXH3-64 hash picks the shard by its top bits and the
 * bucket in the shard's table by its low bits, so the two choices are
 * independent.  The limits are split across the shards (the remainders go
 * to the first shards), so each shard runs 2Q on its own with its own
 * lock, and the sums of the shards' limits are exactly the cache's.  The
 * price: 2Q's choices are made per shard, and an entry larger than its
 * shard's byte limit is not cached.  The automatic shard count keeps at
 * least 256 entries per shard, so small caches have one shard and behave
 * exactly as the paper's 2Q.
 */
#include <assert.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include <xxhash.h>

#include "cache/cache_int.h"
#include "util/errdetail.h"

#define PB__CACHE_MAX_SHARDS 256u
#define PB__CACHE_AUTO_SHARDS 16u
#define PB__CACHE_MIN_AUTO_ENTRIES 256u /* per shard, automatic count */
#define PB__CACHE_MIN_AUTO_BYTES (256u << 10) /* the same, no entry limit */

/* What PB__CACHE_ENTRY_OVERHEAD stands for: an entry, its share of the
 * hash table (at most one bucket per node), a malloc header. */
_Static_assert(sizeof(struct pb__cache_entry) + sizeof(void *) + 16 <=
                   PB__CACHE_ENTRY_OVERHEAD,
               "PB__CACHE_ENTRY_OVERHEAD is below the engine's own memory");

/* --- allocation failures on demand (tests) --- */

static atomic_uint fail_countdown;

void pb__cache_debug_fail_alloc(unsigned n) {
  atomic_store(&fail_countdown, n);
}

/* True when this allocation is the one to fail. */
static bool fail_now(void) {
  unsigned v = atomic_load_explicit(&fail_countdown, memory_order_relaxed);
  while (v != 0) {
    if (atomic_compare_exchange_weak(&fail_countdown, &v, v - 1))
      return v == 1;
  }
  return false;
}

void *pb__cache_malloc(size_t n) { return fail_now() ? NULL : malloc(n); }

uint64_t pb__cache_hash(const pb__cache_key *k) {
  return XXH3_64bits(k, sizeof *k);
}

/* --- options, create, destroy --- */

void pb__cache_opts_init(pb__cache_opts *o) {
  o->max_bytes = 64u << 20;
  o->max_entries = 65536;
  o->in_pct = 25;
  o->out_pct = 50;
  o->shards = 0;
  o->entry_overhead = 0;
  o->referenced = NULL;
}

static bool is_pow2(uint32_t x) { return x != 0 && (x & (x - 1)) == 0; }

/* Resolves opts->shards; false when the options are invalid. */
static bool resolve_options(pb__cache_opts *o) {
  if (o->max_bytes == 0 || o->max_entries == 0) return false;
  if (o->in_pct > 100 || o->out_pct > 400) return false;
  bool unlimited = o->max_entries == PB__CACHE_NO_ENTRY_LIMIT;
  if (o->shards == 0) {
    uint32_t s = PB__CACHE_AUTO_SHARDS;
    while (s > 1 && (unlimited
                         ? o->max_bytes / s < PB__CACHE_MIN_AUTO_BYTES
                         : (o->max_entries / s < PB__CACHE_MIN_AUTO_ENTRIES ||
                            o->max_bytes < s)))
      s /= 2;
    o->shards = s;
  }
  return is_pow2(o->shards) && o->shards <= PB__CACHE_MAX_SHARDS &&
         o->shards <= o->max_entries && o->shards <= o->max_bytes;
}

int pb__cache_create(const pb__cache_opts *opts, pb__cache **out) {
  if (!out) return PB_EINVAL;
  *out = NULL;
  pb__cache_opts o;
  if (opts) o = *opts;
  else pb__cache_opts_init(&o);
  if (!resolve_options(&o)) return PB_EINVAL;

  pb__cache *c = pb__cache_malloc(sizeof *c);
  if (!c) return PB_ENOMEM;
  memset(c, 0, sizeof *c);
  c->opts = o;
  c->nshards = o.shards;
  unsigned bits = 0;
  while ((1u << bits) < o.shards) bits++;
  c->shard_shift = 64 - bits; /* 64 when one shard: see pb__cache_shard_of */
  atomic_init(&c->held_entries, 0);
  atomic_init(&c->held_bytes, 0);
  /* aligned_alloc: the size is a multiple of the 64-byte alignment. */
  c->shards = fail_now() ? NULL
                         : aligned_alloc(_Alignof(pb__cache_shard),
                                         o.shards * sizeof *c->shards);
  if (!c->shards) {
    free(c);
    return PB_ENOMEM;
  }
  for (unsigned i = 0; i < o.shards; i++) {
    uint64_t b = o.max_bytes / o.shards + (i < o.max_bytes % o.shards);
    uint64_t e = o.max_entries == PB__CACHE_NO_ENTRY_LIMIT
                     ? PB__CACHE_NO_ENTRY_LIMIT
                     : o.max_entries / o.shards + (i < o.max_entries % o.shards);
    int rc = pb__shard_init(&c->shards[i], b, e, &o);
    if (rc != PB_OK) {
      while (i-- > 0) pb__shard_fini(&c->shards[i]); /* all empty */
      free(c->shards);
      free(c);
      return rc;
    }
  }
  *out = c;
  return PB_OK;
}

int pb__cache_destroy(pb__cache *c) {
  if (!c) return PB_OK;
  for (unsigned i = 0; i < c->nshards; i++) {
    pb__cache_shard *sh = &c->shards[i];
    assert(sh->flights == NULL); /* no call may be running */
    pb__cache_node *dead = pb__shard_fini(sh);
    for (pb__cache_node *n = dead; n; n = n->hnext) {
      struct pb__cache_entry *e = (struct pb__cache_entry *)n;
      atomic_fetch_add_explicit(&c->held_entries, 1, memory_order_relaxed);
      atomic_fetch_add_explicit(&c->held_bytes, e->size,
                                memory_order_relaxed);
    }
    pb__cache_drop_list(dead);
  }
  /* Every handle had to be released: nothing may be held now. */
  assert(atomic_load(&c->held_entries) == 0);
  free(c->shards);
  free(c);
  return PB_OK;
}

/* --- statistics --- */

int pb__cache_stats(pb__cache *c, pb_cache_stats *out) {
  if (!c || !out) return PB_EINVAL;
  memset(out, 0, sizeof *out);
  for (unsigned i = 0; i < c->nshards; i++) {
    pb__cache_shard *sh = &c->shards[i];
    pthread_mutex_lock(&sh->mu);
    const pb__cache_counters *n = &sh->n;
    out->hits += n->hits;
    out->misses += n->misses;
    out->insertions += n->insertions;
    out->evictions += n->evictions;
    out->ghost_hits += n->ghost_hits;
    out->rejected += n->rejected;
    out->waits += n->waits;
    out->loads += n->loads;
    out->load_errors += n->load_errors;
    out->load_ns += n->load_ns;
    for (int b = 0; b < PB_CACHE_LATENCY_BUCKETS; b++)
      out->load_latency[b] += n->latency[b];
    out->bytes += sh->a1in.bytes + sh->am.bytes;
    out->a1in_entries += sh->a1in.count;
    out->am_entries += sh->am.count;
    out->ghosts += sh->a1out.count;
    pthread_mutex_unlock(&sh->mu);
  }
  out->entries = out->a1in_entries + out->am_entries;
  out->max_bytes = c->opts.max_bytes;
  out->max_entries = c->opts.max_entries == PB__CACHE_NO_ENTRY_LIMIT
                         ? 0 /* none */
                         : c->opts.max_entries;
  out->held_entries = atomic_load_explicit(&c->held_entries,
                                           memory_order_relaxed);
  out->held_bytes = atomic_load_explicit(&c->held_bytes,
                                         memory_order_relaxed);
  uint64_t lookups = out->hits + out->misses;
  out->hit_ratio = lookups ? (double)out->hits / (double)lookups : 0.0;
  return PB_OK;
}

/* --- hooks for the tests --- */

int pb__cache_debug_queue(pb__cache *c, const pb__cache_key *key,
                          pb__cache_queue *out) {
  if (!c || !key || !out) return PB_EINVAL;
  uint64_t h = pb__cache_hash(key);
  pb__cache_shard *sh = pb__cache_shard_of(c, h);
  pthread_mutex_lock(&sh->mu);
  pb__cache_node *n = pb__shard_find(sh, key, h);
  *out = n ? (pb__cache_queue)n->queue : PB__CACHE_NONE;
  pthread_mutex_unlock(&sh->mu);
  return PB_OK;
}

int pb__cache_debug_keys(pb__cache *c, unsigned shard, pb__cache_queue q,
                         pb__cache_key *keys, size_t cap, size_t *n) {
  if (!c || !n || (cap > 0 && !keys) || shard >= c->nshards ||
      q == PB__CACHE_NONE)
    return PB_EINVAL;
  pb__cache_shard *sh = &c->shards[shard];
  pthread_mutex_lock(&sh->mu);
  pb__cache_list *l = pb__shard_list(sh, q);
  if (!l) {
    pthread_mutex_unlock(&sh->mu);
    return PB_EINVAL;
  }
  size_t i = 0;
  for (pb__cache_node *nd = l->head; nd && i < cap; nd = nd->next)
    keys[i++] = nd->key;
  *n = (size_t)l->count;
  pthread_mutex_unlock(&sh->mu);
  return PB_OK;
}

unsigned pb__cache_debug_shard(pb__cache *c, const pb__cache_key *key) {
  return (unsigned)(pb__cache_shard_of(c, pb__cache_hash(key)) - c->shards);
}

unsigned pb__cache_debug_nshards(pb__cache *c) { return c->nshards; }

int pb__cache_check(pb__cache *c) {
  if (!c) return PB_EINVAL;
  uint64_t bytes = 0, entries = 0;
  for (unsigned i = 0; i < c->nshards; i++) {
    pb__cache_shard *sh = &c->shards[i];
    pthread_mutex_lock(&sh->mu);
    int rc = pb__shard_check(sh, c, i);
    bytes += sh->a1in.bytes + sh->am.bytes;
    entries += sh->a1in.count + sh->am.count;
    pthread_mutex_unlock(&sh->mu);
    if (rc != PB_OK) return rc;
  }
  if (bytes > c->opts.max_bytes || entries > c->opts.max_entries)
    /* cannot happen: the shards' limits sum up */
    return PB__CORRUPT("cache holds more than its limits");
  return PB_OK;
}
