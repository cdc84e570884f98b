/*
 * source.c - loads schema files and answers "what is on line N".
 *
 * The file is read with read(2) in a loop, up to one byte more than the size
 * limit, so that a file that grows while being read, a FIFO, or a file whose
 * st_size lies is still bounded.  The line index is built once at load time
 * (one pass over the bytes), so a diagnostic costs a binary-search-free
 * array lookup.
 */
#include "source.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util.h"

static void pbc__index_lines(pbc_source *src) {
  size_t n = 1;
  for (size_t i = 0; i < src->len; i++)
    if (src->text[i] == '\n')
      n++;
  src->line_starts = pbc_xmalloc(n * sizeof(size_t));
  src->nlines = n;
  src->line_starts[0] = 0;
  size_t k = 1;
  for (size_t i = 0; i < src->len; i++)
    if (src->text[i] == '\n')
      src->line_starts[k++] = i + 1;
}

pbc_load_status pbc_source_load(const char *path, pbc_source **out, int *err) {
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    *err = errno;
    return PBC_LOAD_IO;
  }
  struct stat st;
  if (fstat(fd, &st) != 0) {
    *err = errno;
    close(fd);
    return PBC_LOAD_IO;
  }
  if (S_ISDIR(st.st_mode)) {
    *err = EISDIR;
    close(fd);
    return PBC_LOAD_IO;
  }
  size_t cap = PBC_MAX_SOURCE_SIZE + 1; /* one more byte detects "too big" */
  char *buf = pbc_xmalloc(cap + 1);
  size_t len = 0;
  while (len < cap) {
    ssize_t n = read(fd, buf + len, cap - len);
    if (n < 0) {
      if (errno == EINTR)
        continue;
      *err = errno;
      free(buf);
      close(fd);
      return PBC_LOAD_IO;
    }
    if (n == 0)
      break;
    len += (size_t)n;
  }
  close(fd);
  if (len > PBC_MAX_SOURCE_SIZE) {
    free(buf);
    return PBC_LOAD_TOO_BIG;
  }
  buf = pbc_xrealloc(buf, len + 1);
  buf[len] = '\0';

  pbc_source *src = pbc_xcalloc(1, sizeof *src);
  src->path = pbc_xstrdup(path);
  src->text = buf;
  src->len = len;
  src->dev = st.st_dev;
  src->ino = st.st_ino;
  pbc__index_lines(src);
  *out = src;
  return PBC_LOAD_OK;
}

pbc_load_status pbc_source_from_memory(const char *path, const void *text,
                                       size_t len, pbc_source **out) {
  if (len > PBC_MAX_SOURCE_SIZE)
    return PBC_LOAD_TOO_BIG;
  pbc_source *src = pbc_xcalloc(1, sizeof *src);
  src->path = pbc_xstrdup(path);
  src->text = pbc_xmalloc(len + 1);
  if (len > 0)
    memcpy(src->text, text, len);
  src->text[len] = '\0';
  src->len = len;
  pbc__index_lines(src);
  *out = src;
  return PBC_LOAD_OK;
}

void pbc_source_free(pbc_source *src) {
  if (!src)
    return;
  free(src->path);
  free(src->text);
  free(src->line_starts);
  free(src);
}

bool pbc_source_line(const pbc_source *src, int line, const char **start,
                     size_t *len) {
  if (line < 1 || (size_t)line > src->nlines)
    return false;
  size_t from = src->line_starts[line - 1];
  size_t to = (size_t)line < src->nlines ? src->line_starts[line] - 1 : src->len;
  if (to > from && src->text[to - 1] == '\r')
    to--;
  *start = src->text + from;
  *len = to - from;
  return true;
}
