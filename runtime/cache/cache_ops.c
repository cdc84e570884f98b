/*
 * cache/cache_ops.c - what callers do with the cache: get, put,
 * get-or-load with single-flight, and release (cache.h).
 *
 * Single-flight.  A shard keeps a short list of the loads in progress
 * (pb__cache_flight).  The first caller to miss a key (the LEADER) adds a
 * flight for it and runs the loader with no lock held.  A caller that
 * misses the same key meanwhile finds the flight, counts itself in
 * flight->waiters (and in the shard's waits) and sleeps on flight->cv,
 * under the shard's mutex.  When the loader returns, the leader takes the
 * lock, inserts the value, removes the flight from the list (later
 * callers find the entry, or miss anew), and publishes the outcome in it:
 * the error code, or the entry with one reference already added for each
 * waiter, so no waiter can find its entry freed.  Each waiter leaves the
 * flight once; the last one to leave frees it (the leader, when nobody
 * waited).  An error is published the same way and never cached.
 *
 * Allocation happens outside the shard lock, except a flight (a miss) and
 * what cache_shard.c does on its own (best effort).
 */
#include <assert.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cache/cache_int.h"

static uint64_t now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* The histogram bucket of a load time (protobase.h, pb_cache_stats). */
static unsigned latency_bucket(uint64_t ns) {
  unsigned b = 0;
  while (b < PB_CACHE_LATENCY_BUCKETS - 1 && ns >= ((uint64_t)256 << b)) b++;
  return b;
}

/* A new entry for `item` under `key`, with no reference yet; NULL when out
 * of memory. */
static struct pb__cache_entry *entry_new(pb__cache *c,
                                         const pb__cache_key *key,
                                         uint64_t hash,
                                         const pb__cache_item *item) {
  struct pb__cache_entry *e = pb__cache_malloc(sizeof *e);
  if (!e) return NULL;
  memset(&e->node, 0, sizeof e->node);
  e->node.key = *key;
  e->node.hash = hash;
  atomic_init(&e->refs, 0);
  e->value = item->value;
  e->size = item->size;
  e->destroy = item->destroy;
  e->owner = c;
  return e;
}

/* Frees an entry that was never shared, and its value. */
static void entry_discard(struct pb__cache_entry *e) {
  if (e->destroy) e->destroy(e->value);
  free(e);
}

void pb__cache_entry_unref(struct pb__cache_entry *e) {
  /* acq_rel: every use of the entry by other holders happens before the
   * destructor, which runs in the thread that drops the last reference. */
  if (atomic_fetch_sub_explicit(&e->refs, 1, memory_order_acq_rel) != 1)
    return;
  pb__cache *c = e->owner;
  atomic_fetch_sub_explicit(&c->held_entries, 1, memory_order_relaxed);
  atomic_fetch_sub_explicit(&c->held_bytes, e->size, memory_order_relaxed);
  entry_discard(e);
}

void pb__cache_drop_list(pb__cache_node *dead) {
  while (dead) {
    pb__cache_node *next = dead->hnext; /* before it may be freed */
    pb__cache_entry_unref((struct pb__cache_entry *)dead);
    dead = next;
  }
}

/* A hit on node n (resident) of shard sh: a new handle. */
static struct pb__cache_entry *hit(pb__cache_shard *sh, pb__cache_node *n) {
  struct pb__cache_entry *e = (struct pb__cache_entry *)n;
  /* Relaxed is enough: the cache's own reference keeps it above zero. */
  atomic_fetch_add_explicit(&e->refs, 1, memory_order_relaxed);
  pb__shard_touch(sh, e);
  sh->n.hits++;
  return e;
}

static bool resident(const pb__cache_node *n) {
  return n && (n->queue == PB__CACHE_A1IN || n->queue == PB__CACHE_AM);
}

