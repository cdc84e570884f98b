/*
 * test_txn.c - ObjectSpace, Database and Transaction through the public
 * API, on both the memory and the file tier: named values of every kind,
 * snapshot reads, commits across reopen, databases that do not conflict
 * with each other, and a conflict on the same database that publishes
 * nothing; a read transaction's collections opened by name straight on
 * their roots (no handle of the database root: txn.c, pb__txn_open_root)
 * behave as those opened through it.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "protobase/protobase.h"
#include "test_util.h"
#include "txn/txn_int.h"

static const pb_record_type thing_type = {.name = "test.Thing", .fingerprint = 0};

/* Opens a space over a fresh storage of the kind in *state. */
static pb_space *open_space(const char *dir) {
  pb_storage *st;
  if (dir) assert_int_equal(pb_storage_open_file(dir, NULL, &st), PB_OK);
  else assert_int_equal(pb_storage_open_memory(&st), PB_OK);
  pb_space *sp;
  assert_int_equal(pb_space_open(st, &sp), PB_OK);
  return sp;
}

static void set_int(pb_txn *txn, const char *name, int64_t v) {
  pb_value val = {.kind = PB_VALUE_INT, .as.i = v};
  assert_int_equal(pb_txn_set(txn, name, &val), PB_OK);
}

static int64_t get_int(pb_txn *txn, const char *name) {
  pb_value v;
  assert_int_equal(pb_txn_get(txn, name, &v), PB_OK);
  assert_int_equal(v.kind, PB_VALUE_INT);
  return v.as.i;
}

static void named_values_and_snapshots(const char *dir) {
  pb_space *sp = open_space(dir);
  pb_db *db;
  assert_int_equal(pb_db_open(sp, "missing", 0, &db), PB_ENOTFOUND);
  assert_int_equal(pb_db_open(sp, "", PB_CREATE, &db), PB_EINVAL);
  assert_int_equal(pb_db_open(sp, "main", PB_CREATE, &db), PB_OK);

  pb_txn *w, *r;
  assert_int_equal(pb_txn_begin(db, PB_RDONLY, &r), PB_OK);
  assert_int_equal(pb_txn_begin(db, 0, &w), PB_OK);
  set_int(w, "x", 42);
  pb_value s = {.kind = PB_VALUE_STRING, .as.s = pb_str_from_cstr("hello")};
  assert_int_equal(pb_txn_set(w, "greeting", &s), PB_OK);
  assert_int_equal(get_int(w, "x"), 42); /* a txn reads its own writes */
  pb_atom_ptr ptr;
  assert_int_equal(pb_txn_put_record(w, &thing_type, "\x0a\x01\x61", 3, &ptr), PB_OK);
  pb_bytes body;
  assert_int_equal(pb_txn_load_record(w, &thing_type, ptr, &body), PB_OK);
  assert_int_equal(body.len, 3);
  assert_memory_equal(body.ptr, "\x0a\x01\x61", 3);
  pb_value ref = {.kind = PB_VALUE_REF, .as.ref = ptr};
  /* A stored REF has a 4-byte offset: a larger one is refused. */
  pb_value far = ref;
  far.as.ref.offset = (uint64_t)UINT32_MAX + 1;
  assert_int_equal(pb_txn_set(w, "thing", &far), PB_EINVAL);
  assert_int_equal(pb_txn_set(w, "thing", &ref), PB_OK);
  assert_int_equal(pb_txn_commit(w), PB_OK);

  /* The read-only txn began before the commit: it still sees nothing. */
  pb_value v;
  assert_int_equal(pb_txn_get(r, "x", &v), PB_ENOTFOUND);
  assert_int_equal(pb_txn_set(r, "x", &v), PB_ERDONLY);
  pb_txn_abort(r);

  pb_db_close(db);
  assert_int_equal(pb_space_close(sp), PB_OK);

  if (dir) sp = open_space(dir); /* reopen: recovered from the WAL */
  else return;
  assert_int_equal(pb_db_open(sp, "main", 0, &db), PB_OK);
  assert_int_equal(pb_txn_begin(db, PB_RDONLY, &r), PB_OK);
  assert_int_equal(get_int(r, "x"), 42);
  assert_int_equal(pb_txn_get(r, "greeting", &v), PB_OK);
  assert_int_equal(v.kind, PB_VALUE_STRING);
  assert_int_equal(v.as.s.len, 5);
  assert_memory_equal(v.as.s.ptr, "hello", 5);
  assert_int_equal(pb_txn_get(r, "thing", &v), PB_OK);
  assert_int_equal(pb_txn_load_record(r, &thing_type, v.as.ref, &body), PB_OK);
  assert_memory_equal(body.ptr, "\x0a\x01\x61", 3);
  pb_atom_ptr bogus = {1, 2, 3};
  assert_int_equal(pb_txn_load_record(r, &thing_type, bogus, &body),
                   PB_ENOTFOUND);
  pb_txn_abort(r);
  pb_db_close(db);
  assert_int_equal(pb_space_close(sp), PB_OK);
}

