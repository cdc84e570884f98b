/*
 * main.c - the pbc command line.
 *
 *   pbc [-o DIR] [-I DIR]... [-M FILE] FILE.pbs...
 *   pbc --print-fingerprints [-I DIR]... FILE.pbs...
 *   pbc check [-I DIR]... OLD.pbs NEW.pbs
 *
 * (--error-format=text|json applies to all three.)  Compiling runs in
 * phases, and nothing is written until every phase has passed for every
 * input:
 *
 *   1. load: read each input and, transitively, its imports (loader.c);
 *   2. check: semantic checks over every loaded file (check.c);
 *   3. generator checks on the inputs (gen_c.c);
 *   4. generate every output in memory;
 *   5. write each output to a temporary file in the output directory and
 *      rename it into place, so a reader never sees a half-written file.
 *
 * --print-fingerprints stops after phase 2 and prints one line per record
 * of each input to stdout.  `check` loads and checks OLD and NEW as two
 * separate programs (each has its own imports), then compares them
 * (evolve.c) and prints a summary line to stdout.
 *
 * Exit status: 0 on success, 1 when a schema has errors (or pbc check
 * found a breaking change), 2 for usage and I/O errors (an unreadable
 * input, an output that cannot be written).  Only files named on the
 * command line get outputs; imports are read for their types.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "check.h"
#include "diag.h"
#include "evolve.h"
#include "fingerprint.h"
#include "gen_c.h"
#include "loader.h"
#include "types.h"
#include "util.h"

enum { PBC_EXIT_OK = 0, PBC_EXIT_SCHEMA = 1, PBC_EXIT_USAGE = 2 };

static const char pbc__usage[] =
    "Usage: pbc [options] FILE.pbs...\n"
    "       pbc --print-fingerprints [options] FILE.pbs...\n"
    "       pbc check [options] OLD.pbs NEW.pbs\n"
    "       pbc check [options] --db DIR [--database NAME] NEW.pbs\n"
    "Compiles ProtoBase schemas to C: FILE.pbs gives FILE.pb.h and FILE.pb.c.\n"
    "\n"
    "Commands:\n"
    "  check OLD.pbs NEW.pbs\n"
    "                      compare two versions of a schema: report each\n"
    "                      change as compatible or breaking, and exit 1 if\n"
    "                      any is breaking (writes no files)\n"
    "  check --db DIR NEW.pbs\n"
    "                      check each record of NEW against the versions\n"
    "                      the catalog of each database in storage DIR has\n"
    "                      (opened read-only; --database NAME: only that\n"
    "                      one); exit 1 if a change is breaking\n"
    "\n"
    "Options:\n"
    "  -o DIR              write the outputs into DIR (default: .)\n"
    "  -I DIR              also look for imports in DIR; repeatable.  Imports\n"
    "                      are looked up next to the importing file first,\n"
    "                      then in each -I directory in order\n"
    "  -M FILE, --depfile FILE\n"
    "                      write a Make-style depfile: the outputs depend on\n"
    "                      each input and every schema it imports\n"
    "      --print-fingerprints\n"
    "                      check the schemas and print one line per record,\n"
    "                      'package.Record 0123456789abcdef' (the XXH3-64\n"
    "                      fingerprint in hex); writes no files\n"
    "      --error-format=FORMAT\n"
    "                      'text' (default): file:line:col: error: message,\n"
    "                      then the source line and a caret; 'json': one\n"
    "                      JSON array of every diagnostic on stderr at exit\n"
    "  -h, --help          print this help and exit\n"
    "      --version       print the version and exit\n"
    "\n"
    "Exit status: 0 on success, 1 for errors in a schema or a breaking\n"
    "change (check), 2 for usage or I/O errors.\n";

typedef struct pbc__options {
  const char *out_dir;  /* -o */
  const char **includes; /* -I, in order; heap array of argv strings */
  size_t nincludes;
  const char *depfile;  /* -M / --depfile, or NULL */
  char **inputs;        /* the schema files (argv strings) */
  size_t ninputs;
  bool fingerprints;    /* --print-fingerprints */
  bool check;           /* the check command: inputs are OLD and NEW */
  const char *db;       /* check --db DIR: the input is NEW */
  const char *database; /* check --database NAME */
} pbc__options;

