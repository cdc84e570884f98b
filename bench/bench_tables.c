/*
 * bench_tables.c - typed tables beside LMDB and SQLite on the same records
 * in the same run: interleaved rounds, medians and same-run ratios.
 *
 *   bench_tables [--n N] [--rounds R] [--ops N] [--dir DIR] [--rows LIST]
 *                [--slices S]
 *
 * Records (bench/tables.pbs, bt.Item): N (default 1,000,000) rows with a
 * 16-byte string key ("k" and 15 digits of the row number), an int32 grp
 * (row number mod N/10: 10 rows per value), a float64, a 60-letter string
 * and a uint64: about 100 bytes encoded.  Loaded in a pseudo-random order,
 * the same for all three engines.
 *
 * Engines, each with what a user gets by default:
 *   ProtoBase: pb_storage_open_file (NULL options: PB_DURABILITY_SYNC),
 *     pb_space_open (default caches), the generated table API of bt.Item
 *     (bt_Item_insert, _get, _scan, _find_by_by_grp) with its index.
 *   LMDB: default flags (synced commits), a 32 GiB map; a database of
 *     key -> the record encoded by the same generated encoder (decoded on
 *     every read, as ProtoBase decodes), and a MDB_DUPSORT database
 *     grp (4 bytes, big-endian) -> key, kept by the same transactions: the
 *     index an LMDB user writes by hand.
 *   SQLite: items(k TEXT PRIMARY KEY, grp INTEGER, price REAL, title TEXT,
 *     stock INTEGER) WITHOUT ROWID with an index on grp, WAL,
 *     synchronous=FULL, a 64 MiB page cache (ProtoBase's default object
 *     cache), prepared statements; each read outside BEGIN is its own read
 *     transaction.
 *
 * Rows, each engine once per round in turn (the first engine rotates);
 * medians of the rounds.  The gets and lookups of a round are cut into
 * --slices [8] slices, each run on every engine in turn (the first
 * rotating) before the next, so that a burst of load from other processes
 * falls on every engine alike:
 *   load    the N rows in one transaction, into an empty store: rows/s;
 *   get     --ops [200,000] random point gets by key, each in a read
 *           transaction of its own, decoded and every field compared
 *           with the row expected: gets/s (the keys and expected rows
 *           of a slice are made before its clock starts);
 *   get1    the same gets inside one read transaction (per slice);
 *   scan    every row in key order in one read transaction, decoded: rows/s;
 *   index   --ops/10 random equality lookups on grp, each in a read
 *           transaction of its own, reading its 10 rows decoded:
 *           lookups/s.
 * --rows LIST (comma-separated row names, e.g. --rows get,get1) measures
 * only those rows; without load, each engine loads its rows once,
 * untimed.  Ratios are ProtoBase's rate over the peer's (above 1:
 * ProtoBase is faster).  Nothing is asserted; exits non-zero only when an
 * engine fails or gives a wrong row.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <inttypes.h>
#include <lmdb.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench_util.h"
#include "protobase/protobase.h"
#include "protobase/table.h"
#include "tables.pb.h"

#define MAX_ROUNDS 15
enum { PB, LM, SQ, ENGINES };
static const char *const engine_name[ENGINES] = {"ProtoBase", "LMDB",
                                                 "SQLite"};
enum { R_LOAD, R_GET, R_GET1, R_SCAN, R_INDEX, ROWS };
static const char *const row_name[ROWS] = {"load", "get", "get1", "scan",
                                           "index"};
static const char *const row_unit[ROWS] = {"rows/s", "gets/s", "gets/s",
                                           "rows/s", "lookups/s"};
static double res[ROWS][ENGINES][MAX_ROUNDS];
static bool g_row_on[ROWS]; /* --rows: the rows measured */

static uint64_t g_n = 1000000, g_ops = 200000;
static int g_slices = 8;
/* The slice of a round's gets (or lookups) being run: [g_lo, g_hi). */
static uint64_t g_lo, g_hi;
static int g_rounds = 3;
static uint64_t *g_order; /* load order */

/* --- the records --- */

