/*
 * tests/support/hashkeys.h - what the HashDictionary and Set tests share:
 * a seeded random stream (splitmix64), a low-entropy hash that makes deep
 * tries and collision nodes out of ordinary keys, a universe of keys of
 * every kind a hashed key may be, and an index that names a key by its
 * encoding.
 *
 * The random stream is one per process (the tests are single-threaded).
 */
#ifndef PB_TEST_HASHKEYS_H
#define PB_TEST_HASHKEYS_H

#include <stddef.h>
#include <stdint.h>

#include "protobase/protobase.h"

/** Restarts the random stream at `seed`. */
void pb_test_rng_seed(uint64_t seed);
/** The next 64 random bits. */
uint64_t pb_test_rnd(void);
/** A random number below n (n > 0). */
unsigned pb_test_below(unsigned n);

/**
 * The seed of a property test: `dflt`, or PB_SEED=<n> from the
 * environment, or --seed=<n> among the arguments (the last wins).  Prints
 * it, with how to replace it, under the name `prog`.
 */
uint64_t pb_test_seed_from(const char *prog, int argc, char **argv,
                           uint64_t dflt);

/**
 * 8 bits of XXH3, for 256 hashes: bit i (i < 7) moved to bit 9i, so that
 * most levels split in two, and bit 7 to bits 60..63, the 4 bits of level
 * 12, whose fragment is then 0 or 15 (its first and last slot).
 */
uint64_t pb_test_low_entropy(const void *bytes, size_t len);

/** Bytes a key of pb_test_key_of may need in its buffer. */
#define PB_TEST_KEY_BUF 48

/**
 * Key number i, one of many kinds: INT, UINT, STRING (short and longer),
 * BYTES, DOUBLE (i == 4 is -0.0, i == 1604 is 0.0), a RECORD with a
 * well-formed body, NULL (i == 7), BOOL (15, 23), a null REF (5) and an
 * empty Set (13), the only pointer-bearing kinds a hashed key may be.
 * Distinct i give distinct keys.  `buf` (PB_TEST_KEY_BUF bytes) holds the
 * payload.
 */
pb_value pb_test_key_of(unsigned i, char *buf);

/** The most keys pb_test_key_index_build indexes. */
#define PB_TEST_KEY_INDEX_MAX 8192u

/**
 * Indexes keys 0..u-1 of pb_test_key_of by their encodings (sorted), so
 * that a key a trie gives back can be named; aborts if u is over
 * PB_TEST_KEY_INDEX_MAX or two keys encode alike.  One index per process.
 */
void pb_test_key_index_build(unsigned u);
/** The number i < u of key `k` in the index, or UINT_MAX if it is none. */
unsigned pb_test_key_index(const pb_value *k);

#endif /* PB_TEST_HASHKEYS_H */
