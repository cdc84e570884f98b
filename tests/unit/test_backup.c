/*
 * test_backup.c - pb_storage_backup: a consistent copy of a live file
 * storage while writers commit.
 *
 * The cut check.  Four writer threads commit through pb_txn_run on the
 * defaults (PB_DURABILITY_SYNC), into one database.  Every commit bumps
 * the global count "g", bumps its writer's count "n<w>", and appends the
 * entry "l<w>_<n>" = the new g.  So a state that is the state at exactly
 * one commit has: entries l<w>_1 .. l<w>_<n_w> for each writer and none
 * after, increasing within a writer, and their values are exactly
 * 1 .. g, each once.  A backup that mixed bytes from different moments
 * (a segment from later than another, a commit in part, a lost frame)
 * would break one of these.  And the cut lies inside the call: g is at
 * least the largest g acknowledged before pb_storage_backup was called,
 * and below the g of every commit that began after it returned.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "protobase/protobase.h"
#include "storage/file.h"
#include "support/numbered.h"
#include "support/simfs.h"
#include "test_util.h"

#define WRITERS 4

/* --- the workload --- */

typedef struct shared {
  pb_db *db;
  atomic_bool stop;
  atomic_bool backup_done;     /* pb_storage_backup has returned */
  atomic_uint_fast64_t max_acked; /* largest g acknowledged so far */
  atomic_uint_fast64_t late_min;  /* smallest g of a commit begun after
                                     the backup returned (UINT64_MAX) */
  atomic_uint_fast64_t late_commits;
} shared;

typedef struct writer {
  shared *sh;
  int id;
  uint64_t k, g; /* what the attempt that committed wrote */
  uint64_t commits;
} writer;

static int get_u(pb_txn *t, const char *name, uint64_t *out) {
  pb_value v;
  int rc = pb_txn_get(t, name, &v);
  if (rc == PB_ENOTFOUND) {
    *out = 0;
    return PB_OK;
  }
  if (rc == PB_OK) *out = v.as.u;
  return rc;
}

static int set_u(pb_txn *t, const char *name, uint64_t u) {
  pb_value v = {.kind = PB_VALUE_UINT, .as.u = u};
  return pb_txn_set(t, name, &v);
}

static int step(pb_txn *t, void *arg) {
  writer *w = arg;
  char key[48];
  uint64_t g = 0, k = 0;
  snprintf(key, sizeof key, "n%d", w->id);
  int rc = get_u(t, "g", &g);
  if (rc == PB_OK) rc = get_u(t, key, &k);
  if (rc == PB_OK) rc = set_u(t, "g", g + 1);
  if (rc == PB_OK) rc = set_u(t, key, k + 1);
  snprintf(key, sizeof key, "l%d_%" PRIu64, w->id, k + 1);
  if (rc == PB_OK) rc = set_u(t, key, g + 1);
  w->g = g + 1;
  w->k = k + 1;
  return rc;
}

static void *writer_main(void *arg) {
  writer *w = arg;
  shared *sh = w->sh;
  while (!atomic_load(&sh->stop)) {
    bool late = atomic_load(&sh->backup_done);
    int rc = pb_txn_run(sh->db, step, w, PB_TXN_RUN_RETRIES);
    if (rc != PB_OK) {
      print_error("writer %d: %s\n", w->id, pb_errname(rc));
      abort();
    }
    w->commits++;
    uint64_t m = atomic_load(&sh->max_acked);
    while (m < w->g && !atomic_compare_exchange_weak(&sh->max_acked, &m, w->g))
      ;
    if (late) {
      atomic_fetch_add(&sh->late_commits, 1);
      m = atomic_load(&sh->late_min);
      while (m > w->g &&
             !atomic_compare_exchange_weak(&sh->late_min, &m, w->g))
        ;
    }
  }
  return NULL;
}

/* Compacts in a loop until the backup has returned (and once after). */
typedef struct compact_loop {
  pb_storage *st;
  shared *sh;
  unsigned ok;
} compact_loop;

