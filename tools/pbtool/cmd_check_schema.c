/*
 * tools/pbtool/cmd_check_schema.c - `pbtool check-schema DIR SCHEMA.pbs`:
 * the run-time schema check from the shell (docs/evolution.md, "Checks at
 * run time").  pbc's front end (its library pbc_core) loads and checks
 * the schema and builds each record's pb_record_type, which
 * pb_db_register on a read-only storage checks against the catalog of
 * each database without writing anything: the check a program makes when
 * it opens its databases with these types.
 */
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "diag.h"
#include "loader.h"
#include "pbtool.h"
#include "types.h"

static const char help[] =
    "Usage: pbtool check-schema DIR SCHEMA.pbs [-I DIR]... [--db NAME]\n"
    "Checks every record of SCHEMA.pbs (and of what it imports) against\n"
    "the catalog of each database of the store at DIR (or of database\n"
    "NAME): would a program built from this schema open them, or is one\n"
    "of its records a breaking change against a cataloged version?  Each\n"
    "breaking change is printed with the record, field and tag.  Nothing\n"
    "is written: the store is opened read-only.  The same check as\n"
    "`pbc check --db DIR SCHEMA.pbs`.\n"
    "  -I DIR      where imports are looked for (as for pbc)\n"
    "  --db NAME   only database NAME\n"
    "Exit codes: 0 every record agrees, 1 a breaking change (or the store\n"
    "is damaged, or the schema has errors), 2 usage or I/O error.\n";

int pbt_cmd_check_schema(int argc, char **argv) {
  if (pbt_wants_help(argc, argv, help)) return PBT_EXIT_OK;
  const char *dir = NULL, *schema = NULL, *only = NULL;
  const char **inc = calloc((size_t)argc, sizeof *inc);
  size_t ninc = 0;
  if (!inc) return PBT_EXIT_USAGE;
  for (int i = 1; i < argc; i++) {
    if (strcmp(argv[i], "-I") == 0 && i + 1 < argc) {
      inc[ninc++] = argv[++i];
    } else if (strncmp(argv[i], "-I", 2) == 0 && argv[i][2]) {
      inc[ninc++] = argv[i] + 2;
    } else if (strcmp(argv[i], "--db") == 0 && i + 1 < argc) {
      only = argv[++i];
    } else if (argv[i][0] == '-' || (dir && schema)) {
      pbt_err("check-schema", "unexpected argument '%s' (try --help)",
              argv[i]);
      free(inc);
      return PBT_EXIT_USAGE;
    } else if (!dir) {
      dir = argv[i];
    } else {
      schema = argv[i];
    }
  }
  if (!schema) {
    pbt_err("check-schema", "needs DIR and SCHEMA.pbs (try --help)");
    free(inc);
    return PBT_EXIT_USAGE;
  }
  pbc_diag diag;
  pbc_diag_init(&diag, stderr);
  pbc_program prog;
  pbc_program_init(&prog, &diag, inc, ninc);
  pbc_file *f = pbc_load_input(&prog, schema);
  int ex = PBT_EXIT_OK;
  if (prog.io_error) ex = PBT_EXIT_USAGE;
  else if (!f || !pbc_check_program(&prog) || diag.errors > 0)
    ex = PBT_EXIT_PROBLEMS;
  pbt_store s = {0};
  if (ex == PBT_EXIT_OK) ex = pbt_open("check-schema", dir, false, &s);
  pbt_names dbs = {NULL, 0};
  if (ex == PBT_EXIT_OK) {
    int rc = pbt_databases(s.sp, &dbs);
    if (rc != PB_OK) {
      pbt_err("check-schema", "%s: %s", dir, pb_strerror(rc));
      ex = pbt_exit_for(rc);
    }
  }
  size_t checked = 0, dbn = 0;
  int breaking = 0;
  if (ex == PBT_EXIT_OK) {
    pbc_types types;
    pbc_types_build(&prog, &types);
    for (size_t i = 0; ex == PBT_EXIT_OK && i < dbs.n; i++) {
      if (only && strcmp(only, dbs.v[i]) != 0) continue;
      dbn++;
      pb_db *db;
      int rc = pb_db_open(s.sp, dbs.v[i], 0, &db);
      if (rc != PB_OK) {
        pbt_err("check-schema", "%s: database %s: %s", dir, dbs.v[i],
                pb_strerror(rc));
        ex = pbt_exit_for(rc);
        break;
      }
      for (size_t t = 0; t < types.n; t++) {
        const pb_record_type *ty = &types.types[t];
        rc = pb_db_register(db, &ty, 1); /* read-only: checks only */
        checked++;
        if (rc == PB_ESCHEMA) {
          const char *d = pb_errdetail();
          const char *why = strstr(d, "breaking: ");
          pbc_breaking(&diag, types.decls[t]->loc,
                       "%s (record '%s' in database '%s')",
                       why ? why + strlen("breaking: ") : d, ty->name,
                       dbs.v[i]);
          breaking++;
        } else if (rc != PB_OK) {
          pbt_err("check-schema", "record %s against database %s: %s (%s)",
                  ty->name, dbs.v[i], pb_strerror(rc), pb_errdetail());
          ex = pbt_exit_for(rc);
          break;
        }
      }
      pb_db_close(db);
    }
    pbc_types_free(&types);
    if (ex == PBT_EXIT_OK && only && dbn == 0) {
      pbt_err("check-schema", "%s: no database '%s'", dir, only);
      ex = PBT_EXIT_USAGE;
    }
    if (ex == PBT_EXIT_OK) {
      printf("check-schema: %zu record version(s) checked against %zu "
             "database(s), %d breaking\n", checked, dbn, breaking);
      if (breaking) ex = PBT_EXIT_PROBLEMS;
    }
  }
  pbt_names_free(&dbs);
  pbt_close(&s);
  pbc_program_free(&prog);
  pbc_diag_finish(&diag);
  free(inc);
  return ex;
}
