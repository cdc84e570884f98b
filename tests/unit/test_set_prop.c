/*
 * test_set_prop.c - Set (collections/hash.h) against a model: random adds
 * (new elements and present ones, checking `added`), removes (present and
 * absent), contains (present and absent) and counts over a universe of
 * 3000 values of every kind, each result compared with the model as it
 * happens; stretches of mostly-removing ops end by removing every element
 * left (the set must flush to the null root).  Every 150 to 500 ops, set
 * algebra: a random set b, built in memory, or flushed into the same store
 * and reopened (not loaded), or held in another store (another source),
 * is combined with the set under test (union, intersection, difference,
 * both ways, and now and then with itself), and each result is compared
 * with the model, element by element and node for node with a set built
 * afresh; then the set under test is compared again (algebra must not
 * change it).  Every 20 to 80 ops the whole set is iterated and compared;
 * every 100 to 400 ops it is flushed, committed, the store closed and
 * reopened, and the set reopened from the committed root (nothing
 * loaded), compared in full, and every third time node for node with a
 * set built afresh (canonical form).
 *
 * Two phases, each with its own stores: 30,000 ops with XXH3, then 12,000
 * with a low-entropy hash (deep tries, collision nodes).  `--tiny` runs
 * both with the low-entropy hash.  The seed is printed; PB_SEED=<n> or
 * --seed=<n> replaces it, and a failing phase prints the op it reached.
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
#include "collections/hash.h"
#include "collections/hash_int.h"
#include "support/collstore.h"
#include "support/hashkeys.h"
#include "test_util.h"

static uint64_t seed = 0x9a5e5eed2024ULL;

/* --- The universe of elements (as test_hash_prop.c) --- */

#define U 3000u

/* The number of key `k` in the universe (asserts that it is one). */
static unsigned index_of(const pb_value *k) {
  unsigned i = pb_test_key_index(k);
  assert_true(i < U);
  return i;
}

/* Asserts that two flushed tries are the same bytes, node for node (the
 * child pointers, last in a node, aside: their subtrees are compared). */
static void same_tree(const pb__src *src, pb_atom_ptr a, pb_atom_ptr b) {
  assert_int_equal(pb_atom_ptr_is_null(a), pb_atom_ptr_is_null(b));
  if (pb_atom_ptr_is_null(a)) return;
  pb_bytes xa, xb;
  assert_int_equal(src->read(src->arg, a, &xa), PB_OK);
  assert_int_equal(src->read(src->arg, b, &xb), PB_OK);
  assert_int_equal(xa.len, xb.len);
  pb__node_view va, vb;
  assert_int_equal(pb__node_decode(xa, 6, 7, &va), PB_OK);
  assert_int_equal(pb__node_decode(xb, 6, 7, &vb), PB_OK);
  size_t kids =
      va.type == 6 ? pb__hash_popcount((uint32_t)va.vals[1].as.u) : 0;
  assert_memory_equal(xa.ptr, xb.ptr, xa.len - 21 * kids);
  for (size_t j = va.n - kids; j < va.n; j++)
    same_tree(src, va.vals[j].as.ref, vb.vals[j].as.ref);
  pb__node_view_free(&va);
  pb__node_view_free(&vb);
}

static double now(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}


/* --- The model: which elements are present --- */

typedef struct model {
  bool in[U];       /* element i is present */
  unsigned list[U]; /* the present elements, in no order */
  unsigned pos[U];  /* where element i is in list */
  unsigned n;       /* present elements */
} model;

static void model_add(model *m, unsigned i) {
  if (m->in[i]) return;
  m->in[i] = true;
  m->pos[i] = m->n;
  m->list[m->n++] = i;
}

static void model_remove(model *m, unsigned i) {
  if (!m->in[i]) return;
  m->in[i] = false;
  unsigned last = m->list[--m->n];
  m->list[m->pos[i]] = last;
  m->pos[last] = m->pos[i];
}

/* --- One phase: stores, the set under test, and the model --- */

typedef struct run {
  char *dir, *other_dir;
  pb_test_cstore cs;    /* the set's store */
  pb_test_cstore other; /* where some b sets live (another source) */
  pb__hash *s;          /* the set under test */
  model m;
  unsigned op, reopens, fulls, canons, algebras, results, empties, most;
  bool drain;           /* a stretch of ops that mostly remove */
} run;

static unsigned last_op;
static const char *phase_name;

