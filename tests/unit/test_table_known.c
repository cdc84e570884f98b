/*
 * test_table_known.c - the tables a transaction handle resolved
 * (table/table.c, pb_txn.tab_known): a read transaction opens a table it
 * resolved in the same database root before without looking the catalog
 * or the database root up again, and never serves another root's rows.
 *
 * Records: tests/unit/evolve/v1.pbs (evo1.Item) and v2.pbs (evo2.Item, its
 * next version, which takes evo1.Item's table over), and four tables of
 * tests/unit/tables/tprop.pbs.
 *
 * malloc, calloc and realloc are wrapped at link time (-Wl,--wrap=...,
 * tests/CMakeLists.txt) to count what the calling thread allocates.
 *
 *   warm_get_allocates_nothing  once warm, begin + a typed get + abort
 *                               allocates nothing (also a miss)
 *   root_change                 a commit (update, delete, insert) is seen
 *                               by the next read on the same handle; a
 *                               reader that began before it still sees its
 *                               own snapshot
 *   table_created_later         a table read before it exists, then
 *                               created: the next read finds its rows
 *   schema_change               a newer schema version writes: readers of
 *                               either version on the same handle see its
 *                               rows, decoded under their own version
 *   many_tables                 more tables than the handle remembers, in
 *                               turn and in other orders, with commits
 *                               between: each read gets its own table's
 *                               row
 *   views_last_the_transaction  in one read transaction, gets from more
 *                               tables than the handle remembers, in
 *                               several orders, with the object cache off:
 *                               every row's views stay valid until it ends
 *   compaction                  reads after a compaction moved every atom,
 *                               and a reader from before it, still reading
 *   def_replaced                one definition object holding another
 *                               table's definition, then a broken one:
 *                               each read uses the one it is given
 *   concurrent_writer           a thread commits generations (two rows per
 *                               commit) while this one reads, each read in
 *                               a transaction of its own: both rows of a
 *                               read agree and generations never go back
 *
 * The default storage (file, PB_DURABILITY_SYNC) and the default caches.
 */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "protobase/protobase.h"
#include "protobase/table.h"
#include "test_util.h"
#include "tprop.pb.h"
#include "v1.pb.h"
#include "v2.pb.h"

/* --- the allocation hook --- */

static _Thread_local bool counting;
static _Thread_local unsigned long n_allocs;

void *__real_malloc(size_t n);
void *__real_calloc(size_t n, size_t size);
void *__real_realloc(void *p, size_t n);
void *__wrap_malloc(size_t n);
void *__wrap_calloc(size_t n, size_t size);
void *__wrap_realloc(void *p, size_t n);

void *__wrap_malloc(size_t n) {
  if (counting) n_allocs++;
  return __real_malloc(n);
}

void *__wrap_calloc(size_t n, size_t size) {
  if (counting) n_allocs++;
  return __real_calloc(n, size);
}

void *__wrap_realloc(void *p, size_t n) {
  if (counting) n_allocs++;
  return __real_realloc(p, n);
}

/* --- the store --- */

typedef struct store {
  char *dir;
  pb_storage *st;
  pb_space *sp;
  pb_db *db;
} store;

static void open_store(store *s) {
  s->dir = pb_test_tmpdir();
  assert_int_equal(pb_storage_open_file(s->dir, NULL, &s->st), PB_OK);
  assert_int_equal(pb_space_open(s->st, &s->sp), PB_OK);
  assert_int_equal(pb_db_open(s->sp, "main", PB_CREATE, &s->db), PB_OK);
}

static void close_store(store *s) {
  assert_int_equal(pb_db_close(s->db), PB_OK);
  assert_int_equal(pb_space_close(s->sp), PB_OK);
  pb_test_rmdir(s->dir);
}

