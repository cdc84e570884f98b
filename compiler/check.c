/*
 * check.c - name resolution and the semantic rules of the schema language.
 *
 * Duplicates (names, tags, options, enum values) are found by sorting
 * (key, source position) pairs, so a schema with many fields costs
 * O(n log n), not O(n^2); errors are still reported in source order, each
 * at the later definition, with a note at the first one.
 *
 * Name lookup: an unqualified name is looked up in the file itself, then in
 * the files it imports directly that have the same package; a qualified
 * name "pkg.Name" in the file itself when its package is "pkg", then in the
 * directly imported files of package "pkg".  Each file's declarations are
 * kept sorted by name (pbc_file.sorted) for this.
 */
#include "check.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <protobase/wire.h> /* PB_TAG_MAX: the runtime's limit is ours */

typedef struct pbc__checker {
  pbc_program *prog; /* the program */
  pbc_diag *diag;    /* where errors go */
  pbc_file *file;    /* the file being checked */
} pbc__checker;

/* --- Duplicates, found by sorting --- */

typedef struct pbc__key {
  const char *s; /* string key, or NULL when the key is n */
  uint64_t n;    /* numeric key */
  size_t ord;    /* position in source order */
} pbc__key;

static int pbc__key_cmp(const void *a, const void *b) {
  const pbc__key *x = a, *y = b;
  if (x->s && y->s) {
    int c = strcmp(x->s, y->s);
    if (c != 0)
      return c;
  } else if (x->n != y->n) {
    return x->n < y->n ? -1 : 1;
  }
  return x->ord < y->ord ? -1 : x->ord > y->ord;
}

/*
 * Sorts keys[0..n), whose ord fields are 0..n-1, and returns a heap array
 * where first[i] is the ord of the earliest key equal to key i.
 */
static size_t *pbc__first_equal(pbc__key *keys, size_t n) {
  qsort(keys, n, sizeof *keys, pbc__key_cmp);
  size_t *first = pbc_xmalloc(n * sizeof *first);
  for (size_t i = 0; i < n; i++) {
    bool same = i > 0 && (keys[i].s ? strcmp(keys[i].s, keys[i - 1].s) == 0
                                    : keys[i].n == keys[i - 1].n);
    first[keys[i].ord] = same ? first[keys[i - 1].ord] : keys[i].ord;
  }
  return first;
}

/* --- Declarations and lookup --- */

static int pbc__decl_cmp(const void *a, const void *b) {
  const pbc_decl *x = *(pbc_decl *const *)a, *y = *(pbc_decl *const *)b;
  int c = strcmp(x->name, y->name);
  if (c != 0)
    return c;
  if (x->loc.line != y->loc.line)
    return x->loc.line < y->loc.line ? -1 : 1;
  return x->loc.col < y->loc.col ? -1 : x->loc.col > y->loc.col;
}

static void pbc__sort_decls(pbc_file *f) {
  f->sorted = pbc_xmalloc((f->decls.len ? f->decls.len : 1) * sizeof(pbc_decl *));
  if (f->decls.len)
    memcpy(f->sorted, f->decls.items, f->decls.len * sizeof(pbc_decl *));
  qsort(f->sorted, f->decls.len, sizeof(pbc_decl *), pbc__decl_cmp);
}

/* The first declaration called `name` in f, or NULL. */
static pbc_decl *pbc__find_in(const pbc_file *f, const char *name, size_t len) {
  size_t lo = 0, hi = f->decls.len;
  while (lo < hi) {
    size_t mid = lo + (hi - lo) / 2;
    const char *n = f->sorted[mid]->name;
    int c = strncmp(n, name, len);
    if (c == 0 && n[len] != '\0')
      c = 1;
    if (c < 0)
      lo = mid + 1;
    else
      hi = mid;
  }
  if (lo < f->decls.len && strncmp(f->sorted[lo]->name, name, len) == 0 &&
      f->sorted[lo]->name[len] == '\0')
    return f->sorted[lo];
  return NULL;
}

static bool pbc__same_package(const char *a, size_t alen, const char *b) {
  if (!a || !b)
    return !a && !b;
  return strlen(b) == alen && strncmp(a, b, alen) == 0;
}

