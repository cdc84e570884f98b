/*
 * test_hash_shared.c - HashDictionary (and Set) nodes decoded once are
 * SHARED: every transaction reads them in place from the object cache,
 * and a handle copies a node only on its first write to it
 * (collections/hash_int.h).  Through the public API, on file storage with
 * the defaults a user gets (PB_DURABILITY_SYNC, the default caches):
 *
 *   - reads copy nothing: gets of every key and of absent ones, a count
 *     and a full iteration of a HashDictionary, and membership tests and
 *     an iteration of a Set, in read transactions, leave pb__hash_copies
 *     where it was, while the object cache serves them (its hits grow);
 *     edits that change nothing (a put of the value already there, a
 *     remove of an absent key) copy nothing either; a put that changes a
 *     value copies its path (the counter moves);
 *   - a write after a read in one transaction never changes what another
 *     transaction reads from the same shared nodes: an older reader, a
 *     reader begun before the commit, and (after the commit) a reader of
 *     the new root each read exactly their version;
 *   - two reader threads walk the same shared nodes while the main thread
 *     reads, then rewrites and commits pairs of keys that always change
 *     together: each reader sees both keys of a pair equal in every
 *     transaction (label `threads`: ThreadSanitizer runs it).
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

#include "collections/hash_int.h"
#include "protobase/protobase.h"
#include "support/filedb.h"
#include "test_util.h"

#define N_KEYS 3000u

typedef pb_test_filedb fx; /* support/filedb.h */

static uint64_t copies(void) { return atomic_load(&pb__hash_copies); }

static uint64_t obj_hits(fx *f) {
  pb_cache_stats b, o;
  assert_int_equal(pb_space_cache_stats(f->sp, &b, &o), PB_OK);
  return o.hits;
}

static pb_value K(uint64_t i) {
  return (pb_value){.kind = PB_VALUE_UINT, .as.u = i};
}

/* Puts keys [from, to) with value base + i, and adds them to the Set, in
 * one committed transaction. */
static void put_range(fx *f, unsigned from, unsigned to, uint64_t base) {
  pb_txn *t;
  pb_hdict *h;
  pb_set *s;
  assert_int_equal(pb_txn_begin(f->db, 0, &t), PB_OK);
  assert_int_equal(pb_txn_open_hdict(t, "h", PB_CREATE, &h), PB_OK);
  assert_int_equal(pb_txn_open_set(t, "s", PB_CREATE, &s), PB_OK);
  for (unsigned i = from; i < to; i++) {
    pb_value k = K(i), v = K(base + i);
    assert_int_equal(pb_hdict_put(h, &k, &v), PB_OK);
    assert_int_equal(pb_set_add(s, &k, NULL), PB_OK);
  }
  assert_int_equal(pb_txn_commit(t), PB_OK);
}

static int setup(void **state) {
  fx *f = calloc(1, sizeof *f);
  assert_non_null(f);
  /* the defaults a user gets: PB_DURABILITY_SYNC */
  assert_int_equal(pb_test_filedb_open(f, PB_DURABILITY_SYNC), PB_OK);
  put_range(f, 0, N_KEYS, 0);
  *state = f;
  return 0;
}

static int teardown(void **state) {
  fx *f = *state;
  assert_int_equal(pb_test_filedb_close(f), PB_OK);
  free(f);
  return 0;
}

/* Every key of [0, N_KEYS) reads base + i in `h`, or is absent where
 * `absent_from` <= i; the count and an iteration agree. */
static void expect_all(pb_hdict *h, uint64_t base, unsigned absent_from) {
  for (unsigned i = 0; i < N_KEYS + 50; i++) {
    pb_value k = K(i), v;
    int rc = pb_hdict_get(h, &k, &v);
    if (i >= absent_from) {
      assert_int_equal(rc, PB_ENOTFOUND);
      continue;
    }
    assert_int_equal(rc, PB_OK);
    assert_int_equal(v.as.u, base + i);
  }
  uint64_t c;
  assert_int_equal(pb_hdict_count(h, &c), PB_OK);
  assert_int_equal(c, absent_from < N_KEYS ? absent_from : N_KEYS);
  pb_hdict_iter *it;
  assert_int_equal(pb_hdict_iter_open(h, &it), PB_OK);
  uint64_t n = 0;
  pb_value k, v;
  while (pb_hdict_iter_next(it, &k, &v) == PB_OK) {
    assert_int_equal(v.as.u, base + k.as.u);
    n++;
  }
  pb_hdict_iter_close(it);
  assert_int_equal(n, c);
}

