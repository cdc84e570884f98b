/*
 * test_query_lazy.c - plans read only what they need, counted by the
 * storage: a wrapper of the file tier (storage/storage.h) counts every
 * atom read (read_atom and read_atom_pending).  1M rows of qo.Row, loaded
 * in one transaction; each query runs in a space opened afresh (cold
 * caches), and its reads are counted from its transaction's begin to the
 * plan's end:
 *   - an indexed equality (10 rows) reads at most 1% of the atoms a full
 *     scan reads;
 *   - Limit 10 over the whole table reads a small constant number;
 *   - an OrderBy on the key with Limit 10 too (the sort is dropped);
 *   - an OrderBy on an indexed field with Limit 10 (the index gives the
 *     order) reads at most 1% of the full scan.
 * ROWS (default 1000000) may be set by the first argument.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "protobase/protobase.h"
#include "protobase/query.h"
#include "protobase/table.h"
#include "query_opt.pb.h"
#include "storage/storage.h"
#include "test_util.h"

enum { R_ID = 1, R_GRP = 2, R_V = 3 };

static uint64_t n_rows = 1000000;
static char *dir;

/* --- A storage that counts the atoms read --- */

typedef struct count_st {
  pb_storage base;     /* first: what the space sees */
  pb__storage_ops ops; /* the inner tier's, with the reads counted */
  pb_storage *inner;
} count_st;

static _Atomic uint64_t reads;

#define IN(st) (((count_st *)(st))->inner)

static int c_read_atom(pb_storage *st, pb_atom_ptr p, pb_bytes *out) {
  atomic_fetch_add(&reads, 1);
  return IN(st)->ops->read_atom(IN(st), p, out);
}
static int c_read_atom_pending(pb_storage *st, pb_atom_ptr p, pb_bytes *out) {
  atomic_fetch_add(&reads, 1);
  return IN(st)->ops->read_atom_pending(IN(st), p, out);
}
static int c_commit(pb_storage *st, const pb__batch *b, pb_atom_ptr e,
                    pb_atom_ptr r, uint64_t *lsn) {
  return IN(st)->ops->commit(IN(st), b, e, r, lsn);
}
static int c_read_root(pb_storage *st, pb_atom_ptr *r, uint64_t *lsn) {
  return IN(st)->ops->read_root(IN(st), r, lsn);
}
static int c_flush(pb_storage *st) { return IN(st)->ops->flush(IN(st)); }
static int c_close(pb_storage *st) {
  pb_storage *in = IN(st);
  free(st);
  return in->ops->close(in);
}
static void c_errmsg(pb_storage *st, char *buf, size_t size) {
  IN(st)->ops->errmsg(IN(st), buf, size);
}
static int c_read_pending_root(pb_storage *st, pb_atom_ptr *r, uint64_t *l) {
  return IN(st)->ops->read_pending_root(IN(st), r, l);
}
static void c_pin(pb_storage *st, uint64_t *t) { IN(st)->ops->pin(IN(st), t); }
static void c_unpin(pb_storage *st, uint64_t t) {
  IN(st)->ops->unpin(IN(st), t);
}
static int c_append(pb_storage *st, const pb__batch *b, pb_atom_ptr e,
                    pb_atom_ptr r, uint64_t *lsn) {
  return IN(st)->ops->append(IN(st), b, e, r, lsn);
}
static int c_wait_durable(pb_storage *st, uint64_t lsn) {
  return IN(st)->ops->wait_durable(IN(st), lsn);
}
static int c_compact(pb_storage *st, pb_compact_stats *s) {
  return IN(st)->ops->compact(IN(st), s);
}

/* Wraps `inner` (owned from then on). */
static pb_storage *counting(pb_storage *inner) {
  count_st *c = calloc(1, sizeof *c);
  assert_non_null(c);
  const pb__storage_ops *o = inner->ops;
  c->inner = inner;
  c->ops.name = o->name;
  c->ops.read_atom = c_read_atom;
  c->ops.commit = c_commit;
  c->ops.read_root = c_read_root;
  c->ops.flush = c_flush;
  c->ops.close = c_close;
  c->ops.errmsg = o->errmsg ? c_errmsg : NULL;
  c->ops.read_pending_root = o->read_pending_root ? c_read_pending_root : NULL;
  c->ops.read_atom_pending = o->read_atom_pending ? c_read_atom_pending : NULL;
  c->ops.pin = o->pin ? c_pin : NULL;
  c->ops.unpin = o->unpin ? c_unpin : NULL;
  c->ops.append = o->append ? c_append : NULL;
  c->ops.wait_durable = o->wait_durable ? c_wait_durable : NULL;
  c->ops.compact = o->compact ? c_compact : NULL;
  c->ops.cheap_reads = o->cheap_reads;
  c->base.ops = &c->ops;
  c->base.read_only = inner->read_only;
  return &c->base;
}

/* The store, opened afresh (cold caches) over the counting wrapper, with
 * the defaults a user gets. */
typedef struct store {
  pb_space *sp;
  pb_db *db;
} store;

static void store_open(store *s) {
  pb_file_options o;
  pb_file_options_init(&o);
  pb_storage *st = NULL;
  assert_int_equal(pb_storage_open_file(dir, &o, &st), PB_OK);
  assert_int_equal(pb_space_open(counting(st), &s->sp), PB_OK);
  assert_int_equal(pb_db_open(s->sp, "main", PB_CREATE, &s->db), PB_OK);
}

