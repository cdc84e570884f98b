/*
 * gen_c.c - the C code generator.
 *
 * The output is meant to read like code a person wrote: one struct per
 * record with a comment per member, and plain functions that call the
 * runtime's wire.h writers and readers field by field.  No macros are
 * generated.
 *
 * Struct members keep the schema's declaration order; encode and decode
 * walk fields in ascending tag order, which is what the encoding requires
 * (wire.h: one value has exactly one encoding).
 *
 * Encoding rule per field:
 *   - an optional field is written iff its has_ flag is set;
 *   - any other field is written iff it differs from its default (zero,
 *     false, empty, or [default = x]).  Floats compare by value and sign,
 *     so -0.0 is written when the default is 0, and NaN is always written.
 */
#include "gen_c.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <protobase/protobase.h> /* PB_GENERATED_ABI: the ABI we generate */

/* --- Names --- */

/* Words that cannot be C identifiers of members or types (C11, C23, C++). */
static const char *const pbc__reserved_words[] = {
    /* C11 */
    "auto", "break", "case", "char", "const", "continue", "default", "do",
    "double", "else", "enum", "extern", "float", "for", "goto", "if",
    "inline", "int", "long", "register", "restrict", "return", "short",
    "signed", "sizeof", "static", "struct", "switch", "typedef", "union",
    "unsigned", "void", "volatile", "while",
    /* C23 */
    "alignas", "alignof", "bool", "constexpr", "false", "nullptr",
    "static_assert", "thread_local", "true", "typeof", "typeof_unqual",
    /* C++ (the header is usable from C++ through extern "C") */
    "and", "and_eq", "asm", "bitand", "bitor", "catch", "char16_t",
    "char32_t", "char8_t", "class", "compl", "concept", "consteval",
    "constinit", "const_cast", "co_await", "co_return", "co_yield",
    "decltype", "delete", "dynamic_cast", "explicit", "export", "friend",
    "mutable", "namespace", "new", "noexcept", "not", "not_eq", "operator",
    "or", "or_eq", "private", "protected", "public", "reinterpret_cast",
    "requires", "static_cast", "template", "this", "throw", "try", "typeid",
    "typename", "using", "virtual", "wchar_t", "xor", "xor_eq",
};

static bool pbc__is_reserved_word(const char *s) {
  for (size_t i = 0; i < sizeof pbc__reserved_words / sizeof *pbc__reserved_words;
       i++)
    if (strcmp(pbc__reserved_words[i], s) == 0)
      return true;
  return false;
}

/*
 * True for names that the included headers may define as object-like macros
 * (or GNU C modes predefine), which would expand inside a struct: the
 * runtime's pb_ and PB_ names, <stdint.h>-style limits such as INT64_MAX
 * (all capitals, ending in _MIN or _MAX), and a few more.
 */
static bool pbc__is_macro_like(const char *s) {
  static const char *const macros[] = {
      "NULL", "errno", "EOF", "EDOM", "ERANGE", "EILSEQ", "NAN", "INFINITY",
      "HUGE_VAL", "HUGE_VALF", "HUGE_VALL", "linux", "unix", "i386"};
  for (size_t i = 0; i < sizeof macros / sizeof *macros; i++)
    if (strcmp(macros[i], s) == 0)
      return true;
  if (strncmp(s, "pb_", 3) == 0 || strncmp(s, "PB_", 3) == 0)
    return true;
  size_t n = strlen(s);
  if (n < 5 || (strcmp(s + n - 4, "_MIN") != 0 && strcmp(s + n - 4, "_MAX") != 0))
    return false;
  for (size_t i = 0; i < n; i++)
    if (s[i] >= 'a' && s[i] <= 'z')
      return false;
  return true;
}

/* "tasks" -> "tasks_", "acme.people" -> "acme_people_", none -> "". */
static char *pbc__prefix(const pbc_file *f) {
  if (!f->package)
    return pbc_xstrdup("");
  size_t n = strlen(f->package);
  char *p = pbc_xmalloc(n + 2);
  for (size_t i = 0; i < n; i++)
    p[i] = f->package[i] == '.' ? '_' : f->package[i];
  p[n] = '_';
  p[n + 1] = '\0';
  return p;
}

