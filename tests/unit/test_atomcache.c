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
 *   write_through_where     a commit puts its nodes into the object cache
 *                           and only its other atoms (a record) into the
 *                           bytes cache; with the object cache off, the
 *                           nodes go to the bytes cache
 *   commit_ignores_cache_enomem  every allocation of the caches during a
 *                           commit failing, one at a time, never fails the
 *                           commit (write-through is best effort)
 *   defaults_by_tier        the bytes cache is off by default on the file
 *                           and memory tiers (reads are cheap) and on, 16
 *                           MiB, on a tier whose reads are expensive, which
 *                           the reads then go through
 *   scan_keeps_hot_set      after a hot set was read a few times, a full
 *                           scan of a Dictionary several times the object
 *                           cache's size leaves it cached: the hot reads
 *                           after the scan all hit
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "collections/dict.h"
#include "collections/dict_int.h"
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

/* The defaults, with a bytes cache (the file tier has none by default):
 * for the tests of the whole path, object cache then bytes cache. */
static const pb_space_options *both_caches(void) {
  static pb_space_options o;
  pb_space_options_init(&o);
  o.bytes_cache_bytes = 16u << 20;
  return &o;
}

static void options_and_stats(void **state) {
  (void)state;
  pb_space_options o;
  pb_space_options_init(&o);
  assert_true(o.bytes_cache_bytes == PB_CACHE_DEFAULT);
  assert_int_equal(o.bytes_cache_entries, 0);
  assert_true(o.object_cache_bytes == PB_CACHE_DEFAULT);
  assert_int_equal(o.object_cache_entries, 0);
  assert_int_equal(pb_space_cache_stats(NULL, NULL, NULL), PB_EINVAL);

  store s = {.dir = pb_test_tmpdir()};
  pb_storage *st;
  o.object_cache_bytes = 0;
  o.object_cache_entries = 10; /* an entry limit without bytes: refused */
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

  open_store(&s, NULL); /* defaults: no bytes cache on the file tier */
  stats(&s, &b, NULL);
  assert_int_equal(b.max_bytes, 0);
  stats(&s, NULL, &ob);
  assert_int_equal(ob.max_bytes, 64u << 20);
  assert_int_equal(ob.max_entries, 0); /* bytes alone */
  close_store(&s);

  pb_space_options_init(&o); /* an explicit size and entry limit */
  o.bytes_cache_bytes = 1u << 20;
  o.bytes_cache_entries = 1000;
  o.object_cache_bytes = 2u << 20;
  open_store(&s, &o);
  stats(&s, &b, &ob);
  assert_int_equal(b.max_bytes, 1u << 20);
  assert_int_equal(b.max_entries, 1000);
  assert_int_equal(ob.max_bytes, 2u << 20);
  assert_int_equal(ob.max_entries, 0);
  close_store(&s);
  pb_test_rmdir(s.dir);
}

static void read_your_writes(void **state) {
  (void)state;
  store s = {.dir = pb_test_tmpdir()};
  open_store(&s, both_caches());
  fill(&s);
  pb_cache_stats b0, o0, b1, o1;
  stats(&s, &b0, &o0);
  assert_true(o0.insertions > N / 64); /* every node of the tree, at least */
  /* All atoms are nodes, and a node is written through to the object
   * cache only (its object keeps its own copy of the bytes): the bytes
   * cache holds only what objects were loaded from (the database root). */
  assert_int_equal(b0.insertions, o0.loads);
  read_all(&s);
  stats(&s, &b1, &o1);
  assert_int_equal(o1.loads, o0.loads); /* nothing decoded again */
  assert_int_equal(o1.misses, o0.misses);
  assert_true(o1.hits >= o0.hits + N / 64);
  assert_int_equal(b1.hits + b1.misses, b0.hits + b0.misses); /* not asked */
  close_store(&s);
  pb_test_rmdir(s.dir);
}

static const pb_record_type note_type = {.name = "tests.Note",
                                         .fingerprint = 0x6e6f7465ull};