static void *compactor_main(void *arg) {
  compact_loop *c = arg;
  bool last = false;
  while (!last) {
    last = atomic_load(&c->sh->backup_done);
    int rc = pb_storage_compact(c->st, NULL);
    if (rc != PB_OK) {
      print_error("compaction: %s: %s\n", pb_errname(rc), pb_errdetail());
      abort();
    }
    c->ok++;
  }
  return NULL;
}

/* Checks that the store `st` (its "main") holds the state at exactly one
 * commit of the workload; gives its g. */
static uint64_t check_cut(pb_storage *st) {
  pb_space *sp;
  assert_int_equal(pb_space_open(st, &sp), PB_OK);
  pb_db *db;
  assert_int_equal(pb_db_open(sp, "main", 0, &db), PB_OK);
  pb_txn *t;
  assert_int_equal(pb_txn_begin(db, PB_RDONLY, &t), PB_OK);
  uint64_t g = 0;
  assert_int_equal(get_u(t, "g", &g), PB_OK);
  uint8_t *seen = calloc(g + 1, 1);
  assert_non_null(seen);
  uint64_t sum = 0;
  for (int w = 0; w < WRITERS; w++) {
    char key[48];
    uint64_t n = 0, prev = 0;
    snprintf(key, sizeof key, "n%d", w);
    assert_int_equal(get_u(t, key, &n), PB_OK);
    for (uint64_t k = 1; k <= n; k++) {
      pb_value v;
      snprintf(key, sizeof key, "l%d_%" PRIu64, w, k);
      assert_int_equal(pb_txn_get(t, key, &v), PB_OK);
      assert_true(v.as.u > prev && v.as.u <= g); /* in order, in range */
      assert_int_equal(seen[v.as.u], 0);            /* each g once */
      seen[v.as.u] = 1;
      prev = v.as.u;
    }
    pb_value v;
    snprintf(key, sizeof key, "l%d_%" PRIu64, w, n + 1);
    assert_int_equal(pb_txn_get(t, key, &v), PB_ENOTFOUND); /* none after */
    sum += n;
  }
  assert_int_equal(sum, g); /* so every g in 1..g is someone's entry */
  free(seen);
  pb_txn_abort(t);
  assert_int_equal(pb_db_close(db), PB_OK);
  assert_int_equal(pb_space_close(sp), PB_OK);
  return g;
}

/* A backup of a store that 4 writers change meanwhile (and, when
 * `compactor`, a compaction running too, which the backup's pin must
 * keep from deleting the segments it copies). */
