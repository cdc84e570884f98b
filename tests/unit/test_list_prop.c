/*
 * test_list_prop.c - a property test of the List (collections/list.h)
 * against the simplest model there is: an array of keys, each key standing
 * for one value (an INT, UINT, STRING or BYTES made from it).
 *
 * Random operations (insert at a random index, append, set, remove, get,
 * out-of-range calls, iteration over a random range, slice) run on both,
 * and every result is compared.  The list grows to a random size from
 * 1,000 to 5,000, then shrinks to empty, again and again.  Every 50 to 150
 * operations the list is flushed; every 100 to 400 it is flushed, its
 * root committed, the store closed and reopened, and the list reopened
 * from the committed root, so that mutation goes on over nodes that are
 * not loaded yet.  The whole list is compared with the model every 500
 * operations and after each reopen, and the in-memory tree is checked
 * (fill, counts, levels, dirty state: list_int.h) at the same points.
 *
 * The seed is printed; set it with PB_TEST_SEED=n or --seed=n, and the
 * number of operations with PB_LIST_PROP_OPS=n.  `--tiny` sets the fanout
 * to 4 (the test_list_prop_tiny variant).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "atom/value.h"
#include "collections/list_int.h"
#include "support/collstore.h"
#include "test_util.h"

static uint64_t g_seed = 0x5eed11570001ull;
static uint64_t g_ops = 50000;

/* --- Random numbers: xorshift64* --- */

static uint64_t rng;

static uint64_t rnd(void) {
  rng ^= rng >> 12;
  rng ^= rng << 25;
  rng ^= rng >> 27;
  return rng * 0x2545f4914f6cdd1dull;
}

/* A number in [0, n), n > 0. */
static uint64_t below(uint64_t n) { return rnd() % n; }

/* --- The model --- */

typedef struct model {
  uint64_t *key; /* the values, by key */
  size_t n, cap; /* used and allocated */
} model;

static void model_insert(model *m, size_t i, uint64_t key) {
  if (m->n == m->cap) {
    m->cap = m->cap ? m->cap * 2 : 1024;
    m->key = realloc(m->key, m->cap * sizeof *m->key);
    assert_non_null(m->key);
  }
  memmove(m->key + i + 1, m->key + i, (m->n - i) * sizeof *m->key);
  m->key[i] = key;
  m->n++;
}

static void model_remove(model *m, size_t i) {
  memmove(m->key + i, m->key + i + 1, (m->n - i - 1) * sizeof *m->key);
  m->n--;
}

/* The value key k stands for; its payload, if any, is in buf[64]. */
static pb_value value_of(uint64_t k, char *buf) {
  switch (k % 4) {
  case 0:
    return (pb_value){.kind = PB_VALUE_INT,
                      .as.i = (int64_t)(k * 2654435761u) - (1 << 30)};
  case 1: {
    int len = snprintf(buf, 64, "v%llu-%.*s", (unsigned long long)k,
                       (int)(k % 23), "abcdefghijklmnopqrstuvw");
    return (pb_value){.kind = PB_VALUE_STRING, .as.s = {buf, (size_t)len}};
  }
  case 2:
    return (pb_value){.kind = PB_VALUE_UINT, .as.u = k};
  default:
    for (int i = 0; i < 9; i++) buf[i] = (char)(k >> (i * 5));
    return (pb_value){.kind = PB_VALUE_BYTES,
                      .as.bytes = {(const uint8_t *)buf, (size_t)(k % 9)}};
  }
}

static void expect_key(const pb_value *got, uint64_t key) {
  char buf[64];
  pb_value want = value_of(key, buf);
  if (!pb__value_equal(got, &want))
    fail_msg("value differs from key %llu", (unsigned long long)key);
}

/* --- Whole-list checks --- */

static uint64_t g_full_checks, g_tree_checks;

