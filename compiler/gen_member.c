/*
 * gen_member.c - typed handles of member collections: for each field F of
 * record R that is a list<T>, set<T> or map<K, V>, the handle type P_R_F
 * (never defined: it IS the runtime's pb_list, pb_set, pb_dict or
 * pb_hdict), its iterator P_R_F_iter, and functions that open the
 * collection of one row (pb_table_open_member with P_R_table) and convert
 * between the element's C type and the stored pb_value.  docs/members.md
 * is the contract of the output.
 *
 * Stored values: bool as PB_VALUE_BOOL, signed integers and enums as
 * PB_VALUE_INT, unsigned integers as PB_VALUE_UINT, floats as
 * PB_VALUE_DOUBLE, string and bytes as themselves, a record P_C as
 * PB_VALUE_RECORD (P_C_encode, fingerprint P_C_FINGERPRINT), ref<R> as
 * R's key (a record with a key) or PB_VALUE_REF (one without).  An element
 * that is itself a collection or an array has no C type here: it is given
 * and taken as a pb_value.  Reading a value of another kind, or an
 * integer out of the C type's range, is PB_ESCHEMA.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gen_internal.h"

/* How one element (or key) is held in C. */
typedef enum pbc__mk {
  PBC__M_SCALAR, /* a scalar: `scalar` */
  PBC__M_ENUM,   /* an enum: `decl` */
  PBC__M_RECORD, /* a record, by pointer: `decl` */
  PBC__M_PTR,    /* ref<R> to a record without a key: pb_atom_ptr */
  PBC__M_VALUE   /* a nested collection or array: pb_value, as stored */
} pbc__mk;

typedef struct pbc__mtype {
  pbc__mk kind;
  pbc_scalar scalar;
  const pbc_decl *decl;
} pbc__mtype;

/* The collection kind of a member field. */
typedef enum pbc__coll {
  PBC__LIST,  /* list<T>: a List */
  PBC__SET,   /* set<T>: a Set */
  PBC__DICT,  /* map<string, V>: a Dictionary */
  PBC__HDICT  /* map<K, V>, any other K: a HashDictionary */
} pbc__coll;

/* One member field, with the names the generated code uses. */
typedef struct pbc__member {
  const pbc_decl *rec; /* the record R */
  const pbc_field *f;  /* the field F */
  pbc__coll coll;      /* its collection kind */
  pbc__mtype elem;     /* the element (list, set) or value (map) */
  pbc__mtype key;      /* map: the key */
  bool keyed;          /* R has a [key] (else rows have 64-bit ids) */
  pbc_strbuf rname;    /* "P_R" */
  pbc_strbuf name;     /* "P_R_F" */
} pbc__member;

static pbc__mtype pbc__mtype_of(const pbc_type *t) {
  pbc__mtype m = {PBC__M_VALUE, PBC_BOOL, NULL};
  switch (t->kind) {
  case PBC_TYPE_SCALAR:
    m.kind = PBC__M_SCALAR;
    m.scalar = t->scalar;
    break;
  case PBC_TYPE_NAMED:
    m.kind = t->decl->kind == PBC_DECL_ENUM ? PBC__M_ENUM : PBC__M_RECORD;
    m.decl = t->decl;
    break;
  case PBC_TYPE_REF: {
    /* By the key's type (check.c allows scalar and enum keys only), or an
     * atom pointer when the record has no key. */
    const pbc_field *key = pbc_gen_key_field(t->elem->decl);
    if (key)
      return pbc__mtype_of(key->type);
    m.kind = PBC__M_PTR;
    break;
  }
  case PBC_TYPE_ARRAY:
  case PBC_TYPE_LIST:
  case PBC_TYPE_SET:
  case PBC_TYPE_MAP:
    break;
  }
  return m;
}

/* Fills *m for field f of record d; false when f is not a member. */
static bool pbc__member_init(pbc__member *m, const pbc_decl *d,
                             const pbc_field *f) {
  const pbc_type *t = f->type;
  if (t->kind != PBC_TYPE_LIST && t->kind != PBC_TYPE_SET &&
      t->kind != PBC_TYPE_MAP)
    return false;
  memset(m, 0, sizeof *m);
  m->rec = d;
  m->f = f;
  m->elem = pbc__mtype_of(t->elem);
  if (t->kind == PBC_TYPE_MAP) {
    m->key = pbc__mtype_of(t->key);
    m->coll = m->key.kind == PBC__M_SCALAR && m->key.scalar == PBC_STRING
                  ? PBC__DICT
                  : PBC__HDICT;
  } else {
    m->coll = t->kind == PBC_TYPE_LIST ? PBC__LIST : PBC__SET;
  }
  m->keyed = pbc_gen_key_field(d) != NULL;
  pbc_sb_init(&m->rname);
  pbc_sb_init(&m->name);
  pbc_gen_cname(&m->rname, d);
  pbc_sb_printf(&m->name, "%s_%s", pbc_sb_str(&m->rname), f->name);
  return true;
}

static void pbc__member_free(pbc__member *m) {
  pbc_sb_free(&m->rname);
  pbc_sb_free(&m->name);
}

/* --- Names (for pbc_gen_c_check) --- */

void pbc_gen_member_names(const pbc_decl *d, pbc_gen_name_fn fn, void *ctx) {
  static const char *const common[] = {"", "_iter", "_open", "_count",
                                       "_iter_open", "_iter_next",
                                       "_iter_close"};
  static const char *const list[] = {"_get", "_set", "_insert", "_append",
                                     "_remove"};
  static const char *const set[] = {"_add", "_remove", "_contains"};
  static const char *const map[] = {"_put", "_get", "_remove"};
  pbc_strbuf sb;
  pbc_sb_init(&sb);
  for (size_t i = 0; i < d->fields.len; i++) {
    const pbc_field *f = d->fields.items[i];
    pbc__member m;
    if (!pbc__member_init(&m, d, f))
      continue;
    const char *const *more = m.coll == PBC__LIST  ? list
                              : m.coll == PBC__SET ? set
                                                   : map;
    size_t nmore = m.coll == PBC__LIST ? 5 : 3;
    for (size_t k = 0; k < sizeof common / sizeof *common + nmore; k++) {
      sb.len = 0;
      pbc_sb_printf(&sb, "%s%s", pbc_sb_str(&m.name),
                    k < sizeof common / sizeof *common
                        ? common[k]
                        : more[k - sizeof common / sizeof *common]);
      fn(ctx, pbc_sb_str(&sb), &f->loc);
    }
    pbc__member_free(&m);
  }
  pbc_sb_free(&sb);
}

/* --- C types --- */

/* The C type of an input parameter (with a trailing space or '*'). */
static void pbc__in_type(pbc_strbuf *sb, const pbc__mtype *t) {
  switch (t->kind) {
  case PBC__M_SCALAR:
    if (t->scalar == PBC_STRING)
      pbc_sb_puts(sb, "const char *");
    else
      pbc_sb_printf(sb, "%s ", pbc_gen_scalar_ctype(t->scalar));
    break;
  case PBC__M_ENUM:
    pbc_gen_cname(sb, t->decl);
    pbc_sb_putc(sb, ' ');
    break;
  case PBC__M_RECORD:
    pbc_sb_puts(sb, "const ");
    pbc_gen_cname(sb, t->decl);
    pbc_sb_puts(sb, " *");
    break;
  case PBC__M_PTR:
    pbc_sb_puts(sb, "pb_atom_ptr ");
    break;
  case PBC__M_VALUE:
    pbc_sb_puts(sb, "const pb_value *");
    break;
  }
}

