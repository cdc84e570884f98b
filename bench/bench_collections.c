/*
 * bench_collections.c - the persistent collections (Dictionary, List,
 * HashDictionary) side by side with LMDB on the same keys, in the same run,
 * with the ratio (issue 5's acceptance: "Dictionary random get/put at 1M
 * entries; List append and index; HashDictionary get at 1M entries; each
 * side by side with LMDB's point read and put on the same keys").
 *
 *   bench_collections [--quick] [--dir DIR] [--n N] [--ops N] [--puts N]
 *                     [--commits N] [--secs S]
 *
 * Keys: N entries (default 1,000,000) numbered in load order; entry i has
 * the key number perm[i] of a fixed-seed shuffle of 0..N-1 (the keys of
 * bench_storage) and the value i.
 *   Dictionary: key "k%015llu" of perm[i] (16 bytes), value UINT i.
 *     LMDB: the same 16 bytes, an 8-byte value.
 *   List: value UINT i at index i.  LMDB: key the big-endian index (8
 *     bytes, put with MDB_APPEND), an 8-byte value.
 *   HashDictionary: key UINT perm[i], value UINT i.  LMDB: key perm[i]
 *     big-endian (8 bytes), an 8-byte value.
 * Every key of every phase is formatted before the clock starts (an array
 * in the order of the operations), so neither engine pays for snprintf
 * or for a cache miss on a key table.
 *
 * Engines: ProtoBase through the public API only: pb_storage_open_file with
 * PB_DURABILITY_SYNC, one database, the collection named "c" opened in each
 * transaction (pb_txn_open_dict / _list / _hdict).  LMDB with default
 * (synchronous) flags and an 8 GiB map, the unnamed database.  Both sit in
 * fresh directories under the data directory (bench_util.h).  The driver
 * below is the same for both: an engine is a table of open, close, begin,
 * end (a durable commit, or the end of a read), put and get.
 *
 * Phases, per workload (defaults in brackets; --quick: 20,000 entries and
 * gets, 5,000 puts, 100 commits, 1 s, a smoke test):
 *   load      N puts (appends) in commits of 50,000; seconds.
 *   get cold  --ops [1M] random existing keys (uniform over the entries,
 *             fixed seed), each checked against its value, in one read
 *             transaction on a freshly reopened store: ProtoBase loads and
 *             decodes nodes as the gets reach them (no node cache survives
 *             a transaction), LMDB faults its map's pages in.  The OS page
 *             cache is warm for both (the files were just written).  ns/op.
 *   get warm  the same keys again in the same read transaction, 3 passes
 *             (the fastest is reported, since this shared machine's noise
 *             only ever slows a pass down).  ns/op.  Also the heap
 *             (mallinfo2) the open read transaction holds after them.
 *   put batch random existing keys get a new value, 1,000 per durable
 *             commit, up to --puts [200,000] puts or S [5] seconds.  puts/s.
 *   put 1     one such put per durable commit, up to --commits [2,000]
 *             commits or S seconds.  commits/s.
 *   put big   (Dictionary) N / 10 such puts in ONE durable commit (at 1M,
 *             100,000 puts into the 1M-entry Dictionary; ProtoBase merges
 *             them into the tree at commit).  puts/s.
 *   live      the live data: ProtoBase compacts (pb_storage_compact) and
 *             gives the bytes of the atoms the root reaches; LMDB's are its
 *             tree's pages (mdb_stat).
 * The List has load, gets and live.  After each put phase the last key put
 * is read back.  Bytes written per commit: the bytes this process passed to
 * write system calls (wchar of /proc/self/io; both engines pwrite their
 * files), and the growth of the files on disk (st_blocks after close, so
 * ProtoBase's preallocated segment tail is cut).
 *
 * Ratios are ProtoBase's time per operation over LMDB's (for a rate, LMDB's
 * rate over ProtoBase's): above 1, ProtoBase is slower.  For bytes: above
 * 1, ProtoBase writes or keeps more.  Nothing is asserted; exits non-zero
 * only when an engine fails or gives a wrong value.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <lmdb.h>
#include <malloc.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "protobase/protobase.h"

#include "bench_util.h"

#define KEY_LEN 16          /* Dictionary keys: "k%015llu" */
#define LOAD_BATCH 50000    /* puts per commit while loading */
#define PUT_BATCH 1000      /* puts per commit in "put batch" */
#define WARM_PASSES 3       /* warm passes; the fastest is reported */
#define GET_SEED 0x6765747300ull
#define PUT_SEED 0x7075747300ull