/* The list's range [from, to) against the model's, by one iterator. */
static void expect_range(pb__list *l, const model *m, uint64_t from,
                         uint64_t to) {
  pb__list_iter *it;
  assert_int_equal(pb__list_iter_open(l, from, to, &it), PB_OK);
  if (to > m->n) to = m->n;
  pb_value v;
  for (uint64_t i = from; i < to; i++) {
    assert_int_equal(pb__list_iter_next(it, &v), PB_OK);
    expect_key(&v, m->key[i]);
  }
  assert_int_equal(pb__list_iter_next(it, &v), PB_ENOTFOUND);
  pb__list_iter_free(it);
}

static void expect_all(pb__list *l, const model *m) {
  uint64_t n;
  assert_int_equal(pb__list_count(l, &n), PB_OK);
  assert_int_equal(n, m->n);
  expect_range(l, m, 0, UINT64_MAX);
  g_full_checks++;
}

/* Checks the loaded part of the tree under n (which holds `want` values):
 * fill within [ceil(f / 2), f] (the root: 1 or 2 entries at least),
 * levels one apart, counts that add up, and no dirty node under a clean
 * one (a clean node is exactly its atom). */
static void check_node(const pb__lnode *n, uint32_t level, bool is_root,
                       bool clean, uint64_t want) {
  uint32_t f = pb__coll_fanout, min = (f + 1) / 2;
  assert_true(n->n <= f);
  assert_true(n->n >= (is_root ? (level ? 2u : 1u) : min));
  if (n->shared) { /* read in place: clean, its kind right for its level */
    assert_true(clean);
    assert_int_equal(n->level == 0, level == 0);
  } else {
    assert_int_equal(n->level, level);
  }
  if (level == 0) {
    assert_int_equal(n->n, want);
    return;
  }
  uint64_t sum = 0;
  for (uint32_t i = 0; i < n->n; i++) {
    const pb__lslot *s = &n->kids[i];
    bool kid_clean = !pb_atom_ptr_is_null(s->ptr);
    assert_true(s->count >= 1);
    sum += s->count;
    if (clean) assert_true(kid_clean);
    if (!s->node) {
      assert_true(kid_clean); /* not loaded: must have an atom */
      continue;
    }
    check_node(s->node, level - 1, false, kid_clean, s->count);
  }
  assert_int_equal(sum, want);
}

static void check_tree(pb__list *l, const model *m, bool want_clean) {
  if (!l->root.node) { /* empty, or not loaded yet */
    if (pb_atom_ptr_is_null(l->root.ptr)) assert_int_equal(m->n, 0);
    return;
  }
  bool clean = !pb_atom_ptr_is_null(l->root.ptr);
  if (want_clean) assert_true(clean);
  assert_int_equal(l->root.count, m->n);
  check_node(l->root.node, l->root_level, true, clean, l->root.count);
  g_tree_checks++;
}

/* --- One random operation --- */

typedef struct run {
  pb_test_cstore cs; /* the store */
  pb__list *l;       /* the list under test */
  model m;           /* what it should hold */
  uint64_t next_key; /* the key of the next new value */
  bool shrinking;    /* heading for empty */
  size_t target;     /* the size that ends growing */
  uint64_t op_count[9], reopens, flushes, max_n, empties;
} run;

static void op_insert(run *r, bool at_end) {
  char buf[64];
  uint64_t key = r->next_key++;
  pb_value v = value_of(key, buf);
  size_t i = at_end ? r->m.n : (size_t)below(r->m.n + 1);
  int rc = at_end ? pb__list_append(r->l, &v) : pb__list_insert(r->l, i, &v);
  assert_int_equal(rc, PB_OK);
  model_insert(&r->m, i, key);
  memset(buf, 0, sizeof buf); /* the list kept a copy */
}

static void op_set(run *r) {
  char buf[64];
  uint64_t key = r->next_key++;
  pb_value v = value_of(key, buf);
  if (r->m.n == 0) {
    assert_int_equal(pb__list_set(r->l, 0, &v), PB_ERANGE);
    return;
  }
  size_t i = (size_t)below(r->m.n);
  assert_int_equal(pb__list_set(r->l, i, &v), PB_OK);
  r->m.key[i] = key;
}

