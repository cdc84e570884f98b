/*
 * storage/storage.h - SharedStorage, the one interface every storage tier
 * implements (memory, file; later cluster and cloud).
 *
 * A tier stores commit batches and one root pointer:
 *
 *   read_atom   gives a zero-copy view of one atom, addressed by pb_atom_ptr
 *               (batch id, offset inside the batch);
 *   commit      appends one batch of atoms and, in the same durable step,
 *               moves the root from `expected` to `new_root` (a
 *               compare-and-swap: PB_ECONFLICT and nothing written when the
 *               current root is not `expected`);
 *   read_root   gives the latest published root and its LSN;
 *   flush       makes every acknowledged commit durable;
 *   close       flushes and frees the tier.
 *
 * The batch format (atom/batch.h) is shared by all tiers, so atom pointers
 * are assigned by the transaction that builds the batch, before any I/O, and
 * stay valid whichever tier stores it.  Views returned by read_atom stay
 * valid until the storage is closed, or, in a tier that compacts, until
 * the caller releases the pin it took before reading the root (pin/unpin
 * below; storage/file_gen.c).
 *
 * Thread safety: every op may be called from several threads at once.
 *
 * Note added by the storage layer (docs/storage.md has the details):
 *   commit errors, all tiers: PB_ECONFLICT (root is not `expected`);
 *     PB_ERDONLY; PB_EINVAL (NULL batch, malformed batch, a zero id with
 *     atoms, or a new_root that addresses no stored atom); PB_EEXIST (this
 *     batch id is already stored); PB_ENOMEM.  File tier also: PB_ETOOBIG
 *     (batch over 4 GiB - 80 bytes), PB_EIO, PB_ENOSPC, PB_EFAILED (an
 *     earlier write or sync failed; reopen).  On any error nothing is
 *     published.  The refusals above PB_ENOMEM write nothing; a failed
 *     pwrite is cut back off the file; a failed fdatasync fails the store
 *     (its commit may or may not be found after a reopen).  A batch may have
 *     size 0 (root-only commit); its id is then ignored.  lsn_out may be
 *     NULL.
 *   read_atom errors: PB_ENOTFOUND (unknown batch, or offset outside it).
 *   read_root: lsn may be NULL; LSN 0 and a null root before any commit.
 */
#ifndef PB_STORAGE_STORAGE_H
#define PB_STORAGE_STORAGE_H

#include "protobase/protobase.h"

typedef struct pb__batch {
  uint64_t id_hi;      /* batch id, high half (never both zero) */
  uint64_t id_lo;      /* batch id, low half */
  const uint8_t *data; /* the atoms, each a u32 LE length then its bytes */
  size_t size;         /* bytes at data; 0 for a root-only commit */
  uint64_t snapshot_lsn; /* LSN of the snapshot whose atoms the batch may
                            point to (besides its own and those of the
                            `expected` root); 0 when none.  A commit whose
                            snapshot predates a compaction's switch gets
                            PB_ECONFLICT (tiers that compact) */
} pb__batch;

typedef struct pb__storage_ops {
  const char *name; /* "memory", "file", ... for messages */
  int (*read_atom)(pb_storage *st, pb_atom_ptr ptr, pb_bytes *out);
  int (*commit)(pb_storage *st, const pb__batch *batch, pb_atom_ptr expected,
                pb_atom_ptr new_root, uint64_t *lsn_out);
  int (*read_root)(pb_storage *st, pb_atom_ptr *root, uint64_t *lsn);
  int (*flush)(pb_storage *st);
  int (*close)(pb_storage *st); /* frees st, also when it fails */
  /* Added by the storage layer (optional, may be NULL): copies into buf a
   * NUL-terminated sentence on the tier's latest failure (which file,
   * which offset, which errno), or "" when there was none. */
  void (*errmsg)(pb_storage *st, char *buf, size_t size);
  /* Optional (NULL: the same as read_root): gives the PENDING head, the
   * root and LSN of the last commit appended, durable or not.  Committers
   * rebase on it, and pb_txn_run's attempts begin on it, so that commits
   * chain and share one sync (group commit).  Read-only transactions never
   * use it.  lsn may be NULL. */
  int (*read_pending_root)(pb_storage *st, pb_atom_ptr *root, uint64_t *lsn);
  /* Optional (NULL: the same as read_atom): read_atom that also finds the
   * atoms of appended, unpublished commits, for a committer that rebases
   * on the pending head.  read_atom itself never returns them. */
  int (*read_atom_pending)(pb_storage *st, pb_atom_ptr ptr, pb_bytes *out);
  /* Optional (NULL: nothing to pin, views live until close): pins what
   * is readable now, so that views of it stay valid until the matching
   * unpin even when a compaction replaces its segments meanwhile.  A
   * reader pins BEFORE it reads the root, and unpins when done. */
  void (*pin)(pb_storage *st, uint64_t *token);
  void (*unpin)(pb_storage *st, uint64_t token);
  /* Optional, both or neither (NULL: commit does it all): commit in two
   * steps.  `append` is commit's checks and append: it makes the commit
   * the pending head (so that others can build on it) and gives its LSN,
   * but does not wait for durability; `wait_durable` then waits until
   * commit `lsn` is published (PB_OK) or never will be (PB_EIO: the sync
   * of its group, or of one it was built on, failed).  A caller that
   * appended MUST wait.  append's errors are commit's; commit is append
   * then wait_durable.  Between the two steps a caller may let others
   * start committing (pb_txn_run releases its writer lock there), so
   * that chained commits share fdatasyncs. */
  int (*append)(pb_storage *st, const pb__batch *batch, pb_atom_ptr expected,
                pb_atom_ptr new_root, uint64_t *lsn_out);
  int (*wait_durable)(pb_storage *st, uint64_t lsn);
  /* Optional (NULL: PB_ENOTSUP): see pb_storage_compact. */
  int (*compact)(pb_storage *st, pb_compact_stats *stats);
  /* Optional (NULL: PB_ENOTSUP): see pb_storage_recovery_info. */
  int (*recovery_info)(pb_storage *st, pb_recovery_info *out);
  /* Optional (NULL: PB_ENOTSUP): see pb_storage_backup. */
  int (*backup)(pb_storage *st, const char *dir, unsigned flags);
  /* Optional (NULL: PB_ENOTSUP): see pb_storage_disk_usage. */
  int (*disk_usage)(pb_storage *st, pb_disk_usage *out);
  /* Optional (NULL: nothing to do): a write transaction begins (before
   * its snapshot) and ends.  A tier that compacts on its own waits in
   * writer_enter while its switch is due, and switches only when no
   * writer is inside, so that such a switch never makes a write
   * transaction conflict (file_autocompact.c). */
  void (*writer_enter)(pb_storage *st);
  void (*writer_leave)(pb_storage *st);
  /* True when read_atom costs about a memory lookup (memory, mmap'ed
   * file): a space then keeps no bytes cache by default (txn/space.c).
   * False (a remote tier): reads are worth caching as bytes. */
  bool cheap_reads;
} pb__storage_ops;


