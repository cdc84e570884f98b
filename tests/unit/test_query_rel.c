/*
 * test_query_rel.c - the relational nodes of query plans: Join (inner,
 * left, right, full; by hash, index nested loop and nested loop), GroupBy
 * with its aggregates and Having, OrderBy (stable, several keys, NULLs,
 * top-N, external sort with its temporary files and injected ENOSPC/EIO),
 * Limit and Offset on either side of an OrderBy, and Distinct.
 *
 * One fixed data set (schema unit/schema/qrel.pbs) on the file tier with
 * the defaults (PB_DURABILITY_SYNC): four customers (one with no order,
 * one with no credit), five orders (one of a customer that does not
 * exist), four products (one never ordered).  Every expected result is
 * written out in full as a string: a row is its sources ("c1" customer 1,
 * "o10" order 10, "pA" product A, "l7" line 7, "-" a NULL source) and its
 * columns, joined by ','; rows are joined by ' '.  The external sort runs
 * on the file tier too, and on the simulated disk (tests/support/simfs)
 * to fail its writes.
 */
#include <dirent.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "protobase/protobase.h"
#include "protobase/query.h"
#include "protobase/table.h"
#include "qrel.pb.h"
#include "query/query_int.h"
#include "storage/file.h"
#include "support/filedb.h"
#include "support/simfs.h"
#include "test_util.h"

/* --- failing allocations ---
 * The test links with -Wl,--wrap=malloc,--wrap=calloc,--wrap=realloc, so
 * the runtime's allocations come here: when fail_at is n > 0, the n-th
 * allocation from now fails (and only that one). */
static long fail_at;
void *__real_malloc(size_t n);
void *__real_calloc(size_t k, size_t n);
void *__real_realloc(void *p, size_t n);
void *__wrap_malloc(size_t n);
void *__wrap_calloc(size_t k, size_t n);
void *__wrap_realloc(void *p, size_t n);
static bool fail_now(void) { return fail_at > 0 && --fail_at == 0; }
void *__wrap_malloc(size_t n) { return fail_now() ? NULL : __real_malloc(n); }
void *__wrap_calloc(size_t k, size_t n) {
  return fail_now() ? NULL : __real_calloc(k, n);
}
void *__wrap_realloc(void *p, size_t n) {
  return fail_now() ? NULL : __real_realloc(p, n);
}

/* Tags. */
enum { C_ID = 1, C_NAME, C_CITY, C_CREDIT };
enum { P_SKU = 1, P_TITLE, P_PRICE };
enum { O_ID = 1, O_CUSTOMER, O_SKU, O_QTY, O_AMOUNT, O_NOTE };
enum { L_A = 1, L_B, L_S, L_ARR };

#define F(src, tag) pb_expr_field((src), (tag))
#define EQ(a, b) pb_expr_cmp(PB_EQ, (a), (b))
#define CI(i) pb_expr_const(pb_qint(i))

static pb_test_filedb db;

/* --- The data set --- */

static int fill_rel(pb_db *d) {
  pb_txn *txn;
  int rc = pb_txn_begin(d, 0, &txn);
  if (rc != PB_OK) return rc;
  static const struct {
    uint64_t id;
    const char *name, *city;
    bool has_credit;
    int64_t credit;
  } cs[] = {{1, "Ada", "London", true, 100},
            {2, "Bob", "Paris", false, 0},
            {3, "Cy", "London", true, 50},
            {4, "Dee", "Rome", true, 70}};
  for (size_t i = 0; i < 4 && rc == PB_OK; i++) {
    qr_Customer c;
    qr_Customer_init(&c);
    c.id = cs[i].id;
    c.name = pb_str_from_cstr(cs[i].name);
    c.city = pb_str_from_cstr(cs[i].city);
    c.has_credit = cs[i].has_credit;
    c.credit = cs[i].credit;
    rc = pb_table_insert(txn, &qr_Customer_table, &c, NULL);
  }
  static const struct {
    const char *sku, *title;
    double price;
  } ps[] = {{"A", "Apple", 5.0},
            {"B", "Book", 5.5},
            {"C", "Chair", 7.0},
            {"D", "Desk", 99.0}};
  for (size_t i = 0; i < 4 && rc == PB_OK; i++) {
    qr_Product p;
    qr_Product_init(&p);
    p.sku = pb_str_from_cstr(ps[i].sku);
    p.title = pb_str_from_cstr(ps[i].title);
    p.price = ps[i].price;
    rc = pb_table_insert(txn, &qr_Product_table, &p, NULL);
  }
  static const struct {
    uint64_t id, customer;
    const char *sku;
    int64_t qty;
    double amount;
    const char *note;
  } os[] = {{10, 1, "A", 2, 10.0, NULL},
            {11, 1, "B", 1, 5.5, NULL},
            {12, 2, "A", 5, 25.0, NULL},
            {13, 3, "C", 1, 7.0, "gift"},
            {14, 9, "B", 3, 16.5, NULL}};
  for (size_t i = 0; i < 5 && rc == PB_OK; i++) {
    qr_Order o;
    qr_Order_init(&o);
    o.id = os[i].id;
    o.customer = os[i].customer;
    o.sku = pb_str_from_cstr(os[i].sku);
    o.qty = os[i].qty;
    o.amount = os[i].amount;
    o.has_note = os[i].note != NULL;
    if (o.has_note) o.note = pb_str_from_cstr(os[i].note);
    rc = pb_table_insert(txn, &qr_Order_table, &o, NULL);
  }
  if (rc == PB_OK) return pb_txn_commit(txn);
  pb_txn_abort(txn);
  return rc;
}

/* Lines: n keyless rows, a = a pseudo-random value in [0, mod) (many
 * ties), b = the insertion number, s a string, arr two items. */
static const int32_t arr_items[] = {7, -7};

static int fill_lines(pb_db *d, int n, int mod) {
  pb_txn *txn;
  int rc = pb_txn_begin(d, 0, &txn);
  if (rc != PB_OK) return rc;
  uint64_t x = 12345;
  for (int i = 0; i < n && rc == PB_OK; i++) {
    x = x * 6364136223846793005ull + 1442695040888963407ull;
    char s[64];
    snprintf(s, sizeof s, "line %05d with some text to fill the rows", i);
    qr_Line l;
    qr_Line_init(&l);
    l.a = (int64_t)((x >> 33) % (uint64_t)mod);
    l.b = i;
    l.s = pb_str_from_cstr(s);
    l.arr.items = arr_items;
    l.arr.count = 2;
    uint64_t id;
    rc = pb_table_insert(txn, &qr_Line_table, &l, &id);
  }
  if (rc == PB_OK) return pb_txn_commit(txn);
  pb_txn_abort(txn);
  return rc;
}

static int setup(void **state) {
  (void)state;
  int rc = pb_test_filedb_open(&db, PB_DURABILITY_SYNC);
  if (rc == PB_OK) rc = fill_rel(db.db);
  if (rc == PB_OK) rc = fill_lines(db.db, 3000, 40);
  if (rc != PB_OK) fprintf(stderr, "setup: %d: %s\n", rc, pb_errdetail());
  return rc == PB_OK ? 0 : -1;
}

static int teardown(void **state) {
  (void)state;
  return pb_test_filedb_close(&db) == PB_OK ? 0 : -1;
}

static pb_txn *begin(void) {
  pb_txn *txn = NULL;
  assert_int_equal(pb_txn_begin(db.db, PB_RDONLY, &txn), PB_OK);
  return txn;
}

static pb_plan *from(pb_txn *txn, const pb_table_def *def) {
  pb_plan *p = NULL;
  assert_int_equal(pb_plan_from_table(txn, def, &p), PB_OK);
  return p;
}

/* --- Rows as text --- */

static void put(pb_buf *b, const char *s) { pb_buf_append(b, s, strlen(s)); }

