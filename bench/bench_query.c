/*
 * bench_query.c - query plans (protobase/query.h) beside SQLite with the
 * same indexes, on the same rows, in the same run: interleaved rounds,
 * medians and same-run ratios.
 *
 *   bench_query [--n N] [--rounds R] [--dir DIR] [--quick] [--only Q]
 *
 * --only Q runs query Q alone (eq, range, filter, group, join, top10),
 * ProtoBase only, for a profiler; it prints its time and nothing else.
 *
 * Rows (bench/query.pbs): N (default 1,000,000) orders bq.Order {id key,
 * cust = a hash of id mod N/100 (100 orders per customer), day = a hash
 * mod 1000, amount = a hash mod 100000, a 24-letter note} with indexes on
 * cust and on day, and N/100 customers bq.Cust {id key, name, region mod
 * 10}, loaded once per engine in one transaction each (not timed).
 *
 * Engines, each with what a user gets by default:
 *   ProtoBase: pb_storage_open_file (PB_DURABILITY_SYNC), the default
 *     caches, the generated tables, plans built with the public API (and
 *     optimized by it), every row pulled and its fields read.
 *   SQLite: orders(id INTEGER PRIMARY KEY, cust, day, amount, note) with
 *     indexes on cust and on day, cust(id INTEGER PRIMARY KEY, name,
 *     region), WAL, synchronous=FULL, a 64 MiB page cache, prepared
 *     statements, every row stepped and its columns read.
 *
 * Queries (a round runs each once per engine, the first engine
 * alternating; each run is in read transactions of its own):
 *   eq      1000 indexed equalities cust = c (100 rows each), a read
 *           transaction each;
 *   range   20 ranges day BETWEEN d AND d+9 (1% of the rows each);
 *   filter  a full scan with amount < 1000 (unindexed: 1% of the rows);
 *   group   day, count, sum(amount) over the whole table (1000 groups);
 *   join    orders with region 3's customers: orders JOIN cust ON
 *           orders.cust = cust.id WHERE cust.region = 3 (10% of the
 *           orders), summing amount;
 *   top10   ORDER BY amount DESC LIMIT 10 (unindexed: a top-N).
 * Each engine's rows are checked against the other's (counts and sums).
 * Printed: milliseconds per query (median of the rounds) and the ratio
 * SQLite time / ProtoBase time (above 1: ProtoBase is faster), then the
 * explain of each ProtoBase plan.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <inttypes.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench_util.h"
#include "protobase/protobase.h"
#include "protobase/query.h"
#include "protobase/table.h"
#include "query.pb.h"

#define MAX_ROUNDS 15
enum { PB, SQ, ENGINES };
static const char *const engine_name[ENGINES] = {"ProtoBase", "SQLite"};
enum { Q_EQ, Q_RANGE, Q_FILTER, Q_GROUP, Q_JOIN, Q_TOP, QUERIES };
static const char *const q_name[QUERIES] = {"eq",    "range", "filter",
                                            "group", "join",  "top10"};
static const int q_reps[QUERIES] = {1000, 20, 1, 1, 1, 1};
static double res[QUERIES][ENGINES][MAX_ROUNDS];
/* What each query found (rows, a sum), per engine, to compare. */
static uint64_t found_rows[QUERIES][ENGINES], found_sum[QUERIES][ENGINES];

enum { O_ID = 1, O_CUST = 2, O_DAY = 3, O_AMOUNT = 4, O_NOTE = 5 };
enum { C_ID = 1, C_NAME = 2, C_REGION = 3 };

static uint64_t g_n = 1000000;
static int g_rounds = 3;
static int g_only = -1; /* --only: that query, ProtoBase alone */

/* --- the rows --- */

static uint64_t n_custs(void) { return g_n / 100 ? g_n / 100 : 1; }

static void order_of(uint64_t id, char note[24], bq_Order *o) {
  bq_Order_init(o);
  uint64_t h = bench_mix(id);
  o->id = id;
  o->cust = (int32_t)(h % n_custs());
  o->day = (int32_t)((h >> 20) % 1000);
  o->amount = (int64_t)((h >> 32) % 100000);
  for (int c = 0; c < 24; c++, h = h * 6364136223846793005ull + 1)
    note[c] = (char)('a' + (h >> 59) % 26);
  o->note = (pb_str){note, 24};
}

