/*
 * util/held.h - which thread holds a mutex, for assertions: the
 * equivalent of SQLite's sqlite3_mutex_held().  "Under commit_mu" in a
 * comment becomes assert(pb__held(&fs->commit_owner)) in the code.
 *
 * A pb__owner sits beside the mutex it describes.  Whoever locks the
 * mutex calls pb__owner_set right after, and pb__owner_clear right before
 * it unlocks it (also around a pthread_cond_wait, which releases and
 * retakes the mutex).  A thread is identified by the address of a
 * thread-local byte, so nothing here calls into pthreads.  The loads and
 * stores are relaxed atomics: only the holder writes, and the only
 * question asked is "is it me?", whose answer cannot be changed by
 * another thread while it is true.
 */
#ifndef PB_UTIL_HELD_H
#define PB_UTIL_HELD_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

/* A byte per thread: its address names the thread. */
extern _Thread_local char pb__thread_token;

typedef struct pb__owner {
  atomic_uintptr_t who; /* &pb__thread_token of the holder, 0: none */
} pb__owner;

static inline void pb__owner_set(pb__owner *o) {
  atomic_store_explicit(&o->who, (uintptr_t)&pb__thread_token,
                        memory_order_relaxed);
}

static inline void pb__owner_clear(pb__owner *o) {
  atomic_store_explicit(&o->who, 0, memory_order_relaxed);
}

/** True when the calling thread holds the mutex `o` describes. */
static inline bool pb__held(pb__owner *o) {
  return atomic_load_explicit(&o->who, memory_order_relaxed) ==
         (uintptr_t)&pb__thread_token;
}

#endif /* PB_UTIL_HELD_H */
