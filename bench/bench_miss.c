/*
 * bench/bench_miss.c - ns per object-cache MISS of a Dictionary get.
 *
 * Loads N (default 1,000,000) records (16-byte keys "k" + 15 digits,
 * 100-byte BYTES values, as bench_table) into file storage, reopens it
 * with a 16 MiB object cache (about a quarter of what the default 64 MiB
 * holds, so almost every get of a random key misses its leaf), and times
 * --ops random gets, each in a read transaction of its own, after as many untimed
 * ones.  Prints ns per get and the object cache's misses per get.
 *
 *   bench_miss [--n N] [--ops N] [--rounds R] [--dir DIR] [--reuse]
 *              [--cache-mib M]
 *
 * --reuse keeps a store loaded by an earlier run with the same --n.
 * --cache-mib sets the object cache (default 16); one that holds every
 * node (512 at 1M) times hits instead.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "bench_util.h"
#include "protobase/protobase.h"

extern const char *bench_dir; /* bench_util.c */

#define KEY_LEN 16
#define VAL_LEN 100

static uint64_t g_n = 1000000, g_ops = 1000000;

static void pcheck(int rc, const char *what) {
  if (rc != PB_OK) bench_die(what, pb_errname(rc));
}

static void key_of(uint64_t k, char out[KEY_LEN]) {
  out[0] = 'k';
  for (int d = KEY_LEN - 1; d >= 1; d--, k /= 10) out[d] = (char)('0' + k % 10);
}

static uint8_t g_val[VAL_LEN];

typedef struct env {
  pb_storage *st;
  pb_space *sp;
  pb_db *db;
} env;

static void env_open(env *e, const char *dir, uint64_t cache_bytes) {
  pcheck(pb_storage_open_file(dir, NULL, &e->st), "pb_storage_open_file");
  pb_space_options o;
  pb_space_options_init(&o);
  if (cache_bytes) o.object_cache_bytes = cache_bytes;
  pcheck(pb_space_open_ex(e->st, &o, &e->sp), "pb_space_open_ex");
  pcheck(pb_db_open(e->sp, "bench", PB_CREATE, &e->db), "pb_db_open");
}

static void env_close(env *e) {
  pb_db_close(e->db);
  pcheck(pb_space_close(e->sp), "pb_space_close");
}

static void load(const char *dir) {
  env e;
  env_open(&e, dir, 0);
  pb_txn *t;
  pb_dict *d;
  pcheck(pb_txn_begin(e.db, 0, &t), "pb_txn_begin");
  pcheck(pb_txn_open_dict(t, "d", PB_CREATE, &d), "pb_txn_open_dict");
  uint64_t *order = bench_shuffled(g_n, 0x6c6f6164ull);
  for (uint64_t i = 0; i < g_n; i++) {
    char key[KEY_LEN];
    key_of(order[i], key);
    memcpy(g_val, &order[i], sizeof order[i]);
    pb_value v = {.kind = PB_VALUE_BYTES, .as.bytes = {g_val, VAL_LEN}};
    pcheck(pb_dict_put(d, (pb_str){key, KEY_LEN}, &v), "pb_dict_put");
  }
  free(order);
  pcheck(pb_txn_commit(t), "pb_txn_commit");
  env_close(&e);
}

/* `ops` gets of random keys from `seed`, each in a read transaction of
 * its own (a long one would keep every node it loaded); returns seconds. */
static double gets(pb_db *db, uint64_t ops, uint64_t seed, char *keys) {
  for (uint64_t i = 0; i < ops; i++)
    key_of(bench_mix(seed + i) % g_n, keys + i * KEY_LEN);
  double t0 = bench_now();
  for (uint64_t i = 0; i < ops; i++) {
    pb_txn *t;
    pb_dict *d;
    pcheck(pb_txn_begin(db, PB_RDONLY, &t), "pb_txn_begin");
    pcheck(pb_txn_open_dict(t, "d", 0, &d), "pb_txn_open_dict");
    pb_value v;
    pcheck(pb_dict_get(d, (pb_str){keys + i * KEY_LEN, KEY_LEN}, &v),
           "pb_dict_get");
    if (v.kind != PB_VALUE_BYTES || v.as.bytes.len != VAL_LEN)
      bench_die("pb_dict_get", "wrong value");
    pb_txn_abort(t);
  }
  return bench_now() - t0;
}

int main(int argc, char **argv) {
  const char *dir = NULL;
  int rounds = 3, reuse = 0;
  uint64_t cache_mib = 16;
  for (int i = 1; i < argc; i++) {
    if (!strcmp(argv[i], "--n") && i + 1 < argc) g_n = strtoull(argv[++i], NULL, 10);
    else if (!strcmp(argv[i], "--ops") && i + 1 < argc) g_ops = strtoull(argv[++i], NULL, 10);
    else if (!strcmp(argv[i], "--rounds") && i + 1 < argc) rounds = atoi(argv[++i]);
    else if (!strcmp(argv[i], "--dir") && i + 1 < argc) dir = argv[++i];
    else if (!strcmp(argv[i], "--reuse")) reuse = 1;
    else if (!strcmp(argv[i], "--cache-mib") && i + 1 < argc)
      cache_mib = strtoull(argv[++i], NULL, 10);
    else {
      fprintf(stderr, "usage: bench_miss [--n N] [--ops N] [--rounds R] "
                      "[--dir DIR] [--reuse] [--cache-mib M]\n");
      return 2;
    }
  }
  bench_set_dir("bench_miss", dir);
  char name[64];
  snprintf(name, sizeof name, "miss-%" PRIu64, g_n);
  char *path;
  struct stat sb;
  if (reuse) {
    size_t len = strlen(bench_dir) + strlen(name) + 2;
    path = malloc(len);
    snprintf(path, len, "%s/%s", bench_dir, name);
    if (stat(path, &sb) != 0) {
      free(path);
      path = bench_fresh_dir(name);
      load(path);
    }
  } else {
    path = bench_fresh_dir(name);
    load(path);
  }
  char *keys = malloc(g_ops * KEY_LEN);
  if (!keys) bench_die("malloc", "keys");
  printf("bench_miss: %" PRIu64 " records, %" PRIu64 " MiB object cache, %" PRIu64
         " random gets per round, a read txn per get\n", g_n, cache_mib, g_ops);
  for (int r = 0; r < rounds; r++) {
    env e;
    env_open(&e, path, cache_mib << 20);
    gets(e.db, g_ops, 0x7761726dull + r, keys); /* warm: the cache full */
    pb_cache_stats s0, s1;
    pcheck(pb_space_cache_stats(e.sp, NULL, &s0), "pb_space_cache_stats");
    double secs = gets(e.db, g_ops, 0x67657473ull + 7919 * r, keys);
    pcheck(pb_space_cache_stats(e.sp, NULL, &s1), "pb_space_cache_stats");
    printf("round %d: %.0f ns per get, %.2f object-cache misses per get, "
           "%" PRIu64 " objects cached\n",
           r + 1, secs * 1e9 / (double)g_ops,
           (double)(s1.misses - s0.misses) / (double)g_ops, s1.entries);
    fflush(stdout);
    env_close(&e);
  }
  free(keys);
  free(path);
  return 0;
}
