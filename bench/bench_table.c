/*
 * bench_table.c - the read path's table (issue 14): every row, ProtoBase
 * beside LMDB and SQLite on the same records in the same run, interleaved
 * rounds, medians and same-run ratios.
 *
 *   bench_table [--n N] [--rounds R] [--ops N] [--commits N] [--secs S]
 *               [--load-only] [--quick] [--dir DIR] [--rows LIST]
 *               [--slices S]
 *
 * Records: N (default 1,000,000) keys of 16 bytes, "k" and 15 decimal
 * digits of a key number in 0..N-1, each with a 100-byte value (a window,
 * chosen by the key number, of a 64 KiB pseudo-random pool, so any value
 * can be checked).  The load puts key numbers in a pseudo-random order (a
 * Feistel permutation of 0..N-1, no table), the same order for all three
 * engines.  Every get checks the 100 bytes it gets.
 *
 * Engines:
 *   ProtoBase: the public API with default options: pb_storage_open_file
 *     (NULL options: PB_DURABILITY_SYNC), pb_space_open, pb_db_open
 *     "bench", a Dictionary "d" (pb_txn_open_dict), pb_dict_put / _get
 *     with PB_VALUE_BYTES.  Only the "big cache" rows differ: they open
 *     the space with pb_space_open_ex and an object cache of
 *     max(256 MiB, N KiB) and N entries (big enough for every node: the
 *     output gives its evictions, 0 when it held everything).
 *     fdatasyncs are counted with the file tier's own counter
 *     (pb__file_sync_count, storage/file.h), as bench_hotkey does.
 *   LMDB: default flags (synced commits), a 32 GiB map, the unnamed
 *     database; it has no cache of its own (the OS page cache).
 *   SQLite: a table kv(k BLOB PRIMARY KEY, v BLOB) WITHOUT ROWID,
 *     journal_mode=WAL, synchronous=FULL on every connection (every commit
 *     of every engine is durable), prepared statements; the page cache is
 *     sized like ProtoBase's object cache on each row (cache_size of 64 MiB
 *     where ProtoBase has its default, the big size where it has the big
 *     cache).  A read outside BEGIN is SQLite's read transaction per read.
 *
 * Rows, each engine once per round in turn (the first engine rotates from
 * round to round); medians of the rounds:
 *   load     bulk insert of the N records in one transaction, in a child
 *            process (fork + exec of this program): records/s, and its
 *            peak RSS (getrusage ru_maxrss), the "peak RSS of a bulk load"
 *            row at this N.
 *   rss      RSS after reading all N records: a fresh child opens the
 *            loaded store with the default caches and gets every key once
 *            (random order, read transactions of 1,000 gets), then reads
 *            VmRSS from /proc/self/status.
 *   then the parent opens the three loaded stores, big caches, and runs a
 *   warm-up (every key once, in one read transaction; untimed), then:
 *   long     --ops [200,000] random gets inside one read transaction.
 *   txn1     the same gets, each in a read transaction of its own
 *            (ProtoBase: pb_txn_begin RDONLY, pb_txn_open_dict, get,
 *            pb_txn_abort; LMDB: mdb_txn_begin RDONLY, mdb_get,
 *            mdb_txn_abort; SQLite: one autocommit SELECT).
 *   txn2     the same on 2 threads, --ops gets each; the gain is the
 *            2-thread rate over the 1-thread rate.
 *   then it reopens ProtoBase with pb_space_open (the defaults) and SQLite
 *   with a 64 MiB cache, runs --ops gets to warm them (untimed), then:
 *   long-def the long-transaction row through the default caches,
 *   txn1-def the per-read-transaction row through the default caches,
 *   commit1  durable commits of 1 new record each, 1 thread, on the loaded
 *            store, up to --commits [1,000] or --secs [3] seconds;
 *            ProtoBase's fdatasyncs per commit;
 *   commit8  the same on 8 threads into ONE database (ProtoBase:
 *            pb_txn_run, which retries conflicts; LMDB: a write
 *            transaction per put; SQLite: a connection per thread,
 *            busy_timeout 10 s), up to 2x --commits or --secs seconds.
 * --load-only runs the load row alone (for 10M records).  --quick: 20,000
 * records, 1 round, 20,000 gets, 100 commits, 1 s (a smoke test).
 * --rows LIST (comma-separated: load, rss, long, txn1, txn2, long-def,
 * txn1-def, commit1, commit8) measures only those rows.  The stores are
 * still loaded, in the first round only when "load" is not listed (later
 * rounds reuse them, and their commits use key numbers no earlier round
 * used); a warm-up runs before the rows that follow it, as above.
 *
 * Ratios are ProtoBase over the peer, as rates for every speed row (above
 * 1: ProtoBase is faster) and as kilobytes for the RSS rows (below 1:
 * ProtoBase uses less).  Nothing is asserted; exits non-zero only when an
 * engine fails or gives a wrong value.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <inttypes.h>
#include <lmdb.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "protobase/protobase.h"
#include "storage/file.h"

#include "bench_util.h"

#define KEY_LEN 16
#define VAL_LEN 100
#define POOL_LEN 65536
#define MAX_ROUNDS 31
#define NTHREADS 8
#define SCAN_BATCH 1000
#define DEF_CACHE_KIB 65536 /* ProtoBase's default object cache, 64 MiB */

enum { E_PB, E_LM, E_SQ, N_ENG };
static const char *const eng_name[N_ENG] = {"ProtoBase", "LMDB", "SQLite"};
static const char *const eng_dir[N_ENG] = {"table-pb", "table-lmdb",
                                           "table-sqlite"};

/* --- options --- */

static uint64_t g_n = 1000000, g_ops = 200000, g_commits = 1000;
static double g_secs = 3;
static int g_rounds = 5;
static int g_slices = 8; /* a read row's gets, cut for interleaving */
static unsigned g_rows; /* bit R_x: row x is measured (--rows) */

/* --- records --- */

static uint8_t g_pool[POOL_LEN];

static void pool_init(void) {
  uint64_t s = 0x7461626c65ull;
  for (int i = 0; i < POOL_LEN; i += 8) {
    s = bench_mix(s);
    memcpy(g_pool + i, &s, 8);
  }
}

/* "k" and 15 digits of k. */
static void key_of(uint64_t k, char out[KEY_LEN]) {
  out[0] = 'k';
  for (int d = KEY_LEN - 1; d >= 1; d--, k /= 10) out[d] = (char)('0' + k % 10);
}