static void cust_of(int32_t id, char name[12], bq_Cust *c) {
  bq_Cust_init(c);
  c->id = id;
  snprintf(name, 12, "c%010d", id);
  c->name = (pb_str){name, 11};
  c->region = id % 10;
}

/* The parameters of repetition j of query q in round r. */
static int32_t param(int q, int r, int j) {
  uint64_t h = bench_mix((uint64_t)q * 1000003u + (uint64_t)r * 7919u +
                         (uint64_t)j);
  return q == Q_EQ ? (int32_t)(h % n_custs()) : (int32_t)(h % 991);
}

/* --- ProtoBase --- */

static pb_storage *g_st;
static pb_space *g_sp;
static pb_db *g_db;

static void pbck(int rc, const char *what) {
  if (rc != PB_OK) bench_die(what, pb_strerror(rc));
}

static void pb_load(const char *dir) {
  pbck(pb_storage_open_file(dir, NULL, &g_st), "pb open");
  pbck(pb_space_open(g_st, &g_sp), "pb space");
  pbck(pb_db_open(g_sp, "bench", PB_CREATE, &g_db), "pb db");
  pb_txn *t;
  pbck(pb_txn_begin(g_db, 0, &t), "pb begin");
  for (uint64_t id = 1; id <= g_n; id++) {
    char note[24];
    bq_Order o;
    order_of(id, note, &o);
    pbck(bq_Order_insert(t, &o), "pb insert order");
  }
  for (uint64_t c = 0; c < n_custs(); c++) {
    char name[12];
    bq_Cust cu;
    cust_of((int32_t)c, name, &cu);
    pbck(bq_Cust_insert(t, &cu), "pb insert cust");
  }
  pbck(pb_txn_commit(t), "pb commit");
}

static void pb_close(void) {
  pb_db_close(g_db);
  pbck(pb_space_close(g_sp), "pb close");
}

static pb_expr *ofield(uint32_t tag) { return pb_expr_field(0, tag); }
static pb_expr *ci(int64_t v) { return pb_expr_const(pb_qint(v)); }

/* The plan of query q with parameter x. */
static pb_plan *pb_build(pb_txn *t, int q, int32_t x) {
  pb_plan *p = NULL;
  pbck(pb_plan_from_table(t, &bq_Order_table, &p), "pb from");
  switch (q) {
  case Q_EQ:
    pbck(pb_plan_where(&p, pb_expr_cmp(PB_EQ, ofield(O_CUST), ci(x))),
         "pb where");
    break;
  case Q_RANGE:
    pbck(pb_plan_where(&p, pb_expr_between(ofield(O_DAY), ci(x), ci(x + 9),
                                           0)),
         "pb where");
    break;
  case Q_FILTER:
    pbck(pb_plan_where(&p, pb_expr_cmp(PB_LT, ofield(O_AMOUNT), ci(1000))),
         "pb where");
    break;
  case Q_GROUP: {
    pb_expr *keys[1] = {ofield(O_DAY)};
    pb_agg aggs[2] = {{PB_AGG_COUNT_ALL, NULL}, {PB_AGG_SUM, ofield(O_AMOUNT)}};
    pbck(pb_plan_group_by(&p, keys, 1, aggs, 2), "pb group");
    break;
  }
  case Q_JOIN: {
    pb_plan *c = NULL;
    pbck(pb_plan_from_table(t, &bq_Cust_table, &c), "pb from cust");
    pbck(pb_plan_where(&c, pb_expr_cmp(PB_EQ, pb_expr_field(0, C_REGION),
                                       ci(3))),
         "pb where cust");
    pbck(pb_plan_join(&p, c, PB_JOIN_INNER,
                      pb_expr_cmp(PB_EQ, ofield(O_CUST),
                                  pb_expr_field(1, C_ID))),
         "pb join");
    break;
  }
  default: {
    pb_sort_key k = {ofield(O_AMOUNT), PB_DESC};
    pbck(pb_plan_order_by(&p, &k, 1), "pb order");
    pbck(pb_plan_limit(&p, 10), "pb limit");
    break;
  }
  }
  return p;
}

