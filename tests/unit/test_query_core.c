/*
 * test_query_core.c - the core of query plans (protobase/query.h): From
 * over a table, an index range, a key range and each kind of collection;
 * Where with every comparison, BETWEEN variant, IN, PREFIX, IS NULL and
 * callbacks under SQL's three-valued logic; Select, Limit and Offset; the
 * build-time errors and their details; misuse of every public function;
 * allocation failures while building; and the properties of the value
 * order and hash (query/query_int.h).
 *
 * One fixed data set (schema unit/schema/query_core.pbs), on the file
 * tier with the defaults (PB_DURABILITY_SYNC), and the Where matrix again
 * on the memory tier.  Every expected result is written out as the ids of
 * the rows, in order.
 */
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
#include "query/query_int.h"
#include "query_core.pb.h"
#include "support/filedb.h"
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

/* --- The data set --- */

#define U63 9223372036854775808ull

typedef struct item_row {
  int32_t id;
  bool has_due;
  int64_t due;
  const char *name;
  double score;
  qc_Kind kind;
  bool done;
  uint64_t big;
  const char *blob;
  size_t blob_len;
  uint8_t small;
  float ratio;
} item_row;

static const item_row items[] = {
    {1, true, 10, "apple", 1.5, qc_Kind_A, true, 0, "\x00\x01", 2, 1, 0.5f},
    {2, false, 0, "apricot", 2.0, qc_Kind_B, false, 1, "\x00", 1, 2, 0.25f},
    {3, true, 20, "banana", -1.0, qc_Kind_NEG, true, UINT64_MAX, "", 0, 3,
     1.0f},
    {4, true, 30, "berry", 2.0, qc_Kind_C, false, U63, "\xff", 1, 4, -2.0f},
    {5, false, 0, "", 0.0, qc_Kind_A, false, 5, "\x00\x01\x02", 3, 5, 0.0f},
    {6, true, -5, "cherry", 3.25, qc_Kind_B, true, 100, "ab", 2, 6, 3.0f},
    {7, true, 10, "Apple", 1.5, qc_Kind_C, false, 7, "ab", 2, 7, 1.5f},
    {8, false, 0, "date", -0.5, qc_Kind_NEG, true, U63 - 1, "ab", 2, 8, 2.0f},
};
#define N_ITEMS (sizeof items / sizeof *items)

static const char *const notes[] = {"one", "two", "three"};

enum { T_ID = 1, T_DUE, T_NAME, T_SCORE, T_KIND, T_DONE, T_BIG, T_BLOB,
       T_TAGS, T_SMALL, T_RATIO };
/* the indexes of qc_Item, in declaration order */
enum { IX_DUE, IX_KIND_SCORE, IX_NAME, IX_BIG };

static int fill(pb_db *db) {
  pb_txn *txn;
  int rc = pb_txn_begin(db, 0, &txn);
  if (rc != PB_OK)
    return rc;
  static const int32_t tags[] = {1, 2};
  for (size_t i = 0; i < N_ITEMS && rc == PB_OK; i++) {
    const item_row *r = &items[i];
    qc_Item it;
    qc_Item_init(&it);
    it.id = r->id;
    it.has_due = r->has_due;
    it.due = r->due;
    it.name = pb_str_from_cstr(r->name);
    it.score = r->score;
    it.kind = r->kind;
    it.done = r->done;
    it.big = r->big;
    it.blob = (pb_bytes){(const uint8_t *)r->blob, r->blob_len};
    it.tags.items = tags;
    it.tags.count = 2;
    it.small = r->small;
    it.ratio = r->ratio;
    rc = qc_Item_insert(txn, &it);
  }
  for (size_t i = 0; i < 3 && rc == PB_OK; i++) {
    qc_Note n;
    qc_Note_init(&n);
    n.text = pb_str_from_cstr(notes[i]);
    n.n = (int32_t)(10 * (3 - i));
    n.has_item = i != 1;
    n.item = (int32_t)(i + 4);
    uint64_t id;
    rc = qc_Note_insert(txn, &n, &id);
  }
  if (rc != PB_OK) {
    pb_txn_abort(txn);
    return rc;
  }
  return pb_txn_commit(txn);
}

/* --- Fixtures: the file tier (defaults) and the memory tier --- */

typedef struct fix {
  bool file;
  pb_test_filedb f;
  pb_storage *st;
  pb_space *sp;
  pb_db *db;
  pb_txn *txn;
} fix;

static int setup_file(void **state) {
  fix *x = calloc(1, sizeof *x);
  x->file = true;
  if (pb_test_filedb_open(&x->f, PB_DURABILITY_SYNC) != PB_OK)
    return -1;
  x->db = x->f.db;
  if (fill(x->db) != PB_OK)
    return -1;
  *state = x;
  return 0;
}

static int setup_mem(void **state) {
  fix *x = calloc(1, sizeof *x);
  if (pb_storage_open_memory(&x->st) != PB_OK ||
      pb_space_open(x->st, &x->sp) != PB_OK ||
      pb_db_open(x->sp, "main", PB_CREATE, &x->db) != PB_OK)
    return -1;
  if (fill(x->db) != PB_OK)
    return -1;
  *state = x;
  return 0;
}

static int teardown(void **state) {
  fix *x = *state;
  int rc;
  if (x->file) {
    rc = pb_test_filedb_close(&x->f);
  } else {
    rc = pb_db_close(x->db);
    if (pb_space_close(x->sp) != PB_OK)
      rc = -1;
  }
  free(x);
  return rc == PB_OK ? 0 : -1;
}

/* Each test runs in a transaction of its own. */
static int begin(void **state) {
  fix *x = *state;
  return pb_txn_begin(x->db, 0, &x->txn) == PB_OK ? 0 : -1;
}

static int end(void **state) {
  fix *x = *state;
  int rc = pb_txn_abort(x->txn);
  x->txn = NULL;
  return rc == PB_OK ? 0 : -1;
}

static pb_txn *T(void **state) { return ((fix *)*state)->txn; }

/* --- Helpers --- */

/* Runs p to its end (freeing it): the ids of its rows (source 0's key, or
 * its row id in a keyless table) as "1 2 3". */
static char *ids_of(pb_plan *p, int *err) {
  static char buf[512];
  size_t len = 0;
  buf[0] = 0;
  pb_row row;
  int rc;
  while ((rc = pb_plan_next(p, &row)) == PB_OK) {
    assert_int_equal(row.n_recs, 1);
    assert_non_null(row.recs[0]);
    long id = row.ids[0] ? (long)row.ids[0]
                         : (long)((const qc_Item *)row.recs[0])->id;
    len += (size_t)snprintf(buf + len, sizeof buf - len, "%s%ld",
                            len ? " " : "", id);
  }
  if (err)
    *err = rc;
  else
    assert_int_equal(rc, PB_ENOTFOUND);
  pb_plan_free(p);
  return buf;
}

/* The ids of the rows of qc_Item where pred is TRUE. */
static char *where_ids(pb_txn *txn, pb_expr *pred) {
  pb_plan *p;
  assert_int_equal(pb_plan_from_table(txn, &qc_Item_table, &p), PB_OK);
  assert_int_equal(pb_plan_where(&p, pred), PB_OK);
  return ids_of(p, NULL);
}

#define F(tag) pb_expr_field(0, (tag))
#define C(v) pb_expr_const(v)
#define CMP(op, a, b) pb_expr_cmp((op), (a), (b))
#define S(s) pb_qstr(pb_str_from_cstr(s))
#define B(p, n) pb_qbytes((pb_bytes){(const uint8_t *)(p), (n)})
#define EXPECT(pred, want) assert_string_equal(where_ids(txn, (pred)), (want))

/* --- From --- */

