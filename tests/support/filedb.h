/*
 * support/filedb.h - the store most tests start from: a file storage in a
 * fresh temporary directory, opened with the options a user gets
 * (pb_file_options_init: PB_DURABILITY_SYNC) or another durability, a
 * space with the default caches, and the database "main".
 */
#ifndef PB_TEST_SUPPORT_FILEDB_H
#define PB_TEST_SUPPORT_FILEDB_H

#include "protobase/protobase.h"

typedef struct pb_test_filedb {
  char *dir;      /* the temporary directory (pb_test_tmpdir) */
  pb_storage *st; /* owned by sp */
  pb_space *sp;
  pb_db *db;      /* "main" */
} pb_test_filedb;

/** Makes a fresh directory and opens the store in it with durability
 * `dur`.  Returns PB_OK or the first error (then *f holds what opened). */
int pb_test_filedb_open(pb_test_filedb *f, pb_durability dur);

/** Closes the database and the space, removes the directory.  Returns
 * PB_OK or the first error of a close. */
int pb_test_filedb_close(pb_test_filedb *f);

#endif /* PB_TEST_SUPPORT_FILEDB_H */