enum {
  PBC__OPT_VERSION = 256,
  PBC__OPT_FINGERPRINTS,
  PBC__OPT_ERROR_FORMAT,
  PBC__OPT_DB,
  PBC__OPT_DATABASE
};

/* Parses a --error-format value.  Returns false if it is not one. */
static bool pbc__error_format(const char *s, pbc_diag_format *out) {
  if (strcmp(s, "text") == 0)
    *out = PBC_DIAG_TEXT;
  else if (strcmp(s, "json") == 0)
    *out = PBC_DIAG_JSON;
  else
    return false;
  return true;
}

/*
 * Finds --error-format before the real parse, so that a usage error on an
 * earlier argument is already reported in the requested format.
 */
static void pbc__prescan_format(int argc, char **argv, pbc_diag *diag) {
  static const char prefix[] = "--error-format=";
  for (int i = 1; i < argc && strcmp(argv[i], "--") != 0; i++) {
    const char *v = NULL;
    if (strncmp(argv[i], prefix, sizeof prefix - 1) == 0)
      v = argv[i] + sizeof prefix - 1;
    else if (strcmp(argv[i], "--error-format") == 0 && i + 1 < argc)
      v = argv[i + 1];
    if (v)
      pbc__error_format(v, &diag->format);
  }
}

/* Returns -1 to go on, or an exit status. */
static int pbc__parse_args(int argc, char **argv, pbc__options *o,
                           pbc_diag *diag) {
  static const struct option longs[] = {
      {"help", no_argument, NULL, 'h'},
      {"version", no_argument, NULL, PBC__OPT_VERSION},
      {"depfile", required_argument, NULL, 'M'},
      {"print-fingerprints", no_argument, NULL, PBC__OPT_FINGERPRINTS},
      {"error-format", required_argument, NULL, PBC__OPT_ERROR_FORMAT},
      {"db", required_argument, NULL, PBC__OPT_DB},
      {"database", required_argument, NULL, PBC__OPT_DATABASE},
      {NULL, 0, NULL, 0}};
  o->out_dir = ".";
  opterr = 0;
  int c;
  while ((c = getopt_long(argc, argv, ":o:I:M:h", longs, NULL)) != -1) {
    switch (c) {
    case 'o':
      o->out_dir = optarg;
      break;
    case 'I':
      o->includes = pbc_xrealloc(o->includes,
                                 (o->nincludes + 1) * sizeof *o->includes);
      o->includes[o->nincludes++] = optarg;
      break;
    case 'M':
      o->depfile = optarg;
      break;
    case 'h':
      fputs(pbc__usage, stdout);
      return PBC_EXIT_OK;
    case PBC__OPT_VERSION:
      printf("pbc %s\n", PBC_VERSION);
      return PBC_EXIT_OK;
    case PBC__OPT_FINGERPRINTS:
      o->fingerprints = true;
      break;
    case PBC__OPT_DB:
      o->db = optarg;
      break;
    case PBC__OPT_DATABASE:
      o->database = optarg;
      break;
    case PBC__OPT_ERROR_FORMAT:
      if (!pbc__error_format(optarg, &diag->format)) {
        pbc_tool_error(diag, "unknown error format '%s' (use text or json)",
                       optarg);
        pbc_diag_hint(diag, "Try 'pbc --help'.");
        return PBC_EXIT_USAGE;
      }
      break;
    case ':':
      if (optopt > 0 && optopt < 256)
        pbc_tool_error(diag, "option '-%c' needs an argument", optopt);
      else
        pbc_tool_error(diag, "option '%s' needs an argument", argv[optind - 1]);
      pbc_diag_hint(diag, "Try 'pbc --help'.");
      return PBC_EXIT_USAGE;
    default:
      if (optopt)
        pbc_tool_error(diag, "unknown option '-%c'", optopt);
      else
        pbc_tool_error(diag, "unknown option '%s'", argv[optind - 1]);
      pbc_diag_hint(diag, "Try 'pbc --help'.");
      return PBC_EXIT_USAGE;
    }
  }
  o->inputs = argv + optind;
  o->ninputs = (size_t)(argc - optind);
  if (o->ninputs > 0 && strcmp(o->inputs[0], "check") == 0) {
    o->check = true;
    o->inputs++;
    o->ninputs--;
    if (o->ninputs != (o->db ? 1u : 2u) || o->fingerprints) {
      pbc_tool_error(diag, o->fingerprints
                               ? "check does not take --print-fingerprints"
                           : o->db ? "check --db DIR needs one schema: NEW.pbs"
                                   : "check needs two schemas: OLD.pbs NEW.pbs");
      pbc_diag_hint(diag, "Try 'pbc --help'.");
      return PBC_EXIT_USAGE;
    }
  }
  if ((o->db || o->database) && !(o->check && o->db)) {
    pbc_tool_error(diag, o->check ? "--database needs --db DIR"
                                  : "--db and --database go with check");
    pbc_diag_hint(diag, "Try 'pbc --help'.");
    return PBC_EXIT_USAGE;
  }
  if (o->ninputs == 0) {
    pbc_tool_error(diag, "no input files");
    pbc_diag_hint(diag, "Try 'pbc --help'.");
    return PBC_EXIT_USAGE;
  }
  return -1;
}

