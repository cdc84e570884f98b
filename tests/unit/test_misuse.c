/*
 * test_misuse.c - misuse of the API gets a clear error, and loses nothing:
 *
 *   - flags: every flag has a bit of its own, and each function that takes
 *     flags refuses the bits it does not accept (PB_CREATE given to
 *     pb_txn_begin no longer begins a read-only transaction);
 *   - NULL handles and pointers give PB_EINVAL, in every public function
 *     (a table) and in generated code; NULL arguments do not fail the
 *     transaction;
 *   - a transaction latches its first failed write: later calls and the
 *     commit return that error, and nothing of it is published;
 *   - a stored atom pointer must name an atom (PB_ENOTFOUND), and
 *     pb_txn_put_record refuses a body that is not a record (PB_EINVAL):
 *     after each refusal the store still compacts.
 *
 * Everything runs on file storage with the defaults (PB_DURABILITY_SYNC).
 */
#include <dirent.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "protobase/protobase.h"
#include "tasks.pb.h"
#include "test_util.h"
#include "v1.pb.h"

typedef struct env {
  char *dir;
  pb_storage *st; /* owned by sp; kept to compact */
  pb_space *sp;
  pb_db *db;
} env;

/* Opens a file storage with the defaults; caches off when !caches. */
static void env_open(env *e, bool caches) {
  e->dir = pb_test_tmpdir();
  assert_int_equal(pb_storage_open_file(e->dir, NULL, &e->st), PB_OK);
  pb_space_options o;
  pb_space_options_init(&o);
  if (!caches) memset(&o, 0, sizeof o);
  assert_int_equal(pb_space_open_ex(e->st, &o, &e->sp), PB_OK);
  assert_int_equal(pb_db_open(e->sp, "main", PB_CREATE, &e->db), PB_OK);
}

static void env_close(env *e) {
  pb_db_close(e->db);
  assert_int_equal(pb_space_close(e->sp), PB_OK);
  pb_test_rmdir(e->dir);
}

static const pb_record_type thing = {.name = "misuse.Thing",
                                     .fingerprint = 0x1234u};

static pb_value int_value(int64_t i) {
  return (pb_value){.kind = PB_VALUE_INT, .as.i = i};
}

static pb_value ref_value(pb_atom_ptr p) {
  return (pb_value){.kind = PB_VALUE_REF, .as.ref = p};
}

/* A record body: tag 1, LEN 3, "abc". */
static const char good_body[] = "\x0a\x03" "abc";
#define GOOD_SIZE 5

/* Puts a record in its own committed transaction and returns it. */
static pb_atom_ptr stored_record(env *e) {
  pb_txn *t;
  pb_atom_ptr p;
  assert_int_equal(pb_txn_begin(e->db, 0, &t), PB_OK);
  assert_int_equal(pb_txn_put_record(t, &thing, good_body, GOOD_SIZE, &p),
                   PB_OK);
  pb_value v = ref_value(p);
  assert_int_equal(pb_txn_set(t, "stored", &v), PB_OK);
  assert_int_equal(pb_txn_commit(t), PB_OK);
  return p;
}

static void compacts(env *e) {
  pb_compact_stats cs;
  assert_int_equal(pb_storage_compact(e->st, &cs), PB_OK);
  assert_true(cs.atoms > 0);
}

/* --- 1. flags --- */

static void flags_have_their_own_bits(void **state) {
  (void)state;
  const unsigned f[] = {PB_CREATE, PB_RDONLY, PB_REVERSE};
  for (size_t i = 0; i < 3; i++) {
    assert_int_not_equal(f[i], 0);
    assert_int_equal(f[i] & (f[i] - 1), 0); /* one bit */
    for (size_t j = i + 1; j < 3; j++) assert_int_equal(f[i] & f[j], 0);
  }
}

