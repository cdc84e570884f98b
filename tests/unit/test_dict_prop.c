/*
 * test_dict_prop.c - a property test of the Dictionary (collections/
 * dict.h) against a model: a sorted array of keys and values.
 *
 * A seeded random sequence of operations (put new keys, replace, remove
 * present and absent keys, get present and absent keys, count, range
 * iteration with random bounds in both directions, and now and then a
 * bulk load into a fresh dictionary) runs on both, and every result is
 * compared.  The run alternates between growing phases (mostly puts, of a
 * random length) and shrinking phases (mostly removes) that last until the
 * dictionary is empty, so splits, merges, borrows and the collapse of the
 * root all happen, in trees a few levels deep.  The run starts with a bulk
 * load of at least 3/4 of the key space.
 *
 * Every 100 to 400 operations the dictionary is flushed, the batch
 * committed, the store closed and reopened (tests/support/collstore.h),
 * and a fresh handle opened on the committed root, so the next operations
 * run on nodes that start out not loaded.  The whole content is compared
 * in order (and the tree checked with pb__dict_verify) after each reopen,
 * on a second handle, and every 50 operations on the working one.
 *
 * Seed: PB_DICT_SEED or --seed=N (printed); operations: PB_DICT_OPS or
 * --ops=N.  `--tiny` runs with fanout 4; --fanout=N with N (odd ones test
 * the rounding of the minimum fill); `--prefixes` gives every decoded node
 * its prefix array (dict_int.h), as the object cache's nodes have, so the
 * searches run through them (the store here has no object cache);
 * `--inplace` has gets read leaves in place (dict_inplace.c), as on the
 * file tier, and `--plain` writes leaves plain (PB__TYPE_DICT_LEAF, as
 * before the indexed leaf) rather than indexed.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "collections/dict.h"
#include "collections/dict_int.h"
#include "support/collstore.h"
#include "test_util.h"

static bool g_tiny;
static uint64_t g_seed = 20250611;
static unsigned g_ops = 20000;
static bool g_inplace; /* --inplace: gets read leaves in place */
static const pb__src_caches g_inplace_caches = {.inplace = true};

/* The store's source, reading leaves in place with --inplace. */
static const pb__src *src_of(pb_test_cstore *cs) {
  cs->src.caches = g_inplace ? &g_inplace_caches : NULL;
  return &cs->src;
}

/* --- random numbers (xorshift64*, reproducible everywhere) --- */

static uint64_t g_rng;

static uint64_t rnd(void) {
  g_rng ^= g_rng >> 12;
  g_rng ^= g_rng << 25;
  g_rng ^= g_rng >> 27;
  return g_rng * 0x2545F4914F6CDD1Dull;
}

static unsigned below(unsigned n) { return (unsigned)(rnd() % n); }

/* --- the model: entries sorted by key (strcmp is the dictionary's
 * bytewise order for keys without NUL) --- */

typedef struct ment {
  char key[12];   /* decimal digits, so keys are prefixes of others */
  bool is_str;    /* value kind: STRING or UINT */
  uint64_t u;     /* UINT value, or the number in the STRING */
  char s[24];     /* STRING value text */
} ment;

typedef struct model {
  ment *e;  /* entries */
  size_t n; /* how many */
} model;

