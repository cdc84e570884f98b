/*
 * storage/file.c - StandaloneFileStorage: a directory of append-only WAL
 * segments (format in file_format.h, recovery in file_recover.c).
 *
 * A commit, under commit_mu:
 *   1. checks, writing nothing on failure: the store has not failed, the
 *      current root is `expected` (else PB_ECONFLICT), the batch is
 *      well-formed, its id is new, and the new root exists;
 *   2. encodes the whole frame (header, commit record, batch, padding) into
 *      one buffer;
 *   3. rolls over to a new segment when the frame would take the active
 *      segment past segment_size and the segment already holds a frame;
 *   4. prepares everything publication needs (index room, a larger mapping
 *      or a heap copy), so that nothing can fail after the data is durable;
 *   5. ONE pwrite of the frame at the segment's end; on failure the file is
 *      cut back to its old end (if even that fails, the store is failed);
 *   6. ONE fdatasync (none in PB_DURABILITY_NONE; GROUP is SYNC for now);
 *      on failure the store is failed: it refuses writes until reopened,
 *      because the kernel may have dropped the unsynced pages;
 *   7. publication under the write lock: index insert, root and LSN.
 * Nothing fails after step 7, and readers never wait for steps 5-6.
 *
 * The DIR/LOCK file is flock'd by a writable open for its whole life, so a
 * second writer, in another process or this one, gets PB_ELOCKED.
 */
#include <assert.h>
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "atom/batch.h"
#include "storage/file.h"
#include "util/errdetail.h"
#include "storage/file_format.h"
#include "storage/tier.h"

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

static int fs_read_atom(pb_storage *st, pb_atom_ptr ptr, pb_bytes *out) {
  if (out == NULL) return PB_EINVAL;
  pb__file_storage *fs = fs_of(st);
  pthread_rwlock_rdlock(&fs->lock);
  const pb__batch_loc *loc =
      pb__batch_index_find(&fs->index, ptr.batch_hi, ptr.batch_lo);
  int rc = PB_ENOTFOUND;
  if (loc != NULL) {
    const uint8_t *data = loc->data;
    if (data == NULL) {
      assert(loc->segment < fs->n_segs);
      const pb__segment *seg = fs->segs[loc->segment];
      assert(seg->map != NULL && loc->offset + loc->size <= seg->map_len);
      data = seg->map + loc->offset;
    }
    rc = pb__batch_atom(data, (size_t)loc->size, ptr.offset, out);
  }
  pthread_rwlock_unlock(&fs->lock);
  return rc;
}

static int fs_read_root(pb_storage *st, pb_atom_ptr *root, uint64_t *lsn) {
  if (root == NULL) return PB_EINVAL;
  pb__file_storage *fs = fs_of(st);
  pthread_rwlock_rdlock(&fs->lock);
  *root = fs->root;
  if (lsn != NULL) *lsn = fs->lsn;
  pthread_rwlock_unlock(&fs->lock);
  return PB_OK;
}

/* --- Commit --- */

/* Step 1: the checks that must pass before anything is written. */
static int commit_check(pb__file_storage *fs, const pb__batch *batch,
                        pb_atom_ptr expected, pb_atom_ptr new_root) {
  if (fs->failed)
    return pb__fs_fail(fs, PB_EFAILED, false,
                       "an earlier write or sync failed; reopen the storage");
  if (!pb_atom_ptr_equal(fs->root, expected)) return PB_ECONFLICT;
  if (batch->size > 0 &&
      pb__batch_index_find(&fs->index, batch->id_hi, batch->id_lo) != NULL)
    return PB_EEXIST;
  return pb__storage_check_root(batch, &fs->index, new_root);
}

