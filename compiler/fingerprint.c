/*
 * fingerprint.c - canonical forms of records and enums, hashed with XXH3-64.
 *
 * A record's fingerprint is XXH3_64bits (seed 0) of its canonical form, a
 * single line of ASCII punctuation around the schema's own names:
 *
 *   record tasks.Task{1:uint64 key;2:string;3:bool =false;4:optional int64;
 *   5:enum tasks.Priority{0,1,2} =1;7:ref people.Person;
 *   8:list<record-name tasks.Comment>;12:record tasks.Point#1f0e...;
 *   reserved 14,15}
 *
 * (one line; broken here for width).  Exactly:
 *
 *   record   := "record " QNAME "{" item (";" item)* "}"   (no item: "{}")
 *   item     := field, in ascending tag order, then one
 *               "reserved " TAG ("," TAG)*  when the record reserves tags
 *               (ascending, duplicates kept once)
 *   field    := TAG ":" ["optional "] type [" key"] [" =" default]
 *   QNAME    := package "." name, or name when the file has no package
 *   type     := scalar name as in the schema ("int32", "string", "bytes")
 *             | enum
 *             | "record " QNAME "#" HEX a record embedded by value
 *             | "record-name " QNAME   see below
 *             | "array<" type ">"      T[]: elements are by value
 *             | "ref " QNAME           ref<R>
 *             | "list<" type ">" | "set<" type ">" | "map<" type "," type ">"
 *   enum     := "enum " QNAME "{" NUMBER ("," NUMBER)* "}"
 *               the value numbers in ascending order, in decimal; the
 *               value names are not part of it
 *   default  := decimal integer ("-5"; "-0" is written "0")
 *             | float: the value as a C double (rounded to float first for
 *               float32 fields, an integer literal converted), printed
 *               with "%.17g"; -0.0 stays distinct and prints "-0"
 *             | string/bytes: LENGTH ":" the raw bytes (LENGTH in decimal)
 *             | "true" | "false"
 *             | enum: the value's number in decimal
 *
 * A default appears only when the field is written with [default = x].
 * Elements of ref, list, set and map are separate atoms with their own
 * fingerprints, so a record there contributes only "record-name QNAME";
 * this also keeps recursive schemas (list<Self>, ref<Self>) finite.  A
 * record embedded by value (a field or an array element) contributes
 * "record QNAME#HEX", where HEX is its own fingerprint (16 lower-case hex
 * digits): its layout is pinned through the hash, and each record's form
 * stays as long as its own declaration, so fingerprinting a schema is
 * linear in its size.  A record that embeds itself through an array
 * (Self[]) is written "record-name QNAME" where it refers back to a record
 * whose form is being built.  Fingerprints are memoized in the declaration
 * (except those that depend on such a back reference to an enclosing
 * record, which are recomputed in each context).
 *
 * Not included: field names, doc comments, whitespace, indexes,
 * [renamed_from].  Included: the qualified record name, so renaming a
 * record or its package changes the fingerprint.
 *
 * The file fingerprint is XXH3_64bits of the canonical forms of every
 * record and enum declared in the file (standalone enums use the enum
 * form above), sorted by qualified name (bytewise), each followed by "\n".
 */
#include "fingerprint.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

/* --- The records whose forms are being built, outermost first. --- */

typedef struct pbc__fp_ctx {
  const pbc_decl **stack; /* records whose canonical form is being built */
  size_t depth;           /* entries in use */
  size_t cap;             /* entries allocated */
  size_t lowest_backref;  /* smallest stack index referred back to */
} pbc__fp_ctx;

/* Returns the stack index of d, or SIZE_MAX when d is not on the stack. */
static size_t pbc__fp_on_stack(const pbc__fp_ctx *cx, const pbc_decl *d) {
  for (size_t i = 0; i < cx->depth; i++)
    if (cx->stack[i] == d)
      return i;
  return SIZE_MAX;
}

static uint64_t pbc__fp_record_hash(const pbc_decl *rec, pbc__fp_ctx *cx);

