/*
 * test_storage_file.c - StandaloneFileStorage: persistence, the on-disk
 * format, compare-and-swap, rollover, recovery (torn tails are cut, damage
 * anywhere else is PB_ECORRUPT and changes nothing), versions, the lock,
 * read-only opens, durability modes, the no-mmap path, and threads.
 *
 * Every test works in its own mkdtemp directory under /tmp, which the
 * teardown removes.  The storage lives in "<tmp>/db", so opening also
 * exercises creating a missing directory.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "corrupt_detail.h"

#include <dirent.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "atom/batch.h"
#include "io/io.h"
#include "storage/file.h"
#include "storage/file_format.h"
#include "storage/storage.h"
#include "util/endian.h"

/* --- fixture: a fresh directory per test --- */

typedef struct fixture {
  char tmp[64];  /* the mkdtemp directory */
  char db[96];   /* tmp + "/db": the storage directory */
  char msg[512]; /* message of the last failed open */
} fixture;

static int setup(void **state) {
  fixture *fx = calloc(1, sizeof *fx);
  if (fx == NULL) return -1;
  strcpy(fx->tmp, "/tmp/pbst-XXXXXX");
  if (mkdtemp(fx->tmp) == NULL) return -1;
  snprintf(fx->db, sizeof fx->db, "%s/db", fx->tmp);
  *state = fx;
  return 0;
}

static void remove_tree(const char *dir) {
  DIR *d = opendir(dir);
  if (d == NULL) return;
  struct dirent *e;
  while ((e = readdir(d)) != NULL) {
    if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0) continue;
    char path[512];
    snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
    struct stat sb;
    if (lstat(path, &sb) == 0 && S_ISDIR(sb.st_mode))
      remove_tree(path);
    else
      unlink(path);
  }
  closedir(d);
  rmdir(dir);
}

static int teardown(void **state) {
  fixture *fx = *state;
  remove_tree(fx->tmp);
  free(fx);
  return 0;
}

/* --- file helpers --- */

static void seg_path(const fixture *fx, uint64_t seq, char *out, size_t n) {
  char name[25];
  pb__seg_name(seq, name);
  snprintf(out, n, "%s/%s", fx->db, name);
}

static long file_size(const char *path) {
  struct stat sb;
  return stat(path, &sb) == 0 ? (long)sb.st_size : -1;
}

static bool file_exists(const char *path) { return file_size(path) >= 0; }

static uint8_t *read_all(const char *path, size_t *len) {
  FILE *f = fopen(path, "rb");
  assert_non_null(f);
  fseek(f, 0, SEEK_END);
  long n = ftell(f);
  fseek(f, 0, SEEK_SET);
  uint8_t *buf = malloc((size_t)n + 1);
  assert_non_null(buf);
  assert_int_equal(fread(buf, 1, (size_t)n, f), (size_t)n);
  fclose(f);
  *len = (size_t)n;
  return buf;
}

static void write_all(const char *path, const void *data, size_t len) {
  FILE *f = fopen(path, "wb");
  assert_non_null(f);
  assert_int_equal(fwrite(data, 1, len, f), len);
  fclose(f);
}

/* MANIFEST of the store (file_manifest.c). */
static void man_path(const fixture *fx, char *out, size_t n) {
  snprintf(out, n, "%s/MANIFEST", fx->db);
}

/* Puts back a MANIFEST saved earlier: the one a crash would leave when
 * the commits since were never followed by a close (a close records the
 * last segment's end, and then a cut tail is damage, not a torn write). */
static void put_manifest(const fixture *fx, const uint8_t *m, size_t len) {
  char p[200];
  man_path(fx, p, sizeof p);
  write_all(p, m, len);
}

/* Reads the store's MANIFEST (freed by the caller). */
static uint8_t *get_manifest(const fixture *fx, size_t *len) {
  char p[200];
  man_path(fx, p, sizeof p);
  return read_all(p, len);
}

static void append_bytes(const char *path, const void *data, size_t len) {
  FILE *f = fopen(path, "ab");
  assert_non_null(f);
  assert_int_equal(fwrite(data, 1, len, f), len);
  fclose(f);
}

/* Where a segment's frames end, found by walking their lengths, while the
 * store may be open: what follows must be the preallocated zeros. */
static long data_end(const char *path) {
  size_t len;
  uint8_t *b = read_all(path, &len);
  size_t pos = 64;
  while (pos + 16 <= len && pb__load_le32(b + pos) != 0)
    pos += pb__frame_size(pb__load_le32(b + pos));
  assert_true(pos <= len);
  for (size_t i = pos; i < len; i++) assert_int_equal(b[i], 0);
  free(b);
  return (long)pos;
}

static void flip_byte(const char *path, long offset) {
  size_t len;
  uint8_t *b = read_all(path, &len);
  assert_true((size_t)offset < len);
  b[offset] ^= 0x40;
  write_all(path, b, len);
  free(b);
}

static int count_segments(const fixture *fx) {
  int n = 0;
  DIR *d = opendir(fx->db);
  assert_non_null(d);
  struct dirent *e;
  uint64_t seq;
  while ((e = readdir(d)) != NULL)
    if (pb__seg_parse_name(e->d_name, &seq)) n++;
  closedir(d);
  return n;
}

/* --- storage helpers --- */

static pb_file_options opts_with(uint64_t segment_size, pb_durability dur,
                                 bool read_only) {
  pb_file_options o;
  pb_file_options_init(&o);
  if (segment_size) o.segment_size = segment_size;
  o.durability = dur;
  o.read_only = read_only;
  return o;
}

/* Opens through `io`; keeps the failure message in fx->msg. */
static int open_io(fixture *fx, const pb_file_options *o, const pb__io *io,
                   pb_storage **st) {
  return pb__file_storage_open(fx->db, o, io, fx->msg, sizeof fx->msg, st);
}

static int open_st(fixture *fx, const pb_file_options *o, pb_storage **st) {
  return open_io(fx, o, pb__io_posix(), st);
}

