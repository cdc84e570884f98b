/*
 * test_storage_ro.c - a read-only open beside a live writer, one race at a
 * time, made deterministic: the read-only open goes through the POSIX I/O
 * layer with hooks that run the writer (a writable store of this process,
 * driven through the public API) at the exact moment a race needs:
 *
 *   trim_during_scan        the writer rolls over, cutting the preallocated
 *                           zeros the reader is about to read;
 *   frame_in_flight         the reader reads a frame half-copied (the hook
 *                           damages that one read) while the writer
 *                           appends it and the next one;
 *   compaction_deletes      a compaction renames its output into place and
 *                           deletes the segments the reader has listed;
 *   listing_missed_a_file   a listing that missed a segment, or all of
 *                           them (as readdir may, under a concurrent
 *                           rename and deletions);
 *   headerless_last_segment a segment created but its header not written;
 *   later_transactions      after the open, the writer rolls over and
 *                           compacts away every file the reader mapped;
 *   damage_is_still_damage  a read-only open still reports a bad frame
 *                           followed by a valid one (after reading it
 *                           again), damage in a sealed segment, and a
 *                           missing segment as PB_ECORRUPT, and ignores a
 *                           torn tail; a writable open still reports them
 *                           and cuts only the torn tail.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "io/io.h"
#include "protobase/protobase.h"
#include "storage/file.h"
#include "storage/file_format.h"
#include "storage/storage.h"
#include "test_util.h"

#define SEGMENT_SIZE (16u * 1024u)
#define DB_NAME "d"

/* --- The hooked I/O layer --- */

/* Paths of the files the hooked layer opened, by handle (a handle reused
 * after a close is simply overwritten). */
#define MAX_TRACKED 256
static struct {
  const pb__file *f;
  char path[512];
} tracked[MAX_TRACKED];
static size_t n_tracked;

/* Hooks: called before an open (with its path), before a pread, and after
 * a pread (which may change what it read).  NULL: none. */
static void (*before_open)(const char *path);
static void (*before_pread)(const char *path, uint64_t off, size_t size);
static void (*after_pread)(const char *path, uint64_t off, void *buf,
                           size_t got);
static void (*before_pwrite)(const char *path, uint64_t off, const void *buf,
                             size_t size);
/* The name that the next listing leaves out ("*": every name; one
 * listing only). */
static char hide_once[25];

static const char *path_of(const pb__file *f) {
  for (size_t i = n_tracked; i-- > 0;)
    if (tracked[i].f == f) return tracked[i].path;
  return "";
}

static int hooked_open(const pb__io *io, const char *path, unsigned flags,
                       pb__file **out) {
  if (before_open != NULL) before_open(path);
  int rc = pb__io_posix()->open(io, path, flags, out);
  if (rc == PB_OK) {
    size_t i = 0;
    while (i < n_tracked && tracked[i].f != *out) i++;
    assert_true(i < MAX_TRACKED);
    if (i == n_tracked) n_tracked++;
    tracked[i].f = *out;
    snprintf(tracked[i].path, sizeof tracked[i].path, "%s", path);
  }
  return rc;
}

static int hooked_pread(pb__file *f, void *buf, size_t size, uint64_t off,
                        size_t *got) {
  const char *path = path_of(f);
  if (before_pread != NULL) before_pread(path, off, size);
  int rc = pb__io_posix()->pread(f, buf, size, off, got);
  if (rc == PB_OK && after_pread != NULL) after_pread(path, off, buf, *got);
  return rc;
}

static int hooked_pwrite(pb__file *f, const void *buf, size_t size,
                         uint64_t off) {
  if (before_pwrite != NULL) before_pwrite(path_of(f), off, buf, size);
  return pb__io_posix()->pwrite(f, buf, size, off);
}

typedef struct hide_ctx {
  pb__io_dir_fn fn;
  void *arg;
} hide_ctx;

static int hide_fn(void *arg, const char *name) {
  hide_ctx *h = arg;
  if (strcmp(name, hide_once) == 0 || strcmp(hide_once, "*") == 0) return 0;
  return h->fn(h->arg, name);
}

