/*
 * gen_header.c - writes FILE.pb.h: the include guard and runtime version
 * check, the imports' headers, then enums (with their name functions),
 * record structs in an order where every embedded record comes first, and
 * each record's constants and prototypes, documented for the user.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <protobase/protobase.h> /* PB_GENERATED_ABI: the ABI we generate */

#include "fingerprint.h"
#include "gen_c.h"
#include "gen_internal.h"

static void pbc__gen_enum(pbc_gen *g, const pbc_decl *d) {
  pbc_strbuf *h = g->h;
  const char *p = g->prefix, *n = d->name;
  pbc_sb_putc(h, '\n');
  pbc_gen_doc(h, "", d->doc);
  pbc_sb_printf(h, "typedef enum %s%s {\n", p, n);
  for (size_t i = 0; i < d->values.len; i++) {
    const pbc_enum_value *v = d->values.items[i];
    pbc_gen_doc(h, "  ", v->doc);
    pbc_sb_printf(h, "  %s%s_%s = %lld%s\n", p, n, v->name,
                  (long long)v->value, i + 1 < d->values.len ? "," : "");
  }
  pbc_sb_printf(h, "} %s%s;\n", p, n);
  pbc_sb_printf(h,
      "\n/**\n"
      " * The schema name of value `v` (\"%s\"), or NULL for a number this\n"
      " * schema does not name (a newer schema's value, kept as it is).\n"
      " */\n"
      "const char *%s%s_name(%s%s v);\n"
      "\n/** Finds a value by its schema name.  Returns PB_OK or PB_ENOTFOUND. */\n"
      "int %s%s_from_name(const char *s, %s%s *out);\n",
      ((const pbc_enum_value *)d->values.items[0])->name, p, n, p, n,
      p, n, p, n);
}

/*
 * One struct member: "  TYPE NAME;" padded to `width`, then a comment; or,
 * when that line would pass 80 columns, the comment on a line of its own
 * before the member.
 */
static void pbc__member(pbc_strbuf *h, const char *type, const char *name,
                        size_t width, const char *comment) {
  size_t len = strlen(type) + 1 + strlen(name) + 1;
  size_t pad = width > len ? width - len + 1 : 1;
  if (2 + len + pad + strlen(comment) + 6 > 80) {
    pbc_sb_printf(h, "  /* %s */\n  %s %s;\n", comment, type, name);
    return;
  }
  pbc_sb_printf(h, "  %s %s;", type, name);
  pbc_sb_pad(h, ' ', pad);
  pbc_sb_printf(h, "/* %s */\n", comment);
}

/* The member's C type: "uint64_t", or the inline array struct. */
static void pbc__member_type(pbc_strbuf *sb, const pbc_gen_field *gf) {
  if (!gf->array) {
    pbc_gen_elem_ctype(sb, &gf->elem);
    return;
  }
  pbc_sb_puts(sb, "struct { const ");
  pbc_gen_elem_ctype(sb, &gf->elem);
  pbc_sb_puts(sb, " *items; size_t count; }");
}

