/*
 * gen_table.c - the typed table of every record (docs/generated.md,
 * "Tables"): P_R_table (the pb_table_def of protobase/table.h), the typed
 * wrappers P_R_insert ... P_R_cursor_close, one finder and one range scan
 * per declared index (and a finder per leading part of a composite index),
 * and a getter per ref<> field.
 *
 * Every wrapper checks its pointers (PB_EINVAL), builds the encoded key
 * with protobase/key.h, and calls the pb_table_* function.  Keys: each
 * component is written by the pb_key_put_* of the field's declared type
 * (an enum as its int32, a ref by key as the key's type); an optional
 * field writes pb_key_put_bool(has) and then, only when present, its value,
 * so rows without it sort first.
 *
 * Type safety.  C converts a pointer to any struct into a pointer to any
 * other with a mere warning, so after the prototypes the header defines,
 * for C only, one function-like macro per function with the function's
 * name: it passes every argument on unchanged, routing each record,
 * cursor and key pointer through _Generic with only the right types listed
 * (no default), so a wrong one is a compile error without -Werror.  The
 * definitions in FILE.pb.c are written `int (P_R_insert)(...)`, which a
 * function-like macro does not expand.
 */
#include <stdlib.h>
#include <string.h>

#include "diag.h"
#include "gen_internal.h"

/* One field of an index (or the key), as the generator sees it. */
typedef struct pbc__kf {
  const pbc_field *f; /* the schema field */
  pbc_gen_elem e;     /* its type (a ref by key: the key's type) */
  const char *param;  /* its parameter name in the wrappers; heap */
} pbc__kf;

/* The state of one record's table. */
typedef struct pbc__tab {
  pbc_gen *g;
  const pbc_decl *d;
  char *n;               /* "P_R"; heap */
  const pbc_field *key;  /* the [key] field, or NULL: keyless */
  pbc__kf pk;            /* the key as a component (keyed) */
} pbc__tab;

/* Names that the wrappers use for their own parameters and locals. */
static bool pbc__taken(const char *s) {
  static const char *const words[] = {"txn", "cur", "c", "k", "kl", "kh",
                                      "bl", "bh", "rc", "lo", "hi", "flags",
                                      "r", "out", "i", "n"};
  for (size_t i = 0; i < sizeof words / sizeof *words; i++)
    if (strcmp(words[i], s) == 0)
      return true;
  return false;
}

static char *pbc__param_name(const char *field) {
  size_t len = strlen(field) + 3;
  char *s = pbc_xmalloc(len);
  snprintf(s, len, "%s%s", field, pbc__taken(field) ? "_v" : "");
  return s;
}

static pbc__kf pbc__kf_of(const pbc_field *f) {
  pbc__kf kf;
  kf.f = f;
  kf.e = pbc_gen_classify(f).elem;
  kf.param = pbc__param_name(f->name);
  return kf;
}

static const pbc_field *pbc__field_named(const pbc_decl *d, const char *name) {
  for (size_t i = 0; i < d->fields.len; i++) {
    const pbc_field *f = d->fields.items[i];
    if (strcmp(f->name, name) == 0)
      return f;
  }
  return NULL;
}

/* The fields of index ix; heap, ix->fields.len entries. */
static pbc__kf *pbc__index_fields(const pbc_decl *d, const pbc_index *ix) {
  pbc__kf *out = pbc_xmalloc(ix->fields.len * sizeof *out);
  for (size_t i = 0; i < ix->fields.len; i++)
    out[i] = pbc__kf_of(
        pbc__field_named(d, ((const pbc_ident *)ix->fields.items[i])->name));
  return out;
}

static void pbc__kf_free(pbc__kf *kf, size_t n) {
  for (size_t i = 0; i < n; i++)
    free((char *)kf[i].param);
  free(kf);
}

/* The pb_key_put_* function of an element. */
static const char *pbc__key_put(const pbc_gen_elem *e) {
  static const char *const puts[] = {
      [PBC_BOOL] = "pb_key_put_bool",     [PBC_INT8] = "pb_key_put_i8",
      [PBC_INT16] = "pb_key_put_i16",     [PBC_INT32] = "pb_key_put_i32",
      [PBC_INT64] = "pb_key_put_i64",     [PBC_UINT8] = "pb_key_put_u8",
      [PBC_UINT16] = "pb_key_put_u16",    [PBC_UINT32] = "pb_key_put_u32",
      [PBC_UINT64] = "pb_key_put_u64",    [PBC_FLOAT32] = "pb_key_put_f32",
      [PBC_FLOAT64] = "pb_key_put_f64",   [PBC_STRING] = "pb_key_put_str",
      [PBC_BYTES] = "pb_key_put_bytes"};
  return e->kind == PBC_GEN_ENUM ? "pb_key_put_i32" : puts[e->scalar];
}

/* `indent`pb_key_put_X(buf, value); (an enum through int32_t) */
static void pbc__put(pbc_strbuf *c, const char *indent, const char *buf,
                     const pbc_gen_elem *e, const char *value) {
  pbc_sb_printf(c, "%s%s(%s, %s%s);\n", indent, pbc__key_put(e), buf,
                e->kind == PBC_GEN_ENUM ? "(int32_t)" : "", value);
}

/*
 * Writes one key component of field kf into `buf`.  `value` is the C
 * expression of the value; `has` that of the presence of an optional field
 * (NULL: not optional).
 */
static void pbc__put_field(pbc_strbuf *c, const char *indent, const char *buf,
                           const pbc__kf *kf, const char *value,
                           const char *has) {
  if (!has || !kf->f->optional) {
    pbc__put(c, indent, buf, &kf->e, value);
    return;
  }
  pbc_sb_printf(c, "%spb_key_put_bool(%s, %s);\n%sif (%s)\n", indent, buf,
                has, indent, has);
  pbc_strbuf in;
  pbc_sb_init(&in);
  pbc_sb_printf(&in, "%s  ", indent);
  pbc__put(c, pbc_sb_str(&in), buf, &kf->e, value);
  pbc_sb_free(&in);
}

/* The C type of a key field's value. */
static void pbc__ctype(pbc_strbuf *sb, const pbc__kf *kf) {
  pbc_gen_elem_ctype(sb, &kf->e);
}

/* Appends `head`, the `n` arguments, then `tail`, wrapped at 80 columns
 * (pbc_gen_wrapped for a list built at run time). */
static void pbc__wrapped(pbc_strbuf *sb, size_t col, const char *head,
                         const char *tail, char **args, size_t n) {
  size_t cur = col + strlen(head);
  size_t align = cur <= 40 ? cur : col + 4;
  pbc_sb_puts(sb, head);
  for (size_t i = 0; i < n; i++) {
    const char *nl = strchr(tail, '\n');
    size_t len = strlen(args[i]) +
                 (i + 1 < n ? 1 : nl ? (size_t)(nl - tail) : strlen(tail));
    if (i > 0 && cur + 1 + len > 80) {
      pbc_sb_putc(sb, '\n');
      pbc_sb_pad(sb, ' ', align);
      cur = align;
    } else if (i > 0) {
      pbc_sb_putc(sb, ' ');
      cur++;
    }
    pbc_sb_puts(sb, args[i]);
    pbc_sb_puts(sb, i + 1 < n ? "," : tail);
    cur += len;
  }
}

/* A list of heap strings. */
typedef struct pbc__args {
  char **v;
  size_t n, cap;
} pbc__args;

static void pbc__arg(pbc__args *a, const char *fmt, ...) PBC_PRINTF(2, 3);
static void pbc__arg(pbc__args *a, const char *fmt, ...) {
  if (a->n == a->cap) {
    a->cap = a->cap ? 2 * a->cap : 8;
    a->v = pbc_xrealloc(a->v, a->cap * sizeof *a->v);
  }
  pbc_strbuf sb;
  pbc_sb_init(&sb);
  va_list ap;
  va_start(ap, fmt);
  pbc_sb_vprintf(&sb, fmt, ap);
  va_end(ap);
  a->v[a->n++] = pbc_xstrdup(pbc_sb_str(&sb));
  pbc_sb_free(&sb);
}

static void pbc__args_free(pbc__args *a) {
  for (size_t i = 0; i < a->n; i++)
    free(a->v[i]);
  free(a->v);
  memset(a, 0, sizeof *a);
}

/* A parameter "TYPE name" (an optional field: "const TYPE *name"). */
static void pbc__arg_value(pbc__args *a, const pbc__kf *kf, bool ptr) {
  pbc_strbuf t;
  pbc_sb_init(&t);
  pbc__ctype(&t, kf);
  if (ptr)
    pbc__arg(a, "const %s *%s", pbc_sb_str(&t), kf->param);
  else
    pbc__arg(a, "%s %s", pbc_sb_str(&t), kf->param);
  pbc_sb_free(&t);
}

