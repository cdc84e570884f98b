/*
 * test_dict.c - the Dictionary (collections/dict.h), a copy-on-write
 * B+tree: get/put/remove/count, replace, the empty dictionary, range
 * iteration (bounds included, excluded, open; reverse; entry by entry and
 * by leaf runs), bulk load and its
 * refusals, invalid keys and values, flush + reopen + mutate through the
 * test file store, trees written with another fanout, failing sources and
 * sinks (the handle stays as it was), hostile node atoms (each rule of the
 * decoder, cycles, truncation, random byte flips), and structural
 * sharing: one update in a 1M-entry tree writes at most height + 1 atoms.
 *
 * `--tiny` (pb_test_coll_args) runs everything with fanout 4, and scales
 * the 1M sharing test down (fanout 4 cannot fit 1M entries in 4 levels).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "corrupt_detail.h"
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "atom/atom.h"
#include "atom/value.h"
#include "collections/dict.h"
#include "collections/dict_int.h"
#include "support/collstore.h"
#include "support/memstore.h"
#include "test_util.h"

static bool g_tiny; /* --tiny: fanout 4 */

static pb_str S(const char *s) { return pb_str_from_cstr(s); }
static pb_value U(uint64_t u) {
  return (pb_value){.kind = PB_VALUE_UINT, .as.u = u};
}

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* --- a file store per test (tests/support/collstore.h) --- */

typedef struct fx {
  char *dir;         /* the store's directory */
  pb_test_cstore cs; /* the store */
} fx;

static int fx_setup(void **state) {
  fx *f = calloc(1, sizeof *f);
  f->dir = pb_test_tmpdir();
  pb_test_cstore_open(&f->cs, f->dir);
  *state = f;
  return 0;
}

static int fx_teardown(void **state) {
  fx *f = *state;
  pb_test_cstore_close(&f->cs);
  pb_test_rmdir(f->dir);
  free(f);
  return 0;
}

static pb__dict *open_at(fx *f, pb_atom_ptr root) {
  pb__dict *d = NULL;
  assert_int_equal(pb__dict_open(&f->cs.src, root, &d), PB_OK);
  return d;
}

/* Flushes and commits d, frees it, reopens the store and gives a fresh
 * handle over the committed root (every node not loaded). */
static pb__dict *persist_reopen(fx *f, pb__dict *d) {
  pb_atom_ptr root;
  assert_int_equal(pb__dict_flush(d, &f->cs.sink, &root), PB_OK);
  assert_false(pb__dict_dirty(d));
  pb_test_cstore_commit(&f->cs, root);
  pb__dict_free(d);
  pb_test_cstore_reopen(&f->cs);
  assert_true(pb_atom_ptr_equal(f->cs.root, root));
  return open_at(f, root);
}

static uint64_t count_of(pb__dict *d) {
  uint64_t n = UINT64_MAX;
  assert_int_equal(pb__dict_count(d, &n), PB_OK);
  return n;
}

static void expect_uint(pb__dict *d, const char *key, uint64_t u) {
  pb_value v;
  assert_int_equal(pb__dict_get(d, S(key), &v), PB_OK);
  assert_int_equal(v.kind, PB_VALUE_UINT);
  assert_true(v.as.u == u);
}

static void numbered(char *buf, size_t size, const char *fmt, unsigned i) {
  snprintf(buf, size, fmt, i);
}

/* --- basics --- */

static void empty_dictionary(void **state) {
  fx *f = *state;
  pb__dict *d = open_at(f, (pb_atom_ptr){0, 0, 0});
  pb_value v;
  unsigned h = 99;
  assert_int_equal(pb__dict_get(d, S("a"), &v), PB_ENOTFOUND);
  assert_int_equal(pb__dict_remove(d, S("a")), PB_ENOTFOUND);
  assert_true(count_of(d) == 0);
  assert_int_equal(pb__dict_height(d, &h), PB_OK);
  assert_int_equal(h, 0);
  pb__dict_iter *it;
  pb_str k;
  for (int rev = 0; rev < 2; rev++) {
    assert_int_equal(pb__dict_iter_open(d, NULL, rev, &it), PB_OK);
    assert_int_equal(pb__dict_iter_next(it, &k, &v), PB_ENOTFOUND);
    assert_int_equal(pb__dict_iter_next(it, &k, &v), PB_ENOTFOUND);
    pb__dict_iter_free(it);
  }
  assert_false(pb__dict_dirty(d));
  pb_atom_ptr root = {1, 1, 1};
  uint64_t before = f->cs.atoms_written;
  assert_int_equal(pb__dict_flush(d, &f->cs.sink, &root), PB_OK);
  assert_true(pb_atom_ptr_is_null(root));
  assert_true(f->cs.atoms_written == before);
  /* A dictionary emptied by removes flushes to the null root as well. */
  assert_int_equal(pb__dict_put(d, S("x"), &(pb_value){0}), PB_OK);
  assert_true(pb__dict_dirty(d));
  assert_int_equal(pb__dict_remove(d, S("x")), PB_OK);
  assert_int_equal(pb__dict_height(d, &h), PB_OK);
  assert_int_equal(h, 0);
  assert_int_equal(pb__dict_flush(d, &f->cs.sink, &root), PB_OK);
  assert_true(pb_atom_ptr_is_null(root));
  assert_true(pb_atom_ptr_is_null(pb__dict_base(d)));
  pb__dict_free(d);
  pb__dict_free(NULL);
  pb__dict_iter_free(NULL);
}

static void put_get_replace_remove(void **state) {
  fx *f = *state;
  pb__dict *d = open_at(f, (pb_atom_ptr){0, 0, 0});
  const char *keys[] = {"m", "a", "zz", "b", "", "ab", "\xc3\xa9t\xc3\xa9", "a\x7f"};
  const size_t nk = sizeof keys / sizeof *keys;
  for (size_t i = 0; i < nk; i++) {
    pb_value v = U(i);
    assert_int_equal(pb__dict_put(d, S(keys[i]), &v), PB_OK);
    assert_true(count_of(d) == i + 1);
  }
  for (size_t i = 0; i < nk; i++) expect_uint(d, keys[i], i);
  pb_value v;
  assert_int_equal(pb__dict_get(d, S("aa"), &v), PB_ENOTFOUND);
  assert_int_equal(pb__dict_get(d, S("zzz"), &v), PB_ENOTFOUND);
  /* Order: bytewise, the shorter first on a common prefix. */
  const char *sorted[] = {"", "a", "ab", "a\x7f", "b", "m", "zz", "\xc3\xa9t\xc3\xa9"};
  pb__dict_iter *it;
  pb_str k;
  assert_int_equal(pb__dict_iter_open(d, NULL, false, &it), PB_OK);
  for (size_t i = 0; i < nk; i++) {
    assert_int_equal(pb__dict_iter_next(it, &k, &v), PB_OK);
    assert_int_equal(k.len, strlen(sorted[i]));
    assert_memory_equal(k.ptr ? k.ptr : "", sorted[i], k.len);
  }
  assert_int_equal(pb__dict_iter_next(it, &k, &v), PB_ENOTFOUND);
  pb__dict_iter_free(it);
  /* Replace: same count, new value (a string, copied). */
  char text[] = "replaced";
  v = (pb_value){.kind = PB_VALUE_STRING, .as.s = S(text)};
  assert_int_equal(pb__dict_put(d, S("m"), &v), PB_OK);
  memset(text, '#', strlen(text));
  assert_true(count_of(d) == nk);
  assert_int_equal(pb__dict_get(d, S("m"), &v), PB_OK);
  assert_int_equal(v.kind, PB_VALUE_STRING);
  assert_int_equal(v.as.s.len, 8);
  assert_memory_equal(v.as.s.ptr, "replaced", 8);
  /* Remove, and remove again. */
  assert_int_equal(pb__dict_remove(d, S("a")), PB_OK);
  assert_int_equal(pb__dict_remove(d, S("a")), PB_ENOTFOUND);
  assert_int_equal(pb__dict_get(d, S("a"), &v), PB_ENOTFOUND);
  assert_true(count_of(d) == nk - 1);
  /* After a flush, putting an equal value changes nothing. */
  pb_atom_ptr root;
  assert_int_equal(pb__dict_flush(d, &f->cs.sink, &root), PB_OK);
  assert_false(pb__dict_dirty(d));
  assert_true(pb_atom_ptr_equal(pb__dict_base(d), root));
  v = U(1);
  assert_int_equal(pb__dict_put(d, S("zz"), &(pb_value){.kind = PB_VALUE_UINT,
                                                        .as.u = 2}),
                   PB_OK);
  assert_false(pb__dict_dirty(d));
  assert_int_equal(pb__dict_put(d, S("zz"), &v), PB_OK);
  assert_true(pb__dict_dirty(d));
  assert_true(pb_atom_ptr_equal(pb__dict_base(d), root));
  assert_int_equal(pb__dict_verify(d, true), PB_OK);
  pb__dict_free(d);
}

