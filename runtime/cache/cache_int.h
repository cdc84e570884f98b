/*
 * cache/cache_int.h - the insides of the cache engine, shared by its three
 * files: cache.c (create, destroy, statistics, checks), cache_shard.c (one
 * shard: hash table and the three 2Q queues) and cache_ops.c (get, put,
 * get-or-load with single-flight, release).
 *
 * A shard is a mutex, a chained hash table and three queues.  Each queue
 * is a doubly linked list of NODES, head = newest (A1in, A1out) or most
 * recently used (Am), evicted from the tail.  A node is a key, its hash,
 * its hash-chain link and its queue links: a ghost (A1out) is a bare node,
 * a resident entry (A1in, Am) embeds one as its first member, so one table
 * finds both and a key is never in two queues at once.
 *
 * Reference counts.  entry->refs counts the cache's own reference (held
 * while the entry is linked into its shard) plus one per handle.  Only
 * the shard lock adds references, and only to linked entries or to an
 * entry the caller just made; so a count that falls to zero can never
 * rise again, and the thread that takes it to zero destroys the value and
 * frees the entry, with no lock (pb__cache_entry_unref).  Eviction drops
 * the cache's reference AFTER the shard lock is released, so destructors
 * never run under a cache lock.
 *
 * Held-after-eviction accounting: c->held_entries and c->held_bytes count
 * entries that are no longer linked and not yet freed.  They are raised
 * (relaxed atomics) when an entry is unlinked, before its reference is
 * dropped, and lowered by whoever frees it; so they never go below zero.
 */
#ifndef PB_CACHE_CACHE_INT_H
#define PB_CACHE_CACHE_INT_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "cache/cache.h"

/** A key in a shard's table and queues (a ghost is just this). */
typedef struct pb__cache_node {
  pb__cache_key key;            /* the key, compared whole */
  uint64_t hash;                /* XXH3 of the key: shard and bucket */
  struct pb__cache_node *hnext; /* next in the bucket; once unlinked, the
                                   next in a list of entries to drop */
  struct pb__cache_node *prev;  /* towards the head of its queue */
  struct pb__cache_node *next;  /* towards the tail of its queue */
  uint8_t queue;                /* pb__cache_queue it is in, or NONE */
  uint32_t weight;              /* a ghost's weight: its entry's charge,
                                   saturated at UINT32_MAX (0 otherwise) */
} pb__cache_node;

/** A value with its key: what a handle points to. */
struct pb__cache_entry {
  pb__cache_node node;          /* first: a resident node is an entry */
  atomic_size_t refs;           /* the cache's reference + handles */
  void *value;                  /* the value, owned */
  uint64_t size;                /* its size, counted in the limits */
  pb__cache_destroy_fn destroy; /* frees value; NULL: nothing to do */
  pb__cache *owner;             /* for the held counters at the end */
};

/** One queue: a doubly linked list with its totals. */
typedef struct pb__cache_list {
  pb__cache_node *head; /* newest or most recently used; NULL if empty */
  pb__cache_node *tail; /* next to evict; NULL if empty */
  uint64_t count;       /* nodes */
  uint64_t bytes;       /* sum of entry charges (A1out: of the charges
                           of the entries its ghosts stand for) */
} pb__cache_list;

/** A load in progress (single-flight); lives in its shard's list. */
typedef struct pb__cache_flight {
  pb__cache_key key;              /* the key being loaded */
  uint64_t hash;                  /* its hash */
  struct pb__cache_flight *next;  /* next load in progress in the shard */
  pthread_cond_t cv;              /* signalled once, when done */
  unsigned waiters;               /* callers waiting; each leaves once */
  bool done;                      /* the leader has published rc/result */
  int rc;                         /* the outcome, for every waiter */
  struct pb__cache_entry *result; /* on PB_OK: holds a ref per waiter */
} pb__cache_flight;

/** What the cancellation handlers of a flight need (cache_ops.c). */
typedef struct pb__cache_flight_ctx {
  struct pb__cache_shard *sh;
  pb__cache_flight *f;
} pb__cache_flight_ctx;

/** Counters of a shard, changed under its lock (pb_cache_stats). */
typedef struct pb__cache_counters {
  uint64_t hits, misses, insertions, evictions, ghost_hits, rejected;
  uint64_t waits, loads, load_errors, load_ns;
  uint64_t latency[PB_CACHE_LATENCY_BUCKETS];
} pb__cache_counters;

