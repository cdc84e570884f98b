/*
 * test_compact_coll.c - compaction moves every atom of every collection
 * kind and rewrites the pointers between them; afterwards each collection
 * reads back the same, including the records its REF values point at, and
 * takes more changes.
 *
 * One database holds a Dictionary (REF values, and a nested Dictionary),
 * a List of REFs, a Set and a HashDictionary whose keys are of many kinds
 * (RECORD keys without pointers among them) and whose values are REFs.
 * Twenty commits replace a tenth of the entries each, so that most atoms
 * are garbage, in small segments; then the store is compacted, checked,
 * changed, closed, reopened and checked again.  This is the test for the
 * rule of collections/hash.h: hashed keys hold no pointers, so moving atoms
 * cannot change a key's hash.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "protobase/protobase.h"
#include "support/hashkeys.h"
#include "test_util.h"

#define N 600u
#define ROUNDS 20u

static const pb_record_type thing = {.name = "test.Thing", .fingerprint = 0x7e57};

typedef struct store {
  pb_storage *st;
  pb_space *sp;
  pb_db *db;
} store;

static void open_store(store *s, const char *dir) {
  pb_file_options o;
  pb_file_options_init(&o);
  o.segment_size = 64u << 10;
  o.auto_compact = false; /* the explicit compaction finds the store grown */
  assert_int_equal(pb_storage_open_file(dir, &o, &s->st), PB_OK);
  assert_int_equal(pb_space_open(s->st, &s->sp), PB_OK);
  assert_int_equal(pb_db_open(s->sp, "main", PB_CREATE, &s->db), PB_OK);
}

static void close_store(store *s) {
  pb_db_close(s->db);
  pb_space_close(s->sp);
}

/* Record body of entry i at version v: field 1 = i, field 2 = v. */
static size_t body_of(unsigned i, unsigned v, uint8_t *out) {
  pb_buf b;
  pb_buf_init(&b);
  pb_wire_put_uint(&b, 1, i);
  pb_wire_put_uint(&b, 2, v);
  assert_int_equal(pb_buf_error(&b), PB_OK);
  memcpy(out, b.data, b.len);
  size_t n = b.len;
  pb_buf_free(&b);
  return n;
}

/* Checks that `v` is a REF to the record of entry i at version ver. */
static void expect_ref(pb_txn *t, const pb_value *v, unsigned i,
                       unsigned ver) {
  assert_int_equal(v->kind, PB_VALUE_REF);
  pb_bytes body;
  assert_int_equal(pb_txn_load_record(t, &thing, v->as.ref, &body), PB_OK);
  uint8_t want[32];
  size_t n = body_of(i, ver, want);
  assert_int_equal(body.len, n);
  assert_memory_equal(body.ptr, want, n);
}

static pb_str name_of(unsigned i, char *buf) {
  snprintf(buf, 16, "k%05u", i);
  return pb_str_from_cstr(buf);
}

/* Puts version `ver` of entry i into every collection (the List at i). */
static void write_entry(pb_txn *t, unsigned i, unsigned ver, bool append) {
  uint8_t body[32];
  size_t n = body_of(i, ver, body);
  pb_atom_ptr p;
  assert_int_equal(pb_txn_put_record(t, &thing, body, n, &p), PB_OK);
  pb_value ref = {.kind = PB_VALUE_REF, .as.ref = p};
  pb_dict *d, *inner;
  pb_list *l;
  pb_set *s;
  pb_hdict *h;
  assert_int_equal(pb_txn_open_dict(t, "dict", PB_CREATE, &d), PB_OK);
  assert_int_equal(pb_dict_open_dict(d, pb_str_from_cstr("inner"), PB_CREATE,
                                     &inner), PB_OK);
  assert_int_equal(pb_txn_open_list(t, "list", PB_CREATE, &l), PB_OK);
  assert_int_equal(pb_txn_open_set(t, "set", PB_CREATE, &s), PB_OK);
  assert_int_equal(pb_txn_open_hdict(t, "hdict", PB_CREATE, &h), PB_OK);
  char nb[16], kb[PB_TEST_KEY_BUF];
  assert_int_equal(pb_dict_put(d, name_of(i, nb), &ref), PB_OK);
  pb_value u = {.kind = PB_VALUE_UINT, .as.u = (uint64_t)i * 10 + ver};
  assert_int_equal(pb_dict_put(inner, name_of(i, nb), &u), PB_OK);
  if (append)
    assert_int_equal(pb_list_append(l, &ref), PB_OK);
  else
    assert_int_equal(pb_list_set(l, i, &ref), PB_OK);
  pb_value k = pb_test_key_of(i, kb);
  assert_int_equal(pb_set_add(s, &k, NULL), PB_OK);
  assert_int_equal(pb_hdict_put(h, &k, &ref), PB_OK);
}