static pbc_decl *pbc__lookup(const pbc_file *f, const char *qname) {
  const char *dot = strrchr(qname, '.');
  const char *pkg = dot ? qname : f->package;
  size_t pkg_len = dot ? (size_t)(dot - qname) : (pkg ? strlen(pkg) : 0);
  const char *name = dot ? dot + 1 : qname;
  size_t len = strlen(name);
  if (pbc__same_package(pkg, pkg_len, f->package)) {
    pbc_decl *d = pbc__find_in(f, name, len);
    if (d)
      return d;
  }
  for (size_t i = 0; i < f->imports.len; i++) {
    const pbc_import *imp = f->imports.items[i];
    if (imp->file && imp->file->sorted &&
        pbc__same_package(pkg, pkg_len, imp->file->package)) {
      pbc_decl *d = pbc__find_in(imp->file, name, len);
      if (d)
        return d;
    }
  }
  return NULL;
}

static bool pbc__is_generic_name(const char *name) {
  return strcmp(name, "ref") == 0 || strcmp(name, "list") == 0 ||
         strcmp(name, "set") == 0 || strcmp(name, "map") == 0;
}

static void pbc__check_decl_names(pbc__checker *c) {
  pbc_file *f = c->file;
  for (size_t i = 0; i < f->decls.len; i++) {
    pbc_decl *d = f->decls.items[i];
    pbc_scalar s;
    if (pbc_scalar_lookup(d->name, &s) || pbc__is_generic_name(d->name)) {
      pbc_error(c->diag, d->loc, "'%s' is a built-in type name", d->name);
      continue;
    }
    pbc_decl *first = pbc__find_in(f, d->name, strlen(d->name));
    if (first != d) {
      pbc_error(c->diag, d->loc, "'%s' is already defined", d->name);
      pbc_note(c->diag, first->loc, "first defined here");
      continue;
    }
    for (size_t k = 0; k < f->imports.len; k++) {
      const pbc_import *imp = f->imports.items[k];
      if (!imp->file || !imp->file->sorted || imp->file == f ||
          !pbc__same_package(f->package, f->package ? strlen(f->package) : 0,
                             imp->file->package))
        continue;
      pbc_decl *other = pbc__find_in(imp->file, d->name, strlen(d->name));
      if (other) {
        pbc_error(c->diag, d->loc, "'%s' is already defined", d->name);
        pbc_note(c->diag, other->loc, "first defined here");
        break;
      }
    }
  }
}

/* --- Enums --- */

static void pbc__check_enum(pbc__checker *c, pbc_decl *d) {
  size_t n = d->values.len;
  if (n == 0) {
    pbc_error(c->diag, d->loc, "enum '%s' has no values", d->name);
    return;
  }
  pbc__key *keys = pbc_xmalloc(n * sizeof *keys);
  for (size_t i = 0; i < n; i++) {
    const pbc_enum_value *v = d->values.items[i];
    keys[i] = (pbc__key){v->name, 0, i};
  }
  size_t *first = pbc__first_equal(keys, n);
  bool *in_range = pbc_xcalloc(n, sizeof(bool));
  for (size_t i = 0; i < n; i++) {
    pbc_enum_value *v = d->values.items[i];
    if (first[i] != i) {
      const pbc_enum_value *f0 = d->values.items[first[i]];
      pbc_error(c->diag, v->loc, "duplicate enum value '%s'", v->name);
      pbc_note(c->diag, f0->loc, "first defined here");
    }
    uint64_t limit = v->negative ? (uint64_t)INT32_MAX + 1 : (uint64_t)INT32_MAX;
    if (v->mag > limit) {
      pbc_error(c->diag, v->num_loc, "enum value is out of range (it must fit "
                "in int32)");
      continue;
    }
    v->value = v->negative ? -(int64_t)v->mag : (int64_t)v->mag;
    in_range[i] = true;
  }
  free(first);
  size_t m = 0;
  bool has_zero = false;
  for (size_t i = 0; i < n; i++) {
    const pbc_enum_value *v = d->values.items[i];
    if (in_range[i]) {
      keys[m++] = (pbc__key){NULL, (uint64_t)v->value, i};
      has_zero = has_zero || v->value == 0;
    }
  }
  /* Zero is what an enum field holds when it is absent from the encoding
   * and has no [default]: it must name a value. */
  if (!has_zero && m == n) {
    pbc_error(c->diag, d->loc, "enum '%s' has no value 0 (the default of its "
              "fields)", d->name);
    pbc_note(c->diag, ((const pbc_enum_value *)d->values.items[0])->loc,
             "add a value '= 0', for example before '%s'",
             ((const pbc_enum_value *)d->values.items[0])->name);
  }
  /* Renumber ords 0..m-1 for pbc__first_equal, remembering the real index. */
  size_t *real = pbc_xmalloc((m ? m : 1) * sizeof *real);
  for (size_t i = 0; i < m; i++) {
    real[i] = keys[i].ord;
    keys[i].ord = i;
  }
  first = pbc__first_equal(keys, m);
  for (size_t i = 0; i < m; i++) {
    if (first[i] == i)
      continue;
    const pbc_enum_value *v = d->values.items[real[i]];
    const pbc_enum_value *f0 = d->values.items[real[first[i]]];
    pbc_error(c->diag, v->num_loc, "value %lld is already used by '%s'",
              (long long)v->value, f0->name);
    pbc_note(c->diag, f0->loc, "'%s' is defined here", f0->name);
  }
  free(real);
  free(first);
  free(in_range);
  free(keys);
}

