/*
 * test_evolve_db.c - the rules of `pbc check` at run time (txn/catalog.c,
 * txn/layout.c), over every case of tests/compiler/evolve/: a database is
 * built with OLD.pbs's record types (loaded at run time with pbc's own
 * loader and turned into pb_record_types by compiler/types.c, exactly as
 * pbc generates them), reopened, and NEW.pbs's types are registered.
 *
 *   evolve_cases     for each case: a breaking change (new.pbs expects an
 *                    "error: breaking:" line) is refused with PB_ESCHEMA,
 *                    whose detail names the record and is one of the
 *                    messages `pbc check` prints, and nothing is
 *                    registered; a compatible change is accepted, and each
 *                    changed record gets a new epoch.  Changes that no one
 *                    record's registration can see (a record removed,
 *                    renamed without [renamed_from], a package changed, an
 *                    enum no record uses) are listed in `whole_schema`
 *                    and accepted here.
 *   check_db_cli     `pbc check --db DIR NEW.pbs` on the same databases:
 *                    exit 1 and the detail for a breaking change, exit 0
 *                    and a summary for a compatible one; usage errors
 */
#include <dirent.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "check.h"
#include "diag.h"
#include "loader.h"
#include "pbc_test_util.h"
#include "protobase/protobase.h"
#include "test_util.h"
#include "types.h"

/* Cases whose breaking change no record's registration sees: about the
 * schema as a whole, or in an enum that no record uses (a database only
 * stores records; an enum is checked where a field uses it). */
static const char *const whole_schema[] = {
    "record_removed", "record_renamed_without", "package_changed",
    "enum_value_removed", "enum_value_renumbered"};

static bool is_whole_schema(const char *name) {
  for (size_t i = 0; i < sizeof whole_schema / sizeof *whole_schema; i++)
    if (strcmp(whole_schema[i], name) == 0) return true;
  return false;
}

/* A loaded schema and its types. */
typedef struct schema {
  pbc_diag diag;
  pbc_program prog;
  pbc_file *file;
  pbc_types types;
} schema;

static void schema_load(schema *s, const char *path) {
  pbc_diag_init(&s->diag, stderr);
  pbc_program_init(&s->prog, &s->diag, NULL, 0);
  s->file = pbc_load_input(&s->prog, path);
  assert_non_null(s->file);
  assert_true(pbc_check_program(&s->prog));
  assert_int_equal(s->diag.errors, 0);
  pbc_types_build(&s->prog, &s->types);
}

static void schema_free(schema *s) {
  pbc_types_free(&s->types);
  pbc_program_free(&s->prog);
  pbc_diag_finish(&s->diag);
}

/* The records of a schema's own file, as a list for pb_db_register. */
static size_t own_types(const schema *s, const pb_record_type **out) {
  size_t n = 0;
  for (size_t i = 0; i < s->types.n; i++)
    if (s->types.decls[i]->file == s->file) out[n++] = &s->types.types[i];
  return n;
}

/* The "breaking: ..." messages new.pbs expects, joined by '\n'. */
static char *expected_breaking(const char *new_path) {
  char *text = pbc_read_file(new_path, NULL);
  assert_non_null(text);
  size_t cap = strlen(text) + 1, len = 0;
  char *out = calloc(cap, 1);
  assert_non_null(out);
  for (char *p = strstr(text, "error: breaking: "); p;
       p = strstr(p, "error: breaking: ")) {
    p += strlen("error: breaking: ");
    size_t n = strcspn(p, "\n");
    memcpy(out + len, p, n);
    len += n;
    out[len++] = '\n';
  }
  free(text);
  return out;
}

/* True when the detail holds one of the expected messages: the runtime
 * spells types with qualified names, so a message is compared up to its
 * first quote after "from" (the field, its tag, and the kind of change). */
static bool detail_matches(const char *detail, const char *expected) {
  for (const char *p = expected; *p;) {
    size_t n = strcspn(p, "\n");
    char msg[512];
    snprintf(msg, sizeof msg, "%.*s", (int)n, p);
    char *cut = strstr(msg, " from '");
    if (cut) cut[6] = '\0';
    if (strstr(detail, msg)) return true;
    p += n + (p[n] == '\n');
  }
  return false;
}

typedef struct built {
  char *dir;
  uint64_t max_epoch;
} built;

/* A database of OLD's records, in a new storage directory. */
static built build_old(const char *old_path) {
  schema s;
  schema_load(&s, old_path);
  built b = {pb_test_tmpdir(), 0};
  pb_storage *st;
  pb_space *sp;
  pb_db *db;
  assert_int_equal(pb_storage_open_file(b.dir, NULL, &st), PB_OK);
  assert_int_equal(pb_space_open(st, &sp), PB_OK);
  const pb_record_type *types[64];
  size_t n = own_types(&s, types);
  assert_int_equal(pb_db_open_types(sp, "main", PB_CREATE, types, n, &db),
                   PB_OK);
  for (size_t i = 0; i < s.types.n; i++) {
    uint64_t ep;
    assert_int_equal(pb_db_schema_epoch(db, &s.types.types[i], &ep), PB_OK);
    if (ep > b.max_epoch) b.max_epoch = ep;
  }
  pb_db_close(db);
  assert_int_equal(pb_space_close(sp), PB_OK);
  schema_free(&s);
  return b;
}