/* Checks every collection against versions ver[]. */
static void check_all(pb_db *db, const unsigned *ver) {
  pb_txn *t;
  assert_int_equal(pb_txn_begin(db, PB_RDONLY, &t), PB_OK);
  pb_dict *d, *inner;
  pb_list *l;
  pb_set *s;
  pb_hdict *h;
  assert_int_equal(pb_txn_open_dict(t, "dict", 0, &d), PB_OK);
  assert_int_equal(pb_dict_open_dict(d, pb_str_from_cstr("inner"), 0, &inner),
                   PB_OK);
  assert_int_equal(pb_txn_open_list(t, "list", 0, &l), PB_OK);
  assert_int_equal(pb_txn_open_set(t, "set", 0, &s), PB_OK);
  assert_int_equal(pb_txn_open_hdict(t, "hdict", 0, &h), PB_OK);
  uint64_t n;
  assert_int_equal(pb_list_count(l, &n), PB_OK);
  assert_int_equal(n, N);
  assert_int_equal(pb_set_count(s, &n), PB_OK);
  assert_int_equal(n, N);
  assert_int_equal(pb_hdict_count(h, &n), PB_OK);
  assert_int_equal(n, N);
  for (unsigned i = 0; i < N; i++) {
    char nb[16], kb[PB_TEST_KEY_BUF];
    pb_value v;
    assert_int_equal(pb_dict_get(d, name_of(i, nb), &v), PB_OK);
    expect_ref(t, &v, i, ver[i]);
    assert_int_equal(pb_dict_get(inner, name_of(i, nb), &v), PB_OK);
    assert_int_equal(v.as.u, (uint64_t)i * 10 + ver[i]);
    assert_int_equal(pb_list_get(l, i, &v), PB_OK);
    expect_ref(t, &v, i, ver[i]);
    pb_value k = pb_test_key_of(i, kb);
    bool in = false;
    assert_int_equal(pb_set_contains(s, &k, &in), PB_OK);
    assert_true(in);
    assert_int_equal(pb_hdict_get(h, &k, &v), PB_OK);
    expect_ref(t, &v, i, ver[i]);
  }
  pb_txn_abort(t);
}

/* Gives a tenth of the entries a new version, in one commit. */
static void churn(pb_db *db, unsigned *ver, unsigned round) {
  pb_txn *t;
  assert_int_equal(pb_txn_begin(db, 0, &t), PB_OK);
  for (unsigned i = round % 10; i < N; i += 10)
    write_entry(t, i, ++ver[i], false);
  assert_int_equal(pb_txn_commit(t), PB_OK);
}

static void collections_survive_compaction(void **state) {
  (void)state;
  char *dir = pb_test_tmpdir();
  store s;
  open_store(&s, dir);
  static unsigned ver[N];
  pb_txn *t;
  assert_int_equal(pb_txn_begin(s.db, 0, &t), PB_OK);
  for (unsigned i = 0; i < N; i++) write_entry(t, i, ver[i] = 0, true);
  assert_int_equal(pb_txn_commit(t), PB_OK);
  for (unsigned r = 0; r < ROUNDS; r++) churn(s.db, ver, r);
  check_all(s.db, ver);
  pb_compact_stats cs;
  assert_int_equal(pb_storage_compact(s.st, &cs), PB_OK);
  print_message("compaction: %llu -> %llu bytes, %llu atoms kept\n",
                (unsigned long long)cs.bytes_before,
                (unsigned long long)cs.bytes_after,
                (unsigned long long)cs.atoms);
  assert_true(cs.bytes_after * 2 < cs.bytes_before); /* garbage went */
  check_all(s.db, ver);
  churn(s.db, ver, 3); /* the moved nodes take changes */
  check_all(s.db, ver);
  close_store(&s);
  open_store(&s, dir);
  check_all(s.db, ver);
  close_store(&s);
  pb_test_rmdir(dir);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(collections_survive_compaction),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
