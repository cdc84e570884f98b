/*
 * test_query_opt.c - the optimizer (runtime/query/optimize.c, union.c):
 * for each kind of predicate, the access path it chooses (explain's text)
 * and rows exactly equal to those of the same plan with the rewrites off
 * (pb__query_no_optimize), over a fixed table with absent optional values
 * in indexed fields; the same after updates and deletes through the
 * generated API (inside the transaction and after its commit); AND and OR
 * over indexes (a Union gives each row once); an OrderBy dropped when the
 * path delivers its order and kept otherwise; Limit and Offset over an
 * OrderBy (top-N) and over a scan; a keyless table.  File storage with the
 * defaults (PB_DURABILITY_SYNC).
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
#include "query/query_int.h"
#include "query_opt.pb.h"
#include "support/filedb.h"

#define S(lit) ((pb_str){(lit), sizeof(lit) - 1})

enum { T_ID = 1, T_OWNER = 2, T_DUE = 3, T_TITLE = 4, T_TAG = 5, T_PRIO = 6,
       T_SCORE = 7 };

static pb_test_filedb db;

/* Allocation failures (test_alloc_failures): the test links with
 * --wrap=malloc,calloc,realloc; when fail_at is n > 0, the n-th
 * allocation from then on fails. */
static long fail_at;
void *__real_malloc(size_t n);
void *__real_calloc(size_t k, size_t n);
void *__real_realloc(void *p, size_t n);
void *__wrap_malloc(size_t n);
void *__wrap_calloc(size_t k, size_t n);
void *__wrap_realloc(void *p, size_t n);
static long n_allocs; /* allocations so far (test_no_allocs_per_row) */
static bool fail_now(void) {
  n_allocs++;
  return fail_at > 0 && --fail_at == 0;
}
void *__wrap_malloc(size_t n) { return fail_now() ? NULL : __real_malloc(n); }
void *__wrap_calloc(size_t k, size_t n) {
  return fail_now() ? NULL : __real_calloc(k, n);
}
void *__wrap_realloc(void *p, size_t n) {
  return fail_now() ? NULL : __real_realloc(p, n);
}

#define N_TASKS 150
#define MAX_ROWS 4096

static const char *const tags[] = {"alpha", "alps", "al", "beta",
                                   "b\xc3\xa9ta", "gamma"};

static void fill_task(qo_Task *t, uint64_t id) {
  qo_Task_init(t);
  static char titles[N_TASKS + 1][16];
  t->id = id;
  t->owner = (int32_t)((id * 7) % 10);
  t->has_due = id % 6 != 0;
  t->due = t->has_due ? (int64_t)((id * 13) % 40) : 0;
  snprintf(titles[id], sizeof titles[id], "t%03u", (unsigned)id);
  t->title = pb_str_from_cstr(titles[id]);
  t->has_tag = id % 4 != 0;
  if (t->has_tag) t->tag = pb_str_from_cstr(tags[id % 6]);
  t->prio = (uint32_t)(id % 5);
  t->score = (double)id * 0.25;
}

static int setup(void **state) {
  (void)state;
  if (pb_test_filedb_open(&db, PB_DURABILITY_SYNC) != PB_OK) return -1;
  pb_txn *txn = NULL;
  if (pb_txn_begin(db.db, 0, &txn) != PB_OK) return -1;
  for (uint64_t id = 1; id <= N_TASKS; id++) {
    qo_Task t;
    fill_task(&t, id);
    if (qo_Task_insert(txn, &t) != PB_OK) return -1;
  }
  for (int i = 0; i < 40; i++) {
    qo_Event e;
    qo_Event_init(&e);
    e.kind = i % 4;
    e.at = 100 - i;
    uint64_t id;
    if (qo_Event_insert(txn, &e, &id) != PB_OK) return -1;
  }
  return pb_txn_commit(txn) == PB_OK ? 0 : -1;
}

static int teardown(void **state) {
  (void)state;
  pb__query_no_optimize = false;
  return pb_test_filedb_close(&db) == PB_OK ? 0 : -1;
}

static pb_txn *begin(unsigned flags) {
  pb_txn *txn = NULL;
  assert_int_equal(pb_txn_begin(db.db, flags, &txn), PB_OK);
  return txn;
}

/* --- Expressions --- */

static pb_expr *fld(uint32_t tag) { return pb_expr_field(0, tag); }
static pb_expr *cmp_i(uint32_t tag, pb_cmp op, int64_t v) {
  return pb_expr_cmp(op, fld(tag), pb_expr_const(pb_qint(v)));
}
static pb_expr *cmp_u(uint32_t tag, pb_cmp op, uint64_t v) {
  return pb_expr_cmp(op, fld(tag), pb_expr_const(pb_quint(v)));
}
static pb_expr *cmp_s(uint32_t tag, pb_cmp op, const char *s) {
  return pb_expr_cmp(op, fld(tag),
                     pb_expr_const(pb_qstr(pb_str_from_cstr(s))));
}
static pb_expr *btw_u(uint32_t tag, uint64_t lo, uint64_t hi, unsigned fl) {
  return pb_expr_between(fld(tag), pb_expr_const(pb_quint(lo)),
                         pb_expr_const(pb_quint(hi)), fl);
}
static pb_expr *btw_i(uint32_t tag, int64_t lo, int64_t hi, unsigned fl) {
  return pb_expr_between(fld(tag), pb_expr_const(pb_qint(lo)),
                         pb_expr_const(pb_qint(hi)), fl);
}
static pb_expr *pfx(uint32_t tag, const char *s) {
  return pb_expr_prefix(fld(tag), pb_qstr(pb_str_from_cstr(s)));
}

/* --- Running a plan both ways --- */

typedef pb_expr *(*pred_fn)(void);

typedef struct query {
  const pb_table_def *def;
  pred_fn where;       /* NULL: none */
  uint32_t order_tag;  /* 0: no OrderBy */
  unsigned order_dir;
  uint32_t order_tag2; /* a second key (0: none) */
  uint64_t offset;     /* after the OrderBy (0: none) */
  uint64_t limit;      /* after the offset (0: none) */
  bool limit_first;    /* Limit, then Offset */
} query;

static pb_plan *build(pb_txn *txn, const query *q) {
  pb_plan *p = NULL;
  assert_int_equal(pb_plan_from_table(txn, q->def, &p), PB_OK);
  if (q->where) assert_int_equal(pb_plan_where(&p, q->where()), PB_OK);
  if (q->order_tag) {
    pb_sort_key k[2] = {{fld(q->order_tag), q->order_dir},
                        {q->order_tag2 ? fld(q->order_tag2) : NULL,
                         q->order_dir}};
    assert_int_equal(pb_plan_order_by(&p, k, q->order_tag2 ? 2 : 1), PB_OK);
  }
  if (q->limit_first && q->limit)
    assert_int_equal(pb_plan_limit(&p, q->limit), PB_OK);
  if (q->offset) assert_int_equal(pb_plan_offset(&p, q->offset), PB_OK);
  if (!q->limit_first && q->limit)
    assert_int_equal(pb_plan_limit(&p, q->limit), PB_OK);
  return p;
}

/* The rows' primary keys (Task: id; Event: its row id) into ids, and a
 * hash of each row's sort keys into keys (0 without an OrderBy). */
