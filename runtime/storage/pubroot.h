/*
 * storage/pubroot.h - a tier's published root and LSN, read without a
 * lock: a sequence lock of atomics (the file and memory tiers).
 *
 * One writer at a time (the tier's commit lock, or before the store is
 * shared) stores the sequence number odd, then the four words with
 * release stores, then the sequence number even again with a release
 * store; so none of the words can become visible before the odd number,
 * with no standalone fence (which ThreadSanitizer would not model).  A
 * reader loads the number, the words with acquire loads (so its second
 * load of the number cannot move before them), then the number again, and
 * keeps the words only when both loads saw the same even number.
 */
#ifndef PB_STORAGE_PUBROOT_H
#define PB_STORAGE_PUBROOT_H

#include <assert.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdint.h>

#include "protobase/protobase.h"

typedef struct pb__pubroot {
  atomic_uint_fast64_t seq; /* odd while written */
  atomic_uint_fast64_t hi, lo, off; /* the root */
  atomic_uint_fast64_t lsn;         /* its LSN */
} pb__pubroot;

/** An empty one: the null root at LSN 0. */
static inline void pb__pubroot_init(pb__pubroot *p) {
  atomic_init(&p->seq, 0);
  atomic_init(&p->hi, 0);
  atomic_init(&p->lo, 0);
  atomic_init(&p->off, 0);
  atomic_init(&p->lsn, 0);
}

/** Publishes root and lsn (one writer at a time). */
static inline void pb__pubroot_store(pb__pubroot *p, pb_atom_ptr root,
                                     uint64_t lsn) {
  uint_fast64_t s = atomic_load_explicit(&p->seq, memory_order_relaxed);
  assert((s & 1) == 0);
  atomic_store_explicit(&p->seq, s + 1, memory_order_relaxed);
  atomic_store_explicit(&p->hi, root.batch_hi, memory_order_release);
  atomic_store_explicit(&p->lo, root.batch_lo, memory_order_release);
  atomic_store_explicit(&p->off, root.offset, memory_order_release);
  atomic_store_explicit(&p->lsn, lsn, memory_order_release);
  atomic_store_explicit(&p->seq, s + 2, memory_order_release);
}

/** Reads the published root and (lsn not NULL) its LSN; retries while a
 * publication is in progress. */
static inline void pb__pubroot_load(pb__pubroot *p, pb_atom_ptr *root,
                                    uint64_t *lsn) {
  for (;;) {
    uint_fast64_t s1 = atomic_load_explicit(&p->seq, memory_order_acquire);
    if (s1 & 1) { /* four stores: the writer is about to finish */
      sched_yield();
      continue;
    }
    pb_atom_ptr r;
    r.batch_hi = atomic_load_explicit(&p->hi, memory_order_acquire);
    r.batch_lo = atomic_load_explicit(&p->lo, memory_order_acquire);
    r.offset = atomic_load_explicit(&p->off, memory_order_acquire);
    uint64_t l = atomic_load_explicit(&p->lsn, memory_order_acquire);
    if (atomic_load_explicit(&p->seq, memory_order_relaxed) == s1) {
      *root = r;
      if (lsn != NULL) *lsn = l;
      return;
    }
  }
}

#endif /* PB_STORAGE_PUBROOT_H */
