/*
 * test_hash.c - HashDictionary and Set (collections/hash.h), the CHAMP
 * trie: keys of every kind (0.0 and -0.0 apart), replace, remove down to
 * the null root; canonical form (two insertion orders, and insert-then-
 * remove, give byte-identical nodes); forced collisions (a constant hash,
 * and one of three hashes) through put, get, remove, iteration, flush and
 * reopen; flush, reopen and mutate; a failing sink leaves the handle as it
 * was; hostile node atoms give PB_ECORRUPT; set algebra; and the size of
 * a 1,000,000-entry trie and of one update to it.
 *
 * `--tiny` (the _tiny variant): the trie's fanout is fixed at 32 by its
 * 5-bit levels, so instead every test that does not pick its own hash
 * runs with a low-entropy hash (8 bits of XXH3 spread over the levels),
 * which makes deep tries and collision nodes out of ordinary keys.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "corrupt_detail.h"

#include "atom/atom.h"
#include "atom/refs.h"
#include "atom/value.h"
#include "collections/hash.h"
#include "collections/hash_int.h"
#include "support/collstore.h"
#include "support/memstore.h"
#include "support/hashkeys.h"
#include "test_util.h"

/* --- Hash functions --- */

/* pb_test_low_entropy in --tiny */
static pb__hash_fn_t default_fn = pb__hash_xxh3;

static uint64_t const_hash(const void *b, size_t n) {
  (void)b;
  (void)n;
  return 0x0123456789abcdefULL;
}

/* One of three hashes: the first two share their lowest 40 bits. */
static uint64_t three_hash(const void *b, size_t n) {
  static const uint64_t h[3] = {0xfedcba9876543210ULL, 0x0edcba9876543210ULL,
                                0x00000000000000ffULL};
  return h[pb__hash_xxh3(b, n) % 3];
}

static int use_default_hash(void **state) {
  (void)state;
  pb__hash_fn = default_fn;
  return 0;
}

/* --- Keys and values --- */

/* Value `ver` of key i. */
static pb_value val_of(unsigned i, unsigned ver, char *buf) {
  pb_value v;
  memset(&v, 0, sizeof v);
  if ((i + ver) % 3 == 0) {
    v.kind = PB_VALUE_STRING;
    v.as.s.len = (size_t)snprintf(buf, 48, "v%u.%u", i, ver);
    v.as.s.ptr = buf;
  } else {
    v.kind = PB_VALUE_UINT;
    v.as.u = (uint64_t)i * 131u + ver;
  }
  return v;
}

static void put_i(pb__hash *h, unsigned i, unsigned ver) {
  char kb[48], vb[48];
  pb_value k = pb_test_key_of(i, kb), v = val_of(i, ver, vb);
  assert_int_equal(pb__hash_put(h, &k, &v), PB_OK);
}

static void expect_i(pb__hash *h, unsigned i, unsigned ver) {
  char kb[48], vb[48];
  pb_value k = pb_test_key_of(i, kb), want = val_of(i, ver, vb), got;
  assert_int_equal(pb__hash_get(h, &k, &got), PB_OK);
  assert_true(pb__value_equal(&got, &want));
}

static void expect_absent(pb__hash *h, unsigned i) {
  char kb[48];
  pb_value k = pb_test_key_of(i, kb), got;
  assert_int_equal(pb__hash_get(h, &k, &got), PB_ENOTFOUND);
}

static void remove_i(pb__hash *h, unsigned i, int want) {
  char kb[48];
  pb_value k = pb_test_key_of(i, kb);
  assert_int_equal(pb__hash_remove(h, &k), want);
}

static uint64_t count_of(pb__hash *h) {
  uint64_t n = 99999999;
  assert_int_equal(pb__hash_count(h, &n), PB_OK);
  return n;
}

/* Iterates and checks that exactly the keys i < u with in[i] come out,
 * each once. */
static void expect_members(pb__hash *h, const unsigned char *in, unsigned u) {
  static unsigned char seen[PB_TEST_KEY_INDEX_MAX];
  assert_true(u <= PB_TEST_KEY_INDEX_MAX);
  pb_test_key_index_build(u);
  memset(seen, 0, u);
  pb__hash_iter *it;
  assert_int_equal(pb__hash_iter_open(h, &it), PB_OK);
  pb_value k, v;
  unsigned n = 0, want = 0;
  for (unsigned i = 0; i < u; i++) want += in[i] != 0;
  while (pb__hash_iter_next(it, &k, &v) == PB_OK) {
    unsigned i = pb_test_key_index(&k);
    assert_true(i < u);
    assert_true(in[i] && !seen[i]);
    seen[i] = 1;
    n++;
  }
  assert_int_equal(pb__hash_iter_next(it, &k, &v), PB_ENOTFOUND);
  pb__hash_iter_free(it);
  assert_int_equal(n, want);
}

/* The same for exactly the keys lo..hi-1. */
static void expect_range(pb__hash *h, unsigned lo, unsigned hi) {
  static unsigned char in[PB_TEST_KEY_INDEX_MAX];
  memset(in, 0, sizeof in);
  memset(in + lo, 1, hi - lo);
  expect_members(h, in, hi);
}

/* --- A test store --- */

typedef struct fixture {
  char *dir;
  pb_test_cstore cs;
} fixture;

static void fx_open(fixture *f) {
  f->dir = pb_test_tmpdir();
  pb_test_cstore_open(&f->cs, f->dir);
}

static void fx_close(fixture *f) {
  pb_test_cstore_close(&f->cs);
  pb_test_rmdir(f->dir);
}

/* Flushes h, commits its root, reopens the store, and gives a new handle
 * (h is freed). */
static pb__hash *persist_reopen(fixture *f, pb__hash *h) {
  pb_atom_ptr root;
  assert_int_equal(pb__hash_flush(h, &f->cs.sink, &root), PB_OK);
  assert_false(pb__hash_dirty(h));
  pb__hash_free(h);
  pb_test_cstore_commit(&f->cs, root);
  pb_test_cstore_reopen(&f->cs);
  assert_true(pb_atom_ptr_equal(f->cs.root, root));
  pb__hash *back;
  assert_int_equal(pb__hash_open(&f->cs.src, f->cs.root, &back), PB_OK);
  return back;
}

/* Asserts that two flushed tries are the same bytes: each pair of nodes
 * is byte-identical except for its child pointers (the last values of a
 * node), whose subtrees are compared the same way. */
static void assert_same_tree(const pb__src *src, pb_atom_ptr a, pb_atom_ptr b,
                             unsigned level) {
  assert_true(level <= PB__HASH_COLL_LEVEL);
  assert_int_equal(pb_atom_ptr_is_null(a), pb_atom_ptr_is_null(b));
  if (pb_atom_ptr_is_null(a)) return;
  pb_bytes xa, xb;
  assert_int_equal(src->read(src->arg, a, &xa), PB_OK);
  assert_int_equal(src->read(src->arg, b, &xb), PB_OK);
  pb__node_view va, vb;
  assert_int_equal(pb__node_decode(xa, 6, 7, &va), PB_OK);
  assert_int_equal(pb__node_decode(xb, 6, 7, &vb), PB_OK);
  assert_int_equal(va.type, vb.type);
  assert_int_equal(xa.len, xb.len);
  size_t kids = 0;
  if (va.type == PB__TYPE_HASH_NODE)
    kids = pb__hash_popcount((uint32_t)va.vals[1].as.u);
  size_t ptr_bytes = kids * 21; /* kind byte + 20 */
  assert_memory_equal(xa.ptr, xb.ptr, xa.len - ptr_bytes);
  for (size_t j = va.n - kids; j < va.n; j++)
    assert_same_tree(src, va.vals[j].as.ref, vb.vals[j].as.ref, level + 1);
  pb__node_view_free(&va);
  pb__node_view_free(&vb);
}

