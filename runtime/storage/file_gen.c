/*
 * storage/file_gen.c - generations and pins of the file tier: what keeps
 * the segments that a compaction replaced alive while someone may still
 * read them.
 *
 * Every compaction switch starts a new generation: the output segment and
 * a fresh index become current, and the replaced segments and index are
 * retired into fs->old.  Readers find a batch in the current index first,
 * then in the old ones, so a transaction whose snapshot predates the
 * switch keeps reading the atoms it sees.
 *
 * A pin (pb__fs_pin, taken by every transaction at begin, before it reads
 * the root) counts a reader against the generation current at that
 * moment.  A reader pinned at generation g reads pointers of generation g
 * or later: its root is at least as new as its pin, and atoms only point
 * into their own generation.  So generation g can go when no pin of a
 * generation <= g is held; old generations are freed oldest first, when
 * the last such pin is released (or at the switch, when none is held).
 * Freeing unmaps and closes the segments and unlinks their files; a crash
 * before that leaves files that recovery removes, since the log starts at
 * the compaction's output segment.
 */
#include <assert.h>
#include <stdlib.h>

#include "storage/file.h"

const uint8_t *pb__fs_loc_bytes(pb__segment *const *segs, size_t n_segs,
                                const pb__batch_loc *loc) {
  if (loc->data != NULL) return loc->data;
  assert(loc->segment < n_segs);
  (void)n_segs;
  const pb__segment *seg = segs[loc->segment];
  assert(seg->map != NULL && loc->offset + loc->size <= seg->map_len);
  return seg->map + loc->offset;
}

bool pb__fs_find_batch(const pb__file_storage *fs, uint64_t hi, uint64_t lo,
                       const uint8_t **data, uint64_t *size) {
  const pb__batch_loc *loc = pb__batch_index_find(&fs->index, hi, lo);
  if (loc != NULL) {
    *data = pb__fs_loc_bytes(fs->segs, fs->n_segs, loc);
    *size = loc->size;
    return true;
  }
  for (const pb__generation *g = fs->old; g != NULL; g = g->next) {
    loc = pb__batch_index_find(&g->index, hi, lo);
    if (loc != NULL) {
      *data = pb__fs_loc_bytes(g->segs, g->n_segs, loc);
      *size = loc->size;
      return true;
    }
  }
  return false;
}

void pb__fs_pin(pb__file_storage *fs, uint64_t *token) {
  pthread_mutex_lock(&fs->gen_mu);
  fs->pins_cur++;
  *token = fs->gen;
  pthread_mutex_unlock(&fs->gen_mu);
}

void pb__fs_unpin(pb__file_storage *fs, uint64_t token) {
  pthread_mutex_lock(&fs->gen_mu);
  if (token == fs->gen) {
    assert(fs->pins_cur > 0);
    fs->pins_cur--;
    pthread_mutex_unlock(&fs->gen_mu);
    return;
  }
  for (pb__generation *g = fs->old; g != NULL; g = g->next) {
    if (g->gen == token) {
      assert(g->pins > 0);
      g->pins--;
      break;
    }
  }
  pb__generation *gone = pb__fs_collect_old(fs);
  pthread_mutex_unlock(&fs->gen_mu);
  pb__fs_free_generations(fs, gone, true);
}

void pb__fs_retire(pb__file_storage *fs, pb__generation *g,
                   pb__segment **segs, size_t n_segs, size_t cap_segs,
                   pb__batch_index *index) {
  *g = (pb__generation){.next = fs->old,
                        .gen = fs->gen,
                        .pins = fs->pins_cur,
                        .segs = fs->segs,
                        .n_segs = fs->n_segs,
                        .index = fs->index};
  fs->old = g;
  fs->segs = segs;
  fs->n_segs = n_segs;
  fs->cap_segs = cap_segs;
  fs->index = *index;
  pb__batch_index_init(index);
  fs->gen++;
  fs->pins_cur = 0;
}

pb__generation *pb__fs_collect_old(pb__file_storage *fs) {
  /* The longest run of unpinned generations at the old end of the list. */
  pb__generation **cut = &fs->old;
  for (pb__generation *g = fs->old; g != NULL; g = g->next)
    if (g->pins > 0) cut = &g->next;
  pb__generation *gone = *cut;
  if (gone != NULL) {
    pthread_rwlock_wrlock(&fs->lock);
    *cut = NULL;
    pthread_rwlock_unlock(&fs->lock);
  }
  return gone;
}

void pb__fs_free_index(const pb__file_storage *fs, pb__batch_index *ix) {
  if (!fs->use_map) {
    size_t cursor = 0;
    const pb__batch_index_entry *e;
    while (pb__batch_index_next(ix, &cursor, &e))
      free((void *)(uintptr_t)e->loc.data);
  }
  pb__batch_index_free(ix);
}

void pb__fs_free_generations(pb__file_storage *fs, pb__generation *list,
                             bool unlink_files) {
  bool unlinked = false;
  while (list != NULL) {
    pb__generation *g = list;
    list = g->next;
    pb__fs_free_index(fs, &g->index);
    for (size_t i = 0; i < g->n_segs; i++) {
      /* Unlinking a file that is still mapped is fine: the mapping goes
       * in pb__seg_free, and the space with it. */
      if (unlink_files && fs->io->unlink(fs->io, g->segs[i]->path) == PB_OK)
        unlinked = true;
      pb__seg_free(fs, g->segs[i]);
    }
    free(g->segs);
    free(g);
  }
  /* Not needed for correctness (recovery removes obsolete segments), but
   * it makes the freed space durable. */
  if (unlinked) fs->io->sync_dir(fs->io, fs->dir);
}
