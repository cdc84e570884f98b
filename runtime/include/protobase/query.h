/*
 * protobase/query.h - query plans: lazy, pull-based trees of From, Where,
 * Select, Join, GroupBy, OrderBy, Limit, Offset and Distinct, run inside a
 * transaction's snapshot, with an index-aware optimizer and
 * pb_plan_explain() (docs/queries.md).
 *
 * Generated code wraps this API in typed builders (P_R_query_open,
 * P_R_where_<field>_<op>, P_R_order_by_<field>, ...: docs/generated.md);
 * joins and group-by use it directly, with the generated field
 * expressions (P_R_<field>_expr).
 *
 * ROWS.  A plan yields rows.  A row has SOURCES and COLUMNS:
 *   - a source is one record of a table: From(table) gives rows with one
 *     source (number 0); a Join gives the left side's sources followed by
 *     the right side's.  A source is NULL in a row where an outer join
 *     found no match;
 *   - a column is a computed value (pb_qval): a From over a collection
 *     gives its elements as columns, Select and GroupBy give theirs.  A
 *     Join gives the left side's columns followed by the right side's.
 *     Select and GroupBy give columns only (no sources).
 * Expressions name a source's field by (source number, field tag), and a
 * column by its number, as the plan under them numbers them.
 *
 * VALUES AND NULL.  A field read by an expression is converted to a
 * pb_qval: bool to BOOL, signed integers and enums to INT, unsigned ones
 * to UINT, floats to FLOAT, string to STR, bytes to BYTES, a ref<R> to its
 * key's type.  An optional field that is absent, any field of a NULL
 * source, and a NULL column are NULL.  Fields of other types (arrays,
 * embedded records, member collections, keyless refs) cannot be read:
 * PB_EINVAL when the plan is built.  Comparisons follow SQL: INT, UINT
 * and FLOAT compare as numbers with one another; STR with STR and BYTES
 * with BYTES compare bytewise (memcmp, the shorter first on a common
 * prefix); BOOL with BOOL (false first).  Comparing other pairs (a STR
 * with an INT) is PB_EINVAL when the plan is built.  A comparison with
 * NULL is NULL (unknown), NOT NULL is NULL, AND and OR use SQL's
 * three-valued logic, and Where keeps a row only when its predicate is
 * TRUE.  In ordering (OrderBy, the min and max of GroupBy, Distinct)
 * NULL sorts before every value, and two NULLs are equal, as in SQLite.
 *
 * BUILDING.  A plan starts with a From and grows by wrapping: each
 * builder takes `pb_plan **p` and replaces *p by a new node that owns
 * the old one.  Expressions (pb_expr) are built bottom-up, and are owned
 * by the node they are given to.  Every builder checks what it is given
 * against the plan it wraps (field tags and types, column numbers,
 * aggregates) and returns PB_EINVAL, with pb_errdetail() naming the node
 * and the expression, at build time, never at the first pb_plan_next.  On
 * an error *p is unchanged, and the expressions (and the right plan of a
 * join) given to the failing call are freed.
 * Expression constructors return NULL only when out of memory; an operand
 * that is NULL makes the constructor free its other operands and return
 * NULL, and a builder given a NULL expression returns PB_ENOMEM.  So a
 * whole expression can be written as one nested call and checked once.
 *
 * RUNNING.  The first pb_plan_next (or pb_plan_explain) optimizes the
 * plan once: a Where over a table whose terms an index (or the primary
 * key) answers becomes an index range scan, an OrderBy that the access
 * path delivers is dropped, a Limit over an OrderBy becomes a top-N heap,
 * and each Join picks its algorithm (hash, index nested loop, nested
 * loop).  Then rows are pulled one at a time: a plan reads only what its
 * consumer pulls (a Limit 10 over a table scan reads about 10 rows).
 * OrderBy, GroupBy, Distinct and a hash join's build side hold rows in
 * memory up to the plan's memory budget (pb_plan_set_memory); an OrderBy
 * beyond it sorts externally in temporary files, removed when the plan is
 * freed.
 *
 * LIFETIME.  A plan belongs to its transaction: free it before the
 * transaction ends (pb_plan_free), and do not change, in the same
 * transaction, a table it reads while it runs (its results are then
 * undefined, as a cursor's are).  The row pb_plan_next gives (its sources,
 * its columns and every view in them) is valid until the next
 * pb_plan_next or pb_plan_free of that plan: copy what you keep.
 *
 * ERRORS common to the functions that run a plan: PB_ENOMEM, PB_EIO,
 * PB_ENOSPC (an external sort's temporary file), PB_ECORRUPT (stored data
 * that does not decode: the detail names it), PB_ESCHEMA (a table's
 * record type or index: protobase/table.h), and a failed transaction's
 * latched error.  A plan that returned an error returns it again.
 *
 * Thread safety: as for the transaction the plan belongs to.
 */
