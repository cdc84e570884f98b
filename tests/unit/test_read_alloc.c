/*
 * test_read_alloc.c - what a warm read allocates (txn/snapshot.h).
 *
 * malloc, calloc, realloc and aligned_alloc are wrapped at link time
 * (-Wl,--wrap=..., tests/CMakeLists.txt): the wrappers count the calls
 * the calling thread makes while counting is on, so a background thread
 * of the file tier is not counted.
 *
 *   hook_counts          the hook sees the library allocate: a database
 *                        handle's first begin allocates its transaction
 *                        handle
 *   warm_begin_abort     once warm, a read transaction that begins and
 *                        ends allocates nothing (a reused handle, the
 *                        database root resolved once per published root),
 *                        also right after a commit moved the root
 *   warm_begin_get_abort once warm, begin + a named value + abort
 *                        allocates nothing, and begin + open Dictionary
 *                        + get + abort neither (a reused transaction
 *                        handle, pooled collection shells that keep
 *                        their Dictionary handle and its arena, nodes
 *                        read in place); the counts are printed
 *   warm_after_writes    likewise after write transactions on the same
 *                        database handle put keys through the pooled
 *                        handles (their arena copies and private nodes
 *                        go with the transaction, the handles stay)
 *
 * The default storage (file, PB_DURABILITY_SYNC) and the default caches.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "protobase/protobase.h"
#include "test_util.h"

/* --- the allocation hook --- */

static _Thread_local bool counting;
static _Thread_local unsigned long n_allocs;

void *__real_malloc(size_t n);
void *__real_calloc(size_t n, size_t size);
void *__real_realloc(void *p, size_t n);
void *__wrap_malloc(size_t n);
void *__wrap_calloc(size_t n, size_t size);
void *__wrap_realloc(void *p, size_t n);

void *__wrap_malloc(size_t n) {
  if (counting) n_allocs++;
  return __real_malloc(n);
}

void *__wrap_calloc(size_t n, size_t size) {
  if (counting) n_allocs++;
  return __real_calloc(n, size);
}

void *__wrap_realloc(void *p, size_t n) {
  if (counting) n_allocs++;
  return __real_realloc(p, n);
}

static void count_from_zero(void) {
  n_allocs = 0;
  counting = true;
}

static unsigned long counted(void) {
  counting = false;
  return n_allocs;
}

/* --- the store --- */

#define N 2000u

typedef struct store {
  char *dir;
  pb_storage *st;
  pb_space *sp;
  pb_db *db;
} store;

static void open_store(store *s) {
  s->dir = pb_test_tmpdir();
  assert_int_equal(pb_storage_open_file(s->dir, NULL, &s->st), PB_OK);
  assert_int_equal(pb_space_open(s->st, &s->sp), PB_OK);
  assert_int_equal(pb_db_open(s->sp, "main", PB_CREATE, &s->db), PB_OK);
}

static void close_store(store *s) {
  assert_int_equal(pb_db_close(s->db), PB_OK);
  assert_int_equal(pb_space_close(s->sp), PB_OK);
  pb_test_rmdir(s->dir);
}

static pb_str key_of(unsigned i, char *buf) {
  snprintf(buf, 24, "key-%06u", i);
  return pb_str_from_cstr(buf);
}

/* Commits N entries into Dictionary "d" and a named value "n" = gen. */
static void fill(store *s, uint64_t gen) {
  pb_txn *t;
  pb_dict *d;
  assert_int_equal(pb_txn_begin(s->db, 0, &t), PB_OK);
  assert_int_equal(pb_txn_open_dict(t, "d", PB_CREATE, &d), PB_OK);
  for (unsigned i = 0; i < N; i++) {
    char kb[24];
    pb_value v = {.kind = PB_VALUE_UINT, .as.u = i + gen};
    assert_int_equal(pb_dict_put(d, key_of(i, kb), &v), PB_OK);
  }
  pb_value n = {.kind = PB_VALUE_UINT, .as.u = gen};
  assert_int_equal(pb_txn_set(t, "n", &n), PB_OK);
  assert_int_equal(pb_txn_commit(t), PB_OK);
}

static void begin_abort(store *s) {
  pb_txn *t;
  assert_int_equal(pb_txn_begin(s->db, PB_RDONLY, &t), PB_OK);
  assert_int_equal(pb_txn_abort(t), PB_OK);
}

static void begin_get_abort(store *s, uint64_t gen) {
  pb_txn *t;
  pb_value v;
  assert_int_equal(pb_txn_begin(s->db, PB_RDONLY, &t), PB_OK);
  assert_int_equal(pb_txn_get(t, "n", &v), PB_OK);
  assert_int_equal(v.as.u, gen);
  assert_int_equal(pb_txn_abort(t), PB_OK);
}

static void begin_dict_get_abort(store *s, unsigned i, uint64_t gen) {
  pb_txn *t;
  pb_dict *d;
  pb_value v;
  char kb[24];
  assert_int_equal(pb_txn_begin(s->db, PB_RDONLY, &t), PB_OK);
  assert_int_equal(pb_txn_open_dict(t, "d", 0, &d), PB_OK);
  assert_int_equal(pb_dict_get(d, key_of(i, kb), &v), PB_OK);
  assert_int_equal(v.as.u, i + gen);
  assert_int_equal(pb_txn_abort(t), PB_OK);
}

