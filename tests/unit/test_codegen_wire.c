/*
 * test_codegen_wire.c - the runtime pieces that generated record code uses
 * besides the plain field writers and readers (protobase/wire.h):
 *
 *   - pb_arena: alignment, blocks that never move, big requests, reset,
 *     overflow, and the arena of a transaction; the internal small first
 *     block and footprint (atom/arena.h) of a cached record's arena;
 *   - nested LEN fields: the length patched in place, moved when it needs
 *     more than one byte, and an empty payload omitted on request;
 *   - packed arrays: count, begin/next, and their structural checks;
 *   - atom pointers: exact bytes and rejection of malformed payloads;
 *   - pb_unknown: kept fields merged back in tag order, known tags skipped,
 *     malformed kept bytes reported as PB_EINVAL;
 *   - pb_field_check / pb_packed_check and the verify path helpers.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "corrupt_detail.h"

#include "atom/arena.h"
#include "protobase/protobase.h"
#include "protobase/wire.h"

/* --- arena --- */

static void arena_allocations_are_aligned_and_stable(void **state) {
  (void)state;
  pb_arena *a;
  assert_int_equal(pb_arena_create(&a), PB_OK);
  uint8_t *first = pb_arena_alloc(a, 3);
  assert_non_null(first);
  memset(first, 0xab, 3);
  size_t total = 3;
  for (size_t i = 1; i < 2000; i++) {
    uint8_t *p = pb_arena_alloc(a, i % 37);
    assert_non_null(p);
    assert_int_equal((uintptr_t)p % 8, 0);
    memset(p, 0x5a, i % 37); /* ASan checks the block really holds it */
    total += i % 37;
  }
  /* Earlier blocks never move. */
  assert_int_equal(first[0], 0xab);
  assert_int_equal(first[2], 0xab);
  assert_int_equal(pb_arena_allocated(a), total);
  /* A request larger than any block gets a block of its own. */
  uint8_t *big = pb_arena_alloc(a, 3u << 20);
  assert_non_null(big);
  memset(big, 1, 3u << 20);
  uint8_t *after = pb_arena_alloc(a, 16);
  assert_non_null(after);
  memset(after, 2, 16);
  assert_non_null(pb_arena_alloc(a, 0));
  pb_arena_reset(a);
  assert_int_equal(pb_arena_allocated(a), 0);
  assert_non_null(pb_arena_alloc(a, 100));
  pb_arena_destroy(a);
  pb_arena_destroy(NULL);
}

static void arena_rejects_overflow_and_null(void **state) {
  (void)state;
  pb_arena *a;
  assert_int_equal(pb_arena_create(NULL), PB_EINVAL);
  assert_int_equal(pb_arena_create(&a), PB_OK);
  assert_null(pb_arena_alloc_array(a, SIZE_MAX / 2, 4));
  assert_null(pb_arena_alloc(a, SIZE_MAX - 4));
  assert_null(pb_arena_alloc(NULL, 8));
  assert_non_null(pb_arena_alloc_array(a, 0, 24));
  int32_t *v = pb_arena_alloc_array(a, 10, sizeof *v);
  assert_non_null(v);
  v[9] = 7;
  pb_arena_destroy(a);
}