static void from_table(void **state) {
  pb_txn *txn = T(state);
  pb_plan *p;
  assert_int_equal(pb_plan_from_table(txn, &qc_Item_table, &p), PB_OK);
  /* the rows decode completely, in key order */
  pb_row row;
  for (size_t i = 0; i < N_ITEMS; i++) {
    assert_int_equal(pb_plan_next(p, &row), PB_OK);
    assert_int_equal(row.n_recs, 1);
    assert_int_equal(row.n_cols, 0);
    assert_int_equal(row.ids[0], 0);
    const qc_Item *it = row.recs[0];
    assert_int_equal(it->id, items[i].id);
    assert_int_equal(it->has_due, items[i].has_due);
    assert_true(it->big == items[i].big);
    assert_int_equal(it->name.len, strlen(items[i].name));
    assert_int_equal(it->tags.count, 2);
  }
  assert_int_equal(pb_plan_next(p, &row), PB_ENOTFOUND);
  assert_int_equal(pb_plan_next(p, &row), PB_ENOTFOUND); /* stays ended */
  pb_plan_free(p);

  /* a keyless table: the ids */
  assert_int_equal(pb_plan_from_table(txn, &qc_Note_table, &p), PB_OK);
  assert_string_equal(ids_of(p, NULL), "1 2 3");

  /* a ref to a keyed record reads as the key (an optional one: NULL when
   * absent); a ref to a keyless one cannot be read */
  assert_int_equal(pb_plan_from_table(txn, &qc_Note_table, &p), PB_OK);
  assert_int_equal(
      pb_plan_where(&p, CMP(PB_GE, pb_expr_field(0, 3), C(pb_quint(5)))),
      PB_OK);
  assert_string_equal(ids_of(p, NULL), "3");
  assert_int_equal(pb_plan_from_table(txn, &qc_Note_table, &p), PB_OK);
  assert_int_equal(pb_plan_where(&p, pb_expr_is_null(pb_expr_field(0, 3))),
                   PB_OK);
  assert_string_equal(ids_of(p, NULL), "2");
  assert_int_equal(pb_plan_from_table(txn, &qc_Note_table, &p), PB_OK);
  assert_int_equal(pb_plan_where(&p, pb_expr_is_null(pb_expr_field(0, 4))),
                   PB_EINVAL);
  assert_non_null(strstr(pb_errdetail(), "prev (tag 4, type ref<qc.Note>)"));
  pb_plan_free(p);
}

static void from_index(void **state) {
  pb_txn *txn = T(state);
  pb_plan *p;
  pb_qval lo = pb_qint(10), hi = pb_qint(30);
#define IX(ix, l, nl, h, nh, fl, want)                                       \
  do {                                                                       \
    assert_int_equal(pb_plan_from_index(txn, &qc_Item_table, (ix), (l),      \
                                        (nl), (h), (nh), (fl), &p),          \
                     PB_OK);                                                 \
    assert_string_equal(ids_of(p, NULL), (want));                            \
  } while (0)
  IX(IX_DUE, &lo, 1, &hi, 1, 0, "1 7 3");
  IX(IX_DUE, &lo, 1, &hi, 1, PB_SCAN_LO_EXCL, "3");
  IX(IX_DUE, &lo, 1, &hi, 1, PB_SCAN_HI_INCL, "1 7 3 4");
  IX(IX_DUE, &lo, 1, &hi, 1, PB_SCAN_LO_EXCL | PB_SCAN_HI_INCL, "3 4");
  IX(IX_DUE, &lo, 1, &hi, 1, PB_SCAN_HI_INCL | PB_SCAN_REVERSE, "4 3 7 1");
  IX(IX_DUE, NULL, 0, NULL, 0, 0, "2 5 8 6 1 7 3 4"); /* absent first */
  pb_qval absent = pb_qnull();
  IX(IX_DUE, &absent, 1, &absent, 1, PB_SCAN_HI_INCL, "2 5 8");
  IX(IX_DUE, &absent, 1, NULL, 0, PB_SCAN_LO_EXCL, "6 1 7 3 4");
  /* a float bound that is an integer, a uint one */
  pb_qval f20 = pb_qfloat(20.0), u20 = pb_quint(20);
  IX(IX_DUE, &f20, 1, NULL, 0, 0, "3 4");
  IX(IX_DUE, NULL, 0, &u20, 1, 0, "2 5 8 6 1 7");
  /* a composite index: a prefix, and a longer lo */
  pb_qval kc = pb_qint(qc_Kind_C);
  IX(IX_KIND_SCORE, &kc, 1, &kc, 1, PB_SCAN_HI_INCL, "7 4");
  IX(IX_KIND_SCORE, &kc, 1, &kc, 1, 0, ""); /* hi exclusive of its prefix */
  IX(IX_KIND_SCORE, &kc, 1, NULL, 0, PB_SCAN_LO_EXCL, "");
  pb_qval lo2[2] = {pb_qint(qc_Kind_B), pb_qfloat(2.5)};
  IX(IX_KIND_SCORE, lo2, 2, &kc, 1, PB_SCAN_HI_INCL, "6 7 4");
  pb_qval lo3[2] = {pb_qint(qc_Kind_B), pb_qint(2)};
  IX(IX_KIND_SCORE, lo3, 2, lo3, 2, PB_SCAN_HI_INCL, "2");
  IX(IX_KIND_SCORE, lo3, 2, lo3, 2, PB_SCAN_LO_EXCL | PB_SCAN_HI_INCL, "");
  pb_qval ap = S("ap"), b = S("b");
  IX(IX_NAME, &ap, 1, &b, 1, 0, "1 2");
  pb_qval big = pb_quint(U63 - 1);
  IX(IX_BIG, &big, 1, NULL, 0, 0, "8 4 3");
  IX(IX_BIG, &big, 1, NULL, 0, PB_SCAN_LO_EXCL, "4 3");

  /* values that are not the field's: refused, with a detail */
  pb_qval bad[] = {pb_qint(-1), pb_qfloat(2.5), S("x"), pb_qfloat(NAN),
                   pb_qfloat(1e30)};
  for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
    p = (pb_plan *)&p;
    size_t ix = i == 2 || i == 0 ? IX_BIG : IX_DUE;
    assert_int_equal(pb_plan_from_index(txn, &qc_Item_table, ix, &bad[i], 1,
                                        NULL, 0, 0, &p),
                     PB_EINVAL);
    assert_null(p);
    assert_non_null(strstr(pb_errdetail(), "IndexScan"));
  }
  pb_qval nul = pb_qnull(); /* NULL for a field that is not optional */
  assert_int_equal(pb_plan_from_index(txn, &qc_Item_table, IX_NAME, &nul, 1,
                                      NULL, 0, 0, &p),
                   PB_EINVAL);
  pb_qval k300 = pb_qint(1LL << 40); /* beyond the enum's int32 */
  assert_int_equal(pb_plan_from_index(txn, &qc_Item_table, IX_KIND_SCORE,
                                      &k300, 1, NULL, 0, 0, &p),
                   PB_EINVAL);
  pb_qval three[3] = {pb_qint(1), pb_qfloat(1), pb_qint(1)};
  assert_int_equal(pb_plan_from_index(txn, &qc_Item_table, IX_KIND_SCORE,
                                      three, 3, NULL, 0, 0, &p),
                   PB_EINVAL);
  assert_int_equal(pb_plan_from_index(txn, &qc_Item_table, 99, NULL, 0,
                                      NULL, 0, 0, &p),
                   PB_EINVAL);
  assert_non_null(strstr(pb_errdetail(), "no index #99"));
  assert_int_equal(pb_plan_from_index(txn, &qc_Item_table, IX_DUE, NULL, 0,
                                      NULL, 0, PB_SCAN_PREFIX, &p),
                   PB_EINVAL);
  assert_int_equal(pb_plan_from_index(txn, &qc_Item_table, IX_DUE, NULL, 1,
                                      NULL, 0, 0, &p),
                   PB_EINVAL);
#undef IX
}

