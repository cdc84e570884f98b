/*
 * test_pbc_fingerprint.c - `pbc --print-fingerprints`: the output format,
 * stability, and what does and does not change a record's fingerprint.
 *
 * Each property is a pair of small schemas written into a temporary
 * directory: the fingerprint of one record (by qualified name) is
 * compared between the two versions.  Field names, comments, whitespace,
 * source order, indexes and [renamed_from] must not matter; tags, types,
 * defaults, optional, [key], reserved tags, embedded records and enums,
 * the package and the record name must.
 *
 * Build definition: PBC_PATH (the pbc executable).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pbc_test_util.h"

/* XXH3_64bits("record p.R{1:int32}"), the fingerprint of
 * "package p; record R { int32 a = 1; }". */
#define PB_PINNED_FINGERPRINT "a48f2c31919f5efe"

/* The directory of the current test (created in setup). */
static char *g_dir;

static int setup(void **state) {
  (void)state;
  g_dir = pbc_make_tmpdir("pbc-fp");
  return g_dir ? 0 : -1;
}

static int teardown(void **state) {
  (void)state;
  pbc_remove_tmpdir(g_dir);
  g_dir = NULL;
  return 0;
}

/* Runs --print-fingerprints on `text` (as NAME.pbs); returns stdout. */
static char *fingerprints(const char *name, const char *text, int want_status) {
  char *path = pbc_join(g_dir, name);
  assert_true(pbc_write_file(path, text, strlen(text)));
  char *out_dir = pbc_join(g_dir, "out");
  mkdir(out_dir, 0777);
  pbc_run_result r;
  const char *args[] = {"--print-fingerprints", "-o", out_dir, path, NULL};
  assert_true(pbc_run(args, &r));
  if (r.status != want_status)
    fprintf(stderr, "pbc exited %d:\n%s", r.status, r.err);
  assert_int_equal(r.status, want_status);
  assert_false(pbc_sanitizer_fired(r.err));
  assert_int_equal(pbc_count_entries(out_dir), 0); /* writes no files */
  char *out = r.out;
  r.out = NULL;
  pbc_run_free(&r);
  rmdir(out_dir);
  free(out_dir);
  unlink(path);
  free(path);
  return out;
}

/* The fingerprint printed for `qname`, or "" when absent. */
static void fingerprint_of(const char *out, const char *qname, char hex[17]) {
  hex[0] = '\0';
  size_t ql = strlen(qname);
  for (const char *p = out; *p;) {
    const char *nl = strchr(p, '\n');
    if (strncmp(p, qname, ql) == 0 && p[ql] == ' ' && strlen(p + ql + 1) >= 16) {
      memcpy(hex, p + ql + 1, 16);
      hex[16] = '\0';
    }
    if (!nl)
      break;
    p = nl + 1;
  }
}

/* A pair of schemas and whether `record` keeps its fingerprint. */
typedef struct fp_case {
  const char *what;   /* for failure messages */
  const char *record; /* qualified name, looked up in both outputs */
  const char *a, *b;  /* the two versions */
  const char *b_record; /* the record's name in b, when renamed; or NULL */
  bool same;          /* fingerprints equal? */
} fp_case;

#define BASE                                                                  \
  "package p;\n"                                                              \
  "enum Color { RED = 0; GREEN = 1; }\n"                                      \
  "record Inner { int32 v = 1; }\n"                                           \
  "record Mid { Inner in = 1; }\n"                                            \
  "record R {\n  uint64 id = 1 [key];\n  string name = 2;\n"                  \
  "  int32 n = 3 [default = 7];\n  Color c = 4;\n  Mid m = 5;\n"              \
  "  list<R> kids = 6;\n  index by_n (n);\n}\n"

