/*
 * txn/txn.c - transactions: a snapshot to read, a batch to write, and one
 * atomic publish at commit.
 *
 * A transaction reads the storage root once, at begin, and sees that
 * snapshot until it ends.  Atoms it writes go into its own batch, whose
 * pointers are known at once (atom/batch.h), so a record can be put and
 * referenced in the same transaction.  Commit encodes the database root,
 * then the space root, appends the batch and swaps the storage root in one
 * step of the storage tier: either all of it is published or none of it.
 *
 * Memory handed out as views (copies of own atoms, and the arena that
 * generated `_load` functions decode arrays into: pb_txn_arena) lives until
 * the transaction ends.
 *
 * Walking skeleton: a concurrent commit to the SAME database gives
 * PB_ECONFLICT; the three-way merge of SPEC section 7 comes with issue 5.
 */
#include <stdlib.h>
#include <string.h>

#include "atom/atom.h"
#include "atom/value.h"
#include "txn/space.h"

/* A stable copy of an own atom, handed out as a view until the txn ends. */
typedef struct own_copy {
  struct own_copy *next; /* singly linked, freed at the end */
  uint8_t bytes[];       /* the atom */
} own_copy;

struct pb_txn {
  pb_db *db;               /* the database this transaction works on */
  unsigned flags;          /* PB_RDONLY or 0 */
  uint64_t pin;            /* storage pin: the snapshot stays readable */
  pb_atom_ptr snap_root;   /* storage root when the transaction began */
  uint64_t snap_lsn;       /* its LSN */
  pb_atom_ptr db_root;     /* this database's root in that snapshot */
  pb__flatdict names;      /* the database root: name -> value */
  bool dirty;              /* names changed since begin */
  pb__batch_builder batch; /* atoms this transaction wrote */
  pb_buf scratch;          /* reused to encode one atom */
  own_copy *copies;        /* copies of own atoms given out as views */
  pb_arena *arena;         /* decoded arrays of _load; NULL until used */
};

static void txn_free(pb_txn *txn) {
  pb__storage_unpin(txn->db->sp->st, txn->pin);
  pb__flatdict_free(&txn->names);
  pb__batch_free(&txn->batch);
  pb_buf_free(&txn->scratch);
  pb_arena_destroy(txn->arena);
  while (txn->copies) {
    own_copy *c = txn->copies;
    txn->copies = c->next;
    free(c);
  }
  free(txn);
}

int pb_txn_begin(pb_db *db, unsigned flags, pb_txn **out) {
  if (!db || !out) return PB_EINVAL;
  pb_storage *st = db->sp->st;
  if (!(flags & PB_RDONLY) && st->read_only) return PB_ERDONLY;
  pb_txn *txn = calloc(1, sizeof *txn);
  if (!txn) return PB_ENOMEM;
  txn->db = db;
  txn->flags = flags;
  pb__flatdict_init(&txn->names);
  pb_buf_init(&txn->scratch);
  pb__storage_pin(st, &txn->pin); /* before reading the root */
  int rc = pb__batch_init(&txn->batch);
  if (rc == PB_OK)
    rc = st->ops->read_root(st, &txn->snap_root, &txn->snap_lsn);
  if (rc == PB_OK)
    rc = pb__space_find_db(db->sp, txn->snap_root, db->name, &txn->db_root);
  if (rc == PB_OK) rc = pb__flatdict_load(st, txn->db_root, &txn->names);
  if (rc != PB_OK) {
    txn_free(txn);
    return rc;
  }
  *out = txn;
  return PB_OK;
}

int pb_txn_abort(pb_txn *txn) {
  if (txn) txn_free(txn);
  return PB_OK;
}

