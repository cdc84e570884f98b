/*
 * evolve.c - pbc check OLD.pbs NEW.pbs: every change, compatible or not.
 *
 * The comparison runs in two steps.  First the declarations are paired:
 * a NEW record with [renamed_from = "X"] takes the OLD record called X
 * (unqualified or qualified), then every unpaired NEW declaration takes the
 * unpaired OLD one of the same kind and unqualified name (both files have
 * one package each, and a package change is reported once on its own).  An
 * OLD record left unpaired is removed; when NEW has unpaired records, the
 * removal is reported at the one most likely to be its renamed successor
 * (the same canonical body, else the first one left), as a rename that
 * lacks [renamed_from].
 *
 * Then each pair is compared, and the findings reported in NEW's source
 * order: records by field tag (a merge of the two tag-sorted field lists),
 * then reserved tags and indexes; enums by value name, then by number.
 * Types are compared by a spelling in which every record or enum of NEW
 * that has an OLD partner is named by that partner's qualified name, so
 * renaming a record with [renamed_from] does not change the type of the
 * fields that embed or reference it.  An embedded record's own changes are
 * reported at that record, not at every field that embeds it.
 *
 * Defaults are compared by effective value: no [default] means zero,
 * false, empty, or the enum value 0, so writing out the implicit default
 * is not a change.  Memory: qualified names live in a local arena, the
 * rest on the heap, all freed before returning.
 */
#include "evolve.h"

#include <stdlib.h>
#include <string.h>

#include "fingerprint.h"

typedef struct pbc__ev {
  pbc_diag *diag;
  pbc_evolve_counts *counts;
  const pbc_file *oldf, *newf;
  const pbc_decl **partner;  /* per NEW decl: its OLD partner, or NULL */
  bool *old_paired;          /* per OLD decl: has a NEW partner */
  const pbc_decl **succ;     /* per OLD decl: guessed successor, or NULL */
  bool *new_succ;            /* per NEW decl: is some OLD decl's succ */
  pbc_arena arena;           /* qualified names */
} pbc__ev;

#define PBC__EV_COMPAT(ev, loc, ...) \
  ((ev)->counts->compatible++, pbc_compatible((ev)->diag, loc, __VA_ARGS__))
#define PBC__EV_BREAK(ev, loc, ...) \
  ((ev)->counts->breaking++, pbc_breaking((ev)->diag, loc, __VA_ARGS__))

static const char *pbc__ev_qname(pbc__ev *ev, const pbc_decl *d) {
  const char *pkg = d->file ? d->file->package : NULL;
  if (!pkg)
    return d->name;
  size_t len = strlen(pkg) + strlen(d->name) + 2;
  char *s = pbc_arena_alloc(&ev->arena, len);
  snprintf(s, len, "%s.%s", pkg, d->name);
  return s;
}

static size_t pbc__ev_index(const pbc_file *f, const pbc_decl *d) {
  for (size_t i = 0; i < f->decls.len; i++)
    if (f->decls.items[i] == d)
      return i;
  return SIZE_MAX;
}

/* The comparable name of a declaration: its OLD partner's qname if any. */
static const char *pbc__ev_name(pbc__ev *ev, const pbc_decl *d) {
  if (d->file == ev->newf) {
    size_t i = pbc__ev_index(ev->newf, d);
    if (i != SIZE_MAX && ev->partner[i])
      d = ev->partner[i];
  }
  return pbc__ev_qname(ev, d);
}

/* A type spelled for comparison (see the file comment). */
static void pbc__ev_type(pbc__ev *ev, const pbc_type *t, pbc_strbuf *sb) {
  switch (t->kind) {
  case PBC_TYPE_SCALAR:
    pbc_sb_puts(sb, pbc_scalar_name(t->scalar));
    break;
  case PBC_TYPE_NAMED:
    pbc_sb_puts(sb, t->decl ? pbc__ev_name(ev, t->decl) : t->name);
    break;
  case PBC_TYPE_ARRAY:
    pbc__ev_type(ev, t->elem, sb);
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
      pbc__ev_type(ev, t->key, sb);
      pbc_sb_putc(sb, ',');
    }
    pbc__ev_type(ev, t->elem, sb);
    pbc_sb_putc(sb, '>');
    break;
  }
}

