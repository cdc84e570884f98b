/*
 * cache/cache_shard.c - one shard of the cache: a chained hash table over
 * the nodes of its three 2Q queues, and the 2Q rules (cache.h, Johnson and
 * Shasha 1994, "full version"):
 *
 *   insert(X):  X a ghost (in A1out) -> remove the ghost, X to Am's head
 *               X unknown             -> X to A1in's head
 *               after reclaiming just the room X needs, in both limits.
 *   reclaim:    while X does not fit: if A1in is over its share (more
 *               than kin_bytes or more than kin_entries) or Am is empty,
 *               evict A1in's tail and remember its key at A1out's head
 *               (dropping A1out's tail beyond kout ghosts); otherwise
 *               evict Am's tail, remembering nothing.
 *   touch(X):   X in Am -> to Am's head; X in A1in -> nothing (the paper:
 *               a second access soon after the first says nothing).
 *   With a `referenced` hook (values reached through pointers, not
 *   lookups): Am's tail, if used since, goes back to Am's head (a second
 *   chance, as CLOCK gives); A1in's tail, if used since it came in, goes to
 *   Am's head instead of out (the re-reference a ghost would wait for).
 *
 * Sizes are CHARGES: the size given plus the shard's overhead.  With no
 * entry limit, A1out is bounded by weight (each ghost weighs the charge of
 * its entry, up to kout_bytes in all) rather than by count.
 *
 * Every function here runs under the shard's mutex.  Nothing here fails:
 * growing the table and making a ghost are best effort (a failed malloc
 * leaves longer chains, or one ghost fewer), so eviction cannot fail.
 */
#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cache/cache_int.h"
#include "util/errdetail.h"

#define PB__TABLE_MIN 64u /* initial buckets */

static struct pb__cache_entry *as_entry(pb__cache_node *n) {
  assert(n->queue == PB__CACHE_A1IN || n->queue == PB__CACHE_AM);
  return (struct pb__cache_entry *)n; /* node is the first member */
}

pb__cache_list *pb__shard_list(pb__cache_shard *sh, pb__cache_queue q) {
  switch (q) {
  case PB__CACHE_A1IN: return &sh->a1in;
  case PB__CACHE_AM: return &sh->am;
  case PB__CACHE_A1OUT: return &sh->a1out;
  default: return NULL;
  }
}

/* --- queues --- */

static void list_push_head(pb__cache_shard *sh, pb__cache_queue q,
                           pb__cache_node *n, uint64_t size) {
  pb__cache_list *l = pb__shard_list(sh, q);
  n->queue = (uint8_t)q;
  n->prev = NULL;
  n->next = l->head;
  if (l->head) l->head->prev = n;
  else l->tail = n;
  l->head = n;
  l->count++;
  l->bytes += size;
}

static void list_unlink(pb__cache_shard *sh, pb__cache_node *n,
                        uint64_t size) {
  pb__cache_list *l = pb__shard_list(sh, (pb__cache_queue)n->queue);
  assert(l && l->count > 0 && l->bytes >= size);
  if (n->prev) n->prev->next = n->next;
  else l->head = n->next;
  if (n->next) n->next->prev = n->prev;
  else l->tail = n->prev;
  l->count--;
  l->bytes -= size;
  n->prev = n->next = NULL;
  n->queue = PB__CACHE_NONE;
}

/* --- hash table --- */

static void table_grow(pb__cache_shard *sh) {
  uint64_t cap = (sh->mask + 1) * 2;
  pb__cache_node **t = pb__cache_malloc(cap * sizeof *t);
  if (!t) return; /* best effort: chains get longer, nothing breaks */
  memset(t, 0, cap * sizeof *t);
  for (uint64_t i = 0; i <= sh->mask; i++) {
    pb__cache_node *n = sh->table[i];
    while (n) {
      pb__cache_node *next = n->hnext;
      n->hnext = t[n->hash & (cap - 1)];
      t[n->hash & (cap - 1)] = n;
      n = next;
    }
  }
  free(sh->table);
  sh->table = t;
  sh->mask = cap - 1;
}

static void table_add(pb__cache_shard *sh, pb__cache_node *n) {
  if (sh->nodes >= sh->mask + 1) table_grow(sh); /* load factor <= 1 */
  pb__cache_node **b = &sh->table[n->hash & sh->mask];
  n->hnext = *b;
  *b = n;
  sh->nodes++;
}

static void table_remove(pb__cache_shard *sh, pb__cache_node *n) {
  pb__cache_node **p = &sh->table[n->hash & sh->mask];
  while (*p != n) {
    assert(*p); /* cannot happen: every queued node is in the table */
    p = &(*p)->hnext;
  }
  *p = n->hnext;
  n->hnext = NULL;
  sh->nodes--;
}