/* The C type an output parameter points to ("pb_str"). */
static void pbc__out_type(pbc_strbuf *sb, const pbc__mtype *t) {
  switch (t->kind) {
  case PBC__M_SCALAR:
    pbc_sb_puts(sb, pbc_gen_scalar_ctype(t->scalar));
    break;
  case PBC__M_ENUM:
  case PBC__M_RECORD:
    pbc_gen_cname(sb, t->decl);
    break;
  case PBC__M_PTR:
    pbc_sb_puts(sb, "pb_atom_ptr");
    break;
  case PBC__M_VALUE:
    pbc_sb_puts(sb, "pb_value");
    break;
  }
}

/* True when an input of this type is a pointer the function checks. */
static bool pbc__in_is_ptr(const pbc__mtype *t) {
  return t->kind == PBC__M_RECORD || t->kind == PBC__M_VALUE ||
         (t->kind == PBC__M_SCALAR && t->scalar == PBC_STRING);
}

/* The NULL check of input `v` (" || !v"), or of a bytes view. */
static void pbc__in_check(pbc_strbuf *sb, const pbc__mtype *t,
                          const char *v) {
  if (pbc__in_is_ptr(t))
    pbc_sb_printf(sb, " || !%s", v);
  else if (t->kind == PBC__M_SCALAR && t->scalar == PBC_BYTES)
    pbc_sb_printf(sb, " || (!%s.ptr && %s.len)", v, v);
}

/* "pb_list", "pb_set", "pb_dict", "pb_hdict". */
static const char *pbc__rt(pbc__coll c) {
  static const char *const names[] = {"pb_list", "pb_set", "pb_dict",
                                      "pb_hdict"};
  return names[c];
}

static const char *pbc__kind(pbc__coll c) {
  static const char *const names[] = {"PB_VALUE_LIST", "PB_VALUE_SET",
                                      "PB_VALUE_DICT", "PB_VALUE_HASHDICT"};
  return names[c];
}

/* The schema word for the collection ("List"). */
static const char *pbc__word(pbc__coll c) {
  static const char *const names[] = {"List", "Set", "Dictionary",
                                      "HashDictionary"};
  return names[c];
}

/* --- Conversions in the generated code --- */

/* The pb_value_kind a (non-record, non-value) type is stored as. */
static const char *pbc__vkind(const pbc__mtype *t, const char **member) {
  if (t->kind == PBC__M_ENUM) {
    *member = "i";
    return "PB_VALUE_INT";
  }
  if (t->kind == PBC__M_PTR) {
    *member = "ref";
    return "PB_VALUE_REF";
  }
  switch (t->scalar) {
  case PBC_BOOL:
    *member = "b";
    return "PB_VALUE_BOOL";
  case PBC_FLOAT32:
  case PBC_FLOAT64:
    *member = "d";
    return "PB_VALUE_DOUBLE";
  case PBC_STRING:
    *member = "s";
    return "PB_VALUE_STRING";
  case PBC_BYTES:
    *member = "bytes";
    return "PB_VALUE_BYTES";
  default:
    if (pbc_scalar_is_signed(t->scalar)) {
      *member = "i";
      return "PB_VALUE_INT";
    }
    *member = "u";
    return "PB_VALUE_UINT";
  }
}

/*
 * Writes `  dst = (pb_value){...};` from input `src` of type t (not a
 * record, not a pb_value).
 */
static void pbc__to_value(pbc_strbuf *c, const pbc__mtype *t,
                          const char *src, const char *dst) {
  const char *mem;
  const char *kind = pbc__vkind(t, &mem);
  if (t->kind == PBC__M_SCALAR && t->scalar == PBC_STRING)
    pbc_sb_printf(c, "  %s.kind = %s;\n  %s.as.s = pb_str_from_cstr(%s);\n",
                  dst, kind, dst, src);
  else
    pbc_sb_printf(c, "  %s.kind = %s;\n  %s.as.%s = %s;\n", dst, kind, dst,
                  mem, src);
}

/*
 * Writes the statements that check the stored value `src` (a pb_value) and
 * store it in *dst as type t; a record is decoded, and its decode is
 * returned (`  return P_C_decode(...);`).  Anything else ends with the
 * assignment: the caller returns.
 */
static void pbc__from_value(pbc_strbuf *c, const pbc__mtype *t,
                            const char *src, const char *dst) {
  if (t->kind == PBC__M_VALUE) {
    pbc_sb_printf(c, "  *%s = %s;\n", dst, src);
    return;
  }
  if (t->kind == PBC__M_RECORD) {
    pbc_strbuf cn;
    pbc_sb_init(&cn);
    pbc_gen_cname(&cn, t->decl);
    pbc_sb_printf(c,
        "  if (%s.kind != PB_VALUE_RECORD)\n"
        "    return PB_ESCHEMA; /* not stored by this type */\n"
        "  return ",
        src);
    pbc_strbuf head, a2, a3;
    pbc_sb_init(&head);
    pbc_sb_init(&a2);
    pbc_sb_init(&a3);
    pbc_sb_printf(&head, "%s_decode(", pbc_sb_str(&cn));
    pbc_sb_printf(&a2, "%s.as.rec.body.ptr", src);
    pbc_sb_printf(&a3, "%s.as.rec.body.len", src);
    pbc_gen_wrapped(c, 9, pbc_sb_str(&head), ");\n", dst, pbc_sb_str(&a2),
                    pbc_sb_str(&a3), "arena", (const char *)NULL);
    pbc_sb_free(&head);
    pbc_sb_free(&a2);
    pbc_sb_free(&a3);
    pbc_sb_free(&cn);
    return;
  }
  const char *mem;
  const char *kind = pbc__vkind(t, &mem);
  const char *lo = NULL, *hi = NULL;
  if (t->kind == PBC__M_ENUM) {
    lo = "INT32_MIN";
    hi = "INT32_MAX";
  } else if (t->kind == PBC__M_SCALAR) {
    switch (t->scalar) {
    case PBC_INT8: lo = "INT8_MIN", hi = "INT8_MAX"; break;
    case PBC_INT16: lo = "INT16_MIN", hi = "INT16_MAX"; break;
    case PBC_INT32: lo = "INT32_MIN", hi = "INT32_MAX"; break;
    case PBC_UINT8: hi = "UINT8_MAX"; break;
    case PBC_UINT16: hi = "UINT16_MAX"; break;
    case PBC_UINT32: hi = "UINT32_MAX"; break;
    default: break;
    }
  }
  pbc_strbuf cond, range;
  pbc_sb_init(&cond);
  pbc_sb_init(&range);
  pbc_sb_printf(&cond, "%s.kind != %s", src, kind);
  if (lo)
    pbc_sb_printf(&range, "%s.as.%s < %s", src, mem, lo);
  if (hi)
    pbc_sb_printf(&range, "%s%s.as.%s > %s", lo ? " || " : "", src, mem, hi);
  if (range.len == 0)
    pbc_sb_printf(c, "  if (%s)\n", pbc_sb_str(&cond));
  else if (cond.len + range.len + 11 <= 80)
    pbc_sb_printf(c, "  if (%s || %s)\n", pbc_sb_str(&cond),
                  pbc_sb_str(&range));
  else
    pbc_sb_printf(c, "  if (%s ||\n      %s)\n", pbc_sb_str(&cond),
                  pbc_sb_str(&range));
  pbc_sb_free(&cond);
  pbc_sb_free(&range);
  pbc_sb_puts(c, "    return PB_ESCHEMA; /* not stored by this type */\n");
  pbc_strbuf ty;
  pbc_sb_init(&ty);
  pbc__out_type(&ty, t);
  bool cast = lo || hi || t->kind == PBC__M_ENUM ||
              (t->kind == PBC__M_SCALAR && t->scalar == PBC_FLOAT32);
  if (cast)
    pbc_sb_printf(c, "  *%s = (%s)%s.as.%s;\n", dst, pbc_sb_str(&ty), src,
                  mem);
  else
    pbc_sb_printf(c, "  *%s = %s.as.%s;\n", dst, src, mem);
  pbc_sb_free(&ty);
}

