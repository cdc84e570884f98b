/*
 * test_ebr.c - epoch-based reclamation (util/ebr.h) and the links between
 * cached Dictionary nodes that rely on it (collections/dict_node.c).
 * Labels `unit` and `threads` (the ThreadSanitizer suite); under ASan a
 * node freed while a reader is inside it is an error.
 *
 *   retire_waits_for_readers
 *        an object retired while a reader is inside its epoch is freed
 *        only after that reader exits; a reader that entered after the
 *        retirement does not hold it back; with no reader, at once
 *   links_under_eviction
 *        the default storage (file, PB_DURABILITY_SYNC) with a small
 *        object cache: two threads read a hot Dictionary, a read
 *        transaction per get, through links and root cells, while a third
 *        scans a large one (the cache drops nodes, their links and cells
 *        are cleared, they are retired) and a fourth commits new versions
 *        of the hot entries (new roots take over the cells): every get
 *        sees one committed version, and versions never go back; links
 *        were made and followed; after close nothing retired is left
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

#include "collections/dict_int.h"
#include "protobase/protobase.h"
#include "test_util.h"
#include "util/ebr.h"

/* --- the reclamation alone --- */

typedef struct thing {
  pb__ebr_node ebr;
  bool *freed;
} thing;

static void thing_free(pb__ebr_node *n) {
  thing *t = (thing *)((char *)n - offsetof(thing, ebr));
  *t->freed = true;
  free(t);
}

static thing *thing_new(bool *freed) {
  thing *t = malloc(sizeof *t);
  assert_non_null(t);
  t->freed = freed;
  *freed = false;
  return t;
}

static void retire_waits_for_readers(void **state) {
  (void)state;
  /* Static: a failed assert leaves them registered. */
  static pb__ebr_slot a, b;
  pb__ebr_register(&a);
  pb__ebr_register(&b);
  pb__ebr_reclaim();
  uint64_t pending0 = pb__ebr_pending();

  bool f1;
  pb__ebr_enter(&a);
  assert_true(pb__ebr_active(&a));
  pb__ebr_retire(&thing_new(&f1)->ebr, thing_free);
  pb__ebr_enter(&b); /* after the retirement: does not hold it */
  pb__ebr_reclaim();
  assert_false(f1); /* a may be inside it */
  assert_int_equal(pb__ebr_pending(), pending0 + 1);
  pb__ebr_exit(&a);
  pb__ebr_reclaim();
  assert_true(f1); /* b entered later: it cannot have reached it */
  assert_int_equal(pb__ebr_pending(), pending0);

  bool f2;
  pb__ebr_retire(&thing_new(&f2)->ebr, thing_free); /* b still inside */
  pb__ebr_reclaim();
  assert_false(f2);
  pb__ebr_exit(&b);
  assert_false(pb__ebr_active(&b));
  pb__ebr_reclaim();
  assert_true(f2);

  bool f3;
  pb__ebr_retire(&thing_new(&f3)->ebr, thing_free); /* nobody inside */
  pb__ebr_reclaim();
  assert_true(f3);

  /* Unregistering frees what the slot held back. */
  bool f4;
  pb__ebr_enter(&a);
  pb__ebr_retire(&thing_new(&f4)->ebr, thing_free);
  pb__ebr_exit(&a);
  pb__ebr_unregister(&a);
  pb__ebr_unregister(&b);
  assert_true(f4);
}

/* A long reader: the reclaims it causes (every 64th retirement) free
 * nothing it may reach, those of a second oldest reader free what only
 * the first held back, and its exit lets everything go. */
static void long_reader_holds_then_frees(void **state) {
  (void)state;
  static pb__ebr_slot a, b;
  pb__ebr_register(&a);
  pb__ebr_register(&b);
  pb__ebr_reclaim();
  bool early;
  pb__ebr_enter(&b); /* the older reader, for a while */
  pb__ebr_retire(&thing_new(&early)->ebr, thing_free);
  pb__ebr_enter(&a); /* after `early`: a cannot reach it */
  pb__ebr_reclaim();
  assert_false(early); /* b may */
  enum { N = 300 };
  static bool freed[N];
  for (unsigned i = 0; i < N; i++) {
    pb__ebr_retire(&thing_new(&freed[i])->ebr, thing_free);
    if (i == N / 2) {
      pb__ebr_exit(&b); /* a is the oldest now: `early` may go */
      pb__ebr_reclaim();
      assert_true(early);
    }
  }
  pb__ebr_reclaim();
  pb__ebr_reclaim(); /* the same oldest reader twice: still nothing */
  for (unsigned i = 0; i < N; i++) assert_false(freed[i]);
  pb__ebr_exit(&a);
  pb__ebr_reclaim();
  for (unsigned i = 0; i < N; i++) assert_true(freed[i]);
  for (unsigned i = 0; i < 3; i++) { /* no reader: every reclaim frees */
    bool f;
    pb__ebr_retire(&thing_new(&f)->ebr, thing_free);
    pb__ebr_reclaim();
    assert_true(f);
  }
  pb__ebr_unregister(&a);
  pb__ebr_unregister(&b);
}

/* --- links and cells under eviction, on threads --- */

#define HOT 2000u
#define BIG 20000u
#define READS 3000u

typedef struct shared {
  pb_db *db;
  atomic_bool stop;
  atomic_uint version; /* the newest committed version of "hot" */
} shared;

static pb_str key_of(unsigned i, char *buf) {
  snprintf(buf, 24, "key-%06u", i);
  return pb_str_from_cstr(buf);
}

