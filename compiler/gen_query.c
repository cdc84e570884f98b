/*
 * gen_query.c - the typed query builders of every record (docs/generated.md,
 * "Queries"; docs/queries.md, "Typed query builders"): P_R_query_open, one
 * set of P_R_where_<f>_<op> predicates and one P_R_order_by_<f> per field a
 * query can read, P_R_limit, P_R_offset, P_R_query_next (which P_R_next
 * reaches too), P_R_query_explain, P_R_query_free, the field expressions
 * P_R_<f>_expr for joins and group-by, and P_R_from_row.
 *
 * They wrap protobase/query.h.  A P_R_query is never defined: it is the
 * file-local struct pb__genq of FILE.pb.c (emitted once per file by
 * pbc_gen_query_prelude), which holds the plan, the where terms and sort
 * keys not yet wrapped into it, and the latched error.  Successive where
 * calls make ONE Where node whose predicate is the AND of their terms
 * (what the optimizer matches against indexes); successive order_by calls
 * make ONE OrderBy with their keys in call order; any other call (limit,
 * offset, the other kind) first wraps what is pending, so every call is
 * applied where it stands in the chain.
 *
 * Type safety is gen_table.c's: a function-like macro per function, for C
 * only, routes the query, record and pointer arguments through _Generic
 * without a default, and integer values through PB_GENERATED_INTEGER.
 */
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "gen_internal.h"

/* A field a query can read: not an array, a scalar or an enum (a ref<R> by
 * key is classified as its key's type). */
static bool pbc__readable(const pbc_gen_field *gf) {
  return !gf->array &&
         (gf->elem.kind == PBC_GEN_SCALAR || gf->elem.kind == PBC_GEN_ENUM);
}

static bool pbc__is_text(const pbc_gen_elem *e) {
  return e->kind == PBC_GEN_SCALAR &&
         (e->scalar == PBC_STRING || e->scalar == PBC_BYTES);
}

/* Integers, bools and enums: values that pass PB_GENERATED_INTEGER. */
static bool pbc__is_integer(const pbc_gen_elem *e) {
  return e->kind == PBC_GEN_ENUM ||
         (e->kind == PBC_GEN_SCALAR &&
          (e->scalar == PBC_BOOL || pbc_scalar_is_int(e->scalar)));
}

/* Appends the pb_qval of C value `x` of element type e. */
static void pbc__qval(pbc_strbuf *sb, const pbc_gen_elem *e, const char *x) {
  if (e->kind == PBC_GEN_ENUM) {
    pbc_sb_printf(sb, "pb_qint((int64_t)%s)", x);
    return;
  }
  switch (e->scalar) {
  case PBC_BOOL:
    pbc_sb_printf(sb, "pb_qbool(%s)", x);
    break;
  case PBC_FLOAT32:
  case PBC_FLOAT64:
    pbc_sb_printf(sb, "pb_qfloat((double)%s)", x);
    break;
  case PBC_STRING:
    pbc_sb_printf(sb, "pb_qstr(%s)", x);
    break;
  case PBC_BYTES:
    pbc_sb_printf(sb, "pb_qbytes(%s)", x);
    break;
  default:
    if (pbc_scalar_is_signed(e->scalar))
      pbc_sb_printf(sb, "pb_qint((int64_t)%s)", x);
    else
      pbc_sb_printf(sb, "pb_quint((uint64_t)%s)", x);
    break;
  }
}

/* The comparison predicates, their suffix and pb_cmp. */
static const char *const pbc__ops[6] = {"eq", "ne", "lt", "le", "gt", "ge"};
static const char *const pbc__cmps[6] = {"PB_EQ", "PB_NE", "PB_LT",
                                         "PB_LE", "PB_GT", "PB_GE"};
static const char *const pbc__op_text[6] = {"==", "!=", "<", "<=", ">", ">="};

/* --- Names --- */

void pbc_gen_query_names(const pbc_decl *d, pbc_gen_name_fn fn, void *ctx) {
  static const char *const fixed[] = {
      "_query",       "_query_open", "_query_next", "_query_explain",
      "_query_free",  "_limit",      "_offset",     "_from_row",
      "_query_plan"};
  pbc_strbuf sb, n;
  pbc_sb_init(&sb);
  pbc_sb_init(&n);
  pbc_gen_cname(&n, d);
  const char *prefix = pbc_sb_str(&n);
  for (size_t i = 0; i < sizeof fixed / sizeof *fixed; i++) {
    sb.len = 0;
    pbc_sb_printf(&sb, "%s%s", prefix, fixed[i]);
    fn(ctx, pbc_sb_str(&sb), &d->loc);
  }
  for (size_t i = 0; i < d->fields.len; i++) {
    const pbc_field *f = d->fields.items[i];
    pbc_gen_field gf = pbc_gen_classify(f);
    if (!pbc__readable(&gf))
      continue;
    static const char *const ops[] = {"eq", "ne", "lt", "le", "gt", "ge",
                                      "between", "in", "prefix", "is_null",
                                      "is_not_null"};
    for (size_t k = 0; k < sizeof ops / sizeof *ops; k++) {
      if (k == 8 && !pbc__is_text(&gf.elem))
        continue;
      if (k >= 9 && !f->optional)
        continue;
      sb.len = 0;
      pbc_sb_printf(&sb, "%s_where_%s_%s", prefix, f->name, ops[k]);
      fn(ctx, pbc_sb_str(&sb), &f->loc);
    }
    sb.len = 0;
    pbc_sb_printf(&sb, "%s_order_by_%s", prefix, f->name);
    fn(ctx, pbc_sb_str(&sb), &f->loc);
    sb.len = 0;
    pbc_sb_printf(&sb, "%s_%s_expr", prefix, f->name);
    fn(ctx, pbc_sb_str(&sb), &f->loc);
  }
  pbc_sb_free(&sb);
  pbc_sb_free(&n);
}

/* --- Header --- */

/* "#define NAME(params) \\\n  NAME(args)\n", wrapped under 80 columns. */
static void pbc__macro(pbc_strbuf *h, const char *name, const char *params,
                       size_t nargs, const char *const *args) {
  pbc_sb_printf(h, "#define %s(%s) \\\n  %s(", name, params, name);
  size_t col = 3 + strlen(name);
  for (size_t i = 0; i < nargs; i++) {
    const char *nl = strchr(args[i], '\n');
    size_t len = nl ? (size_t)(nl - args[i]) : strlen(args[i]);
    if (col + 2 + len + 1 > 78) {
      pbc_sb_puts(h, i > 0 ? ", \\\n    " : "\\\n    ");
      col = 4;
    } else if (i > 0) {
      pbc_sb_puts(h, ", ");
      col += 2;
    }
    pbc_sb_puts(h, args[i]);
    const char *last = strrchr(args[i], '\n');
    col = last ? strlen(last + 1) : col + len;
  }
  pbc_sb_puts(h, ")\n");
}

