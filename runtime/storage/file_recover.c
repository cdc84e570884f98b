/*
 * storage/file_recover.c - the scan that runs when a file storage opens.
 *
 * It lists the segments and finds where the log starts: the newest segment
 * whose header names no predecessor (sequence number 1, or the output of a
 * compaction, file_compact.c).  From there, sequence numbers must run
 * without a gap and each header must name its predecessor's id.  Older
 * segments are what a compaction replaced and did not get to delete: a
 * writable open deletes them (and a leftover compact.tmp), a read-only
 * open ignores them.  Then it reads every frame of the log in order.  Each frame must have a valid header and
 * checksum (structure), and each commit record must be well-formed, carry
 * the next LSN, name the previous commit's root as its previous root, and
 * publish a root that exists (semantics).  The log's first commit may
 * have any LSN and previous root when the log starts after a compaction,
 * whose output holds BATCH frames (the copied atoms) before that commit;
 * BATCH frames anywhere else are corrupt.  The result is the batch index,
 * the root and the LSN of the last valid commit.
 *
 * What may be cut (SPEC 5): only in the LAST segment, only a structurally
 * bad tail after which no valid frame follows.  "Follows" is checked by
 * trying every 8-byte aligned position after the bad spot for a frame
 * header whose checksum matches, so a damaged length field cannot hide the
 * valid frames behind it.  Anything else - damage in a sealed segment, a
 * bad frame followed by a valid one, a checksum-valid frame whose content
 * is wrong - is PB_ECORRUPT with the file and offset in the message, and
 * the files are left untouched.  A read-only open never modifies anything;
 * it just ignores a torn tail.
 *
 * A last segment whose header is torn (file no longer than a header, header
 * invalid) is a segment whose creation was cut by a crash: it holds no
 * frame, so a writable open removes it, and a read-only open ignores it.
 *
 * MANIFEST (file_manifest.c), read before the listing, names the segments
 * the log must have: each one it names (but those before a compaction's
 * output, which the compaction replaced) must be listed, carry the id it
 * records, and hold exactly the bytes recorded (sealed) or at least them
 * (the last one).  Each segment is checked as soon as it is scanned, so
 * the error names the one at fault.  Deleting the newest segment, putting
 * back an older copy of it, or cutting a sealed one is thus PB_ECORRUPT,
 * never a silent rollback.  A store without MANIFEST (written before it
 * existed) skips these checks; its first writable open writes one.
 *
 * A writable open changes the files only once every check has passed
 * (apply_changes): the torn tail is cut, a torn last segment removed,
 * MANIFEST written when the log differs from it, and what a compaction
 * replaced deleted.  So every error leaves every file as it was.  What
 * was cut is kept for pb_storage_recovery_info (fs->rinfo).
 *
 * A read-only open takes no lock, so a writer in another process may be at
 * work while it scans (docs/storage.md, section 8).  What the writer does
 * to the files is, in each case, a state that a crash could leave too, or
 * a step from one such state to the next: a frame being appended (its
 * bytes land over some microseconds), preallocated zeros after the last
 * frame, a new last segment with no header yet, the zeros cut off at a
 * rollover or close (the file shrinks, never below its last frame), a
 * failed append cut back, a compaction's output renamed into place and the
 * segments it replaced deleted.  So the scan reads each such state as the
 * crash state it is (an incomplete tail: not there yet), and a read-only
 * open tells a step it saw half-way from damage by looking again:
 *   - a read that comes up short (the last segment shrank since its size
 *     was taken): the size is taken again and the frame read again;
 *   - a bad frame in the last segment followed by a valid one: a frame
 *     being appended is complete once the writer has begun the next one,
 *     so the bad frame is read again (a few times, then it is damage:
 *     PB_ECORRUPT as for any open);
 *   - a listed segment that is gone, or a sealed one that shrank: the scan
 *     starts over from a new listing (RECOVER_AGAIN);
 *   - any other failure, or no segment at all: the scan starts over if
 *     the directory's listing changed meanwhile, else the answer stands.
 * A writable open holds the lock, so nothing changes under it, and none of
 * this applies: its scan reports exactly what it reads, once.
 *
 * A salvage open (opts.salvage, read-only; recover_salvage at the end of
 * this file) runs the same scan, but where any other open fails on damage
 * it records the damage (file_salvage.h) and stops the commit chain there:
 * the commits before it verified, and the last one's root is served.
 *
 * Open is single-threaded, so nothing here takes the tier's locks.
 */
#include <assert.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "storage/file.h"
#include "storage/file_format.h"
#include "storage/file_salvage.h"
#include "storage/tier.h"
#include "util/errdetail.h"

/* Bytes read at a time by the forward scan and the candidate hasher. */
#define SCAN_CHUNK (64u * 1024u)

_Static_assert(SIZE_MAX >= UINT32_MAX, "a frame payload must fit in memory");

/* Internal results, positive so that they never collide with a pb_error:
 * a structurally bad frame (torn or damaged); a read that came up short
 * (the file shrank since its size was taken); a bad frame that a read-only
 * open reads again (it may be a frame being appended); and a read-only
 * scan that must start over from a new listing (a file changed under it). */
#define FRAME_BAD 1
#define FRAME_SHORT 2
#define FRAME_AGAIN 3
#define RECOVER_AGAIN 4
/* A salvage open: the chain broke in this segment (damage recorded). */
#define SALVAGE_STOP 5

/* A read-only open: how many times the frame at one position is read again
 * before a bad frame followed by a valid one is damage, and how many times
 * the whole scan may start over. */
#define REREAD_TRIES 8
#define RECOVER_TRIES 100

/* --- Listing --- */

/* Sequence numbers of the segment files found in the directory. */
typedef struct seq_list {
  uint64_t *v; /* sequence numbers, owned */
  size_t n;    /* used entries */
  size_t cap;  /* allocated entries */
} seq_list;

static int collect_seq(void *arg, const char *name) {
  seq_list *l = arg;
  uint64_t seq;
  if (!pb__seg_parse_name(name, &seq)) return 0; /* LOCK, foreign files */
  if (l->n == l->cap) {
    size_t cap = l->cap ? l->cap * 2 : 16;
    uint64_t *v = realloc(l->v, cap * sizeof *v);
    if (v == NULL) return PB_ENOMEM;
    l->v = v;
    l->cap = cap;
  }
  l->v[l->n++] = seq;
  return 0;
}

static int cmp_u64(const void *a, const void *b) {
  uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
  return (x > y) - (x < y);
}

/* Reads the header of segment `seq` (not validated beyond decoding).
 * Returns PB_OK, FRAME_BAD when it cannot be decoded, or an I/O error. */