/*
 * Writes `len` bytes to `path` atomically: a temporary file in the same
 * directory, then rename(2).  Reports failures as I/O errors.
 */
static bool pbc__write_atomic(pbc_diag *diag, const char *path,
                              const char *data, size_t len, mode_t mode) {
  char *dir = pbc_dirname(path);
  size_t tlen = strlen(dir) + strlen(pbc_basename(path)) + 16;
  char *tmp = pbc_xmalloc(tlen);
  snprintf(tmp, tlen, "%s/.%s.XXXXXX", dir, pbc_basename(path));
  free(dir);
  int err = 0;
  int fd = mkstemp(tmp);
  if (fd < 0) {
    err = errno;
  } else {
    if (fchmod(fd, mode) != 0)
      err = errno;
    size_t done = 0;
    while (!err && done < len) {
      ssize_t n = write(fd, data + done, len - done);
      if (n < 0 && errno != EINTR)
        err = errno;
      else if (n > 0)
        done += (size_t)n;
    }
    if (close(fd) != 0 && !err)
      err = errno;
    if (!err && rename(tmp, path) != 0)
      err = errno;
    if (err)
      unlink(tmp);
  }
  if (err)
    pbc_tool_error(diag, "cannot write '%s': %s", path, strerror(err));
  free(tmp);
  return err == 0;
}

/* Appends " path" to a depfile line, escaped as GCC's -MD does for Make. */
static void pbc__dep_path(pbc_strbuf *sb, const char *path) {
  if (sb->len > 0 && sb->data[sb->len - 1] != '\n')
    pbc_sb_putc(sb, ' ');
  for (const char *p = path; *p; p++) {
    if (*p == ' ' || *p == '#')
      pbc_sb_putc(sb, '\\');
    if (*p == '$')
      pbc_sb_putc(sb, '$');
    pbc_sb_putc(sb, *p);
  }
}

typedef struct pbc__dep_walk {
  pbc_strbuf *sb;       /* the depfile text */
  const pbc_file *root; /* the input, already listed */
} pbc__dep_walk;

static void pbc__dep_file(pbc_file *f, void *arg) {
  pbc__dep_walk *w = arg;
  if (f != w->root)
    pbc__dep_path(w->sb, f->src->path);
}

static char *pbc__output_path(const char *dir, const char *base,
                              const char *ext) {
  size_t len = strlen(base) + strlen(ext) + 1;
  char *name = pbc_xmalloc(len);
  snprintf(name, len, "%s%s", base, ext);
  char *path = pbc_path_join(dir, name);
  free(name);
  return path;
}

