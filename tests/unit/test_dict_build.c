/*
 * test_dict_build - a Dictionary node is decoded in one pass straight into
 * its block (collections/dict_node.c: open_atom, decode_leaf,
 * decode_branch, block_build).  Hand-written atoms, valid and damaged one
 * way at a time, are read both ways a node is built: privately (no
 * caches) and as the object cache builds it (one block).  A damaged node
 * is PB_ECORRUPT with a detail, both ways, and reads nothing outside its
 * atom (each atom is a malloc'ed block of its exact size, so ASan sees any
 * read past it); a valid one gives exactly what it holds.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "atom/atom.h"
#include "atom/ptr.h"
#include "cache/cache.h"
#include "collections/dict.h"
#include "collections/dict_int.h"
#include "protobase/wire.h"

/* --- a store of hand-written atoms: atom k (from 1) at {0, 1, k} --- */

#define MAX_ATOMS 8

typedef struct store {
  uint8_t *atom[MAX_ATOMS];
  size_t len[MAX_ATOMS];
  size_t n;
} store;

static int st_read(void *arg, pb_atom_ptr p, pb_bytes *out) {
  store *s = arg;
  if (p.batch_hi != 0 || p.batch_lo != 1 || p.offset < 1 || p.offset > s->n)
    return PB_ENOTFOUND;
  *out = (pb_bytes){s->atom[p.offset - 1], s->len[p.offset - 1]};
  return PB_OK;
}

static pb_atom_ptr ptr_of(uint64_t k) { return (pb_atom_ptr){0, 1, k}; }

/* Adds the bytes of `b` as the next atom (an exact-size copy). */
static pb_atom_ptr add(store *s, const pb_buf *b) {
  assert_true(s->n < MAX_ATOMS);
  assert_int_equal(pb_buf_error(b), PB_OK);
  uint8_t *a = malloc(b->len);
  assert_non_null(a);
  memcpy(a, b->data, b->len);
  s->atom[s->n] = a;
  s->len[s->n] = b->len;
  return ptr_of(++s->n);
}

static void store_free(store *s) {
  for (size_t i = 0; i < s->n; i++) free(s->atom[i]);
  s->n = 0;
}

/* --- writing values by hand --- */

static void begin(pb_buf *b, uint32_t type, uint64_t nvals) {
  pb_buf_reset(b);
  pb__atom_begin(b, type);
  pb_wire_put_varint(b, nvals);
}

static void put_kind_len(pb_buf *b, uint8_t kind, const void *p, size_t n) {
  pb_buf_append(b, &kind, 1);
  pb_wire_put_varint(b, n);
  pb_buf_append(b, p, n);
}

static void put_str(pb_buf *b, const char *s) {
  put_kind_len(b, PB_VALUE_STRING, s, strlen(s));
}

static void put_uint(pb_buf *b, uint64_t u) {
  uint8_t k = PB_VALUE_UINT;
  pb_buf_append(b, &k, 1);
  pb_wire_put_varint(b, u);
}

static void put_ref(pb_buf *b, pb_atom_ptr p) {
  uint8_t k = PB_VALUE_REF, raw[PB__PTR_SIZE];
  pb_buf_append(b, &k, 1);
  pb__ptr_store(raw, &p);
  pb_buf_append(b, raw, sizeof raw);
}

/* --- reading: both ways --- */

typedef struct reader {
  pb__cache *objects;
  pb__cache_holds held;
  pb__src_caches caches;
  pb__src src;
} reader;

static void reader_init(reader *r, store *s, bool cached) {
  memset(r, 0, sizeof *r);
  if (cached) {
    assert_int_equal(pb__cache_create(NULL, &r->objects), PB_OK);
    r->caches =
        (pb__src_caches){.objects = r->objects, .holds = &r->held};
  }
  r->src = (pb__src){st_read, s, cached ? &r->caches : NULL};
}

static void reader_free(reader *r) {
  pb__cache_holds_free(&r->held);
  if (r->objects) {
    assert_int_equal(pb__cache_check(r->objects), PB_OK);
    pb__cache_destroy(r->objects);
  }
}

/* Gets `key` from the tree at `root` read one way; the result code, the
 * value in *out (copied out of the store's bytes as a kind and, for
 * STRING and BYTES, its length and first byte). */