/*
 * Writes the end of a function that passes input `v` of type t as a
 * stored value to `head` + "&val" (or "v" for a pb_value) + `tail`, and
 * returns what that call returns.  A record is encoded into a buffer
 * first (its encode error returned).  `val` must be declared unless t is
 * a pb_value.
 */
static void pbc__call_with(pbc_strbuf *c, const pbc__mtype *t, const char *v,
                           const char *head, const char *tail) {
  if (t->kind == PBC__M_VALUE) {
    pbc_sb_printf(c, "  return %s%s%s;\n", head, v, tail);
    return;
  }
  if (t->kind != PBC__M_RECORD) {
    pbc__to_value(c, t, v, "val");
    pbc_sb_printf(c, "  return %s&val%s;\n", head, tail);
    return;
  }
  pbc_strbuf cn;
  pbc_sb_init(&cn);
  pbc_gen_cname(&cn, t->decl);
  const char *n = pbc_sb_str(&cn);
  pbc_sb_printf(c,
      "  pb_buf_init(&buf);\n"
      "  rc = %s_encode(%s, &buf);\n"
      "  val.kind = PB_VALUE_RECORD;\n"
      "  val.as.rec.fingerprint = %s_FINGERPRINT;\n"
      "  val.as.rec.body = (pb_bytes){buf.data, buf.len};\n"
      "  if (rc == PB_OK)\n"
      "    rc = %s&val%s;\n"
      "  pb_buf_free(&buf);\n"
      "  return rc;\n",
      n, v, n, head, tail);
  pbc_sb_free(&cn);
}

/* The declarations pbc__call_with needs for t. */
static void pbc__call_decls(pbc_strbuf *c, const pbc__mtype *t) {
  if (t->kind == PBC__M_RECORD)
    pbc_sb_puts(c, "  pb_buf buf;\n  pb_value val;\n  int rc;\n\n");
  else if (t->kind != PBC__M_VALUE)
    pbc_sb_puts(c, "  pb_value val;\n\n");
}

/* --- The header --- */

/* Appends "type name" to a list of wrapped arguments. */
static char *pbc__arg(const char *type_with_space, const char *name) {
  size_t n = strlen(type_with_space) + strlen(name) + 1;
  char *s = pbc_xmalloc(n);
  snprintf(s, n, "%s%s", type_with_space, name);
  return s;
}

/* "T *name" for an output of type t. */
static char *pbc__out_arg(const pbc__mtype *t, const char *name) {
  pbc_strbuf sb;
  pbc_sb_init(&sb);
  pbc__out_type(&sb, t);
  pbc_sb_printf(&sb, " *%s", name);
  char *s = pbc_xstrdup(pbc_sb_str(&sb));
  pbc_sb_free(&sb);
  return s;
}

/* "T name" for an input of type t. */
static char *pbc__in_arg(const pbc__mtype *t, const char *name) {
  pbc_strbuf sb;
  pbc_sb_init(&sb);
  pbc__in_type(&sb, t);
  char *s = pbc__arg(pbc_sb_str(&sb), name);
  pbc_sb_free(&sb);
  return s;
}

/*
 * One prototype or definition head: "int NAME_suffix(" + args + tail,
 * wrapped.  Up to five arguments; NULL ends them.
 */
static void pbc__sig(pbc_strbuf *sb, const pbc__member *m, const char *ret,
                     const char *suffix, const char *tail, const char *a1,
                     const char *a2, const char *a3, const char *a4,
                     const char *a5) {
  pbc_strbuf head;
  pbc_sb_init(&head);
  /* A definition names the function in parentheses: the header's type
   * check macro of the same name must not expand there. */
  bool def = strchr(tail, '{') != NULL;
  pbc_sb_printf(&head, def ? "%s (%s%s)(" : "%s %s%s(", ret,
                pbc_sb_str(&m->name), suffix);
  pbc_gen_wrapped(sb, 0, pbc_sb_str(&head), tail, a1, a2, a3, a4, a5,
                  (const char *)NULL);
  pbc_sb_free(&head);
}

/* The type of a handle argument: "P_R_F *h". */
static char *pbc__h(const pbc__member *m, const char *suffix,
                    const char *name) {
  pbc_strbuf sb;
  pbc_sb_init(&sb);
  pbc_sb_printf(&sb, "%s%s *%s", pbc_sb_str(&m->name), suffix, name);
  char *s = pbc_xstrdup(pbc_sb_str(&sb));
  pbc_sb_free(&sb);
  return s;
}

/*
 * Appends a doc comment holding the formatted text, wrapped at 80
 * columns; a newline in the text starts a new line.
 */
static void pbc__doc(pbc_strbuf *h, const char *fmt, ...) PBC_PRINTF(2, 3);
static void pbc__doc(pbc_strbuf *h, const char *fmt, ...) {
  pbc_strbuf t;
  pbc_sb_init(&t);
  va_list ap;
  va_start(ap, fmt);
  pbc_sb_vprintf(&t, fmt, ap);
  va_end(ap);
  pbc_sb_puts(h, "\n/**\n");
  const char *s = pbc_sb_str(&t);
  while (*s) {
    const char *nl = strchr(s, '\n');
    size_t para = nl ? (size_t)(nl - s) : strlen(s);
    const char *end = s + para;
    while (s < end) {
      /* Take as many words as fit in 77 columns after " * ". */
      size_t len = (size_t)(end - s);
      if (len > 77) {
        len = 77;
        while (len > 0 && s[len] != ' ')
          len--;
        if (len == 0) /* one word longer than a line */
          len = strcspn(s, " ") < (size_t)(end - s) ? strcspn(s, " ")
                                                    : (size_t)(end - s);
      }
      pbc_sb_puts(h, " * ");
      pbc_gen_comment_text(h, s, len);
      pbc_sb_putc(h, '\n');
      s += len;
      while (s < end && *s == ' ')
        s++;
    }
    s = nl ? nl + 1 : end;
  }
  pbc_sb_puts(h, " */\n");
  pbc_sb_free(&t);
}