/* The package-qualified schema name: "tasks.Task", or "Task". */
static void pbc__schema_name(pbc_strbuf *sb, const pbc_decl *d) {
  if (d->file->package)
    pbc_sb_printf(sb, "%s.", d->file->package);
  pbc_sb_puts(sb, d->name);
}

char *pbc_gen_c_base(const char *input_path) {
  const char *b = pbc_basename(input_path);
  size_t n = strlen(b);
  if (n > 4 && strcmp(b + n - 4, ".pbs") == 0)
    n -= 4;
  return pbc_xstrndup(b, n);
}

/*
 * File names go into #include "..." and comments: no quote, backslash or
 * control character (which also rules out newlines).
 */
static bool pbc__file_name_ok(const char *name) {
  if (!*name)
    return false;
  for (const unsigned char *p = (const unsigned char *)name; *p; p++)
    if (*p < 0x20 || *p == 0x7f || *p == '"' || *p == '\\')
      return false;
  return true;
}

/* --- Checks --- */

static int pbc__str_cmp(const void *a, const void *b) {
  const pbc_field *x = *(const pbc_field *const *)a;
  const pbc_field *y = *(const pbc_field *const *)b;
  return strcmp(x->name, y->name);
}

typedef struct pbc__cname {
  char *name;           /* generated C identifier; heap */
  const pbc_loc *loc;   /* the declaration it comes from */
  size_t ord;           /* order of generation */
} pbc__cname;

static int pbc__cname_cmp(const void *a, const void *b) {
  const pbc__cname *x = a, *y = b;
  int c = strcmp(x->name, y->name);
  if (c != 0)
    return c;
  return x->ord < y->ord ? -1 : x->ord > y->ord;
}

static void pbc__add_cname(pbc__cname **names, size_t *n, size_t *cap,
                           const char *prefix, const char *name,
                           const char *suffix, const pbc_loc *loc) {
  if (*n == *cap) {
    *cap = *cap ? *cap * 2 : 32;
    *names = pbc_xrealloc(*names, *cap * sizeof **names);
  }
  size_t len = strlen(prefix) + strlen(name) + strlen(suffix) + 1;
  char *s = pbc_xmalloc(len);
  snprintf(s, len, "%s%s%s", prefix, name, suffix);
  (*names)[*n] = (pbc__cname){s, loc, *n};
  (*n)++;
}

static void pbc__check_fields(const pbc_decl *d, pbc_diag *diag) {
  size_t n = d->fields.len;
  for (size_t i = 0; i < n; i++) {
    const pbc_field *f = d->fields.items[i];
    if (f->type->kind != PBC_TYPE_SCALAR && pbc_type_resolved(f->type)) {
      pbc_strbuf sb;
      pbc_sb_init(&sb);
      pbc_type_spell(f->type, &sb);
      pbc_error(diag, f->type->loc, "field type '%s' is not supported by the "
                "code generator yet", pbc_sb_str(&sb));
      pbc_sb_free(&sb);
    }
    if (pbc__is_reserved_word(f->name))
      pbc_error(diag, f->loc, "field name '%s' is a C or C++ keyword", f->name);
    else if (pbc__is_macro_like(f->name))
      pbc_error(diag, f->loc, "field name '%s' may be a macro in the C "
                "headers that generated code includes", f->name);
  }
  /* An optional field `x` adds a member has_x. */
  const pbc_field **sorted = pbc_xmalloc((n ? n : 1) * sizeof *sorted);
  for (size_t i = 0; i < n; i++)
    sorted[i] = d->fields.items[i];
  qsort(sorted, n, sizeof *sorted, pbc__str_cmp);
  for (size_t i = 0; i < n; i++) {
    const pbc_field *f = d->fields.items[i];
    if (!f->optional)
      continue;
    pbc_field key;
    memset(&key, 0, sizeof key);
    size_t len = strlen(f->name) + 5;
    char *flag = pbc_xmalloc(len);
    snprintf(flag, len, "has_%s", f->name);
    key.name = flag;
    const pbc_field *pk = &key;
    const pbc_field **hit = bsearch(&pk, sorted, n, sizeof *sorted, pbc__str_cmp);
    if (hit) {
      pbc_error(diag, (*hit)->loc, "field '%s' clashes with the presence flag "
                "of optional field '%s'", flag, f->name);
      pbc_note(diag, f->loc, "'%s' is declared here", f->name);
    }
    free(flag);
  }
  free(sorted);
}

