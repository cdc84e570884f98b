/*
 * test_pin_threads.c - pins and the published root without locks
 * (storage/file_gen.c, storage/file.h): readers pin, read the root and
 * its atom, keep the view a little, and unpin, in a tight loop, while a
 * writer commits and compacts again and again.  Every view a reader holds
 * stays readable and unchanged until it unpins (ASan, and TSan in the
 * `threads` suite of scripts/test, watch the memory), the LSNs a reader
 * sees never go back, and once the readers are gone every replaced
 * segment is deleted.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>

#include "storage/file.h"
#include "storage/storage.h"
#include "support/numbered.h"
#include "test_util.h"

#define N_READERS 3
#define ROUNDS 12
#define COMMITS_PER_ROUND 30

typedef struct shared {
  pb_storage *st;
  pb_db *db;
  atomic_bool stop;
} shared;

typedef struct reader {
  shared *sh;
  bool use_txn;     /* through pb_txn_begin/abort, else the storage ops */
  uint64_t loops;   /* pins taken */
  uint64_t lsns;    /* distinct LSNs seen */
  int failures;     /* checks that failed (asserted by the main thread) */
} reader;

static uint64_t sum_bytes(pb_bytes b) {
  uint64_t s = 0;
  for (size_t i = 0; i < b.len; i++) s = s * 31 + b.ptr[i];
  return s;
}

/* Storage level: pin, read the root and its atom, yield while holding the
 * view, read it again, unpin. */
static void storage_round(reader *r, uint64_t *last_lsn) {
  pb_storage *st = r->sh->st;
  uint64_t pin;
  pb__storage_pin(st, &pin);
  pb_atom_ptr root;
  uint64_t lsn;
  if (st->ops->read_root(st, &root, &lsn) != PB_OK) r->failures++;
  if (lsn < *last_lsn) r->failures++; /* the published head went back */
  if (lsn != *last_lsn) r->lsns++;
  *last_lsn = lsn;
  if (!pb_atom_ptr_is_null(root)) {
    pb_bytes b;
    if (st->ops->read_atom(st, root, &b) != PB_OK) {
      r->failures++;
    } else {
      uint64_t before = sum_bytes(b);
      sched_yield(); /* let the writer commit and compact meanwhile */
      if (sum_bytes(b) != before) r->failures++;
    }
  }
  pb__storage_unpin(st, pin);
}

/* Through the API: a read transaction that follows "head" to its record
 * and checks the record's number against "n". */
static void txn_round(reader *r, uint64_t *last_n) {
  pb_txn *t;
  if (pb_txn_begin(r->sh->db, PB_RDONLY, &t) != PB_OK) {
    r->failures++;
    return;
  }
  pb_value n, head;
  if (pb_txn_get(t, "n", &n) == PB_OK) {
    if (n.as.u < *last_n) r->failures++;
    if (n.as.u != *last_n) r->lsns++;
    *last_n = n.as.u;
    static const pb_record_type any = {.name = "tests.Numbered"};
    pb_bytes body;
    if (pb_txn_get(t, "head", &head) != PB_OK ||
        pb_txn_load_record(t, &any, head.as.ref, &body) != PB_OK ||
        body.len < 16) {
      r->failures++;
    } else {
      uint64_t before = sum_bytes(body);
      sched_yield();
      if (sum_bytes(body) != before) r->failures++;
    }
  }
  pb_txn_abort(t);
}

static void *reader_main(void *arg) {
  reader *r = arg;
  uint64_t last = 0;
  while (!atomic_load(&r->sh->stop)) {
    if (r->use_txn)
      txn_round(r, &last);
    else
      storage_round(r, &last);
    r->loops++;
  }
  return NULL;
}

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

