/*
 * bench/bench_compact.c - automatic compaction: commit latency and disk use
 * under steady small updates, with it on (the defaults) and off.
 *
 * Loads N records (default 50,000; 16-byte keys, 100-byte BYTES values)
 * into a Dictionary in commits of 1,000, then makes U (default 200,000)
 * single-record updates of random records, one durable commit each
 * (PB_DURABILITY_SYNC, pb_txn_run, one thread), timing every commit.  The
 * same run is made twice in fresh directories: with automatic compaction
 * (pb_file_options_init's defaults) and without (auto_compact false).
 * Prints, for each, the commit latency p50 / p99 / p99.9 / max, commits
 * per second, the disk use (bytes of the files, st_blocks) every U/10
 * updates, and at the end the live data (a final explicit compaction's
 * atom_bytes) and the ratio of the disk use to it; then the p99 ratio.
 *
 *   bench_compact [--n N] [--updates U] [--dir DIR] [--only on|off]
 *
 * Data goes to --dir, $PB_BENCH_DIR or build-bench/data (a real disk).
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench_util.h"
#include "protobase/protobase.h"

#define KEY_LEN 16
#define VAL_LEN 100

static uint64_t g_n = 50000, g_updates = 200000;

static void pcheck(int rc, const char *what) {
  if (rc != PB_OK) bench_die(what, pb_errname(rc));
}

static void key_of(uint64_t k, char out[KEY_LEN]) {
  out[0] = 'k';
  for (int d = KEY_LEN - 1; d >= 1; d--, k /= 10) out[d] = (char)('0' + k % 10);
}

typedef struct put_arg {
  uint64_t first, count, round; /* records first..first+count-1 */
} put_arg;

static int put_fn(pb_txn *txn, void *arg) {
  put_arg *a = arg;
  pb_dict *d;
  int rc = pb_txn_open_dict(txn, "records", PB_CREATE, &d);
  uint8_t val[VAL_LEN];
  for (uint64_t i = 0; rc == PB_OK && i < a->count; i++) {
    char key[KEY_LEN];
    uint64_t k = a->first + i;
    key_of(k, key);
    for (int j = 0; j < VAL_LEN; j++)
      val[j] = (uint8_t)bench_mix(k * 131 + a->round * 7 + (uint64_t)j);
    pb_value v = {.kind = PB_VALUE_BYTES, .as.bytes = {val, VAL_LEN}};
    rc = pb_dict_put(d, (pb_str){key, KEY_LEN}, &v);
  }
  return rc;
}

static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

typedef struct result {
  double p50, p99, p999, max, per_s;
  uint64_t disk_end, live, runs;
} result;

