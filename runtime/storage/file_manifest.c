/*
 * storage/file_manifest.c - DIR/MANIFEST: which segments the store expects.
 *
 * Without it, deleting the newest segment file (or putting back an older
 * copy of it) leaves a log whose segments still chain, and an open would
 * silently roll back to the commits that are left.  So the store records
 * durably which segments make its log, and an open (read-only or
 * writable) checks that they are all there and whole before it changes
 * anything (file_recover.c).
 *
 * Layout (little-endian, docs/storage.md section 4):
 *     0   8  magic "PBMAN\r\n\x1a"
 *     8   4  format version (1)
 *    12   4  n, the number of segments (>= 1)
 *    16   8  sequence number of the first segment; the others follow it
 *    24  24n per segment: id (hi, lo), then its size in bytes.  For every
 *            segment but the last, the size is exact (a sealed segment
 *            never changes); for the last one it is a lower bound (the
 *            writer appends to it)
 *   24+24n 8 XXH3-64 of every byte before it
 *
 * It only ever describes what is already durable: a rollover writes it
 * after the new segment's header and directory entry are synced, and the
 * sealed segment was cut and synced before that; a compaction writes it
 * after its output is renamed into place; close after its last sync.  So
 * a power cut never leaves a MANIFEST that names more than the disk
 * holds, and recovery can treat every shortfall as damage.  It is
 * replaced atomically: MANIFEST.tmp is written and fsynced, renamed over
 * MANIFEST, and the directory is fsynced.  Commits never touch it, so a
 * SYNC commit still costs exactly one fdatasync.
 */
#include <assert.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

#include "storage/file.h"
#include "util/endian.h"
#include "util/errdetail.h"

#define MAN_MAGIC "PBMAN\r\n\x1a"
#define MAN_VERSION 1u
#define MAN_FIXED 24u
#define MAN_ENTRY 24u
/* More segments than any store holds (64 MiB each: 2^24 of them is 1 PiB):
 * a larger count is damage, not a store. */
#define MAN_MAX_SEGS (1u << 24)

void pb__manifest_free(pb__manifest *m) {
  free(m->seg);
  m->seg = NULL;
  m->n = 0;
}

/* "<dir>/<name>", malloc'd; NULL when out of memory. */
static char *join(const char *dir, const char *name) {
  size_t n = strlen(dir) + 1 + strlen(name) + 1;
  char *p = malloc(n);
  if (p != NULL) snprintf(p, n, "%s/%s", dir, name);
  return p;
}

int pb__fs_manifest_read(pb__file_storage *fs, pb__manifest *m) {
  memset(m, 0, sizeof *m);
  char *path = join(fs->dir, PB__MANIFEST_NAME);
  if (path == NULL) return PB_ENOMEM;
  pb__file *f = NULL;
  uint8_t *buf = NULL;
  int rc = fs->io->open(fs->io, path, PB__IO_READ, &f);
  if (rc == PB_ENOTFOUND) { /* a store from before the manifest */
    free(path);
    return PB_ENOTFOUND;
  }
  uint64_t size = 0;
  if (rc == PB_OK) rc = pb__io_size(f, &size);
  if (rc != PB_OK) {
    rc = pb__fs_fail(fs, rc, true, "read %s", path);
    goto out;
  }
  if (size < MAN_FIXED + MAN_ENTRY + 8 ||
      size > MAN_FIXED + (uint64_t)MAN_MAX_SEGS * MAN_ENTRY + 8) {
    rc = pb__fs_fail(fs, PB__CORRUPT("manifest size"), false,
                     "%s: %" PRIu64 " bytes is not the size of a manifest",
                     path, size);
    goto out;
  }
  buf = malloc((size_t)size);
  if (buf == NULL) {
    rc = PB_ENOMEM;
    goto out;
  }
  rc = pb__io_pread_full(f, buf, (size_t)size, 0);
  if (rc != PB_OK) {
    /* It shrank under us: replaced by a writer; the caller scans again. */
    rc = pb__fs_fail(fs, rc == PB_ECORRUPT ? PB_EIO : rc, true, "read %s",
                     path);
    goto out;
  }
  const char *why = NULL;
  uint32_t n = pb__load_le32(buf + 12);
  if (memcmp(buf, MAN_MAGIC, 8) != 0)
    why = "bad magic (not a ProtoBase manifest)";
  else if (pb__load_le32(buf + 8) != MAN_VERSION)
    why = "unknown manifest version";
  else if (n == 0 || (uint64_t)MAN_FIXED + (uint64_t)n * MAN_ENTRY + 8 != size)
    why = "segment count does not match the file's size";
  else if (pb__load_le64(buf + size - 8) !=
           XXH3_64bits(buf, (size_t)size - 8))
    why = "checksum mismatch";
  else if (pb__load_le64(buf + 16) == 0 ||
           pb__load_le64(buf + 16) > UINT64_MAX - n)
    why = "bad first sequence number";
  if (why != NULL) {
    rc = pb__fs_fail(fs, PB__CORRUPT("%s", why), false, "%s: %s", path, why);
    goto out;
  }
  m->seg = malloc(n * sizeof *m->seg);
  if (m->seg == NULL) {
    rc = PB_ENOMEM;
    goto out;
  }
  m->n = n;
  m->first = pb__load_le64(buf + 16);
  for (uint32_t i = 0; i < n; i++) {
    const uint8_t *e = buf + MAN_FIXED + (size_t)i * MAN_ENTRY;
    m->seg[i].id_hi = pb__load_le64(e);
    m->seg[i].id_lo = pb__load_le64(e + 8);
    m->seg[i].size = pb__load_le64(e + 16);
  }
out:
  if (f != NULL) pb__io_close(f);
  free(buf);
  free(path);
  return rc;
}