static void from_key(void **state) {
  pb_txn *txn = T(state);
  pb_plan *p;
  pb_qval lo = pb_qint(3), hi = pb_qint(6);
  assert_int_equal(pb__from_key_node(txn, &qc_Item_table, &lo, 1, &hi, 1, 0,
                                     &p),
                   PB_OK);
  assert_string_equal(ids_of(p, NULL), "3 4 5");
  assert_int_equal(pb__from_key_node(txn, &qc_Item_table, &lo, 1, &hi, 1,
                                     PB_SCAN_LO_EXCL | PB_SCAN_HI_INCL, &p),
                   PB_OK);
  assert_string_equal(ids_of(p, NULL), "4 5 6");
  assert_int_equal(pb__from_key_node(txn, &qc_Item_table, NULL, 0, &hi, 1,
                                     PB_SCAN_REVERSE, &p),
                   PB_OK);
  assert_string_equal(ids_of(p, NULL), "5 4 3 2 1");
  /* a keyless table: by id */
  pb_qval two = pb_quint(2);
  assert_int_equal(pb__from_key_node(txn, &qc_Note_table, &two, 1, NULL, 0,
                                     0, &p),
                   PB_OK);
  assert_string_equal(ids_of(p, NULL), "2 3");
  pb_qval neg = pb_qint(-1);
  assert_int_equal(pb__from_key_node(txn, &qc_Note_table, &neg, 1, NULL, 0,
                                     0, &p),
                   PB_EINVAL);
  assert_non_null(strstr(pb_errdetail(), "KeyScan"));
  /* the optimizer's view of a From */
  assert_int_equal(pb_plan_from_table(txn, &qc_Item_table, &p), PB_OK);
  assert_ptr_equal(pb__from_table_def(p), &qc_Item_table);
  assert_int_equal(pb_plan_limit(&p, 1), PB_OK);
  assert_null(pb__from_table_def(p));
  pb_plan_free(p);
}

/* The rows of a plan over a collection as "k=v;" text. */
static char *coll_rows(pb_plan *p) {
  static char buf[512];
  size_t len = 0;
  buf[0] = 0;
  pb_row row;
  int rc;
  while ((rc = pb_plan_next(p, &row)) == PB_OK) {
    assert_int_equal(row.n_recs, 0);
    assert_int_equal(row.n_cols, 2);
    for (int c = 0; c < 2; c++) {
      const pb_qval *v = &row.cols[c];
      char one[64];
      switch (v->type) {
      case PB_QNULL: snprintf(one, sizeof one, "NULL"); break;
      case PB_QBOOL: snprintf(one, sizeof one, "%s", v->as.b ? "T" : "F");
        break;
      case PB_QINT: snprintf(one, sizeof one, "i%lld", (long long)v->as.i);
        break;
      case PB_QUINT:
        snprintf(one, sizeof one, "u%llu", (unsigned long long)v->as.u);
        break;
      case PB_QFLOAT: snprintf(one, sizeof one, "f%g", v->as.f); break;
      case PB_QSTR:
        snprintf(one, sizeof one, "'%.*s'", (int)v->as.s.len,
                 (const char *)v->as.s.ptr);
        break;
      case PB_QBYTES: snprintf(one, sizeof one, "b%zu", v->as.s.len); break;
      }
      len += (size_t)snprintf(buf + len, sizeof buf - len, "%s%s", one,
                              c ? ";" : "=");
    }
  }
  assert_int_equal(rc, PB_ENOTFOUND);
  pb_plan_free(p);
  return buf;
}

static void from_collection(void **state) {
  pb_txn *txn = T(state);
  pb_plan *p;
  pb_dict *d;
  pb_list *l;
  pb_set *s;
  pb_hdict *h;
  assert_int_equal(pb_txn_open_dict(txn, "d", PB_CREATE, &d), PB_OK);
  pb_value v = {.kind = PB_VALUE_INT, .as.i = -4};
  assert_int_equal(pb_dict_put(d, pb_str_from_cstr("b"), &v), PB_OK);
  v.kind = PB_VALUE_STRING;
  v.as.s = pb_str_from_cstr("x");
  assert_int_equal(pb_dict_put(d, pb_str_from_cstr("a"), &v), PB_OK);
  pb_list *nested;
  assert_int_equal(pb_dict_open_list(d, pb_str_from_cstr("c"), PB_CREATE,
                                     &nested),
                   PB_OK);
  assert_int_equal(pb_plan_from_collection(txn, PB_VALUE_DICT, d, &p), PB_OK);
  /* a nested collection's value is its encoding, as BYTES */
  char *got = coll_rows(p);
  assert_non_null(strstr(got, "'a'='x';'b'=i-4;'c'=b"));

  assert_int_equal(pb_txn_open_list(txn, "l", PB_CREATE, &l), PB_OK);
  v.kind = PB_VALUE_DOUBLE;
  v.as.d = 2.5;
  assert_int_equal(pb_list_append(l, &v), PB_OK);
  v.kind = PB_VALUE_BOOL;
  v.as.b = true;
  assert_int_equal(pb_list_append(l, &v), PB_OK);
  assert_int_equal(pb_plan_from_collection(txn, PB_VALUE_LIST, l, &p), PB_OK);
  assert_string_equal(coll_rows(p), "u0=f2.5;u1=T;");

  assert_int_equal(pb_txn_open_set(txn, "s", PB_CREATE, &s), PB_OK);
  v.kind = PB_VALUE_UINT;
  v.as.u = 7;
  assert_int_equal(pb_set_add(s, &v, NULL), PB_OK);
  assert_int_equal(pb_plan_from_collection(txn, PB_VALUE_SET, s, &p), PB_OK);
  assert_string_equal(coll_rows(p), "u7=NULL;");

  assert_int_equal(pb_txn_open_hdict(txn, "h", PB_CREATE, &h), PB_OK);
  pb_value k = {.kind = PB_VALUE_BYTES,
                .as.bytes = {(const uint8_t *)"\x01\x02", 2}};
  v.kind = PB_VALUE_NULL;
  assert_int_equal(pb_hdict_put(h, &k, &v), PB_OK);
  assert_int_equal(pb_plan_from_collection(txn, PB_VALUE_HASHDICT, h, &p),
                   PB_OK);
  assert_string_equal(coll_rows(p), "b2=NULL;");

  /* a Where over a collection's columns */
  assert_int_equal(pb_plan_from_collection(txn, PB_VALUE_LIST, l, &p), PB_OK);
  assert_int_equal(
      pb_plan_where(&p, CMP(PB_GE, pb_expr_col(0), C(pb_quint(1)))), PB_OK);
  assert_string_equal(coll_rows(p), "u1=T;");
  /* an empty collection */
  pb_set *e;
  assert_int_equal(pb_txn_open_set(txn, "e", PB_CREATE, &e), PB_OK);
  assert_int_equal(pb_plan_from_collection(txn, PB_VALUE_SET, e, &p), PB_OK);
  assert_string_equal(coll_rows(p), "");
}

/* --- Where --- */

