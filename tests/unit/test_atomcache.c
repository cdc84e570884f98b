/*
 * test_atomcache.c - the read path of SPEC 8 through a real space on a
 * file storage: the object cache, then the bytes cache, then the storage
 * (cache/atomcache.h).
 *
 *   options_and_stats       defaults, caches off, a half-set limit refused
 *   read_your_writes        after a commit, a new transaction reads every
 *                           node from the object cache (write-through):
 *                           hits, and not one load
 *   cold_then_warm          a fresh space loads each node once; the next
 *                           transaction only hits
 *   bytes_tier              with an object cache too small to keep
 *                           anything, objects are built from the bytes
 *                           cache (its hits), and still read right
 *   no_dangling             a cached object outlives the eviction of its
 *                           bytes entry, a compaction and the deletion of
 *                           the segments it was read from: it is read
 *                           afterwards through a source that cannot read
 *                           storage at all, under ASan in the ASan suite
 *   commit_ignores_cache_enomem  every allocation of the caches during a
 *                           commit failing, one at a time, never fails the
 *                           commit (write-through is best effort)
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "collections/dict.h"
#include "protobase/protobase.h"
#include "test_util.h"
#include "txn/space.h"

#define N 3000u

typedef struct store {
  char *dir;
  pb_storage *st;
  pb_space *sp;
  pb_db *db;
} store;

static void open_store(store *s, const pb_space_options *o) {
  assert_int_equal(pb_storage_open_file(s->dir, NULL, &s->st), PB_OK);
  assert_int_equal(pb_space_open_ex(s->st, o, &s->sp), PB_OK);
  assert_int_equal(pb_db_open(s->sp, "main", PB_CREATE, &s->db), PB_OK);
}

static void close_store(store *s) {
  assert_int_equal(pb_db_close(s->db), PB_OK);
  assert_int_equal(pb_space_close(s->sp), PB_OK);
}

static pb_str key_of(unsigned i, char *buf) {
  snprintf(buf, 24, "key-%06u", i);
  return pb_str_from_cstr(buf);
}

static pb_str val_of(unsigned i, char *buf) {
  snprintf(buf, 64, "the value of entry %u, long enough to matter", i);
  return pb_str_from_cstr(buf);
}

/* Commits N entries into Dictionary "d". */
static void fill(store *s) {
  pb_txn *t;
  pb_dict *d;
  assert_int_equal(pb_txn_begin(s->db, 0, &t), PB_OK);
  assert_int_equal(pb_txn_open_dict(t, "d", PB_CREATE, &d), PB_OK);
  for (unsigned i = 0; i < N; i++) {
    char kb[24], vb[64];
    pb_value v = {.kind = PB_VALUE_STRING, .as.s = val_of(i, vb)};
    assert_int_equal(pb_dict_put(d, key_of(i, kb), &v), PB_OK);
  }
  assert_int_equal(pb_txn_commit(t), PB_OK);
}

/* Reads every entry of "d" through a new read transaction. */
static void read_all(store *s) {
  pb_txn *t;
  pb_dict *d;
  assert_int_equal(pb_txn_begin(s->db, PB_RDONLY, &t), PB_OK);
  assert_int_equal(pb_txn_open_dict(t, "d", 0, &d), PB_OK);
  for (unsigned i = 0; i < N; i++) {
    char kb[24], vb[64];
    pb_value v;
    assert_int_equal(pb_dict_get(d, key_of(i, kb), &v), PB_OK);
    pb_str want = val_of(i, vb);
    assert_int_equal(v.kind, PB_VALUE_STRING);
    assert_int_equal(v.as.s.len, want.len);
    assert_memory_equal(v.as.s.ptr, want.ptr, want.len);
  }
  assert_int_equal(pb_txn_abort(t), PB_OK);
}

static void stats(store *s, pb_cache_stats *b, pb_cache_stats *o) {
  assert_int_equal(pb_space_cache_stats(s->sp, b, o), PB_OK);
}