int pb_txn_commit(pb_txn *txn) {
  if (!txn) return PB_EINVAL;
  if ((txn->flags & PB_RDONLY) || (!txn->dirty && txn->batch.buf.len == 0)) {
    txn_free(txn);
    return PB_OK;
  }
  pb_atom_ptr new_db_root = txn->db_root;
  int rc = PB_OK;
  if (txn->dirty) {
    pb_buf_reset(&txn->scratch);
    pb__flatdict_encode(&txn->names, &txn->scratch);
    rc = pb_buf_error(&txn->scratch);
    if (rc == PB_OK)
      rc = pb__batch_add(&txn->batch, txn->scratch.data, txn->scratch.len,
                         &new_db_root);
  }
  if (rc == PB_OK)
    rc = pb__space_publish(txn->db->sp, &txn->batch, txn->batch.buf.len,
                           txn->snap_root, txn->snap_lsn, txn->db->name,
                           &txn->db_root,
                           new_db_root);
  txn_free(txn);
  return rc;
}

/* --- records --- */

int pb_txn_put_record(pb_txn *txn, const pb_record_type *type,
                      const void *body, size_t size, pb_atom_ptr *out) {
  if (!txn || !type || (!body && size) || !out) return PB_EINVAL;
  if (txn->flags & PB_RDONLY) return PB_ERDONLY;
  if (size > PB__ATOM_MAX_SIZE - 16) return PB_ETOOBIG;
  pb_buf_reset(&txn->scratch);
  /* Until the catalog (issue 5) assigns one id per record type, every
   * record atom carries the first record type id. */
  pb__atom_begin(&txn->scratch, PB__TYPE_RECORD_MIN);
  pb_buf_append(&txn->scratch, body, size);
  int rc = pb_buf_error(&txn->scratch);
  if (rc != PB_OK) return rc;
  return pb__batch_add(&txn->batch, txn->scratch.data, txn->scratch.len, out);
}

/* Reads an atom, from this transaction's own batch or from the storage. */
static int read_atom(pb_txn *txn, pb_atom_ptr ptr, pb_bytes *out) {
  if (ptr.batch_hi != txn->batch.id_hi || ptr.batch_lo != txn->batch.id_lo) {
    pb_storage *st = txn->db->sp->st;
    return st->ops->read_atom(st, ptr, out);
  }
  pb_bytes v;
  int rc = pb__batch_atom(txn->batch.buf.data, txn->batch.buf.len,
                          ptr.offset, &v);
  if (rc != PB_OK) return rc;
  /* The batch buffer moves as it grows: hand out a stable copy. */
  own_copy *c = malloc(sizeof *c + v.len);
  if (!c) return PB_ENOMEM;
  memcpy(c->bytes, v.ptr, v.len);
  c->next = txn->copies;
  txn->copies = c;
  out->ptr = c->bytes;
  out->len = v.len;
  return PB_OK;
}

int pb_txn_load_record(pb_txn *txn, const pb_record_type *type,
                       pb_atom_ptr ptr, pb_bytes *body) {
  if (!txn || !type || !body) return PB_EINVAL;
  if (pb_atom_ptr_is_null(ptr)) return PB_ENOTFOUND;
  pb_bytes atom;
  uint32_t type_id;
  int rc = read_atom(txn, ptr, &atom);
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

/* --- named values --- */

int pb_txn_set(pb_txn *txn, const char *name, const pb_value *value) {
  if (!txn || !name || !value) return PB_EINVAL;
  if (txn->flags & PB_RDONLY) return PB_ERDONLY;
  pb_str key = pb_str_from_cstr(name);
  if (key.len == 0 || !pb_utf8_valid(key.ptr, key.len) ||
      !pb__value_valid(value))
    return PB_EINVAL;
  int rc = pb__flatdict_put(&txn->names, key, value);
  if (rc == PB_OK) txn->dirty = true;
  return rc;
}

int pb_txn_get(pb_txn *txn, const char *name, pb_value *out) {
  if (!txn || !name || !out) return PB_EINVAL;
  return pb__flatdict_get(&txn->names, pb_str_from_cstr(name), out);
}

int pb_txn_remove(pb_txn *txn, const char *name) {
  if (!txn || !name) return PB_EINVAL;
  if (txn->flags & PB_RDONLY) return PB_ERDONLY;
  int rc = pb__flatdict_remove(&txn->names, pb_str_from_cstr(name));
  if (rc == PB_OK) txn->dirty = true;
  return rc;
}
