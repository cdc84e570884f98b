/*
 * test_atom_refs.c - the schema-free pointer walker (atom/refs.h).
 *
 * Records of tests/unit/refs/v1.pbs put atom pointers everywhere a record
 * body can hold one: a ref<R> to a record without a key, list and map
 * roots, an array of pointers, an embedded record, an array of embedded
 * records.  The walker must report each non-null pointer at the byte
 * position of its 20-byte encoding, so that patching a copy there with
 * pb__ptr_store changes exactly that pointer.  v2.pbs adds fields holding
 * pointers: a v1 program keeps them as unknown fields, and the walker must
 * find them by their bytes alone.  Hostile inputs: 2000 levels of nesting
 * (a heap stack, not recursion), every truncation, payloads that overrun
 * their parent, reserved type ids, a future format byte.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "corrupt_detail.h"

#include "atom/atom.h"
#include "atom/ptr.h"
#include "atom/refs.h"
#include "atom/value.h"
#include "protobase/protobase.h"
#include "v1.pb.h"
#include "v2.pb.h"

/* A distinct, non-null pointer for each n. */
static pb_atom_ptr P(uint64_t n) {
  return (pb_atom_ptr){0xa000000000000000ull + n, 0xb0 + n, 1000 + n};
}

static const pb_atom_ptr null_ptr = {0, 0, 0};

/* What a walk reported, in order. */
#define MAX_FOUND 64
typedef struct found {
  pb_atom_ptr aPtr[MAX_FOUND]; /* the pointers */
  size_t aPos[MAX_FOUND];      /* their positions in the atom */
  size_t n;                    /* how many */
  size_t stop_after;           /* return 42 at this call (0: never) */
} found;

static int collect(void *ctx, pb_atom_ptr ptr, size_t pos) {
  found *f = ctx;
  assert_false(pb_atom_ptr_is_null(ptr));
  if (f->n < MAX_FOUND) {
    f->aPtr[f->n] = ptr;
    f->aPos[f->n] = pos;
  }
  f->n++;
  return f->stop_after != 0 && f->n == f->stop_after ? 42 : 0;
}

static int walk(pb_bytes atom, found *f) {
  memset(f, 0, sizeof *f);
  return pb__atom_refs(atom, collect, f);
}

/* Walks `atom` and expects exactly `want` (in order), each at a position
   whose 20 bytes hold it. */
static found expect_ptrs(pb_bytes atom, const pb_atom_ptr *want, size_t n) {
  found f;
  assert_int_equal(walk(atom, &f), PB_OK);
  assert_int_equal(f.n, n);
  for (size_t i = 0; i < n; i++) {
    assert_true(pb_atom_ptr_equal(f.aPtr[i], want[i]));
    assert_true(f.aPos[i] + PB__PTR_SIZE <= atom.len);
    assert_true(pb_atom_ptr_equal(pb__ptr_load(atom.ptr + f.aPos[i]),
                                  want[i]));
  }
  return f;
}

/* Encodes a v1 Holder into a record atom in `atom`. */
static pb_bytes holder_atom(const refs1_Holder *h, pb_buf *atom) {
  pb_buf body;
  pb_buf_init(&body);
  assert_int_equal(refs1_Holder_encode(h, &body), PB_OK);
  pb_buf_reset(atom);
  pb__atom_begin(atom, PB__TYPE_RECORD_MIN);
  pb_buf_append(atom, body.data, body.len);
  assert_int_equal(pb_buf_error(atom), PB_OK);
  pb_buf_free(&body);
  return (pb_bytes){atom->data, atom->len};
}

/* --- pointers in generated records --- */

static void ref_to_unkeyed_record(void **state) {
  (void)state;
  refs1_Holder h;
  refs1_Holder_init(&h);
  h.blob = P(1);
  pb_buf atom;
  pb_buf_init(&atom);
  pb_bytes a = holder_atom(&h, &atom);
  /* Envelope (format, type 16), key (tag 2, PTR), then the pointer. */
  assert_int_equal(a.len, 2 + 1 + 20);
  assert_int_equal(a.ptr[2], 2 << 3 | PB_WT_PTR);
  found f = expect_ptrs(a, &h.blob, 1);
  assert_int_equal(f.aPos[0], 3);
  pb_buf_free(&atom);
}