static void one_case(const char *name, char *old_path, char *new_path) {
  built b = build_old(old_path);
  schema s;
  schema_load(&s, new_path);
  char *expected = expected_breaking(new_path);
  bool breaking = expected[0] && !is_whole_schema(name);
  pb_storage *st;
  pb_space *sp;
  pb_db *db;
  assert_int_equal(pb_storage_open_file(b.dir, NULL, &st), PB_OK);
  assert_int_equal(pb_space_open(st, &sp), PB_OK);
  assert_int_equal(pb_db_open(sp, "main", 0, &db), PB_OK);
  pb_space_stats s0, s1;
  assert_int_equal(pb_space_stats_get(sp, &s0), PB_OK);
  const pb_record_type *types[64];
  size_t n = own_types(&s, types);
  int rc = pb_db_register(db, types, n);
  assert_int_equal(pb_space_stats_get(sp, &s1), PB_OK);
  if (breaking) {
    if (rc != PB_ESCHEMA || !detail_matches(pb_errdetail(), expected))
      fail_msg("%s: %s, detail \"%s\", expected one of:\n%s", name,
               pb_errname(rc), pb_errdetail(), expected);
    assert_true(strstr(pb_errdetail(), "record '"));
    assert_int_equal(s1.commits, s0.commits); /* nothing registered */
  } else {
    if (rc != PB_OK)
      fail_msg("%s: %s, detail \"%s\"", name, pb_errname(rc), pb_errdetail());
    for (size_t i = 0; i < n; i++) { /* a changed record: a new epoch */
      uint64_t ep;
      assert_int_equal(pb_db_schema_epoch(db, types[i], &ep), PB_OK);
      bool known = false;
      schema o;
      schema_load(&o, old_path);
      for (size_t k = 0; k < o.types.n; k++)
        known = known || o.types.types[k].fingerprint == types[i]->fingerprint;
      schema_free(&o);
      if (!known && ep <= b.max_epoch)
        fail_msg("%s: %s got epoch %llu, not a new one", name,
                 types[i]->name, (unsigned long long)ep);
    }
  }
  pb_db_close(db);
  assert_int_equal(pb_space_close(sp), PB_OK);

  /* The same through pbc check --db, on a fresh copy of OLD's database. */
  built c = build_old(old_path);
  pbc_run_result r;
  const char *args[] = {"check", "--db", c.dir, new_path, NULL};
  assert_true(pbc_run(args, &r));
  if (r.status != (breaking ? 1 : 0) ||
      (breaking && !detail_matches(r.err, expected)) ||
      !strstr(r.out, "pbc check: "))
    fail_msg("%s: pbc check --db exit %d\nstdout: %s\nstderr: %s", name,
             r.status, r.out, r.err);
  if (breaking) assert_non_null(strstr(r.err, "error: breaking: "));
  assert_false(pbc_sanitizer_fired(r.err));
  pbc_run_free(&r);
  pb_test_rmdir(c.dir);

  free(expected);
  schema_free(&s);
  pb_test_rmdir(b.dir);
}

static void evolve_cases(void **state) {
  (void)state;
  DIR *d = opendir(PB_EVOLVE_DIR);
  assert_non_null(d);
  int cases = 0, refused = 0;
  struct dirent *e;
  while ((e = readdir(d))) {
    if (e->d_name[0] == '.') continue;
    char *dir = pbc_join(PB_EVOLVE_DIR, e->d_name);
    char *o = pbc_join(dir, "old.pbs"), *n = pbc_join(dir, "new.pbs");
    char *exp = expected_breaking(n);
    refused += exp[0] && !is_whole_schema(e->d_name);
    free(exp);
    one_case(e->d_name, o, n);
    cases++;
    free(o);
    free(n);
    free(dir);
  }
  closedir(d);
  assert_true(cases >= 31);
  assert_true(refused >= 13); /* 18 breaking, 5 of them whole-schema */
}

static void check_db_cli(void **state) {
  (void)state;
  pbc_run_result r;
  const char *no_db[] = {"check", "--db", "/nonexistent/pb-db",
                         PB_EVOLVE_DIR "/type_changed/new.pbs", NULL};
  assert_true(pbc_run(no_db, &r));
  assert_int_equal(r.status, 2);
  assert_non_null(strstr(r.err, "cannot open the storage"));
  pbc_run_free(&r);
  const char *two[] = {"check", "--db", "/tmp", "a.pbs", "b.pbs", NULL};
  assert_true(pbc_run(two, &r));
  assert_int_equal(r.status, 2);
  assert_non_null(strstr(r.err, "check --db DIR needs one schema"));
  pbc_run_free(&r);
  const char *nocheck[] = {"--db", "/tmp", "a.pbs", NULL};
  assert_true(pbc_run(nocheck, &r));
  assert_int_equal(r.status, 2);
  pbc_run_free(&r);
  /* --database: a database that is not there. */
  built b = build_old(PB_EVOLVE_DIR "/type_changed/old.pbs");
  const char *named[] = {"check", "--db", b.dir, "--database", "nope",
                         PB_EVOLVE_DIR "/type_changed/new.pbs", NULL};
  assert_true(pbc_run(named, &r));
  assert_int_equal(r.status, 2);
  assert_non_null(strstr(r.err, "cannot open database 'nope'"));
  pbc_run_free(&r);
  const char *main_db[] = {"check", "--db", b.dir, "--database", "main",
                           PB_EVOLVE_DIR "/type_changed/new.pbs", NULL};
  assert_true(pbc_run(main_db, &r));
  assert_int_equal(r.status, 1);
  assert_non_null(strstr(r.err, "field 'count' (tag 2) changed type from "
                                "'int32' to 'string'"));
  assert_non_null(strstr(r.err, "new.pbs:2:8: error: breaking: "));
  pbc_run_free(&r);
  pb_test_rmdir(b.dir);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(evolve_cases),
      cmocka_unit_test(check_db_cli),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