static int get_one(store *s, pb_atom_ptr root, bool cached, const char *key,
                   pb_value *out) {
  reader r;
  reader_init(&r, s, cached);
  pb__dict *d;
  assert_int_equal(pb__dict_open(&r.src, root, &d), PB_OK);
  int rc = pb__dict_get(d, pb_str_from_cstr(key), out);
  pb__dict_free(d);
  reader_free(&r);
  return rc;
}

/* Both ways give PB_ECORRUPT for `key`, with a detail naming `what`. */
static void corrupt_both(store *s, pb_atom_ptr root, const char *key,
                         const char *what) {
  for (int cached = 0; cached < 2; cached++) {
    pb_value v;
    int rc = get_one(s, root, cached, key, &v);
    if (rc != PB_ECORRUPT)
      fail_msg("%s (%s): got %d, want PB_ECORRUPT", what,
               cached ? "cached" : "private", rc);
    if (!strstr(pb_errdetail(), what))
      fail_msg("%s (%s): the detail is \"%s\"", what,
               cached ? "cached" : "private", pb_errdetail());
  }
}

/* Both ways find `key` with a value of `kind` and `len` bytes that start
 * with `first` (STRING, BYTES) or equal `u` (UINT). */
static void found_both(store *s, pb_atom_ptr root, const char *key,
                       pb_value_kind kind, size_t len, uint64_t u) {
  for (int cached = 0; cached < 2; cached++) {
    pb_value v;
    assert_int_equal(get_one(s, root, cached, key, &v), PB_OK);
    assert_int_equal(v.kind, kind);
    if (kind == PB_VALUE_STRING) assert_int_equal(v.as.s.len, len);
    if (kind == PB_VALUE_BYTES) assert_int_equal(v.as.bytes.len, len);
    if (kind == PB_VALUE_UINT) assert_int_equal(v.as.u, u);
  }
}

static void missing_both(store *s, pb_atom_ptr root, const char *key) {
  for (int cached = 0; cached < 2; cached++) {
    pb_value v;
    assert_int_equal(get_one(s, root, cached, key, &v), PB_ENOTFOUND);
  }
}

/* --- leaves --- */

static void valid_leaf_reads_back(void **state) {
  (void)state;
  store s = {0};
  pb_buf b;
  pb_buf_init(&b);
  char long_str[300];
  memset(long_str, 'x', sizeof long_str - 1);
  long_str[sizeof long_str - 1] = '\0';
  strcpy(long_str + 100, "\xc3\xa9"); /* a 2-byte sequence, then 'x's */
  long_str[102] = 'x';
  begin(&b, PB__TYPE_DICT_LEAF, 10);
  put_str(&b, "apple");
  put_uint(&b, 7);
  put_str(&b, "banana");
  put_kind_len(&b, PB_VALUE_BYTES, "\xff\x00\x01", 3); /* not UTF-8: BYTES */
  put_str(&b, "cherry");
  put_str(&b, "h\xc3\xa9llo"); /* a short STRING: the inline path */
  put_str(&b, "date");
  put_str(&b, long_str); /* a 2-byte length: pb__value_decode */
  put_str(&b, "fig");
  put_kind_len(&b, PB_VALUE_STRING, "", 0);
  pb_atom_ptr root = add(&s, &b);
  found_both(&s, root, "apple", PB_VALUE_UINT, 0, 7);
  found_both(&s, root, "banana", PB_VALUE_BYTES, 3, 0);
  found_both(&s, root, "cherry", PB_VALUE_STRING, 6, 0);
  found_both(&s, root, "date", PB_VALUE_STRING, strlen(long_str), 0);
  found_both(&s, root, "fig", PB_VALUE_STRING, 0, 0);
  missing_both(&s, root, "apricot");
  missing_both(&s, root, "zzz");
  missing_both(&s, root, "");
  pb_buf_free(&b);
  store_free(&s);
}

