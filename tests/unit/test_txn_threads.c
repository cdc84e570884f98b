/*
 * test_txn_threads.c - read transactions on several threads: the handles
 * a database keeps (per-thread slots, txn/txn.c), the file tier's striped
 * pins (storage/file_gen.c) and the type cache of a database handle
 * (txn/catalog.c).  Labels `unit` and `threads` (the
 * ThreadSanitizer suite); under ASan a view into freed or unmapped memory,
 * or a handle kept twice, is an error.
 *
 *   readers_2_beside_commits_and_compactions
 *   readers_4_beside_commits_and_compactions
 *        2 or 4 reader threads begin a read transaction, read the named
 *        generation and entries of a Dictionary (string views, read again
 *        after a yield), and abort, again and again, while a writer
 *        thread commits new generations of every entry and compacts the
 *        storage every few commits: every transaction sees one
 *        generation, never going back; afterwards no pin is counted,
 *        every replaced generation is gone (files included) and the
 *        database keeps no more handles than it has slots; with the
 *        default caches, then with both caches off (every read from the
 *        storage's mappings)
 *   readers_beside_commits_memory
 *        the same on the memory tier (2 readers, no compaction), whose
 *        read_root takes no lock
 *   handle_ended_on_another_thread
 *        a read transaction begun on thread A (its pin counted on A's
 *        stripe) keeps the replaced generation of a compaction alive; it
 *        is read and aborted on thread B, which frees that generation;
 *        B's next begin reuses the handle, and so does a begin on a third
 *        thread C, whose own slot is empty
 *   many_handles_on_one_thread
 *        more transactions open at once than there are slots: ended, the
 *        database keeps one per slot and frees the others; begun again,
 *        each handle is given once; ended on another thread, the same
 *   record_loads_beside_registrations
 *        two threads load a record in read transactions of their own
 *        while a third registers 40 record types one by one: the type
 *        cache of the database handle, read without a lock, grows under
 *        the loads, which all succeed; each type gets one epoch
 *
 * The default storage (file, PB_DURABILITY_SYNC), with small segments so
 * that compactions replace several.
 */
#include <dirent.h>
#include <pthread.h>
#include <sched.h>
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
#include "storage/file.h"
#include "test_util.h"
#include "txn/space.h"

typedef struct store {
  char *dir;
  pb_storage *st;
  pb_space *sp;
  pb_db *db;
} store;

typedef enum store_kind {
  FILE_STORE,     /* the default storage and caches */
  FILE_UNCACHED,  /* both caches off: every read goes to the storage, and
                     views point into its mappings */
  MEMORY_STORE    /* the memory tier, default caches */
} store_kind;

static void open_store(store *s, store_kind kind) {
  pb_space_options so;
  pb_space_options_init(&so);
  if (kind == FILE_UNCACHED) so.bytes_cache_bytes = so.object_cache_bytes = 0;
  if (kind == MEMORY_STORE) {
    s->dir = NULL;
    assert_int_equal(pb_storage_open_memory(&s->st), PB_OK);
  } else {
    s->dir = pb_test_tmpdir();
    pb_file_options fo;
    pb_file_options_init(&fo); /* PB_DURABILITY_SYNC */
    fo.segment_size = 16u << 10; /* several segments between compactions */
    assert_int_equal(pb_storage_open_file(s->dir, &fo, &s->st), PB_OK);
  }
  assert_int_equal(pb_space_open_ex(s->st, &so, &s->sp), PB_OK);
  assert_int_equal(pb_db_open(s->sp, "main", PB_CREATE, &s->db), PB_OK);
}

static void close_store(store *s) {
  assert_int_equal(pb_db_close(s->db), PB_OK);
  assert_int_equal(pb_space_close(s->sp), PB_OK);
  if (s->dir) pb_test_rmdir(s->dir);
}

