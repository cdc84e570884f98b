/*
 * test_txn_combine.c - combined commits (txn.c, "Combined commits"):
 * commits through one database handle that wait for the handle's turn to
 * publish are absorbed by the commit whose turn it is, when they can be,
 * and share its flush and append.  Under the defaults a user gets (a file
 * storage in PB_DURABILITY_SYNC), on the simulated disk.
 *
 * Each scenario holds commit A in its turn (the test hook), lets the
 * other commits queue behind it, then lets A go:
 *
 *   absorbs_a_waiting_commit
 *        B puts another key of the same Dictionary: A absorbs B; both are
 *        committed by ONE append (the pending LSN moves by one), the space
 *        counts 2 commits and 1 combined, a new reader sees both, and a
 *        reopened store too.
 *   absorbs_into_a_collection_it_did_not_open
 *        B changes Dictionary "e", which A never opened, and removes a
 *        key: absorbed, and applied.
 *   conflicting_commit_is_not_absorbed
 *        A and B put the same key from the same snapshot: B is not
 *        absorbed, commits on its own when its turn comes, and gets
 *        PB_ECONFLICT (the first committer wins, as without combining).
 *   second_waiter_conflicts_with_the_first
 *        B1 and B2 both put key k (same snapshot): B1 is absorbed, B2 is
 *        not (B1 changed k first) and gets PB_ECONFLICT.
 *   shapes_that_are_not_absorbed_commit_alone
 *        B appends to a List (not absorbed: any concurrent List change
 *        conflicts, so it is replayed by a rebase of its own); C writes
 *        more than the absorbed bytes bound: both commit on their own,
 *        PB_OK, nothing combined.
 *   absorbed_commit_shares_a_failed_sync
 *        the fdatasync of A's append fails: A and the absorbed B both get
 *        PB_EIO, a new reader sees neither, and the store refuses writes.
 *   commit_drops_the_nodes_it_replaced
 *        a commit that changes a Dictionary of 2000 keys replaces its root:
 *        the old root, cached by a read before, leaves the object cache,
 *        and the new one is there (written through).
 *   threads_exact_state
 *        8 threads, pb_txn_run: each inserts its own keys and increments
 *        shared counters in one Dictionary; the final state is exact.
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
#include "cache/cache.h"
#include "support/simfs.h"
#include "txn/space.h"
#include "txn/txn_int.h"

static void sleep_ms(unsigned ms) {
  struct timespec ts = {(time_t)(ms / 1000), (long)(ms % 1000) * 1000000L};
  nanosleep(&ts, NULL);
}

/* --- the hook: holds the first commit that takes the turn --- */

static pthread_mutex_t hook_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t hook_cv = PTHREAD_COND_INITIALIZER;
static bool hook_armed, hook_entered, hook_open;

static void turn_hook(pb_txn *txn) {
  (void)txn;
  pthread_mutex_lock(&hook_mu);
  if (hook_armed) {
    hook_armed = false;
    hook_entered = true;
    pthread_cond_broadcast(&hook_cv);
    while (!hook_open) pthread_cond_wait(&hook_cv, &hook_mu);
  }
  pthread_mutex_unlock(&hook_mu);
}

static void hook_arm(void) {
  pthread_mutex_lock(&hook_mu);
  hook_armed = true;
  hook_entered = hook_open = false;
  pthread_mutex_unlock(&hook_mu);
  pb__txn_turn_hook = turn_hook;
}

static void hook_wait_entered(void) {
  pthread_mutex_lock(&hook_mu);
  while (!hook_entered) pthread_cond_wait(&hook_cv, &hook_mu);
  pthread_mutex_unlock(&hook_mu);
}

static void hook_release(void) {
  pthread_mutex_lock(&hook_mu);
  hook_open = true;
  pthread_cond_broadcast(&hook_cv);
  pthread_mutex_unlock(&hook_mu);
}

/* --- the store --- */

