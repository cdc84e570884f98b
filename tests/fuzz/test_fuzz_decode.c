/*
 * test_fuzz_decode.c - hostile bytes against every decoder the runtime
 * exposes to stored data: the field reader, generated record decoders, the
 * atom envelope, the pointer walker (atom/refs.h, also over each input
 * behind a record envelope), and the collections over hostile nodes
 * (fuzz_nodes.h: the input as one node and as a store of nodes).  Inputs
 * are random bytes and random mutations (bit flips, truncations, splices)
 * of valid encodings: a record, and multi-level Dictionary (its leaves
 * indexed, and plain as old stores have them), List, Set and
 * HashDictionary stores.  The seed is fixed so a failure reproduces.  The
 * properties: a decoder returns PB_OK or a documented error, never reads
 * out of bounds (ASan) and never hangs; fuzz_nodes.h adds the consistency
 * of what the collections accept.  The coverage-guided libFuzzer target
 * (libfuzzer/fuzz_decode.c) runs the same checks.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "../corrupt_detail.h"

#include "atom/atom.h"
#include "atom/ptr.h"
#include "atom/refs.h"
#include "fuzz_nodes.h"
#include "protobase/protobase.h"
#include "tasks.pb.h"

#define ITERATIONS 200000
#define NODE_ITERATIONS 25000 /* per collection kind */

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;
static uint64_t rnd(void) { /* xorshift64*, fixed seed */
  rng_state ^= rng_state >> 12;
  rng_state ^= rng_state << 25;
  rng_state ^= rng_state >> 27;
  return rng_state * 0x2545f4914f6cdd1dull;
}

/* A walked atom: each reported pointer is non-null, lies inside the atom,
   after the previous one, and is what its 20 bytes say. */
typedef struct walked {
  pb_bytes atom; /* the atom being walked */
  size_t next;   /* the least position the next pointer may have */
} walked;

static int check_ref(void *ctx, pb_atom_ptr ptr, size_t pos) {
  walked *w = ctx;
  assert_false(pb_atom_ptr_is_null(ptr));
  assert_true(pos >= w->next && pos <= w->atom.len - PB__PTR_SIZE);
  assert_true(pb_atom_ptr_equal(ptr, pb__ptr_load(w->atom.ptr + pos)));
  w->next = pos + PB__PTR_SIZE;
  return 0;
}

static void walk_refs(const uint8_t *p, size_t n) {
  walked w = {{p, n}, 0};
  int rc = pb_test_checked(pb__atom_refs(w.atom, check_ref, &w), PB_AT_SOURCE);
  assert_true(rc == PB_OK || rc == PB_ECORRUPT || rc == PB_EVERSION);
}

/* Feeds one input to every decoder; each must give OK or an error code. */
static void feed(const uint8_t *p, size_t n) {
  /* Copy into an exact-size heap block so ASan sees any overread. */
  uint8_t *copy = malloc(n ? n : 1);
  assert_non_null(copy);
  if (n) memcpy(copy, p, n);

  tasks_Task t;
  int rc = pb_test_checked(tasks_Task_decode(&t, copy, n, NULL), PB_AT_SOURCE);
  assert_true(rc == PB_OK || rc == PB_ECORRUPT);
  if (rc == PB_OK) { /* what decodes re-encodes without error */
    pb_buf b;
    pb_buf_init(&b);
    assert_int_equal(tasks_Task_encode(&t, &b), PB_OK);
    pb_buf_free(&b);
  }

  pb_bytes body;
  uint32_t type;
  rc = pb_test_checked(pb__atom_parse((pb_bytes){copy, n}, &type, &body),
                       PB_AT_SOURCE);
  assert_true(rc == PB_OK || rc == PB_ECORRUPT || rc == PB_EVERSION);

  pb_fuzz_nodes(copy, n);

  walk_refs(copy, n);
  uint8_t *atom = malloc(n + 2); /* the input as a record body */
  assert_non_null(atom);
  atom[0] = PB__ATOM_FORMAT;
  atom[1] = PB__TYPE_RECORD_MIN;
  if (n) memcpy(atom + 2, copy, n);
  walk_refs(atom, n + 2);
  free(atom);
  free(copy);
}

static void mutate(uint8_t *p, size_t *n, size_t cap) {
  switch (rnd() % 4) {
  case 0: /* flip bits */
    for (int k = 0; k < 3 && *n; k++) p[rnd() % *n] ^= (uint8_t)(1u << (rnd() % 8));
    break;
  case 1: /* truncate */
    if (*n) *n = rnd() % *n;
    break;
  case 2: /* overwrite a byte with an edge value */
    if (*n) p[rnd() % *n] = (uint8_t[]){0, 0x7f, 0x80, 0xff}[rnd() % 4];
    break;
  default: /* duplicate a slice at the end */
    if (*n) {
      size_t from = rnd() % *n, len = rnd() % (*n - from + 1);
      if (*n + len <= cap) {
        memmove(p + *n, p + from, len);
        *n += len;
      }
    }
  }
}

static void random_and_mutated_inputs(void **state) {
  (void)state;
  uint8_t seed[512], buf[2048];
  tasks_Task t;
  tasks_Task_init(&t);
  t.id = 77;
  t.title = pb_str_from_cstr("a title");
  t.has_due = true;
  t.due = -123456;
  pb_buf b;
  pb_buf_init(&b);
  assert_int_equal(tasks_Task_encode(&t, &b), PB_OK);
  assert_true(b.len <= sizeof seed);
  size_t seed_len = b.len;
  memcpy(seed, b.data, seed_len);
  pb_buf_free(&b);

  for (int i = 0; i < ITERATIONS; i++) {
    size_t n;
    if (i % 4 == 0) { /* pure random bytes */
      n = rnd() % 64;
      for (size_t k = 0; k < n; k++) buf[k] = (uint8_t)rnd();
    } else {
      n = seed_len;
      memcpy(buf, seed, n);
      for (int m = 1 + (int)(rnd() % 3); m > 0; m--) mutate(buf, &n, sizeof buf);
    }
    feed(buf, n);
  }
}

/* Mutations of whole collection stores (several levels of nodes). */
static void mutated_collection_stores(void **state) {
  (void)state;
  /* The Dictionary twice: its leaves indexed, then plain (an old store). */
  static const pb_value_kind kinds[] = {PB_VALUE_DICT, PB_VALUE_DICT,
                                        PB_VALUE_LIST, PB_VALUE_SET,
                                        PB_VALUE_HASHDICT};
  static uint8_t buf[1 << 16];
  for (size_t k = 0; k < 5; k++) {
    pb_buf seed;
    pb_buf_init(&seed);
    assert_int_equal(pb_fuzz_node_seed_ex(&seed, kinds[k], 60, k == 1),
                     PB_OK);
    assert_true(seed.len * 2 <= sizeof buf);
    pb_fuzz_nodes(seed.data, seed.len); /* the seed itself is consistent */
    for (int i = 0; i < NODE_ITERATIONS; i++) {
      size_t n = seed.len;
      memcpy(buf, seed.data, n);
      for (int m = 1 + (int)(rnd() % 3); m > 0; m--)
        mutate(buf, &n, sizeof buf);
      uint8_t *copy = malloc(n ? n : 1); /* exact size, for ASan */
      assert_non_null(copy);
      if (n) memcpy(copy, buf, n);
      pb_fuzz_nodes(copy, n);
      free(copy);
    }
    pb_buf_free(&seed);
  }
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(random_and_mutated_inputs),
      cmocka_unit_test(mutated_collection_stores),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