static void where_cmp(void **state) {
  pb_txn *txn = T(state);
  static const pb_cmp ops[] = {PB_EQ, PB_NE, PB_LT, PB_LE, PB_GT, PB_GE};
  /* an optional int64 (absent: NULL) against 10 */
  static const char *const due[] = {"1 7",   "3 4 6", "6",
                                    "1 6 7", "3 4",   "1 3 4 7"};
  /* a string against 'apple' ("" < "Apple" < "apple" < "apricot" ...) */
  static const char *const name[] = {"1",     "2 3 4 5 6 7 8", "5 7",
                                     "1 5 7", "2 3 4 6 8",     "1 2 3 4 6 8"};
  /* a float64 against the INT 2 */
  static const char *const score[] = {"2 4",         "1 3 5 6 7 8", "1 3 5 7 8",
                                      "1 2 3 4 5 7 8", "6",         "2 4 6"};
  /* a uint64 against the FLOAT 2^63: exactly, not as doubles (row 8 is
   * 2^63 - 1, which a double rounds to 2^63) */
  static const char *const big[] = {"4",           "1 2 3 5 6 7 8",
                                    "1 2 5 6 7 8", "1 2 4 5 6 7 8",
                                    "3",           "3 4"};
  /* a uint64 against the INT -1: greater, always */
  static const char *const bigneg[] = {"", "1 2 3 4 5 6 7 8", "", "",
                                       "1 2 3 4 5 6 7 8", "1 2 3 4 5 6 7 8"};
  /* bytes against x'0001' ("" < 00 < 0001 < 000102 < 'ab' < ff) */
  static const char *const blob[] = {"1",       "2 3 4 5 6 7 8", "2 3",
                                     "1 2 3",   "4 5 6 7 8",     "1 4 5 6 7 8"};
  /* a bool against TRUE */
  static const char *const done[] = {"1 3 6 8", "2 4 5 7", "2 4 5 7",
                                     "1 2 3 4 5 6 7 8", "", "1 3 6 8"};
  /* an enum against the UINT 1 (B) */
  static const char *const kind[] = {"2 6",     "1 3 4 5 7 8", "1 3 5 8",
                                     "1 2 3 5 6 8", "4 7",     "2 4 6 7"};
  /* a uint8 against the FLOAT 4.5; a float32 against the FLOAT 0.25 */
  static const char *const small[] = {"",        "1 2 3 4 5 6 7 8", "1 2 3 4",
                                      "1 2 3 4", "5 6 7 8",         "5 6 7 8"};
  static const char *const ratio[] = {"2",           "1 3 4 5 6 7 8", "4 5",
                                      "2 4 5",       "1 3 6 7 8",     "1 2 3 6 7 8"};
  for (int i = 0; i < 6; i++) {
    EXPECT(CMP(ops[i], F(T_DUE), C(pb_qint(10))), due[i]);
    EXPECT(CMP(ops[i], F(T_NAME), C(S("apple"))), name[i]);
    EXPECT(CMP(ops[i], F(T_SCORE), C(pb_qint(2))), score[i]);
    EXPECT(CMP(ops[i], F(T_BIG), C(pb_qfloat(9223372036854775808.0))),
           big[i]);
    EXPECT(CMP(ops[i], F(T_BIG), C(pb_qint(-1))), bigneg[i]);
    EXPECT(CMP(ops[i], F(T_BLOB), C(B("\x00\x01", 2))), blob[i]);
    EXPECT(CMP(ops[i], F(T_DONE), C(pb_qbool(true))), done[i]);
    EXPECT(CMP(ops[i], F(T_KIND), C(pb_quint(1))), kind[i]);
    EXPECT(CMP(ops[i], F(T_SMALL), C(pb_qfloat(4.5))), small[i]);
    EXPECT(CMP(ops[i], F(T_RATIO), C(pb_qfloat(0.25))), ratio[i]);
    /* a comparison with NULL is NULL: no row, and NOT of it neither */
    EXPECT(CMP(ops[i], F(T_SCORE), C(pb_qnull())), "");
    EXPECT(pb_expr_not(CMP(ops[i], F(T_SCORE), C(pb_qnull()))), "");
  }
  /* two fields of one row */
  EXPECT(CMP(PB_GT, F(T_SMALL), F(T_DUE)), "6");
  EXPECT(CMP(PB_LT, F(T_SMALL), F(T_DUE)), "1 3 4 7");
  EXPECT(CMP(PB_EQ, F(T_RATIO), F(T_SCORE)), "5 7");
  /* a bool field is a predicate by itself */
  EXPECT(F(T_DONE), "1 3 6 8");
  EXPECT(C(pb_qbool(true)), "1 2 3 4 5 6 7 8");
  EXPECT(C(pb_qnull()), "");
}

static void where_between(void **state) {
  pb_txn *txn = T(state);
  static const char *const want[4] = {"1 3 4 7", "3 4", "1 3 7", "3"};
  for (unsigned fl = 0; fl < 4; fl++)
    EXPECT(pb_expr_between(F(T_DUE), C(pb_qint(10)), C(pb_qint(30)), fl),
           want[fl]);
  /* the ends are values of any comparable type */
  EXPECT(pb_expr_between(F(T_SCORE), C(pb_quint(1)), C(pb_qfloat(2.0)),
                         PB_BETWEEN_HI_EXCL),
         "1 7");
  EXPECT(pb_expr_between(F(T_NAME), C(S("b")), C(S("c")), 0), "3 4");
  /* a NULL end is NULL, not open: only rows the other end rules out are
   * FALSE */
  EXPECT(pb_expr_between(F(T_DUE), C(pb_qnull()), C(pb_qint(15)), 0), "");
  EXPECT(pb_expr_not(pb_expr_between(F(T_DUE), C(pb_qnull()),
                                     C(pb_qint(15)), 0)),
         "3 4");
  EXPECT(pb_expr_not(pb_expr_between(F(T_DUE), C(pb_qint(10)),
                                     C(pb_qint(30)), 0)),
         "6");
}

static void where_logic(void **state) {
  pb_txn *txn = T(state);
  /* due > 15: TRUE 3 4; FALSE 1 6 7; NULL 2 5 8.  done: TRUE 1 3 6 8. */
#define GT15 CMP(PB_GT, F(T_DUE), C(pb_qint(15)))
#define DONE F(T_DONE)
  EXPECT(pb_expr_or(GT15, DONE), "1 3 4 6 8");
  EXPECT(pb_expr_not(pb_expr_or(GT15, DONE)), "7");
  EXPECT(pb_expr_and(GT15, pb_expr_not(DONE)), "4");
  EXPECT(pb_expr_not(pb_expr_and(GT15, pb_expr_not(DONE))), "1 3 6 7 8");
  EXPECT(pb_expr_and(GT15, DONE), "3");
  EXPECT(pb_expr_not(pb_expr_and(GT15, DONE)), "1 2 4 5 6 7");
  EXPECT(pb_expr_or(GT15, pb_expr_not(DONE)), "2 3 4 5 7");
  EXPECT(pb_expr_not(pb_expr_or(GT15, pb_expr_not(DONE))), "1 6");
  EXPECT(pb_expr_not(GT15), "1 6 7");
  EXPECT(pb_expr_not(pb_expr_not(GT15)), "3 4");
  /* NULL constants in AND and OR */
  EXPECT(pb_expr_and(C(pb_qnull()), DONE), "");
  EXPECT(pb_expr_not(pb_expr_and(C(pb_qnull()), DONE)), "2 4 5 7");
  EXPECT(pb_expr_or(C(pb_qnull()), DONE), "1 3 6 8");
  EXPECT(pb_expr_not(pb_expr_or(C(pb_qnull()), DONE)), "");
#undef GT15
#undef DONE
}

