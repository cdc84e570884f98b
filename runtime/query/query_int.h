/*
 * query/query_int.h - the inside of query plans (protobase/query.h), shared
 * by the files of runtime/query/:
 *   plan.c       the plan's life: builders' common part, pb_plan_next
 *                (optimize once, open, pull), pb_plan_free, explain's walk;
 *   expr.c       expressions: constructors, the build-time check against
 *                a node's shape, evaluation, the value order and hash;
 *   from.c       From(table), From(index range), From(collection);
 *   filter.c     Where, Select, Limit, Offset;
 *   rowbuf.c     rows held by a node (copied out of the row they came in);
 *   join.c       Join: hash, index nested loop, nested loop;
 *   group.c      GroupBy and its aggregates;
 *   sort.c       OrderBy (stable; top-N under a limit; external beyond the
 *                memory budget) and Distinct;
 *   optimize.c   access paths, dropped sorts, pushed limits, estimates;
 *   union.c      Union: several scans of one table, each row once (the
 *                access path of an OR or an IN).
 * Calls go down: the optimizer calls the nodes' files, the nodes call
 * expr.c, rowbuf.c and the table layer (protobase/table.h); nothing calls
 * back up into plan.c except through the node operations below.
 */
#ifndef PB_QUERY_QUERY_INT_H
#define PB_QUERY_QUERY_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "protobase/query.h"

/* --- Shapes: what the rows of a node look like --- */

typedef struct pb__qshape {
  size_t n_srcs;
  const pb_table_def **srcs; /* each source's table (never NULL) */
  size_t n_cols;
  pb_qtype *col_types; /* each column's type; PB_QNULL: any (a NULL
                          constant, an outer join's NULL side keeps the
                          side's types) */
} pb__qshape;

/* Fills *out with a copy of a (and b appended, when b is not NULL). */
int pb__qshape_concat(pb__qshape *out, const pb__qshape *a,
                      const pb__qshape *b);
void pb__qshape_free(pb__qshape *s);

/* --- Expressions --- */

typedef enum pb__ekind {
  PB__E_FIELD,   /* src, tag -> field (after the check) */
  PB__E_COL,     /* col */
  PB__E_CONST,   /* val (STR/BYTES owned) */
  PB__E_CMP,     /* op, a, b */
  PB__E_BETWEEN, /* a BETWEEN b AND c, flags */
  PB__E_AND,     /* a, b */
  PB__E_OR,      /* a, b */
  PB__E_NOT,     /* a */
  PB__E_IN,      /* a, vals[n_vals] (owned) */
  PB__E_PREFIX,  /* a, val (owned) */
  PB__E_ISNULL,  /* a */
  PB__E_PRED,    /* pred, ctx */
  PB__E_FN       /* fn, ctx, type */
} pb__ekind;

struct pb_expr {
  pb__ekind kind;
  pb_qtype type; /* the result's type once checked (PB_QBOOL for a
                    predicate; PB_QNULL for a NULL constant) */
  pb_cmp op;
  unsigned flags;
  pb_expr *a, *b, *c;
  unsigned src; /* FIELD */
  uint32_t tag;
  const pb_record_field *field; /* FIELD, set by the check */
  unsigned col;                 /* COL */
  pb_qval val;                  /* CONST, PREFIX */
  pb_qval *vals;                /* IN */
  size_t n_vals;
  pb_pred_fn pred; /* PRED */
  pb_value_fn fn;  /* FN */
  void *ctx;
};

/*
 * Checks e against the rows of `in`: resolves fields (their tags, their
 * readable types), checks column numbers and the operands' types, and sets
 * every node's `type`.  `node` names the plan node for the detail
 * ("Where", "Join #2 on", ...).  want_bool: e must be a predicate.
 * Errors: PB_EINVAL with pb_errdetail() naming node and expression.
 */
int pb__expr_check(pb_expr *e, const pb__qshape *in, const char *node,
                   bool want_bool);

/* Evaluates e over row: *out is a value of e->type, or NULL (predicates:
 * BOOL or NULL).  Errors: those of a C callback. */
int pb__expr_eval(const pb_expr *e, const pb_row *row, pb_qval *out);

/* The value of a field of a record struct (NULL when an optional field is
 * absent). */
pb_qval pb__field_value(const pb_record_field *f, const void *rec);

/* Appends a readable form of e ("due >= 10 AND title PREFIX 'a'") to out,
 * naming fields by their schema names. */
void pb__expr_print(const pb_expr *e, const pb__qshape *in, pb_buf *out);

/* Deep copy (NULL when out of memory; callbacks share their ctx). */
pb_expr *pb__expr_copy(const pb_expr *e);

/* The value order: NULL first, numbers by value across INT/UINT/FLOAT,
 * then bytewise for STR and BYTES; only for comparable types (checked at
 * build time).  <0, 0, >0. */