static const pbc_enum_value *pbc__ev_enum_by_name(const pbc_decl *e,
                                                  const char *name) {
  for (size_t i = 0; i < e->values.len; i++)
    if (strcmp(((const pbc_enum_value *)e->values.items[i])->name, name) == 0)
      return e->values.items[i];
  return NULL;
}

static const pbc_enum_value *pbc__ev_enum_by_num(const pbc_decl *e,
                                                 int64_t num) {
  for (size_t i = 0; i < e->values.len; i++)
    if (((const pbc_enum_value *)e->values.items[i])->value == num)
      return e->values.items[i];
  return NULL;
}

/*
 * The effective default of a scalar or enum field: `key` to compare (exact
 * value), `shown` for messages.
 */
void pbc_evolve_default(const pbc_field *f, pbc_strbuf *key,
                        pbc_strbuf *shown) {
  const pbc_literal *l = f->dflt;
  const pbc_type *t = f->type;
  if (t->kind == PBC_TYPE_NAMED && t->decl && t->decl->kind == PBC_DECL_ENUM) {
    const pbc_enum_value *v =
        l ? pbc__ev_enum_by_name(t->decl, l->text) : pbc__ev_enum_by_num(t->decl, 0);
    pbc_sb_printf(key, "%lld", v ? (long long)v->value : 0LL);
    pbc_sb_puts(shown, v ? v->name : "0");
  } else if (t->kind != PBC_TYPE_SCALAR) {
    return; /* no default: nothing to compare */
  } else if (t->scalar == PBC_BOOL) {
    pbc_sb_puts(key, l && l->b ? "true" : "false");
  } else if (pbc_scalar_is_float(t->scalar)) {
    double v = !l ? 0.0 : l->kind == PBC_LIT_INT ? (double)l->u : l->f;
    if (l && l->negative)
      v = -v;
    if (t->scalar == PBC_FLOAT32)
      v = (double)(float)v;
    pbc_sb_printf(key, "%.17g", v);
  } else if (pbc_scalar_is_int(t->scalar)) {
    bool neg = l && l->negative && l->u != 0;
    pbc_sb_printf(key, "%s%llu", neg ? "-" : "", l ? (unsigned long long)l->u : 0ULL);
  } else { /* string, bytes */
    pbc_sb_printf(key, "%zu:", l ? l->len : 0);
    pbc_sb_putn(key, l ? l->text : "", l ? l->len : 0);
    pbc_sb_putc(shown, '"');
    pbc_sb_putn(shown, l ? l->text : "", l ? strnlen(l->text, l->len) : 0);
    pbc_sb_putc(shown, '"');
  }
  if (shown->len == 0)
    pbc_sb_puts(shown, pbc_sb_str(key));
}

static const pbc_reserved *pbc__ev_reserved(const pbc_decl *r, uint64_t tag) {
  for (size_t i = 0; i < r->reserved.len; i++)
    if (((const pbc_reserved *)r->reserved.items[i])->tag == tag)
      return r->reserved.items[i];
  return NULL;
}

static const pbc_field *pbc__ev_field(const pbc_decl *r, uint64_t tag) {
  for (size_t i = 0; i < r->fields.len; i++)
    if (((const pbc_field *)r->fields.items[i])->tag == tag)
      return r->fields.items[i];
  return NULL;
}

static const pbc_field *pbc__ev_key(const pbc_decl *r) {
  for (size_t i = 0; i < r->fields.len; i++)
    if (((const pbc_field *)r->fields.items[i])->is_key)
      return r->fields.items[i];
  return NULL;
}

static pbc_loc pbc__ev_key_loc(const pbc_field *f) {
  const pbc_option *o = pbc_option_find(&f->options, "key");
  return o ? o->loc : f->loc;
}

/* --- Fields of a record pair. --- */

