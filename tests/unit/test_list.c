/*
 * test_list.c - the List (collections/list.h), a copy-on-write counted
 * B-tree: get/set/insert/remove/append against an array, PB_ERANGE and
 * PB_EINVAL, copies of given values, iteration ranges, slices, flush and
 * reopen through a file store, structural sharing (an update of 100,000
 * values writes one path), a tree written with one fanout edited with
 * another, failures of the sink and of the source leaving the list as it
 * was, and hostile node atoms (wrong types, lying counts, cycles, depth,
 * truncation) rejected with PB_ECORRUPT.
 *
 * `--tiny` (the test_list_tiny variant) sets the fanout to 4, so every
 * test splits and merges many times.
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
#include "atom/value.h"
#include "collections/list.h"
#include "support/collstore.h"
#include "test_util.h"

/* --- Helpers --- */

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

static const pb_atom_ptr null_ptr;

/* A source with nothing in it, for lists that never load. */
static int no_read(void *arg, pb_atom_ptr p, pb_bytes *atom) {
  (void)arg, (void)p, (void)atom;
  return PB_ENOTFOUND;
}
static const pb__src no_src = {no_read, NULL, NULL};

static pb__list *open_list(const pb__src *src, pb_atom_ptr root) {
  pb__list *l = NULL;
  assert_int_equal(pb__list_open(src, root, &l), PB_OK);
  return l;
}

static uint64_t count_of(pb__list *l) {
  uint64_t n = UINT64_MAX;
  assert_int_equal(pb__list_count(l, &n), PB_OK);
  return n;
}

static unsigned height_of(pb__list *l) {
  unsigned h = 999;
  assert_int_equal(pb__list_height(l, &h), PB_OK);
  return h;
}

static int64_t int_at(pb__list *l, uint64_t i) {
  pb_value v;
  assert_int_equal(pb__list_get(l, i, &v), PB_OK);
  assert_int_equal(v.kind, PB_VALUE_INT);
  return v.as.i;
}

/* The list holds exactly want[0..n): count, every get, one iteration. */
static void expect_ints(pb__list *l, const int64_t *want, size_t n) {
  assert_int_equal(count_of(l), n);
  for (size_t i = 0; i < n; i++) assert_int_equal(int_at(l, i), want[i]);
  pb__list_iter *it;
  assert_int_equal(pb__list_iter_open(l, 0, UINT64_MAX, &it), PB_OK);
  pb_value v;
  for (size_t i = 0; i < n; i++) {
    assert_int_equal(pb__list_iter_next(it, &v), PB_OK);
    assert_int_equal(v.as.i, want[i]);
  }
  assert_int_equal(pb__list_iter_next(it, &v), PB_ENOTFOUND);
  pb__list_iter_free(it);
}

static void append_ints(pb__list *l, int64_t from, int64_t to) {
  for (int64_t i = from; i < to; i++) {
    pb_value v = I(i);
    assert_int_equal(pb__list_append(l, &v), PB_OK);
  }
}

/* The fewest and most values a B-tree of height h holds (h >= 2). */
static void expect_height_fits(uint64_t n, unsigned h) {
  uint64_t f = pb__coll_fanout, min = (f + 1) / 2, lo = 2, hi = f;
  for (unsigned k = 1; k < h; k++) {
    lo *= min;
    hi *= f;
  }
  if (h >= 2) assert_true(n >= lo && n <= hi);
}

typedef struct tmp_store {
  char *dir;
  pb_test_cstore cs;
} tmp_store;

static void store_open(tmp_store *t) {
  t->dir = pb_test_tmpdir();
  pb_test_cstore_open(&t->cs, t->dir);
}

static void store_close(tmp_store *t) {
  pb_test_cstore_close(&t->cs);
  pb_test_rmdir(t->dir);
}

/* Flushes l, commits its root, and gives it. */
static pb_atom_ptr flush_commit(pb__list *l, pb_test_cstore *cs) {
  pb_atom_ptr root;
  assert_int_equal(pb__list_flush(l, &cs->sink, &root), PB_OK);
  assert_false(pb__list_dirty(l));
  assert_true(pb_atom_ptr_equal(pb__list_base(l), root));
  pb_test_cstore_commit(cs, root);
  return root;
}

/* --- Basics --- */

static void empty_list_and_ranges(void **state) {
  (void)state;
  pb__list *l = open_list(&no_src, null_ptr);
  pb_value v = I(1), got;
  assert_int_equal(count_of(l), 0);
  assert_int_equal(height_of(l), 0);
  assert_false(pb__list_dirty(l));
  assert_int_equal(pb__list_get(l, 0, &got), PB_ERANGE);
  assert_int_equal(pb__list_set(l, 0, &v), PB_ERANGE);
  assert_int_equal(pb__list_remove(l, 0), PB_ERANGE);
  assert_int_equal(pb__list_insert(l, 1, &v), PB_ERANGE);
  assert_false(pb__list_dirty(l));
  assert_int_equal(pb__list_insert(l, 0, &v), PB_OK);
  assert_int_equal(height_of(l), 1);
  assert_int_equal(pb__list_get(l, 1, &got), PB_ERANGE);
  assert_int_equal(pb__list_insert(l, 2, &v), PB_ERANGE);
  assert_int_equal(pb__list_remove(l, 1), PB_ERANGE);
  assert_int_equal(pb__list_remove(l, 0), PB_OK);
  assert_int_equal(count_of(l), 0);
  assert_int_equal(height_of(l), 0);
  assert_true(pb__list_dirty(l));
  pb_atom_ptr root = {1, 1, 1};
  assert_int_equal(pb__list_flush(l, NULL, &root), PB_OK); /* writes none */
  assert_true(pb_atom_ptr_is_null(root));
  assert_false(pb__list_dirty(l));
  pb__list_free(l);
  pb__list_free(NULL);
  pb__list_iter_free(NULL);
}