/* Step 2: encodes the frame into fs->frame; gives its padded size. */
static int build_frame(pb__file_storage *fs, const pb__batch *batch,
                       pb_atom_ptr new_root, uint64_t *frame_size) {
  uint32_t len = (uint32_t)(PB__COMMIT_FIXED_SIZE + batch->size);
  uint64_t size = pb__frame_size(len);
  if (size > SIZE_MAX) return PB_ETOOBIG;
  if (size > fs->frame_cap) {
    uint8_t *f = realloc(fs->frame, (size_t)size);
    if (f == NULL) return PB_ENOMEM;
    fs->frame = f;
    fs->frame_cap = (size_t)size;
  }
  uint8_t *payload = fs->frame + PB__FRAME_HEADER_SIZE;
  pb__commit_record c = {.lsn = fs->lsn + 1,
                         .root = new_root,
                         .prev_root = fs->root,
                         .batch_size = batch->size};
  if (batch->size > 0) { /* an empty batch is stored with a zero id */
    c.batch_hi = batch->id_hi;
    c.batch_lo = batch->id_lo;
    memcpy(payload + PB__COMMIT_FIXED_SIZE, batch->data, batch->size);
  }
  pb__commit_encode_fixed(&c, payload);
  uint64_t used = PB__FRAME_HEADER_SIZE + (uint64_t)len;
  memset(fs->frame + used, 0, (size_t)(size - used)); /* padding */
  pb__frame_header_encode(fs->frame, PB__FRAME_COMMIT, payload, len);
  *frame_size = size;
  return PB_OK;
}

/* Step 3: seals the active segment and starts the next one. */
static int roll_over(pb__file_storage *fs) {
  pb__segment *old = fs->segs[fs->n_segs - 1];
  /* A sealed segment is never cut, so it must be complete on disk before a
   * successor exists, even in PB_DURABILITY_NONE. */
  if (fs->dirty) {
    int rc = pb__io_datasync(old->file);
    if (rc != PB_OK) {
      fs->failed = true;
      return pb__fs_fail(fs, rc, true, "fdatasync %s", old->path);
    }
    fs->dirty = false;
  }
  /* Growing fs->segs moves the array that readers index. */
  pthread_rwlock_wrlock(&fs->lock);
  int rc = pb__seg_reserve(fs);
  pthread_rwlock_unlock(&fs->lock);
  if (rc != PB_OK) return rc;
  pb__segment *seg;
  rc = pb__seg_create(fs, old->seq + 1, old, &seg);
  if (rc != PB_OK) return rc;
  pthread_rwlock_wrlock(&fs->lock);
  pb__seg_push(fs, seg);
  pthread_rwlock_unlock(&fs->lock);
  pb__io_close(old->file); /* reads go through the mapping or heap copies */
  old->file = NULL;
  return PB_OK;
}

/* What step 4 prepared, released again if the commit fails. */
typedef struct commit_prep {
  const void *map; /* a larger mapping of the active segment, or NULL */
  size_t map_len;  /* its length */
  uint8_t *copy;   /* heap copy of the batch (no-mmap layers), or NULL */
} commit_prep;

/* Step 4. */
static int prepare_publish(pb__file_storage *fs, pb__segment *seg,
                           const pb__batch *batch, uint64_t frame_size,
                           commit_prep *prep) {
  int rc = PB_OK;
  if (!pb__batch_index_has_room(&fs->index, 1)) {
    /* Growing moves the slots that readers probe. */
    pthread_rwlock_wrlock(&fs->lock);
    rc = pb__batch_index_reserve(&fs->index, 1);
    pthread_rwlock_unlock(&fs->lock);
    if (rc != PB_OK) return rc;
  }
  rc = pb__seg_prepare_map(fs, seg, seg->end + frame_size, true, &prep->map,
                           &prep->map_len);
  if (rc != PB_OK) return rc;
  if (!fs->use_map && batch->size > 0) {
    prep->copy = malloc(batch->size);
    if (prep->copy == NULL) return PB_ENOMEM;
    memcpy(prep->copy, batch->data, batch->size);
  }
  return PB_OK;
}

