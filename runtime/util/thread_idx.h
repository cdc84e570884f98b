/*
 * util/thread_idx.h - a small number per thread, for spreading what every
 * thread writes over separate cache lines (per-thread slots, striped
 * counters).
 *
 * pb__thread_index() gives the calling thread a number on its first call,
 * round-robin (0, 1, 2, ... in the order threads first ask), and the same
 * number on every later call.  Numbers are not given back when a thread
 * ends, and two threads may share one after 65,536 threads: a caller that
 * keeps N slots (a power of two up to 65,536) takes the index modulo N and
 * must stay correct when two threads land on the same slot (it only costs
 * the sharing it was avoiding).  The index is a hint for spreading, never
 * an identity: use util/held.h to ask "is it me?".
 */
#ifndef PB_UTIL_THREAD_IDX_H
#define PB_UTIL_THREAD_IDX_H

/* The size of a cache line as padding assumes it (x86-64, most ARM). */
#define PB__CACHE_LINE 64u

/* The index plus one, 0 before the first call (thread_idx.c). */
extern _Thread_local unsigned pb__thread_idx1;

/* Gives the calling thread its number (the slow path of the first call). */
unsigned pb__thread_index_assign(void);

/** The calling thread's index (see above).  Cannot fail. */
static inline unsigned pb__thread_index(void) {
  unsigned i = pb__thread_idx1;
  return i != 0 ? i - 1 : pb__thread_index_assign();
}

#endif /* PB_UTIL_THREAD_IDX_H */
