/*
 * test_query_gen.c - the typed query builders that pbc generates
 * (tests/unit/schema/query_gen.pbs), used as an application uses them, on
 * the file tier with the defaults (PB_DURABILITY_SYNC): every predicate of
 * every kind of field with the exact rows it keeps (absent optional fields
 * in none of the comparisons), each between variant, successive where
 * calls (AND), order_by with several keys and ties, limit and offset
 * before and after order_by and where (different rows), explain, the
 * field expressions and P_R_from_row over a generic plan, a join and a
 * group-by, a keyless
 * record's ids, P_R_next on a cursor and on a query, and each error path
 * (NULL arguments, bad flags and directions, a latched error that
 * P_R_next returns, a builder after the query ran), and each allocation
 * failed in turn.  The compile-time type checks are
 * tests/compile_fail/queries.c.
 */
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
#include "query_gen.pb.h"
#include "support/filedb.h"

#define S(lit) ((pb_str){(lit), sizeof(lit) - 1})
#define B(lit) ((pb_bytes){(const uint8_t *)(lit), sizeof(lit) - 1})
#define IDS(...) ((const uint64_t[]){__VA_ARGS__}), \
                 sizeof((const uint64_t[]){__VA_ARGS__}) / sizeof(uint64_t)
#define NONE ((const uint64_t *)NULL), 0

static pb_test_filedb db;

/* --- Failing allocations ---
 * The test links with -Wl,--wrap=malloc,--wrap=calloc,--wrap=realloc, so
 * every allocation (the generated code's, the runtime's) comes here: when
 * fail_at is n > 0, the n-th allocation from now fails (only that one). */
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

/* --- The data set --- */

typedef struct task_row {
  uint64_t id;
  const char *title;
  bool done;
  bool has_due;
  int64_t due;
  double hours;
  qg_Status status;
  const char *owner;
  pb_bytes blob;
  int32_t prio;
  uint8_t small;
  float ratio;
} task_row;

static const task_row tasks[] = {
    {1, "alpha", false, true, 100, 1.5, qg_Status_OPEN, "ann",
     {(const uint8_t *)"\0\1", 2}, 3, 10, 0.5f},
    {2, "beta", true, false, 0, 2.0, qg_Status_DONE, "bob",
     {(const uint8_t *)"\1", 1}, 1, 20, 0.25f},
    {3, "alpine", false, true, 50, 0.5, qg_Status_BLOCKED, "ann",
     {(const uint8_t *)"", 0}, 3, 30, 1.0f},
    {4, "gamma", true, true, 200, 3.0, qg_Status_OPEN, "cat",
     {(const uint8_t *)"\1\2", 2}, 2, 40, 0.75f},
    {5, "delta", false, false, 0, 2.0, qg_Status_DONE, "bob",
     {(const uint8_t *)"\2", 1}, 5, 50, 0.5f},
    {6, "al", true, true, 100, 4.5, qg_Status_OPEN, "ann",
     {(const uint8_t *)"\0", 1}, 1, 60, 2.0f},
};

static int setup(void **state) {
  (void)state;
  if (pb_test_filedb_open(&db, PB_DURABILITY_SYNC) != PB_OK)
    return -1;
  pb_txn *txn = NULL;
  if (pb_txn_begin(db.db, 0, &txn) != PB_OK)
    return -1;
  int rc = PB_OK;
  static const char *const owners[] = {"ann", "bob", "cat"};
  for (int i = 0; i < 3 && rc == PB_OK; i++) {
    qg_Owner o;
    qg_Owner_init(&o);
    o.name = pb_str_from_cstr(owners[i]);
    o.level = i + 1;
    rc = qg_Owner_insert(txn, &o);
  }
  for (size_t i = 0; i < sizeof tasks / sizeof *tasks && rc == PB_OK; i++) {
    const task_row *t = &tasks[i];
    qg_Task r;
    qg_Task_init(&r);
    r.id = t->id;
    r.title = pb_str_from_cstr(t->title);
    r.done = t->done;
    r.has_due = t->has_due;
    r.due = t->due;
    r.hours = t->hours;
    r.status = t->status;
    r.owner = pb_str_from_cstr(t->owner);
    r.blob = t->blob;
    r.prio = t->prio;
    r.small = t->small;
    r.ratio = t->ratio;
    rc = qg_Task_insert(txn, &r);
  }
  static const struct {
    const char *what;
    int64_t at;
    const char *note;
  } events[] = {{"start", 10, "n1"}, {"stop", 20, NULL}, {"start", 30, NULL},
                {"pause", 15, "n2"}};
  for (size_t i = 0; i < 4 && rc == PB_OK; i++) {
    qg_Event e;
    qg_Event_init(&e);
    e.what = pb_str_from_cstr(events[i].what);
    e.at = events[i].at;
    if (events[i].note) {
      e.has_note = true;
      e.note = pb_str_from_cstr(events[i].note);
    }
    uint64_t id;
    rc = qg_Event_insert(txn, &e, &id);
  }
  if (rc == PB_OK)
    rc = pb_txn_commit(txn);
  else
    pb_txn_abort(txn);
  return rc == PB_OK ? 0 : -1;
}

static int teardown(void **state) {
  (void)state;
  return pb_test_filedb_close(&db) == PB_OK ? 0 : -1;
}

static pb_txn *begin_ro(void) {
  pb_txn *txn = NULL;
  assert_int_equal(pb_txn_begin(db.db, PB_RDONLY, &txn), PB_OK);
  return txn;
}

static qg_Task_query *open_q(pb_txn *txn) {
  qg_Task_query *q = NULL;
  assert_int_equal(qg_Task_query_open(txn, &q), PB_OK);
  assert_non_null(q);
  return q;
}

static int u64_cmp(const void *a, const void *b) {
  uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
  return x < y ? -1 : x > y;
}

/* Runs q to its end, checks its rows' ids (in order, or as a set when
 * `sorted` is false: no order_by fixes the order), then frees it. */
