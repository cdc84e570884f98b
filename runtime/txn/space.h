/*
 * txn/space.h - internals shared by the ObjectSpace, Database and
 * Transaction code.
 *
 * The storage root is the SPACE ROOT, a Dictionary (collections/dict.h)
 * from database name to a DICT value: that database's root, a Dictionary
 * of named values (the null pointer is an empty database).  A database
 * root also holds the catalog under the name "\0catalog", which no C
 * string can name (txn/catalog.c).
 */
#ifndef PB_TXN_SPACE_H
#define PB_TXN_SPACE_H

#include <pthread.h>
#include <stdatomic.h>

#include "atom/batch.h"
#include "cache/atomcache.h"
#include "cache/cache.h"
#include "collections/dict.h"
#include "storage/storage.h"
#include "txn/snapshot.h"
#include "util/thread_idx.h"

struct pb_space {
  pb_storage *st;            /* owned; closed with the space */
  pb__src src;               /* reads published, then pending atoms */
  pb__cache *bytes;          /* AtomBytesCache, or NULL when off */
  pb__cache *objects;        /* AtomObjectCache, or NULL when off */
  pb__obj_cells *cells;      /* direct cells to hot cached objects (the
                                Dictionary roots: cache/atomcache.h), with
                                the object cache, or NULL */
  pb__obj_seen *seen;        /* the doorkeeper of leaves read in place
                                (cache/atomcache.h), with the object cache
                                on a tier whose reads are cheap, or NULL */
  pthread_mutex_t run_mu;    /* pb_txn_run's writer lock */
  atomic_uint escalated;     /* pb_txn_run callers holding/awaiting it */
  atomic_uint_fast64_t n_commits, n_merges, n_conflicts, n_retries,
      n_locked, n_combined;  /* pb_space_stats */
};

/* Ended transaction handles a pb_db keeps for reuse: one slot per thread
 * index (util/thread_idx.h) modulo this (a power of two). */
#define PB__TXN_SLOTS 16u

/** A slot of ended transaction handles, alone on its cache line: the
 * pointer is 8-byte aligned and slots are a line apart, so no two slots'
 * pointers share a line whatever the struct's alignment. */
typedef struct pb__txn_slot {
  _Atomic(pb_txn *) txn; /* an ended handle, or NULL */
  char pad[PB__CACHE_LINE - sizeof(_Atomic(pb_txn *))];
} pb__txn_slot;

/** One cached catalog entry of a pb_db. */
typedef struct pb__epoch_entry {
  uint64_t fingerprint;
  uint64_t epoch;   /* its schema epoch */
  uint32_t type_id; /* the type id of its name (0: none) */
} pb__epoch_entry;

/** The catalog entries a pb_db caches (txn/catalog.c): read without a
 * lock, so an entry never changes once published, and a full table is
 * replaced by a larger copy, the old one kept until the handle closes. */
typedef struct pb__epoch_table {
  struct pb__epoch_table *older; /* the table it replaced, or NULL */
  size_t cap;                    /* entries it has room for */
  pb__epoch_entry e[];           /* the entries */
} pb__epoch_table;

struct pb_db {
  pb_space *sp;              /* the space this database lives in */
  pb_str name;               /* owned copy of the name (NUL-terminated) */
  pthread_mutex_t cat_mu;    /* serializes additions to the epoch cache */
  pthread_mutex_t publish_mu; /* held by a commit through this handle from
                                its last rebase to its append (txn.c) */
  /* Combined commits (txn.c): whose turn it is to publish, and the
   * commits waiting for it, each of which the one whose turn it is may
   * absorb.  Under turn_mu. */
  pthread_mutex_t turn_mu;
  bool turn_taken;           /* a commit of this handle has the turn */
  struct pb__turn_wait *turn_head, *turn_tail; /* waiting, in order */
  _Atomic(pb__epoch_table *) epochs; /* fingerprints known to this
                                handle, read without a lock (catalog.c) */
  atomic_size_t n_epochs;    /* entries of `epochs` published */
  pb__root_memo memo;        /* its root in the latest space root seen
                                (txn/snapshot.h) */
  pb__coll_memo colls[PB__COLL_MEMO_SLOTS]; /* named collections' roots
                                in the latest database roots seen */
  /* Ended transaction handles for the next begins (txn.c): a thread takes
   * and gives back at its own slot, so threads beginning and ending read
   * transactions at once write no common line.  The head pad keeps the
   * first slot off the line of the fields above, which every transaction
   * reads. */
  char slots_pad[PB__CACHE_LINE];
  pb__txn_slot slots[PB__TXN_SLOTS];
};

