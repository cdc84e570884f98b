/*
 * gen_text.c - C text helpers of the generator: comments, string and float
 * literals, the runtime names for each element kind, default values as C
 * expressions, and line wrapping of long signatures and calls.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gen_internal.h"

/* --- C text --- */

void pbc_gen_comment_text(pbc_strbuf *sb, const char *s, size_t len) {
  for (size_t i = 0; i < len; i++) {
    unsigned char c = (unsigned char)s[i];
    if (c == '/' && i > 0 && s[i - 1] == '*')
      pbc_sb_putc(sb, ' ');
    if (c < 0x20 || c == 0x7f)
      c = ' ';
    pbc_sb_putc(sb, (char)c);
  }
}

void pbc_gen_doc(pbc_strbuf *sb, const char *indent, const char *doc) {
  if (!doc)
    return;
  if (!strchr(doc, '\n')) {
    pbc_sb_printf(sb, "%s/** ", indent);
    pbc_gen_comment_text(sb, doc, strlen(doc));
    pbc_sb_puts(sb, " */\n");
    return;
  }
  pbc_sb_printf(sb, "%s/**\n", indent);
  const char *line = doc;
  for (;;) {
    const char *nl = strchr(line, '\n');
    size_t len = nl ? (size_t)(nl - line) : strlen(line);
    pbc_sb_printf(sb, "%s *%s", indent, len ? " " : "");
    pbc_gen_comment_text(sb, line, len);
    pbc_sb_putc(sb, '\n');
    if (!nl)
      break;
    line = nl + 1;
  }
  pbc_sb_printf(sb, "%s */\n", indent);
}

void pbc_gen_c_string(pbc_strbuf *sb, const char *s, size_t len) {
  pbc_sb_putc(sb, '"');
  for (size_t i = 0; i < len; i++) {
    unsigned char c = (unsigned char)s[i];
    if (c == '"' || c == '\\')
      pbc_sb_printf(sb, "\\%c", c);
    else if (c == '?') /* C11 has trigraphs: "??/" must not become '\' */
      pbc_sb_puts(sb, "\\?");
    else if (c == '\n')
      pbc_sb_puts(sb, "\\n");
    else if (c == '\t')
      pbc_sb_puts(sb, "\\t");
    else if (c >= 0x20 && c < 0x7f)
      pbc_sb_putc(sb, (char)c);
    else
      pbc_sb_printf(sb, "\\%03o", c);
  }
  pbc_sb_putc(sb, '"');
}

/* The shortest decimal that reads back as the same float/double. */
static void pbc__c_float(pbc_strbuf *sb, double v, bool f32) {
  char buf[64];
  if (f32) {
    float fv = (float)v;
    for (int prec = 1; prec <= 9; prec++) {
      snprintf(buf, sizeof buf, "%.*g", prec, (double)fv);
      if (strtof(buf, NULL) == fv)
        break;
    }
  } else {
    for (int prec = 1; prec <= 17; prec++) {
      snprintf(buf, sizeof buf, "%.*g", prec, v);
      if (strtod(buf, NULL) == v)
        break;
    }
  }
  pbc_sb_puts(sb, buf);
  if (!strpbrk(buf, ".e"))
    pbc_sb_puts(sb, ".0");
  if (f32)
    pbc_sb_putc(sb, 'f');
}

const char *pbc_gen_scalar_ctype(pbc_scalar s) {
  static const char *const names[] = {
      [PBC_BOOL] = "bool",       [PBC_INT8] = "int8_t",
      [PBC_INT16] = "int16_t",   [PBC_INT32] = "int32_t",
      [PBC_INT64] = "int64_t",   [PBC_UINT8] = "uint8_t",
      [PBC_UINT16] = "uint16_t", [PBC_UINT32] = "uint32_t",
      [PBC_UINT64] = "uint64_t", [PBC_FLOAT32] = "float",
      [PBC_FLOAT64] = "double",  [PBC_STRING] = "pb_str",
      [PBC_BYTES] = "pb_bytes"};
  return names[s];
}

const char *pbc_gen_scalar_reader(pbc_scalar s) {
  static const char *const names[] = {
      [PBC_BOOL] = "pb_field_bool",    [PBC_INT8] = "pb_field_i8",
      [PBC_INT16] = "pb_field_i16",    [PBC_INT32] = "pb_field_i32",
      [PBC_INT64] = "pb_field_i64",    [PBC_UINT8] = "pb_field_u8",
      [PBC_UINT16] = "pb_field_u16",   [PBC_UINT32] = "pb_field_u32",
      [PBC_UINT64] = "pb_field_u64",   [PBC_FLOAT32] = "pb_field_float",
      [PBC_FLOAT64] = "pb_field_double", [PBC_STRING] = "pb_field_str",
      [PBC_BYTES] = "pb_field_bytes"};
  return names[s];
}

