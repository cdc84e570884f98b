/*
 * test_storage_faults.c - the file tier on a disk that fails: the
 * simulated disk of tests/support/simfs.h (its model first), then the
 * storage through it:
 *
 *   - fsync counts: one SYNC commit from one thread costs exactly one
 *     fdatasync and one pwrite; none in NONE; a new segment costs a
 *     directory fsync;
 *   - a full disk (space budget): commits fail cleanly with PB_ENOSPC and
 *     the store reopens at the previous commit; with more room, commits
 *     work again;
 *   - EIO from fdatasync: the commit fails, nothing is published, the
 *     store refuses writes (PB_EFAILED) until reopened;
 *   - a commit paused inside fdatasync does not block readers, neither the
 *     storage ops nor a read-only transaction of the public API;
 *   - short writes (a prefix lands, then an error) never become visible;
 *   - written preallocation: frames land in room already written with
 *     zeros (the simulation's written-space counters), a chunk ahead; the
 *     frame's pwritev failing (ENOSPC, EIO, short) is cut back and never
 *     published;
 *   - every fault point: each pwrite, fdatasync, fsync, directory fsync
 *     and open of a workload fails in turn, and every crash point: the
 *     power goes at each mutating operation in turn (and again during the
 *     recovery that follows); every acknowledged commit survives;
 *   - bit flips: every byte of a two-segment log flipped in turn gives
 *     PB_ECORRUPT naming the segment and frame offset, or, in the last
 *     frame, the torn-tail cut, and never a crash;
 *   - a real full disk, once: a child process under RLIMIT_FSIZE.
 *
 * The simulated store lives in "/db" on its own simulated disk.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "corrupt_detail.h"

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "atom/batch.h"
#include "io/io.h"
#include "storage/file.h"
#include "storage/file_format.h"
#include "storage/storage.h"
#include "support/numbered.h"
#include "support/simfs.h"
#include "test_util.h"
#include "util/endian.h"

#define DB "/db"

/* --- opening a store on a simulated disk --- */

static pb_file_options opts(uint64_t segment_size, pb_durability dur) {
  pb_file_options o;
  pb_file_options_init(&o);
  if (segment_size) o.segment_size = segment_size;
  o.durability = dur;
  return o;
}

static int open_sim(pb__simfs *sim, const pb_file_options *o,
                    pb_storage **st, char msg[512]) {
  return pb__file_storage_open(DB, o, pb__simfs_io(sim), msg, 512, st);
}

static pb_storage *must_open(pb__simfs *sim, const pb_file_options *o) {
  char msg[512];
  pb_storage *st = NULL;
  int rc = open_sim(sim, o, &st, msg);
  if (rc != PB_OK) print_error("open: %s: %s\n", pb_errname(rc), msg);
  assert_int_equal(rc, PB_OK);
  return st;
}

static pb__simfs *new_sim(void) {
  pb__simfs *sim = pb__simfs_new();
  assert_non_null(sim);
  return sim;
}

static void seg_path(uint64_t seq, char out[64]) {
  char name[25];
  pb__seg_name(seq, name);
  snprintf(out, 64, DB "/%s", name);
}

static size_t n_segs(pb_storage *st) {
  return ((const pb__file_storage *)st)->n_segs;
}

/* --- a history of commits, to check against after a reopen --- */

#define MAXC 512
#define MAXA 6

typedef struct hist {
  pb_atom_ptr ptr[MAXC][MAXA]; /* atom pointers, per commit */
  int natoms[MAXC];            /* atoms per commit */
  int n;                       /* acknowledged commits */
  bool pending;                /* commit n was tried and failed: a reopen
                                  may or may not find it */
} hist;

static hist *new_hist(void) {
  hist *h = calloc(1, sizeof *h);
  assert_non_null(h);
  return h;
}

/* Atom i of commit c: 20..149 recognizable bytes, into buf[160]. */
static size_t atom_text(int c, int i, char *buf) {
  unsigned uc = (unsigned)c, ui = (unsigned)i;
  size_t len = 20 + (uc * 7 + ui * 13) % 130;
  for (size_t k = 0; k < len; k++) buf[k] = (char)('a' + (uc + ui + k) % 26);
  char head[24];
  int n = snprintf(head, sizeof head, "c%u-a%u:", uc % 10000, ui % 100);
  memcpy(buf, head, (size_t)n);
  return len;
}

/* Commits commit number h->n (natoms atoms, the last one the root) on the
 * current root.  Returns the commit's code. */
static int commit_one(pb_storage *st, hist *h, int natoms) {
  assert_true(h->n < MAXC && natoms > 0 && natoms <= MAXA);
  int c = h->n;
  pb__batch_builder bb;
  assert_int_equal(pb__batch_init(&bb), PB_OK);
  for (int i = 0; i < natoms; i++) {
    char buf[160];
    size_t len = atom_text(c, i, buf);
    assert_int_equal(pb__batch_add(&bb, buf, len, &h->ptr[c][i]), PB_OK);
  }
  h->natoms[c] = natoms;
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
    h->n++;
    h->pending = false;
  } else {
    h->pending = true;
  }
  return rc;
}

static void commit_many(pb_storage *st, hist *h, int count) {
  for (int k = 0; k < count; k++)
    assert_int_equal(commit_one(st, h, 1 + (h->n % 4)), PB_OK);
}

/* Checks every atom of commit c. */
static void check_commit(pb_storage *st, const hist *h, int c) {
  for (int i = 0; i < h->natoms[c]; i++) {
    char buf[160];
    size_t len = atom_text(c, i, buf);
    pb_bytes v;
    int rc = st->ops->read_atom(st, h->ptr[c][i], &v);
    if (rc != PB_OK) print_error("commit %d atom %d: %s\n", c, i,
                                 pb_errname(rc));
    assert_int_equal(rc, PB_OK);
    assert_int_equal(v.len, len);
    assert_memory_equal(v.ptr, buf, len);
  }
}

/* Checks that the store holds exactly commits [0, upto): LSN, root, and
 * every atom. */
static void check_exact(pb_storage *st, const hist *h, int upto) {
  pb_atom_ptr root;
  uint64_t lsn;
  assert_int_equal(st->ops->read_root(st, &root, &lsn), PB_OK);
  assert_int_equal(lsn, (uint64_t)upto);
  if (upto == 0)
    assert_true(pb_atom_ptr_is_null(root));
  else
    assert_true(
        pb_atom_ptr_equal(root, h->ptr[upto - 1][h->natoms[upto - 1] - 1]));
  for (int c = 0; c < upto; c++) check_commit(st, h, c);
}

/* After a reopen: the store holds the acknowledged commits, plus perhaps
 * the pending one, which it then adopts as acknowledged.  Anything less is
 * a lost commit; anything else is a phantom. */
static void adopt(pb_storage *st, hist *h) {
  pb_atom_ptr root;
  uint64_t lsn;
  assert_int_equal(st->ops->read_root(st, &root, &lsn), PB_OK);
  if (lsn != (uint64_t)h->n && !(h->pending && lsn == (uint64_t)h->n + 1))
    print_error("recovered LSN %" PRIu64 ", acknowledged %d%s\n", lsn, h->n,
                h->pending ? " (+1 pending)" : "");
  assert_true(lsn == (uint64_t)h->n ||
              (h->pending && lsn == (uint64_t)h->n + 1));
  if (h->pending && lsn == (uint64_t)h->n) {
    pb_bytes v; /* the pending commit is wholly absent */
    for (int i = 0; i < h->natoms[h->n]; i++)
      assert_int_equal(st->ops->read_atom(st, h->ptr[h->n][i], &v),
                       PB_ENOTFOUND);
  }
  h->n = (int)lsn;
  h->pending = false;
  check_exact(st, h, h->n);
}

