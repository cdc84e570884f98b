/*
 * test_pbc_fail.c - every malformed schema under tests/compiler/fail/ must be
 * rejected with the diagnostics it announces, and pbc must survive garbage.
 *
 * Each fail/<name>.pbs states what pbc must print, in comments:
 *
 *   // expect: FILE:LINE:COL: error: MESSAGE
 *   // expect-note: FILE:LINE:COL: note: MESSAGE
 *   // expect-line: TEXT                 (a whole stderr line, e.g. the cap)
 *
 * FILE is a base name; it matches a stderr path that ends with "/FILE" (or
 * is FILE).  For every expect and expect-note line, the next two stderr
 * lines must be the source line (equal to that line of the file, when the
 * file is the test file itself) and a caret line.  pbc must exit with
 * status 1 and write nothing into its output directory.
 *
 * The garbage test feeds random bytes, random token soup, byte mutations and
 * every truncated prefix of a valid schema, and accepts only exit status 0 or
 * 1 with no sanitizer report: never a crash, and never status 2 (which
 * means a usage or I/O error, not a bad schema).
 *
 * Build definitions: PBC_PATH (the pbc executable) and PB_FAIL_DIR (this
 * directory's fail/).  PBC_FUZZ_ITERATIONS overrides the number of random
 * inputs (default 300).
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
#include <stdbool.h>

#include "pbc_test_util.h"

#ifndef PB_FAIL_DIR
#error "PB_FAIL_DIR (tests/compiler/fail) must be defined by the build"
#endif

#ifndef PBC_FUZZ_ITERATIONS
#define PBC_FUZZ_ITERATIONS 300
#endif

/* --- Small string helpers --- */

/* Splits text into lines (in place).  Returns a heap array; *n = count. */
static char **split_lines(char *text, size_t *n) {
  size_t cap = 16;
  char **lines = malloc(cap * sizeof *lines);
  assert_non_null(lines);
  *n = 0;
  char *p = text;
  while (*p) {
    char *nl = strchr(p, '\n');
    if (*n == cap) {
      cap *= 2;
      lines = realloc(lines, cap * sizeof *lines);
      assert_non_null(lines);
    }
    lines[(*n)++] = p;
    if (!nl)
      break;
    *nl = '\0';
    p = nl + 1;
  }
  return lines;
}

/* True when `line` is `expect`, or ends with "/" + expect. */
static bool matches_expect(const char *line, const char *expect) {
  size_t ll = strlen(line), el = strlen(expect);
  if (ll < el || strcmp(line + ll - el, expect) != 0)
    return false;
  return ll == el || line[ll - el - 1] == '/';
}

/* A caret line: spaces and tabs, then '^', then nothing. */
static bool is_caret_line(const char *line) {
  size_t i = strspn(line, " \t");
  return line[i] == '^' && line[i + 1] == '\0';
}

/* --- One test per fail/<name>.pbs --- */

static void check_fail_case(void **state) {
  const char *path = *state;
  char *schema = pbc_read_file(path, NULL);
  assert_non_null(schema);
  char *schema_copy = strdup(schema);
  assert_non_null(schema_copy);
  size_t nsrc = 0;
  char **src_lines = split_lines(schema_copy, &nsrc);

  char *out_dir = pbc_make_tmpdir("pbc-fail");
  assert_non_null(out_dir);
  const char *args[] = {"-o", out_dir, path, NULL};
  pbc_run_result r;
  assert_true(pbc_run(args, &r));

  if (r.status != 1 || pbc_sanitizer_fired(r.err))
    fail_msg("%s: exit status %d (want 1); stderr:\n%s", path, r.status, r.err);
  assert_int_equal(pbc_count_entries(out_dir), 0); /* nothing written */

  size_t nerr = 0;
  char *err_copy = strdup(r.err);
  assert_non_null(err_copy);
  char **err_lines = split_lines(err_copy, &nerr);
  const char *base = strrchr(path, '/') ? strrchr(path, '/') + 1 : path;

  int expects = 0;
  for (size_t i = 0; i < nsrc; i++) {
    static const char *const kinds[] = {"// expect: ", "// expect-note: ",
                                        "// expect-line: "};
    const char *want = NULL;
    size_t kind = 0;
    for (kind = 0; kind < 3; kind++) {
      const char *at = strstr(src_lines[i], kinds[kind]);
      if (at) {
        want = at + strlen(kinds[kind]);
        break;
      }
    }
    if (!want)
      continue;
    expects++;
    size_t hit = nerr;
    for (size_t k = 0; k < nerr && hit == nerr; k++)
      if (kind == 2 ? strcmp(err_lines[k], want) == 0
                    : matches_expect(err_lines[k], want))
        hit = k;
    if (hit == nerr)
      fail_msg("%s: stderr lacks \"%s\"; stderr:\n%s", path, want, r.err);
    if (kind == 2)
      continue;
    /* The source line and the caret follow. */
    if (hit + 2 >= nerr || !is_caret_line(err_lines[hit + 2]))
      fail_msg("%s: no source and caret lines after \"%s\"; stderr:\n%s",
               path, want, r.err);
    /* When the location is in this file, the shown line must be that line. */
    size_t blen = strlen(base);
    unsigned long line_no = 0;
    if (strncmp(want, base, blen) == 0 && want[blen] == ':' &&
        sscanf(want + blen + 1, "%lu", &line_no) == 1 && line_no >= 1 &&
        line_no <= nsrc) {
      char *shown = err_lines[hit + 1];
      const char *actual = src_lines[line_no - 1];
      size_t alen = strlen(actual);
      if (alen > 0 && actual[alen - 1] == '\r')
        alen--;
      if (strlen(shown) != alen || strncmp(shown, actual, alen) != 0)
        fail_msg("%s: after \"%s\" pbc shows \"%s\", not line %lu \"%s\"",
                 path, want, shown, line_no, actual);
    }
  }
  if (expects == 0)
    fail_msg("%s has no // expect: line", path);

  free(err_lines);
  free(err_copy);
  pbc_run_free(&r);
  pbc_remove_tmpdir(out_dir);
  free(src_lines);
  free(schema_copy);
  free(schema);
}

