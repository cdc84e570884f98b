/*
 * gen_decode.c - generates P_R_decode (and its worker P_R_decode_at),
 * P_R_put, P_R_load (with P_R_decode_any, the decoder as the runtime's
 * object cache calls it), and the name functions of enums.
 *
 * A decoder of a record with arrays makes two passes over its input: the
 * first counts the items of each array (pb_len_count, pb_rec_count,
 * pb_ptr_count, pb_packed_count:
 * a count never exceeds the bytes it was counted in) and allocates them
 * from the arena at once, the second fills in every field.  A record
 * without arrays makes one pass.
 *
 * Decoders of one file call each other's _decode_at with a depth.  Only
 * records on a cycle (pbc_gen_recursive: a record with an array of itself,
 * for example) count it and stop at PB_WIRE_MAX_DEPTH; every other nesting
 * is bounded by the schema.  Records of imported files are decoded through
 * their public _decode (imports are acyclic, so no cycle crosses files).
 * gen_verify.c walks the input the same way, so both accept the same bytes.
 */
#include <stdlib.h>
#include <string.h>

#include "gen_internal.h"

void pbc_gen_enum_functions(pbc_gen *g, const pbc_decl *d) {
  pbc_strbuf *c = g->c;
  const char *p = g->prefix, *n = d->name;
  /* Queries read an enum member as an int32_t (PB_CTYPE_ENUM). */
  pbc_sb_printf(c, "\n_Static_assert(sizeof(%s%s) == sizeof(int32_t),\n"
                   "               \"%s%s is read as an int32_t\");\n",
                p, n, p, n);
  pbc_sb_printf(c, "\nconst char *%s%s_name(%s%s v) {\n  switch (v) {\n", p, n,
                p, n);
  for (size_t i = 0; i < d->values.len; i++) {
    const pbc_enum_value *v = d->values.items[i];
    pbc_sb_printf(c, "  case %s%s_%s:\n    return \"%s\";\n", p, n, v->name,
                  v->name);
  }
  pbc_sb_puts(c, "  default:\n    return NULL;\n  }\n}\n");
  pbc_sb_printf(c,
      "\nint %s%s_from_name(const char *s, %s%s *out) {\n"
      "  static const struct {\n"
      "    const char *name;\n"
      "    %s%s value;\n"
      "  } values[] = {\n",
      p, n, p, n, p, n);
  for (size_t i = 0; i < d->values.len; i++) {
    const pbc_enum_value *v = d->values.items[i];
    pbc_sb_printf(c, "      {\"%s\", %s%s_%s},\n", v->name, p, n, v->name);
  }
  pbc_sb_puts(c,
      "  };\n\n"
      "  if (!s || !out)\n"
      "    return PB_EINVAL;\n"
      "  for (size_t i = 0; i < sizeof values / sizeof values[0]; i++) {\n"
      "    if (strcmp(values[i].name, s) == 0) {\n"
      "      *out = values[i].value;\n"
      "      return PB_OK;\n"
      "    }\n"
      "  }\n"
      "  return PB_ENOTFOUND;\n"
      "}\n");
}

/* Appends "rc = <decode sub from body into dst>;" at column 8. */
static void pbc__nested_call(pbc_gen *g, pbc_strbuf *c, const pbc_decl *sub,
                             const char *dst) {
  pbc_strbuf head;
  pbc_sb_init(&head);
  pbc_sb_puts(&head, "rc = ");
  pbc_gen_cname(&head, sub);
  if (!pbc_gen_local(g, sub)) {
    pbc_sb_puts(&head, "_decode(");
    pbc_gen_wrapped(c, 8, pbc_sb_str(&head), ");\n", dst, "body.ptr",
                    "body.len", "arena", (const char *)NULL);
  } else {
    pbc_sb_puts(&head, "_decode_at(");
    pbc_gen_wrapped(c, 8, pbc_sb_str(&head), ");\n", dst, "body.ptr",
                    "body.len", "arena",
                    pbc_gen_recursive(g, sub) ? "depth + 1" : "depth",
                    (const char *)NULL);
  }
  pbc_sb_free(&head);
}

