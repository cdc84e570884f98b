/*
 * fuzz_key.c - libFuzzer target for the key codec (protobase/key.h).
 *
 * Each input goes to pb_fuzz_key (tests/fuzz/fuzz_key.h), which reads it as
 * a list of component kinds and key bytes, decodes the key with the gets,
 * pb_key_skip and the gets without an arena, takes its prefix successor,
 * and encodes its halves as bytes and strings.  The properties are listed
 * in fuzz_key.h; a broken one aborts, which libFuzzer reports as a crash
 * with the input saved.  The seeds are in corpus/key.
 */
#include <stddef.h>
#include <stdint.h>

#include "fuzz_key.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  pb_fuzz_key(data, size);
  return 0;
}
