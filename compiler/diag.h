/*
 * diag.h - the one diagnostic reporter of pbc.
 *
 * Every message pbc prints about a schema goes through pbc_error/pbc_note,
 * and every usage or I/O problem through pbc_tool_error, so the format is
 * the same everywhere:
 *
 *   file:line:col: error: message
 *     <the source line, tabs preserved>
 *     <spaces/tabs>^
 *   file:line:col: note: message
 *     ...
 *
 * (the source and caret lines are printed without the indentation shown
 * here).  A location with line 0 prints "file: error: message" (a problem
 * with the file as a whole), and one without a file prints
 * "pbc: error: message".
 *
 * After PBC_MAX_ERRORS errors the reporter prints "too many errors,
 * stopping" once and drops everything that follows; the stages poll
 * pbc_diag_stopped() to finish early.  A note that follows a dropped error
 * is dropped too.
 */
#ifndef PBC_DIAG_H
#define PBC_DIAG_H

#include <stdbool.h>
#include <stdio.h>

#include "source.h"
#include "util.h"

/** Errors reported before pbc stops. */
#define PBC_MAX_ERRORS 20

typedef struct pbc_diag {
  FILE *out;        /* where messages go (stderr) */
  int errors;       /* schema errors reported, counting dropped ones */
  bool stopped;     /* the error cap was reached */
  bool drop_notes;  /* the last error was dropped, so drop its notes */
} pbc_diag;

void pbc_diag_init(pbc_diag *d, FILE *out);

/** Reports a schema error at `loc`. */
void pbc_error(pbc_diag *d, pbc_loc loc, const char *fmt, ...) PBC_PRINTF(3, 4);

/** Reports a note that explains the previous error, at `loc`. */
void pbc_note(pbc_diag *d, pbc_loc loc, const char *fmt, ...) PBC_PRINTF(3, 4);

/**
 * Reports a usage or I/O error: "pbc: error: message".  These do not count
 * towards the cap and never stop the reporter.
 */
void pbc_tool_error(pbc_diag *d, const char *fmt, ...) PBC_PRINTF(2, 3);

/** True once the error cap was reached. */
static inline bool pbc_diag_stopped(const pbc_diag *d) { return d->stopped; }

#endif /* PBC_DIAG_H */