/* Upserts v1 rows id -> name "<prefix><id>" for ids [lo, hi). */
static void put_v1(store *s, uint64_t lo, uint64_t hi, const char *prefix) {
  pb_txn *t;
  assert_int_equal(pb_txn_begin(s->db, 0, &t), PB_OK);
  for (uint64_t id = lo; id < hi; id++) {
    char name[32];
    snprintf(name, sizeof name, "%s%llu", prefix, (unsigned long long)id);
    evo1_Item it;
    evo1_Item_init(&it);
    it.id = id;
    it.name = pb_str_from_cstr(name);
    it.old_count = (int32_t)id;
    assert_int_equal(evo1_Item_upsert(t, &it), PB_OK);
  }
  assert_int_equal(pb_txn_commit(t), PB_OK);
}

static void assert_name(pb_str got, const char *want) {
  assert_int_equal(got.len, strlen(want));
  assert_memory_equal(got.ptr, want, got.len);
}

/* In a read transaction of its own: row id under v1 has name `want`
 * (NULL: no such row). */
static void read_v1(store *s, uint64_t id, const char *want) {
  pb_txn *t;
  evo1_Item it;
  assert_int_equal(pb_txn_begin(s->db, PB_RDONLY, &t), PB_OK);
  int rc = evo1_Item_get(t, id, &it);
  if (want) {
    assert_int_equal(rc, PB_OK);
    assert_int_equal(it.id, id);
    assert_name(it.name, want);
  } else {
    assert_int_equal(rc, PB_ENOTFOUND);
  }
  assert_int_equal(pb_txn_abort(t), PB_OK);
}

static void warm_get_allocates_nothing(void **state) {
  (void)state;
  store s;
  open_store(&s);
  put_v1(&s, 1, 200, "a");
  read_v1(&s, 5, "a5"); /* warm: the handle, the table resolved */
  read_v1(&s, 6, "a6");
  n_allocs = 0;
  counting = true;
  for (uint64_t i = 1; i < 200; i++) {
    pb_txn *t;
    evo1_Item it;
    assert_int_equal(pb_txn_begin(s.db, PB_RDONLY, &t), PB_OK);
    assert_int_equal(evo1_Item_get(t, i, &it), PB_OK);
    assert_int_equal(it.id, i);
    assert_int_equal(evo1_Item_get(t, 1000 + i, &it), PB_ENOTFOUND);
    assert_int_equal(pb_txn_abort(t), PB_OK);
  }
  counting = false;
  print_message("199 x (begin + 2 typed gets + abort), warm: %lu "
                "allocations\n",
                n_allocs);
  assert_int_equal(n_allocs, 0);
  close_store(&s);
}

static void root_change(void **state) {
  (void)state;
  store s;
  open_store(&s);
  put_v1(&s, 1, 50, "a");
  read_v1(&s, 7, "a7");
  read_v1(&s, 7, "a7");
  /* An update: the next read on the same handle sees it. */
  put_v1(&s, 7, 8, "b");
  read_v1(&s, 7, "b7");
  read_v1(&s, 8, "a8");
  /* A reader that began before a commit keeps its snapshot, also after a
   * later reader resolved the table in the new root. */
  pb_txn *old;
  evo1_Item it;
  assert_int_equal(pb_txn_begin(s.db, PB_RDONLY, &old), PB_OK);
  assert_int_equal(evo1_Item_get(old, 8, &it), PB_OK);
  put_v1(&s, 8, 9, "c");
  read_v1(&s, 8, "c8");
  assert_int_equal(evo1_Item_get(old, 8, &it), PB_OK);
  assert_name(it.name, "a8");
  assert_int_equal(pb_txn_abort(old), PB_OK);
  read_v1(&s, 8, "c8");
  /* A delete, then a new row. */
  pb_txn *t;
  assert_int_equal(pb_txn_begin(s.db, 0, &t), PB_OK);
  assert_int_equal(evo1_Item_delete(t, 9), PB_OK);
  assert_int_equal(pb_txn_commit(t), PB_OK);
  read_v1(&s, 9, NULL);
  put_v1(&s, 9, 10, "d");
  read_v1(&s, 9, "d9");
  /* Every row deleted: the table is empty, then filled again. */
  assert_int_equal(pb_txn_begin(s.db, 0, &t), PB_OK);
  for (uint64_t id = 1; id < 50; id++)
    assert_int_equal(evo1_Item_delete(t, id), PB_OK);
  assert_int_equal(pb_txn_commit(t), PB_OK);
  read_v1(&s, 9, NULL);
  uint64_t n = 1;
  assert_int_equal(pb_txn_begin(s.db, PB_RDONLY, &t), PB_OK);
  assert_int_equal(evo1_Item_count(t, &n), PB_OK);
  assert_int_equal(n, 0);
  assert_int_equal(pb_txn_abort(t), PB_OK);
  put_v1(&s, 9, 10, "e");
  read_v1(&s, 9, "e9");
  close_store(&s);
}

