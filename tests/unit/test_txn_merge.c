/*
 * test_txn_merge.c - merge-on-commit (SPEC 7) through the public API:
 * per-key merges of the database root and of nested Dictionaries, Set
 * merges per element, Lists that conflict on any concurrent change,
 * threads that merge (counted) and threads that retry through pb_txn_run,
 * readers that never see a broken invariant, database lifecycle, the
 * catalog's schema epochs across reopen, and the bytes a rebased commit
 * writes (one flush, not one per attempt).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <dirent.h>
#include <sys/stat.h>

#include "protobase/protobase.h"
#include "support/collstore.h"
#include "test_util.h"

/* The durability of the file storages: the default a user gets (SYNC),
 * or another one given as --durability=group|none. */
static pb_durability durability = PB_DURABILITY_SYNC;
/* --tiny: fanout 4 (pb_test_coll_args). */
static bool tiny;

static pb_space *open_space(const char *dir) {
  pb_storage *st;
  if (dir) {
    pb_file_options o;
    pb_file_options_init(&o);
    o.durability = durability;
    assert_int_equal(pb_storage_open_file(dir, &o, &st), PB_OK);
  } else {
    assert_int_equal(pb_storage_open_memory(&st), PB_OK);
  }
  pb_space *sp;
  assert_int_equal(pb_space_open(st, &sp), PB_OK);
  return sp;
}

static pb_db *open_db(pb_space *sp, const char *name) {
  pb_db *db;
  assert_int_equal(pb_db_open(sp, name, PB_CREATE, &db), PB_OK);
  return db;
}

static pb_value ival(int64_t i) {
  return (pb_value){.kind = PB_VALUE_INT, .as.i = i};
}

static int64_t get_int(pb_txn *txn, const char *name) {
  pb_value v;
  int rc = pb_txn_get(txn, name, &v);
  if (rc == PB_ENOTFOUND) return 0;
  assert_int_equal(rc, PB_OK);
  assert_int_equal(v.kind, PB_VALUE_INT);
  return v.as.i;
}

static void set_int(pb_txn *txn, const char *name, int64_t i) {
  pb_value v = ival(i);
  assert_int_equal(pb_txn_set(txn, name, &v), PB_OK);
}

/* --- merges of two transactions --- */

static void root_keys_merge(void **state) {
  (void)state;
  pb_space *sp = open_space(NULL);
  pb_db *db = open_db(sp, "main");
  pb_txn *a, *b, *r;
  assert_int_equal(pb_txn_begin(db, 0, &a), PB_OK);
  assert_int_equal(pb_txn_begin(db, 0, &b), PB_OK);
  set_int(a, "x", 1);
  set_int(b, "y", 2);
  assert_int_equal(pb_txn_commit(a), PB_OK);
  assert_int_equal(pb_txn_commit(b), PB_OK); /* merged: another key */
  assert_int_equal(pb_txn_begin(db, PB_RDONLY, &r), PB_OK);
  assert_int_equal(get_int(r, "x"), 1);
  assert_int_equal(get_int(r, "y"), 2);
  pb_txn_abort(r);
  /* Any write to a key the other side changed conflicts, even the same
   * value (two increments of 1 both write 2: merging would lose one). */
  assert_int_equal(pb_txn_begin(db, 0, &a), PB_OK);
  assert_int_equal(pb_txn_begin(db, 0, &b), PB_OK);
  set_int(a, "x", get_int(a, "x") + 1);
  set_int(b, "x", get_int(b, "x") + 1);
  assert_int_equal(pb_txn_commit(a), PB_OK);
  assert_int_equal(pb_txn_commit(b), PB_ECONFLICT);
  assert_int_equal(pb_txn_begin(db, PB_RDONLY, &r), PB_OK);
  assert_int_equal(get_int(r, "x"), 2);
  pb_txn_abort(r);
  assert_int_equal(pb_txn_begin(db, 0, &a), PB_OK);
  assert_int_equal(pb_txn_begin(db, 0, &b), PB_OK);
  set_int(a, "x", 6);
  assert_int_equal(pb_txn_remove(b, "x"), PB_OK);
  assert_int_equal(pb_txn_commit(a), PB_OK);
  assert_int_equal(pb_txn_commit(b), PB_ECONFLICT);
  pb_space_stats st;
  assert_int_equal(pb_space_stats_get(sp, &st), PB_OK);
  assert_true(st.merges >= 1);
  assert_int_equal(st.conflicts, 2);
  pb_db_close(db);
  pb_space_close(sp);
}