/* Generates, then writes, every output.  Returns the exit status. */
static int pbc__emit(pbc_program *prog, pbc_file **inputs, size_t n,
                     const pbc__options *o, pbc_diag *diag) {
  mode_t mask = umask(0);
  umask(mask);
  mode_t mode = 0666 & ~mask;
  pbc_strbuf *texts = pbc_xcalloc(2 * n, sizeof *texts);
  char **paths = pbc_xcalloc(2 * n, sizeof *paths);
  pbc_strbuf deps;
  pbc_sb_init(&deps);
  for (size_t i = 0; i < n; i++) {
    char *base = pbc_gen_c_base(inputs[i]->src->path);
    paths[2 * i] = pbc__output_path(o->out_dir, base, ".pb.h");
    paths[2 * i + 1] = pbc__output_path(o->out_dir, base, ".pb.c");
    free(base);
    pbc_gen_c(inputs[i], &texts[2 * i], &texts[2 * i + 1]);
    /* "OUT.pb.h OUT.pb.c: INPUT.pbs IMPORTS...", paths escaped. */
    pbc__dep_path(&deps, paths[2 * i]);
    pbc__dep_path(&deps, paths[2 * i + 1]);
    pbc_sb_puts(&deps, ":");
    pbc__dep_path(&deps, inputs[i]->src->path);
    pbc__dep_walk w = {&deps, inputs[i]};
    pbc_program_walk(prog, inputs[i], pbc__dep_file, &w);
    pbc_sb_putc(&deps, '\n');
  }
  int status = PBC_EXIT_OK;
  for (size_t i = 0; i < 2 * n && status == PBC_EXIT_OK; i++)
    if (!pbc__write_atomic(diag, paths[i], pbc_sb_str(&texts[i]), texts[i].len,
                           mode))
      status = PBC_EXIT_USAGE;
  if (status == PBC_EXIT_OK && o->depfile &&
      !pbc__write_atomic(diag, o->depfile, pbc_sb_str(&deps), deps.len, mode))
    status = PBC_EXIT_USAGE;
  for (size_t i = 0; i < 2 * n; i++) {
    pbc_sb_free(&texts[i]);
    free(paths[i]);
  }
  free(texts);
  free(paths);
  pbc_sb_free(&deps);
  return status;
}

/* --print-fingerprints: "package.Record 0123456789abcdef" per record. */
static void pbc__print_fingerprints(pbc_file **inputs, size_t n) {
  for (size_t i = 0; i < n; i++) {
    for (size_t k = 0; k < inputs[i]->decls.len; k++) {
      const pbc_decl *d = inputs[i]->decls.items[k];
      if (d->kind != PBC_DECL_RECORD)
        continue;
      if (inputs[i]->package)
        printf("%s.", inputs[i]->package);
      printf("%s %016llx\n", d->name,
             (unsigned long long)pbc_fingerprint_record(d));
    }
  }
  fflush(stdout);
}

/*
 * pbc check OLD NEW: two programs, so that each version resolves its own
 * imports and a record name may exist in both.  Returns the exit status.
 */
static int pbc__check(const pbc__options *o, pbc_diag *diag) {
  pbc_program prog[2];
  pbc_file *f[2] = {NULL, NULL};
  int status = PBC_EXIT_OK;
  for (int i = 0; i < 2; i++) {
    pbc_program_init(&prog[i], diag, o->includes, o->nincludes);
    if (status == PBC_EXIT_OK) {
      f[i] = pbc_load_input(&prog[i], o->inputs[i]);
      if (prog[i].io_error)
        status = PBC_EXIT_USAGE;
    }
  }
  for (int i = 0; i < 2 && status == PBC_EXIT_OK; i++)
    if (!f[i] || !pbc_check_program(&prog[i]) || diag->errors > 0)
      status = PBC_EXIT_SCHEMA;
  if (status == PBC_EXIT_OK) {
    pbc_evolve_counts counts;
    pbc_evolve_check(f[0], f[1], diag, &counts);
    printf("pbc check: %d compatible, %d breaking\n", counts.compatible,
           counts.breaking);
    fflush(stdout);
    if (counts.breaking > 0)
      status = PBC_EXIT_SCHEMA;
  }
  pbc_program_free(&prog[0]);
  pbc_program_free(&prog[1]);
  return status;
}