static void table_created_later(void **state) {
  (void)state;
  store s;
  open_store(&s);
  read_v1(&s, 1, NULL); /* no catalog, no table */
  read_v1(&s, 1, NULL);
  /* Another database of the same space gets a commit: this one's root
   * does not move. */
  pb_db *other;
  pb_txn *t;
  assert_int_equal(pb_db_open(s.sp, "other", PB_CREATE, &other), PB_OK);
  assert_int_equal(pb_txn_begin(other, 0, &t), PB_OK);
  pb_value v = {.kind = PB_VALUE_UINT, .as.u = 1};
  assert_int_equal(pb_txn_set(t, "x", &v), PB_OK);
  assert_int_equal(pb_txn_commit(t), PB_OK);
  read_v1(&s, 1, NULL);
  put_v1(&s, 1, 3, "a");
  read_v1(&s, 1, "a1");
  read_v1(&s, 2, "a2");
  /* The other database's commits leave this one's reads alone. */
  assert_int_equal(pb_txn_begin(other, 0, &t), PB_OK);
  assert_int_equal(pb_txn_set(t, "x", &v), PB_OK);
  assert_int_equal(pb_txn_commit(t), PB_OK);
  read_v1(&s, 2, "a2");
  assert_int_equal(pb_db_close(other), PB_OK);
  close_store(&s);
}

/* In a read transaction of its own: row id under v2. */
static void read_v2(store *s, uint64_t id, const char *name,
                    const char *note) {
  pb_txn *t;
  evo2_Item it;
  assert_int_equal(pb_txn_begin(s->db, PB_RDONLY, &t), PB_OK);
  assert_int_equal(evo2_Item_get(t, id, &it), PB_OK);
  assert_int_equal(it.id, id);
  assert_name(it.name, name);
  assert_name(it.note, note);
  assert_int_equal(pb_txn_abort(t), PB_OK);
}

static void schema_change(void **state) {
  (void)state;
  store s;
  open_store(&s);
  put_v1(&s, 1, 20, "a");
  read_v1(&s, 3, "a3"); /* v1 resolved on this handle */
  read_v1(&s, 3, "a3");
  /* v2 registers (the same table: renamed_from) and writes. */
  pb_txn *t;
  evo2_Item it;
  assert_int_equal(pb_txn_begin(s.db, 0, &t), PB_OK);
  evo2_Item_init(&it);
  it.id = 3;
  it.name = pb_str_from_cstr("v2-3");
  it.note = pb_str_from_cstr("note");
  assert_int_equal(evo2_Item_upsert(t, &it), PB_OK);
  it.id = 100;
  it.name = pb_str_from_cstr("v2-100");
  assert_int_equal(evo2_Item_insert(t, &it), PB_OK);
  assert_int_equal(pb_txn_commit(t), PB_OK);
  /* Both versions on the same handle, in turn: each its own definition,
   * both the table v2 wrote. */
  for (int r = 0; r < 3; r++) {
    read_v1(&s, 3, "v2-3");
    read_v2(&s, 3, "v2-3", "note");
    read_v1(&s, 100, "v2-100");
    read_v2(&s, 100, "v2-100", "note");
    read_v2(&s, 4, "a4", "");
  }
  /* v1 writes again (a new row, without v2's note): v2's reads see it. */
  put_v1(&s, 100, 101, "back");
  read_v2(&s, 100, "back100", "");
  read_v1(&s, 100, "back100");
  close_store(&s);
}

