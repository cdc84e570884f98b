/*
 * test_storage_manifest.c - a missing, replaced or cut segment is an
 * error, never a silent rollback (DIR/MANIFEST, storage/file_manifest.c),
 * and what recovery cut is reported (pb_storage_recovery_info).
 *
 * Stores are written through the public API on the real file system, with
 * the defaults (PB_DURABILITY_SYNC), small segments where a test needs
 * several; then files are deleted, replaced or cut as a user or a broken
 * copy would, and both a read-only and a writable open must give
 * PB_ECORRUPT naming the file, and change no file.  The power-cut sweeps
 * run on the simulated disk (tests/support/simfs.h).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "protobase/protobase.h"
#include "storage/file.h"
#include "storage/file_format.h"
#include "support/numbered.h"
#include "support/simfs.h"
#include "test_util.h"
#include "util/endian.h"

/* --- files --- */

static uint8_t *read_all(const char *path, size_t *len) {
  FILE *f = fopen(path, "rb");
  assert_non_null(f);
  fseek(f, 0, SEEK_END);
  long n = ftell(f);
  fseek(f, 0, SEEK_SET);
  uint8_t *b = malloc((size_t)n + 1);
  assert_non_null(b);
  assert_int_equal(fread(b, 1, (size_t)n, f), (size_t)n);
  fclose(f);
  *len = (size_t)n;
  return b;
}

static void write_all(const char *path, const void *b, size_t len) {
  FILE *f = fopen(path, "wb");
  assert_non_null(f);
  assert_int_equal(fwrite(b, 1, len, f), len);
  fclose(f);
}

static void seg_file(const char *dir, uint64_t seq, char *out, size_t n) {
  char name[25];
  pb__seg_name(seq, name);
  snprintf(out, n, "%s/%s", dir, name);
}

/* Every file of a directory, name and bytes, sorted by name. */
typedef struct dir_image {
  char name[32][64];
  uint8_t *data[32];
  size_t len[32];
  int n;
} dir_image;

static int cmp_name(const void *a, const void *b) {
  return strcmp((const char *)a, (const char *)b);
}

static void image_take(const char *dir, dir_image *im) {
  memset(im, 0, sizeof *im);
  DIR *d = opendir(dir);
  assert_non_null(d);
  struct dirent *e;
  while ((e = readdir(d)) != NULL) {
    if (e->d_name[0] == '.') continue;
    assert_true(im->n < 32 && strlen(e->d_name) < 64);
    memcpy(im->name[im->n++], e->d_name, strlen(e->d_name) + 1);
  }
  closedir(d);
  qsort(im->name, (size_t)im->n, sizeof im->name[0], cmp_name);
  for (int i = 0; i < im->n; i++) {
    char p[600];
    snprintf(p, sizeof p, "%s/%s", dir, im->name[i]);
    im->data[i] = read_all(p, &im->len[i]);
  }
}

static void image_free(dir_image *im) {
  for (int i = 0; i < im->n; i++) free(im->data[i]);
  im->n = 0;
}

/* The directory holds exactly the files of `im`, byte for byte. */
static void image_same(const char *dir, const dir_image *im) {
  dir_image now;
  image_take(dir, &now);
  assert_int_equal(now.n, im->n);
  for (int i = 0; i < im->n; i++) {
    assert_string_equal(now.name[i], im->name[i]);
    assert_int_equal(now.len[i], im->len[i]);
    assert_memory_equal(now.data[i], im->data[i], im->len[i]);
  }
  image_free(&now);
}

static int count_segments(const char *dir) {
  DIR *d = opendir(dir);
  assert_non_null(d);
  struct dirent *e;
  int n = 0;
  uint64_t seq;
  while ((e = readdir(d)) != NULL)
    if (pb__seg_parse_name(e->d_name, &seq)) n++;
  closedir(d);
  return n;
}

