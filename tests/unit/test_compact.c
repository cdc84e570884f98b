/*
 * test_compact.c - compaction (vacuum) of the file tier: what it keeps,
 * what it frees, how it runs next to readers and writers, what a stale
 * writer gets, and that a power cut or a full disk at any step of it loses
 * nothing (storage/file_compact.c).
 *
 * The data is the numbered workload (tests/support/numbered.h): a chain of
 * records, each pointing at the one before, behind a database root that
 * every commit replaces, so each commit leaves two dead atoms behind.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "corrupt_detail.h"

#include <dirent.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "atom/refs.h"
#include "storage/file.h"
#include "storage/file_format.h"
#include "util/endian.h"
#include "storage/ptr_map.h"
#include "support/numbered.h"
#include "support/simfs.h"
#include "test_util.h"

/* --- helpers --- */

typedef struct store {
  pb_storage *st;
  pb_space *sp;
} store;

static pb_db *open_db(store *s, const char *name) {
  pb_db *db;
  assert_int_equal(pb_db_open(s->sp, name, PB_CREATE, &db), PB_OK);
  return db;
}

static void open_with(store *s, const char *dir, const pb__io *io,
                      uint64_t segment_size) {
  pb_file_options o;
  pb_file_options_init(&o);
  o.segment_size = segment_size;
  char msg[512];
  int rc = pb__file_storage_open(dir, &o, io, msg, sizeof msg, &s->st);
  if (rc != PB_OK) print_error("open: %s: %s\n", pb_errname(rc), msg);
  assert_int_equal(rc, PB_OK);
  assert_int_equal(pb_space_open(s->st, &s->sp), PB_OK);
}

static void close_store(store *s) {
  pb_space_close(s->sp);
  s->sp = NULL;
  s->st = NULL;
}

static void commit_n(pb_db *db, uint64_t n) {
  for (uint64_t i = 0; i < n; i++) {
    uint64_t got;
    assert_int_equal(pb__numbered_next(db, &got), PB_OK);
  }
}

static void check_n(pb_db *db, uint64_t want) {
  char why[256];
  uint64_t n = 0;
  int rc = pb__numbered_check(db, &n, why, sizeof why);
  if (rc != PB_OK) print_error("check: %s: %s\n", pb_errname(rc), why);
  assert_int_equal(rc, PB_OK);
  assert_int_equal(n, want);
}

/* The preallocated zeros at the end of a segment file: what follows its
 * last frame (found by walking the frame lengths). */
static uint64_t zero_tail(const char *path) {
  FILE *f = fopen(path, "rb");
  assert_non_null(f);
  fseek(f, 0, SEEK_END);
  size_t len = (size_t)ftell(f);
  fseek(f, 0, SEEK_SET);
  uint8_t *b = malloc(len ? len : 1);
  assert_non_null(b);
  assert_int_equal(fread(b, 1, len, f), len);
  fclose(f);
  size_t pos = PB__WAL_HEADER_SIZE;
  while (pos + PB__FRAME_HEADER_SIZE <= len && pb__load_le32(b + pos) != 0)
    pos += pb__frame_size(pb__load_le32(b + pos));
  assert_true(pos <= len);
  for (size_t i = pos; i < len; i++) assert_int_equal(b[i], 0);
  free(b);
  return len - pos;
}

/* Bytes of the segment files in a real directory; *n_seg counts them and
 * *tmp tells whether a compact.tmp is there. */
static uint64_t dir_bytes(const char *dir, int *n_seg, bool *tmp) {
  DIR *d = opendir(dir);
  assert_non_null(d);
  uint64_t total = 0;
  *n_seg = 0;
  *tmp = false;
  struct dirent *e;
  while ((e = readdir(d)) != NULL) {
    uint64_t seq;
    if (strcmp(e->d_name, "compact.tmp") == 0) *tmp = true;
    if (!pb__seg_parse_name(e->d_name, &seq)) continue;
    char path[4200];
    snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
    struct stat sb;
    assert_int_equal(stat(path, &sb), 0);
    total += (uint64_t)sb.st_size;
    (*n_seg)++;
  }
  closedir(d);
  return total;
}

/* Walks what the root reaches, by pointers found without the schema;
 * gives the number of atoms and their bytes (the live data). */
