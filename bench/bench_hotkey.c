/*
 * bench_hotkey.c - threads incrementing ONE hot key, durably: ProtoBase
 * through pb_txn_run (file storage, SYNC and GROUP) on 1 and 8 threads,
 * beside LMDB doing the same increment in a write transaction per
 * increment (its default: a synced commit) on 1 and 8 threads.
 *
 * The question is whether commits to one key chain and share fdatasyncs
 * (ProtoBase's 8-thread rate at least its 1-thread rate), and how that
 * compares with LMDB, whose writers take turns under one lock.  Rounds are
 * interleaved (every engine and thread count once per round, in turn), and
 * the medians of the rounds are printed with the ratios.  Absolute rates
 * on a shared machine are noise; ratios within one run are the result.
 *
 *   bench_hotkey [--dir DIR] [--rounds N] [--ops N]
 *
 * --ops is the number of increments per run (split among the threads);
 * default 2000, rounds 5.
 */
#include <inttypes.h>
#include <lmdb.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench_util.h"
#include "protobase/protobase.h"
#include "storage/file.h"

#define MAX_ROUNDS 31

typedef struct result {
  double rate;           /* increments per second */
  double syncs_per_op;   /* fdatasyncs per increment (ProtoBase only) */
  double retries_per_op; /* pb_txn_run retries per increment */
} result;

/* --- ProtoBase --- */

static int increment(pb_txn *txn, void *arg) {
  (void)arg;
  pb_value v;
  int rc = pb_txn_get(txn, "counter", &v);
  int64_t n = rc == PB_OK ? v.as.i : 0;
  if (rc != PB_OK && rc != PB_ENOTFOUND) return rc;
  v = (pb_value){.kind = PB_VALUE_INT, .as.i = n + 1};
  return pb_txn_set(txn, "counter", &v);
}

typedef struct pb_job {
  pb_db *db;
  int n;
} pb_job;

static void *pb_worker(void *arg) {
  pb_job *j = arg;
  for (int i = 0; i < j->n; i++) {
    int rc = pb_txn_run(j->db, increment, NULL, PB_TXN_RUN_RETRIES);
    if (rc != PB_OK) bench_die("pb_txn_run", pb_errname(rc));
  }
  return NULL;
}

static result run_pb(pb_durability dur, int threads, int ops) {
  char *dir = bench_fresh_dir(dur == PB_DURABILITY_SYNC ? "hot-pb-sync"
                                                        : "hot-pb-group");
  pb_file_options o;
  pb_file_options_init(&o);
  o.durability = dur;
  pb_storage *st;
  pb_space *sp;
  pb_db *db;
  int rc = pb_storage_open_file(dir, &o, &st);
  if (rc == PB_OK) rc = pb_space_open(st, &sp);
  if (rc == PB_OK) rc = pb_db_open(sp, "main", PB_CREATE, &db);
  if (rc != PB_OK) bench_die("open", pb_errname(rc));
  uint64_t syncs0 = pb__file_sync_count(st);
  pb_space_stats s0, s1;
  pb_space_stats_get(sp, &s0);
  pthread_t th[64];
  pb_job jobs[64];
  double t0 = bench_now();
  for (int i = 0; i < threads; i++) {
    jobs[i] = (pb_job){db, ops / threads};
    pthread_create(&th[i], NULL, pb_worker, &jobs[i]);
  }
  for (int i = 0; i < threads; i++) pthread_join(th[i], NULL);
  double t = bench_now() - t0;
  int done = ops / threads * threads;
  pb_space_stats_get(sp, &s1);
  result r = {done / t, (double)(pb__file_sync_count(st) - syncs0) / done,
              (double)(s1.retries - s0.retries) / done};
  /* Check: every increment landed. */
  pb_txn *txn;
  pb_value v;
  if (pb_txn_begin(db, PB_RDONLY, &txn) != PB_OK ||
      pb_txn_get(txn, "counter", &v) != PB_OK || v.as.i != done)
    bench_die("check", "increments were lost");
  pb_txn_abort(txn);
  pb_db_close(db);
  pb_space_close(sp);
  free(dir);
  return r;
}

/* --- LMDB --- */

typedef struct lm_job {
  MDB_env *env;
  MDB_dbi dbi;
  int n;
} lm_job;

static void lm_check(int rc, const char *what) {
  if (rc != 0) bench_die(what, mdb_strerror(rc));
}

static void *lm_worker(void *arg) {
  lm_job *j = arg;
  for (int i = 0; i < j->n; i++) {
    MDB_txn *t;
    lm_check(mdb_txn_begin(j->env, NULL, 0, &t), "mdb_txn_begin");
    MDB_val k = {7, "counter"}, v;
    int64_t n = 0;
    int rc = mdb_get(t, j->dbi, &k, &v);
    if (rc == 0) memcpy(&n, v.mv_data, sizeof n);
    else if (rc != MDB_NOTFOUND) lm_check(rc, "mdb_get");
    n++;
    v = (MDB_val){sizeof n, &n};
    lm_check(mdb_put(t, j->dbi, &k, &v, 0), "mdb_put");
    lm_check(mdb_txn_commit(t), "mdb_txn_commit");
  }
  return NULL;
}

