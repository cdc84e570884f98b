/*
 * test_pbc_check.c - `pbc check OLD NEW` over the schema pairs in
 * tests/compiler/evolve/<case>/{old,new}.pbs, and --error-format=json.
 *
 * Each new.pbs lists, in comments at its end, everything pbc must report:
 *
 *   // expect: new.pbs:L:C: compatible: MESSAGE
 *   // expect: new.pbs:L:C: error: breaking: MESSAGE
 *   // expect: new.pbs: error: breaking: MESSAGE      (no position)
 *   // expect-note: old.pbs:L:C: note: MESSAGE
 *
 * The file names match a stderr path ending in "/new.pbs" or "/old.pbs".
 * For each case the test checks that every expected line is on stderr,
 * that there are no other diagnostics, the exit status (1 when any expect
 * is breaking, else 0) and the summary "pbc check: N compatible, M
 * breaking" on stdout.  Then it runs the same case with
 * --error-format=json and checks that stderr is one well-formed JSON
 * array (a small validating parser below) with one "severity" per expect
 * line and one "message" per expect and expect-note line.
 *
 * Build definitions: PBC_PATH (the pbc executable) and PB_EVOLVE_DIR (this
 * directory's evolve/).
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

#ifndef PB_EVOLVE_DIR
#error "PB_EVOLVE_DIR (tests/compiler/evolve) must be defined by the build"
#endif

/* --- A validating JSON parser, just enough to say "well-formed". --- */

typedef struct json_in {
  const char *p; /* next byte */
  int depth;     /* nesting, bounded */
} json_in;

static void json_ws(json_in *j) {
  while (*j->p == ' ' || *j->p == '\n' || *j->p == '\t' || *j->p == '\r')
    j->p++;
}

static bool json_value(json_in *j);

static bool json_string(json_in *j) {
  if (*j->p++ != '"')
    return false;
  for (;;) {
    unsigned char c = (unsigned char)*j->p++;
    if (c == '"')
      return true;
    if (c < 0x20) /* also the end of the text */
      return false;
    if (c != '\\')
      continue;
    c = (unsigned char)*j->p++;
    if (c == 'u') {
      for (int i = 0; i < 4; i++)
        if (!strchr("0123456789abcdefABCDEF", *j->p++) || !j->p[-1])
          return false;
    } else if (!c || !strchr("\"\\/bfnrt", c)) {
      return false;
    }
  }
}

static bool json_seq(json_in *j, char close, bool members) {
  j->p++;
  json_ws(j);
  if (*j->p == close) {
    j->p++;
    return true;
  }
  for (;;) {
    json_ws(j);
    if (members) {
      if (!json_string(j))
        return false;
      json_ws(j);
      if (*j->p++ != ':')
        return false;
    }
    if (!json_value(j))
      return false;
    json_ws(j);
    char c = *j->p++;
    if (c == close)
      return true;
    if (c != ',')
      return false;
  }
}

static bool json_value(json_in *j) {
  json_ws(j);
  if (++j->depth > 64)
    return false;
  bool ok;
  const char *p = j->p;
  if (*p == '{' || *p == '[') {
    ok = json_seq(j, *p == '{' ? '}' : ']', *p == '{');
  } else if (*p == '"') {
    ok = json_string(j);
  } else if (strncmp(p, "true", 4) == 0 || strncmp(p, "null", 4) == 0) {
    j->p += 4;
    ok = true;
  } else if (strncmp(p, "false", 5) == 0) {
    j->p += 5;
    ok = true;
  } else {
    char *end;
    (void)strtod(p, &end);
    ok = end != p && (*p == '-' || (*p >= '0' && *p <= '9'));
    j->p = end;
  }
  j->depth--;
  return ok;
}

/* True when text is exactly one JSON array (and trailing whitespace). */
static bool json_is_array(const char *text) {
  json_in j = {text, 0};
  json_ws(&j);
  if (*j.p != '[' || !json_value(&j))
    return false;
  json_ws(&j);
  return *j.p == '\0';
}