/* The state of one record's queries. */
typedef struct pbc__q {
  pbc_gen *g;
  const pbc_decl *d;
  char *n;     /* "P_R"; heap */
  bool keyed;  /* has a [key]: next and from_row take no id */
  char *qarg;  /* "_Generic((q), P_R_query *: (q))"; heap */
} pbc__q;

static void pbc__q_init(pbc__q *t, pbc_gen *g, const pbc_decl *d) {
  memset(t, 0, sizeof *t);
  t->g = g;
  t->d = d;
  pbc_strbuf sb;
  pbc_sb_init(&sb);
  pbc_gen_cname(&sb, d);
  t->n = pbc_xstrdup(pbc_sb_str(&sb));
  sb.len = 0;
  pbc_sb_printf(&sb, "_Generic((q), %s_query *: (q))", t->n);
  t->qarg = pbc_xstrdup(pbc_sb_str(&sb));
  pbc_sb_free(&sb);
  t->keyed = pbc_gen_key_field(d) != NULL;
}

static void pbc__q_free(pbc__q *t) {
  free(t->n);
  free(t->qarg);
}

/* A doc comment holding `text`, wrapped at 78 columns (two spaces after a
 * sentence stay two). */
static void pbc__doc(pbc_strbuf *h, const char *text) {
  pbc_sb_puts(h, "\n/**\n *");
  size_t col = 2;
  const char *p = text;
  while (*p) {
    size_t gap = 0;
    while (*p == ' ') {
      gap++;
      p++;
    }
    const char *w = p;
    while (*p && *p != ' ')
      p++;
    size_t wl = (size_t)(p - w);
    if (wl == 0)
      break;
    if (col > 2 && col + gap + wl > 78) {
      pbc_sb_puts(h, "\n *");
      col = 2;
      gap = 1;
    } else if (col == 2) {
      gap = 1;
    }
    pbc_sb_pad(h, ' ', gap);
    pbc_sb_putn(h, w, wl);
    col += gap + wl;
  }
  pbc_sb_puts(h, "\n */\n");
}

/* "int NAME(args);\n" wrapped. */
static void pbc__proto(pbc_strbuf *h, const char *ret, const char *name,
                       const char *a1, const char *a2, const char *a3,
                       const char *a4) {
  pbc_strbuf head;
  pbc_sb_init(&head);
  pbc_sb_printf(&head, "%s%s%s(", ret, ret[strlen(ret) - 1] == '*' ? "" : " ",
                name);
  pbc_gen_wrapped(h, 0, pbc_sb_str(&head), ");\n", a1, a2, a3, a4,
                  (const char *)NULL);
  pbc_sb_free(&head);
}