static int peek_header(pb__file_storage *fs, uint64_t seq, pb__seg_header *h) {
  pb__segment *seg = pb__seg_alloc(fs, seq);
  if (seg == NULL) return PB_ENOMEM;
  int rc = fs->io->open(fs->io, seg->path, PB__IO_READ, &seg->file);
  uint8_t buf[PB__WAL_HEADER_SIZE];
  size_t got = 0;
  if (rc == PB_OK) rc = pb__io_pread(seg->file, buf, sizeof buf, 0, &got);
  if (rc != PB_OK) {
    pb__fs_fail(fs, rc, true, "read %s", seg->path);
    /* Listed, then deleted: a compaction beside this read-only open. */
    if (rc == PB_ENOTFOUND && fs->base.read_only) rc = RECOVER_AGAIN;
  } else {
    const char *why;
    if (pb__seg_header_decode(buf, got, h, &why) != PB_OK) rc = FRAME_BAD;
  }
  pb__seg_free(fs, seg);
  return rc;
}

/* Lists segment sequence numbers, sorted; *start is the index of the
 * segment the log starts at, and the ones from there on must be
 * contiguous.  An undecodable header is left for load_segment to judge. */
static int list_segments(pb__file_storage *fs, seq_list *l, size_t *start,
                         bool *found_start) {
  int rc = fs->io->list_dir(fs->io, fs->dir, collect_seq, l);
  if (rc != PB_OK)
    return pb__fs_fail(fs, rc, rc != PB_ENOMEM, "list directory");
  if (l->n > 1) qsort(l->v, l->n, sizeof *l->v, cmp_u64);
  *start = 0;
  *found_start = false;
  for (size_t i = l->n; i-- > 0;) {
    pb__seg_header h;
    rc = peek_header(fs, l->v[i], &h);
    if (rc == FRAME_BAD) continue;
    if (rc != PB_OK) return rc;
    if ((h.prev_hi | h.prev_lo) == 0) {
      *start = i;
      *found_start = true;
      break;
    }
  }
  for (size_t i = *start; i < l->n; i++) {
    uint64_t want = l->v[*start] + (i - *start);
    if (l->v[i] != want) {
      char name[25];
      pb__seg_name(want, name);
      return pb__fs_fail(fs, PB__CORRUPT("segment missing"), false,
                         "%s is missing (the log's segments must be "
                         "numbered without gaps)",
                         name);
    }
  }
  return PB_OK;
}

/* Writable opens: deletes the segments before the log's start, which a
 * compaction replaced, and a compaction output that never switched. */
static int remove_obsolete(pb__file_storage *fs, const seq_list *l,
                           size_t start) {
  size_t n = strlen(fs->dir) + sizeof "/compact.tmp" + 25;
  char *path = malloc(n);
  if (path == NULL) return PB_ENOMEM;
  snprintf(path, n, "%s/compact.tmp", fs->dir);
  int rc = fs->io->unlink(fs->io, path);
  bool changed = rc == PB_OK;
  rc = rc == PB_ENOTFOUND ? PB_OK : rc;
  if (rc == PB_OK) { /* a manifest whose rename never came */
    snprintf(path, n, "%s/" PB__MANIFEST_NAME ".tmp", fs->dir);
    rc = fs->io->unlink(fs->io, path);
    changed |= rc == PB_OK;
    rc = rc == PB_ENOTFOUND ? PB_OK : rc;
  }
  for (size_t i = 0; rc == PB_OK && i < start; i++) {
    char name[25];
    pb__seg_name(l->v[i], name);
    snprintf(path, n, "%s/%s", fs->dir, name);
    rc = fs->io->unlink(fs->io, path);
    changed = true;
    if (rc == PB_OK) fs->rinfo.removed_segments++;
  }
  if (rc == PB_OK && changed) rc = fs->io->sync_dir(fs->io, fs->dir);
  if (rc != PB_OK) pb__fs_fail(fs, rc, true, "remove %s", path);
  free(path);
  return rc;
}

/* --- Frames --- */

/* A growable buffer for one frame's payload. */
typedef struct payload_buf {
  uint8_t *data; /* owned */
  size_t cap;    /* allocated bytes */
} payload_buf;

static int payload_reserve(payload_buf *b, size_t n) {
  if (n <= b->cap) return PB_OK;
  uint8_t *d = realloc(b->data, n);
  if (d == NULL) return PB_ENOMEM;
  b->data = d;
  b->cap = n;
  return PB_OK;
}

/* Checks the frame header at `pos` against the file size: the frame,
 * padding included, must fit before `fsize`.  Returns PB_OK or FRAME_BAD
 * with *why set. */
static int frame_fits(const uint8_t head[PB__FRAME_HEADER_SIZE], uint64_t pos,
                      uint64_t fsize, pb__frame_header *fh, const char **why) {
  if (pb__frame_header_decode(head, fh) != PB_OK) {
    *why = "bad frame header (unknown type or reserved bytes)";
    return FRAME_BAD;
  }
  if (pb__frame_size(fh->len) > fsize - pos) {
    *why = "frame runs past the end of the file";
    return FRAME_BAD;
  }
  return PB_OK;
}

/* Reads the frame at `pos` into `pl`.  Returns PB_OK for a structurally
 * valid frame, FRAME_BAD (with *why) for a torn or damaged one,
 * FRAME_SHORT when the file ended before `fsize`, or an I/O error. */
static int read_frame(pb__file *f, uint64_t fsize, uint64_t pos,
                      payload_buf *pl, pb__frame_header *fh,
                      const char **why) {
  assert(pos % PB__FRAME_ALIGN == 0 && pos <= fsize);
  if (fsize - pos < PB__FRAME_HEADER_SIZE) {
    *why = "truncated frame header";
    return FRAME_BAD;
  }
  uint8_t head[PB__FRAME_HEADER_SIZE];
  int rc = pb__io_pread_full(f, head, sizeof head, pos);
  if (rc != PB_OK) return rc == PB_ECORRUPT ? FRAME_SHORT : rc;
  rc = frame_fits(head, pos, fsize, fh, why);
  if (rc != PB_OK) return rc;
  if (payload_reserve(pl, fh->len) != PB_OK) return PB_ENOMEM;
  rc = pb__io_pread_full(f, pl->data, fh->len, pos + PB__FRAME_HEADER_SIZE);
  if (rc != PB_OK) return rc == PB_ECORRUPT ? FRAME_SHORT : rc;
  if (pb__frame_checksum(head, pl->data, fh->len) != fh->checksum) {
    *why = "frame checksum mismatch";
    return FRAME_BAD;
  }
  return PB_OK;
}

/* Hashes a candidate frame's payload straight from the file, in chunks, so
 * a bogus length costs no allocation beyond one chunk.  1 = checksum
 * matches, 0 = it does not, FRAME_SHORT = the file ended first, < 0 =
 * error. */
static int candidate_matches(pb__file *f, const uint8_t head[16],
                             const pb__frame_header *fh, uint64_t pos,
                             uint8_t *chunk) {
  pb__frame_hasher *hs = pb__frame_hasher_new(head);
  if (hs == NULL) return PB_ENOMEM;
  uint64_t off = pos + PB__FRAME_HEADER_SIZE, left = fh->len;
  int rc = PB_OK;
  while (left > 0 && rc == PB_OK) {
    size_t n = left < SCAN_CHUNK ? (size_t)left : SCAN_CHUNK;
    rc = pb__io_pread_full(f, chunk, n, off);
    pb__frame_hasher_update(hs, chunk, n);
    off += n;
    left -= n;
  }
  uint64_t digest = pb__frame_hasher_digest(hs);
  pb__frame_hasher_free(hs);
  if (rc != PB_OK) return rc == PB_ECORRUPT ? FRAME_SHORT : rc;
  return digest == fh->checksum ? 1 : 0;
}