/* --- Basics --- */

static void every_key_kind(void **state) {
  (void)state;
  fixture f;
  fx_open(&f);
  pb__hash *h;
  assert_int_equal(pb__hash_open(&f.cs.src, (pb_atom_ptr){0}, &h), PB_OK);
  assert_int_equal(count_of(h), 0);
  expect_absent(h, 0);
  for (unsigned i = 0; i < 64; i++) put_i(h, i, 0); /* 8 kinds, -0.0 */
  expect_range(h, 0, 64);
  /* 5 as INT and as UINT, 0.0 (-0.0 is key 4), "" and empty bytes, an
   * empty HashDictionary and an empty Set (null roots): all different
   * keys. */
  pb_value extra[] = {
      {.kind = PB_VALUE_INT, .as.i = 5},
      {.kind = PB_VALUE_UINT, .as.u = 5},
      {.kind = PB_VALUE_DOUBLE, .as.d = 0.0},
      {.kind = PB_VALUE_STRING, .as.s = {"", 0}},
      {.kind = PB_VALUE_BYTES, .as.bytes = {NULL, 0}},
      {.kind = PB_VALUE_HASHDICT},
      {.kind = PB_VALUE_LIST},
  };
  for (unsigned i = 0; i < 7; i++) {
    pb_value v = {.kind = PB_VALUE_UINT, .as.u = 1000 + i};
    assert_int_equal(pb__hash_put(h, &extra[i], &v), PB_OK);
  }
  assert_int_equal(count_of(h), 71);
  for (unsigned i = 0; i < 64; i++) expect_i(h, i, 0);
  for (unsigned i = 0; i < 7; i++) {
    pb_value got;
    assert_int_equal(pb__hash_get(h, &extra[i], &got), PB_OK);
    assert_true(got.kind == PB_VALUE_UINT && got.as.u == 1000 + i);
  }
  for (unsigned i = 64; i < 80; i++) expect_absent(h, i);
  /* The same after a flush and a reopen (every node loaded again). */
  h = persist_reopen(&f, h);
  assert_int_equal(count_of(h), 71);
  for (unsigned i = 0; i < 64; i++) expect_i(h, i, 0);
  pb_value got;
  assert_int_equal(pb__hash_get(h, &extra[2], &got), PB_OK);
  assert_int_equal(got.as.u, 1002);
  pb__hash_free(h);
  fx_close(&f);
}

/* Keys holding a non-null pointer (compaction would rewrite it, changing
 * the key's hash but not its place) and records that do not parse are
 * refused, by put and by Set add, and change nothing; null pointers and
 * records without pointers are fine. */
static void pointer_keys_refused(void **state) {
  (void)state;
  fixture f;
  fx_open(&f);
  pb__hash *h;
  assert_int_equal(pb__hash_open(&f.cs.src, (pb_atom_ptr){0}, &h), PB_OK);
  put_i(h, 1, 0);
  /* A record: field 1 = 7, field 2 = a pointer (null or not), field 3 =
   * an embedded record holding field 1 = a pointer. */
  uint8_t with_ptr[64], nested[64], null_ptr[64];
  size_t n = 0;
  with_ptr[n++] = 1u << 3 | PB_WT_VARINT, with_ptr[n++] = 7;
  with_ptr[n++] = 2u << 3 | PB_WT_PTR;
  memset(with_ptr + n, 0, 20);
  memcpy(null_ptr, with_ptr, n + 20);
  with_ptr[n + 19] = 9; /* a non-null offset */
  size_t rec_len = n + 20;
  size_t m = 0;
  nested[m++] = 3u << 3 | PB_WT_REC, nested[m++] = 21;
  nested[m++] = 1u << 3 | PB_WT_PTR;
  memset(nested + m, 0, 20);
  nested[m + 5] = 1; /* a non-null batch id */
  m += 20;
  const uint8_t garbage[] = {'r', '5'}; /* a LEN field running past */
  pb_value bad[] = {
      {.kind = PB_VALUE_REF, .as.ref = {1, 2, 3}},
      {.kind = PB_VALUE_DICT, .as.ref = {1, 2, 3}},
      {.kind = PB_VALUE_LIST, .as.ref = {0, 0, 8}},
      {.kind = PB_VALUE_SET, .as.ref = {4, 0, 0}},
      {.kind = PB_VALUE_HASHDICT, .as.ref = {1, 2, 3}},
      {.kind = PB_VALUE_RECORD, .as.rec = {17, {with_ptr, rec_len}}},
      {.kind = PB_VALUE_RECORD, .as.rec = {17, {nested, m}}},
      {.kind = PB_VALUE_RECORD, .as.rec = {17, {garbage, 2}}},
  };
  pb_value one = {.kind = PB_VALUE_UINT, .as.u = 1};
  for (unsigned i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    assert_int_equal(pb__hash_put(h, &bad[i], &one), PB_EINVAL);
    assert_int_equal(pb__set_add(h, &bad[i], NULL), PB_EINVAL);
    assert_int_equal(pb__hash_get(h, &bad[i], NULL), PB_ENOTFOUND);
    assert_int_equal(pb__hash_remove(h, &bad[i]), PB_ENOTFOUND);
  }
  assert_int_equal(count_of(h), 1);
  /* Pointers as VALUES are fine: keys are what gets hashed. */
  pb_value key = {.kind = PB_VALUE_UINT, .as.u = 99};
  assert_int_equal(pb__hash_put(h, &key, &bad[0]), PB_OK);
  /* A record whose pointer is null cannot be rewritten: accepted. */
  pb_value ok = {.kind = PB_VALUE_RECORD, .as.rec = {17, {null_ptr, rec_len}}};
  assert_int_equal(pb__hash_put(h, &ok, &one), PB_OK);
  assert_int_equal(count_of(h), 3);
  pb__hash_free(h);
  fx_close(&f);
}