static int count_substr(const char *text, const char *needle) {
  int n = 0;
  for (const char *p = strstr(text, needle); p; p = strstr(p + 1, needle))
    n++;
  return n;
}

/* --- Expectations --- */

typedef struct expect {
  char *text;    /* "new.pbs:4:10: compatible: ..." */
  bool note;     /* from an expect-note line */
  bool breaking; /* contains "error: breaking:" */
} expect;

static size_t read_expects(const char *path, expect *out, size_t max) {
  char *text = pbc_read_file(path, NULL);
  assert_non_null(text);
  size_t n = 0;
  for (char *line = strtok(text, "\n"); line; line = strtok(NULL, "\n")) {
    static const char e[] = "// expect: ", en[] = "// expect-note: ";
    bool is_note = strncmp(line, en, sizeof en - 1) == 0;
    if (!is_note && strncmp(line, e, sizeof e - 1) != 0)
      continue;
    assert_true(n < max);
    out[n].text = strdup(line + (is_note ? sizeof en : sizeof e) - 1);
    out[n].note = is_note;
    out[n].breaking = strstr(line, "error: breaking:") != NULL;
    n++;
  }
  free(text);
  return n;
}

/* True when some line of `err` is `want`, or ends with "/" + want. */
static bool has_line(const char *err, const char *want) {
  size_t wl = strlen(want);
  for (const char *p = err; *p;) {
    const char *nl = strchr(p, '\n');
    size_t ll = nl ? (size_t)(nl - p) : strlen(p);
    if (ll >= wl && memcmp(p + ll - wl, want, wl) == 0 &&
        (ll == wl || p[ll - wl - 1] == '/'))
      return true;
    p += ll + (nl != NULL);
  }
  return false;
}

/* Diagnostic header lines: "<dir>/...pbs:...: (compatible|error|note): ". */
static int count_headers(const char *err, const char *dir) {
  int n = 0;
  size_t dl = strlen(dir);
  for (const char *p = err; *p;) {
    const char *nl = strchr(p, '\n');
    size_t ll = nl ? (size_t)(nl - p) : strlen(p);
    char *line = strndup(p, ll);
    if (strncmp(line, dir, dl) == 0 &&
        (strstr(line, ": compatible: ") || strstr(line, ": error: ") ||
         strstr(line, ": note: ")))
      n++;
    free(line);
    p += ll + (nl != NULL);
  }
  return n;
}

static void run_case(const char *dir) {
  char *oldp = pbc_join(dir, "old.pbs"), *newp = pbc_join(dir, "new.pbs");
  expect ex[64];
  size_t n = read_expects(newp, ex, 64);
  int ncompat = 0, nbreak = 0, nnotes = 0;
  for (size_t i = 0; i < n; i++) {
    nnotes += ex[i].note;
    nbreak += !ex[i].note && ex[i].breaking;
    ncompat += !ex[i].note && !ex[i].breaking;
  }
  char summary[96];
  snprintf(summary, sizeof summary, "pbc check: %d compatible, %d breaking\n",
           ncompat, nbreak);

  pbc_run_result r;
  const char *args[] = {"check", oldp, newp, NULL};
  assert_true(pbc_run(args, &r));
  if (r.status != (nbreak ? 1 : 0) || strcmp(r.out, summary) != 0)
    fprintf(stderr, "case %s: status %d, stdout:\n%s\nstderr:\n%s\n", dir,
            r.status, r.out, r.err);
  assert_int_equal(r.status, nbreak ? 1 : 0);
  assert_string_equal(r.out, summary);
  assert_false(pbc_sanitizer_fired(r.err));
  for (size_t i = 0; i < n; i++) {
    if (!has_line(r.err, ex[i].text))
      fprintf(stderr, "case %s: missing '%s' in:\n%s\n", dir, ex[i].text,
              r.err);
    assert_true(has_line(r.err, ex[i].text));
  }
  assert_int_equal(count_headers(r.err, dir), (int)n);
  pbc_run_result j;
  const char *jargs[] = {"--error-format=json", "check", oldp, newp, NULL};
  assert_true(pbc_run(jargs, &j));
  assert_int_equal(j.status, r.status);
  assert_string_equal(j.out, summary);
  if (!json_is_array(j.err))
    fprintf(stderr, "case %s: not a JSON array:\n%s\n", dir, j.err);
  assert_true(json_is_array(j.err));
  assert_int_equal(count_substr(j.err, "\"severity\":"), ncompat + nbreak);
  assert_int_equal(count_substr(j.err, "\"message\":"), (int)n);
  assert_int_equal(count_substr(j.err, "\"severity\":\"compatible\""), ncompat);
  pbc_run_free(&j);
  pbc_run_free(&r);
  (void)nnotes;
  for (size_t i = 0; i < n; i++)
    free(ex[i].text);
  free(oldp);
  free(newp);
}