static void nested_dict_merges(void **state) {
  (void)state;
  pb_space *sp = open_space(NULL);
  pb_db *db = open_db(sp, "main");
  pb_txn *a, *b, *r;
  pb_dict *da, *db_, *dr;
  pb_value one = ival(1), two = ival(2);
  assert_int_equal(pb_txn_begin(db, 0, &a), PB_OK);
  assert_int_equal(pb_txn_open_dict(a, "users", PB_CREATE, &da), PB_OK);
  assert_int_equal(pb_dict_put(da, pb_str_from_cstr("base"), &one), PB_OK);
  assert_int_equal(pb_txn_commit(a), PB_OK);

  assert_int_equal(pb_txn_begin(db, 0, &a), PB_OK);
  assert_int_equal(pb_txn_begin(db, 0, &b), PB_OK);
  assert_int_equal(pb_txn_open_dict(a, "users", 0, &da), PB_OK);
  assert_int_equal(pb_txn_open_dict(b, "users", 0, &db_), PB_OK);
  pb_dict *inner;
  assert_int_equal(pb_dict_open_dict(da, pb_str_from_cstr("alice"),
                                     PB_CREATE, &inner), PB_OK);
  assert_int_equal(pb_dict_put(inner, pb_str_from_cstr("age"), &one), PB_OK);
  assert_int_equal(pb_dict_put(db_, pb_str_from_cstr("bob"), &two), PB_OK);
  assert_int_equal(pb_txn_commit(a), PB_OK);
  assert_int_equal(pb_txn_commit(b), PB_OK); /* different keys: merged */

  assert_int_equal(pb_txn_begin(db, PB_RDONLY, &r), PB_OK);
  assert_int_equal(pb_txn_open_dict(r, "users", 0, &dr), PB_OK);
  uint64_t n;
  assert_int_equal(pb_dict_count(dr, &n), PB_OK);
  assert_int_equal(n, 3);
  pb_value v;
  assert_int_equal(pb_dict_get(dr, pb_str_from_cstr("bob"), &v), PB_OK);
  assert_int_equal(v.as.i, 2);
  assert_int_equal(pb_dict_open_dict(dr, pb_str_from_cstr("alice"), 0,
                                     &inner), PB_OK);
  assert_int_equal(pb_dict_get(inner, pb_str_from_cstr("age"), &v), PB_OK);
  assert_int_equal(v.as.i, 1);
  /* A name of another kind. */
  pb_list *l;
  assert_int_equal(pb_txn_open_list(r, "users", 0, &l), PB_ESCHEMA);
  pb_txn_abort(r);

  /* Two transactions adding different keys to the same nested Dictionary
   * two levels down both commit. */
  assert_int_equal(pb_txn_begin(db, 0, &a), PB_OK);
  assert_int_equal(pb_txn_begin(db, 0, &b), PB_OK);
  pb_dict *ia, *ib;
  assert_int_equal(pb_txn_open_dict(a, "users", 0, &da), PB_OK);
  assert_int_equal(pb_dict_open_dict(da, pb_str_from_cstr("alice"), 0, &ia),
                   PB_OK);
  assert_int_equal(pb_txn_open_dict(b, "users", 0, &db_), PB_OK);
  assert_int_equal(pb_dict_open_dict(db_, pb_str_from_cstr("alice"), 0, &ib),
                   PB_OK);
  assert_int_equal(pb_dict_put(ia, pb_str_from_cstr("city"), &one), PB_OK);
  assert_int_equal(pb_dict_put(ib, pb_str_from_cstr("zip"), &two), PB_OK);
  assert_int_equal(pb_txn_commit(a), PB_OK);
  assert_int_equal(pb_txn_commit(b), PB_OK);
  assert_int_equal(pb_txn_begin(db, PB_RDONLY, &r), PB_OK);
  assert_int_equal(pb_txn_open_dict(r, "users", 0, &dr), PB_OK);
  assert_int_equal(pb_dict_open_dict(dr, pb_str_from_cstr("alice"), 0,
                                     &inner), PB_OK);
  assert_int_equal(pb_dict_count(inner, &n), PB_OK);
  assert_int_equal(n, 3); /* age, city, zip */
  pb_txn_abort(r);
  pb_db_close(db);
  pb_space_close(sp);
}