static void unknown_flag_bits_are_refused(void **state) {
  (void)state;
  env e;
  env_open(&e, true);
  const unsigned unknown[] = {0x1u, 0x2u, 0x10000u, 1u << 31};

  /* pb_db_open: PB_CREATE only; nothing is created on a refusal. */
  pb_db *db = (pb_db *)&e; /* a sentinel: must stay untouched */
  assert_int_equal(pb_db_open(e.sp, "x", PB_RDONLY, &db), PB_EINVAL);
  assert_int_equal(pb_db_open(e.sp, "x", PB_REVERSE, &db), PB_EINVAL);
  for (size_t i = 0; i < 4; i++)
    assert_int_equal(pb_db_open(e.sp, "x", PB_CREATE | unknown[i], &db),
                     PB_EINVAL);
  assert_ptr_equal(db, (pb_db *)&e);
  assert_int_equal(pb_db_open(e.sp, "x", 0, &db), PB_ENOTFOUND);

  /* pb_txn_begin: PB_RDONLY only.  PB_CREATE was 0x1 like PB_RDONLY, and
   * began a read-only transaction. */
  pb_txn *t = (pb_txn *)&e;
  assert_int_equal(pb_txn_begin(e.db, PB_CREATE, &t), PB_EINVAL);
  assert_int_equal(pb_txn_begin(e.db, PB_REVERSE, &t), PB_EINVAL);
  for (size_t i = 0; i < 4; i++) {
    assert_int_equal(pb_txn_begin(e.db, unknown[i], &t), PB_EINVAL);
    assert_int_equal(pb_txn_begin(e.db, PB_RDONLY | unknown[i], &t),
                     PB_EINVAL);
  }
  assert_ptr_equal(t, (pb_txn *)&e);
  /* The two that remain mean what they say. */
  pb_value one = int_value(1);
  assert_int_equal(pb_txn_begin(e.db, PB_RDONLY, &t), PB_OK);
  assert_int_equal(pb_txn_set(t, "a", &one), PB_ERDONLY);
  pb_txn_abort(t);
  assert_int_equal(pb_txn_begin(e.db, 0, &t), PB_OK);
  assert_int_equal(pb_txn_set(t, "a", &one), PB_OK);

  /* Openings: PB_CREATE only; a refusal creates nothing. */
  pb_dict *d = NULL;
  pb_list *l = NULL;
  pb_set *s = NULL;
  pb_hdict *h = NULL;
  assert_int_equal(pb_txn_open_dict(t, "d", PB_RDONLY, &d), PB_EINVAL);
  assert_int_equal(pb_txn_open_list(t, "l", PB_REVERSE, &l), PB_EINVAL);
  assert_int_equal(pb_txn_open_set(t, "s", PB_CREATE | 0x1u, &s), PB_EINVAL);
  assert_int_equal(pb_txn_open_hdict(t, "h", 1u << 31, &h), PB_EINVAL);
  assert_int_equal(pb_txn_open_dict(t, "d", PB_CREATE, &d), PB_OK);
  pb_dict *nd = NULL;
  pb_list *nl = NULL;
  pb_set *ns = NULL;
  pb_hdict *nh = NULL;
  pb_str k = pb_str_from_cstr("k");
  assert_int_equal(pb_dict_open_dict(d, k, PB_RDONLY, &nd), PB_EINVAL);
  assert_int_equal(pb_dict_open_list(d, k, PB_REVERSE, &nl), PB_EINVAL);
  assert_int_equal(pb_dict_open_set(d, k, PB_CREATE | 0x2u, &ns), PB_EINVAL);
  assert_int_equal(pb_dict_open_hdict(d, k, 0x1u, &nh), PB_EINVAL);
  assert_null(nd);
  assert_null(nl);
  assert_null(ns);
  assert_null(nh);
  uint64_t n = 99;
  assert_int_equal(pb_dict_count(d, &n), PB_OK);
  assert_int_equal(n, 0);

  /* pb_dict_iter_open: PB_REVERSE only. */
  pb_dict_iter *it = NULL;
  assert_int_equal(pb_dict_iter_open(d, NULL, PB_CREATE, &it), PB_EINVAL);
  assert_int_equal(pb_dict_iter_open(d, NULL, PB_RDONLY, &it), PB_EINVAL);
  assert_int_equal(pb_dict_iter_open(d, NULL, PB_REVERSE | 0x1u, &it),
                   PB_EINVAL);
  assert_null(it);
  assert_int_equal(pb_dict_iter_open(d, NULL, PB_REVERSE, &it), PB_OK);
  pb_dict_iter_close(it);

  /* None of the refusals failed the transaction. */
  assert_int_equal(pb_txn_commit(t), PB_OK);
  pb_value v;
  assert_int_equal(pb_txn_begin(e.db, PB_RDONLY, &t), PB_OK);
  assert_int_equal(pb_txn_get(t, "a", &v), PB_OK);
  assert_int_equal(pb_txn_get(t, "d", &v), PB_OK);
  assert_int_equal(pb_txn_get(t, "l", &v), PB_ENOTFOUND);
  assert_int_equal(pb_txn_get(t, "s", &v), PB_ENOTFOUND);
  assert_int_equal(pb_txn_get(t, "h", &v), PB_ENOTFOUND);
  pb_txn_abort(t);
  env_close(&e);
}

/* --- 2. NULL arguments --- */

static int list_cb(void *arg, const char *name) {
  (void)arg;
  (void)name;
  return 0;
}

static int run_cb(pb_txn *txn, void *arg) {
  (void)txn;
  (void)arg;
  return 0;
}

static int decode_cb(void *rec, const void *data, size_t size,
                     pb_arena *arena) {
  (void)rec;
  (void)data;
  (void)size;
  (void)arena;
  return PB_OK;
}

typedef struct null_case {
  const char *call;
  int rc;
} null_case;

#define C(expr) {#expr, (expr)}

