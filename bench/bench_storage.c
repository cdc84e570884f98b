/*
 * bench_storage.c - durable commits and bulk append, ProtoBase side by side
 * with LMDB and SQLite on the same records, in the same run (SPEC section
 * 12, issue 4).
 *
 *   bench_storage [--dir DIR] [--secs S] [--records N] [--commits N]
 *
 * Records: N keys of 16 bytes, "k%015llu" of a shuffled sequence (a fixed
 * seed), each with a 100-byte pseudo-random value (deterministic, from the
 * record's index).  Every engine gets the same records in the same order.
 *
 * Data: under DIR (--dir, else $PB_BENCH_DIR, else ./build-bench/data),
 * one directory per engine and workload, removed before each run.  The file
 * system type of DIR is printed (statfs); tmpfs gets a warning, since its
 * fdatasync costs nothing.
 *
 * Workloads (each bounded to S seconds, default 10, or its op count,
 * whichever comes first):
 *
 *  1. durable commits, 1 thread, 1 record each.
 *     ProtoBase (pb_txn): one pb_txn per record through the public API:
 *       pb_txn_put_record(key + value, 116 bytes), then pb_txn_set of one of
 *       64 rotating names -> REF, pb_txn_commit.  The database root is a
 *       copy-on-write B+tree Dictionary (fanout 64): 64 names fit one leaf,
 *       so each commit writes the record atom, that one-leaf database root
 *       and the space root.  (A name per key would write the root's path,
 *       3 nodes or so at 200,000 names; the 64 names keep the workload the
 *       one measured when the root was a single flat atom, so the figures
 *       stay comparable.)
 *     ProtoBase (storage): one batch of one atom (key + value) per commit
 *       through the storage interface (the tier alone), root -> that atom.
 *     Both open the file tier with pb__file_storage_open over a counting
 *     wrapper of pb__io_posix(), and print fdatasync+fsync calls per commit.
 *     LMDB: default sync flags, one write txn per mdb_put.
 *     SQLite: WAL, synchronous=FULL, one INSERT per transaction (autocommit,
 *       prepared statement), table kv(k BLOB PRIMARY KEY, v BLOB) WITHOUT
 *       ROWID.
 *  2. durable commits, 8 threads, 1 record each.
 *     ProtoBase: 8 databases in one space, one per thread, each thread as
 *       in 1 (commits to different databases never conflict: the space
 *       rebases), once with PB_DURABILITY_SYNC and once with
 *       PB_DURABILITY_GROUP.  Syncs per commit are printed.
 *     LMDB: 8 threads, one write txn per put (they serialize on the writer
 *       lock).  SQLite: 8 threads, one connection each, busy_timeout 10 s.
 *  3. bulk append: N records (default 1M) in commits of 10,000.
 *     ProtoBase: batches of 10,000 atoms (key + value, 116 bytes each)
 *       through the storage interface, SYNC (one fdatasync per batch).
 *     LMDB: one write txn per 10,000 puts (default sync).
 *     SQLite: one transaction per 10,000 INSERTs, WAL, synchronous=FULL.
 *     MB/s of payload (16 + 100 bytes per record), and afterwards bytes on
 *     disk per record (st_blocks of every file in the directory, as du,
 *     after close) for each engine.
 *
 * No figure is asserted: this reports.  Exits non-zero only when an engine
 * fails.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <lmdb.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "atom/batch.h"
#include "io/io.h"
#include "protobase/protobase.h"
#include "storage/file.h"
#include "storage/storage.h"

#include "bench_util.h"

#define KEY_LEN 16
#define VAL_LEN 100
#define REC_LEN (KEY_LEN + VAL_LEN)
#define NTHREADS 8
#define NNAMES 64
#define BULK_BATCH 10000

/* --- options, records --- */

static double g_secs = 10;
static uint64_t g_records = 1000000; /* bulk, and the key space */
static uint64_t g_commits = 200000;  /* cap of the commit workloads */
static uint64_t *g_perm;             /* shuffled 0..g_records-1 */

