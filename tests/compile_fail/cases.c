/*
 * tests/compile_fail/cases.c - mistakes that the generated table API must
 * turn into compile ERRORS in C11 without -Werror (docs/generated.md, "Type
 * safety").  run.cmake compiles this file once per case with -DCASE_<name>
 * (and once with no case, which must compile: the control), and expects
 * the compiler to fail with the message of that case.  Each case is one
 * line, so the control proves that nothing else is wrong.
 */
#include <stddef.h>

#include "tables_gen.pb.h"

int use(pb_txn *txn);

int use(pb_txn *txn) {
  tt_Person p;
  tt_Tag t;
  tt_Person_cursor *pc = NULL;
  tt_Tag_cursor *tc = NULL;
  pb_str s = {"x", 1};
  uint64_t id = 1;
  int64_t age = 3;
  int rc = 0;
  (void)t;
  (void)tc;
  (void)s;
  (void)age;
  rc += tt_Person_get(txn, id, &p);
  rc += tt_Person_insert(txn, &p);
  rc += tt_Person_scan(txn, &id, NULL, 0, &pc);
  rc += tt_Person_next(pc, &p);
  rc += tt_Person_find_by_age(txn, &age, &pc);
  rc += tt_Person_tag_get(txn, &p, &t);
  /* The functions themselves: their address, and a call around the macro. */
  /* Integer keys and values of any integer type, enums too. */
  tt_KLevel kl;
  rc += tt_KLevel_get(txn, tt_Level_HIGH, &kl);
  rc += tt_Person_get(txn, 7, &p);
  rc += tt_Person_delete(txn, (unsigned char)7);
  rc += tt_Person_find_by_level_score_upto_level(txn, 5, &pc);
  int (*insert)(pb_txn *, const tt_Person *) = &tt_Person_insert;
  rc += insert(txn, &p);
  rc += (tt_Person_next)(pc, &p);
#if defined(CASE_key_type)
  rc += tt_Person_get(txn, s, &p); /* a string where the uint64 key goes */
#elif defined(CASE_cursor_other)
  rc += tt_Person_next(tc, &p); /* a Tag cursor given to Person_next */
#elif defined(CASE_record_other)
  rc += tt_Person_insert(txn, &t); /* a Tag given to Person_insert */
#elif defined(CASE_index_value_str)
  rc += tt_Sample_find_by_x(txn, s, NULL); /* a string where a double goes */
#elif defined(CASE_bound_type)
  rc += tt_Person_scan(txn, &age, NULL, 0, &pc); /* int64_t * for uint64_t * */
#elif defined(CASE_cursor_out)
  rc += tt_Person_find_by_age(txn, &age, &tc); /* a Tag cursor out */
#elif defined(CASE_optional_by_value)
  rc += tt_Person_find_by_age(txn, age, &pc); /* a value where a pointer goes */
#elif defined(CASE_pointer_key)
  rc += tt_Person_delete(txn, "7"); /* a C string where the uint64 key goes */
#elif defined(CASE_pointer_index_value)
  rc += tt_Person_find_by_level_score_upto_level(txn, &age, &pc); /* enum */
#elif defined(CASE_count_type)
  rc += tt_Person_count(txn, &age); /* an int64_t * for the count */
#elif defined(CASE_ref_out)
  rc += tt_Person_tag_get(txn, &p, &p); /* a Person where the Tag goes */
#endif
  tt_Person_cursor_close(pc);
  return rc;
}