typedef struct live_walk {
  pb__ptr_map seen;
  pb_atom_ptr *todo;
  size_t n, cap;
} live_walk;

static int live_push(void *ctx, pb_atom_ptr p, size_t pos) {
  (void)pos;
  live_walk *w = ctx;
  if (pb__ptr_map_find(&w->seen, p) != NULL) return PB_OK;
  assert_int_equal(pb__ptr_map_put(&w->seen, p, p, true), PB_OK);
  if (w->n == w->cap) {
    w->cap = w->cap ? w->cap * 2 : 256;
    w->todo = realloc(w->todo, w->cap * sizeof *w->todo);
    assert_non_null(w->todo);
  }
  w->todo[w->n++] = p;
  return PB_OK;
}

static uint64_t live_bytes(pb_storage *st, uint64_t *atoms) {
  live_walk w = {0};
  pb__ptr_map_init(&w.seen);
  pb_atom_ptr root;
  assert_int_equal(st->ops->read_root(st, &root, NULL), PB_OK);
  uint64_t bytes = 0;
  *atoms = 0;
  if (!pb_atom_ptr_is_null(root)) live_push(&w, root, 0);
  while (w.n > 0) {
    pb_atom_ptr p = w.todo[--w.n];
    pb_bytes a;
    assert_int_equal(st->ops->read_atom(st, p, &a), PB_OK);
    bytes += a.len;
    (*atoms)++;
    assert_int_equal(pb__atom_refs(a, live_push, &w), PB_OK);
  }
  pb__ptr_map_free(&w.seen);
  free(w.todo);
  return bytes;
}

/* --- what compaction keeps and frees --- */

static void reclaims_and_keeps(void **state) {
  (void)state;
  char *dir = pb_test_tmpdir();
  store s;
  open_with(&s, dir, pb__io_posix(), 16u << 10);
  pb_db *db = open_db(&s, "numbered");
  commit_n(db, 2000);
  int n_seg;
  bool tmp;
  uint64_t before = dir_bytes(dir, &n_seg, &tmp);
  assert_true(n_seg > 10);
  pb_compact_stats cs;
  assert_int_equal(pb_storage_compact(s.st, &cs), PB_OK);
  uint64_t atoms, live = live_bytes(s.st, &atoms);
  uint64_t after = dir_bytes(dir, &n_seg, &tmp);
  print_message("compaction: %llu -> %llu bytes on disk, live %llu bytes in "
                "%llu atoms (%.3fx), %llu passes\n",
                (unsigned long long)before, (unsigned long long)after,
                (unsigned long long)live, (unsigned long long)atoms,
                (double)after / (double)live,
                (unsigned long long)cs.passes);
  assert_int_equal(cs.atoms, atoms);
  assert_int_equal(cs.atom_bytes, live);
  assert_int_equal(cs.bytes_after, after);
  assert_int_equal(n_seg, 1);
  assert_false(tmp);
  assert_true(after * 10 <= live * 12); /* at most 1.2x the live data */
  check_n(db, 2000);
  /* The compacted log takes commits, rolls over, and reopens. */
  commit_n(db, 300);
  pb_db_close(db);
  close_store(&s);
  open_with(&s, dir, pb__io_posix(), 16u << 10);
  db = open_db(&s, "numbered");
  check_n(db, 2300);
  /* A second compaction of a log that already starts after one. */
  assert_int_equal(pb_storage_compact(s.st, &cs), PB_OK);
  check_n(db, 2300);
  pb_db_close(db);
  close_store(&s);
  open_with(&s, dir, pb__io_posix(), 16u << 10);
  db = open_db(&s, "numbered");
  check_n(db, 2300);
  commit_n(db, 10);
  check_n(db, 2310);
  pb_db_close(db);
  close_store(&s);
  pb_test_rmdir(dir);
}

/* --- stale writers and pinned readers --- */

