/*
 * test_storage_memory.c - MemoryStorage through the SharedStorage
 * interface, and the batch index that every tier uses.
 *
 * Memory storage must behave like the file tier minus persistence: encoded
 * bytes in, the same bytes out, compare-and-swap on the root, and the same
 * refusals (conflict, unknown pointer, malformed batch, dangling root).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "atom/batch.h"
#include "storage/batch_index.h"
#include "storage/storage.h"

static const pb_atom_ptr null_ptr = {0, 0, 0};

/* Builds a batch of `n` atoms "m<tag>-<i>..." and gives their pointers. */
static void build(pb__batch_builder *bb, int tag, int n, pb_atom_ptr *ptrs) {
  assert_int_equal(pb__batch_init(bb), PB_OK);
  for (int i = 0; i < n; i++) {
    char atom[64];
    int len = snprintf(atom, sizeof atom, "m%d-%d-%.*s", tag, i, i % 20,
                       "xxxxxxxxxxxxxxxxxxxx");
    assert_int_equal(pb__batch_add(bb, atom, (size_t)len, &ptrs[i]), PB_OK);
  }
}

static pb__batch view_of(const pb__batch_builder *bb) {
  pb__batch b = {.id_hi = bb->id_hi, .id_lo = bb->id_lo,
                 .data = bb->buf.data, .size = bb->buf.len};
  return b;
}

static void expect_atom(pb_storage *st, pb_atom_ptr p, int tag, int i) {
  char atom[64];
  int len = snprintf(atom, sizeof atom, "m%d-%d-%.*s", tag, i, i % 20,
                     "xxxxxxxxxxxxxxxxxxxx");
  pb_bytes v;
  assert_int_equal(st->ops->read_atom(st, p, &v), PB_OK);
  assert_int_equal(v.len, (size_t)len);
  assert_memory_equal(v.ptr, atom, (size_t)len);
}

/* Commits, reads back every atom, and follows the root and LSN. */
static void test_commit_read_root(void **state) {
  pb_storage *st;
  assert_int_equal(pb_storage_open_memory(&st), PB_OK);
  pb_atom_ptr root;
  uint64_t lsn = 99;
  assert_int_equal(st->ops->read_root(st, &root, &lsn), PB_OK);
  assert_true(pb_atom_ptr_is_null(root));
  assert_int_equal(lsn, 0);

  pb_atom_ptr ptrs[5][8];
  pb_atom_ptr expected = null_ptr;
  for (int c = 0; c < 5; c++) {
    pb__batch_builder bb;
    build(&bb, c, 8, ptrs[c]);
    pb__batch b = view_of(&bb);
    assert_int_equal(st->ops->commit(st, &b, expected, ptrs[c][7], &lsn),
                     PB_OK);
    assert_int_equal(lsn, (uint64_t)c + 1);
    pb__batch_free(&bb); /* the storage kept its own copy */
    expected = ptrs[c][7];
  }
  assert_int_equal(st->ops->read_root(st, &root, &lsn), PB_OK);
  assert_true(pb_atom_ptr_equal(root, ptrs[4][7]));
  assert_int_equal(lsn, 5);
  for (int c = 0; c < 5; c++)
    for (int i = 0; i < 8; i++) expect_atom(st, ptrs[c][i], c, i);
  assert_int_equal(st->ops->flush(st), PB_OK);
  assert_int_equal(pb_storage_close(st), PB_OK);
}

/* A stale `expected` gives PB_ECONFLICT and changes nothing. */
static void test_cas_conflict(void **state) {
  pb_storage *st;
  assert_int_equal(pb_storage_open_memory(&st), PB_OK);
  pb_atom_ptr p1[2], p2[2];
  pb__batch_builder b1, b2;
  build(&b1, 1, 2, p1);
  build(&b2, 2, 2, p2);
  pb__batch v1 = view_of(&b1), v2 = view_of(&b2);
  uint64_t lsn;
  assert_int_equal(st->ops->commit(st, &v1, null_ptr, p1[0], &lsn), PB_OK);
  /* b2 was built on the null root, which is no longer current. */
  assert_int_equal(st->ops->commit(st, &v2, null_ptr, p2[0], &lsn),
                   PB_ECONFLICT);
  pb_atom_ptr root;
  assert_int_equal(st->ops->read_root(st, &root, &lsn), PB_OK);
  assert_true(pb_atom_ptr_equal(root, p1[0]));
  assert_int_equal(lsn, 1);
  pb_bytes v;
  assert_int_equal(st->ops->read_atom(st, p2[0], &v), PB_ENOTFOUND);
  /* Rebased on the current root, the same batch commits. */
  assert_int_equal(st->ops->commit(st, &v2, p1[0], p2[1], &lsn), PB_OK);
  assert_int_equal(lsn, 2);
  expect_atom(st, p2[1], 2, 1);
  pb__batch_free(&b1);
  pb__batch_free(&b2);
  pb_storage_close(st);
}

