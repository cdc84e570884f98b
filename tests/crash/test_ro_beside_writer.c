/*
 * test_ro_beside_writer.c - read-only opens from other processes while a
 * writer process keeps committing, rolling segments over and compacting.
 *
 * A writer child opens the store (default options but for 8 KiB
 * segments, so it rolls over every few commits, preallocating each new
 * segment and cutting the zeros at the rollover) and commits numbered
 * transactions: commit i sets "counter" = i, puts key "k<i>" = i in the
 * dictionary "keys", and sets "pad" to a few hundred bytes (every 8th
 * commit: up to a segment, so its frame spans pages or sits alone in a
 * segment).  After each pb_txn_run that returns PB_OK it stores i in a
 * page shared by every process of the test.  A thread of the writer
 * compacts in a loop, so segments are renamed into place and deleted
 * under the readers.
 *
 * Meanwhile the parent forks reader processes, a few at a time.  Each one
 * reads the acknowledged number a, then opens the store read-only and
 * checks, in a read transaction:
 *   - the open (and pb_space_open, pb_db_open, pb_txn_begin) succeeds;
 *   - counter = c >= a: every commit acknowledged before the open is seen;
 *   - "keys" holds exactly k1..kc, each with its own number: a whole
 *     prefix of the commits, nothing beyond c.
 * It then waits a little (the writer rolls over, trims, compacts and
 * deletes the files the reader mapped) and checks a second transaction:
 * the same c, every key still readable.
 *
 * Rounds: PB_DURABILITY_SYNC (the default), then PB_DURABILITY_GROUP.
 * Arguments: [readers per round] (2500 by default).  Each round prints
 * how often the opens had to read a frame again or scan again (the races
 * they met).  Before the fix, 1 to 4 opens in 1500 failed in every round.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "protobase/protobase.h"
#include "storage/file.h"
#include "test_util.h"

#define SEGMENT_SIZE (8u * 1024u)
#define DB_NAME "ro"
#define PARALLEL_READERS 4

static unsigned readers_per_round = 2500;

/* Shared between the parent, the writer and the readers (MAP_SHARED). */
typedef struct shared {
  _Atomic uint64_t acked;       /* the last number the writer acknowledged */
  _Atomic int stop;             /* the parent asks the writer to stop */
  _Atomic uint64_t compactions; /* compactions that returned PB_OK */
  _Atomic uint64_t seen_max;    /* readers: the largest c seen */
  _Atomic uint64_t ahead;       /* readers that saw c > a */
  _Atomic uint64_t rereads;     /* frames read again by the opens */
  _Atomic uint64_t rescans;     /* scans started over by the opens */
  _Atomic unsigned max_retries; /* the most rereads + rescans of one open */
} shared;

static shared *sh;

static void sleep_us(long us) {
  struct timespec ts = {.tv_sec = us / 1000000, .tv_nsec = us % 1000000 * 1000};
  nanosleep(&ts, NULL);
}

/* --- The writer --- */

typedef struct commit_arg {
  uint64_t n; /* out: the number this transaction commits */
} commit_arg;

static int commit_next(pb_txn *txn, void *arg) {
  commit_arg *a = arg;
  pb_value v;
  uint64_t c = 0;
  int rc = pb_txn_get(txn, "counter", &v);
  if (rc == PB_OK) c = v.as.u;
  else if (rc != PB_ENOTFOUND) return rc;
  a->n = c + 1;
  pb_value nv = {.kind = PB_VALUE_UINT, .as.u = a->n};
  rc = pb_txn_set(txn, "counter", &nv);
  pb_dict *d;
  if (rc == PB_OK) rc = pb_txn_open_dict(txn, "keys", PB_CREATE, &d);
  if (rc != PB_OK) return rc;
  /* Frames of varied sizes, some over a page, some over a segment. */
  static uint8_t pad[SEGMENT_SIZE];
  size_t pad_len = (size_t)(a->n % 8 == 0 ? a->n * 2654435761u % sizeof pad
                                            : a->n * 37 % 500);
  memset(pad, (int)(a->n & 0xff), pad_len);
  pb_value pv = {.kind = PB_VALUE_BYTES,
                 .as.bytes = {.ptr = pad_len ? pad : NULL, .len = pad_len}};
  rc = pb_txn_set(txn, "pad", &pv);
  char key[32];
  snprintf(key, sizeof key, "k%" PRIu64, a->n);
  if (rc == PB_OK) rc = pb_dict_put(d, pb_str_from_cstr(key), &nv);
  return rc;
}

