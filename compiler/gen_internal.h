/*
 * gen_internal.h - what the parts of the C generator share.
 *
 * The generator is split by output concern:
 *
 *   gen_c.c       driver, generator checks, C names
 *   gen_model.c   field kinds, facts about records (bounds, arena, cycles)
 *   gen_text.c    C text: literals, comments, defaults, line wrapping
 *   gen_header.c  FILE.pb.h: enums, structs, constants, prototypes
 *   gen_encode.c  _init, _encode, and the MAX_SIZE bound
 *   gen_decode.c  _decode, _put, _load, enum name functions
 *   gen_verify.c  _verify
 *   gen_table.c   the typed table: P_R_table, _insert ... _cursor_close,
 *                 index finders and range scans, ref getters
 *   gen_member.c  typed handles of list, set and map members (P_R_F_open)
 *   gen_query.c   typed query builders: P_R_query_open, P_R_where_<f>_<op>,
 *                 P_R_order_by_<f>, ... over protobase/query.h
 *
 * Every field is first classified (pbc_gen_field): an optional array flag
 * and the kind of its element.  The four kinds cover SPEC section 2:
 *
 *   SCALAR  bool, integers, floats, string, bytes, and ref<R> to a record
 *           with a [key] (the key's scalar type: a logical reference);
 *   ENUM    an enum value (also ref<R> whose key is an enum);
 *   RECORD  an embedded record, by value;
 *   PTR     a pb_atom_ptr: ref<R> to a record without a key, and the roots
 *           of list<T>, set<T>, map<K, V>.
 */
#ifndef PBC_GEN_INTERNAL_H
#define PBC_GEN_INTERNAL_H

#include <stdbool.h>
#include <stdint.h>

#include "ast.h"
#include "util.h"

typedef enum pbc_gen_kind {
  PBC_GEN_SCALAR, /* bool, integers, floats, string, bytes */
  PBC_GEN_ENUM,   /* an enum value: int32 on the wire, zigzag */
  PBC_GEN_RECORD, /* an embedded record, by value: a nested REC field */
  PBC_GEN_PTR     /* a pb_atom_ptr: a PTR field of 20 bytes */
} pbc_gen_kind;

/** The element type of a field (the field's type, or its array's items). */
typedef struct pbc_gen_elem {
  pbc_gen_kind kind;    /* see pbc_gen_kind */
  pbc_scalar scalar;    /* SCALAR: which one */
  const pbc_decl *decl; /* ENUM, RECORD: the declaration */
} pbc_gen_elem;

/** A field as the generator sees it. */
typedef struct pbc_gen_field {
  const pbc_field *f; /* the schema field */
  bool array;         /* T[]: an inline array of elem */
  pbc_gen_elem elem;  /* the (element) type */
} pbc_gen_field;

/** Facts about one record that need a walk over embedded records. */
typedef struct pbc_gen_recinfo {
  const pbc_decl *decl; /* the record; NULL for an empty slot */
  bool bounded;         /* the encoding has a maximum size */
  uint64_t max_size;    /* that size (unknown_fields empty) */
  bool needs_arena;     /* it or an embedded record has an array */
  bool zero_init;       /* _init is a plain memset (no defaults) */
} pbc_gen_recinfo;

/** The state of one generation run (one input file). */
typedef struct pbc_gen {
  const pbc_file *file;     /* the schema */
  char *prefix;             /* C prefix of the package: "tasks_" */
  char *base;               /* output base name: "tasks" */
  const char *input;        /* input base name: "tasks.pbs" */
  pbc_strbuf *h;            /* header text */
  pbc_strbuf *c;            /* source text */
  pbc_gen_recinfo *info;    /* open-addressing table of recinfo */
  size_t info_cap;          /* slots in `info` (a power of two) */
  size_t info_len;          /* slots in use (at most half) */
  const pbc_decl **recur;   /* records of this file on a cycle, sorted */
  size_t nrecur;            /* entries in `recur` */
} pbc_gen;

