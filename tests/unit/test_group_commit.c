/*
 * test_group_commit.c - group commit in the file tier (docs/storage.md
 * section 6), on the simulated disk of tests/support/simfs.h:
 *
 *   - 8 threads x 50 commits on the PENDING head share fdatasyncs (far
 *     fewer syncs than commits), in SYNC and in GROUP mode; every
 *     acknowledged commit is there after close and reopen, and the LSNs
 *     are exactly 1..400;
 *   - while a leader is paused inside its fdatasync, read_root gives the
 *     PUBLISHED head, a second committer appends on the pending head (its
 *     CAS succeeds) but does not return before its sync, and a committer
 *     that expected the published root waits and then gets PB_ECONFLICT;
 *   - an fdatasync failure fails its whole group and every commit built on
 *     it: all get PB_EIO, none is published, later commits get
 *     PB_EFAILED; after a reopen the acknowledged commits are there and the
 *     failed ones are either absent or whole (a failed sync means "unknown
 *     outcome": the bytes may have reached the disk anyway).
 *
 * The store lives in "/db" on its own simulated disk.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "atom/batch.h"
#include "io/io.h"
#include "storage/file.h"
#include "storage/storage.h"
#include "support/simfs.h"
#include "test_util.h"

#define DB "/db"
#define NTHREADS 8
#define PER_THREAD 50

static pb_storage *must_open(pb__simfs *sim, uint64_t seg_size,
                             pb_durability dur) {
  pb_file_options o;
  pb_file_options_init(&o);
  if (seg_size) o.segment_size = seg_size;
  o.durability = dur;
  char msg[512];
  pb_storage *st = NULL;
  int rc = pb__file_storage_open(DB, &o, pb__simfs_io(sim), msg, sizeof msg,
                                 &st);
  if (rc != PB_OK) print_error("open: %s: %s\n", pb_errname(rc), msg);
  assert_int_equal(rc, PB_OK);
  return st;
}

static void sleep_us(long us) {
  struct timespec ts = {.tv_sec = us / 1000000, .tv_nsec = us % 1000000 * 1000};
  nanosleep(&ts, NULL);
}

/* The text of commit (t, k): recognizable, 16..80 bytes, into buf[96]. */
static size_t atom_text(int t, int k, char *buf) {
  size_t len = 16 + (size_t)(t * 11 + k * 7) % 64;
  for (size_t i = 0; i < len; i++) buf[i] = (char)('a' + (t + k + i) % 26);
  char head[24];
  int n = snprintf(head, sizeof head, "T%02d-%04d:", t, k);
  memcpy(buf, head, (size_t)n);
  return len;
}

/* One commit of a one-atom batch (the atom is the new root) on `expected`.
 * Gives the atom's pointer. */
static int commit_on(pb_storage *st, int t, int k, pb_atom_ptr expected,
                     pb_atom_ptr *ptr, uint64_t *lsn) {
  pb__batch_builder bb;
  assert_int_equal(pb__batch_init(&bb), PB_OK);
  char buf[96];
  size_t len = atom_text(t, k, buf);
  assert_int_equal(pb__batch_add(&bb, buf, len, ptr), PB_OK);
  pb__batch b = {.id_hi = bb.id_hi, .id_lo = bb.id_lo,
                 .data = bb.buf.data, .size = bb.buf.len};
  int rc = st->ops->commit(st, &b, expected, *ptr, lsn);
  pb__batch_free(&bb);
  return rc;
}

static void check_atom(pb_storage *st, int t, int k, pb_atom_ptr ptr) {
  char buf[96];
  size_t len = atom_text(t, k, buf);
  pb_bytes v;
  int rc = st->ops->read_atom(st, ptr, &v);
  if (rc != PB_OK) print_error("T%d-%d: %s\n", t, k, pb_errname(rc));
  assert_int_equal(rc, PB_OK);
  assert_int_equal(v.len, len);
  assert_memory_equal(v.ptr, buf, len);
}

/* --- 8 threads share fdatasyncs --- */

typedef struct slow_ctl {
  pthread_mutex_t mu;
  int n; /* datasyncs seen */
} slow_ctl;

