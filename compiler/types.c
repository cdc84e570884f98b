/*
 * types.c - pb_record_type values built from a program (types.h).
 */
#include "types.h"

#include <stdlib.h>
#include <string.h>

#include "fingerprint.h"

void pbc_types_build(const pbc_program *p, pbc_types *out) {
  memset(out, 0, sizeof *out);
  size_t n = 0;
  for (size_t i = 0; i < p->nfiles; i++)
    for (size_t k = 0; k < p->files[i]->decls.len; k++)
      n += ((const pbc_decl *)p->files[i]->decls.items[k])->kind ==
           PBC_DECL_RECORD;
  out->n = n;
  out->types = pbc_xcalloc(n ? n : 1, sizeof *out->types);
  out->decls = pbc_xcalloc(n ? n : 1, sizeof *out->decls);
  out->layouts = pbc_xcalloc(n ? n : 1, sizeof *out->layouts);
  out->fields = pbc_xcalloc(n ? n : 1, sizeof *out->fields);
  size_t j = 0;
  for (size_t i = 0; i < p->nfiles; i++)
    for (size_t k = 0; k < p->files[i]->decls.len; k++) {
      const pbc_decl *d = p->files[i]->decls.items[k];
      if (d->kind == PBC_DECL_RECORD)
        out->decls[j++] = d;
    }
  for (j = 0; j < n; j++) {
    pbc_layout *l = &out->layouts[j];
    pbc_layout_build(out->decls[j], l);
    pb_record_field *fs = pbc_xcalloc(l->n_fields ? l->n_fields : 1,
                                      sizeof *fs);
    out->fields[j] = fs;
    pb_record_type *t = &out->types[j];
    t->name = l->qname;
    t->fingerprint = pbc_fingerprint_record(out->decls[j]);
    t->fields = l->n_fields ? fs : NULL;
    t->n_fields = l->n_fields;
    t->reserved = l->n_reserved ? l->reserved : NULL;
    t->n_reserved = l->n_reserved;
    t->renamed_from = l->renamed_from;
  }
  for (j = 0; j < n; j++) { /* fields, once every type has its address */
    const pbc_layout *l = &out->layouts[j];
    for (size_t k = 0; k < l->n_fields; k++) {
      const pbc_layout_field *lf = &l->fields[k];
      out->fields[j][k] = (pb_record_field){
          .tag = lf->tag,
          .flags = lf->flags,
          .name = lf->name,
          .type = lf->type,
          .default_value = lf->dflt,
          .enum_values = lf->enums,
          .renames = lf->renames,
          .embedded = lf->embedded ? pbc_types_find(out, lf->embedded)
                                   : NULL};
    }
  }
}

const pb_record_type *pbc_types_find(const pbc_types *t, const pbc_decl *d) {
  for (size_t i = 0; i < t->n; i++)
    if (t->decls[i] == d)
      return &t->types[i];
  return NULL;
}

void pbc_types_free(pbc_types *t) {
  for (size_t i = 0; i < t->n; i++) {
    pbc_layout_free(&t->layouts[i]);
    free(t->fields[i]);
  }
  free(t->types);
  free(t->decls);
  free(t->layouts);
  free(t->fields);
  memset(t, 0, sizeof *t);
}