/* --- Names and checks --- */

/* Whether a ref<> field's target has a key, and that target. */
static const pbc_decl *pbc__ref_target(const pbc_field *f, bool *array) {
  const pbc_type *t = f->type;
  *array = t->kind == PBC_TYPE_ARRAY;
  if (*array)
    t = t->elem;
  return t->kind == PBC_TYPE_REF ? t->elem->decl : NULL;
}

static void pbc__name(pbc__args *a, const char *fmt, const char *x,
                      const char *y) {
  pbc__arg(a, fmt, x, y);
}

char **pbc_gen_table_names(const pbc_decl *d, size_t *n) {
  pbc__args a = {0};
  static const char *const fixed[] = {
      "_table",  "_cursor",     "_insert",     "_update",   "_get",
      "_delete", "_count",      "_scan",       "_next",     "_cursor_close",
      "_init_any", "_encode_any", "_indexes",  "_members"};
  for (size_t i = 0; i < sizeof fixed / sizeof *fixed; i++)
    pbc__arg(&a, "%s", fixed[i]);
  if (pbc_gen_key_field(d)) {
    pbc__arg(&a, "_upsert");
    pbc__arg(&a, "_pkey");
  }
  for (size_t i = 0; i < d->indexes.len; i++) {
    const pbc_index *ix = d->indexes.items[i];
    pbc__name(&a, "_find_by_%s%s", ix->name, "");
    pbc__name(&a, "_range_by_%s%s", ix->name, "");
    pbc__name(&a, "_%s%s", ix->name, "_entry");
    pbc__name(&a, "_%s%s", ix->name, "_tags");
    if (ix->fields.len > 1)
      pbc__name(&a, "_%s%s", ix->name, "_key");
    for (size_t k = 0; k + 1 < ix->fields.len; k++)
      pbc__arg(&a, "_find_by_%s_upto_%s", ix->name,
               ((const pbc_ident *)ix->fields.items[k])->name);
  }
  for (size_t i = 0; i < d->fields.len; i++) {
    const pbc_field *f = d->fields.items[i];
    bool array;
    if (pbc__ref_target(f, &array))
      pbc__name(&a, "_%s%s", f->name, "_get");
  }
  *n = a.n;
  return a.v;
}

void pbc_gen_table_check(const pbc_decl *d, pbc_diag *diag) {
  for (size_t i = 0; i < d->indexes.len; i++) {
    const pbc_index *ix = d->indexes.items[i];
    for (size_t k = 0; k < ix->fields.len; k++) {
      const pbc_ident *id = ix->fields.items[k];
      const pbc_field *f = pbc__field_named(d, id->name);
      if (!f || f->type->kind != PBC_TYPE_REF ||
          pbc_gen_key_field(f->type->elem->decl))
        continue;
      pbc_error(diag, id->loc, "field '%s' cannot be indexed: it refers to "
                "record '%s', which has no [key], by an atom pointer, and "
                "compaction moves atoms", f->name, f->type->elem->decl->name);
    }
  }
}

/* --- Header --- */

/* The macro that checks an integer, bool or enum value (see the prelude). */
#define PBC__INTEGER "PB_GENERATED_INTEGER"

void pbc_gen_table_prelude(pbc_gen *g) {
  pbc_sb_puts(g->h,
      "\n#if !defined(__cplusplus) && !defined(PB_GENERATED_INTEGER)\n"
      "/* The tables' type checks (below) pass an integer, bool or enum key\n"
      " * value through this: any integer type passes, a pointer is a compile\n"
      " * error (C itself converts one to an integer with a mere warning). */\n"
      "#define PB_GENERATED_INTEGER(x) \\\n"
      "  _Generic((x), _Bool: (x), char: (x), signed char: (x), \\\n"
      "           unsigned char: (x), short: (x), unsigned short: (x), \\\n"
      "           int: (x), unsigned: (x), long: (x), unsigned long: (x), \\\n"
      "           long long: (x), unsigned long long: (x))\n"
      "#endif\n");
}

/* True for a value that C would silently take from a pointer. */
static bool pbc__integer(const pbc_gen_elem *e) {
  return e->kind == PBC_GEN_ENUM ||
         (e->kind == PBC_GEN_SCALAR && (e->scalar == PBC_BOOL ||
                                        pbc_scalar_is_int(e->scalar)));
}

/* True when one of the n fields is a string (bad UTF-8: PB_EINVAL). */
static bool pbc__any_string(const pbc__kf *kf, size_t n) {
  for (size_t i = 0; i < n; i++)
    if (kf[i].e.kind == PBC_GEN_SCALAR && kf[i].e.scalar == PBC_STRING)
      return true;
  return false;
}

/* The macro argument of a value: checked when it is an integer. */
static void pbc__value_arg(pbc__args *a, const pbc_gen_elem *e,
                           const char *x) {
  if (pbc__integer(e))
    pbc__arg(a, "%s(%s)", PBC__INTEGER, x);
  else
    pbc__arg(a, "(%s)", x);
}

/*
 * A doc comment holding `text` wrapped at 80 columns; a
 * '\n' in text starts a new line.
 */
static void pbc__comment(pbc_strbuf *h, const char *text) {
  pbc_sb_puts(h, "\n/**\n");
  const char *p = text;
  while (*p) {
    const char *eol = strchr(p, '\n');
    size_t n = eol ? (size_t)(eol - p) : strlen(p);
    size_t col = 3;
    pbc_sb_puts(h, " *");
    const char *end = p + n;
    while (p < end) {
      while (p < end && *p == ' ')
        p++;
      const char *w = p;
      while (p < end && *p != ' ')
        p++;
      size_t wl = (size_t)(p - w);
      if (wl == 0)
        break;
      if (col > 3 && col + 1 + wl > 78) {
        pbc_sb_puts(h, "\n *");
        col = 3;
      }
      pbc_sb_putc(h, ' ');
      pbc_sb_putn(h, w, wl);
      col += 1 + wl;
      /* Two spaces after a sentence, as the other comments have them. */
      if (p + 1 < end && p[0] == ' ' && p[1] == ' ' && col + 1 <= 78) {
        pbc_sb_putc(h, ' ');
        col++;
      }
    }
    pbc_sb_putc(h, '\n');
    p = eol ? eol + 1 : end;
  }
  pbc_sb_puts(h, " */\n");
}

static const char pbc__common_errors[] =
    " * Also PB_ESCHEMA, PB_ENOMEM, PB_EIO, PB_ECORRUPT (protobase/table.h).\n";
static const char pbc__change_errors[] =
    " * Also PB_ERDONLY, PB_ETOOBIG, a failed transaction's latched error,\n"
    " * PB_ESCHEMA, PB_ENOMEM, PB_EIO, PB_ECORRUPT (protobase/table.h).\n";

/* The function's prototype, wrapped: "int NAME(" args ");" */
static void pbc__proto(pbc_strbuf *h, const char *ret, const char *name,
                       pbc__args *a) {
  pbc_strbuf head;
  pbc_sb_init(&head);
  pbc_sb_printf(&head, "%s %s(", ret, name);
  pbc__wrapped(h, 0, pbc_sb_str(&head), ");\n", a->v, a->n);
  pbc_sb_free(&head);
  pbc__args_free(a);
}

/* A macro: "#define NAME(params) \\\n  NAME(args)\n", args given. */
static void pbc__macro(pbc_strbuf *h, const char *name, pbc__args *params,
                       pbc__args *args) {
  pbc_sb_printf(h, "#define %s(", name);
  for (size_t i = 0; i < params->n; i++)
    pbc_sb_printf(h, "%s%s", i ? ", " : "", params->v[i]);
  pbc_sb_printf(h, ") \\\n  %s(", name);
  size_t col = 3 + strlen(name);
  for (size_t i = 0; i < args->n; i++) {
    const char *nl = strchr(args->v[i], '\n');
    size_t len = nl ? (size_t)(nl - args->v[i]) : strlen(args->v[i]);
    if ((nl && col > 4) || col + 2 + len + 1 > 78) {
      pbc_sb_puts(h, i > 0 ? ", \\\n    " : "\\\n    ");
      col = 4;
    } else if (i > 0) {
      pbc_sb_puts(h, ", ");
      col += 2;
    }
    pbc_sb_puts(h, args->v[i]);
    const char *last = strrchr(args->v[i], '\n');
    col = last ? strlen(last + 1) : col + len;
  }
  pbc_sb_puts(h, ")\n");
  pbc__args_free(params);
  pbc__args_free(args);
}