static void pbc__ev_same_tag(pbc__ev *ev, const pbc_field *o,
                             const pbc_field *n) {
  unsigned long long tag = (unsigned long long)n->tag;
  pbc_strbuf ot, nt;
  pbc_sb_init(&ot);
  pbc_sb_init(&nt);
  pbc__ev_type(ev, o->type, &ot);
  pbc__ev_type(ev, n->type, &nt);
  bool same_type = strcmp(pbc_sb_str(&ot), pbc_sb_str(&nt)) == 0;
  if (!same_type) {
    pbc_sb_free(&ot);
    pbc_sb_free(&nt);
    pbc_type_spell(o->type, &ot);
    pbc_type_spell(n->type, &nt);
    PBC__EV_BREAK(ev, n->type->loc, "field '%s' (tag %llu) changed type from "
                  "'%s' to '%s'", n->name, tag, pbc_sb_str(&ot), pbc_sb_str(&nt));
    pbc_note(ev->diag, o->type->loc, "the old type");
  }
  pbc_sb_free(&ot);
  pbc_sb_free(&nt);
  if (strcmp(o->name, n->name) != 0)
    PBC__EV_COMPAT(ev, n->loc, "field '%s' (tag %llu) renamed to '%s'",
                   o->name, tag, n->name);
  if (o->optional != n->optional) {
    PBC__EV_BREAK(ev, n->optional ? n->optional_loc : n->loc,
                  "field '%s' (tag %llu) %s", n->name, tag,
                  n->optional ? "became optional" : "is no longer optional");
    pbc_note(ev->diag, o->loc, "the old field");
  }
  if (!same_type)
    return;
  pbc_strbuf ok, os, nk, ns;
  pbc_sb_init(&ok);
  pbc_sb_init(&os);
  pbc_sb_init(&nk);
  pbc_sb_init(&ns);
  pbc_evolve_default(o, &ok, &os);
  pbc_evolve_default(n, &nk, &ns);
  if (ok.len != nk.len || memcmp(pbc_sb_str(&ok), pbc_sb_str(&nk), ok.len)) {
    PBC__EV_BREAK(ev, n->dflt ? n->dflt->loc : n->loc, "default of field '%s' "
                  "(tag %llu) changed from %s to %s", n->name, tag,
                  pbc_sb_str(&os), pbc_sb_str(&ns));
    pbc_note(ev->diag, o->dflt ? o->dflt->loc : o->loc, "the old default");
  }
  pbc_sb_free(&ok);
  pbc_sb_free(&os);
  pbc_sb_free(&nk);
  pbc_sb_free(&ns);
}

static int pbc__ev_field_cmp(const void *a, const void *b) {
  const pbc_field *x = *(const pbc_field *const *)a;
  const pbc_field *y = *(const pbc_field *const *)b;
  return x->tag < y->tag ? -1 : x->tag > y->tag;
}

static const pbc_field **pbc__ev_sorted_fields(const pbc_decl *r) {
  size_t n = r->fields.len;
  const pbc_field **v = pbc_xmalloc((n ? n : 1) * sizeof *v);
  if (n > 0)
    memcpy(v, r->fields.items, n * sizeof *v);
  qsort(v, n, sizeof *v, pbc__ev_field_cmp);
  return v;
}

static void pbc__ev_fields(pbc__ev *ev, const pbc_decl *o, const pbc_decl *n) {
  const pbc_field **of = pbc__ev_sorted_fields(o), **nf = pbc__ev_sorted_fields(n);
  size_t i = 0, k = 0;
  while (i < o->fields.len || k < n->fields.len) {
    const pbc_field *a = i < o->fields.len ? of[i] : NULL;
    const pbc_field *b = k < n->fields.len ? nf[k] : NULL;
    if (a && b && a->tag == b->tag) {
      pbc__ev_same_tag(ev, a, b);
      i++, k++;
    } else if (a && (!b || a->tag < b->tag)) { /* removed */
      const pbc_reserved *r = pbc__ev_reserved(n, a->tag);
      if (r) {
        PBC__EV_COMPAT(ev, r->loc, "field '%s' (tag %llu) removed, its tag "
                       "reserved", a->name, (unsigned long long)a->tag);
      } else {
        PBC__EV_BREAK(ev, n->loc, "field '%s' (tag %llu) removed without "
                      "reserving its tag", a->name, (unsigned long long)a->tag);
        pbc_note(ev->diag, a->loc, "the removed field");
      }
      i++;
    } else { /* added */
      const pbc_reserved *r = pbc__ev_reserved(o, b->tag);
      if (r) {
        PBC__EV_BREAK(ev, b->tag_loc, "field '%s' reuses tag %llu, reserved in "
                      "the old schema", b->name, (unsigned long long)b->tag);
        pbc_note(ev->diag, r->loc, "reserved here");
      } else {
        PBC__EV_COMPAT(ev, b->loc, "field '%s' (tag %llu) added", b->name,
                       (unsigned long long)b->tag);
      }
      k++;
    }
  }
  free(of);
  free(nf);
}

