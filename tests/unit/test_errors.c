/*
 * test_errors.c - every error code has a distinct name and a message, and
 * unknown codes are named as such.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "protobase/protobase.h"

static const int all_codes[] = {
#define CODE(name, value, msg) PB_##name,
    PB_ERROR_LIST(CODE)
#undef CODE
};
static const char *const all_names[] = {
#define NAME(name, value, msg) "PB_" #name,
    PB_ERROR_LIST(NAME)
#undef NAME
};
#define NCODES (sizeof all_codes / sizeof all_codes[0])

static void every_code_has_name_and_message(void **state) {
  (void)state;
  for (size_t i = 0; i < NCODES; i++) {
    const char *msg = pb_strerror(all_codes[i]);
    assert_non_null(msg);
    assert_true(strlen(msg) > 3);
    assert_string_not_equal(msg, "unknown error");
    assert_string_equal(pb_errname(all_codes[i]), all_names[i]);
  }
}

static void codes_are_distinct_and_errors_negative(void **state) {
  (void)state;
  assert_int_equal(PB_OK, 0);
  for (size_t i = 0; i < NCODES; i++) {
    if (all_codes[i] != PB_OK) assert_true(all_codes[i] < 0);
    for (size_t j = i + 1; j < NCODES; j++)
      assert_int_not_equal(all_codes[i], all_codes[j]);
  }
  /* The codes the design names exist. */
  int named[] = {PB_ENOMEM, PB_EIO, PB_ECORRUPT, PB_ENOTFOUND, PB_ECONFLICT,
                 PB_ELOCKED, PB_EINVAL, PB_EUNAVAILABLE};
  for (size_t i = 0; i < sizeof named / sizeof named[0]; i++)
    assert_string_not_equal(pb_errname(named[i]), "PB_UNKNOWN");
}

static void unknown_codes(void **state) {
  (void)state;
  assert_string_equal(pb_strerror(-9999), "unknown error");
  assert_string_equal(pb_errname(12345), "PB_UNKNOWN");
  assert_string_equal(pb_strerror(PB_ENOTFOUND), "not found");
}

static void version_matches_header(void **state) {
  (void)state;
  assert_string_equal(pb_version(), PB_VERSION_STRING);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(every_code_has_name_and_message),
      cmocka_unit_test(codes_are_distinct_and_errors_negative),
      cmocka_unit_test(unknown_codes),
      cmocka_unit_test(version_matches_header),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