static pb_storage *must_open(fixture *fx, const pb_file_options *o) {
  pb_storage *st = NULL;
  int rc = open_st(fx, o, &st);
  if (rc != PB_OK) print_error("open: %d: %s\n", rc, fx->msg);
  assert_int_equal(rc, PB_OK);
  return st;
}

/* The text of atom i of commit c into buf[160]: 20..149 recognizable
 * bytes, so batches have varying lengths. */
static size_t atom_text(int c, int i, char *buf) {
  unsigned uc = (unsigned)c, ui = (unsigned)i;
  size_t len = 20 + (uc * 7 + ui * 13) % 130;
  for (size_t k = 0; k < len; k++) buf[k] = (char)('a' + (uc + ui + k) % 26);
  char head[20];
  int n = snprintf(head, sizeof head, "c%u-a%u:", uc % 1000, ui % 1000);
  memcpy(buf, head, (size_t)n);
  return len;
}

#define MAX_COMMITS 64
#define MAX_ATOMS 8

/* What the tests committed, to check against after reopening. */
typedef struct history {
  pb_atom_ptr ptr[MAX_COMMITS][MAX_ATOMS]; /* pointers per commit */
  int natoms[MAX_COMMITS];                 /* atoms per commit */
  int n;                                   /* commits recorded */
} history;

/* Commits one batch of `natoms` atoms for commit number h->n, on the
 * current root, publishing its last atom as the root.  Returns the rc. */
static int commit_one(pb_storage *st, history *h, int natoms) {
  assert_true(h->n < MAX_COMMITS && natoms <= MAX_ATOMS && natoms > 0);
  int c = h->n;
  pb__batch_builder bb;
  assert_int_equal(pb__batch_init(&bb), PB_OK);
  for (int i = 0; i < natoms; i++) {
    char buf[160];
    size_t len = atom_text(c, i, buf);
    assert_int_equal(pb__batch_add(&bb, buf, len, &h->ptr[c][i]), PB_OK);
  }
  pb_atom_ptr root;
  uint64_t lsn;
  assert_int_equal(st->ops->read_root(st, &root, &lsn), PB_OK);
  pb__batch b = {.id_hi = bb.id_hi, .id_lo = bb.id_lo,
                 .data = bb.buf.data, .size = bb.buf.len};
  uint64_t new_lsn = 0;
  int rc = st->ops->commit(st, &b, root, h->ptr[c][natoms - 1], &new_lsn);
  pb__batch_free(&bb);
  if (rc == PB_OK) {
    assert_int_equal(new_lsn, lsn + 1);
    h->natoms[c] = natoms;
    h->n++;
  }
  return rc;
}

static void commit_many(pb_storage *st, history *h, int count, int natoms) {
  for (int i = 0; i < count; i++)
    assert_int_equal(commit_one(st, h, natoms), PB_OK);
}

/* Checks root, LSN and every atom of the first `upto` commits. */
static void verify(pb_storage *st, const history *h, int upto) {
  pb_atom_ptr root;
  uint64_t lsn;
  assert_int_equal(st->ops->read_root(st, &root, &lsn), PB_OK);
  assert_int_equal(lsn, (uint64_t)upto);
  if (upto == 0)
    assert_true(pb_atom_ptr_is_null(root));
  else
    assert_true(
        pb_atom_ptr_equal(root, h->ptr[upto - 1][h->natoms[upto - 1] - 1]));
  for (int c = 0; c < upto; c++) {
    for (int i = 0; i < h->natoms[c]; i++) {
      char buf[160];
      size_t len = atom_text(c, i, buf);
      pb_bytes v;
      assert_int_equal(st->ops->read_atom(st, h->ptr[c][i], &v), PB_OK);
      assert_int_equal(v.len, len);
      assert_memory_equal(v.ptr, buf, len);
    }
  }
}

/* Checks that no atom of commits [from, to) is readable. */
static void verify_absent(pb_storage *st, const history *h, int from,
                          int to) {
  for (int c = from; c < to; c++) {
    pb_bytes v;
    assert_int_equal(st->ops->read_atom(st, h->ptr[c][0], &v), PB_ENOTFOUND);
  }
}

/* --- tests --- */

/* Several commits survive close and reopen, bit for bit. */
static void test_reopen_roundtrip(void **state) {
  fixture *fx = *state;
  pb_file_options o = opts_with(0, PB_DURABILITY_SYNC, false);
  history h = {0};
  pb_storage *st = must_open(fx, &o);
  verify(st, &h, 0);
  commit_many(st, &h, 10, 5);
  verify(st, &h, 10);
  assert_int_equal(pb_storage_close(st), PB_OK);
  st = must_open(fx, &o);
  verify(st, &h, 10);
  commit_many(st, &h, 3, 2); /* and it goes on after a reopen */
  assert_int_equal(pb_storage_close(st), PB_OK);
  st = must_open(fx, &o);
  verify(st, &h, 13);
  assert_int_equal(pb_storage_close(st), PB_OK);
  assert_int_equal(count_segments(fx), 1);
}

/* The bytes on disk are the documented format (docs/storage.md). */
static void test_format_bytes(void **state) {
  fixture *fx = *state;
  pb_file_options o = opts_with(0, PB_DURABILITY_SYNC, false);
  history h = {0};
  pb_storage *st = must_open(fx, &o);
  commit_many(st, &h, 1, 1);
  pb_storage_close(st);
  char path[160];
  seg_path(fx, 1, path, sizeof path);
  size_t len;
  uint8_t *b = read_all(path, &len);
  assert_memory_equal(b, "PBWAL\r\n\x1a", 8);
  assert_int_equal(pb__load_le32(b + 8), 1);   /* version */
  assert_int_equal(pb__load_le32(b + 12), 64); /* header size */
  assert_int_equal(pb__load_le64(b + 16), 1);  /* sequence number */
  assert_int_equal(pb__load_le64(b + 40) | pb__load_le64(b + 48), 0);
  char atom[160];
  size_t alen = atom_text(0, 0, atom);
  uint32_t batch = (uint32_t)(4 + alen);
  const uint8_t *fr = b + 64;
  assert_int_equal(pb__load_le32(fr), 80 + batch); /* payload length */
  assert_int_equal(fr[4], 1);                      /* COMMIT */
  assert_int_equal(fr[5] | fr[6] | fr[7], 0);
  assert_int_equal(pb__load_le64(fr + 8),
                   pb__frame_checksum(fr, fr + 16, 80 + batch));
  const uint8_t *cr = fr + 16;
  assert_int_equal(pb__load_le64(cr), 1); /* LSN */
  assert_int_equal(pb__load_le64(cr + 8), h.ptr[0][0].batch_hi);
  assert_int_equal(pb__load_le64(cr + 16), h.ptr[0][0].batch_lo);
  assert_int_equal(pb__load_le64(cr + 40), 0);      /* root offset */
  assert_int_equal(pb__load_le64(cr + 48) | pb__load_le64(cr + 56) |
                       pb__load_le64(cr + 64), 0); /* previous root: null */
  assert_int_equal(pb__load_le64(cr + 72), batch);
  assert_int_equal(pb__load_le32(cr + 80), alen);
  assert_memory_equal(cr + 84, atom, alen);
  assert_int_equal(len, 64 + pb__frame_size(80 + batch));
  assert_int_equal(len % 8, 0);
  free(b);
}