static void copies_and_invalid_values(void **state) {
  (void)state;
  pb__src none = {NULL, NULL, NULL};
  pb__hash *h;
  assert_int_equal(pb__hash_open(&none, (pb_atom_ptr){0}, &h), PB_OK);
  char kb[8] = "key", vb[8] = "value";
  pb_value k = {.kind = PB_VALUE_STRING, .as.s = {kb, 3}};
  pb_value v = {.kind = PB_VALUE_BYTES, .as.bytes = {(uint8_t *)vb, 5}};
  assert_int_equal(pb__hash_put(h, &k, &v), PB_OK);
  memcpy(vb, "XXXXX", 5); /* put copied both */
  memcpy(kb, "abc", 3);
  pb_value k2 = {.kind = PB_VALUE_STRING, .as.s = {"key", 3}}, got;
  assert_int_equal(pb__hash_get(h, &k2, &got), PB_OK);
  assert_int_equal(got.as.bytes.len, 5);
  assert_memory_equal(got.as.bytes.ptr, "value", 5);
  assert_int_equal(pb__hash_get(h, &k, &got), PB_ENOTFOUND);
  /* A view handed out stays valid until the handle is freed (coll.h),
   * even after its value was replaced. */
  pb_value v2 = {.kind = PB_VALUE_STRING, .as.s = {"other", 5}}, old, now;
  assert_int_equal(pb__hash_get(h, &k2, &old), PB_OK);
  assert_int_equal(pb__hash_put(h, &k2, &v2), PB_OK);
  assert_int_equal(pb__hash_get(h, &k2, &now), PB_OK);
  assert_int_equal(now.kind, PB_VALUE_STRING);
  assert_memory_equal(old.as.bytes.ptr, "value", 5);
  pb_value back = {.kind = PB_VALUE_BYTES,
                   .as.bytes = {(const uint8_t *)"value", 5}};
  assert_int_equal(pb__hash_put(h, &k2, &back), PB_OK);
  /* Keys and values with no encoding: PB_EINVAL, nothing changes. */
  pb_value bad_key = {.kind = PB_VALUE_STRING, .as.s = {"\xff", 1}};
  pb_value bad_ref = {.kind = PB_VALUE_REF, .as.ref = {1, 1, 1ull << 32}};
  bool b;
  assert_int_equal(pb__hash_put(h, &bad_key, &v), PB_EINVAL);
  assert_int_equal(pb__hash_put(h, &k2, &bad_ref), PB_EINVAL);
  assert_int_equal(pb__hash_put(h, &bad_ref, &v), PB_EINVAL);
  assert_int_equal(pb__hash_get(h, &bad_key, &got), PB_EINVAL);
  assert_int_equal(pb__hash_remove(h, &bad_key), PB_EINVAL);
  assert_int_equal(pb__set_add(h, &bad_key, &b), PB_EINVAL);
  assert_int_equal(pb__set_contains(h, &bad_ref, &b), PB_EINVAL);
  assert_int_equal(count_of(h), 1);
  assert_int_equal(pb__hash_get(h, &k2, &got), PB_OK);
  assert_memory_equal(got.as.bytes.ptr, "value", 5);
  pb__hash_free(h);
}

static void replace_and_remove_to_empty(void **state) {
  (void)state;
  fixture f;
  fx_open(&f);
  pb__hash *h;
  assert_int_equal(pb__hash_open(&f.cs.src, (pb_atom_ptr){0}, &h), PB_OK);
  assert_false(pb__hash_dirty(h));
  for (unsigned i = 0; i < 500; i++) put_i(h, i, 0);
  assert_true(pb__hash_dirty(h));
  for (unsigned i = 1; i < 500; i += 2) put_i(h, i, 1);
  assert_int_equal(count_of(h), 500);
  for (unsigned i = 0; i < 500; i++) expect_i(h, i, i % 2);
  pb_atom_ptr root;
  assert_int_equal(pb__hash_flush(h, &f.cs.sink, &root), PB_OK);
  assert_true(pb_atom_ptr_equal(pb__hash_base(h), root));
  assert_false(pb__hash_dirty(h));
  put_i(h, 3, 1); /* the value it has: no change */
  assert_false(pb__hash_dirty(h));
  for (unsigned i = 0; i < 500; i++) {
    remove_i(h, i, PB_OK);
    remove_i(h, i, PB_ENOTFOUND);
    if (i % 50 == 0) expect_range(h, i + 1, 500);
  }
  assert_int_equal(count_of(h), 0);
  assert_true(pb__hash_dirty(h));
  assert_null(h->root.node); /* an empty trie has no root node */
  assert_int_equal(pb__hash_flush(h, &f.cs.sink, &root), PB_OK);
  assert_true(pb_atom_ptr_is_null(root));
  assert_true(pb_atom_ptr_is_null(pb__hash_base(h)));
  assert_false(pb__hash_dirty(h));
  /* Again from a reopened store, where every node starts not loaded. */
  for (unsigned i = 0; i < 300; i++) put_i(h, i, 2);
  h = persist_reopen(&f, h);
  for (unsigned i = 300; i-- > 0;) remove_i(h, i, PB_OK);
  assert_int_equal(count_of(h), 0);
  assert_int_equal(pb__hash_flush(h, &f.cs.sink, &root), PB_OK);
  assert_true(pb_atom_ptr_is_null(root));
  pb__hash_free(h);
  fx_close(&f);
}

/* --- Canonical form --- */

/* Keys (numbers) whose first fragments differ: a trie of one node. */
static unsigned spread_keys(unsigned *out, unsigned max) {
  unsigned n = 0;
  uint32_t used = 0;
  pb_buf b;
  pb_buf_init(&b);
  for (unsigned i = 0; i < 4096 && n < max; i++) {
    char kb[48];
    pb_value k = pb_test_key_of(i, kb);
    pb_buf_reset(&b);
    pb__value_encode(&b, &k);
    unsigned f = pb__hash_frag(pb__hash_fn(b.data, b.len), 0);
    if (used & (1u << f)) continue;
    used |= 1u << f;
    out[n++] = i;
  }
  pb_buf_free(&b);
  return n;
}

static void canonical_one_node(void **state) {
  (void)state;
  fixture f;
  fx_open(&f);
  unsigned keys[12];
  unsigned n = spread_keys(keys, 12);
  assert_true(n >= 2);
  pb__hash *a, *b;
  assert_int_equal(pb__hash_open(&f.cs.src, (pb_atom_ptr){0}, &a), PB_OK);
  assert_int_equal(pb__hash_open(&f.cs.src, (pb_atom_ptr){0}, &b), PB_OK);
  for (unsigned i = 0; i < n; i++) put_i(a, keys[i], 0);
  for (unsigned i = 0; i < 200; i++) put_i(b, 3000 + i, 0); /* then gone */
  for (unsigned i = n; i-- > 0;) put_i(b, keys[i], 0);
  for (unsigned i = 0; i < 200; i++) remove_i(b, 3000 + i, PB_OK);
  pb_atom_ptr ra, rb;
  assert_int_equal(pb__hash_flush(a, &f.cs.sink, &ra), PB_OK);
  assert_int_equal(pb__hash_flush(b, &f.cs.sink, &rb), PB_OK);
  assert_false(pb_atom_ptr_equal(ra, rb));
  pb_bytes xa, xb;
  assert_int_equal(f.cs.src.read(f.cs.src.arg, ra, &xa), PB_OK);
  assert_int_equal(f.cs.src.read(f.cs.src.arg, rb, &xb), PB_OK);
  assert_int_equal(xa.len, xb.len); /* whole root atoms, byte for byte */
  assert_memory_equal(xa.ptr, xb.ptr, xa.len);
  assert_int_equal(a->root.node->nkid, 0); /* one node, no children */
  pb__hash_free(a);
  pb__hash_free(b);
  fx_close(&f);
}

/* Shuffles a[0..n) with a fixed linear congruential sequence. */
static void shuffle(unsigned *a, unsigned n, uint64_t seed) {
  for (unsigned i = n; i > 1; i--) {
    seed = seed * 6364136223846793005ULL + 1442695040888963407ULL;
    unsigned j = (unsigned)((seed >> 33) % i), t = a[i - 1];
    a[i - 1] = a[j];
    a[j] = t;
  }
}