static void put_src(pb_buf *b, const pb_table_def *def, const void *rec,
                    uint64_t id) {
  char t[64];
  if (rec == NULL) {
    put(b, "-");
  } else if (def == &qr_Customer_table) {
    snprintf(t, sizeof t, "c%llu",
             (unsigned long long)((const qr_Customer *)rec)->id);
    put(b, t);
  } else if (def == &qr_Order_table) {
    snprintf(t, sizeof t, "o%llu",
             (unsigned long long)((const qr_Order *)rec)->id);
    put(b, t);
  } else if (def == &qr_Product_table) {
    const qr_Product *p = rec;
    put(b, "p");
    pb_buf_append(b, p->sku.ptr, p->sku.len);
  } else {
    snprintf(t, sizeof t, "l%llu", (unsigned long long)id);
    put(b, t);
  }
}

static void put_val(pb_buf *b, const pb_qval *v) {
  char t[64];
  switch (v->type) {
    case PB_QNULL: put(b, "NULL"); return;
    case PB_QBOOL: put(b, v->as.b ? "true" : "false"); return;
    case PB_QINT: snprintf(t, sizeof t, "%lld", (long long)v->as.i); break;
    case PB_QUINT:
      snprintf(t, sizeof t, "%llu", (unsigned long long)v->as.u);
      break;
    case PB_QFLOAT: snprintf(t, sizeof t, "%g", v->as.f); break;
    case PB_QSTR:
    case PB_QBYTES:
      put(b, "'");
      pb_buf_append(b, v->as.s.ptr, v->as.s.len);
      put(b, "'");
      return;
  }
  put(b, t);
}

static void put_row(pb_buf *b, const pb_plan *p, const pb_row *r) {
  for (size_t i = 0; i < r->n_recs; i++) {
    if (i) put(b, ",");
    put_src(b, p->shape.srcs[i], r->recs[i], r->ids ? r->ids[i] : 0);
  }
  for (size_t i = 0; i < r->n_cols; i++) {
    if (i || r->n_recs) put(b, ",");
    put_val(b, &r->cols[i]);
  }
}

/* Runs p to its end (asserting PB_ENOTFOUND, twice) and gives its rows as
 * text (static storage, valid until the next call). */
static const char *rows(pb_plan *p) {
  static char text[8192];
  pb_buf b;
  pb_buf_init(&b);
  pb_row r;
  int rc, n = 0;
  while ((rc = pb_plan_next(p, &r)) == PB_OK) {
    if (n++) put(&b, " ");
    put_row(&b, p, &r);
  }
  if (rc != PB_ENOTFOUND) fprintf(stderr, "next: %d: %s\n", rc, pb_errdetail());
  assert_int_equal(rc, PB_ENOTFOUND);
  assert_int_equal(pb_plan_next(p, &r), PB_ENOTFOUND);
  pb_buf_append(&b, "", 1);
  assert_int_equal(pb_buf_error(&b), PB_OK);
  snprintf(text, sizeof text, "%s", (const char *)b.data);
  pb_buf_free(&b);
  return text;
}

/* The plan's explain text (static storage). */
static const char *explain(pb_plan *p) {
  static char text[4096];
  pb_buf b;
  pb_buf_init(&b);
  assert_int_equal(pb_plan_explain(p, &b), PB_OK);
  pb_buf_append(&b, "", 1);
  snprintf(text, sizeof text, "%s", (const char *)b.data);
  pb_buf_free(&b);
  return text;
}

#define assert_has(hay, needle)                                           \
  do {                                                                    \
    if (strstr((hay), (needle)) == NULL) {                                \
      fprintf(stderr, "missing \"%s\" in:\n%s\n", (needle), (hay));       \
      fail();                                                             \
    }                                                                     \
  } while (0)

/* Runs p, checks its rows and that its explain names `algo`; frees p. */
static void expect(pb_plan *p, const char *want, const char *algo) {
  const char *got = rows(p);
  if (strcmp(got, want) != 0)
    fprintf(stderr, "got  %s\nwant %s\n", got, want);
  assert_string_equal(got, want);
  if (algo != NULL) assert_has(explain(p), algo);
  pb_plan_free(p);
}

/* --- Joins --- */

/* customers JOIN orders ON c.id = o.customer; the right side as given. */
static pb_plan *cust_orders(pb_txn *txn, pb_plan *right, pb_join_type t) {
  pb_plan *p = from(txn, &qr_Customer_table);
  assert_int_equal(pb_plan_join(&p, right, t, EQ(F(0, C_ID), F(1, O_CUSTOMER))),
                   PB_OK);
  return p;
}

static const char *const want_co[4] = {
    "c1,o10 c1,o11 c2,o12 c3,o13",
    "c1,o10 c1,o11 c2,o12 c3,o13 c4,-",
    "c1,o10 c1,o11 c2,o12 c3,o13 -,o14",
    "c1,o10 c1,o11 c2,o12 c3,o13 c4,- -,o14",
};

/* The optimizer's choice: an index nested loop on orders' index
 * `customer (customer, qty)` for INNER and LEFT (a customer's orders then
 * come in the index's order: by qty, so o11 before o10); RIGHT and FULL
 * take the hash join (they must find the orders no customer matched). */
static void join_types_chosen(void **state) {
  (void)state;
  pb_txn *txn = begin();
  expect(cust_orders(txn, from(txn, &qr_Order_table), PB_JOIN_INNER),
         "c1,o11 c1,o10 c2,o12 c3,o13", "IndexJoin");
  expect(cust_orders(txn, from(txn, &qr_Order_table), PB_JOIN_LEFT),
         "c1,o11 c1,o10 c2,o12 c3,o13 c4,-", "IndexJoin");
  for (int t = 2; t < 4; t++)
    expect(cust_orders(txn, from(txn, &qr_Order_table), (pb_join_type)t),
           want_co[t], "HashJoin");
  pb_plan *p = cust_orders(txn, from(txn, &qr_Order_table), PB_JOIN_LEFT);
  const char *e = explain(p);
  assert_has(e, "IndexJoin LEFT (index nested loop: per left row, a lookup in qr.Order index customer)");
  assert_has(e, "on s0.id = s1.customer");
  pb_plan_free(p);
  pb_txn_abort(txn);
}

/* The same four joins by hash: the right side is not a plain table scan
 * (a Distinct over it). */
static void join_types_hash(void **state) {
  (void)state;
  pb_txn *txn = begin();
  for (int t = 0; t < 4; t++) {
    pb_plan *r = from(txn, &qr_Order_table);
    assert_int_equal(pb_plan_distinct(&r), PB_OK);
    expect(cust_orders(txn, r, (pb_join_type)t), want_co[t], "HashJoin");
  }
  pb_txn_abort(txn);
}

/* And by nested loop: `c.id <= o.customer AND c.id >= o.customer` has no
 * equality term. */
static void join_types_loop(void **state) {
  (void)state;
  pb_txn *txn = begin();
  for (int t = 0; t < 4; t++) {
    pb_plan *p = from(txn, &qr_Customer_table);
    pb_expr *on = pb_expr_and(pb_expr_cmp(PB_LE, F(0, C_ID), F(1, O_CUSTOMER)),
                              pb_expr_cmp(PB_GE, F(0, C_ID), F(1, O_CUSTOMER)));
    assert_int_equal(
        pb_plan_join(&p, from(txn, &qr_Order_table), (pb_join_type)t, on),
        PB_OK);
    expect(p, want_co[t], "NestedLoopJoin");
  }
  pb_txn_abort(txn);
}

/* Following a ref: orders JOIN customers ON o.customer = c.id is a lookup
 * by the customers' primary key; order 14's customer does not exist. */
static void join_ref_primary_key(void **state) {
  (void)state;
  pb_txn *txn = begin();
  static const char *const want[4] = {
      "o10,c1 o11,c1 o12,c2 o13,c3",
      "o10,c1 o11,c1 o12,c2 o13,c3 o14,-",
      "o10,c1 o11,c1 o12,c2 o13,c3 -,c4",
      "o10,c1 o11,c1 o12,c2 o13,c3 o14,- -,c4",
  };
  for (int t = 0; t < 4; t++) {
    pb_plan *p = from(txn, &qr_Order_table);
    assert_int_equal(pb_plan_join(&p, from(txn, &qr_Customer_table),
                                  (pb_join_type)t,
                                  EQ(F(0, O_CUSTOMER), F(1, C_ID))),
                     PB_OK);
    expect(p, want[t],
           t < 2 ? "a lookup in qr.Customer by primary key)"
                 : "HashJoin");
  }
  pb_txn_abort(txn);
}