/* A pseudo-random permutation step (full period mod 2^32). */
static uint32_t lcg(uint32_t x) { return x * 1664525u + 1013904223u; }

static void many_puts_then_removes_to_empty(void **state) {
  fx *f = *state;
  pb__dict *d = open_at(f, (pb_atom_ptr){0, 0, 0});
  enum { N = 5000 };
  char key[32];
  uint32_t x = 7;
  unsigned height = 0;
  for (unsigned i = 0; i < N; i++) { /* keys in a scrambled order */
    x = lcg(x);
    numbered(key, sizeof key, "k%u", (x >> 8) % N);
    pb_value v = U((x >> 8) % N);
    assert_int_equal(pb__dict_put(d, S(key), &v), PB_OK);
    if (i % 997 == 0) assert_int_equal(pb__dict_verify(d, true), PB_OK);
  }
  for (unsigned i = 0; i < N; i++) { /* then every key once */
    numbered(key, sizeof key, "k%u", i);
    pb_value v = U(i);
    assert_int_equal(pb__dict_put(d, S(key), &v), PB_OK);
  }
  assert_true(count_of(d) == N);
  assert_int_equal(pb__dict_verify(d, true), PB_OK);
  assert_int_equal(pb__dict_height(d, &height), PB_OK);
  assert_true(height >= 2);
  d = persist_reopen(f, d);
  for (unsigned i = 0; i < N; i += 1 + i % 7) {
    numbered(key, sizeof key, "k%u", i);
    expect_uint(d, key, i);
  }
  for (unsigned i = 0; i < N; i++) {
    unsigned j = (i * 2999u) % N; /* a permutation: 2999 is prime */
    numbered(key, sizeof key, "k%u", j);
    assert_int_equal(pb__dict_remove(d, S(key)), PB_OK);
    assert_int_equal(pb__dict_remove(d, S(key)), PB_ENOTFOUND);
    if (i % 499 == 0) {
      assert_int_equal(pb__dict_verify(d, true), PB_OK);
      assert_true(count_of(d) == N - i - 1);
    }
  }
  assert_true(count_of(d) == 0);
  assert_int_equal(pb__dict_height(d, &height), PB_OK);
  assert_int_equal(height, 0);
  d = persist_reopen(f, d);
  assert_true(pb_atom_ptr_is_null(f->cs.root));
  assert_true(count_of(d) == 0);
  pb__dict_free(d);
}

/* Every value kind survives a flush and reopen; puts copy their input. */
static void values_are_copied_and_round_trip(void **state) {
  fx *f = *state;
  pb__dict *d = open_at(f, (pb_atom_ptr){0, 0, 0});
  char text[] = "some text";
  uint8_t raw[] = {0, 1, 2, 255};
  uint8_t body[] = {8, 150, 1};
  char key[] = "key-that-changes";
  pb_value vals[] = {
      {.kind = PB_VALUE_NULL},
      {.kind = PB_VALUE_BOOL, .as.b = true},
      {.kind = PB_VALUE_INT, .as.i = INT64_MIN},
      {.kind = PB_VALUE_UINT, .as.u = UINT64_MAX},
      {.kind = PB_VALUE_DOUBLE, .as.d = -0.5},
      {.kind = PB_VALUE_STRING, .as.s = {text, sizeof text - 1}},
      {.kind = PB_VALUE_BYTES, .as.bytes = {raw, sizeof raw}},
      {.kind = PB_VALUE_REF, .as.ref = {1, 2, 3}},
      {.kind = PB_VALUE_RECORD, .as.rec = {0xabcdefu, {body, sizeof body}}},
      {.kind = PB_VALUE_DICT, .as.ref = {4, 5, 6}},
      {.kind = PB_VALUE_STRING, .as.s = {NULL, 0}},
  };
  const size_t nv = sizeof vals / sizeof *vals;
  pb_value want[sizeof vals / sizeof *vals];
  memcpy(want, vals, sizeof vals);
  for (size_t i = 0; i < nv; i++) {
    key[0] = (char)('a' + i);
    assert_int_equal(pb__dict_put(d, S(key), &vals[i]), PB_OK);
  }
  /* Scribble over everything the caller owned. */
  memset(text, 'X', sizeof text - 1);
  memset(raw, 0xEE, sizeof raw);
  memset(body, 0xEE, sizeof body);
  char text2[] = "some text";
  uint8_t raw2[] = {0, 1, 2, 255}, body2[] = {8, 150, 1};
  want[5].as.s.ptr = text2;
  want[6].as.bytes.ptr = raw2;
  want[8].as.rec.body.ptr = body2;
  for (int round = 0; round < 2; round++) {
    memcpy(key, "key-that-changes", sizeof key);
    for (size_t i = 0; i < nv; i++) {
      key[0] = (char)('a' + i);
      pb_value got;
      assert_int_equal(pb__dict_get(d, S(key), &got), PB_OK);
      assert_true(pb__value_equal(&got, &want[i]));
    }
    if (round == 0) d = persist_reopen(f, d);
  }
  pb__dict_free(d);
}

static void invalid_keys_and_values(void **state) {
  fx *f = *state;
  pb__dict *d = open_at(f, (pb_atom_ptr){0, 0, 0});
  pb_value v = U(1);
  assert_int_equal(pb__dict_put(d, S("ok"), &v), PB_OK);
  const char *bad_utf8[] = {"\xff", "a\xc3", "\xc0\xaf", "\xed\xa0\x80"};
  for (size_t i = 0; i < 4; i++) {
    assert_int_equal(pb__dict_put(d, S(bad_utf8[i]), &v), PB_EINVAL);
    assert_int_equal(pb__dict_remove(d, S(bad_utf8[i])), PB_ENOTFOUND);
  }
  char *big = malloc(PB__DICT_KEY_MAX + 2);
  memset(big, 'k', PB__DICT_KEY_MAX + 1);
  big[PB__DICT_KEY_MAX + 1] = 0;
  assert_int_equal(pb__dict_put(d, S(big), &v), PB_ETOOBIG);
  big[PB__DICT_KEY_MAX] = 0; /* exactly the limit is fine */
  assert_int_equal(pb__dict_put(d, S(big), &v), PB_OK);
  pb_value bad_kind = {.kind = (pb_value_kind)99};
  pb_value bad_str = {.kind = PB_VALUE_STRING, .as.s = S("\xff")};
  pb_value bad_ref = {.kind = PB_VALUE_REF,
                      .as.ref = {1, 1, (uint64_t)UINT32_MAX + 1}};
  assert_int_equal(pb__dict_put(d, S("v"), &bad_kind), PB_EINVAL);
  assert_int_equal(pb__dict_put(d, S("v"), &bad_str), PB_EINVAL);
  assert_int_equal(pb__dict_put(d, S("v"), &bad_ref), PB_EINVAL);
  assert_int_equal(pb__dict_put(d, S("ok"), &bad_ref), PB_EINVAL); /* replace */
  expect_uint(d, "ok", 1);
  assert_true(count_of(d) == 2);
  d = persist_reopen(f, d);
  pb_value got;
  assert_int_equal(pb__dict_get(d, S(big), &got), PB_OK);
  assert_true(count_of(d) == 2);
  free(big);
  pb__dict_free(d);
}

