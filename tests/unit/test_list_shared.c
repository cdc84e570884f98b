/*
 * test_list_shared.c - List nodes decoded once are SHARED: every
 * transaction reads them in place from the object cache, and a handle
 * copies a node only on its first write to it (collections/list_int.h).
 * Through the public API, on file storage with the defaults a user gets
 * (PB_DURABILITY_SYNC, the default caches):
 *
 *   - reads copy nothing: gets at every index, a count, a full iteration
 *     and ranges in read transactions leave pb__list_copies where it was,
 *     while the object cache serves them (its hits grow); a set, an
 *     insert and a remove afterwards copy the paths they change (the
 *     counter moves);
 *   - a write after a read in one transaction never changes what another
 *     transaction reads from the same shared nodes: an older reader, a
 *     reader begun before the commit, and (after the commit) a reader of
 *     the new root each read exactly their version;
 *   - two reader threads walk the same shared nodes while the main thread
 *     reads, then rewrites and commits pairs of values that always change
 *     together: each reader sees both values of a pair equal in every
 *     transaction (label `threads`: ThreadSanitizer runs it).
 *
 * `--tiny` sets the fanout to 4 (deeper trees, many more nodes).
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

#include "collections/list_int.h"
#include "protobase/protobase.h"
#include "support/filedb.h"
#include "test_util.h"

#define N_VALS 3000u

typedef pb_test_filedb fx; /* support/filedb.h */

static uint64_t copies(void) { return atomic_load(&pb__list_copies); }

static uint64_t obj_hits(fx *f) {
  pb_cache_stats b, o;
  assert_int_equal(pb_space_cache_stats(f->sp, &b, &o), PB_OK);
  return o.hits;
}

/* Replaces list "l" with the values base + i for i in [0, n), in one
 * committed transaction (appends). */
static void fill(fx *f, unsigned n, uint64_t base) {
  pb_txn *t;
  pb_list *l;
  assert_int_equal(pb_txn_begin(f->db, 0, &t), PB_OK);
  assert_int_equal(pb_txn_open_list(t, "l", PB_CREATE, &l), PB_OK);
  uint64_t c;
  assert_int_equal(pb_list_count(l, &c), PB_OK);
  while (c > 0) assert_int_equal(pb_list_remove(l, --c), PB_OK);
  for (unsigned i = 0; i < n; i++) {
    pb_value v = {.kind = PB_VALUE_UINT, .as.u = base + i};
    assert_int_equal(pb_list_append(l, &v), PB_OK);
  }
  assert_int_equal(pb_txn_commit(t), PB_OK);
}

static int setup(void **state) {
  fx *f = calloc(1, sizeof *f);
  assert_non_null(f);
  /* the defaults a user gets: PB_DURABILITY_SYNC */
  assert_int_equal(pb_test_filedb_open(f, PB_DURABILITY_SYNC), PB_OK);
  fill(f, N_VALS, 0);
  *state = f;
  return 0;
}

static int teardown(void **state) {
  fx *f = *state;
  assert_int_equal(pb_test_filedb_close(f), PB_OK);
  free(f);
  return 0;
}

/* `l` holds exactly n values, base + i at index i: by get and by an
 * iterator. */
static void expect_all(pb_list *l, uint64_t base, unsigned n) {
  uint64_t c;
  assert_int_equal(pb_list_count(l, &c), PB_OK);
  assert_int_equal(c, n);
  for (unsigned i = 0; i < n; i++) {
    pb_value v;
    assert_int_equal(pb_list_get(l, i, &v), PB_OK);
    assert_int_equal(v.kind, PB_VALUE_UINT);
    assert_int_equal(v.as.u, base + i);
  }
  pb_value v;
  assert_int_equal(pb_list_get(l, n, &v), PB_ERANGE);
  pb_list_iter *it;
  assert_int_equal(pb_list_iter_open(l, 0, UINT64_MAX, &it), PB_OK);
  unsigned k = 0;
  while (pb_list_iter_next(it, &v) == PB_OK) {
    assert_int_equal(v.as.u, base + k);
    k++;
  }
  pb_list_iter_close(it);
  assert_int_equal(k, n);
}

