/*
 * storage/batch_index.c - open-addressing map from batch id to location
 * (see batch_index.h for the design).
 */
#include "storage/batch_index.h"

#include <assert.h>
#include <stdlib.h>

#include "protobase/errors.h"

/* Smallest table, in slots. */
#define INDEX_MIN_CAP 16u

static size_t slot_of(const pb__batch_index *ix, uint64_t hi, uint64_t lo) {
  uint64_t h = hi ^ lo;
  h *= 0x9E3779B97F4A7C15ull; /* Fibonacci hashing */
  h ^= h >> 29;
  return (size_t)h & (ix->cap - 1);
}

static bool slot_empty(const pb__batch_index_entry *e) {
  return (e->id_hi | e->id_lo) == 0;
}

/* True when `count` used slots fit in `cap` (a power of two >= 16) at a
 * load of at most 75%. */
static bool fits(size_t count, size_t cap) {
  return count <= cap / 4 * 3;
}

void pb__batch_index_init(pb__batch_index *ix) {
  ix->slots = NULL;
  ix->cap = 0;
  ix->count = 0;
}

void pb__batch_index_free(pb__batch_index *ix) {
  free(ix->slots);
  pb__batch_index_init(ix);
}

/* Places an entry known to be absent into a table with room. */
static void place(pb__batch_index *ix, const pb__batch_index_entry *e) {
  size_t i = slot_of(ix, e->id_hi, e->id_lo);
  while (!slot_empty(&ix->slots[i])) i = (i + 1) & (ix->cap - 1);
  ix->slots[i] = *e;
  ix->count++;
}

bool pb__batch_index_has_room(const pb__batch_index *ix, size_t extra) {
  return ix->cap != 0 && extra <= SIZE_MAX / 2 - ix->count &&
         fits(ix->count + extra, ix->cap);
}

int pb__batch_index_reserve(pb__batch_index *ix, size_t extra) {
  if (extra > SIZE_MAX / 2 - ix->count) return PB_ENOMEM;
  if (pb__batch_index_has_room(ix, extra)) return PB_OK;
  size_t need = ix->count + extra;
  size_t cap = ix->cap ? ix->cap : INDEX_MIN_CAP;
  while (!fits(need, cap)) {
    if (cap > SIZE_MAX / 2 / sizeof(pb__batch_index_entry)) return PB_ENOMEM;
    cap *= 2;
  }
  pb__batch_index_entry *slots = calloc(cap, sizeof *slots);
  if (slots == NULL) return PB_ENOMEM;
  pb__batch_index old = *ix;
  ix->slots = slots;
  ix->cap = cap;
  ix->count = 0;
  for (size_t i = 0; i < old.cap; i++)
    if (!slot_empty(&old.slots[i])) place(ix, &old.slots[i]);
  assert(ix->count == old.count);
  free(old.slots);
  return PB_OK;
}

int pb__batch_index_insert(pb__batch_index *ix, uint64_t id_hi,
                           uint64_t id_lo, const pb__batch_loc *loc) {
  assert((id_hi | id_lo) != 0);
  assert(ix->cap != 0 && fits(ix->count + 1, ix->cap)); /* reserved */
  if (pb__batch_index_find(ix, id_hi, id_lo) != NULL) return PB_EEXIST;
  pb__batch_index_entry e = {.id_hi = id_hi, .id_lo = id_lo, .loc = *loc};
  place(ix, &e);
  return PB_OK;
}

/* Slot holding the id, or SIZE_MAX. */
static size_t find_slot(const pb__batch_index *ix, uint64_t hi,
                        uint64_t lo) {
  if (ix->cap == 0 || (hi | lo) == 0) return SIZE_MAX;
  size_t i = slot_of(ix, hi, lo);
  for (;;) {
    const pb__batch_index_entry *e = &ix->slots[i];
    if (slot_empty(e)) return SIZE_MAX;
    if (e->id_hi == hi && e->id_lo == lo) return i;
    i = (i + 1) & (ix->cap - 1);
  }
}

const pb__batch_loc *pb__batch_index_find(const pb__batch_index *ix,
                                          uint64_t id_hi, uint64_t id_lo) {
  size_t i = find_slot(ix, id_hi, id_lo);
  return i == SIZE_MAX ? NULL : &ix->slots[i].loc;
}

bool pb__batch_index_remove(pb__batch_index *ix, uint64_t id_hi,
                            uint64_t id_lo) {
  size_t hole = find_slot(ix, id_hi, id_lo);
  if (hole == SIZE_MAX) return false;
  size_t mask = ix->cap - 1;
  /* Backward shift: move later members of the probe run into the hole
   * when the hole lies between their home slot and where they sit. */
  for (size_t i = (hole + 1) & mask;; i = (i + 1) & mask) {
    pb__batch_index_entry *e = &ix->slots[i];
    if (slot_empty(e)) break;
    size_t home = slot_of(ix, e->id_hi, e->id_lo);
    size_t dist_e = (i - home) & mask;    /* how far e is from home */
    size_t dist_hole = (i - hole) & mask; /* how far back the hole is */
    if (dist_hole <= dist_e) {
      ix->slots[hole] = *e;
      hole = i;
    }
  }
  ix->slots[hole] = (pb__batch_index_entry){0};
  ix->count--;
  return true;
}

bool pb__batch_index_next(const pb__batch_index *ix, size_t *cursor,
                          const pb__batch_index_entry **out) {
  for (size_t i = *cursor; i < ix->cap; i++) {
    if (!slot_empty(&ix->slots[i])) {
      *out = &ix->slots[i];
      *cursor = i + 1;
      return true;
    }
  }
  *cursor = ix->cap;
  return false;
}
