/*
 * util/ebr.c - epoch-based reclamation (ebr.h has the protocol).
 */
#include "util/ebr.h"

#include <assert.h>
#include <pthread.h>
#include <stddef.h>

/* Retire a batch of this many objects before trying to free them (a
 * reclamation scans every slot). */
#define RECLAIM_EVERY 64u
/* An exit that sees this many waiting frees them. */
#define RECLAIM_ON_EXIT 1024u

static atomic_uint_fast64_t g_epoch = 1; /* G: never 0, which means idle */

static pthread_mutex_t g_reg_mu = PTHREAD_MUTEX_INITIALIZER;
static pb__ebr_slot *g_slots; /* registered slots, under g_reg_mu */

/* The retired objects, oldest first: each takes its epoch under g_ret_mu
 * as it is appended, so epochs ascend from g_oldest to g_newest and a
 * reclaim takes what it frees from the front, stopping at the first
 * object a reader may still reach (its cost is what it frees, not what
 * waits: a long reader does not make every reclaim walk everything). */
static pthread_mutex_t g_ret_mu = PTHREAD_MUTEX_INITIALIZER;
static pb__ebr_node *g_oldest, *g_newest; /* under g_ret_mu */
static atomic_uint_fast64_t g_pending;  /* objects retired, not freed */
static atomic_uint_fast64_t g_since;    /* retired since the last reclaim */

void pb__ebr_register(pb__ebr_slot *s) {
  atomic_init(&s->epoch, 0);
  pthread_mutex_lock(&g_reg_mu);
  s->prev = NULL;
  s->next = g_slots;
  if (g_slots) g_slots->prev = s;
  g_slots = s;
  s->registered = true;
  pthread_mutex_unlock(&g_reg_mu);
}

void pb__ebr_unregister(pb__ebr_slot *s) {
  if (!s->registered) return;
  assert(!pb__ebr_active(s));
  pthread_mutex_lock(&g_reg_mu);
  if (s->prev) s->prev->next = s->next;
  else g_slots = s->next;
  if (s->next) s->next->prev = s->prev;
  s->registered = false;
  pthread_mutex_unlock(&g_reg_mu);
  pb__ebr_reclaim();
}

void pb__ebr_enter(pb__ebr_slot *s) {
  assert(s->registered && !pb__ebr_active(s));
  uint_fast64_t e = atomic_load(&g_epoch);
  for (;;) {
    atomic_store(&s->epoch, e);
    uint_fast64_t again = atomic_load(&g_epoch);
    if (again == e) return;
    e = again; /* a retirement came between: announce the newer epoch */
  }
}

void pb__ebr_exit(pb__ebr_slot *s) {
  assert(pb__ebr_active(s));
  atomic_store_explicit(&s->epoch, 0, memory_order_release);
  if (atomic_load_explicit(&g_pending, memory_order_relaxed) >=
      RECLAIM_ON_EXIT)
    pb__ebr_reclaim();
}

bool pb__ebr_active(const pb__ebr_slot *s) {
  return atomic_load_explicit(&s->epoch, memory_order_relaxed) != 0;
}

void pb__ebr_retire(pb__ebr_node *n, void (*free_fn)(pb__ebr_node *)) {
  n->free_fn = free_fn;
  n->next = NULL;
  pthread_mutex_lock(&g_ret_mu);
  n->epoch = atomic_fetch_add(&g_epoch, 1); /* after the unlinking; under
                                               the lock: epochs ascend */
  assert(!g_newest || g_newest->epoch < n->epoch);
  if (g_newest) g_newest->next = n;
  else g_oldest = n;
  g_newest = n;
  pthread_mutex_unlock(&g_ret_mu);
  atomic_fetch_add_explicit(&g_pending, 1, memory_order_relaxed);
  if (atomic_fetch_add_explicit(&g_since, 1, memory_order_relaxed) + 1 >=
      RECLAIM_EVERY)
    pb__ebr_reclaim();
}

void pb__ebr_reclaim(void) {
  atomic_store_explicit(&g_since, 0, memory_order_relaxed);
  /* The oldest epoch an active reader announced (UINT64_MAX: none).
   * Objects retired before it are out of every reader's reach. */
  uint_fast64_t oldest = UINT64_MAX;
  pthread_mutex_lock(&g_reg_mu);
  for (pb__ebr_slot *s = g_slots; s; s = s->next) {
    uint_fast64_t e = atomic_load(&s->epoch);
    if (e != 0 && e < oldest) oldest = e;
  }
  pthread_mutex_unlock(&g_reg_mu);
  /* Every reader that could see an object retired before `oldest` is
   * gone: the front of the list, up to the first that is not. */
  pb__ebr_node *dead = NULL, *last = NULL;
  uint64_t n_dead = 0;
  pthread_mutex_lock(&g_ret_mu);
  for (pb__ebr_node *n = g_oldest; n && n->epoch < oldest; n = n->next) {
    last = n;
    n_dead++;
  }
  if (last) {
    dead = g_oldest;
    g_oldest = last->next;
    if (!g_oldest) g_newest = NULL;
    last->next = NULL;
  }
  pthread_mutex_unlock(&g_ret_mu);
  atomic_fetch_sub_explicit(&g_pending, n_dead, memory_order_relaxed);
  while (dead) {
    pb__ebr_node *n = dead;
    dead = n->next;
    n->free_fn(n);
  }
}

uint64_t pb__ebr_pending(void) {
  return atomic_load_explicit(&g_pending, memory_order_relaxed);
}