/* --- the simulated disk's own model --- */

static void write_file_io(pb__simfs *sim, const char *path, const void *buf,
                          size_t n, uint64_t off, bool sync) {
  const pb__io *io = pb__simfs_io(sim);
  pb__file *f;
  assert_int_equal(io->open(io, path, PB__IO_WRITE | PB__IO_CREATE, &f),
                   PB_OK);
  assert_int_equal(pb__io_pwrite(f, buf, n, off), PB_OK);
  if (sync) assert_int_equal(pb__io_datasync(f), PB_OK);
  assert_int_equal(pb__io_close(f), PB_OK);
}

static void test_sim_model(void **state) {
  (void)state;
  pb__simfs *sim = new_sim();
  const pb__io *io = pb__simfs_io(sim);
  uint8_t big[2000];
  for (size_t k = 0; k < sizeof big; k++) big[k] = (uint8_t)(k % 251 + 1);

  /* A synced file whose directory entry was not synced vanishes; once the
   * directory is synced, it stays. */
  write_file_io(sim, "/a", "hello", 5, 0, true);
  pb__simfs_crash(sim, 1);
  pb__simfs_revive(sim);
  assert_false(pb__simfs_exists(sim, "/a"));
  write_file_io(sim, "/a", "hello", 5, 0, true);
  assert_int_equal(io->sync_dir(io, "/"), PB_OK);
  pb__simfs_crash(sim, 2);
  pb__simfs_revive(sim);
  assert_true(pb__simfs_exists(sim, "/a"));

  /* Unsynced appends: a prefix survives, the last write torn on a sector
   * boundary (the rest missing, or zeros). */
  bool saw_none = false, saw_all = false, saw_torn = false;
  for (uint64_t seed = 0; seed < 64; seed++) {
    write_file_io(sim, "/a", big, sizeof big, 5, false);
    pb__simfs_crash(sim, seed);
    pb__simfs_revive(sim);
    uint8_t *d;
    size_t len;
    assert_int_equal(pb__simfs_read_file(sim, "/a", &d, &len), PB_OK);
    assert_memory_equal(d, "hello", 5);
    assert_true(len == 5 || len == 2005 || len % 512 == 0);
    size_t landed = 5; /* bytes equal to what was written */
    while (landed < len && d[landed] == big[landed - 5]) landed++;
    for (size_t k = landed; k < len; k++) assert_int_equal(d[k], 0);
    assert_true(landed == 5 || landed == 2005 || landed % 512 == 0);
    saw_none |= len == 5;
    saw_all |= landed == 2005;
    saw_torn |= landed > 5 && landed < 2005;
    free(d);
    assert_int_equal(pb__simfs_write_file(sim, "/a", "hello", 5), PB_OK);
  }
  assert_true(saw_none && saw_all && saw_torn);

  /* An unlink that was not synced comes back; a synced one does not. */
  assert_int_equal(io->unlink(io, "/a"), PB_OK);
  pb__simfs_crash(sim, 3);
  pb__simfs_revive(sim);
  assert_true(pb__simfs_exists(sim, "/a"));
  assert_int_equal(io->unlink(io, "/a"), PB_OK);
  assert_int_equal(io->sync_dir(io, "/"), PB_OK);
  pb__simfs_crash(sim, 4);
  pb__simfs_revive(sim);
  assert_false(pb__simfs_exists(sim, "/a"));

  /* Locks: a second handle gets PB_ELOCKED until the first is closed. */
  pb__file *f1, *f2;
  assert_int_equal(io->open(io, "/l", PB__IO_WRITE | PB__IO_CREATE, &f1),
                   PB_OK);
  assert_int_equal(io->open(io, "/l", PB__IO_WRITE, &f2), PB_OK);
  assert_int_equal(io->lock(f1), PB_OK);
  assert_int_equal(io->lock(f2), PB_ELOCKED);
  assert_int_equal(pb__io_close(f1), PB_OK);
  assert_int_equal(io->lock(f2), PB_OK);

  /* Dead: everything fails with EIO; after revive, old handles still do,
   * and closing them frees them. */
  pb__simfs_crash(sim, 5);
  uint8_t b[4];
  size_t got;
  assert_int_equal(pb__io_pread(f2, b, 4, 0, &got), PB_EIO);
  assert_int_equal(errno, EIO);
  pb__file *f3;
  assert_int_equal(io->open(io, "/x", PB__IO_WRITE | PB__IO_CREATE, &f3),
                   PB_EIO);
  pb__simfs_revive(sim);
  assert_int_equal(pb__io_pwrite(f2, "z", 1, 0), PB_EIO);
  pb__io_close(f2);

  /* Counters, the Nth-call fault, and the space budget. */
  pb__simfs_reset_counts(sim);
  assert_int_equal(io->open(io, "/c", PB__IO_WRITE | PB__IO_CREATE, &f1),
                   PB_OK);
  pb__simfs_fail(sim, PB__SIMFS_PWRITE, 2, PB_EIO, 3);
  assert_int_equal(pb__io_pwrite(f1, "abcdef", 6, 0), PB_OK);
  assert_int_equal(pb__io_pwrite(f1, "ghijkl", 6, 6), PB_EIO);
  assert_false(pb__simfs_fault_pending(sim, PB__SIMFS_PWRITE));
  uint64_t size;
  assert_int_equal(pb__io_size(f1, &size), PB_OK);
  assert_int_equal(size, 9); /* "abcdef" + the 3-byte prefix "ghi" */
  pb__simfs_set_space(sim, pb__simfs_space_used(sim) + 100);
  assert_int_equal(pb__io_pwrite(f1, big, 300, size), PB_ENOSPC);
  assert_int_equal(errno, ENOSPC);
  assert_int_equal(pb__io_size(f1, &size), PB_OK);
  assert_int_equal(size, 109);
  pb__simfs_set_space(sim, UINT64_MAX);
  assert_int_equal(pb__io_datasync(f1), PB_OK);
  pb__io_close(f1);
  pb__simfs_counts c;
  pb__simfs_counts_get(sim, &c);
  assert_int_equal(c.pwrite, 3);
  assert_int_equal(c.datasync, 1);
  assert_int_equal(c.open, 1);
  pb__simfs_free(sim);
}

/* --- fsync counts --- */

