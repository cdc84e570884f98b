/*
 * evolve.h - pbc check: classify the changes between two versions of a
 * schema as compatible or breaking (SPEC section 2, "Evolution").
 *
 * Records are matched by name, or through [renamed_from = "Old"] (the old
 * unqualified or qualified name); enums by name; fields by tag; enum values
 * by name, then by number; indexes by name.  Each change is reported
 * through the reporter at the NEW file's location (with a note at the old
 * location where that helps): pbc_compatible for a change that old data
 * survives, pbc_breaking for one that could misread or lose old data.  The
 * rules are in docs/evolution.md.
 *
 * Only the declarations of the two files themselves are compared; their
 * imports supply types (a type is compared by its qualified name).
 */
#ifndef PBC_EVOLVE_H
#define PBC_EVOLVE_H

#include "ast.h"
#include "diag.h"

/** How many changes of each kind pbc_evolve_check reported. */
typedef struct pbc_evolve_counts {
  int compatible; /* reported with pbc_compatible */
  int breaking;   /* reported with pbc_breaking */
} pbc_evolve_counts;

/**
 * Compares `old_f` with `new_f` (both accepted by check.c, from separate
 * programs) and reports every change through `d`.  Fills *counts.
 */
void pbc_evolve_check(const pbc_file *old_f, const pbc_file *new_f,
                      pbc_diag *d, pbc_evolve_counts *counts);

/**
 * The effective default of a scalar or enum field, as pbc check compares
 * it: `key` gets the exact form (also what the runtime's catalog keeps,
 * compiler/layout.c), `shown` the form messages print.  Nothing is
 * appended for a type without defaults.
 */
void pbc_evolve_default(const pbc_field *f, pbc_strbuf *key,
                        pbc_strbuf *shown);

#endif /* PBC_EVOLVE_H */
