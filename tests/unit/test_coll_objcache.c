/*
 * test_coll_objcache.c - the collections through the object cache
 * (cache/atomcache.h): List, HashDictionary, Set and Dictionary nodes are
 * decoded once, shared by every handle, never written to, and still
 * checked against the place they are found at on every load.
 *
 * Atoms live in memory (support/memstore.h) and are read through a real
 * object cache and bytes cache (cache/cache.h), by a source that holds
 * every cache handle it is given until the test ends.  For each
 * collection (a few thousand entries, flushed):
 *   - a second handle on the same root loads nothing: each of its node
 *     loads is an object-cache hit (the loader runs do not grow; the hits
 *     grow by the nodes the first handle loaded), and both handles read
 *     every entry right;
 *   - edits through one handle (put, remove, insert, set) never change
 *     what another handle reads, nor what a fresh handle on the old root
 *     reads from the cache after the edits were flushed (the shared
 *     objects are immutable); the new roots read right, cached or not;
 *   - a node cached where it belongs, then referenced from a hand-built
 *     parent that places it wrong, is PB_ECORRUPT even though it comes
 *     from the cache: a count that lies, the wrong level or node kind,
 *     keys outside the parent's bounds, entries off the path's hash
 *     prefix, a lone entry below the root, a collision node off its hash
 *     or at a CHAMP level, a CHAMP node at the collision level;
 *   - a Dictionary node misplaced by a damaged parent is refused on every
 *     get of one handle and by every later handle (never remembered as
 *     checked), while the good tree over the same cached leaves reads
 *     right, and no read copies a node;
 *   - a List node met at two depths, or a hash node at two places
 *     (hostile bytes), is refused at the wrong one on every get, from the
 *     kid map too, and no read copies;
 *   - a trie cached under one hash function and read under another (tests
 *     swap pb__hash_fn) is rehashed: read right (from the cache) when the
 *     functions agree, PB_ECORRUPT when they do not, as without a cache.
 * `--tiny` (the _tiny variant) sets the fanout to 4: many more nodes.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "corrupt_detail.h"

#include "atom/atom.h"
#include "cache/cache.h"
#include "collections/dict.h"
#include "collections/dict_int.h"
#include "collections/hash_int.h"
#include "collections/list_int.h"
#include "support/collstore.h"
#include "support/hashkeys.h"
#include "support/memstore.h"

static pb_value I(int64_t i) {
  return (pb_value){.kind = PB_VALUE_INT, .as.i = i};
}
static pb_value U(uint64_t u) {
  return (pb_value){.kind = PB_VALUE_UINT, .as.u = u};
}
static pb_value R(pb_atom_ptr p) {
  return (pb_value){.kind = PB_VALUE_REF, .as.ref = p};
}
static pb_value S(const char *s) {
  return (pb_value){.kind = PB_VALUE_STRING, .as.s = {s, strlen(s)}};
}

/* --- The fixture: atoms in memory, read through both caches --- */

typedef struct fx {
  pb_test_memstore m;
  pb__cache *objects, *bytes;
  pb__src_caches caches;
  pb__cache_holds held; /* what the source was given: released last */
  pb__src src;   /* through the caches */
  pb__src plain; /* no caches: every node built privately */
  pb__sink sink;
} fx;

static int fx_read(void *arg, pb_atom_ptr p, pb_bytes *out) {
  return pb_test_mem_read(&((fx *)arg)->m, p, out);
}

static fx *fx_new(void) {
  fx *f = calloc(1, sizeof *f);
  assert_non_null(f);
  assert_int_equal(pb__cache_create(NULL, &f->objects), PB_OK);
  assert_int_equal(pb__cache_create(NULL, &f->bytes), PB_OK);
  /* Every atom here is written once and never changes: all cacheable. */
  f->caches = (pb__src_caches){
      .bytes = f->bytes, .objects = f->objects, .holds = &f->held};
  f->src = (pb__src){fx_read, f, &f->caches};
  f->plain = (pb__src){fx_read, f, NULL};
  f->sink = (pb__sink){pb_test_mem_write, &f->m};
  return f;
}

static void fx_free(fx *f) {
  pb__cache_holds_free(&f->held);
  assert_int_equal(pb__cache_check(f->objects), PB_OK);
  pb__cache_destroy(f->objects);
  pb__cache_destroy(f->bytes);
  pb_test_mem_free(&f->m);
  free(f);
}