static void arena_sized_counts_its_blocks(void **state) {
  (void)state;
  pb_arena *a, *d;
  assert_int_equal(pb__arena_create_sized(64, &a), PB_OK);
  assert_int_equal(pb_arena_create(&d), PB_OK);
  size_t empty = pb__arena_footprint(a);
  assert_true(empty > 0);
  assert_int_equal(pb__arena_footprint(d), empty); /* no block yet */
  assert_int_equal(pb__arena_footprint(NULL), 0);
  /* A small first block, then doubling: 64 + 128 + 256 bytes of blocks. */
  assert_non_null(pb_arena_alloc(a, 40));
  assert_non_null(pb_arena_alloc(d, 40));
  size_t one = pb__arena_footprint(a);
  assert_true(one >= empty + 64 && one < empty + 64 + 64);
  assert_true(pb__arena_footprint(d) >= empty + 4096);
  assert_non_null(pb_arena_alloc(a, 40)); /* past 64: a block of 128 */
  assert_non_null(pb_arena_alloc(a, 200)); /* past that: one of 256 */
  size_t three = pb__arena_footprint(a);
  assert_int_equal(three - one, 128 + 256 + 2 * (one - empty - 64));
  /* Sizes are clamped: at least 8, at most the default. */
  pb_arena *tiny, *huge;
  assert_int_equal(pb__arena_create_sized(0, &tiny), PB_OK);
  assert_int_equal(pb__arena_create_sized(1u << 30, &huge), PB_OK);
  uint8_t *p = pb_arena_alloc(tiny, 3);
  assert_non_null(p);
  memset(p, 1, 3);
  assert_non_null(pb_arena_alloc(huge, 1));
  assert_true(pb__arena_footprint(huge) < empty + 4096 + 64);
  pb_arena_destroy(tiny);
  pb_arena_destroy(huge);
  pb_arena_destroy(a);
  pb_arena_destroy(d);
}

static void txn_arena_lives_until_the_txn_ends(void **state) {
  (void)state;
  pb_storage *st;
  pb_space *sp;
  pb_db *db;
  pb_txn *txn;
  pb_arena *a, *again;
  assert_int_equal(pb_txn_arena(NULL, &a), PB_EINVAL);
  assert_int_equal(pb_storage_open_memory(&st), PB_OK);
  assert_int_equal(pb_space_open(st, &sp), PB_OK);
  assert_int_equal(pb_db_open(sp, "a", PB_CREATE, &db), PB_OK);
  assert_int_equal(pb_txn_begin(db, PB_RDONLY, &txn), PB_OK);
  assert_int_equal(pb_txn_arena(txn, &a), PB_OK);
  assert_non_null(a);
  assert_int_equal(pb_txn_arena(txn, &again), PB_OK);
  assert_ptr_equal(again, a); /* one per transaction */
  assert_non_null(pb_arena_alloc(a, 1000));
  pb_txn_abort(txn); /* frees it: LeakSanitizer would complain otherwise */
  pb_db_close(db);
  pb_space_close(sp);
}

/* --- nested LEN fields --- */

static void nested_len_fields_patch_their_length(void **state) {
  (void)state;
  pb_buf b;
  pb_buf_init(&b);
  /* Short payload: the one reserved byte holds the length. */
  pb_len_mark m = pb_wire_begin_len(&b, 3);
  pb_wire_put_uint(&b, 1, 5);
  pb_wire_end_len(&b, m, true);
  const uint8_t want[] = {0x1a, 0x02, 0x08, 0x05};
  assert_int_equal(b.len, sizeof want);
  assert_memory_equal(b.data, want, sizeof want);

  /* An empty payload is dropped with its key, or kept as a zero length. */
  pb_buf_reset(&b);
  m = pb_wire_begin_len(&b, 3);
  pb_wire_end_len(&b, m, true);
  assert_int_equal(b.len, 0);
  m = pb_wire_begin_len(&b, 3);
  pb_wire_end_len(&b, m, false);
  const uint8_t want_empty[] = {0x1a, 0x00};
  assert_int_equal(b.len, 2);
  assert_memory_equal(b.data, want_empty, 2);

  /* A 300-byte payload needs a two-byte length: the payload moves. */
  pb_buf_reset(&b);
  pb_wire_put_uint(&b, 1, 1);
  m = pb_wire_begin_len(&b, 2);
  uint8_t payload[300];
  for (size_t i = 0; i < sizeof payload; i++) payload[i] = (uint8_t)i;
  pb_buf_append(&b, payload, sizeof payload);
  pb_wire_end_len(&b, m, true);
  pb_reader r;
  pb_field f;
  pb_reader_init(&r, b.data, b.len);
  assert_int_equal(pb_reader_next(&r, &f), 1);
  assert_int_equal(pb_reader_next(&r, &f), 1);
  assert_int_equal(f.tag, 2);
  assert_int_equal(f.size, 300);
  assert_memory_equal(f.data, payload, 300);
  assert_ptr_equal(f.key, b.data + 2);
  assert_int_equal(pb_reader_next(&r, &f), 0);
  assert_int_equal(b.len, 2 + 1 + 2 + 300);
  pb_buf_free(&b);
}

