/*
 * layout.c - record layouts for the runtime's catalog (layout.h).  The
 * strings are those pbc check compares: types spelled with qualified
 * names, defaults in their exact form (pbc_evolve_default).
 */
#include "layout.h"

#include <protobase/protobase.h> /* PB_FIELD_OPTIONAL, PB_FIELD_KEY */
#include <stdlib.h>
#include <string.h>

#include "evolve.h"
#include "gen_internal.h"

/* A type spelled with qualified names ("map<string,common.Vec2>"). */
static void pbc__lay_type(const pbc_type *t, pbc_strbuf *sb) {
  switch (t->kind) {
  case PBC_TYPE_SCALAR:
    pbc_sb_puts(sb, pbc_scalar_name(t->scalar));
    break;
  case PBC_TYPE_NAMED:
    if (t->decl)
      pbc_gen_schema_name(sb, t->decl);
    else
      pbc_sb_puts(sb, t->name);
    break;
  case PBC_TYPE_ARRAY:
    pbc__lay_type(t->elem, sb);
    pbc_sb_puts(sb, "[]");
    break;
  case PBC_TYPE_REF:
  case PBC_TYPE_LIST:
  case PBC_TYPE_SET:
  case PBC_TYPE_MAP:
    pbc_sb_puts(sb, t->kind == PBC_TYPE_REF    ? "ref<"
                    : t->kind == PBC_TYPE_LIST ? "list<"
                    : t->kind == PBC_TYPE_SET  ? "set<"
                                               : "map<");
    if (t->key) {
      pbc__lay_type(t->key, sb);
      pbc_sb_putc(sb, ',');
    }
    pbc__lay_type(t->elem, sb);
    pbc_sb_putc(sb, '>');
    break;
  }
}

/* "Old" of [renamed_from = "Old"], qualified; NULL when none. */
static char *pbc__lay_renamed_from(const pbc_decl *d) {
  const pbc_option *ren = pbc_option_find(&d->options, "renamed_from");
  if (!ren || !ren->value || !ren->value->text)
    return NULL;
  /* "Old" is in the record's package; "pkg.Old" is as written. */
  const char *old = ren->value->text;
  const char *pkg = d->file ? d->file->package : NULL;
  pbc_strbuf rn;
  pbc_sb_init(&rn);
  if (pkg && !strchr(old, '.'))
    pbc_sb_printf(&rn, "%s.", pkg);
  pbc_sb_puts(&rn, old);
  char *out = pbc_xstrdup(pbc_sb_str(&rn));
  pbc_sb_free(&rn);
  return out;
}

/* Appends "New=Old" for each renamed record named in type t. */
static void pbc__lay_renames(const pbc_type *t, pbc_strbuf *sb) {
  if (!t)
    return;
  if (t->kind == PBC_TYPE_NAMED && t->decl &&
      t->decl->kind == PBC_DECL_RECORD) {
    char *old = pbc__lay_renamed_from(t->decl);
    if (old) {
      if (sb->len)
        pbc_sb_putc(sb, ',');
      pbc_gen_schema_name(sb, t->decl);
      pbc_sb_printf(sb, "=%s", old);
      free(old);
    }
  }
  pbc__lay_renames(t->key, sb);
  pbc__lay_renames(t->elem, sb);
}

static int pbc__lay_cmp(const void *a, const void *b) {
  const pbc_layout_field *x = a, *y = b;
  return x->tag < y->tag ? -1 : x->tag > y->tag;
}

static int pbc__lay_u32_cmp(const void *a, const void *b) {
  uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
  return x < y ? -1 : x > y;
}

void pbc_layout_build(const pbc_decl *d, pbc_layout *out) {
  memset(out, 0, sizeof *out);
  pbc_strbuf sb;
  pbc_sb_init(&sb);
  pbc_gen_schema_name(&sb, d);
  out->qname = pbc_xstrdup(pbc_sb_str(&sb));
  pbc_sb_free(&sb);
  out->renamed_from = pbc__lay_renamed_from(d);
  out->n_fields = d->fields.len;
  out->fields = pbc_xcalloc(out->n_fields ? out->n_fields : 1,
                            sizeof *out->fields);
  for (size_t i = 0; i < d->fields.len; i++) {
    const pbc_field *f = d->fields.items[i];
    pbc_layout_field *lf = &out->fields[i];
    lf->tag = (uint32_t)f->tag;
    lf->flags = (f->optional ? PB_FIELD_OPTIONAL : 0u) |
                (f->is_key ? PB_FIELD_KEY : 0u);
    lf->name = f->name;
    pbc_strbuf t, key, shown;
    pbc_sb_init(&t);
    pbc_sb_init(&key);
    pbc_sb_init(&shown);
    pbc__lay_type(f->type, &t);
    lf->type = pbc_xstrdup(pbc_sb_str(&t));
    pbc_strbuf rn;
    pbc_sb_init(&rn);
    pbc__lay_renames(f->type, &rn);
    if (rn.len)
      lf->renames = pbc_xstrdup(pbc_sb_str(&rn));
    pbc_sb_free(&rn);
    pbc_evolve_default(f, &key, &shown);
    if (key.len > 0) {
      lf->dflt = pbc_xmalloc(key.len + 1);
      memcpy(lf->dflt, pbc_sb_str(&key), key.len + 1);
      lf->dflt_len = key.len;
    }
    const pbc_type *e = f->type->kind == PBC_TYPE_ARRAY ? f->type->elem
                                                         : f->type;
    if (e->kind == PBC_TYPE_NAMED && e->decl &&
        e->decl->kind == PBC_DECL_ENUM) {
      pbc_strbuf ev;
      pbc_sb_init(&ev);
      for (size_t k = 0; k < e->decl->values.len; k++) {
        const pbc_enum_value *v = e->decl->values.items[k];
        pbc_sb_printf(&ev, "%s%s=%lld", k ? "," : "", v->name,
                      (long long)v->value);
      }
      lf->enums = pbc_xstrdup(pbc_sb_str(&ev));
      pbc_sb_free(&ev);
    } else if (e->kind == PBC_TYPE_NAMED && e->decl) {
      lf->embedded = e->decl;
    }
    pbc_sb_free(&t);
    pbc_sb_free(&key);
    pbc_sb_free(&shown);
  }
  qsort(out->fields, out->n_fields, sizeof *out->fields, pbc__lay_cmp);
  out->reserved = pbc_xcalloc(d->reserved.len ? d->reserved.len : 1,
                              sizeof *out->reserved);
  for (size_t i = 0; i < d->reserved.len; i++)
    out->reserved[i] = (uint32_t)((const pbc_reserved *)
                                      d->reserved.items[i])->tag;
  qsort(out->reserved, d->reserved.len, sizeof *out->reserved,
        pbc__lay_u32_cmp);
  for (size_t i = 0; i < d->reserved.len; i++)
    if (out->n_reserved == 0 ||
        out->reserved[out->n_reserved - 1] != out->reserved[i])
      out->reserved[out->n_reserved++] = out->reserved[i];
}

void pbc_layout_free(pbc_layout *l) {
  for (size_t i = 0; i < l->n_fields; i++) {
    free(l->fields[i].type);
    free(l->fields[i].dflt);
    free(l->fields[i].enums);
    free(l->fields[i].renames);
  }
  free(l->fields);
  free(l->reserved);
  free(l->qname);
  free(l->renamed_from);
  memset(l, 0, sizeof *l);
}