/** One shard.  Aligned to a cache line, so locks do not share lines. */
typedef struct pb__cache_shard {
  _Alignas(64) pthread_mutex_t mu; /* guards everything below */
  pb__cache_node **table;          /* buckets; cap is a power of two */
  uint64_t mask;                   /* cap - 1 */
  uint64_t nodes;                  /* nodes in the table (all queues) */
  pb__cache_list a1in;             /* probation FIFO */
  pb__cache_list am;               /* protected LRU */
  pb__cache_list a1out;            /* ghost FIFO, keys only */
  uint64_t max_bytes;              /* this shard's part of the limits */
  uint64_t max_entries;
  uint64_t kin_bytes;              /* A1in's share: evict from it first */
  uint64_t kin_entries;            /*   when it holds more than either */
  uint64_t kout;                   /* most ghosts */
  uint64_t kout_bytes;             /* most weight of ghosts (a ghost
                                      weighs its entry's charge) */
  uint64_t overhead;               /* charged per entry on top of size */
  bool (*referenced)(void *value); /* pb__cache_opts.referenced */
  pb__cache_flight *flights;       /* loads in progress */
  pb__cache_counters n;            /* statistics */
} pb__cache_shard;

struct pb__cache {
  pb__cache_shard *shards;    /* nshards of them */
  unsigned nshards;           /* a power of two */
  unsigned shard_shift;       /* shard = hash >> shard_shift (64: one) */
  pb__cache_opts opts;        /* as given, shards resolved */
  atomic_uint_fast64_t held_entries; /* unlinked, not yet freed */
  atomic_uint_fast64_t held_bytes;   /* their sizes */
};

/** True when two keys are the same key. */
static inline bool pb__cache_key_eq(const pb__cache_key *a,
                                    const pb__cache_key *b) {
  return a->batch_hi == b->batch_hi && a->batch_lo == b->batch_lo &&
         a->offset == b->offset && a->epoch == b->epoch;
}

/* cache.c */
/** malloc, failing on demand (pb__cache_debug_fail_alloc). */
void *pb__cache_malloc(size_t n);
/** The hash of a key (XXH3-64 of its 32 bytes). */
uint64_t pb__cache_hash(const pb__cache_key *k);
/** The shard of a hash. */
static inline pb__cache_shard *pb__cache_shard_of(pb__cache *c,
                                                  uint64_t hash) {
  return &c->shards[c->shard_shift >= 64 ? 0 : hash >> c->shard_shift];
}

/* cache_shard.c: every function needs the shard lock held. */
/** Sets up an empty shard with its limits (`o` gives Kin, Kout, the
 * overhead and whether entries are limited).  Errors: PB_ENOMEM. */
int pb__shard_init(pb__cache_shard *sh, uint64_t max_bytes,
                   uint64_t max_entries, const pb__cache_opts *o);
/** What an entry counts against the byte limits: size + overhead. */
static inline uint64_t pb__shard_charge(const pb__cache_shard *sh,
                                        uint64_t size) {
  return size > UINT64_MAX - sh->overhead ? UINT64_MAX : size + sh->overhead;
}
/** Frees the table and the ghosts; gives the resident entries, unlinked,
 * as a list through node.hnext (the caller drops them). */
pb__cache_node *pb__shard_fini(pb__cache_shard *sh);
/** The node of `key` (resident or ghost), or NULL. */
pb__cache_node *pb__shard_find(pb__cache_shard *sh, const pb__cache_key *key,
                               uint64_t hash);
/** A hit on a resident entry: to the MRU end of Am; A1in stays put. */
void pb__shard_touch(pb__cache_shard *sh, struct pb__cache_entry *e);
/**
 * Caches the new entry `e` (refs 0, node.key and node.hash set) and gives
 * it `nrefs` references for handles, or, when its key is already
 * resident, gives those references to the resident entry instead, and
 * returns that one (the caller discards `e`).  An entry over the shard's
 * byte limit is not linked (counted as rejected) and gets just `nrefs`.
 * Evicted entries are pushed on *dead (through node.hnext), to drop with
 * pb__cache_drop_list once the lock is released.  Cannot fail.
 */
struct pb__cache_entry *pb__shard_insert(pb__cache_shard *sh,
                                         struct pb__cache_entry *e,
                                         size_t nrefs, pb__cache_node **dead);
/** Unlinks the resident entry of node n (no ghost kept) onto *dead, to
 * drop with pb__cache_drop_list once the lock is released. */
void pb__shard_remove(pb__cache_shard *sh, pb__cache_node *n,
                      pb__cache_node **dead);
/** Checks the shard's invariants; PB_ECORRUPT with a line on stderr. */
int pb__shard_check(pb__cache_shard *sh, pb__cache *c, unsigned index);
/** The list of queue q. */
pb__cache_list *pb__shard_list(pb__cache_shard *sh, pb__cache_queue q);

/* cache_ops.c */
/** Drops one reference; the last one destroys the value and frees. */
void pb__cache_entry_unref(struct pb__cache_entry *e);
/** Drops the cache's reference of each entry of a list (node.hnext). */
void pb__cache_drop_list(pb__cache_node *dead);

#endif /* PB_CACHE_CACHE_INT_H */