typedef struct fixture {
  pb__simfs *sim;
  pb_storage *st;
  pb_space *sp;
  pb_db *db;
} fixture;

static void fx_open(fixture *x, bool fresh) {
  if (fresh) {
    memset(x, 0, sizeof *x);
    x->sim = pb__simfs_new();
    assert_non_null(x->sim);
  }
  pb_file_options o;
  pb_file_options_init(&o); /* SYNC, the default */
  char err[256];
  assert_int_equal(pb__file_storage_open("/db", &o, pb__simfs_io(x->sim), err,
                                         sizeof err, &x->st),
                   PB_OK);
  assert_int_equal(pb_space_open(x->st, &x->sp), PB_OK);
  assert_int_equal(pb_db_open(x->sp, "main", PB_CREATE, &x->db), PB_OK);
}

static void fx_shut(fixture *x) {
  pb_db_close(x->db);
  pb_space_close(x->sp);
}

static void fx_close(fixture *x) {
  pb__txn_turn_hook = NULL;
  fx_shut(x);
  pb__simfs_free(x->sim);
}

static uint64_t pending_lsn(fixture *x) {
  pb_atom_ptr head;
  uint64_t lsn;
  pb__file_pending_root(x->st, &head, &lsn);
  return lsn;
}

static pb_space_stats stats(fixture *x) {
  pb_space_stats s;
  assert_int_equal(pb_space_stats_get(x->sp, &s), PB_OK);
  return s;
}

/* Puts name=i into Dictionary `dict` of txn (created when missing). */
static void put_int(pb_txn *txn, const char *dict, const char *name,
                    int64_t i) {
  pb_dict *d;
  assert_int_equal(pb_txn_open_dict(txn, dict, PB_CREATE, &d), PB_OK);
  pb_value v = {.kind = PB_VALUE_INT, .as.i = i};
  assert_int_equal(pb_dict_put(d, pb_str_from_cstr(name), &v), PB_OK);
}

/* What a new read transaction finds at dict[name]: the integer, or -1
 * when missing. */
static int64_t read_int(fixture *x, const char *dict, const char *name) {
  pb_txn *t;
  pb_dict *d;
  pb_value v;
  int64_t out = -1;
  assert_int_equal(pb_txn_begin(x->db, PB_RDONLY, &t), PB_OK);
  int rc = pb_txn_open_dict(t, dict, 0, &d);
  if (rc == PB_OK) rc = pb_dict_get(d, pb_str_from_cstr(name), &v);
  if (rc == PB_OK) {
    assert_int_equal(v.kind, PB_VALUE_INT);
    out = v.as.i;
  } else {
    assert_int_equal(rc, PB_ENOTFOUND);
  }
  pb_txn_abort(t);
  return out;
}

/* A write transaction of x's database. */
static pb_txn *writer(fixture *x) {
  pb_txn *t;
  assert_int_equal(pb_txn_begin(x->db, 0, &t), PB_OK);
  return t;
}

/* Opens a fresh store whose Dictionary "d" holds key = 0, committed; the
 * space's counters after that commit. */
static pb_space_stats fx_seeded(fixture *x, const char *key) {
  fx_open(x, true);
  pb_txn *t = writer(x);
  put_int(t, "d", key, 0);
  assert_int_equal(pb_txn_commit(t), PB_OK);
  return stats(x);
}

/* A commit on a thread of its own. */
typedef struct committer {
  pb_txn *txn;
  int rc;
  pthread_t th;
} committer;

static void *commit_main(void *arg) {
  committer *c = arg;
  c->rc = pb_txn_commit(c->txn);
  return NULL;
}

static void commit_start(committer *c, pb_txn *txn) {
  c->txn = txn;
  c->rc = 1;
  assert_int_equal(pthread_create(&c->th, NULL, commit_main, c), 0);
}

static int commit_join(committer *c) {
  pthread_join(c->th, NULL);
  return c->rc;
}

