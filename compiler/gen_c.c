/*
 * gen_c.c - the C code generator: its checks, C names, and the driver that
 * writes both files.
 *
 * The output is meant to read like code a person wrote: one struct per
 * record with a comment per member, and plain functions that call the
 * runtime's wire.h writers and readers field by field.  The only macros
 * generated are constants (MAX_SIZE, fingerprints) and the type checks of
 * the table functions (gen_table.c).
 *
 * Struct members keep the schema's declaration order, plus a last member
 * `unknown_fields`; encode, decode and verify walk fields in ascending tag
 * order, which is what the encoding requires (wire.h: one value has exactly
 * one encoding).  gen_internal.h says which file generates what;
 * docs/generated.md is the contract of the output.
 */
#include "gen_c.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gen_internal.h"

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

char *pbc_gen_prefix(const pbc_file *f) {
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

void pbc_gen_cname(pbc_strbuf *sb, const pbc_decl *d) {
  if (d->file->package)
    for (const char *s = d->file->package; *s; s++)
      pbc_sb_putc(sb, *s == '.' ? '_' : *s);
  if (d->file->package)
    pbc_sb_putc(sb, '_');
  pbc_sb_puts(sb, d->name);
}

void pbc_gen_schema_name(pbc_strbuf *sb, const pbc_decl *d) {
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

typedef struct pbc__cnames {
  pbc__cname **names;
  size_t *n, *cap;
} pbc__cnames;

static void pbc__add_member_cname(void *ctx, const char *name,
                                  const pbc_loc *loc) {
  pbc__cnames *c = ctx;
  pbc__add_cname(c->names, c->n, c->cap, "", name, "", loc);
}

static void pbc__check_fields(const pbc_decl *d, pbc_diag *diag) {
  size_t n = d->fields.len;
  for (size_t i = 0; i < n; i++) {
    const pbc_field *f = d->fields.items[i];
    if (f->type->kind == PBC_TYPE_ARRAY &&
        f->type->elem->kind == PBC_TYPE_ARRAY)
      pbc_error(diag, f->type->loc, "arrays of arrays are not supported by "
                "the code generator (put the inner array in a record)");
    if (pbc__is_reserved_word(f->name))
      pbc_error(diag, f->loc, "field name '%s' is a C or C++ keyword", f->name);
    else if (pbc__is_macro_like(f->name))
      pbc_error(diag, f->loc, "field name '%s' may be a macro in the C "
                "headers that generated code includes", f->name);
    else if (strcmp(f->name, "unknown_fields") == 0)
      pbc_error(diag, f->loc, "field name 'unknown_fields' is taken by the "
                "generated member that keeps a newer schema's fields");
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

void pbc_gen_guard_stem(pbc_strbuf *sb, const char *base) {
  if (!((base[0] >= 'a' && base[0] <= 'z') || (base[0] >= 'A' && base[0] <= 'Z')))
    pbc_sb_puts(sb, "PB_");
  for (const char *s = base; *s; s++) {
    char c = *s;
    if (c >= 'a' && c <= 'z')
      c = (char)(c - 'a' + 'A');
    else if (!((c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')))
      c = '_';
    pbc_sb_putc(sb, c);
  }
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

  char *prefix = pbc_gen_prefix(f);
  pbc__cname *names = NULL;
  size_t n = 0, cap = 0;
  for (size_t i = 0; i < f->decls.len; i++) {
    const pbc_decl *d = f->decls.items[i];
    pbc__add_cname(&names, &n, &cap, prefix, d->name, "", &d->loc);
    if (d->kind == PBC_DECL_ENUM) {
      pbc__add_cname(&names, &n, &cap, prefix, d->name, "_name", &d->loc);
      pbc__add_cname(&names, &n, &cap, prefix, d->name, "_from_name", &d->loc);
      for (size_t k = 0; k < d->values.len; k++) {
        const pbc_enum_value *v = d->values.items[k];
        char *enum_prefix = pbc_xmalloc(strlen(prefix) + strlen(d->name) + 2);
        sprintf(enum_prefix, "%s%s_", prefix, d->name);
        pbc__add_cname(&names, &n, &cap, enum_prefix, v->name, "", &v->loc);
        free(enum_prefix);
      }
      continue;
    }
    static const char *const suffixes[] = {
        "_type",      "_init",       "_encode",      "_decode",
        "_verify",    "_put",        "_load",        "_MAX_SIZE",
        "_FINGERPRINT", "_decode_at", "_verify_at",  "_known_tags",
        "_decode_any", "_fields",    "_reserved"};
    for (size_t k = 0; k < sizeof suffixes / sizeof *suffixes; k++)
      pbc__add_cname(&names, &n, &cap, prefix, d->name, suffixes[k], &d->loc);
    size_t ntab;
    char **tab = pbc_gen_table_names(d, &ntab); /* gen_table.c */
    for (size_t k = 0; k < ntab; k++) {
      pbc__add_cname(&names, &n, &cap, prefix, d->name, tab[k], &d->loc);
      free(tab[k]);
    }
    free(tab);
    pbc_gen_member_names(d, pbc__add_member_cname,
                         &(pbc__cnames){&names, &n, &cap});
    pbc_gen_query_names(d, pbc__add_member_cname, /* gen_query.c */
                        &(pbc__cnames){&names, &n, &cap});
    pbc__check_fields(d, diag);
    pbc_gen_table_check(d, diag);
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
/* --- Driver --- */

static bool pbc__uses_floats(const pbc_file *f) {
  for (size_t i = 0; i < f->decls.len; i++) {
    const pbc_decl *d = f->decls.items[i];
    for (size_t k = 0; d->kind == PBC_DECL_RECORD && k < d->fields.len; k++) {
      pbc_gen_field gf = pbc_gen_classify(d->fields.items[k]);
      if (!gf.array && gf.elem.kind == PBC_GEN_SCALAR &&
          pbc_scalar_is_float(gf.elem.scalar))
        return true;
    }
  }
  return false;
}

static void pbc__gen_source(pbc_gen *g) {
  pbc_strbuf *c = g->c;
  const pbc_file *f = g->file;
  bool records = false;
  for (size_t i = 0; i < f->decls.len; i++)
    records = records ||
              ((const pbc_decl *)f->decls.items[i])->kind == PBC_DECL_RECORD;
  pbc_sb_printf(c,
      "/* %s.pb.c - generated by pbc %s from %s.  Do not edit. */\n"
      "#include \"%s.pb.h\"\n\n"
      "%s%s#include <string.h>\n",
      g->base, PBC_VERSION, g->input, g->base,
      pbc__uses_floats(f) ? "#include <math.h>\n" : "",
      records ? "#include <stdlib.h>\n" : ""); /* the queries' allocations */
  if (records)
    pbc_gen_query_prelude(g); /* gen_query.c */
  /* Decoders and verifiers of one file call each other, maybe in cycles. */
  bool any = false;
  for (size_t i = 0; i < f->decls.len; i++) {
    const pbc_decl *d = f->decls.items[i];
    if (d->kind != PBC_DECL_RECORD)
      continue;
    if (!any)
      pbc_sb_puts(c, "\n/* The workers of _decode and _verify, which call "
                     "each other for nested records. */\n");
    any = true;
    pbc_gen_sig_decode_at(g, d, ");\n");
    pbc_gen_sig_verify_at(g, d, ");\n");
  }
  for (size_t i = 0; i < f->decls.len; i++) {
    const pbc_decl *d = f->decls.items[i];
    if (d->kind == PBC_DECL_ENUM) {
      pbc_sb_printf(c, "\n/* --- %s%s --- */\n", g->prefix, d->name);
      pbc_gen_enum_functions(g, d);
      continue;
    }
    pbc_sb_printf(c, "\n/* --- %s%s --- */\n\n", g->prefix, d->name);
    pbc_gen_record_type(g, d);
    pbc_gen_init(g, d);
    pbc_gen_encode(g, d);
    pbc_gen_decode(g, d);
    pbc_gen_verify(g, d);
    pbc_gen_storage(g, d);
    pbc_gen_table(g, d); /* gen_table.c */
    pbc_gen_query(g, d); /* gen_query.c */
    pbc_gen_member_functions(g, d);
  }
  pbc_gen_type_list(g);
}

void pbc_gen_c(const pbc_file *f, pbc_strbuf *h, pbc_strbuf *c) {
  pbc_gen g;
  memset(&g, 0, sizeof g);
  g.file = f;
  g.prefix = pbc_gen_prefix(f);
  g.base = pbc_gen_c_base(f->src->path);
  g.input = pbc_basename(f->src->path);
  g.h = h;
  g.c = c;
  g.info_cap = 64;
  g.info = pbc_xcalloc(g.info_cap, sizeof *g.info);
  pbc_gen_find_recursive(&g);
  pbc_gen_header(&g);
  pbc__gen_source(&g);
  free(g.info);
  free(g.recur);
  free(g.prefix);
  free(g.base);
}
