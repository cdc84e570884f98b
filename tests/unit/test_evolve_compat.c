/*
 * test_evolve_compat.c - schema evolution in both directions, with two
 * versions of one record compiled into one program (SPEC section 2,
 * "Evolution"): tests/unit/evolve/v1.pbs (package evo1) and v2.pbs
 * (package evo2, which removes tag 3 and reserves it, and adds a string,
 * an embedded record, arrays, an enum with a default, and more).
 *
 *   - newer bytes decode under the older schema, which keeps the fields it
 *     does not know and writes them back when it re-encodes, in tag order:
 *     an older program never drops a newer program's data;
 *   - older bytes decode under the newer schema, with the added fields at
 *     their defaults.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "protobase/protobase.h"
#include "v1.pb.h"
#include "v2.pb.h"

static const int32_t levels[] = {3, -1, 70000};
static const pb_str tags[] = {{"red", 3}, {"", 0}, {"caf\xc3\xa9", 5}};
static const pb_str words[] = {{"one", 3}, {"two", 3}};

/* A v2 item with every field set away from its default. */
static evo2_Item full_v2(void) {
  evo2_Item it;
  evo2_Item_init(&it);
  it.id = 42;
  it.name = pb_str_from_cstr("hammer");
  it.done = true;
  it.note = pb_str_from_cstr("a note from v2");
  it.detail.text = pb_str_from_cstr("heavy");
  it.detail.weight = -1234567;
  it.detail.words.items = words;
  it.detail.words.count = 2;
  it.levels.items = levels;
  it.levels.count = 3;
  it.tags.items = tags;
  it.tags.count = 3;
  it.kind = evo2_Kind_TOOL;
  it.score = 9.5;
  it.big = UINT64_MAX;
  it.has_extra = true;
  it.extra = (pb_bytes){(const uint8_t *)"", 0}; /* set, and empty */
  return it;
}

static void assert_str(pb_str a, const char *want) {
  assert_int_equal(a.len, strlen(want));
  if (a.len) assert_memory_equal(a.ptr, want, a.len);
}

/* Every v2 field of `got` equals full_v2(), except name when given. */
static void assert_full_v2(const evo2_Item *got, const char *name) {
  assert_true(got->id == 42);
  assert_str(got->name, name);
  assert_true(got->done);
  assert_str(got->note, "a note from v2");
  assert_str(got->detail.text, "heavy");
  assert_true(got->detail.weight == -1234567);
  assert_int_equal(got->detail.words.count, 2);
  assert_str(got->detail.words.items[1], "two");
  assert_int_equal(got->levels.count, 3);
  assert_memory_equal(got->levels.items, levels, sizeof levels);
  assert_int_equal(got->tags.count, 3);
  for (size_t i = 0; i < 3; i++) {
    assert_int_equal(got->tags.items[i].len, tags[i].len);
    if (tags[i].len)
      assert_memory_equal(got->tags.items[i].ptr, tags[i].ptr, tags[i].len);
  }
  assert_int_equal(got->kind, evo2_Kind_TOOL);
  assert_true(got->score == 9.5);
  assert_true(got->big == UINT64_MAX);
  assert_true(got->has_extra);
  assert_int_equal(got->extra.len, 0);
  assert_int_equal(got->unknown_fields.len, 0);
}

static void newer_fields_survive_an_older_program(void **state) {
  (void)state;
  pb_arena *arena;
  assert_int_equal(pb_arena_create(&arena), PB_OK);
  evo2_Item it = full_v2();
  pb_buf v2_bytes, v1_bytes;
  pb_buf_init(&v2_bytes);
  pb_buf_init(&v1_bytes);
  assert_int_equal(evo2_Item_encode(&it, &v2_bytes), PB_OK);

  /* v1 reads v2's bytes: its own fields, and the rest kept. */
  assert_int_equal(evo1_Item_verify(v2_bytes.data, v2_bytes.len, NULL), PB_OK);
  evo1_Item old;
  assert_int_equal(evo1_Item_decode(&old, v2_bytes.data, v2_bytes.len, NULL),
                   PB_OK);
  assert_true(old.id == 42);
  assert_str(old.name, "hammer");
  assert_true(old.done);
  assert_true(old.score == 9.5);
  assert_int_equal(old.old_count, 0);
  assert_ptr_equal(old.unknown_fields.ptr, v2_bytes.data); /* zero-copy */
  assert_int_equal(old.unknown_fields.len, v2_bytes.len);

  /* Unchanged, v1 writes back exactly what v2 wrote. */
  assert_int_equal(evo1_Item_encode(&old, &v1_bytes), PB_OK);
  assert_int_equal(v1_bytes.len, v2_bytes.len);
  assert_memory_equal(v1_bytes.data, v2_bytes.data, v2_bytes.len);

  /* Changed, v1 writes its change and still every v2 field, in order. */
  old.name = pb_str_from_cstr("claw hammer");
  pb_buf_reset(&v1_bytes);
  assert_int_equal(evo1_Item_encode(&old, &v1_bytes), PB_OK);
  evo2_Item back;
  assert_int_equal(evo2_Item_verify(v1_bytes.data, v1_bytes.len, NULL), PB_OK);
  assert_int_equal(evo2_Item_decode(&back, v1_bytes.data, v1_bytes.len, arena),
                   PB_OK);
  assert_full_v2(&back, "claw hammer");
  /* ... and v2 re-encodes it canonically: as if it had never left v2. */
  evo2_Item want = full_v2();
  want.name = pb_str_from_cstr("claw hammer");
  pb_buf a, b;
  pb_buf_init(&a);
  pb_buf_init(&b);
  assert_int_equal(evo2_Item_encode(&back, &a), PB_OK);
  assert_int_equal(evo2_Item_encode(&want, &b), PB_OK);
  assert_int_equal(a.len, b.len);
  assert_memory_equal(a.data, b.data, a.len);
  assert_int_equal(v1_bytes.len, b.len); /* v1's output was canonical too */
  assert_memory_equal(v1_bytes.data, b.data, b.len);
  pb_buf_free(&a);
  pb_buf_free(&b);
  pb_buf_free(&v1_bytes);
  pb_buf_free(&v2_bytes);
  pb_arena_destroy(arena);
}