/* _Generic((x), T1: (x), T2: (x)...) for the NULL-terminated types. */
static void pbc__generic(pbc__args *a, const char *x, ...) {
  pbc_strbuf sb;
  pbc_sb_init(&sb);
  pbc_sb_printf(&sb, "_Generic((%s)", x);
  size_t len = sb.len;
  va_list ap;
  va_start(ap, x);
  for (const char *t = va_arg(ap, const char *); t;
       t = va_arg(ap, const char *))
    len += strlen(t) + strlen(x) + 6;
  va_end(ap);
  va_start(ap, x);
  for (const char *t = va_arg(ap, const char *); t;
       t = va_arg(ap, const char *))
    pbc_sb_printf(&sb, ",%s%s: (%s)", len > 72 ? " \\\n             " : " ",
                  t, x);
  va_end(ap);
  pbc_sb_putc(&sb, ')');
  pbc__arg(a, "%s", pbc_sb_str(&sb));
  pbc_sb_free(&sb);
}

/* The _Generic of a value pointer: const T *, T *, or void * (NULL). */
static void pbc__generic_ptr(pbc__args *a, const char *x, const char *type) {
  pbc_strbuf c, m;
  pbc_sb_init(&c);
  pbc_sb_init(&m);
  pbc_sb_printf(&c, "const %s *", type);
  pbc_sb_printf(&m, "%s *", type);
  pbc__generic(a, x, pbc_sb_str(&c), pbc_sb_str(&m), "void *",
               (const char *)NULL);
  pbc_sb_free(&c);
  pbc_sb_free(&m);
}

static void pbc__generic_cursor(pbc__tab *t, pbc__args *a) {
  pbc_strbuf ty;
  pbc_sb_init(&ty);
  pbc_sb_printf(&ty, "%s_cursor **", t->n);
  pbc__generic(a, "cur", pbc_sb_str(&ty), (const char *)NULL);
  pbc_sb_free(&ty);
}

/* The composite key struct of index ix. */
static void pbc__key_struct(pbc__tab *t, const pbc_index *ix,
                            const pbc__kf *kf) {
  pbc_strbuf *h = t->g->h;
  pbc_strbuf doc;
  pbc_sb_init(&doc);
  pbc_sb_printf(&doc, "The fields of index %s: the bounds of %s_range_by_%s.",
                ix->name, t->n, ix->name);
  pbc__comment(h, pbc_sb_str(&doc));
  pbc_sb_free(&doc);
  pbc_sb_printf(h, "typedef struct %s_%s_key {\n", t->n, ix->name);
  pbc_strbuf ty;
  pbc_sb_init(&ty);
  for (size_t i = 0; i < ix->fields.len; i++) {
    ty.len = 0;
    pbc__ctype(&ty, &kf[i]);
    if (kf[i].f->optional)
      pbc_sb_printf(h, "  bool has_%s; /* false: the field is absent */\n",
                    kf[i].f->name);
    pbc_sb_printf(h, "  %s %s;\n", pbc_sb_str(&ty), kf[i].f->name);
  }
  pbc_sb_printf(h, "} %s_%s_key;\n", t->n, ix->name);
  pbc_sb_free(&ty);
}

static void pbc__header_index(pbc__tab *t, size_t xi) {
  pbc_strbuf *h = t->g->h;
  const pbc_index *ix = t->d->indexes.items[xi];
  size_t nf = ix->fields.len;
  pbc__kf *kf = pbc__index_fields(t->d, ix);
  pbc_strbuf fn, ty;
  pbc_sb_init(&fn);
  pbc_sb_init(&ty);
  if (nf > 1)
    pbc__key_struct(t, ix, kf);
  /* find_by_X and find_by_X_upto_<fk>. */
  for (size_t k = nf; k >= 1; k--) {
    fn.len = 0;
    if (k == nf)
      pbc_sb_printf(&fn, "%s_find_by_%s", t->n, ix->name);
    else
      pbc_sb_printf(&fn, "%s_find_by_%s_upto_%s", t->n, ix->name,
                    kf[k - 1].f->name);
    pbc_strbuf doc;
    pbc_sb_init(&doc);
    pbc_sb_puts(&doc, "Opens *cur over the rows with the given ");
    bool opt = false;
    for (size_t i = 0; i < k; i++) {
      pbc_sb_printf(&doc, "%s%s", i ? (i + 1 == k ? " and " : ", ") : "",
                    kf[i].f->name);
      opt = opt || kf[i].f->optional;
    }
    pbc_sb_printf(&doc, "%s, in %sprimary-key order.",
                  k < nf ? " (the first fields of index " : "",
                  k < nf ? "" : "");
    if (k < nf) {
      doc.len -= strlen(", in primary-key order.");
      pbc_sb_printf(&doc, "%s), in index order, then primary-key order.",
                    ix->name);
    }
    if (opt)
      pbc_sb_puts(&doc, "  An optional field's value is a pointer: NULL "
                        "finds the rows without the field.");
    pbc_sb_printf(&doc, "%s\nErrors: PB_EINVAL (a NULL txn or cur%s).\n"
                        "Also PB_ESCHEMA, PB_ENOMEM, PB_EIO, PB_ECORRUPT "
                        "(protobase/table.h).",
                  ix->unique && k == nf ? "  The index is [unique]: at most "
                                          "one row." : "",
                  pbc__any_string(kf, k) ? ", a string that is not UTF-8"
                                         : "");
    pbc__comment(h, pbc_sb_str(&doc));
    pbc_sb_free(&doc);
    pbc__args a = {0};
    pbc__arg(&a, "pb_txn *txn");
    for (size_t i = 0; i < k; i++)
      pbc__arg_value(&a, &kf[i], kf[i].f->optional);
    pbc__arg(&a, "%s_cursor **cur", t->n);
    pbc__proto(h, "int", pbc_sb_str(&fn), &a);
  }
  /* range_by_X. */
  ty.len = 0;
  if (nf == 1)
    pbc__ctype(&ty, &kf[0]);
  else
    pbc_sb_printf(&ty, "%s_%s_key", t->n, ix->name);
  pbc_strbuf doc;
  pbc_sb_init(&doc);
  pbc_sb_puts(&doc, "Opens *cur over the rows whose ");
  if (nf > 1)
    pbc_sb_puts(&doc, "(");
  for (size_t i = 0; i < nf; i++)
    pbc_sb_printf(&doc, "%s%s", i ? ", " : "", kf[i].f->name);
  pbc_sb_printf(&doc,
      "%s lies between *lo and *hi, in index order, then primary-key "
      "order.  A NULL bound is open; lo is inclusive and hi exclusive, "
      "unless flags has PB_SCAN_LO_EXCL, PB_SCAN_HI_INCL; PB_SCAN_REVERSE: "
      "descending.",
      nf > 1 ? ")" : "");
  bool opt = false;
  for (size_t i = 0; i < nf; i++)
    opt = opt || kf[i].f->optional;
  if (opt && nf == 1)
    pbc_sb_puts(&doc, "  Rows without the field sort first: only an open lo "
                      "includes them.");
  else if (opt)
    pbc_sb_puts(&doc, "  A bound's has_ flag false is the absent field, "
                      "which sorts before every value.");
  pbc_sb_printf(&doc, "\nErrors: PB_EINVAL (a NULL txn or cur, another "
                      "flag%s).\nAlso PB_ESCHEMA, PB_ENOMEM, PB_EIO, "
                      "PB_ECORRUPT (protobase/table.h).",
                pbc__any_string(kf, nf) ? ", a string that is not UTF-8"
                                        : "");
  pbc__comment(h, pbc_sb_str(&doc));
  pbc_sb_free(&doc);
  fn.len = 0;
  pbc_sb_printf(&fn, "%s_range_by_%s", t->n, ix->name);
  pbc__args a = {0};
  pbc__arg(&a, "pb_txn *txn");
  pbc__arg(&a, "const %s *lo", pbc_sb_str(&ty));
  pbc__arg(&a, "const %s *hi", pbc_sb_str(&ty));
  pbc__arg(&a, "unsigned flags");
  pbc__arg(&a, "%s_cursor **cur", t->n);
  pbc__proto(h, "int", pbc_sb_str(&fn), &a);
  pbc_sb_free(&fn);
  pbc_sb_free(&ty);
  pbc__kf_free(kf, nf);
}