#ifndef PROTOBASE_QUERY_H
#define PROTOBASE_QUERY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "protobase/protobase.h"
#include "protobase/table.h"

#ifdef __cplusplus
extern "C" {
#endif

/* --- Values --- */

typedef enum pb_qtype {
  PB_QNULL = 0,
  PB_QBOOL = 1,
  PB_QINT = 2,   /* int64 (and enums) */
  PB_QUINT = 3,  /* uint64 */
  PB_QFLOAT = 4, /* double */
  PB_QSTR = 5,   /* UTF-8, in as.s */
  PB_QBYTES = 6  /* in as.s */
} pb_qtype;

/** A value in a row or an expression.  as.s is a view. */
typedef struct pb_qval {
  pb_qtype type;
  union {
    bool b;
    int64_t i;
    uint64_t u;
    double f;
    pb_bytes s; /* PB_QSTR and PB_QBYTES */
  } as;
} pb_qval;

static inline pb_qval pb_qnull(void) {
  pb_qval v;
  v.type = PB_QNULL;
  v.as.u = 0;
  return v;
}
static inline pb_qval pb_qbool(bool b) {
  pb_qval v;
  v.type = PB_QBOOL;
  v.as.u = 0;
  v.as.b = b;
  return v;
}
static inline pb_qval pb_qint(int64_t i) {
  pb_qval v;
  v.type = PB_QINT;
  v.as.i = i;
  return v;
}
static inline pb_qval pb_quint(uint64_t u) {
  pb_qval v;
  v.type = PB_QUINT;
  v.as.u = u;
  return v;
}
static inline pb_qval pb_qfloat(double f) {
  pb_qval v;
  v.type = PB_QFLOAT;
  v.as.f = f;
  return v;
}
/** A string value viewing s (not copied here; expressions copy it). */
static inline pb_qval pb_qstr(pb_str s) {
  pb_qval v;
  v.type = PB_QSTR;
  v.as.s.ptr = (const uint8_t *)s.ptr;
  v.as.s.len = s.len;
  return v;
}
static inline pb_qval pb_qbytes(pb_bytes b) {
  pb_qval v;
  v.type = PB_QBYTES;
  v.as.s = b;
  return v;
}

/* --- Rows --- */

/** One row of a plan (see ROWS, LIFETIME). */
typedef struct pb_row {
  const void *const *recs; /* recs[i]: source i's record struct (the
                              generated struct of its table), or NULL */
  const uint64_t *ids;     /* ids[i]: source i's row id in a keyless
                              table; 0 in a keyed one or a NULL source */
  size_t n_recs;
  const pb_qval *cols; /* the columns */
  size_t n_cols;
} pb_row;

/* --- Expressions --- */

typedef struct pb_expr pb_expr;

/** Comparison operators. */
typedef enum pb_cmp {
  PB_EQ = 0,
  PB_NE = 1,
  PB_LT = 2,
  PB_LE = 3,
  PB_GT = 4,
  PB_GE = 5
} pb_cmp;

/** Field `tag` of source `src` of the row. */
pb_expr *pb_expr_field(unsigned src, uint32_t tag);
/** Column `col` of the row. */
pb_expr *pb_expr_col(unsigned col);
/** A constant (a STR or BYTES value is copied). */
pb_expr *pb_expr_const(pb_qval v);
/** a OP b. */
pb_expr *pb_expr_cmp(pb_cmp op, pb_expr *a, pb_expr *b);

/* pb_expr_between flags: by default both ends are inclusive (SQL). */
#define PB_BETWEEN_LO_EXCL 0x1u
#define PB_BETWEEN_HI_EXCL 0x2u
/** lo <= x <= hi (each end exclusive with its flag).  A NULL end is not
 * an open end but NULL (unknown), as in SQL: leave the term out instead. */
pb_expr *pb_expr_between(pb_expr *x, pb_expr *lo, pb_expr *hi,
                         unsigned flags);
pb_expr *pb_expr_and(pb_expr *a, pb_expr *b);
pb_expr *pb_expr_or(pb_expr *a, pb_expr *b);
pb_expr *pb_expr_not(pb_expr *a);
/** x IN (vals[0], ..., vals[n-1]) (copied).  n may be 0 (FALSE). */
pb_expr *pb_expr_in(pb_expr *x, const pb_qval *vals, size_t n);
/** A STR (or BYTES) x that starts with `prefix` (copied; of x's type). */
pb_expr *pb_expr_prefix(pb_expr *x, pb_qval prefix);
/** x IS NULL: TRUE or FALSE, never NULL. */
pb_expr *pb_expr_is_null(pb_expr *x);

/**
 * A predicate written in C: sets *out to TRUE or FALSE for the row, or
 * returns an error (which stops the plan and is returned by
 * pb_plan_next).  It may read any source and column of the row.
 */
typedef int (*pb_pred_fn)(const pb_row *row, void *ctx, bool *out);
pb_expr *pb_expr_pred(pb_pred_fn fn, void *ctx);

/**
 * A value computed in C, of the declared type `type` (or NULL): writes
 * *out; a STR or BYTES result must stay valid until the next call with
 * this `ctx` (or be a view into the row).
 */
typedef int (*pb_value_fn)(const pb_row *row, void *ctx, pb_qval *out);
pb_expr *pb_expr_fn(pb_qtype type, pb_value_fn fn, void *ctx);

/** Frees an expression not given to a plan.  NULL is a no-op. */
void pb_expr_free(pb_expr *e);

/* --- Plans --- */

typedef struct pb_plan pb_plan;

/**
 * A plan over every row of `def`'s table in txn, in primary-key order:
 * one source.  Errors: PB_EINVAL (a NULL argument), PB_ENOMEM.  Table
 * errors (PB_ESCHEMA...) come from the first pb_plan_next.
 */
int pb_plan_from_table(pb_txn *txn, const pb_table_def *def, pb_plan **out);

/**
 * A plan over the rows of `def`'s table whose index `index` (its place
 * in def->indexes) lies between lo and hi: lo[0..n_lo) and hi[0..n_hi)
 * are values of the index's first fields (n_lo, n_hi may be 0: an open
 * end; fewer than all fields: a prefix); flags are pb_table_index_scan's
 * (PB_SCAN_LO_EXCL, PB_SCAN_HI_INCL, PB_SCAN_REVERSE; a partial hi with
 * PB_SCAN_HI_INCL includes every row that starts with it).  Index order,
 * then primary key.  Errors: PB_EINVAL (a NULL argument, no such index,
 * more values than fields, a value of the wrong type), PB_ENOMEM.
 */
int pb_plan_from_index(pb_txn *txn, const pb_table_def *def, size_t index,
                       const pb_qval *lo, size_t n_lo, const pb_qval *hi,
                       size_t n_hi, unsigned flags, pb_plan **out);

/**
 * A plan over a collection handle of txn: `coll` is a pb_dict *, pb_list *,
 * pb_set * or pb_hdict * for kind PB_VALUE_DICT, _LIST, _SET, _HASHDICT.
 * Rows have no source and two columns: the key (a Dictionary's STR key, a
 * List's UINT index, a HashDictionary's key; a Set's element) and the
 * value (NULL for a Set).  A scalar element becomes its pb_qval; a REF,
 * RECORD or collection element becomes its encoded bytes as BYTES.  The
 * collection's own order.  Errors: PB_EINVAL, PB_ENOMEM.
 */
int pb_plan_from_collection(pb_txn *txn, pb_value_kind kind, void *coll,
                            pb_plan **out);

/** Keeps the rows for which `pred` is TRUE.  After a GroupBy this is
 * SQL's HAVING.  Errors: PB_EINVAL (see BUILDING; a predicate that is not
 * boolean), PB_ENOMEM. */
int pb_plan_where(pb_plan **p, pb_expr *pred);

/** Rows of n columns, exprs[i] computed for each row of *p (no sources).
 * Errors: PB_EINVAL, PB_ENOMEM. */
int pb_plan_select(pb_plan **p, pb_expr *const *exprs, size_t n);

typedef enum pb_join_type {
  PB_JOIN_INNER = 0,
  PB_JOIN_LEFT = 1,  /* every left row; NULL right sources/columns */
  PB_JOIN_RIGHT = 2, /* every right row; NULL left sources/columns */
  PB_JOIN_FULL = 3   /* both */
} pb_join_type;

/**
 * Joins *left with `right` (which the new node owns) on `on`, a predicate
 * over the joined row (left's sources and columns first, then right's).
 * A cross join (every pair) is an `on` of pb_expr_const(pb_qbool(true));
 * an `on` that is NULL is taken for a constructor that ran out of memory
 * (PB_ENOMEM), never for a cross join.  An `on` that is an AND of
 * equalities between a left-side and a right-side expression of the same
 * type is a hash join, or an index nested-loop join when `right` is a
 * table whose primary key or an index starts with those fields (following
 * a ref<R> to R's table is that); otherwise a nested loop.  Errors:
 * PB_EINVAL (an equality between different types: the detail names both
 * sides; a bad type), PB_ENOMEM (also a NULL `on`).
 */
int pb_plan_join(pb_plan **left, pb_plan *right, pb_join_type type,
                 pb_expr *on);

typedef enum pb_agg_fn {
  PB_AGG_COUNT = 0, /* rows where arg is not NULL (SQL's COUNT(x)) */
  PB_AGG_SUM = 1,   /* integers: INT (a UINT above INT64_MAX too),
                       PB_ERANGE from pb_plan_next on overflow, as
                       SQLite's "integer overflow"; any FLOAT: FLOAT;
                       NULL over no value */
  PB_AGG_MIN = 2,
  PB_AGG_MAX = 3,
  PB_AGG_AVG = 4,      /* FLOAT; NULL over no value */
  PB_AGG_COUNT_ALL = 5 /* rows (SQL's COUNT(*)); arg must be NULL */
} pb_agg_fn;

typedef struct pb_agg {
  pb_agg_fn fn;
  pb_expr *arg; /* owned by the plan once given; NULL only for
                   PB_AGG_COUNT_ALL (any other NULL arg is taken for a
                   constructor that ran out of memory: PB_ENOMEM) */
} pb_agg;

/**
 * Groups the rows of *p by keys[0..n_keys) and computes aggs[0..n_aggs)
 * over each group.  Rows: columns only, the keys then the aggregates, one
 * row per group, in key order.  n_keys 0: one row over all rows (even
 * none).  NULL keys form one group.  Errors: PB_EINVAL (no aggregate and
 * no key; SUM or AVG of a non-number; MIN or MAX of an uncomparable
 * type), PB_ENOMEM.
 */
int pb_plan_group_by(pb_plan **p, pb_expr *const *keys, size_t n_keys,
                     const pb_agg *aggs, size_t n_aggs);

#define PB_ASC 0u
#define PB_DESC 1u

typedef struct pb_sort_key {
  pb_expr *expr; /* owned by the plan once given */
  unsigned dir;  /* PB_ASC or PB_DESC */
} pb_sort_key;

/** Orders the rows of *p by keys[0], then keys[1], ...; stable (rows
 * equal on every key keep the order they came in).  Errors: PB_EINVAL,
 * PB_ENOMEM. */
int pb_plan_order_by(pb_plan **p, const pb_sort_key *keys, size_t n);

/** At most n rows of *p. */
int pb_plan_limit(pb_plan **p, uint64_t n);
/** The rows of *p after the first n. */
int pb_plan_offset(pb_plan **p, uint64_t n);
/** The rows of *p without repeats (equal sources, by primary key, and
 * equal columns); the first of each is kept, in order. */
int pb_plan_distinct(pb_plan **p);

/** The bytes EACH OrderBy, GroupBy, Distinct and join of the plan may
 * hold (the budget is per node, not shared) before an OrderBy sorts
 * externally (the others: PB_ENOMEM from pb_plan_next); default
 * PB_PLAN_MEMORY_DEFAULT.  Before the first pb_plan_next.  Errors:
 * PB_EINVAL (a NULL plan, 0 bytes, or a plan that has run or been
 * explained). */
#define PB_PLAN_MEMORY_DEFAULT (64u << 20)
int pb_plan_set_memory(pb_plan *p, size_t bytes);

/**
 * The next row of the plan into *row (see LIFETIME).  Returns PB_OK, or
 * PB_ENOTFOUND after the last row; other errors: see ERRORS.
 */
int pb_plan_next(pb_plan *p, pb_row *row);

/**
 * Appends to `out` the plan tree, one node per line, indented by depth:
 * each node's kind, its access path (the table, the index and its range,
 * the join algorithm), its predicates, and the rows the optimizer
 * estimates (from the tables' row counts).  Optimizes the plan first if
 * it has not run.  Errors: PB_EINVAL, PB_ENOMEM, and those of reading the
 * tables' counts.
 */
int pb_plan_explain(pb_plan *p, pb_buf *out);

/** Frees a plan, its expressions and its temporary files.  NULL: no-op. */
void pb_plan_free(pb_plan *p);

#ifdef __cplusplus
}
#endif

#endif /* PROTOBASE_QUERY_H */
