/*
 * test_salvage.c - salvage: a damaged store read up to its damage
 * (opts.salvage, pb_storage_salvage_report) and copied into a clean one
 * (pb_storage_salvage).
 *
 * Stores are written through the public API with the defaults
 * (PB_DURABILITY_SYNC) and 64 KiB segments, on the real file system.  A
 * model keeps, for every commit i, the exact contents of the database
 * "main": "n" = i, and a Dictionary "d" of up to 48 keys that each commit
 * puts to or removes from.  Each test damages the files as a user, a
 * broken copy or a failing disk would; then:
 *   - a normal open (read-only and writable) gives PB_ECORRUPT naming the
 *     file;
 *   - a salvage open succeeds, reports the damage (kind, file, offset),
 *     serves exactly the model's state at the last commit before the
 *     damage, and gives PB_ECORRUPT for an atom of a commit after it;
 *   - pb_storage_salvage writes a store that opens normally with that same
 *     state, takes more commits and reopens with them;
 *   - nothing in the damaged directory changes.
 * Garbage directories and full disks (the simulated disk) give clean
 * errors.
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

#include "atom/ptr.h"
#include "atom/refs.h"
#include "protobase/protobase.h"
#include "storage/file.h"
#include "storage/file_format.h"
#include "storage/file_salvage.h"
#include "storage/storage.h"
#include "support/simfs.h"
#include "test_util.h"
#include "util/endian.h"

#define KEYS 48
#define COMMITS 150
#define SEG_SIZE (64u * 1024u)

/* --- the model --- */

/* model[i][k]: the commit that last put key k as of commit i (0: absent). */
static uint16_t model[COMMITS + 8][KEYS];

/* The j-th change of commit i: key *k, removed or put. */
static void change_of(int i, int j, int *k, bool *remove) {
  *k = (i * 13 + j * 7) % KEYS;
  *remove = (i + j) % 5 == 0;
}

static void model_build(void) {
  memset(model, 0, sizeof model);
  for (int i = 1; i < COMMITS + 8; i++) {
    memcpy(model[i], model[i - 1], sizeof model[i]);
    for (int j = 0; j < 3; j++) {
      int k;
      bool rm;
      change_of(i, j, &k, &rm);
      if (rm && model[i][k] != 0)
        model[i][k] = 0;
      else if (!rm)
        model[i][k] = (uint16_t)i;
    }
  }
}

/* The value that commit i puts under key k, into buf (its length). */
static size_t value_text(int i, int k, char *buf, size_t n) {
  int len = snprintf(buf, n, "v%d-%d-", i, k);
  size_t want = 24 + (size_t)((i * 37 + k * 11) % 170);
  while ((size_t)len < want && (size_t)len + 1 < n) {
    buf[len] = (char)('a' + (i + len) % 26);
    len++;
  }
  buf[len] = '\0';
  return (size_t)len;
}

static void key_text(int k, char *buf, size_t n) { snprintf(buf, n, "k%02d", k); }

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

/* The COMMIT frames of a segment file: offsets and LSNs (the file ends at
 * its last frame, or inside one). */
typedef struct frames {
  uint64_t off[512];
  uint64_t lsn[512];
  pb_atom_ptr batch[512]; /* the batch's first atom (null: root-only) */
  int n;
} frames;

static void frames_of(const char *path, frames *fr) {
  size_t len;
  uint8_t *b = read_all(path, &len);
  fr->n = 0;
  uint64_t pos = PB__WAL_HEADER_SIZE;
  while (pos + PB__FRAME_HEADER_SIZE + 8 <= len) {
    assert_true(fr->n < 512);
    uint32_t l = pb__load_le32(b + pos);
    if (pos + pb__frame_size(l) > len) break; /* cut inside */
    const uint8_t *p = b + pos + PB__FRAME_HEADER_SIZE;
    fr->off[fr->n] = pos;
    fr->lsn[fr->n] = pb__load_le64(p);
    fr->batch[fr->n] = (pb_atom_ptr){.batch_hi = pb__load_le64(p + 8),
                                     .batch_lo = pb__load_le64(p + 16)};
    fr->n++;
    pos += pb__frame_size(l);
  }
  free(b);
}

/* Every file of a directory, name and bytes. */
typedef struct dir_image {
  char name[64][64];
  uint8_t *data[64];
  size_t len[64];
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
    assert_true(im->n < 64 && strlen(e->d_name) < 64);
    memcpy(im->name[im->n++], e->d_name, strlen(e->d_name) + 1);
  }
  closedir(d);
  qsort(im->name, (size_t)im->n, sizeof im->name[0], cmp_name);
  for (int i = 0; i < im->n; i++) {
    char p[600];
    snprintf(p, sizeof p, "%s/%s", dir, im->name[i]);
    struct stat sb;
    assert_int_equal(stat(p, &sb), 0);
    if (S_ISREG(sb.st_mode)) im->data[i] = read_all(p, &im->len[i]);
  }
}

static void image_same_and_free(const char *dir, dir_image *im) {
  dir_image now;
  image_take(dir, &now);
  assert_int_equal(now.n, im->n);
  for (int i = 0; i < im->n; i++) {
    assert_string_equal(now.name[i], im->name[i]);
    assert_int_equal(now.len[i], im->len[i]);
    if (im->len[i] > 0)
      assert_memory_equal(now.data[i], im->data[i], im->len[i]);
    free(now.data[i]);
    free(im->data[i]);
  }
}