static void expect(qg_Task_query *q, bool in_order, const uint64_t *want,
                   size_t n) {
  uint64_t got[16];
  size_t m = 0;
  qg_Task r;
  int rc;
  while ((rc = qg_Task_next(q, &r)) == PB_OK) {
    assert_true(m < 16);
    /* The copied record is the row: its fields match the data set. */
    assert_true(r.id >= 1 && r.id <= 6);
    const task_row *t = &tasks[r.id - 1];
    assert_int_equal(r.title.len, strlen(t->title));
    assert_memory_equal(r.title.ptr, t->title, r.title.len);
    assert_int_equal(r.prio, t->prio);
    assert_int_equal(r.has_due, t->has_due);
    got[m++] = r.id;
  }
  assert_int_equal(rc, PB_ENOTFOUND);
  assert_int_equal(qg_Task_next(q, &r), PB_ENOTFOUND); /* stays at end */
  qg_Task_query_free(q);
  uint64_t w[16];
  assert_true(n <= 16);
  if (n)
    memcpy(w, want, n * sizeof *w);
  if (!in_order) {
    qsort(got, m, sizeof *got, u64_cmp);
    qsort(w, n, sizeof *w, u64_cmp);
  }
  if (m != n) {
    fprintf(stderr, "got %zu rows:", m);
    for (size_t i = 0; i < m; i++)
      fprintf(stderr, " %llu", (unsigned long long)got[i]);
    fprintf(stderr, "\n");
  }
  assert_int_equal(m, n);
  for (size_t i = 0; i < n; i++)
    assert_true(got[i] == w[i]);
}

#define SET(q, ...) expect((q), false, __VA_ARGS__)
#define SEQ(q, ...) expect((q), true, __VA_ARGS__)

/* --- Comparisons of each kind of field --- */

static void compare_integers(void **state) {
  (void)state;
  pb_txn *txn = begin_ro();
  qg_Task_query *q;
  q = open_q(txn), qg_Task_where_id_eq(q, 3), SET(q, IDS(3));
  q = open_q(txn), qg_Task_where_id_ne(q, 3), SET(q, IDS(1, 2, 4, 5, 6));
  q = open_q(txn), qg_Task_where_id_lt(q, 3), SET(q, IDS(1, 2));
  q = open_q(txn), qg_Task_where_id_le(q, 3), SET(q, IDS(1, 2, 3));
  q = open_q(txn), qg_Task_where_id_gt(q, 4), SET(q, IDS(5, 6));
  q = open_q(txn), qg_Task_where_id_ge(q, 4), SET(q, IDS(4, 5, 6));
  q = open_q(txn), qg_Task_where_id_eq(q, 99), SET(q, NONE);
  /* The indexed int32 prio. */
  q = open_q(txn), qg_Task_where_prio_eq(q, 3), SET(q, IDS(1, 3));
  q = open_q(txn), qg_Task_where_prio_ne(q, 3), SET(q, IDS(2, 4, 5, 6));
  q = open_q(txn), qg_Task_where_prio_lt(q, 2), SET(q, IDS(2, 6));
  q = open_q(txn), qg_Task_where_prio_le(q, 2), SET(q, IDS(2, 4, 6));
  q = open_q(txn), qg_Task_where_prio_gt(q, 2), SET(q, IDS(1, 3, 5));
  q = open_q(txn), qg_Task_where_prio_ge(q, 5), SET(q, IDS(5));
  q = open_q(txn), qg_Task_where_prio_lt(q, -7), SET(q, NONE);
  /* uint8. */
  q = open_q(txn), qg_Task_where_small_le(q, 30), SET(q, IDS(1, 2, 3));
  q = open_q(txn), qg_Task_where_small_gt(q, (uint8_t)40), SET(q, IDS(5, 6));
  /* bool: false before true. */
  q = open_q(txn), qg_Task_where_done_eq(q, true), SET(q, IDS(2, 4, 6));
  q = open_q(txn), qg_Task_where_done_ne(q, true), SET(q, IDS(1, 3, 5));
  q = open_q(txn), qg_Task_where_done_lt(q, true), SET(q, IDS(1, 3, 5));
  q = open_q(txn), qg_Task_where_done_ge(q, false),
  SET(q, IDS(1, 2, 3, 4, 5, 6));
  /* An enum compares by number. */
  q = open_q(txn), qg_Task_where_status_eq(q, qg_Status_DONE),
  SET(q, IDS(2, 5));
  q = open_q(txn), qg_Task_where_status_ne(q, qg_Status_OPEN),
  SET(q, IDS(2, 3, 5));
  q = open_q(txn), qg_Task_where_status_gt(q, qg_Status_DONE), SET(q, IDS(3));
  q = open_q(txn), qg_Task_where_status_le(q, qg_Status_DONE),
  SET(q, IDS(1, 2, 4, 5, 6));
  pb_txn_abort(txn);
}

static void compare_floats(void **state) {
  (void)state;
  pb_txn *txn = begin_ro();
  qg_Task_query *q;
  q = open_q(txn), qg_Task_where_hours_eq(q, 2.0), SET(q, IDS(2, 5));
  q = open_q(txn), qg_Task_where_hours_gt(q, 1.5), SET(q, IDS(2, 4, 5, 6));
  q = open_q(txn), qg_Task_where_hours_ge(q, 1.5), SET(q, IDS(1, 2, 4, 5, 6));
  q = open_q(txn), qg_Task_where_hours_lt(q, 2), SET(q, IDS(1, 3));
  q = open_q(txn), qg_Task_where_hours_le(q, 0.5), SET(q, IDS(3));
  q = open_q(txn), qg_Task_where_hours_ne(q, 2.0), SET(q, IDS(1, 3, 4, 6));
  q = open_q(txn), qg_Task_where_ratio_eq(q, 0.5f), SET(q, IDS(1, 5));
  q = open_q(txn), qg_Task_where_ratio_gt(q, 0.9), SET(q, IDS(3, 6));
  pb_txn_abort(txn);
}