static void set_merges_per_element(void **state) {
  (void)state;
  pb_space *sp = open_space(NULL);
  pb_db *db = open_db(sp, "main");
  pb_value e = {.kind = PB_VALUE_STRING, .as.s = pb_str_from_cstr("tag")};
  pb_value f = ival(7);
  pb_txn *a, *b, *r;
  pb_set *sa, *sb, *sr;
  assert_int_equal(pb_txn_begin(db, 0, &a), PB_OK);
  assert_int_equal(pb_txn_open_set(a, "tags", PB_CREATE, &sa), PB_OK);
  assert_int_equal(pb_txn_commit(a), PB_OK);
  /* add and add of the same element: fine. */
  assert_int_equal(pb_txn_begin(db, 0, &a), PB_OK);
  assert_int_equal(pb_txn_begin(db, 0, &b), PB_OK);
  assert_int_equal(pb_txn_open_set(a, "tags", 0, &sa), PB_OK);
  assert_int_equal(pb_txn_open_set(b, "tags", 0, &sb), PB_OK);
  assert_int_equal(pb_set_add(sa, &e, NULL), PB_OK);
  assert_int_equal(pb_set_add(sb, &e, NULL), PB_OK);
  assert_int_equal(pb_set_add(sb, &f, NULL), PB_OK);
  assert_int_equal(pb_txn_commit(a), PB_OK);
  assert_int_equal(pb_txn_commit(b), PB_OK);
  assert_int_equal(pb_txn_begin(db, PB_RDONLY, &r), PB_OK);
  assert_int_equal(pb_txn_open_set(r, "tags", 0, &sr), PB_OK);
  uint64_t n;
  assert_int_equal(pb_set_count(sr, &n), PB_OK);
  assert_int_equal(n, 2);
  pb_txn_abort(r);
  /* add and remove of the same element: a conflict. */
  pb_value g = ival(8);
  assert_int_equal(pb_txn_begin(db, 0, &a), PB_OK);
  assert_int_equal(pb_txn_begin(db, 0, &b), PB_OK);
  assert_int_equal(pb_txn_open_set(a, "tags", 0, &sa), PB_OK);
  assert_int_equal(pb_txn_open_set(b, "tags", 0, &sb), PB_OK);
  assert_int_equal(pb_set_add(sa, &g, NULL), PB_OK);
  assert_int_equal(pb_set_remove(sb, &g), PB_ENOTFOUND); /* not there yet */
  assert_int_equal(pb_set_remove(sb, &e), PB_OK);
  assert_int_equal(pb_txn_commit(a), PB_OK);
  assert_int_equal(pb_txn_commit(b), PB_OK); /* e: only b touched it */
  assert_int_equal(pb_txn_begin(db, 0, &a), PB_OK);
  assert_int_equal(pb_txn_begin(db, 0, &b), PB_OK);
  assert_int_equal(pb_txn_open_set(a, "tags", 0, &sa), PB_OK);
  assert_int_equal(pb_txn_open_set(b, "tags", 0, &sb), PB_OK);
  assert_int_equal(pb_set_remove(sa, &g), PB_OK);
  assert_int_equal(pb_set_add(sb, &g, NULL), PB_OK); /* already there */
  assert_int_equal(pb_txn_commit(a), PB_OK);
  assert_int_equal(pb_txn_commit(b), PB_ECONFLICT);
  pb_db_close(db);
  pb_space_close(sp);
}

static void list_changes_conflict(void **state) {
  (void)state;
  pb_space *sp = open_space(NULL);
  pb_db *db = open_db(sp, "main");
  pb_txn *a, *b, *r;
  pb_list *la, *lb;
  pb_value one = ival(1), two = ival(2);
  assert_int_equal(pb_txn_begin(db, 0, &a), PB_OK);
  assert_int_equal(pb_txn_open_list(a, "log", PB_CREATE, &la), PB_OK);
  assert_int_equal(pb_list_append(la, &one), PB_OK);
  assert_int_equal(pb_txn_commit(a), PB_OK);
  assert_int_equal(pb_txn_begin(db, 0, &a), PB_OK);
  assert_int_equal(pb_txn_begin(db, 0, &b), PB_OK);
  assert_int_equal(pb_txn_open_list(a, "log", 0, &la), PB_OK);
  assert_int_equal(pb_txn_open_list(b, "log", 0, &lb), PB_OK);
  assert_int_equal(pb_list_append(la, &two), PB_OK);
  assert_int_equal(pb_list_append(lb, &two), PB_OK);
  set_int(b, "other", 1);
  assert_int_equal(pb_txn_commit(a), PB_OK);
  assert_int_equal(pb_txn_commit(b), PB_ECONFLICT);
  /* A transaction that only read the List merges. */
  assert_int_equal(pb_txn_begin(db, 0, &a), PB_OK);
  assert_int_equal(pb_txn_begin(db, 0, &b), PB_OK);
  assert_int_equal(pb_txn_open_list(a, "log", 0, &la), PB_OK);
  assert_int_equal(pb_txn_open_list(b, "log", 0, &lb), PB_OK);
  pb_value v;
  assert_int_equal(pb_list_get(lb, 1, &v), PB_OK);
  assert_int_equal(pb_list_append(la, &one), PB_OK);
  set_int(b, "other", 2);
  assert_int_equal(pb_txn_commit(a), PB_OK);
  assert_int_equal(pb_txn_commit(b), PB_OK);
  assert_int_equal(pb_txn_begin(db, PB_RDONLY, &r), PB_OK);
  assert_int_equal(pb_txn_open_list(r, "log", 0, &la), PB_OK);
  uint64_t n;
  assert_int_equal(pb_list_count(la, &n), PB_OK);
  assert_int_equal(n, 3); /* b did not overwrite a's append */
  assert_int_equal(get_int(r, "other"), 2);
  pb_txn_abort(r);
  pb_db_close(db);
  pb_space_close(sp);
}

