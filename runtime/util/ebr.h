/*
 * util/ebr.h - epoch-based reclamation: freeing memory that readers may
 * still be walking without a lock or a reference count.
 *
 * Readers reach some shared objects through plain pointers (a cached
 * Dictionary node reaches its cached children directly: no lookup, no
 * reference count, no write to a shared line).  Such an object cannot be
 * freed the moment it is dropped: a reader may be inside it.  Instead the
 * code that drops it first makes it UNREACHABLE (clears every pointer to
 * it that a new reader could follow), then RETIRES it here; it is freed
 * once every reader that was active at the retirement has ended.
 *
 * Readers announce themselves in a slot (pb__ebr_slot), one per reader
 * (a transaction handle's snapshot owns one and reuses it):
 *
 *   pb__ebr_enter(slot)   before following any pointer (a few atomics)
 *   ... read ...          every object reached stays allocated
 *   pb__ebr_exit(slot)    after the last use of anything reached
 *
 * The domain is process-wide: one global epoch, one registry of slots,
 * one list of retired objects.  A long reader delays every reclamation
 * (as a long read transaction delays page reuse in LMDB), never a reader
 * or a writer.
 *
 * THE PROTOCOL.  G is a global counter.  A reader's slot holds 0 (idle)
 * or the value of G it announced.  Enter stores e = G in the slot, then
 * loads G again and repeats until both agree.  Retire takes t = G and
 * increments G (one fetch_add).  An object retired at t is freed once no
 * slot holds a value <= t.  Every operation on G and on the slots is
 * sequentially consistent, so for a reader and a retirement one of two
 * things holds: the reader's second load of G came after the increment,
 * so it happens after the unlinking and cannot find the object (e > t);
 * or it came before, and then its store to the slot comes before the
 * reclaimer's scan of it (which follows the increment), so the scan sees
 * e <= t and keeps the object.
 *
 * Threads: every function may be called from any thread; a slot is used
 * by one thread at a time (enter and exit on the same slot do not
 * overlap).  Nothing here allocates, and nothing fails.
 */
#ifndef PB_UTIL_EBR_H
#define PB_UTIL_EBR_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

/** A reader's slot.  It lives in the reader's own memory (a transaction
 * handle), which only its thread writes; the reclaimer only reads it. */
typedef struct pb__ebr_slot {
  atomic_uint_fast64_t epoch;              /* 0: idle; else announced */
  struct pb__ebr_slot *next, *prev;        /* the registry (its mutex) */
  bool registered;
} pb__ebr_slot;

/** A retired object's link, embedded in the object (retiring cannot
 * fail for lack of memory). */
typedef struct pb__ebr_node {
  struct pb__ebr_node *next;
  uint64_t epoch;                        /* t: G when retired */
  void (*free_fn)(struct pb__ebr_node *); /* frees the object */
} pb__ebr_node;

/** Adds an idle slot to the registry.  The slot must stay at its address
 * until pb__ebr_unregister. */
void pb__ebr_register(pb__ebr_slot *s);
/** Removes an idle slot from the registry, then frees what it no longer
 * holds back.  No-op for a slot never registered. */
void pb__ebr_unregister(pb__ebr_slot *s);

/** Announces the reader: objects retired from now on outlive its exit.
 * The slot must be registered and idle. */
void pb__ebr_enter(pb__ebr_slot *s);
/** Ends the announcement.  The slot is idle again. */
void pb__ebr_exit(pb__ebr_slot *s);
/** True between enter and exit. */
bool pb__ebr_active(const pb__ebr_slot *s);

/**
 * Retires an object that no new reader can reach any more: n->free_fn(n)
 * runs once every reader active now has exited (at once when none is).
 * May free other retired objects on the way (free_fn runs in the calling
 * thread, without any lock of this module).
 */
void pb__ebr_retire(pb__ebr_node *n, void (*free_fn)(pb__ebr_node *));

/** Frees every retired object that no active reader can still see. */
void pb__ebr_reclaim(void);

/** Objects retired and not yet freed (for tests and statistics). */
uint64_t pb__ebr_pending(void);

#endif /* PB_UTIL_EBR_H */
