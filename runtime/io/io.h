/*
 * io/io.h - the I/O layer: every file-system call of the runtime goes
 * through one small table of function pointers, like SQLite's VFS.
 *
 * Why: storage must be tested against the failures that real disks produce
 * (ENOSPC, EIO, short writes, a slow fsync, a power cut), and a power cut
 * cannot be produced by killing a process, because the kernel's page cache
 * survives.  With one layer, a test can substitute an implementation that
 * fails on purpose, while production runs exactly the same storage code on
 * pb__io_posix().
 *
 * Shape: a pb__io is a const table of operations plus a `ctx` pointer for
 * the implementation's own (mutable) state.  Path operations take the
 * pb__io; operations on an open file take a pb__file, which starts with a
 * pointer to the pb__io that opened it.  An implementation allocates its
 * own file struct with pb__file as its first member.
 *
 * Errors: every operation returns PB_OK or a negative pb_error, mapped from
 * errno by pb__io_errno_to_code():
 *   ENOSPC, EDQUOT, EFBIG  -> PB_ENOSPC
 *   ENOENT                 -> PB_ENOTFOUND
 *   EEXIST                 -> PB_EEXIST
 *   ENOMEM                 -> PB_ENOMEM
 *   EWOULDBLOCK (lock)     -> PB_ELOCKED
 *   anything else          -> PB_EIO
 * and errno is left as the failing system call set it, so a caller can put
 * it in a message.
 *
 * Threads: the POSIX layer keeps no state, so any operation may run on any
 * thread; operations on one pb__file may run concurrently (pread/pwrite are
 * positional) except close, which must come last.
 *
 * --- The test implementation: a simulated disk ---
 * tests/support/simfs.{h,c} implements this table entirely in memory
 * (pb__simfs_io()), so that tests can fail on purpose:
 *   - ENOSPC / EIO: fail the Nth pwrite (or pwritev), datasync, sync, sync_dir, open,
 *     truncate or allocate, or every write past a byte budget (a failing write may
 *     first land partially, as a real ENOSPC does);
 *   - a pause inside fsync: datasync/sync call a hook, without the
 *     simulation's lock, so a test can hold a commit there while it reads;
 *   - power loss: the simulation keeps, per file, its content as of the
 *     last datasync/sync and the changes since, and, per directory, the
 *     entries as of the last sync_dir.  A cut keeps every file's durable
 *     content plus a random prefix of its unsynced changes (the last write
 *     perhaps torn at a 512-byte sector), and only durable directory
 *     entries;
 *   - counters: pwrite, datasync, sync and sync_dir calls, so a test can
 *     assert that one SYNC commit costs exactly one fdatasync.
 * It leaves `map` NULL: storage then keeps the bytes it reads in heap
 * copies, so a simulated power cut never leaves a mapping pointing at
 * bytes that "vanished".  docs/storage.md, "Testing failures", has the
 * model and the tests built on it.
 */
#ifndef PB_IO_IO_H
#define PB_IO_IO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "protobase/errors.h"

typedef struct pb__io pb__io;

/** An open file.  Implementations embed this as their first member. */
typedef struct pb__file {
  const pb__io *io; /* the layer that opened the file; its ops apply */
} pb__file;

/** Flags of pb__io.open. */
enum pb__io_open_flags {
  PB__IO_READ = 0x1,   /* open for reading only */
  PB__IO_WRITE = 0x2,  /* open for reading and writing */
  PB__IO_CREATE = 0x4, /* create the file when missing (mode 0644 & umask) */
  PB__IO_EXCL = 0x8    /* with CREATE: PB_EEXIST when the file exists */
};

/** One piece of a gathered write (pwritev). */
typedef struct pb__iovec {
  const void *base; /* the bytes */
  size_t len;       /* how many */
} pb__iovec;

/** The most pieces one pwritev may take. */
#define PB__IO_IOV_MAX 64

/**
 * Called by list_dir for each entry except "." and "..".  Returning
 * non-zero stops the listing, and list_dir returns that value.
 */
typedef int (*pb__io_dir_fn)(void *arg, const char *name);

struct pb__io {
  const char *name; /* "posix", "fault", ... for messages */
  void *ctx;        /* the implementation's state; NULL for posix */

  /* --- files --- */

