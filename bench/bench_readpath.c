/*
 * bench_readpath.c - what the atom cache (SPEC 8) buys a read: a point get
 * in a transaction of its own, from a Dictionary in a file store, with the
 * caches off, cold and warm, against LMDB doing the same in the same run.
 *
 * Each operation is a whole read: begin a read-only transaction, open the
 * Dictionary, get one random key, end the transaction.  A transaction
 * decodes the nodes it needs (it shares none with another transaction), so
 * without the cache every get decodes its root-to-leaf path again; with
 * it, the path comes decoded from the object cache and the handle reads
 * it in place (it copies a node only to write to it).  LMDB's mdb_txn_begin (MDB_RDONLY) + mdb_get + mdb_txn_abort
 * is the peer.
 *
 *   uncached     pb_space_open_ex with both caches off: storage (mmap'ed
 *                WAL segments) and a decode per node per transaction
 *   cached cold  a fresh space, first pass: the misses load and decode
 *   cached warm  the same space, second pass: object-cache hits
 *   LMDB         the same keys and values, same order
 *   one long read txn  every get of a pass inside one read transaction
 *                (cached space, warm), beside LMDB doing the same
 *   begin+abort  pb_txn_begin (PB_RDONLY) + pb_txn_abort and nothing else,
 *                on one thread and on two threads at once (ns per pair,
 *                per thread): the cost of starting and ending a read
 *
 * Usage: bench_readpath [--n ENTRIES] [--ops GETS] [--dir DIR]
 * Prints ns per get and the ratios; speed is measured, never asserted.
 */
#include <inttypes.h>
#include <lmdb.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench_util.h"
#include "protobase/protobase.h"

#define KEY_LEN 16
#define LOAD_BATCH 50000u

static uint64_t g_n = 200000, g_ops = 200000;

static void check(int rc, const char *what) {
  if (rc != PB_OK) bench_die(what, pb_strerror(rc));
}

static void lcheck(int rc, const char *what) {
  if (rc) bench_die(what, mdb_strerror(rc));
}

/* "key" and 13 decimal digits of i (i < 10^13). */
static void key_of(uint64_t i, char out[KEY_LEN + 1]) {
  memcpy(out, "key", 3);
  for (int d = KEY_LEN - 1; d >= 3; d--, i /= 10) out[d] = (char)('0' + i % 10);
  out[KEY_LEN] = 0;
}

typedef struct pbs {
  pb_space *sp;
  pb_db *db;
  pb_storage *st;
} pbs;

static void pb_open(pbs *s, const char *dir, bool cached) {
  pb_space_options o;
  pb_space_options_init(&o);
  if (!cached) memset(&o, 0, sizeof o);
  check(pb_storage_open_file(dir, NULL, &s->st), "pb_storage_open_file");
  check(pb_space_open_ex(s->st, &o, &s->sp), "pb_space_open_ex");
  check(pb_db_open(s->sp, "bench", PB_CREATE, &s->db), "pb_db_open");
}

static void pb_close(pbs *s) {
  pb_db_close(s->db);
  check(pb_space_close(s->sp), "pb_space_close");
}

static void pb_load(const char *dir) {
  pbs s;
  pb_open(&s, dir, false);
  for (uint64_t i = 0; i < g_n;) {
    pb_txn *t;
    pb_dict *d;
    check(pb_txn_begin(s.db, 0, &t), "pb_txn_begin");
    check(pb_txn_open_dict(t, "d", PB_CREATE, &d), "pb_txn_open_dict");
    for (uint64_t end = i + LOAD_BATCH; i < end && i < g_n; i++) {
      char k[KEY_LEN + 1];
      key_of(i, k);
      pb_value v = {.kind = PB_VALUE_UINT, .as.u = i * 7};
      check(pb_dict_put(d, (pb_str){k, KEY_LEN}, &v), "pb_dict_put");
    }
    check(pb_txn_commit(t), "pb_txn_commit");
  }
  pb_close(&s);
}

/* One pass of ops gets, each in its own transaction; ns per get. */
static double pb_pass(pbs *s, const uint64_t *perm) {
  double t0 = bench_now();
  for (uint64_t k = 0; k < g_ops; k++) {
    uint64_t i = perm[k % g_n];
    char key[KEY_LEN + 1];
    key_of(i, key);
    pb_txn *t;
    pb_dict *d;
    pb_value v;
    check(pb_txn_begin(s->db, PB_RDONLY, &t), "pb_txn_begin");
    check(pb_txn_open_dict(t, "d", 0, &d), "pb_txn_open_dict");
    check(pb_dict_get(d, (pb_str){key, KEY_LEN}, &v), "pb_dict_get");
    if (v.kind != PB_VALUE_UINT || v.as.u != i * 7)
      bench_die("pb_dict_get", "wrong value");
    pb_txn_abort(t);
  }
  return (bench_now() - t0) * 1e9 / (double)g_ops;
}