static pb_str key_of(unsigned i, char *buf) {
  snprintf(buf, 24, "key-%06u", i);
  return pb_str_from_cstr(buf);
}

/* The value of entry i in generation g: a string, so reads are views. */
static int val_of(unsigned g, unsigned i, char *buf) {
  return snprintf(buf, 64, "generation %u of entry %u, a longer value", g, i);
}

#define N 48u /* entries */

/* Commits generation g: every entry and "gen" = g.  PB_OK, or the error
 * (PB_ECONFLICT when a compaction switched under it). */
static int commit_gen(store *s, unsigned g) {
  pb_txn *t;
  pb_dict *d;
  int rc = pb_txn_begin(s->db, 0, &t);
  if (rc != PB_OK) return rc;
  rc = pb_txn_open_dict(t, "d", PB_CREATE, &d);
  for (unsigned i = 0; rc == PB_OK && i < N; i++) {
    char kb[24], vb[64];
    int len = val_of(g, i, vb);
    pb_value v = {.kind = PB_VALUE_STRING, .as.s = {vb, (size_t)len}};
    rc = pb_dict_put(d, key_of(i, kb), &v);
  }
  pb_value gv = {.kind = PB_VALUE_UINT, .as.u = g};
  if (rc == PB_OK) rc = pb_txn_set(t, "gen", &gv);
  if (rc != PB_OK) {
    pb_txn_abort(t);
    return rc;
  }
  return pb_txn_commit(t);
}

/* True when entry i of d is generation g's, also after a yield (the view
 * keeps its bytes while others commit and compact). */
static bool entry_is(pb_dict *d, unsigned i, unsigned g) {
  char kb[24], vb[64];
  pb_value v;
  if (pb_dict_get(d, key_of(i, kb), &v) != PB_OK) return false;
  int len = val_of(g, i, vb);
  if (v.kind != PB_VALUE_STRING || v.as.s.len != (size_t)len ||
      memcmp(v.as.s.ptr, vb, (size_t)len) != 0)
    return false;
  sched_yield();
  return memcmp(v.as.s.ptr, vb, (size_t)len) == 0;
}

/* Replaced segment files still in the directory, plus the current one. */
static int count_segments(const char *dir) {
  DIR *d = opendir(dir);
  assert_non_null(d);
  int n = 0;
  struct dirent *e;
  uint64_t seq;
  while ((e = readdir(d)) != NULL)
    if (pb__seg_parse_name(e->d_name, &seq)) n++;
  closedir(d);
  return n;
}

/* Handles db keeps in its slots. */
static unsigned kept_handles(pb_db *db) {
  unsigned n = 0;
  for (unsigned i = 0; i < PB__TXN_SLOTS; i++)
    if (atomic_load(&db->slots[i].txn) != NULL) n++;
  return n;
}

/* Pins counted on every record of the store: the first generation's and
 * those of the switches since. */
static size_t pins_counted(pb_storage *st) {
  pb__file_storage *fs = (pb__file_storage *)st;
  size_t n = pb__fs_pins_held(&fs->pins0);
  for (pb__pins *p = fs->all_pins; p != NULL; p = p->next_all)
    n += pb__fs_pins_held(p);
  return n;
}

/* --- readers beside a writer that commits and compacts --- */

#define MAX_READERS 4
#define GENS 40u
#define COMPACT_EVERY 4u
#define READS 300u

/* The threads check without cmocka (whose failures longjmp, which only
 * the main thread may): the first failed check's line is kept. */
typedef struct shared {
  store *s;
  bool compact;      /* the writer compacts (file tier) */
  atomic_uint done;  /* the writer finished */
  atomic_int failed; /* line of the first failed check, or 0 */
  unsigned reads[MAX_READERS];
  unsigned gens_seen[MAX_READERS];
  unsigned compactions;
} shared;