static void where_in_prefix_null(void **state) {
  pb_txn *txn = T(state);
  pb_qval v[3] = {pb_qint(10), pb_qint(30), pb_qnull()};
  EXPECT(pb_expr_in(F(T_DUE), v, 2), "1 4 7");
  EXPECT(pb_expr_not(pb_expr_in(F(T_DUE), v, 2)), "3 6");
  EXPECT(pb_expr_in(F(T_DUE), NULL, 0), "");
  EXPECT(pb_expr_not(pb_expr_in(F(T_DUE), NULL, 0)), "1 2 3 4 5 6 7 8");
  pb_qval vn[2] = {pb_qint(10), pb_qnull()}; /* a NULL in the list */
  EXPECT(pb_expr_in(F(T_DUE), vn, 2), "1 7");
  EXPECT(pb_expr_not(pb_expr_in(F(T_DUE), vn, 2)), "");
  pb_qval names[2] = {S("date"), S("zz")};
  EXPECT(pb_expr_in(F(T_NAME), names, 2), "8");
  pb_qval nums[2] = {pb_qfloat(2.0), pb_quint(U63)};
  EXPECT(pb_expr_in(F(T_BIG), nums, 2), "4");
  EXPECT(pb_expr_in(F(T_SCORE), nums, 2), "2 4");

  EXPECT(pb_expr_prefix(F(T_NAME), S("ap")), "1 2");
  EXPECT(pb_expr_prefix(F(T_NAME), S("A")), "7");
  EXPECT(pb_expr_prefix(F(T_NAME), S("")), "1 2 3 4 5 6 7 8");
  EXPECT(pb_expr_prefix(F(T_NAME), S("applesauce")), "");
  EXPECT(pb_expr_prefix(F(T_BLOB), B("\x00", 1)), "1 2 5");
  EXPECT(pb_expr_not(pb_expr_prefix(F(T_BLOB), B("\x00", 1))),
         "3 4 6 7 8");

  EXPECT(pb_expr_is_null(F(T_DUE)), "2 5 8");
  EXPECT(pb_expr_not(pb_expr_is_null(F(T_DUE))), "1 3 4 6 7");
  EXPECT(pb_expr_is_null(F(T_NAME)), "");
  EXPECT(pb_expr_is_null(CMP(PB_GT, F(T_DUE), C(pb_qint(0)))), "2 5 8");
}

/* Callbacks: TRUE for even ids; an error at id `ctx`. */
static int even(const pb_row *row, void *ctx, bool *out) {
  const qc_Item *it = row->recs[0];
  if (ctx && it->id == *(int *)ctx)
    return PB_ERANGE;
  *out = it->id % 2 == 0;
  return PB_OK;
}

static int twice_score(const pb_row *row, void *ctx, pb_qval *out) {
  (void)ctx;
  const qc_Item *it = row->recs[0];
  *out = it->has_due ? pb_qfloat(2 * it->score) : pb_qnull();
  return PB_OK;
}

static int wrong_type(const pb_row *row, void *ctx, pb_qval *out) {
  (void)row;
  (void)ctx;
  *out = pb_qint(1);
  return PB_OK;
}

static void where_callbacks(void **state) {
  pb_txn *txn = T(state);
  EXPECT(pb_expr_pred(even, NULL), "2 4 6 8");
  EXPECT(pb_expr_and(pb_expr_pred(even, NULL), F(T_DONE)), "6 8");
  EXPECT(CMP(PB_GT, pb_expr_fn(PB_QFLOAT, twice_score, NULL),
             C(pb_qint(3))),
         "4 6");
  /* an error stops the plan, which returns it again */
  int at = 3, rc;
  pb_plan *p;
  assert_int_equal(pb_plan_from_table(txn, &qc_Item_table, &p), PB_OK);
  assert_int_equal(pb_plan_where(&p, pb_expr_pred(even, &at)), PB_OK);
  pb_row row;
  assert_int_equal(pb_plan_next(p, &row), PB_OK);
  assert_int_equal(((const qc_Item *)row.recs[0])->id, 2);
  assert_int_equal(pb_plan_next(p, &row), PB_ERANGE);
  assert_int_equal(pb_plan_next(p, &row), PB_ERANGE);
  pb_plan_free(p);
  /* a value function that breaks its declared type */
  assert_int_equal(pb_plan_from_table(txn, &qc_Item_table, &p), PB_OK);
  assert_int_equal(
      pb_plan_where(&p, CMP(PB_EQ, pb_expr_fn(PB_QSTR, wrong_type, NULL),
                            C(S("a")))),
      PB_OK);
  assert_string_equal(ids_of(p, &rc), "");
  assert_int_equal(rc, PB_EINVAL);
  assert_non_null(strstr(pb_errdetail(), "declared STR"));
}

/* --- Select, Limit, Offset --- */

static void select_cols(void **state) {
  pb_txn *txn = T(state);
  pb_plan *p;
  assert_int_equal(pb_plan_from_table(txn, &qc_Item_table, &p), PB_OK);
  assert_int_equal(
      pb_plan_where(&p, CMP(PB_LE, F(T_ID), C(pb_qint(3)))), PB_OK);
  pb_expr *cols[4] = {F(T_NAME), F(T_DUE),
                      CMP(PB_GT, F(T_DUE), C(pb_qint(15))),
                      pb_expr_fn(PB_QFLOAT, twice_score, NULL)};
  assert_int_equal(pb_plan_select(&p, cols, 4), PB_OK);
  assert_int_equal(p->shape.n_srcs, 0);
  assert_int_equal(p->shape.n_cols, 4);
  assert_int_equal(p->shape.col_types[0], PB_QSTR);
  assert_int_equal(p->shape.col_types[1], PB_QINT);
  assert_int_equal(p->shape.col_types[2], PB_QBOOL);
  assert_int_equal(p->shape.col_types[3], PB_QFLOAT);
  /* a Where over the columns */
  assert_int_equal(pb_plan_where(&p, pb_expr_not(pb_expr_col(2))), PB_OK);
  pb_row row;
  assert_int_equal(pb_plan_next(p, &row), PB_OK);
  assert_int_equal(row.n_recs, 0);
  assert_int_equal(row.n_cols, 4);
  assert_int_equal(row.cols[0].type, PB_QSTR);
  assert_memory_equal(row.cols[0].as.s.ptr, "apple", 5);
  assert_int_equal(row.cols[1].type, PB_QINT);
  assert_int_equal(row.cols[1].as.i, 10);
  assert_int_equal(row.cols[2].type, PB_QBOOL);
  assert_false(row.cols[2].as.b);
  assert_int_equal(row.cols[3].type, PB_QFLOAT);
  assert_true(row.cols[3].as.f == 3.0);
  assert_int_equal(pb_plan_next(p, &row), PB_ENOTFOUND); /* 2: NULL; 3 */
  pb_plan_free(p);
}

static void limit_offset(void **state) {
  pb_txn *txn = T(state);
  struct {
    bool off_first;
    uint64_t off, lim;
    const char *want;
  } cases[] = {
      {false, 0, 0, ""},          {false, 0, 3, "1 2 3"},
      {false, 0, 8, "1 2 3 4 5 6 7 8"},
      {false, 0, 100, "1 2 3 4 5 6 7 8"},
      {true, 0, UINT64_MAX, "1 2 3 4 5 6 7 8"},
      {true, 6, UINT64_MAX, "7 8"},
      {true, 8, UINT64_MAX, ""}, {true, 100, UINT64_MAX, ""},
      {true, 3, 2, "4 5"},        {false, 1, 3, "2 3"}, /* limit, then offset */
  };
  for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
    pb_plan *p;
    assert_int_equal(pb_plan_from_table(txn, &qc_Item_table, &p), PB_OK);
    if (cases[i].off_first) {
      assert_int_equal(pb_plan_offset(&p, cases[i].off), PB_OK);
      if (cases[i].lim != UINT64_MAX)
        assert_int_equal(pb_plan_limit(&p, cases[i].lim), PB_OK);
    } else {
      assert_int_equal(pb_plan_limit(&p, cases[i].lim), PB_OK);
      if (cases[i].off)
        assert_int_equal(pb_plan_offset(&p, cases[i].off), PB_OK);
    }
    assert_string_equal(ids_of(p, NULL), cases[i].want);
  }
  uint64_t n = 0;
  pb_plan *p;
  assert_int_equal(pb_plan_from_table(txn, &qc_Item_table, &p), PB_OK);
  assert_int_equal(pb_plan_limit(&p, 5), PB_OK);
  assert_true(pb__limit_count(p, &n));
  assert_int_equal(n, 5);
  assert_false(pb__limit_count(p->kid[0], &n));
  pb_plan_free(p);
}

/* --- Explain --- */

