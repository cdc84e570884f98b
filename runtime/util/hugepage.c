/*
 * util/hugepage.c - transparent huge pages for long-lived, randomly read
 * memory (hugepage.h).
 */
#ifndef _DEFAULT_SOURCE
#define _DEFAULT_SOURCE /* madvise, MADV_HUGEPAGE */
#endif
#include "util/hugepage.h"

#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/mman.h>

#define REGION ((uintptr_t)2 << 20)
#define SLOTS 4096u /* regions remembered: 8 GiB of distinct memory */
#define AHEAD 16u   /* regions marked at once */

bool pb__hugepage_on = true;

/* Region numbers marked, direct-mapped (0: empty; region 0 is never
 * heap memory). */
static atomic_uintptr_t g_seen[SLOTS];

void pb__hugepage_advise(const void *p, size_t n) {
#ifdef MADV_HUGEPAGE
  if (!pb__hugepage_on || n == 0) return;
  uintptr_t first = (uintptr_t)p / REGION;
  uintptr_t last = ((uintptr_t)p + n - 1) / REGION;
  for (uintptr_t r = first; r <= last; r++) {
    atomic_uintptr_t *s = &g_seen[r % SLOTS];
    if (atomic_load_explicit(s, memory_order_relaxed) == r) continue;
    atomic_store_explicit(s, r, memory_order_relaxed);
    /* This region, and those after it: the heap grows upwards, and only
     * memory marked before it is first touched gets huge pages at once
     * (the kernel may collapse the rest later).  Where nothing is mapped
     * madvise fails, harmlessly. */
    (void)madvise((void *)(r * REGION), AHEAD * REGION, MADV_HUGEPAGE);
  }
#else
  (void)p;
  (void)n;
#endif
}