/* Record i (taken modulo g_records): key then value, REC_LEN bytes. */
static void make_record(uint64_t i, uint8_t rec[REC_LEN]) {
  i %= g_records;
  char k[KEY_LEN + 1];
  snprintf(k, sizeof k, "k%015llu", (unsigned long long)g_perm[i]);
  memcpy(rec, k, KEY_LEN);
  /* A record body, which pb_txn_put_record requires: one LEN field (tag 1)
   * over the rest.  The key's first two bytes ("k0", the same in every key)
   * become its header, so keys stay distinct. */
  rec[0] = 0x0a;
  rec[1] = REC_LEN - 2;
  uint64_t s = i * 0x2545f4914f6cdd1dull + 1;
  for (int j = 0; j < VAL_LEN; j += 8) {
    s = bench_mix(s);
    memcpy(rec + KEY_LEN + j, &s, VAL_LEN - j < 8 ? (size_t)(VAL_LEN - j) : 8);
  }
}

/* --- a counting I/O layer: pb__io_posix() with datasync/sync counted --- */

static atomic_uint_fast64_t g_datasyncs, g_syncs;
static pb__io g_cio;
static pb__io g_cio_noalloc; /* the same, without preallocation (A/B row) */

static int cio_open(const pb__io *io, const char *path, unsigned flags,
                    pb__file **out) {
  const pb__io *px = pb__io_posix();
  int rc = px->open(px, path, flags, out);
  if (rc == PB_OK) (*out)->io = io; /* later ops come through our table */
  return rc;
}
static int cio_datasync(pb__file *f) {
  atomic_fetch_add(&g_datasyncs, 1);
  return pb__io_posix()->datasync(f);
}
static int cio_sync(pb__file *f) {
  atomic_fetch_add(&g_syncs, 1);
  return pb__io_posix()->sync(f);
}
static void cio_init(void) {
  g_cio = *pb__io_posix(); /* the same close, so posix's checks hold */
  g_cio.name = "posix+count";
  g_cio.open = cio_open;
  g_cio.datasync = cio_datasync;
  g_cio.sync = cio_sync;
  g_cio_noalloc = g_cio;
  g_cio_noalloc.name = "posix+count, no allocate";
  g_cio_noalloc.allocate = NULL;
}
static uint64_t file_syncs(void) {
  return atomic_load(&g_datasyncs) + atomic_load(&g_syncs);
}

/* --- results --- */

typedef struct result {
  uint64_t ops;     /* commits, or records for bulk */
  double secs;
  double syncs;     /* ProtoBase: fdatasync+fsync per commit; else -1 */
  uint64_t retries; /* conflicts or busy retries */
  double disk_per_rec; /* bulk only */
} result;

static double rate(const result *r) { return r->secs > 0 ? r->ops / r->secs : 0; }

/* --- ProtoBase --- */

static const pb_record_type kv_type = {.name = "bench.KV", .fingerprint = 0x6b76ull};

static bool g_prealloc = true; /* false: open through g_cio_noalloc */

static pb_storage *pb_open_store(const char *dir, pb_durability dur) {
  pb_file_options o;
  pb_file_options_init(&o);
  o.durability = dur;
  char err[512] = "";
  pb_storage *st;
  int rc = pb__file_storage_open(dir, &o, g_prealloc ? &g_cio : &g_cio_noalloc,
                                 err, sizeof err, &st);
  if (rc != PB_OK)
    bench_die("pb__file_storage_open", err[0] ? err : pb_strerror(rc));
  return st;
}

typedef struct pb_worker {
  pb_db *db;
  double deadline;
  atomic_uint_fast64_t *budget; /* commits left to start, shared */
  uint64_t first;               /* record index base */
  uint64_t done, conflicts;
  int rc;
} pb_worker;

static int claim(atomic_uint_fast64_t *budget) {
  uint_fast64_t b = atomic_load(budget);
  while (b > 0)
    if (atomic_compare_exchange_weak(budget, &b, b - 1)) return 1;
  return 0;
}