/* Looks for any valid frame at an 8-aligned position in [from, fsize).
 * Returns 1 (and *found) when there is one, 0 when none, FRAME_SHORT when
 * the file ended before fsize, < 0 on error. */
static int find_valid_frame(pb__file *f, uint64_t fsize, uint64_t from,
                            uint64_t *found) {
  assert(from % PB__FRAME_ALIGN == 0);
  uint8_t *window = malloc(2 * SCAN_CHUNK);
  if (window == NULL) return PB_ENOMEM;
  uint8_t *chunk = window + SCAN_CHUNK;
  int rc = 0;
  uint64_t p = from;
  pb__errdetail_quiet(true); /* each rejected candidate is no error */
  while (rc == 0 && p < fsize && fsize - p >= PB__FRAME_HEADER_SIZE) {
    size_t n = fsize - p < SCAN_CHUNK ? (size_t)(fsize - p) : SCAN_CHUNK;
    rc = pb__io_pread_full(f, window, n, p);
    if (rc != PB_OK) {
      rc = rc == PB_ECORRUPT ? FRAME_SHORT : rc;
      break;
    }
    size_t q = 0;
    for (; rc == 0 && q + PB__FRAME_HEADER_SIZE <= n; q += PB__FRAME_ALIGN) {
      pb__frame_header fh;
      const char *why;
      if (frame_fits(window + q, p + q, fsize, &fh, &why) != PB_OK) continue;
      rc = candidate_matches(f, window + q, &fh, p + q, chunk);
      if (rc == 1) *found = p + q;
    }
    p += q; /* every position before p + q has been tried */
  }
  pb__errdetail_quiet(false);
  free(window);
  return rc;
}

/* --- Commit records --- */

/* Applies one checksum-valid commit frame to the state being rebuilt.
 * `seg_index` is where the segment will sit in fs->segs; `batch_off` is
 * the file offset of the batch bytes. */
static int apply_commit(pb__file_storage *fs, const pb__segment *seg,
                        size_t seg_index, uint64_t pos, const uint8_t *payload,
                        size_t len) {
  pb__commit_record c;
  const char *why = NULL;
  int rc = pb__commit_decode(payload, len, &c, &why);
  /* The first commit of a log that a compaction started continues the
   * LSNs of the log it replaced. */
  bool after_compaction = fs->n_segs == 0 && fs->lsn == 0 && seg->seq != 1;
  if (rc == PB_OK && c.lsn != fs->lsn + 1 && !after_compaction) {
    why = "commit LSN does not follow the previous commit's";
    rc = PB__CORRUPT("%s", why);
  }
  if (rc == PB_OK && !after_compaction &&
      !pb_atom_ptr_equal(c.prev_root, fs->root)) {
    why = "commit's previous root is not the previous commit's root";
    rc = PB__CORRUPT("%s", why);
  }
  pb__batch b = {.id_hi = c.batch_hi, .id_lo = c.batch_lo,
                 .data = c.batch, .size = (size_t)c.batch_size};
  if (rc == PB_OK && pb__storage_check_root(&b, &fs->index, c.root) != PB_OK) {
    why = "commit's root addresses no stored atom";
    rc = PB__CORRUPT("%s", why);
  }
  if (rc == PB_OK && c.batch_size > 0 &&
      pb__batch_index_find(&fs->index, c.batch_hi, c.batch_lo) != NULL) {
    why = "batch id stored twice";
    rc = PB__CORRUPT("%s", why);
  }
  if (rc != PB_OK)
    return pb__fs_fail(fs, rc, false, "%s: %s, in the frame at offset %" PRIu64,
                       seg->path, why, pos);
  if (c.batch_size > 0) {
    pb__batch_loc loc = {
        .size = c.batch_size,
        .offset = pos + PB__FRAME_HEADER_SIZE + PB__COMMIT_FIXED_SIZE,
        .segment = (uint32_t)seg_index};
    if (!fs->use_map) {
      uint8_t *copy = malloc(b.size);
      if (copy == NULL) return PB_ENOMEM;
      memcpy(copy, b.data, b.size);
      loc.data = copy;
    }
    rc = pb__batch_index_reserve(&fs->index, 1);
    if (rc == PB_OK)
      rc = pb__batch_index_insert(&fs->index, c.batch_hi, c.batch_lo, &loc);
    if (rc != PB_OK) {
      free((void *)(uintptr_t)loc.data);
      return rc;
    }
  }
  if (fs->salv != NULL) {
    rc = pb__salv_add_commit(fs->salv, c.lsn, c.root);
    if (rc != PB_OK) return rc;
  }
  fs->root = c.root;
  fs->lsn = c.lsn;
  return PB_OK;
}

/* Applies a BATCH frame: only in a compaction's output, before its first
 * commit. */
static int apply_batch(pb__file_storage *fs, const pb__segment *seg,
                       size_t seg_index, uint64_t pos, const uint8_t *payload,
                       size_t len) {
  uint64_t hi, lo;
  const uint8_t *data;
  size_t size;
  const char *why = NULL;
  int rc = pb__batchframe_decode(payload, len, &hi, &lo, &data, &size, &why);
  if (rc == PB_OK && !(seg_index == 0 && fs->lsn == 0 && seg->seq != 1)) {
    why = "batch frame outside a compaction's output";
    rc = PB__CORRUPT("%s", why);
  }
  if (rc == PB_OK && pb__batch_index_find(&fs->index, hi, lo) != NULL) {
    why = "batch id stored twice";
    rc = PB__CORRUPT("%s", why);
  }
  if (rc != PB_OK)
    return pb__fs_fail(fs, rc, false, "%s: %s, in the frame at offset %" PRIu64,
                       seg->path, why, pos);
  pb__batch_loc loc = {
      .size = size,
      .offset = pos + PB__FRAME_HEADER_SIZE + PB__BATCH_FIXED_SIZE,
      .segment = (uint32_t)seg_index};
  if (!fs->use_map) {
    uint8_t *copy = malloc(size);
    if (copy == NULL) return PB_ENOMEM;
    memcpy(copy, data, size);
    loc.data = copy;
  }
  rc = pb__batch_index_reserve(&fs->index, 1);
  if (rc == PB_OK) rc = pb__batch_index_insert(&fs->index, hi, lo, &loc);
  if (rc != PB_OK) free((void *)(uintptr_t)loc.data);
  return rc;
}

/* --- Segments --- */

/* Describes the torn tail [pos, fsize) for pb_storage_recovery_info: its
 * bytes, the bytes up to its last non-zero one, and the frames begun in
 * it (each decodable frame header, following the lengths; a tail whose
 * first header is itself torn counts one when it holds data).  Best
 * effort: a read that fails leaves what was counted. */