/* --- options --- */

static uint64_t g_n = 1000000;    /* entries */
static uint64_t g_ops = 1000000;  /* random gets per pass */
static uint64_t g_puts = 200000;  /* random puts, PUT_BATCH per commit */
static uint64_t g_commits = 2000; /* single-put commits */
static double g_secs = 5;         /* bound of each put phase */
static uint64_t *g_perm;          /* key numbers: shuffled 0..g_n-1 */

/* --- operation sequences --- */

typedef enum wkind { W_DICT, W_LIST, W_HASH } wkind;

static const char *const wkind_name[] = {"Dictionary", "List",
                                         "HashDictionary"};

/* The keys of n operations, in the order they run, ready to use. */
typedef struct opseq {
  uint64_t n;    /* operations */
  uint64_t *idx; /* the entry each operation reaches; its loaded value */
  uint64_t *num; /* W_HASH: key number perm[idx]; W_LIST: index idx */
  char *str;     /* W_DICT: KEY_LEN bytes per operation, "k%015llu" */
} opseq;

/* Operation k reaches entry k (seed 0: the load order) or a uniformly
 * random entry (splitmix of seed + k). */
static opseq opseq_make(wkind w, uint64_t n, uint64_t seed) {
  opseq q = {n, malloc((n ? n : 1) * sizeof(uint64_t)),
             malloc((n ? n : 1) * sizeof(uint64_t)), NULL};
  if (w == W_DICT) q.str = malloc((n ? n : 1) * KEY_LEN + 1);
  if (!q.idx || !q.num || (w == W_DICT && !q.str))
    bench_die("malloc", "operation sequence");
  for (uint64_t k = 0; k < n; k++) {
    uint64_t i = seed ? bench_mix(seed + k) % g_n : k;
    q.idx[k] = i;
    q.num[k] = w == W_LIST ? i : g_perm[i];
    if (q.str) /* 16 characters and the NUL, which the next key overwrites */
      snprintf(q.str + k * KEY_LEN, KEY_LEN + 1, "k%015llu",
               (unsigned long long)g_perm[i]);
  }
  return q;
}

static void opseq_free(opseq *q) {
  free(q->idx);
  free(q->num);
  free(q->str);
}

static void be64(uint64_t x, uint8_t out[8]) {
  for (int b = 7; b >= 0; b--, x >>= 8) out[b] = (uint8_t)x;
}

/* --- engines --- */

typedef struct eng eng;

typedef struct eng_ops {
  const char *name;
  void (*open)(eng *e);
  void (*close)(eng *e);
  void (*begin)(eng *e, bool write);
  void (*end)(eng *e, bool write); /* write: a durable commit */
  void (*put)(eng *e, const opseq *q, uint64_t k, uint64_t val);
  uint64_t (*get)(eng *e, const opseq *q, uint64_t k);
  uint64_t (*live)(eng *e); /* bytes of the live data, on an open store */
} eng_ops;

struct eng {
  const eng_ops *ops;
  wkind w;
  char *dir;      /* this engine's and workload's directory */
  pb_storage *st; /* ProtoBase: the storage, its space and the space's */
  pb_space *sp;   /*   one database, */
  pb_db *db;
  pb_txn *txn;    /* the open transaction and its collection */
  pb_dict *d;
  pb_list *l;
  pb_hdict *h;
  MDB_env *env;   /* LMDB: the environment, its database, */
  MDB_dbi dbi;
  MDB_txn *mt;    /* the open transaction */
};

