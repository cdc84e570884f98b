/*
 * test_hot_key.c - one hot key under the defaults a user gets: a file
 * storage in PB_DURABILITY_SYNC (and again in GROUP), threads that
 * increment ONE counter, and threads that move money between accounts,
 * all through pb_txn_run with its documented default retries
 * (PB_TXN_RUN_RETRIES).  Every increment must land, pb_txn_run must never
 * give up with PB_ECONFLICT, and readers must never see a broken total.
 *
 * chain_on_a_syncing_commit pins the mechanism with a paused fdatasync: a
 * pb_txn_run that starts while another commit's fdatasync is in flight
 * must build on that commit (the pending head) and append behind it, and
 * the commits that chain meanwhile must share ONE fdatasync.  Before the
 * fix it began on the published root, conflicted, and waited for the
 * sync, so nothing chained.
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
#include "test_util.h"

#define THREADS 8
#define INCREMENTS 1000
#define ACCOUNTS 100

/* --- helpers --- */

static int64_t get_int(pb_txn *txn, const char *name) {
  pb_value v;
  int rc = pb_txn_get(txn, name, &v);
  if (rc == PB_ENOTFOUND) return 0;
  if (rc != PB_OK || v.kind != PB_VALUE_INT) abort();
  return v.as.i;
}

static int set_int(pb_txn *txn, const char *name, int64_t i) {
  pb_value v = {.kind = PB_VALUE_INT, .as.i = i};
  return pb_txn_set(txn, name, &v);
}

static int increment(pb_txn *txn, void *arg) {
  (void)arg;
  return set_int(txn, "counter", get_int(txn, "counter") + 1);
}

typedef struct worker {
  pb_db *db;
  int id;
  atomic_uint *failures; /* pb_txn_run calls that did not return PB_OK */
  atomic_uint *conflicts; /* of which PB_ECONFLICT */
} worker;

static void count_failure(const worker *w, int rc) {
  atomic_fetch_add(w->failures, 1);
  if (rc == PB_ECONFLICT) atomic_fetch_add(w->conflicts, 1);
}

static void *incrementer(void *arg) {
  worker *w = arg;
  for (int i = 0; i < INCREMENTS; i++) {
    int rc = pb_txn_run(w->db, increment, NULL, PB_TXN_RUN_RETRIES);
    if (rc != PB_OK) count_failure(w, rc);
  }
  return NULL;
}

/* A file storage in `dur` (the user's default: SYNC), a space, "main". */
static void open_all(const char *dir, pb_durability dur, pb_storage **st,
                     pb_space **sp, pb_db **db) {
  pb_file_options o;
  pb_file_options_init(&o);
  assert_int_equal(o.durability, PB_DURABILITY_SYNC); /* the default */
  o.durability = dur;
  assert_int_equal(pb_storage_open_file(dir, &o, st), PB_OK);
  assert_int_equal(pb_space_open(*st, sp), PB_OK);
  assert_int_equal(pb_db_open(*sp, "main", PB_CREATE, db), PB_OK);
}

static const char *dur_name(pb_durability dur) {
  return dur == PB_DURABILITY_SYNC ? "SYNC"
         : dur == PB_DURABILITY_GROUP ? "GROUP" : "NONE";
}

/* --- 8 threads x 1000 increments of one key --- */

