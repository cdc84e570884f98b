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

static pthread_mutex_t g_ret_mu = PTHREAD_MUTEX_INITIALIZER;
static pb__ebr_node *g_retired;         /* under g_ret_mu */
static atomic_uint_fast64_t g_pending;  /* objects in g_retired */
static atomic_uint_fast64_t g_since;    /* retired since the last reclaim */
static atomic_uint_fast64_t g_last_oldest; /* the last reclaim's `oldest` */

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
  n->epoch = atomic_fetch_add(&g_epoch, 1); /* after the unlinking */
  pthread_mutex_lock(&g_ret_mu);
  n->next = g_retired;
  g_retired = n;
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
  /* The same oldest reader as the last reclaim's: that one freed what
   * was retired before it, and whatever was retired since took an epoch
   * at least that reader's (epochs only grow), so nothing is free yet:
   * no walk of the list (a long read transaction would otherwise make
   * every 64th retirement walk every object retired since it began).
   * An object whose push raced with that walk waits for the next oldest
   * to change, at the latest when no reader is left (UINT64_MAX, never
   * skipped). */
  uint_fast64_t last = atomic_exchange_explicit(&g_last_oldest, oldest,
                                                memory_order_relaxed);
  if (oldest != UINT64_MAX && last == oldest) return;
  pb__ebr_node *dead = NULL;
  uint64_t n_dead = 0;
  pthread_mutex_lock(&g_ret_mu);
  for (pb__ebr_node **p = &g_retired; *p;) {
    pb__ebr_node *n = *p;
    if (n->epoch < oldest) { /* every reader that could see it is gone */
      *p = n->next;
      n->next = dead;
      dead = n;
      n_dead++;
    } else {
      p = &n->next;
    }
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
