/*
 * storage/file.c - StandaloneFileStorage: a directory of append-only WAL
 * segments (format in file_format.h, recovery in file_recover.c).
 *
 * A commit, under commit_mu:
 *   1. checks, writing nothing on failure: the store has not failed, the
 *      PENDING head is `expected` (else PB_ECONFLICT), the batch is
 *      well-formed, its id is new (published or pending), and the new root
 *      exists (in a published or a pending batch);
 *   2. encodes the frame header and commit record (LSN pending_lsn + 1, the
 *      pending root as its previous root) into a small buffer, the
 *      checksum covering the batch where it lies (done just before step 5);
 *   3. rolls over to a new segment when the frame would take the active
 *      segment past segment_size and the segment already holds a frame:
 *      the old segment is fdatasynced and everything in it published
 *      first (after waiting for a leader's fdatasync in flight, which uses
 *      the old segment's handle);
 *   4. prepares everything publication needs (index room for every
 *      unpublished commit plus this one, a larger mapping, installed at
 *      once, or a heap copy), so that nothing can fail after the data is
 *      durable;
 *   5. ONE pwritev of the frame at the segment's end (header and record,
 *      the batch straight from the transaction's buffer, padding), into
 *      preallocated space already written with zeros (pb__seg_make_room);
 *      on failure the file is cut back to its old end (if even that fails,
 *      the store is failed);
 *   6. the commit becomes the pending head, and is queued for publication.
 * Then durability (group commit; none in PB_DURABILITY_NONE, which
 * publishes at once):
 *   7. if no fdatasync is in flight, this committer is the LEADER: it
 *      first waits, briefly, for the committers that the last sync
 *      released and that are on their way back (below), then notes the
 *      pending LSN, releases commit_mu, runs ONE fdatasync of the active
 *      segment (others keep appending meanwhile), retakes commit_mu and
 *      publishes, in LSN order, every queued commit up to the noted LSN
 *      (index insert, root and LSN under the write lock), then wakes the
 *      waiters.  In GROUP mode it also waits, at most group_window_ns
 *      (100 us), while other committers are on their way to append;
 *   8. otherwise it waits (sync_cv) until its commit is published, or the
 *      store failed; when the sync in flight ends and its commit is still
 *      not covered, one waiter becomes the next leader.
 * Returning committers.  Without step 7's first wait, N threads that each
 * commit in a loop split into two halves that take turns: the sync in
 * flight covers the commits appended before it began, the committers it
 * releases append again while the NEXT sync (started at once by a waiter
 * of the other half) is in flight, and so every sync covers about N/2
 * commits (0.25 fdatasyncs per commit on 8 threads), each committer
 * waiting two syncs per commit.  So a publication remembers how many
 * commits it released (n_returning) and when; a committer's next append
 * on the same thread counts as its return (a thread-local mark), and a
 * leader waits while some of them have not returned, for no longer than
 * the last fdatasync took, measured from the release, and at most
 * PB__FILE_RETURN_WAIT_NS (or group_window_ns if longer; a window of 0
 * turns every wait off).  A committer that does not come back costs the
 * next group that much latency once; a thread committing alone is its own
 * returning committer, back before it leads, and never waits.
 * A failed fdatasync fails the store: it refuses writes until reopened,
 * since the kernel may have dropped the unsynced pages, and EVERY commit
 * not yet published (that group, and every commit built on it) gets
 * PB_EIO and is never published.  Publication cannot fail, and readers
 * never wait for steps 5-8.  A commit from one thread alone costs exactly
 * one fdatasync in SYNC and GROUP.
 *
 * The DIR/LOCK file is flock'd by a writable open for its whole life, so a
 * second writer, in another process or this one, gets PB_ELOCKED (open and
 * close are in file_open.c).
 */
#include <assert.h>
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "atom/batch.h"
#include "storage/file.h"
#include "storage/file_format.h"
#include "storage/tier.h"
#include "util/errdetail.h"

static pb__file_storage *fs_of(pb_storage *st) {
  assert(st != NULL);
  return (pb__file_storage *)st;
}

/* --- Messages --- */

/* Appends `s` to the NUL-terminated text in buf[0, cap), cutting it to fit. */
static void msg_append(char *buf, size_t cap, size_t *len, const char *s) {
  assert(*len < cap);
  size_t n = strlen(s);
  if (n > cap - 1 - *len) n = cap - 1 - *len;
  memcpy(buf + *len, s, n);
  *len += n;
  buf[*len] = '\0';
}