  /* Opens `path` with pb__io_open_flags; *out is freed by close. */
  int (*open)(const pb__io *io, const char *path, unsigned flags,
              pb__file **out);
  /* Closes and frees the file (also when it returns an error). */
  int (*close)(pb__file *f);
  /* Reads up to `size` bytes at `offset`; *got < size only at end of file. */
  int (*pread)(pb__file *f, void *buf, size_t size, uint64_t offset,
               size_t *got);
  /* Writes all `size` bytes at `offset`, looping on short writes.  On an
   * error some prefix of the bytes may have been written. */
  int (*pwrite)(pb__file *f, const void *buf, size_t size, uint64_t offset);
  /* Optional (NULL: the shorthand pb__io_pwritev writes the pieces one
   * pwrite after another): writes the `n` (1..PB__IO_IOV_MAX) pieces back
   * to back at `offset`, all of them, looping on short writes (pwritev).
   * On an error some prefix of the concatenated bytes may have been
   * written, as with pwrite. */
  int (*pwritev)(pb__file *f, const pb__iovec *iov, int n, uint64_t offset);
  /* fdatasync: the data and the size, not all metadata, reach the disk. */
  int (*datasync)(pb__file *f);
  /* fsync: data and all metadata reach the disk. */
  int (*sync)(pb__file *f);
  /* Sets the file's size (ftruncate). */
  int (*truncate)(pb__file *f, uint64_t size);
  /* Gives the file's current size. */
  int (*size)(pb__file *f, uint64_t *out);
  /* Optional (NULL when unsupported): grows the file to at least `size`
   * bytes with the new blocks reserved and reading as zeros
   * (posix_fallocate).  Later pwrites inside that length then change no
   * metadata, so their fdatasync writes only data.  The growth itself
   * becomes durable with the next datasync/sync.  PB_ENOTSUP when the file
   * system cannot reserve blocks. */
  int (*allocate)(pb__file *f, uint64_t size);
  /* Takes an exclusive, non-blocking lock on the whole file (flock).  It is
   * held until unlock or close.  Another open of the same file, in this
   * process or another, gets PB_ELOCKED. */
  int (*lock)(pb__file *f);
  /* Releases the lock taken by lock. */
  int (*unlock)(pb__file *f);
  /* Optional (NULL when the layer cannot map): maps bytes [0, size) of the
   * file read-only and shared, so later pwrites are visible through it.
   * `size` may exceed the file's size; touching whole pages past its end
   * faults, so callers only read bytes they know are written. */
  int (*map)(pb__file *f, size_t size, const void **addr);
  /* Undoes map; `size` as given to map.  NULL exactly when map is. */
  int (*unmap)(const pb__io *io, const void *addr, size_t size);

  /* --- paths --- */

  int (*unlink)(const pb__io *io, const char *path);
  int (*rename)(const pb__io *io, const char *from, const char *to);
  /* Creates a directory (mode 0755 & umask); PB_EEXIST when it exists. */
  int (*mkdir)(const pb__io *io, const char *path);
  /* fsyncs a directory, making entries created or removed in it durable. */
  int (*sync_dir)(const pb__io *io, const char *path);
  /* Calls fn for each entry of a directory, in no particular order. */
  int (*list_dir)(const pb__io *io, const char *path, pb__io_dir_fn fn,
                  void *arg);
};

/** The real POSIX implementation (a const table; never NULL). */
const pb__io *pb__io_posix(void);

/** Maps an errno value to a pb_error as listed above (not EWOULDBLOCK). */
int pb__io_errno_to_code(int err);

/* --- Shorthands that dispatch through the file's own layer. --- */

static inline int pb__io_close(pb__file *f) { return f->io->close(f); }
static inline int pb__io_pread(pb__file *f, void *buf, size_t size,
                               uint64_t offset, size_t *got) {
  return f->io->pread(f, buf, size, offset, got);
}
static inline int pb__io_pwrite(pb__file *f, const void *buf, size_t size,
                                uint64_t offset) {
  return f->io->pwrite(f, buf, size, offset);
}
/**
 * Writes the pieces iov[0, n) back to back at `offset` (1 <= n <=
 * PB__IO_IOV_MAX): the layer's pwritev, or one pwrite per piece when it has
 * none.  Errors: those of pwrite; a prefix may have been written.
 */
int pb__io_pwritev(pb__file *f, const pb__iovec *iov, int n, uint64_t offset);
static inline int pb__io_datasync(pb__file *f) { return f->io->datasync(f); }
static inline int pb__io_sync(pb__file *f) { return f->io->sync(f); }
static inline int pb__io_truncate(pb__file *f, uint64_t size) {
  return f->io->truncate(f, size);
}
static inline int pb__io_allocate(pb__file *f, uint64_t size) {
  return f->io->allocate ? f->io->allocate(f, size) : PB_ENOTSUP;
}
static inline int pb__io_size(pb__file *f, uint64_t *out) {
  return f->io->size(f, out);
}

/**
 * Reads exactly `size` bytes at `offset`.  Errors: those of pread, and
 * PB_ECORRUPT when the file ends first (callers only ask for bytes that a
 * header says are there).
 */
int pb__io_pread_full(pb__file *f, void *buf, size_t size, uint64_t offset);

#endif /* PB_IO_IO_H */