static void canonical_orders(void **state) {
  (void)state;
  fixture f;
  fx_open(&f);
  enum { N = 3000, EXTRA = 1000 };
  static unsigned order[N + EXTRA];
  for (unsigned i = 0; i < N + EXTRA; i++) order[i] = i;
  pb__hash *a, *b, *c;
  assert_int_equal(pb__hash_open(&f.cs.src, (pb_atom_ptr){0}, &a), PB_OK);
  assert_int_equal(pb__hash_open(&f.cs.src, (pb_atom_ptr){0}, &b), PB_OK);
  assert_int_equal(pb__hash_open(&f.cs.src, (pb_atom_ptr){0}, &c), PB_OK);
  for (unsigned i = 0; i < N; i++) put_i(a, i, 0);
  /* b: another order, with extra keys put among them and then removed. */
  shuffle(order, N + EXTRA, 42);
  for (unsigned i = 0; i < N + EXTRA; i++) put_i(b, order[i], 0);
  shuffle(order, N + EXTRA, 7);
  for (unsigned i = 0; i < N + EXTRA; i++)
    if (order[i] >= N) remove_i(b, order[i], PB_OK);
  /* c: everything, persisted, reopened, and the extra keys removed. */
  for (unsigned i = N + EXTRA; i-- > 0;) put_i(c, i, 0);
  pb_atom_ptr ra, rb, rc;
  assert_int_equal(pb__hash_flush(a, &f.cs.sink, &ra), PB_OK);
  assert_int_equal(pb__hash_flush(b, &f.cs.sink, &rb), PB_OK);
  c = persist_reopen(&f, c);
  for (unsigned i = N; i < N + EXTRA; i++) remove_i(c, i, PB_OK);
  assert_int_equal(count_of(c), N);
  assert_int_equal(pb__hash_flush(c, &f.cs.sink, &rc), PB_OK);
  assert_same_tree(&f.cs.src, ra, rb, 0);
  assert_same_tree(&f.cs.src, ra, rc, 0);
  expect_range(c, 0, N);
  pb__hash_free(a);
  pb__hash_free(b);
  pb__hash_free(c);
  fx_close(&f);
}

/* --- Forced collisions --- */

static pb__hash_stats_t stats_of(pb__hash *h) {
  pb__hash_stats_t s;
  assert_int_equal(pb__hash_stats(h, &s), PB_OK);
  return s;
}

/* Iteration of a collision node follows the keys' encodings. */
static void expect_encoding_order(pb__hash *h) {
  pb__hash_iter *it;
  assert_int_equal(pb__hash_iter_open(h, &it), PB_OK);
  pb_buf prev, cur;
  pb_buf_init(&prev);
  pb_buf_init(&cur);
  pb_value k;
  for (unsigned n = 0; pb__hash_iter_next(it, &k, NULL) == PB_OK; n++) {
    pb_buf_reset(&cur);
    pb__value_encode(&cur, &k);
    if (n > 0) {
      size_t m = prev.len < cur.len ? prev.len : cur.len;
      int c = memcmp(prev.data, cur.data, m);
      assert_true(c < 0 || (c == 0 && prev.len < cur.len));
    }
    pb_buf t = prev;
    prev = cur;
    cur = t;
  }
  pb__hash_iter_free(it);
  pb_buf_free(&prev);
  pb_buf_free(&cur);
}

/* Put, get, replace, iterate, remove, persist and remove down to empty,
 * with pb__hash_fn sending every key to one of `nhash` hashes. */
static void collision_workout(unsigned n, unsigned nhash) {
  fixture f;
  fx_open(&f);
  pb__hash *h;
  assert_int_equal(pb__hash_open(&f.cs.src, (pb_atom_ptr){0}, &h), PB_OK);
  for (unsigned i = 0; i < n; i++) put_i(h, i, 0);
  for (unsigned i = 0; i < n; i += 3) put_i(h, i, 1);
  assert_int_equal(count_of(h), n);
  for (unsigned i = 0; i < n; i++) expect_i(h, i, i % 3 == 0);
  for (unsigned i = n; i < n + 50; i++) expect_absent(h, i);
  expect_range(h, 0, n);
  pb__hash_stats_t s = stats_of(h);
  assert_int_equal(s.collisions, nhash);
  assert_int_equal(s.coll_keys, n);
  assert_int_equal(s.depth, PB__HASH_COLL_LEVEL + 1);
  if (nhash == 1) expect_encoding_order(h);
  for (unsigned i = 0; i < n; i += 2) remove_i(h, i, PB_OK);
  h = persist_reopen(&f, h);
  assert_int_equal(count_of(h), n / 2);
  for (unsigned i = 0; i < n; i++) {
    if (i % 2) expect_i(h, i, i % 3 == 0);
    else expect_absent(h, i);
  }
  put_i(h, 0, 5); /* into a reloaded collision node */
  expect_i(h, 0, 5);
  remove_i(h, 0, PB_OK);
  static unsigned char in[PB_TEST_KEY_INDEX_MAX];
  memset(in, 0, sizeof in);
  for (unsigned i = 1; i < n; i += 2) in[i] = 1;
  for (unsigned i = 1; i < n; i += 2) {
    remove_i(h, i, PB_OK);
    remove_i(h, i, PB_ENOTFOUND);
    in[i] = 0;
    if (i % 32 == 1 || i + 4 >= n) expect_members(h, in, n);
    uint64_t left = count_of(h);
    if (left == 1) /* the last key is pulled up into the root */
      assert_int_equal(stats_of(h).depth, 1);
    else if (left >= 2 && nhash == 1) /* a chain down to one collision */
      assert_int_equal(stats_of(h).depth, PB__HASH_COLL_LEVEL + 1);
  }
  pb_atom_ptr root;
  assert_int_equal(count_of(h), 0);
  assert_int_equal(pb__hash_flush(h, &f.cs.sink, &root), PB_OK);
  assert_true(pb_atom_ptr_is_null(root));
  pb__hash_free(h);
  fx_close(&f);
}

static void collisions_one_hash(void **state) {
  (void)state;
  pb__hash_fn = const_hash;
  collision_workout(300, 1);
}

static void collisions_three_hashes(void **state) {
  (void)state;
  pb__hash_fn = three_hash;
  collision_workout(450, 3);
}

/* --- Flush, reopen, mutate --- */

static void flush_reopen_mutate(void **state) {
  (void)state;
  fixture f;
  fx_open(&f);
  pb__hash *h;
  assert_int_equal(pb__hash_open(&f.cs.src, (pb_atom_ptr){0}, &h), PB_OK);
  for (unsigned i = 0; i < 4000; i++) put_i(h, i, 0);
  pb_atom_ptr r1, r2;
  assert_int_equal(pb__hash_flush(h, &f.cs.sink, &r1), PB_OK);
  uint64_t written = f.cs.atoms_written;
  assert_int_equal(pb__hash_flush(h, &f.cs.sink, &r2), PB_OK); /* clean */
  assert_int_equal(f.cs.atoms_written, written);
  assert_true(pb_atom_ptr_equal(r1, r2));
  put_i(h, 4000, 0); /* usable after flush */
  expect_i(h, 4000, 0);
  h = persist_reopen(&f, h);
  assert_null(h->root.node); /* nothing loaded yet */
  for (unsigned i = 0; i <= 4000; i += 7) expect_i(h, i, 0);
  /* Mutate a partly loaded trie: replace, remove, add. */
  for (unsigned i = 0; i < 1000; i++) put_i(h, i, 2);
  for (unsigned i = 1000; i < 2000; i++) remove_i(h, i, PB_OK);
  for (unsigned i = 4001; i < 4500; i++) put_i(h, i, 0);
  h = persist_reopen(&f, h);
  assert_int_equal(count_of(h), 4500 - 1000);
  static unsigned char in[4500];
  for (unsigned i = 0; i < 4500; i++) in[i] = i < 1000 || i >= 2000;
  expect_members(h, in, 4500);
  for (unsigned i = 0; i < 4500; i++) {
    if (!in[i]) expect_absent(h, i);
    else expect_i(h, i, i < 1000 ? 2 : 0);
  }
  pb__hash_free(h);
  fx_close(&f);
}

