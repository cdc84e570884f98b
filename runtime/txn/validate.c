/*
 * txn/validate.c - the checks of txn/validate.h.
 *
 * A pointer is checked by reading the atom it names: from the
 * transaction's own batch (pb__batch_atom on the buffer, no copy), else
 * from the storage the space reads (published commits, and pending ones).
 * The atom's envelope must parse and the pointer walker must accept its
 * body, because compaction will walk it; a collection root must be a node
 * of its collection's kind.  Anything else is PB_ENOTFOUND: a pointer that
 * does not start an atom names none.  Only the named atom is read, not
 * what it points to: atoms already stored or put were checked when they
 * were written.
 */
#include "txn/validate.h"

#include <assert.h>
#include <stddef.h>

#include "atom/atom.h"
#include "atom/refs.h"
#include "txn/txn_int.h"

int pb__txn_latched(const pb_txn *txn) {
  assert(txn != NULL);
  return txn->failed;
}

/* Whether a change that failed with `rc` may have left part of itself
 * behind.  The refusals below are all given before anything is touched. */
static bool latches(int rc) {
  switch (rc) {
  case PB_EINVAL:
  case PB_ENOTFOUND:
  case PB_ERDONLY:
  case PB_ECLOSED:
  case PB_ERANGE:
  case PB_ESCHEMA:
    return false;
  default:
    return rc < 0;
  }
}

int pb__txn_note(pb_txn *txn, int rc) {
  assert(txn != NULL);
  if (latches(rc) && txn->failed == PB_OK) txn->failed = rc;
  return rc;
}

pb_txn *pb__tcoll_txn(const pb__tcoll *t) {
  /* Every tcoll of a transaction is opened with &txn->env (txn.c). */
  assert(t != NULL && t->env != NULL);
  pb_txn *txn = (pb_txn *)(void *)((char *)(void *)t->env -
                                   offsetof(struct pb_txn, env));
  assert(txn->sink.arg == txn); /* set by pb_txn_begin */
  return txn;
}

/* Walks nothing: pb__atom_refs only checks that the atom is walkable. */
static int ignore_ref(void *ctx, pb_atom_ptr ptr, size_t pos) {
  (void)ctx;
  (void)ptr;
  (void)pos;
  return PB_OK;
}

/* Whether node type `type` can be the root of a collection of `kind`. */
static bool root_of(pb_value_kind kind, uint32_t type) {
  switch (kind) {
  case PB_VALUE_DICT:
    return type == PB__TYPE_DICT_LEAF || type == PB__TYPE_DICT_BRANCH ||
           type == PB__TYPE_DICT_LEAF_IDX;
  case PB_VALUE_LIST:
    return type == PB__TYPE_LIST_LEAF || type == PB__TYPE_LIST_BRANCH;
  case PB_VALUE_SET:
  case PB_VALUE_HASHDICT:
    return type == PB__TYPE_HASH_NODE || type == PB__TYPE_HASH_COLLISION;
  default:
    return true; /* a REF or a record's pointer: any atom */
  }
}

/* Checks that non-null `p` names an atom (of a node of `kind` for a
 * collection).  Errors: PB_ENOTFOUND, PB_EIO, PB_ENOMEM. */
static int check_ptr(pb_txn *txn, pb_atom_ptr p, pb_value_kind kind) {
  pb_bytes atom;
  int rc;
  if (p.batch_hi == txn->batch.id_hi && p.batch_lo == txn->batch.id_lo)
    rc = txn->batch.buf.len == 0
             ? PB_ENOTFOUND /* a read-only txn's batch id is 0 */
             : pb__batch_atom(txn->batch.buf.data, txn->batch.buf.len,
                              p.offset, &atom);
  else
    rc = txn->db->sp->src.read(txn->db->sp->src.arg, p, &atom);
  if (rc == PB_EIO || rc == PB_ENOMEM) return rc;
  if (rc != PB_OK) return PB_ENOTFOUND;
  uint32_t type;
  pb_bytes body;
  if (pb__atom_parse(atom, &type, &body) != PB_OK || !root_of(kind, type))
    return PB_ENOTFOUND;
  rc = pb__atom_refs(atom, ignore_ref, NULL);
  if (rc == PB_ENOMEM) return rc;
  return rc == PB_OK ? PB_OK : PB_ENOTFOUND;
}

/* pb__ref_fn: each pointer of a record body must name an atom. */
static int check_field_ptr(void *ctx, pb_atom_ptr ptr, size_t pos) {
  (void)pos;
  return check_ptr(ctx, ptr, PB_VALUE_REF);
}

/* Checks the pointers of a record body.  Errors: as pb__validate_record. */
static int check_body(pb_txn *txn, pb_bytes body) {
  int rc = pb__record_refs(body, check_field_ptr, txn);
  return rc == PB_ECORRUPT ? PB_EINVAL : rc;
}

int pb__validate_value(pb_txn *txn, const pb_value *v) {
  assert(txn != NULL);
  if (!v) return PB_OK;
  if (v->kind == PB_VALUE_REF || pb_value_is_collection(v->kind)) {
    if (pb_atom_ptr_is_null(v->as.ref)) return PB_OK;
    if (v->as.ref.offset > UINT32_MAX) return PB_EINVAL; /* no encoding */
    return check_ptr(txn, v->as.ref, v->kind);
  }
  if (v->kind == PB_VALUE_RECORD) {
    if (!v->as.rec.body.ptr && v->as.rec.body.len) return PB_EINVAL;
    return check_body(txn, v->as.rec.body);
  }
  return PB_OK;
}

int pb__validate_record(pb_txn *txn, const void *body, size_t size) {
  assert(txn != NULL);
  return check_body(txn, (pb_bytes){body, size});
}