/* --- stores through the public API --- */

/* LSN of the storage commit of model commit i (from the writer). */
static uint64_t lsn_of[COMMITS + 8];

static int do_commit(pb_db *db, int i) {
  pb_txn *t;
  int rc = pb_txn_begin(db, 0, &t);
  if (rc != PB_OK) return rc;
  pb_value n = {.kind = PB_VALUE_UINT, .as.u = (uint64_t)i};
  rc = pb_txn_set(t, "n", &n);
  pb_dict *d = NULL;
  if (rc == PB_OK) rc = pb_txn_open_dict(t, "d", PB_CREATE, &d);
  for (int j = 0; rc == PB_OK && j < 3; j++) {
    int k;
    bool rm;
    change_of(i, j, &k, &rm);
    char key[16], val[256];
    key_text(k, key, sizeof key);
    pb_str ks = {.ptr = key, .len = strlen(key)};
    if (rm) {
      rc = pb_dict_remove(d, ks);
      if (rc == PB_ENOTFOUND) rc = PB_OK;
    } else {
      size_t vl = value_text(i, k, val, sizeof val);
      pb_value v = {.kind = PB_VALUE_STRING, .as.s = {.ptr = val, .len = vl}};
      rc = pb_dict_put(d, ks, &v);
    }
  }
  if (rc != PB_OK) {
    pb_txn_abort(t);
    return rc;
  }
  return pb_txn_commit(t);
}

/* Opens `dir` with the defaults and 64 KiB segments, commits model
 * commits from..to (recording their LSNs), closes. */
static void write_commits(const char *dir, int from, int to) {
  pb_file_options o;
  pb_file_options_init(&o);
  o.segment_size = SEG_SIZE;
  pb_storage *st;
  assert_int_equal(pb_storage_open_file(dir, &o, &st), PB_OK);
  pb_space *sp;
  assert_int_equal(pb_space_open(st, &sp), PB_OK);
  pb_db *db;
  assert_int_equal(pb_db_open(sp, "main", PB_CREATE, &db), PB_OK);
  for (int i = from; i <= to; i++) {
    assert_int_equal(do_commit(db, i), PB_OK);
    pb_atom_ptr root;
    pb__file_pending_root(st, &root, &lsn_of[i]);
  }
  assert_int_equal(pb_db_close(db), PB_OK);
  assert_int_equal(pb_space_close(sp), PB_OK);
}

/* The contents of `st` are exactly the model's at commit `want`.  Takes
 * `st` (closes it). */
static void check_state(pb_storage *st, int want) {
  pb_space *sp;
  assert_int_equal(pb_space_open(st, &sp), PB_OK);
  pb_db *db;
  assert_int_equal(pb_db_open(sp, "main", 0, &db), PB_OK);
  pb_txn *t;
  assert_int_equal(pb_txn_begin(db, PB_RDONLY, &t), PB_OK);
  pb_value n;
  assert_int_equal(pb_txn_get(t, "n", &n), PB_OK);
  assert_int_equal(n.kind, PB_VALUE_UINT);
  if (n.as.u != (uint64_t)want)
    print_error("the store is at commit %" PRIu64 ", the model wants %d\n",
                n.as.u, want);
  assert_int_equal(n.as.u, (uint64_t)want);
  pb_dict *d;
  assert_int_equal(pb_txn_open_dict(t, "d", 0, &d), PB_OK);
  pb_dict_iter *it;
  assert_int_equal(pb_dict_iter_open(d, NULL, 0, &it), PB_OK);
  pb_str key;
  pb_value v;
  int seen = 0, rc;
  while ((rc = pb_dict_iter_next(it, &key, &v)) == PB_OK) {
    assert_true(key.len == 3 && key.ptr[0] == 'k');
    int k = (key.ptr[1] - '0') * 10 + (key.ptr[2] - '0');
    assert_true(k >= 0 && k < KEYS);
    int by = model[want][k];
    assert_int_not_equal(by, 0); /* present in the model */
    char val[256];
    size_t vl = value_text(by, k, val, sizeof val);
    assert_int_equal(v.kind, PB_VALUE_STRING);
    assert_int_equal(v.as.s.len, vl);
    assert_memory_equal(v.as.s.ptr, val, vl);
    seen++;
  }
  assert_int_equal(rc, PB_ENOTFOUND);
  pb_dict_iter_close(it);
  int present = 0;
  for (int k = 0; k < KEYS; k++) present += model[want][k] != 0;
  assert_int_equal(seen, present);
  assert_int_equal(pb_txn_abort(t), PB_OK);
  assert_int_equal(pb_db_close(db), PB_OK);
  assert_int_equal(pb_space_close(sp), PB_OK);
}

/* The last model commit whose LSN is below `lsn`. */
static int last_before(uint64_t lsn, int upto) {
  int e = 0;
  for (int i = 1; i <= upto; i++)
    if (lsn_of[i] < lsn) e = i;
  return e;
}

/* --- the checks every damage gets --- */

