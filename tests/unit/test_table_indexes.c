/*
 * test_table_indexes.c - index definitions across schema versions
 * (protobase/table.h, INDEXES), on the file tier with the defaults.
 *
 * Three versions of one table, as three programs would declare it: v1
 * with the by_grp index, v2 adding by_name, v3 without by_grp.  An index
 * added to a table with rows is built by the first writer that uses the
 * table, and then serves lookups; a reader never builds (PB_ESCHEMA until a
 * writer has); a writer whose schema lacks a cataloged index is refused
 * with PB_ESCHEMA, reads included, until it drops the index with
 * pb_table_drop_index, which removes its entries; an index redefined
 * under the same name is refused until dropped, then built anew; a unique
 * index over rows that share a value cannot be built (PB_EEXIST), and
 * nothing of it stays.  pb_table_check passes after every step.  And a
 * damaged index entry, met by a cursor that reads entries ahead of its
 * rows, is PB_ECORRUPT in its turn.
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
#include "protobase/table.h"
#include "test_util.h"
#include "table/keypack.h"
#include "tprop.pb.h"
#include "txn/tcoll.h"

static int enc(const void *r, pb_buf *b) { return tprop_KU_encode(r, b); }
static int dec(void *r, const void *d, size_t n, pb_arena *a) {
  return tprop_KU_decode(r, d, n, a);
}
static void init(void *r) { tprop_KU_init(r); }
static int key(const void *r, pb_keybuf *kb) {
  pb_key_put_u64(kb, ((const tprop_KU *)r)->k);
  return pb_keybuf_error(kb);
}
static int ix_grp(const void *r, pb_keybuf *kb) {
  pb_key_put_i32(kb, ((const tprop_KU *)r)->grp);
  return pb_keybuf_error(kb);
}
static int ix_name(const void *r, pb_keybuf *kb) {
  pb_key_put_str(kb, ((const tprop_KU *)r)->name);
  return pb_keybuf_error(kb);
}
static int ix_score(const void *r, pb_keybuf *kb) {
  pb_key_put_f64(kb, ((const tprop_KU *)r)->score);
  return pb_keybuf_error(kb);
}
static const uint32_t t_grp[] = {2}, t_name[] = {4}, t_score[] = {3};

static const pb_table_index v1_ix[] = {{"by_grp", 0, t_grp, 1, ix_grp}};
static const pb_table_index v2_ix[] = {
    {"by_grp", 0, t_grp, 1, ix_grp}, {"by_name", 0, t_name, 1, ix_name}};
static const pb_table_index v3_ix[] = {{"by_name", 0, t_name, 1, ix_name}};
/* by_grp redefined: same name, another field */
static const pb_table_index v4_ix[] = {
    {"by_grp", 0, t_score, 1, ix_score}, {"by_name", 0, t_name, 1, ix_name}};
/* by_grp made unique (the rows share groups: cannot be built) */
static const pb_table_index v5_ix[] = {
    {"by_grp", PB_INDEX_UNIQUE, t_grp, 1, ix_grp},
    {"by_name", 0, t_name, 1, ix_name}};

#define DEF(IX, N)                                                         \
  {.type = &tprop_KU_type, .size = sizeof(tprop_KU), .init = init,         \
   .encode = enc, .decode = dec, .key = key, .indexes = IX, .n_indexes = N}
static const pb_table_def v1 = DEF(v1_ix, 1), v2 = DEF(v2_ix, 2),
                          v3 = DEF(v3_ix, 1), v4 = DEF(v4_ix, 2),
                          v5 = DEF(v5_ix, 2);

#define ROWS 300

static pb_db *db;

static pb_txn *begin(unsigned flags) {
  pb_txn *t;
  assert_int_equal(pb_txn_begin(db, flags, &t), PB_OK);
  return t;
}

/* The number of rows a lookup of index i of def at `v` gives. */
static int lookup(pb_txn *t, const pb_table_def *def, size_t i, pb_bytes v,
                  unsigned *n) {
  pb_cursor *c;
  int rc = pb_table_find(t, def, i, v, &c);
  if (rc != PB_OK) return rc;
  tprop_KU r;
  *n = 0;
  while ((rc = pb_cursor_next(c, &r, NULL)) == PB_OK) (*n)++;
  pb_cursor_close(c);
  return rc == PB_ENOTFOUND ? PB_OK : rc;
}