int pb__qval_cmp(const pb_qval *a, const pb_qval *b);
/* Whether `a op b` holds, given c = pb__qval_cmp(a, b) (<0, 0, >0). */
static inline bool pb__cmp_holds(pb_cmp op, int c) {
  switch (op) {
  case PB_EQ: return c == 0;
  case PB_NE: return c != 0;
  case PB_LT: return c < 0;
  case PB_LE: return c <= 0;
  case PB_GT: return c > 0;
  default: return c >= 0;
  }
}

/* The operator with its operands swapped: a < b is b > a. */
static inline pb_cmp pb__cmp_flip(pb_cmp op) {
  switch (op) {
  case PB_LT: return PB_GT;
  case PB_LE: return PB_GE;
  case PB_GT: return PB_LT;
  case PB_GE: return PB_LE;
  default: return op;
  }
}

/* Whether values of types a and b may be compared (NULL with anything). */
bool pb__qtype_comparable(pb_qtype a, pb_qtype b);
/* A hash such that pb__qval_cmp(a, b) == 0 implies equal hashes. */
uint64_t pb__qval_hash(const pb_qval *v, uint64_t seed);

/* --- Nodes --- */

typedef struct pb__qnode_ops {
  const char *kind; /* "TableScan", "IndexScan", "Where", "HashJoin", ... */
  /* Called once, before the first next (after the optimizer); opens the
   * node's own state.  The kids are opened by plan.c before it. */
  int (*open)(pb_plan *n);
  /* The next row into *row: PB_OK, PB_ENOTFOUND at the end, or an error.
   * The row's memory belongs to the node, valid until its next call. */
  int (*next)(pb_plan *n, pb_row *row);
  /* Frees the node's own state (plan.c frees the kids and the node). */
  void (*free)(pb_plan *n);
  /* Appends the node's details (after its kind, on its line). */
  void (*explain)(const pb_plan *n, pb_buf *out);
} pb__qnode_ops;

struct pb_plan {
  const pb__qnode_ops *ops;
  pb_txn *txn;
  pb_plan *kid[2]; /* inputs: kid[0]; a join's right side: kid[1] */
  pb__qshape shape;
  double est;      /* rows estimated by the optimizer; < 0: unknown */
  size_t memory;   /* the budget (the root's, copied down when opened) */
  int err;         /* sticky: once next failed, it returns this */
  bool optimized;  /* the root: optimized (and opened) already */
  bool opened;
  void *state;     /* the node's own state, owned by its ops */
};

/* Allocates a node (state NULL, est -1, memory default).  NULL: ENOMEM. */
pb_plan *pb__plan_node(const pb__qnode_ops *ops, pb_txn *txn);
/* A node of `ops` over `kid` (kid[0]; its txn and budget), state NULL,
 * shape empty: the common part of the builders that wrap.  NULL: ENOMEM
 * (kid is not freed). */
pb_plan *pb__plan_wrap(const pb__qnode_ops *ops, pb_plan *kid);
/* Frees a node, its kids and its state.  NULL: no-op. */
void pb__plan_node_free(pb_plan *n);

/* --- What the nodes offer the optimizer (optimize.c) --- */

/* From(table): its table; NULL for any other node. */
const pb_table_def *pb__from_table_def(const pb_plan *n);
/* Builds an index range scan node (from.c), as pb_plan_from_index. */
int pb__from_index_node(pb_txn *txn, const pb_table_def *def, size_t index,
                        const pb_qval *lo, size_t n_lo, const pb_qval *hi,
                        size_t n_hi, unsigned flags, pb_plan **out);
/* Builds a primary-key range scan node (from.c): lo/hi are values of the
 * key (n 0: open), flags as pb_table_scan's. */
int pb__from_key_node(pb_txn *txn, const pb_table_def *def, const pb_qval *lo,
                      size_t n_lo, const pb_qval *hi, size_t n_hi,
                      unsigned flags, pb_plan **out);
/* Where: its predicate (NULL for any other node). */
pb_expr *pb__where_pred(pb_plan *n);
/* PREDICATE PUSHDOWN.  A Where (not yet opened) directly over a table,
 * key or index scan gives its predicate to the scan when the predicate
 * has no C callbacks: the scan then evaluates it on each row's encoded
 * bytes, decoding only the fields it names, and decodes whole only the
 * rows it keeps (from.c, LAZY DECODING); the Where passes the scan's rows
 * through.  No-op for any other node.  Errors: PB_ENOMEM. */
int pb__where_push(pb_plan *n);
/* A scan (from.c): evaluate pred (borrowed: it must outlive the node)
 * itself, as pb__where_push says.  *pushed false: not a scan, or pred
 * reads what lazy decoding cannot (a callback, a column). */