/* A refused commit (conflict, duplicate id, dangling root) writes nothing. */
static void test_cas_conflict_writes_nothing(void **state) {
  fixture *fx = *state;
  pb_file_options o = opts_with(0, PB_DURABILITY_SYNC, false);
  history h = {0};
  pb_storage *st = must_open(fx, &o);
  commit_many(st, &h, 2, 3);
  char path[160];
  seg_path(fx, 1, path, sizeof path);
  long before = data_end(path);

  pb__batch_builder bb;
  assert_int_equal(pb__batch_init(&bb), PB_OK);
  pb_atom_ptr p;
  assert_int_equal(pb__batch_add(&bb, "late", 4, &p), PB_OK);
  pb__batch b = {.id_hi = bb.id_hi, .id_lo = bb.id_lo,
                 .data = bb.buf.data, .size = bb.buf.len};
  /* Built on commit 1's root, but commit 2 is current. */
  assert_int_equal(st->ops->commit(st, &b, h.ptr[0][2], p, NULL),
                   PB_ECONFLICT);
  assert_int_equal(data_end(path), before);
  pb_atom_ptr dangling = {1, 1, 0};
  assert_int_equal(st->ops->commit(st, &b, h.ptr[1][2], dangling, NULL),
                   PB_EINVAL);
  assert_int_equal(data_end(path), before);
  pb_bytes v;
  assert_int_equal(st->ops->read_atom(st, p, &v), PB_ENOTFOUND);
  verify(st, &h, 2);
  /* Rebased, it commits; the same batch id again is refused. */
  assert_int_equal(st->ops->commit(st, &b, h.ptr[1][2], p, NULL), PB_OK);
  long after = data_end(path);
  assert_true(after > before);
  assert_int_equal(st->ops->commit(st, &b, p, p, NULL), PB_EEXIST);
  assert_int_equal(data_end(path), after);
  pb__batch_free(&bb);
  pb_storage_close(st);
}

/* The end offsets of a segment's frames, found by walking their lengths. */
static int frame_ends(const char *path, long *ends, int max) {
  size_t len;
  uint8_t *b = read_all(path, &len);
  int n = 0;
  size_t pos = 64;
  while (pos + 16 <= len && n < max) {
    pos += pb__frame_size(pb__load_le32(b + pos));
    ends[n++] = (long)pos;
  }
  free(b);
  return n;
}

/* A tiny segment_size spreads commits over many segments; all survive. */
static void test_rollover(void **state) {
  fixture *fx = *state;
  pb_file_options o = opts_with(512, PB_DURABILITY_SYNC, false);
  history h = {0};
  pb_storage *st = must_open(fx, &o);
  commit_many(st, &h, 20, 3);
  verify(st, &h, 20);
  pb_storage_close(st);
  int nseg = count_segments(fx);
  assert_true(nseg >= 5);
  for (int s = 1; s <= nseg; s++) {
    char path[160];
    seg_path(fx, (uint64_t)s, path, sizeof path);
    long ends[MAX_COMMITS];
    int frames = frame_ends(path, ends, MAX_COMMITS);
    assert_true(frames >= 1);
    /* A segment takes a second frame only while it stays <= 512 bytes. */
    if (frames > 1) assert_true(file_size(path) <= 512);
    assert_int_equal(file_size(path), ends[frames - 1]);
  }
  st = must_open(fx, &o);
  verify(st, &h, 20);
  /* A batch larger than segment_size goes alone into a fresh segment. */
  commit_many(st, &h, 1, 8);
  h.natoms[h.n - 1] = 8;
  pb_storage_close(st);
  assert_int_equal(count_segments(fx), nseg + 1);
  st = must_open(fx, &o);
  verify(st, &h, 21);
  commit_many(st, &h, 5, 2);
  pb_storage_close(st);
  st = must_open(fx, &o);
  verify(st, &h, 26);
  pb_storage_close(st);
}

/* Cutting the last commit at every byte offset reopens at the previous
 * commit, cuts the file back, and takes new commits after it. */
static void test_torn_tail_every_offset(void **state) {
  fixture *fx = *state;
  pb_file_options o = opts_with(0, PB_DURABILITY_SYNC, false);
  history h = {0};
  pb_storage *st = must_open(fx, &o);
  size_t mlen;
  uint8_t *man = get_manifest(fx, &mlen); /* as a crash would leave it */
  commit_many(st, &h, 3, 3);
  pb_storage_close(st);
  char path[160];
  seg_path(fx, 1, path, sizeof path);
  long ends[8];
  assert_int_equal(frame_ends(path, ends, 8), 3);
  size_t len;
  uint8_t *orig = read_all(path, &len);
  assert_int_equal((long)len, ends[2]);
  for (long cut = ends[1]; cut < ends[2]; cut++) {
    write_all(path, orig, (size_t)cut);
    put_manifest(fx, man, mlen);
    st = must_open(fx, &o);
    verify(st, &h, 2);
    verify_absent(st, &h, 2, 3);
    assert_int_equal(file_size(path), ends[1]); /* the tail was cut */
    if (cut % 37 == 0 || cut == ends[2] - 1) {
      history h2 = h;
      h2.n = 2;
      assert_int_equal(commit_one(st, &h2, 2), PB_OK);
      pb_storage_close(st);
      st = must_open(fx, &o);
      verify(st, &h2, 3);
    }
    pb_storage_close(st);
  }
  free(orig);
  free(man);
}