int pb__cache_get(pb__cache *c, const pb__cache_key *key,
                  pb__cache_handle **out) {
  if (!c || !key || !out) return PB_EINVAL;
  *out = NULL;
  uint64_t h = pb__cache_hash(key);
  pb__cache_shard *sh = pb__cache_shard_of(c, h);
  pthread_mutex_lock(&sh->mu);
  pb__cache_node *n = pb__shard_find(sh, key, h);
  if (resident(n)) *out = hit(sh, n);
  else sh->n.misses++;
  pthread_mutex_unlock(&sh->mu);
  return *out ? PB_OK : PB_ENOTFOUND;
}

int pb__cache_put(pb__cache *c, const pb__cache_key *key,
                  const pb__cache_item *item, pb__cache_handle **out) {
  if (!c || !key || !item) return PB_EINVAL;
  if (out) *out = NULL;
  uint64_t h = pb__cache_hash(key);
  struct pb__cache_entry *e = entry_new(c, key, h, item);
  if (!e) return PB_ENOMEM; /* the value is still the caller's */
  pb__cache_shard *sh = pb__cache_shard_of(c, h);
  pb__cache_node *dead = NULL;
  pthread_mutex_lock(&sh->mu);
  struct pb__cache_entry *r = pb__shard_insert(sh, e, out ? 1 : 0, &dead);
  /* Decided under the lock: once it is released, e may be evicted. */
  bool unused = r != e || (!out && e->node.queue == PB__CACHE_NONE);
  pthread_mutex_unlock(&sh->mu);
  pb__cache_drop_list(dead);
  if (unused) entry_discard(e); /* kept the older value, or not cached */
  if (out) *out = r;
  return PB_OK;
}

void pb__cache_drop(pb__cache *c, const pb__cache_key *key) {
  if (!c || !key) return;
  uint64_t h = pb__cache_hash(key);
  pb__cache_shard *sh = pb__cache_shard_of(c, h);
  pb__cache_node *dead = NULL;
  pthread_mutex_lock(&sh->mu);
  pb__cache_node *n = pb__shard_find(sh, key, h);
  if (resident(n)) pb__shard_remove(sh, n, &dead);
  pthread_mutex_unlock(&sh->mu);
  pb__cache_drop_list(dead);
}

/* Waits for the load of flight f (shard lock held; released on return). */
/* A waiter cancelled inside pthread_cond_wait (which then holds the
 * lock again): it stops waiting, and frees the flight if it was the last
 * one to, so neither the shard lock nor the flight is left behind. */
static void waiter_cancelled(void *p) {
  pb__cache_flight_ctx *a = p;
  pb__cache_flight *f = a->f;
  struct pb__cache_entry *mine = f->done ? f->result : NULL;
  bool last = --f->waiters == 0 && f->done;
  pthread_mutex_unlock(&a->sh->mu);
  if (mine) pb__cache_entry_unref(mine); /* the reference kept for it */
  if (last) {
    pthread_cond_destroy(&f->cv);
    free(f);
  }
}

static int wait_for(pb__cache_shard *sh, pb__cache_flight *f,
                    pb__cache_handle **out) {
  sh->n.waits++;
  f->waiters++;
  pb__cache_flight_ctx ctx = {sh, f};
  pthread_cleanup_push(waiter_cancelled, &ctx);
  while (!f->done) pthread_cond_wait(&f->cv, &sh->mu);
  pthread_cleanup_pop(0);
  int rc = f->rc;
  struct pb__cache_entry *r = f->result; /* our reference is counted */
  bool last = --f->waiters == 0;
  pthread_mutex_unlock(&sh->mu);
  if (last) {
    pthread_cond_destroy(&f->cv);
    free(f);
  }
  if (rc == PB_OK) *out = r;
  return rc;
}

static void flight_unlink(pb__cache_shard *sh, pb__cache_flight *f) {
  pb__cache_flight **p = &sh->flights;
  while (*p != f) p = &(*p)->next;
  *p = f->next;
}

/* The leader left its loader without returning (pthread_exit, or a
 * cancellation): the flight ends with PB_EUNAVAILABLE for its waiters,
 * who would otherwise wait forever; nothing is cached, and the next miss
 * loads again. */
