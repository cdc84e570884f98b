/*
 * test_autocompact.c - automatic compaction of the file tier
 * (storage/file_autocompact.c): the trigger rule and the options, a small
 * store (far below the segment size) compacted without any call, the
 * option that turns it off, a close while one runs, an I/O error and a
 * full disk during one, and a power cut at every step of one.
 *
 * The data: K records of a Dictionary (16-byte keys, 100-byte values
 * derived from the key and a round number), updated one per commit, each
 * checked against a model of the rounds.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <inttypes.h>

#include <dirent.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "storage/file.h"
#include "support/simfs.h"
#include "test_util.h"

#define K 2000u
#define VAL_LEN 100u

/* --- the workload --- */

typedef struct model {
  uint32_t round[K];
} model;

static uint64_t mix(uint64_t x) {
  x += 0x9e3779b97f4a7c15ull;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
  return x ^ (x >> 31);
}

static void key_of(uint32_t k, char out[16]) {
  snprintf(out, 16, "k%014u", k);
  out[15] = 'x'; /* 16 bytes, no NUL stored */
}

static void val_of(uint32_t k, uint32_t round, uint8_t v[VAL_LEN]) {
  for (unsigned i = 0; i < VAL_LEN; i++)
    v[i] = (uint8_t)mix(((uint64_t)k << 32) ^ ((uint64_t)round << 8) ^ i);
}

typedef struct put_arg {
  model *m;
  uint32_t first, count;
} put_arg;

static int put_fn(pb_txn *txn, void *arg) {
  put_arg *a = arg;
  pb_dict *d;
  int rc = pb_txn_open_dict(txn, "r", PB_CREATE, &d);
  for (uint32_t i = 0; rc == PB_OK && i < a->count; i++) {
    uint32_t k = (a->first + i) % K;
    char key[16];
    uint8_t v[VAL_LEN];
    key_of(k, key);
    val_of(k, a->m->round[k] + 1, v);
    pb_value val = {.kind = PB_VALUE_BYTES, .as.bytes = {v, VAL_LEN}};
    rc = pb_dict_put(d, (pb_str){key, 16}, &val);
  }
  return rc;
}

/* Writes records first.. first + count - 1 (mod K) in one commit. */
static int put(pb_db *db, model *m, uint32_t first, uint32_t count) {
  put_arg a = {m, first, count};
  int rc = pb_txn_run(db, put_fn, &a, PB_TXN_RUN_RETRIES);
  if (rc == PB_OK)
    for (uint32_t i = 0; i < count; i++) m->round[(first + i) % K]++;
  return rc;
}

static void load(pb_db *db, model *m) {
  memset(m, 0, sizeof *m);
  assert_int_equal(put(db, m, 0, K), PB_OK);
}

/* One commit updating the record the step number picks. */
static void update(pb_db *db, model *m, uint64_t step) {
  assert_int_equal(put(db, m, (uint32_t)(mix(step) % K), 1), PB_OK);
}

static void check(pb_db *db, const model *m) {
  pb_txn *t;
  assert_int_equal(pb_txn_begin(db, PB_RDONLY, &t), PB_OK);
  pb_dict *d;
  assert_int_equal(pb_txn_open_dict(t, "r", 0, &d), PB_OK);
  uint64_t n;
  assert_int_equal(pb_dict_count(d, &n), PB_OK);
  assert_int_equal(n, K);
  for (uint32_t k = 0; k < K; k++) {
    char key[16];
    uint8_t want[VAL_LEN];
    key_of(k, key);
    val_of(k, m->round[k], want);
    pb_value v;
    assert_int_equal(pb_dict_get(d, (pb_str){key, 16}, &v), PB_OK);
    assert_int_equal(v.kind, PB_VALUE_BYTES);
    assert_int_equal(v.as.bytes.len, VAL_LEN);
    assert_memory_equal(v.as.bytes.ptr, want, VAL_LEN);
  }
  pb_txn_abort(t);
}

/* --- stores --- */

typedef struct store {
  pb_storage *st;
  pb_space *sp;
  pb_db *db;
} store;

static void open_store(store *s, const char *dir, const pb__io *io,
                       const pb_file_options *o) {
  char msg[512];
  int rc = pb__file_storage_open(dir, o, io, msg, sizeof msg, &s->st);
  if (rc != PB_OK) print_error("open: %s: %s\n", pb_errname(rc), msg);
  assert_int_equal(rc, PB_OK);
  assert_int_equal(pb_space_open(s->st, &s->sp), PB_OK);
  assert_int_equal(pb_db_open(s->sp, "main", PB_CREATE, &s->db), PB_OK);
}