/* Waits (up to 20 s) until `n` commits wait for db's turn. */
static void wait_queued(pb_db *db, size_t n) {
  for (int i = 0; i < 20000 && pb__txn_turn_waiting(db) < n; i++)
    sleep_ms(1);
  assert_int_equal(pb__txn_turn_waiting(db), n);
}

/* Commits `a` on a thread held in its turn, then each of `others` (in
 * order, each queued before the next starts), then lets `a` go; the
 * results in rc[0] (a) and rc[1..]. */
static void run_held(fixture *x, pb_txn *a, pb_txn **others, size_t n,
                     int *rc) {
  committer ca, cb[4];
  assert_true(n <= 4);
  hook_arm();
  commit_start(&ca, a);
  hook_wait_entered();
  for (size_t i = 0; i < n; i++) {
    commit_start(&cb[i], others[i]);
    wait_queued(x->db, i + 1);
  }
  hook_release();
  rc[0] = commit_join(&ca);
  for (size_t i = 0; i < n; i++) rc[i + 1] = commit_join(&cb[i]);
  pb__txn_turn_hook = NULL;
}

/* --- scenarios --- */

static void absorbs_a_waiting_commit(void **state) {
  (void)state;
  fixture x;
  pb_space_stats s0 = fx_seeded(&x, "seed");
  uint64_t lsn0 = pending_lsn(&x);

  pb_txn *a = writer(&x), *b = writer(&x);
  put_int(a, "d", "a", 1);
  put_int(b, "d", "b", 2);
  int rc[2];
  run_held(&x, a, &b, 1, rc);
  assert_int_equal(rc[0], PB_OK);
  assert_int_equal(rc[1], PB_OK);
  pb_space_stats s1 = stats(&x);
  assert_int_equal(s1.commits - s0.commits, 2);
  assert_int_equal(s1.combined - s0.combined, 1);
  assert_int_equal(pending_lsn(&x) - lsn0, 1); /* one append for both */
  assert_int_equal(read_int(&x, "d", "a"), 1);
  assert_int_equal(read_int(&x, "d", "b"), 2);
  assert_int_equal(read_int(&x, "d", "seed"), 0);

  fx_shut(&x); /* durable: a reopened store has both */
  fx_open(&x, false);
  assert_int_equal(read_int(&x, "d", "a"), 1);
  assert_int_equal(read_int(&x, "d", "b"), 2);
  fx_close(&x);
}

static void absorbs_into_a_collection_it_did_not_open(void **state) {
  (void)state;
  fixture x;
  fx_open(&x, true);
  pb_txn *t = writer(&x);
  put_int(t, "d", "seed", 0);
  put_int(t, "e", "gone", 7);
  put_int(t, "e", "kept", 8);
  assert_int_equal(pb_txn_commit(t), PB_OK);
  pb_space_stats s0 = stats(&x);

  pb_txn *a = writer(&x), *b = writer(&x);
  put_int(a, "d", "a", 1);
  put_int(b, "e", "new", 9);
  pb_dict *e;
  assert_int_equal(pb_txn_open_dict(b, "e", 0, &e), PB_OK);
  assert_int_equal(pb_dict_remove(e, pb_str_from_cstr("gone")), PB_OK);
  int rc[2];
  run_held(&x, a, &b, 1, rc);
  assert_int_equal(rc[0], PB_OK);
  assert_int_equal(rc[1], PB_OK);
  assert_int_equal(stats(&x).combined - s0.combined, 1);
  assert_int_equal(read_int(&x, "d", "a"), 1);
  assert_int_equal(read_int(&x, "e", "new"), 9);
  assert_int_equal(read_int(&x, "e", "gone"), -1);
  assert_int_equal(read_int(&x, "e", "kept"), 8);
  fx_close(&x);
}