static result run_lmdb(int threads, int ops) {
  char *dir = bench_fresh_dir("hot-lmdb");
  MDB_env *env;
  lm_check(mdb_env_create(&env), "mdb_env_create");
  lm_check(mdb_env_set_mapsize(env, (size_t)64 << 20), "mdb mapsize");
  lm_check(mdb_env_open(env, dir, 0, 0644), "mdb_env_open");
  MDB_txn *t;
  MDB_dbi dbi;
  lm_check(mdb_txn_begin(env, NULL, 0, &t), "mdb_txn_begin");
  lm_check(mdb_dbi_open(t, NULL, 0, &dbi), "mdb_dbi_open");
  lm_check(mdb_txn_commit(t), "mdb_txn_commit");
  pthread_t th[64];
  lm_job jobs[64];
  double t0 = bench_now();
  for (int i = 0; i < threads; i++) {
    jobs[i] = (lm_job){env, dbi, ops / threads};
    pthread_create(&th[i], NULL, lm_worker, &jobs[i]);
  }
  for (int i = 0; i < threads; i++) pthread_join(th[i], NULL);
  double el = bench_now() - t0;
  int done = ops / threads * threads;
  mdb_env_close(env);
  free(dir);
  return (result){done / el, 0, 0};
}

/* --- medians, rounds --- */

static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

static double median(double *v, int n) {
  qsort(v, (size_t)n, sizeof *v, cmp_double);
  return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

enum { PB_SYNC_1, PB_SYNC_8, PB_GROUP_1, PB_GROUP_8, LM_1, LM_8, N_CASES };
static const char *case_name[N_CASES] = {
    "ProtoBase SYNC,  1 thread ", "ProtoBase SYNC,  8 threads",
    "ProtoBase GROUP, 1 thread ", "ProtoBase GROUP, 8 threads",
    "LMDB (synced),   1 thread ", "LMDB (synced),   8 threads"};

int main(int argc, char **argv) {
  const char *dir = NULL;
  int rounds = 5, ops = 2000;
  for (int i = 1; i < argc; i++) {
    if (strcmp(argv[i], "--dir") == 0 && i + 1 < argc) dir = argv[++i];
    else if (strcmp(argv[i], "--rounds") == 0 && i + 1 < argc)
      rounds = atoi(argv[++i]);
    else if (strcmp(argv[i], "--ops") == 0 && i + 1 < argc)
      ops = atoi(argv[++i]);
    else {
      fprintf(stderr, "usage: bench_hotkey [--dir DIR] [--rounds N] "
                      "[--ops N]\n");
      return 2;
    }
  }
  if (rounds < 1 || rounds > MAX_ROUNDS || ops < 8) {
    fprintf(stderr, "bench_hotkey: rounds 1..%d, ops >= 8\n", MAX_ROUNDS);
    return 2;
  }
  bench_set_dir("bench_hotkey", dir);
  bench_print_machine();
  printf("hot key: %d durable increments of ONE key per run, %d rounds, "
         "medians\n", ops, rounds);
  static double rate[N_CASES][MAX_ROUNDS], syncs[N_CASES][MAX_ROUNDS],
      retries[N_CASES][MAX_ROUNDS];
  for (int r = 0; r < rounds; r++) {
    for (int c = 0; c < N_CASES; c++) {
      int threads = c % 2 ? 8 : 1;
      result res = c == LM_1 || c == LM_8
                       ? run_lmdb(threads, ops)
                       : run_pb(c < PB_GROUP_1 ? PB_DURABILITY_SYNC
                                               : PB_DURABILITY_GROUP,
                                threads, ops);
      rate[c][r] = res.rate;
      syncs[c][r] = res.syncs_per_op;
      retries[c][r] = res.retries_per_op;
    }
  }
  double med[N_CASES];
  for (int c = 0; c < N_CASES; c++) {
    med[c] = median(rate[c], rounds);
    double s = median(syncs[c], rounds), re = median(retries[c], rounds);
    if (c < LM_1)
      printf("  %s  %9.0f increments/s  %.3f fdatasyncs/commit  %.2f "
             "retries/commit\n", case_name[c], med[c], s, re);
    else
      printf("  %s  %9.0f increments/s\n", case_name[c], med[c]);
  }
  printf("ratios (above 1: the first is faster)\n");
  printf("  ProtoBase SYNC  8 threads / 1 thread:       %.2f\n",
         med[PB_SYNC_8] / med[PB_SYNC_1]);
  printf("  ProtoBase GROUP 8 threads / 1 thread:       %.2f\n",
         med[PB_GROUP_8] / med[PB_GROUP_1]);
  printf("  ProtoBase SYNC 1 thread / LMDB 1 thread:    %.2f\n",
         med[PB_SYNC_1] / med[LM_1]);
  printf("  ProtoBase SYNC 8 threads / LMDB 8 threads:  %.2f\n",
         med[PB_SYNC_8] / med[LM_8]);
  printf("  ProtoBase SYNC 8 threads / LMDB 1 thread:   %.2f\n",
         med[PB_SYNC_8] / med[LM_1]);
  return 0;
}