static int hooked_list_dir(const pb__io *io, const char *path,
                           pb__io_dir_fn fn, void *arg) {
  if (hide_once[0] == '\0')
    return pb__io_posix()->list_dir(io, path, fn, arg);
  hide_ctx h = {.fn = fn, .arg = arg};
  int rc = pb__io_posix()->list_dir(io, path, hide_fn, &h);
  hide_once[0] = '\0';
  return rc;
}

static pb__io hooked_io;

static int setup(void **state) {
  (void)state;
  hooked_io = *pb__io_posix();
  hooked_io.name = "hooked";
  hooked_io.open = hooked_open;
  hooked_io.pread = hooked_pread;
  hooked_io.pwrite = hooked_pwrite;
  hooked_io.list_dir = hooked_list_dir;
  before_open = NULL;
  before_pread = NULL;
  after_pread = NULL;
  before_pwrite = NULL;
  hide_once[0] = '\0';
  n_tracked = 0;
  return 0;
}

/* --- The writer: a writable store of this process --- */

typedef struct writer {
  char *dir;
  pb_storage *st; /* owned by sp */
  pb_space *sp;
  pb_db *db;
  uint64_t n; /* commits made: "counter" = n */
} writer;

static writer w;

static void writer_open(void) {
  w.dir = pb_test_tmpdir();
  pb_file_options o;
  pb_file_options_init(&o);
  o.segment_size = SEGMENT_SIZE;
  /* Through the hooked layer too, for before_pwrite. */
  char m[PB__FILE_MSG_SIZE];
  assert_int_equal(
      pb__file_storage_open(w.dir, &o, &hooked_io, m, sizeof m, &w.st),
      PB_OK);
  assert_int_equal(pb_space_open(w.st, &w.sp), PB_OK);
  assert_int_equal(pb_db_open(w.sp, DB_NAME, PB_CREATE, &w.db), PB_OK);
  w.n = 0;
}

static void writer_close(void) {
  if (w.sp != NULL) {
    pb_db_close(w.db);
    assert_int_equal(pb_space_close(w.sp), PB_OK);
  }
  w.sp = NULL;
  pb_test_rmdir(w.dir);
}

/* Commits "counter" = n + 1 and "pad": `pad` bytes derived from it. */
static void writer_commit(size_t pad) {
  static uint8_t buf[2 * SEGMENT_SIZE];
  assert_true(pad <= sizeof buf);
  pb_txn *txn;
  assert_int_equal(pb_txn_begin(w.db, 0, &txn), PB_OK);
  w.n++;
  pb_value v = {.kind = PB_VALUE_UINT, .as.u = w.n};
  assert_int_equal(pb_txn_set(txn, "counter", &v), PB_OK);
  memset(buf, (int)(w.n & 0xff), pad);
  pb_value p = {.kind = PB_VALUE_BYTES,
                .as.bytes = {.ptr = pad ? buf : NULL, .len = pad}};
  assert_int_equal(pb_txn_set(txn, "pad", &p), PB_OK);
  assert_int_equal(pb_txn_commit(txn), PB_OK);
}

static pb__file_storage *writer_fs(void) { return (pb__file_storage *)w.st; }

/* The writer's active segment: its path and where its next frame goes. */
static const pb__segment *writer_active(void) {
  pb__file_storage *fs = writer_fs();
  return fs->segs[fs->n_segs - 1];
}

static uint64_t writer_lsn(void) {
  pb_atom_ptr root;
  uint64_t lsn;
  assert_int_equal(w.st->ops->read_root(w.st, &root, &lsn), PB_OK);
  return lsn;
}

/* --- The reader --- */

static uint64_t file_size(const char *path) {
  struct stat sb;
  assert_int_equal(stat(path, &sb), 0);
  return (uint64_t)sb.st_size;
}


static char msg[PB__FILE_MSG_SIZE];

static int reader_open(pb_storage **st) {
  pb_file_options o;
  pb_file_options_init(&o);
  o.read_only = true;
  return pb__file_storage_open(w.dir, &o, &hooked_io, msg, sizeof msg, st);
}

static pb_storage *must_reader_open(void) {
  pb_storage *st = NULL;
  int rc = reader_open(&st);
  if (rc != PB_OK) print_error("read-only open: %s: %s\n", pb_errname(rc), msg);
  assert_int_equal(rc, PB_OK);
  return st;
}