static void measure_tail(pb__file *f, uint64_t pos, uint64_t fsize,
                         pb_recovery_info *ri) {
  ri->tail_offset = pos;
  ri->tail_bytes = fsize - pos;
  ri->tail_data_bytes = 0;
  ri->tail_frames = 0;
  uint8_t *chunk = malloc(SCAN_CHUNK);
  if (chunk == NULL) return;
  for (uint64_t off = pos; off < fsize;) {
    size_t n = fsize - off < SCAN_CHUNK ? (size_t)(fsize - off) : SCAN_CHUNK;
    if (pb__io_pread_full(f, chunk, n, off) != PB_OK) break;
    for (size_t i = n; i-- > 0;)
      if (chunk[i] != 0) {
        ri->tail_data_bytes = off + i + 1 - pos;
        break;
      }
    off += n;
  }
  for (uint64_t p = pos; fsize - p >= PB__FRAME_HEADER_SIZE;) {
    pb__frame_header fh;
    if (pb__io_pread_full(f, chunk, PB__FRAME_HEADER_SIZE, p) != PB_OK)
      break;
    pb__errdetail_quiet(true);
    int rc = pb__frame_header_decode(chunk, &fh);
    pb__errdetail_quiet(false);
    if (rc != PB_OK || fh.len == 0) break;
    ri->tail_frames++;
    uint64_t size = pb__frame_size(fh.len);
    if (size > fsize - p) break;
    p += size;
  }
  if (ri->tail_frames == 0 && ri->tail_data_bytes > 0) ri->tail_frames = 1;
  free(chunk);
}

/* Handles a structurally bad frame at `pos`: cuts it when it is a torn
 * tail of the last segment, else reports corruption.  A read-only open
 * gets FRAME_SHORT when the file shrank, and FRAME_AGAIN (`rereads` times
 * at most) when a valid frame follows: the bad one may be a frame that a
 * writer was appending, complete by now. */
static int handle_bad_frame(pb__file_storage *fs, pb__segment *seg,
                            bool is_last, uint64_t fsize, uint64_t pos,
                            const char *why, unsigned rereads) {
  if (!is_last)
    return pb__fs_fail(fs, PB__CORRUPT("%s", why), false,
                       "%s: %s at offset %" PRIu64
                       " in a sealed segment (never cut)",
                       seg->path, why, pos);
  uint64_t found = 0;
  int rc = find_valid_frame(seg->file, fsize, pos + PB__FRAME_ALIGN, &found);
  if (rc == FRAME_SHORT && fs->base.read_only) return FRAME_SHORT;
  if (rc == FRAME_SHORT) rc = PB_EIO; /* nothing shrinks under the writer */
  if (rc < 0) return pb__fs_fail(fs, rc, true, "read %s", seg->path);
  if (rc == 1 && fs->base.read_only && rereads < REREAD_TRIES)
    return FRAME_AGAIN;
  if (rc == 1)
    return pb__fs_fail(fs, PB__CORRUPT("%s", why), false,
                       "%s: %s at offset %" PRIu64
                       ", followed by a valid frame at offset %" PRIu64,
                       seg->path, why, pos, found);
  /* A torn tail: a read-only open ignores it; a writable one cuts it,
   * but only once every check passed (apply_changes), since an open that
   * fails changes nothing. */
  fs->tail_pos = pos;
  fs->tail_fsize = fsize;
  measure_tail(seg->file, pos, fsize, &fs->rinfo);
  return PB_OK;
}

static void sleep_ms(unsigned ms) {
  struct timespec ts = {.tv_sec = ms / 1000,
                        .tv_nsec = (long)(ms % 1000) * 1000000L};
  nanosleep(&ts, NULL);
}

/* A read-only open, after FRAME_SHORT or FRAME_AGAIN at `pos`: takes the
 * file's size again so that the frame at `pos` can be read again
 * (`tries` times so far).  A segment other than the last one must not
 * change, and no segment shrinks below a frame it holds: then the whole
 * scan starts over (RECOVER_AGAIN). */
static int settle(pb__file_storage *fs, pb__segment *seg, bool is_last,
                  uint64_t pos, uint64_t *fsize, unsigned tries) {
  assert(fs->base.read_only);
  if (!is_last || tries >= REREAD_TRIES) return RECOVER_AGAIN;
  if (tries > 1) sleep_ms(1); /* a frame being appended: let it land */
  uint64_t size;
  int rc = pb__io_size(seg->file, &size);
  if (rc != PB_OK) return pb__fs_fail(fs, rc, true, "stat %s", seg->path);
  if (size < pos) return RECOVER_AGAIN;
  *fsize = size;
  fs->n_rereads++;
  return PB_OK;
}

/* Scans the frames of an open segment whose header is valid, setting
 * seg->end and seg->frames. */
static int scan_frames(pb__file_storage *fs, pb__segment *seg, bool is_last,
                       uint64_t fsize, payload_buf *pl) {
  uint64_t pos = PB__WAL_HEADER_SIZE;
  unsigned rereads = 0; /* of the frame at pos (read-only opens) */
  seg->end = pos; /* kept at the frame being read: where a salvage stops */
  while (pos < fsize) {
    pb__frame_header fh;
    const char *why = NULL;
    int rc = read_frame(seg->file, fsize, pos, pl, &fh, &why);
    /* A compaction's output is complete before it is renamed into
     * place: damage before its commit is never a torn tail. */
    bool unfinished_output = seg->frames > 0 && fs->lsn == 0;
    if (rc == FRAME_BAD) {
      rc = handle_bad_frame(fs, seg, is_last && !unfinished_output, fsize,
                            pos, why, rereads);
      if (rc == PB_OK) break; /* a tail: cut, or not there yet */
      if (rc < 0) return rc;  /* reported */
    }
    if ((rc == FRAME_SHORT || rc == FRAME_AGAIN) && fs->base.read_only) {
      rc = settle(fs, seg, is_last, pos, &fsize, rereads++);
      if (rc != PB_OK) return rc;
      continue;
    }
    assert(rc != FRAME_AGAIN);
    if (rc == FRAME_SHORT) rc = PB_EIO; /* nothing shrinks under a writer */
    if (rc != PB_OK)
      return pb__fs_fail(fs, rc, true, "read %s at %" PRIu64, seg->path, pos);
    if (fh.type == PB__FRAME_BATCH)
      rc = apply_batch(fs, seg, fs->n_segs, pos, pl->data, fh.len);
    else
      rc = apply_commit(fs, seg, fs->n_segs, pos, pl->data, fh.len);
    if (rc != PB_OK) return rc;
    seg->frames++;
    pos += pb__frame_size(fh.len);
    seg->end = pos;
    rereads = 0;
  }
  seg->end = pos;
  if (seg->frames > 0 && fs->lsn == 0)
    return pb__fs_fail(
        fs, PB__CORRUPT("compaction output without its commit"), false,
        "%s: a compaction's output without its switch commit", seg->path);
  return PB_OK;
}

/* Reads and checks a segment's header.  Returns PB_OK, FRAME_BAD for the
 * torn header of an interrupted creation (last segment only), or an error. */