typedef struct compactor {
  pb_storage *st;
  int rc; /* the first failure, else PB_OK */
} compactor;

static void *compact_loop(void *arg) {
  compactor *c = arg;
  while (!atomic_load(&sh->stop)) {
    int rc = pb_storage_compact(c->st, NULL);
    if (rc != PB_OK) {
      fprintf(stderr, "writer: compact: %s: %s\n", pb_errname(rc),
              pb_errdetail());
      c->rc = rc;
      return NULL;
    }
    atomic_fetch_add(&sh->compactions, 1);
    sleep_us(5000);
  }
  return NULL;
}

static void writer(const char *dir, pb_durability durability) {
  pb_file_options o;
  pb_file_options_init(&o);
  o.durability = durability;
  o.segment_size = SEGMENT_SIZE;
  pb_storage *st;
  pb_space *sp;
  pb_db *db;
  if (pb_storage_open_file(dir, &o, &st) != PB_OK) _exit(10);
  if (pb_space_open(st, &sp) != PB_OK) _exit(11);
  if (pb_db_open(sp, DB_NAME, PB_CREATE, &db) != PB_OK) _exit(12);
  compactor c = {.st = st, .rc = PB_OK};
  pthread_t th;
  if (pthread_create(&th, NULL, compact_loop, &c) != 0) _exit(13);
  int rc = PB_OK;
  while (!atomic_load(&sh->stop)) {
    commit_arg a = {0};
    rc = pb_txn_run(db, commit_next, &a, 100);
    if (rc != PB_OK) {
      fprintf(stderr, "writer: commit: %s: %s\n", pb_errname(rc),
              pb_errdetail());
      atomic_store(&sh->stop, 1);
      break;
    }
    if (a.n != atomic_load(&sh->acked) + 1) _exit(14);
    atomic_store(&sh->acked, a.n);
  }
  pthread_join(th, NULL);
  pb_db_close(db);
  if (pb_space_close(sp) != PB_OK) _exit(15);
  _exit(rc != PB_OK ? 16 : c.rc != PB_OK ? 17 : 0);
}

/* --- The readers --- */

/* Checks one read transaction of `db`; *c is the counter it saw.  Returns
 * 0 or an exit code, after printing what failed. */