static void list_and_map_roots(void **state) {
  (void)state;
  refs1_Holder h;
  refs1_Holder_init(&h);
  h.links = P(2);
  h.counts = P(3);
  pb_buf atom;
  pb_buf_init(&atom);
  pb_bytes a = holder_atom(&h, &atom);
  const pb_atom_ptr want[] = {P(2), P(3)};
  found f = expect_ptrs(a, want, 2);
  assert_int_equal(f.aPos[0], 3);
  assert_int_equal(f.aPos[1], 3 + 20 + 1);
  pb_buf_free(&atom);
}

static void array_of_pointers_skips_null(void **state) {
  (void)state;
  const pb_atom_ptr items[] = {P(4), null_ptr, P(5)};
  refs1_Holder h;
  refs1_Holder_init(&h);
  h.blobs.items = items;
  h.blobs.count = 3;
  pb_buf atom;
  pb_buf_init(&atom);
  pb_bytes a = holder_atom(&h, &atom);
  assert_int_equal(a.len, 2 + 3 * 21); /* the null item is written */
  const pb_atom_ptr want[] = {P(4), P(5)};
  found f = expect_ptrs(a, want, 2);
  assert_int_equal(f.aPos[0], 3);
  assert_int_equal(f.aPos[1], 3 + 2 * 21);
  pb_buf_free(&atom);
}

static void embedded_record_holding_a_pointer(void **state) {
  (void)state;
  refs1_Holder h;
  refs1_Holder_init(&h);
  h.link.name = pb_str_from_cstr("x");
  h.link.target = P(6);
  pb_buf atom;
  pb_buf_init(&atom);
  pb_bytes a = holder_atom(&h, &atom);
  /* Envelope 2, REC key and length 2, name field 3, PTR key 1. */
  assert_int_equal(a.ptr[2], 6 << 3 | PB_WT_REC);
  found f = expect_ptrs(a, &h.link.target, 1);
  assert_int_equal(f.aPos[0], 2 + 2 + 3 + 1);
  pb_buf_free(&atom);
}

static void array_of_embedded_records(void **state) {
  (void)state;
  refs1_Link links[3];
  for (int i = 0; i < 3; i++) refs1_Link_init(&links[i]);
  links[0].target = P(7);
  links[2].name = pb_str_from_cstr("y");
  links[2].target = P(8);
  refs1_Holder h;
  refs1_Holder_init(&h);
  h.more.items = links;
  h.more.count = 3;
  pb_buf atom;
  pb_buf_init(&atom);
  pb_bytes a = holder_atom(&h, &atom);
  const pb_atom_ptr want[] = {P(7), P(8)};
  found f = expect_ptrs(a, want, 2);
  /* more[0]: key, length, PTR key; more[1]: empty (2 bytes); more[2]. */
  assert_int_equal(f.aPos[0], 2 + 2 + 1);
  assert_int_equal(f.aPos[1], 2 + 23 + 2 + 2 + 3 + 1);
  pb_buf_free(&atom);
}

/* Every place at once, with other fields between them. */
static refs1_Holder full_holder(refs1_Link *more, pb_atom_ptr *blobs) {
  refs1_Holder h;
  refs1_Holder_init(&h);
  h.id = 77;
  h.blob = P(10);
  h.links = P(11);
  h.counts = P(12);
  blobs[0] = P(13);
  blobs[1] = P(14);
  h.blobs.items = blobs;
  h.blobs.count = 2;
  h.link.name = pb_str_from_cstr("link");
  h.link.target = P(15);
  refs1_Link_init(&more[0]);
  refs1_Link_init(&more[1]);
  more[0].name = pb_str_from_cstr("m0");
  more[1].target = P(16);
  h.more.items = more;
  h.more.count = 2;
  return h;
}

static const pb_atom_ptr full_want[] = {
    {0xa00000000000000aull, 0xba, 1010}, {0xa00000000000000bull, 0xbb, 1011},
    {0xa00000000000000cull, 0xbc, 1012}, {0xa00000000000000dull, 0xbd, 1013},
    {0xa00000000000000eull, 0xbe, 1014}, {0xa00000000000000full, 0xbf, 1015},
    {0xa000000000000010ull, 0xc0, 1016}};

