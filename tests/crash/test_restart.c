/*
 * test_restart.c - what a transaction commits survives the process: a child
 * process puts records, names them and commits, then exits (cleanly, or by
 * _exit without closing anything, or by SIGKILL right after commit); the
 * parent reopens the directory and reads every record back.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <signal.h>
#include <stdio.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "protobase/protobase.h"
#include "tasks.pb.h"
#include "test_util.h"

enum child_end { END_CLOSE, END_EXIT, END_KILL };

/* In a child: commits `n` tasks numbered from `first`, then ends as told. */
static void child_writes(const char *dir, uint64_t first, int n,
                         enum child_end how) {
  pb_storage *st;
  pb_space *sp;
  pb_db *db;
  pb_txn *txn;
  if (pb_storage_open_file(dir, NULL, &st) || pb_space_open(st, &sp) ||
      pb_db_open(sp, "tasks", PB_CREATE, &db))
    _exit(10);
  for (int i = 0; i < n; i++) {
    if (pb_txn_begin(db, 0, &txn)) _exit(11);
    tasks_Task t;
    tasks_Task_init(&t);
    t.id = first + (uint64_t)i;
    char title[32];
    snprintf(title, sizeof title, "task %llu", (unsigned long long)t.id);
    t.title = pb_str_from_cstr(title);
    pb_atom_ptr ptr;
    if (tasks_Task_put(txn, &t, &ptr)) _exit(12);
    pb_value ref = {.kind = PB_VALUE_REF, .as.ref = ptr};
    if (pb_txn_set(txn, title, &ref)) _exit(13);
    if (pb_txn_commit(txn)) _exit(14);
  }
  if (how == END_KILL) raise(SIGKILL);
  if (how == END_EXIT) _exit(0);
  pb_db_close(db);
  _exit(pb_space_close(sp) ? 15 : 0);
}

static void run_child(const char *dir, uint64_t first, int n,
                      enum child_end how) {
  fflush(NULL);
  pid_t pid = fork();
  assert_true(pid >= 0);
  if (pid == 0) child_writes(dir, first, n, how);
  int status;
  assert_int_equal(waitpid(pid, &status, 0), pid);
  if (how == END_KILL) {
    assert_true(WIFSIGNALED(status));
    assert_int_equal(WTERMSIG(status), SIGKILL);
  } else {
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
  }
}

/* In the parent: every task numbered below `count` is there, intact. */
static void check_tasks(const char *dir, uint64_t count) {
  pb_storage *st;
  pb_space *sp;
  pb_db *db;
  pb_txn *txn;
  assert_int_equal(pb_storage_open_file(dir, NULL, &st), PB_OK);
  assert_int_equal(pb_space_open(st, &sp), PB_OK);
  assert_int_equal(pb_db_open(sp, "tasks", 0, &db), PB_OK);
  assert_int_equal(pb_txn_begin(db, PB_RDONLY, &txn), PB_OK);
  for (uint64_t id = 1; id < count; id++) {
    char title[32];
    snprintf(title, sizeof title, "task %llu", (unsigned long long)id);
    pb_value ref;
    assert_int_equal(pb_txn_get(txn, title, &ref), PB_OK);
    tasks_Task t;
    assert_int_equal(tasks_Task_load(txn, ref.as.ref, &t), PB_OK);
    assert_true(t.id == id);
    assert_int_equal(t.title.len, strlen(title));
    assert_memory_equal(t.title.ptr, title, t.title.len);
  }
  pb_txn_abort(txn);
  pb_db_close(db);
  assert_int_equal(pb_space_close(sp), PB_OK);
}

static void committed_data_survives_restarts(void **state) {
  (void)state;
  char *dir = pb_test_tmpdir();
  run_child(dir, 1, 5, END_CLOSE);
  check_tasks(dir, 6);
  run_child(dir, 6, 5, END_EXIT); /* no close, no flush */
  check_tasks(dir, 11);
  run_child(dir, 11, 5, END_KILL); /* killed right after commit */
  check_tasks(dir, 16);
  pb_test_rmdir(dir);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(committed_data_survives_restarts),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