static int close_store(store *s) {
  pb_db_close(s->db);
  int rc = pb_space_close(s->sp);
  memset(s, 0, sizeof *s);
  return rc;
}

static pb_disk_usage usage(pb_storage *st) {
  pb_disk_usage u;
  assert_int_equal(pb_storage_disk_usage(st, &u), PB_OK);
  return u;
}

static void nap(void) {
  struct timespec ts = {0, 1000000}; /* 1 ms */
  nanosleep(&ts, NULL);
}

/* Waits (at most 60 s) until the automatic compactions done or failed
 * reach `n`; returns the usage then. */
static pb_disk_usage wait_runs(pb_storage *st, uint64_t n) {
  for (int i = 0; i < 60000; i++) {
    pb_disk_usage u = usage(st);
    if (u.auto_runs + u.auto_failed >= n && !u.auto_running) return u;
    nap();
  }
  fail_msg("no automatic compaction ended");
  return usage(st);
}

/* Bytes of the regular files in a directory. */
static uint64_t dir_bytes(const char *dir) {
  DIR *d = opendir(dir);
  assert_non_null(d);
  uint64_t total = 0;
  struct dirent *e;
  while ((e = readdir(d)) != NULL) {
    char path[4200];
    snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
    struct stat sb;
    if (stat(path, &sb) == 0 && S_ISREG(sb.st_mode))
      total += (uint64_t)sb.st_size;
  }
  closedir(d);
  return total;
}

/* --- the rule and the options --- */

static void trigger_rule(void **state) {
  (void)state;
  const uint64_t MiB = 1u << 20;
  /* Nothing known: the floor alone. */
  assert_int_equal(pb__compact_threshold(0, 50, MiB), MiB);
  /* Half of a base above twice the floor. */
  assert_int_equal(pb__compact_threshold(10 * MiB, 50, MiB), 5 * MiB);
  /* The floor wins over a small base. */
  assert_int_equal(pb__compact_threshold(MiB, 50, MiB), MiB);
  assert_int_equal(pb__compact_threshold(1000, 100, 0), 1000);
  assert_int_equal(pb__compact_threshold(999, 50, 0), 499);
  assert_int_equal(pb__compact_threshold(12345, 0, 7), 7);
  /* Saturates instead of wrapping. */
  assert_int_equal(pb__compact_threshold(UINT64_MAX, 300, 0), UINT64_MAX);
  assert_int_equal(pb__compact_threshold(UINT64_MAX / 2, 100, 0),
                   UINT64_MAX / 2);
  /* The defaults. */
  pb_file_options o;
  pb_file_options_init(&o);
  assert_true(o.auto_compact);
  assert_int_equal(o.compact_dead_pct, 50);
  assert_int_equal(o.compact_min_dead, MiB);
  assert_int_equal(o.compact_duty_pct, 50);
  assert_int_equal(pb__ac_check_options(&o), PB_OK);
}

static void options_checked(void **state) {
  (void)state;
  char *dir = pb_test_tmpdir();
  pb_storage *st = NULL;
  pb_file_options o;
  pb_file_options_init(&o);
  o.compact_duty_pct = 0;
  assert_int_equal(pb_storage_open_file(dir, &o, &st), PB_EINVAL);
  o.compact_duty_pct = 101;
  assert_int_equal(pb_storage_open_file(dir, &o, &st), PB_EINVAL);
  o.compact_duty_pct = 100;
  o.compact_dead_pct = 0;
  o.compact_min_dead = 0;
  assert_int_equal(pb_storage_open_file(dir, &o, &st), PB_EINVAL);
  assert_null(st);
  /* Off: the other fields are not looked at. */
  o.auto_compact = false;
  o.compact_duty_pct = 0;
  assert_int_equal(pb_storage_open_file(dir, &o, &st), PB_OK);
  pb_disk_usage u = usage(st);
  assert_int_equal(u.next_auto, UINT64_MAX);
  assert_int_equal(pb_storage_close(st), PB_OK);
  /* The memory tier has no disk. */
  assert_int_equal(pb_storage_open_memory(&st), PB_OK);
  assert_int_equal(pb_storage_disk_usage(st, &u), PB_ENOTSUP);
  assert_int_equal(pb_storage_disk_usage(NULL, &u), PB_EINVAL);
  assert_int_equal(pb_storage_close(st), PB_OK);
  pb_test_rmdir(dir);
}

