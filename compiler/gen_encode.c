/*
 * gen_encode.c - generates P_R_init and P_R_encode.
 *
 * Encoding rule per field (one value has exactly one encoding):
 *   - an optional field is written iff its has_ flag is set;
 *   - any other field is written iff it differs from its default (zero,
 *     false, empty, null, or [default = x]).  Floats compare by value and
 *     sign, so -0.0 is written when the default is 0, and NaN is always
 *     written;
 *   - an embedded record (a REC field) is written iff its own encoding is
 *     not empty; an atom pointer is a PTR field, written iff not null;
 *   - an array is written iff it has items: numbers, bools and enums as one
 *     packed LEN field, anything else as one field per item;
 *   - the fields kept in unknown_fields are merged in by tag (pb_unknown).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gen_internal.h"

void pbc_gen_init(pbc_gen *g, const pbc_decl *d) {
  pbc_strbuf *c = g->c;
  pbc_gen_field *fields = pbc_gen_fields(d);
  pbc_sb_printf(c, "\nvoid %s%s_init(%s%s *r) {\n", g->prefix, d->name,
                g->prefix, d->name);
  pbc_sb_puts(c, "  if (!r)\n    return;\n  memset(r, 0, sizeof *r);\n");
  for (size_t i = 0; i < d->fields.len; i++) {
    const pbc_gen_field *gf = &fields[i];
    const pbc_field *f = gf->f;
    if (gf->array)
      continue;
    if (gf->elem.kind == PBC_GEN_RECORD) {
      if (!pbc_gen_info(g, gf->elem.decl)->zero_init) {
        pbc_sb_puts(c, "  ");
        pbc_gen_cname(c, gf->elem.decl);
        pbc_sb_printf(c, "_init(&r->%s);\n", f->name);
      }
      continue;
    }
    if (!pbc_gen_has_default(gf))
      continue;
    pbc_sb_printf(c, "  r->%s = ", f->name);
    if (gf->elem.kind == PBC_GEN_SCALAR && gf->elem.scalar == PBC_STRING) {
      pbc_sb_puts(c, "(pb_str){");
      pbc_gen_c_string(c, f->dflt->text, f->dflt->len);
      pbc_sb_printf(c, ", %zu};\n", f->dflt->len);
    } else if (gf->elem.kind == PBC_GEN_SCALAR &&
               gf->elem.scalar == PBC_BYTES) {
      pbc_sb_puts(c, "(pb_bytes){(const uint8_t *)");
      pbc_gen_c_string(c, f->dflt->text, f->dflt->len);
      pbc_sb_printf(c, ", %zu};\n", f->dflt->len);
    } else {
      pbc_gen_default_expr(c, gf);
      pbc_sb_puts(c, ";\n");
    }
  }
  pbc_sb_puts(c, "}\n");
  free(fields);
}

/* The condition under which a non-optional scalar or enum is written. */
static void pbc__differs(pbc_strbuf *c, const pbc_gen_field *gf) {
  const char *name = gf->f->name;
  const pbc_literal *l = gf->f->dflt;
  bool dflt = pbc_gen_has_default(gf);
  if (gf->elem.kind == PBC_GEN_ENUM) {
    pbc_sb_printf(c, "r->%s != ", name);
    pbc_gen_default_expr(c, gf);
    return;
  }
  if (gf->elem.kind == PBC_GEN_PTR) {
    pbc_sb_printf(c, "!pb_atom_ptr_is_null(r->%s)", name);
    return;
  }
  pbc_scalar s = gf->elem.scalar;
  if (s == PBC_BOOL) {
    pbc_sb_printf(c, "%sr->%s", dflt && l->b ? "!" : "", name);
  } else if (s == PBC_STRING || s == PBC_BYTES) {
    size_t len = dflt ? l->len : 0;
    pbc_sb_printf(c, "r->%s.len != %zu", name, len);
    if (len) {
      pbc_sb_printf(c, " || memcmp(r->%s.ptr, ", name);
      pbc_gen_c_string(c, l->text, l->len);
      pbc_sb_printf(c, ", %zu) != 0", len);
    }
  } else if (pbc_scalar_is_float(s) && !dflt) {
    pbc_sb_printf(c, "r->%s != 0 || signbit(r->%s)", name, name);
  } else if (pbc_scalar_is_float(s) && l->kind == PBC_LIT_FLOAT && l->f == 0) {
    pbc_sb_printf(c, "r->%s != 0 || !signbit(r->%s)", name, name); /* -0.0 */
  } else {
    pbc_sb_printf(c, "r->%s != ", name);
    pbc_gen_default_expr(c, gf);
  }
}

