/*
 * txn/snapshot.h - what a transaction reads: one downward snapshot.
 *
 * A snapshot owns everything a transaction's reads need and hand out:
 *
 *   - the storage PIN, taken before the root is read, so that every atom
 *     of that root stays readable (and mapped) until the snapshot ends;
 *   - the ROOT (the space root and its LSN) and this database's root in
 *     it, resolved once per published root for each database handle (the
 *     memo below), not once per transaction; so are the roots of the
 *     named collections a read transaction opens (pb__coll_memo);
 *   - the transaction's own BATCH (a view of it: the transaction owns the
 *     builder), read first, and the stable copies of own atoms handed out
 *     as views (the batch buffer moves as it grows);
 *   - the CACHES of the space, and the handles of the cached objects it
 *     was given (a pb__cache_holds: the caches append to it and never
 *     call back);
 *   - a reader SLOT of the epoch-based reclamation (util/ebr.h): from
 *     begin to end the snapshot is inside an epoch, so the cached objects
 *     it reaches by plain pointers (a cached Dictionary node's links to
 *     its cached children: no lookup, no reference) stay allocated until
 *     it ends, whatever the caches evict meanwhile.
 *
 * It reads in one order, always downward:
 *
 *   own batch  ->  object cache  ->  bytes cache  ->  storage
 *
 * The collections ask for a node through pb__obj_load(&snap->src, ...)
 * (cache/atomcache.h): an atom of the own batch is never cached and is
 * read from the batch; any other is looked up in the object cache, else
 * its bytes in the bytes cache, else read from the pinned storage (the
 * published atoms, then those of commits appended but not yet published,
 * which a committer that rebases on the pending head needs).
 * pb__snap_read is the snapshot's read, the only function of this level
 * the caches are given (as src->read); it calls only the batch and the
 * storage.
 *
 * Lifetime: a snapshot is embedded in its transaction handle, which the
 * database handle reuses (txn.c), so pb__snap_init runs once per handle,
 * pb__snap_begin/pb__snap_end once per transaction; the arrays it keeps
 * (holds) are reused, and a warm begin allocates nothing.
 *
 * Threads: a snapshot belongs to its transaction's thread; the memo of a
 * database handle is read and written by any thread (a sequence lock of
 * atomics).
 */
#ifndef PB_TXN_SNAPSHOT_H
#define PB_TXN_SNAPSHOT_H

#include <stdatomic.h>

#include "atom/batch.h"
#include "cache/atomcache.h"
#include "collections/dict.h"
#include "storage/storage.h"
#include "util/ebr.h"

typedef struct pb_space pb_space;
typedef struct pb_db pb_db;

/* A stable copy of an own atom, handed out as a view until the snapshot
 * ends. */
typedef struct pb__own_copy {
  struct pb__own_copy *next; /* singly linked, freed at the end */
  uint8_t bytes[];           /* the atom */
} pb__own_copy;

/**
 * The database root of one space root, remembered by a database handle
 * (pb_db) so that transactions beginning on the same published root do
 * not look it up again.  A sequence lock: `seq` is odd while a writer
 * stores, readers retry never (a miss looks the root up instead).  The
 * key is the space root's pointer: an atom never changes under its
 * pointer, so the database root found in it is always the same.
 */
typedef struct pb__root_memo {
  atomic_uint_fast64_t seq;
  atomic_uint_fast64_t root[3];    /* space root: batch_hi, batch_lo, offset */
  atomic_uint_fast64_t db_root[3]; /* the database root found in it */
} pb__root_memo;

/**
 * A collection root of one database root, remembered the same way (a
 * sequence lock of atomics), so that a read transaction opening a named
 * collection on a database root already seen does not look the name up:
 * the value at key `key` (a collection: kind and root) of the database
 * root `db_root`.  A database handle has PB__COLL_MEMO_SLOTS of them,
 * chosen by a hash of the name; names longer than PB__COLL_MEMO_KEY bytes
 * are not remembered.
 */
#define PB__COLL_MEMO_SLOTS 4u
#define PB__COLL_MEMO_KEY 48u
typedef struct pb__coll_memo {
  atomic_uint_fast64_t seq;
  atomic_uint_fast64_t db_root[3];
  atomic_uint_fast64_t kind_len; /* kind << 32 | name length */
  atomic_uint_fast64_t key[PB__COLL_MEMO_KEY / 8];
  atomic_uint_fast64_t ref[3];
} pb__coll_memo;

/** The collection at `key` of database root `db_root`, from db's memo:
 * true and *v set (a collection value) when remembered. */
bool pb__coll_memo_get(pb_db *db, pb_atom_ptr db_root, pb_str key,
                       pb_value *v);
/** Remembers that database root `db_root` holds collection *v at `key`
 * (best effort: a slot being written by another thread is skipped). */
void pb__coll_memo_put(pb_db *db, pb_atom_ptr db_root, pb_str key,
                       const pb_value *v);

typedef struct pb__snap {
  pb_storage *st;                /* the space's storage */
  uint64_t pin;                  /* storage pin while `pinned` */
  bool pinned;
  pb_atom_ptr root;              /* the space root it reads */
  uint64_t lsn;                  /* its LSN */
  pb_atom_ptr db_root;           /* the database's root in it */
  const pb__batch_builder *own;  /* the transaction's batch (read first) */
  pb__src src;                   /* pb__snap_read, through `caches` */
  pb__src_caches caches;         /* the space's caches, holds, own batch */
  pb__cache_holds holds;         /* cached objects it was given */
  pb__own_copy *copies;          /* own atoms given out as views */
  pb__ebr_slot ebr;              /* its reader slot: in an epoch from
                                    begin to end (util/ebr.h) */
} pb__snap;

/** Sets up a snapshot over space `sp`'s storage and caches, reading the
 * batch `own` first (its id is read at each begin).  Cannot fail. */
void pb__snap_init(pb__snap *s, pb_space *sp, const pb__batch_builder *own);

/**
 * Begins: pins the storage, reads its root (the published one, or with
 * `on_pending` the pending head), and resolves database `db`'s root in it
 * (from db's memo when it has this root).  On failure the snapshot is
 * ended.  Errors: PB_ENOTFOUND (the database was dropped), PB_ECORRUPT,
 * PB_EVERSION, PB_EIO, PB_ENOMEM.
 */
int pb__snap_begin(pb__snap *s, pb_db *db, bool on_pending);

/** Ends: releases what it holds and its copies, then unpins.  The snapshot
 * may begin again.  Idempotent. */
void pb__snap_end(pb__snap *s);

/** Ends, frees the arrays kept for reuse and leaves the registry of
 * reader slots. */
void pb__snap_free(pb__snap *s);

/**
 * Looks `key` up in the Dictionary at `dict_root` without the caches
 * (once per root: no later transaction asks for these nodes): true and *v
 * set when it holds a collection; false for anything else, and on any
 * error, which the caller's own lookup then meets again.
 */
bool pb__snap_find_coll(pb__snap *s, pb_atom_ptr dict_root, pb_str key,
                        pb_value *v);

/**
 * The snapshot's read (src.read): the own batch, else the storage
 * (published, then pending atoms).  A view valid until the snapshot ends.
 * Errors: PB_ENOTFOUND, PB_ECORRUPT, PB_EIO, PB_ENOMEM.
 */
int pb__snap_read(void *arg, pb_atom_ptr ptr, pb_bytes *out);

#endif /* PB_TXN_SNAPSHOT_H */
