/*
 * storage/file_compact.c - compaction (vacuum) of the file tier.
 *
 * The log only grows: every commit writes new atoms and leaves the ones it
 * replaced behind.  Compaction copies what the live root reaches into ONE
 * new segment and makes that segment the start of the log.
 *
 * Copy.  Atoms are copied one by one, children before parents (an
 * iterative depth-first walk), into new batches with fresh ids, written as
 * BATCH frames to DIR/compact.tmp.  A copied atom's pointers are patched to
 * its children's new places: pointers are found and rewritten without the
 * schema (atom/refs.h), so atoms of a newer program, unknown fields
 * included, are kept whole.  A map from old to new pointer shares copies
 * between parents and makes each later pass incremental.
 *
 * Catch up.  Readers and writers keep running during the copy.  When it is
 * done, the published root has usually moved: the walk runs again from the
 * new root, and only the atoms the map does not know are copied.  After a
 * few passes, or when a pass copied little, the copy so far is fdatasynced
 * (writers keep going), then the final pass runs under commit_mu (writers
 * wait), after a flush so that nothing is unpublished.  An automatic
 * compaction (file_autocompact.c) gives up, changing nothing, when the
 * store starts closing before that final pass.
 *
 * Switch, in durable steps (crash-safe at each):
 *   1. a root-only COMMIT frame with the relocated root and LSN + 1, then
 *      the segment header (sequence number after the active segment's, and
 *      NO previous id: it starts the log), then fdatasync of compact.tmp;
 *      a crash here leaves compact.tmp, which recovery deletes;
 *   2. rename compact.tmp to its segment name, fsync the directory; from
 *      now on recovery starts at this segment and deletes the older ones.
 *      If the directory fsync fails, it is unknown which log a reopen will
 *      find, so the store fails (PB_EFAILED until reopened), as after a
 *      failed commit sync; both logs hold every acknowledged commit;
 *   3. in memory, under the locks: the old segments and index are retired
 *      into an old generation (file_gen.c), the new ones become current,
 *      and the relocated root is published.  Old segments are deleted when
 *      no transaction that began before the switch is left.
 * Everything step 3 needs is allocated before step 1, so it cannot fail.
 *
 * A commit whose snapshot predates the switch may point at old atoms that
 * were not copied (the snapshot saw them; the live root no longer does), so
 * it is refused with PB_ECONFLICT (fs->switch_lsn, checked in file.c).
 */
#include <assert.h>
#include <inttypes.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "atom/batch.h"
#include "atom/ptr.h"
#include "atom/refs.h"
#include "storage/file.h"
#include "storage/file_format.h"
#include "storage/ptr_map.h"
#include "util/errdetail.h"
#include "util/random.h"

/* Target size of one copied batch. */
#define BATCH_TARGET (1u << 20)
/* Catch-up passes without blocking writers, at most. */
#define MAX_PASSES 8
/* A pass that copied fewer atoms than this ends the catch-up. */
#define SMALL_PASS 256

/* A pointer found in an atom being copied. */
typedef struct ref_at {
  pb_atom_ptr ptr; /* where it points (old) */
  size_t pos;      /* where it is inside the atom */
} ref_at;

/* An atom on the walk's stack: its children are copied first. */
typedef struct walk_frame {
  pb_atom_ptr old;    /* its pointer */
  pb_bytes atom;      /* a view of its bytes (stable: see pb__fs_pin) */
  size_t refs_begin;  /* its children in the refs pool */
  size_t refs_end;
  size_t next;        /* next child to look at */
} walk_frame;