/* --- threads --- */

#define THREADS 8
#define INCREMENTS 1000

typedef struct worker {
  pb_db *db;
  int id;
  atomic_uint *conflicts;
} worker;

/* Each thread increments its own key with plain commits: they all merge
 * (a conflict would be a bug: the keys differ). */
static void *own_key(void *arg) {
  worker *w = arg;
  char name[16];
  snprintf(name, sizeof name, "k%d", w->id);
  for (int i = 0; i < INCREMENTS; i++) {
    pb_txn *t;
    if (pb_txn_begin(w->db, 0, &t) != PB_OK) abort();
    pb_value v = ival(get_int(t, name) + 1);
    if (pb_txn_set(t, name, &v) != PB_OK) abort();
    if (pb_txn_commit(t) != PB_OK) atomic_fetch_add(w->conflicts, 1);
  }
  return NULL;
}

static void own_keys_merge(void **state) {
  (void)state;
  char *dir = pb_test_tmpdir();
  pb_space *sp = open_space(dir);
  pb_db *db = open_db(sp, "main");
  atomic_uint conflicts = 0;
  pthread_t th[THREADS];
  worker w[THREADS];
  for (int i = 0; i < THREADS; i++) {
    w[i] = (worker){db, i, &conflicts};
    assert_int_equal(pthread_create(&th[i], NULL, own_key, &w[i]), 0);
  }
  for (int i = 0; i < THREADS; i++) pthread_join(th[i], NULL);
  assert_int_equal(atomic_load(&conflicts), 0);
  pb_txn *r;
  assert_int_equal(pb_txn_begin(db, PB_RDONLY, &r), PB_OK);
  for (int i = 0; i < THREADS; i++) {
    char name[16];
    snprintf(name, sizeof name, "k%d", i);
    assert_int_equal(get_int(r, name), INCREMENTS);
  }
  pb_txn_abort(r);
  pb_space_stats st;
  assert_int_equal(pb_space_stats_get(sp, &st), PB_OK);
  print_message("own keys: %d threads x %d commits, %llu merged\n", THREADS,
                INCREMENTS, (unsigned long long)st.merges);
  assert_true(st.merges > 0);
  pb_db_close(db);
  pb_space_close(sp);
  pb_test_rmdir(dir);
}

static int increment(pb_txn *txn, void *arg) {
  (void)arg;
  pb_value v = ival(get_int(txn, "shared") + 1);
  return pb_txn_set(txn, "shared", &v);
}

static void *shared_key(void *arg) {
  worker *w = arg;
  for (int i = 0; i < INCREMENTS; i++)
    if (pb_txn_run(w->db, increment, NULL, PB_TXN_RUN_RETRIES) != PB_OK)
      atomic_fetch_add(w->conflicts, 1);
  return NULL;
}

/* Readers check that a + b stays 0 while writers move amounts. */
typedef struct inv_arg {
  pb_db *db;
  atomic_bool *stop;
  atomic_uint *broken, *checks;
} inv_arg;

static int transfer(pb_txn *txn, void *arg) {
  int64_t amount = *(int64_t *)arg;
  int rc = pb_txn_set(txn, "a", &(pb_value){.kind = PB_VALUE_INT,
                                           .as.i = get_int(txn, "a") - amount});
  if (rc == PB_OK)
    rc = pb_txn_set(txn, "b", &(pb_value){.kind = PB_VALUE_INT,
                                         .as.i = get_int(txn, "b") + amount});
  return rc;
}

