/*
 * test_dict_shared.c - Dictionary nodes decoded once are SHARED: every
 * transaction reads them in place from the object cache, and a handle
 * copies a node only on its first write to it (collections/dict_int.h).
 * Through the public API, on file storage with the defaults a user gets
 * (PB_DURABILITY_SYNC, the default caches):
 *
 *   - reads copy nothing: gets, misses and a full iteration in read
 *     transactions leave pb__dict_copies where it was, while the object
 *     cache serves them (its hits grow); edits that change nothing (a put
 *     of the value already there, a remove of an absent key) copy nothing
 *     either; a put afterwards copies the path it changes (the counter
 *     can move);
 *   - a write after a read in one transaction never changes what another
 *     transaction reads from the same shared nodes: an older reader, a
 *     reader begun before the commit, and (after the commit) a reader of
 *     the new root each read exactly their version;
 *   - the prefix arrays search keys that are alike in long runs, prefixes
 *     of each other, tied in their 8 prefix bytes, or ending in zero bytes
 *     (which meet the prefixes' zero padding): every stored key is
 *     found, every key between two stored ones is not, and a range starts
 *     at the right key (decoded, then from the cache);
 *   - two reader threads walk the same shared nodes while the main thread
 *     reads, then rewrites and commits pairs of keys that always change
 *     together: each reader sees both keys of a pair equal in every
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

#include "collections/dict_int.h"
#include "protobase/protobase.h"
#include "support/filedb.h"
#include "test_util.h"

#define N_KEYS 3000u

typedef pb_test_filedb fx; /* support/filedb.h */

static pb_str key_of(unsigned i, char buf[32]) {
  int n = snprintf(buf, 32, "key%08u", i);
  return (pb_str){buf, (size_t)n};
}

static uint64_t copies(void) {
  return atomic_load(&pb__dict_copies);
}

static uint64_t obj_loads(fx *f) {
  pb_cache_stats b, o;
  assert_int_equal(pb_space_cache_stats(f->sp, &b, &o), PB_OK);
  return o.loads;
}