typedef struct compactor {
  pb__file_storage *fs;
  pb__ptr_map map;        /* old pointer -> new pointer */
  pb__batch_builder bb;   /* the batch being filled */
  pb__file *out;          /* DIR/compact.tmp */
  char *tmp_path;         /* its path */
  uint64_t out_end;       /* bytes written, header included */
  uint64_t frames;        /* frames written */
  pb__batch_index index;  /* the new batches: offset in the output */
  uint8_t *frame;         /* scratch for one frame */
  size_t frame_cap;
  walk_frame *stack;      /* the walk */
  size_t depth, cap_stack;
  ref_at *refs;           /* children of the atoms on the stack */
  size_t n_refs, cap_refs;
  pb_compact_stats stats;
  bool automatic;         /* gives up once fs->ac_abandon is set */
  bool measure;           /* the walk alone: atoms counted, none copied */
} compactor;

/* --- Output --- */

static int frame_reserve(compactor *c, size_t n) {
  if (n <= c->frame_cap) return PB_OK;
  uint8_t *f = realloc(c->frame, n);
  if (f == NULL) return PB_ENOMEM;
  c->frame = f;
  c->frame_cap = n;
  return PB_OK;
}

/* Writes one frame whose payload is at c->frame + 16, `len` bytes. */
static int write_frame(compactor *c, uint8_t type, uint32_t len) {
  uint64_t size = pb__frame_size(len);
  memset(c->frame + PB__FRAME_HEADER_SIZE + len, 0,
         (size_t)(size - PB__FRAME_HEADER_SIZE - len));
  pb__frame_header_encode(c->frame, type, c->frame + PB__FRAME_HEADER_SIZE,
                          len);
  int rc = pb__io_pwrite(c->out, c->frame, (size_t)size, c->out_end);
  if (rc != PB_OK)
    return pb__fs_fail(c->fs, rc, true, "write %s at %" PRIu64, c->tmp_path,
                       c->out_end);
  c->out_end += size;
  c->frames++;
  return PB_OK;
}

/* Writes the batch being filled as a BATCH frame and starts the next. */
static int flush_batch(compactor *c) {
  size_t n = c->bb.buf.len;
  if (n == 0) return PB_OK;
  uint32_t len = (uint32_t)(PB__BATCH_FIXED_SIZE + n);
  int rc = frame_reserve(c, (size_t)pb__frame_size(len));
  if (rc == PB_OK) rc = pb__batch_index_reserve(&c->index, 1);
  if (rc != PB_OK) return rc;
  uint8_t *payload = c->frame + PB__FRAME_HEADER_SIZE;
  pb__batchframe_encode_fixed(c->bb.id_hi, c->bb.id_lo, payload);
  memcpy(payload + PB__BATCH_FIXED_SIZE, c->bb.buf.data, n);
  pb__batch_loc loc = {.size = n,
                       .offset = c->out_end + PB__FRAME_HEADER_SIZE +
                                 PB__BATCH_FIXED_SIZE,
                       .segment = 0};
  rc = write_frame(c, PB__FRAME_BATCH, len);
  if (rc != PB_OK) return rc;
  if (!c->fs->use_map) { /* the builder's bytes become the heap copy */
    loc.data = c->bb.buf.data;
    pb_buf_init(&c->bb.buf);
  }
  rc = pb__batch_index_insert(&c->index, c->bb.id_hi, c->bb.id_lo, &loc);
  assert(rc == PB_OK); /* fresh random id, room reserved */
  pb__batch_free(&c->bb);
  return pb__batch_init(&c->bb);
}

/* --- The walk --- */

/* Reads a published atom of the current generation. */
static int read_old(compactor *c, pb_atom_ptr p, pb_bytes *out) {
  pb__file_storage *fs = c->fs;
  pthread_rwlock_rdlock(&fs->lock);
  const uint8_t *data;
  uint64_t size;
  int rc = PB_ENOTFOUND;
  if (pb__fs_find_batch(fs, p.batch_hi, p.batch_lo, &data, &size))
    rc = pb__batch_atom(data, (size_t)size, p.offset, out);
  pthread_rwlock_unlock(&fs->lock);
  return rc;
}