/* Three tables: (customers LEFT JOIN orders) JOIN products on the order's
 * sku (the products' string key), then a FULL join at the second level. */
static void join_three_tables(void **state) {
  (void)state;
  pb_txn *txn = begin();
  pb_plan *p = cust_orders(txn, from(txn, &qr_Order_table), PB_JOIN_LEFT);
  assert_int_equal(pb_plan_join(&p, from(txn, &qr_Product_table),
                                PB_JOIN_INNER, EQ(F(1, O_SKU), F(2, P_SKU))),
                   PB_OK);
  expect(p, "c1,o11,pB c1,o10,pA c2,o12,pA c3,o13,pC", "by primary key");

  p = cust_orders(txn, from(txn, &qr_Order_table), PB_JOIN_LEFT);
  assert_int_equal(pb_plan_join(&p, from(txn, &qr_Product_table),
                                PB_JOIN_LEFT, EQ(F(1, O_SKU), F(2, P_SKU))),
                   PB_OK);
  expect(p, "c1,o11,pB c1,o10,pA c2,o12,pA c3,o13,pC c4,-,-", "IndexJoin");

  p = cust_orders(txn, from(txn, &qr_Order_table), PB_JOIN_FULL);
  assert_int_equal(pb_plan_join(&p, from(txn, &qr_Product_table),
                                PB_JOIN_FULL, EQ(F(1, O_SKU), F(2, P_SKU))),
                   PB_OK);
  expect(p, "c1,o10,pA c1,o11,pB c2,o12,pA c3,o13,pC c4,-,- -,o14,pB -,-,pD",
         "HashJoin FULL");
  pb_txn_abort(txn);
}

/* A residual term beside the equality, and NULL never equal: customers
 * joined with customers on credit (Bob has none, so he matches no one,
 * not even himself). */
static void join_residual_and_null(void **state) {
  (void)state;
  pb_txn *txn = begin();
  pb_plan *p = from(txn, &qr_Customer_table);
  pb_plan *r = from(txn, &qr_Customer_table);
  assert_int_equal(pb_plan_join(&p, r, PB_JOIN_LEFT,
                                EQ(F(0, C_CREDIT), F(1, C_CREDIT))),
                   PB_OK);
  expect(p, "c1,c1 c2,- c3,c3 c4,c4", "HashJoin LEFT");

  p = from(txn, &qr_Customer_table);
  assert_int_equal(
      pb_plan_join(&p, from(txn, &qr_Order_table), PB_JOIN_LEFT,
                   pb_expr_and(EQ(F(0, C_ID), F(1, O_CUSTOMER)),
                               pb_expr_cmp(PB_GT, F(1, O_QTY), CI(1)))),
      PB_OK);
  expect(p, "c1,o10 c2,o12 c3,- c4,-", "IndexJoin LEFT");

  p = from(txn, &qr_Customer_table);
  r = from(txn, &qr_Order_table);
  assert_int_equal(pb_plan_distinct(&r), PB_OK);
  assert_int_equal(
      pb_plan_join(&p, r, PB_JOIN_FULL,
                   pb_expr_and(EQ(F(0, C_ID), F(1, O_CUSTOMER)),
                               pb_expr_cmp(PB_GT, F(1, O_QTY), CI(1)))),
      PB_OK);
  expect(p, "c1,o10 c2,o12 c3,- c4,- -,o11 -,o13 -,o14", "HashJoin FULL");
  pb_txn_abort(txn);
}

/* ON TRUE: every pair (16), by nested loop; then a Distinct keeps
 * them all (the sources differ). */
static void join_cross(void **state) {
  (void)state;
  pb_txn *txn = begin();
  pb_plan *p = from(txn, &qr_Customer_table);
  assert_int_equal(
      pb_plan_join(&p, from(txn, &qr_Product_table), PB_JOIN_INNER,
                   pb_expr_const(pb_qbool(true))),
      PB_OK);
  assert_int_equal(pb_plan_distinct(&p), PB_OK);
  expect(p,
         "c1,pA c1,pB c1,pC c1,pD c2,pA c2,pB c2,pC c2,pD "
         "c3,pA c3,pB c3,pC c3,pD c4,pA c4,pB c4,pC c4,pD",
         "NestedLoopJoin INNER (nested loop) on TRUE");
  pb_txn_abort(txn);
}

static void join_build_errors(void **state) {
  (void)state;
  pb_txn *txn = begin();
  pb_plan *p = from(txn, &qr_Customer_table), *keep = p;
  /* A string with an integer: both sides named. */
  assert_int_equal(pb_plan_join(&p, from(txn, &qr_Order_table), PB_JOIN_INNER,
                                EQ(F(0, C_NAME), F(1, O_QTY))),
                   PB_EINVAL);
  assert_has(pb_errdetail(), "Join");
  assert_has(pb_errdetail(), "name");
  assert_has(pb_errdetail(), "qty");
  assert_ptr_equal(p, keep);
  /* A field the joined rows do not have (source 2). */
  assert_int_equal(pb_plan_join(&p, from(txn, &qr_Order_table), PB_JOIN_INNER,
                                EQ(F(0, C_ID), F(2, O_ID))),
                   PB_EINVAL);
  assert_has(pb_errdetail(), "Join");
  /* Not a predicate, a bad type, no right side. */
  assert_int_equal(
      pb_plan_join(&p, from(txn, &qr_Order_table), PB_JOIN_INNER, F(0, C_ID)),
      PB_EINVAL);
  assert_int_equal(pb_plan_join(&p, from(txn, &qr_Order_table),
                                (pb_join_type)7, NULL),
                   PB_EINVAL);
  assert_int_equal(pb_plan_join(&p, NULL, PB_JOIN_INNER, NULL), PB_EINVAL);
  /* A NULL condition is a constructor that ran out of memory, never a
   * cross join. */
  assert_int_equal(
      pb_plan_join(&p, from(txn, &qr_Order_table), PB_JOIN_INNER, NULL),
      PB_ENOMEM);
  assert_has(pb_errdetail(), "Join");
  assert_ptr_equal(p, keep);
  expect(p, "c1 c2 c3 c4", NULL); /* the plan still works */
  pb_txn_abort(txn);
}

/* A hash join holds its right side: past the budget, PB_ENOMEM. */
static void join_memory_budget(void **state) {
  (void)state;
  pb_txn *txn = begin();
  pb_plan *p = from(txn, &qr_Customer_table);
  pb_plan *r = from(txn, &qr_Line_table);
  assert_int_equal(pb_plan_join(&p, r, PB_JOIN_INNER,
                                EQ(F(0, C_ID), F(1, L_A))),
                   PB_OK);
  assert_int_equal(pb_plan_set_memory(p, 4096), PB_OK);
  pb_row row;
  assert_int_equal(pb_plan_next(p, &row), PB_ENOMEM);
  assert_has(pb_errdetail(), "Join");
  assert_has(pb_errdetail(), "memory budget");
  assert_int_equal(pb_plan_next(p, &row), PB_ENOMEM);
  pb_plan_free(p);
  pb_txn_abort(txn);
}

/* --- GroupBy --- */

static pb_plan *orders_by_customer(pb_txn *txn) {
  pb_plan *p = from(txn, &qr_Order_table);
  pb_expr *keys[1] = {F(0, O_CUSTOMER)};
  pb_agg aggs[7] = {{PB_AGG_SUM, F(0, O_QTY)},    {PB_AGG_COUNT_ALL, NULL},
                    {PB_AGG_COUNT, F(0, O_NOTE)}, {PB_AGG_MIN, F(0, O_AMOUNT)},
                    {PB_AGG_MAX, F(0, O_AMOUNT)}, {PB_AGG_AVG, F(0, O_AMOUNT)},
                    {PB_AGG_MAX, F(0, O_NOTE)}};
  assert_int_equal(pb_plan_group_by(&p, keys, 1, aggs, 7), PB_OK);
  return p;
}

