/*
 * storage/file_backup.c - pb_storage_backup: a consistent copy of a live
 * file storage.
 *
 * The cut.  Under commit_mu, the store is flushed (nothing appended stays
 * unpublished), so the segments' ends are exactly the state of the latest
 * published commit; the current generation is pinned (file_gen.c) so that
 * a compaction cannot delete its segments; and the segments' names, ids
 * and ends are noted.  commit_mu is then released: writers go on while
 * the copy is made, and they only ever append past the noted ends (a
 * rollover cuts only zeros past a segment's last frame, and a sealed
 * segment never changes).  So the bytes [0, end) of each noted segment
 * are the log of that commit, whatever happens meanwhile.
 *
 * The copy (flags 0).  The destination's MANIFEST is written first,
 * naming every segment with its exact size; then each segment is copied,
 * [0, end), through the I/O layer, and fdatasynced; then the directory is
 * fsynced.  A copy that stops half-way (a failure, a crash) therefore
 * never opens as an older state: its MANIFEST names segments that are
 * missing or short, which is PB_ECORRUPT.
 *
 * PB_BACKUP_COMPACT.  What the noted root reaches is written by
 * compaction's walk (pb__fs_compact_copy) as one segment that starts a
 * log, whose commit carries the source's LSN; its header is written last,
 * so a partial one is corrupt too.  Then its MANIFEST, then the directory.
 *
 * On failure, every file the backup created in the destination is
 * removed; the directory is left (empty).
 */
#include <assert.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "storage/file.h"
#include "util/errdetail.h"

/* Bytes copied at a time. */
#define COPY_CHUNK (1u << 20)

/* A noted segment of the source. */
typedef struct bk_seg {
  uint64_t seq;
  uint64_t id_hi, id_lo;
  uint64_t end;   /* bytes to copy */
  char *path;     /* the source file, owned */
} bk_seg;

/* Names created in the destination, to remove on failure. */
typedef struct bk_state {
  pb__file_storage *fs;
  const char *dir;
  char **made;    /* paths, owned */
  size_t n_made;
  size_t cap_made;
} bk_state;

static char *join(const char *dir, const char *name) {
  size_t n = strlen(dir) + 1 + strlen(name) + 1;
  char *p = malloc(n);
  if (p != NULL) snprintf(p, n, "%s/%s", dir, name);
  return p;
}

/* Records `path` (taking it) as created; frees it on failure. */
static int note_made(bk_state *b, char *path) {
  if (path == NULL) return PB_ENOMEM;
  if (b->n_made == b->cap_made) {
    size_t cap = b->cap_made ? b->cap_made * 2 : 8;
    char **v = realloc(b->made, cap * sizeof *v);
    if (v == NULL) {
      free(path);
      return PB_ENOMEM;
    }
    b->made = v;
    b->cap_made = cap;
  }
  b->made[b->n_made++] = path;
  return PB_OK;
}

static int count_entry(void *arg, const char *name) {
  (void)name;
  ++*(size_t *)arg;
  return 0;
}

/* Creates the destination, or checks that it is an empty directory. */
static int prepare_dir(pb__file_storage *fs, const char *dir) {
  const pb__io *io = fs->io;
  int rc = io->mkdir(io, dir);
  if (rc == PB_OK) {
    /* Its entry in the parent must survive a crash too. */
    char *slash = strrchr(dir, '/');
    char *parent = slash == NULL ? strdup(".")
                   : slash == dir ? strdup("/")
                                  : strndup(dir, (size_t)(slash - dir));
    if (parent == NULL) return PB_ENOMEM;
    rc = io->sync_dir(io, parent);
    if (rc != PB_OK) pb__fs_fail(fs, rc, true, "backup: fsync %s", parent);
    free(parent);
    return rc;
  }
  if (rc != PB_EEXIST)
    return pb__fs_fail(fs, rc, true, "backup: create %s", dir);
  size_t n = 0;
  rc = io->list_dir(io, dir, count_entry, &n);
  if (rc != PB_OK)
    return pb__fs_fail(fs, PB_EEXIST, true,
                       "backup: %s exists and is not a directory we can list",
                       dir);
  if (n > 0)
    return pb__fs_fail(fs, PB_EEXIST, false,
                       "backup: %s is not empty (%zu entries); give a new or "
                       "empty directory",
                       dir, n);
  return PB_OK;
}

