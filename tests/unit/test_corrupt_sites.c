/*
 * test_corrupt_sites - every PB_ECORRUPT the runtime makes goes through
 * PB__CORRUPT (util/errdetail.h), so that pb_errdetail() always says what
 * failed and where.  Reads every .c and .h under runtime/ (PB_SOURCE_DIR),
 * drops comments and string literals, and fails on each PB_ECORRUPT that
 * is not compared (== / !=), a case label, or the code's own definition.
 * Also checks the macro and the detail helpers: the form, the 512-byte
 * bound, prefixes, quiet scans, and that the detail is per thread.
 */
#include <dirent.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <cmocka.h>
#include <pthread.h>

#include "corrupt_detail.h"
#include "util/errdetail.h"

/* The one place that may name the bare code: the macro's definition. */
static const char *const allowed_files[] = {"runtime/util/errdetail.h"};

/* Copies `in` without comments and string / char literals (each replaced
 * by spaces, newlines kept so that line numbers stay right). */
static void strip(const char *in, char *out) {
  enum { CODE, LINE_C, BLOCK_C, STR, CHR } st = CODE;
  for (size_t i = 0; in[i]; i++) {
    char c = in[i], n = in[i + 1];
    char o = c == '\n' ? '\n' : ' ';
    switch (st) {
      case CODE:
        if (c == '/' && n == '/')
          st = LINE_C;
        else if (c == '/' && n == '*') {
          st = BLOCK_C;
          out[i++] = ' ';
          o = ' ';
        } else if (c == '"')
          st = STR;
        else if (c == '\'')
          st = CHR;
        else
          o = c;
        break;
      case LINE_C:
        if (c == '\n') st = CODE;
        break;
      case BLOCK_C:
        if (c == '*' && n == '/') {
          st = CODE;
          out[i++] = ' ';
        }
        break;
      case STR:
      case CHR:
        if (c == '\\' && n) {
          out[i++] = ' ';
          o = n == '\n' ? '\n' : ' ';
        } else if (c == (st == STR ? '"' : '\''))
          st = CODE;
        break;
    }
    out[i] = o;
  }
}

/* True when the PB_ECORRUPT at code[at] is a use that makes no error. */
static int allowed_use(const char *code, size_t at, size_t len) {
  size_t p = at;
  while (p > 0 &&
         (code[p - 1] == ' ' || code[p - 1] == '\t' || code[p - 1] == '\n'))
    p--;
  if (p >= 2 && (code[p - 1] == '=') &&
      (code[p - 2] == '=' || code[p - 2] == '!'))
    return 1; /* rc == PB_ECORRUPT */
  if (p >= 4 && strncmp(code + p - 4, "case", 4) == 0) return 1;
  if (p >= 6 && strncmp(code + p - 6, "define", 6) == 0) return 1;
  size_t q = at + len;
  while (code[q] == ' ' || code[q] == '\t') q++;
  if (code[q] == '=' && code[q + 1] != '=') return 1; /* enum definition */
  if (code[q] == '=' || (code[q] == '!' && code[q + 1] == '='))
    return 1; /* PB_ECORRUPT == rc */
  return 0;
}