static void group_by_aggregates(void **state) {
  (void)state;
  pb_txn *txn = begin();
  expect(orders_by_customer(txn),
         "1,3,2,0,5.5,10,7.75,NULL 2,5,1,0,25,25,25,NULL "
         "3,1,1,1,7,7,7,'gift' 9,3,1,0,16.5,16.5,16.5,NULL",
         "GroupBy (hash) by customer; SUM(qty), COUNT(*), COUNT(note)");

  /* Having: COUNT(*) > 1, then SUM(qty) >= 3 over all. */
  pb_plan *p = orders_by_customer(txn);
  assert_int_equal(pb_plan_where(&p, pb_expr_cmp(PB_GT, pb_expr_col(2), CI(1))),
                   PB_OK);
  expect(p, "1,3,2,0,5.5,10,7.75,NULL", NULL);
  p = orders_by_customer(txn);
  assert_int_equal(pb_plan_where(&p, pb_expr_cmp(PB_GE, pb_expr_col(1), CI(3))),
                   PB_OK);
  expect(p,
         "1,3,2,0,5.5,10,7.75,NULL 2,5,1,0,25,25,25,NULL "
         "9,3,1,0,16.5,16.5,16.5,NULL",
         NULL);

  /* Keys in key order, NULL first: customers by credit (Bob: none), and
   * by a string. */
  p = from(txn, &qr_Customer_table);
  pb_expr *k1[1] = {F(0, C_CREDIT)};
  pb_agg a1[1] = {{PB_AGG_COUNT_ALL, NULL}};
  assert_int_equal(pb_plan_group_by(&p, k1, 1, a1, 1), PB_OK);
  expect(p, "NULL,1 50,1 70,1 100,1", NULL);
  p = from(txn, &qr_Customer_table);
  pb_expr *k2[1] = {F(0, C_CITY)};
  pb_agg a2[3] = {{PB_AGG_COUNT, F(0, C_CREDIT)},
                  {PB_AGG_SUM, F(0, C_CREDIT)},
                  {PB_AGG_MIN, F(0, C_NAME)}};
  assert_int_equal(pb_plan_group_by(&p, k2, 1, a2, 3), PB_OK);
  expect(p, "'London',2,150,'Ada' 'Paris',0,NULL,'Bob' 'Rome',1,70,'Dee'",
         NULL);

  /* No key: one row over all. */
  p = from(txn, &qr_Order_table);
  pb_agg a3[3] = {{PB_AGG_SUM, F(0, O_AMOUNT)},
                  {PB_AGG_COUNT_ALL, NULL},
                  {PB_AGG_AVG, F(0, O_QTY)}};
  assert_int_equal(pb_plan_group_by(&p, NULL, 0, a3, 3), PB_OK);
  expect(p, "64,5,2.4", NULL);
  /* Two keys. */
  p = from(txn, &qr_Order_table);
  pb_expr *k4[2] = {F(0, O_SKU), F(0, O_CUSTOMER)};
  pb_agg a4[1] = {{PB_AGG_SUM, F(0, O_AMOUNT)}};
  assert_int_equal(pb_plan_group_by(&p, k4, 2, a4, 1), PB_OK);
  expect(p, "'A',1,10 'A',2,25 'B',1,5.5 'B',9,16.5 'C',3,7", NULL);
  pb_txn_abort(txn);
}

/* Over no rows: without keys one row (COUNT 0, the rest NULL); with keys
 * none. */
static void group_by_empty(void **state) {
  (void)state;
  pb_txn *txn = begin();
  pb_plan *p = from(txn, &qr_Order_table);
  assert_int_equal(pb_plan_where(&p, pb_expr_cmp(PB_GT, F(0, O_QTY), CI(100))),
                   PB_OK);
  pb_agg aggs[6] = {{PB_AGG_COUNT_ALL, NULL},         {PB_AGG_COUNT, F(0, O_QTY)},
                    {PB_AGG_SUM, F(0, O_QTY)},    {PB_AGG_AVG, F(0, O_QTY)},
                    {PB_AGG_MIN, F(0, O_AMOUNT)}, {PB_AGG_MAX, F(0, O_SKU)}};
  assert_int_equal(pb_plan_group_by(&p, NULL, 0, aggs, 6), PB_OK);
  expect(p, "0,0,NULL,NULL,NULL,NULL", NULL);

  p = from(txn, &qr_Order_table);
  assert_int_equal(pb_plan_where(&p, pb_expr_cmp(PB_GT, F(0, O_QTY), CI(100))),
                   PB_OK);
  pb_expr *keys[1] = {F(0, O_SKU)};
  pb_agg a2[1] = {{PB_AGG_COUNT_ALL, NULL}};
  assert_int_equal(pb_plan_group_by(&p, keys, 1, a2, 1), PB_OK);
  expect(p, "", NULL);
  /* Keys only (no aggregate): the distinct keys in order. */
  p = from(txn, &qr_Order_table);
  pb_expr *k3[1] = {F(0, O_SKU)};
  assert_int_equal(pb_plan_group_by(&p, k3, 1, NULL, 0), PB_OK);
  expect(p, "'A' 'B' 'C'", NULL);
  pb_txn_abort(txn);
}

/* SUM of integers leaving int64: PB_ERANGE from pb_plan_next (SQLite's
 * "integer overflow"); AVG of the same is a FLOAT. */
static void group_by_sum_overflow(void **state) {
  (void)state;
  pb_test_filedb d2;
  assert_int_equal(pb_test_filedb_open(&d2, PB_DURABILITY_SYNC), PB_OK);
  pb_txn *txn;
  assert_int_equal(pb_txn_begin(d2.db, 0, &txn), PB_OK);
  for (int i = 0; i < 3; i++) {
    qr_Line l;
    qr_Line_init(&l);
    l.a = i < 2 ? INT64_MAX : -INT64_MAX;
    l.b = i < 2 ? INT64_MAX / 2 : 1;
    uint64_t id;
    assert_int_equal(pb_table_insert(txn, &qr_Line_table, &l, &id), PB_OK);
  }
  pb_plan *p = from(txn, &qr_Line_table);
  pb_agg a[1] = {{PB_AGG_SUM, F(0, L_A)}};
  assert_int_equal(pb_plan_group_by(&p, NULL, 0, a, 1), PB_OK);
  pb_row row;
  assert_int_equal(pb_plan_next(p, &row), PB_ERANGE);
  assert_has(pb_errdetail(), "overflow");
  assert_int_equal(pb_plan_next(p, &row), PB_ERANGE);
  pb_plan_free(p);
  /* INT64_MAX/2 * 2 + 1 fits exactly. */
  p = from(txn, &qr_Line_table);
  pb_agg b[2] = {{PB_AGG_SUM, F(0, L_B)}, {PB_AGG_AVG, F(0, L_A)}};
  assert_int_equal(pb_plan_group_by(&p, NULL, 0, b, 2), PB_OK);
  assert_int_equal(pb_plan_next(p, &row), PB_OK);
  assert_int_equal(row.cols[0].type, PB_QINT);
  assert_int_equal(row.cols[0].as.i, INT64_MAX);
  assert_int_equal(row.cols[1].type, PB_QFLOAT);
  assert_true(row.cols[1].as.f > 3.0e18 && row.cols[1].as.f < 3.1e18);
  pb_plan_free(p);
  pb_txn_abort(txn);
  assert_int_equal(pb_test_filedb_close(&d2), PB_OK);
}

