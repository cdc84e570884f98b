/*
 * tests/compile_fail/queries.c - mistakes that the generated query
 * builders must turn into compile ERRORS in C11 without -Werror
 * (docs/generated.md, "Queries"), as cases.c does for the tables.
 * run.cmake compiles this file once per case with -DCASE_<name> (and once
 * with no case, which must compile without a warning: the control).
 */
#include <stddef.h>

#include "query_gen.pb.h"

int use(pb_txn *txn);

int use(pb_txn *txn) {
  qg_Task_query *tq = NULL;
  qg_Owner_query *oq = NULL;
  qg_Task_cursor *tc = NULL;
  qg_Owner_cursor *oc = NULL;
  qg_Task t;
  qg_Owner o;
  pb_str s = {"x", 1};
  int64_t big[2] = {1, 2};
  int32_t prios[2] = {1, 2};
  pb_buf out;
  pb_buf_init(&out);
  pb_row row = {NULL, NULL, 0, NULL, 0};
  int rc = 0;
  (void)oc;
  (void)big;
  rc += qg_Task_query_open(txn, &tq);
  rc += qg_Owner_query_open(txn, &oq);
  /* Integer values of any integer type, enum constants, pb_str strings. */
  rc += qg_Task_where_prio_eq(tq, (unsigned char)3);
  rc += qg_Task_where_id_between(tq, 1, 9u, PB_BETWEEN_LO_EXCL);
  rc += qg_Task_where_status_ne(tq, qg_Status_DONE);
  rc += qg_Task_where_hours_lt(tq, 2);
  rc += qg_Task_where_title_prefix(tq, s);
  rc += qg_Task_where_owner_eq(tq, s);
  rc += qg_Task_where_prio_in(tq, prios, 2);
  rc += qg_Task_where_id_in(tq, NULL, 0);
  rc += qg_Task_where_due_is_null(tq);
  rc += qg_Task_order_by_title(tq, PB_DESC);
  rc += qg_Task_limit(tq, 10);
  rc += qg_Task_offset(tq, 1);
  rc += qg_Owner_where_level_ge(oq, 2);
  rc += qg_Task_query_explain(tq, &out);
  rc += qg_Task_next(tq, &t);
  rc += qg_Task_next(tc, &t);
  rc += qg_Owner_next(oq, &o);
  rc += qg_Task_from_row(&row, 0, &t);
  pb_plan *plan = NULL;
  rc += qg_Owner_query_plan(oq, &plan);
  oq = NULL;
  pb_plan_free(plan);
  pb_expr *e = qg_Task_owner_expr(0);
  pb_expr_free(e);
  rc += (qg_Task_where_prio_eq)(NULL, 1); /* the function itself */
#if defined(CASE_query_other)
  rc += qg_Owner_where_level_eq(tq, 1); /* a Task query to Owner's where */
#elif defined(CASE_query_other_next)
  rc += qg_Owner_next(tq, &o); /* a Task query to Owner's next */
#elif defined(CASE_string_for_integer)
  rc += qg_Task_where_prio_eq(tq, "3"); /* a string where an int32 goes */
#elif defined(CASE_pbstr_for_integer)
  rc += qg_Task_where_prio_lt(tq, s); /* a pb_str where an int32 goes */
#elif defined(CASE_string_for_float)
  rc += qg_Task_where_hours_eq(tq, "1.5"); /* a string where a double goes */
#elif defined(CASE_integer_for_string)
  rc += qg_Task_where_title_eq(tq, 3); /* an integer where a pb_str goes */
#elif defined(CASE_record_other_next)
  rc += qg_Task_next(tq, &o); /* an Owner for a Task query's row */
#elif defined(CASE_cursor_other_next)
  rc += qg_Task_next(oc, &t); /* an Owner cursor to Task's next */
#elif defined(CASE_in_type)
  rc += qg_Task_where_prio_in(tq, big, 2); /* int64_t values for int32 */
#elif defined(CASE_from_row_other)
  rc += qg_Task_from_row(&row, 0, &o); /* an Owner out of Task's from_row */
#elif defined(CASE_open_other)
  rc += qg_Task_query_open(txn, &oq); /* an Owner query out of Task's open */
#endif
  qg_Task_query_free(tq);
  qg_Owner_query_free(oq);
  return rc;
}