/* A sink that fails once `budget` atoms were written. */
typedef struct failing_sink {
  pb__sink inner;
  unsigned budget;
} failing_sink;

static int failing_write(void *arg, const void *atom, size_t len,
                         pb_atom_ptr *out) {
  failing_sink *fs = arg;
  if (fs->budget == 0) return PB_ENOMEM;
  fs->budget--;
  return fs->inner.write(fs->inner.arg, atom, len, out);
}

/* Atoms written here are thrown away (as a failed transaction's are). */
static int discard_write(void *arg, const void *atom, size_t len,
                         pb_atom_ptr *out) {
  (void)atom;
  (void)len;
  uint64_t *n = arg;
  *out = (pb_atom_ptr){0xdead, 0xbeef, ++*n};
  return PB_OK;
}

/* The trie of failed_flush_keeps_the_handle, reopened at `base` and
 * changed: 400 values replaced, 300 keys added. */
static pb__hash *changed(fixture *f, pb_atom_ptr base) {
  pb__hash *h;
  assert_int_equal(pb__hash_open(&f->cs.src, base, &h), PB_OK);
  for (unsigned i = 0; i < 2000; i += 5) put_i(h, i, 1);
  for (unsigned i = 2000; i < 2300; i++) put_i(h, i, 0);
  return h;
}

/* A flush that fails after `budget` atoms leaves the handle as it was:
 * flushing it again into another sink writes every dirty node there (no
 * child keeps a pointer to an atom of the failed attempt).  Fails at the
 * first atoms, in the middle, and at the last (the root). */
static void failed_flush_keeps_the_handle(void **state) {
  (void)state;
  fixture f;
  fx_open(&f);
  pb__hash *h;
  assert_int_equal(pb__hash_open(&f.cs.src, (pb_atom_ptr){0}, &h), PB_OK);
  for (unsigned i = 0; i < 2000; i++) put_i(h, i, 0);
  h = persist_reopen(&f, h);
  pb_atom_ptr base = pb__hash_base(h), root;
  pb__hash_free(h);
  uint64_t dirty = 0; /* how many atoms the flush writes */
  pb__sink counting = {discard_write, &dirty};
  h = changed(&f, base);
  assert_int_equal(pb__hash_flush(h, &counting, &root), PB_OK);
  pb__hash_free(h);
  assert_true(dirty > 10);
  uint64_t discarded = 0;
  failing_sink fs = {{discard_write, &discarded}, 0};
  pb__sink bad = {failing_write, &fs};
  const uint64_t budgets[] = {0, 1, 2, dirty / 3, dirty / 2, dirty - 2,
                              dirty - 1};
  for (unsigned b = 0; b < sizeof budgets / sizeof *budgets; b++) {
    h = changed(&f, base);
    fs.budget = (unsigned)budgets[b];
    assert_int_equal(pb__hash_flush(h, &bad, &root), PB_ENOMEM);
    assert_true(pb__hash_dirty(h));
    assert_true(pb_atom_ptr_equal(pb__hash_base(h), base));
    for (unsigned i = 0; i < 2300; i += 3)
      expect_i(h, i, i < 2000 && i % 5 == 0);
    h = persist_reopen(&f, h); /* into the store this time */
    expect_range(h, 0, 2300);
    for (unsigned i = 0; i < 2300; i++) expect_i(h, i, i < 2000 && i % 5 == 0);
    pb__hash_free(h);
  }
  assert_true(discarded > 0);
  fx_close(&f);
}

/* Collects the pointers pb__atom_refs finds. */
typedef struct found {
  pb_atom_ptr ptr[64];
  unsigned n;
} found;

static int collect(void *ctx, pb_atom_ptr ptr, size_t pos) {
  (void)pos;
  found *f = ctx;
  assert_true(f->n < 64);
  f->ptr[f->n++] = ptr;
  return 0;
}

/* The schema-free walker of compaction (atom/refs.h) finds exactly the
 * child pointers of a node whose keys and values hold none. */
static void walker_finds_children(void **state) {
  (void)state;
  fixture f;
  fx_open(&f);
  pb__hash *h;
  assert_int_equal(pb__hash_open(&f.cs.src, (pb_atom_ptr){0}, &h), PB_OK);
  for (uint64_t i = 0; i < 3000; i++) {
    pb_value k = {.kind = PB_VALUE_UINT, .as.u = i}, v = k;
    assert_int_equal(pb__hash_put(h, &k, &v), PB_OK);
  }
  pb_atom_ptr root;
  assert_int_equal(pb__hash_flush(h, &f.cs.sink, &root), PB_OK);
  pb__hnode *n = h->root.node;
  assert_true(n->nkid > 0);
  pb_bytes atom;
  assert_int_equal(f.cs.src.read(f.cs.src.arg, root, &atom), PB_OK);
  found got = {.n = 0};
  assert_int_equal(pb__atom_refs(atom, collect, &got), PB_OK);
  assert_int_equal(got.n, n->nkid);
  for (unsigned i = 0; i < n->nkid; i++)
    assert_true(pb_atom_ptr_equal(got.ptr[i], n->kids[i].ptr));
  pb__hash_free(h);
  fx_close(&f);
}

/* --- Hostile nodes --- */

/* Opens the trie at `root`, counts it (loading every node), frees it. */
static int try_count(pb_test_memstore *m, pb_atom_ptr root) {
  pb__src src = {pb_test_mem_read, m, NULL};
  pb__hash *h;
  assert_int_equal(pb__hash_open(&src, root, &h), PB_OK);
  uint64_t n;
  int rc = pb__hash_count(h, &n);
  pb__hash_free(h);
  return rc;
}

/* Opens the trie at `root` and looks `key` up. */
static int try_get(pb_test_memstore *m, pb_atom_ptr root, const pb_value *key) {
  pb__src src = {pb_test_mem_read, m, NULL};
  pb__hash *h;
  assert_int_equal(pb__hash_open(&src, root, &h), PB_OK);
  pb_value v;
  int rc = pb__hash_get(h, key, &v);
  pb__hash_free(h);
  return rc;
}

static pb_value U(uint64_t u) {
  return (pb_value){.kind = PB_VALUE_UINT, .as.u = u};
}

static pb_value R(pb_atom_ptr p) {
  return (pb_value){.kind = PB_VALUE_REF, .as.ref = p};
}

static uint64_t hash_of(const pb_value *k) {
  pb_buf b;
  pb_buf_init(&b);
  pb__value_encode(&b, k);
  uint64_t x = pb__hash_fn(b.data, b.len);
  pb_buf_free(&b);
  return x;
}

/* The first UINT key from `from` whose fragment at level 0 is (or, with
 * `differ`, is not) f0, and at level 1 is not g1 (32: any). */
static pb_value pick(uint64_t from, unsigned f0, bool differ, unsigned g1) {
  for (uint64_t u = from;; u++) {
    pb_value k = U(u);
    uint64_t x = hash_of(&k);
    bool ok0 = differ ? pb__hash_frag(x, 0) != f0 : pb__hash_frag(x, 0) == f0;
    if (ok0 && pb__hash_frag(x, 1) != g1) return k;
  }
}