/* --- Canonical text. --- */

static void pbc__fp_qname(const pbc_decl *d, pbc_strbuf *sb) {
  if (d->file && d->file->package)
    pbc_sb_printf(sb, "%s.", d->file->package);
  pbc_sb_puts(sb, d->name);
}

static int pbc__fp_i64_cmp(const void *a, const void *b) {
  int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
  return x < y ? -1 : x > y;
}

static void pbc__fp_enum(const pbc_decl *e, pbc_strbuf *sb) {
  pbc_sb_puts(sb, "enum ");
  pbc__fp_qname(e, sb);
  pbc_sb_putc(sb, '{');
  size_t n = e->values.len;
  int64_t *nums = pbc_xmalloc((n ? n : 1) * sizeof *nums);
  for (size_t i = 0; i < n; i++)
    nums[i] = ((const pbc_enum_value *)e->values.items[i])->value;
  qsort(nums, n, sizeof *nums, pbc__fp_i64_cmp);
  for (size_t i = 0; i < n; i++)
    pbc_sb_printf(sb, "%s%lld", i ? "," : "", (long long)nums[i]);
  free(nums);
  pbc_sb_putc(sb, '}');
}

static void pbc__fp_record(const pbc_decl *rec, pbc_strbuf *sb,
                           pbc__fp_ctx *cx);

static void pbc__fp_type(const pbc_type *t, bool by_value, pbc_strbuf *sb,
                         pbc__fp_ctx *cx) {
  switch (t->kind) {
  case PBC_TYPE_SCALAR:
    pbc_sb_puts(sb, pbc_scalar_name(t->scalar));
    break;
  case PBC_TYPE_NAMED:
    if (!t->decl) { /* cannot happen after a successful check */
      pbc_sb_printf(sb, "unresolved %s", t->name);
    } else if (t->decl->kind == PBC_DECL_ENUM) {
      pbc__fp_enum(t->decl, sb);
    } else if (by_value) {
      size_t at = pbc__fp_on_stack(cx, t->decl);
      if (at != SIZE_MAX) { /* Self[]: refer back, do not recurse */
        if (at < cx->lowest_backref)
          cx->lowest_backref = at;
        pbc_sb_puts(sb, "record-name ");
        pbc__fp_qname(t->decl, sb);
      } else {
        uint64_t h = pbc__fp_record_hash(t->decl, cx);
        pbc_sb_puts(sb, "record ");
        pbc__fp_qname(t->decl, sb);
        pbc_sb_printf(sb, "#%016llx", (unsigned long long)h);
      }
    } else {
      pbc_sb_puts(sb, "record-name ");
      pbc__fp_qname(t->decl, sb);
    }
    break;
  case PBC_TYPE_ARRAY:
    pbc_sb_puts(sb, "array<");
    pbc__fp_type(t->elem, by_value, sb, cx);
    pbc_sb_putc(sb, '>');
    break;
  case PBC_TYPE_REF:
    pbc_sb_puts(sb, "ref ");
    if (t->elem->kind == PBC_TYPE_NAMED && t->elem->decl)
      pbc__fp_qname(t->elem->decl, sb);
    else /* cannot happen after a successful check */
      pbc__fp_type(t->elem, false, sb, cx);
    break;
  case PBC_TYPE_LIST:
  case PBC_TYPE_SET:
    pbc_sb_puts(sb, t->kind == PBC_TYPE_LIST ? "list<" : "set<");
    pbc__fp_type(t->elem, false, sb, cx);
    pbc_sb_putc(sb, '>');
    break;
  case PBC_TYPE_MAP:
    pbc_sb_puts(sb, "map<");
    pbc__fp_type(t->key, false, sb, cx);
    pbc_sb_putc(sb, ',');
    pbc__fp_type(t->elem, false, sb, cx);
    pbc_sb_putc(sb, '>');
    break;
  }
}