static void key_of(uint64_t i, char *k) {
  k[0] = 'k';
  for (int d = 15; d >= 1; d--, i /= 10) k[d] = (char)('0' + i % 10);
}

/* Row i as a struct; its strings point into the caller's buffers. */
static void row_of(uint64_t i, char key[16], char title[60], bt_Item *r) {
  bt_Item_init(r);
  key_of(i, key);
  uint64_t h = bench_mix(i);
  for (int c = 0; c < 60; c++, h = h * 6364136223846793005ull + 1)
    title[c] = (char)('a' + (h >> 59) % 26);
  r->k = (pb_str){key, 16};
  r->grp = (int32_t)(i % (g_n / 10 ? g_n / 10 : 1));
  r->price = (double)i * 0.01;
  r->title = (pb_str){title, 60};
  r->stock = i;
}

/* A get of the slice being run: the row asked for, its key, and what the
 * row must hold, made before the clock starts (as bench_table formats its
 * keys), so that the timed loops time the engines and a comparison, not
 * this program making its expected rows. */
typedef struct want {
  uint64_t i;
  char key[16], title[60];
  bt_Item row; /* its strings point into key and title */
} want;
static want *g_want; /* [g_lo, g_hi) of the gets, from g_want[0] */

/* Makes g_want for the gets [g_lo, g_hi) of the round whose seed is
 * `seed`. */
static void make_wants(uint64_t seed) {
  free(g_want);
  g_want = malloc((g_hi - g_lo) * sizeof *g_want);
  if (!g_want) bench_die("malloc", "the slice's gets");
  for (uint64_t j = g_lo; j < g_hi; j++) {
    want *w = &g_want[j - g_lo];
    w->i = bench_mix(seed + j) % g_n;
    row_of(w->i, w->key, w->title, &w->row);
  }
}

/* Checks every field of r against the row w names. */
static void check_row(const want *w, const bt_Item *r, const char *who) {
  const bt_Item *x = &w->row;
  if (r->k.len != 16 || memcmp(r->k.ptr, w->key, 16) || r->grp != x->grp ||
      r->price != x->price || r->stock != x->stock || r->title.len != 60 ||
      memcmp(r->title.ptr, w->title, 60))
    bench_die(who, "a wrong row");
}

/* --- ProtoBase --- */

typedef struct pbe {
  pb_storage *st;
  pb_space *sp;
  pb_db *db;
} pbe;

static void pbck(int rc, const char *what) {
  if (rc != PB_OK) bench_die(what, pb_strerror(rc));
}

static void pb_open(pbe *e, const char *dir) {
  pbck(pb_storage_open_file(dir, NULL, &e->st), "pb open");
  pbck(pb_space_open(e->st, &e->sp), "pb space");
  pbck(pb_db_open(e->sp, "bench", PB_CREATE, &e->db), "pb db");
}

static void pb_close(pbe *e) {
  pb_db_close(e->db);
  pb_space_close(e->sp);
}

static void pb_load(pbe *e) {
  pb_txn *t;
  pbck(pb_txn_begin(e->db, 0, &t), "pb begin");
  for (uint64_t j = 0; j < g_n; j++) {
    char key[16], title[60];
    bt_Item r;
    row_of(g_order[j], key, title, &r);
    pbck(bt_Item_insert(t, &r), "pb insert");
  }
  pbck(pb_txn_commit(t), "pb commit");
}

static void pb_get(pbe *e, bool one_txn) {
  pb_txn *t = NULL;
  if (one_txn) pbck(pb_txn_begin(e->db, PB_RDONLY, &t), "pb begin");
  for (uint64_t j = g_lo; j < g_hi; j++) {
    const want *w = &g_want[j - g_lo];
    if (!one_txn) pbck(pb_txn_begin(e->db, PB_RDONLY, &t), "pb begin");
    bt_Item r;
    pb_str ks = {w->key, 16};
    pbck(bt_Item_get(t, ks, &r), "pb get");
    check_row(w, &r, "pb get");
    if (!one_txn) pb_txn_abort(t);
  }
  if (one_txn) pb_txn_abort(t);
}