/* --- Options --- */

typedef struct pbc__opt_spec {
  const char *name; /* option name */
  bool has_value;   /* written `name = value` (else a bare flag) */
} pbc__opt_spec;

static void pbc__check_options(pbc__checker *c, const pbc_vec *opts,
                               const char *what, const pbc__opt_spec *specs,
                               size_t nspecs) {
  size_t n = opts->len;
  pbc__key *keys = pbc_xmalloc((n ? n : 1) * sizeof *keys);
  for (size_t i = 0; i < n; i++) {
    const pbc_option *o = opts->items[i];
    keys[i] = (pbc__key){o->name, 0, i};
  }
  size_t *first = pbc__first_equal(keys, n);
  for (size_t i = 0; i < n; i++) {
    const pbc_option *o = opts->items[i];
    const pbc__opt_spec *spec = NULL;
    for (size_t k = 0; k < nspecs; k++)
      if (strcmp(specs[k].name, o->name) == 0)
        spec = &specs[k];
    if (!spec)
      pbc_error(c->diag, o->loc, "unknown %s option '%s'", what, o->name);
    else if (first[i] != i) {
      const pbc_option *f0 = opts->items[first[i]];
      pbc_error(c->diag, o->loc, "option '%s' is given twice", o->name);
      pbc_note(c->diag, f0->loc, "first given here");
    } else if (spec->has_value && !o->value)
      pbc_error(c->diag, o->loc, "option '%s' needs a value, as in [%s = ...]",
                o->name, o->name);
    else if (!spec->has_value && o->value)
      pbc_error(c->diag, o->loc, "option '%s' takes no value", o->name);
  }
  free(first);
  free(keys);
}

/* --- Types --- */

static bool pbc__is_enum(const pbc_type *t) {
  return t->kind == PBC_TYPE_NAMED && t->decl && t->decl->kind == PBC_DECL_ENUM;
}

/* Integers, bool, string, bytes and enums: usable as keys. */
static bool pbc__is_keyish(const pbc_type *t) {
  if (t->kind == PBC_TYPE_SCALAR)
    return !pbc_scalar_is_float(t->scalar);
  return pbc__is_enum(t);
}

static void pbc__type_error(pbc__checker *c, const pbc_type *t,
                            const char *fmt_with_type) {
  pbc_strbuf sb;
  pbc_sb_init(&sb);
  pbc_type_spell(t, &sb);
  pbc_error(c->diag, t->loc, fmt_with_type, pbc_sb_str(&sb));
  pbc_sb_free(&sb);
}