/* Runs query q: rows and a sum of what they hold. */
static void pb_run(int q, int r) {
  uint64_t rows = 0, sum = 0;
  pb_txn *t = NULL;
  for (int j = 0; j < q_reps[q]; j++) {
    pbck(pb_txn_begin(g_db, PB_RDONLY, &t), "pb begin");
    pb_plan *p = pb_build(t, q, param(q, r, j));
    pb_row row;
    int rc;
    while ((rc = pb_plan_next(p, &row)) == PB_OK) {
      rows++;
      if (q == Q_GROUP) {
        sum += (uint64_t)row.cols[0].as.i * 7 + (uint64_t)row.cols[1].as.i +
               (uint64_t)row.cols[2].as.i;
      } else {
        const bq_Order *o = row.recs[0];
        sum += (uint64_t)o->amount;
        if (q == Q_JOIN) sum += (uint64_t)((const bq_Cust *)row.recs[1])->region;
      }
    }
    if (rc != PB_ENOTFOUND) bench_die("pb next", pb_strerror(rc));
    pb_plan_free(p);
    pb_txn_abort(t);
  }
  found_rows[q][PB] = rows;
  found_sum[q][PB] = sum;
}

static void pb_explain(int q) {
  pb_txn *t = NULL;
  pbck(pb_txn_begin(g_db, PB_RDONLY, &t), "pb begin");
  pb_plan *p = pb_build(t, q, param(q, 0, 0));
  pb_buf b;
  pb_buf_init(&b);
  pbck(pb_plan_explain(p, &b), "pb explain");
  printf("%s:\n%.*s", q_name[q], (int)b.len, (const char *)b.data);
  pb_buf_free(&b);
  pb_plan_free(p);
  pb_txn_abort(t);
}

/* --- SQLite --- */

static sqlite3 *g_sq;
static sqlite3_stmt *g_stmt[QUERIES];

static void sqck(int rc, const char *what) {
  if (rc != SQLITE_OK && rc != SQLITE_DONE && rc != SQLITE_ROW)
    bench_die(what, sqlite3_errmsg(g_sq));
}

static void sq_exec(const char *sql) {
  sqck(sqlite3_exec(g_sq, sql, NULL, NULL, NULL), sql);
}

static const char *const q_sql[QUERIES] = {
    "SELECT id, cust, day, amount, note FROM orders WHERE cust = ?1",
    "SELECT id, cust, day, amount, note FROM orders "
    "WHERE day BETWEEN ?1 AND ?1 + 9",
    "SELECT id, cust, day, amount, note FROM orders WHERE amount < 1000",
    "SELECT day, count(*), sum(amount) FROM orders GROUP BY day",
    "SELECT orders.id, orders.amount, cust.region FROM orders JOIN cust "
    "ON orders.cust = cust.id WHERE cust.region = 3",
    "SELECT id, cust, day, amount, note FROM orders ORDER BY amount DESC "
    "LIMIT 10"};

