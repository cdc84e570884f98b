/*
 * test_txn_values.c - values come back from a file store exactly as they
 * were put, through commits that touch other keys, a reopen, and the
 * collections nested in the database root (SPEC 11: the Python original's
 * commit rewrote integer values, and lost entries of reloaded
 * collections).
 *
 * Every kind of value, with its edge cases (INT64_MIN, UINT64_MAX, 2^53 +
 * 1, which a double cannot hold, -0.0, a NaN's bits, strings with NUL
 * bytes, empty bytes, a record), is stored under the database root, in a
 * nested Dictionary, in a List and as HashDictionary values.  Then 50
 * commits change only other keys, each reopening the collections from
 * storage; then the store is closed and reopened.  After each step every
 * value is compared with what was put, bit for bit.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "protobase/protobase.h"
#include "test_util.h"

#define N_VALUES 16

static const uint8_t record_body[] = {0x08, 0x2a, 0x12, 0x02, 'h', 'i'};

/* Value i of the table; the same call gives the same value. */
static pb_value value_of(unsigned i) {
  double nan_bits;
  uint64_t bits = 0x7ff8000000000abcULL; /* a NaN with a payload */
  memcpy(&nan_bits, &bits, sizeof nan_bits);
  const pb_value table[N_VALUES] = {
      {.kind = PB_VALUE_NULL},
      {.kind = PB_VALUE_BOOL, .as.b = true},
      {.kind = PB_VALUE_BOOL, .as.b = false},
      {.kind = PB_VALUE_INT, .as.i = INT64_MIN},
      {.kind = PB_VALUE_INT, .as.i = INT64_MAX},
      {.kind = PB_VALUE_INT, .as.i = -1},
      {.kind = PB_VALUE_INT, .as.i = (1LL << 53) + 1},
      {.kind = PB_VALUE_UINT, .as.u = UINT64_MAX},
      {.kind = PB_VALUE_UINT, .as.u = 0},
      {.kind = PB_VALUE_DOUBLE, .as.d = -0.0},
      {.kind = PB_VALUE_DOUBLE, .as.d = nan_bits},
      {.kind = PB_VALUE_DOUBLE, .as.d = 1e308},
      {.kind = PB_VALUE_STRING, .as.s = {"a\0b", 3}},
      {.kind = PB_VALUE_BYTES, .as.bytes = {NULL, 0}},
      {.kind = PB_VALUE_BYTES, .as.bytes = {(const uint8_t *)"\0\xff", 2}},
      {.kind = PB_VALUE_RECORD,
       .as.rec = {0x1234567890abcdefULL, {record_body, sizeof record_body}}},
  };
  return table[i];
}

/* Bit-for-bit equality, the kind included. */
static void expect_same(const pb_value *got, unsigned i) {
  pb_value want = value_of(i);
  assert_int_equal(got->kind, want.kind);
  switch (want.kind) {
  case PB_VALUE_BOOL: assert_int_equal(got->as.b, want.as.b); break;
  case PB_VALUE_INT: assert_true(got->as.i == want.as.i); break;
  case PB_VALUE_UINT: assert_true(got->as.u == want.as.u); break;
  case PB_VALUE_DOUBLE:
    assert_memory_equal(&got->as.d, &want.as.d, sizeof want.as.d);
    break;
  case PB_VALUE_STRING:
    assert_int_equal(got->as.s.len, want.as.s.len);
    assert_memory_equal(got->as.s.ptr, want.as.s.ptr, want.as.s.len);
    break;
  case PB_VALUE_BYTES:
    assert_int_equal(got->as.bytes.len, want.as.bytes.len);
    if (want.as.bytes.len)
      assert_memory_equal(got->as.bytes.ptr, want.as.bytes.ptr,
                          want.as.bytes.len);
    break;
  case PB_VALUE_RECORD:
    assert_true(got->as.rec.fingerprint == want.as.rec.fingerprint);
    assert_int_equal(got->as.rec.body.len, want.as.rec.body.len);
    assert_memory_equal(got->as.rec.body.ptr, want.as.rec.body.ptr,
                        want.as.rec.body.len);
    break;
  default: break;
  }
}