static void test_fsync_counts(void **state) {
  (void)state;
  const pb_durability modes[] = {PB_DURABILITY_SYNC, PB_DURABILITY_GROUP,
                                 PB_DURABILITY_NONE};
  const char *names[] = {"SYNC", "GROUP", "NONE"};
  for (int m = 0; m < 3; m++) {
    pb__simfs *sim = new_sim();
    hist *h = new_hist();
    pb_file_options o = opts(0, modes[m]);
    pb_storage *st = must_open(sim, &o);
    commit_many(st, h, 2);
    pb__simfs_reset_counts(sim);
    commit_many(st, h, 50);
    pb__simfs_counts c;
    pb__simfs_counts_get(sim, &c);
    uint64_t want = modes[m] == PB_DURABILITY_NONE ? 0 : 50;
    print_message("%s: 50 commits, one thread: %" PRIu64 " fdatasync, %" PRIu64
                  " pwrite, %" PRIu64 " fsync, %" PRIu64 " directory fsync\n",
                  names[m], c.datasync, c.pwrite, c.sync, c.sync_dir);
    assert_int_equal(c.datasync, want);
    assert_int_equal(c.pwrite, 50);
    assert_int_equal(c.sync + c.sync_dir, 0);
    pb__simfs_reset_counts(sim);
    assert_int_equal(pb_storage_close(st), PB_OK);
    pb__simfs_counts_get(sim, &c);
    /* Close makes NONE's commits durable with one fdatasync. */
    assert_int_equal(c.datasync, modes[m] == PB_DURABILITY_NONE ? 1 : 0);
    free(h);
    pb__simfs_free(sim);
  }

  /* Segment creation: header fdatasync plus a directory fsync each. */
  pb__simfs *sim = new_sim();
  hist *h = new_hist();
  pb_file_options o = opts(1024, PB_DURABILITY_SYNC);
  pb_storage *st = must_open(sim, &o);
  size_t before = n_segs(st);
  pb__simfs_reset_counts(sim);
  commit_many(st, h, 60);
  size_t created = n_segs(st) - before;
  pb__simfs_counts c;
  pb__simfs_counts_get(sim, &c);
  print_message("rollover: 60 commits created %zu segments: %" PRIu64
                " fdatasync, %" PRIu64 " directory fsync\n",
                created, c.datasync, c.sync_dir);
  assert_true(created >= 10);
  /* Per segment: its entry, and the MANIFEST rename naming it. */
  assert_int_equal(c.sync_dir, 2 * created);
  assert_int_equal(c.datasync, 60 + created);      /* commits + headers */
  pb_storage_close(st);
  /* And every one of them survives a power cut. */
  pb__simfs_crash(sim, 9);
  pb__simfs_revive(sim);
  st = must_open(sim, &o);
  check_exact(st, h, 60);
  pb_storage_close(st);
  free(h);
  pb__simfs_free(sim);
}

/* --- a full disk --- */

static void test_enospc_budget(void **state) {
  (void)state;
  pb__simfs *sim = new_sim();
  hist *h = new_hist();
  pb_file_options o = opts(0, PB_DURABILITY_SYNC);
  pb_storage *st = must_open(sim, &o);
  /* Too little room to preallocate: commits write past the file's end
   * until the disk is full. */
  pb__simfs_set_space(sim, pb__simfs_space_used(sim) + 3000);
  commit_many(st, h, 3);
  int rc;
  while ((rc = commit_one(st, h, 4)) == PB_OK) assert_true(h->n < 40);
  assert_int_equal(rc, PB_ENOSPC);
  int acked = h->n;
  assert_true(acked > 3);
  char msg[512];
  pb__storage_errmsg(st, msg, sizeof msg);
  assert_non_null(strstr(msg, "No space left"));
  check_exact(st, h, acked);
  /* Still full: still PB_ENOSPC, not a failed store. */
  assert_int_equal(commit_one(st, h, 4), PB_ENOSPC);
  /* A smaller commit that fits goes through. */
  uint64_t used = pb__simfs_space_used(sim);
  pb__simfs_set_space(sim, used + 400);
  assert_int_equal(commit_one(st, h, 1), PB_OK);
  acked = h->n;
  pb_storage_close(st);

  /* Reopen, still full, and after a power cut: at the last commit. */
  st = must_open(sim, &o);
  check_exact(st, h, acked);
  assert_int_equal(commit_one(st, h, 4), PB_ENOSPC);
  pb__simfs_crash(sim, 11);
  pb_storage_close(st);
  pb__simfs_revive(sim);
  st = must_open(sim, &o);
  check_exact(st, h, acked);
  /* More room: commits work again. */
  pb__simfs_set_space(sim, UINT64_MAX);
  commit_many(st, h, 5);
  pb_storage_close(st);
  st = must_open(sim, &o);
  check_exact(st, h, acked + 5);
  pb_storage_close(st);

  /* The disk fills while a new segment is created: the commit fails, no
   * segment is left behind, and the next commit creates it. */
  o = opts(1024, PB_DURABILITY_SYNC);
  st = must_open(sim, &o);
  size_t segs = n_segs(st);
  while (n_segs(st) == segs) commit_many(st, h, 1);
  segs = n_segs(st);
  pb__simfs_set_space(sim, pb__simfs_space_used(sim) + 30);
  int k = 0;
  while ((rc = commit_one(st, h, 4)) == PB_OK) assert_true(++k < 40);
  assert_int_equal(rc, PB_ENOSPC);
  assert_int_equal(n_segs(st), segs);
  char next[64];
  seg_path(segs + 1, next);
  assert_false(pb__simfs_exists(sim, next));
  pb__simfs_set_space(sim, UINT64_MAX);
  commit_many(st, h, 6);
  assert_true(n_segs(st) > segs);
  int total = h->n;
  pb_storage_close(st);
  st = must_open(sim, &o);
  check_exact(st, h, total);
  pb_storage_close(st);
  free(h);
  pb__simfs_free(sim);
}

/* --- EIO from fdatasync --- */

static void test_eio_datasync(void **state) {
  (void)state;
  for (int with_cut = 0; with_cut < 2; with_cut++) {
    pb__simfs *sim = new_sim();
    hist *h = new_hist();
    pb_file_options o = opts(0, PB_DURABILITY_SYNC);
    pb_storage *st = must_open(sim, &o);
    commit_many(st, h, 4);
    pb__simfs_fail(sim, PB__SIMFS_DATASYNC, 1, PB_EIO, 0);
    assert_int_equal(commit_one(st, h, 3), PB_EIO);
    /* Not published, not readable; the earlier commits are. */
    check_exact(st, h, 4);
    pb_bytes v;
    assert_int_equal(st->ops->read_atom(st, h->ptr[4][0], &v), PB_ENOTFOUND);
    /* The store refuses writes until reopened, and says why. */
    hist saved = *h;
    assert_int_equal(commit_one(st, h, 1), PB_EFAILED);
    *h = saved;
    char msg[512];
    pb__storage_errmsg(st, msg, sizeof msg);
    assert_non_null(strstr(msg, "reopen"));
    assert_int_equal(st->ops->flush(st), PB_OK); /* acked ones were synced */
    if (with_cut) pb__simfs_crash(sim, 21);
    pb_storage_close(st);
    if (with_cut) pb__simfs_revive(sim);
    /* The failed commit was never acknowledged: it may be found or not,
     * but never in part; everything acknowledged is there. */
    st = must_open(sim, &o);
    adopt(st, h);
    commit_many(st, h, 2);
    pb_storage_close(st);
    st = must_open(sim, &o);
    check_exact(st, h, h->n);
    pb_storage_close(st);
    free(h);
    pb__simfs_free(sim);
  }
}

/* --- a commit paused inside fdatasync --- */

typedef struct pause_ctl {
  pthread_mutex_t mu;
  pthread_cond_t cv;
  bool armed;    /* the next datasync pauses */
  bool entered;  /* a committer is paused */
  bool released; /* let it go */
} pause_ctl;

static void pause_hook(void *arg, pb__simfs_op op, const char *path) {
  pause_ctl *p = arg;
  pthread_mutex_lock(&p->mu);
  if (p->armed && op == PB__SIMFS_DATASYNC) {
    p->armed = false;
    p->entered = true;
    pthread_cond_broadcast(&p->cv);
    while (!p->released) pthread_cond_wait(&p->cv, &p->mu);
  }
  pthread_mutex_unlock(&p->mu);
}

static const pb_record_type note_type = {.name = "tests.Note",
                                         .fingerprint = 7};

typedef struct writer_arg {
  pb_db *db;
  int rc; /* what pb_txn_commit returned */
} writer_arg;