/* The comment of a member: its tag and what the value means. */
static void pbc__member_note(pbc_gen *g, pbc_strbuf *note,
                             const pbc_gen_field *gf, const pbc_decl *d) {
  const pbc_field *f = gf->f;
  pbc_strbuf ty;
  pbc_sb_init(&ty);
  pbc_type_spell(f->type, &ty);
  pbc_sb_printf(note, "tag %llu", (unsigned long long)f->tag);
  if (f->optional)
    pbc_sb_puts(note, ", optional");
  if (f->is_key)
    pbc_sb_puts(note, ", key");
  if (pbc_gen_has_default(gf)) {
    pbc_strbuf v;
    pbc_sb_init(&v);
    if (gf->elem.kind == PBC_GEN_SCALAR &&
        (gf->elem.scalar == PBC_STRING || gf->elem.scalar == PBC_BYTES))
      pbc_gen_c_string(&v, f->dflt->text, f->dflt->len);
    else
      pbc_gen_default_expr(&v, gf);
    pbc_sb_puts(note, ", default ");
    pbc_gen_comment_text(note, pbc_sb_str(&v), v.len);
    pbc_sb_free(&v);
  }
  const pbc_type *t = gf->array ? f->type->elem : f->type;
  if (gf->array) {
    pbc_sb_puts(note, ", ");
    pbc_gen_comment_text(note, pbc_sb_str(&ty), ty.len);
    pbc_sb_puts(note, ", items from the arena");
  } else if (t->kind == PBC_TYPE_REF) {
    pbc_sb_puts(note, ", ");
    pbc_gen_comment_text(note, pbc_sb_str(&ty), ty.len);
    pbc_sb_puts(note, gf->elem.kind == PBC_GEN_PTR ? ", an atom pointer"
                                                   : ", by key");
  } else if (t->kind == PBC_TYPE_LIST || t->kind == PBC_TYPE_SET ||
             t->kind == PBC_TYPE_MAP) {
    pbc_sb_puts(note, ", ");
    pbc_gen_comment_text(note, pbc_sb_str(&ty), ty.len);
    pbc_sb_puts(note, ", root atom");
  } else if (gf->elem.kind == PBC_GEN_RECORD) {
    pbc_sb_puts(note, ", embedded record");
  }
  if (!gf->array && gf->elem.kind == PBC_GEN_SCALAR &&
      (gf->elem.scalar == PBC_STRING || gf->elem.scalar == PBC_BYTES))
    pbc_sb_puts(note, "; a view (see _decode)");
  pbc_sb_free(&ty);
}

static void pbc__gen_struct(pbc_gen *g, const pbc_decl *d) {
  pbc_strbuf *h = g->h;
  pbc_gen_field *fields = pbc_gen_fields(d);
  size_t width = strlen("pb_bytes unknown_fields;");
  pbc_strbuf type;
  pbc_sb_init(&type);
  for (size_t i = 0; i < d->fields.len; i++) {
    const pbc_gen_field *gf = &fields[i];
    type.len = 0;
    pbc__member_type(&type, gf);
    size_t len = type.len + strlen(gf->f->name) + 2;
    if (gf->f->optional && strlen(gf->f->name) + 10 > len)
      len = strlen(gf->f->name) + 10; /* "bool has_" + name + ";" */
    if (len > width && len <= 40)
      width = len;
  }
  pbc_sb_putc(h, '\n');
  pbc_gen_doc(h, "", d->doc);
  pbc_sb_printf(h, "struct %s%s {\n", g->prefix, d->name);
  pbc_strbuf note;
  pbc_sb_init(&note);
  for (size_t i = 0; i < d->fields.len; i++) {
    const pbc_gen_field *gf = &fields[i];
    const pbc_field *f = gf->f;
    pbc_gen_doc(h, "  ", f->doc);
    note.len = 0;
    if (f->optional) {
      pbc_sb_printf(&note, "true when %s is set", f->name);
      char *flag = pbc_xmalloc(strlen(f->name) + 5);
      sprintf(flag, "has_%s", f->name);
      pbc__member(h, "bool", flag, width, pbc_sb_str(&note));
      free(flag);
      note.len = 0;
    }
    pbc__member_note(g, &note, gf, d);
    type.len = 0;
    pbc__member_type(&type, gf);
    pbc__member(h, pbc_sb_str(&type), f->name, width, pbc_sb_str(&note));
  }
  pbc__member(h, "pb_bytes", "unknown_fields", width,
              "fields of a newer schema, kept verbatim");
  pbc_sb_printf(h, "};\n");
  pbc_sb_free(&note);
  pbc_sb_free(&type);
  free(fields);
}

