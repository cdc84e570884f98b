/*
 * tests/corrupt_detail.h - checks that a PB_ECORRUPT came with its located
 * pb_errdetail() (docs/errors.md, "The detail behind an error"):
 *   - always the source line that found the damage: "(name.c:123)";
 *   - for an atom read by pointer: "atom batch <32 hex digits> offset <n>";
 *   - for damage in a segment file: the file, "seg-<16 hex digits>.wal".
 * Header-only; the assert_* macros need cmocka included first.
 */
#ifndef PB_TEST_CORRUPT_DETAIL_H
#define PB_TEST_CORRUPT_DETAIL_H

#include <ctype.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "protobase/protobase.h"
#include "util/errdetail.h"

/* What the detail must name besides the source line. */
typedef enum pb_test_where {
  PB_AT_SOURCE, /* only the source line: bytes that no atom holds */
  PB_AT_ATOM,   /* an atom pointer */
  PB_AT_FILE,   /* a segment file */
  PB_AT_ADDRESS /* an atom pointer or a segment file */
} pb_test_where;

/* True when `d` holds "(<name>.c:<digits>)". */
static inline bool pb_test_has_source(const char *d) {
  for (const char *p = strstr(d, ".c:"); p; p = strstr(p + 1, ".c:")) {
    const char *q = p + 3;
    if (!isdigit((unsigned char)*q)) continue;
    while (isdigit((unsigned char)*q)) q++;
    if (*q != ')') continue;
    const char *b = p;
    while (b > d && (isalnum((unsigned char)b[-1]) || b[-1] == '_')) b--;
    if (b < p && b > d && b[-1] == '(') return true;
  }
  return false;
}

/* True when `d` holds "atom batch <32 hex digits> offset <digits>". */
static inline bool pb_test_has_atom(const char *d) {
  for (const char *p = strstr(d, "atom batch "); p;
       p = strstr(p + 1, "atom batch ")) {
    const char *q = p + strlen("atom batch ");
    int n = 0;
    while (n < 32 && isxdigit((unsigned char)q[n])) n++;
    if (n == 32 && strncmp(q + 32, " offset ", 8) == 0 &&
        isdigit((unsigned char)q[40]))
      return true;
  }
  return false;
}

/* True when `d` names a segment file "seg-<16 hex digits>.wal". */
static inline bool pb_test_has_file(const char *d) {
  for (const char *p = strstr(d, "seg-"); p; p = strstr(p + 1, "seg-")) {
    int n = 0;
    while (n < 16 && isxdigit((unsigned char)p[4 + n])) n++;
    if (n == 16 && strncmp(p + 20, ".wal", 4) == 0) return true;
  }
  return false;
}

/* True when this thread's detail has the form `where` asks for. */
static inline bool pb_test_detail_ok(pb_test_where where) {
  const char *d = pb_errdetail();
  if (d[0] == '\0' || !pb_test_has_source(d)) return false;
  switch (where) {
    case PB_AT_SOURCE: return true;
    case PB_AT_ATOM: return pb_test_has_atom(d);
    case PB_AT_FILE: return pb_test_has_file(d);
    case PB_AT_ADDRESS: return pb_test_has_atom(d) || pb_test_has_file(d);
  }
  return false;
}

/* Empties this thread's detail, so that a stale one cannot pass a check. */
static inline void pb_test_detail_clear(void) { pb__errdetail_set(""); }

/* For the fuzzers: false when `rc` is PB_ECORRUPT without a detail of form
 * `where`; then empties the detail for the next call's check. */
static inline bool pb_test_corrupt_ok(int rc, pb_test_where where) {
  bool ok = rc != PB_ECORRUPT || pb_test_detail_ok(where);
  if (!ok)
    fprintf(stderr, "PB_ECORRUPT with detail \"%s\" (wanted form %d)\n",
            pb_errdetail(), (int)where);
  pb_test_detail_clear();
  return ok;
}

/* Asserts that `rc` is PB_ECORRUPT with a detail of form `where`. */
#define assert_corrupt_rc(rc, where)                                   \
  do {                                                                 \
    int rc_ = (rc);                                                    \
    assert_int_equal(rc_, PB_ECORRUPT);                                \
    if (!pb_test_detail_ok(where))                                     \
      fail_msg("PB_ECORRUPT with detail \"%s\" (wanted form %d)",      \
               pb_errdetail(), (int)(where));                          \
  } while (0)

/* Evaluates the call `expr` on an emptied detail, then as above. */
#define assert_corrupt(expr, where) \
  do {                              \
    pb_test_detail_clear();         \
    assert_corrupt_rc((expr), where); \
  } while (0)

#ifdef fail_msg /* cmocka */
/* Fails the test when `rc` is PB_ECORRUPT without a detail of form
 * `where`; returns rc. */
static inline int pb_test_check_rc(int rc, pb_test_where where) {
  if (rc == PB_ECORRUPT && !pb_test_detail_ok(where))
    fail_msg("PB_ECORRUPT with detail \"%s\" (wanted form %d)",
             pb_errdetail(), (int)where);
  return rc;
}

/* Evaluates the call `expr` on an emptied detail and gives its code,
 * failing the test on a PB_ECORRUPT without a detail of form `where`. */
#define pb_test_checked(expr, where) \
  (pb_test_detail_clear(), pb_test_check_rc((expr), (where)))
#endif

#endif /* PB_TEST_CORRUPT_DETAIL_H */