/* The type checks of index xi's functions. */
static void pbc__macros_index(pbc__tab *t, size_t xi) {
  pbc_strbuf *h = t->g->h;
  const pbc_index *ix = t->d->indexes.items[xi];
  size_t nf = ix->fields.len;
  pbc__kf *kf = pbc__index_fields(t->d, ix);
  pbc_strbuf fn, ty;
  pbc_sb_init(&fn);
  pbc_sb_init(&ty);
  for (size_t k = nf; k >= 1; k--) {
    fn.len = 0;
    if (k == nf)
      pbc_sb_printf(&fn, "%s_find_by_%s", t->n, ix->name);
    else
      pbc_sb_printf(&fn, "%s_find_by_%s_upto_%s", t->n, ix->name,
                    kf[k - 1].f->name);
    pbc__args p = {0}, a = {0};
    pbc__arg(&p, "txn");
    pbc__arg(&a, "(txn)");
    for (size_t i = 0; i < k; i++) {
      pbc__arg(&p, "v%zu", i + 1);
      char v[32];
      snprintf(v, sizeof v, "v%zu", i + 1);
      if (kf[i].f->optional) {
        ty.len = 0;
        pbc__ctype(&ty, &kf[i]);
        pbc__generic_ptr(&a, v, pbc_sb_str(&ty));
      } else {
        pbc__value_arg(&a, &kf[i].e, v);
      }
    }
    pbc__arg(&p, "cur");
    pbc__generic_cursor(t, &a);
    pbc__macro(h, pbc_sb_str(&fn), &p, &a);
  }
  ty.len = 0;
  if (nf == 1)
    pbc__ctype(&ty, &kf[0]);
  else
    pbc_sb_printf(&ty, "%s_%s_key", t->n, ix->name);
  fn.len = 0;
  pbc_sb_printf(&fn, "%s_range_by_%s", t->n, ix->name);
  pbc__args p = {0}, a = {0};
  pbc__arg(&p, "txn");
  pbc__arg(&p, "lo");
  pbc__arg(&p, "hi");
  pbc__arg(&p, "flags");
  pbc__arg(&p, "cur");
  pbc__arg(&a, "(txn)");
  pbc__generic_ptr(&a, "lo", pbc_sb_str(&ty));
  pbc__generic_ptr(&a, "hi", pbc_sb_str(&ty));
  pbc__arg(&a, "(flags)");
  pbc__generic_cursor(t, &a);
  pbc__macro(h, pbc_sb_str(&fn), &p, &a);
  pbc_sb_free(&fn);
  pbc_sb_free(&ty);
  pbc__kf_free(kf, nf);
}

static void pbc__header_refs(pbc__tab *t) {
  pbc_strbuf *h = t->g->h;
  for (size_t i = 0; i < t->d->fields.len; i++) {
    const pbc_field *f = t->d->fields.items[i];
    bool array;
    const pbc_decl *to = pbc__ref_target(f, &array);
    if (!to)
      continue;
    bool keyed = pbc_gen_key_field(to) != NULL;
    pbc_strbuf tn, fn;
    pbc_sb_init(&tn);
    pbc_sb_init(&fn);
    pbc_gen_cname(&tn, to);
    pbc_sb_printf(&fn, "%s_%s_get", t->n, f->name);
    pbc_strbuf doc;
    pbc_sb_init(&doc);
    pbc_sb_printf(&doc, "Reads the %s that r->%s%s refers to into *out: ",
                  to->name, f->name, array ? ".items[i]" : "");
    if (keyed)
      pbc_sb_printf(&doc, "the row of %s_table with that key, in txn's "
                          "snapshot (%s_get).  Inserts do not check refs: "
                          "PB_ENOTFOUND when there is no such row",
                    pbc_sb_str(&tn), pbc_sb_str(&tn));
    else
      pbc_sb_printf(&doc, "the atom it points to (%s_load), an immutable "
                          "value.  PB_ENOTFOUND for the null pointer",
                    pbc_sb_str(&tn));
    if (f->optional)
      pbc_sb_printf(&doc, ", or when has_%s is false", f->name);
    pbc_sb_puts(&doc, ".\nErrors: PB_EINVAL (a NULL txn, r or out); ");
    if (array)
      pbc_sb_printf(&doc, "PB_ERANGE (i >= r->%s.count); ", f->name);
    pbc_sb_printf(&doc, "and those of %s_%s.", pbc_sb_str(&tn),
                  keyed ? "get" : "load");
    pbc__comment(h, pbc_sb_str(&doc));
    pbc_sb_free(&doc);
    pbc__args a = {0};
    pbc__arg(&a, "pb_txn *txn");
    pbc__arg(&a, "const %s *r", t->n);
    if (array)
      pbc__arg(&a, "size_t i");
    pbc__arg(&a, "%s *out", pbc_sb_str(&tn));
    pbc__proto(h, "int", pbc_sb_str(&fn), &a);
    pbc_sb_free(&tn);
    pbc_sb_free(&fn);
  }
}

static void pbc__macros_refs(pbc__tab *t) {
  pbc_strbuf *h = t->g->h;
  for (size_t i = 0; i < t->d->fields.len; i++) {
    const pbc_field *f = t->d->fields.items[i];
    bool array;
    const pbc_decl *to = pbc__ref_target(f, &array);
    if (!to)
      continue;
    pbc_strbuf tn, fn, rc, rm;
    pbc_sb_init(&tn);
    pbc_sb_init(&fn);
    pbc_sb_init(&rc);
    pbc_sb_init(&rm);
    pbc_gen_cname(&tn, to);
    pbc_sb_puts(&tn, " *");
    pbc_sb_printf(&fn, "%s_%s_get", t->n, f->name);
    pbc_sb_printf(&rc, "const %s *", t->n);
    pbc_sb_printf(&rm, "%s *", t->n);
    pbc__args p = {0}, a = {0};
    pbc__arg(&p, "txn");
    pbc__arg(&p, "r");
    pbc__arg(&a, "(txn)");
    pbc__generic(&a, "r", pbc_sb_str(&rc), pbc_sb_str(&rm), (const char *)NULL);
    if (array) {
      pbc__arg(&p, "i");
      pbc__arg(&a, "(i)");
    }
    pbc__arg(&p, "out");
    pbc__generic(&a, "out", pbc_sb_str(&tn), (const char *)NULL);
    pbc__macro(h, pbc_sb_str(&fn), &p, &a);
    pbc_sb_free(&tn);
    pbc_sb_free(&fn);
    pbc_sb_free(&rc);
    pbc_sb_free(&rm);
  }
}

static void pbc__tab_init(pbc__tab *t, pbc_gen *g, const pbc_decl *d) {
  memset(t, 0, sizeof *t);
  t->g = g;
  t->d = d;
  pbc_strbuf n;
  pbc_sb_init(&n);
  pbc_gen_cname(&n, d);
  t->n = pbc_xstrdup(pbc_sb_str(&n));
  pbc_sb_free(&n);
  t->key = pbc_gen_key_field(d);
  if (t->key)
    t->pk = pbc__kf_of(t->key);
}

static void pbc__tab_free(pbc__tab *t) {
  free(t->n);
  free((char *)t->pk.param);
}