static void test_evolve_corpus(void **state) {
  (void)state;
  DIR *d = opendir(PB_EVOLVE_DIR);
  assert_non_null(d);
  int cases = 0, breaking = 0;
  struct dirent *e;
  while ((e = readdir(d)) != NULL) {
    if (e->d_name[0] == '.')
      continue;
    char *dir = pbc_join(PB_EVOLVE_DIR, e->d_name);
    char *newp = pbc_join(dir, "new.pbs");
    char *text = pbc_read_file(newp, NULL);
    if (text) {
      breaking += strstr(text, "error: breaking:") != NULL;
      run_case(dir);
      cases++;
    }
    free(text);
    free(newp);
    free(dir);
  }
  closedir(d);
  assert_true(cases >= 16);
  assert_true(breaking >= 8 && cases - breaking >= 8);
}

/* --- The command line around check --- */

static char *write_schema(const char *dir, const char *name, const char *text) {
  char *p = pbc_join(dir, name);
  assert_true(pbc_write_file(p, text, strlen(text)));
  return p;
}

static void test_check_usage_and_errors(void **state) {
  (void)state;
  char *dir = pbc_make_tmpdir("pbc-check");
  char *good = write_schema(dir, "good.pbs", "package p; record R { int32 a = 1; }\n");
  char *bad = write_schema(dir, "bad.pbs", "package p; record R { Nope a = 1; }\n");
  char *missing = pbc_join(dir, "missing.pbs");
  pbc_run_result r;

  const char *one[] = {"check", good, NULL};
  assert_true(pbc_run(one, &r));
  assert_int_equal(r.status, 2);
  assert_non_null(strstr(r.err, "pbc: error: check needs two schemas"));
  pbc_run_free(&r);

  const char *io[] = {"check", missing, good, NULL};
  assert_true(pbc_run(io, &r));
  assert_int_equal(r.status, 2);
  assert_string_equal(r.out, "");
  pbc_run_free(&r);

  /* A schema error in either file: the usual diagnostic, status 1. */
  const char *err_new[] = {"check", good, bad, NULL};
  assert_true(pbc_run(err_new, &r));
  assert_int_equal(r.status, 1);
  assert_non_null(strstr(r.err, "bad.pbs:1:23: error: unknown type 'Nope'"));
  assert_string_equal(r.out, "");
  pbc_run_free(&r);
  const char *err_old[] = {"check", bad, good, NULL};
  assert_true(pbc_run(err_old, &r));
  assert_int_equal(r.status, 1);
  pbc_run_free(&r);

  /* Identical schemas: nothing to report. */
  const char *same[] = {"check", good, good, NULL};
  assert_true(pbc_run(same, &r));
  assert_int_equal(r.status, 0);
  assert_string_equal(r.out, "pbc check: 0 compatible, 0 breaking\n");
  assert_string_equal(r.err, "");
  pbc_run_free(&r);

  const char *fmt[] = {"--error-format=xml", good, NULL};
  assert_true(pbc_run(fmt, &r));
  assert_int_equal(r.status, 2);
  assert_non_null(strstr(r.err, "unknown error format 'xml'"));
  pbc_run_free(&r);

  free(good);
  free(bad);
  free(missing);
  pbc_remove_tmpdir(dir);
}

