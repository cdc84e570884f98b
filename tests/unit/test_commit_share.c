/*
 * test_commit_share.c - durable commits that share fdatasyncs, and what a
 * commit leaves in the object cache for the next one, under the defaults a
 * user gets (a file storage in PB_DURABILITY_SYNC, through pb_txn_run), on
 * the simulated disk so that an fdatasync can be held in flight.
 *
 *   returning_committer_shares_the_next_sync
 *        A leads a sync that is held for a while; B and C append behind it.
 *        When A's sync ends, A commits again at once.  The next leader (B
 *        or C) waits for A to come back, so ONE more fdatasync covers B, C
 *        and A's second commit: 2 fdatasyncs for 4 commits.  Before, the
 *        next sync started at once with B and C only, and A's second commit
 *        needed a third (committers that loop took turns in two halves).
 *   lone_committer_never_waits
 *        one thread committing in a loop, with syncs that take a while, and
 *        then a second thread committing 200 ms after the first one's last
 *        release: no leader ever waits (the store counts the waits), and
 *        each commit costs exactly one fdatasync.
 *   chained_commit_finds_nodes_cached
 *        while A's fdatasync is held, B begins on the pending head (A's
 *        commit) and commits: every node of A's that B reads comes from the
 *        object cache (zero loads), since A's nodes went into the cache
 *        when A was appended, not when its sync returned.
 *   cached_nodes_of_a_failed_commit_stay_unseen
 *        the same, but A's fdatasync fails: A and B get PB_EIO, and a new
 *        reader sees neither (it reads the published root, whose nodes are
 *        not A's), though A's nodes were cached.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "protobase/protobase.h"
#include "storage/file.h"
#include "support/simfs.h"

/* --- a counter, incremented through pb_txn_run --- */

static int64_t get_int(pb_txn *txn, const char *name) {
  pb_value v;
  int rc = pb_txn_get(txn, name, &v);
  if (rc == PB_ENOTFOUND) return 0;
  if (rc != PB_OK || v.kind != PB_VALUE_INT) abort();
  return v.as.i;
}

static int increment(pb_txn *txn, void *arg) {
  (void)arg;
  pb_value v = {.kind = PB_VALUE_INT, .as.i = get_int(txn, "counter") + 1};
  return pb_txn_set(txn, "counter", &v);
}

/* --- a gate that holds the next fdatasync until released --- */

typedef struct gate {
  pthread_mutex_t mu;
  pthread_cond_t cv;
  bool armed;   /* the next datasync blocks */
  bool entered; /* a datasync is blocked in the hook */
  bool open;    /* let it go */
  unsigned sleep_ms; /* every datasync also takes this long */
} gate;

static void sleep_ms(unsigned ms) {
  struct timespec ts = {(time_t)(ms / 1000), (long)(ms % 1000) * 1000000L};
  nanosleep(&ts, NULL);
}

static void gate_hook(void *arg, pb__simfs_op op, const char *path) {
  (void)path;
  gate *g = arg;
  if (op != PB__SIMFS_DATASYNC) return;
  pthread_mutex_lock(&g->mu);
  unsigned ms = g->sleep_ms;
  if (g->armed) {
    g->armed = false;
    g->entered = true;
    pthread_cond_broadcast(&g->cv);
    while (!g->open) pthread_cond_wait(&g->cv, &g->mu);
  }
  pthread_mutex_unlock(&g->mu);
  if (ms) sleep_ms(ms);
}

static void gate_arm(gate *g) {
  pthread_mutex_lock(&g->mu);
  g->armed = true;
  g->entered = false;
  g->open = false;
  pthread_mutex_unlock(&g->mu);
}

static void gate_wait_entered(gate *g) {
  pthread_mutex_lock(&g->mu);
  while (!g->entered) pthread_cond_wait(&g->cv, &g->mu);
  pthread_mutex_unlock(&g->mu);
}

static void gate_release(gate *g) {
  pthread_mutex_lock(&g->mu);
  g->open = true;
  pthread_cond_broadcast(&g->cv);
  pthread_mutex_unlock(&g->mu);
}

/* A file storage in SYNC on a simulated disk whose fdatasyncs pass the
 * gate, a space, database "main". */
typedef struct fixture {
  pb__simfs *sim;
  gate g;
  pb_storage *st;
  pb_space *sp;
  pb_db *db;
  uint64_t lsn0; /* the pending LSN once "main" exists */
} fixture;