static const uint8_t *value_of(uint64_t k) {
  return g_pool + bench_mix(k ^ 0x76616c7565ull) % (POOL_LEN - VAL_LEN);
}

/* A permutation of 0..n-1 without a table: a 4-round Feistel network on
 * the smallest even number of bits that covers n, walked until it lands
 * below n. */
typedef struct perm {
  uint64_t n, seed, mask;
  unsigned half;
} perm;

static perm perm_make(uint64_t n, uint64_t seed) {
  unsigned bits = 2;
  while (bits < 64 && (1ull << bits) < n) bits += 2;
  return (perm){n, seed, (1ull << (bits / 2)) - 1, bits / 2};
}

static uint64_t perm_at(const perm *p, uint64_t i) {
  uint64_t x = i;
  do {
    uint64_t l = x >> p->half, r = x & p->mask;
    for (uint64_t round = 0; round < 4; round++) {
      uint64_t t = l ^ (bench_mix(r ^ (p->seed + round * 0x9e37ull)) & p->mask);
      l = r;
      r = t;
    }
    x = l << p->half | r;
  } while (x >= p->n);
  return x;
}

#define LOAD_SEED 0x6c6f6164ull
#define SCAN_SEED 0x7363616eull
#define WARM_SEED 0x7761726dull
#define GET_SEED 0x67657473ull

/* A timed pass of gets, formatted before the clock starts. */
typedef struct opseq {
  uint64_t n;
  uint64_t *num; /* key numbers */
  char *key;     /* KEY_LEN bytes each */
} opseq;

static opseq opseq_make(uint64_t n, uint64_t seed) {
  opseq q = {n, malloc(n * sizeof(uint64_t)), malloc(n * KEY_LEN)};
  if (!q.num || !q.key) bench_die("malloc", "operation sequence");
  for (uint64_t k = 0; k < n; k++) {
    q.num[k] = bench_mix(seed + k) % g_n;
    key_of(q.num[k], q.key + k * KEY_LEN);
  }
  return q;
}

static void opseq_free(opseq *q) {
  free(q->num);
  free(q->key);
}

static void check_value(const void *p, size_t len, uint64_t k,
                        const char *who) {
  if (len != VAL_LEN || memcmp(p, value_of(k), VAL_LEN) != 0)
    bench_die(who, "wrong value");
}

/* --- ProtoBase --- */

static void pcheck(int rc, const char *what) {
  if (rc != PB_OK) bench_die(what, pb_errname(rc));
}

typedef struct pbe {
  pb_storage *st;
  pb_space *sp;
  pb_db *db;
  pb_txn *rt; /* the open long read transaction, or NULL */
  pb_dict *rd;
} pbe;

static uint64_t big_cache_bytes(void) {
  uint64_t b = g_n * 1024;
  return b < (256u << 20) ? 256u << 20 : b;
}

static void pb_e_open(pbe *e, const char *dir, bool big) {
  memset(e, 0, sizeof *e);
  pcheck(pb_storage_open_file(dir, NULL, &e->st), "pb_storage_open_file");
  if (big) {
    pb_space_options o;
    pb_space_options_init(&o);
    o.object_cache_bytes = big_cache_bytes();
    o.object_cache_entries = g_n;
    pcheck(pb_space_open_ex(e->st, &o, &e->sp), "pb_space_open_ex");
  } else {
    pcheck(pb_space_open(e->st, &e->sp), "pb_space_open");
  }
  pcheck(pb_db_open(e->sp, "bench", PB_CREATE, &e->db), "pb_db_open");
}

static void pb_e_close(pbe *e) {
  pb_db_close(e->db);
  pcheck(pb_space_close(e->sp), "pb_space_close");
}

static void pb_e_put(pb_dict *d, uint64_t k) {
  char key[KEY_LEN];
  key_of(k, key);
  pb_value v = {.kind = PB_VALUE_BYTES,
                .as.bytes = {value_of(k), VAL_LEN}};
  pcheck(pb_dict_put(d, (pb_str){key, KEY_LEN}, &v), "pb_dict_put");
}

static void pb_e_get(pb_dict *d, const char *key, uint64_t k) {
  pb_value v;
  pcheck(pb_dict_get(d, (pb_str){key, KEY_LEN}, &v), "pb_dict_get");
  if (v.kind != PB_VALUE_BYTES) bench_die("pb_dict_get", "not BYTES");
  check_value(v.as.bytes.ptr, v.as.bytes.len, k, "pb_dict_get");
}

static void pb_e_begin_read(pbe *e) {
  pcheck(pb_txn_begin(e->db, PB_RDONLY, &e->rt), "pb_txn_begin");
  pcheck(pb_txn_open_dict(e->rt, "d", 0, &e->rd), "pb_txn_open_dict");
}

static void pb_e_end_read(pbe *e) {
  pb_txn_abort(e->rt);
  e->rt = NULL;
}

static void pb_e_get1(pbe *e, const char *key, uint64_t k) {
  pb_txn *t;
  pb_dict *d;
  pcheck(pb_txn_begin(e->db, PB_RDONLY, &t), "pb_txn_begin");
  pcheck(pb_txn_open_dict(t, "d", 0, &d), "pb_txn_open_dict");
  pb_e_get(d, key, k);
  pb_txn_abort(t);
}

typedef struct pb_put_arg {
  uint64_t k;
} pb_put_arg;

static int pb_put_fn(pb_txn *t, void *arg) {
  pb_dict *d;
  int rc = pb_txn_open_dict(t, "d", 0, &d);
  if (rc != PB_OK) return rc;
  uint64_t k = ((pb_put_arg *)arg)->k;
  char key[KEY_LEN];
  key_of(k, key);
  pb_value v = {.kind = PB_VALUE_BYTES, .as.bytes = {value_of(k), VAL_LEN}};
  return pb_dict_put(d, (pb_str){key, KEY_LEN}, &v);
}

/* --- LMDB --- */

static void lcheck(int rc, const char *what) {
  if (rc) bench_die(what, mdb_strerror(rc));
}

typedef struct lme {
  MDB_env *env;
  MDB_dbi dbi;
  MDB_txn *rt;
} lme;