/* Inserts at the front, middle and end, removes there, sets, against an
 * array; then removes everything from the front. */
static void get_set_insert_remove(void **state) {
  (void)state;
  enum { N = 700 };
  int64_t *m = malloc((N + 10) * sizeof *m);
  size_t n = 0;
  pb__list *l = open_list(&no_src, null_ptr);
  for (int64_t i = 0; i < N; i++) m[n++] = i;
  append_ints(l, 0, N);
  expect_ints(l, m, n);
  expect_height_fits(n, height_of(l));
  for (int k = 0; k < 5; k++) { /* front, middle, end, second, last */
    const uint64_t at[] = {0, n / 2, n, 1, n - 1};
    pb_value v = I(1000 + k);
    assert_int_equal(pb__list_insert(l, at[k], &v), PB_OK);
    memmove(m + at[k] + 1, m + at[k], (n - at[k]) * sizeof *m);
    m[at[k]] = 1000 + k;
    n++;
    expect_ints(l, m, n);
  }
  const uint64_t rm[] = {0, n / 2, n - 3, 5};
  for (int k = 0; k < 4; k++) {
    assert_int_equal(pb__list_remove(l, rm[k]), PB_OK);
    memmove(m + rm[k], m + rm[k] + 1, (n - rm[k] - 1) * sizeof *m);
    n--;
  }
  assert_int_equal(pb__list_remove(l, n - 1), PB_OK); /* the last */
  n--;
  for (uint64_t i = 0; i < n; i += 37) {
    pb_value v = I(-(int64_t)i);
    assert_int_equal(pb__list_set(l, i, &v), PB_OK);
    m[i] = -(int64_t)i;
  }
  expect_ints(l, m, n);
  pb_value v = I(0);
  assert_int_equal(pb__list_set(l, n, &v), PB_ERANGE);
  assert_int_equal(pb__list_remove(l, n), PB_ERANGE);
  assert_int_equal(pb__list_insert(l, n + 1, &v), PB_ERANGE);
  const size_t n0 = n;
  while (n > 0) {
    assert_int_equal(pb__list_remove(l, 0), PB_OK);
    n--;
    assert_int_equal(count_of(l), n);
    if (n % 97 == 0) expect_ints(l, m + (n0 - n), n);
  }
  assert_int_equal(height_of(l), 0);
  pb__list_free(l);
  free(m);
}

/* Values given are copied; views handed out stay valid until the free,
 * even after the value is replaced or removed; bad values are refused. */
static void values_are_copied(void **state) {
  (void)state;
  pb__list *l = open_list(&no_src, null_ptr);
  char text[] = "hello, list";
  uint8_t raw[] = {0, 1, 2, 255};
  pb_value s = S(text), b = {.kind = PB_VALUE_BYTES, .as.bytes = {raw, 4}};
  pb_value empty = {.kind = PB_VALUE_STRING, .as.s = {NULL, 0}};
  uint8_t body[] = {0x08, 0x2a}; /* field 1 = 42 */
  pb_value rec = {.kind = PB_VALUE_RECORD,
                  .as.rec = {.fingerprint = 77, .body = {body, 2}}};
  assert_int_equal(pb__list_append(l, &s), PB_OK);
  assert_int_equal(pb__list_append(l, &b), PB_OK);
  assert_int_equal(pb__list_append(l, &empty), PB_OK);
  assert_int_equal(pb__list_append(l, &rec), PB_OK);
  memset(text, 'x', sizeof text - 1);
  raw[0] = 9;
  body[1] = 0;
  pb_value got, old;
  assert_int_equal(pb__list_get(l, 0, &old), PB_OK);
  assert_int_equal(old.kind, PB_VALUE_STRING);
  assert_memory_equal(old.as.s.ptr, "hello, list", 11);
  assert_int_equal(pb__list_get(l, 1, &got), PB_OK);
  assert_int_equal(got.as.bytes.ptr[0], 0);
  assert_int_equal(pb__list_get(l, 2, &got), PB_OK);
  assert_int_equal(got.as.s.len, 0);
  assert_int_equal(pb__list_get(l, 3, &got), PB_OK);
  assert_int_equal(got.kind, PB_VALUE_RECORD);
  assert_int_equal(got.as.rec.fingerprint, 77);
  assert_int_equal(got.as.rec.body.ptr[1], 0x2a);
  pb_value n = I(5);
  assert_int_equal(pb__list_set(l, 0, &n), PB_OK);
  assert_int_equal(pb__list_remove(l, 0), PB_OK);
  assert_memory_equal(old.as.s.ptr, "hello, list", 11); /* still valid */
  pb_value bad = {.kind = PB_VALUE_STRING, .as.s = {"\xff\xfe", 2}};
  pb_value badref = R((pb_atom_ptr){1, 1, (uint64_t)UINT32_MAX + 1});
  pb_value badkind = {.kind = (pb_value_kind)99};
  assert_int_equal(pb__list_append(l, &bad), PB_EINVAL);
  assert_int_equal(pb__list_insert(l, 0, &badref), PB_EINVAL);
  assert_int_equal(pb__list_set(l, 0, &badkind), PB_EINVAL);
  assert_int_equal(count_of(l), 3);
  assert_int_equal(pb__list_get(l, 0, &got), PB_OK);
  assert_int_equal(got.kind, PB_VALUE_BYTES);
  pb__list_free(l);
}

