/*
 * test_dict_merge.c - a property test of puts into a NON-empty Dictionary
 * in one transaction, which the transaction buffers and merges into the
 * tree in one pass (txn/tcoll.h, "The run"; collections/dict_merge.c).
 * Random transactions over 3,000 keys mix puts (new keys, replaced values,
 * and puts of the value already there), removes of present and absent
 * keys, gets, counts and whole iterations, checked against a model after
 * every step; the tree is checked with pb__dict_verify(strict) inside the
 * transaction now and then and after every commit.  Some transactions
 * abort.  In some, another thread commits its own keys to the same
 * Dictionary first, so the commit rebases the merged run.  Every few
 * rounds the storage is closed and reopened and everything is checked
 * again.  File storage with the defaults (PB_DURABILITY_SYNC).  `--tiny`
 * runs with fanout 4 (deep trees, many splits).
 */
#include <setjmp.h>
#include <stdatomic.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "collections/coll.h"
#include "collections/dict_int.h"
#include "protobase/protobase.h"
#include "test_util.h"
#include "txn/tcoll.h"

#define N_KEYS 3000 /* mine: "m00000".. */
#define N_BG 8      /* the other thread's: "~0".. (after mine in order) */
#define N_ALL (N_KEYS + N_BG)
#define ROUNDS 36

static uint64_t rng_state;
static uint32_t rnd(void) {
  rng_state = rng_state * 6364136223846793005ull + 1442695040888963407ull;
  return (uint32_t)(rng_state >> 33);
}

static void key_of(unsigned k, char *buf) {
  if (k < N_KEYS) snprintf(buf, 16, "m%05u", k);
  else snprintf(buf, 16, "~%u", k - N_KEYS);
}

/* Value id -> a value of one of three kinds (buf holds the payload). */
static pb_value val_of(int32_t id, char *buf) {
  int n = snprintf(buf, 64, "value-%d-%.*s", id, (int)(id % 37),
                   "abcdefghijklmnopqrstuvwxyz0123456789xyz");
  switch (id % 3) {
  case 0: return (pb_value){.kind = PB_VALUE_UINT, .as.u = (uint64_t)id};
  case 1: return (pb_value){.kind = PB_VALUE_STRING,
                            .as.s = {buf, (size_t)n}};
  default: return (pb_value){.kind = PB_VALUE_BYTES,
                             .as.bytes = {(const uint8_t *)buf, (size_t)n}};
  }
}

static void check_val(const pb_value *got, int32_t id) {
  char buf[64];
  pb_value want = val_of(id, buf);
  assert_int_equal(got->kind, want.kind);
  if (want.kind == PB_VALUE_UINT) {
    assert_int_equal(got->as.u, want.as.u);
  } else if (want.kind == PB_VALUE_STRING) {
    assert_int_equal(got->as.s.len, want.as.s.len);
    assert_memory_equal(got->as.s.ptr, want.as.s.ptr, want.as.s.len);
  } else {
    assert_int_equal(got->as.bytes.len, want.as.bytes.len);
    assert_memory_equal(got->as.bytes.ptr, want.as.bytes.ptr,
                        want.as.bytes.len);
  }
}

static void check_get(pb_dict *d, const int32_t *m, unsigned k) {
  char kb[16];
  key_of(k, kb);
  pb_value v;
  int rc = pb_dict_get(d, pb_str_from_cstr(kb), &v);
  if (m[k] < 0) {
    assert_int_equal(rc, PB_ENOTFOUND);
  } else {
    assert_int_equal(rc, PB_OK);
    check_val(&v, m[k]);
  }
}

static void check_all(pb_dict *d, const int32_t *m) {
  uint64_t want = 0, n;
  for (unsigned k = 0; k < N_ALL; k++) want += m[k] >= 0;
  assert_int_equal(pb_dict_count(d, &n), PB_OK);
  assert_int_equal(n, want);
  pb_dict_iter *it;
  assert_int_equal(pb_dict_iter_open(d, NULL, 0, &it), PB_OK);
  unsigned k = 0; /* keys are in key order by number, bg keys last */
  pb_str key;
  pb_value v;
  int rc;
  while ((rc = pb_dict_iter_next(it, &key, &v)) == PB_OK) {
    while (k < N_ALL && m[k] < 0) k++;
    assert_true(k < N_ALL);
    char kb[16];
    key_of(k, kb);
    assert_int_equal(key.len, strlen(kb));
    assert_memory_equal(key.ptr, kb, key.len);
    check_val(&v, m[k]);
    k++;
  }
  assert_int_equal(rc, PB_ENOTFOUND);
  while (k < N_ALL && m[k] < 0) k++;
  assert_int_equal(k, N_ALL);
  pb_dict_iter_close(it);
}