/* The first fdatasync takes 20 ms, the others 200 us: a slow disk, so
 * that committers pile up behind a leader. */
static void slow_hook(void *arg, pb__simfs_op op, const char *path) {
  (void)path;
  slow_ctl *c = arg;
  if (op != PB__SIMFS_DATASYNC) return;
  pthread_mutex_lock(&c->mu);
  int n = c->n++;
  pthread_mutex_unlock(&c->mu);
  sleep_us(n == 0 ? 20000 : 200);
}

typedef struct worker {
  pb_storage *st;
  int t;
  pb_atom_ptr ptr[PER_THREAD];
  uint64_t lsn[PER_THREAD];
  int conflicts;
} worker;

static void *worker_main(void *arg) {
  worker *w = arg;
  for (int k = 0; k < PER_THREAD; k++) {
    for (;;) {
      pb_atom_ptr head;
      pb__file_pending_root(w->st, &head, NULL);
      int rc = commit_on(w->st, w->t, k, head, &w->ptr[k], &w->lsn[k]);
      if (rc == PB_ECONFLICT) {
        w->conflicts++;
        continue;
      }
      if (rc != PB_OK) {
        fprintf(stderr, "T%d-%d: %s\n", w->t, k, pb_errname(rc));
        abort();
      }
      break;
    }
  }
  return NULL;
}

static int cmp_u64(const void *a, const void *b) {
  uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
  return x < y ? -1 : x > y;
}

static void run_shared(pb_durability dur) {
  pb__simfs *sim = pb__simfs_new();
  assert_non_null(sim);
  slow_ctl c = {.n = 0};
  pthread_mutex_init(&c.mu, NULL);
  /* 16 KiB segments: the run crosses several rollovers. */
  pb_storage *st = must_open(sim, 16384, dur);
  pb__simfs_set_sync_hook(sim, slow_hook, &c);
  pb__simfs_reset_counts(sim);
  static worker w[NTHREADS];
  pthread_t th[NTHREADS];
  memset(w, 0, sizeof w);
  for (int t = 0; t < NTHREADS; t++) {
    w[t].st = st;
    w[t].t = t;
    assert_int_equal(pthread_create(&th[t], NULL, worker_main, &w[t]), 0);
  }
  for (int t = 0; t < NTHREADS; t++) pthread_join(th[t], NULL);
  pb__simfs_counts cnt;
  pb__simfs_counts_get(sim, &cnt);
  uint64_t leader_syncs = pb__file_sync_count(st);
  const int total = NTHREADS * PER_THREAD;
  int conflicts = 0;
  for (int t = 0; t < NTHREADS; t++) conflicts += w[t].conflicts;
  print_message("  %s: %d commits, %" PRIu64 " fdatasyncs (%" PRIu64
                " by group leaders, the rest seal or create segments), "
                "%.3f per commit, %d CAS retries\n",
                dur == PB_DURABILITY_SYNC ? "SYNC" : "GROUP", total,
                cnt.datasync, leader_syncs, (double)cnt.datasync / total,
                conflicts);
  assert_true(cnt.datasync < (uint64_t)total / 2);
  /* LSNs: exactly 1..total, each once. */
  static uint64_t all[NTHREADS * PER_THREAD];
  for (int t = 0; t < NTHREADS; t++)
    for (int k = 0; k < PER_THREAD; k++) all[t * PER_THREAD + k] = w[t].lsn[k];
  qsort(all, (size_t)total, sizeof all[0], cmp_u64);
  for (int i = 0; i < total; i++) assert_int_equal(all[i], (uint64_t)i + 1);
  pb_atom_ptr root;
  uint64_t lsn;
  assert_int_equal(st->ops->read_root(st, &root, &lsn), PB_OK);
  assert_int_equal(lsn, (uint64_t)total);
  pb__simfs_set_sync_hook(sim, NULL, NULL);
  assert_int_equal(st->ops->close(st), PB_OK);

  /* Reopen: everything acknowledged is there, with the same LSN. */
  st = must_open(sim, 16384, dur);
  assert_int_equal(st->ops->read_root(st, &root, &lsn), PB_OK);
  assert_int_equal(lsn, (uint64_t)total);
  for (int t = 0; t < NTHREADS; t++)
    for (int k = 0; k < PER_THREAD; k++) {
      check_atom(st, t, k, w[t].ptr[k]);
      if (w[t].lsn[k] == (uint64_t)total)
        assert_true(pb_atom_ptr_equal(root, w[t].ptr[k]));
    }
  assert_true(((const pb__file_storage *)st)->n_segs > 2);
  assert_int_equal(st->ops->close(st), PB_OK);
  pthread_mutex_destroy(&c.mu);
  pb__simfs_free(sim);
}