static void compare_strings_bytes(void **state) {
  (void)state;
  pb_txn *txn = begin_ro();
  qg_Task_query *q;
  /* Bytewise: "al" < "alpha" < "alpine" < "beta" < "delta" < "gamma". */
  q = open_q(txn), qg_Task_where_title_eq(q, S("beta")), SET(q, IDS(2));
  q = open_q(txn), qg_Task_where_title_ne(q, S("beta")),
  SET(q, IDS(1, 3, 4, 5, 6));
  q = open_q(txn), qg_Task_where_title_lt(q, S("alpine")), SET(q, IDS(1, 6));
  q = open_q(txn), qg_Task_where_title_le(q, S("alpine")),
  SET(q, IDS(1, 3, 6));
  q = open_q(txn), qg_Task_where_title_gt(q, S("beta")), SET(q, IDS(4, 5));
  q = open_q(txn), qg_Task_where_title_ge(q, S("beta")), SET(q, IDS(2, 4, 5));
  q = open_q(txn), qg_Task_where_title_prefix(q, S("al")),
  SET(q, IDS(1, 3, 6));
  q = open_q(txn), qg_Task_where_title_prefix(q, S("alp")), SET(q, IDS(1, 3));
  q = open_q(txn), qg_Task_where_title_prefix(q, S("")),
  SET(q, IDS(1, 2, 3, 4, 5, 6));
  q = open_q(txn), qg_Task_where_title_prefix(q, S("x")), SET(q, NONE);
  /* A ref<Owner> is its key, a string. */
  q = open_q(txn), qg_Task_where_owner_eq(q, S("ann")), SET(q, IDS(1, 3, 6));
  q = open_q(txn), qg_Task_where_owner_prefix(q, S("b")), SET(q, IDS(2, 5));
  q = open_q(txn), qg_Task_where_owner_gt(q, S("bob")), SET(q, IDS(4));
  /* Bytes, embedded 0 bytes: "" < "\0" < "\0\1" < "\1" < "\1\2" < "\2". */
  q = open_q(txn), qg_Task_where_blob_eq(q, B("")), SET(q, IDS(3));
  q = open_q(txn), qg_Task_where_blob_lt(q, B("\1")), SET(q, IDS(1, 3, 6));
  q = open_q(txn), qg_Task_where_blob_prefix(q, B("\0")), SET(q, IDS(1, 6));
  q = open_q(txn), qg_Task_where_blob_prefix(q, B("\1")), SET(q, IDS(2, 4));
  q = open_q(txn), qg_Task_where_blob_ge(q, B("\1\2")), SET(q, IDS(4, 5));
  q = open_q(txn), qg_Task_where_blob_ne(q, B("\0")),
  SET(q, IDS(1, 2, 3, 4, 5));
  q = open_q(txn), qg_Task_where_blob_le(q, B("\0")), SET(q, IDS(3, 6));
  q = open_q(txn), qg_Task_where_blob_gt(q, B("\1\2")), SET(q, IDS(5));
  pb_txn_abort(txn);
}

/* An absent optional field is NULL: in no comparison, IN or between. */
static void optional_null(void **state) {
  (void)state;
  pb_txn *txn = begin_ro();
  qg_Task_query *q;
  q = open_q(txn), qg_Task_where_due_eq(q, 100), SET(q, IDS(1, 6));
  q = open_q(txn), qg_Task_where_due_ne(q, 100), SET(q, IDS(3, 4));
  q = open_q(txn), qg_Task_where_due_lt(q, 150), SET(q, IDS(1, 3, 6));
  q = open_q(txn), qg_Task_where_due_le(q, 50), SET(q, IDS(3));
  q = open_q(txn), qg_Task_where_due_gt(q, 50), SET(q, IDS(1, 4, 6));
  q = open_q(txn), qg_Task_where_due_ge(q, INT64_MIN), SET(q, IDS(1, 3, 4, 6));
  q = open_q(txn), qg_Task_where_due_is_null(q), SET(q, IDS(2, 5));
  q = open_q(txn), qg_Task_where_due_is_not_null(q), SET(q, IDS(1, 3, 4, 6));
  q = open_q(txn), qg_Task_where_due_between(q, INT64_MIN, INT64_MAX, 0),
  SET(q, IDS(1, 3, 4, 6));
  int64_t dues[] = {0, 50, 200};
  q = open_q(txn), qg_Task_where_due_in(q, dues, 3), SET(q, IDS(3, 4));
  pb_txn_abort(txn);
}

static void between_variants(void **state) {
  (void)state;
  pb_txn *txn = begin_ro();
  qg_Task_query *q;
  const unsigned lx = PB_BETWEEN_LO_EXCL, hx = PB_BETWEEN_HI_EXCL;
  /* Integers, the indexed prio: 1 (2, 6), 2 (4), 3 (1, 3), 5 (5). */
  q = open_q(txn), qg_Task_where_prio_between(q, 1, 3, 0),
  SET(q, IDS(1, 2, 3, 4, 6));
  q = open_q(txn), qg_Task_where_prio_between(q, 1, 3, lx),
  SET(q, IDS(1, 3, 4));
  q = open_q(txn), qg_Task_where_prio_between(q, 1, 3, hx),
  SET(q, IDS(2, 4, 6));
  q = open_q(txn), qg_Task_where_prio_between(q, 1, 3, lx | hx),
  SET(q, IDS(4));
  q = open_q(txn), qg_Task_where_prio_between(q, 3, 1, 0), SET(q, NONE);
  q = open_q(txn), qg_Task_where_prio_between(q, 3, 3, 0), SET(q, IDS(1, 3));
  q = open_q(txn), qg_Task_where_prio_between(q, 3, 3, lx), SET(q, NONE);
  /* Strings. */
  q = open_q(txn), qg_Task_where_title_between(q, S("alpha"), S("beta"), 0),
  SET(q, IDS(1, 2, 3));
  q = open_q(txn), qg_Task_where_title_between(q, S("alpha"), S("beta"), lx),
  SET(q, IDS(2, 3));
  q = open_q(txn), qg_Task_where_title_between(q, S("alpha"), S("beta"), hx),
  SET(q, IDS(1, 3));
  q = open_q(txn),
  qg_Task_where_title_between(q, S("alpha"), S("beta"), lx | hx),
  SET(q, IDS(3));
  /* Floats, the key, an enum, bytes. */
  q = open_q(txn), qg_Task_where_hours_between(q, 1.5, 3.0, 0),
  SET(q, IDS(1, 2, 4, 5));
  q = open_q(txn), qg_Task_where_hours_between(q, 1.5, 3.0, lx | hx),
  SET(q, IDS(2, 5));
  q = open_q(txn), qg_Task_where_id_between(q, 2, 4, hx), SET(q, IDS(2, 3));
  q = open_q(txn), qg_Task_where_id_between(q, 2, 4, lx), SET(q, IDS(3, 4));
  q = open_q(txn),
  qg_Task_where_status_between(q, qg_Status_DONE, qg_Status_BLOCKED, 0),
  SET(q, IDS(2, 3, 5));
  q = open_q(txn), qg_Task_where_blob_between(q, B("\0"), B("\1"), hx),
  SET(q, IDS(1, 6));
  q = open_q(txn), qg_Task_where_done_between(q, true, true, 0),
  SET(q, IDS(2, 4, 6));
  q = open_q(txn), qg_Task_where_small_between(q, 20, 40, lx | hx),
  SET(q, IDS(3));
  q = open_q(txn), qg_Task_where_ratio_between(q, 0.5f, 1.0f, hx),
  SET(q, IDS(1, 4, 5));
  q = open_q(txn), qg_Task_where_owner_between(q, S("b"), S("c"), 0),
  SET(q, IDS(2, 5));
  pb_txn_abort(txn);
}