/* --- range iteration --- */

enum { RANGE_N = 600 }; /* keys r0000, r0002, ... r1198 */

static void range_key(char *buf, int i) { snprintf(buf, 8, "r%04d", i); }

/* The next entry through pb__dict_iter_run: the rest of the last run
 * (*run, *rn), or a new run; a run is never empty, holds one entry in
 * reverse, and keeps its entries ascending forward. */
static int run_next(pb__dict_iter *it, bool reverse, const pb__dent **run,
                    size_t *rn, pb_str *k, pb_value *v) {
  if (*rn == 0) {
    int rc = pb__dict_iter_run(it, run, rn);
    if (rc != PB_OK) {
      assert_int_equal(*rn, 0);
      return rc;
    }
    assert_true(*rn >= 1);
    if (reverse) assert_int_equal(*rn, 1);
    for (size_t i = 1; i < *rn; i++)
      assert_true(pb__dict_key_cmp((*run)[i - 1].key, (*run)[i].key) < 0);
  }
  *k = (*run)->key;
  *v = (*run)->val;
  (*run)++;
  (*rn)--;
  return PB_OK;
}

/* Iterates r over d (entry by entry, or by runs when `runs`) and
 * compares with the keys the model says. */
static void check_range_by(pb__dict *d, const pb__dict_range *r,
                           bool reverse, bool runs) {
  pb__dict_iter *it;
  assert_int_equal(pb__dict_iter_open(d, r, reverse, &it), PB_OK);
  char want[8];
  pb_str k;
  pb_value v;
  const pb__dent *run = NULL;
  size_t rn = 0;
#define NEXT()                                                               \
  (runs ? run_next(it, reverse, &run, &rn, &k, &v)                          \
        : pb__dict_iter_next(it, &k, &v))
  for (int j = 0; j < RANGE_N; j++) {
    int i = reverse ? RANGE_N - 1 - j : j;
    range_key(want, 2 * i);
    pb_str w = S(want);
    if (r && r->has_lo) {
      int c = pb__dict_key_cmp(w, r->lo);
      if (c < 0 || (c == 0 && !r->lo_incl)) continue;
    }
    if (r && r->has_hi) {
      int c = pb__dict_key_cmp(w, r->hi);
      if (c > 0 || (c == 0 && !r->hi_incl)) continue;
    }
    assert_int_equal(NEXT(), PB_OK);
    assert_int_equal(k.len, w.len);
    assert_memory_equal(k.ptr, w.ptr, w.len);
    assert_true(v.kind == PB_VALUE_UINT && v.as.u == (uint64_t)(2 * i));
  }
  assert_int_equal(NEXT(), PB_ENOTFOUND);
  assert_int_equal(NEXT(), PB_ENOTFOUND);
#undef NEXT
  pb__dict_iter_free(it);
}

static void check_range(pb__dict *d, const pb__dict_range *r, bool reverse) {
  check_range_by(d, r, reverse, false);
  check_range_by(d, r, reverse, true); /* pb__dict_iter_run */
}

static void check_ranges(pb__dict *d) {
  /* Bounds: present keys, absent keys between them, before and after
   * every key, a prefix of every key, and "". */
  const int marks[] = {-1, 0, 1, 2, 63, 64, 127, 128, 129, 500, 1197, 1198,
                       1199, 5000};
  const size_t nm = sizeof marks / sizeof *marks;
  char lo[8], hi[8];
  check_range(d, NULL, false);
  check_range(d, NULL, true);
  for (size_t a = 0; a < nm; a++) {
    for (size_t b = 0; b < nm; b++) {
      range_key(lo, marks[a]);
      range_key(hi, marks[b]);
      for (int mode = 0; mode < 16; mode++) {
        pb__dict_range r = {S(lo), S(hi), mode & 1, mode & 2, mode & 4,
                            mode & 8};
        if (marks[a] < 0) r.lo = S(marks[b] % 2 ? "" : "r");
        check_range(d, &r, false);
        check_range(d, &r, true);
      }
    }
  }
}

static void range_iteration(void **state) {
  fx *f = *state;
  pb__dict *d = open_at(f, (pb_atom_ptr){0, 0, 0});
  char key[8];
  for (int i = RANGE_N - 1; i >= 0; i--) {
    range_key(key, 2 * i);
    pb_value v = U((uint64_t)(2 * i));
    assert_int_equal(pb__dict_put(d, S(key), &v), PB_OK);
  }
  check_ranges(d); /* in memory */
  d = persist_reopen(f, d);
  check_ranges(d); /* loaded lazily as the iterators go */
  /* The range's bytes are copied: the caller's buffers may change. */
  char lo[8] = "r0010", hi[8] = "r0020";
  pb__dict_range r = {S(lo), S(hi), true, true, true, false};
  pb__dict_iter *it;
  assert_int_equal(pb__dict_iter_open(d, &r, false, &it), PB_OK);
  memset(lo, 'z', 5);
  memset(hi, 'a', 5);
  pb_str k;
  pb_value v;
  int seen = 0;
  while (pb__dict_iter_next(it, &k, &v) == PB_OK) seen++;
  assert_int_equal(seen, 5); /* r0010 .. r0018 */
  pb__dict_iter_free(it);
  pb__dict_free(d);
}

/* --- bulk load --- */

typedef struct bulk_input {
  char *text;      /* the keys' bytes */
  pb_str *keys;    /* n keys */
  pb_value *vals;  /* n values */
  size_t n;        /* entries */
} bulk_input;

static void bulk_make(bulk_input *b, size_t n, const char *fmt) {
  b->n = n;
  b->text = malloc(n * 16 + 1);
  b->keys = malloc((n + 1) * sizeof *b->keys);
  b->vals = malloc((n + 1) * sizeof *b->vals);
  for (size_t i = 0; i < n; i++) {
    char *at = b->text + 16 * i;
    int len = snprintf(at, 16, fmt, (unsigned)i);
    b->keys[i] = (pb_str){at, (size_t)len};
    b->vals[i] = U(i % 1000);
  }
}

static void bulk_free(bulk_input *b) {
  free(b->text);
  free(b->keys);
  free(b->vals);
}

/* Leaves in order, through the in-memory tree (everything loaded). */
static void collect_leaf_sizes(pb__dnode *node, size_t *sizes, size_t *n) {
  if (node->level == 0) {
    sizes[(*n)++] = node->n;
    return;
  }
  for (size_t i = 0; i < node->n; i++)
    collect_leaf_sizes(node->kids[i].node, sizes, n);
}