static void reads_copy_nothing(void **state) {
  fx *f = *state;
  for (int round = 0; round < 3; round++) {
    uint64_t c0 = copies(), h0 = obj_hits(f);
    pb_txn *t;
    pb_hdict *h;
    pb_set *s;
    assert_int_equal(pb_txn_begin(f->db, PB_RDONLY, &t), PB_OK);
    assert_int_equal(pb_txn_open_hdict(t, "h", 0, &h), PB_OK);
    expect_all(h, 0, N_KEYS);
    assert_int_equal(pb_txn_open_set(t, "s", 0, &s), PB_OK);
    for (unsigned i = 0; i < N_KEYS + 50; i++) {
      pb_value k = K(i);
      bool in;
      assert_int_equal(pb_set_contains(s, &k, &in), PB_OK);
      assert_int_equal(in, i < N_KEYS);
    }
    pb_set_iter *it;
    assert_int_equal(pb_set_iter_open(s, &it), PB_OK);
    unsigned n = 0;
    pb_value e;
    while (pb_set_iter_next(it, &e) == PB_OK) n++;
    pb_set_iter_close(it);
    assert_int_equal(n, N_KEYS);
    pb_txn_abort(t);
    assert_int_equal(copies(), c0); /* read in place: nothing copied */
    if (round > 0) assert_true(obj_hits(f) > h0); /* from shared objects */
  }
  /* Edits that change nothing copy nothing. */
  uint64_t c0 = copies();
  pb_txn *t;
  pb_hdict *h;
  pb_set *s;
  assert_int_equal(pb_txn_begin(f->db, 0, &t), PB_OK);
  assert_int_equal(pb_txn_open_hdict(t, "h", 0, &h), PB_OK);
  assert_int_equal(pb_txn_open_set(t, "s", 0, &s), PB_OK);
  for (unsigned i = 0; i < N_KEYS; i += 97) {
    pb_value k = K(i), v = K(i), absent = K(N_KEYS + i);
    bool added = true;
    assert_int_equal(pb_hdict_put(h, &k, &v), PB_OK);
    assert_int_equal(pb_hdict_remove(h, &absent), PB_ENOTFOUND);
    assert_int_equal(pb_set_add(s, &k, &added), PB_OK);
    assert_false(added);
    assert_int_equal(pb_set_remove(s, &absent), PB_ENOTFOUND);
  }
  assert_int_equal(pb_txn_commit(t), PB_OK);
  assert_int_equal(copies(), c0);
  /* A write copies the path it changes: the counter does move. */
  put_range(f, 5, 6, 1000);
  assert_true(copies() > c0);
  put_range(f, 5, 6, 0);
}