/* --- a small store, on the defaults --- */

static void small_store_compacts_itself(void **state) {
  (void)state;
  char *dir = pb_test_tmpdir();
  static model m;
  store s;
  pb_file_options o;
  pb_file_options_init(&o); /* 64 MiB segments: the store stays in one */
  open_store(&s, dir, pb__io_posix(), &o);
  load(s.db, &m);
  pb_disk_usage u = usage(s.st);
  assert_int_equal(u.auto_runs, 0);
  uint64_t i = 0;
  for (; i < 20000 && usage(s.st).auto_runs < 3; i++) update(s.db, &m, i);
  u = wait_runs(s.st, 3);
  print_message("%" PRIu64 " commits: %" PRIu64 " automatic compactions, "
                "log %" PRIu64 " bytes, live %" PRIu64 ", dead %" PRIu64
                ", next at %" PRIu64 "\n",
                i, u.auto_runs, u.log_bytes, u.live_bytes, u.dead_bytes,
                u.next_auto);
  assert_true(u.auto_runs >= 3);
  assert_int_equal(u.auto_failed, 0);
  assert_int_equal(u.auto_last_error, PB_OK);
  assert_true(u.live_bytes > K * VAL_LEN);
  assert_true(u.base_bytes >= u.live_bytes);
  assert_true(u.log_bytes >= u.base_bytes);
  assert_int_equal(u.dead_bytes, u.log_bytes - u.base_bytes);
  assert_int_equal(u.next_auto, o.compact_min_dead); /* a small store */
  assert_true(u.dead_bytes < u.next_auto + (256u << 10));
  /* Disk use: the log plus at most the 1 MiB preallocated ahead. */
  assert_true(u.file_bytes <= u.log_bytes + (2u << 20));
  check(s.db, &m);
  uint64_t live = u.live_bytes;
  assert_int_equal(close_store(&s), PB_OK);
  assert_true(dir_bytes(dir) <= 2 * live + o.compact_min_dead);
  /* Reopened: the log starts at a compaction's output, whose size the
   * estimate reads back. */
  o.auto_compact = false;
  open_store(&s, dir, pb__io_posix(), &o);
  pb_recovery_info ri;
  assert_int_equal(pb_storage_recovery_info(s.st, &ri), PB_OK);
  assert_true(ri.first_segment > 1);
  assert_int_equal(ri.segments, 1);
  u = usage(s.st);
  assert_true(u.base_bytes > 0);
  assert_true(u.live_bytes >= live && u.live_bytes < live + live / 10);
  assert_int_equal(u.dead_bytes, u.log_bytes - u.base_bytes);
  check(s.db, &m);
  assert_int_equal(close_store(&s), PB_OK);
  pb_test_rmdir(dir);
}

/* Waits (at most 60 s) until the kicks answered by a measure alone reach
 * `n`; returns the usage then. */
static pb_disk_usage wait_measured(pb_storage *st, uint64_t n) {
  for (int i = 0; i < 60000; i++) {
    pb_disk_usage u = usage(st);
    if (u.auto_measured >= n && !u.auto_running) return u;
    nap();
  }
  fail_msg("no measure ended");
  return usage(st);
}

/* Puts `n` new 100-byte values into "bulk", in one transaction. */
static void bulk_load(pb_db *db, uint32_t n) {
  pb_txn *t;
  pb_dict *d;
  assert_int_equal(pb_txn_begin(db, 0, &t), PB_OK);
  assert_int_equal(pb_txn_open_dict(t, "bulk", PB_CREATE, &d), PB_OK);
  for (uint32_t i = 0; i < n; i++) {
    char key[16];
    uint8_t v[VAL_LEN];
    key_of(i, key);
    val_of(i, 0, v);
    pb_value pv = {.kind = PB_VALUE_BYTES, .as.bytes = {v, VAL_LEN}};
    assert_int_equal(pb_dict_put(d, (pb_str){key, 16}, &pv), PB_OK);
  }
  assert_int_equal(pb_txn_commit(t), PB_OK);
}

