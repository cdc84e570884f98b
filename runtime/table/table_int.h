/*
 * table/table_int.h - typed tables inside the runtime (protobase/table.h):
 * what table.c (rows), table_index.c (indexes, their definitions) and
 * cursor.c (scans) share.
 *
 * Layout in the database root (docs/tables.md):
 *
 *   "\0t<id>"          Dictionary: packed primary key -> RECORD (the row)
 *   "\0i<id>:<name>"   Dictionary: packed index entry -> BYTES the row's
 *                      encoded primary key; the entry is the index's
 *                      encoded fields, then (not unique) the primary key
 *   "\0m<id>:<tag>"    Dictionary: packed primary key -> the row's member
 *                      collection of field <tag> (table/member.c)
 *   "\0tables"         Dictionary: "<id>" -> UINT the next id of a keyless
 *                      table; "<id>:<name>" -> BYTES an index definition
 *                      (varint flags, varint n, n varint tags)
 *
 * <id> is the record type's catalog id in decimal (a record renamed with
 * [renamed_from] keeps its id, hence its table).  Keys are packed
 * (table/keypack.h) so that they are UTF-8 Dictionary keys in the same
 * order.
 */
#ifndef PB_TABLE_TABLE_INT_H
#define PB_TABLE_TABLE_INT_H

#include <stdbool.h>

#include "protobase/table.h"
#include "table/keypack.h"
#include "txn/tcoll.h"

/** The most indexes one table may declare (PB_EINVAL beyond). */
#define PB__TAB_MAX_INDEXES 32

/** A table as one transaction uses it: kept in the transaction
 * (pb_txn.tabs), plain data, valid until its reads end. */
typedef struct pb__tab {
  const pb_table_def *def;
  uint32_t type_id;  /* 0: the type has no id (nothing stored yet) */
  bool registered;   /* registered in this transaction (writers) */
  bool synced;       /* index definitions checked, new ones built */
  pb__tcoll *rows;   /* "\0t<id>"; NULL: not opened, or absent */
  pb__tcoll *meta;   /* "\0tables"; NULL likewise */
  pb__tcoll *idx[PB__TAB_MAX_INDEXES]; /* per def index; NULL likewise */
} pb__tab;

/** A Dictionary key built in place: packed bytes. */
typedef struct pb__pkey {
  uint8_t *ptr;
  size_t len;
  uint8_t buf[PB_TABLE_KEY_MAX / 7 * 8 + 8];
} pb__pkey;

/** Packs `key` into *pk.  Errors: PB_ETOOBIG (longer than
 * PB_TABLE_KEY_MAX). */
int pb__pkey_set(pb__pkey *pk, pb_bytes key);

/** The pb_str view of a packed key. */
static inline pb_str pb__pkey_str(const pb__pkey *pk) {
  return (pb_str){(const char *)pk->ptr, pk->len};
}

/**
 * The table of `def` in `txn` (its memo entry, made on first use).  With
 * `change`, the record type is registered and the rows' Dictionary
 * created, and the index definitions are synced once (table_index.c);
 * without, nothing is written, and t->rows stays NULL when the table does
 * not exist.  Errors: as protobase/table.h.
 */
int pb__tab_open(pb_txn *txn, const pb_table_def *def, bool change,
                 pb__tab **out);

/** Writes `head` then the decimal digits of id at buf (no NUL); gives
 * the length (at most strlen(head) + 10). */
size_t pb__tab_name(char *buf, const char *head, uint32_t id);

/** The name of the tables' metadata Dictionary in the database root. */
extern const pb_str pb__tab_meta_name;

/** Opens t->meta ("\0tables"; created with `create`).  PB_ENOTFOUND
 * (t->meta stays NULL) when it does not exist and `create` is false.
 * Errors: pb__txn_open_root's. */
int pb__tab_open_meta(pb_txn *txn, pb__tab *t, bool create);

/** Whether `s` is a valid index name: letters, digits and '_'. */
bool pb__tab_name_ok(const char *s);

/** Encodes rec's primary key into kb (reset first; keyed tables).
 * Errors: PB_ETOOBIG (longer than PB_TABLE_KEY_MAX), the key function's. */
int pb__tab_key(const pb__tab *t, const void *rec, pb_keybuf *kb);

/** The record stored under a row, decoded into `rec` (initialized first)
 * with arrays in the transaction's arena.  Errors: PB_ECORRUPT (not a
 * record, or its body does not decode), PB_ENOMEM. */
int pb__tab_decode(pb_txn *txn, const pb__tab *t, const pb_value *row,
                   void *rec);

/* --- table_index.c --- */

/** Checks the cataloged index definitions against t->def and builds the
 * new ones (writers, once per transaction).  Errors: PB_ESCHEMA, PB_EEXIST
 * (a unique index over rows that share a value), as table.h. */
int pb__tab_sync_indexes(pb_txn *txn, pb__tab *t);

/** Opens index i's Dictionary (readers: checks that it is built with
 * def's definition).  Errors: PB_ESCHEMA, as table.h. */
int pb__tab_index(pb_txn *txn, pb__tab *t, size_t i, pb__tcoll **out);

/**
 * The entry of index i for record `rec` whose encoded primary key is `pk`:
 * its packed key into *out.  Errors: PB_ETOOBIG, the key function's.
 */
int pb__tab_entry(const pb__tab *t, size_t i, const void *rec, pb_bytes pk,
                  pb__pkey *out);

/**
 * Changes the index entries of one row from those of `old` (NULL: none)
 * to those of `rec` (NULL: none), primary key `pk`; an entry equal in
 * both is left alone.  Unique indexes are checked first, before anything
 * changes (PB_EEXIST).  Errors: PB_EEXIST, as table.h.
 */
int pb__tab_reindex(pb_txn *txn, pb__tab *t, const void *old,
                    const void *rec, pb_bytes pk);

/* --- member.c --- */

/** Removes the member collections of the row at packed key pk.  Errors:
 * as table.h. */
int pb__tab_drop_members(pb_txn *txn, const pb__tab *t, const pb__pkey *pk);

/* For queries (runtime/query/from.c): the next row of a cursor as its
 * encoded body (*body views the transaction's data, valid as a decoded
 * record's views are) and its id, without decoding it: as pb_cursor_next
 * otherwise (the same rows, errors and sticky error).  A row that is not
 * a record is PB_ECORRUPT. */
int pb__cursor_next_raw(pb_cursor *c, pb_bytes *body, uint64_t *id);
/* Decodes a body given by pb__cursor_next_raw into rec, as pb_cursor_next
 * would have (an error is made sticky). */
int pb__cursor_decode(pb_cursor *c, pb_bytes body, void *rec);

#endif /* PB_TABLE_TABLE_INT_H */