static result run(bool autoc) {
  result r = {0};
  char *dir = bench_fresh_dir(autoc ? "compact-on" : "compact-off");
  pb_file_options o;
  pb_file_options_init(&o);
  o.auto_compact = autoc;
  pb_storage *st;
  pb_space *sp;
  pb_db *db;
  pcheck(pb_storage_open_file(dir, &o, &st), "pb_storage_open_file");
  pcheck(pb_space_open(st, &sp), "pb_space_open");
  pcheck(pb_db_open(sp, "bench", PB_CREATE, &db), "pb_db_open");
  for (uint64_t i = 0; i < g_n; i += 1000) {
    put_arg a = {i, g_n - i < 1000 ? g_n - i : 1000, 0};
    pcheck(pb_txn_run(db, put_fn, &a, PB_TXN_RUN_RETRIES), "load");
  }
  printf("  %-4s loaded %" PRIu64 " records: disk %.1f MB\n",
         autoc ? "on" : "off", g_n, bench_disk_bytes(dir) / 1e6);
  double *lat = malloc(g_updates * sizeof *lat);
  if (lat == NULL) bench_die("malloc", "no memory");
  uint64_t step = g_updates / 10 ? g_updates / 10 : 1;
  printf("  %-4s disk (MB) every %" PRIu64 " updates:", autoc ? "on" : "off",
         step);
  double t_all = bench_now();
  for (uint64_t u = 0; u < g_updates; u++) {
    put_arg a = {bench_mix(u ^ 0x5eed) % g_n, 1, u + 1};
    double t0 = bench_now();
    pcheck(pb_txn_run(db, put_fn, &a, PB_TXN_RUN_RETRIES), "update");
    lat[u] = bench_now() - t0;
    if ((u + 1) % step == 0) {
      printf(" %.1f", bench_disk_bytes(dir) / 1e6);
      fflush(stdout);
    }
  }
  t_all = bench_now() - t_all;
  printf("\n");
  r.per_s = (double)g_updates / t_all;
  r.disk_end = bench_disk_bytes(dir);
  pb_disk_usage du;
  pcheck(pb_storage_disk_usage(st, &du), "pb_storage_disk_usage");
  r.runs = du.auto_runs;
  pb_compact_stats cs;
  pcheck(pb_storage_compact(st, &cs), "pb_storage_compact");
  r.live = cs.atom_bytes;
  qsort(lat, g_updates, sizeof *lat, cmp_double);
  r.p50 = lat[g_updates / 2];
  r.p99 = lat[(uint64_t)((double)g_updates * 0.99)];
  r.p999 = lat[(uint64_t)((double)g_updates * 0.999)];
  r.max = lat[g_updates - 1];
  printf("  %-4s commit latency us: p50 %.0f  p99 %.0f  p99.9 %.0f  max %.0f;"
         " %.0f commits/s; %" PRIu64 " automatic compactions "
         "(%.2f s in them)\n",
         autoc ? "on" : "off", r.p50 * 1e6, r.p99 * 1e6, r.p999 * 1e6,
         r.max * 1e6, r.per_s, r.runs, du.auto_ns / 1e9);
  printf("  %-4s disk at the end %.1f MB, live data %.1f MB: %.2fx\n",
         autoc ? "on" : "off", r.disk_end / 1e6, r.live / 1e6,
         (double)r.disk_end / (double)(r.live ? r.live : 1));
  free(lat);
  pb_db_close(db);
  pcheck(pb_space_close(sp), "pb_space_close");
  free(dir);
  return r;
}

int main(int argc, char **argv) {
  const char *dir = NULL, *only = NULL;
  for (int i = 1; i < argc; i++) {
    if (strcmp(argv[i], "--n") == 0 && i + 1 < argc)
      g_n = strtoull(argv[++i], NULL, 10);
    else if (strcmp(argv[i], "--updates") == 0 && i + 1 < argc)
      g_updates = strtoull(argv[++i], NULL, 10);
    else if (strcmp(argv[i], "--dir") == 0 && i + 1 < argc)
      dir = argv[++i];
    else if (strcmp(argv[i], "--only") == 0 && i + 1 < argc)
      only = argv[++i];
    else {
      fprintf(stderr,
              "usage: %s [--n N] [--updates U] [--dir DIR] [--only on|off]\n",
              argv[0]);
      return 2;
    }
  }
  if (g_n == 0 || g_updates == 0) bench_die("arguments", "N and U must be > 0");
  bench_set_dir(argv[0], dir);
  bench_print_machine();
  printf("bench_compact: %" PRIu64 " records, %" PRIu64
         " single-record SYNC commits, automatic compaction on and off\n",
         g_n, g_updates);
  result on = {0}, off = {0};
  if (only == NULL || strcmp(only, "on") == 0) on = run(true);
  if (only == NULL || strcmp(only, "off") == 0) off = run(false);
  if (only == NULL)
    printf("p99 with automatic compaction / without: %.2fx (target <= 3x); "
           "disk / live with it: %.2fx (target < 2x)\n",
           on.p99 / off.p99, (double)on.disk_end / (double)on.live);
  return 0;
}