/* Upserts row 5 of each of the five tables, named "<prefix><table>". */
static void put_all(store *s, const char *prefix) {
  char name[5][32];
  for (int i = 0; i < 5; i++) snprintf(name[i], 32, "%s%d", prefix, i);
  pb_txn *t;
  assert_int_equal(pb_txn_begin(s->db, 0, &t), PB_OK);
  tprop_KU ku;
  tprop_KU_init(&ku);
  ku.k = 5;
  ku.name = pb_str_from_cstr(name[0]);
  assert_int_equal(tprop_KU_upsert(t, &ku), PB_OK);
  tprop_KI ki;
  tprop_KI_init(&ki);
  ki.k = 5;
  ki.name = pb_str_from_cstr(name[1]);
  assert_int_equal(tprop_KI_upsert(t, &ki), PB_OK);
  tprop_KS ks;
  tprop_KS_init(&ks);
  ks.k = pb_str_from_cstr("5");
  ks.name = pb_str_from_cstr(name[2]);
  assert_int_equal(tprop_KS_upsert(t, &ks), PB_OK);
  tprop_KB kb;
  tprop_KB_init(&kb);
  kb.k = (pb_bytes){(const uint8_t *)"5", 1};
  kb.name = pb_str_from_cstr(name[3]);
  assert_int_equal(tprop_KB_upsert(t, &kb), PB_OK);
  evo1_Item it;
  evo1_Item_init(&it);
  it.id = 5;
  it.name = pb_str_from_cstr(name[4]);
  assert_int_equal(evo1_Item_upsert(t, &it), PB_OK);
  assert_int_equal(pb_txn_commit(t), PB_OK);
}

/* Row 5 of table i (0..4, as put_all) in the open transaction t: its
 * name, a view that must last until t ends. */
static pb_str name_of(pb_txn *t, int i) {
  if (i == 0) {
    tprop_KU r;
    assert_int_equal(tprop_KU_get(t, 5, &r), PB_OK);
    return r.name;
  } else if (i == 1) {
    tprop_KI r;
    assert_int_equal(tprop_KI_get(t, 5, &r), PB_OK);
    return r.name;
  } else if (i == 2) {
    tprop_KS r;
    assert_int_equal(tprop_KS_get(t, pb_str_from_cstr("5"), &r), PB_OK);
    return r.name;
  } else if (i == 3) {
    tprop_KB r;
    pb_bytes k = {(const uint8_t *)"5", 1};
    assert_int_equal(tprop_KB_get(t, k, &r), PB_OK);
    return r.name;
  }
  evo1_Item r;
  assert_int_equal(evo1_Item_get(t, 5, &r), PB_OK);
  return r.name;
}

/* Row 5 of table i (0..4, as put_all) in a read transaction of its own. */
static void read_one(store *s, int i, const char *prefix) {
  char want[32];
  snprintf(want, sizeof want, "%s%d", prefix, i);
  pb_txn *t;
  assert_int_equal(pb_txn_begin(s->db, PB_RDONLY, &t), PB_OK);
  assert_name(name_of(t, i), want);
  assert_int_equal(pb_txn_abort(t), PB_OK);
}

static void many_tables(void **state) {
  (void)state;
  store s;
  open_store(&s);
  /* Five tables on one handle, which remembers fewer: read in turn, and
   * in other orders, with commits between, so that entries are replaced
   * and found again; each read must get its own table's row. */
  for (int r = 0; r < 6; r++) {
    char prefix[16];
    snprintf(prefix, sizeof prefix, "r%d-", r);
    put_all(&s, prefix);
    for (int pass = 0; pass < 3; pass++)
      for (int i = 0; i < 5; i++) read_one(&s, (i * (r + 1) + pass) % 5, prefix);
  }
  close_store(&s);
}