void pbc_gen_table_header(pbc_gen *g, const pbc_decl *d) {
  pbc__tab t;
  pbc__tab_init(&t, g, d);
  pbc_strbuf *h = g->h;
  const char *n = t.n;
  pbc_strbuf kt, fn;
  pbc_sb_init(&kt);
  pbc_sb_init(&fn);
  if (t.key)
    pbc__ctype(&kt, &t.pk);
  else
    pbc_sb_puts(&kt, "uint64_t");
  const char *k = pbc_sb_str(&kt);

  pbc_sb_printf(h, "\n/* --- The table of %s --- */\n", d->name);
  pbc_strbuf doc;
  pbc_sb_init(&doc);
  pbc_sb_printf(&doc, "The table of %s (protobase/table.h): its rows in the "
                      "order of %s%s, its indexes kept in the same "
                      "transaction as every change.",
                d->name, t.key ? "the key " : "their ids (1, 2, ...: never "
                                             "reused)",
                t.key ? t.key->name : "");
  pbc__comment(h, pbc_sb_str(&doc));
  pbc_sb_printf(h, "extern const pb_table_def %s_table;\n", n);
  doc.len = 0;
  pbc_sb_printf(&doc, "A cursor over rows of %s: a pb_cursor, given only to "
                      "%s_next and %s_cursor_close (never defined: a "
                      "distinct type per record).", d->name, n, n);
  pbc__comment(h, pbc_sb_str(&doc));
  pbc_sb_printf(h, "typedef struct %s_cursor %s_cursor;\n", n, n);
  pbc__args a = {0};
  if (t.key) {
    pbc_sb_printf(h,
        "\n/**\n * Inserts *r as a new row.  Errors: PB_EEXIST (a row has "
        "its key, or a\n * [unique] index has one of its values: nothing "
        "changes); PB_EINVAL (a\n * NULL txn or r, a string that is not "
        "UTF-8).\n%s */\n", pbc__change_errors);
    pbc__arg(&a, "pb_txn *txn");
    pbc__arg(&a, "const %s *r", n);
    fn.len = 0;
    pbc_sb_printf(&fn, "%s_insert", n);
    pbc__proto(h, "int", pbc_sb_str(&fn), &a);
    pbc_sb_printf(h,
        "\n/**\n * Inserts *r, or replaces the row with its key.  Errors: "
        "PB_EEXIST (a\n * [unique] index has one of its values in another "
        "row); PB_EINVAL.\n%s */\n", pbc__change_errors);
    pbc__arg(&a, "pb_txn *txn");
    pbc__arg(&a, "const %s *r", n);
    fn.len = 0;
    pbc_sb_printf(&fn, "%s_upsert", n);
    pbc__proto(h, "int", pbc_sb_str(&fn), &a);
    pbc_sb_printf(h,
        "\n/**\n * Replaces the row with r's key by *r.  Errors: PB_ENOTFOUND "
        "(no such\n * row); PB_EEXIST ([unique] index); PB_EINVAL.\n%s */\n",
        pbc__change_errors);
    pbc__arg(&a, "pb_txn *txn");
    pbc__arg(&a, "const %s *r", n);
    fn.len = 0;
    pbc_sb_printf(&fn, "%s_update", n);
    pbc__proto(h, "int", pbc_sb_str(&fn), &a);
    doc.len = 0;
    pbc_sb_printf(&doc, "Reads the row with key `%s` into *r.  Views and "
                        "arrays stay valid until the transaction ends.  "
                        "Errors: PB_ENOTFOUND; PB_EINVAL (a NULL txn or r%s)."
                        "\nAlso PB_ESCHEMA, PB_ENOMEM, PB_EIO, PB_ECORRUPT "
                        "(protobase/table.h).",
                  t.pk.param, pbc__any_string(&t.pk, 1)
                                  ? ", a string that is not UTF-8" : "");
    pbc__comment(h, pbc_sb_str(&doc));
    doc.len = 0;
    pbc__arg(&a, "pb_txn *txn");
    pbc__arg(&a, "%s %s", k, t.pk.param);
    pbc__arg(&a, "%s *r", n);
    fn.len = 0;
    pbc_sb_printf(&fn, "%s_get", n);
    pbc__proto(h, "int", pbc_sb_str(&fn), &a);
    pbc_sb_printf(h,
        "\n/**\n * Deletes the row with key `%s`, its index entries and its "
        "member\n * collections.  Errors: PB_ENOTFOUND; PB_EINVAL.\n%s */\n",
        t.pk.param, pbc__change_errors);
    pbc__arg(&a, "pb_txn *txn");
    pbc__arg(&a, "%s %s", k, t.pk.param);
    fn.len = 0;
    pbc_sb_printf(&fn, "%s_delete", n);
    pbc__proto(h, "int", pbc_sb_str(&fn), &a);
  } else {
    pbc_sb_printf(h,
        "\n/**\n * Inserts *r as a new row; *id receives the id the table "
        "gave it.\n * Errors: PB_EEXIST (a [unique] index has one of its "
        "values: nothing\n * changes); PB_EINVAL (a NULL txn, r or id, a "
        "string that is not UTF-8).\n%s */\n", pbc__change_errors);
    pbc__arg(&a, "pb_txn *txn");
    pbc__arg(&a, "const %s *r", n);
    pbc__arg(&a, "uint64_t *id");
    fn.len = 0;
    pbc_sb_printf(&fn, "%s_insert", n);
    pbc__proto(h, "int", pbc_sb_str(&fn), &a);
    pbc_sb_printf(h,
        "\n/**\n * Replaces row `id` by *r.  Errors: PB_ENOTFOUND (no such "
        "row); PB_EEXIST\n * ([unique] index); PB_EINVAL (a NULL txn or r).\n"
        "%s */\n", pbc__change_errors);
    pbc__arg(&a, "pb_txn *txn");
    pbc__arg(&a, "uint64_t id");
    pbc__arg(&a, "const %s *r", n);
    fn.len = 0;
    pbc_sb_printf(&fn, "%s_update", n);
    pbc__proto(h, "int", pbc_sb_str(&fn), &a);
    pbc_sb_printf(h,
        "\n/**\n * Reads row `id` into *r.  Views and arrays stay valid until "
        "the\n * transaction ends.  Errors: PB_ENOTFOUND; PB_EINVAL (a NULL "
        "txn or r).\n%s */\n", pbc__common_errors);
    pbc__arg(&a, "pb_txn *txn");
    pbc__arg(&a, "uint64_t id");
    pbc__arg(&a, "%s *r", n);
    fn.len = 0;
    pbc_sb_printf(&fn, "%s_get", n);
    pbc__proto(h, "int", pbc_sb_str(&fn), &a);
    pbc_sb_printf(h,
        "\n/**\n * Deletes row `id`, its index entries and its member "
        "collections.\n * Errors: PB_ENOTFOUND; PB_EINVAL (a NULL txn).\n"
        "%s */\n", pbc__change_errors);
    pbc__arg(&a, "pb_txn *txn");
    pbc__arg(&a, "uint64_t id");
    fn.len = 0;
    pbc_sb_printf(&fn, "%s_delete", n);
    pbc__proto(h, "int", pbc_sb_str(&fn), &a);
  }
  pbc_sb_printf(h,
      "\n/** The number of rows into *n.  Errors: PB_EINVAL (a NULL txn or "
      "n).\n%s */\n"
      "int %s_count(pb_txn *txn, uint64_t *n);\n",
      pbc__common_errors, n);
  pbc_sb_printf(h,
      "\n/**\n"
      " * Opens *cur over the rows whose %s lies between *lo and *hi, in %s\n"
      " * order.  A NULL bound is open; lo is inclusive and hi exclusive, "
      "unless\n"
      " * flags has PB_SCAN_LO_EXCL, PB_SCAN_HI_INCL; PB_SCAN_REVERSE: "
      "descending.\n"
      " * The cursor reads the table as it is now, and must not be used "
      "after\n"
      " * a change to the table nor after the transaction ends.  Errors:\n"
      " * PB_EINVAL (a NULL txn or cur, another flag%s).\n%s */\n",
      t.key ? "key" : "id", t.key ? "key" : "id",
      t.key && t.pk.e.kind == PBC_GEN_SCALAR && t.pk.e.scalar == PBC_STRING
          ? ", a string that is not\n * UTF-8"
          : "",
      pbc__common_errors);
  pbc__arg(&a, "pb_txn *txn");
  pbc__arg(&a, "const %s *lo", k);
  pbc__arg(&a, "const %s *hi", k);
  pbc__arg(&a, "unsigned flags");
  pbc__arg(&a, "%s_cursor **cur", n);
  fn.len = 0;
  pbc_sb_printf(&fn, "%s_scan", n);
  pbc__proto(h, "int", pbc_sb_str(&fn), &a);
  doc.len = 0;
  pbc_sb_printf(&doc, "The cursor's next row into *r%s.  Returns PB_OK, or "
                      "PB_ENOTFOUND after the last row; PB_EINVAL (a NULL "
                      "cur or r); other errors as protobase/table.h, after "
                      "which the cursor returns them again.",
                t.key ? "" : ", and its id into *id (id may be NULL)");
  pbc__comment(h, pbc_sb_str(&doc));
  pbc_sb_free(&doc);
  pbc__arg(&a, "%s_cursor *cur", n);
  pbc__arg(&a, "%s *r", n);
  if (!t.key)
    pbc__arg(&a, "uint64_t *id");
  fn.len = 0;
  pbc_sb_printf(&fn, "%s_next", n);
  pbc__proto(h, "int", pbc_sb_str(&fn), &a);
  pbc_sb_printf(h,
      "\n/** Closes a cursor.  NULL is a no-op. */\n"
      "void %s_cursor_close(%s_cursor *cur);\n", n, n);
  for (size_t i = 0; i < d->indexes.len; i++)
    pbc__header_index(&t, i);
  pbc__header_refs(&t);
  pbc_gen_query_header(g, d); /* gen_query.c: before the type checks */

  /* The type checks (C only: C++ checks pointer types itself). */
  pbc_sb_printf(h,
      "\n#ifndef __cplusplus\n"
      "/* Type checks: each macro calls the function of its name with the\n"
      " * same arguments, letting only the right record, cursor, query and\n"
      " * key pointer types through _Generic (docs/generated.md, \"Type\n"
      " * safety\"); %s_next calls the cursor's or the query's.\n"
      " * (%s_insert)(...) calls a function directly. */\n", n, n);
  pbc_strbuf rc, rm, cu;
  pbc_sb_init(&rc);
  pbc_sb_init(&rm);
  pbc_sb_init(&cu);
  pbc_sb_printf(&rc, "const %s *", n);
  pbc_sb_printf(&rm, "%s *", n);
  pbc_sb_printf(&cu, "%s_cursor *", n);
  pbc_gen_elem kel = {PBC_GEN_SCALAR, PBC_UINT64, NULL}; /* keyless: ids */
  if (t.key)
    kel = t.pk.e;
  static const char *const writes[] = {"insert", "upsert", "update"};
  for (size_t i = 0; i < 3; i++) {
    if (!t.key && i == 1)
      continue;
    pbc__args p = {0}, m = {0};
    pbc__arg(&p, "txn");
    pbc__arg(&m, "(txn)");
    if (!t.key && i == 2) {
      pbc__arg(&p, "id");
      pbc__value_arg(&m, &kel, "id");
    }
    pbc__arg(&p, "r");
    pbc__generic(&m, "r", pbc_sb_str(&rc), pbc_sb_str(&rm), (const char *)NULL);
    if (!t.key && i == 0) {
      pbc__arg(&p, "id");
      pbc__generic(&m, "id", "uint64_t *", (const char *)NULL);
    }
    fn.len = 0;
    pbc_sb_printf(&fn, "%s_%s", n, writes[i]);
    pbc__macro(h, pbc_sb_str(&fn), &p, &m);
  }
  {
    pbc__args p = {0}, m = {0};
    pbc__arg(&p, "txn");
    pbc__arg(&p, "key");
    pbc__arg(&p, "r");
    pbc__arg(&m, "(txn)");
    pbc__value_arg(&m, &kel, "key");
    pbc__generic(&m, "r", pbc_sb_str(&rm), (const char *)NULL);
    fn.len = 0;
    pbc_sb_printf(&fn, "%s_get", n);
    pbc__macro(h, pbc_sb_str(&fn), &p, &m);
  }
  {
    pbc__args p = {0}, m = {0};
    pbc__arg(&p, "txn");
    pbc__arg(&p, "key");
    pbc__arg(&m, "(txn)");
    pbc__value_arg(&m, &kel, "key");
    fn.len = 0;
    pbc_sb_printf(&fn, "%s_delete", n);
    pbc__macro(h, pbc_sb_str(&fn), &p, &m);
  }
  {
    pbc__args p = {0}, m = {0};
    pbc__arg(&p, "txn");
    pbc__arg(&p, "n");
    pbc__arg(&m, "(txn)");
    pbc__generic(&m, "n", "uint64_t *", (const char *)NULL);
    fn.len = 0;
    pbc_sb_printf(&fn, "%s_count", n);
    pbc__macro(h, pbc_sb_str(&fn), &p, &m);
  }
  {
    pbc__args p = {0}, m = {0};
    pbc__arg(&p, "txn");
    pbc__arg(&p, "lo");
    pbc__arg(&p, "hi");
    pbc__arg(&p, "flags");
    pbc__arg(&p, "cur");
    pbc__arg(&m, "(txn)");
    pbc__generic_ptr(&m, "lo", k);
    pbc__generic_ptr(&m, "hi", k);
    pbc__arg(&m, "(flags)");
    pbc__generic_cursor(&t, &m);
    fn.len = 0;
    pbc_sb_printf(&fn, "%s_scan", n);
    pbc__macro(h, pbc_sb_str(&fn), &p, &m);
  }
  /* P_R_next takes a cursor or a query: gen_query.c defines it. */
  {
    pbc__args p = {0}, m = {0};
    pbc__arg(&p, "cur");
    pbc__generic(&m, "cur", pbc_sb_str(&cu), "void *", (const char *)NULL);
    fn.len = 0;
    pbc_sb_printf(&fn, "%s_cursor_close", n);
    pbc__macro(h, pbc_sb_str(&fn), &p, &m);
  }
  for (size_t i = 0; i < d->indexes.len; i++)
    pbc__macros_index(&t, i);
  pbc__macros_refs(&t);
  pbc_gen_query_macros(g, d); /* gen_query.c */
  pbc_sb_puts(h, "#endif\n");
  pbc_sb_free(&rc);
  pbc_sb_free(&rm);
  pbc_sb_free(&cu);
  pbc_sb_free(&kt);
  pbc_sb_free(&fn);
  pbc__tab_free(&t);
}