static int collect_ref(void *ctx, pb_atom_ptr ptr, size_t pos) {
  compactor *c = ctx;
  if (c->n_refs == c->cap_refs) {
    size_t cap = c->cap_refs ? c->cap_refs * 2 : 256;
    ref_at *r = realloc(c->refs, cap * sizeof *r);
    if (r == NULL) return PB_ENOMEM;
    c->refs = r;
    c->cap_refs = cap;
  }
  c->refs[c->n_refs++] = (ref_at){.ptr = ptr, .pos = pos};
  return PB_OK;
}

/* Fails the compaction on a damaged graph, naming the atom. */
static int bad_atom(compactor *c, pb_atom_ptr p, const char *what) {
  return pb__fs_fail(c->fs, PB__CORRUPT("%s", what), false,
                     "compaction: the " PB__ATOM_FMT " %s; nothing was changed",
                     PB__ATOM_ARGS(p), what);
}

/* Puts atom `p` on the stack, with its children in the refs pool. */
static int push(compactor *c, pb_atom_ptr p) {
  if (c->depth == c->cap_stack) {
    size_t cap = c->cap_stack ? c->cap_stack * 2 : 64;
    walk_frame *s = realloc(c->stack, cap * sizeof *s);
    if (s == NULL) return PB_ENOMEM;
    c->stack = s;
    c->cap_stack = cap;
  }
  walk_frame *w = &c->stack[c->depth];
  w->old = p;
  int rc = read_old(c, p, &w->atom);
  if (rc == PB_ENOTFOUND) return bad_atom(c, p, "is missing");
  if (rc != PB_OK) return bad_atom(c, p, "is malformed");
  w->refs_begin = w->next = c->n_refs;
  rc = pb__atom_refs(w->atom, collect_ref, c);
  if (rc == PB_ECORRUPT || rc == PB_EVERSION)
    return bad_atom(c, p, "cannot be parsed for references");
  if (rc != PB_OK) return rc;
  w->refs_end = c->n_refs;
  rc = pb__ptr_map_put(&c->map, p, p, false); /* in progress */
  if (rc != PB_OK) return rc;
  c->depth++;
  return PB_OK;
}

/* Copies the atom on top of the stack, whose children are all copied, and
 * pops it. */
static int emit(compactor *c) {
  if (c->automatic &&
      atomic_load_explicit(&c->fs->ac_abandon, memory_order_relaxed))
    return PB_ECLOSED; /* the store is closing: give up, change nothing */
  walk_frame *w = &c->stack[c->depth - 1];
  if (c->measure) { /* counted, and marked done so that it counts once */
    int rc = pb__ptr_map_put(&c->map, w->old, w->old, true);
    if (rc != PB_OK) return rc;
    c->stats.atoms++;
    c->stats.atom_bytes += w->atom.len;
    c->n_refs = w->refs_begin;
    c->depth--;
    return PB_OK;
  }
  if (c->bb.buf.len > 0 && c->bb.buf.len + 4 + w->atom.len > BATCH_TARGET) {
    int rc = flush_batch(c);
    if (rc != PB_OK) return rc;
  }
  pb_atom_ptr np;
  int rc = pb__batch_add(&c->bb, w->atom.ptr, w->atom.len, &np);
  if (rc != PB_OK) return rc;
  uint8_t *copy = c->bb.buf.data + np.offset + 4;
  for (size_t i = w->refs_begin; i < w->refs_end; i++) {
    const pb__ptr_map_slot *s = pb__ptr_map_find(&c->map, c->refs[i].ptr);
    assert(s != NULL && s->done);
    pb__ptr_store(copy + c->refs[i].pos, &s->value);
  }
  rc = pb__ptr_map_put(&c->map, w->old, np, true);
  if (rc != PB_OK) return rc;
  c->stats.atoms++;
  c->stats.atom_bytes += w->atom.len;
  c->n_refs = w->refs_begin;
  c->depth--;
  return PB_OK;
}

/* Copies everything `root` reaches that is not copied yet; gives the
 * root's new pointer. */