static void check_contains(pb__hash *s, const bool *in, unsigned i) {
  char kb[48];
  pb_value k = pb_test_key_of(i, kb);
  bool has = !in[i];
  assert_int_equal(pb__set_contains(s, &k, &has), PB_OK);
  assert_int_equal(has, in[i]);
}

/* Iterates over set `s` and compares it with in[] (n elements). */
static void compare_set(pb__hash *s, const bool *in, unsigned n) {
  static bool seen[U];
  memset(seen, 0, sizeof seen);
  pb__hash_iter *it;
  assert_int_equal(pb__hash_iter_open(s, &it), PB_OK);
  pb_value k, v;
  unsigned got = 0;
  int rc;
  while ((rc = pb__hash_iter_next(it, &k, &v)) == PB_OK) {
    unsigned i = index_of(&k);
    assert_true(in[i] && !seen[i]);
    assert_int_equal(v.kind, PB_VALUE_NULL);
    seen[i] = true;
    got++;
  }
  assert_int_equal(rc, PB_ENOTFOUND);
  pb__hash_iter_free(it);
  assert_int_equal(got, n);
  uint64_t c;
  assert_int_equal(pb__hash_count(s, &c), PB_OK);
  assert_int_equal(c, n);
}

static void full_compare(run *r) {
  compare_set(r->s, r->m.in, r->m.n);
  r->fulls++;
}

/* A set of the elements in[] (in a random order), over `src`. */
static pb__hash *set_from(const pb__src *src, const bool *in) {
  static unsigned order[U];
  unsigned n = 0;
  for (unsigned i = 0; i < U; i++)
    if (in[i]) order[n++] = i;
  for (unsigned i = n; i > 1; i--) {
    unsigned j = pb_test_below(i), t = order[i - 1];
    order[i - 1] = order[j];
    order[j] = t;
  }
  pb__hash *s;
  assert_int_equal(pb__hash_open(src, (pb_atom_ptr){0}, &s), PB_OK);
  for (unsigned i = 0; i < n; i++) {
    char kb[48];
    pb_value k = pb_test_key_of(order[i], kb);
    bool added = false;
    assert_int_equal(pb__set_add(s, &k, &added), PB_OK);
    assert_true(added);
  }
  return s;
}

/* Flushes `s` (read through cs's source) into store `cs` and compares it
 * node for node with a set built afresh from in[]. */
static void canonical_compare(run *r, pb_test_cstore *cs, pb__hash *s,
                              const bool *in) {
  pb__hash *fresh = set_from(&cs->src, in);
  pb_atom_ptr a, b;
  assert_int_equal(pb__hash_flush(s, &cs->sink, &a), PB_OK);
  assert_int_equal(pb__hash_flush(fresh, &cs->sink, &b), PB_OK);
  same_tree(&cs->src, a, b);
  pb__hash_free(fresh);
  r->canons++;
}

/* Flush, commit, close and reopen the store, reopen the set. */
static void cycle(run *r) {
  pb_atom_ptr root;
  assert_int_equal(pb__hash_flush(r->s, &r->cs.sink, &root), PB_OK);
  assert_false(pb__hash_dirty(r->s));
  pb__hash_free(r->s);
  pb_test_cstore_commit(&r->cs, root);
  pb_test_cstore_reopen(&r->cs);
  assert_true(pb_atom_ptr_equal(r->cs.root, root));
  assert_int_equal(pb__hash_open(&r->cs.src, root, &r->s), PB_OK);
  if (r->reopens++ % 3 == 0) canonical_compare(r, &r->cs, r->s, r->m.in);
  full_compare(r);
}

/* --- Set algebra against the model --- */

/* Reopens set `s`, flushed into `cs` (committed there when `commit`), at
 * its root: nothing loaded.  Frees `s`. */
static pb__hash *reopened(pb_test_cstore *cs, pb__hash *s, bool commit) {
  pb_atom_ptr root;
  assert_int_equal(pb__hash_flush(s, &cs->sink, &root), PB_OK);
  pb__hash_free(s);
  if (commit) pb_test_cstore_commit(cs, root);
  assert_int_equal(pb__hash_open(&cs->src, root, &s), PB_OK);
  return s;
}

/* A random set b (bin[] gets its elements): in memory (*where 0), or
 * flushed into this store and reopened (1), or into the other store (2),
 * then changed a little (dirty again). */
