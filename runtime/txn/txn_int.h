/*
 * txn/txn_int.h - the transaction handle, shared by txn.c (begin, reads,
 * commit, end), record.c (records, through the object cache) and
 * txn_cache.c (what a transaction holds of the atom caches, and the
 * write-through after commit).  Not a public interface: protobase.h is.
 */
#ifndef PB_TXN_TXN_INT_H
#define PB_TXN_TXN_INT_H

#include "txn/space.h"
#include "txn/tcoll.h"

/* A stable copy of an own atom, handed out as a view until the txn ends. */
typedef struct pb__own_copy {
  struct pb__own_copy *next; /* singly linked, freed at the end */
  uint8_t bytes[];           /* the atom */
} pb__own_copy;

struct pb_txn {
  pb_db *db;               /* the database this transaction works on */
  unsigned flags;          /* PB_RDONLY or 0 */
  uint64_t pin;            /* storage pin: the snapshot stays readable */
  pb_atom_ptr snap_root;   /* storage root when the transaction began */
  uint64_t snap_lsn;       /* its LSN */
  pb_atom_ptr db_root;     /* this database's root the changes build on */
  pb__batch_builder batch; /* atoms this transaction wrote */
  pb__src src;             /* own batch, then the storage; the caches */
  pb__src_caches caches;   /* the space's caches, held by this txn */
  pb__sink sink;           /* appends to batch */
  pb__tcoll_env env;       /* what the collections see of this txn */
  pb__tcoll *all;          /* every collection handle, freed at the end */
  pb__tcoll *names;        /* the database root: name -> value */
  pb_buf scratch;          /* reused to encode one atom */
  pb__own_copy *copies;    /* copies of own atoms given out as views */
  pb_arena *arena;         /* arrays of private _loads; NULL until used */
  pb__cache_handle **held; /* cached objects whose views it handed out */
  size_t n_held, cap_held;
  int failed;              /* the latched error of a failed write, or PB_OK
                              (txn/validate.h) */
};

/**
 * pb_txn_begin, and with `on_pending` (a writable transaction only) the
 * snapshot is the storage's PENDING head, the last commit appended, durable
 * or not, instead of the published one.  pb_txn_run's attempts begin there:
 * their outcome is their commit, which is appended after every commit it
 * builds on and waits for them to be durable (and fails with them), so
 * commits to a hot key chain and share fdatasyncs instead of conflicting
 * again and again while one syncs.  Errors: those of pb_txn_begin.
 */
int pb__txn_begin_ex(pb_db *db, unsigned flags, bool on_pending,
                     pb_txn **out);

/** What pb__txn_commit_ex calls once its commit is appended (the pending
 * head), before it waits for durability. */
typedef struct pb__after_append {
  void (*fn)(void *arg);
  void *arg;
} pb__after_append;

/**
 * pb_txn_commit, calling hook->fn (if hook is not NULL) once, right after
 * the commit is appended and before it waits for its fdatasync; not at all
 * when nothing was appended (an error before, or nothing to commit).
 * pb_txn_run releases its writer lock there.  Errors: pb_txn_commit's.
 */
int pb__txn_commit_ex(pb_txn *txn, const pb__after_append *hook);

/** Reads an atom, from the transaction's own batch or from the storage
 * (the pb__src read of txn->src).  Errors: PB_ENOTFOUND, PB_ECORRUPT,
 * PB_EIO, PB_ENOMEM. */
int pb__txn_read(void *arg, pb_atom_ptr ptr, pb_bytes *out);

/* --- txn_cache.c --- */

/** Points txn->caches at the space's caches, with txn as holder. */
void pb__txn_caches_init(pb_txn *txn);
/** Releases every handle the transaction holds. */
void pb__txn_caches_release(pb_txn *txn);
/** After publication: puts the atoms of the batch into the caches (best
 * effort; cannot fail). */
void pb__txn_write_through(pb_txn *txn);

#endif /* PB_TXN_TXN_INT_H */