static void patched_copy_walks_to_new_pointers(void **state) {
  (void)state;
  refs1_Link more[2];
  pb_atom_ptr blobs[2];
  refs1_Holder h = full_holder(more, blobs);
  pb_buf atom;
  pb_buf_init(&atom);
  pb_bytes a = holder_atom(&h, &atom);
  found f = expect_ptrs(a, full_want, 7);

  /* Rewrite every pointer in a copy, as compaction does. */
  uint8_t *copy = malloc(a.len);
  assert_non_null(copy);
  memcpy(copy, a.ptr, a.len);
  pb_atom_ptr moved[7];
  for (size_t i = 0; i < 7; i++) {
    moved[i] = (pb_atom_ptr){0x1234, 0x5678 + i, 4 * i + 8};
    pb__ptr_store(copy + f.aPos[i], &moved[i]);
  }
  pb_bytes c = {copy, a.len};
  found g = expect_ptrs(c, moved, 7);
  for (size_t i = 0; i < 7; i++) assert_int_equal(g.aPos[i], f.aPos[i]);

  /* The generated decoder sees the new pointers, the rest unchanged. */
  pb_arena *arena;
  assert_int_equal(pb_arena_create(&arena), PB_OK);
  refs1_Holder back;
  assert_int_equal(refs1_Holder_decode(&back, copy + 2, a.len - 2, arena),
                   PB_OK);
  assert_true(back.id == 77);
  assert_true(pb_atom_ptr_equal(back.blob, moved[0]));
  assert_true(pb_atom_ptr_equal(back.links, moved[1]));
  assert_true(pb_atom_ptr_equal(back.counts, moved[2]));
  assert_true(pb_atom_ptr_equal(back.blobs.items[0], moved[3]));
  assert_true(pb_atom_ptr_equal(back.blobs.items[1], moved[4]));
  assert_true(pb_atom_ptr_equal(back.link.target, moved[5]));
  assert_int_equal(back.link.name.len, 4);
  assert_true(pb_atom_ptr_is_null(back.more.items[0].target));
  assert_int_equal(back.more.items[0].name.len, 2);
  assert_true(pb_atom_ptr_equal(back.more.items[1].target, moved[6]));
  pb_arena_destroy(arena);
  free(copy);
  pb_buf_free(&atom);
}

/* Counts pointers without the fixed-size buffer of `found`. */
static int count_ptrs(void *ctx, pb_atom_ptr ptr, size_t pos) {
  (void)ptr, (void)pos;
  (*(size_t *)ctx)++;
  return 0;
}

static void every_truncation_is_corrupt_or_clean(void **state) {
  (void)state;
  refs1_Link more[2];
  pb_atom_ptr blobs[2];
  refs1_Holder h = full_holder(more, blobs);
  pb_buf atom;
  pb_buf_init(&atom);
  pb_bytes a = holder_atom(&h, &atom);
  size_t clean = 0;
  for (size_t cut = 0; cut < a.len; cut++) {
    /* An exact-size heap copy, so ASan sees a read one past the end. */
    uint8_t *p = malloc(cut ? cut : 1);
    assert_non_null(p);
    memcpy(p, a.ptr, cut);
    size_t n = 0;
    int rc = pb_test_checked(pb__atom_refs((pb_bytes){p, cut}, count_ptrs, &n),
                             PB_AT_SOURCE);
    assert_true(rc == PB_OK || rc == PB_ECORRUPT);
    assert_true(n <= 7);
    if (rc == PB_OK) clean++;
    free(p);
  }
  assert_true(clean > 0); /* cuts between top-level fields */
  pb_buf_free(&atom);
}

/* --- unknown fields of a newer schema --- */

