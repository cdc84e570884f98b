/*
 * tests/support/collstore.h - a file store for collection tests, without
 * the transaction layer: a pb__src that reads the store and the batch being
 * built, a pb__sink that appends to that batch (and counts the atoms), a
 * commit of the batch with a collection's root as the storage root, and a
 * close-and-reopen.  Property tests use it to persist a collection, reopen
 * the store, and go on mutating what was reloaded (so every node starts
 * out "not loaded").
 *
 * Reads of atoms in the unflushed batch return stable heap copies, freed
 * at the next commit (the batch buffer moves as it grows): a view a
 * collection handed out of an uncommitted node dies at the commit, so
 * tests reopen their handles after each commit.
 */
#ifndef PB_TEST_COLLSTORE_H
#define PB_TEST_COLLSTORE_H

#include <stdint.h>

#include "atom/batch.h"
#include "collections/coll.h"
#include "protobase/protobase.h"

typedef struct pb_test_copy pb_test_copy;

typedef struct pb_test_cstore {
  char dir[512];           /* the store's directory */
  pb_storage *st;          /* open file storage */
  pb__batch_builder bb;    /* atoms written since the last commit */
  pb__src src;             /* reads the store, then the batch */
  pb__sink sink;           /* appends to bb */
  pb_atom_ptr root;        /* the storage root (the last commit's) */
  uint64_t atoms_written;  /* atoms written through sink, ever */
  uint64_t commits;        /* commits made */
  pb_test_copy *copies;    /* copies handed out by src for batch atoms */
} pb_test_cstore;

/** Opens (creating) a file store in `dir`; asserts success. */
void pb_test_cstore_open(pb_test_cstore *cs, const char *dir);
/** Commits the atoms written since the last commit, with `root` as the new
 * storage root (a collection's flushed root; the null pointer is fine). */
void pb_test_cstore_commit(pb_test_cstore *cs, pb_atom_ptr root);
/** Closes the store and opens it again; cs->root is the recovered root. */
void pb_test_cstore_reopen(pb_test_cstore *cs);
/** Closes the store (the directory stays). */
void pb_test_cstore_close(pb_test_cstore *cs);

/** Handles `--tiny` in argv: sets pb__coll_fanout to 4.  Returns true when
 * it did.  Call first in main. */
bool pb_test_coll_args(int argc, char **argv);

#endif /* PB_TEST_COLLSTORE_H */