/* --- ProtoBase --- */

static void pbe_check(int rc, const char *what) {
  if (rc != PB_OK) bench_die(what, pb_strerror(rc));
}

static void pbe_open(eng *e) {
  pb_file_options o;
  pb_file_options_init(&o);
  o.durability = PB_DURABILITY_SYNC;
  pbe_check(pb_storage_open_file(e->dir, &o, &e->st), "pb_storage_open_file");
  pbe_check(pb_space_open(e->st, &e->sp), "pb_space_open");
  pbe_check(pb_db_open(e->sp, "bench", PB_CREATE, &e->db), "pb_db_open");
}

static void pbe_close(eng *e) {
  pb_db_close(e->db);
  pbe_check(pb_space_close(e->sp), "pb_space_close");
}

static void pbe_begin(eng *e, bool write) {
  unsigned f = write ? PB_CREATE : 0;
  pbe_check(pb_txn_begin(e->db, write ? 0 : PB_RDONLY, &e->txn),
            "pb_txn_begin");
  int rc = e->w == W_DICT ? pb_txn_open_dict(e->txn, "c", f, &e->d)
         : e->w == W_LIST ? pb_txn_open_list(e->txn, "c", f, &e->l)
                          : pb_txn_open_hdict(e->txn, "c", f, &e->h);
  pbe_check(rc, "pb_txn_open_(dict|list|hdict)");
}

static void pbe_end(eng *e, bool write) {
  if (write) pbe_check(pb_txn_commit(e->txn), "pb_txn_commit");
  else pb_txn_abort(e->txn);
  e->txn = NULL;
}

static void pbe_put(eng *e, const opseq *q, uint64_t k, uint64_t val) {
  pb_value v = {.kind = PB_VALUE_UINT, .as.u = val};
  int rc;
  if (e->w == W_DICT) {
    pb_str key = {q->str + k * KEY_LEN, KEY_LEN};
    rc = pb_dict_put(e->d, key, &v);
  } else if (e->w == W_LIST) {
    rc = pb_list_append(e->l, &v);
  } else {
    pb_value key = {.kind = PB_VALUE_UINT, .as.u = q->num[k]};
    rc = pb_hdict_put(e->h, &key, &v);
  }
  pbe_check(rc, "ProtoBase put");
}

static uint64_t pbe_get(eng *e, const opseq *q, uint64_t k) {
  pb_value v;
  int rc;
  if (e->w == W_DICT) {
    pb_str key = {q->str + k * KEY_LEN, KEY_LEN};
    rc = pb_dict_get(e->d, key, &v);
  } else if (e->w == W_LIST) {
    rc = pb_list_get(e->l, q->num[k], &v);
  } else {
    pb_value key = {.kind = PB_VALUE_UINT, .as.u = q->num[k]};
    rc = pb_hdict_get(e->h, &key, &v);
  }
  pbe_check(rc, "ProtoBase get");
  if (v.kind != PB_VALUE_UINT) bench_die("ProtoBase get", "not a UINT");
  return v.as.u;
}

/* Compacts the store (pb_storage_compact copies what the root reaches) and
 * gives the bytes of those atoms. */
static uint64_t pbe_live(eng *e) {
  pb_compact_stats cs;
  pbe_check(pb_storage_compact(e->st, &cs), "pb_storage_compact");
  return cs.atom_bytes;
}

static const eng_ops pb_engine = {"ProtoBase", pbe_open, pbe_close, pbe_begin,
                                  pbe_end, pbe_put, pbe_get, pbe_live};

/* --- LMDB --- */

static void lme_check(int rc, const char *what) {
  if (rc) bench_die(what, mdb_strerror(rc));
}