static void explain(void **state) {
  pb_txn *txn = T(state);
  pb_plan *p;
  pb_qval lo = pb_qint(10);
  assert_int_equal(pb_plan_from_index(txn, &qc_Item_table, IX_DUE, &lo, 1,
                                      NULL, 0, PB_SCAN_LO_EXCL, &p),
                   PB_OK);
  assert_int_equal(
      pb_plan_where(&p, pb_expr_and(pb_expr_prefix(F(T_NAME), S("b'")),
                                    pb_expr_not(F(T_DONE)))),
      PB_OK);
  assert_int_equal(pb_plan_limit(&p, 3), PB_OK);
  pb_buf b;
  pb_buf_init(&b);
  assert_int_equal(pb_plan_explain(p, &b), PB_OK);
  pb_buf_append(&b, "", 1);
  const char *want =
      "Limit 3 (est ? rows)\n"
      "  Where name PREFIX 'b''' AND NOT done (est ? rows)\n"
      "    IndexScan qc.Item.by_due [due > 10] (est ? rows)\n";
  assert_string_equal((const char *)b.data, want);
  pb_buf_free(&b);
  pb_plan_free(p);

  assert_int_equal(pb_plan_from_table(txn, &qc_Item_table, &p), PB_OK);
  pb_qval ins[2] = {pb_qint(1), pb_qfloat(0.5)};
  pb_expr *sel[2] = {
      pb_expr_between(F(T_SCORE), C(pb_qint(1)), C(pb_qint(2)),
                      PB_BETWEEN_HI_EXCL),
      pb_expr_or(pb_expr_in(F(T_SMALL), ins, 2),
                 pb_expr_is_null(F(T_DUE)))};
  assert_int_equal(pb_plan_select(&p, sel, 2), PB_OK);
  assert_int_equal(pb_plan_offset(&p, 2), PB_OK);
  pb_buf_init(&b);
  assert_int_equal(pb_plan_explain(p, &b), PB_OK);
  pb_buf_append(&b, "", 1);
  assert_string_equal((const char *)b.data,
                      "Offset 2 (est ? rows)\n"
                      "  Select score BETWEEN 1 AND 2 EXCLUSIVE, small IN "
                      "(1, 0.5) OR due IS NULL (est ? rows)\n"
                      "    TableScan qc.Item full scan (est ? rows)\n");
  pb_buf_free(&b);
  pb_plan_free(p);
}

/* --- Build-time errors --- */

/* pb_plan_where on a fresh From(Item) fails with PB_EINVAL, leaves the plan
 * as it was, and its detail holds `a` and `b`. */
static void where_fails(pb_txn *txn, pb_expr *pred, const char *a,
                        const char *b) {
  pb_plan *p, *before;
  assert_int_equal(pb_plan_from_table(txn, &qc_Item_table, &p), PB_OK);
  before = p;
  assert_int_equal(pb_plan_where(&p, pred), PB_EINVAL);
  assert_ptr_equal(p, before);
  const char *d = pb_errdetail();
  if (!strstr(d, a) || (b && !strstr(d, b)))
    fail_msg("detail `%s` lacks `%s` or `%s`", d, a, b ? b : "");
  /* the plan still works */
  assert_string_equal(ids_of(p, NULL), "1 2 3 4 5 6 7 8");
}

static void build_errors(void **state) {
  pb_txn *txn = T(state);
  where_fails(txn, CMP(PB_EQ, F(99), C(pb_qint(1))), "Where:",
              "no field with tag 99");
  where_fails(txn, CMP(PB_EQ, pb_expr_field(1, T_ID), C(pb_qint(1))),
              "Where:", "1 source");
  where_fails(txn, CMP(PB_EQ, F(T_TAGS), C(pb_qint(1))), "Where:",
              "tags (tag 9, type int32[])");
  where_fails(txn, CMP(PB_EQ, F(T_NAME), C(pb_qint(5))),
              "compares STR `name` with INT `5`", "`name = 5`");
  where_fails(txn, CMP(PB_LT, F(T_DONE), C(pb_qint(1))), "BOOL `done`",
              NULL);
  where_fails(txn, CMP(PB_EQ, F(T_BLOB), C(S("a"))), "BYTES `blob`", NULL);
  where_fails(txn, F(T_NAME), "Where:", "a STR expression where a predicate");
  where_fails(txn, F(T_SCORE), "FLOAT expression", NULL);
  where_fails(txn, pb_expr_and(F(T_DONE), F(T_SMALL)), "AND of a UINT",
              NULL);
  where_fails(txn, pb_expr_not(F(T_NAME)), "NOT of a STR", NULL);
  where_fails(txn, CMP(PB_EQ, pb_expr_col(0), C(pb_qint(1))), "column 0",
              "0 column(s)");
  where_fails(txn, CMP((pb_cmp)9, F(T_ID), C(pb_qint(1))), "operator 9",
              NULL);
  where_fails(txn, pb_expr_between(F(T_NAME), C(S("a")), C(pb_qint(2)), 0),
              "BETWEEN compares STR", NULL);
  where_fails(txn, pb_expr_between(F(T_ID), C(pb_qint(1)), C(pb_qint(2)), 4),
              "unknown flags", NULL);
  pb_qval mixed[2] = {pb_qint(1), S("x")};
  where_fails(txn, pb_expr_in(F(T_ID), mixed, 2), "IN compares INT", NULL);
  where_fails(txn, pb_expr_in(F(T_ID), NULL, 2), "NULL list", NULL);
  where_fails(txn, pb_expr_prefix(F(T_NAME), B("a", 1)),
              "a STR operand with a BYTES prefix", NULL);
  where_fails(txn, pb_expr_prefix(F(T_ID), S("a")), "INT operand", NULL);
  where_fails(txn, pb_expr_prefix(F(T_NAME), pb_qint(1)), "PREFIX of a INT",
              NULL);
  where_fails(txn, pb_expr_pred(NULL, NULL), "NULL function", NULL);
  where_fails(txn, CMP(PB_EQ, pb_expr_fn(PB_QINT, NULL, NULL), F(T_ID)),
              "NULL function", NULL);
  where_fails(txn, CMP(PB_EQ, pb_expr_fn((pb_qtype)42, twice_score, NULL),
                       F(T_ID)),
              "unknown type 42", NULL);
  pb_qval badv = pb_qint(1);
  badv.type = (pb_qtype)17;
  where_fails(txn, CMP(PB_EQ, C(badv), F(T_ID)), "unknown type 17", NULL);
  pb_qval nullp = pb_qstr((pb_str){NULL, 3});
  where_fails(txn, CMP(PB_EQ, C(nullp), F(T_NAME)), "NULL pointer", NULL);

  /* Select: a bad column, with the column's number in the detail */
  pb_plan *p;
  assert_int_equal(pb_plan_from_table(txn, &qc_Item_table, &p), PB_OK);
  pb_expr *cols[2] = {F(T_ID), pb_expr_col(3)};
  assert_int_equal(pb_plan_select(&p, cols, 2), PB_EINVAL);
  assert_non_null(strstr(pb_errdetail(), "Select column 1: column 3"));
  pb_expr *cols2[2] = {F(T_ID), F(T_TAGS)};
  assert_int_equal(pb_plan_select(&p, cols2, 2), PB_EINVAL);
  assert_non_null(strstr(pb_errdetail(), "cannot be read"));
  pb_expr *none[1] = {F(T_ID)};
  assert_int_equal(pb_plan_select(&p, none, 0), PB_EINVAL);
  pb_expr_free(none[0]);
  /* a column past a Select's */
  pb_expr *one[1] = {F(T_ID)};
  assert_int_equal(pb_plan_select(&p, one, 1), PB_OK);
  assert_int_equal(pb_plan_where(&p, CMP(PB_EQ, F(T_ID), C(pb_qint(1)))),
                   PB_EINVAL);
  assert_non_null(strstr(pb_errdetail(), "0 source(s)"));
  assert_int_equal(pb_plan_where(&p, CMP(PB_EQ, pb_expr_col(1),
                                         C(pb_qint(1)))),
                   PB_EINVAL);
  assert_int_equal(pb_plan_where(&p, CMP(PB_EQ, pb_expr_col(0),
                                         C(pb_qint(1)))),
                   PB_OK);
  pb_plan_free(p);
}