/* --- packed arrays --- */

static void packed_arrays_count_and_read(void **state) {
  (void)state;
  pb_buf b;
  pb_buf_init(&b);
  pb_len_mark m = pb_wire_begin_len(&b, 4);
  pb_wire_put_varint(&b, 1);
  pb_wire_raw_zigzag(&b, -70000);
  pb_wire_put_varint(&b, UINT64_MAX);
  pb_wire_end_len(&b, m, false);
  pb_reader r;
  pb_field f, e;
  pb_reader_init(&r, b.data, b.len);
  assert_int_equal(pb_reader_next(&r, &f), 1);
  size_t n = 5;
  assert_int_equal(pb_packed_count(&f, PB_WT_VARINT, &n), PB_OK);
  assert_int_equal(n, 8); /* adds to the count */
  pb_packed p;
  assert_int_equal(pb_packed_begin(&f, PB_WT_VARINT, &p), PB_OK);
  uint64_t u;
  int64_t i;
  assert_int_equal(pb_packed_next(&p, &e), 1);
  assert_int_equal(pb_field_u64(&e, &u), PB_OK);
  assert_true(u == 1);
  assert_int_equal(pb_packed_next(&p, &e), 1);
  assert_int_equal(pb_field_i64(&e, &i), PB_OK);
  assert_true(i == -70000);
  assert_int_equal(pb_packed_next(&p, &e), 1);
  assert_int_equal(pb_field_u64(&e, &u), PB_OK);
  assert_true(u == UINT64_MAX);
  assert_int_equal(pb_packed_next(&p, &e), 0);

  /* Fixed-size elements. */
  pb_buf_reset(&b);
  m = pb_wire_begin_len(&b, 1);
  pb_wire_raw_float(&b, 1.5f);
  pb_wire_raw_float(&b, -2.0f);
  pb_wire_raw_float(&b, 0.0f);
  pb_wire_end_len(&b, m, false);
  pb_reader_init(&r, b.data, b.len);
  assert_int_equal(pb_reader_next(&r, &f), 1);
  n = 0;
  assert_int_equal(pb_packed_count(&f, PB_WT_I32, &n), PB_OK);
  assert_int_equal(n, 3);
  assert_corrupt(pb_packed_count(&f, PB_WT_I64, &n), PB_AT_SOURCE);
  float fl;
  assert_int_equal(pb_packed_begin(&f, PB_WT_I32, &p), PB_OK);
  assert_int_equal(pb_packed_next(&p, &e), 1);
  assert_int_equal(pb_field_float(&e, &fl), PB_OK);
  assert_true(fl == 1.5f);
  pb_buf_free(&b);
}

