/*
 * txn/run.c - pb_txn_run: a transaction retried on conflict, which cannot
 * be starved, and whose retries chain instead of spinning.
 *
 * Every attempt begins on the storage's PENDING head (pb__txn_begin_ex),
 * the last commit appended, whether its fdatasync has returned or not.  An
 * attempt's outcome is its commit, which the storage appends after every
 * commit it builds on and acknowledges only once those are durable too (a
 * failed sync fails them all), so this reads nothing that could be lost
 * without the attempt failing with it.  That is what lets commits to one
 * hot key chain: while one commit syncs, the next attempt reads its value,
 * appends behind it, and shares its group's fdatasync, instead of reading
 * the published (older) value and conflicting again at once.
 *
 * After a conflict an attempt backs off (a yield, then a randomized sleep
 * that doubles up to MAX_BACKOFF_NS) before it retries.  After
 * ESCALATE_AFTER conflicts, a caller takes the space's writer lock
 * (run_mu) for each further attempt, and announces it (escalated), so that
 * every pb_txn_run of the space that starts an attempt meanwhile takes the
 * lock too: the escalated caller then competes only with attempts already
 * in flight and with commits made outside pb_txn_run, and a hot key cannot
 * starve it.  The lock covers begin, fn and the append of the commit, not
 * the wait for its fdatasync (pb__txn_commit_ex's hook releases it), so
 * attempts under the lock still chain and share syncs.
 *
 * Runs nest: fn may call pb_txn_run again on the same thread.  run_mu is
 * not recursive, so each thread keeps the spaces whose run_mu it holds
 * (run_held: a list of frames on its stack, innermost first); a nested
 * attempt on one of them runs under the lock an outer attempt holds
 * instead of taking it again, which would deadlock.  It is still
 * exclusive: no other pb_txn_run attempt of that space starts meanwhile.
 */
#include <assert.h>
#include <sched.h>
#include <stdint.h>
#include <time.h>

#include "txn/txn_int.h"

#define ESCALATE_AFTER 3u
#define MAX_BACKOFF_NS 256000u /* the longest sleep between attempts */

/* A space whose run_mu this thread holds, and the one held before. */
typedef struct held_frame {
  pb_space *sp;
  struct held_frame *up;
} held_frame;

static _Thread_local held_frame *run_held;
static _Thread_local uint64_t backoff_rng; /* xorshift64 state, 0: unseeded */

static bool holds(const pb_space *sp) {
  for (const held_frame *f = run_held; f; f = f->up)
    if (f->sp == sp) return true;
  return false;
}

/* run_mu as one attempt holds it: taken before begin, released once the
 * commit is appended (or when the attempt ends, whichever comes first). */
typedef struct run_lock {
  pb_space *sp;
  held_frame frame; /* this attempt's entry in run_held */
  bool locked;      /* run_mu is held by this attempt */
} run_lock;

static void run_lock_take(run_lock *l, pb_space *sp) {
  pthread_mutex_lock(&sp->run_mu);
  l->sp = sp;
  l->frame = (held_frame){sp, run_held};
  l->locked = true;
  run_held = &l->frame;
}

static void run_lock_release(void *arg) {
  run_lock *l = arg;
  if (!l->locked) return;
  assert(run_held == &l->frame); /* nested runs ended before this */
  run_held = l->frame.up;
  l->locked = false;
  pthread_mutex_unlock(&l->sp->run_mu);
}

/* One attempt: begin on the pending head, fn, commit (fn's error aborts).
 * With `l`, run_mu is released as soon as the commit is appended. */
static int attempt(pb_db *db, int (*fn)(pb_txn *, void *), void *arg,
                   run_lock *l) {
  pb_txn *txn;
  int rc = pb__txn_begin_ex(db, 0, true, &txn);
  if (rc != PB_OK) return rc;
  rc = fn(txn, arg);
  if (rc != PB_OK) {
    pb_txn_abort(txn);
    return rc;
  }
  pb__after_append hook = {run_lock_release, l};
  return pb__txn_commit_ex(txn, l ? &hook : NULL);
}

/* Waits before retry `i` (1 for the first retry): a yield, then a random
 * sleep in [0, 2^i us), at most MAX_BACKOFF_NS, so that attempts that
 * keep meeting spread out instead of spinning on the same key. */
static void backoff(unsigned i) {
  if (i <= 1) {
    sched_yield();
    return;
  }
  if (backoff_rng == 0)
    backoff_rng = ((uint64_t)(uintptr_t)&backoff_rng * 0x9E3779B97F4A7C15u) |
                  1u; /* per thread: its own address */
  backoff_rng ^= backoff_rng << 13;
  backoff_rng ^= backoff_rng >> 7;
  backoff_rng ^= backoff_rng << 17;
  uint64_t max = i < 9 ? (uint64_t)1000 << i : MAX_BACKOFF_NS;
  if (max > MAX_BACKOFF_NS) max = MAX_BACKOFF_NS;
  struct timespec ts = {0, (long)(backoff_rng % max)};
  nanosleep(&ts, NULL);
}

int pb_txn_run(pb_db *db, int (*fn)(pb_txn *txn, void *arg), void *arg,
               unsigned max_retries) {
  if (!db || !fn) return PB_EINVAL;
  pb_space *sp = db->sp;
  if (sp->st->read_only) return PB_ERDONLY;
  int rc = PB_ECONFLICT;
  bool escalated = false;
  for (unsigned i = 0; i <= max_retries; i++) {
    if (i > 0) {
      atomic_fetch_add(&sp->n_retries, 1);
      backoff(i);
    }
    if (i == ESCALATE_AFTER && !escalated) {
      escalated = true;
      atomic_fetch_add(&sp->escalated, 1);
    }
    bool held = holds(sp); /* nested in an attempt holding run_mu */
    bool lock = !held && (escalated || atomic_load(&sp->escalated) > 0);
    run_lock l = {NULL, {NULL, NULL}, false};
    if (lock) run_lock_take(&l, sp);
    if (lock || held) atomic_fetch_add(&sp->n_locked, 1);
    rc = attempt(db, fn, arg, lock ? &l : NULL);
    run_lock_release(&l); /* if the commit did not already */
    assert(!holds(sp) || held);
    if (rc != PB_ECONFLICT) break;
  }
  if (escalated) atomic_fetch_sub(&sp->escalated, 1);
  return rc;
}