static void *invariant_reader(void *arg) {
  inv_arg *a = arg;
  while (!atomic_load(a->stop)) {
    pb_txn *r;
    if (pb_txn_begin(a->db, PB_RDONLY, &r) != PB_OK) abort();
    if (get_int(r, "a") + get_int(r, "b") != 0) atomic_fetch_add(a->broken, 1);
    pb_txn_abort(r);
    atomic_fetch_add(a->checks, 1);
  }
  return NULL;
}

static void *transfers(void *arg) {
  worker *w = arg;
  for (int i = 0; i < INCREMENTS / 4; i++) {
    int64_t amount = w->id + i % 7;
    if (pb_txn_run(w->db, transfer, &amount, PB_TXN_RUN_RETRIES) != PB_OK)
      atomic_fetch_add(w->conflicts, 1);
  }
  return NULL;
}

static void shared_key_and_invariant(void **state) {
  (void)state;
  char *dir = pb_test_tmpdir();
  pb_space *sp = open_space(dir);
  pb_db *db = open_db(sp, "main");
  atomic_uint failures = 0, broken = 0, checks = 0;
  atomic_bool stop = false;
  pthread_t th[THREADS], rd[2];
  worker w[THREADS];
  for (int i = 0; i < THREADS; i++) {
    w[i] = (worker){db, i, &failures};
    assert_int_equal(pthread_create(&th[i], NULL, shared_key, &w[i]), 0);
  }
  for (int i = 0; i < THREADS; i++) pthread_join(th[i], NULL);
  assert_int_equal(atomic_load(&failures), 0);
  pb_txn *r;
  assert_int_equal(pb_txn_begin(db, PB_RDONLY, &r), PB_OK);
  assert_int_equal(get_int(r, "shared"), THREADS * INCREMENTS);
  pb_txn_abort(r);
  pb_space_stats st;
  assert_int_equal(pb_space_stats_get(sp, &st), PB_OK);
  print_message("shared key: %d increments, %llu retries, %llu under the "
                "writer lock\n", THREADS * INCREMENTS,
                (unsigned long long)st.retries,
                (unsigned long long)st.locked_runs);

  inv_arg ia = {db, &stop, &broken, &checks};
  for (int i = 0; i < 2; i++)
    assert_int_equal(pthread_create(&rd[i], NULL, invariant_reader, &ia), 0);
  for (int i = 0; i < 4; i++)
    assert_int_equal(pthread_create(&th[i], NULL, transfers, &w[i]), 0);
  for (int i = 0; i < 4; i++) pthread_join(th[i], NULL);
  atomic_store(&stop, true);
  for (int i = 0; i < 2; i++) pthread_join(rd[i], NULL);
  print_message("invariant: %u checks by 2 readers during %d transfers, %u "
                "broken\n", atomic_load(&checks), 4 * (INCREMENTS / 4),
                atomic_load(&broken));
  assert_int_equal(atomic_load(&broken), 0);
  assert_int_equal(atomic_load(&failures), 0);
  assert_true(atomic_load(&checks) > 0);
  pb_db_close(db);
  pb_space_close(sp);
  pb_test_rmdir(dir);
}

/* --- databases --- */

static int collect(void *arg, const char *name) {
  char *buf = arg;
  strcat(buf, name);
  strcat(buf, ";");
  return 0;
}

typedef struct two_dbs {
  pb_db *db;
  atomic_uint *failures;
} two_dbs;

static void *db_writer(void *arg) {
  two_dbs *t = arg;
  for (int i = 0; i < 300; i++) {
    pb_txn *txn;
    if (pb_txn_begin(t->db, 0, &txn) != PB_OK) abort();
    pb_value v = ival(get_int(txn, "n") + 1);
    if (pb_txn_set(txn, "n", &v) != PB_OK) abort();
    if (pb_txn_commit(txn) != PB_OK) atomic_fetch_add(t->failures, 1);
  }
  return NULL;
}