/* --- Source --- */

/* "int (NAME)(" args ") {\n" */
static void pbc__def(pbc_strbuf *c, const char *ret, const char *name,
                     pbc__args *a) {
  pbc_strbuf head;
  pbc_sb_init(&head);
  pbc_sb_putc(c, '\n');
  pbc_sb_printf(&head, "%s (%s)(", ret, name);
  pbc__wrapped(c, 0, pbc_sb_str(&head), ") {\n", a->v, a->n);
  pbc_sb_free(&head);
  pbc__args_free(a);
}

/* The bounds of a scan: kl/kh from lo/hi, then the call `call`. */
static void pbc__scan_body(pbc_strbuf *c, const pbc__kf *kf, size_t nf,
                           bool composite, const char *call) {
  pbc_sb_puts(c,
      "  pb_keybuf kl, kh;\n"
      "  pb_bytes bl, bh;\n"
      "  pb_cursor *c = NULL;\n"
      "  int rc;\n\n"
      "  if (!txn || !cur)\n"
      "    return PB_EINVAL;\n"
      "  *cur = NULL;\n"
      "  if (flags & ~(unsigned)(PB_SCAN_LO_EXCL | PB_SCAN_HI_INCL | "
      "PB_SCAN_REVERSE))\n"
      "    return PB_EINVAL;\n"
      "  pb_keybuf_init(&kl);\n"
      "  pb_keybuf_init(&kh);\n");
  static const char *const side[2] = {"lo", "hi"};
  static const char *const buf[2] = {"&kl", "&kh"};
  pbc_strbuf v, has;
  pbc_sb_init(&v);
  pbc_sb_init(&has);
  for (int s = 0; s < 2; s++) {
    pbc_sb_printf(c, "  if (%s) {\n", side[s]);
    for (size_t i = 0; i < nf; i++) {
      v.len = 0;
      has.len = 0;
      if (composite) {
        pbc_sb_printf(&v, "%s->%s", side[s], kf[i].f->name);
        pbc_sb_printf(&has, "%s->has_%s", side[s], kf[i].f->name);
        pbc__put_field(c, "    ", buf[s], &kf[i], pbc_sb_str(&v),
                       pbc_sb_str(&has));
      } else {
        pbc_sb_printf(&v, "*%s", side[s]);
        if (kf[i].f->optional)
          pbc_sb_printf(c, "    pb_key_put_bool(%s, true);\n", buf[s]);
        pbc__put(c, "    ", buf[s], &kf[i].e, pbc_sb_str(&v));
      }
    }
    pbc_sb_puts(c, "  }\n");
  }
  pbc_sb_free(&v);
  pbc_sb_free(&has);
  pbc_sb_printf(c,
      "  rc = pb_keybuf_error(&kl);\n"
      "  if (rc == PB_OK)\n"
      "    rc = pb_keybuf_error(&kh);\n"
      "  bl = pb_keybuf_bytes(&kl);\n"
      "  bh = pb_keybuf_bytes(&kh);\n"
      "  if (rc == PB_OK)\n"
      "    rc = %s;\n"
      "  pb_keybuf_free(&kl);\n"
      "  pb_keybuf_free(&kh);\n"
      "  *cur = (void *)c;\n"
      "  return rc;\n"
      "}\n",
      call);
}