/* The second-pass case body of one field. */
static void pbc__decode_case(pbc_gen *g, pbc_strbuf *c,
                             const pbc_gen_field *gf) {
  const pbc_field *f = gf->f;
  const pbc_gen_elem *e = &gf->elem;
  pbc_strbuf dst;
  pbc_sb_init(&dst);
  pbc_sb_printf(c, "    case %llu:\n", (unsigned long long)f->tag);
  if (gf->array)
    pbc_sb_printf(&dst, "&items_%s[r->%s.count++]", f->name, f->name);
  else
    pbc_sb_printf(&dst, "&r->%s", f->name);
  if (gf->array && pbc_gen_packable(e)) {
    pbc_sb_printf(c,
        "      rc = pb_packed_begin(&f, %s, &pk);\n"
        "      while (rc == PB_OK && (rc = pb_packed_next(&pk, &e)) == 1)\n",
        pbc_gen_wire_type(e));
    if (e->kind == PBC_GEN_ENUM) {
      pbc_sb_printf(c, "        if ((rc = pb_field_i32(&e, &v32)) == PB_OK)\n"
                       "          items_%s[r->%s.count++] = (",
                    f->name, f->name);
      pbc_gen_cname(c, e->decl);
      pbc_sb_puts(c, ")v32;\n");
    } else {
      pbc_sb_printf(c, "        rc = %s(&e, %s);\n",
                    pbc_gen_scalar_reader(e->scalar), pbc_sb_str(&dst));
    }
  } else {
    switch (e->kind) {
    case PBC_GEN_SCALAR:
      pbc_sb_printf(c, "      rc = %s(&f, %s);\n",
                    pbc_gen_scalar_reader(e->scalar), pbc_sb_str(&dst));
      break;
    case PBC_GEN_ENUM: /* never an array here: arrays of enums are packed */
      pbc_sb_printf(c, "      if ((rc = pb_field_i32(&f, &v32)) == PB_OK)\n"
                       "        r->%s = (",
                    f->name);
      pbc_gen_cname(c, e->decl);
      pbc_sb_puts(c, ")v32;\n");
      break;
    case PBC_GEN_PTR:
      pbc_sb_printf(c, "      rc = pb_field_atom_ptr(&f, %s);\n",
                    pbc_sb_str(&dst));
      break;
    case PBC_GEN_RECORD:
      pbc_sb_puts(c, "      if ((rc = pb_field_rec(&f, &body)) == PB_OK)\n"
                     "        ");
      pbc__nested_call(g, c, e->decl, pbc_sb_str(&dst));
      break;
    }
  }
  if (f->optional)
    pbc_sb_printf(c, "      r->has_%s = true;\n", f->name);
  pbc_sb_puts(c, "      break;\n");
  pbc_sb_free(&dst);
}