typedef struct handles {
  pb_dict *nested;
  pb_list *list;
  pb_hdict *hash;
} handles;

static void open_all(pb_txn *t, unsigned flags, handles *h) {
  assert_int_equal(pb_txn_open_dict(t, "nested", flags, &h->nested), PB_OK);
  assert_int_equal(pb_txn_open_list(t, "list", flags, &h->list), PB_OK);
  assert_int_equal(pb_txn_open_hdict(t, "hash", flags, &h->hash), PB_OK);
}

static void check_all(pb_db *db) {
  pb_txn *t;
  assert_int_equal(pb_txn_begin(db, PB_RDONLY, &t), PB_OK);
  handles h;
  open_all(t, 0, &h);
  for (unsigned i = 0; i < N_VALUES; i++) {
    char name[16];
    snprintf(name, sizeof name, "v%02u", i);
    pb_value got;
    assert_int_equal(pb_txn_get(t, name, &got), PB_OK);
    expect_same(&got, i);
    assert_int_equal(pb_dict_get(h.nested, pb_str_from_cstr(name), &got),
                     PB_OK);
    expect_same(&got, i);
    assert_int_equal(pb_list_get(h.list, i, &got), PB_OK);
    expect_same(&got, i);
    pb_value key = {.kind = PB_VALUE_UINT, .as.u = i};
    assert_int_equal(pb_hdict_get(h.hash, &key, &got), PB_OK);
    expect_same(&got, i);
  }
  pb_txn_abort(t);
}

static void values_survive_commits_and_reopen(void **state) {
  (void)state;
  char *dir = pb_test_tmpdir();
  pb_storage *st;
  pb_space *sp;
  pb_db *db;
  assert_int_equal(pb_storage_open_file(dir, NULL, &st), PB_OK);
  assert_int_equal(pb_space_open(st, &sp), PB_OK);
  assert_int_equal(pb_db_open(sp, "main", PB_CREATE, &db), PB_OK);
  pb_txn *t;
  assert_int_equal(pb_txn_begin(db, 0, &t), PB_OK);
  handles h;
  open_all(t, PB_CREATE, &h);
  for (unsigned i = 0; i < N_VALUES; i++) {
    char name[16];
    snprintf(name, sizeof name, "v%02u", i);
    pb_value v = value_of(i), key = {.kind = PB_VALUE_UINT, .as.u = i};
    assert_int_equal(pb_txn_set(t, name, &v), PB_OK);
    assert_int_equal(pb_dict_put(h.nested, pb_str_from_cstr(name), &v), PB_OK);
    assert_int_equal(pb_list_append(h.list, &v), PB_OK);
    assert_int_equal(pb_hdict_put(h.hash, &key, &v), PB_OK);
  }
  assert_int_equal(pb_txn_commit(t), PB_OK);
  check_all(db);
  /* Commits that change only other keys, of the root and of each
   * collection (reloaded from storage each time). */
  for (int64_t c = 0; c < 50; c++) {
    assert_int_equal(pb_txn_begin(db, 0, &t), PB_OK);
    open_all(t, 0, &h);
    pb_value n = {.kind = PB_VALUE_INT, .as.i = c};
    pb_value key = {.kind = PB_VALUE_UINT, .as.u = 1000 + (uint64_t)c};
    assert_int_equal(pb_txn_set(t, "other", &n), PB_OK);
    assert_int_equal(pb_dict_put(h.nested, pb_str_from_cstr("other"), &n),
                     PB_OK);
    assert_int_equal(pb_list_append(h.list, &n), PB_OK);
    assert_int_equal(pb_hdict_put(h.hash, &key, &n), PB_OK);
    assert_int_equal(pb_txn_commit(t), PB_OK);
  }
  check_all(db);
  pb_db_close(db);
  pb_space_close(sp);
  assert_int_equal(pb_storage_open_file(dir, NULL, &st), PB_OK);
  assert_int_equal(pb_space_open(st, &sp), PB_OK);
  assert_int_equal(pb_db_open(sp, "main", 0, &db), PB_OK);
  check_all(db);
  pb_db_close(db);
  pb_space_close(sp);
  pb_test_rmdir(dir);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(values_survive_commits_and_reopen),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