static void release_prep(pb__file_storage *fs, commit_prep *prep) {
  pb__seg_drop_map(fs, prep->map, prep->map_len);
  free(prep->copy);
  *prep = (commit_prep){0};
}

/* Steps 5 and 6. */
static int write_frame(pb__file_storage *fs, pb__segment *seg,
                       uint64_t frame_size) {
  int rc = pb__io_pwrite(seg->file, fs->frame, (size_t)frame_size, seg->end);
  if (rc != PB_OK) {
    pb__fs_fail(fs, rc, true, "write %" PRIu64 " bytes to %s at %" PRIu64,
                frame_size, seg->path, seg->end);
    int saved = errno;
    if (pb__io_truncate(seg->file, seg->end) != PB_OK) fs->failed = true;
    errno = saved;
    return rc;
  }
  fs->dirty = true;
  if (fs->opts.durability == PB_DURABILITY_NONE) return PB_OK;
  rc = pb__io_datasync(seg->file);
  if (rc != PB_OK) {
    fs->failed = true;
    return pb__fs_fail(fs, PB_EIO, true, "fdatasync %s", seg->path);
  }
  fs->dirty = false;
  return PB_OK;
}

/* Step 7: cannot fail. */
static void publish(pb__file_storage *fs, pb__segment *seg,
                    const pb__batch *batch, pb_atom_ptr new_root,
                    uint64_t frame_size, commit_prep *prep) {
  pthread_rwlock_wrlock(&fs->lock);
  pb__seg_install_map(seg, prep->map, prep->map_len);
  if (batch->size > 0) {
    pb__batch_loc loc = {
        .data = prep->copy,
        .size = batch->size,
        .offset = seg->end + PB__FRAME_HEADER_SIZE + PB__COMMIT_FIXED_SIZE,
        .segment = (uint32_t)(fs->n_segs - 1)};
    int rc = pb__batch_index_insert(&fs->index, batch->id_hi, batch->id_lo,
                                    &loc);
    assert(rc == PB_OK); /* room reserved, id checked absent */
    (void)rc;
  }
  fs->root = new_root;
  fs->lsn++;
  seg->end += frame_size;
  seg->frames++;
  pthread_rwlock_unlock(&fs->lock);
  *prep = (commit_prep){0}; /* now owned by the segment and the index */
}

static int commit_locked(pb__file_storage *fs, const pb__batch *batch,
                         pb_atom_ptr expected, pb_atom_ptr new_root,
                         uint64_t *lsn_out) {
  assert(fs->n_segs > 0 && fs->segs[fs->n_segs - 1]->file != NULL);
  int rc = commit_check(fs, batch, expected, new_root);
  uint64_t frame_size = 0;
  if (rc == PB_OK) rc = build_frame(fs, batch, new_root, &frame_size);
  if (rc != PB_OK) return rc;
  pb__segment *seg = fs->segs[fs->n_segs - 1];
  if (seg->frames > 0 && seg->end + frame_size > fs->opts.segment_size) {
    rc = roll_over(fs);
    if (rc != PB_OK) return rc;
    seg = fs->segs[fs->n_segs - 1];
  }
  commit_prep prep = {0};
  rc = prepare_publish(fs, seg, batch, frame_size, &prep);
  if (rc == PB_OK) rc = write_frame(fs, seg, frame_size);
  if (rc != PB_OK) {
    release_prep(fs, &prep);
    return rc;
  }
  publish(fs, seg, batch, new_root, frame_size, &prep);
  if (lsn_out != NULL) *lsn_out = fs->lsn;
  return PB_OK;
}