void pbc_gen_query_header(pbc_gen *g, const pbc_decl *d) {
  pbc__q t;
  pbc__q_init(&t, g, d);
  pbc_strbuf *h = g->h;
  const char *n = t.n;
  const char *id_doc = t.keyed ? "" : ", and its id into *id (id may be NULL)";
  pbc_sb_printf(h, "\n/* --- Queries of %s (docs/queries.md, \"Typed query "
                   "builders\") --- */\n", d->name);
  pbc_sb_printf(h,
      "\n/**\n"
      " * A query over %s_table: a plan of protobase/query.h (never defined).\n"
      " * Each builder call wraps the query where it stands in the chain;\n"
      " * successive where calls are one Where (the AND of their terms) and\n"
      " * successive order_by calls one OrderBy (keys in call order).  A\n"
      " * builder returns its error and latches it: later calls and\n"
      " * %s_next return it.  Errors of every builder: PB_EINVAL (a NULL\n"
      " * query, a bad argument, a call after the first next or explain),\n"
      " * PB_ENOMEM, the latched error.\n"
      " */\n"
      "typedef struct %s_query %s_query;\n",
      n, n, n, n);
  pbc_sb_printf(h,
      "\n/** Opens *q: every row of %s_table in txn, in %s order.  Free it\n"
      " * with %s_query_free before the transaction ends.  Errors: PB_EINVAL\n"
      " * (a NULL txn or q), PB_ENOMEM. */\n",
      n, t.keyed ? "key" : "id", n);
  pbc_strbuf fn, a, b;
  pbc_sb_init(&fn);
  pbc_sb_init(&a);
  pbc_sb_init(&b);
  pbc_sb_printf(&fn, "%s_query_open", n);
  pbc_sb_printf(&a, "%s_query **q", n);
  pbc__proto(h, "int", pbc_sb_str(&fn), "pb_txn *txn", pbc_sb_str(&a), NULL,
             NULL);
  a.len = 0;
  pbc_sb_printf(&a, "%s_query *q", n);
  for (size_t i = 0; i < d->fields.len; i++) {
    const pbc_field *f = d->fields.items[i];
    pbc_gen_field gf = pbc_gen_classify(f);
    if (!pbc__readable(&gf))
      continue;
    pbc_strbuf ty;
    pbc_sb_init(&ty);
    pbc_gen_elem_ctype(&ty, &gf.elem);
    const char *T = pbc_sb_str(&ty);
    pbc_strbuf doc;
    pbc_sb_init(&doc);
    pbc_sb_printf(&doc,
        "Field %s (tag %llu): each where adds a term: %s OP v (eq ne lt le "
        "gt ge), lo <= %s <= hi (between; PB_BETWEEN_LO_EXCL, "
        "PB_BETWEEN_HI_EXCL exclude an end), %s IN vals[0..n) (in: copied; "
        "n 0 is FALSE)",
        f->name, (unsigned long long)f->tag, f->name, f->name, f->name);
    if (pbc__is_text(&gf.elem))
      pbc_sb_printf(&doc, ", %s starts with v (prefix)", f->name);
    if (f->optional)
      pbc_sb_printf(&doc, "; is_null, is_not_null: whether %s is absent.  "
                          "An absent %s is in no other term (SQL's NULL)",
                    f->name, f->name);
    pbc_sb_printf(&doc, ".  order_by: a sort key, PB_ASC or PB_DESC%s.  "
                        "%s_%s_expr: the field in source src of a row, for "
                        "pb_plan_join and pb_plan_group_by (NULL: out of "
                        "memory).",
                  f->optional ? " (absent first)" : "", n, f->name);
    pbc__doc(h, pbc_sb_str(&doc));
    pbc_sb_free(&doc);
    b.len = 0;
    pbc_sb_printf(&b, "%s v", T);
    for (size_t k = 0; k < 6; k++) {
      fn.len = 0;
      pbc_sb_printf(&fn, "%s_where_%s_%s", n, f->name, pbc__ops[k]);
      pbc__proto(h, "int", pbc_sb_str(&fn), pbc_sb_str(&a), pbc_sb_str(&b),
                 NULL, NULL);
    }
    fn.len = 0;
    pbc_sb_printf(&fn, "%s_where_%s_between", n, f->name);
    {
      pbc_strbuf lo, hi;
      pbc_sb_init(&lo);
      pbc_sb_init(&hi);
      pbc_sb_printf(&lo, "%s lo", T);
      pbc_sb_printf(&hi, "%s hi", T);
      pbc__proto(h, "int", pbc_sb_str(&fn), pbc_sb_str(&a), pbc_sb_str(&lo),
                 pbc_sb_str(&hi), "unsigned flags");
      lo.len = 0;
      pbc_sb_printf(&lo, "const %s *vals", T);
      fn.len = 0;
      pbc_sb_printf(&fn, "%s_where_%s_in", n, f->name);
      pbc__proto(h, "int", pbc_sb_str(&fn), pbc_sb_str(&a), pbc_sb_str(&lo),
                 "size_t n", NULL);
      if (pbc__is_text(&gf.elem)) {
        fn.len = 0;
        pbc_sb_printf(&fn, "%s_where_%s_prefix", n, f->name);
        hi.len = 0;
        pbc_sb_printf(&hi, "%s v", T);
        pbc__proto(h, "int", pbc_sb_str(&fn), pbc_sb_str(&a),
                   pbc_sb_str(&hi), NULL, NULL);
      }
      pbc_sb_free(&lo);
      pbc_sb_free(&hi);
    }
    if (f->optional) {
      fn.len = 0;
      pbc_sb_printf(&fn, "%s_where_%s_is_null", n, f->name);
      pbc__proto(h, "int", pbc_sb_str(&fn), pbc_sb_str(&a), NULL, NULL,
                 NULL);
      fn.len = 0;
      pbc_sb_printf(&fn, "%s_where_%s_is_not_null", n, f->name);
      pbc__proto(h, "int", pbc_sb_str(&fn), pbc_sb_str(&a), NULL, NULL,
                 NULL);
    }
    fn.len = 0;
    pbc_sb_printf(&fn, "%s_order_by_%s", n, f->name);
    pbc__proto(h, "int", pbc_sb_str(&fn), pbc_sb_str(&a), "unsigned dir",
               NULL, NULL);
    fn.len = 0;
    pbc_sb_printf(&fn, "%s_%s_expr", n, f->name);
    pbc__proto(h, "pb_expr *", pbc_sb_str(&fn), "unsigned src", NULL, NULL,
               NULL);
    pbc_sb_free(&ty);
  }
  pbc_sb_printf(h,
      "\n/** At most n rows of the query as it stands (limit), or the rows "
      "after\n * its first n (offset): limit then offset skips within the "
      "first n rows;\n * offset then limit is SQL's LIMIT n OFFSET m. */\n");
  fn.len = 0;
  pbc_sb_printf(&fn, "%s_limit", n);
  pbc__proto(h, "int", pbc_sb_str(&fn), pbc_sb_str(&a), "uint64_t n", NULL,
             NULL);
  fn.len = 0;
  pbc_sb_printf(&fn, "%s_offset", n);
  pbc__proto(h, "int", pbc_sb_str(&fn), pbc_sb_str(&a), "uint64_t n", NULL,
             NULL);
  {
    pbc_strbuf doc;
    pbc_sb_init(&doc);
    pbc_sb_printf(&doc,
        "The query's next row into *r%s (%s_next(q, ...) calls this).  What "
        "it points to (strings, bytes, arrays) is valid until the next call "
        "or %s_query_free.  Returns PB_OK, or "
        "PB_ENOTFOUND after the last row; PB_EINVAL (a NULL q or r); the "
        "latched error; the errors of pb_plan_next.",
        id_doc, n, n);
    pbc__doc(h, pbc_sb_str(&doc));
    pbc_sb_free(&doc);
  }
  fn.len = 0;
  pbc_sb_printf(&fn, "%s_query_next", n);
  b.len = 0;
  pbc_sb_printf(&b, "%s *r", n);
  pbc__proto(h, "int", pbc_sb_str(&fn), pbc_sb_str(&a), pbc_sb_str(&b),
             t.keyed ? NULL : "uint64_t *id", NULL);
  pbc_sb_printf(h,
      "\n/** Appends the query's plan, optimized, to out (pb_plan_explain).  "
      "No\n * builder may follow.  Errors: PB_EINVAL (a NULL q or out), the "
      "latched\n * error, those of pb_plan_explain. */\n");
  fn.len = 0;
  pbc_sb_printf(&fn, "%s_query_explain", n);
  pbc__proto(h, "int", pbc_sb_str(&fn), pbc_sb_str(&a), "pb_buf *out", NULL,
             NULL);
  pbc_sb_printf(h, "\n/** Frees a query and its plan.  NULL is a no-op. */\n"
                   "void %s_query_free(%s_query *q);\n", n, n);
  {
    pbc_strbuf doc;
    pbc_sb_init(&doc);
    pbc_sb_printf(&doc,
        "Hands the query's plan to *out (the caller frees it) and frees q, "
        "in every case: for pb_plan_join, pb_plan_group_by, ... where the "
        "typed builders stop.  Its rows have one source, a %s.  Errors "
        "(*out NULL): PB_EINVAL (a NULL q or out, a query that ran), the "
        "latched error, those of wrapping the pending terms.",
        n);
    pbc__doc(h, pbc_sb_str(&doc));
    pbc_sb_free(&doc);
  }
  fn.len = 0;
  pbc_sb_printf(&fn, "%s_query_plan", n);
  pbc__proto(h, "int", pbc_sb_str(&fn), pbc_sb_str(&a), "pb_plan **out", NULL,
             NULL);
  {
    pbc_strbuf doc;
    pbc_sb_init(&doc);
    pbc_sb_printf(&doc,
        "Copies source src of a plan's row, a record of %s_table, into *r%s "
        "(views valid as the row's).  The caller knows which sources are "
        "%s's.  Errors: PB_EINVAL (a NULL row or r, src >= row->n_recs), "
        "PB_ENOTFOUND (a NULL source: an outer join's missing side).",
        n, id_doc, d->name);
    pbc__doc(h, pbc_sb_str(&doc));
    pbc_sb_free(&doc);
  }
  fn.len = 0;
  pbc_sb_printf(&fn, "%s_from_row", n);
  pbc__proto(h, "int", pbc_sb_str(&fn), "const pb_row *row", "unsigned src",
             pbc_sb_str(&b), t.keyed ? NULL : "uint64_t *id");
  pbc_sb_free(&fn);
  pbc_sb_free(&a);
  pbc_sb_free(&b);
  pbc__q_free(&t);
}