static void database_lifecycle(void **state) {
  (void)state;
  pb_space *sp = open_space(NULL);
  pb_db *x = open_db(sp, "x"), *y = open_db(sp, "y"), *z = open_db(sp, "z");
  char names[64] = "";
  assert_int_equal(pb_space_list(sp, collect, names), PB_OK);
  assert_string_equal(names, "x;y;z;");
  /* Concurrent commits to two databases never conflict. */
  atomic_uint failures = 0;
  two_dbs a = {x, &failures}, b = {y, &failures};
  pthread_t ta, tb;
  assert_int_equal(pthread_create(&ta, NULL, db_writer, &a), 0);
  assert_int_equal(pthread_create(&tb, NULL, db_writer, &b), 0);
  pthread_join(ta, NULL);
  pthread_join(tb, NULL);
  assert_int_equal(atomic_load(&failures), 0);
  pb_txn *r;
  assert_int_equal(pb_txn_begin(x, PB_RDONLY, &r), PB_OK);
  assert_int_equal(get_int(r, "n"), 300);
  pb_txn_abort(r);
  /* Drop. */
  assert_int_equal(pb_space_drop(sp, "y"), PB_OK);
  assert_int_equal(pb_space_drop(sp, "y"), PB_ENOTFOUND);
  assert_int_equal(pb_txn_begin(y, PB_RDONLY, &r), PB_ENOTFOUND);
  names[0] = '\0';
  assert_int_equal(pb_space_list(sp, collect, names), PB_OK);
  assert_string_equal(names, "x;z;");
  pb_db *again;
  assert_int_equal(pb_db_open(sp, "y", 0, &again), PB_ENOTFOUND);
  assert_int_equal(pb_space_drop(sp, ""), PB_EINVAL);
  pb_db_close(x);
  pb_db_close(y);
  pb_db_close(z);
  pb_space_close(sp);
}

/* --- the catalog --- */

static void schema_epochs(void **state) {
  (void)state;
  char *dir = pb_test_tmpdir();
  const pb_record_type v1 = {.name = "app.User", .fingerprint = 0x1111}, v2 = {.name = "app.User", .fingerprint = 0x2222};
  const pb_record_type other = {.name = "app.Order", .fingerprint = 0x3333};
  pb_space *sp = open_space(dir);
  pb_db *db = open_db(sp, "main");
  uint64_t e;
  assert_int_equal(pb_db_schema_epoch(db, &v1, &e), PB_OK);
  assert_int_equal(e, 1);
  assert_int_equal(pb_db_schema_epoch(db, &v2, &e), PB_OK);
  assert_int_equal(e, 2);
  pb_db_close(db);
  db = open_db(sp, "main"); /* a new handle: no cache */
  pb_space_stats before, after;
  assert_int_equal(pb_space_stats_get(sp, &before), PB_OK);
  assert_int_equal(pb_db_schema_epoch(db, &v1, &e), PB_OK);
  assert_int_equal(e, 1); /* known: the same epoch, no new entry */
  assert_int_equal(pb_space_stats_get(sp, &after), PB_OK);
  assert_int_equal(after.commits, before.commits);
  pb_db_close(db);
  pb_space_close(sp);
  /* The mapping survives a reopen. */
  sp = open_space(dir);
  db = open_db(sp, "main");
  assert_int_equal(pb_db_schema_epoch(db, &v2, &e), PB_OK);
  assert_int_equal(e, 2);
  assert_int_equal(pb_db_schema_epoch(db, &v1, &e), PB_OK);
  assert_int_equal(e, 1);
  assert_int_equal(pb_db_schema_epoch(db, &other, &e), PB_OK);
  assert_int_equal(e, 3);
  /* The catalog is invisible to named values. */
  pb_txn *r;
  assert_int_equal(pb_txn_begin(db, PB_RDONLY, &r), PB_OK);
  pb_value v;
  assert_int_equal(pb_txn_get(r, "catalog", &v), PB_ENOTFOUND);
  pb_txn_abort(r);
  pb_db_close(db);
  pb_space_close(sp);
  /* A read-only open: known epochs, and a local one for the unknown. */
  pb_storage *st;
  pb_file_options o;
  pb_file_options_init(&o);
  o.read_only = true;
  assert_int_equal(pb_storage_open_file(dir, &o, &st), PB_OK);
  assert_int_equal(pb_space_open(st, &sp), PB_OK);
  assert_int_equal(pb_db_open(sp, "main", 0, &db), PB_OK);
  assert_int_equal(pb_db_schema_epoch(db, &v2, &e), PB_OK);
  assert_int_equal(e, 2);
  const pb_record_type v3 = {.name = "app.User", .fingerprint = 0x4444};
  assert_int_equal(pb_db_schema_epoch(db, &v3, &e), PB_OK);
  assert_true(e >= (1ull << 32));
  pb_db_close(db);
  pb_space_close(sp);
  pb_test_rmdir(dir);
}


/* --- a rebased commit writes one flush --- */

/* Bytes of the WAL segments in dir.  A closed store's last segment ends at
 * its last frame (close cuts the preallocated zeros), so between two
 * closes this grows by the frames the commits in between wrote. */