static void hostile_nodes(void **state) {
  (void)state;
  pb_test_memstore m = {.n = 0};
  pb_value a = U(1), va = U(100);
  unsigned fa = pb__hash_frag(hash_of(&a), 0);
  pb_value b = pick(2, fa, true, 32), vb = U(200);
  unsigned fb = pb__hash_frag(hash_of(&b), 0);
  pb_value ab[4] = {a, va, b, vb}, ba[4] = {b, vb, a, va};
  const pb_value *pair = fa < fb ? ab : ba;
  pb_value two[6] = {U((1u << fa) | (1u << fb)), U(0), pair[0], pair[1],
                     pair[2], pair[3]};
  /* The well-formed root, as a control. */
  pb_atom_ptr good = pb_test_mem_node(&m, PB__TYPE_HASH_NODE, two, 6);
  assert_int_equal(try_count(&m, good), PB_OK);
  assert_int_equal(try_get(&m, good, &b), PB_OK);
  /* Wrong types. */
  assert_corrupt(try_count(&m, pb_test_mem_node(&m, PB__TYPE_DICT_LEAF, two, 6)), PB_AT_ATOM);
  assert_corrupt(try_get(&m, pb_test_mem_node(&m, PB__TYPE_HASH_COLLISION, two, 6), &a), PB_AT_ATOM);
  /* Maps against counts, overlapping, too wide, not UINT, empty. */
  pb_value v[8];
  memcpy(v, two, sizeof two);
  unsigned fc = 0;
  while (fc == fa || fc == fb) fc++;
  v[0] = U((1u << fa) | (1u << fb) | (1u << fc)); /* 3 bits, 2 entries */
  assert_corrupt(try_count(&m, pb_test_mem_node(&m, 6, v, 6)), PB_AT_ATOM);
  memcpy(v, two, sizeof two);
  v[1] = U(1u << fa);
  v[6] = R(good);
  assert_corrupt(try_count(&m, pb_test_mem_node(&m, 6, v, 7)), PB_AT_ATOM);
  memcpy(v, two, sizeof two);
  v[0].as.u |= 1ull << 40;
  assert_corrupt(try_count(&m, pb_test_mem_node(&m, 6, v, 6)), PB_AT_ATOM);
  memcpy(v, two, sizeof two);
  v[0].kind = PB_VALUE_INT;
  assert_corrupt(try_count(&m, pb_test_mem_node(&m, 6, v, 6)), PB_AT_ATOM);
  pb_value empty[2] = {U(0), U(0)};
  assert_corrupt(try_count(&m, pb_test_mem_node(&m, 6, empty, 2)), PB_AT_ATOM);
  /* An entry in a slot its hash does not name. */
  pb_value wrong[4] = {U(1u << ((fa + 1) % 32)), U(0), a, va};
  assert_corrupt(try_count(&m, pb_test_mem_node(&m, 6, wrong, 4)), PB_AT_ATOM);
  /* Children: null, not a REF, missing, itself, a cycle of two. */
  pb_value kid[3] = {U(0), U(1u << fa), R((pb_atom_ptr){0})};
  assert_corrupt(try_count(&m, pb_test_mem_node(&m, 6, kid, 3)), PB_AT_ATOM);
  kid[2] = U(5);
  assert_corrupt(try_count(&m, pb_test_mem_node(&m, 6, kid, 3)), PB_AT_ATOM);
  kid[2] = R(PB_TEST_MEM_PTR(999));
  assert_corrupt(try_count(&m, pb_test_mem_node(&m, 6, kid, 3)), PB_AT_ATOM);
  kid[2] = R(pb_test_mem_next(&m));
  pb_atom_ptr self = pb_test_mem_node(&m, 6, kid, 3);
  assert_corrupt(try_count(&m, self), PB_AT_ATOM);
  pb_atom_ptr x = pb_test_mem_next(&m), y = PB_TEST_MEM_PTR(x.offset + 1);
  kid[2] = R(y);
  pb_test_mem_node(&m, 6, kid, 3);
  kid[2] = R(x);
  pb_test_mem_node(&m, 6, kid, 3);
  assert_corrupt(try_count(&m, x), PB_AT_ATOM);
  /* A child holding one entry alone (it belongs in its parent), then the
   * same child with a second key as a control, then with a key whose
   * first fragment is not the child's slot. */
  unsigned ga = pb__hash_frag(hash_of(&a), 1);
  pb_value lone[4] = {U(1u << ga), U(0), a, va};
  kid[1] = U(1u << fa);
  kid[2] = R(pb_test_mem_node(&m, 6, lone, 4));
  assert_corrupt(try_count(&m, pb_test_mem_node(&m, 6, kid, 3)), PB_AT_ATOM);
  pb_value a2 = pick(2, fa, false, ga);
  unsigned g2 = pb__hash_frag(hash_of(&a2), 1);
  pb_value duo[6] = {U((1u << ga) | (1u << g2)), U(0),
                     ga < g2 ? a : a2, va, ga < g2 ? a2 : a, va};
  kid[2] = R(pb_test_mem_node(&m, 6, duo, 6));
  pb_atom_ptr deep = pb_test_mem_node(&m, 6, kid, 3);
  assert_int_equal(try_count(&m, deep), PB_OK);
  assert_int_equal(try_get(&m, deep, &a2), PB_OK);
  unsigned gb = pb__hash_frag(hash_of(&b), 1);
  if (gb != ga) {
    pb_value stray[6] = {U((1u << ga) | (1u << gb)), U(0),
                         ga < gb ? a : b, va, ga < gb ? b : a, va};
    kid[2] = R(pb_test_mem_node(&m, 6, stray, 6));
    assert_corrupt(try_count(&m, pb_test_mem_node(&m, 6, kid, 3)), PB_AT_ATOM);
  }
  /* Truncated atoms, and a byte too many. */
  pb_bytes whole = {NULL, 0};
  assert_int_equal(pb_test_mem_read(&m, good, &whole), PB_OK);
  uint8_t buf[256];
  assert_true(whole.len < sizeof buf);
  memcpy(buf, whole.ptr, whole.len);
  for (size_t cut = 0; cut < whole.len; cut++) {
    if (m.n == PB_TEST_MEM_MAX) /* pointers restart; buf has the bytes */
      pb_test_mem_free(&m);
    assert_corrupt(try_count(&m, pb_test_mem_raw(&m, buf, cut)), PB_AT_ATOM);
  }
  buf[whole.len] = 0;
  assert_corrupt(try_count(&m, pb_test_mem_raw(&m, buf, whole.len + 1)), PB_AT_ATOM);
  pb_test_mem_free(&m);
}

/* Every key hashes to CONST_H, except UINT 999. */
#define CONST_H 0x0123456789abcdefULL
static uint64_t mostly_const(const void *b, size_t n) {
  const uint8_t odd[] = {PB_VALUE_UINT, 0xe7, 0x07}; /* UINT 999 */
  return n == 3 && memcmp(b, odd, 3) == 0 ? CONST_H ^ 1 : CONST_H;
}

/* Nodes from level `from` down to `to` - 1, each with one child: the
 * next level's, and finally `leaf` at level `to`.  Gives the top one. */
static pb_atom_ptr chain(pb_test_memstore *m, pb_atom_ptr leaf, unsigned from,
                         unsigned to) {
  for (unsigned level = to; level-- > from;) {
    pb_value v[3] = {U(0), U(1u << pb__hash_frag(CONST_H, level)), R(leaf)};
    leaf = pb_test_mem_node(m, PB__TYPE_HASH_NODE, v, 3);
  }
  return leaf;
}