int pb__scan_push(pb_plan *n, const pb_expr *pred, bool *pushed);
/* TOP-N ON ENCODED ROWS.  A scan (from.c) may also be given an OrderBy's
 * keys (borrowed) and a gate: it evaluates the keys on each row's encoded
 * bytes (after a pushed predicate kept the row) and decodes the row, and
 * gives it, only when fn(ctx, key values) is true (the row would enter
 * the OrderBy's heap).  *set false: not a scan, or a key reads what lazy
 * decoding cannot.  Errors: PB_ENOMEM. */
typedef bool (*pb__scan_gate_fn)(void *ctx, const pb_qval *keys);
int pb__scan_gate(pb_plan *n, const pb_sort_key *keys, size_t n_keys,
                  pb__scan_gate_fn fn, void *ctx, bool *set);
/* OrderBy with a top-N heap over a scan (under Wheres pushed into it):
 * gives the scan its gate (pb__scan_gate).  No-op otherwise.  Errors:
 * PB_ENOMEM. */
int pb__sort_gate(pb_plan *n);
/* Where: whether its predicate was pushed into the scan under it. */
bool pb__where_pushed(const pb_plan *n);
/* Limit: its count in *count, true; false for any other node. */
bool pb__limit_count(const pb_plan *n, uint64_t *count);
/* OrderBy: its keys (NULL for any other node). */
const pb_sort_key *pb__sort_keys(const pb_plan *n, size_t *n_keys);
/* OrderBy: keep only the first `limit` rows (a top-N heap). */
void pb__sort_set_limit(pb_plan *n, uint64_t limit);
/* Join: chooses its algorithm (hash, index nested loop on the right
 * table's key or an index, nested loop) from its `on` and its right side;
 * called by the optimizer once the kids are optimized. */
int pb__join_choose(pb_plan *n);

/* Offset: its count in *count, true; false for any other node
 * (filter.c; the optimizer makes a Limit over an Offset over an OrderBy
 * a top-N of both). */
bool pb__offset_count(const pb_plan *n, uint64_t *count);

/*
 * A Union (union.c) of n scans of one table (nodes without kids, with the
 * shape `shape`, copied), each row once: scan i belongs to group
 * groups[i] < n_groups; a row of group g is given when preds[g] (NULL:
 * none) is TRUE on it and no earlier group's predicate is.  The scans of
 * a group must not share a row.  Takes scans and preds (also on error).
 * Errors: PB_ENOMEM.
 */
int pb__union_node(pb_txn *txn, const pb__qshape *shape, pb_plan **scans,
                   const unsigned *groups, size_t n, pb_expr **preds,
                   size_t n_groups, pb_plan **out);

/* Tests: when true, pb__plan_optimize only lets each join choose its
 * algorithm (optimize.c): no rewrite, no estimate, so that a plan's rows
 * can be compared with and without the optimizer, and a node's own rows
 * and order pinned. */
extern bool pb__query_no_optimize;

/* --- Rows held by a node (rowbuf.c) ---
 *
 * OrderBy, GroupBy, Distinct and the joins keep rows past the next call of
 * the node they came from.  A held row is one allocation: the row's arrays,
 * a copy of each source's record struct (def->size bytes), its STR/BYTES
 * columns copied deep, and `n_vals` extra values (sort or join keys),
 * copied deep too.  A record struct is copied shallowly (its views point
 * into the transaction's data, valid until it ends: protobase/table.h,
 * VIEWS) unless the node it came from gives records that live only until
 * its next call (an OrderBy that sorted externally: pb__plan_transient);
 * then it is copied deep: encoded with def->encode into the allocation and
 * decoded from there (arrays into the rowbuf's arena when def->arena).
 * Every byte held is counted against the rowbuf's limit (the node's
 * n->memory): past it, pb__rowbuf_hold is PB_ENOMEM with a detail naming
 * the node, and holds nothing. */

typedef struct pb__hrow {
  size_t bytes;  /* the allocation's size, as counted */
  uint64_t seq;  /* arrival number, from 0 (stable sorts, tie-breaks) */
  bool matched;  /* a join's: this right row found a partner */
  size_t n_vals; /* extra values */
  pb_qval *vals;
  pb_row row; /* the row; every pointer is into this allocation */
} pb__hrow;

typedef struct pb__rowbuf {
  const char *node; /* names the node in details ("OrderBy", ...) */
  size_t used;      /* bytes held (rows and what pb__rowbuf_take took) */
  size_t limit;     /* the budget: used may not pass it */
  uint64_t seq;     /* the next row's arrival number */
  pb_arena *arena;  /* arrays of deep-copied records; NULL until used */
  size_t arena_counted; /* arena bytes counted in used */
  pb_buf scratch;       /* encodes a record being copied deep */
  int transient;        /* 1 once a row was copied deep (for tests and
                           explain), else -1 */
} pb__rowbuf;