typedef struct damage_case {
  const char *file;     /* the file named (its name in the directory) */
  pb_salvage_kind kind; /* the first damage reported */
  uint64_t offset;      /* ... at this offset */
  int expect;           /* the last model commit before the damage */
  int written;          /* the last model commit written */
  uint64_t dropped;     /* commit frames after the break, verifiable */
  pb_atom_ptr lost;     /* an atom of a commit after the break (or null) */
} damage_case;

static void expect_corrupt(const char *dir, const char *file) {
  for (int ro = 1; ro >= 0; ro--) {
    pb_file_options o;
    pb_file_options_init(&o);
    o.read_only = ro;
    pb_storage *st = NULL;
    int rc = pb_storage_open_file(dir, &o, &st);
    if (rc != PB_ECORRUPT || strstr(pb_errdetail(), file) == NULL)
      print_error("%s open: %s: %s\n", ro ? "read-only" : "writable",
                  pb_errname(rc), pb_errdetail());
    assert_int_equal(rc, PB_ECORRUPT);
    assert_null(st);
    assert_non_null(strstr(pb_errdetail(), file));
  }
}

static void salvage_checks(const char *dir, const damage_case *c) {
  dir_image before;
  image_take(dir, &before);
  expect_corrupt(dir, c->file);

  /* The salvage open. */
  pb_file_options o;
  pb_file_options_init(&o);
  o.salvage = true;
  pb_storage *st;
  int rc = pb_storage_open_file(dir, &o, &st);
  if (rc != PB_OK) print_error("salvage open: %s: %s\n", pb_errname(rc),
                               pb_errdetail());
  assert_int_equal(rc, PB_OK);
  assert_true(st->read_only);
  pb_salvage_report rep;
  assert_int_equal(pb_storage_salvage_report(st, &rep), PB_OK);
  if (rep.n_damage == 0 || rep.damage[0].kind != c->kind ||
      strcmp(rep.damage[0].file, c->file) != 0 ||
      rep.damage[0].offset != c->offset)
    print_error("report: %" PRIu64 " damage, first kind %d file %s offset "
                "%" PRIu64 ": %s\n",
                rep.n_damage, rep.n_damage ? (int)rep.damage[0].kind : 0,
                rep.damage[0].file, rep.damage[0].offset,
                rep.damage[0].detail);
  assert_int_equal(rep.n_damage, 1);
  assert_int_equal(rep.damage[0].kind, c->kind);
  assert_string_not_equal(pb_salvage_kind_name(rep.damage[0].kind),
                          "unknown");
  assert_string_equal(rep.damage[0].file, c->file);
  assert_int_equal(rep.damage[0].offset, c->offset);
  assert_non_null(strstr(rep.damage[0].detail, c->file));
  assert_int_equal(rep.lsn, lsn_of[c->expect]);
  assert_int_equal(rep.first_lsn, 1);
  assert_int_equal(rep.commits, lsn_of[c->expect]);
  if (rep.commits_dropped != c->dropped)
    print_error("commits dropped %" PRIu64 ", expected %" PRIu64 "\n",
                rep.commits_dropped, c->dropped);
  assert_int_equal(rep.commits_dropped, c->dropped);
  pb_recovery_info ri;
  assert_int_equal(pb_storage_recovery_info(st, &ri), PB_OK);
  assert_int_equal(ri.lsn, rep.lsn);
  /* An atom of a commit after the damage is not served. */
  if (!pb_atom_ptr_is_null(c->lost)) {
    pb_bytes b;
    assert_int_equal(st->ops->read_atom(st, c->lost, &b), PB_ECORRUPT);
    assert_non_null(strstr(pb_errdetail(), "salvage"));
  }
  pb__batch empty = {0};
  uint64_t clsn;
  assert_int_equal(st->ops->commit(st, &empty, (pb_atom_ptr){0},
                                   (pb_atom_ptr){0}, &clsn),
                   PB_ERDONLY);
  check_state(st, c->expect);

  /* The copy. */
  char *out = pb_test_tmpdir();
  char newdir[600];
  snprintf(newdir, sizeof newdir, "%s/new", out);
  rc = pb_storage_salvage(dir, newdir, &rep);
  if (rc != PB_OK) print_error("salvage: %s: %s\n", pb_errname(rc),
                               pb_errdetail());
  assert_int_equal(rc, PB_OK);
  assert_int_equal(rep.lsn, lsn_of[c->expect]);
  assert_int_equal(rep.lsn_copied, rep.lsn);
  assert_int_equal(rep.atoms_unreadable, 0);
  assert_true(rep.atoms_copied > 0 && rep.atom_bytes > 0);
  assert_int_equal(rep.n_damage, 1);
  assert_int_equal(count_segments(newdir), 1);
  /* It opens normally, read-only and writable, at that state... */
  pb_file_options_init(&o);
  o.read_only = true;
  assert_int_equal(pb_storage_open_file(newdir, &o, &st), PB_OK);
  check_state(st, c->expect);
  pb_file_options_init(&o);
  assert_int_equal(pb_storage_open_file(newdir, &o, &st), PB_OK);
  assert_int_equal(pb_storage_recovery_info(st, &ri), PB_OK);
  assert_int_equal(ri.lsn, lsn_of[c->expect]);
  check_state(st, c->expect);
  /* ... takes more commits (the model goes on from there), reopens. */
  write_commits(newdir, c->expect + 1, c->expect + 3);
  assert_int_equal(pb_storage_open_file(newdir, &o, &st), PB_OK);
  check_state(st, c->expect + 3);
  /* A second salvage into the same place is refused. */
  assert_int_equal(pb_storage_salvage(dir, newdir, NULL), PB_EEXIST);
  pb_test_rmdir(out);
  /* Nothing of the damaged store changed. */
  image_same_and_free(dir, &before);
}

