/*
 * storage/batch_index.h - where each committed batch lives, by batch id.
 *
 * An atom pointer names a batch by its 128-bit id; every tier keeps this
 * map from id to location.  It is an open-addressing hash table with linear
 * probing and a power-of-two capacity, kept at most 75% full.  Batch ids
 * come from the kernel's CSPRNG, so the hash only has to fold 128 bits to a
 * well-mixed 64 (lo ^ hi, one multiply and a shift): ids read from a file
 * are not trusted to be random, which is why the mixing is not skipped.
 *
 * The empty slot is the id (0, 0), which no batch may have.  Removal uses
 * backward-shift deletion, so there are no tombstones and lookups stay
 * short after compaction removes batches.
 *
 * Thread safety: none inside.  Each tier guards its index with its own
 * pthread rwlock (lookups under the read lock, changes under the write
 * lock).  Growth happens only in pb__batch_index_reserve, so a writer can
 * reserve before its durable step and insert afterwards without failing.
 * Growth moves the slots, so it needs the write lock as well; a writer can
 * ask pb__batch_index_has_room first and take that lock only to grow.
 */
#ifndef PB_STORAGE_BATCH_INDEX_H
#define PB_STORAGE_BATCH_INDEX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/** Where one batch's bytes are.  Which fields are used depends on the tier. */
typedef struct pb__batch_loc {
  const uint8_t *data; /* the bytes in memory (memory tier, or a heap copy
                          in the file tier without mmap); else NULL */
  uint64_t size;       /* batch size in bytes */
  uint64_t offset;     /* file tier: offset of the batch bytes in segment */
  uint32_t segment;    /* file tier: index of the segment in the tier */
} pb__batch_loc;

/** One slot of the table. */
typedef struct pb__batch_index_entry {
  uint64_t id_hi;    /* batch id, high half; (0, 0) marks an empty slot */
  uint64_t id_lo;    /* batch id, low half */
  pb__batch_loc loc; /* the batch's location */
} pb__batch_index_entry;

typedef struct pb__batch_index {
  pb__batch_index_entry *slots; /* cap slots, or NULL when cap == 0 */
  size_t cap;                   /* 0 or a power of two */
  size_t count;                 /* used slots */
} pb__batch_index;

/** Starts an empty index.  Allocates nothing. */
void pb__batch_index_init(pb__batch_index *ix);
/** True when `extra` more inserts fit without growing (no allocation). */
bool pb__batch_index_has_room(const pb__batch_index *ix, size_t extra);
/** Frees the table (not the bytes that locations point to). */
void pb__batch_index_free(pb__batch_index *ix);
/**
 * Makes room so that `extra` more inserts cannot allocate or fail.
 * Errors: PB_ENOMEM.
 */
int pb__batch_index_reserve(pb__batch_index *ix, size_t extra);
/**
 * Adds a batch.  The id must not be (0, 0).  Room must have been reserved.
 * Errors: PB_EEXIST (the id is already there; nothing changes).
 */
int pb__batch_index_insert(pb__batch_index *ix, uint64_t id_hi,
                           uint64_t id_lo, const pb__batch_loc *loc);
/** Finds a batch; NULL when absent.  Valid until the next change. */
const pb__batch_loc *pb__batch_index_find(const pb__batch_index *ix,
                                          uint64_t id_hi, uint64_t id_lo);
/** Removes a batch; returns false when it was absent. */
bool pb__batch_index_remove(pb__batch_index *ix, uint64_t id_hi,
                            uint64_t id_lo);
/**
 * Iterates: start with *cursor = 0; each call gives the next used entry
 * and returns true, or returns false at the end.  No change in between.
 */
bool pb__batch_index_next(const pb__batch_index *ix, size_t *cursor,
                          const pb__batch_index_entry **out);

#endif /* PB_STORAGE_BATCH_INDEX_H */
