/*
 * gen_layout.c - the pb_record_type of each record, with its field layout
 * (layout.h), and the schema's list of record types, which
 * pb_db_open_types and pb_db_register take.
 */
#include <protobase/protobase.h>
#include <string.h>

#include "gen_internal.h"
#include "layout.h"

static const char *pbc__lay_flags(uint32_t flags) {
  switch (flags & (PB_FIELD_OPTIONAL | PB_FIELD_KEY)) {
  case PB_FIELD_OPTIONAL:
    return "PB_FIELD_OPTIONAL";
  case PB_FIELD_KEY:
    return "PB_FIELD_KEY";
  case PB_FIELD_OPTIONAL | PB_FIELD_KEY:
    return "PB_FIELD_OPTIONAL | PB_FIELD_KEY";
  default:
    return "0";
  }
}

/* The PB_CTYPE_* of a field, as queries read it (protobase.h): scalars and
 * enums by their C type, a ref<R> to a keyed R by the key's type; arrays,
 * embedded records, member collections and keyless refs: NONE. */
static const char *pbc__lay_ctype(const pbc_field *f) {
  static const char *const scalars[] = {
      [PBC_BOOL] = "PB_CTYPE_BOOL",   [PBC_INT8] = "PB_CTYPE_I8",
      [PBC_INT16] = "PB_CTYPE_I16",   [PBC_INT32] = "PB_CTYPE_I32",
      [PBC_INT64] = "PB_CTYPE_I64",   [PBC_UINT8] = "PB_CTYPE_U8",
      [PBC_UINT16] = "PB_CTYPE_U16",  [PBC_UINT32] = "PB_CTYPE_U32",
      [PBC_UINT64] = "PB_CTYPE_U64",  [PBC_FLOAT32] = "PB_CTYPE_F32",
      [PBC_FLOAT64] = "PB_CTYPE_F64", [PBC_STRING] = "PB_CTYPE_STR",
      [PBC_BYTES] = "PB_CTYPE_BYTES"};
  pbc_gen_field gf = pbc_gen_classify(f);
  if (gf.array)
    return NULL;
  if (gf.elem.kind == PBC_GEN_ENUM)
    return "PB_CTYPE_ENUM";
  if (gf.elem.kind == PBC_GEN_SCALAR)
    return scalars[gf.elem.scalar];
  return NULL;
}

/* The schema field of record d with tag `tag`. */
static const pbc_field *pbc__lay_field(const pbc_decl *d, uint32_t tag) {
  for (size_t i = 0; i < d->fields.len; i++) {
    const pbc_field *f = d->fields.items[i];
    if ((uint32_t)f->tag == tag)
      return f;
  }
  return NULL;
}

void pbc_gen_record_type(pbc_gen *g, const pbc_decl *d) {
  pbc_strbuf *c = g->c;
  const char *p = g->prefix, *n = d->name;
  pbc_layout l;
  pbc_layout_build(d, &l);
  if (l.n_fields > 0) {
    pbc_sb_printf(c, "/* The fields of %s, as the catalog keeps them to "
                     "check a schema change. */\n"
                     "static const pb_record_field %s%s_fields[] = {\n",
                  l.qname, p, n);
    for (size_t i = 0; i < l.n_fields; i++) {
      const pbc_layout_field *f = &l.fields[i];
      pbc_sb_printf(c, "    {.tag = %lu,\n     .flags = %s,\n     .name = ",
                    (unsigned long)f->tag, pbc__lay_flags(f->flags));
      pbc_gen_c_string(c, f->name, strlen(f->name));
      pbc_sb_puts(c, ",\n     .type = ");
      pbc_gen_c_string(c, f->type, strlen(f->type));
      if (f->dflt) {
        pbc_sb_puts(c, ",\n     .default_value = ");
        pbc_gen_c_string(c, f->dflt, f->dflt_len);
      }
      if (f->enums) {
        pbc_sb_puts(c, ",\n     .enum_values = ");
        pbc_gen_c_string(c, f->enums, strlen(f->enums));
      }
      if (f->renames) {
        pbc_sb_puts(c, ",\n     .renames = ");
        pbc_gen_c_string(c, f->renames, strlen(f->renames));
      }
      if (f->embedded) {
        pbc_sb_puts(c, ",\n     .embedded = &");
        pbc_gen_cname(c, f->embedded);
        pbc_sb_puts(c, "_type");
      }
      const pbc_field *sf = pbc__lay_field(d, f->tag);
      const char *ct = sf ? pbc__lay_ctype(sf) : NULL;
      if (ct) {
        pbc_sb_printf(c, ",\n     .ctype = %s,\n     .offset = offsetof("
                         "%s%s, %s)", ct, p, n, sf->name);
        if (sf->optional)
          pbc_sb_printf(c, ",\n     .has_offset = offsetof(%s%s, has_%s)",
                        p, n, sf->name);
      }
      pbc_sb_puts(c, "},\n");
    }
    pbc_sb_puts(c, "};\n\n");
  }
  if (l.n_reserved > 0) {
    pbc_sb_printf(c, "static const uint32_t %s%s_reserved[] = {", p, n);
    for (size_t i = 0; i < l.n_reserved; i++)
      pbc_sb_printf(c, "%s%lu", i ? ", " : "", (unsigned long)l.reserved[i]);
    pbc_sb_puts(c, "};\n\n");
  }
  pbc_sb_printf(c, "const pb_record_type %s%s_type = {\n    .name = ", p, n);
  pbc_gen_c_string(c, l.qname, strlen(l.qname));
  pbc_sb_printf(c, ",\n    .fingerprint = %s%s_FINGERPRINT", p, n);
  if (l.n_fields > 0)
    pbc_sb_printf(c, ",\n    .fields = %s%s_fields,\n    .n_fields = %zu",
                  p, n, l.n_fields);
  if (l.n_reserved > 0)
    pbc_sb_printf(c, ",\n    .reserved = %s%s_reserved,\n"
                     "    .n_reserved = %zu", p, n, l.n_reserved);
  if (l.renamed_from) {
    pbc_sb_puts(c, ",\n    .renamed_from = ");
    pbc_gen_c_string(c, l.renamed_from, strlen(l.renamed_from));
  }
  pbc_sb_puts(c, "};\n");
  pbc_layout_free(&l);
}

void pbc_gen_type_list(pbc_gen *g) {
  const pbc_file *f = g->file;
  size_t count = 0;
  for (size_t i = 0; i < f->decls.len; i++)
    count += ((const pbc_decl *)f->decls.items[i])->kind == PBC_DECL_RECORD;
  pbc_sb_printf(g->c, "\n/* --- The record types of %s --- */\n\n",
                g->input);
  if (count == 0) {
    pbc_sb_printf(g->c, "const pb_record_type *const %srecord_types[1] = "
                        "{NULL};\n", g->prefix);
  } else {
    pbc_sb_printf(g->c, "const pb_record_type *const %srecord_types[%zu] = "
                        "{\n", g->prefix, count);
    for (size_t i = 0; i < f->decls.len; i++) {
      const pbc_decl *d = f->decls.items[i];
      if (d->kind == PBC_DECL_RECORD)
        pbc_sb_printf(g->c, "    &%s%s_type,\n", g->prefix, d->name);
    }
    pbc_sb_puts(g->c, "};\n");
  }
  pbc_sb_printf(g->c, "const size_t %srecord_types_count = %zu;\n",
                g->prefix, count);
}