#define CHECK(sh, cond)                                    \
  do {                                                     \
    if (!(cond)) {                                         \
      int zero = 0;                                        \
      atomic_compare_exchange_strong(&(sh)->failed, &zero, \
                                     __LINE__);            \
      return NULL;                                         \
    }                                                      \
  } while (0)

typedef struct reader_arg {
  shared *sh;
  unsigned id;
} reader_arg;

static void *reader_main(void *p) {
  reader_arg *a = p;
  shared *sh = a->sh;
  store *s = sh->s;
  uint64_t last = 0;
  uint64_t x = 0x9e3779b97f4a7c15u * (a->id + 1);
  unsigned n = 0, seen = 0;
  while ((n < READS || !atomic_load(&sh->done)) &&
         atomic_load(&sh->failed) == 0) {
    pb_txn *t;
    pb_dict *d;
    pb_value gv;
    CHECK(sh, pb_txn_begin(s->db, PB_RDONLY, &t) == PB_OK);
    bool ok = pb_txn_get(t, "gen", &gv) == PB_OK && gv.as.u >= last &&
              pb_txn_open_dict(t, "d", 0, &d) == PB_OK;
    for (int k = 0; ok && k < 3; k++) {
      x ^= x << 13, x ^= x >> 7, x ^= x << 17;
      ok = entry_is(d, (unsigned)(x % N), (unsigned)gv.as.u);
    }
    pb_txn_abort(t);
    CHECK(sh, ok); /* one generation, never back in time */
    if (gv.as.u != last) seen++;
    last = gv.as.u;
    n++;
  }
  sh->reads[a->id] = n;
  sh->gens_seen[a->id] = seen;
  return NULL;
}

static void *writer_main(void *p) {
  shared *sh = p;
  store *s = sh->s;
  for (unsigned g = 1; g <= GENS && atomic_load(&sh->failed) == 0;) {
    int rc = commit_gen(s, g);
    CHECK(sh, rc == PB_OK || rc == PB_ECONFLICT);
    if (rc != PB_OK) continue;
    if (sh->compact && g % COMPACT_EVERY == 0) {
      CHECK(sh, pb_storage_compact(s->st, NULL) == PB_OK);
      sh->compactions++;
    }
    g++;
  }
  atomic_store(&sh->done, 1);
  return NULL;
}

static void readers_beside_commits_and_compactions(unsigned n_readers,
                                                   store_kind kind) {
  store s;
  open_store(&s, kind);
  assert_int_equal(commit_gen(&s, 0), PB_OK);
  shared sh = {.s = &s, .compact = kind != MEMORY_STORE};
  atomic_init(&sh.done, 0);
  atomic_init(&sh.failed, 0);
  reader_arg ra[MAX_READERS];
  pthread_t rt[MAX_READERS], wt;
  for (unsigned i = 0; i < n_readers; i++) {
    ra[i] = (reader_arg){&sh, i};
    assert_int_equal(pthread_create(&rt[i], NULL, reader_main, &ra[i]), 0);
  }
  assert_int_equal(pthread_create(&wt, NULL, writer_main, &sh), 0);
  assert_int_equal(pthread_join(wt, NULL), 0);
  for (unsigned i = 0; i < n_readers; i++)
    assert_int_equal(pthread_join(rt[i], NULL), 0);
  assert_int_equal(atomic_load(&sh.failed), 0);
  assert_int_equal(sh.compactions, sh.compact ? GENS / COMPACT_EVERY : 0);
  for (unsigned i = 0; i < n_readers; i++) {
    print_message("reader %u: %u transactions, %u generations seen\n", i,
                  sh.reads[i], sh.gens_seen[i]);
    assert_true(sh.reads[i] >= READS);
  }
  /* Every pin was given back, to the stripe it was counted on, and the
   * last unpins freed every replaced generation. */
  if (kind != MEMORY_STORE) {
    pb__file_storage *fs = (pb__file_storage *)s.st;
    assert_int_equal(pins_counted(s.st), 0);
    assert_null(fs->old);
    assert_int_equal(count_segments(s.dir), 1);
  }
  assert_true(kept_handles(s.db) >= 1);
  assert_true(kept_handles(s.db) <= n_readers + 2); /* and writer, main */
  /* The last generation, read on this thread. */
  pb_txn *t;
  pb_dict *d;
  pb_value gv;
  assert_int_equal(pb_txn_begin(s.db, PB_RDONLY, &t), PB_OK);
  assert_int_equal(pb_txn_get(t, "gen", &gv), PB_OK);
  assert_int_equal(gv.as.u, GENS);
  assert_int_equal(pb_txn_open_dict(t, "d", 0, &d), PB_OK);
  for (unsigned i = 0; i < N; i++) assert_true(entry_is(d, i, GENS));
  assert_int_equal(pb_txn_abort(t), PB_OK);
  close_store(&s);
}