static void hostile_collisions(void **state) {
  (void)state;
  pb__hash_fn = mostly_const;
  pb_test_memstore m = {.n = 0};
  pb_value k1 = U(1), k2 = U(2), k3 = U(3), v = U(7);
  pb_value ok[7] = {U(CONST_H), k1, v, k2, v, k3, v};
  pb_atom_ptr coll = pb_test_mem_node(&m, PB__TYPE_HASH_COLLISION, ok, 7);
  pb_atom_ptr good = chain(&m, coll, 0, PB__HASH_COLL_LEVEL);
  assert_int_equal(try_count(&m, good), PB_OK); /* the control */
  assert_int_equal(try_get(&m, good, &k3), PB_OK);
  /* One entry; out of order; twice the same key; another hash; a key of
   * another hash. */
  pb_value bad[7];
  memcpy(bad, ok, sizeof ok);
  pb_atom_ptr one = pb_test_mem_node(&m, 7, bad, 3);
  assert_corrupt(try_count(&m, chain(&m, one, 0, 13)), PB_AT_ATOM);
  bad[1] = k2, bad[3] = k1;
  pb_atom_ptr unsorted = pb_test_mem_node(&m, 7, bad, 5);
  assert_corrupt(try_count(&m, chain(&m, unsorted, 0, 13)), PB_AT_ATOM);
  bad[1] = k1, bad[3] = k1;
  pb_atom_ptr twice = pb_test_mem_node(&m, 7, bad, 5);
  assert_corrupt(try_count(&m, chain(&m, twice, 0, 13)), PB_AT_ATOM);
  memcpy(bad, ok, sizeof ok);
  bad[0] = U(CONST_H ^ 1);
  pb_atom_ptr other = pb_test_mem_node(&m, 7, bad, 5);
  assert_corrupt(try_count(&m, chain(&m, other, 0, 13)), PB_AT_ATOM);
  memcpy(bad, ok, sizeof ok);
  bad[5] = U(999);
  pb_atom_ptr stray = pb_test_mem_node(&m, 7, bad, 7);
  assert_corrupt(try_count(&m, chain(&m, stray, 0, 13)), PB_AT_ATOM);
  /* A collision node one level too high; a CHAMP node at level 13. */
  assert_corrupt(try_count(&m, chain(&m, coll, 0, 12)), PB_AT_ATOM);
  pb_value champ[6] = {U(3), U(0), k1, v, k2, v};
  pb_atom_ptr low = pb_test_mem_node(&m, 6, champ, 6);
  assert_corrupt(try_count(&m, chain(&m, low, 0, 13)), PB_AT_ATOM);
  /* Level 12 has 16 slots: a child in slot 20 is out of range. */
  pb_value wide[3] = {U(0), U(1u << 20), R(coll)};
  pb_atom_ptr l12 = pb_test_mem_node(&m, 6, wide, 3);
  assert_corrupt(try_count(&m, chain(&m, l12, 0, 12)), PB_AT_ATOM);
  pb_test_mem_free(&m);
}

/* --- Sets --- */

static pb__hash *set_of(const pb__src *src, const unsigned *keys, unsigned n) {
  pb__hash *s;
  assert_int_equal(pb__hash_open(src, (pb_atom_ptr){0}, &s), PB_OK);
  for (unsigned i = 0; i < n; i++) {
    char kb[48];
    pb_value k = pb_test_key_of(keys[i], kb);
    bool added = false;
    assert_int_equal(pb__set_add(s, &k, &added), PB_OK);
    assert_true(added);
    assert_int_equal(pb__set_add(s, &k, &added), PB_OK);
    assert_false(added);
  }
  return s;
}

/* Checks that set `s` is exactly keys[0..n), and that flushing it gives
 * the same trie as a set built from scratch. */
static void expect_set(fixture *f, pb__hash *s, const unsigned *keys,
                       unsigned n) {
  static unsigned char in[PB_TEST_KEY_INDEX_MAX];
  memset(in, 0, sizeof in);
  unsigned u = 1;
  for (unsigned i = 0; i < n; i++) {
    char kb[48];
    pb_value k = pb_test_key_of(keys[i], kb);
    bool has = false;
    assert_int_equal(pb__set_contains(s, &k, &has), PB_OK);
    assert_true(has);
    in[keys[i]] = 1;
    if (keys[i] + 1 > u) u = keys[i] + 1;
  }
  assert_int_equal(count_of(s), n);
  expect_members(s, in, u);
  pb__hash *fresh = set_of(&f->cs.src, keys, n);
  pb_atom_ptr rs, rf;
  assert_int_equal(pb__hash_flush(s, &f->cs.sink, &rs), PB_OK);
  assert_int_equal(pb__hash_flush(fresh, &f->cs.sink, &rf), PB_OK);
  assert_same_tree(&f->cs.src, rs, rf, 0);
  pb__hash_free(fresh);
}

static void set_algebra_examples(void **state) {
  (void)state;
  fixture fa, fb;
  fx_open(&fa);
  fx_open(&fb);
  /* a = {0, 2, 3, 8, 20}: persisted, reopened, then changed (dirty). */
  const unsigned ka[] = {0, 1, 2, 3, 8};
  pb__hash *a = persist_reopen(&fa, set_of(&fa.cs.src, ka, 5));
  char kb[48];
  bool added;
  pb_value k = pb_test_key_of(20, kb);
  assert_int_equal(pb__set_add(a, &k, &added), PB_OK);
  assert_true(added);
  k = pb_test_key_of(1, kb);
  assert_int_equal(pb__hash_remove(a, &k), PB_OK);
  /* b = {2, 3, 4, 7 (NULL), 21}, in another store. */
  const unsigned kb0[] = {2, 3, 4, 7};
  pb__hash *b = persist_reopen(&fb, set_of(&fb.cs.src, kb0, 4));
  k = pb_test_key_of(21, kb);
  assert_int_equal(pb__set_add(b, &k, NULL), PB_OK);
  pb_value nul = {.kind = PB_VALUE_NULL}, v;
  assert_int_equal(pb__hash_get(b, &nul, &v), PB_OK);
  assert_int_equal(v.kind, PB_VALUE_NULL); /* a Set's values are NULL */
  const unsigned want_a[] = {0, 2, 3, 8, 20}, want_b[] = {2, 3, 4, 7, 21};
  const unsigned u[] = {0, 2, 3, 4, 7, 8, 20, 21}, i[] = {2, 3},
                 d[] = {0, 8, 20};
  pb__hash *r;
  assert_int_equal(pb__set_algebra(a, b, PB__SET_UNION, &r), PB_OK);
  assert_true(pb__hash_dirty(r));
  assert_true(pb_atom_ptr_is_null(pb__hash_base(r)));
  expect_set(&fa, r, u, 8);
  pb__hash_free(r);
  assert_int_equal(pb__set_algebra(a, b, PB__SET_INTERSECTION, &r), PB_OK);
  expect_set(&fa, r, i, 2);
  pb__hash_free(r);
  assert_int_equal(pb__set_algebra(a, b, PB__SET_DIFFERENCE, &r), PB_OK);
  expect_set(&fa, r, d, 3);
  pb__hash_free(r);
  assert_int_equal(pb__set_algebra(b, a, PB__SET_DIFFERENCE, &r), PB_OK);
  const unsigned d2[] = {4, 7, 21};
  expect_set(&fb, r, d2, 3);
  pb__hash_free(r);
  /* With itself, and with the empty set. */
  assert_int_equal(pb__set_algebra(a, a, PB__SET_UNION, &r), PB_OK);
  expect_set(&fa, r, want_a, 5);
  pb__hash_free(r);
  assert_int_equal(pb__set_algebra(a, a, PB__SET_DIFFERENCE, &r), PB_OK);
  expect_set(&fa, r, NULL, 0);
  pb__hash_free(r);
  pb__hash *e = set_of(&fa.cs.src, NULL, 0);
  assert_int_equal(pb__set_algebra(e, b, PB__SET_UNION, &r), PB_OK);
  expect_set(&fa, r, want_b, 5);
  pb__hash_free(r);
  assert_int_equal(pb__set_algebra(a, e, PB__SET_INTERSECTION, &r), PB_OK);
  expect_set(&fa, r, NULL, 0);
  pb__hash_free(r);
  pb__hash_free(e);
  /* a and b did not change. */
  expect_set(&fa, a, want_a, 5);
  expect_set(&fb, b, want_b, 5);
  pb__hash_free(a);
  pb__hash_free(b);
  fx_close(&fa);
  fx_close(&fb);
}