/* Offsets where the frames of a segment file end. */
static int frame_ends(const uint8_t *b, size_t len, uint64_t *ends, int max) {
  uint64_t pos = PB__WAL_HEADER_SIZE;
  int n = 0;
  while (pos + PB__FRAME_HEADER_SIZE <= len && n < max) {
    pos += pb__frame_size(pb__load_le32(b + pos));
    ends[n++] = pos;
  }
  assert_int_equal(pos, len);
  return n;
}

/* --- stores through the public API --- */

static pb_file_options opts_of(uint64_t segment_size, bool read_only) {
  pb_file_options o;
  pb_file_options_init(&o); /* PB_DURABILITY_SYNC */
  if (segment_size) o.segment_size = segment_size;
  o.read_only = read_only;
  return o;
}

/* Opens `dir`, makes `count` numbered commits, closes; returns "n". */
static uint64_t add_commits(const char *dir, uint64_t segment_size,
                            int count) {
  pb_file_options o = opts_of(segment_size, false);
  pb_storage *st;
  assert_int_equal(pb_storage_open_file(dir, &o, &st), PB_OK);
  pb_space *sp;
  assert_int_equal(pb_space_open(st, &sp), PB_OK);
  pb_db *db;
  assert_int_equal(pb_db_open(sp, PB__NUMBERED_DB, PB_CREATE, &db), PB_OK);
  uint64_t n = 0;
  for (int i = 0; i < count; i++)
    assert_int_equal(pb__numbered_next(db, &n), PB_OK);
  assert_int_equal(pb_db_close(db), PB_OK);
  assert_int_equal(pb_space_close(sp), PB_OK);
  return n;
}

/* Opens `dir` and checks that it holds exactly numbered commits 1..want. */
static void check_store(const char *dir, bool read_only, uint64_t want) {
  pb_file_options o = opts_of(0, read_only);
  pb_storage *st;
  int rc = pb_storage_open_file(dir, &o, &st);
  if (rc != PB_OK) print_error("open %s: %s\n", pb_errname(rc), pb_errdetail());
  assert_int_equal(rc, PB_OK);
  pb_space *sp;
  assert_int_equal(pb_space_open(st, &sp), PB_OK);
  pb_db *db;
  assert_int_equal(pb_db_open(sp, PB__NUMBERED_DB, 0, &db), PB_OK);
  uint64_t n;
  char why[256];
  assert_int_equal(pb__numbered_check(db, &n, why, sizeof why), PB_OK);
  assert_int_equal(n, want);
  assert_int_equal(pb_db_close(db), PB_OK);
  assert_int_equal(pb_space_close(sp), PB_OK);
}

/* Both opens of `dir` give PB_ECORRUPT naming `file` (and `also`, when
 * not NULL), and no file of the directory changes. */
static void expect_corrupt(const char *dir, const char *file,
                           const char *also) {
  dir_image before;
  image_take(dir, &before);
  for (int ro = 1; ro >= 0; ro--) {
    pb_file_options o = opts_of(0, ro);
    pb_storage *st = NULL;
    int rc = pb_storage_open_file(dir, &o, &st);
    if (rc != PB_ECORRUPT)
      print_error("%s open: %s: %s\n", ro ? "read-only" : "writable",
                  pb_errname(rc), pb_errdetail());
    assert_int_equal(rc, PB_ECORRUPT);
    assert_null(st);
    if (strstr(pb_errdetail(), file) == NULL ||
        (also && strstr(pb_errdetail(), also) == NULL))
      print_error("detail: %s\n", pb_errdetail());
    assert_non_null(strstr(pb_errdetail(), file));
    if (also) assert_non_null(strstr(pb_errdetail(), also));
    image_same(dir, &before);
  }
  image_free(&before);
}

/* --- missing and replaced segments --- */

#define SMALL_SEG 4096