static void views_last_the_transaction(void **state) {
  (void)state;
  /* The object cache off: every node a get reads is the handle's own
   * copy, freed when its handle is reset, so a handle reset before its
   * transaction ends would leave the views below dangling (ASan). */
  store s;
  s.dir = pb_test_tmpdir();
  assert_int_equal(pb_storage_open_file(s.dir, NULL, &s.st), PB_OK);
  pb_space_options o;
  pb_space_options_init(&o);
  o.object_cache_bytes = 0;
  assert_int_equal(pb_space_open_ex(s.st, &o, &s.sp), PB_OK);
  assert_int_equal(pb_db_open(s.sp, "main", PB_CREATE, &s.db), PB_OK);
  for (int r = 0; r < 3; r++) {
    char prefix[16];
    snprintf(prefix, sizeof prefix, "v%d-", r);
    put_all(&s, prefix);
    /* Warm: the handle remembers 4 of the 5 tables. */
    for (int i = 0; i < 5; i++) read_one(&s, (i + r) % 5, prefix);
    /* One read transaction over all five, three times in other orders:
     * the views of the first pass are checked at the end. */
    pb_txn *t;
    assert_int_equal(pb_txn_begin(s.db, PB_RDONLY, &t), PB_OK);
    pb_str first[5];
    for (int pass = 0; pass < 3; pass++)
      for (int j = 0; j < 5; j++) {
        int i = (j * (pass + 2) + r) % 5;
        pb_str got = name_of(t, i);
        char want[32];
        snprintf(want, sizeof want, "%s%d", prefix, i);
        assert_name(got, want);
        if (pass == 0) first[i] = got;
      }
    for (int i = 0; i < 5; i++) {
      char want[32];
      snprintf(want, sizeof want, "%s%d", prefix, i);
      assert_name(first[i], want);
    }
    assert_int_equal(pb_txn_abort(t), PB_OK);
  }
  close_store(&s);
}

static void compaction(void **state) {
  (void)state;
  store s;
  open_store(&s);
  put_v1(&s, 1, 300, "a");
  put_v1(&s, 1, 300, "b"); /* the first version of every row is garbage */
  read_v1(&s, 10, "b10");
  read_v1(&s, 11, "b11");
  /* A reader from before the compaction keeps reading its snapshot. */
  pb_txn *old;
  evo1_Item it;
  assert_int_equal(pb_txn_begin(s.db, PB_RDONLY, &old), PB_OK);
  assert_int_equal(evo1_Item_get(old, 12, &it), PB_OK);
  pb_compact_stats st;
  assert_int_equal(pb_storage_compact(s.st, &st), PB_OK);
  read_v1(&s, 10, "b10");
  read_v1(&s, 299, "b299");
  assert_int_equal(evo1_Item_get(old, 13, &it), PB_OK);
  assert_name(it.name, "b13");
  assert_int_equal(pb_txn_abort(old), PB_OK);
  put_v1(&s, 10, 11, "c");
  read_v1(&s, 10, "c10");
  read_v1(&s, 11, "b11");
  close_store(&s);
}

/* pb_table_get of uint64 key `id` through definition `def`. */
static int get_by(pb_txn *t, const pb_table_def *def, uint64_t id, void *rec) {
  pb_keybuf kb;
  pb_keybuf_init(&kb);
  pb_key_put_u64(&kb, id);
  int rc = pb_table_get(t, def, pb_keybuf_bytes(&kb), rec);
  pb_keybuf_free(&kb);
  return rc;
}

static void def_replaced(void **state) {
  (void)state;
  store s;
  open_store(&s);
  put_v1(&s, 5, 6, "item");
  pb_txn *t;
  assert_int_equal(pb_txn_begin(s.db, 0, &t), PB_OK);
  tprop_KU ku;
  tprop_KU_init(&ku);
  ku.k = 5;
  ku.name = pb_str_from_cstr("ku");
  assert_int_equal(tprop_KU_insert(t, &ku), PB_OK);
  assert_int_equal(pb_txn_commit(t), PB_OK);
  /* One definition object, evo1.Item's, then tprop.KU's, then a broken
   * one, at the same address (as a program that builds definitions at run
   * time may reuse memory): each read uses the definition it is given. */
  pb_table_def d = evo1_Item_table;
  for (int r = 0; r < 3; r++) {
    evo1_Item it;
    d = evo1_Item_table;
    assert_int_equal(pb_txn_begin(s.db, PB_RDONLY, &t), PB_OK);
    assert_int_equal(get_by(t, &d, 5, &it), PB_OK);
    assert_name(it.name, "item5");
    assert_int_equal(pb_txn_abort(t), PB_OK);
    d = tprop_KU_table;
    assert_int_equal(pb_txn_begin(s.db, PB_RDONLY, &t), PB_OK);
    tprop_KU got;
    assert_int_equal(get_by(t, &d, 5, &got), PB_OK);
    assert_name(got.name, "ku");
    assert_int_equal(pb_txn_abort(t), PB_OK);
    d.decode = NULL;
    assert_int_equal(pb_txn_begin(s.db, PB_RDONLY, &t), PB_OK);
    assert_int_equal(get_by(t, &d, 5, &got), PB_EINVAL);
    assert_int_equal(pb_txn_abort(t), PB_OK);
  }
  close_store(&s);
}

