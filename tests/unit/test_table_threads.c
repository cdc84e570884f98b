/*
 * test_table_threads.c - typed tables under concurrency, at the defaults
 * a user gets (file storage, PB_DURABILITY_SYNC): 8 threads each insert
 * their own rows and update a shared set of rows (a read, an increment, an
 * update) through pb_txn_run.  Afterwards, and after a reopen, the state
 * is exact: every insert is there once, every increment counted, and the
 * indexes (a plain one on the counter, a composite one, a unique one on
 * the name) agree with the rows (pb_table_check).  Also under TSan (label
 * threads).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "protobase/protobase.h"
#include "protobase/table.h"
#include "test_util.h"
#include "tprop.pb.h"

#define THREADS 8
#define INSERTS 60 /* per thread */
#define SHARED 6   /* rows every thread updates */
#define BUMPS 30   /* updates per thread */

/* The generated table of tprop.KU: key k, indexes by_grp (grp),
 * by_grp_score (grp, score) and by_name (name) [unique]. */
static const pb_table_def *const T = &tprop_KU_table;

static pb_db *g_db;

typedef struct job {
  unsigned thread, i;
  char name[32];
} job;

static int do_insert(pb_txn *txn, void *arg) {
  job *j = arg;
  tprop_KU r;
  tprop_KU_init(&r);
  r.k = 1000 + j->thread * INSERTS + j->i;
  r.grp = -1;
  r.score = j->i;
  snprintf(j->name, sizeof j->name, "t%u-%u", j->thread, j->i);
  r.name = pb_str_from_cstr(j->name);
  return pb_table_insert(txn, T, &r, NULL);
}

static int do_bump(pb_txn *txn, void *arg) {
  job *j = arg;
  pb_keybuf kb;
  pb_keybuf_init(&kb);
  pb_key_put_u64(&kb, j->i % SHARED);
  tprop_KU r;
  int rc = pb_table_get(txn, T, pb_keybuf_bytes(&kb), &r);
  pb_keybuf_free(&kb);
  if (rc != PB_OK) return rc;
  r.grp++;
  r.score += 0.5;
  return pb_table_update(txn, T, &r);
}

static void *worker(void *arg) {
  unsigned t = (unsigned)(uintptr_t)arg;
  for (unsigned i = 0; i < INSERTS; i++) {
    job j = {t, i, ""};
    int rc = pb_txn_run(g_db, do_insert, &j, PB_TXN_RUN_RETRIES);
    if (rc != PB_OK) return (void *)(intptr_t)rc;
    if (i < BUMPS) {
      job b = {t, i + t, ""};
      rc = pb_txn_run(g_db, do_bump, &b, PB_TXN_RUN_RETRIES);
      if (rc != PB_OK) return (void *)(intptr_t)rc;
    }
  }
  return NULL;
}

static int seed(pb_txn *txn, void *arg) {
  (void)arg;
  for (unsigned s = 0; s < SHARED; s++) {
    tprop_KU r;
    tprop_KU_init(&r);
    r.k = s;
    char name[16];
    snprintf(name, sizeof name, "shared-%u", s);
    r.name = pb_str_from_cstr(name);
    int rc = pb_table_insert(txn, T, &r, NULL);
    if (rc != PB_OK) return rc;
  }
  return PB_OK;
}

static void check_state(pb_db *db) {
  pb_txn *t;
  assert_int_equal(pb_txn_begin(db, PB_RDONLY, &t), PB_OK);
  uint64_t n;
  assert_int_equal(pb_table_count(t, T, &n), PB_OK);
  assert_int_equal(n, SHARED + THREADS * INSERTS);
  assert_int_equal(pb_table_check(t, T), PB_OK);
  /* every bump counted: the shared rows' counters sum to all bumps */
  long total = 0;
  double scores = 0;
  pb_keybuf kb;
  pb_keybuf_init(&kb);
  for (unsigned s = 0; s < SHARED; s++) {
    pb_keybuf_reset(&kb);
    pb_key_put_u64(&kb, s);
    tprop_KU r;
    assert_int_equal(pb_table_get(t, T, pb_keybuf_bytes(&kb), &r), PB_OK);
    total += r.grp;
    scores += r.score;
  }
  assert_int_equal(total, THREADS * BUMPS);
  assert_true(scores == 0.5 * THREADS * BUMPS);
  /* every insert there once: through the by_grp index (grp -1) */
  pb_keybuf_reset(&kb);
  pb_key_put_i32(&kb, -1);
  pb_cursor *c;
  assert_int_equal(pb_table_find(t, T, 0, pb_keybuf_bytes(&kb), &c), PB_OK);
  tprop_KU r;
  uint64_t seen = 0, prev = 0;
  int rc;
  while ((rc = pb_cursor_next(c, &r, NULL)) == PB_OK) {
    assert_true(r.k >= 1000 && r.k > prev); /* by primary key */
    prev = r.k;
    seen++;
  }
  assert_int_equal(rc, PB_ENOTFOUND);
  assert_int_equal(seen, THREADS * INSERTS);
  pb_cursor_close(c);
  pb_keybuf_free(&kb);
  assert_int_equal(pb_txn_abort(t), PB_OK);
}

static void eight_writers(void **state) {
  (void)state;
  char *dir = pb_test_tmpdir();
  pb_storage *st;
  pb_space *sp;
  assert_int_equal(pb_storage_open_file(dir, NULL, &st), PB_OK);
  assert_int_equal(pb_space_open(st, &sp), PB_OK);
  assert_int_equal(pb_db_open(sp, "t", PB_CREATE, &g_db), PB_OK);
  assert_int_equal(pb_txn_run(g_db, seed, NULL, PB_TXN_RUN_RETRIES), PB_OK);
  pthread_t th[THREADS];
  for (unsigned t = 0; t < THREADS; t++)
    assert_int_equal(pthread_create(&th[t], NULL, worker,
                                    (void *)(uintptr_t)t),
                     0);
  for (unsigned t = 0; t < THREADS; t++) {
    void *ret;
    assert_int_equal(pthread_join(th[t], &ret), 0);
    assert_int_equal((int)(intptr_t)ret, PB_OK);
  }
  check_state(g_db);
  assert_int_equal(pb_db_close(g_db), PB_OK);
  assert_int_equal(pb_space_close(sp), PB_OK);
  assert_int_equal(pb_storage_open_file(dir, NULL, &st), PB_OK);
  assert_int_equal(pb_space_open(st, &sp), PB_OK);
  assert_int_equal(pb_db_open(sp, "t", 0, &g_db), PB_OK);
  check_state(g_db);
  assert_int_equal(pb_db_close(g_db), PB_OK);
  assert_int_equal(pb_space_close(sp), PB_OK);
  pb_test_rmdir(dir);
}

int main(void) {
  const struct CMUnitTest tests[] = {cmocka_unit_test(eight_writers)};
  return cmocka_run_group_tests(tests, NULL, NULL);
}