static int check_header(pb__file_storage *fs, pb__segment *seg, bool is_last,
                        uint64_t fsize) {
  uint8_t buf[PB__WAL_HEADER_SIZE];
  size_t n = fsize < sizeof buf ? (size_t)fsize : sizeof buf;
  int rc = pb__io_pread_full(seg->file, buf, n, 0);
  if (rc != PB_OK) {
    pb__fs_fail(fs, PB_EIO, true, "read %s", seg->path);
    /* Shorter than its size a moment ago: it changed under a read-only
     * open (a writer created, or a writable open removed, this file). */
    return rc == PB_ECORRUPT && fs->base.read_only ? RECOVER_AGAIN : PB_EIO;
  }
  pb__seg_header h;
  const char *why = NULL;
  rc = pb__seg_header_decode(buf, n, &h, &why);
  if (rc == PB_ECORRUPT && is_last && fsize <= PB__WAL_HEADER_SIZE)
    return FRAME_BAD;
  if (rc == PB_EVERSION)
    return pb__fs_fail(fs, rc, false,
                       "%s: format version %" PRIu32
                       " is not supported (this library reads version %u)",
                       seg->path, h.version, PB__WAL_VERSION);
  if (rc != PB_OK)
    return pb__fs_fail(fs, rc, false, "%s: %s", seg->path, why);
  const pb__segment *prev = fs->n_segs ? fs->segs[fs->n_segs - 1] : NULL;
  uint64_t want_hi = prev ? prev->id_hi : 0, want_lo = prev ? prev->id_lo : 0;
  if (fs->salv != NULL) fs->salv->kind = PB_SALVAGE_REPLACED;
  if (h.seq != seg->seq)
    return pb__fs_fail(fs, PB__CORRUPT("segment header sequence number"), false,
                       "%s: header says sequence number %" PRIu64, seg->path,
                       h.seq);
  if (h.prev_hi != want_hi || h.prev_lo != want_lo)
    return pb__fs_fail(fs, PB__CORRUPT("segment header previous id"), false,
                       "%s: previous-segment id does not match %s", seg->path,
                       prev ? "the previous segment" : "zero (first segment)");
  seg->id_hi = h.id_hi;
  seg->id_lo = h.id_lo;
  return PB_OK;
}

/* A salvage open: the error `rc` is damage that ends the chain (anything
 * but running out of memory, or a read-only rescan). */
static bool salvage_damage(const pb__file_storage *fs, int rc) {
  return fs->salv != NULL && rc < 0 && rc != PB_ENOMEM;
}

/* Removes (writable) or ignores (read-only) a torn, frame-less last
 * segment left by a crash during its creation. */
static int drop_torn_segment(pb__file_storage *fs, pb__segment *seg) {
  pb__io_close(seg->file);
  seg->file = NULL;
  if (fs->base.read_only) return PB_OK;
  /* Removed once every check passed (apply_changes). */
  fs->torn_path = strdup(seg->path);
  return fs->torn_path == NULL ? PB_ENOMEM : PB_OK;
}

/* Maps a scanned segment (when it holds frames or will take appends) and
 * closes its file unless it is the writer's active segment. */
static int finish_segment(pb__file_storage *fs, pb__segment *seg,
                          bool active) {
  if (seg->frames > 0 || active) {
    const void *map;
    size_t len;
    int rc = pb__seg_prepare_map(fs, seg, seg->end, active, &map, &len);
    if (rc != PB_OK) return rc;
    pb__seg_install_map(seg, map, len);
  }
  if (!active) {
    pb__io_close(seg->file);
    seg->file = NULL;
  }
  return PB_OK;
}

/* Opens, checks and scans segment `seq`; on success it is pushed to
 * fs->segs, or *dropped is set for a torn creation. */
static int load_segment(pb__file_storage *fs, uint64_t seq, bool is_last,
                        payload_buf *pl, bool *dropped) {
  bool writable_last = is_last && !fs->base.read_only;
  pb__segment *seg = pb__seg_alloc(fs, seq);
  if (seg == NULL) return PB_ENOMEM;
  uint64_t fsize = 0;
  int rc = pb__seg_reserve(fs);
  if (rc == PB_OK) {
    rc = fs->io->open(fs->io, seg->path,
                      writable_last ? PB__IO_WRITE : PB__IO_READ, &seg->file);
    if (rc != PB_OK) pb__fs_fail(fs, rc, true, "open %s", seg->path);
    /* Listed, then deleted: a compaction beside this read-only open. */
    if (rc == PB_ENOTFOUND && fs->base.read_only) rc = RECOVER_AGAIN;
  }
  if (rc == PB_OK) {
    rc = pb__io_size(seg->file, &fsize);
    if (rc != PB_OK) pb__fs_fail(fs, rc, true, "stat %s", seg->path);
  }
  bool opened = rc == PB_OK;
  if (fs->salv != NULL) fs->salv->kind = PB_SALVAGE_BAD_HEADER;
  if (rc == PB_OK) rc = check_header(fs, seg, is_last, fsize);
  if (rc == FRAME_BAD) {
    *dropped = true;
    rc = drop_torn_segment(fs, seg);
    pb__seg_free(fs, seg);
    return rc;
  }
  /* Salvage: a segment that cannot be opened, or whose header does not
   * verify, ends the chain before it (a newer format does only after
   * another segment: the store itself may be newer). */
  if (salvage_damage(fs, rc) && !(rc == PB_EVERSION && fs->n_segs == 0)) {
    pb__salv_damage(fs->salv,
                    !opened || rc == PB_EIO ? PB_SALVAGE_UNREADABLE
                                            : fs->salv->kind,
                    seg->path, 0, fs->msg);
    fs->salv->stop_off = 0;
    fs->salv->foreign = opened && rc != PB_EIO &&
                        fs->salv->kind == PB_SALVAGE_REPLACED;
    pb__seg_free(fs, seg);
    return SALVAGE_STOP;
  }
  if (rc == PB_OK) rc = scan_frames(fs, seg, is_last, fsize, pl);
  /* Salvage: damage in the frames ends the chain at the frame that
   * failed; the frames before it verified, and are kept. */
  if (salvage_damage(fs, rc)) {
    pb__salv_damage(fs->salv,
                    rc == PB_EIO ? PB_SALVAGE_UNREADABLE
                                 : PB_SALVAGE_BAD_FRAME,
                    seg->path, seg->end, fs->msg);
    fs->salv->stop_off = seg->end;
    rc = finish_segment(fs, seg, false);
    if (rc == PB_OK) {
      pb__seg_push(fs, seg);
      return SALVAGE_STOP;
    }
  }
  if (rc == PB_OK) rc = finish_segment(fs, seg, writable_last);
  if (rc != PB_OK) {
    pb__seg_free(fs, seg);
    return rc;
  }
  pb__seg_push(fs, seg);
  return PB_OK;
}

/* Makes the last segment writable (creating segment 1 in an empty
 * directory); the writer appends there. */
