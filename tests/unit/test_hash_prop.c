/*
 * test_hash_prop.c - HashDictionary (collections/hash.h) against a model:
 * random puts (new keys, replacements, unchanged values), removes
 * (present and absent), gets (present and absent) and counts over a
 * universe of 3000 keys of every kind, each result compared with the
 * model as it happens.  Stretches of mostly-removing ops alternate with
 * growing ones, and each ends by removing every key left (the trie must
 * flush to the null root).  Every 20 to 80 ops the whole trie is iterated
 * and compared; now and then it is flushed without a commit; every 100
 * to 400 ops it is flushed, committed, the store closed and reopened
 * (pb_test_cstore_reopen), the trie reopened from the committed root
 * (so every node starts out not loaded), compared in full, and every
 * third time compared node for node with a trie built afresh from the
 * model (canonical form), before the ops go on.
 *
 * Two phases, each with its own store: 40,000 ops with XXH3, then 15,000
 * ops with a low-entropy hash (8 bits spread over the levels: deep tries
 * and collision nodes).  `--tiny` runs both phases with the low-entropy
 * hash.  The seed is printed; PB_SEED=<n> or --seed=<n> replaces it, and
 * the last op reached is printed when a phase fails.
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

/* --- The key universe, and its encodings sorted to find a key --- */

#define U 3000u

/* Value version `ver` of key i: strings, numbers, NULL. */
static pb_value val_of(unsigned i, unsigned ver, char *buf) {
  pb_value v;
  memset(&v, 0, sizeof v);
  switch ((i + ver) % 4) {
  case 0:
    v.kind = PB_VALUE_STRING;
    v.as.s.len = (size_t)snprintf(buf, 48, "v%u.%u", i, ver);
    v.as.s.ptr = buf;
    break;
  case 1: v.kind = PB_VALUE_INT; v.as.i = -(int64_t)ver; break;
  case 2: v.kind = PB_VALUE_NULL; break;
  default: v.kind = PB_VALUE_UINT; v.as.u = (uint64_t)i << 20 | ver;
  }
  return v;
}

/* The number of key `k` in the universe (asserts that it is one). */
static unsigned index_of(const pb_value *k) {
  unsigned i = pb_test_key_index(k);
  assert_true(i < U);
  return i;
}

/* --- The model: which keys are present, with which value version --- */

typedef struct model {
  bool in[U];        /* key i is present */
  unsigned ver[U];   /* its value version */
  unsigned list[U];  /* the present keys, in no order */
  unsigned pos[U];   /* where key i is in list */
  unsigned n;        /* present keys */
} model;

static void model_put(model *m, unsigned i, unsigned ver) {
  if (!m->in[i]) {
    m->in[i] = true;
    m->pos[i] = m->n;
    m->list[m->n++] = i;
  }
  m->ver[i] = ver;
}

static void model_remove(model *m, unsigned i) {
  if (!m->in[i]) return;
  m->in[i] = false;
  unsigned last = m->list[--m->n];
  m->list[m->pos[i]] = last;
  m->pos[last] = m->pos[i];
}

/* --- One phase: a store, a trie, and the model --- */

typedef struct run {
  char *dir;
  pb_test_cstore cs;
  pb__hash *h;
  model m;
  unsigned op;      /* ops done */
  unsigned reopens; /* store and trie reopened */
  unsigned fulls;   /* full comparisons */
  unsigned canons;  /* canonical-form comparisons */
  unsigned most;    /* the most keys present at once */
  unsigned empties; /* times the trie became empty again */
  bool drain;       /* a stretch of ops that mostly remove */
} run;

static unsigned last_op;  /* printed when a phase fails */
static const char *phase_name;

static void check_get(run *r, unsigned i) {
  char kb[48], vb[48];
  pb_value k = pb_test_key_of(i, kb), got;
  int rc = pb__hash_get(r->h, &k, &got);
  if (!r->m.in[i]) {
    assert_int_equal(rc, PB_ENOTFOUND);
    return;
  }
  assert_int_equal(rc, PB_OK);
  pb_value want = val_of(i, r->m.ver[i], vb);
  assert_true(pb__value_equal(&got, &want));
}