/* Pointers to unknown batches or past a batch's end are PB_ENOTFOUND. */
static void test_unknown_pointer(void **state) {
  pb_storage *st;
  assert_int_equal(pb_storage_open_memory(&st), PB_OK);
  pb_bytes v;
  pb_atom_ptr nowhere = {1, 2, 0};
  assert_int_equal(st->ops->read_atom(st, nowhere, &v), PB_ENOTFOUND);
  assert_int_equal(st->ops->read_atom(st, null_ptr, &v), PB_ENOTFOUND);
  pb_atom_ptr p[3];
  pb__batch_builder bb;
  build(&bb, 7, 3, p);
  pb__batch b = view_of(&bb);
  assert_int_equal(st->ops->commit(st, &b, null_ptr, p[2], NULL), PB_OK);
  pb_atom_ptr past = p[2];
  past.offset = bb.buf.len;
  assert_int_equal(st->ops->read_atom(st, past, &v), PB_ENOTFOUND);
  past.offset = 1u << 30;
  assert_int_equal(st->ops->read_atom(st, past, &v), PB_ENOTFOUND);
  pb__batch_free(&bb);
  pb_storage_close(st);
}

/* Refusals that protect the stored state: malformed batch, dangling root,
 * a batch id stored twice, a zero id; and a root-only commit works. */
static void test_refusals(void **state) {
  pb_storage *st;
  assert_int_equal(pb_storage_open_memory(&st), PB_OK);
  pb_atom_ptr p[2];
  pb__batch_builder bb;
  build(&bb, 3, 2, p);
  pb__batch b = view_of(&bb);

  pb__batch bad = b;
  bad.size -= 1; /* the last atom's length now runs past the end */
  assert_int_equal(st->ops->commit(st, &bad, null_ptr, null_ptr, NULL),
                   PB_EINVAL);
  pb__batch zero_id = b;
  zero_id.id_hi = zero_id.id_lo = 0;
  assert_int_equal(st->ops->commit(st, &zero_id, null_ptr, null_ptr, NULL),
                   PB_EINVAL);
  pb_atom_ptr dangling = {5, 6, 0};
  assert_int_equal(st->ops->commit(st, &b, null_ptr, dangling, NULL),
                   PB_EINVAL);
  assert_int_equal(st->ops->commit(st, NULL, null_ptr, null_ptr, NULL),
                   PB_EINVAL);

  uint64_t lsn;
  assert_int_equal(st->ops->commit(st, &b, null_ptr, p[0], &lsn), PB_OK);
  assert_int_equal(st->ops->commit(st, &b, p[0], p[1], &lsn), PB_EEXIST);
  /* A root-only commit moves the root to an atom of an earlier batch. */
  pb__batch empty = {.id_hi = 9, .id_lo = 9, .data = NULL, .size = 0};
  assert_int_equal(st->ops->commit(st, &empty, p[0], p[1], &lsn), PB_OK);
  assert_int_equal(lsn, 2);
  pb_atom_ptr root;
  st->ops->read_root(st, &root, &lsn);
  assert_true(pb_atom_ptr_equal(root, p[1]));
  pb__batch_free(&bb);
  pb_storage_close(st);
}

/* A batch never grows past PB__BATCH_MAX_SIZE, so every offset fits the
 * u32 of an encoded pointer.  (The length is faked: the check comes before
 * any allocation.) */
static void test_batch_limit(void **state) {
  (void)state;
  pb__batch_builder bb;
  assert_int_equal(pb__batch_init(&bb), PB_OK);
  pb_atom_ptr p = {0, 0, 0};
  assert_int_equal(pb__batch_add(&bb, "x", 1, &p), PB_OK);
  size_t real = bb.buf.len;
  bb.buf.len = PB__BATCH_MAX_SIZE - 5; /* room for 4 + 1 bytes, no more */
  assert_int_equal(pb__batch_add(&bb, "xy", 2, &p), PB_ETOOBIG);
  assert_int_equal(bb.buf.len, PB__BATCH_MAX_SIZE - 5); /* nothing added */
  bb.buf.len = real;
  assert_int_equal(pb__batch_add(&bb, NULL, PB__ATOM_MAX_SIZE + 1u, &p),
                   PB_ETOOBIG);
  pb__batch_free(&bb);
}

/* --- concurrency: committers retry on conflict, readers read along --- */

typedef struct mt_ctx {
  pb_storage *st;
  int commits; /* per writer */
} mt_ctx;