/* Resolves names inside t; the depth is bounded by PBC_MAX_TYPE_DEPTH. */
static void pbc__resolve_type(pbc__checker *c, pbc_type *t) {
  switch (t->kind) {
  case PBC_TYPE_SCALAR:
    return;
  case PBC_TYPE_NAMED:
    t->decl = pbc__lookup(c->file, t->name);
    if (t->decl)
      return;
    if (pbc__is_generic_name(t->name))
      pbc_error(c->diag, t->loc, "'%s' needs type arguments, as in %s", t->name,
                strcmp(t->name, "map") == 0 ? "map<K, V>"
                : strcmp(t->name, "ref") == 0 ? "ref<R>"
                : strcmp(t->name, "list") == 0 ? "list<T>" : "set<T>");
    else
      pbc_error(c->diag, t->loc, "unknown type '%s'", t->name);
    return;
  case PBC_TYPE_ARRAY:
  case PBC_TYPE_LIST:
    pbc__resolve_type(c, t->elem);
    return;
  case PBC_TYPE_REF:
    pbc__resolve_type(c, t->elem);
    if (t->elem->kind != PBC_TYPE_NAMED ||
        (t->elem->decl && t->elem->decl->kind != PBC_DECL_RECORD))
      pbc__type_error(c, t->elem, "ref<> must name a record, not '%s'");
    return;
  case PBC_TYPE_SET:
    pbc__resolve_type(c, t->elem);
    if (pbc_type_resolved(t->elem) && !pbc__is_keyish(t->elem) &&
        t->elem->kind != PBC_TYPE_REF)
      pbc__type_error(c, t->elem, "set elements must be integers, bools, "
                      "strings, bytes, enums or refs, not '%s'");
    return;
  case PBC_TYPE_MAP:
    pbc__resolve_type(c, t->key);
    pbc__resolve_type(c, t->elem);
    if (pbc_type_resolved(t->key) && !pbc__is_keyish(t->key))
      pbc__type_error(c, t->key, "map keys must be integers, bools, strings, "
                      "bytes or enums, not '%s'");
    return;
  }
}

/* --- Default values --- */

bool pbc_utf8_valid(const char *s, size_t len) {
  const unsigned char *p = (const unsigned char *)s, *end = p + len;
  while (p < end) {
    unsigned c = *p++;
    if (c < 0x80)
      continue;
    int more;
    unsigned cp, min;
    if (c >= 0xc2 && c <= 0xdf)
      more = 1, cp = c & 0x1f, min = 0x80;
    else if (c >= 0xe0 && c <= 0xef)
      more = 2, cp = c & 0x0f, min = 0x800;
    else if (c >= 0xf0 && c <= 0xf4)
      more = 3, cp = c & 0x07, min = 0x10000;
    else
      return false;
    if (end - p < more)
      return false;
    for (int i = 0; i < more; i++) {
      if ((p[i] & 0xc0) != 0x80)
        return false;
      cp = cp << 6 | (p[i] & 0x3f);
    }
    p += more;
    if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
      return false;
  }
  return true;
}

static bool pbc__int_fits(const pbc_literal *l, pbc_scalar s) {
  int bits = pbc_scalar_bits(s);
  if (pbc_scalar_is_signed(s)) {
    uint64_t max = ((uint64_t)1 << (bits - 1)) - 1;
    return l->u <= (l->negative ? max + 1 : max);
  }
  uint64_t max = bits == 64 ? UINT64_MAX : ((uint64_t)1 << bits) - 1;
  return (!l->negative || l->u == 0) && l->u <= max;
}

static void pbc__check_default(pbc__checker *c, pbc_field *f,
                               const pbc_literal *l) {
  const pbc_type *t = f->type;
  pbc_strbuf sb;
  pbc_sb_init(&sb);
  pbc_type_spell(t, &sb);
  const char *ty = pbc_sb_str(&sb);
  bool ok = false;
  if (t->kind == PBC_TYPE_SCALAR && t->scalar == PBC_BOOL) {
    if (!(ok = l->kind == PBC_LIT_BOOL))
      pbc_error(c->diag, l->loc, "default value for a 'bool' field must be "
                "true or false");
  } else if (t->kind == PBC_TYPE_SCALAR && pbc_scalar_is_int(t->scalar)) {
    if (l->kind != PBC_LIT_INT)
      pbc_error(c->diag, l->loc, "default value for a '%s' field must be an "
                "integer", ty);
    else if (!(ok = pbc__int_fits(l, t->scalar)))
      pbc_error(c->diag, l->loc, "default value is out of range for '%s'", ty);
  } else if (t->kind == PBC_TYPE_SCALAR && pbc_scalar_is_float(t->scalar)) {
    if (l->kind != PBC_LIT_INT && l->kind != PBC_LIT_FLOAT) {
      pbc_error(c->diag, l->loc, "default value for a '%s' field must be a "
                "number", ty);
    } else {
      double v = l->kind == PBC_LIT_INT ? (double)l->u : l->f;
      ok = isfinite(v) && (t->scalar == PBC_FLOAT64 || isfinite((float)v));
      if (!ok)
        pbc_error(c->diag, l->loc, "default value is out of range for '%s'", ty);
    }
  } else if (t->kind == PBC_TYPE_SCALAR) { /* string, bytes */
    if (l->kind != PBC_LIT_STRING)
      pbc_error(c->diag, l->loc, "default value for a '%s' field must be a "
                "string literal", ty);
    else if (!(ok = t->scalar == PBC_BYTES || pbc_utf8_valid(l->text, l->len)))
      pbc_error(c->diag, l->loc, "default value for a 'string' field must be "
                "valid UTF-8");
  } else if (pbc__is_enum(t)) {
    const pbc_decl *e = t->decl;
    if (l->kind == PBC_LIT_IDENT)
      for (size_t i = 0; i < e->values.len && !ok; i++)
        ok = strcmp(((const pbc_enum_value *)e->values.items[i])->name,
                    l->text) == 0;
    if (!ok)
      pbc_error(c->diag, l->loc, "default value must be a value of enum '%s'",
                e->name);
  } else if (pbc_type_resolved(t)) {
    pbc_error(c->diag, l->loc, "a default value is not allowed on a field of "
              "type '%s'", ty);
  }
  pbc_sb_free(&sb);
  if (ok)
    f->dflt = l;
}