static void pb_scan(pbe *e) {
  pb_txn *t;
  pbck(pb_txn_begin(e->db, PB_RDONLY, &t), "pb begin");
  bt_Item_cursor *c;
  pbck(bt_Item_scan(t, NULL, NULL, 0, &c), "pb scan");
  bt_Item r;
  uint64_t n = 0;
  int rc;
  while ((rc = bt_Item_next(c, &r)) == PB_OK) n++;
  if (rc != PB_ENOTFOUND || n != g_n) bench_die("pb scan", "wrong count");
  bt_Item_cursor_close(c);
  pb_txn_abort(t);
}

static void pb_index(pbe *e, uint64_t seed) {
  uint64_t groups = g_n / 10 ? g_n / 10 : 1;
  for (uint64_t j = g_lo; j < g_hi; j++) {
    int32_t g = (int32_t)(bench_mix(seed + j) % groups);
    pb_txn *t;
    pbck(pb_txn_begin(e->db, PB_RDONLY, &t), "pb begin");
    bt_Item_cursor *c;
    pbck(bt_Item_find_by_by_grp(t, g, &c), "pb find");
    bt_Item r;
    int rc, n = 0;
    while ((rc = bt_Item_next(c, &r)) == PB_OK) {
      if (r.grp != g) bench_die("pb index", "a wrong row");
      n++;
    }
    if (rc != PB_ENOTFOUND || n != 10) bench_die("pb index", "not 10 rows");
    bt_Item_cursor_close(c);
    pb_txn_abort(t);
  }
}

/* --- LMDB --- */

typedef struct lme {
  MDB_env *env;
  MDB_dbi main, grp;
} lme;

static void lmck(int rc, const char *what) {
  if (rc != 0) bench_die(what, mdb_strerror(rc));
}

static void lm_open(lme *e, const char *dir) {
  lmck(mdb_env_create(&e->env), "lmdb create");
  lmck(mdb_env_set_mapsize(e->env, (size_t)32 << 30), "lmdb mapsize");
  lmck(mdb_env_set_maxdbs(e->env, 4), "lmdb maxdbs");
  lmck(mdb_env_open(e->env, dir, 0, 0644), "lmdb open");
  MDB_txn *t;
  lmck(mdb_txn_begin(e->env, NULL, 0, &t), "lmdb begin");
  lmck(mdb_dbi_open(t, "main", MDB_CREATE, &e->main), "lmdb dbi");
  lmck(mdb_dbi_open(t, "grp", MDB_CREATE | MDB_DUPSORT, &e->grp), "lmdb dbi");
  lmck(mdb_txn_commit(t), "lmdb commit");
}

static void lm_close(lme *e) { mdb_env_close(e->env); }

static void be32(int32_t v, uint8_t out[4]) {
  uint32_t u = (uint32_t)v ^ 0x80000000u;
  out[0] = (uint8_t)(u >> 24);
  out[1] = (uint8_t)(u >> 16);
  out[2] = (uint8_t)(u >> 8);
  out[3] = (uint8_t)u;
}

static void lm_load(lme *e) {
  MDB_txn *t;
  lmck(mdb_txn_begin(e->env, NULL, 0, &t), "lmdb begin");
  pb_buf b;
  pb_buf_init(&b);
  for (uint64_t j = 0; j < g_n; j++) {
    char key[16], title[60];
    bt_Item r;
    row_of(g_order[j], key, title, &r);
    pb_buf_reset(&b);
    pbck(bt_Item_encode(&r, &b), "lmdb encode");
    MDB_val k = {16, key}, v = {b.len, b.data};
    lmck(mdb_put(t, e->main, &k, &v, MDB_NOOVERWRITE), "lmdb put");
    uint8_t g[4];
    be32(r.grp, g);
    MDB_val gk = {4, g}, gv = {16, key};
    lmck(mdb_put(t, e->grp, &gk, &gv, 0), "lmdb put grp");
  }
  pb_buf_free(&b);
  lmck(mdb_txn_commit(t), "lmdb commit");
}

static void lm_decode(const MDB_val *v, bt_Item *r) {
  pbck(bt_Item_decode(r, v->mv_data, v->mv_size, NULL), "lmdb decode");
}