static void lm_e_open(lme *e, const char *dir) {
  memset(e, 0, sizeof *e);
  lcheck(mdb_env_create(&e->env), "mdb_env_create");
  lcheck(mdb_env_set_mapsize(e->env, (size_t)32 << 30), "mdb_env_set_mapsize");
  lcheck(mdb_env_open(e->env, dir, 0, 0644), "mdb_env_open");
  MDB_txn *t;
  lcheck(mdb_txn_begin(e->env, NULL, 0, &t), "mdb_txn_begin");
  lcheck(mdb_dbi_open(t, NULL, 0, &e->dbi), "mdb_dbi_open");
  lcheck(mdb_txn_commit(t), "mdb_txn_commit");
}

static void lm_e_put(lme *e, MDB_txn *t, uint64_t k) {
  char key[KEY_LEN];
  key_of(k, key);
  MDB_val mk = {KEY_LEN, key}, mv = {VAL_LEN, (void *)value_of(k)};
  lcheck(mdb_put(t, e->dbi, &mk, &mv, 0), "mdb_put");
}

static void lm_e_get(lme *e, MDB_txn *t, const char *key, uint64_t k) {
  MDB_val mk = {KEY_LEN, (void *)key}, mv;
  lcheck(mdb_get(t, e->dbi, &mk, &mv), "mdb_get");
  check_value(mv.mv_data, mv.mv_size, k, "mdb_get");
}

static void lm_e_get1(lme *e, const char *key, uint64_t k) {
  MDB_txn *t;
  lcheck(mdb_txn_begin(e->env, NULL, MDB_RDONLY, &t), "mdb_txn_begin");
  lm_e_get(e, t, key, k);
  mdb_txn_abort(t);
}

static void lm_e_commit1(lme *e, uint64_t k) {
  MDB_txn *t;
  lcheck(mdb_txn_begin(e->env, NULL, 0, &t), "mdb_txn_begin");
  lm_e_put(e, t, k);
  lcheck(mdb_txn_commit(t), "mdb_txn_commit");
}

/* --- SQLite --- */

typedef struct sqc { /* one connection */
  sqlite3 *db;
  sqlite3_stmt *get, *put;
} sqc;

static void sq_exec(sqlite3 *db, const char *sql) {
  char *err = NULL;
  if (sqlite3_exec(db, sql, NULL, NULL, &err) != SQLITE_OK)
    bench_die(sql, err ? err : sqlite3_errmsg(db));
}

static void sq_open(sqc *c, const char *dir, uint64_t cache_kib) {
  char path[4096];
  snprintf(path, sizeof path, "%s/bench.db", dir);
  if (sqlite3_open(path, &c->db) != SQLITE_OK) bench_die("sqlite3_open", path);
  sqlite3_busy_timeout(c->db, 10000);
  sq_exec(c->db, "PRAGMA journal_mode=WAL");
  sq_exec(c->db, "PRAGMA synchronous=FULL");
  char sql[64];
  snprintf(sql, sizeof sql, "PRAGMA cache_size=-%" PRIu64, cache_kib);
  sq_exec(c->db, sql);
  sq_exec(c->db, "CREATE TABLE IF NOT EXISTS kv(k BLOB PRIMARY KEY, v BLOB) "
                 "WITHOUT ROWID");
  if (sqlite3_prepare_v2(c->db, "SELECT v FROM kv WHERE k = ?", -1, &c->get,
                         NULL) != SQLITE_OK ||
      sqlite3_prepare_v2(c->db, "INSERT OR REPLACE INTO kv(k, v) VALUES(?, ?)",
                         -1, &c->put, NULL) != SQLITE_OK)
    bench_die("sqlite3_prepare_v2", sqlite3_errmsg(c->db));
}

static void sq_close(sqc *c) {
  sqlite3_finalize(c->get);
  sqlite3_finalize(c->put);
  if (sqlite3_close(c->db) != SQLITE_OK) bench_die("sqlite3_close", "busy");
}

static void sq_put(sqc *c, uint64_t k) {
  char key[KEY_LEN];
  key_of(k, key);
  sqlite3_bind_blob(c->put, 1, key, KEY_LEN, SQLITE_STATIC);
  sqlite3_bind_blob(c->put, 2, value_of(k), VAL_LEN, SQLITE_STATIC);
  if (sqlite3_step(c->put) != SQLITE_DONE)
    bench_die("SQLite insert", sqlite3_errmsg(c->db));
  sqlite3_reset(c->put);
}

static void sq_get(sqc *c, const char *key, uint64_t k) {
  sqlite3_bind_blob(c->get, 1, key, KEY_LEN, SQLITE_STATIC);
  if (sqlite3_step(c->get) != SQLITE_ROW)
    bench_die("SQLite select", sqlite3_errmsg(c->db));
  check_value(sqlite3_column_blob(c->get, 0),
              (size_t)sqlite3_column_bytes(c->get, 0), k, "SQLite select");
  sqlite3_reset(c->get);
}

/* --- the three engines, open in the parent --- */

typedef struct engines {
  pbe pb;
  lme lm;
  sqc sq[2]; /* a connection per reading thread; sq[0] also writes */
} engines;

static char *g_dirs[N_ENG];

static void eng_open(engines *E, int e, bool big) {
  uint64_t kib = big ? big_cache_bytes() >> 10 : DEF_CACHE_KIB;
  switch (e) {
  case E_PB: pb_e_open(&E->pb, g_dirs[E_PB], big); break;
  case E_LM: lm_e_open(&E->lm, g_dirs[E_LM]); break;
  default:
    sq_open(&E->sq[0], g_dirs[E_SQ], kib);
    sq_open(&E->sq[1], g_dirs[E_SQ], kib);
  }
}

static void eng_close(engines *E, int e) {
  switch (e) {
  case E_PB: pb_e_close(&E->pb); break;
  case E_LM: mdb_env_close(E->lm.env); break;
  default: sq_close(&E->sq[0]); sq_close(&E->sq[1]);
  }
}

/* Gets q's keys [from, from + n) (wrapping) inside one read transaction of
 * connection/thread `th`. */