static void backup_beside_writers(uint64_t segment_size, unsigned flags,
                                  bool compactor) {
  char *dir = pb_test_tmpdir(), *bk = pb_test_tmpdir();
  char src[600], dst[600];
  snprintf(src, sizeof src, "%s/db", dir);
  snprintf(dst, sizeof dst, "%s/copy", bk); /* does not exist yet */
  pb_file_options o;
  pb_file_options_init(&o); /* PB_DURABILITY_SYNC */
  if (segment_size) o.segment_size = segment_size;
  pb_storage *st;
  assert_int_equal(pb_storage_open_file(src, &o, &st), PB_OK);
  pb_space *sp;
  assert_int_equal(pb_space_open(st, &sp), PB_OK);
  shared sh = {0};
  atomic_init(&sh.late_min, UINT64_MAX);
  assert_int_equal(pb_db_open(sp, "main", PB_CREATE, &sh.db), PB_OK);
  writer w[WRITERS];
  pthread_t th[WRITERS];
  for (int i = 0; i < WRITERS; i++) {
    w[i] = (writer){.sh = &sh, .id = i};
    assert_int_equal(pthread_create(&th[i], NULL, writer_main, &w[i]), 0);
  }
  while (atomic_load(&sh.max_acked) < 150) usleep(1000);
  compact_loop cl = {.st = st, .sh = &sh};
  pthread_t ct;
  if (compactor)
    assert_int_equal(pthread_create(&ct, NULL, compactor_main, &cl), 0);
  uint64_t lower = atomic_load(&sh.max_acked);
  int rc = pb_storage_backup(st, dst, flags);
  atomic_store(&sh.backup_done, true);
  if (rc != PB_OK) print_error("backup: %s: %s\n", pb_errname(rc),
                               pb_errdetail());
  assert_int_equal(rc, PB_OK);
  if (compactor) {
    pthread_join(ct, NULL);
    assert_true(cl.ok >= 1);
  }
  while (atomic_load(&sh.late_commits) < 20) usleep(1000);
  atomic_store(&sh.stop, true);
  uint64_t total = 0;
  for (int i = 0; i < WRITERS; i++) {
    pthread_join(th[i], NULL);
    total += w[i].commits;
  }
  assert_int_equal(pb_db_close(sh.db), PB_OK);
  assert_int_equal(pb_space_close(sp), PB_OK);

  /* The copy: read-only, then writable (a store of its own). */
  pb_file_options ro;
  pb_file_options_init(&ro);
  ro.read_only = true;
  pb_storage *b;
  assert_int_equal(pb_storage_open_file(dst, &ro, &b), PB_OK);
  pb_recovery_info ri;
  assert_int_equal(pb_storage_recovery_info(b, &ri), PB_OK);
  assert_true(ri.manifest_found);
  assert_int_equal(ri.tail_bytes, 0);
  if (flags & PB_BACKUP_COMPACT) assert_int_equal(ri.segments, 1);
  if (!compactor && segment_size) assert_true(ri.segments >= 5);
  uint64_t g = check_cut(b);
  uint64_t late = atomic_load(&sh.late_min);
  print_message("backup (%s, segments of %" PRIu64 "%s): %" PRIu64
                " commits in all; the copy holds g = %" PRIu64
                " (acknowledged before the call: %" PRIu64
                ", first begun after it: %" PRIu64 "), %" PRIu64
                " segment(s)%s\n",
                flags ? "compact" : "as is", o.segment_size,
                compactor ? ", compactions beside it" : "", total, g, lower,
                late, ri.segments, compactor ? "" : "");
  assert_true(g >= lower);
  assert_true(g < late);
  assert_true(g < total); /* the writers went on past it */
  pb_file_options rw;
  pb_file_options_init(&rw);
  assert_int_equal(pb_storage_open_file(dst, &rw, &b), PB_OK);
  assert_int_equal(check_cut(b), g);
  /* The source holds everything, the copy only its cut. */
  assert_int_equal(pb_storage_open_file(src, &ro, &st), PB_OK);
  assert_int_equal(check_cut(st), total);
  pb_test_rmdir(dir);
  pb_test_rmdir(bk);
}

static void backup_as_is_defaults(void **state) {
  (void)state;
  backup_beside_writers(0, 0, false);
}

static void backup_as_is_many_segments(void **state) {
  (void)state;
  backup_beside_writers(8192, 0, false);
}

static void backup_as_is_beside_compactions(void **state) {
  (void)state;
  backup_beside_writers(8192, 0, true);
}

static void backup_compact(void **state) {
  (void)state;
  backup_beside_writers(8192, PB_BACKUP_COMPACT, true);
}

/* --- refusals and small cases --- */