static int check_file(const char *path, const char *rel) {
  for (size_t i = 0; i < sizeof allowed_files / sizeof *allowed_files; i++)
    if (strcmp(rel, allowed_files[i]) == 0) return 0;
  FILE *f = fopen(path, "rb");
  assert_non_null(f);
  fseek(f, 0, SEEK_END);
  long size = ftell(f);
  fseek(f, 0, SEEK_SET);
  char *in = calloc((size_t)size + 2, 1), *code = calloc((size_t)size + 2, 1);
  assert_non_null(in);
  assert_non_null(code);
  assert_int_equal(fread(in, 1, (size_t)size, f), (size_t)size);
  fclose(f);
  strip(in, code);
  int bad = 0;
  const char *word = "PB_ECORRUPT";
  size_t wl = strlen(word);
  for (const char *s = code; (s = strstr(s, word)) != NULL; s += wl) {
    size_t at = (size_t)(s - code);
    char after = s[wl];
    int ident_before =
        at > 0 &&
        (code[at - 1] == '_' || (code[at - 1] >= 'A' && code[at - 1] <= 'Z') ||
         (code[at - 1] >= 'a' && code[at - 1] <= 'z') ||
         (code[at - 1] >= '0' && code[at - 1] <= '9'));
    if (ident_before || after == '_' || (after >= 'A' && after <= 'Z'))
      continue;
    if (allowed_use(code, at, wl)) continue;
    int line = 1;
    for (size_t k = 0; k < at; k++) line += code[k] == '\n';
    fprintf(stderr, "%s:%d: PB_ECORRUPT made without PB__CORRUPT\n", rel, line);
    bad++;
  }
  free(in);
  free(code);
  return bad;
}

static int walk(const char *dir, const char *rel, int *files) {
  DIR *d = opendir(dir);
  assert_non_null(d);
  int bad = 0;
  struct dirent *e;
  while ((e = readdir(d)) != NULL) {
    if (e->d_name[0] == '.') continue;
    char path[4096], sub[1024];
    snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
    snprintf(sub, sizeof sub, "%s/%s", rel, e->d_name);
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    if (S_ISDIR(st.st_mode)) {
      bad += walk(path, sub, files);
      continue;
    }
    size_t n = strlen(e->d_name);
    if (n > 2 && e->d_name[n - 2] == '.' &&
        (e->d_name[n - 1] == 'c' || e->d_name[n - 1] == 'h')) {
      bad += check_file(path, sub);
      (*files)++;
    }
  }
  closedir(d);
  return bad;
}

/* No PB_ECORRUPT in runtime/ is made without PB__CORRUPT. */
static void every_corrupt_goes_through_the_macro(void **state) {
  (void)state;
  int files = 0;
  int bad = walk(PB_SOURCE_DIR "/runtime", "runtime", &files);
  assert_true(files > 50); /* the walk did find the runtime */
  assert_int_equal(bad, 0);
}

/* The checker itself sees what it must. */
static void the_checker_finds_bare_codes(void **state) {
  (void)state;
  const char *cases[][2] = {
      {"return PB_ECORRUPT;", "1"},
      {"rc = PB_ECORRUPT;", "1"},
      {"return x ? PB_OK : PB_ECORRUPT;", "1"},
      {"err->code = PB_ECORRUPT;", "1"},
      {"f(fs, PB_ECORRUPT, false);", "1"},
      {"if (rc == PB_ECORRUPT) x();", "0"},
      {"if (rc != PB_ECORRUPT) x();", "0"},
      {"/* return PB_ECORRUPT; */", "0"},
      {"// return PB_ECORRUPT;", "0"},
      {"s = \"PB_ECORRUPT\";", "0"},
      {"case PB_ECORRUPT: break;", "0"},
      {"return PB__CORRUPT(\"what\");", "0"},
  };
  for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
    char path[] = "/tmp/pb_corrupt_sitesXXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    FILE *f = fdopen(fd, "w");
    fputs(cases[i][0], f);
    fclose(f);
    int bad = check_file(path, "the checker's own case");
    remove(path);
    assert_int_equal(bad, atoi(cases[i][1]));
  }
}

/* PB__CORRUPT records what, then the source file and line; it is
 * PB_ECORRUPT. */
