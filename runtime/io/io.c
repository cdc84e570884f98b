/*
 * io/io.c - the parts of the I/O layer shared by every implementation: the
 * errno -> pb_error map and a read-exactly helper (see io.h).
 */
#include "io/io.h"

#include <assert.h>
#include <errno.h>

#include "util/errdetail.h"

int pb__io_errno_to_code(int err) {
  switch (err) {
  case ENOSPC:
#ifdef EDQUOT
  case EDQUOT:
#endif
  case EFBIG:
    return PB_ENOSPC;
  case ENOENT:
    return PB_ENOTFOUND;
  case EEXIST:
    return PB_EEXIST;
  case ENOMEM:
    return PB_ENOMEM;
  default:
    return PB_EIO;
  }
}

int pb__io_pread_full(pb__file *f, void *buf, size_t size, uint64_t offset) {
  assert(f != NULL && (buf != NULL || size == 0));
  size_t got = 0;
  int rc = pb__io_pread(f, buf, size, offset, &got);
  if (rc != PB_OK) return rc;
  return got == size ? PB_OK
                     : PB__CORRUPT("the file ends at %" PRIu64
                                   ", before %zu bytes at offset %" PRIu64,
                                   offset + got, size, offset);
}