static void refusals(void **state) {
  (void)state;
  char *dir = pb_test_tmpdir();
  char src[600], dst[600], file[600];
  snprintf(src, sizeof src, "%s/db", dir);
  snprintf(dst, sizeof dst, "%s/copy", dir);
  snprintf(file, sizeof file, "%s/afile", dir);
  pb_storage *mem;
  assert_int_equal(pb_storage_open_memory(&mem), PB_OK);
  assert_int_equal(pb_storage_backup(mem, dst, 0), PB_ENOTSUP);
  assert_int_equal(pb_storage_close(mem), PB_OK);
  assert_int_equal(pb_storage_backup(NULL, dst, 0), PB_EINVAL);

  pb_storage *st;
  assert_int_equal(pb_storage_open_file(src, NULL, &st), PB_OK);
  assert_int_equal(pb_storage_backup(st, NULL, 0), PB_EINVAL);
  assert_int_equal(pb_storage_backup(st, dst, 0x80), PB_EINVAL);
  /* An empty store: both ways, the copy opens empty. */
  for (unsigned flags = 0; flags <= PB_BACKUP_COMPACT; flags++) {
    char d[640];
    snprintf(d, sizeof d, "%s/empty%u", dir, flags);
    assert_int_equal(pb_storage_backup(st, d, flags), PB_OK);
    pb_storage *b;
    assert_int_equal(pb_storage_open_file(d, NULL, &b), PB_OK);
    pb_atom_ptr root;
    uint64_t lsn;
    assert_int_equal(b->ops->read_root(b, &root, &lsn), PB_OK);
    assert_int_equal(lsn, 0);
    assert_int_equal(pb_storage_close(b), PB_OK);
  }
  /* Not empty, or not a directory: PB_EEXIST, and nothing written. */
  assert_int_equal(pb_storage_backup(st, src, 0), PB_EEXIST);
  FILE *f = fopen(file, "w");
  assert_non_null(f);
  fputs("x", f);
  fclose(f);
  assert_int_equal(pb_storage_backup(st, file, 0), PB_EEXIST);
  struct stat sb;
  assert_int_equal(stat(file, &sb), 0);
  assert_int_equal(sb.st_size, 1);
  assert_int_equal(mkdir(dst, 0755), 0);
  char other[700];
  snprintf(other, sizeof other, "%s/keep", dst);
  f = fopen(other, "w");
  assert_non_null(f);
  fclose(f);
  assert_int_equal(pb_storage_backup(st, dst, 0), PB_EEXIST);
  assert_non_null(strstr(pb_errdetail(), "not empty"));
  assert_int_equal(unlink(other), 0);
  /* An empty directory is fine, and a read-only source too. */
  assert_int_equal(pb_storage_close(st), PB_OK);
  pb_file_options ro;
  pb_file_options_init(&ro);
  ro.read_only = true;
  assert_int_equal(pb_storage_open_file(src, &ro, &st), PB_OK);
  assert_int_equal(pb_storage_backup(st, dst, 0), PB_OK);
  assert_int_equal(pb_storage_close(st), PB_OK);
  assert_int_equal(pb_storage_open_file(dst, &ro, &st), PB_OK);
  assert_int_equal(pb_storage_close(st), PB_OK);
  pb_test_rmdir(dir);
}

/* --- failures on the simulated disk --- */

#define SIM_SRC "/db"
#define SIM_DST "/copy"

static int open_sim(pb__simfs *sim, const char *dir, bool read_only,
                    pb_storage **st) {
  pb_file_options o;
  pb_file_options_init(&o);
  o.segment_size = 2048;
  o.read_only = read_only;
  /* The failure sweeps fail the Nth call of the BACKUP: the automatic
   * compaction's thread reads the log on its own (an open of the first
   * segment when it starts), which could take the injected failure. */
  o.auto_compact = false;
  char msg[512];
  int rc = pb__file_storage_open(dir, &o, pb__simfs_io(sim), msg, sizeof msg,
                                 st);
  if (rc != PB_OK) print_error("open %s: %s: %s\n", dir, pb_errname(rc), msg);
  return rc;
}

static int count_entry(void *arg, const char *name) {
  (void)name;
  ++*(int *)arg;
  return 0;
}

/* Every file of the source, to compare before and after. */
typedef struct sim_image {
  char names[64][32];
  uint8_t *data[64];
  size_t len[64];
  int n;
} sim_image;

static int add_name(void *arg, const char *name) {
  sim_image *im = arg;
  assert_true(im->n < 64 && strlen(name) < 32);
  memcpy(im->names[im->n++], name, strlen(name) + 1);
  return 0;
}

static void sim_take(pb__simfs *sim, sim_image *im) {
  memset(im, 0, sizeof *im);
  const pb__io *io = pb__simfs_io(sim);
  assert_int_equal(io->list_dir(io, SIM_SRC, add_name, im), PB_OK);
  for (int i = 0; i < im->n; i++) {
    char p[64];
    snprintf(p, sizeof p, SIM_SRC "/%s", im->names[i]);
    assert_int_equal(pb__simfs_read_file(sim, p, &im->data[i], &im->len[i]),
                     PB_OK);
  }
}

