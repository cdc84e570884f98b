/*
 * tests/support/numbered.h - a workload of numbered transactions through
 * the public API, and its checker, for tests that kill or starve a writer
 * and then look at what survived.
 *
 * Transaction i (1, 2, ...) puts one record and names two values in the
 * database "numbered":
 *
 *   record i   body = wire fields (protobase/wire.h): 1 the number i,
 *              2 the pointer to record i-1 (absent for i = 1), 3 n bytes
 *              derived from i (n = 16 + (i * 37) % 200);
 *   "n"        PB_VALUE_UINT i;
 *   "head"     PB_VALUE_REF to record i.
 *
 * So the records form a chain from "head" back to record 1, and a checker
 * can verify every record ever committed while the database root stays a
 * few bytes (it does not grow with i).
 */
#ifndef PB_TESTS_SUPPORT_NUMBERED_H
#define PB_TESTS_SUPPORT_NUMBERED_H

#include <stddef.h>
#include <stdint.h>

#include "protobase/protobase.h"

/** The database the workload uses. */
#define PB__NUMBERED_DB "numbered"

/**
 * Commits the next numbered transaction: reads "n" (0 when absent), puts
 * record n + 1 and moves "n" and "head" to it, and commits.  On PB_OK,
 * *number is the number committed.  Errors: those of pb_txn_begin,
 * pb_txn_put_record, pb_txn_set and pb_txn_commit.
 */
int pb__numbered_next(pb_db *db, uint64_t *number);

/**
 * Reads "n" (0 when the database holds no transaction yet) into *number
 * and checks every record from it back to record 1: its number, its bytes
 * and its link.  On a mismatch returns PB_ECORRUPT with a sentence in
 * why[why_size]; other errors are those of pb_txn_begin, pb_txn_get and
 * pb_txn_load_record.
 */
int pb__numbered_check(pb_db *db, uint64_t *number, char *why,
                       size_t why_size);

#endif /* PB_TESTS_SUPPORT_NUMBERED_H */