/* --- Records --- */

static const pbc__opt_spec pbc__field_opts[] = {{"key", false},
                                                {"default", true}};
static const pbc__opt_spec pbc__record_opts[] = {{"renamed_from", true}};
static const pbc__opt_spec pbc__index_opts[] = {{"unique", false}};

static void pbc__check_field(pbc__checker *c, pbc_field *f,
                             const pbc_field **key_field) {
  if (f->tag == 0 || f->tag > PB_TAG_MAX)
    pbc_error(c->diag, f->tag_loc, "tag %llu is out of range (1 to %u)",
              (unsigned long long)f->tag, (unsigned)PB_TAG_MAX);
  pbc__resolve_type(c, f->type);
  pbc__check_options(c, &f->options, "field", pbc__field_opts,
                     sizeof pbc__field_opts / sizeof pbc__field_opts[0]);
  pbc_type_kind k = f->type->kind;
  bool collection = k == PBC_TYPE_ARRAY || k == PBC_TYPE_LIST ||
                    k == PBC_TYPE_SET || k == PBC_TYPE_MAP;
  if (f->optional && collection)
    pbc__type_error(c, f->type, "a field of type '%s' cannot be optional");

  const pbc_option *key = pbc_option_find(&f->options, "key");
  if (key && !key->value) {
    f->is_key = true;
    if (*key_field) {
      pbc_error(c->diag, key->loc, "a record has at most one [key] field");
      pbc_note(c->diag, (*key_field)->loc, "'%s' is the key", (*key_field)->name);
    } else {
      *key_field = f;
    }
    if (f->optional)
      pbc_error(c->diag, key->loc, "a key field cannot be optional");
    else if (pbc_type_resolved(f->type) && !pbc__is_keyish(f->type))
      pbc__type_error(c, f->type, "a key field cannot have type '%s'");
  }
  const pbc_option *dflt = pbc_option_find(&f->options, "default");
  if (dflt && dflt->value)
    pbc__check_default(c, f, dflt->value);
}

static int pbc__reserved_cmp(const void *a, const void *b) {
  const pbc_reserved *x = *(pbc_reserved *const *)a;
  const pbc_reserved *y = *(pbc_reserved *const *)b;
  return x->tag < y->tag ? -1 : x->tag > y->tag;
}

static const pbc_reserved *pbc__find_reserved(pbc_reserved **r, size_t n,
                                              uint64_t tag) {
  size_t lo = 0, hi = n;
  while (lo < hi) {
    size_t mid = lo + (hi - lo) / 2;
    if (r[mid]->tag < tag)
      lo = mid + 1;
    else
      hi = mid;
  }
  return lo < n && r[lo]->tag == tag ? r[lo] : NULL;
}

/* The field called `name`, using keys sorted by name (ords = field index). */
static const pbc_field *pbc__field_named(const pbc_decl *d, const pbc__key *keys,
                                         const char *name) {
  size_t lo = 0, hi = d->fields.len;
  while (lo < hi) {
    size_t mid = lo + (hi - lo) / 2;
    if (strcmp(keys[mid].s, name) < 0)
      lo = mid + 1;
    else
      hi = mid;
  }
  if (lo < d->fields.len && strcmp(keys[lo].s, name) == 0)
    return d->fields.items[keys[lo].ord];
  return NULL;
}