/* Commit frames of segments after `seq`. */
static uint64_t frames_after(const char *dir, uint64_t seq, int nseg) {
  uint64_t n = 0;
  for (uint64_t s = seq + 1; s <= (uint64_t)nseg; s++) {
    char p[600];
    seg_file(dir, s, p, sizeof p);
    if (access(p, F_OK) != 0) continue;
    frames fr;
    frames_of(p, &fr);
    n += (uint64_t)fr.n;
  }
  return n;
}

/* A store of every model commit, closed. */
static char *full_store(int *nseg) {
  char *dir = pb_test_tmpdir();
  write_commits(dir, 1, COMMITS);
  *nseg = count_segments(dir);
  assert_true(*nseg >= 6);
  pb_file_options o;
  pb_file_options_init(&o);
  pb_storage *st;
  assert_int_equal(pb_storage_open_file(dir, &o, &st), PB_OK);
  check_state(st, COMMITS);
  return dir;
}

/* An atom of segment `seq`'s first commit with a batch. */
static pb_atom_ptr atom_in(const char *dir, uint64_t seq) {
  char p[600];
  seg_file(dir, seq, p, sizeof p);
  frames fr;
  frames_of(p, &fr);
  for (int i = 0; i < fr.n; i++)
    if ((fr.batch[i].batch_hi | fr.batch[i].batch_lo) != 0)
      return fr.batch[i];
  fail();
  return (pb_atom_ptr){0};
}

/* --- damage --- */

static void newest_segment_deleted(void **state) {
  (void)state;
  int nseg;
  char *dir = full_store(&nseg);
  char p[600], name[25];
  seg_file(dir, (uint64_t)nseg, p, sizeof p);
  pb__seg_name((uint64_t)nseg, name);
  frames fr;
  frames_of(p, &fr);
  pb_atom_ptr lost = atom_in(dir, (uint64_t)nseg);
  assert_int_equal(unlink(p), 0);
  damage_case c = {.file = name, .kind = PB_SALVAGE_MISSING, .offset = 0,
                   .expect = last_before(fr.lsn[0], COMMITS),
                   .written = COMMITS, .dropped = 0, .lost = lost};
  assert_true(c.expect > 0 && c.expect < COMMITS);
  salvage_checks(dir, &c);
  print_message("newest of %d segments deleted: commits 1..%d of %d "
                "recovered\n", nseg, c.expect, COMMITS);
  pb_test_rmdir(dir);
}

static void middle_segment_deleted(void **state) {
  (void)state;
  int nseg;
  char *dir = full_store(&nseg);
  char p[600], name[25];
  seg_file(dir, 3, p, sizeof p);
  pb__seg_name(3, name);
  frames fr;
  frames_of(p, &fr);
  pb_atom_ptr lost = atom_in(dir, 4);
  assert_int_equal(unlink(p), 0);
  damage_case c = {.file = name, .kind = PB_SALVAGE_MISSING, .offset = 0,
                   .expect = last_before(fr.lsn[0], COMMITS),
                   .written = COMMITS, .dropped = frames_after(dir, 3, nseg),
                   .lost = lost};
  assert_true(c.expect > 10);
  salvage_checks(dir, &c);
  pb_test_rmdir(dir);
}

static void newest_replaced_by_older_copy(void **state) {
  (void)state;
  char *dir = pb_test_tmpdir();
  write_commits(dir, 1, 100);
  int nseg = count_segments(dir);
  char p[600], name[25];
  seg_file(dir, (uint64_t)nseg, p, sizeof p);
  pb__seg_name((uint64_t)nseg, name);
  size_t len;
  uint8_t *copy = read_all(p, &len);
  write_commits(dir, 101, 103);
  assert_int_equal(count_segments(dir), nseg); /* no rollover */
  frames fr;
  frames_of(p, &fr);
  pb_atom_ptr lost = fr.batch[fr.n - 1];
  write_all(p, copy, len);
  free(copy);
  damage_case c = {.file = name, .kind = PB_SALVAGE_SHORT, .offset = len,
                   .expect = 100, .written = 103, .dropped = 0, .lost = lost};
  salvage_checks(dir, &c);
  pb_test_rmdir(dir);
}

/* Segment 3 of another store put in the place of this one's: not the
 * segment MANIFEST names; its frames are not counted as this store's. */