static void pbc__source_index(pbc__tab *t, size_t xi) {
  pbc_strbuf *c = t->g->c;
  const pbc_index *ix = t->d->indexes.items[xi];
  size_t nf = ix->fields.len;
  const char *n = t->n;
  pbc__kf *kf = pbc__index_fields(t->d, ix);
  pbc_strbuf fn, v;
  pbc_sb_init(&fn);
  pbc_sb_init(&v);
  for (size_t k = nf; k >= 1; k--) {
    fn.len = 0;
    if (k == nf)
      pbc_sb_printf(&fn, "%s_find_by_%s", n, ix->name);
    else
      pbc_sb_printf(&fn, "%s_find_by_%s_upto_%s", n, ix->name,
                    kf[k - 1].f->name);
    pbc__args a = {0};
    pbc__arg(&a, "pb_txn *txn");
    for (size_t i = 0; i < k; i++)
      pbc__arg_value(&a, &kf[i], kf[i].f->optional);
    pbc__arg(&a, "%s_cursor **cur", n);
    pbc__def(c, "int", pbc_sb_str(&fn), &a);
    pbc_sb_puts(c,
        "  pb_keybuf k;\n"
        "  pb_cursor *c = NULL;\n"
        "  int rc;\n\n"
        "  if (!txn || !cur)\n"
        "    return PB_EINVAL;\n"
        "  *cur = NULL;\n"
        "  pb_keybuf_init(&k);\n");
    for (size_t i = 0; i < k; i++) {
      v.len = 0;
      if (kf[i].f->optional) {
        pbc_sb_printf(&v, "*%s", kf[i].param);
        pbc_strbuf has;
        pbc_sb_init(&has);
        pbc_sb_printf(&has, "%s != NULL", kf[i].param);
        pbc_sb_printf(c, "  pb_key_put_bool(&k, %s);\n  if (%s)\n",
                      pbc_sb_str(&has), kf[i].param);
        pbc__put(c, "    ", "&k", &kf[i].e, pbc_sb_str(&v));
        pbc_sb_free(&has);
      } else {
        pbc__put(c, "  ", "&k", &kf[i].e, kf[i].param);
      }
    }
    pbc_sb_printf(c,
        "  rc = pb_keybuf_error(&k);\n"
        "  if (rc == PB_OK)\n"
        "    rc = pb_table_find(txn, &%s_table, %zu, pb_keybuf_bytes(&k), "
        "&c);\n"
        "  pb_keybuf_free(&k);\n"
        "  *cur = (void *)c;\n"
        "  return rc;\n"
        "}\n",
        n, xi);
  }
  pbc_strbuf ty;
  pbc_sb_init(&ty);
  if (nf == 1)
    pbc__ctype(&ty, &kf[0]);
  else
    pbc_sb_printf(&ty, "%s_%s_key", n, ix->name);
  fn.len = 0;
  pbc_sb_printf(&fn, "%s_range_by_%s", n, ix->name);
  pbc__args a = {0};
  pbc__arg(&a, "pb_txn *txn");
  pbc__arg(&a, "const %s *lo", pbc_sb_str(&ty));
  pbc__arg(&a, "const %s *hi", pbc_sb_str(&ty));
  pbc__arg(&a, "unsigned flags");
  pbc__arg(&a, "%s_cursor **cur", n);
  pbc__def(c, "int", pbc_sb_str(&fn), &a);
  v.len = 0;
  pbc_sb_printf(&v, "pb_table_index_scan(txn, &%s_table, %zu, lo ? &bl : "
                    "NULL,\n                             hi ? &bh : NULL, "
                    "flags, &c)", n, xi);
  pbc__scan_body(c, kf, nf, nf > 1, pbc_sb_str(&v));
  pbc_sb_free(&ty);
  pbc_sb_free(&fn);
  pbc_sb_free(&v);
  pbc__kf_free(kf, nf);
}

static void pbc__source_refs(pbc__tab *t) {
  pbc_strbuf *c = t->g->c;
  for (size_t i = 0; i < t->d->fields.len; i++) {
    const pbc_field *f = t->d->fields.items[i];
    bool array;
    const pbc_decl *to = pbc__ref_target(f, &array);
    if (!to)
      continue;
    bool keyed = pbc_gen_key_field(to) != NULL;
    pbc_strbuf tn, fn, val;
    pbc_sb_init(&tn);
    pbc_sb_init(&fn);
    pbc_sb_init(&val);
    pbc_gen_cname(&tn, to);
    pbc_sb_printf(&fn, "%s_%s_get", t->n, f->name);
    pbc__args a = {0};
    pbc__arg(&a, "pb_txn *txn");
    pbc__arg(&a, "const %s *r", t->n);
    if (array)
      pbc__arg(&a, "size_t i");
    pbc__arg(&a, "%s *out", pbc_sb_str(&tn));
    pbc__def(c, "int", pbc_sb_str(&fn), &a);
    pbc_sb_puts(c, "  if (!txn || !r || !out)\n    return PB_EINVAL;\n");
    if (array) {
      pbc_sb_printf(c, "  if (i >= r->%s.count)\n    return PB_ERANGE;\n",
                    f->name);
      pbc_sb_printf(&val, "r->%s.items[i]", f->name);
    } else {
      pbc_sb_printf(&val, "r->%s", f->name);
    }
    if (f->optional)
      pbc_sb_printf(c, "  if (!r->has_%s)\n    return PB_ENOTFOUND;\n",
                    f->name);
    if (keyed) {
      pbc_sb_printf(c, "  return %s_get(txn, %s, out);\n}\n", pbc_sb_str(&tn),
                    pbc_sb_str(&val));
    } else {
      pbc_sb_printf(c,
          "  if (pb_atom_ptr_is_null(%s))\n"
          "    return PB_ENOTFOUND;\n"
          "  return %s_load(txn, %s, out);\n}\n",
          pbc_sb_str(&val), pbc_sb_str(&tn), pbc_sb_str(&val));
    }
    pbc_sb_free(&tn);
    pbc_sb_free(&fn);
    pbc_sb_free(&val);
  }
}

static int pbc__u64_cmp(const void *a, const void *b) {
  uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
  return x < y ? -1 : x > y;
}

/* The definition P_R_table and what it points to. */
static void pbc__source_def(pbc__tab *t) {
  pbc_strbuf *c = t->g->c;
  const pbc_decl *d = t->d;
  const char *n = t->n;
  pbc_sb_printf(c,
      "\n/* The table: the record's functions as the runtime calls them "
      "(through\n * `void *`: calling a function through a cast pointer is "
      "undefined). */\n"
      "static void %s_init_any(void *r) {\n  %s_init(r);\n}\n"
      "\nstatic int %s_encode_any(const void *r, pb_buf *out) {\n"
      "  return %s_encode(r, out);\n}\n",
      n, n, n, n);
  if (t->key) {
    pbc_sb_printf(c,
        "\n/* The primary key: %s. */\n"
        "static int %s_pkey(const void *rec, pb_keybuf *k) {\n"
        "  const %s *r = rec;\n\n",
        t->key->name, n, n);
    pbc_strbuf v;
    pbc_sb_init(&v);
    pbc_sb_printf(&v, "r->%s", t->key->name);
    pbc__put(c, "  ", "k", &t->pk.e, pbc_sb_str(&v));
    pbc_sb_free(&v);
    pbc_sb_puts(c, "  return pb_keybuf_error(k);\n}\n");
  }
  for (size_t xi = 0; xi < d->indexes.len; xi++) {
    const pbc_index *ix = d->indexes.items[xi];
    pbc__kf *kf = pbc__index_fields(d, ix);
    pbc_sb_printf(c,
        "\n/* Index %s: its fields' encoding. */\n"
        "static int %s_%s_entry(const void *rec, pb_keybuf *k) {\n"
        "  const %s *r = rec;\n\n",
        ix->name, n, ix->name, n);
    pbc_strbuf v, has;
    pbc_sb_init(&v);
    pbc_sb_init(&has);
    for (size_t i = 0; i < ix->fields.len; i++) {
      v.len = 0;
      has.len = 0;
      pbc_sb_printf(&v, "r->%s", kf[i].f->name);
      pbc_sb_printf(&has, "r->has_%s", kf[i].f->name);
      pbc__put_field(c, "  ", "k", &kf[i], pbc_sb_str(&v), pbc_sb_str(&has));
    }
    pbc_sb_puts(c, "  return pb_keybuf_error(k);\n}\n");
    pbc_sb_printf(c, "\nstatic const uint32_t %s_%s_tags[] = {", n, ix->name);
    for (size_t i = 0; i < ix->fields.len; i++)
      pbc_sb_printf(c, "%s%llu", i ? ", " : "",
                    (unsigned long long)kf[i].f->tag);
    pbc_sb_puts(c, "};\n");
    pbc_sb_free(&v);
    pbc_sb_free(&has);
    pbc__kf_free(kf, ix->fields.len);
  }
  if (d->indexes.len) {
    pbc_sb_printf(c, "\nstatic const pb_table_index %s_indexes[] = {\n", n);
    for (size_t xi = 0; xi < d->indexes.len; xi++) {
      const pbc_index *ix = d->indexes.items[xi];
      pbc_sb_printf(c,
          "    {.name = \"%s\",\n"
          "     .flags = %s,\n"
          "     .tags = %s_%s_tags,\n"
          "     .n_tags = %zu,\n"
          "     .key = %s_%s_entry}%s\n",
          ix->name, ix->unique ? "PB_INDEX_UNIQUE" : "0", n, ix->name,
          ix->fields.len, n, ix->name, xi + 1 < d->indexes.len ? "," : "");
    }
    pbc_sb_puts(c, "};\n");
  }
  /* Members: list, set and map fields, in tag order. */
  size_t nm = 0;
  uint64_t *tags = pbc_xmalloc((d->fields.len + 1) * sizeof *tags);
  for (size_t i = 0; i < d->fields.len; i++) {
    const pbc_field *f = d->fields.items[i];
    pbc_type_kind k = f->type->kind;
    if (k == PBC_TYPE_LIST || k == PBC_TYPE_SET || k == PBC_TYPE_MAP)
      tags[nm++] = f->tag;
  }
  qsort(tags, nm, sizeof *tags, pbc__u64_cmp);
  if (nm) {
    pbc_sb_printf(c, "\n/* The list, set and map fields: tables keep them "
                     "beside the rows. */\n"
                     "static const uint32_t %s_members[] = {", n);
    for (size_t i = 0; i < nm; i++)
      pbc_sb_printf(c, "%s%llu", i ? ", " : "", (unsigned long long)tags[i]);
    pbc_sb_puts(c, "};\n");
  }
  free(tags);
  pbc_sb_printf(c,
      "\nconst pb_table_def %s_table = {\n"
      "    .type = &%s_type,\n"
      "    .size = sizeof(%s),\n"
      "    .init = %s_init_any,\n"
      "    .encode = %s_encode_any,\n"
      "    .decode = %s_decode_any,\n",
      n, n, n, n, n, n);
  if (t->key)
    pbc_sb_printf(c, "    .key = %s_pkey,\n", n);
  else
    pbc_sb_puts(c, "    .key = NULL, /* keyless: the table gives ids */\n");
  if (pbc_gen_info(t->g, t->d)->needs_arena)
    pbc_sb_puts(c, "    .arena = true, /* arrays: rows decode into the "
                   "transaction's arena */\n");
  if (d->indexes.len)
    pbc_sb_printf(c, "    .indexes = %s_indexes,\n    .n_indexes = %zu,\n", n,
                  d->indexes.len);
  else
    pbc_sb_puts(c, "    .indexes = NULL,\n    .n_indexes = 0,\n");
  if (nm)
    pbc_sb_printf(c, "    .members = %s_members,\n    .n_members = %zu};\n", n,
                  nm);
  else
    pbc_sb_puts(c, "    .members = NULL,\n    .n_members = 0};\n");
}