/* --- Iteration and slices --- */

static void expect_range(pb__list *l, uint64_t from, uint64_t to,
                         int64_t first, uint64_t n) {
  pb__list_iter *it;
  assert_int_equal(pb__list_iter_open(l, from, to, &it), PB_OK);
  pb_value v;
  for (uint64_t i = 0; i < n; i++) {
    assert_int_equal(pb__list_iter_next(it, &v), PB_OK);
    assert_int_equal(v.as.i, first + (int64_t)i);
  }
  assert_int_equal(pb__list_iter_next(it, &v), PB_ENOTFOUND);
  assert_int_equal(pb__list_iter_next(it, &v), PB_ENOTFOUND);
  pb__list_iter_free(it);
}

static void iteration_ranges(void **state) {
  (void)state;
  enum { N = 1000 };
  pb__list *l = open_list(&no_src, null_ptr);
  append_ints(l, 0, N);
  expect_range(l, 0, N, 0, N);
  expect_range(l, 10, 20, 10, 10);
  expect_range(l, N - 1, N, N - 1, 1);
  expect_range(l, N, N, 0, 0);
  expect_range(l, 5, 5, 0, 0);
  expect_range(l, 0, 0, 0, 0);
  expect_range(l, 990, 5000, 990, 10); /* to is clamped */
  for (uint64_t from = 0; from < N; from += 61)
    expect_range(l, from, from + 150, (int64_t)from,
                 from + 150 > N ? N - from : 150);
  pb__list_iter *it = NULL;
  assert_int_equal(pb__list_iter_open(l, N + 1, N + 2, &it), PB_ERANGE);
  assert_int_equal(pb__list_iter_open(l, 20, 10, &it), PB_ERANGE);
  assert_null(it);
  pb__list_free(l);
  pb__list *e = open_list(&no_src, null_ptr);
  expect_range(e, 0, 10, 0, 0);
  assert_int_equal(pb__list_iter_open(e, 1, 10, &it), PB_ERANGE);
  pb__list_free(e);
}

static void slices(void **state) {
  (void)state;
  enum { N = 2000 };
  tmp_store t;
  store_open(&t);
  pb__list *l = open_list(&t.cs.src, null_ptr);
  append_ints(l, 0, N);
  pb_atom_ptr root = flush_commit(l, &t.cs);
  pb__list_free(l);
  l = open_list(&t.cs.src, root); /* a slice of a list read from disk */
  const uint64_t ranges[][2] = {{0, N},     {0, 1},  {100, 1300}, {N - 1, N},
                                {500, 500}, {7, 3},  {1500, 9999}, {N, N}};
  for (int k = 0; k < 8; k++) {
    uint64_t from = ranges[k][0], to = ranges[k][1] > N ? N : ranges[k][1];
    uint64_t n = to > from ? to - from : 0;
    pb__list *s = NULL;
    assert_int_equal(pb__list_slice(l, from, ranges[k][1], &s), PB_OK);
    assert_true(pb__list_dirty(s));
    assert_true(pb_atom_ptr_is_null(pb__list_base(s)));
    expect_range(s, 0, UINT64_MAX, (int64_t)from, n);
    if (n >= 2) expect_height_fits(n, height_of(s));
    pb_value v = I(-1); /* a slice is its own list */
    assert_int_equal(pb__list_append(s, &v), PB_OK);
    assert_int_equal(count_of(s), n + 1);
    pb_atom_ptr sr = flush_commit(s, &t.cs);
    pb__list_free(s);
    s = open_list(&t.cs.src, sr);
    assert_int_equal(count_of(s), n + 1);
    if (n > 0) assert_int_equal(int_at(s, n - 1), (int64_t)to - 1);
    assert_int_equal(int_at(s, n), -1);
    pb__list_free(s);
  }
  assert_int_equal(count_of(l), N); /* the source did not change */
  assert_false(pb__list_dirty(l));
  pb__list *s = NULL;
  assert_int_equal(pb__list_slice(l, N + 1, N + 5, &s), PB_ERANGE);
  assert_null(s);
  /* A slice outlives its source: its values are copies. */
  pb__list *m = open_list(&no_src, null_ptr);
  char text[] = "slice me";
  pb_value sv = S(text);
  assert_int_equal(pb__list_append(m, &sv), PB_OK);
  assert_int_equal(pb__list_slice(m, 0, 1, &s), PB_OK);
  pb__list_free(m);
  pb_value got;
  assert_int_equal(pb__list_get(s, 0, &got), PB_OK);
  assert_memory_equal(got.as.s.ptr, "slice me", 8);
  pb__list_free(s);
  pb__list_free(l);
  store_close(&t);
}

/* --- Persistence --- */