static pb_cache_stats obj_stats(fx *f) {
  pb_cache_stats s;
  assert_int_equal(pb__cache_stats(f->objects, &s), PB_OK);
  return s;
}

/* --- Four collections behind one interface --- */

/* Entry i: a key (dict, hash, set: key i) or an index (list). */
typedef struct kind {
  const char *name;
  bool list;   /* indexed by position */
  bool valued; /* false for the Set: every value reads as 0 */
  int (*open)(const pb__src *src, pb_atom_ptr root, void **out);
  void (*free)(void *c);
  int (*flush)(void *c, const pb__sink *sink, pb_atom_ptr *root);
  int (*count)(void *c, uint64_t *n);
  int (*get)(void *c, unsigned i, int64_t *v); /* PB_ENOTFOUND: absent */
  int (*put)(void *c, unsigned i, int64_t v);  /* list: set at i */
  int (*add)(void *c, unsigned i, int64_t v);  /* list: insert before i */
  int (*del)(void *c, unsigned i);
} kind;

/* Dictionary: key i is "k<i>". */
static pb_str dkey(unsigned i, char *buf) {
  int n = snprintf(buf, PB_TEST_KEY_BUF, "k%06u", i);
  return (pb_str){buf, (size_t)n};
}
static int d_open(const pb__src *s, pb_atom_ptr r, void **o) {
  return pb__dict_open(s, r, (pb__dict **)o);
}
static void d_free(void *c) { pb__dict_free(c); }
static int d_flush(void *c, const pb__sink *s, pb_atom_ptr *r) {
  return pb__dict_flush(c, s, r);
}
static int d_count(void *c, uint64_t *n) { return pb__dict_count(c, n); }
static int d_get(void *c, unsigned i, int64_t *v) {
  char b[PB_TEST_KEY_BUF];
  pb_value x;
  int rc = pb__dict_get(c, dkey(i, b), &x);
  if (rc == PB_OK) *v = x.as.i;
  return rc;
}
static int d_put(void *c, unsigned i, int64_t v) {
  char b[PB_TEST_KEY_BUF];
  pb_value x = I(v);
  return pb__dict_put(c, dkey(i, b), &x);
}
static int d_del(void *c, unsigned i) {
  char b[PB_TEST_KEY_BUF];
  return pb__dict_remove(c, dkey(i, b));
}
static kind k_dict = {"Dictionary", false, true, d_open, d_free,
                            d_flush, d_count, d_get, d_put, d_put, d_del};

/* HashDictionary and Set: key i is pb_test_key_of(i), of many kinds. */
static int h_open(const pb__src *s, pb_atom_ptr r, void **o) {
  return pb__hash_open(s, r, (pb__hash **)o);
}
static void h_free(void *c) { pb__hash_free(c); }
static int h_flush(void *c, const pb__sink *s, pb_atom_ptr *r) {
  return pb__hash_flush(c, s, r);
}
static int h_count(void *c, uint64_t *n) { return pb__hash_count(c, n); }
static int h_get(void *c, unsigned i, int64_t *v) {
  char b[PB_TEST_KEY_BUF];
  pb_value k = pb_test_key_of(i, b), x;
  int rc = pb__hash_get(c, &k, &x);
  if (rc == PB_OK) *v = x.as.i;
  return rc;
}
static int h_put(void *c, unsigned i, int64_t v) {
  char b[PB_TEST_KEY_BUF];
  pb_value k = pb_test_key_of(i, b), x = I(v);
  return pb__hash_put(c, &k, &x);
}
static int h_del(void *c, unsigned i) {
  char b[PB_TEST_KEY_BUF];
  pb_value k = pb_test_key_of(i, b);
  return pb__hash_remove(c, &k);
}
static kind k_hash = {"HashDictionary", false, true, h_open, h_free,
                            h_flush, h_count, h_get, h_put, h_put, h_del};

static int s_get(void *c, unsigned i, int64_t *v) {
  char b[PB_TEST_KEY_BUF];
  pb_value k = pb_test_key_of(i, b);
  bool in = false;
  int rc = pb__set_contains(c, &k, &in);
  *v = 0;
  return rc == PB_OK && !in ? PB_ENOTFOUND : rc;
}
static int s_add(void *c, unsigned i, int64_t v) {
  (void)v;
  char b[PB_TEST_KEY_BUF];
  pb_value k = pb_test_key_of(i, b);
  return pb__set_add(c, &k, NULL);
}
static kind k_set = {"Set", false, false, h_open, h_free, h_flush,
                           h_count, s_get, s_add, s_add, h_del};