/* Puts keys [from, to) with value base + i, in one committed transaction. */
static void put_range(fx *f, unsigned from, unsigned to, uint64_t base) {
  pb_txn *t;
  pb_dict *d;
  assert_int_equal(pb_txn_begin(f->db, 0, &t), PB_OK);
  assert_int_equal(pb_txn_open_dict(t, "d", PB_CREATE, &d), PB_OK);
  for (unsigned i = from; i < to; i++) {
    char b[32];
    pb_value v = {.kind = PB_VALUE_UINT, .as.u = base + i};
    assert_int_equal(pb_dict_put(d, key_of(i, b), &v), PB_OK);
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

/* Every key of [0, N_KEYS) reads base + i in `d`, or is absent where
 * `absent_from` <= i. */
static void expect_all(pb_dict *d, uint64_t base, unsigned absent_from) {
  for (unsigned i = 0; i < N_KEYS; i++) {
    char b[32];
    pb_value v;
    int rc = pb_dict_get(d, key_of(i, b), &v);
    if (i >= absent_from) {
      assert_int_equal(rc, PB_ENOTFOUND);
      continue;
    }
    assert_int_equal(rc, PB_OK);
    assert_int_equal(v.kind, PB_VALUE_UINT);
    assert_int_equal(v.as.u, base + i);
  }
}

static void reads_copy_nothing(void **state) {
  fx *f = *state;
  /* A first reader fills the object cache; later ones read from it. */
  for (int round = 0; round < 3; round++) {
    uint64_t c0 = copies(), l0 = obj_loads(f);
    pb_txn *t;
    pb_dict *d;
    assert_int_equal(pb_txn_begin(f->db, PB_RDONLY, &t), PB_OK);
    assert_int_equal(pb_txn_open_dict(t, "d", 0, &d), PB_OK);
    expect_all(d, 0, N_KEYS);
    char b[32];
    pb_value v;
    assert_int_equal(pb_dict_get(d, key_of(N_KEYS + 7, b), &v), PB_ENOTFOUND);
    pb_dict_iter *it;
    assert_int_equal(pb_dict_iter_open(d, NULL, 0, &it), PB_OK);
    unsigned n = 0;
    pb_str k;
    while (pb_dict_iter_next(it, &k, &v) == PB_OK) {
      assert_true(k.len == 11 && v.as.u == n);
      n++;
    }
    pb_dict_iter_close(it);
    assert_int_equal(n, N_KEYS);
    pb_txn_abort(t);
    assert_int_equal(copies(), c0); /* read in place: nothing copied */
    /* Later readers read the first one's shared objects: nothing loaded. */
    if (round > 0) assert_int_equal(obj_loads(f), l0);
  }
  /* Edits that change nothing copy nothing: a remove of an absent key, a
   * put of the value already there. */
  uint64_t c0 = copies();
  pb_txn *t;
  pb_dict *d;
  assert_int_equal(pb_txn_begin(f->db, 0, &t), PB_OK);
  assert_int_equal(pb_txn_open_dict(t, "d", 0, &d), PB_OK);
  for (unsigned i = 0; i < N_KEYS; i += 97) {
    char b[32];
    pb_value v = {.kind = PB_VALUE_UINT, .as.u = i};
    assert_int_equal(pb_dict_put(d, key_of(i, b), &v), PB_OK);
    assert_int_equal(pb_dict_remove(d, key_of(N_KEYS + i, b)), PB_ENOTFOUND);
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
  pb_dict *dold, *dw, *dmid, *dlate;
  assert_int_equal(pb_txn_begin(f->db, PB_RDONLY, &old), PB_OK);
  assert_int_equal(pb_txn_open_dict(old, "d", 0, &dold), PB_OK);
  expect_all(dold, 0, N_KEYS); /* loads the shared nodes */
  assert_int_equal(pb_txn_begin(f->db, 0, &w), PB_OK);
  assert_int_equal(pb_txn_open_dict(w, "d", 0, &dw), PB_OK);
  expect_all(dw, 0, N_KEYS); /* the same shared nodes, read */
  /* Then writes over everything read: new values, the top half gone. */
  uint64_t c0 = copies();
  for (unsigned i = 0; i < N_KEYS; i++) {
    char b[32];
    if (i >= N_KEYS / 2) {
      assert_int_equal(pb_dict_remove(dw, key_of(i, b)), PB_OK);
      continue;
    }
    pb_value v = {.kind = PB_VALUE_UINT, .as.u = 50000 + i};
    assert_int_equal(pb_dict_put(dw, key_of(i, b), &v), PB_OK);
  }
  assert_true(copies() > c0);
  expect_all(dw, 50000, N_KEYS / 2);
  /* Readers of the old root, before the commit: the old version. */
  expect_all(dold, 0, N_KEYS);
  assert_int_equal(pb_txn_begin(f->db, PB_RDONLY, &mid), PB_OK);
  assert_int_equal(pb_txn_open_dict(mid, "d", 0, &dmid), PB_OK);
  expect_all(dmid, 0, N_KEYS);
  assert_int_equal(pb_txn_commit(w), PB_OK);
  /* And after it. */
  expect_all(dold, 0, N_KEYS);
  expect_all(dmid, 0, N_KEYS);
  assert_int_equal(pb_txn_begin(f->db, PB_RDONLY, &late), PB_OK);
  assert_int_equal(pb_txn_open_dict(late, "d", 0, &dlate), PB_OK);
  expect_all(dlate, 50000, N_KEYS / 2);
  pb_txn_abort(late);
  pb_txn_abort(mid);
  pb_txn_abort(old);
  /* Back to the fixture's contents for the other tests. */
  put_range(f, 0, N_KEYS, 0);
}

/* --- the prefix arrays: keys alike in their first bytes --- */

/* Key i of a set built to defeat 8-byte prefixes: groups that share long
 * runs, keys that are prefixes of others, ties within the 8 bytes after
 * the common part, the empty key.  Even i are stored, odd i probe the
 * gaps between them. */
static pb_str tricky_key(unsigned i, char buf[64]) {
  static const char *const stems[] = {"", "a", "ab", "abcdefgh",
                                      "abcdefghijklmnop", "abcdefghijklmnopq"};
  unsigned stem = i % 6, n = i / 6;
  int len;
  if (n == 0) len = snprintf(buf, 64, "%s", stems[stem]);
  else len = snprintf(buf, 64, "%scommon-prefix-xxxxxxxx%04u%s", stems[stem],
                      n / 3, n % 3 == 0 ? "" : n % 3 == 1 ? "0" : "00");
  return (pb_str){buf, (size_t)len};
}

static int cmp_str(const void *a, const void *b) {
  const pb_str *x = a, *y = b;
  size_t n = x->len < y->len ? x->len : y->len;
  int c = n ? memcmp(x->ptr, y->ptr, n) : 0;
  return c ? c : (x->len > y->len) - (x->len < y->len);
}

/* Key i of a set where zero bytes meet the prefixes' zero padding: "q",
 * then up to 19 zero bytes, then nothing, 0x01 or 'a'. */
static pb_str nul_key(unsigned i, char buf[64]) {
  unsigned zeros = i / 3 % 20, tail = i % 3;
  buf[0] = 'q';
  memset(buf + 1, 0, zeros);
  size_t len = 1 + zeros;
  if (tail) buf[len++] = tail == 1 ? '\x01' : 'a';
  return (pb_str){buf, len};
}

/* Stores the even keys of `make`'s set (sorted, each once) in Dictionary
 * `name`, then checks every key, twice: decoded, then from the cache. */
static void alike_keys(fx *f, const char *name,
                       pb_str (*make)(unsigned, char *), unsigned N) {
  char (*text)[64] = calloc(N, 64);
  pb_str *keys = calloc(N, sizeof *keys);
  assert_true(text && keys);
  for (unsigned i = 0; i < N; i++) keys[i] = make(i, text[i]);
  qsort(keys, N, sizeof *keys, cmp_str);
  unsigned uniq = 0; /* the stems repeat: keep each key once */
  for (unsigned i = 0; i < N; i++)
    if (uniq == 0 || cmp_str(&keys[uniq - 1], &keys[i]) != 0)
      keys[uniq++] = keys[i];
  pb_txn *t;
  pb_dict *d;
  assert_int_equal(pb_txn_begin(f->db, 0, &t), PB_OK);
  assert_int_equal(pb_txn_open_dict(t, name, PB_CREATE, &d), PB_OK);
  for (unsigned i = 0; i < uniq; i += 2) {
    pb_value v = {.kind = PB_VALUE_UINT, .as.u = i};
    assert_int_equal(pb_dict_put(d, keys[i], &v), PB_OK);
  }
  assert_int_equal(pb_txn_commit(t), PB_OK);
  for (int round = 0; round < 2; round++) { /* decoded, then from cache */
    assert_int_equal(pb_txn_begin(f->db, PB_RDONLY, &t), PB_OK);
    assert_int_equal(pb_txn_open_dict(t, name, 0, &d), PB_OK);
    for (unsigned i = 0; i < uniq; i++) {
      pb_value v;
      int rc = pb_dict_get(d, keys[i], &v);
      if (i % 2) {
        assert_int_equal(rc, PB_ENOTFOUND);
      } else {
        assert_int_equal(rc, PB_OK);
        assert_int_equal(v.as.u, i);
      }
    }
    /* Ranges that start between stored keys: the seek lands right. */
    for (unsigned i = 1; i + 2 < uniq; i += 7) {
      pb_dict_range r = {.lo = keys[i], .has_lo = true, .lo_incl = true};
      pb_dict_iter *it;
      assert_int_equal(pb_dict_iter_open(d, &r, 0, &it), PB_OK);
      pb_str k;
      pb_value v;
      assert_int_equal(pb_dict_iter_next(it, &k, &v), PB_OK);
      unsigned want = i % 2 ? i + 1 : i;
      assert_int_equal(cmp_str(&k, &keys[want]), 0);
      pb_dict_iter_close(it);
    }
    pb_txn_abort(t);
  }
  free(text);
  free(keys);
}

static void prefix_search_alike_keys(void **state) {
  fx *f = *state;
  alike_keys(f, "tricky", tricky_key, 1200);
  alike_keys(f, "nuls", nul_key, 60);
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

static pb_str pair_key(char side, unsigned i, char buf[32]) {
  int n = snprintf(buf, 32, "pair-%c-%05u", side, i);
  return (pb_str){buf, (size_t)n};
}

static void *reader_main(void *arg) {
  reader *r = arg;
  for (unsigned n = 0; n < READS; n++) {
    r->seed = r->seed * 1103515245u + 12345u;
    unsigned i = (r->seed >> 8) % PAIRS;
    pb_txn *t;
    pb_dict *d;
    if (pb_txn_begin(r->f->db, PB_RDONLY, &t) != PB_OK) return NULL;
    if (pb_txn_open_dict(t, "d", 0, &d) != PB_OK) {
      pb_txn_abort(t);
      return NULL;
    }
    char ba[32], bb[32];
    pb_value a, b;
    int ra = pb_dict_get(d, pair_key('a', i, ba), &a);
    int rb = pb_dict_get(d, pair_key('b', i, bb), &b);
    pb_txn_abort(t);
    if (ra != PB_OK || rb != PB_OK || a.as.u != b.as.u) return NULL;
    r->checked++;
  }
  return r;
}

/* Sets every pair to `gen`, after reading them (so the shared nodes are
 * loaded in the writer's handle before its writes copy them). */
static void write_pairs(fx *f, uint64_t gen) {
  pb_txn *t;
  pb_dict *d;
  assert_int_equal(pb_txn_begin(f->db, 0, &t), PB_OK);
  assert_int_equal(pb_txn_open_dict(t, "d", 0, &d), PB_OK);
  for (unsigned i = 0; i < PAIRS; i++) {
    char b[32];
    pb_value v;
    int rc = pb_dict_get(d, pair_key('a', i, b), &v);
    assert_true(rc == PB_OK || rc == PB_ENOTFOUND);
    v = (pb_value){.kind = PB_VALUE_UINT, .as.u = gen};
    assert_int_equal(pb_dict_put(d, pair_key('a', i, b), &v), PB_OK);
    assert_int_equal(pb_dict_put(d, pair_key('b', i, b), &v), PB_OK);
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

int main(int argc, char **argv) {
  for (int i = 1; i < argc; i++)
    if (!strcmp(argv[i], "--tiny")) pb__coll_fanout = 4;
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(reads_copy_nothing, setup, teardown),
      cmocka_unit_test_setup_teardown(write_after_read_isolated, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(prefix_search_alike_keys, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(two_readers_one_writer, setup,
                                      teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