static int fs_commit(pb_storage *st, const pb__batch *batch,
                     pb_atom_ptr expected, pb_atom_ptr new_root,
                     uint64_t *lsn_out) {
  pb__file_storage *fs = fs_of(st);
  if (fs->base.read_only) return PB_ERDONLY;
  int rc = pb__storage_check_batch(batch);
  if (rc != PB_OK) return rc;
  if (batch->size > PB__COMMIT_MAX_BATCH) return PB_ETOOBIG;
  pthread_mutex_lock(&fs->commit_mu);
  rc = commit_locked(fs, batch, expected, new_root, lsn_out);
  /* A huge frame buffer is not kept for the next commit. */
  if (fs->frame_cap > (1u << 20)) {
    free(fs->frame);
    fs->frame = NULL;
    fs->frame_cap = 0;
  }
  pthread_mutex_unlock(&fs->commit_mu);
  return rc;
}

/* --- Flush and close --- */

static int flush_locked(pb__file_storage *fs) {
  if (fs->base.read_only) return PB_OK;
  if (fs->failed) /* SYNC: what was acknowledged was synced before */
    return fs->opts.durability == PB_DURABILITY_NONE ? PB_EIO : PB_OK;
  if (!fs->dirty) return PB_OK;
  pb__segment *seg = fs->segs[fs->n_segs - 1];
  int rc = pb__io_datasync(seg->file);
  if (rc != PB_OK) {
    fs->failed = true;
    return pb__fs_fail(fs, PB_EIO, true, "fdatasync %s", seg->path);
  }
  fs->dirty = false;
  return PB_OK;
}

static int fs_flush(pb_storage *st) {
  pb__file_storage *fs = fs_of(st);
  pthread_mutex_lock(&fs->commit_mu);
  int rc = flush_locked(fs);
  pthread_mutex_unlock(&fs->commit_mu);
  return rc;
}

/* Frees everything; also used when open fails half-way. */
static void fs_free(pb__file_storage *fs) {
  if (!fs->use_map) {
    size_t cursor = 0;
    const pb__batch_index_entry *e;
    while (pb__batch_index_next(&fs->index, &cursor, &e))
      free((void *)(uintptr_t)e->loc.data);
  }
  pb__batch_index_free(&fs->index);
  for (size_t i = 0; i < fs->n_segs; i++) pb__seg_free(fs, fs->segs[i]);
  free(fs->segs);
  if (fs->lock_file != NULL) {
    fs->io->unlock(fs->lock_file);
    pb__io_close(fs->lock_file);
  }
  free(fs->frame);
  free(fs->dir);
  pthread_mutex_destroy(&fs->msg_mu);
  pthread_rwlock_destroy(&fs->lock);
  pthread_mutex_destroy(&fs->commit_mu);
  free(fs);
}

static int fs_close(pb_storage *st) {
  pb__file_storage *fs = fs_of(st);
  pthread_mutex_lock(&fs->commit_mu);
  int rc = flush_locked(fs);
  pthread_mutex_unlock(&fs->commit_mu);
  fs_free(fs);
  return rc;
}

static const pb__storage_ops file_ops = {
    .name = "file",
    .read_atom = fs_read_atom,
    .commit = fs_commit,
    .read_root = fs_read_root,
    .flush = fs_flush,
    .close = fs_close,
    .errmsg = fs_errmsg,
};

/* --- Open --- */

/* Allocates the handle with its locks; NULL when out of memory. */
static pb__file_storage *fs_alloc(const char *dir, const pb_file_options *opts,
                                  const pb__io *io) {
  pb__file_storage *fs = calloc(1, sizeof *fs);
  if (fs == NULL) return NULL;
  fs->dir = strdup(dir);
  if (fs->dir == NULL) {
    free(fs);
    return NULL;
  }
  /* Default-attribute mutex/rwlock init does not fail on Linux/glibc. */
  pthread_mutex_init(&fs->commit_mu, NULL);
  pthread_rwlock_init(&fs->lock, NULL);
  pthread_mutex_init(&fs->msg_mu, NULL);
  fs->base.ops = &file_ops;
  fs->base.read_only = opts->read_only;
  fs->io = io;
  fs->opts = *opts;
  fs->use_map = io->map != NULL;
  pb__batch_index_init(&fs->index);
  return fs;
}