static const fp_case cases[] = {
    /* --- unchanged --- */
    {"identical", "p.R", BASE, BASE, NULL, true},
    {"field renamed", "p.R", BASE,
     "package p;\nenum Color { RED = 0; GREEN = 1; }\n"
     "record Inner { int32 v = 1; }\nrecord Mid { Inner in = 1; }\n"
     "record R {\n  uint64 key_id = 1 [key];\n  string title = 2;\n"
     "  int32 count = 3 [default = 7];\n  Color colour = 4;\n  Mid mid = 5;\n"
     "  list<R> children = 6;\n  index by_n (count);\n}\n",
     NULL, true},
    {"comments and whitespace", "p.R", BASE,
     "// a comment\npackage   p ;\n/// doc\nenum Color{RED=0;GREEN=1;}\n"
     "record Inner{int32 v=1;}\nrecord Mid{Inner in=1;}\n"
     "/* block */ record R\n{\n\tuint64 id=1[key];string name=2;\n"
     "int32 n=3[default=7];Color c=4;Mid m=5;list<R> kids=6;index by_n(n);}\n",
     NULL, true},
    {"fields in another order", "p.R", BASE,
     "package p;\nenum Color { RED = 0; GREEN = 1; }\n"
     "record Inner { int32 v = 1; }\nrecord Mid { Inner in = 1; }\n"
     "record R {\n  list<R> kids = 6;\n  Mid m = 5;\n  Color c = 4;\n"
     "  int32 n = 3 [default = 7];\n  string name = 2;\n"
     "  uint64 id = 1 [key];\n  index by_n (n);\n}\n",
     NULL, true},
    {"index dropped", "p.R", BASE,
     "package p;\nenum Color { RED = 0; GREEN = 1; }\n"
     "record Inner { int32 v = 1; }\nrecord Mid { Inner in = 1; }\n"
     "record R {\n  uint64 id = 1 [key];\n  string name = 2;\n"
     "  int32 n = 3 [default = 7];\n  Color c = 4;\n  Mid m = 5;\n"
     "  list<R> kids = 6;\n}\n",
     NULL, true},
    {"index added", "p.R", BASE,
     "package p;\nenum Color { RED = 0; GREEN = 1; }\n"
     "record Inner { int32 v = 1; }\nrecord Mid { Inner in = 1; }\n"
     "record R {\n  uint64 id = 1 [key];\n  string name = 2;\n"
     "  int32 n = 3 [default = 7];\n  Color c = 4;\n  Mid m = 5;\n"
     "  list<R> kids = 6;\n  index by_n (n);\n  index by_c (c);\n}\n",
     NULL, true},
    {"index made unique", "p.R", BASE,
     "package p;\nenum Color { RED = 0; GREEN = 1; }\n"
     "record Inner { int32 v = 1; }\nrecord Mid { Inner in = 1; }\n"
     "record R {\n  uint64 id = 1 [key];\n  string name = 2;\n"
     "  int32 n = 3 [default = 7];\n  Color c = 4;\n  Mid m = 5;\n"
     "  list<R> kids = 6;\n  index by_n (n) [unique];\n}\n",
     NULL, true},
    {"enum value renamed", "p.R", BASE,
     "package p;\nenum Color { ROUGE = 0; VERT = 1; }\n"
     "record Inner { int32 v = 1; }\nrecord Mid { Inner in = 1; }\n"
     "record R {\n  uint64 id = 1 [key];\n  string name = 2;\n"
     "  int32 n = 3 [default = 7];\n  Color c = 4;\n  Mid m = 5;\n"
     "  list<R> kids = 6;\n  index by_n (n);\n}\n",
     NULL, true},
    {"a listed record changed", "p.A",
     "package p;\nrecord B { int32 x = 1; }\nrecord A { list<B> bs = 1; }\n",
     "package p;\nrecord B { int64 x = 1; }\nrecord A { list<B> bs = 1; }\n",
     NULL, true},
    /* --- changed --- */
    {"tag type changed", "p.R", "package p; record R { int32 a = 1; }\n",
     "package p; record R { int64 a = 1; }\n", NULL, false},
    {"default changed", "p.R",
     "package p; record R { int32 a = 1 [default = 1]; }\n",
     "package p; record R { int32 a = 1 [default = 2]; }\n", NULL, false},
    {"float default sign", "p.R",
     "package p; record R { float64 a = 1 [default = 0.0]; }\n",
     "package p; record R { float64 a = 1 [default = -0.0]; }\n", NULL, false},
    {"string default", "p.R",
     "package p; record R { string a = 1 [default = \"x\"]; }\n",
     "package p; record R { string a = 1 [default = \"y\"]; }\n", NULL, false},
    {"tag number changed", "p.R", "package p; record R { int32 a = 1; }\n",
     "package p; record R { int32 a = 2; }\n", NULL, false},
    {"optional added", "p.R", "package p; record R { int32 a = 1; }\n",
     "package p; record R { optional int32 a = 1; }\n", NULL, false},
    {"key added", "p.R", "package p; record R { int32 a = 1; }\n",
     "package p; record R { int32 a = 1 [key]; }\n", NULL, false},
    {"tag reserved", "p.R", "package p; record R { int32 a = 1; }\n",
     "package p; record R { int32 a = 1; reserved 2; }\n", NULL, false},
    {"embedded enum value renumbered", "p.R", BASE,
     "package p;\nenum Color { RED = 0; GREEN = 2; }\n"
     "record Inner { int32 v = 1; }\nrecord Mid { Inner in = 1; }\n"
     "record R {\n  uint64 id = 1 [key];\n  string name = 2;\n"
     "  int32 n = 3 [default = 7];\n  Color c = 4;\n  Mid m = 5;\n"
     "  list<R> kids = 6;\n  index by_n (n);\n}\n",
     NULL, false},
    {"nested embedded record field type", "p.R", BASE,
     "package p;\nenum Color { RED = 0; GREEN = 1; }\n"
     "record Inner { uint32 v = 1; }\nrecord Mid { Inner in = 1; }\n"
     "record R {\n  uint64 id = 1 [key];\n  string name = 2;\n"
     "  int32 n = 3 [default = 7];\n  Color c = 4;\n  Mid m = 5;\n"
     "  list<R> kids = 6;\n  index by_n (n);\n}\n",
     NULL, false},
    {"list element type", "p.R", "package p; record R { list<int32> a = 1; }\n",
     "package p; record R { list<int64> a = 1; }\n", NULL, false},
    {"package renamed", "p.R", "package p; record R { int32 a = 1; }\n",
     "package q; record R { int32 a = 1; }\n", "q.R", false},
    {"record renamed", "p.R", "package p; record R { int32 a = 1; }\n",
     "package p; record S [renamed_from = \"R\"] { int32 a = 1; }\n", "p.S",
     false},
};