static void newest_segment_deleted(void **state) {
  (void)state;
  char *dir = pb_test_tmpdir();
  uint64_t n = add_commits(dir, SMALL_SEG, 120);
  int segs = count_segments(dir);
  assert_true(segs >= 4);
  char path[600], name[25];
  seg_file(dir, (uint64_t)segs, path, sizeof path);
  pb__seg_name((uint64_t)segs, name);
  size_t len;
  uint8_t *keep = read_all(path, &len);
  assert_int_equal(unlink(path), 0);
  /* Segments 1..n-1 still chain: without MANIFEST this opened at an older
   * commit. */
  expect_corrupt(dir, name, "missing");
  write_all(path, keep, len);
  free(keep);
  check_store(dir, true, n);
  check_store(dir, false, n);
  pb_test_rmdir(dir);
}

static void middle_and_first_segment_deleted(void **state) {
  (void)state;
  char *dir = pb_test_tmpdir();
  uint64_t n = add_commits(dir, SMALL_SEG, 120);
  assert_true(count_segments(dir) >= 4);
  for (uint64_t seq = 1; seq <= 2; seq++) {
    char path[600], name[25];
    seg_file(dir, seq, path, sizeof path);
    pb__seg_name(seq, name);
    size_t len;
    uint8_t *keep = read_all(path, &len);
    assert_int_equal(unlink(path), 0);
    expect_corrupt(dir, name, "missing");
    write_all(path, keep, len);
    free(keep);
  }
  check_store(dir, false, n);
  pb_test_rmdir(dir);
}

/* An older copy of the newest segment put back: same name, same id,
 * fewer frames. */
static void newest_replaced_by_older_copy(void **state) {
  (void)state;
  for (int multi = 0; multi <= 1; multi++) {
    char *dir = pb_test_tmpdir();
    uint64_t seg_size = multi ? SMALL_SEG : 0;
    add_commits(dir, seg_size, multi ? 120 : 40);
    /* A copy of the newest segment, then one more commit that does not
     * roll over (taking a new copy when it did). */
    int segs;
    char path[600], name[25];
    size_t old_len;
    uint8_t *old = NULL;
    uint64_t n = 0;
    for (int tries = 0;; tries++) {
      assert_true(tries < 20);
      segs = count_segments(dir);
      seg_file(dir, (uint64_t)segs, path, sizeof path);
      pb__seg_name((uint64_t)segs, name);
      free(old);
      old = read_all(path, &old_len);
      n = add_commits(dir, seg_size, 1);
      if (count_segments(dir) == segs) break;
    }
    assert_true(multi ? segs >= 4 : segs == 1);
    size_t new_len;
    uint8_t *now = read_all(path, &new_len);
    assert_true(new_len > old_len);
    write_all(path, old, old_len);
    expect_corrupt(dir, name, "commits are missing");
    write_all(path, now, new_len);
    check_store(dir, true, n);
    check_store(dir, false, n);
    free(old);
    free(now);
    pb_test_rmdir(dir);
  }
}

/* A segment of another store (another id) put in place of one. */
static void segment_from_another_store(void **state) {
  (void)state;
  char *a = pb_test_tmpdir(), *b = pb_test_tmpdir();
  uint64_t n = add_commits(a, 0, 10);
  add_commits(b, 0, 10);
  char pa[600], pb[600];
  seg_file(a, 1, pa, sizeof pa);
  seg_file(b, 1, pb, sizeof pb);
  size_t la, lb;
  uint8_t *da = read_all(pa, &la), *db = read_all(pb, &lb);
  write_all(pa, db, lb);
  expect_corrupt(a, "seg-0000000000000001.wal", "another id");
  write_all(pa, da, la);
  check_store(a, false, n);
  free(da);
  free(db);
  pb_test_rmdir(a);
  pb_test_rmdir(b);
}

/* A sealed segment cut at a frame boundary (which the log's chaining alone
 * does not catch when the next segment holds no commit yet), and inside a
 * frame. */