/* One pass of ops gets inside ONE read transaction; ns per get. */
static double pb_pass_long(pbs *s, const uint64_t *perm) {
  pb_txn *t;
  pb_dict *d;
  check(pb_txn_begin(s->db, PB_RDONLY, &t), "pb_txn_begin");
  check(pb_txn_open_dict(t, "d", 0, &d), "pb_txn_open_dict");
  double t0 = bench_now();
  for (uint64_t k = 0; k < g_ops; k++) {
    uint64_t i = perm[k % g_n];
    char key[KEY_LEN + 1];
    key_of(i, key);
    pb_value v;
    check(pb_dict_get(d, (pb_str){key, KEY_LEN}, &v), "pb_dict_get");
    if (v.kind != PB_VALUE_UINT || v.as.u != i * 7)
      bench_die("pb_dict_get", "wrong value");
  }
  double ns = (bench_now() - t0) * 1e9 / (double)g_ops;
  pb_txn_abort(t);
  return ns;
}

/* ops begin+abort pairs of read transactions; ns per pair. */
static void *begin_abort_loop(void *arg) {
  pb_db *db = ((pbs *)arg)->db;
  double t0 = bench_now();
  for (uint64_t k = 0; k < g_ops; k++) {
    pb_txn *t;
    check(pb_txn_begin(db, PB_RDONLY, &t), "pb_txn_begin");
    pb_txn_abort(t);
  }
  double *ns = malloc(sizeof *ns);
  if (ns == NULL) bench_die("malloc", "out of memory");
  *ns = (bench_now() - t0) * 1e9 / (double)g_ops;
  return ns;
}

/* begin+abort on `threads` threads at once; the mean ns per pair. */
static double pb_begin_abort(pbs *s, int threads) {
  pthread_t th[2];
  double sum = 0;
  for (int i = 0; i < threads; i++)
    if (pthread_create(&th[i], NULL, begin_abort_loop, s) != 0)
      bench_die("pthread_create", "failed");
  for (int i = 0; i < threads; i++) {
    void *r;
    pthread_join(th[i], &r);
    sum += *(double *)r;
    free(r);
  }
  return sum / threads;
}

static MDB_env *lm_open(const char *dir, MDB_dbi *dbi) {
  MDB_env *env;
  MDB_txn *t;
  lcheck(mdb_env_create(&env), "mdb_env_create");
  lcheck(mdb_env_set_mapsize(env, (size_t)4 << 30), "mdb_env_set_mapsize");
  lcheck(mdb_env_open(env, dir, 0, 0644), "mdb_env_open");
  lcheck(mdb_txn_begin(env, NULL, 0, &t), "mdb_txn_begin");
  lcheck(mdb_dbi_open(t, NULL, 0, dbi), "mdb_dbi_open");
  for (uint64_t i = 0; i < g_n; i++) {
    char k[KEY_LEN + 1];
    key_of(i, k);
    uint64_t val = i * 7;
    MDB_val key = {KEY_LEN, k}, v = {sizeof val, &val};
    lcheck(mdb_put(t, *dbi, &key, &v, 0), "mdb_put");
  }
  lcheck(mdb_txn_commit(t), "mdb_txn_commit");
  return env;
}

static double lm_pass_long(MDB_env *env, MDB_dbi dbi, const uint64_t *perm) {
  MDB_txn *t;
  lcheck(mdb_txn_begin(env, NULL, MDB_RDONLY, &t), "mdb_txn_begin");
  double t0 = bench_now();
  for (uint64_t k = 0; k < g_ops; k++) {
    uint64_t i = perm[k % g_n], val;
    char key[KEY_LEN + 1];
    key_of(i, key);
    MDB_val mk = {KEY_LEN, key}, v;
    lcheck(mdb_get(t, dbi, &mk, &v), "mdb_get");
    memcpy(&val, v.mv_data, sizeof val);
    if (val != i * 7) bench_die("mdb_get", "wrong value");
  }
  double ns = (bench_now() - t0) * 1e9 / (double)g_ops;
  mdb_txn_abort(t);
  return ns;
}