/* A PB_ECORRUPT's message also names the source line that found the
 * damage (PB__CORRUPT recorded it), and becomes this thread's detail. */
static void corrupt_detail(char *msg, size_t cap, size_t *len) {
  const char *src = pb__errdetail_source();
  if (src[0] != '\0') {
    msg_append(msg, cap, len, " (");
    msg_append(msg, cap, len, src);
    msg_append(msg, cap, len, ")");
  }
  pb__errdetail_set(msg);
}

int pb__fs_fail(pb__file_storage *fs, int rc, bool with_errno,
                const char *fmt, ...) {
  int saved = errno;
  char text[PB__FILE_MSG_SIZE];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(text, sizeof text, fmt, ap);
  va_end(ap);
  char errtext[160] = "";
  if (with_errno && saved != 0) {
    char tmp[128];
    /* GNU strerror_r may return a static string instead of filling tmp. */
    const char *s = strerror_r(saved, tmp, sizeof tmp);
    size_t len = 0;
    msg_append(errtext, sizeof errtext, &len, ": ");
    msg_append(errtext, sizeof errtext, &len, s);
    char num[32];
    snprintf(num, sizeof num, " (errno %d)", saved);
    msg_append(errtext, sizeof errtext, &len, num);
  }
  pthread_mutex_lock(&fs->msg_mu);
  size_t len = 0;
  fs->msg[0] = '\0';
  msg_append(fs->msg, sizeof fs->msg, &len, fs->dir);
  msg_append(fs->msg, sizeof fs->msg, &len, ": ");
  msg_append(fs->msg, sizeof fs->msg, &len, text);
  msg_append(fs->msg, sizeof fs->msg, &len, errtext);
  if (rc == PB_ECORRUPT) corrupt_detail(fs->msg, sizeof fs->msg, &len);
  pthread_mutex_unlock(&fs->msg_mu);
  errno = saved;
  return rc;
}

static void fs_errmsg(pb_storage *st, char *buf, size_t size) {
  pb__file_storage *fs = fs_of(st);
  pthread_mutex_lock(&fs->msg_mu);
  snprintf(buf, size, "%s", fs->msg);
  pthread_mutex_unlock(&fs->msg_mu);
}

/* --- Reads --- */

/* The bytes of a batch of the current generation at `loc`. */
static const uint8_t *loc_bytes(const pb__file_storage *fs,
                                const pb__batch_loc *loc) {
  return pb__fs_loc_bytes(fs->segs, fs->n_segs, loc);
}

static const pb__pending *pending_find(const pb__file_storage *fs,
                                       uint64_t hi, uint64_t lo);

/* Reads an atom of a published commit. */
static int fs_read_atom(pb_storage *st, pb_atom_ptr ptr, pb_bytes *out) {
  if (out == NULL) return PB_EINVAL;
  pb__file_storage *fs = fs_of(st);
  pthread_rwlock_rdlock(&fs->lock);
  const uint8_t *data;
  uint64_t size;
  int rc = PB_ENOTFOUND;
  if (pb__fs_find_batch(fs, ptr.batch_hi, ptr.batch_lo, &data, &size))
    rc = pb__batch_atom(data, (size_t)size, ptr.offset, out);
  pthread_rwlock_unlock(&fs->lock);
  /* A salvage open holds only the batches that verified: an atom outside
   * them is one it cannot vouch for. */
  if (rc == PB_ENOTFOUND && fs->salv != NULL)
    rc = PB__CORRUPT(PB__ATOM_FMT " is not in a commit that verified "
                     "(salvage)", PB__ATOM_ARGS(ptr));
  return rc;
}

/*
 * Reads an atom of a published commit or of one that is appended but not
 * published yet: what a committer that rebases on the PENDING head needs.
 * Views stay valid until close: at publication a batch's bytes move to the
 * index, and after a failed sync they stay in fs->pend.
 */
static int fs_read_atom_pending(pb_storage *st, pb_atom_ptr ptr,
                                pb_bytes *out) {
  if (out == NULL) return PB_EINVAL;
  pb__file_storage *fs = fs_of(st);
  /* Lock order is commit_mu, then lock.  Under commit_mu nothing moves
   * from fs->pend to the index, so one of the two has the batch. */
  pb__fs_commit_lock(fs);
  const pb__pending *p = pending_find(fs, ptr.batch_hi, ptr.batch_lo);
  int rc;
  if (p != NULL)
    rc = pb__batch_atom(loc_bytes(fs, &p->loc), (size_t)p->loc.size,
                        ptr.offset, out);
  else
    rc = fs_read_atom(st, ptr, out);
  pb__fs_commit_unlock(fs);
  return rc;
}