static void sealed_segment_truncated(void **state) {
  (void)state;
  char *dir = pb_test_tmpdir();
  uint64_t n = add_commits(dir, SMALL_SEG, 120);
  int segs = count_segments(dir);
  assert_true(segs >= 4);
  for (uint64_t seq = 1; seq < (uint64_t)segs; seq += (uint64_t)segs - 2) {
    char path[600], name[25];
    seg_file(dir, seq, path, sizeof path);
    pb__seg_name(seq, name);
    size_t len;
    uint8_t *keep = read_all(path, &len);
    uint64_t ends[256];
    int nf = frame_ends(keep, len, ends, 256);
    assert_true(nf >= 2);
    write_all(path, keep, (size_t)ends[nf - 2]); /* a whole frame gone */
    expect_corrupt(dir, name, "sealed");
    write_all(path, keep, (size_t)ends[nf - 1] - 8); /* inside a frame */
    expect_corrupt(dir, name, "sealed");
    write_all(path, keep, len);
    free(keep);
  }
  /* The last segment of a closed store, cut at a frame boundary. */
  char path[600], name[25];
  seg_file(dir, (uint64_t)segs, path, sizeof path);
  pb__seg_name((uint64_t)segs, name);
  size_t len;
  uint8_t *keep = read_all(path, &len);
  uint64_t ends[256];
  int nf = frame_ends(keep, len, ends, 256);
  write_all(path, keep, nf >= 2 ? (size_t)ends[nf - 2] : PB__WAL_HEADER_SIZE);
  expect_corrupt(dir, name, "commits are missing");
  /* Cut inside its last frame, as a torn write would be, but after a
   * close recorded that frame as durable: the writable open must not cut
   * the tail before it knows. */
  write_all(path, keep, (size_t)ends[nf - 1] - 8);
  expect_corrupt(dir, name, "commits are missing");
  write_all(path, keep, len);
  free(keep);
  check_store(dir, false, n);
  pb_test_rmdir(dir);
}

/* A damaged MANIFEST is damage too. */
static void manifest_damaged(void **state) {
  (void)state;
  char *dir = pb_test_tmpdir();
  uint64_t n = add_commits(dir, 0, 5);
  char path[600];
  snprintf(path, sizeof path, "%s/MANIFEST", dir);
  size_t len;
  uint8_t *keep = read_all(path, &len);
  uint8_t *bad = malloc(len);
  memcpy(bad, keep, len);
  bad[30] ^= 4;
  write_all(path, bad, len);
  expect_corrupt(dir, "MANIFEST", "checksum");
  write_all(path, keep, len);
  check_store(dir, true, n);
  free(bad);
  free(keep);
  pb_test_rmdir(dir);
}

/* A store written before MANIFEST existed opens as before; the first
 * writable open writes one, and from then on a deletion is caught. */
static void store_without_manifest(void **state) {
  (void)state;
  char *dir = pb_test_tmpdir();
  uint64_t n = add_commits(dir, SMALL_SEG, 60);
  char man[600];
  snprintf(man, sizeof man, "%s/MANIFEST", dir);
  assert_int_equal(unlink(man), 0);
  pb_file_options ro = opts_of(0, true), rw = opts_of(0, false);
  pb_storage *st;
  pb_recovery_info ri;
  assert_int_equal(pb_storage_open_file(dir, &ro, &st), PB_OK);
  assert_int_equal(pb_storage_recovery_info(st, &ri), PB_OK);
  assert_false(ri.manifest_found);
  assert_false(ri.manifest_written);
  assert_int_equal(pb_storage_close(st), PB_OK);
  assert_int_equal(access(man, F_OK), -1); /* read-only writes nothing */
  check_store(dir, true, n);
  assert_int_equal(pb_storage_open_file(dir, &rw, &st), PB_OK);
  assert_int_equal(pb_storage_recovery_info(st, &ri), PB_OK);
  assert_false(ri.manifest_found);
  assert_true(ri.manifest_written);
  assert_int_equal(pb_storage_close(st), PB_OK);
  assert_int_equal(access(man, F_OK), 0);
  check_store(dir, false, n);
  int segs = count_segments(dir);
  char path[600], name[25];
  seg_file(dir, (uint64_t)segs, path, sizeof path);
  pb__seg_name((uint64_t)segs, name);
  assert_int_equal(unlink(path), 0);
  expect_corrupt(dir, name, "missing");
  pb_test_rmdir(dir);
}