static double lm_pass(MDB_env *env, MDB_dbi dbi, const uint64_t *perm) {
  double t0 = bench_now();
  for (uint64_t k = 0; k < g_ops; k++) {
    uint64_t i = perm[k % g_n], val;
    char key[KEY_LEN + 1];
    key_of(i, key);
    MDB_txn *t;
    MDB_val mk = {KEY_LEN, key}, v;
    lcheck(mdb_txn_begin(env, NULL, MDB_RDONLY, &t), "mdb_txn_begin");
    lcheck(mdb_get(t, dbi, &mk, &v), "mdb_get");
    memcpy(&val, v.mv_data, sizeof val);
    if (val != i * 7) bench_die("mdb_get", "wrong value");
    mdb_txn_abort(t);
  }
  return (bench_now() - t0) * 1e9 / (double)g_ops;
}

int main(int argc, char **argv) {
  const char *dir_opt = NULL;
  for (int i = 1; i + 1 < argc; i += 2) {
    if (!strcmp(argv[i], "--n")) g_n = strtoull(argv[i + 1], NULL, 10);
    else if (!strcmp(argv[i], "--ops")) g_ops = strtoull(argv[i + 1], NULL, 10);
    else if (!strcmp(argv[i], "--dir")) dir_opt = argv[i + 1];
    else bench_die("usage", "bench_readpath [--n N] [--ops N] [--dir DIR]");
  }
  if (g_n == 0 || g_ops == 0) bench_die("usage", "--n and --ops must be > 0");
  bench_set_dir("bench_readpath", dir_opt);
  bench_print_machine();
  char *pdir = bench_fresh_dir("readpath-pb"), *ldir =
                                                   bench_fresh_dir("readpath-lmdb");
  uint64_t *perm = bench_shuffled(g_n, 42);
  printf("Dictionary of %" PRIu64 " entries (16-byte keys, UINT values); "
         "%" PRIu64 " random gets, each in a read transaction of its own\n",
         g_n, g_ops);
  pb_load(pdir);
  MDB_dbi dbi;
  MDB_env *env = lm_open(ldir, &dbi);

  pbs s;
  pb_open(&s, pdir, false);
  double off = pb_pass(&s, perm);
  pb_close(&s);
  pb_open(&s, pdir, true);
  double cold = pb_pass(&s, perm);
  double warm = pb_pass(&s, perm);
  double lng = pb_pass_long(&s, perm);
  double ba1 = pb_begin_abort(&s, 1);
  double ba2 = pb_begin_abort(&s, 2);
  pb_cache_stats b, o;
  check(pb_space_cache_stats(s.sp, &b, &o), "pb_space_cache_stats");
  pb_close(&s);
  double lm = lm_pass(env, dbi, perm);
  double lm_lng = lm_pass_long(env, dbi, perm);
  mdb_env_close(env);

  printf("%-28s %10.0f ns/get\n", "ProtoBase uncached", off);
  printf("%-28s %10.0f ns/get\n", "ProtoBase cached, cold pass", cold);
  printf("%-28s %10.0f ns/get\n", "ProtoBase cached, warm pass", warm);
  printf("%-28s %10.0f ns/get\n", "LMDB", lm);
  printf("%-28s %10.0f ns/get\n", "ProtoBase one long read txn", lng);
  printf("%-28s %10.0f ns/get\n", "LMDB one long read txn", lm_lng);
  printf("%-28s %10.0f ns/pair\n", "begin+abort, 1 thread", ba1);
  printf("%-28s %10.0f ns/pair (per thread)\n", "begin+abort, 2 threads", ba2);
  printf("one long read txn, ProtoBase / LMDB: %.2fx\n", lng / lm_lng);
  printf("cached warm / uncached: %.2fx (below 1: the cache is faster)\n",
         warm / off);
  printf("ProtoBase / LMDB: uncached %.2fx, cached warm %.2fx "
         "(above 1: ProtoBase is slower)\n", off / lm, warm / lm);
  printf("object cache: %" PRIu64 " entries, %.1f MiB, hit ratio %.3f, "
         "%" PRIu64 " loads (mean %.0f ns); bytes cache: %" PRIu64
         " entries, %.1f MiB\n",
         o.entries, (double)o.bytes / (1 << 20), o.hit_ratio, o.loads,
         o.loads ? (double)o.load_ns / (double)o.loads : 0.0, b.entries,
         (double)b.bytes / (1 << 20));
  free(perm);
  free(pdir);
  free(ldir);
  return 0;
}
