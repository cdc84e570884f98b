/*
 * test_snapshot_view.c - a reader's snapshot (txn/snapshot.h) against
 * everything that happens beside it.  Labels `unit` and `threads` (the
 * ThreadSanitizer suite); run under ASan too, where a view into freed or
 * unmapped memory is an error.
 *
 *   view_survives_commit_compact_evict
 *        a reader holds views (strings read from a Dictionary and a named
 *        value) while a writer commits new versions of every entry, the
 *        storage is compacted (its old segments go when the reader ends)
 *        and the caches, made small, evict every node the reader used:
 *        the views keep their bytes and the reader still reads its own
 *        version throughout; the next reader sees the newest
 *   reads_beside_writer_and_compaction
 *        two reader threads, each a read transaction per iteration, read
 *        two entries and the named generation while a writer thread
 *        commits new generations of every entry and the main thread
 *        compacts: every transaction sees one generation (never a mix),
 *        and generations seen by a thread never go back
 *   write_after_read_in_another_txn
 *        a writer that reads, then writes the same keys, never changes
 *        what a reader that began before its commit reads, nor the views
 *        that reader was given
 *
 * The default storage (file, PB_DURABILITY_SYNC); caches made small so
 * that they evict.
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
#include "test_util.h"

typedef struct store {
  char *dir;
  pb_storage *st;
  pb_space *sp;
  pb_db *db;
} store;

/* Caches small enough that a pass over a few thousand nodes evicts. */
static void open_store(store *s) {
  s->dir = pb_test_tmpdir();
  pb_space_options o;
  pb_space_options_init(&o);
  o.object_cache_bytes = 64u << 10;
  o.object_cache_entries = 16;
  o.bytes_cache_bytes = 16u << 10;
  o.bytes_cache_entries = 16;
  assert_int_equal(pb_storage_open_file(s->dir, NULL, &s->st), PB_OK);
  assert_int_equal(pb_space_open_ex(s->st, &o, &s->sp), PB_OK);
  assert_int_equal(pb_db_open(s->sp, "main", PB_CREATE, &s->db), PB_OK);
}

static void close_store(store *s) {
  assert_int_equal(pb_db_close(s->db), PB_OK);
  assert_int_equal(pb_space_close(s->sp), PB_OK);
  pb_test_rmdir(s->dir);
}

static pb_str key_of(unsigned i, char *buf) {
  snprintf(buf, 24, "key-%06u", i);
  return pb_str_from_cstr(buf);
}

/* The value of entry i in generation g: a string, so reads are views. */
static int val_of(unsigned g, unsigned i, char *buf) {
  return snprintf(buf, 64, "generation %u of entry %u, a longer value", g, i);
}

/* Commits generation g: every entry 0..n and "gen" = g.  Retries when a
 * compaction switched under it (PB_ECONFLICT). */
static void commit_gen(store *s, unsigned g, unsigned n) {
  for (;;) {
    pb_txn *t;
    pb_dict *d;
    assert_int_equal(pb_txn_begin(s->db, 0, &t), PB_OK);
    assert_int_equal(pb_txn_open_dict(t, "d", PB_CREATE, &d), PB_OK);
    for (unsigned i = 0; i < n; i++) {
      char kb[24], vb[64];
      int len = val_of(g, i, vb);
      pb_value v = {.kind = PB_VALUE_STRING, .as.s = {vb, (size_t)len}};
      assert_int_equal(pb_dict_put(d, key_of(i, kb), &v), PB_OK);
    }
    pb_value gv = {.kind = PB_VALUE_UINT, .as.u = g};
    assert_int_equal(pb_txn_set(t, "gen", &gv), PB_OK);
    int rc = pb_txn_commit(t);
    if (rc == PB_ECONFLICT) continue;
    assert_int_equal(rc, PB_OK);
    return;
  }
}

/* Checks that entry i of `d` is generation g's; gives the view. */
static pb_str check_entry(pb_dict *d, unsigned i, unsigned g) {
  char kb[24], vb[64];
  pb_value v;
  assert_int_equal(pb_dict_get(d, key_of(i, kb), &v), PB_OK);
  assert_int_equal(v.kind, PB_VALUE_STRING);
  int len = val_of(g, i, vb);
  assert_int_equal(v.as.s.len, (size_t)len);
  assert_memory_equal(v.as.s.ptr, vb, (size_t)len);
  return v.as.s;
}