/* List: entry i is index i. */
static int l_open(const pb__src *s, pb_atom_ptr r, void **o) {
  return pb__list_open(s, r, (pb__list **)o);
}
static void l_free(void *c) { pb__list_free(c); }
static int l_flush(void *c, const pb__sink *s, pb_atom_ptr *r) {
  return pb__list_flush(c, s, r);
}
static int l_count(void *c, uint64_t *n) { return pb__list_count(c, n); }
static int l_get(void *c, unsigned i, int64_t *v) {
  pb_value x;
  int rc = pb__list_get(c, i, &x);
  if (rc == PB_OK) *v = x.as.i;
  return rc;
}
static int l_set(void *c, unsigned i, int64_t v) {
  pb_value x = I(v);
  return pb__list_set(c, i, &x);
}
static int l_insert(void *c, unsigned i, int64_t v) {
  pb_value x = I(v);
  return pb__list_insert(c, i, &x);
}
static int l_del(void *c, unsigned i) { return pb__list_remove(c, i); }
static kind k_list = {"List", true, true, l_open, l_free, l_flush,
                            l_count, l_get, l_set, l_insert, l_del};

/* --- A model of the contents, and the edits on both --- */

#define N 2500u           /* entries built */
#define UNIVERSE (N + 64) /* keys an edit may add */
#define ABSENT INT64_MIN

/* Keyed: v[i] is key i's value or ABSENT, n == UNIVERSE.  List: v[0..n). */
typedef struct model {
  int64_t v[UNIVERSE + 64];
  unsigned n;
} model;

static void *open_at(const kind *k, const pb__src *src, pb_atom_ptr root) {
  void *c = NULL;
  assert_int_equal(k->open(src, root, &c), PB_OK);
  return c;
}

/* `c` holds exactly what `m` says: its count, and every entry. */
static void expect(const kind *k, void *c, const model *m) {
  uint64_t want = 0, n = UINT64_MAX;
  for (unsigned i = 0; i < m->n; i++) want += k->list || m->v[i] != ABSENT;
  assert_int_equal(k->count(c, &n), PB_OK);
  assert_int_equal(n, want);
  for (unsigned i = 0; i < m->n; i++) {
    int64_t v = ABSENT;
    int rc = k->get(c, i, &v);
    if (!k->list && m->v[i] == ABSENT) {
      assert_int_equal(rc, PB_ENOTFOUND);
      continue;
    }
    assert_int_equal(rc, PB_OK);
    if (v != m->v[i]) fail_msg("%s: entry %u is %lld, not %lld", k->name, i,
                               (long long)v, (long long)m->v[i]);
  }
}

static void op_put(const kind *k, void *c, model *m, unsigned i, int64_t v) {
  if (!k->valued) v = 0;
  assert_int_equal(k->put(c, i, v), PB_OK);
  m->v[i] = v;
}

static void op_add(const kind *k, void *c, model *m, unsigned i, int64_t v) {
  if (!k->valued) v = 0;
  assert_int_equal(k->add(c, i, v), PB_OK);
  if (k->list) {
    memmove(&m->v[i + 1], &m->v[i], (m->n - i) * sizeof *m->v);
    m->n++;
  }
  m->v[i] = v;
}

static void op_del(const kind *k, void *c, model *m, unsigned i) {
  assert_int_equal(k->del(c, i), PB_OK);
  if (k->list) {
    memmove(&m->v[i], &m->v[i + 1], (m->n - i - 1) * sizeof *m->v);
    m->n--;
  } else {
    m->v[i] = ABSENT;
  }
}

/* A new collection of N entries (value 10 * i), flushed. */
static pb_atom_ptr build(fx *f, const kind *k, model *m) {
  m->n = k->list ? 0 : UNIVERSE;
  for (unsigned i = 0; i < UNIVERSE; i++) m->v[i] = ABSENT;
  void *c = open_at(k, &f->src, (pb_atom_ptr){0});
  for (unsigned i = 0; i < N; i++) op_add(k, c, m, i, 10 * (int64_t)i);
  pb_atom_ptr root;
  assert_int_equal(k->flush(c, &f->sink, &root), PB_OK);
  k->free(c);
  return root;
}

