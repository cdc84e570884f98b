/*
 * cache/cache.h - the cache engine: a generic, thread-safe, sharded 2Q
 * cache of reference-counted values under fixed-size keys, with
 * single-flight loads and statistics (SPEC section 8, issue 6).
 *
 * Its two users (integration comes later, not in this file):
 *
 *   AtomBytesCache   raw atom bytes,   key (batch_hi, batch_lo, offset, 0)
 *   AtomObjectCache  decoded objects,  key (batch_hi, batch_lo, offset,
 *                                           schema_epoch)
 *
 * Atoms are immutable, so an entry never needs invalidation: a key names
 * one value forever.  That is why a put of a key already cached keeps the
 * cached value (see pb__cache_put).
 *
 * Replacement is 2Q as published (Johnson and Shasha, VLDB 1994, the
 * "full version"), per shard:
 *
 *   A1in   FIFO of entries seen once (probation); a hit leaves it in place.
 *   A1out  FIFO of KEYS ONLY (ghosts) of entries pushed out of A1in.
 *   Am     LRU of entries seen again (protected); a hit moves it to the
 *          MRU end.
 *
 *   a new key goes to the head of A1in; a key found in A1out goes to the
 *   head of Am (and leaves A1out).  To make room, the tail of A1in is
 *   evicted (its key becomes a ghost) while A1in holds more than its share
 *   (Kin) or Am is empty; otherwise the tail of Am is evicted (no ghost).
 *   Only what the new entry needs is evicted.
 *
 * docs/cache.md has the design in full: shards, accounting, single-flight,
 * lifetimes, defaults, statistics, and what the tests prove.
 *
 * LIFETIMES.  A handle (pb__cache_handle) is a counted reference to one
 * entry.  The value it gives (pb__cache_value) stays valid, unchanged,
 * until that handle is released, even if the entry is evicted meanwhile:
 * eviction only unlinks an entry, and its destructor runs at the last
 * release.  Every successful get, put (with a handle) and get_or_load gives
 * a new handle, to release exactly once.  All handles must be released
 * before pb__cache_destroy.  Keys are copied; the cache keeps no pointer
 * into what callers pass, except the values it takes over.
 *
 * THREADS.  Every function may be called from any thread at once, except
 * pb__cache_destroy (no other call may be running or follow).  A handle
 * may be released by another thread than the one that got it.  Each shard
 * has one mutex; loaders and destructors run with no cache lock held.
 *
 * Errors: every function returns PB_OK or a negative code, listed on it;
 * PB_EINVAL for a NULL cache, key or out-pointer is implied.  The two
 * accessors of a handle cannot fail and return what they give.
 */
#ifndef PB_CACHE_CACHE_H
#define PB_CACHE_CACHE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "protobase/protobase.h"

/** A key: four words, compared whole.  The bytes cache uses epoch 0. */
typedef struct pb__cache_key {
  uint64_t batch_hi; /* batch id, high 64 bits */
  uint64_t batch_lo; /* batch id, low 64 bits */
  uint64_t offset;   /* atom offset in its batch */
  uint64_t epoch;    /* schema epoch (object cache); 0 in the bytes cache */
} pb__cache_key;

/** The key of the atom at `p`, decoded under schema epoch `epoch`. */
static inline pb__cache_key pb__cache_key_of(pb_atom_ptr p, uint64_t epoch) {
  pb__cache_key k = {p.batch_hi, p.batch_lo, p.offset, epoch};
  return k;
}

/** Frees a value the cache took over; NULL means nothing to free. */
typedef void (*pb__cache_destroy_fn)(void *value);

/** What a loader gives: a value, its size in bytes, its destructor. */
typedef struct pb__cache_item {
  void *value;                  /* may be NULL (then nothing to read) */
  uint64_t size;                /* counted against max_bytes */
  pb__cache_destroy_fn destroy; /* run once, at the last release */
} pb__cache_item;

/**
 * Loads the value of `key` on a miss (pb__cache_get_or_load): fills *out
 * and returns PB_OK, or returns an error (any code; *out is then ignored).
 * Runs with no cache lock held, once per miss however many threads asked.
 * It may call pb__cache_put for any key (its own too: that value is then
 * kept, and the loaded one destroyed), and the other functions for other
 * keys; a pb__cache_get_or_load of its own key deadlocks.
 */
typedef int (*pb__cache_load_fn)(void *arg, const pb__cache_key *key,
                                 pb__cache_item *out);