/* Checks what the open of st had to do again. */
static void retries_were(pb_storage *st, unsigned rereads, unsigned rescans) {
  unsigned rr, rs;
  assert_int_equal(pb__file_open_retries(st, &rr, &rs), PB_OK);
  assert_int_equal(rr, rereads);
  assert_int_equal(rs, rescans);
}

static uint64_t lsn_of(pb_storage *st) {
  pb_atom_ptr root;
  uint64_t lsn;
  assert_int_equal(st->ops->read_root(st, &root, &lsn), PB_OK);
  return lsn;
}

/* Checks, through the public API, that `st` holds commit n exactly:
 * "counter" = n and its pad.  Closes st. */
static void check_and_close(pb_storage *st, uint64_t n, size_t pad) {
  pb_space *sp;
  pb_db *db;
  pb_txn *txn;
  assert_int_equal(pb_space_open(st, &sp), PB_OK);
  assert_int_equal(pb_db_open(sp, DB_NAME, 0, &db), PB_OK);
  assert_int_equal(pb_txn_begin(db, PB_RDONLY, &txn), PB_OK);
  pb_value v;
  assert_int_equal(pb_txn_get(txn, "counter", &v), PB_OK);
  assert_int_equal(v.as.u, n);
  assert_int_equal(pb_txn_get(txn, "pad", &v), PB_OK);
  assert_int_equal(v.kind, PB_VALUE_BYTES);
  assert_int_equal(v.as.bytes.len, pad);
  for (size_t i = 0; i < pad; i++)
    assert_int_equal(v.as.bytes.ptr[i], (uint8_t)(n & 0xff));
  pb_txn_abort(txn);
  pb_db_close(db);
  assert_int_equal(pb_space_close(sp), PB_OK);
}

/* --- trim_during_scan --- */

static char arm_path[512];
static uint64_t arm_off;
static int fired;

static void roll_over_before_zeros(const char *path, uint64_t off,
                                   size_t size) {
  (void)size;
  if (fired || strcmp(path, arm_path) != 0 || off < arm_off) return;
  fired = 1;
  /* A frame too large for the rest of the segment: the writer cuts the
   * preallocated zeros the reader was about to read, and rolls over. */
  writer_commit(SEGMENT_SIZE);
}

static void trim_during_scan(void **state) {
  (void)state;
  writer_open();
  for (int i = 0; i < 3; i++) writer_commit(100);
  const pb__segment *seg = writer_active();
  assert_true(seg->alloc > seg->end); /* zeros after the last frame */
  snprintf(arm_path, sizeof arm_path, "%s", seg->path);
  arm_off = seg->end;
  uint64_t lsn = writer_lsn(), n = w.n;
  uint64_t seq = seg->seq;
  fired = 0;
  before_pread = roll_over_before_zeros;
  pb_storage *st = must_reader_open();
  before_pread = NULL;
  assert_true(fired);
  assert_true(writer_active()->seq > seq); /* it did roll over */
  /* The reader listed the segments before the rollover: it sees the
   * commits of the old segment, all of them. */
  assert_int_equal(lsn_of(st), lsn);
  retries_were(st, 1, 0); /* read at the new size, once */
  check_and_close(st, n, 100);
  /* A new open sees the new commit. */
  check_and_close(must_reader_open(), w.n, SEGMENT_SIZE);
  writer_close();
}

/* --- frame_in_flight --- */

static int damaged;

static void append_two_before(const char *path, uint64_t off, size_t size) {
  (void)size;
  if (fired || strcmp(path, arm_path) != 0 || off != arm_off) return;
  fired = 1;
  writer_commit(200); /* the frame at arm_off */
  writer_commit(300); /* and the next one */
}

/* The reader's first read of the payload at arm_off sees it half-copied. */
static void half_copied(const char *path, uint64_t off, void *buf,
                        size_t got) {
  if (damaged || strcmp(path, arm_path) != 0 ||
      off != arm_off + PB__FRAME_HEADER_SIZE || got < 64)
    return;
  damaged = 1;
  memset((uint8_t *)buf + got / 2, 0, got - got / 2);
}