/* --- Garbage in, no crash out --- */

/* A valid schema using the whole syntax; its prefixes make many errors. */
static const char valid_schema[] =
    "package fuzz.demo;   // a comment\n"
    "/* a block\n   comment */\n"
    "/// An enum.\n"
    "enum Priority { LOW = 0; NORMAL = 1; HIGH = -2; }\n"
    "/// A record with every scalar.\n"
    "record Task [renamed_from = \"Job\"] {\n"
    "  uint64 id = 1 [key];\n"
    "  /// The title.\n"
    "  string title = 2 [default = \"t\\x41\\n\"];\n"
    "  bool done = 3 [default = true];\n"
    "  optional int64 due = 5;\n"
    "  int8 a = 6 [default = -128]; int16 b = 7; int32 c = 8; uint8 d = 9;\n"
    "  uint16 e = 10; uint32 f = 11 [default = 0xFFFFFFFF];\n"
    "  float32 g = 12 [default = 1.5]; float64 h = 13 [default = -2e10];\n"
    "  bytes blob = 16;\n"
    "  reserved 14, 15;\n"
    "  index by_done (done, id);\n"
    "}\n"
    "record Empty {}\n"
    "record Later { string[] x = 1; ref<Task> t = 2; list<Task> l = 3;\n"
    "  set<string> s = 4; map<string, float64> m = 5; Priority p = 6; }\n";

static const char *const fuzz_tokens[] = {
    "package", "import", "enum", "record", "optional", "reserved", "index",
    "true", "false", "x", "Task", "int32", "string", "ref", "list", "map",
    "set", "<", ">", "[", "]", "{", "}", "(", ")", ";", "=", ",", ".", "-",
    "1", "0x1F", "1.5", "\"s\"", "\"\\x4\"", "/*", "*/", "///d\n", "//c\n",
    "\n", "\t", "key", "default", "99999999999999999999999", "007", "\"",
    "\\", "\xc3\xa9", "\"fuzz.pbs\"", "536870912", "0"};

static uint64_t rng_state = 0x9e3779b97f4a7c15u;

static uint64_t rng(void) { /* xorshift64*: deterministic across runs */
  rng_state ^= rng_state >> 12;
  rng_state ^= rng_state << 25;
  rng_state ^= rng_state >> 27;
  return rng_state * 2685821657736338717u;
}

static void run_garbage(const char *dir, const char *data, size_t len,
                        const char *what) {
  char *in = pbc_join(dir, "fuzz.pbs");
  char *out = pbc_join(dir, "out");
  assert_non_null(in);
  assert_non_null(out);
  assert_true(pbc_write_file(in, data, len));
  const char *args[] = {"-o", out, in, NULL};
  pbc_run_result r;
  assert_true(pbc_run(args, &r));
  if ((r.status != 0 && r.status != 1) || pbc_sanitizer_fired(r.err)) {
    fprintf(stderr, "input (%s, %zu bytes) kept in %s\n", what, len, in);
    fail_msg("pbc exited with status %d on %s; stderr:\n%s", r.status, what,
             r.err);
  }
  if (r.status == 1 && pbc_count_entries(out) != 0)
    fail_msg("pbc wrote output for %s despite errors", what);
  /* Clear outputs of inputs that happened to be valid. */
  char *o1 = pbc_join(out, "fuzz.pb.h"), *o2 = pbc_join(out, "fuzz.pb.c");
  unlink(o1);
  unlink(o2);
  free(o1);
  free(o2);
  pbc_run_free(&r);
  free(in);
  free(out);
}