static void fx_open(fixture *x) {
  memset(x, 0, sizeof *x);
  x->sim = pb__simfs_new();
  assert_non_null(x->sim);
  pthread_mutex_init(&x->g.mu, NULL);
  pthread_cond_init(&x->g.cv, NULL);
  pb__simfs_set_sync_hook(x->sim, gate_hook, &x->g);
  pb_file_options o;
  pb_file_options_init(&o); /* SYNC, the default */
  char err[256];
  assert_int_equal(pb__file_storage_open("/db", &o, pb__simfs_io(x->sim), err,
                                         sizeof err, &x->st),
                   PB_OK);
  assert_int_equal(pb_space_open(x->st, &x->sp), PB_OK);
  assert_int_equal(pb_db_open(x->sp, "main", PB_CREATE, &x->db), PB_OK);
  pb_atom_ptr head;
  pb__file_pending_root(x->st, &head, &x->lsn0);
}

static int fx_close(fixture *x) {
  pb__simfs_set_sync_hook(x->sim, NULL, NULL);
  pb_db_close(x->db);
  int rc = pb_space_close(x->sp);
  pthread_mutex_destroy(&x->g.mu);
  pthread_cond_destroy(&x->g.cv);
  pb__simfs_free(x->sim);
  return rc;
}

/* The counter as a new read transaction sees it. */
static int64_t fx_counter(fixture *x) {
  pb_txn *t;
  assert_int_equal(pb_txn_begin(x->db, PB_RDONLY, &t), PB_OK);
  int64_t n = get_int(t, "counter");
  pb_txn_abort(t);
  return n;
}

/* Waits (up to 20 s) until the pending LSN reaches `want`; gives it. */
static uint64_t wait_pending_lsn(pb_storage *st, uint64_t want) {
  pb_atom_ptr head;
  uint64_t lsn = 0;
  for (int i = 0; i < 20000; i++) {
    pb__file_pending_root(st, &head, &lsn);
    if (lsn >= want) break;
    sleep_ms(1);
  }
  return lsn;
}

static uint64_t leader_waits(pb_storage *st) {
  const pb__file_storage *fs = (const pb__file_storage *)st;
  return fs->n_leader_waits; /* read after the threads joined */
}

/* A thread that runs `times` increments, one after the other, `pause_ms`
 * apart. */
typedef struct runner {
  pb_db *db;
  int times;
  unsigned pause_ms;
  int rc[2];
} runner;

static void *runner_main(void *arg) {
  runner *r = arg;
  for (int i = 0; i < r->times; i++) {
    if (i > 0 && r->pause_ms) sleep_ms(r->pause_ms);
    r->rc[i] = pb_txn_run(r->db, increment, NULL, PB_TXN_RUN_RETRIES);
  }
  return NULL;
}

static void start(runner *r, pthread_t *th, pb_db *db, int times) {
  *r = (runner){db, times, 0, {-1, -1}};
  assert_int_equal(pthread_create(th, NULL, runner_main, r), 0);
}

/* --- tests --- */

static void returning_committer_shares_the_next_sync(void **state) {
  (void)state;
  fixture x;
  fx_open(&x);
  /* The wait for a returning committer is bounded by what the last
   * fdatasync took (held here for 300 ms), and by the window: lifted, so
   * that a slow machine cannot make A miss the group. */
  assert_int_equal(pb__file_set_group_window(x.st, 20000000000u), PB_OK);
  uint64_t syncs0 = pb__file_sync_count(x.st);

  /* A leads a sync that is held; it commits again 20 ms after its first
   * commit returned (a committer busy with its next transaction). */
  gate_arm(&x.g);
  runner r[3];
  pthread_t th[3];
  r[0] = (runner){x.db, 2, 20, {-1, -1}};
  assert_int_equal(pthread_create(&th[0], NULL, runner_main, &r[0]), 0);
  gate_wait_entered(&x.g);
  /* B and C append behind A while A's sync is held. */
  start(&r[1], &th[1], x.db, 1);
  start(&r[2], &th[2], x.db, 1);
  uint64_t lsn = wait_pending_lsn(x.st, x.lsn0 + 3);
  sleep_ms(300);
  gate_release(&x.g); /* before asserting, so that a failure does not hang */
  for (int i = 0; i < 3; i++) pthread_join(th[i], NULL);
  assert_int_equal(lsn, x.lsn0 + 3);
  assert_int_equal(r[0].rc[0], PB_OK);
  assert_int_equal(r[0].rc[1], PB_OK);
  assert_int_equal(r[1].rc[0], PB_OK);
  assert_int_equal(r[2].rc[0], PB_OK);
  /* A's sync, then ONE for B, C and A's second commit. */
  assert_int_equal(pb__file_sync_count(x.st) - syncs0, 2);
  assert_true(leader_waits(x.st) >= 1); /* B's or C's leader waited */
  assert_int_equal(fx_counter(&x), 4);
  assert_int_equal(fx_close(&x), PB_OK);
}