static void lm_get(lme *e, bool one_txn) {
  MDB_txn *t = NULL;
  if (one_txn) lmck(mdb_txn_begin(e->env, NULL, MDB_RDONLY, &t), "lmdb begin");
  for (uint64_t j = g_lo; j < g_hi; j++) {
    const want *w = &g_want[j - g_lo];
    if (!one_txn)
      lmck(mdb_txn_begin(e->env, NULL, MDB_RDONLY, &t), "lmdb begin");
    MDB_val k = {16, (void *)w->key}, v;
    lmck(mdb_get(t, e->main, &k, &v), "lmdb get");
    bt_Item r;
    lm_decode(&v, &r);
    check_row(w, &r, "lmdb get");
    if (!one_txn) mdb_txn_abort(t);
  }
  if (one_txn) mdb_txn_abort(t);
}

static void lm_scan(lme *e) {
  MDB_txn *t;
  lmck(mdb_txn_begin(e->env, NULL, MDB_RDONLY, &t), "lmdb begin");
  MDB_cursor *c;
  lmck(mdb_cursor_open(t, e->main, &c), "lmdb cursor");
  MDB_val k, v;
  uint64_t n = 0;
  int rc;
  while ((rc = mdb_cursor_get(c, &k, &v, n ? MDB_NEXT : MDB_FIRST)) == 0) {
    bt_Item r;
    lm_decode(&v, &r);
    n++;
  }
  if (rc != MDB_NOTFOUND || n != g_n) bench_die("lmdb scan", "wrong count");
  mdb_cursor_close(c);
  mdb_txn_abort(t);
}

static void lm_index(lme *e, uint64_t seed) {
  uint64_t groups = g_n / 10 ? g_n / 10 : 1;
  for (uint64_t j = g_lo; j < g_hi; j++) {
    int32_t g = (int32_t)(bench_mix(seed + j) % groups);
    MDB_txn *t;
    lmck(mdb_txn_begin(e->env, NULL, MDB_RDONLY, &t), "lmdb begin");
    MDB_cursor *c;
    lmck(mdb_cursor_open(t, e->grp, &c), "lmdb cursor");
    uint8_t gb[4];
    be32(g, gb);
    MDB_val gk = {4, gb}, pk, v;
    int n = 0, rc = mdb_cursor_get(c, &gk, &pk, MDB_SET);
    while (rc == 0) {
      lmck(mdb_get(t, e->main, &pk, &v), "lmdb index get");
      bt_Item r;
      lm_decode(&v, &r);
      if (r.grp != g) bench_die("lmdb index", "a wrong row");
      n++;
      rc = mdb_cursor_get(c, &gk, &pk, MDB_NEXT_DUP);
    }
    if (rc != MDB_NOTFOUND || n != 10) bench_die("lmdb index", "not 10 rows");
    mdb_cursor_close(c);
    mdb_txn_abort(t);
  }
}

/* --- SQLite --- */

typedef struct sqe {
  sqlite3 *db;
  sqlite3_stmt *ins, *get, *scan, *find;
} sqe;

static void sqck(sqlite3 *db, int rc, const char *what) {
  if (rc != SQLITE_OK && rc != SQLITE_DONE && rc != SQLITE_ROW)
    bench_die(what, sqlite3_errmsg(db));
}

static void sq_exec(sqlite3 *db, const char *sql) {
  sqck(db, sqlite3_exec(db, sql, NULL, NULL, NULL), sql);
}

