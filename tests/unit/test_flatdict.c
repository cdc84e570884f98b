/*
 * test_flatdict.c - the one-atom Dictionary used for roots: sorted order,
 * replace and remove, an encode/decode round trip of every value kind, and
 * rejection of hostile bodies (unsorted keys, huge counts, bad UTF-8).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "atom/atom.h"
#include "atom/value.h"
#include "collections/flatdict.h"

static pb_str S(const char *s) { return pb_str_from_cstr(s); }

static void put_get_replace_remove(void **state) {
  (void)state;
  pb__flatdict d;
  pb__flatdict_init(&d);
  const char *keys[] = {"m", "a", "zz", "b", "", "ab"};
  for (int i = 0; i < 6; i++) {
    pb_value v = {.kind = PB_VALUE_INT, .as.i = i};
    assert_int_equal(pb__flatdict_put(&d, S(keys[i]), &v), PB_OK);
  }
  assert_int_equal(d.count, 6);
  const char *sorted[] = {"", "a", "ab", "b", "m", "zz"};
  for (int i = 0; i < 6; i++)
    assert_true(d.entries[i].key.len == strlen(sorted[i]) &&
                memcmp(d.entries[i].key.ptr, sorted[i], d.entries[i].key.len) == 0);
  pb_value v = {.kind = PB_VALUE_STRING, .as.s = S("new")};
  assert_int_equal(pb__flatdict_put(&d, S("m"), &v), PB_OK);
  assert_int_equal(d.count, 6);
  pb_value got;
  assert_int_equal(pb__flatdict_get(&d, S("m"), &got), PB_OK);
  assert_int_equal(got.kind, PB_VALUE_STRING);
  assert_memory_equal(got.as.s.ptr, "new", 3);
  assert_int_equal(pb__flatdict_remove(&d, S("a")), PB_OK);
  assert_int_equal(pb__flatdict_remove(&d, S("a")), PB_ENOTFOUND);
  assert_int_equal(pb__flatdict_get(&d, S("a"), &got), PB_ENOTFOUND);
  assert_int_equal(d.count, 5);
  pb__flatdict_free(&d);
}

static void round_trip_every_kind(void **state) {
  (void)state;
  pb__flatdict d, back;
  pb__flatdict_init(&d);
  pb__flatdict_init(&back);
  const uint8_t raw[] = {9, 0, 8};
  pb_value vals[] = {
      {.kind = PB_VALUE_NULL},
      {.kind = PB_VALUE_BOOL, .as.b = true},
      {.kind = PB_VALUE_BOOL, .as.b = false},
      {.kind = PB_VALUE_INT, .as.i = INT64_MIN},
      {.kind = PB_VALUE_UINT, .as.u = UINT64_MAX},
      {.kind = PB_VALUE_DOUBLE, .as.d = -0.125},
      {.kind = PB_VALUE_STRING, .as.s = {"text", 4}},
      {.kind = PB_VALUE_BYTES, .as.bytes = {raw, 3}},
      {.kind = PB_VALUE_REF, .as.ref = {UINT64_MAX, 1, UINT32_MAX}},
  };
  char name[8];
  for (int i = 0; i < 9; i++) {
    name[0] = (char)('a' + i);
    name[1] = 0;
    assert_int_equal(pb__flatdict_put(&d, S(name), &vals[i]), PB_OK);
  }
  pb_buf b;
  pb_buf_init(&b);
  pb__flatdict_encode(&d, &b);
  assert_int_equal(pb_buf_error(&b), PB_OK);
  pb_bytes atom = {b.data, b.len}, body;
  uint32_t type;
  assert_int_equal(pb__atom_parse(atom, &type, &body), PB_OK);
  assert_int_equal(type, PB__TYPE_FLATDICT);
  assert_int_equal(pb__flatdict_decode(&back, body), PB_OK);
  assert_int_equal(back.count, 9);
  for (int i = 0; i < 9; i++) {
    pb_value *x = &back.entries[i].value;
    assert_int_equal(x->kind, vals[i].kind);
  }
  assert_true(back.entries[1].value.as.b);
  assert_false(back.entries[2].value.as.b);
  assert_true(back.entries[3].value.as.i == INT64_MIN);
  assert_true(back.entries[4].value.as.u == UINT64_MAX);
  assert_true(back.entries[5].value.as.d == -0.125);
  assert_memory_equal(back.entries[6].value.as.s.ptr, "text", 4);
  assert_memory_equal(back.entries[7].value.as.bytes.ptr, raw, 3);
  assert_true(pb_atom_ptr_equal(back.entries[8].value.as.ref, vals[8].as.ref));
  /* Deterministic: re-encoding the decoded copy gives the same bytes. */
  pb_buf b2;
  pb_buf_init(&b2);
  pb__flatdict_encode(&back, &b2);
  assert_int_equal(b2.len, b.len);
  assert_memory_equal(b2.data, b.data, b.len);
  pb_buf_free(&b2);
  pb_buf_free(&b);
  pb__flatdict_free(&back);
  pb__flatdict_free(&d);
}