/* Garbage or zeros after the last commit, or over its tail, is a torn
 * tail: cut, and the commits before it stay. */
static void test_torn_tail_garbage(void **state) {
  fixture *fx = *state;
  pb_file_options o = opts_with(0, PB_DURABILITY_SYNC, false);
  history h = {0};
  pb_storage *st = must_open(fx, &o);
  size_t mlen;
  uint8_t *man = get_manifest(fx, &mlen); /* as a crash would leave it */
  commit_many(st, &h, 3, 4);
  pb_storage_close(st);
  char path[160];
  seg_path(fx, 1, path, sizeof path);
  long ends[8];
  assert_int_equal(frame_ends(path, ends, 8), 3);
  size_t len;
  uint8_t *orig = read_all(path, &len);
  uint8_t junk[4096];
  srand(12345);

  /* Appended random bytes, then appended zeros: all three commits stay. */
  for (size_t i = 0; i < sizeof junk; i++) junk[i] = (uint8_t)rand();
  append_bytes(path, junk, 333);
  put_manifest(fx, man, mlen);
  st = must_open(fx, &o);
  verify(st, &h, 3);
  pb_storage_close(st);
  assert_int_equal(file_size(path), ends[2]);
  memset(junk, 0, sizeof junk);
  append_bytes(path, junk, sizeof junk);
  put_manifest(fx, man, mlen);
  st = must_open(fx, &o);
  verify(st, &h, 3);
  pb_storage_close(st);
  assert_int_equal(file_size(path), ends[2]);

  /* The last frame's second half overwritten: zeros, then random bytes. */
  for (int pass = 0; pass < 2; pass++) {
    uint8_t *b = malloc(len);
    memcpy(b, orig, len);
    long mid = (ends[1] + ends[2]) / 2;
    for (long k = mid; k < ends[2]; k++) b[k] = pass ? (uint8_t)rand() : 0;
    write_all(path, b, len);
    free(b);
    put_manifest(fx, man, mlen);
    st = must_open(fx, &o);
    verify(st, &h, 2);
    pb_storage_close(st);
    assert_int_equal(file_size(path), ends[1]);
  }
  free(orig);
  free(man);
}

/* A damaged frame with a valid frame after it is PB_ECORRUPT, names the
 * segment and offset, and leaves the file exactly as it was. */
static void test_flip_in_middle_is_corrupt(void **state) {
  fixture *fx = *state;
  pb_file_options o = opts_with(0, PB_DURABILITY_SYNC, false);
  history h = {0};
  pb_storage *st = must_open(fx, &o);
  commit_many(st, &h, 3, 3);
  pb_storage_close(st);
  char path[160];
  seg_path(fx, 1, path, sizeof path);
  long ends[8];
  assert_int_equal(frame_ends(path, ends, 8), 3);
  size_t len;
  uint8_t *orig = read_all(path, &len);

  /* Byte offsets to damage: commit 1's batch, its checksum, commit 2's
   * length field (which hides where commit 3 starts), commit 2's LSN. */
  const long spots[] = {64 + 16 + 80 + 6, 64 + 9, ends[0] + 1, ends[0] + 16};
  const long frame_at[] = {64, 64, ends[0], ends[0]};
  for (size_t s = 0; s < sizeof spots / sizeof spots[0]; s++) {
    write_all(path, orig, len);
    flip_byte(path, spots[s]);
    size_t blen;
    uint8_t *before = read_all(path, &blen);
    pb_storage *bad = NULL;
    assert_corrupt(open_st(fx, &o, &bad), PB_AT_FILE);
    assert_null(bad);
    char where[64];
    snprintf(where, sizeof where, "offset %ld", frame_at[s]);
    assert_non_null(strstr(fx->msg, "seg-0000000000000001.wal"));
    assert_non_null(strstr(fx->msg, where));
    assert_non_null(strstr(pb_errdetail(), "seg-0000000000000001.wal"));
    assert_non_null(strstr(pb_errdetail(), where));
    size_t alen;
    uint8_t *after = read_all(path, &alen);
    assert_int_equal(alen, blen); /* not truncated */
    assert_memory_equal(after, before, blen);
    free(after);
    free(before);
    /* A read-only open refuses it too. */
    pb_file_options ro = opts_with(0, PB_DURABILITY_SYNC, true);
    assert_corrupt(open_st(fx, &ro, &bad), PB_AT_FILE);
  }
  free(orig);
}

/* Damage at the end of a sealed segment is never cut. */
static void test_sealed_segment_never_cut(void **state) {
  fixture *fx = *state;
  pb_file_options o = opts_with(512, PB_DURABILITY_SYNC, false);
  history h = {0};
  pb_storage *st = must_open(fx, &o);
  commit_many(st, &h, 10, 3);
  pb_storage_close(st);
  assert_true(count_segments(fx) >= 3);
  char path[160];
  seg_path(fx, 1, path, sizeof path);
  long size = file_size(path);
  flip_byte(path, size - 12); /* inside its last frame */
  pb_storage *bad = NULL;
  assert_corrupt(open_st(fx, &o, &bad), PB_AT_FILE);
  assert_non_null(strstr(fx->msg, "seg-0000000000000001.wal"));
  assert_non_null(strstr(fx->msg, "sealed"));
  assert_int_equal(file_size(path), size);
  /* A sealed segment cut short is corrupt as well. */
  flip_byte(path, size - 12);
  assert_int_equal(truncate(path, size - 3), 0);
  assert_corrupt(open_st(fx, &o, &bad), PB_AT_FILE);
  assert_int_equal(file_size(path), size - 3);
}

/* An unknown format version is PB_EVERSION with a clear message; a bad
 * magic is PB_ECORRUPT; neither file is touched. */