static void null_arguments_give_einval(void **state) {
  (void)state;
  env e;
  env_open(&e, true);
  pb_atom_ptr rec = stored_record(&e);
  pb_txn *txn;
  assert_int_equal(pb_txn_begin(e.db, 0, &txn), PB_OK);
  pb_value one = int_value(1), v;
  assert_int_equal(pb_txn_set(txn, "before", &one), PB_OK);
  pb_dict *d;
  pb_list *l;
  pb_set *s;
  pb_hdict *h;
  assert_int_equal(pb_txn_open_dict(txn, "d", PB_CREATE, &d), PB_OK);
  assert_int_equal(pb_txn_open_list(txn, "l", PB_CREATE, &l), PB_OK);
  assert_int_equal(pb_txn_open_set(txn, "s", PB_CREATE, &s), PB_OK);
  assert_int_equal(pb_txn_open_hdict(txn, "h", PB_CREATE, &h), PB_OK);
  assert_int_equal(pb_dict_put(d, pb_str_from_cstr("k"), &one), PB_OK);
  assert_int_equal(pb_list_append(l, &one), PB_OK);
  assert_int_equal(pb_set_add(s, &one, NULL), PB_OK);
  assert_int_equal(pb_hdict_put(h, &one, &one), PB_OK);
  pb_dict_iter *dit;
  pb_list_iter *lit;
  pb_set_iter *sit;
  pb_hdict_iter *hit;
  assert_int_equal(pb_dict_iter_open(d, NULL, 0, &dit), PB_OK);
  assert_int_equal(pb_list_iter_open(l, 0, 1, &lit), PB_OK);
  assert_int_equal(pb_set_iter_open(s, &sit), PB_OK);
  assert_int_equal(pb_hdict_iter_open(h, &hit), PB_OK);

  pb_storage *st2 = NULL;
  pb_space *sp2 = NULL;
  pb_db *db2 = NULL;
  pb_txn *t2 = NULL;
  pb_dict *d2 = NULL;
  pb_list *l2 = NULL;
  pb_set *s2 = NULL;
  pb_hdict *h2 = NULL;
  pb_space_stats ss;
  pb_cache_stats cs;
  uint64_t u = 0;
  bool b = false;
  pb_str k = pb_str_from_cstr("k"), nullk = {NULL, 3};
  pb_bytes body;
  pb_arena *arena;
  pb_atom_ptr p;
  tasks_Task task;
  uint64_t epoch;
  pb_value nullstr = {.kind = PB_VALUE_STRING, .as.s = {NULL, 3}};
  pb_value nullbytes = {.kind = PB_VALUE_BYTES, .as.bytes = {NULL, 3}};
  pb_value nullrec = {.kind = PB_VALUE_RECORD,
                      .as.rec = {1, {NULL, 3}}};
  pb_dict_range nullrange = {.lo = {NULL, 2}, .has_lo = true};
  char pathbuf[4200];
  snprintf(pathbuf, sizeof pathbuf, "%s/other", e.dir);
  pb_buf buf;
  pb_buf_init(&buf);
  pb_reader rd;
  pb_reader_init(&rd, "\x08\x01", 2);
  pb_field f;
  assert_int_equal(pb_reader_next(&rd, &f), 1);
  pb_packed pk;
  size_t n = 0, bad;

  const null_case cases[] = {
      /* storage */
      C(pb_storage_open_memory(NULL)),
      C(pb_storage_open_file(NULL, NULL, &st2)),
      C(pb_storage_open_file(pathbuf, NULL, NULL)),
      C(pb_storage_compact(NULL, NULL)),
      /* space */
      C(pb_space_open(NULL, &sp2)),
      C(pb_space_open_ex(NULL, NULL, &sp2)),
      C(pb_space_list(NULL, list_cb, NULL)),
      C(pb_space_list(e.sp, NULL, NULL)),
      C(pb_space_drop(NULL, "main")),
      C(pb_space_drop(e.sp, NULL)),
      C(pb_space_stats_get(NULL, &ss)),
      C(pb_space_stats_get(e.sp, NULL)),
      C(pb_space_cache_stats(NULL, &cs, &cs)),
      /* database */
      C(pb_db_open(NULL, "main", 0, &db2)),
      C(pb_db_open(e.sp, NULL, 0, &db2)),
      C(pb_db_open(e.sp, "main", 0, NULL)),
      C(pb_db_schema_epoch(NULL, &thing, &epoch)),
      C(pb_db_schema_epoch(e.db, NULL, &epoch)),
      C(pb_db_schema_epoch(e.db, &thing, NULL)),
      /* transaction */
      C(pb_txn_begin(NULL, 0, &t2)),
      C(pb_txn_begin(e.db, 0, NULL)),
      C(pb_txn_commit(NULL)),
      C(pb_txn_put_record(NULL, &thing, good_body, GOOD_SIZE, &p)),
      C(pb_txn_put_record(txn, NULL, good_body, GOOD_SIZE, &p)),
      C(pb_txn_put_record(txn, &thing, NULL, GOOD_SIZE, &p)),
      C(pb_txn_put_record(txn, &thing, good_body, GOOD_SIZE, NULL)),
      C(pb_txn_load_record(NULL, &thing, rec, &body)),
      C(pb_txn_load_record(txn, NULL, rec, &body)),
      C(pb_txn_load_record(txn, &thing, rec, NULL)),
      C(pb_txn_load_decoded(NULL, &thing, rec, 8, decode_cb, &task)),
      C(pb_txn_load_decoded(txn, NULL, rec, 8, decode_cb, &task)),
      C(pb_txn_load_decoded(txn, &thing, rec, 8, NULL, &task)),
      C(pb_txn_load_decoded(txn, &thing, rec, 8, decode_cb, NULL)),
      C(pb_txn_arena(NULL, &arena)),
      C(pb_txn_arena(txn, NULL)),
      C(pb_txn_set(NULL, "a", &one)),
      C(pb_txn_set(txn, NULL, &one)),
      C(pb_txn_set(txn, "a", NULL)),
      C(pb_txn_set(txn, "a", &nullstr)),
      C(pb_txn_set(txn, "a", &nullbytes)),
      C(pb_txn_set(txn, "a", &nullrec)),
      C(pb_txn_get(NULL, "a", &v)),
      C(pb_txn_get(txn, NULL, &v)),
      C(pb_txn_get(txn, "a", NULL)),
      C(pb_txn_remove(NULL, "a")),
      C(pb_txn_remove(txn, NULL)),
      C(pb_txn_run(NULL, run_cb, NULL, 0)),
      C(pb_txn_run(e.db, NULL, NULL, 0)),
      /* opening collections */
      C(pb_txn_open_dict(NULL, "d", 0, &d2)),
      C(pb_txn_open_dict(txn, NULL, 0, &d2)),
      C(pb_txn_open_dict(txn, "d", 0, NULL)),
      C(pb_txn_open_list(NULL, "l", 0, &l2)),
      C(pb_txn_open_list(txn, NULL, 0, &l2)),
      C(pb_txn_open_list(txn, "l", 0, NULL)),
      C(pb_txn_open_set(NULL, "s", 0, &s2)),
      C(pb_txn_open_set(txn, NULL, 0, &s2)),
      C(pb_txn_open_set(txn, "s", 0, NULL)),
      C(pb_txn_open_hdict(NULL, "h", 0, &h2)),
      C(pb_txn_open_hdict(txn, NULL, 0, &h2)),
      C(pb_txn_open_hdict(txn, "h", 0, NULL)),
      C(pb_dict_open_dict(NULL, k, PB_CREATE, &d2)),
      C(pb_dict_open_dict(d, k, PB_CREATE, NULL)),
      C(pb_dict_open_dict(d, nullk, PB_CREATE, &d2)),
      C(pb_dict_open_list(NULL, k, PB_CREATE, &l2)),
      C(pb_dict_open_list(d, k, PB_CREATE, NULL)),
      C(pb_dict_open_set(NULL, k, PB_CREATE, &s2)),
      C(pb_dict_open_set(d, k, PB_CREATE, NULL)),
      C(pb_dict_open_hdict(NULL, k, PB_CREATE, &h2)),
      C(pb_dict_open_hdict(d, k, PB_CREATE, NULL)),
      /* Dictionary */
      C(pb_dict_get(NULL, k, &v)),
      C(pb_dict_get(d, k, NULL)),
      C(pb_dict_get(d, nullk, &v)),
      C(pb_dict_put(NULL, k, &one)),
      C(pb_dict_put(d, k, NULL)),
      C(pb_dict_put(d, nullk, &one)),
      C(pb_dict_put(d, k, &nullstr)),
      C(pb_dict_remove(NULL, k)),
      C(pb_dict_remove(d, nullk)),
      C(pb_dict_count(NULL, &u)),
      C(pb_dict_count(d, NULL)),
      C(pb_dict_iter_open(NULL, NULL, 0, &dit)),
      C(pb_dict_iter_open(d, NULL, 0, NULL)),
      C(pb_dict_iter_open(d, &nullrange, 0, &dit)),
      C(pb_dict_iter_next(NULL, &k, &v)),
      C(pb_dict_iter_next(dit, NULL, &v)),
      C(pb_dict_iter_next(dit, &k, NULL)),
      /* List */
      C(pb_list_count(NULL, &u)),
      C(pb_list_count(l, NULL)),
      C(pb_list_get(NULL, 0, &v)),
      C(pb_list_get(l, 0, NULL)),
      C(pb_list_set(NULL, 0, &one)),
      C(pb_list_set(l, 0, NULL)),
      C(pb_list_set(l, 0, &nullbytes)),
      C(pb_list_insert(NULL, 0, &one)),
      C(pb_list_insert(l, 0, NULL)),
      C(pb_list_append(NULL, &one)),
      C(pb_list_append(l, NULL)),
      C(pb_list_remove(NULL, 0)),
      C(pb_list_iter_open(NULL, 0, 1, &lit)),
      C(pb_list_iter_open(l, 0, 1, NULL)),
      C(pb_list_iter_next(NULL, &v)),
      C(pb_list_iter_next(lit, NULL)),
      /* Set */
      C(pb_set_add(NULL, &one, &b)),
      C(pb_set_add(s, NULL, &b)),
      C(pb_set_remove(NULL, &one)),
      C(pb_set_remove(s, NULL)),
      C(pb_set_contains(NULL, &one, &b)),
      C(pb_set_contains(s, NULL, &b)),
      C(pb_set_contains(s, &one, NULL)),
      C(pb_set_count(NULL, &u)),
      C(pb_set_count(s, NULL)),
      C(pb_set_union(NULL, s)),
      C(pb_set_union(s, NULL)),
      C(pb_set_intersect(NULL, s)),
      C(pb_set_intersect(s, NULL)),
      C(pb_set_subtract(NULL, s)),
      C(pb_set_subtract(s, NULL)),
      C(pb_set_iter_open(NULL, &sit)),
      C(pb_set_iter_open(s, NULL)),
      C(pb_set_iter_next(NULL, &v)),
      C(pb_set_iter_next(sit, NULL)),
      /* HashDictionary */
      C(pb_hdict_get(NULL, &one, &v)),
      C(pb_hdict_get(h, NULL, &v)),
      C(pb_hdict_get(h, &one, NULL)),
      C(pb_hdict_put(NULL, &one, &one)),
      C(pb_hdict_put(h, NULL, &one)),
      C(pb_hdict_put(h, &one, NULL)),
      C(pb_hdict_remove(NULL, &one)),
      C(pb_hdict_remove(h, NULL)),
      C(pb_hdict_count(NULL, &u)),
      C(pb_hdict_count(h, NULL)),
      C(pb_hdict_iter_open(NULL, &hit)),
      C(pb_hdict_iter_open(h, NULL)),
      C(pb_hdict_iter_next(NULL, &v, &v)),
      C(pb_hdict_iter_next(hit, NULL, &v)),
      C(pb_hdict_iter_next(hit, &v, NULL)),
      /* wire helpers and the arena */
      C(pb_buf_reserve(NULL, 1)),
      C(pb_buf_error(NULL)),
      C(pb_reader_varint(NULL, &u)),
      C(pb_reader_varint(&rd, NULL)),
      C(pb_reader_next(NULL, &f)),
      C(pb_reader_next(&rd, NULL)),
      C(pb_field_u64(NULL, &u)),
      C(pb_field_u64(&f, NULL)),
      C(pb_field_u32(&f, NULL)),
      C(pb_field_u16(&f, NULL)),
      C(pb_field_u8(&f, NULL)),
      C(pb_field_i64(&f, NULL)),
      C(pb_field_i32(&f, NULL)),
      C(pb_field_i16(&f, NULL)),
      C(pb_field_i8(&f, NULL)),
      C(pb_field_bool(&f, NULL)),
      C(pb_field_float(&f, NULL)),
      C(pb_field_double(&f, NULL)),
      C(pb_field_str(NULL, &k)),
      C(pb_field_bytes(NULL, &body)),
      C(pb_field_rec(NULL, &body)),
      C(pb_field_atom_ptr(NULL, &p)),
      C(pb_field_atom_ptr(&f, NULL)),
      C(pb_packed_count(NULL, PB_WT_VARINT, &n)),
      C(pb_packed_count(&f, PB_WT_VARINT, NULL)),
      C(pb_packed_begin(NULL, PB_WT_VARINT, &pk)),
      C(pb_packed_begin(&f, PB_WT_VARINT, NULL)),
      C(pb_packed_next(NULL, &f)),
      C(pb_len_count(NULL, &n)),
      C(pb_rec_count(&f, NULL)),
      C(pb_ptr_count(NULL, &n)),
      C(pb_field_check(NULL, PB_CHECK_U64)),
      C(pb_packed_check(NULL, PB_CHECK_U64, &n, &bad)),
      C(pb_packed_check(&f, PB_CHECK_U64, NULL, &bad)),
      C(pb_packed_check(&f, PB_CHECK_U64, &n, NULL)),
      C(pb_verify_fail(NULL, 0, "x", PB_VERIFY_NO_INDEX)),
      C(pb_verify_prefix(NULL, 0, "x", PB_VERIFY_NO_INDEX)),
      C(pb_verify_rename(NULL, 0, "x", PB_VERIFY_NO_INDEX)),
      C(pb_verify_ok(NULL)),
      C(pb_arena_create(NULL)),
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    if (cases[i].rc != PB_EINVAL)
      fail_msg("%s returned %s, not PB_EINVAL", cases[i].call,
               pb_errname(cases[i].rc));
  }
  assert_null(st2);
  assert_null(sp2);
  assert_null(db2);
  assert_null(t2);
  assert_null(d2);
  assert_null(l2);
  assert_null(s2);
  assert_null(h2);

  /* Functions without an error code: NULL is a no-op (or NULL, false). */
  pb_file_options_init(NULL);
  pb_space_options_init(NULL);
  assert_int_equal(pb_storage_close(NULL), PB_OK);
  assert_int_equal(pb_space_close(NULL), PB_OK);
  assert_int_equal(pb_db_close(NULL), PB_OK);
  assert_int_equal(pb_txn_abort(NULL), PB_OK);
  pb_dict_iter_close(NULL);
  pb_list_iter_close(NULL);
  pb_set_iter_close(NULL);
  pb_hdict_iter_close(NULL);
  pb_buf_init(NULL);
  pb_buf_reset(NULL);
  pb_buf_free(NULL);
  pb_buf_append(NULL, "x", 1);
  pb_wire_put_varint(NULL, 1);
  pb_wire_put_uint(NULL, 1, 1);
  pb_wire_put_sint(NULL, 1, -1);
  pb_wire_put_bool(NULL, 1, true);
  pb_wire_put_float(NULL, 1, 1.0f);
  pb_wire_put_double(NULL, 1, 1.0);
  pb_wire_put_len(NULL, 1, "x", 1);
  pb_wire_put_str(NULL, 1, k);
  pb_wire_put_bytes(NULL, 1, body);
  pb_wire_put_atom_ptr(NULL, 1, &p);
  pb_wire_raw_zigzag(NULL, 1);
  pb_wire_raw_float(NULL, 1.0f);
  pb_wire_raw_double(NULL, 1.0);
  pb_len_mark m = pb_wire_begin_len(NULL, 1);
  pb_wire_end_len(NULL, m, true);
  m = pb_wire_begin_rec(NULL, 1);
  pb_wire_end_len(NULL, m, false);
  pb_reader_init(NULL, "x", 1);
  pb_unknown_init(NULL, body, NULL, 0);
  pb_unknown_flush(NULL, NULL, 1);
  pb_unknown_copy(NULL, NULL, 1);
  pb_arena_destroy(NULL);
  pb_arena_reset(NULL);
  assert_null(pb_arena_alloc(NULL, 8));
  assert_null(pb_arena_alloc_array(NULL, 2, 8));
  assert_int_equal(pb_arena_allocated(NULL), 0);
  assert_false(pb_utf8_valid(NULL, 3));
  assert_int_equal(pb_str_from_cstr(NULL).len, 0);
  /* A writer given NULL data with a size writes nothing, and fails. */
  pb_wire_put_len(&buf, 1, NULL, 3);
  assert_int_equal(buf.len, 0);
  assert_int_equal(pb_buf_error(&buf), PB_EINVAL);
  pb_buf_reset(&buf);
  pb_wire_put_str(&buf, 1, nullk);
  assert_int_equal(pb_buf_error(&buf), PB_EINVAL);
  pb_buf_reset(&buf);
  pb_wire_put_atom_ptr(&buf, 1, NULL);
  assert_int_equal(pb_buf_error(&buf), PB_EINVAL);
  pb_buf_reset(&buf);
  pb_buf_append(&buf, NULL, 2);
  assert_int_equal(buf.len, 0);
  assert_int_equal(pb_buf_error(&buf), PB_EINVAL);
  pb_buf_free(&buf);

  /* NULL arguments did not fail the transaction. */
  pb_dict_iter_close(dit);
  pb_list_iter_close(lit);
  pb_set_iter_close(sit);
  pb_hdict_iter_close(hit);
  assert_int_equal(pb_txn_get(txn, "before", &v), PB_OK);
  assert_int_equal(pb_txn_commit(txn), PB_OK);
  assert_int_equal(pb_txn_begin(e.db, PB_RDONLY, &txn), PB_OK);
  assert_int_equal(pb_txn_get(txn, "before", &v), PB_OK);
  assert_int_equal(pb_txn_get(txn, "a", &v), PB_ENOTFOUND);
  pb_txn_abort(txn);
  env_close(&e);
}