static void in_lists(void **state) {
  (void)state;
  pb_txn *txn = begin_ro();
  qg_Task_query *q;
  uint64_t ids[] = {6, 2, 99, 2};
  q = open_q(txn), qg_Task_where_id_in(q, ids, 4), SET(q, IDS(2, 6));
  q = open_q(txn), qg_Task_where_id_in(q, ids, 0), SET(q, NONE);
  q = open_q(txn), qg_Task_where_id_in(q, NULL, 0), SET(q, NONE);
  pb_str titles[] = {S("gamma"), S("al"), S("zzz")};
  q = open_q(txn), qg_Task_where_title_in(q, titles, 3), SET(q, IDS(4, 6));
  int32_t prios[] = {5, 1};
  q = open_q(txn), qg_Task_where_prio_in(q, prios, 2), SET(q, IDS(2, 5, 6));
  double hours[] = {0.5, 4.5};
  q = open_q(txn), qg_Task_where_hours_in(q, hours, 2), SET(q, IDS(3, 6));
  qg_Status st[] = {qg_Status_BLOCKED};
  q = open_q(txn), qg_Task_where_status_in(q, st, 1), SET(q, IDS(3));
  bool yes[] = {true};
  q = open_q(txn), qg_Task_where_done_in(q, yes, 1), SET(q, IDS(2, 4, 6));
  pb_bytes blobs[] = {B("\2"), B("")};
  q = open_q(txn), qg_Task_where_blob_in(q, blobs, 2), SET(q, IDS(3, 5));
  pb_str owners[] = {S("cat"), S("bob")};
  q = open_q(txn), qg_Task_where_owner_in(q, owners, 2), SET(q, IDS(2, 4, 5));
  uint8_t smalls[] = {10, 60};
  q = open_q(txn), qg_Task_where_small_in(q, smalls, 2), SET(q, IDS(1, 6));
  float ratios[] = {0.25f};
  q = open_q(txn), qg_Task_where_ratio_in(q, ratios, 1), SET(q, IDS(2));
  pb_txn_abort(txn);
}

/* Successive where calls: one AND. */
static void and_of_terms(void **state) {
  (void)state;
  pb_txn *txn = begin_ro();
  qg_Task_query *q = open_q(txn);
  assert_int_equal(qg_Task_where_title_prefix(q, S("al")), PB_OK);
  assert_int_equal(qg_Task_where_done_eq(q, false), PB_OK);
  SET(q, IDS(1, 3));
  q = open_q(txn);
  assert_int_equal(qg_Task_where_due_is_not_null(q), PB_OK);
  assert_int_equal(qg_Task_where_hours_lt(q, 2.0), PB_OK);
  assert_int_equal(qg_Task_where_prio_eq(q, 3), PB_OK);
  assert_int_equal(qg_Task_where_status_ne(q, qg_Status_OPEN), PB_OK);
  SET(q, IDS(3));
  q = open_q(txn);
  assert_int_equal(qg_Task_where_prio_ge(q, 1), PB_OK);
  assert_int_equal(qg_Task_where_prio_le(q, 2), PB_OK);
  assert_int_equal(qg_Task_where_owner_eq(q, S("ann")), PB_OK);
  SET(q, IDS(6));
  pb_txn_abort(txn);
}

/* order_by: several keys in call order, stable for ties, absent first. */
static void ordering(void **state) {
  (void)state;
  pb_txn *txn = begin_ro();
  qg_Task_query *q;
  q = open_q(txn);
  assert_int_equal(qg_Task_order_by_prio(q, PB_ASC), PB_OK);
  assert_int_equal(qg_Task_order_by_id(q, PB_DESC), PB_OK);
  SEQ(q, IDS(6, 2, 4, 3, 1, 5));
  /* A tie (2 and 5 have 2.0 hours) keeps the key order it came in. */
  q = open_q(txn), qg_Task_order_by_hours(q, PB_ASC),
  SEQ(q, IDS(3, 1, 2, 5, 4, 6));
  q = open_q(txn), qg_Task_order_by_hours(q, PB_DESC),
  SEQ(q, IDS(6, 4, 2, 5, 1, 3));
  /* Absent dues first, as NULL in SQLite. */
  q = open_q(txn), qg_Task_order_by_due(q, PB_ASC),
  SEQ(q, IDS(2, 5, 3, 1, 6, 4));
  q = open_q(txn), qg_Task_order_by_title(q, PB_ASC),
  SEQ(q, IDS(6, 1, 3, 2, 5, 4));
  q = open_q(txn), qg_Task_order_by_blob(q, PB_ASC),
  SEQ(q, IDS(3, 6, 1, 2, 4, 5));
  q = open_q(txn);
  qg_Task_order_by_status(q, PB_DESC), qg_Task_order_by_owner(q, PB_ASC);
  qg_Task_order_by_small(q, PB_DESC);
  SEQ(q, IDS(3, 5, 2, 6, 1, 4));
  q = open_q(txn);
  qg_Task_order_by_done(q, PB_ASC), qg_Task_order_by_ratio(q, PB_DESC);
  SEQ(q, IDS(3, 1, 5, 6, 4, 2));
  /* where then order_by, and order_by then where: the same rows here. */
  q = open_q(txn);
  qg_Task_where_done_eq(q, true), qg_Task_order_by_hours(q, PB_DESC);
  SEQ(q, IDS(6, 4, 2));
  q = open_q(txn);
  qg_Task_order_by_hours(q, PB_DESC), qg_Task_where_done_eq(q, true);
  SEQ(q, IDS(6, 4, 2));
  pb_txn_abort(txn);
}