static void lme_open(eng *e) {
  lme_check(mdb_env_create(&e->env), "mdb_env_create");
  lme_check(mdb_env_set_mapsize(e->env, (size_t)8 << 30), "mdb mapsize");
  lme_check(mdb_env_open(e->env, e->dir, 0, 0644), "mdb_env_open");
  MDB_txn *t;
  lme_check(mdb_txn_begin(e->env, NULL, 0, &t), "mdb_txn_begin");
  lme_check(mdb_dbi_open(t, NULL, 0, &e->dbi), "mdb_dbi_open");
  lme_check(mdb_txn_commit(t), "mdb_txn_commit");
}

static void lme_close(eng *e) { mdb_env_close(e->env); }

static void lme_begin(eng *e, bool write) {
  lme_check(mdb_txn_begin(e->env, NULL, write ? 0 : MDB_RDONLY, &e->mt),
            "mdb_txn_begin");
}

static void lme_end(eng *e, bool write) {
  if (write) lme_check(mdb_txn_commit(e->mt), "mdb_txn_commit");
  else mdb_txn_abort(e->mt);
  e->mt = NULL;
}

/* The LMDB key of operation k; `buf` holds the 8-byte forms. */
static MDB_val lme_key(const eng *e, const opseq *q, uint64_t k,
                       uint8_t buf[8]) {
  if (e->w == W_DICT) return (MDB_val){KEY_LEN, q->str + k * KEY_LEN};
  be64(q->num[k], buf);
  return (MDB_val){8, buf};
}

static void lme_put(eng *e, const opseq *q, uint64_t k, uint64_t val) {
  uint8_t buf[8];
  MDB_val key = lme_key(e, q, k, buf), v = {sizeof val, &val};
  lme_check(mdb_put(e->mt, e->dbi, &key, &v, e->w == W_LIST ? MDB_APPEND : 0),
            "mdb_put");
}

static uint64_t lme_get(eng *e, const opseq *q, uint64_t k) {
  uint8_t buf[8];
  MDB_val key = lme_key(e, q, k, buf), v;
  lme_check(mdb_get(e->mt, e->dbi, &key, &v), "mdb_get");
  uint64_t val;
  if (v.mv_size != sizeof val) bench_die("mdb_get", "not 8 bytes");
  memcpy(&val, v.mv_data, sizeof val);
  return val;
}

/* The pages of the database's tree (branch, leaf, overflow), in bytes. */
static uint64_t lme_live(eng *e) {
  MDB_stat ms;
  lme_begin(e, false);
  lme_check(mdb_stat(e->mt, e->dbi, &ms), "mdb_stat");
  lme_end(e, false);
  return (uint64_t)(ms.ms_branch_pages + ms.ms_leaf_pages +
                    ms.ms_overflow_pages) * ms.ms_psize;
}

static const eng_ops lm_engine = {"LMDB", lme_open, lme_close, lme_begin,
                                  lme_end, lme_put, lme_get, lme_live};

/* --- phases (the same driver for both engines) --- */

/* What one put phase did. */
typedef struct putfig {
  double rate;      /* puts/s (= commits/s at 1 put per commit) */
  uint64_t commits; /* durable commits made */
  double wbytes;    /* bytes passed to write() per commit */
  double disk;      /* growth of the files on disk per commit */
} putfig;

/* What one engine did in one workload. */
typedef struct figures {
  double load_s;            /* load: seconds */
  uint64_t load_disk;       /* bytes on disk after the load */
  double cold_ns, warm_ns;  /* gets: ns per get, each pass */
  double heap_mib;          /* malloc'd MiB the open read txn holds */
  putfig batch, one;        /* PUT_BATCH and 1 put per commit */
  putfig big;               /* N / 10 puts in one commit (Dictionary) */
  uint64_t live;            /* bytes of live data at the end */
} figures;

/* wchar of /proc/self/io: the bytes this process passed to write
 * system calls (both engines write their files with pwrite). */