static void segment_from_another_store(void **state) {
  (void)state;
  int nseg;
  char *other = full_store(&nseg);
  char *dir = full_store(&nseg);
  char p[600], q[600], name[25];
  seg_file(dir, 3, p, sizeof p);
  seg_file(other, 3, q, sizeof q);
  pb__seg_name(3, name);
  frames fr;
  frames_of(p, &fr);
  size_t len;
  uint8_t *b = read_all(q, &len);
  write_all(p, b, len);
  free(b);
  damage_case c = {.file = name, .kind = PB_SALVAGE_REPLACED, .offset = 0,
                   .expect = last_before(fr.lsn[0], COMMITS),
                   .written = COMMITS, .dropped = frames_after(dir, 3, nseg),
                   .lost = fr.batch[0]};
  salvage_checks(dir, &c);
  pb_test_rmdir(other);
  pb_test_rmdir(dir);
}

/* Segment 2 cut at a frame boundary (MANIFEST's size catches it), and
 * segment 3 cut inside a frame. */
static void sealed_segment_truncated(void **state) {
  (void)state;
  for (int inside = 0; inside <= 1; inside++) {
    int nseg;
    char *dir = full_store(&nseg);
    uint64_t seq = inside ? 3 : 2;
    char p[600], name[25];
    seg_file(dir, seq, p, sizeof p);
    pb__seg_name(seq, name);
    frames fr;
    frames_of(p, &fr);
    assert_true(fr.n >= 4);
    int m = fr.n / 2;
    uint64_t cut = fr.off[m] + (inside ? 40 : 0);
    assert_int_equal(truncate(p, (off_t)cut), 0);
    damage_case c = {.file = name,
                     .kind = inside ? PB_SALVAGE_BAD_FRAME : PB_SALVAGE_SHORT,
                     .offset = fr.off[m],
                     .expect = last_before(fr.lsn[m], COMMITS),
                     .written = COMMITS,
                     .dropped = frames_after(dir, seq, nseg),
                     .lost = fr.batch[m]};
    salvage_checks(dir, &c);
    pb_test_rmdir(dir);
  }
}

/* A byte flipped in a sealed segment: in a frame's header (its length,
 * its checksum), and in a batch's atom bytes; and in the last segment,
 * before valid frames. */
static void bytes_flipped(void **state) {
  (void)state;
  static const struct {
    uint64_t at;   /* offset in the frame */
    bool last;     /* in the last segment */
    const char *what;
  } flips[] = {
      {1, false, "the frame's length"},
      {9, false, "the frame's checksum"},
      {PB__FRAME_HEADER_SIZE + PB__COMMIT_FIXED_SIZE + 10, false,
       "a batch's atom bytes"},
      {PB__FRAME_HEADER_SIZE + PB__COMMIT_FIXED_SIZE + 30, true,
       "atom bytes in the last segment"},
  };
  for (size_t f = 0; f < sizeof flips / sizeof flips[0]; f++) {
    int nseg;
    char *dir = full_store(&nseg);
    uint64_t seq = flips[f].last ? (uint64_t)nseg : 3;
    char p[600], name[25];
    seg_file(dir, seq, p, sizeof p);
    pb__seg_name(seq, name);
    frames fr;
    frames_of(p, &fr);
    assert_true(fr.n >= 4);
    int m = fr.n / 2;
    size_t len;
    uint8_t *b = read_all(p, &len);
    b[fr.off[m] + flips[f].at] ^= 0x5a;
    write_all(p, b, len);
    free(b);
    damage_case c = {.file = name, .kind = PB_SALVAGE_BAD_FRAME,
                     .offset = fr.off[m],
                     .expect = last_before(fr.lsn[m], COMMITS),
                     .written = COMMITS,
                     .dropped = (uint64_t)(fr.n - m - 1) +
                                frames_after(dir, seq, nseg),
                     .lost = fr.batch[m]};
    salvage_checks(dir, &c);
    print_message("%s flipped in %s: commits 1..%d recovered, %" PRIu64
                  " later commit frames reported dropped\n",
                  flips[f].what, name, c.expect, c.dropped);
    pb_test_rmdir(dir);
  }
}

/* A whole store: salvage reports nothing and copies every commit. */
static void whole_store(void **state) {
  (void)state;
  int nseg;
  char *dir = full_store(&nseg);
  pb_file_options o;
  pb_file_options_init(&o);
  o.salvage = true;
  o.read_only = false; /* implied */
  pb_storage *st;
  assert_int_equal(pb_storage_open_file(dir, &o, &st), PB_OK);
  pb_salvage_report rep;
  assert_int_equal(pb_storage_salvage_report(st, &rep), PB_OK);
  assert_int_equal(rep.n_damage, 0);
  assert_int_equal(rep.segments_read, (uint64_t)nseg);
  assert_int_equal(rep.segments_skipped + rep.segments_missing, 0);
  assert_int_equal(rep.lsn, lsn_of[COMMITS]);
  check_state(st, COMMITS);
  char *out = pb_test_tmpdir(); /* an existing, empty directory */
  assert_int_equal(pb_storage_salvage(dir, out, &rep), PB_OK);
  assert_int_equal(rep.lsn_copied, lsn_of[COMMITS]);
  pb_file_options_init(&o);
  assert_int_equal(pb_storage_open_file(out, &o, &st), PB_OK);
  check_state(st, COMMITS);
  pb_test_rmdir(out);
  /* A normal open has no salvage report; the memory tier none at all. */
  assert_int_equal(pb_storage_open_file(dir, &o, &st), PB_OK);
  assert_int_equal(pb_storage_salvage_report(st, &rep), PB_EINVAL);
  assert_int_equal(pb_storage_close(st), PB_OK);
  assert_int_equal(pb_storage_open_memory(&st), PB_OK);
  assert_int_equal(pb_storage_salvage_report(st, &rep), PB_ENOTSUP);
  assert_int_equal(pb_storage_salvage_report(NULL, &rep), PB_EINVAL);
  assert_string_equal(pb_salvage_kind_name(PB_SALVAGE_SHORT), "short");
  assert_string_equal(pb_salvage_kind_name((pb_salvage_kind)99), "unknown");
  assert_int_equal(pb_storage_close(st), PB_OK);
  pb_test_rmdir(dir);
}

