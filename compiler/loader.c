/*
 * loader.c - reads files, follows imports, detects cycles.
 *
 * The import walk is a depth-first search.  A file is LOADING while its own
 * imports are being followed; meeting a LOADING file again means the import
 * that led there closes a cycle.  p->path_files and p->path_imports hold the
 * current path, so the cycle can be printed ("a.pbs -> b.pbs -> a.pbs")
 * with a note at each import on it.
 *
 * Recursion depth is bounded by PBC_MAX_IMPORT_DEPTH, which is checked
 * before descending.
 */
#include "loader.h"

#include <assert.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "parse.h"

void pbc_program_init(pbc_program *p, pbc_diag *diag, const char **search_dirs,
                      size_t nsearch_dirs) {
  memset(p, 0, sizeof *p);
  pbc_arena_init(&p->arena);
  p->diag = diag;
  p->search_dirs = search_dirs;
  p->nsearch_dirs = nsearch_dirs;
}

void pbc_program_free(pbc_program *p) {
  for (size_t i = 0; i < p->nfiles; i++) {
    free(p->files[i]->sorted);
    pbc_source_free(p->files[i]->src);
  }
  free(p->files);
  pbc_arena_free(&p->arena);
  memset(p, 0, sizeof *p);
}

static pbc_file *pbc__find_loaded(pbc_program *p, const struct stat *st) {
  for (size_t i = 0; i < p->nfiles; i++) {
    const pbc_source *src = p->files[i]->src;
    if (src->dev == st->st_dev && src->ino == st->st_ino)
      return p->files[i];
  }
  return NULL;
}

static pbc_file *pbc__load(pbc_program *p, const char *path, int depth,
                           pbc_import *from);

/* Returns the heap path of an existing file for `name`, or NULL. */
static char *pbc__resolve(pbc_program *p, const pbc_file *from,
                          const char *name, struct stat *st) {
  if (name[0] == '/') {
    if (stat(name, st) == 0 && !S_ISDIR(st->st_mode))
      return pbc_xstrdup(name);
    return NULL;
  }
  if (p->memory_only)
    return NULL;
  char *dir = pbc_dirname(from->src->path);
  char *cand = pbc_path_join(dir, name);
  free(dir);
  if (stat(cand, st) == 0 && !S_ISDIR(st->st_mode))
    return cand;
  free(cand);
  for (size_t i = 0; i < p->nsearch_dirs; i++) {
    cand = pbc_path_join(p->search_dirs[i], name);
    if (stat(cand, st) == 0 && !S_ISDIR(st->st_mode))
      return cand;
    free(cand);
  }
  return NULL;
}

static void pbc__report_cycle(pbc_program *p, const pbc_import *imp,
                              const pbc_file *target) {
  size_t k = 0; /* where the cycle starts on the path */
  while (k < p->path_files.len && p->path_files.items[k] != target)
    k++;
  assert(k < p->path_files.len && "a LOADING file is on the path");
  pbc_strbuf chain;
  pbc_sb_init(&chain);
  for (size_t i = k; i < p->path_files.len; i++) {
    const pbc_file *on = p->path_files.items[i];
    pbc_sb_printf(&chain, "%s -> ", pbc_basename(on->src->path));
  }
  pbc_sb_puts(&chain, pbc_basename(target->src->path));
  pbc_error(p->diag, imp->loc, "import cycle: %s", pbc_sb_str(&chain));
  for (size_t i = k + 1; i < p->path_files.len; i++) {
    const pbc_import *on = p->path_imports.items[i];
    const pbc_file *f = p->path_files.items[i];
    pbc_note(p->diag, on->loc, "'%s' is imported here",
             pbc_basename(f->src->path));
  }
  pbc_sb_free(&chain);
}

static void pbc__follow_import(pbc_program *p, pbc_file *f, size_t k) {
  pbc_import *imp = f->imports.items[k];
  if (imp->len == 0) {
    pbc_error(p->diag, imp->loc, "empty import path");
    return;
  }
  if (strlen(imp->path) != imp->len) {
    pbc_error(p->diag, imp->loc, "import path contains a NUL byte");
    return;
  }
  struct stat st;
  char *path = pbc__resolve(p, f, imp->path, &st);
  if (!path) {
    pbc_error(p->diag, imp->loc, "imported file '%s' not found", imp->path);
    return;
  }
  pbc_file *target = pbc__find_loaded(p, &st);
  for (size_t i = 0; target && i < k; i++) {
    const pbc_import *prev = f->imports.items[i];
    if (prev->file == target) {
      pbc_error(p->diag, imp->loc, "'%s' is imported twice", imp->path);
      pbc_note(p->diag, prev->loc, "first imported here");
      free(path);
      return;
    }
  }
  if (target && target->state == PBC_FILE_LOADING) {
    pbc__report_cycle(p, imp, target);
    imp->file = target;
  } else if (target) {
    imp->file = target;
  } else if (f->depth + 1 > PBC_MAX_IMPORT_DEPTH) {
    pbc_error(p->diag, imp->loc, "imports are nested more than %d levels deep",
              PBC_MAX_IMPORT_DEPTH);
  } else {
    pbc__load(p, path, f->depth + 1, imp); /* sets imp->file */
  }
  free(path);
}