const char *pbc_gen_scalar_writer(pbc_scalar s) {
  if (s == PBC_BOOL)
    return "pb_wire_put_bool";
  if (pbc_scalar_is_int(s))
    return pbc_scalar_is_signed(s) ? "pb_wire_put_sint" : "pb_wire_put_uint";
  static const char *const names[] = {[PBC_FLOAT32] = "pb_wire_put_float",
                                      [PBC_FLOAT64] = "pb_wire_put_double",
                                      [PBC_STRING] = "pb_wire_put_str",
                                      [PBC_BYTES] = "pb_wire_put_bytes"};
  return names[s];
}

void pbc_gen_elem_ctype(pbc_strbuf *sb, const pbc_gen_elem *e) {
  switch (e->kind) {
  case PBC_GEN_SCALAR:
    pbc_sb_puts(sb, pbc_gen_scalar_ctype(e->scalar));
    break;
  case PBC_GEN_ENUM:
  case PBC_GEN_RECORD:
    pbc_gen_cname(sb, e->decl);
    break;
  case PBC_GEN_PTR:
    pbc_sb_puts(sb, "pb_atom_ptr");
    break;
  }
}

const char *pbc_gen_check_kind(const pbc_gen_elem *e) {
  static const char *const names[] = {
      [PBC_BOOL] = "PB_CHECK_BOOL",    [PBC_INT8] = "PB_CHECK_I8",
      [PBC_INT16] = "PB_CHECK_I16",    [PBC_INT32] = "PB_CHECK_I32",
      [PBC_INT64] = "PB_CHECK_I64",    [PBC_UINT8] = "PB_CHECK_U8",
      [PBC_UINT16] = "PB_CHECK_U16",   [PBC_UINT32] = "PB_CHECK_U32",
      [PBC_UINT64] = "PB_CHECK_U64",   [PBC_FLOAT32] = "PB_CHECK_FLOAT",
      [PBC_FLOAT64] = "PB_CHECK_DOUBLE", [PBC_STRING] = "PB_CHECK_STR",
      [PBC_BYTES] = "PB_CHECK_BYTES"};
  switch (e->kind) {
  case PBC_GEN_SCALAR: return names[e->scalar];
  case PBC_GEN_ENUM: return "PB_CHECK_I32";
  case PBC_GEN_RECORD: return "PB_CHECK_REC";
  case PBC_GEN_PTR: return "PB_CHECK_ATOM_PTR";
  }
  return "";
}

const char *pbc_gen_count_fn(const pbc_gen_elem *e) {
  if (e->kind == PBC_GEN_RECORD)
    return "pb_rec_count";
  if (e->kind == PBC_GEN_PTR)
    return "pb_ptr_count";
  return "pb_len_count";
}

bool pbc_gen_packable(const pbc_gen_elem *e) {
  return e->kind == PBC_GEN_ENUM ||
         (e->kind == PBC_GEN_SCALAR && e->scalar != PBC_STRING &&
          e->scalar != PBC_BYTES);
}

const char *pbc_gen_wire_type(const pbc_gen_elem *e) {
  if (e->kind == PBC_GEN_ENUM)
    return "PB_WT_VARINT";
  if (e->kind == PBC_GEN_RECORD)
    return "PB_WT_REC";
  if (e->kind == PBC_GEN_PTR)
    return "PB_WT_PTR";
  switch (e->scalar) {
  case PBC_FLOAT32: return "PB_WT_I32";
  case PBC_FLOAT64: return "PB_WT_I64";
  case PBC_STRING:
  case PBC_BYTES: return "PB_WT_LEN";
  default: return "PB_WT_VARINT";
  }
}

/* --- Defaults --- */

const pbc_enum_value *pbc_gen_enum_default(const pbc_gen_field *gf) {
  const pbc_decl *e = gf->elem.decl;
  const pbc_literal *l = gf->f->dflt;
  const pbc_enum_value *zero = NULL;
  for (size_t i = 0; i < e->values.len; i++) {
    const pbc_enum_value *v = e->values.items[i];
    if (l && !gf->array && l->kind == PBC_LIT_IDENT &&
        strcmp(v->name, l->text) == 0)
      return v;
    if (v->value == 0 && !zero)
      zero = v;
  }
  /* check.c requires a value 0; the first value otherwise (never here). */
  return zero ? zero : e->values.items[0];
}

