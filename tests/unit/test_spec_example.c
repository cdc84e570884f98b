/*
 * test_spec_example.c - the schema example of SPEC section 2 compiles
 * exactly as written (tests/compiler/spec/tasks.pbs, with people.pbs for
 * the import and Comment in the same file), and its generated API works:
 * every field kind set, encoded, verified, decoded and re-encoded to the
 * same bytes.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "people.pb.h"
#include "tasks.pb.h"

static void every_field_round_trips(void **state) {
  (void)state;
  static const pb_str labels[] = {{"home", 4}, {"urgent", 6}};
  static const uint8_t blob[] = {1, 2, 3};
  tasks_Task t, back;
  tasks_Task_init(&t);
  assert_int_equal(t.priority, tasks_Priority_NORMAL); /* [default = NORMAL] */
  t.id = 42;
  t.title = pb_str_from_cstr("ship it");
  t.done = true;
  t.priority = tasks_Priority_HIGH;
  t.has_due = true;
  t.due = 1700000000;
  t.labels.items = labels;
  t.labels.count = 2;
  t.owner = pb_str_from_cstr("ada@example.org"); /* ref<Person>: its key */
  t.comments = (pb_atom_ptr){1, 2, 3};             /* a List's root */
  t.where.x = 1.5;
  t.where.y = -2.0;
  t.blob.ptr = blob;
  t.blob.len = sizeof blob;

  pb_buf b1, b2;
  pb_buf_init(&b1);
  pb_buf_init(&b2);
  assert_int_equal(tasks_Task_encode(&t, &b1), PB_OK);
  pb_verify_error err;
  assert_int_equal(tasks_Task_verify(b1.data, b1.len, &err), PB_OK);
  pb_arena *arena;
  assert_int_equal(pb_arena_create(&arena), PB_OK);
  assert_int_equal(tasks_Task_decode(&back, b1.data, b1.len, arena), PB_OK);
  assert_true(back.id == 42);
  assert_int_equal(back.priority, tasks_Priority_HIGH);
  assert_true(back.has_due && back.due == 1700000000);
  assert_int_equal(back.labels.count, 2);
  assert_memory_equal(back.labels.items[1].ptr, "urgent", 6);
  assert_int_equal(back.owner.len, strlen("ada@example.org"));
  assert_true(pb_atom_ptr_equal(back.comments, t.comments));
  assert_true(pb_atom_ptr_is_null(back.scores));
  assert_true(back.where.x == 1.5 && back.where.y == -2.0);
  assert_int_equal(tasks_Task_encode(&back, &b2), PB_OK);
  assert_int_equal(b1.len, b2.len);
  assert_memory_equal(b1.data, b2.data, b1.len);

  /* The enum names, and distinct fingerprints for the three records. */
  assert_string_equal(tasks_Priority_name(tasks_Priority_HIGH), "HIGH");
  tasks_Priority p;
  assert_int_equal(tasks_Priority_from_name("LOW", &p), PB_OK);
  assert_int_equal(p, tasks_Priority_LOW);
  assert_int_equal(tasks_Priority_from_name("NOPE", &p), PB_ENOTFOUND);
  assert_true(tasks_Task_FINGERPRINT != tasks_Comment_FINGERPRINT);
  assert_true(tasks_Task_type.fingerprint == tasks_Task_FINGERPRINT);
  assert_true(people_Person_type.fingerprint != 0);
  pb_arena_destroy(arena);
  pb_buf_free(&b1);
  pb_buf_free(&b2);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(every_field_round_trips),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
