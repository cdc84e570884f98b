/*
 * support/filedb.c - a file storage, a space and database "main" in a
 * fresh directory (filedb.h).
 */
#include "support/filedb.h"

#include <string.h>

#include "test_util.h"

int pb_test_filedb_open(pb_test_filedb *f, pb_durability dur) {
  memset(f, 0, sizeof *f);
  f->dir = pb_test_tmpdir();
  pb_file_options o;
  pb_file_options_init(&o);
  o.durability = dur;
  int rc = pb_storage_open_file(f->dir, &o, &f->st);
  if (rc == PB_OK) rc = pb_space_open(f->st, &f->sp);
  if (rc == PB_OK) rc = pb_db_open(f->sp, "main", PB_CREATE, &f->db);
  return rc;
}

int pb_test_filedb_close(pb_test_filedb *f) {
  int rc = pb_db_close(f->db);
  int rc2 = pb_space_close(f->sp);
  pb_test_rmdir(f->dir);
  memset(f, 0, sizeof *f);
  return rc != PB_OK ? rc : rc2;
}
