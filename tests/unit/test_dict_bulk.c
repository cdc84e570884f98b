/*
 * test_dict_bulk.c - a property test of bulk loads in transactions: the
 * puts into an empty Dictionary that a transaction buffers as a run and
 * builds by sort-and-build (txn/tcoll.h, "The run"), checked against a
 * simple model.  Random transactions on a few Dictionaries (four named
 * ones and one nested in a fifth) do long runs of puts (up to 3,000, over
 * 2,000 keys, so a run overwrites keys; the last put wins) interleaved
 * with gets, removes, counts, iterations both ways and clears that empty
 * a Dictionary again so that the next puts start a new run.  After every
 * step the transaction's reads must match the model; after each commit a
 * new transaction must see the model; some transactions abort.  In some,
 * another thread commits meanwhile to one of the Dictionaries (keys of
 * its own, "~n", that mine never touch), so that the commit rebases the
 * run; both sides' changes must be kept.  Every few rounds the storage is
 * closed and reopened and everything checked again.  Fixed seeds; file
 * storage with the default options (PB_DURABILITY_SYNC).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "protobase/protobase.h"
#include "test_util.h"

#define N_DICTS 5   /* "b0".."b3", and "in" nested in "nest" */
#define N_KEYS 2000 /* mine: "k00000".. */
#define N_BG 8      /* the other thread's: "~0".. (after mine in order) */
#define N_ALL (N_KEYS + N_BG)
#define ROUNDS 30

/* The model: the value id at each key (-1: absent); the value is a string
 * made from the id. */
typedef struct model {
  int32_t v[N_DICTS][N_ALL];
  bool exists[N_DICTS]; /* committed at least once */
} model;

static uint64_t rng_state;
static uint32_t rnd(void) {
  rng_state = rng_state * 6364136223846793005ull + 1442695040888963407ull;
  return (uint32_t)(rng_state >> 33);
}

static void key_of(unsigned k, char *buf) {
  if (k < N_KEYS)
    snprintf(buf, 16, "k%05u", k);
  else
    snprintf(buf, 16, "~%u", k - N_KEYS);
}

/* A string of length id % 37 (empty for some) that names the id. */
static pb_value val_of(int32_t id, char *buf) {
  int n = snprintf(buf, 64, "%d", (int)id);
  size_t len = (size_t)id % 37;
  for (size_t i = (size_t)n; i < len; i++) buf[i] = (char)('a' + i % 26);
  if (len < (size_t)n) len = 0; /* short ones: the empty string */
  pb_value v = {.kind = PB_VALUE_STRING};
  v.as.s = (pb_str){len ? buf : NULL, len};
  return v;
}

static void check_val(const pb_value *got, int32_t id) {
  char buf[64];
  pb_value want = val_of(id, buf);
  assert_int_equal(got->kind, PB_VALUE_STRING);
  assert_int_equal(got->as.s.len, want.as.s.len);
  if (want.as.s.len)
    assert_memory_equal(got->as.s.ptr, want.as.s.ptr, want.as.s.len);
}

