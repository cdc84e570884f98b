/*
 * txn/run.c - pb_txn_run: a transaction retried on conflict, which cannot
 * be starved.
 *
 * Attempts run without a lock while they succeed.  After ESCALATE_AFTER
 * conflicts, a caller takes the space's writer lock (run_mu) for each
 * further attempt, and announces it (escalated), so that every pb_txn_run
 * of the space that starts an attempt meanwhile takes the lock too: the
 * escalated caller then competes only with attempts already in flight and
 * with commits made outside pb_txn_run, and a hot key cannot starve it.
 *
 * Runs nest: fn may call pb_txn_run again on the same thread (loading a
 * record of a type the database has never seen registers it with a
 * pb_txn_run of its own: txn/catalog.c, txn/record.c).  run_mu is not
 * recursive, so each thread keeps the spaces whose run_mu it holds
 * (run_held: a list of frames on its stack, innermost first); a nested
 * attempt on one of them runs under the lock an outer attempt holds
 * instead of taking it again, which would deadlock.  It is still
 * exclusive: no other pb_txn_run attempt of that space starts meanwhile.
 */
#include "txn/space.h"

#define ESCALATE_AFTER 3u

/* A space whose run_mu this thread holds, and the one held before. */
typedef struct held_frame {
  pb_space *sp;
  struct held_frame *up;
} held_frame;

static _Thread_local held_frame *run_held;

static bool holds(const pb_space *sp) {
  for (const held_frame *f = run_held; f; f = f->up)
    if (f->sp == sp) return true;
  return false;
}

/* One attempt: begin, fn, commit (fn's error aborts). */
static int attempt(pb_db *db, int (*fn)(pb_txn *, void *), void *arg) {
  pb_txn *txn;
  int rc = pb_txn_begin(db, 0, &txn);
  if (rc != PB_OK) return rc;
  rc = fn(txn, arg);
  if (rc != PB_OK) {
    pb_txn_abort(txn);
    return rc;
  }
  return pb_txn_commit(txn);
}

int pb_txn_run(pb_db *db, int (*fn)(pb_txn *txn, void *arg), void *arg,
               unsigned max_retries) {
  if (!db || !fn) return PB_EINVAL;
  pb_space *sp = db->sp;
  int rc = PB_ECONFLICT;
  bool escalated = false;
  for (unsigned i = 0; i <= max_retries; i++) {
    if (i > 0) atomic_fetch_add(&sp->n_retries, 1);
    if (i == ESCALATE_AFTER && !escalated) {
      escalated = true;
      atomic_fetch_add(&sp->escalated, 1);
    }
    bool held = holds(sp); /* nested in an attempt holding run_mu */
    bool lock = !held && (escalated || atomic_load(&sp->escalated) > 0);
    held_frame frame = {sp, run_held};
    if (lock) {
      pthread_mutex_lock(&sp->run_mu);
      run_held = &frame;
    }
    if (lock || held) atomic_fetch_add(&sp->n_locked, 1);
    rc = attempt(db, fn, arg);
    if (lock) {
      run_held = frame.up;
      pthread_mutex_unlock(&sp->run_mu);
    }
    if (rc != PB_ECONFLICT) break;
  }
  if (escalated) atomic_fetch_sub(&sp->escalated, 1);
  return rc;
}