/* Copies [0, s->end) of a source segment to a new file in the
 * destination, and fdatasyncs it. */
static int copy_segment(bk_state *b, const bk_seg *s, uint8_t *buf) {
  pb__file_storage *fs = b->fs;
  char name[25];
  pb__seg_name(s->seq, name);
  char *to = join(b->dir, name);
  if (to == NULL) return PB_ENOMEM;
  pb__file *in = NULL, *out = NULL;
  int rc = fs->io->open(fs->io, s->path, PB__IO_READ, &in);
  if (rc != PB_OK) {
    pb__fs_fail(fs, rc, true, "backup: open %s", s->path);
    free(to);
    return rc;
  }
  rc = fs->io->open(fs->io, to, PB__IO_WRITE | PB__IO_CREATE | PB__IO_EXCL,
                    &out);
  if (rc != PB_OK) {
    pb__fs_fail(fs, rc, true, "backup: create %s", to);
    pb__io_close(in);
    free(to);
    return rc;
  }
  const char *to_name = to;
  rc = note_made(b, to); /* takes `to` */
  for (uint64_t off = 0; rc == PB_OK && off < s->end;) {
    size_t n = s->end - off < COPY_CHUNK ? (size_t)(s->end - off) : COPY_CHUNK;
    rc = pb__io_pread_full(in, buf, n, off);
    if (rc != PB_OK) {
      rc = pb__fs_fail(fs, rc == PB_ECORRUPT ? PB_EIO : rc, true,
                       "backup: read %s at %" PRIu64, s->path, off);
      break;
    }
    rc = pb__io_pwrite(out, buf, n, off);
    if (rc != PB_OK) {
      pb__fs_fail(fs, rc, true, "backup: write %s at %" PRIu64, to_name, off);
      break;
    }
    off += n;
  }
  if (rc == PB_OK) {
    rc = pb__io_datasync(out);
    if (rc != PB_OK) pb__fs_fail(fs, rc, true, "backup: fdatasync %s", to_name);
  }
  pb__io_close(in);
  int crc = pb__io_close(out);
  if (rc == PB_OK && crc != PB_OK)
    rc = pb__fs_fail(fs, crc, true, "backup: close %s", to_name);
  return rc;
}

/* Removes what a failed backup created (best effort). */
static void undo(bk_state *b) {
  const pb__io *io = b->fs->io;
  /* The destination was empty: its MANIFEST is ours, whether noted or
   * not (a rename that failed may still have happened). */
  char *tmp = join(b->dir, PB__MANIFEST_NAME ".tmp");
  if (tmp != NULL) io->unlink(io, tmp);
  free(tmp);
  char *man = join(b->dir, PB__MANIFEST_NAME);
  if (man != NULL) io->unlink(io, man);
  free(man);
  for (size_t i = b->n_made; i-- > 0;) io->unlink(io, b->made[i]);
  io->sync_dir(io, b->dir);
}

