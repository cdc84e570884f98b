/*
 * util/errdetail.c - pb_errdetail(), its thread-local buffer, and
 * PB__CORRUPT's recording (util/errdetail.h).  Nothing here allocates.
 */
#include "util/errdetail.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static _Thread_local char detail[PB__ERRDETAIL_SIZE];
static _Thread_local char source[64];     /* "file.c:line" of PB__CORRUPT */
static _Thread_local unsigned long count; /* details recorded */
static _Thread_local unsigned quiet;      /* pb__errdetail_quiet depth */

void pb__errdetail_set(const char *msg) {
  snprintf(detail, sizeof detail, "%s", msg ? msg : "");
  count++;
}

void pb__corrupt(const char *file, int line, const char *fmt, ...) {
  if (quiet > 0) return;
  const char *base = strrchr(file, '/');
  base = base ? base + 1 : file;
  snprintf(source, sizeof source, "%s:%d", base, line);
  /* Formatted apart first: an argument may be the old detail itself. */
  char what[PB__ERRDETAIL_SIZE];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(what, sizeof what, fmt, ap);
  va_end(ap);
  /* The source goes first into the bound: a long message is cut, never
   * the line that found the damage. */
  size_t room = sizeof detail - strlen(source) - 4; /* " (" ")" NUL */
  snprintf(detail, sizeof detail, "%.*s (%s)", (int)room, what, source);
  count++;
}

void pb__errdetail_quiet(bool on) {
  if (on)
    quiet++;
  else if (quiet > 0)
    quiet--;
}

void pb__errdetail_prefix(const char *fmt, ...) {
  char old[PB__ERRDETAIL_SIZE];
  memcpy(old, detail, sizeof old);
  char head[PB__ERRDETAIL_SIZE];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(head, sizeof head, fmt, ap);
  va_end(ap);
  /* Keep the old detail whole (it ends with the source line) when both do
   * not fit: cut the new head instead. */
  size_t old_len = strlen(old), head_len = strlen(head);
  size_t room = sizeof detail - 1;
  if (old_len > room - 2) old_len = room - 2;
  if (head_len > room - 2 - old_len) head_len = room - 2 - old_len;
  memcpy(detail, head, head_len);
  memcpy(detail + head_len, ": ", 2);
  memcpy(detail + head_len + 2, old, old_len);
  detail[head_len + 2 + old_len] = '\0';
  count++;
}

int pb__errdetail_atom(int rc, pb_atom_ptr ptr, const char *kind) {
  if (rc == PB_ECORRUPT)
    pb__errdetail_prefix(PB__ATOM_FMT " (%s)", PB__ATOM_ARGS(ptr), kind);
  return rc;
}

unsigned long pb__errdetail_count(void) { return count; }

const char *pb__errdetail_source(void) { return source; }

const char *pb_errdetail(void) { return detail; }