static int fs_read_pending_root(pb_storage *st, pb_atom_ptr *root,
                                uint64_t *lsn) {
  if (root == NULL) return PB_EINVAL;
  pb__file_pending_root(st, root, lsn);
  return PB_OK;
}

static int fs_read_root(pb_storage *st, pb_atom_ptr *root, uint64_t *lsn) {
  if (root == NULL) return PB_EINVAL;
  pb__file_storage *fs = fs_of(st);
  pb__fs_published_root(fs, root, lsn); /* no lock: see file.h */
  return PB_OK;
}

/* --- Commit --- */

/* The unpublished commit that stored batch (hi, lo), or NULL. */
static const pb__pending *pending_find(const pb__file_storage *fs,
                                       uint64_t hi, uint64_t lo) {
  if (hi == 0 && lo == 0) return NULL; /* root-only commits */
  for (size_t i = 0; i < fs->n_pend; i++)
    if (fs->pend[i].id_hi == hi && fs->pend[i].id_lo == lo)
      return &fs->pend[i];
  return NULL;
}

/* Step 1: the checks that must pass before anything is written.  The CAS
 * is against the PENDING head.  On PB_ECONFLICT, *behind_lsn is set (else
 * 0) when `expected` is the published root and only unpublished commits
 * are ahead of it: the caller could not have seen them, so fs_commit waits
 * for their publication before answering, and the caller's rebase (which
 * reads the published root) finds something new. */
static int commit_check(pb__file_storage *fs, const pb__batch *batch,
                        pb_atom_ptr expected, pb_atom_ptr new_root,
                        uint64_t *behind_lsn) {
  assert(pb__fs_commit_held(fs));
  *behind_lsn = 0;
  if (fs->failed)
    return pb__fs_fail(fs, PB_EFAILED, false,
                       "an earlier write or sync failed; reopen the storage");
  if (batch->snapshot_lsn != 0 && batch->snapshot_lsn < fs->switch_lsn)
    return PB_ECONFLICT; /* built on atoms a compaction replaced */
  if (!pb_atom_ptr_equal(fs->pending_root, expected)) {
    if (fs->lsn < fs->pending_lsn && pb_atom_ptr_equal(fs->root, expected))
      *behind_lsn = fs->pending_lsn;
    return PB_ECONFLICT;
  }
  if (batch->size > 0 &&
      (pb__batch_index_find(&fs->index, batch->id_hi, batch->id_lo) != NULL ||
       pending_find(fs, batch->id_hi, batch->id_lo) != NULL))
    return PB_EEXIST;
  if (!pb_atom_ptr_is_null(new_root) &&
      !(batch->size > 0 && new_root.batch_hi == batch->id_hi &&
        new_root.batch_lo == batch->id_lo)) {
    /* The new root may sit in a batch that is appended but unpublished. */
    const pb__pending *p =
        pending_find(fs, new_root.batch_hi, new_root.batch_lo);
    if (p != NULL)
      return p->loc.size >= 4 && new_root.offset <= p->loc.size - 4
                 ? PB_OK
                 : PB_EINVAL;
  }
  return pb__storage_check_root(batch, &fs->index, new_root);
}

/* Step 2: encodes the frame header and the commit record into
 * fs->frame_head, on top of the pending head; the checksum covers the
 * batch where it lies (write_frame writes it from there). */
static void build_head(pb__file_storage *fs, const pb__batch *batch,
                       pb_atom_ptr new_root) {
  assert(pb__fs_commit_held(fs));
  uint8_t *record = fs->frame_head + PB__FRAME_HEADER_SIZE;
  pb__commit_record c = {.lsn = fs->pending_lsn + 1,
                         .root = new_root,
                         .prev_root = fs->pending_root,
                         .batch_size = batch->size};
  if (batch->size > 0) { /* an empty batch is stored with a zero id */
    c.batch_hi = batch->id_hi;
    c.batch_lo = batch->id_lo;
  }
  pb__commit_encode_fixed(&c, record);
  pb__frame_header_encode2(fs->frame_head, PB__FRAME_COMMIT, record,
                           PB__COMMIT_FIXED_SIZE, batch->data, batch->size);
}

/* Publishes, in LSN order, every unpublished commit up to `upto`: index
 * inserts, then the published root and LSN.  Under commit_mu, after the
 * fdatasync that covers them returned.  Cannot fail (room was reserved). */