static void sq_load(const char *dir) {
  char path[4200];
  snprintf(path, sizeof path, "%s/query.db", dir);
  sqck(sqlite3_open(path, &g_sq), "sqlite open");
  sq_exec("PRAGMA journal_mode=WAL");
  sq_exec("PRAGMA synchronous=FULL");
  sq_exec("PRAGMA cache_size=-65536");
  sq_exec("CREATE TABLE orders(id INTEGER PRIMARY KEY, cust INTEGER, "
          "day INTEGER, amount INTEGER, note TEXT)");
  sq_exec("CREATE INDEX orders_cust ON orders(cust)");
  sq_exec("CREATE INDEX orders_day ON orders(day)");
  sq_exec("CREATE TABLE cust(id INTEGER PRIMARY KEY, name TEXT, "
          "region INTEGER)");
  sqlite3_stmt *ins;
  sq_exec("BEGIN");
  sqck(sqlite3_prepare_v2(g_sq, "INSERT INTO orders VALUES(?,?,?,?,?)", -1,
                          &ins, NULL),
       "prepare");
  for (uint64_t id = 1; id <= g_n; id++) {
    char note[24];
    bq_Order o;
    order_of(id, note, &o);
    sqlite3_bind_int64(ins, 1, (sqlite3_int64)id);
    sqlite3_bind_int(ins, 2, o.cust);
    sqlite3_bind_int(ins, 3, o.day);
    sqlite3_bind_int64(ins, 4, o.amount);
    sqlite3_bind_text(ins, 5, note, 24, SQLITE_STATIC);
    sqck(sqlite3_step(ins), "sqlite insert");
    sqlite3_reset(ins);
  }
  sqlite3_finalize(ins);
  sqck(sqlite3_prepare_v2(g_sq, "INSERT INTO cust VALUES(?,?,?)", -1, &ins,
                          NULL),
       "prepare");
  for (uint64_t c = 0; c < n_custs(); c++) {
    char name[12];
    bq_Cust cu;
    cust_of((int32_t)c, name, &cu);
    sqlite3_bind_int(ins, 1, cu.id);
    sqlite3_bind_text(ins, 2, name, 11, SQLITE_STATIC);
    sqlite3_bind_int(ins, 3, cu.region);
    sqck(sqlite3_step(ins), "sqlite insert cust");
    sqlite3_reset(ins);
  }
  sqlite3_finalize(ins);
  sq_exec("COMMIT");
  sq_exec("ANALYZE");
  for (int q = 0; q < QUERIES; q++)
    sqck(sqlite3_prepare_v2(g_sq, q_sql[q], -1, &g_stmt[q], NULL), q_sql[q]);
}

static void sq_close(void) {
  for (int q = 0; q < QUERIES; q++) sqlite3_finalize(g_stmt[q]);
  sqlite3_close(g_sq);
}

static void sq_run(int q, int r) {
  uint64_t rows = 0, sum = 0;
  sqlite3_stmt *s = g_stmt[q];
  for (int j = 0; j < q_reps[q]; j++) {
    if (q == Q_EQ || q == Q_RANGE) sqlite3_bind_int(s, 1, param(q, r, j));
    int rc;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
      rows++;
      if (q == Q_GROUP) {
        sum += (uint64_t)sqlite3_column_int64(s, 0) * 7 +
               (uint64_t)sqlite3_column_int64(s, 1) +
               (uint64_t)sqlite3_column_int64(s, 2);
      } else if (q == Q_JOIN) {
        sum += (uint64_t)sqlite3_column_int64(s, 1) +
               (uint64_t)sqlite3_column_int64(s, 2);
      } else {
        /* every column, as ProtoBase decodes the whole record */
        (void)sqlite3_column_int64(s, 0);
        (void)sqlite3_column_int(s, 1);
        (void)sqlite3_column_int(s, 2);
        sum += (uint64_t)sqlite3_column_int64(s, 3);
        (void)sqlite3_column_text(s, 4);
      }
    }
    if (rc != SQLITE_DONE) bench_die("sqlite step", sqlite3_errmsg(g_sq));
    sqlite3_reset(s);
  }
  found_rows[q][SQ] = rows;
  found_sum[q][SQ] = sum;
}

static void sq_explain(int q) {
  char sql[512];
  snprintf(sql, sizeof sql, "EXPLAIN QUERY PLAN %s", q_sql[q]);
  sqlite3_stmt *s;
  sqck(sqlite3_prepare_v2(g_sq, sql, -1, &s, NULL), "sqlite explain");
  if (q == Q_EQ || q == Q_RANGE) sqlite3_bind_int(s, 1, 1);
  while (sqlite3_step(s) == SQLITE_ROW)
    printf("  sqlite: %s\n", (const char *)sqlite3_column_text(s, 3));
  sqlite3_finalize(s);
}

/* --- rounds --- */