static void stale_writer_and_pinned_reader(void **state) {
  (void)state;
  char *dir = pb_test_tmpdir();
  store s;
  open_with(&s, dir, pb__io_posix(), 16u << 10);
  pb_db *db = open_db(&s, "numbered");
  commit_n(db, 200);
  pb_txn *w, *r;
  assert_int_equal(pb_txn_begin(db, 0, &w), PB_OK);
  pb_value one = {.kind = PB_VALUE_UINT, .as.u = 1};
  assert_int_equal(pb_txn_set(w, "stale", &one), PB_OK);
  assert_int_equal(pb_txn_begin(db, PB_RDONLY, &r), PB_OK);
  pb_value head;
  assert_int_equal(pb_txn_get(r, "head", &head), PB_OK);
  int n_before, n_seg;
  bool tmp;
  dir_bytes(dir, &n_before, &tmp);
  assert_int_equal(pb_storage_compact(s.st, NULL), PB_OK);
  /* The reader still reads its snapshot, through pre-switch pointers. */
  static const pb_record_type any = {.name = "tests.Numbered"};
  pb_bytes body;
  assert_int_equal(pb_txn_load_record(r, &any, head.as.ref, &body), PB_OK);
  assert_true(body.len > 20);
  /* Its segments stay until it ends. */
  dir_bytes(dir, &n_seg, &tmp);
  assert_int_equal(n_seg, n_before + 1);
  /* The writer's snapshot predates the switch. */
  assert_int_equal(pb_txn_commit(w), PB_ECONFLICT);
  assert_int_equal(pb_txn_abort(r), PB_OK);
  dir_bytes(dir, &n_seg, &tmp);
  assert_int_equal(n_seg, 1);
  /* A writer that begins after the switch commits. */
  assert_int_equal(pb_txn_begin(db, 0, &w), PB_OK);
  assert_int_equal(pb_txn_set(w, "fresh", &one), PB_OK);
  assert_int_equal(pb_txn_commit(w), PB_OK);
  check_n(db, 200);
  pb_db_close(db);
  close_store(&s);
  pb_test_rmdir(dir);
}

static void refusals(void **state) {
  (void)state;
  pb_storage *m;
  assert_int_equal(pb_storage_open_memory(&m), PB_OK);
  assert_int_equal(pb_storage_compact(m, NULL), PB_ENOTSUP);
  pb_storage_close(m);
  assert_int_equal(pb_storage_compact(NULL, NULL), PB_EINVAL);
  char *dir = pb_test_tmpdir();
  pb_storage *st;
  assert_int_equal(pb_storage_open_file(dir, NULL, &st), PB_OK);
  pb_storage_close(st);
  pb_file_options o;
  pb_file_options_init(&o);
  o.read_only = true;
  assert_int_equal(pb_storage_open_file(dir, &o, &st), PB_OK);
  assert_int_equal(pb_storage_compact(st, NULL), PB_ERDONLY);
  pb_storage_close(st);
  pb_test_rmdir(dir);
}

/* --- online: writers and readers throughout --- */

#define ONLINE_WRITERS 2
#define ONLINE_READERS 2

typedef struct online {
  store s;
  pb_db *db[ONLINE_WRITERS];
  atomic_bool stop;
  atomic_bool compacting;
  atomic_uint during;       /* commits while compacting */
  atomic_uint conflicts;    /* stale snapshots retried */
  atomic_uint reads_during; /* checks completed while compacting */
  atomic_int failures;
  uint64_t count[ONLINE_WRITERS];
} online;

typedef struct online_arg {
  online *o;
  int i;
} online_arg;

static void *online_writer(void *p) {
  online_arg *a = p;
  online *o = a->o;
  while (!atomic_load(&o->stop)) {
    uint64_t got;
    int rc = pb__numbered_next(o->db[a->i], &got);
    if (rc == PB_ECONFLICT) { /* began before the switch: retry */
      atomic_fetch_add(&o->conflicts, 1);
      continue;
    }
    if (rc != PB_OK) {
      atomic_fetch_add(&o->failures, 1);
      break;
    }
    o->count[a->i] = got;
    if (atomic_load(&o->compacting)) atomic_fetch_add(&o->during, 1);
  }
  return NULL;
}