static void *pb_txn_worker(void *arg) {
  pb_worker *w = arg;
  uint8_t rec[REC_LEN];
  char name[16];
  while (bench_now() < w->deadline && claim(w->budget)) {
    uint64_t i = w->first + w->done;
    make_record(i, rec);
    snprintf(name, sizeof name, "n%02u", (unsigned)(i % NNAMES));
    for (;;) {
      pb_txn *t = NULL;
      int rc = pb_txn_begin(w->db, 0, &t);
      pb_atom_ptr p = {0};
      if (rc == PB_OK) rc = pb_txn_put_record(t, &kv_type, rec, REC_LEN, &p);
      pb_value v = {.kind = PB_VALUE_REF, .as.ref = p};
      if (rc == PB_OK) rc = pb_txn_set(t, name, &v);
      if (rc == PB_OK) rc = pb_txn_commit(t);
      else pb_txn_abort(t);
      if (rc == PB_ECONFLICT) { w->conflicts++; continue; }
      if (rc != PB_OK) { w->rc = rc; return NULL; }
      break;
    }
    w->done++;
  }
  return NULL;
}

/* Workloads 1 and 2 through the public API: nthreads databases. */
static result pb_txn_commits(const char *tag, int nthreads, pb_durability dur,
                             uint64_t cap) {
  char *dir = bench_fresh_dir(tag);
  pb_storage *st = pb_open_store(dir, dur);
  pb_space *sp;
  int rc = pb_space_open(st, &sp);
  if (rc != PB_OK) bench_die("pb_space_open", pb_strerror(rc));
  pb_worker w[NTHREADS];
  pthread_t th[NTHREADS];
  atomic_uint_fast64_t budget = cap;
  for (int t = 0; t < nthreads; t++) {
    char name[16];
    snprintf(name, sizeof name, "db%d", t);
    memset(&w[t], 0, sizeof w[t]);
    rc = pb_db_open(sp, name, PB_CREATE, &w[t].db);
    if (rc != PB_OK) bench_die("pb_db_open", pb_strerror(rc));
    w[t].budget = &budget;
    w[t].first = (uint64_t)t * (g_records / NTHREADS);
  }
  uint64_t s0 = file_syncs();
  double t0 = bench_now();
  for (int t = 0; t < nthreads; t++) {
    w[t].deadline = t0 + g_secs;
    pthread_create(&th[t], NULL, pb_txn_worker, &w[t]);
  }
  result r = {0};
  for (int t = 0; t < nthreads; t++) {
    pthread_join(th[t], NULL);
    if (w[t].rc != PB_OK) bench_die("ProtoBase commit", pb_strerror(w[t].rc));
    r.ops += w[t].done;
    r.retries += w[t].conflicts;
  }
  r.secs = bench_now() - t0;
  r.syncs = r.ops ? (double)(file_syncs() - s0) / (double)r.ops : 0;
  for (int t = 0; t < nthreads; t++) pb_db_close(w[t].db);
  pb_space_close(sp);
  free(dir);
  return r;
}

/* Commits one batch of records [first, first + n) through the storage
 * interface, root -> the batch's first atom; retries on PB_ECONFLICT.  With
 * `on_pending`, the compare-and-swap expects the PENDING head (the last
 * commit appended, synced or not), so concurrent committers build on each
 * other and share fdatasyncs (group commit). */
static int pb_raw_commit(pb_storage *st, uint64_t first, uint64_t n,
                         bool on_pending, uint64_t *conflicts) {
  pb__batch_builder bb;
  int rc = pb__batch_init(&bb);
  if (rc != PB_OK) return rc;
  uint8_t rec[REC_LEN];
  pb_atom_ptr root = {0}, p;
  for (uint64_t i = 0; i < n && rc == PB_OK; i++) {
    make_record(first + i, rec);
    rc = pb__batch_add(&bb, rec, REC_LEN, &p);
    if (i == 0) root = p;
  }
  pb__batch b = {.id_hi = bb.id_hi, .id_lo = bb.id_lo, .data = bb.buf.data,
                 .size = bb.buf.len};
  while (rc == PB_OK) {
    pb_atom_ptr cur;
    if (on_pending) pb__file_pending_root(st, &cur, NULL);
    else rc = st->ops->read_root(st, &cur, NULL);
    if (rc == PB_OK) rc = st->ops->commit(st, &b, cur, root, NULL);
    if (rc != PB_ECONFLICT) break;
    if (conflicts) (*conflicts)++;
    rc = PB_OK;
  }
  pb__batch_free(&bb);
  return rc;
}