/** max_entries of a cache limited by bytes alone (no entry limit). */
#define PB__CACHE_NO_ENTRY_LIMIT UINT64_MAX

/** The engine's own memory per resident entry (its entry struct, one hash
 * bucket, a malloc header), for callers that want the byte limit to
 * bound memory: pass it as entry_overhead. */
#define PB__CACHE_ENTRY_OVERHEAD 136u

/** Options.  Fill with pb__cache_opts_init, then change what you need. */
typedef struct pb__cache_opts {
  uint64_t max_bytes;   /* limit on the charges of resident entries: 64 MiB */
  uint64_t max_entries; /* limit on resident entries: 65,536; or
                           PB__CACHE_NO_ENTRY_LIMIT (bytes alone) */
  uint32_t in_pct;      /* Kin: A1in's share of each limit, 0..100: 25 */
  uint32_t out_pct;     /* Kout, 0..400: 50.  Ghosts, percent of
                           max_entries; with no entry limit, percent of
                           max_bytes, each ghost weighing the charge of the
                           entry it stands for */
  uint32_t shards;      /* a power of two up to 256, or 0 (automatic):
                           the most of 1..16 with >= 256 entries each
                           (with no entry limit: >= 256 KiB each) */
  uint32_t entry_overhead; /* bytes charged per resident entry on top of
                              the size given with it: 0.  An entry's
                              CHARGE is size + entry_overhead; the byte
                              limits, Kin and the statistics' bytes
                              count charges */
  /* NULL, or whether `value` was used since the last call WITHOUT a
   * lookup (readers that reach values through pointers between them),
   * clearing that mark: an entry at the tail of Am whose value says so
   * gets a second chance (back to the head, as a hit would move it), so
   * values used only that way are kept by use, as CLOCK keeps pages.
   * Called under a shard lock: it must be quick and take no lock.  NULL
   * by default. */
  bool (*referenced)(void *value);
} pb__cache_opts;

/** Sets `o` to the defaults written on each field. */
void pb__cache_opts_init(pb__cache_opts *o);

typedef struct pb__cache pb__cache;
/** A counted reference to an entry; opaque. */
typedef struct pb__cache_entry pb__cache_handle;

/**
 * Creates a cache.  `opts` may be NULL for the defaults.  The limits are
 * split across the shards (the first shards get the remainders), so each
 * shard enforces its part and the sums never exceed the totals; an entry
 * whose charge is larger than its shard's byte limit is not cached
 * (pb__cache_put).
 * Errors: PB_EINVAL (a zero limit, in_pct > 100, out_pct > 400, shards not
 * a power of two or over 256, more shards than max_entries or
 * max_bytes); PB_ENOMEM.  (An entry_overhead above a shard's bytes is
 * allowed: then no entry is ever cached.)
 */
int pb__cache_create(const pb__cache_opts *opts, pb__cache **out);

/**
 * Destroys the cache and every resident value (their destructors run
 * here).  Every handle must have been released, and no other call may be
 * running.  NULL is a no-op.  Always returns PB_OK.
 */
int pb__cache_destroy(pb__cache *c);

/**
 * Looks `key` up.  On a hit gives a new handle in *out and counts a hit
 * (an Am entry becomes most recently used; an A1in entry stays put).
 * Errors: PB_ENOTFOUND (not resident, or being loaded: a miss is counted;
 * a ghost is left as it is).
 */
int pb__cache_get(pb__cache *c, const pb__cache_key *key,
                  pb__cache_handle **out);

/**
 * Inserts `item` under `key`.  On PB_OK the cache owns item->value from
 * then on, whatever happened to it:
 *   - a new key: the entry goes to A1in (or to Am when the key is a
 *     ghost), after evicting just enough to stay within both limits;
 *   - a key already resident: the cached entry is KEPT (it counts as an
 *     access) and item->value is destroyed at once, so bytes and entries
 *     do not change (keys name immutable atoms: both values are equal);
 *   - an item whose charge (size + entry_overhead) is larger than its
 *     shard's byte limit: not cached; it is
 *     destroyed when its handle is released, or at once without one.
 * `out` may be NULL; otherwise it gets a handle on the entry now cached
 * under `key` (possibly the older one) or on the uncached item.
 * Errors (the value stays the caller's and the cache is unchanged):
 * PB_ENOMEM.
 */
int pb__cache_put(pb__cache *c, const pb__cache_key *key,
                  const pb__cache_item *item, pb__cache_handle **out);