static void write_through_where(void **state) {
  (void)state;
  store s = {.dir = pb_test_tmpdir()};
  open_store(&s, both_caches()); /* the file tier's default has no bytes
                                    cache */
  fill(&s);
  pb_cache_stats b0, o0, b1, o1;
  stats(&s, &b0, &o0);
  uint8_t rec[40];
  memset(rec, 'r', sizeof rec);
  rec[0] = 0x0a; /* one LEN field, tag 1, over the rest */
  rec[1] = sizeof rec - 2;
  pb_txn *t;
  pb_atom_ptr p;
  assert_int_equal(pb_txn_begin(s.db, 0, &t), PB_OK);
  assert_int_equal(pb_txn_put_record(t, &note_type, rec, sizeof rec, &p),
                   PB_OK);
  pb_value v = {.kind = PB_VALUE_REF, .as.ref = p};
  assert_int_equal(pb_txn_set(t, "note", &v), PB_OK);
  assert_int_equal(pb_txn_commit(t), PB_OK);
  stats(&s, &b1, &o1);
  assert_int_equal(b1.insertions - b0.insertions, 1); /* the record */
  assert_true(o1.insertions - o0.insertions >= 2);    /* the roots */
  close_store(&s);
  pb_test_rmdir(s.dir);

  /* No object cache: the nodes go to the bytes cache instead. */
  s.dir = pb_test_tmpdir();
  pb_space_options o;
  pb_space_options_init(&o);
  o.object_cache_bytes = 0;
  o.object_cache_entries = 0;
  o.bytes_cache_bytes = 16u << 20; /* on, which is not the file default */
  open_store(&s, &o);
  fill(&s);
  stats(&s, &b0, &o0);
  assert_true(b0.insertions > N / 64);
  assert_int_equal(o0.insertions, 0);
  close_store(&s);
  pb_test_rmdir(s.dir);
}

