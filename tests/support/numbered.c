/*
 * tests/support/numbered.c - the numbered-transaction workload (see
 * numbered.h).  Only the public API is used, plus the little-endian
 * helpers of the runtime.
 */
#include "support/numbered.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "util/endian.h"

/* The record type of the workload.  Until the catalog (issue 5) exists,
 * the runtime does not check the type beyond "a record". */
static const pb_record_type numbered_type = {
    .name = "tests.Numbered", .fingerprint = 0x4e554d31u};

#define BODY_FIXED 40u /* magic 4, number 8, previous pointer 24, length 4 */
#define BODY_MAX (BODY_FIXED + 16u + 200u)

static size_t payload_len(uint64_t i) { return 16 + (size_t)(i * 37 % 200); }

static uint8_t payload_byte(uint64_t i, size_t k) {
  return (uint8_t)(i * 131 + k * 7 + 3);
}

/* Encodes record i's body into buf[BODY_MAX]; returns its length. */
static size_t encode_body(uint64_t i, pb_atom_ptr prev, uint8_t *buf) {
  size_t n = payload_len(i);
  memcpy(buf, "NUM1", 4);
  pb__store_le64(buf + 4, i);
  pb__store_le64(buf + 12, prev.batch_hi);
  pb__store_le64(buf + 20, prev.batch_lo);
  pb__store_le64(buf + 28, prev.offset);
  pb__store_le32(buf + 36, (uint32_t)n);
  for (size_t k = 0; k < n; k++) buf[BODY_FIXED + k] = payload_byte(i, k);
  return BODY_FIXED + n;
}

int pb__numbered_next(pb_db *db, uint64_t *number) {
  pb_txn *txn;
  int rc = pb_txn_begin(db, 0, &txn);
  if (rc != PB_OK) return rc;
  pb_value n = {.kind = PB_VALUE_UINT}, head = {.kind = PB_VALUE_REF};
  rc = pb_txn_get(txn, "n", &n);
  if (rc == PB_ENOTFOUND) {
    n.as.u = 0; /* the first transaction; head stays null */
    rc = PB_OK;
  } else if (rc == PB_OK) {
    rc = pb_txn_get(txn, "head", &head);
  }
  if (rc == PB_OK && (n.kind != PB_VALUE_UINT || head.kind != PB_VALUE_REF))
    rc = PB_ECORRUPT;
  uint64_t i = n.as.u + 1;
  uint8_t body[BODY_MAX];
  pb_atom_ptr rec = {0, 0, 0};
  if (rc == PB_OK)
    rc = pb_txn_put_record(txn, &numbered_type, body,
                           encode_body(i, head.as.ref, body), &rec);
  pb_value nv = {.kind = PB_VALUE_UINT, .as.u = i};
  pb_value hv = {.kind = PB_VALUE_REF, .as.ref = rec};
  if (rc == PB_OK) rc = pb_txn_set(txn, "n", &nv);
  if (rc == PB_OK) rc = pb_txn_set(txn, "head", &hv);
  if (rc != PB_OK) {
    pb_txn_abort(txn);
    return rc;
  }
  rc = pb_txn_commit(txn);
  if (rc == PB_OK) *number = i;
  return rc;
}

/* Formats a mismatch into why and returns PB_ECORRUPT. */
static int mismatch(char *why, size_t size, uint64_t i, const char *what) {
  if (why != NULL && size > 0)
    snprintf(why, size, "record %" PRIu64 ": %s", i, what);
  return PB_ECORRUPT;
}

/* Checks the chain from `head` (record `top`) back to record 1. */
static int check_chain(pb_txn *txn, uint64_t top, pb_atom_ptr head,
                       char *why, size_t why_size) {
  pb_atom_ptr ptr = head;
  for (uint64_t i = top; i >= 1; i--) {
    pb_bytes body;
    int rc = pb_txn_load_record(txn, &numbered_type, ptr, &body);
    if (rc != PB_OK) {
      if (why != NULL && why_size > 0)
        snprintf(why, why_size, "record %" PRIu64 ": load: %s", i,
                 pb_errname(rc));
      return rc;
    }
    uint8_t want[BODY_MAX];
    if (body.len < BODY_FIXED)
      return mismatch(why, why_size, i, "body too short");
    pb_atom_ptr prev = {pb__load_le64(body.ptr + 12),
                        pb__load_le64(body.ptr + 20),
                        pb__load_le64(body.ptr + 28)};
    size_t len = encode_body(i, prev, want);
    if (body.len != len || memcmp(body.ptr, want, len) != 0)
      return mismatch(why, why_size, i, "bytes differ from what was put");
    if ((i == 1) != pb_atom_ptr_is_null(prev))
      return mismatch(why, why_size, i, "bad link to the previous record");
    ptr = prev;
  }
  return PB_OK;
}

int pb__numbered_check(pb_db *db, uint64_t *number, char *why,
                       size_t why_size) {
  if (why != NULL && why_size > 0) why[0] = '\0';
  pb_txn *txn;
  int rc = pb_txn_begin(db, PB_RDONLY, &txn);
  if (rc != PB_OK) return rc;
  pb_value n, head;
  rc = pb_txn_get(txn, "n", &n);
  if (rc == PB_ENOTFOUND) {
    *number = 0;
    rc = pb_txn_get(txn, "head", &head) == PB_ENOTFOUND
             ? PB_OK
             : mismatch(why, why_size, 0, "\"head\" without \"n\"");
    pb_txn_abort(txn);
    return rc;
  }
  if (rc == PB_OK) rc = pb_txn_get(txn, "head", &head);
  if (rc == PB_OK && (n.kind != PB_VALUE_UINT || head.kind != PB_VALUE_REF))
    rc = mismatch(why, why_size, 0, "\"n\" or \"head\" has the wrong kind");
  if (rc == PB_OK) rc = check_chain(txn, n.as.u, head.as.ref, why, why_size);
  if (rc == PB_OK) *number = n.as.u;
  pb_txn_abort(txn);
  return rc;
}