int pb__fs_backup(pb_storage *st, const char *dir, unsigned flags) {
  pb__file_storage *fs = (pb__file_storage *)st;
  bk_state b = {.fs = fs, .dir = dir};
  bk_seg *segs = NULL;
  size_t n = 0;
  uint8_t *buf = NULL;
  pb__manifest man = {0};
  pb_atom_ptr root;
  uint64_t lsn = 0, token = 0;
  bool pinned = false;
  int rc = prepare_dir(fs, dir);
  if (rc != PB_OK) {
    char msg[PB__FILE_MSG_SIZE];
    fs->base.ops->errmsg(&fs->base, msg, sizeof msg);
    pb__errdetail_set(msg);
    return rc;
  }

  /* The cut, under commit_mu. */
  pb__fs_commit_lock(fs);
  if (fs->failed) {
    rc = pb__fs_fail(fs, PB_EFAILED, false,
                     "backup: an earlier write or sync failed; reopen the "
                     "storage");
  } else if (!fs->base.read_only) {
    rc = pb__fs_flush_locked(fs);
  }
  if (rc == PB_OK) {
    assert(fs->n_pend == 0 && fs->n_segs > 0);
    segs = calloc(fs->n_segs, sizeof *segs);
    if (segs == NULL) rc = PB_ENOMEM;
  }
  for (size_t i = 0; rc == PB_OK && i < fs->n_segs; i++) {
    const pb__segment *seg = fs->segs[i];
    segs[i] = (bk_seg){.seq = seg->seq, .id_hi = seg->id_hi,
                       .id_lo = seg->id_lo, .end = seg->end,
                       .path = strdup(seg->path)};
    n = i + 1;
    if (segs[i].path == NULL) rc = PB_ENOMEM;
  }
  if (rc == PB_OK) {
    root = fs->root;
    lsn = fs->lsn;
    pb__fs_pin(fs, &token); /* no switch can come: we hold commit_mu */
    pinned = true;
  }
  pb__fs_commit_unlock(fs);

  if (rc == PB_OK && (flags & PB_BACKUP_COMPACT) && lsn > 0) {
    /* One segment that starts a log, numbered after the source's last. */
    uint64_t seq = segs[n - 1].seq + 1;
    pb__manifest_seg one;
    char name[25];
    pb__seg_name(seq, name);
    char *path = join(dir, name);
    rc = path == NULL ? PB_ENOMEM : PB_OK;
    if (rc == PB_OK)
      rc = pb__fs_compact_copy(fs, path, root, lsn, seq, &one.id_hi,
                               &one.id_lo, &one.size);
    if (rc == PB_OK) {
      rc = note_made(&b, path);
      path = NULL;
    }
    free(path);
    man = (pb__manifest){.first = seq, .n = 1, .seg = &one};
    bool renamed;
    if (rc == PB_OK) rc = pb__manifest_write(fs, dir, &man, &renamed);
    man.seg = NULL;
  } else if (rc == PB_OK) {
    /* MANIFEST first: a copy that stops half-way is visibly incomplete. */
    man.first = segs[0].seq;
    man.n = n;
    man.seg = malloc(n * sizeof *man.seg);
    buf = malloc(COPY_CHUNK);
    if (man.seg == NULL || buf == NULL) rc = PB_ENOMEM;
    for (size_t i = 0; rc == PB_OK && i < n; i++)
      man.seg[i] = (pb__manifest_seg){
          .id_hi = segs[i].id_hi, .id_lo = segs[i].id_lo, .size = segs[i].end};
    bool renamed;
    if (rc == PB_OK) rc = pb__manifest_write(fs, dir, &man, &renamed);
    for (size_t i = 0; rc == PB_OK && i < n; i++)
      rc = copy_segment(&b, &segs[i], buf);
    if (rc == PB_OK) {
      rc = fs->io->sync_dir(fs->io, dir);
      if (rc != PB_OK) pb__fs_fail(fs, rc, true, "backup: fsync %s", dir);
    }
    pb__manifest_free(&man);
  }

  if (pinned) pb__fs_unpin(fs, token);
  if (rc != PB_OK) {
    int saved = errno;
    undo(&b);
    errno = saved;
    char msg[PB__FILE_MSG_SIZE];
    fs->base.ops->errmsg(&fs->base, msg, sizeof msg);
    pb__errdetail_set(msg);
  }
  for (size_t i = 0; i < n; i++) free(segs[i].path);
  free(segs);
  free(buf);
  for (size_t i = 0; i < b.n_made; i++) free(b.made[i]);
  free(b.made);
  return rc;
}
