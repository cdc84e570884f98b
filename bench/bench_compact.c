/*
 * bench/bench_compact.c - automatic compaction: commit latency and disk use
 * under steady small updates, with it on (the defaults) and off.
 *
 * Loads N records (default 50,000; 16-byte keys, 100-byte BYTES values)
 * into a Dictionary in commits of 1,000, then makes U (default 200,000)
 * single-record updates of random records, one durable commit each
 * (PB_DURABILITY_SYNC, pb_txn_run, one thread), timing every commit.  The
 * same updates go to two stores in fresh directories, in alternating
 * blocks of 1,000 so that both see the same machine: one with automatic
 * compaction (pb_file_options_init's defaults), one without (auto_compact
 * false).
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

/* Updates are made in blocks of this many, alternating between the two
 * stores, so that both see the same machine (its other load, the disk's
 * state) over the whole run. */
#define BLOCK 1000

typedef struct side {
  bool autoc;
  char *dir;
  pb_storage *st;
  pb_space *sp;
  pb_db *db;
  double *lat;     /* per update, seconds */
  double busy;     /* seconds spent in its updates */
} side;

static const char *name_of(const side *sd) { return sd->autoc ? "on" : "off"; }

static void side_open(side *sd, bool autoc) {
  sd->autoc = autoc;
  sd->dir = bench_fresh_dir(autoc ? "compact-on" : "compact-off");
  pb_file_options o;
  pb_file_options_init(&o);
  o.auto_compact = autoc;
  pcheck(pb_storage_open_file(sd->dir, &o, &sd->st), "pb_storage_open_file");
  pcheck(pb_space_open(sd->st, &sd->sp), "pb_space_open");
  pcheck(pb_db_open(sd->sp, "bench", PB_CREATE, &sd->db), "pb_db_open");
  for (uint64_t i = 0; i < g_n; i += 1000) {
    put_arg a = {i, g_n - i < 1000 ? g_n - i : 1000, 0};
    pcheck(pb_txn_run(sd->db, put_fn, &a, PB_TXN_RUN_RETRIES), "load");
  }
  printf("  %-4s loaded %" PRIu64 " records: disk %.1f MB\n", name_of(sd),
         g_n, bench_disk_bytes(sd->dir) / 1e6);
  sd->lat = malloc(g_updates * sizeof *sd->lat);
  if (sd->lat == NULL) bench_die("malloc", "no memory");
}

/* Updates u0 .. u1 - 1 (the same records for both stores). */
static void side_updates(side *sd, uint64_t u0, uint64_t u1) {
  for (uint64_t u = u0; u < u1; u++) {
    put_arg a = {bench_mix(u ^ 0x5eed) % g_n, 1, u + 1};
    double t0 = bench_now();
    pcheck(pb_txn_run(sd->db, put_fn, &a, PB_TXN_RUN_RETRIES), "update");
    sd->lat[u] = bench_now() - t0;
    sd->busy += sd->lat[u];
  }
}

/* Prints its numbers and closes it; gives the p99. */
static double side_close(side *sd) {
  const char *nm = name_of(sd);
  uint64_t disk_end = bench_disk_bytes(sd->dir);
  pb_disk_usage du;
  pcheck(pb_storage_disk_usage(sd->st, &du), "pb_storage_disk_usage");
  pb_compact_stats cs;
  pcheck(pb_storage_compact(sd->st, &cs), "pb_storage_compact");
  qsort(sd->lat, g_updates, sizeof *sd->lat, cmp_double);
  double p99 = sd->lat[(uint64_t)((double)g_updates * 0.99)];
  printf("  %-4s commit latency us: p50 %.0f  p99 %.0f  p99.9 %.0f  max %.0f;"
         " %.0f commits/s; %" PRIu64 " automatic compactions "
         "(%.2f s in them)\n",
         nm, sd->lat[g_updates / 2] * 1e6, p99 * 1e6,
         sd->lat[(uint64_t)((double)g_updates * 0.999)] * 1e6,
         sd->lat[g_updates - 1] * 1e6, (double)g_updates / sd->busy,
         du.auto_runs, du.auto_ns / 1e9);
  printf("  %-4s disk at the end %.1f MB, live data %.1f MB: %.2fx\n", nm,
         disk_end / 1e6, cs.atom_bytes / 1e6,
         (double)disk_end / (double)(cs.atom_bytes ? cs.atom_bytes : 1));
  free(sd->lat);
  pb_db_close(sd->db);
  pcheck(pb_space_close(sd->sp), "pb_space_close");
  free(sd->dir);
  return p99;
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
  side sides[2];
  int n = 0;
  if (only == NULL || strcmp(only, "on") == 0) side_open(&sides[n++], true);
  if (only == NULL || strcmp(only, "off") == 0) side_open(&sides[n++], false);
  uint64_t step = g_updates / 10 ? g_updates / 10 : 1;
  char *samples[2] = {NULL, NULL};
  size_t slen[2] = {0, 0};
  FILE *sf[2];
  for (int i = 0; i < n; i++) sf[i] = open_memstream(&samples[i], &slen[i]);
  for (uint64_t u = 0, b = 0; u < g_updates; b++) {
    uint64_t end = u + BLOCK < g_updates ? u + BLOCK : g_updates;
    for (int k = 0; k < n; k++) { /* the order alternates by block */
      side *sd = &sides[(k + (int)(b % 2)) % n];
      side_updates(sd, u, end);
    }
    for (uint64_t v = u; v < end; v++)
      if ((v + 1) % step == 0)
        for (int i = 0; i < n; i++)
          fprintf(sf[i], " %.1f", bench_disk_bytes(sides[i].dir) / 1e6);
    u = end;
  }
  for (int i = 0; i < n; i++) {
    fclose(sf[i]);
    printf("  %-4s disk (MB) every %" PRIu64 " updates:%s\n",
           name_of(&sides[i]), step, samples[i]);
    free(samples[i]);
  }
  double p99[2] = {0, 0};
  for (int i = 0; i < n; i++) p99[i] = side_close(&sides[i]);
  if (n == 2)
    printf("p99 with automatic compaction / without: %.2fx (target <= 3x)\n",
           p99[0] / p99[1]);
  return 0;
}