/* A store loaded in one transaction is all live: the growth passes the
 * threshold (growth counts as dead) and so does the reopen (a log that
 * no compaction began), but the walk before the copy finds nothing dead:
 * no copy, in the loading open or after the reopen.  Updates that do
 * make dead bytes are then copied as before. */
static void loaded_store_is_not_copied(void **state) {
  (void)state;
  char *dir = pb_test_tmpdir();
  static model m;
  store s;
  pb_file_options o;
  pb_file_options_init(&o); /* the defaults */
  open_store(&s, dir, pb__io_posix(), &o);
  load(s.db, &m);
  bulk_load(s.db, 24000); /* about 3 MiB: past the 1 MiB floor */
  pb_disk_usage u = wait_measured(s.st, 1);
  assert_int_equal(u.auto_runs, 0);
  assert_true(u.live_bytes > 24000u * VAL_LEN);
  assert_int_equal(u.base_bytes, u.live_bytes);
  assert_true(u.dead_bytes < u.next_auto);
  assert_int_equal(close_store(&s), PB_OK);

  /* Reopened: the close left its estimate (DIR/ESTIMATE), so the open
   * knows the log is live without a walk. */
  uint64_t live = u.live_bytes;
  open_store(&s, dir, pb__io_posix(), &o);
  for (int k = 0; k < 50; k++) nap(); /* a kick would have come */
  u = usage(s.st);
  assert_int_equal(u.auto_measured, 0);
  assert_int_equal(u.auto_runs, 0);
  assert_int_equal(u.live_bytes, live);
  assert_int_equal(close_store(&s), PB_OK);
  /* Without it (a crash leaves none), or with one that is damaged or of
   * another log, the reopen measures once, and copies nothing. */
  char est[4200];
  snprintf(est, sizeof est, "%s/ESTIMATE", dir);
  for (int how = 0; how < 3; how++) {
    FILE *f = fopen(est, "r+b");
    assert_non_null(f);
    if (how == 0) { /* damaged: a flipped byte */
      assert_int_equal(fseek(f, 30, SEEK_SET), 0);
      assert_int_not_equal(fputc(0x5a, f), EOF);
    } else if (how == 1) { /* of a longer log */
      uint8_t b[8];
      assert_int_equal(fseek(f, 16, SEEK_SET), 0);
      assert_int_equal(fread(b, 1, 8, f), 8);
      b[0] ^= 1; /* (the checksum no longer matches either) */
      assert_int_equal(fseek(f, 16, SEEK_SET), 0);
      assert_int_equal(fwrite(b, 1, 8, f), 8);
    }
    fclose(f);
    if (how == 2) assert_int_equal(unlink(est), 0); /* none */
    open_store(&s, dir, pb__io_posix(), &o);
    u = wait_measured(s.st, 1);
    assert_int_equal(u.auto_runs, 0);
    assert_int_equal(u.live_bytes, live);
    if (how < 2) assert_int_equal(close_store(&s), PB_OK);
  }
  print_message("reopened: log %" PRIu64 " bytes, live %" PRIu64
                ", dead %" PRIu64 ", next at %" PRIu64 "\n",
                u.log_bytes, u.live_bytes, u.dead_bytes, u.next_auto);
  assert_true(u.live_bytes > 24000u * VAL_LEN);
  assert_true(u.dead_bytes < u.log_bytes / 10); /* framing, a few paths */
  pb_recovery_info ri;
  assert_int_equal(pb_storage_recovery_info(s.st, &ri), PB_OK);
  assert_int_equal(ri.first_segment, 1); /* never rewritten */
  check(s.db, &m);
  /* Real dead bytes: copied. */
  for (uint64_t i = 0; i < 40000 && usage(s.st).auto_runs < 1; i++)
    update(s.db, &m, i);
  u = wait_runs(s.st, 1);
  assert_int_equal(u.auto_failed, 0);
  assert_int_equal(pb_storage_recovery_info(s.st, &ri), PB_OK);
  assert_true(ri.first_segment > 1 || u.auto_runs >= 1);
  check(s.db, &m);
  assert_int_equal(close_store(&s), PB_OK);
  pb_test_rmdir(dir);
}