static void flush_reopen_mutate(void **state) {
  (void)state;
  enum { N = 3000 };
  int64_t *m = malloc((N + 100) * sizeof *m);
  size_t n = 0;
  tmp_store t;
  store_open(&t);
  pb__list *l = open_list(&t.cs.src, null_ptr);
  append_ints(l, 0, N);
  for (int64_t i = 0; i < N; i++) m[n++] = i;
  pb_atom_ptr root = flush_commit(l, &t.cs);
  uint64_t before = t.cs.atoms_written;
  pb_atom_ptr again;
  assert_int_equal(pb__list_flush(l, &t.cs.sink, &again), PB_OK);
  assert_true(pb_atom_ptr_equal(again, root)); /* clean: nothing written */
  assert_int_equal(t.cs.atoms_written, before);
  pb__list_free(l);
  pb_test_cstore_reopen(&t.cs);
  assert_true(pb_atom_ptr_equal(t.cs.root, root));
  for (int round = 0; round < 3; round++) {
    l = open_list(&t.cs.src, t.cs.root);
    assert_false(pb__list_dirty(l));
    expect_ints(l, m, n);
    for (int k = 0; k < 30; k++) { /* mutate what was reloaded */
      uint64_t i = ((uint64_t)k * 7919u + (uint64_t)round * 31u) % n;
      pb_value v = I(100000 * (round + 1) + k);
      if (k % 3 == 0) {
        assert_int_equal(pb__list_insert(l, i, &v), PB_OK);
        memmove(m + i + 1, m + i, (n - i) * sizeof *m);
        m[i] = v.as.i;
        n++;
      } else if (k % 3 == 1) {
        assert_int_equal(pb__list_remove(l, i), PB_OK);
        memmove(m + i, m + i + 1, (n - i - 1) * sizeof *m);
        n--;
      } else {
        assert_int_equal(pb__list_set(l, i, &v), PB_OK);
        m[i] = v.as.i;
      }
    }
    assert_true(pb__list_dirty(l));
    assert_true(pb_atom_ptr_equal(pb__list_base(l), t.cs.root));
    expect_ints(l, m, n);
    flush_commit(l, &t.cs);
    expect_ints(l, m, n); /* still usable after the flush */
    pb__list_free(l);
    pb_test_cstore_reopen(&t.cs);
  }
  l = open_list(&t.cs.src, t.cs.root);
  expect_ints(l, m, n);
  pb__list_free(l);
  store_close(&t);
  free(m);
}

/* 100,000 appended values (fanout 4: 20,000): after a flush and commit,
 * setting one index writes the path from the root to its leaf and
 * nothing else, the old version stays readable, and so does the new one
 * after a reopen. */
static void structural_sharing(void **state) {
  (void)state;
  const int64_t n = pb__coll_fanout <= 4 ? 20000 : 100000;
  tmp_store t;
  store_open(&t);
  pb__list *l = open_list(&t.cs.src, null_ptr);
  append_ints(l, 0, n);
  uint64_t w0 = t.cs.atoms_written;
  pb_atom_ptr v0 = flush_commit(l, &t.cs);
  unsigned h = height_of(l);
  expect_height_fits((uint64_t)n, h);
  printf("list: %lld values, fanout %u: height %u, %llu atoms in all\n",
         (long long)n, pb__coll_fanout, h,
         (unsigned long long)(t.cs.atoms_written - w0));
  const uint64_t at[] = {0, (uint64_t)n / 2, (uint64_t)n - 1, 12345 % n};
  pb_atom_ptr prev = v0;
  for (int k = 0; k < 4; k++) {
    pb_value v = I(-1 - k);
    uint64_t w = t.cs.atoms_written;
    assert_int_equal(pb__list_set(l, at[k], &v), PB_OK);
    pb_atom_ptr r = flush_commit(l, &t.cs);
    uint64_t wrote = t.cs.atoms_written - w;
    printf("list: set [%llu] wrote %llu atoms (height %u)\n",
           (unsigned long long)at[k], (unsigned long long)wrote, h);
    assert_true(wrote <= h + 1u);
    assert_int_equal(wrote, h);
    assert_false(pb_atom_ptr_equal(r, prev));
    prev = r;
  }
  uint64_t w = t.cs.atoms_written; /* an append: the right spine */
  pb_value v = I(n);
  assert_int_equal(pb__list_append(l, &v), PB_OK);
  flush_commit(l, &t.cs);
  printf("list: append wrote %llu atoms\n",
         (unsigned long long)(t.cs.atoms_written - w));
  assert_true(t.cs.atoms_written - w <= 2u * h + 1u);
  pb__list_free(l);
  pb_test_cstore_reopen(&t.cs);
  pb__list *old = open_list(&t.cs.src, v0); /* the first version */
  assert_int_equal(int_at(old, 0), 0);
  assert_int_equal(int_at(old, (uint64_t)n - 1), n - 1);
  assert_int_equal(count_of(old), (uint64_t)n);
  pb__list_free(old);
  l = open_list(&t.cs.src, t.cs.root); /* the last, nothing loaded yet */
  assert_int_equal(int_at(l, 0), -1);
  assert_int_equal(int_at(l, (uint64_t)n / 2), -2);
  assert_int_equal(int_at(l, (uint64_t)n), n);
  w = t.cs.atoms_written;
  v = I(7);
  assert_int_equal(pb__list_set(l, 777, &v), PB_OK);
  flush_commit(l, &t.cs);
  assert_int_equal(t.cs.atoms_written - w, h);
  pb__list_free(l);
  store_close(&t);
}

/* A tree written with one fanout, edited with another (nodes decode at
 * any size; splits and merges use the fanout of the moment). */