/* One damaged leaf per case. */
static void damaged_leaves_are_corrupt(void **state) {
  (void)state;
  pb_buf b;
  pb_buf_init(&b);
  char big_key[PB__DICT_KEY_MAX + 2];
  memset(big_key, 'k', sizeof big_key - 1);
  big_key[sizeof big_key - 1] = '\0';
  char bad_long[200];
  memset(bad_long, 'y', sizeof bad_long);
  bad_long[150] = (char)0xc0; /* an overlong lead byte, after 150 ASCII */
  for (int c = 0;; c++) {
    store s = {0};
    const char *what = NULL;
    switch (c) {
    case 0: /* an odd count */
      begin(&b, PB__TYPE_DICT_LEAF, 3);
      put_str(&b, "a"), put_uint(&b, 1), put_str(&b, "b");
      what = "not an even number";
      break;
    case 1: /* a count larger than the values */
      begin(&b, PB__TYPE_DICT_LEAF, 6);
      put_str(&b, "a"), put_uint(&b, 1), put_str(&b, "b"), put_uint(&b, 2);
      what = "dict leaf";
      break;
    case 2: /* a count smaller than the values */
      begin(&b, PB__TYPE_DICT_LEAF, 2);
      put_str(&b, "a"), put_uint(&b, 1), put_str(&b, "b"), put_uint(&b, 2);
      what = "bytes after";
      break;
    case 3: /* a key that is not a STRING */
      begin(&b, PB__TYPE_DICT_LEAF, 4);
      put_str(&b, "a"), put_uint(&b, 1), put_uint(&b, 5), put_uint(&b, 2);
      what = "key 1 is not a valid key";
      break;
    case 4: /* keys not ascending */
      begin(&b, PB__TYPE_DICT_LEAF, 4);
      put_str(&b, "b"), put_uint(&b, 1), put_str(&b, "a"), put_uint(&b, 2);
      what = "not ascending";
      break;
    case 5: /* equal keys */
      begin(&b, PB__TYPE_DICT_LEAF, 4);
      put_str(&b, "a"), put_uint(&b, 1), put_str(&b, "a"), put_uint(&b, 2);
      what = "not ascending";
      break;
    case 6: /* a key of invalid UTF-8 */
      begin(&b, PB__TYPE_DICT_LEAF, 2);
      put_str(&b, "a\xff"), put_uint(&b, 1);
      what = "key 0 is not a valid key";
      break;
    case 7: /* a short STRING value of invalid UTF-8 (the inline path) */
      begin(&b, PB__TYPE_DICT_LEAF, 4);
      put_str(&b, "a"), put_str(&b, "ok"), put_str(&b, "b");
      put_str(&b, "\xed\xa0\x80"); /* a surrogate */
      what = "invalid UTF-8";
      break;
    case 8: /* a long STRING value of invalid UTF-8 */
      begin(&b, PB__TYPE_DICT_LEAF, 2);
      put_str(&b, "a");
      put_kind_len(&b, PB_VALUE_STRING, bad_long, sizeof bad_long);
      what = "invalid UTF-8";
      break;
    case 9: /* a BYTES value longer than the atom */
      begin(&b, PB__TYPE_DICT_LEAF, 2);
      put_str(&b, "a");
      pb_buf_append(&b, (uint8_t[]){PB_VALUE_BYTES, 50, 'x', 'y', 'z'}, 5);
      what = "bad length";
      break;
    case 10: /* a key longer than the atom */
      begin(&b, PB__TYPE_DICT_LEAF, 2);
      pb_buf_append(&b, (uint8_t[]){PB_VALUE_STRING, 9, 'a', 'b', 1}, 5);
      what = "key 0 is not a valid key";
      break;
    case 11: /* a key longer than PB__DICT_KEY_MAX */
      begin(&b, PB__TYPE_DICT_LEAF, 2);
      put_str(&b, big_key), put_uint(&b, 1);
      what = "key 0 is not a valid key";
      break;
    case 12: /* a truncated value: a kind byte and nothing after */
      begin(&b, PB__TYPE_DICT_LEAF, 2);
      put_str(&b, "a");
      pb_buf_append(&b, (uint8_t[]){PB_VALUE_UINT}, 1);
      what = "dict leaf";
      break;
    case 13: /* an unknown value kind */
      begin(&b, PB__TYPE_DICT_LEAF, 2);
      put_str(&b, "a");
      pb_buf_append(&b, (uint8_t[]){0x7e, 0}, 2);
      what = "unknown value kind";
      break;
    case 14: /* a key's length varint that runs off the end */
      begin(&b, PB__TYPE_DICT_LEAF, 2);
      pb_buf_append(&b, (uint8_t[]){PB_VALUE_STRING, 0x80, 0x80}, 3);
      what = "key 0 is not a valid key";
      break;
    case 15: /* a node of another type */
      begin(&b, PB__TYPE_LIST_LEAF, 2);
      put_str(&b, "a"), put_uint(&b, 1);
      what = "node type";
      break;
    default:
      what = NULL;
    }
    if (!what) break;
    pb_atom_ptr root = add(&s, &b);
    corrupt_both(&s, root, "a", what);
    store_free(&s);
  }
  pb_buf_free(&b);
}

/* --- branches --- */