static void op_remove(run *r) {
  if (r->m.n == 0) {
    assert_int_equal(pb__list_remove(r->l, 0), PB_ERANGE);
    return;
  }
  size_t i = (size_t)below(r->m.n);
  assert_int_equal(pb__list_remove(r->l, i), PB_OK);
  model_remove(&r->m, i);
}

static void op_get(run *r) {
  pb_value v;
  uint64_t i = below(r->m.n + 3); /* sometimes out of range */
  if (i >= r->m.n) {
    assert_int_equal(pb__list_get(r->l, i, &v), PB_ERANGE);
    char buf[64];
    pb_value nv = value_of(1, buf);
    assert_int_equal(pb__list_insert(r->l, r->m.n + 1 + i, &nv), PB_ERANGE);
    return;
  }
  assert_int_equal(pb__list_get(r->l, i, &v), PB_OK);
  expect_key(&v, r->m.key[i]);
}

static void op_iterate(run *r) {
  uint64_t from = below(r->m.n + 1), to = from + below(r->m.n - from + 40);
  expect_range(r->l, &r->m, from, to);
  pb__list_iter *it = NULL;
  assert_int_equal(pb__list_iter_open(r->l, r->m.n + 1, r->m.n + 9, &it),
                   PB_ERANGE);
}

/* A slice holds the range; appending to it leaves the list alone; a
 * quarter of the slices are flushed too (their atoms, never committed as
 * the root, are garbage in the batch). */
static void op_slice(run *r) {
  uint64_t from = below(r->m.n + 1), to = from + below(r->m.n - from + 40);
  pb__list *s;
  assert_int_equal(pb__list_slice(r->l, from, to, &s), PB_OK);
  model sm = {0};
  for (uint64_t i = from; i < to && i < r->m.n; i++)
    model_insert(&sm, sm.n, r->m.key[i]);
  expect_all(s, &sm);
  check_tree(s, &sm, false);
  char buf[64];
  pb_value v = value_of(3, buf);
  assert_int_equal(pb__list_append(s, &v), PB_OK);
  if (below(4) == 0) {
    pb_atom_ptr root;
    assert_int_equal(pb__list_flush(s, &r->cs.sink, &root), PB_OK);
    model_insert(&sm, sm.n, 3);
    check_tree(s, &sm, true);
  }
  pb__list_free(s);
  free(sm.key);
  uint64_t n;
  assert_int_equal(pb__list_count(r->l, &n), PB_OK);
  assert_int_equal(n, r->m.n);
}

static void pick_phase(run *r) {
  if (!r->shrinking && r->m.n >= r->target) r->shrinking = true;
  if (r->shrinking && r->m.n == 0) {
    r->shrinking = false;
    r->empties++;
    r->target = 1000 + (size_t)below(4000);
  }
}

static void one_op(run *r) {
  pick_phase(r);
  /* insert, append, set, remove, get, iterate, slice: weights by phase */
  static const unsigned grow[] = {28, 26, 10, 9, 14, 9, 4};
  static const unsigned shrink[] = {7, 5, 10, 57, 12, 6, 3};
  const unsigned *w = r->shrinking ? shrink : grow;
  unsigned x = (unsigned)below(100), op = 0;
  while (x >= w[op]) x -= w[op++];
  r->op_count[op]++;
  switch (op) {
  case 0: op_insert(r, false); break;
  case 1: op_insert(r, true); break;
  case 2: op_set(r); break;
  case 3: op_remove(r); break;
  case 4: op_get(r); break;
  case 5: op_iterate(r); break;
  default: op_slice(r); break;
  }
  uint64_t n;
  assert_int_equal(pb__list_count(r->l, &n), PB_OK);
  assert_int_equal(n, r->m.n);
  if (r->m.n > r->max_n) r->max_n = r->m.n;
}

/* --- Flush, commit, reopen --- */