static void bulk_load_builds_full_leaves(void **state) {
  fx *f = *state;
  size_t fan = pb__dict_fanout(), min = pb__dict_min_fill();
  bulk_input in;
  bulk_make(&in, 5000, "b%05u");
  const size_t larger[] = {1000, 2500, 4999, 5000};
  for (size_t t = 0; t < 301 + 4; t++) {
    size_t n = t <= 300 ? t : larger[t - 301];
    pb__dict *d = open_at(f, (pb_atom_ptr){0, 0, 0});
    assert_int_equal(pb__dict_bulk_load(d, in.keys, in.vals, n), PB_OK);
    assert_true(count_of(d) == n);
    assert_int_equal(pb__dict_verify(d, true), PB_OK); /* min fill holds */
    assert_true(pb__dict_dirty(d) == (n > 0));
    if (n > 0) {
      size_t sizes[5000], nl = 0;
      collect_leaf_sizes(d->root.node, sizes, &nl);
      assert_int_equal(nl, (n + fan - 1) / fan);
      for (size_t i = 0; i + 2 < nl; i++) assert_int_equal(sizes[i], fan);
      if (nl >= 2) assert_true(sizes[nl - 1] >= min && sizes[nl - 2] >= min);
      size_t i = n / 2;
      expect_uint(d, in.keys[i].ptr, i % 1000);
    }
    if (n == 5000) { /* and the loaded tree persists */
      d = persist_reopen(f, d);
      assert_true(count_of(d) == n);
      assert_int_equal(pb__dict_verify(d, true), PB_OK);
      expect_uint(d, "b04999", 999);
    }
    pb__dict_free(d);
  }
  bulk_free(&in);
}

static void bulk_load_refuses_bad_input(void **state) {
  fx *f = *state;
  bulk_input in;
  bulk_make(&in, 300, "c%04u");
  pb__dict *d = open_at(f, (pb_atom_ptr){0, 0, 0});
  pb_str saved = in.keys[150];
  /* Out of order, duplicate, not UTF-8, too long, a value with no
   * encoding: each refused, and the dictionary still empty. */
  in.keys[150] = in.keys[149];
  assert_int_equal(pb__dict_bulk_load(d, in.keys, in.vals, 300), PB_EINVAL);
  in.keys[150] = S("c0000");
  assert_int_equal(pb__dict_bulk_load(d, in.keys, in.vals, 300), PB_EINVAL);
  in.keys[150] = S("c0149\xff");
  assert_int_equal(pb__dict_bulk_load(d, in.keys, in.vals, 300), PB_EINVAL);
  char *big = malloc(PB__DICT_KEY_MAX + 10);
  memset(big, 'c', PB__DICT_KEY_MAX + 9);
  memcpy(big, "c0149", 5);
  big[PB__DICT_KEY_MAX + 9] = 0;
  in.keys[150] = S(big);
  assert_int_equal(pb__dict_bulk_load(d, in.keys, in.vals, 300), PB_ETOOBIG);
  in.keys[150] = saved;
  in.vals[299] = (pb_value){.kind = (pb_value_kind)42};
  assert_int_equal(pb__dict_bulk_load(d, in.keys, in.vals, 300), PB_EINVAL);
  in.vals[299] = U(299);
  assert_true(count_of(d) == 0);
  assert_false(pb__dict_dirty(d));
  pb_value v;
  assert_int_equal(pb__dict_get(d, S("c0001"), &v), PB_ENOTFOUND);
  /* Good input loads; then the dictionary is not empty any more. */
  assert_int_equal(pb__dict_bulk_load(d, in.keys, in.vals, 300), PB_OK);
  assert_int_equal(pb__dict_bulk_load(d, in.keys, in.vals, 1), PB_EINVAL);
  d = persist_reopen(f, d);
  assert_int_equal(pb__dict_bulk_load(d, in.keys, in.vals, 1), PB_EINVAL);
  assert_true(count_of(d) == 300);
  /* A dictionary emptied by removes takes a bulk load again. */
  for (size_t i = 0; i < 300; i++)
    assert_int_equal(pb__dict_remove(d, in.keys[i]), PB_OK);
  assert_int_equal(pb__dict_bulk_load(d, in.keys, in.vals, 10), PB_OK);
  assert_true(count_of(d) == 10);
  expect_uint(d, "c0009", 9);
  free(big);
  pb__dict_free(d);
  bulk_free(&in);
}

/* --- persistence --- */

static void flush_reopen_then_mutate(void **state) {
  fx *f = *state;
  pb__dict *d = open_at(f, (pb_atom_ptr){0, 0, 0});
  char key[32];
  enum { N = 3000 };
  for (unsigned i = 0; i < N; i++) {
    numbered(key, sizeof key, "p%u", i);
    pb_value v = U(i);
    assert_int_equal(pb__dict_put(d, S(key), &v), PB_OK);
  }
  /* Flush keeps the handle usable; a second flush writes nothing. */
  pb_atom_ptr r1, r2;
  assert_int_equal(pb__dict_flush(d, &f->cs.sink, &r1), PB_OK);
  uint64_t w = f->cs.atoms_written;
  assert_int_equal(pb__dict_flush(d, &f->cs.sink, &r2), PB_OK);
  assert_true(pb_atom_ptr_equal(r1, r2) && f->cs.atoms_written == w);
  expect_uint(d, "p7", 7);
  pb_test_cstore_commit(&f->cs, r1);
  pb__dict_free(d);
  for (int round = 0; round < 3; round++) {
    pb_test_cstore_reopen(&f->cs);
    d = open_at(f, f->cs.root);
    assert_true(pb_atom_ptr_equal(pb__dict_base(d), f->cs.root));
    assert_false(pb__dict_dirty(d));
    /* Mutate the reloaded tree: removes, replaces and new keys. */
    for (unsigned i = (unsigned)round; i < N; i += 3) {
      numbered(key, sizeof key, "p%u", i);
      assert_int_equal(pb__dict_remove(d, S(key)), PB_OK);
      numbered(key, sizeof key, "q%u", i);
      pb_value v = U(i + 1000000u * (unsigned)round);
      assert_int_equal(pb__dict_put(d, S(key), &v), PB_OK);
    }
    assert_true(pb__dict_dirty(d));
    assert_int_equal(pb__dict_verify(d, true), PB_OK);
    pb_atom_ptr root;
    assert_int_equal(pb__dict_flush(d, &f->cs.sink, &root), PB_OK);
    pb_test_cstore_commit(&f->cs, root);
    pb__dict_free(d);
  }
  pb_test_cstore_reopen(&f->cs);
  d = open_at(f, f->cs.root);
  assert_true(count_of(d) == N);
  for (unsigned i = 0; i < N; i++) {
    pb_value v;
    numbered(key, sizeof key, "p%u", i);
    assert_int_equal(pb__dict_get(d, S(key), &v), PB_ENOTFOUND);
    numbered(key, sizeof key, "q%u", i);
    expect_uint(d, key, i + 1000000u * (i % 3));
  }
  assert_int_equal(pb__dict_verify(d, true), PB_OK);
  pb__dict_free(d);
}

/* Stores are readable and editable with any fanout (coll.h): a tree
 * written with one fanout is edited with another, down to empty. */
