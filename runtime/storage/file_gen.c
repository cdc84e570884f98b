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
 *
 * Pins take no lock.  Each generation counts its pins in a pb__pins record
 * and fs->cur_pins points to the current one.  A record's count is split
 * into stripes, each alone on its cache line: a pin counts on the stripe
 * of its thread (util/thread_idx.h), so threads that pin and unpin at once
 * do not write one line between them, and its token is the address of
 * that stripe, so an unpin on another thread takes back the same stripe.
 * The count of a record is the sum of its stripes.
 *
 * A pin loads the pointer, increments its stripe, and loads the pointer
 * again: when it changed meanwhile, a switch may have missed the
 * increment, so the pin undoes it (as an unpin does) and starts over.  The
 * switch (file_compact.c) first retires the index and segments, then
 * publishes the new root, then stores the new cur_pins, then reads the
 * retired records' stripes.  Every one of these pointer and count
 * operations is sequentially consistent, so for a pin and a switch one of
 * two things holds: the pin's second load saw the old record, and then
 * the switch's read of that stripe sees the increment (the generation is
 * kept); or it saw the new record, and then the reader also sees the new
 * root (the store of cur_pins releases it), which lives in the new
 * generation.  No pin of a record can succeed after the switch's store,
 * so once the switch (or a collection after it) reads a stripe as zero it
 * stays zero but for increments that are undone.  An unpin decrements its
 * stripe, and when it took that stripe's last pin of a record that is no
 * longer current it collects under gen_mu, summing the stripes; the same
 * pairing (decrement, then load cur_pins; store cur_pins, then load the
 * stripes) makes sure the switch or an unpin frees what nobody pins: the
 * decrement that brings the sum to zero brings its own stripe to zero,
 * and its collection's loads come after every earlier decrement.
 * A reader may hold a record's address from its first load after the
 * generation is gone, so records are freed only at close: one small
 * record per compaction of this open.
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

_Static_assert(sizeof(pb__pin_stripe) == PB__CACHE_LINE,
               "a pin stripe is one cache line");

void pb__fs_pins_init(pb__pins *p) {
  for (unsigned k = 0; k < PB__PIN_STRIPES; k++) {
    atomic_init(&p->stripe[k].n, 0);
    p->stripe[k].owner = p;
  }
  p->next_all = NULL;
}

size_t pb__fs_pins_held(pb__pins *p) {
  size_t n = 0;
  for (unsigned k = 0; k < PB__PIN_STRIPES; k++)
    n += atomic_load_explicit(&p->stripe[k].n, memory_order_seq_cst);
  return n;
}

void pb__fs_pin(pb__file_storage *fs, uint64_t *token) {
  unsigned k = pb__thread_index() % PB__PIN_STRIPES;
  for (;;) {
    pb__pins *p = atomic_load_explicit(&fs->cur_pins, memory_order_acquire);
    pb__pin_stripe *s = &p->stripe[k];
    atomic_fetch_add_explicit(&s->n, 1, memory_order_seq_cst);
    *token = (uint64_t)(uintptr_t)s;
    if (atomic_load_explicit(&fs->cur_pins, memory_order_seq_cst) == p)
      return;
    pb__fs_unpin(fs, *token); /* a switch came between */
  }
}

void pb__fs_unpin(pb__file_storage *fs, uint64_t token) {
  pb__pin_stripe *s = (pb__pin_stripe *)(uintptr_t)token;
  pb__pins *p = s->owner;
  size_t was = atomic_fetch_sub_explicit(&s->n, 1, memory_order_seq_cst);
  assert(was > 0);
  if (was != 1 ||
      atomic_load_explicit(&fs->cur_pins, memory_order_seq_cst) == p)
    return;
  /* The stripe's last pin of a replaced generation: free what nobody
   * reads (when the other stripes are at zero too). */
  pthread_mutex_lock(&fs->gen_mu);
  pb__generation *gone = pb__fs_collect_old(fs);
  pthread_mutex_unlock(&fs->gen_mu);
  pb__fs_free_generations(fs, gone, true);
}

void pb__fs_retire(pb__file_storage *fs, pb__generation *g,
                   pb__segment **segs, size_t n_segs, size_t cap_segs,
                   pb__batch_index *index) {
  assert(pb__fs_commit_held(fs));
  *g = (pb__generation){
      .next = fs->old,
      .pins = atomic_load_explicit(&fs->cur_pins, memory_order_relaxed),
      .segs = fs->segs,
      .n_segs = fs->n_segs,
      .index = fs->index};
  fs->old = g;
  fs->segs = segs;
  fs->n_segs = n_segs;
  fs->cap_segs = cap_segs;
  fs->index = *index;
  pb__batch_index_init(index);
}

void pb__fs_switch_pins(pb__file_storage *fs, pb__pins *fresh) {
  assert(pb__fs_commit_held(fs));
  assert(fs->old != NULL &&
         fs->old->pins ==
             atomic_load_explicit(&fs->cur_pins, memory_order_relaxed));
  pb__fs_pins_init(fresh);
  fresh->next_all = fs->all_pins;
  fs->all_pins = fresh;
  atomic_store_explicit(&fs->cur_pins, fresh, memory_order_seq_cst);
}

pb__generation *pb__fs_collect_old(pb__file_storage *fs) {
  /* The longest run of unpinned generations at the old end of the list. */
  pb__generation **cut = &fs->old;
  for (pb__generation *g = fs->old; g != NULL; g = g->next)
    if (pb__fs_pins_held(g->pins) > 0)
      cut = &g->next;
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