static pb__hash *random_b(run *r, bool *bin, unsigned *bn, unsigned *where) {
  unsigned density = 1 + pb_test_below(60); /* percent, outside a */
  *bn = 0;
  for (unsigned i = 0; i < U; i++) {
    bin[i] = pb_test_below(100) < (r->m.in[i] ? 50 : density);
    *bn += bin[i];
  }
  *where = pb_test_below(3);
  pb_test_cstore *cs = *where == 2 ? &r->other : &r->cs;
  pb__hash *b = set_from(&cs->src, bin);
  if (*where == 0) return b;
  b = reopened(cs, b, *where == 2);
  for (unsigned n = pb_test_below(20); n > 0; n--) {
    unsigned i = pb_test_below(U);
    char kb[48];
    pb_value k = pb_test_key_of(i, kb);
    if (bin[i]) assert_int_equal(pb__hash_remove(b, &k), PB_OK);
    else assert_int_equal(pb__set_add(b, &k, NULL), PB_OK);
    *bn += bin[i] ? -1 : 1;
    bin[i] = !bin[i];
  }
  return b;
}

/* Checks x op y (x's elements xin[], y's yin[]); `cs` is the store whose
 * source x reads through. */
static void check_op(run *r, pb_test_cstore *cs, pb__hash *x, const bool *xin,
                     pb__hash *y, const bool *yin, pb__set_op op) {
  static bool want[U];
  unsigned n = 0;
  for (unsigned i = 0; i < U; i++) {
    want[i] = op == PB__SET_UNION          ? xin[i] || yin[i]
              : op == PB__SET_INTERSECTION ? xin[i] && yin[i]
                                           : xin[i] && !yin[i];
    n += want[i];
  }
  pb__hash *res;
  assert_int_equal(pb__set_algebra(x, y, op, &res), PB_OK);
  for (unsigned k = 0; k < 20; k++) check_contains(res, want, pb_test_below(U));
  compare_set(res, want, n);
  if (pb_test_below(2)) canonical_compare(r, cs, res, want);
  pb__hash_free(res);
  r->results++;
}

static void algebra_check(run *r) {
  static bool bin[U];
  unsigned bn, where;
  pb__hash *b = random_b(r, bin, &bn, &where);
  pb_test_cstore *bcs = where == 2 ? &r->other : &r->cs;
  for (pb__set_op op = PB__SET_UNION; op <= PB__SET_DIFFERENCE; op++) {
    check_op(r, &r->cs, r->s, r->m.in, b, bin, op);
    check_op(r, bcs, b, bin, r->s, r->m.in, op);
    if (pb_test_below(8) == 0)
      check_op(r, &r->cs, r->s, r->m.in, r->s, r->m.in, op);
  }
  compare_set(b, bin, bn); /* b did not change */
  pb__hash_free(b);
  full_compare(r); /* nor did the set under test */
  r->algebras++;
}

/* --- Random ops --- */

/* Removes every element left, one by one; the set flushes to null. */
static void empty_out(run *r) {
  while (r->m.n) {
    unsigned i = r->m.list[pb_test_below(r->m.n)];
    char kb[48];
    pb_value k = pb_test_key_of(i, kb);
    assert_int_equal(pb__hash_remove(r->s, &k), PB_OK);
    model_remove(&r->m, i);
    if (pb_test_below(8) == 0) check_contains(r->s, r->m.in, i);
  }
  full_compare(r);
  pb_atom_ptr root;
  assert_int_equal(pb__hash_flush(r->s, &r->cs.sink, &root), PB_OK);
  assert_true(pb_atom_ptr_is_null(root));
  r->empties++;
}

/* A present element, or any element when none is. */
static unsigned some_present(const run *r) {
  return r->m.n ? r->m.list[pb_test_below(r->m.n)] : pb_test_below(U);
}

static void step(run *r) {
  unsigned c = pb_test_below(100), i;
  if (r->drain && c < 40) c = 40 + c % 30; /* adds become removes */
  char kb[48];
  pb_value k;
  if (c < 40) { /* add: any element, or a present one */
    i = c < 32 ? pb_test_below(U) : some_present(r);
    k = pb_test_key_of(i, kb);
    bool added = r->m.in[i];
    assert_int_equal(pb__set_add(r->s, &k, &added), PB_OK);
    assert_int_equal(added, !r->m.in[i]);
    model_add(&r->m, i);
  } else if (c < 70) { /* remove: any element, or a present one */
    i = c < 55 ? pb_test_below(U) : some_present(r);
    k = pb_test_key_of(i, kb);
    assert_int_equal(pb__hash_remove(r->s, &k),
                     r->m.in[i] ? PB_OK : PB_ENOTFOUND);
    model_remove(&r->m, i);
  } else if (c < 95) { /* contains: a present element, or any */
    check_contains(r->s, r->m.in, c < 85 ? some_present(r) : pb_test_below(U));
  } else {
    uint64_t n;
    assert_int_equal(pb__hash_count(r->s, &n), PB_OK);
    assert_int_equal(n, r->m.n);
  }
  if (r->m.n > r->most) r->most = r->m.n;
}