static int check_txn(pb_db *db, uint64_t *c) {
  pb_txn *txn;
  int rc = pb_txn_begin(db, PB_RDONLY, &txn);
  if (rc != PB_OK) {
    fprintf(stderr, "reader: begin: %s: %s\n", pb_errname(rc),
            pb_errdetail());
    return 30;
  }
  int code = 0;
  pb_value v;
  pb_dict *d = NULL;
  rc = pb_txn_get(txn, "counter", &v);
  if (rc != PB_OK || v.kind != PB_VALUE_UINT) {
    fprintf(stderr, "reader: counter: %s\n", pb_errname(rc));
    code = 31;
  } else {
    *c = v.as.u;
    rc = pb_txn_open_dict(txn, "keys", 0, &d);
    if (rc != PB_OK) {
      fprintf(stderr, "reader: keys: %s\n", pb_errname(rc));
      code = 32;
    }
  }
  uint64_t count = 0;
  if (code == 0 && (pb_dict_count(d, &count) != PB_OK || count != *c)) {
    fprintf(stderr, "reader: counter %" PRIu64 " but %" PRIu64 " keys\n", *c,
            count);
    code = 33;
  }
  uint8_t *seen = code == 0 ? calloc(*c + 1, 1) : NULL;
  pb_dict_iter *it = NULL;
  if (code == 0 && (seen == NULL || pb_dict_iter_open(d, NULL, 0, &it))) {
    code = 34;
  }
  pb_str k;
  uint64_t found = 0;
  while (code == 0 && (rc = pb_dict_iter_next(it, &k, &v)) == PB_OK) {
    char buf[32];
    uint64_t i = 0;
    if (k.len < 2 || k.len >= sizeof buf || k.ptr[0] != 'k') {
      code = 35;
      break;
    }
    memcpy(buf, k.ptr, k.len);
    buf[k.len] = '\0';
    i = strtoull(buf + 1, NULL, 10);
    if (i < 1 || i > *c || seen[i] || v.kind != PB_VALUE_UINT ||
        v.as.u != i) {
      fprintf(stderr, "reader: bad key %s (counter %" PRIu64 ")\n", buf, *c);
      code = 36;
      break;
    }
    seen[i] = 1;
    found++;
  }
  if (code == 0 && (rc != PB_ENOTFOUND || found != *c)) {
    fprintf(stderr, "reader: iteration: %s, %" PRIu64 " of %" PRIu64 "\n",
            pb_errname(rc), found, *c);
    code = 37;
  }
  if (it != NULL) pb_dict_iter_close(it);
  free(seen);
  pb_txn_abort(txn);
  return code;
}

static void reader(const char *dir, unsigned seed) {
  srand(seed);
  uint64_t a = atomic_load(&sh->acked);
  pb_file_options o;
  pb_file_options_init(&o);
  o.read_only = true;
  pb_storage *st;
  pb_space *sp;
  pb_db *db;
  int rc = pb_storage_open_file(dir, &o, &st);
  if (rc != PB_OK) {
    fprintf(stderr, "reader: open: %s: %s\n", pb_errname(rc),
            pb_errdetail());
    _exit(20);
  }
  unsigned rereads = 0, rescans = 0;
  if (pb__file_open_retries(st, &rereads, &rescans) != PB_OK) _exit(23);
  atomic_fetch_add(&sh->rereads, rereads);
  atomic_fetch_add(&sh->rescans, rescans);
  unsigned r = rereads + rescans, mr = atomic_load(&sh->max_retries);
  while (r > mr && !atomic_compare_exchange_weak(&sh->max_retries, &mr, r)) {
  }
  if ((rc = pb_space_open(st, &sp)) != PB_OK) {
    fprintf(stderr, "reader: space: %s\n", pb_errname(rc));
    _exit(21);
  }
  if ((rc = pb_db_open(sp, DB_NAME, 0, &db)) != PB_OK) {
    fprintf(stderr, "reader: db: %s\n", pb_errname(rc));
    _exit(22);
  }
  uint64_t c1 = 0, c2 = 0;
  int code = check_txn(db, &c1);
  if (code != 0) _exit(code);
  if (c1 < a) {
    fprintf(stderr, "reader: counter %" PRIu64 " < %" PRIu64
            " acknowledged before the open\n", c1, a);
    _exit(40);
  }
  if (c1 > a) atomic_fetch_add(&sh->ahead, 1);
  uint64_t m = atomic_load(&sh->seen_max);
  while (c1 > m && !atomic_compare_exchange_weak(&sh->seen_max, &m, c1)) {
  }
  sleep_us(rand() % 5000); /* the writer rolls over, compacts, deletes */
  code = check_txn(db, &c2);
  if (code != 0) _exit(code);
  if (c2 != c1) {
    fprintf(stderr, "reader: second transaction saw %" PRIu64
            ", the first %" PRIu64 "\n", c2, c1);
    _exit(41);
  }
  pb_db_close(db);
  _exit(pb_space_close(sp) != PB_OK ? 42 : 0);
}

/* --- The parent --- */

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* The writer's pid while it runs, and its status once reaped. */
static pid_t writer_pid;
static int writer_status;