/* The errors every function on an open handle can return. */
#define PBC__READ_ERRS "PB_ECLOSED, PB_ECORRUPT, PB_EIO, PB_ENOMEM"
#define PBC__WRITE_ERRS                                                      \
  "PB_ECLOSED, PB_ECORRUPT, PB_EIO, PB_ENOMEM, PB_ERDONLY, and a failed "    \
  "transaction's latched error"

/* What a record element's getter says about `arena` (with a space). */
static const char *pbc__arena_note(const pbc__mtype *t) {
  if (t->kind != PBC__M_RECORD)
    return "";
  return " The record is decoded into *out: its strings and bytes are views "
         "into the transaction's data, valid until it ends, and its array "
         "items are allocated from `arena` (pb_txn_arena gives one that lives "
         "as long; NULL is fine for a record without arrays).";
}

static void pbc__member_header(pbc_gen *g, const pbc__member *m) {
  pbc_strbuf *h = g->h;
  const char *n = pbc_sb_str(&m->name), *rn = pbc_sb_str(&m->rname);
  const char *fname = m->f->name;
  pbc_strbuf ty;
  pbc_sb_init(&ty);
  pbc_type_spell(m->f->type, &ty);
  bool rec_out = m->elem.kind == PBC__M_RECORD;
  const char *an = pbc__arena_note(&m->elem);
  pbc__doc(h,
      "%s.%s (tag %llu, %s): a %s per row, stored beside the row under its "
      "primary key: commits merge %s (docs/members.md). "
      "%s is never defined: it is the runtime's %s, valid until the "
      "transaction ends; %s_iter is a %s_iter.",
      rn, fname, (unsigned long long)m->f->tag, pbc_sb_str(&ty),
      pbc__word(m->coll),
      m->coll == PBC__LIST
          ? "changes to different rows' lists, and to the row itself, but "
            "two changes to one row's list conflict"
      : m->coll == PBC__SET
          ? "it per element, and with changes to the row itself"
          : "it per key, and with changes to the row itself",
      n, pbc__rt(m->coll), n, pbc__rt(m->coll));
  pbc_sb_printf(h,
      "typedef struct %s %s;\n"
      "typedef struct %s_iter %s_iter;\n",
      n, n, n, n);
  pbc_sb_free(&ty);

  /* _open */
  pbc__doc(h,
      "Opens the %s `%s` of the row %s in `txn` into *h. flags: PB_CREATE "
      "(a row that has none yet gets an empty one; a writable transaction "
      "only) or 0. Deleting the row deletes it; a row inserted again starts "
      "empty.\nErrors: PB_ENOTFOUND (no such row; or none yet, without "
      "PB_CREATE); PB_EINVAL (a NULL argument, a bad flag); PB_ESCHEMA "
      "(stored as another kind, or a breaking change of %s); PB_ERDONLY; "
      "PB_ETOOBIG; PB_ENOMEM; PB_EIO; PB_ECORRUPT; a failed transaction's "
      "latched error.",
      pbc__word(m->coll), fname, m->keyed ? "with r's key" : "`id`", rn);
  char *rarg = NULL;
  if (m->keyed) {
    pbc_strbuf r;
    pbc_sb_init(&r);
    pbc_sb_printf(&r, "const %s *r", rn);
    rarg = pbc_xstrdup(pbc_sb_str(&r));
    pbc_sb_free(&r);
  } else {
    rarg = pbc_xstrdup("uint64_t id");
  }
  char *hh = pbc__h(m, "", "*h");
  pbc__sig(h, m, "int", "_open", ");\n", "pb_txn *txn", rarg,
           "unsigned flags", hh, NULL);
  free(hh);
  free(rarg);

  char *H = pbc__h(m, "", "h");
  pbc__doc(h, "The number of %s in *n.\nErrors: PB_EINVAL (NULL); %s.",
           m->coll == PBC__LIST || m->coll == PBC__SET ? "elements"
                                                       : "entries",
           PBC__READ_ERRS);
  pbc__sig(h, m, "int", "_count", ");\n", H, "uint64_t *n", NULL, NULL,
           NULL);

  char *vin = pbc__in_arg(&m->elem, "v");
  char *vout = pbc__out_arg(&m->elem, "out");
  const char *arena = rec_out ? "pb_arena *arena" : NULL;
  if (m->coll == PBC__LIST) {
    pbc__doc(h,
        "The element at index i in *out.%s\nErrors: PB_ERANGE (i >= count); "
        "PB_ESCHEMA (a stored value of another type); PB_EINVAL (NULL); %s.",
        an, PBC__READ_ERRS);
    pbc__sig(h, m, "int", "_get", ");\n", H, "uint64_t i", vout, arena, NULL);
    pbc__doc(h,
        "Replaces the element at index i with v.\nErrors: PB_ERANGE (i >= "
        "count); PB_EINVAL (NULL, or a value the runtime refuses); "
        "PB_ETOOBIG; %s.", PBC__WRITE_ERRS);
    pbc__sig(h, m, "int", "_set", ");\n", H, "uint64_t i", vin, NULL, NULL);
    pbc__doc(h,
        "Inserts v before index i (i == count appends).\nErrors: PB_ERANGE "
        "(i > count); PB_EINVAL (NULL, or a value the runtime refuses); "
        "PB_ETOOBIG; %s.", PBC__WRITE_ERRS);
    pbc__sig(h, m, "int", "_insert", ");\n", H, "uint64_t i", vin, NULL,
             NULL);
    pbc__doc(h,
        "Appends v.\nErrors: PB_EINVAL (NULL, or a value the runtime "
        "refuses); PB_ETOOBIG; %s.", PBC__WRITE_ERRS);
    pbc__sig(h, m, "int", "_append", ");\n", H, vin, NULL, NULL, NULL);
    pbc__doc(h,
        "Removes the element at index i.\nErrors: PB_ERANGE (i >= count); "
        "PB_EINVAL (NULL); %s.", PBC__WRITE_ERRS);
    pbc__sig(h, m, "int", "_remove", ");\n", H, "uint64_t i", NULL, NULL,
             NULL);
  } else if (m->coll == PBC__SET) {
    pbc__doc(h,
        "Adds v; *added (may be NULL) tells whether it was new.\nErrors: "
        "PB_EINVAL (NULL, or an element with an atom pointer); PB_ETOOBIG; "
        "%s.", PBC__WRITE_ERRS);
    pbc__sig(h, m, "int", "_add", ");\n", H, vin, "bool *added", NULL, NULL);
    pbc__doc(h,
        "Removes v.\nErrors: PB_ENOTFOUND (not in the set); PB_EINVAL "
        "(NULL); %s.", PBC__WRITE_ERRS);
    pbc__sig(h, m, "int", "_remove", ");\n", H, vin, NULL, NULL, NULL);
    pbc__doc(h,
        "*out: whether v is in the set.\nErrors: PB_EINVAL (NULL); %s.",
        PBC__READ_ERRS);
    pbc__sig(h, m, "int", "_contains", ");\n", H, vin, "bool *out", NULL,
             NULL);
  } else {
    char *kin = pbc__in_arg(&m->key, "k");
    pbc__doc(h,
        "Sets the value of key k to v.\nErrors: PB_EINVAL (NULL, or a key or "
        "value the runtime refuses); PB_ETOOBIG; %s.", PBC__WRITE_ERRS);
    pbc__sig(h, m, "int", "_put", ");\n", H, kin, vin, NULL, NULL);
    pbc__doc(h,
        "The value of key k in *out.%s\nErrors: PB_ENOTFOUND (no such key); "
        "PB_ESCHEMA (a stored value of another type); PB_EINVAL (NULL); %s.",
        an, PBC__READ_ERRS);
    pbc__sig(h, m, "int", "_get", ");\n", H, kin, vout, arena, NULL);
    pbc__doc(h,
        "Removes key k.\nErrors: PB_ENOTFOUND (no such key); PB_EINVAL "
        "(NULL); %s.", PBC__WRITE_ERRS);
    pbc__sig(h, m, "int", "_remove", ");\n", H, kin, NULL, NULL, NULL);
    free(kin);
  }

  /* Iteration. */
  char *it = pbc__h(m, "_iter", "it");
  char *itp = pbc__h(m, "_iter", "*out");
  if (m->coll == PBC__LIST) {
    pbc__doc(h,
        "Opens an iterator over the elements at indexes [from, to) (to is "
        "clamped to the count), in order. A change to the list ends it (its "
        "use is then undefined).\nErrors: PB_ERANGE (from past the count or "
        "past to); PB_EINVAL (NULL); %s.", PBC__READ_ERRS);
    pbc__sig(h, m, "int", "_iter_open", ");\n", H, "uint64_t from",
             "uint64_t to", itp, NULL);
  } else {
    pbc__doc(h,
        "Opens an iterator over the %s, %s. A change to the %s ends it (its "
        "use is then undefined).\nErrors: PB_EINVAL (NULL); %s.",
        m->coll == PBC__SET ? "elements" : "entries",
        m->coll == PBC__DICT ? "in key order" : "in no set order",
        m->coll == PBC__SET ? "set" : "map", PBC__READ_ERRS);
    pbc__sig(h, m, "int", "_iter_open", ");\n", H, itp, NULL, NULL, NULL);
  }
  pbc__doc(h,
      "%s%s\nErrors: PB_ENOTFOUND (after the last); PB_ESCHEMA (a stored "
      "value of another type); PB_EINVAL (NULL); PB_ECORRUPT, PB_EIO, "
      "PB_ENOMEM.",
      m->coll == PBC__LIST || m->coll == PBC__SET
          ? "The next element in *out."
          : m->coll == PBC__DICT
                ? "The next entry: its key in *k (a view valid until the "
                  "transaction ends), its value in *v."
                : "The next entry: its key in *k, its value in *v.",
      rec_out ? " The record is decoded as _get decodes it (the same "
                "`arena`)." : "");
  if (m->coll == PBC__LIST || m->coll == PBC__SET) {
    pbc__sig(h, m, "int", "_iter_next", ");\n", it, vout, arena, NULL, NULL);
  } else {
    char *kout = pbc__out_arg(&m->key, "k");
    char *vo = pbc__out_arg(&m->elem, "v");
    pbc__sig(h, m, "int", "_iter_next", ");\n", it, kout, vo, arena, NULL);
    free(kout);
    free(vo);
  }
  pbc_sb_puts(h, "\n/** Closes an iterator.  NULL is a no-op. */\n");
  pbc__sig(h, m, "void", "_iter_close", ");\n", it, NULL, NULL, NULL, NULL);
  free(it);
  free(itp);
  free(vin);
  free(vout);
  free(H);
}