static void hook_counts(void **state) {
  (void)state;
  store s;
  open_store(&s);
  fill(&s, 0);
  pb_db *db2;
  assert_int_equal(pb_db_open(s.sp, "main", 0, &db2), PB_OK);
  pb_txn *t;
  count_from_zero();
  assert_int_equal(pb_txn_begin(db2, PB_RDONLY, &t), PB_OK);
  assert_true(counted() >= 1); /* its first handle */
  assert_int_equal(pb_txn_abort(t), PB_OK);
  assert_int_equal(pb_db_close(db2), PB_OK);
  close_store(&s);
}

static void warm_begin_abort(void **state) {
  (void)state;
  store s;
  open_store(&s);
  fill(&s, 0);
  begin_abort(&s); /* warm: the handle, the memo of the root */
  count_from_zero();
  for (int r = 0; r < 100; r++) begin_abort(&s);
  assert_int_equal(counted(), 0);

  /* A commit moves the root: the first begin on it looks the database
   * root up again (that may allocate), the next ones do not. */
  fill(&s, 1);
  begin_abort(&s);
  count_from_zero();
  for (int r = 0; r < 100; r++) begin_abort(&s);
  assert_int_equal(counted(), 0);
  close_store(&s);
}

static void warm_begin_get_abort(void **state) {
  (void)state;
  store s;
  open_store(&s);
  fill(&s, 7);
  begin_get_abort(&s, 7);
  count_from_zero();
  begin_get_abort(&s, 7);
  unsigned long one = counted();
  count_from_zero();
  for (int r = 0; r < 100; r++) begin_get_abort(&s, 7);
  unsigned long hundred = counted();
  print_message("begin + pb_txn_get + abort, warm: %lu allocations\n", one);
  assert_int_equal(one, 0); /* the database root's handle is pooled */
  assert_int_equal(hundred, 0);

  for (unsigned i = 0; i < N; i++) begin_dict_get_abort(&s, i, 7);
  count_from_zero();
  begin_dict_get_abort(&s, 5, 7);
  one = counted();
  count_from_zero();
  for (int r = 0; r < 100; r++) begin_dict_get_abort(&s, 5, 7);
  hundred = counted();
  print_message("begin + open dict + get + abort, warm: %lu allocations\n",
                one);
  /* The transaction's part is none (a reused handle, pooled tcolls, the
   * roots of the database and of "d" remembered by the database handle);
   * Dictionary nodes are read in place (no clone per node read); and the
   * Dictionary handles (with their arenas) of the database root and of
   * "d" are the pooled shells' own, emptied and reused. */
  assert_int_equal(one, 0);
  assert_int_equal(hundred, 0);
  close_store(&s);
}

/* Begin + open "d" + get of every key + abort, on a read transaction:
 * each value as written by fill(gen) (views valid until the abort). */
static void read_all(store *s, uint64_t gen) {
  pb_txn *t;
  pb_dict *d;
  assert_int_equal(pb_txn_begin(s->db, PB_RDONLY, &t), PB_OK);
  assert_int_equal(pb_txn_open_dict(t, "d", 0, &d), PB_OK);
  for (unsigned i = 0; i < N; i++) {
    char kb[24];
    pb_value v;
    assert_int_equal(pb_dict_get(d, key_of(i, kb), &v), PB_OK);
    assert_int_equal(v.as.u, i + gen);
  }
  assert_int_equal(pb_txn_abort(t), PB_OK);
}

static void warm_after_writes(void **state) {
  (void)state;
  store s;
  open_store(&s);
  for (uint64_t gen = 0; gen < 3; gen++) {
    fill(&s, gen); /* writes through the pooled handles */
    read_all(&s, gen);
    begin_dict_get_abort(&s, 9, gen); /* warm on the new root */
    count_from_zero();
    for (int r = 0; r < 10; r++) begin_dict_get_abort(&s, 9, gen);
    assert_int_equal(counted(), 0);
  }
  /* A write transaction that puts and reads back its own string copies
   * (in the reused handle's arena) before it aborts. */
  pb_txn *t;
  pb_dict *d;
  assert_int_equal(pb_txn_begin(s.db, 0, &t), PB_OK);
  assert_int_equal(pb_txn_open_dict(t, "d", 0, &d), PB_OK);
  char kb[24], vb[32];
  for (unsigned i = 0; i < 50; i++) {
    snprintf(vb, sizeof vb, "value-%u", i);
    pb_value v = {.kind = PB_VALUE_STRING, .as.s = pb_str_from_cstr(vb)};
    assert_int_equal(pb_dict_put(d, key_of(i, kb), &v), PB_OK);
  }
  memset(vb, 'x', sizeof vb); /* the handle holds copies */
  for (unsigned i = 0; i < 50; i++) {
    char want[32];
    pb_value v;
    snprintf(want, sizeof want, "value-%u", i);
    assert_int_equal(pb_dict_get(d, key_of(i, kb), &v), PB_OK);
    assert_int_equal(v.kind, PB_VALUE_STRING);
    assert_int_equal(v.as.s.len, strlen(want));
    assert_memory_equal(v.as.s.ptr, want, v.as.s.len);
  }
  assert_int_equal(pb_txn_abort(t), PB_OK);
  read_all(&s, 2); /* the abort changed nothing */
  close_store(&s);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(hook_counts),
      cmocka_unit_test(warm_begin_abort),
      cmocka_unit_test(warm_begin_get_abort),
      cmocka_unit_test(warm_after_writes),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