static void frame_in_flight(void **state) {
  (void)state;
  writer_open();
  for (int i = 0; i < 3; i++) writer_commit(100);
  const pb__segment *seg = writer_active();
  snprintf(arm_path, sizeof arm_path, "%s", seg->path);
  arm_off = seg->end;
  uint64_t seq = seg->seq;
  fired = damaged = 0;
  before_pread = append_two_before;
  after_pread = half_copied;
  pb_storage *st = must_reader_open();
  before_pread = NULL;
  after_pread = NULL;
  assert_true(fired && damaged);
  assert_int_equal(writer_active()->seq, seq); /* no rollover */
  /* The half-copied frame was read again: both new commits are there. */
  assert_int_equal(lsn_of(st), writer_lsn());
  retries_were(st, 1, 0); /* read again, once */
  check_and_close(st, w.n, 300);
  writer_close();
}

/* --- compaction_deletes --- */

static void compact_before_open(const char *path) {
  if (fired || strcmp(path, arm_path) != 0) return;
  fired = 1;
  assert_int_equal(pb_storage_compact(w.st, NULL), PB_OK);
}

static void compaction_deletes(void **state) {
  (void)state;
  writer_open();
  for (int i = 0; i < 12; i++) writer_commit(3000);
  assert_true(writer_active()->seq >= 3);
  pb__file_storage *fs = writer_fs();
  snprintf(arm_path, sizeof arm_path, "%s", fs->segs[0]->path);
  uint64_t seq = writer_active()->seq;
  fired = 0;
  before_open = compact_before_open; /* the reader's first open of seg 1 */
  pb_storage *st = must_reader_open();
  before_open = NULL;
  assert_true(fired);
  assert_true(access(arm_path, F_OK) != 0); /* deleted under the reader */
  /* The reader lists again and reads the compacted log. */
  pb__file_storage *rfs = (pb__file_storage *)st;
  assert_int_equal(rfs->segs[0]->seq, seq + 1);
  retries_were(st, 0, 1);
  assert_int_equal(lsn_of(st), writer_lsn());
  check_and_close(st, w.n, 3000);
  writer_close();
}

/* --- listing_missed_a_file --- */

static void listing_missed_a_file(void **state) {
  (void)state;
  writer_open();
  for (int i = 0; i < 12; i++) writer_commit(3000);
  assert_true(writer_active()->seq >= 3);
  pb__seg_name(2, hide_once); /* the first listing misses segment 2 */
  pb_storage *st = must_reader_open();
  assert_true(hide_once[0] == '\0'); /* it was listed once without it */
  retries_were(st, 0, 1);
  assert_int_equal(lsn_of(st), writer_lsn());
  check_and_close(st, w.n, 3000);
  /* A listing that missed every segment (renamed into place and deleted
   * while it was read) is not an empty store. */
  strcpy(hide_once, "*");
  st = must_reader_open();
  assert_true(hide_once[0] == '\0');
  retries_were(st, 0, 1);
  check_and_close(st, w.n, 3000);
  writer_close();
}

/* --- headerless_last_segment --- */

/* Before the writer writes the header of its new segment: the file exists
 * and is empty, then holds part of the header. */
static void open_before_header(const char *path, uint64_t off,
                               const void *buf, size_t size) {
  if (fired || off != 0 || size != PB__WAL_HEADER_SIZE ||
      strstr(path, "/seg-") == NULL)
    return;
  fired = 1;
  uint64_t sizes[] = {0, 20, 40};
  for (size_t k = 0; k < sizeof sizes / sizeof *sizes; k++) {
    int fd = open(path, O_WRONLY);
    assert_true(fd >= 0);
    assert_int_equal(pwrite(fd, buf, sizes[k], 0), (ssize_t)sizes[k]);
    close(fd);
    assert_int_equal(file_size(path), sizes[k]);
    /* The commit under way is not there; everything before it is. */
    check_and_close(must_reader_open(), w.n - 1, 100);
  }
}