static int open_active(pb__file_storage *fs) {
  assert(!fs->base.read_only);
  int rc = pb__seg_reserve(fs);
  if (rc != PB_OK) return rc;
  if (fs->n_segs == 0) {
    pb__segment *seg;
    rc = pb__seg_create(fs, 1, NULL, &seg);
    if (rc != PB_OK) return rc;
    pb__seg_push(fs, seg);
    return PB_OK;
  }
  pb__segment *last = fs->segs[fs->n_segs - 1];
  if (last->file != NULL) return PB_OK;
  /* The true last segment was a torn creation and is gone. */
  rc = fs->io->open(fs->io, last->path, PB__IO_WRITE, &last->file);
  if (rc != PB_OK) return pb__fs_fail(fs, rc, true, "open %s", last->path);
  return PB_OK;
}

/* --- The manifest --- */

/* The manifest's segments from `from` on must all be listed.  `from` is
 * the log's start when the listing found one (a segment with no
 * predecessor): the segments a compaction replaced may be gone. */
static int check_listed(pb__file_storage *fs, const pb__manifest *m,
                        const seq_list *l, uint64_t from) {
  uint64_t last = m->first + m->n - 1;
  for (uint64_t s = m->first > from ? m->first : from; s <= last; s++) {
    if (l->n > 0 && bsearch(&s, l->v, l->n, sizeof *l->v, cmp_u64) != NULL)
      continue;
    char name[25];
    pb__seg_name(s, name);
    return pb__fs_fail(fs, PB__CORRUPT("segment missing"), false,
                       "%s is missing: " PB__MANIFEST_NAME
                       " names segments %" PRIu64 " to %" PRIu64
                       " (deleted or moved; never rolled back silently)",
                       name, m->first, last);
  }
  return PB_OK;
}

/* A segment just loaded, against the manifest (when it names it, from
 * `from` on): its id; a sealed one exactly its size; the last one at
 * least its size.  Checked before the next segment is scanned, so that
 * the error names the segment at fault.  Nothing has been changed yet. */
static int check_loaded_seg(pb__file_storage *fs, const pb__manifest *m,
                            uint64_t from, const pb__segment *seg) {
  uint64_t last = m->first + m->n - 1, s = seg->seq;
  if (s < m->first || s < from || s > last) return PB_OK;
  const pb__manifest_seg *e = &m->seg[s - m->first];
  if (seg->id_hi != e->id_hi || seg->id_lo != e->id_lo)
    return pb__fs_fail(fs, PB__CORRUPT("segment replaced"), false,
                       "%s: not the segment " PB__MANIFEST_NAME
                       " names (another id): replaced by another file",
                       seg->path);
  if (s < last && seg->end != e->size)
    return pb__fs_fail(fs, PB__CORRUPT("sealed segment size"), false,
                       "%s: a sealed segment of %" PRIu64
                       " bytes of frames, where " PB__MANIFEST_NAME
                       " records %" PRIu64 " (truncated or replaced)",
                       seg->path, seg->end, e->size);
  if (s == last && seg->end < e->size)
    return pb__fs_fail(fs, PB__CORRUPT("last segment short"), false,
                       "%s: its frames end at %" PRIu64
                       ", before the %" PRIu64 " bytes " PB__MANIFEST_NAME
                       " records as durable: commits are missing "
                       "(truncated, damaged, or replaced by an older copy)",
                       seg->path, seg->end, e->size);
  return PB_OK;
}

/* After loading: every segment the manifest names (from `from` on) was
 * loaded; one that was listed but not loaded lost its header. */
static int check_all_loaded(pb__file_storage *fs, const pb__manifest *m,
                            uint64_t from) {
  uint64_t last = m->first + m->n - 1;
  uint64_t have = fs->n_segs ? fs->segs[fs->n_segs - 1]->seq : 0;
  for (uint64_t s = m->first > from ? m->first : from; s <= last; s++) {
    if (fs->n_segs > 0 && s >= fs->segs[0]->seq && s <= have) continue;
    char name[25];
    pb__seg_name(s, name);
    return pb__fs_fail(fs, PB__CORRUPT("segment header lost"), false,
                       "%s/%s: no valid header, but " PB__MANIFEST_NAME
                       " names it",
                       fs->dir, name);
  }
  return PB_OK;
}

/* True when `m` describes fs->segs exactly, the last size included. */
static bool manifest_matches(const pb__file_storage *fs,
                             const pb__manifest *m) {
  if (fs->n_segs == 0 || m->n != fs->n_segs || m->first != fs->segs[0]->seq)
    return false;
  for (size_t i = 0; i < m->n; i++) {
    const pb__segment *seg = fs->segs[i];
    if (seg->id_hi != m->seg[i].id_hi || seg->id_lo != m->seg[i].id_lo ||
        seg->end != m->seg[i].size)
      return false;
  }
  return true;
}

/* Writable opens, once every check passed: cuts the torn tail, removes a
 * torn last segment. */
static int apply_changes(pb__file_storage *fs) {
  assert(!fs->base.read_only);
  if (fs->tail_fsize > 0) {
    pb__segment *seg = fs->segs[fs->n_segs - 1];
    assert(seg->file != NULL && seg->end == fs->tail_pos);
    int rc = pb__io_truncate(seg->file, fs->tail_pos);
    if (rc == PB_OK) rc = pb__io_sync(seg->file);
    if (rc != PB_OK)
      return pb__fs_fail(fs, rc, true, "cut the torn tail of %s at %" PRIu64,
                         seg->path, fs->tail_pos);
    fs->rinfo.tail_cut = true;
  }
  if (fs->torn_path != NULL) {
    int rc = fs->io->unlink(fs->io, fs->torn_path);
    if (rc == PB_OK) rc = fs->io->sync_dir(fs->io, fs->dir);
    if (rc != PB_OK)
      return pb__fs_fail(fs, rc, true, "remove torn segment %s",
                         fs->torn_path);
    fs->rinfo.removed_segments++;
  }
  return PB_OK;
}

/* One scan: reads the manifest, lists the segments (into *l, which the
 * caller frees), loads the log and checks it against the manifest; a
 * writable open then makes its changes. */
static int recover_salvage(pb__file_storage *fs, seq_list *l);

