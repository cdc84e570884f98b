/*
 * layout.h - the field layout of a record, as the runtime's catalog keeps
 * it (pb_record_field in protobase.h; docs/evolution.md, "Checks at run
 * time"): what the generator writes into each pb_record_type, and what
 * `pbc check --db` compares with a database's catalog.
 */
#ifndef PBC_LAYOUT_H
#define PBC_LAYOUT_H

#include <stdint.h>

#include "ast.h"

typedef struct pbc_layout_field {
  uint32_t tag;
  uint32_t flags;            /* PB_FIELD_OPTIONAL, PB_FIELD_KEY */
  const char *name;          /* the field's name */
  char *type;                /* qualified spelling, "common.Vec2[]" */
  char *dflt;                /* exact effective default, or NULL */
  size_t dflt_len;           /* its length (it may hold NULs) */
  char *enums;               /* "A=0,B=1" for an enum (array), or NULL */
  const pbc_decl *embedded;  /* a record held by value, or NULL */
  char *renames;             /* "pkg.New=pkg.Old,..." or NULL */
} pbc_layout_field;

typedef struct pbc_layout {
  char *qname;               /* "pkg.Name" */
  size_t n_fields;
  pbc_layout_field *fields;  /* ascending tags */
  size_t n_reserved;
  uint32_t *reserved;        /* ascending, each once */
  char *renamed_from;        /* [renamed_from], qualified; or NULL */
} pbc_layout;

/** Builds the layout of record `d` (checked by check.c). */
void pbc_layout_build(const pbc_decl *d, pbc_layout *out);

/** Frees what pbc_layout_build allocated. */
void pbc_layout_free(pbc_layout *l);

#endif /* PBC_LAYOUT_H */