static void hot_counter(pb_durability dur) {
  char *dir = pb_test_tmpdir();
  pb_storage *st;
  pb_space *sp;
  pb_db *db;
  open_all(dir, dur, &st, &sp, &db);
  uint64_t syncs0 = pb__file_sync_count(st);
  atomic_uint failures = 0, conflicts = 0;
  pthread_t th[THREADS];
  worker w[THREADS];
  for (int i = 0; i < THREADS; i++) {
    w[i] = (worker){db, i, &failures, &conflicts};
    assert_int_equal(pthread_create(&th[i], NULL, incrementer, &w[i]), 0);
  }
  for (int i = 0; i < THREADS; i++) pthread_join(th[i], NULL);
  uint64_t syncs = pb__file_sync_count(st) - syncs0;
  pb_space_stats s;
  assert_int_equal(pb_space_stats_get(sp, &s), PB_OK);
  print_message("  %s: %d increments, %" PRIu64 " fdatasyncs (%.3f per "
                "commit), %" PRIu64 " conflicts, %" PRIu64 " retries, %" PRIu64
                " attempts under the writer lock\n",
                dur_name(dur), THREADS * INCREMENTS, syncs,
                (double)syncs / (THREADS * INCREMENTS), s.conflicts, s.retries,
                s.locked_runs);
  assert_int_equal(atomic_load(&conflicts), 0);
  assert_int_equal(atomic_load(&failures), 0);
  pb_txn *r;
  assert_int_equal(pb_txn_begin(db, PB_RDONLY, &r), PB_OK);
  assert_int_equal(get_int(r, "counter"), THREADS * INCREMENTS);
  pb_txn_abort(r);
  if (dur != PB_DURABILITY_NONE) /* at most one sync per commit */
    assert_true(syncs <= (uint64_t)THREADS * INCREMENTS);
  pb_db_close(db);
  pb_space_close(sp);

  /* Reopen: every acknowledged increment is there. */
  open_all(dir, dur, &st, &sp, &db);
  assert_int_equal(pb_txn_begin(db, PB_RDONLY, &r), PB_OK);
  assert_int_equal(get_int(r, "counter"), THREADS * INCREMENTS);
  pb_txn_abort(r);
  pb_db_close(db);
  pb_space_close(sp);
  pb_test_rmdir(dir);
}

static void hot_counter_sync(void **state) {
  (void)state;
  hot_counter(PB_DURABILITY_SYNC);
}

static void hot_counter_group(void **state) {
  (void)state;
  hot_counter(PB_DURABILITY_GROUP);
}

/* --- 4 threads moving money between 100 accounts, 2 readers --- */

typedef struct move {
  int from, to;
  int64_t amount;
} move;

static void account_name(char *buf, size_t size, int i) {
  snprintf(buf, size, "acct/%03d", i);
}

static int transfer(pb_txn *txn, void *arg) {
  const move *m = arg;
  char a[16], b[16];
  account_name(a, sizeof a, m->from);
  account_name(b, sizeof b, m->to);
  int rc = set_int(txn, a, get_int(txn, a) - m->amount);
  if (rc == PB_OK) rc = set_int(txn, b, get_int(txn, b) + m->amount);
  return rc;
}

typedef struct mover {
  worker w;
  unsigned seed;
  int n;
} mover;

static void *mover_main(void *arg) {
  mover *m = arg;
  unsigned s = m->seed;
  for (int i = 0; i < m->n; i++) {
    s = s * 1103515245u + 12345u;
    /* Few accounts are hot: half the moves touch accounts 0..4. */
    int from = (int)((s >> 8) % ((s & 1) ? 5 : ACCOUNTS));
    int to = (int)((s >> 16) % ACCOUNTS);
    if (to == from) to = (to + 1) % ACCOUNTS;
    move mv = {from, to, (int64_t)((s >> 4) % 100) + 1};
    int rc = pb_txn_run(m->w.db, transfer, &mv, PB_TXN_RUN_RETRIES);
    if (rc != PB_OK) count_failure(&m->w, rc);
  }
  return NULL;
}

typedef struct reader {
  pb_db *db;
  atomic_bool *stop;
  atomic_uint broken, checks;
} reader;

static void *reader_main(void *arg) {
  reader *r = arg;
  while (!atomic_load(r->stop)) {
    pb_txn *t;
    if (pb_txn_begin(r->db, PB_RDONLY, &t) != PB_OK) abort();
    int64_t sum = 0;
    for (int i = 0; i < ACCOUNTS; i++) {
      char a[16];
      account_name(a, sizeof a, i);
      sum += get_int(t, a);
    }
    pb_txn_abort(t);
    if (sum != 0) atomic_fetch_add(&r->broken, 1);
    atomic_fetch_add(&r->checks, 1);
  }
  return NULL;
}