/* The tree inside the transaction obeys every rule, strictly. */
static void verify(pb_dict *d) {
  uint64_t n;
  assert_int_equal(pb_dict_count(d, &n), PB_OK); /* settles the run */
  pb__tcoll *t = (pb__tcoll *)(void *)d;
  int vrc = pb__dict_verify(t->c.d, true);
  if (vrc) fprintf(stderr, "verify: %s\n", pb_errdetail());
  assert_int_equal(vrc, PB_OK);
}

typedef struct run {
  char *dir;
  pb_storage *st;
  pb_space *sp;
  pb_db *db;
  int32_t committed[N_ALL];
  int32_t next_id;
  uint64_t merges; /* pb_space_stats merges, summed over the opens */
  unsigned puts_merged; /* puts into a non-empty Dictionary */
} run;

static void run_open(run *r) {
  pb_file_options o;
  pb_file_options_init(&o); /* the defaults: PB_DURABILITY_SYNC */
  assert_int_equal(pb_storage_open_file(r->dir, &o, &r->st), PB_OK);
  assert_int_equal(pb_space_open(r->st, &r->sp), PB_OK);
  assert_int_equal(pb_db_open(r->sp, "main", PB_CREATE, &r->db), PB_OK);
}

static void run_close(run *r) {
  pb_space_stats st;
  assert_int_equal(pb_space_stats_get(r->sp, &st), PB_OK);
  r->merges += st.merges;
  assert_int_equal(pb_db_close(r->db), PB_OK);
  assert_int_equal(pb_space_close(r->sp), PB_OK);
}

static void check_committed(run *r) {
  pb_txn *txn;
  pb_dict *d;
  assert_int_equal(pb_txn_begin(r->db, PB_RDONLY, &txn), PB_OK);
  assert_int_equal(pb_txn_open_dict(txn, "d", 0, &d), PB_OK);
  check_all(d, r->committed);
  verify(d);
  assert_int_equal(pb_txn_commit(txn), PB_OK);
}

/* The other thread: puts or removes one of its keys. */
typedef struct bg_job {
  run *r;
  int rc;
} bg_job;

static void *bg_main(void *arg) {
  bg_job *b = arg;
  pb_txn *txn;
  pb_dict *d;
  b->rc = pb_txn_begin(b->r->db, 0, &txn);
  if (b->rc != PB_OK) return NULL;
  b->rc = pb_txn_open_dict(txn, "d", 0, &d);
  unsigned k = N_KEYS + rnd() % N_BG;
  char kb[16], vb[64];
  key_of(k, kb);
  int32_t *m = b->r->committed;
  if (b->rc == PB_OK && m[k] >= 0 && rnd() % 3 == 0) {
    b->rc = pb_dict_remove(d, pb_str_from_cstr(kb));
    m[k] = -1;
  } else if (b->rc == PB_OK) {
    int32_t id = b->r->next_id++;
    pb_value v = val_of(id, vb);
    b->rc = pb_dict_put(d, pb_str_from_cstr(kb), &v);
    m[k] = id;
  }
  if (b->rc == PB_OK) b->rc = pb_txn_commit(txn);
  else pb_txn_abort(txn);
  return NULL;
}

static void put(run *r, pb_dict *d, int32_t *m, unsigned k, bool same) {
  char kb[16], vb[64];
  key_of(k, kb);
  int32_t id = same && m[k] >= 0 ? m[k] : r->next_id++;
  pb_value v = val_of(id, vb);
  assert_int_equal(pb_dict_put(d, pb_str_from_cstr(kb), &v), PB_OK);
  m[k] = id;
}

static void one_txn(run *r, int round) {
  static int32_t mine[N_ALL];
  memcpy(mine, r->committed, sizeof mine);
  pb_txn *txn;
  pb_dict *d;
  assert_int_equal(pb_txn_begin(r->db, 0, &txn), PB_OK);
  assert_int_equal(pb_txn_open_dict(txn, "d", PB_CREATE, &d), PB_OK);
  bool bg = rnd() % 3 == 0;
  int bg_at = bg ? (int)(rnd() % 8) : -1;
  for (int step = 0; step < 8; step++) {
    if (step == bg_at) { /* another thread commits meanwhile */
      bg_job b = {r, PB_OK};
      pthread_t th;
      assert_int_equal(pthread_create(&th, NULL, bg_main, &b), 0);
      assert_int_equal(pthread_join(th, NULL), 0);
      assert_int_equal(b.rc, PB_OK);
    }
    unsigned n = 1 + rnd() % (rnd() % 4 == 0 ? 1500 : 60);
    unsigned p_put = 40 + rnd() % 55; /* puts in percent, per batch */
    for (unsigned i = 0; i < n; i++) {
      unsigned p = rnd() % 100, k = rnd() % N_KEYS;
      bool empty_before = true;
      if (p < p_put) {
        for (unsigned j = 0; j < N_ALL && empty_before; j++)
          empty_before = mine[j] < 0;
        if (!empty_before) r->puts_merged++;
        put(r, d, mine, k, rnd() % 8 == 0);
      } else if (p < p_put + (100 - p_put) / 2) {
        char kb[16];
        key_of(k, kb);
        assert_int_equal(pb_dict_remove(d, pb_str_from_cstr(kb)),
                         mine[k] < 0 ? PB_ENOTFOUND : PB_OK);
        mine[k] = -1;
      } else {
        check_get(d, mine, rnd() % N_ALL);
      }
    }
    if (rnd() % 4 == 0) check_all(d, mine);
    if (rnd() % 6 == 0) verify(d);
  }
  check_all(d, mine);
  if (round % 6 == 5) {
    assert_int_equal(pb_txn_abort(txn), PB_OK);
    return;
  }
  assert_int_equal(pb_txn_commit(txn), PB_OK);
  /* Mine for my keys, the committed (the other thread's) for its keys. */
  memcpy(r->committed, mine, N_KEYS * sizeof(int32_t));
}