/* The type checks of the query functions (inside gen_table.c's
 * #ifndef __cplusplus block). */
void pbc_gen_query_macros(pbc_gen *g, const pbc_decl *d) {
  pbc__q t;
  pbc__q_init(&t, g, d);
  pbc_strbuf *h = g->h;
  const char *n = t.n;
  pbc_strbuf fn, x, y;
  pbc_sb_init(&fn);
  pbc_sb_init(&x);
  pbc_sb_init(&y);
  /* P_R_next: a cursor or a query. */
  pbc_sb_printf(h,
      "#define %s_next(c, r%s) \\\n"
      "  _Generic((c), %s_cursor *: (%s_next), \\\n"
      "           %s_query *: (%s_query_next))((c), \\\n"
      "    _Generic((r), %s *: (r))%s)\n",
      n, t.keyed ? "" : ", id", n, n, n, n, n,
      t.keyed ? "" : ", \\\n    _Generic((id), uint64_t *: (id), "
                     "void *: (id))");
  pbc_sb_printf(&fn, "%s_query_open", n);
  pbc_sb_printf(&x, "_Generic((q), %s_query **: (q))", n);
  pbc__macro(h, pbc_sb_str(&fn), "txn, q", 2,
             (const char *const[]){"(txn)", pbc_sb_str(&x)});
  for (size_t i = 0; i < d->fields.len; i++) {
    const pbc_field *f = d->fields.items[i];
    pbc_gen_field gf = pbc_gen_classify(f);
    if (!pbc__readable(&gf))
      continue;
    bool integer = pbc__is_integer(&gf.elem);
    const char *v = integer ? "PB_GENERATED_INTEGER(v)" : "(v)";
    for (size_t k = 0; k < 6; k++) {
      fn.len = 0;
      pbc_sb_printf(&fn, "%s_where_%s_%s", n, f->name, pbc__ops[k]);
      pbc__macro(h, pbc_sb_str(&fn), "q, v", 2,
                 (const char *const[]){t.qarg, v});
    }
    fn.len = 0;
    pbc_sb_printf(&fn, "%s_where_%s_between", n, f->name);
    pbc__macro(h, pbc_sb_str(&fn), "q, lo, hi, flags", 4,
               (const char *const[]){
                   t.qarg, integer ? "PB_GENERATED_INTEGER(lo)" : "(lo)",
                   integer ? "PB_GENERATED_INTEGER(hi)" : "(hi)", "(flags)"});
    pbc_strbuf ty;
    pbc_sb_init(&ty);
    pbc_gen_elem_ctype(&ty, &gf.elem);
    x.len = 0;
    pbc_sb_printf(&x, "_Generic((vals), const %s *: (vals),%s%s *: (vals), "
                      "void *: (vals))", pbc_sb_str(&ty),
                  2 * ty.len + 68 > 76 ? " \\\n             " : " ",
                  pbc_sb_str(&ty));
    pbc_sb_free(&ty);
    fn.len = 0;
    pbc_sb_printf(&fn, "%s_where_%s_in", n, f->name);
    pbc__macro(h, pbc_sb_str(&fn), "q, vals, n", 3,
               (const char *const[]){t.qarg, pbc_sb_str(&x), "(n)"});
    if (pbc__is_text(&gf.elem)) {
      fn.len = 0;
      pbc_sb_printf(&fn, "%s_where_%s_prefix", n, f->name);
      pbc__macro(h, pbc_sb_str(&fn), "q, v", 2,
                 (const char *const[]){t.qarg, "(v)"});
    }
    if (f->optional) {
      fn.len = 0;
      pbc_sb_printf(&fn, "%s_where_%s_is_null", n, f->name);
      pbc__macro(h, pbc_sb_str(&fn), "q", 1, (const char *const[]){t.qarg});
      fn.len = 0;
      pbc_sb_printf(&fn, "%s_where_%s_is_not_null", n, f->name);
      pbc__macro(h, pbc_sb_str(&fn), "q", 1, (const char *const[]){t.qarg});
    }
    fn.len = 0;
    pbc_sb_printf(&fn, "%s_order_by_%s", n, f->name);
    pbc__macro(h, pbc_sb_str(&fn), "q, dir", 2,
               (const char *const[]){t.qarg, "PB_GENERATED_INTEGER(dir)"});
    fn.len = 0;
    pbc_sb_printf(&fn, "%s_%s_expr", n, f->name);
    pbc__macro(h, pbc_sb_str(&fn), "src", 1,
               (const char *const[]){"PB_GENERATED_INTEGER(src)"});
  }
  static const char *const lim[] = {"limit", "offset"};
  for (size_t k = 0; k < 2; k++) {
    fn.len = 0;
    pbc_sb_printf(&fn, "%s_%s", n, lim[k]);
    pbc__macro(h, pbc_sb_str(&fn), "q, n", 2,
               (const char *const[]){t.qarg, "PB_GENERATED_INTEGER(n)"});
  }
  x.len = 0;
  pbc_sb_printf(&x, "_Generic((r), %s *: (r))", n);
  fn.len = 0;
  pbc_sb_printf(&fn, "%s_query_next", n);
  if (t.keyed)
    pbc__macro(h, pbc_sb_str(&fn), "q, r", 2,
               (const char *const[]){t.qarg, pbc_sb_str(&x)});
  else
    pbc__macro(h, pbc_sb_str(&fn), "q, r, id", 3,
               (const char *const[]){
                   t.qarg, pbc_sb_str(&x),
                   "_Generic((id), uint64_t *: (id), void *: (id))"});
  fn.len = 0;
  pbc_sb_printf(&fn, "%s_query_explain", n);
  pbc__macro(h, pbc_sb_str(&fn), "q, out", 2,
             (const char *const[]){t.qarg,
                                   "_Generic((out), pb_buf *: (out))"});
  fn.len = 0;
  pbc_sb_printf(&fn, "%s_query_free", n);
  y.len = 0;
  pbc_sb_printf(&y, "_Generic((q), %s_query *: (q), void *: (q))", n);
  pbc__macro(h, pbc_sb_str(&fn), "q", 1, (const char *const[]){pbc_sb_str(&y)});
  fn.len = 0;
  pbc_sb_printf(&fn, "%s_query_plan", n);
  pbc__macro(h, pbc_sb_str(&fn), "q, out", 2,
             (const char *const[]){t.qarg,
                                   "_Generic((out), pb_plan **: (out))"});
  fn.len = 0;
  pbc_sb_printf(&fn, "%s_from_row", n);
  const char *row = "_Generic((row), const pb_row *: (row), pb_row *: (row))";
  if (t.keyed)
    pbc__macro(h, pbc_sb_str(&fn), "row, src, r", 3,
               (const char *const[]){row, "PB_GENERATED_INTEGER(src)",
                                     pbc_sb_str(&x)});
  else
    pbc__macro(h, pbc_sb_str(&fn), "row, src, r, id", 4,
               (const char *const[]){
                   row, "PB_GENERATED_INTEGER(src)", pbc_sb_str(&x),
                   "_Generic((id), uint64_t *: (id), void *: (id))"});
  pbc_sb_free(&fn);
  pbc_sb_free(&x);
  pbc_sb_free(&y);
  pbc__q_free(&t);
}