static size_t run(pb_txn *txn, const query *q, bool optimize, uint64_t *ids,
                  uint64_t *keys, char *explain, size_t explain_cap) {
  pb__query_no_optimize = !optimize;
  pb_plan *p = build(txn, q);
  pb_buf b;
  pb_buf_init(&b);
  assert_int_equal(pb_plan_explain(p, &b), PB_OK);
  if (explain) {
    size_t n = b.len < explain_cap - 1 ? b.len : explain_cap - 1;
    memcpy(explain, b.data, n);
    explain[n] = 0;
  }
  pb_buf_free(&b);
  const pb_record_field *k1 = NULL, *k2 = NULL;
  for (size_t i = 0; i < q->def->type->n_fields; i++) {
    const pb_record_field *f = &q->def->type->fields[i];
    if (q->order_tag && f->tag == q->order_tag) k1 = f;
    if (q->order_tag2 && f->tag == q->order_tag2) k2 = f;
  }
  size_t n = 0;
  pb_row row;
  int rc;
  while ((rc = pb_plan_next(p, &row)) == PB_OK) {
    assert_true(n < MAX_ROWS);
    assert_int_equal(row.n_recs, 1);
    if (q->def == &qo_Task_table)
      ids[n] = ((const qo_Task *)row.recs[0])->id;
    else if (q->def == &qo_Evo_table)
      ids[n] = ((const qo_Evo *)row.recs[0])->id;
    else
      ids[n] = row.ids[0];
    uint64_t h = 0;
    if (k1) {
      pb_qval v = pb__field_value(k1, row.recs[0]);
      h = pb__qval_hash(&v, 1);
    }
    if (k2) {
      pb_qval v = pb__field_value(k2, row.recs[0]);
      h = pb__qval_hash(&v, h);
    }
    if (keys) keys[n] = h;
    n++;
  }
  assert_int_equal(rc, PB_ENOTFOUND);
  pb_plan_free(p);
  pb__query_no_optimize = false;
  return n;
}

static int cmp_u64(const void *a, const void *b) {
  uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
  return x < y ? -1 : x > y;
}

/* How check() compares the rows with and without the rewrites. */
typedef enum cmp_mode {
  SAME_SET = 0,   /* the same rows, each once (no order is fixed) */
  SAME_ORDER = 1, /* the same rows, and the same sequence of sort keys
                     (rows tied on every key come in the access path's
                     order, so the rows themselves may differ there) */
  SAME_KEYS = 2,  /* a Limit over an OrderBy: the same sequence of sort
                     keys (which tied rows make the cut is the path's) */
  SAME_COUNT = 3  /* a Limit without an OrderBy: the same number */
} cmp_mode;

/*
 * Runs q optimized and not; checks the explain text holds each of the
 * `want` strings (NULL-terminated; a leading '!' means "does not hold"),
 * and compares the rows as `mode` says.  Returns the number of rows.
 */
static size_t check(pb_txn *txn, const query *q, cmp_mode mode,
                    const char *const *want) {
  static uint64_t a[MAX_ROWS], b[MAX_ROWS], ka[MAX_ROWS], kb[MAX_ROWS];
  char ex[4096];
  size_t na = run(txn, q, true, a, ka, ex, sizeof ex);
  size_t nb = run(txn, q, false, b, kb, NULL, 0);
  if (getenv("PB_TEST_VERBOSE")) printf("%s(%zu rows)\n\n", ex, na);
  for (const char *const *w = want; w && *w; w++) {
    bool neg = (*w)[0] == '!';
    const char *s = neg ? *w + 1 : *w;
    if ((strstr(ex, s) != NULL) == neg) {
      fprintf(stderr, "explain:\n%s\nwanted %s\"%s\"\n", ex,
              neg ? "no " : "", s);
      fail();
    }
  }
  if (na != nb) fprintf(stderr, "explain:\n%s", ex);
  assert_int_equal(na, nb);
  if (mode == SAME_COUNT) return na;
  if (mode == SAME_ORDER || mode == SAME_KEYS)
    for (size_t i = 0; i < na; i++) {
      if (ka[i] != kb[i]) fprintf(stderr, "explain:\n%s", ex);
      assert_int_equal(ka[i], kb[i]);
    }
  if (mode == SAME_KEYS) return na;
  qsort(a, na, sizeof *a, cmp_u64);
  qsort(b, nb, sizeof *b, cmp_u64);
  for (size_t i = 0; i < na; i++) {
    if (a[i] != b[i]) fprintf(stderr, "explain:\n%s", ex);
    assert_int_equal(a[i], b[i]);
    if (i > 0) assert_true(a[i] != a[i - 1]); /* each row once */
  }
  return na;
}

#define WANT(...) ((const char *const[]){__VA_ARGS__, NULL})

/* --- Predicates --- */