/* A leaf of keys `lo` and `hi` (values 1, 2) at the next pointer. */
static pb_atom_ptr add_leaf(store *s, pb_buf *b, const char *lo,
                            const char *hi) {
  begin(b, PB__TYPE_DICT_LEAF, 4);
  put_str(b, lo), put_uint(b, 1), put_str(b, hi), put_uint(b, 2);
  return add(s, b);
}

static void valid_branch_reads_back(void **state) {
  (void)state;
  store s = {0};
  pb_buf b;
  pb_buf_init(&b);
  pb_atom_ptr l0 = add_leaf(&s, &b, "a", "b");
  pb_atom_ptr l1 = add_leaf(&s, &b, "m", "n");
  pb_atom_ptr l2 = add_leaf(&s, &b, "x", "y");
  begin(&b, PB__TYPE_DICT_BRANCH, 9);
  put_uint(&b, 1), put_uint(&b, 2), put_ref(&b, l0);
  put_str(&b, "m"), put_uint(&b, 2), put_ref(&b, l1);
  put_str(&b, "x"), put_uint(&b, 2), put_ref(&b, l2);
  pb_atom_ptr root = add(&s, &b);
  found_both(&s, root, "a", PB_VALUE_UINT, 0, 1);
  found_both(&s, root, "n", PB_VALUE_UINT, 0, 2);
  found_both(&s, root, "y", PB_VALUE_UINT, 0, 2);
  missing_both(&s, root, "c");
  missing_both(&s, root, "z");
  pb_buf_free(&b);
  store_free(&s);
}

static void damaged_branches_are_corrupt(void **state) {
  (void)state;
  pb_buf b;
  pb_buf_init(&b);
  for (int c = 0;; c++) {
    store s = {0};
    pb_atom_ptr l0 = add_leaf(&s, &b, "a", "b");
    pb_atom_ptr l1 = add_leaf(&s, &b, "m", "n");
    const char *what = NULL, *key = "a";
    switch (c) {
    case 0: /* not a multiple of 3 */
      begin(&b, PB__TYPE_DICT_BRANCH, 4);
      put_uint(&b, 1), put_uint(&b, 2), put_ref(&b, l0), put_str(&b, "m");
      what = "not a multiple of 3";
      break;
    case 1: /* level 0 */
      begin(&b, PB__TYPE_DICT_BRANCH, 3);
      put_uint(&b, 0), put_uint(&b, 2), put_ref(&b, l0);
      what = "bad level";
      break;
    case 2: /* a level that is not a UINT */
      begin(&b, PB__TYPE_DICT_BRANCH, 3);
      put_str(&b, "1"), put_uint(&b, 2), put_ref(&b, l0);
      what = "bad level";
      break;
    case 3: /* a count of 0 */
      begin(&b, PB__TYPE_DICT_BRANCH, 3);
      put_uint(&b, 1), put_uint(&b, 0), put_ref(&b, l0);
      what = "bad separator, count or pointer";
      break;
    case 4: /* a null REF */
      begin(&b, PB__TYPE_DICT_BRANCH, 3);
      put_uint(&b, 1), put_uint(&b, 2), put_ref(&b, (pb_atom_ptr){0, 0, 0});
      what = "bad separator, count or pointer";
      break;
    case 5: /* a separator that is not a STRING */
      begin(&b, PB__TYPE_DICT_BRANCH, 6);
      put_uint(&b, 1), put_uint(&b, 2), put_ref(&b, l0);
      put_uint(&b, 9), put_uint(&b, 2), put_ref(&b, l1);
      what = "child 1 has a bad separator";
      break;
    case 6: /* separators not ascending */
      begin(&b, PB__TYPE_DICT_BRANCH, 9);
      put_uint(&b, 1), put_uint(&b, 2), put_ref(&b, l0);
      put_str(&b, "m"), put_uint(&b, 2), put_ref(&b, l1);
      put_str(&b, "c"), put_uint(&b, 2), put_ref(&b, l1);
      what = "child 2 has a bad separator";
      break;
    case 7: /* counts that overflow */
      begin(&b, PB__TYPE_DICT_BRANCH, 6);
      put_uint(&b, 1), put_uint(&b, UINT64_MAX), put_ref(&b, l0);
      put_str(&b, "m"), put_uint(&b, 2), put_ref(&b, l1);
      what = "counts overflow";
      break;
    case 8: /* a truncated REF */
      begin(&b, PB__TYPE_DICT_BRANCH, 3);
      put_uint(&b, 1), put_uint(&b, 2);
      pb_buf_append(&b, (uint8_t[]){PB_VALUE_REF, 0, 0, 1}, 4);
      what = "bad separator, count or pointer";
      break;
    case 9: /* the child's count is not what its parent says */
      begin(&b, PB__TYPE_DICT_BRANCH, 6);
      put_uint(&b, 1), put_uint(&b, 3), put_ref(&b, l0);
      put_str(&b, "m"), put_uint(&b, 2), put_ref(&b, l1);
      what = "its parent says";
      break;
    case 10: /* a child's keys outside its parent's bounds */
      begin(&b, PB__TYPE_DICT_BRANCH, 6);
      put_uint(&b, 1), put_uint(&b, 2), put_ref(&b, l0);
      put_str(&b, "n"), put_uint(&b, 2), put_ref(&b, l1); /* m < n */
      what = "outside its bounds";
      key = "n";
      break;
    case 11: /* a child of the wrong level */
      begin(&b, PB__TYPE_DICT_BRANCH, 3);
      put_uint(&b, 2), put_uint(&b, 2), put_ref(&b, l0);
      what = "not at level";
      break;
    case 12: /* bytes after the values */
      begin(&b, PB__TYPE_DICT_BRANCH, 3);
      put_uint(&b, 1), put_uint(&b, 2), put_ref(&b, l0), put_uint(&b, 0);
      what = "bytes after";
      break;
    default:
      what = NULL;
    }
    if (!what) {
      store_free(&s);
      break;
    }
    pb_atom_ptr root = add(&s, &b);
    corrupt_both(&s, root, key, what);
    store_free(&s);
  }
  pb_buf_free(&b);
}