static uint64_t io_written(void) {
  FILE *f = fopen("/proc/self/io", "r");
  unsigned long long v = 0;
  char line[128];
  while (f && fgets(line, sizeof line, f))
    if (sscanf(line, "wchar: %llu", &v) == 1) break;
  if (f) fclose(f);
  return v;
}

/* Bytes malloc has handed out and not taken back. */
static double heap_bytes(void) { return (double)mallinfo2().uordblks; }

static void phase_load(eng *e, const opseq *q, figures *f) {
  e->ops->open(e);
  double t0 = bench_now();
  for (uint64_t k = 0; k < q->n;) {
    e->ops->begin(e, true);
    for (uint64_t j = 0; j < LOAD_BATCH && k < q->n; j++, k++)
      e->ops->put(e, q, k, q->idx[k]);
    e->ops->end(e, true);
  }
  f->load_s = bench_now() - t0;
  e->ops->close(e);
  f->load_disk = bench_disk_bytes(e->dir);
  printf("  %-9s load   %9llu entries in %7.3f s (%.0f /s), %.1f MB on "
         "disk\n", e->ops->name, (unsigned long long)q->n, f->load_s,
         (double)q->n / f->load_s, (double)f->load_disk / 1e6);
}

/* One pass of gets; returns ns per get. */
static double get_pass(eng *e, const opseq *q) {
  double t0 = bench_now();
  for (uint64_t k = 0; k < q->n; k++)
    if (e->ops->get(e, q, k) != q->idx[k])
      bench_die(e->ops->name, "a get returned the wrong value");
  return (bench_now() - t0) * 1e9 / (double)(q->n ? q->n : 1);
}

static void phase_gets(eng *e, const opseq *q, figures *f) {
  double h0 = heap_bytes();
  e->ops->open(e);
  e->ops->begin(e, false);
  f->cold_ns = get_pass(e, q);
  f->warm_ns = get_pass(e, q);
  for (int i = 1; i < WARM_PASSES; i++) {
    double ns = get_pass(e, q);
    if (ns < f->warm_ns) f->warm_ns = ns;
  }
  f->heap_mib = (heap_bytes() - h0) / (1024.0 * 1024.0);
  e->ops->end(e, false);
  e->ops->close(e);
  printf("  %-9s get    %9llu random keys: cold %7.0f ns, warm %7.0f ns; "
         "heap %.1f MiB\n", e->ops->name, (unsigned long long)q->n,
         f->cold_ns, f->warm_ns, f->heap_mib);
}

/* Opens the store and measures its live data (ProtoBase compacts). */
static void phase_live(eng *e, figures *f) {
  e->ops->open(e);
  f->live = e->ops->live(e);
  e->ops->close(e);
  printf("  %-9s live   %.1f MB of live data (%.1f bytes per entry), "
         "%.1f MB on disk\n", e->ops->name, (double)f->live / 1e6,
         (double)f->live / (double)g_n,
         (double)bench_disk_bytes(e->dir) / 1e6);
}

/* Reads back the value the last put gave the last key it reached. */
static void check_last(eng *e, const opseq *q, uint64_t k, uint64_t val) {
  e->ops->begin(e, false);
  if (e->ops->get(e, q, k) != val)
    bench_die(e->ops->name, "a put did not stick");
  e->ops->end(e, false);
}

/* Random puts, `per` per durable commit, up to `cap` puts or g_secs; the
 * values (base + k) differ from every value stored before. */
