/*
 * test_tables_gen.c - the typed tables that pbc generates
 * (tests/unit/schema/tables_gen.pbs), used as an application uses them, on
 * the file tier with the defaults (PB_DURABILITY_SYNC): every generated
 * function once, each error it documents (PB_EEXIST, PB_ENOTFOUND,
 * PB_ERANGE, PB_EINVAL for NULLs, bad flags and bad UTF-8), and the order
 * of every kind of key: negative integers before positive ones, floats
 * (-inf .. NaN), strings and bytes with embedded 0 bytes, enum values by
 * number, optional fields absent first.  pb_table_check runs after the
 * changes.  The compile-time type checks are tests/compile_fail/.
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

#include "protobase/protobase.h"
#include "protobase/table.h"
#include "support/filedb.h"
#include "tables_gen.pb.h"

#define S(lit) ((pb_str){(lit), sizeof(lit) - 1})
#define B(lit) ((pb_bytes){(const uint8_t *)(lit), sizeof(lit) - 1})

static pb_test_filedb db;

static int setup(void **state) {
  (void)state;
  return pb_test_filedb_open(&db, PB_DURABILITY_SYNC) == PB_OK ? 0 : -1;
}

static int teardown(void **state) {
  (void)state;
  return pb_test_filedb_close(&db) == PB_OK ? 0 : -1;
}

static pb_txn *begin(void) {
  pb_txn *txn = NULL;
  assert_int_equal(pb_txn_begin(db.db, 0, &txn), PB_OK);
  return txn;
}

static pb_txn *begin_ro(void) {
  pb_txn *txn = NULL;
  assert_int_equal(pb_txn_begin(db.db, PB_RDONLY, &txn), PB_OK);
  return txn;
}

static bool str_eq(pb_str a, pb_str b) {
  return a.len == b.len && (a.len == 0 || memcmp(a.ptr, b.ptr, a.len) == 0);
}

static tt_Person person(uint64_t id, const char *email, const char *name) {
  tt_Person p;
  tt_Person_init(&p);
  p.id = id;
  p.email = pb_str_from_cstr(email);
  p.name = pb_str_from_cstr(name);
  return p;
}

/* The ids of the Persons a cursor gives, then closes it. */
static size_t person_ids(tt_Person_cursor *cur, uint64_t *ids, size_t cap) {
  size_t n = 0;
  tt_Person p;
  int rc;
  while ((rc = tt_Person_next(cur, &p)) == PB_OK) {
    assert_true(n < cap);
    ids[n++] = p.id;
  }
  assert_int_equal(rc, PB_ENOTFOUND);
  assert_int_equal(tt_Person_next(cur, &p), PB_ENOTFOUND); /* stays at end */
  tt_Person_cursor_close(cur);
  return n;
}

static void expect_ids(tt_Person_cursor *cur, const uint64_t *want, size_t n) {
  uint64_t got[64];
  size_t m = person_ids(cur, got, 64);
  assert_int_equal(m, n);
  for (size_t i = 0; i < n; i++)
    assert_true(got[i] == want[i]);
}

/* --- Keyed rows: insert, upsert, update, get, delete, count, scan. --- */