static void pbc__check_indexes(pbc__checker *c, const pbc_decl *d,
                               const pbc__key *by_name) {
  size_t n = d->indexes.len;
  pbc__key *keys = pbc_xmalloc((n ? n : 1) * sizeof *keys);
  for (size_t i = 0; i < n; i++)
    keys[i] = (pbc__key){((const pbc_index *)d->indexes.items[i])->name, 0, i};
  size_t *first = pbc__first_equal(keys, n);
  for (size_t i = 0; i < n; i++) {
    pbc_index *ix = d->indexes.items[i];
    pbc__check_options(c, &ix->options, "index", pbc__index_opts,
                       sizeof pbc__index_opts / sizeof pbc__index_opts[0]);
    const pbc_option *uq = pbc_option_find(&ix->options, "unique");
    ix->unique = uq && !uq->value;
    if (first[i] != i) {
      pbc_error(c->diag, ix->loc, "duplicate index '%s'", ix->name);
      pbc_note(c->diag, ((const pbc_index *)d->indexes.items[first[i]])->loc,
               "first defined here");
    }
    for (size_t k = 0; k < ix->fields.len; k++) {
      const pbc_ident *id = ix->fields.items[k];
      const pbc_field *f = pbc__field_named(d, by_name, id->name);
      for (size_t j = 0; j < k; j++)
        if (strcmp(((const pbc_ident *)ix->fields.items[j])->name, id->name) == 0) {
          pbc_error(c->diag, id->loc, "field '%s' appears twice in index '%s'",
                    id->name, ix->name);
          f = NULL;
          break;
        }
      if (!f) {
        if (!pbc__field_named(d, by_name, id->name))
          pbc_error(c->diag, id->loc, "index '%s' names unknown field '%s'",
                    ix->name, id->name);
        continue;
      }
      const pbc_type *t = f->type;
      if (pbc_type_resolved(t) && !(t->kind == PBC_TYPE_SCALAR ||
                                   t->kind == PBC_TYPE_REF || pbc__is_enum(t))) {
        pbc_strbuf sb;
        pbc_sb_init(&sb);
        pbc_type_spell(t, &sb);
        pbc_error(c->diag, id->loc, "field '%s' of type '%s' cannot be indexed",
                  id->name, pbc_sb_str(&sb));
        pbc_sb_free(&sb);
      }
    }
  }
  free(first);
  free(keys);
}

static void pbc__check_record(pbc__checker *c, pbc_decl *d) {
  pbc__check_options(c, &d->options, "record", pbc__record_opts,
                     sizeof pbc__record_opts / sizeof pbc__record_opts[0]);
  const pbc_option *renamed = pbc_option_find(&d->options, "renamed_from");
  if (renamed && renamed->value && renamed->value->kind != PBC_LIT_STRING)
    pbc_error(c->diag, renamed->value->loc, "renamed_from needs a string, as "
              "in [renamed_from = \"OldName\"]");

  size_t n = d->fields.len;
  const pbc_field *key_field = NULL;
  for (size_t i = 0; i < n && !pbc_diag_stopped(c->diag); i++)
    pbc__check_field(c, d->fields.items[i], &key_field);

  /* Duplicate names. */
  pbc__key *names = pbc_xmalloc((n ? n : 1) * sizeof *names);
  for (size_t i = 0; i < n; i++)
    names[i] = (pbc__key){((const pbc_field *)d->fields.items[i])->name, 0, i};
  size_t *first = pbc__first_equal(names, n);
  for (size_t i = 0; i < n; i++) {
    if (first[i] == i)
      continue;
    const pbc_field *f = d->fields.items[i];
    pbc_error(c->diag, f->loc, "duplicate field '%s'", f->name);
    pbc_note(c->diag, ((const pbc_field *)d->fields.items[first[i]])->loc,
             "first defined here");
  }
  free(first);

  /* Duplicate tags. */
  pbc__key *tags = pbc_xmalloc((n ? n : 1) * sizeof *tags);
  for (size_t i = 0; i < n; i++)
    tags[i] = (pbc__key){NULL, ((const pbc_field *)d->fields.items[i])->tag, i};
  first = pbc__first_equal(tags, n);
  for (size_t i = 0; i < n; i++) {
    const pbc_field *f = d->fields.items[i];
    if (first[i] == i || f->tag == 0 || f->tag > PB_TAG_MAX)
      continue;
    const pbc_field *f0 = d->fields.items[first[i]];
    pbc_error(c->diag, f->tag_loc, "tag %llu is already used by field '%s'",
              (unsigned long long)f->tag, f0->name);
    pbc_note(c->diag, f0->tag_loc, "first used here");
  }
  free(first);
  free(tags);

  /* Reserved tags. */
  size_t nr = d->reserved.len;
  pbc_reserved **res = pbc_xmalloc((nr ? nr : 1) * sizeof *res);
  for (size_t i = 0; i < nr; i++) {
    res[i] = d->reserved.items[i];
    if (res[i]->tag == 0 || res[i]->tag > PB_TAG_MAX)
      pbc_error(c->diag, res[i]->loc, "reserved tag %llu is out of range (1 to "
                "%u)", (unsigned long long)res[i]->tag, (unsigned)PB_TAG_MAX);
  }
  qsort(res, nr, sizeof *res, pbc__reserved_cmp);
  for (size_t i = 0; i < n; i++) {
    const pbc_field *f = d->fields.items[i];
    const pbc_reserved *r = pbc__find_reserved(res, nr, f->tag);
    if (r) {
      pbc_error(c->diag, f->tag_loc, "tag %llu is reserved",
                (unsigned long long)f->tag);
      pbc_note(c->diag, r->loc, "reserved here");
    }
  }
  free(res);

  pbc__check_indexes(c, d, names); /* names is sorted by name now */
  free(names);
}