/* limit, offset and order_by apply where they stand in the chain. */
static void chain_positions(void **state) {
  (void)state;
  pb_txn *txn = begin_ro();
  qg_Task_query *q;
  q = open_q(txn);
  qg_Task_order_by_hours(q, PB_DESC), qg_Task_limit(q, 2);
  SEQ(q, IDS(6, 4));
  q = open_q(txn);
  qg_Task_limit(q, 2), qg_Task_order_by_hours(q, PB_DESC);
  SEQ(q, IDS(2, 1));
  q = open_q(txn);
  qg_Task_offset(q, 1), qg_Task_limit(q, 2);
  SEQ(q, IDS(2, 3));
  q = open_q(txn);
  qg_Task_limit(q, 2), qg_Task_offset(q, 1);
  SEQ(q, IDS(2));
  q = open_q(txn);
  qg_Task_order_by_id(q, PB_DESC), qg_Task_offset(q, 4);
  SEQ(q, IDS(2, 1));
  q = open_q(txn);
  qg_Task_offset(q, 4), qg_Task_order_by_id(q, PB_DESC);
  SEQ(q, IDS(6, 5));
  /* where before and after a limit. */
  q = open_q(txn);
  qg_Task_where_done_eq(q, true), qg_Task_limit(q, 2);
  SEQ(q, IDS(2, 4));
  q = open_q(txn);
  qg_Task_limit(q, 3), qg_Task_where_done_eq(q, true);
  SEQ(q, IDS(2));
  /* An order_by after a limit is a second sort of the rows it keeps. */
  q = open_q(txn);
  qg_Task_order_by_hours(q, PB_ASC), qg_Task_limit(q, 3);
  qg_Task_order_by_id(q, PB_DESC);
  SEQ(q, IDS(3, 2, 1));
  /* limit 0, an offset past the end. */
  q = open_q(txn), qg_Task_limit(q, 0), SEQ(q, NONE);
  q = open_q(txn), qg_Task_offset(q, 6), SEQ(q, NONE);
  q = open_q(txn), qg_Task_offset(q, UINT64_MAX), SEQ(q, NONE);
  q = open_q(txn), qg_Task_limit(q, UINT64_MAX), SEQ(q, IDS(1, 2, 3, 4, 5, 6));
  /* No builder: every row in key order. */
  q = open_q(txn), SEQ(q, IDS(1, 2, 3, 4, 5, 6));
  pb_txn_abort(txn);
}

static void explain(void **state) {
  (void)state;
  pb_txn *txn = begin_ro();
  qg_Task_query *q = open_q(txn);
  assert_int_equal(qg_Task_where_prio_eq(q, 3), PB_OK);
  assert_int_equal(qg_Task_where_done_eq(q, false), PB_OK);
  assert_int_equal(qg_Task_order_by_id(q, PB_DESC), PB_OK);
  pb_buf out;
  pb_buf_init(&out);
  assert_int_equal(qg_Task_query_explain(q, &out), PB_OK);
  assert_true(out.len > 0);
  pb_buf_append(&out, "", 1); /* a C string */
  assert_int_equal(pb_buf_error(&out), PB_OK);
  const char *text = (const char *)out.data;
  assert_non_null(strstr(text, "qg.Task"));
  /* The two where calls are one Where node (or none, once an index
   * answers it), never a Where over a Where. */
  const char *w = strstr(text, "Where");
  assert_true(w == NULL || strstr(w + 1, "Where") == NULL);
  /* The plan is fixed: a builder now is PB_EINVAL, latched. */
  assert_int_equal(qg_Task_limit(q, 1), PB_EINVAL);
  qg_Task r;
  assert_int_equal(qg_Task_next(q, &r), PB_EINVAL);
  qg_Task_query_free(q);
  /* explain, then the rows. */
  q = open_q(txn);
  qg_Task_where_prio_eq(q, 3), qg_Task_order_by_id(q, PB_DESC);
  pb_buf_reset(&out);
  assert_int_equal(qg_Task_query_explain(q, &out), PB_OK);
  assert_true(out.len > 0);
  SEQ(q, IDS(3, 1));
  pb_buf_free(&out);
  pb_txn_abort(txn);
}

/* The keyless Event: ids come with the rows. */
static void keyless(void **state) {
  (void)state;
  pb_txn *txn = begin_ro();
  qg_Event_query *q = NULL;
  qg_Event e;
  uint64_t id = 0, ids[8];
  size_t n = 0;
  int rc;
  assert_int_equal(qg_Event_query_open(txn, &q), PB_OK);
  assert_int_equal(qg_Event_where_what_eq(q, S("start")), PB_OK);
  assert_int_equal(qg_Event_order_by_at(q, PB_DESC), PB_OK);
  while ((rc = qg_Event_next(q, &e, &id)) == PB_OK) {
    assert_true(n < 8);
    assert_int_equal(e.what.len, 5);
    assert_int_equal(e.at, id == 1 ? 10 : 30);
    ids[n++] = id;
  }
  assert_int_equal(rc, PB_ENOTFOUND);
  assert_int_equal(n, 2);
  assert_true(ids[0] == 3 && ids[1] == 1);
  qg_Event_query_free(q);
  /* An absent optional string, a prefix, an id not asked for. */
  assert_int_equal(qg_Event_query_open(txn, &q), PB_OK);
  assert_int_equal(qg_Event_where_note_is_null(q), PB_OK);
  n = 0;
  while ((rc = qg_Event_query_next(q, &e, NULL)) == PB_OK)
    ids[n++] = (uint64_t)e.at;
  assert_int_equal(rc, PB_ENOTFOUND);
  assert_int_equal(n, 2);
  qsort(ids, n, sizeof *ids, u64_cmp);
  assert_true(ids[0] == 20 && ids[1] == 30);
  qg_Event_query_free(q);
  assert_int_equal(qg_Event_query_open(txn, &q), PB_OK);
  assert_int_equal(qg_Event_where_note_prefix(q, S("n")), PB_OK);
  assert_int_equal(qg_Event_where_at_between(q, 10, 15, 0), PB_OK);
  assert_int_equal(qg_Event_order_by_note(q, PB_DESC), PB_OK);
  n = 0;
  while ((rc = qg_Event_next(q, &e, &id)) == PB_OK) {
    assert_true(e.has_note);
    ids[n++] = id;
  }
  assert_int_equal(rc, PB_ENOTFOUND);
  assert_int_equal(n, 2);
  assert_true(ids[0] == 4 && ids[1] == 1);
  qg_Event_query_free(q);
  pb_txn_abort(txn);
}