static void sim_same(pb__simfs *sim, const sim_image *a) {
  sim_image b;
  sim_take(sim, &b);
  assert_int_equal(b.n, a->n);
  for (int i = 0; i < a->n; i++) {
    int j = 0;
    while (j < b.n && strcmp(b.names[j], a->names[i]) != 0) j++;
    assert_true(j < b.n);
    assert_int_equal(b.len[j], a->len[i]);
    assert_memory_equal(b.data[j], a->data[i], a->len[i]);
  }
  for (int i = 0; i < b.n; i++) free(b.data[i]);
}

static void sim_free_image(sim_image *a) {
  for (int i = 0; i < a->n; i++) free(a->data[i]);
}

static uint64_t numbered_n(pb_storage *st) {
  pb_space *sp;
  assert_int_equal(pb_space_open(st, &sp), PB_OK);
  pb_db *db;
  assert_int_equal(pb_db_open(sp, PB__NUMBERED_DB, 0, &db), PB_OK);
  uint64_t n;
  char why[256];
  assert_int_equal(pb__numbered_check(db, &n, why, sizeof why), PB_OK);
  pb_db_close(db);
  pb_space_close(sp);
  return n;
}

static void failures_leave_nothing(void **state) {
  (void)state;
  static const struct {
    pb__simfs_op op;
    int code;
    size_t partial;
    const char *what;
  } faults[] = {
      {PB__SIMFS_PWRITE, PB_ENOSPC, 100, "pwrite ENOSPC"},
      {PB__SIMFS_PWRITE, PB_EIO, 0, "pwrite EIO"},
      {PB__SIMFS_DATASYNC, PB_EIO, 0, "fdatasync EIO"},
      {PB__SIMFS_SYNC, PB_EIO, 0, "fsync EIO"},
      {PB__SIMFS_SYNC_DIR, PB_EIO, 0, "directory fsync EIO"},
      {PB__SIMFS_OPEN, PB_EIO, 0, "open EIO"},
  };
  for (unsigned flags = 0; flags <= PB_BACKUP_COMPACT; flags++) {
    pb__simfs *sim = pb__simfs_new();
    pb_storage *st;
    assert_int_equal(open_sim(sim, SIM_SRC, false, &st), PB_OK);
    pb_space *sp;
    assert_int_equal(pb_space_open(st, &sp), PB_OK);
    pb_db *db;
    assert_int_equal(pb_db_open(sp, PB__NUMBERED_DB, PB_CREATE, &db), PB_OK);
    uint64_t n = 0;
    for (int i = 0; i < 40; i++)
      assert_int_equal(pb__numbered_next(db, &n), PB_OK);
    assert_true(((pb__file_storage *)st)->n_segs >= 3);
    unsigned cases = 0;
    for (size_t f = 0; f < sizeof faults / sizeof faults[0]; f++) {
      for (unsigned nth = 1;; nth++) {
        sim_image before;
        sim_take(sim, &before);
        pb__simfs_fail(sim, faults[f].op, nth, faults[f].code,
                       faults[f].partial);
        int rc = pb_storage_backup(st, SIM_DST, flags);
        bool fired = !pb__simfs_fault_pending(sim, faults[f].op);
        pb__simfs_fail(sim, faults[f].op, 0, 0, 0);
        if (!fired) { /* the backup made fewer such calls: done */
          assert_int_equal(rc, PB_OK);
          sim_free_image(&before);
          break;
        }
        cases++;
        if (rc != faults[f].code)
          print_error("%s #%u: %s\n", faults[f].what, nth, pb_errname(rc));
        assert_int_equal(rc, faults[f].code);
        /* The detail names the file: in the copy, or the source's. */
        const char *d = pb_errdetail();
        if (strstr(d, SIM_DST) == NULL && strstr(d, SIM_SRC "/seg") == NULL)
          print_error("%s #%u: detail \"%s\"\n", faults[f].what, nth, d);
        assert_true(strstr(d, SIM_DST) != NULL ||
                    strstr(d, SIM_SRC "/seg") != NULL);
        /* The destination is left empty, the source unchanged. */
        int entries = 0;
        const pb__io *io = pb__simfs_io(sim);
        assert_int_equal(io->list_dir(io, SIM_DST, count_entry, &entries),
                         PB_OK);
        assert_int_equal(entries, 0);
        sim_same(sim, &before);
        sim_free_image(&before);
        /* And the source goes on. */
        assert_int_equal(pb__numbered_next(db, &n), PB_OK);
      }
      /* The backup that went through opens, at the source's state. */
      pb_storage *b;
      assert_int_equal(open_sim(sim, SIM_DST, true, &b), PB_OK);
      assert_int_equal(numbered_n(b), n);
      /* Empty the destination again for the next kind of fault. */
      const pb__io *io = pb__simfs_io(sim);
      for (int k = 0; k < 64; k++) {
        char name[25], p[64];
        pb__seg_name((uint64_t)k, name);
        snprintf(p, sizeof p, SIM_DST "/%s", name);
        io->unlink(io, p);
      }
      io->unlink(io, SIM_DST "/MANIFEST");
      int entries = 0;
      assert_int_equal(io->list_dir(io, SIM_DST, count_entry, &entries),
                       PB_OK);
      assert_int_equal(entries, 0);
    }
    print_message("backup (%s): %u injected failures, each a clean error "
                  "with the destination left empty and the source "
                  "unchanged\n",
                  flags ? "compact" : "as is", cases);
    assert_true(cases >= 6);
    assert_int_equal(pb_db_close(db), PB_OK);
    assert_int_equal(pb_space_close(sp), PB_OK);
    assert_int_equal(open_sim(sim, SIM_SRC, true, &st), PB_OK);
    assert_int_equal(numbered_n(st), n);
    pb__simfs_free(sim);
  }
}