static void *online_reader(void *p) {
  online_arg *a = p;
  online *o = a->o;
  while (!atomic_load(&o->stop)) {
    char why[256];
    uint64_t n;
    for (int i = 0; i < ONLINE_WRITERS; i++) {
      bool during = atomic_load(&o->compacting);
      if (pb__numbered_check(o->db[i], &n, why, sizeof why) != PB_OK) {
        print_error("reader: %s\n", why);
        atomic_fetch_add(&o->failures, 1);
        return NULL;
      }
      if (during && atomic_load(&o->compacting))
        atomic_fetch_add(&o->reads_during, 1);
    }
  }
  return NULL;
}

/* Holds the compaction after its first pass until writers have committed
 * 100 times and readers have read during it. */
static void online_hook(void *arg, int pass) {
  online *o = arg;
  if (pass != 0) return;
  for (int i = 0; i < 20000; i++) {
    if (atomic_load(&o->during) >= 100 && atomic_load(&o->reads_during) >= 4)
      return;
    if (atomic_load(&o->failures)) return;
    usleep(1000);
  }
}

static void online_compaction(void **state) {
  (void)state;
  char *dir = pb_test_tmpdir();
  online *o = calloc(1, sizeof *o);
  assert_non_null(o);
  open_with(&o->s, dir, pb__io_posix(), 32u << 10);
  char name[16];
  for (int i = 0; i < ONLINE_WRITERS; i++) {
    snprintf(name, sizeof name, "w%d", i);
    o->db[i] = open_db(&o->s, name);
    commit_n(o->db[i], 300);
  }
  assert_int_equal(pb__file_set_compact_hook(o->s.st, online_hook, o), PB_OK);
  pthread_t th[ONLINE_WRITERS + ONLINE_READERS];
  online_arg args[ONLINE_WRITERS + ONLINE_READERS];
  for (int i = 0; i < ONLINE_WRITERS + ONLINE_READERS; i++) {
    args[i] = (online_arg){o, i % ONLINE_WRITERS};
    assert_int_equal(pthread_create(&th[i], NULL,
                                    i < ONLINE_WRITERS ? online_writer
                                                       : online_reader,
                                    &args[i]),
                     0);
  }
  atomic_store(&o->compacting, true);
  pb_compact_stats cs;
  int rc = pb_storage_compact(o->s.st, &cs);
  atomic_store(&o->compacting, false);
  atomic_store(&o->stop, true);
  for (int i = 0; i < ONLINE_WRITERS + ONLINE_READERS; i++)
    pthread_join(th[i], NULL);
  assert_int_equal(rc, PB_OK);
  assert_int_equal(atomic_load(&o->failures), 0);
  print_message("online: %u commits and %u reads during the compaction, "
                "%u stale writers retried, %llu passes\n",
                atomic_load(&o->during), atomic_load(&o->reads_during),
                atomic_load(&o->conflicts), (unsigned long long)cs.passes);
  assert_true(atomic_load(&o->during) >= 100);
  assert_true(atomic_load(&o->reads_during) >= 1);
  for (int i = 0; i < ONLINE_WRITERS; i++) check_n(o->db[i], o->count[i]);
  int n_seg;
  bool tmp;
  uint64_t atoms, live = live_bytes(o->s.st, &atoms);
  uint64_t disk = dir_bytes(dir, &n_seg, &tmp);
  /* The active segment is preallocated ahead of its writes (at most
   * segment_size here, docs/storage.md "Preallocation"): count that
   * reservation apart, then check the files again once close cut it. */
  char active[4200];
  uint64_t seq = 0;
  DIR *d = opendir(dir);
  assert_non_null(d);
  struct dirent *e;
  while ((e = readdir(d)) != NULL) {
    uint64_t sq;
    if (pb__seg_parse_name(e->d_name, &sq) && sq >= seq) {
      seq = sq;
      snprintf(active, sizeof active, "%s/%s", dir, e->d_name);
    }
  }
  closedir(d);
  uint64_t reserved = zero_tail(active);
  print_message("online: %llu bytes on disk for %llu live (%.3fx), of which "
                "%llu preallocated; data %.3fx live\n",
                (unsigned long long)disk, (unsigned long long)live,
                (double)disk / (double)live, (unsigned long long)reserved,
                (double)(disk - reserved) / (double)live);
  assert_true((disk - reserved) * 10 <= live * 12);
  assert_true(reserved <= (32u << 10)); /* never past segment_size */
  for (int i = 0; i < ONLINE_WRITERS; i++) pb_db_close(o->db[i]);
  close_store(&o->s);
  uint64_t closed = dir_bytes(dir, &n_seg, &tmp);
  print_message("online: %llu bytes on disk after close (%.3fx live)\n",
                (unsigned long long)closed, (double)closed / (double)live);
  assert_true(closed * 10 <= live * 12);
  /* And after a reopen. */
  open_with(&o->s, dir, pb__io_posix(), 32u << 10);
  for (int i = 0; i < ONLINE_WRITERS; i++) {
    snprintf(name, sizeof name, "w%d", i);
    pb_db *db = open_db(&o->s, name);
    check_n(db, o->count[i]);
    pb_db_close(db);
  }
  close_store(&o->s);
  free(o);
  pb_test_rmdir(dir);
}

