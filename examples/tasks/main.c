/*
 * examples/tasks/main.c - the ProtoBase demo: a to-do list that persists.
 *
 *   tasks [DIR]     (DIR defaults to ./protobase-demo-data)
 *
 * Each run opens the file storage in DIR, adds one Task (schemas/tasks.pbs)
 * in a transaction, names it "task/N" in the database root, commits, and
 * then reads every task back in a new read-only transaction.  Run it twice:
 * the second run finds the first run's task, because it was committed to
 * the write-ahead log and recovered when the storage was reopened.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include <protobase/protobase.h>

#include "tasks.pb.h"

/* Prints a failed call and exits. */
static void check(int rc, const char *what) {
  if (rc == PB_OK) return;
  const char *detail = pb_errdetail();
  fprintf(stderr, "tasks: %s: %s (%s)%s%s\n", what, pb_strerror(rc),
          pb_errname(rc), *detail ? ": " : "", detail);
  exit(1);
}

static void print_task(const char *prefix, const tasks_Task *t) {
  printf("%s task %" PRIu64 ": \"%.*s\" done=%s estimate=%.1fh", prefix, t->id,
         (int)t->title.len, t->title.ptr, t->done ? "yes" : "no",
         t->estimate_hours);
  if (t->has_due) printf(" due=%" PRId64, t->due);
  printf("\n");
}

/* Adds task number count+1 and returns the new count. */
static uint64_t add_task(pb_db *db) {
  pb_txn *txn;
  check(pb_txn_begin(db, 0, &txn), "begin");
  pb_value count = {.kind = PB_VALUE_UINT, .as.u = 0};
  int rc = pb_txn_get(txn, "count", &count);
  if (rc != PB_ENOTFOUND) check(rc, "get count");

  char title[64];
  tasks_Task task;
  tasks_Task_init(&task);
  task.id = count.as.u + 1;
  snprintf(title, sizeof title, "write the report, part %" PRIu64, task.id);
  task.title = pb_str_from_cstr(title);
  task.done = task.id % 2 == 0;
  task.has_due = true;
  task.due = (int64_t)time(NULL) + 86400;

  pb_atom_ptr ptr;
  check(tasks_Task_put(txn, &task, &ptr), "put task");
  char name[32];
  snprintf(name, sizeof name, "task/%" PRIu64, task.id);
  pb_value ref = {.kind = PB_VALUE_REF, .as.ref = ptr};
  check(pb_txn_set(txn, name, &ref), "name task");
  pb_value next = {.kind = PB_VALUE_UINT, .as.u = task.id};
  check(pb_txn_set(txn, "count", &next), "set count");
  check(pb_txn_commit(txn), "commit");
  print_task("stored", &task);
  return task.id;
}

/* Reads back every task in a read-only snapshot. */
static void list_tasks(pb_db *db, uint64_t count) {
  pb_txn *txn;
  check(pb_txn_begin(db, PB_RDONLY, &txn), "begin read-only");
  printf("found %" PRIu64 " task%s in the database:\n", count,
         count == 1 ? "" : "s");
  for (uint64_t i = 1; i <= count; i++) {
    char name[32];
    snprintf(name, sizeof name, "task/%" PRIu64, i);
    pb_value ref;
    check(pb_txn_get(txn, name, &ref), name);
    tasks_Task task;
    check(tasks_Task_load(txn, ref.as.ref, &task), "load task");
    print_task("  found", &task);
  }
  pb_txn_abort(txn);
}

int main(int argc, char **argv) {
  const char *dir = argc > 1 ? argv[1] : "protobase-demo-data";
  pb_storage *st;
  pb_space *space;
  pb_db *db;
  check(pb_storage_open_file(dir, NULL, &st), dir);
  check(pb_space_open(st, &space), "open space");
  /* Registers the schema's record types (checked against the database). */
  check(pb_db_open_types(space, "tasks", PB_CREATE, tasks_record_types,
                         tasks_record_types_count, &db),
        "open database");
  printf("ProtoBase %s, file storage in %s/\n", pb_version(), dir);

  uint64_t count = add_task(db);
  list_tasks(db, count);
  if (count == 1)
    printf("Run it again: the task stored now will still be there.\n");

  pb_db_close(db);
  check(pb_space_close(space), "close");
  return 0;
}