/* --- --error-format=json outside check --- */

static void test_json_errors(void **state) {
  (void)state;
  char *dir = pbc_make_tmpdir("pbc-json");
  /* A path with a quote, a backslash, a control character and UTF-8. */
  char *bad = write_schema(dir, "we\"ird\\\x01\xc3\xa9.pbs",
                           "package p;\nrecord R {\n  int32 a = 1;\n"
                           "  int32 b = 1;\n}\n");
  pbc_run_result r;
  const char *args[] = {"--error-format=json", "-o", dir, bad, NULL};
  assert_true(pbc_run(args, &r));
  assert_int_equal(r.status, 1);
  assert_true(json_is_array(r.err));
  assert_non_null(strstr(r.err, "we\\\"ird\\\\\\u0001\xc3\xa9.pbs\",\"line\":4,"
                                "\"column\":13,\"severity\":\"error\","
                                "\"message\":\"tag 1 is already used by field "
                                "'a'\",\"notes\":[{\"file\":"));
  assert_non_null(strstr(r.err, "\"line\":3,\"column\":13,\"message\":\"first "
                                "used here\"}]}"));
  assert_int_equal(count_substr(r.err, "\"severity\""), 1);
  pbc_run_free(&r);

  /* A byte that is not UTF-8 cannot pass through: U+FFFD instead. */
  char *latin1 = write_schema(dir, "caf\xe9.pbs", "package p; record R { X a = 1; }\n");
  const char *l1[] = {"--error-format=json", "-o", dir, latin1, NULL};
  assert_true(pbc_run(l1, &r));
  assert_int_equal(r.status, 1);
  assert_true(json_is_array(r.err));
  assert_non_null(strstr(r.err, "caf\\ufffd.pbs\",\"line\":1,\"column\":23,"));
  pbc_run_free(&r);
  free(latin1);

  /* Usage errors are JSON too, even before --error-format is seen. */
  const char *usage[] = {"--bogus", "--error-format=json", NULL};
  assert_true(pbc_run(usage, &r));
  assert_int_equal(r.status, 2);
  assert_string_equal(r.err, "[{\"file\":null,\"line\":0,\"column\":0,"
                             "\"severity\":\"error\",\"message\":\"unknown "
                             "option '--bogus'\",\"notes\":[]}]\n");
  pbc_run_free(&r);

  /* No diagnostics: an empty array. */
  char *good = write_schema(dir, "good.pbs", "package p; record R { int32 a = 1; }\n");
  const char *ok[] = {"--error-format", "json", "--print-fingerprints", good, NULL};
  assert_true(pbc_run(ok, &r));
  assert_int_equal(r.status, 0);
  assert_string_equal(r.err, "[]\n");
  pbc_run_free(&r);

  free(bad);
  free(good);
  pbc_remove_tmpdir(dir);
}

static void test_help_lists_everything(void **state) {
  (void)state;
  pbc_run_result r;
  const char *args[] = {"--help", NULL};
  assert_true(pbc_run(args, &r));
  assert_int_equal(r.status, 0);
  const char *want[] = {"-o DIR", "-I DIR", "--depfile", "--print-fingerprints",
                        "--error-format", "check OLD.pbs NEW.pbs", "--help",
                        "--version"};
  for (size_t i = 0; i < sizeof want / sizeof want[0]; i++)
    assert_non_null(strstr(r.out, want[i]));
  pbc_run_free(&r);
  const char *ver[] = {"--version", NULL};
  assert_true(pbc_run(ver, &r));
  assert_int_equal(r.status, 0);
  assert_int_equal(strncmp(r.out, "pbc ", 4), 0);
  pbc_run_free(&r);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_evolve_corpus),
      cmocka_unit_test(test_check_usage_and_errors),
      cmocka_unit_test(test_json_errors),
      cmocka_unit_test(test_help_lists_everything),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