/* Edits all over the collection: every `step`-th entry gets a new value
 * (tag * i), every (step + 2)-th goes, and 40 come in. */
static void edit(const kind *k, void *c, model *m, unsigned step,
                 int64_t tag) {
  for (unsigned i = 0; i < N; i += step)
    if (k->list || m->v[i] != ABSENT) op_put(k, c, m, i, tag * (int64_t)i);
  for (unsigned i = m->n; i-- > 0;)
    if (i % (step + 2) == 0 && (k->list || m->v[i] != ABSENT))
      op_del(k, c, m, i);
  for (unsigned j = 0; j < 40; j++) {
    unsigned i = k->list ? (j * 97) % (m->n + 1) : N + j;
    op_add(k, c, m, i, tag * 1000 - j);
  }
}

/* --- Shared, and immutable --- */

static void shared_and_immutable(void **state) {
  const kind *k = *state;
  fx *f = fx_new();
  model *m0 = malloc(sizeof *m0), *m1 = malloc(sizeof *m1),
        *m2 = malloc(sizeof *m2);
  assert_true(m0 && m1 && m2);
  pb_atom_ptr root0 = build(f, k, m0);

  /* The first handle loads every node: all misses. */
  pb_cache_stats s0 = obj_stats(f);
  void *a = open_at(k, &f->src, root0);
  expect(k, a, m0);
  pb_cache_stats s1 = obj_stats(f);
  uint64_t nodes = s1.loads - s0.loads;
  assert_true(nodes > 10);
  assert_int_equal(s1.misses - s0.misses, nodes);
  assert_int_equal(s1.hits, s0.hits);
  assert_int_equal(s1.load_errors, 0);

  /* The second loads nothing: every node is a hit. */
  void *b = open_at(k, &f->src, root0);
  expect(k, b, m0);
  pb_cache_stats s2 = obj_stats(f);
  assert_int_equal(s2.loads, s1.loads);
  assert_int_equal(s2.misses, s1.misses);
  assert_int_equal(s2.hits - s1.hits, nodes);
  assert_int_equal(s2.evictions, 0);

  /* Edits through a reach neither b nor a fresh handle on root0. */
  *m1 = *m0;
  edit(k, a, m1, 5, 3);
  expect(k, a, m1);
  expect(k, b, m0);
  void *c = open_at(k, &f->src, root0);
  expect(k, c, m0);
  assert_int_equal(obj_stats(f).loads, s2.loads);
  k->free(c);

  /* Flushed: the old root still reads as it was (from the cache), the new
   * one reads the edits, through the caches or not. */
  pb_atom_ptr root1;
  assert_int_equal(k->flush(a, &f->sink, &root1), PB_OK);
  c = open_at(k, &f->src, root0);
  expect(k, c, m0);
  k->free(c);
  c = open_at(k, &f->src, root1);
  expect(k, c, m1);
  k->free(c);
  c = open_at(k, &f->plain, root1);
  expect(k, c, m1);
  k->free(c);

  /* Other edits through b, after a's: each root keeps its contents. */
  *m2 = *m0;
  edit(k, b, m2, 7, -2);
  pb_atom_ptr root2;
  assert_int_equal(k->flush(b, &f->sink, &root2), PB_OK);
  expect(k, a, m1);
  pb_atom_ptr roots[] = {root0, root1, root2};
  const model *want[] = {m0, m1, m2};
  for (unsigned r = 0; r < 3; r++) {
    c = open_at(k, &f->src, roots[r]);
    expect(k, c, want[r]);
    k->free(c);
  }
  assert_int_equal(obj_stats(f).load_errors, 0);
  k->free(a);
  k->free(b);
  free(m0);
  free(m1);
  free(m2);
  fx_free(f);
}

/* --- Nodes from the cache, in the wrong place --- */

/* What reading all of the collection at `root` gives through `src`: its
 * count, then every entry in order (list) or keys 0..keys-1 (others). */
static int read_all(const kind *k, const pb__src *src, pb_atom_ptr root,
                    unsigned keys) {
  void *c = open_at(k, src, root);
  uint64_t n;
  int rc = k->count(c, &n);
  if (k->list && rc == PB_OK) keys = (unsigned)n;
  for (unsigned i = 0; rc == PB_OK && i < keys; i++) {
    int64_t v;
    rc = k->get(c, i, &v);
    if (rc == PB_ENOTFOUND) rc = PB_OK;
  }
  k->free(c);
  return rc;
}