static void options_and_stats(void **state) {
  (void)state;
  pb_space_options o;
  pb_space_options_init(&o);
  assert_int_equal(o.bytes_cache_bytes, 16u << 20);
  assert_int_equal(o.bytes_cache_entries, 65536);
  assert_int_equal(o.object_cache_bytes, 64u << 20);
  assert_int_equal(o.object_cache_entries, 65536);
  assert_int_equal(pb_space_cache_stats(NULL, NULL, NULL), PB_EINVAL);

  store s = {.dir = pb_test_tmpdir()};
  pb_storage *st;
  o.object_cache_bytes = 0; /* entries still set: refused */
  assert_int_equal(pb_storage_open_file(s.dir, NULL, &st), PB_OK);
  assert_int_equal(pb_space_open_ex(st, &o, &s.sp), PB_EINVAL);

  pb_space_options off = {0, 0, 0, 0};
  open_store(&s, &off);
  fill(&s);
  read_all(&s);
  pb_cache_stats b, ob;
  memset(&b, 0xff, sizeof b);
  memset(&ob, 0xff, sizeof ob);
  stats(&s, &b, &ob);
  assert_int_equal(b.hits + b.misses + b.entries + b.max_bytes, 0);
  assert_int_equal(ob.hits + ob.misses + ob.entries + ob.max_entries, 0);
  close_store(&s);

  open_store(&s, NULL); /* defaults */
  stats(&s, &b, NULL);
  assert_int_equal(b.max_bytes, 16u << 20);
  stats(&s, NULL, &ob);
  assert_int_equal(ob.max_entries, 65536);
  close_store(&s);
  pb_test_rmdir(s.dir);
}

static void read_your_writes(void **state) {
  (void)state;
  store s = {.dir = pb_test_tmpdir()};
  open_store(&s, NULL);
  fill(&s);
  pb_cache_stats b0, o0, b1, o1;
  stats(&s, &b0, &o0);
  assert_true(o0.insertions > N / 64); /* every node of the tree, at least */
  assert_int_equal(b0.insertions, o0.insertions); /* all atoms are nodes */
  read_all(&s);
  stats(&s, &b1, &o1);
  assert_int_equal(o1.loads, o0.loads); /* nothing decoded again */
  assert_int_equal(o1.misses, o0.misses);
  assert_true(o1.hits >= o0.hits + N / 64);
  assert_int_equal(b1.hits + b1.misses, b0.hits + b0.misses); /* not asked */
  close_store(&s);
  pb_test_rmdir(s.dir);
}

static void cold_then_warm(void **state) {
  (void)state;
  store s = {.dir = pb_test_tmpdir()};
  open_store(&s, NULL);
  fill(&s);
  close_store(&s);
  open_store(&s, NULL); /* a fresh space: empty caches */
  pb_cache_stats b0, o0, b1, o1;
  read_all(&s);
  stats(&s, &b0, &o0);
  assert_true(o0.loads > N / 64);
  assert_int_equal(o0.loads, o0.misses); /* one load per node, each once */
  assert_int_equal(b0.misses, o0.loads); /* each read from storage once */
  assert_int_equal(b0.insertions, b0.misses);
  read_all(&s);
  stats(&s, &b1, &o1);
  assert_int_equal(o1.loads, o0.loads);
  assert_true(o1.hits >= o0.hits + o0.loads);
  assert_int_equal(b1.misses, b0.misses);
  close_store(&s);
  pb_test_rmdir(s.dir);
}

static void bytes_tier(void **state) {
  (void)state;
  store s = {.dir = pb_test_tmpdir()};
  open_store(&s, NULL);
  fill(&s);
  close_store(&s);
  pb_space_options o;
  pb_space_options_init(&o);
  o.object_cache_bytes = 1; /* no object fits: each is handed out, and */
  o.object_cache_entries = 1; /* freed when its transaction ends */
  open_store(&s, &o);
  read_all(&s);
  pb_cache_stats b0, o0, b1, o1;
  stats(&s, &b0, &o0);
  assert_int_equal(o0.entries, 0);
  assert_true(o0.rejected > N / 64);
  read_all(&s);
  stats(&s, &b1, &o1);
  assert_true(o1.loads >= 2 * o0.loads); /* every object built again */
  assert_true(b1.hits >= b0.hits + o0.loads); /* from the bytes cache */
  assert_int_equal(b1.misses, b0.misses); /* not from storage */
  assert_int_equal(o1.held_entries, 0); /* all released with the txns */
  close_store(&s);
  pb_test_rmdir(s.dir);
}

/* --- no_dangling --- */

static int no_storage(void *arg, pb_atom_ptr p, pb_bytes *out) {
  (void)arg;
  (void)p;
  (void)out;
  return PB_EIO; /* every node must come from the object cache */
}

/* Counts the files of a store's directory. */
static unsigned files_in(const char *dir) {
  char cmd[4200];
  snprintf(cmd, sizeof cmd, "ls -1 '%s' | wc -l", dir);
  FILE *p = popen(cmd, "r");
  unsigned n = 0;
  assert_non_null(p);
  assert_int_equal(fscanf(p, "%u", &n), 1);
  pclose(p);
  return n;
}