static void values_memory(void **state) {
  (void)state;
  named_values_and_snapshots(NULL);
}

static void values_file(void **state) {
  (void)state;
  char *dir = pb_test_tmpdir();
  named_values_and_snapshots(dir);
  pb_test_rmdir(dir);
}

static void databases_do_not_conflict(void **state) {
  (void)state;
  pb_space *sp = open_space(NULL);
  pb_db *a, *b;
  assert_int_equal(pb_db_open(sp, "a", PB_CREATE, &a), PB_OK);
  assert_int_equal(pb_db_open(sp, "b", PB_CREATE, &b), PB_OK);
  pb_txn *ta, *tb;
  assert_int_equal(pb_txn_begin(a, 0, &ta), PB_OK);
  assert_int_equal(pb_txn_begin(b, 0, &tb), PB_OK);
  set_int(ta, "n", 1);
  set_int(tb, "n", 2);
  assert_int_equal(pb_txn_commit(ta), PB_OK);
  assert_int_equal(pb_txn_commit(tb), PB_OK); /* rebased on a's commit */
  assert_int_equal(pb_txn_begin(a, PB_RDONLY, &ta), PB_OK);
  assert_int_equal(pb_txn_begin(b, PB_RDONLY, &tb), PB_OK);
  assert_int_equal(get_int(ta, "n"), 1);
  assert_int_equal(get_int(tb, "n"), 2);
  pb_txn_abort(ta);
  pb_txn_abort(tb);
  pb_db_close(a);
  pb_db_close(b);
  pb_space_close(sp);
}

static void same_database_conflicts(void **state) {
  (void)state;
  pb_space *sp = open_space(NULL);
  pb_db *db;
  assert_int_equal(pb_db_open(sp, "main", PB_CREATE, &db), PB_OK);
  pb_txn *t1, *t2, *r;
  assert_int_equal(pb_txn_begin(db, 0, &t1), PB_OK);
  assert_int_equal(pb_txn_begin(db, 0, &t2), PB_OK);
  set_int(t1, "n", 1);
  set_int(t2, "n", 2);
  assert_int_equal(pb_txn_commit(t1), PB_OK);
  assert_int_equal(pb_txn_commit(t2), PB_ECONFLICT);
  assert_int_equal(pb_txn_begin(db, PB_RDONLY, &r), PB_OK);
  assert_int_equal(get_int(r, "n"), 1); /* the loser published nothing */
  pb_txn_abort(r);
  pb_db_close(db);
  pb_space_close(sp);
}

static void remove_and_invalid_arguments(void **state) {
  (void)state;
  pb_space *sp = open_space(NULL);
  pb_db *db;
  assert_int_equal(pb_db_open(sp, "main", PB_CREATE, &db), PB_OK);
  pb_txn *t;
  assert_int_equal(pb_txn_begin(db, 0, &t), PB_OK);
  set_int(t, "gone", 1);
  assert_int_equal(pb_txn_remove(t, "gone"), PB_OK);
  assert_int_equal(pb_txn_remove(t, "gone"), PB_ENOTFOUND);
  pb_value bad = {.kind = (pb_value_kind)77};
  assert_int_equal(pb_txn_set(t, "x", &bad), PB_EINVAL);
  pb_value badstr = {.kind = PB_VALUE_STRING, .as.s = {"\xff", 1}};
  assert_int_equal(pb_txn_set(t, "x", &badstr), PB_EINVAL);
  assert_int_equal(pb_txn_set(t, "", &badstr), PB_EINVAL);
  assert_int_equal(pb_txn_set(NULL, "x", &badstr), PB_EINVAL);
  assert_int_equal(pb_txn_commit(t), PB_OK);
  assert_int_equal(pb_txn_commit(NULL), PB_EINVAL);
  assert_int_equal(pb_txn_abort(NULL), PB_OK);
  pb_db_close(db);
  pb_space_close(sp);
}