static pb_atom_ptr flush(run *r) {
  pb_atom_ptr root;
  assert_int_equal(pb__list_flush(r->l, &r->cs.sink, &root), PB_OK);
  assert_false(pb__list_dirty(r->l));
  assert_true(pb_atom_ptr_equal(pb__list_base(r->l), root));
  assert_int_equal(pb_atom_ptr_is_null(root), r->m.n == 0);
  check_tree(r->l, &r->m, true);
  r->flushes++;
  return root;
}

static void reopen(run *r) {
  pb_atom_ptr root = flush(r);
  pb_test_cstore_commit(&r->cs, root);
  pb__list_free(r->l);
  pb_test_cstore_reopen(&r->cs);
  assert_true(pb_atom_ptr_equal(r->cs.root, root));
  assert_int_equal(pb__list_open(&r->cs.src, r->cs.root, &r->l), PB_OK);
  assert_false(pb__list_dirty(r->l));
  if (below(2)) expect_all(r->l, &r->m); /* else: mutate unloaded nodes */
  r->reopens++;
}

static double now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void list_matches_model(void **state) {
  (void)state;
  printf("test_list_prop: seed %llu, %llu operations, fanout %u\n",
         (unsigned long long)g_seed, (unsigned long long)g_ops,
         pb__coll_fanout);
  rng = g_seed ? g_seed : 1;
  char *dir = pb_test_tmpdir();
  run *r = calloc(1, sizeof *r);
  assert_non_null(r);
  pb_test_cstore_open(&r->cs, dir);
  assert_int_equal(pb__list_open(&r->cs.src, r->cs.root, &r->l), PB_OK);
  r->target = 1000 + (size_t)below(4000);
  double t0 = now();
  uint64_t next_flush = 50 + below(101), next_reopen = 100 + below(301);
  for (uint64_t k = 1; k <= g_ops; k++) {
    one_op(r);
    if (k == next_reopen) {
      reopen(r);
      next_reopen = k + 100 + below(301);
      check_tree(r->l, &r->m, true);
    } else if (k == next_flush) {
      flush(r);
      next_flush = k + 50 + below(101);
    }
    if (k % 500 == 0) {
      expect_all(r->l, &r->m);
      check_tree(r->l, &r->m, false);
    }
  }
  reopen(r);
  expect_all(r->l, &r->m);
  printf("test_list_prop: %.2f s; ops: insert %llu, append %llu, set %llu, "
         "remove %llu, get %llu, iterate %llu, slice %llu\n",
         now() - t0, (unsigned long long)r->op_count[0],
         (unsigned long long)r->op_count[1], (unsigned long long)r->op_count[2],
         (unsigned long long)r->op_count[3], (unsigned long long)r->op_count[4],
         (unsigned long long)r->op_count[5], (unsigned long long)r->op_count[6]);
  printf("test_list_prop: %llu reopens, %llu flushes, %llu times empty, "
         "largest %llu, %llu full and %llu tree checks, %llu atoms\n",
         (unsigned long long)r->reopens, (unsigned long long)r->flushes,
         (unsigned long long)r->empties, (unsigned long long)r->max_n,
         (unsigned long long)g_full_checks, (unsigned long long)g_tree_checks,
         (unsigned long long)r->cs.atoms_written);
  assert_true(r->reopens >= g_ops / 400);
  assert_true(g_ops < 10000 || (r->empties >= 1 && r->max_n >= 1000));
  pb__list_free(r->l);
  pb_test_cstore_close(&r->cs);
  free(r->m.key);
  free(r);
  pb_test_rmdir(dir);
}

static void parse_args(int argc, char **argv) {
  const char *s = getenv("PB_TEST_SEED"), *o = getenv("PB_LIST_PROP_OPS");
  for (int i = 1; i < argc; i++)
    if (strncmp(argv[i], "--seed=", 7) == 0) s = argv[i] + 7;
  if (s && *s) g_seed = strtoull(s, NULL, 0);
  if (o && *o) g_ops = strtoull(o, NULL, 0);
}

int main(int argc, char **argv) {
  pb_test_coll_args(argc, argv);
  parse_args(argc, argv);
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(list_matches_model),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