pb__cache_node *pb__shard_find(pb__cache_shard *sh, const pb__cache_key *key,
                               uint64_t hash) {
  for (pb__cache_node *n = sh->table[hash & sh->mask]; n; n = n->hnext)
    if (n->hash == hash && pb__cache_key_eq(&n->key, key)) return n;
  return NULL;
}

/* --- 2Q --- */

/* pct percent of x, without overflow: limits can be near UINT64_MAX. */
static uint64_t share(uint64_t x, uint32_t pct) {
  if (pct > 0 && x / 100 > UINT64_MAX / 2 / pct)
    return UINT64_MAX / 2; /* saturate: as good as no limit */
  return x / 100 * pct + x % 100 * pct / 100;
}

int pb__shard_init(pb__cache_shard *sh, uint64_t max_bytes,
                   uint64_t max_entries, const pb__cache_opts *o) {
  memset(sh, 0, sizeof *sh);
  sh->table = pb__cache_malloc(PB__TABLE_MIN * sizeof *sh->table);
  if (!sh->table) return PB_ENOMEM;
  memset(sh->table, 0, PB__TABLE_MIN * sizeof *sh->table);
  sh->mask = PB__TABLE_MIN - 1;
  sh->max_bytes = max_bytes;
  sh->max_entries = max_entries;
  sh->overhead = o->entry_overhead;
  sh->referenced = o->referenced;
  sh->kin_bytes = share(max_bytes, o->in_pct);
  sh->kin_entries = share(max_entries, o->in_pct);
  if (max_entries == PB__CACHE_NO_ENTRY_LIMIT) {
    /* Bytes alone: A1out remembers the keys of entries that would fill
     * Kout of the bytes, the paper's rule with pages weighed by size. */
    sh->kout = UINT64_MAX / 2;
    sh->kout_bytes = share(max_bytes, o->out_pct);
  } else {
    sh->kout = share(max_entries, o->out_pct);
    sh->kout_bytes = UINT64_MAX / 2;
  }
  if (pthread_mutex_init(&sh->mu, NULL) != 0) {
    free(sh->table);
    return PB_ENOMEM;
  }
  return PB_OK;
}

pb__cache_node *pb__shard_fini(pb__cache_shard *sh) {
  pb__cache_node *dead = NULL;
  for (pb__cache_node *n = sh->a1out.head, *next; n; n = next) {
    next = n->next;
    free(n);
  }
  pb__cache_list *res[2] = {&sh->a1in, &sh->am};
  for (int i = 0; i < 2; i++) {
    for (pb__cache_node *n = res[i]->head, *next; n; n = next) {
      next = n->next;
      n->queue = PB__CACHE_NONE;
      n->prev = n->next = NULL;
      n->hnext = dead;
      dead = n;
    }
  }
  free(sh->table);
  pthread_mutex_destroy(&sh->mu);
  return dead;
}

void pb__shard_touch(pb__cache_shard *sh, struct pb__cache_entry *e) {
  if (e->node.queue != PB__CACHE_AM || sh->am.head == &e->node) return;
  uint64_t charge = pb__shard_charge(sh, e->size);
  list_unlink(sh, &e->node, charge);
  list_push_head(sh, PB__CACHE_AM, &e->node, charge);
}

/* Forgets the oldest ghost; gives its node for reuse. */
static pb__cache_node *ghost_drop_tail(pb__cache_shard *sh) {
  pb__cache_node *g = sh->a1out.tail;
  list_unlink(sh, g, g->weight);
  table_remove(sh, g);
  return g;
}

/* Remembers the key of an entry pushed out of A1in, weighing `charge`.
 * Ghosts past kout (or past kout_bytes of weight) are forgotten oldest
 * first; a dropped ghost's node is reused, so a full ghost list allocates
 * nothing. */
static void ghost_add(pb__cache_shard *sh, const pb__cache_node *from,
                      uint64_t charge) {
  uint32_t w = charge > UINT32_MAX ? UINT32_MAX
               : charge == 0      ? 1 /* so weight bounds the count too */
                                  : (uint32_t)charge;
  if (sh->kout == 0 || w > sh->kout_bytes) return;
  pb__cache_node *g = NULL;
  while (sh->a1out.count > 0 && (sh->a1out.count >= sh->kout ||
                                 sh->a1out.bytes > sh->kout_bytes - w)) {
    free(g);
    g = ghost_drop_tail(sh);
  }
  if (!g) g = pb__cache_malloc(sizeof *g);
  if (!g) return; /* best effort: one ghost fewer */
  g->key = from->key;
  g->hash = from->hash;
  g->weight = w;
  table_add(sh, g);
  list_push_head(sh, PB__CACHE_A1OUT, g, w);
}