static void other_fanout_trees_are_edited(void **state) {
  fx *f = *state;
  unsigned saved = pb__coll_fanout;
  const unsigned fans[][2] = {{64, 4}, {4, 64}, {5, 7}};
  char key[32];
  for (size_t t = 0; t < 3; t++) {
    pb__coll_fanout = fans[t][0];
    bulk_input in;
    bulk_make(&in, 4000, "o%05u");
    pb__dict *d = open_at(f, (pb_atom_ptr){0, 0, 0});
    assert_int_equal(pb__dict_bulk_load(d, in.keys, in.vals, in.n), PB_OK);
    d = persist_reopen(f, d);
    pb__coll_fanout = fans[t][1];
    for (unsigned i = 0; i < 4000; i += 2) { /* splits and merges */
      numbered(key, sizeof key, "o%05u", i);
      assert_int_equal(pb__dict_remove(d, S(key)), PB_OK);
      numbered(key, sizeof key, "o%05u+", i + 1);
      pb_value v = U(i);
      assert_int_equal(pb__dict_put(d, S(key), &v), PB_OK);
    }
    assert_int_equal(pb__dict_verify(d, false), PB_OK);
    d = persist_reopen(f, d);
    assert_true(count_of(d) == 4000);
    assert_int_equal(pb__dict_verify(d, false), PB_OK);
    for (unsigned i = 1; i < 4000; i += 2) {
      numbered(key, sizeof key, "o%05u", i);
      assert_int_equal(pb__dict_remove(d, S(key)), PB_OK);
      numbered(key, sizeof key, "o%05u+", i);
      assert_int_equal(pb__dict_remove(d, S(key)), PB_OK);
    }
    assert_true(count_of(d) == 0);
    d = persist_reopen(f, d);
    assert_true(pb_atom_ptr_is_null(f->cs.root));
    pb__dict_free(d);
    bulk_free(&in);
  }
  pb__coll_fanout = saved;
}

/* --- failing sources and sinks --- */

typedef struct faulty {
  pb__src inner_src;   /* the real source */
  pb__sink inner_sink; /* the real sink */
  int fail_reads;      /* reads fail with PB_EIO while set */
  int writes_left;     /* writes before the sink fails; -1: never */
} faulty;

static int faulty_read(void *arg, pb_atom_ptr p, pb_bytes *out) {
  faulty *fa = arg;
  if (fa->fail_reads) return PB_EIO;
  return fa->inner_src.read(fa->inner_src.arg, p, out);
}

static int faulty_write(void *arg, const void *atom, size_t len,
                        pb_atom_ptr *out) {
  faulty *fa = arg;
  if (fa->writes_left == 0) return PB_ENOMEM;
  if (fa->writes_left > 0) fa->writes_left--;
  return fa->inner_sink.write(fa->inner_sink.arg, atom, len, out);
}

/* Entries "e%03u" for gone <= i < n are there, with value i; the first
 * `gone` are not. */
static void expect_entries(pb__dict *d, unsigned n, unsigned gone) {
  char key[16];
  assert_true(count_of(d) == n - gone);
  for (unsigned i = 0; i < n; i++) {
    numbered(key, sizeof key, "e%03u", i);
    pb_value v;
    int rc = pb__dict_get(d, S(key), &v);
    assert_int_equal(rc, i < gone ? PB_ENOTFOUND : PB_OK);
    if (rc == PB_OK) assert_true(v.as.u == i);
  }
}

static void failing_source_changes_nothing(void **state) {
  fx *f = *state;
  unsigned saved = pb__coll_fanout;
  pb__coll_fanout = 4; /* small leaves: a remove soon needs a sibling */
  bulk_input in;
  bulk_make(&in, 64, "e%03u");
  pb__dict *d = open_at(f, (pb_atom_ptr){0, 0, 0});
  assert_int_equal(pb__dict_bulk_load(d, in.keys, in.vals, in.n), PB_OK);
  d = persist_reopen(f, d);
  pb__dict_free(d);
  faulty fa = {f->cs.src, f->cs.sink, 0, -1};
  pb__src src = {faulty_read, &fa, NULL};
  assert_int_equal(pb__dict_open(&src, f->cs.root, &d), PB_OK);
  /* Three removes from the first leaf (4 entries, minimum 2): the third
   * needs the sibling leaf, which cannot be read. */
  assert_int_equal(pb__dict_remove(d, S("e000")), PB_OK);
  assert_int_equal(pb__dict_remove(d, S("e001")), PB_OK);
  fa.fail_reads = 1;
  assert_int_equal(pb__dict_remove(d, S("e002")), PB_EIO);
  assert_int_equal(pb__dict_put(d, S("e0005"), &in.vals[0]), PB_OK);
  assert_int_equal(pb__dict_remove(d, S("e0005")), PB_OK);
  pb_value v;
  assert_int_equal(pb__dict_get(d, S("e063"), &v), PB_EIO);
  pb__dict_iter *it;
  pb_str k;
  assert_int_equal(pb__dict_iter_open(d, NULL, true, &it), PB_OK);
  assert_int_equal(pb__dict_iter_next(it, &k, &v), PB_EIO);
  assert_int_equal(pb__dict_iter_next(it, &k, &v), PB_EIO); /* sticky */
  pb__dict_iter_free(it);
  fa.fail_reads = 0;
  expect_entries(d, 64, 2);
  assert_int_equal(pb__dict_verify(d, true), PB_OK);
  assert_int_equal(pb__dict_remove(d, S("e002")), PB_OK);
  assert_int_equal(pb__dict_verify(d, true), PB_OK);
  d = persist_reopen(f, d);
  expect_entries(d, 64, 3);
  pb__dict_free(d);
  bulk_free(&in);
  pb__coll_fanout = saved;
}

static void failing_sink_keeps_the_handle(void **state) {
  fx *f = *state;
  bulk_input in;
  bulk_make(&in, 500, "e%03u");
  pb__dict *d = open_at(f, (pb_atom_ptr){0, 0, 0});
  assert_int_equal(pb__dict_bulk_load(d, in.keys, in.vals, in.n), PB_OK);
  d = persist_reopen(f, d);
  pb_atom_ptr base = pb__dict_base(d);
  assert_int_equal(pb__dict_remove(d, S("e000")), PB_OK);
  assert_int_equal(pb__dict_put(d, S("e499"), &in.vals[7]), PB_OK);
  faulty fa = {f->cs.src, f->cs.sink, 0, 0};
  pb__sink sink = {faulty_write, &fa};
  pb_atom_ptr root;
  for (int ok_writes = 0; ok_writes < 3; ok_writes++) {
    fa.writes_left = ok_writes;
    assert_int_equal(pb__dict_flush(d, &sink, &root), PB_ENOMEM);
    assert_true(pb__dict_dirty(d));
    assert_true(pb_atom_ptr_equal(pb__dict_base(d), base));
  }
  /* The failed flushes' atoms are in the batch but unused: the good
   * flush writes the whole dirty path again. */
  d = persist_reopen(f, d);
  assert_true(count_of(d) == 499);
  pb_value v;
  assert_int_equal(pb__dict_get(d, S("e000"), &v), PB_ENOTFOUND);
  expect_uint(d, "e499", 7);
  expect_uint(d, "e250", 250);
  assert_int_equal(pb__dict_verify(d, true), PB_OK);
  pb__dict_free(d);
  bulk_free(&in);
}

/* --- hostile atoms, through an in-memory source --- */

static pb_value KS(const char *s) {
  return (pb_value){.kind = PB_VALUE_STRING, .as.s = S(s)};
}
static pb_value R(pb_atom_ptr p) {
  return (pb_value){.kind = PB_VALUE_REF, .as.ref = p};
}