static void *paused_writer(void *arg) {
  writer_arg *w = arg;
  pb_txn *txn;
  pb_atom_ptr p;
  w->rc = pb_txn_begin(w->db, 0, &txn);
  if (w->rc != PB_OK) return NULL;
  w->rc = pb_txn_put_record(txn, &note_type, "\x0a\x06" "second", 8, &p);
  pb_value ref = {.kind = PB_VALUE_REF, .as.ref = p};
  if (w->rc == PB_OK) w->rc = pb_txn_set(txn, "b", &ref);
  w->rc = w->rc == PB_OK ? pb_txn_commit(txn) : pb_txn_abort(txn);
  return NULL;
}

/* Waits for `flag` under p->mu, 10 s at most. */
static bool wait_flag(pause_ctl *p, const bool *flag) {
  struct timespec until;
  clock_gettime(CLOCK_REALTIME, &until);
  until.tv_sec += 10;
  pthread_mutex_lock(&p->mu);
  int rc = 0;
  while (!*flag && rc == 0)
    rc = pthread_cond_timedwait(&p->cv, &p->mu, &until);
  bool ok = *flag;
  pthread_mutex_unlock(&p->mu);
  return ok;
}

static void test_paused_fsync(void **state) {
  (void)state;
  pb__simfs *sim = new_sim();
  pause_ctl p = {.armed = false};
  pthread_mutex_init(&p.mu, NULL);
  pthread_cond_init(&p.cv, NULL);
  pb__simfs_set_sync_hook(sim, pause_hook, &p);
  pb_file_options o = opts(0, PB_DURABILITY_SYNC);
  pb_storage *st = must_open(sim, &o);
  pb_space *sp;
  pb_db *db;
  assert_int_equal(pb_space_open(st, &sp), PB_OK); /* owns st */
  assert_int_equal(pb_db_open(sp, "t", PB_CREATE, &db), PB_OK);
  pb_txn *txn;
  pb_atom_ptr first;
  assert_int_equal(pb_txn_begin(db, 0, &txn), PB_OK);
  assert_int_equal(pb_txn_put_record(txn, &note_type, "\x0a\x05" "first", 7, &first),
                   PB_OK);
  pb_value ref = {.kind = PB_VALUE_REF, .as.ref = first};
  assert_int_equal(pb_txn_set(txn, "a", &ref), PB_OK);
  assert_int_equal(pb_txn_commit(txn), PB_OK);
  pb_atom_ptr root_before;
  uint64_t lsn_before;
  st->ops->read_root(st, &root_before, &lsn_before);

  /* The writer stops inside its fdatasync. */
  p.armed = true;
  writer_arg w = {.db = db, .rc = 1};
  pthread_t t;
  assert_int_equal(pthread_create(&t, NULL, paused_writer, &w), 0);
  assert_true(wait_flag(&p, &p.entered));

  /* Readers complete meanwhile: the storage ops... */
  pb_atom_ptr root;
  uint64_t lsn;
  assert_int_equal(st->ops->read_root(st, &root, &lsn), PB_OK);
  assert_int_equal(lsn, lsn_before);
  assert_true(pb_atom_ptr_equal(root, root_before));
  pb_bytes v;
  assert_int_equal(st->ops->read_atom(st, first, &v), PB_OK);
  /* ...and a read-only transaction of the public API. */
  assert_int_equal(pb_txn_begin(db, PB_RDONLY, &txn), PB_OK);
  pb_value got;
  assert_int_equal(pb_txn_get(txn, "a", &got), PB_OK);
  pb_bytes body;
  assert_int_equal(pb_txn_load_record(txn, &note_type, got.as.ref, &body),
                   PB_OK);
  assert_int_equal(body.len, 7);
  assert_memory_equal(body.ptr, "\x0a\x05" "first", 7);
  assert_int_equal(pb_txn_get(txn, "b", &got), PB_ENOTFOUND);
  pb_txn_abort(txn);
  pthread_mutex_lock(&p.mu);
  assert_true(p.entered && !p.released); /* the writer is still paused */
  p.released = true;
  pthread_cond_broadcast(&p.cv);
  pthread_mutex_unlock(&p.mu);
  pthread_join(t, NULL);
  assert_int_equal(w.rc, PB_OK);

  assert_int_equal(pb_txn_begin(db, PB_RDONLY, &txn), PB_OK);
  assert_int_equal(pb_txn_get(txn, "b", &got), PB_OK);
  assert_int_equal(pb_txn_load_record(txn, &note_type, got.as.ref, &body),
                   PB_OK);
  assert_memory_equal(body.ptr, "\x0a\x06" "second", 8);
  pb_txn_abort(txn);
  pb_db_close(db);
  assert_int_equal(pb_space_close(sp), PB_OK);
  pthread_cond_destroy(&p.cv);
  pthread_mutex_destroy(&p.mu);
  pb__simfs_free(sim);
}

/* --- short writes --- */

static uint64_t file_len(pb__simfs *sim, const char *path) {
  uint8_t *d;
  size_t len;
  assert_int_equal(pb__simfs_read_file(sim, path, &d, &len), PB_OK);
  free(d);
  return len;
}

/* Where a segment's frames end (walking their lengths up to the first
 * zero one); what follows must be preallocated zeros. */
static uint64_t frames_end(pb__simfs *sim, const char *path) {
  uint8_t *d;
  size_t len;
  assert_int_equal(pb__simfs_read_file(sim, path, &d, &len), PB_OK);
  size_t pos = PB__WAL_HEADER_SIZE;
  while (pos + PB__FRAME_HEADER_SIZE <= len && pb__load_le32(d + pos) != 0)
    pos += pb__frame_size(pb__load_le32(d + pos));
  assert_true(pos <= len);
  for (size_t i = pos; i < len; i++) assert_int_equal(d[i], 0);
  free(d);
  return pos;
}

/* Commits into preallocated room go on when the disk is full, and close
 * gives the unused room back. */
static void test_full_disk_preallocated(void **state) {
  (void)state;
  char seg1[64];
  seg_path(1, seg1);
  pb__simfs *sim = new_sim();
  hist *h = new_hist();
  pb_file_options o = opts(0, PB_DURABILITY_SYNC);
  pb_storage *st = must_open(sim, &o);
  commit_many(st, h, 3);
  uint64_t end = frames_end(sim, seg1);
  assert_true(end > PB__WAL_HEADER_SIZE);
  /* The first commit reserved PB__FILE_PREALLOC bytes after the header. */
  assert_int_equal(file_len(sim, seg1),
                   PB__WAL_HEADER_SIZE + PB__FILE_PREALLOC);
  pb__simfs_set_space(sim, pb__simfs_space_used(sim)); /* full */
  pb__simfs_counts c0, c1;
  pb__simfs_counts_get(sim, &c0);
  commit_many(st, h, 20);
  pb__simfs_counts_get(sim, &c1);
  assert_int_equal(c1.datasync - c0.datasync, 20);
  assert_int_equal(c1.allocate, c0.allocate); /* room was there */
  pb_storage_close(st);
  assert_int_equal(file_len(sim, seg1), frames_end(sim, seg1)); /* trimmed */
  pb__simfs_crash(sim, 5);
  pb__simfs_revive(sim);
  st = must_open(sim, &o);
  check_exact(st, h, h->n);
  pb_storage_close(st);
  free(h);
  pb__simfs_free(sim);
}