/* The database names of a space (pb_space_list's callback). */
typedef struct pbc__names {
  char **v;
  size_t n, cap;
} pbc__names;

static int pbc__add_name(void *arg, const char *name) {
  pbc__names *a = arg;
  if (a->n == a->cap) {
    a->cap = a->cap ? a->cap * 2 : 8;
    a->v = pbc_xrealloc(a->v, a->cap * sizeof *a->v);
  }
  a->v[a->n++] = pbc_xstrdup(name);
  return 0;
}

/* Checks the records of `f` against database `name`: each breaking one is
 * a diagnostic.  Returns the exit status so far. */
static int pbc__check_one_db(const pbc__options *o, pbc_diag *diag,
                             pb_space *sp, const char *name,
                             const pbc_file *f, const pbc_types *types,
                             size_t *checked, int *breaking) {
  pb_db *db;
  int rc = pb_db_open(sp, name, 0, &db);
  if (rc != PB_OK) {
    pbc_tool_error(diag, "cannot open database '%s' in '%s': %s", name,
                   o->db, pb_strerror(rc));
    return PBC_EXIT_USAGE;
  }
  int status = PBC_EXIT_OK;
  for (size_t i = 0; i < f->decls.len && status == PBC_EXIT_OK; i++) {
    const pbc_decl *d = f->decls.items[i];
    const pb_record_type *t = d->kind == PBC_DECL_RECORD
                                  ? pbc_types_find(types, d) : NULL;
    if (!t)
      continue;
    rc = pb_db_register(db, &t, 1); /* read-only: checks, writes nothing */
    (*checked)++;
    if (rc == PB_ESCHEMA) {
      /* "record 'x' (fingerprint F): breaking: WHY, against ..." */
      const char *detail = pb_errdetail();
      const char *why = strstr(detail, "breaking: ");
      pbc_breaking(diag, d->loc, "%s (record '%s' in database '%s')",
                   why ? why + strlen("breaking: ") : detail, t->name, name);
      (*breaking)++;
    } else if (rc != PB_OK) {
      pbc_tool_error(diag, "cannot check record '%s' against database '%s' "
                     "in '%s': %s (%s)", t->name, name, o->db,
                     pb_strerror(rc), pb_errdetail());
      status = PBC_EXIT_USAGE;
    }
  }
  pb_db_close(db);
  return status;
}

/*
 * pbc check --db DIR NEW: the records of NEW against the catalog of each
 * database in the storage at DIR (or of --database), opened read-only, by
 * the runtime's own check (pb_db_register on a read-only storage).
 */
static int pbc__check_db(const pbc__options *o, pbc_diag *diag) {
  pbc_program prog;
  pbc_program_init(&prog, diag, o->includes, o->nincludes);
  pbc_file *f = pbc_load_input(&prog, o->inputs[0]);
  int status = PBC_EXIT_OK;
  if (prog.io_error)
    status = PBC_EXIT_USAGE;
  else if (!f || !pbc_check_program(&prog) || diag->errors > 0)
    status = PBC_EXIT_SCHEMA;
  pb_storage *st;
  pb_space *sp = NULL;
  if (status == PBC_EXIT_OK) {
    pb_file_options fo;
    pb_file_options_init(&fo);
    fo.read_only = true;
    int rc = pb_storage_open_file(o->db, &fo, &st);
    if (rc == PB_OK) {
      rc = pb_space_open(st, &sp); /* owns st from now on */
      st = NULL;
      if (rc != PB_OK)
        sp = NULL;
    }
    if (rc != PB_OK) {
      pbc_tool_error(diag, "cannot open the storage '%s': %s (%s)", o->db,
                     pb_strerror(rc), pb_errdetail());
      status = PBC_EXIT_USAGE;
    }
  }
  pbc__names names = {NULL, 0, 0};
  if (status == PBC_EXIT_OK) {
    int rc = o->database ? pbc__add_name(&names, o->database)
                         : pb_space_list(sp, pbc__add_name, &names);
    if (rc != PB_OK) {
      pbc_tool_error(diag, "cannot list the databases of '%s': %s", o->db,
                     pb_strerror(rc));
      status = PBC_EXIT_USAGE;
    }
  }
  if (status == PBC_EXIT_OK) {
    pbc_types types;
    pbc_types_build(&prog, &types);
    size_t checked = 0;
    int breaking = 0;
    for (size_t i = 0; i < names.n && status == PBC_EXIT_OK; i++)
      status = pbc__check_one_db(o, diag, sp, names.v[i], f, &types,
                                 &checked, &breaking);
    pbc_types_free(&types);
    if (status == PBC_EXIT_OK) {
      printf("pbc check: %zu record version(s) checked against %zu "
             "database(s), %d breaking\n", checked, names.n, breaking);
      fflush(stdout);
      if (breaking > 0)
        status = PBC_EXIT_SCHEMA;
    }
  }
  for (size_t i = 0; i < names.n; i++)
    free(names.v[i]);
  free(names.v);
  if (sp)
    pb_space_close(sp);
  pbc_program_free(&prog);
  return status;
}