/* get/delete of a keyed table: encode the key into k, then `call`. */
static void pbc__key_call(pbc__tab *t, bool rec, const char *call) {
  pbc_strbuf *c = t->g->c;
  pbc_sb_puts(c,
      "  pb_keybuf k;\n"
      "  int rc;\n\n");
  pbc_sb_printf(c, "  if (!txn%s)\n    return PB_EINVAL;\n",
                rec ? " || !r" : "");
  pbc_sb_puts(c, "  pb_keybuf_init(&k);\n");
  if (t->key)
    pbc__put(c, "  ", "&k", &t->pk.e, t->pk.param);
  else
    pbc_sb_puts(c, "  pb_key_put_u64(&k, id);\n");
  pbc_sb_printf(c,
      "  rc = pb_keybuf_error(&k);\n"
      "  if (rc == PB_OK)\n"
      "    rc = %s;\n"
      "  pb_keybuf_free(&k);\n"
      "  return rc;\n"
      "}\n",
      call);
}

void pbc_gen_table(pbc_gen *g, const pbc_decl *d) {
  pbc__tab t;
  pbc__tab_init(&t, g, d);
  pbc_strbuf *c = g->c;
  const char *n = t.n;
  pbc_strbuf kt, fn, call;
  pbc_sb_init(&kt);
  pbc_sb_init(&fn);
  pbc_sb_init(&call);
  if (t.key)
    pbc__ctype(&kt, &t.pk);
  else
    pbc_sb_puts(&kt, "uint64_t");
  const char *k = pbc_sb_str(&kt);
  pbc__source_def(&t);
  pbc__args a = {0};
  if (t.key) {
    static const char *const w[] = {"insert", "upsert", "update"};
    static const char *const call_fmt[] = {
        "pb_table_insert(txn, &%s_table, r, NULL)",
        "pb_table_upsert(txn, &%s_table, r)",
        "pb_table_update(txn, &%s_table, r)"};
    for (size_t i = 0; i < 3; i++) {
      pbc__arg(&a, "pb_txn *txn");
      pbc__arg(&a, "const %s *r", n);
      fn.len = 0;
      pbc_sb_printf(&fn, "%s_%s", n, w[i]);
      pbc__def(c, "int", pbc_sb_str(&fn), &a);
      pbc_sb_puts(c, "  if (!txn || !r)\n    return PB_EINVAL;\n  return ");
      pbc_sb_printf(c, call_fmt[i], n);
      pbc_sb_puts(c, ";\n}\n");
    }
  } else {
    pbc__arg(&a, "pb_txn *txn");
    pbc__arg(&a, "const %s *r", n);
    pbc__arg(&a, "uint64_t *id");
    fn.len = 0;
    pbc_sb_printf(&fn, "%s_insert", n);
    pbc__def(c, "int", pbc_sb_str(&fn), &a);
    pbc_sb_printf(c,
        "  if (!txn || !r || !id)\n    return PB_EINVAL;\n"
        "  return pb_table_insert(txn, &%s_table, r, id);\n}\n", n);
    pbc__arg(&a, "pb_txn *txn");
    pbc__arg(&a, "uint64_t id");
    pbc__arg(&a, "const %s *r", n);
    fn.len = 0;
    pbc_sb_printf(&fn, "%s_update", n);
    pbc__def(c, "int", pbc_sb_str(&fn), &a);
    pbc_sb_printf(c,
        "  if (!txn || !r)\n    return PB_EINVAL;\n"
        "  return pb_table_update_id(txn, &%s_table, id, r);\n}\n", n);
  }
  const char *kp = t.key ? t.pk.param : "id";
  pbc__arg(&a, "pb_txn *txn");
  pbc__arg(&a, "%s %s", k, kp);
  pbc__arg(&a, "%s *r", n);
  fn.len = 0;
  pbc_sb_printf(&fn, "%s_get", n);
  pbc__def(c, "int", pbc_sb_str(&fn), &a);
  call.len = 0;
  pbc_sb_printf(&call, "pb_table_get(txn, &%s_table, pb_keybuf_bytes(&k), r)",
                n);
  pbc__key_call(&t, true, pbc_sb_str(&call));
  pbc__arg(&a, "pb_txn *txn");
  pbc__arg(&a, "%s %s", k, kp);
  fn.len = 0;
  pbc_sb_printf(&fn, "%s_delete", n);
  pbc__def(c, "int", pbc_sb_str(&fn), &a);
  call.len = 0;
  pbc_sb_printf(&call, "pb_table_delete(txn, &%s_table, pb_keybuf_bytes(&k))",
                n);
  pbc__key_call(&t, false, pbc_sb_str(&call));
  pbc_sb_printf(c,
      "\nint (%s_count)(pb_txn *txn, uint64_t *n) {\n"
      "  if (!txn || !n)\n    return PB_EINVAL;\n"
      "  return pb_table_count(txn, &%s_table, n);\n}\n", n, n);
  pbc__arg(&a, "pb_txn *txn");
  pbc__arg(&a, "const %s *lo", k);
  pbc__arg(&a, "const %s *hi", k);
  pbc__arg(&a, "unsigned flags");
  pbc__arg(&a, "%s_cursor **cur", n);
  fn.len = 0;
  pbc_sb_printf(&fn, "%s_scan", n);
  pbc__def(c, "int", pbc_sb_str(&fn), &a);
  call.len = 0;
  pbc_sb_printf(&call, "pb_table_scan(txn, &%s_table, lo ? &bl : NULL, "
                       "hi ? &bh : NULL,\n                       flags, &c)",
                n);
  pbc__kf idk;
  pbc__kf *pk = &t.pk;
  if (!t.key) {
    static const pbc_field id_field = {.name = "id"};
    idk.f = &id_field;
    idk.e = (pbc_gen_elem){PBC_GEN_SCALAR, PBC_UINT64, NULL};
    idk.param = "id";
    pk = &idk;
  }
  pbc__scan_body(c, pk, 1, false, pbc_sb_str(&call));
  pbc__arg(&a, "%s_cursor *cur", n);
  pbc__arg(&a, "%s *r", n);
  if (!t.key)
    pbc__arg(&a, "uint64_t *id");
  fn.len = 0;
  pbc_sb_printf(&fn, "%s_next", n);
  pbc__def(c, "int", pbc_sb_str(&fn), &a);
  pbc_sb_printf(c,
      "  if (!cur || !r)\n    return PB_EINVAL;\n"
      "  return pb_cursor_next((pb_cursor *)(void *)cur, r, %s);\n}\n",
      t.key ? "NULL" : "id");
  pbc_sb_printf(c,
      "\nvoid (%s_cursor_close)(%s_cursor *cur) {\n"
      "  pb_cursor_close((pb_cursor *)(void *)cur);\n}\n", n, n);
  for (size_t i = 0; i < d->indexes.len; i++)
    pbc__source_index(&t, i);
  pbc__source_refs(&t);
  pbc_sb_free(&kt);
  pbc_sb_free(&fn);
  pbc_sb_free(&call);
  pbc__tab_free(&t);
}