static void test_shared_syncs(void **state) {
  (void)state;
  run_shared(PB_DURABILITY_SYNC);
  run_shared(PB_DURABILITY_GROUP);
}

/* --- a leader paused inside its fdatasync --- */

typedef struct pause_ctl {
  pthread_mutex_t mu;
  pthread_cond_t cv;
  bool armed;    /* the next datasync pauses */
  bool entered;  /* a committer is paused */
  bool released; /* let it go */
} pause_ctl;

static void pause_hook(void *arg, pb__simfs_op op, const char *path) {
  (void)path;
  pause_ctl *p = arg;
  pthread_mutex_lock(&p->mu);
  if (p->armed && op == PB__SIMFS_DATASYNC) {
    p->armed = false;
    p->entered = true;
    pthread_cond_broadcast(&p->cv);
    while (!p->released) pthread_cond_wait(&p->cv, &p->mu);
  }
  pthread_mutex_unlock(&p->mu);
}

static void pause_init(pause_ctl *p) {
  memset(p, 0, sizeof *p);
  pthread_mutex_init(&p->mu, NULL);
  pthread_cond_init(&p->cv, NULL);
}

static void pause_wait_entered(pause_ctl *p) {
  pthread_mutex_lock(&p->mu);
  while (!p->entered) pthread_cond_wait(&p->cv, &p->mu);
  pthread_mutex_unlock(&p->mu);
}

static void pause_release(pause_ctl *p) {
  pthread_mutex_lock(&p->mu);
  p->released = true;
  pthread_cond_broadcast(&p->cv);
  pthread_mutex_unlock(&p->mu);
}

static void pause_destroy(pause_ctl *p) {
  pthread_cond_destroy(&p->cv);
  pthread_mutex_destroy(&p->mu);
}

typedef struct committer {
  pb_storage *st;
  int t, k;
  pb_atom_ptr expected;
  pb_atom_ptr ptr;
  uint64_t lsn;
  int rc;
  _Atomic int done;
} committer;

static void *committer_main(void *arg) {
  committer *c = arg;
  c->rc = commit_on(c->st, c->t, c->k, c->expected, &c->ptr, &c->lsn);
  atomic_store(&c->done, 1);
  return NULL;
}

static void start(committer *c, pthread_t *th, pb_storage *st, int t,
                  pb_atom_ptr expected) {
  memset(c, 0, sizeof *c);
  c->st = st;
  c->t = t;
  c->expected = expected;
  c->rc = 1;
  assert_int_equal(pthread_create(th, NULL, committer_main, c), 0);
}

/* Waits until the pending head reaches `lsn`. */
static pb_atom_ptr wait_pending(pb_storage *st, uint64_t lsn) {
  for (int i = 0; i < 20000; i++) {
    pb_atom_ptr head;
    uint64_t l;
    pb__file_pending_root(st, &head, &l);
    if (l >= lsn) return head;
    sleep_us(100);
  }
  fail_msg("the pending head never reached LSN %" PRIu64, lsn);
  return (pb_atom_ptr){0, 0, 0};
}

