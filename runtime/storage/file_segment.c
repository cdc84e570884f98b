/*
 * storage/file_segment.c - WAL segment files of the file tier: names,
 * creation (header, fdatasync, directory fsync), and read-only mappings.
 *
 * A segment is created in three durable steps so that a crash leaves either
 * no file, an empty or torn file that recovery recognizes and removes
 * (file_recover.c), or a complete header: create with O_EXCL, write the
 * 64-byte header and fdatasync it, then fsync the directory so the entry
 * itself survives a power cut.
 */
#include <assert.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "storage/file.h"
#include "storage/file_format.h"
#include "util/random.h"

void pb__seg_name(uint64_t seq, char name[25]) {
  snprintf(name, 25, "seg-%016" PRIx64 ".wal", seq);
}

static bool is_lower_hex(char c) {
  return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
}

bool pb__seg_parse_name(const char *name, uint64_t *seq) {
  if (strlen(name) != 24 || strncmp(name, "seg-", 4) != 0 ||
      strcmp(name + 20, ".wal") != 0)
    return false;
  uint64_t v = 0;
  for (int i = 4; i < 20; i++) {
    char c = name[i];
    if (!is_lower_hex(c)) return false;
    v = v << 4 | (uint64_t)(c <= '9' ? c - '0' : c - 'a' + 10);
  }
  *seq = v;
  return true;
}

pb__segment *pb__seg_alloc(const pb__file_storage *fs, uint64_t seq) {
  pb__segment *seg = calloc(1, sizeof *seg);
  if (seg == NULL) return NULL;
  char name[25];
  pb__seg_name(seq, name);
  size_t n = strlen(fs->dir) + 1 + strlen(name) + 1;
  seg->path = malloc(n);
  if (seg->path == NULL) {
    free(seg);
    return NULL;
  }
  snprintf(seg->path, n, "%s/%s", fs->dir, name);
  seg->seq = seq;
  return seg;
}

void pb__seg_free(const pb__file_storage *fs, pb__segment *seg) {
  if (seg == NULL) return;
  if (seg->file != NULL) pb__io_close(seg->file);
  if (seg->map != NULL) fs->io->unmap(fs->io, seg->map, seg->map_len);
  for (size_t i = 0; i < seg->n_retired; i++)
    fs->io->unmap(fs->io, seg->retired[i].addr, seg->retired[i].len);
  free(seg->retired);
  free(seg->path);
  free(seg);
}

int pb__seg_reserve(pb__file_storage *fs) {
  if (fs->n_segs < fs->cap_segs) return PB_OK;
  size_t cap = fs->cap_segs ? fs->cap_segs * 2 : 8;
  pb__segment **segs = realloc(fs->segs, cap * sizeof *segs);
  if (segs == NULL) return PB_ENOMEM;
  fs->segs = segs;
  fs->cap_segs = cap;
  return PB_OK;
}

void pb__seg_push(pb__file_storage *fs, pb__segment *seg) {
  assert(fs->n_segs < fs->cap_segs);
  assert(fs->n_segs == 0 || fs->segs[fs->n_segs - 1]->seq + 1 == seg->seq);
  fs->segs[fs->n_segs++] = seg;
}

/* Writes and syncs the header of a freshly created, open segment. */
static int write_header(pb__file_storage *fs, pb__segment *seg,
                        const pb__segment *prev) {
  pb__seg_header h = {.version = PB__WAL_VERSION, .seq = seg->seq};
  int rc = pb__random_id(&h.id_hi, &h.id_lo);
  if (rc != PB_OK)
    return pb__fs_fail(fs, rc, false, "no randomness for a segment id");
  if (prev != NULL) {
    h.prev_hi = prev->id_hi;
    h.prev_lo = prev->id_lo;
  }
  uint8_t buf[PB__WAL_HEADER_SIZE];
  pb__seg_header_encode(&h, buf);
  rc = pb__io_pwrite(seg->file, buf, sizeof buf, 0);
  if (rc != PB_OK)
    return pb__fs_fail(fs, rc, true, "write header of %s", seg->path);
  rc = pb__io_datasync(seg->file);
  if (rc != PB_OK)
    return pb__fs_fail(fs, rc, true, "fdatasync %s", seg->path);
  seg->id_hi = h.id_hi;
  seg->id_lo = h.id_lo;
  seg->end = PB__WAL_HEADER_SIZE;
  return PB_OK;
}

int pb__seg_create(pb__file_storage *fs, uint64_t seq,
                   const pb__segment *prev, pb__segment **out) {
  assert(!fs->base.read_only);
  assert(prev == NULL ? seq == 1 : prev->seq + 1 == seq);
  pb__segment *seg = pb__seg_alloc(fs, seq);
  if (seg == NULL) return PB_ENOMEM;
  int rc = fs->io->open(fs->io, seg->path,
                        PB__IO_WRITE | PB__IO_CREATE | PB__IO_EXCL,
                        &seg->file);
  if (rc != PB_OK) {
    rc = pb__fs_fail(fs, rc == PB_EEXIST ? PB_EIO : rc, true, "create %s",
                     seg->path);
    pb__seg_free(fs, seg);
    return rc;
  }
  rc = write_header(fs, seg, prev);
  if (rc == PB_OK) {
    rc = fs->io->sync_dir(fs->io, fs->dir);
    if (rc != PB_OK) pb__fs_fail(fs, rc, true, "fsync directory");
  }
  if (rc != PB_OK) {
    /* Best effort: recovery would also remove a header-only last segment,
     * but a complete one would stay; leave no file behind. */
    fs->io->unlink(fs->io, seg->path);
    pb__seg_free(fs, seg);
    return rc;
  }
  *out = seg;
  return PB_OK;
}