static void other_fanout(void **state) {
  (void)state;
  const unsigned mine = pb__coll_fanout, other = mine <= 4 ? 64 : 4;
  enum { N = 1500 };
  int64_t *m = malloc(N * sizeof *m);
  for (int64_t i = 0; i < N; i++) m[i] = i;
  tmp_store t;
  store_open(&t);
  pb__coll_fanout = other;
  pb__list *l = open_list(&t.cs.src, null_ptr);
  append_ints(l, 0, N);
  pb_atom_ptr root = flush_commit(l, &t.cs);
  pb__list_free(l);
  pb__coll_fanout = mine;
  l = open_list(&t.cs.src, root);
  size_t n = N;
  for (int k = 0; k < 400; k++) { /* grow, then shrink to empty */
    uint64_t i = ((uint64_t)k * 104729u) % n;
    pb_value v = I(N + k);
    assert_int_equal(pb__list_insert(l, i, &v), PB_OK);
    memmove(m + i + 1, m + i, (n - i - 1) * sizeof *m); /* drop the last */
    m[i] = v.as.i;
    assert_int_equal(pb__list_remove(l, n), PB_OK);
  }
  expect_ints(l, m, n);
  flush_commit(l, &t.cs);
  while (n > 0) {
    uint64_t i = (n * 7919u + 13u) % n;
    assert_int_equal(pb__list_remove(l, i), PB_OK);
    memmove(m + i, m + i + 1, (n - i - 1) * sizeof *m);
    n--;
    if (n % 250 == 0) expect_ints(l, m, n);
  }
  assert_int_equal(height_of(l), 0);
  pb__list_free(l);
  store_close(&t);
  free(m);
}

/* --- Failures leave the list as it was --- */

/* A sink that fails after `left` atoms. */
typedef struct failing_sink {
  pb_test_cstore *cs;
  int left;
} failing_sink;

static int failing_write(void *arg, const void *atom, size_t len,
                         pb_atom_ptr *out) {
  failing_sink *f = arg;
  if (f->left-- <= 0) return PB_ENOMEM;
  return f->cs->sink.write(f->cs->sink.arg, atom, len, out);
}

/* A source that fails with PB_EIO after `left` reads. */
typedef struct failing_src {
  pb_test_cstore *cs;
  int left;
} failing_src;

static int failing_read(void *arg, pb_atom_ptr p, pb_bytes *atom) {
  failing_src *f = arg;
  if (f->left-- <= 0) return PB_EIO;
  return f->cs->src.read(f->cs->src.arg, p, atom);
}

static void flush_failure_changes_nothing(void **state) {
  (void)state;
  enum { N = 3000 }; /* over 40 nodes at any fanout */
  int64_t m[N];
  for (int64_t i = 0; i < N; i++) m[i] = i;
  tmp_store t;
  store_open(&t);
  pb__list *l = open_list(&t.cs.src, null_ptr);
  append_ints(l, 0, N);
  failing_sink fs = {&t.cs, 0};
  pb__sink sink = {failing_write, &fs};
  for (int after = 0; after < 40; after += 7) {
    fs.left = after;
    pb_atom_ptr root = {9, 9, 9};
    assert_int_equal(pb__list_flush(l, &sink, &root), PB_ENOMEM);
    assert_true(pb__list_dirty(l));
    assert_true(pb_atom_ptr_is_null(pb__list_base(l)));
  }
  pb_atom_ptr root = flush_commit(l, &t.cs);
  pb__list_free(l);
  l = open_list(&t.cs.src, root);
  expect_ints(l, m, N);
  pb__list_free(l);
  store_close(&t);
}

static void read_failure_changes_nothing(void **state) {
  (void)state;
  enum { N = 900 };
  int64_t m[N];
  for (int64_t i = 0; i < N; i++) m[i] = i;
  tmp_store t;
  store_open(&t);
  pb__list *l = open_list(&t.cs.src, null_ptr);
  append_ints(l, 0, N);
  pb_atom_ptr root = flush_commit(l, &t.cs);
  pb__list_free(l);
  failing_src fs = {&t.cs, 0};
  pb__src src = {failing_read, &fs, NULL};
  l = open_list(&src, root);
  uint64_t n;
  assert_int_equal(pb__list_count(l, &n), PB_EIO);
  pb_value v = I(-5);
  int fails = 0;
  for (int k = 0; k < 60; k++) { /* each edit with few reads allowed */
    fs.left = k % 3;
    uint64_t i = ((uint64_t)k * 389u) % N;
    int rc = k % 2 ? pb__list_remove(l, i) : pb__list_insert(l, i, &v);
    if (rc == PB_OK) { /* undo it, with reads allowed */
      fs.left = 1000;
      pb_value back = I(m[i]);
      rc = k % 2 ? pb__list_insert(l, i, &back) : pb__list_remove(l, i);
      assert_int_equal(rc, PB_OK);
    } else {
      assert_int_equal(rc, PB_EIO);
      fails++;
    }
  }
  assert_true(fails > 10);
  fs.left = 1 << 30;
  expect_ints(l, m, N);
  pb__list_free(l);
  store_close(&t);
}

/* --- Hostile nodes --- */

static pb_atom_ptr put_node(pb_test_cstore *cs, uint32_t type,
                            const pb_value *vals, size_t n) {
  pb_buf b;
  pb_buf_init(&b);
  pb_atom_ptr p;
  assert_int_equal(pb__node_write(&cs->sink, &b, type, vals, n, &p), PB_OK);
  pb_buf_free(&b);
  return p;
}

