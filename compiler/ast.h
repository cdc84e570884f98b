/*
 * ast.h - the syntax tree of a .pbs schema.
 *
 * The parser (parser.y) builds one pbc_file per schema file; the loader
 * (loader.c) links each import to the pbc_file it names; the checker
 * (check.c) resolves named types and fills in the fields marked "set by
 * check.c"; the generator (gen_c.c) reads the result.
 *
 * Every node lives in the program's arena (util.h) and is never freed on
 * its own.  Lists are pbc_vec of pointers, in source order.  Every node
 * that a diagnostic can point at carries a pbc_loc.
 *
 * The tree keeps the full language of SPEC section 2, including the parts
 * the code generator does not handle yet (arrays, ref, list, set, map,
 * embedded records, enum-typed fields, indexes).
 */
#ifndef PBC_AST_H
#define PBC_AST_H

#include <stdbool.h>
#include <stdint.h>

#include "source.h"
#include "util.h"

/** Types nest at most this deep (list<map<string, list<...>>>). */
#define PBC_MAX_TYPE_DEPTH 32

typedef enum pbc_scalar {
  PBC_BOOL,
  PBC_INT8,
  PBC_INT16,
  PBC_INT32,
  PBC_INT64,
  PBC_UINT8,
  PBC_UINT16,
  PBC_UINT32,
  PBC_UINT64,
  PBC_FLOAT32,
  PBC_FLOAT64,
  PBC_STRING,
  PBC_BYTES
} pbc_scalar;

/** The schema spelling of a scalar ("int32"). */
const char *pbc_scalar_name(pbc_scalar s);
/** Finds a scalar by its schema spelling.  Returns false if not one. */
bool pbc_scalar_lookup(const char *name, pbc_scalar *out);
/** True for int8..int64 and uint8..uint64. */
bool pbc_scalar_is_int(pbc_scalar s);
bool pbc_scalar_is_signed(pbc_scalar s);
bool pbc_scalar_is_float(pbc_scalar s);
/** Width in bits of an integer scalar. */
int pbc_scalar_bits(pbc_scalar s);

typedef enum pbc_type_kind {
  PBC_TYPE_SCALAR, /* bool, intN, uintN, floatN, string, bytes */
  PBC_TYPE_NAMED,  /* a record or enum, possibly package-qualified */
  PBC_TYPE_ARRAY,  /* T[]: an inline array */
  PBC_TYPE_REF,    /* ref<R> */
  PBC_TYPE_LIST,   /* list<T> */
  PBC_TYPE_SET,    /* set<T> */
  PBC_TYPE_MAP     /* map<K, V> */
} pbc_type_kind;

struct pbc_decl;

typedef struct pbc_type {
  pbc_type_kind kind;    /* which of the members below apply */
  pbc_loc loc;           /* where the type starts */
  pbc_scalar scalar;     /* SCALAR */
  const char *name;      /* NAMED: as written, such as "people.Person" */
  struct pbc_decl *decl; /* NAMED: the record or enum; set by check.c */
  struct pbc_type *elem; /* ARRAY, REF, LIST, SET: element; MAP: value */
  struct pbc_type *key;  /* MAP: key */
  int depth;             /* 1 for a scalar or name, 1 + deepest argument */
} pbc_type;

/**
 * Writes the schema spelling of a type ("map<string, float64>") into sb.
 */
void pbc_type_spell(const pbc_type *t, pbc_strbuf *sb);

/** False when a name inside the type did not resolve (check.c reported it). */
bool pbc_type_resolved(const pbc_type *t);

typedef enum pbc_lit_kind {
  PBC_LIT_INT,    /* 12, 0x1f, -3 */
  PBC_LIT_FLOAT,  /* 1.5, 2e10, -0.25 */
  PBC_LIT_STRING, /* "text\n" (escapes decoded) */
  PBC_LIT_BOOL,   /* true, false */
  PBC_LIT_IDENT   /* an enum value name, possibly dotted */
} pbc_lit_kind;

typedef struct pbc_literal {
  pbc_lit_kind kind; /* which members apply */
  pbc_loc loc;       /* where the literal (or its '-') starts */
  bool negative;     /* INT, FLOAT: written with a leading '-' */
  uint64_t u;        /* INT: the magnitude */
  double f;          /* FLOAT: the magnitude */
  const char *text;  /* FLOAT: spelling; STRING: bytes; IDENT: name */
  size_t len;        /* STRING: number of bytes (may contain NULs) */
  bool b;            /* BOOL */
} pbc_literal;

/** `name` or `name = value` inside [ ... ]. */
typedef struct pbc_option {
  const char *name;   /* option name */
  pbc_loc loc;        /* of the name */
  pbc_literal *value; /* NULL for a bare flag such as [key] */
} pbc_option;