static void newer_schema_pointers_found_by_bytes(void **state) {
  (void)state;
  /* A v2 program writes a Holder with its added pointer fields. */
  refs2_Holder v2;
  refs2_Holder_init(&v2);
  v2.id = 5;
  v2.blob = P(20);
  v2.extra = P(21);
  v2.extra_link.name = pb_str_from_cstr("new");
  v2.extra_link.target = P(22);
  pb_buf body;
  pb_buf_init(&body);
  assert_int_equal(refs2_Holder_encode(&v2, &body), PB_OK);

  /* A v1 program decodes it (keeping tags 8 and 9) and writes it back. */
  pb_arena *arena;
  assert_int_equal(pb_arena_create(&arena), PB_OK);
  refs1_Holder v1;
  assert_int_equal(refs1_Holder_decode(&v1, body.data, body.len, arena),
                   PB_OK);
  assert_true(v1.unknown_fields.len > 0);
  pb_buf atom;
  pb_buf_init(&atom);
  pb_bytes a = holder_atom(&v1, &atom);
  assert_int_equal(a.len, 2 + body.len);
  assert_memory_equal(a.ptr + 2, body.data, body.len);

  /* The walker knows no schema: it finds all three by their wire types. */
  const pb_atom_ptr want[] = {P(20), P(21), P(22)};
  found f = expect_ptrs(a, want, 3);

  /* Patching the unknown ones survives a v2 decode. */
  uint8_t *copy = malloc(a.len);
  assert_non_null(copy);
  memcpy(copy, a.ptr, a.len);
  pb_atom_ptr q = {9, 9, 9};
  pb__ptr_store(copy + f.aPos[1], &q);
  pb__ptr_store(copy + f.aPos[2], &q);
  refs2_Holder back;
  assert_int_equal(refs2_Holder_decode(&back, copy + 2, a.len - 2, arena),
                   PB_OK);
  assert_true(pb_atom_ptr_equal(back.blob, P(20)));
  assert_true(pb_atom_ptr_equal(back.extra, q));
  assert_true(pb_atom_ptr_equal(back.extra_link.target, q));
  free(copy);
  pb_arena_destroy(arena);
  pb_buf_free(&atom);
  pb_buf_free(&body);
}

/* --- hand-built record bodies --- */

/* A record atom: the envelope, then `depth` nested REC fields, the
   innermost holding a pointer field. */
static void nested_atom(pb_buf *b, size_t depth, const pb_atom_ptr *p) {
  pb_len_mark *marks = malloc(depth * sizeof *marks);
  assert_non_null(marks);
  pb__atom_begin(b, PB__TYPE_RECORD_MIN);
  for (size_t i = 0; i < depth; i++) marks[i] = pb_wire_begin_rec(b, 1);
  pb_wire_put_atom_ptr(b, 2, p);
  for (size_t i = depth; i-- > 0;) pb_wire_end_len(b, marks[i], false);
  assert_int_equal(pb_buf_error(b), PB_OK);
  free(marks);
}

static void deep_nesting_uses_no_c_stack(void **state) {
  (void)state;
  pb_buf b;
  pb_buf_init(&b);
  pb_atom_ptr p = P(30);
  nested_atom(&b, 2000, &p);
  pb_bytes a = {b.data, b.len};
  found f = expect_ptrs(a, &p, 1);
  assert_int_equal(f.aPos[0], b.len - 20);

  /* The innermost payload claims one byte more than its parent holds. */
  pb_buf_reset(&b);
  nested_atom(&b, 3, &p);
  /* Envelope 2; each level: key, one length byte. */
  assert_int_equal(b.data[2 + 2 * 2 + 1], 21);
  b.data[2 + 2 * 2 + 1] = 22;
  found g;
  assert_corrupt(walk((pb_bytes){b.data, b.len}, &g), PB_AT_SOURCE);
  pb_buf_free(&b);
}

static void malformed_atoms_are_rejected(void **state) {
  (void)state;
  found f;
  /* A future format byte; a reserved collection type; an unknown wire
     type; a PTR field cut short. */
  const uint8_t future[] = {2, 16};
  const uint8_t reserved[] = {1, 2, 0};
  const uint8_t wt6[] = {1, 16, 0x0e};
  const uint8_t cut_ptr[] = {1, 16, 0x0b, 1, 2, 3};
  assert_int_equal(walk((pb_bytes){future, 2}, &f), PB_EVERSION);
  for (uint8_t t = 0; t < PB__TYPE_RECORD_MIN; t++) {
    const uint8_t node[] = {1, t, 0}; /* a node of no values */
    bool is_node = t >= PB__TYPE_NODE_FIRST && t <= PB__TYPE_NODE_LAST;
    assert_int_equal(pb_test_checked(walk((pb_bytes){node, 3}, &f),
                                     PB_AT_SOURCE),
                     is_node ? PB_OK : PB_ECORRUPT); /* 0, 1, 9..15 */
  }
  const uint8_t reserved9[] = {1, 9, 0};
  assert_int_equal(walk((pb_bytes){reserved, 3}, &f), PB_OK); /* DICT_LEAF */
  assert_corrupt(walk((pb_bytes){reserved9, 3}, &f), PB_AT_SOURCE);
  assert_corrupt(walk((pb_bytes){wt6, 3}, &f), PB_AT_SOURCE);
  assert_corrupt(walk((pb_bytes){cut_ptr, sizeof cut_ptr}, &f), PB_AT_SOURCE);
  assert_corrupt(walk((pb_bytes){future, 1}, &f), PB_AT_SOURCE);
  /* An empty record, and one of other fields only: nothing to report. */
  const uint8_t empty[] = {1, 16};
  const uint8_t plain[] = {1, 17, 0x08, 0x01, 0x12, 0x01, 'a'};
  assert_int_equal(walk((pb_bytes){empty, 2}, &f), PB_OK);
  assert_int_equal(walk((pb_bytes){plain, sizeof plain}, &f), PB_OK);
  assert_int_equal(f.n, 0);
}

