/*
 * storage/ptr_map.c - atom pointer -> atom pointer map (see ptr_map.h).
 */
#include "storage/ptr_map.h"

#include <assert.h>
#include <stdint.h>
#include <stdlib.h>

#define MAP_MIN_CAP 64u

static size_t slot_of(const pb__ptr_map *m, pb_atom_ptr k) {
  uint64_t h = k.batch_hi ^ k.batch_lo ^ (k.offset * 0xC2B2AE3D27D4EB4Full);
  h *= 0x9E3779B97F4A7C15ull;
  h ^= h >> 29;
  return (size_t)h & (m->cap - 1);
}

void pb__ptr_map_init(pb__ptr_map *m) {
  m->slots = NULL;
  m->cap = 0;
  m->count = 0;
}

void pb__ptr_map_free(pb__ptr_map *m) {
  free(m->slots);
  pb__ptr_map_init(m);
}

/* The slot holding `k`, or the empty slot where it would go. */
static pb__ptr_map_slot *probe(const pb__ptr_map *m, pb_atom_ptr k) {
  size_t i = slot_of(m, k);
  for (;;) {
    pb__ptr_map_slot *s = &m->slots[i];
    if (pb_atom_ptr_is_null(s->key) || pb_atom_ptr_equal(s->key, k))
      return s;
    i = (i + 1) & (m->cap - 1);
  }
}

const pb__ptr_map_slot *pb__ptr_map_find(const pb__ptr_map *m,
                                         pb_atom_ptr key) {
  if (m->cap == 0) return NULL;
  const pb__ptr_map_slot *s = probe(m, key);
  return pb_atom_ptr_is_null(s->key) ? NULL : s;
}

static int grow(pb__ptr_map *m) {
  size_t cap = m->cap ? m->cap * 2 : MAP_MIN_CAP;
  if (cap > SIZE_MAX / sizeof(pb__ptr_map_slot)) return PB_ENOMEM;
  pb__ptr_map bigger = {calloc(cap, sizeof(pb__ptr_map_slot)), cap, 0};
  if (bigger.slots == NULL) return PB_ENOMEM;
  for (size_t i = 0; i < m->cap; i++) {
    if (pb_atom_ptr_is_null(m->slots[i].key)) continue;
    *probe(&bigger, m->slots[i].key) = m->slots[i];
    bigger.count++;
  }
  free(m->slots);
  *m = bigger;
  return PB_OK;
}

int pb__ptr_map_put(pb__ptr_map *m, pb_atom_ptr key, pb_atom_ptr value,
                    bool done) {
  assert(!pb_atom_ptr_is_null(key));
  if (m->cap == 0 || (m->count + 1) > m->cap / 4 * 3) {
    int rc = grow(m);
    if (rc != PB_OK) return rc;
  }
  pb__ptr_map_slot *s = probe(m, key);
  if (pb_atom_ptr_is_null(s->key)) m->count++;
  *s = (pb__ptr_map_slot){.key = key, .value = value, .done = done};
  return PB_OK;
}
