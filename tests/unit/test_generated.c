/*
 * test_generated.c - code that pbc generates from schemas/tasks.pbs, used
 * as an application uses it: init gives the defaults, encode is
 * deterministic and omits defaults, decode round-trips every field, and
 * put/load store the record through a transaction.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "corrupt_detail.h"

#include "protobase/protobase.h"
#include "tasks.pb.h"

static tasks_Task sample(void) {
  static const uint8_t blob[] = {0, 1, 2, 3, 255};
  tasks_Task t;
  tasks_Task_init(&t);
  t.id = 123456789012ull;
  t.title = pb_str_from_cstr("buy milk \xe2\x9c\x93");
  t.done = true;
  t.has_due = true;
  t.due = -5;
  t.estimate_hours = 2.75;
  t.attachment.ptr = blob;
  t.attachment.len = sizeof blob;
  return t;
}

static void init_sets_defaults(void **state) {
  (void)state;
  tasks_Task t;
  memset(&t, 0xab, sizeof t);
  tasks_Task_init(&t);
  assert_true(t.id == 0);
  assert_int_equal(t.title.len, 0);
  assert_false(t.done);
  assert_false(t.has_due);
  assert_true(t.estimate_hours == 1.0); /* [default = 1.0] */
  assert_int_equal(t.attachment.len, 0);
  /* A record at its defaults encodes to nothing at all. */
  pb_buf b;
  pb_buf_init(&b);
  assert_int_equal(tasks_Task_encode(&t, &b), PB_OK);
  assert_int_equal(b.len, 0);
  pb_buf_free(&b);
}

static void round_trip_and_determinism(void **state) {
  (void)state;
  tasks_Task t = sample(), back;
  pb_buf b1, b2;
  pb_buf_init(&b1);
  pb_buf_init(&b2);
  assert_int_equal(tasks_Task_encode(&t, &b1), PB_OK);
  assert_int_equal(tasks_Task_decode(&back, b1.data, b1.len, NULL), PB_OK);
  assert_true(back.id == t.id);
  assert_int_equal(back.title.len, t.title.len);
  assert_memory_equal(back.title.ptr, t.title.ptr, t.title.len);
  assert_true(back.done);
  assert_true(back.has_due);
  assert_true(back.due == -5);
  assert_true(back.estimate_hours == 2.75);
  assert_int_equal(back.attachment.len, 5);
  assert_memory_equal(back.attachment.ptr, t.attachment.ptr, 5);
  /* Zero-copy: the decoded string points into the encoded bytes. */
  assert_true((const uint8_t *)back.title.ptr >= b1.data &&
              (const uint8_t *)back.title.ptr < b1.data + b1.len);
  assert_int_equal(tasks_Task_encode(&back, &b2), PB_OK);
  assert_int_equal(b1.len, b2.len);
  assert_memory_equal(b1.data, b2.data, b1.len);
  pb_buf_free(&b1);
  pb_buf_free(&b2);
}

static void optional_zero_is_kept(void **state) {
  (void)state;
  tasks_Task t, back;
  tasks_Task_init(&t);
  t.has_due = true;
  t.due = 0; /* set, even though it is zero */
  pb_buf b;
  pb_buf_init(&b);
  assert_int_equal(tasks_Task_encode(&t, &b), PB_OK);
  assert_true(b.len > 0);
  assert_int_equal(tasks_Task_decode(&back, b.data, b.len, NULL), PB_OK);
  assert_true(back.has_due);
  assert_true(back.due == 0);
  pb_buf_free(&b);
}

static void unknown_fields_do_not_break_decode(void **state) {
  (void)state;
  pb_buf b;
  pb_buf_init(&b);
  pb_wire_put_uint(&b, 1, 7);
  pb_wire_put_str(&b, 99, pb_str_from_cstr("from a newer schema"));
  pb_wire_put_double(&b, 100, 1.5);
  tasks_Task back;
  assert_int_equal(tasks_Task_decode(&back, b.data, b.len, NULL), PB_OK);
  assert_true(back.id == 7);
  pb_buf_free(&b);
}

static void wrong_wire_type_is_corrupt(void **state) {
  (void)state;
  pb_buf b;
  pb_buf_init(&b);
  pb_wire_put_str(&b, 1, pb_str_from_cstr("not a number"));
  tasks_Task back;
  assert_corrupt(tasks_Task_decode(&back, b.data, b.len, NULL), PB_AT_SOURCE);
  pb_buf_reset(&b);
  pb_wire_put_len(&b, 2, "\xc3", 1); /* invalid UTF-8 title, raw */
  assert_corrupt(tasks_Task_decode(&back, b.data, b.len, NULL), PB_AT_SOURCE);
  pb_buf_free(&b);
}

static void invalid_utf8_is_refused_at_encode(void **state) {
  (void)state;
  tasks_Task t;
  tasks_Task_init(&t);
  t.title.ptr = "caf\xc3"; /* a truncated two-byte sequence */
  t.title.len = 4;
  pb_buf b;
  pb_buf_init(&b);
  assert_int_equal(tasks_Task_encode(&t, &b), PB_EINVAL);
  pb_buf_free(&b);
}

static void put_and_load_in_a_transaction(void **state) {
  (void)state;
  pb_storage *st;
  pb_space *sp;
  pb_db *db;
  pb_txn *txn;
  assert_int_equal(pb_storage_open_memory(&st), PB_OK);
  assert_int_equal(pb_space_open(st, &sp), PB_OK);
  assert_int_equal(pb_db_open(sp, "tasks", PB_CREATE, &db), PB_OK);
  assert_int_equal(pb_txn_begin(db, 0, &txn), PB_OK);
  tasks_Task t = sample(), back;
  pb_atom_ptr ptr;
  assert_int_equal(tasks_Task_put(txn, &t, &ptr), PB_OK);
  assert_false(pb_atom_ptr_is_null(ptr));
  assert_int_equal(tasks_Task_load(txn, ptr, &back), PB_OK);
  assert_true(back.id == t.id);
  pb_value ref = {.kind = PB_VALUE_REF, .as.ref = ptr};
  assert_int_equal(pb_txn_set(txn, "first", &ref), PB_OK);
  assert_int_equal(pb_txn_commit(txn), PB_OK);

  assert_int_equal(pb_txn_begin(db, PB_RDONLY, &txn), PB_OK);
  pb_value got;
  assert_int_equal(pb_txn_get(txn, "first", &got), PB_OK);
  assert_int_equal(tasks_Task_load(txn, got.as.ref, &back), PB_OK);
  assert_memory_equal(back.title.ptr, t.title.ptr, t.title.len);
  assert_true(back.estimate_hours == 2.75);
  pb_txn_abort(txn);
  pb_db_close(db);
  pb_space_close(sp);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(init_sets_defaults),
      cmocka_unit_test(round_trip_and_determinism),
      cmocka_unit_test(optional_zero_is_kept),
      cmocka_unit_test(unknown_fields_do_not_break_decode),
      cmocka_unit_test(wrong_wire_type_is_corrupt),
      cmocka_unit_test(invalid_utf8_is_refused_at_encode),
      cmocka_unit_test(put_and_load_in_a_transaction),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