static int recover_once(pb__file_storage *fs, seq_list *l) {
  assert(fs->n_segs == 0 && fs->lsn == 0);
  if (fs->salv != NULL) return recover_salvage(fs, l);
  payload_buf pl = {0};
  size_t start = 0;
  bool found_start = false;
  /* The manifest first: the listing is then at least as new as it. */
  pb__manifest man = {0};
  int rc = pb__fs_manifest_read(fs, &man);
  bool have_man = rc == PB_OK;
  if (rc == PB_ENOTFOUND) rc = PB_OK; /* a store from before it */
  if (rc == PB_OK) rc = list_segments(fs, l, &start, &found_start);
  uint64_t from = found_start ? l->v[start] : 0;
  if (rc == PB_OK && have_man) rc = check_listed(fs, &man, l, from);
  for (size_t i = start; rc == PB_OK && i < l->n; i++) {
    bool dropped = false;
    rc = load_segment(fs, l->v[i], i + 1 == l->n, &pl, &dropped);
    assert(!dropped || i + 1 == l->n);
    if (rc == PB_OK && have_man && !dropped)
      rc = check_loaded_seg(fs, &man, from, fs->segs[fs->n_segs - 1]);
  }
  free(pl.data);
  if (rc == PB_OK && have_man) rc = check_all_loaded(fs, &man, from);
  fs->rinfo.manifest_found = have_man;
  bool current = have_man && manifest_matches(fs, &man);
  pb__manifest_free(&man);
  if (rc == PB_OK && !fs->base.read_only) rc = apply_changes(fs);
  if (rc == PB_OK && !fs->base.read_only) rc = open_active(fs);
  if (rc == PB_OK && !fs->base.read_only) {
    if (current) {
      fs->man_valid = true;
      fs->man_last_seq = fs->segs[fs->n_segs - 1]->seq;
      fs->man_last_size = fs->segs[fs->n_segs - 1]->end;
    } else {
      bool renamed;
      rc = pb__fs_manifest_update(fs, fs->segs, fs->n_segs, &renamed);
      fs->rinfo.manifest_written = rc == PB_OK;
    }
  }
  if (rc == PB_OK && !fs->base.read_only) rc = remove_obsolete(fs, l, start);
  if (rc == PB_OK) {
    pb_recovery_info *ri = &fs->rinfo;
    ri->lsn = fs->lsn;
    ri->segments = fs->n_segs;
    ri->first_segment = fs->n_segs ? fs->segs[0]->seq : 0;
  }
  assert(rc <= 0 || (fs->base.read_only && rc == RECOVER_AGAIN));
  return rc;
}

int pb__fs_recovery_info(pb_storage *st, pb_recovery_info *out) {
  pb__file_storage *fs = (pb__file_storage *)st;
  *out = fs->rinfo;
  return PB_OK;
}

/* A read-only open whose scan failed: true when the directory now lists
 * other segments than `used`, the listing the scan worked from. */
static bool listing_changed(pb__file_storage *fs, const seq_list *used) {
  seq_list now = {0};
  bool changed = false;
  if (fs->io->list_dir(fs->io, fs->dir, collect_seq, &now) == PB_OK) {
    if (now.n > 1) qsort(now.v, now.n, sizeof *now.v, cmp_u64);
    changed = now.n != used->n ||
              (now.n > 0 && memcmp(now.v, used->v, now.n * sizeof *now.v));
  }
  free(now.v);
  return changed;
}

/* Forgets what a failed scan loaded, so that the next one starts afresh. */
static void forget_scan(pb__file_storage *fs) {
  memset(&fs->rinfo, 0, sizeof fs->rinfo);
  fs->tail_pos = fs->tail_fsize = 0;
  for (size_t i = 0; i < fs->n_segs; i++) pb__seg_free(fs, fs->segs[i]);
  fs->n_segs = 0;
  pb__fs_free_index(fs, &fs->index);
  pb__batch_index_init(&fs->index);
  fs->root = (pb_atom_ptr){0};
  fs->lsn = 0;
}

int pb__fs_recover(pb__file_storage *fs) {
  for (unsigned attempt = 1;; attempt++) {
    seq_list l = {0};
    int rc = recover_once(fs, &l);
    /* A writable open holds the lock: nothing changed under its scan.  A
     * read-only one that found no segment at all makes sure that its
     * listing did not just miss them (a compaction renaming its output
     * and deleting the segments it replaced while the directory was
     * read); any other clean scan read a consistent log. */
    if (!fs->base.read_only || (rc == PB_OK && l.n > 0)) {
      free(l.v);
      return rc;
    }
    if (rc == PB_OK && !listing_changed(fs, &l)) {
      free(l.v);
      return PB_OK;
    }
    bool again = rc == PB_OK || rc == RECOVER_AGAIN ||
                 (rc != PB_ENOMEM && listing_changed(fs, &l));
    free(l.v);
    if (!again) return rc;
    if (attempt == RECOVER_TRIES) {
      if (rc != RECOVER_AGAIN) return rc;
      return pb__fs_fail(fs, PB_EIO, false,
                         "the segments kept changing while this read-only "
                         "open read them (%u scans)",
                         attempt);
    }
    forget_scan(fs);
    fs->n_rescans++;
    sleep_ms(attempt < 10 ? attempt - 1 : 10); /* the first at once */
  }
}

int pb__file_open_retries(pb_storage *st, unsigned *rereads,
                          unsigned *rescans) {
  if (st == NULL || st->ops != &pb__file_ops) return PB_EINVAL;
  const pb__file_storage *fs = (const pb__file_storage *)st;
  *rereads = fs->n_rereads;
  *rescans = fs->n_rescans;
  return PB_OK;
}

/* --- Salvage (opts.salvage; docs/storage.md, section 14) --- */

/* After the chain broke: counts the checksum-valid COMMIT frames of `path`
 * from `from` on into *commits, and its bytes from `from` on into *bytes.
 * Best effort: a file that cannot be read counts what was read. */
static void count_after_break(pb__file_storage *fs, const char *path,
                              uint64_t from, uint64_t *commits,
                              uint64_t *bytes) {
  pb__file *f = NULL;
  if (fs->io->open(fs->io, path, PB__IO_READ, &f) != PB_OK) return;
  uint64_t fsize = 0;
  if (pb__io_size(f, &fsize) == PB_OK) {
    *bytes += fsize > from ? fsize - from : 0;
    uint64_t p = from < PB__WAL_HEADER_SIZE ? PB__WAL_HEADER_SIZE : from;
    p = (p + PB__FRAME_ALIGN - 1) / PB__FRAME_ALIGN * PB__FRAME_ALIGN;
    while (p < fsize) {
      uint64_t found = 0;
      if (find_valid_frame(f, fsize, p, &found) != 1) break;
      uint8_t head[PB__FRAME_HEADER_SIZE];
      pb__frame_header fh;
      if (pb__io_pread_full(f, head, sizeof head, found) != PB_OK) break;
      pb__errdetail_quiet(true);
      int rc = pb__frame_header_decode(head, &fh);
      pb__errdetail_quiet(false);
      if (rc != PB_OK) break; /* find_valid_frame decoded it */
      if (fh.type == PB__FRAME_COMMIT) ++*commits;
      p = found + pb__frame_size(fh.len);
    }
  }
  pb__io_close(f);
}

/* The path of segment `seq` in fs->dir, malloc'd (NULL: out of memory). */
static char *seg_path(const pb__file_storage *fs, uint64_t seq) {
  char name[25];
  pb__seg_name(seq, name);
  size_t n = strlen(fs->dir) + 1 + sizeof name;
  char *p = malloc(n);
  if (p != NULL) snprintf(p, n, "%s/%s", fs->dir, name);
  return p;
}

/*
 * A salvage open's scan.  It reads the log as recover_once does, but
 * where recover_once fails on damage, this one records the damage in
 * fs->salv and stops the chain there: the commits before it verified, and
 * the last of them is the root served.  The chain breaks at a missing
 * segment (named by MANIFEST, or a gap in the numbers), a segment of
 * another id, a header or frame that does not verify (the frames before
 * it in that segment are kept), and a segment shorter than MANIFEST
 * records (its frames are kept).  What follows the break is only counted:
 * the segments skipped, their bytes, the checksum-valid commit frames in
 * them.  Only running out of memory, an unreadable directory, and a first
 * segment of a newer format fail the open.
 */