/* Reading all of `root` is refused through the caches, though some of
 * its nodes (the misplaced one, cached where it belongs) are hits, and is
 * refused alike without the caches. */
static void refused(fx *f, const kind *k, pb_atom_ptr root, unsigned keys) {
  pb_cache_stats s0 = obj_stats(f);
  assert_corrupt(read_all(k, &f->src, root, keys), PB_AT_ATOM);
  pb_cache_stats s1 = obj_stats(f);
  assert_true(s1.hits > s0.hits); /* the misplaced node came from the cache */
  assert_corrupt(read_all(k, &f->plain, root, keys), PB_AT_ATOM);
}

static void list_context(void **state) {
  (void)state;
  fx *f = fx_new();
  pb_value three[] = {I(1), I(2), I(3)};
  pb_atom_ptr leaf = pb_test_mem_node(&f->m, PB__TYPE_LIST_LEAF, three, 3);
  pb_value b1v[] = {U(3), R(leaf)};
  pb_atom_ptr b1 = pb_test_mem_node(&f->m, PB__TYPE_LIST_BRANCH, b1v, 2);
  pb_value gv[] = {U(3), R(b1), U(3), R(b1)};
  pb_atom_ptr good = pb_test_mem_node(&f->m, PB__TYPE_LIST_BRANCH, gv, 4);
  assert_int_equal(read_all(&k_list, &f->src, good, 0), PB_OK);
  /* A count that lies about the cached leaf, on the leftmost path and
   * further right. */
  pb_value lie[] = {U(4), R(leaf)};
  refused(f, &k_list, pb_test_mem_node(&f->m, PB__TYPE_LIST_BRANCH, lie, 2), 0);
  pb_value lie2[] = {U(3), R(leaf), U(2), R(leaf)};
  refused(f, &k_list, pb_test_mem_node(&f->m, PB__TYPE_LIST_BRANCH, lie2, 4),
          0);
  /* The cached leaf where a branch belongs, the cached branch where a
   * leaf belongs. */
  pb_value lv[] = {U(3), R(b1), U(3), R(leaf)};
  refused(f, &k_list, pb_test_mem_node(&f->m, PB__TYPE_LIST_BRANCH, lv, 4), 0);
  pb_value bv[] = {U(3), R(leaf), U(3), R(b1)};
  refused(f, &k_list, pb_test_mem_node(&f->m, PB__TYPE_LIST_BRANCH, bv, 4), 0);
  fx_free(f);
}

static void dict_context(void **state) {
  (void)state;
  fx *f = fx_new();
  pb_value abv[] = {S("k000000"), I(0), S("k000001"), I(10)};
  pb_value cdv[] = {S("k000002"), I(20), S("k000003"), I(30)};
  pb_value efv[] = {S("k000004"), I(40), S("k000005"), I(50)};
  pb_atom_ptr ab = pb_test_mem_node(&f->m, PB__TYPE_DICT_LEAF, abv, 4);
  pb_atom_ptr cd = pb_test_mem_node(&f->m, PB__TYPE_DICT_LEAF, cdv, 4);
  pb_atom_ptr ef = pb_test_mem_node(&f->m, PB__TYPE_DICT_LEAF, efv, 4);
  pb_value gv[] = {U(1), U(2), R(ab), S("k000002"), U(2), R(cd),
                   S("k000004"), U(2), R(ef)};
  pb_atom_ptr good = pb_test_mem_node(&f->m, PB__TYPE_DICT_BRANCH, gv, 9);
  assert_int_equal(read_all(&k_dict, &f->src, good, 6), PB_OK);
  /* The cached leaves outside the bounds the separator gives. */
  pb_value sw[] = {U(1), U(2), R(cd), S("k000002"), U(2), R(ab)};
  refused(f, &k_dict, pb_test_mem_node(&f->m, PB__TYPE_DICT_BRANCH, sw, 6), 6);
  /* A count that lies. */
  pb_value lie[] = {U(1), U(3), R(ab), S("k000002"), U(2), R(cd)};
  refused(f, &k_dict, pb_test_mem_node(&f->m, PB__TYPE_DICT_BRANCH, lie, 6),
          6);
  /* A cached leaf where a level-1 branch belongs (its keys in bounds). */
  pb_atom_ptr left = pb_test_mem_node(&f->m, PB__TYPE_DICT_BRANCH, gv, 6);
  pb_value lv[] = {U(2), U(4), R(left), S("k000004"), U(2), R(ef)};
  refused(f, &k_dict, pb_test_mem_node(&f->m, PB__TYPE_DICT_BRANCH, lv, 6), 6);
  fx_free(f);
}