static putfig phase_puts(eng *e, const opseq *q, uint64_t per, uint64_t cap,
                         uint64_t base) {
  uint64_t d0 = bench_disk_bytes(e->dir), k = 0, n = 0;
  if (cap > q->n) cap = q->n;
  e->ops->open(e);
  uint64_t w0 = io_written();
  double t0 = bench_now(), deadline = t0 + g_secs;
  while (k < cap && bench_now() < deadline) {
    e->ops->begin(e, true);
    for (uint64_t j = 0; j < per && k < cap; j++, k++)
      e->ops->put(e, q, k, base + k);
    e->ops->end(e, true);
    n++;
  }
  double secs = bench_now() - t0;
  uint64_t w = io_written() - w0;
  if (k) check_last(e, q, k - 1, base + k - 1);
  e->ops->close(e);
  double grown = (double)bench_disk_bytes(e->dir) - (double)d0;
  putfig r = {secs > 0 ? (double)k / secs : 0, n,
              n ? (double)w / (double)n : 0, n ? grown / (double)n : 0};
  printf("  %-9s put    %9llu random keys, %llu per commit: %llu commits in "
         "%.2f s = %.0f puts/s; per commit %.0f bytes written, %.0f grown\n",
         e->ops->name, (unsigned long long)k, (unsigned long long)per,
         (unsigned long long)n, secs, r.rate, r.wbytes, r.disk);
  return r;
}

static void run_engine(const eng_ops *ops, wkind w, const opseq *load,
                       const opseq *gets, const opseq *puts, figures *f) {
  char tag[64];
  snprintf(tag, sizeof tag, "coll-%s-%s", ops == &pb_engine ? "pb" : "lmdb",
           w == W_DICT ? "dict" : w == W_LIST ? "list" : "hash");
  eng e = {.ops = ops, .w = w, .dir = bench_fresh_dir(tag)};
  phase_load(&e, load, f);
  phase_gets(&e, gets, f);
  if (w != W_LIST) {
    f->batch = phase_puts(&e, puts, PUT_BATCH, g_puts, g_n);
    f->one = phase_puts(&e, puts, 1, g_commits, 2 * g_n);
    if (w == W_DICT)
      f->big = phase_puts(&e, puts, g_n / 10, g_n / 10, 3 * g_n);
  }
  phase_live(&e, f);
  fflush(stdout);
  free(e.dir);
}

/* --- output --- */

/* A row; `ratio` is ProtoBase over LMDB as the row's unit wants. */
static void row(const char *what, const char *unit, double pb, double lm,
                double ratio, int decimals) {
  printf("| %s | %.*f | %.*f | %s | ", what, decimals, pb, decimals, lm, unit);
  if (ratio > 0) printf("%.2fx |\n", ratio);
  else printf("- |\n");
}

static double quot(double a, double b) { return b > 0 ? a / b : 0; }

/* The rows of a put phase: rate, bytes written and grown per commit. */
static void put_rows(const char *what, const char *unit, const putfig *p,
                     const putfig *l) {
  row(what, unit, p->rate, l->rate, quot(l->rate, p->rate), 0);
  row("  bytes written per commit (pwrite)", "bytes", p->wbytes, l->wbytes,
      quot(p->wbytes, l->wbytes), 0);
  row("  file growth per commit", "bytes", p->disk, l->disk,
      quot(p->disk, l->disk), 0);
}

static void table(wkind w, const figures *p, const figures *l) {
  bool list = w == W_LIST;
  double n = (double)g_n;
  printf("\n| %s, %llu entries | ProtoBase | LMDB | unit | PB/LMDB |\n",
         wkind_name[w], (unsigned long long)g_n);
  printf("|---|---|---|---|---|\n");
  row(list ? "append, 50,000 per commit" : "load, 50,000 puts per commit",
      "s", p->load_s, l->load_s, quot(p->load_s, l->load_s), 3);
  row("bytes on disk after the load, per entry", "bytes",
      (double)p->load_disk / n, (double)l->load_disk / n,
      quot((double)p->load_disk, (double)l->load_disk), 1);
  row(list ? "random index get, cold" : "random get, cold", "ns/op",
      p->cold_ns, l->cold_ns, quot(p->cold_ns, l->cold_ns), 0);
  row(list ? "random index get, warm" : "random get, warm", "ns/op",
      p->warm_ns, l->warm_ns, quot(p->warm_ns, l->warm_ns), 0);
  /* No ratio: LMDB reads its memory map (the page cache), not the heap. */
  row("heap held after the passes", "MiB", p->heap_mib, l->heap_mib, 0, 1);
  if (!list) {
    put_rows("random put, 1,000 per durable commit", "puts/s", &p->batch,
             &l->batch);
    put_rows("random put, 1 per durable commit", "commits/s", &p->one,
             &l->one);
    if (w == W_DICT)
      put_rows("random put, N/10 in one durable commit", "puts/s", &p->big,
               &l->big);
  }
  row("live data at the end, per entry", "bytes", (double)p->live / n,
      (double)l->live / n, quot((double)p->live, (double)l->live), 1);
}