/* An empty rowbuf: nothing held, limit `limit`. */
void pb__rowbuf_init(pb__rowbuf *rb, const char *node, size_t limit);
/* Copies `row` (a row of node `from`) and vals[0..n_vals) into a new held
 * row.  Errors: PB_ENOMEM (out of memory, or past the limit: detail),
 * PB_EINVAL (a record that does not re-encode). */
int pb__rowbuf_hold(pb__rowbuf *rb, const pb_plan *from, const pb_row *row,
                    const pb_qval *vals, size_t n_vals, pb__hrow **out);
/* Pulls the next row of kid (an opened node) into *row, zeroed first: a
 * node sets only what its rows have (a table scan no columns). */
static inline int pb__pull(pb_plan *kid, pb_row *row) {
  row->recs = NULL;
  row->ids = NULL;
  row->n_recs = 0;
  row->cols = NULL;
  row->n_cols = 0;
  return kid->ops->next(kid, row);
}
/* Frees a held row and gives its bytes back.  NULL: no-op. */
void pb__rowbuf_drop(pb__rowbuf *rb, pb__hrow *h);
/* Counts `bytes` more (tables, arrays of row pointers) against the limit:
 * PB_ENOMEM (detail) and nothing counted past it. */
int pb__rowbuf_take(pb__rowbuf *rb, size_t bytes);
/* Gives back bytes counted by pb__rowbuf_take. */
void pb__rowbuf_give(pb__rowbuf *rb, size_t bytes);
/* Frees the arena and the scratch buffer (held rows are dropped by their
 * owner first). */
void pb__rowbuf_free(pb__rowbuf *rb);
/* Sets the detail for a budget overrun of `rb` and returns PB_ENOMEM. */
int pb__rowbuf_over(const pb__rowbuf *rb, size_t want);

/* Copies v's STR/BYTES bytes into malloc'd memory (*v then views them);
 * other types are left alone.  Errors: PB_ENOMEM. */
int pb__qval_own(pb_qval *v);
/* Frees what pb__qval_own allocated (and makes v NULL). */
void pb__qval_disown(pb_qval *v);
/* Appends a canonical encoding of v: two values have the same bytes
 * exactly when pb__qval_cmp says they are equal (1 and 1.0 are; NULL
 * equals NULL), and a sequence of encodings is unambiguous. */
void pb__qval_canon(const pb_qval *v, pb_buf *out);

/* A hash table from byte strings (canonical encodings: pb__qval_canon)
 * to a number the owner chooses (a group's index, a chain's head), for
 * GroupBy, Distinct and the hash join.  Its memory is counted in the
 * owner's rowbuf. */
typedef struct pb__qhash_slot {
  uint64_t hash; /* of the key; 0 marks an empty slot (hashes are |1) */
  size_t off;    /* the key's bytes in keys */
  size_t len;
  size_t val; /* the owner's number */
} pb__qhash_slot;

typedef struct pb__qhash {
  pb__qhash_slot *slots; /* cap slots, a power of two, or NULL */
  size_t cap, n;
  pb_buf keys;   /* every key, back to back */
  size_t counted; /* bytes counted in the rowbuf */
} pb__qhash;

void pb__qhash_init(pb__qhash *h);
void pb__qhash_free(pb__qhash *h, pb__rowbuf *rb);
/* Finds key; when absent, adds it with value `val` (*added true).  *at
 * points to the value stored with the key (the owner may change it),
 * valid until the next put.  Errors: PB_ENOMEM (also past the rowbuf's
 * limit). */
int pb__qhash_put(pb__qhash *h, pb__rowbuf *rb, const uint8_t *key,
                  size_t len, size_t val, size_t **at, bool *added);
/* Finds key: true and *val when present. */
bool pb__qhash_get(const pb__qhash *h, const uint8_t *key, size_t len,
                   size_t *val);

/* Whether the records of n's rows live only until n's next call (an
 * OrderBy that sorted externally, under n): holders copy them deep.
 * Known once n gave its first row. */
bool pb__plan_transient(const pb_plan *n);
/* OrderBy: whether it sorted externally (its records are transient);
 * false for any other node. */
bool pb__sort_transient(const pb_plan *n);

/* Join: whether n is a join node (any algorithm). */
bool pb__is_join(const pb_plan *n);


/* Optimizes the tree under root in place: it may replace nodes under it;
 * the root object itself stays (it is the caller's handle): to replace
 * the root, the optimizer swaps the two nodes' contents. */
int pb__plan_optimize(pb_plan *root);

#endif /* PB_QUERY_QUERY_INT_H */