typedef struct pbc_field {
  const char *name;          /* field name */
  pbc_loc loc;               /* of the name */
  const char *doc;           /* /// text, or NULL */
  bool optional;             /* written with `optional` */
  pbc_loc optional_loc;      /* of `optional` when set */
  pbc_type *type;            /* declared type */
  uint64_t tag;              /* as written (range checked by check.c) */
  pbc_loc tag_loc;           /* of the tag */
  pbc_vec options;           /* pbc_option *, in source order */
  bool is_key;               /* [key]; set by check.c */
  const pbc_literal *dflt;   /* [default = x]; set by check.c */
} pbc_field;

typedef struct pbc_reserved {
  uint64_t tag; /* reserved tag */
  pbc_loc loc;  /* of the number */
} pbc_reserved;

typedef struct pbc_ident {
  const char *name; /* an identifier */
  pbc_loc loc;      /* where it is */
} pbc_ident;

typedef struct pbc_index {
  const char *name; /* index name */
  pbc_loc loc;      /* of the name */
  pbc_vec fields;   /* pbc_ident *: the indexed field names */
  pbc_vec options;  /* pbc_option *, after the field list ([unique]) */
  bool unique;      /* [unique]; set by check.c */
} pbc_index;

typedef struct pbc_enum_value {
  const char *name; /* value name */
  pbc_loc loc;      /* of the name */
  const char *doc;  /* /// text, or NULL */
  bool negative;    /* written with a leading '-' */
  uint64_t mag;     /* magnitude as written */
  pbc_loc num_loc;  /* of the number */
  int64_t value;    /* the value; set by check.c when in range */
} pbc_enum_value;

typedef enum pbc_decl_kind { PBC_DECL_RECORD, PBC_DECL_ENUM } pbc_decl_kind;

struct pbc_file;

typedef struct pbc_decl {
  pbc_decl_kind kind;    /* record or enum */
  const char *name;      /* unqualified name */
  pbc_loc loc;           /* of the name */
  const char *doc;       /* /// text, or NULL */
  struct pbc_file *file; /* declaring file */
  pbc_vec options;       /* RECORD: pbc_option * ([renamed_from = "X"]) */
  pbc_vec fields;        /* RECORD: pbc_field * */
  pbc_vec reserved;      /* RECORD: pbc_reserved * */
  pbc_vec indexes;       /* RECORD: pbc_index * */
  pbc_vec values;        /* ENUM: pbc_enum_value * */
  int mark;              /* scratch for graph walks in check.c */
  bool fp_cached;        /* fingerprint.c: fp_value is this record's */
  uint64_t fp_value;     /* fingerprint.c: memoized fingerprint */
} pbc_decl;

typedef struct pbc_import {
  const char *path;      /* the string as written (escapes decoded) */
  size_t len;            /* bytes in path (a NUL inside is an error) */
  pbc_loc loc;           /* of the string */
  struct pbc_file *file; /* the imported file; set by loader.c */
} pbc_import;

/** A /// block, waiting to be claimed by the declaration that follows it. */
typedef struct pbc_doc {
  int line, col;    /* position of the first token after the comment */
  const char *text; /* the comment lines, without "/// ", joined by \n */
} pbc_doc;

/** Loader state of a file during the import walk. */
typedef enum pbc_file_state {
  PBC_FILE_LOADING = 1, /* on the current import path (cycle if seen) */
  PBC_FILE_DONE = 2     /* loaded with all its imports */
} pbc_file_state;

typedef struct pbc_file {
  pbc_source *src;         /* the text; owned by the program */
  const char *package;     /* "tasks", "acme.people", or NULL */
  pbc_loc package_loc;     /* of the package name */
  pbc_vec imports;         /* pbc_import * */
  pbc_vec decls;           /* pbc_decl * */
  pbc_vec docs;            /* pbc_doc *, sorted by position */
  int depth;               /* import depth: 0 for files on the command line */
  pbc_file_state state;    /* see pbc_file_state */
  bool syntax_ok;          /* parsed without errors */
  bool is_input;           /* named on the command line (gets output) */
  size_t index;            /* position in pbc_program.files */
  struct pbc_decl **sorted;/* decls sorted by name; set by check.c */
} pbc_file;

/* --- Constructors used by the parser (all nodes are zeroed) --- */

pbc_type *pbc_type_new(pbc_arena *a, pbc_type_kind kind, pbc_loc loc);
pbc_literal *pbc_literal_new(pbc_arena *a, pbc_lit_kind kind, pbc_loc loc);
pbc_decl *pbc_decl_new(pbc_arena *a, pbc_decl_kind kind);

/**
 * Claims the doc comment that ends right before the token at (line, col),
 * if any.  Each comment is returned once.
 */
const char *pbc_doc_take(pbc_file *f, int line, int col);

/** The option called `name` in `opts`, or NULL. */
const pbc_option *pbc_option_find(const pbc_vec *opts, const char *name);

#endif /* PBC_AST_H */