static void keyed_rows(void **state) {
  (void)state;
  pb_txn *txn = begin();
  tt_Person a = person(7, "a@x", "Ann"), b = person(3, "b@x", "Bob");
  assert_int_equal(tt_Person_insert(txn, &a), PB_OK);
  assert_int_equal(tt_Person_insert(txn, &b), PB_OK);
  /* A duplicate key, and a duplicate [unique] email: nothing changes. */
  tt_Person dup = person(7, "other@x", "Dup");
  assert_int_equal(tt_Person_insert(txn, &dup), PB_EEXIST);
  dup = person(8, "a@x", "Dup");
  assert_int_equal(tt_Person_insert(txn, &dup), PB_EEXIST);
  assert_int_equal(tt_Person_upsert(txn, &dup), PB_EEXIST);
  uint64_t n = 0;
  assert_int_equal(tt_Person_count(txn, &n), PB_OK);
  assert_true(n == 2);
  assert_int_equal(pb_txn_commit(txn), PB_OK);

  txn = begin();
  tt_Person p;
  assert_int_equal(tt_Person_get(txn, 7, &p), PB_OK);
  assert_true(str_eq(p.email, S("a@x")) && str_eq(p.name, S("Ann")));
  assert_int_equal(tt_Person_get(txn, 8, &p), PB_ENOTFOUND);
  /* update: the row must exist; the unique index follows the change. */
  tt_Person a2 = person(7, "ann@x", "Ann2");
  assert_int_equal(tt_Person_update(txn, &a2), PB_OK);
  tt_Person ghost = person(99, "g@x", "Ghost");
  assert_int_equal(tt_Person_update(txn, &ghost), PB_ENOTFOUND);
  tt_Person_cursor *cur;
  assert_int_equal(tt_Person_find_by_email(txn, S("a@x"), &cur), PB_OK);
  expect_ids(cur, NULL, 0);
  assert_int_equal(tt_Person_find_by_email(txn, S("ann@x"), &cur), PB_OK);
  expect_ids(cur, (uint64_t[]){7}, 1);
  /* The old email is free again; upsert inserts, then replaces. */
  dup = person(8, "a@x", "Dup");
  assert_int_equal(tt_Person_upsert(txn, &dup), PB_OK);
  dup.name = S("Dup2");
  assert_int_equal(tt_Person_upsert(txn, &dup), PB_OK);
  assert_int_equal(tt_Person_get(txn, 8, &p), PB_OK);
  assert_true(str_eq(p.name, S("Dup2")));
  /* Another row's email through update: PB_EEXIST, and no change. */
  tt_Person clash = person(3, "ann@x", "Bob");
  assert_int_equal(tt_Person_update(txn, &clash), PB_EEXIST);
  assert_int_equal(tt_Person_get(txn, 3, &p), PB_OK);
  assert_true(str_eq(p.email, S("b@x")));
  /* delete */
  assert_int_equal(tt_Person_delete(txn, 8), PB_OK);
  assert_int_equal(tt_Person_delete(txn, 8), PB_ENOTFOUND);
  assert_int_equal(tt_Person_get(txn, 8, &p), PB_ENOTFOUND);
  assert_int_equal(tt_Person_count(txn, &n), PB_OK);
  assert_true(n == 2);
  /* scan in key order, and its bounds and flags */
  for (uint64_t id = 10; id < 15; id++) {
    char email[16];
    snprintf(email, sizeof email, "e%u@x", (unsigned)id);
    tt_Person q = person(id, email, "Q");
    assert_int_equal(tt_Person_insert(txn, &q), PB_OK);
  }
  assert_int_equal(tt_Person_scan(txn, NULL, NULL, 0, &cur), PB_OK);
  expect_ids(cur, (uint64_t[]){3, 7, 10, 11, 12, 13, 14}, 7);
  uint64_t lo = 7, hi = 12;
  assert_int_equal(tt_Person_scan(txn, &lo, &hi, 0, &cur), PB_OK);
  expect_ids(cur, (uint64_t[]){7, 10, 11}, 3);
  assert_int_equal(tt_Person_scan(txn, &lo, &hi,
                                  PB_SCAN_LO_EXCL | PB_SCAN_HI_INCL, &cur),
                   PB_OK);
  expect_ids(cur, (uint64_t[]){10, 11, 12}, 3);
  assert_int_equal(tt_Person_scan(txn, &lo, NULL, PB_SCAN_REVERSE, &cur),
                   PB_OK);
  expect_ids(cur, (uint64_t[]){14, 13, 12, 11, 10, 7}, 6);
  /* Flags a generated scan does not take. */
  cur = (tt_Person_cursor *)&n; /* set to NULL on every error */
  assert_int_equal(tt_Person_scan(txn, NULL, NULL, PB_SCAN_PREFIX, &cur),
                   PB_EINVAL);
  assert_null(cur);
  assert_int_equal(tt_Person_range_by_age(txn, NULL, NULL, 0x100, &cur),
                   PB_EINVAL);
  assert_null(cur);
  assert_int_equal(pb_table_check(txn, &tt_Person_table), PB_OK);
  assert_int_equal(pb_txn_commit(txn), PB_OK);

  /* Committed: a read-only transaction sees it, and cannot change it. */
  txn = begin_ro();
  assert_int_equal(tt_Person_get(txn, 7, &p), PB_OK);
  assert_true(str_eq(p.name, S("Ann2")));
  assert_int_equal(tt_Person_insert(txn, &ghost), PB_ERDONLY);
  assert_int_equal(tt_Person_count(txn, &n), PB_OK);
  assert_true(n == 7);
  assert_int_equal(pb_txn_abort(txn), PB_OK);
}

/* --- The members of P_R_table, and an invalid string key. --- */

static void table_def_and_bad_strings(void **state) {
  (void)state;
  assert_int_equal(tt_Person_table.n_members, 1);
  assert_int_equal(tt_Person_table.members[0], 11);
  assert_int_equal(tt_Person_table.n_indexes, 5);
  assert_string_equal(tt_Person_table.indexes[0].name, "email");
  assert_int_equal(tt_Person_table.indexes[0].flags, PB_INDEX_UNIQUE);
  assert_int_equal(tt_Person_table.indexes[1].flags, 0);
  assert_int_equal(tt_Person_table.indexes[2].n_tags, 3);
  assert_true(tt_Person_table.key != NULL);
  assert_true(tt_Sample_table.key == NULL);
  assert_true(tt_Person_table.size == sizeof(tt_Person));
  assert_ptr_equal(tt_Person_table.type, &tt_Person_type);

  pb_txn *txn = begin();
  static const char bad[] = {'a', (char)0xff, 'b'};
  pb_str s = {bad, sizeof bad};
  tt_KStr r;
  assert_int_equal(tt_KStr_get(txn, s, &r), PB_EINVAL);
  assert_int_equal(tt_KStr_delete(txn, s), PB_EINVAL);
  tt_KStr_cursor *cur = NULL;
  assert_int_equal(tt_KStr_scan(txn, &s, NULL, 0, &cur), PB_EINVAL);
  assert_null(cur);
  tt_Person_cursor *pc = NULL;
  assert_int_equal(tt_Person_find_by_email(txn, s, &pc), PB_EINVAL);
  assert_null(pc);
  r.k = s;
  assert_int_equal(tt_KStr_insert(txn, &r), PB_EINVAL);
  assert_int_equal(pb_txn_commit(txn), PB_OK); /* nothing latched */
}