static void store_close(store *s) {
  assert_int_equal(pb_db_close(s->db), PB_OK);
  assert_int_equal(pb_space_close(s->sp), PB_OK);
}

static int setup(void **state) {
  (void)state;
  dir = pb_test_tmpdir();
  store s;
  store_open(&s);
  pb_txn *txn = NULL;
  if (pb_txn_begin(s.db, 0, &txn) != PB_OK) return -1;
  for (uint64_t id = 1; id <= n_rows; id++) {
    qo_Row r;
    qo_Row_init(&r);
    r.id = id;
    r.grp = (int32_t)(id % (n_rows / 10)); /* 10 rows per group */
    r.v = (int64_t)(id * 7919 % 1000);
    if (qo_Row_insert(txn, &r) != PB_OK) return -1;
  }
  if (pb_txn_commit(txn) != PB_OK) return -1;
  store_close(&s);
  return 0;
}

static int teardown(void **state) {
  (void)state;
  pb_test_rmdir(dir);
  return 0;
}

typedef enum qkind { Q_FULL, Q_EQ, Q_LIMIT, Q_KEY_ORDER, Q_IDX_ORDER } qkind;

/* Runs query k in a fresh space; *rows gets its rows; returns the atoms
 * read from the transaction's begin to the plan's end. */
static uint64_t measure(qkind k, uint64_t *rows, char *ex, size_t cap) {
  store s;
  store_open(&s);
  uint64_t before = atomic_load(&reads);
  pb_txn *txn = NULL;
  assert_int_equal(pb_txn_begin(s.db, PB_RDONLY, &txn), PB_OK);
  pb_plan *p = NULL;
  assert_int_equal(pb_plan_from_table(txn, &qo_Row_table, &p), PB_OK);
  switch (k) {
  case Q_FULL: /* no row has v = -1: every row is read */
    assert_int_equal(pb_plan_where(&p, pb_expr_cmp(PB_EQ,
                                                   pb_expr_field(0, R_V),
                                                   pb_expr_const(pb_qint(-1)))),
                     PB_OK);
    break;
  case Q_EQ:
    assert_int_equal(pb_plan_where(&p, pb_expr_cmp(PB_EQ,
                                                   pb_expr_field(0, R_GRP),
                                                   pb_expr_const(pb_qint(77)))),
                     PB_OK);
    break;
  case Q_LIMIT:
    assert_int_equal(pb_plan_limit(&p, 10), PB_OK);
    break;
  case Q_KEY_ORDER:
  case Q_IDX_ORDER: {
    pb_sort_key key = {pb_expr_field(0, k == Q_KEY_ORDER ? R_ID : R_GRP),
                       k == Q_KEY_ORDER ? PB_DESC : PB_ASC};
    assert_int_equal(pb_plan_order_by(&p, &key, 1), PB_OK);
    assert_int_equal(pb_plan_limit(&p, 10), PB_OK);
    break;
  }
  }
  pb_buf b;
  pb_buf_init(&b);
  assert_int_equal(pb_plan_explain(p, &b), PB_OK);
  size_t n = b.len < cap - 1 ? b.len : cap - 1;
  memcpy(ex, b.data, n);
  ex[n] = 0;
  pb_buf_free(&b);
  pb_row row;
  int rc;
  *rows = 0;
  while ((rc = pb_plan_next(p, &row)) == PB_OK) (*rows)++;
  assert_int_equal(rc, PB_ENOTFOUND);
  pb_plan_free(p);
  pb_txn_abort(txn);
  uint64_t got = atomic_load(&reads) - before;
  store_close(&s);
  return got;
}

static void test_lazy(void **state) {
  (void)state;
  char ex[1024];
  uint64_t rows;
  uint64_t full = measure(Q_FULL, &rows, ex, sizeof ex);
  printf("full scan: %llu atoms\n%s", (unsigned long long)full, ex);
  assert_int_equal(rows, 0);
  assert_non_null(strstr(ex, "TableScan"));

  uint64_t eq = measure(Q_EQ, &rows, ex, sizeof ex);
  printf("indexed equality: %llu atoms (%.3f%% of the full scan)\n%s",
         (unsigned long long)eq, 100.0 * (double)eq / (double)full, ex);
  assert_int_equal(rows, 10);
  assert_non_null(strstr(ex, "IndexScan"));
  assert_true(eq * 100 <= full);

  uint64_t lim = measure(Q_LIMIT, &rows, ex, sizeof ex);
  printf("Limit 10: %llu atoms\n%s", (unsigned long long)lim, ex);
  assert_int_equal(rows, 10);
  assert_true(lim <= 16);

  uint64_t ko = measure(Q_KEY_ORDER, &rows, ex, sizeof ex);
  printf("OrderBy id DESC Limit 10: %llu atoms\n%s", (unsigned long long)ko,
         ex);
  assert_int_equal(rows, 10);
  assert_null(strstr(ex, "OrderBy"));
  assert_true(ko <= 16);

  uint64_t io = measure(Q_IDX_ORDER, &rows, ex, sizeof ex);
  printf("OrderBy grp Limit 10: %llu atoms\n%s", (unsigned long long)io, ex);
  assert_int_equal(rows, 10);
  assert_null(strstr(ex, "OrderBy"));
  assert_true(io * 100 <= full);
}

int main(int argc, char **argv) {
  if (argc > 1) n_rows = strtoull(argv[1], NULL, 10);
  if (n_rows < 1000) n_rows = 1000;
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_lazy, setup, teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