static void sq_open(sqe *e, const char *dir) {
  char path[4200];
  snprintf(path, sizeof path, "%s/items.db", dir);
  sqck(NULL, sqlite3_open(path, &e->db), "sqlite open");
  sq_exec(e->db, "PRAGMA journal_mode=WAL");
  sq_exec(e->db, "PRAGMA synchronous=FULL");
  sq_exec(e->db, "PRAGMA cache_size=-65536");
  sq_exec(e->db,
          "CREATE TABLE IF NOT EXISTS items(k TEXT PRIMARY KEY, grp INTEGER, "
          "price REAL, title TEXT, stock INTEGER) WITHOUT ROWID");
  sq_exec(e->db, "CREATE INDEX IF NOT EXISTS items_grp ON items(grp)");
  sqck(e->db, sqlite3_prepare_v2(e->db,
                                 "INSERT INTO items VALUES(?,?,?,?,?)", -1,
                                 &e->ins, NULL),
       "prepare");
  sqck(e->db, sqlite3_prepare_v2(e->db,
                                 "SELECT k,grp,price,title,stock FROM items "
                                 "WHERE k=?",
                                 -1, &e->get, NULL),
       "prepare");
  sqck(e->db, sqlite3_prepare_v2(e->db,
                                 "SELECT k,grp,price,title,stock FROM items "
                                 "ORDER BY k",
                                 -1, &e->scan, NULL),
       "prepare");
  sqck(e->db, sqlite3_prepare_v2(e->db,
                                 "SELECT k,grp,price,title,stock FROM items "
                                 "WHERE grp=?",
                                 -1, &e->find, NULL),
       "prepare");
}

static void sq_close(sqe *e) {
  sqlite3_finalize(e->ins);
  sqlite3_finalize(e->get);
  sqlite3_finalize(e->scan);
  sqlite3_finalize(e->find);
  sqlite3_close(e->db);
}

static void sq_load(sqe *e) {
  sq_exec(e->db, "BEGIN");
  for (uint64_t j = 0; j < g_n; j++) {
    char key[16], title[60];
    bt_Item r;
    row_of(g_order[j], key, title, &r);
    sqlite3_bind_text(e->ins, 1, key, 16, SQLITE_STATIC);
    sqlite3_bind_int(e->ins, 2, r.grp);
    sqlite3_bind_double(e->ins, 3, r.price);
    sqlite3_bind_text(e->ins, 4, title, 60, SQLITE_STATIC);
    sqlite3_bind_int64(e->ins, 5, (sqlite3_int64)r.stock);
    sqck(e->db, sqlite3_step(e->ins), "sqlite insert");
    sqlite3_reset(e->ins);
  }
  sq_exec(e->db, "COMMIT");
}

/* The current row of s as a bt_Item (views into SQLite's row). */
static void sq_row(sqlite3_stmt *s, bt_Item *r) {
  bt_Item_init(r);
  r->k = (pb_str){(const char *)sqlite3_column_text(s, 0),
                  (size_t)sqlite3_column_bytes(s, 0)};
  r->grp = sqlite3_column_int(s, 1);
  r->price = sqlite3_column_double(s, 2);
  r->title = (pb_str){(const char *)sqlite3_column_text(s, 3),
                      (size_t)sqlite3_column_bytes(s, 3)};
  r->stock = (uint64_t)sqlite3_column_int64(s, 4);
}

static void sq_get(sqe *e, bool one_txn) {
  if (one_txn) sq_exec(e->db, "BEGIN");
  for (uint64_t j = g_lo; j < g_hi; j++) {
    const want *w = &g_want[j - g_lo];
    sqlite3_bind_text(e->get, 1, w->key, 16, SQLITE_STATIC);
    if (sqlite3_step(e->get) != SQLITE_ROW) bench_die("sqlite get", "no row");
    bt_Item r;
    sq_row(e->get, &r);
    check_row(w, &r, "sqlite get");
    sqlite3_reset(e->get);
  }
  if (one_txn) sq_exec(e->db, "COMMIT");
}

static void sq_scan(sqe *e) {
  uint64_t n = 0;
  int rc;
  while ((rc = sqlite3_step(e->scan)) == SQLITE_ROW) {
    bt_Item r;
    sq_row(e->scan, &r);
    n++;
  }
  if (rc != SQLITE_DONE || n != g_n) bench_die("sqlite scan", "wrong count");
  sqlite3_reset(e->scan);
}