static void test_paused_leader(void **state) {
  (void)state;
  pb__simfs *sim = pb__simfs_new();
  assert_non_null(sim);
  pause_ctl p;
  pause_init(&p);
  pb__simfs_set_sync_hook(sim, pause_hook, &p);
  pb_storage *st = must_open(sim, 0, PB_DURABILITY_SYNC);
  pb_atom_ptr r1, none = {0, 0, 0};
  uint64_t lsn;
  assert_int_equal(commit_on(st, 0, 1, none, &r1, &lsn), PB_OK);
  assert_int_equal(lsn, 1);
  pb__simfs_reset_counts(sim);

  /* A: the leader, paused inside its fdatasync. */
  p.armed = true;
  committer a, b, c;
  pthread_t ta, tb, tc;
  start(&a, &ta, st, 1, r1);
  pause_wait_entered(&p);
  pb_atom_ptr r2 = wait_pending(st, 2);

  /* Readers see the PUBLISHED head, not the pending one. */
  pb_atom_ptr root;
  assert_int_equal(st->ops->read_root(st, &root, &lsn), PB_OK);
  assert_int_equal(lsn, 1);
  assert_true(pb_atom_ptr_equal(root, r1));
  check_atom(st, 0, 1, r1);
  pb_bytes v;
  assert_int_equal(st->ops->read_atom(st, r2, &v), PB_ENOTFOUND);

  /* B appends on the pending head: its CAS succeeds, but it waits. */
  start(&b, &tb, st, 2, r2);
  pb_atom_ptr r3 = wait_pending(st, 3);
  /* C expected the published root: it waits for publication, then gets
   * PB_ECONFLICT (it rebases on what read_root gives then). */
  start(&c, &tc, st, 3, r1);
  sleep_us(20000);
  assert_false(atomic_load(&a.done));
  assert_false(atomic_load(&b.done));
  assert_false(atomic_load(&c.done));
  assert_int_equal(st->ops->read_root(st, &root, &lsn), PB_OK);
  assert_int_equal(lsn, 1);

  pause_release(&p);
  pthread_join(ta, NULL);
  pthread_join(tb, NULL);
  pthread_join(tc, NULL);
  assert_int_equal(a.rc, PB_OK);
  assert_int_equal(a.lsn, 2);
  assert_int_equal(b.rc, PB_OK);
  assert_int_equal(b.lsn, 3);
  assert_true(pb_atom_ptr_equal(b.ptr, r3));
  assert_int_equal(c.rc, PB_ECONFLICT);
  assert_int_equal(st->ops->read_root(st, &root, &lsn), PB_OK);
  assert_int_equal(lsn, 3);
  assert_true(pb_atom_ptr_equal(root, r3));
  check_atom(st, 1, 0, r2);
  check_atom(st, 2, 0, r3);
  /* A's sync covered A only (B appended after it started); B led the
   * next one. */
  pb__simfs_counts cnt;
  pb__simfs_counts_get(sim, &cnt);
  assert_int_equal(cnt.datasync, 2);
  /* One thread again: exactly one fdatasync per commit. */
  pb_atom_ptr r4;
  pb__simfs_reset_counts(sim);
  assert_int_equal(commit_on(st, 4, 0, r3, &r4, &lsn), PB_OK);
  pb__simfs_counts_get(sim, &cnt);
  assert_int_equal(cnt.datasync, 1);
  assert_int_equal(st->ops->close(st), PB_OK);
  st = must_open(sim, 0, PB_DURABILITY_SYNC);
  assert_int_equal(st->ops->read_root(st, &root, &lsn), PB_OK);
  assert_int_equal(lsn, 4);
  check_atom(st, 2, 0, r3);
  assert_int_equal(st->ops->close(st), PB_OK);
  pause_destroy(&p);
  pb__simfs_free(sim);
}

/* --- an fdatasync failure fails the group and what is built on it --- */