static void test_pairs(void **state) {
  (void)state;
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    const fp_case *c = &cases[i];
    char *a = fingerprints("a.pbs", c->a, 0);
    char *b = fingerprints("b.pbs", c->b, 0);
    char ha[17], hb[17];
    fingerprint_of(a, c->record, ha);
    fingerprint_of(b, c->b_record ? c->b_record : c->record, hb);
    bool same = strcmp(ha, hb) == 0;
    if (!ha[0] || !hb[0] || same != c->same)
      fprintf(stderr, "case '%s': %s vs %s\n", c->what, ha, hb);
    assert_true(ha[0] && hb[0]);
    assert_int_equal(same, c->same);
    free(a);
    free(b);
  }
}

static void test_output_format(void **state) {
  (void)state;
  char *out = fingerprints("tasks.pbs",
                           "package acme.tasks;\n"
                           "enum E { A = 0; }\n"
                           "record Zeta { int32 a = 1; }\n"
                           "record Alpha { E e = 1; }\n"
                           "record Empty {}\n",
                           0);
  regex_t re;
  assert_int_equal(regcomp(&re,
                           "^acme\\.tasks\\.Zeta [0-9a-f]{16}\n"
                           "acme\\.tasks\\.Alpha [0-9a-f]{16}\n"
                           "acme\\.tasks\\.Empty [0-9a-f]{16}\n$",
                           REG_EXTENDED | REG_NOSUB),
                   0);
  if (regexec(&re, out, 0, NULL, 0) != 0)
    fprintf(stderr, "unexpected output:\n%s", out);
  assert_int_equal(regexec(&re, out, 0, NULL, 0), 0);
  regfree(&re);

  /* Stable: the same text gives the same bytes, run after run, and a
   * record's fingerprint does not depend on the other records. */
  char *again = fingerprints("other_name.pbs",
                             "package acme.tasks;\n"
                             "enum E { A = 0; }\n"
                             "record Zeta { int32 a = 1; }\n"
                             "record Alpha { E e = 1; }\n"
                             "record Empty {}\n",
                             0);
  assert_string_equal(out, again);
  char *alone = fingerprints("alone.pbs",
                             "package acme.tasks;\nrecord Zeta { int32 a = 1; }\n",
                             0);
  char h1[17], h2[17];
  fingerprint_of(out, "acme.tasks.Zeta", h1);
  fingerprint_of(alone, "acme.tasks.Zeta", h2);
  assert_string_equal(h1, h2);
  free(out);
  free(again);
  free(alone);

  /* A fixed canonical form gives a fixed value: pinned, so that a change
   * to the canonical form cannot go unnoticed (update docs/evolution.md
   * with it).  "record p.R{1:int32}" hashed with XXH3-64. */
  char *pinned = fingerprints("pin.pbs", "package p; record R { int32 a = 1; }\n", 0);
  char hp[17];
  fingerprint_of(pinned, "p.R", hp);
  assert_string_equal(hp, PB_PINNED_FINGERPRINT);
  free(pinned);
}

static void test_schema_error(void **state) {
  (void)state;
  char *out = fingerprints("bad.pbs", "package p; record R { Nope a = 1; }\n", 1);
  assert_string_equal(out, "");
  free(out);
  out = fingerprints("syntax.pbs", "package p; record R { int32 a = ; }\n", 1);
  assert_string_equal(out, "");
  free(out);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_output_format, setup, teardown),
      cmocka_unit_test_setup_teardown(test_pairs, setup, teardown),
      cmocka_unit_test_setup_teardown(test_schema_error, setup, teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