/* Generated code (schemas/tasks.pbs, tests/unit/refs/v1.pbs). */
static void generated_null_arguments(void **state) {
  (void)state;
  env e;
  env_open(&e, true);
  pb_atom_ptr rec = stored_record(&e);
  pb_txn *txn;
  assert_int_equal(pb_txn_begin(e.db, 0, &txn), PB_OK);
  tasks_Task t;
  tasks_Task_init(NULL); /* a no-op */
  tasks_Task_init(&t);
  t.id = 7;
  pb_buf buf;
  pb_buf_init(&buf);
  pb_arena *arena;
  assert_int_equal(pb_arena_create(&arena), PB_OK);
  pb_atom_ptr p;
  assert_int_equal(tasks_Task_encode(NULL, &buf), PB_EINVAL);
  assert_int_equal(tasks_Task_encode(&t, NULL), PB_EINVAL);
  assert_int_equal(buf.len, 0);
  assert_int_equal(tasks_Task_encode(&t, &buf), PB_OK);
  assert_int_equal(tasks_Task_decode(NULL, buf.data, buf.len, arena),
                   PB_EINVAL);
  assert_int_equal(tasks_Task_decode(&t, NULL, 3, arena), PB_EINVAL);
  assert_int_equal(tasks_Task_decode(&t, NULL, 0, arena), PB_OK);
  assert_int_equal(tasks_Task_verify(NULL, 3, NULL), PB_EINVAL);
  assert_int_equal(tasks_Task_verify(NULL, 0, NULL), PB_OK);
  assert_int_equal(tasks_Task_put(NULL, &t, &p), PB_EINVAL);
  assert_int_equal(tasks_Task_put(txn, NULL, &p), PB_EINVAL);
  assert_int_equal(tasks_Task_put(txn, &t, NULL), PB_EINVAL);
  assert_int_equal(tasks_Task_load(NULL, rec, &t), PB_EINVAL);
  assert_int_equal(tasks_Task_load(txn, rec, NULL), PB_EINVAL);
  /* A record with arrays, embedded records and pointers. */
  refs1_Holder hd;
  refs1_Holder_init(NULL);
  refs1_Holder_init(&hd);
  assert_int_equal(refs1_Holder_encode(NULL, &buf), PB_EINVAL);
  assert_int_equal(refs1_Holder_decode(NULL, NULL, 0, arena), PB_EINVAL);
  assert_int_equal(refs1_Holder_decode(&hd, NULL, 5, arena), PB_EINVAL);
  assert_int_equal(refs1_Holder_decode(&hd, NULL, 0, NULL), PB_EINVAL);
  assert_int_equal(refs1_Holder_verify(NULL, 5, NULL), PB_EINVAL);
  assert_int_equal(refs1_Holder_put(NULL, &hd, &p), PB_EINVAL);
  assert_int_equal(refs1_Holder_put(txn, NULL, &p), PB_EINVAL);
  assert_int_equal(refs1_Holder_put(txn, &hd, NULL), PB_EINVAL);
  assert_int_equal(refs1_Holder_load(txn, rec, NULL), PB_EINVAL);
  /* Still usable: the NULLs did not fail it. */
  assert_int_equal(tasks_Task_put(txn, &t, &p), PB_OK);
  assert_int_equal(refs1_Holder_put(txn, &hd, &p), PB_OK);
  assert_int_equal(pb_txn_commit(txn), PB_OK);
  pb_arena_destroy(arena);
  pb_buf_free(&buf);
  env_close(&e);
}