/* Entry i of version g: "<g> of <i>" padded, a view when read. */
static int val_of(unsigned g, unsigned i, char *buf) {
  return snprintf(buf, 64, "%08u of %06u, a value of some length", g, i);
}

static void put_all(pb_db *db, const char *name, unsigned n, unsigned g) {
  for (;;) {
    pb_txn *t;
    pb_dict *d;
    assert_int_equal(pb_txn_begin(db, 0, &t), PB_OK);
    assert_int_equal(pb_txn_open_dict(t, name, PB_CREATE, &d), PB_OK);
    for (unsigned i = 0; i < n; i++) {
      char kb[24], vb[64];
      int len = val_of(g, i, vb);
      pb_value v = {.kind = PB_VALUE_STRING, .as.s = {vb, (size_t)len}};
      assert_int_equal(pb_dict_put(d, key_of(i, kb), &v), PB_OK);
    }
    int rc = pb_txn_commit(t);
    if (rc == PB_ECONFLICT) continue;
    assert_int_equal(rc, PB_OK);
    return;
  }
}

static void *reader_main(void *p) {
  shared *sh = p;
  unsigned seen = 0, x = (unsigned)(uintptr_t)&seen;
  for (unsigned r = 0; r < READS; r++) {
    x = x * 1103515245u + 12345u;
    unsigned i = (x >> 8) % HOT;
    pb_txn *t;
    pb_dict *d;
    pb_value v;
    char kb[24], vb[64];
    assert_int_equal(pb_txn_begin(sh->db, PB_RDONLY, &t), PB_OK);
    assert_int_equal(pb_txn_open_dict(t, "hot", 0, &d), PB_OK);
    assert_int_equal(pb_dict_get(d, key_of(i, kb), &v), PB_OK);
    assert_int_equal(v.kind, PB_VALUE_STRING);
    unsigned g = (unsigned)strtoul(v.as.s.ptr, NULL, 10);
    int len = val_of(g, i, vb);
    assert_int_equal(v.as.s.len, (size_t)len);
    assert_memory_equal(v.as.s.ptr, vb, (size_t)len);
    if (i < HOT / 4) { /* the entries the writer rewrites */
      assert_true(g >= seen); /* never back */
      seen = g;
    } else {
      assert_int_equal(g, 1);
    }
    assert_int_equal(pb_txn_abort(t), PB_OK);
  }
  return NULL;
}

static void *scanner_main(void *p) {
  shared *sh = p;
  while (!atomic_load(&sh->stop)) {
    pb_txn *t;
    pb_dict *d;
    pb_dict_iter *it;
    assert_int_equal(pb_txn_begin(sh->db, PB_RDONLY, &t), PB_OK);
    assert_int_equal(pb_txn_open_dict(t, "big", 0, &d), PB_OK);
    assert_int_equal(pb_dict_iter_open(d, NULL, 0, &it), PB_OK);
    unsigned n = 0;
    pb_str k;
    pb_value v;
    while (pb_dict_iter_next(it, &k, &v) == PB_OK) n++;
    pb_dict_iter_close(it);
    assert_int_equal(n, BIG);
    assert_int_equal(pb_txn_abort(t), PB_OK);
  }
  return NULL;
}

static void *writer_main(void *p) {
  shared *sh = p;
  for (unsigned g = 2; !atomic_load(&sh->stop) && g < 40; g++) {
    put_all(sh->db, "hot", HOT / 4, g); /* a quarter: shared subtrees */
    atomic_store(&sh->version, g);
  }
  return NULL;
}

static void links_under_eviction(void **state) {
  (void)state;
  char *dir = pb_test_tmpdir();
  pb_storage *st;
  pb_space *sp;
  shared sh = {0};
  pb_space_options o;
  pb_space_options_init(&o);
  o.object_cache_bytes = 256u << 10; /* the hot set, not the big one */
  assert_int_equal(pb_storage_open_file(dir, NULL, &st), PB_OK);
  assert_int_equal(pb_space_open_ex(st, &o, &sp), PB_OK);
  assert_int_equal(pb_db_open(sp, "main", PB_CREATE, &sh.db), PB_OK);
  put_all(sh.db, "hot", HOT, 1);
  put_all(sh.db, "big", BIG, 1);
  atomic_init(&sh.version, 1);
  uint64_t links0 = pb__dict_links;

  pthread_t rd[2], sc, wr;
  for (int i = 0; i < 2; i++)
    assert_int_equal(pthread_create(&rd[i], NULL, reader_main, &sh), 0);
  assert_int_equal(pthread_create(&sc, NULL, scanner_main, &sh), 0);
  assert_int_equal(pthread_create(&wr, NULL, writer_main, &sh), 0);
  for (int i = 0; i < 2; i++) pthread_join(rd[i], NULL);
  atomic_store(&sh.stop, true);
  pthread_join(sc, NULL);
  pthread_join(wr, NULL);

  pb_cache_stats b, ob;
  assert_int_equal(pb_space_cache_stats(sp, &b, &ob), PB_OK);
  assert_true(ob.evictions > 0);      /* the scan turned the cache over */
  assert_true(pb__dict_links > links0); /* and readers linked nodes */
  assert_int_equal(pb_db_close(sh.db), PB_OK);
  assert_int_equal(pb_space_close(sp), PB_OK);
  assert_int_equal(pb__ebr_pending(), 0); /* every retired node freed */
  pb_test_rmdir(dir);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(retire_waits_for_readers),
      cmocka_unit_test(long_reader_holds_then_frees),
      cmocka_unit_test(links_under_eviction),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