/* --- the torn-tail report --- */

static void torn_tail_report(void **state) {
  (void)state;
  char *dir = pb_test_tmpdir();
  add_commits(dir, 0, 10);
  char man[600], seg[600];
  snprintf(man, sizeof man, "%s/MANIFEST", dir);
  seg_file(dir, 1, seg, sizeof seg);
  size_t mlen;
  uint8_t *crash_man = read_all(man, &mlen); /* as a crash leaves it */
  uint64_t n = add_commits(dir, 0, 1);
  assert_int_equal(n, 11);

  /* A clean open: nothing to report. */
  pb_file_options ro = opts_of(0, true), rw = opts_of(0, false);
  pb_storage *st;
  pb_recovery_info ri;
  assert_int_equal(pb_storage_open_file(dir, &ro, &st), PB_OK);
  assert_int_equal(pb_storage_recovery_info(st, &ri), PB_OK);
  uint64_t lsn = ri.lsn; /* commit 11's (the database's creation too) */
  assert_true(lsn >= 11);
  assert_int_equal(ri.tail_bytes, 0);
  assert_int_equal(ri.tail_frames, 0);
  assert_true(ri.manifest_found);
  assert_false(ri.manifest_written);
  assert_int_equal(ri.segments, 1);
  assert_int_equal(ri.first_segment, 1);
  assert_int_equal(pb_storage_close(st), PB_OK);

  /* Commit 11's frame cut in its middle, then preallocated zeros: what a
   * power cut leaves (with MANIFEST from before commit 11). */
  size_t len;
  uint8_t *img = read_all(seg, &len);
  uint64_t ends[64];
  int nf = frame_ends(img, len, ends, 64);
  uint64_t start = ends[nf - 2], mid = start + (ends[nf - 1] - start) / 2;
  size_t torn_len = (size_t)mid + 5000;
  uint8_t *torn = calloc(1, torn_len);
  memcpy(torn, img, (size_t)mid);
  write_all(seg, torn, torn_len);
  write_all(man, crash_man, mlen);
  uint64_t data_end = mid;
  while (data_end > start && torn[data_end - 1] == 0) data_end--;

  for (int writable = 0; writable <= 1; writable++) {
    assert_int_equal(pb_storage_open_file(dir, writable ? &rw : &ro, &st),
                     PB_OK);
    assert_int_equal(pb_storage_recovery_info(st, &ri), PB_OK);
    print_message("%s open: lsn %" PRIu64 ", tail at %" PRIu64 ": %" PRIu64
                  " bytes, %" PRIu64 " of data, %" PRIu64 " frame(s), %s\n",
                  writable ? "writable" : "read-only", ri.lsn, ri.tail_offset,
                  ri.tail_bytes, ri.tail_data_bytes, ri.tail_frames,
                  ri.tail_cut ? "cut" : "ignored");
    assert_int_equal(ri.lsn, lsn - 1);
    assert_int_equal(ri.tail_offset, start);
    assert_int_equal(ri.tail_bytes, torn_len - start);
    assert_int_equal(ri.tail_data_bytes, data_end - start);
    assert_int_equal(ri.tail_frames, 1);
    assert_int_equal(ri.tail_cut, writable == 1);
    assert_true(ri.manifest_found);
    /* MANIFEST records the end of commit 10, where the cut leaves it. */
    assert_false(ri.manifest_written);
    assert_int_equal(pb_storage_close(st), PB_OK);
    struct stat sb;
    assert_int_equal(stat(seg, &sb), 0);
    assert_int_equal((uint64_t)sb.st_size, writable ? start : torn_len);
  }
  /* Once cut, the next open has nothing to report. */
  assert_int_equal(pb_storage_open_file(dir, &rw, &st), PB_OK);
  assert_int_equal(pb_storage_recovery_info(st, &ri), PB_OK);
  assert_int_equal(ri.tail_bytes, 0);
  assert_false(ri.tail_cut);
  assert_false(ri.manifest_written);
  assert_int_equal(pb_storage_close(st), PB_OK);
  check_store(dir, true, 10);

  /* Tiers without recovery, and bad arguments. */
  pb_storage *mem;
  assert_int_equal(pb_storage_open_memory(&mem), PB_OK);
  assert_int_equal(pb_storage_recovery_info(mem, &ri), PB_ENOTSUP);
  assert_int_equal(pb_storage_recovery_info(mem, NULL), PB_EINVAL);
  assert_int_equal(pb_storage_recovery_info(NULL, &ri), PB_EINVAL);
  assert_int_equal(pb_storage_close(mem), PB_OK);
  free(img);
  free(torn);
  free(crash_man);
  pb_test_rmdir(dir);
}

