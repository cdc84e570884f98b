/*
 * io/io.c - the parts of the I/O layer shared by every implementation: the
 * errno -> pb_error map, a read-exactly helper and the gathered write's
 * dispatch (see io.h).
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

int pb__io_pwritev(pb__file *f, const pb__iovec *iov, int n, uint64_t offset) {
  assert(f != NULL && iov != NULL && n >= 1 && n <= PB__IO_IOV_MAX);
  if (f->io->pwritev != NULL) return f->io->pwritev(f, iov, n, offset);
  for (int i = 0; i < n; i++) {
    if (iov[i].len == 0) continue;
    int rc = pb__io_pwrite(f, iov[i].base, iov[i].len, offset);
    if (rc != PB_OK) return rc;
    offset += iov[i].len;
  }
  return PB_OK;
}
