/*
 * txn/record.c - records in a transaction: put (an atom of the batch),
 * load (a view of the body), and the arena generated decoders use.
 */
#include <stdlib.h>

#include "atom/atom.h"
#include "txn/txn_int.h"

int pb_txn_put_record(pb_txn *txn, const pb_record_type *type,
                      const void *body, size_t size, pb_atom_ptr *out) {
  if (!txn || !type || (!body && size) || !out) return PB_EINVAL;
  if (txn->flags & PB_RDONLY) return PB_ERDONLY;
  if (size > PB__ATOM_MAX_SIZE - 16) return PB_ETOOBIG;
  pb_buf_reset(&txn->scratch);
  /* Every record atom carries the first record type id: the catalog maps
   * fingerprints to schema epochs, not to atom type ids (atom/atom.h). */
  pb__atom_begin(&txn->scratch, PB__TYPE_RECORD_MIN);
  pb_buf_append(&txn->scratch, body, size);
  int rc = pb_buf_error(&txn->scratch);
  if (rc != PB_OK) return rc;
  return pb__batch_add(&txn->batch, txn->scratch.data, txn->scratch.len, out);
}

int pb_txn_load_record(pb_txn *txn, const pb_record_type *type,
                       pb_atom_ptr ptr, pb_bytes *body) {
  if (!txn || !type || !body) return PB_EINVAL;
  if (pb_atom_ptr_is_null(ptr)) return PB_ENOTFOUND;
  pb_bytes atom;
  uint32_t type_id;
  int rc = pb__txn_read(txn, ptr, &atom);
  if (rc == PB_OK) rc = pb__atom_parse(atom, &type_id, body);
  if (rc == PB_OK && type_id < PB__TYPE_RECORD_MIN) rc = PB_ECORRUPT;
  return rc;
}

int pb_txn_arena(pb_txn *txn, pb_arena **out) {
  if (!txn || !out) return PB_EINVAL;
  if (!txn->arena) {
    int rc = pb_arena_create(&txn->arena);
    if (rc != PB_OK) return rc;
  }
  *out = txn->arena;
  return PB_OK;
}