/* --- the simulated disk: syncs counted, power cut at every step --- */

#define SIM_DIR "/db"

typedef struct sim_store {
  pb_storage *st;
  pb_space *sp;
  pb_db *db;
} sim_store;

static int sim_open(pb__simfs *sim, bool read_only, sim_store *s) {
  pb_file_options o = opts_of(1024, read_only);
  char msg[512];
  memset(s, 0, sizeof *s);
  int rc = pb__file_storage_open(SIM_DIR, &o, pb__simfs_io(sim), msg,
                                 sizeof msg, &s->st);
  if (rc != PB_OK) {
    print_error("open: %s: %s\n", pb_errname(rc), msg);
    return rc;
  }
  assert_int_equal(pb_space_open(s->st, &s->sp), PB_OK);
  rc = pb_db_open(s->sp, PB__NUMBERED_DB, read_only ? 0 : PB_CREATE, &s->db);
  if (rc == PB_ENOTFOUND && read_only) rc = PB_OK;
  assert_int_equal(rc, PB_OK);
  return PB_OK;
}

static void sim_close(sim_store *s) {
  if (s->db) pb_db_close(s->db);
  pb_space_close(s->sp);
  memset(s, 0, sizeof *s);
}

static uint64_t sim_n(sim_store *s) {
  if (s->db == NULL) return 0;
  uint64_t n;
  char why[256];
  assert_int_equal(pb__numbered_check(s->db, &n, why, sizeof why), PB_OK);
  return n;
}

static size_t sim_segs(sim_store *s) {
  return ((pb__file_storage *)s->st)->n_segs;
}

/* A SYNC commit still costs exactly one fdatasync and nothing else; a
 * rollover adds the segment's header fdatasync, and for MANIFEST one
 * fsync and one more directory fsync. */
static void syncs_counted(void **state) {
  (void)state;
  pb__simfs *sim = pb__simfs_new();
  sim_store s;
  assert_int_equal(sim_open(sim, false, &s), PB_OK);
  unsigned plain = 0, rolls = 0;
  for (int i = 0; i < 60; i++) {
    size_t before = sim_segs(&s);
    pb__simfs_reset_counts(sim);
    uint64_t n;
    assert_int_equal(pb__numbered_next(s.db, &n), PB_OK);
    pb__simfs_counts c;
    pb__simfs_counts_get(sim, &c);
    if (sim_segs(&s) == before) {
      assert_int_equal(c.datasync, 1);
      assert_int_equal(c.sync_dir, 0);
      plain++;
    } else {
      assert_int_equal(sim_segs(&s), before + 1);
      assert_int_equal(c.datasync, 2); /* the commit, the new header */
      assert_int_equal(c.sync_dir, 2); /* the new entry, MANIFEST */
      rolls++;
    }
  }
  print_message("60 SYNC commits: %u with exactly 1 fdatasync, %u rollovers "
                "with 2 fdatasyncs and 2 directory fsyncs\n",
                plain, rolls);
  assert_true(plain > 10 && rolls > 5);
  sim_close(&s);
  pb__simfs_free(sim);
}