static void publish_upto(pb__file_storage *fs, uint64_t upto) {
  assert(pb__fs_commit_held(fs));
  size_t k = 0;
  pthread_rwlock_wrlock(&fs->lock);
  while (k < fs->n_pend && fs->pend[k].lsn <= upto) {
    pb__pending *p = &fs->pend[k++];
    assert(p->lsn == fs->lsn + 1);
    if (p->id_hi != 0 || p->id_lo != 0) {
      int rc = pb__batch_index_insert(&fs->index, p->id_hi, p->id_lo,
                                      &p->loc);
      assert(rc == PB_OK); /* room reserved, id checked absent */
      (void)rc;
    }
    fs->root = p->root;
    fs->lsn = p->lsn;
  }
  pthread_rwlock_unlock(&fs->lock);
  assert(fs->lsn <= fs->pending_lsn && fs->synced_lsn <= fs->pending_lsn);
  if (k == 0) return;
  /* After the index inserts (and the unlock that releases them): a reader
   * that sees the new root finds its batch. */
  pb__fs_publish_root(fs, fs->root, fs->lsn);
  /* Heap copies now belong to the index. */
  memmove(fs->pend, fs->pend + k, (fs->n_pend - k) * sizeof *fs->pend);
  fs->n_pend -= k;
}

/* Fails the store: it refuses writes until reopened, and no commit that is
 * not published yet will ever be; their committers get PB_EIO.  Under
 * commit_mu. */
void pb__fs_fail_store(pb__file_storage *fs) {
  assert(pb__fs_commit_held(fs));
  fs->failed = true;
  /* The unpublished commits stay in fs->pend (never published; freed at
   * close), because a committer that rebased on one of them may still hold
   * views of its atoms (fs_read_atom's pending fallback). */
  pthread_cond_broadcast(&fs->sync_cv);
}

static uint64_t now_ns(void);

/* An fdatasync covering every commit up to `upto` returned OK. */
static void synced(pb__file_storage *fs, uint64_t upto) {
  assert(pb__fs_commit_held(fs));
  if (fs->failed) return; /* nothing is published after a failure */
  if (upto > fs->synced_lsn) fs->synced_lsn = upto;
  uint64_t before = fs->lsn;
  publish_upto(fs, upto);
  if (fs->lsn > before) { /* their committers are released: see the top */
    fs->release_epoch++;
    fs->release_ns = now_ns();
    fs->n_returning = (size_t)(fs->lsn - before);
  }
  pthread_cond_broadcast(&fs->sync_cv);
}

/* Step 3: seals the active segment and starts the next one.  No fdatasync
 * is in flight (commit_locked waited).  Everything appended to the old
 * segment is made durable and published first, so a commit in segment N+1
 * is never published before everything in segment N is durable. */
static int roll_over(pb__file_storage *fs) {
  assert(pb__fs_commit_held(fs));
  assert(!fs->syncing);
  pb__segment *old = fs->segs[fs->n_segs - 1];
  /* A sealed segment is never cut, so it must be complete on disk, and end
   * at its last frame (no preallocated zeros), before a successor exists,
   * even in PB_DURABILITY_NONE.  pb__seg_trim's fsync covers the data. */
  if (fs->synced_lsn < fs->pending_lsn || old->alloc > old->end) {
    bool trim = old->alloc > old->end;
    int rc = trim ? pb__seg_trim(old) : pb__io_datasync(old->file);
    if (rc != PB_OK) {
      pb__fs_fail(fs, rc, true, "%s %s", trim ? "cut and fsync" : "fdatasync",
                  old->path);
      int saved = errno;
      pb__fs_fail_store(fs);
      errno = saved;
      return rc;
    }
    synced(fs, fs->pending_lsn);
  }
  /* Growing fs->segs moves the array that readers index. */
  pthread_rwlock_wrlock(&fs->lock);
  int rc = pb__seg_reserve(fs);
  pthread_rwlock_unlock(&fs->lock);
  if (rc != PB_OK) return rc;
  pb__segment *seg;
  rc = pb__seg_create(fs, old->seq + 1, old, &seg);
  if (rc != PB_OK) return rc;
  /* The manifest now names the new segment (and the sealed one's exact
   * size), before any frame lands in it.  The slot after the last one is
   * reserved and unused, so readers never look at it. */
  fs->segs[fs->n_segs] = seg;
  bool renamed;
  rc = pb__fs_manifest_update(fs, fs->segs, fs->n_segs + 1, &renamed);
  if (rc != PB_OK) {
    int saved = errno;
    if (!renamed) { /* MANIFEST still names the old segments: undo */
      fs->io->unlink(fs->io, seg->path);
      fs->io->sync_dir(fs->io, fs->dir); /* best effort: a header-only
                                            segment the manifest does not
                                            name is harmless */
    } else { /* which manifest a crash finds is unknown: keep the file,
                refuse writes until a reopen settles it */
      pb__fs_fail_store(fs);
    }
    pb__seg_free(fs, seg);
    errno = saved;
    return rc;
  }
  pthread_rwlock_wrlock(&fs->lock);
  pb__seg_push(fs, seg);
  pthread_rwlock_unlock(&fs->lock);
  pb__io_close(old->file); /* reads go through the mapping or heap copies */
  old->file = NULL;
  return PB_OK;
}