static void readers_beside_commits_and_compactions(void **state) {
  (void)state;
  char *dir = pb_test_tmpdir();
  pb_file_options o;
  pb_file_options_init(&o); /* PB_DURABILITY_SYNC */
  o.segment_size = 16u << 10; /* several segments between compactions */
  shared sh = {0};
  pb_space *sp;
  assert_int_equal(pb_storage_open_file(dir, &o, &sh.st), PB_OK);
  assert_int_equal(pb_space_open(sh.st, &sp), PB_OK);
  assert_int_equal(pb_db_open(sp, PB__NUMBERED_DB, PB_CREATE, &sh.db), PB_OK);
  uint64_t got;
  assert_int_equal(pb__numbered_next(sh.db, &got), PB_OK);

  reader rd[N_READERS];
  pthread_t th[N_READERS];
  for (int i = 0; i < N_READERS; i++) {
    rd[i] = (reader){.sh = &sh, .use_txn = i == 0};
    assert_int_equal(pthread_create(&th[i], NULL, reader_main, &rd[i]), 0);
  }
  uint64_t switches = 0;
  for (int round = 0; round < ROUNDS; round++) {
    for (int k = 0; k < COMMITS_PER_ROUND; k++)
      assert_int_equal(pb__numbered_next(sh.db, &got), PB_OK);
    pb_compact_stats cs;
    assert_int_equal(pb_storage_compact(sh.st, &cs), PB_OK);
    assert_true(cs.switch_lsn > switches);
    switches = cs.switch_lsn;
  }
  atomic_store(&sh.stop, true);
  for (int i = 0; i < N_READERS; i++) {
    assert_int_equal(pthread_join(th[i], NULL), 0);
    assert_int_equal(rd[i].failures, 0);
    assert_true(rd[i].loops > 0);
  }
  /* No pin is held: every replaced generation is gone, files included. */
  pb__file_storage *fs = (pb__file_storage *)sh.st;
  assert_null(fs->old);
  assert_int_equal(count_segments(dir), 1);
  assert_int_equal(pb__fs_pins_held(atomic_load(&fs->cur_pins)), 0);
  for (pb__pins *p = fs->all_pins; p != NULL; p = p->next_all)
    assert_int_equal(pb__fs_pins_held(p), 0);
  char why[256];
  uint64_t n = 0;
  assert_int_equal(pb__numbered_check(sh.db, &n, why, sizeof why), PB_OK);
  assert_int_equal(n, 1 + ROUNDS * COMMITS_PER_ROUND);
  print_message("reader loops: %llu %llu %llu; LSNs seen %llu %llu %llu\n",
                (unsigned long long)rd[0].loops,
                (unsigned long long)rd[1].loops,
                (unsigned long long)rd[2].loops,
                (unsigned long long)rd[0].lsns,
                (unsigned long long)rd[1].lsns,
                (unsigned long long)rd[2].lsns);
  pb_db_close(sh.db);
  assert_int_equal(pb_space_close(sp), PB_OK);
  pb_test_rmdir(dir);
}

/* A reader pinned before a compaction keeps its generation's files; its
 * unpin (the last pin of a replaced generation) deletes them. */
static void last_unpin_frees(void **state) {
  (void)state;
  char *dir = pb_test_tmpdir();
  pb_file_options o;
  pb_file_options_init(&o);
  o.segment_size = 16u << 10;
  pb_storage *st;
  pb_space *sp;
  pb_db *db;
  assert_int_equal(pb_storage_open_file(dir, &o, &st), PB_OK);
  assert_int_equal(pb_space_open(st, &sp), PB_OK);
  assert_int_equal(pb_db_open(sp, PB__NUMBERED_DB, PB_CREATE, &db), PB_OK);
  uint64_t got;
  for (int i = 0; i < 100; i++)
    assert_int_equal(pb__numbered_next(db, &got), PB_OK);
  int before = count_segments(dir);
  assert_true(before > 1);
  uint64_t a, b;
  pb__storage_pin(st, &a);
  pb__storage_pin(st, &b);
  assert_int_equal(pb_storage_compact(st, NULL), PB_OK);
  assert_int_equal(count_segments(dir), before + 1);
  pb__storage_unpin(st, a); /* not the last */
  assert_int_equal(count_segments(dir), before + 1);
  pb__storage_unpin(st, b);
  assert_int_equal(count_segments(dir), 1);
  /* A pin taken after the switch does not hold the next one back. */
  pb__storage_pin(st, &a);
  for (int i = 0; i < 50; i++)
    assert_int_equal(pb__numbered_next(db, &got), PB_OK);
  assert_int_equal(pb_storage_compact(st, NULL), PB_OK);
  assert_true(count_segments(dir) > 1);
  pb__storage_unpin(st, a);
  assert_int_equal(count_segments(dir), 1);
  pb_db_close(db);
  assert_int_equal(pb_space_close(sp), PB_OK);
  pb_test_rmdir(dir);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(last_unpin_frees),
      cmocka_unit_test(readers_beside_commits_and_compactions),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