/* A leaf atom with the given keys (value = index). */
static pb_atom_ptr mem_leaf(pb_test_memstore *m, const char *const *keys,
                            size_t n) {
  pb_value v[16];
  for (size_t i = 0; i < n; i++) {
    v[2 * i] = KS(keys[i]);
    v[2 * i + 1] = U(i);
  }
  return pb_test_mem_node(m, PB__TYPE_DICT_LEAF, v, 2 * n);
}

/* Runs every operation on a fresh handle over `root`; those that reach
 * the bad node (all but count, when only a child is bad) must give
 * `want`.  `probe` is a key whose path crosses the bad node. */
static void expect_refused(pb_test_memstore *m, pb_atom_ptr root,
                           const char *probe, int want, bool root_bad) {
  pb__src src = {pb_test_mem_read, m, NULL};
  pb__dict *d;
  pb_value v = U(1);
  pb_str k;
  for (int op = 0; op < 7; op++) {
    assert_int_equal(pb__dict_open(&src, root, &d), PB_OK);
    pb_test_detail_clear();
    int rc = PB_OK;
    uint64_t n;
    pb__dict_iter *it;
    switch (op) {
      case 0: rc = pb__dict_get(d, S(probe), &v); break;
      case 1: rc = pb__dict_put(d, S(probe), &v); break;
      case 2: rc = pb__dict_remove(d, S(probe)); break;
      case 3: rc = pb__dict_verify(d, false); break;
      case 4:
      case 5:
        assert_int_equal(pb__dict_iter_open(d, NULL, op == 5, &it), PB_OK);
        while ((rc = pb__dict_iter_next(it, &k, &v)) == PB_OK) {
        }
        pb__dict_iter_free(it);
        break;
      case 6:
        rc = pb__dict_count(d, &n);
        if (!root_bad) rc = rc == PB_OK ? want : PB_EIO;
        break;
    }
    assert_int_equal(rc, want);
    if (want == PB_ECORRUPT && (op != 6 || root_bad))
      assert_corrupt_rc(rc, PB_AT_ATOM);
    pb__dict_free(d);
  }
}

static void hostile_leaves(void **state) {
  (void)state;
  pb_test_memstore m = {0};
  const char *ab[] = {"a", "b"}, *ba[] = {"b", "a"}, *aa[] = {"a", "a"};
  /* Sanity: a good leaf works. */
  pb_atom_ptr good = mem_leaf(&m, ab, 2);
  pb__src src = {pb_test_mem_read, &m, NULL};
  pb__dict *d;
  assert_int_equal(pb__dict_open(&src, good, &d), PB_OK);
  expect_uint(d, "b", 1);
  pb__dict_free(d);
  /* Wrong type, odd value count, a key that is not a string. */
  pb_value one[] = {KS("a"), U(1)};
  expect_refused(&m, pb_test_mem_node(&m, PB__TYPE_LIST_LEAF, one, 2), "a",
                 PB_ECORRUPT, true);
  expect_refused(&m, pb_test_mem_node(&m, PB__TYPE_DICT_LEAF, one, 1), "a",
                 PB_ECORRUPT, true);
  pb_value nokey[] = {U(1), U(1)};
  expect_refused(&m, pb_test_mem_node(&m, PB__TYPE_DICT_LEAF, nokey, 2), "a",
                 PB_ECORRUPT, true);
  /* Keys out of order, a duplicate, a key over the limit. */
  expect_refused(&m, mem_leaf(&m, ba, 2), "a", PB_ECORRUPT, true);
  expect_refused(&m, mem_leaf(&m, aa, 2), "a", PB_ECORRUPT, true);
  char *big = malloc(PB__DICT_KEY_MAX + 2);
  memset(big, 'x', PB__DICT_KEY_MAX + 1);
  big[PB__DICT_KEY_MAX + 1] = 0;
  const char *bigk[] = {big};
  expect_refused(&m, mem_leaf(&m, bigk, 1), "a", PB_ECORRUPT, true);
  free(big);
  /* Hand-made bytes: a key that is not UTF-8; bytes after the values; an
   * unknown atom format; every truncation of a good leaf. */
  const uint8_t bad_utf8[] = {1, 2, 2, 5, 2, 0xc3, 0x28, 3, 1};
  expect_refused(&m, pb_test_mem_raw(&m, bad_utf8, sizeof bad_utf8), "a",
                 PB_ECORRUPT, true);
  const uint8_t trailing[] = {1, 2, 2, 5, 1, 'a', 3, 1, 0};
  expect_refused(&m, pb_test_mem_raw(&m, trailing, sizeof trailing), "a",
                 PB_ECORRUPT, true);
  const uint8_t format[] = {9, 2, 2, 5, 1, 'a', 3, 1};
  expect_refused(&m, pb_test_mem_raw(&m, format, sizeof format), "a",
                 PB_EVERSION, true);
  size_t glen = m.len[good.offset - 1];
  uint8_t *gbytes = malloc(glen);
  memcpy(gbytes, m.atom[good.offset - 1], glen);
  for (size_t cut = 0; cut < glen; cut++) {
    pb_atom_ptr p = pb_test_mem_raw(&m, gbytes, cut);
    expect_refused(&m, p, "a", PB_ECORRUPT, true);
    free(m.atom[--m.n]); /* keep the store small */
  }
  free(gbytes);
  pb_test_mem_free(&m);
}

/* A branch over leaves [a b] and [m n] with the given separator and
 * counts; the level is 1. */
static pb_atom_ptr two_leaf_branch(pb_test_memstore *m, const char *sep,
                                   uint64_t c0, uint64_t c1) {
  const char *ab[] = {"a", "b"}, *mn[] = {"m", "n"};
  pb_atom_ptr l0 = mem_leaf(m, ab, 2), l1 = mem_leaf(m, mn, 2);
  pb_value v[] = {U(1), U(c0), R(l0), KS(sep), U(c1), R(l1)};
  return pb_test_mem_node(m, PB__TYPE_DICT_BRANCH, v, 6);
}