/* --- Classification (gen_model.c) --- */

/** Classifies a field's type (check.c must have accepted the file). */
pbc_gen_field pbc_gen_classify(const pbc_field *f);
/** The fields of record d in ascending tag order; heap, len d->fields.len. */
pbc_gen_field *pbc_gen_fields_by_tag(const pbc_decl *d);
/** The fields of record d in declaration order; heap. */
pbc_gen_field *pbc_gen_fields(const pbc_decl *d);
/** The [key] field of record d, or NULL. */
const pbc_field *pbc_gen_key_field(const pbc_decl *d);

/** Facts about record d (memoized; d may be in an imported file). */
const pbc_gen_recinfo *pbc_gen_info(pbc_gen *g, const pbc_decl *d);
/**
 * True when record d of this file can contain itself through embedded
 * records or arrays of records: its decoder and verifier count depth.
 */
bool pbc_gen_recursive(const pbc_gen *g, const pbc_decl *d);
/** Finds the records of this file on a cycle (fills g->recur). */
void pbc_gen_find_recursive(pbc_gen *g);
/** True when d is declared in the file being generated. */
bool pbc_gen_local(const pbc_gen *g, const pbc_decl *d);

/* --- Names (gen_c.c) and C text (gen_text.c) --- */

/** Appends the C name of a declaration: its file's prefix and its name. */
void pbc_gen_cname(pbc_strbuf *sb, const pbc_decl *d);
/** The C prefix of a file's package ("tasks_"); heap. */
char *pbc_gen_prefix(const pbc_file *f);
/** Appends the upper-case stem of the include guard ("TASKS"). */
void pbc_gen_guard_stem(pbc_strbuf *sb, const char *base);
/** Appends "tasks.Task" (or "Task" without a package). */
void pbc_gen_schema_name(pbc_strbuf *sb, const pbc_decl *d);
/** Appends the C type of an element ("uint64_t", "tasks_Point"). */
void pbc_gen_elem_ctype(pbc_strbuf *sb, const pbc_gen_elem *e);
/** The C type of a scalar ("int8_t", "pb_str"). */
const char *pbc_gen_scalar_ctype(pbc_scalar s);
/** The pb_field_* accessor of a scalar. */
const char *pbc_gen_scalar_reader(pbc_scalar s);
/** The pb_wire_put_* writer (with key) of a scalar. */
const char *pbc_gen_scalar_writer(pbc_scalar s);
/** The PB_CHECK_* name for an element. */
const char *pbc_gen_check_kind(const pbc_gen_elem *e);
/** True for elements written packed in arrays (numbers, bools, enums). */
bool pbc_gen_packable(const pbc_gen_elem *e);
/**
 * The function that counts one item of an array that is not packed:
 * "pb_len_count" (strings, bytes), "pb_rec_count" or "pb_ptr_count".
 */
const char *pbc_gen_count_fn(const pbc_gen_elem *e);

/** The element's wire type name: "PB_WT_VARINT", "PB_WT_I32", ... */
const char *pbc_gen_wire_type(const pbc_gen_elem *e);

/** Text for inside a C comment: no comment terminator, no controls. */
void pbc_gen_comment_text(pbc_strbuf *sb, const char *s, size_t len);
/** A doc comment at `indent`, from /// text (nothing when doc is NULL). */
void pbc_gen_doc(pbc_strbuf *sb, const char *indent, const char *doc);
/** A C string literal holding s[0..len). */
void pbc_gen_c_string(pbc_strbuf *sb, const char *s, size_t len);

/**
 * Appends `head` ("int f("), the NULL-terminated arguments separated by
 * ", ", then `tail` (");\n"), wrapping at 80 columns with continuation
 * lines under the first argument.  `col` is the column where head starts.
 */
void pbc_gen_wrapped(pbc_strbuf *sb, size_t col, const char *head,
                     const char *tail, ...);