static pb_atom_ptr put_raw(pb_test_cstore *cs, const void *bytes, size_t len) {
  pb_atom_ptr p;
  assert_int_equal(cs->sink.write(cs->sink.arg, bytes, len, &p), PB_OK);
  return p;
}

/* Where the next atom written through cs will be. */
static pb_atom_ptr next_ptr(const pb_test_cstore *cs) {
  return (pb_atom_ptr){cs->bb.id_hi, cs->bb.id_lo, cs->bb.buf.len};
}

/* Counts the list at root: the error, or PB_OK and *n. */
static int count_at(pb_test_cstore *cs, pb_atom_ptr root, uint64_t *n) {
  pb__list *l = open_list(&cs->src, root);
  int rc = pb__list_count(l, n);
  pb__list_free(l);
  return rc;
}

static void expect_corrupt_root(pb_test_cstore *cs, pb_atom_ptr root) {
  uint64_t n;
  assert_corrupt(count_at(cs, root, &n), PB_AT_ATOM);
  pb__list *l = open_list(&cs->src, root);
  pb_value v = I(1);
  unsigned h;
  pb__list_iter *it;
  pb__list *s;
  assert_corrupt(pb__list_get(l, 0, &v), PB_AT_ATOM);
  assert_corrupt(pb__list_append(l, &v), PB_AT_ATOM);
  assert_corrupt(pb__list_height(l, &h), PB_AT_ATOM);
  assert_corrupt(pb__list_iter_open(l, 0, 1, &it), PB_AT_ATOM);
  assert_corrupt(pb__list_slice(l, 0, 1, &s), PB_AT_ATOM);
  assert_false(pb__list_dirty(l));
  pb__list_free(l);
}

static void hostile_shapes(void **state) {
  (void)state;
  tmp_store t;
  store_open(&t);
  pb_test_cstore *cs = &t.cs;
  pb_value three[] = {I(1), I(2), I(3)};
  pb_atom_ptr leaf3 = put_node(cs, PB__TYPE_LIST_LEAF, three, 3);
  pb_atom_ptr leaf1 = put_node(cs, PB__TYPE_LIST_LEAF, three, 1);
  uint64_t n;
  assert_int_equal(count_at(cs, leaf3, &n), PB_OK);
  assert_int_equal(n, 3);
  /* Wrong node types. */
  expect_corrupt_root(cs, put_node(cs, PB__TYPE_DICT_LEAF, three, 3));
  expect_corrupt_root(cs, put_node(cs, PB__TYPE_HASH_NODE, three, 3));
  expect_corrupt_root(cs, put_node(cs, 1, three, 0)); /* reserved type */
  /* Branch shapes: empty, odd, a count that is no UINT or is 0, a child
   * that is null or no REF, counts whose sum overflows. */
  pb_value odd[] = {U(3), R(leaf3), U(1)};
  pb_value int_count[] = {I(3), R(leaf3)};
  pb_value zero[] = {U(3), R(leaf3), U(0), R(leaf1)};
  pb_value null_kid[] = {U(3), R(null_ptr)};
  pb_value list_kid[] = {U(3), {.kind = PB_VALUE_LIST, .as.ref = leaf3}};
  pb_value overflow[] = {U(3), R(leaf3), U(UINT64_MAX), R(leaf1)};
  expect_corrupt_root(cs, put_node(cs, PB__TYPE_LIST_BRANCH, odd, 0));
  expect_corrupt_root(cs, put_node(cs, PB__TYPE_LIST_BRANCH, odd, 3));
  expect_corrupt_root(cs, put_node(cs, PB__TYPE_LIST_BRANCH, int_count, 2));
  expect_corrupt_root(cs, put_node(cs, PB__TYPE_LIST_BRANCH, zero, 4));
  expect_corrupt_root(cs, put_node(cs, PB__TYPE_LIST_BRANCH, null_kid, 2));
  expect_corrupt_root(cs, put_node(cs, PB__TYPE_LIST_BRANCH, list_kid, 2));
  expect_corrupt_root(cs, put_node(cs, PB__TYPE_LIST_BRANCH, overflow, 4));
  /* The leftmost child's count lies (it is loaded with the root). */
  pb_value lie_left[] = {U(5), R(leaf3), U(1), R(leaf1)};
  expect_corrupt_root(cs, put_node(cs, PB__TYPE_LIST_BRANCH, lie_left, 4));
  /* A leaf where the leftmost path says a branch belongs, and the other
   * way round. */
  pb_value b1[] = {U(3), R(leaf3)};
  pb_atom_ptr mid = put_node(cs, PB__TYPE_LIST_BRANCH, b1, 2);
  pb_value uneven[] = {U(3), R(mid), U(1), R(leaf1)};
  pb_atom_ptr r = put_node(cs, PB__TYPE_LIST_BRANCH, uneven, 4);
  pb__list *l = open_list(&cs->src, r);
  pb_value v;
  assert_int_equal(count_of(l), 4);
  assert_int_equal(pb__list_get(l, 2, &v), PB_OK);
  assert_corrupt(pb__list_get(l, 3, &v), PB_AT_ATOM);
  pb__list_free(l);
  pb_value uneven2[] = {U(1), R(leaf1), U(3), R(mid)};
  r = put_node(cs, PB__TYPE_LIST_BRANCH, uneven2, 4);
  l = open_list(&cs->src, r);
  assert_int_equal(pb__list_get(l, 0, &v), PB_OK);
  assert_corrupt(pb__list_get(l, 1, &v), PB_AT_ATOM);
  pb__list_free(l);
  store_close(&t);
}