static result pb_raw_commits(const char *tag, uint64_t cap, uint64_t per) {
  char *dir = bench_fresh_dir(tag);
  pb_storage *st = pb_open_store(dir, PB_DURABILITY_SYNC);
  result r = {0};
  uint64_t s0 = file_syncs();
  double t0 = bench_now(), deadline = t0 + g_secs;
  uint64_t done = 0;
  while (done < cap && bench_now() < deadline) {
    uint64_t n = cap - done < per ? cap - done : per;
    int rc = pb_raw_commit(st, done, n, false, &r.retries);
    if (rc != PB_OK) {
      char msg[512];
      pb__storage_errmsg(st, msg, sizeof msg);
      bench_die("ProtoBase storage commit", msg[0] ? msg : pb_strerror(rc));
    }
    done += n;
    r.ops += per == 1 ? 1 : n;
  }
  r.secs = bench_now() - t0;
  uint64_t commits = per == 1 ? r.ops : (r.ops + per - 1) / per;
  r.syncs = commits ? (double)(file_syncs() - s0) / (double)commits : 0;
  st->ops->close(st);
  r.disk_per_rec = r.ops ? (double)bench_disk_bytes(dir) / (double)r.ops : 0;
  free(dir);
  return r;
}

/* Workload 2 through the storage interface: NTHREADS threads commit 1-atom
 * batches on the pending head, so they share fdatasyncs (group commit). */
typedef struct raw_worker {
  pb_storage *st;                /* shared store */
  atomic_uint_fast64_t *budget;  /* commits left to claim */
  atomic_uint_fast64_t *next;    /* next record number */
  double deadline;               /* stop time */
  uint64_t ops, retries;         /* this thread's counts */
} raw_worker;

static void *raw_worker_fn(void *arg) {
  raw_worker *w = arg;
  while (bench_now() < w->deadline && claim(w->budget)) {
    uint64_t i = atomic_fetch_add(w->next, 1);
    if (pb_raw_commit(w->st, i, 1, true, &w->retries) != PB_OK)
      bench_die("ProtoBase storage commit (threads)", "commit failed");
    w->ops++;
  }
  return NULL;
}

static result pb_raw_commits_mt(const char *tag, int nthreads, uint64_t cap,
                                pb_durability dur) {
  char *dir = bench_fresh_dir(tag);
  pb_storage *st = pb_open_store(dir, dur);
  atomic_uint_fast64_t budget = cap, next = 0;
  raw_worker w[NTHREADS];
  pthread_t th[NTHREADS];
  uint64_t s0 = file_syncs();
  double t0 = bench_now();
  for (int t = 0; t < nthreads; t++) {
    w[t] = (raw_worker){st, &budget, &next, t0 + g_secs, 0, 0};
    pthread_create(&th[t], NULL, raw_worker_fn, &w[t]);
  }
  result r = {0};
  for (int t = 0; t < nthreads; t++) {
    pthread_join(th[t], NULL);
    r.ops += w[t].ops;
    r.retries += w[t].retries;
  }
  r.secs = bench_now() - t0;
  r.syncs = r.ops ? (double)(file_syncs() - s0) / (double)r.ops : 0;
  st->ops->close(st);
  free(dir);
  return r;
}

/* --- LMDB --- */

static MDB_env *lmdb_open(const char *dir, MDB_dbi *dbi) {
  MDB_env *env;
  int rc = mdb_env_create(&env);
  if (!rc) rc = mdb_env_set_mapsize(env, (size_t)8 << 30);
  if (!rc) rc = mdb_env_set_maxreaders(env, 126);
  if (!rc) rc = mdb_env_open(env, dir, 0, 0644); /* default: synchronous */
  MDB_txn *t;
  if (!rc) rc = mdb_txn_begin(env, NULL, 0, &t);
  if (!rc) rc = mdb_dbi_open(t, NULL, 0, dbi);
  if (!rc) rc = mdb_txn_commit(t);
  if (rc) bench_die("LMDB open", mdb_strerror(rc));
  return env;
}