static void eng_long(engines *E, int e, int th, const opseq *q, uint64_t from,
                     uint64_t n) {
  if (e == E_PB) {
    pb_e_begin_read(&E->pb);
    for (uint64_t i = 0; i < n; i++) {
      uint64_t j = (from + i) % q->n;
      pb_e_get(E->pb.rd, q->key + j * KEY_LEN, q->num[j]);
    }
    pb_e_end_read(&E->pb);
  } else if (e == E_LM) {
    MDB_txn *t;
    lcheck(mdb_txn_begin(E->lm.env, NULL, MDB_RDONLY, &t), "mdb_txn_begin");
    for (uint64_t i = 0; i < n; i++) {
      uint64_t j = (from + i) % q->n;
      lm_e_get(&E->lm, t, q->key + j * KEY_LEN, q->num[j]);
    }
    mdb_txn_abort(t);
  } else {
    sq_exec(E->sq[th].db, "BEGIN");
    for (uint64_t i = 0; i < n; i++) {
      uint64_t j = (from + i) % q->n;
      sq_get(&E->sq[th], q->key + j * KEY_LEN, q->num[j]);
    }
    sq_exec(E->sq[th].db, "COMMIT");
  }
}

/* Each get in a read transaction of its own. */
static void eng_txn1(engines *E, int e, int th, const opseq *q, uint64_t from,
                     uint64_t n) {
  for (uint64_t i = 0; i < n; i++) {
    uint64_t j = (from + i) % q->n;
    const char *key = q->key + j * KEY_LEN;
    if (e == E_PB) pb_e_get1(&E->pb, key, q->num[j]);
    else if (e == E_LM) lm_e_get1(&E->lm, key, q->num[j]);
    else sq_get(&E->sq[th], key, q->num[j]); /* autocommit: its own */
  }
}

/* Every key once, in one read transaction (the warm-up of the big caches;
 * keys formatted on the fly, untimed). */
static void eng_warm_all(engines *E, int e, int th) {
  perm p = perm_make(g_n, WARM_SEED);
  MDB_txn *t = NULL;
  if (e == E_PB) pb_e_begin_read(&E->pb);
  else if (e == E_LM)
    lcheck(mdb_txn_begin(E->lm.env, NULL, MDB_RDONLY, &t), "mdb_txn_begin");
  else sq_exec(E->sq[th].db, "BEGIN");
  char key[KEY_LEN];
  for (uint64_t i = 0; i < g_n; i++) {
    uint64_t k = perm_at(&p, i);
    key_of(k, key);
    if (e == E_PB) pb_e_get(E->pb.rd, key, k);
    else if (e == E_LM) lm_e_get(&E->lm, t, key, k);
    else sq_get(&E->sq[th], key, k);
  }
  if (e == E_PB) pb_e_end_read(&E->pb);
  else if (e == E_LM) mdb_txn_abort(t);
  else sq_exec(E->sq[th].db, "COMMIT");
}

typedef struct reader {
  engines *E;
  int e, th;
  const opseq *q;
  uint64_t from, n;
} reader;

static void *reader_fn(void *arg) {
  reader *r = arg;
  eng_txn1(r->E, r->e, r->th, r->q, r->from, r->n);
  return NULL;
}

/* Durable commits of one new record each (key numbers g_n + base + i). */
typedef struct committer {
  engines *E;
  int e, th;
  sqc own; /* SQLite: this thread's connection (th > 0) */
  atomic_uint_fast64_t *budget;
  double deadline;
  uint64_t base, done;
} committer;

static int claim(atomic_uint_fast64_t *budget) {
  uint_fast64_t b = atomic_load(budget);
  while (b > 0)
    if (atomic_compare_exchange_weak(budget, &b, b - 1)) return 1;
  return 0;
}

static void *committer_fn(void *arg) {
  committer *c = arg;
  sqc *s = c->th ? &c->own : &c->E->sq[0];
  while (bench_now() < c->deadline && claim(c->budget)) {
    uint64_t k = g_n + c->base + c->done;
    if (c->e == E_PB) {
      pb_put_arg a = {k};
      pcheck(pb_txn_run(c->E->pb.db, pb_put_fn, &a, PB_TXN_RUN_RETRIES),
             "pb_txn_run");
    } else if (c->e == E_LM) {
      lm_e_commit1(&c->E->lm, k);
    } else {
      sq_put(s, k); /* autocommit: a durable transaction (FULL) */
    }
    c->done++;
  }
  return NULL;
}

typedef struct commit_res {
  double rate, syncs, retries, combined;
} commit_res;

static uint64_t g_commit_base; /* key numbers used so far this round */

/* Up to `total` commits (or g_secs seconds) on nthreads threads. */
static commit_res eng_commits(engines *E, int e, int nthreads,
                              uint64_t total) {
  committer c[NTHREADS];
  pthread_t th[NTHREADS];
  atomic_uint_fast64_t budget = total;
  pb_space_stats s0 = {0}, s1 = {0};
  uint64_t sync0 = 0;
  if (e == E_PB) {
    pb_space_stats_get(E->pb.sp, &s0);
    sync0 = pb__file_sync_count(E->pb.st);
  }
  for (int t = 0; t < nthreads; t++) {
    c[t] = (committer){E, e, t, {0}, &budget, 0, g_commit_base + (uint64_t)t * total, 0};
    if (e == E_SQ && t > 0)
      sq_open(&c[t].own, g_dirs[E_SQ], DEF_CACHE_KIB);
  }
  double t0 = bench_now();
  for (int t = 0; t < nthreads; t++) {
    c[t].deadline = t0 + g_secs;
    if (pthread_create(&th[t], NULL, committer_fn, &c[t]))
      bench_die("pthread_create", "committer");
  }
  uint64_t done = 0;
  for (int t = 0; t < nthreads; t++) {
    pthread_join(th[t], NULL);
    done += c[t].done;
  }
  double secs = bench_now() - t0;
  g_commit_base += (uint64_t)nthreads * total;
  for (int t = 1; t < nthreads; t++)
    if (e == E_SQ) sq_close(&c[t].own);
  commit_res r = {done / secs, -1, -1, -1};
  if (e == E_PB && done) {
    pb_space_stats_get(E->pb.sp, &s1);
    r.syncs = (double)(pb__file_sync_count(E->pb.st) - sync0) / (double)done;
    r.retries = (double)(s1.retries - s0.retries) / (double)done;
    r.combined = (double)(s1.combined - s0.combined) / (double)done;
  }
  return r;
}

/* --- child processes: load and scan --- */

static long status_kib(const char *field) {
  FILE *f = fopen("/proc/self/status", "r");
  if (!f) return -1;
  char line[256];
  long v = -1;
  size_t fl = strlen(field);
  while (fgets(line, sizeof line, f))
    if (!strncmp(line, field, fl) && line[fl] == ':') {
      v = strtol(line + fl + 1, NULL, 10);
      break;
    }
  fclose(f);
  return v;
}