/* Iterates over the whole trie and compares it with the model. */
static void full_compare(run *r) {
  static bool seen[U];
  memset(seen, 0, sizeof seen);
  pb__hash_iter *it;
  assert_int_equal(pb__hash_iter_open(r->h, &it), PB_OK);
  pb_value k, v;
  unsigned n = 0;
  int rc;
  while ((rc = pb__hash_iter_next(it, &k, &v)) == PB_OK) {
    unsigned i = index_of(&k);
    assert_true(r->m.in[i] && !seen[i]);
    seen[i] = true;
    char vb[48];
    pb_value want = val_of(i, r->m.ver[i], vb);
    assert_true(pb__value_equal(&v, &want));
    n++;
  }
  assert_int_equal(rc, PB_ENOTFOUND);
  pb__hash_iter_free(it);
  assert_int_equal(n, r->m.n);
  uint64_t c;
  assert_int_equal(pb__hash_count(r->h, &c), PB_OK);
  assert_int_equal(c, r->m.n);
  r->fulls++;
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

/* A trie built from the model in a random order equals the committed one. */
static void canonical_compare(run *r) {
  pb__hash *fresh;
  assert_int_equal(pb__hash_open(&r->cs.src, (pb_atom_ptr){0}, &fresh),
                   PB_OK);
  static unsigned order[U];
  memcpy(order, r->m.list, r->m.n * sizeof *order);
  for (unsigned i = r->m.n; i > 1; i--) {
    unsigned j = pb_test_below(i), t = order[i - 1];
    order[i - 1] = order[j];
    order[j] = t;
  }
  for (unsigned i = 0; i < r->m.n; i++) {
    char kb[48], vb[48];
    unsigned x = order[i];
    pb_value k = pb_test_key_of(x, kb), v = val_of(x, r->m.ver[x], vb);
    assert_int_equal(pb__hash_put(fresh, &k, &v), PB_OK);
  }
  pb_atom_ptr root;
  assert_int_equal(pb__hash_flush(fresh, &r->cs.sink, &root), PB_OK);
  same_tree(&r->cs.src, r->cs.root, root);
  pb__hash_free(fresh);
  r->canons++;
}

/* Flush, commit, close and reopen the store, reopen the trie. */
static void cycle(run *r) {
  pb_atom_ptr root;
  assert_int_equal(pb__hash_flush(r->h, &r->cs.sink, &root), PB_OK);
  assert_false(pb__hash_dirty(r->h));
  pb__hash_free(r->h);
  pb_test_cstore_commit(&r->cs, root);
  pb_test_cstore_reopen(&r->cs);
  assert_true(pb_atom_ptr_equal(r->cs.root, root));
  assert_int_equal(pb__hash_open(&r->cs.src, root, &r->h), PB_OK);
  if (r->reopens++ % 3 == 0) canonical_compare(r);
  full_compare(r);
}

/* Removes every key left, one by one, and checks the trie is the null
 * root.  Ends a stretch of draining ops. */
static void empty_out(run *r) {
  while (r->m.n) {
    unsigned i = r->m.list[pb_test_below(r->m.n)];
    char kb[48];
    pb_value k = pb_test_key_of(i, kb);
    assert_int_equal(pb__hash_remove(r->h, &k), PB_OK);
    model_remove(&r->m, i);
    if (pb_test_below(8) == 0) check_get(r, i);
  }
  uint64_t n;
  assert_int_equal(pb__hash_count(r->h, &n), PB_OK);
  assert_int_equal(n, 0);
  pb_atom_ptr root;
  assert_int_equal(pb__hash_flush(r->h, &r->cs.sink, &root), PB_OK);
  assert_true(pb_atom_ptr_is_null(root));
  r->empties++;
}

/* A present key, or any key when none is. */
static unsigned some_present(const run *r) {
  return r->m.n ? r->m.list[pb_test_below(r->m.n)] : pb_test_below(U);
}

static void step(run *r) {
  unsigned c = pb_test_below(100), i, ver = r->op + 1;
  if (r->drain && c < 40) c = 40 + c % 30; /* puts become removes */
  char kb[48], vb[48];
  pb_value k, v;
  if (c < 40) { /* put: a new key, or a replacement, or the same value */
    i = c < 35 ? pb_test_below(U) : some_present(r);
    if (c >= 35 && r->m.in[i]) ver = r->m.ver[i];
    k = pb_test_key_of(i, kb);
    v = val_of(i, ver, vb);
    assert_int_equal(pb__hash_put(r->h, &k, &v), PB_OK);
    model_put(&r->m, i, ver);
  } else if (c < 70) { /* remove: any key, or a present one */
    i = c < 55 ? pb_test_below(U) : some_present(r);
    k = pb_test_key_of(i, kb);
    assert_int_equal(pb__hash_remove(r->h, &k),
                     r->m.in[i] ? PB_OK : PB_ENOTFOUND);
    model_remove(&r->m, i);
  } else if (c < 95) { /* get: a present key, or any key */
    check_get(r, c < 85 ? some_present(r) : pb_test_below(U));
  } else {
    uint64_t n;
    assert_int_equal(pb__hash_count(r->h, &n), PB_OK);
    assert_int_equal(n, r->m.n);
  }
  if (r->m.n > r->most) r->most = r->m.n;

}

static double now(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
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
  pb_test_cstore_open(&r->cs, r->dir);
  assert_int_equal(pb__hash_open(&r->cs.src, (pb_atom_ptr){0}, &r->h), PB_OK);
  unsigned next_full = 20 + pb_test_below(61),
           next_cycle = 100 + pb_test_below(301);
  unsigned next_mode = 2000 + pb_test_below(4000);
  for (r->op = 0; r->op < ops; r->op++) {
    last_op = r->op;
    step(r);
    if (pb_test_below(100) < 2) { /* flush alone: the handle stays usable */
      pb_atom_ptr root;
      assert_int_equal(pb__hash_flush(r->h, &r->cs.sink, &root), PB_OK);
    }
    if (r->op == next_full) {
      full_compare(r);
      next_full += 20 + pb_test_below(61);
    }
    if (r->op == next_mode) { /* grow, then drain down to empty, ... */
      if (r->drain) empty_out(r);
      r->drain = !r->drain;
      next_mode +=
          r->drain ? 500 + pb_test_below(2000) : 2000 + pb_test_below(4000);
    }
    if (r->op == next_cycle) {
      cycle(r);
      next_cycle += 100 + pb_test_below(301);
    }
  }
  cycle(r);
  pb__hash_stats_t st;
  assert_int_equal(pb__hash_stats(r->h, &st), PB_OK);
  pb__hash_free(r->h);
  pb_test_cstore_close(&r->cs);
  pb_test_rmdir(r->dir);
  printf("test_hash_prop %s: %u ops, %u reopens, %u full and %u canonical "
         "comparisons, up to %u keys, emptied %u times, %.2f s; at the "
         "end %llu keys, depth %u, %llu of them in %llu collision nodes\n",
         name, ops, r->reopens, r->fulls, r->canons, r->most, r->empties,
         now() - t0,
         (unsigned long long)st.entries, st.depth,
         (unsigned long long)st.coll_keys, (unsigned long long)st.collisions);
  free(r);
  phase_name = NULL; /* passed */
}

static bool tiny;

static void xxh3_phase(void **state) {
  (void)state;
  phase(tiny ? "phase 1 (low-entropy hash, --tiny)" : "phase 1 (XXH3)",
        tiny ? pb_test_low_entropy : pb__hash_xxh3, 40000, 1);
}

static void collision_phase(void **state) {
  (void)state;
  phase("phase 2 (low-entropy hash)", pb_test_low_entropy, 15000, 2);
}

/* Prints where a failed phase was (a phase that ends clears phase_name),
 * and restores the default hash. */
static int after_phase(void **state) {
  (void)state;
  if (phase_name)
    printf("test_hash_prop: %s failed at op %u (seed %llu)\n", phase_name,
           last_op, (unsigned long long)seed);
  phase_name = NULL;
  pb__hash_fn = pb__hash_xxh3;
  return 0;
}

int main(int argc, char **argv) {
  tiny = pb_test_coll_args(argc, argv);
  seed = pb_test_seed_from("test_hash_prop", argc, argv, seed);
  pb_test_key_index_build(U);
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_teardown(xxh3_phase, after_phase),
      cmocka_unit_test_teardown(collision_phase, after_phase),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