static void phase(const char *name, pb__hash_fn_t fn, unsigned ops,
                  uint64_t salt) {
  phase_name = name;
  pb__hash_fn = fn;
  pb_test_rng_seed(seed ^ salt);
  double t0 = now();
  run *r = calloc(1, sizeof *r);
  assert_non_null(r);
  r->dir = pb_test_tmpdir();
  r->other_dir = pb_test_tmpdir();
  pb_test_cstore_open(&r->cs, r->dir);
  pb_test_cstore_open(&r->other, r->other_dir);
  assert_int_equal(pb__hash_open(&r->cs.src, (pb_atom_ptr){0}, &r->s), PB_OK);
  unsigned next_full = 20 + pb_test_below(61),
           next_cycle = 100 + pb_test_below(301);
  unsigned next_mode = 2000 + pb_test_below(4000),
           next_alg = 150 + pb_test_below(351);
  for (r->op = 0; r->op < ops; r->op++) {
    last_op = r->op;
    step(r);
    if (pb_test_below(100) < 2) { /* flush alone: the set stays usable */
      pb_atom_ptr root;
      assert_int_equal(pb__hash_flush(r->s, &r->cs.sink, &root), PB_OK);
    }
    if (r->op == next_mode) { /* grow, then drain down to empty, ... */
      if (r->drain) empty_out(r);
      r->drain = !r->drain;
      next_mode +=
          r->drain ? 500 + pb_test_below(2000) : 2000 + pb_test_below(4000);
    }
    if (r->op == next_full) {
      full_compare(r);
      next_full += 20 + pb_test_below(61);
    }
    if (r->op == next_alg) {
      algebra_check(r);
      next_alg += 150 + pb_test_below(351);
    }
    if (r->op == next_cycle) {
      cycle(r);
      next_cycle += 100 + pb_test_below(301);
    }
  }
  cycle(r);
  pb__hash_stats_t st;
  assert_int_equal(pb__hash_stats(r->s, &st), PB_OK);
  pb__hash_free(r->s);
  pb_test_cstore_close(&r->cs);
  pb_test_cstore_close(&r->other);
  pb_test_rmdir(r->dir);
  pb_test_rmdir(r->other_dir);
  printf("test_set_prop %s: %u ops, %u reopens, %u algebra checks (%u "
         "results), %u full and %u canonical comparisons, up to %u "
         "elements, emptied %u times, %.2f s; at the end %llu elements, "
         "depth %u, %llu of them in %llu collision nodes\n",
         name, ops, r->reopens, r->algebras, r->results, r->fulls, r->canons,
         r->most, r->empties, now() - t0, (unsigned long long)st.entries,
         st.depth, (unsigned long long)st.coll_keys,
         (unsigned long long)st.collisions);
  free(r);
  phase_name = NULL; /* passed */
}

static bool tiny;

static void xxh3_phase(void **state) {
  (void)state;
  phase(tiny ? "phase 1 (low-entropy hash, --tiny)" : "phase 1 (XXH3)",
        tiny ? pb_test_low_entropy : pb__hash_xxh3, 30000, 1);
}

static void collision_phase(void **state) {
  (void)state;
  phase("phase 2 (low-entropy hash)", pb_test_low_entropy, 12000, 2);
}

/* Prints where a failed phase was, and restores the default hash. */
static int after_phase(void **state) {
  (void)state;
  if (phase_name)
    printf("test_set_prop: %s failed at op %u (seed %llu)\n", phase_name,
           last_op, (unsigned long long)seed);
  phase_name = NULL;
  pb__hash_fn = pb__hash_xxh3;
  return 0;
}

int main(int argc, char **argv) {
  tiny = pb_test_coll_args(argc, argv);
  seed = pb_test_seed_from("test_set_prop", argc, argv, seed);
  pb_test_key_index_build(U);
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_teardown(xxh3_phase, after_phase),
      cmocka_unit_test_teardown(collision_phase, after_phase),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