static pb_expr *p_owner3(void) { return cmp_i(T_OWNER, PB_EQ, 3); }
static pb_expr *p_id17(void) { return cmp_u(T_ID, PB_EQ, 17); }
static pb_expr *p_id17_rev(void) {
  return pb_expr_cmp(PB_EQ, pb_expr_const(pb_quint(17)), fld(T_ID));
}
static pb_expr *p_id_b0(void) { return btw_u(T_ID, 5, 9, 0); }
static pb_expr *p_id_b1(void) { return btw_u(T_ID, 5, 9, PB_BETWEEN_LO_EXCL); }
static pb_expr *p_id_b2(void) { return btw_u(T_ID, 5, 9, PB_BETWEEN_HI_EXCL); }
static pb_expr *p_id_b3(void) {
  return btw_u(T_ID, 5, 9, PB_BETWEEN_LO_EXCL | PB_BETWEEN_HI_EXCL);
}
static pb_expr *p_id_gt140(void) { return cmp_u(T_ID, PB_GT, 140); }
static pb_expr *p_due_lt10(void) { return cmp_i(T_DUE, PB_LT, 10); }
static pb_expr *p_due_le10(void) { return cmp_i(T_DUE, PB_LE, 10); }
static pb_expr *p_due_gt30(void) { return cmp_i(T_DUE, PB_GT, 30); }
static pb_expr *p_due_ge30(void) { return cmp_i(T_DUE, PB_GE, 30); }
static pb_expr *p_due_eq0(void) { return cmp_i(T_DUE, PB_EQ, 0); }
static pb_expr *p_due_b0(void) { return btw_i(T_DUE, 10, 20, 0); }
static pb_expr *p_due_b1(void) {
  return btw_i(T_DUE, 10, 20, PB_BETWEEN_LO_EXCL);
}
static pb_expr *p_due_b2(void) {
  return btw_i(T_DUE, 10, 20, PB_BETWEEN_HI_EXCL);
}
static pb_expr *p_due_b3(void) {
  return btw_i(T_DUE, 10, 20, PB_BETWEEN_LO_EXCL | PB_BETWEEN_HI_EXCL);
}
static pb_expr *p_due_isnull(void) { return pb_expr_is_null(fld(T_DUE)); }
static pb_expr *p_tag_isnull(void) { return pb_expr_is_null(fld(T_TAG)); }
static pb_expr *p_owner3_due_ge10(void) {
  return pb_expr_and(cmp_i(T_OWNER, PB_EQ, 3), cmp_i(T_DUE, PB_GE, 10));
}
static pb_expr *p_owner3_due_lt20(void) {
  return pb_expr_and(cmp_i(T_DUE, PB_LT, 20), cmp_i(T_OWNER, PB_EQ, 3));
}
static pb_expr *p_owner3_due_null(void) {
  /* owner 6: ids 8, 18, ...; due absent: ids divisible by 6 */
  return pb_expr_and(cmp_i(T_OWNER, PB_EQ, 6), pb_expr_is_null(fld(T_DUE)));
}
static pb_expr *p_title_pfx(void) { return pfx(T_TITLE, "t01"); }
static pb_expr *p_tag_pfx_al(void) { return pfx(T_TAG, "al"); }
static pb_expr *p_tag_pfx_utf8(void) { return pfx(T_TAG, "b\xc3\xa9"); }
static pb_expr *p_title_eq(void) { return cmp_s(T_TITLE, PB_EQ, "t005"); }
static pb_expr *p_title_lt(void) { return cmp_s(T_TITLE, PB_LT, "t010"); }
static pb_expr *p_prio_in(void) {
  pb_qval v[] = {pb_quint(1), pb_quint(3), pb_quint(3), pb_qnull()};
  return pb_expr_in(fld(T_PRIO), v, 4);
}
static pb_expr *p_tag_in(void) {
  pb_qval v[] = {pb_qstr(S("al")), pb_qstr(S("gamma")), pb_qstr(S("zz"))};
  return pb_expr_in(fld(T_TAG), v, 3);
}
static pb_expr *p_owner_in_due(void) {
  pb_qval v[] = {pb_qint(2), pb_qint(5)};
  return pb_expr_and(pb_expr_in(fld(T_OWNER), v, 2),
                     cmp_i(T_DUE, PB_GE, 20));
}
static pb_expr *p_owner_in_due_eq(void) {
  /* the IN on the first field, an equality on the second: rows 16, 56,
   * 136 */
  pb_qval v[] = {pb_qint(2), pb_qint(5)};
  return pb_expr_and(pb_expr_in(fld(T_OWNER), v, 2),
                     cmp_i(T_DUE, PB_EQ, 8));
}
static pb_expr *p_or_disjoint(void) {
  return pb_expr_or(cmp_i(T_OWNER, PB_EQ, 3), cmp_u(T_PRIO, PB_EQ, 2));
}
static pb_expr *p_or_overlap(void) {
  /* t013 has owner 1, due 9: both branches give it */
  return pb_expr_or(pb_expr_or(cmp_i(T_OWNER, PB_EQ, 1),
                               cmp_s(T_TITLE, PB_EQ, "t013")),
                    cmp_i(T_DUE, PB_LT, 10));
}
static pb_expr *p_or_and(void) {
  /* an OR inside an AND: the Union, and the other term residual */
  return pb_expr_and(pb_expr_or(cmp_i(T_OWNER, PB_EQ, 1),
                                cmp_u(T_PRIO, PB_EQ, 4)),
                     pb_expr_cmp(PB_NE, fld(T_SCORE),
                                 pb_expr_const(pb_qfloat(5.0))));
}
static pb_expr *p_or_unindexed(void) {
  return pb_expr_or(cmp_i(T_OWNER, PB_EQ, 1),
                    pb_expr_cmp(PB_GT, fld(T_SCORE),
                                pb_expr_const(pb_qfloat(30.0))));
}
static pb_expr *p_and_two(void) {
  /* a unique equality beats a prio equality */
  return pb_expr_and(cmp_u(T_PRIO, PB_EQ, 1), cmp_s(T_TITLE, PB_EQ, "t011"));
}
static pb_expr *p_and_both_idx(void) {
  return pb_expr_and(cmp_i(T_OWNER, PB_EQ, 7), cmp_u(T_PRIO, PB_LT, 2));
}
static pb_expr *p_not(void) { return pb_expr_not(cmp_i(T_OWNER, PB_EQ, 3)); }
static pb_expr *p_ne(void) { return cmp_i(T_OWNER, PB_NE, 3); }
static pb_expr *p_float_on_int(void) {
  return pb_expr_cmp(PB_LT, fld(T_DUE), pb_expr_const(pb_qfloat(2.5)));
}
static pb_expr *p_null_cmp(void) {
  return pb_expr_cmp(PB_EQ, fld(T_DUE), pb_expr_const(pb_qnull()));
}
static pb_expr *p_two_ranges(void) {
  return pb_expr_and(pb_expr_and(cmp_i(T_DUE, PB_GE, 5), cmp_i(T_DUE, PB_GT, 8)),
                     pb_expr_and(cmp_i(T_DUE, PB_LT, 30), cmp_i(T_DUE, PB_LE, 12)));
}
static pb_expr *p_owner_gt7(void) { return cmp_i(T_OWNER, PB_GT, 7); }
static pb_expr *p_kind2(void) { return cmp_i(1, PB_EQ, 2); }
/* Constants of another number type than the field: exact ones make a
 * range, the others are left to the Where. */
static pb_expr *p_id_int(void) { return cmp_i(T_ID, PB_LE, 9); }
static pb_expr *p_due_float(void) {
  return pb_expr_between(fld(T_DUE), pb_expr_const(pb_qfloat(10.0)),
                         pb_expr_const(pb_quint(20)), 0);
}
static pb_expr *p_id_neg(void) { return cmp_i(T_ID, PB_GT, -1); }
static pb_expr *p_owner_wide(void) {
  return cmp_i(T_OWNER, PB_LT, (int64_t)3000000000);
}
static pb_expr *p_prio_in_mixed(void) {
  pb_qval v[] = {pb_qint(1), pb_qfloat(3.0), pb_qnull()};
  return pb_expr_in(fld(T_PRIO), v, 3);
}
static pb_expr *p_in_null(void) {
  pb_qval v[] = {pb_qnull()};
  return pb_expr_in(fld(T_PRIO), v, 1);
}

#define Q(pred) {.def = &qo_Task_table, .where = (pred)}