/* --- Type checks (C only) --- */

/*
 * What a macro passes for argument `a` of type t given as input: strings,
 * records and pb_values through _Generic with only their own pointer
 * types; numbers, bools and enums as +(a), which is an error for a pointer
 * or a struct; pb_bytes and pb_atom_ptr (structs) as they are.
 */
static void pbc__in_check_expr(pbc_strbuf *sb, const pbc__mtype *t,
                               const char *a) {
  switch (t->kind) {
  case PBC__M_SCALAR:
    if (t->scalar == PBC_STRING)
      pbc_sb_printf(sb, "_Generic((%s), const char *: (%s), char *: (%s))",
                    a, a, a);
    else if (t->scalar == PBC_BYTES)
      pbc_sb_printf(sb, "(%s)", a);
    else
      pbc_sb_printf(sb, "+(%s)", a);
    break;
  case PBC__M_ENUM:
    pbc_sb_printf(sb, "+(%s)", a);
    break;
  case PBC__M_RECORD:
  case PBC__M_VALUE: {
    pbc_strbuf ty;
    pbc_sb_init(&ty);
    pbc__out_type(&ty, t);
    pbc_sb_printf(sb, "_Generic((%s), const %s *: (%s), %s *: (%s))", a,
                  pbc_sb_str(&ty), a, pbc_sb_str(&ty), a);
    pbc_sb_free(&ty);
    break;
  }
  case PBC__M_PTR:
    pbc_sb_printf(sb, "(%s)", a);
    break;
  }
}

/* _Generic((a), TYPE: (a)[, void *: (a)]). */
static void pbc__ptr_check(pbc_strbuf *sb, const char *type, const char *a,
                           bool null_ok) {
  pbc_sb_printf(sb, "_Generic((%s), %s: (%s)%s%s%s)", a, type, a,
                null_ok ? ", void *: (" : "", null_ok ? a : "",
                null_ok ? ")" : "");
}

/* The check of an output `a` pointing to type t. */
static void pbc__out_check(pbc_strbuf *sb, const pbc__mtype *t,
                           const char *a) {
  pbc_strbuf ty;
  pbc_sb_init(&ty);
  pbc__out_type(&ty, t);
  pbc_sb_puts(&ty, " *");
  pbc__ptr_check(sb, pbc_sb_str(&ty), a, false);
  pbc_sb_free(&ty);
}

/*
 * One macro: "#define NAME_suffix(p1, ..., pn) NAME_suffix(e1, ..., en)",
 * the call wrapped at 80 columns with backslashes.  params and exprs hold
 * n strings each.
 */
static void pbc__macro(pbc_strbuf *h, const pbc__member *m,
                       const char *suffix, size_t n, const char *params[],
                       pbc_strbuf exprs[]) {
  const char *name = pbc_sb_str(&m->name);
  pbc_sb_printf(h, "#define %s%s(", name, suffix);
  for (size_t i = 0; i < n; i++)
    pbc_sb_printf(h, "%s%s", i ? ", " : "", params[i]);
  pbc_sb_printf(h, ") \\\n  %s%s(", name, suffix);
  size_t col = 2 + strlen(name) + strlen(suffix) + 1;
  for (size_t i = 0; i < n; i++) {
    const char *e = pbc_sb_str(&exprs[i]);
    size_t len = strlen(e) + 1; /* and "," or ")" */
    size_t gap = i > 0 ? 1 : 0;
    if (col + gap + len > 78) {
      pbc_sb_puts(h, " \\\n    ");
      col = 4;
    } else if (gap) {
      pbc_sb_putc(h, ' ');
      col++;
    }
    pbc_sb_printf(h, "%s%s", e, i + 1 < n ? "," : ")");
    col += len;
  }
  pbc_sb_putc(h, '\n');
}