void pbc_gen_decode(pbc_gen *g, const pbc_decl *d) {
  pbc_strbuf *c = g->c;
  const char *p = g->prefix, *n = d->name;
  size_t nf = d->fields.len;
  pbc_gen_field *fields = pbc_gen_fields_by_tag(d);
  bool arrays = false, packed = false, records = false, enums = false;
  bool local_calls = false;
  for (size_t i = 0; i < nf; i++) {
    const pbc_gen_field *gf = &fields[i];
    arrays = arrays || gf->array;
    packed = packed || (gf->array && pbc_gen_packable(&gf->elem));
    records = records || gf->elem.kind == PBC_GEN_RECORD;
    enums = enums || gf->elem.kind == PBC_GEN_ENUM;
    local_calls = local_calls || (gf->elem.kind == PBC_GEN_RECORD &&
                                  pbc_gen_local(g, gf->elem.decl));
  }
  bool recursive = pbc_gen_recursive(g, d);

  pbc_sb_putc(c, '\n');
  pbc_gen_sig_decode_at(g, d, ") {\n");
  pbc_sb_puts(c, "  pb_reader rd;\n  pb_field f;\n");
  if (packed)
    pbc_sb_puts(c, "  pb_packed pk;\n  pb_field e;\n");
  if (records)
    pbc_sb_puts(c, "  pb_bytes body;\n");
  if (enums)
    pbc_sb_puts(c, "  int32_t v32;\n");
  for (size_t i = 0; i < nf; i++) {
    const pbc_gen_field *gf = &fields[i];
    if (!gf->array)
      continue;
    pbc_sb_printf(c, "  size_t n_%s = 0;\n  ", gf->f->name);
    pbc_gen_elem_ctype(c, &gf->elem);
    pbc_sb_printf(c, " *items_%s = NULL;\n", gf->f->name);
  }
  pbc_sb_puts(c, "  bool unknown = false;\n  int rc;\n\n");
  if (!arrays && !records)
    pbc_sb_puts(c, "  (void)arena; /* no arrays */\n");
  if (!recursive && !local_calls)
    pbc_sb_puts(c, "  (void)depth; /* no nesting to count */\n");
  pbc_sb_printf(c, "  %s%s_init(r);\n", p, n);
  if (recursive)
    pbc_sb_puts(c, "  if (depth > PB_WIRE_MAX_DEPTH)\n"
                   "    return pb_wire_too_deep();\n");
  pbc_sb_puts(c, "  pb_reader_init(&rd, data, size);\n");

  if (arrays) {
    pbc_sb_puts(c,
        "  /* Pass 1: count the items of each array, to allocate them at once. */\n"
        "  while ((rc = pb_reader_next(&rd, &f)) == 1) {\n"
        "    switch (f.tag) {\n");
    for (size_t i = 0; i < nf; i++) {
      const pbc_gen_field *gf = &fields[i];
      if (!gf->array)
        continue;
      pbc_sb_printf(c, "    case %llu:\n", (unsigned long long)gf->f->tag);
      if (pbc_gen_packable(&gf->elem))
        pbc_sb_printf(c, "      rc = pb_packed_count(&f, %s, &n_%s);\n",
                      pbc_gen_wire_type(&gf->elem), gf->f->name);
      else
        pbc_sb_printf(c, "      rc = %s(&f, &n_%s);\n",
                      pbc_gen_count_fn(&gf->elem), gf->f->name);
      pbc_sb_puts(c, "      break;\n");
    }
    pbc_sb_puts(c,
        "    default:\n"
        "      rc = PB_OK;\n"
        "      break;\n"
        "    }\n"
        "    if (rc != PB_OK)\n"
        "      return rc;\n"
        "  }\n"
        "  if (rc != PB_OK)\n"
        "    return rc;\n");
    for (size_t i = 0; i < nf; i++) {
      const char *fn = fields[i].f->name;
      if (!fields[i].array)
        continue;
      pbc_sb_printf(c,
          "  if (n_%s != 0) {\n", fn);
      pbc_strbuf head, a1, a3;
      pbc_sb_init(&head);
      pbc_sb_init(&a1);
      pbc_sb_init(&a3);
      pbc_sb_printf(&head, "items_%s = pb_arena_alloc_array(", fn);
      pbc_sb_printf(&a1, "n_%s", fn);
      pbc_sb_printf(&a3, "sizeof *items_%s", fn);
      pbc_sb_puts(c, "    ");
      pbc_gen_wrapped(c, 4, pbc_sb_str(&head), ");\n", "arena",
                      pbc_sb_str(&a1), pbc_sb_str(&a3), (const char *)NULL);
      pbc_sb_free(&head);
      pbc_sb_free(&a1);
      pbc_sb_free(&a3);
      pbc_sb_printf(c,
          "    if (!items_%s)\n"
          "      return PB_ENOMEM;\n"
          "    r->%s.items = items_%s;\n"
          "  }\n",
          fn, fn, fn);
    }
    pbc_sb_puts(c, "  /* Pass 2: decode every field. */\n"
                   "  pb_reader_init(&rd, data, size);\n");
  }
  pbc_sb_puts(c, "  while ((rc = pb_reader_next(&rd, &f)) == 1) {\n"
                 "    switch (f.tag) {\n");
  for (size_t i = 0; i < nf; i++)
    pbc__decode_case(g, c, &fields[i]);
  pbc_sb_puts(c,
      "    default: /* a tag this schema does not know: kept */\n"
      "      unknown = true;\n"
      "      rc = PB_OK;\n"
      "      break;\n"
      "    }\n"
      "    if (rc != PB_OK)\n"
      "      return rc;\n"
      "  }\n"
      "  if (rc == PB_OK && unknown)\n"
      "    r->unknown_fields = (pb_bytes){data, size};\n"
      "  return rc; /* PB_OK at the end of the input, or PB_ECORRUPT */\n"
      "}\n");

  pbc_strbuf head, r;
  pbc_sb_init(&head);
  pbc_sb_init(&r);
  pbc_sb_printf(&head, "int %s%s_decode(", p, n);
  pbc_sb_printf(&r, "%s%s *r", p, n);
  pbc_sb_putc(c, '\n');
  pbc_gen_wrapped(c, 0, pbc_sb_str(&head), ") {\n", pbc_sb_str(&r),
                  "const void *data", "size_t size", "pb_arena *arena",
                  (const char *)NULL);
  pbc_sb_free(&head);
  pbc_sb_free(&r);
  if (pbc_gen_info(g, d)->needs_arena)
    pbc_sb_puts(c, "  if (!r || (!data && size != 0) || !arena)\n"
                   "    return PB_EINVAL;\n");
  else
    pbc_sb_puts(c, "  if (!r || (!data && size != 0))\n    return PB_EINVAL;\n");
  pbc_sb_printf(c, "  return %s%s_decode_at(r, data, size, arena, 0);\n}\n", p,
                n);
  free(fields);
}