static void test_partial_writes(void **state) {
  (void)state;
  char seg1[64];
  seg_path(1, seg1);
  for (int variant = 0; variant < 3; variant++) {
    pb__simfs *sim = new_sim();
    hist *h = new_hist();
    pb_file_options o = opts(0, PB_DURABILITY_SYNC);
    pb_storage *st = must_open(sim, &o);
    commit_many(st, h, 3);
    uint64_t size = frames_end(sim, seg1);
    /* 100 bytes of the frame land, then EIO. */
    pb__simfs_fail(sim, PB__SIMFS_PWRITE, 1, PB_EIO, 100);
    if (variant > 0) /* and the cut back fails too: the store fails */
      pb__simfs_fail(sim, PB__SIMFS_TRUNCATE, 1, PB_EIO, 0);
    assert_int_equal(commit_one(st, h, 4), PB_EIO);
    check_exact(st, h, 3);
    if (variant == 0) {
      assert_int_equal(file_len(sim, seg1), size); /* cut back */
      commit_many(st, h, 2);                       /* and it goes on */
    } else {
      assert_true(file_len(sim, seg1) >= size + 100); /* preallocated */
      hist saved = *h;
      assert_int_equal(commit_one(st, h, 1), PB_EFAILED);
      *h = saved;
    }
    if (variant == 2) pb__simfs_crash(sim, 31); /* and the power goes */
    pb_storage_close(st);
    if (variant == 2) pb__simfs_revive(sim);
    st = must_open(sim, &o);
    h->pending = false; /* a partial frame can never be found */
    check_exact(st, h, h->n);
    commit_many(st, h, 2);
    pb_storage_close(st);
    st = must_open(sim, &o);
    check_exact(st, h, h->n);
    pb_storage_close(st);
    free(h);
    pb__simfs_free(sim);
  }
}

/* --- written preallocation and the gathered write --- */

/* Commits one atom of `len` bytes of `fill` as the new root (on the
 * published root), into *out.  Returns the commit's code. */
static int commit_big(pb_storage *st, size_t len, uint8_t fill,
                      pb_atom_ptr *out) {
  uint8_t *buf = malloc(len);
  assert_non_null(buf);
  memset(buf, fill, len);
  pb__batch_builder bb;
  assert_int_equal(pb__batch_init(&bb), PB_OK);
  assert_int_equal(pb__batch_add(&bb, buf, len, out), PB_OK);
  free(buf);
  pb_atom_ptr root;
  assert_int_equal(st->ops->read_root(st, &root, NULL), PB_OK);
  pb__batch b = {.id_hi = bb.id_hi, .id_lo = bb.id_lo,
                 .data = bb.buf.data, .size = bb.buf.len};
  int rc = st->ops->commit(st, &b, root, *out, NULL);
  pb__batch_free(&bb);
  return rc;
}

/* The atom at p is `len` bytes of `fill`. */
static void check_big(pb_storage *st, pb_atom_ptr p, size_t len,
                      uint8_t fill) {
  pb_bytes v;
  assert_int_equal(st->ops->read_atom(st, p, &v), PB_OK);
  assert_int_equal(v.len, len);
  for (size_t k = 0; k < len; k++) assert_int_equal(v.ptr[k], fill);
}

/* Every frame lands in space already written (with zeros): only the
 * zero-fill of each new chunk writes unwritten space, and only the commit
 * whose fdatasync carries that chunk syncs unwritten space; the room ahead
 * never drops below PB__FILE_ZERO_AHEAD; and the zeros read as the end. */
static void test_written_prealloc(void **state) {
  (void)state;
  enum { BIG = 60000, N = 40, LARGE = 2 << 20 }; /* LARGE: past the room */
  char seg1[64];
  seg_path(1, seg1);
  pb__simfs *sim = new_sim();
  pb_file_options o = opts(0, PB_DURABILITY_SYNC);
  pb_storage *st = must_open(sim, &o);
  pb_atom_ptr p[N];
  uint64_t refills = 0, len0 = file_len(sim, seg1);
  pb__simfs_counts c0, c1;
  pb__simfs_counts_get(sim, &c0);
  for (int i = 0; i < N; i++) {
    pb__simfs_counts a, b;
    pb__simfs_counts_get(sim, &a);
    assert_int_equal(commit_big(st, BIG, (uint8_t)(i + 1), &p[i]), PB_OK);
    pb__simfs_counts_get(sim, &b);
    assert_int_equal(b.datasync - a.datasync, 1); /* one fdatasync each */
    uint64_t len = file_len(sim, seg1), end = frames_end(sim, seg1);
    assert_true(len - end >= PB__FILE_ZERO_AHEAD); /* written ahead */
    if (len > len0) refills++;
    /* A commit writes at most one unwritten chunk: the zeros, not the
     * frame (which went into the previous chunks' zeros). */
    assert_int_equal(b.unwritten_writes - a.unwritten_writes,
                     len > len0 ? 1 : 0);
    len0 = len;
  }
  pb__simfs_counts_get(sim, &c1);
  assert_true(refills >= 2); /* 2.4 MB of frames: the chunks were renewed */
  assert_int_equal(c1.unwritten_writes - c0.unwritten_writes, refills);
  assert_int_equal(c1.unwritten_syncs - c0.unwritten_syncs, refills);
  assert_int_equal(c1.datasync - c0.datasync, N);
  /* A frame larger than PB__FILE_ZERO_AHEAD gets no zeros written first
   * (only its own bytes are written): its own write grows the file, and no
   * zeros follow it; the next small frame starts a new chunk. */
  pb__simfs_counts a, b;
  pb_atom_ptr large, small;
  pb__simfs_counts_get(sim, &a);
  assert_int_equal(commit_big(st, LARGE, 0x5a, &large),
                   PB_OK);
  pb__simfs_counts_get(sim, &b);
  assert_int_equal(b.unwritten_writes - a.unwritten_writes, 1); /* itself */
  assert_int_equal(b.bytes_written - a.bytes_written,
                   pb__frame_size(PB__COMMIT_FIXED_SIZE + 4 + LARGE));
  assert_int_equal(file_len(sim, seg1), frames_end(sim, seg1));
  assert_int_equal(commit_big(st, 100, 0x5b, &small), PB_OK);
  assert_true(file_len(sim, seg1) - frames_end(sim, seg1) >=
              PB__FILE_ZERO_AHEAD);
  /* Reads, then a power cut with the zeros still there: all is found. */
  for (int i = 0; i < N; i++) check_big(st, p[i], BIG, (uint8_t)(i + 1));
  check_big(st, large, LARGE, 0x5a);
  pb__simfs_crash(sim, 77);
  pb_storage_close(st);
  pb__simfs_revive(sim);
  st = must_open(sim, &o);
  pb_atom_ptr root;
  uint64_t lsn;
  assert_int_equal(st->ops->read_root(st, &root, &lsn), PB_OK);
  assert_int_equal(lsn, N + 2);
  assert_true(pb_atom_ptr_equal(root, small));
  for (int i = 0; i < N; i++) check_big(st, p[i], BIG, (uint8_t)(i + 1));
  check_big(st, large, LARGE, 0x5a);
  check_big(st, small, 100, 0x5b);
  assert_int_equal(pb_storage_close(st), PB_OK);
  assert_int_equal(file_len(sim, seg1), frames_end(sim, seg1)); /* cut */
  pb__simfs_free(sim);
}

/* A rollover cuts the written zeros of the sealed segment (it ends at its
 * last frame) and the new segment is written ahead in turn. */