/* The parent directory of `dir` ("." when it has no slash), malloc'd. */
static char *parent_of(const char *dir) {
  size_t n = strlen(dir);
  while (n > 1 && dir[n - 1] == '/') n--; /* trailing slashes */
  while (n > 0 && dir[n - 1] != '/') n--; /* the last component */
  while (n > 1 && dir[n - 1] == '/') n--; /* slashes before it */
  if (n == 0) return strdup(".");
  char *p = malloc(n + 1);
  if (p != NULL) {
    memcpy(p, dir, n);
    p[n] = '\0';
  }
  return p;
}

/* Creates the directory when missing; fsyncs its parent when it did. */
static int make_dir(pb__file_storage *fs) {
  int rc = fs->io->mkdir(fs->io, fs->dir);
  if (rc == PB_EEXIST) return PB_OK;
  if (rc != PB_OK) return pb__fs_fail(fs, rc, true, "create the directory");
  char *parent = parent_of(fs->dir);
  if (parent == NULL) return PB_ENOMEM;
  rc = fs->io->sync_dir(fs->io, parent);
  if (rc != PB_OK) pb__fs_fail(fs, rc, true, "fsync %s", parent);
  free(parent);
  return rc;
}

/* Takes DIR/LOCK exclusively for the writer's lifetime. */
static int take_lock(pb__file_storage *fs) {
  size_t n = strlen(fs->dir) + sizeof "/LOCK";
  char *path = malloc(n);
  if (path == NULL) return PB_ENOMEM;
  snprintf(path, n, "%s/LOCK", fs->dir);
  int rc = fs->io->open(fs->io, path, PB__IO_WRITE | PB__IO_CREATE,
                        &fs->lock_file);
  if (rc != PB_OK) {
    pb__fs_fail(fs, rc, true, "open %s", path);
  } else {
    rc = fs->io->lock(fs->lock_file);
    if (rc == PB_ELOCKED)
      pb__fs_fail(fs, rc, false,
                  "%s is held: another writer (this process or another) has "
                  "the storage open; open it read_only, or close the other",
                  path);
    else if (rc != PB_OK)
      pb__fs_fail(fs, rc, true, "lock %s", path);
    if (rc != PB_OK) {
      pb__io_close(fs->lock_file);
      fs->lock_file = NULL;
    }
  }
  free(path);
  return rc;
}

int pb__file_storage_open(const char *dir, const pb_file_options *opts,
                          const pb__io *io, char *errbuf, size_t errbuf_size,
                          pb_storage **out) {
  if (errbuf != NULL && errbuf_size > 0) errbuf[0] = '\0';
  if (out == NULL || dir == NULL || dir[0] == '\0' || io == NULL)
    return PB_EINVAL;
  *out = NULL;
  pb_file_options defaults;
  pb_file_options_init(&defaults);
  if (opts == NULL) opts = &defaults;
  if (opts->segment_size == 0 || opts->durability > PB_DURABILITY_NONE)
    return PB_EINVAL;
  pb__file_storage *fs = fs_alloc(dir, opts, io);
  if (fs == NULL) return PB_ENOMEM;
  int rc = PB_OK;
  if (!opts->read_only) {
    rc = make_dir(fs);
    if (rc == PB_OK) rc = take_lock(fs);
  }
  if (rc == PB_OK) rc = pb__fs_recover(fs);
  if (rc != PB_OK) {
    int saved = errno;
    if (errbuf != NULL && errbuf_size > 0)
      snprintf(errbuf, errbuf_size, "%s", fs->msg);
    fs_free(fs);
    errno = saved;
    return rc;
  }
  *out = &fs->base;
  return PB_OK;
}

int pb_storage_open_file(const char *dir, const pb_file_options *opts,
                         pb_storage **out) {
  char msg[512] = "";
  int rc = pb__file_storage_open(dir, opts, pb__io_posix(), msg, sizeof msg,
                                 out);
  if (rc != PB_OK) pb__errdetail_set(msg);
  return rc;
}