/* P_R_next still takes a table cursor. */
static void next_on_cursor(void **state) {
  (void)state;
  pb_txn *txn = begin_ro();
  qg_Task_cursor *cur = NULL;
  qg_Task r;
  uint64_t lo = 5;
  assert_int_equal(qg_Task_scan(txn, &lo, NULL, 0, &cur), PB_OK);
  assert_int_equal(qg_Task_next(cur, &r), PB_OK);
  assert_true(r.id == 5);
  assert_int_equal(qg_Task_next(cur, &r), PB_OK);
  assert_true(r.id == 6);
  assert_int_equal(qg_Task_next(cur, &r), PB_ENOTFOUND);
  qg_Task_cursor_close(cur);
  qg_Event_cursor *ec = NULL;
  qg_Event e;
  uint64_t id = 0;
  assert_int_equal(qg_Event_scan(txn, NULL, NULL, 0, &ec), PB_OK);
  assert_int_equal(qg_Event_next(ec, &e, &id), PB_OK);
  assert_true(id == 1 && e.at == 10);
  qg_Event_cursor_close(ec);
  pb_txn_abort(txn);
}

/* The field expressions on a generic plan, rows read with P_R_from_row. */
static void expressions_and_rows(void **state) {
  (void)state;
  pb_txn *txn = begin_ro();
  pb_plan *p = NULL;
  assert_int_equal(pb_plan_from_table(txn, &qg_Task_table, &p), PB_OK);
  assert_int_equal(
      pb_plan_where(&p, pb_expr_and(
                            pb_expr_cmp(PB_EQ, qg_Task_prio_expr(0),
                                        pb_expr_const(pb_qint(3))),
                            pb_expr_cmp(PB_LT, qg_Task_title_expr(0),
                                        pb_expr_const(pb_qstr(S("b")))))),
      PB_OK);
  pb_sort_key key = {qg_Task_hours_expr(0), PB_DESC};
  assert_int_equal(pb_plan_order_by(&p, &key, 1), PB_OK);
  pb_row row;
  qg_Task r;
  assert_int_equal(pb_plan_next(p, &row), PB_OK);
  assert_int_equal(qg_Task_from_row(&row, 0, &r), PB_OK);
  assert_true(r.id == 1);
  assert_int_equal(qg_Task_from_row(&row, 1, &r), PB_EINVAL); /* no src 1 */
  assert_int_equal(pb_plan_next(p, &row), PB_OK);
  assert_int_equal(qg_Task_from_row(&row, 0, &r), PB_OK);
  assert_true(r.id == 3);
  assert_int_equal(pb_plan_next(p, &row), PB_ENOTFOUND);
  pb_plan_free(p);
  /* A keyless table's rows carry ids. */
  assert_int_equal(pb_plan_from_table(txn, &qg_Event_table, &p), PB_OK);
  assert_int_equal(pb_plan_where(&p, pb_expr_cmp(PB_EQ, qg_Event_at_expr(0),
                                                 pb_expr_const(pb_qint(15)))),
                   PB_OK);
  qg_Event e;
  uint64_t id = 0;
  assert_int_equal(pb_plan_next(p, &row), PB_OK);
  assert_int_equal(qg_Event_from_row(&row, 0, &e, &id), PB_OK);
  assert_true(id == 4 && e.has_note);
  assert_int_equal(qg_Event_from_row(&row, 0, &e, NULL), PB_OK);
  pb_plan_free(p);
  /* A NULL source (an outer join's missing side), NULL arguments. */
  const void *recs[2] = {&r, NULL};
  uint64_t rids[2] = {0, 0};
  pb_row fake = {recs, rids, 2, NULL, 0};
  assert_int_equal(qg_Task_from_row(&fake, 1, &r), PB_ENOTFOUND);
  assert_int_equal(qg_Task_from_row(&fake, 2, &r), PB_EINVAL);
  assert_int_equal((qg_Task_from_row)(NULL, 0, &r), PB_EINVAL);
  assert_int_equal((qg_Task_from_row)(&fake, 0, NULL), PB_EINVAL);
  /* Each field expression names its field: a where on it keeps rows. */
  pb_expr *e1 = qg_Task_done_expr(2);
  assert_non_null(e1);
  pb_expr_free(e1);
  pb_txn_abort(txn);
}