/* --- 3. the write latch --- */

/* Overwrites every occurrence of `from` with `to` (same length) in the
 * files of `dir`.  Returns how many it changed. */
static int patch_files(const char *dir, const char *from, const char *to) {
  size_t n = strlen(from);
  assert_int_equal(strlen(to), n);
  DIR *dp = opendir(dir);
  assert_non_null(dp);
  int hits = 0;
  struct dirent *de;
  while ((de = readdir(dp)) != NULL) {
    char path[4300];
    snprintf(path, sizeof path, "%s/%s", dir, de->d_name);
    struct stat sb;
    if (stat(path, &sb) != 0 || !S_ISREG(sb.st_mode)) continue;
    int fd = open(path, O_RDWR);
    assert_true(fd >= 0);
    uint8_t *data = malloc((size_t)sb.st_size + 1);
    assert_non_null(data);
    assert_int_equal(pread(fd, data, (size_t)sb.st_size, 0), sb.st_size);
    for (off_t i = 0; i + (off_t)n <= sb.st_size; i++) {
      if (memcmp(data + i, from, n) != 0) continue;
      assert_int_equal(pwrite(fd, to, n, i), (ssize_t)n);
      hits++;
    }
    free(data);
    close(fd);
  }
  closedir(dp);
  return hits;
}

