/*
 * tests/fuzz/fuzz_nodes.h - hostile collection nodes: one input becomes a
 * small store of atoms, and the Dictionary, the List and the
 * HashDictionary/Set are opened on its last atom and used in full.
 * Shared by the libFuzzer target (libfuzzer/fuzz_decode.c) and the
 * seeded random test (test_fuzz_decode.c).
 *
 * The input is read two ways:
 *
 *   - as ONE atom, the root, whose children are missing;
 *   - as a STORE: a sequence of frames, each a varint length then that
 *     many bytes of atom (at most PB_FUZZ_MAX_ATOMS; a frame that runs
 *     past the input ends the sequence).  Atom k (from 1) is at pointer
 *     {0, 1, k}, and the last one is the root: a tree written children
 *     first through a sink that hands out those pointers is walked through
 *     its children (pb_fuzz_store_frame writes such stores, for seeds).
 *
 * On each reading, each collection is opened on the root and counted
 * (the Dictionary three ways: privately, through an object cache, and
 * with its leaves read in place),
 * iterated to the end, looked up by what the iteration gave, changed (a
 * put, a remove or an append), flushed into the store, and reopened from
 * the new root.  The properties (a failure prints why and aborts):
 *
 *   1. nothing reads outside its atoms, leaks or hangs (the sanitizers);
 *   2. every call returns PB_OK or an error its header documents;
 *   3. where the tree is accepted whole (the iteration ends cleanly, and
 *      for the Dictionary pb__dict_verify passes), it is consistent:
 *      count equals the entries iterated, every iterated key is found
 *      again with the same value, Dictionary keys ascend, and after the
 *      change and the flush, the reopened tree has the expected count.
 */
#ifndef PB_TEST_FUZZ_NODES_H
#define PB_TEST_FUZZ_NODES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "protobase/protobase.h"

#define PB_FUZZ_MAX_ATOMS 64

/** Runs the collections over `data` read both ways (see above). */
void pb_fuzz_nodes(const uint8_t *data, size_t size);

/** Appends one frame (varint length, then the atom) of a store input. */
void pb_fuzz_store_frame(pb_buf *b, const void *atom, size_t len);

/**
 * Writes a seed store to `out`: a collection of `kind` (PB_VALUE_DICT,
 * _LIST, _SET or _HASHDICT) of n entries built with fanout 4, so that it
 * has several levels, its nodes as frames, children first, root last.
 * Returns PB_OK or the collection's error.
 */
int pb_fuzz_node_seed(pb_buf *out, pb_value_kind kind, unsigned n);

/** The same; with `plain`, a Dictionary's leaves below the root are
 * written in the plain layout (PB__TYPE_DICT_LEAF, as stores written
 * before the indexed leaf have them) rather than indexed. */
int pb_fuzz_node_seed_ex(pb_buf *out, pb_value_kind kind, unsigned n,
                         bool plain);

/** The pointer of atom k (from 1) of a store input. */
static inline pb_atom_ptr pb_fuzz_ptr(uint64_t k) {
  return (pb_atom_ptr){0, 1, k};
}

#endif /* PB_TEST_FUZZ_NODES_H */
