/*
 * txn/catalog.h - the catalog inside the runtime (txn/catalog.c): what
 * record puts and loads ask of it.
 */
#ifndef PB_TXN_CATALOG_H
#define PB_TXN_CATALOG_H

#include "protobase/protobase.h"

/**
 * Registers `type` (and the records it embeds) in writable transaction
 * `txn`, unless it is registered already, and gives its type id.  The
 * entries are written by txn's commit.  Errors: PB_ESCHEMA (breaking
 * against a cataloged version; pb_errdetail says which); PB_EINVAL (a
 * malformed pb_record_type); PB_ENOSPC (type ids exhausted); PB_ENOMEM;
 * PB_ECORRUPT; PB_EIO.
 */
int pb__catalog_register(pb_txn *txn, const pb_record_type *type,
                         uint32_t *type_id);

/**
 * For a load: the epoch of `type` (0: none, decode privately) and the type
 * id of its name (0: the name has none, so only untyped atoms are of this
 * type).  Never writes.  Errors: PB_ESCHEMA (the version is not registered
 * and its change is breaking against a cataloged one); PB_EINVAL (a type
 * without a name); PB_ENOMEM;
 * PB_ECORRUPT; PB_EIO.
 */
int pb__catalog_find(pb_txn *txn, const pb_record_type *type,
                     uint64_t *epoch, uint32_t *type_id);

/** Writes the name of type id `id` (or "type id N") into out. */
int pb__catalog_type_name(pb_txn *txn, uint32_t id, char *out, size_t cap);

#endif /* PB_TXN_CATALOG_H */