static double timed(int q, int e, int r) {
  double t0 = bench_now();
  if (e == PB) pb_run(q, r);
  else sq_run(q, r);
  return (bench_now() - t0) * 1000.0 / q_reps[q]; /* ms per query */
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

int main(int argc, char **argv) {
  const char *dir = NULL;
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    if (!strcmp(a, "--n") && i + 1 < argc) g_n = strtoull(argv[++i], NULL, 10);
    else if (!strcmp(a, "--rounds") && i + 1 < argc)
      g_rounds = atoi(argv[++i]);
    else if (!strcmp(a, "--dir") && i + 1 < argc) dir = argv[++i];
    else if (!strcmp(a, "--only") && i + 1 < argc) {
      const char *q = argv[++i];
      for (int k = 0; k < QUERIES; k++)
        if (!strcmp(q, q_name[k])) g_only = k;
      if (g_only < 0) {
        fprintf(stderr, "bench_query: no query %s\n", q);
        return 2;
      }
    } else if (!strcmp(a, "--quick")) {
      g_n = 20000;
      g_rounds = 1;
    } else {
      fprintf(stderr, "usage: bench_query [--n N] [--rounds R] [--dir DIR] "
                      "[--quick] [--only Q]\n");
      return 2;
    }
  }
  if (g_rounds < 1 || g_rounds > MAX_ROUNDS || g_n < 1000) {
    fprintf(stderr, "bench_query: bad --n or --rounds\n");
    return 2;
  }
  bench_set_dir("bench_query", dir);
  bench_print_machine();
  printf("bench_query: %" PRIu64 " orders, %" PRIu64 " customers, %d "
         "rounds\n",
         g_n, n_custs(), g_rounds);
  char *dirs[ENGINES];
  for (int e = 0; e < ENGINES; e++) dirs[e] = bench_fresh_dir(engine_name[e]);
  if (g_only >= 0) {
    pb_load(dirs[PB]);
    pb_run(g_only, 0); /* warm-up */
    for (int r = 0; r < g_rounds; r++)
      printf("%s: %.3f ms\n", q_name[g_only], timed(g_only, PB, r));
    pb_close();
    for (int e = 0; e < ENGINES; e++) free(dirs[e]);
    return 0;
  }
  double t0 = bench_now();
  pb_load(dirs[PB]);
  double t1 = bench_now();
  sq_load(dirs[SQ]);
  double t2 = bench_now();
  printf("load (not compared): ProtoBase %.2f s, SQLite %.2f s (with "
         "ANALYZE)\n",
         t1 - t0, t2 - t1);
  /* A warm-up of every query once per engine (untimed), then the
   * rounds. */
  for (int q = 0; q < QUERIES; q++) {
    pb_run(q, 0);
    sq_run(q, 0);
  }
  for (int r = 0; r < g_rounds; r++)
    for (int q = 0; q < QUERIES; q++)
      for (int k = 0; k < ENGINES; k++) {
        int e = (r + k) % ENGINES;
        res[q][e][r] = timed(q, e, r);
      }
  for (int q = 0; q < QUERIES; q++)
    if (found_rows[q][PB] != found_rows[q][SQ] ||
        found_sum[q][PB] != found_sum[q][SQ]) {
      fprintf(stderr, "%s: ProtoBase %" PRIu64 " rows (sum %" PRIu64
                      "), SQLite %" PRIu64 " rows (sum %" PRIu64 ")\n",
              q_name[q], found_rows[q][PB], found_sum[q][PB],
              found_rows[q][SQ], found_sum[q][SQ]);
      bench_die("compare", "the engines disagree");
    }
  printf("\n%-7s %6s %10s %14s %14s %10s\n", "query", "reps", "rows/rep",
         "ProtoBase ms", "SQLite ms", "SQ/PB");
  for (int q = 0; q < QUERIES; q++) {
    double m[ENGINES];
    for (int e = 0; e < ENGINES; e++) m[e] = median(res[q][e], g_rounds);
    printf("%-7s %6d %10" PRIu64 " %14.3f %14.3f %9.2fx\n", q_name[q],
           q_reps[q], found_rows[q][PB] / (uint64_t)q_reps[q], m[PB], m[SQ],
           m[SQ] / m[PB]);
  }
  printf("\nplans (ProtoBase explain; SQLite's EXPLAIN QUERY PLAN):\n");
  for (int q = 0; q < QUERIES; q++) {
    pb_explain(q);
    sq_explain(q);
  }
  pb_close();
  sq_close();
  for (int e = 0; e < ENGINES; e++) free(dirs[e]);
  return 0;
}
