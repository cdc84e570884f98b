/*
 * test_query_diff.c - query plans (protobase/query.h) checked against real
 * SQLite: the same random data in ProtoBase (file storage, the defaults:
 * PB_DURABILITY_SYNC) and in an in-memory SQLite database, then thousands
 * of random queries, each built once as a ProtoBase plan and once as SQL
 * text, whose rows must be equal.
 *
 * Three keyed tables A (int64 key), B (uint64 key), C (string key) share
 * their fields (tags): 1 the key, 2 int64 i, 3 uint64 u, 4 float64 f,
 * 5 string s, 6 bool b, 7 an enum c, 8 an optional int64 o (absent: SQL
 * NULL), 9 a ref r to the next table (A -> B -> C -> A).  They exist twice:
 * qd.* (schema/qdiff.pbs) without indexes, qdx.* (schema/qdiff_ix.pbs)
 * with single, composite, unique and optional-field indexes; SQLite has
 * the same indexes.  Every query runs over both, so each is answered by
 * table scans and by whatever the optimizer makes of the indexes.  A
 * Dictionary D in the root (string keys, int64 or NULL values) is SQLite's
 * table D(k, v).
 *
 * The queries (see gen_query): one to three sources, each a table, or a
 * table with its own Where, or its own OrderBy, Offset and Limit, or an
 * index range (pb_plan_from_index), or D (pb_plan_from_collection), or a
 * GroupBy of a table (rows with columns under a join), joined
 * inner, left, right or full on equalities of same-typed fields (refs to
 * keys among them), extra terms, or any predicate, or not at all (a cross
 * join); a Where of comparisons, every BETWEEN variant, IN lists, string
 * prefixes, IS NULL, AND/OR/NOT nested over NULLs, NULL constants,
 * numbers of mixed types; then the rows as they are, or a Select (fields
 * and predicates; Distinct), or a GroupBy (count, count(x), sum, min, max,
 * avg; no key or several) with a Having; an OrderBy on several keys;
 * Limits and Offsets in any sequence; and a Where or another OrderBy over
 * a limited, ordered Select (that must not move below the Limit).  Some
 * plans get a 4 KiB memory budget (an external sort), some are explained
 * before they run.  Between rounds of queries, random inserts, updates
 * (the unique field kept unique) and deletes are applied to both, and some
 * rounds run inside the writing transaction before it commits;
 * pb_table_check runs on every table after each round of changes.
 *
 * Comparison: as multisets; in order where the OrderBy's keys are a total
 * order (they include every source's key, or every group key); with ties,
 * the sequence of the key columns in order, and the multiset.  A Limit or
 * Offset without a total order: the row count, and the rows must be among
 * those of the query without them.  A table without indexes is read in key
 * order, so a (stable) OrderBy over it gives ties in key order: compared
 * with SQL that sorts by the key last.  Numbers exactly, but averages and
 * sums of floats within a relative 1e-9 (they add in other orders), and a
 * value's class (NULL, integer, float, string) must match (a bool is 0 or
 * 1).  A sum beyond int64 is PB_ERANGE where SQLite says "integer
 * overflow".
 * Where SQLite's SQL would mean something else, the SQL text says what the
 * plan means (sql_expr: prefixes, empty IN lists).
 *
 * Environment (or arguments --seed=N, --queries=N, --rows=N):
 *   PB_QDIFF_SEED     the seed (default 1); printed with every failure
 *   PB_QDIFF_QUERIES  the number of queries (default 5000)
 *   PB_QDIFF_ROWS     rows of A at the start (default 60; B 3/4, C 1/2)
 *   PB_QDIFF_ONLY     run only query number N (with the same seed) and
 *                     print its SQL, plan and results
 *   PB_QDIFF_VERBOSE  print every query's SQL
 * A failure prints the seed, the query's number, its SQL, the ProtoBase
 * plan as built (and pb_plan_explain), and the first difference; the test
 * goes on, and fails at the end if any query failed.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <math.h>
#include <sqlite3.h>
#include <time.h>

#include "protobase/protobase.h"
#include "protobase/query.h"
#include "protobase/table.h"
#include "qdiff.pb.h"
#include "qdiff_ix.pb.h"
#include "support/filedb.h"

/* The two schemas' structs are the same layout: the test fills qd_* and
 * gives them to either table. */