/* Every predicate kind: the path, and the rows. */
/* `fresh`: over the data as setup() wrote it (every case has rows). */
static void check_all(pb_txn *txn, bool fresh) {
  struct {
    query q;
    const char *const *want;
    bool nonempty;
  } cases[] = {
      {Q(p_owner3), WANT("IndexScan qo.Task.by_owner_due", "!Where",
                         "!TableScan"), true},
      {Q(p_id17), WANT("KeyScan qo.Task.id [id = 17]", "!Where", "(est 1 rows)"), true},
      {Q(p_id17_rev), WANT("KeyScan", "!Where"), true},
      {Q(p_id_b0), WANT("KeyScan qo.Task.id [id >= 5, id <= 9]", "!Where"), true},
      {Q(p_id_b1), WANT("KeyScan qo.Task.id [id > 5, id <= 9]", "!Where"), true},
      {Q(p_id_b2), WANT("KeyScan qo.Task.id [id >= 5, id < 9]", "!Where"), true},
      {Q(p_id_b3), WANT("KeyScan qo.Task.id [id > 5, id < 9]", "!Where"), true},
      {Q(p_id_gt140), WANT("KeyScan", "!Where"), true},
      {Q(p_due_lt10), WANT("IndexScan qo.Task.by_due", "!Where"), true},
      {Q(p_due_le10), WANT("IndexScan qo.Task.by_due", "!Where"), true},
      {Q(p_due_gt30), WANT("IndexScan qo.Task.by_due", "!Where"), true},
      {Q(p_due_ge30), WANT("IndexScan qo.Task.by_due", "!Where"), true},
      {Q(p_due_eq0), WANT("IndexScan qo.Task.by_due", "!Where"), true},
      {Q(p_due_b0), WANT("IndexScan qo.Task.by_due", "!Where"), true},
      {Q(p_due_b1), WANT("IndexScan", "!Where"), true},
      {Q(p_due_b2), WANT("IndexScan", "!Where"), true},
      {Q(p_due_b3), WANT("IndexScan", "!Where"), true},
      {Q(p_due_isnull), WANT("IndexScan qo.Task.by_due", "!Where"), true},
      {Q(p_tag_isnull), WANT("IndexScan qo.Task.by_tag", "!Where"), true},
      {Q(p_owner3_due_ge10), WANT(".by_owner_due", "!Where"), true},
      {Q(p_owner3_due_lt20), WANT(".by_owner_due", "!Where"), true},
      {Q(p_owner3_due_null), WANT(".by_owner_due", "!Where"), true},
      {Q(p_title_pfx), WANT(".by_title", "!Where"), true},
      {Q(p_tag_pfx_al), WANT(".by_tag", "!Where"), true},
      {Q(p_tag_pfx_utf8), WANT(".by_tag", "!Where"), true},
      {Q(p_title_eq), WANT(".by_title", "(est 1 rows)"), true},
      {Q(p_title_lt), WANT(".by_title", "!Where"), true},
      {Q(p_prio_in), WANT("Union of 2 scans", ".by_prio"), true},
      {Q(p_tag_in), WANT("Union of 3 scans", ".by_tag"), true},
      {Q(p_owner_in_due), WANT("Union of 2 scans", ".by_owner_due"),
       true},
      {Q(p_owner_in_due_eq),
       WANT("Union of 2 scans", "qo.Task.by_owner_due [owner = 2, due = 8]", "!Where"), true},
      {Q(p_or_disjoint), WANT("Union of 2 scans", ".by_owner_due",
                              ".by_prio"), true},
      {Q(p_or_overlap), WANT("Union of 3 scans", ".by_title",
                             ".by_due"), true},
      {Q(p_or_and), WANT("Union of 2 scans", "Where"), true},
      {Q(p_or_unindexed), WANT("TableScan qo.Task full scan", "Where"), true},
      {Q(p_and_two), WANT(".by_title", "Where"), true},
      {Q(p_and_both_idx), WANT("IndexScan", "Where"), true},
      {Q(p_not), WANT("TableScan", "Where"), true},
      {Q(p_ne), WANT("TableScan", "Where"), true},
      {Q(p_float_on_int), WANT("TableScan", "Where"), true},
      {Q(p_null_cmp), WANT("Where"), false},
      {Q(p_two_ranges), WANT("IndexScan qo.Task.by_due [due > 8, due <= 12]",
                             "!Where"), true}, /* the looser ones implied */
      {Q(p_owner_gt7), WANT(".by_owner_due", "!Where"), true},
      {{.def = &qo_Event_table, .where = p_kind2},
       WANT("IndexScan qo.Event.by_kind", "!Where"), true},
      {Q(p_id_int), WANT("KeyScan qo.Task.id [id <= 9]", "!Where"),
       true},
      {Q(p_due_float), WANT(".by_due [due >= 10, due <= 20]", "!Where"), true},
      {Q(p_id_neg), WANT("TableScan", "Where"), true},
      {Q(p_owner_wide), WANT("TableScan", "Where"), true},
      {Q(p_prio_in_mixed), WANT("Union of 2 scans", ".by_prio"), true},
      {Q(p_in_null), WANT("TableScan", "Where"), false},
  };
  for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
    size_t n = check(txn, &cases[i].q, SAME_SET, cases[i].want);
    if (fresh && cases[i].nonempty && n == 0) {
      fprintf(stderr, "case %zu gave no row\n", i);
      fail();
    }
    if (!cases[i].nonempty) assert_int_equal(n, 0);
  }
}

static void test_predicates(void **state) {
  (void)state;
  pb_txn *txn = begin(PB_RDONLY);
  check_all(txn, true);
  pb_txn_abort(txn);
}

/* The rows of a few plans, counted by hand, so that "equal to the plan
 * without rewrites" is not equal and wrong. */
static void test_exact_counts(void **state) {
  (void)state;
  pb_txn *txn = begin(PB_RDONLY);
  static uint64_t ids[MAX_ROWS];
  size_t want_owner3 = 0, want_due_lt10 = 0, want_or = 0, want_in = 0;
  for (uint64_t id = 1; id <= N_TASKS; id++) {
    qo_Task t;
    fill_task(&t, id);
    want_owner3 += t.owner == 3;
    want_due_lt10 += t.has_due && t.due < 10;
    want_or += t.owner == 1 || id == 13 || (t.has_due && t.due < 10);
    want_in += t.prio == 1 || t.prio == 3;
  }
  query q = Q(p_owner3);
  assert_int_equal(run(txn, &q, true, ids, NULL, NULL, 0), want_owner3);
  q.where = p_due_lt10;
  assert_int_equal(run(txn, &q, true, ids, NULL, NULL, 0), want_due_lt10);
  q.where = p_or_overlap;
  assert_int_equal(run(txn, &q, true, ids, NULL, NULL, 0), want_or);
  q.where = p_prio_in;
  assert_int_equal(run(txn, &q, true, ids, NULL, NULL, 0), want_in);
  pb_txn_abort(txn);
}

/* Updates and deletes through the generated API: the indexes follow, in
 * the transaction and after its commit. */
static void test_update_delete(void **state) {
  (void)state;
  pb_txn *txn = begin(0);
  for (uint64_t id = 1; id <= N_TASKS; id += 3) {
    qo_Task t;
    fill_task(&t, id);
    t.owner = 3;                 /* into owner = 3 */
    t.has_due = id % 2 == 0;     /* absent <-> present */
    t.due = (int64_t)(id % 11);
    t.has_tag = !t.has_tag;
    if (t.has_tag) t.tag = S("alpine");
    t.prio = 4;
    assert_int_equal(qo_Task_update(txn, &t), PB_OK);
  }
  for (uint64_t id = 2; id <= N_TASKS; id += 7)
    assert_int_equal(qo_Task_delete(txn, id), PB_OK);
  check_all(txn, false);
  assert_int_equal(pb_txn_commit(txn), PB_OK);
  txn = begin(PB_RDONLY);
  check_all(txn, false);
  /* a deleted row is gone from every path */
  static uint64_t ids[MAX_ROWS];
  query q = Q(p_id17);
  q.where = p_id_b0; /* 5..9: 9 is deleted */
  size_t n = run(txn, &q, true, ids, NULL, NULL, 0);
  assert_int_equal(n, 4);
  for (size_t i = 0; i < n; i++) assert_true(ids[i] != 9);
  pb_txn_abort(txn);
}

/* OrderBy: dropped when the access path delivers it, kept otherwise. */
static void test_order(void **state) {
  (void)state;
  pb_txn *txn = begin(PB_RDONLY);
  struct {
    query q;
    const char *const *want;
  } cases[] = {
      {{.def = &qo_Task_table, .order_tag = T_ID},
       WANT("TableScan", "!OrderBy")},
      {{.def = &qo_Task_table, .order_tag = T_ID, .order_dir = PB_DESC},
       WANT("KeyScan qo.Task.id [all] reverse", "!OrderBy")},
      {{.def = &qo_Task_table, .where = p_id_b0, .order_tag = T_ID,
        .order_dir = PB_DESC},
       WANT("KeyScan qo.Task.id [id >= 5, id <= 9] reverse", "!OrderBy")},
      {{.def = &qo_Task_table, .where = p_owner3, .order_tag = T_DUE},
       WANT(".by_owner_due", "!OrderBy")},
      {{.def = &qo_Task_table, .where = p_owner3, .order_tag = T_DUE,
        .order_dir = PB_DESC},
       WANT(".by_owner_due", "reverse", "!OrderBy")},
      {{.def = &qo_Task_table, .where = p_owner3, .order_tag = T_DUE,
        .order_tag2 = T_ID},
       WANT(".by_owner_due", "!OrderBy")},
      {{.def = &qo_Task_table, .where = p_owner3, .order_tag = T_OWNER,
        .order_tag2 = T_DUE},
       WANT(".by_owner_due", "!OrderBy")},
      {{.def = &qo_Task_table, .where = p_owner3, .order_tag = T_TITLE},
       WANT(".by_owner_due", "OrderBy")},
      {{.def = &qo_Task_table, .where = p_due_b0, .order_tag = T_DUE},
       WANT(".by_due", "!OrderBy")},
      {{.def = &qo_Task_table, .where = p_prio_in, .order_tag = T_PRIO},
       WANT("Union", "OrderBy")},
      {{.def = &qo_Task_table, .order_tag = T_TITLE},
       WANT("TableScan", "OrderBy")}, /* no Limit: sort, no lookups */
      {{.def = &qo_Task_table, .order_tag = T_SCORE, .limit = 5},
       WANT("TableScan", "OrderBy")}, /* float: never by an index */
  };
  for (size_t i = 0; i < sizeof cases / sizeof *cases; i++)
    assert_true(check(txn, &cases[i].q, SAME_ORDER, cases[i].want) > 0);
  pb_txn_abort(txn);
}