/* A count that lies about a child loaded later: every operation that
 * needs the child fails, and the list stays as it was. */
static void lying_count(void **state) {
  (void)state;
  tmp_store t;
  store_open(&t);
  pb_test_cstore *cs = &t.cs;
  pb_value vals[] = {I(0), I(1), I(2)};
  pb_atom_ptr a = put_node(cs, PB__TYPE_LIST_LEAF, vals, 2);
  pb_atom_ptr b = put_node(cs, PB__TYPE_LIST_LEAF, vals, 3);
  pb_value lie[] = {U(2), R(a), U(7), R(b)};
  pb__list *l = open_list(&cs->src, put_node(cs, PB__TYPE_LIST_BRANCH, lie, 4));
  assert_int_equal(count_of(l), 9); /* not knowable before loading b */
  pb_value v = I(5), got;
  assert_corrupt(pb__list_get(l, 3, &got), PB_AT_ATOM);
  assert_corrupt(pb__list_set(l, 8, &v), PB_AT_ATOM);
  assert_corrupt(pb__list_insert(l, 4, &v), PB_AT_ATOM);
  assert_corrupt(pb__list_remove(l, 0), PB_AT_ATOM); /* needs sibling b */
  assert_false(pb__list_dirty(l));
  assert_int_equal(count_of(l), 9);
  assert_int_equal(int_at(l, 0), 0);
  assert_int_equal(int_at(l, 1), 1);
  pb__list_iter *it = NULL;
  assert_corrupt(pb__list_iter_open(l, 3, 9, &it), PB_AT_ATOM);
  assert_null(it);
  assert_int_equal(pb__list_iter_open(l, 0, 9, &it), PB_OK);
  assert_int_equal(pb__list_iter_next(it, &got), PB_OK);
  assert_int_equal(pb__list_iter_next(it, &got), PB_OK);
  assert_corrupt(pb__list_iter_next(it, &got), PB_AT_ATOM);
  /* The iterator keeps its error; the detail stays the first one's. */
  assert_corrupt_rc(pb__list_iter_next(it, &got), PB_AT_ATOM);
  pb__list_iter_free(it);
  pb__list *s = NULL;
  assert_corrupt(pb__list_slice(l, 0, 9, &s), PB_AT_ATOM);
  assert_null(s);
  pb__list_free(l);
  store_close(&t);
}

/* A child pointing back at its parent, two branches pointing at each
 * other, and chains one level under and one over PB__COLL_MAX_DEPTH. */
static void cycles_and_depth(void **state) {
  (void)state;
  tmp_store t;
  store_open(&t);
  pb_test_cstore *cs = &t.cs;
  pb_value one = I(42);
  pb_atom_ptr leaf = put_node(cs, PB__TYPE_LIST_LEAF, &one, 1);
  pb_atom_ptr self = next_ptr(cs);
  pb_value s1[] = {U(1), R(self)};
  assert_true(pb_atom_ptr_equal(put_node(cs, PB__TYPE_LIST_BRANCH, s1, 2),
                                self));
  expect_corrupt_root(cs, self); /* the depth limit ends the walk */
  self = next_ptr(cs); /* a cycle off the leftmost path */
  pb_value s2[] = {U(1), R(leaf), U(1), R(self)};
  put_node(cs, PB__TYPE_LIST_BRANCH, s2, 4);
  pb__list *l = open_list(&cs->src, self);
  pb_value v;
  assert_int_equal(count_of(l), 2);
  assert_corrupt(pb__list_get(l, 1, &v), PB_AT_ATOM);
  pb__list_free(l);
  /* A and B point at each other: B's offset follows A's atom, whose size
   * does not depend on the pointer it holds. */
  pb_buf b;
  pb_buf_init(&b);
  pb__atom_begin(&b, PB__TYPE_LIST_BRANCH);
  pb_wire_put_varint(&b, 2);
  pb_value shape[] = {U(1), R(leaf)};
  pb__value_encode(&b, &shape[0]);
  pb__value_encode(&b, &shape[1]);
  pb_atom_ptr pa = next_ptr(cs), pb_ = pa;
  pb_.offset += 4 + b.len;
  pb_value va[] = {U(1), R(pb_)}, vb[] = {U(1), R(pa)};
  put_node(cs, PB__TYPE_LIST_BRANCH, va, 2);
  assert_true(pb_atom_ptr_equal(put_node(cs, PB__TYPE_LIST_BRANCH, vb, 2),
                                pb_));
  expect_corrupt_root(cs, pa);
  pb_buf_free(&b);
  /* Chains of branches of one child over one leaf: height 32 is the
   * deepest tree that opens. */
  pb_atom_ptr top = leaf;
  for (unsigned h = 2; h <= PB__COLL_MAX_DEPTH + 1; h++) {
    pb_value c[] = {U(1), R(top)};
    top = put_node(cs, PB__TYPE_LIST_BRANCH, c, 2);
    uint64_t n;
    if (h <= PB__COLL_MAX_DEPTH) {
      l = open_list(&cs->src, top);
      assert_int_equal(height_of(l), h);
      assert_int_equal(int_at(l, 0), 42);
      pb__list_free(l);
    } else {
      assert_corrupt(count_at(cs, top, &n), PB_AT_ATOM);
    }
  }
  store_close(&t);
}