/* --- a concurrent writer --- */

#define GENERATIONS 300

typedef struct writer_arg {
  store *s;
  atomic_bool done; /* set by the writer: its last commit is in */
} writer_arg;

/* Rows 1 and 2 both named "g<gen>", in one commit. */
static int put_gen(pb_db *db, int g) {
  char name[16];
  snprintf(name, sizeof name, "g%d", g);
  pb_txn *t;
  int rc = pb_txn_begin(db, 0, &t);
  for (uint64_t id = 1; id <= 2 && rc == PB_OK; id++) {
    evo1_Item it;
    evo1_Item_init(&it);
    it.id = id;
    it.name = pb_str_from_cstr(name);
    rc = evo1_Item_upsert(t, &it);
  }
  if (rc != PB_OK) {
    pb_txn_abort(t);
    return rc;
  }
  return pb_txn_commit(t);
}

static void *writer(void *p) {
  writer_arg *a = p;
  const char *err = NULL;
  for (int g = 1; g <= GENERATIONS && !err; g++)
    if (put_gen(a->s->db, g) != PB_OK) err = "a commit failed";
  atomic_store(&a->done, true);
  return (void *)err;
}

/* The generation of a row's name "g<digits>". */
static int gen_of(pb_str name) {
  char buf[16] = {0};
  assert_true(name.len >= 2 && name.len < sizeof buf && name.ptr[0] == 'g');
  memcpy(buf, name.ptr, name.len);
  return atoi(buf + 1);
}

static void concurrent_writer(void **state) {
  (void)state;
  store s;
  open_store(&s);
  assert_int_equal(put_gen(s.db, 0), PB_OK);
  writer_arg a = {.s = &s};
  atomic_init(&a.done, false);
  pthread_t th;
  assert_int_equal(pthread_create(&th, NULL, writer, &a), 0);
  int last = 0, reads = 0, seen = 0;
  /* Reads while the writer writes, then one more after its last commit
   * (which must see that commit). */
  for (bool more = true; more;) {
    more = !atomic_load(&a.done);
    pb_txn *t;
    evo1_Item r1, r2;
    assert_int_equal(pb_txn_begin(s.db, PB_RDONLY, &t), PB_OK);
    assert_int_equal(evo1_Item_get(t, 1, &r1), PB_OK);
    assert_int_equal(evo1_Item_get(t, 2, &r2), PB_OK);
    int g1 = gen_of(r1.name), g2 = gen_of(r2.name);
    assert_int_equal(pb_txn_abort(t), PB_OK);
    assert_int_equal(g1, g2);  /* one commit's rows */
    assert_true(g1 >= last);   /* never an older root's */
    if (g1 > last) seen++;
    last = g1;
    reads++;
  }
  void *res;
  assert_int_equal(pthread_join(th, &res), 0);
  assert_null(res);
  assert_int_equal(last, GENERATIONS);
  read_v1(&s, 1, "g300");
  read_v1(&s, 2, "g300");
  print_message("%d reads saw %d of %d generations\n", reads, seen,
                GENERATIONS);
  close_store(&s);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(warm_get_allocates_nothing),
      cmocka_unit_test(views_last_the_transaction),
      cmocka_unit_test(root_change),
      cmocka_unit_test(table_created_later),
      cmocka_unit_test(schema_change),
      cmocka_unit_test(many_tables),
      cmocka_unit_test(compaction),
      cmocka_unit_test(def_replaced),
      cmocka_unit_test(concurrent_writer),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
