/*
 * storage/ptr_map.h - a map from atom pointer to atom pointer, for
 * compaction: old location -> new location of each atom it relocated.
 *
 * Open addressing with linear probing, a power-of-two capacity at most 75%
 * full, keyed by the whole pointer (batch id and offset).  Nothing is ever
 * removed: a compaction fills one map and frees it.  A value may be marked
 * "in progress" (pb__ptr_map_put with done = false) while the atom's
 * children are being copied, so that a reference cycle in corrupt data is
 * caught instead of looping.
 *
 * Thread safety: none; one compaction owns its map.
 */
#ifndef PB_STORAGE_PTR_MAP_H
#define PB_STORAGE_PTR_MAP_H

#include <stdbool.h>
#include <stddef.h>

#include "protobase/protobase.h"

typedef struct pb__ptr_map_slot {
  pb_atom_ptr key;   /* old pointer; all zero marks an empty slot */
  pb_atom_ptr value; /* new pointer (meaningful when done) */
  bool done;         /* false: the atom is being copied */
} pb__ptr_map_slot;

typedef struct pb__ptr_map {
  pb__ptr_map_slot *slots; /* cap slots, or NULL */
  size_t cap;              /* 0 or a power of two */
  size_t count;            /* used slots */
} pb__ptr_map;

/** Starts an empty map.  Allocates nothing. */
void pb__ptr_map_init(pb__ptr_map *m);
/** Frees the map. */
void pb__ptr_map_free(pb__ptr_map *m);
/** The slot of `key`, or NULL when absent.  Valid until the next put. */
const pb__ptr_map_slot *pb__ptr_map_find(const pb__ptr_map *m,
                                         pb_atom_ptr key);
/**
 * Inserts or updates `key` (not the null pointer).
 * Errors: PB_ENOMEM (the map is unchanged).
 */
int pb__ptr_map_put(pb__ptr_map *m, pb_atom_ptr key, pb_atom_ptr value,
                    bool done);

#endif /* PB_STORAGE_PTR_MAP_H */