static void sq_index(sqe *e, uint64_t seed) {
  uint64_t groups = g_n / 10 ? g_n / 10 : 1;
  for (uint64_t j = g_lo; j < g_hi; j++) {
    int32_t g = (int32_t)(bench_mix(seed + j) % groups);
    sqlite3_bind_int(e->find, 1, g);
    int rc, n = 0;
    while ((rc = sqlite3_step(e->find)) == SQLITE_ROW) {
      bt_Item r;
      sq_row(e->find, &r);
      if (r.grp != g) bench_die("sqlite index", "a wrong row");
      n++;
    }
    if (rc != SQLITE_DONE || n != 10) bench_die("sqlite index", "not 10 rows");
    sqlite3_reset(e->find);
  }
}

/* --- rounds --- */

static pbe g_pb;
static lme g_lm;
static sqe g_sq;
static char *g_dirs[ENGINES];

static void open_engine(int e) {
  if (e == PB) pb_open(&g_pb, g_dirs[PB]);
  else if (e == LM) lm_open(&g_lm, g_dirs[LM]);
  else sq_open(&g_sq, g_dirs[SQ]);
}

static void close_engine(int e) {
  if (e == PB) pb_close(&g_pb);
  else if (e == LM) lm_close(&g_lm);
  else sq_close(&g_sq);
}

/* Runs one row (its slice [g_lo, g_hi) for get, get1 and index) of
 * engine e: the seconds it took. */
static double timed_row(int row, int e, uint64_t seed) {
  double t0 = bench_now();
  switch (row) {
    case R_LOAD:
      if (e == PB) pb_load(&g_pb);
      else if (e == LM) lm_load(&g_lm);
      else sq_load(&g_sq);
      break;
    case R_GET:
    case R_GET1: {
      bool one = row == R_GET1;
      if (e == PB) pb_get(&g_pb, one);
      else if (e == LM) lm_get(&g_lm, one);
      else sq_get(&g_sq, one);
      break;
    }
    case R_SCAN:
      if (e == PB) pb_scan(&g_pb);
      else if (e == LM) lm_scan(&g_lm);
      else sq_scan(&g_sq);
      break;
    default:
      if (e == PB) pb_index(&g_pb, seed);
      else if (e == LM) lm_index(&g_lm, seed);
      else sq_index(&g_sq, seed);
      break;
  }
  return bench_now() - t0;
}

/* How many operations a row counts: rows, gets or lookups. */
static uint64_t row_ops(int row) {
  return row == R_LOAD || row == R_SCAN ? g_n
         : row == R_INDEX                ? g_ops / 10
                                         : g_ops;
}

/* Round r of a row: every engine's rate.  Gets and lookups are cut into
 * g_slices slices, and each slice runs on every engine (the first
 * rotating) before the next one starts, so that a burst of load from
 * other processes falls on all engines alike; load and scan run whole. */
static void round_of(int row, int r, uint64_t seed) {
  int slices = row == R_LOAD || row == R_SCAN ? 1 : g_slices;
  uint64_t ops = row_ops(row);
  double secs[ENGINES] = {0};
  for (int sl = 0; sl < slices; sl++) {
    g_lo = ops * (uint64_t)sl / (uint64_t)slices;
    g_hi = ops * (uint64_t)(sl + 1) / (uint64_t)slices;
    if (row == R_GET || row == R_GET1) make_wants(seed); /* untimed */
    for (int k = 0; k < ENGINES; k++) {
      int e = (r + sl + k) % ENGINES;
      secs[e] += timed_row(row, e, seed);
    }
  }
  for (int e = 0; e < ENGINES; e++) res[row][e][r] = (double)ops / secs[e];
}

static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

static double median(const double *v, int n) {
  double t[MAX_ROUNDS];
  memcpy(t, v, (size_t)n * sizeof *t);
  qsort(t, (size_t)n, sizeof *t, cmp_double);
  return n % 2 ? t[n / 2] : (t[n / 2 - 1] + t[n / 2]) / 2;
}

/* Parses --rows: comma-separated row names into g_row_on. */
static bool parse_rows(const char *list) {
  memset(g_row_on, 0, sizeof g_row_on);
  const char *p = list;
  for (;;) {
    size_t n = strcspn(p, ",");
    int row = 0;
    while (row < ROWS && (strlen(row_name[row]) != n ||
                          strncmp(row_name[row], p, n) != 0))
      row++;
    if (row == ROWS) return false;
    g_row_on[row] = true;
    if (p[n] == '\0') return true;
    p += n + 1;
  }
}