static void reads_copy_nothing(void **state) {
  fx *f = *state;
  /* A first reader fills the object cache; later ones read from it. */
  for (int round = 0; round < 3; round++) {
    uint64_t c0 = copies(), h0 = obj_hits(f);
    pb_txn *t;
    pb_list *l;
    assert_int_equal(pb_txn_begin(f->db, PB_RDONLY, &t), PB_OK);
    assert_int_equal(pb_txn_open_list(t, "l", 0, &l), PB_OK);
    expect_all(l, 0, N_VALS);
    for (unsigned from = 0; from < N_VALS; from += 611) { /* ranges */
      pb_list_iter *it;
      pb_value v;
      assert_int_equal(pb_list_iter_open(l, from, from + 50, &it), PB_OK);
      assert_int_equal(pb_list_iter_next(it, &v), PB_OK);
      assert_int_equal(v.as.u, from);
      pb_list_iter_close(it);
    }
    pb_txn_abort(t);
    assert_int_equal(copies(), c0); /* read in place: nothing copied */
    if (round > 0) assert_true(obj_hits(f) > h0); /* from shared objects */
  }
  /* A write copies the path it changes: the counter does move, for a
   * set, an insert and a remove, each in a fresh transaction. */
  for (int op = 0; op < 3; op++) {
    uint64_t c0 = copies();
    pb_txn *t;
    pb_list *l;
    assert_int_equal(pb_txn_begin(f->db, 0, &t), PB_OK);
    assert_int_equal(pb_txn_open_list(t, "l", 0, &l), PB_OK);
    pb_value v = {.kind = PB_VALUE_UINT, .as.u = 7};
    if (op == 0) assert_int_equal(pb_list_set(l, 1234, &v), PB_OK);
    if (op == 1) assert_int_equal(pb_list_insert(l, 99, &v), PB_OK);
    if (op == 2) assert_int_equal(pb_list_remove(l, 2000), PB_OK);
    assert_true(copies() > c0);
    pb_txn_abort(t);
  }
}

static void write_after_read_isolated(void **state) {
  fx *f = *state;
  pb_txn *old, *w, *mid, *late;
  pb_list *lold, *lw, *lmid, *llate;
  assert_int_equal(pb_txn_begin(f->db, PB_RDONLY, &old), PB_OK);
  assert_int_equal(pb_txn_open_list(old, "l", 0, &lold), PB_OK);
  expect_all(lold, 0, N_VALS); /* loads the shared nodes */
  assert_int_equal(pb_txn_begin(f->db, 0, &w), PB_OK);
  assert_int_equal(pb_txn_open_list(w, "l", 0, &lw), PB_OK);
  expect_all(lw, 0, N_VALS); /* the same shared nodes, read */
  /* Then writes over everything read: new values, the top half gone. */
  uint64_t c0 = copies();
  for (unsigned i = N_VALS; i-- > N_VALS / 2;)
    assert_int_equal(pb_list_remove(lw, i), PB_OK);
  for (unsigned i = 0; i < N_VALS / 2; i++) {
    pb_value v = {.kind = PB_VALUE_UINT, .as.u = 50000 + i};
    assert_int_equal(pb_list_set(lw, i, &v), PB_OK);
  }
  assert_true(copies() > c0);
  expect_all(lw, 50000, N_VALS / 2);
  /* Readers of the old root, before the commit: the old version. */
  expect_all(lold, 0, N_VALS);
  assert_int_equal(pb_txn_begin(f->db, PB_RDONLY, &mid), PB_OK);
  assert_int_equal(pb_txn_open_list(mid, "l", 0, &lmid), PB_OK);
  expect_all(lmid, 0, N_VALS);
  assert_int_equal(pb_txn_commit(w), PB_OK);
  /* And after it. */
  expect_all(lold, 0, N_VALS);
  expect_all(lmid, 0, N_VALS);
  assert_int_equal(pb_txn_begin(f->db, PB_RDONLY, &late), PB_OK);
  assert_int_equal(pb_txn_open_list(late, "l", 0, &llate), PB_OK);
  expect_all(llate, 50000, N_VALS / 2);
  pb_txn_abort(late);
  pb_txn_abort(mid);
  pb_txn_abort(old);
}