int pb__manifest_prepare(pb__file_storage *fs, const char *dir,
                         const pb__manifest *m) {
  assert(m->n >= 1 && m->n <= MAN_MAX_SEGS && m->first >= 1);
  size_t size = MAN_FIXED + m->n * MAN_ENTRY + 8;
  uint8_t *buf = malloc(size);
  char *tmp = join(dir, PB__MANIFEST_NAME ".tmp");
  int rc = PB_ENOMEM;
  pb__file *f = NULL;
  if (buf == NULL || tmp == NULL) goto out;
  memcpy(buf, MAN_MAGIC, 8);
  pb__store_le32(buf + 8, MAN_VERSION);
  pb__store_le32(buf + 12, (uint32_t)m->n);
  pb__store_le64(buf + 16, m->first);
  for (size_t i = 0; i < m->n; i++) {
    uint8_t *e = buf + MAN_FIXED + i * MAN_ENTRY;
    pb__store_le64(e, m->seg[i].id_hi);
    pb__store_le64(e + 8, m->seg[i].id_lo);
    pb__store_le64(e + 16, m->seg[i].size);
  }
  pb__store_le64(buf + size - 8, XXH3_64bits(buf, size - 8));
  rc = fs->io->open(fs->io, tmp, PB__IO_WRITE | PB__IO_CREATE, &f);
  if (rc == PB_OK) rc = pb__io_truncate(f, 0);
  if (rc == PB_OK) rc = pb__io_pwrite(f, buf, size, 0);
  if (rc == PB_OK) rc = pb__io_sync(f);
  if (f != NULL) pb__io_close(f);
  if (rc != PB_OK) {
    pb__fs_fail(fs, rc, true, "write %s", tmp);
    int saved = errno;
    fs->io->unlink(fs->io, tmp); /* best effort; a writable open removes it */
    errno = saved;
  }
out:
  free(buf);
  free(tmp);
  return rc;
}

int pb__manifest_install(pb__file_storage *fs, const char *dir) {
  char *tmp = join(dir, PB__MANIFEST_NAME ".tmp");
  char *path = join(dir, PB__MANIFEST_NAME);
  int rc = PB_ENOMEM;
  if (tmp != NULL && path != NULL) {
    rc = fs->io->rename(fs->io, tmp, path);
    if (rc != PB_OK) {
      pb__fs_fail(fs, rc, true, "rename %s to %s", tmp, path);
    } else {
      rc = fs->io->sync_dir(fs->io, dir);
      if (rc != PB_OK)
        pb__fs_fail(fs, rc, true, "fsync %s after renaming %s", dir, path);
    }
  }
  free(tmp);
  free(path);
  return rc;
}

int pb__manifest_write(pb__file_storage *fs, const char *dir,
                       const pb__manifest *m, bool *renamed) {
  *renamed = false;
  int rc = pb__manifest_prepare(fs, dir, m);
  if (rc != PB_OK) return rc;
  *renamed = true; /* from here, either MANIFEST may be the one on disk */
  return pb__manifest_install(fs, dir);
}

int pb__fs_manifest_of(const pb__file_storage *fs, pb__segment *const *segs,
                       size_t n, pb__manifest *m) {
  assert(n >= 1);
  (void)fs;
  m->seg = malloc(n * sizeof *m->seg);
  if (m->seg == NULL) return PB_ENOMEM;
  m->n = n;
  m->first = segs[0]->seq;
  for (size_t i = 0; i < n; i++) {
    assert(segs[i]->seq == m->first + i);
    m->seg[i].id_hi = segs[i]->id_hi;
    m->seg[i].id_lo = segs[i]->id_lo;
    m->seg[i].size = segs[i]->end;
  }
  return PB_OK;
}

int pb__fs_manifest_update(pb__file_storage *fs, pb__segment *const *segs,
                           size_t n, bool *renamed) {
  pb__manifest m;
  *renamed = false;
  int rc = pb__fs_manifest_of(fs, segs, n, &m);
  if (rc != PB_OK) return rc;
  rc = pb__manifest_write(fs, fs->dir, &m, renamed);
  if (rc == PB_OK) {
    fs->man_valid = true;
    fs->man_last_seq = segs[n - 1]->seq;
    fs->man_last_size = segs[n - 1]->end;
  }
  pb__manifest_free(&m);
  return rc;
}

bool pb__fs_manifest_current(const pb__file_storage *fs) {
  const pb__segment *last = fs->segs[fs->n_segs - 1];
  return fs->man_valid && fs->man_last_seq == last->seq &&
         fs->man_last_size == last->end;
}