/* Larger sets: a union that adds nothing shares a's atoms; a with dirty
 * subtrees is copied (the results outlive a and b). */
static void set_algebra_large(void **state) {
  (void)state;
  fixture f;
  fx_open(&f);
  static unsigned ka[3000], kb[3000], want[6000];
  for (unsigned i = 0; i < 3000; i++) ka[i] = i, kb[i] = 1500 + i;
  pb__hash *a = persist_reopen(&f, set_of(&f.cs.src, ka, 3000));
  pb__hash *b = set_of(&f.cs.src, kb, 3000);
  pb__hash *sub = set_of(&f.cs.src, ka + 100, 500);
  pb__hash *r, *ru, *ri, *rd;
  assert_int_equal(pb__set_algebra(a, sub, PB__SET_UNION, &r), PB_OK);
  uint64_t written = f.cs.atoms_written;
  pb_atom_ptr root;
  assert_int_equal(pb__hash_flush(r, &f.cs.sink, &root), PB_OK);
  assert_int_equal(f.cs.atoms_written, written); /* nothing new */
  assert_true(pb_atom_ptr_equal(root, pb__hash_base(a)));
  pb__hash_free(r);
  pb__hash_free(sub);
  /* a = [100, 3500): dirty paths over a partly loaded trie. */
  for (unsigned i = 3000; i < 3500; i++) {
    char buf[48];
    pb_value k = pb_test_key_of(i, buf);
    assert_int_equal(pb__set_add(a, &k, NULL), PB_OK);
  }
  for (unsigned i = 0; i < 100; i++) remove_i(a, i, PB_OK);
  assert_int_equal(pb__set_algebra(a, b, PB__SET_UNION, &ru), PB_OK);
  assert_int_equal(pb__set_algebra(a, b, PB__SET_INTERSECTION, &ri), PB_OK);
  assert_int_equal(pb__set_algebra(a, b, PB__SET_DIFFERENCE, &rd), PB_OK);
  pb__hash_free(b);
  pb__hash_free(a);
  for (unsigned i = 0; i < 4500; i++) want[i] = i;
  expect_set(&f, ru, want + 100, 4400);
  expect_set(&f, ri, want + 1500, 2000);
  expect_set(&f, rd, want + 100, 1400);
  pb__hash_free(ru);
  pb__hash_free(ri);
  pb__hash_free(rd);
  fx_close(&f);
}

/* --- Size --- */

static bool tiny;

static double now(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

/* 1,000,000 entries: about 3 s plain and 9 s under ASan on 2 cores. */
#define BIG_N 1000000u

static void million_entries(void **state) {
  (void)state;
  if (tiny) skip(); /* the same test as without --tiny: real hashes */
  pb__hash_fn = pb__hash_xxh3;
  fixture f;
  fx_open(&f);
  pb__hash *h;
  assert_int_equal(pb__hash_open(&f.cs.src, (pb_atom_ptr){0}, &h), PB_OK);
  double t0 = now();
  for (uint64_t i = 0; i < BIG_N; i++) {
    pb_value k = U(i), v = U(i * 3);
    assert_int_equal(pb__hash_put(h, &k, &v), PB_OK);
  }
  double t1 = now();
  pb_atom_ptr root;
  uint64_t w0 = f.cs.atoms_written;
  assert_int_equal(pb__hash_flush(h, &f.cs.sink, &root), PB_OK);
  uint64_t flushed = f.cs.atoms_written - w0;
  size_t bytes = f.cs.bb.buf.len; /* the batch: these atoms only */
  pb_test_cstore_commit(&f.cs, root);
  double t2 = now();
  pb__hash_stats_t s = stats_of(h);
  assert_int_equal(s.entries, BIG_N);
  assert_int_equal(s.nodes + s.collisions, flushed);
  /* One put of an existing key, then flush: the path from the root. */
  uint64_t most = 0, sum = 0;
  for (uint64_t i = 0; i < 100; i++) {
    pb_value k = U(i * 9973), v = U(7);
    assert_int_equal(pb__hash_put(h, &k, &v), PB_OK);
    uint64_t w = f.cs.atoms_written;
    assert_int_equal(pb__hash_flush(h, &f.cs.sink, &root), PB_OK);
    pb_test_cstore_commit(&f.cs, root);
    uint64_t n = f.cs.atoms_written - w;
    assert_true(n >= 1 && n <= s.depth + 1);
    most = n > most ? n : most;
    sum += n;
  }
  printf("hash size: %u UINT entries: put %.2f s, flush+commit %.2f s "
         "(%llu atoms, %.1f MB, %.1f bytes per entry); depth %u, mean entry depth %.2f, %llu nodes, "
         "%llu collision nodes; one put of an existing key then flush "
         "writes %.2f atoms on average, %llu at most (100 samples)\n",
         BIG_N, t1 - t0, t2 - t1, (unsigned long long)flushed,
         (double)bytes / 1e6, (double)bytes / BIG_N, s.depth,
         (double)s.depth_sum / (double)s.entries,
         (unsigned long long)s.nodes, (unsigned long long)s.collisions,
         (double)sum / 100.0, (unsigned long long)most);
  pb__hash_free(h);
  fx_close(&f);
}

int main(int argc, char **argv) {
  tiny = pb_test_coll_args(argc, argv);
  if (tiny) default_fn = pb_test_low_entropy;
  pb__hash_fn = default_fn;
  printf("test_hash: %s hash\n", tiny ? "low-entropy (--tiny)" : "XXH3");
#define T(f) \
  cmocka_unit_test_setup_teardown(f, use_default_hash, use_default_hash)
  const struct CMUnitTest tests[] = {
      T(every_key_kind),
      T(pointer_keys_refused),
      T(copies_and_invalid_values),
      T(replace_and_remove_to_empty),
      T(canonical_one_node),
      T(canonical_orders),
      T(collisions_one_hash),
      T(collisions_three_hashes),
      T(flush_reopen_mutate),
      T(failed_flush_keeps_the_handle),
      T(walker_finds_children),
      T(hostile_nodes),
      T(hostile_collisions),
      T(set_algebra_examples),
      T(set_algebra_large),
      T(million_entries),
  };
#undef T
  return cmocka_run_group_tests(tests, NULL, NULL);
}