static void versions(void **state) {
  (void)state;
  char *dir = pb_test_tmpdir();
  pb_storage *st;
  pb_space *sp;
  assert_int_equal(pb_storage_open_file(dir, NULL, &st), PB_OK);
  assert_int_equal(pb_space_open(st, &sp), PB_OK);
  assert_int_equal(pb_db_open(sp, "t", PB_CREATE, &db), PB_OK);
  char names[ROWS][16];
  pb_txn *t = begin(0);
  for (unsigned i = 0; i < ROWS; i++) {
    tprop_KU r;
    tprop_KU_init(&r);
    r.k = i;
    r.grp = (int32_t)(i % 10);
    r.score = i;
    snprintf(names[i], sizeof names[i], "n%u", i % 100); /* 3 rows each */
    r.name = pb_str_from_cstr(names[i]);
    assert_int_equal(pb_table_insert(t, &v1, &r, NULL), PB_OK);
  }
  assert_int_equal(pb_table_check(t, &v1), PB_OK);
  assert_int_equal(pb_txn_commit(t), PB_OK);

  pb_keybuf kb;
  pb_keybuf_init(&kb);
  pb_key_put_str(&kb, pb_str_from_cstr("n7"));
  pb_bytes n7 = pb_keybuf_bytes(&kb);
  pb_keybuf kg;
  pb_keybuf_init(&kg);
  pb_key_put_i32(&kg, 3);
  pb_bytes g3 = pb_keybuf_bytes(&kg);
  unsigned n;

  /* v2 adds by_name: a reader cannot use it before a writer built it */
  t = begin(PB_RDONLY);
  assert_int_equal(lookup(t, &v2, 1, n7, &n), PB_ESCHEMA);
  assert_int_equal(lookup(t, &v2, 0, g3, &n), PB_OK); /* by_grp is there */
  assert_int_equal(n, ROWS / 10);
  pb_txn_abort(t);
  /* the first writer builds it, in its transaction (an abort drops it) */
  t = begin(0);
  tprop_KU r;
  tprop_KU_init(&r);
  r.k = 1000;
  r.name = pb_str_from_cstr("n7");
  assert_int_equal(pb_table_insert(t, &v2, &r, NULL), PB_OK);
  assert_int_equal(lookup(t, &v2, 1, n7, &n), PB_OK);
  assert_int_equal(n, 4);
  assert_int_equal(pb_table_check(t, &v2), PB_OK);
  pb_txn_abort(t);
  t = begin(PB_RDONLY);
  assert_int_equal(lookup(t, &v2, 1, n7, &n), PB_ESCHEMA);
  pb_txn_abort(t);
  t = begin(0);
  uint64_t cnt;
  assert_int_equal(pb_table_upsert(t, &v2, &r), PB_OK);
  assert_int_equal(pb_txn_commit(t), PB_OK);
  t = begin(PB_RDONLY);
  assert_int_equal(lookup(t, &v2, 1, n7, &n), PB_OK);
  assert_int_equal(n, 4);
  assert_int_equal(pb_table_check(t, &v2), PB_OK);
  /* v1 programs still read (their by_grp is there) */
  assert_int_equal(lookup(t, &v1, 0, g3, &n), PB_OK);
  assert_int_equal(n, ROWS / 10);
  pb_txn_abort(t);

  /* v1 as a writer lacks by_name: refused, and nothing changes */
  t = begin(0);
  r.k = 1001;
  assert_int_equal(pb_table_insert(t, &v1, &r, NULL), PB_ESCHEMA);
  assert_non_null(strstr(pb_errdetail(), "by_name"));
  assert_int_equal(pb_table_count(t, &v1, &cnt), PB_OK);
  assert_int_equal(cnt, ROWS + 1);
  pb_txn_abort(t);

  /* v3 drops by_grp: refused until it drops it explicitly */
  t = begin(0);
  r.k = 1002;
  assert_int_equal(pb_table_insert(t, &v3, &r, NULL), PB_ESCHEMA);
  assert_non_null(strstr(pb_errdetail(), "by_grp"));
  assert_int_equal(pb_table_drop_index(t, &v3, "by_grp"), PB_OK);
  assert_int_equal(pb_table_drop_index(t, &v3, "by_grp"), PB_ENOTFOUND);
  assert_int_equal(pb_table_insert(t, &v3, &r, NULL), PB_OK);
  assert_int_equal(pb_table_check(t, &v3), PB_OK);
  assert_int_equal(pb_txn_commit(t), PB_OK);
  t = begin(PB_RDONLY);
  assert_int_equal(pb_table_check(t, &v3), PB_OK);
  assert_int_equal(lookup(t, &v1, 0, g3, &n), PB_ESCHEMA); /* gone */
  pb_txn_abort(t);

  /* by_grp comes back with another field under the same name (v4): built
   * anew; then redefined again (v2's by_grp on grp): refused until
   * dropped */
  t = begin(0);
  assert_int_equal(pb_table_upsert(t, &v4, &r), PB_OK); /* a write */
  assert_int_equal(pb_table_check(t, &v4), PB_OK);
  assert_int_equal(pb_txn_commit(t), PB_OK);
  t = begin(0);
  r.k = 1003;
  assert_int_equal(pb_table_insert(t, &v2, &r, NULL), PB_ESCHEMA);
  assert_int_equal(pb_table_drop_index(t, &v2, "by_grp"), PB_OK);
  assert_int_equal(pb_table_insert(t, &v2, &r, NULL), PB_OK);
  assert_int_equal(lookup(t, &v2, 0, g3, &n), PB_OK);
  assert_int_equal(n, ROWS / 10);
  assert_int_equal(pb_table_check(t, &v2), PB_OK);
  assert_int_equal(pb_txn_commit(t), PB_OK);

  /* v5 makes by_grp unique over rows that share groups: refused */
  t = begin(0);
  assert_int_equal(pb_table_drop_index(t, &v5, "by_grp"), PB_OK);
  r.k = 1004;
  assert_int_equal(pb_table_insert(t, &v5, &r, NULL), PB_EEXIST);
  pb_txn_abort(t);
  t = begin(PB_RDONLY);
  assert_int_equal(pb_table_check(t, &v2), PB_OK);
  pb_txn_abort(t);

  pb_keybuf_free(&kb);
  pb_keybuf_free(&kg);
  assert_int_equal(pb_db_close(db), PB_OK);
  assert_int_equal(pb_space_close(sp), PB_OK);
  pb_test_rmdir(dir);
}