/* Unlinks the tail of queue q (A1in or Am) onto *dead. */
static void evict_tail(pb__cache_shard *sh, pb__cache_queue q,
                       pb__cache_node **dead) {
  pb__cache_node *n = pb__shard_list(sh, q)->tail;
  struct pb__cache_entry *e = as_entry(n);
  uint64_t charge = pb__shard_charge(sh, e->size);
  list_unlink(sh, n, charge);
  table_remove(sh, n);
  if (q == PB__CACHE_A1IN) ghost_add(sh, n, charge);
  atomic_fetch_add_explicit(&e->owner->held_entries, 1, memory_order_relaxed);
  atomic_fetch_add_explicit(&e->owner->held_bytes, e->size,
                            memory_order_relaxed);
  n->hnext = *dead;
  *dead = n;
  sh->n.evictions++;
}

void pb__shard_remove(pb__cache_shard *sh, pb__cache_node *n,
                      pb__cache_node **dead) {
  struct pb__cache_entry *e = as_entry(n);
  assert(n->queue == PB__CACHE_A1IN || n->queue == PB__CACHE_AM);
  list_unlink(sh, n, pb__shard_charge(sh, e->size));
  table_remove(sh, n);
  atomic_fetch_add_explicit(&e->owner->held_entries, 1, memory_order_relaxed);
  atomic_fetch_add_explicit(&e->owner->held_bytes, e->size,
                            memory_order_relaxed);
  n->hnext = *dead;
  *dead = n;
}

static bool a1in_over_share(const pb__cache_shard *sh) {
  return sh->a1in.bytes > sh->kin_bytes || sh->a1in.count > sh->kin_entries;
}

/* Evicts until an entry charging `size` bytes fits in both limits, and no
 * more.  The caller checked size <= max_bytes, and max_entries >= 1, so
 * the queues cannot run dry first. */
static void reclaim(pb__cache_shard *sh, uint64_t size,
                    pb__cache_node **dead) {
  uint64_t chances = 0; /* second chances given: at most one lap of Am */
  uint64_t promoted = 0; /* A1in entries moved to Am: at most one lap */
  for (;;) {
    uint64_t bytes = sh->a1in.bytes + sh->am.bytes;
    uint64_t count = sh->a1in.count + sh->am.count;
    if (size <= sh->max_bytes - bytes && count < sh->max_entries) return;
    assert(count > 0);
    if (sh->a1in.count > 0 && (a1in_over_share(sh) || sh->am.count == 0)) {
      struct pb__cache_entry *t = as_entry(sh->a1in.tail);
      if (sh->referenced && promoted < sh->a1in.count &&
          sh->referenced(t->value)) {
        /* Used through a pointer since it came in: that is the second
         * access a ghost would have waited for, so it goes to Am now
         * rather than out (a scan's entries, read once, are not). */
        uint64_t charge = pb__shard_charge(sh, t->size);
        list_unlink(sh, &t->node, charge);
        list_push_head(sh, PB__CACHE_AM, &t->node, charge);
        promoted++;
        continue;
      }
      evict_tail(sh, PB__CACHE_A1IN, dead);
      continue;
    }
    struct pb__cache_entry *t = as_entry(sh->am.tail);
    if (sh->referenced && chances < sh->am.count && sh->am.count > 1 &&
        sh->referenced(t->value)) { /* used through a pointer: keep it */
      pb__shard_touch(sh, t);
      chances++;
      continue;
    }
    evict_tail(sh, PB__CACHE_AM, dead);
  }
}

struct pb__cache_entry *pb__shard_insert(pb__cache_shard *sh,
                                         struct pb__cache_entry *e,
                                         size_t nrefs, pb__cache_node **dead) {
  pb__cache_node *old = pb__shard_find(sh, &e->node.key, e->node.hash);
  if (old && old->queue != PB__CACHE_A1OUT) {
    /* Already resident: keep it (the key names one immutable value). */
    struct pb__cache_entry *r = as_entry(old);
    pb__shard_touch(sh, r);
    atomic_fetch_add_explicit(&r->refs, nrefs, memory_order_relaxed);
    return r;
  }
  uint64_t charge = pb__shard_charge(sh, e->size);
  if (charge > sh->max_bytes) {
    /* Never cached; handed out unlinked, held by its handles only. */
    sh->n.rejected++;
    atomic_store_explicit(&e->refs, nrefs, memory_order_relaxed);
    if (nrefs > 0) {
      atomic_fetch_add_explicit(&e->owner->held_entries, 1,
                                memory_order_relaxed);
      atomic_fetch_add_explicit(&e->owner->held_bytes, e->size,
                                memory_order_relaxed);
    }
    return e;
  }
  pb__cache_queue target = PB__CACHE_A1IN;
  if (old) { /* a ghost: seen again, so it goes straight to Am */
    list_unlink(sh, old, old->weight);
    table_remove(sh, old);
    free(old);
    target = PB__CACHE_AM;
    sh->n.ghost_hits++;
  }
  reclaim(sh, charge, dead);
  atomic_store_explicit(&e->refs, 1 + nrefs, memory_order_relaxed);
  e->node.weight = 0;
  table_add(sh, &e->node);
  list_push_head(sh, target, &e->node, charge);
  sh->n.insertions++;
  return e;
}