static void test_written_prealloc_rollover(void **state) {
  (void)state;
  char seg1[64], seg2[64];
  seg_path(1, seg1);
  seg_path(2, seg2);
  pb__simfs *sim = new_sim();
  pb_file_options o = opts(256 << 10, PB_DURABILITY_SYNC);
  pb_storage *st = must_open(sim, &o);
  hist *h = new_hist();
  commit_many(st, h, 3);
  /* Capped at segment_size. */
  assert_int_equal(file_len(sim, seg1), 256 << 10);
  pb_atom_ptr p;
  while (n_segs(st) < 2)
    assert_int_equal(commit_big(st, 30000, 7, &p), PB_OK);
  assert_int_equal(file_len(sim, seg1), frames_end(sim, seg1));
  assert_true(file_len(sim, seg2) > frames_end(sim, seg2));
  pb__simfs_counts a, b;
  pb__simfs_counts_get(sim, &a);
  assert_int_equal(commit_big(st, 1000, 8, &p), PB_OK);
  pb__simfs_counts_get(sim, &b);
  assert_int_equal(b.unwritten_writes, a.unwritten_writes);
  assert_int_equal(pb_storage_close(st), PB_OK);
  st = must_open(sim, &o);
  for (int c = 0; c < 3; c++) check_commit(st, h, c);
  check_big(st, p, 1000, 8);
  assert_int_equal(pb_storage_close(st), PB_OK);
  free(h);
  pb__simfs_free(sim);
}

/* The simulated pwritev: pieces land back to back; a failing one lands a
 * prefix of the whole (across pieces); it counts as a pwrite. */
static void test_sim_pwritev(void **state) {
  (void)state;
  pb__simfs *sim = new_sim();
  const pb__io *io = pb__simfs_io(sim);
  pb__file *f;
  assert_int_equal(io->open(io, "/v", PB__IO_WRITE | PB__IO_CREATE, &f),
                   PB_OK);
  pb__iovec iov[3] = {{"abc", 3}, {"", 0}, {"defgh", 5}};
  pb__simfs_reset_counts(sim);
  assert_int_equal(pb__io_pwritev(f, iov, 3, 2), PB_OK);
  pb__simfs_fail(sim, PB__SIMFS_PWRITE, 1, PB_EIO, 4);
  assert_int_equal(pb__io_pwritev(f, iov, 3, 20), PB_EIO);
  pb__simfs_counts c;
  pb__simfs_counts_get(sim, &c);
  assert_int_equal(c.pwrite, 2);
  assert_int_equal(c.pwritev, 2);
  assert_int_equal(pb__io_close(f), PB_OK);
  uint8_t *d;
  size_t len;
  assert_int_equal(pb__simfs_read_file(sim, "/v", &d, &len), PB_OK);
  assert_int_equal(len, 24);
  assert_memory_equal(d, "\0\0abcdefgh", 10);
  assert_memory_equal(d + 20, "abcd", 4);
  free(d);
  pb__simfs_free(sim);
}

/* The frame's pwritev failing (ENOSPC, EIO, a short write of a few bytes
 * or of the header and part of the batch): the file is cut back to its
 * last frame (the written zeros go too), nothing is published, the store
 * goes on, and a reopen (after a power cut too) finds exactly the
 * acknowledged commits. */
static void test_pwritev_faults(void **state) {
  (void)state;
  char seg1[64];
  seg_path(1, seg1);
  const struct { int code; size_t partial; } cases[] = {
      {PB_ENOSPC, 0}, {PB_EIO, 0}, {PB_EIO, 7}, {PB_ENOSPC, 150}};
  for (size_t v = 0; v < sizeof cases / sizeof cases[0]; v++) {
    pb__simfs *sim = new_sim();
    hist *h = new_hist();
    pb_file_options o = opts(0, PB_DURABILITY_SYNC);
    pb_storage *st = must_open(sim, &o);
    commit_many(st, h, 3);
    uint64_t end = frames_end(sim, seg1);
    assert_true(file_len(sim, seg1) > end); /* written zeros ahead */
    pb__simfs_counts a, b;
    pb__simfs_counts_get(sim, &a);
    pb__simfs_fail(sim, PB__SIMFS_PWRITE, 1, cases[v].code,
                   cases[v].partial);
    assert_int_equal(commit_one(st, h, 6), cases[v].code);
    pb__simfs_counts_get(sim, &b);
    assert_int_equal(b.pwritev - a.pwritev, 1); /* the frame's pwritev */
    assert_int_equal(b.datasync, a.datasync);   /* nothing to sync */
    assert_int_equal(file_len(sim, seg1), end); /* cut back */
    check_exact(st, h, 3);
    pb_bytes view;
    assert_int_equal(st->ops->read_atom(st, h->ptr[3][0], &view),
                     PB_ENOTFOUND);
    commit_many(st, h, 2); /* the store goes on */
    check_exact(st, h, 5);
    if (v % 2) pb__simfs_crash(sim, 40 + v);
    pb_storage_close(st);
    if (v % 2) pb__simfs_revive(sim);
    st = must_open(sim, &o);
    check_exact(st, h, 5);
    pb_storage_close(st);
    free(h);
    pb__simfs_free(sim);
  }
  /* A full disk during a frame larger than the written room (so written
   * without zeros first): it lands in part, then ENOSPC; all is cut back. */
  pb__simfs *sim = new_sim();
  hist *h = new_hist();
  pb_file_options o = opts(0, PB_DURABILITY_SYNC);
  pb_storage *st = must_open(sim, &o);
  commit_many(st, h, 3);
  uint64_t end = frames_end(sim, seg1);
  pb__simfs_set_space(sim, pb__simfs_space_used(sim) + 1000);
  pb_atom_ptr p;
  assert_int_equal(commit_big(st, 3u << 20, 9, &p), PB_ENOSPC);
  assert_int_equal(file_len(sim, seg1), end);
  check_exact(st, h, 3);
  pb__simfs_set_space(sim, UINT64_MAX);
  commit_many(st, h, 2);
  pb_storage_close(st);
  st = must_open(sim, &o);
  check_exact(st, h, 5);
  pb_storage_close(st);
  free(h);
  pb__simfs_free(sim);
}

/* --- every fault point, every crash point --- */

/* The sweep's starting point: 3 commits, then a torn tail (the start of
 * a frame whose length runs past the end), so that the workload's first
 * open has a tail to cut (truncate, fsync). */
static void sweep_base(pb__simfs *sim, hist *h) {
  pb_file_options o = opts(1024, PB_DURABILITY_SYNC);
  pb_storage *st = must_open(sim, &o);
  commit_many(st, h, 3);
  size_t last = n_segs(st);
  pb_storage_close(st);
  char path[64];
  seg_path(last, path);
  uint8_t *d;
  size_t len;
  assert_int_equal(pb__simfs_read_file(sim, path, &d, &len), PB_OK);
  d = realloc(d, len + 100);
  memcpy(d + len, d + PB__WAL_HEADER_SIZE, 100); /* a frame's first bytes */
  assert_int_equal(pb__simfs_write_file(sim, path, d, len + 100), PB_OK);
  free(d);
  pb__simfs_reset_counts(sim);
}

/* The sweep workload: open (cutting the torn tail), 12 commits with
 * rollovers, close, reopen, 4 commits, close.  Stops at the first failure
 * and returns its code. */
static int sweep_workload(pb__simfs *sim, hist *h) {
  pb_file_options o = opts(1024, PB_DURABILITY_SYNC);
  for (int phase = 0; phase < 2; phase++) {
    pb_storage *st;
    char msg[512];
    int rc = open_sim(sim, &o, &st, msg);
    if (rc != PB_OK) return rc;
    int count = phase == 0 ? 12 : 4;
    for (int k = 0; k < count && rc == PB_OK; k++)
      rc = commit_one(st, h, 1 + (h->n % 4));
    int close_rc = pb_storage_close(st);
    if (rc != PB_OK) return rc;
    if (close_rc != PB_OK) return close_rc;
  }
  return PB_OK;
}