static long maxrss_kib(void) {
  struct rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  return ru.ru_maxrss;
}

/* Loads g_n records into the fresh directory `dir` in one transaction and
 * prints "result SECS MAXRSS_KIB RSS_KIB". */
static int child_load(int e, const char *dir) {
  perm p = perm_make(g_n, LOAD_SEED);
  double t0 = 0, secs = 0;
  if (e == E_PB) {
    pbe x;
    pb_e_open(&x, dir, false);
    t0 = bench_now();
    pb_txn *t;
    pb_dict *d;
    pcheck(pb_txn_begin(x.db, 0, &t), "pb_txn_begin");
    pcheck(pb_txn_open_dict(t, "d", PB_CREATE, &d), "pb_txn_open_dict");
    for (uint64_t i = 0; i < g_n; i++) pb_e_put(d, perm_at(&p, i));
    pcheck(pb_txn_commit(t), "pb_txn_commit");
    secs = bench_now() - t0;
    printf("result %.6f %ld %ld\n", secs, maxrss_kib(), status_kib("VmRSS"));
    fflush(stdout);
    pb_e_close(&x);
  } else if (e == E_LM) {
    lme x;
    lm_e_open(&x, dir);
    t0 = bench_now();
    MDB_txn *t;
    lcheck(mdb_txn_begin(x.env, NULL, 0, &t), "mdb_txn_begin");
    for (uint64_t i = 0; i < g_n; i++) lm_e_put(&x, t, perm_at(&p, i));
    lcheck(mdb_txn_commit(t), "mdb_txn_commit");
    secs = bench_now() - t0;
    printf("result %.6f %ld %ld\n", secs, maxrss_kib(), status_kib("VmRSS"));
    fflush(stdout);
    mdb_env_close(x.env);
  } else {
    sqc c;
    sq_open(&c, dir, DEF_CACHE_KIB);
    t0 = bench_now();
    sq_exec(c.db, "BEGIN");
    for (uint64_t i = 0; i < g_n; i++) sq_put(&c, perm_at(&p, i));
    sq_exec(c.db, "COMMIT");
    secs = bench_now() - t0;
    printf("result %.6f %ld %ld\n", secs, maxrss_kib(), status_kib("VmRSS"));
    fflush(stdout);
    sq_close(&c);
  }
  return 0;
}

/* Opens the loaded `dir` with the default caches, gets every key once
 * (random order, read transactions of SCAN_BATCH gets) and prints
 * "result SECS MAXRSS_KIB RSS_KIB". */
static int child_scan(int e, const char *dir) {
  perm p = perm_make(g_n, SCAN_SEED);
  engines E;
  memset(&E, 0, sizeof E);
  g_dirs[e] = (char *)dir;
  if (e == E_SQ) sq_open(&E.sq[0], dir, DEF_CACHE_KIB); /* one connection */
  else eng_open(&E, e, false);
  double t0 = bench_now();
  char key[KEY_LEN];
  for (uint64_t i = 0; i < g_n;) {
    uint64_t end = i + SCAN_BATCH < g_n ? i + SCAN_BATCH : g_n;
    MDB_txn *t = NULL;
    if (e == E_PB) pb_e_begin_read(&E.pb);
    else if (e == E_LM)
      lcheck(mdb_txn_begin(E.lm.env, NULL, MDB_RDONLY, &t), "mdb_txn_begin");
    else sq_exec(E.sq[0].db, "BEGIN");
    for (; i < end; i++) {
      uint64_t k = perm_at(&p, i);
      key_of(k, key);
      if (e == E_PB) pb_e_get(E.pb.rd, key, k);
      else if (e == E_LM) lm_e_get(&E.lm, t, key, k);
      else sq_get(&E.sq[0], key, k);
    }
    if (e == E_PB) pb_e_end_read(&E.pb);
    else if (e == E_LM) mdb_txn_abort(t);
    else sq_exec(E.sq[0].db, "COMMIT");
  }
  double secs = bench_now() - t0;
  printf("result %.6f %ld %ld\n", secs, maxrss_kib(), status_kib("VmRSS"));
  fflush(stdout);
  if (e == E_SQ) sq_close(&E.sq[0]);
  else eng_close(&E, e);
  return 0;
}

typedef struct child_res {
  double secs;
  long maxrss, rss; /* KiB */
} child_res;

static char g_self[4096];

static child_res run_child(const char *what, int e, const char *dir) {
  char cmd[8192];
  snprintf(cmd, sizeof cmd, "'%s' --child %s %d '%s' --n %" PRIu64, g_self,
           what, e, dir, g_n);
  fflush(stdout);
  FILE *f = popen(cmd, "r");
  if (!f) bench_die("popen", cmd);
  char line[512];
  child_res r = {-1, -1, -1};
  while (fgets(line, sizeof line, f))
    if (sscanf(line, "result %lf %ld %ld", &r.secs, &r.maxrss, &r.rss) == 3)
      break;
  while (fgets(line, sizeof line, f)) {
  }
  int st = pclose(f);
  if (st != 0 || r.secs < 0) bench_die("child process failed", cmd);
  return r;
}

/* --- rows, medians, output --- */

enum {
  R_LONG, R_TXN1, R_TXN2, R_LONG_DEF, R_TXN1_DEF, R_LOAD, R_COMMIT1,
  R_COMMIT8, R_RSS, R_PEAK, N_ROWS
};
static const char *const row_name[N_ROWS] = {
    "warm point read, one long read txn (big cache)",
    "warm point read, a read txn per read, 1 thread (big cache)",
    "the same, 2 threads (big cache)",
    "warm point read, one long read txn, default cache",
    "warm point read, a read txn per read, 1 thread, default cache",
    "bulk insert of N random keys, one txn",
    "durable commit, 1 thread, 1 record",
    "durable commits, 8 threads, one shared database",
    "RSS after reading all N records (MiB)",
    "peak RSS of the N bulk load (MiB)"};
static const bool row_rss[N_ROWS] = {[R_RSS] = true, [R_PEAK] = true};
/* --rows names; "load" selects the peak-RSS row with it. */
static const char *const row_opt[N_ROWS] = {
    [R_LONG] = "long",         [R_TXN1] = "txn1",         [R_TXN2] = "txn2",
    [R_LONG_DEF] = "long-def", [R_TXN1_DEF] = "txn1-def", [R_LOAD] = "load",
    [R_COMMIT1] = "commit1",   [R_COMMIT8] = "commit8",   [R_RSS] = "rss"};