/** Appends the signature of the static P_R_decode_at, then `tail`. */
void pbc_gen_sig_decode_at(pbc_gen *g, const pbc_decl *d, const char *tail);
/** Appends the signature of the static P_R_verify_at, then `tail`. */
void pbc_gen_sig_verify_at(pbc_gen *g, const pbc_decl *d, const char *tail);

/** True when field f's default is not the zero value of its type. */
bool pbc_gen_has_default(const pbc_gen_field *gf);
/** Appends the default of a non-string field as a C expression. */
void pbc_gen_default_expr(pbc_strbuf *sb, const pbc_gen_field *gf);
/** The enum value that is the default of an enum-typed field. */
const pbc_enum_value *pbc_gen_enum_default(const pbc_gen_field *gf);

/* --- Output parts --- */

void pbc_gen_header(pbc_gen *g);                          /* gen_header.c */
void pbc_gen_enum_functions(pbc_gen *g, const pbc_decl *d); /* gen_decode.c */
void pbc_gen_init(pbc_gen *g, const pbc_decl *d);           /* gen_encode.c */
void pbc_gen_encode(pbc_gen *g, const pbc_decl *d);         /* gen_encode.c */
void pbc_gen_decode(pbc_gen *g, const pbc_decl *d);         /* gen_decode.c */
void pbc_gen_storage(pbc_gen *g, const pbc_decl *d);        /* gen_decode.c */
void pbc_gen_verify(pbc_gen *g, const pbc_decl *d);         /* gen_verify.c */
void pbc_gen_record_type(pbc_gen *g, const pbc_decl *d);    /* gen_layout.c */
void pbc_gen_type_list(pbc_gen *g);                         /* gen_layout.c */

/* --- Typed tables (gen_table.c) --- */

struct pbc_diag;
/** What every table's type checks share (once, before the records). */
void pbc_gen_table_prelude(pbc_gen *g);
/** The table's declarations of record d (after its other prototypes). */
void pbc_gen_table_header(pbc_gen *g, const pbc_decl *d);
/** The table's definitions of record d (after _load). */
void pbc_gen_table(pbc_gen *g, const pbc_decl *d);
/**
 * The suffixes of the C names that the table of d generates ("_insert",
 * "_find_by_x", "_x_get", file-local ones too), for the collision check:
 * a heap array of *n heap strings.
 */
char **pbc_gen_table_names(const pbc_decl *d, size_t *n);
/** The generator's checks of d's table (an index it cannot encode). */
void pbc_gen_table_check(const pbc_decl *d, struct pbc_diag *diag);

/* --- Member collections (gen_member.c) --- */

/** Called with each C name that pbc_gen_member_* generate, for the checks. */
typedef void (*pbc_gen_name_fn)(void *ctx, const char *name,
                                const pbc_loc *loc);
/** Reports the C names generated for the list, set and map fields of d. */
void pbc_gen_member_names(const pbc_decl *d, pbc_gen_name_fn fn, void *ctx);
/** The handle types and prototypes of d's member fields (header). */
void pbc_gen_member_prototypes(pbc_gen *g, const pbc_decl *d);
/** Their definitions (source). */
void pbc_gen_member_functions(pbc_gen *g, const pbc_decl *d);

/* --- Typed queries (gen_query.c) --- */

/** Reports the C names generated for the queries of d, for the checks. */
void pbc_gen_query_names(const pbc_decl *d, pbc_gen_name_fn fn, void *ctx);
/** The query type and prototypes of d (header, before the type checks). */
void pbc_gen_query_header(pbc_gen *g, const pbc_decl *d);
/** The type-check macros of d's queries, P_R_next too (header, C only). */
void pbc_gen_query_macros(pbc_gen *g, const pbc_decl *d);
/** What every query of the file shares (source, once, before records). */
void pbc_gen_query_prelude(pbc_gen *g);
/** The query functions of d (source, after the table's). */
void pbc_gen_query(pbc_gen *g, const pbc_decl *d);

#endif /* PBC_GEN_INTERNAL_H */