void pbc_gen_storage(pbc_gen *g, const pbc_decl *d) {
  const char *p = g->prefix, *n = d->name;
  pbc_strbuf head, r, fn;
  pbc_sb_init(&head);
  pbc_sb_init(&r);
  pbc_sb_init(&fn);
  pbc_sb_printf(&head, "int %s%s_put(", p, n);
  pbc_sb_printf(&r, "const %s%s *r", p, n);
  pbc_sb_putc(g->c, '\n');
  pbc_gen_wrapped(g->c, 0, pbc_sb_str(&head), ") {\n", "pb_txn *txn",
                  pbc_sb_str(&r), "pb_atom_ptr *out", (const char *)NULL);
  pbc_sb_printf(g->c,
      "  pb_buf buf;\n"
      "  int rc;\n\n"
      "  if (!txn || !r || !out)\n"
      "    return PB_EINVAL;\n"
      "  pb_buf_init(&buf);\n"
      "  rc = %s%s_encode(r, &buf);\n"
      "  if (rc == PB_OK)\n"
      "    rc = pb_txn_put_record(txn, &%s%s_type, buf.data, buf.len, out);\n"
      "  pb_buf_free(&buf);\n"
      "  return rc;\n"
      "}\n",
      p, n, p, n);
  /* _load goes through the runtime's object cache, which calls every
   * record's decoder through one pointer type: a wrapper taking `void *`
   * (calling P_R_decode through a cast pointer is undefined behaviour). */
  pbc_sb_printf(&fn, "%s%s_decode_any", p, n);
  head.len = 0;
  pbc_sb_printf(&head, "static int %s(", pbc_sb_str(&fn));
  pbc_sb_putc(g->c, '\n');
  pbc_gen_wrapped(g->c, 0, pbc_sb_str(&head), ") {\n", "void *r",
                  "const void *data", "size_t size", "pb_arena *arena",
                  (const char *)NULL);
  pbc_sb_printf(g->c, "  return %s%s_decode(r, data, size, arena);\n}\n", p,
                n);
  r.len = 0;
  pbc_sb_printf(&r, "&%s%s_type", p, n);
  pbc_sb_printf(g->c,
      "\nint %s%s_load(pb_txn *txn, pb_atom_ptr ptr, %s%s *r) {\n"
      "  /* Decoded once, shared: see pb_txn_load_decoded. */\n"
      "  return ",
      p, n, p, n);
  pbc_gen_wrapped(g->c, 9, "pb_txn_load_decoded(", ");\n}\n", "txn",
                  pbc_sb_str(&r), "ptr", "sizeof *r", pbc_sb_str(&fn), "r",
                  (const char *)NULL);
  pbc_sb_free(&fn);
  pbc_sb_free(&head);
  pbc_sb_free(&r);
}