/* Up to six arguments per macro. */
typedef struct pbc__margs {
  const char *params[6];
  pbc_strbuf exprs[6];
  size_t n;
} pbc__margs;

static pbc_strbuf *pbc__marg(pbc__margs *a, const char *param) {
  a->params[a->n] = param;
  pbc_sb_init(&a->exprs[a->n]);
  return &a->exprs[a->n++];
}

static void pbc__mflush(pbc_strbuf *h, const pbc__member *m,
                        const char *suffix, pbc__margs *a) {
  pbc__macro(h, m, suffix, a->n, a->params, a->exprs);
  for (size_t i = 0; i < a->n; i++)
    pbc_sb_free(&a->exprs[i]);
  a->n = 0;
}

/* The handle argument `h` (or `it`), of the handle's own type only. */
static void pbc__h_check(pbc__margs *a, const pbc__member *m,
                         const char *param, const char *suffix,
                         bool null_ok) {
  pbc_strbuf ty;
  pbc_sb_init(&ty);
  pbc_sb_printf(&ty, "%s%s", pbc_sb_str(&m->name), suffix);
  pbc__ptr_check(pbc__marg(a, param), pbc_sb_str(&ty), param, null_ok);
  pbc_sb_free(&ty);
}

static void pbc__member_macros(pbc_gen *g, const pbc__member *m) {
  pbc_strbuf *h = g->h;
  pbc__margs a;
  a.n = 0;
  bool rec_out = m->elem.kind == PBC__M_RECORD;
  bool map = m->coll == PBC__DICT || m->coll == PBC__HDICT;
  pbc_sb_printf(h,
      "\n#ifndef __cplusplus\n"
      "/* Type checks of the functions of %s (docs/members.md,\n"
      " * \"Type safety\"). */\n",
      pbc_sb_str(&m->name));
  /* _open */
  pbc_sb_puts(pbc__marg(&a, "txn"), "(txn)");
  if (m->keyed) {
    pbc_strbuf ty;
    pbc_sb_init(&ty);
    pbc_sb_printf(&ty, "const %s *: (r), %s *", pbc_sb_str(&m->rname),
                  pbc_sb_str(&m->rname));
    pbc__ptr_check(pbc__marg(&a, "r"), pbc_sb_str(&ty), "r", false);
    pbc_sb_free(&ty);
  } else {
    pbc_sb_puts(pbc__marg(&a, "id"), "+(id)");
  }
  pbc_sb_puts(pbc__marg(&a, "flags"), "(flags)");
  pbc__h_check(&a, m, "h", " **", false);
  pbc__mflush(h, m, "_open", &a);
  /* _count */
  pbc__h_check(&a, m, "h", " *", false);
  pbc__ptr_check(pbc__marg(&a, "n"), "uint64_t *", "n", false);
  pbc__mflush(h, m, "_count", &a);
  if (m->coll == PBC__LIST) {
    pbc__h_check(&a, m, "h", " *", false);
    pbc_sb_puts(pbc__marg(&a, "i"), "+(i)");
    pbc__out_check(pbc__marg(&a, "out"), &m->elem, "out");
    if (rec_out)
      pbc__ptr_check(pbc__marg(&a, "arena"), "pb_arena *", "arena", true);
    pbc__mflush(h, m, "_get", &a);
    static const char *const ops[] = {"_set", "_insert", "_append"};
    for (size_t k = 0; k < 3; k++) {
      pbc__h_check(&a, m, "h", " *", false);
      if (k < 2)
        pbc_sb_puts(pbc__marg(&a, "i"), "+(i)");
      pbc__in_check_expr(pbc__marg(&a, "v"), &m->elem, "v");
      pbc__mflush(h, m, ops[k], &a);
    }
    pbc__h_check(&a, m, "h", " *", false);
    pbc_sb_puts(pbc__marg(&a, "i"), "+(i)");
    pbc__mflush(h, m, "_remove", &a);
  } else if (m->coll == PBC__SET) {
    pbc__h_check(&a, m, "h", " *", false);
    pbc__in_check_expr(pbc__marg(&a, "v"), &m->elem, "v");
    pbc__ptr_check(pbc__marg(&a, "added"), "bool *", "added", true);
    pbc__mflush(h, m, "_add", &a);
    pbc__h_check(&a, m, "h", " *", false);
    pbc__in_check_expr(pbc__marg(&a, "v"), &m->elem, "v");
    pbc__mflush(h, m, "_remove", &a);
    pbc__h_check(&a, m, "h", " *", false);
    pbc__in_check_expr(pbc__marg(&a, "v"), &m->elem, "v");
    pbc__ptr_check(pbc__marg(&a, "out"), "bool *", "out", false);
    pbc__mflush(h, m, "_contains", &a);
  } else {
    pbc__h_check(&a, m, "h", " *", false);
    pbc__in_check_expr(pbc__marg(&a, "k"), &m->key, "k");
    pbc__in_check_expr(pbc__marg(&a, "v"), &m->elem, "v");
    pbc__mflush(h, m, "_put", &a);
    pbc__h_check(&a, m, "h", " *", false);
    pbc__in_check_expr(pbc__marg(&a, "k"), &m->key, "k");
    pbc__out_check(pbc__marg(&a, "out"), &m->elem, "out");
    if (rec_out)
      pbc__ptr_check(pbc__marg(&a, "arena"), "pb_arena *", "arena", true);
    pbc__mflush(h, m, "_get", &a);
    pbc__h_check(&a, m, "h", " *", false);
    pbc__in_check_expr(pbc__marg(&a, "k"), &m->key, "k");
    pbc__mflush(h, m, "_remove", &a);
  }
  /* Iteration. */
  pbc__h_check(&a, m, "h", " *", false);
  if (m->coll == PBC__LIST) {
    pbc_sb_puts(pbc__marg(&a, "from"), "+(from)");
    pbc_sb_puts(pbc__marg(&a, "to"), "+(to)");
  }
  pbc__h_check(&a, m, "out", "_iter **", false);
  pbc__mflush(h, m, "_iter_open", &a);
  pbc__h_check(&a, m, "it", "_iter *", false);
  if (map) {
    pbc__out_check(pbc__marg(&a, "k"), &m->key, "k");
    pbc__out_check(pbc__marg(&a, "v"), &m->elem, "v");
  } else {
    pbc__out_check(pbc__marg(&a, "out"), &m->elem, "out");
  }
  if (rec_out)
    pbc__ptr_check(pbc__marg(&a, "arena"), "pb_arena *", "arena", true);
  pbc__mflush(h, m, "_iter_next", &a);
  pbc__h_check(&a, m, "it", "_iter *", true);
  pbc__mflush(h, m, "_iter_close", &a);
  pbc_sb_puts(h, "#endif\n");
}