/* --- a power cut at every step, and a full disk --- */

#define SIM_DIR "/db"
#define SIM_COMMITS 150

/* A simulated disk holding SIM_COMMITS numbered commits over many small
 * segments, the store closed. */
static pb__simfs *sim_with_data(void) {
  pb__simfs *sim = pb__simfs_new();
  assert_non_null(sim);
  store s;
  open_with(&s, SIM_DIR, pb__simfs_io(sim), 4096);
  pb_db *db = open_db(&s, "numbered");
  commit_n(db, SIM_COMMITS);
  pb_db_close(db);
  close_store(&s);
  return sim;
}

static void power_cut_at_every_step(void **state) {
  (void)state;
  unsigned step = 1, done = 0, n_after_switch = 0;
  for (; !done && step < 500; step++) {
    pb__simfs *sim = sim_with_data();
    store s;
    open_with(&s, SIM_DIR, pb__simfs_io(sim), 4096);
    pb_db *db = open_db(&s, "numbered");
    /* A reader pinned across the switch keeps the old segments, so that
     * cuts also land while they wait for deletion. */
    pb_txn *r;
    assert_int_equal(pb_txn_begin(db, PB_RDONLY, &r), PB_OK);
    pb__simfs_crash_at(sim, step, step * 7919u);
    int rc = pb_storage_compact(s.st, NULL);
    bool cut_in_compaction = pb__simfs_is_dead(sim);
    pb_txn_abort(r); /* deletes the old segments: cuts land there too */
    /* A cut in the last steps, which install MANIFEST after the switch
     * is durable, does not undo the compaction: PB_OK, and the reopened
     * log starts at the compaction's output (checked below). */
    bool switched_then_cut = cut_in_compaction && rc == PB_OK;
    if (switched_then_cut) {
      n_after_switch++;
    } else if (cut_in_compaction) {
      if (rc != PB_EIO && rc != PB_EFAILED)
        print_error("step %u: %s\n", step, pb_errname(rc));
      assert_true(rc == PB_EIO || rc == PB_EFAILED);
    } else {
      assert_int_equal(rc, PB_OK);
      if (!pb__simfs_is_dead(sim)) done = step; /* no step left to cut */
      pb__simfs_crash(sim, step); /* and a cut after it all */
    }
    pb_db_close(db);
    close_store(&s);
    pb__simfs_revive(sim);
    open_with(&s, SIM_DIR, pb__simfs_io(sim), 4096);
    assert_false(pb__simfs_exists(sim, SIM_DIR "/compact.tmp"));
    if (switched_then_cut) {
      pb_recovery_info ri;
      assert_int_equal(pb_storage_recovery_info(s.st, &ri), PB_OK);
      assert_true(ri.first_segment > 1); /* the compaction's output */
    }
    db = open_db(&s, "numbered");
    check_n(db, SIM_COMMITS);
    commit_n(db, 5);
    check_n(db, SIM_COMMITS + 5);
    assert_int_equal(pb_storage_compact(s.st, NULL), PB_OK);
    check_n(db, SIM_COMMITS + 5);
    pb_db_close(db);
    close_store(&s);
    pb__simfs_free(sim);
  }
  print_message("compaction cut at each of its %u disk operations; nothing "
                "lost; %u cuts after the switch was durable (MANIFEST)\n",
                done, n_after_switch);
  assert_true(done > 5);
  assert_true(n_after_switch >= 2); /* MANIFEST's rename, directory fsync */
}

