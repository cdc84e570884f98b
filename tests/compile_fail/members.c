/*
 * tests/compile_fail/members.c - mistakes that the generated member
 * collection API must turn into compile ERRORS in C11 without -Werror
 * (docs/members.md, "Type safety"), with the schema of test_members_gen.
 * run.cmake compiles this file once per case with -DCASE_<name> (and once
 * with no case, which must compile without a warning: the control).
 */
#include <stddef.h>

#include "members.pb.h"

int use(pb_txn *txn);

int use(pb_txn *txn) {
  mem_Post p;
  mem_Memo memo;
  mem_Comment c;
  mem_Post_lines *lines = NULL;
  mem_Post_tags *tags = NULL;
  mem_Post_notes *notes = NULL;
  mem_Post_scores *scores = NULL;
  mem_Post_comments *comments = NULL;
  mem_Memo_counts *counts = NULL;
  mem_Post_lines_iter *li = NULL;
  mem_Post_tags_iter *ti = NULL;
  pb_str s;
  double d;
  float f;
  uint64_t n;
  bool added;
  int rc = 0;
  (void)f;
  (void)li;
  mem_Post_init(&p);
  mem_Memo_init(&memo);
  mem_Comment_init(&c);
  rc += mem_Post_lines_open(txn, &p, PB_CREATE, &lines);
  rc += mem_Memo_counts_open(txn, 1, 0, &counts);
  rc += mem_Post_lines_count(lines, &n);
  rc += mem_Post_lines_append(lines, "x");
  rc += mem_Post_tags_add(tags, "x", &added);
  rc += mem_Post_notes_put(notes, 5, "five");
  rc += mem_Post_scores_get(scores, "k", &d);
  rc += mem_Post_comments_append(comments, &c);
  rc += mem_Post_tags_iter_open(tags, &ti);
  rc += mem_Post_tags_iter_next(ti, &s);
#if defined(CASE_member_handle_other)
  rc += mem_Post_lines_count(tags, &n); /* a set handle given to a list */
#elif defined(CASE_member_string_for_number)
  rc += mem_Post_notes_put(notes, "5", "five"); /* a string for an int64 */
#elif defined(CASE_member_number_for_string)
  rc += mem_Post_tags_add(tags, 5, &added); /* a number for a string */
#elif defined(CASE_member_record_other)
  rc += mem_Post_comments_append(comments, &p); /* a Post for a Comment */
#elif defined(CASE_member_out_type)
  rc += mem_Post_scores_get(scores, "k", &f); /* float * for double * */
#elif defined(CASE_member_iter_other)
  rc += mem_Post_tags_iter_next(li, &s); /* a list iterator for a set's */
#elif defined(CASE_member_row_other)
  rc += mem_Post_lines_open(txn, &memo, 0, &lines); /* a Memo for a Post */
#elif defined(CASE_member_id_pointer)
  rc += mem_Memo_counts_open(txn, &memo, 0, &counts); /* a pointer for an id */
#endif
  mem_Post_tags_iter_close(ti);
  return rc;
}