/* --- NULL arguments: PB_EINVAL, nothing touched. --- */

static void null_arguments(void **state) {
  (void)state;
  pb_txn *txn = begin();
  tt_Person p = person(1, "n@x", "N");
  tt_Person_cursor *cur = NULL;
  uint64_t n, id;
  tt_Sample s;
  tt_Sample_init(&s);
  tt_Tag tag;
  tt_Sample_cursor *sc = NULL;
  /* Parenthesized names call the functions, not the type-check macros
   * (which refuse a NULL record at compile time). */
  assert_int_equal((tt_Person_insert)(NULL, &p), PB_EINVAL);
  assert_int_equal((tt_Person_insert)(txn, NULL), PB_EINVAL);
  assert_int_equal((tt_Person_upsert)(NULL, &p), PB_EINVAL);
  assert_int_equal((tt_Person_upsert)(txn, NULL), PB_EINVAL);
  assert_int_equal((tt_Person_update)(NULL, &p), PB_EINVAL);
  assert_int_equal((tt_Person_update)(txn, NULL), PB_EINVAL);
  assert_int_equal((tt_Person_get)(NULL, 1, &p), PB_EINVAL);
  assert_int_equal((tt_Person_get)(txn, 1, NULL), PB_EINVAL);
  assert_int_equal((tt_Person_delete)(NULL, 1), PB_EINVAL);
  assert_int_equal((tt_Person_count)(NULL, &n), PB_EINVAL);
  assert_int_equal((tt_Person_count)(txn, NULL), PB_EINVAL);
  assert_int_equal((tt_Person_scan)(NULL, NULL, NULL, 0, &cur), PB_EINVAL);
  assert_int_equal((tt_Person_scan)(txn, NULL, NULL, 0, NULL), PB_EINVAL);
  assert_int_equal((tt_Person_next)(NULL, &p), PB_EINVAL);
  (tt_Person_cursor_close)(NULL);
  tt_Person_cursor_close(NULL);
  assert_int_equal((tt_Person_find_by_email)(NULL, S("x"), &cur), PB_EINVAL);
  assert_int_equal((tt_Person_find_by_email)(txn, S("x"), NULL), PB_EINVAL);
  assert_int_equal((tt_Person_range_by_email)(NULL, NULL, NULL, 0, &cur),
                   PB_EINVAL);
  assert_int_equal((tt_Person_range_by_email)(txn, NULL, NULL, 0, NULL),
                   PB_EINVAL);
  assert_int_equal((tt_Person_find_by_age)(NULL, NULL, &cur), PB_EINVAL);
  assert_int_equal((tt_Person_find_by_age)(txn, NULL, NULL), PB_EINVAL);
  assert_int_equal((tt_Person_range_by_age)(NULL, NULL, NULL, 0, &cur),
                   PB_EINVAL);
  assert_int_equal(
      (tt_Person_find_by_level_score)(NULL, tt_Level_MID, 0, S(""), &cur),
      PB_EINVAL);
  assert_int_equal(
      (tt_Person_find_by_level_score_upto_score)(txn, tt_Level_MID, 0, NULL),
      PB_EINVAL);
  assert_int_equal(
      (tt_Person_find_by_level_score_upto_level)(NULL, tt_Level_MID, &cur),
      PB_EINVAL);
  assert_int_equal((tt_Person_range_by_level_score)(txn, NULL, NULL, 0, NULL),
                   PB_EINVAL);
  assert_int_equal((tt_Person_find_by_tag)(NULL, S("t"), &cur), PB_EINVAL);
  assert_int_equal((tt_Person_range_by_tag)(NULL, NULL, NULL, 0, &cur),
                   PB_EINVAL);
  assert_int_equal((tt_Person_find_by_boss_age)(NULL, NULL, NULL, &cur),
                   PB_EINVAL);
  assert_int_equal((tt_Person_find_by_boss_age_upto_boss)(txn, NULL, NULL),
                   PB_EINVAL);
  assert_int_equal((tt_Person_range_by_boss_age)(NULL, NULL, NULL, 0, &cur),
                   PB_EINVAL);
  assert_int_equal((tt_Person_tag_get)(NULL, &p, &tag), PB_EINVAL);
  assert_int_equal((tt_Person_tag_get)(txn, NULL, &tag), PB_EINVAL);
  assert_int_equal((tt_Person_tag_get)(txn, &p, NULL), PB_EINVAL);
  assert_int_equal((tt_Person_sample_get)(txn, &p, NULL), PB_EINVAL);
  assert_int_equal((tt_Person_friends_get)(txn, NULL, 0, &p), PB_EINVAL);
  assert_int_equal((tt_Person_boss_get)(NULL, &p, &p), PB_EINVAL);
  /* Keyless */
  assert_int_equal((tt_Sample_insert)(NULL, &s, &id), PB_EINVAL);
  assert_int_equal((tt_Sample_insert)(txn, NULL, &id), PB_EINVAL);
  assert_int_equal((tt_Sample_insert)(txn, &s, NULL), PB_EINVAL);
  assert_int_equal((tt_Sample_update)(NULL, 1, &s), PB_EINVAL);
  assert_int_equal((tt_Sample_update)(txn, 1, NULL), PB_EINVAL);
  assert_int_equal((tt_Sample_get)(txn, 1, NULL), PB_EINVAL);
  assert_int_equal((tt_Sample_delete)(NULL, 1), PB_EINVAL);
  assert_int_equal((tt_Sample_count)(txn, NULL), PB_EINVAL);
  assert_int_equal((tt_Sample_scan)(txn, NULL, NULL, 0, NULL), PB_EINVAL);
  assert_int_equal((tt_Sample_next)(NULL, &s, &id), PB_EINVAL);
  assert_int_equal((tt_Sample_find_by_x)(NULL, 1.0, &sc), PB_EINVAL);
  assert_int_equal((tt_Sample_range_by_y)(txn, NULL, NULL, 0, NULL),
                   PB_EINVAL);
  /* A cursor given a NULL record. */
  assert_int_equal(tt_Person_scan(txn, NULL, NULL, 0, &cur), PB_OK);
  assert_int_equal((tt_Person_next)(cur, NULL), PB_EINVAL);
  tt_Person_cursor_close(cur);
  assert_int_equal(tt_Sample_scan(txn, NULL, NULL, 0, &sc), PB_OK);
  assert_int_equal((tt_Sample_next)(sc, NULL, &id), PB_EINVAL);
  tt_Sample_cursor_close(sc);
  /* Nothing was written, nothing latched. */
  assert_int_equal(tt_Person_count(txn, &n), PB_OK);
  assert_int_equal(pb_txn_commit(txn), PB_OK);
}

