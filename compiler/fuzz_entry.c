/*
 * fuzz_entry.c - pbc_load_memory: a schema input that is bytes in memory.
 *
 * This mirrors loader.c for the one case the fuzz target needs: a single
 * input with no file behind it.  The source is built as source.c builds one
 * (text plus a NUL, and the index of line starts that diagnostics use), the
 * file is registered in the program as pbc__load registers one (so
 * pbc_program_free releases it), and each import gets the diagnostic that
 * loader.c gives an import it cannot resolve.  If loader.c changes those
 * messages, change them here too: the fuzz target only needs the same code
 * paths, but diagnostics that differ would mislead whoever reads a crash.
 */
#include "fuzz_entry.h"

#include <string.h>

#include "parse.h"

/* A heap source holding a copy of the bytes, with its line index. */
static pbc_source *pbc__memory_source(const char *path, const void *text,
                                      size_t len) {
  pbc_source *src = pbc_xcalloc(1, sizeof *src);
  src->path = pbc_xstrdup(path);
  src->text = pbc_xmalloc(len + 1);
  if (len > 0)
    memcpy(src->text, text, len);
  src->text[len] = '\0';
  src->len = len;
  size_t n = 1;
  for (size_t i = 0; i < len; i++)
    if (src->text[i] == '\n')
      n++;
  src->line_starts = pbc_xmalloc(n * sizeof(size_t));
  src->nlines = n;
  src->line_starts[0] = 0;
  for (size_t i = 0, k = 1; i < len; i++)
    if (src->text[i] == '\n')
      src->line_starts[k++] = i + 1;
  /* dev and ino stay 0: no file on disk can be this file. */
  return src;
}

pbc_file *pbc_load_memory(pbc_program *p, const char *path, const void *text,
                          size_t len) {
  if (len > PBC_MAX_SOURCE_SIZE) {
    pbc_loc none = {NULL, 0, 0};
    pbc_error(p->diag, none, "'%s' is larger than the %u MiB limit", path,
              PBC_MAX_SOURCE_SIZE / (1024 * 1024));
    return NULL;
  }
  pbc_file *f = pbc_arena_alloc(&p->arena, sizeof *f);
  f->src = pbc__memory_source(path, text, len);
  f->depth = 0;
  f->state = PBC_FILE_LOADING;
  if (p->nfiles == p->cap_files) {
    p->cap_files = p->cap_files ? 2 * p->cap_files : 8;
    p->files = pbc_xrealloc(p->files, p->cap_files * sizeof *p->files);
  }
  f->index = p->nfiles;
  p->files[p->nfiles++] = f;

  pbc_parse_file(&p->arena, p->diag, f);

  /* As loader.c's pbc__follow_import, for an import that resolves to no
     file; imp->file stays NULL. */
  for (size_t i = 0; i < f->imports.len && !pbc_diag_stopped(p->diag); i++) {
    const pbc_import *imp = f->imports.items[i];
    if (imp->len == 0)
      pbc_error(p->diag, imp->loc, "empty import path");
    else if (strlen(imp->path) != imp->len)
      pbc_error(p->diag, imp->loc, "import path contains a NUL byte");
    else
      pbc_error(p->diag, imp->loc, "imported file '%s' not found", imp->path);
  }
  f->state = PBC_FILE_DONE;
  f->is_input = true;
  return f;
}