/* Every prefix of a valid leaf and of a valid branch (truncations) is
 * PB_ECORRUPT both ways, and so is every single-byte change of the
 * count: nothing reads past the atom (ASan) whatever the count says. */
static void truncations_and_counts(void **state) {
  (void)state;
  pb_buf b;
  pb_buf_init(&b);
  store s = {0};
  pb_atom_ptr l0 = add_leaf(&s, &b, "a", "b");
  pb_atom_ptr l1 = add_leaf(&s, &b, "m", "n");
  begin(&b, PB__TYPE_DICT_BRANCH, 6);
  put_uint(&b, 1), put_uint(&b, 2), put_ref(&b, l0);
  put_str(&b, "m"), put_uint(&b, 2), put_ref(&b, l1);
  pb_atom_ptr br = add(&s, &b);
  for (int which = 0; which < 2; which++) {
    size_t k = which == 0 ? 0 : br.offset - 1; /* leaf l0, or the branch */
    uint8_t *whole = s.atom[k];
    size_t len = s.len[k];
    for (size_t cut = 0; cut < len; cut++) {
      s.atom[k] = malloc(cut ? cut : 1);
      memcpy(s.atom[k], whole, cut);
      s.len[k] = cut;
      for (int cached = 0; cached < 2; cached++) {
        pb_value v;
        int rc = get_one(&s, which == 0 ? l0 : br, cached, "a", &v);
        assert_true(rc == PB_ECORRUPT || rc == PB_EVERSION);
      }
      free(s.atom[k]);
    }
    s.atom[k] = whole;
    s.len[k] = len;
  }
  /* The value count is the byte after the envelope; try every value. */
  pb_atom_ptr leaf = l0;
  uint8_t *a = s.atom[leaf.offset - 1];
  size_t at = s.len[leaf.offset - 1];
  for (size_t i = 0; i < s.len[leaf.offset - 1]; i++)
    if (a[i] == 4) { /* the count (the first byte that says 4) */
      at = i;
      break;
    }
  assert_true(at < s.len[leaf.offset - 1]);
  for (unsigned n = 0; n < 0x80; n++) {
    if (n == 4) continue;
    a[at] = (uint8_t)n;
    for (int cached = 0; cached < 2; cached++) {
      pb_value v;
      int rc = get_one(&s, leaf, cached, "a", &v);
      assert_int_equal(rc, PB_ECORRUPT); /* 0: bytes after no values */
    }
  }
  a[at] = 4;
  store_free(&s);
  pb_buf_free(&b);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(valid_leaf_reads_back),
      cmocka_unit_test(damaged_leaves_are_corrupt),
      cmocka_unit_test(valid_branch_reads_back),
      cmocka_unit_test(damaged_branches_are_corrupt),
      cmocka_unit_test(truncations_and_counts),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