/* A REF takes exactly 20 bytes; an offset above UINT32_MAX has none. */
static void ref_values_have_a_fixed_size(void **state) {
  (void)state;
  pb_value ref = {.kind = PB_VALUE_REF, .as.ref = {1, 2, 3}};
  pb_buf b;
  pb_buf_init(&b);
  pb__value_encode(&b, &ref);
  const uint8_t want[] = {7, 1, 0, 0, 0, 0, 0, 0, 0, 2, 0, 0,
                          0, 0, 0, 0, 0, 3, 0, 0, 0};
  assert_int_equal(pb_buf_error(&b), PB_OK);
  assert_int_equal(b.len, sizeof want);
  assert_memory_equal(b.data, want, sizeof want);
  pb_buf_reset(&b);
  ref.as.ref.offset = (uint64_t)UINT32_MAX + 1;
  assert_false(pb__value_valid(&ref));
  pb__value_encode(&b, &ref);
  assert_int_equal(pb_buf_error(&b), PB_EINVAL);
  assert_int_equal(b.len, 0);
  pb_buf_free(&b);
}

static int decode_raw(const uint8_t *p, size_t n) {
  pb__flatdict d;
  pb__flatdict_init(&d);
  pb_bytes body = {p, n};
  int rc = pb__flatdict_decode(&d, body);
  pb__flatdict_free(&d);
  return rc;
}

static void hostile_bodies_are_rejected(void **state) {
  (void)state;
  const uint8_t unsorted[] = {2, 1, 'b', 0, 1, 'a', 0};
  const uint8_t dup[] = {2, 1, 'a', 0, 1, 'a', 0};
  const uint8_t huge_count[] = {0xff, 0xff, 0xff, 0xff, 0x0f, 1, 'a', 0};
  const uint8_t bad_utf8[] = {1, 1, 0xff, 0};
  const uint8_t bad_kind[] = {1, 1, 'a', 99};
  const uint8_t trailing[] = {1, 1, 'a', 0, 0};
  const uint8_t ok[] = {2, 1, 'a', 0, 1, 'b', 0x81};
  assert_int_equal(decode_raw(unsorted, sizeof unsorted), PB_ECORRUPT);
  assert_int_equal(decode_raw(dup, sizeof dup), PB_ECORRUPT);
  assert_int_equal(decode_raw(huge_count, sizeof huge_count), PB_ECORRUPT);
  assert_int_equal(decode_raw(bad_utf8, sizeof bad_utf8), PB_ECORRUPT);
  assert_int_equal(decode_raw(bad_kind, sizeof bad_kind), PB_ECORRUPT);
  assert_int_equal(decode_raw(trailing, sizeof trailing), PB_ECORRUPT);
  assert_int_equal(decode_raw(ok, sizeof ok), PB_OK);
  for (size_t cut = 0; cut < sizeof ok; cut++)
    assert_int_equal(decode_raw(ok, cut), PB_ECORRUPT);
}

static void atom_envelope(void **state) {
  (void)state;
  const uint8_t future[] = {2, 1, 0};
  const uint8_t zero_type[] = {1, 0};
  pb_bytes body;
  uint32_t type;
  assert_int_equal(pb__atom_parse((pb_bytes){future, 3}, &type, &body),
                   PB_EVERSION);
  assert_int_equal(pb__atom_parse((pb_bytes){zero_type, 2}, &type, &body),
                   PB_ECORRUPT);
  assert_int_equal(pb__atom_parse((pb_bytes){future, 1}, &type, &body),
                   PB_ECORRUPT);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(put_get_replace_remove),
      cmocka_unit_test(round_trip_every_kind),
      cmocka_unit_test(ref_values_have_a_fixed_size),
      cmocka_unit_test(hostile_bodies_are_rejected),
      cmocka_unit_test(atom_envelope),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