static void pbc__gen_prototypes(pbc_gen *g, const pbc_decl *d) {
  pbc_strbuf *h = g->h;
  const char *p = g->prefix, *n = d->name;
  const pbc_gen_recinfo *ri = pbc_gen_info(g, d);
  pbc_strbuf qn;
  pbc_sb_init(&qn);
  pbc_gen_schema_name(&qn, d);
  pbc_sb_putc(h, '\n');
  if (ri->bounded)
    pbc_sb_printf(h,
        "/**\n"
        " * The largest encoding of this record, in bytes, when its\n"
        " * unknown_fields (and those of its embedded records) are empty.\n"
        " */\n"
        "#define %s%s_MAX_SIZE %llu\n",
        p, n, (unsigned long long)ri->max_size);
  pbc_sb_printf(h,
      "/** The fingerprint of %s: XXH3-64 of its canonical form. */\n"
      "#define %s%s_FINGERPRINT UINT64_C(0x%016llx)\n",
      pbc_sb_str(&qn), p, n,
      (unsigned long long)pbc_fingerprint_record(d));
  pbc_sb_printf(h,
      "\n/**\n"
      " * %s for the runtime: its schema name \"%s\", fingerprint, and\n"
      " * field layout (which the catalog keeps to check schema changes).\n"
      " */\n"
      "extern const pb_record_type %s%s_type;\n",
      n, pbc_sb_str(&qn), p, n);
  pbc_sb_free(&qn);
  pbc_sb_printf(h,
      "\n/**\n"
      " * Sets *r to the defaults: zero, false, empty, null, or [default = x],\n"
      " * and no unknown fields.  NULL is a no-op.\n"
      " */\n"
      "void %s%s_init(%s%s *r);\n", p, n, p, n);
  pbc_sb_printf(h,
      "\n/**\n"
      " * Appends the encoding of *r to `out`: fields in ascending tag order,\n"
      " * a field equal to its default left out, an optional field written\n"
      " * when its has_ flag is set, and the fields kept in unknown_fields\n"
      " * merged back in tag order.  Returns pb_buf_error(out): PB_OK,\n"
      " * PB_ENOMEM, PB_ETOOBIG, or PB_EINVAL (a string that is not UTF-8,\n"
      " * or an unknown_fields that is not a record body); PB_EINVAL also\n"
      " * when `r` or `out` is NULL (then nothing is written).\n"
      " */\n"
      "int %s%s_encode(const %s%s *r, pb_buf *out);\n", p, n, p, n);
  bool arena = ri->needs_arena;
  pbc_sb_puts(h,
      "\n/**\n"
      " * Decodes `size` bytes at `data` into *r, which is first set to the\n"
      " * defaults.  Strings, bytes and unknown_fields are views into `data`:\n"
      " * valid as long as those bytes are.  A field with a tag this schema\n"
      " * does not know makes unknown_fields a view of the whole input, so\n"
      " * that _encode writes it back.\n");
  if (arena)
    pbc_sb_puts(h,
        " * `arena` must not be NULL: array items are allocated from it (a\n"
        " * small multiple of `size` bytes at most) and stay valid until the\n"
        " * arena is reset or destroyed.\n"
        " * Errors: PB_ECORRUPT (what _verify rejects); PB_ENOMEM; PB_EINVAL\n"
        " * (a NULL `r` or arena, or a NULL `data` with a `size`; *r is then\n"
        " * untouched).  On another error, *r is partly decoded.\n");
  else
    pbc_sb_puts(h,
        " * `arena` is not used (no arrays) and may be NULL.\n"
        " * Errors: PB_ECORRUPT (what _verify rejects); *r is then partly\n"
        " * decoded.  PB_EINVAL: a NULL `r`, or a NULL `data` with a `size`\n"
        " * (*r is then untouched).\n");
  pbc_sb_puts(h, " */\n");
  pbc_strbuf head, r;
  pbc_sb_init(&head);
  pbc_sb_init(&r);
  pbc_sb_printf(&head, "int %s%s_decode(", p, n);
  pbc_sb_printf(&r, "%s%s *r", p, n);
  pbc_gen_wrapped(h, 0, pbc_sb_str(&head), ");\n", pbc_sb_str(&r),
                  "const void *data", "size_t size", "pb_arena *arena",
                  (const char *)NULL);
  pbc_sb_printf(h,
      "\n/**\n"
      " * Checks that `size` bytes at `data` are a valid %s%s, exactly as\n"
      " * %s%s_decode would accept them, without allocating or decoding:\n"
      " * every key, the wire type of each known tag, integer ranges, bools,\n"
      " * UTF-8, packed arrays and embedded records.  Returns PB_OK or\n"
      " * PB_ECORRUPT; then, if `err` is not NULL, err->offset is the bad\n"
      " * field's offset in `data` and err->path its name, such as\n"
      " * \"%s.field\".  PB_EINVAL for a NULL `data` with a `size` (`err`\n"
      " * is then untouched); `err` may be NULL.\n"
      " */\n",
      p, n, p, n, n);
  head.len = 0;
  pbc_sb_printf(&head, "int %s%s_verify(", p, n);
  pbc_gen_wrapped(h, 0, pbc_sb_str(&head), ");\n", "const void *data",
                  "size_t size", "pb_verify_error *err", (const char *)NULL);
  pbc_sb_puts(h,
      "\n/**\n"
      " * Encodes *r and stores it as a new atom of `txn`; *out receives its\n"
      " * pointer.  Errors: PB_ENOMEM; PB_ETOOBIG; PB_EINVAL (see _encode;\n"
      " * also a NULL txn, r or out); PB_ERDONLY (a read-only transaction);\n"
      " * PB_ENOTFOUND (a pointer field names no atom); and the latched\n"
      " * error of a transaction whose earlier write failed\n"
      " * (pb_txn_put_record).\n"
      " */\n");
  head.len = 0;
  r.len = 0;
  pbc_sb_printf(&head, "int %s%s_put(", p, n);
  pbc_sb_printf(&r, "const %s%s *r", p, n);
  pbc_gen_wrapped(h, 0, pbc_sb_str(&head), ");\n", "pb_txn *txn",
                  pbc_sb_str(&r), "pb_atom_ptr *out", (const char *)NULL);
  pbc_sb_free(&head);
  pbc_sb_free(&r);
  pbc_sb_printf(h,
      "\n/**\n"
      " * Reads the record at `ptr` in `txn` and decodes it into *r.  Views\n"
      " * %sstay valid until the transaction ends.  Decoded records are\n"
      " * shared through the space's object cache, under the schema epoch of\n"
      " * this type; loading a type the database has never seen registers it\n"
      " * (pb_txn_load_decoded).\n"
      " * Errors: PB_ENOTFOUND (no atom at ptr); PB_ECORRUPT; PB_ESCHEMA (a\n"
      " * record of another type); PB_EIO; PB_ENOMEM; PB_EINVAL (a NULL txn\n"
      " * or r).\n"
      " */\n"
      "int %s%s_load(pb_txn *txn, pb_atom_ptr ptr, %s%s *r);\n",
      arena ? "and arrays " : "", p, n, p, n);
}