static void test_version_and_magic(void **state) {
  fixture *fx = *state;
  pb_file_options o = opts_with(0, PB_DURABILITY_SYNC, false);
  history h = {0};
  pb_storage *st = must_open(fx, &o);
  commit_many(st, &h, 2, 2);
  pb_storage_close(st);
  char path[160];
  seg_path(fx, 1, path, sizeof path);
  size_t len;
  uint8_t *orig = read_all(path, &len);
  uint8_t *b = malloc(len);
  memcpy(b, orig, len);
  pb__store_le32(b + 8, 99);
  write_all(path, b, len);
  pb_storage *bad = NULL;
  assert_int_equal(open_st(fx, &o, &bad), PB_EVERSION);
  assert_non_null(strstr(fx->msg, "version 99"));
  assert_non_null(strstr(fx->msg, "seg-0000000000000001.wal"));
  pb_file_options ro = opts_with(0, PB_DURABILITY_SYNC, true);
  assert_int_equal(open_st(fx, &ro, &bad), PB_EVERSION);
  assert_int_equal(file_size(path), (long)len);

  memcpy(b, orig, len);
  b[0] = 'X';
  write_all(path, b, len);
  assert_corrupt(open_st(fx, &o, &bad), PB_AT_FILE);
  assert_non_null(strstr(fx->msg, "magic"));
  memcpy(b, orig, len);
  b[20] ^= 1; /* the sequence number, under the header checksum */
  write_all(path, b, len);
  assert_corrupt(open_st(fx, &o, &bad), PB_AT_FILE);
  assert_non_null(strstr(fx->msg, "checksum"));
  free(b);
  free(orig);
}

/* A missing segment, or a header naming the wrong predecessor, is
 * PB_ECORRUPT. */
static void test_segment_chain(void **state) {
  fixture *fx = *state;
  pb_file_options o = opts_with(512, PB_DURABILITY_SYNC, false);
  history h = {0};
  pb_storage *st = must_open(fx, &o);
  commit_many(st, &h, 10, 3);
  pb_storage_close(st);
  assert_true(count_segments(fx) >= 3);
  char p2[160], p3[160];
  seg_path(fx, 2, p2, sizeof p2);
  seg_path(fx, 3, p3, sizeof p3);
  size_t len2, len3;
  uint8_t *s2 = read_all(p2, &len2);
  uint8_t *s3 = read_all(p3, &len3);
  /* Segment 3 in place of segment 2: its previous id does not match. */
  write_all(p2, s3, len3);
  pb_storage *bad = NULL;
  assert_corrupt(open_st(fx, &o, &bad), PB_AT_FILE);
  write_all(p2, s2, len2);
  unlink(p2);
  assert_corrupt(open_st(fx, &o, &bad), PB_AT_FILE);
  assert_non_null(strstr(fx->msg, "seg-0000000000000002.wal is missing"));
  write_all(p2, s2, len2);
  st = must_open(fx, &o);
  verify(st, &h, 10);
  pb_storage_close(st);
  free(s2);
  free(s3);
}

/* A segment whose creation was cut by a crash (no or torn header) is
 * removed by a writable open and ignored by a read-only one. */
static void test_torn_segment_creation(void **state) {
  fixture *fx = *state;
  pb_file_options o = opts_with(0, PB_DURABILITY_SYNC, false);
  pb_file_options ro = opts_with(0, PB_DURABILITY_SYNC, true);
  history h = {0};
  pb_storage *st = must_open(fx, &o);
  commit_many(st, &h, 2, 2);
  pb_storage_close(st);
  char p1[160], p2[160];
  seg_path(fx, 1, p1, sizeof p1);
  seg_path(fx, 2, p2, sizeof p2);
  size_t len1;
  uint8_t *s1 = read_all(p1, &len1);
  /* Torn forms: empty, a header prefix, and a full-size zero header. */
  const size_t sizes[] = {0, 30, 64};
  for (int k = 0; k < 3; k++) {
    uint8_t head[64] = {0};
    if (k < 2) memcpy(head, s1, 64); /* a prefix of a real header */
    write_all(p2, head, sizes[k]);
    st = must_open(fx, &ro);
    verify(st, &h, 2);
    pb_storage_close(st);
    assert_true(file_exists(p2));
    st = must_open(fx, &o);
    verify(st, &h, 2);
    assert_false(file_exists(p2));
    pb_storage_close(st);
  }
  free(s1);
  /* Segment 1 takes appends again, and rollover recreates segment 2. */
  o.segment_size = 256;
  st = must_open(fx, &o);
  commit_many(st, &h, 2, 2);
  pb_storage_close(st);
  assert_true(file_exists(p2));
  o = opts_with(0, PB_DURABILITY_SYNC, false);
  st = must_open(fx, &o);
  verify(st, &h, 4);
  pb_storage_close(st);
}

/* Views stay valid when the active segment is mapped again, larger. */
static void test_views_survive_remap(void **state) {
  fixture *fx = *state;
  pb_file_options small = opts_with(512, PB_DURABILITY_SYNC, false);
  history h = {0};
  pb_storage *st = must_open(fx, &small);
  commit_many(st, &h, 6, 3);
  pb_storage_close(st);
  assert_true(count_segments(fx) >= 2);
  /* Remove the last segment's frames so it looks torn at creation: the
   * one before it becomes active again, with an exact-size mapping. */
  int n = count_segments(fx);
  char last[160];
  seg_path(fx, (uint64_t)n, last, sizeof last);
  size_t len;
  uint8_t *b = read_all(last, &len);
  write_all(last, b, 10);
  free(b);
  /* A crash during that creation leaves a MANIFEST that does not name the
   * new segment yet; without one (a store from before MANIFEST) it is
   * the same case. */
  char mp[200];
  man_path(fx, mp, sizeof mp);
  assert_int_equal(unlink(mp), 0);
  pb_file_options big = opts_with(1u << 20, PB_DURABILITY_SYNC, false);
  st = must_open(fx, &big);
  pb_atom_ptr root;
  uint64_t lsn;
  st->ops->read_root(st, &root, &lsn);
  assert_true(lsn >= 1 && lsn < 6);
  pb_bytes view;
  assert_int_equal(st->ops->read_atom(st, root, &view), PB_OK);
  char copy[160];
  memcpy(copy, view.ptr, view.len);
  history h2 = h;
  h2.n = (int)lsn;
  commit_many(st, &h2, 5, 4); /* appends to the remapped segment */
  const pb__file_storage *fs = (const pb__file_storage *)st;
  assert_int_equal(fs->n_segs, (size_t)n - 1);
  assert_true(fs->segs[fs->n_segs - 1]->n_retired >= 1); /* it did remap */
  assert_memory_equal(view.ptr, copy, view.len);
  verify(st, &h2, (int)lsn + 5);
  pb_storage_close(st);
}

