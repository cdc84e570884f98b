/*
 * loader.h - a compilation: the input files, and every file they import.
 *
 * pbc_program owns all sources and the AST arena.  pbc_load_input reads one
 * file named on the command line, parses it, and walks its imports depth
 * first, loading each file once (files are identified by device and inode,
 * so two spellings of one path are one file).
 *
 * An import "x.pbs" is looked up first relative to the directory of the
 * importing file, then in each -I directory in order; an absolute path is
 * used as it is.  The walk reports an import that cannot be found, an
 * import cycle (with a note at each import on the cycle), and imports nested
 * deeper than PBC_MAX_IMPORT_DEPTH.
 */
#ifndef PBC_LOADER_H
#define PBC_LOADER_H

#include <stdbool.h>

#include "ast.h"
#include "diag.h"
#include "util.h"

/** Imports nest at most this deep (a file on the command line is depth 0). */
#define PBC_MAX_IMPORT_DEPTH 16

typedef struct pbc_program {
  pbc_arena arena;          /* every AST node */
  pbc_diag *diag;           /* where diagnostics go */
  const char **search_dirs; /* -I directories, in order (not owned) */
  size_t nsearch_dirs;
  pbc_file **files;         /* every loaded file, in load order; heap */
  size_t nfiles;
  size_t cap_files;
  pbc_vec path_files;       /* pbc_file *: the files on the current
                               import path, from an input down */
  pbc_vec path_imports;     /* pbc_import *: the import that led to each of
                               path_files (NULL for an input) */
  bool io_error;            /* an I/O error happened (exit status 2) */
  bool memory_only;         /* never touch the file system: every import is
                               "not found" (set by pbc_load_memory) */
} pbc_program;

void pbc_program_init(pbc_program *p, pbc_diag *diag, const char **search_dirs,
                      size_t nsearch_dirs);
void pbc_program_free(pbc_program *p);

/**
 * Loads the file named on the command line at `path`, and its imports.
 * Returns the file, or NULL when it could not be read (an I/O error was
 * reported, and p->io_error set) or is over the size limit (a schema error
 * was reported).  Schema errors inside the file are reported, and leave
 * file->syntax_ok false.
 */
pbc_file *pbc_load_input(pbc_program *p, const char *path);

/**
 * Loads one schema from `len` bytes in memory, named `path` in
 * diagnostics, as if it were an input file; the program then never opens a
 * file, so each import is reported as not found.  This is the entry point
 * of the parser's fuzz target.  Returns NULL when the bytes are over the
 * size limit (a schema error was reported).
 */
pbc_file *pbc_load_memory(pbc_program *p, const char *path, const void *text,
                          size_t len);

/**
 * Calls fn for `f` and every file it imports transitively, each once, in
 * depth-first order (imports before importers).  Used for depfiles.
 */
void pbc_program_walk(pbc_program *p, pbc_file *f,
                      void (*fn)(pbc_file *f, void *arg), void *arg);

#endif /* PBC_LOADER_H */