static void conflicting_commit_is_not_absorbed(void **state) {
  (void)state;
  fixture x;
  pb_space_stats s0 = fx_seeded(&x, "k");

  pb_txn *a = writer(&x), *b = writer(&x);
  put_int(a, "d", "k", 1);
  put_int(b, "d", "k", 2);
  int rc[2];
  run_held(&x, a, &b, 1, rc);
  assert_int_equal(rc[0], PB_OK);
  assert_int_equal(rc[1], PB_ECONFLICT);
  pb_space_stats s1 = stats(&x);
  assert_int_equal(s1.combined - s0.combined, 0);
  assert_int_equal(s1.conflicts - s0.conflicts, 1);
  assert_int_equal(read_int(&x, "d", "k"), 1);
  fx_close(&x);
}

static void second_waiter_conflicts_with_the_first(void **state) {
  (void)state;
  fixture x;
  pb_space_stats s0 = fx_seeded(&x, "k");

  pb_txn *a = writer(&x), *b[2];
  b[0] = writer(&x);
  b[1] = writer(&x);
  put_int(a, "d", "a", 1);
  put_int(b[0], "d", "k", 10);
  put_int(b[1], "d", "k", 20);
  int rc[3];
  run_held(&x, a, b, 2, rc);
  assert_int_equal(rc[0], PB_OK);
  assert_int_equal(rc[1], PB_OK);
  assert_int_equal(rc[2], PB_ECONFLICT);
  assert_int_equal(stats(&x).combined - s0.combined, 1);
  assert_int_equal(read_int(&x, "d", "a"), 1);
  assert_int_equal(read_int(&x, "d", "k"), 10);
  fx_close(&x);
}

static void shapes_that_are_not_absorbed_commit_alone(void **state) {
  (void)state;
  fixture x;
  fx_open(&x, true);
  pb_txn *t = writer(&x);
  put_int(t, "d", "seed", 0);
  pb_list *l;
  assert_int_equal(pb_txn_open_list(t, "l", PB_CREATE, &l), PB_OK);
  assert_int_equal(pb_txn_commit(t), PB_OK);
  pb_space_stats s0 = stats(&x);

  pb_txn *a = writer(&x), *b[2];
  b[0] = writer(&x);
  b[1] = writer(&x);
  put_int(a, "d", "a", 1);
  assert_int_equal(pb_txn_open_list(b[0], "l", 0, &l), PB_OK);
  pb_value one = {.kind = PB_VALUE_INT, .as.i = 1};
  assert_int_equal(pb_list_append(l, &one), PB_OK);
  /* More key and value bytes than one absorbed commit may carry. */
  static uint8_t big[PB__ABSORB_MAX_BYTES + 1];
  memset(big, 'x', sizeof big);
  pb_dict *d;
  assert_int_equal(pb_txn_open_dict(b[1], "d", 0, &d), PB_OK);
  pb_value v = {.kind = PB_VALUE_BYTES, .as.bytes = {big, sizeof big}};
  assert_int_equal(pb_dict_put(d, pb_str_from_cstr("big"), &v), PB_OK);
  int rc[3];
  run_held(&x, a, b, 2, rc);
  assert_int_equal(rc[0], PB_OK);
  assert_int_equal(rc[1], PB_OK);
  assert_int_equal(rc[2], PB_OK);
  pb_space_stats s1 = stats(&x);
  assert_int_equal(s1.combined - s0.combined, 0);
  assert_int_equal(s1.commits - s0.commits, 3);
  assert_int_equal(read_int(&x, "d", "a"), 1);
  pb_txn *r;
  uint64_t n;
  assert_int_equal(pb_txn_begin(x.db, PB_RDONLY, &r), PB_OK);
  assert_int_equal(pb_txn_open_list(r, "l", 0, &l), PB_OK);
  assert_int_equal(pb_list_count(l, &n), PB_OK);
  assert_int_equal(n, 1);
  assert_int_equal(pb_txn_open_dict(r, "d", 0, &d), PB_OK);
  assert_int_equal(pb_dict_get(d, pb_str_from_cstr("big"), &v), PB_OK);
  assert_int_equal(v.as.bytes.len, sizeof big);
  pb_txn_abort(r);
  fx_close(&x);
}