/* Damage in the context of a shared node is caught on every load that
 * meets it, never remembered as checked: the same handle refuses it on
 * every get, as does every later handle; the good tree over the same
 * cached leaves reads right before and after; and none of it copies a
 * node (reads walk the shared nodes in place). */
static void dict_damage_every_time(void **state) {
  (void)state;
  fx *f = fx_new();
  pb_value abv[] = {S("k000000"), I(0), S("k000001"), I(10)};
  pb_value cdv[] = {S("k000002"), I(20), S("k000003"), I(30)};
  pb_atom_ptr ab = pb_test_mem_node(&f->m, PB__TYPE_DICT_LEAF, abv, 4);
  pb_atom_ptr cd = pb_test_mem_node(&f->m, PB__TYPE_DICT_LEAF, cdv, 4);
  pb_value gv[] = {U(1), U(2), R(ab), S("k000002"), U(2), R(cd)};
  pb_atom_ptr good = pb_test_mem_node(&f->m, PB__TYPE_DICT_BRANCH, gv, 6);
  pb_value sw[] = {U(1), U(2), R(ab), S("k000001"), U(2), R(cd)};
  pb_atom_ptr bad = pb_test_mem_node(&f->m, PB__TYPE_DICT_BRANCH, sw, 6);
  uint64_t c0 = atomic_load(&pb__dict_copies);
  assert_int_equal(read_all(&k_dict, &f->src, good, 4), PB_OK);
  for (int h = 0; h < 3; h++) {
    pb__dict *d;
    assert_int_equal(pb__dict_open(&f->src, bad, &d), PB_OK);
    char b[PB_TEST_KEY_BUF];
    pb_value v;
    for (int g = 0; g < 3; g++) /* leaf ab holds k000001, the bound */
      assert_corrupt(pb__dict_get(d, dkey(0, b), &v), PB_AT_ATOM);
    pb__dict_free(d);
  }
  assert_int_equal(read_all(&k_dict, &f->src, good, 4), PB_OK);
  assert_int_equal(atomic_load(&pb__dict_copies), c0);
  fx_free(f);
}

/* A shared List node met at two depths (hostile bytes: B1 under B2 on
 * the leftmost path, and right under the root): the child the handle
 * kept for it at one depth is a leaf, which the other depth refuses on
 * every get, from the kid map too, while the same handle still reads the
 * good path; no read copies a node. */
static void list_node_at_two_depths(void **state) {
  (void)state;
  fx *f = fx_new();
  pb_value three[] = {I(1), I(2), I(3)};
  pb_atom_ptr leaf = pb_test_mem_node(&f->m, PB__TYPE_LIST_LEAF, three, 3);
  pb_value b1v[] = {U(3), R(leaf)};
  pb_atom_ptr b1 = pb_test_mem_node(&f->m, PB__TYPE_LIST_BRANCH, b1v, 2);
  pb_value b2v[] = {U(3), R(b1)};
  pb_atom_ptr b2 = pb_test_mem_node(&f->m, PB__TYPE_LIST_BRANCH, b2v, 2);
  pb_value rv[] = {U(3), R(b2), U(3), R(b1)};
  pb_atom_ptr bad = pb_test_mem_node(&f->m, PB__TYPE_LIST_BRANCH, rv, 4);
  uint64_t c0 = atomic_load(&pb__list_copies);
  for (int src = 0; src < 2; src++) /* through the caches, and without */
    for (int h = 0; h < 3; h++) {
      pb__list *l;
      assert_int_equal(
          pb__list_open(src ? &f->plain : &f->src, bad, &l), PB_OK);
      pb_value v;
      for (int g = 0; g < 3; g++) {
        assert_int_equal(pb__list_get(l, 1, &v), PB_OK);
        assert_int_equal(v.as.i, 2);
        assert_corrupt(pb__list_get(l, 4, &v), PB_AT_ATOM);
      }
      pb__list_free(l);
    }
  assert_int_equal(atomic_load(&pb__list_copies), c0);
  fx_free(f);
}