static void hostile_branches(void **state) {
  (void)state;
  pb_test_memstore m = {0};
  pb__src src = {pb_test_mem_read, &m, NULL};
  pb__dict *d;
  /* Sanity: a good branch works. */
  assert_int_equal(pb__dict_open(&src, two_leaf_branch(&m, "c", 2, 2), &d),
                   PB_OK);
  expect_uint(d, "n", 1);
  assert_int_equal(pb__dict_verify(d, false), PB_OK);
  pb__dict_free(d);
  const char *ab[] = {"a", "b"};
  pb_atom_ptr leaf = mem_leaf(&m, ab, 2);
  /* Shapes: too few values, a count that is not a UINT, a child that is
   * not a REF, a null REF, levels 0 and PB__COLL_MAX_DEPTH. */
  pb_value shapes[][3] = {
      {U(1), U(2), R(leaf)}, {U(1), KS("x"), R(leaf)}, {U(1), U(2), U(5)},
      {U(1), U(2), R((pb_atom_ptr){0, 0, 0})}, {U(0), U(2), R(leaf)},
      {U(PB__COLL_MAX_DEPTH), U(2), R(leaf)}, {KS("x"), U(2), R(leaf)}};
  expect_refused(&m, pb_test_mem_node(&m, PB__TYPE_DICT_BRANCH, shapes[0], 2),
                 "a", PB_ECORRUPT, true);
  for (size_t i = 1; i < sizeof shapes / sizeof *shapes; i++)
    expect_refused(&m, pb_test_mem_node(&m, PB__TYPE_DICT_BRANCH, shapes[i], 3),
                   "a", PB_ECORRUPT, true);
  /* A count of zero (the root is refused), and counts that do not match
   * the child (refused when the child is loaded). */
  expect_refused(&m, two_leaf_branch(&m, "c", 0, 2), "a", PB_ECORRUPT, true);
  expect_refused(&m, two_leaf_branch(&m, "c", 3, 2), "a", PB_ECORRUPT, false);
  expect_refused(&m, two_leaf_branch(&m, "c", 2, 1), "m", PB_ECORRUPT, false);
  /* Children whose keys lie outside the separators: "m" and "n" below a
   * separator "z", "a" and "b" at or above "b". */
  expect_refused(&m, two_leaf_branch(&m, "z", 2, 2), "z", PB_ECORRUPT, false);
  expect_refused(&m, two_leaf_branch(&m, "b", 2, 2), "a", PB_ECORRUPT, false);
  /* Separators out of order. */
  pb_value unordered[] = {U(1), U(2), R(leaf), KS("q"), U(2), R(leaf),
                          KS("p"), U(2), R(leaf)};
  expect_refused(&m, pb_test_mem_node(&m, PB__TYPE_DICT_BRANCH, unordered, 9),
                 "a", PB_ECORRUPT, true);
  /* A level-2 branch whose child is a leaf; a level-1 branch whose child
   * is a branch. */
  pb_value over_leaf[] = {U(2), U(2), R(leaf)};
  expect_refused(&m, pb_test_mem_node(&m, PB__TYPE_DICT_BRANCH, over_leaf, 3),
                 "a", PB_ECORRUPT, false);
  pb_atom_ptr b1 = two_leaf_branch(&m, "c", 2, 2);
  pb_value over_branch[] = {U(1), U(4), R(b1)};
  expect_refused(&m, pb_test_mem_node(&m, PB__TYPE_DICT_BRANCH, over_branch, 3),
                 "a", PB_ECORRUPT, false);
  /* A missing child atom: corrupt, never "no such key". */
  pb_value missing[] = {U(1), U(2), R(PB_TEST_MEM_PTR(999))};
  expect_refused(&m, pb_test_mem_node(&m, PB__TYPE_DICT_BRANCH, missing, 3),
                 "a", PB_ECORRUPT, false);
  pb_test_mem_free(&m);
}

/* Cycles: a branch whose child is itself, and two branches that point to
 * each other.  Levels must fall by one per step, so the walk stops at the
 * first repeat instead of at the depth limit. */
static void hostile_cycles(void **state) {
  (void)state;
  pb_test_memstore m = {0};
  for (uint64_t level = 1; level <= 3; level++) {
    pb_value self[] = {U(level), U(5), R(pb_test_mem_next(&m))};
    pb_atom_ptr p = pb_test_mem_node(&m, PB__TYPE_DICT_BRANCH, self, 3);
    expect_refused(&m, p, "a", PB_ECORRUPT, false);
  }
  pb_atom_ptr a = pb_test_mem_next(&m);
  pb_atom_ptr b = PB_TEST_MEM_PTR(a.offset + 1);
  pb_value va[] = {U(2), U(5), R(b)}, vb[] = {U(1), U(5), R(a)};
  pb_test_mem_node(&m, PB__TYPE_DICT_BRANCH, va, 3);
  pb_test_mem_node(&m, PB__TYPE_DICT_BRANCH, vb, 3);
  expect_refused(&m, a, "a", PB_ECORRUPT, false);
  /* A chain deeper than the limit can only claim a level above it. */
  pb_atom_ptr prev = mem_leaf(&m, (const char *const[]){"a"}, 1);
  for (uint64_t level = 1; level <= PB__COLL_MAX_DEPTH + 2; level++) {
    pb_value v[] = {U(level), U(1), R(prev)};
    prev = pb_test_mem_node(&m, PB__TYPE_DICT_BRANCH, v, 3);
    if (level == PB__COLL_MAX_DEPTH - 1) { /* the deepest that is fine */
      pb__src src = {pb_test_mem_read, &m, NULL};
      pb__dict *d;
      unsigned h;
      assert_int_equal(pb__dict_open(&src, prev, &d), PB_OK);
      expect_uint(d, "a", 0);
      assert_int_equal(pb__dict_height(d, &h), PB_OK);
      assert_int_equal(h, PB__COLL_MAX_DEPTH);
      /* An edit collapses the chain of one-child branches. */
      pb_value one = U(1);
      assert_int_equal(pb__dict_put(d, S("b"), &one), PB_OK);
      assert_int_equal(pb__dict_height(d, &h), PB_OK);
      assert_int_equal(h, 1);
      assert_int_equal(pb__dict_verify(d, true), PB_OK);
      pb__dict_free(d);
    }
  }
  expect_refused(&m, prev, "a", PB_ECORRUPT, true);
  pb_test_mem_free(&m);
}

/* Valid but sparse trees (one-child branches, one-entry leaves, as other
 * writers may make): a remove that empties a leaf drops it and its
 * one-child parent, and the root keeps a child it has not loaded instead
 * of loading it to collapse. */
static void sparse_trees_are_edited(void **state) {
  (void)state;
  pb_test_memstore m = {0};
  pb__src src = {pb_test_mem_read, &m, NULL};
  pb__sink sink = {pb_test_mem_write, &m};
  pb_atom_ptr la = mem_leaf(&m, (const char *const[]){"a"}, 1);
  pb_atom_ptr lm = mem_leaf(&m, (const char *const[]){"m"}, 1);
  pb_value vb[] = {U(1), U(1), R(la)}, vc[] = {U(1), U(1), R(lm)};
  pb_atom_ptr b = pb_test_mem_node(&m, PB__TYPE_DICT_BRANCH, vb, 3);
  pb_atom_ptr c = pb_test_mem_node(&m, PB__TYPE_DICT_BRANCH, vc, 3);
  pb_value vr[] = {U(2), U(1), R(b), KS("m"), U(1), R(c)};
  pb_atom_ptr root = pb_test_mem_node(&m, PB__TYPE_DICT_BRANCH, vr, 6);
  pb__dict *d;
  assert_int_equal(pb__dict_open(&src, root, &d), PB_OK);
  assert_int_equal(pb__dict_verify(d, false), PB_OK);
  assert_corrupt(pb__dict_verify(d, true), PB_AT_ATOM); /* underfull */
  pb__dict_free(d);
  assert_int_equal(pb__dict_open(&src, root, &d), PB_OK);
  assert_int_equal(pb__dict_remove(d, S("a")), PB_OK);
  assert_true(count_of(d) == 1);
  unsigned h;
  assert_int_equal(pb__dict_height(d, &h), PB_OK);
  assert_int_equal(h, 3); /* the root kept its one, unloaded, child */
  assert_true(d->root.node->n == 1 && d->root.node->kids[0].node == NULL);
  pb_atom_ptr r2;
  assert_int_equal(pb__dict_flush(d, &sink, &r2), PB_OK);
  pb__dict_free(d);
  assert_int_equal(pb__dict_open(&src, r2, &d), PB_OK);
  assert_int_equal(pb__dict_verify(d, false), PB_OK);
  expect_uint(d, "m", 0);
  /* Removing the last entry empties the dictionary. */
  assert_int_equal(pb__dict_remove(d, S("m")), PB_OK);
  assert_int_equal(pb__dict_flush(d, &sink, &r2), PB_OK);
  assert_true(pb_atom_ptr_is_null(r2));
  pb__dict_free(d);
  pb_test_mem_free(&m);
}

/* Random byte flips in the atoms of a good three-level tree: every
 * operation gives PB_OK, PB_ENOTFOUND, PB_ECORRUPT or PB_EVERSION, and
 * never crashes or leaks (ASan). */
