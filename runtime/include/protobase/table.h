/*
 * protobase/table.h - typed tables: the runtime side of what pbc generates
 * for every record (docs/tables.md).
 *
 * A TABLE holds the records of one record type in one database, ordered by
 * their primary key: the record's `[key]` field, or, for a record without
 * one, a 64-bit id that the table assigns (1, 2, 3, ...: never reused, even
 * after a delete).  Its declared INDEXES (`index name (field, ...)` in the
 * schema) are kept in the same transaction by every insert, upsert, update
 * and delete.
 *
 * Generated code describes a record's table once, as a constant
 * pb_table_def, and calls the functions below with it; the generated
 * P_R_insert, P_R_get, ... are typed wrappers, so most programs never call
 * these directly.  A program may: a pb_table_def filled by hand works the
 * same.
 *
 * KEYS.  Every key the functions take or give is in the order-preserving
 * form of protobase/key.h (a pb_keybuf's bytes): the primary key's
 * components, or an index's.  Bytewise order of those bytes is the natural
 * order of the values, so scans come out in key order.  An encoded key may
 * be at most PB_TABLE_KEY_MAX bytes (PB_ETOOBIG), and so may an index
 * entry: its fields' encoding followed by the primary key's.
 *
 * STORAGE (docs/tables.md has the details).  The records are the values of
 * a Dictionary in the database root, inline (PB_VALUE_RECORD), under the
 * name "\0t<type id>"; each index is a Dictionary "\0i<type id>:<name>";
 * the index definitions and the id counters of keyless tables are entries
 * of "\0tables".  No C string names them, so pb_txn_set and
 * pb_txn_open_dict cannot touch them.  The record type is registered in
 * the catalog (its type id) by the first write, as pb_txn_put_record does.
 *
 * INDEXES.  An index whose definition (its fields, its flags) is new to
 * the database is built by the first writable transaction that uses the
 * table, in that transaction.  A definition the database has cataloged
 * but `def` lacks makes every call in a writable transaction PB_ESCHEMA,
 * until pb_table_drop_index removes it; a cataloged index whose definition
 * changed (other fields) is PB_ESCHEMA too: drop it, then the new one is
 * built.  A read-only transaction never builds: an index it needs that is
 * not built, or built with another definition, is PB_ESCHEMA.
 *
 * CONCURRENCY.  Tables are Dictionaries, so commits merge per key
 * (docs/transactions.md): two transactions that change different rows
 * both commit; two that insert the same key, or change one row, conflict
 * (the second gets PB_ECONFLICT from its commit, and pb_txn_run retries
 * it, then sees the row).  Index entries are keys too: a unique index
 * entry is keyed by the indexed values alone, so two rows given one value
 * at once conflict.  Keyless inserts all advance one counter, so
 * concurrent keyless inserts conflict and are retried by pb_txn_run.
 *
 * VIEWS.  A record given by pb_table_get or pb_cursor_next has views
 * (strings, bytes) into the transaction's data, valid until the
 * transaction ends, and array items in the transaction's arena
 * (pb_txn_arena), freed when it ends.
 *
 * ERRORS common to every function here: PB_EINVAL (a NULL argument, a bad
 * flag, a def that is malformed), PB_ESCHEMA (above, and a record type
 * whose change is breaking against the catalog), PB_ENOMEM, PB_EIO,
 * PB_ECORRUPT (a stored record or entry that does not decode: the detail
 * names it), and for the functions that change: PB_ERDONLY (a read-only
 * transaction), PB_ETOOBIG (a key or entry too long), and a failed
 * transaction's latched error (protobase.h, pb_txn_begin).
 *
 * Thread safety: as for the transaction the call is given.
 */
#ifndef PROTOBASE_TABLE_H
#define PROTOBASE_TABLE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "protobase/key.h"
#include "protobase/protobase.h"

