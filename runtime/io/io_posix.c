/*
 * io/io_posix.c - the real I/O layer: thin wrappers over POSIX calls.
 *
 * Each wrapper retries EINTR, loops on short reads and writes, and maps a
 * failure to a pb_error with errno left as the system call set it.  The
 * layer has no state (ctx is NULL); the table itself is a const global.
 * Every descriptor is opened with O_CLOEXEC so a fork+exec of the
 * application never inherits our lock or segment files.
 */
#include "io/io.h"

#include <assert.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

/* A POSIX file: the common header and a descriptor. */
typedef struct posix_file {
  pb__file base; /* must be first: pb__file * <-> posix_file * */
  int fd;        /* the open descriptor, owned */
} posix_file;

static int posix_close(pb__file *f);

/* The descriptor of a file this layer opened.  The check is on an
 * operation rather than the table's address, because a test may copy the
 * table and change some entries (for instance map = NULL). */
static int fd_of(pb__file *f) {
  assert(f != NULL && f->io->close == posix_close);
  return ((posix_file *)f)->fd;
}

/* Maps the current errno; errno itself is left untouched. */
static int fail(void) { return pb__io_errno_to_code(errno); }

static int posix_open(const pb__io *io, const char *path, unsigned flags,
                      pb__file **out) {
  assert(io != NULL && path != NULL && out != NULL);
  assert(((flags & PB__IO_READ) != 0) != ((flags & PB__IO_WRITE) != 0));
  int oflags = O_CLOEXEC | ((flags & PB__IO_WRITE) ? O_RDWR : O_RDONLY);
  if (flags & PB__IO_CREATE) oflags |= O_CREAT;
  if (flags & PB__IO_EXCL) oflags |= O_EXCL;
  posix_file *pf = malloc(sizeof *pf);
  if (pf == NULL) return PB_ENOMEM;
  int fd;
  do {
    fd = open(path, oflags, 0644);
  } while (fd < 0 && errno == EINTR);
  if (fd < 0) {
    int saved = errno;
    free(pf);
    errno = saved;
    return fail();
  }
  pf->base.io = io;
  pf->fd = fd;
  *out = &pf->base;
  return PB_OK;
}

static int posix_close(pb__file *f) {
  int fd = fd_of(f);
  free(f);
  /* Linux closes the descriptor even when close() reports EINTR, so it is
   * never retried (a retry could close an unrelated, reused descriptor). */
  if (close(fd) != 0 && errno != EINTR) return fail();
  return PB_OK;
}

static int posix_pread(pb__file *f, void *buf, size_t size, uint64_t offset,
                       size_t *got) {
  int fd = fd_of(f);
  size_t done = 0;
  while (done < size) {
    ssize_t n = pread(fd, (char *)buf + done, size - done,
                      (off_t)(offset + done));
    if (n < 0) {
      if (errno == EINTR) continue;
      return fail();
    }
    if (n == 0) break; /* end of file */
    done += (size_t)n;
  }
  *got = done;
  return PB_OK;
}

static int posix_pwrite(pb__file *f, const void *buf, size_t size,
                        uint64_t offset) {
  int fd = fd_of(f);
  size_t done = 0;
  while (done < size) {
    ssize_t n = pwrite(fd, (const char *)buf + done, size - done,
                       (off_t)(offset + done));
    if (n < 0) {
      if (errno == EINTR) continue;
      return fail();
    }
    if (n == 0) { /* cannot happen for a regular file; do not spin */
      errno = EIO;
      return PB_EIO;
    }
    done += (size_t)n;
  }
  return PB_OK;
}

static int posix_pwritev(pb__file *f, const pb__iovec *iov, int n,
                         uint64_t offset) {
  assert(n >= 1 && n <= PB__IO_IOV_MAX);
  int fd = fd_of(f);
  struct iovec v[PB__IO_IOV_MAX];
  for (int i = 0; i < n; i++)
    v[i] = (struct iovec){.iov_base = (void *)iov[i].base,
                          .iov_len = iov[i].len};
  int first = 0; /* v[first, n) is what remains to write */
  while (first < n) {
    if (v[first].iov_len == 0) {
      first++;
      continue;
    }
    ssize_t got = pwritev(fd, v + first, n - first, (off_t)offset);
    if (got < 0) {
      if (errno == EINTR) continue;
      return fail();
    }
    if (got == 0) { /* cannot happen for a regular file; do not spin */
      errno = EIO;
      return PB_EIO;
    }
    offset += (uint64_t)got;
    size_t left = (size_t)got; /* a short write: skip what landed */
    while (left > 0) {
      size_t k = left < v[first].iov_len ? left : v[first].iov_len;
      v[first].iov_base = (char *)v[first].iov_base + k;
      v[first].iov_len -= k;
      left -= k;
      if (v[first].iov_len == 0) first++;
    }
  }
  return PB_OK;
}