static bool row_on(int row) { return g_rows >> row & 1; }

/* Parses --rows' comma-separated list into g_rows; false on an unknown
 * name or an empty list. */
static bool parse_rows(const char *list) {
  g_rows = 0;
  for (const char *p = list; *p;) {
    size_t len = strcspn(p, ",");
    int row = -1;
    for (int i = 0; i < N_ROWS; i++)
      if (row_opt[i] && strlen(row_opt[i]) == len &&
          !strncmp(p, row_opt[i], len))
        row = i;
    if (row < 0) return false;
    g_rows |= 1u << row;
    if (row == R_LOAD) g_rows |= 1u << R_PEAK;
    p += len;
    if (*p == ',') p++;
  }
  return g_rows != 0;
}

static double g_val[N_ROWS][N_ENG][MAX_ROUNDS];
static double g_syncs1[MAX_ROUNDS], g_syncs8[MAX_ROUNDS], g_retr8[MAX_ROUNDS],
    g_comb8[MAX_ROUNDS];
static int g_done_rounds;

static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

static double median(const double *v, int n) {
  double t[MAX_ROUNDS];
  memcpy(t, v, (size_t)n * sizeof *t);
  qsort(t, (size_t)n, sizeof *t, cmp_double);
  return n % 2 ? t[n / 2] : (t[n / 2 - 1] + t[n / 2]) / 2;
}

static double med(int row, int e) {
  return median(g_val[row][e], g_done_rounds);
}

static void print_rate_row(int row, int e, int r) {
  double v = g_val[row][e][r];
  if (row_rss[row])
    printf("    %-10s %12.0f KiB (%.1f MiB)\n", eng_name[e], v, v / 1024);
  else
    printf("    %-10s %12.0f /s  (%.3f us/op)\n", eng_name[e], v, 1e6 / v);
}

/* One slice of a read row on engine e: `n` gets from `from` (on each of
 * the two threads of the 2-thread row, which start half the sequence
 * apart); gives its seconds. */
static double timed_slice(engines *E, int e, int row, const opseq *q,
                          uint64_t from, uint64_t n) {
  double t0 = bench_now();
  if (row == R_LONG || row == R_LONG_DEF) eng_long(E, e, 0, q, from, n);
  else if (row == R_TXN1 || row == R_TXN1_DEF) eng_txn1(E, e, 0, q, from, n);
  else {
    reader rd[2];
    pthread_t th[2];
    for (int t = 0; t < 2; t++) {
      rd[t] = (reader){E, e, t, q, from + t * (q->n / 2), n};
      if (pthread_create(&th[t], NULL, reader_fn, &rd[t]))
        bench_die("pthread_create", "reader");
    }
    for (int t = 0; t < 2; t++) pthread_join(th[t], NULL);
  }
  return bench_now() - t0;
}

/* A read row on every engine, in --slices slices: each slice of the gets
 * runs on every engine (in the round's order) before the next, so that
 * what the machine's other load does falls on the three alike; each
 * engine's rate is its gets over the sum of its slices' times. */
static void read_row(engines *E, int row, const opseq *q, const int *order,
                     int r) {
  double secs[N_ENG] = {0};
  uint64_t per = q->n / (uint64_t)g_slices;
  if (per == 0) per = 1;
  uint64_t slices = q->n / per;
  for (uint64_t s = 0; s < slices; s++)
    for (int i = 0; i < N_ENG; i++)
      secs[order[i]] += timed_slice(E, order[i], row, q, s * per, per);
  double threads = row == R_TXN2 ? 2.0 : 1.0;
  for (int i = 0; i < N_ENG; i++) {
    int e = order[i];
    g_val[row][e][r] = threads * (double)(slices * per) / secs[e];
    print_rate_row(row, e, r);
  }
}