/* A frame that verifies but holds a malformed atom (a pointer of the last
 * commit's root atom sent to a batch that does not exist, the frame's
 * checksum made again): the newest root's tree does not read whole, so
 * the copy is the commit before it, and the atom is reported. */
static int first_ref(void *ctx, pb_atom_ptr ptr, size_t pos) {
  (void)ptr;
  *(size_t *)ctx = pos;
  return 1; /* stop */
}

static void malformed_atom_in_a_verified_frame(void **state) {
  (void)state;
  char *dir = pb_test_tmpdir();
  write_commits(dir, 1, 30);
  int nseg = count_segments(dir);
  char p[600];
  seg_file(dir, (uint64_t)nseg, p, sizeof p);
  frames fr;
  frames_of(p, &fr);
  size_t len;
  uint8_t *b = read_all(p, &len);
  uint64_t off = fr.off[fr.n - 1];
  uint8_t *payload = b + off + PB__FRAME_HEADER_SIZE;
  uint32_t plen = pb__load_le32(b + off);
  pb_atom_ptr root = {.batch_hi = pb__load_le64(payload + 24),
                      .batch_lo = pb__load_le64(payload + 32),
                      .offset = pb__load_le64(payload + 40)};
  assert_true(root.batch_hi == fr.batch[fr.n - 1].batch_hi &&
              root.batch_lo == fr.batch[fr.n - 1].batch_lo);
  uint8_t *batch = payload + PB__COMMIT_FIXED_SIZE;
  pb_bytes atom = {.ptr = batch + root.offset + 4,
                   .len = pb__load_le32(batch + root.offset)};
  size_t pos = SIZE_MAX;
  assert_int_equal(pb__atom_refs(atom, first_ref, &pos), 1);
  uint8_t *at = batch + root.offset + 4 + pos;
  pb_atom_ptr q = pb__ptr_load(at);
  q.batch_lo ^= 0x10203;
  pb__ptr_store(at, &q);
  pb__frame_header_encode(b + off, PB__FRAME_COMMIT, payload, plen);
  write_all(p, b, len);
  free(b);
  /* Every frame verifies: a normal open succeeds. */
  pb_file_options o;
  pb_file_options_init(&o);
  o.read_only = true;
  pb_storage *st;
  assert_int_equal(pb_storage_open_file(dir, &o, &st), PB_OK);
  assert_int_equal(pb_storage_close(st), PB_OK);
  char *out = pb_test_tmpdir();
  pb_salvage_report rep;
  int rc = pb_storage_salvage(dir, out, &rep);
  if (rc != PB_OK) print_error("salvage: %s: %s\n", pb_errname(rc),
                               pb_errdetail());
  assert_int_equal(rc, PB_OK);
  assert_int_equal(rep.lsn, lsn_of[30]);
  assert_int_equal(rep.lsn_copied, lsn_of[29]);
  assert_int_equal(rep.atoms_unreadable, 1);
  assert_int_equal(rep.n_damage, 1);
  assert_int_equal(rep.damage[0].kind, PB_SALVAGE_ATOM);
  assert_non_null(strstr(rep.damage[0].detail, "missing"));
  pb_file_options_init(&o);
  assert_int_equal(pb_storage_open_file(out, &o, &st), PB_OK);
  check_state(st, 29);
  pb_test_rmdir(out);
  pb_test_rmdir(dir);
}

/* --- garbage --- */