static int posix_datasync(pb__file *f) {
  int fd = fd_of(f);
  /* No EINTR retry: after a failed fdatasync the kernel may already have
   * dropped the dirty pages, so a retry could falsely succeed. */
  return fdatasync(fd) == 0 ? PB_OK : fail();
}

static int posix_sync(pb__file *f) {
  int fd = fd_of(f);
  return fsync(fd) == 0 ? PB_OK : fail();
}

static int posix_truncate(pb__file *f, uint64_t size) {
  int fd = fd_of(f);
  int r;
  do {
    r = ftruncate(fd, (off_t)size);
  } while (r != 0 && errno == EINTR);
  return r == 0 ? PB_OK : fail();
}

static int posix_allocate(pb__file *f, uint64_t size) {
  int fd = fd_of(f);
  int r;
  do {
    r = posix_fallocate(fd, 0, (off_t)size);
  } while (r == EINTR);
  if (r == 0) return PB_OK;
  errno = r; /* posix_fallocate returns the error instead of setting it */
  return r == EOPNOTSUPP || r == EINVAL ? PB_ENOTSUP : fail();
}

static int posix_size(pb__file *f, uint64_t *out) {
  int fd = fd_of(f);
  struct stat sb;
  if (fstat(fd, &sb) != 0) return fail();
  *out = (uint64_t)sb.st_size;
  return PB_OK;
}

static int posix_lock(pb__file *f) {
  int fd = fd_of(f);
  int r;
  do {
    r = flock(fd, LOCK_EX | LOCK_NB);
  } while (r != 0 && errno == EINTR);
  if (r == 0) return PB_OK;
  if (errno == EWOULDBLOCK) return PB_ELOCKED;
  return fail();
}

static int posix_unlock(pb__file *f) {
  int fd = fd_of(f);
  return flock(fd, LOCK_UN) == 0 ? PB_OK : fail();
}

static int posix_map(pb__file *f, size_t size, const void **addr) {
  int fd = fd_of(f);
  assert(size > 0);
  void *p = mmap(NULL, size, PROT_READ, MAP_SHARED, fd, 0);
  if (p == MAP_FAILED) return fail();
  *addr = p;
  return PB_OK;
}

static int posix_unmap(const pb__io *io, const void *addr, size_t size) {
  return munmap((void *)(uintptr_t)addr, size) == 0 ? PB_OK : fail();
}

static int posix_unlink(const pb__io *io, const char *path) {
  return unlink(path) == 0 ? PB_OK : fail();
}

static int posix_rename(const pb__io *io, const char *from, const char *to) {
  return rename(from, to) == 0 ? PB_OK : fail();
}

static int posix_mkdir(const pb__io *io, const char *path) {
  return mkdir(path, 0755) == 0 ? PB_OK : fail();
}

static int posix_sync_dir(const pb__io *io, const char *path) {
  int fd;
  do {
    fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  } while (fd < 0 && errno == EINTR);
  if (fd < 0) return fail();
  int rc = fsync(fd) == 0 ? PB_OK : fail();
  int saved = errno;
  close(fd);
  errno = saved;
  return rc;
}

static int posix_list_dir(const pb__io *io, const char *path,
                          pb__io_dir_fn fn, void *arg) {
  DIR *d = opendir(path);
  if (d == NULL) return fail();
  int rc = PB_OK;
  for (;;) {
    errno = 0;
    struct dirent *e = readdir(d);
    if (e == NULL) {
      if (errno != 0) rc = fail();
      break;
    }
    if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
      continue;
    rc = fn(arg, e->d_name);
    if (rc != 0) break;
  }
  int saved = errno;
  closedir(d);
  errno = saved;
  return rc;
}

static const pb__io posix_io = {
    .name = "posix",
    .ctx = NULL,
    .open = posix_open,
    .close = posix_close,
    .pread = posix_pread,
    .pwrite = posix_pwrite,
    .pwritev = posix_pwritev,
    .datasync = posix_datasync,
    .sync = posix_sync,
    .truncate = posix_truncate,
    .allocate = posix_allocate,
    .size = posix_size,
    .lock = posix_lock,
    .unlock = posix_unlock,
    .map = posix_map,
    .unmap = posix_unmap,
    .unlink = posix_unlink,
    .rename = posix_rename,
    .mkdir = posix_mkdir,
    .sync_dir = posix_sync_dir,
    .list_dir = posix_list_dir,
};

const pb__io *pb__io_posix(void) { return &posix_io; }
