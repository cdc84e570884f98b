/*
 * tests/support/simfs.h - a simulated disk: an in-memory file system that
 * implements the runtime's I/O layer (runtime/io/io.h), fails on purpose,
 * and loses power on demand.
 *
 * Why in memory: a power cut cannot be produced by killing a process,
 * because the kernel's page cache survives it.  The simulation keeps, for
 * every file, what a real disk would hold after a power cut, so a test can
 * cut the power at any instant and see exactly what a missing fsync would
 * cost.  It is also fast: a thousand cuts take seconds.
 *
 * The model:
 *
 *   An inode (file or directory) is shared by every name and handle that
 *   refers to it.  A file inode has
 *     - volatile content: what reads see, changed at once by pwrite and
 *       truncate (the page cache);
 *     - durable content: the content as of the last datasync or sync of
 *       that file (the platter);
 *     - a change log: the writes and truncates since that sync, in order,
 *       each with its bytes.
 *   datasync and sync apply the log to the durable content and clear it.
 *   (The simulation does not tell datasync from sync: both make the data
 *   and the size durable, and neither makes a directory entry durable.)
 *
 *   A directory inode has a volatile view (name -> inode, what open, unlink,
 *   rename, mkdir and list_dir see) and a durable view, as of the last
 *   sync_dir of that directory.  A file that was created but whose
 *   directory was not synced since is not durable, however often the file
 *   itself was synced; an unlink that was not synced comes back.
 *
 *   Paths are absolute ("/db/seg-...wal"); "/" always exists.  Components
 *   are looked up through the volatile views.
 *
 *   A power cut (pb__simfs_crash) computes, at that instant, the state a
 *   disk would show after a reboot: starting from "/", the tree of durable
 *   views, where each file holds its durable content plus a random PREFIX
 *   of its change log.  The last change kept may be a torn write: only its
 *   part before some 512-byte sector boundary lands (and, sometimes, the
 *   rest of it reads as zeros, as when the size reached the disk but the
 *   data did not).  Sometimes every unsynced change of a file is dropped,
 *   sometimes all are kept.  The simulation then goes "dead": every
 *   operation fails with PB_EIO (errno EIO), as the I/O of a process whose
 *   machine lost power never returns; close still frees the handle.  The
 *   test joins its threads and closes its handles, then pb__simfs_revive
 *   installs the post-crash state, and the store can be opened again on
 *   the same simulation.  Handles opened before the cut stay invalid: every
 *   operation on them fails with PB_EIO.
 *
 *   Locks are per inode, in memory: a second lock on a locked inode, from
 *   any handle, gets PB_ELOCKED.  A cut releases every lock.
 *
 * Fault injection (SQLite-style, each one shot unless said otherwise):
 *   - pb__simfs_fail: the Nth next call of one operation fails with a given
 *     code (PB_EIO, PB_ENOSPC, ...); a failing pwrite may first write a
 *     prefix of its bytes, like a real short write followed by an error;
 *   - pb__simfs_set_space: a byte budget for the sum of all file sizes; a
 *     pwrite that would go past it writes the prefix that fits, then fails
 *     with PB_ENOSPC (errno ENOSPC), as a full disk does;
 *   - pb__simfs_set_sync_hook: a function called inside datasync and sync,
 *     before they take effect and without the simulation's lock held, so a
 *     test can hold a committer there (on a condition variable) while
 *     readers run, or cut the power at that exact point;
 *   - pb__simfs_crash_at: cut the power automatically at the start of the
 *     Nth next mutating operation, for deterministic crash-point sweeps.
 *
 * Counters count calls (failed ones included), for assertions such as "one
 * SYNC commit costs exactly one datasync".  They also tell written space
 * from unwritten: per file, the simulation keeps how far the file was
 * written with data (pwrite, pwritev) without a gap; allocate and a growing
 * truncate do not move that mark.  A write past it counts in
 * unwritten_writes, and the next sync of the file in unwritten_syncs: on
 * ext4 such a sync must also allocate or convert extents, where a sync of
 * overwritten blocks writes data only.
 *
 * The layer leaves `map` NULL, so the file tier keeps heap copies of what
 * it reads; a power cut never leaves a view pointing at vanished bytes.
 *
 * Threads: every operation takes one mutex, so the simulation may be used
 * from any number of threads.  The sync hook and list_dir's callback run
 * without it.  Names with the pb__ prefix are internal to the tests.
 */
#ifndef PB_TESTS_SUPPORT_SIMFS_H
#define PB_TESTS_SUPPORT_SIMFS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "io/io.h"

typedef struct pb__simfs pb__simfs;

/** The operations that faults can target. */
typedef enum pb__simfs_op {
  PB__SIMFS_PWRITE = 0,
  PB__SIMFS_DATASYNC = 1,
  PB__SIMFS_SYNC = 2,
  PB__SIMFS_SYNC_DIR = 3,
  PB__SIMFS_OPEN = 4,
  PB__SIMFS_TRUNCATE = 5,
  PB__SIMFS_ALLOCATE = 6,
  PB__SIMFS_N_OPS = 7
} pb__simfs_op;