#ifdef __cplusplus
extern "C" {
#endif

/** The longest encoded primary key or index entry, in bytes. */
#define PB_TABLE_KEY_MAX 3584

/** Appends the encoded key of `rec` (a record struct) to `out`; returns
 * pb_keybuf_error(out). */
typedef int (*pb_table_key_fn)(const void *rec, pb_keybuf *out);

/** Encodes the record struct `rec` (the generated _encode). */
typedef int (*pb_table_encode_fn)(const void *rec, pb_buf *out);

/** pb_table_index.flags: at most one row per indexed value
 * (PB_EEXIST otherwise). */
#define PB_INDEX_UNIQUE 0x1u

/** A declared index. */
typedef struct pb_table_index {
  const char *name;      /* the schema's name: letters, digits, '_' */
  uint32_t flags;        /* PB_INDEX_UNIQUE or 0 */
  const uint32_t *tags;  /* the indexed fields' tags, in index order */
  size_t n_tags;         /* at least 1 */
  pb_table_key_fn key;   /* encodes those fields of a record */
} pb_table_index;

/** A record's table, as generated code describes it. */
typedef struct pb_table_def {
  const pb_record_type *type; /* the record type (its name, fingerprint) */
  size_t size;                /* sizeof the record struct */
  void (*init)(void *rec);    /* the generated _init */
  pb_table_encode_fn encode;  /* the generated _encode */
  pb_record_decode_fn decode; /* the generated decoder (_decode), which
                                 initializes the record first */
  pb_table_key_fn key;        /* the primary key; NULL: keyless (ids) */
  bool arena;                 /* the decoder needs an arena (the record
                                 or one it embeds has arrays): rows are
                                 decoded into the transaction's arena
                                 (pb_txn_arena); false: with none */
  const pb_table_index *indexes;
  size_t n_indexes;
  const uint32_t *members; /* tags of the list, set and map fields */
  size_t n_members;
} pb_table_def;

/**
 * Inserts `rec`.  Keyed: PB_EEXIST when a row has its key (nothing
 * changes).  Keyless: the table assigns the next id and gives it in *id
 * (id may be NULL for a keyed table, and is set to 0 there).  A unique
 * index that already has the row's value: PB_EEXIST.  Errors: as above.
 */
int pb_table_insert(pb_txn *txn, const pb_table_def *def, const void *rec,
                    uint64_t *id);

/** Inserts `rec`, or replaces the row with its key.  Keyed tables only
 * (PB_EINVAL otherwise).  Errors: PB_EEXIST (a unique index has the value
 * in another row), as above. */
int pb_table_upsert(pb_txn *txn, const pb_table_def *def, const void *rec);

/** Replaces the row with rec's key.  Keyed tables only.  Errors:
 * PB_ENOTFOUND (no such row), PB_EEXIST (unique index), as above. */
int pb_table_update(pb_txn *txn, const pb_table_def *def, const void *rec);

/** Replaces the row `id` of a keyless table.  Errors: PB_ENOTFOUND,
 * PB_EEXIST (unique index), PB_EINVAL (a keyed table), as above. */
int pb_table_update_id(pb_txn *txn, const pb_table_def *def, uint64_t id,
                       const void *rec);

/** Reads the row whose encoded primary key is `key` into `rec` (which it
 * initializes first).  Errors: PB_ENOTFOUND, as above. */
int pb_table_get(pb_txn *txn, const pb_table_def *def, pb_bytes key,
                 void *rec);

/** Deletes the row whose encoded primary key is `key`, and its index
 * entries.  Errors: PB_ENOTFOUND, as above. */
int pb_table_delete(pb_txn *txn, const pb_table_def *def, pb_bytes key);

/** The number of rows.  Errors: as above. */
int pb_table_count(pb_txn *txn, const pb_table_def *def, uint64_t *out);

/* Scan flags.  A bound that is NULL is open.  By default lo is inclusive
 * and hi exclusive. */
#define PB_SCAN_LO_EXCL 0x1u /* lo itself is not in the range */
#define PB_SCAN_HI_INCL 0x2u /* hi itself is in the range */
#define PB_SCAN_REVERSE 0x4u /* descending order */
/** For index scans: lo and hi are PREFIXES of the index's encoded fields
 * (the first fields only); hi includes every entry that starts with it. */
#define PB_SCAN_PREFIX 0x8u

typedef struct pb_cursor pb_cursor;

/**
 * Opens a cursor over the rows whose encoded primary keys lie between lo
 * and hi (see the flags), in key order (PB_SCAN_REVERSE: descending).
 * The cursor reads the transaction's data as it is when the cursor is
 * opened... and must not be used after a change to the table in the same
 * transaction (its use is then undefined), nor after the transaction
 * ends.  Close it with pb_cursor_close.  Errors: as above.
 */
int pb_table_scan(pb_txn *txn, const pb_table_def *def, const pb_bytes *lo,
                  const pb_bytes *hi, unsigned flags, pb_cursor **out);

/**
 * Opens a cursor over the rows of index `index` (its position in
 * def->indexes) whose indexed fields lie between lo and hi (encoded as the
 * index's key function encodes them, or a prefix of them with
 * PB_SCAN_PREFIX), ordered by those fields, then by primary key.
 * pb_table_find is the equality lookup: lo == hi, PB_SCAN_PREFIX |
 * PB_SCAN_HI_INCL.  Errors: PB_EINVAL (no such index), PB_ESCHEMA (the
 * index is not built: see INDEXES), as above.
 */
int pb_table_index_scan(pb_txn *txn, const pb_table_def *def, size_t index,
                        const pb_bytes *lo, const pb_bytes *hi,
                        unsigned flags, pb_cursor **out);

/** The rows whose first indexed fields equal `prefix` (an encoding of the
 * first fields of index `index`).  Errors: as pb_table_index_scan. */
int pb_table_find(pb_txn *txn, const pb_table_def *def, size_t index,
                  pb_bytes prefix, pb_cursor **out);

/**
 * The next row, decoded into `rec` (initialized first); *id (may be NULL)
 * gets its id in a keyless table (0 in a keyed one).  Returns PB_OK, or
 * PB_ENOTFOUND after the last row; other errors as above, after which the
 * cursor returns that error again.
 */
int pb_cursor_next(pb_cursor *cur, void *rec, uint64_t *id);

/** Closes a cursor.  NULL is a no-op. */
void pb_cursor_close(pb_cursor *cur);

/**
 * Opens the collection of member field `tag` (one of def->members) of the
 * row whose encoded primary key is `key`, as a Dictionary, List, Set or
 * HashDictionary handle (kind PB_VALUE_DICT, _LIST, _SET, _HASHDICT):
 * *out is a pb_dict *, pb_list *, pb_set * or pb_hdict * accordingly, valid
 * until the transaction ends.  A row's member collections live beside the
 * row (docs/tables.md), keyed by its primary key, so they are changed,
 * committed and merged as nested collections are (per key or element);
 * deleting the row deletes them.  The record struct's member (an atom
 * pointer) is not used by tables.  flags: PB_CREATE (create it empty when
 * the row has none yet; a writable transaction only) or 0.
 * Errors: PB_ENOTFOUND (no such row; or no such collection yet, without
 * PB_CREATE), PB_EINVAL (a tag that is not a member, a bad kind or flag),
 * PB_ESCHEMA (stored as another kind), as above.
 */
int pb_table_open_member(pb_txn *txn, const pb_table_def *def, pb_bytes key,
                         uint32_t tag, pb_value_kind kind, unsigned flags,
                         void **out);

/**
 * Removes index `name` of the record type of `def` (its entries and its
 * catalog definition) in this transaction.  `def` need not declare it
 * (that is what it is for: a schema that dropped the index).
 * Errors: PB_ENOTFOUND (no such index cataloged), as above.
 */
int pb_table_drop_index(pb_txn *txn, const pb_table_def *def,
                        const char *name);

/**
 * Checks the table: every row decodes and has its key, every index has
 * exactly one entry per row, with the right key and the right primary
 * key, and no other entry.  For tests and `pbtool verify`.  Errors:
 * PB_ECORRUPT with a detail naming the first problem, as above.
 */
int pb_table_check(pb_txn *txn, const pb_table_def *def);

#ifdef __cplusplus
}
#endif

#endif /* PROTOBASE_TABLE_H */