/* Writes one value `v` (a C lvalue) of a non-array field or an item. */
static void pbc__put_value(pbc_strbuf *c, const char *indent,
                           const pbc_gen_elem *e, unsigned long long tag,
                           const char *v, bool omit_empty) {
  switch (e->kind) {
  case PBC_GEN_SCALAR:
    pbc_sb_printf(c, "%s%s(out, %llu, %s);\n", indent,
                  pbc_gen_scalar_writer(e->scalar), tag, v);
    break;
  case PBC_GEN_ENUM:
    pbc_sb_printf(c, "%spb_wire_put_sint(out, %llu, (int32_t)%s);\n", indent,
                  tag, v);
    break;
  case PBC_GEN_PTR:
    pbc_sb_printf(c, "%spb_wire_put_atom_ptr(out, %llu, &%s);\n", indent, tag,
                  v);
    break;
  case PBC_GEN_RECORD:
    pbc_sb_printf(c, "%sm = pb_wire_begin_rec(out, %llu);\n%s", indent, tag,
                  indent);
    pbc_gen_cname(c, e->decl);
    pbc_sb_printf(c, "_encode(&%s, out);\n%spb_wire_end_len(out, m, %s);\n", v,
                  indent, omit_empty ? "true" : "false");
    break;
  }
}

/* Appends one packed item `v` (no key). */
static void pbc__put_raw(pbc_strbuf *c, const pbc_gen_elem *e, const char *v) {
  if (e->kind == PBC_GEN_ENUM) {
    pbc_sb_printf(c, "      pb_wire_raw_zigzag(out, (int32_t)%s);\n", v);
    return;
  }
  const char *fn = "pb_wire_put_varint";
  if (e->scalar == PBC_FLOAT32)
    fn = "pb_wire_raw_float";
  else if (e->scalar == PBC_FLOAT64)
    fn = "pb_wire_raw_double";
  else if (pbc_scalar_is_int(e->scalar) && pbc_scalar_is_signed(e->scalar))
    fn = "pb_wire_raw_zigzag";
  pbc_sb_printf(c, "      %s(out, %s);\n", fn, v);
}