void pbc_gen_member_prototypes(pbc_gen *g, const pbc_decl *d) {
  for (size_t i = 0; i < d->fields.len; i++) {
    pbc__member m;
    if (!pbc__member_init(&m, d, d->fields.items[i]))
      continue;
    pbc__member_header(g, &m);
    pbc__member_macros(g, &m);
    pbc__member_free(&m);
  }
}

/* --- The source --- */

/* "(pb_list *)(void *)h" */
static void pbc__cast(pbc_strbuf *sb, const pbc__member *m, const char *var,
                      bool iter) {
  pbc_sb_printf(sb, "(%s%s *)(void *)%s", pbc__rt(m->coll),
                iter ? "_iter" : "", var);
}

static void pbc__member_source(pbc_gen *g, const pbc__member *m) {
  pbc_strbuf *c = g->c;
  const char *n = pbc_sb_str(&m->name), *rn = pbc_sb_str(&m->rname);
  const char *rt = pbc__rt(m->coll);
  bool rec_out = m->elem.kind == PBC__M_RECORD;
  const char *arena = rec_out ? "pb_arena *arena" : NULL;
  pbc_strbuf hc, ic, chk, head;
  pbc_sb_init(&hc);
  pbc_sb_init(&ic);
  pbc_sb_init(&chk);
  pbc_sb_init(&head);
  pbc__cast(&hc, m, "h", false);
  pbc__cast(&ic, m, "it", true);

  /* _open */
  char *rarg;
  if (m->keyed) {
    pbc_strbuf r;
    pbc_sb_init(&r);
    pbc_sb_printf(&r, "const %s *r", rn);
    rarg = pbc_xstrdup(pbc_sb_str(&r));
    pbc_sb_free(&r);
  } else {
    rarg = pbc_xstrdup("uint64_t id");
  }
  char *hh = pbc__h(m, "", "*h");
  pbc_sb_putc(c, '\n');
  pbc__sig(c, m, "int", "_open", ") {\n", "pb_txn *txn", rarg,
           "unsigned flags", hh, NULL);
  free(hh);
  free(rarg);
  pbc_sb_printf(c,
      "  pb_keybuf key;\n"
      "  void *out = NULL;\n"
      "  int rc;\n\n"
      "  if (!txn%s || !h)\n"
      "    return PB_EINVAL;\n"
      "  pb_keybuf_init(&key);\n",
      m->keyed ? " || !r" : "");
  if (m->keyed)
    pbc_sb_printf(c, "  rc = %s_table.key(r, &key);\n", rn);
  else
    pbc_sb_puts(c, "  pb_key_put_u64(&key, id);\n"
                   "  rc = pb_keybuf_error(&key);\n");
  pbc_sb_printf(c,
      "  if (rc == PB_OK)\n"
      "    rc = pb_table_open_member(txn, &%s_table, pb_keybuf_bytes(&key),\n"
      "                              %lluu, %s, flags, &out);\n"
      "  pb_keybuf_free(&key);\n"
      "  *h = rc == PB_OK ? (%s *)out : NULL;\n"
      "  return rc;\n"
      "}\n",
      rn, (unsigned long long)m->f->tag, pbc__kind(m->coll), n);

  char *H = pbc__h(m, "", "h");
  /* _count */
  pbc_sb_putc(c, '\n');
  pbc__sig(c, m, "int", "_count", ") {\n", H, "uint64_t *n", NULL, NULL,
           NULL);
  pbc_sb_printf(c,
      "  if (!h || !n)\n"
      "    return PB_EINVAL;\n"
      "  return %s_count(%s, n);\n"
      "}\n",
      rt, pbc_sb_str(&hc));

  char *vin = pbc__in_arg(&m->elem, "v");
  char *vout = pbc__out_arg(&m->elem, "out");
  chk.len = 0;
  pbc__in_check(&chk, &m->elem, "v");
  if (m->coll == PBC__LIST) {
    /* _get */
    pbc_sb_putc(c, '\n');
    pbc__sig(c, m, "int", "_get", ") {\n", H, "uint64_t i", vout, arena,
             NULL);
    pbc_sb_printf(c,
        "  pb_value val;\n"
        "  int rc;\n\n"
        "  if (!h || !out)\n"
        "    return PB_EINVAL;\n"
        "  rc = pb_list_get(%s, i, &val);\n"
        "  if (rc != PB_OK)\n"
        "    return rc;\n",
        pbc_sb_str(&hc));
    pbc__from_value(c, &m->elem, "val", "out");
    if (!rec_out)
      pbc_sb_puts(c, "  return PB_OK;\n");
    pbc_sb_puts(c, "}\n");
    /* _set, _insert, _append */
    static const char *const ops[] = {"_set", "_insert", "_append"};
    for (size_t k = 0; k < 3; k++) {
      pbc_sb_putc(c, '\n');
      if (k < 2)
        pbc__sig(c, m, "int", ops[k], ") {\n", H, "uint64_t i", vin, NULL,
                 NULL);
      else
        pbc__sig(c, m, "int", ops[k], ") {\n", H, vin, NULL, NULL, NULL);
      pbc__call_decls(c, &m->elem);
      pbc_sb_printf(c, "  if (!h%s)\n    return PB_EINVAL;\n",
                    pbc_sb_str(&chk));
      head.len = 0;
      pbc_sb_printf(&head, "pb_list%s(%s, %s", ops[k], pbc_sb_str(&hc),
                    k < 2 ? "i, " : "");
      pbc__call_with(c, &m->elem, "v", pbc_sb_str(&head), ")");
      pbc_sb_puts(c, "}\n");
    }
    /* _remove */
    pbc_sb_putc(c, '\n');
    pbc__sig(c, m, "int", "_remove", ") {\n", H, "uint64_t i", NULL, NULL,
             NULL);
    pbc_sb_printf(c,
        "  if (!h)\n"
        "    return PB_EINVAL;\n"
        "  return pb_list_remove(%s, i);\n"
        "}\n",
        pbc_sb_str(&hc));
  } else if (m->coll == PBC__SET) {
    static const struct {
      const char *suffix, *fn, *extra, *tail;
    } ops[] = {{"_add", "pb_set_add", "bool *added", ", added)"},
               {"_remove", "pb_set_remove", NULL, ")"},
               {"_contains", "pb_set_contains", "bool *out", ", out)"}};
    for (size_t k = 0; k < 3; k++) {
      pbc_sb_putc(c, '\n');
      pbc__sig(c, m, "int", ops[k].suffix, ") {\n", H, vin, ops[k].extra,
               NULL, NULL);
      pbc__call_decls(c, &m->elem);
      pbc_sb_printf(c, "  if (!h%s%s)\n    return PB_EINVAL;\n",
                    pbc_sb_str(&chk), k == 2 ? " || !out" : "");
      head.len = 0;
      pbc_sb_printf(&head, "%s(%s, ", ops[k].fn, pbc_sb_str(&hc));
      pbc__call_with(c, &m->elem, "v", pbc_sb_str(&head), ops[k].tail);
      pbc_sb_puts(c, "}\n");
    }
  } else {
    bool dict = m->coll == PBC__DICT;
    char *kin = pbc__in_arg(&m->key, "k");
    pbc_strbuf kchk;
    pbc_sb_init(&kchk);
    pbc__in_check(&kchk, &m->key, "k");
    /* The key: a pb_str for a Dictionary, a pb_value otherwise. */
    const char *kexpr = dict ? "pb_str_from_cstr(k)" : "&key";
    /* _put */
    pbc_sb_putc(c, '\n');
    pbc__sig(c, m, "int", "_put", ") {\n", H, kin, vin, NULL, NULL);
    if (!dict)
      pbc_sb_puts(c, "  pb_value key;\n");
    pbc__call_decls(c, &m->elem);
    if (!dict && m->elem.kind == PBC__M_VALUE)
      pbc_sb_putc(c, '\n');
    pbc_sb_printf(c, "  if (!h%s%s)\n    return PB_EINVAL;\n",
                  pbc_sb_str(&kchk), pbc_sb_str(&chk));
    if (!dict)
      pbc__to_value(c, &m->key, "k", "key");
    head.len = 0;
    pbc_sb_printf(&head, "%s_put(%s, %s, ", rt, pbc_sb_str(&hc), kexpr);
    pbc__call_with(c, &m->elem, "v", pbc_sb_str(&head), ")");
    pbc_sb_puts(c, "}\n");
    /* _get */
    pbc_sb_putc(c, '\n');
    pbc__sig(c, m, "int", "_get", ") {\n", H, kin, vout, arena, NULL);
    if (!dict)
      pbc_sb_puts(c, "  pb_value key;\n");
    pbc_sb_printf(c,
        "  pb_value val;\n"
        "  int rc;\n\n"
        "  if (!h%s || !out)\n"
        "    return PB_EINVAL;\n",
        pbc_sb_str(&kchk));
    if (!dict)
      pbc__to_value(c, &m->key, "k", "key");
    pbc_sb_printf(c,
        "  rc = %s_get(%s, %s, &val);\n"
        "  if (rc != PB_OK)\n"
        "    return rc;\n",
        rt, pbc_sb_str(&hc), kexpr);
    pbc__from_value(c, &m->elem, "val", "out");
    if (!rec_out)
      pbc_sb_puts(c, "  return PB_OK;\n");
    pbc_sb_puts(c, "}\n");
    /* _remove */
    pbc_sb_putc(c, '\n');
    pbc__sig(c, m, "int", "_remove", ") {\n", H, kin, NULL, NULL, NULL);
    if (!dict)
      pbc_sb_puts(c, "  pb_value key;\n\n");
    pbc_sb_printf(c, "  if (!h%s)\n    return PB_EINVAL;\n",
                  pbc_sb_str(&kchk));
    if (!dict)
      pbc__to_value(c, &m->key, "k", "key");
    pbc_sb_printf(c, "  return %s_remove(%s, %s);\n}\n", rt,
                  pbc_sb_str(&hc), kexpr);
    pbc_sb_free(&kchk);
    free(kin);
  }

  /* Iteration. */
  char *it = pbc__h(m, "_iter", "it");
  char *itp = pbc__h(m, "_iter", "*out");
  pbc_sb_putc(c, '\n');
  if (m->coll == PBC__LIST) {
    pbc__sig(c, m, "int", "_iter_open", ") {\n", H, "uint64_t from",
             "uint64_t to", itp, NULL);
    pbc_sb_puts(c,
        "  pb_list_iter *it = NULL;\n"
        "  int rc;\n\n"
        "  if (!h || !out)\n"
        "    return PB_EINVAL;\n");
    pbc_sb_printf(c, "  rc = pb_list_iter_open(%s, from, to, &it);\n",
                  pbc_sb_str(&hc));
  } else {
    pbc__sig(c, m, "int", "_iter_open", ") {\n", H, itp, NULL, NULL, NULL);
    pbc_sb_printf(c,
        "  %s_iter *it = NULL;\n"
        "  int rc;\n\n"
        "  if (!h || !out)\n"
        "    return PB_EINVAL;\n",
        rt);
    if (m->coll == PBC__DICT)
      pbc_sb_printf(c, "  rc = pb_dict_iter_open(%s, NULL, 0, &it);\n",
                    pbc_sb_str(&hc));
    else
      pbc_sb_printf(c, "  rc = %s_iter_open(%s, &it);\n", rt,
                    pbc_sb_str(&hc));
  }
  pbc_sb_printf(c,
      "  *out = rc == PB_OK ? (%s_iter *)(void *)it : NULL;\n"
      "  return rc;\n"
      "}\n",
      n);
  pbc_sb_putc(c, '\n');
  if (m->coll == PBC__LIST || m->coll == PBC__SET) {
    pbc__sig(c, m, "int", "_iter_next", ") {\n", it, vout, arena, NULL, NULL);
    pbc_sb_printf(c,
        "  pb_value val;\n"
        "  int rc;\n\n"
        "  if (!it || !out)\n"
        "    return PB_EINVAL;\n"
        "  rc = %s_iter_next(%s, &val);\n"
        "  if (rc != PB_OK)\n"
        "    return rc;\n",
        rt, pbc_sb_str(&ic));
    pbc__from_value(c, &m->elem, "val", "out");
  } else {
    char *kout = pbc__out_arg(&m->key, "k");
    char *vo = pbc__out_arg(&m->elem, "v");
    pbc__sig(c, m, "int", "_iter_next", ") {\n", it, kout, vo, arena, NULL);
    free(kout);
    free(vo);
    if (m->coll == PBC__DICT)
      pbc_sb_printf(c,
          "  pb_value val;\n"
          "  int rc;\n\n"
          "  if (!it || !k || !v)\n"
          "    return PB_EINVAL;\n"
          "  rc = pb_dict_iter_next(%s, k, &val);\n"
          "  if (rc != PB_OK)\n"
          "    return rc;\n",
          pbc_sb_str(&ic));
    else {
      pbc_sb_printf(c,
          "  pb_value key, val;\n"
          "  int rc;\n\n"
          "  if (!it || !k || !v)\n"
          "    return PB_EINVAL;\n"
          "  rc = pb_hdict_iter_next(%s, &key, &val);\n"
          "  if (rc != PB_OK)\n"
          "    return rc;\n",
          pbc_sb_str(&ic));
      pbc__from_value(c, &m->key, "key", "k");
    }
    pbc__from_value(c, &m->elem, "val", "v");
  }
  if (!rec_out)
    pbc_sb_puts(c, "  return PB_OK;\n");
  pbc_sb_puts(c, "}\n\n");
  pbc__sig(c, m, "void", "_iter_close", ") {\n", it, NULL, NULL, NULL, NULL);
  pbc_sb_printf(c, "  %s_iter_close(%s);\n}\n", rt, pbc_sb_str(&ic));
  free(it);
  free(itp);
  free(vin);
  free(vout);
  free(H);
  pbc_sb_free(&hc);
  pbc_sb_free(&ic);
  pbc_sb_free(&chk);
  pbc_sb_free(&head);
}

void pbc_gen_member_functions(pbc_gen *g, const pbc_decl *d) {
  for (size_t i = 0; i < d->fields.len; i++) {
    pbc__member m;
    if (!pbc__member_init(&m, d, d->fields.items[i]))
      continue;
    pbc__member_source(g, &m);
    pbc__member_free(&m);
  }
}
