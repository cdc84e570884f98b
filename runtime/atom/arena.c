/*
 * atom/arena.c - pb_arena, the region allocator behind decoded arrays.
 *
 * An arena is a list of blocks.  Allocation bumps a cursor in the newest
 * block; when it does not fit, a new block is added, at least twice the
 * size of the previous one (starting at 4 KiB, growing to 1 MiB), or just
 * big enough for a larger request.  Blocks never move, so pointers stay
 * valid until reset or destroy.  Everything is 8-byte aligned, enough for
 * every type a generated struct holds.
 *
 * Reset keeps the largest block, so a decode loop that resets between
 * records stops allocating once the block is big enough (internally, a
 * reset can keep it only up to a size: pb__arena_reset_max).
 *
 * Internally (atom/arena.h) an arena can start with a smaller first block,
 * and tells its footprint: a record decoded into the object cache gets an
 * arena of its own, sized for one record and counted in full.
 */
#include <stdint.h>
#include <stdlib.h>

#include "atom/arena.h"

#define ARENA_ALIGN 8
#define ARENA_FIRST_BLOCK 4096
#define ARENA_MAX_GROWTH (1u << 20)

typedef struct arena_block {
  struct arena_block *prev; /* the older block, or NULL */
  size_t size;              /* usable bytes after the header */
  size_t used;              /* bytes handed out */
  /* then `size` bytes, 8-byte aligned (the header is 24 bytes) */
} arena_block;

struct pb_arena {
  arena_block *head; /* newest block, or NULL */
  size_t allocated;  /* bytes handed out since create or reset */
  size_t first;      /* size of the first block (ARENA_FIRST_BLOCK) */
};

_Static_assert(sizeof(arena_block) % ARENA_ALIGN == 0,
               "the header keeps block data aligned");

static uint8_t *block_data(arena_block *b) { return (uint8_t *)(b + 1); }

int pb__arena_create_sized(size_t first_block, pb_arena **out) {
  if (!out) return PB_EINVAL;
  pb_arena *a = calloc(1, sizeof *a);
  if (!a) return PB_ENOMEM;
  if (first_block < ARENA_ALIGN) first_block = ARENA_ALIGN;
  if (first_block > ARENA_FIRST_BLOCK) first_block = ARENA_FIRST_BLOCK;
  a->first = (first_block + ARENA_ALIGN - 1) & ~(size_t)(ARENA_ALIGN - 1);
  *out = a;
  return PB_OK;
}

int pb_arena_create(pb_arena **out) {
  return pb__arena_create_sized(ARENA_FIRST_BLOCK, out);
}

void pb_arena_destroy(pb_arena *a) {
  if (!a) return;
  while (a->head) {
    arena_block *b = a->head;
    a->head = b->prev;
    free(b);
  }
  free(a);
}

void *pb_arena_alloc(pb_arena *a, size_t size) {
  if (!a) return NULL;
  if (size > SIZE_MAX - ARENA_ALIGN - sizeof(arena_block)) return NULL;
  size_t rounded = (size + ARENA_ALIGN - 1) & ~(size_t)(ARENA_ALIGN - 1);
  arena_block *b = a->head;
  if (!b || b->size - b->used < rounded) {
    size_t want = b ? b->size * 2 : a->first;
    if (want > ARENA_MAX_GROWTH) want = ARENA_MAX_GROWTH;
    if (want < rounded) want = rounded;
    arena_block *nb = malloc(sizeof *nb + want);
    if (!nb) return NULL;
    nb->size = want;
    nb->used = 0;
    /* Keep the block with the most room on top, so a big one-off request
     * does not strand the free space of the current block. */
    if (b && rounded > ARENA_MAX_GROWTH && b->size - b->used > 0) {
      nb->prev = b->prev;
      b->prev = nb;
      nb->used = rounded;
      a->allocated += size;
      return block_data(nb);
    }
    nb->prev = b;
    a->head = b = nb;
  }
  void *p = block_data(b) + b->used;
  b->used += rounded;
  a->allocated += size;
  return p;
}

void *pb_arena_alloc_array(pb_arena *a, size_t count, size_t size) {
  if (!a) return NULL;
  if (size != 0 && count > SIZE_MAX / size) return NULL;
  return pb_arena_alloc(a, count * size);
}

void pb_arena_reset(pb_arena *a) { pb__arena_reset_max(a, SIZE_MAX); }

void pb__arena_reset_max(pb_arena *a, size_t keep_max) {
  if (!a) return;
  arena_block *keep = NULL;
  while (a->head) {
    arena_block *b = a->head;
    a->head = b->prev;
    if (!keep || b->size > keep->size) {
      free(keep);
      keep = b;
    } else {
      free(b);
    }
  }
  if (keep && keep->size > keep_max) {
    free(keep);
    keep = NULL;
  }
  if (keep) {
    keep->prev = NULL;
    keep->used = 0;
  }
  a->head = keep;
  a->allocated = 0;
}

size_t pb_arena_allocated(const pb_arena *a) { return a ? a->allocated : 0; }

size_t pb__arena_footprint(const pb_arena *a) {
  if (!a) return 0;
  size_t n = sizeof *a;
  for (const arena_block *b = a->head; b; b = b->prev)
    n += sizeof *b + b->size;
  return n;
}