static int relocate(compactor *c, pb_atom_ptr root, pb_atom_ptr *out) {
  *out = root;
  if (pb_atom_ptr_is_null(root)) return PB_OK;
  const pb__ptr_map_slot *s = pb__ptr_map_find(&c->map, root);
  int rc = s != NULL ? PB_OK : push(c, root);
  while (rc == PB_OK && c->depth > 0) {
    walk_frame *w = &c->stack[c->depth - 1];
    if (w->next == w->refs_end) {
      rc = emit(c);
      continue;
    }
    pb_atom_ptr child = c->refs[w->next++].ptr;
    s = pb__ptr_map_find(&c->map, child);
    if (s == NULL)
      rc = push(c, child);
    else if (!s->done)
      rc = bad_atom(c, child, "points back to itself (a reference cycle)");
  }
  if (rc != PB_OK) {
    c->depth = 0;
    c->n_refs = 0;
    return rc;
  }
  s = pb__ptr_map_find(&c->map, root);
  assert(s != NULL && s->done);
  *out = s->value;
  return PB_OK;
}

/* --- Switch --- */

/* Appends the root-only switch commit and writes the segment header. */
static int write_tail(compactor *c, uint64_t seq, uint64_t lsn,
                      pb_atom_ptr new_root, pb_atom_ptr old_root,
                      pb__seg_header *h) {
  int rc = frame_reserve(c, (size_t)pb__frame_size(PB__COMMIT_FIXED_SIZE));
  if (rc != PB_OK) return rc;
  pb__commit_record cr = {
      .lsn = lsn, .root = new_root, .prev_root = old_root, .batch_size = 0};
  pb__commit_encode_fixed(&cr, c->frame + PB__FRAME_HEADER_SIZE);
  rc = write_frame(c, PB__FRAME_COMMIT, PB__COMMIT_FIXED_SIZE);
  if (rc != PB_OK) return rc;
  *h = (pb__seg_header){.version = PB__WAL_VERSION, .seq = seq};
  rc = pb__random_id(&h->id_hi, &h->id_lo);
  if (rc != PB_OK) return rc;
  uint8_t buf[PB__WAL_HEADER_SIZE];
  pb__seg_header_encode(h, buf);
  rc = pb__io_pwrite(c->out, buf, sizeof buf, 0);
  if (rc == PB_OK) rc = pb__io_datasync(c->out);
  if (rc != PB_OK)
    return pb__fs_fail(c->fs, rc, true, "write and fdatasync %s",
                       c->tmp_path);
  return PB_OK;
}

/* What the in-memory switch needs, allocated before the durable steps. */
typedef struct switch_prep {
  pb__segment *seg;       /* the new segment */
  pb__segment **segs;     /* the new segment array */
  pb__generation *gen;    /* the record of the old generation */
  pb__pins *pins;         /* the new generation's pin count */
  const void *map;        /* the new segment's mapping, or NULL */
  size_t map_len;
} switch_prep;

static int prepare_switch(compactor *c, uint64_t seq, switch_prep *p) {
  pb__file_storage *fs = c->fs;
  memset(p, 0, sizeof *p);
  p->seg = pb__seg_alloc(fs, seq);
  p->segs = malloc(8 * sizeof *p->segs);
  p->gen = malloc(sizeof *p->gen);
  p->pins = malloc(sizeof *p->pins);
  if (p->seg == NULL || p->segs == NULL || p->gen == NULL || p->pins == NULL)
    return PB_ENOMEM;
  p->seg->file = c->out;
  int rc = pb__seg_prepare_map(fs, p->seg, c->out_end + PB__FRAME_HEADER_SIZE +
                                               PB__COMMIT_FIXED_SIZE,
                               true, &p->map, &p->map_len);
  p->seg->file = NULL;
  return rc;
}

static void drop_switch(compactor *c, switch_prep *p) {
  if (p->seg != NULL) {
    pb__seg_drop_map(c->fs, p->map, p->map_len);
    pb__seg_free(c->fs, p->seg);
  }
  free(p->segs);
  free(p->gen);
  free(p->pins);
}