static void readers_2_beside_commits_and_compactions(void **state) {
  (void)state;
  readers_beside_commits_and_compactions(2, FILE_STORE);
  readers_beside_commits_and_compactions(2, FILE_UNCACHED);
}

static void readers_4_beside_commits_and_compactions(void **state) {
  (void)state;
  readers_beside_commits_and_compactions(4, FILE_STORE);
  readers_beside_commits_and_compactions(4, FILE_UNCACHED);
}

/* The memory tier's read_root takes no lock either. */
static void readers_beside_commits_memory(void **state) {
  (void)state;
  readers_beside_commits_and_compactions(2, MEMORY_STORE);
}

/* --- one handle, several threads --- */

typedef struct relay {
  store *s;
  pb_txn *t;      /* the transaction passed between threads */
  pb_txn *again;  /* what the next begin on the thread gave */
  unsigned gen;   /* the generation it read */
  bool ok;
} relay;

/* Thread A: begins, reads, and leaves the transaction open. */
static void *begin_on_a(void *p) {
  relay *r = p;
  pb_value gv;
  pb_dict *d;
  r->ok = pb_txn_begin(r->s->db, PB_RDONLY, &r->t) == PB_OK &&
          pb_txn_get(r->t, "gen", &gv) == PB_OK &&
          pb_txn_open_dict(r->t, "d", 0, &d) == PB_OK &&
          entry_is(d, 7, (unsigned)gv.as.u);
  r->gen = (unsigned)gv.as.u;
  return NULL;
}

/* Thread B: reads through A's transaction, aborts it, begins again. */
static void *end_on_b(void *p) {
  relay *r = p;
  pb_value gv;
  pb_dict *d;
  r->ok = pb_txn_get(r->t, "gen", &gv) == PB_OK && gv.as.u == r->gen &&
          pb_txn_open_dict(r->t, "d", 0, &d) == PB_OK &&
          entry_is(d, 9, r->gen) && pb_txn_abort(r->t) == PB_OK &&
          pb_txn_begin(r->s->db, PB_RDONLY, &r->again) == PB_OK &&
          pb_txn_abort(r->again) == PB_OK;
  return NULL;
}

/* Thread C: begins and aborts. */
static void *begin_on_c(void *p) {
  relay *r = p;
  r->ok = pb_txn_begin(r->s->db, PB_RDONLY, &r->again) == PB_OK &&
          pb_txn_abort(r->again) == PB_OK;
  return NULL;
}

static void run_thread(void *(*fn)(void *), relay *r) {
  pthread_t th;
  assert_int_equal(pthread_create(&th, NULL, fn, r), 0);
  assert_int_equal(pthread_join(th, NULL), 0);
  assert_true(r->ok);
}