/** Frees db's kept transaction handles (pb_db_close). */
void pb__txn_drop_spare(pb_db *db);

/**
 * Finds database `name` in the space root `space_root`, read through `src`
 * (the space's own source, which finds pending atoms too, or a
 * transaction's, which reads through the atom caches).  Errors:
 * PB_ENOTFOUND (no such database), PB_ECORRUPT, PB_EVERSION, PB_EIO,
 * PB_ENOMEM.
 */
int pb__space_find_db(const pb__src *src, pb_atom_ptr space_root,
                      pb_str name, pb_atom_ptr *db_root);

/** The engine options of an atom cache of `max_bytes` (not 0, not
 * PB_CACHE_DEFAULT) and `max_entries` as pb_space_options give them (0:
 * no entry limit), with the engine's own memory charged per entry.  For
 * the tests, which check the defaults on the engine itself. */
void pb__space_cache_opts(uint64_t max_bytes, uint64_t max_entries,
                          pb__cache_opts *o);

/** What pb__space_publish does to the database's entry. */
typedef enum pb__publish_op {
  PB__PUBLISH_SET,    /* name -> new_db_root; the entry must be expect_db */
  PB__PUBLISH_CREATE, /* name -> new_db_root; the name must be absent */
  PB__PUBLISH_DROP    /* remove the name; it must be present */
} pb__publish_op;

/**
 * Publishes a change of database `name`: appends a new space root to `bb`
 * (after its first `keep` bytes, which it first truncates to) and APPENDS
 * the batch to the storage (pb__storage_append), building on the PENDING
 * head so that concurrent commits share fdatasyncs.  It does not wait for
 * durability: on PB_OK the caller must call pb__space_wait(sp, *lsn_out),
 * and may let other committers go first (pb_txn_run does).  A commit that lost the race to a commit on ANOTHER database
 * is retried on the new space root.  When THIS database moved since
 * `expect_db` (SET), it returns PB_ECONFLICT with *moved set and the
 * current database root in *cur, for the caller to rebase on.  `snap_lsn`
 * is the LSN of the snapshot the batch was built on (0: none); a tier
 * refuses it with PB_ECONFLICT (and *moved false) when a compaction
 * switched since.
 * Errors: PB_ECONFLICT, PB_EEXIST (CREATE of an existing name),
 * PB_ENOTFOUND (DROP or SET of a missing one), and the storage's commit
 * errors.
 */
int pb__space_publish(pb_space *sp, pb__batch_builder *bb, size_t keep,
                      uint64_t snap_lsn, pb_str name, pb__publish_op op,
                      pb_atom_ptr expect_db, pb_atom_ptr new_db_root,
                      bool *moved, pb_atom_ptr *cur, uint64_t *lsn_out);

/**
 * Waits until the commit that pb__space_publish appended as `lsn` is
 * durable and published.  Errors: PB_EIO (its sync, or that of a commit it
 * was built on, failed; pb_errdetail says which file).
 */
int pb__space_wait(pb_space *sp, uint64_t lsn);

/** Checks a database name: 1..255 bytes of UTF-8.  Errors: PB_EINVAL. */
int pb__space_check_name(const char *name, pb_str *out);

#endif /* PB_TXN_SPACE_H */
