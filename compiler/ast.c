/*
 * ast.c - the scalar table, node constructors and small AST queries.
 *
 * The scalar table is the single place that spells the built-in types; the
 * lexer does not know them (they are ordinary identifiers, so a field may be
 * called `set` or `map`), and the parser asks pbc_scalar_lookup whether a
 * type name is built in.
 */
#include "ast.h"

#include <string.h>

static const struct {
  const char *name; /* schema spelling */
  int bits;         /* integer width, else 0 */
  bool is_signed;   /* intN */
} pbc__scalars[] = {
    [PBC_BOOL] = {"bool", 0, false},     [PBC_INT8] = {"int8", 8, true},
    [PBC_INT16] = {"int16", 16, true},   [PBC_INT32] = {"int32", 32, true},
    [PBC_INT64] = {"int64", 64, true},   [PBC_UINT8] = {"uint8", 8, false},
    [PBC_UINT16] = {"uint16", 16, false}, [PBC_UINT32] = {"uint32", 32, false},
    [PBC_UINT64] = {"uint64", 64, false}, [PBC_FLOAT32] = {"float32", 0, false},
    [PBC_FLOAT64] = {"float64", 0, false}, [PBC_STRING] = {"string", 0, false},
    [PBC_BYTES] = {"bytes", 0, false},
};

const char *pbc_scalar_name(pbc_scalar s) { return pbc__scalars[s].name; }

bool pbc_scalar_lookup(const char *name, pbc_scalar *out) {
  for (size_t i = 0; i < sizeof pbc__scalars / sizeof pbc__scalars[0]; i++) {
    if (strcmp(pbc__scalars[i].name, name) == 0) {
      *out = (pbc_scalar)i;
      return true;
    }
  }
  return false;
}

bool pbc_scalar_is_int(pbc_scalar s) { return pbc__scalars[s].bits != 0; }
bool pbc_scalar_is_signed(pbc_scalar s) { return pbc__scalars[s].is_signed; }
bool pbc_scalar_is_float(pbc_scalar s) {
  return s == PBC_FLOAT32 || s == PBC_FLOAT64;
}
int pbc_scalar_bits(pbc_scalar s) { return pbc__scalars[s].bits; }

void pbc_type_spell(const pbc_type *t, pbc_strbuf *sb) {
  switch (t->kind) {
  case PBC_TYPE_SCALAR:
    pbc_sb_puts(sb, pbc_scalar_name(t->scalar));
    break;
  case PBC_TYPE_NAMED:
    pbc_sb_puts(sb, t->name);
    break;
  case PBC_TYPE_ARRAY:
    pbc_type_spell(t->elem, sb);
    pbc_sb_puts(sb, "[]");
    break;
  case PBC_TYPE_REF:
  case PBC_TYPE_LIST:
  case PBC_TYPE_SET:
    pbc_sb_puts(sb, t->kind == PBC_TYPE_REF    ? "ref<"
                    : t->kind == PBC_TYPE_LIST ? "list<"
                                               : "set<");
    pbc_type_spell(t->elem, sb);
    pbc_sb_putc(sb, '>');
    break;
  case PBC_TYPE_MAP:
    pbc_sb_puts(sb, "map<");
    pbc_type_spell(t->key, sb);
    pbc_sb_puts(sb, ", ");
    pbc_type_spell(t->elem, sb);
    pbc_sb_putc(sb, '>');
    break;
  }
}

bool pbc_type_resolved(const pbc_type *t) {
  if (t->kind == PBC_TYPE_NAMED)
    return t->decl != NULL;
  if (t->kind == PBC_TYPE_SCALAR)
    return true;
  return pbc_type_resolved(t->elem) && (!t->key || pbc_type_resolved(t->key));
}

pbc_type *pbc_type_new(pbc_arena *a, pbc_type_kind kind, pbc_loc loc) {
  pbc_type *t = pbc_arena_alloc(a, sizeof *t);
  t->kind = kind;
  t->loc = loc;
  t->depth = 1;
  return t;
}

pbc_literal *pbc_literal_new(pbc_arena *a, pbc_lit_kind kind, pbc_loc loc) {
  pbc_literal *l = pbc_arena_alloc(a, sizeof *l);
  l->kind = kind;
  l->loc = loc;
  return l;
}

pbc_decl *pbc_decl_new(pbc_arena *a, pbc_decl_kind kind) {
  pbc_decl *d = pbc_arena_alloc(a, sizeof *d);
  d->kind = kind;
  return d;
}

const char *pbc_doc_take(pbc_file *f, int line, int col) {
  /* Docs are appended in source order, so the vector is sorted. */
  size_t lo = 0, hi = f->docs.len;
  while (lo < hi) {
    size_t mid = lo + (hi - lo) / 2;
    pbc_doc *d = f->docs.items[mid];
    if (d->line < line || (d->line == line && d->col < col))
      lo = mid + 1;
    else
      hi = mid;
  }
  if (lo == f->docs.len)
    return NULL;
  pbc_doc *d = f->docs.items[lo];
  if (d->line != line || d->col != col || !d->text)
    return NULL;
  const char *text = d->text;
  d->text = NULL;
  return text;
}

const pbc_option *pbc_option_find(const pbc_vec *opts, const char *name) {
  for (size_t i = 0; i < opts->len; i++) {
    const pbc_option *o = opts->items[i];
    if (strcmp(o->name, name) == 0)
      return o;
  }
  return NULL;
}
