/*
 * diag.h - the one diagnostic reporter of pbc.
 *
 * Every message pbc prints about a schema goes through pbc_error/pbc_note,
 * every finding of `pbc check` through pbc_compatible/pbc_breaking, and
 * every usage or I/O problem through pbc_tool_error, so the format is the
 * same everywhere.  In the text format (the default):
 *
 *   file:line:col: error: message
 *     <the source line, tabs preserved>
 *     <spaces/tabs>^
 *   file:line:col: note: message
 *     ...
 *   file:line:col: compatible: message          (pbc check)
 *   file:line:col: error: breaking: message     (pbc check)
 *
 * (the source and caret lines are printed without the indentation shown
 * here).  A location with line 0 prints "file: error: message" (a problem
 * with the file as a whole), and one without a file prints
 * "pbc: error: message".
 *
 * In the JSON format (--error-format=json) nothing is printed until
 * pbc_diag_finish, which writes one JSON array to the output:
 *
 *   [{"file":"x.pbs","line":3,"column":5,"severity":"error",
 *     "message":"...","notes":[{"file":...,"line":...,"column":...,
 *     "message":"..."}]}]
 *
 * "file" is null and line and column are 0 for a usage or I/O error; line
 * and column are 0 for a problem with a file as a whole.  severity is
 * "error", "note" (a note with no diagnostic before it), or "compatible";
 * a breaking change is an "error" whose message starts with "breaking: ".
 * Strings are escaped as JSON requires (control characters as \u00XX);
 * other bytes, UTF-8 included, are passed through.  "[]" when there was
 * nothing to report.
 *
 * After PBC_MAX_ERRORS errors the reporter prints "too many errors,
 * stopping" once and drops everything that follows; the stages poll
 * pbc_diag_stopped() to finish early.  A note that follows a dropped error
 * is dropped too.  Findings of pbc check are not schema errors: they do not
 * count towards the cap, and are never dropped.
 */
#ifndef PBC_DIAG_H
#define PBC_DIAG_H

#include <stdbool.h>
#include <stdio.h>

#include "source.h"
#include "util.h"

/** Errors reported before pbc stops. */
#define PBC_MAX_ERRORS 20

/** How diagnostics are written. */
typedef enum pbc_diag_format {
  PBC_DIAG_TEXT, /* human-readable lines with source and caret, as they come */
  PBC_DIAG_JSON  /* one JSON array, written by pbc_diag_finish */
} pbc_diag_format;

struct pbc__diag_entry;

typedef struct pbc_diag {
  FILE *out;        /* where messages go (stderr) */
  int errors;       /* schema errors reported, counting dropped ones */
  bool stopped;     /* the error cap was reached */
  bool drop_notes;  /* the last error was dropped, so drop its notes */
  pbc_diag_format format;          /* text (default) or JSON */
  struct pbc__diag_entry *entries; /* JSON: the diagnostics so far; heap */
  size_t nentries;                 /* JSON: entries used */
  size_t cap_entries;              /* JSON: entries allocated */
} pbc_diag;

/** Sets up a text-format reporter writing to `out`. */
void pbc_diag_init(pbc_diag *d, FILE *out);

/**
 * Writes what the format holds back (the JSON array), and frees the
 * reporter's memory.  Call once, at exit.
 */
void pbc_diag_finish(pbc_diag *d);

/** Reports a schema error at `loc`. */
void pbc_error(pbc_diag *d, pbc_loc loc, const char *fmt, ...) PBC_PRINTF(3, 4);

/** Reports a note that explains the previous diagnostic, at `loc`. */
void pbc_note(pbc_diag *d, pbc_loc loc, const char *fmt, ...) PBC_PRINTF(3, 4);

/** pbc check: reports a compatible change ("compatible: message"). */
void pbc_compatible(pbc_diag *d, pbc_loc loc, const char *fmt, ...)
    PBC_PRINTF(3, 4);

/** pbc check: reports a breaking change ("error: breaking: message"). */
void pbc_breaking(pbc_diag *d, pbc_loc loc, const char *fmt, ...)
    PBC_PRINTF(3, 4);

/**
 * Reports a usage or I/O error: "pbc: error: message".  These do not count
 * towards the cap and never stop the reporter.
 */
void pbc_tool_error(pbc_diag *d, const char *fmt, ...) PBC_PRINTF(2, 3);

/**
 * Prints a hint line such as "Try 'pbc --help'." after a usage error, in
 * the text format only (it would break the JSON array).
 */
void pbc_diag_hint(pbc_diag *d, const char *text);

/** True once the error cap was reached. */
static inline bool pbc_diag_stopped(const pbc_diag *d) { return d->stopped; }

#endif /* PBC_DIAG_H */