static void full_disk_and_failed_sync(void **state) {
  (void)state;
  pb__simfs *sim = sim_with_data();
  store s;
  open_with(&s, SIM_DIR, pb__simfs_io(sim), 4096);
  pb_db *db = open_db(&s, "numbered");
  /* No room for the copy: nothing changes, and commits go on. */
  pb__simfs_set_space(sim, pb__simfs_space_used(sim) + 2048);
  assert_int_equal(pb_storage_compact(s.st, NULL), PB_ENOSPC);
  assert_false(pb__simfs_exists(sim, SIM_DIR "/compact.tmp"));
  pb__simfs_set_space(sim, UINT64_MAX);
  commit_n(db, 3);
  check_n(db, SIM_COMMITS + 3);
  /* The copy's fdatasync fails: nothing changes either. */
  pb__simfs_fail(sim, PB__SIMFS_DATASYNC, 1, PB_EIO, 0);
  assert_int_equal(pb_storage_compact(s.st, NULL), PB_EIO);
  commit_n(db, 3);
  commit_n(db, 3);
  check_n(db, SIM_COMMITS + 9);
  assert_int_equal(pb_storage_compact(s.st, NULL), PB_OK);
  check_n(db, SIM_COMMITS + 9);
  /* The directory fsync after the rename fails: which log a reopen finds
   * is unknown, so the store refuses writes until reopened; both logs hold
   * every commit. */
  commit_n(db, 3);
  pb__simfs_fail(sim, PB__SIMFS_SYNC_DIR, 1, PB_EIO, 0);
  assert_int_equal(pb_storage_compact(s.st, NULL), PB_EIO);
  uint64_t got;
  assert_int_equal(pb__numbered_next(db, &got), PB_EFAILED);
  pb_db_close(db);
  close_store(&s);
  open_with(&s, SIM_DIR, pb__simfs_io(sim), 4096);
  db = open_db(&s, "numbered");
  check_n(db, SIM_COMMITS + 12);
  pb_db_close(db);
  close_store(&s);
  pb__simfs_free(sim);
}

/* Damage inside a compaction's output is never cut as a torn tail. */
static void damaged_output_is_corrupt(void **state) {
  (void)state;
  pb__simfs *sim = sim_with_data();
  store s;
  open_with(&s, SIM_DIR, pb__simfs_io(sim), 1u << 20);
  pb_compact_stats cs;
  assert_int_equal(pb_storage_compact(s.st, &cs), PB_OK);
  close_store(&s);
  char name[25], path[64];
  pb__seg_name(SIM_COMMITS, name); /* any: find the one file left */
  uint8_t *data = NULL;
  size_t len = 0;
  for (uint64_t seq = 1; seq < 1000 && data == NULL; seq++) {
    pb__seg_name(seq, name);
    snprintf(path, sizeof path, SIM_DIR "/%s", name);
    if (pb__simfs_exists(sim, path))
      assert_int_equal(pb__simfs_read_file(sim, path, &data, &len), PB_OK);
  }
  assert_non_null(data);
  assert_true(len > 200);
  data[100] ^= 0x40; /* inside the first BATCH frame */
  assert_int_equal(pb__simfs_write_file(sim, path, data, len), PB_OK);
  pb_file_options o;
  pb_file_options_init(&o);
  char msg[512];
  pb_storage *st = NULL;
  assert_corrupt(pb__file_storage_open(SIM_DIR, &o, pb__simfs_io(sim), msg,
                                         sizeof msg, &st), PB_AT_ADDRESS);
  assert_non_null(strstr(msg, name));
  /* Nothing was cut. */
  uint8_t *again;
  size_t len2;
  assert_int_equal(pb__simfs_read_file(sim, path, &again, &len2), PB_OK);
  assert_int_equal(len2, len);
  free(again);
  free(data);
  pb__simfs_free(sim);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(reclaims_and_keeps),
      cmocka_unit_test(stale_writer_and_pinned_reader),
      cmocka_unit_test(refusals),
      cmocka_unit_test(online_compaction),
      cmocka_unit_test(power_cut_at_every_step),
      cmocka_unit_test(full_disk_and_failed_sync),
      cmocka_unit_test(damaged_output_is_corrupt),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
