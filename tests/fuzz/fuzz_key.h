/*
 * tests/fuzz/fuzz_key.h - hostile bytes against the key codec
 * (protobase/key.h).  Shared by the libFuzzer target (libfuzzer/fuzz_key.c)
 * and the seeded random test (test_fuzz_key.c).
 *
 * An input is read as a list of component kinds, then key bytes:
 *
 *   u8      n          1 + n % 4 kinds follow
 *   u8[n]   kinds      each % 14: a pb_key_kind, or 13 for an unknown kind
 *   ...     key        the rest of the input
 *
 * The key is read three ways: with the get of each kind (an arena for the
 * copies), with pb_key_skip, and with the gets without an arena.  The
 * properties (a failure prints why and aborts):
 *
 *   1. nothing reads outside the key (it is copied into an exact-size heap
 *      block), leaks or hangs (the sanitizers);
 *   2. each call returns PB_OK or a documented error: PB_ECORRUPT, with a
 *      detail naming its source line; PB_EINVAL only for an unknown kind,
 *      or for a string or bytes component that needs a copy when no arena
 *      was given; and a failed call neither moves the reader nor allocates;
 *   3. decoding is exact: each decoded component, encoded again, gives the
 *      very bytes it was read from (so no two encodings decode to one
 *      value); skip accepts exactly what the get accepts, and ends at the
 *      same place; pb_key_expect_end agrees with pb_keyreader_done;
 *   4. the prefix successor of the key is above it and above every
 *      extension of it, and does not start with it (or there is none,
 *      exactly when the key is empty or all 0xFF); in place, it gives the
 *      same bytes;
 *   5. the two halves of the key, encoded as bytes (and as strings where
 *      they are UTF-8), order as the halves do, and decode back to them.
 */
#ifndef PB_TEST_FUZZ_KEY_H
#define PB_TEST_FUZZ_KEY_H

#include <stddef.h>
#include <stdint.h>

/* Runs the checks above on one input; aborts on a broken property. */
void pb_fuzz_key(const uint8_t *data, size_t size);

#endif /* PB_TEST_FUZZ_KEY_H */