static void off_means_off(void **state) {
  (void)state;
  char *dir = pb_test_tmpdir();
  static model m;
  store s;
  pb_file_options o;
  pb_file_options_init(&o);
  o.auto_compact = false;
  open_store(&s, dir, pb__io_posix(), &o);
  load(s.db, &m);
  pb_disk_usage u = usage(s.st);
  uint64_t i = 0;
  for (; u.dead_bytes < 3 * o.compact_min_dead; i++) {
    update(s.db, &m, i);
    if (i % 64 == 0) u = usage(s.st);
  }
  for (int k = 0; k < 50; k++) nap(); /* a thread would have woken */
  u = usage(s.st);
  assert_int_equal(u.auto_runs, 0);
  assert_int_equal(u.auto_failed, 0);
  assert_false(u.auto_running);
  assert_int_equal(u.next_auto, UINT64_MAX);
  assert_int_equal(u.base_bytes, 0); /* never compacted */
  assert_int_equal(u.dead_bytes, u.log_bytes);
  check(s.db, &m);
  /* An explicit compaction still works, and updates the estimate. */
  pb_compact_stats cs;
  assert_int_equal(pb_storage_compact(s.st, &cs), PB_OK);
  u = usage(s.st);
  assert_int_equal(u.base_bytes, cs.bytes_after);
  assert_int_equal(u.live_bytes, cs.atom_bytes);
  assert_int_equal(u.dead_bytes, 0);
  assert_int_equal(u.auto_runs, 0);
  assert_int_equal(u.next_auto, UINT64_MAX);
  assert_int_equal(close_store(&s), PB_OK);
  pb_test_rmdir(dir);
}

/* --- close while one runs --- */

typedef struct hold {
  pb__file_storage *fs;
  atomic_int entered;   /* the hook ran at pass 0 */
  atomic_int released;  /* main lets it go on */
  atomic_int saw_close; /* it saw the close's abandon flag */
  void (*then)(struct hold *h); /* called before it returns, or NULL */
  pb__simfs *sim;
  int what;             /* for `then` */
  unsigned step;
} hold;

static void hold_hook(void *arg, int pass) {
  hold *h = arg;
  if (pass != 0) return;
  atomic_store(&h->entered, 1);
  while (!atomic_load(&h->released)) {
    if (atomic_load(&h->fs->ac_abandon)) {
      atomic_store(&h->saw_close, 1);
      break;
    }
    nap();
  }
  void (*then)(hold *) = h->then; /* once: later compactions go free */
  h->then = NULL;
  if (then != NULL) then(h);
}

static void close_during_compaction(void **state) {
  (void)state;
  char *dir = pb_test_tmpdir();
  static model m;
  store s;
  pb_file_options o;
  pb_file_options_init(&o);
  open_store(&s, dir, pb__io_posix(), &o);
  hold h = {.fs = (pb__file_storage *)s.st};
  assert_int_equal(pb__file_set_compact_hook(s.st, hold_hook, &h), PB_OK);
  load(s.db, &m);
  for (uint64_t i = 0; i < 20000 && !atomic_load(&h.entered); i++)
    update(s.db, &m, i);
  assert_true(atomic_load(&h.entered));
  /* The compaction is inside its copy, waiting in the hook: close
   * abandons it, and its output goes. */
  char tmp[4200];
  snprintf(tmp, sizeof tmp, "%s/compact.tmp", dir);
  struct stat sb;
  assert_int_equal(stat(tmp, &sb), 0);
  assert_int_equal(close_store(&s), PB_OK);
  assert_true(atomic_load(&h.saw_close));
  assert_int_not_equal(stat(tmp, &sb), 0);
  /* Nothing was switched: the log still starts at segment 1. */
  o.auto_compact = false;
  open_store(&s, dir, pb__io_posix(), &o);
  pb_recovery_info ri;
  assert_int_equal(pb_storage_recovery_info(s.st, &ri), PB_OK);
  assert_int_equal(ri.first_segment, 1);
  check(s.db, &m);
  assert_int_equal(close_store(&s), PB_OK);
  pb_test_rmdir(dir);
}

/* --- failures and power cuts on the simulated disk --- */

#define SIM_DIR "/db"

/* Loads the records, sets the hook and commits until a compaction waits
 * in it. */
static void sim_until_held(pb__simfs *sim, store *s, model *m, hold *h,
                           const pb_file_options *o) {
  open_store(s, SIM_DIR, pb__simfs_io(sim), o);
  h->fs = (pb__file_storage *)s->st;
  h->sim = sim;
  assert_int_equal(pb__file_set_compact_hook(s->st, hold_hook, h), PB_OK);
  load(s->db, m);
  for (uint64_t i = 0; i < 20000 && !atomic_load(&h->entered); i++)
    update(s->db, m, i);
  assert_true(atomic_load(&h->entered));
}

