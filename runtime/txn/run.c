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
 */
#include "txn/space.h"

#define ESCALATE_AFTER 3u

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
    bool locked = escalated || atomic_load(&sp->escalated) > 0;
    if (locked) {
      pthread_mutex_lock(&sp->run_mu);
      atomic_fetch_add(&sp->n_locked, 1);
    }
    rc = attempt(db, fn, arg);
    if (locked) pthread_mutex_unlock(&sp->run_mu);
    if (rc != PB_ECONFLICT) break;
  }
  if (escalated) atomic_fetch_sub(&sp->escalated, 1);
  return rc;
}