static void *mt_writer(void *arg) {
  mt_ctx *c = arg;
  for (int i = 0; i < c->commits; i++) {
    for (;;) {
      pb_atom_ptr root, p;
      uint64_t lsn;
      c->st->ops->read_root(c->st, &root, &lsn);
      pb__batch_builder bb;
      if (pb__batch_init(&bb) != PB_OK) abort();
      /* The atom records its parent, so the chain can be walked later. */
      pb__batch_add(&bb, &root, sizeof root, &p);
      pb__batch b = view_of(&bb);
      int rc = c->st->ops->commit(c->st, &b, root, p, NULL);
      pb__batch_free(&bb);
      if (rc == PB_OK) break;
      if (rc != PB_ECONFLICT) abort();
    }
  }
  return NULL;
}

static void *mt_reader(void *arg) {
  mt_ctx *c = arg;
  for (int i = 0; i < 2000; i++) {
    pb_atom_ptr root;
    uint64_t lsn;
    c->st->ops->read_root(c->st, &root, &lsn);
    if (pb_atom_ptr_is_null(root)) continue;
    pb_bytes v;
    if (c->st->ops->read_atom(c->st, root, &v) != PB_OK) abort();
    if (v.len != sizeof(pb_atom_ptr)) abort();
  }
  return NULL;
}

static void test_threads(void **state) {
  pb_storage *st;
  assert_int_equal(pb_storage_open_memory(&st), PB_OK);
  mt_ctx c = {.st = st, .commits = 200};
  pthread_t t[6];
  for (int i = 0; i < 4; i++) pthread_create(&t[i], NULL, mt_writer, &c);
  for (int i = 4; i < 6; i++) pthread_create(&t[i], NULL, mt_reader, &c);
  for (int i = 0; i < 6; i++) pthread_join(t[i], NULL);
  pb_atom_ptr root;
  uint64_t lsn;
  st->ops->read_root(st, &root, &lsn);
  assert_int_equal(lsn, 800);
  /* Walk the chain of parents: exactly 800 links, no lost update. */
  int links = 0;
  while (!pb_atom_ptr_is_null(root)) {
    pb_bytes v;
    assert_int_equal(st->ops->read_atom(st, root, &v), PB_OK);
    memcpy(&root, v.ptr, sizeof root);
    links++;
  }
  assert_int_equal(links, 800);
  pb_storage_close(st);
}

/* --- the batch index --- */

static void test_index_insert_find_remove(void **state) {
  pb__batch_index ix;
  pb__batch_index_init(&ix);
  assert_null(pb__batch_index_find(&ix, 1, 1));
  enum { N = 5000 };
  /* Ids that collide on purpose: hi ^ lo is the same for many of them. */
  for (uint64_t i = 1; i <= N; i++) {
    assert_int_equal(pb__batch_index_reserve(&ix, 1), PB_OK);
    pb__batch_loc loc = {.size = i, .offset = i * 3, .segment = (uint32_t)i};
    uint64_t hi = i % 7 == 0 ? i : i * 0x100000001ull;
    uint64_t lo = i % 7 == 0 ? i : i;
    assert_int_equal(pb__batch_index_insert(&ix, hi, lo, &loc), PB_OK);
  }
  assert_int_equal(ix.count, N);
  assert_true(ix.count * 4 <= ix.cap * 3);
  pb__batch_loc dup = {0};
  assert_int_equal(pb__batch_index_reserve(&ix, 1), PB_OK);
  assert_int_equal(pb__batch_index_insert(&ix, 7, 7, &dup), PB_EEXIST);
  /* Remove every third entry; the rest must all still be found. */
  for (uint64_t i = 1; i <= N; i += 3) {
    uint64_t hi = i % 7 == 0 ? i : i * 0x100000001ull;
    assert_true(pb__batch_index_remove(&ix, hi, i));
    assert_false(pb__batch_index_remove(&ix, hi, i));
  }
  for (uint64_t i = 1; i <= N; i++) {
    uint64_t hi = i % 7 == 0 ? i : i * 0x100000001ull;
    const pb__batch_loc *loc = pb__batch_index_find(&ix, hi, i);
    if ((i - 1) % 3 == 0) {
      assert_null(loc);
    } else {
      assert_non_null(loc);
      assert_int_equal(loc->size, i);
      assert_int_equal(loc->offset, i * 3);
    }
  }
  size_t cursor = 0, seen = 0;
  const pb__batch_index_entry *e;
  while (pb__batch_index_next(&ix, &cursor, &e)) seen++;
  assert_int_equal(seen, ix.count);
  assert_int_equal(seen, N - (N + 2) / 3);
  pb__batch_index_free(&ix);
  pb__batch_index_free(&ix); /* idempotent */
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_commit_read_root),
      cmocka_unit_test(test_cas_conflict),
      cmocka_unit_test(test_unknown_pointer),
      cmocka_unit_test(test_refusals),
      cmocka_unit_test(test_batch_limit),
      cmocka_unit_test(test_threads),
      cmocka_unit_test(test_index_insert_find_remove),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