/* Inserts at the front after reading, in one transaction, so that every
 * level splits and passes entries to siblings that are still shared: the
 * list reads right in the transaction and after the commit. */
static void inserts_after_read(void **state) {
  fx *f = *state;
  pb_txn *t;
  pb_list *l;
  assert_int_equal(pb_txn_begin(f->db, 0, &t), PB_OK);
  assert_int_equal(pb_txn_open_list(t, "l", 0, &l), PB_OK);
  expect_all(l, 0, N_VALS);
  for (unsigned i = 0; i < 500; i++) {
    pb_value v = {.kind = PB_VALUE_UINT, .as.u = 1000000 + i};
    assert_int_equal(pb_list_insert(l, 0, &v), PB_OK);
  }
  for (unsigned i = 0; i < 300; i++) /* and merges: remove from the middle */
    assert_int_equal(pb_list_remove(l, 500 + 1000), PB_OK);
  assert_int_equal(pb_txn_commit(t), PB_OK);
  for (int round = 0; round < 2; round++) {
    assert_int_equal(pb_txn_begin(f->db, PB_RDONLY, &t), PB_OK);
    assert_int_equal(pb_txn_open_list(t, "l", 0, &l), PB_OK);
    uint64_t c;
    assert_int_equal(pb_list_count(l, &c), PB_OK);
    assert_int_equal(c, N_VALS + 500 - 300);
    for (unsigned i = 0; i < c; i++) {
      pb_value v;
      assert_int_equal(pb_list_get(l, i, &v), PB_OK);
      uint64_t want = i < 500    ? 1000000 + 499 - i
                      : i < 1500 ? i - 500
                                 : i - 500 + 300;
      assert_int_equal(v.as.u, want);
    }
    pb_txn_abort(t);
  }
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
    pb_list *l;
    if (pb_txn_begin(r->f->db, PB_RDONLY, &t) != PB_OK) return NULL;
    if (pb_txn_open_list(t, "l", 0, &l) != PB_OK) {
      pb_txn_abort(t);
      return NULL;
    }
    pb_value a, b;
    int ra = pb_list_get(l, i, &a);
    int rb = pb_list_get(l, 2 * PAIRS - 1 - i, &b);
    pb_txn_abort(t);
    if (ra != PB_OK || rb != PB_OK || a.as.u != b.as.u) return NULL;
    r->checked++;
  }
  return r;
}

/* Sets both values of every pair (index i and 2 * PAIRS - 1 - i) to
 * `gen`, after reading them (so the shared nodes are loaded in the
 * writer's handle before its writes copy them). */
static void write_pairs(fx *f, uint64_t gen) {
  pb_txn *t;
  pb_list *l;
  assert_int_equal(pb_txn_begin(f->db, 0, &t), PB_OK);
  assert_int_equal(pb_txn_open_list(t, "l", 0, &l), PB_OK);
  for (unsigned i = 0; i < PAIRS; i++) {
    pb_value v;
    assert_int_equal(pb_list_get(l, i, &v), PB_OK);
    v = (pb_value){.kind = PB_VALUE_UINT, .as.u = gen};
    assert_int_equal(pb_list_set(l, i, &v), PB_OK);
    assert_int_equal(pb_list_set(l, 2 * PAIRS - 1 - i, &v), PB_OK);
  }
  assert_int_equal(pb_txn_commit(t), PB_OK);
}

static void two_readers_one_writer(void **state) {
  fx *f = *state;
  fill(f, 2 * PAIRS, 0);
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

int main(int argc, char **argv) {
  for (int i = 1; i < argc; i++)
    if (!strcmp(argv[i], "--tiny")) pb__coll_fanout = 4;
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(reads_copy_nothing, setup, teardown),
      cmocka_unit_test_setup_teardown(write_after_read_isolated, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(inserts_after_read, setup, teardown),
      cmocka_unit_test_setup_teardown(two_readers_one_writer, setup,
                                      teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