static void packed_arrays_reject_bad_shapes(void **state) {
  (void)state;
  size_t n = 0;
  const uint8_t cut[] = {0x01, 0x80}; /* the last varint never ends */
  pb_field f = {.wire_type = PB_WT_LEN, .data = cut, .size = sizeof cut};
  pb_packed p;
  assert_corrupt(pb_packed_count(&f, PB_WT_VARINT, &n), PB_AT_SOURCE);
  assert_corrupt(pb_packed_begin(&f, PB_WT_VARINT, &p), PB_AT_SOURCE);
  f.wire_type = PB_WT_VARINT; /* not a LEN field at all */
  assert_corrupt(pb_packed_count(&f, PB_WT_VARINT, &n), PB_AT_SOURCE);
  assert_corrupt(pb_len_count(&f, &n), PB_AT_SOURCE);
  f.wire_type = PB_WT_LEN;
  f.size = 1;
  assert_corrupt(pb_packed_count(&f, PB_WT_I32, &n), PB_AT_SOURCE);
  assert_int_equal(pb_len_count(&f, &n), PB_OK);
  assert_int_equal(n, 1);
  /* An 11-byte varint passes the count (its end is there) but not the read. */
  const uint8_t long_varint[] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
                                 0xff, 0xff, 0xff, 0xff, 0x01};
  f.data = long_varint;
  f.size = sizeof long_varint;
  n = 0;
  assert_int_equal(pb_packed_count(&f, PB_WT_VARINT, &n), PB_OK);
  assert_int_equal(n, 1);
  pb_field e;
  assert_int_equal(pb_packed_begin(&f, PB_WT_VARINT, &p), PB_OK);
  assert_corrupt(pb_packed_next(&p, &e), PB_AT_SOURCE);
  size_t bad;
  n = 0;
  assert_corrupt(pb_packed_check(&f, PB_CHECK_U64, &n, &bad), PB_AT_SOURCE);
  assert_int_equal(bad, 0);
}

/* --- atom pointers --- */

static void atom_pointers_round_trip(void **state) {
  (void)state;
  pb_atom_ptr p = {0x0102030405060708ull, 0x1112131415161718ull, 300}, q;
  pb_buf b;
  pb_buf_init(&b);
  pb_wire_put_atom_ptr(&b, 1, &p);
  /* Key (tag 1, PTR), then 20 fixed bytes: no length prefix. */
  const uint8_t want[] = {0x0b, 0x08, 0x07, 0x06, 0x05, 0x04, 0x03,
                          0x02, 0x01, 0x18, 0x17, 0x16, 0x15, 0x14,
                          0x13, 0x12, 0x11, 0x2c, 0x01, 0x00, 0x00};
  assert_int_equal(b.len, sizeof want);
  assert_memory_equal(b.data, want, sizeof want);
  pb_reader r;
  pb_field f;
  pb_reader_init(&r, b.data, b.len);
  assert_int_equal(pb_reader_next(&r, &f), 1);
  assert_int_equal(f.wire_type, PB_WT_PTR);
  assert_ptr_equal(f.data, b.data + 1);
  assert_int_equal(f.size, 20);
  assert_int_equal(pb_field_atom_ptr(&f, &q), PB_OK);
  assert_true(pb_atom_ptr_equal(p, q));
  assert_int_equal(pb_field_check(&f, PB_CHECK_ATOM_PTR), PB_OK);
  size_t n = 0;
  assert_int_equal(pb_ptr_count(&f, &n), PB_OK);
  assert_int_equal(n, 1);
  assert_corrupt(pb_len_count(&f, &n), PB_AT_SOURCE);
  assert_corrupt(pb_rec_count(&f, &n), PB_AT_SOURCE);
  /* A field built by hand with another size, another wire type. */
  pb_field g = f;
  g.size = 19;
  assert_corrupt(pb_field_atom_ptr(&g, &q), PB_AT_SOURCE);
  g = f;
  g.wire_type = PB_WT_LEN;
  assert_corrupt(pb_field_atom_ptr(&g, &q), PB_AT_SOURCE);
  g.wire_type = PB_WT_I64;
  assert_corrupt(pb_field_check(&g, PB_CHECK_ATOM_PTR), PB_AT_SOURCE);
  /* Every cut of the 20 bytes is a truncated field. */
  for (size_t cut = 1; cut < b.len; cut++) {
    pb_reader_init(&r, b.data, cut);
    assert_corrupt(pb_reader_next(&r, &f), PB_AT_SOURCE);
  }
  /* The largest offset that fits, then one that does not. */
  pb_buf_reset(&b);
  p.offset = UINT32_MAX;
  pb_wire_put_atom_ptr(&b, 1, &p);
  assert_int_equal(pb_buf_error(&b), PB_OK);
  pb_reader_init(&r, b.data, b.len);
  assert_int_equal(pb_reader_next(&r, &f), 1);
  assert_int_equal(pb_field_atom_ptr(&f, &q), PB_OK);
  assert_true(pb_atom_ptr_equal(p, q));
  size_t len = b.len;
  p.offset = (uint64_t)UINT32_MAX + 1;
  pb_wire_put_atom_ptr(&b, 2, &p);
  assert_int_equal(pb_buf_error(&b), PB_EINVAL);
  assert_int_equal(b.len, len); /* nothing written */
  pb_buf_free(&b);
}

