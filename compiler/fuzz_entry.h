/*
 * fuzz_entry.h - load a schema from memory instead of from a file.
 *
 * The parser fuzz target (tests/fuzz/libfuzzer/fuzz_pbc_parse.c) hands pbc
 * one schema as bytes in memory and must not touch the file system: an
 * `import` in hostile input could otherwise name any file on the machine
 * (/dev/stdin, a FIFO, a huge file) and make the run slow, blocking or
 * irreproducible.  pbc_load_memory is pbc_load_input (loader.h) for such
 * bytes: the same size limit, the same parser, the same pbc_file in the
 * same program, and every import reported exactly as the loader reports an
 * import that resolves to no file.  The checker and the generator then run
 * on the program as they do in pbc.
 *
 * pbc itself never calls this; it lives in pbc_core so that the fuzz
 * target links the real stages and nothing else.
 */
#ifndef PBC_FUZZ_ENTRY_H
#define PBC_FUZZ_ENTRY_H

#include <stddef.h>

#include "loader.h"

/**
 * Loads `len` bytes at `text` as the file `path` named on the command line
 * (the path is only printed in diagnostics; it is never opened).  The bytes
 * are copied.  Returns the file, or NULL when the text is over
 * PBC_MAX_SOURCE_SIZE (a schema error was reported).  Syntax errors and
 * imports (none can be found) are reported through p->diag, as for a file.
 */
pbc_file *pbc_load_memory(pbc_program *p, const char *path, const void *text,
                          size_t len);

#endif /* PBC_FUZZ_ENTRY_H */