static void the_macro_records_what_and_where(void **state) {
  (void)state;
  pb__errdetail_set("");
  int line = __LINE__ + 1;
  int rc = PB__CORRUPT("field %u: %s", 7u, "bad");
  assert_int_equal(rc, PB_ECORRUPT);
  char want[128];
  snprintf(want, sizeof want, "field 7: bad (test_corrupt_sites.c:%d)", line);
  assert_string_equal(pb_errdetail(), want);
  assert_true(pb_test_detail_ok(PB_AT_SOURCE));
  assert_false(pb_test_detail_ok(PB_AT_ATOM));
  assert_false(pb_test_detail_ok(PB_AT_FILE));
  /* An argument may be the detail itself: the callee's reason stays. */
  rc = PB__CORRUPT("value 2: %s", pb_errdetail());
  assert_non_null(strstr(pb_errdetail(), "value 2: field 7: bad (test_"));
  pb_atom_ptr p = {0x0123456789abcdefull, 0xfedcba9876543210ull, 42};
  assert_int_equal(pb__errdetail_atom(rc, p, "dict node"), PB_ECORRUPT);
  assert_non_null(strstr(pb_errdetail(),
                         "atom batch 0123456789abcdeffedcba9876543210 "
                         "offset 42 (dict node): value 2: field 7"));
  assert_true(pb_test_detail_ok(PB_AT_ATOM));
  /* Another code is left alone. */
  pb__errdetail_set("before");
  assert_int_equal(pb__errdetail_atom(PB_EIO, p, "dict node"), PB_EIO);
  assert_string_equal(pb_errdetail(), "before");
}

/* The detail stays within 511 bytes, and keeps its source line when a
 * long message or a long prefix is cut. */
static void the_detail_is_bounded(void **state) {
  (void)state;
  char big[2000];
  memset(big, 'x', sizeof big - 1);
  big[sizeof big - 1] = '\0';
  int rc = PB__CORRUPT("%s", big);
  assert_int_equal(rc, PB_ECORRUPT);
  size_t n = strlen(pb_errdetail());
  assert_true(n <= PB__ERRDETAIL_SIZE - 1);
  assert_true(n > 400);
  assert_true(pb_test_has_source(pb_errdetail()));
  pb__errdetail_prefix("%s", big);
  assert_true(strlen(pb_errdetail()) <= PB__ERRDETAIL_SIZE - 1);
  assert_true(pb_test_has_source(pb_errdetail()));
  (void)PB__CORRUPT("short");
  pb__errdetail_prefix("%s", big);
  assert_int_equal(strlen(pb_errdetail()), PB__ERRDETAIL_SIZE - 1);
  assert_true(pb_test_has_source(pb_errdetail()));
}

/* While quiet (a scan of candidates), PB__CORRUPT records nothing but is
 * still PB_ECORRUPT; quiet nests. */
static void quiet_scans_record_nothing(void **state) {
  (void)state;
  pb__errdetail_set("kept");
  unsigned long before = pb__errdetail_count();
  pb__errdetail_quiet(true);
  pb__errdetail_quiet(true);
  assert_int_equal(PB__CORRUPT("probe"), PB_ECORRUPT);
  pb__errdetail_quiet(false);
  assert_int_equal(PB__CORRUPT("probe"), PB_ECORRUPT);
  pb__errdetail_quiet(false);
  assert_string_equal(pb_errdetail(), "kept");
  assert_int_equal(pb__errdetail_count(), before);
  assert_int_equal(PB__CORRUPT("loud"), PB_ECORRUPT);
  assert_non_null(strstr(pb_errdetail(), "loud ("));
  assert_int_equal(pb__errdetail_count(), before + 1);
}

static void *other_thread(void *arg) {
  (void)arg;
  (void)PB__CORRUPT("in the other thread");
  return NULL;
}

/* Each thread has its own detail. */
static void the_detail_is_per_thread(void **state) {
  (void)state;
  (void)PB__CORRUPT("in this thread");
  pthread_t t;
  assert_int_equal(pthread_create(&t, NULL, other_thread, NULL), 0);
  assert_int_equal(pthread_join(t, NULL), 0);
  assert_non_null(strstr(pb_errdetail(), "in this thread"));
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(every_corrupt_goes_through_the_macro),
      cmocka_unit_test(the_checker_finds_bare_codes),
      cmocka_unit_test(the_macro_records_what_and_where),
      cmocka_unit_test(the_detail_is_bounded),
      cmocka_unit_test(quiet_scans_record_nothing),
      cmocka_unit_test(the_detail_is_per_thread),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