static void headerless_last_segment(void **state) {
  (void)state;
  writer_open();
  for (int i = 0; i < 3; i++) writer_commit(100);
  uint64_t seq = writer_active()->seq;
  fired = 0;
  before_pwrite = open_before_header;
  writer_commit(SEGMENT_SIZE); /* rolls over */
  before_pwrite = NULL;
  assert_true(fired);
  assert_int_equal(writer_active()->seq, seq + 1);
  check_and_close(must_reader_open(), w.n, SEGMENT_SIZE);
  writer_close();
}

/* --- later_transactions --- */

static void later_transactions(void **state) {
  (void)state;
  writer_open();
  for (int i = 0; i < 10; i++) writer_commit(3000);
  uint64_t n = w.n;
  pb_storage *st = must_reader_open();
  pb_space *sp;
  pb_db *db;
  assert_int_equal(pb_space_open(st, &sp), PB_OK);
  assert_int_equal(pb_db_open(sp, DB_NAME, 0, &db), PB_OK);
  /* Every file the reader mapped is cut at its end or deleted. */
  for (int round = 0; round < 3; round++) {
    for (int i = 0; i < 10; i++) writer_commit(5000);
    assert_int_equal(pb_storage_compact(w.st, NULL), PB_OK);
  }
  pb_txn *txn;
  assert_int_equal(pb_txn_begin(db, PB_RDONLY, &txn), PB_OK);
  pb_value v;
  assert_int_equal(pb_txn_get(txn, "counter", &v), PB_OK);
  assert_int_equal(v.as.u, n); /* its snapshot, not the writer's */
  assert_int_equal(pb_txn_get(txn, "pad", &v), PB_OK);
  assert_int_equal(v.as.bytes.len, 3000);
  for (size_t i = 0; i < 3000; i++)
    assert_int_equal(v.as.bytes.ptr[i], (uint8_t)(n & 0xff));
  pb_txn_abort(txn);
  pb_db_close(db);
  assert_int_equal(pb_space_close(sp), PB_OK);
  writer_close();
}

/* --- damage_is_still_damage --- */

static unsigned reads_at;

static void count_reads(const char *path, uint64_t off, size_t size) {
  (void)size;
  if (strcmp(path, arm_path) == 0 && off == arm_off) reads_at++;
}

static void flip_byte(const char *path, uint64_t off) {
  int fd = open(path, O_RDWR);
  assert_true(fd >= 0);
  uint8_t b;
  assert_int_equal(pread(fd, &b, 1, (off_t)off), 1);
  b ^= 0x40;
  assert_int_equal(pwrite(fd, &b, 1, (off_t)off), 1);
  close(fd);
}

/* The whole of a small file (freed by the caller). */
static char *slurp(const char *path, size_t *len) {
  FILE *f = fopen(path, "rb");
  assert_non_null(f);
  char *b = malloc(1 << 16);
  assert_non_null(b);
  *len = fread(b, 1, 1 << 16, f);
  assert_true(*len < (1 << 16));
  fclose(f);
  return b;
}

static void spit(const char *path, const char *b, size_t len) {
  FILE *f = fopen(path, "wb");
  assert_non_null(f);
  assert_int_equal(fwrite(b, 1, len, f), len);
  fclose(f);
}