static void absorbed_commit_shares_a_failed_sync(void **state) {
  (void)state;
  fixture x;
  pb_space_stats s0 = fx_seeded(&x, "seed");

  pb_txn *a = writer(&x), *b = writer(&x);
  put_int(a, "d", "a", 1);
  put_int(b, "d", "b", 2);
  pb__simfs_fail(x.sim, PB__SIMFS_DATASYNC, 1, PB_EIO, 0);
  int rc[2];
  run_held(&x, a, &b, 1, rc);
  assert_int_equal(rc[0], PB_EIO);
  assert_int_equal(rc[1], PB_EIO);
  assert_int_equal(stats(&x).commits - s0.commits, 0);
  /* Neither was published (after a reopen, what the disk kept decides). */
  assert_int_equal(read_int(&x, "d", "seed"), 0);
  assert_int_equal(read_int(&x, "d", "a"), -1);
  assert_int_equal(read_int(&x, "d", "b"), -1);
  pb_txn *w = writer(&x); /* and the store refuses writes until reopened */
  put_int(w, "d", "c", 3);
  assert_int_equal(pb_txn_commit(w), PB_EFAILED);
  fx_close(&x);
}

/* --- what a commit replaced leaves the object cache --- */

/* The root of Dictionary "d" as a new read transaction sees it. */
static pb_atom_ptr dict_root(fixture *x) {
  pb_txn *t;
  pb_value v;
  assert_int_equal(pb_txn_begin(x->db, PB_RDONLY, &t), PB_OK);
  assert_int_equal(pb_txn_get(t, "d", &v), PB_OK);
  assert_int_equal(v.kind, PB_VALUE_DICT);
  pb_txn_abort(t);
  return v.as.ref;
}

static bool cached(fixture *x, pb_atom_ptr p) {
  pb__cache_key k = pb__cache_key_of(p, 0);
  pb__cache_handle *h = NULL;
  if (pb__cache_get(x->sp->objects, &k, &h) != PB_OK) return false;
  pb__cache_release(h);
  return true;
}

static void commit_drops_the_nodes_it_replaced(void **state) {
  (void)state;
  fixture x;
  fx_open(&x, true);
  pb_txn *t = writer(&x);
  for (int i = 0; i < 2000; i++) {
    char k[16];
    snprintf(k, sizeof k, "k%05d", i);
    put_int(t, "d", k, i);
  }
  assert_int_equal(pb_txn_commit(t), PB_OK);
  pb_atom_ptr r0 = dict_root(&x);
  assert_int_equal(read_int(&x, "d", "k00007"), 7); /* caches the root */
  assert_true(cached(&x, r0));
  t = writer(&x);
  put_int(t, "d", "k00008", 80);
  assert_int_equal(pb_txn_commit(t), PB_OK);
  pb_atom_ptr r1 = dict_root(&x);
  assert_false(pb_atom_ptr_equal(r0, r1));
  assert_false(cached(&x, r0)); /* replaced: dropped */
  assert_true(cached(&x, r1));  /* written through */
  assert_int_equal(read_int(&x, "d", "k00008"), 80);
  assert_int_equal(read_int(&x, "d", "k00007"), 7);
  fx_close(&x);
}

/* --- threads --- */

#define THREADS 8
#define PER_THREAD 150
#define COUNTERS 4

typedef struct worker {
  pb_db *db;
  int id;
  int rc;
} worker;

typedef struct step {
  int id, i;
} step;

