/*
 * types.h - the pb_record_type of every record of a checked program, built
 * in memory from its layouts (layout.h): what the generated code would
 * hold, for `pbc check --db` (which hands them to pb_db_register on a
 * read-only storage) and for tests that register schemas loaded at run
 * time.
 */
#ifndef PBC_TYPES_H
#define PBC_TYPES_H

#include <protobase/protobase.h>

#include "layout.h"
#include "loader.h"

typedef struct pbc_types {
  size_t n;               /* records of every file of the program */
  pb_record_type *types;  /* n: fields point into layouts */
  const pbc_decl **decls; /* n: the record of each */
  pbc_layout *layouts;    /* n */
  pb_record_field **fields; /* n arrays */
} pbc_types;

/** Builds the types of every record of `p` (checked by check.c). */
void pbc_types_build(const pbc_program *p, pbc_types *out);

/** The type of record `d`, or NULL. */
const pb_record_type *pbc_types_find(const pbc_types *t, const pbc_decl *d);

void pbc_types_free(pbc_types *t);

#endif /* PBC_TYPES_H */