static void failed_write_latches(void **state) {
  (void)state;
  env e;
  /* Caches off, so that reads see the storage's bytes (patched below). */
  env_open(&e, false);
  pb_txn *txn;
  assert_int_equal(pb_txn_begin(e.db, 0, &txn), PB_OK);
  for (int i = 0; i < 300; i++) {
    char name[16];
    snprintf(name, sizeof name, "k%03d", i);
    pb_value v = int_value(i);
    assert_int_equal(pb_txn_set(txn, name, &v), PB_OK);
  }
  assert_int_equal(pb_txn_commit(txn), PB_OK);
  /* Damage one key of one leaf: "k201" becomes "a201", out of order, so
   * the leaf no longer decodes.  A change that reaches that leaf fails
   * midway with PB_ECORRUPT. */
  assert_int_equal(patch_files(e.dir, "k201", "a201"), 1);

  assert_int_equal(pb_txn_begin(e.db, 0, &txn), PB_OK);
  pb_value v = int_value(1), got;
  assert_int_equal(pb_txn_set(txn, "aaa", &v), PB_OK); /* another leaf */
  pb_dict *d;
  assert_int_equal(pb_txn_open_dict(txn, "coll", PB_CREATE, &d), PB_OK);
  assert_int_equal(pb_dict_put(d, pb_str_from_cstr("x"), &v), PB_OK);
  int first = pb_txn_set(txn, "k201x", &v);
  assert_int_equal(first, PB_ECORRUPT);
  /* Every later call returns the first error: writes, reads, the
   * collections, and the commit, which publishes nothing. */
  assert_int_equal(pb_txn_set(txn, "zzz", &v), first);
  assert_int_equal(pb_txn_get(txn, "aaa", &got), first);
  assert_int_equal(pb_txn_remove(txn, "aaa"), first);
  pb_atom_ptr p;
  assert_int_equal(pb_txn_put_record(txn, &thing, good_body, GOOD_SIZE, &p),
                   first);
  tasks_Task t;
  tasks_Task_init(&t);
  assert_int_equal(tasks_Task_put(txn, &t, &p), first);
  assert_int_equal(pb_dict_put(d, pb_str_from_cstr("y"), &v), first);
  assert_int_equal(pb_dict_get(d, pb_str_from_cstr("x"), &got), first);
  pb_list *l;
  assert_int_equal(pb_txn_open_list(txn, "l", PB_CREATE, &l), first);
  /* NULL arguments are still PB_EINVAL (checked before the latch). */
  assert_int_equal(pb_txn_set(txn, NULL, &v), PB_EINVAL);
  assert_int_equal(pb_txn_commit(txn), first);

  /* A new transaction sees nothing of the failed one. */
  assert_int_equal(pb_txn_begin(e.db, PB_RDONLY, &txn), PB_OK);
  assert_int_equal(pb_txn_get(txn, "aaa", &got), PB_ENOTFOUND);
  assert_int_equal(pb_txn_get(txn, "coll", &got), PB_ENOTFOUND);
  assert_int_equal(pb_txn_get(txn, "zzz", &got), PB_ENOTFOUND);
  assert_int_equal(pb_txn_get(txn, "k000", &got), PB_OK);
  assert_int_equal(got.as.i, 0);
  pb_txn_abort(txn);
  /* Put the byte back so the directory is whole again. */
  assert_int_equal(patch_files(e.dir, "a201", "k201"), 1);
  env_close(&e);
}

