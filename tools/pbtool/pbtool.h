/*
 * tools/pbtool/pbtool.h - what the subcommands of pbtool share
 * (docs/pbtool.md).
 *
 *   main.c          the command line: dispatch, --help, exit codes
 *   store.c         opening a store, messages, the progress bar
 *   catview.c       the catalog and the tables of a database, read-only
 *   record.c        record bodies decoded by the catalog's field layouts,
 *                   and table keys derived from them
 *   values.c        values and collections printed as text or JSON
 *   walk.c          every atom the root reaches, with its file and offset
 *   cmd_info.c, cmd_verify.c, cmd_dump.c, cmd_stats.c,
 *   cmd_maint.c (compact, backup, salvage), cmd_check_schema.c
 *
 * pbtool links the runtime's internal objects (pb__*) for what the public
 * API does not give: the catalog's entries, the hidden names of tables and
 * indexes in a database root, the batch index of the file tier.
 */
#ifndef PBTOOL_PBTOOL_H
#define PBTOOL_PBTOOL_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "protobase/protobase.h"
#include "protobase/table.h"
#include "txn/layout.h"

/* Exit codes (docs/pbtool.md). */
enum {
  PBT_EXIT_OK = 0,       /* done; verify: no problem found */
  PBT_EXIT_PROBLEMS = 1, /* damage or problems found (verify, a damaged
                            store, check-schema: a breaking change) */
  PBT_EXIT_USAGE = 2     /* bad command line, or an I/O or other error */
};

/* --- store.c --- */

typedef struct pbt_store {
  const char *dir;
  pb_storage *st; /* owned by sp once sp is open */
  pb_space *sp;
} pbt_store;

/**
 * Opens the store at dir (read-only unless `writable`) and a space over
 * it.  On failure prints "pbtool CMD: DIR: ..." to stderr and returns
 * PBT_EXIT_PROBLEMS for a damaged store (PB_ECORRUPT, PB_EVERSION),
 * PBT_EXIT_USAGE otherwise.
 */
int pbt_open(const char *cmd, const char *dir, bool writable, pbt_store *out);
void pbt_close(pbt_store *s);
/** Opens dir in salvage mode (docs/storage.md: a read-only open that
 * serves the last commit that verifies) and gives its report.  Prints
 * nothing.  Errors: pb_storage_open_file's, pb_space_open's. */
int pbt_open_salvage(const char *dir, pbt_store *out,
                     pb_salvage_report *rep);