/* A second writable open gets PB_ELOCKED, in this process too; a
 * read-only open does not take the lock. */
static void test_lock(void **state) {
  fixture *fx = *state;
  pb_file_options o = opts_with(0, PB_DURABILITY_SYNC, false);
  pb_file_options ro = opts_with(0, PB_DURABILITY_SYNC, true);
  history h = {0};
  pb_storage *st = must_open(fx, &o);
  commit_many(st, &h, 1, 1);
  pb_storage *second = NULL;
  assert_int_equal(open_st(fx, &o, &second), PB_ELOCKED);
  assert_null(second);
  assert_non_null(strstr(fx->msg, "LOCK"));
  assert_int_equal(pb_storage_open_file(fx->db, &o, &second), PB_ELOCKED);
  pb_storage *reader = must_open(fx, &ro);
  verify(reader, &h, 1);
  pb_storage_close(reader);
  pb_storage_close(st);
  second = must_open(fx, &o); /* the lock went with the first handle */
  verify(second, &h, 1);
  pb_storage_close(second);
}

/* Read-only: sees the data, refuses commits, changes no file, and needs
 * the directory to exist. */
static void test_read_only(void **state) {
  fixture *fx = *state;
  pb_file_options o = opts_with(0, PB_DURABILITY_SYNC, false);
  pb_file_options ro = opts_with(0, PB_DURABILITY_SYNC, true);
  pb_storage *st = NULL;
  assert_int_equal(open_st(fx, &ro, &st), PB_ENOTFOUND);
  history h = {0};
  st = must_open(fx, &o);
  commit_many(st, &h, 3, 2);
  pb_storage_close(st);
  char path[160];
  seg_path(fx, 1, path, sizeof path);
  long size = file_size(path);
  append_bytes(path, "torn", 4);
  st = must_open(fx, &ro);
  assert_true(st->read_only);
  verify(st, &h, 3);
  pb__batch_builder bb;
  assert_int_equal(pb__batch_init(&bb), PB_OK);
  pb_atom_ptr p;
  pb__batch_add(&bb, "x", 1, &p);
  pb__batch b = {.id_hi = bb.id_hi, .id_lo = bb.id_lo,
                 .data = bb.buf.data, .size = bb.buf.len};
  pb_atom_ptr root;
  st->ops->read_root(st, &root, NULL);
  assert_int_equal(st->ops->commit(st, &b, root, p, NULL), PB_ERDONLY);
  assert_int_equal(st->ops->flush(st), PB_OK);
  pb__batch_free(&bb);
  pb_storage_close(st);
  assert_int_equal(file_size(path), size + 4); /* the tail was not cut */
  char lock[160];
  snprintf(lock, sizeof lock, "%s/LOCK", fx->db);
  assert_true(file_exists(lock)); /* created by the writer, not by us */
}

/* NONE and GROUP commits reopen fine after a clean close. */
static void test_durability_modes(void **state) {
  fixture *fx = *state;
  const pb_durability modes[] = {PB_DURABILITY_NONE, PB_DURABILITY_GROUP};
  history h = {0};
  for (int m = 0; m < 2; m++) {
    pb_file_options o = opts_with(700, modes[m], false);
    pb_storage *st = must_open(fx, &o);
    commit_many(st, &h, 8, 3); /* crosses rollovers */
    assert_int_equal(st->ops->flush(st), PB_OK);
    commit_many(st, &h, 2, 1);
    assert_int_equal(pb_storage_close(st), PB_OK);
    st = must_open(fx, &o);
    verify(st, &h, h.n);
    pb_storage_close(st);
  }
}

/* An I/O layer without mmap: views point into heap copies. */
static void test_without_mmap(void **state) {
  fixture *fx = *state;
  pb__io io = *pb__io_posix();
  io.name = "posix-nomap";
  io.map = NULL;
  io.unmap = NULL;
  pb_file_options o = opts_with(600, PB_DURABILITY_SYNC, false);
  history h = {0};
  pb_storage *st = NULL;
  assert_int_equal(open_io(fx, &o, &io, &st), PB_OK);
  commit_many(st, &h, 12, 4);
  verify(st, &h, 12);
  pb_storage_close(st);
  assert_int_equal(open_io(fx, &o, &io, &st), PB_OK);
  verify(st, &h, 12);
  commit_many(st, &h, 2, 2);
  pb_storage_close(st);
  st = must_open(fx, &o); /* and the mmap path reads the same files */
  verify(st, &h, 14);
  pb_storage_close(st);
}

/* A multi-MiB batch as the very first commit, larger than segment_size:
 * it goes alone into segment 1, and the next commit rolls over. */