/* A hash for the hand-built tries: the last byte of the encoding, so that
 * STRING "a" and BYTES "a" collide (97: slot 1, then 3, then 0s). */
static uint64_t last_byte(const void *b, size_t n) {
  return n ? ((const uint8_t *)b)[n - 1] : 0;
}

/* Single-child CHAMP nodes for levels from..to-1 along `hash`, over
 * `bottom` (the node at level `to`); gives the top one. */
static pb_atom_ptr chain(fx *f, uint64_t hash, unsigned from, unsigned to,
                         pb_atom_ptr bottom) {
  for (unsigned level = to; level-- > from;) {
    pb_value v[] = {U(0), U(1u << pb__hash_frag(hash, level)), R(bottom)};
    bottom = pb_test_mem_node(&f->m, PB__TYPE_HASH_NODE, v, 3);
  }
  return bottom;
}

static void hash_context(void **state) {
  (void)state;
  fx *f = fx_new();
  pb__hash_fn = last_byte;
  /* A root with "a" (97: slot 1) and "b" (98: slot 2), and one with "a"
   * alone; both fine as roots. */
  pb_value abv[] = {U(6), U(0), S("a"), I(1), S("b"), I(2)};
  pb_atom_ptr ab = pb_test_mem_node(&f->m, PB__TYPE_HASH_NODE, abv, 6);
  pb_value av[] = {U(2), U(0), S("a"), I(1)};
  pb_atom_ptr a = pb_test_mem_node(&f->m, PB__TYPE_HASH_NODE, av, 4);
  assert_int_equal(read_all(&k_hash, &f->src, ab, 0), PB_OK);
  assert_int_equal(read_all(&k_hash, &f->src, a, 0), PB_OK);
  /* Both at level 1 (slot 1 of a root): the entries are off the prefix,
   * and a lone entry below the root is refused. */
  pb_value up[] = {U(0), U(2), R(ab)};
  refused(f, &k_hash, pb_test_mem_node(&f->m, PB__TYPE_HASH_NODE, up, 3), 0);
  up[2] = R(a);
  refused(f, &k_hash, pb_test_mem_node(&f->m, PB__TYPE_HASH_NODE, up, 3), 0);
  /* A collision node of hash 97, at the end of its path: fine. */
  pb_bytes ba = {(const uint8_t *)"a", 1};
  pb_value sa = S("a"), bya = {.kind = PB_VALUE_BYTES, .as.bytes = ba};
  pb_buf scratch;
  pb_buf_init(&scratch);
  int cmp;
  assert_int_equal(pb__hash_key_cmp(&scratch, &sa, &bya, &cmp), PB_OK);
  pb_buf_free(&scratch);
  pb_value cv[] = {U(97), cmp < 0 ? sa : bya, I(1), cmp < 0 ? bya : sa, I(2)};
  pb_atom_ptr coll = pb_test_mem_node(&f->m, PB__TYPE_HASH_COLLISION, cv, 5);
  pb_atom_ptr good = chain(f, 97, 0, PB__HASH_COLL_LEVEL, coll);
  assert_int_equal(read_all(&k_hash, &f->src, good, 0), PB_OK);
  /* At the end of another path (hash 98), and at level 5. */
  refused(f, &k_hash, chain(f, 98, 0, PB__HASH_COLL_LEVEL, coll), 0);
  refused(f, &k_hash, chain(f, 97, 0, 5, coll), 0);
  /* The cached level-12 node of the good path at the collision level. */
  pb_atom_ptr n12 = chain(f, 97, 12, PB__HASH_COLL_LEVEL, coll);
  assert_int_equal(read_all(&k_hash, &f->src, chain(f, 97, 0, 12, n12), 0),
                   PB_OK);
  refused(f, &k_hash, chain(f, 97, 0, PB__HASH_COLL_LEVEL, n12), 0);
  fx_free(f);
}

/* A shared hash node met at two places (hostile bytes: one atom in slots
 * 1 and 2 of the root): the children a handle kept in its kid map for
 * the first place are checked again for the second, so the collision
 * node at the end (hash 97, "a") is refused under slot 2 (the path of
 * hash 98) on every get, and never read as a plain miss, while the same
 * handle still finds "a"; no read copies a node. */