static void group_by_build_errors(void **state) {
  (void)state;
  pb_txn *txn = begin();
  pb_plan *p = from(txn, &qr_Order_table), *keep = p;
  pb_agg c0[1] = {{PB_AGG_COUNT_ALL, NULL}};
  assert_int_equal(pb_plan_group_by(&p, NULL, 0, NULL, 0), PB_EINVAL);
  assert_has(pb_errdetail(), "GroupBy");
  pb_agg s[1] = {{PB_AGG_SUM, F(0, O_SKU)}};
  assert_int_equal(pb_plan_group_by(&p, NULL, 0, s, 1), PB_EINVAL);
  assert_has(pb_errdetail(), "GroupBy");
  assert_has(pb_errdetail(), "SUM(sku)");
  pb_agg a[1] = {{PB_AGG_AVG, F(0, O_NOTE)}};
  assert_int_equal(pb_plan_group_by(&p, NULL, 0, a, 1), PB_EINVAL);
  assert_has(pb_errdetail(), "AVG(note)");
  /* A NULL argument is an expression that ran out of memory, COUNT's
   * too (COUNT(*) is PB_AGG_COUNT_ALL, which takes none). */
  pb_agg m[1] = {{PB_AGG_MIN, NULL}};
  assert_int_equal(pb_plan_group_by(&p, NULL, 0, m, 1), PB_ENOMEM);
  pb_agg cn[1] = {{PB_AGG_COUNT, NULL}};
  assert_int_equal(pb_plan_group_by(&p, NULL, 0, cn, 1), PB_ENOMEM);
  pb_agg ca[1] = {{PB_AGG_COUNT_ALL, F(0, O_QTY)}};
  assert_int_equal(pb_plan_group_by(&p, NULL, 0, ca, 1), PB_EINVAL);
  assert_has(pb_errdetail(), "COUNT(*)");
  pb_expr *nk[1] = {NULL};
  assert_int_equal(pb_plan_group_by(&p, nk, 1, c0, 1), PB_ENOMEM);
  pb_expr *k[1] = {F(0, 99)};
  pb_agg c[1] = {{PB_AGG_COUNT_ALL, NULL}};
  assert_int_equal(pb_plan_group_by(&p, k, 1, c, 1), PB_EINVAL);
  assert_has(pb_errdetail(), "GroupBy");
  pb_agg bad[1] = {{(pb_agg_fn)9, F(0, O_QTY)}};
  assert_int_equal(pb_plan_group_by(&p, NULL, 0, bad, 1), PB_EINVAL);
  assert_ptr_equal(p, keep);
  pb_plan_free(p);
  pb_txn_abort(txn);
}

/* --- OrderBy, Limit, Offset, Distinct --- */

static pb_plan *sorted(pb_plan *p, pb_expr *e1, unsigned d1, pb_expr *e2,
                       unsigned d2) {
  pb_sort_key k[2] = {{e1, d1}, {e2, d2}};
  assert_int_equal(pb_plan_order_by(&p, k, e2 ? 2 : 1), PB_OK);
  return p;
}

static void order_by_stable(void **state) {
  (void)state;
  pb_txn *txn = begin();
  /* qty: o10 2, o11 1, o12 5, o13 1, o14 3: the two 1s keep their order
   * both ways. */
  expect(sorted(from(txn, &qr_Order_table), F(0, O_QTY), PB_ASC, NULL, 0),
         "o11 o13 o10 o14 o12", "OrderBy by qty ASC");
  expect(sorted(from(txn, &qr_Order_table), F(0, O_QTY), PB_DESC, NULL, 0),
         "o12 o14 o10 o11 o13", "OrderBy by qty DESC");
  /* Two keys, mixed. */
  expect(sorted(from(txn, &qr_Order_table), F(0, O_SKU), PB_ASC,
                F(0, O_AMOUNT), PB_DESC),
         "o12 o10 o14 o11 o13", "by sku ASC, amount DESC");
  expect(sorted(from(txn, &qr_Order_table), F(0, O_SKU), PB_DESC,
                F(0, O_AMOUNT), PB_ASC),
         "o13 o11 o14 o10 o12", NULL);
  /* NULL first ascending, last descending. */
  expect(sorted(from(txn, &qr_Customer_table), F(0, C_CREDIT), PB_ASC, NULL,
                0),
         "c2 c3 c4 c1", NULL);
  expect(sorted(from(txn, &qr_Customer_table), F(0, C_CREDIT), PB_DESC, NULL,
                0),
         "c1 c4 c3 c2", NULL);
  /* Over a join's rows and over columns (a GroupBy's). */
  expect(sorted(cust_orders(txn, from(txn, &qr_Order_table), PB_JOIN_FULL),
                F(1, O_AMOUNT), PB_DESC, F(0, C_ID), PB_DESC),
         "c2,o12 -,o14 c1,o10 c3,o13 c1,o11 c4,-", NULL);
  pb_plan *g = orders_by_customer(txn);
  expect(sorted(g, pb_expr_col(1), PB_DESC, NULL, 0),
         "2,5,1,0,25,25,25,NULL 1,3,2,0,5.5,10,7.75,NULL "
         "9,3,1,0,16.5,16.5,16.5,NULL 3,1,1,1,7,7,7,'gift'",
         NULL);
  pb_txn_abort(txn);
}

/* Limit and Offset apply where they stand. */
static void limit_offset_around_order_by(void **state) {
  (void)state;
  pb_txn *txn = begin();
  pb_plan *p = from(txn, &qr_Order_table);
  assert_int_equal(pb_plan_limit(&p, 3), PB_OK);
  expect(sorted(p, F(0, O_QTY), PB_ASC, NULL, 0), "o11 o10 o12", NULL);
  p = sorted(from(txn, &qr_Order_table), F(0, O_QTY), PB_ASC, NULL, 0);
  assert_int_equal(pb_plan_limit(&p, 3), PB_OK);
  expect(p, "o11 o13 o10", NULL);
  p = from(txn, &qr_Order_table);
  assert_int_equal(pb_plan_offset(&p, 2), PB_OK);
  expect(sorted(p, F(0, O_QTY), PB_ASC, NULL, 0), "o13 o14 o12", NULL);
  p = sorted(from(txn, &qr_Order_table), F(0, O_QTY), PB_ASC, NULL, 0);
  assert_int_equal(pb_plan_offset(&p, 2), PB_OK);
  expect(p, "o10 o14 o12", NULL);
  p = sorted(from(txn, &qr_Order_table), F(0, O_QTY), PB_ASC, NULL, 0);
  assert_int_equal(pb_plan_offset(&p, 1), PB_OK);
  assert_int_equal(pb_plan_limit(&p, 2), PB_OK);
  expect(p, "o13 o10", NULL);
  pb_txn_abort(txn);
}

/* The ids of lines in the plan's order (up to cap). */
static size_t line_ids(pb_plan *p, uint64_t *ids, size_t cap) {
  size_t n = 0;
  pb_row r;
  int rc;
  while ((rc = pb_plan_next(p, &r)) == PB_OK) {
    assert_true(n < cap);
    ids[n] = r.ids[0];
    /* The record decodes whole, also from a run file. */
    const qr_Line *l = r.recs[0];
    char s[64];
    snprintf(s, sizeof s, "line %05d with some text to fill the rows",
             (int)l->b);
    assert_int_equal(l->s.len, strlen(s));
    assert_memory_equal(l->s.ptr, s, l->s.len);
    assert_int_equal(l->arr.count, 2);
    assert_int_equal(l->arr.items[0], 7);
    assert_int_equal(l->arr.items[1], -7);
    assert_int_equal((uint64_t)l->b + 1, ids[n]);
    n++;
  }
  assert_int_equal(rc, PB_ENOTFOUND);
  return n;
}

/* A reference sort of the lines by (a ASC, s DESC), stable: computed
 * here from the rows in id order. */
static pb_plan *lines_sorted(pb_txn *txn) {
  return sorted(from(txn, &qr_Line_table), F(0, L_A), PB_ASC, NULL, 0);
}

/* top-N (pb__sort_set_limit, a heap) equals the full sort's first N, ties
 * included. */
static void top_n_equals_full_sort(void **state) {
  (void)state;
  pb_txn *txn = begin();
  static uint64_t full[4000], top[4000];
  pb_plan *p = lines_sorted(txn);
  size_t n = line_ids(p, full, 4000);
  assert_int_equal(n, 3000);
  pb_plan_free(p);
  /* Stable: ids ascending within equal a. */
  for (size_t lim = 0; lim <= 200; lim += 50) {
    p = lines_sorted(txn);
    pb__sort_set_limit(p, lim ? lim : 1);
    assert_has(explain(p), "(heap)");
    size_t m = line_ids(p, top, 4000);
    assert_int_equal(m, lim ? lim : 1);
    assert_memory_equal(top, full, m * sizeof *top);
    pb_plan_free(p);
  }
  /* Through Limit over OrderBy, whatever the optimizer makes of it. */
  p = lines_sorted(txn);
  assert_int_equal(pb_plan_limit(&p, 75), PB_OK);
  assert_int_equal(line_ids(p, top, 4000), 75);
  assert_memory_equal(top, full, 75 * sizeof *top);
  pb_plan_free(p);
  pb_txn_abort(txn);
}