bool pbc_gen_c_check(const pbc_file *f, pbc_diag *diag) {
  int before = diag->errors;
  if (!pbc__file_name_ok(pbc_basename(f->src->path))) {
    pbc_loc whole = {f->src, 0, 0};
    pbc_error(diag, whole, "cannot generate C for this file: its name "
              "contains a quote, a backslash or a control character");
  }
  for (size_t i = 0; i < f->imports.len; i++) {
    const pbc_import *imp = f->imports.items[i];
    if (!imp->file)
      continue;
    if (!pbc__file_name_ok(pbc_basename(imp->file->src->path)))
      pbc_error(diag, imp->loc, "cannot #include the C header of this import: "
                "its file name contains a quote, a backslash or a control "
                "character");
    for (size_t k = 0; k < i; k++) {
      const pbc_import *prev = f->imports.items[k];
      if (prev->file && strcmp(pbc_basename(prev->file->src->path),
                               pbc_basename(imp->file->src->path)) == 0) {
        pbc_error(diag, imp->loc, "two imports have the same file name, so "
                  "their generated headers would collide");
        pbc_note(diag, prev->loc, "the other import");
        break;
      }
    }
  }

  char *prefix = pbc__prefix(f);
  pbc__cname *names = NULL;
  size_t n = 0, cap = 0;
  for (size_t i = 0; i < f->decls.len; i++) {
    const pbc_decl *d = f->decls.items[i];
    pbc__add_cname(&names, &n, &cap, prefix, d->name, "", &d->loc);
    if (d->kind == PBC_DECL_ENUM) {
      for (size_t k = 0; k < d->values.len; k++) {
        const pbc_enum_value *v = d->values.items[k];
        char *enum_prefix = pbc_xmalloc(strlen(prefix) + strlen(d->name) + 2);
        sprintf(enum_prefix, "%s%s_", prefix, d->name);
        pbc__add_cname(&names, &n, &cap, enum_prefix, v->name, "", &v->loc);
        free(enum_prefix);
      }
      continue;
    }
    static const char *const suffixes[] = {"_type", "_init", "_encode",
                                           "_decode", "_put", "_load"};
    for (size_t k = 0; k < sizeof suffixes / sizeof *suffixes; k++)
      pbc__add_cname(&names, &n, &cap, prefix, d->name, suffixes[k], &d->loc);
    pbc__check_fields(d, diag);
  }
  for (size_t i = 0; i < n; i++) {
    const char *s = names[i].name;
    if (pbc__is_reserved_word(s))
      pbc_error(diag, *names[i].loc, "generated C name '%s' is a C or C++ "
                "keyword", s);
    else if (strncmp(s, "pb_", 3) == 0 || strncmp(s, "PB_", 3) == 0)
      pbc_error(diag, *names[i].loc, "generated C name '%s' is in the "
                "runtime's reserved pb_ namespace", s);
  }
  if (n > 1)
    qsort(names, n, sizeof *names, pbc__cname_cmp);
  for (size_t i = 1; i < n; i++) {
    if (strcmp(names[i].name, names[i - 1].name) != 0)
      continue;
    pbc_error(diag, *names[i].loc, "generated C name '%s' is already used",
              names[i].name);
    size_t k = i - 1;
    while (k > 0 && strcmp(names[k - 1].name, names[i].name) == 0)
      k--;
    pbc_note(diag, *names[k].loc, "first generated for this declaration");
  }
  for (size_t i = 0; i < n; i++)
    free(names[i].name);
  free(names);
  free(prefix);
  return diag->errors == before;
}

/* --- Text helpers --- */

/* Appends text for use inside a C comment: no "*" "/" pairs, no controls. */
static void pbc__comment_text(pbc_strbuf *sb, const char *s, size_t len) {
  for (size_t i = 0; i < len; i++) {
    unsigned char c = (unsigned char)s[i];
    if (c == '/' && i > 0 && s[i - 1] == '*')
      pbc_sb_putc(sb, ' ');
    if (c < 0x20 || c == 0x7f)
      c = ' ';
    pbc_sb_putc(sb, (char)c);
  }
}