static void no_dangling(void **state) {
  (void)state;
  store s = {.dir = pb_test_tmpdir()};
  pb_space_options o;
  pb_space_options_init(&o);
  o.bytes_cache_entries = 4; /* the bytes cache keeps almost nothing */
  o.bytes_cache_bytes = 1u << 16;
  open_store(&s, &o);
  fill(&s);
  for (unsigned r = 0; r < 8; r++) { /* pushes the tree's bytes out */
    pb_txn *t;
    pb_value v = {.kind = PB_VALUE_UINT, .as.u = r};
    assert_int_equal(pb_txn_begin(s.db, 0, &t), PB_OK);
    assert_int_equal(pb_txn_set(t, "other", &v), PB_OK);
    assert_int_equal(pb_txn_commit(t), PB_OK);
  }
  /* A reader that began before the compaction holds the old tree. */
  pb_txn *a;
  pb_value root;
  assert_int_equal(pb_txn_begin(s.db, PB_RDONLY, &a), PB_OK);
  assert_int_equal(pb_txn_get(a, "d", &root), PB_OK);
  assert_int_equal(root.kind, PB_VALUE_DICT);
  pb__cache_key rk = pb__cache_key_of(root.as.ref, 0);
  pb__cache_handle *h;
  assert_int_equal(pb__cache_get(s.sp->bytes, &rk, &h), PB_ENOTFOUND);
  assert_int_equal(pb__cache_get(s.sp->objects, &rk, &h), PB_OK);
  pb__cache_release(h);

  unsigned before = files_in(s.dir);
  pb_compact_stats cs;
  assert_int_equal(pb_storage_compact(s.st, &cs), PB_OK);
  assert_true(cs.atoms > N / 64);
  read_all(&s); /* the new tree: new pointers, read from storage */
  assert_int_equal(pb_txn_abort(a), PB_OK); /* old segments go now */
  assert_true(files_in(s.dir) <= before);

  /* The old tree, from the object cache alone. */
  pb__cache_holds k = {NULL, 0, 0};
  pb__src_caches c = {NULL, s.sp->objects, &k, 0, 0};
  pb__src src = {no_storage, NULL, &c};
  pb__dict *d;
  assert_int_equal(pb__dict_open(&src, root.as.ref, &d), PB_OK);
  for (unsigned i = 0; i < N; i += 7) {
    char kb[24], vb[64];
    pb_value v;
    assert_int_equal(pb__dict_get(d, key_of(i, kb), &v), PB_OK);
    pb_str want = val_of(i, vb);
    assert_int_equal(v.as.s.len, want.len);
    assert_memory_equal(v.as.s.ptr, want.ptr, want.len);
  }
  assert_true(k.n > 0);
  pb__dict_free(d);
  pb__cache_holds_free(&k);
  close_store(&s);
  pb_test_rmdir(s.dir);
}

static void commit_ignores_cache_enomem(void **state) {
  (void)state;
  store s = {.dir = pb_test_tmpdir()};
  open_store(&s, NULL);
  fill(&s);
  for (unsigned n = 1; n <= 40; n++) {
    pb_txn *t;
    pb_dict *d;
    char kb[24], vb[64];
    pb_value v = {.kind = PB_VALUE_STRING, .as.s = val_of(n, vb)};
    assert_int_equal(pb_txn_begin(s.db, 0, &t), PB_OK);
    assert_int_equal(pb_txn_open_dict(t, "d", 0, &d), PB_OK);
    assert_int_equal(pb_dict_put(d, key_of(N + n, kb), &v), PB_OK);
    pb__cache_debug_fail_alloc(n);
    assert_int_equal(pb_txn_commit(t), PB_OK);
    pb__cache_debug_fail_alloc(0);
  }
  pb_txn *t;
  pb_dict *d;
  assert_int_equal(pb_txn_begin(s.db, PB_RDONLY, &t), PB_OK);
  assert_int_equal(pb_txn_open_dict(t, "d", 0, &d), PB_OK);
  uint64_t count;
  assert_int_equal(pb_dict_count(d, &count), PB_OK);
  assert_int_equal(count, N + 40);
  assert_int_equal(pb_txn_abort(t), PB_OK);
  read_all(&s);
  close_store(&s);
  pb_test_rmdir(s.dir);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(options_and_stats),
      cmocka_unit_test(read_your_writes),
      cmocka_unit_test(cold_then_warm),
      cmocka_unit_test(bytes_tier),
      cmocka_unit_test(no_dangling),
      cmocka_unit_test(commit_ignores_cache_enomem),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
