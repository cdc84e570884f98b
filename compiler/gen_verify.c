/*
 * gen_verify.c - generates P_R_verify (and its worker P_R_verify_at).
 *
 * A verifier walks the input exactly as the decoder does (gen_decode.c):
 * the same reader, the same accessors behind pb_field_check and
 * pb_packed_check, the same nesting and depth rule.  So what verify accepts,
 * decode accepts, and the other way round; verify only allocates nothing,
 * fills no struct, and on the first bad field reports where it is and its
 * path (built only on failure, see runtime/atom/verify.c).
 */
#include <stdlib.h>

#include "gen_internal.h"

/* Checks a nested record in f.data/f.size; on failure adds its path. */
static void pbc__verify_nested(pbc_gen *g, pbc_strbuf *c,
                               const pbc_gen_field *gf, const char *index) {
  const pbc_decl *sub = gf->elem.decl;
  pbc_sb_puts(c, "      if (");
  pbc_gen_cname(c, sub);
  if (pbc_gen_local(g, sub)) {
    pbc_sb_printf(c, "_verify_at(f.data, f.size, err, %s) != PB_OK)\n",
                  pbc_gen_recursive(g, sub) ? "depth + 1" : "depth");
    pbc_sb_printf(c, "        return pb_verify_prefix(err, (size_t)(f.data - "
                     "data), \"%s\",\n                                %s);\n",
                  gf->f->name, index);
  } else {
    pbc_sb_puts(c, "_verify(f.data, f.size, err) != PB_OK)\n");
    pbc_sb_printf(c, "        return pb_verify_rename(err, (size_t)(f.data - "
                     "data), \"%s\",\n                                %s);\n",
                  gf->f->name, index);
  }
}

static void pbc__verify_case(pbc_gen *g, pbc_strbuf *c,
                             const pbc_gen_field *gf) {
  const char *name = gf->f->name;
  const char *kind = pbc_gen_check_kind(&gf->elem);
  pbc_sb_printf(c, "    case %llu:\n", (unsigned long long)gf->f->tag);
  if (gf->array && pbc_gen_packable(&gf->elem)) {
    pbc_sb_printf(c,
        "      if (pb_packed_check(&f, %s, &n_%s, &bad) != PB_OK)\n"
        "        return pb_verify_fail(err, at, \"%s\", bad);\n"
        "      break;\n",
        kind, name, name);
    return;
  }
  pbc_strbuf index;
  pbc_sb_init(&index);
  if (gf->array)
    pbc_sb_printf(&index, "n_%s", name);
  else
    pbc_sb_puts(&index, "PB_VERIFY_NO_INDEX");
  pbc_sb_printf(c,
      "      if (pb_field_check(&f, %s) != PB_OK)\n"
      "        return pb_verify_fail(err, at, \"%s\", %s);\n",
      kind, name, pbc_sb_str(&index));
  if (gf->elem.kind == PBC_GEN_RECORD)
    pbc__verify_nested(g, c, gf, pbc_sb_str(&index));
  if (gf->array)
    pbc_sb_printf(c, "      n_%s++;\n", name);
  pbc_sb_puts(c, "      break;\n");
  pbc_sb_free(&index);
}

void pbc_gen_verify(pbc_gen *g, const pbc_decl *d) {
  pbc_strbuf *c = g->c;
  const char *p = g->prefix, *n = d->name;
  size_t nf = d->fields.len;
  pbc_gen_field *fields = pbc_gen_fields_by_tag(d);
  bool packed = false, local_calls = false;
  for (size_t i = 0; i < nf; i++) {
    packed = packed || (fields[i].array && pbc_gen_packable(&fields[i].elem));
    local_calls = local_calls || (fields[i].elem.kind == PBC_GEN_RECORD &&
                                  pbc_gen_local(g, fields[i].elem.decl));
  }
  bool recursive = pbc_gen_recursive(g, d);

  pbc_sb_putc(c, '\n');
  pbc_gen_sig_verify_at(g, d, ") {\n");
  pbc_sb_puts(c, "  pb_reader rd;\n  pb_field f;\n");
  for (size_t i = 0; i < nf; i++)
    if (fields[i].array)
      pbc_sb_printf(c, "  size_t n_%s = 0; /* items so far */\n",
                    fields[i].f->name);
  if (packed)
    pbc_sb_puts(c, "  size_t bad;\n");
  pbc_sb_puts(c, "  int rc;\n\n");
  if (!recursive && !local_calls)
    pbc_sb_puts(c, "  (void)depth; /* no nesting to count */\n");
  if (recursive)
    pbc_sb_puts(c, "  if (depth > PB_WIRE_MAX_DEPTH)\n"
                   "    return pb_verify_fail(err, 0, NULL, "
                   "PB_VERIFY_NO_INDEX);\n");
  pbc_sb_puts(c, "  pb_reader_init(&rd, data, size);\n"
                 "  while ((rc = pb_reader_next(&rd, &f)) == 1) {\n");
  if (nf > 0)
    pbc_sb_puts(c, "    size_t at = (size_t)(f.key - data); /* the field's "
                   "offset */\n\n");
  pbc_sb_puts(c, "    switch (f.tag) {\n");
  for (size_t i = 0; i < nf; i++)
    pbc__verify_case(g, c, &fields[i]);
  pbc_sb_puts(c,
      "    default: /* a tag this schema does not know: _decode keeps it */\n"
      "      break;\n"
      "    }\n"
      "  }\n"
      "  if (rc != 0) /* a bad key, wire type, varint or length */\n"
      "    return pb_verify_fail(err, (size_t)(f.key - data), NULL,\n"
      "                          PB_VERIFY_NO_INDEX);\n"
      "  return PB_OK;\n"
      "}\n");
  pbc_strbuf head;
  pbc_sb_init(&head);
  pbc_sb_printf(&head, "int %s%s_verify(", p, n);
  pbc_sb_putc(c, '\n');
  pbc_gen_wrapped(c, 0, pbc_sb_str(&head), ") {\n", "const void *data",
                  "size_t size", "pb_verify_error *err", (const char *)NULL);
  pbc_sb_free(&head);
  pbc_sb_printf(c,
      "  pb_verify_error ignored;\n\n"
      "  if (!data && size != 0)\n"
      "    return PB_EINVAL;\n"
      "  if (!err)\n"
      "    err = &ignored;\n"
      "  if (%s%s_verify_at(data, size, err, 0) != PB_OK)\n"
      "    return pb_verify_prefix(err, 0, \"%s\", PB_VERIFY_NO_INDEX);\n"
      "  return pb_verify_ok(err);\n"
      "}\n",
      p, n, n);
  free(fields);
}
