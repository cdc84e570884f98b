/*
 * util/thread_idx.c - the per-thread index of util/thread_idx.h.
 */
#include "util/thread_idx.h"

#include <stdatomic.h>

/* Numbers wrap at this many threads: a multiple of every slot count a
 * caller may use, so the round-robin stays even. */
#define INDEX_WRAP 65536u

_Thread_local unsigned pb__thread_idx1;

static atomic_uint next_index;

unsigned pb__thread_index_assign(void) {
  unsigned i = atomic_fetch_add_explicit(&next_index, 1,
                                         memory_order_relaxed) %
               INDEX_WRAP;
  pb__thread_idx1 = i + 1;
  return i;
}