/* Embedded records: REC fields, written and read like nested LEN fields. */
static void embedded_records_are_rec_fields(void **state) {
  (void)state;
  pb_buf b;
  pb_buf_init(&b);
  pb_len_mark m = pb_wire_begin_rec(&b, 3);
  pb_wire_put_uint(&b, 1, 5);
  pb_wire_end_len(&b, m, true);
  const uint8_t want[] = {0x1c, 0x02, 0x08, 0x05}; /* tag 3, REC */
  assert_int_equal(b.len, sizeof want);
  assert_memory_equal(b.data, want, sizeof want);
  pb_reader r;
  pb_field f;
  pb_bytes body;
  pb_reader_init(&r, b.data, b.len);
  assert_int_equal(pb_reader_next(&r, &f), 1);
  assert_int_equal(f.wire_type, PB_WT_REC);
  assert_ptr_equal(f.data, b.data + 2);
  assert_int_equal(f.size, 2);
  assert_int_equal(pb_field_rec(&f, &body), PB_OK);
  assert_ptr_equal(body.ptr, b.data + 2);
  assert_int_equal(body.len, 2);
  assert_int_equal(pb_field_check(&f, PB_CHECK_REC), PB_OK);
  /* A REC is not bytes, and a LEN is not a record. */
  assert_corrupt(pb_field_bytes(&f, &body), PB_AT_SOURCE);
  assert_corrupt(pb_field_check(&f, PB_CHECK_BYTES), PB_AT_SOURCE);
  size_t n = 0;
  assert_int_equal(pb_rec_count(&f, &n), PB_OK);
  assert_corrupt(pb_len_count(&f, &n), PB_AT_SOURCE);
  assert_int_equal(n, 1);
  pb_field g = f;
  g.wire_type = PB_WT_LEN;
  assert_corrupt(pb_field_rec(&g, &body), PB_AT_SOURCE);
  assert_corrupt(pb_field_check(&g, PB_CHECK_REC), PB_AT_SOURCE);
  /* A long payload moves, as in a LEN field; an empty one may vanish. */
  pb_buf_reset(&b);
  m = pb_wire_begin_rec(&b, 2);
  for (int i = 0; i < 100; i++) pb_wire_put_uint(&b, 1, 1);
  pb_wire_end_len(&b, m, true);
  pb_reader_init(&r, b.data, b.len);
  assert_int_equal(pb_reader_next(&r, &f), 1);
  assert_int_equal(f.wire_type, PB_WT_REC);
  assert_int_equal(f.size, 200);
  assert_int_equal(pb_reader_next(&r, &f), 0);
  pb_buf_reset(&b);
  m = pb_wire_begin_rec(&b, 2);
  pb_wire_end_len(&b, m, true);
  assert_int_equal(b.len, 0);
  pb_buf_free(&b);
}

/* --- unknown fields --- */

static const uint32_t known[] = {1, 5, 9};