static void inject(hold *h) {
  if (h->what == PB_ENOSPC)
    pb__simfs_set_space(h->sim, pb__simfs_space_used(h->sim) + 4096);
  else
    pb__simfs_fail(h->sim, PB__SIMFS_DATASYNC, 1, PB_EIO, 0);
}

static void failure_during_compaction(void **state) {
  (void)state;
  static const int errs[] = {PB_EIO, PB_ENOSPC};
  for (size_t e = 0; e < 2; e++) {
    pb__simfs *sim = pb__simfs_new();
    assert_non_null(sim);
    static model m;
    store s;
    hold h = {.then = inject, .what = errs[e]};
    pb_file_options o;
    pb_file_options_init(&o);
    sim_until_held(sim, &s, &m, &h, &o);
    atomic_store(&h.released, 1); /* the failure is armed in the hook */
    pb_disk_usage u = wait_runs(s.st, 1);
    assert_int_equal(u.auto_failed, 1);
    assert_int_equal(u.auto_runs, 0);
    assert_int_equal(u.auto_last_error, errs[e]);
    pb__simfs_set_space(sim, UINT64_MAX);
    assert_false(pb__simfs_exists(sim, SIM_DIR "/compact.tmp"));
    /* The store works, and a later automatic compaction succeeds. */
    check(s.db, &m);
    uint64_t i = 100000;
    for (int k = 0; k < 20000 && usage(s.st).auto_runs == 0; k++) {
      update(s.db, &m, i++);
      nap();
    }
    u = wait_runs(s.st, 2);
    assert_int_equal(u.auto_runs, 1);
    check(s.db, &m);
    assert_int_equal(close_store(&s), PB_OK);
    o.auto_compact = false;
    open_store(&s, SIM_DIR, pb__simfs_io(sim), &o);
    check(s.db, &m);
    pb_recovery_info ri;
    assert_int_equal(pb_storage_recovery_info(s.st, &ri), PB_OK);
    assert_true(ri.first_segment > 1);
    assert_int_equal(close_store(&s), PB_OK);
    pb__simfs_free(sim);
  }
}

static void arm_cut(hold *h) {
  pb__simfs_crash_at(h->sim, h->step, h->step * 7919u);
}

static void power_cut_during_compaction(void **state) {
  (void)state;
  unsigned done = 0, switched = 0;
  for (unsigned step = 1; !done && step < 200; step++) {
    pb__simfs *sim = pb__simfs_new();
    assert_non_null(sim);
    static model m;
    store s;
    hold h = {.then = arm_cut, .step = step};
    pb_file_options o;
    pb_file_options_init(&o);
    sim_until_held(sim, &s, &m, &h, &o);
    atomic_store(&h.released, 1);
    pb_disk_usage u = wait_runs(s.st, 1);
    bool cut = pb__simfs_is_dead(sim);
    if (!cut) { /* the compaction had fewer steps: the sweep is over */
      assert_int_equal(u.auto_runs, 1);
      pb__simfs_crash_at(sim, 0, 0);
      done = step;
    }
    close_store(&s); /* fails after a cut */
    pb__simfs_revive(sim);
    o.auto_compact = false;
    open_store(&s, SIM_DIR, pb__simfs_io(sim), &o);
    assert_false(pb__simfs_exists(sim, SIM_DIR "/compact.tmp"));
    pb_recovery_info ri;
    assert_int_equal(pb_storage_recovery_info(s.st, &ri), PB_OK);
    if (cut && ri.first_segment > 1) switched++;
    check(s.db, &m); /* every commit, whatever the step */
    update(s.db, &m, 999);
    check(s.db, &m);
    assert_int_equal(close_store(&s), PB_OK);
    pb__simfs_free(sim);
  }
  print_message("automatic compaction cut at each of its %u disk operations "
                "after its first pass; %u cuts after the switch\n",
                done, switched);
  assert_true(done > 5);
  assert_true(switched >= 1);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(trigger_rule),
      cmocka_unit_test(options_checked),
      cmocka_unit_test(small_store_compacts_itself),
      cmocka_unit_test(loaded_store_is_not_copied),
      cmocka_unit_test(off_means_off),
      cmocka_unit_test(close_during_compaction),
      cmocka_unit_test(failure_during_compaction),
      cmocka_unit_test(power_cut_during_compaction),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