/* A compaction in the middle of a backup (run from the simulated disk's
 * sync hook, on the backup's thread, while it copies the first segment):
 * the backup's pin keeps the segments it copies until it is done. */
typedef struct mid_compact {
  pb__simfs *sim;
  pb_storage *st;
  int done;
  bool first_kept; /* seg 1 still there after the switch */
} mid_compact;

static void compact_in_hook(void *arg, pb__simfs_op op, const char *path) {
  mid_compact *m = arg;
  if (m->done || op != PB__SIMFS_DATASYNC ||
      strncmp(path, SIM_DST "/seg-", strlen(SIM_DST "/seg-")) != 0)
    return;
  m->done = 1;
  assert_int_equal(pb_storage_compact(m->st, NULL), PB_OK);
  m->first_kept =
      pb__simfs_exists(m->sim, SIM_SRC "/seg-0000000000000001.wal");
}

static void compaction_during_backup(void **state) {
  (void)state;
  pb__simfs *sim = pb__simfs_new();
  pb_storage *st;
  assert_int_equal(open_sim(sim, SIM_SRC, false, &st), PB_OK);
  pb_space *sp;
  assert_int_equal(pb_space_open(st, &sp), PB_OK);
  pb_db *db;
  assert_int_equal(pb_db_open(sp, PB__NUMBERED_DB, PB_CREATE, &db), PB_OK);
  uint64_t n = 0;
  for (int i = 0; i < 40; i++)
    assert_int_equal(pb__numbered_next(db, &n), PB_OK);
  size_t segs = ((pb__file_storage *)st)->n_segs;
  assert_true(segs >= 3);
  mid_compact m = {.sim = sim, .st = st};
  pb__simfs_set_sync_hook(sim, compact_in_hook, &m);
  int rc = pb_storage_backup(st, SIM_DST, 0);
  pb__simfs_set_sync_hook(sim, NULL, NULL);
  if (rc != PB_OK) print_error("backup: %s\n", pb_errdetail());
  assert_int_equal(rc, PB_OK);
  assert_int_equal(m.done, 1);
  assert_true(m.first_kept); /* pinned by the backup */
  /* Unpinned, the replaced segments are gone. */
  assert_false(pb__simfs_exists(sim, SIM_SRC "/seg-0000000000000001.wal"));
  pb_storage *b;
  assert_int_equal(open_sim(sim, SIM_DST, true, &b), PB_OK);
  pb_recovery_info ri;
  assert_int_equal(pb_storage_recovery_info(b, &ri), PB_OK);
  assert_int_equal(ri.segments, segs); /* the segments as they were */
  assert_int_equal(numbered_n(b), n);
  pb_db_close(db);
  pb_space_close(sp);
  pb__simfs_free(sim);
}