static int recover_salvage(pb__file_storage *fs, seq_list *l) {
  pb__salvage *sv = fs->salv;
  pb__salv_reset(sv);
  pb_salvage_report *rep = &sv->rep;
  pb__manifest man = {0};
  int rc = pb__fs_manifest_read(fs, &man);
  bool have_man = rc == PB_OK;
  if (rc == PB_ECORRUPT || rc == PB_EIO) {
    pb__salv_damage(sv, PB_SALVAGE_MANIFEST, PB__MANIFEST_NAME, 0, fs->msg);
    sv->found_any = true;
    rc = PB_OK;
  } else if (rc == PB_ENOTFOUND) {
    rc = PB_OK;
  }
  if (rc != PB_OK) return rc;
  sv->found_any |= have_man;
  fs->rinfo.manifest_found = have_man;
  rc = fs->io->list_dir(fs->io, fs->dir, collect_seq, l);
  if (rc != PB_OK) {
    pb__manifest_free(&man);
    return pb__fs_fail(fs, rc, rc != PB_ENOMEM, "list directory");
  }
  if (l->n > 1) qsort(l->v, l->n, sizeof *l->v, cmp_u64);
  sv->found_any |= l->n > 0;
  /* The log starts at the newest segment that names no predecessor; an
   * unreadable header is no start. */
  bool found_start = false;
  uint64_t first = 0;
  for (size_t i = l->n; rc == PB_OK && i-- > 0;) {
    pb__seg_header h;
    int prc = peek_header(fs, l->v[i], &h);
    if (prc == PB_ENOMEM || prc == RECOVER_AGAIN) rc = prc;
    if (prc == PB_OK && (h.prev_hi | h.prev_lo) == 0) {
      first = l->v[i];
      found_start = true;
      break;
    }
  }
  uint64_t man_last = have_man ? man.first + man.n - 1 : 0;
  /* MANIFEST names where the log starts; without a start, the oldest
   * segment listed is read (and its header will say it does not chain). */
  if (have_man && (!found_start || first < man.first)) first = man.first;
  if (!have_man && !found_start && l->n > 0) first = l->v[0];
  uint64_t last = l->n > 0 ? l->v[l->n - 1] : 0;
  if (man_last > last) last = man_last;
  bool broken = false, break_present = false;
  uint64_t break_seq = 0, break_off = 0;
  payload_buf pl = {0};
  for (uint64_t s = first; rc == PB_OK && first != 0 && s <= last; s++) {
    char name[25];
    pb__seg_name(s, name);
    bool listed = l->n > 0 &&
                  bsearch(&s, l->v, l->n, sizeof *l->v, cmp_u64) != NULL;
    broken = true;
    break_seq = s;
    if (!listed) {
      char detail[200];
      if (have_man && s >= man.first && s <= man_last)
        snprintf(detail, sizeof detail,
                 "%s is missing: " PB__MANIFEST_NAME " names segments %" PRIu64
                 " to %" PRIu64,
                 name, man.first, man_last);
      else
        snprintf(detail, sizeof detail,
                 "%s is missing (the segments are numbered without gaps)",
                 name);
      pb__salv_damage(sv, PB_SALVAGE_MISSING, name, 0, detail);
      rep->segments_missing++;
      break;
    }
    break_present = true;
    if (have_man && s >= man.first && s <= man_last) {
      pb__seg_header h;
      const pb__manifest_seg *e = &man.seg[s - man.first];
      int prc = peek_header(fs, s, &h);
      if (prc == PB_ENOMEM || prc == RECOVER_AGAIN) {
        rc = prc;
        break;
      }
      if (prc == PB_OK && (h.id_hi != e->id_hi || h.id_lo != e->id_lo)) {
        char detail[200];
        snprintf(detail, sizeof detail,
                 "%s: not the segment " PB__MANIFEST_NAME
                 " names (another id): replaced by another file",
                 name);
        pb__salv_damage(sv, PB_SALVAGE_REPLACED, name, 0, detail);
        break_off = 0;
        sv->foreign = true;
        break;
      }
    }
    bool dropped = false;
    rc = load_segment(fs, s, s == l->v[l->n - 1], &pl, &dropped);
    if (rc == SALVAGE_STOP) {
      rc = PB_OK;
      break_off = sv->stop_off;
      break;
    }
    if (rc != PB_OK) break;
    if (dropped) { /* a torn creation of the last segment listed */
      if (have_man && s >= man.first && s <= man_last) {
        char detail[200];
        snprintf(detail, sizeof detail,
                 "%s: no valid header, but " PB__MANIFEST_NAME " names it",
                 name);
        pb__salv_damage(sv, PB_SALVAGE_BAD_HEADER, name, 0, detail);
        break_off = 0;
        break;
      }
      broken = false;
      break;
    }
    const pb__segment *seg = fs->segs[fs->n_segs - 1];
    if (have_man) {
      rc = check_loaded_seg(fs, &man, first, seg);
      if (rc == PB_ECORRUPT) {
        rc = PB_OK;
        pb__salv_damage(sv, PB_SALVAGE_SHORT, name, seg->end, fs->msg);
        break_off = seg->end;
        break;
      }
      if (rc != PB_OK) break;
    }
    broken = false;
  }
  free(pl.data);
  /* After the break: what is skipped. */
  if (rc == PB_OK && broken) {
    if (break_present) {
      char *path = seg_path(fs, break_seq);
      uint64_t theirs = 0; /* a foreign segment's commits are not ours */
      if (path == NULL) rc = PB_ENOMEM;
      else
        count_after_break(fs, path, break_off,
                          sv->foreign ? &theirs : &rep->commits_dropped,
                          &rep->bytes_skipped);
      free(path);
    }
    for (size_t i = 0; rc == PB_OK && i < l->n; i++) {
      if (l->v[i] <= break_seq) continue;
      char *path = seg_path(fs, l->v[i]);
      if (path == NULL) {
        rc = PB_ENOMEM;
        break;
      }
      rep->segments_skipped++;
      count_after_break(fs, path, 0, &rep->commits_dropped,
                        &rep->bytes_skipped);
      free(path);
    }
    for (uint64_t s = break_seq + 1; have_man && s <= man_last; s++)
      if (l->n == 0 || bsearch(&s, l->v, l->n, sizeof *l->v, cmp_u64) == NULL)
        rep->segments_missing++;
  }
  pb__manifest_free(&man);
  if (rc == PB_OK) {
    rep->lsn = fs->lsn;
    rep->commits = sv->n_commits;
    rep->first_lsn = sv->n_commits ? sv->commits[0].lsn : 0;
    rep->segments_read = fs->n_segs;
    pb_recovery_info *ri = &fs->rinfo;
    ri->lsn = fs->lsn;
    ri->segments = fs->n_segs;
    ri->first_segment = fs->n_segs ? fs->segs[0]->seq : 0;
  }
  return rc;
}