/* --- Misuse and NULLs --- */

static void misuse(void **state) {
  pb_txn *txn = T(state);
  pb_plan *p = (pb_plan *)&p;
  assert_int_equal(pb_plan_from_table(NULL, &qc_Item_table, &p), PB_EINVAL);
  assert_null(p);
  assert_int_equal(pb_plan_from_table(txn, NULL, &p), PB_EINVAL);
  assert_int_equal(pb_plan_from_table(txn, &qc_Item_table, NULL), PB_EINVAL);
  assert_int_equal(pb_plan_from_index(NULL, &qc_Item_table, 0, NULL, 0, NULL,
                                      0, 0, &p),
                   PB_EINVAL);
  assert_int_equal(pb_plan_from_index(txn, NULL, 0, NULL, 0, NULL, 0, 0, &p),
                   PB_EINVAL);
  assert_int_equal(pb_plan_from_index(txn, &qc_Item_table, 0, NULL, 0, NULL,
                                      0, 0, NULL),
                   PB_EINVAL);
  assert_int_equal(pb_plan_from_index(txn, &qc_Item_table, 0, NULL, 0, NULL,
                                      1, 0, &p),
                   PB_EINVAL);
  int dummy;
  assert_int_equal(pb_plan_from_collection(NULL, PB_VALUE_DICT, &dummy, &p),
                   PB_EINVAL);
  assert_int_equal(pb_plan_from_collection(txn, PB_VALUE_DICT, NULL, &p),
                   PB_EINVAL);
  assert_int_equal(pb_plan_from_collection(txn, PB_VALUE_INT, &dummy, &p),
                   PB_EINVAL);
  assert_int_equal(pb_plan_from_collection(txn, PB_VALUE_DICT, &dummy, NULL),
                   PB_EINVAL);

  /* builders: a NULL plan frees what it is given (ASan checks) */
  pb_plan *np = NULL;
  assert_int_equal(pb_plan_where(NULL, F(T_DONE)), PB_EINVAL);
  assert_int_equal(pb_plan_where(&np, F(T_DONE)), PB_EINVAL);
  pb_expr *cols[1] = {F(T_ID)};
  assert_int_equal(pb_plan_select(&np, cols, 1), PB_EINVAL);
  assert_int_equal(pb_plan_select(&np, NULL, 1), PB_EINVAL);
  assert_int_equal(pb_plan_limit(NULL, 1), PB_EINVAL);
  assert_int_equal(pb_plan_limit(&np, 1), PB_EINVAL);
  assert_int_equal(pb_plan_offset(NULL, 1), PB_EINVAL);
  assert_int_equal(pb_plan_offset(&np, 1), PB_EINVAL);
  /* a NULL expression is out of memory (a constructor failed) */
  assert_int_equal(pb_plan_from_table(txn, &qc_Item_table, &p), PB_OK);
  pb_plan *before = p;
  assert_int_equal(pb_plan_where(&p, NULL), PB_ENOMEM);
  pb_expr *holes[2] = {F(T_ID), NULL};
  assert_int_equal(pb_plan_select(&p, holes, 2), PB_ENOMEM);
  assert_ptr_equal(p, before);

  /* running */
  pb_row row;
  pb_buf b;
  pb_buf_init(&b);
  assert_int_equal(pb_plan_next(NULL, &row), PB_EINVAL);
  assert_int_equal(pb_plan_next(p, NULL), PB_EINVAL);
  assert_int_equal(pb_plan_set_memory(NULL, 10), PB_EINVAL);
  assert_int_equal(pb_plan_set_memory(p, 0), PB_EINVAL);
  assert_int_equal(pb_plan_set_memory(p, 1 << 20), PB_OK);
  assert_int_equal(pb_plan_explain(NULL, &b), PB_EINVAL);
  assert_int_equal(pb_plan_explain(p, NULL), PB_EINVAL);
  assert_int_equal(pb_plan_next(p, &row), PB_OK);
  assert_int_equal(p->memory, 1 << 20);
  assert_int_equal(pb_plan_set_memory(p, 1 << 20), PB_EINVAL); /* too late */
  pb_plan_free(p);
  pb_plan_free(NULL);
  pb_buf_free(&b);

  /* constructors: a NULL operand frees the others and gives NULL */
  assert_null(pb_expr_cmp(PB_EQ, NULL, F(1)));
  assert_null(pb_expr_cmp(PB_EQ, F(1), NULL));
  assert_null(pb_expr_between(F(1), NULL, C(pb_qint(1)), 0));
  assert_null(pb_expr_between(NULL, C(pb_qint(1)), C(pb_qint(1)), 0));
  assert_null(pb_expr_between(F(1), C(pb_qint(1)), NULL, 0));
  assert_null(pb_expr_and(NULL, F(1)));
  assert_null(pb_expr_or(F(1), NULL));
  assert_null(pb_expr_not(NULL));
  assert_null(pb_expr_in(NULL, NULL, 0));
  assert_null(pb_expr_prefix(NULL, S("a")));
  assert_null(pb_expr_is_null(NULL));
  assert_null(pb_expr_cmp(PB_EQ, pb_expr_and(NULL, F(1)),
                          pb_expr_or(F(2), C(S("x")))));
  pb_expr_free(NULL);
  pb_expr_free(pb_expr_and(F(1), pb_expr_in(F(2), (pb_qval[]){S("a")}, 1)));
  /* given values are copied */
  char text[] = "apple";
  pb_expr *e = CMP(PB_EQ, F(T_NAME), C(S(text)));
  pb_qval pre = S(text);
  pb_expr *e2 = pb_expr_prefix(F(T_NAME), pre);
  pb_qval in1 = S(text);
  pb_expr *e3 = pb_expr_in(F(T_NAME), &in1, 1);
  memset(text, 'z', 5);
  EXPECT(e, "1");
  EXPECT(e2, "1");
  EXPECT(e3, "1");
}

/* --- Allocation failures while building and explaining --- */

static void alloc_failures(void **state) {
  pb_txn *txn = T(state);
  bool done = false;
  long n;
  for (n = 1; !done && n < 500; n++) {
    pb_plan *p = NULL;
    pb_buf b;
    pb_buf_init(&b);
    fail_at = n;
    int rc = pb_plan_from_table(txn, &qc_Item_table, &p);
    pb_qval in[2] = {S("apple"), S("date")};
    if (rc == PB_OK)
      rc = pb_plan_where(
          &p, pb_expr_and(pb_expr_in(F(T_NAME), in, 2),
                          pb_expr_not(CMP(PB_EQ, F(T_DUE), C(pb_qint(3))))));
    pb_expr *cols[2] = {F(T_NAME), pb_expr_prefix(F(T_NAME), S("a"))};
    if (rc == PB_OK)
      rc = pb_plan_select(&p, cols, 2);
    else
      pb_expr_free(cols[0]), pb_expr_free(cols[1]);
    if (rc == PB_OK)
      rc = pb_plan_limit(&p, 1);
    if (rc == PB_OK)
      rc = pb_plan_explain(p, &b);
    done = fail_at > 0; /* nothing failed: every step ran */
    fail_at = 0;
    assert_true(rc == PB_OK || rc == PB_ENOMEM);
    if (done)
      assert_int_equal(rc, PB_OK);
    /* what was built still runs (or was freed whole) */
    if (p) {
      pb_row row;
      if (rc == PB_OK) {
        assert_int_equal(pb_plan_next(p, &row), PB_OK);
        assert_int_equal(row.n_cols, 2);
        assert_memory_equal(row.cols[0].as.s.ptr, "apple", 5);
      }
      pb_plan_free(p);
    }
    pb_buf_free(&b);
  }
  assert_true(done);
  assert_true(n > 10); /* the failures did reach the builders */
  /* expressions: copies */
  for (n = 1; n < 100; n++) {
    pb_qval in[2] = {S("apple"), B("x", 1)};
    pb_expr *e = pb_expr_and(pb_expr_in(F(T_NAME), in, 2),
                             pb_expr_prefix(F(T_NAME), S("a")));
    assert_non_null(e);
    fail_at = n;
    pb_expr *c = pb__expr_copy(e);
    bool hit = fail_at == 0;
    fail_at = 0;
    if (!hit)
      assert_non_null(c);
    else
      assert_null(c);
    pb_expr_free(c);
    pb_expr_free(e);
    if (!hit)
      break;
  }
  assert_true(n > 5 && n < 100);
}