static int open_dict(pb_txn *txn, int which, unsigned flags, pb_dict **out) {
  if (which < 4) {
    char name[4] = {'b', (char)('0' + which), 0};
    return pb_txn_open_dict(txn, name, flags, out);
  }
  pb_dict *nest;
  int rc = pb_txn_open_dict(txn, "nest", flags, &nest);
  if (rc != PB_OK) return rc;
  return pb_dict_open_dict(nest, pb_str_from_cstr("in"), flags, out);
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

static void check_count(pb_dict *d, const int32_t *m) {
  uint64_t want = 0, got;
  for (unsigned k = 0; k < N_ALL; k++) want += m[k] >= 0;
  assert_int_equal(pb_dict_count(d, &got), PB_OK);
  assert_int_equal(got, want);
}

/* Iterates the whole Dictionary (keys in order: mine, then "~n"). */
static void check_iter(pb_dict *d, const int32_t *m, bool reverse) {
  pb_dict_iter *it;
  assert_int_equal(pb_dict_iter_open(d, NULL, reverse ? PB_REVERSE : 0, &it),
                   PB_OK);
  for (unsigned i = 0; i < N_ALL; i++) {
    unsigned k = reverse ? N_ALL - 1 - i : i;
    if (m[k] < 0) continue;
    pb_str key;
    pb_value v;
    assert_int_equal(pb_dict_iter_next(it, &key, &v), PB_OK);
    char kb[16];
    key_of(k, kb);
    assert_int_equal(key.len, strlen(kb));
    assert_memory_equal(key.ptr, kb, key.len);
    check_val(&v, m[k]);
  }
  pb_str key;
  pb_value v;
  assert_int_equal(pb_dict_iter_next(it, &key, &v), PB_ENOTFOUND);
  pb_dict_iter_close(it);
}

typedef struct run {
  char *dir;
  pb_storage *st;
  pb_space *sp;
  pb_db *db;
  model committed;
  int32_t next_id;
  int run_rebases; /* commits that rebased a Dictionary loaded by a run */
  uint64_t merges; /* pb_space_stats merges, summed over the opens */
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
  assert_int_equal(pb_txn_begin(r->db, PB_RDONLY, &txn), PB_OK);
  for (int j = 0; j < N_DICTS; j++) {
    pb_dict *d;
    int rc = open_dict(txn, j, 0, &d);
    if (!r->committed.exists[j]) {
      assert_int_equal(rc, PB_ENOTFOUND);
      continue;
    }
    assert_int_equal(rc, PB_OK);
    check_iter(d, r->committed.v[j], false);
    check_count(d, r->committed.v[j]);
  }
  assert_int_equal(pb_txn_commit(txn), PB_OK);
}

/* The other thread: puts or removes a few of its keys in Dictionary j. */
typedef struct bg_job {
  run *r;
  int j;
  int rc;
} bg_job;

static void *bg_main(void *arg) {
  bg_job *b = arg;
  pb_txn *txn;
  b->rc = pb_txn_begin(b->r->db, 0, &txn);
  if (b->rc != PB_OK) return NULL;
  pb_dict *d;
  b->rc = open_dict(txn, b->j, 0, &d);
  int32_t *m = b->r->committed.v[b->j];
  bool clear = rnd() % 2 == 0; /* remove all its keys, or put a few */
  for (unsigned i = 0, n = clear ? N_BG : 1 + rnd() % 3;
       b->rc == PB_OK && i < n; i++) {
    unsigned k = clear ? N_KEYS + i : N_KEYS + rnd() % N_BG;
    char kb[16], vb[64];
    key_of(k, kb);
    if (clear) {
      if (m[k] >= 0) b->rc = pb_dict_remove(d, pb_str_from_cstr(kb));
      m[k] = -1;
    } else {
      int32_t id = b->r->next_id++;
      pb_value v = val_of(id, vb);
      b->rc = pb_dict_put(d, pb_str_from_cstr(kb), &v);
      m[k] = id;
    }
  }
  if (b->rc == PB_OK) b->rc = pb_txn_commit(txn);
  else pb_txn_abort(txn);
  return NULL;
}

static void one_txn(run *r, int round) {
  static model mine; /* this transaction's view */
  mine = r->committed;
  pb_txn *txn;
  assert_int_equal(pb_txn_begin(r->db, 0, &txn), PB_OK);
  int j = (int)(rnd() % N_DICTS);
  pb_dict *d;
  assert_int_equal(open_dict(txn, j, PB_CREATE, &d), PB_OK);
  bool touched[N_DICTS] = {false};
  touched[j] = true;
  bool bg_done = false, ran[N_DICTS] = {false};
  int bg_j = -1;
  int bg_at = rnd() % 2 == 0 ? (int)(rnd() % 10) : -1;
  for (int step = 0; step < 12; step++) {
    if (step == bg_at) { /* another thread commits meanwhile */
      /* mostly the Dictionary this transaction is using */
      int bj = j < 3 && rnd() % 3 ? j : (int)(rnd() % 3);
      if (r->committed.exists[bj]) {
        bg_job b = {r, bj, PB_OK};
        pthread_t th;
        assert_int_equal(pthread_create(&th, NULL, bg_main, &b), 0);
        assert_int_equal(pthread_join(th, NULL), 0);
        assert_int_equal(b.rc, PB_OK);
        bg_done = true;
        bg_j = bj;
      }
    }
    int32_t *m = mine.v[j];
    unsigned p = rnd() % 100;
    if (p < 40) { /* a run of puts, long ones with many overwrites */
      unsigned n = 1 + rnd() % (rnd() % 3 == 0 ? 3000 : 40);
      bool empty = true;
      for (unsigned k = 0; k < N_ALL && empty; k++) empty = m[k] < 0;
      if (empty) ran[j] = true; /* these puts make a run */
      for (unsigned i = 0; i < n; i++) {
        unsigned k = rnd() % N_KEYS;
        char kb[16], vb[64];
        key_of(k, kb);
        int32_t id = r->next_id++;
        pb_value v = val_of(id, vb);
        assert_int_equal(pb_dict_put(d, pb_str_from_cstr(kb), &v), PB_OK);
        m[k] = id;
      }
    } else if (p < 55) {
      for (int i = 0; i < 20; i++) check_get(d, m, rnd() % N_ALL);
    } else if (p < 65) {
      unsigned k = rnd() % N_KEYS;
      char kb[16];
      key_of(k, kb);
      assert_int_equal(pb_dict_remove(d, pb_str_from_cstr(kb)),
                       m[k] < 0 ? PB_ENOTFOUND : PB_OK);
      m[k] = -1;
    } else if (p < 72) {
      check_count(d, m);
    } else if (p < 82) {
      check_iter(d, m, rnd() % 2 == 0);
    } else if (p < 90) { /* empty it (of my keys): the next puts run */
      for (unsigned k = 0; k < N_KEYS; k++) {
        if (m[k] < 0) continue;
        char kb[16];
        key_of(k, kb);
        assert_int_equal(pb_dict_remove(d, pb_str_from_cstr(kb)), PB_OK);
        m[k] = -1;
      }
    } else { /* another Dictionary of the same transaction */
      j = (int)(rnd() % N_DICTS);
      assert_int_equal(open_dict(txn, j, PB_CREATE, &d), PB_OK);
      touched[j] = true;
      check_get(d, mine.v[j], rnd() % N_ALL);
    }
  }
  check_iter(d, mine.v[j], false);
  if (round % 5 == 4) {
    assert_int_equal(pb_txn_abort(txn), PB_OK);
    return;
  }
  assert_int_equal(pb_txn_commit(txn), PB_OK);
  if (bg_done && ran[bg_j]) r->run_rebases++;
  /* Mine for my keys, the committed (the other thread's) for its keys. */
  for (int i = 0; i < N_DICTS; i++) {
    if (!touched[i]) continue;
    r->committed.exists[i] = true;
    memcpy(r->committed.v[i], mine.v[i], N_KEYS * sizeof(int32_t));
  }
}

static void bulk_prop(uint64_t seed) {
  static run r;
  memset(&r, 0, sizeof r);
  memset(r.committed.v, 0xff, sizeof r.committed.v); /* all -1 */
  rng_state = seed;
  r.dir = pb_test_tmpdir();
  run_open(&r);
  for (int round = 0; round < ROUNDS; round++) {
    one_txn(&r, round);
    check_committed(&r);
    if (round % 6 == 5) {
      run_close(&r);
      run_open(&r);
      check_committed(&r);
    }
  }
  run_close(&r);
  pb_test_rmdir(r.dir);
  /* The seeds are chosen so that the interesting cases happen. */
  assert_true(r.merges > 0);
  assert_true(r.run_rebases > 0);
  printf("merges %llu, rebased runs %d\n", (unsigned long long)r.merges,
         r.run_rebases);
}

static void dict_bulk_seed_1(void **state) {
  (void)state;
  bulk_prop(1);
}

static void dict_bulk_seed_2(void **state) {
  (void)state;
  bulk_prop(0x5eed);
}

/* A run into a new Dictionary, read only after the commit and a reopen:
 * every put reaches the file (sort-and-build at flush). */
static void dict_bulk_flush_only(void **state) {
  (void)state;
  run r;
  memset(&r, 0, sizeof r);
  r.dir = pb_test_tmpdir();
  run_open(&r);
  pb_txn *txn;
  pb_dict *d;
  assert_int_equal(pb_txn_begin(r.db, 0, &txn), PB_OK);
  assert_int_equal(pb_txn_open_dict(txn, "big", PB_CREATE, &d), PB_OK);
  enum { N = 20000 };
  for (unsigned i = 0; i < N; i++) { /* keys in a scrambled order */
    unsigned k = (i * 7919u) % N;
    char kb[16], vb[64];
    snprintf(kb, sizeof kb, "k%05u", k);
    pb_value v = val_of((int32_t)k, vb);
    assert_int_equal(pb_dict_put(d, pb_str_from_cstr(kb), &v), PB_OK);
  }
  assert_int_equal(pb_txn_commit(txn), PB_OK);
  run_close(&r);
  run_open(&r);
  assert_int_equal(pb_txn_begin(r.db, PB_RDONLY, &txn), PB_OK);
  assert_int_equal(pb_txn_open_dict(txn, "big", 0, &d), PB_OK);
  uint64_t n;
  assert_int_equal(pb_dict_count(d, &n), PB_OK);
  assert_int_equal(n, N);
  pb_dict_iter *it;
  assert_int_equal(pb_dict_iter_open(d, NULL, 0, &it), PB_OK);
  for (unsigned k = 0; k < N; k++) {
    pb_str key;
    pb_value v;
    char kb[16];
    snprintf(kb, sizeof kb, "k%05u", k);
    assert_int_equal(pb_dict_iter_next(it, &key, &v), PB_OK);
    assert_int_equal(key.len, strlen(kb));
    assert_memory_equal(key.ptr, kb, key.len);
    check_val(&v, (int32_t)k);
  }
  pb_dict_iter_close(it);
  assert_int_equal(pb_txn_commit(txn), PB_OK);
  run_close(&r);
  pb_test_rmdir(r.dir);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(dict_bulk_seed_1),
      cmocka_unit_test(dict_bulk_seed_2),
      cmocka_unit_test(dict_bulk_flush_only),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