static void transfers(pb_durability dur, int per_thread) {
  char *dir = pb_test_tmpdir();
  pb_storage *st;
  pb_space *sp;
  pb_db *db;
  open_all(dir, dur, &st, &sp, &db);
  atomic_uint failures = 0, conflicts = 0;
  atomic_bool stop = false;
  reader rd = {db, &stop, 0, 0};
  pthread_t rt, th[4];
  mover m[4];
  assert_int_equal(pthread_create(&rt, NULL, reader_main, &rd), 0);
  for (int i = 0; i < 4; i++) {
    m[i] = (mover){{db, i, &failures, &conflicts}, 17u + (unsigned)i,
                   per_thread};
    assert_int_equal(pthread_create(&th[i], NULL, mover_main, &m[i]), 0);
  }
  for (int i = 0; i < 4; i++) pthread_join(th[i], NULL);
  atomic_store(&stop, true);
  pthread_join(rt, NULL);
  print_message("  %s: %d transfers, %u failed (%u conflicts); %u "
                "invariant checks, %u broken\n",
                dur_name(dur), 4 * per_thread, atomic_load(&failures),
                atomic_load(&conflicts), atomic_load(&rd.checks),
                atomic_load(&rd.broken));
  assert_int_equal(atomic_load(&failures), 0);
  assert_int_equal(atomic_load(&rd.broken), 0);
  assert_true(atomic_load(&rd.checks) > 0);
  pb_txn *r;
  assert_int_equal(pb_txn_begin(db, PB_RDONLY, &r), PB_OK);
  int64_t sum = 0, moved = 0;
  for (int i = 0; i < ACCOUNTS; i++) {
    char a[16];
    account_name(a, sizeof a, i);
    int64_t v = get_int(r, a);
    sum += v;
    moved += v < 0 ? -v : v;
  }
  pb_txn_abort(r);
  assert_int_equal(sum, 0);
  assert_true(moved > 0);
  pb_db_close(db);
  pb_space_close(sp);
  pb_test_rmdir(dir);
}

static void transfers_sync(void **state) {
  (void)state;
  transfers(PB_DURABILITY_SYNC, 1000);
}

/* --- a retry during another commit's fdatasync chains on it --- */

typedef struct gate {
  pthread_mutex_t mu;
  pthread_cond_t cv;
  bool armed;   /* the next datasync blocks */
  bool entered; /* a datasync is blocked in the hook */
  bool open;    /* let it go */
} gate;

static void gate_hook(void *arg, pb__simfs_op op, const char *path) {
  (void)path;
  gate *g = arg;
  if (op != PB__SIMFS_DATASYNC) return;
  pthread_mutex_lock(&g->mu);
  if (g->armed) {
    g->armed = false;
    g->entered = true;
    pthread_cond_broadcast(&g->cv);
    while (!g->open) pthread_cond_wait(&g->cv, &g->mu);
  }
  pthread_mutex_unlock(&g->mu);
}

typedef struct runner {
  pb_db *db;
  int rc;
} runner;

static void *runner_main(void *arg) {
  runner *r = arg;
  r->rc = pb_txn_run(r->db, increment, NULL, PB_TXN_RUN_RETRIES);
  return NULL;
}

/* A file storage in SYNC on the simulated disk `sim`, a space, "main". */
static void sim_open(pb__simfs *sim, pb_storage **st, pb_space **sp,
                     pb_db **db) {
  pb_file_options o;
  pb_file_options_init(&o); /* SYNC */
  char err[256];
  assert_int_equal(pb__file_storage_open("/db", &o, pb__simfs_io(sim), err,
                                         sizeof err, st),
                   PB_OK);
  assert_int_equal(pb_space_open(*st, sp), PB_OK);
  assert_int_equal(pb_db_open(*sp, "main", PB_CREATE, db), PB_OK);
}