/* --- Preallocation, written with zeros (file.h) --- */

/* Zeros for the zero-fill, written by pwritev in pieces of this size. */
#define ZERO_PIECE (64u << 10)
static const uint8_t zeros[ZERO_PIECE];

/* Writes zeros over [from, to): at most PB__IO_IOV_MAX pieces per call. */
static int write_zeros(pb__segment *seg, uint64_t from, uint64_t to) {
  while (from < to) {
    pb__iovec iov[PB__IO_IOV_MAX];
    int n = 0;
    uint64_t at = from;
    while (at < to && n < PB__IO_IOV_MAX) {
      uint64_t k = to - at < ZERO_PIECE ? to - at : ZERO_PIECE;
      iov[n++] = (pb__iovec){zeros, (size_t)k};
      at += k;
    }
    int rc = pb__io_pwritev(seg->file, iov, n, from);
    if (rc != PB_OK) return rc;
    from = at;
  }
  return PB_OK;
}

void pb__seg_make_room(pb__file_storage *fs, pb__segment *seg,
                       uint64_t frame_size) {
  uint64_t need = seg->end + frame_size;
  /* A large frame (a bulk load) is written where it lands by its own
   * pwritev, which grows the file: zeros written first would double its
   * bytes, and its fdatasync writes mostly new blocks anyway.  After it no
   * zeros follow (end passes alloc), and the next small frame refills. */
  if (frame_size > PB__FILE_ZERO_AHEAD) return;
  /* Refill once less than PB__FILE_ZERO_AHEAD of written room would be
   * left after this frame (none past segment_size: a rollover comes). */
  uint64_t ahead = need + PB__FILE_ZERO_AHEAD;
  if (ahead > fs->opts.segment_size) ahead = fs->opts.segment_size;
  if (ahead < need) ahead = need;
  if (ahead <= seg->alloc) return;
  uint64_t from = seg->alloc > seg->end ? seg->alloc : seg->end;
  uint64_t want = from + PB__FILE_PREALLOC;
  if (want > fs->opts.segment_size) want = fs->opts.segment_size;
  if (want < need) want = need;
  /* Reserve the blocks first (a full disk fails here, not later), then
   * write them, so that no commit's fdatasync converts unwritten extents. */
  if (!fs->no_prealloc) {
    int rc = pb__io_allocate(seg->file, want);
    if (rc == PB_ENOTSUP) fs->no_prealloc = true;
  }
  /* Whatever happened, the file may now reach `want` (an allocation, or a
   * zero write that landed in part), and only zeros lie past `end`: record
   * it, so that a rollover or close cuts them.  A failed zero write is
   * left to the frame's own pwrite, which reports what it must. */
  (void)write_zeros(seg, from, want);
  seg->alloc = want;
}

int pb__seg_trim(pb__segment *seg) {
  if (seg->alloc <= seg->end) return PB_OK;
  int rc = pb__io_truncate(seg->file, seg->end);
  if (rc == PB_OK) rc = pb__io_sync(seg->file);
  if (rc != PB_OK) return rc;
  seg->alloc = 0;
  return PB_OK;
}

/* Length to map so that [0, need) is covered; the active segment gets room
 * to grow to its rollover size (capped by PB__FILE_MAP_RESERVE). */
static uint64_t map_length(const pb__file_storage *fs, uint64_t need,
                           bool active) {
  if (!active) return need;
  uint64_t room = fs->opts.segment_size;
  if (room > PB__FILE_MAP_RESERVE) room = PB__FILE_MAP_RESERVE;
  return need > room ? need : room;
}

int pb__seg_prepare_map(pb__file_storage *fs, pb__segment *seg, uint64_t need,
                        bool active, const void **new_map, size_t *new_len) {
  *new_map = NULL;
  *new_len = 0;
  if (!fs->use_map || need <= seg->map_len) return PB_OK;
  assert(seg->file != NULL);
  uint64_t len = map_length(fs, need, active);
  if (len > SIZE_MAX) return pb__fs_fail(fs, PB_ENOMEM, false,
                                         "%s too large to map", seg->path);
  if (seg->map != NULL && seg->n_retired == seg->cap_retired) {
    size_t cap = seg->cap_retired ? seg->cap_retired * 2 : 2;
    pb__retired_map *r = realloc(seg->retired, cap * sizeof *r);
    if (r == NULL) return PB_ENOMEM;
    seg->retired = r;
    seg->cap_retired = cap;
  }
  int rc = seg->file->io->map(seg->file, (size_t)len, new_map);
  if (rc != PB_OK)
    return pb__fs_fail(fs, rc, true, "mmap %s (%" PRIu64 " bytes)",
                       seg->path, len);
  *new_len = (size_t)len;
  return PB_OK;
}

void pb__seg_install_map(pb__segment *seg, const void *map, size_t len) {
  if (map == NULL) return;
  assert(len > seg->map_len);
  if (seg->map != NULL) {
    assert(seg->n_retired < seg->cap_retired); /* prepare made room */
    seg->retired[seg->n_retired++] =
        (pb__retired_map){.addr = seg->map, .len = seg->map_len};
  }
  seg->map = map;
  seg->map_len = len;
}

void pb__seg_drop_map(pb__file_storage *fs, const void *map, size_t len) {
  if (map != NULL) fs->io->unmap(fs->io, map, len);
}