/* Refusals that change nothing do not latch: the transaction goes on. */
static void refusals_do_not_latch(void **state) {
  (void)state;
  env e;
  env_open(&e, true);
  pb_txn *txn;
  assert_int_equal(pb_txn_begin(e.db, 0, &txn), PB_OK);
  pb_value v = int_value(5), got;
  pb_atom_ptr nowhere = {1, 2, 3}, p;
  pb_value bad_ref = ref_value(nowhere);
  assert_int_equal(pb_txn_set(txn, "r", &bad_ref), PB_ENOTFOUND);
  assert_int_equal(pb_txn_put_record(txn, &thing, "\xff", 1, &p), PB_EINVAL);
  assert_int_equal(pb_txn_remove(txn, "missing"), PB_ENOTFOUND);
  assert_int_equal(pb_txn_set(txn, "", &v), PB_EINVAL);
  pb_list *l;
  assert_int_equal(pb_txn_open_list(txn, "l", PB_CREATE, &l), PB_OK);
  assert_int_equal(pb_list_remove(l, 3), PB_ERANGE);
  pb_dict *d;
  assert_int_equal(pb_txn_open_dict(txn, "l", 0, &d), PB_ESCHEMA);
  assert_int_equal(pb_txn_set(txn, "ok", &v), PB_OK);
  assert_int_equal(pb_txn_get(txn, "ok", &got), PB_OK);
  assert_int_equal(pb_txn_commit(txn), PB_OK);
  assert_int_equal(pb_txn_begin(e.db, PB_RDONLY, &txn), PB_OK);
  assert_int_equal(pb_txn_get(txn, "ok", &got), PB_OK);
  assert_int_equal(got.as.i, 5);
  assert_int_equal(pb_txn_get(txn, "r", &got), PB_ENOTFOUND);
  pb_txn_abort(txn);
  env_close(&e);
}

/* --- 4. stored pointers must name atoms --- */

/* Commits `txn` (holding a valid change besides the refused ones), then
 * compacts. */
static void commit_and_compact(env *e, pb_txn *txn) {
  pb_value v = int_value(9);
  assert_int_equal(pb_txn_set(txn, "valid", &v), PB_OK);
  assert_int_equal(pb_txn_commit(txn), PB_OK);
  compacts(e);
}

static void dangling_pointers_are_refused(void **state) {
  (void)state;
  env e;
  env_open(&e, true);
  pb_atom_ptr stored = stored_record(&e), own, list_root;
  pb_txn *txn;
  pb_value got;

  /* The ways to miss: an unknown batch, past the end of a known batch,
   * inside an atom, and a transaction's own batch past its end. */
  pb_atom_ptr unknown = {1, 2, 3}, past = stored, inside = stored;
  past.offset += 1u << 20;
  inside.offset += 2;
  assert_int_equal(pb_txn_begin(e.db, 0, &txn), PB_OK);
  assert_int_equal(pb_txn_put_record(txn, &thing, good_body, GOOD_SIZE, &own),
                   PB_OK);
  pb_atom_ptr own_past = own, own_inside = own;
  own_past.offset += 4096;
  own_inside.offset += 1;
  const pb_atom_ptr misses[] = {unknown, past, inside, own_past, own_inside};
  for (size_t i = 0; i < 5; i++) {
    pb_value r = ref_value(misses[i]);
    assert_int_equal(pb_txn_set(txn, "r", &r), PB_ENOTFOUND);
  }
  /* Atoms that exist: stored, own, and the null pointer. */
  pb_value r = ref_value(stored);
  assert_int_equal(pb_txn_set(txn, "r1", &r), PB_OK);
  r = ref_value(own);
  assert_int_equal(pb_txn_set(txn, "r2", &r), PB_OK);
  r = ref_value((pb_atom_ptr){0, 0, 0});
  assert_int_equal(pb_txn_set(txn, "r3", &r), PB_OK);
  commit_and_compact(&e, txn);

  /* A nested collection's root must be a node of its kind. */
  assert_int_equal(pb_txn_begin(e.db, 0, &txn), PB_OK);
  pb_list *l;
  pb_value one = int_value(1);
  assert_int_equal(pb_txn_open_list(txn, "list", PB_CREATE, &l), PB_OK);
  assert_int_equal(pb_list_append(l, &one), PB_OK);
  assert_int_equal(pb_txn_commit(txn), PB_OK);
  assert_int_equal(pb_txn_begin(e.db, 0, &txn), PB_OK);
  assert_int_equal(pb_txn_get(txn, "list", &got), PB_OK);
  list_root = got.as.ref;
  assert_int_equal(pb_txn_get(txn, "stored", &got), PB_OK);
  stored = got.as.ref; /* moved by the compaction */
  pb_value c = {.kind = PB_VALUE_DICT, .as.ref = list_root};
  assert_int_equal(pb_txn_set(txn, "c", &c), PB_ENOTFOUND);
  c.as.ref = stored; /* a record, not a node */
  assert_int_equal(pb_txn_set(txn, "c", &c), PB_ENOTFOUND);
  c.kind = PB_VALUE_LIST;
  c.as.ref = list_root;
  assert_int_equal(pb_txn_set(txn, "c", &c), PB_OK); /* a second name */
  commit_and_compact(&e, txn);

  /* Every collection put, and a RECORD value's pointer fields. */
  assert_int_equal(pb_txn_begin(e.db, 0, &txn), PB_OK);
  assert_int_equal(pb_txn_get(txn, "stored", &got), PB_OK);
  stored = got.as.ref;
  pb_dict *d;
  pb_set *s;
  pb_hdict *h;
  assert_int_equal(pb_txn_open_dict(txn, "d", PB_CREATE, &d), PB_OK);
  assert_int_equal(pb_txn_open_list(txn, "l", PB_CREATE, &l), PB_OK);
  assert_int_equal(pb_txn_open_set(txn, "s", PB_CREATE, &s), PB_OK);
  assert_int_equal(pb_txn_open_hdict(txn, "h", PB_CREATE, &h), PB_OK);
  assert_int_equal(pb_list_append(l, &one), PB_OK);
  pb_value bad = ref_value(unknown);
  pb_str k = pb_str_from_cstr("k");
  assert_int_equal(pb_dict_put(d, k, &bad), PB_ENOTFOUND);
  assert_int_equal(pb_list_append(l, &bad), PB_ENOTFOUND);
  assert_int_equal(pb_list_insert(l, 0, &bad), PB_ENOTFOUND);
  assert_int_equal(pb_list_set(l, 0, &bad), PB_ENOTFOUND);
  assert_int_equal(pb_hdict_put(h, &one, &bad), PB_ENOTFOUND);
  assert_int_equal(pb_set_add(s, &bad, NULL), PB_EINVAL); /* no pointers */
  /* A RECORD value whose body points nowhere: tag 2, PTR to `unknown`. */
  uint8_t rb[21] = {2 << 3 | PB_WT_PTR};
  pb_buf enc;
  pb_buf_init(&enc);
  refs1_Link link;
  refs1_Link_init(&link);
  link.target = unknown;
  assert_int_equal(refs1_Link_encode(&link, &enc), PB_OK);
  assert_int_equal(enc.len, sizeof rb);
  memcpy(rb, enc.data, sizeof rb);
  pb_value inline_rec = {.kind = PB_VALUE_RECORD,
                         .as.rec = {refs1_Link_FINGERPRINT, {rb, sizeof rb}}};
  assert_int_equal(pb_dict_put(d, k, &inline_rec), PB_ENOTFOUND);
  assert_int_equal(pb_txn_set(txn, "inline", &inline_rec), PB_ENOTFOUND);
  /* The same with pointers that name atoms is stored. */
  pb_value good = ref_value(stored);
  assert_int_equal(pb_dict_put(d, k, &good), PB_OK);
  assert_int_equal(pb_list_set(l, 0, &good), PB_OK);
  assert_int_equal(pb_hdict_put(h, &one, &good), PB_OK);
  link.target = stored;
  pb_buf_reset(&enc);
  assert_int_equal(refs1_Link_encode(&link, &enc), PB_OK);
  inline_rec.as.rec.body = (pb_bytes){enc.data, enc.len};
  assert_int_equal(pb_txn_set(txn, "inline", &inline_rec), PB_OK);
  commit_and_compact(&e, txn);

  /* A record's ref field, through _put and pb_txn_put_record. */
  assert_int_equal(pb_txn_begin(e.db, 0, &txn), PB_OK);
  assert_int_equal(pb_txn_get(txn, "stored", &got), PB_OK);
  stored = got.as.ref;
  pb_atom_ptr p;
  link.target = unknown;
  assert_int_equal(refs1_Link_put(txn, &link, &p), PB_ENOTFOUND);
  refs1_Holder hd;
  refs1_Holder_init(&hd);
  hd.link.target = past; /* inside an embedded record */
  assert_int_equal(refs1_Holder_put(txn, &hd, &p), PB_ENOTFOUND);
  pb_buf_reset(&enc);
  link.target = inside;
  assert_int_equal(refs1_Link_encode(&link, &enc), PB_OK);
  assert_int_equal(
      pb_txn_put_record(txn, &refs1_Link_type, enc.data, enc.len, &p),
      PB_ENOTFOUND);
  link.target = stored;
  assert_int_equal(refs1_Link_put(txn, &link, &p), PB_OK);
  r = ref_value(p);
  assert_int_equal(pb_txn_set(txn, "link", &r), PB_OK);
  refs1_Link back;
  assert_int_equal(refs1_Link_load(txn, p, &back), PB_OK);
  assert_true(pb_atom_ptr_equal(back.target, stored));
  link.target = (pb_atom_ptr){0, 0, 0}; /* null stays allowed */
  assert_int_equal(refs1_Link_put(txn, &link, &p), PB_OK);
  commit_and_compact(&e, txn);
  pb_buf_free(&enc);

  /* All that was stored reads back after the compactions. */
  assert_int_equal(pb_txn_begin(e.db, PB_RDONLY, &txn), PB_OK);
  assert_int_equal(pb_txn_get(txn, "link", &got), PB_OK);
  assert_int_equal(refs1_Link_load(txn, got.as.ref, &back), PB_OK);
  pb_bytes body;
  assert_int_equal(pb_txn_load_record(txn, &thing, back.target, &body), PB_OK);
  assert_int_equal(body.len, GOOD_SIZE);
  assert_memory_equal(body.ptr, good_body, GOOD_SIZE);
  assert_int_equal(pb_txn_get(txn, "r", &got), PB_ENOTFOUND);
  pb_txn_abort(txn);
  env_close(&e);
}