/* Files named pbsort-* in dir. */
static int sort_files(const char *dir) {
  DIR *d = opendir(dir);
  assert_non_null(d);
  int n = 0;
  struct dirent *e;
  while ((e = readdir(d)) != NULL)
    if (strncmp(e->d_name, "pbsort-", 7) == 0) n++;
  closedir(d);
  return n;
}

/* A budget far below the rows: runs in files in the database directory,
 * merged in more than one pass; the same order as in memory; the files
 * gone after free. */
static void external_sort(void **state) {
  (void)state;
  pb_txn *txn = begin();
  static uint64_t mem[4000], ext[4000];
  pb_plan *p = lines_sorted(txn);
  assert_int_equal(line_ids(p, mem, 4000), 3000);
  pb_plan_free(p);
  /* Check the reference: a ascending, ids ascending among equal a. */
  for (int budget = 8 << 10; budget <= 64 << 10; budget *= 8) {
    p = lines_sorted(txn);
    assert_int_equal(pb_plan_set_memory(p, (size_t)budget), PB_OK);
    pb_row r;
    assert_int_equal(pb_plan_next(p, &r), PB_OK);
    assert_true(sort_files(db.dir) > 0);
    ext[0] = r.ids[0];
    size_t n = 1 + line_ids(p, ext + 1, 3999);
    assert_int_equal(n, 3000);
    assert_memory_equal(ext, mem, n * sizeof *ext);
    assert_has(explain(p), "external");
    pb_plan_free(p);
    assert_int_equal(sort_files(db.dir), 0);
  }
  /* Two keys, descending, and a top-N that outgrows the budget. */
  p = sorted(from(txn, &qr_Line_table), F(0, L_A), PB_DESC, F(0, L_B), PB_ASC);
  assert_int_equal(line_ids(p, mem, 4000), 3000);
  pb_plan_free(p);
  p = sorted(from(txn, &qr_Line_table), F(0, L_A), PB_DESC, F(0, L_B), PB_ASC);
  pb__sort_set_limit(p, 2000);
  assert_int_equal(pb_plan_set_memory(p, 16 << 10), PB_OK);
  assert_int_equal(line_ids(p, ext, 4000), 2000);
  assert_memory_equal(ext, mem, 2000 * sizeof *ext);
  pb_plan_free(p);
  assert_int_equal(sort_files(db.dir), 0);
  pb_txn_abort(txn);
}

/* Rows from an external sort live until the next call: nodes that hold
 * them copy them deep (re-encoded).  A hash join holding a filtered
 * external sort as its right side, and an OrderBy over an external
 * OrderBy (which spills those copies again). */
static void external_sort_held_above(void **state) {
  (void)state;
  pb_txn *txn = begin();
  pb_plan *r = lines_sorted(txn);
  assert_int_equal(
      pb_plan_where(&r, pb_expr_between(F(0, L_A), CI(1), CI(2), 0)), PB_OK);
  pb_plan *p = from(txn, &qr_Customer_table);
  assert_int_equal(pb_plan_join(&p, r, PB_JOIN_INNER, EQ(F(0, C_ID), F(1, L_A))),
                   PB_OK);
  /* The sort (3000 rows) spills; the join holds about 150 rows. */
  assert_int_equal(pb_plan_set_memory(p, 64 << 10), PB_OK);
  pb_row row;
  size_t n = 0;
  int64_t last_c = 0, last_b = -1;
  int rc;
  while ((rc = pb_plan_next(p, &row)) == PB_OK) {
    const qr_Customer *c = row.recs[0];
    const qr_Line *l = row.recs[1];
    assert_int_equal(l->a, (int64_t)c->id);
    assert_true((int64_t)c->id >= last_c);
    if ((int64_t)c->id != last_c) last_b = -1;
    assert_true(l->b > last_b); /* stable: insertion order within a */
    last_c = (int64_t)c->id;
    last_b = l->b;
    char s[64];
    snprintf(s, sizeof s, "line %05d with some text to fill the rows",
             (int)l->b);
    assert_int_equal(l->s.len, strlen(s));
    assert_memory_equal(l->s.ptr, s, l->s.len);
    assert_int_equal(l->arr.count, 2);
    assert_int_equal(l->arr.items[1], -7);
    n++;
  }
  assert_int_equal(rc, PB_ENOTFOUND);
  assert_true(n > 100);
  assert_has(explain(p), "external");
  pb_plan_free(p);
  assert_int_equal(sort_files(db.dir), 0);

  /* By b descending over a sort by a: ids 3000 down to 1. */
  p = sorted(lines_sorted(txn), F(0, L_B), PB_DESC, NULL, 0);
  assert_int_equal(pb_plan_set_memory(p, 8 << 10), PB_OK);
  static uint64_t ids[4000];
  assert_int_equal(line_ids(p, ids, 4000), 3000);
  for (size_t i = 0; i < 3000; i++) assert_int_equal(ids[i], 3000 - i);
  const char *e = explain(p);
  const char *first = strstr(e, "external");
  assert_non_null(first);
  assert_non_null(strstr(first + 1, "external"));
  pb_plan_free(p);
  assert_int_equal(sort_files(db.dir), 0);
  pb_txn_abort(txn);
}

/* A key computed in C that fails after 2000 rows: the runs written so far
 * stay until the plan is freed, then are removed. */
static int failing_key(const pb_row *row, void *ctx, pb_qval *out) {
  int *calls = ctx;
  if (++*calls > 2000) return PB_EIO;
  *out = pb_qint(((const qr_Line *)row->recs[0])->a);
  return PB_OK;
}

static void external_sort_error_cleanup(void **state) {
  (void)state;
  pb_txn *txn = begin();
  int calls = 0;
  pb_plan *p = sorted(from(txn, &qr_Line_table),
                      pb_expr_fn(PB_QINT, failing_key, &calls), PB_ASC, NULL,
                      0);
  assert_int_equal(pb_plan_set_memory(p, 8 << 10), PB_OK);
  pb_row r;
  assert_int_equal(pb_plan_next(p, &r), PB_EIO);
  assert_int_equal(pb_plan_next(p, &r), PB_EIO);
  assert_true(sort_files(db.dir) > 0);
  pb_plan_free(p);
  assert_int_equal(sort_files(db.dir), 0);
  pb_txn_abort(txn);
}

/* On the simulated disk: the runs go through the storage's own I/O layer;
 * ENOSPC and EIO injected into their writes give a clean error naming the
 * file, and no file is left. */
static int count_sim(void *arg, const char *name) {
  if (strncmp(name, "pbsort-", 7) == 0) ++*(int *)arg;
  return 0;
}

static int sim_sort_files(pb__simfs *sim) {
  int n = 0;
  const pb__io *io = pb__simfs_io(sim);
  assert_int_equal(io->list_dir(io, "/db", count_sim, &n), PB_OK);
  return n;
}