/* Gets "k" from the Dictionary `d` and checks it is the integer v. */
static void dict_has(pb_dict *d, int64_t v) {
  pb_value got;
  assert_int_equal(pb_dict_get(d, (pb_str){"k", 1}, &got), PB_OK);
  assert_int_equal(got.kind, PB_VALUE_INT);
  assert_int_equal(got.as.i, v);
}

static void read_opens_by_name(void **state) {
  (void)state;
  pb_space *sp = open_space(NULL);
  pb_db *db;
  assert_int_equal(pb_db_open(sp, "main", PB_CREATE, &db), PB_OK);
  pb_txn *t;
  pb_dict *d, *d2;
  pb_list *l;
  assert_int_equal(pb_txn_begin(db, 0, &t), PB_OK);
  assert_int_equal(pb_txn_open_dict(t, "d", PB_CREATE, &d), PB_OK);
  pb_value one = {.kind = PB_VALUE_INT, .as.i = 1};
  assert_int_equal(pb_dict_put(d, (pb_str){"k", 1}, &one), PB_OK);
  set_int(t, "n", 7);
  assert_int_equal(pb_txn_commit(t), PB_OK);
  for (int round = 0; round < 3; round++) {
    /* Round 0 finds the name in the database root; later rounds know it
     * (the database handle's memo) and open straight on its root. */
    assert_int_equal(pb_txn_begin(db, PB_RDONLY, &t), PB_OK);
    assert_int_equal(pb_txn_open_dict(t, "d", 0, &d), PB_OK);
    if (round > 0) assert_null(t->names); /* no database-root handle */
    dict_has(d, 1);
    assert_int_equal(pb_txn_open_dict(t, "d", 0, &d2), PB_OK);
    assert_ptr_equal(d2, d); /* the same handle again */
    assert_int_equal(pb_txn_open_list(t, "d", 0, &l), PB_ESCHEMA);
    assert_int_equal(pb_txn_open_dict(t, "none", 0, &d2), PB_ENOTFOUND);
    assert_int_equal(pb_txn_open_dict(t, "none", PB_CREATE, &d2),
                     PB_ERDONLY);
    assert_int_equal(get_int(t, "n"), 7); /* opens the root's handle */
    assert_int_equal(pb_txn_open_dict(t, "d", 0, &d2), PB_OK);
    assert_ptr_equal(d2, d); /* still the same handle */
    dict_has(d2, 1);
    assert_int_equal(pb_txn_abort(t), PB_OK);
  }
  /* The database root's handle open first: the name opens through it,
   * once, and a commit since gives the new value. */
  assert_int_equal(pb_txn_begin(db, 0, &t), PB_OK);
  assert_int_equal(pb_txn_open_dict(t, "d", 0, &d), PB_OK);
  pb_value two = {.kind = PB_VALUE_INT, .as.i = 2};
  assert_int_equal(pb_dict_put(d, (pb_str){"k", 1}, &two), PB_OK);
  assert_int_equal(pb_txn_commit(t), PB_OK);
  assert_int_equal(pb_txn_begin(db, PB_RDONLY, &t), PB_OK);
  assert_int_equal(get_int(t, "n"), 7);
  assert_int_equal(pb_txn_open_dict(t, "d", 0, &d), PB_OK);
  assert_int_equal(pb_txn_open_dict(t, "d", 0, &d2), PB_OK);
  assert_ptr_equal(d2, d);
  dict_has(d, 2);
  assert_int_equal(pb_txn_abort(t), PB_OK);
  pb_db_close(db);
  pb_space_close(sp);
}

static void second_writer_is_locked_out(void **state) {
  (void)state;
  char *dir = pb_test_tmpdir();
  pb_storage *a, *b;
  assert_int_equal(pb_storage_open_file(dir, NULL, &a), PB_OK);
  assert_int_equal(pb_storage_open_file(dir, NULL, &b), PB_ELOCKED);
  /* The detail says which lock, for the user's error message. */
  assert_non_null(strstr(pb_errdetail(), "LOCK"));
  pb_file_options ro;
  pb_file_options_init(&ro);
  ro.read_only = true;
  assert_int_equal(pb_storage_open_file(dir, &ro, &b), PB_OK);
  assert_int_equal(pb_storage_close(b), PB_OK);
  assert_int_equal(pb_storage_close(a), PB_OK);
  pb_test_rmdir(dir);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(values_memory),
      cmocka_unit_test(values_file),
      cmocka_unit_test(databases_do_not_conflict),
      cmocka_unit_test(same_database_conflicts),
      cmocka_unit_test(remove_and_invalid_arguments),
      cmocka_unit_test(read_opens_by_name),
      cmocka_unit_test(second_writer_is_locked_out),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