/* Limit and Offset: over an OrderBy (a top-N of limit + offset rows; an
 * index that gives the order under a Limit), and over scans. */
static void test_limit(void **state) {
  (void)state;
  pb_txn *txn = begin(PB_RDONLY);
  struct {
    query q;
    const char *const *want;
    size_t rows;
    cmp_mode mode;
  } cases[] = {
      {{.def = &qo_Task_table, .order_tag = T_TITLE, .limit = 5},
       WANT("IndexScan qo.Task.by_title", "!OrderBy", "Limit"), 5,
       SAME_ORDER},
      {{.def = &qo_Task_table, .order_tag = T_TITLE, .order_dir = PB_DESC,
        .limit = 5, .offset = 3},
       WANT(".by_title", "reverse", "!OrderBy", "Offset"), 5,
       SAME_ORDER},
      {{.def = &qo_Task_table, .order_tag = T_SCORE, .order_dir = PB_DESC,
        .limit = 4, .offset = 2},
       WANT("OrderBy", "top 6", "Limit 4", "Offset 2"), 4, SAME_ORDER},
      {{.def = &qo_Task_table, .order_tag = T_SCORE, .limit = 4,
        .offset = 2, .limit_first = true},
       WANT("OrderBy", "top 4", "Limit 4", "Offset 2"), 2, SAME_ORDER},
      {{.def = &qo_Task_table, .where = p_due_gt30, .order_tag = T_SCORE,
        .limit = 3},
       WANT(".by_due", "OrderBy", "top 3"), 3, SAME_ORDER},
      {{.def = &qo_Task_table, .limit = 7}, WANT("TableScan", "Limit 7"), 7,
       SAME_SET},
      {{.def = &qo_Task_table, .where = p_owner3, .limit = 2, .offset = 1},
       WANT(".by_owner_due", "Limit 2"), 2, SAME_COUNT},
      {{.def = &qo_Task_table, .order_tag = T_DUE, .limit = 10},
       WANT(".by_due", "!OrderBy"), 10, SAME_KEYS},
  };
  for (size_t i = 0; i < sizeof cases / sizeof *cases; i++)
    assert_int_equal(check(txn, &cases[i].q, cases[i].mode, cases[i].want),
                     cases[i].rows);
  pb_txn_abort(txn);
}

/* Joins: each side is optimized (a Where on an indexed field becomes its
 * scan), then the join chooses its algorithm; the pairs are those of the
 * plan without rewrites. */
static size_t join_pairs(pb_txn *txn, bool optimize, pb_join_type type,
                         uint64_t *pairs, char *ex, size_t cap) {
  pb__query_no_optimize = !optimize;
  pb_plan *l = NULL, *r = NULL;
  assert_int_equal(pb_plan_from_table(txn, &qo_Task_table, &l), PB_OK);
  assert_int_equal(pb_plan_where(&l, cmp_u(T_PRIO, PB_LE, 1)), PB_OK);
  assert_int_equal(pb_plan_from_table(txn, &qo_Event_table, &r), PB_OK);
  assert_int_equal(pb_plan_where(&r, pb_expr_cmp(PB_GE, pb_expr_field(0, 1),
                                                 pb_expr_const(pb_qint(2)))),
                   PB_OK);
  assert_int_equal(pb_plan_join(&l, r, type,
                                pb_expr_cmp(PB_EQ, pb_expr_field(0, T_OWNER),
                                            pb_expr_field(1, 1))),
                   PB_OK);
  assert_int_equal(pb_plan_where(&l, pb_expr_not(pb_expr_cmp(
                                         PB_EQ, pb_expr_field(0, T_OWNER),
                                         pb_expr_const(pb_qint(9))))),
                   PB_OK);
  pb_buf b;
  pb_buf_init(&b);
  assert_int_equal(pb_plan_explain(l, &b), PB_OK);
  if (ex) {
    size_t n = b.len < cap - 1 ? b.len : cap - 1;
    memcpy(ex, b.data, n);
    ex[n] = 0;
  }
  pb_buf_free(&b);
  size_t n = 0;
  pb_row row;
  int rc;
  while ((rc = pb_plan_next(l, &row)) == PB_OK) {
    assert_true(n < MAX_ROWS);
    assert_int_equal(row.n_recs, 2);
    uint64_t t = row.recs[0] ? ((const qo_Task *)row.recs[0])->id : 0;
    uint64_t e = row.recs[1] ? row.ids[1] : 0;
    pairs[n++] = t << 32 | e;
  }
  assert_int_equal(rc, PB_ENOTFOUND);
  pb_plan_free(l);
  pb__query_no_optimize = false;
  return n;
}

static void test_join(void **state) {
  (void)state;
  pb_txn *txn = begin(PB_RDONLY);
  static uint64_t a[MAX_ROWS], b[MAX_ROWS];
  char ex[4096];
  pb_join_type types[] = {PB_JOIN_INNER, PB_JOIN_LEFT, PB_JOIN_RIGHT,
                          PB_JOIN_FULL};
  for (size_t k = 0; k < 4; k++) {
    size_t na = join_pairs(txn, true, types[k], a, ex, sizeof ex);
    size_t nb = join_pairs(txn, false, types[k], b, NULL, 0);
    if (getenv("PB_TEST_VERBOSE")) printf("%s(%zu rows)\n\n", ex, na);
    assert_non_null(strstr(ex, "IndexScan qo.Task.by_prio"));
    assert_non_null(strstr(ex, "IndexScan qo.Event.by_kind"));
    assert_true(na > 0);
    assert_int_equal(na, nb);
    qsort(a, na, sizeof *a, cmp_u64);
    qsort(b, nb, sizeof *b, cmp_u64);
    for (size_t i = 0; i < na; i++) assert_int_equal(a[i], b[i]);
  }
  pb_txn_abort(txn);
}

/* An INNER join whose left side is a whole table with an index on its
 * join field, and whose right side is a few rows: driven by the right
 * side (each right row looks its partners up in the left table's index),
 * the same rows as every other way, counted by hand; a LEFT join never. */