/* Step 4: reserves what publication needs (index room for every
 * unpublished commit plus this one, room in the pending list), installs a
 * larger mapping at once when one is needed (harmless: it only reaches
 * further), and makes the heap copy (no-mmap layers) into *copy. */
static int prepare_publish(pb__file_storage *fs, pb__segment *seg,
                           const pb__batch *batch, uint64_t frame_size,
                           uint8_t **copy) {
  assert(pb__fs_commit_held(fs));
  *copy = NULL;
  int rc = PB_OK;
  if (!pb__batch_index_has_room(&fs->index, fs->n_pend + 1)) {
    /* Growing moves the slots that readers probe. */
    pthread_rwlock_wrlock(&fs->lock);
    rc = pb__batch_index_reserve(&fs->index, fs->n_pend + 1);
    pthread_rwlock_unlock(&fs->lock);
    if (rc != PB_OK) return rc;
  }
  if (fs->n_pend == fs->cap_pend) {
    size_t cap = fs->cap_pend ? fs->cap_pend * 2 : 16;
    pb__pending *p = realloc(fs->pend, cap * sizeof *p);
    if (p == NULL) return PB_ENOMEM;
    fs->pend = p;
    fs->cap_pend = cap;
  }
  const void *map;
  size_t map_len;
  rc = pb__seg_prepare_map(fs, seg, seg->end + frame_size, true, &map,
                           &map_len);
  if (rc != PB_OK) return rc;
  if (map != NULL) {
    pthread_rwlock_wrlock(&fs->lock);
    pb__seg_install_map(seg, map, map_len);
    pthread_rwlock_unlock(&fs->lock);
  }
  if (!fs->use_map && batch->size > 0) {
    *copy = malloc(batch->size);
    if (*copy == NULL) return PB_ENOMEM;
    memcpy(*copy, batch->data, batch->size);
  }
  return PB_OK;
}

/* Step 5: one pwritev at the segment's end (inside written, preallocated
 * room, usually: pb__seg_make_room ran first): the header and commit
 * record from fs->frame_head, the batch from the caller's buffer, then the
 * zero padding.  On failure the file is cut back to its old end. */
static int write_frame(pb__file_storage *fs, pb__segment *seg,
                       const pb__batch *batch, uint64_t frame_size) {
  assert(pb__fs_commit_held(fs));
  static const uint8_t pad[PB__FRAME_ALIGN];
  uint64_t used = sizeof fs->frame_head + (uint64_t)batch->size;
  assert(frame_size >= used && frame_size - used < PB__FRAME_ALIGN);
  pb__iovec iov[3] = {{fs->frame_head, sizeof fs->frame_head},
                      {batch->data, batch->size},
                      {pad, (size_t)(frame_size - used)}};
  int rc = pb__io_pwritev(seg->file, iov, 3, seg->end);
  if (rc != PB_OK) {
    pb__fs_fail(fs, rc, true, "write %" PRIu64 " bytes to %s at %" PRIu64,
                frame_size, seg->path, seg->end);
    int saved = errno;
    if (pb__io_truncate(seg->file, seg->end) != PB_OK)
      pb__fs_fail_store(fs);
    else
      seg->alloc = 0; /* the preallocated zeros went too */
    errno = saved;
    return rc;
  }
  return PB_OK;
}

/* Steps 1-5 and the append to the pending head, under commit_mu.  Gives
 * the commit's LSN in *lsn; see commit_check for *behind_lsn. */