static void garbage_directories(void **state) {
  (void)state;
  char *dir = pb_test_tmpdir();
  char src[600], dst[600], p[700];
  snprintf(src, sizeof src, "%s/src", dir);
  snprintf(dst, sizeof dst, "%s/dst", dir);
  pb_salvage_report rep;
  /* Arguments. */
  assert_int_equal(pb_storage_salvage(NULL, dst, &rep), PB_EINVAL);
  assert_int_equal(pb_storage_salvage(src, "", &rep), PB_EINVAL);
  /* No directory; an empty one; one of foreign files: not a store. */
  assert_int_equal(pb_storage_salvage(src, dst, &rep), PB_ENOTFOUND);
  assert_int_equal(mkdir(src, 0700), 0);
  assert_int_equal(pb_storage_salvage(src, dst, &rep), PB_ENOTFOUND);
  snprintf(p, sizeof p, "%s/notes.txt", src);
  write_all(p, "hello", 5);
  assert_int_equal(pb_storage_salvage(src, dst, &rep), PB_ENOTFOUND);
  assert_int_not_equal(access(dst, F_OK), 0); /* nothing written */
  /* A segment of garbage: nothing can be recovered, nothing written. */
  uint8_t junk[5000];
  for (size_t i = 0; i < sizeof junk; i++) junk[i] = (uint8_t)(i * 7 + 3);
  seg_file(src, 1, p, sizeof p);
  write_all(p, junk, sizeof junk);
  assert_int_equal(pb_storage_salvage(src, dst, &rep), PB_ECORRUPT);
  assert_non_null(strstr(pb_errdetail(), "seg-0000000000000001.wal"));
  assert_int_equal(rep.n_damage, 1);
  assert_int_equal(rep.damage[0].kind, PB_SALVAGE_BAD_HEADER);
  assert_int_equal(rep.bytes_skipped, sizeof junk);
  assert_int_not_equal(access(dst, F_OK), 0);
  /* The salvage open of it serves an empty store. */
  pb_file_options o;
  pb_file_options_init(&o);
  o.salvage = true;
  pb_storage *st;
  assert_int_equal(pb_storage_open_file(src, &o, &st), PB_OK);
  pb_atom_ptr root;
  uint64_t lsn;
  assert_int_equal(st->ops->read_root(st, &root, &lsn), PB_OK);
  assert_true(pb_atom_ptr_is_null(root) && lsn == 0);
  assert_int_equal(pb_storage_close(st), PB_OK);
  /* A garbage MANIFEST alone. */
  assert_int_equal(unlink(p), 0);
  snprintf(p, sizeof p, "%s/MANIFEST", src);
  write_all(p, junk, 100);
  assert_int_equal(pb_storage_salvage(src, dst, &rep), PB_ECORRUPT);
  assert_int_equal(rep.damage[0].kind, PB_SALVAGE_MANIFEST);
  assert_string_equal(rep.damage[0].file, "MANIFEST");
  /* A directory where a segment should be, with a garbage MANIFEST. */
  seg_file(src, 1, p, sizeof p);
  assert_int_equal(mkdir(p, 0700), 0);
  int rc = pb_storage_salvage(src, dst, &rep);
  assert_true(rc == PB_ECORRUPT || rc == PB_EIO);
  assert_int_not_equal(access(dst, F_OK), 0);
  assert_int_equal(rmdir(p), 0);
  /* A good store with a garbage MANIFEST: every commit, reported. */
  char good[600];
  snprintf(good, sizeof good, "%s/good", dir);
  write_commits(good, 1, 20);
  snprintf(p, sizeof p, "%s/MANIFEST", good);
  write_all(p, junk, 100);
  assert_int_equal(pb_storage_salvage(good, dst, &rep), PB_OK);
  assert_int_equal(rep.n_damage, 1);
  assert_int_equal(rep.damage[0].kind, PB_SALVAGE_MANIFEST);
  pb_file_options_init(&o);
  assert_int_equal(pb_storage_open_file(dst, &o, &st), PB_OK);
  check_state(st, 20);
  /* The destination: not empty, or a file. */
  char dst2[600];
  snprintf(dst2, sizeof dst2, "%s/file", dir);
  write_all(dst2, "x", 1);
  assert_int_equal(pb_storage_salvage(good, dst, &rep), PB_EEXIST);
  assert_int_equal(pb_storage_salvage(good, dst2, &rep), PB_EEXIST);
  /* An empty store (no commit, no damage) salvages to an empty store. */
  char empty[600], dst3[600];
  snprintf(empty, sizeof empty, "%s/empty", dir);
  snprintf(dst3, sizeof dst3, "%s/dst3", dir);
  pb_file_options_init(&o);
  assert_int_equal(pb_storage_open_file(empty, &o, &st), PB_OK);
  assert_int_equal(pb_storage_close(st), PB_OK);
  assert_int_equal(pb_storage_salvage(empty, dst3, &rep), PB_OK);
  assert_int_equal(rep.lsn_copied, 0);
  assert_int_equal(pb_storage_open_file(dst3, &o, &st), PB_OK);
  assert_int_equal(st->ops->read_root(st, &root, &lsn), PB_OK);
  assert_true(pb_atom_ptr_is_null(root) && lsn == 0);
  assert_int_equal(pb_storage_close(st), PB_OK);
  pb_test_rmdir(dir);
}

/* --- a full disk, on the simulated disk --- */

static int count_entry(void *arg, const char *name) {
  (void)name;
  ++*(int *)arg;
  return 0;
}