/* A join and a group-by built with the field expressions. */
static void join_and_group(void **state) {
  (void)state;
  pb_txn *txn = begin_ro();
  /* Every owner, with its tasks of priority 5 (only bob has one). */
  pb_plan *p = NULL, *t = NULL;
  assert_int_equal(pb_plan_from_table(txn, &qg_Owner_table, &p), PB_OK);
  qg_Task_query *tq = open_q(txn); /* the right side: a typed query */
  assert_int_equal(qg_Task_where_prio_eq(tq, 5), PB_OK);
  assert_int_equal(qg_Task_query_plan(tq, &t), PB_OK);
  assert_non_null(t);
  assert_int_equal(
      pb_plan_join(&p, t, PB_JOIN_LEFT,
                   pb_expr_cmp(PB_EQ, qg_Owner_name_expr(0),
                               qg_Task_owner_expr(1))), /* ref<Owner> */
      PB_OK);
  pb_row row;
  qg_Owner o;
  qg_Task r;
  static const char *const names[] = {"ann", "bob", "cat"};
  for (int i = 0; i < 3; i++) {
    assert_int_equal(pb_plan_next(p, &row), PB_OK);
    assert_int_equal(qg_Owner_from_row(&row, 0, &o), PB_OK);
    assert_int_equal(o.name.len, 3);
    assert_memory_equal(o.name.ptr, names[i], 3);
    if (i == 1) {
      assert_int_equal(qg_Task_from_row(&row, 1, &r), PB_OK);
      assert_true(r.id == 5);
    } else {
      assert_int_equal(qg_Task_from_row(&row, 1, &r), PB_ENOTFOUND);
    }
  }
  assert_int_equal(pb_plan_next(p, &row), PB_ENOTFOUND);
  pb_plan_free(p);
  /* The tasks per owner, and their hours. */
  assert_int_equal(pb_plan_from_table(txn, &qg_Task_table, &p), PB_OK);
  pb_expr *key = qg_Task_owner_expr(0);
  pb_agg aggs[2] = {{PB_AGG_COUNT_ALL, NULL}, {PB_AGG_SUM, qg_Task_hours_expr(0)}};
  assert_int_equal(pb_plan_group_by(&p, &key, 1, aggs, 2), PB_OK);
  static const struct {
    const char *owner;
    int64_t n;
    double hours;
  } want[] = {{"ann", 3, 6.5}, {"bob", 2, 4.0}, {"cat", 1, 3.0}};
  for (int i = 0; i < 3; i++) {
    assert_int_equal(pb_plan_next(p, &row), PB_OK);
    assert_int_equal(row.n_cols, 3);
    assert_int_equal(row.cols[0].type, PB_QSTR);
    assert_memory_equal(row.cols[0].as.s.ptr, want[i].owner, 3);
    assert_true(row.cols[1].as.i == want[i].n);
    assert_true(row.cols[2].type == PB_QFLOAT &&
                row.cols[2].as.f == want[i].hours);
  }
  assert_int_equal(pb_plan_next(p, &row), PB_ENOTFOUND);
  pb_plan_free(p);
  pb_txn_abort(txn);
}

/* Each allocation of building and running a typed query failed in turn:
 * the builder that meets it returns PB_ENOMEM and latches it, P_R_next
 * returns it, nothing leaks (ASan); with no failure, the exact rows. */
static void alloc_failures(void **state) {
  (void)state;
  pb_txn *txn = begin_ro();
  bool done = false;
  long n;
  for (n = 1; !done && n < 2000; n++) {
    qg_Task_query *q = NULL;
    pb_str titles[] = {S("alpha"), S("alpine"), S("beta")};
    int rcs[8], k = 0;
    fail_at = n;
    int rc = qg_Task_query_open(txn, &q);
    if (rc != PB_OK) {
      fail_at = 0;
      assert_int_equal(rc, PB_ENOMEM);
      assert_null(q);
      continue;
    }
    rcs[k++] = qg_Task_where_title_in(q, titles, 3);
    rcs[k++] = qg_Task_where_title_prefix(q, S("al"));
    rcs[k++] = qg_Task_where_due_is_not_null(q);
    rcs[k++] = qg_Task_order_by_prio(q, PB_DESC);
    rcs[k++] = qg_Task_order_by_id(q, PB_ASC);
    rcs[k++] = qg_Task_where_hours_between(q, 0.0, 9.0, 0);
    rcs[k++] = qg_Task_limit(q, 5);
    qg_Task r;
    uint64_t got[8];
    size_t m = 0;
    while ((rc = qg_Task_next(q, &r)) == PB_OK && m < 8)
      got[m++] = r.id;
    done = fail_at > 0; /* nothing failed: every step ran */
    fail_at = 0;
    int first = PB_OK;
    for (int i = 0; i < k; i++) {
      assert_true(rcs[i] == PB_OK || rcs[i] == PB_ENOMEM);
      if (first == PB_OK)
        first = rcs[i];
      else /* after the first error, every builder returns it */
        assert_int_equal(rcs[i], first);
    }
    if (first != PB_OK) {
      assert_int_equal(rc, first); /* latched */
      assert_int_equal(m, 0);
    } else {
      assert_true(rc == PB_ENOTFOUND || rc == PB_ENOMEM);
    }
    if (done) {
      assert_int_equal(rc, PB_ENOTFOUND);
      assert_int_equal(m, 2);
      assert_true(got[0] == 1 && got[1] == 3); /* prio 3 both, by id */
    }
    qg_Task_query_free(q);
  }
  assert_true(done);
  assert_true(n > 30); /* the failures did reach the builders and next */
  pb_txn_abort(txn);
}

/* --- Errors --- */

