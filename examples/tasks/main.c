/*
 * examples/tasks/main.c - the ProtoBase demo: a to-do list that persists.
 *
 *   tasks [DIR]     (DIR defaults to ./protobase-demo-data)
 *
 * Each run opens the file storage in DIR, adds one Task (schemas/tasks.pbs)
 * to the Task table with a tag or two, commits, and then lists every task
 * in key order, the open ones through the done index, and the three open
 * ones with the nearest deadline (a typed query), in a read-only
 * transaction.  Run it twice: the second run finds the first run's task,
 * because it was committed to the write-ahead log and recovered when the
 * storage was reopened.
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

/* Prints a task and its tags. */
static void print_task(pb_txn *txn, const char *prefix, const tasks_Task *t) {
  printf("%s task %" PRIu64 ": \"%.*s\" done=%s estimate=%.1fh", prefix, t->id,
         (int)t->title.len, t->title.ptr, t->done ? "yes" : "no",
         t->estimate_hours);
  if (t->has_due) printf(" due=%" PRId64, t->due);
  tasks_Task_tags *tags;
  int rc = tasks_Task_tags_open(txn, t, 0, &tags);
  if (rc == PB_OK) {
    tasks_Task_tags_iter *it;
    check(tasks_Task_tags_iter_open(tags, &it), "tags");
    pb_str tag;
    printf(" tags:");
    while ((rc = tasks_Task_tags_iter_next(it, &tag)) == PB_OK)
      printf(" %.*s", (int)tag.len, tag.ptr);
    tasks_Task_tags_iter_close(it);
  }
  if (rc != PB_ENOTFOUND) check(rc, "tags"); /* none: no tags */
  printf("\n");
}

/* Adds the next task (its number: the table's count + 1). */
static void add_task(pb_db *db) {
  pb_txn *txn;
  check(pb_txn_begin(db, 0, &txn), "begin");
  uint64_t count;
  check(tasks_Task_count(txn, &count), "count");

  char title[64];
  tasks_Task task;
  tasks_Task_init(&task);
  task.id = count + 1;
  snprintf(title, sizeof title, "write the report, part %" PRIu64, task.id);
  task.title = pb_str_from_cstr(title);
  task.done = task.id % 2 == 0;
  task.has_due = true;
  task.due = (int64_t)time(NULL) + 86400;
  check(tasks_Task_insert(txn, &task), "insert"); /* PB_EEXIST: taken */

  tasks_Task_tags *tags; /* the task's set of tags, beside the row */
  check(tasks_Task_tags_open(txn, &task, PB_CREATE, &tags), "open tags");
  check(tasks_Task_tags_add(tags, "report", NULL), "tag");
  if (task.id % 3 == 1) check(tasks_Task_tags_add(tags, "urgent", NULL), "tag");
  check(pb_txn_commit(txn), "commit"); /* one WAL append, one fdatasync */
  printf("stored task %" PRIu64 "\n", task.id);
}

/* Reads every task back in a read-only snapshot, then the open ones. */
static void list_tasks(pb_db *db) {
  pb_txn *txn;
  check(pb_txn_begin(db, PB_RDONLY, &txn), "begin read-only");
  uint64_t count;
  check(tasks_Task_count(txn, &count), "count");
  printf("found %" PRIu64 " task%s in the database:\n", count,
         count == 1 ? "" : "s");
  tasks_Task_cursor *cur;
  tasks_Task task;
  int rc;
  check(tasks_Task_scan(txn, NULL, NULL, 0, &cur), "scan"); /* key order */
  while ((rc = tasks_Task_next(cur, &task)) == PB_OK)
    print_task(txn, "  found", &task);
  check(rc == PB_ENOTFOUND ? PB_OK : rc, "next");
  tasks_Task_cursor_close(cur);

  printf("open tasks (through the done index):\n");
  check(tasks_Task_find_by_done(txn, false, &cur), "find");
  while ((rc = tasks_Task_next(cur, &task)) == PB_OK)
    printf("  task %" PRIu64 "\n", task.id);
  check(rc == PB_ENOTFOUND ? PB_OK : rc, "next");
  tasks_Task_cursor_close(cur);

  /* A typed query: the open tasks, the nearest deadline first, at most 3. */
  tasks_Task_query *q;
  check(tasks_Task_query_open(txn, &q), "query");
  check(tasks_Task_where_done_eq(q, false), "where");
  check(tasks_Task_order_by_due(q, PB_ASC), "order by");
  check(tasks_Task_limit(q, 3), "limit");
  printf("open tasks, nearest deadline first (a query):");
  while ((rc = tasks_Task_next(q, &task)) == PB_OK)
    printf(" %" PRIu64, task.id);
  printf("\n");
  check(rc == PB_ENOTFOUND ? PB_OK : rc, "query next");
  tasks_Task_query_free(q);
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

  add_task(db);
  list_tasks(db);

  pb_db_close(db);
  check(pb_space_close(space), "close");
  return 0;
}
