/*
 * diag.c - formats diagnostics: header line, source line, caret line; or
 * collects them for one JSON array.
 *
 * The caret line reproduces the whitespace of the source line: a tab in the
 * source gives a tab, a UTF-8 continuation byte gives nothing (so one
 * character is one column on screen), and any other byte gives a space.
 * Control characters in the source line and in messages are printed as
 * spaces or '?', so a hostile schema cannot send escape sequences to the
 * terminal through pbc.
 *
 * In the JSON format every diagnostic is copied into a flat heap array
 * (file, position, kind, message): a note is stored right after the entry
 * it explains, and pbc_diag_finish nests it into that entry's "notes".
 * Copies, because the sources die before the array is printed.
 */
#include "diag.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

/* What a diagnostic is; indexes pbc__kind_names. */
typedef enum pbc__kind {
  PBC__ERROR,
  PBC__NOTE,
  PBC__COMPATIBLE,
  PBC__BREAKING
} pbc__kind;

static const char *const pbc__kind_names[] = {"error", "note", "compatible",
                                              "error"};

/* One collected diagnostic (JSON format). */
typedef struct pbc__diag_entry {
  char *file;     /* path, or NULL for "pbc: error"; heap */
  int line, col;  /* 0 when not known */
  pbc__kind kind; /* what it is */
  char *message;  /* the message, "breaking: " included; heap */
} pbc__diag_entry;