/* The number of enum value `name` in enum e (0 if absent: cannot happen). */
static int64_t pbc__fp_enum_number(const pbc_decl *e, const char *name) {
  for (size_t i = 0; i < e->values.len; i++) {
    const pbc_enum_value *v = e->values.items[i];
    if (strcmp(v->name, name) == 0)
      return v->value;
  }
  return 0;
}

static void pbc__fp_default(const pbc_field *f, pbc_strbuf *sb) {
  const pbc_literal *l = f->dflt;
  const pbc_type *t = f->type;
  if (t->kind == PBC_TYPE_NAMED && t->decl && t->decl->kind == PBC_DECL_ENUM) {
    const char *name = l->kind == PBC_LIT_IDENT ? l->text : "";
    pbc_sb_printf(sb, "%lld",
                  (long long)pbc__fp_enum_number(t->decl, name));
  } else if (t->kind == PBC_TYPE_SCALAR && pbc_scalar_is_float(t->scalar)) {
    double v = l->kind == PBC_LIT_INT ? (double)l->u : l->f;
    if (l->negative)
      v = -v; /* -0.0 stays -0.0: "%.17g" prints "-0" */
    if (t->scalar == PBC_FLOAT32)
      v = (double)(float)v;
    pbc_sb_printf(sb, "%.17g", v);
  } else if (l->kind == PBC_LIT_INT) {
    bool neg = l->negative && l->u != 0;
    pbc_sb_printf(sb, "%s%llu", neg ? "-" : "", (unsigned long long)l->u);
  } else if (l->kind == PBC_LIT_STRING) {
    pbc_sb_printf(sb, "%zu:", l->len);
    pbc_sb_putn(sb, l->text, l->len);
  } else if (l->kind == PBC_LIT_BOOL) {
    pbc_sb_puts(sb, l->b ? "true" : "false");
  } else { /* cannot happen: check.c accepts no other default */
    pbc_sb_puts(sb, "?");
  }
}

static int pbc__fp_field_cmp(const void *a, const void *b) {
  const pbc_field *x = *(const pbc_field *const *)a;
  const pbc_field *y = *(const pbc_field *const *)b;
  return x->tag < y->tag ? -1 : x->tag > y->tag;
}

static int pbc__fp_u64_cmp(const void *a, const void *b) {
  uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
  return x < y ? -1 : x > y;
}

static void pbc__fp_record(const pbc_decl *rec, pbc_strbuf *sb,
                           pbc__fp_ctx *cx) {
  pbc_sb_puts(sb, "record ");
  pbc__fp_qname(rec, sb);
  pbc_sb_putc(sb, '{');
  size_t n = rec->fields.len;
  const pbc_field **fields = pbc_xmalloc((n ? n : 1) * sizeof *fields);
  if (n > 0)
    memcpy(fields, rec->fields.items, n * sizeof *fields);
  qsort(fields, n, sizeof *fields, pbc__fp_field_cmp);
  for (size_t i = 0; i < n; i++) {
    const pbc_field *f = fields[i];
    pbc_sb_printf(sb, "%s%llu:%s", i ? ";" : "", (unsigned long long)f->tag,
                  f->optional ? "optional " : "");
    pbc__fp_type(f->type, true, sb, cx);
    if (f->is_key)
      pbc_sb_puts(sb, " key");
    if (f->dflt) {
      pbc_sb_puts(sb, " =");
      pbc__fp_default(f, sb);
    }
  }
  free(fields);

  size_t nr = rec->reserved.len;
  if (nr > 0) {
    uint64_t *tags = pbc_xmalloc(nr * sizeof *tags);
    for (size_t i = 0; i < nr; i++)
      tags[i] = ((const pbc_reserved *)rec->reserved.items[i])->tag;
    qsort(tags, nr, sizeof *tags, pbc__fp_u64_cmp);
    pbc_sb_puts(sb, n ? ";reserved " : "reserved ");
    for (size_t i = 0; i < nr; i++)
      if (i == 0 || tags[i] != tags[i - 1])
        pbc_sb_printf(sb, "%s%llu", i ? "," : "", (unsigned long long)tags[i]);
    free(tags);
  }
  pbc_sb_putc(sb, '}');
}