/* Reopens after a fault or a cut: everything acknowledged is there, and
 * the store takes commits again. */
static void reopen_and_check(pb__simfs *sim, hist *h) {
  pb_file_options o = opts(1024, PB_DURABILITY_SYNC);
  pb_storage *st = must_open(sim, &o);
  adopt(st, h);
  commit_many(st, h, 2);
  pb_storage_close(st);
  st = must_open(sim, &o);
  check_exact(st, h, h->n);
  pb_storage_close(st);
}

static void test_fault_sweep(void **state) {
  (void)state;
  const pb__simfs_op ops[] = {PB__SIMFS_PWRITE, PB__SIMFS_DATASYNC,
                              PB__SIMFS_SYNC, PB__SIMFS_SYNC_DIR,
                              PB__SIMFS_OPEN, PB__SIMFS_TRUNCATE,
                              PB__SIMFS_ALLOCATE};
  const char *names[] = {"pwrite", "datasync", "sync", "sync_dir", "open",
                         "truncate", "allocate"};
  for (size_t k = 0; k < sizeof ops / sizeof ops[0]; k++) {
    unsigned n;
    for (n = 1;; n++) {
      bool fired = false;
      for (int cut = 0; cut < 2; cut++) {
        pb__simfs *sim = new_sim();
        hist *h = new_hist();
        sweep_base(sim, h);
        int code = ops[k] == PB__SIMFS_PWRITE && n % 2 ? PB_ENOSPC : PB_EIO;
        pb__simfs_fail(sim, ops[k], n, code, 37);
        int rc = sweep_workload(sim, h);
        fired = !pb__simfs_fault_pending(sim, ops[k]);
        if (!fired) {
          assert_int_equal(rc, PB_OK);
        } else if (rc != PB_OK && rc != code && rc != PB_EIO &&
                   rc != PB_EFAILED) {
          print_error("%s #%u: unexpected %s\n", names[k], n,
                      pb_errname(rc));
          fail();
        }
        pb__simfs_fail(sim, ops[k], 0, 0, 0);
        if (cut) {
          pb__simfs_crash(sim, n * 7919u + k);
          pb__simfs_revive(sim);
        }
        reopen_and_check(sim, h);
        free(h);
        pb__simfs_free(sim);
      }
      if (!fired) break;
    }
    print_message("fault sweep: %-8s failed at each of its %u calls\n",
                  names[k], n - 1);
  }
}

static void test_crash_point_sweep(void **state) {
  (void)state;
  unsigned points = 0, recovery_cuts = 0, runs = 0;
  for (unsigned n = 1;; n++) {
    bool fired = false;
    for (uint64_t seed = 0; seed < 4; seed++) {
      pb__simfs *sim = new_sim();
      hist *h = new_hist();
      sweep_base(sim, h);
      pb__simfs_crash_at(sim, n, seed * 104729u + n);
      int rc = sweep_workload(sim, h);
      fired = pb__simfs_is_dead(sim);
      if (!fired) {
        assert_int_equal(rc, PB_OK);
        free(h);
        pb__simfs_free(sim);
        break;
      }
      if (rc != PB_EIO && rc != PB_EFAILED) {
        print_error("cut at op %u: unexpected %s\n", n, pb_errname(rc));
        fail();
      }
      pb__simfs_revive(sim);
      runs++;
      if (seed % 2) {
        /* A second cut, during the recovery that follows. */
        pb__simfs_crash_at(sim, 1 + (unsigned)(n + seed) % 6, seed + n);
        pb_file_options o = opts(1024, PB_DURABILITY_SYNC);
        pb_storage *st = NULL;
        char msg[512];
        if (open_sim(sim, &o, &st, msg) == PB_OK) pb_storage_close(st);
        if (pb__simfs_is_dead(sim)) {
          recovery_cuts++;
          pb__simfs_revive(sim);
        }
        pb__simfs_crash_at(sim, 0, 0);
      }
      reopen_and_check(sim, h);
      free(h);
      pb__simfs_free(sim);
    }
    if (!fired) break;
    points = n;
  }
  print_message("crash points: %u mutating operations, %u cuts, %u of them "
                "followed by a cut during recovery\n",
                points, runs, recovery_cuts);
  assert_true(points > 40);
}

/* --- bit flips --- */

typedef struct frame_span {
  uint64_t start; /* offset of the frame header */
  uint64_t used;  /* end of header + payload */
  uint64_t end;   /* end including padding */
} frame_span;

static int parse_frames(const uint8_t *d, size_t len, frame_span *out,
                        int max) {
  int n = 0;
  uint64_t pos = PB__WAL_HEADER_SIZE;
  while (pos + PB__FRAME_HEADER_SIZE <= len && n < max) {
    uint32_t l = pb__load_le32(d + pos);
    out[n].start = pos;
    out[n].used = pos + PB__FRAME_HEADER_SIZE + l;
    out[n].end = pos + pb__frame_size(l);
    pos = out[n++].end;
  }
  assert_int_equal(pos, len);
  return n;
}