/* The final pass and the switch, under commit_mu. */
static int finish(compactor *c, pb__generation **gone) {
  pb__file_storage *fs = c->fs;
  /* Nothing may be unpublished: the switch replaces the whole state. */
  int rc = pb__fs_flush_locked(fs);
  if (rc != PB_OK) return rc;
  if (fs->failed) /* flush_locked does not report an older failure */
    return pb__fs_fail(fs, PB_EFAILED, false,
                       "an earlier write or sync failed; reopen the storage");
  assert(fs->n_pend == 0 && fs->lsn == fs->pending_lsn);
  pb_atom_ptr old_root = fs->root, new_root;
  rc = relocate(c, old_root, &new_root);
  if (rc == PB_OK) rc = flush_batch(c);
  if (rc != PB_OK) return rc;
  uint64_t seq = fs->segs[fs->n_segs - 1]->seq + 1, lsn = fs->lsn + 1;
  uint64_t before = 0;
  for (size_t i = 0; i < fs->n_segs; i++) before += fs->segs[i]->end;
  switch_prep p;
  pb__seg_header h;
  rc = prepare_switch(c, seq, &p);
  if (rc == PB_OK) rc = write_tail(c, seq, lsn, new_root, old_root, &h);
  /* The manifest that names the output alone, ready before the switch so
   * that a full disk stops the compaction while nothing has changed. */
  pb__manifest_seg one = {.id_hi = h.id_hi, .id_lo = h.id_lo,
                          .size = c->out_end};
  pb__manifest man = {.first = seq, .n = 1, .seg = &one};
  if (rc == PB_OK) rc = pb__manifest_prepare(fs, fs->dir, &man);
  if (rc == PB_OK) {
    rc = fs->io->rename(fs->io, c->tmp_path, p.seg->path);
    if (rc != PB_OK) /* MANIFEST.tmp stays, unused: the next write or
                        writable open replaces or removes it */
      pb__fs_fail(fs, rc, true, "rename %s to %s", c->tmp_path, p.seg->path);
  }
  if (rc != PB_OK) {
    drop_switch(c, &p);
    return rc;
  }
  if (fs->io->sync_dir(fs->io, fs->dir) != PB_OK) {
    pb__fs_fail(fs, PB_EIO, true, "fsync the directory after a compaction");
    pb__fs_fail_store(fs);
    drop_switch(c, &p);
    return PB_EIO;
  }
  /* The switch is durable.  Whether or not the manifest's rename reaches
   * the disk, MANIFEST is consistent with it: the old one names only
   * segments before the log's new start, which recovery does not check.
   * So a failure here does not undo the compaction: the store goes on,
   * and the next rollover or close writes the manifest again. */
  fs->man_valid = pb__manifest_install(fs, fs->dir) == PB_OK;
  fs->man_last_seq = seq;
  fs->man_last_size = c->out_end;
  /* Durable.  From here nothing can fail. */
  pb__segment *seg = p.seg;
  seg->file = c->out;
  c->out = NULL;
  seg->id_hi = h.id_hi;
  seg->id_lo = h.id_lo;
  seg->end = c->out_end;
  seg->frames = c->frames;
  pb__seg_install_map(seg, p.map, p.map_len);
  p.segs[0] = seg;
  pthread_mutex_lock(&fs->gen_mu);
  pthread_rwlock_wrlock(&fs->lock);
  pb__fs_retire(fs, p.gen, p.segs, 1, 8, &c->index);
  fs->root = new_root;
  fs->lsn = lsn;
  pthread_rwlock_unlock(&fs->lock);
  /* Root first, then the new pin count: a reader pinned on the new
   * generation reads the new root (file_gen.c). */
  pb__fs_publish_root(fs, new_root, lsn);
  pb__fs_switch_pins(fs, p.pins);
  *gone = pb__fs_collect_old(fs);
  pthread_mutex_unlock(&fs->gen_mu);
  fs->pending_root = new_root;
  fs->pending_lsn = fs->synced_lsn = lsn;
  fs->switch_lsn = lsn;
  pb__ac_compacted(fs, c->out_end, c->stats.atom_bytes);
  c->stats.switch_lsn = lsn;
  c->stats.bytes_before = before;
  c->stats.bytes_after = c->out_end;
  return PB_OK;
}