static void pbc__ev_key_change(pbc__ev *ev, const pbc_decl *o,
                               const pbc_decl *n) {
  const pbc_field *ok = pbc__ev_key(o), *nk = pbc__ev_key(n);
  if (ok && nk && ok->tag == nk->tag)
    return;
  if (!ok && nk) {
    PBC__EV_BREAK(ev, pbc__ev_key_loc(nk), "key added: field '%s' (tag %llu)",
                  nk->name, (unsigned long long)nk->tag);
  } else if (ok && !nk) {
    const pbc_field *same = pbc__ev_field(n, ok->tag);
    PBC__EV_BREAK(ev, same ? same->loc : n->loc, "key removed: field '%s' (tag "
                  "%llu) is no longer the key", ok->name,
                  (unsigned long long)ok->tag);
    pbc_note(ev->diag, pbc__ev_key_loc(ok), "the old key");
  } else if (ok && nk) {
    PBC__EV_BREAK(ev, pbc__ev_key_loc(nk), "key moved from field '%s' (tag "
                  "%llu) to field '%s' (tag %llu)", ok->name,
                  (unsigned long long)ok->tag, nk->name,
                  (unsigned long long)nk->tag);
    pbc_note(ev->diag, pbc__ev_key_loc(ok), "the old key");
  }
}

static const pbc_index *pbc__ev_index_named(const pbc_decl *r, const char *name) {
  for (size_t i = 0; i < r->indexes.len; i++)
    if (strcmp(((const pbc_index *)r->indexes.items[i])->name, name) == 0)
      return r->indexes.items[i];
  return NULL;
}

static bool pbc__ev_same_index(const pbc_index *a, const pbc_index *b) {
  if (a->fields.len != b->fields.len)
    return false;
  for (size_t i = 0; i < a->fields.len; i++)
    if (strcmp(((const pbc_ident *)a->fields.items[i])->name,
               ((const pbc_ident *)b->fields.items[i])->name) != 0)
      return false;
  return true;
}

/* [unique] (check.c marks it).  A changed flag is compatible, like any index
 * change: no stored record is read differently.  The database still holds
 * the old definition, which pb_table_drop_index removes (protobase/table.h,
 * INDEXES); the new one is then built. */
static bool pbc__ev_unique(const pbc_index *x) { return x->unique; }

static void pbc__ev_record(pbc__ev *ev, const pbc_decl *o, const pbc_decl *n) {
  if (strcmp(o->name, n->name) != 0)
    PBC__EV_COMPAT(ev, n->loc, "record '%s' renamed to '%s'",
                   pbc__ev_qname(ev, o), pbc__ev_qname(ev, n));
  pbc__ev_key_change(ev, o, n);
  pbc__ev_fields(ev, o, n);
  for (size_t i = 0; i < o->reserved.len; i++) {
    const pbc_reserved *r = o->reserved.items[i];
    if (!pbc__ev_reserved(n, r->tag) && !pbc__ev_field(n, r->tag)) {
      PBC__EV_BREAK(ev, n->loc, "tag %llu is no longer reserved (a later field "
                    "could reuse it)", (unsigned long long)r->tag);
      pbc_note(ev->diag, r->loc, "reserved here");
    }
  }
  for (size_t i = 0; i < n->indexes.len; i++) {
    const pbc_index *x = n->indexes.items[i];
    const pbc_index *y = pbc__ev_index_named(o, x->name);
    if (!y)
      PBC__EV_COMPAT(ev, x->loc, "index '%s' added", x->name);
    else if (!pbc__ev_same_index(x, y))
      PBC__EV_COMPAT(ev, x->loc, "index '%s' changed", x->name);
    else if (pbc__ev_unique(x) != pbc__ev_unique(y))
      PBC__EV_COMPAT(ev, x->loc, "index '%s' %s [unique]", x->name,
                     pbc__ev_unique(x) ? "gained" : "lost");
  }
  for (size_t i = 0; i < o->indexes.len; i++) {
    const pbc_index *y = o->indexes.items[i];
    if (!pbc__ev_index_named(n, y->name)) {
      PBC__EV_COMPAT(ev, n->loc, "index '%s' dropped", y->name);
      pbc_note(ev->diag, y->loc, "the old index");
    }
  }
}