/* Every tier's handle starts with this header. */
struct pb_storage {
  const pb__storage_ops *ops; /* the tier's functions */
  bool read_only;             /* commits refused with PB_ERDONLY */
};

/** The pending head through st's op, or the published root if it has
 * none.  lsn may be NULL. */
static inline int pb__storage_pending_root(pb_storage *st, pb_atom_ptr *root,
                                           uint64_t *lsn) {
  if (st->ops->read_pending_root != NULL)
    return st->ops->read_pending_root(st, root, lsn);
  return st->ops->read_root(st, root, lsn);
}

/** Appends without waiting for durability (st's append op), or commits
 * whole when the tier has no two-step commit.  *lsn_out is the commit's
 * LSN, for pb__storage_wait_durable. */
static inline int pb__storage_append(pb_storage *st, const pb__batch *batch,
                                     pb_atom_ptr expected,
                                     pb_atom_ptr new_root,
                                     uint64_t *lsn_out) {
  if (st->ops->append != NULL)
    return st->ops->append(st, batch, expected, new_root, lsn_out);
  return st->ops->commit(st, batch, expected, new_root, lsn_out);
}

/** Waits until appended commit `lsn` is durable and published (a no-op
 * for a tier whose append already did).  Errors: PB_EIO. */
static inline int pb__storage_wait_durable(pb_storage *st, uint64_t lsn) {
  if (st->ops->wait_durable != NULL) return st->ops->wait_durable(st, lsn);
  return PB_OK;
}

/** read_atom_pending through st's op, or read_atom if it has none. */
static inline int pb__storage_read_pending(pb_storage *st, pb_atom_ptr ptr,
                                           pb_bytes *out) {
  if (st->ops->read_atom_pending != NULL)
    return st->ops->read_atom_pending(st, ptr, out);
  return st->ops->read_atom(st, ptr, out);
}


/** Pins through st's op (a no-op giving token 0 when it has none). */
static inline void pb__storage_pin(pb_storage *st, uint64_t *token) {
  *token = 0;
  if (st->ops->pin != NULL) st->ops->pin(st, token);
}

/** A write transaction begins, before it takes its snapshot. */
static inline void pb__storage_writer_enter(pb_storage *st) {
  if (st->ops->writer_enter != NULL) st->ops->writer_enter(st);
}

/** A write transaction that called pb__storage_writer_enter ends. */
static inline void pb__storage_writer_leave(pb_storage *st) {
  if (st->ops->writer_leave != NULL) st->ops->writer_leave(st);
}

/** Releases a pin taken by pb__storage_pin. */
static inline void pb__storage_unpin(pb_storage *st, uint64_t token) {
  if (st->ops->unpin != NULL) st->ops->unpin(st, token);
}

/*
 * Added by the storage layer (storage/storage.c).  The library never prints;
 * a tier keeps a message for its latest failure instead, and this copies it
 * (truncated to `size`, always NUL-terminated; "" when the tier keeps none).
 * Thread-safe.  Failures of pb_storage_open_file, which has no handle to ask,
 * are reported by pb__file_storage_open (storage/file.h) into a buffer.
 */
void pb__storage_errmsg(pb_storage *st, char *buf, size_t size);

#endif /* PB_STORAGE_STORAGE_H */
