/*
 * util/random.c - random ids from getrandom(2).  Ids need to be unique across
 * processes and nodes without coordination, so they come from the kernel's
 * CSPRNG rather than a seeded generator.
 */
#include "util/random.h"

#include <errno.h>
#include <sys/random.h>

#include "protobase/errors.h"

int pb__random_id(uint64_t *hi, uint64_t *lo) {
  uint64_t v[2];
  do {
    size_t got = 0;
    while (got < sizeof v) {
      ssize_t n = getrandom((char *)v + got, sizeof v - got, 0);
      if (n < 0) {
        if (errno == EINTR) continue;
        return PB_EIO;
      }
      got += (size_t)n;
    }
  } while ((v[0] | v[1]) == 0);
  *hi = v[0];
  *lo = v[1];
  return PB_OK;
}