/* Truncated and padded atoms, an unknown format, a missing child. */
static void truncated_and_missing(void **state) {
  (void)state;
  tmp_store t;
  store_open(&t);
  pb_test_cstore *cs = &t.cs;
  pb_value vals[] = {I(-7), S("some text"), U(9)};
  pb_buf b;
  pb_buf_init(&b);
  pb__atom_begin(&b, PB__TYPE_LIST_LEAF);
  pb_wire_put_varint(&b, 3);
  for (int i = 0; i < 3; i++) pb__value_encode(&b, &vals[i]);
  uint64_t n;
  assert_int_equal(count_at(cs, put_raw(cs, b.data, b.len), &n), PB_OK);
  assert_int_equal(n, 3);
  for (size_t cut = 1; cut < b.len; cut++)
    expect_corrupt_root(cs, put_raw(cs, b.data, cut));
  uint8_t pad = 0;
  pb_buf_append(&b, &pad, 1);
  expect_corrupt_root(cs, put_raw(cs, b.data, b.len));
  b.data[0] = 2; /* a future atom format */
  assert_int_equal(count_at(cs, put_raw(cs, b.data, b.len), &n), PB_EVERSION);
  pb_buf_free(&b);
  pb_atom_ptr leaf = put_node(cs, PB__TYPE_LIST_LEAF, vals, 1);
  pb_value gone[] = {U(1), R(leaf), U(2), R((pb_atom_ptr){7, 7, 64})};
  pb__list *l = open_list(&cs->src, put_node(cs, PB__TYPE_LIST_BRANCH, gone, 4));
  pb_value v;
  assert_int_equal(count_of(l), 3);
  assert_corrupt(pb__list_get(l, 2, &v), PB_AT_ATOM); /* missing leaf */
  pb__list_iter *it; /* not the end of the list: corrupt */
  assert_int_equal(pb__list_iter_open(l, 0, 3, &it), PB_OK);
  assert_int_equal(pb__list_iter_next(it, &v), PB_OK);
  assert_corrupt(pb__list_iter_next(it, &v), PB_AT_ATOM);
  pb__list_iter_free(it);
  pb__list_free(l);
  /* A root leaf of no values reads as empty, and can be filled. */
  l = open_list(&cs->src, put_node(cs, PB__TYPE_LIST_LEAF, vals, 0));
  assert_int_equal(count_of(l), 0);
  assert_int_equal(pb__list_append(l, &vals[0]), PB_OK);
  assert_int_equal(count_of(l), 1);
  pb__list_free(l);
  store_close(&t);
}

/* Shapes this code never writes but must edit safely: branches of one
 * child under a root of two.  Emptying a leaf drops it and its emptied
 * parent; the root gives way to the other branch, which keeps its one
 * child (not loaded) and its atom, so the flush writes nothing. */
static void foreign_shapes(void **state) {
  (void)state;
  tmp_store t;
  store_open(&t);
  pb_test_cstore *cs = &t.cs;
  pb_value vals[] = {I(10), I(20), I(30)};
  pb_atom_ptr x = put_node(cs, PB__TYPE_LIST_LEAF, vals, 1);
  pb_atom_ptr y = put_node(cs, PB__TYPE_LIST_LEAF, vals + 1, 2);
  pb_value ma[] = {U(1), R(x)}, mb[] = {U(2), R(y)};
  pb_value top[] = {U(1), R(put_node(cs, PB__TYPE_LIST_BRANCH, ma, 2)), U(2),
                    R(put_node(cs, PB__TYPE_LIST_BRANCH, mb, 2))};
  pb__list *l = open_list(&cs->src, put_node(cs, PB__TYPE_LIST_BRANCH, top, 4));
  assert_int_equal(height_of(l), 3);
  assert_int_equal(pb__list_remove(l, 0), PB_OK);
  assert_int_equal(count_of(l), 2);
  assert_int_equal(height_of(l), 2);
  uint64_t w = cs->atoms_written;
  pb_atom_ptr root = flush_commit(l, cs);
  assert_true(pb_atom_ptr_equal(root, top[3].as.ref)); /* midB, shared */
  assert_int_equal(cs->atoms_written, w);
  pb__list_free(l);
  l = open_list(&cs->src, root);
  int64_t want[] = {20, 30};
  expect_ints(l, want, 2);
  assert_int_equal(pb__list_remove(l, 1), PB_OK);
  assert_int_equal(pb__list_remove(l, 0), PB_OK);
  assert_int_equal(height_of(l), 0);
  assert_true(pb_atom_ptr_is_null(flush_commit(l, cs)));
  pb__list_free(l);
  store_close(&t);
}

int main(int argc, char **argv) {
  pb_test_coll_args(argc, argv);
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(empty_list_and_ranges),
      cmocka_unit_test(get_set_insert_remove),
      cmocka_unit_test(values_are_copied),
      cmocka_unit_test(iteration_ranges),
      cmocka_unit_test(slices),
      cmocka_unit_test(flush_reopen_mutate),
      cmocka_unit_test(structural_sharing),
      cmocka_unit_test(other_fanout),
      cmocka_unit_test(flush_failure_changes_nothing),
      cmocka_unit_test(read_failure_changes_nothing),
      cmocka_unit_test(hostile_shapes),
      cmocka_unit_test(lying_count),
      cmocka_unit_test(cycles_and_depth),
      cmocka_unit_test(truncated_and_missing),
      cmocka_unit_test(foreign_shapes),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