static void test_large_batch(void **state) {
  fixture *fx = *state;
  pb_file_options o = opts_with(4096, PB_DURABILITY_SYNC, false);
  pb_storage *st = must_open(fx, &o);
  size_t big = 3u << 20;
  uint8_t *data = malloc(big);
  assert_non_null(data);
  for (size_t i = 0; i < big; i++) data[i] = (uint8_t)(i * 31 + 7);
  pb__batch_builder bb;
  assert_int_equal(pb__batch_init(&bb), PB_OK);
  pb_atom_ptr p, q;
  assert_int_equal(pb__batch_add(&bb, data, big, &p), PB_OK);
  assert_int_equal(pb__batch_add(&bb, "tail", 4, &q), PB_OK);
  pb__batch b = {.id_hi = bb.id_hi, .id_lo = bb.id_lo,
                 .data = bb.buf.data, .size = bb.buf.len};
  pb_atom_ptr none = {0, 0, 0};
  assert_int_equal(st->ops->commit(st, &b, none, p, NULL), PB_OK);
  pb__batch_free(&bb);
  pb_bytes v;
  assert_int_equal(st->ops->read_atom(st, p, &v), PB_OK);
  assert_int_equal(v.len, big);
  assert_memory_equal(v.ptr, data, big);
  pb_atom_ptr root;
  st->ops->read_root(st, &root, NULL);
  assert_true(pb_atom_ptr_equal(root, p));
  pb__batch_builder b2;
  assert_int_equal(pb__batch_init(&b2), PB_OK);
  pb_atom_ptr r;
  assert_int_equal(pb__batch_add(&b2, "small", 5, &r), PB_OK);
  pb__batch small = {.id_hi = b2.id_hi, .id_lo = b2.id_lo,
                     .data = b2.buf.data, .size = b2.buf.len};
  assert_int_equal(st->ops->commit(st, &small, p, r, NULL), PB_OK);
  pb__batch_free(&b2);
  pb_storage_close(st);
  assert_int_equal(count_segments(fx), 2);
  st = must_open(fx, &o);
  assert_int_equal(st->ops->read_atom(st, p, &v), PB_OK);
  assert_int_equal(v.len, big);
  assert_memory_equal(v.ptr, data, big);
  assert_int_equal(st->ops->read_atom(st, q, &v), PB_OK);
  assert_memory_equal(v.ptr, "tail", 4);
  uint64_t lsn;
  st->ops->read_root(st, &root, &lsn);
  assert_true(pb_atom_ptr_equal(root, r));
  assert_int_equal(lsn, 2);
  pb_storage_close(st);
  free(data);
}

/* --- write failures, through a minimal wrapper of the POSIX layer (the
 * full fault injector of issue 4 will replace it) --- */

typedef struct failing {
  int pwrite_errno;   /* errno for the next pwrite, after a partial write */
  int datasync_errno; /* errno for the next datasync */
  int datasyncs;      /* datasync calls seen */
} failing;

static int failing_pwrite(pb__file *f, const void *buf, size_t size,
                          uint64_t off) {
  failing *fl = f->io->ctx;
  if (fl->pwrite_errno) {
    pb__io_posix()->pwrite(f, buf, size / 2, off); /* lands partially */
    errno = fl->pwrite_errno;
    fl->pwrite_errno = 0;
    return pb__io_errno_to_code(errno);
  }
  return pb__io_posix()->pwrite(f, buf, size, off);
}

static int failing_datasync(pb__file *f) {
  failing *fl = f->io->ctx;
  fl->datasyncs++;
  if (fl->datasync_errno) {
    errno = fl->datasync_errno;
    fl->datasync_errno = 0;
    return PB_EIO;
  }
  return pb__io_posix()->datasync(f);
}

/* The POSIX pwritev: pieces (an empty one among them, a large one that
 * the kernel may write in parts) land back to back; the fallback of a
 * layer without pwritev (one pwrite per piece) writes the same bytes. */
static void test_posix_pwritev(void **state) {
  fixture *fx = *state;
  enum { BIG = 300000 };
  uint8_t *big = malloc(BIG);
  assert_non_null(big);
  for (size_t k = 0; k < BIG; k++) big[k] = (uint8_t)(k * 7 + 1);
  pb__io nov = *pb__io_posix();
  nov.pwritev = NULL;
  const pb__io *ios[2] = {pb__io_posix(), &nov};
  for (int w = 0; w < 2; w++) {
    char path[160];
    snprintf(path, sizeof path, "%s/v%d", fx->tmp, w);
    pb__file *f;
    assert_int_equal(ios[w]->open(ios[w], path, PB__IO_WRITE | PB__IO_CREATE,
                                  &f),
                     PB_OK);
    pb__iovec iov[4] = {{"head", 4}, {"", 0}, {big, BIG}, {"tail", 4}};
    assert_int_equal(pb__io_pwritev(f, iov, 4, 10), PB_OK);
    uint64_t size;
    assert_int_equal(pb__io_size(f, &size), PB_OK);
    assert_int_equal(size, 10 + 4 + BIG + 4);
    uint8_t *back = malloc(BIG + 8);
    assert_non_null(back);
    assert_int_equal(pb__io_pread_full(f, back, BIG + 8, 10), PB_OK);
    assert_memory_equal(back, "head", 4);
    assert_memory_equal(back + 4, big, BIG);
    assert_memory_equal(back + 4 + BIG, "tail", 4);
    free(back);
    assert_int_equal(pb__io_close(f), PB_OK);
    unlink(path);
  }
  free(big);
}

static void test_write_failures(void **state) {
  fixture *fx = *state;
  failing fl = {0};
  pb__io io = *pb__io_posix();
  io.name = "failing";
  io.ctx = &fl;
  io.pwrite = failing_pwrite;
  io.pwritev = NULL; /* gathered writes go through failing_pwrite too */
  io.datasync = failing_datasync;
  pb_file_options o = opts_with(0, PB_DURABILITY_SYNC, false);
  history h = {0};
  pb_storage *st = NULL;
  assert_int_equal(open_io(fx, &o, &io, &st), PB_OK);
  commit_many(st, &h, 2, 3);
  char path[160];
  seg_path(fx, 1, path, sizeof path);
  long size = data_end(path);

  /* One SYNC commit costs exactly one fdatasync. */
  fl.datasyncs = 0;
  commit_many(st, &h, 1, 2);
  assert_int_equal(fl.datasyncs, 1);
  size = data_end(path);

  /* ENOSPC: the commit fails cleanly, the partial frame is cut back, and
   * the store goes on. */
  fl.pwrite_errno = ENOSPC;
  history h2 = h;
  assert_int_equal(commit_one(st, &h2, 3), PB_ENOSPC);
  assert_int_equal(data_end(path), size);
  char msg[512];
  pb__storage_errmsg(st, msg, sizeof msg);
  assert_non_null(strstr(msg, "No space left"));
  verify(st, &h, 3);
  commit_many(st, &h, 1, 2);
  verify(st, &h, 4);

  /* EIO from fdatasync: the commit fails, is not published, and the store
   * refuses writes until reopened. */
  fl.datasync_errno = EIO;
  h2 = h;
  assert_int_equal(commit_one(st, &h2, 2), PB_EIO);
  verify(st, &h, 4);
  assert_int_equal(commit_one(st, &h2, 2), PB_EFAILED);
  pb__storage_errmsg(st, msg, sizeof msg);
  assert_non_null(strstr(msg, "reopen"));
  pb_storage_close(st);
  /* After a reopen the unacknowledged commit may be there (its bytes did
   * reach the file here); everything acknowledged is. */
  st = must_open(fx, &o);
  pb_atom_ptr root;
  uint64_t lsn;
  st->ops->read_root(st, &root, &lsn);
  assert_true(lsn == 4 || lsn == 5);
  for (int c = 0; c < 4; c++) {
    pb_bytes v;
    assert_int_equal(st->ops->read_atom(st, h.ptr[c][0], &v), PB_OK);
  }
  pb_storage_close(st);
}