/** Calls counted since creation or the last pb__simfs_reset_counts. */
typedef struct pb__simfs_counts {
  uint64_t pwrite;    /* pwrite and pwritev calls */
  uint64_t pwritev;   /* pwritev calls (counted in pwrite too) */
  uint64_t datasync;  /* datasync calls */
  uint64_t sync;      /* sync (fsync) calls on files */
  uint64_t sync_dir;  /* sync_dir calls */
  uint64_t open;      /* open calls */
  uint64_t truncate;  /* truncate calls */
  uint64_t allocate;  /* allocate calls */
  uint64_t bytes_written; /* bytes that pwrite put into files */
  uint64_t unwritten_writes; /* pwrites that put data into space never
                                written before: past the file's end, or
                                into room that allocate (fallocate) or a
                                growing truncate reserved; on ext4 their
                                sync must also convert or allocate extents */
  uint64_t unwritten_syncs;  /* datasyncs and syncs that made such a write
                                durable: the ones that cost more than data */
  uint64_t crashes;   /* power cuts */
  uint64_t kept;      /* unsynced changes a cut kept, whole */
  uint64_t torn;      /* unsynced writes a cut kept in part */
  uint64_t dropped;   /* unsynced changes a cut dropped */
  uint64_t unlinked;  /* names a cut removed (created, not dir-synced) */
  uint64_t relinked;  /* names a cut restored (removed, not dir-synced) */
} pb__simfs_counts;

/**
 * The sync hook: called by datasync (`op` PB__SIMFS_DATASYNC) and sync
 * (PB__SIMFS_SYNC) on `path`, the path the file was opened with, before
 * they take effect.  It runs on the caller's thread without the
 * simulation's mutex, so it may block, or call pb__simfs_crash.
 */
typedef void (*pb__simfs_sync_hook)(void *arg, pb__simfs_op op,
                                    const char *path);

/** Creates an empty simulated disk holding only "/".  NULL: no memory. */
pb__simfs *pb__simfs_new(void);

/**
 * Frees the disk, its files and any post-crash state.  Every handle must
 * be closed first (asserted).
 */
void pb__simfs_free(pb__simfs *sim);

/** The I/O layer of this disk, for pb__file_storage_open.  Never NULL. */
const pb__io *pb__simfs_io(pb__simfs *sim);

/** Copies the counters into *out. */
void pb__simfs_counts_get(pb__simfs *sim, pb__simfs_counts *out);
/** Sets every counter to zero. */
void pb__simfs_reset_counts(pb__simfs *sim);

/**
 * Arms a one-shot fault: the `nth` next call (1 = the very next) of `op`
 * fails with `code` (a negative pb_error; errno is set to match).  A
 * failing pwrite first writes min(`partial`, size) bytes of its buffer;
 * `partial` is ignored for other operations.  Replaces an earlier fault on
 * the same op; nth 0 disarms it.
 */
void pb__simfs_fail(pb__simfs *sim, pb__simfs_op op, unsigned nth, int code,
                    size_t partial);
/** True while the fault armed on `op` has not fired yet. */
bool pb__simfs_fault_pending(pb__simfs *sim, pb__simfs_op op);

/**
 * Sets the space budget: the sum of the sizes of all files may not exceed
 * `bytes` (UINT64_MAX, the default, is no limit).  A pwrite that would
 * exceed it writes the prefix that fits and fails with PB_ENOSPC.
 */
void pb__simfs_set_space(pb__simfs *sim, uint64_t bytes);
/** The sum of the sizes of all files, as the budget counts it. */
uint64_t pb__simfs_space_used(pb__simfs *sim);

/** Installs (or, with fn NULL, removes) the sync hook. */
void pb__simfs_set_sync_hook(pb__simfs *sim, pb__simfs_sync_hook fn,
                             void *arg);

/**
 * Cuts the power now: computes the post-crash state (see the top of this
 * file), with choices drawn from `seed`, and makes every later operation
 * fail with PB_EIO until pb__simfs_revive.  A cut while dead does nothing.
 */
void pb__simfs_crash(pb__simfs *sim, uint64_t seed);

/**
 * Arms an automatic cut at the start of the `nth` next mutating operation
 * (pwrite, datasync, sync, sync_dir, truncate, an open that may create,
 * unlink, rename, mkdir), which then fails with PB_EIO.  nth 0 disarms.
 */
void pb__simfs_crash_at(pb__simfs *sim, unsigned nth, uint64_t seed);

/** True after a cut, until pb__simfs_revive. */
bool pb__simfs_is_dead(pb__simfs *sim);

/**
 * Powers the disk back on: the post-crash state becomes current.  Faults
 * armed with pb__simfs_fail and an armed pb__simfs_crash_at are cleared;
 * the space budget and the sync hook stay.  Handles from before the cut
 * stay invalid.  Does nothing unless dead.
 */
void pb__simfs_revive(pb__simfs *sim);

/* --- Direct access, for tests that damage files on purpose --- */

/**
 * Gives a malloc'd copy of the volatile content of the file at `path`.
 * Errors: PB_ENOTFOUND; PB_ENOMEM; PB_EIO (dead, or a directory).
 */
int pb__simfs_read_file(pb__simfs *sim, const char *path, uint8_t **data,
                        size_t *len);
/**
 * Replaces the content of an existing file, durably (volatile and durable
 * content both, change log cleared), as if written and synced.
 * Errors: PB_ENOTFOUND; PB_ENOMEM; PB_EIO (dead, or a directory).
 */
int pb__simfs_write_file(pb__simfs *sim, const char *path, const void *data,
                         size_t len);
/** True when `path` names a file or directory in the volatile view. */
bool pb__simfs_exists(pb__simfs *sim, const char *path);

#endif /* PB_TESTS_SUPPORT_SIMFS_H */