static void older_bytes_take_the_new_defaults(void **state) {
  (void)state;
  pb_arena *arena;
  assert_int_equal(pb_arena_create(&arena), PB_OK);
  evo1_Item old;
  evo1_Item_init(&old);
  old.id = 7;
  old.name = pb_str_from_cstr("saw");
  old.old_count = -3; /* tag 3: removed (and reserved) in v2 */
  old.score = 0.25;
  pb_buf v1_bytes, v2_bytes;
  pb_buf_init(&v1_bytes);
  pb_buf_init(&v2_bytes);
  assert_int_equal(evo1_Item_encode(&old, &v1_bytes), PB_OK);

  evo2_Item it;
  assert_int_equal(evo2_Item_verify(v1_bytes.data, v1_bytes.len, NULL), PB_OK);
  assert_int_equal(evo2_Item_decode(&it, v1_bytes.data, v1_bytes.len, arena),
                   PB_OK);
  assert_true(it.id == 7);
  assert_str(it.name, "saw");
  assert_false(it.done);
  assert_true(it.score == 0.25);
  /* Added fields: their defaults. */
  assert_str(it.note, "");
  assert_str(it.detail.text, "");
  assert_int_equal(it.levels.count, 0);
  assert_null(it.levels.items);
  assert_int_equal(it.tags.count, 0);
  assert_int_equal(it.kind, evo2_Kind_BOOK); /* [default = BOOK] */
  assert_true(it.big == 0);
  assert_false(it.has_extra);
  /* The removed field's value is v2's unknown field, and is written back. */
  assert_int_equal(it.unknown_fields.len, v1_bytes.len);
  assert_int_equal(evo2_Item_encode(&it, &v2_bytes), PB_OK);
  assert_int_equal(v2_bytes.len, v1_bytes.len);
  assert_memory_equal(v2_bytes.data, v1_bytes.data, v1_bytes.len);
  evo1_Item again;
  assert_int_equal(evo1_Item_decode(&again, v2_bytes.data, v2_bytes.len, NULL),
                   PB_OK);
  assert_int_equal(again.old_count, -3);
  pb_buf_free(&v1_bytes);
  pb_buf_free(&v2_bytes);
  pb_arena_destroy(arena);
}

static void newer_enum_values_are_kept_as_numbers(void **state) {
  (void)state;
  /* A v3 might add Kind 7: v2 keeps the number, and names nothing. */
  pb_buf b, out;
  pb_buf_init(&b);
  pb_buf_init(&out);
  pb_wire_put_uint(&b, 1, 5);
  pb_wire_put_sint(&b, 9, 7);
  evo2_Item it;
  assert_int_equal(evo2_Item_decode(&it, b.data, b.len, NULL), PB_EINVAL);
  pb_arena *arena;
  assert_int_equal(pb_arena_create(&arena), PB_OK);
  assert_int_equal(evo2_Item_decode(&it, b.data, b.len, arena), PB_OK);
  assert_int_equal((int)it.kind, 7);
  assert_null(evo2_Kind_name(it.kind));
  assert_string_equal(evo2_Kind_name(evo2_Kind_TOOL), "TOOL");
  evo2_Kind k;
  assert_int_equal(evo2_Kind_from_name("BOOK", &k), PB_OK);
  assert_int_equal(k, evo2_Kind_BOOK);
  assert_int_equal(evo2_Kind_from_name("book", &k), PB_ENOTFOUND);
  assert_int_equal(evo2_Item_encode(&it, &out), PB_OK);
  assert_int_equal(out.len, b.len);
  assert_memory_equal(out.data, b.data, b.len);
  pb_buf_free(&b);
  pb_buf_free(&out);
  pb_arena_destroy(arena);
}

static void fingerprints_differ_between_versions(void **state) {
  (void)state;
  assert_true(evo1_Item_FINGERPRINT != evo2_Item_FINGERPRINT);
  assert_true(evo1_Item_type.fingerprint == evo1_Item_FINGERPRINT);
  assert_string_equal(evo1_Item_type.name, "evo1.Item");
  assert_true(V1_PB_FINGERPRINT != V2_PB_FINGERPRINT);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(newer_fields_survive_an_older_program),
      cmocka_unit_test(older_bytes_take_the_new_defaults),
      cmocka_unit_test(newer_enum_values_are_kept_as_numbers),
      cmocka_unit_test(fingerprints_differ_between_versions),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