static int commit_locked(pb__file_storage *fs, const pb__batch *batch,
                         pb_atom_ptr expected, pb_atom_ptr new_root,
                         uint64_t *lsn, uint64_t *behind_lsn) {
  assert(pb__fs_commit_held(fs));
  *behind_lsn = 0;
  uint64_t frame_size =
      pb__frame_size(PB__COMMIT_FIXED_SIZE + (uint64_t)batch->size);
  /* A rollover closes the active segment's handle, which an fdatasync in
   * flight (outside commit_mu) may be using: wait for it first, before the
   * checks, since waiting lets other commits in. */
  for (;;) {
    pb__segment *seg = fs->segs[fs->n_segs - 1];
    if (!fs->syncing || seg->frames == 0 ||
        seg->end + frame_size <= fs->opts.segment_size)
      break;
    fs->n_roll_waiting++;
    pb__fs_commit_wait(fs, &fs->sync_cv);
    fs->n_roll_waiting--;
  }
  assert(fs->n_segs > 0 && fs->segs[fs->n_segs - 1]->file != NULL);
  int rc = commit_check(fs, batch, expected, new_root, behind_lsn);
  if (rc != PB_OK) return rc;
  if (frame_size > SIZE_MAX) return PB_ETOOBIG;
  pb__segment *seg = fs->segs[fs->n_segs - 1];
  if (seg->frames > 0 && seg->end + frame_size > fs->opts.segment_size) {
    rc = roll_over(fs);
    if (rc != PB_OK) return rc;
    seg = fs->segs[fs->n_segs - 1];
  }
  pb__seg_make_room(fs, seg, frame_size);
  uint8_t *copy = NULL;
  rc = prepare_publish(fs, seg, batch, frame_size, &copy);
  if (rc == PB_OK) {
    build_head(fs, batch, new_root);
    rc = write_frame(fs, seg, batch, frame_size);
  }
  if (rc != PB_OK) {
    free(copy);
    return rc;
  }
  pb__pending *p = &fs->pend[fs->n_pend++];
  *p = (pb__pending){
      .lsn = fs->pending_lsn + 1,
      .root = new_root,
      .loc = {.data = copy,
              .size = batch->size,
              .offset = seg->end + PB__FRAME_HEADER_SIZE +
                        PB__COMMIT_FIXED_SIZE,
              .segment = (uint32_t)(fs->n_segs - 1)}};
  if (batch->size > 0) {
    p->id_hi = batch->id_hi;
    p->id_lo = batch->id_lo;
  }
  seg->end += frame_size;
  seg->frames++;
  pb__ac_appended(fs, frame_size); /* automatic compaction's estimate */
  fs->pending_root = new_root;
  fs->pending_lsn++;
  *lsn = fs->pending_lsn;
  if (fs->opts.durability == PB_DURABILITY_NONE)
    publish_upto(fs, fs->pending_lsn); /* at once, without a sync */
  return PB_OK;
}

static uint64_t now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* The committer on this thread that the last publication of a store
 * released (see "returning committers" at the top): its next append there
 * is its return.  A hint only: a committer woken after a later
 * publication counts as released by that one. */
static _Thread_local struct {
  const pb__file_storage *fs;
  uint64_t epoch; /* fs->release_epoch that released it */
} released;

/* Under commit_mu, as a committer enters: if the last publication released
 * this thread's previous commit, it is back. */
static void note_return(pb__file_storage *fs) {
  assert(pb__fs_commit_held(fs));
  if (released.fs != fs) return;
  if (released.epoch == fs->release_epoch && fs->n_returning > 0)
    fs->n_returning--;
  released.fs = NULL;
}

/* Before syncing, the leader waits (on append_cv, commit_mu released)
 * until `end`, and stops as soon as nobody it waits for is left:
 *   - committers the last publication released that have not appended
 *     again ("returning committers" at the top), in SYNC and GROUP, until
 *     the release plus the last fdatasync's duration (at most
 *     PB__FILE_RETURN_WAIT_NS, or group_window_ns if longer);
 *   - committers on their way to append (they entered fs_commit and have
 *     neither appended nor given up; rollover waiters excepted), until
 *     that same time, and in GROUP at least group_window_ns from now.
 * A window of 0 turns both off. */
