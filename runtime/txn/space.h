/*
 * txn/space.h - internals shared by the ObjectSpace, Database and
 * Transaction code.
 *
 * The storage root points to the space root, a Dictionary from database
 * name to a REF of that database's root (the null REF is an empty
 * database).  A database root is a Dictionary of named values.
 */
#ifndef PB_TXN_SPACE_H
#define PB_TXN_SPACE_H

#include "atom/batch.h"
#include "collections/flatdict.h"
#include "storage/storage.h"

struct pb_space {
  pb_storage *st; /* owned; closed with the space */
};

struct pb_db {
  pb_space *sp; /* the space this database lives in */
  pb_str name;  /* owned copy of the name (NUL-terminated) */
};

/**
 * Reads the storage root and finds database `name` in it.  *db_root gets
 * the database's root pointer.  Errors: PB_ENOTFOUND (no such database),
 * PB_ECORRUPT, PB_EVERSION, PB_EIO, PB_ENOMEM.
 */
int pb__space_find_db(pb_space *sp, pb_atom_ptr space_root, pb_str name,
                      pb_atom_ptr *db_root);

/**
 * Publishes database `name` at `new_db_root`: appends a new space root to
 * `bb` (after its first `keep` bytes) and commits the batch.  `expect_db`
 * is the database root the change was made on, or NULL when the database
 * must not exist yet.  A commit that lost the race to a commit on ANOTHER
 * database is retried on the new space root; a change to this database (or
 * its creation by someone else) gives PB_ECONFLICT.  `snap_lsn` is the LSN
 * of the snapshot the batch's atoms were built on (0: none); a tier
 * refuses it with PB_ECONFLICT when a compaction switched since.
 * Errors: PB_ECONFLICT, PB_EEXIST (creating a database that now exists),
 * and the storage's commit errors.
 */
int pb__space_publish(pb_space *sp, pb__batch_builder *bb, size_t keep,
                      pb_atom_ptr snap_root, uint64_t snap_lsn, pb_str name,
                      const pb_atom_ptr *expect_db, pb_atom_ptr new_db_root);

#endif /* PB_TXN_SPACE_H */