static void handle_ended_on_another_thread(void **state) {
  (void)state;
  store s;
  open_store(&s, FILE_STORE);
  for (unsigned g = 0; g < 8; g++) assert_int_equal(commit_gen(&s, g), PB_OK);
  relay r = {.s = &s};
  run_thread(begin_on_a, &r);
  assert_int_equal(r.gen, 7);
  assert_int_equal(pins_counted(s.st), 1);

  /* A compaction beside the open transaction: its generation stays. */
  for (unsigned g = 8; g < 16; g++) assert_int_equal(commit_gen(&s, g), PB_OK);
  assert_int_equal(pb_storage_compact(s.st, NULL), PB_OK);
  pb__file_storage *fs = (pb__file_storage *)s.st;
  assert_non_null(fs->old);
  assert_true(count_segments(s.dir) > 1);
  pb__txn_drop_spare(s.db); /* the handles of the commits above */
  assert_int_equal(kept_handles(s.db), 0);

  /* B ends it: the pin comes off A's stripe, the generation goes. */
  run_thread(end_on_b, &r);
  assert_ptr_equal(r.again, r.t); /* B's begin reused it */
  assert_int_equal(pins_counted(s.st), 0);
  assert_null(fs->old);
  assert_int_equal(count_segments(s.dir), 1);
  assert_int_equal(kept_handles(s.db), 1);

  /* C's own slot is empty: it takes the handle B kept, the only one. */
  pb_txn *kept = r.t;
  r.again = NULL;
  run_thread(begin_on_c, &r);
  assert_ptr_equal(r.again, kept);
  assert_int_equal(kept_handles(s.db), 1);
  close_store(&s);
}

/* --- more open transactions than slots --- */

#define MANY (2 * PB__TXN_SLOTS + 5)

typedef struct batch {
  store *s;
  pb_txn *t[MANY];
  bool ok;
} batch;

static void *abort_all(void *p) {
  batch *b = p;
  b->ok = true;
  for (unsigned i = 0; i < MANY; i++)
    b->ok = pb_txn_abort(b->t[i]) == PB_OK && b->ok;
  return NULL;
}

/* Begins MANY read transactions at once; each handle is distinct. */
static void begin_many(batch *b) {
  for (unsigned i = 0; i < MANY; i++) {
    assert_int_equal(pb_txn_begin(b->s->db, PB_RDONLY, &b->t[i]), PB_OK);
    pb_value gv;
    assert_int_equal(pb_txn_get(b->t[i], "gen", &gv), PB_OK);
    assert_int_equal(gv.as.u, 0);
    for (unsigned j = 0; j < i; j++) assert_ptr_not_equal(b->t[j], b->t[i]);
  }
}

static void many_handles_on_one_thread(void **state) {
  (void)state;
  store s;
  open_store(&s, FILE_STORE);
  assert_int_equal(commit_gen(&s, 0), PB_OK);
  batch b = {.s = &s};
  begin_many(&b);
  assert_int_equal(kept_handles(s.db), 0);
  assert_int_equal(pins_counted(s.st), MANY);
  abort_all(&b);
  assert_true(b.ok);
  assert_int_equal(kept_handles(s.db), PB__TXN_SLOTS);
  assert_int_equal(pins_counted(s.st), 0);
  /* Again: the kept handles are given once each; ended on another
   * thread this time. */
  begin_many(&b);
  assert_int_equal(kept_handles(s.db), 0);
  pthread_t th;
  assert_int_equal(pthread_create(&th, NULL, abort_all, &b), 0);
  assert_int_equal(pthread_join(th, NULL), 0);
  assert_true(b.ok);
  assert_int_equal(kept_handles(s.db), PB__TXN_SLOTS);
  assert_int_equal(pins_counted(s.st), 0);
  close_store(&s); /* frees the kept handles (ASan: no leak) */
}

/* --- record loads beside registrations (the catalog cache) --- */

#define N_TYPES 40u /* registered one by one: the cache's table grows 3 times */
#define LOADS 2000u

typedef struct rec_shared {
  store *s;
  pb_atom_ptr ref;  /* a record of type rec_type */
  atomic_uint done; /* the registrations finished */
  atomic_int failed;
  unsigned loads[2];
} rec_shared;