static void group_window(pb__file_storage *fs) {
  assert(pb__fs_commit_held(fs) && fs->syncing);
  if (fs->group_window_ns == 0) return;
  uint64_t now = now_ns();
  uint64_t cap = fs->group_window_ns > PB__FILE_RETURN_WAIT_NS
                     ? fs->group_window_ns
                     : PB__FILE_RETURN_WAIT_NS;
  uint64_t back_by = fs->release_ns +
                     (fs->last_sync_ns < cap ? fs->last_sync_ns : cap);
  uint64_t end = back_by;
  if (fs->opts.durability == PB_DURABILITY_GROUP &&
      now + fs->group_window_ns > end)
    end = now + fs->group_window_ns;
  struct timespec dl = {.tv_sec = (time_t)(end / 1000000000u),
                        .tv_nsec = (long)(end % 1000000000u)};
  bool waited = false;
  while (now < end) {
    bool returning = fs->n_returning > 0 && now < back_by;
    bool entering = atomic_load(&fs->n_entering) > fs->n_roll_waiting;
    if (!returning && !entering) break;
    if (!waited) fs->n_leader_waits++;
    waited = true;
    fs->leader_waiting = true;
    pb__owner_clear(&fs->commit_owner);
    pthread_cond_timedwait(&fs->append_cv, &fs->commit_mu, &dl);
    pb__owner_set(&fs->commit_owner);
    fs->leader_waiting = false;
    now = now_ns();
  }
}

/* Becomes the leader: fdatasyncs everything appended so far OUTSIDE
 * commit_mu (others keep appending meanwhile), then publishes it in order
 * and wakes the waiters.  Under commit_mu; no sync in flight. */
static void lead_sync(pb__file_storage *fs) {
  assert(pb__fs_commit_held(fs));
  assert(!fs->syncing);
  fs->syncing = true;
  group_window(fs);
  uint64_t target = fs->pending_lsn;
  pb__segment *seg = fs->segs[fs->n_segs - 1];
  pb__fs_commit_unlock(fs);
  uint64_t t0 = now_ns();
  int rc = pb__io_datasync(seg->file);
  int saved = errno;
  uint64_t took = now_ns() - t0;
  pb__fs_commit_lock(fs);
  fs->last_sync_ns = took;
  fs->syncing = false;
  fs->n_syncs++;
  if (rc != PB_OK) {
    errno = saved;
    pb__fs_fail(fs, PB_EIO, true, "fdatasync %s", seg->path);
    pb__fs_fail_store(fs);
    errno = saved;
  } else {
    synced(fs, target);
  }
  pthread_cond_broadcast(&fs->sync_cv); /* also wakes rollover waiters */
}

/* Waits, under commit_mu, until commit `lsn` is published (PB_OK) or will
 * never be (PB_EIO: its group's fdatasync, or an earlier one it was built
 * on, failed).  A waiter becomes the leader whenever no sync is in flight. */
static int wait_durable(pb__file_storage *fs, uint64_t lsn) {
  assert(pb__fs_commit_held(fs) && lsn <= fs->pending_lsn);
  for (;;) {
    if (fs->lsn >= lsn) {
      released.fs = fs; /* expected back: see the top */
      released.epoch = fs->release_epoch;
      return PB_OK;
    }
    if (fs->failed) return PB_EIO;
    if (!fs->syncing)
      lead_sync(fs);
    else
      pb__fs_commit_wait(fs, &fs->sync_cv);
  }
}

/* Steps 1-6 (the append), without waiting for durability: the commit
 * becomes the pending head, which others may build on at once.  In
 * PB_DURABILITY_NONE it is also published.  The caller must then call
 * fs_wait_durable(lsn) (fs_commit does both). */
static int fs_append(pb_storage *st, const pb__batch *batch,
                     pb_atom_ptr expected, pb_atom_ptr new_root,
                     uint64_t *lsn_out) {
  pb__file_storage *fs = fs_of(st);
  if (fs->base.read_only) return PB_ERDONLY;
  int rc = pb__storage_check_batch(batch);
  if (rc != PB_OK) return rc;
  if (batch->size > PB__COMMIT_MAX_BATCH) return PB_ETOOBIG;
  atomic_fetch_add(&fs->n_entering, 1);
  pb__fs_commit_lock(fs);
  note_return(fs);
  uint64_t lsn = 0, behind = 0;
  rc = commit_locked(fs, batch, expected, new_root, &lsn, &behind);
  atomic_fetch_sub(&fs->n_entering, 1);
  if (fs->leader_waiting) pthread_cond_broadcast(&fs->append_cv);
  if (rc == PB_ECONFLICT && behind != 0) {
    while (fs->lsn < behind && !fs->failed) {
      if (!fs->syncing)
        lead_sync(fs); /* cannot happen while their committers wait, but
                          costs nothing to allow */
      else
        pb__fs_commit_wait(fs, &fs->sync_cv);
    }
  }
  pb__fs_commit_unlock(fs);
  if (rc == PB_OK && lsn_out != NULL) *lsn_out = lsn;
  return rc;
}