static uint64_t wal_bytes(const char *dir) {
  DIR *d = opendir(dir);
  assert_non_null(d);
  uint64_t total = 0;
  struct dirent *e;
  while ((e = readdir(d)) != NULL) {
    if (strncmp(e->d_name, "seg-", 4) != 0) continue;
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
    struct stat sb;
    assert_int_equal(stat(path, &sb), 0);
    total += (uint64_t)sb.st_size;
  }
  closedir(d);
  return total;
}

/* Puts `key` -> 64 bytes into Dictionary `dict` (created when missing). */
static int put_64(pb_txn *txn, const char *dict, const char *key) {
  pb_dict *d;
  int rc = pb_txn_open_dict(txn, dict, PB_CREATE, &d);
  if (rc != PB_OK) return rc;
  uint8_t val[64];
  memset(val, key[0], sizeof val);
  pb_value v = {.kind = PB_VALUE_BYTES, .as.bytes = {val, sizeof val}};
  return pb_dict_put(d, pb_str_from_cstr(key), &v);
}

static uint64_t space_merges(pb_space *sp) {
  pb_space_stats st;
  assert_int_equal(pb_space_stats_get(sp, &st), PB_OK);
  return st.merges;
}

/* Two Dictionaries of 200 keys each, in a store closed afterwards. */
static void seed_two_dicts(const char *dir, const char *a, const char *b) {
  pb_space *sp = open_space(dir);
  pb_db *db = open_db(sp, "main");
  pb_txn *t;
  assert_int_equal(pb_txn_begin(db, 0, &t), PB_OK);
  for (int i = 0; i < 200; i++) {
    char key[16];
    snprintf(key, sizeof key, "s%03d", i);
    assert_int_equal(put_64(t, a, key), PB_OK);
    assert_int_equal(put_64(t, b, key), PB_OK);
  }
  assert_int_equal(pb_txn_commit(t), PB_OK);
  pb_db_close(db);
  assert_int_equal(pb_space_close(sp), PB_OK);
}

/* A, begun before B committed, rebases onto B before it flushes: the pair
 * writes what two commits in a row write, not a third, wasted flush of A
 * (whose nodes nothing references after the rebase). */
static void rebased_commit_flushes_once(void **state) {
  (void)state;
  char *dir = pb_test_tmpdir();
  seed_two_dicts(dir, "x", "y");
  uint64_t b0 = wal_bytes(dir);

  pb_space *sp = open_space(dir);
  pb_db *db = open_db(sp, "main");
  pb_txn *a, *b;
  assert_int_equal(pb_txn_begin(db, 0, &a), PB_OK);
  assert_int_equal(put_64(a, "x", "a"), PB_OK);
  assert_int_equal(pb_txn_begin(db, 0, &b), PB_OK);
  assert_int_equal(put_64(b, "x", "b"), PB_OK);
  assert_int_equal(pb_txn_commit(b), PB_OK);
  assert_int_equal(pb_txn_commit(a), PB_OK); /* merged: another key */
  assert_int_equal(space_merges(sp), 1);
  pb_db_close(db);
  assert_int_equal(pb_space_close(sp), PB_OK);
  uint64_t b1 = wal_bytes(dir);

  sp = open_space(dir);
  db = open_db(sp, "main");
  const char *keys[] = {"c", "d"};
  for (int i = 0; i < 2; i++) {
    pb_txn *t;
    assert_int_equal(pb_txn_begin(db, 0, &t), PB_OK);
    assert_int_equal(put_64(t, "y", keys[i]), PB_OK);
    assert_int_equal(pb_txn_commit(t), PB_OK);
  }
  assert_int_equal(space_merges(sp), 0);
  pb_db_close(db);
  assert_int_equal(pb_space_close(sp), PB_OK);
  uint64_t b2 = wal_bytes(dir);

  uint64_t pair = b1 - b0, in_a_row = b2 - b1;
  print_message("rebased pair: %llu bytes; two commits in a row: %llu\n",
                (unsigned long long)pair, (unsigned long long)in_a_row);
  /* A wasted flush of A would add half of `in_a_row`. */
  assert_true(in_a_row > 0 && pair * 5 < in_a_row * 6);

  sp = open_space(dir);
  db = open_db(sp, "main");
  pb_txn *r;
  assert_int_equal(pb_txn_begin(db, PB_RDONLY, &r), PB_OK);
  pb_dict *d;
  assert_int_equal(pb_txn_open_dict(r, "x", 0, &d), PB_OK);
  uint64_t n = 0;
  assert_int_equal(pb_dict_count(d, &n), PB_OK);
  assert_int_equal(n, 202); /* both keys */
  pb_txn_abort(r);
  pb_db_close(db);
  assert_int_equal(pb_space_close(sp), PB_OK);
  pb_test_rmdir(dir);
}