static size_t join_right_pairs(pb_txn *txn, bool optimize, pb_join_type type,
                               bool resid, uint64_t *pairs, char *ex,
                               size_t cap) {
  pb__query_no_optimize = !optimize;
  pb_plan *l = NULL, *r = NULL;
  assert_int_equal(pb_plan_from_table(txn, &qo_Task_table, &l), PB_OK);
  assert_int_equal(pb_plan_from_table(txn, &qo_Event_table, &r), PB_OK);
  assert_int_equal(pb_plan_where(&r, pb_expr_cmp(PB_EQ, pb_expr_field(0, 1),
                                                 pb_expr_const(pb_qint(2)))),
                   PB_OK);
  pb_expr *on = pb_expr_cmp(PB_EQ, pb_expr_field(1, 1),
                            pb_expr_field(0, T_OWNER));
  if (resid) /* a residual term: the event's time against the task's due */
    on = pb_expr_and(on, pb_expr_cmp(PB_LT, pb_expr_field(0, T_DUE),
                                     pb_expr_field(1, 2)));
  assert_int_equal(pb_plan_join(&l, r, type, on), PB_OK);
  pb_buf b;
  pb_buf_init(&b);
  assert_int_equal(pb_plan_explain(l, &b), PB_OK);
  if (ex) {
    size_t n = b.len < cap - 1 ? b.len : cap - 1;
    memcpy(ex, b.data, n);
    ex[n] = 0;
  }
  pb_buf_free(&b);
  size_t n = 0;
  pb_row row;
  int rc;
  while ((rc = pb_plan_next(l, &row)) == PB_OK) {
    assert_true(n < MAX_ROWS);
    assert_int_equal(row.n_recs, 2);
    uint64_t t = row.recs[0] ? ((const qo_Task *)row.recs[0])->id : 0;
    uint64_t e = row.recs[1] ? row.ids[1] : 0;
    if (row.recs[0] && row.recs[1]) /* the left source first */
      assert_int_equal(((const qo_Task *)row.recs[0])->owner,
                       ((const qo_Event *)row.recs[1])->kind);
    pairs[n++] = t << 32 | e;
  }
  assert_int_equal(rc, PB_ENOTFOUND);
  pb_plan_free(l);
  pb__query_no_optimize = false;
  return n;
}

static void test_join_driven_right(void **state) {
  (void)state;
  pb_txn *txn = begin(PB_RDONLY);
  static uint64_t a[MAX_ROWS], b[MAX_ROWS];
  char ex[4096];
  for (int resid = 0; resid < 2; resid++) {
    size_t want = 0;
    for (uint64_t id = 1; id <= N_TASKS; id++) {
      qo_Task t;
      fill_task(&t, id);
      for (int i = 0; i < 40; i++) /* the events of setup() */
        want += t.owner == 2 && i % 4 == 2 &&
                (!resid || (t.has_due && t.due < 100 - i));
    }
    size_t na = join_right_pairs(txn, true, PB_JOIN_INNER, resid, a, ex,
                                 sizeof ex);
    size_t nb = join_right_pairs(txn, false, PB_JOIN_INNER, resid, b, NULL,
                                 0);
    if (getenv("PB_TEST_VERBOSE")) printf("%s(%zu rows)\n\n", ex, na);
    assert_non_null(strstr(ex, "IndexJoin INNER (index nested loop driven "
                               "by the right side: per right row, a lookup "
                               "in qo.Task index by_owner_due)"));
    assert_int_equal(na, want);
    assert_int_equal(nb, want);
    assert_true(want > 0);
    /* the right rows in their order, each with its partners */
    for (size_t i = 1; i < na; i++)
      assert_true((a[i] & 0xffffffffu) >= (a[i - 1] & 0xffffffffu));
    qsort(a, na, sizeof *a, cmp_u64);
    qsort(b, nb, sizeof *b, cmp_u64);
    for (size_t i = 0; i < na; i++) assert_int_equal(a[i], b[i]);
  }
  /* a LEFT join keeps every left row: never driven by the right side */
  size_t na = join_right_pairs(txn, true, PB_JOIN_LEFT, false, a, ex,
                               sizeof ex);
  size_t nb = join_right_pairs(txn, false, PB_JOIN_LEFT, false, b, NULL, 0);
  assert_null(strstr(ex, "driven by the right side"));
  assert_int_equal(na, nb);
  assert_true(na >= N_TASKS);
  pb_txn_abort(txn);
}

/* Rows cost no allocation: after the first row, a plain scan, a Where
 * pushed into it (compiled or not) pull every other row without one
 * (the table holds N_TASKS rows in a few leaves: a leaf's scratch is
 * reused). */
static void test_no_allocs_per_row(void **state) {
  (void)state;
  pb_txn *txn = begin(PB_RDONLY);
  query qs[] = {
      {.def = &qo_Task_table},
      {.def = &qo_Task_table, .where = p_ne},
      {.def = &qo_Task_table, .where = p_not},
  };
  for (size_t i = 0; i < sizeof qs / sizeof *qs; i++) {
    pb_plan *p = build(txn, &qs[i]);
    pb_row row;
    assert_int_equal(pb_plan_next(p, &row), PB_OK);
    long before = n_allocs;
    size_t n = 1;
    while (pb_plan_next(p, &row) == PB_OK) n++;
    long used = n_allocs - before;
    if (getenv("PB_TEST_VERBOSE"))
      printf("query %zu: %zu rows, %ld allocations after the first\n", i, n,
             used);
    assert_true(n >= 3);
    assert_true(used <= 2);
    pb_plan_free(p);
  }
  pb_txn_abort(txn);
}

/* Each allocation of the optimizer (and of what it builds) failed in
 * turn: pb_plan_next gives PB_ENOMEM (again at the next call), or the
 * rows; the plan frees whole (ASan checks the leaks). */
static void test_alloc_failures(void **state) {
  (void)state;
  struct {
    query q;
  } cases[] = {
      {Q(p_or_overlap)},
      {Q(p_owner_in_due)},
      {Q(p_tag_pfx_utf8)},
      {Q(p_owner3_due_lt20)},
      {{.def = &qo_Task_table, .where = p_or_and, .order_tag = T_TITLE,
        .limit = 3}},
      {{.def = &qo_Task_table, .order_tag = T_TITLE, .limit = 5}},
      {{.def = &qo_Task_table, .where = p_owner3, .order_tag = T_DUE,
        .order_dir = PB_DESC}},
      {{.def = &qo_Task_table, .order_tag = T_SCORE, .limit = 4,
        .offset = 2}},
  };
  static uint64_t ids[MAX_ROWS];
  for (size_t c = 0; c < sizeof cases / sizeof *cases; c++) {
    pb_txn *txn = begin(PB_RDONLY);
    size_t want = run(txn, &cases[c].q, true, ids, NULL, NULL, 0);
    pb_txn_abort(txn);
    bool done = false;
    for (long n = 1; !done && n < 2000; n++) {
      txn = begin(PB_RDONLY);
      pb_plan *p = build(txn, &cases[c].q);
      fail_at = n;
      pb_row row;
      int rc;
      size_t got = 0;
      while ((rc = pb_plan_next(p, &row)) == PB_OK) got++;
      done = fail_at > 0; /* nothing failed */
      fail_at = 0;
      if (rc != PB_ENOTFOUND) {
        if (rc != PB_ENOMEM)
          fprintf(stderr, "case %zu, allocation %ld: %s (%s)\n", c, n,
                  pb_strerror(rc), pb_errdetail());
        assert_int_equal(rc, PB_ENOMEM);
        assert_int_equal(pb_plan_next(p, &row), PB_ENOMEM); /* sticky */
      } else {
        assert_int_equal(got, want);
      }
      if (done) assert_int_equal(rc, PB_ENOTFOUND);
      pb_plan_free(p);
      pb_txn_abort(txn);
    }
    assert_true(done);
  }
}

/* A schema that declares an index the database has not built (a newer
 * program on an older database): a read-only transaction cannot build
 * it, so the optimizer must not choose it; the full scan gives the rows. */
static int prio_entry(const void *rec, pb_keybuf *out) {
  pb_key_put_u32(out, ((const qo_Task *)rec)->prio);
  return pb_keybuf_error(out);
}