/* --- Enums. --- */

static void pbc__ev_enum(pbc__ev *ev, const pbc_decl *o, const pbc_decl *n) {
  const char *en = n->name;
  for (size_t i = 0; i < n->values.len; i++) {
    const pbc_enum_value *nv = n->values.items[i];
    const pbc_enum_value *ov = pbc__ev_enum_by_name(o, nv->name);
    if (ov && ov->value != nv->value) {
      PBC__EV_BREAK(ev, nv->num_loc, "enum value '%s.%s' renumbered from %lld "
                    "to %lld", en, nv->name, (long long)ov->value,
                    (long long)nv->value);
      pbc_note(ev->diag, ov->num_loc, "the old number");
    } else if (!ov) {
      ov = pbc__ev_enum_by_num(o, nv->value);
      if (ov && !pbc__ev_enum_by_name(n, ov->name))
        PBC__EV_COMPAT(ev, nv->loc, "enum value '%s.%s' (%lld) renamed to '%s'",
                       en, ov->name, (long long)nv->value, nv->name);
      else if (!ov)
        PBC__EV_COMPAT(ev, nv->loc, "enum value '%s.%s' (%lld) added", en,
                       nv->name, (long long)nv->value);
      else /* the number of an old value that moved elsewhere */
        PBC__EV_BREAK(ev, nv->loc, "enum value '%s.%s' takes number %lld from "
                      "'%s'", en, nv->name, (long long)nv->value, ov->name);
    }
  }
  for (size_t i = 0; i < o->values.len; i++) {
    const pbc_enum_value *ov = o->values.items[i];
    if (pbc__ev_enum_by_name(n, ov->name))
      continue;
    const pbc_enum_value *nv = pbc__ev_enum_by_num(n, ov->value);
    if (nv && !pbc__ev_enum_by_name(o, nv->name))
      continue; /* renamed, reported above */
    PBC__EV_BREAK(ev, n->loc, "enum value '%s.%s' (%lld) removed", en, ov->name,
                  (long long)ov->value);
    pbc_note(ev->diag, ov->loc, "the removed value");
  }
}

/* --- Pairing. --- */

/* The canonical form without "record QNAME": the record's shape. */
static char *pbc__ev_body(const pbc_decl *r) {
  pbc_strbuf sb;
  pbc_sb_init(&sb);
  pbc_fingerprint_canonical(r, &sb);
  const char *s = pbc_sb_str(&sb);
  char *body = pbc_xstrdup(strchr(s, '{') ? strchr(s, '{') : s);
  pbc_sb_free(&sb);
  return body;
}

static void pbc__ev_pair(pbc__ev *ev) {
  const pbc_vec *od = &ev->oldf->decls, *nd = &ev->newf->decls;
  for (int pass = 0; pass < 2; pass++) {
    for (size_t k = 0; k < nd->len; k++) {
      const pbc_decl *n = nd->items[k];
      const pbc_option *ren = pbc_option_find(&n->options, "renamed_from");
      const char *want = pass == 0 ? (ren && ren->value ? ren->value->text : NULL)
                                   : n->name;
      for (size_t i = 0; want && !ev->partner[k] && i < od->len; i++) {
        const pbc_decl *o = od->items[i];
        if (ev->old_paired[i] || o->kind != n->kind)
          continue;
        if (strcmp(o->name, want) == 0 ||
            (pass == 0 && strcmp(pbc__ev_qname(ev, o), want) == 0)) {
          ev->partner[k] = o;
          ev->old_paired[i] = true;
        }
      }
    }
  }
  /* Guess the successor of each removed record. */
  for (int pass = 0; pass < 2; pass++) {
    for (size_t i = 0; i < od->len; i++) {
      const pbc_decl *o = od->items[i];
      if (ev->old_paired[i] || ev->succ[i] || o->kind != PBC_DECL_RECORD)
        continue;
      char *ob = pass == 0 ? pbc__ev_body(o) : NULL;
      for (size_t k = 0; k < nd->len && !ev->succ[i]; k++) {
        const pbc_decl *n = nd->items[k];
        if (ev->partner[k] || ev->new_succ[k] || n->kind != PBC_DECL_RECORD)
          continue;
        char *nb = pass == 0 ? pbc__ev_body(n) : NULL;
        if (pass == 1 || strcmp(ob, nb) == 0) {
          ev->succ[i] = n;
          ev->new_succ[k] = true;
        }
        free(nb);
      }
      free(ob);
    }
  }
}