/* Waits for one reader (also reaping the writer if it ended first);
 * returns 1 when the reader failed. */
static unsigned reap_reader(void) {
  for (;;) {
    int status;
    pid_t pid = wait(&status);
    assert_true(pid > 0);
    if (pid == writer_pid) {
      writer_status = status;
      writer_pid = -1;
      continue;
    }
    if (WIFEXITED(status) && WEXITSTATUS(status) == 0) return 0;
    if (WIFEXITED(status))
      print_error("reader %d: exit code %d\n", (int)pid,
                  WEXITSTATUS(status));
    else
      print_error("reader %d: killed by signal %d\n", (int)pid,
                  WIFSIGNALED(status) ? WTERMSIG(status) : -1);
    return 1;
  }
}

static void run_round(pb_durability durability, const char *name) {
  char *dir = pb_test_tmpdir();
  memset(sh, 0, sizeof *sh);
  unsigned seed = (unsigned)time(NULL) ^ (unsigned)getpid();
  srand(seed);
  double t0 = now_s();
  fflush(NULL);
  writer_pid = fork();
  assert_true(writer_pid >= 0);
  if (writer_pid == 0) writer(dir, durability);
  /* Readers need the database: wait for the first commit (10 s at most). */
  while (atomic_load(&sh->acked) == 0 && now_s() - t0 < 10.0) sleep_us(1000);
  assert_true(atomic_load(&sh->acked) > 0);

  unsigned running = 0, failed = 0;
  for (unsigned r = 0; r < readers_per_round; r++) {
    if (running == PARALLEL_READERS) {
      failed += reap_reader();
      running--;
    }
    unsigned rseed = (unsigned)rand();
    fflush(NULL);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) reader(dir, rseed);
    running++;
    sleep_us(rand() % 1000);
  }
  while (running > 0) {
    failed += reap_reader();
    running--;
  }
  atomic_store(&sh->stop, 1);
  if (writer_pid > 0) {
    assert_int_equal(waitpid(writer_pid, &writer_status, 0), writer_pid);
    writer_pid = -1;
  }
  if (!(WIFEXITED(writer_status) && WEXITSTATUS(writer_status) == 0))
    print_error("writer: status %d\n", writer_status);
  print_message("ro_beside_writer %s (seed %u): %u read-only opens, %u "
                "failed; %" PRIu64 " commits, %" PRIu64 " compactions; "
                "%" PRIu64 " readers saw commits not yet acknowledged; "
                "largest prefix seen %" PRIu64 "; the opens read %" PRIu64
                " frames again and scanned %" PRIu64 " times again (at "
                "most %u times in one open); %.1f s\n",
                name, seed, readers_per_round, failed,
                atomic_load(&sh->acked), atomic_load(&sh->compactions),
                atomic_load(&sh->ahead), atomic_load(&sh->seen_max),
                atomic_load(&sh->rereads), atomic_load(&sh->rescans),
                atomic_load(&sh->max_retries), now_s() - t0);
  assert_true(WIFEXITED(writer_status) && WEXITSTATUS(writer_status) == 0);
  assert_int_equal(failed, 0);
  assert_true(atomic_load(&sh->compactions) > 0);
  pb_test_rmdir(dir);
}

static void sync_round(void **state) {
  (void)state;
  run_round(PB_DURABILITY_SYNC, "SYNC");
}

static void group_round(void **state) {
  (void)state;
  run_round(PB_DURABILITY_GROUP, "GROUP");
}

int main(int argc, char **argv) {
  if (argc > 1) readers_per_round = (unsigned)strtoul(argv[1], NULL, 10);
  sh = mmap(NULL, sizeof *sh, PROT_READ | PROT_WRITE,
            MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  if (sh == MAP_FAILED) return 1;
  const struct CMUnitTest tests[] = {cmocka_unit_test(sync_round),
                                     cmocka_unit_test(group_round)};
  return cmocka_run_group_tests(tests, NULL, NULL);
}