/** Prints "pbtool CMD: message\n" to stderr. */
void pbt_err(const char *cmd, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/** The exit code for a runtime error rc (see pbt_open). */
int pbt_exit_for(int rc);

/** A progress bar on stderr, drawn only when stderr is a terminal. */
typedef struct pbt_progress {
  bool on;
  const char *label;
  uint64_t total, last_drawn_ms;
  int last_pct;
} pbt_progress;
void pbt_progress_start(pbt_progress *p, const char *label, uint64_t total);
void pbt_progress_set(pbt_progress *p, uint64_t done);
void pbt_progress_end(pbt_progress *p);

/** The segment files of dir (seg-*.wal), by name; returns the count or
 * -1 (errno).  *names and each name are malloc'd; sizes too. */
int pbt_segments(const char *dir, char ***names, uint64_t **sizes);
void pbt_segments_free(char **names, uint64_t *sizes, int n);

/* --- catview.c --- */
struct pbt_catalog;

typedef struct pbt_type {
  uint32_t id;        /* type id (0: a fingerprint without a name) */
  char *name;         /* heap */
  size_t n_versions;
  uint64_t *fps;      /* heap, n_versions */
  uint64_t *epochs;   /* heap, n_versions (0: unknown) */
  bool has_layout;    /* `layout` is the newest version's */
  pb__layout layout;
} pbt_type;

typedef struct pbt_index {
  char *name;     /* heap */
  uint32_t flags; /* PB_INDEX_UNIQUE */
  size_t n_tags;
  uint32_t *tags; /* heap */
} pbt_index;

typedef struct pbt_table {
  uint32_t id;
  const pbt_type *type; /* NULL: the catalog has no name for the id */
  bool keyless;         /* a keyless table (its layout has no key) */
  uint64_t next_id;     /* keyless: the next id ("\0tables") */
  size_t n_idx;
  pbt_index *idx;       /* heap */
  size_t n_members;
  uint32_t *members;    /* tags with a "\0m<id>:<tag>" collection; heap */
} pbt_table;

typedef struct pbt_catalog {
  size_t n_types;
  pbt_type *types;
  uint64_t last_epoch, last_id;
  size_t n_tables;
  pbt_table *tables;
  size_t n_values;
  char **values; /* other names of the database root (user values) */
} pbt_catalog;

/** Reads the catalog and the tables of the database of `txn` (a read-only
 * transaction that must outlive *c).  Errors: the runtime's. */
int pbt_catalog_load(pb_txn *txn, pbt_catalog *c);
void pbt_catalog_free(pbt_catalog *c);
const pbt_type *pbt_type_by_id(const pbt_catalog *c, uint32_t id);
const pbt_type *pbt_type_by_name(const pbt_catalog *c, pb_str name);
/** The type with version fp and the epoch of it, or NULL. */
const pbt_type *pbt_type_by_fp(const pbt_catalog *c, uint64_t fp,
                               uint64_t *epoch);
const pb__lfield *pbt_field(const pb__layout *l, uint32_t tag);
const pb__lfield *pbt_key_field(const pb__layout *l);

/** Opens the hidden collection "\0<letter><id><tail>" of the database
 * root (tail may be NULL): "\0t17", "\0i17:by_name", "\0m17:5".
 * Errors: PB_ENOTFOUND (none), the runtime's. */
int pbt_open_hidden(pb_txn *txn, char letter, uint32_t id,
                    const char *tail, pb_value_kind kind, void **out);

/* Database names (store.c). */
typedef struct pbt_names {
  char **v;
  size_t n;
} pbt_names;
int pbt_databases(pb_space *sp, pbt_names *out);
void pbt_names_free(pbt_names *n);

/** One database read in one read-only transaction, with its catalog. */
typedef struct pbt_dbview {
  const char *name;
  pb_db *db;
  pb_txn *txn;
  bool have_cat;
  pbt_catalog cat;
} pbt_dbview;
/** Opens database `name`, begins a read-only transaction and loads the
 * catalog (store.c).  Errors: the runtime's; nothing is left open. */
int pbt_db_begin(pb_space *sp, const char *name, pbt_dbview *out);
void pbt_db_end(pbt_dbview *v);

/* --- record.c --- */

/** A field's value, read by its declared type. */
typedef enum pbt_vkind {
  PBT_V_ABSENT, PBT_V_BOOL, PBT_V_I64, PBT_V_U64, PBT_V_F32, PBT_V_F64,
  PBT_V_STR, PBT_V_BYTES
} pbt_vkind;

typedef struct pbt_val {
  pbt_vkind kind;
  int width; /* integers: 8, 16, 32, 64 */
  union { bool b; int64_t i; uint64_t u; double d; pb_bytes s; } as;
} pbt_val;

/**
 * The value of field `f` in `body` as a key component reads it: the last
 * occurrence, else the default (ABSENT for an absent optional field).
 * Errors: PB_ECORRUPT (a malformed body or a value of another wire type),
 * PB_ENOTSUP (a type a key cannot have).
 */
int pbt_key_value(const pbt_catalog *c, const pb__lfield *f, pb_bytes body,
                  pbt_val *out);
/** The scalar type a key or a dump reads field f as: an enum "int32", a
 * ref by key its target's key type, else the declared type. */
pb_str pbt_key_type(const pbt_catalog *c, const pb__lfield *f);
/** Reads field fv (NULL: the default `dflt`) as scalar type t ("int32",
 * "string", ...).  Errors: PB_ECORRUPT, PB_ENOTSUP (not a scalar type). */
int pbt_read_as(pb_str t, const pb_field *fv, pb_str dflt, pbt_val *out);
/** Appends field f's key component (pb_key_put_bool(has) first for an
 * optional field). */
void pbt_key_put(pb_keybuf *k, const pb__lfield *f, const pbt_val *v);

/** The encoded primary key of a keyed record body.  Errors: as above. */
int pbt_record_key(const pbt_catalog *c, const pbt_type *t, pb_bytes body,
                   pb_keybuf *out);
/** The encoded entry of index x for a row (body, primary key pk), as the
 * runtime keys it: fields, then (not unique) pk. */
int pbt_index_entry(const pbt_catalog *c, const pbt_type *t,
                    const pbt_index *x, pb_bytes body, pb_bytes pk,
                    pb_keybuf *out);

/* --- values.c: output --- */

typedef struct pbt_out {
  FILE *f;   /* NULL: read everything, print nothing (verify, stats) */
  bool json;
  int depth;
} pbt_out;

void pbt_puts(pbt_out *o, const char *s);
void pbt_printf(pbt_out *o, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/** A JSON string (quoted, escaped) or, in text, the bytes as they are
 * when printable UTF-8, else quoted with escapes. */
void pbt_str(pbt_out *o, const void *p, size_t n);
/** Bytes as a lowercase hex string (quoted in JSON). */
void pbt_hex(pbt_out *o, const void *p, size_t n);
void pbt_ptr(pbt_out *o, pb_atom_ptr p);
/** A record body as an object, fields by name by the layout of `t`
 * (NULL: by tag, "#3"); with_type: "@type" first.  Errors: PB_ECORRUPT
 * (a body or field that does not decode). */
int pbt_print_record(pbt_out *o, const pbt_catalog *c, const pbt_type *t,
                     pb_bytes body, bool with_type);
/** A value.  A nested collection is printed whole when `coll` is its
 * open handle (pb_dict *, pb_list *, ... by v->kind), else as its root
 * pointer.  Errors: the runtime's reading the collection. */
int pbt_print_value(pbt_out *o, const pbt_catalog *c, const pb_value *v,
                    void *coll);
/** A collection through its handle, whole. */
int pbt_print_coll(pbt_out *o, const pbt_catalog *c, pb_value_kind kind,
                   void *coll);
/** A primary key decoded for a message: "id=7", "name=\"x\"", or hex. */
void pbt_key_text(const pbt_catalog *c, const pbt_table *t, pb_bytes pk,
                  char *out, size_t cap);

/* --- walk.c --- */

typedef struct pbt_walk {
  uint64_t atoms, bytes;        /* reachable atoms and their bytes */
  uint64_t node_atoms, record_atoms;
  uint64_t problems;
  pbt_out *report;              /* problems go here (may be discarding) */
  pbt_progress *progress;       /* may be NULL */
} pbt_walk;

/** Reads every atom the storage's root reaches, checking each (envelope,
 * nodes' values, record bodies), and reports each problem with its file
 * and offset to stdout ("atom ...: ...").  Errors: PB_ENOMEM, PB_EIO. */
int pbt_walk_atoms(pb_storage *st, pbt_walk *w);
/** "seg-...wal offset N" for ptr (file tier), else the pointer in hex. */
void pbt_atom_where(pb_storage *st, pb_atom_ptr p, char *out, size_t cap);

/** Prints a salvage report's damage, one "damage: ..." line each
 * (cmd_maint.c). */
void pbt_print_damage(const pb_salvage_report *r);

/* --- commands --- */
int pbt_cmd_info(int argc, char **argv);
int pbt_cmd_verify(int argc, char **argv);
int pbt_cmd_dump(int argc, char **argv);
int pbt_cmd_stats(int argc, char **argv);
int pbt_cmd_compact(int argc, char **argv);
int pbt_cmd_backup(int argc, char **argv);
int pbt_cmd_salvage(int argc, char **argv);
int pbt_cmd_check_schema(int argc, char **argv);

/** True (and prints `help` to stdout) when argv has -h or --help. */
bool pbt_wants_help(int argc, char **argv, const char *help);

#endif /* PBTOOL_PBTOOL_H */