/* --- Entry point --- */

static int open_output(compactor *c) {
  pb__file_storage *fs = c->fs;
  size_t n = strlen(fs->dir) + sizeof "/compact.tmp";
  c->tmp_path = malloc(n);
  if (c->tmp_path == NULL) return PB_ENOMEM;
  snprintf(c->tmp_path, n, "%s/compact.tmp", fs->dir);
  int rc = fs->io->open(fs->io, c->tmp_path, PB__IO_WRITE | PB__IO_CREATE,
                        &c->out);
  if (rc == PB_OK) rc = pb__io_truncate(c->out, 0);
  if (rc != PB_OK) return pb__fs_fail(fs, rc, true, "create %s", c->tmp_path);
  c->out_end = PB__WAL_HEADER_SIZE; /* the header is written last */
  return pb__batch_init(&c->bb);
}

static void compactor_free(compactor *c) {
  if (c->out != NULL) { /* failed before the switch */
    pb__io_close(c->out);
    c->fs->io->unlink(c->fs->io, c->tmp_path);
  }
  pb__fs_free_index(c->fs, &c->index);
  pb__ptr_map_free(&c->map);
  pb__batch_free(&c->bb);
  free(c->tmp_path);
  free(c->frame);
  free(c->stack);
  free(c->refs);
}

int pb__fs_compact(pb_storage *st, pb_compact_stats *stats) {
  return pb__fs_compact_run((pb__file_storage *)st, stats, false);
}

int pb__fs_compact_run(pb__file_storage *fs, pb_compact_stats *stats,
                       bool automatic) {
  pb_storage *st = &fs->base;
  compactor c = {.fs = fs, .automatic = automatic};
  pb__ptr_map_init(&c.map);
  pb__batch_index_init(&c.index);
  pb_buf_init(&c.bb.buf);
  pthread_mutex_lock(&fs->compact_mu);
  int rc = open_output(&c);
  /* Passes without blocking writers, while the root moves. */
  pb_atom_ptr done_root = {0}, root, moved;
  for (int pass = 0; rc == PB_OK && pass < MAX_PASSES; pass++) {
    rc = st->ops->read_root(st, &root, NULL);
    if (rc != PB_OK || (pass > 0 && pb_atom_ptr_equal(root, done_root)))
      break;
    uint64_t atoms = c.stats.atoms;
    rc = relocate(&c, root, &moved);
    done_root = root;
    c.stats.passes++;
    if (rc == PB_OK && fs->compact_hook != NULL)
      fs->compact_hook(fs->compact_hook_arg, pass);
    if (c.stats.atoms - atoms < SMALL_PASS) break;
  }
  if (rc == PB_OK && fs->compact_hook != NULL)
    fs->compact_hook(fs->compact_hook_arg, -1);
  if (rc == PB_OK && automatic && atomic_load(&fs->ac_abandon))
    rc = PB_ECLOSED;
  /* The copy so far is made durable before writers are stopped, so that
   * the final pass's fdatasync covers only what the catch-up adds, and
   * writers wait for that much less. */
  if (rc == PB_OK) rc = flush_batch(&c);
  if (rc == PB_OK) {
    rc = pb__io_datasync(c.out);
    if (rc != PB_OK) pb__fs_fail(fs, rc, true, "fdatasync %s", c.tmp_path);
  }
  pb__generation *gone = NULL;
  /* Automatic: no write transaction may be open across the switch, which
   * would make it conflict (file_autocompact.c). */
  bool gated = false;
  if (rc == PB_OK && automatic) {
    rc = pb__ac_gate_close(fs);
    gated = rc == PB_OK;
  }
  if (rc == PB_OK) {
    pb__fs_commit_lock(fs);
    rc = finish(&c, &gone);
    pb__fs_commit_unlock(fs);
  }
  if (gated) pb__ac_gate_open(fs);
  pb__fs_free_generations(fs, gone, true);
  if (rc == PB_OK && stats != NULL) *stats = c.stats;
  compactor_free(&c);
  pthread_mutex_unlock(&fs->compact_mu);
  return rc;
}

