/*
 * test_kill.c - real processes on the real file system, killed with
 * SIGKILL at random moments, at least 200 times.
 *
 * A child opens the store through the public API (pb_storage_open_file,
 * pb_space_open, pb_db_open) and commits numbered transactions in a loop
 * (tests/support/numbered.h: transaction i puts record i, linked to record
 * i-1, and sets "n" = i and "head" to it); after each pb_txn_commit that
 * returns PB_OK it writes i to a pipe.  The parent kills it after a random
 * 0-20 ms (half of the time counted from its first acknowledgment, so that
 * most kills land in the commit loop rather than in start-up), reads every
 * number from the pipe, and reopens the store itself:
 *   - the open succeeds (recovery cut any torn tail) and "n" is at least
 *     the last number acknowledged, and at most one more (a commit whose
 *     fdatasync finished when the kill came, before its report);
 *   - every record from n back to 1 is readable, with exactly its bytes;
 *   - "n" never goes backwards from one kill to the next.
 * Then the next child starts on the same directory.  Segments are 64 KiB,
 * so the run crosses many rollovers.  Kills stop at 300, or after 45 s if
 * the disk is slow; at least 200 are required.
 *
 * A SIGKILL keeps the kernel's page cache, so this test cannot catch a
 * missing fsync (test_power_loss does); it catches everything a process
 * death can leave: a torn tail, a half-created segment, a held lock.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "support/numbered.h"
#include "test_util.h"

#define TARGET_KILLS 300
#define MIN_KILLS 200
#define TIME_BUDGET_S 45.0
#define SEGMENT_SIZE (64u * 1024u)

/* In the child: commits forever, reporting each acknowledged number. */
static void child(const char *dir, int fd) {
  pb_file_options o;
  pb_file_options_init(&o);
  o.segment_size = SEGMENT_SIZE;
  pb_storage *st;
  pb_space *sp;
  pb_db *db;
  if (pb_storage_open_file(dir, &o, &st) != PB_OK) _exit(10);
  if (pb_space_open(st, &sp) != PB_OK) _exit(11);
  if (pb_db_open(sp, PB__NUMBERED_DB, PB_CREATE, &db) != PB_OK) _exit(12);
  for (;;) {
    uint64_t i;
    if (pb__numbered_next(db, &i) != PB_OK) _exit(13);
    if (write(fd, &i, sizeof i) != (ssize_t)sizeof i) _exit(14);
  }
}

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Reads every number the child reported; returns the last one (or `last`
 * when it reported none).  Blocks until the pipe's write end is closed. */
static uint64_t drain(int fd, uint64_t last, uint64_t *count) {
  uint64_t v;
  ssize_t n;
  while ((n = read(fd, &v, sizeof v)) == (ssize_t)sizeof v) {
    assert_int_equal(v, last + 1); /* one by one, from the last check */
    last = v;
    (*count)++;
  }
  assert_int_equal(n, 0); /* a kill never tears an 8-byte pipe write */
  return last;
}

/* Opens the store and checks it; returns "n". */
static uint64_t check(const char *dir) {
  pb_file_options o;
  pb_file_options_init(&o);
  o.segment_size = SEGMENT_SIZE;
  pb_storage *st;
  pb_space *sp;
  pb_db *db;
  int rc = pb_storage_open_file(dir, &o, &st);
  if (rc != PB_OK) print_error("open: %s: %s\n", pb_errname(rc),
                               pb_errdetail());
  assert_int_equal(rc, PB_OK);
  assert_int_equal(pb_space_open(st, &sp), PB_OK);
  uint64_t n = 0;
  rc = pb_db_open(sp, PB__NUMBERED_DB, 0, &db);
  if (rc == PB_OK) {
    char why[256];
    rc = pb__numbered_check(db, &n, why, sizeof why);
    if (rc != PB_OK) print_error("check: %s: %s\n", pb_errname(rc), why);
    assert_int_equal(rc, PB_OK);
    pb_db_close(db);
  } else {
    assert_int_equal(rc, PB_ENOTFOUND); /* killed before creating it */
  }
  assert_int_equal(pb_space_close(sp), PB_OK);
  return n;
}

static void kill_loop(void **state) {
  (void)state;
  char *dir = pb_test_tmpdir();
  unsigned seed = (unsigned)time(NULL);
  srand(seed);
  uint64_t acked = 0;   /* the last number any child acknowledged */
  uint64_t durable = 0; /* "n" found by the last check */
  uint64_t reports = 0, ahead = 0, lost = 0;
  unsigned kills = 0, mid_commit = 0;
  double t0 = now_s();
  while (kills < TARGET_KILLS && now_s() - t0 < TIME_BUDGET_S) {
    int fds[2];
    assert_int_equal(pipe(fds), 0);
    fflush(NULL);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
      close(fds[0]);
      child(dir, fds[1]);
    }
    close(fds[1]);
    if (rand() % 2) { /* wait for its first commit, 2 s at most */
      struct pollfd p = {.fd = fds[0], .events = POLLIN};
      if (poll(&p, 1, 2000) == 1) mid_commit++;
    }
    usleep((useconds_t)(rand() % 20001));
    assert_int_equal(kill(pid, SIGKILL), 0);
    int status;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    if (!WIFSIGNALED(status))
      print_error("child ended by itself, status %d\n", status);
    assert_true(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
    uint64_t count = 0;
    uint64_t last = drain(fds[0], acked, &count);
    close(fds[0]);
    reports += count;
    kills++;
    if (count > 0) acked = last;

    uint64_t n = check(dir);
    if (n < acked) {
      print_error("kill %u: LOST: acknowledged %" PRIu64 ", found %" PRIu64
                  "\n", kills, acked, n);
      lost += acked - n;
    }
    assert_true(n >= durable);  /* never backwards */
    assert_true(n <= (acked > durable ? acked : durable) + 1);
    if (n > acked) ahead++;
    durable = n;
    if (acked < n) acked = n; /* the next child goes on from n */
  }
  double secs = now_s() - t0;
  print_message("kill (seed %u): %u SIGKILLs (%u after the child's first "
                "commit), %" PRIu64 " commits acknowledged, last n = %" PRIu64
                ", %" PRIu64 " times one more commit than acknowledged (written, killed before its report); "
                "LOST: %" PRIu64 "; %.1f s\n",
                seed, kills, mid_commit, reports, durable, ahead, lost, secs);
  assert_int_equal(lost, 0);
  assert_true(kills >= MIN_KILLS);
  pb_test_rmdir(dir);
}

int main(void) {
  const struct CMUnitTest tests[] = {cmocka_unit_test(kill_loop)};
  return cmocka_run_group_tests(tests, NULL, NULL);
}