/* --- Public functions. --- */

/*
 * Builds rec's form with rec pushed on the stack and hashes it.  The result
 * is memoized in the declaration unless it referred back to a record
 * further out (then it depends on where it was reached from).
 */
static uint64_t pbc__fp_record_hash(const pbc_decl *rec, pbc__fp_ctx *cx) {
  if (rec->fp_cached)
    return rec->fp_value;
  if (cx->depth == cx->cap) {
    cx->cap = cx->cap ? cx->cap * 2 : 16;
    cx->stack = pbc_xrealloc(cx->stack, cx->cap * sizeof *cx->stack);
  }
  size_t at = cx->depth;
  cx->stack[cx->depth++] = rec;
  size_t outer_backref = cx->lowest_backref;
  cx->lowest_backref = SIZE_MAX;

  pbc_strbuf sb;
  pbc_sb_init(&sb);
  pbc__fp_record(rec, &sb, cx);
  uint64_t h = XXH3_64bits(pbc_sb_str(&sb), sb.len);
  pbc_sb_free(&sb);

  cx->depth--;
  if (cx->lowest_backref >= at) { /* the same from any context: memoize */
    pbc_decl *memo = (pbc_decl *)rec; /* the memo fields are fingerprint.c's */
    memo->fp_value = h;
    memo->fp_cached = true;
  }
  if (outer_backref < cx->lowest_backref)
    cx->lowest_backref = outer_backref;
  return h;
}

void pbc_fingerprint_canonical(const pbc_decl *rec, pbc_strbuf *sb) {
  if (rec->kind == PBC_DECL_ENUM) {
    pbc__fp_enum(rec, sb);
    return;
  }
  pbc__fp_ctx cx = {NULL, 0, 0, SIZE_MAX};
  cx.stack = pbc_xmalloc(16 * sizeof *cx.stack);
  cx.cap = 16;
  cx.stack[cx.depth++] = rec;
  pbc__fp_record(rec, sb, &cx);
  free(cx.stack);
}

uint64_t pbc_fingerprint_record(const pbc_decl *rec) {
  if (rec->kind == PBC_DECL_ENUM) {
    pbc_strbuf sb;
    pbc_sb_init(&sb);
    pbc__fp_enum(rec, &sb);
    uint64_t h = XXH3_64bits(pbc_sb_str(&sb), sb.len);
    pbc_sb_free(&sb);
    return h;
  }
  pbc__fp_ctx cx = {NULL, 0, 0, SIZE_MAX};
  uint64_t h = pbc__fp_record_hash(rec, &cx);
  free(cx.stack);
  return h;
}

typedef struct pbc__fp_named {
  char *qname;           /* heap */
  const pbc_decl *decl;  /* record or enum */
} pbc__fp_named;

static int pbc__fp_named_cmp(const void *a, const void *b) {
  return strcmp(((const pbc__fp_named *)a)->qname,
                ((const pbc__fp_named *)b)->qname);
}

uint64_t pbc_fingerprint_file(const pbc_file *f) {
  size_t n = f->decls.len;
  pbc__fp_named *all = pbc_xcalloc(n ? n : 1, sizeof *all);
  for (size_t i = 0; i < n; i++) {
    pbc_strbuf q;
    pbc_sb_init(&q);
    all[i].decl = f->decls.items[i];
    pbc__fp_qname(all[i].decl, &q);
    all[i].qname = pbc_xstrdup(pbc_sb_str(&q));
    pbc_sb_free(&q);
  }
  qsort(all, n, sizeof *all, pbc__fp_named_cmp);
  pbc_strbuf sb;
  pbc_sb_init(&sb);
  for (size_t i = 0; i < n; i++) {
    pbc_fingerprint_canonical(all[i].decl, &sb);
    pbc_sb_putc(&sb, '\n');
    free(all[i].qname);
  }
  free(all);
  uint64_t h = XXH3_64bits(pbc_sb_str(&sb), sb.len);
  pbc_sb_free(&sb);
  return h;
}