static void run_round(int r, bool load_only, const opseq *q,
                      const opseq *w) {
  int order[N_ENG];
  for (int i = 0; i < N_ENG; i++) order[i] = (r + i) % N_ENG;
  printf("\n== round %d of %d (engine order: %s, %s, %s)\n", r + 1, g_rounds,
         eng_name[order[0]], eng_name[order[1]], eng_name[order[2]]);

  if (row_on(R_LOAD) || r == 0) {
    printf("  %s, %s%s:\n", row_name[R_LOAD], row_name[R_PEAK],
           row_on(R_LOAD) ? "" : " (not in --rows: loads the stores once)");
    g_commit_base = 0;
    for (int i = 0; i < N_ENG; i++) {
      int e = order[i];
      free(g_dirs[e]);
      g_dirs[e] = bench_fresh_dir(eng_dir[e]);
      child_res c = run_child("load", e, g_dirs[e]);
      g_val[R_LOAD][e][r] = (double)g_n / c.secs;
      g_val[R_PEAK][e][r] = (double)c.maxrss;
      printf("    %-10s %10.0f records/s (%.2f s), peak RSS %.1f MiB, disk "
             "%.1f MiB\n", eng_name[e], (double)g_n / c.secs, c.secs,
             c.maxrss / 1024.0, bench_disk_bytes(g_dirs[e]) / 1048576.0);
    }
  }
  if (load_only) return;

  if (row_on(R_RSS))
    printf("  %s (child process, default caches):\n", row_name[R_RSS]);
  for (int i = 0; i < N_ENG && row_on(R_RSS); i++) {
    int e = order[i];
    child_res c = run_child("scan", e, g_dirs[e]);
    g_val[R_RSS][e][r] = (double)c.rss;
    printf("    %-10s RSS %.1f MiB (peak %.1f MiB) after %.2f s of gets\n",
           eng_name[e], c.rss / 1024.0, c.maxrss / 1024.0, c.secs);
  }

  engines E;
  memset(&E, 0, sizeof E);
  bool big = row_on(R_LONG) || row_on(R_TXN1) || row_on(R_TXN2);
  bool def = row_on(R_LONG_DEF) || row_on(R_TXN1_DEF) ||
             row_on(R_COMMIT1) || row_on(R_COMMIT8);
  pb_cache_stats oc;
  if (big) {
    printf("  big caches: warm-up, every key once in one read txn:");
    for (int i = 0; i < N_ENG; i++) {
      int e = order[i];
      eng_open(&E, e, true);
      double t0 = bench_now();
      eng_warm_all(&E, e, 0);
      if (e == E_SQ) eng_warm_all(&E, e, 1);
      printf(" %s %.2f s;", eng_name[e], bench_now() - t0);
    }
    printf("\n");
    const int big_rows[] = {R_LONG, R_TXN1, R_TXN2};
    for (int b = 0; b < 3; b++) {
      int row = big_rows[b];
      if (!row_on(row)) continue;
      printf("  %s:\n", row_name[row]);
      read_row(&E, row, q, order, r);
    }
    pcheck(pb_space_cache_stats(E.pb.sp, NULL, &oc), "pb_space_cache_stats");
    printf("  ProtoBase big object cache: %" PRIu64 " entries, %.1f MiB of "
           "%.0f MiB, %" PRIu64 " evictions, hit ratio %.4f\n", oc.entries,
           oc.bytes / 1048576.0, big_cache_bytes() / 1048576.0, oc.evictions,
           oc.hit_ratio);
    for (int e = 0; e < N_ENG; e++)
      if (e != E_LM) eng_close(&E, e);
  }
  if (!def) {
    if (big) eng_close(&E, E_LM);
    return;
  }

  printf("  default caches: warm-up, %" PRIu64 " other random gets in one "
         "read txn:", w->n);
  for (int i = 0; i < N_ENG; i++) {
    int e = order[i];
    if (e != E_LM || !big) eng_open(&E, e, false);
    double t0 = bench_now();
    eng_long(&E, e, 0, w, 0, w->n);
    if (e == E_SQ) eng_long(&E, e, 1, w, 0, w->n);
    printf(" %s %.2f s;", eng_name[e], bench_now() - t0);
  }
  printf("\n");
  pb_cache_stats oc0;
  pcheck(pb_space_cache_stats(E.pb.sp, NULL, &oc0), "pb_space_cache_stats");
  const int def_rows[] = {R_LONG_DEF, R_TXN1_DEF};
  for (int b = 0; b < 2; b++) {
    int row = def_rows[b];
    if (!row_on(row)) continue;
    printf("  %s:\n", row_name[row]);
    read_row(&E, row, q, order, r);
  }
  pcheck(pb_space_cache_stats(E.pb.sp, NULL, &oc), "pb_space_cache_stats");
  uint64_t look = oc.hits + oc.misses - oc0.hits - oc0.misses;
  if (row_on(R_LONG_DEF) || row_on(R_TXN1_DEF))
    printf("  ProtoBase default object cache: %" PRIu64 " entries, %.1f MiB "
           "(limits %" PRIu64 " entries, %.0f MiB); hit ratio over these "
           "rows %.4f\n", oc.entries, oc.bytes / 1048576.0, oc.max_entries,
           oc.max_bytes / 1048576.0,
           look ? (double)(oc.hits - oc0.hits) / (double)look : 0.0);

  if (row_on(R_COMMIT1))
    printf("  %s (up to %" PRIu64 " commits or %.0f s):\n",
           row_name[R_COMMIT1], g_commits, g_secs);
  for (int i = 0; i < N_ENG && row_on(R_COMMIT1); i++) {
    int e = order[i];
    commit_res c = eng_commits(&E, e, 1, g_commits);
    g_val[R_COMMIT1][e][r] = c.rate;
    if (e == E_PB) g_syncs1[r] = c.syncs;
    printf("    %-10s %12.0f commits/s", eng_name[e], c.rate);
    if (c.syncs >= 0) printf(", %.3f fdatasyncs/commit", c.syncs);
    printf("\n");
  }
  if (row_on(R_COMMIT8))
    printf("  %s (up to %" PRIu64 " commits or %.0f s):\n",
           row_name[R_COMMIT8], 2 * g_commits, g_secs);
  for (int i = 0; i < N_ENG && row_on(R_COMMIT8); i++) {
    int e = order[i];
    commit_res c = eng_commits(&E, e, NTHREADS, 2 * g_commits);
    g_val[R_COMMIT8][e][r] = c.rate;
    if (e == E_PB) {
      g_syncs8[r] = c.syncs;
      g_retr8[r] = c.retries;
      g_comb8[r] = c.combined;
    }
    printf("    %-10s %12.0f commits/s", eng_name[e], c.rate);
    if (c.syncs >= 0)
      printf(", %.3f fdatasyncs/commit, %.3f retries/commit, %.3f combined",
             c.syncs, c.retries, c.combined);
    printf("\n");
  }
  for (int e = 0; e < N_ENG; e++) eng_close(&E, e);
}

/* The median over the rounds of a[r] / b[r]: a ratio taken within each
 * round, so that a burst of load from another process, which hits the
 * engines of one round alike, moves it less than the ratio of medians. */
static double ratio_med(int row_a, int eng_a, int row_b, int eng_b) {
  double v[MAX_ROUNDS];
  for (int r = 0; r < g_done_rounds; r++) {
    double b = g_val[row_b][eng_b][r];
    v[r] = b > 0 ? g_val[row_a][eng_a][r] / b : 0;
  }
  return median(v, g_done_rounds);
}

static void ratio_cell(int row, int peer) {
  double x = ratio_med(row, E_PB, row, peer);
  if (x > 0) printf(" %.2fx |", x);
  else printf(" - |");
}