/* Fills the dictionary with `n` random keys in one transaction (the run
 * into an empty Dictionary). */
static void first_load(run *r, unsigned n) {
  pb_txn *txn;
  pb_dict *d;
  assert_int_equal(pb_txn_begin(r->db, 0, &txn), PB_OK);
  assert_int_equal(pb_txn_open_dict(txn, "d", PB_CREATE, &d), PB_OK);
  for (unsigned i = 0; i < n; i++) put(r, d, r->committed, rnd() % N_KEYS,
                                       false);
  assert_int_equal(pb_txn_commit(txn), PB_OK);
}

static void merge_prop(uint64_t seed, unsigned first) {
  static run r;
  memset(&r, 0, sizeof r);
  memset(r.committed, 0xff, sizeof r.committed); /* all -1 */
  rng_state = seed;
  r.dir = pb_test_tmpdir();
  run_open(&r);
  first_load(&r, first);
  check_committed(&r);
  for (int round = 0; round < ROUNDS; round++) {
    one_txn(&r, round);
    check_committed(&r);
    if (round % 7 == 6) {
      run_close(&r);
      run_open(&r);
      check_committed(&r);
    }
  }
  run_close(&r);
  pb_test_rmdir(r.dir);
  /* The seeds are chosen so that the interesting cases happen. */
  assert_true(r.merges > 0);
  assert_true(r.puts_merged > 1000);
  printf("seed %llu: merges %llu, puts into a non-empty dictionary %u\n",
         (unsigned long long)seed, (unsigned long long)r.merges,
         r.puts_merged);
}

static void merge_from_one_key(void **state) {
  (void)state;
  merge_prop(1, 1);
}

static void merge_into_a_full_tree(void **state) {
  (void)state;
  merge_prop(0x5eed, 2500);
}

/* Puts of the values already there change nothing: the handle stays
 * clean and the commit writes nothing.  Then a run that adds many keys
 * between the present ones grows the tree, with only the changed leaves
 * rewritten. */
static void equal_puts_change_nothing(void **state) {
  (void)state;
  static run r;
  memset(&r, 0, sizeof r);
  memset(r.committed, 0xff, sizeof r.committed);
  rng_state = 7;
  r.dir = pb_test_tmpdir();
  run_open(&r);
  first_load(&r, 2000);
  pb_txn *txn;
  pb_dict *d;
  assert_int_equal(pb_txn_begin(r.db, 0, &txn), PB_OK);
  assert_int_equal(pb_txn_open_dict(txn, "d", 0, &d), PB_OK);
  for (unsigned k = 0; k < N_KEYS; k++)
    if (r.committed[k] >= 0) put(&r, d, r.committed, k, true);
  uint64_t n;
  assert_int_equal(pb_dict_count(d, &n), PB_OK); /* settles */
  pb__tcoll *t = (pb__tcoll *)(void *)d;
  assert_false(pb__dict_dirty(t->c.d));
  check_all(d, r.committed);
  /* one new key: the path to one leaf is rewritten, nothing else */
  unsigned k = 0, h;
  while (r.committed[k] >= 0) k++;
  assert_int_equal(pb__dict_height(t->c.d, &h), PB_OK);
  uint64_t copies = atomic_load(&pb__dict_copies);
  put(&r, d, r.committed, k, false);
  verify(d);
  assert_true(pb__dict_dirty(t->c.d));
  assert_true(atomic_load(&pb__dict_copies) - copies <= h);
  assert_int_equal(pb_txn_commit(txn), PB_OK);
  check_committed(&r);
  run_close(&r);
  pb_test_rmdir(r.dir);
}

/* Overwrites every occurrence of `from` with `to` (same length) in the
 * files of `dir`.  Returns how many it changed. */