static void callback_error_stops_the_walk(void **state) {
  (void)state;
  refs1_Link more[2];
  pb_atom_ptr blobs[2];
  refs1_Holder h = full_holder(more, blobs);
  pb_buf atom;
  pb_buf_init(&atom);
  pb_bytes a = holder_atom(&h, &atom);
  found f;
  memset(&f, 0, sizeof f);
  f.stop_after = 3;
  assert_int_equal(pb__atom_refs(a, collect, &f), 42);
  assert_int_equal(f.n, 3);
  /* Also from inside an embedded record (the 6th pointer, link.target):
     the heap stack is freed (ASan checks). */
  memset(&f, 0, sizeof f);
  f.stop_after = 6;
  assert_int_equal(pb__atom_refs(a, collect, &f), 42);
  assert_int_equal(f.n, 6);
  pb_buf_free(&atom);
}

/* --- collection nodes --- */

static void node_values(void **state) {
  (void)state;
  /* A record body holding one PTR field (tag 1): 0x0b, then 20 bytes. */
  uint8_t rec_body[21] = {0x0b};
  pb_atom_ptr in_rec = P(52);
  pb__ptr_store(rec_body + 1, &in_rec);
  pb_value vals[] = {
      {.kind = PB_VALUE_STRING, .as.s = pb_str_from_cstr("key")},
      {.kind = PB_VALUE_REF, .as.ref = P(50)},
      {.kind = PB_VALUE_DICT, .as.ref = P(51)},
      {.kind = PB_VALUE_LIST, .as.ref = null_ptr}, /* empty: not reported */
      {.kind = PB_VALUE_RECORD,
       .as.rec = {.fingerprint = 7, .body = {rec_body, sizeof rec_body}}},
      {.kind = PB_VALUE_SET, .as.ref = P(53)},
      {.kind = PB_VALUE_HASHDICT, .as.ref = P(54)},
  };
  size_t nv = sizeof vals / sizeof vals[0];
  pb_buf b;
  pb_buf_init(&b);
  pb__atom_begin(&b, PB__TYPE_HASH_NODE);
  pb_wire_put_varint(&b, nv);
  for (size_t i = 0; i < nv; i++) pb__value_encode(&b, &vals[i]);
  assert_int_equal(pb_buf_error(&b), PB_OK);
  const pb_atom_ptr want[] = {P(50), P(51), P(52), P(53), P(54)};
  found f = expect_ptrs((pb_bytes){b.data, b.len}, want, 5);
  /* Envelope 2, count 1, "key" 1+1+3, REF kind 1. */
  assert_int_equal(f.aPos[0], 9);
  for (size_t cut = 0; cut < b.len; cut++) {
    size_t n = 0;
    assert_corrupt(pb__atom_refs((pb_bytes){b.data, cut}, count_ptrs, &n), PB_AT_SOURCE);
  }
  pb_buf_free(&b);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(ref_to_unkeyed_record),
      cmocka_unit_test(node_values),
      cmocka_unit_test(list_and_map_roots),
      cmocka_unit_test(array_of_pointers_skips_null),
      cmocka_unit_test(embedded_record_holding_a_pointer),
      cmocka_unit_test(array_of_embedded_records),
      cmocka_unit_test(patched_copy_walks_to_new_pointers),
      cmocka_unit_test(every_truncation_is_corrupt_or_clean),
      cmocka_unit_test(newer_schema_pointers_found_by_bytes),
      cmocka_unit_test(deep_nesting_uses_no_c_stack),
      cmocka_unit_test(malformed_atoms_are_rejected),
      cmocka_unit_test(callback_error_stops_the_walk),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