static void failures_leave_nothing(void **state) {
  (void)state;
  static const struct {
    pb__simfs_op op;
    int code;
    size_t partial;
  } faults[] = {
      {PB__SIMFS_PWRITE, PB_ENOSPC, 100},
      {PB__SIMFS_PWRITE, PB_EIO, 0},
      {PB__SIMFS_DATASYNC, PB_EIO, 0},
      {PB__SIMFS_SYNC, PB_EIO, 0},
      {PB__SIMFS_SYNC_DIR, PB_EIO, 0},
      {PB__SIMFS_OPEN, PB_EIO, 0},
  };
  pb__simfs *sim = pb__simfs_new();
  const pb__io *io = pb__simfs_io(sim);
  pb_file_options o;
  pb_file_options_init(&o);
  o.segment_size = 4096;
  pb_storage *st;
  char msg[512];
  assert_int_equal(pb__file_storage_open("/db", &o, io, msg, sizeof msg, &st),
                   PB_OK);
  pb_space *sp;
  assert_int_equal(pb_space_open(st, &sp), PB_OK);
  pb_db *db;
  assert_int_equal(pb_db_open(sp, "main", PB_CREATE, &db), PB_OK);
  for (int i = 1; i <= 40; i++) assert_int_equal(do_commit(db, i), PB_OK);
  assert_int_equal(pb_db_close(db), PB_OK);
  assert_int_equal(pb_space_close(sp), PB_OK);
  /* Damage segment 3: the salvage holds the commits before it. */
  uint8_t *b;
  size_t len;
  assert_int_equal(
      pb__simfs_read_file(sim, "/db/seg-0000000000000003.wal", &b, &len),
      PB_OK);
  b[len / 2] ^= 0xff;
  assert_int_equal(
      pb__simfs_write_file(sim, "/db/seg-0000000000000003.wal", b, len),
      PB_OK);
  free(b);
  assert_int_equal(io->mkdir(io, "/out"), PB_OK);
  unsigned cases = 0;
  for (size_t f = 0; f < sizeof faults / sizeof faults[0]; f++) {
    for (unsigned nth = 1;; nth++) {
      pb__simfs_fail(sim, faults[f].op, nth, faults[f].code,
                     faults[f].partial);
      pb_salvage_report rep;
      int rc = pb__file_salvage("/db", "/out", io, &rep);
      bool fired = !pb__simfs_fault_pending(sim, faults[f].op);
      pb__simfs_fail(sim, faults[f].op, 0, 0, 0);
      if (!fired) {
        assert_int_equal(rc, PB_OK);
        break;
      }
      cases++;
      int entries = 0;
      if (faults[f].op == PB__SIMFS_OPEN &&
          (rc == PB_OK || rc == PB_ECORRUPT)) {
        /* The fault hit the reading of the damaged store: a segment or
         * MANIFEST that could not be opened is damage (reported), and
         * when it is the first segment, nothing is recovered. */
        assert_true(rep.n_damage >= 1);
      } else {
        if (rc != faults[f].code)
          print_error("fault %zu #%u: %s: %s\n", f, nth, pb_errname(rc),
                      pb_errdetail());
        assert_int_equal(rc, faults[f].code);
        assert_non_null(strstr(pb_errdetail(), "/"));
        /* Nothing is left in the destination. */
        assert_int_equal(io->list_dir(io, "/out", count_entry, &entries),
                         PB_OK);
        assert_int_equal(entries, 0);
        continue;
      }
      /* Empty the destination for the next case. */
      const char *names[] = {"/out/MANIFEST", "/out/LOCK"};
      for (size_t k = 0; k < 2; k++) io->unlink(io, names[k]);
      for (uint64_t s = 1; s < 64; s++) {
        char name[25], p[64];
        pb__seg_name(s, name);
        snprintf(p, sizeof p, "/out/%s", name);
        io->unlink(io, p);
      }
      assert_int_equal(io->list_dir(io, "/out", count_entry, &entries), PB_OK);
      assert_int_equal(entries, 0);
    }
    /* Empty the destination again. */
    io->unlink(io, "/out/MANIFEST");
    for (uint64_t s = 1; s < 64; s++) {
      char name[25], p[64];
      pb__seg_name(s, name);
      snprintf(p, sizeof p, "/out/%s", name);
      io->unlink(io, p);
    }
  }
  print_message("salvage: %u injected failures, each a clean error with the "
                "destination left empty\n",
                cases);
  assert_true(cases >= 6);
  /* A budget that runs out during the copy: PB_ENOSPC, nothing left. */
  pb__simfs_set_space(sim, pb__simfs_space_used(sim) + 1000);
  pb_salvage_report rep;
  assert_int_equal(pb__file_salvage("/db", "/out", io, &rep), PB_ENOSPC);
  int entries = 0;
  assert_int_equal(io->list_dir(io, "/out", count_entry, &entries), PB_OK);
  assert_int_equal(entries, 0);
  pb__simfs_set_space(sim, UINT64_MAX);
  assert_int_equal(pb__file_salvage("/db", "/out", io, &rep), PB_OK);
  assert_true(rep.lsn_copied > 0 && rep.n_damage == 1);
  pb_file_options_init(&o);
  o.read_only = true;
  assert_int_equal(
      pb__file_storage_open("/out", &o, io, msg, sizeof msg, &st), PB_OK);
  pb_atom_ptr root;
  uint64_t lsn;
  assert_int_equal(st->ops->read_root(st, &root, &lsn), PB_OK);
  assert_int_equal(lsn, rep.lsn_copied);
  assert_int_equal(pb_storage_close(st), PB_OK);
  pb__simfs_free(sim);
}

int main(void) {
  model_build();
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(newest_segment_deleted),
      cmocka_unit_test(middle_segment_deleted),
      cmocka_unit_test(newest_replaced_by_older_copy),
      cmocka_unit_test(segment_from_another_store),
      cmocka_unit_test(sealed_segment_truncated),
      cmocka_unit_test(bytes_flipped),
      cmocka_unit_test(whole_store),
      cmocka_unit_test(malformed_atom_in_a_verified_frame),
      cmocka_unit_test(garbage_directories),
      cmocka_unit_test(failures_leave_nothing),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