int pb__fs_measure_live(pb__file_storage *fs, pb_atom_ptr root,
                        uint64_t *live) {
  compactor c = {.fs = fs, .automatic = true, .measure = true};
  pb__ptr_map_init(&c.map);
  pb__batch_index_init(&c.index);
  pb_buf_init(&c.bb.buf);
  pb_atom_ptr moved;
  int rc = relocate(&c, root, &moved);
  *live = c.stats.atom_bytes;
  compactor_free(&c);
  return rc;
}

int pb__file_set_compact_hook(pb_storage *st, void (*fn)(void *, int),
                              void *arg) {
  if (st == NULL || st->ops->compact != pb__fs_compact) return PB_EINVAL;
  pb__file_storage *fs = (pb__file_storage *)st;
  pthread_mutex_lock(&fs->compact_mu);
  fs->compact_hook = fn;
  fs->compact_hook_arg = arg;
  pthread_mutex_unlock(&fs->compact_mu);
  return PB_OK;
}

/* --- A compacted copy, for pb_storage_backup --- */

int pb__fs_compact_copy(pb__file_storage *fs, const char *path,
                        pb_atom_ptr root, uint64_t lsn, uint64_t seq,
                        uint64_t *id_hi, uint64_t *id_lo, uint64_t *size) {
  return pb__fs_compact_copy_ex(fs, path, root, lsn, seq, id_hi, id_lo, size,
                                NULL);
}

int pb__fs_compact_copy_ex(pb__file_storage *fs, const char *path,
                           pb_atom_ptr root, uint64_t lsn, uint64_t seq,
                           uint64_t *id_hi, uint64_t *id_lo, uint64_t *size,
                           pb_compact_stats *stats) {
  compactor c = {.fs = fs};
  pb__ptr_map_init(&c.map);
  pb__batch_index_init(&c.index);
  pb_buf_init(&c.bb.buf);
  int rc = PB_ENOMEM;
  c.tmp_path = strdup(path);
  if (c.tmp_path != NULL) {
    rc = fs->io->open(fs->io, path, PB__IO_WRITE | PB__IO_CREATE | PB__IO_EXCL,
                      &c.out);
    if (rc != PB_OK) {
      c.out = NULL; /* not ours: never removed */
      pb__fs_fail(fs, rc, true, "create %s", path);
    }
  }
  if (rc == PB_OK) {
    c.out_end = PB__WAL_HEADER_SIZE; /* the header is written last */
    rc = pb__batch_init(&c.bb);
  }
  pb_atom_ptr moved = root;
  if (rc == PB_OK) rc = relocate(&c, root, &moved);
  if (rc == PB_OK) rc = flush_batch(&c);
  pb__seg_header h;
  if (rc == PB_OK) rc = write_tail(&c, seq, lsn, moved, root, &h);
  if (rc == PB_OK) {
    *id_hi = h.id_hi;
    *id_lo = h.id_lo;
    *size = c.out_end;
    if (stats != NULL) *stats = c.stats;
    rc = pb__io_close(c.out);
    c.out = NULL;
    if (rc != PB_OK) {
      pb__fs_fail(fs, rc, true, "close %s", path);
      fs->io->unlink(fs->io, path);
    }
  }
  compactor_free(&c); /* on failure: closes and removes the file */
  return rc;
}
