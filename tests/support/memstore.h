/*
 * tests/support/memstore.h - atoms in memory, for tests that hand-craft
 * hostile collection nodes or keep whole collections in memory: a pb__src
 * and a pb__sink over an array of heap copies, which grows as atoms are
 * written (up to PB_TEST_MEM_MAX).  Atom k (from 1) is at pointer
 * PB_TEST_MEM_PTR(k), so a test can also name an atom that is not there
 * yet, or never will be.  A zeroed struct is an empty store.
 */
#ifndef PB_TEST_MEMSTORE_H
#define PB_TEST_MEMSTORE_H

#include <stddef.h>
#include <stdint.h>

#include "collections/coll.h"

/** The most atoms a store holds; writing one more aborts the test. */
#define PB_TEST_MEM_MAX 65536

/** The pointer of atom k (from 1). */
#define PB_TEST_MEM_PTR(k) ((pb_atom_ptr){7, 7, (k)})

typedef struct pb_test_memstore {
  uint8_t **atom; /* heap copies, atom k at index k - 1 */
  size_t *len;     /* their lengths */
  size_t n;        /* atoms stored */
  size_t cap;      /* room in atom and len */
} pb_test_memstore;

/** pb__src read: PB_ENOTFOUND for a pointer that names no stored atom. */
int pb_test_mem_read(void *arg, pb_atom_ptr p, pb_bytes *out);
/** pb__sink write: copies the atom (fails the test past PB_TEST_MEM_MAX). */
int pb_test_mem_write(void *arg, const void *atom, size_t len,
                      pb_atom_ptr *out);
/** Frees every atom (and the arrays); the store is empty again. */
void pb_test_mem_free(pb_test_memstore *m);
/** The pointer the next atom will get. */
pb_atom_ptr pb_test_mem_next(const pb_test_memstore *m);
/** Writes a node of `type` holding vals[0..n) and gives its pointer. */
pb_atom_ptr pb_test_mem_node(pb_test_memstore *m, uint32_t type,
                             const pb_value *vals, size_t n);
/** Stores raw bytes as an atom and gives its pointer. */
pb_atom_ptr pb_test_mem_raw(pb_test_memstore *m, const void *bytes,
                            size_t len);

#endif /* PB_TEST_MEMSTORE_H */