/* One workload: both engines, then its table. */
static void workload(wkind w) {
  printf("\n== %s: %llu entries, %llu gets per pass\n", wkind_name[w],
         (unsigned long long)g_n, (unsigned long long)g_ops);
  opseq load = opseq_make(w, g_n, 0);
  opseq gets = opseq_make(w, g_ops, GET_SEED);
  uint64_t np = g_puts > g_commits ? g_puts : g_commits;
  opseq puts = opseq_make(w, w == W_LIST ? 0 : np, PUT_SEED);
  figures p = {0}, l = {0};
  run_engine(&pb_engine, w, &load, &gets, &puts, &p);
  run_engine(&lm_engine, w, &load, &gets, &puts, &l);
  table(w, &p, &l);
  opseq_free(&load);
  opseq_free(&gets);
  opseq_free(&puts);
}

static void usage(void) {
  fprintf(stderr, "usage: bench_collections [--quick] [--dir DIR] [--n N] "
                  "[--ops N] [--puts N] [--commits N] [--secs S]\n");
  exit(2);
}

static void quick(void) {
  g_n = 20000;
  g_ops = 20000;
  g_puts = 5000;
  g_commits = 100;
  g_secs = 1;
}

int main(int argc, char **argv) {
  const char *dir = NULL;
  for (int i = 1; i < argc; i++) {
    if (!strcmp(argv[i], "--quick")) { quick(); continue; }
    if (i + 1 >= argc) usage();
    const char *a = argv[i], *v = argv[++i];
    if (!strcmp(a, "--dir")) dir = v;
    else if (!strcmp(a, "--n")) g_n = strtoull(v, NULL, 10);
    else if (!strcmp(a, "--ops")) g_ops = strtoull(v, NULL, 10);
    else if (!strcmp(a, "--puts")) g_puts = strtoull(v, NULL, 10);
    else if (!strcmp(a, "--commits")) g_commits = strtoull(v, NULL, 10);
    else if (!strcmp(a, "--secs")) g_secs = atof(v);
    else usage();
  }
  if (g_n == 0 || g_ops == 0 || g_secs <= 0) usage();
  bench_set_dir("bench_collections", dir);
  g_perm = bench_shuffled(g_n, 42);
  bench_print_machine();
  int maj, min, pat;
  mdb_version(&maj, &min, &pat);
  printf("engines: ProtoBase %s (file storage, PB_DURABILITY_SYNC), LMDB "
         "%d.%d.%d (default sync flags)\n", PB_VERSION_STRING, maj, min, pat);
  printf("ratio PB/LMDB: ProtoBase's time per op over LMDB's (rates: LMDB's "
         "over ProtoBase's), bytes over bytes; above 1, ProtoBase is slower "
         "or bigger\n");
  double t0 = bench_now();
  workload(W_DICT);
  workload(W_LIST);
  workload(W_HASH);
  struct rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  printf("\ntotal %.1f s; peak RSS %.0f MiB\n", bench_now() - t0,
         (double)ru.ru_maxrss / 1024.0);
  free(g_perm);
  return 0;
}