static void run_group_failure(bool crash) {
  pb__simfs *sim = pb__simfs_new();
  assert_non_null(sim);
  pause_ctl p;
  pause_init(&p);
  pb__simfs_set_sync_hook(sim, pause_hook, &p);
  pb_storage *st = must_open(sim, 0, PB_DURABILITY_SYNC);
  pb_atom_ptr r1, none = {0, 0, 0};
  uint64_t lsn;
  assert_int_equal(commit_on(st, 0, 1, none, &r1, &lsn), PB_OK);

  /* The leader A pauses; B, C, D append on it, each on the last. */
  enum { N = 4 };
  committer cm[N];
  pthread_t th[N];
  pb_atom_ptr head = r1;
  p.armed = true;
  for (int i = 0; i < N; i++) {
    start(&cm[i], &th[i], st, 10 + i, head);
    if (i == 0) pause_wait_entered(&p);
    head = wait_pending(st, 2 + (uint64_t)i);
  }
  /* The paused fdatasync (the hook runs before the fault is taken) fails. */
  pb__simfs_fail(sim, PB__SIMFS_DATASYNC, 1, PB_EIO, 0);
  pause_release(&p);
  for (int i = 0; i < N; i++) {
    pthread_join(th[i], NULL);
    assert_int_equal(cm[i].rc, PB_EIO);
  }
  pb_atom_ptr root;
  assert_int_equal(st->ops->read_root(st, &root, &lsn), PB_OK);
  assert_int_equal(lsn, 1);
  assert_true(pb_atom_ptr_equal(root, r1));
  pb_bytes v;
  for (int i = 0; i < N; i++)
    assert_int_equal(st->ops->read_atom(st, cm[i].ptr, &v), PB_ENOTFOUND);
  check_atom(st, 0, 1, r1);
  char msg[512];
  pb__storage_errmsg(st, msg, sizeof msg);
  assert_non_null(strstr(msg, "fdatasync"));
  /* The store is failed; even on the old pending head. */
  pb_atom_ptr r;
  assert_int_equal(commit_on(st, 20, 0, r1, &r, &lsn), PB_EFAILED);
  assert_int_equal(commit_on(st, 20, 0, head, &r, &lsn), PB_EFAILED);
  if (crash) pb__simfs_crash(sim, 42);
  st->ops->close(st);
  if (crash) pb__simfs_revive(sim);

  /* After a reopen: commit 1 is there; the failed ones form a prefix of
   * A, B, C, D, each whole (unknown outcome: without a power cut the
   * simulated page cache still holds them, so they usually come back). */
  st = must_open(sim, 0, PB_DURABILITY_SYNC);
  assert_int_equal(st->ops->read_root(st, &root, &lsn), PB_OK);
  assert_true(lsn >= 1 && lsn <= 1 + N);
  check_atom(st, 0, 1, r1);
  for (int i = 0; i < N; i++) {
    if ((uint64_t)i + 2 <= lsn)
      check_atom(st, 10 + i, 0, cm[i].ptr);
    else
      assert_int_equal(st->ops->read_atom(st, cm[i].ptr, &v), PB_ENOTFOUND);
  }
  print_message("  %s: reopened at LSN %" PRIu64 " (1 acknowledged, %d "
                "failed)\n", crash ? "power cut" : "no power cut", lsn, N);
  /* And the store works again. */
  pb__simfs_set_sync_hook(sim, NULL, NULL);
  assert_int_equal(commit_on(st, 30, 0, root, &r, &lsn), PB_OK);
  assert_int_equal(st->ops->close(st), PB_OK);
  pause_destroy(&p);
  pb__simfs_free(sim);
}

static void test_group_failure(void **state) {
  (void)state;
  run_group_failure(false);
  run_group_failure(true);
}

/* --- NONE publishes at once; GROUP costs one sync alone --- */

static void test_modes_single(void **state) {
  (void)state;
  const pb_durability modes[] = {PB_DURABILITY_SYNC, PB_DURABILITY_GROUP,
                                 PB_DURABILITY_NONE};
  for (int m = 0; m < 3; m++) {
    pb__simfs *sim = pb__simfs_new();
    assert_non_null(sim);
    pb_storage *st = must_open(sim, 0, modes[m]);
    pb__simfs_reset_counts(sim);
    pb_atom_ptr head = {0, 0, 0};
    for (int k = 0; k < 20; k++) {
      pb_atom_ptr r;
      uint64_t lsn;
      assert_int_equal(commit_on(st, 0, k, head, &r, &lsn), PB_OK);
      head = r;
      pb_atom_ptr root;
      assert_int_equal(st->ops->read_root(st, &root, &lsn), PB_OK);
      assert_true(pb_atom_ptr_equal(root, r)); /* published on return */
    }
    pb__simfs_counts cnt;
    pb__simfs_counts_get(sim, &cnt);
    assert_int_equal(cnt.datasync, modes[m] == PB_DURABILITY_NONE ? 0 : 20);
    assert_int_equal(st->ops->close(st), PB_OK);
    pb__simfs_free(sim);
  }
}