static void leader_gone(void *p) {
  pb__cache_flight_ctx *a = p;
  pb__cache_flight *f = a->f;
  pthread_mutex_lock(&a->sh->mu);
  a->sh->n.loads++;
  a->sh->n.load_errors++;
  flight_unlink(a->sh, f);
  f->done = true;
  f->rc = PB_EUNAVAILABLE;
  f->result = NULL;
  bool nobody_waits = f->waiters == 0;
  if (!nobody_waits) pthread_cond_broadcast(&f->cv);
  pthread_mutex_unlock(&a->sh->mu);
  if (nobody_waits) {
    pthread_cond_destroy(&f->cv);
    free(f);
  }
}

int pb__cache_get_or_load(pb__cache *c, const pb__cache_key *key,
                          pb__cache_load_fn load, void *arg,
                          pb__cache_handle **out) {
  if (!c || !key || !load || !out) return PB_EINVAL;
  *out = NULL;
  uint64_t h = pb__cache_hash(key);
  pb__cache_shard *sh = pb__cache_shard_of(c, h);
  pthread_mutex_lock(&sh->mu);
  pb__cache_node *n = pb__shard_find(sh, key, h);
  if (resident(n)) {
    *out = hit(sh, n);
    pthread_mutex_unlock(&sh->mu);
    return PB_OK;
  }
  sh->n.misses++;
  for (pb__cache_flight *f = sh->flights; f; f = f->next)
    if (f->hash == h && pb__cache_key_eq(&f->key, key))
      return wait_for(sh, f, out);

  /* The leader. */
  pb__cache_flight *f = pb__cache_malloc(sizeof *f);
  if (!f || pthread_cond_init(&f->cv, NULL) != 0) {
    pthread_mutex_unlock(&sh->mu);
    free(f);
    return PB_ENOMEM;
  }
  f->key = *key;
  f->hash = h;
  f->waiters = 0;
  f->done = false;
  f->rc = PB_OK;
  f->result = NULL;
  f->next = sh->flights;
  sh->flights = f;
  pthread_mutex_unlock(&sh->mu);

  pb__cache_item item = {NULL, 0, NULL};
  uint64_t t0 = now_ns();
  int load_rc;
  pb__cache_flight_ctx ctx = {sh, f};
  pthread_cleanup_push(leader_gone, &ctx);
  load_rc = load(arg, key, &item);
  pthread_cleanup_pop(0);
  uint64_t ns = now_ns() - t0;
  int rc = load_rc;
  struct pb__cache_entry *e = NULL;
  if (rc == PB_OK) {
    e = entry_new(c, key, h, &item);
    if (!e) {
      rc = PB_ENOMEM;
      if (item.destroy) item.destroy(item.value);
    }
  }

  pb__cache_node *dead = NULL;
  struct pb__cache_entry *r = NULL;
  pthread_mutex_lock(&sh->mu);
  sh->n.loads++;
  sh->n.load_ns += ns;
  sh->n.latency[latency_bucket(ns)]++;
  if (load_rc != PB_OK) sh->n.load_errors++;
  flight_unlink(sh, f);
  if (e) r = pb__shard_insert(sh, e, 1 + (size_t)f->waiters, &dead);
  f->done = true;
  f->rc = rc;
  f->result = r;
  bool nobody_waits = f->waiters == 0;
  if (!nobody_waits) pthread_cond_broadcast(&f->cv); /* f is theirs now */
  pthread_mutex_unlock(&sh->mu);

  if (nobody_waits) {
    pthread_cond_destroy(&f->cv);
    free(f);
  }
  pb__cache_drop_list(dead);
  if (e && r != e) entry_discard(e); /* a put won the race: keep its value */
  if (rc == PB_OK) *out = r;
  return rc;
}

int pb__cache_release(pb__cache_handle *h) {
  if (h) pb__cache_entry_unref(h);
  return PB_OK;
}

void *pb__cache_value(const pb__cache_handle *h) { return h ? h->value : NULL; }

uint64_t pb__cache_size(const pb__cache_handle *h) { return h ? h->size : 0; }
