/*
 * txn/txn_int.h - the transaction handle, shared by txn.c (begin, reads,
 * commit, end), record.c (records, through the object cache) and
 * txn_cache.c (the write-through of a commit).  What it reads, and holds
 * of the caches, is its snapshot (txn/snapshot.h).  Not a public
 * interface: protobase.h is.
 */
#ifndef PB_TXN_TXN_INT_H
#define PB_TXN_TXN_INT_H

#include "txn/space.h"
#include "txn/snapshot.h"
#include "txn/tcoll.h"

/** How many resolved tables a transaction handle remembers (tab_known). */
#define PB__TAB_KNOWN 4u

struct pb_txn {
  pb_db *db;               /* the database this transaction works on */
  unsigned flags;          /* PB_RDONLY or 0 */
  bool writer;             /* counted by pb__storage_writer_enter */
  pb__snap snap;           /* what it reads: pin, roots, caches, holds */
  pb_atom_ptr db_root;     /* this database's root the changes build on
                              (snap.db_root, then each rebase's) */
  pb__batch_builder batch; /* atoms this transaction wrote */
  pb__sink sink;           /* appends to batch */
  pb__tcoll_env env;       /* what the collections see of this txn */
  pb__tcoll *all;          /* every collection handle, freed at the end */
  pb__tcoll *names;        /* the database root: name -> value; opened on
                              first use */
  pb__tcoll *pool;         /* ended tcolls, reused (tcoll.h) */
  pb_buf scratch;          /* reused to encode one atom */
  pb_buf gone;             /* at commit: the atoms of cached nodes its
                              flush replaced (pb__txn_write_through) */
  pb_arena *arena;         /* arrays of private _loads; NULL until used */
  int failed;              /* the latched error of a failed write, or PB_OK
                              (txn/validate.h) */
  /* The collection a read transaction on this handle opened last, by
   * name, in database root last_root (the database handle's memo, without
   * its atomics: a handle is one thread's at a time).  last_len 0: none. */
  pb_atom_ptr last_root;
  size_t last_len;
  char last_key[PB__COLL_MEMO_KEY];
  pb_value last_val;
  /* The tables this transaction used (table/table_int.h: pb__tab, plain
   * data the table layer keeps here): emptied when its reads end (their
   * collection handles die then), freed with the handle. */
  void *tabs;
  size_t n_tabs, cap_tabs;
  /* The tables read transactions on this handle resolved (table/table.c:
   * pb__tab_open), kept across transactions so that a warm typed read
   * looks up neither the catalog nor the database root: per table
   * definition, the database root it was resolved in, the type id and the
   * rows' Dictionary root there.  An entry serves only a read transaction
   * whose db_root is the entry's (a commit gives a new root; a schema
   * change is another definition, or a commit).  def NULL: unused. */
  struct pb__tab_known {
    const void *def;     /* the pb_table_def */
    const void *type;    /* its pb_record_type, and that type's */
    uint64_t fingerprint; /* fingerprint (a definition made at a freed
                             one's address is not taken for it) */
    pb_atom_ptr db_root; /* the database root it was resolved in */
    pb_atom_ptr rows;    /* its rows' Dictionary root there */
    uint32_t type_id;
    /* A Dictionary handle for read-only gets of those rows
     * (pb_table_get), kept with the entry so that a warm get opens no
     * collection handle; NULL until the table is resolved.  d_txn: the
     * transaction (seq) it is open in, 0 when none; that transaction's
     * end releases what it holds (txn_end_reads), while the snapshot
     * still holds what it read. */
    struct pb__dict *d;
    uint64_t d_txn;
  } tab_known[PB__TAB_KNOWN];
  unsigned tab_known_next; /* the entry a miss replaces next */
  uint64_t seq; /* transactions begun on this handle (the current one's
                   number while one is open) */
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

/** Tests: called by a commit as it takes its database handle's turn to
 * publish (txn.c, "Combined commits"), before it absorbs the commits
 * waiting for the turn; NULL (the default): nothing.  Set it while no
 * commit runs. */
extern void (*pb__txn_turn_hook)(pb_txn *txn);
/** Tests: how many commits wait for db's turn. */
size_t pb__txn_turn_waiting(pb_db *db);

/** Reads an atom as the transaction sees it (pb__snap_read of its
 * snapshot).  Errors: PB_ENOTFOUND, PB_ECORRUPT, PB_EIO, PB_ENOMEM. */
static inline int pb__txn_read(pb_txn *txn, pb_atom_ptr ptr, pb_bytes *out) {
  return pb__snap_read(&txn->snap, ptr, out);
}

/* --- txn_cache.c --- */

/** Notes in txn->gone the atoms of the cached nodes that the
 * transaction's Dictionaries copied to change (pb__dict_gone), before its
 * collection handles end.  Best effort (without memory, fewer). */
void pb__txn_note_gone(pb_txn *txn);

/** Once the commit is appended (before its fdatasync): puts the atoms of
 * the batch into the caches (best effort; cannot fail). */
void pb__txn_write_through(pb_txn *txn);

#endif /* PB_TXN_TXN_INT_H */