/* --- checks (tests) --- */

#define CHECK(cond, ...)                                                   \
  do {                                                                     \
    if (!(cond)) {                                                         \
      fprintf(stderr, "cache check, shard %u: ", index);                  \
      fprintf(stderr, __VA_ARGS__);                                        \
      fputc('\n', stderr);                                                 \
      return PB__CORRUPT("cache shard %u invariant broken", index);        \
    }                                                                      \
  } while (0)

int pb__shard_check(pb__cache_shard *sh, pb__cache *c, unsigned index) {
  static const pb__cache_queue qs[3] = {PB__CACHE_A1IN, PB__CACHE_AM,
                                        PB__CACHE_A1OUT};
  uint64_t total = 0;
  for (int i = 0; i < 3; i++) {
    pb__cache_list *l = pb__shard_list(sh, qs[i]);
    uint64_t count = 0, bytes = 0;
    pb__cache_node *prev = NULL;
    for (pb__cache_node *n = l->head; n; prev = n, n = n->next) {
      CHECK(n->prev == prev, "queue %d: broken back link", (int)qs[i]);
      CHECK(n->queue == qs[i], "queue %d: a node says %d", (int)qs[i],
            (int)n->queue);
      CHECK(n->hash == pb__cache_hash(&n->key), "a node's hash is stale");
      CHECK(pb__cache_shard_of(c, n->hash) == sh, "a key in another shard");
      CHECK(pb__shard_find(sh, &n->key, n->hash) == n,
            "a queued key is not found in the table, or found twice");
      if (qs[i] != PB__CACHE_A1OUT) {
        struct pb__cache_entry *e = as_entry(n);
        bytes += pb__shard_charge(sh, e->size);
        CHECK(atomic_load(&e->refs) >= 1, "a resident entry without refs");
      }
      else {
        bytes += n->weight;
      }
      count++;
      CHECK(count <= l->count, "queue %d longer than its count %llu",
            (int)qs[i], (unsigned long long)l->count);
    }
    CHECK(l->tail == prev, "queue %d: tail is not the last node", (int)qs[i]);
    CHECK(count == l->count, "queue %d: count %llu, counted %llu", (int)qs[i],
          (unsigned long long)l->count, (unsigned long long)count);
    CHECK(bytes == l->bytes, "queue %d: bytes %llu, summed %llu", (int)qs[i],
          (unsigned long long)l->bytes, (unsigned long long)bytes);
    total += count;
  }
  uint64_t in_table = 0;
  for (uint64_t b = 0; b <= sh->mask; b++)
    for (pb__cache_node *n = sh->table[b]; n; n = n->hnext) {
      CHECK((n->hash & sh->mask) == b, "a node in the wrong bucket");
      CHECK(n->queue != PB__CACHE_NONE, "a node in the table, in no queue");
      in_table++;
    }
  CHECK(in_table == total && sh->nodes == total,
        "table holds %llu nodes (counter %llu), queues %llu",
        (unsigned long long)in_table, (unsigned long long)sh->nodes,
        (unsigned long long)total);
  CHECK(sh->a1in.bytes + sh->am.bytes <= sh->max_bytes,
        "bytes %llu over the limit %llu",
        (unsigned long long)(sh->a1in.bytes + sh->am.bytes),
        (unsigned long long)sh->max_bytes);
  CHECK(sh->a1in.count + sh->am.count <= sh->max_entries,
        "entries %llu over the limit %llu",
        (unsigned long long)(sh->a1in.count + sh->am.count),
        (unsigned long long)sh->max_entries);
  CHECK(sh->a1out.count <= sh->kout, "ghosts %llu over kout %llu",
        (unsigned long long)sh->a1out.count, (unsigned long long)sh->kout);
  CHECK(sh->a1out.bytes <= sh->kout_bytes,
        "ghosts weigh %llu, over kout_bytes %llu",
        (unsigned long long)sh->a1out.bytes,
        (unsigned long long)sh->kout_bytes);
  return PB_OK;
}