void pbc_diag_init(pbc_diag *d, FILE *out) {
  memset(d, 0, sizeof *d);
  d->out = out;
  d->format = PBC_DIAG_TEXT;
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

static void pbc__collect(pbc_diag *d, pbc_loc loc, pbc__kind kind,
                         const char *msg) {
  if (d->nentries == d->cap_entries) {
    d->cap_entries = d->cap_entries ? 2 * d->cap_entries : 16;
    d->entries = pbc_xrealloc(d->entries, d->cap_entries * sizeof *d->entries);
  }
  pbc__diag_entry *e = &d->entries[d->nentries++];
  e->file = loc.src ? pbc_xstrdup(loc.src->path) : NULL;
  e->line = loc.src && loc.line > 0 ? loc.line : 0;
  e->col = loc.src && loc.line > 0 ? loc.col : 0;
  e->kind = kind;
  e->message = pbc_xstrdup(msg);
}

static void pbc__report(pbc_diag *d, pbc_loc loc, pbc__kind kind,
                        const char *fmt, va_list ap) {
  pbc_strbuf msg;
  pbc_sb_init(&msg);
  if (kind == PBC__BREAKING)
    pbc_sb_puts(&msg, "breaking: ");
  pbc_sb_vprintf(&msg, fmt, ap);
  if (d->format == PBC_DIAG_JSON) {
    pbc__collect(d, loc, kind, pbc_sb_str(&msg));
    pbc_sb_free(&msg);
    return;
  }
  const char *name = pbc__kind_names[kind];
  if (!loc.src)
    fprintf(d->out, "pbc: %s: ", name);
  else if (loc.line <= 0)
    fprintf(d->out, "%s: %s: ", loc.src->path, name);
  else
    fprintf(d->out, "%s:%d:%d: %s: ", loc.src->path, loc.line, loc.col, name);
  pbc__put_clean(d->out, pbc_sb_str(&msg), msg.len, '?');
  putc('\n', d->out);
  pbc_sb_free(&msg);
  if (loc.src && loc.line > 0)
    pbc__show_line(d->out, loc);
}

static void pbc__report_fmt(pbc_diag *d, pbc_loc loc, pbc__kind kind,
                            const char *fmt, ...) PBC_PRINTF(4, 5);
static void pbc__report_fmt(pbc_diag *d, pbc_loc loc, pbc__kind kind,
                            const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  pbc__report(d, loc, kind, fmt, ap);
  va_end(ap);
}

void pbc_error(pbc_diag *d, pbc_loc loc, const char *fmt, ...) {
  d->errors++;
  if (d->stopped) {
    d->drop_notes = true;
    return;
  }
  if (d->errors > PBC_MAX_ERRORS) {
    pbc_loc none = {NULL, 0, 0};
    pbc__report_fmt(d, none, PBC__ERROR, "too many errors, stopping");
    d->stopped = true;
    d->drop_notes = true;
    return;
  }
  d->drop_notes = false;
  va_list ap;
  va_start(ap, fmt);
  pbc__report(d, loc, PBC__ERROR, fmt, ap);
  va_end(ap);
}

void pbc_note(pbc_diag *d, pbc_loc loc, const char *fmt, ...) {
  if (d->drop_notes)
    return;
  va_list ap;
  va_start(ap, fmt);
  pbc__report(d, loc, PBC__NOTE, fmt, ap);
  va_end(ap);
}

void pbc_compatible(pbc_diag *d, pbc_loc loc, const char *fmt, ...) {
  d->drop_notes = false;
  va_list ap;
  va_start(ap, fmt);
  pbc__report(d, loc, PBC__COMPATIBLE, fmt, ap);
  va_end(ap);
}

void pbc_breaking(pbc_diag *d, pbc_loc loc, const char *fmt, ...) {
  d->drop_notes = false;
  va_list ap;
  va_start(ap, fmt);
  pbc__report(d, loc, PBC__BREAKING, fmt, ap);
  va_end(ap);
}

void pbc_tool_error(pbc_diag *d, const char *fmt, ...) {
  d->drop_notes = false;
  va_list ap;
  va_start(ap, fmt);
  pbc_loc none = {NULL, 0, 0};
  pbc__report(d, none, PBC__ERROR, fmt, ap);
  va_end(ap);
}

void pbc_diag_hint(pbc_diag *d, const char *text) {
  if (d->format == PBC_DIAG_TEXT)
    fprintf(d->out, "%s\n", text);
}

/* --- JSON output --- */

/*
 * Length of the well-formed UTF-8 sequence at p (1 to 4), or 0 when the
 * bytes there are not one (stray continuation, overlong, surrogate, beyond
 * U+10FFFF, or cut short).
 */
static size_t pbc__utf8_len(const unsigned char *p) {
  unsigned c = p[0];
  size_t n = c < 0x80 ? 1 : c >= 0xc2 && c <= 0xdf ? 2 : (c & 0xf0) == 0xe0 ? 3
             : c >= 0xf0 && c <= 0xf4 ? 4 : 0;
  for (size_t i = 1; i < n; i++)
    if ((p[i] & 0xc0) != 0x80)
      return 0;
  if ((c == 0xe0 && p[1] < 0xa0) || (c == 0xed && p[1] > 0x9f) ||
      (c == 0xf0 && p[1] < 0x90) || (c == 0xf4 && p[1] > 0x8f))
    return 0;
  return n;
}

/*
 * Writes s as a JSON string: quotes, escapes (control characters as
 * \u00XX), UTF-8 passed through, and a byte that is not part of valid
 * UTF-8 (a path may hold any bytes) as \ufffd, so the output stays JSON.
 */
static void pbc__json_str(FILE *out, const char *s) {
  if (!s) {
    fputs("null", out);
    return;
  }
  putc('"', out);
  for (const unsigned char *p = (const unsigned char *)s; *p;) {
    size_t n = pbc__utf8_len(p);
    if (n == 0) {
      fputs("\\ufffd", out);
      p++;
      continue;
    }
    if (*p == '"' || *p == '\\')
      fprintf(out, "\\%c", *p);
    else if (*p == '\n')
      fputs("\\n", out);
    else if (*p == '\t')
      fputs("\\t", out);
    else if (*p < 0x20 || *p == 0x7f)
      fprintf(out, "\\u%04x", *p);
    else
      fwrite(p, 1, n, out);
    p += n;
  }
  putc('"', out);
}

static void pbc__json_where(FILE *out, const pbc__diag_entry *e) {
  fputs("{\"file\":", out);
  pbc__json_str(out, e->file);
  fprintf(out, ",\"line\":%d,\"column\":%d,", e->line, e->col);
}

void pbc_diag_finish(pbc_diag *d) {
  if (d->format == PBC_DIAG_JSON) {
    FILE *out = d->out;
    putc('[', out);
    bool open = false; /* an entry's object is open, its notes array too */
    size_t nnotes = 0; /* notes written into the open entry */
    for (size_t i = 0; i < d->nentries; i++) {
      const pbc__diag_entry *e = &d->entries[i];
      if (e->kind == PBC__NOTE && open) {
        fputs(nnotes++ ? "," : "", out);
        pbc__json_where(out, e);
        fputs("\"message\":", out);
        pbc__json_str(out, e->message);
        putc('}', out);
        continue;
      }
      if (open)
        fputs("]},", out);
      else if (i > 0)
        putc(',', out);
      pbc__json_where(out, e);
      fputs("\"severity\":", out);
      pbc__json_str(out, pbc__kind_names[e->kind]);
      fputs(",\"message\":", out);
      pbc__json_str(out, e->message);
      fputs(",\"notes\":[", out);
      open = true;
      nnotes = 0;
    }
    fputs(open ? "]}]\n" : "]\n", out);
    fflush(out);
  }
  for (size_t i = 0; i < d->nentries; i++) {
    free(d->entries[i].file);
    free(d->entries[i].message);
  }
  free(d->entries);
  d->entries = NULL;
  d->nentries = d->cap_entries = 0;
}