static void pbc__encode_field(pbc_strbuf *c, const pbc_gen_field *gf) {
  const pbc_field *f = gf->f;
  unsigned long long tag = (unsigned long long)f->tag;
  pbc_strbuf v;
  pbc_sb_init(&v);
  if (gf->array) {
    pbc_sb_printf(&v, "r->%s.items[i]", f->name);
    if (pbc_gen_packable(&gf->elem)) {
      pbc_sb_printf(c,
          "  if (r->%s.count != 0) {\n"
          "    m = pb_wire_begin_len(out, %llu);\n"
          "    for (size_t i = 0; i < r->%s.count; i++)\n",
          f->name, tag, f->name);
      pbc__put_raw(c, &gf->elem, pbc_sb_str(&v));
      pbc_sb_puts(c, "    pb_wire_end_len(out, m, false);\n  }\n");
    } else if (gf->elem.kind == PBC_GEN_RECORD) {
      pbc_sb_printf(c, "  for (size_t i = 0; i < r->%s.count; i++) {\n",
                    f->name);
      pbc__put_value(c, "    ", &gf->elem, tag, pbc_sb_str(&v), false);
      pbc_sb_puts(c, "  }\n");
    } else {
      pbc_sb_printf(c, "  for (size_t i = 0; i < r->%s.count; i++)\n",
                    f->name);
      pbc__put_value(c, "    ", &gf->elem, tag, pbc_sb_str(&v), false);
    }
    pbc_sb_free(&v);
    return;
  }
  pbc_sb_printf(&v, "r->%s", f->name);
  if (gf->elem.kind == PBC_GEN_RECORD) {
    if (f->optional) {
      pbc_sb_printf(c, "  if (r->has_%s) {\n", f->name);
      pbc__put_value(c, "    ", &gf->elem, tag, pbc_sb_str(&v), false);
      pbc_sb_puts(c, "  }\n");
    } else {
      pbc__put_value(c, "  ", &gf->elem, tag, pbc_sb_str(&v), true);
    }
    pbc_sb_free(&v);
    return;
  }
  if (f->optional) {
    pbc_sb_printf(c, "  if (r->has_%s)\n", f->name);
  } else {
    pbc_sb_puts(c, "  if (");
    pbc__differs(c, gf);
    pbc_sb_puts(c, ")\n");
  }
  pbc__put_value(c, "    ", &gf->elem, tag, pbc_sb_str(&v), false);
  pbc_sb_free(&v);
}

void pbc_gen_encode(pbc_gen *g, const pbc_decl *d) {
  pbc_strbuf *c = g->c;
  const char *p = g->prefix, *n = d->name;
  size_t nf = d->fields.len;
  pbc_gen_field *fields = pbc_gen_fields_by_tag(d);
  bool marks = false;
  for (size_t i = 0; i < nf; i++)
    marks = marks || fields[i].elem.kind == PBC_GEN_RECORD ||
            (fields[i].array && pbc_gen_packable(&fields[i].elem));

  if (nf > 0) {
    pbc_sb_printf(c, "\n/* The tags this record knows, ascending; kept fields "
                     "with other tags are\n * written back. */\n"
                     "static const uint32_t %s%s_known_tags[] = {",
                  p, n);
    size_t col = 80;
    for (size_t i = 0; i < nf; i++) {
      char num[16];
      int len = snprintf(num, sizeof num, "%llu",
                         (unsigned long long)fields[i].f->tag);
      if (col + (size_t)len + 2 > 78) {
        pbc_sb_puts(c, "\n   ");
        col = 3;
      }
      pbc_sb_printf(c, " %s%s", num, i + 1 < nf ? "," : "");
      col += (size_t)len + 2;
    }
    pbc_sb_puts(c, "\n};\n");
  }

  pbc_sb_printf(c, "\nint %s%s_encode(const %s%s *r, pb_buf *out) {\n"
                   "  pb_unknown u;\n",
                p, n, p, n);
  if (marks)
    pbc_sb_puts(c, "  pb_len_mark m;\n");
  pbc_sb_puts(c, "\n  if (!r || !out)\n    return PB_EINVAL;");
  if (nf > 0)
    pbc_sb_printf(c, "\n  pb_unknown_init(&u, r->unknown_fields, "
                     "%s%s_known_tags, %zu);\n",
                  p, n, nf);
  else
    pbc_sb_puts(c, "\n  pb_unknown_init(&u, r->unknown_fields, NULL, 0);\n");
  uint64_t prev = 0;
  for (size_t i = 0; i < nf; i++) {
    uint64_t tag = fields[i].f->tag;
    if (tag > prev + 1) /* a gap: kept fields may have tags in it */
      pbc_sb_printf(c, "  pb_unknown_copy(&u, out, %llu);\n",
                    (unsigned long long)tag);
    pbc__encode_field(c, &fields[i]);
    prev = tag;
  }
  pbc_sb_puts(c, "  pb_unknown_copy(&u, out, PB_TAG_MAX + 1);\n"
                 "  return pb_buf_error(out);\n}\n");
  free(fields);
}
