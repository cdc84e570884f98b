/*
 * txn/validate.h - what the public entry points check before a change
 * (misuse gets a clear error, and nothing a caller stores can make the
 * store uncompactable):
 *
 *   - flags: each function's accepted bits (pb__flags_ok);
 *   - the write latch of a transaction (LMDB's MDB_TXN_ERROR): the first
 *     failed change whose error may have left part of it behind is kept
 *     in txn->failed; every later call and the commit return it
 *     (pb__txn_latched, pb__txn_note);
 *   - atom pointers a caller stores (a REF value, a nested collection's
 *     root, the PTR fields of a RECORD value or of a record body given to
 *     pb_txn_put_record) must name an atom that can be read, from the
 *     transaction's own batch or from the storage, and whose bytes the
 *     pointer walker (atom/refs.h) accepts, of the right kind for a
 *     collection: else PB_ENOTFOUND;
 *   - a record body given to pb_txn_put_record must parse as a record
 *     (a well-formed sequence of fields): else PB_EINVAL.
 *
 * Not a public interface.
 */
#ifndef PB_TXN_VALIDATE_H
#define PB_TXN_VALIDATE_H

#include <stdbool.h>
#include <stddef.h>

#include "protobase/protobase.h"
#include "txn/tcoll.h"

/** True when `flags` has no bit outside `allowed`. */
static inline bool pb__flags_ok(unsigned flags, unsigned allowed) {
  return (flags & ~allowed) == 0;
}

/** The transaction's latched error, or PB_OK. */
int pb__txn_latched(const pb_txn *txn);

/**
 * Returns `rc`, the result of a change; latches it first when it is an
 * error that may have left part of the change behind (every error but
 * PB_EINVAL, PB_ENOTFOUND, PB_ERDONLY, PB_ECLOSED, PB_ERANGE, PB_ESCHEMA)
 * and the transaction has no latched error yet.
 */
int pb__txn_note(pb_txn *txn, int rc);

/** The transaction a collection handle belongs to (never NULL). */
pb_txn *pb__tcoll_txn(const pb__tcoll *t);

/**
 * Checks the atom pointers `v` holds (NULL: nothing to check): a non-null
 * REF, a nested collection's root, and the PTR fields of a RECORD body.
 * Errors: PB_ENOTFOUND (a pointer names no atom that can be read and
 * walked, or a collection root that is not a node of that collection's
 * kind); PB_EINVAL (a RECORD body that does not parse); PB_EIO; PB_ENOMEM.
 */
int pb__validate_value(pb_txn *txn, const pb_value *v);

/**
 * Checks a record body given to pb_txn_put_record: it parses as a record,
 * and each of its pointers names an atom as pb__validate_value requires.
 * Errors: PB_EINVAL (not a record body); PB_ENOTFOUND; PB_EIO; PB_ENOMEM.
 */
int pb__validate_record(pb_txn *txn, const void *body, size_t size);

#endif /* PB_TXN_VALIDATE_H */