static void cold_then_warm(void **state) {
  (void)state;
  store s = {.dir = pb_test_tmpdir()};
  open_store(&s, both_caches());
  fill(&s);
  close_store(&s);
  open_store(&s, both_caches()); /* a fresh space: empty caches */
  pb_cache_stats b0, o0, b1, o1;
  uint64_t links0 = pb__dict_links;
  read_all(&s);
  stats(&s, &b0, &o0);
  assert_true(o0.loads > N / 64);
  assert_int_equal(o0.loads, o0.misses); /* one load per node, each once */
  assert_int_equal(b0.misses, o0.loads); /* each read from storage once */
  assert_int_equal(b0.insertions, b0.misses);
  /* Every node was linked: the root in its cell, each other node under
   * its cached parent. */
  assert_int_equal(pb__dict_links - links0, o0.loads);
  read_all(&s);
  stats(&s, &b1, &o1);
  assert_int_equal(o1.loads, o0.loads);
  /* The warm pass: the root from its cell, the rest through links (no
   * lookup: no hit, no miss, no new link). */
  assert_int_equal(o1.hits, o0.hits);
  assert_int_equal(o1.misses, o0.misses);
  assert_int_equal(pb__dict_links - links0, o0.loads);
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
  pb_space_options o = *both_caches();
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
  pb__src_caches c = {.objects = s.sp->objects, .holds = &k};
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
  open_store(&s, both_caches());
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

/* --- defaults_by_tier --- */

/* Opens a space over `st` with the defaults; gives its bytes cache's
 * statistics after a commit and a read. */
static pb_cache_stats bytes_after_use(pb_storage *st,
                                      const pb_space_options *o) {
  store s = {.st = st};
  assert_int_equal(pb_space_open_ex(st, o, &s.sp), PB_OK);
  assert_int_equal(pb_db_open(s.sp, "main", PB_CREATE, &s.db), PB_OK);
  fill(&s);
  read_all(&s);
  pb_cache_stats b;
  stats(&s, &b, NULL);
  close_store(&s);
  return b;
}

static void defaults_by_tier(void **state) {
  (void)state;
  char *dir = pb_test_tmpdir();
  pb_storage *st;
  assert_int_equal(pb_storage_open_file(dir, NULL, &st), PB_OK);
  pb_cache_stats b = bytes_after_use(st, NULL);
  assert_int_equal(b.max_bytes, 0); /* file: off */
  assert_int_equal(b.insertions + b.hits + b.misses, 0);
  pb_test_rmdir(dir);

  /* An entry limit alone does not turn it on where the default is off. */
  dir = pb_test_tmpdir();
  pb_space_options o;
  pb_space_options_init(&o);
  o.bytes_cache_entries = 1000;
  assert_int_equal(pb_storage_open_file(dir, NULL, &st), PB_OK);
  b = bytes_after_use(st, &o);
  assert_int_equal(b.max_bytes, 0);
  pb_test_rmdir(dir);

  assert_int_equal(pb_storage_open_memory(&st), PB_OK);
  b = bytes_after_use(st, NULL);
  assert_int_equal(b.max_bytes, 0); /* memory: off */

  /* A tier whose reads are expensive (a remote one): the memory tier
   * saying so. */
  static pb__storage_ops remote;
  assert_int_equal(pb_storage_open_memory(&st), PB_OK);
  remote = *st->ops;
  remote.cheap_reads = false;
  st->ops = &remote;
  b = bytes_after_use(st, NULL);
  assert_int_equal(b.max_bytes, 16u << 20);
  assert_int_equal(b.max_entries, 0);
  /* It is used: nodes are written through to the object cache only (its
   * objects keep their own bytes), so with the object cache off they go
   * to the bytes cache. */
  assert_int_equal(pb_storage_open_memory(&st), PB_OK);
  st->ops = &remote;
  pb_space_options_init(&o);
  o.object_cache_bytes = 0;
  b = bytes_after_use(st, &o);
  assert_int_equal(b.max_bytes, 16u << 20);
  assert_true(b.insertions > N / 64); /* the commit's atoms went in */
  assert_true(b.entries > N / 64);
  /* And explicitly off there too. */
  assert_int_equal(pb_storage_open_memory(&st), PB_OK);
  st->ops = &remote;
  pb_space_options_init(&o);
  o.bytes_cache_bytes = 0;
  b = bytes_after_use(st, &o);
  assert_int_equal(b.max_bytes + b.insertions, 0);
}

/* --- scan_keeps_hot_set --- */

#define BIG 40000u /* entries of "big": several times the object cache */
#define HOT 200u   /* the hot keys: the first of "d" */

/* Reads the hot keys of "d" in a read transaction of their own. */
static void read_hot(store *s) {
  pb_txn *t;
  pb_dict *d;
  assert_int_equal(pb_txn_begin(s->db, PB_RDONLY, &t), PB_OK);
  assert_int_equal(pb_txn_open_dict(t, "d", 0, &d), PB_OK);
  for (unsigned i = 0; i < HOT; i++) {
    char kb[24], vb[64];
    pb_value v;
    assert_int_equal(pb_dict_get(d, key_of(i, kb), &v), PB_OK);
    pb_str want = val_of(i, vb);
    assert_int_equal(v.as.s.len, want.len);
    assert_memory_equal(v.as.s.ptr, want.ptr, want.len);
  }
  assert_int_equal(pb_txn_abort(t), PB_OK);
}

/* Reads entries [from, to) of "big" in order (to = BIG: a full scan), in
 * one read transaction, through an iterator; gives how many it read. */
static unsigned scan_big(store *s, unsigned from, unsigned to) {
  pb_txn *t;
  pb_dict *d;
  pb_dict_iter *it;
  char lo[24], hi[24];
  pb_dict_range r = {key_of(from, lo), key_of(to, hi), true, to < BIG,
                     true, false};
  assert_int_equal(pb_txn_begin(s->db, PB_RDONLY, &t), PB_OK);
  assert_int_equal(pb_txn_open_dict(t, "big", 0, &d), PB_OK);
  assert_int_equal(pb_dict_iter_open(d, &r, 0, &it), PB_OK);
  unsigned n = 0;
  pb_str k;
  pb_value v;
  int rc;
  while ((rc = pb_dict_iter_next(it, &k, &v)) == PB_OK) n++;
  assert_int_equal(rc, PB_ENOTFOUND);
  pb_dict_iter_close(it);
  assert_int_equal(pb_txn_abort(t), PB_OK);
  return n;
}

static void scan_keeps_hot_set(void **state) {
  (void)state;
  store s = {.dir = pb_test_tmpdir()};
  open_store(&s, NULL); /* defaults: file storage, durable */
  fill(&s);
  for (unsigned part = 0; part < 4; part++) { /* "big", in 4 commits */
    pb_txn *t;
    pb_dict *d;
    assert_int_equal(pb_txn_begin(s.db, 0, &t), PB_OK);
    assert_int_equal(pb_txn_open_dict(t, "big", PB_CREATE, &d), PB_OK);
    for (unsigned i = part * BIG / 4; i < (part + 1) * BIG / 4; i++) {
      char kb[24], vb[64];
      pb_value v = {.kind = PB_VALUE_STRING, .as.s = val_of(i, vb)};
      assert_int_equal(pb_dict_put(d, key_of(i, kb), &v), PB_OK);
    }
    assert_int_equal(pb_txn_commit(t), PB_OK);
  }
  /* Compacted now, so that the reopen finds no dead bytes: otherwise the
   * automatic compaction would start at the reopen and, finishing during
   * the reads below, move every atom (new addresses: every node a miss). */
  assert_int_equal(pb_storage_compact(s.st, NULL), PB_OK);
  close_store(&s);

  pb_space_options o;
  pb_space_options_init(&o);
  o.object_cache_bytes = 1u << 20; /* "big" needs several times that */
  open_store(&s, &o);
  /* Warm up as a workload would: the hot keys come back after other
   * reads (a quarter of "big" each time), so their nodes reach the
   * protected queue. */
  for (unsigned round = 0; round < 4; round++) {
    read_hot(&s);
    scan_big(&s, round * BIG / 4, (round + 1) * BIG / 4);
  }
  read_hot(&s);
  pb_cache_stats o0, o1, o2;
  stats(&s, NULL, &o0);
  read_hot(&s);
  stats(&s, NULL, &o1);
  assert_int_equal(o1.misses, o0.misses); /* hot: every node cached */
  assert_int_equal(o1.loads, o0.loads);

  /* The full scan, as a user's reads it: its leaves are read from the
   * stored bytes, not loaded (only its branches are), so it cannot push
   * anything out. */
  uint64_t before = o1.loads;
  assert_int_equal(scan_big(&s, 0, BIG), BIG);
  stats(&s, NULL, &o2);
  assert_true(o2.loads - before < 64); /* "big" has hundreds of leaves */
  assert_int_equal(o2.evictions, o1.evictions);
  read_hot(&s);
  stats(&s, NULL, &o1);
  assert_int_equal(o1.misses, o2.misses); /* the hot set is all there */
  assert_int_equal(o1.loads, o2.loads);

  /* The full scan again, with every leaf loaded through the cache (as
   * iterators read before they read leaves in place): every node of
   * "big" loaded once, far more than fit. */
  pb__dict_scan_cached = true;
  assert_int_equal(scan_big(&s, 0, BIG), BIG);
  pb__dict_scan_cached = false;
  stats(&s, NULL, &o2);
  uint64_t loaded = o2.loads - o1.loads;
  if (getenv("PB_TEST_VERBOSE"))
    printf("scan: %llu nodes loaded, %llu cached in %llu bytes, %llu "
           "evicted\n", (unsigned long long)loaded,
           (unsigned long long)o2.entries, (unsigned long long)o2.bytes,
           (unsigned long long)(o2.evictions - o1.evictions));
  assert_true(loaded > 3 * o2.entries); /* several times the cache */
  assert_true(o2.evictions - o1.evictions > o2.entries); /* all turned */
  assert_true(o2.bytes <= o2.max_bytes);

  /* The hot set is still there. */
  pb_cache_stats o3;
  read_hot(&s);
  stats(&s, NULL, &o3);
  /* (Its nodes are reached through links and its root's cell, which the
   * cache clears when it drops a node: a dropped node would be a miss.) */
  assert_int_equal(o3.misses - o2.misses, 0);
  assert_int_equal(o3.loads - o2.loads, 0);
  close_store(&s);
  pb_test_rmdir(s.dir);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(options_and_stats),
      cmocka_unit_test(read_your_writes),
      cmocka_unit_test(write_through_where),
      cmocka_unit_test(cold_then_warm),
      cmocka_unit_test(bytes_tier),
      cmocka_unit_test(no_dangling),
      cmocka_unit_test(commit_ignores_cache_enomem),
      cmocka_unit_test(defaults_by_tier),
      cmocka_unit_test(scan_keeps_hot_set),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