/* Loads, checks and generates.  Returns the exit status. */
static int pbc__compile(const pbc__options *o, pbc_diag *diag) {
  pbc_program prog;
  pbc_program_init(&prog, diag, o->includes, o->nincludes);
  pbc_file **inputs = pbc_xcalloc(o->ninputs, sizeof *inputs);
  size_t n = 0;
  int status = PBC_EXIT_OK;

  for (size_t i = 0; i < o->ninputs && !prog.io_error; i++) {
    pbc_file *f = pbc_load_input(&prog, o->inputs[i]);
    bool seen = false;
    for (size_t k = 0; f && k < n; k++)
      seen = seen || inputs[k] == f;
    if (f && !seen)
      inputs[n++] = f;
  }
  if (prog.io_error)
    status = PBC_EXIT_USAGE;

  /* Two inputs must not write the same outputs. */
  for (size_t i = 0; status == PBC_EXIT_OK && i < n; i++) {
    char *a = pbc_gen_c_base(inputs[i]->src->path);
    for (size_t k = 0; k < i && status == PBC_EXIT_OK; k++) {
      char *b = pbc_gen_c_base(inputs[k]->src->path);
      if (strcmp(a, b) == 0) {
        pbc_tool_error(diag, "'%s' and '%s' would both write %s.pb.h",
                       inputs[k]->src->path, inputs[i]->src->path, a);
        status = PBC_EXIT_USAGE;
      }
      free(b);
    }
    free(a);
  }

  if (status == PBC_EXIT_OK) {
    /* False also after a syntax error: then no semantic check runs. */
    bool checked = pbc_check_program(&prog);
    bool ok = checked;
    /* Generator checks only on a checked program: no follow-on errors. */
    for (size_t i = 0; checked && !o->fingerprints && i < n &&
                       !pbc_diag_stopped(diag); i++)
      ok = pbc_gen_c_check(inputs[i], diag) && ok;
    if (!ok || diag->errors > 0)
      status = PBC_EXIT_SCHEMA;
  }
  if (status == PBC_EXIT_OK && o->fingerprints)
    pbc__print_fingerprints(inputs, n);
  else if (status == PBC_EXIT_OK)
    status = pbc__emit(&prog, inputs, n, o, diag);

  free(inputs);
  pbc_program_free(&prog);
  return status;
}

int main(int argc, char **argv) {
  pbc_diag diag;
  pbc_diag_init(&diag, stderr);
  pbc__prescan_format(argc, argv, &diag);
  pbc__options o;
  memset(&o, 0, sizeof o);
  int status = pbc__parse_args(argc, argv, &o, &diag);
  if (status < 0)
    status = o.check && o.db ? pbc__check_db(&o, &diag)
             : o.check        ? pbc__check(&o, &diag)
                              : pbc__compile(&o, &diag);
  free(o.includes);
  pbc_diag_finish(&diag);
  return status;
}