#define FLUSH_THREADS 8
#define FLUSH_COMMITS 25

typedef struct flusher {
  pb_db *db;
  const char *dict;
  int id;
} flusher;

typedef struct flush_put {
  const char *dict;
  char key[16];
} flush_put;

static int flush_put_fn(pb_txn *txn, void *arg) {
  flush_put *p = arg;
  return put_64(txn, p->dict, p->key);
}

static void *flusher_fn(void *arg) {
  flusher *f = arg;
  for (int i = 0; i < FLUSH_COMMITS; i++) {
    flush_put p = {f->dict, ""};
    snprintf(p.key, sizeof p.key, "t%d-%03d", f->id, i);
    int rc = pb_txn_run(f->db, flush_put_fn, &p, PB_TXN_RUN_RETRIES);
    if (rc != PB_OK) fail_msg("pb_txn_run: %s", pb_errname(rc));
  }
  return NULL;
}

/* Threads committing through one handle (pb_txn_run) write about what the
 * same commits write one after another: each flushes once, though most of
 * them are overtaken between their begin and their append. */
static void threads_flush_once(void **state) {
  (void)state;
  char *dir = pb_test_tmpdir();
  seed_two_dicts(dir, "par", "seq");
  uint64_t b0 = wal_bytes(dir);

  pb_space *sp = open_space(dir);
  pb_db *db = open_db(sp, "main");
  pthread_t th[FLUSH_THREADS];
  flusher f[FLUSH_THREADS];
  assert_true(FLUSH_THREADS <= 10); /* one digit in the keys */
  for (int i = 0; i < FLUSH_THREADS; i++) {
    f[i] = (flusher){db, "par", i};
    assert_int_equal(pthread_create(&th[i], NULL, flusher_fn, &f[i]), 0);
  }
  for (int i = 0; i < FLUSH_THREADS; i++) pthread_join(th[i], NULL);
  uint64_t merges = space_merges(sp);
  pb_db_close(db);
  assert_int_equal(pb_space_close(sp), PB_OK);
  uint64_t b1 = wal_bytes(dir);

  sp = open_space(dir);
  db = open_db(sp, "main");
  /* The same keys, in the order the threads mostly commit them (one of
   * each thread's in turn), so that the trees grow alike. */
  for (int i = 0; i < FLUSH_COMMITS; i++)
    for (int t = 0; t < FLUSH_THREADS; t++) {
      flush_put p = {"seq", ""};
      snprintf(p.key, sizeof p.key, "t%d-%03d", t, i);
      assert_int_equal(pb_txn_run(db, flush_put_fn, &p, PB_TXN_RUN_RETRIES),
                       PB_OK);
    }
  pb_db_close(db);
  assert_int_equal(pb_space_close(sp), PB_OK);
  uint64_t b2 = wal_bytes(dir);

  uint64_t par = b1 - b0, seq = b2 - b1;
  print_message("%d threads x %d commits: %llu bytes, %llu merged; one "
                "after another: %llu bytes\n",
                FLUSH_THREADS, FLUSH_COMMITS, (unsigned long long)par,
                (unsigned long long)merges, (unsigned long long)seq);
  /* With a fanout of 4 the order in which the threads' keys arrive shapes
   * the tree more (a split every few keys): up to 1.1x was seen, against
   * 1.2x to 1.4x with the lock removed. */
  if (tiny)
    assert_true(seq > 0 && par * 100 < seq * 115);
  else
    assert_true(seq > 0 && par * 10 < seq * 11);
  pb_test_rmdir(dir);
}

int main(int argc, char **argv) {
  tiny = pb_test_coll_args(argc, argv);
  for (int i = 1; i < argc; i++) {
    if (strcmp(argv[i], "--durability=group") == 0)
      durability = PB_DURABILITY_GROUP;
    else if (strcmp(argv[i], "--durability=none") == 0)
      durability = PB_DURABILITY_NONE;
  }
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(root_keys_merge),
      cmocka_unit_test(nested_dict_merges),
      cmocka_unit_test(set_merges_per_element),
      cmocka_unit_test(list_changes_conflict),
      cmocka_unit_test(own_keys_merge),
      cmocka_unit_test(shared_key_and_invariant),
      cmocka_unit_test(database_lifecycle),
      cmocka_unit_test(schema_epochs),
      cmocka_unit_test(rebased_commit_flushes_once),
      cmocka_unit_test(threads_flush_once),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