/* A doc comment at `indent`: one line "/" "** text *" "/", or a block. */
static void pbc__doc(pbc_strbuf *sb, const char *indent, const char *doc) {
  if (!doc)
    return;
  if (!strchr(doc, '\n')) {
    pbc_sb_printf(sb, "%s/** ", indent);
    pbc__comment_text(sb, doc, strlen(doc));
    pbc_sb_puts(sb, " */\n");
    return;
  }
  pbc_sb_printf(sb, "%s/**\n", indent);
  const char *line = doc;
  for (;;) {
    const char *nl = strchr(line, '\n');
    size_t len = nl ? (size_t)(nl - line) : strlen(line);
    pbc_sb_printf(sb, "%s *%s", indent, len ? " " : "");
    pbc__comment_text(sb, line, len);
    pbc_sb_putc(sb, '\n');
    if (!nl)
      break;
    line = nl + 1;
  }
  pbc_sb_printf(sb, "%s */\n", indent);
}

/* A C string literal holding bytes[0..len). */
static void pbc__c_string(pbc_strbuf *sb, const char *s, size_t len) {
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

static const char *pbc__c_type(pbc_scalar s) {
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

static const char *pbc__reader(pbc_scalar s) {
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

static const char *pbc__writer(pbc_scalar s) {
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

/* The default of a numeric or bool field as a C expression. */
static void pbc__c_default(pbc_strbuf *sb, const pbc_field *f) {
  pbc_scalar s = f->type->scalar;
  const pbc_literal *l = f->dflt;
  if (s == PBC_BOOL)
    pbc_sb_puts(sb, l && l->b ? "true" : "false");
  else if (pbc_scalar_is_int(s))
    l ? pbc__c_int(sb, l, s) : pbc_sb_putc(sb, '0');
  else {
    double v = !l ? 0.0 : l->kind == PBC_LIT_INT ? (double)l->u : l->f;
    pbc__c_float(sb, l && l->negative ? -v : v, s == PBC_FLOAT32);
  }
}

static bool pbc__has_default(const pbc_field *f) {
  const pbc_literal *l = f->dflt;
  if (!l)
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

/* --- Header --- */

typedef struct pbc__gen {
  const pbc_file *file; /* the schema */
  char *prefix;         /* C prefix of the package: "tasks_" */
  char *base;           /* output base name: "tasks" */
  const char *input;    /* input base name: "tasks.pbs" */
  pbc_strbuf *h;        /* header text */
  pbc_strbuf *c;        /* source text */
} pbc__gen;

static void pbc__gen_enum(pbc__gen *g, const pbc_decl *d) {
  pbc_strbuf *h = g->h;
  pbc_sb_putc(h, '\n');
  pbc__doc(h, "", d->doc);
  pbc_sb_printf(h, "typedef enum %s%s {\n", g->prefix, d->name);
  for (size_t i = 0; i < d->values.len; i++) {
    const pbc_enum_value *v = d->values.items[i];
    pbc__doc(h, "  ", v->doc);
    pbc_sb_printf(h, "  %s%s_%s = %lld%s\n", g->prefix, d->name, v->name,
                  (long long)v->value, i + 1 < d->values.len ? "," : "");
  }
  pbc_sb_printf(h, "} %s%s;\n", g->prefix, d->name);
}

/* One struct member: "  TYPE NAME;" padded to `width`, then a comment. */
static void pbc__member(pbc_strbuf *h, const char *type, const char *name,
                        size_t width, const char *comment) {
  size_t len = strlen(type) + 1 + strlen(name) + 1;
  pbc_sb_printf(h, "  %s %s;", type, name);
  pbc_sb_pad(h, ' ', width > len ? width - len + 1 : 1);
  pbc_sb_printf(h, "/* %s */\n", comment);
}

static void pbc__gen_struct(pbc__gen *g, const pbc_decl *d) {
  pbc_strbuf *h = g->h;
  size_t width = 0;
  for (size_t i = 0; i < d->fields.len; i++) {
    const pbc_field *f = d->fields.items[i];
    size_t len = strlen(pbc__c_type(f->type->scalar)) + strlen(f->name) + 2;
    if (f->optional && strlen(f->name) + 10 > len)
      len = strlen(f->name) + 10; /* "bool has_" + name + ";" */
    if (len > width)
      width = len;
  }
  pbc_sb_putc(h, '\n');
  pbc__doc(h, "", d->doc);
  pbc_sb_printf(h, "typedef struct %s%s {\n", g->prefix, d->name);
  if (d->fields.len == 0)
    pbc_sb_puts(h, "  uint8_t unused_; /* C has no empty structs; always 0 */\n");
  pbc_strbuf note;
  pbc_sb_init(&note);
  for (size_t i = 0; i < d->fields.len; i++) {
    const pbc_field *f = d->fields.items[i];
    pbc_scalar s = f->type->scalar;
    pbc__doc(h, "  ", f->doc);
    note.len = 0;
    if (f->optional) {
      pbc_sb_printf(&note, "true when %s is set", f->name);
      char *flag = pbc_xmalloc(strlen(f->name) + 5);
      sprintf(flag, "has_%s", f->name);
      pbc__member(h, "bool", flag, width, pbc_sb_str(&note));
      free(flag);
      note.len = 0;
    }
    pbc_sb_printf(&note, "tag %llu", (unsigned long long)f->tag);
    if (f->optional)
      pbc_sb_puts(&note, ", optional");
    if (f->is_key)
      pbc_sb_puts(&note, ", key");
    if (pbc__has_default(f)) {
      pbc_strbuf v;
      pbc_sb_init(&v);
      if (s == PBC_STRING || s == PBC_BYTES)
        pbc__c_string(&v, f->dflt->text, f->dflt->len);
      else
        pbc__c_default(&v, f);
      pbc_sb_puts(&note, ", default ");
      pbc__comment_text(&note, pbc_sb_str(&v), v.len);
      pbc_sb_free(&v);
    }
    if (s == PBC_STRING || s == PBC_BYTES)
      pbc_sb_printf(&note, "; a view, see %s%s_decode", g->prefix, d->name);
    pbc__member(h, pbc__c_type(s), f->name, width, pbc_sb_str(&note));
  }
  pbc_sb_free(&note);
  pbc_sb_printf(h, "} %s%s;\n", g->prefix, d->name);
}

static bool pbc__has_views(const pbc_decl *d) {
  for (size_t i = 0; i < d->fields.len; i++) {
    const pbc_field *f = d->fields.items[i];
    if (f->type->scalar == PBC_STRING || f->type->scalar == PBC_BYTES)
      return true;
  }
  return false;
}

static void pbc__gen_prototypes(pbc__gen *g, const pbc_decl *d) {
  pbc_strbuf *h = g->h;
  const char *p = g->prefix, *n = d->name;
  pbc_strbuf qn;
  pbc_sb_init(&qn);
  pbc__schema_name(&qn, d);
  pbc_sb_printf(h,
      "\n/** What the runtime knows of %s%s: its schema name \"%s\". */\n"
      "extern const pb_record_type %s%s_type;\n",
      p, n, pbc_sb_str(&qn), p, n);
  pbc_sb_free(&qn);
  pbc_sb_printf(h,
      "\n/** Sets *r to the defaults: zero, false, empty, or [default = x]. */\n"
      "void %s%s_init(%s%s *r);\n", p, n, p, n);
  pbc_sb_printf(h,
      "\n/**\n"
      " * Appends the encoding of *r to `out`: fields in ascending tag order,\n"
      " * a field equal to its default left out, an optional field written\n"
      " * when its has_ flag is set.  Returns pb_buf_error(out): PB_OK,\n"
      " * PB_ENOMEM or PB_ETOOBIG.\n"
      " */\n"
      "int %s%s_encode(const %s%s *r, pb_buf *out);\n", p, n, p, n);
  pbc_sb_printf(h,
      "\n/**\n"
      " * Decodes `size` bytes at `data` into *r, which is first set to the\n"
      " * defaults.  Fields with unknown tags are skipped.%s\n"
      " * Errors: PB_ECORRUPT (truncated or malformed input, a wrong wire type,\n"
      " * a value out of range%s); *r is then partly decoded.\n"
      " */\n"
      "int %s%s_decode(%s%s *r, const void *data, size_t size);\n",
      pbc__has_views(d) ? "  String and\n * bytes members are views into `data`."
                        : "",
      pbc__has_views(d) ? ", invalid UTF-8" : "", p, n, p, n);
  pbc_sb_printf(h,
      "\n/**\n"
      " * Encodes *r and stores it as a new atom of `txn`; *out receives its\n"
      " * pointer.  Errors: PB_ENOMEM; PB_ETOOBIG; PB_ERDONLY (a read-only\n"
      " * transaction).\n"
      " */\n"
      "int %s%s_put(pb_txn *txn, const %s%s *r, pb_atom_ptr *out);\n",
      p, n, p, n);
  pbc_sb_printf(h,
      "\n/**\n"
      " * Reads the record at `ptr` in `txn` and decodes it into *r.%s\n"
      " * Errors: PB_ENOTFOUND (no atom at ptr); PB_ECORRUPT; PB_ESCHEMA (a\n"
      " * record of another type); PB_EIO.\n"
      " */\n"
      "int %s%s_load(pb_txn *txn, pb_atom_ptr ptr, %s%s *r);\n",
      pbc__has_views(d) ? "  String\n * and bytes members stay valid until "
                          "the transaction ends."
                        : "",
      p, n, p, n);
}

static void pbc__gen_header(pbc__gen *g) {
  pbc_strbuf *h = g->h;
  const pbc_file *f = g->file;
  pbc_strbuf guard;
  pbc_sb_init(&guard);
  if (!((g->base[0] >= 'a' && g->base[0] <= 'z') ||
        (g->base[0] >= 'A' && g->base[0] <= 'Z')))
    pbc_sb_puts(&guard, "PB_");
  for (const char *s = g->base; *s; s++) {
    char c = *s;
    if (c >= 'a' && c <= 'z')
      c = (char)(c - 'a' + 'A');
    else if (!((c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')))
      c = '_';
    pbc_sb_putc(&guard, c);
  }
  pbc_sb_puts(&guard, "_PB_H");
  const char *gd = pbc_sb_str(&guard);

  pbc_sb_printf(h,
      "/* %s.pb.h - generated by pbc %s from %s.  Do not edit. */\n"
      "#ifndef %s\n#define %s\n\n"
      "#include <protobase/protobase.h>\n\n"
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
  /* Enums first: records may use them (once the generator supports it). */
  for (size_t i = 0; i < f->decls.len; i++) {
    const pbc_decl *d = f->decls.items[i];
    if (d->kind == PBC_DECL_ENUM)
      pbc__gen_enum(g, d);
  }
  for (size_t i = 0; i < f->decls.len; i++) {
    const pbc_decl *d = f->decls.items[i];
    if (d->kind == PBC_DECL_RECORD) {
      pbc__gen_struct(g, d);
      pbc__gen_prototypes(g, d);
    }
  }
  pbc_sb_printf(h, "\n#ifdef __cplusplus\n}\n#endif\n#endif /* %s */\n", gd);
  pbc_sb_free(&guard);
}

/* --- Source --- */

static int pbc__tag_cmp(const void *a, const void *b) {
  const pbc_field *x = *(const pbc_field *const *)a;
  const pbc_field *y = *(const pbc_field *const *)b;
  return x->tag < y->tag ? -1 : x->tag > y->tag;
}

static void pbc__gen_init(pbc__gen *g, const pbc_decl *d) {
  pbc_strbuf *c = g->c;
  pbc_sb_printf(c, "\nvoid %s%s_init(%s%s *r) {\n", g->prefix, d->name,
                g->prefix, d->name);
  pbc_sb_puts(c, "  memset(r, 0, sizeof *r);\n");
  for (size_t i = 0; i < d->fields.len; i++) {
    const pbc_field *f = d->fields.items[i];
    if (!pbc__has_default(f))
      continue;
    pbc_scalar s = f->type->scalar;
    pbc_sb_printf(c, "  r->%s = ", f->name);
    if (s == PBC_STRING) {
      pbc_sb_puts(c, "(pb_str){");
      pbc__c_string(c, f->dflt->text, f->dflt->len);
      pbc_sb_printf(c, ", %zu};\n", f->dflt->len);
    } else if (s == PBC_BYTES) {
      pbc_sb_puts(c, "(pb_bytes){(const uint8_t *)");
      pbc__c_string(c, f->dflt->text, f->dflt->len);
      pbc_sb_printf(c, ", %zu};\n", f->dflt->len);
    } else {
      pbc__c_default(c, f);
      pbc_sb_puts(c, ";\n");
    }
  }
  pbc_sb_puts(c, "}\n");
}

/* The condition under which a non-optional field is written. */
static void pbc__differs(pbc_strbuf *c, const pbc_field *f) {
  pbc_scalar s = f->type->scalar;
  const pbc_literal *l = f->dflt;
  if (s == PBC_BOOL) {
    pbc_sb_printf(c, "%sr->%s", l && l->b ? "!" : "", f->name);
  } else if (s == PBC_STRING || s == PBC_BYTES) {
    size_t len = pbc__has_default(f) ? l->len : 0;
    pbc_sb_printf(c, "r->%s.len != %zu", f->name, len);
    if (len) {
      pbc_sb_printf(c, " || memcmp(r->%s.ptr, ", f->name);
      pbc__c_string(c, l->text, l->len);
      pbc_sb_printf(c, ", %zu) != 0", len);
    }
  } else if (pbc_scalar_is_float(s) && !pbc__has_default(f)) {
    pbc_sb_printf(c, "r->%s != 0 || signbit(r->%s)", f->name, f->name);
  } else if (pbc_scalar_is_float(s) && l->kind == PBC_LIT_FLOAT && l->f == 0) {
    pbc_sb_printf(c, "r->%s != 0 || !signbit(r->%s)", f->name, f->name); /* -0.0 */
  } else {
    pbc_sb_printf(c, "r->%s != ", f->name);
    pbc__c_default(c, f);
  }
}

static void pbc__gen_encode(pbc__gen *g, const pbc_decl *d,
                            const pbc_field **by_tag) {
  pbc_strbuf *c = g->c;
  pbc_sb_printf(c, "\nint %s%s_encode(const %s%s *r, pb_buf *out) {\n",
                g->prefix, d->name, g->prefix, d->name);
  if (d->fields.len == 0)
    pbc_sb_puts(c, "  (void)r; /* no fields */\n");
  for (size_t i = 0; i < d->fields.len; i++) {
    const pbc_field *f = by_tag[i];
    if (f->optional)
      pbc_sb_printf(c, "  if (r->has_%s)\n", f->name);
    else {
      pbc_sb_puts(c, "  if (");
      pbc__differs(c, f);
      pbc_sb_puts(c, ")\n");
    }
    pbc_sb_printf(c, "    %s(out, %llu, r->%s);\n", pbc__writer(f->type->scalar),
                  (unsigned long long)f->tag, f->name);
  }
  pbc_sb_puts(c, "  return pb_buf_error(out);\n}\n");
}

static void pbc__gen_decode(pbc__gen *g, const pbc_decl *d,
                            const pbc_field **by_tag) {
  pbc_strbuf *c = g->c;
  pbc_sb_printf(c,
      "\nint %s%s_decode(%s%s *r, const void *data, size_t size) {\n"
      "  pb_reader rd;\n"
      "  pb_field f;\n"
      "  int rc;\n\n"
      "  %s%s_init(r);\n"
      "  pb_reader_init(&rd, data, size);\n"
      "  while ((rc = pb_reader_next(&rd, &f)) == 1) {\n"
      "    switch (f.tag) {\n",
      g->prefix, d->name, g->prefix, d->name, g->prefix, d->name);
  for (size_t i = 0; i < d->fields.len; i++) {
    const pbc_field *f = by_tag[i];
    pbc_sb_printf(c, "    case %llu:\n      rc = %s(&f, &r->%s);\n",
                  (unsigned long long)f->tag, pbc__reader(f->type->scalar),
                  f->name);
    if (f->optional)
      pbc_sb_printf(c, "      r->has_%s = true;\n", f->name);
    pbc_sb_puts(c, "      break;\n");
  }
  pbc_sb_puts(c,
      "    default: /* a tag this schema does not know: skipped */\n"
      "      rc = PB_OK;\n"
      "      break;\n"
      "    }\n"
      "    if (rc != PB_OK)\n"
      "      return rc;\n"
      "  }\n"
      "  return rc; /* PB_OK at the end of the input, or PB_ECORRUPT */\n"
      "}\n");
}

static void pbc__gen_storage(pbc__gen *g, const pbc_decl *d) {
  const char *p = g->prefix, *n = d->name;
  pbc_sb_printf(g->c,
      "\nint %s%s_put(pb_txn *txn, const %s%s *r, pb_atom_ptr *out) {\n"
      "  pb_buf buf;\n"
      "  int rc;\n\n"
      "  pb_buf_init(&buf);\n"
      "  rc = %s%s_encode(r, &buf);\n"
      "  if (rc == PB_OK)\n"
      "    rc = pb_txn_put_record(txn, &%s%s_type, buf.data, buf.len, out);\n"
      "  pb_buf_free(&buf);\n"
      "  return rc;\n"
      "}\n",
      p, n, p, n, p, n, p, n);
  pbc_sb_printf(g->c,
      "\nint %s%s_load(pb_txn *txn, pb_atom_ptr ptr, %s%s *r) {\n"
      "  pb_bytes body;\n"
      "  int rc = pb_txn_load_record(txn, &%s%s_type, ptr, &body);\n\n"
      "  if (rc != PB_OK)\n"
      "    return rc;\n"
      "  return %s%s_decode(r, body.ptr, body.len);\n"
      "}\n",
      p, n, p, n, p, n, p, n);
}

static void pbc__gen_source(pbc__gen *g) {
  pbc_strbuf *c = g->c;
  const pbc_file *f = g->file;
  bool floats = false;
  for (size_t i = 0; i < f->decls.len; i++) {
    const pbc_decl *d = f->decls.items[i];
    for (size_t k = 0; d->kind == PBC_DECL_RECORD && k < d->fields.len; k++) {
      const pbc_field *fl = d->fields.items[k];
      if (pbc_scalar_is_float(fl->type->scalar))
        floats = true;
    }
  }
  pbc_sb_printf(c,
      "/* %s.pb.c - generated by pbc %s from %s.  Do not edit. */\n"
      "#include \"%s.pb.h\"\n\n"
      "%s#include <string.h>\n",
      g->base, PBC_VERSION, g->input, g->base,
      floats ? "#include <math.h>\n" : "");
  for (size_t i = 0; i < f->decls.len; i++) {
    const pbc_decl *d = f->decls.items[i];
    if (d->kind != PBC_DECL_RECORD)
      continue;
    pbc_strbuf qn;
    pbc_sb_init(&qn);
    pbc__schema_name(&qn, d);
    pbc_sb_printf(c, "\n/* --- %s%s --- */\n\n"
                     "const pb_record_type %s%s_type = {\"%s\", "
                     "0 /* fingerprint: not computed yet */};\n",
                  g->prefix, d->name, g->prefix, d->name, pbc_sb_str(&qn));
    pbc_sb_free(&qn);
    const pbc_field **by_tag =
        pbc_xmalloc((d->fields.len ? d->fields.len : 1) * sizeof *by_tag);
    for (size_t k = 0; k < d->fields.len; k++)
      by_tag[k] = d->fields.items[k];
    qsort(by_tag, d->fields.len, sizeof *by_tag, pbc__tag_cmp);
    pbc__gen_init(g, d);
    pbc__gen_encode(g, d, by_tag);
    pbc__gen_decode(g, d, by_tag);
    pbc__gen_storage(g, d);
    free(by_tag);
  }
}

void pbc_gen_c(const pbc_file *f, pbc_strbuf *h, pbc_strbuf *c) {
  pbc__gen g;
  g.file = f;
  g.prefix = pbc__prefix(f);
  g.base = pbc_gen_c_base(f->src->path);
  g.input = pbc_basename(f->src->path);
  g.h = h;
  g.c = c;
  pbc__gen_header(&g);
  pbc__gen_source(&g);
  free(g.prefix);
  free(g.base);
}
