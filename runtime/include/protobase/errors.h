/*
 * protobase/errors.h - the one list of ProtoBase error codes.
 *
 * Every public function returns an int: PB_OK (zero) on success, or one of
 * the negative codes below.  The list is an X-macro (as in libuv), so the
 * enum, pb_strerror() and pb_errname() are generated from the same lines and
 * a code cannot exist without its message.
 *
 * Codes are negative so that a function may return a non-negative count on
 * success where its documentation says so.  Values are stable: a new code is
 * appended with the next free number, and no value is ever reused.
 */
#ifndef PROTOBASE_ERRORS_H
#define PROTOBASE_ERRORS_H

#ifdef __cplusplus
extern "C" {
#endif

/* X(NAME, VALUE, MESSAGE) */
#define PB_ERROR_LIST(X)                                                      \
  X(OK,           0,  "success")                                              \
  X(ENOMEM,      -1,  "out of memory")                                        \
  X(EIO,         -2,  "input/output error")                                   \
  X(ECORRUPT,    -3,  "data is corrupt (bad checksum, frame or encoding)")    \
  X(ENOTFOUND,   -4,  "not found")                                            \
  X(ECONFLICT,   -5,  "transaction conflicts with a concurrent commit")       \
  X(ELOCKED,     -6,  "locked by another process")                            \
  X(EINVAL,      -7,  "invalid argument")                                     \
  X(EUNAVAILABLE,-8,  "service unavailable")                                  \
  X(EEXIST,      -9,  "already exists")                                       \
  X(ENOSPC,      -10, "no space left on device")                              \
  X(EVERSION,    -11, "unsupported format version")                           \
  X(ERDONLY,     -12, "read-only handle or transaction")                      \
  X(ETOOBIG,     -13, "value exceeds a size or depth limit")                  \
  X(ESCHEMA,     -14, "schema mismatch")                                      \
  X(ECLOSED,     -15, "handle is closed or finished")                         \
  X(EFAILED,     -16, "store refuses writes after an earlier I/O failure")\
  X(ENOTSUP,     -17, "operation not supported by this storage tier")      \
  X(ERANGE,      -18, "index out of range")

/** Error codes.  PB_OK is zero; every error is negative. */
typedef enum pb_error {
#define PB__ERROR_ENUM(name, value, msg) PB_##name = (value),
  PB_ERROR_LIST(PB__ERROR_ENUM)
#undef PB__ERROR_ENUM
} pb_error;

/**
 * Returns a human-readable sentence for an error code.  Never returns NULL:
 * an unknown code gives "unknown error".  The string is static.
 * Thread-safe.
 */
const char *pb_strerror(int err);

/**
 * Returns the symbolic name of an error code, such as "PB_ENOTFOUND".
 * Never returns NULL: an unknown code gives "PB_UNKNOWN".  The string is
 * static.  Thread-safe.
 */
const char *pb_errname(int err);

/**
 * Returns a sentence detailing the last error recorded in this thread:
 * every PB_ECORRUPT, from any function, records what failed, where (the
 * atom pointer "atom batch <32 hex> offset <n>", or the segment file and
 * offset), and the source line of the check, as "(file.c:123)"; every
 * error of pb_storage_open_file, and a storage error of pb_txn_commit,
 * records the storage's message (the lock file of a PB_ELOCKED, the
 * system's message of a PB_EIO).  Returns "" when no detail was recorded.
 * The string is thread-local and valid until the next error recorded in
 * this thread.  docs/errors.md gives the forms.
 */
const char *pb_errdetail(void);

#ifdef __cplusplus
}
#endif
#endif /* PROTOBASE_ERRORS_H */