static void gate_arm(gate *g) {
  pthread_mutex_lock(&g->mu);
  g->armed = true;
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

/* Waits (up to 20 s) until the pending head's LSN reaches `want`; gives
 * the LSN reached. */
static uint64_t wait_pending_lsn(pb_storage *st, uint64_t want) {
  pb_atom_ptr head;
  uint64_t lsn = 0;
  for (int waited = 0; waited < 20000; waited++) {
    pb__file_pending_root(st, &head, &lsn);
    if (lsn >= want) break;
    struct timespec ts = {0, 1000000};
    nanosleep(&ts, NULL);
  }
  return lsn;
}

/* A store on a simulated disk whose fdatasyncs pass through a gate. */
typedef struct gated {
  pb__simfs *sim;
  gate g;
  pb_storage *st;
  pb_space *sp;
  pb_db *db;
  uint64_t lsn0; /* the pending LSN once "main" exists */
} gated;

static void gated_open(gated *x) {
  x->sim = pb__simfs_new();
  assert_non_null(x->sim);
  x->g = (gate){.armed = false};
  pthread_mutex_init(&x->g.mu, NULL);
  pthread_cond_init(&x->g.cv, NULL);
  pb__simfs_set_sync_hook(x->sim, gate_hook, &x->g);
  sim_open(x->sim, &x->st, &x->sp, &x->db);
  pb_atom_ptr head;
  pb__file_pending_root(x->st, &head, &x->lsn0);
}

/* The counter as a new read transaction sees it. */
static int64_t gated_counter(gated *x) {
  pb_txn *t;
  assert_int_equal(pb_txn_begin(x->db, PB_RDONLY, &t), PB_OK);
  int64_t n = get_int(t, "counter");
  pb_txn_abort(t);
  return n;
}

/* Closes everything; gives pb_space_close's result (an error after a
 * failed sync). */
static int gated_close(gated *x) {
  pb__simfs_set_sync_hook(x->sim, NULL, NULL);
  pb_db_close(x->db);
  int rc = pb_space_close(x->sp);
  pthread_mutex_destroy(&x->g.mu);
  pthread_cond_destroy(&x->g.cv);
  pb__simfs_free(x->sim);
  return rc;
}

static void start_runner(runner *r, pthread_t *th, pb_db *db) {
  *r = (runner){db, -1};
  assert_int_equal(pthread_create(th, NULL, runner_main, r), 0);
}

static void chain_on_a_syncing_commit(void **state) {
  (void)state;
  gated x;
  gated_open(&x);
  uint64_t syncs0 = pb__file_sync_count(x.st);

  /* A leads a sync that stays paused. */
  gate_arm(&x.g);
  runner r[4];
  pthread_t th[4];
  start_runner(&r[0], &th[0], x.db);
  gate_wait_entered(&x.g);

  /* B, C, D: each must append behind A while A's sync is in flight. */
  for (int i = 1; i < 4; i++) start_runner(&r[i], &th[i], x.db);
  uint64_t lsn = wait_pending_lsn(x.st, x.lsn0 + 4);
  gate_release(&x.g); /* before asserting, so that a failure does not hang */
  for (int i = 0; i < 4; i++) pthread_join(th[i], NULL);
  assert_int_equal(lsn, x.lsn0 + 4); /* all four appended during A's sync */
  for (int i = 0; i < 4; i++) assert_int_equal(r[i].rc, PB_OK);
  /* A's sync, then one for B, C and D together. */
  assert_int_equal(pb__file_sync_count(x.st) - syncs0, 2);
  assert_int_equal(gated_counter(&x), 4);
  assert_int_equal(gated_close(&x), PB_OK);
}

/* --- a failed sync fails every commit chained on it --- */

static void chained_commits_fail_with_their_base(void **state) {
  (void)state;
  gated x;
  gated_open(&x);

  /* A's sync pauses, then fails; B chains on A meanwhile. */
  gate_arm(&x.g);
  pb__simfs_fail(x.sim, PB__SIMFS_DATASYNC, 1, PB_EIO, 0);
  runner r[2];
  pthread_t th[2];
  start_runner(&r[0], &th[0], x.db);
  gate_wait_entered(&x.g);
  start_runner(&r[1], &th[1], x.db);
  uint64_t lsn = wait_pending_lsn(x.st, x.lsn0 + 2);
  gate_release(&x.g);
  for (int i = 0; i < 2; i++) pthread_join(th[i], NULL);
  assert_int_equal(lsn, x.lsn0 + 2); /* B appended behind A */
  assert_int_equal(r[0].rc, PB_EIO);
  assert_int_equal(r[1].rc, PB_EIO); /* B fails with its base */
  assert_int_equal(gated_counter(&x), 0); /* nothing published */
  gated_close(&x);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(chain_on_a_syncing_commit),
      cmocka_unit_test(chained_commits_fail_with_their_base),
      cmocka_unit_test(hot_counter_sync),
      cmocka_unit_test(hot_counter_group),
      cmocka_unit_test(transfers_sync),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