static void lone_committer_never_waits(void **state) {
  (void)state;
  fixture x;
  fx_open(&x);
  x.g.sleep_ms = 5; /* every fdatasync takes 5 ms */
  pb__simfs_reset_counts(x.sim);
  uint64_t syncs0 = pb__file_sync_count(x.st);
  runner r;
  pthread_t th;
  for (int i = 0; i < 10; i++) {
    /* One thread, committing in a loop. */
    assert_int_equal(pb_txn_run(x.db, increment, NULL, PB_TXN_RUN_RETRIES),
                     PB_OK);
  }
  /* Another thread, well after the last release (5 ms of sync). */
  sleep_ms(200);
  start(&r, &th, x.db, 1);
  pthread_join(th, NULL);
  assert_int_equal(r.rc[0], PB_OK);
  assert_int_equal(leader_waits(x.st), 0);
  assert_int_equal(pb__file_sync_count(x.st) - syncs0, 11);
  pb__simfs_counts cnt;
  pb__simfs_counts_get(x.sim, &cnt);
  assert_int_equal(cnt.datasync, 11);
  assert_int_equal(fx_counter(&x), 11);
  assert_int_equal(fx_close(&x), PB_OK);
}

static uint64_t object_loads(pb_space *sp) {
  pb_cache_stats o;
  assert_int_equal(pb_space_cache_stats(sp, NULL, &o), PB_OK);
  return o.loads;
}

/* A commits and its sync is held (failing afterwards when `fail`); B
 * chains on it.  Gives the object cache's loads during B's attempt. */
static uint64_t chain_behind_held_sync(fixture *x, bool fail, int rc_a,
                                       int rc_b) {
  /* Warm: a commit and a read, so that the next commit's nodes replace
   * cached ones. */
  assert_int_equal(pb_txn_run(x->db, increment, NULL, PB_TXN_RUN_RETRIES),
                   PB_OK);
  assert_int_equal(fx_counter(x), 1);
  gate_arm(&x->g);
  if (fail) pb__simfs_fail(x->sim, PB__SIMFS_DATASYNC, 1, PB_EIO, 0);
  pb_atom_ptr head;
  uint64_t lsn1;
  pb__file_pending_root(x->st, &head, &lsn1);
  runner r[2];
  pthread_t th[2];
  start(&r[0], &th[0], x->db, 1);
  gate_wait_entered(&x->g);
  uint64_t loads0 = object_loads(x->sp);
  start(&r[1], &th[1], x->db, 1);
  uint64_t lsn = wait_pending_lsn(x->st, lsn1 + 2);
  uint64_t loads = object_loads(x->sp) - loads0;
  gate_release(&x->g);
  for (int i = 0; i < 2; i++) pthread_join(th[i], NULL);
  assert_int_equal(lsn, lsn1 + 2); /* B appended behind A */
  assert_int_equal(r[0].rc[0], rc_a);
  assert_int_equal(r[1].rc[0], rc_b);
  return loads;
}

static void chained_commit_finds_nodes_cached(void **state) {
  (void)state;
  fixture x;
  fx_open(&x);
  assert_int_equal(chain_behind_held_sync(&x, false, PB_OK, PB_OK), 0);
  assert_int_equal(fx_counter(&x), 3);
  assert_int_equal(fx_close(&x), PB_OK);
}

static void cached_nodes_of_a_failed_commit_stay_unseen(void **state) {
  (void)state;
  fixture x;
  fx_open(&x);
  assert_int_equal(chain_behind_held_sync(&x, true, PB_EIO, PB_EIO), 0);
  /* A's nodes were cached, but its commit was never published: a reader
   * sees the value before it, then and after more cache traffic. */
  assert_int_equal(fx_counter(&x), 1);
  assert_int_equal(fx_counter(&x), 1);
  pb_txn *t;
  assert_int_equal(pb_txn_begin(x.db, 0, &t), PB_OK);
  pb_value v = {.kind = PB_VALUE_INT, .as.i = 7};
  assert_int_equal(pb_txn_set(t, "other", &v), PB_OK);
  assert_int_equal(pb_txn_commit(t), PB_EFAILED); /* the store failed */
  assert_int_equal(fx_counter(&x), 1);
  fx_close(&x); /* the failed store reports its failure */
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(returning_committer_shares_the_next_sync),
      cmocka_unit_test(lone_committer_never_waits),
      cmocka_unit_test(chained_commit_finds_nodes_cached),
      cmocka_unit_test(cached_nodes_of_a_failed_commit_stay_unseen),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