static void test_unbuilt_index(void **state) {
  (void)state;
  static const uint32_t prio_tag[] = {T_PRIO};
  /* only an index on prio, under a name the database does not have */
  static const pb_table_index newer_ix[] = {
      {.name = "by_prio_new", .flags = 0, .tags = prio_tag, .n_tags = 1,
       .key = prio_entry}};
  pb_table_def newer = qo_Task_table;
  newer.indexes = newer_ix;
  newer.n_indexes = 1;
  pb_txn *txn = begin(PB_RDONLY);
  query q = {.def = &newer, .where = p_prio_in};
  char ex[4096];
  pb__query_no_optimize = false;
  pb_plan *p = build(txn, &q);
  pb_buf b;
  pb_buf_init(&b);
  assert_int_equal(pb_plan_explain(p, &b), PB_OK);
  snprintf(ex, sizeof ex, "%.*s", (int)b.len, (const char *)b.data);
  pb_buf_free(&b);
  assert_non_null(strstr(ex, "TableScan"));
  assert_null(strstr(ex, "by_prio_new"));
  size_t n = 0;
  pb_row row;
  int rc;
  while ((rc = pb_plan_next(p, &row)) == PB_OK) n++;
  assert_int_equal(rc, PB_ENOTFOUND);
  pb_plan_free(p);
  size_t want = 0;
  for (uint64_t id = 1; id <= N_TASKS; id++) want += id % 5 == 1 || id % 5 == 3;
  assert_int_equal(n, want);
  pb_txn_abort(txn);
}

/* The estimates explain prints come from the table's count. */
static void test_estimates(void **state) {
  (void)state;
  pb_txn *txn = begin(PB_RDONLY);
  uint64_t count = 0;
  assert_int_equal(pb_table_count(txn, &qo_Task_table, &count), PB_OK);
  char ex[4096], want[64];
  static uint64_t ids[MAX_ROWS];
  query q = {.def = &qo_Task_table};
  run(txn, &q, true, ids, NULL, ex, sizeof ex);
  snprintf(want, sizeof want, "TableScan qo.Task full scan (est %llu rows)",
           (unsigned long long)count);
  assert_non_null(strstr(ex, want));
  q.where = p_title_eq;
  run(txn, &q, true, ids, NULL, ex, sizeof ex);
  assert_non_null(strstr(ex, "(est 1 rows)"));
  q.where = p_or_unindexed; /* a residual: fewer rows than the table */
  run(txn, &q, true, ids, NULL, ex, sizeof ex);
  assert_null(strstr(ex, "(est ? rows)"));
  pb_txn_abort(txn);
}


/* --- Pushdown: predicates on encoded rows --- */

enum { E_A = 2, E_B = 3, E_S = 4, E_U = 5, E_BIG = 6, E_F = 7, E_FLAG = 8,
       E_SMALL = 9, E_OS = 10, E_V = 11 };
#define N_EVO 90

/* An older program's encoder: it knew only id and a (every later field
 * reads as its default, b and os as absent). */
static int evo_old_encode(const void *rec, pb_buf *out) {
  const qo_Evo *r = rec;
  pb_wire_put_uint(out, 1, r->id);
  if (r->a != 5) pb_wire_put_sint(out, 2, r->a);
  return pb_buf_error(out);
}

/* A newer program's: fields this schema does not know (tags 40..42), and
 * a second copy of a (the decoder keeps the last). */
static int evo_new_encode(const void *rec, pb_buf *out) {
  const qo_Evo *r = rec;
  pb_wire_put_sint(out, 2, 100); /* overwritten by the copy below */
  int rc = qo_Evo_encode(r, out);
  if (rc != PB_OK) return rc;
  pb_wire_put_uint(out, 40, 12345);
  pb_wire_put_str(out, 41, S("zz"));
  pb_wire_put_double(out, 42, 2.5);
  pb_wire_put_sint(out, 2, r->a);
  return pb_buf_error(out);
}

static void fill_evo(qo_Evo *e, uint64_t id) {
  static const char *const ss[] = {"x", "y", "yes", ""};
  qo_Evo_init(e);
  e->id = id;
  e->a = (int32_t)(id % 7) - 1; /* 5 (the default) for id % 7 == 6 */
  e->has_b = id % 5 != 0;
  e->b = (int32_t)(id % 4);
  e->s = pb_str_from_cstr(ss[id % 4]);
  e->u = (uint32_t)(id % 3 == 0 ? 4000000000u : id % 9);
  e->big = id % 2 ? -(int64_t)id : (int64_t)id * 1000;
  e->f = (double)(id % 6) * 0.5;
  e->flag = id % 3 != 1;
  e->small = (int8_t)((int)(id % 11) - 5);
  e->has_os = id % 2 == 0;
  e->os = pb_str_from_cstr(ss[(id / 2) % 4]);
  e->v = id % 4 == 0 ? UINT64_MAX - id : id % 5;
}

static int pd_true(const pb_row *row, void *ctx, bool *out) {
  (void)row;
  (void)ctx;
  *out = true;
  return PB_OK;
}

#define EF(tag) pb_expr_field(0, (tag))
#define EI(v) pb_expr_const(pb_qint(v))
static pb_expr *e_a5(void) { return pb_expr_cmp(PB_EQ, EF(E_A), EI(5)); }
static pb_expr *e_a_gt2(void) { return pb_expr_cmp(PB_GT, EF(E_A), EI(2)); }
static pb_expr *e_a_lt0_flip(void) {
  return pb_expr_cmp(PB_GT, EI(0), EF(E_A));
}
static pb_expr *e_b_null(void) { return pb_expr_is_null(EF(E_B)); }
static pb_expr *e_b3(void) { return pb_expr_cmp(PB_EQ, EF(E_B), EI(3)); }
static pb_expr *e_not_b3(void) { return pb_expr_not(e_b3()); }
static pb_expr *e_b_ne0(void) { return pb_expr_cmp(PB_NE, EF(E_B), EI(0)); }
static pb_expr *e_b_or_a(void) {
  return pb_expr_or(pb_expr_cmp(PB_GT, EF(E_B), EI(1)), e_a5());
}
static pb_expr *e_s_x(void) {
  return pb_expr_cmp(PB_EQ, EF(E_S), pb_expr_const(pb_qstr(S("x"))));
}
static pb_expr *e_s_pfx(void) {
  return pb_expr_prefix(EF(E_S), pb_qstr(S("y")));
}
static pb_expr *e_u7(void) { return pb_expr_cmp(PB_EQ, EF(E_U), EI(7)); }
static pb_expr *e_u_gt_neg(void) {
  return pb_expr_cmp(PB_GT, EF(E_U), EI(-1));
}
static pb_expr *e_u_lt_big(void) {
  return pb_expr_cmp(PB_LT, EF(E_U), pb_expr_const(pb_quint(3000000000u)));
}
static pb_expr *e_v_gt_neg(void) {
  return pb_expr_cmp(PB_GT, EF(E_V), EI(-1));
}
static pb_expr *e_v_lt_neg(void) {
  return pb_expr_cmp(PB_LE, EF(E_V), EI(-1));
}
static pb_expr *e_v_big(void) {
  return pb_expr_cmp(PB_GE, EF(E_V), pb_expr_const(pb_quint(UINT64_MAX - 40)));
}
static pb_expr *e_v3(void) { return pb_expr_cmp(PB_EQ, EF(E_V), EI(3)); }
static pb_expr *e_big_neg(void) { return pb_expr_cmp(PB_LT, EF(E_BIG), EI(0)); }
static pb_expr *e_big9(void) { return pb_expr_cmp(PB_EQ, EF(E_BIG), EI(-9)); }
static pb_expr *e_f(void) {
  return pb_expr_cmp(PB_GT, EF(E_F), pb_expr_const(pb_qfloat(1.0)));
}
static pb_expr *e_flag(void) {
  return pb_expr_cmp(PB_EQ, EF(E_FLAG), pb_expr_const(pb_qbool(true)));
}
static pb_expr *e_small(void) {
  return pb_expr_cmp(PB_EQ, EF(E_SMALL), EI(-3));
}
static pb_expr *e_small_btw(void) {
  return pb_expr_between(EF(E_SMALL), EI(-5), EI(0), PB_BETWEEN_LO_EXCL);
}
static pb_expr *e_a_in(void) {
  pb_qval v[2] = {pb_qint(5), pb_qint(0)};
  return pb_expr_in(EF(E_A), v, 2);
}
static pb_expr *e_os_null(void) { return pb_expr_is_null(EF(E_OS)); }
static pb_expr *e_os_y(void) {
  return pb_expr_cmp(PB_GE, EF(E_OS), pb_expr_const(pb_qstr(S("y"))));
}
static pb_expr *e_a5_u7(void) { return pb_expr_and(e_a5(), e_u7()); }
static pb_expr *e_a_float(void) {
  return pb_expr_cmp(PB_GE, EF(E_A), pb_expr_const(pb_qfloat(2.5)));
}
static pb_expr *e_u7_a_gt2(void) { return pb_expr_and(e_u7(), e_a_gt2()); }
static pb_expr *e_pred(void) {
  return pb_expr_and(e_a5(), pb_expr_pred(pd_true, NULL));
}