static size_t model_find(const model *m, const char *key, bool *found) {
  size_t lo = 0, hi = m->n;
  *found = false;
  while (lo < hi) {
    size_t mid = lo + (hi - lo) / 2;
    int c = strcmp(m->e[mid].key, key);
    if (c == 0) {
      *found = true;
      return mid;
    }
    if (c < 0) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

static pb_value ment_value(const ment *e) {
  if (e->is_str)
    return (pb_value){.kind = PB_VALUE_STRING, .as.s = pb_str_from_cstr(e->s)};
  return (pb_value){.kind = PB_VALUE_UINT, .as.u = e->u};
}

static void check_value(const ment *e, const pb_value *v) {
  if (e->is_str) {
    assert_int_equal(v->kind, PB_VALUE_STRING);
    assert_int_equal(v->as.s.len, strlen(e->s));
    assert_memory_equal(v->as.s.ptr, e->s, v->as.s.len);
  } else {
    assert_int_equal(v->kind, PB_VALUE_UINT);
    assert_true(v->as.u == e->u);
  }
}

/* --- the run --- */

typedef struct stats {
  unsigned ops[8];          /* per kind of operation (op_kind) */
  unsigned reopens;         /* store reopened */
  unsigned full_compares;   /* whole-content comparisons */
  unsigned empties;         /* times the dictionary became empty */
  unsigned bulk_loads;      /* fresh dictionaries bulk-loaded */
  size_t max_count;         /* most entries at once */
  unsigned max_height;      /* deepest tree seen */
} stats;

typedef enum op_kind {
  OP_PUT_NEW, OP_REPLACE, OP_REMOVE, OP_REMOVE_ABSENT, OP_GET, OP_COUNT,
  OP_RANGE, OP_BULK
} op_kind;

static const char *const op_names[] = {"put new", "replace", "remove",
                                       "remove absent", "get", "count",
                                       "range", "bulk load"};

typedef struct run {
  char *dir;          /* the store's directory */
  pb_test_cstore cs;  /* the store */
  pb__dict *d;        /* the dictionary under test */
  model m;            /* what it should hold */
  unsigned keyspace;  /* keys are 0 .. keyspace-1 in decimal */
  stats st;           /* what happened */
} run;

static void random_key(const run *r, char *key) {
  snprintf(key, 12, "%u", below(r->keyspace));
}

static void random_value(ment *e) {
  e->u = rnd() % 1000000;
  e->is_str = rnd() % 3 == 0;
  snprintf(e->s, sizeof e->s, "s%" PRIu64 "-%u", e->u, below(100000));
}

/* Compares the dictionary's whole content, in order, with the model. */
static void compare_all(pb__dict *d, const model *m) {
  uint64_t n;
  assert_int_equal(pb__dict_count(d, &n), PB_OK);
  assert_true(n == m->n);
  pb__dict_iter *it;
  assert_int_equal(pb__dict_iter_open(d, NULL, false, &it), PB_OK);
  pb_str k;
  pb_value v;
  for (size_t i = 0; i < m->n; i++) {
    assert_int_equal(pb__dict_iter_next(it, &k, &v), PB_OK);
    assert_int_equal(k.len, strlen(m->e[i].key));
    assert_memory_equal(k.ptr, m->e[i].key, k.len);
    check_value(&m->e[i], &v);
  }
  assert_int_equal(pb__dict_iter_next(it, &k, &v), PB_ENOTFOUND);
  pb__dict_iter_free(it);
  assert_int_equal(pb__dict_verify(d, true), PB_OK);
}

static void op_put(run *r, bool replace) {
  ment e = {0};
  bool found;
  size_t at;
  if (replace) {
    if (r->m.n == 0) return;
    memcpy(e.key, r->m.e[below((unsigned)r->m.n)].key, sizeof e.key);
  } else {
    random_key(r, e.key);
  }
  at = model_find(&r->m, e.key, &found);
  random_value(&e);
  pb_value v = ment_value(&e);
  assert_int_equal(pb__dict_put(r->d, pb_str_from_cstr(e.key), &v), PB_OK);
  r->st.ops[found ? OP_REPLACE : OP_PUT_NEW]++;
  if (!found) {
    memmove(&r->m.e[at + 1], &r->m.e[at], (r->m.n - at) * sizeof e);
    r->m.n++;
  }
  r->m.e[at] = e;
  if (r->m.n > r->st.max_count) r->st.max_count = r->m.n;
}

static void op_remove(run *r, bool present) {
  char key[12];
  if (present && r->m.n > 0)
    memcpy(key, r->m.e[below((unsigned)r->m.n)].key, sizeof key);
  else
    random_key(r, key);
  bool found;
  size_t at = model_find(&r->m, key, &found);
  int rc = pb__dict_remove(r->d, pb_str_from_cstr(key));
  assert_int_equal(rc, found ? PB_OK : PB_ENOTFOUND);
  r->st.ops[found ? OP_REMOVE : OP_REMOVE_ABSENT]++;
  if (!found) return;
  memmove(&r->m.e[at], &r->m.e[at + 1], (r->m.n - at - 1) * sizeof *r->m.e);
  r->m.n--;
  if (r->m.n == 0) r->st.empties++;
}

static void op_get(run *r) {
  char key[12];
  if (r->m.n > 0 && rnd() % 2)
    memcpy(key, r->m.e[below((unsigned)r->m.n)].key, sizeof key);
  else
    random_key(r, key);
  bool found;
  size_t at = model_find(&r->m, key, &found);
  pb_value v;
  int rc = pb__dict_get(r->d, pb_str_from_cstr(key), &v);
  assert_int_equal(rc, found ? PB_OK : PB_ENOTFOUND);
  if (found) check_value(&r->m.e[at], &v);
  r->st.ops[OP_GET]++;
}

/* A random bound: a key of the key space (present or not), a prefix of
 * one, or "". */
static void random_bound(const run *r, char *buf) {
  random_key(r, buf);
  unsigned how = below(10);
  if (how == 0) buf[0] = 0;
  else if (how < 3) buf[1 + below((unsigned)strlen(buf))] = 0;
}

static bool in_range(const char *key, const pb__dict_range *q) {
  pb_str k = pb_str_from_cstr(key);
  if (q->has_lo) {
    int c = pb__dict_key_cmp(k, q->lo);
    if (c < 0 || (c == 0 && !q->lo_incl)) return false;
  }
  if (q->has_hi) {
    int c = pb__dict_key_cmp(k, q->hi);
    if (c > 0 || (c == 0 && !q->hi_incl)) return false;
  }
  return true;
}

static void op_range(run *r) {
  char lo[12], hi[12];
  random_bound(r, lo);
  random_bound(r, hi);
  pb__dict_range q = {pb_str_from_cstr(lo), pb_str_from_cstr(hi),
                      below(4) != 0, below(4) != 0, rnd() % 2, rnd() % 2};
  bool reverse = rnd() % 2;
  pb__dict_iter *it;
  assert_int_equal(pb__dict_iter_open(r->d, &q, reverse, &it), PB_OK);
  pb_str k;
  pb_value v;
  for (size_t j = 0; j < r->m.n; j++) {
    const ment *e = &r->m.e[reverse ? r->m.n - 1 - j : j];
    if (!in_range(e->key, &q)) continue;
    assert_int_equal(pb__dict_iter_next(it, &k, &v), PB_OK);
    assert_int_equal(k.len, strlen(e->key));
    assert_memory_equal(k.ptr, e->key, k.len);
    check_value(e, &v);
  }
  assert_int_equal(pb__dict_iter_next(it, &k, &v), PB_ENOTFOUND);
  pb__dict_iter_free(it);
  r->st.ops[OP_RANGE]++;
}

static int cmp_ment(const void *a, const void *b) {
  return strcmp(((const ment *)a)->key, ((const ment *)b)->key);
}

/* Replaces dictionary and model with a fresh one, bulk-loaded with at
 * most `most` random keys. */
static void op_bulk(run *r, unsigned most) {
  size_t n = 0;
  bool *used = calloc(r->keyspace, sizeof *used);
  size_t want = below(most + 1);
  for (size_t i = 0; i < want; i++) {
    unsigned k = below(r->keyspace);
    if (used[k]) continue;
    used[k] = true;
    snprintf(r->m.e[n].key, sizeof r->m.e[n].key, "%u", k);
    random_value(&r->m.e[n]);
    n++;
  }
  free(used);
  qsort(r->m.e, n, sizeof *r->m.e, cmp_ment);
  r->m.n = n;
  pb_str *keys = malloc((n + 1) * sizeof *keys);
  pb_value *vals = malloc((n + 1) * sizeof *vals);
  for (size_t i = 0; i < n; i++) {
    keys[i] = pb_str_from_cstr(r->m.e[i].key);
    vals[i] = ment_value(&r->m.e[i]);
  }
  pb__dict_free(r->d);
  assert_int_equal(
      pb__dict_open(src_of(&r->cs), (pb_atom_ptr){0, 0, 0}, &r->d), PB_OK);
  assert_int_equal(pb__dict_bulk_load(r->d, keys, vals, n), PB_OK);
  assert_int_equal(pb__dict_verify(r->d, true), PB_OK);
  free(keys);
  free(vals);
  if (n > r->st.max_count) r->st.max_count = n;
  if (n == 0) r->st.empties++;
  r->st.ops[OP_BULK]++;
}

/* Flush, commit, close and reopen the store; reopen the dictionary on the
 * committed root, checked in full on a second handle first. */
static void persist_and_reopen(run *r) {
  pb_atom_ptr root;
  assert_int_equal(pb__dict_flush(r->d, &r->cs.sink, &root), PB_OK);
  assert_false(pb__dict_dirty(r->d));
  assert_true(pb_atom_ptr_equal(pb__dict_base(r->d), root));
  assert_true(pb_atom_ptr_is_null(root) == (r->m.n == 0));
  pb_test_cstore_commit(&r->cs, root);
  pb__dict_free(r->d);
  pb_test_cstore_reopen(&r->cs);
  assert_true(pb_atom_ptr_equal(r->cs.root, root));
  pb__dict *check;
  assert_int_equal(pb__dict_open(src_of(&r->cs), root, &check), PB_OK);
  compare_all(check, &r->m);
  unsigned h;
  assert_int_equal(pb__dict_height(check, &h), PB_OK);
  if (h > r->st.max_height) r->st.max_height = h;
  pb__dict_free(check);
  assert_int_equal(pb__dict_open(src_of(&r->cs), root, &r->d), PB_OK);
  r->st.reopens++;
  r->st.full_compares++;
}

/* One random operation; `growing` picks the phase's mix. */
static void one_op(run *r, bool growing) {
  unsigned x = below(100);
  if (growing) {
    if (x < 45) op_put(r, false);
    else if (x < 55) op_put(r, true);
    else if (x < 65) op_remove(r, below(4) != 0);
    else if (x < 80) op_get(r);
    else if (x < 97) op_range(r);
    else if (x < 99) r->st.ops[OP_COUNT]++;
    else if (below(10) == 0) op_bulk(r, r->keyspace);
    else op_get(r);
  } else {
    if (x < 10) op_put(r, false);
    else if (x < 15) op_put(r, true);
    else if (x < 65) op_remove(r, below(10) != 0);
    else if (x < 80) op_get(r);
    else if (x < 97) op_range(r);
    else r->st.ops[OP_COUNT]++;
  }
  uint64_t n;
  assert_int_equal(pb__dict_count(r->d, &n), PB_OK);
  assert_true(n == r->m.n);
}

static void random_operations(void **state) {
  (void)state;
  run r = {0};
  r.dir = pb_test_tmpdir();
  pb_test_cstore_open(&r.cs, r.dir);
  r.keyspace = pb__dict_fanout() < 16 ? 2000 : 6000;
  r.m.e = calloc(r.keyspace, sizeof *r.m.e);
  g_rng = g_seed ? g_seed : 1;
  print_message("  seed %" PRIu64 " (PB_DICT_SEED or --seed=N to replay), "
                "%u operations, fanout %zu, %u keys\n",
                g_seed, g_ops, pb__dict_fanout(), r.keyspace);
  double t0 = (double)clock() / CLOCKS_PER_SEC;
  assert_int_equal(pb__dict_open(src_of(&r.cs), r.cs.root, &r.d), PB_OK);
  /* Start from a big bulk-loaded tree (full nodes: the first puts split
   * them), so the shrinking phase merges through every level. */
  while (r.m.n < r.keyspace / 4 * 3) op_bulk(&r, r.keyspace * 2);
  bool growing = false;
  unsigned phase_left = 1000 + below(5000);
  unsigned next_reopen = 100 + below(301), since_reopen = 0;
  for (unsigned i = 0; i < g_ops; i++) {
    one_op(&r, growing);
    if (growing && --phase_left == 0) growing = false;
    if (!growing && r.m.n == 0) {
      growing = true;
      phase_left = 1000 + below(5000);
    }
    if (++since_reopen == next_reopen) {
      persist_and_reopen(&r);
      since_reopen = 0;
      next_reopen = 100 + below(301);
    } else if (since_reopen % 50 == 0) {
      compare_all(r.d, &r.m);
      r.st.full_compares++;
    }
  }
  persist_and_reopen(&r);
  double t1 = (double)clock() / CLOCKS_PER_SEC;
  for (int k = 0; k <= OP_BULK; k++)
    print_message("  %-14s %u\n", op_names[k], r.st.ops[k]);
  print_message("  %u reopens, %u full comparisons, emptied %u times, "
                "at most %zu entries, height up to %u, %.2f s CPU\n",
                r.st.reopens, r.st.full_compares, r.st.empties,
                r.st.max_count, r.st.max_height, t1 - t0);
  /* The run reached what it is meant to exercise. */
  assert_true(r.st.empties >= 1);
  assert_true(r.st.reopens >= g_ops / 400);
  assert_true(r.st.max_height >= 3);
  if (g_inplace) { /* gets read leaves in place, of the layout written */
    print_message("  %" PRIu64 " leaves read in place, %" PRIu64 " plain\n",
                  pb__dict_inplace_reads, pb__dict_inplace_plain);
    assert_true(pb__dict_inplace_reads > 0);
    if (pb__dict_write_plain_leaves)
      assert_int_equal(pb__dict_inplace_plain, pb__dict_inplace_reads);
    else
      assert_int_equal(pb__dict_inplace_plain, 0);
  }
  pb__dict_free(r.d);
  free(r.m.e);
  pb_test_cstore_close(&r.cs);
  pb_test_rmdir(r.dir);
}

static void parse_args(int argc, char **argv) {
  const char *env = getenv("PB_DICT_SEED");
  if (env && *env) g_seed = strtoull(env, NULL, 10);
  env = getenv("PB_DICT_OPS");
  if (env && *env) g_ops = (unsigned)strtoul(env, NULL, 10);
  for (int i = 1; i < argc; i++) {
    if (strncmp(argv[i], "--seed=", 7) == 0)
      g_seed = strtoull(argv[i] + 7, NULL, 10);
    else if (strncmp(argv[i], "--ops=", 6) == 0)
      g_ops = (unsigned)strtoul(argv[i] + 6, NULL, 10);
    else if (strncmp(argv[i], "--fanout=", 9) == 0) /* for exploring */
      pb__coll_fanout = (unsigned)strtoul(argv[i] + 9, NULL, 10);
    else if (strcmp(argv[i], "--prefixes") == 0) /* searches by prefix */
      pb__dict_prefix_private = true;
    else if (strcmp(argv[i], "--inplace") == 0) /* leaves read in place */
      g_inplace = true;
    else if (strcmp(argv[i], "--plain") == 0) /* leaves written plain */
      pb__dict_write_plain_leaves = true;
  }
}

int main(int argc, char **argv) {
  g_tiny = pb_test_coll_args(argc, argv);
  parse_args(argc, argv);
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(random_operations),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