static void external_sort_faults(void **state) {
  (void)state;
  pb__simfs *sim = pb__simfs_new();
  assert_non_null(sim);
  const pb__io *io = pb__simfs_io(sim);
  assert_int_equal(io->mkdir(io, "/db"), PB_OK);
  pb_file_options fo;
  pb_file_options_init(&fo);
  char msg[256];
  pb_storage *st;
  assert_int_equal(pb__file_storage_open("/db", &fo, io, msg, sizeof msg, &st),
                   PB_OK);
  pb_space *sp;
  pb_db *d;
  assert_int_equal(pb_space_open(st, &sp), PB_OK);
  assert_int_equal(pb_db_open(sp, "main", PB_CREATE, &d), PB_OK);
  assert_int_equal(fill_lines(d, 1000, 10), PB_OK);

  static uint64_t mem[1000], ext[1000];
  pb_txn *txn;
  assert_int_equal(pb_txn_begin(d, PB_RDONLY, &txn), PB_OK);
  pb_plan *p = lines_sorted(txn);
  assert_int_equal(line_ids(p, mem, 1000), 1000);
  pb_plan_free(p);
  /* Without a fault: the same order, the runs written through simfs. */
  pb__simfs_reset_counts(sim);
  p = lines_sorted(txn);
  assert_int_equal(pb_plan_set_memory(p, 8 << 10), PB_OK);
  assert_int_equal(line_ids(p, ext, 1000), 1000);
  assert_memory_equal(ext, mem, sizeof mem);
  pb__simfs_counts c;
  pb__simfs_counts_get(sim, &c);
  assert_true(c.pwrite > 0);
  assert_true(sim_sort_files(sim) > 0);
  pb_plan_free(p);
  assert_int_equal(sim_sort_files(sim), 0);

  static const struct {
    int code;
    unsigned nth;
    size_t partial;
  } faults[] = {{PB_ENOSPC, 1, 100}, {PB_EIO, 3, 0}, {PB_ENOSPC, 12, 7}};
  for (size_t i = 0; i < 3; i++) {
    p = lines_sorted(txn);
    assert_int_equal(pb_plan_set_memory(p, 8 << 10), PB_OK);
    pb__simfs_fail(sim, PB__SIMFS_PWRITE, faults[i].nth, faults[i].code,
                   faults[i].partial);
    pb_row r;
    assert_int_equal(pb_plan_next(p, &r), faults[i].code);
    assert_has(pb_errdetail(), "OrderBy");
    assert_has(pb_errdetail(), "/db/pbsort-");
    assert_int_equal(pb_plan_next(p, &r), faults[i].code);
    pb_plan_free(p);
    assert_false(pb__simfs_fault_pending(sim, PB__SIMFS_PWRITE));
    assert_int_equal(sim_sort_files(sim), 0);
  }
  /* A full disk (a byte budget) from the start. */
  pb__simfs_set_space(sim, pb__simfs_space_used(sim) + 20000);
  p = lines_sorted(txn);
  assert_int_equal(pb_plan_set_memory(p, 8 << 10), PB_OK);
  pb_row r;
  assert_int_equal(pb_plan_next(p, &r), PB_ENOSPC);
  pb_plan_free(p);
  assert_int_equal(sim_sort_files(sim), 0);
  pb__simfs_set_space(sim, UINT64_MAX);
  /* And the database is untouched: the sort works again. */
  p = lines_sorted(txn);
  assert_int_equal(pb_plan_set_memory(p, 8 << 10), PB_OK);
  assert_int_equal(line_ids(p, ext, 1000), 1000);
  assert_memory_equal(ext, mem, sizeof mem);
  pb_plan_free(p);
  pb_txn_abort(txn);
  assert_int_equal(pb_db_close(d), PB_OK);
  assert_int_equal(pb_space_close(sp), PB_OK);
  pb__simfs_free(sim);
}

/* On the memory tier there is no database directory: the runs go to
 * $TMPDIR. */
static void external_sort_memory_tier(void **state) {
  (void)state;
  char *tmp = pb_test_tmpdir();
  const char *old = getenv("TMPDIR");
  char *saved = old ? strdup(old) : NULL;
  assert_int_equal(setenv("TMPDIR", tmp, 1), 0);
  pb_storage *st;
  pb_space *sp;
  pb_db *d;
  assert_int_equal(pb_storage_open_memory(&st), PB_OK);
  assert_int_equal(pb_space_open(st, &sp), PB_OK);
  assert_int_equal(pb_db_open(sp, "main", PB_CREATE, &d), PB_OK);
  assert_int_equal(fill_lines(d, 600, 7), PB_OK);
  pb_txn *txn;
  assert_int_equal(pb_txn_begin(d, PB_RDONLY, &txn), PB_OK);
  static uint64_t mem[600], ext[600];
  pb_plan *p = lines_sorted(txn);
  assert_int_equal(line_ids(p, mem, 600), 600);
  pb_plan_free(p);
  p = lines_sorted(txn);
  assert_int_equal(pb_plan_set_memory(p, 4 << 10), PB_OK);
  pb_row r;
  assert_int_equal(pb_plan_next(p, &r), PB_OK);
  ext[0] = r.ids[0];
  assert_true(sort_files(tmp) > 0);
  assert_int_equal(1 + line_ids(p, ext + 1, 599), 600);
  assert_memory_equal(ext, mem, sizeof mem);
  pb_plan_free(p);
  assert_int_equal(sort_files(tmp), 0);
  pb_txn_abort(txn);
  assert_int_equal(pb_db_close(d), PB_OK);
  assert_int_equal(pb_space_close(sp), PB_OK);
  if (saved) {
    setenv("TMPDIR", saved, 1);
    free(saved);
  } else {
    unsetenv("TMPDIR");
  }
  pb_test_rmdir(tmp);
}

static void order_by_build_errors(void **state) {
  (void)state;
  pb_txn *txn = begin();
  pb_plan *p = from(txn, &qr_Order_table), *keep = p;
  pb_sort_key k[1] = {{F(0, O_QTY), 7}};
  assert_int_equal(pb_plan_order_by(&p, k, 1), PB_EINVAL);
  assert_has(pb_errdetail(), "OrderBy");
  assert_int_equal(pb_plan_order_by(&p, NULL, 0), PB_EINVAL);
  pb_sort_key k2[2] = {{F(0, O_QTY), PB_ASC}, {F(1, O_QTY), PB_ASC}};
  assert_int_equal(pb_plan_order_by(&p, k2, 2), PB_EINVAL);
  assert_has(pb_errdetail(), "OrderBy");
  pb_sort_key k3[1] = {{NULL, PB_ASC}};
  assert_int_equal(pb_plan_order_by(&p, k3, 1), PB_ENOMEM);
  assert_int_equal(pb_plan_distinct(NULL), PB_EINVAL);
  assert_ptr_equal(p, keep);
  expect(p, "o10 o11 o12 o13 o14", NULL);
  pb_txn_abort(txn);
}

static void distinct_rows(void **state) {
  (void)state;
  pb_txn *txn = begin();
  pb_plan *p = from(txn, &qr_Customer_table);
  pb_expr *city[1] = {F(0, C_CITY)};
  assert_int_equal(pb_plan_select(&p, city, 1), PB_OK);
  assert_int_equal(pb_plan_distinct(&p), PB_OK);
  expect(p, "'London' 'Paris' 'Rome'", "Distinct");
  /* NULLs are equal. */
  p = from(txn, &qr_Order_table);
  pb_expr *note[1] = {F(0, O_NOTE)};
  assert_int_equal(pb_plan_select(&p, note, 1), PB_OK);
  assert_int_equal(pb_plan_distinct(&p), PB_OK);
  expect(p, "NULL 'gift'", NULL);
  /* Two columns; 1 and 1.0 are one value. */
  p = from(txn, &qr_Order_table);
  pb_expr *two[2] = {F(0, O_SKU), F(0, O_QTY)};
  assert_int_equal(pb_plan_select(&p, two, 2), PB_OK);
  assert_int_equal(pb_plan_distinct(&p), PB_OK);
  expect(p, "'A',2 'B',1 'A',5 'C',1 'B',3", NULL);
  /* Sources by primary key: each customer once from a join that repeats
   * them (the orders' side dropped by a Select of the customer's key would
   * make columns; here the right side is the same customer). */
  p = from(txn, &qr_Order_table);
  assert_int_equal(pb_plan_join(&p, from(txn, &qr_Customer_table),
                                PB_JOIN_INNER,
                                EQ(F(0, O_CUSTOMER), F(1, C_ID))),
                   PB_OK);
  pb_expr *cust[1] = {F(1, C_NAME)};
  assert_int_equal(pb_plan_select(&p, cust, 1), PB_OK);
  assert_int_equal(pb_plan_distinct(&p), PB_OK);
  expect(p, "'Ada' 'Bob' 'Cy'", NULL);
  /* Keyless sources by id: a sort (ties) then Distinct keeps all. */
  p = lines_sorted(txn);
  assert_int_equal(pb_plan_distinct(&p), PB_OK);
  static uint64_t ids[4000];
  assert_int_equal(line_ids(p, ids, 4000), 3000);
  pb_plan_free(p);
  /* Sources by primary key: customers joined with their orders' customer
   * numbers (a side of columns only) repeat customer 1 with the same
   * column: kept once. */
  for (int d = 0; d < 2; d++) {
    p = from(txn, &qr_Customer_table);
    pb_plan *r = from(txn, &qr_Order_table);
    pb_expr *oc[1] = {F(0, O_CUSTOMER)};
    assert_int_equal(pb_plan_select(&r, oc, 1), PB_OK);
    assert_int_equal(
        pb_plan_join(&p, r, PB_JOIN_INNER, EQ(F(0, C_ID), pb_expr_col(0))),
        PB_OK);
    if (d) assert_int_equal(pb_plan_distinct(&p), PB_OK);
    expect(p, d ? "c1,1 c2,2 c3,3" : "c1,1 c1,1 c2,2 c3,3", "HashJoin");
  }
  pb_txn_abort(txn);
}

