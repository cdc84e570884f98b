/*
 * tests/support/numbered.c - the numbered-transaction workload (see
 * numbered.h).  Only the public API is used, plus the little-endian
 * helpers of the runtime.
 */
#include "support/numbered.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>


/* The record type of the workload.  Until the catalog (issue 5) exists,
 * the runtime does not check the type beyond "a record". */
static const pb_record_type numbered_type = {
    .name = "tests.Numbered", .fingerprint = 0x4e554d31u};

#define BODY_MAX 512u

static size_t payload_len(uint64_t i) { return 16 + (size_t)(i * 37 % 200); }

static uint8_t payload_byte(uint64_t i, size_t k) {
  return (uint8_t)(i * 131 + k * 7 + 3);
}

/* Encodes record i's body, as wire fields so that compaction finds the
 * link (1: number, 2: pointer to record i-1, omitted for i = 1, 3: the
 * payload), into buf[BODY_MAX]; returns its length. */
static size_t encode_body(uint64_t i, pb_atom_ptr prev, uint8_t *buf) {
  uint8_t payload[256];
  size_t n = payload_len(i);
  for (size_t k = 0; k < n; k++) payload[k] = payload_byte(i, k);
  pb_buf b;
  pb_buf_init(&b);
  pb_wire_put_uint(&b, 1, i);
  if (!pb_atom_ptr_is_null(prev)) pb_wire_put_atom_ptr(&b, 2, &prev);
  pb_wire_put_bytes(&b, 3, (pb_bytes){payload, n});
  size_t len = 0;
  if (pb_buf_error(&b) == PB_OK && b.len <= BODY_MAX) {
    memcpy(buf, b.data, b.len);
    len = b.len;
  }
  pb_buf_free(&b);
  return len;
}

/* Reads the link out of a record body; false when the body has none. */
static bool body_prev(pb_bytes body, pb_atom_ptr *prev) {
  *prev = (pb_atom_ptr){0, 0, 0};
  pb_reader r;
  pb_field f;
  pb_reader_init(&r, body.ptr, body.len);
  int rc;
  while ((rc = pb_reader_next(&r, &f)) == 1)
    if (f.tag == 2) return pb_field_atom_ptr(&f, prev) == PB_OK;
  return rc == 0;
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
    pb_atom_ptr prev;
    if (!body_prev(body, &prev))
      return mismatch(why, why_size, i, "malformed body");
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