#define SAME_LAYOUT(T, m)                                                      \
  _Static_assert(offsetof(qd_##T, m) == offsetof(qdx_##T, m), "layout")
_Static_assert(sizeof(qd_A) == sizeof(qdx_A), "layout");
_Static_assert(sizeof(qd_B) == sizeof(qdx_B), "layout");
_Static_assert(sizeof(qd_C) == sizeof(qdx_C), "layout");
SAME_LAYOUT(A, r);
SAME_LAYOUT(B, r);
SAME_LAYOUT(C, r);
SAME_LAYOUT(A, o);
SAME_LAYOUT(B, o);
SAME_LAYOUT(C, o);

/* ------------------------------------------------------------------------ */
/* Settings                                                                 */

static uint64_t g_seed = 1;
static long g_queries = 5000;
static long g_rows = 60;
static long g_only = -1;
static bool g_verbose;
static bool g_right_full = true; /* SQLite >= 3.39 */

/* ------------------------------------------------------------------------ */
/* Random numbers: splitmix64, one stream per purpose.                      */

typedef struct rng {
  uint64_t s;
} rng;

static uint64_t rnext(rng *r) {
  uint64_t z = (r->s += UINT64_C(0x9e3779b97f4a7c15));
  z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
  z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
  return z ^ (z >> 31);
}
static rng rseed(uint64_t a, uint64_t b, uint64_t c) {
  rng r = {a * UINT64_C(0x9e3779b97f4a7c15) ^ b * UINT64_C(0xc2b2ae3d27d4eb4f) ^
           c * UINT64_C(0x165667b19e3779f9)};
  rnext(&r);
  return r;
}
/* 0 .. n-1 */
static unsigned rn(rng *r, unsigned n) { return (unsigned)(rnext(r) % n); }
/* true with probability pct/100 */
static bool rp(rng *r, unsigned pct) { return rn(r, 100) < pct; }

/* ------------------------------------------------------------------------ */
/* The model: values, fields, tables.                                       */

enum { TA, TB, TC, NT };
enum { F_ID, F_I, F_U, F_F, F_S, F_B, F_C, F_O, F_R, NF };
static const char *const tname[NT] = {"A", "B", "C"};
static const char *const fname[NF] = {"id", "i", "u", "f", "s",
                                      "b",  "c", "o", "r"};

/* A value of the model, a constant of a query: PB_QNULL, PB_QBOOL (i),
 * PB_QINT (i), PB_QUINT (i, never above INT64_MAX), PB_QFLOAT (f),
 * PB_QSTR (s: a string that lives as long as the test). */
typedef struct cval {
  pb_qtype t;
  int64_t i;
  double f;
  const char *s;
} cval;

static cval vnull(void) { return (cval){PB_QNULL, 0, 0, NULL}; }
static cval vint(int64_t i) { return (cval){PB_QINT, i, 0, NULL}; }
static cval vuint(int64_t i) { return (cval){PB_QUINT, i, 0, NULL}; }
static cval vflt(double f) { return (cval){PB_QFLOAT, 0, f, NULL}; }
static cval vstr(const char *s) { return (cval){PB_QSTR, 0, 0, s}; }
static cval vbool(bool b) { return (cval){PB_QBOOL, b, 0, NULL}; }

/* The type of field f of table t as a query reads it. */
static pb_qtype ftype(int t, int f) {
  switch (f) {
  case F_ID:
    return t == TA ? PB_QINT : t == TB ? PB_QUINT : PB_QSTR;
  case F_R: /* the key type of the next table */
    return t == TA ? PB_QUINT : t == TB ? PB_QSTR : PB_QINT;
  case F_I:
  case F_C:
  case F_O:
    return PB_QINT;
  case F_U:
    return PB_QUINT;
  case F_F:
    return PB_QFLOAT;
  case F_S:
    return PB_QSTR;
  default:
    return PB_QBOOL;
  }
}
static bool is_num(pb_qtype t) {
  return t == PB_QINT || t == PB_QUINT || t == PB_QFLOAT;
}
/* Whether values of a and b compare (query.h: numbers with numbers, a
 * string with a string, a bool with a bool). */
static bool comparable(pb_qtype a, pb_qtype b) {
  if (a == PB_QNULL || b == PB_QNULL) return true;
  if (is_num(a) && is_num(b)) return true;
  return a == b;
}

#define MAXROWS 4096
typedef struct mrow {
  bool live;
  cval v[NF];
} mrow;
static mrow rows[NT][MAXROWS];
static size_t n_rows[NT];

/* Strings: values of s, keys of C and prefixes share some bytes. */
static const char *const s_pool[] = {
    "",  "a",  "ab", "abc", "abd", "abc\xc3\xa9", "b",
    "B", "ba", "z",  "a b", "~",   "k001",        "k01"};
#define N_SPOOL (sizeof s_pool / sizeof s_pool[0])
static const char *const prefix_pool[] = {
    "", "a", "ab", "abc", "b", "k", "k0", "k00", "z", "B", "abc\xc3", "x"};
#define N_PREFIX (sizeof prefix_pool / sizeof prefix_pool[0])
static const int64_t i_dom[] = {
    -6, -5, -4, -3, -2, -1,       0,       1,
    2,  3,  4,  5,  6,  -1000000, 1000000, INT64_C(1) << 40};
#define N_IDOM (sizeof i_dom / sizeof i_dom[0])
static const double f_dom[] = {-2.5, -1.0, -0.0, 0.0,  0.5,   1.0,
                               2.0,  2.5,  3.25, 1e10, -1e-3, 7.0};
#define N_FDOM (sizeof f_dom / sizeof f_dom[0])
static const int64_t c_dom[] = {-3, 0, 1, 2};

/* Keys: A int64 from [-100, 1900); B uint64 from [0, 400) and 2^40 + k;
 * C strings: a few of s_pool's and "k0005".. "k1999". */
#define N_KEYS 2000
static cval keypool[NT][N_KEYS];
static size_t keynext[NT];
static char ckeys[N_KEYS][8]; /* "k0005".. */
/* A.u is unique (qdx.A has a unique index on it). */
static bool a_u_used[1 << 16];

static void keypools_init(rng *r) {
  for (size_t k = 0; k < N_KEYS; k++) {
    keypool[TA][k] = vint((int64_t)k - 100);
    keypool[TB][k] =
        vuint(k < 400 ? (int64_t)k : (INT64_C(1) << 40) + (int64_t)k);
    if (k < 5) {
      keypool[TC][k] = vstr(s_pool[k]); /* "", "a", "ab", "abc", "abd" */
    } else {
      snprintf(ckeys[k], sizeof ckeys[k], "k%04zu", k);
      keypool[TC][k] = vstr(ckeys[k]);
    }
  }
  for (int t = 0; t < NT; t++) {
    for (size_t k = N_KEYS - 1; k > 0; k--) {
      size_t j = rn(r, (unsigned)k + 1);
      cval x = keypool[t][k];
      keypool[t][k] = keypool[t][j];
      keypool[t][j] = x;
    }
    keynext[t] = 0;
  }
}

static cval rand_i(rng *r) {
  return vint(rp(r, 85) ? i_dom[rn(r, 13)] : i_dom[rn(r, N_IDOM)]);
}
static cval rand_u(rng *r) {
  if (rp(r, 90)) return vuint(rn(r, 9));
  /* 2^62 + k: two in a sum overflow (SQLite's "integer overflow",
   * ProtoBase's PB_ERANGE); beyond 2^53, so compared with floats exactly */
  if (rp(r, 15)) return vuint((INT64_C(1) << 62) + (int64_t)rn(r, 100));
  return vuint(rp(r, 50) ? INT64_C(1) << 33 : INT64_C(1) << 40);
}
static cval rand_a_u(rng *r) {
  for (;;) {
    unsigned u = rn(r, 1u << 16);
    if (rp(r, 80)) u %= 64u * (unsigned)g_rows;
    if (!a_u_used[u]) {
      a_u_used[u] = true;
      return vuint(u);
    }
  }
}
static cval rand_f(rng *r) { return vflt(f_dom[rn(r, N_FDOM)]); }
static cval rand_s(rng *r) { return vstr(s_pool[rn(r, N_SPOOL)]); }

/* A random live key of table t (or, sometimes, one no row has). */
static cval rand_ref(rng *r, int t) {
  if (n_rows[t] > 0 && rp(r, 85)) {
    for (int tries = 0; tries < 8; tries++) {
      mrow *m = &rows[t][rn(r, (unsigned)n_rows[t])];
      if (m->live) return m->v[F_ID];
    }
  }
  return keypool[t][N_KEYS - 1 - rn(r, 20)]; /* never handed out */
}

static cval rand_field(rng *r, int t, int f) {
  switch (f) {
  case F_I:
    return rand_i(r);
  case F_U:
    return t == TA ? rand_a_u(r) : rand_u(r);
  case F_F:
    return rand_f(r);
  case F_S:
    return rand_s(r);
  case F_B:
    return vbool(rp(r, 50));
  case F_C:
    return vint(c_dom[rn(r, 4)]);
  case F_O:
    return rp(r, 30) ? vnull() : vint((int64_t)rn(r, 7) - 3);
  case F_R:
    return rand_ref(r, (t + 1) % NT);
  default:
    break;
  }
  assert_true(false);
  return vnull();
}

/* ------------------------------------------------------------------------ */
/* ProtoBase: the store and the tables.                                     */

static pb_test_filedb g_db;
static const pb_table_def *const defs[2][NT] = {
    {&qd_A_table, &qd_B_table, &qd_C_table},
    {&qdx_A_table, &qdx_B_table, &qdx_C_table}};

static pb_str cstr(const char *s) { return pb_str_from_cstr(s); }

/* Fills the record struct of table t (qd_* layout) from m. */
static void fill_rec(int t, const mrow *m, void *out) {
  switch (t) {
  case TA: {
    qd_A *a = out;
    qd_A_init(a);
    a->id = m->v[F_ID].i;
    a->i = m->v[F_I].i;
    a->u = (uint64_t)m->v[F_U].i;
    a->f = m->v[F_F].f;
    a->s = cstr(m->v[F_S].s);
    a->b = m->v[F_B].i != 0;
    a->c = (qd_Color)m->v[F_C].i;
    a->has_o = m->v[F_O].t != PB_QNULL;
    a->o = a->has_o ? m->v[F_O].i : 0;
    a->r = (uint64_t)m->v[F_R].i;
    break;
  }
  case TB: {
    qd_B *b = out;
    qd_B_init(b);
    b->id = (uint64_t)m->v[F_ID].i;
    b->i = m->v[F_I].i;
    b->u = (uint64_t)m->v[F_U].i;
    b->f = m->v[F_F].f;
    b->s = cstr(m->v[F_S].s);
    b->b = m->v[F_B].i != 0;
    b->c = (qd_Color)m->v[F_C].i;
    b->has_o = m->v[F_O].t != PB_QNULL;
    b->o = b->has_o ? m->v[F_O].i : 0;
    b->r = cstr(m->v[F_R].s);
    break;
  }
  default: {
    qd_C *c = out;
    qd_C_init(c);
    c->id = cstr(m->v[F_ID].s);
    c->i = m->v[F_I].i;
    c->u = (uint64_t)m->v[F_U].i;
    c->f = m->v[F_F].f;
    c->s = cstr(m->v[F_S].s);
    c->b = m->v[F_B].i != 0;
    c->c = (qd_Color)m->v[F_C].i;
    c->has_o = m->v[F_O].t != PB_QNULL;
    c->o = c->has_o ? m->v[F_O].i : 0;
    c->r = m->v[F_R].i;
    break;
  }
  }
}

typedef union anyrec {
  qd_A a;
  qd_B b;
  qd_C c;
} anyrec;

/* ------------------------------------------------------------------------ */
/* SQLite                                                                   */

static sqlite3 *g_sql;

static void sql_exec(const char *q) {
  char *err = NULL;
  if (sqlite3_exec(g_sql, q, NULL, NULL, &err) != SQLITE_OK) {
    print_error("sqlite: %s\n  in: %s\n", err ? err : "?", q);
    sqlite3_free(err);
    fail();
  }
}

static void sql_bind(sqlite3_stmt *st, int i, cval v) {
  switch (v.t) {
  case PB_QNULL:
    sqlite3_bind_null(st, i);
    break;
  case PB_QFLOAT:
    sqlite3_bind_double(st, i, v.f);
    break;
  case PB_QSTR:
    sqlite3_bind_text(st, i, v.s, (int)strlen(v.s), SQLITE_STATIC);
    break;
  default:
    sqlite3_bind_int64(st, i, v.i);
    break;
  }
}

static void sql_insert(int t, const mrow *m) {
  char q[128];
  snprintf(q, sizeof q, "INSERT INTO %s VALUES (?,?,?,?,?,?,?,?,?)", tname[t]);
  sqlite3_stmt *st = NULL;
  assert_int_equal(sqlite3_prepare_v2(g_sql, q, -1, &st, NULL), SQLITE_OK);
  for (int f = 0; f < NF; f++) sql_bind(st, f + 1, m->v[f]);
  assert_int_equal(sqlite3_step(st), SQLITE_DONE);
  sqlite3_finalize(st);
}

static void sql_delete(int t, const mrow *m) {
  char q[128];
  snprintf(q, sizeof q, "DELETE FROM %s WHERE id = ?", tname[t]);
  sqlite3_stmt *st = NULL;
  assert_int_equal(sqlite3_prepare_v2(g_sql, q, -1, &st, NULL), SQLITE_OK);
  sql_bind(st, 1, m->v[F_ID]);
  assert_int_equal(sqlite3_step(st), SQLITE_DONE);
  assert_int_equal(sqlite3_changes(g_sql), 1);
  sqlite3_finalize(st);
}

static void sql_open(void) {
  assert_int_equal(sqlite3_open(":memory:", &g_sql), SQLITE_OK);
  g_right_full = sqlite3_libversion_number() >= 3039000;
  if (!g_right_full)
    print_message("SQLite %s has no RIGHT or FULL join: those are left out\n",
                  sqlite3_libversion());
  sql_exec("CREATE TABLE A(id INTEGER PRIMARY KEY, i INTEGER NOT NULL,"
           " u INTEGER NOT NULL, f REAL NOT NULL, s TEXT NOT NULL,"
           " b INTEGER NOT NULL, c INTEGER NOT NULL, o INTEGER,"
           " r INTEGER NOT NULL)");
  sql_exec("CREATE TABLE B(id INTEGER PRIMARY KEY, i INTEGER NOT NULL,"
           " u INTEGER NOT NULL, f REAL NOT NULL, s TEXT NOT NULL,"
           " b INTEGER NOT NULL, c INTEGER NOT NULL, o INTEGER,"
           " r TEXT NOT NULL)");
  sql_exec("CREATE TABLE C(id TEXT PRIMARY KEY, i INTEGER NOT NULL,"
           " u INTEGER NOT NULL, f REAL NOT NULL, s TEXT NOT NULL,"
           " b INTEGER NOT NULL, c INTEGER NOT NULL, o INTEGER,"
           " r INTEGER NOT NULL)");
  /* The indexes of qdiff_ix.pbs. */
  sql_exec("CREATE INDEX a_i ON A(i); CREATE UNIQUE INDEX a_u ON A(u);"
           "CREATE INDEX a_s ON A(s); CREATE INDEX a_c_f ON A(c, f);"
           "CREATE INDEX a_o ON A(o); CREATE INDEX a_r ON A(r);"
           "CREATE INDEX b_s_i ON B(s, i); CREATE INDEX b_f ON B(f);"
           "CREATE INDEX b_b ON B(b); CREATE INDEX b_r ON B(r);"
           "CREATE INDEX b_o_u ON B(o, u);"
           "CREATE TABLE D(k TEXT PRIMARY KEY, v INTEGER);"
           "CREATE INDEX c_i_o ON C(i, o); CREATE INDEX c_s ON C(s);"
           "CREATE INDEX c_r ON C(r); CREATE INDEX c_c ON C(c);");
}

/* ------------------------------------------------------------------------ */
/* Changes applied to the model, SQLite and both ProtoBase schemas.         */

static void pb_write_row(pb_txn *txn, int t, const mrow *m, bool update) {
  anyrec rec;
  fill_rec(t, m, &rec);
  for (int x = 0; x < 2; x++) {
    int rc = update ? pb_table_update(txn, defs[x][t], &rec)
                    : pb_table_insert(txn, defs[x][t], &rec, NULL);
    if (rc != PB_OK)
      print_error("%s %s.%s: %s (%s)\n", update ? "update" : "insert",
                  x ? "qdx" : "qd", tname[t], pb_strerror(rc), pb_errdetail());
    assert_int_equal(rc, PB_OK);
  }
}

static void pb_delete_row(pb_txn *txn, int t, const mrow *m) {
  anyrec rec;
  fill_rec(t, m, &rec);
  for (int x = 0; x < 2; x++) {
    pb_keybuf kb;
    pb_keybuf_init(&kb);
    assert_int_equal(defs[x][t]->key(&rec, &kb), PB_OK);
    int rc = pb_table_delete(txn, defs[x][t], pb_keybuf_bytes(&kb));
    pb_keybuf_free(&kb);
    if (rc != PB_OK)
      print_error("delete %s.%s: %s (%s)\n", x ? "qdx" : "qd", tname[t],
                  pb_strerror(rc), pb_errdetail());
    assert_int_equal(rc, PB_OK);
  }
}

static void new_row(rng *r, pb_txn *txn, int t) {
  assert_true(n_rows[t] < MAXROWS && keynext[t] < N_KEYS - 20);
  mrow *m = &rows[t][n_rows[t]++];
  m->live = true;
  m->v[F_ID] = keypool[t][keynext[t]++];
  for (int f = 1; f < NF; f++) m->v[f] = rand_field(r, t, f);
  pb_write_row(txn, t, m, false);
  sql_insert(t, m);
}

static mrow *rand_live(rng *r, int t) {
  for (int tries = 0; tries < 64 && n_rows[t] > 0; tries++) {
    mrow *m = &rows[t][rn(r, (unsigned)n_rows[t])];
    if (m->live) return m;
  }
  return NULL;
}

/* The Dictionary D (a root collection): keys from s_pool and C's first
 * keys, values int64 or NULL; SQLite's table D(k, v). */
#define N_DKEYS (N_SPOOL + 100)
static bool d_has[N_DKEYS];
static cval d_val[N_DKEYS];

static const char *dkey_name(size_t k) {
  return k < N_SPOOL ? s_pool[k] : keypool[TC][k - N_SPOOL].s;
}

static void d_change(rng *r, pb_txn *txn, size_t k) {
  pb_dict *d = NULL;
  assert_int_equal(pb_txn_open_dict(txn, "D", PB_CREATE, &d), PB_OK);
  pb_str key = cstr(dkey_name(k));
  char q[128];
  sqlite3_stmt *st = NULL;
  if (d_has[k] && rp(r, 40)) {
    assert_int_equal(pb_dict_remove(d, key), PB_OK);
    d_has[k] = false;
    snprintf(q, sizeof q, "DELETE FROM D WHERE k = ?");
    assert_int_equal(sqlite3_prepare_v2(g_sql, q, -1, &st, NULL), SQLITE_OK);
    sql_bind(st, 1, vstr(dkey_name(k)));
  } else {
    d_val[k] = rp(r, 15) ? vnull() : rand_i(r);
    pb_value v;
    memset(&v, 0, sizeof v);
    v.kind = d_val[k].t == PB_QNULL ? PB_VALUE_NULL : PB_VALUE_INT;
    v.as.i = d_val[k].i;
    assert_int_equal(pb_dict_put(d, key, &v), PB_OK);
    d_has[k] = true;
    snprintf(q, sizeof q, "INSERT OR REPLACE INTO D VALUES (?, ?)");
    assert_int_equal(sqlite3_prepare_v2(g_sql, q, -1, &st, NULL), SQLITE_OK);
    sql_bind(st, 1, vstr(dkey_name(k)));
    sql_bind(st, 2, d_val[k]);
  }
  assert_int_equal(sqlite3_step(st), SQLITE_DONE);
  sqlite3_finalize(st);
}

static void change_some(rng *r, pb_txn *txn, int n) {
  for (int k = 0; k < n; k++) {
    if (rp(r, 15)) {
      d_change(r, txn, rn(r, N_DKEYS));
      continue;
    }
    int t = (int)rn(r, NT);
    unsigned what = rn(r, 100);
    mrow *m = rand_live(r, t);
    if (what < 30 || m == NULL) {
      new_row(r, txn, t);
    } else if (what < 70) {
      int nf = 1 + (int)rn(r, 3);
      for (int j = 0; j < nf; j++) {
        int f = 1 + (int)rn(r, NF - 1);
        if (t == TA && f == F_U) a_u_used[m->v[F_U].i] = false;
        m->v[f] = rand_field(r, t, f);
      }
      pb_write_row(txn, t, m, true);
      sql_delete(t, m);
      sql_insert(t, m);
    } else {
      pb_delete_row(txn, t, m);
      sql_delete(t, m);
      m->live = false;
      if (t == TA) a_u_used[m->v[F_U].i] = false;
    }
  }
}

static void check_tables(pb_txn *txn) {
  for (int x = 0; x < 2; x++)
    for (int t = 0; t < NT; t++) {
      int rc = pb_table_check(txn, defs[x][t]);
      if (rc != PB_OK)
        print_error("pb_table_check %s.%s: %s (%s)\n", x ? "qdx" : "qd",
                    tname[t], pb_strerror(rc), pb_errdetail());
      assert_int_equal(rc, PB_OK);
      uint64_t n = 0, live = 0;
      assert_int_equal(pb_table_count(txn, defs[x][t], &n), PB_OK);
      for (size_t k = 0; k < n_rows[t]; k++) live += rows[t][k].live;
      assert_true(n == live);
    }
}

/* ------------------------------------------------------------------------ */
/* Queries: a small tree, rendered as a ProtoBase plan and as SQL.          */

typedef enum xkind {
  X_FIELD,
  X_COL,
  X_CONST,
  X_CMP,
  X_BETWEEN,
  X_AND,
  X_OR,
  X_NOT,
  X_IN,
  X_PREFIX,
  X_ISNULL,
  X_DCOL, /* column col of a grouped join side at position src */
  X_PRED, /* a C callback: source src's i is even (FALSE for no source) */
  X_FN    /* a C callback: source src's i * 2 + 1 (NULL for no source) */
} xkind;

#define MAX_IN 5
typedef struct qx {
  xkind k;
  pb_cmp op;
  unsigned flags; /* BETWEEN */
  struct qx *a, *b, *c;
  int src, fld; /* FIELD; src also PRED, FN */
  int tbl;      /* PRED, FN: the table of source src */
  int rsrc;     /* PRED, FN: src as the plan numbers it (set by pb_x) */
  int col;      /* COL */
  cval v;       /* CONST, PREFIX */
  cval vals[MAX_IN];
  int n;
  pb_qtype type; /* the value's type (PB_QBOOL for predicates) */
} qx;

static qx xpool[8192];
static size_t n_xpool;

static qx *xnew(xkind k) {
  assert_true(n_xpool < sizeof xpool / sizeof xpool[0]);
  qx *x = &xpool[n_xpool++];
  memset(x, 0, sizeof *x);
  x->k = k;
  return x;
}

/* What expressions may read: sources (tables) or columns (types). */
#define MAX_SRC 3
#define MAX_COLS 24
/* A grouped join side (query.derived): GROUP BY its table's field dkey,
 * giving the columns key, count(*) and sum(i). */
#define DCOLS 3

typedef struct scope {
  int n_src;
  int tbl[MAX_SRC];
  bool der[MAX_SRC]; /* a grouped side: columns dcolt, no fields */
  pb_qtype dcolt[MAX_SRC][DCOLS];
  int dn[MAX_SRC]; /* its number of columns */
  int n_col;
  pb_qtype colt[MAX_COLS];
} scope;

enum { M_RAW, M_SELECT, M_GROUP };

typedef struct sortkey {
  qx *e;   /* a FIELD or a COL */
  int out; /* its column in the output */
  bool desc;
  bool inexact; /* a sum or average of floats: added in another order,
                   two equal values may differ in their last bits */
} sortkey;

#define MAX_SORT 8
#define MAX_AGG 5
#define MAX_LIMOPS 3
typedef struct query {
  int n_src;
  int tbl[MAX_SRC];
  qx *pre[MAX_SRC]; /* a Where on the source alone (its src 0) */
  /* then an OrderBy on field pre_f (-1: none) and the key, an Offset and
   * a Limit (UINT64_MAX: none) on the source alone */
  int pre_f[MAX_SRC];
  bool pre_desc[MAX_SRC], pre_key_desc[MAX_SRC];
  uint64_t pre_off[MAX_SRC], pre_lim[MAX_SRC];
  bool pre_limited[MAX_SRC];
  /* From(index range) (ix >= 0: the index's place in qdx's def) on the
   * table with indexes; From(table) and Where(ixpred) on the other, and
   * ixpred in SQL (src 0: the source alone) */
  int ix[MAX_SRC];
  cval ix_lo[MAX_SRC][2], ix_hi[MAX_SRC][2];
  int ix_nlo[MAX_SRC], ix_nhi[MAX_SRC];
  unsigned ix_flags[MAX_SRC];
  qx *ixpred[MAX_SRC];
  /* A grouped join side: From(tbl) GroupBy(dkey; count(*), sum(i)) */
  bool derived[MAX_SRC];
  int dkey[MAX_SRC];
  bool dict[MAX_SRC]; /* derived: From(the Dictionary D): key, value */
  /* Where each position is in a joined row (layout()): its source number
   * (a table) or first column (a grouped side), and its first column in
   * the output of M_RAW. */
  int pbsrc[MAX_SRC], colbase[MAX_SRC], outoff[MAX_SRC];
  int n_tables, n_dcols, raw_width;
  pb_join_type jt[MAX_SRC];
  qx *on[MAX_SRC]; /* NULL: a cross join */
  qx *mid;         /* three positions, the last joined INNER or LEFT: a Where
                      between the two joins (over positions 0 and 1); the same as
                      a term of the final Where */
  qx *where;
  int mode;
  /* M_SELECT */
  qx *sel[MAX_COLS];
  int n_sel;
  bool distinct;
  /* M_GROUP */
  qx *keys[MAX_COLS];
  int n_keys;
  pb_agg_fn agg[MAX_AGG];
  qx *agg_arg[MAX_AGG]; /* NULL: count(*) */
  int n_agg;
  qx *having;
  /* all */
  sortkey sort[MAX_SORT];
  int n_sort;
  bool total; /* the sort keys order the rows totally */
  struct {
    bool is_limit;
    uint64_t n;
  } lim[MAX_LIMOPS];
  int n_lim;
  qx *post; /* M_SELECT with a total order: Where after the limits */
  sortkey post_sort[MAX_SORT]; /* and an OrderBy after that */
  int n_post_sort;
  bool post_total;
  /* One table scanned in key order (no indexes) under an OrderBy, which
   * is stable: ties come in key order, as if the key were the last sort
   * key (stable_col: its output column). */
  bool stable;
  int stable_col;
  bool small_memory;  /* a memory budget of 4 KiB: an external sort */
  bool explain_first; /* pb_plan_explain before the first pb_plan_next */
} query;

/* Whether the SQL keeps the limits (a Where or an OrderBy follows). */
static bool wrapped(const query *q) { return q->post || q->n_post_sort; }
/* The last OrderBy, the one that orders the rows the plan gives. */
static const sortkey *final_sort(const query *q, int *n, bool *total) {
  if (q->n_post_sort) {
    *n = q->n_post_sort;
    *total = q->post_total;
    return q->post_sort;
  }
  *n = q->n_sort;
  *total = q->total;
  return q->sort;
}

/* The effective window of the limits and offsets, in order. */
static void window(const query *q, uint64_t *off, uint64_t *lim) {
  *off = 0;
  *lim = UINT64_MAX;
  for (int k = 0; k < q->n_lim; k++) {
    uint64_t n = q->lim[k].n;
    if (q->lim[k].is_limit) {
      if (n < *lim) *lim = n;
    } else {
      *off += n;
      if (*lim != UINT64_MAX) *lim = *lim > n ? *lim - n : 0;
    }
  }
}

/* --- generating --- */

/* A constant comparable with a value of type t, near the data. */
static cval rand_const(rng *r, pb_qtype t, int tbl, int fld) {
  if (tbl >= 0 && fld >= 0 && rp(r, 40) && n_rows[tbl] > 0) {
    mrow *m = &rows[tbl][rn(r, (unsigned)n_rows[tbl])];
    cval v = m->v[fld];
    if (v.t != PB_QNULL) {
      if (v.t == PB_QINT && rp(r, 20)) v.i += rp(r, 50) ? 1 : -1;
      return v;
    }
  }
  switch (t) {
  case PB_QBOOL:
    return vbool(rp(r, 50));
  case PB_QSTR:
    return rp(r, 80) ? rand_s(r) : rand_ref(r, TC);
  case PB_QINT:
  case PB_QUINT:
  case PB_QFLOAT: {
    unsigned k = rn(r, 10);
    if (k < 5) return rand_i(r);
    if (k < 7) return vflt(f_dom[rn(r, N_FDOM)] + (rp(r, 50) ? 0.0 : 0.5));
    if (k < 9 || (fld != F_ID && fld != F_R)) return vuint(rn(r, 9));
    return vint((int64_t)rn(r, 600) - 100); /* near A's keys */
  }
  default:
    return vnull();
  }
}

/* A plain operand: a field of a source, or a column.  want: a type it
 * must compare with (PB_QNULL: any). */
static qx *gen_operand(rng *r, const scope *sc, pb_qtype want) {
  for (int tries = 0; tries < 64; tries++) {
    qx *x;
    int s = sc->n_src > 0 ? (int)rn(r, (unsigned)sc->n_src) : 0;
    if (sc->n_src > 0 && sc->der[s]) {
      int c = (int)rn(r, (unsigned)sc->dn[s]);
      if (want != PB_QNULL && !comparable(want, sc->dcolt[s][c])) continue;
      x = xnew(X_DCOL);
      x->src = s;
      x->col = c;
      x->type = sc->dcolt[s][c];
    } else if (sc->n_src > 0) {
      int f = (int)rn(r, NF);
      if (want != PB_QNULL && !comparable(want, ftype(sc->tbl[s], f))) continue;
      x = xnew(X_FIELD);
      x->src = s;
      x->fld = f;
      x->type = ftype(sc->tbl[s], f);
    } else {
      int c = (int)rn(r, (unsigned)sc->n_col);
      if (want != PB_QNULL && !comparable(want, sc->colt[c])) continue;
      if (sc->colt[c] == PB_QNULL) continue;
      x = xnew(X_COL);
      x->col = c;
      x->type = sc->colt[c];
    }
    return x;
  }
  return NULL;
}

static qx *xconst(cval v) {
  qx *x = xnew(X_CONST);
  x->v = v;
  x->type = v.t;
  return x;
}

/* The table and field an operand reads (for constants near the data). */
static void operand_origin(const qx *x, const scope *sc, int *tbl, int *fld) {
  *tbl = -1;
  *fld = -1;
  if (x->k == X_FIELD) {
    *tbl = sc->tbl[x->src];
    *fld = x->fld;
  }
}

static qx *gen_pred(rng *r, const scope *sc, int depth, bool same_type_eq);

static qx *gen_leaf(rng *r, const scope *sc, bool same_type_eq) {
  qx *x = gen_operand(r, sc, PB_QNULL);
  if (x == NULL) return NULL;
  int tbl, fld;
  operand_origin(x, sc, &tbl, &fld);
  unsigned k = rn(r, 100);
  if (k < 45) { /* comparison */
    qx *e = xnew(X_CMP);
    e->op = (pb_cmp)rn(r, 6);
    e->type = PB_QBOOL;
    qx *o;
    unsigned w = rn(r, 100);
    if (w < 4) {
      o = xconst(vnull());
    } else if (w < 24) {
      o = gen_operand(r, sc, x->type);
      if (o == NULL || (same_type_eq && e->op == PB_EQ && o->type != x->type))
        o = xconst(rand_const(r, x->type, tbl, fld));
    } else {
      o = xconst(rand_const(r, x->type, tbl, fld));
    }
    if (rp(r, 25)) {
      e->a = o;
      e->b = x;
    } else {
      e->a = x;
      e->b = o;
    }
    return e;
  }
  if (k < 60 && x->type != PB_QBOOL) { /* between */
    qx *e = xnew(X_BETWEEN);
    e->type = PB_QBOOL;
    e->a = x;
    cval lo = rand_const(r, x->type, tbl, fld);
    cval hi = rand_const(r, x->type, tbl, fld);
    /* mostly lo <= hi, so that something is in between */
    bool swap = false;
    if (is_num(lo.t) && is_num(hi.t)) {
      double a = lo.t == PB_QFLOAT ? lo.f : (double)lo.i;
      double b = hi.t == PB_QFLOAT ? hi.f : (double)hi.i;
      swap = a > b;
    } else if (lo.t == PB_QSTR) {
      swap = strcmp(lo.s, hi.s) > 0;
    }
    if (swap && rp(r, 85)) {
      cval t = lo;
      lo = hi;
      hi = t;
    }
    /* a NULL end is NULL, not open (SQL: x >= NULL AND x <= hi) */
    e->b = xconst(rp(r, 4) ? vnull() : lo);
    e->c = xconst(rp(r, 4) ? vnull() : hi);
    e->flags = rn(r, 4);
    return e;
  }
  if (k < 75) { /* in */
    qx *e = xnew(X_IN);
    e->type = PB_QBOOL;
    e->a = x;
    e->n = rp(r, 8) ? 0 : 1 + (int)rn(r, MAX_IN);
    for (int j = 0; j < e->n; j++)
      e->vals[j] = rp(r, 4) ? vnull() : rand_const(r, x->type, tbl, fld);
    return e;
  }
  if (k < 87 && x->type == PB_QSTR) { /* prefix */
    qx *e = xnew(X_PREFIX);
    e->type = PB_QBOOL;
    e->a = x;
    e->v = vstr(prefix_pool[rn(r, N_PREFIX)]);
    return e;
  }
  if (k < 95) { /* is null */
    qx *e = xnew(X_ISNULL);
    e->type = PB_QBOOL;
    if (x->k == X_FIELD && rp(r, 60) && sc->n_src > 0) x->fld = F_O;
    if (x->k == X_FIELD) x->type = ftype(sc->tbl[x->src], x->fld);
    e->a = x;
    if (rp(r, 50)) { /* IS NOT NULL */
      qx *n = xnew(X_NOT);
      n->type = PB_QBOOL;
      n->a = e;
      return n;
    }
    return e;
  }
  if (x->type == PB_QBOOL && rp(r, 50)) return x; /* a bool field itself */
  if (x->k == X_FIELD && rp(r, 30)) {             /* a predicate written in C */
    qx *e = xnew(X_PRED);
    e->type = PB_QBOOL;
    e->src = x->src;
    e->tbl = sc->tbl[x->src];
    return e;
  }
  return gen_pred(r, sc, 2, same_type_eq);
}

static qx *gen_pred(rng *r, const scope *sc, int depth, bool same_type_eq) {
  unsigned k = rn(r, 100);
  if (depth <= 0 || k < 45) {
    qx *x = NULL;
    for (int tries = 0; x == NULL && tries < 8; tries++)
      x = gen_leaf(r, sc, same_type_eq);
    assert_non_null(x);
    return x;
  }
  if (k < 90) {
    qx *e = xnew(k < 67 ? X_AND : X_OR);
    e->type = PB_QBOOL;
    e->a = gen_pred(r, sc, depth - 1, same_type_eq);
    e->b = gen_pred(r, sc, depth - 1, same_type_eq);
    return e;
  }
  qx *e = xnew(X_NOT);
  e->type = PB_QBOOL;
  e->a = gen_pred(r, sc, depth - 1, same_type_eq);
  return e;
}

static qx *xfield(int src, int fld, int tbl) {
  qx *x = xnew(X_FIELD);
  x->src = src;
  x->fld = fld;
  x->type = ftype(tbl, fld);
  return x;
}
static qx *xcol(int col, pb_qtype t) {
  qx *x = xnew(X_COL);
  x->col = col;
  x->type = t;
  return x;
}
static qx *xbin(xkind k, qx *a, qx *b) {
  qx *x = xnew(k);
  x->a = a;
  x->b = b;
  x->type = PB_QBOOL;
  return x;
}

/* An equality between a field of a left source and one of source j, of
 * the same type; refs to keys most of the time. */
/* The type of column c of the grouped side at position s. */
static pb_qtype dtype(const query *q, int s, int c) {
  if (q->dict[s]) return c == 0 ? PB_QSTR : PB_QINT;
  return c == 0 ? ftype(q->tbl[s], q->dkey[s]) : PB_QINT;
}
/* The number of columns of a derived position. */
static int dwidth(const query *q, int s) { return q->dict[s] ? 2 : DCOLS; }
static qx *xdcol(int s, int c, pb_qtype t) {
  qx *x = xnew(X_DCOL);
  x->src = s;
  x->col = c;
  x->type = t;
  return x;
}

/* An operand of position s of exactly type t, or NULL. */
static qx *operand_of_type(rng *r, const query *q, int s, pb_qtype t) {
  int c[NF], n = 0;
  if (q->derived[s]) {
    for (int k = 0; k < dwidth(q, s); k++)
      if (dtype(q, s, k) == t) c[n++] = k;
    return n ? xdcol(s, c[rn(r, (unsigned)n)], t) : NULL;
  }
  for (int f = 0; f < NF; f++)
    if (ftype(q->tbl[s], f) == t) c[n++] = f;
  return n ? xfield(s, c[rn(r, (unsigned)n)], q->tbl[s]) : NULL;
}

/* An equality between an operand of a left position and one of position
 * j, of the same type; refs to keys most of the time; a grouped side's
 * key. */
static qx *gen_join_eq(rng *r, const query *q, int j) {
  int rt = q->tbl[j];
  if (q->derived[j]) {
    pb_qtype kt = dtype(q, j, 0);
    for (int tries = 0; tries < 64; tries++) {
      qx *l = operand_of_type(r, q, (int)rn(r, (unsigned)j), kt);
      if (l == NULL) continue;
      qx *k = xdcol(j, 0, kt);
      return rp(r, 50) ? xbin(X_CMP, l, k) : xbin(X_CMP, k, l);
    }
    return NULL;
  }
  if (rp(r, 55)) {
    /* a left source whose ref names rt's key, or rt's ref a left key */
    int cand[MAX_SRC * 2][2], nc = 0;
    for (int s = 0; s < j; s++) {
      if (q->derived[s]) continue;
      if ((q->tbl[s] + 1) % NT == rt) cand[nc][0] = s, cand[nc++][1] = 0;
      if ((rt + 1) % NT == q->tbl[s]) cand[nc][0] = s, cand[nc++][1] = 1;
    }
    if (nc > 0) {
      int c = (int)rn(r, (unsigned)nc);
      int s = cand[c][0];
      if (cand[c][1] == 0)
        return xbin(X_CMP, xfield(s, F_R, q->tbl[s]), xfield(j, F_ID, rt));
      return xbin(X_CMP, xfield(s, F_ID, q->tbl[s]), xfield(j, F_R, rt));
    }
  }
  for (int tries = 0; tries < 256; tries++) {
    int s = (int)rn(r, (unsigned)j);
    int rf = (int)rn(r, NF);
    if (ftype(rt, rf) == PB_QFLOAT && rp(r, 50)) continue;
    qx *l = operand_of_type(r, q, s, ftype(rt, rf));
    if (l == NULL) continue;
    if (rp(r, 50)) return xbin(X_CMP, l, xfield(j, rf, rt));
    return xbin(X_CMP, xfield(j, rf, rt), l);
  }
  return NULL;
}

/* A conjunction shaped for a composite index of qdiff_ix.pbs (A (c, f),
 * B (s, i) and (o, u), C (i, o)): the first field equal to a constant (or
 * in a list, or of a prefix), the second in a range, over source s. */
static qx *gen_index_shaped(rng *r, int s, int tbl) {
  static const int pairs[NT][2][2] = {{{F_C, F_F}, {F_C, F_F}},
                                      {{F_S, F_I}, {F_O, F_U}},
                                      {{F_I, F_O}, {F_I, F_O}}};
  const int *fp = pairs[tbl][rn(r, 2)];
  qx *a = xfield(s, fp[0], tbl), *b = xfield(s, fp[1], tbl);
  qx *first;
  unsigned k = rn(r, 100);
  if (k < 60) {
    first = xbin(X_CMP, a, xconst(rand_const(r, a->type, tbl, fp[0])));
    first->op = PB_EQ;
  } else if (k < 80 || a->type != PB_QSTR) {
    first = xnew(X_IN);
    first->type = PB_QBOOL;
    first->a = a;
    first->n = 1 + (int)rn(r, 3);
    for (int j = 0; j < first->n; j++)
      first->vals[j] = rand_const(r, a->type, tbl, fp[0]);
  } else {
    first = xnew(X_PREFIX);
    first->type = PB_QBOOL;
    first->a = a;
    first->v = vstr(prefix_pool[rn(r, N_PREFIX)]);
  }
  if (rp(r, 20)) return first;
  qx *second;
  if (rp(r, 50)) {
    second = xbin(X_CMP, b, xconst(rand_const(r, b->type, tbl, fp[1])));
    second->op = (pb_cmp)rn(r, 6);
  } else {
    second = xnew(X_BETWEEN);
    second->type = PB_QBOOL;
    second->a = b;
    second->b = xconst(rand_const(r, b->type, tbl, fp[1]));
    second->c = xconst(rand_const(r, b->type, tbl, fp[1]));
    second->flags = rn(r, 4);
  }
  return rp(r, 50) ? xbin(X_AND, first, second) : xbin(X_AND, second, first);
}

static void add_sort(query *q, qx *e, int out, bool desc) {
  for (int k = 0; k < q->n_sort; k++)
    if (q->sort[k].out == out) return;
  if (q->n_sort >= MAX_SORT) return;
  sortkey *s = &q->sort[q->n_sort++];
  s->e = e;
  s->out = out;
  s->desc = desc;
  int a = out - q->n_keys;
  s->inexact = q->mode == M_GROUP && a >= 0 && q->agg_arg[a] != NULL &&
               (q->agg[a] == PB_AGG_AVG ||
                (q->agg[a] == PB_AGG_SUM && q->agg_arg[a]->type == PB_QFLOAT));
}

/* Whether the sort keys cover the given output columns. */
static bool sort_covers(const query *q, const int *outs, int n) {
  for (int i = 0; i < n; i++) {
    bool found = false;
    for (int k = 0; k < q->n_sort; k++) found |= q->sort[k].out == outs[i];
    if (!found) return false;
  }
  return true;
}

static pb_qtype agg_type(pb_agg_fn fn, const qx *arg) {
  switch (fn) {
  case PB_AGG_COUNT:
  case PB_AGG_COUNT_ALL:
    return PB_QINT;
  case PB_AGG_SUM:
    return arg->type == PB_QFLOAT ? PB_QFLOAT : PB_QINT;
  case PB_AGG_AVG:
    return PB_QFLOAT;
  default:
    return arg->type;
  }
}

/* A value of field f of table t, of its exact type (an index bound). */
static cval rand_exact(rng *r, int t, int f) {
  if (n_rows[t] > 0 && rp(r, 60)) {
    cval v = rows[t][rn(r, (unsigned)n_rows[t])].v[f];
    if (v.t != PB_QNULL) return v;
  }
  if (f == F_O) return vint((int64_t)rn(r, 7) - 3);
  if (f == F_U) return vuint(rn(r, 9)); /* not rand_a_u: it marks A.u */
  return rand_field(r, t, f);
}

/* The fields of the indexes of qdiff_ix.pbs, in each def's order. */
static const int ix_fields[NT][6][2] = {
    {{F_I, -1}, {F_U, -1}, {F_S, -1}, {F_C, F_F}, {F_O, -1}, {F_R, -1}},
    {{F_S, F_I}, {F_F, -1}, {F_B, -1}, {F_R, -1}, {F_O, F_U}, {-1, -1}},
    {{F_I, F_O}, {F_S, -1}, {F_R, -1}, {F_C, -1}, {-1, -1}, {-1, -1}}};
static const int n_ix[NT] = {6, 5, 4};

static qx *xcmpc(pb_cmp op, qx *a, cval v) {
  qx *e = xbin(X_CMP, a, xconst(v));
  e->op = op;
  return e;
}
static qx *xand(qx *a, qx *b) {
  return a == NULL ? b : b == NULL ? a : xbin(X_AND, a, b);
}

/* An index range on source j: a single field's range with each flag, a
 * composite index's first field equal (a prefix), or its first field
 * equal and its second in a range. */
static void gen_index_from(rng *r, query *q, int j) {
  int t = q->tbl[j], ix = (int)rn(r, (unsigned)n_ix[t]);
  const int *fs = ix_fields[t][ix];
  q->ix[j] = ix;
  unsigned fl = rn(r, 8); /* LO_EXCL, HI_INCL, REVERSE */
  qx *p = NULL;
  if (fs[1] < 0) {
    int f = fs[0];
    q->ix_nlo[j] = rp(r, 75);
    q->ix_nhi[j] = rp(r, 75);
    q->ix_lo[j][0] = rand_exact(r, t, f);
    q->ix_hi[j][0] = rand_exact(r, t, f);
    if (q->ix_nlo[j])
      p = xcmpc(fl & PB_SCAN_LO_EXCL ? PB_GT : PB_GE, xfield(0, f, t),
                q->ix_lo[j][0]);
    qx *hi = NULL;
    if (q->ix_nhi[j])
      hi = xcmpc(fl & PB_SCAN_HI_INCL ? PB_LE : PB_LT, xfield(0, f, t),
                 q->ix_hi[j][0]);
    if (f == F_O && !q->ix_nlo[j] && hi) /* absent values come first */
      hi = xbin(X_OR, xbin(X_ISNULL, xfield(0, f, t), NULL), hi);
    p = xand(p, hi);
  } else if (rp(r, 40)) {
    q->ix_nlo[j] = q->ix_nhi[j] = 1;
    q->ix_lo[j][0] = q->ix_hi[j][0] = rand_exact(r, t, fs[0]);
    fl = (fl & PB_SCAN_REVERSE) | PB_SCAN_HI_INCL;
    p = xcmpc(PB_EQ, xfield(0, fs[0], t), q->ix_lo[j][0]);
  } else {
    q->ix_nlo[j] = q->ix_nhi[j] = 2;
    q->ix_lo[j][0] = q->ix_hi[j][0] = rand_exact(r, t, fs[0]);
    q->ix_lo[j][1] = rand_exact(r, t, fs[1]);
    q->ix_hi[j][1] = rand_exact(r, t, fs[1]);
    p = xand(xcmpc(PB_EQ, xfield(0, fs[0], t), q->ix_lo[j][0]),
             xand(xcmpc(fl & PB_SCAN_LO_EXCL ? PB_GT : PB_GE,
                        xfield(0, fs[1], t), q->ix_lo[j][1]),
                  xcmpc(fl & PB_SCAN_HI_INCL ? PB_LE : PB_LT,
                        xfield(0, fs[1], t), q->ix_hi[j][1])));
  }
  q->ix_flags[j] = fl;
  q->ixpred[j] = p;
}

/* A position from s on that is a table, or -1. */
static int table_pos(const query *q, int s) {
  for (int k = 0; k < q->n_src; k++)
    if (!q->derived[(s + k) % q->n_src]) return (s + k) % q->n_src;
  return -1;
}

/* A value computed in C (X_FN) over a table position, or NULL. */
static qx *gen_fn(rng *r, const query *q) {
  int s = table_pos(q, (int)rn(r, (unsigned)q->n_src));
  if (s < 0) return NULL;
  qx *e = xnew(X_FN);
  e->type = PB_QINT;
  e->src = s;
  e->tbl = q->tbl[s];
  return e;
}

/* Whether x is a position's key (a table's, or a grouped side's). */
static bool is_key(const qx *x) {
  return (x->k == X_FIELD && x->fld == F_ID) || (x->k == X_DCOL && x->col == 0);
}

/* Numbers the positions' sources and columns (see query.pbsrc). */
static void layout(query *q) {
  q->n_tables = q->n_dcols = q->raw_width = 0;
  for (int j = 0; j < q->n_src; j++) {
    q->pbsrc[j] = q->derived[j] ? -1 : q->n_tables++;
    q->colbase[j] = q->derived[j] ? q->n_dcols : -1;
    q->n_dcols += q->derived[j] ? dwidth(q, j) : 0;
    q->outoff[j] = q->raw_width;
    q->raw_width += q->derived[j] ? dwidth(q, j) : NF;
  }
}

/* Field or column k of position s (k 0: the key), and its output column
 * in M_RAW. */
static qx *pos_operand(const query *q, int s, int k, int *out) {
  if (q->derived[s]) {
    k %= dwidth(q, s);
    *out = q->outoff[s] + k;
    return xdcol(s, k, dtype(q, s, k));
  }
  *out = q->outoff[s] + k;
  return xfield(s, k, q->tbl[s]);
}

static void gen_query(rng *r, query *q) {
  memset(q, 0, sizeof *q);
  n_xpool = 0;
  unsigned k = rn(r, 100);
  q->n_src = k < 45 ? 1 : k < 80 ? 2 : 3;
  scope sc = {0};
  for (int j = 0; j < q->n_src; j++) {
    q->tbl[j] = (int)rn(r, NT);
    q->ix[j] = -1;
    q->pre_f[j] = -1;
    unsigned d = rn(r, 100);
    if ((j > 0 && d < 12) || d >= 94) { /* a grouped side, or D */
      q->derived[j] = true;
      q->dict[j] = d >= 94;
      q->dkey[j] = 1 + (int)rn(r, NF - 1);
      sc.der[sc.n_src] = true;
      sc.dn[sc.n_src] = dwidth(q, j);
      for (int c = 0; c < dwidth(q, j); c++)
        sc.dcolt[sc.n_src][c] = dtype(q, j, c);
      sc.tbl[sc.n_src++] = q->tbl[j];
      goto join;
    }
    if (rp(r, 10)) gen_index_from(r, q, j);
    if (rp(r, j == 0 ? 10 : 20)) {
      scope one = {.n_src = 1, .tbl = {q->tbl[j]}};
      q->pre[j] = gen_pred(r, &one, 2, false);
    }
    q->pre_f[j] = -1;
    if (rp(r, 8)) {
      q->pre_limited[j] = true;
      q->pre_f[j] = rp(r, 50) ? -1 : 1 + (int)rn(r, NF - 1);
      q->pre_desc[j] = rp(r, 50);
      q->pre_key_desc[j] = rp(r, 40);
      q->pre_off[j] = rp(r, 60) ? 0 : rn(r, 10);
      q->pre_lim[j] = rp(r, 15) ? UINT64_MAX : rn(r, 20);
    }
    sc.tbl[sc.n_src++] = q->tbl[j];
  join:
    if (j == 0) continue;
    unsigned t = rn(r, 100);
    q->jt[j] = t < 40   ? PB_JOIN_INNER
               : t < 65 ? PB_JOIN_LEFT
               : t < 80 ? PB_JOIN_RIGHT
                        : PB_JOIN_FULL;
    if (!g_right_full && q->jt[j] >= PB_JOIN_RIGHT) q->jt[j] = PB_JOIN_LEFT;
    unsigned o = rn(r, 100);
    if (o < 7 && j == 1) {
      q->on[j] = NULL; /* cross */
    } else if (o < 20) {
      q->on[j] = gen_pred(r, &sc, 2, true); /* any predicate: nested loop */
    } else {
      qx *on = gen_join_eq(r, q, j);
      if (on == NULL) on = gen_pred(r, &sc, 2, true);
      if (rp(r, 20)) on = xand(on, gen_join_eq(r, q, j));
      if (rp(r, 25))
        on = rp(r, 50) ? xbin(X_AND, on, gen_pred(r, &sc, 1, true))
                       : xbin(X_AND, gen_pred(r, &sc, 1, true), on);
      q->on[j] = on;
    }
  }
  layout(q);
  if (q->n_src == 3 && q->jt[2] <= PB_JOIN_LEFT && rp(r, 25)) {
    scope s01 = sc;
    s01.n_src = 2;
    q->mid = gen_pred(r, &s01, 2, false);
  }
  if (rp(r, 55)) q->where = gen_pred(r, &sc, 1 + (int)rn(r, 3), false);
  if (rp(r, 20)) {
    int s = (int)rn(r, (unsigned)q->n_src);
    s = table_pos(q, s);
    qx *ix = s < 0 ? NULL : gen_index_shaped(r, s, q->tbl[s]);
    if (ix)
      q->where = q->where == NULL ? ix
                 : rp(r, 80)      ? xbin(X_AND, q->where, ix)
                                  : xbin(X_OR, q->where, ix);
  }

  k = rn(r, 100);
  q->mode = k < 35 ? M_RAW : k < 70 ? M_SELECT : M_GROUP;
  int key_outs[MAX_COLS], n_key_outs = 0;
  if (q->mode == M_RAW) {
    if (rp(r, 60)) {
      int n = 1 + (int)rn(r, 3);
      for (int i = 0; i < n; i++) {
        int s = (int)rn(r, (unsigned)q->n_src), f = (int)rn(r, NF), out;
        qx *e = pos_operand(q, s, f, &out);
        add_sort(q, e, out, rp(r, 40));
      }
      if (rp(r, 60))
        for (int s = 0; s < q->n_src; s++) {
          int out;
          qx *e = pos_operand(q, s, 0, &out);
          add_sort(q, e, out, rp(r, 40));
        }
    }
    for (int s = 0; s < q->n_src; s++) key_outs[n_key_outs++] = q->outoff[s];
  } else if (q->mode == M_SELECT) {
    int n = 1 + (int)rn(r, 5);
    scope cs = {0};
    for (int i = 0; i < n; i++) {
      qx *e = NULL;
      if (rp(r, 12))
        e = gen_pred(r, &sc, 1, false);
      else if (rp(r, 6))
        e = gen_fn(r, q); /* NULL without a table */
      q->sel[q->n_sel++] = e ? e : gen_operand(r, &sc, PB_QNULL);
    }
    q->distinct = rp(r, 15);
    bool want_total = rp(r, 50);
    if (want_total && !q->distinct) /* every source's key among the columns */
      for (int s = 0; s < q->n_src; s++) {
        int out;
        q->sel[q->n_sel++] = pos_operand(q, s, 0, &out);
      }
    for (int i = 0; i < q->n_sel; i++) cs.colt[cs.n_col++] = q->sel[i]->type;
    if (rp(r, 60) || want_total) {
      int m = 1 + (int)rn(r, 3);
      for (int i = 0; i < m; i++) {
        int c = (int)rn(r, (unsigned)q->n_sel);
        add_sort(q, xcol(c, cs.colt[c]), c, rp(r, 40));
      }
      if (want_total) {
        int from = q->distinct ? 0 : q->n_sel - q->n_src;
        for (int c = from; c < q->n_sel; c++)
          add_sort(q, xcol(c, cs.colt[c]), c, rp(r, 40));
      }
    }
    if (q->distinct) {
      for (int c = 0; c < q->n_sel; c++) key_outs[n_key_outs++] = c;
    } else {
      for (int c = 0; c < q->n_sel; c++) {
        const qx *e = q->sel[c];
        if (is_key(e)) {
          /* the key of source e->src: one column per source is enough */
          bool have = false;
          for (int i = 0; i < c; i++)
            have |= is_key(q->sel[i]) && q->sel[i]->src == e->src;
          if (!have) key_outs[n_key_outs++] = c;
        }
      }
      /* every source must have its key among them */
      int srcs = 0;
      for (int i = 0; i < n_key_outs; i++)
        srcs |= 1 << q->sel[key_outs[i]]->src;
      if (srcs != (1 << q->n_src) - 1) n_key_outs = -1;
    }
  } else {
    int nk = rp(r, 15) ? 0 : 1 + (int)rn(r, 2);
    for (int i = 0; i < nk; i++) {
      qx *e = NULL;
      unsigned w = rn(r, 100);
      if (w < 10) e = gen_pred(r, &sc, 1, false); /* TRUE, FALSE, NULL */
      if (w >= 10 && w < 16) e = gen_fn(r, q);
      q->keys[q->n_keys++] = e ? e : gen_operand(r, &sc, PB_QNULL);
    }
    q->n_agg = (nk == 0 ? 1 : 0) + (int)rn(r, MAX_AGG);
    if (q->n_agg > MAX_AGG) q->n_agg = MAX_AGG;
    for (int i = 0; i < q->n_agg; i++) {
      unsigned a = rn(r, 100);
      if (a < 15) {
        q->agg[i] = PB_AGG_COUNT_ALL;
        q->agg_arg[i] = NULL;
        continue;
      }
      q->agg[i] = a < 30   ? PB_AGG_COUNT
                  : a < 50 ? PB_AGG_SUM
                  : a < 65 ? PB_AGG_MIN
                  : a < 80 ? PB_AGG_MAX
                           : PB_AGG_AVG;
      qx *arg = NULL;
      bool num = q->agg[i] == PB_AGG_SUM || q->agg[i] == PB_AGG_AVG;
      if (rp(r, 10)) /* of an expression */
        arg = num ? gen_fn(r, q) : gen_pred(r, &sc, 1, false);
      while (arg == NULL || (num && !is_num(arg->type)))
        arg = gen_operand(r, &sc, PB_QNULL);
      q->agg_arg[i] = arg;
    }
    scope cs = {0};
    for (int i = 0; i < q->n_keys; i++) cs.colt[cs.n_col++] = q->keys[i]->type;
    for (int i = 0; i < q->n_agg; i++)
      cs.colt[cs.n_col++] =
          q->agg_arg[i] ? agg_type(q->agg[i], q->agg_arg[i]) : PB_QINT;
    if (rp(r, 30)) q->having = gen_pred(r, &cs, 2, false);
    if (rp(r, 40)) {
      int m = 1 + (int)rn(r, 3);
      for (int i = 0; i < m; i++) {
        int c = (int)rn(r, (unsigned)cs.n_col);
        add_sort(q, xcol(c, cs.colt[c]), c, rp(r, 40));
      }
      if (rp(r, 50))
        for (int c = 0; c < q->n_keys; c++)
          add_sort(q, xcol(c, cs.colt[c]), c, rp(r, 40));
    }
    for (int c = 0; c < q->n_keys; c++) key_outs[n_key_outs++] = c;
  }
  if (q->mode == M_GROUP && q->n_sort == 0) {
    q->total = true; /* groups come in key order */
  } else {
    q->total = q->n_sort > 0 && n_key_outs >= 0 &&
               sort_covers(q, key_outs, n_key_outs);
    for (int i = 0; i < q->n_sort; i++) q->total &= !q->sort[i].inexact;
  }
  if (rp(r, 40)) {
    q->n_lim = 1 + (int)rn(r, MAX_LIMOPS);
    for (int i = 0; i < q->n_lim; i++) {
      q->lim[i].is_limit = rp(r, 55);
      q->lim[i].n = rp(r, 10) ? 0 : rn(r, 25);
    }
  }
  q->explain_first = rp(r, 20);
  if (q->n_src == 1 && !q->derived[0] && !q->pre_limited[0] && q->n_sort > 0 &&
      (q->mode == M_RAW || (q->mode == M_SELECT && !q->distinct))) {
    q->stable_col = q->mode == M_RAW ? F_ID : -1;
    for (int c = 0; c < q->n_sel && q->mode == M_SELECT; c++)
      if (q->sel[c]->k == X_FIELD && q->sel[c]->fld == F_ID) q->stable_col = c;
    q->stable = q->stable_col >= 0;
    q->small_memory = rp(r, 15);
  }
  if (q->mode == M_SELECT && q->total && rp(r, 30)) {
    scope cs = {0};
    for (int i = 0; i < q->n_sel; i++) cs.colt[cs.n_col++] = q->sel[i]->type;
    if (rp(r, 70)) q->post = gen_pred(r, &cs, 2, false);
    if (!q->post || rp(r, 40)) {
      /* another order of the limited rows: the first keys of it */
      int m = 1 + (int)rn(r, 3);
      query tmp = *q;
      tmp.n_sort = 0;
      for (int i = 0; i < m; i++) {
        int c = (int)rn(r, (unsigned)q->n_sel);
        add_sort(&tmp, xcol(c, cs.colt[c]), c, rp(r, 40));
      }
      if (rp(r, 40))
        for (int i = 0; i < n_key_outs; i++)
          add_sort(&tmp, xcol(key_outs[i], cs.colt[key_outs[i]]), key_outs[i],
                   rp(r, 40));
      memcpy(q->post_sort, tmp.sort, sizeof q->post_sort);
      q->n_post_sort = tmp.n_sort;
      q->post_total =
          n_key_outs >= 0 && sort_covers(&tmp, key_outs, n_key_outs);
    }
  }
}

/* --- as SQL --- */

typedef struct sbuf {
  char *p;
  size_t len, cap;
} sbuf;

static void sb_add(sbuf *b, const char *fmt, ...) {
  va_list ap;
  for (;;) {
    va_start(ap, fmt);
    int n = vsnprintf(b->p ? b->p + b->len : NULL, b->p ? b->cap - b->len : 0,
                      fmt, ap);
    va_end(ap);
    assert_true(n >= 0);
    if (b->p && b->len + (size_t)n < b->cap) {
      b->len += (size_t)n;
      return;
    }
    size_t cap = b->cap ? b->cap * 2 : 1024;
    while (cap < b->len + (size_t)n + 1) cap *= 2;
    b->p = realloc(b->p, cap);
    assert_non_null(b->p);
    b->cap = cap;
  }
}

static void sql_val(sbuf *b, cval v) {
  switch (v.t) {
  case PB_QNULL:
    sb_add(b, "NULL");
    break;
  case PB_QBOOL:
  case PB_QINT:
    sb_add(b, "%lld", (long long)v.i);
    break;
  case PB_QUINT:
    sb_add(b, "%llu", (unsigned long long)v.i);
    break;
  case PB_QFLOAT: {
    char t[64];
    snprintf(t, sizeof t, "%.17g", v.f);
    if (!strpbrk(t, ".en")) strcat(t, ".0");
    sb_add(b, "%s", t);
    break;
  }
  case PB_QSTR:
    sb_add(b, "'");
    for (const char *s = v.s; *s; s++) sb_add(b, *s == '\'' ? "''" : "%c", *s);
    sb_add(b, "'");
    break;
  default:
    assert_true(false);
  }
}

static const char *const sql_ops[] = {"=", "<>", "<", "<=", ">", ">="};

/* alias[s]: the SQL alias number of source s (NULL: s itself). */
static void sql_expr(sbuf *b, const qx *x, const int *alias) {
  switch (x->k) {
  case X_FIELD:
    sb_add(b, "t%d.%s", alias ? alias[x->src] : x->src, fname[x->fld]);
    break;
  case X_COL:
    sb_add(b, "c%d", x->col);
    break;
  case X_CONST:
    sql_val(b, x->v);
    break;
  case X_CMP:
    sb_add(b, "(");
    sql_expr(b, x->a, alias);
    sb_add(b, " %s ", sql_ops[x->op]);
    sql_expr(b, x->b, alias);
    sb_add(b, ")");
    break;
  case X_BETWEEN:
    sb_add(b, "(");
    sql_expr(b, x->a, alias);
    sb_add(b, (x->flags & PB_BETWEEN_LO_EXCL) ? " > " : " >= ");
    sql_expr(b, x->b, alias);
    sb_add(b, " AND ");
    sql_expr(b, x->a, alias);
    sb_add(b, (x->flags & PB_BETWEEN_HI_EXCL) ? " < " : " <= ");
    sql_expr(b, x->c, alias);
    sb_add(b, ")");
    break;
  case X_AND:
  case X_OR:
    sb_add(b, "(");
    sql_expr(b, x->a, alias);
    sb_add(b, x->k == X_AND ? " AND " : " OR ");
    sql_expr(b, x->b, alias);
    sb_add(b, ")");
    break;
  case X_NOT:
    sb_add(b, "(NOT ");
    sql_expr(b, x->a, alias);
    sb_add(b, ")");
    break;
  case X_IN:
    if (x->n == 0) {
      /* FALSE, even for a NULL x.  Not "x IN ()": SQLite 3.40 folds it to
       * a constant FALSE, and an inner join ON that is constantly FALSE
       * before a RIGHT or FULL join loses the right side's rows there. */
      sb_add(b, "(CASE WHEN ");
      sql_expr(b, x->a, alias);
      sb_add(b, " IS NULL THEN 0 ELSE 0 END)");
      break;
    }
    sb_add(b, "(");
    sql_expr(b, x->a, alias);
    sb_add(b, " IN (");
    for (int j = 0; j < x->n; j++) {
      if (j) sb_add(b, ", ");
      sql_val(b, x->vals[j]);
    }
    sb_add(b, "))");
    break;
  case X_PREFIX: {
    /* Bytewise, as the prefix is (some end inside a UTF-8 character):
     * LIKE ignores case, GLOB reads characters, and substr() of an empty
     * blob is NULL; so a range of blobs: p <= x < p's successor (the
     * last byte plus one: no prefix has a byte 0xff). */
    size_t n = strlen(x->v.s);
    sb_add(b, "(CAST(");
    sql_expr(b, x->a, alias);
    sb_add(b, " AS BLOB) >= X'");
    for (size_t k = 0; k < n; k++) sb_add(b, "%02x", (unsigned char)x->v.s[k]);
    sb_add(b, "'");
    if (n > 0) {
      sb_add(b, " AND CAST(");
      sql_expr(b, x->a, alias);
      sb_add(b, " AS BLOB) < X'");
      for (size_t k = 0; k < n; k++)
        sb_add(b, "%02x", (unsigned char)x->v.s[k] + (k == n - 1));
      sb_add(b, "'");
    }
    sb_add(b, ")");
    break;
  }
  case X_ISNULL:
    sb_add(b, "(");
    sql_expr(b, x->a, alias);
    sb_add(b, " IS NULL)");
    break;
  case X_DCOL:
    sb_add(b, "t%d.c%d", x->src, x->col);
    break;
  case X_PRED:
    sb_add(b, "coalesce(t%d.i %% 2 = 0, 0)", alias ? alias[x->src] : x->src);
    break;
  case X_FN:
    sb_add(b, "(t%d.i * 2 + 1)", alias ? alias[x->src] : x->src);
    break;
  }
}

static const char *const agg_sql[] = {"count", "sum", "min", "max", "avg",
                                      "count"};
static const char *const jt_sql[] = {"JOIN", "LEFT JOIN", "RIGHT JOIN",
                                     "FULL JOIN"};

static void sql_from(sbuf *b, const query *q) {
  sb_add(b, " FROM ");
  for (int j = 0; j < q->n_src; j++) {
    if (j) sb_add(b, " %s ", jt_sql[q->jt[j]]);
    if (q->dict[j]) {
      sb_add(b, "(SELECT k AS c0, v AS c1 FROM D) AS t%d", j);
    } else if (q->derived[j]) {
      sb_add(b,
             "(SELECT t%d.%s AS c0, count(*) AS c1, sum(t%d.i) AS c2 FROM %s "
             "AS t%d GROUP BY t%d.%s) AS t%d",
             j, fname[q->dkey[j]], j, tname[q->tbl[j]], j, j, fname[q->dkey[j]],
             j);
    } else if (q->pre[j] || q->pre_limited[j] || q->ix[j] >= 0) {
      int alias[1] = {j};
      sb_add(b, "(SELECT * FROM %s AS t%d", tname[q->tbl[j]], j);
      if (q->pre[j] || q->ixpred[j]) {
        sb_add(b, " WHERE ");
        if (q->pre[j]) sql_expr(b, q->pre[j], alias);
        if (q->pre[j] && q->ixpred[j]) sb_add(b, " AND ");
        if (q->ixpred[j]) sql_expr(b, q->ixpred[j], alias);
      }
      if (q->pre_limited[j]) {
        sb_add(b, " ORDER BY ");
        if (q->pre_f[j] >= 0)
          sb_add(b, "t%d.%s%s, ", j, fname[q->pre_f[j]],
                 q->pre_desc[j] ? " DESC" : "");
        sb_add(b, "t%d.id%s LIMIT %lld OFFSET %llu", j,
               q->pre_key_desc[j] ? " DESC" : "",
               q->pre_lim[j] == UINT64_MAX ? -1LL : (long long)q->pre_lim[j],
               (unsigned long long)q->pre_off[j]);
      }
      sb_add(b, ") AS t%d", j);
    } else {
      sb_add(b, "%s AS t%d", tname[q->tbl[j]], j);
    }
    if (j) {
      sb_add(b, " ON ");
      if (q->on[j])
        sql_expr(b, q->on[j], NULL);
      else
        sb_add(b, "1");
    }
  }
  if (q->where || q->mid) sb_add(b, " WHERE ");
  if (q->mid) sql_expr(b, q->mid, NULL);
  if (q->where && q->mid) sb_add(b, " AND ");
  if (q->where) sql_expr(b, q->where, NULL);
}

static void sql_keys(sbuf *b, const sortkey *keys, int n) {
  if (n == 0) return;
  sb_add(b, " ORDER BY ");
  for (int k = 0; k < n; k++) {
    if (k) sb_add(b, ", ");
    sql_expr(b, keys[k].e, NULL);
    if (keys[k].desc) sb_add(b, " DESC");
  }
}

static void sql_order(sbuf *b, const query *q) {
  if (q->mode == M_GROUP && q->n_sort == 0) {
    if (q->n_keys == 0) return;
    sb_add(b, " ORDER BY ");
    for (int c = 0; c < q->n_keys; c++) sb_add(b, "%sc%d", c ? ", " : "", c);
    return;
  }
  sql_keys(b, q->sort, q->n_sort);
}

/* The SQL of q: without its limits (the test slices the rows), except
 * under a post-filter. */
static void sql_query(sbuf *b, const query *q) {
  if (q->mode == M_RAW) {
    sb_add(b, "SELECT ");
    for (int s = 0; s < q->n_src; s++)
      for (int f = 0; f < (q->derived[s] ? dwidth(q, s) : NF); f++) {
        sb_add(b, "%st%d.", s || f ? ", " : "", s);
        if (q->derived[s])
          sb_add(b, "c%d", f);
        else
          sb_add(b, "%s", fname[f]);
      }
    sql_from(b, q);
    sql_order(b, q);
    return;
  }
  if (q->mode == M_SELECT) {
    if (wrapped(q)) sb_add(b, "SELECT * FROM (");
    sb_add(b, "SELECT %s", q->distinct ? "DISTINCT " : "");
    for (int c = 0; c < q->n_sel; c++) {
      if (c) sb_add(b, ", ");
      sql_expr(b, q->sel[c], NULL);
      sb_add(b, " AS c%d", c);
    }
    sql_from(b, q);
    sql_order(b, q);
    if (wrapped(q)) {
      uint64_t off, lim;
      window(q, &off, &lim);
      sb_add(b, " LIMIT %lld OFFSET %llu)",
             lim == UINT64_MAX ? -1LL : (long long)lim,
             (unsigned long long)off);
      if (q->post) {
        sb_add(b, " WHERE ");
        sql_expr(b, q->post, NULL);
      }
      if (q->n_post_sort)
        sql_keys(b, q->post_sort, q->n_post_sort);
      else
        sql_order(b, q);
    }
    return;
  }
  sb_add(b, "SELECT * FROM (SELECT ");
  int c = 0;
  for (int i = 0; i < q->n_keys; i++, c++) {
    if (c) sb_add(b, ", ");
    sql_expr(b, q->keys[i], NULL);
    sb_add(b, " AS c%d", c);
  }
  for (int i = 0; i < q->n_agg; i++, c++) {
    if (c) sb_add(b, ", ");
    sb_add(b, "%s(", agg_sql[q->agg[i]]);
    if (q->agg_arg[i])
      sql_expr(b, q->agg_arg[i], NULL);
    else
      sb_add(b, "*");
    sb_add(b, ") AS c%d", c);
  }
  sql_from(b, q);
  if (q->n_keys) {
    sb_add(b, " GROUP BY ");
    for (int i = 0; i < q->n_keys; i++) {
      if (i) sb_add(b, ", ");
      sql_expr(b, q->keys[i], NULL);
    }
  }
  sb_add(b, ")");
  if (q->having) {
    sb_add(b, " WHERE ");
    sql_expr(b, q->having, NULL);
  }
  sql_order(b, q);
}

/* --- as a ProtoBase plan --- */

static pb_qval to_qval(cval v) {
  switch (v.t) {
  case PB_QNULL:
    return pb_qnull();
  case PB_QBOOL:
    return pb_qbool(v.i != 0);
  case PB_QINT:
    return pb_qint(v.i);
  case PB_QUINT:
    return pb_quint((uint64_t)v.i);
  case PB_QFLOAT:
    return pb_qfloat(v.f);
  default:
    return pb_qstr(cstr(v.s));
  }
}

/* Field i of source x->src of the row, if it has that source. */
static bool row_i(const pb_row *row, const qx *x, int64_t *i) {
  if ((size_t)x->rsrc >= row->n_recs) return false; /* never: checked */
  const void *rec = row->recs[x->rsrc];
  if (rec == NULL) return false;
  *i = x->tbl == TA   ? ((const qd_A *)rec)->i
       : x->tbl == TB ? ((const qd_B *)rec)->i
                      : ((const qd_C *)rec)->i;
  return true;
}

static int pred_even(const pb_row *row, void *ctx, bool *out) {
  int64_t i;
  *out = row_i(row, ctx, &i) && i % 2 == 0;
  return PB_OK;
}

static int fn_twice(const pb_row *row, void *ctx, pb_qval *out) {
  int64_t i;
  *out = row_i(row, ctx, &i) ? pb_qint(i * 2 + 1) : pb_qnull();
  return PB_OK;
}

/* The query whose joined rows pb_x's expressions read (its positions
 * numbered by layout()); NULL: one source alone, numbered 0. */
static const query *g_map;

static int map_src(int src) { return g_map ? g_map->pbsrc[src] : src; }

static pb_expr *pb_x(qx *x) {
  switch (x->k) {
  case X_FIELD:
    assert_true(map_src(x->src) >= 0);
    return pb_expr_field((unsigned)map_src(x->src), (uint32_t)x->fld + 1);
  case X_DCOL:
    assert_non_null(g_map);
    return pb_expr_col((unsigned)(g_map->colbase[x->src] + x->col));
  case X_COL:
    return pb_expr_col((unsigned)x->col);
  case X_CONST:
    return pb_expr_const(to_qval(x->v));
  case X_CMP:
    return pb_expr_cmp(x->op, pb_x(x->a), pb_x(x->b));
  case X_BETWEEN:
    return pb_expr_between(pb_x(x->a), pb_x(x->b), pb_x(x->c), x->flags);
  case X_AND:
    return pb_expr_and(pb_x(x->a), pb_x(x->b));
  case X_OR:
    return pb_expr_or(pb_x(x->a), pb_x(x->b));
  case X_NOT:
    return pb_expr_not(pb_x(x->a));
  case X_IN: {
    pb_qval vals[MAX_IN];
    for (int j = 0; j < x->n; j++) vals[j] = to_qval(x->vals[j]);
    return pb_expr_in(pb_x(x->a), vals, (size_t)x->n);
  }
  case X_PREFIX:
    return pb_expr_prefix(pb_x(x->a), to_qval(x->v));
  case X_ISNULL:
    return pb_expr_is_null(pb_x(x->a));
  case X_PRED:
    x->rsrc = map_src(x->src);
    return pb_expr_pred(pred_even, x);
  case X_FN:
    x->rsrc = map_src(x->src);
    return pb_expr_fn(PB_QINT, fn_twice, x);
  }
  return NULL;
}

/* The plan as it is built, for a failure's message. */
static void plan_desc(sbuf *b, const query *q, int x) {
  const char *pkg = x ? "qdx" : "qd";
  for (int j = 0; j < q->n_src; j++) {
    if (j == 0)
      sb_add(b, "From(%s.%s)", pkg, tname[q->tbl[0]]);
    else
      sb_add(b, "\n  Join %s with From(%s.%s)", jt_sql[q->jt[j]], pkg,
             tname[q->tbl[j]]);
    if (q->dict[j])
      sb_add(b, " (no: From(Dictionary D)): t%d.c0 key, c1 value here", j);
    else if (q->derived[j])
      sb_add(b, " GroupBy %s (count(*), sum(i)): t%d.c0 .. c2 here",
             fname[q->dkey[j]], j);
    if (q->ix[j] >= 0) {
      int alias[1] = {j};
      if (x) {
        sb_add(b, " as From(index #%d %s, lo", q->ix[j],
               defs[1][q->tbl[j]]->indexes[q->ix[j]].name);
        for (int k = 0; k < q->ix_nlo[j]; k++) {
          sb_add(b, " ");
          sql_val(b, q->ix_lo[j][k]);
        }
        sb_add(b, ", hi");
        for (int k = 0; k < q->ix_nhi[j]; k++) {
          sb_add(b, " ");
          sql_val(b, q->ix_hi[j][k]);
        }
        sb_add(b, ", flags %u)", q->ix_flags[j]);
      } else if (q->ixpred[j]) {
        sb_add(b, " Where[its index range] ");
        sql_expr(b, q->ixpred[j], alias);
      }
    }
    if (q->pre[j]) {
      int alias[1] = {j};
      sb_add(b, " Where[on its own; its source 0 is t%d here] ", j);
      sql_expr(b, q->pre[j], alias);
    }
    if (q->pre_limited[j]) {
      sb_add(b, " OrderBy ");
      if (q->pre_f[j] >= 0)
        sb_add(b, "%s%s, ", fname[q->pre_f[j]], q->pre_desc[j] ? " DESC" : "");
      sb_add(b, "id%s", q->pre_key_desc[j] ? " DESC" : "");
      if (q->pre_off[j])
        sb_add(b, " Offset %llu", (unsigned long long)q->pre_off[j]);
      if (q->pre_lim[j] != UINT64_MAX)
        sb_add(b, " Limit %llu", (unsigned long long)q->pre_lim[j]);
    }
    if (j == 0) continue;
    sb_add(b, " on ");
    if (q->on[j])
      sql_expr(b, q->on[j], NULL);
    else
      sb_add(b, "(none)");
    if (j == 1 && q->mid) {
      sb_add(b, "\n  Where ");
      sql_expr(b, q->mid, NULL);
    }
  }
  if (q->where) {
    sb_add(b, "\n  Where ");
    sql_expr(b, q->where, NULL);
  }
  if (q->mode == M_SELECT) {
    sb_add(b, "\n  Select ");
    for (int c = 0; c < q->n_sel; c++) {
      if (c) sb_add(b, ", ");
      sql_expr(b, q->sel[c], NULL);
    }
    if (q->distinct) sb_add(b, "\n  Distinct");
  } else if (q->mode == M_GROUP) {
    sb_add(b, "\n  GroupBy keys (");
    for (int c = 0; c < q->n_keys; c++) {
      if (c) sb_add(b, ", ");
      sql_expr(b, q->keys[c], NULL);
    }
    sb_add(b, ") aggs (");
    for (int i = 0; i < q->n_agg; i++) {
      if (i) sb_add(b, ", ");
      sb_add(b, "%s(", agg_sql[q->agg[i]]);
      if (q->agg_arg[i])
        sql_expr(b, q->agg_arg[i], NULL);
      else
        sb_add(b, "*");
      sb_add(b, ")");
    }
    sb_add(b, ")");
    if (q->having) {
      sb_add(b, "\n  Where (having) ");
      sql_expr(b, q->having, NULL);
    }
  }
  if (q->n_sort) {
    sb_add(b, "\n  OrderBy ");
    for (int k = 0; k < q->n_sort; k++) {
      if (k) sb_add(b, ", ");
      sql_expr(b, q->sort[k].e, NULL);
      if (q->sort[k].desc) sb_add(b, " DESC");
    }
  }
  for (int k = 0; k < q->n_lim; k++)
    sb_add(b, "\n  %s %llu", q->lim[k].is_limit ? "Limit" : "Offset",
           (unsigned long long)q->lim[k].n);
  if (q->post) {
    sb_add(b, "\n  Where ");
    sql_expr(b, q->post, NULL);
  }
  if (q->n_post_sort) {
    sb_add(b, "\n  OrderBy ");
    for (int k = 0; k < q->n_post_sort; k++) {
      if (k) sb_add(b, ", ");
      sql_expr(b, q->post_sort[k].e, NULL);
      if (q->post_sort[k].desc) sb_add(b, " DESC");
    }
  }
  sb_add(b, "\n");
}

/* Builds q over the tables of schema x (0: qd, 1: qdx).  Returns the
 * builder's error (and what failed in *what). */
static int build_plan(pb_txn *txn, const query *q, int x, pb_plan **out,
                      const char **what) {
  pb_plan *p = NULL;
  int rc;
  g_map = q;
  for (int j = 0; j < q->n_src; j++) {
    pb_plan *side = NULL;
    *what = "From";
    if (q->ix[j] >= 0 && x == 1) {
      pb_qval lo[2], hi[2];
      for (int k = 0; k < q->ix_nlo[j]; k++) lo[k] = to_qval(q->ix_lo[j][k]);
      for (int k = 0; k < q->ix_nhi[j]; k++) hi[k] = to_qval(q->ix_hi[j][k]);
      *what = "From (index)";
      rc = pb_plan_from_index(txn, defs[1][q->tbl[j]], (size_t)q->ix[j], lo,
                              (size_t)q->ix_nlo[j], hi, (size_t)q->ix_nhi[j],
                              q->ix_flags[j], &side);
    } else {
      if (q->dict[j]) {
        pb_dict *d = NULL;
        *what = "From (Dictionary D)";
        rc = pb_txn_open_dict(txn, "D", 0, &d);
        if (rc == PB_OK)
          rc = pb_plan_from_collection(txn, PB_VALUE_DICT, d, &side);
      } else {
        rc = pb_plan_from_table(txn, defs[x][q->tbl[j]], &side);
      }
      if (rc == PB_OK && q->ixpred[j] && x == 0) {
        *what = "Where (an index range)";
        g_map = NULL;
        rc = pb_plan_where(&side, pb_x(q->ixpred[j]));
        g_map = q;
      }
    }
    if (rc == PB_OK && q->derived[j] && !q->dict[j]) {
      pb_expr *key = pb_expr_field(0, (uint32_t)q->dkey[j] + 1);
      pb_agg aggs[2] = {{PB_AGG_COUNT_ALL, NULL},
                        {PB_AGG_SUM, pb_expr_field(0, F_I + 1)}};
      *what = "GroupBy (a join side)";
      rc = pb_plan_group_by(&side, &key, 1, aggs, 2);
    }
    if (rc != PB_OK) {
      pb_plan_free(side);
      goto fail;
    }
    if (j == 0) p = side;
    if (q->pre[j]) {
      *what = "Where (one source)";
      g_map = NULL;
      rc = pb_plan_where(&side, pb_x(q->pre[j]));
      g_map = q;
      if (rc != PB_OK) {
        if (j > 0) pb_plan_free(side);
        goto fail;
      }
      if (j == 0) p = side;
    }
    if (q->pre_limited[j]) {
      pb_sort_key keys[2];
      size_t n = 0;
      if (q->pre_f[j] >= 0) {
        keys[n].expr = pb_expr_field(0, (uint32_t)q->pre_f[j] + 1);
        keys[n++].dir = q->pre_desc[j] ? PB_DESC : PB_ASC;
      }
      keys[n].expr = pb_expr_field(0, F_ID + 1);
      keys[n++].dir = q->pre_key_desc[j] ? PB_DESC : PB_ASC;
      *what = "OrderBy, Offset, Limit (one source)";
      rc = pb_plan_order_by(&side, keys, n);
      if (rc == PB_OK && q->pre_off[j])
        rc = pb_plan_offset(&side, q->pre_off[j]);
      if (rc == PB_OK && q->pre_lim[j] != UINT64_MAX)
        rc = pb_plan_limit(&side, q->pre_lim[j]);
      if (j == 0) p = side;
      if (rc != PB_OK) {
        if (j > 0) pb_plan_free(side);
        goto fail;
      }
    }
    if (j > 0) {
      *what = "Join";
      if ((rc = pb_plan_join(&p, side, q->jt[j],
                             q->on[j] ? pb_x(q->on[j])
                                      : pb_expr_const(pb_qbool(true)))) !=
          PB_OK)
        goto fail;
    }
    if (j == 1 && q->mid) {
      *what = "Where (between the joins)";
      if ((rc = pb_plan_where(&p, pb_x(q->mid))) != PB_OK) goto fail;
    }
  }
  if (q->where) {
    *what = "Where";
    if ((rc = pb_plan_where(&p, pb_x(q->where))) != PB_OK) goto fail;
  }
  if (q->mode == M_SELECT) {
    pb_expr *ex[MAX_COLS];
    for (int c = 0; c < q->n_sel; c++) ex[c] = pb_x(q->sel[c]);
    *what = "Select";
    if ((rc = pb_plan_select(&p, ex, (size_t)q->n_sel)) != PB_OK) goto fail;
    if (q->distinct) {
      *what = "Distinct";
      if ((rc = pb_plan_distinct(&p)) != PB_OK) goto fail;
    }
  } else if (q->mode == M_GROUP) {
    pb_expr *keys[MAX_COLS];
    pb_agg aggs[MAX_AGG];
    for (int c = 0; c < q->n_keys; c++) keys[c] = pb_x(q->keys[c]);
    for (int i = 0; i < q->n_agg; i++) {
      aggs[i].fn = q->agg[i];
      aggs[i].arg = q->agg_arg[i] ? pb_x(q->agg_arg[i]) : NULL;
    }
    *what = "GroupBy";
    if ((rc = pb_plan_group_by(&p, keys, (size_t)q->n_keys, aggs,
                               (size_t)q->n_agg)) != PB_OK)
      goto fail;
    if (q->having) {
      *what = "Where (having)";
      if ((rc = pb_plan_where(&p, pb_x(q->having))) != PB_OK) goto fail;
    }
  }
  if (q->n_sort) {
    pb_sort_key keys[MAX_SORT];
    for (int k = 0; k < q->n_sort; k++) {
      keys[k].expr = pb_x(q->sort[k].e);
      keys[k].dir = q->sort[k].desc ? PB_DESC : PB_ASC;
    }
    *what = "OrderBy";
    if ((rc = pb_plan_order_by(&p, keys, (size_t)q->n_sort)) != PB_OK) {
      /* the builder frees the given expressions */
      goto fail;
    }
  }
  for (int k = 0; k < q->n_lim; k++) {
    *what = q->lim[k].is_limit ? "Limit" : "Offset";
    rc = q->lim[k].is_limit ? pb_plan_limit(&p, q->lim[k].n)
                            : pb_plan_offset(&p, q->lim[k].n);
    if (rc != PB_OK) goto fail;
  }
  if (q->post) {
    *what = "Where (after the limits)";
    if ((rc = pb_plan_where(&p, pb_x(q->post))) != PB_OK) goto fail;
  }
  if (q->n_post_sort) {
    pb_sort_key keys[MAX_SORT];
    for (int k = 0; k < q->n_post_sort; k++) {
      keys[k].expr = pb_x(q->post_sort[k].e);
      keys[k].dir = q->post_sort[k].desc ? PB_DESC : PB_ASC;
    }
    *what = "OrderBy (after the limits)";
    if ((rc = pb_plan_order_by(&p, keys, (size_t)q->n_post_sort)) != PB_OK)
      goto fail;
  }
  if (q->small_memory && (rc = pb_plan_set_memory(p, 4096)) != PB_OK) {
    *what = "pb_plan_set_memory";
    goto fail;
  }
  if (q->explain_first) {
    pb_buf ex;
    pb_buf_init(&ex);
    rc = pb_plan_explain(p, &ex);
    pb_buf_free(&ex);
    *what = "pb_plan_explain";
    if (rc != PB_OK) goto fail;
  }
  *out = p;
  return PB_OK;
fail:
  pb_plan_free(p);
  return rc;
}

/* ------------------------------------------------------------------------ */
/* Results                                                                  */

enum { C_NULL, C_INT, C_FLOAT, C_STR };
typedef struct cell {
  int t;
  int64_t i;
  double f;
  size_t off, len; /* C_STR: bytes in the result's string arena */
} cell;

typedef struct rset {
  size_t n_rows, n_cols;
  cell *cells;
  size_t cap;
  char *str;
  size_t str_len, str_cap;
  const char *err; /* a note about the shape of a row, if wrong */
} rset;

static void rs_reset(rset *s, size_t n_cols) {
  s->n_rows = 0;
  s->n_cols = n_cols;
  s->str_len = 0;
  s->err = NULL;
}
static void rs_free(rset *s) {
  free(s->cells);
  free(s->str);
  memset(s, 0, sizeof *s);
}
static cell *rs_row(rset *s) {
  if ((s->n_rows + 1) * s->n_cols > s->cap) {
    size_t cap = s->cap ? s->cap * 2 : 1024;
    while (cap < (s->n_rows + 1) * s->n_cols) cap *= 2;
    s->cells = realloc(s->cells, cap * sizeof *s->cells);
    assert_non_null(s->cells);
    s->cap = cap;
  }
  return &s->cells[s->n_rows++ * s->n_cols];
}
static cell c_str(rset *s, const void *p, size_t n) {
  if (s->str_len + n > s->str_cap) {
    size_t cap = s->str_cap ? s->str_cap * 2 : 4096;
    while (cap < s->str_len + n) cap *= 2;
    s->str = realloc(s->str, cap);
    assert_non_null(s->str);
    s->str_cap = cap;
  }
  if (n) memcpy(s->str + s->str_len, p, n);
  cell c = {C_STR, 0, 0, s->str_len, n};
  s->str_len += n;
  return c;
}
static cell c_int(int64_t i) { return (cell){C_INT, i, 0, 0, 0}; }
static cell c_null(void) { return (cell){C_NULL, 0, 0, 0, 0}; }

static cell c_qval(rset *s, const pb_qval *v) {
  switch (v->type) {
  case PB_QNULL:
    return c_null();
  case PB_QBOOL:
    return c_int(v->as.b);
  case PB_QINT:
    return c_int(v->as.i);
  case PB_QUINT:
    if (v->as.u > INT64_MAX) s->err = "a UINT above INT64_MAX";
    return c_int((int64_t)v->as.u);
  case PB_QFLOAT:
    return (cell){C_FLOAT, 0, v->as.f, 0, 0};
  default:
    return c_str(s, v->as.s.ptr, v->as.s.len);
  }
}

/* The nine fields of a source's record (NULLs for a NULL source). */
static void c_source(rset *s, cell *out, int t, const void *rec) {
  if (rec == NULL) {
    for (int f = 0; f < NF; f++) out[f] = c_null();
    return;
  }
  const qd_A *a = rec;
  const qd_B *b = rec;
  const qd_C *c = rec;
  switch (t) {
  case TA:
    out[F_ID] = c_int(a->id);
    out[F_I] = c_int(a->i);
    out[F_U] = c_int((int64_t)a->u);
    out[F_F] = (cell){C_FLOAT, 0, a->f, 0, 0};
    out[F_S] = c_str(s, a->s.ptr, a->s.len);
    out[F_B] = c_int(a->b);
    out[F_C] = c_int(a->c);
    out[F_O] = a->has_o ? c_int(a->o) : c_null();
    out[F_R] = c_int((int64_t)a->r);
    break;
  case TB:
    out[F_ID] = c_int((int64_t)b->id);
    out[F_I] = c_int(b->i);
    out[F_U] = c_int((int64_t)b->u);
    out[F_F] = (cell){C_FLOAT, 0, b->f, 0, 0};
    out[F_S] = c_str(s, b->s.ptr, b->s.len);
    out[F_B] = c_int(b->b);
    out[F_C] = c_int(b->c);
    out[F_O] = b->has_o ? c_int(b->o) : c_null();
    out[F_R] = c_str(s, b->r.ptr, b->r.len);
    break;
  default:
    out[F_ID] = c_str(s, c->id.ptr, c->id.len);
    out[F_I] = c_int(c->i);
    out[F_U] = c_int((int64_t)c->u);
    out[F_F] = (cell){C_FLOAT, 0, c->f, 0, 0};
    out[F_S] = c_str(s, c->s.ptr, c->s.len);
    out[F_B] = c_int(c->b);
    out[F_C] = c_int(c->c);
    out[F_O] = c->has_o ? c_int(c->o) : c_null();
    out[F_R] = c_int(c->r);
    break;
  }
}

static size_t out_cols(const query *q) {
  if (q->mode == M_RAW) return (size_t)q->raw_width;
  if (q->mode == M_SELECT) return (size_t)q->n_sel;
  return (size_t)(q->n_keys + q->n_agg);
}

/* Runs the plan into s.  Returns its error. */
static int run_plan(pb_plan *p, const query *q, rset *s) {
  rs_reset(s, out_cols(q));
  pb_row row;
  int rc;
  while ((rc = pb_plan_next(p, &row)) == PB_OK) {
    cell *c = rs_row(s);
    if (q->mode == M_RAW) {
      if (row.n_recs != (size_t)q->n_tables ||
          row.n_cols != (size_t)q->n_dcols) {
        s->err = "a row with other sources or columns than the plan's";
        return PB_OK;
      }
      for (int j = 0; j < q->n_src; j++) {
        if (q->derived[j]) {
          for (int k = 0; k < dwidth(q, j); k++)
            c[q->outoff[j] + k] = c_qval(s, &row.cols[q->colbase[j] + k]);
          continue;
        }
        if (row.ids == NULL || row.ids[q->pbsrc[j]] != 0)
          s->err = "a keyed source without an id of 0";
        c_source(s, c + q->outoff[j], q->tbl[j], row.recs[q->pbsrc[j]]);
      }
    } else {
      if (row.n_cols != s->n_cols || row.n_recs != 0) {
        s->err = "a row with other columns than the plan's, or sources";
        return PB_OK;
      }
      for (size_t k = 0; k < s->n_cols; k++) c[k] = c_qval(s, &row.cols[k]);
    }
  }
  if (rc == PB_ENOTFOUND && pb_plan_next(p, &row) != PB_ENOTFOUND)
    s->err = "pb_plan_next after the end is not PB_ENOTFOUND";
  return rc == PB_ENOTFOUND ? PB_OK : rc;
}

static int run_sql(const char *text, rset *s, size_t n_cols, const char **err) {
  static char msg[256]; /* SQLite's message outlives the statement here */
  rs_reset(s, n_cols);
  sqlite3_stmt *st = NULL;
  int rc = sqlite3_prepare_v2(g_sql, text, -1, &st, NULL);
  if (rc != SQLITE_OK) {
    snprintf(msg, sizeof msg, "%s", sqlite3_errmsg(g_sql));
    *err = msg;
    return rc;
  }
  if ((size_t)sqlite3_column_count(st) != n_cols) {
    *err = "column count";
    sqlite3_finalize(st);
    return SQLITE_ERROR;
  }
  while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
    cell *c = rs_row(s);
    for (size_t k = 0; k < n_cols; k++) {
      int i = (int)k;
      switch (sqlite3_column_type(st, i)) {
      case SQLITE_NULL:
        c[k] = c_null();
        break;
      case SQLITE_INTEGER:
        c[k] = c_int(sqlite3_column_int64(st, i));
        break;
      case SQLITE_FLOAT:
        c[k] = (cell){C_FLOAT, 0, sqlite3_column_double(st, i), 0, 0};
        break;
      default: {
        const void *t = sqlite3_column_text(st, i);
        c[k] = c_str(s, t, (size_t)sqlite3_column_bytes(st, i));
        break;
      }
      }
    }
  }
  if (rc != SQLITE_DONE) {
    snprintf(msg, sizeof msg, "%s", sqlite3_errmsg(g_sql));
    *err = msg;
  }
  sqlite3_finalize(st);
  return rc == SQLITE_DONE ? SQLITE_OK : rc;
}

static bool feq(double a, double b) {
  if (a == b) return true;
  double m = fabs(a) > fabs(b) ? fabs(a) : fabs(b);
  return fabs(a - b) <= 1e-9 * (m > 1 ? m : 1);
}

/* The output columns whose floats are equal within feq's tolerance: sums
 * and averages (added in another order); other floats compare exactly. */
static bool g_tol[64];

/* Order of cells (NULL, numbers, strings); tol: floats equal within the
 * tolerance. */
static int cell_cmp(const rset *sa, const cell *a, const rset *sb,
                    const cell *b, bool tol) {
  int ka = a->t == C_NULL ? 0 : a->t == C_STR ? 2 : 1;
  int kb = b->t == C_NULL ? 0 : b->t == C_STR ? 2 : 1;
  if (ka != kb) return ka < kb ? -1 : 1;
  if (ka == 0) return 0;
  if (ka == 2) {
    size_t n = a->len < b->len ? a->len : b->len;
    int c = n ? memcmp(sa->str + a->off, sb->str + b->off, n) : 0;
    if (c) return c;
    return a->len < b->len ? -1 : a->len > b->len ? 1 : 0;
  }
  if (a->t == C_INT && b->t == C_INT)
    return a->i < b->i ? -1 : a->i > b->i ? 1 : 0;
  double x = a->t == C_INT ? (double)a->i : a->f;
  double y = b->t == C_INT ? (double)b->i : b->f;
  if (tol ? feq(x, y) : x == y) return a->t == b->t ? 0 : a->t < b->t ? -1 : 1;
  return x < y ? -1 : 1;
}

static int row_cmp(const rset *sa, size_t ra, const rset *sb, size_t rb) {
  for (size_t k = 0; k < sa->n_cols; k++) {
    int c = cell_cmp(sa, &sa->cells[ra * sa->n_cols + k], sb,
                     &sb->cells[rb * sb->n_cols + k], k < 64 && g_tol[k]);
    if (c) return c;
  }
  return 0;
}

static const rset *sort_set;
static int idx_cmp(const void *a, const void *b) {
  size_t x = *(const size_t *)a, y = *(const size_t *)b;
  int c = row_cmp(sort_set, x, sort_set, y);
  return c ? c : x < y ? -1 : x > y;
}
static size_t *sorted_idx(const rset *s) {
  size_t *ix = malloc((s->n_rows + 1) * sizeof *ix);
  assert_non_null(ix);
  for (size_t i = 0; i < s->n_rows; i++) ix[i] = i;
  sort_set = s;
  qsort(ix, s->n_rows, sizeof *ix, idx_cmp);
  return ix;
}

static void print_row(sbuf *b, const rset *s, size_t r) {
  sb_add(b, "(");
  for (size_t k = 0; k < s->n_cols; k++) {
    const cell *c = &s->cells[r * s->n_cols + k];
    if (k) sb_add(b, ", ");
    switch (c->t) {
    case C_NULL:
      sb_add(b, "NULL");
      break;
    case C_INT:
      sb_add(b, "%lld", (long long)c->i);
      break;
    case C_FLOAT:
      sb_add(b, "%.17g", c->f);
      break;
    default:
      sb_add(b, "'%.*s'", (int)c->len, s->str + c->off);
      break;
    }
  }
  sb_add(b, ")");
}

/* Compares PB's rows (p) with SQL's (s, without the limits); writes the
 * first difference to why. */
static bool compare(const query *q, const rset *p, const rset *s, sbuf *why) {
  uint64_t off = 0, lim = UINT64_MAX;
  if (!wrapped(q)) window(q, &off, &lim);
  int n_sort;
  bool total;
  const sortkey *sort = final_sort(q, &n_sort, &total);
  size_t lo = off < s->n_rows ? (size_t)off : s->n_rows;
  size_t hi =
      lim == UINT64_MAX || s->n_rows - lo < lim ? s->n_rows : lo + (size_t)lim;
  bool windowed = lo != 0 || hi != s->n_rows;
  if (p->err) {
    sb_add(why, "ProtoBase: %s\n", p->err);
    return false;
  }
  if (p->n_rows != hi - lo) {
    sb_add(why, "ProtoBase gave %zu rows, SQLite %zu", p->n_rows, hi - lo);
    if (windowed) sb_add(why, " (of %zu before the limits)", s->n_rows);
    sb_add(why, "\n");
  }
  bool ok = p->n_rows == hi - lo;
  bool ordered = n_sort > 0 || (q->mode == M_GROUP && total);
  if (ok && total) { /* exact, in order */
    for (size_t r = 0; r < p->n_rows && ok; r++)
      if (row_cmp(p, r, s, lo + r) != 0) {
        sb_add(why, "row %zu: ProtoBase ", r);
        print_row(why, p, r);
        sb_add(why, " SQLite ");
        print_row(why, s, lo + r);
        sb_add(why, "\n");
        ok = false;
      }
    return ok;
  }
  if (ok && ordered) { /* the key columns in order */
    /* up to the first inexact key: the order after it is not known */
    int n_keys = 0;
    while (n_keys < n_sort && !sort[n_keys++].inexact) {
    }
    for (size_t r = 0; r < p->n_rows && ok; r++)
      for (int k = 0; k < n_keys && ok; k++) {
        size_t c = (size_t)sort[k].out;
        if (cell_cmp(p, &p->cells[r * p->n_cols + c], s,
                     &s->cells[(lo + r) * s->n_cols + c], g_tol[c]) != 0) {
          sb_add(why, "row %zu differs on sort key %d: ProtoBase ", r, k);
          print_row(why, p, r);
          sb_add(why, " SQLite ");
          print_row(why, s, lo + r);
          sb_add(why, "\n");
          ok = false;
        }
      }
  }
  /* As multisets: equal without limits, PB's among SQL's with them. */
  size_t *pi = sorted_idx(p), *si = sorted_idx(s);
  size_t j = 0;
  for (size_t r = 0; r < p->n_rows && ok; r++) {
    if (!windowed) {
      if (row_cmp(p, pi[r], s, si[r]) != 0) {
        sb_add(why, "as multisets, ProtoBase has ");
        print_row(why, p, pi[r]);
        sb_add(why, " where SQLite has ");
        print_row(why, s, si[r]);
        sb_add(why, "\n");
        ok = false;
      }
      continue;
    }
    while (j < s->n_rows && row_cmp(s, si[j], p, pi[r]) < 0) j++;
    if (j == s->n_rows || row_cmp(s, si[j], p, pi[r]) != 0) {
      sb_add(why, "ProtoBase's row ");
      print_row(why, p, pi[r]);
      sb_add(why, " is not among SQLite's (without the limits)\n");
      ok = false;
    }
    j++;
  }
  free(pi);
  free(si);
  return ok;
}

/* ------------------------------------------------------------------------ */
/* The driver                                                               */

/* What the optimizer made of the plans, read from pb_plan_explain. */
static const char *const path_names[] = {
    "IndexScan", "KeyScan",        "Union", "HashJoin",
    "IndexJoin", "NestedLoopJoin", "(heap)"};
#define N_PATHS (sizeof path_names / sizeof path_names[0])

typedef struct stats {
  long queries, plans, failures, rows_pb, rows_sql;
  long by_mode[3], joins[4], ordered, total, limited, posts, empty;
  long paths[N_PATHS], sorts_dropped, pre_limits, stable, external;
  long overflows;
} stats;
static stats g_st;

#define MAX_REPORTS 12

/* Whether a sum of q's groups overflows in SQLite without q's Having,
 * order and limits: SQLite moves a Having on the group keys before the
 * grouping, so it never sums the groups the Having excludes, where
 * ProtoBase sums every group first. */
static bool groups_overflow(const query *q) {
  if (q->mode != M_GROUP) return false;
  query g = *q;
  g.having = NULL;
  g.n_sort = 0;
  g.n_lim = 0;
  sbuf sql = {0};
  sql_query(&sql, &g);
  rset s = {0};
  const char *err = NULL;
  bool over = run_sql(sql.p, &s, out_cols(&g), &err) != SQLITE_OK &&
              strcmp(err, "integer overflow") == 0;
  rs_free(&s);
  free(sql.p);
  return over;
}

static void run_query(pb_txn *txn, long qno, const query *q) {
  sbuf sql = {0};
  sql_query(&sql, q);
  if (g_verbose || g_only >= 0) printf("query %ld: %s\n", qno, sql.p);
  rset s = {0}, p = {0};
  const char *serr = NULL;
  memset(g_tol, 0, sizeof g_tol);
  for (int i = 0; q->mode == M_GROUP && i < q->n_agg; i++)
    g_tol[q->n_keys + i] =
        q->agg[i] == PB_AGG_AVG ||
        (q->agg[i] == PB_AGG_SUM && q->agg_arg[i]->type == PB_QFLOAT);
  /* A sum beyond int64: SQLite's error, and PB_ERANGE from ProtoBase. */
  bool overflow = false;
  if (run_sql(sql.p, &s, out_cols(q), &serr) != SQLITE_OK &&
      strcmp(serr, "integer overflow") == 0) {
    overflow = true;
    g_st.overflows++;
    s.n_rows = 0;
  } else if (serr != NULL) {
    /* The generator makes only queries SQLite runs: a test bug. */
    print_error("seed %llu query %ld: SQLite refused: %s\n  %s\n",
                (unsigned long long)g_seed, qno, serr, sql.p);
    fail();
  }
  /* With limits, the groups past them may never be summed (SQLite sums a
   * group when it gives it, and so may ProtoBase): the query with its
   * limits in SQL, then (if it runs) in lim_s. */
  rset lim_s = {0};
  bool lim_ok = false;
  query ql = *q;
  ql.n_lim = 0;
  if (overflow && q->n_lim > 0 && !wrapped(q)) {
    uint64_t off, lim;
    window(q, &off, &lim);
    sbuf sql2 = {0};
    sb_add(&sql2, "%s LIMIT %lld OFFSET %llu", sql.p,
           lim == UINT64_MAX ? -1LL : (long long)lim, (unsigned long long)off);
    lim_ok = run_sql(sql2.p, &lim_s, out_cols(q), &serr) == SQLITE_OK;
    free(sql2.p);
  }
  /* The same with the key as the last sort key, for the stable order. */
  query qs;
  rset s2 = {0};
  if (q->stable) {
    qs = *q;
    qx *key = q->mode == M_RAW
                  ? xfield(0, F_ID, q->tbl[0])
                  : xcol(q->stable_col, q->sel[q->stable_col]->type);
    add_sort(&qs, key, q->stable_col, false);
    qs.total = true;
    sbuf sql2 = {0};
    sql_query(&sql2, &qs);
    if (run_sql(sql2.p, &s2, out_cols(q), &serr) != SQLITE_OK) {
      print_error("seed %llu query %ld: SQLite refused: %s\n  %s\n",
                  (unsigned long long)g_seed, qno, serr, sql2.p);
      fail();
    }
    free(sql2.p);
  }
  g_st.queries++;
  g_st.rows_sql += (long)s.n_rows;
  g_st.by_mode[q->mode]++;
  for (int j = 1; j < q->n_src; j++) g_st.joins[q->jt[j]]++;
  g_st.ordered += q->n_sort > 0;
  g_st.total += q->total;
  g_st.limited += q->n_lim > 0;
  g_st.posts += wrapped(q);
  for (int j = 0; j < q->n_src; j++) g_st.pre_limits += q->pre_limited[j];
  g_st.empty += s.n_rows == 0;
  for (int x = 0; x < 2; x++) {
    pb_plan *plan = NULL;
    const char *what = "";
    sbuf why = {0};
    bool ok;
    int rc = build_plan(txn, q, x, &plan, &what);
    if (rc != PB_OK) {
      sb_add(&why, "building the plan failed at %s: %s (%s)\n", what,
             pb_strerror(rc), pb_errdetail());
      ok = false;
    } else {
      rc = run_plan(plan, q, &p);
      if (overflow && lim_ok && rc == PB_OK) {
        /* the overflowing group was never given */
        if (q->total) {
          ok = compare(&ql, &p, &lim_s, &why);
        } else {
          ok = p.n_rows == lim_s.n_rows;
          if (!ok)
            sb_add(&why, "ProtoBase gave %zu rows, SQLite %zu (with limits)\n",
                   p.n_rows, lim_s.n_rows);
        }
      } else if (overflow && rc == PB_OK && q->n_lim > 0 && !wrapped(q)) {
        /* SQLite summed every group (it materialized them before the
         * limits), ProtoBase only those it gave: no more than the limits */
        uint64_t off, lim;
        window(q, &off, &lim);
        ok = p.n_rows <= lim;
        if (!ok) sb_add(&why, "more rows than the limit\n");
      } else if (overflow) {
        if (rc != PB_ERANGE) {
          sb_add(&why, "SQLite: integer overflow; ProtoBase: %s\n",
                 rc == PB_OK ? "no error" : pb_strerror(rc));
          ok = false;
        } else {
          ok = true;
        }
      } else if (rc == PB_ERANGE && groups_overflow(q)) {
        ok = true; /* SQLite skipped the groups its Having excluded */
      } else if (rc != PB_OK) {
        sb_add(&why, "pb_plan_next: %s (%s)\n", pb_strerror(rc),
               pb_errdetail());
        ok = false;
      } else {
        pb_buf ex;
        pb_buf_init(&ex);
        const char *e = "";
        if (pb_plan_explain(plan, &ex) == PB_OK &&
            (pb_buf_append(&ex, "", 1), pb_buf_error(&ex) == PB_OK)) {
          e = (const char *)ex.data;
          for (size_t k = 0; k < N_PATHS; k++)
            g_st.paths[k] += strstr(e, path_names[k]) != NULL;
          g_st.sorts_dropped += q->n_sort > 0 && !strstr(e, "OrderBy");
          g_st.external += strstr(e, "external") != NULL;
        }
        /* Without indexes, a table is read in key order unless a Union
         * of key ranges reads it. */
        if (x == 0 && q->stable && *e && !strstr(e, "Union")) {
          g_st.stable++;
          ok = compare(&qs, &p, &s2, &why);
        } else {
          ok = compare(q, &p, &s, &why);
        }
        g_st.rows_pb += (long)p.n_rows;
        pb_buf_free(&ex);
      }
    }
    g_st.plans++;
    if (!ok || g_only >= 0) {
      if (!ok) g_st.failures++;
      if (g_st.failures <= MAX_REPORTS || g_only >= 0) {
        sbuf d = {0};
        plan_desc(&d, q, x);
        pb_buf ex;
        pb_buf_init(&ex);
        if (plan) pb_plan_explain(plan, &ex);
        /* printf: cmocka's print_message cuts a message at 1 KiB */
        printf(
            "%s: seed %llu query %ld (PB_QDIFF_SEED=%llu PB_QDIFF_ONLY=%ld), "
            "%s indexes\nSQL: %s\nplan:\n  %s%sexplain:\n%.*s\n%s"
            "SQLite: %zu rows; ProtoBase: %zu rows\n",
            ok ? "OK" : "MISMATCH", (unsigned long long)g_seed, qno,
            (unsigned long long)g_seed, qno, x ? "with" : "without", sql.p, d.p,
            "", (int)ex.len, ex.data ? (const char *)ex.data : "",
            why.p ? why.p : "", s.n_rows, p.n_rows);
        if (g_only >= 0) {
          sbuf rws = {0};
          sb_add(&rws, "SQLite rows:\n");
          for (size_t r = 0; r < s.n_rows && r < 50; r++) {
            print_row(&rws, &s, r);
            sb_add(&rws, "\n");
          }
          sb_add(&rws, "ProtoBase rows:\n");
          for (size_t r = 0; r < p.n_rows && r < 50; r++) {
            print_row(&rws, &p, r);
            sb_add(&rws, "\n");
          }
          fputs(rws.p, stdout);
          free(rws.p);
        }
        pb_buf_free(&ex);
        free(d.p);
      }
    }
    pb_plan_free(plan);
    free(why.p);
  }
  rs_free(&s);
  rs_free(&s2);
  rs_free(&lim_s);
  rs_free(&p);
  free(sql.p);
}

static void run_queries(pb_txn *txn, int round, long *qno, long n) {
  for (long k = 0; k < n; k++, (*qno)++) {
    if (g_only >= 0 && *qno != g_only) continue;
    rng r = rseed(g_seed, 1000 + (uint64_t)round, (uint64_t)*qno);
    query q;
    gen_query(&r, &q);
    run_query(txn, *qno, &q);
  }
}

static long env_long(const char *name, long def) {
  const char *v = getenv(name);
  return v && *v ? strtol(v, NULL, 0) : def;
}

static void query_diff(void **state) {
  (void)state;
  time_t t0 = time(NULL);
  rng data = rseed(g_seed, 1, 0);
  keypools_init(&data);
  memset(a_u_used, 0, sizeof a_u_used);
  memset(n_rows, 0, sizeof n_rows);
  sql_open();
  assert_int_equal(pb_test_filedb_open(&g_db, PB_DURABILITY_SYNC), PB_OK);

  pb_txn *txn = NULL;
  assert_int_equal(pb_txn_begin(g_db.db, 0, &txn), PB_OK);
  for (int t = 0; t < NT; t++) {
    long n = t == TA ? g_rows : t == TB ? g_rows * 3 / 4 : g_rows / 2;
    for (long k = 0; k < n; k++) new_row(&data, txn, t);
  }
  memset(d_has, 0, sizeof d_has);
  for (size_t k = 0; k < N_DKEYS; k++)
    if (rp(&data, 50)) d_change(&data, txn, k);
  assert_int_equal(pb_txn_commit(txn), PB_OK);

  /* Rounds: queries in a read transaction, then changes, queries inside
   * the writing transaction every other round, a commit, the tables
   * checked.  Round 2 empties C (round 3 reads it empty; the changes of
   * round 3 insert into it again). */
  const int rounds = 6;
  long per = g_queries / rounds, qno = 0;
  for (int round = 0; round < rounds; round++) {
    long n = round == rounds - 1 ? g_queries - per * (rounds - 1) : per;
    long in_write = round % 2 ? n / 3 : 0;
    assert_int_equal(pb_txn_begin(g_db.db, PB_RDONLY, &txn), PB_OK);
    run_queries(txn, round, &qno, n - in_write);
    assert_int_equal(pb_txn_abort(txn), PB_OK);

    rng ch = rseed(g_seed, 2, (uint64_t)round);
    assert_int_equal(pb_txn_begin(g_db.db, 0, &txn), PB_OK);
    change_some(&ch, txn, (int)(g_rows / 2));
    if (round == 2) { /* C empty for a round: joins with, groups of none */
      for (size_t k = 0; k < n_rows[TC]; k++) {
        mrow *m = &rows[TC][k];
        if (!m->live) continue;
        pb_delete_row(txn, TC, m);
        sql_delete(TC, m);
        m->live = false;
      }
    }
    run_queries(txn, round, &qno, in_write);
    check_tables(txn);
    assert_int_equal(pb_txn_commit(txn), PB_OK);
  }
  assert_int_equal(pb_txn_begin(g_db.db, PB_RDONLY, &txn), PB_OK);
  check_tables(txn);
  assert_int_equal(pb_txn_abort(txn), PB_OK);

  sbuf paths = {0};
  for (size_t k = 0; k < N_PATHS; k++)
    sb_add(&paths, "%s %s %ld", k ? "," : "", path_names[k], g_st.paths[k]);
  printf("plans with:%s; OrderBy dropped in %ld, external sorts "
         "%ld; stable order checked in %ld; sums overflowing in %ld\n",
         paths.p, g_st.sorts_dropped, g_st.external, g_st.stable,
         g_st.overflows);
  free(paths.p);
  printf("seed %llu: %ld queries (%ld plans: without and with indexes) in "
         "%lds: %ld raw, %ld select, %ld group-by; joins %ld inner, %ld "
         "left, %ld right, %ld full; %ld ordered (%ld totally), %ld with "
         "limits, %ld filtered or sorted after them, %ld sources limited, %ld "
         "empty; rows: SQLite %ld, "
         "ProtoBase %ld; %ld failed\n",
         (unsigned long long)g_seed, g_st.queries, g_st.plans,
         (long)(time(NULL) - t0), g_st.by_mode[0], g_st.by_mode[1],
         g_st.by_mode[2], g_st.joins[0], g_st.joins[1], g_st.joins[2],
         g_st.joins[3], g_st.ordered, g_st.total, g_st.limited, g_st.posts,
         g_st.pre_limits, g_st.empty, g_st.rows_sql, g_st.rows_pb,
         g_st.failures);
  assert_int_equal(pb_test_filedb_close(&g_db), PB_OK);
  sqlite3_close(g_sql);
  g_sql = NULL;
  if (g_st.failures)
    print_error("%ld of %ld plans differ from SQLite (seed %llu)\n",
                g_st.failures, g_st.plans, (unsigned long long)g_seed);
  assert_int_equal(g_st.failures, 0);
}

int main(int argc, char **argv) {
  g_seed = (uint64_t)env_long("PB_QDIFF_SEED", 1);
  g_queries = env_long("PB_QDIFF_QUERIES", 5000);
  g_rows = env_long("PB_QDIFF_ROWS", 60);
  g_only = env_long("PB_QDIFF_ONLY", -1);
  g_verbose = env_long("PB_QDIFF_VERBOSE", 0) != 0;
  for (int i = 1; i < argc; i++) {
    if (strncmp(argv[i], "--seed=", 7) == 0)
      g_seed = strtoull(argv[i] + 7, NULL, 0);
    else if (strncmp(argv[i], "--queries=", 10) == 0)
      g_queries = strtol(argv[i] + 10, NULL, 0);
    else if (strncmp(argv[i], "--rows=", 7) == 0)
      g_rows = strtol(argv[i] + 7, NULL, 0);
    else {
      fprintf(stderr, "usage: %s [--seed=N] [--queries=N] [--rows=N]\n",
              argv[0]);
      return 2;
    }
  }
  if (g_rows < 4 || g_rows > 300 || g_queries < 6) {
    fprintf(stderr, "--rows must be 4..300 and --queries at least 6\n");
    return 2;
  }
  const struct CMUnitTest tests[] = {cmocka_unit_test(query_diff)};
  return cmocka_run_group_tests(tests, NULL, NULL);
}