/* --- Source --- */

void pbc_gen_query_prelude(pbc_gen *g) {
  /* Only the helpers that the file's fields use (no unused statics). */
  struct {
    bool readable, text, optional;
  } any = {false, false, false};
  for (size_t i = 0; i < g->file->decls.len; i++) {
    const pbc_decl *d = g->file->decls.items[i];
    for (size_t k = 0; d->kind == PBC_DECL_RECORD && k < d->fields.len; k++) {
      pbc_gen_field gf = pbc_gen_classify(d->fields.items[k]);
      if (!pbc__readable(&gf))
        continue;
      any.readable = true;
      any.text = any.text || pbc__is_text(&gf.elem);
      any.optional = any.optional || gf.f->optional;
    }
  }
  pbc_sb_puts(g->c,
      "\n/* The typed queries of this file (docs/queries.md, \"Typed query\n"
      " * builders\"): every P_R_query is a struct pb__genq. */\n"
      "typedef struct pb__genq {\n"
      "  pb_plan *plan;     /* the query so far */\n"
      "  pb_expr *where;    /* where terms not yet in plan: one AND */\n"
      "  pb_sort_key *keys; /* order_by keys not yet in plan */\n"
      "  size_t n_keys, cap_keys;\n"
      "  int err;           /* the latched error */\n"
      "  bool ran;          /* next or explain ran: no more builders */\n"
      "} pb__genq;\n"
      "\n"
      "static int pb__genq_open(pb_txn *txn, const pb_table_def *def,\n"
      "                         pb__genq **out) {\n"
      "  pb__genq *q;\n"
      "  int rc;\n\n"
      "  *out = NULL;\n"
      "  if (!txn)\n"
      "    return PB_EINVAL;\n"
      "  q = calloc(1, sizeof *q);\n"
      "  if (!q)\n"
      "    return PB_ENOMEM;\n"
      "  rc = pb_plan_from_table(txn, def, &q->plan);\n"
      "  if (rc != PB_OK) {\n"
      "    free(q);\n"
      "    return rc;\n"
      "  }\n"
      "  *out = q;\n"
      "  return PB_OK;\n"
      "}\n"
      "\n"
      "/* Latches rc (the first error stays) and returns it. */\n"
      "static int pb__genq_fail(pb__genq *q, int rc) {\n"
      "  if (rc != PB_OK && q->err == PB_OK)\n"
      "    q->err = rc;\n"
      "  return rc;\n"
      "}\n"
      "\n"
      "/* Whether a builder may change q (else returns its error). */\n"
      "static int pb__genq_usable(pb__genq *q) {\n"
      "  if (q->err != PB_OK)\n"
      "    return q->err;\n"
      "  if (q->ran)\n"
      "    return pb__genq_fail(q, PB_EINVAL);\n"
      "  return PB_OK;\n"
      "}\n"
      "\n"
      "/* Wraps the pending where terms, then the pending sort keys. */\n"
      "static int pb__genq_flush(pb__genq *q) {\n"
      "  int rc = PB_OK;\n\n"
      "  if (q->where) {\n"
      "    pb_expr *w = q->where;\n"
      "    q->where = NULL;\n"
      "    rc = pb_plan_where(&q->plan, w);\n"
      "  }\n"
      "  if (rc == PB_OK && q->n_keys > 0) {\n"
      "    size_t n = q->n_keys;\n"
      "    q->n_keys = 0;\n"
      "    rc = pb_plan_order_by(&q->plan, q->keys, n);\n"
      "  }\n"
      "  return pb__genq_fail(q, rc);\n"
      "}\n"
      "\n"
      "static int pb__genq_limit(void *qv, uint64_t n, bool offset) {\n"
      "  pb__genq *q = qv;\n"
      "  int rc = q ? pb__genq_usable(q) : PB_EINVAL;\n\n"
      "  if (rc == PB_OK)\n"
      "    rc = pb__genq_flush(q);\n"
      "  if (rc != PB_OK)\n"
      "    return rc;\n"
      "  return pb__genq_fail(q, offset ? pb_plan_offset(&q->plan, n)\n"
      "                                 : pb_plan_limit(&q->plan, n));\n"
      "}\n"
      "\n"
      "/* Fixes the plan before its first next or explain. */\n"
      "static int pb__genq_run(pb__genq *q) {\n"
      "  int rc;\n\n"
      "  if (q->err != PB_OK)\n"
      "    return q->err;\n"
      "  if (q->ran)\n"
      "    return PB_OK;\n"
      "  rc = pb__genq_flush(q);\n"
      "  q->ran = true;\n"
      "  return rc;\n"
      "}\n"
      "\n"
      "/* Copies source src of *row (size bytes) into r, its id into *id. */\n"
      "static int pb__genq_copy(const pb_row *row, unsigned src, void *r,\n"
      "                         size_t size, uint64_t *id) {\n"
      "  if (src >= row->n_recs)\n"
      "    return PB_EINVAL;\n"
      "  if (!row->recs[src])\n"
      "    return PB_ENOTFOUND;\n"
      "  memcpy(r, row->recs[src], size);\n"
      "  if (id)\n"
      "    *id = row->ids ? row->ids[src] : 0;\n"
      "  return PB_OK;\n"
      "}\n"
      "\n"
      "static int pb__genq_next(void *qv, void *r, size_t size, uint64_t *id) {\n"
      "  pb__genq *q = qv;\n"
      "  pb_row row;\n"
      "  int rc;\n\n"
      "  if (!q || !r)\n"
      "    return PB_EINVAL;\n"
      "  rc = pb__genq_run(q);\n"
      "  if (rc != PB_OK)\n"
      "    return rc;\n"
      "  rc = pb_plan_next(q->plan, &row);\n"
      "  if (rc == PB_OK)\n"
      "    rc = pb__genq_copy(&row, 0, r, size, id);\n"
      "  return rc == PB_ENOTFOUND ? rc : pb__genq_fail(q, rc);\n"
      "}\n"
      "\n"
      "static int pb__genq_explain(void *qv, pb_buf *out) {\n"
      "  pb__genq *q = qv;\n"
      "  int rc;\n\n"
      "  if (!q || !out)\n"
      "    return PB_EINVAL;\n"
      "  rc = pb__genq_run(q);\n"
      "  if (rc != PB_OK)\n"
      "    return rc;\n"
      "  return pb__genq_fail(q, pb_plan_explain(q->plan, out));\n"
      "}\n"
      "\n"
      "static void pb__genq_free(void *qv) {\n"
      "  pb__genq *q = qv;\n\n"
      "  if (!q)\n"
      "    return;\n"
      "  pb_expr_free(q->where);\n"
      "  for (size_t i = 0; i < q->n_keys; i++)\n"
      "    pb_expr_free(q->keys[i].expr);\n"
      "  free(q->keys);\n"
      "  pb_plan_free(q->plan);\n"
      "  free(q);\n"
      "}\n"
      "\n"
      "/* Moves the plan to *out and frees q, in every case. */\n"
      "static int pb__genq_take(void *qv, pb_plan **out) {\n"
      "  pb__genq *q = qv;\n"
      "  int rc;\n\n"
      "  if (out)\n"
      "    *out = NULL;\n"
      "  if (!q)\n"
      "    return PB_EINVAL;\n"
      "  rc = !out || q->ran ? PB_EINVAL : q->err;\n"
      "  if (rc == PB_OK)\n"
      "    rc = pb__genq_flush(q);\n"
      "  if (rc == PB_OK) {\n"
      "    *out = q->plan;\n"
      "    q->plan = NULL;\n"
      "  }\n"
      "  pb__genq_free(q);\n"
      "  return rc;\n"
      "}\n");
  if (any.readable)
    pbc_sb_puts(g->c,
        "\n"
        "/* A STR or BYTES value with a NULL pointer and a length is bad; with\n"
        " * none it is the empty value (made to point somewhere). */\n"
        "static bool pb__genq_val_ok(pb_qval *v) {\n"
        "  if ((v->type != PB_QSTR && v->type != PB_QBYTES) || v->as.s.ptr)\n"
        "    return true;\n"
        "  v->as.s.ptr = (const uint8_t *)\"\";\n"
        "  return v->as.s.len == 0;\n"
        "}\n"
        "\n"
        "/* ANDs `term` (owned) into the pending Where. */\n"
        "static int pb__genq_where(pb__genq *q, pb_expr *term) {\n"
        "  int rc = pb__genq_usable(q);\n\n"
        "  if (rc == PB_OK && !term)\n"
        "    rc = pb__genq_fail(q, PB_ENOMEM);\n"
        "  if (rc == PB_OK && q->n_keys > 0)\n"
        "    rc = pb__genq_flush(q);\n"
        "  if (rc != PB_OK) {\n"
        "    pb_expr_free(term);\n"
        "    return rc;\n"
        "  }\n"
        "  if (q->where) {\n"
        "    q->where = pb_expr_and(q->where, term);\n"
        "    if (!q->where)\n"
        "      return pb__genq_fail(q, PB_ENOMEM);\n"
        "  } else {\n"
        "    q->where = term;\n"
        "  }\n"
        "  return PB_OK;\n"
        "}\n"
        "\n"
        "static int pb__genq_cmp(void *qv, pb_cmp op, uint32_t tag, pb_qval v) {\n"
        "  pb__genq *q = qv;\n"
        "  int rc = q ? pb__genq_usable(q) : PB_EINVAL;\n\n"
        "  if (rc != PB_OK)\n"
        "    return rc;\n"
        "  if (!pb__genq_val_ok(&v))\n"
        "    return pb__genq_fail(q, PB_EINVAL);\n"
        "  return pb__genq_where(\n"
        "      q, pb_expr_cmp(op, pb_expr_field(0, tag), pb_expr_const(v)));\n"
        "}\n"
        "\n"
        "static int pb__genq_between(void *qv, uint32_t tag, pb_qval lo,\n"
        "                            pb_qval hi, unsigned flags) {\n"
        "  pb__genq *q = qv;\n"
        "  int rc = q ? pb__genq_usable(q) : PB_EINVAL;\n\n"
        "  if (rc != PB_OK)\n"
        "    return rc;\n"
        "  if ((flags & ~(unsigned)(PB_BETWEEN_LO_EXCL | PB_BETWEEN_HI_EXCL)) ||\n"
        "      !pb__genq_val_ok(&lo) || !pb__genq_val_ok(&hi))\n"
        "    return pb__genq_fail(q, PB_EINVAL);\n"
        "  return pb__genq_where(q, pb_expr_between(pb_expr_field(0, tag),\n"
        "                                           pb_expr_const(lo),\n"
        "                                           pb_expr_const(hi), flags));\n"
        "}\n"
        "\n"
        "/* Room for the n values of an IN (*out, to free), or the error. */\n"
        "static int pb__genq_vals(void *qv, const void *vals, size_t n,\n"
        "                         pb_qval **out) {\n"
        "  pb__genq *q = qv;\n"
        "  int rc = q ? pb__genq_usable(q) : PB_EINVAL;\n\n"
        "  *out = NULL;\n"
        "  if (rc != PB_OK)\n"
        "    return rc;\n"
        "  if (!vals && n > 0)\n"
        "    return pb__genq_fail(q, PB_EINVAL);\n"
        "  if (n > SIZE_MAX / sizeof **out)\n"
        "    return pb__genq_fail(q, PB_ENOMEM);\n"
        "  *out = malloc(n > 0 ? n * sizeof **out : 1);\n"
        "  if (!*out)\n"
        "    return pb__genq_fail(q, PB_ENOMEM);\n"
        "  return PB_OK;\n"
        "}\n"
        "\n"
        "/* x IN v[0..n); frees v. */\n"
        "static int pb__genq_in(void *qv, uint32_t tag, pb_qval *v, size_t n) {\n"
        "  pb__genq *q = qv;\n"
        "  pb_expr *e;\n\n"
        "  for (size_t i = 0; i < n; i++)\n"
        "    if (!pb__genq_val_ok(&v[i])) {\n"
        "      free(v);\n"
        "      return pb__genq_fail(q, PB_EINVAL);\n"
        "    }\n"
        "  e = pb_expr_in(pb_expr_field(0, tag), v, n);\n"
        "  free(v);\n"
        "  return pb__genq_where(q, e);\n"
        "}\n"
        "\n"
        "/* Appends a sort key to the pending OrderBy. */\n"
        "static int pb__genq_order(void *qv, uint32_t tag, unsigned dir) {\n"
        "  pb__genq *q = qv;\n"
        "  pb_expr *e;\n"
        "  int rc = q ? pb__genq_usable(q) : PB_EINVAL;\n\n"
        "  if (rc != PB_OK)\n"
        "    return rc;\n"
        "  if (dir != PB_ASC && dir != PB_DESC)\n"
        "    return pb__genq_fail(q, PB_EINVAL);\n"
        "  if (q->where) {\n"
        "    rc = pb__genq_flush(q);\n"
        "    if (rc != PB_OK)\n"
        "      return rc;\n"
        "  }\n"
        "  if (q->n_keys == q->cap_keys) {\n"
        "    size_t cap = q->cap_keys ? 2 * q->cap_keys : 4;\n"
        "    pb_sort_key *k = realloc(q->keys, cap * sizeof *k);\n"
        "    if (!k)\n"
        "      return pb__genq_fail(q, PB_ENOMEM);\n"
        "    q->keys = k;\n"
        "    q->cap_keys = cap;\n"
        "  }\n"
        "  e = pb_expr_field(0, tag);\n"
        "  if (!e)\n"
        "    return pb__genq_fail(q, PB_ENOMEM);\n"
        "  q->keys[q->n_keys].expr = e;\n"
        "  q->keys[q->n_keys].dir = dir;\n"
        "  q->n_keys++;\n"
        "  return PB_OK;\n"
        "}\n"
        "\n");
  if (any.text)
    pbc_sb_puts(g->c,
        "\n"
        "static int pb__genq_prefix(void *qv, uint32_t tag, pb_qval v) {\n"
        "  pb__genq *q = qv;\n"
        "  int rc = q ? pb__genq_usable(q) : PB_EINVAL;\n\n"
        "  if (rc != PB_OK)\n"
        "    return rc;\n"
        "  if (!pb__genq_val_ok(&v))\n"
        "    return pb__genq_fail(q, PB_EINVAL);\n"
        "  return pb__genq_where(q, pb_expr_prefix(pb_expr_field(0, tag), v));\n"
        "}\n"
        "\n");
  if (any.optional)
    pbc_sb_puts(g->c,
        "\n"
        "static int pb__genq_null(void *qv, uint32_t tag, bool is_null) {\n"
        "  pb__genq *q = qv;\n"
        "  pb_expr *e;\n"
        "  int rc = q ? pb__genq_usable(q) : PB_EINVAL;\n\n"
        "  if (rc != PB_OK)\n"
        "    return rc;\n"
        "  e = pb_expr_is_null(pb_expr_field(0, tag));\n"
        "  return pb__genq_where(q, is_null ? e : pb_expr_not(e));\n"
        "}\n"
        "\n");
}