static void print_summary(bool load_only) {
  printf("\n== medians of %d round%s, %" PRIu64 " records (16-byte keys, "
         "100-byte values)\n", g_done_rounds, g_done_rounds == 1 ? "" : "s",
         g_n);
  printf("speed rows: ops/s (records/s for the load), ratio = ProtoBase's "
         "rate / the peer's (above 1: ProtoBase is faster);\n"
         "RSS rows: MiB, ratio = ProtoBase's RSS / the peer's (below 1: "
         "ProtoBase uses less);\n"
         "values are medians of the rounds, ratios medians of the ratios "
         "taken within each round\n\n");
  printf("| row | ProtoBase | LMDB | SQLite | PB / LMDB | PB / SQLite |\n");
  printf("|---|---|---|---|---|---|\n");
  static const int order[] = {R_TXN1, R_TXN2, R_LONG, R_LONG_DEF, R_TXN1_DEF,
                              R_LOAD, R_COMMIT1, R_COMMIT8, R_RSS, R_PEAK};
  for (size_t i = 0; i < sizeof order / sizeof order[0]; i++) {
    int row = order[i];
    if (!row_on(row)) continue;
    double v[N_ENG];
    for (int e = 0; e < N_ENG; e++) v[e] = med(row, e);
    double div = row_rss[row] ? 1024 : 1;
    printf("| %s | %.*f | %.*f | %.*f |", row_name[row], row_rss[row] ? 1 : 0,
           v[E_PB] / div, row_rss[row] ? 1 : 0, v[E_LM] / div,
           row_rss[row] ? 1 : 0, v[E_SQ] / div);
    ratio_cell(row, E_LM);
    ratio_cell(row, E_SQ);
    printf("\n");
  }
  if (load_only) return;
  printf("\n");
  if (row_on(R_TXN1) && row_on(R_TXN2))
    printf("second-thread gain (2-thread rate / 1-thread rate, big cache): "
           "ProtoBase %.2fx, LMDB %.2fx, SQLite %.2fx\n",
           ratio_med(R_TXN2, E_PB, R_TXN1, E_PB),
           ratio_med(R_TXN2, E_LM, R_TXN1, E_LM),
           ratio_med(R_TXN2, E_SQ, R_TXN1, E_SQ));
  if (row_on(R_COMMIT1))
    printf("durable commit, 1 thread: ProtoBase %.3f fdatasyncs/commit "
           "(median)\n", median(g_syncs1, g_done_rounds));
  if (row_on(R_COMMIT8))
    printf("durable commits, 8 threads: ProtoBase %.3f fdatasyncs/commit, "
           "%.3f pb_txn_run retries/commit, %.3f of the commits combined "
           "into another's append\n",
           median(g_syncs8, g_done_rounds), median(g_retr8, g_done_rounds),
           median(g_comb8, g_done_rounds));
  if (row_on(R_COMMIT1) && row_on(R_COMMIT8))
    printf("ProtoBase 8 threads / LMDB 1 thread = %.2fx, LMDB 8 threads / "
           "LMDB 1 thread = %.2fx\n",
           ratio_med(R_COMMIT8, E_PB, R_COMMIT1, E_LM),
           ratio_med(R_COMMIT8, E_LM, R_COMMIT1, E_LM));
}

static void usage(void) {
  fprintf(stderr,
          "usage: bench_table [--n N] [--rounds R] [--ops N] [--commits N] "
          "[--secs S] [--load-only] [--quick] [--dir DIR] [--rows LIST] "
          "[--slices S]\n"
          "  LIST: comma-separated rows of load, rss, long, txn1, txn2, "
          "long-def, txn1-def, commit1, commit8\n"
          "  S: each read row's gets are cut into S slices [8], each run on "
          "every engine before the next\n");
  exit(2);
}

int main(int argc, char **argv) {
  const char *dir = NULL, *child = NULL, *child_dir = NULL;
  int child_eng = -1;
  bool load_only = false;
  g_rows = (1u << N_ROWS) - 1;
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    if (!strcmp(a, "--quick")) {
      g_n = 20000, g_ops = 20000, g_commits = 100, g_secs = 1, g_rounds = 1;
    } else if (!strcmp(a, "--load-only")) {
      load_only = true;
      g_rows = 1u << R_LOAD | 1u << R_PEAK;
    } else if (i + 1 >= argc) {
      usage();
    } else if (!strcmp(a, "--n")) g_n = strtoull(argv[++i], NULL, 10);
    else if (!strcmp(a, "--ops")) g_ops = strtoull(argv[++i], NULL, 10);
    else if (!strcmp(a, "--commits")) g_commits = strtoull(argv[++i], NULL, 10);
    else if (!strcmp(a, "--secs")) g_secs = atof(argv[++i]);
    else if (!strcmp(a, "--rounds")) g_rounds = atoi(argv[++i]);
    else if (!strcmp(a, "--slices")) g_slices = atoi(argv[++i]);
    else if (!strcmp(a, "--dir")) dir = argv[++i];
    else if (!strcmp(a, "--rows")) {
      if (!parse_rows(argv[++i])) usage();
    }
    else if (!strcmp(a, "--child") && i + 3 < argc) {
      child = argv[++i];
      child_eng = atoi(argv[++i]);
      child_dir = argv[++i];
    } else usage();
  }
  if (g_n < 2 || g_n >= 1000000000000000ull || g_ops == 0 ||
      g_commits < NTHREADS || g_secs <= 0 || g_rounds < 1 ||
      g_rounds > MAX_ROUNDS || g_slices < 1)
    usage();
  pool_init();
  if (child) {
    bench_set_dir("bench_table (child)", dir);
    if (child_eng < 0 || child_eng >= N_ENG) usage();
    if (!strcmp(child, "load")) return child_load(child_eng, child_dir);
    if (!strcmp(child, "scan")) return child_scan(child_eng, child_dir);
    usage();
  }
  ssize_t len = readlink("/proc/self/exe", g_self, sizeof g_self - 1);
  if (len <= 0) bench_die("readlink", "/proc/self/exe");
  g_self[len] = 0;
  bench_set_dir("bench_table", dir);
  bench_print_machine();
  int maj, min, pat;
  mdb_version(&maj, &min, &pat);
  printf("engines: ProtoBase %s, LMDB %d.%d.%d, SQLite %s\n",
         PB_VERSION_STRING, maj, min, pat, sqlite3_libversion());
  printf("records: %" PRIu64 " keys of %d bytes, values of %d bytes, loaded "
         "in a random order; %d round%s; %" PRIu64 " gets per read row%s\n",
         g_n, KEY_LEN, VAL_LEN, g_rounds, g_rounds == 1 ? "" : "s", g_ops,
         load_only ? " (--load-only: the load row alone)" : "");
  printf("caches: big = ProtoBase object cache %.0f MiB / %" PRIu64
         " entries (bytes cache default), SQLite cache_size %.0f MiB; "
         "default = pb_space_open's defaults, SQLite cache_size 64 MiB; "
         "LMDB: the OS page cache\n",
         big_cache_bytes() / 1048576.0, g_n, big_cache_bytes() / 1048576.0);
  opseq q = opseq_make(g_ops, GET_SEED), w = opseq_make(g_ops, WARM_SEED);
  for (int r = 0; r < g_rounds; r++) {
    run_round(r, load_only, &q, &w);
    g_done_rounds = r + 1;
  }
  print_summary(load_only);
  opseq_free(&q);
  opseq_free(&w);
  for (int e = 0; e < N_ENG; e++) free(g_dirs[e]);
  return 0;
}