/* A power cut during a backup: the copy either opens whole or is
 * PB_ECORRUPT, never an older state; the source is intact. */
static void power_cut_during_backup(void **state) {
  (void)state;
  unsigned cuts = 0, corrupt = 0, whole = 0;
  for (unsigned step = 1;; step++) {
    pb__simfs *sim = pb__simfs_new();
    pb_storage *st;
    assert_int_equal(open_sim(sim, SIM_SRC, false, &st), PB_OK);
    pb_space *sp;
    assert_int_equal(pb_space_open(st, &sp), PB_OK);
    pb_db *db;
    assert_int_equal(pb_db_open(sp, PB__NUMBERED_DB, PB_CREATE, &db), PB_OK);
    uint64_t n = 0;
    for (int i = 0; i < 30; i++)
      assert_int_equal(pb__numbered_next(db, &n), PB_OK);
    pb__simfs_crash_at(sim, step, step * 31u + 7);
    int rc = pb_storage_backup(st, SIM_DST, 0);
    bool landed = pb__simfs_is_dead(sim);
    pb__simfs_crash_at(sim, 0, 0);
    if (!landed) {
      assert_int_equal(rc, PB_OK);
      pb__simfs_crash(sim, step);
    }
    pb_db_close(db);
    pb_space_close(sp);
    pb__simfs_revive(sim);
    assert_int_equal(open_sim(sim, SIM_SRC, true, &st), PB_OK);
    assert_int_equal(numbered_n(st), n);
    if (!pb__simfs_exists(sim, SIM_DST "/MANIFEST") &&
        pb__simfs_exists(sim, SIM_DST)) {
      /* Without MANIFEST, no segment either: an empty directory. */
      int entries = 0;
      const pb__io *io = pb__simfs_io(sim);
      assert_int_equal(io->list_dir(io, SIM_DST, count_entry, &entries),
                       PB_OK);
      assert_int_equal(entries, 0);
    }
    if (pb__simfs_exists(sim, SIM_DST "/MANIFEST")) {
      pb_file_options o;
      pb_file_options_init(&o);
      o.read_only = true;
      char msg[512];
      pb_storage *b;
      rc = pb__file_storage_open(SIM_DST, &o, pb__simfs_io(sim), msg,
                                 sizeof msg, &b);
      if (rc == PB_OK) {
        assert_int_equal(numbered_n(b), n); /* whole, never older */
        whole++;
      } else {
        assert_int_equal(rc, PB_ECORRUPT);
        corrupt++;
      }
    }
    pb__simfs_free(sim);
    if (!landed) break;
    cuts++;
  }
  print_message("backup cut at each of its %u disk operations: %u copies "
                "whole, %u PB_ECORRUPT, the others without MANIFEST (no "
                "store)\n",
                cuts, whole, corrupt);
  assert_true(cuts >= 8 && corrupt >= 1);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(backup_as_is_defaults),
      cmocka_unit_test(backup_as_is_many_segments),
      cmocka_unit_test(backup_as_is_beside_compactions),
      cmocka_unit_test(backup_compact),
      cmocka_unit_test(refusals),
      cmocka_unit_test(failures_leave_nothing),
      cmocka_unit_test(compaction_during_backup),
      cmocka_unit_test(power_cut_during_backup),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