static const pb_record_type rec_type = {.name = "tests.Loaded",
                                        .fingerprint = 0x4c4f4144u};

typedef struct loader_arg {
  rec_shared *sh;
  unsigned id;
} loader_arg;

static void *loader_main(void *p) {
  loader_arg *a = p;
  rec_shared *sh = a->sh;
  unsigned n = 0;
  while ((n < LOADS || !atomic_load(&sh->done)) &&
         atomic_load(&sh->failed) == 0) {
    pb_txn *t;
    pb_bytes body;
    CHECK(sh, pb_txn_begin(sh->s->db, PB_RDONLY, &t) == PB_OK);
    bool ok = pb_txn_load_record(t, &rec_type, sh->ref, &body) == PB_OK &&
              body.len == 2 && memcmp(body.ptr, "\x08\x07", 2) == 0;
    pb_txn_abort(t);
    CHECK(sh, ok);
    n++;
  }
  sh->loads[a->id] = n;
  return NULL;
}

/* Two threads load a record (each load looks its type's epoch up in the
 * database handle's cache, without a lock) while this thread registers
 * new types one by one, each added to that cache: the loads all succeed,
 * and every type has its epoch afterwards. */
static void record_loads_beside_registrations(void **state) {
  (void)state;
  store s;
  open_store(&s, FILE_STORE);
  rec_shared sh = {.s = &s};
  atomic_init(&sh.done, 0);
  atomic_init(&sh.failed, 0);
  pb_txn *t;
  assert_int_equal(pb_txn_begin(s.db, 0, &t), PB_OK);
  assert_int_equal(pb_txn_put_record(t, &rec_type, "\x08\x07", 2, &sh.ref),
                   PB_OK);
  assert_int_equal(pb_txn_commit(t), PB_OK);
  pthread_t th[2];
  loader_arg la[2] = {{&sh, 0}, {&sh, 1}};
  for (int i = 0; i < 2; i++)
    assert_int_equal(pthread_create(&th[i], NULL, loader_main, &la[i]), 0);
  static char names[N_TYPES][24];
  static pb_record_type types[N_TYPES];
  for (unsigned i = 0; i < N_TYPES; i++) {
    snprintf(names[i], sizeof names[i], "tests.Type%u", i);
    types[i] = (pb_record_type){.name = names[i],
                                .fingerprint = 0x7479706500000000u + i};
    const pb_record_type *one = &types[i];
    assert_int_equal(pb_db_register(s.db, &one, 1), PB_OK);
  }
  atomic_store(&sh.done, 1);
  for (int i = 0; i < 2; i++) assert_int_equal(pthread_join(th[i], NULL), 0);
  assert_int_equal(atomic_load(&sh.failed), 0);
  assert_true(sh.loads[0] >= LOADS && sh.loads[1] >= LOADS);
  /* 1 + N_TYPES entries, each once, with distinct epochs. */
  assert_int_equal(atomic_load(&s.db->n_epochs), 1 + N_TYPES);
  uint64_t seen[N_TYPES];
  for (unsigned i = 0; i < N_TYPES; i++) {
    assert_int_equal(pb_db_schema_epoch(s.db, &types[i], &seen[i]), PB_OK);
    assert_true(seen[i] != 0);
    for (unsigned j = 0; j < i; j++) assert_true(seen[j] != seen[i]);
  }
  assert_int_equal(atomic_load(&s.db->n_epochs), 1 + N_TYPES);
  close_store(&s);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(readers_2_beside_commits_and_compactions),
      cmocka_unit_test(readers_4_beside_commits_and_compactions),
      cmocka_unit_test(readers_beside_commits_memory),
      cmocka_unit_test(handle_ended_on_another_thread),
      cmocka_unit_test(many_handles_on_one_thread),
      cmocka_unit_test(record_loads_beside_registrations),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