/* Reads every entry in a transaction of its own: pushes the caches. */
static void read_all(store *s, unsigned n, unsigned g) {
  pb_txn *t;
  pb_dict *d;
  assert_int_equal(pb_txn_begin(s->db, PB_RDONLY, &t), PB_OK);
  assert_int_equal(pb_txn_open_dict(t, "d", 0, &d), PB_OK);
  for (unsigned i = 0; i < n; i++) check_entry(d, i, g);
  assert_int_equal(pb_txn_abort(t), PB_OK);
}

#define N1 3000u

static void view_survives_commit_compact_evict(void **state) {
  (void)state;
  store s;
  open_store(&s);
  commit_gen(&s, 0, N1);
  read_all(&s, N1, 0); /* warm: the caches have some of it */

  pb_txn *r;
  pb_dict *d;
  assert_int_equal(pb_txn_begin(s.db, PB_RDONLY, &r), PB_OK);
  assert_int_equal(pb_txn_open_dict(r, "d", 0, &d), PB_OK);
  static pb_str views[N1];
  for (unsigned i = 0; i < N1; i++) views[i] = check_entry(d, i, 0);

  pb_cache_stats o0, o1;
  assert_int_equal(pb_space_cache_stats(s.sp, NULL, &o0), PB_OK);
  commit_gen(&s, 1, N1);
  pb_compact_stats cs;
  assert_int_equal(pb_storage_compact(s.st, &cs), PB_OK);
  assert_true(cs.atoms > 0);
  commit_gen(&s, 2, N1);
  read_all(&s, N1, 2); /* evicts what the reader used */
  assert_int_equal(pb_space_cache_stats(s.sp, NULL, &o1), PB_OK);
  assert_true(o1.evictions > o0.evictions + N1 / 64);

  /* The reader: its views unchanged, and it reads its own version. */
  for (unsigned i = 0; i < N1; i++) {
    char vb[64];
    int len = val_of(0, i, vb);
    assert_int_equal(views[i].len, (size_t)len);
    assert_memory_equal(views[i].ptr, vb, (size_t)len);
  }
  for (unsigned i = 0; i < N1; i += 3) check_entry(d, i, 0);
  pb_value gv;
  assert_int_equal(pb_txn_get(r, "gen", &gv), PB_OK);
  assert_int_equal(gv.as.u, 0);
  assert_int_equal(pb_txn_abort(r), PB_OK);

  read_all(&s, N1, 2);
  close_store(&s);
}

/* --- threads --- */

#define N2 64u
#define GENS 24u
#define READS 400u

/* The threads check without cmocka (whose failures longjmp, which only
 * the main thread may): the first failed check's line is kept. */
typedef struct shared {
  store *s;
  atomic_uint done;   /* the writer finished */
  atomic_int failed;  /* line of the first failed check, or 0 */
  unsigned reads[2];
} shared;

#define CHECK(sh, cond)                                   \
  do {                                                    \
    if (!(cond)) {                                        \
      int zero = 0;                                       \
      atomic_compare_exchange_strong(&(sh)->failed, &zero, \
                                     __LINE__);           \
      return NULL;                                        \
    }                                                     \
  } while (0)

typedef struct reader_arg {
  shared *sh;
  unsigned id;
} reader_arg;

/* True when entry i of d is generation g's. */
static bool entry_is(pb_dict *d, unsigned i, unsigned g) {
  char kb[24], vb[64];
  pb_value v;
  if (pb_dict_get(d, key_of(i, kb), &v) != PB_OK) return false;
  int len = val_of(g, i, vb);
  return v.kind == PB_VALUE_STRING && v.as.s.len == (size_t)len &&
         memcmp(v.as.s.ptr, vb, (size_t)len) == 0;
}

static void *reader_main(void *p) {
  reader_arg *a = p;
  shared *sh = a->sh;
  store *s = sh->s;
  uint64_t last = 0;
  uint64_t x = 0x9e3779b97f4a7c15u * (a->id + 1);
  unsigned n = 0;
  while ((n < READS || !atomic_load(&sh->done)) &&
         atomic_load(&sh->failed) == 0) {
    pb_txn *t;
    pb_dict *d;
    pb_value gv;
    CHECK(sh, pb_txn_begin(s->db, PB_RDONLY, &t) == PB_OK);
    bool ok = pb_txn_get(t, "gen", &gv) == PB_OK && gv.as.u >= last &&
              pb_txn_open_dict(t, "d", 0, &d) == PB_OK;
    for (int k = 0; ok && k < 2; k++) {
      x ^= x << 13, x ^= x >> 7, x ^= x << 17;
      ok = entry_is(d, (unsigned)(x % N2), (unsigned)gv.as.u);
    }
    pb_txn_abort(t);
    CHECK(sh, ok); /* one generation, never back in time */
    last = gv.as.u;
    n++;
  }
  sh->reads[a->id] = n;
  return NULL;
}