/* An index entry that is damaged (not BYTES, or naming no row), written
 * behind the table's back: a cursor gives the rows before it in order
 * (it reads entries ahead of the rows it gives), then PB_ECORRUPT, again
 * at every later call; pb_table_check reports it. */
static void damaged_index(void **state) {
  (void)state;
  char *dir = pb_test_tmpdir();
  pb_storage *st;
  pb_space *sp;
  assert_int_equal(pb_storage_open_file(dir, NULL, &st), PB_OK);
  assert_int_equal(pb_space_open(st, &sp), PB_OK);
  assert_int_equal(pb_db_open(sp, "t", PB_CREATE, &db), PB_OK);
  pb_txn *t = begin(0);
  for (unsigned i = 0; i < 40; i++) { /* 40 rows of group 1 */
    tprop_KU r;
    tprop_KU_init(&r);
    r.k = 100 + i;
    r.grp = 1;
    assert_int_equal(pb_table_insert(t, &v1, &r, NULL), PB_OK);
  }
  assert_int_equal(pb_txn_commit(t), PB_OK);
  for (int kind = 0; kind < 2; kind++) {
    t = begin(0);
    /* the entry of row 120 (the 21st): (grp 1, key 120), packed */
    pb__tcoll *ix;
    char name[32];
    int n;
    name[0] = '\0';
    /* the type id is the first one given: find it by trying */
    int rc = PB_ENOTFOUND;
    for (unsigned id = 17; id < 40 && rc == PB_ENOTFOUND; id++) {
      n = snprintf(name + 1, sizeof name - 1, "i%u:by_grp", id);
      rc = pb__txn_open_root(t, (pb_str){name, (size_t)n + 1}, PB_VALUE_DICT,
                             false, &ix);
    }
    assert_int_equal(rc, PB_OK);
    pb_keybuf kb;
    pb_keybuf_init(&kb);
    pb_key_put_i32(&kb, 1);
    pb_key_put_u64(&kb, kind == 0 ? 120 : 999); /* 999: no such row */
    uint8_t packed[64];
    size_t plen = pb__keypack_len(kb.len);
    pb__keypack(kb.ptr, kb.len, packed);
    pb_value bad = {.kind = PB_VALUE_UINT, .as.u = 7};
    pb_keybuf pk;
    pb_keybuf_init(&pk);
    pb_key_put_u64(&pk, 999);
    pb_value ghost = {.kind = PB_VALUE_BYTES, .as.bytes = pb_keybuf_bytes(&pk)};
    assert_int_equal(pb_dict_put((pb_dict *)(void *)ix,
                                 (pb_str){(const char *)packed, plen},
                                 kind == 0 ? &bad : &ghost),
                     PB_OK);
    pb_cursor *c;
    pb_keybuf_reset(&kb);
    pb_key_put_i32(&kb, 1);
    assert_int_equal(pb_table_find(t, &v1, 0, pb_keybuf_bytes(&kb), &c), PB_OK);
    tprop_KU r;
    unsigned got = 0;
    while ((rc = pb_cursor_next(c, &r, NULL)) == PB_OK) {
      assert_int_equal(r.k, 100 + got); /* in order, up to the damage */
      got++;
    }
    assert_int_equal(rc, PB_ECORRUPT);
    assert_int_equal(got, kind == 0 ? 20 : 40);
    assert_non_null(strstr(pb_errdetail(), kind == 0 ? "not BYTES"
                                                     : "names no row"));
    assert_int_equal(pb_cursor_next(c, &r, NULL), PB_ECORRUPT);
    pb_cursor_close(c);
    assert_int_equal(pb_table_check(t, &v1), PB_ECORRUPT);
    pb_keybuf_free(&kb);
    pb_keybuf_free(&pk);
    pb_txn_abort(t);
  }
  assert_int_equal(pb_db_close(db), PB_OK);
  assert_int_equal(pb_space_close(sp), PB_OK);
  pb_test_rmdir(dir);
}

int main(void) {
  const struct CMUnitTest tests[] = {cmocka_unit_test(versions),
                                     cmocka_unit_test(damaged_index)};
  return cmocka_run_group_tests(tests, NULL, NULL);
}
