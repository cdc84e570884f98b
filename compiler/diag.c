/*
 * diag.c - formats diagnostics: header line, source line, caret line.
 *
 * The caret line reproduces the whitespace of the source line: a tab in the
 * source gives a tab, a UTF-8 continuation byte gives nothing (so one
 * character is one column on screen), and any other byte gives a space.
 * Control characters in the source line and in messages are printed as
 * spaces or '?', so a hostile schema cannot send escape sequences to the
 * terminal through pbc.
 */
#include "diag.h"

#include <stdarg.h>
#include <string.h>

void pbc_diag_init(pbc_diag *d, FILE *out) {
  d->out = out;
  d->errors = 0;
  d->stopped = false;
  d->drop_notes = false;
}

/* Writes `len` bytes, with control characters replaced by `subst`. */
static void pbc__put_clean(FILE *out, const char *s, size_t len, char subst) {
  for (size_t i = 0; i < len; i++) {
    unsigned char c = (unsigned char)s[i];
    if ((c < 0x20 && c != '\t') || c == 0x7f)
      c = (unsigned char)subst;
    putc(c, out);
  }
}

static void pbc__show_line(FILE *out, pbc_loc loc) {
  const char *line;
  size_t len;
  if (!pbc_source_line(loc.src, loc.line, &line, &len))
    return;
  pbc__put_clean(out, line, len, ' ');
  putc('\n', out);
  size_t col = loc.col > 0 ? (size_t)loc.col - 1 : 0;
  for (size_t i = 0; i < col; i++) {
    unsigned char c = i < len ? (unsigned char)line[i] : ' ';
    if (c == '\t')
      putc('\t', out);
    else if (c < 0x80 || c >= 0xc0)
      putc(' ', out);
  }
  fputs("^\n", out);
}

static void pbc__report(pbc_diag *d, pbc_loc loc, const char *kind,
                        const char *fmt, va_list ap) {
  pbc_strbuf msg;
  pbc_sb_init(&msg);
  pbc_sb_vprintf(&msg, fmt, ap);
  if (!loc.src)
    fprintf(d->out, "pbc: %s: ", kind);
  else if (loc.line <= 0)
    fprintf(d->out, "%s: %s: ", loc.src->path, kind);
  else
    fprintf(d->out, "%s:%d:%d: %s: ", loc.src->path, loc.line, loc.col, kind);
  pbc__put_clean(d->out, pbc_sb_str(&msg), msg.len, '?');
  putc('\n', d->out);
  pbc_sb_free(&msg);
  if (loc.src && loc.line > 0)
    pbc__show_line(d->out, loc);
}

void pbc_error(pbc_diag *d, pbc_loc loc, const char *fmt, ...) {
  d->errors++;
  if (d->stopped) {
    d->drop_notes = true;
    return;
  }
  if (d->errors > PBC_MAX_ERRORS) {
    fputs("pbc: error: too many errors, stopping\n", d->out);
    d->stopped = true;
    d->drop_notes = true;
    return;
  }
  d->drop_notes = false;
  va_list ap;
  va_start(ap, fmt);
  pbc__report(d, loc, "error", fmt, ap);
  va_end(ap);
}

void pbc_note(pbc_diag *d, pbc_loc loc, const char *fmt, ...) {
  if (d->drop_notes)
    return;
  va_list ap;
  va_start(ap, fmt);
  pbc__report(d, loc, "note", fmt, ap);
  va_end(ap);
}

void pbc_tool_error(pbc_diag *d, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  pbc_loc none = {NULL, 0, 0};
  pbc__report(d, none, "error", fmt, ap);
  va_end(ap);
}