/* Rows written by an older and a newer program beside this one's: each
 * pushed predicate gives exactly the rows the decoded path gives, and a
 * few are counted by hand. */
static void test_pushdown(void **state) {
  (void)state;
  pb_table_def old_def = qo_Evo_table, new_def = qo_Evo_table;
  old_def.encode = evo_old_encode;
  new_def.encode = evo_new_encode;
  pb_txn *txn = begin(0);
  size_t want_a5 = 0, want_b_null = 0, want_u7 = 0, want_v3 = 0;
  for (uint64_t id = 1; id <= N_EVO; id++) {
    qo_Evo e;
    fill_evo(&e, id);
    if (id % 3 == 0) e.u = 7; /* indexed: its entry is the row's default */
    const pb_table_def *d = id % 3 == 0   ? &old_def
                            : id % 3 == 1 ? &new_def
                                          : &qo_Evo_table;
    assert_int_equal(pb_table_insert(txn, d, &e, NULL), PB_OK);
    bool old = id % 3 == 0;
    want_a5 += e.a == 5;
    want_b_null += old || !e.has_b;
    want_u7 += old || e.u == 7;
    want_v3 += old || e.v == 3;
  }
  assert_int_equal(pb_txn_commit(txn), PB_OK);
  txn = begin(PB_RDONLY);
  struct {
    pred_fn where;
    const char *const *want;
  } cases[] = {
      {e_a5, WANT("on encoded rows", "TableScan")},
      {e_a_gt2, WANT("on encoded rows")},
      {e_a_lt0_flip, WANT("on encoded rows")},
      {e_b_null, WANT("on encoded rows")},
      {e_b3, WANT("on encoded rows")},
      {e_not_b3, WANT("on encoded rows")},
      {e_b_ne0, WANT("on encoded rows")},
      {e_b_or_a, WANT("on encoded rows")},
      {e_s_x, WANT("on encoded rows")},
      {e_s_pfx, WANT("on encoded rows")},
      {e_u_gt_neg, WANT("qo.Evo")},
      {e_u_lt_big, WANT("qo.Evo")},
      {e_v_gt_neg, WANT("on encoded rows")},
      {e_v_lt_neg, WANT("on encoded rows")},
      {e_v_big, WANT("on encoded rows")},
      {e_v3, WANT("on encoded rows")},
      {e_big_neg, WANT("on encoded rows")},
      {e_big9, WANT("on encoded rows")},
      {e_f, WANT("on encoded rows")},
      {e_flag, WANT("on encoded rows")},
      {e_small, WANT("on encoded rows")},
      {e_small_btw, WANT("on encoded rows")},
      {e_a_in, WANT("on encoded rows")},
      {e_os_null, WANT("on encoded rows")},
      {e_os_y, WANT("on encoded rows")},
      {e_a5_u7, WANT("on encoded rows", "IndexScan qo.Evo.by_u")},
      {e_a_float, WANT("on encoded rows")},
      {e_u7_a_gt2, WANT("on encoded rows", "IndexScan")},
      {e_pred, WANT("Where", "!on encoded rows")},
  };
  for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
    query q = {.def = &qo_Evo_table, .where = cases[i].where};
    size_t n = check(txn, &q, SAME_SET, cases[i].want);
    if (cases[i].where == e_a5) assert_int_equal(n, want_a5);
    if (cases[i].where == e_b_null) assert_int_equal(n, want_b_null);
    if (cases[i].where == e_v_gt_neg) assert_int_equal(n, N_EVO);
    if (cases[i].where == e_v_lt_neg) assert_int_equal(n, 0);
    if (cases[i].where == e_v3) assert_int_equal(n, want_v3);
  }
  query q = {.def = &qo_Evo_table, .where = e_u7};
  static uint64_t ids[MAX_ROWS];
  assert_int_equal(run(txn, &q, true, ids, NULL, NULL, 0), want_u7);
  /* top-N: the keys read from the encoded rows, the rows of the full
   * stable sort (ties in the scan's order) */
  struct {
    query q;
    const char *const *want;
  } tops[] = {
      {{.def = &qo_Evo_table, .order_tag = E_F, .order_dir = PB_DESC,
        .limit = 5},
       WANT("top 5 (heap), keys read from the encoded rows", "!Where")},
      {{.def = &qo_Evo_table, .where = e_b_null, .order_tag = E_A,
        .limit = 7},
       WANT("keys read from the encoded rows", "on encoded rows")},
      {{.def = &qo_Evo_table, .order_tag = E_S, .order_tag2 = E_BIG,
        .order_dir = PB_DESC, .limit = 10, .offset = 3},
       WANT("top 13 (heap), keys read from the encoded rows")},
      {{.def = &qo_Evo_table, .order_tag = E_OS, .limit = 30},
       WANT("keys read from the encoded rows")},
      {{.def = &qo_Evo_table, .where = e_pred, .order_tag = E_SMALL,
        .limit = 4},
       WANT("top 4 (heap)", "!keys read from the encoded rows")},
  };
  for (size_t i = 0; i < sizeof tops / sizeof *tops; i++) {
    size_t n = check(txn, &tops[i].q, SAME_ORDER, tops[i].want);
    assert_true(n > 0);
  }
  /* a Where on encoded rows under a Limit stops early, and its rows are
   * the decoded path's first ones */
  query ql = {.def = &qo_Evo_table, .where = e_b_ne0, .limit = 4};
  check(txn, &ql, SAME_SET, WANT("on encoded rows"));
  pb_txn_abort(txn);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_predicates, setup, teardown),
      cmocka_unit_test_setup_teardown(test_exact_counts, setup, teardown),
      cmocka_unit_test_setup_teardown(test_update_delete, setup, teardown),
      cmocka_unit_test_setup_teardown(test_order, setup, teardown),
      cmocka_unit_test_setup_teardown(test_limit, setup, teardown),
      cmocka_unit_test_setup_teardown(test_join, setup, teardown),
      cmocka_unit_test_setup_teardown(test_join_driven_right, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(test_unbuilt_index, setup, teardown),
      cmocka_unit_test_setup_teardown(test_alloc_failures, setup, teardown),
      cmocka_unit_test_setup_teardown(test_estimates, setup, teardown),
      cmocka_unit_test_setup_teardown(test_pushdown, setup, teardown),
      cmocka_unit_test_setup_teardown(test_no_allocs_per_row, setup,
                                      teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