/**
 * Gives a handle on the value of `key`, from the cache or else from
 * load(arg, key, &item), with single-flight: while one caller (the
 * leader) runs the loader, others asking for the same key wait for it
 * (each counted in stats.waits) and get the same result: a handle on the
 * same value, or the loader's error.  A loaded item is inserted as by
 * pb__cache_put (not cached when too large, but still given out).  Errors
 * are never cached: the next miss runs the loader again.  The loader's
 * run time goes to the latency histogram.
 * A leader that leaves the loader without returning (pthread_exit, or a
 * cancellation acted on inside it) ends the flight through a cleanup
 * handler: its waiters get PB_EUNAVAILABLE, nothing is cached, and the
 * next miss loads again.  A waiter cancelled while it waits leaves the
 * flight cleanly.  (A loader that longjmps out is not supported.)
 * Errors: the loader's error code (to the leader and every waiter);
 * PB_EUNAVAILABLE (a waiter whose leader thread exited or was cancelled
 * inside the loader); PB_EINVAL (also a NULL load); PB_ENOMEM (the loaded
 * value is then destroyed, and its waiters get PB_ENOMEM too).
 */
int pb__cache_get_or_load(pb__cache *c, const pb__cache_key *key,
                          pb__cache_load_fn load, void *arg,
                          pb__cache_handle **out);

/**
 * Releases a handle; the value's destructor runs here when the entry is
 * no longer cached and this was its last handle.  NULL is a no-op.  Any
 * thread may release any handle, once.  Always returns PB_OK.
 */
int pb__cache_release(pb__cache_handle *h);

/**
 * Drops the entry of `key` when it is resident, as an eviction would (its
 * handles stay valid until released; no ghost is kept): for an entry its
 * owner knows is dead, such as a node that a commit replaced.  A no-op
 * otherwise, and for NULL arguments.  Cannot fail.
 */
void pb__cache_drop(pb__cache *c, const pb__cache_key *key);

/** The value of a handle: valid, unchanged, until the handle is released.
 * Cannot fail. */
void *pb__cache_value(const pb__cache_handle *h);
/** The size given with the value.  Cannot fail. */
uint64_t pb__cache_size(const pb__cache_handle *h);

/**
 * Copies the statistics into *out (protobase.h, pb_cache_stats).  Shards
 * are read one after another, each under its lock: each shard's figures
 * are consistent, the sum is a snapshot only when no other call runs.
 * Errors: none beyond PB_EINVAL.
 */
int pb__cache_stats(pb__cache *c, pb_cache_stats *out);

/* --- For tests: queue membership, queue order, and an invariant check. */

typedef enum pb__cache_queue {
  PB__CACHE_NONE = 0, /* unknown key */
  PB__CACHE_A1IN = 1, /* resident, probation FIFO */
  PB__CACHE_AM = 2,   /* resident, protected LRU */
  PB__CACHE_A1OUT = 3 /* ghost: key only */
} pb__cache_queue;

/** Where `key` is.  Errors: none beyond PB_EINVAL. */
int pb__cache_debug_queue(pb__cache *c, const pb__cache_key *key,
                          pb__cache_queue *out);

/**
 * Copies the keys of queue `q` of shard `shard`, head first (A1in: newest
 * first; Am: most recently used first; A1out: newest ghost first), at
 * most `cap` of them, into keys[]; *n gets the queue's length.
 * Errors: PB_EINVAL (q is PB__CACHE_NONE, or no such shard).
 */
int pb__cache_debug_keys(pb__cache *c, unsigned shard, pb__cache_queue q,
                         pb__cache_key *keys, size_t cap, size_t *n);

/** The shard that holds `key`, and the number of shards. */
unsigned pb__cache_debug_shard(pb__cache *c, const pb__cache_key *key);
unsigned pb__cache_debug_nshards(pb__cache *c);

/**
 * Checks every invariant of every shard under its lock: list links, the
 * counters against the lists, the hash table against the lists, the
 * limits, the ghost limit.  Errors: PB_ECORRUPT (one fails; a sentence on
 * stderr says which).
 */
int pb__cache_check(pb__cache *c);

/**
 * Makes the n-th allocation from now of any cache fail (1: the next one);
 * 0 turns it off.  Process-wide, for tests of PB_ENOMEM only.
 */
void pb__cache_debug_fail_alloc(unsigned n);

#endif /* PB_CACHE_CACHE_H */