/* Makes `pre` commits on a fresh disk, arms a power cut at the `step`th
 * mutating operation and runs `what` (0: commits until one rolls over;
 * 1: a compaction).  Returns true when the cut landed. */
static bool cut_run(pb__simfs *sim, int pre, int what, unsigned step,
                    uint64_t *acked) {
  sim_store s;
  assert_int_equal(sim_open(sim, false, &s), PB_OK);
  uint64_t n = 0;
  for (int i = 0; i < pre; i++)
    assert_int_equal(pb__numbered_next(s.db, &n), PB_OK);
  pb__simfs_crash_at(sim, step, step * 7919u + 1);
  if (what == 0) {
    size_t before = sim_segs(&s);
    while (sim_segs(&s) == before) {
      uint64_t m;
      if (pb__numbered_next(s.db, &m) != PB_OK) break;
      n = m;
    }
  } else {
    int rc = pb_storage_compact(s.st, NULL);
    assert_true(rc == PB_OK || pb__simfs_is_dead(sim));
  }
  bool landed = pb__simfs_is_dead(sim);
  pb__simfs_crash_at(sim, 0, 0);
  if (!landed) pb__simfs_crash(sim, step); /* a cut after it all */
  sim_close(&s);
  pb__simfs_revive(sim);
  *acked = n;
  return landed;
}

static void power_cut_in_rollover_and_compaction(void **state) {
  (void)state;
  for (int what = 0; what <= 1; what++) {
    unsigned step = 1, cuts = 0;
    for (;; step++) {
      pb__simfs *sim = pb__simfs_new();
      uint64_t acked;
      bool landed = cut_run(sim, 8, what, step, &acked);
      /* Both opens see every acknowledged commit, MANIFEST agreeing. */
      for (int ro = 1; ro >= 0; ro--) {
        sim_store s;
        assert_int_equal(sim_open(sim, ro, &s), PB_OK);
        uint64_t n = sim_n(&s);
        if (n < acked || n > acked + 1)
          print_error("step %u: %" PRIu64 " commits, %" PRIu64 " acked\n",
                      step, n, acked);
        assert_true(n >= acked && n <= acked + 1);
        sim_close(&s);
      }
      assert_true(pb__simfs_exists(sim, SIM_DIR "/MANIFEST"));
      /* And the store goes on: more commits, a rollover, a reopen. */
      sim_store s;
      assert_int_equal(sim_open(sim, false, &s), PB_OK);
      uint64_t base = sim_n(&s), m = 0;
      for (int i = 0; i < 12; i++)
        assert_int_equal(pb__numbered_next(s.db, &m), PB_OK);
      sim_close(&s);
      assert_int_equal(sim_open(sim, true, &s), PB_OK);
      assert_int_equal(sim_n(&s), base + 12);
      sim_close(&s);
      pb__simfs_free(sim);
      if (!landed) break;
      cuts++;
    }
    print_message("%s: a power cut at each of its %u mutating operations; "
                  "every acknowledged commit kept\n",
                  what ? "compaction" : "commit with a rollover", cuts);
    assert_true(cuts >= (what ? 10u : 8u));
  }
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(newest_segment_deleted),
      cmocka_unit_test(middle_and_first_segment_deleted),
      cmocka_unit_test(newest_replaced_by_older_copy),
      cmocka_unit_test(segment_from_another_store),
      cmocka_unit_test(sealed_segment_truncated),
      cmocka_unit_test(manifest_damaged),
      cmocka_unit_test(store_without_manifest),
      cmocka_unit_test(torn_tail_report),
      cmocka_unit_test(syncs_counted),
      cmocka_unit_test(power_cut_in_rollover_and_compaction),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