static void pbc__ev_report_removed(pbc__ev *ev, const pbc_decl *n) {
  const pbc_vec *od = &ev->oldf->decls;
  for (size_t i = 0; i < od->len; i++) {
    const pbc_decl *o = od->items[i];
    bool hit = n ? ev->succ[i] == n : !ev->old_paired[i] && !ev->succ[i];
    if (!hit)
      continue;
    const char *what = o->kind == PBC_DECL_RECORD ? "record" : "enum";
    pbc_loc whole = {ev->newf->src, 0, 0};
    if (n) {
      PBC__EV_BREAK(ev, n->loc, "record '%s' removed (renamed to '%s' without "
                    "[renamed_from = \"%s\"]?)", pbc__ev_qname(ev, o),
                    pbc__ev_qname(ev, n), o->name);
    } else if (o->kind == PBC_DECL_RECORD) {
      PBC__EV_BREAK(ev, whole, "record '%s' removed", pbc__ev_qname(ev, o));
    } else {
      PBC__EV_COMPAT(ev, whole, "%s '%s' removed", what, pbc__ev_qname(ev, o));
    }
    pbc_note(ev->diag, o->loc, "'%s' was declared here", o->name);
  }
}

void pbc_evolve_check(const pbc_file *old_f, const pbc_file *new_f,
                      pbc_diag *d, pbc_evolve_counts *counts) {
  pbc__ev ev;
  memset(&ev, 0, sizeof ev);
  memset(counts, 0, sizeof *counts);
  ev.diag = d;
  ev.counts = counts;
  ev.oldf = old_f;
  ev.newf = new_f;
  size_t no = old_f->decls.len, nn = new_f->decls.len;
  ev.partner = pbc_xcalloc(nn ? nn : 1, sizeof *ev.partner);
  ev.new_succ = pbc_xcalloc(nn ? nn : 1, sizeof *ev.new_succ);
  ev.old_paired = pbc_xcalloc(no ? no : 1, sizeof *ev.old_paired);
  ev.succ = pbc_xcalloc(no ? no : 1, sizeof *ev.succ);
  pbc_arena_init(&ev.arena);

  const char *op = old_f->package ? old_f->package : "";
  const char *np = new_f->package ? new_f->package : "";
  if (strcmp(op, np) != 0) {
    pbc_loc at = new_f->package ? new_f->package_loc
                                : (pbc_loc){new_f->src, 0, 0};
    PBC__EV_BREAK(&ev, at, "package changed from '%s' to '%s' (every "
                  "qualified record name changes)", op, np);
    if (old_f->package)
      pbc_note(d, old_f->package_loc, "the old package");
  }
  pbc__ev_pair(&ev);
  for (size_t k = 0; k < nn; k++) {
    const pbc_decl *n = new_f->decls.items[k];
    const pbc_decl *o = ev.partner[k];
    if (o && n->kind == PBC_DECL_RECORD)
      pbc__ev_record(&ev, o, n);
    else if (o)
      pbc__ev_enum(&ev, o, n);
    else if (ev.new_succ[k])
      pbc__ev_report_removed(&ev, n);
    else
      PBC__EV_COMPAT(&ev, n->loc, "%s '%s' added",
                     n->kind == PBC_DECL_RECORD ? "record" : "enum",
                     pbc__ev_qname(&ev, n));
  }
  pbc__ev_report_removed(&ev, NULL);

  pbc_arena_free(&ev.arena);
  free(ev.partner);
  free(ev.new_succ);
  free(ev.old_paired);
  free(ev.succ);
}