static int step_fn(pb_txn *txn, void *arg) {
  const step *s = arg;
  pb_dict *d;
  int rc = pb_txn_open_dict(txn, "d", PB_CREATE, &d);
  if (rc != PB_OK) return rc;
  char key[32];
  snprintf(key, sizeof key, "t%d-%04d", s->id, s->i);
  pb_value v = {.kind = PB_VALUE_INT, .as.i = s->i};
  if ((rc = pb_dict_put(d, pb_str_from_cstr(key), &v)) != PB_OK) return rc;
  if (s->i % 3 != 0) return PB_OK;
  /* every third step also increments a shared counter */
  snprintf(key, sizeof key, "c%d", (s->id + s->i) % COUNTERS);
  pb_value c;
  rc = pb_dict_get(d, pb_str_from_cstr(key), &c);
  int64_t n = rc == PB_OK ? c.as.i : 0;
  if (rc != PB_OK && rc != PB_ENOTFOUND) return rc;
  c = (pb_value){.kind = PB_VALUE_INT, .as.i = n + 1};
  return pb_dict_put(d, pb_str_from_cstr(key), &c);
}

static void *worker_main(void *arg) {
  worker *w = arg;
  w->rc = PB_OK;
  for (int i = 0; i < PER_THREAD && w->rc == PB_OK; i++) {
    step s = {w->id, i};
    w->rc = pb_txn_run(w->db, step_fn, &s, PB_TXN_RUN_RETRIES);
  }
  return NULL;
}

static void threads_exact_state(void **state) {
  (void)state;
  fixture x;
  fx_open(&x, true);
  worker w[THREADS];
  pthread_t th[THREADS];
  for (int i = 0; i < THREADS; i++) {
    w[i] = (worker){x.db, i, 1};
    assert_int_equal(pthread_create(&th[i], NULL, worker_main, &w[i]), 0);
  }
  for (int i = 0; i < THREADS; i++) {
    pthread_join(th[i], NULL);
    assert_int_equal(w[i].rc, PB_OK);
  }
  int64_t want[COUNTERS] = {0};
  for (int id = 0; id < THREADS; id++)
    for (int i = 0; i < PER_THREAD; i += 3) want[(id + i) % COUNTERS]++;
  pb_txn *r;
  pb_dict *d;
  uint64_t n;
  assert_int_equal(pb_txn_begin(x.db, PB_RDONLY, &r), PB_OK);
  assert_int_equal(pb_txn_open_dict(r, "d", 0, &d), PB_OK);
  assert_int_equal(pb_dict_count(d, &n), PB_OK);
  assert_int_equal(n, THREADS * PER_THREAD + COUNTERS);
  for (int id = 0; id < THREADS; id++)
    for (int i = 0; i < PER_THREAD; i++) {
      char key[32];
      pb_value v;
      snprintf(key, sizeof key, "t%d-%04d", id, i);
      assert_int_equal(pb_dict_get(d, pb_str_from_cstr(key), &v), PB_OK);
      assert_int_equal(v.as.i, i);
    }
  for (int c = 0; c < COUNTERS; c++) {
    char key[8];
    pb_value v;
    snprintf(key, sizeof key, "c%d", c);
    assert_int_equal(pb_dict_get(d, pb_str_from_cstr(key), &v), PB_OK);
    assert_int_equal(v.as.i, want[c]);
  }
  pb_txn_abort(r);
  pb_space_stats s = stats(&x);
  printf("threads_exact_state: %" PRIu64 " commits, %" PRIu64
         " combined, %" PRIu64 " conflicts\n",
         s.commits, s.combined, s.conflicts);
  fx_close(&x);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(absorbs_a_waiting_commit),
      cmocka_unit_test(absorbs_into_a_collection_it_did_not_open),
      cmocka_unit_test(conflicting_commit_is_not_absorbed),
      cmocka_unit_test(second_waiter_conflicts_with_the_first),
      cmocka_unit_test(shapes_that_are_not_absorbed_commit_alone),
      cmocka_unit_test(absorbed_commit_shares_a_failed_sync),
      cmocka_unit_test(commit_drops_the_nodes_it_replaced),
      cmocka_unit_test(threads_exact_state),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