static void hostile_random_flips(void **state) {
  (void)state;
  unsigned saved = pb__coll_fanout;
  pb__coll_fanout = 4;
  pb_test_memstore m = {0};
  pb__src src = {pb_test_mem_read, &m, NULL};
  bulk_input in;
  bulk_make(&in, 40, "f%02u");
  pb__dict *d;
  assert_int_equal(pb__dict_open(&src, (pb_atom_ptr){0, 0, 0}, &d), PB_OK);
  assert_int_equal(pb__dict_bulk_load(d, in.keys, in.vals, in.n), PB_OK);
  pb_atom_ptr root;
  pb__sink sink = {pb_test_mem_write, &m};
  assert_int_equal(pb__dict_flush(d, &sink, &root), PB_OK);
  pb__dict_free(d);
  uint32_t x = 12345;
  int outcomes[4] = {0};
  for (int round = 0; round < 3000; round++) {
    x = lcg(x);
    size_t a = (x >> 8) % m.n;
    uint8_t *bytes = m.atom[a];
    size_t at = (lcg(x) >> 8) % m.len[a];
    uint8_t old = bytes[at];
    bytes[at] ^= (uint8_t)(1u << ((x >> 4) % 8));
    if (round % 2) bytes[at] = (uint8_t)(x >> 24);
    assert_int_equal(pb__dict_open(&src, root, &d), PB_OK);
    char probe[8];
    snprintf(probe, sizeof probe, "f%02u", (x >> 16) % 45);
    pb_value v = U(3);
    int rcs[4];
    rcs[0] = pb_test_checked(pb__dict_get(d, S(probe), &v), PB_AT_ATOM);
    rcs[1] = pb_test_checked(pb__dict_put(d, S(probe), &v), PB_AT_ATOM);
    rcs[2] = pb_test_checked(pb__dict_remove(d, S("f20")), PB_AT_ATOM);
    rcs[3] = pb_test_checked(pb__dict_verify(d, false), PB_AT_ATOM);
    pb__dict_iter *it;
    pb_str k;
    assert_int_equal(pb__dict_iter_open(d, NULL, round % 2, &it), PB_OK);
    while (pb_test_checked(pb__dict_iter_next(it, &k, &v), PB_AT_ATOM) ==
           PB_OK) {
    }
    pb__dict_iter_free(it);
    pb__dict_free(d);
    for (int i = 0; i < 4; i++) {
      int rc = rcs[i];
      assert_true(rc == PB_OK || rc == PB_ENOTFOUND || rc == PB_ECORRUPT ||
                  rc == PB_EVERSION);
      outcomes[rc == PB_OK ? 0 : rc == PB_ENOTFOUND ? 1
               : rc == PB_ECORRUPT ? 2 : 3]++;
    }
    bytes[at] = old;
  }
  print_message("  flips: %d ok, %d not found, %d corrupt, %d version\n",
                outcomes[0], outcomes[1], outcomes[2], outcomes[3]);
  assert_true(outcomes[2] > 0);
  pb_test_mem_free(&m);
  bulk_free(&in);
  pb__coll_fanout = saved;
}

/* --- structural sharing --- */

static uint64_t flush_count(fx *f, pb__dict *d) {
  uint64_t before = f->cs.atoms_written;
  pb_atom_ptr root;
  assert_int_equal(pb__dict_flush(d, &f->cs.sink, &root), PB_OK);
  pb_test_cstore_commit(&f->cs, root);
  return f->cs.atoms_written - before;
}

static void one_update_writes_the_path(void **state) {
  fx *f = *state;
  size_t n = g_tiny ? 20000 : 1000000;
  double t0 = now_s();
  bulk_input in;
  bulk_make(&in, n, "key%08u");
  pb__dict *d = open_at(f, (pb_atom_ptr){0, 0, 0});
  assert_int_equal(pb__dict_bulk_load(d, in.keys, in.vals, n), PB_OK);
  double t1 = now_s();
  uint64_t all = flush_count(f, d);
  double t2 = now_s();
  unsigned h;
  assert_int_equal(pb__dict_height(d, &h), PB_OK);
  pb__dict_free(d);
  bulk_free(&in);
  /* A fresh handle over the committed root: nothing loaded. */
  char upd[16], del[16];
  snprintf(upd, sizeof upd, "key%08zu", n / 2);
  snprintf(del, sizeof del, "key%08zu", n / 10 * 7);
  d = open_at(f, f->cs.root);
  pb_value v = U(123456789);
  assert_int_equal(pb__dict_put(d, S(upd), &v), PB_OK);
  uint64_t put_atoms = flush_count(f, d);
  assert_int_equal(pb__dict_remove(d, S(del)), PB_OK);
  uint64_t del_atoms = flush_count(f, d);
  pb__dict_free(d);
  print_message("  %zu entries, fanout %zu: height %u, bulk load %.2f s, "
                "flush %.2f s (%" PRIu64 " atoms)\n",
                n, pb__dict_fanout(), h, t1 - t0, t2 - t1, all);
  print_message("  one update wrote %" PRIu64 " atoms, one delete %" PRIu64
                " (bound: height + 1 = %u)\n",
                put_atoms, del_atoms, h + 1);
  assert_true(put_atoms <= h + 1);
  assert_true(del_atoms <= h + 1);
  if (!g_tiny) assert_true(h <= 4);
  /* The committed versions read back. */
  pb_test_cstore_reopen(&f->cs);
  d = open_at(f, f->cs.root);
  assert_true(count_of(d) == n - 1);
  expect_uint(d, upd, 123456789);
  expect_uint(d, "key00000999", 999);
  assert_int_equal(pb__dict_get(d, S(del), &v), PB_ENOTFOUND);
  pb__dict_free(d);
}

int main(int argc, char **argv) {
  g_tiny = pb_test_coll_args(argc, argv);
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(empty_dictionary, fx_setup, fx_teardown),
      cmocka_unit_test_setup_teardown(put_get_replace_remove, fx_setup,
                                      fx_teardown),
      cmocka_unit_test_setup_teardown(many_puts_then_removes_to_empty,
                                      fx_setup, fx_teardown),
      cmocka_unit_test_setup_teardown(values_are_copied_and_round_trip,
                                      fx_setup, fx_teardown),
      cmocka_unit_test_setup_teardown(invalid_keys_and_values, fx_setup,
                                      fx_teardown),
      cmocka_unit_test_setup_teardown(range_iteration, fx_setup, fx_teardown),
      cmocka_unit_test_setup_teardown(bulk_load_builds_full_leaves, fx_setup,
                                      fx_teardown),
      cmocka_unit_test_setup_teardown(bulk_load_refuses_bad_input, fx_setup,
                                      fx_teardown),
      cmocka_unit_test_setup_teardown(flush_reopen_then_mutate, fx_setup,
                                      fx_teardown),
      cmocka_unit_test_setup_teardown(other_fanout_trees_are_edited, fx_setup,
                                      fx_teardown),
      cmocka_unit_test_setup_teardown(failing_source_changes_nothing,
                                      fx_setup, fx_teardown),
      cmocka_unit_test_setup_teardown(failing_sink_keeps_the_handle, fx_setup,
                                      fx_teardown),
      cmocka_unit_test(hostile_leaves),
      cmocka_unit_test(hostile_branches),
      cmocka_unit_test(hostile_cycles),
      cmocka_unit_test(sparse_trees_are_edited),
      cmocka_unit_test(hostile_random_flips),
      cmocka_unit_test_setup_teardown(one_update_writes_the_path, fx_setup,
                                      fx_teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
