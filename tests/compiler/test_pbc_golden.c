/*
 * test_pbc_golden.c - pbc's generated C, byte for byte.
 *
 * Every tests/compiler/golden/NAME.pbs is compiled by pbc into a fresh
 * temporary directory, and the outputs must equal golden/NAME.pb.h and
 * golden/NAME.pb.c exactly.  On a difference the test prints `diff -u`
 * (expected, then actual).  When a change to the generator is intended,
 * scripts/regen-golden rewrites the expected files; review the diff and
 * commit them with the change (docs/generated.md).
 *
 * The same goldens are also compiled: tests/CMakeLists.txt runs
 * pbc_generate on them for this test's target (so they build with the
 * project's -Werror flags), and headers_compile_as_cpp checks that each
 * header is valid C++ when a C++ compiler is installed.
 *
 * Build definitions: PBC_PATH (the pbc executable), PB_GOLDEN_DIR
 * (tests/compiler/golden) and PB_RUNTIME_INCLUDE (runtime/include, for the
 * C++ check; optional).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pbc_test_util.h"

#ifndef PB_GOLDEN_DIR
#error "PB_GOLDEN_DIR (tests/compiler/golden) must be defined by the build"
#endif

/* The schemas the golden set must contain at least. */
static const char *const required[] = {"scalars", "every_type", "enums",
                                       "empty", "common", "tables"};

static int str_cmp(const void *a, const void *b) {
  return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The base names of the golden schemas, sorted; *n gets their number. */
static char **golden_names(size_t *n) {
  DIR *d = opendir(PB_GOLDEN_DIR);
  assert_non_null(d);
  size_t cap = 16;
  char **names = malloc(cap * sizeof *names);
  assert_non_null(names);
  *n = 0;
  struct dirent *e;
  while ((e = readdir(d)) != NULL) {
    size_t len = strlen(e->d_name);
    if (len <= 4 || strcmp(e->d_name + len - 4, ".pbs") != 0) continue;
    if (*n == cap) {
      names = realloc(names, (cap *= 2) * sizeof *names);
      assert_non_null(names);
    }
    names[*n] = strndup(e->d_name, len - 4);
    assert_non_null(names[(*n)++]);
  }
  closedir(d);
  qsort(names, *n, sizeof *names, str_cmp);
  return names;
}

static void free_names(char **names, size_t n) {
  for (size_t i = 0; i < n; i++) free(names[i]);
  free(names);
}

/* Prints `diff -u want got` to stderr (best effort). */
static void show_diff(const char *want, const char *got) {
  char cmd[8192];
  snprintf(cmd, sizeof cmd, "diff -u '%s' '%s' 2>&1", want, got);
  FILE *p = popen(cmd, "r");
  if (!p) return;
  char line[1024];
  while (fgets(line, sizeof line, p)) fputs(line, stderr);
  pclose(p);
}

/* Compares one generated file with its golden copy; returns true if equal. */
static bool same_as_golden(const char *dir, const char *file) {
  char *want_path = pbc_join(PB_GOLDEN_DIR, file);
  char *got_path = pbc_join(dir, file);
  size_t want_len = 0, got_len = 0;
  char *want = pbc_read_file(want_path, &want_len);
  char *got = pbc_read_file(got_path, &got_len);
  bool same = want && got && want_len == got_len &&
              memcmp(want, got, want_len) == 0;
  if (!want)
    fprintf(stderr, "missing golden file %s (run scripts/regen-golden)\n",
            want_path);
  else if (!got)
    fprintf(stderr, "pbc did not write %s\n", got_path);
  else if (!same) {
    fprintf(stderr, "%s differs from its golden copy:\n", file);
    show_diff(want_path, got_path);
  }
  free(want);
  free(got);
  free(want_path);
  free(got_path);
  return same;
}

static void golden_set_is_complete(void **state) {
  (void)state;
  size_t n;
  char **names = golden_names(&n);
  for (size_t i = 0; i < sizeof required / sizeof *required; i++) {
    const char *key = required[i];
    if (!bsearch(&key, names, n, sizeof *names, str_cmp))
      fail_msg("golden/%s.pbs is missing", required[i]);
  }
  free_names(names, n);
}

static void outputs_match_the_goldens(void **state) {
  (void)state;
  size_t n;
  char **names = golden_names(&n);
  int failures = 0;
  for (size_t i = 0; i < n; i++) {
    char *dir = pbc_make_tmpdir("pbc-golden");
    assert_non_null(dir);
    char pbs[4096], h[512], c[512];
    snprintf(pbs, sizeof pbs, "%s/%s.pbs", PB_GOLDEN_DIR, names[i]);
    snprintf(h, sizeof h, "%s.pb.h", names[i]);
    snprintf(c, sizeof c, "%s.pb.c", names[i]);
    const char *args[] = {"-o", dir, pbs, NULL};
    pbc_run_result r;
    assert_true(pbc_run(args, &r));
    if (r.status != 0 || r.err[0] != '\0') {
      fprintf(stderr, "pbc %s exited with %d:\n%s", pbs, r.status, r.err);
      failures++;
    } else {
      assert_int_equal(pbc_count_entries(dir), 2);
      failures += !same_as_golden(dir, h);
      failures += !same_as_golden(dir, c);
    }
    pbc_run_free(&r);
    pbc_remove_tmpdir(dir);
  }
  free_names(names, n);
  if (failures)
    fail_msg("%d generated file(s) differ from tests/compiler/golden; if "
             "the change is intended, run scripts/regen-golden and review "
             "the diff", failures);
}

static void headers_compile_as_cpp(void **state) {
  (void)state;
#ifndef PB_RUNTIME_INCLUDE
  skip();
#else
  if (system("command -v c++ >/dev/null 2>&1") != 0) skip();
  size_t n;
  char **names = golden_names(&n);
  for (size_t i = 0; i < n; i++) {
    char cmd[8192];
    snprintf(cmd, sizeof cmd,
             "c++ -std=c++11 -fsyntax-only -Wall -Wextra -Werror -I'%s' "
             "-I'%s' -x c++ '%s/%s.pb.h' 2>&1",
             PB_RUNTIME_INCLUDE, PB_GOLDEN_DIR, PB_GOLDEN_DIR, names[i]);
    FILE *p = popen(cmd, "r");
    assert_non_null(p);
    char line[1024];
    while (fgets(line, sizeof line, p)) fputs(line, stderr);
    int status = pclose(p);
    if (status != 0) fail_msg("%s.pb.h is not valid C++ (see above)", names[i]);
  }
  free_names(names, n);
#endif
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(golden_set_is_complete),
      cmocka_unit_test(outputs_match_the_goldens),
      cmocka_unit_test(headers_compile_as_cpp),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