/* --- Transactions share fdatasyncs too (pb_txn_commit on the pending head) --- */

typedef struct txn_worker {
  pb_db *db;   /* this thread's own database */
  int t;       /* thread number */
} txn_worker;

static void *txn_worker_main(void *arg) {
  txn_worker *w = arg;
  for (int k = 1; k <= PER_THREAD; k++) {
    pb_txn *txn;
    pb_value v = {.kind = PB_VALUE_INT, .as.i = k};
    if (pb_txn_begin(w->db, 0, &txn) != PB_OK || pb_txn_set(txn, "n", &v) ||
        pb_txn_commit(txn) != PB_OK) {
      fprintf(stderr, "txn worker %d: commit %d failed\n", w->t, k);
      abort();
    }
  }
  return NULL;
}

/* 8 threads each commit 50 transactions to their own database, on a slow
 * disk: transactions rebase on the pending head, so they share syncs, and
 * every database ends at exactly 50, also after a reopen. */
static void test_txn_commits_share_syncs(void **state) {
  (void)state;
  pb__simfs *sim = pb__simfs_new();
  assert_non_null(sim);
  slow_ctl c = {.n = 0};
  pthread_mutex_init(&c.mu, NULL);
  pb_storage *st = must_open(sim, 1u << 20, PB_DURABILITY_SYNC);
  pb_space *sp;
  assert_int_equal(pb_space_open(st, &sp), PB_OK);
  static txn_worker w[NTHREADS];
  pthread_t th[NTHREADS];
  for (int t = 0; t < NTHREADS; t++) {
    char name[16];
    snprintf(name, sizeof name, "db%d", t);
    w[t].t = t;
    assert_int_equal(pb_db_open(sp, name, PB_CREATE, &w[t].db), PB_OK);
  }
  pb__simfs_set_sync_hook(sim, slow_hook, &c);
  pb__simfs_reset_counts(sim);
  for (int t = 0; t < NTHREADS; t++)
    assert_int_equal(pthread_create(&th[t], NULL, txn_worker_main, &w[t]), 0);
  for (int t = 0; t < NTHREADS; t++) pthread_join(th[t], NULL);
  pb__simfs_counts cnt;
  pb__simfs_counts_get(sim, &cnt);
  const int total = NTHREADS * PER_THREAD;
  print_message("  pb_txn: %d commits, %" PRIu64 " fdatasyncs, %.3f per "
                "commit\n", total, cnt.datasync, (double)cnt.datasync / total);
  assert_true(cnt.datasync < (uint64_t)total / 2);
  pb__simfs_set_sync_hook(sim, NULL, NULL);
  for (int t = 0; t < NTHREADS; t++) pb_db_close(w[t].db);
  assert_int_equal(pb_space_close(sp), PB_OK);

  /* Reopen on the same disk: every database holds its last value. */
  st = must_open(sim, 1u << 20, PB_DURABILITY_SYNC);
  assert_int_equal(pb_space_open(st, &sp), PB_OK);
  for (int t = 0; t < NTHREADS; t++) {
    char name[16];
    snprintf(name, sizeof name, "db%d", t);
    pb_db *db;
    pb_txn *txn;
    pb_value v;
    assert_int_equal(pb_db_open(sp, name, 0, &db), PB_OK);
    assert_int_equal(pb_txn_begin(db, PB_RDONLY, &txn), PB_OK);
    assert_int_equal(pb_txn_get(txn, "n", &v), PB_OK);
    assert_int_equal(v.as.i, PER_THREAD);
    pb_txn_abort(txn);
    pb_db_close(db);
  }
  assert_int_equal(pb_space_close(sp), PB_OK);
  pthread_mutex_destroy(&c.mu);
  pb__simfs_free(sim);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_modes_single),
      cmocka_unit_test(test_paused_leader),
      cmocka_unit_test(test_group_failure),
      cmocka_unit_test(test_shared_syncs),
      cmocka_unit_test(test_txn_commits_share_syncs),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