static int pbc__ptr_cmp(const void *a, const void *b) {
  uintptr_t x = (uintptr_t) * (const pbc_decl *const *)a;
  uintptr_t y = (uintptr_t) * (const pbc_decl *const *)b;
  return x < y ? -1 : x > y;
}

typedef struct pbc__walk {
  const pbc_decl *decl; /* record being explored */
  size_t next;          /* next field to look at */
} pbc__walk;

/*
 * Orders the records of the file so that each comes after the records of
 * this file that it embeds by value (they must be complete types first),
 * keeping declaration order otherwise.  Iterative post-order DFS: embedding
 * is acyclic (check.c), and a schema may chain thousands of records.
 */
static size_t pbc__struct_order(const pbc_gen *g, const pbc_decl **order) {
  const pbc_file *f = g->file;
  size_t n = f->decls.len, norder = 0, top = 0;
  const pbc_decl **sorted = pbc_xmalloc((n ? n : 1) * sizeof *sorted);
  bool *seen = pbc_xcalloc(n ? n : 1, sizeof *seen);
  pbc__walk *stack = pbc_xmalloc((n ? n : 1) * sizeof *stack);
  for (size_t i = 0; i < n; i++)
    sorted[i] = f->decls.items[i];
  qsort(sorted, n, sizeof *sorted, pbc__ptr_cmp);
  for (size_t i = 0; i < n; i++) {
    const pbc_decl *d = f->decls.items[i];
    const pbc_decl **hit = bsearch(&d, sorted, n, sizeof *sorted, pbc__ptr_cmp);
    if (d->kind != PBC_DECL_RECORD || seen[hit - sorted])
      continue;
    seen[hit - sorted] = true;
    stack[top++] = (pbc__walk){d, 0};
    while (top > 0) {
      pbc__walk *w = &stack[top - 1];
      if (w->next == w->decl->fields.len) {
        order[norder++] = w->decl;
        top--;
        continue;
      }
      const pbc_type *t =
          ((const pbc_field *)w->decl->fields.items[w->next++])->type;
      if (t->kind != PBC_TYPE_NAMED || t->decl->kind != PBC_DECL_RECORD ||
          !pbc_gen_local(g, t->decl))
        continue;
      const pbc_decl *to = t->decl;
      hit = bsearch(&to, sorted, n, sizeof *sorted, pbc__ptr_cmp);
      if (!seen[hit - sorted]) {
        seen[hit - sorted] = true;
        stack[top++] = (pbc__walk){to, 0};
      }
    }
  }
  free(stack);
  free(seen);
  free(sorted);
  return norder;
}