/* Puts records [first, first + n) in one write txn. */
static void lmdb_put(MDB_env *env, MDB_dbi dbi, uint64_t first, uint64_t n) {
  MDB_txn *t;
  int rc = mdb_txn_begin(env, NULL, 0, &t);
  uint8_t rec[REC_LEN];
  for (uint64_t i = 0; i < n && !rc; i++) {
    make_record(first + i, rec);
    MDB_val k = {KEY_LEN, rec}, v = {VAL_LEN, rec + KEY_LEN};
    rc = mdb_put(t, dbi, &k, &v, 0);
  }
  if (rc) { mdb_txn_abort(t); bench_die("LMDB put", mdb_strerror(rc)); }
  rc = mdb_txn_commit(t);
  if (rc) bench_die("LMDB commit", mdb_strerror(rc));
}

typedef struct lm_worker {
  MDB_env *env;
  MDB_dbi dbi;
  double deadline;
  atomic_uint_fast64_t *budget;
  uint64_t first, done;
} lm_worker;

static void *lmdb_worker(void *arg) {
  lm_worker *w = arg;
  while (bench_now() < w->deadline && claim(w->budget)) {
    lmdb_put(w->env, w->dbi, w->first + w->done, 1);
    w->done++;
  }
  return NULL;
}

static result lmdb_run(const char *tag, int nthreads, uint64_t cap,
                       uint64_t per) {
  char *dir = bench_fresh_dir(tag);
  MDB_dbi dbi;
  MDB_env *env = lmdb_open(dir, &dbi);
  result r = {0};
  r.syncs = -1;
  double t0 = bench_now();
  if (per > 1) {
    double deadline = t0 + g_secs;
    while (r.ops < cap && bench_now() < deadline) {
      uint64_t n = cap - r.ops < per ? cap - r.ops : per;
      lmdb_put(env, dbi, r.ops, n);
      r.ops += n;
    }
  } else {
    lm_worker w[NTHREADS];
    pthread_t th[NTHREADS];
    atomic_uint_fast64_t budget = cap;
    for (int t = 0; t < nthreads; t++) {
      w[t] = (lm_worker){env, dbi, t0 + g_secs, &budget,
                         (uint64_t)t * (g_records / NTHREADS), 0};
      pthread_create(&th[t], NULL, lmdb_worker, &w[t]);
    }
    for (int t = 0; t < nthreads; t++) {
      pthread_join(th[t], NULL);
      r.ops += w[t].done;
    }
  }
  r.secs = bench_now() - t0;
  mdb_env_close(env);
  r.disk_per_rec = r.ops ? (double)bench_disk_bytes(dir) / (double)r.ops : 0;
  free(dir);
  return r;
}

/* --- SQLite --- */

static void sq_exec(sqlite3 *db, const char *sql) {
  char *err = NULL;
  if (sqlite3_exec(db, sql, NULL, NULL, &err) != SQLITE_OK)
    bench_die(sql, err ? err : sqlite3_errmsg(db));
}

static sqlite3 *sq_open(const char *dir, int create) {
  char path[4096];
  snprintf(path, sizeof path, "%s/bench.db", dir);
  sqlite3 *db;
  if (sqlite3_open(path, &db) != SQLITE_OK) bench_die("sqlite3_open", path);
  sqlite3_busy_timeout(db, 10000);
  sq_exec(db, "PRAGMA journal_mode=WAL");
  sq_exec(db, "PRAGMA synchronous=FULL");
  if (create)
    sq_exec(db, "CREATE TABLE IF NOT EXISTS kv(k BLOB PRIMARY KEY, v BLOB) "
                "WITHOUT ROWID");
  return db;
}

/* Inserts records [first, first + n): one transaction when n > 1, else
 * autocommit.  Retries SQLITE_BUSY (after busy_timeout). */