bool pbc_gen_has_default(const pbc_gen_field *gf) {
  const pbc_literal *l = gf->f->dflt;
  if (gf->array)
    return false;
  if (gf->elem.kind == PBC_GEN_ENUM)
    return pbc_gen_enum_default(gf)->value != 0;
  if (gf->elem.kind != PBC_GEN_SCALAR || !l)
    return false;
  switch (l->kind) {
  case PBC_LIT_BOOL:
    return l->b;
  case PBC_LIT_INT:
    return l->u != 0;
  case PBC_LIT_FLOAT:
    return l->f != 0 || l->negative; /* -0.0 differs from the zero value */
  case PBC_LIT_STRING:
    return l->len != 0;
  case PBC_LIT_IDENT:
    return true;
  }
  return false;
}

/* The C value of an integer default. */
static void pbc__c_int(pbc_strbuf *sb, const pbc_literal *l, pbc_scalar s) {
  if (pbc_scalar_is_signed(s)) {
    if (l->negative && l->u == (uint64_t)1 << 63)
      pbc_sb_puts(sb, "INT64_MIN");
    else
      pbc_sb_printf(sb, "%s%llu", l->negative && l->u ? "-" : "",
                    (unsigned long long)l->u);
  } else {
    pbc_sb_printf(sb, "%llu%s", (unsigned long long)l->u,
                  l->u > INT32_MAX ? "u" : "");
  }
}

void pbc_gen_default_expr(pbc_strbuf *sb, const pbc_gen_field *gf) {
  const pbc_literal *l = gf->f->dflt;
  if (gf->elem.kind == PBC_GEN_ENUM) {
    pbc_gen_cname(sb, gf->elem.decl);
    pbc_sb_printf(sb, "_%s", pbc_gen_enum_default(gf)->name);
    return;
  }
  pbc_scalar s = gf->elem.scalar;
  if (s == PBC_BOOL)
    pbc_sb_puts(sb, l && l->b ? "true" : "false");
  else if (pbc_scalar_is_int(s))
    l ? pbc__c_int(sb, l, s) : pbc_sb_putc(sb, '0');
  else {
    double v = !l ? 0.0 : l->kind == PBC_LIT_INT ? (double)l->u : l->f;
    pbc__c_float(sb, l && l->negative ? -v : v, s == PBC_FLOAT32);
  }
}

/* --- Line wrapping --- */

/* Width of s up to its first newline. */
static size_t pbc__line_len(const char *s) {
  const char *nl = strchr(s, '\n');
  return nl ? (size_t)(nl - s) : strlen(s);
}

void pbc_gen_wrapped(pbc_strbuf *sb, size_t col, const char *head,
                     const char *tail, ...) {
  va_list ap;
  size_t cur = col + strlen(head);
  size_t align = cur <= 40 ? cur : col + 4;
  pbc_sb_puts(sb, head);
  va_start(ap, tail);
  const char *arg = va_arg(ap, const char *);
  bool first = true;
  while (arg) {
    const char *next = va_arg(ap, const char *);
    size_t len = strlen(arg) + (next ? 1 : pbc__line_len(tail));
    if (!first && cur + 1 + len > 80) {
      pbc_sb_putc(sb, '\n');
      pbc_sb_pad(sb, ' ', align);
      cur = align;
    } else if (!first) {
      pbc_sb_putc(sb, ' ');
      cur++;
    }
    pbc_sb_puts(sb, arg);
    pbc_sb_puts(sb, next ? "," : tail);
    cur += len;
    first = false;
    arg = next;
  }
  va_end(ap);
}

void pbc_gen_sig_decode_at(pbc_gen *g, const pbc_decl *d, const char *tail) {
  pbc_strbuf head, r;
  pbc_sb_init(&head);
  pbc_sb_init(&r);
  pbc_sb_printf(&head, "static int %s%s_decode_at(", g->prefix, d->name);
  pbc_sb_printf(&r, "%s%s *r", g->prefix, d->name);
  pbc_gen_wrapped(g->c, 0, pbc_sb_str(&head), tail, pbc_sb_str(&r),
                  "const uint8_t *data", "size_t size", "pb_arena *arena",
                  "int depth", (const char *)NULL);
  pbc_sb_free(&head);
  pbc_sb_free(&r);
}

void pbc_gen_sig_verify_at(pbc_gen *g, const pbc_decl *d, const char *tail) {
  pbc_strbuf head;
  pbc_sb_init(&head);
  pbc_sb_printf(&head, "static int %s%s_verify_at(", g->prefix, d->name);
  pbc_gen_wrapped(g->c, 0, pbc_sb_str(&head), tail, "const uint8_t *data",
                  "size_t size", "pb_verify_error *err", "int depth",
                  (const char *)NULL);
  pbc_sb_free(&head);
}