void pbc_gen_header(pbc_gen *g) {
  pbc_strbuf *h = g->h;
  const pbc_file *f = g->file;
  pbc_strbuf guard;
  pbc_sb_init(&guard);
  pbc_gen_guard_stem(&guard, g->base);
  size_t stem = guard.len;
  pbc_sb_puts(&guard, "_PB_H");
  const char *gd = pbc_sb_str(&guard);

  pbc_sb_printf(h,
      "/* %s.pb.h - generated by pbc %s from %s.  Do not edit. */\n"
      "#ifndef %s\n#define %s\n\n"
      "#include <protobase/protobase.h>\n"
      "#include <protobase/table.h>\n"
      "#include <protobase/query.h>\n\n"
      "#if !defined(PB_GENERATED_ABI) || PB_GENERATED_ABI != %d\n"
      "#error \"%s.pb.h was generated for ProtoBase generated-code ABI %d; "
      "regenerate it with this runtime's pbc\"\n"
      "#endif\n",
      g->base, PBC_VERSION, g->input, gd, gd, PB_GENERATED_ABI, g->base,
      PB_GENERATED_ABI);
  if (f->imports.len)
    pbc_sb_putc(h, '\n');
  for (size_t i = 0; i < f->imports.len; i++) {
    const pbc_import *imp = f->imports.items[i];
    char *base = pbc_gen_c_base(imp->file->src->path);
    pbc_sb_printf(h, "#include \"%s.pb.h\"\n", base);
    free(base);
  }
  pbc_sb_puts(h, "\n#ifdef __cplusplus\nextern \"C\" {\n#endif\n");
  pbc_sb_printf(h,
      "\n/** The fingerprint of %s as a whole (its records and enums). */\n"
      "#define %.*s_PB_FINGERPRINT UINT64_C(0x%016llx)\n",
      g->input, (int)stem, gd, (unsigned long long)pbc_fingerprint_file(f));
  for (size_t i = 0; i < f->decls.len; i++) {
    const pbc_decl *d = f->decls.items[i];
    if (d->kind == PBC_DECL_ENUM)
      pbc__gen_enum(g, d);
  }
  /* Records: all names first (arrays may point to any), then bodies. */
  size_t n = f->decls.len;
  const pbc_decl **order = pbc_xmalloc((n ? n : 1) * sizeof *order);
  bool any = false;
  for (size_t i = 0; i < n; i++) {
    const pbc_decl *d = f->decls.items[i];
    if (d->kind != PBC_DECL_RECORD)
      continue;
    if (!any)
      pbc_sb_putc(h, '\n');
    any = true;
    pbc_sb_printf(h, "typedef struct %s%s %s%s;\n", g->prefix, d->name,
                  g->prefix, d->name);
  }
  size_t norder = pbc__struct_order(g, order);
  if (norder)
    pbc_gen_table_prelude(g); /* gen_table.c */
  for (size_t i = 0; i < norder; i++) {
    pbc__gen_struct(g, order[i]);
    pbc__gen_prototypes(g, order[i]);
    pbc_gen_table_header(g, order[i]); /* gen_table.c */
    pbc_gen_member_prototypes(g, order[i]);
  }
  free(order);
  pbc_sb_printf(h,
      "\n/**\n"
      " * The record types of %s, in source order, for pb_db_open_types and\n"
      " * pb_db_register: registering them checks each against the versions\n"
      " * the database's catalog has (PB_ESCHEMA when a change is breaking).\n"
      " */\n"
      "extern const pb_record_type *const %srecord_types[];\n"
      "extern const size_t %srecord_types_count;\n",
      g->input, g->prefix, g->prefix);
  pbc_sb_printf(h, "\n#ifdef __cplusplus\n}\n#endif\n#endif /* %s */\n", gd);
  pbc_sb_free(&guard);
}
