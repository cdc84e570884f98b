/*
 * source.h - a schema file in memory, and positions inside it.
 *
 * A pbc_source owns the bytes of one .pbs file and an index of where each
 * line starts, so that the diagnostic reporter can print the source line
 * under an error.  Positions (pbc_loc) are 1-based line and column numbers,
 * where a column counts bytes (a tab is one column; the caret line copies
 * tabs so that it still lines up).
 *
 * Files are read whole, up to a size limit (PBC_MAX_SOURCE_SIZE).  The path
 * is kept exactly as the user gave it on the command line, or as an import
 * was resolved, because that is what diagnostics and depfiles print.
 */
#ifndef PBC_SOURCE_H
#define PBC_SOURCE_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

/** The largest schema file pbc reads: 1 MiB. */
#define PBC_MAX_SOURCE_SIZE (1024u * 1024u)

typedef struct pbc_source {
  char *path;          /* as given or as resolved; heap */
  char *text;          /* file contents plus a NUL (the text may hold NULs) */
  size_t len;          /* bytes in text, without the added NUL */
  size_t *line_starts; /* offset of the first byte of each line */
  size_t nlines;       /* entries in line_starts (at least 1) */
  dev_t dev;           /* identity of the file, to load each file once */
  ino_t ino;
} pbc_source;

/** A position in a source.  src == NULL means "no position". */
typedef struct pbc_loc {
  const pbc_source *src; /* the file */
  int line;              /* 1-based line; 0 for the whole file */
  int col;               /* 1-based byte column */
} pbc_loc;

/** Result of pbc_source_load. */
typedef enum pbc_load_status {
  PBC_LOAD_OK = 0,
  PBC_LOAD_IO = 1,     /* open/read failed; errno-style code in *err */
  PBC_LOAD_TOO_BIG = 2 /* larger than PBC_MAX_SOURCE_SIZE */
} pbc_load_status;

/**
 * Reads the file at `path` into a new source.  On PBC_LOAD_IO, *err is the
 * errno value.  *out is set only on success.
 */
pbc_load_status pbc_source_load(const char *path, pbc_source **out, int *err);

/**
 * Makes a source from `len` bytes in memory (copied), named `path` in
 * diagnostics.  Returns PBC_LOAD_TOO_BIG over the size limit.  The source
 * has no device and inode, so no file on disk is ever the same file.
 */
pbc_load_status pbc_source_from_memory(const char *path, const void *text,
                                       size_t len, pbc_source **out);

/** Frees a source (NULL is a no-op). */
void pbc_source_free(pbc_source *src);

/**
 * Finds line `line` (1-based).  Sets *start and *len to the line's bytes,
 * without its newline or a trailing carriage return.  Returns false when
 * the line does not exist.
 */
bool pbc_source_line(const pbc_source *src, int line, const char **start,
                     size_t *len);

#endif /* PBC_SOURCE_H */