static void *writer_main(void *p) {
  shared *sh = p;
  store *s = sh->s;
  for (unsigned g = 1; g <= GENS && atomic_load(&sh->failed) == 0;) {
    pb_txn *t;
    pb_dict *d;
    CHECK(sh, pb_txn_begin(s->db, 0, &t) == PB_OK);
    bool ok = pb_txn_open_dict(t, "d", 0, &d) == PB_OK;
    for (unsigned i = 0; ok && i < N2; i++) {
      char kb[24], vb[64];
      int len = val_of(g, i, vb);
      pb_value v = {.kind = PB_VALUE_STRING, .as.s = {vb, (size_t)len}};
      ok = pb_dict_put(d, key_of(i, kb), &v) == PB_OK;
    }
    pb_value gv = {.kind = PB_VALUE_UINT, .as.u = g};
    if (ok) ok = pb_txn_set(t, "gen", &gv) == PB_OK;
    if (!ok) pb_txn_abort(t);
    CHECK(sh, ok);
    int rc = pb_txn_commit(t);
    CHECK(sh, rc == PB_OK || rc == PB_ECONFLICT); /* a compaction: again */
    if (rc == PB_OK) g++;
  }
  atomic_store(&sh->done, 1);
  return NULL;
}

static void reads_beside_writer_and_compaction(void **state) {
  (void)state;
  store s;
  open_store(&s);
  commit_gen(&s, 0, N2);
  shared sh = {.s = &s};
  atomic_init(&sh.done, 0);
  atomic_init(&sh.failed, 0);
  reader_arg ra[2] = {{&sh, 0}, {&sh, 1}};
  pthread_t rt[2], wt;
  for (int i = 0; i < 2; i++)
    assert_int_equal(pthread_create(&rt[i], NULL, reader_main, &ra[i]), 0);
  assert_int_equal(pthread_create(&wt, NULL, writer_main, &sh), 0);
  unsigned compactions = 0;
  while (!atomic_load(&sh.done) || compactions < 2) {
    assert_int_equal(pb_storage_compact(s.st, NULL), PB_OK);
    compactions++;
  }
  assert_int_equal(pthread_join(wt, NULL), 0);
  for (int i = 0; i < 2; i++) assert_int_equal(pthread_join(rt[i], NULL), 0);
  print_message("%u compactions, %u and %u reads beside %u commits\n",
                compactions, sh.reads[0], sh.reads[1], GENS);
  assert_int_equal(atomic_load(&sh.failed), 0);
  assert_true(sh.reads[0] >= READS && sh.reads[1] >= READS);
  read_all(&s, N2, GENS);
  close_store(&s);
}

static void write_after_read_in_another_txn(void **state) {
  (void)state;
  store s;
  open_store(&s);
  commit_gen(&s, 0, N2);
  pb_txn *r, *w;
  pb_dict *rd, *wd;
  assert_int_equal(pb_txn_begin(s.db, PB_RDONLY, &r), PB_OK);
  assert_int_equal(pb_txn_open_dict(r, "d", 0, &rd), PB_OK);
  pb_str v0 = check_entry(rd, 5, 0);
  /* The writer reads the same nodes (shared from the cache), then
   * writes into them. */
  assert_int_equal(pb_txn_begin(s.db, 0, &w), PB_OK);
  assert_int_equal(pb_txn_open_dict(w, "d", 0, &wd), PB_OK);
  for (unsigned i = 0; i < N2; i++) check_entry(wd, i, 0);
  for (unsigned i = 0; i < N2; i++) {
    char kb[24], vb[64];
    int len = val_of(9, i, vb);
    pb_value v = {.kind = PB_VALUE_STRING, .as.s = {vb, (size_t)len}};
    assert_int_equal(pb_dict_put(wd, key_of(i, kb), &v), PB_OK);
  }
  for (unsigned i = 0; i < N2; i++) check_entry(rd, i, 0); /* not yet */
  assert_int_equal(pb_txn_commit(w), PB_OK);
  for (unsigned i = 0; i < N2; i++) check_entry(rd, i, 0); /* nor after */
  char vb[64];
  int len = val_of(0, 5, vb);
  assert_int_equal(v0.len, (size_t)len);
  assert_memory_equal(v0.ptr, vb, (size_t)len);
  assert_int_equal(pb_txn_abort(r), PB_OK);
  read_all(&s, N2, 9);
  close_store(&s);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(view_survives_commit_compact_evict),
      cmocka_unit_test(reads_beside_writer_and_compaction),
      cmocka_unit_test(write_after_read_in_another_txn),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