static uint64_t sq_put(sqlite3 *db, sqlite3_stmt *ins, uint64_t first,
                       uint64_t n) {
  uint64_t busy = 0;
  uint8_t rec[REC_LEN];
  if (n > 1) sq_exec(db, "BEGIN");
  for (uint64_t i = 0; i < n; i++) {
    make_record(first + i, rec);
    sqlite3_bind_blob(ins, 1, rec, KEY_LEN, SQLITE_STATIC);
    sqlite3_bind_blob(ins, 2, rec + KEY_LEN, VAL_LEN, SQLITE_STATIC);
    int rc;
    while ((rc = sqlite3_step(ins)) == SQLITE_BUSY && n == 1) {
      busy++;
      sqlite3_reset(ins);
    }
    if (rc != SQLITE_DONE) bench_die("SQLite insert", sqlite3_errmsg(db));
    sqlite3_reset(ins);
  }
  if (n > 1) sq_exec(db, "COMMIT");
  return busy;
}

typedef struct sq_worker {
  const char *dir;
  double deadline;
  atomic_uint_fast64_t *budget;
  uint64_t first, done, busy;
} sq_worker;

static void *sq_worker_fn(void *arg) {
  sq_worker *w = arg;
  sqlite3 *db = sq_open(w->dir, 0);
  sqlite3_stmt *ins;
  if (sqlite3_prepare_v2(db, "INSERT OR REPLACE INTO kv(k, v) VALUES(?, ?)", -1, &ins,
                         NULL) != SQLITE_OK)
    bench_die("SQLite prepare", sqlite3_errmsg(db));
  while (bench_now() < w->deadline && claim(w->budget)) {
    w->busy += sq_put(db, ins, w->first + w->done, 1);
    w->done++;
  }
  sqlite3_finalize(ins);
  sqlite3_close(db);
  return NULL;
}

static result sq_run(const char *tag, int nthreads, uint64_t cap,
                     uint64_t per) {
  char *dir = bench_fresh_dir(tag);
  sqlite3 *db = sq_open(dir, 1);
  result r = {0};
  r.syncs = -1;
  double t0;
  if (per > 1) {
    sqlite3_stmt *ins;
    if (sqlite3_prepare_v2(db, "INSERT OR REPLACE INTO kv(k, v) VALUES(?, ?)", -1, &ins,
                           NULL) != SQLITE_OK)
      bench_die("SQLite prepare", sqlite3_errmsg(db));
    t0 = bench_now();
    double deadline = t0 + g_secs;
    while (r.ops < cap && bench_now() < deadline) {
      uint64_t n = cap - r.ops < per ? cap - r.ops : per;
      sq_put(db, ins, r.ops, n);
      r.ops += n;
    }
    r.secs = bench_now() - t0;
    sqlite3_finalize(ins);
  } else {
    sq_worker w[NTHREADS];
    pthread_t th[NTHREADS];
    atomic_uint_fast64_t budget = cap;
    t0 = bench_now();
    for (int t = 0; t < nthreads; t++) {
      w[t] = (sq_worker){dir, t0 + g_secs, &budget,
                         (uint64_t)t * (g_records / NTHREADS), 0, 0};
      pthread_create(&th[t], NULL, sq_worker_fn, &w[t]);
    }
    for (int t = 0; t < nthreads; t++) {
      pthread_join(th[t], NULL);
      r.ops += w[t].done;
      r.retries += w[t].busy;
    }
    r.secs = bench_now() - t0;
  }
  sqlite3_close(db); /* the last connection: checkpoints, removes the WAL */
  r.disk_per_rec = r.ops ? (double)bench_disk_bytes(dir) / (double)r.ops : 0;
  free(dir);
  return r;
}

/* --- output --- */

static void detail(const char *engine, const char *what, const result *r,
                   int bulk) {
  printf("  %-22s %9llu %s in %6.2f s = %10.0f /s", engine,
         (unsigned long long)r->ops, bulk ? "records" : "commits", r->secs,
         rate(r));
  if (bulk) printf(" = %7.1f MB/s", rate(r) * REC_LEN / 1e6);
  if (r->syncs >= 0) printf(", %.3f syncs/commit", r->syncs);
  if (r->retries) printf(", %llu retries", (unsigned long long)r->retries);
  printf("  (%s)\n", what);
  fflush(stdout);
}