/* Bad arguments. */
static void test_bad_args(void **state) {
  fixture *fx = *state;
  pb_file_options o = opts_with(0, PB_DURABILITY_SYNC, false);
  pb_storage *st = NULL;
  assert_int_equal(pb_storage_open_file(fx->db, &o, NULL), PB_EINVAL);
  assert_int_equal(pb_storage_open_file(NULL, &o, &st), PB_EINVAL);
  assert_int_equal(pb_storage_open_file("", &o, &st), PB_EINVAL);
  o.segment_size = 0;
  assert_int_equal(pb_storage_open_file(fx->db, &o, &st), PB_EINVAL);
  assert_int_equal(pb_storage_close(NULL), PB_OK);
  /* NULL options mean the defaults. */
  assert_int_equal(pb_storage_open_file(fx->db, NULL, &st), PB_OK);
  char msg[64] = "x";
  pb__storage_errmsg(st, msg, sizeof msg);
  assert_string_equal(msg, "");
  pb_storage_close(st);
  /* A file where the directory should be. */
  char file[160];
  snprintf(file, sizeof file, "%s/plainfile", fx->tmp);
  write_all(file, "x", 1);
  assert_int_equal(pb_storage_open_file(file, NULL, &st), PB_EIO);
}

/* --- threads: writers retry on conflict while readers read --- */

typedef struct mt_ctx {
  pb_storage *st;
  int commits; /* per writer */
} mt_ctx;

static void *mt_writer(void *arg) {
  mt_ctx *c = arg;
  for (int i = 0; i < c->commits; i++) {
    for (;;) {
      pb_atom_ptr root, p, q;
      uint64_t lsn;
      c->st->ops->read_root(c->st, &root, &lsn);
      pb__batch_builder bb;
      if (pb__batch_init(&bb) != PB_OK) abort();
      char filler[100] = {0};
      pb__batch_add(&bb, filler, sizeof filler, &q);
      pb__batch_add(&bb, &root, sizeof root, &p); /* links to the parent */
      pb__batch b = {.id_hi = bb.id_hi, .id_lo = bb.id_lo,
                     .data = bb.buf.data, .size = bb.buf.len};
      int rc = c->st->ops->commit(c->st, &b, root, p, NULL);
      pb__batch_free(&bb);
      if (rc == PB_OK) break;
      if (rc != PB_ECONFLICT) abort();
    }
  }
  return NULL;
}

static void *mt_reader(void *arg) {
  mt_ctx *c = arg;
  for (int i = 0; i < 3000; i++) {
    pb_atom_ptr root;
    uint64_t lsn;
    c->st->ops->read_root(c->st, &root, &lsn);
    if (pb_atom_ptr_is_null(root)) continue;
    pb_bytes v;
    if (c->st->ops->read_atom(c->st, root, &v) != PB_OK) abort();
    if (v.len != sizeof(pb_atom_ptr)) abort();
  }
  return NULL;
}

static int chain_length(pb_storage *st) {
  pb_atom_ptr root;
  uint64_t lsn;
  st->ops->read_root(st, &root, &lsn);
  int links = 0;
  while (!pb_atom_ptr_is_null(root)) {
    pb_bytes v;
    assert_int_equal(st->ops->read_atom(st, root, &v), PB_OK);
    assert_int_equal(v.len, sizeof root);
    memcpy(&root, v.ptr, sizeof root);
    links++;
  }
  return links;
}

static void test_threads(void **state) {
  fixture *fx = *state;
  pb_file_options o = opts_with(4096, PB_DURABILITY_SYNC, false);
  pb_storage *st = must_open(fx, &o);
  mt_ctx c = {.st = st, .commits = 40};
  pthread_t t[6];
  for (int i = 0; i < 4; i++) pthread_create(&t[i], NULL, mt_writer, &c);
  for (int i = 4; i < 6; i++) pthread_create(&t[i], NULL, mt_reader, &c);
  for (int i = 0; i < 6; i++) pthread_join(t[i], NULL);
  assert_int_equal(chain_length(st), 160);
  pb_storage_close(st);
  assert_true(count_segments(fx) > 3);
  st = must_open(fx, &o);
  assert_int_equal(chain_length(st), 160);
  pb_atom_ptr root;
  uint64_t lsn;
  st->ops->read_root(st, &root, &lsn);
  assert_int_equal(lsn, 160);
  pb_storage_close(st);
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)

int main(void) {
  const struct CMUnitTest tests[] = {
      T(test_reopen_roundtrip),
      T(test_format_bytes),
      T(test_cas_conflict_writes_nothing),
      T(test_rollover),
      T(test_torn_tail_every_offset),
      T(test_torn_tail_garbage),
      T(test_flip_in_middle_is_corrupt),
      T(test_sealed_segment_never_cut),
      T(test_version_and_magic),
      T(test_segment_chain),
      T(test_torn_segment_creation),
      T(test_views_survive_remap),
      T(test_lock),
      T(test_read_only),
      T(test_durability_modes),
      T(test_without_mmap),
      T(test_large_batch),
      T(test_write_failures),
      T(test_posix_pwritev),
      T(test_bad_args),
      T(test_threads),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