/* --- Key order of each kind. --- */

/* Inserts the keys of `order` in a scrambled order, then checks that a
 * scan gives them in `order`, and the reverse scan in reverse. */
#define CHECK_ORDER(R, T, order)                                             \
  do {                                                                       \
    size_t cnt = sizeof(order) / sizeof(order)[0];                           \
    pb_txn *txn = begin();                                                   \
    for (size_t j = 0; j < cnt; j++) {                                       \
      R rec;                                                                 \
      R##_init(&rec);                                                        \
      rec.k = (order)[(j * 11 + 3) % cnt];                                   \
      assert_int_equal(R##_insert(txn, &rec), PB_OK);                        \
    }                                                                        \
    assert_int_equal(pb_txn_commit(txn), PB_OK);                             \
    txn = begin_ro();                                                        \
    R##_cursor *cur;                                                         \
    R rec;                                                                   \
    assert_int_equal(R##_scan(txn, NULL, NULL, 0, &cur), PB_OK);             \
    for (size_t j = 0; j < cnt; j++) {                                       \
      assert_int_equal(R##_next(cur, &rec), PB_OK);                          \
      assert_true(EQ(T, rec.k, (order)[j]));                                 \
    }                                                                        \
    assert_int_equal(R##_next(cur, &rec), PB_ENOTFOUND);                     \
    R##_cursor_close(cur);                                                   \
    assert_int_equal(R##_scan(txn, NULL, NULL, PB_SCAN_REVERSE, &cur),       \
                     PB_OK);                                                 \
    for (size_t j = cnt; j-- > 0;) {                                         \
      assert_int_equal(R##_next(cur, &rec), PB_OK);                          \
      assert_true(EQ(T, rec.k, (order)[j]));                                 \
    }                                                                        \
    assert_int_equal(R##_next(cur, &rec), PB_ENOTFOUND);                     \
    R##_cursor_close(cur);                                                   \
    for (size_t j = 0; j < cnt; j++) {                                       \
      assert_int_equal(R##_get(txn, (order)[j], &rec), PB_OK);               \
      assert_true(EQ(T, rec.k, (order)[j]));                                 \
    }                                                                        \
    assert_int_equal(pb_table_check(txn, &R##_table), PB_OK);                \
    assert_int_equal(pb_txn_abort(txn), PB_OK);                              \
  } while (0)

#define EQ(T, a, b) EQ_##T(a, b)
#define EQ_num(a, b) ((a) == (b))
#define EQ_str(a, b) str_eq((a), (b))
#define EQ_bytes(a, b)                                                       \
  ((a).len == (b).len && ((a).len == 0 || !memcmp((a).ptr, (b).ptr, (a).len)))

static void key_orders(void **state) {
  (void)state;
  static const bool kb[] = {false, true};
  static const int8_t k8[] = {INT8_MIN, -2, -1, 0, 1, 2, INT8_MAX};
  static const int16_t k16[] = {INT16_MIN, -300, -1, 0, 1, 300, INT16_MAX};
  static const int32_t k32[] = {INT32_MIN, -70000, -1, 0, 1, 70000, INT32_MAX};
  static const int64_t k64[] = {INT64_MIN, -(INT64_C(1) << 40), -256, -1, 0,
                                1, 255, 256, INT64_C(1) << 40, INT64_MAX};
  static const uint8_t u8[] = {0, 1, 127, 128, 255};
  static const uint16_t u16[] = {0, 1, 255, 256, 65535};
  static const uint32_t u32[] = {0, 1, 65536, 0x80000000u, UINT32_MAX};
  static const uint64_t u64[] = {0, 1, 256, UINT64_C(1) << 63, UINT64_MAX};
  /* Embedded 0 bytes: "a" < "a\0" < "a\0\0" < "a\0b" < "a\1" < "ab". */
  static const pb_str ks[] = {{"", 0},       {"a", 1},   {"a\0", 2},
                              {"a\0\0", 3},  {"a\0b", 3}, {"a\1", 2},
                              {"ab", 2},     {"\xc3\xa9", 2}};
  static const pb_bytes kbytes[] = {
      {(const uint8_t *)"", 0},         {(const uint8_t *)"\0", 1},
      {(const uint8_t *)"\0\0", 2},     {(const uint8_t *)"\0\xff", 2},
      {(const uint8_t *)"\1", 1},       {(const uint8_t *)"\xff", 1},
      {(const uint8_t *)"\xff\0", 2}};
  static const tt_Level kl[] = {tt_Level_LOW, tt_Level_MID, tt_Level_HIGH};
  CHECK_ORDER(tt_KBool, num, kb);
  CHECK_ORDER(tt_KI8, num, k8);
  CHECK_ORDER(tt_KI16, num, k16);
  CHECK_ORDER(tt_KI32, num, k32);
  CHECK_ORDER(tt_KI64, num, k64);
  CHECK_ORDER(tt_KU8, num, u8);
  CHECK_ORDER(tt_KU16, num, u16);
  CHECK_ORDER(tt_KU32, num, u32);
  CHECK_ORDER(tt_KU64, num, u64);
  CHECK_ORDER(tt_KStr, str, ks);
  CHECK_ORDER(tt_KBytes, bytes, kbytes);
  CHECK_ORDER(tt_KLevel, num, kl);

  /* Bounds by value for a signed and a string key. */
  pb_txn *txn = begin_ro();
  tt_KI64_cursor *c64;
  tt_KI64 r64;
  int64_t lo = -256, hi = 1;
  assert_int_equal(tt_KI64_scan(txn, &lo, &hi, 0, &c64), PB_OK);
  int64_t want[] = {-256, -1, 0};
  for (size_t i = 0; i < 3; i++) {
    assert_int_equal(tt_KI64_next(c64, &r64), PB_OK);
    assert_true(r64.k == want[i]);
  }
  assert_int_equal(tt_KI64_next(c64, &r64), PB_ENOTFOUND);
  tt_KI64_cursor_close(c64);
  tt_KStr_cursor *cs;
  tt_KStr rs;
  pb_str slo = {"a\0", 2}, shi = {"a\1", 2};
  assert_int_equal(tt_KStr_scan(txn, &slo, &shi, PB_SCAN_LO_EXCL, &cs),
                   PB_OK);
  assert_int_equal(tt_KStr_next(cs, &rs), PB_OK);
  assert_true(str_eq(rs.k, ks[3]));
  assert_int_equal(tt_KStr_next(cs, &rs), PB_OK);
  assert_true(str_eq(rs.k, ks[4]));
  assert_int_equal(tt_KStr_next(cs, &rs), PB_ENOTFOUND);
  tt_KStr_cursor_close(cs);
  /* get of a string with an embedded 0 finds exactly it. */
  assert_int_equal(tt_KStr_get(txn, ks[2], &rs), PB_OK);
  assert_true(str_eq(rs.k, ks[2]));
  /* A compound literal has a comma: parenthesized for the macro. */
  assert_int_equal(tt_KStr_get(txn, ((pb_str){"a\0\1", 3}), &rs),
                   PB_ENOTFOUND);
  assert_int_equal(pb_txn_abort(txn), PB_OK);
}

/* --- Keyless: ids, update by id, floats in indexes. --- */

static void keyless_and_floats(void **state) {
  (void)state;
  static const double xs[] = {-INFINITY, -1e300, -1.5, -0.0, 1e-300,
                              2.0,       INFINITY, NAN};
  static const float ys[] = {-INFINITY, -2.5f, 0.0f, 1e-30f, 3.0f, INFINITY};
  size_t nx = sizeof xs / sizeof *xs, ny = sizeof ys / sizeof *ys;
  pb_txn *txn = begin();
  uint64_t ids[8];
  for (size_t j = 0; j < nx; j++) {
    tt_Sample s;
    tt_Sample_init(&s);
    s.x = xs[(j * 3 + 1) % nx]; /* scrambled */
    s.y = ys[j % ny];
    s.n = (int32_t)j;
    assert_int_equal(tt_Sample_insert(txn, &s, &ids[j]), PB_OK);
    assert_true(ids[j] == j + 1); /* 1, 2, 3, ... */
  }
  assert_int_equal(pb_txn_commit(txn), PB_OK);

  txn = begin();
  tt_Sample s;
  uint64_t id;
  assert_int_equal(tt_Sample_get(txn, 3, &s), PB_OK);
  assert_int_equal(s.n, 2);
  assert_int_equal(tt_Sample_get(txn, 99, &s), PB_ENOTFOUND);
  s.n = 42;
  assert_int_equal(tt_Sample_update(txn, 3, &s), PB_OK);
  assert_int_equal(tt_Sample_update(txn, 99, &s), PB_ENOTFOUND);
  assert_int_equal(tt_Sample_get(txn, 3, &s), PB_OK);
  assert_int_equal(s.n, 42);
  /* scan by id with bounds, and next's id */
  tt_Sample_cursor *cur;
  uint64_t lo = 2, hi = 4;
  assert_int_equal(tt_Sample_scan(txn, &lo, &hi, PB_SCAN_HI_INCL, &cur),
                   PB_OK);
  for (uint64_t want = 2; want <= 4; want++) {
    assert_int_equal(tt_Sample_next(cur, &s, &id), PB_OK);
    assert_true(id == want);
  }
  assert_int_equal(tt_Sample_next(cur, &s, NULL), PB_ENOTFOUND);
  tt_Sample_cursor_close(cur);
  /* The x index orders floats: -inf < ... < -0.0 == 0.0 < ... < inf < NaN */
  assert_int_equal(tt_Sample_range_by_x(txn, NULL, NULL, 0, &cur), PB_OK);
  for (size_t j = 0; j < nx; j++) {
    assert_int_equal(tt_Sample_next(cur, &s, &id), PB_OK);
    if (isnan(xs[j]))
      assert_true(isnan(s.x));
    else
      assert_true(s.x == xs[j]);
  }
  assert_int_equal(tt_Sample_next(cur, &s, &id), PB_ENOTFOUND);
  tt_Sample_cursor_close(cur);
  /* find: +0.0 finds the row stored as -0.0 (one key for both zeros). */
  assert_int_equal(tt_Sample_find_by_x(txn, 0.0, &cur), PB_OK);
  assert_int_equal(tt_Sample_next(cur, &s, &id), PB_OK);
  assert_true(s.x == 0.0 && signbit(s.x));
  assert_int_equal(tt_Sample_next(cur, &s, &id), PB_ENOTFOUND);
  tt_Sample_cursor_close(cur);
  double xlo = -1.5, xhi = 2.0;
  assert_int_equal(tt_Sample_range_by_x(txn, &xlo, &xhi, PB_SCAN_REVERSE,
                                        &cur),
                   PB_OK);
  assert_int_equal(tt_Sample_next(cur, &s, &id), PB_OK);
  assert_true(s.x == 1e-300);
  assert_int_equal(tt_Sample_next(cur, &s, &id), PB_OK);
  assert_true(s.x == 0.0);
  assert_int_equal(tt_Sample_next(cur, &s, &id), PB_OK);
  assert_true(s.x == -1.5);
  assert_int_equal(tt_Sample_next(cur, &s, &id), PB_ENOTFOUND);
  tt_Sample_cursor_close(cur);
  /* float32: y values were ys[j % ny]; -inf comes first (ids 1 and 7). */
  float ylo = -INFINITY;
  assert_int_equal(tt_Sample_range_by_y(txn, NULL, &ylo, PB_SCAN_HI_INCL,
                                        &cur),
                   PB_OK);
  assert_int_equal(tt_Sample_next(cur, &s, &id), PB_OK);
  assert_true(id == 1);
  assert_int_equal(tt_Sample_next(cur, &s, &id), PB_OK);
  assert_true(id == 7);
  assert_int_equal(tt_Sample_next(cur, &s, &id), PB_ENOTFOUND);
  tt_Sample_cursor_close(cur);
  assert_int_equal(tt_Sample_find_by_y(txn, 3.0f, &cur), PB_OK);
  assert_int_equal(tt_Sample_next(cur, &s, &id), PB_OK);
  assert_true(id == 5 && s.y == 3.0f);
  assert_int_equal(tt_Sample_next(cur, &s, &id), PB_ENOTFOUND);
  tt_Sample_cursor_close(cur);
  /* delete: the id is never reused */
  assert_int_equal(tt_Sample_delete(txn, 8), PB_OK);
  assert_int_equal(tt_Sample_delete(txn, 8), PB_ENOTFOUND);
  tt_Sample_init(&s);
  assert_int_equal(tt_Sample_insert(txn, &s, &id), PB_OK);
  assert_true(id == 9);
  uint64_t n;
  assert_int_equal(tt_Sample_count(txn, &n), PB_OK);
  assert_true(n == 8);
  assert_int_equal(pb_table_check(txn, &tt_Sample_table), PB_OK);
  assert_int_equal(pb_txn_commit(txn), PB_OK);
}

/* --- Indexes: equality, leading fields, ranges, optional fields. --- */

static void indexes(void **state) {
  (void)state;
  pb_txn *txn = begin();
  /* id, level, score, name, age (-1: absent), boss (0: absent) */
  static const struct {
    uint64_t id;
    tt_Level level;
    double score;
    const char *name;
    int64_t age;
    uint64_t boss;
    const char *tag;
  } rows[] = {
      {101, tt_Level_HIGH, 1.0, "b", 30, 0, "red"},
      {102, tt_Level_LOW, 5.0, "a", -1, 101, "blue"},
      {103, tt_Level_MID, -2.0, "c", -50, 101, "red"},
      {104, tt_Level_LOW, 5.0, "b", 30, 0, ""},
      {105, tt_Level_LOW, -7.5, "z", -1, 102, "red"},
      {106, tt_Level_HIGH, 1.0, "a", 0, 101, "green"},
  };
  for (size_t i = 0; i < sizeof rows / sizeof *rows; i++) {
    char email[16];
    snprintf(email, sizeof email, "i%u@x", (unsigned)rows[i].id);
    tt_Person p = person(rows[i].id, email, rows[i].name);
    p.level = rows[i].level;
    p.score = rows[i].score;
    p.has_age = rows[i].age != -1;
    p.age = p.has_age ? rows[i].age : 0;
    p.has_boss = rows[i].boss != 0;
    p.boss = rows[i].boss;
    p.tag = pb_str_from_cstr(rows[i].tag);
    assert_int_equal(tt_Person_insert(txn, &p), PB_OK);
  }
  assert_int_equal(pb_txn_commit(txn), PB_OK);

  txn = begin_ro();
  tt_Person_cursor *cur;
  /* Optional age: absent rows first, then by value, then by id. */
  assert_int_equal(tt_Person_range_by_age(txn, NULL, NULL, 0, &cur), PB_OK);
  expect_ids(cur, (uint64_t[]){102, 105, 103, 106, 101, 104}, 6);
  assert_int_equal(tt_Person_find_by_age(txn, NULL, &cur), PB_OK);
  expect_ids(cur, (uint64_t[]){102, 105}, 2);
  int64_t age = 30;
  assert_int_equal(tt_Person_find_by_age(txn, &age, &cur), PB_OK);
  expect_ids(cur, (uint64_t[]){101, 104}, 2);
  int64_t alo = -50, ahi = 30;
  assert_int_equal(tt_Person_range_by_age(txn, &alo, &ahi, 0, &cur), PB_OK);
  expect_ids(cur, (uint64_t[]){103, 106}, 2); /* a value bound: no absent */
  assert_int_equal(tt_Person_range_by_age(txn, NULL, &ahi, PB_SCAN_REVERSE,
                                          &cur),
                   PB_OK);
  expect_ids(cur, (uint64_t[]){106, 103, 105, 102}, 4);
  /* Composite (level, score, name): enum order LOW < MID < HIGH. */
  assert_int_equal(tt_Person_range_by_level_score(txn, NULL, NULL, 0, &cur),
                   PB_OK);
  expect_ids(cur, (uint64_t[]){105, 102, 104, 103, 106, 101}, 6);
  assert_int_equal(
      tt_Person_find_by_level_score(txn, tt_Level_LOW, 5.0, S("b"), &cur),
      PB_OK);
  expect_ids(cur, (uint64_t[]){104}, 1);
  assert_int_equal(tt_Person_find_by_level_score_upto_score(
                       txn, tt_Level_LOW, 5.0, &cur),
                   PB_OK);
  expect_ids(cur, (uint64_t[]){102, 104}, 2);
  assert_int_equal(
      tt_Person_find_by_level_score_upto_level(txn, tt_Level_HIGH, &cur),
      PB_OK);
  expect_ids(cur, (uint64_t[]){106, 101}, 2);
  tt_Person_level_score_key klo = {tt_Level_LOW, 5.0, S("b")};
  tt_Person_level_score_key khi = {tt_Level_HIGH, 1.0, S("a")};
  assert_int_equal(tt_Person_range_by_level_score(txn, &klo, &khi,
                                                  PB_SCAN_HI_INCL, &cur),
                   PB_OK);
  expect_ids(cur, (uint64_t[]){104, 103, 106}, 3);
  assert_int_equal(tt_Person_range_by_level_score(txn, &klo, &khi,
                                                  PB_SCAN_LO_EXCL, &cur),
                   PB_OK);
  expect_ids(cur, (uint64_t[]){103}, 1);
  /* A ref by key in an index: the key's encoding (a string). */
  assert_int_equal(tt_Person_find_by_tag(txn, S("red"), &cur), PB_OK);
  expect_ids(cur, (uint64_t[]){101, 103, 105}, 3);
  pb_str tlo = S("blue"), thi = S("red");
  assert_int_equal(tt_Person_range_by_tag(txn, &tlo, &thi, 0, &cur), PB_OK);
  expect_ids(cur, (uint64_t[]){102, 106}, 2);
  /* Composite with optional fields: (boss, age). */
  assert_int_equal(tt_Person_find_by_boss_age_upto_boss(txn, NULL, &cur),
                   PB_OK);
  expect_ids(cur, (uint64_t[]){101, 104}, 2);
  uint64_t boss = 101;
  assert_int_equal(tt_Person_find_by_boss_age_upto_boss(txn, &boss, &cur),
                   PB_OK);
  expect_ids(cur, (uint64_t[]){102, 103, 106}, 3); /* age: absent, -50, 0 */
  assert_int_equal(tt_Person_find_by_boss_age(txn, &boss, NULL, &cur), PB_OK);
  expect_ids(cur, (uint64_t[]){102}, 1);
  age = 0;
  assert_int_equal(tt_Person_find_by_boss_age(txn, &boss, &age, &cur), PB_OK);
  expect_ids(cur, (uint64_t[]){106}, 1);
  tt_Person_boss_age_key blo = {.has_boss = true, .boss = 101};
  tt_Person_boss_age_key bhi = {.has_boss = true, .boss = 101,
                                .has_age = true, .age = 0};
  assert_int_equal(tt_Person_range_by_boss_age(txn, &blo, &bhi, 0, &cur),
                   PB_OK);
  expect_ids(cur, (uint64_t[]){102, 103}, 2);
  assert_int_equal(pb_table_check(txn, &tt_Person_table), PB_OK);
  assert_int_equal(pb_txn_abort(txn), PB_OK);
}

/* --- ref<> getters. --- */

static void ref_getters(void **state) {
  (void)state;
  pb_txn *txn = begin();
  tt_Tag tag;
  tt_Tag_init(&tag);
  tag.name = S("blue");
  tag.uses = 3;
  assert_int_equal(tt_Tag_insert(txn, &tag), PB_OK);
  tt_Sample smp;
  tt_Sample_init(&smp);
  smp.n = 77;
  tt_Person f1 = person(101, "f1@x", "F1"), f2 = person(102, "f2@x", "F2");
  assert_int_equal(tt_Person_insert(txn, &f1), PB_OK);
  assert_int_equal(tt_Person_insert(txn, &f2), PB_OK);
  tt_Person p = person(201, "r@x", "Ref");
  assert_int_equal(tt_Sample_put(txn, &smp, &p.sample), PB_OK);
  p.tag = S("blue");
  uint64_t friends[] = {101, 999};
  p.friends.items = friends;
  p.friends.count = 2;
  assert_int_equal(tt_Person_insert(txn, &p), PB_OK);
  assert_int_equal(pb_txn_commit(txn), PB_OK);

  txn = begin_ro();
  tt_Person r, out;
  assert_int_equal(tt_Person_get(txn, 201, &r), PB_OK);
  tt_Tag t;
  assert_int_equal(tt_Person_tag_get(txn, &r, &t), PB_OK);
  assert_int_equal(t.uses, 3);
  tt_Sample s;
  assert_int_equal(tt_Person_sample_get(txn, &r, &s), PB_OK);
  assert_int_equal(s.n, 77);
  assert_int_equal(tt_Person_friends_get(txn, &r, 0, &out), PB_OK);
  assert_true(out.id == 101);
  assert_int_equal(tt_Person_friends_get(txn, &r, 1, &out), PB_ENOTFOUND);
  assert_int_equal(tt_Person_friends_get(txn, &r, 2, &out), PB_ERANGE);
  /* has_boss false, then a dangling boss, then a real one. */
  assert_int_equal(tt_Person_boss_get(txn, &r, &out), PB_ENOTFOUND);
  r.has_boss = true;
  r.boss = 4242;
  assert_int_equal(tt_Person_boss_get(txn, &r, &out), PB_ENOTFOUND);
  r.boss = 102;
  assert_int_equal(tt_Person_boss_get(txn, &r, &out), PB_OK);
  assert_true(out.id == 102);
  /* A dangling tag and a null sample pointer. */
  r.tag = S("nope");
  assert_int_equal(tt_Person_tag_get(txn, &r, &t), PB_ENOTFOUND);
  memset(&r.sample, 0, sizeof r.sample);
  assert_int_equal(tt_Person_sample_get(txn, &r, &s), PB_ENOTFOUND);
  assert_int_equal(pb_txn_abort(txn), PB_OK);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      /* Each test on a fresh database. */
      cmocka_unit_test_setup_teardown(keyed_rows, setup, teardown),
      cmocka_unit_test_setup_teardown(table_def_and_bad_strings, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(null_arguments, setup, teardown),
      cmocka_unit_test_setup_teardown(key_orders, setup, teardown),
      cmocka_unit_test_setup_teardown(keyless_and_floats, setup, teardown),
      cmocka_unit_test_setup_teardown(indexes, setup, teardown),
      cmocka_unit_test_setup_teardown(ref_getters, setup, teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