/* --- 5. pb_txn_put_record takes record bodies only --- */

static void non_record_bodies_are_refused(void **state) {
  (void)state;
  env e;
  env_open(&e, true);
  stored_record(&e);
  static const struct {
    const char *bytes;
    size_t size;
  } junk[] = {
      {"\xff", 1},                   /* a key whose varint never ends */
      {"abc", 3},                    /* tag 12, I64 without its 8 bytes */
      {"\x00\x01", 2},               /* tag 0 */
      {"\x0e", 1},                   /* wire type 6 */
      {"\x0a\x05" "ab", 4},          /* LEN past the end */
      {"\x1b\x01\x02", 3},           /* PTR without its 20 bytes */
      {"\x0c\x04\x0a\x05" "ab", 6},  /* REC whose field runs past it */
      {"\x08", 1},                   /* a key without its value */
  };
  for (size_t i = 0; i < sizeof junk / sizeof junk[0]; i++) {
    pb_txn *txn;
    pb_atom_ptr p = {7, 7, 7};
    assert_int_equal(pb_txn_begin(e.db, 0, &txn), PB_OK);
    assert_int_equal(
        pb_txn_put_record(txn, &thing, junk[i].bytes, junk[i].size, &p),
        PB_EINVAL);
    assert_int_equal(p.offset, 7); /* untouched */
    /* The empty body and a valid one are records. */
    assert_int_equal(pb_txn_put_record(txn, &thing, NULL, 0, &p), PB_OK);
    pb_value r = ref_value(p);
    assert_int_equal(pb_txn_set(txn, "empty", &r), PB_OK);
    commit_and_compact(&e, txn);
  }
  env_close(&e);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(flags_have_their_own_bits),
      cmocka_unit_test(unknown_flag_bits_are_refused),
      cmocka_unit_test(null_arguments_give_einval),
      cmocka_unit_test(generated_null_arguments),
      cmocka_unit_test(failed_write_latches),
      cmocka_unit_test(refusals_do_not_latch),
      cmocka_unit_test(dangling_pointers_are_refused),
      cmocka_unit_test(non_record_bodies_are_refused),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