static void test_bitflip_sweep(void **state) {
  (void)state;
  pb__simfs *sim = new_sim();
  hist *h = new_hist();
  pb_file_options o = opts(900, PB_DURABILITY_SYNC);
  pb_storage *st = must_open(sim, &o);
  while (n_segs(st) < 2 || h->n < 6) commit_many(st, h, 1);
  size_t nseg = n_segs(st);
  /* MANIFEST as a crash would leave it (written at the last rollover),
   * and as the close leaves it (the last segment's end recorded). */
  uint8_t *man_crash, *man_closed;
  size_t man_crash_len, man_closed_len;
  assert_int_equal(pb__simfs_read_file(sim, DB "/MANIFEST", &man_crash,
                                       &man_crash_len),
                   PB_OK);
  pb_storage_close(st);
  assert_int_equal(pb__simfs_read_file(sim, DB "/MANIFEST", &man_closed,
                                       &man_closed_len),
                   PB_OK);
  int total = h->n;

  uint8_t *img[8];
  size_t len[8];
  char path[8][64];
  assert_true(nseg <= 8);
  for (size_t s = 0; s < nseg; s++) {
    seg_path(s + 1, path[s]);
    assert_int_equal(pb__simfs_read_file(sim, path[s], &img[s], &len[s]),
                     PB_OK);
  }
  unsigned flips = 0, corrupt = 0, cut = 0, harmless = 0;
  for (size_t s = 0; s < nseg; s++) {
    frame_span fr[16];
    int nfr = parse_frames(img[s], len[s], fr, 16);
    bool last_seg = s + 1 == nseg;
    assert_true(nfr >= 1 && (!last_seg || nfr >= 2 || nseg >= 2));
    uint8_t *bad = malloc(len[s]);
    for (size_t off = 0; off < len[s]; off++) {
      memcpy(bad, img[s], len[s]);
      bad[off] ^= (uint8_t)(1u << (off % 8));
      assert_int_equal(pb__simfs_write_file(sim, path[s], bad, len[s]),
                       PB_OK);
      char msg[512];
      pb_test_detail_clear();
      int rc = open_sim(sim, &o, &st, msg);
      flips++;
      int k = -1;
      for (int j = 0; j < nfr; j++)
        if (off >= fr[j].start && off < fr[j].end) k = j;
      char name[25];
      pb__seg_name(s + 1, name);
      if (k < 0) { /* the segment header */
        assert_true(rc == PB_ECORRUPT || rc == PB_EVERSION);
        assert_non_null(strstr(msg, name));
        if (rc == PB_ECORRUPT) assert_corrupt_rc(rc, PB_AT_FILE);
        corrupt++;
      } else if (off >= fr[k].used) { /* padding: not covered, harmless */
        assert_int_equal(rc, PB_OK);
        check_exact(st, h, total);
        pb_storage_close(st);
        harmless++;
      } else if (last_seg && k == nfr - 1) {
        /* The last frame.  After a clean close, MANIFEST records it as
         * durable: damage, nothing cut. */
        assert_corrupt_rc(rc, PB_AT_FILE);
        assert_non_null(strstr(msg, name));
        assert_non_null(strstr(msg, "MANIFEST"));
        uint8_t *now;
        size_t nlen;
        assert_int_equal(pb__simfs_read_file(sim, path[s], &now, &nlen),
                         PB_OK);
        assert_int_equal(nlen, len[s]);
        assert_memory_equal(now, bad, len[s]); /* nothing changed */
        free(now);
        /* With MANIFEST as a crash leaves it, it is indistinguishable
         * from a torn write: cut. */
        assert_int_equal(pb__simfs_write_file(sim, DB "/MANIFEST", man_crash,
                                              man_crash_len),
                         PB_OK);
        assert_int_equal(open_sim(sim, &o, &st, msg), PB_OK);
        check_exact(st, h, total - 1);
        pb_storage_close(st);
        assert_int_equal(file_len(sim, path[s]), fr[k].start);
        assert_int_equal(pb__simfs_write_file(sim, DB "/MANIFEST", man_closed,
                                              man_closed_len),
                         PB_OK);
        corrupt++;
        cut++;
        rc = PB_OK; /* checked above; the file is cut now */
      } else {
        if (rc != PB_ECORRUPT)
          print_error("flip at %s:%zu: %s\n", name, off, pb_errname(rc));
        assert_corrupt_rc(rc, PB_AT_FILE);
        char where[48];
        snprintf(where, sizeof where, "offset %" PRIu64, fr[k].start);
        if (strstr(msg, name) == NULL || strstr(msg, where) == NULL)
          print_error("flip at %s:%zu: message \"%s\"\n", name, off, msg);
        assert_non_null(strstr(msg, name));
        assert_non_null(strstr(msg, where));
        corrupt++;
      }
      if (rc != PB_OK) { /* a refused open changed nothing */
        uint8_t *now;
        size_t nlen;
        assert_int_equal(pb__simfs_read_file(sim, path[s], &now, &nlen),
                         PB_OK);
        assert_int_equal(nlen, len[s]);
        assert_memory_equal(now, bad, len[s]);
        free(now);
      }
      assert_int_equal(pb__simfs_write_file(sim, path[s], img[s], len[s]),
                       PB_OK);
    }
    free(bad);
  }
  print_message("bit flips: %u bytes of %zu segments: %u PB_ECORRUPT/"
                "PB_EVERSION with the location, %u of them in the last "
                "frame, cut as a torn one with MANIFEST as a crash leaves "
                "it, %u in padding\n",
                flips, nseg, corrupt, cut, harmless);
  st = must_open(sim, &o);
  check_exact(st, h, total);
  pb_storage_close(st);
  for (size_t s = 0; s < nseg; s++) free(img[s]);
  free(man_crash);
  free(man_closed);
  free(h);
  pb__simfs_free(sim);
}

/* --- a real full disk: RLIMIT_FSIZE in a child process --- */

/* The child: commits numbered transactions until one fails; reports each
 * acknowledged number on `fd`.  Exits 0 when the failure was PB_ENOSPC,
 * the next commit fails the same way, and the store closes cleanly. */
static void enospc_child(const char *dir, int fd) {
  struct rlimit rl = {.rlim_cur = 256 * 1024, .rlim_max = 256 * 1024};
  if (signal(SIGXFSZ, SIG_IGN) == SIG_ERR || setrlimit(RLIMIT_FSIZE, &rl))
    _exit(10);
  pb_storage *st;
  pb_space *sp;
  pb_db *db;
  if (pb_storage_open_file(dir, NULL, &st) || pb_space_open(st, &sp) ||
      pb_db_open(sp, PB__NUMBERED_DB, PB_CREATE, &db))
    _exit(11);
  int rc;
  uint64_t i;
  while ((rc = pb__numbered_next(db, &i)) == PB_OK)
    if (write(fd, &i, sizeof i) != (ssize_t)sizeof i) _exit(12);
  if (rc != PB_ENOSPC) _exit(13);
  if (strstr(pb_errdetail(), "too large") == NULL) _exit(14); /* EFBIG */
  if (pb__numbered_next(db, &i) != PB_ENOSPC) _exit(15);
  pb_db_close(db);
  _exit(pb_space_close(sp) == PB_OK ? 0 : 16);
}

static void test_real_enospc(void **state) {
  (void)state;
  char *tmp = pb_test_tmpdir();
  char dir[4200];
  snprintf(dir, sizeof dir, "%s/db", tmp);
  int fds[2];
  assert_int_equal(pipe(fds), 0);
  fflush(NULL);
  pid_t pid = fork();
  assert_true(pid >= 0);
  if (pid == 0) {
    close(fds[0]);
    enospc_child(dir, fds[1]);
  }
  close(fds[1]);
  uint64_t acked = 0, v;
  while (read(fds[0], &v, sizeof v) == (ssize_t)sizeof v) {
    assert_int_equal(v, acked + 1);
    acked = v;
  }
  close(fds[0]);
  int status;
  assert_int_equal(waitpid(pid, &status, 0), pid);
  assert_true(WIFEXITED(status));
  if (WEXITSTATUS(status) != 0)
    print_error("child exit code %d\n", WEXITSTATUS(status));
  assert_int_equal(WEXITSTATUS(status), 0);
  assert_true(acked > 100);

  pb_storage *st;
  pb_space *sp;
  pb_db *db;
  assert_int_equal(pb_storage_open_file(dir, NULL, &st), PB_OK);
  assert_int_equal(pb_space_open(st, &sp), PB_OK);
  assert_int_equal(pb_db_open(sp, PB__NUMBERED_DB, 0, &db), PB_OK);
  uint64_t n;
  char why[256];
  int rc = pb__numbered_check(db, &n, why, sizeof why);
  if (rc != PB_OK) print_error("check: %s\n", why);
  assert_int_equal(rc, PB_OK);
  assert_int_equal(n, acked); /* all of them, and not the failed one */
  for (int k = 0; k < 5; k++) assert_int_equal(pb__numbered_next(db, &n), 0);
  assert_int_equal(pb__numbered_check(db, &n, why, sizeof why), PB_OK);
  assert_int_equal(n, acked + 5);
  pb_db_close(db);
  assert_int_equal(pb_space_close(sp), PB_OK);
  print_message("RLIMIT_FSIZE 256 KiB: %" PRIu64 " commits acknowledged "
                "before PB_ENOSPC, all present after reopen\n", acked);
  pb_test_rmdir(tmp);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_sim_model),
      cmocka_unit_test(test_fsync_counts),
      cmocka_unit_test(test_enospc_budget),
      cmocka_unit_test(test_eio_datasync),
      cmocka_unit_test(test_paused_fsync),
      cmocka_unit_test(test_full_disk_preallocated),
      cmocka_unit_test(test_partial_writes),
      cmocka_unit_test(test_written_prealloc),
      cmocka_unit_test(test_written_prealloc_rollover),
      cmocka_unit_test(test_sim_pwritev),
      cmocka_unit_test(test_pwritev_faults),
      cmocka_unit_test(test_fault_sweep),
      cmocka_unit_test(test_crash_point_sweep),
      cmocka_unit_test(test_bitflip_sweep),
      cmocka_unit_test(test_real_enospc),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