/* Encodes like a generated encoder whose schema knows tags 1, 5, 9. */
static void encode_known(pb_buf *out, pb_bytes kept) {
  pb_unknown u;
  pb_unknown_init(&u, kept, known, 3);
  pb_wire_put_uint(out, 1, 100);
  pb_unknown_copy(&u, out, 5);
  pb_wire_put_uint(out, 5, 500);
  pb_unknown_copy(&u, out, 9);
  pb_wire_put_uint(out, 9, 900);
  pb_unknown_copy(&u, out, PB_TAG_MAX + 1);
}

static void unknown_fields_merge_in_tag_order(void **state) {
  (void)state;
  pb_buf kept, out, want;
  pb_buf_init(&kept);
  pb_buf_init(&out);
  pb_buf_init(&want);
  /* A newer body: known tags with other values, unknown 3, 7, 12, 20. */
  pb_wire_put_uint(&kept, 1, 1);
  pb_wire_put_str(&kept, 3, pb_str_from_cstr("three"));
  pb_wire_put_uint(&kept, 5, 5);
  pb_wire_put_double(&kept, 7, 7.5);
  pb_wire_put_uint(&kept, 9, 9);
  pb_wire_put_float(&kept, 12, 12.0f);
  pb_wire_put_uint(&kept, 20, 20);
  encode_known(&out, (pb_bytes){kept.data, kept.len});
  assert_int_equal(pb_buf_error(&out), PB_OK);
  pb_wire_put_uint(&want, 1, 100);
  pb_wire_put_str(&want, 3, pb_str_from_cstr("three"));
  pb_wire_put_uint(&want, 5, 500);
  pb_wire_put_double(&want, 7, 7.5);
  pb_wire_put_uint(&want, 9, 900);
  pb_wire_put_float(&want, 12, 12.0f);
  pb_wire_put_uint(&want, 20, 20);
  assert_int_equal(out.len, want.len);
  assert_memory_equal(out.data, want.data, want.len);

  /* Nothing kept: exactly the known fields. */
  pb_buf_reset(&out);
  encode_known(&out, (pb_bytes){NULL, 0});
  assert_int_equal(out.len, 2 + 3 + 3);

  /* Kept bytes that are not a record body: PB_EINVAL, sticky. */
  pb_buf_reset(&out);
  const uint8_t junk[] = {0x1a, 0x05, 'a'}; /* tag 3, LEN 5, 1 byte */
  encode_known(&out, (pb_bytes){junk, sizeof junk});
  assert_int_equal(pb_buf_error(&out), PB_EINVAL);
  pb_buf_free(&kept);
  pb_buf_free(&out);
  pb_buf_free(&want);
}

/* --- checks and verify paths --- */

static void field_check_matches_the_accessors(void **state) {
  (void)state;
  pb_field f = {.wire_type = PB_WT_VARINT, .value = 2};
  assert_corrupt(pb_field_check(&f, PB_CHECK_BOOL), PB_AT_SOURCE);
  assert_int_equal(pb_field_check(&f, PB_CHECK_U8), PB_OK);
  f.value = 256;
  assert_corrupt(pb_field_check(&f, PB_CHECK_U8), PB_AT_SOURCE);
  assert_corrupt(pb_field_check(&f, PB_CHECK_I8), PB_AT_SOURCE); /* 128 */
  assert_int_equal(pb_field_check(&f, PB_CHECK_I16), PB_OK);
  assert_corrupt(pb_field_check(&f, PB_CHECK_FLOAT), PB_AT_SOURCE);
  f.wire_type = PB_WT_LEN;
  f.data = (const uint8_t *)"\xc3";
  f.size = 1;
  assert_corrupt(pb_field_check(&f, PB_CHECK_STR), PB_AT_SOURCE);
  assert_int_equal(pb_field_check(&f, PB_CHECK_BYTES), PB_OK);
  /* Packed: the index of the bad element counts on from *count. */
  const uint8_t bools[] = {1, 0, 2};
  f.data = bools;
  f.size = sizeof bools;
  size_t n = 10, bad;
  assert_corrupt(pb_packed_check(&f, PB_CHECK_BOOL, &n, &bad), PB_AT_SOURCE);
  assert_int_equal(bad, 12);
  n = 0;
  assert_int_equal(pb_packed_check(&f, PB_CHECK_U8, &n, &bad), PB_OK);
  assert_int_equal(n, 3);
  assert_corrupt(pb_packed_check(&f, PB_CHECK_STR, &n, &bad), PB_AT_SOURCE);
  assert_int_equal(bad, PB_VERIFY_NO_INDEX);
}