static int patch_files(const char *dir, const char *from, const char *to) {
  size_t n = strlen(from);
  assert_int_equal(strlen(to), n);
  DIR *dp = opendir(dir);
  assert_non_null(dp);
  int hits = 0;
  struct dirent *de;
  while ((de = readdir(dp)) != NULL) {
    char path[4300];
    snprintf(path, sizeof path, "%s/%s", dir, de->d_name);
    struct stat sb;
    if (stat(path, &sb) != 0 || !S_ISREG(sb.st_mode)) continue;
    int fd = open(path, O_RDWR);
    assert_true(fd >= 0);
    uint8_t *data = malloc((size_t)sb.st_size + 1);
    assert_non_null(data);
    assert_int_equal(pread(fd, data, (size_t)sb.st_size, 0), sb.st_size);
    for (off_t i = 0; i + (off_t)n <= sb.st_size; i++) {
      if (memcmp(data + i, from, n) != 0) continue;
      assert_int_equal(pwrite(fd, to, n, i), (ssize_t)n);
      hits++;
    }
    free(data);
    close(fd);
  }
  closedir(dp);
  return hits;
}

/* A merge that reaches a damaged leaf midway fails: the read that settles
 * the run (a count; a get reads the pending puts and the tree as they are,
 * without settling) gives PB_ECORRUPT, so does every later read, change
 * and the commit, which publishes nothing; the handle (holding part of
 * the merge) is freed without a leak (ASan). */
static void damaged_leaf_fails_the_merge(void **state) {
  (void)state;
  char *dir = pb_test_tmpdir();
  pb_storage *st;
  pb_space *sp;
  pb_db *db;
  pb_space_options o;
  memset(&o, 0, sizeof o); /* caches off: reads see the patched bytes */
  assert_int_equal(pb_storage_open_file(dir, NULL, &st), PB_OK);
  assert_int_equal(pb_space_open_ex(st, &o, &sp), PB_OK);
  assert_int_equal(pb_db_open(sp, "main", PB_CREATE, &db), PB_OK);
  pb_txn *txn;
  pb_dict *d;
  assert_int_equal(pb_txn_begin(db, 0, &txn), PB_OK);
  assert_int_equal(pb_txn_open_dict(txn, "d", PB_CREATE, &d), PB_OK);
  char kb[16];
  pb_value v = {.kind = PB_VALUE_UINT, .as.u = 1}, got;
  for (unsigned k = 0; k < 2000; k += 2) {
    key_of(k, kb);
    assert_int_equal(pb_dict_put(d, pb_str_from_cstr(kb), &v), PB_OK);
  }
  assert_int_equal(pb_txn_commit(txn), PB_OK);
  /* "m01200" becomes "a01200": that leaf no longer decodes */
  assert_true(patch_files(dir, "m01200", "a01200") >= 1); /* (fanout 4:
                                                          also a separator) */
  assert_int_equal(pb_txn_begin(db, 0, &txn), PB_OK);
  assert_int_equal(pb_txn_open_dict(txn, "d", 0, &d), PB_OK);
  for (unsigned k = 1; k < 2000; k += 2) { /* every leaf gets a new key */
    key_of(k, kb);
    assert_int_equal(pb_dict_put(d, pb_str_from_cstr(kb), &v), PB_OK);
  }
  key_of(0, kb);
  uint64_t n;
  assert_int_equal(pb_dict_count(d, &n), PB_ECORRUPT);
  assert_int_equal(pb_dict_get(d, pb_str_from_cstr(kb), &got), PB_ECORRUPT);
  assert_int_equal(pb_dict_get(d, pb_str_from_cstr(kb), &got), PB_ECORRUPT);
  assert_int_equal(pb_dict_remove(d, pb_str_from_cstr(kb)), PB_ECORRUPT);
  assert_int_equal(pb_txn_commit(txn), PB_ECORRUPT);
  /* Nothing of it was published: a key it put is not there. */
  assert_int_equal(pb_txn_begin(db, PB_RDONLY, &txn), PB_OK);
  assert_int_equal(pb_txn_open_dict(txn, "d", 0, &d), PB_OK);
  key_of(1, kb);
  assert_int_equal(pb_dict_get(d, pb_str_from_cstr(kb), &got), PB_ENOTFOUND);
  assert_int_equal(pb_txn_commit(txn), PB_OK);
  pb_db_close(db);
  assert_int_equal(pb_space_close(sp), PB_OK);
  pb_test_rmdir(dir);
}

int main(int argc, char **argv) {
  for (int i = 1; i < argc; i++)
    if (!strcmp(argv[i], "--tiny")) pb__coll_fanout = 4;
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(merge_from_one_key),
      cmocka_unit_test(merge_into_a_full_tree),
      cmocka_unit_test(equal_puts_change_nothing),
      cmocka_unit_test(damaged_leaf_fails_the_merge),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