/* "\nRET (NAME)(ARGS) {\n" */
static void pbc__def(pbc_strbuf *c, const char *ret, const char *name,
                     const char *a1, const char *a2, const char *a3,
                     const char *a4) {
  pbc_strbuf head;
  pbc_sb_init(&head);
  pbc_sb_printf(&head, "%s%s(%s)(", ret, ret[strlen(ret) - 1] == '*' ? ""
                                                                    : " ",
                name);
  pbc_sb_putc(c, '\n');
  pbc_gen_wrapped(c, 0, pbc_sb_str(&head), ") {\n", a1, a2, a3, a4,
                  (const char *)NULL);
  pbc_sb_free(&head);
}

void pbc_gen_query(pbc_gen *g, const pbc_decl *d) {
  pbc__q t;
  pbc__q_init(&t, g, d);
  pbc_strbuf *c = g->c;
  const char *n = t.n;
  pbc_strbuf fn, a, b, v, w;
  pbc_sb_init(&fn);
  pbc_sb_init(&a);
  pbc_sb_init(&b);
  pbc_sb_init(&v);
  pbc_sb_init(&w);
  pbc_sb_printf(&a, "%s_query *q", n);
  const char *Q = "q";
  pbc_sb_printf(&fn, "%s_query_open", n);
  b.len = 0;
  pbc_sb_printf(&b, "%s_query **q", n);
  pbc__def(c, "int", pbc_sb_str(&fn), "pb_txn *txn", pbc_sb_str(&b), NULL,
           NULL);
  pbc_sb_printf(c,
      "  pb__genq *g = NULL;\n"
      "  int rc;\n\n"
      "  if (!q)\n"
      "    return PB_EINVAL;\n"
      "  rc = pb__genq_open(txn, &%s_table, &g);\n"
      "  *q = (%s_query *)(void *)g;\n"
      "  return rc;\n"
      "}\n", n, n);
  for (size_t i = 0; i < d->fields.len; i++) {
    const pbc_field *f = d->fields.items[i];
    pbc_gen_field gf = pbc_gen_classify(f);
    if (!pbc__readable(&gf))
      continue;
    unsigned long long tag = (unsigned long long)f->tag;
    pbc_strbuf ty;
    pbc_sb_init(&ty);
    pbc_gen_elem_ctype(&ty, &gf.elem);
    const char *T = pbc_sb_str(&ty);
    b.len = 0;
    pbc_sb_printf(&b, "%s v", T);
    v.len = 0;
    pbc__qval(&v, &gf.elem, "v");
    for (size_t k = 0; k < 6; k++) {
      fn.len = 0;
      pbc_sb_printf(&fn, "%s_where_%s_%s", n, f->name, pbc__ops[k]);
      pbc__def(c, "int", pbc_sb_str(&fn), pbc_sb_str(&a), pbc_sb_str(&b),
               NULL, NULL);
      pbc_sb_printf(c,
          "  /* %s %s v */\n"
          "  return pb__genq_cmp(%s, %s, %llu, %s);\n"
          "}\n",
          f->name, pbc__op_text[k], Q, pbc__cmps[k], tag, pbc_sb_str(&v));
    }
    fn.len = 0;
    pbc_sb_printf(&fn, "%s_where_%s_between", n, f->name);
    pbc_strbuf lo, hi;
    pbc_sb_init(&lo);
    pbc_sb_init(&hi);
    pbc_sb_printf(&lo, "%s lo", T);
    pbc_sb_printf(&hi, "%s hi", T);
    pbc__def(c, "int", pbc_sb_str(&fn), pbc_sb_str(&a), pbc_sb_str(&lo),
             pbc_sb_str(&hi), "unsigned flags");
    lo.len = 0;
    hi.len = 0;
    pbc__qval(&lo, &gf.elem, "lo");
    pbc__qval(&hi, &gf.elem, "hi");
    pbc_sb_printf(c,
        "  return pb__genq_between(%s, %llu, %s,\n"
        "                          %s, flags);\n"
        "}\n",
        Q, tag, pbc_sb_str(&lo), pbc_sb_str(&hi));
    fn.len = 0;
    pbc_sb_printf(&fn, "%s_where_%s_in", n, f->name);
    lo.len = 0;
    pbc_sb_printf(&lo, "const %s *vals", T);
    pbc__def(c, "int", pbc_sb_str(&fn), pbc_sb_str(&a), pbc_sb_str(&lo),
             "size_t n", NULL);
    w.len = 0;
    pbc__qval(&w, &gf.elem, "vals[i]");
    pbc_sb_printf(c,
        "  pb_qval *v;\n"
        "  int rc;\n\n"
        "  rc = pb__genq_vals(%s, vals, n, &v);\n"
        "  if (rc != PB_OK)\n"
        "    return rc;\n"
        "  for (size_t i = 0; i < n; i++)\n"
        "    v[i] = %s;\n"
        "  return pb__genq_in(%s, %llu, v, n);\n"
        "}\n",
        Q, pbc_sb_str(&w), Q, tag);
    pbc_sb_free(&lo);
    pbc_sb_free(&hi);
    if (pbc__is_text(&gf.elem)) {
      fn.len = 0;
      pbc_sb_printf(&fn, "%s_where_%s_prefix", n, f->name);
      pbc__def(c, "int", pbc_sb_str(&fn), pbc_sb_str(&a), pbc_sb_str(&b),
               NULL, NULL);
      pbc_sb_printf(c,
          "  return pb__genq_prefix(%s, %llu, %s);\n"
          "}\n",
          Q, tag, pbc_sb_str(&v));
    }
    if (f->optional) {
      for (int k = 0; k < 2; k++) {
        fn.len = 0;
        pbc_sb_printf(&fn, "%s_where_%s_%s", n, f->name,
                      k == 0 ? "is_null" : "is_not_null");
        pbc__def(c, "int", pbc_sb_str(&fn), pbc_sb_str(&a), NULL, NULL, NULL);
        pbc_sb_printf(c,
            "  return pb__genq_null(%s, %llu, %s);\n"
            "}\n",
            Q, tag, k == 0 ? "true" : "false");
      }
    }
    fn.len = 0;
    pbc_sb_printf(&fn, "%s_order_by_%s", n, f->name);
    pbc__def(c, "int", pbc_sb_str(&fn), pbc_sb_str(&a), "unsigned dir", NULL,
             NULL);
    pbc_sb_printf(c,
        "  return pb__genq_order(%s, %llu, dir);\n"
        "}\n",
        Q, tag);
    fn.len = 0;
    pbc_sb_printf(&fn, "%s_%s_expr", n, f->name);
    pbc__def(c, "pb_expr *", pbc_sb_str(&fn), "unsigned src", NULL, NULL,
             NULL);
    pbc_sb_printf(c, "  return pb_expr_field(src, %llu);\n}\n", tag);
    pbc_sb_free(&ty);
  }
  static const char *const lim[] = {"limit", "offset"};
  for (int k = 0; k < 2; k++) {
    fn.len = 0;
    pbc_sb_printf(&fn, "%s_%s", n, lim[k]);
    pbc__def(c, "int", pbc_sb_str(&fn), pbc_sb_str(&a), "uint64_t n", NULL,
             NULL);
    pbc_sb_printf(c,
        "  return pb__genq_limit(%s, n, %s);\n"
        "}\n",
        Q, k ? "true" : "false");
  }
  fn.len = 0;
  pbc_sb_printf(&fn, "%s_query_next", n);
  b.len = 0;
  pbc_sb_printf(&b, "%s *r", n);
  pbc__def(c, "int", pbc_sb_str(&fn), pbc_sb_str(&a), pbc_sb_str(&b),
           t.keyed ? NULL : "uint64_t *id", NULL);
  pbc_sb_printf(c,
      "  return pb__genq_next(%s, r, sizeof *r, %s);\n"
      "}\n",
      Q, t.keyed ? "NULL" : "id");
  fn.len = 0;
  pbc_sb_printf(&fn, "%s_query_explain", n);
  pbc__def(c, "int", pbc_sb_str(&fn), pbc_sb_str(&a), "pb_buf *out", NULL,
           NULL);
  pbc_sb_printf(c,
      "  return pb__genq_explain(%s, out);\n"
      "}\n",
      Q);
  pbc_sb_printf(c,
      "\nvoid (%s_query_free)(%s_query *q) {\n"
      "  pb__genq_free(%s);\n"
      "}\n",
      n, n, Q);
  fn.len = 0;
  pbc_sb_printf(&fn, "%s_query_plan", n);
  pbc__def(c, "int", pbc_sb_str(&fn), pbc_sb_str(&a), "pb_plan **out", NULL,
           NULL);
  pbc_sb_printf(c, "  return pb__genq_take(%s, out);\n}\n", Q);
  fn.len = 0;
  pbc_sb_printf(&fn, "%s_from_row", n);
  pbc__def(c, "int", pbc_sb_str(&fn), "const pb_row *row", "unsigned src",
           pbc_sb_str(&b), t.keyed ? NULL : "uint64_t *id");
  pbc_sb_printf(c,
      "  if (!row || !r)\n"
      "    return PB_EINVAL;\n"
      "  return pb__genq_copy(row, src, r, sizeof *r, %s);\n"
      "}\n",
      t.keyed ? "NULL" : "id");
  pbc_sb_free(&fn);
  pbc_sb_free(&a);
  pbc_sb_free(&b);
  pbc_sb_free(&v);
  pbc_sb_free(&w);
  pbc__q_free(&t);
}