/* --- The value order and hash --- */

static uint64_t rng = 88172645463325252ull;
static uint64_t rnd(void) {
  rng ^= rng << 13;
  rng ^= rng >> 7;
  rng ^= rng << 17;
  return rng;
}

/* A random number value from a small set that makes ties likely across
 * the three types, and the edges of each. */
static pb_qval rnd_num(void) {
  static const double fs[] = {0.0, -0.0, 0.5, -1.0, 3.0, 1e19, -1e19,
                              9223372036854775808.0, 18446744073709551616.0,
                              -9223372036854775808.0, INFINITY, -INFINITY,
                              NAN, 9007199254740993.0, 2.5};
  static const int64_t is[] = {0, -1, 3, INT64_MAX, INT64_MIN, 1, 2,
                               9007199254740993LL, -9223372036854775807LL};
  static const uint64_t us[] = {0, 3, UINT64_MAX, U63, U63 - 1, 1,
                                9007199254740992ull, 10000000000000000000ull};
  switch (rnd() % 4) {
  case 0:
    return pb_qfloat(fs[rnd() % (sizeof fs / sizeof *fs)]);
  case 1:
    return pb_qint(is[rnd() % (sizeof is / sizeof *is)]);
  case 2:
    return pb_quint(us[rnd() % (sizeof us / sizeof *us)]);
  default: {
    int64_t i = (int64_t)(rnd() % 7) - 3;
    switch (rnd() % 3) {
    case 0:
      return pb_qint(i);
    case 1:
      return i >= 0 ? pb_quint((uint64_t)i) : pb_qint(i);
    default:
      return pb_qfloat((double)i + (rnd() % 2 ? 0.0 : 0.5));
    }
  }
  }
}

static pb_qval rnd_val(void) {
  static const char *const strs[] = {"", "a", "ab", "b", "a\0", "\xff"};
  switch (rnd() % 5) {
  case 0:
    return pb_qnull();
  case 1:
    return pb_qbool(rnd() % 2);
  case 2: {
    size_t i = rnd() % 6;
    return pb_qstr((pb_str){strs[i], i == 4 ? 2 : strlen(strs[i])});
  }
  default:
    return rnd_num();
  }
}

static int sgn(int c) { return (c > 0) - (c < 0); }

static void qval_props(void **state) {
  (void)state;
  for (int round = 0; round < 20000; round++) {
    pb_qval a = rnd_val(), b = rnd_val(), c = rnd_val();
    int ab = pb__qval_cmp(&a, &b), ba = pb__qval_cmp(&b, &a);
    assert_int_equal(sgn(ab), -sgn(ba));
    assert_int_equal(pb__qval_cmp(&a, &a), 0);
    if (ab == 0) {
      assert_true(pb__qval_hash(&a, 7) == pb__qval_hash(&b, 7));
      assert_true(pb__qval_hash(&a, 0) == pb__qval_hash(&b, 0));
    }
    int bc = pb__qval_cmp(&b, &c), ac = pb__qval_cmp(&a, &c);
    if (ab <= 0 && bc <= 0)
      assert_true(ac <= 0);
    if (ab == 0 && bc == 0)
      assert_int_equal(ac, 0);
    if (ab < 0 && bc <= 0)
      assert_true(ac < 0);
  }
  /* known answers */
  pb_qval x = pb_qint(3), y = pb_quint(3), z = pb_qfloat(3.0);
  assert_int_equal(pb__qval_cmp(&x, &y), 0);
  assert_int_equal(pb__qval_cmp(&x, &z), 0);
  assert_true(pb__qval_hash(&x, 1) == pb__qval_hash(&y, 1));
  assert_true(pb__qval_hash(&x, 1) == pb__qval_hash(&z, 1));
  assert_true(pb__qval_hash(&x, 1) != pb__qval_hash(&x, 2));
  pb_qval big = pb_quint(U63 - 1), f63 = pb_qfloat(9223372036854775808.0);
  assert_true(pb__qval_cmp(&big, &f63) < 0);
  pb_qval imax = pb_qint(INT64_MAX);
  assert_true(pb__qval_cmp(&imax, &f63) < 0);
  pb_qval u63 = pb_quint(U63);
  assert_int_equal(pb__qval_cmp(&u63, &f63), 0);
  assert_true(pb__qval_cmp(&imax, &u63) < 0);
  pb_qval neg = pb_qint(-1), umax = pb_quint(UINT64_MAX);
  assert_true(pb__qval_cmp(&neg, &umax) < 0);
  pb_qval n = pb_qnull(), f = pb_qbool(false);
  assert_true(pb__qval_cmp(&n, &f) < 0);
  pb_qval half = pb_qfloat(2.5), two = pb_qint(2), three = pb_quint(3);
  assert_true(pb__qval_cmp(&two, &half) < 0);
  assert_true(pb__qval_cmp(&three, &half) > 0);
  pb_qval s1 = S("ab"), s2 = S("abc");
  assert_true(pb__qval_cmp(&s1, &s2) < 0);
  assert_true(pb__qtype_comparable(PB_QINT, PB_QFLOAT));
  assert_true(pb__qtype_comparable(PB_QNULL, PB_QSTR));
  assert_false(pb__qtype_comparable(PB_QSTR, PB_QBYTES));
  assert_false(pb__qtype_comparable(PB_QBOOL, PB_QINT));
}

static void shape_concat(void **state) {
  (void)state;
  const pb_table_def *srcs[2] = {&qc_Item_table, &qc_Note_table};
  pb_qtype types[1] = {PB_QSTR};
  pb__qshape a = {1, srcs, 1, types}, b = {1, srcs + 1, 0, NULL}, out;
  assert_int_equal(pb__qshape_concat(&out, &a, &b), PB_OK);
  assert_int_equal(out.n_srcs, 2);
  assert_ptr_equal(out.srcs[1], &qc_Note_table);
  assert_int_equal(out.n_cols, 1);
  assert_int_equal(out.col_types[0], PB_QSTR);
  pb__qshape_free(&out);
  assert_int_equal(pb__qshape_concat(&out, &b, NULL), PB_OK);
  assert_int_equal(out.n_srcs, 1);
  assert_null(out.col_types);
  pb__qshape_free(&out);
  pb__qshape_free(NULL);
}

#define TX(f) cmocka_unit_test_setup_teardown(f, begin, end)

int main(void) {
  pb__query_no_optimize = true; /* q-opt: the nodes' own rows and order */
  const struct CMUnitTest file_tests[] = {
      TX(from_table),      TX(from_index),       TX(from_key),
      TX(from_collection), TX(where_cmp),        TX(where_between),
      TX(where_logic),     TX(where_in_prefix_null), TX(where_callbacks),
      TX(select_cols),     TX(limit_offset),     TX(explain),
      TX(build_errors),    TX(misuse),           TX(alloc_failures),
      cmocka_unit_test(qval_props), cmocka_unit_test(shape_concat),
  };
  const struct CMUnitTest mem_tests[] = {
      TX(from_table),   TX(from_index),  TX(where_cmp),
      TX(where_between), TX(where_logic), TX(where_in_prefix_null),
  };
  int fails = cmocka_run_group_tests_name("file", file_tests, setup_file,
                                          teardown);
  fails += cmocka_run_group_tests_name("memory", mem_tests, setup_mem,
                                       teardown);
  return fails;
}