static void hash_node_at_two_places(void **state) {
  (void)state;
  fx *f = fx_new();
  pb__hash_fn = last_byte;
  pb_bytes ba = {(const uint8_t *)"a", 1};
  pb_value sa = S("a"), bya = {.kind = PB_VALUE_BYTES, .as.bytes = ba};
  pb_buf scratch;
  pb_buf_init(&scratch);
  int cmp;
  assert_int_equal(pb__hash_key_cmp(&scratch, &sa, &bya, &cmp), PB_OK);
  pb_buf_free(&scratch);
  pb_value cv[] = {U(97), cmp < 0 ? sa : bya, I(1), cmp < 0 ? bya : sa, I(2)};
  pb_atom_ptr coll = pb_test_mem_node(&f->m, PB__TYPE_HASH_COLLISION, cv, 5);
  pb_atom_ptr x = chain(f, 97, 1, PB__HASH_COLL_LEVEL, coll); /* level 1 */
  pb_value rv[] = {U(0), U(6), R(x), R(x)};
  pb_atom_ptr bad = pb_test_mem_node(&f->m, PB__TYPE_HASH_NODE, rv, 4);
  uint64_t c0 = atomic_load(&pb__hash_copies);
  for (int src = 0; src < 2; src++) /* through the caches, and without */
    for (int h = 0; h < 3; h++) {
      pb__hash *t;
      assert_int_equal(pb__hash_open(src ? &f->plain : &f->src, bad, &t),
                       PB_OK);
      pb_value sb = S("b"), v;
      for (int g = 0; g < 3; g++) {
        assert_int_equal(pb__hash_get(t, &sa, &v), PB_OK);
        assert_int_equal(v.as.i, cmp < 0 ? 1 : 2);
        assert_corrupt(pb__hash_get(t, &sb, &v), PB_AT_ATOM);
      }
      pb__hash_free(t);
    }
  assert_int_equal(atomic_load(&pb__hash_copies), c0);
  fx_free(f);
  pb__hash_fn = pb__hash_xxh3;
}

/* XXH3 again, under another pointer. */
static uint64_t xxh3_again(const void *b, size_t n) {
  return pb__hash_xxh3(b, n);
}

static void hash_function_switch(void **state) {
  (void)state;
  fx *f = fx_new();
  model *m = malloc(sizeof *m);
  assert_non_null(m);
  pb_atom_ptr root = build(f, &k_hash, m);
  void *a = open_at(&k_hash, &f->src, root);
  expect(&k_hash, a, m); /* cached under pb__hash_xxh3 */
  k_hash.free(a);
  pb_cache_stats s0 = obj_stats(f);
  pb__hash_fn = xxh3_again; /* the same hashes: rehashed, read right */
  a = open_at(&k_hash, &f->src, root);
  expect(&k_hash, a, m);
  k_hash.free(a);
  pb_cache_stats s1 = obj_stats(f);
  assert_int_equal(s1.loads, s0.loads);
  assert_true(s1.hits > s0.hits);
  pb__hash_fn = pb_test_low_entropy; /* other hashes: the trie is wrong */
  assert_corrupt(read_all(&k_hash, &f->src, root, 0), PB_AT_ATOM);
  assert_corrupt(read_all(&k_hash, &f->plain, root, 0), PB_AT_ATOM);
  free(m);
  fx_free(f);
}

/* Puts the default hash function back, whatever a test did. */
static int default_hash(void **state) {
  (void)state;
  pb__hash_fn = pb__hash_xxh3;
  return 0;
}

int main(int argc, char **argv) {
  pb_test_coll_args(argc, argv);
  const struct CMUnitTest tests[] = {
      {"list_shared", shared_and_immutable, NULL, NULL, &k_list},
      {"hash_shared", shared_and_immutable, NULL, NULL, &k_hash},
      {"set_shared", shared_and_immutable, NULL, NULL, &k_set},
      {"dict_shared", shared_and_immutable, NULL, NULL, &k_dict},
      cmocka_unit_test(list_context),
      cmocka_unit_test(dict_context),
      cmocka_unit_test(dict_damage_every_time),
      cmocka_unit_test(list_node_at_two_depths),
      cmocka_unit_test(hash_node_at_two_places),
      cmocka_unit_test_teardown(hash_context, default_hash),
      cmocka_unit_test_teardown(hash_function_switch, default_hash),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