/* Each allocation of building and running a plan failed in turn: the
 * build or pb_plan_next returns PB_ENOMEM (or the plan runs whole, with
 * the right rows), and nothing leaks (ASan). */
typedef int (*build_fn)(pb_txn *txn, pb_plan **out);

static int b_hash_full(pb_txn *txn, pb_plan **out) {
  pb_plan *p, *r;
  int rc = pb_plan_from_table(txn, &qr_Customer_table, &p);
  if (rc != PB_OK) return rc;
  rc = pb_plan_from_table(txn, &qr_Order_table, &r);
  if (rc == PB_OK) rc = pb_plan_distinct(&r);
  if (rc != PB_OK) {
    pb_plan_free(p);
    pb_plan_free(r);
    return rc;
  }
  /* `on` NULL is a cross join (protobase/query.h), so a condition whose
   * constructor ran out of memory must be caught before the join. */
  pb_expr *on = EQ(F(0, C_ID), F(1, O_CUSTOMER));
  rc = on != NULL ? pb_plan_join(&p, r, PB_JOIN_FULL, on) : PB_ENOMEM;
  if (on == NULL) pb_plan_free(r);
  if (rc != PB_OK) {
    pb_plan_free(p);
    p = NULL;
  }
  *out = p;
  return rc;
}

static int b_index_left(pb_txn *txn, pb_plan **out) {
  pb_plan *p, *r;
  int rc = pb_plan_from_table(txn, &qr_Customer_table, &p);
  if (rc != PB_OK) return rc;
  rc = pb_plan_from_table(txn, &qr_Order_table, &r);
  if (rc != PB_OK) {
    pb_plan_free(p);
    return rc;
  }
  pb_expr *on = EQ(F(0, C_ID), F(1, O_CUSTOMER));
  rc = on != NULL ? pb_plan_join(&p, r, PB_JOIN_LEFT, on) : PB_ENOMEM;
  if (on == NULL) pb_plan_free(r);
  if (rc != PB_OK) {
    pb_plan_free(p);
    p = NULL;
  }
  *out = p;
  return rc;
}

static int b_group(pb_txn *txn, pb_plan **out) {
  pb_plan *p;
  int rc = pb_plan_from_table(txn, &qr_Order_table, &p);
  if (rc != PB_OK) return rc;
  pb_expr *keys[1] = {F(0, O_SKU)};
  pb_agg aggs[3] = {{PB_AGG_COUNT_ALL, NULL},
                    {PB_AGG_MAX, F(0, O_NOTE)},
                    {PB_AGG_AVG, F(0, O_AMOUNT)}};
  rc = pb_plan_group_by(&p, keys, 1, aggs, 3);
  if (rc != PB_OK) {
    pb_plan_free(p);
    p = NULL;
  }
  *out = p;
  return rc;
}

static int b_sort(pb_txn *txn, pb_plan **out) {
  pb_plan *p;
  int rc = pb_plan_from_table(txn, &qr_Order_table, &p);
  if (rc != PB_OK) return rc;
  pb_sort_key k[2] = {{F(0, O_SKU), PB_DESC}, {F(0, O_QTY), PB_ASC}};
  rc = pb_plan_order_by(&p, k, 2);
  if (rc != PB_OK) {
    pb_plan_free(p);
    p = NULL;
  }
  *out = p;
  return rc;
}

static int b_sort_external(pb_txn *txn, pb_plan **out) {
  pb_plan *p;
  int rc = pb_plan_from_table(txn, &qr_Line_table, &p);
  if (rc != PB_OK) return rc;
  pb_sort_key k[1] = {{F(0, L_A), PB_ASC}};
  rc = pb_plan_order_by(&p, k, 1);
  if (rc == PB_OK) rc = pb_plan_set_memory(p, 64 << 10);
  if (rc != PB_OK) {
    pb_plan_free(p);
    p = NULL;
  }
  *out = p;
  return rc;
}

/* Runs the plan to its end: PB_OK (then *text is its rows) or the error. */
static int run_text(pb_plan *p, char *text, size_t cap) {
  pb_buf b;
  pb_buf_init(&b);
  pb_row r;
  int rc, n = 0;
  while ((rc = pb_plan_next(p, &r)) == PB_OK) {
    if (n++) put(&b, " ");
    put_row(&b, p, &r);
  }
  pb_buf_append(&b, "", 1);
  if (rc == PB_ENOTFOUND && pb_buf_error(&b) == PB_OK) {
    snprintf(text, cap, "%s", (const char *)b.data);
    rc = PB_OK;
  } else if (rc == PB_ENOTFOUND) {
    rc = pb_buf_error(&b);
  }
  pb_buf_free(&b);
  return rc;
}

static void allocation_failures(void **state) {
  (void)state;
  static const build_fn fns[] = {b_hash_full, b_index_left, b_group, b_sort,
                                 b_sort_external};
  static char want[1 << 16], got[1 << 16];
  for (size_t f = 0; f < sizeof fns / sizeof *fns; f++) {
    pb_txn *txn = begin();
    pb_plan *p = NULL;
    assert_int_equal(fns[f](txn, &p), PB_OK);
    assert_int_equal(run_text(p, want, sizeof want), PB_OK);
    pb_plan_free(p);
    long fails = 0;
    for (long n = 1;; n++) {
      p = NULL;
      fail_at = n;
      int rc = fns[f](txn, &p);
      if (rc == PB_OK) rc = run_text(p, got, sizeof got);
      bool hit = fail_at == 0;
      fail_at = 0;
      pb_plan_free(p);
      if (!hit) { /* no allocation failed: the run was whole */
        assert_int_equal(rc, PB_OK);
        assert_string_equal(got, want);
        break;
      }
      if (rc == PB_OK) {
        /* a failure the plan did not need to see (a cache, a retry) */
        assert_string_equal(got, want);
      } else {
        if (rc != PB_ENOMEM)
          fprintf(stderr, "plan %zu, allocation %ld: %d: %s\n", f, n, rc,
                  pb_errdetail());
        assert_int_equal(rc, PB_ENOMEM);
        fails++;
      }
    }
    assert_true(fails > 5);
    pb_txn_abort(txn);
  }
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(join_types_chosen),
      cmocka_unit_test(join_types_hash),
      cmocka_unit_test(join_types_loop),
      cmocka_unit_test(join_ref_primary_key),
      cmocka_unit_test(join_three_tables),
      cmocka_unit_test(join_residual_and_null),
      cmocka_unit_test(join_cross),
      cmocka_unit_test(join_build_errors),
      cmocka_unit_test(join_memory_budget),
      cmocka_unit_test(group_by_aggregates),
      cmocka_unit_test(group_by_empty),
      cmocka_unit_test(group_by_sum_overflow),
      cmocka_unit_test(group_by_build_errors),
      cmocka_unit_test(order_by_stable),
      cmocka_unit_test(limit_offset_around_order_by),
      cmocka_unit_test(top_n_equals_full_sort),
      cmocka_unit_test(external_sort),
      cmocka_unit_test(external_sort_held_above),
      cmocka_unit_test(external_sort_error_cleanup),
      cmocka_unit_test(external_sort_faults),
      cmocka_unit_test(external_sort_memory_tier),
      cmocka_unit_test(order_by_build_errors),
      cmocka_unit_test(distinct_rows),
      cmocka_unit_test(allocation_failures),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}