/* Steps 7-8: waits until appended commit `lsn` is published, leading a
 * group's fdatasync when none is in flight.  PB_EIO when it never will be. */
static int fs_wait_durable(pb_storage *st, uint64_t lsn) {
  pb__file_storage *fs = fs_of(st);
  if (fs->base.read_only) return PB_OK;
  pb__fs_commit_lock(fs);
  assert(lsn <= fs->pending_lsn); /* only an appended commit is waited on */
  int rc = PB_OK;
  if (fs->opts.durability != PB_DURABILITY_NONE) rc = wait_durable(fs, lsn);
  pb__fs_commit_unlock(fs);
  return rc;
}

static int fs_commit(pb_storage *st, const pb__batch *batch,
                     pb_atom_ptr expected, pb_atom_ptr new_root,
                     uint64_t *lsn_out) {
  uint64_t lsn = 0;
  int rc = fs_append(st, batch, expected, new_root, &lsn);
  if (rc == PB_OK) rc = fs_wait_durable(st, lsn);
  if (rc == PB_OK && lsn_out != NULL) *lsn_out = lsn;
  return rc;
}

int pb__file_set_group_window(pb_storage *st, uint64_t ns) {
  if (st == NULL || st->ops->commit != fs_commit) return PB_EINVAL;
  pb__file_storage *fs = fs_of(st);
  pb__fs_commit_lock(fs);
  fs->group_window_ns = ns;
  pb__fs_commit_unlock(fs);
  return PB_OK;
}

void pb__file_pending_root(pb_storage *st, pb_atom_ptr *root, uint64_t *lsn) {
  pb__file_storage *fs = fs_of(st);
  pb__fs_commit_lock(fs);
  *root = fs->pending_root;
  if (lsn != NULL) *lsn = fs->pending_lsn;
  pb__fs_commit_unlock(fs);
}

uint64_t pb__file_sync_count(pb_storage *st) {
  pb__file_storage *fs = fs_of(st);
  pb__fs_commit_lock(fs);
  uint64_t n = fs->n_syncs;
  pb__fs_commit_unlock(fs);
  return n;
}

/* --- Flush, pins, and the operations table (open and close: file_open.c) --- */

int pb__fs_flush_locked(pb__file_storage *fs) {
  assert(pb__fs_commit_held(fs));
  if (fs->base.read_only) return PB_OK;
  while (fs->syncing) pb__fs_commit_wait(fs, &fs->sync_cv);
  if (fs->failed) /* SYNC: what was acknowledged was synced before */
    return fs->opts.durability == PB_DURABILITY_NONE ? PB_EIO : PB_OK;
  if (fs->synced_lsn >= fs->pending_lsn) return PB_OK;
  pb__segment *seg = fs->segs[fs->n_segs - 1];
  int rc = pb__io_datasync(seg->file);
  if (rc != PB_OK) {
    pb__fs_fail(fs, PB_EIO, true, "fdatasync %s", seg->path);
    int saved = errno;
    pb__fs_fail_store(fs);
    errno = saved;
    return PB_EIO;
  }
  synced(fs, fs->pending_lsn);
  return PB_OK;
}

static int fs_flush(pb_storage *st) {
  pb__file_storage *fs = fs_of(st);
  pb__fs_commit_lock(fs);
  int rc = pb__fs_flush_locked(fs);
  pb__fs_commit_unlock(fs);
  return rc;
}

static void fs_pin(pb_storage *st, uint64_t *token) {
  pb__fs_pin(fs_of(st), token);
}

static void fs_unpin(pb_storage *st, uint64_t token) {
  pb__fs_unpin(fs_of(st), token);
}

const pb__storage_ops pb__file_ops = {
    .name = "file",
    .read_atom = fs_read_atom,
    .commit = fs_commit,
    .read_root = fs_read_root,
    .flush = fs_flush,
    .close = pb__fs_close,
    .errmsg = fs_errmsg,
    .read_pending_root = fs_read_pending_root,
    .read_atom_pending = fs_read_atom_pending,
    .append = fs_append,
    .wait_durable = fs_wait_durable,
    .pin = fs_pin,
    .unpin = fs_unpin,
    .compact = pb__fs_compact,
    .recovery_info = pb__fs_recovery_info,
    .backup = pb__fs_backup,
    .disk_usage = pb__fs_disk_usage,
    .writer_enter = pb__ac_writer_enter,
    .writer_leave = pb__ac_writer_leave,
    .cheap_reads = true, /* an mmap lookup: no bytes cache by default */
};