static void damage_is_still_damage(void **state) {
  (void)state;
  writer_open();
  for (int i = 0; i < 8; i++) writer_commit(3000); /* a few segments */
  /* A frame larger than a segment sits alone; the next one starts a fresh
   * segment, so the last segment holds exactly two frames. */
  writer_commit(SEGMENT_SIZE);
  writer_commit(100);
  uint64_t seq = writer_active()->seq;
  uint64_t first = PB__WAL_HEADER_SIZE;
  writer_commit(100);
  assert_int_equal(writer_active()->seq, seq);
  assert_int_equal(writer_active()->frames, 2);
  uint64_t end = writer_active()->end;
  char last[512], sealed[512], gap[600], moved[620];
  snprintf(last, sizeof last, "%s", writer_active()->path);
  snprintf(sealed, sizeof sealed, "%s", writer_fs()->segs[0]->path);
  snprintf(gap, sizeof gap, "%s", writer_fs()->segs[1]->path);
  snprintf(moved, sizeof moved, "%s.moved", gap);
  uint64_t n = w.n, wl = writer_lsn();
  /* MANIFEST as a crash would leave it (the close then records the last
   * segment's end as durable). */
  char man[600];
  snprintf(man, sizeof man, "%s/MANIFEST", w.dir);
  size_t crash_len;
  char *man_crash = slurp(man, &crash_len);
  /* The writer stops (its last segment now ends at its last frame). */
  pb_db_close(w.db);
  assert_int_equal(pb_space_close(w.sp), PB_OK);
  w.sp = NULL;
  assert_int_equal(file_size(last), end);

  /* A bad frame followed by a valid one, in the last segment. */
  flip_byte(last, first + PB__FRAME_HEADER_SIZE + 30);
  snprintf(arm_path, sizeof arm_path, "%s", last);
  arm_off = first + PB__FRAME_HEADER_SIZE; /* its payload */
  reads_at = 0;
  before_pread = count_reads;
  pb_storage *st = NULL;
  assert_int_equal(reader_open(&st), PB_ECORRUPT);
  before_pread = NULL;
  assert_non_null(strstr(msg, "followed by a valid frame"));
  assert_true(reads_at > 1); /* read again, in case it was in flight */
  pb_file_options o;
  pb_file_options_init(&o);
  o.segment_size = SEGMENT_SIZE;
  assert_int_equal(pb__file_storage_open(w.dir, &o, pb__io_posix(), msg,
                                         sizeof msg, &st),
                   PB_ECORRUPT);
  assert_non_null(strstr(msg, "followed by a valid frame"));
  assert_int_equal(file_size(last), end); /* nothing cut */
  flip_byte(last, first + PB__FRAME_HEADER_SIZE + 30); /* repaired */

  /* A torn last frame after a clean close: the close recorded that frame
   * as durable, so it is damage, for both opens, and nothing is cut. */
  assert_int_equal(truncate(last, (off_t)(end - 20)), 0);
  assert_int_equal(reader_open(&st), PB_ECORRUPT);
  assert_non_null(strstr(msg, "commits are missing"));
  assert_int_equal(pb__file_storage_open(w.dir, &o, pb__io_posix(), msg,
                                         sizeof msg, &st),
                   PB_ECORRUPT);
  assert_int_equal(file_size(last), end - 20);
  /* After a crash: ignored read-only, cut by a writable open. */
  spit(man, man_crash, crash_len);
  st = must_reader_open();
  assert_int_equal(lsn_of(st), wl - 1);
  check_and_close(st, n - 1, 100);
  assert_int_equal(file_size(last), end - 20);

  /* Damage in a sealed segment: at once, without reading it again. */
  flip_byte(sealed, PB__WAL_HEADER_SIZE + PB__FRAME_HEADER_SIZE + 30);
  assert_int_equal(reader_open(&st), PB_ECORRUPT);
  assert_non_null(strstr(msg, "sealed"));
  flip_byte(sealed, PB__WAL_HEADER_SIZE + PB__FRAME_HEADER_SIZE + 30);

  /* A missing segment (a real gap: listing again finds it missing too). */
  assert_int_equal(rename(gap, moved), 0);
  assert_int_equal(reader_open(&st), PB_ECORRUPT);
  assert_non_null(strstr(msg, "missing"));
  assert_int_equal(rename(moved, gap), 0);

  /* Repaired, the store opens; a writable open cuts the torn tail. */
  st = must_reader_open();
  check_and_close(st, n - 1, 100);
  assert_int_equal(pb__file_storage_open(w.dir, &o, pb__io_posix(), msg,
                                         sizeof msg, &st),
                   PB_OK);
  assert_int_equal(lsn_of(st), wl - 1);
  assert_int_equal(pb_storage_close(st), PB_OK);
  free(man_crash);
  writer_close();
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup(trim_during_scan, setup),
      cmocka_unit_test_setup(frame_in_flight, setup),
      cmocka_unit_test_setup(compaction_deletes, setup),
      cmocka_unit_test_setup(listing_missed_a_file, setup),
      cmocka_unit_test_setup(headerless_last_segment, setup),
      cmocka_unit_test_setup(later_transactions, setup),
      cmocka_unit_test_setup(damage_is_still_damage, setup),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