int main(int argc, char **argv) {
  const char *dir = NULL;
  for (int row = 0; row < ROWS; row++) g_row_on[row] = true;
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    if (!strcmp(a, "--n") && i + 1 < argc) g_n = strtoull(argv[++i], NULL, 10);
    else if (!strcmp(a, "--ops") && i + 1 < argc)
      g_ops = strtoull(argv[++i], NULL, 10);
    else if (!strcmp(a, "--rounds") && i + 1 < argc)
      g_rounds = atoi(argv[++i]);
    else if (!strcmp(a, "--dir") && i + 1 < argc) dir = argv[++i];
    else if (!strcmp(a, "--slices") && i + 1 < argc)
      g_slices = atoi(argv[++i]);
    else if (!strcmp(a, "--rows") && i + 1 < argc) {
      if (!parse_rows(argv[++i])) {
        fprintf(stderr, "bench_tables: bad --rows (names: load,get,get1,"
                        "scan,index)\n");
        return 2;
      }
    } else {
      fprintf(stderr,
              "usage: bench_tables [--n N] [--rounds R] [--ops N] "
              "[--dir DIR] [--rows LIST] [--slices S]\n");
      return 2;
    }
  }
  if (g_rounds < 1 || g_rounds > MAX_ROUNDS || g_n < 10 || g_ops < 10 ||
      g_slices < 1 || (uint64_t)g_slices > g_ops / 10) {
    fprintf(stderr, "bench_tables: bad --n, --ops, --rounds or --slices\n");
    return 2;
  }
  bench_set_dir("bench_tables", dir);
  bench_print_machine();
  printf("bench_tables: %" PRIu64 " rows (bt.Item, ~100 bytes), %d rounds, "
         "%" PRIu64 " gets, %" PRIu64 " index lookups of 10 rows\n",
         g_n, g_rounds, g_ops, g_ops / 10);
  g_order = bench_shuffled(g_n, 42);
  /* Loads: each round into fresh stores; the last round's stay.  Without
   * the load row, one untimed load per engine. */
  int load_rounds = g_row_on[R_LOAD] ? g_rounds : 1;
  for (int r = 0; r < load_rounds; r++)
    for (int k = 0; k < ENGINES; k++) {
      int e = (r + k) % ENGINES;
      free(g_dirs[e]);
      g_dirs[e] = bench_fresh_dir(engine_name[e]);
      open_engine(e);
      res[R_LOAD][e][r] = (double)g_n / timed_row(R_LOAD, e, 0);
      close_engine(e);
    }
  for (int e = 0; e < ENGINES; e++) open_engine(e);
  /* Reads: a warm-up of every row once per engine (untimed), then the
   * rounds. */
  for (int e = 0; e < ENGINES; e++) (void)timed_row(R_SCAN, e, 0);
  for (int r = 0; r < g_rounds; r++)
    for (int row = R_GET; row < ROWS; row++)
      if (g_row_on[row]) round_of(row, r, (uint64_t)r * 7919 + 1);
  for (int e = 0; e < ENGINES; e++) close_engine(e);
  printf("\n%-6s %-10s %14s %14s %14s %9s %9s\n", "row", "unit",
         engine_name[PB], engine_name[LM], engine_name[SQ], "PB/LMDB",
         "PB/SQLite");
  for (int row = 0; row < ROWS; row++) {
    if (!g_row_on[row]) continue;
    double m[ENGINES];
    for (int e = 0; e < ENGINES; e++) m[e] = median(res[row][e], g_rounds);
    printf("%-6s %-10s %14.0f %14.0f %14.0f %8.2fx %8.2fx\n", row_name[row],
           row_unit[row], m[PB], m[LM], m[SQ], m[PB] / m[LM], m[PB] / m[SQ]);
  }
  for (int e = 0; e < ENGINES; e++) free(g_dirs[e]);
  free(g_order);
  free(g_want);
  return 0;
}