static void verify_paths_are_built_inside_out(void **state) {
  (void)state;
  pb_verify_error err;
  assert_corrupt(pb_verify_fail(&err, 7, "x", PB_VERIFY_NO_INDEX), PB_AT_SOURCE);
  assert_corrupt(pb_verify_prefix(&err, 10, "where", PB_VERIFY_NO_INDEX), PB_AT_SOURCE);
  assert_corrupt(pb_verify_prefix(&err, 3, "Task", PB_VERIFY_NO_INDEX), PB_AT_SOURCE);
  assert_corrupt_rc(err.code, PB_AT_SOURCE);
  assert_int_equal(err.offset, 20);
  assert_string_equal(err.path, "Task.where.x");

  pb_verify_fail(&err, 0, "labels", 3);
  pb_verify_prefix(&err, 0, "Task", PB_VERIFY_NO_INDEX);
  assert_string_equal(err.path, "Task.labels[3]");

  pb_verify_fail(&err, 0, NULL, PB_VERIFY_NO_INDEX);
  pb_verify_prefix(&err, 0, "Task", PB_VERIFY_NO_INDEX);
  assert_string_equal(err.path, "Task");

  /* Another record's public path: its first component is replaced. */
  pb_verify_fail(&err, 2, "y", PB_VERIFY_NO_INDEX);
  pb_verify_prefix(&err, 0, "Vec2", PB_VERIFY_NO_INDEX);
  pb_verify_rename(&err, 5, "points", 4);
  pb_verify_prefix(&err, 0, "Task", PB_VERIFY_NO_INDEX);
  assert_string_equal(err.path, "Task.points[4].y");
  assert_int_equal(err.offset, 7);

  /* Long paths are cut at the buffer's size, keeping the outer part. */
  char name[100];
  memset(name, 'n', sizeof name - 1);
  name[sizeof name - 1] = '\0';
  pb_verify_fail(&err, 0, name, PB_VERIFY_NO_INDEX);
  pb_verify_prefix(&err, 0, name, PB_VERIFY_NO_INDEX);
  pb_verify_prefix(&err, 0, "Top", PB_VERIFY_NO_INDEX);
  assert_int_equal(strlen(err.path), sizeof err.path - 1);
  assert_memory_equal(err.path, "Top.nnn", 7);

  assert_int_equal(pb_verify_ok(&err), PB_OK);
  assert_int_equal(err.code, PB_OK);
  assert_string_equal(err.path, "");
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(arena_allocations_are_aligned_and_stable),
      cmocka_unit_test(arena_rejects_overflow_and_null),
      cmocka_unit_test(arena_sized_counts_its_blocks),
      cmocka_unit_test(txn_arena_lives_until_the_txn_ends),
      cmocka_unit_test(nested_len_fields_patch_their_length),
      cmocka_unit_test(packed_arrays_count_and_read),
      cmocka_unit_test(packed_arrays_reject_bad_shapes),
      cmocka_unit_test(atom_pointers_round_trip),
      cmocka_unit_test(embedded_records_are_rec_fields),
      cmocka_unit_test(unknown_fields_merge_in_tag_order),
      cmocka_unit_test(field_check_matches_the_accessors),
      cmocka_unit_test(verify_paths_are_built_inside_out),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