static void errors(void **state) {
  (void)state;
  pb_txn *txn = begin_ro();
  qg_Task_query *q = NULL;
  qg_Task r;
  /* NULLs (the functions themselves: the macros refuse NULL queries). */
  assert_int_equal((qg_Task_query_open)(NULL, &q), PB_EINVAL);
  assert_null(q);
  assert_int_equal((qg_Task_query_open)(txn, NULL), PB_EINVAL);
  assert_int_equal((qg_Task_where_id_eq)(NULL, 1), PB_EINVAL);
  assert_int_equal((qg_Task_where_title_prefix)(NULL, S("a")), PB_EINVAL);
  assert_int_equal((qg_Task_where_id_between)(NULL, 1, 2, 0), PB_EINVAL);
  assert_int_equal((qg_Task_where_id_in)(NULL, NULL, 0), PB_EINVAL);
  assert_int_equal((qg_Task_where_due_is_null)(NULL), PB_EINVAL);
  assert_int_equal((qg_Task_where_due_is_not_null)(NULL), PB_EINVAL);
  assert_int_equal((qg_Task_order_by_id)(NULL, PB_ASC), PB_EINVAL);
  assert_int_equal((qg_Task_limit)(NULL, 1), PB_EINVAL);
  assert_int_equal((qg_Task_offset)(NULL, 1), PB_EINVAL);
  assert_int_equal((qg_Task_query_next)(NULL, &r), PB_EINVAL);
  pb_buf out;
  pb_buf_init(&out);
  assert_int_equal((qg_Task_query_explain)(NULL, &out), PB_EINVAL);
  qg_Task_query_free(NULL);
  /* A NULL record or buffer: an error, not latched. */
  q = open_q(txn);
  assert_int_equal((qg_Task_query_next)(q, NULL), PB_EINVAL);
  assert_int_equal((qg_Task_query_explain)(q, NULL), PB_EINVAL);
  assert_int_equal(qg_Task_where_id_eq(q, 2), PB_OK);
  SET(q, IDS(2));

  /* Each bad argument is returned, latched, and returned by next. */
  q = open_q(txn);
  assert_int_equal(qg_Task_where_id_between(q, 1, 2, 0x4u), PB_EINVAL);
  assert_int_equal(qg_Task_where_id_eq(q, 1), PB_EINVAL);
  assert_int_equal(qg_Task_order_by_id(q, PB_ASC), PB_EINVAL);
  assert_int_equal(qg_Task_limit(q, 1), PB_EINVAL);
  assert_int_equal(qg_Task_next(q, &r), PB_EINVAL);
  assert_int_equal(qg_Task_next(q, &r), PB_EINVAL);
  assert_int_equal(qg_Task_query_explain(q, &out), PB_EINVAL);
  qg_Task_query_free(q);
  q = open_q(txn);
  assert_int_equal(qg_Task_where_id_in(q, NULL, 2), PB_EINVAL);
  assert_int_equal(qg_Task_next(q, &r), PB_EINVAL);
  qg_Task_query_free(q);
  q = open_q(txn);
  assert_int_equal(qg_Task_order_by_id(q, 2u), PB_EINVAL);
  assert_int_equal(qg_Task_next(q, &r), PB_EINVAL);
  qg_Task_query_free(q);
  q = open_q(txn);
  pb_str bad = {NULL, 3};
  assert_int_equal(qg_Task_where_title_eq(q, bad), PB_EINVAL);
  assert_int_equal(qg_Task_next(q, &r), PB_EINVAL);
  qg_Task_query_free(q);
  q = open_q(txn);
  assert_int_equal(qg_Task_where_title_prefix(q, bad), PB_EINVAL);
  assert_int_equal(qg_Task_next(q, &r), PB_EINVAL);
  qg_Task_query_free(q);
  q = open_q(txn);
  pb_bytes badb = {NULL, 1};
  assert_int_equal(qg_Task_where_blob_between(q, B("a"), badb, 0), PB_EINVAL);
  assert_int_equal(qg_Task_next(q, &r), PB_EINVAL);
  qg_Task_query_free(q);
  q = open_q(txn);
  pb_str some[] = {S("al"), {NULL, 1}};
  assert_int_equal(qg_Task_where_title_in(q, some, 2), PB_EINVAL);
  assert_int_equal(qg_Task_next(q, &r), PB_EINVAL);
  qg_Task_query_free(q);
  /* A NULL pointer with length 0 is the empty string. */
  q = open_q(txn);
  pb_str empty = {NULL, 0};
  assert_int_equal(qg_Task_where_title_ge(q, empty), PB_OK);
  SET(q, IDS(1, 2, 3, 4, 5, 6));
  /* A builder after next: PB_EINVAL, latched; the rows stop. */
  q = open_q(txn);
  assert_int_equal(qg_Task_next(q, &r), PB_OK);
  assert_int_equal(qg_Task_where_id_eq(q, 1), PB_EINVAL);
  assert_int_equal(qg_Task_next(q, &r), PB_EINVAL);
  qg_Task_query_free(q);
  /* query_plan frees the query in every case. */
  pb_plan *p = (pb_plan *)&r; /* set to NULL by every call */
  assert_int_equal((qg_Task_query_plan)(NULL, &p), PB_EINVAL);
  assert_null(p);
  q = open_q(txn);
  assert_int_equal((qg_Task_query_plan)(q, NULL), PB_EINVAL);
  q = open_q(txn);
  qg_Task_limit(q, 2), qg_Task_where_id_eq(q, 1), qg_Task_order_by_id(q, 9);
  assert_int_equal(qg_Task_query_plan(q, &p), PB_EINVAL); /* latched */
  assert_null(p);
  q = open_q(txn);
  assert_int_equal(qg_Task_next(q, &r), PB_OK);
  assert_int_equal(qg_Task_query_plan(q, &p), PB_EINVAL); /* it ran */
  q = open_q(txn);
  qg_Task_where_id_ge(q, 5), qg_Task_order_by_id(q, PB_DESC);
  assert_int_equal(qg_Task_query_plan(q, &p), PB_OK);
  pb_row row;
  assert_int_equal(pb_plan_next(p, &row), PB_OK);
  assert_int_equal(qg_Task_from_row(&row, 0, &r), PB_OK);
  assert_true(r.id == 6);
  assert_int_equal(pb_plan_next(p, &row), PB_OK);
  assert_int_equal(pb_plan_next(p, &row), PB_ENOTFOUND);
  pb_plan_free(p);
  /* Freeing a query with pending terms and keys leaks nothing (ASan). */
  q = open_q(txn);
  qg_Task_where_id_eq(q, 1), qg_Task_where_id_ne(q, 2);
  qg_Task_query_free(q);
  q = open_q(txn);
  qg_Task_order_by_id(q, PB_ASC), qg_Task_order_by_prio(q, PB_DESC);
  qg_Task_query_free(q);
  pb_buf_free(&out);
  pb_txn_abort(txn);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(compare_integers),
      cmocka_unit_test(compare_floats),
      cmocka_unit_test(compare_strings_bytes),
      cmocka_unit_test(optional_null),
      cmocka_unit_test(between_variants),
      cmocka_unit_test(in_lists),
      cmocka_unit_test(and_of_terms),
      cmocka_unit_test(ordering),
      cmocka_unit_test(chain_positions),
      cmocka_unit_test(explain),
      cmocka_unit_test(keyless),
      cmocka_unit_test(next_on_cursor),
      cmocka_unit_test(expressions_and_rows),
      cmocka_unit_test(join_and_group),
      cmocka_unit_test(errors),
      cmocka_unit_test(alloc_failures),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}
