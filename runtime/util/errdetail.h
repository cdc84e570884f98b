/*
 * util/errdetail.h - the thread-local detail behind pb_errdetail(): a
 * sentence naming the file, offset or peer of the last error, for calls
 * whose failure leaves no handle to ask (an open that failed).
 *
 * Every PB_ECORRUPT in the runtime is made by PB__CORRUPT, as SQLite makes
 * every SQLITE_CORRUPT with SQLITE_CORRUPT_BKPT: the macro records what
 * failed and the source line that found it, and evaluates to PB_ECORRUPT.
 * The layers that know the address then put it in front: the atom pointer
 * and node kind (pb__errdetail_atom, at atom loads), or the segment file
 * and offset (the file storage's pb__fs_fail).  A finished detail reads
 *   atom batch 0123..cdef offset 40 (dict node): <what> (dict_node.c:231)
 *   /db/seg-0000000000000001.wal: <what> at offset 4096 (file_recover.c:377)
 * tests/check_corrupt_sites.cmake fails the build's tests when a
 * PB_ECORRUPT is made anywhere else than through PB__CORRUPT.
 */
#ifndef PB_UTIL_ERRDETAIL_H
#define PB_UTIL_ERRDETAIL_H

#include <inttypes.h>

#include "protobase/protobase.h"

/** The detail's size, with its terminating NUL: longer text is cut. */
#define PB__ERRDETAIL_SIZE 512

/**
 * PB__CORRUPT("format", args...): sets this thread's detail to the
 * formatted "what failed" and the source file and line, and evaluates to
 * PB_ECORRUPT.  Use it wherever the runtime makes a PB_ECORRUPT:
 *   if (n > left) return PB__CORRUPT("length %zu runs past the end", n);
 * An argument may be pb_errdetail() itself, to keep the reason a callee
 * recorded: PB__CORRUPT("value %zu: %s", i, pb_errdetail()).
 */
#define PB__CORRUPT(...) \
  (pb__corrupt(__FILE__, __LINE__, __VA_ARGS__), PB_ECORRUPT)

/** An atom pointer in a detail: PB__CORRUPT(PB__ATOM_FMT ": ...",
 * PB__ATOM_ARGS(ptr)) (the form pb__errdetail_atom writes). */
#define PB__ATOM_FMT "atom batch %016" PRIx64 "%016" PRIx64 " offset %" PRIu64
#define PB__ATOM_ARGS(p) (p).batch_hi, (p).batch_lo, (p).offset

/** PB__CORRUPT's body: never call it directly. */
void pb__corrupt(const char *file, int line, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/** Sets this thread's detail (a copy of `msg`, truncated to 511 bytes). */
void pb__errdetail_set(const char *msg);

/**
 * While a thread is quiet (pb__errdetail_quiet(true), nestable, undone by
 * pb__errdetail_quiet(false)), PB__CORRUPT records nothing: for scans that
 * probe many candidates whose failures are no error (recovery looking for
 * a valid frame after a torn one).
 */
void pb__errdetail_quiet(bool quiet);

/**
 * Puts the formatted text and ": " in front of this thread's detail
 * (bounded by PB__ERRDETAIL_SIZE; allocates nothing).
 */
void pb__errdetail_prefix(const char *fmt, ...)
    __attribute__((format(printf, 1, 2)));

/**
 * For a load of the atom at `ptr` that returned `rc`: when rc is
 * PB_ECORRUPT, puts "atom batch <32 hex digits> offset <n> (<kind>)" in
 * front of the detail.  Returns rc.
 */
int pb__errdetail_atom(int rc, pb_atom_ptr ptr, const char *kind);

/**
 * How many details this thread has recorded: compare two readings to know
 * whether a callee (a generated decoder) recorded one.
 */
unsigned long pb__errdetail_count(void);

/**
 * The "file.c:line" that the last PB__CORRUPT of this thread recorded
 * ("" when none).
 */
const char *pb__errdetail_source(void);

#endif /* PB_UTIL_ERRDETAIL_H */