/* Reports a source over the size limit, at the import that named it. */
static void pbc__too_big(pbc_program *p, const char *path, pbc_import *from) {
  /* A schema error (exit status 1), with no line to point at. */
  pbc_loc at = {NULL, 0, 0};
  if (from)
    at = from->loc;
  pbc_error(p->diag, at, "'%s' is larger than the %u MiB limit", path,
            PBC_MAX_SOURCE_SIZE / (1024 * 1024));
}

/* Registers a loaded source as a file of the program, parses it and
 * follows its imports. */
static pbc_file *pbc__add(pbc_program *p, pbc_source *src, int depth,
                          pbc_import *from) {
  pbc_file *f = pbc_arena_alloc(&p->arena, sizeof *f);
  f->src = src;
  f->depth = depth;
  f->state = PBC_FILE_LOADING;
  if (p->nfiles == p->cap_files) {
    p->cap_files = p->cap_files ? 2 * p->cap_files : 8;
    p->files = pbc_xrealloc(p->files, p->cap_files * sizeof *p->files);
  }
  f->index = p->nfiles;
  p->files[p->nfiles++] = f;

  pbc_parse_file(&p->arena, p->diag, f);

  if (from)
    from->file = f;
  pbc_vec_push(&p->arena, &p->path_files, f);
  pbc_vec_push(&p->arena, &p->path_imports, from);
  for (size_t i = 0; i < f->imports.len && !pbc_diag_stopped(p->diag); i++) {
    if (p->io_error)
      break;
    pbc__follow_import(p, f, i);
  }
  p->path_files.len--;
  p->path_imports.len--;
  f->state = PBC_FILE_DONE;
  return f;
}

static pbc_file *pbc__load(pbc_program *p, const char *path, int depth,
                           pbc_import *from) {
  pbc_source *src = NULL;
  int err = 0;
  switch (pbc_source_load(path, &src, &err)) {
  case PBC_LOAD_OK:
    break;
  case PBC_LOAD_IO:
    pbc_tool_error(p->diag, "cannot read '%s': %s", path, strerror(err));
    p->io_error = true;
    return NULL;
  case PBC_LOAD_TOO_BIG:
    pbc__too_big(p, path, from);
    return NULL;
  }
  return pbc__add(p, src, depth, from);
}

pbc_file *pbc_load_memory(pbc_program *p, const char *path, const void *text,
                          size_t len) {
  pbc_source *src = NULL;
  p->memory_only = true;
  if (pbc_source_from_memory(path, text, len, &src) != PBC_LOAD_OK) {
    pbc__too_big(p, path, NULL);
    return NULL;
  }
  pbc_file *f = pbc__add(p, src, 0, NULL);
  f->is_input = true;
  return f;
}

pbc_file *pbc_load_input(pbc_program *p, const char *path) {
  struct stat st;
  if (stat(path, &st) != 0) {
    pbc_tool_error(p->diag, "cannot read '%s': %s", path, strerror(errno));
    p->io_error = true;
    return NULL;
  }
  pbc_file *f = pbc__find_loaded(p, &st);
  if (!f)
    f = pbc__load(p, path, 0, NULL);
  if (f)
    f->is_input = true;
  return f;
}

static void pbc__walk(pbc_program *p, pbc_file *f, bool *seen,
                      void (*fn)(pbc_file *f, void *arg), void *arg) {
  if (seen[f->index])
    return;
  seen[f->index] = true;
  for (size_t i = 0; i < f->imports.len; i++) {
    const pbc_import *imp = f->imports.items[i];
    if (imp->file)
      pbc__walk(p, imp->file, seen, fn, arg);
  }
  fn(f, arg);
}

void pbc_program_walk(pbc_program *p, pbc_file *f,
                      void (*fn)(pbc_file *f, void *arg), void *arg) {
  bool *seen = pbc_xcalloc(p->nfiles, sizeof(bool));
  pbc__walk(p, f, seen, fn, arg);
  free(seen);
}