static void ratio_cell(double a, double b) {
  if (b > 0) printf(" %.2fx |", a / b);
  else printf(" - |");
}

static void row(const char *workload, double pb, double lm, double sq,
                double syncs) {
  printf("| %s | %.0f | %.0f | %.0f |", workload, pb, lm, sq);
  ratio_cell(pb, lm);
  ratio_cell(pb, sq);
  if (syncs >= 0) printf(" %.3f |\n", syncs);
  else printf(" - |\n");
}

static void usage(void) {
  fprintf(stderr, "usage: bench_storage [--dir DIR] [--secs S] "
                  "[--records N] [--commits N]\n");
  exit(2);
}

int main(int argc, char **argv) {
  const char *dir = NULL;
  for (int i = 1; i < argc; i++) {
    if (i + 1 >= argc) usage();
    if (!strcmp(argv[i], "--dir")) dir = argv[++i];
    else if (!strcmp(argv[i], "--secs")) g_secs = atof(argv[++i]);
    else if (!strcmp(argv[i], "--records"))
      g_records = strtoull(argv[++i], NULL, 10);
    else if (!strcmp(argv[i], "--commits"))
      g_commits = strtoull(argv[++i], NULL, 10);
    else usage();
  }
  if (g_records < NTHREADS * 2 || g_secs <= 0 || g_commits == 0) usage();
  bench_set_dir("bench_storage", dir);
  cio_init();
  g_perm = bench_shuffled(g_records, 42);
  bench_print_machine();
  int maj, min, pat;
  mdb_version(&maj, &min, &pat);
  printf("engines: ProtoBase %s, LMDB %d.%d.%d, SQLite %s\n",
         PB_VERSION_STRING, maj, min, pat, sqlite3_libversion());
  printf("records: %llu keys of %d bytes (shuffled), values of %d bytes; "
         "each run bounded to %.0f s\n", (unsigned long long)g_records,
         KEY_LEN, VAL_LEN, g_secs);

  printf("\n== 1. durable commits, 1 thread, 1 record each (cap %llu)\n",
         (unsigned long long)g_commits);
  result p1 = pb_txn_commits("pb-commit1", 1, PB_DURABILITY_SYNC, g_commits);
  detail("ProtoBase pb_txn", "put_record + set of 1 of 64 names, SYNC", &p1, 0);
  result p1r = pb_raw_commits("pb-commit1-raw", g_commits, 1);
  detail("ProtoBase storage", "1-atom batch, storage commit, SYNC", &p1r, 0);
  g_prealloc = false;
  result p1n = pb_raw_commits("pb-commit1-noalloc", g_commits, 1);
  g_prealloc = true;
  detail("ProtoBase storage", "the same without segment preallocation", &p1n,
         0);
  result l1 = lmdb_run("lmdb-commit1", 1, g_commits, 1);
  detail("LMDB", "1 put per write txn, default sync", &l1, 0);
  result s1 = sq_run("sqlite-commit1", 1, g_commits, 1);
  detail("SQLite", "1 INSERT per txn, WAL, synchronous=FULL", &s1, 0);

  printf("\n== 2. durable commits, %d threads, 1 record each (cap %llu)\n",
         NTHREADS, (unsigned long long)g_commits);
  result p8 = pb_txn_commits("pb-commit8", NTHREADS, PB_DURABILITY_SYNC,
                             g_commits);
  detail("ProtoBase pb_txn SYNC", "8 dbs in 1 space, 1 per thread", &p8, 0);
  result p8g = pb_txn_commits("pb-commit8-group", NTHREADS,
                              PB_DURABILITY_GROUP, g_commits);
  detail("ProtoBase pb_txn GROUP", "8 dbs in 1 space, 1 per thread", &p8g, 0);
  result p8r = pb_raw_commits_mt("pb-commit8-raw", NTHREADS, g_commits,
                                 PB_DURABILITY_SYNC);
  detail("ProtoBase storage", "8 threads, 1-atom batches on the pending head, SYNC",
         &p8r, 0);
  result l8 = lmdb_run("lmdb-commit8", NTHREADS, g_commits, 1);
  detail("LMDB", "8 threads, 1 put per write txn", &l8, 0);
  result s8 = sq_run("sqlite-commit8", NTHREADS, g_commits, 1);
  detail("SQLite", "8 connections, busy_timeout 10 s", &s8, 0);

  printf("\n== 3. bulk append, %d records per commit (up to %llu records)\n",
         BULK_BATCH, (unsigned long long)g_records);
  result pb = pb_raw_commits("pb-bulk", g_records, BULK_BATCH);
  detail("ProtoBase storage", "10k-atom batches, SYNC", &pb, 1);
  result lb = lmdb_run("lmdb-bulk", 1, g_records, BULK_BATCH);
  detail("LMDB", "10k puts per write txn, default sync", &lb, 1);
  result sb = sq_run("sqlite-bulk", 1, g_records, BULK_BATCH);
  detail("SQLite", "10k INSERTs per txn, WAL, synchronous=FULL", &sb, 1);

  printf("\n| workload | ProtoBase | LMDB | SQLite | PB/LMDB | PB/SQLite "
         "| PB syncs/commit |\n");
  printf("|---|---|---|---|---|---|---|\n");
  row("durable commits/s, 1 thread (pb_txn, 64 names)", rate(&p1), rate(&l1),
      rate(&s1), p1.syncs);
  row("durable commits/s, 1 thread (storage commit)", rate(&p1r), rate(&l1),
      rate(&s1), p1r.syncs);
  row("durable commits/s, 1 thread (storage commit, no preallocation)",
      rate(&p1n), rate(&l1), rate(&s1), p1n.syncs);
  row("durable commits/s, 8 threads (pb_txn SYNC, 8 dbs)", rate(&p8),
      rate(&l8), rate(&s8), p8.syncs);
  row("durable commits/s, 8 threads (pb_txn GROUP, 8 dbs)", rate(&p8g),
      rate(&l8), rate(&s8), p8g.syncs);
  row("durable commits/s, 8 threads (storage commit, group)", rate(&p8r),
      rate(&l8), rate(&s8), p8r.syncs);
  printf("| bulk append MB/s, 10k records/commit | %.1f | %.1f | %.1f |",
         rate(&pb) * REC_LEN / 1e6, rate(&lb) * REC_LEN / 1e6,
         rate(&sb) * REC_LEN / 1e6);
  ratio_cell(rate(&pb), rate(&lb));
  ratio_cell(rate(&pb), rate(&sb));
  printf(" %.3f |\n", pb.syncs);
  printf("| bytes on disk per record after bulk | %.1f | %.1f | %.1f |",
         pb.disk_per_rec, lb.disk_per_rec, sb.disk_per_rec);
  ratio_cell(pb.disk_per_rec, lb.disk_per_rec);
  ratio_cell(pb.disk_per_rec, sb.disk_per_rec);
  printf(" - |\n");

  double best8 = rate(&p8) > rate(&p8g) ? rate(&p8) : rate(&p8g);
  if (rate(&p8r) > best8) best8 = rate(&p8r);
  printf("\ntargets (SPEC 12), reported, not asserted:\n");
  printf("  1 thread: %.3f fdatasyncs per pb_txn commit, %.3f per storage "
         "commit (target: exactly 1.0)\n", p1.syncs, p1r.syncs);
  printf("  8 threads: pb_txn %.0f/s at %.3f fdatasyncs each; storage "
         "commits %.0f/s at %.3f each\n",
         rate(&p8) > rate(&p8g) ? rate(&p8) : rate(&p8g), p8.syncs,
         rate(&p8r), p8r.syncs);
  printf("  8 threads: best ProtoBase %.0f commits/s = %.2fx LMDB's "
         "1-thread %.0f (target >= 3x): %s\n", best8,
         rate(&l1) > 0 ? best8 / rate(&l1) : 0, rate(&l1),
         best8 >= 3 * rate(&l1) ? "met" : "NOT met");
  printf("  bytes/record after bulk: ProtoBase %.1f vs SQLite %.1f "
         "(target <=): %s\n", pb.disk_per_rec, sb.disk_per_rec,
         pb.disk_per_rec <= sb.disk_per_rec ? "met" : "NOT met");
  return 0;
}