static void garbage_never_crashes(void **state) {
  (void)state;
  char *dir = pbc_make_tmpdir("pbc-fuzz");
  assert_non_null(dir);
  char *out = pbc_join(dir, "out");
  assert_int_equal(mkdir(out, 0777), 0);

  /* The valid schema itself must compile up to the unsupported record. */
  size_t vlen = sizeof valid_schema - 1;
  /* Every prefix, in steps that cover about 150 cut points. */
  size_t step = vlen / 150 ? vlen / 150 : 1;
  for (size_t n = 0; n <= vlen; n += step)
    run_garbage(dir, valid_schema, n, "a truncated valid schema");

  char buf[2048];
  for (int it = 0; it < PBC_FUZZ_ITERATIONS; it++) {
    size_t len = 0;
    switch (it % 3) {
    case 0: /* random bytes */
      len = rng() % 400;
      for (size_t i = 0; i < len; i++)
        buf[i] = (char)(rng() & 0xff);
      run_garbage(dir, buf, len, "random bytes");
      break;
    case 1: /* token soup */
      for (size_t t = rng() % 120; t > 0; t--) {
        const char *tok = fuzz_tokens[rng() % (sizeof fuzz_tokens /
                                                sizeof *fuzz_tokens)];
        size_t tl = strlen(tok);
        if (len + tl + 1 >= sizeof buf)
          break;
        memcpy(buf + len, tok, tl);
        len += tl;
        buf[len++] = ' ';
      }
      run_garbage(dir, buf, len, "token soup");
      break;
    default: /* mutations of the valid schema */
      memcpy(buf, valid_schema, vlen);
      len = vlen;
      for (int m = 1 + (int)(rng() % 6); m > 0 && len > 0; m--) {
        size_t at = rng() % len;
        if (rng() % 2) {
          buf[at] = (char)(rng() & 0xff);
        } else {
          size_t cut = 1 + rng() % 16;
          if (cut > len - at)
            cut = len - at;
          memmove(buf + at, buf + at + cut, len - at - cut);
          len -= cut;
        }
      }
      run_garbage(dir, buf, len, "a mutated valid schema");
      break;
    }
  }
  rmdir(out);
  free(out);
  char *in = pbc_join(dir, "fuzz.pbs");
  unlink(in);
  free(in);
  pbc_remove_tmpdir(dir);
}

/* --- Test list: one entry per fail/<name>.pbs, sorted by name --- */

static int by_name(const void *a, const void *b) {
  return strcmp(*(char *const *)a, *(char *const *)b);
}

int main(int argc, char **argv) {
  DIR *d = opendir(PB_FAIL_DIR);
  if (!d) {
    fprintf(stderr, "cannot open %s\n", PB_FAIL_DIR);
    return 1;
  }
  size_t n = 0, cap = 64;
  char **names = malloc(cap * sizeof *names);
  struct dirent *e;
  while (names && (e = readdir(d)) != NULL) {
    size_t len = strlen(e->d_name);
    if (len < 5 || strcmp(e->d_name + len - 4, ".pbs") != 0)
      continue;
    if (n == cap) {
      cap *= 2;
      names = realloc(names, cap * sizeof *names);
      if (!names)
        break;
    }
    names[n++] = strdup(e->d_name);
  }
  closedir(d);
  if (!names)
    return 1;
  qsort(names, n, sizeof *names, by_name);
  size_t n_cases = n;

  /* `test_pbc_fail garbage` is test_pbc_garbage (label fuzz): only the
   * random inputs, which spawn pbc hundreds of times and take most of the
   * time under sanitizers. */
  bool garbage = argc > 1 && strcmp(argv[1], "garbage") == 0;
  if (garbage)
    n_cases = 0;
  struct CMUnitTest *tests = calloc(n + 1, sizeof *tests);
  char **paths = calloc(n + 1, sizeof *paths);
  if (!tests || !paths)
    return 1;
  for (size_t i = 0; i < n_cases; i++) {
    paths[i] = pbc_join(PB_FAIL_DIR, names[i]);
    tests[i].name = names[i];
    tests[i].test_func = check_fail_case;
    tests[i].initial_state = paths[i];
  }
  size_t n_tests = n_cases;
  if (garbage) {
    tests[0].name = "garbage_never_crashes";
    tests[0].test_func = garbage_never_crashes;
    n_tests = 1;
  }

  int failed = _cmocka_run_group_tests("pbc_fail", tests, n_tests, NULL, NULL);
  for (size_t i = 0; i < n; i++) {
    free(paths[i]);
    free(names[i]);
  }
  free(paths);
  free(names);
  free(tests);
  return failed;
}