static void write_after_read_isolated(void **state) {
  fx *f = *state;
  pb_txn *old, *w, *mid, *late;
  pb_hdict *hold, *hw, *hmid, *hlate;
  assert_int_equal(pb_txn_begin(f->db, PB_RDONLY, &old), PB_OK);
  assert_int_equal(pb_txn_open_hdict(old, "h", 0, &hold), PB_OK);
  expect_all(hold, 0, N_KEYS); /* loads the shared nodes */
  assert_int_equal(pb_txn_begin(f->db, 0, &w), PB_OK);
  assert_int_equal(pb_txn_open_hdict(w, "h", 0, &hw), PB_OK);
  expect_all(hw, 0, N_KEYS); /* the same shared nodes, read */
  uint64_t c0 = copies();
  for (unsigned i = 0; i < N_KEYS; i++) {
    pb_value k = K(i), v = K(50000 + i);
    if (i >= N_KEYS / 2) assert_int_equal(pb_hdict_remove(hw, &k), PB_OK);
    else assert_int_equal(pb_hdict_put(hw, &k, &v), PB_OK);
  }
  assert_true(copies() > c0);
  expect_all(hw, 50000, N_KEYS / 2);
  expect_all(hold, 0, N_KEYS);
  assert_int_equal(pb_txn_begin(f->db, PB_RDONLY, &mid), PB_OK);
  assert_int_equal(pb_txn_open_hdict(mid, "h", 0, &hmid), PB_OK);
  expect_all(hmid, 0, N_KEYS);
  assert_int_equal(pb_txn_commit(w), PB_OK);
  expect_all(hold, 0, N_KEYS);
  expect_all(hmid, 0, N_KEYS);
  assert_int_equal(pb_txn_begin(f->db, PB_RDONLY, &late), PB_OK);
  assert_int_equal(pb_txn_open_hdict(late, "h", 0, &hlate), PB_OK);
  expect_all(hlate, 50000, N_KEYS / 2);
  pb_txn_abort(late);
  pb_txn_abort(mid);
  pb_txn_abort(old);
}

/* --- two readers against a writer --- */

#define PAIRS 200u
#define READS 1500u
#define COMMITS 40u

typedef struct reader {
  fx *f;
  unsigned seed;
  unsigned checked; /* pairs seen equal */
} reader;

static void *reader_main(void *arg) {
  reader *r = arg;
  for (unsigned n = 0; n < READS; n++) {
    r->seed = r->seed * 1103515245u + 12345u;
    unsigned i = (r->seed >> 8) % PAIRS;
    pb_txn *t;
    pb_hdict *h;
    if (pb_txn_begin(r->f->db, PB_RDONLY, &t) != PB_OK) return NULL;
    if (pb_txn_open_hdict(t, "h", 0, &h) != PB_OK) {
      pb_txn_abort(t);
      return NULL;
    }
    pb_value ka = K(100000 + i), kb = K(200000 + i), a, b;
    int ra = pb_hdict_get(h, &ka, &a);
    int rb = pb_hdict_get(h, &kb, &b);
    pb_txn_abort(t);
    if (ra != PB_OK || rb != PB_OK || a.as.u != b.as.u) return NULL;
    r->checked++;
  }
  return r;
}

/* Sets every pair to `gen`, after reading them. */
static void write_pairs(fx *f, uint64_t gen) {
  pb_txn *t;
  pb_hdict *h;
  assert_int_equal(pb_txn_begin(f->db, 0, &t), PB_OK);
  assert_int_equal(pb_txn_open_hdict(t, "h", 0, &h), PB_OK);
  for (unsigned i = 0; i < PAIRS; i++) {
    pb_value ka = K(100000 + i), kb = K(200000 + i), v;
    int rc = pb_hdict_get(h, &ka, &v);
    assert_true(rc == PB_OK || rc == PB_ENOTFOUND);
    v = K(gen);
    assert_int_equal(pb_hdict_put(h, &ka, &v), PB_OK);
    assert_int_equal(pb_hdict_put(h, &kb, &v), PB_OK);
  }
  assert_int_equal(pb_txn_commit(t), PB_OK);
}

static void two_readers_one_writer(void **state) {
  fx *f = *state;
  write_pairs(f, 0);
  reader r[2] = {{f, 1, 0}, {f, 2, 0}};
  pthread_t th[2];
  for (int i = 0; i < 2; i++)
    assert_int_equal(pthread_create(&th[i], NULL, reader_main, &r[i]), 0);
  for (unsigned g = 1; g <= COMMITS; g++) write_pairs(f, g);
  for (int i = 0; i < 2; i++) {
    void *res;
    assert_int_equal(pthread_join(th[i], &res), 0);
    assert_ptr_equal(res, &r[i]); /* every pair read equal */
    assert_int_equal(r[i].checked, READS);
  }
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(reads_copy_nothing, setup, teardown),
      cmocka_unit_test_setup_teardown(write_after_read_isolated, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(two_readers_one_writer, setup,
                                      teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