/*
 * A record must not contain itself by value (directly, or through other
 * records' by-value fields): its C struct would be infinite.  Iterative DFS
 * (a schema may chain thousands of records), marks: 0 new, 1 on the path,
 * 2 done.
 */
typedef struct pbc__frame {
  pbc_decl *decl; /* record being explored */
  size_t next;    /* next field to look at */
} pbc__frame;

static void pbc__check_embedding(pbc__checker *c, pbc_decl *root,
                                 pbc__frame *stack) {
  if (root->mark != 0)
    return;
  size_t top = 0;
  stack[top++] = (pbc__frame){root, 0};
  root->mark = 1;
  while (top > 0) {
    pbc__frame *fr = &stack[top - 1];
    if (fr->next == fr->decl->fields.len) {
      fr->decl->mark = 2;
      top--;
      continue;
    }
    const pbc_field *f = fr->decl->fields.items[fr->next++];
    pbc_decl *to = f->type->kind == PBC_TYPE_NAMED ? f->type->decl : NULL;
    if (!to || to->kind != PBC_DECL_RECORD)
      continue;
    if (to->mark == 1)
      pbc_error(c->diag, f->type->loc, "record '%s' contains itself by value "
                "through field '%s' (use ref<%s> or list<%s>)",
                to->name, f->name, to->name, to->name);
    else if (to->mark == 0) {
      to->mark = 1;
      stack[top++] = (pbc__frame){to, 0};
    }
  }
}

bool pbc_check_program(pbc_program *p) {
  int before = p->diag->errors;
  size_t ndecls = 0;
  for (size_t i = 0; i < p->nfiles; i++) {
    if (!p->files[i]->syntax_ok)
      return false;
    ndecls += p->files[i]->decls.len;
  }
  for (size_t i = 0; i < p->nfiles; i++)
    pbc__sort_decls(p->files[i]);

  pbc__checker c = {p, p->diag, NULL};
  for (size_t i = 0; i < p->nfiles && !pbc_diag_stopped(p->diag); i++) {
    c.file = p->files[i];
    pbc__check_decl_names(&c);
    for (size_t k = 0; k < c.file->decls.len; k++) {
      pbc_decl *d = c.file->decls.items[k];
      if (d->kind == PBC_DECL_ENUM)
        pbc__check_enum(&c, d);
      else
        pbc__check_record(&c, d);
    }
  }
  pbc__frame *stack = pbc_xmalloc((ndecls ? ndecls : 1) * sizeof *stack);
  for (size_t i = 0; i < p->nfiles && !pbc_diag_stopped(p->diag); i++) {
    c.file = p->files[i];
    for (size_t k = 0; k < c.file->decls.len; k++)
      pbc__check_embedding(&c, c.file->decls.items[k], stack);
  }
  free(stack);
  return p->diag->errors == before;
}
