/*
 * util/errdetail.c - pb_errdetail(), its thread-local buffer, and
 * PB__CORRUPT's recording (util/errdetail.h).  Nothing here allocates.
 */
#include "util/errdetail.h"

#include <assert.h>
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
  /* When both do not fit, the head gets half the room at most, and the
   * old detail loses its middle: its end, the source line in
   * parentheses, always stays. */
  size_t room = sizeof detail - 1;
  size_t old_len = strlen(old), head_len = strlen(head);
  if (head_len + 2 + old_len > room) {
    size_t cap = old_len + 2 < room / 2 ? room - 2 - old_len : room / 2;
    if (head_len > cap) head_len = cap;
  }
  size_t budget = room - head_len - 2;
  const char *tail = old + old_len;
  size_t keep = old_len;
  if (old_len > budget) {
    const char *paren = strrchr(old, '(');
    tail = paren && (size_t)(old + old_len - paren) + 3 < budget
               ? paren
               : old + old_len;
    keep = budget - (size_t)(old + old_len - tail) - 3; /* "..." */
  }
  size_t n = 0;
  memcpy(detail, head, head_len);
  n += head_len;
  memcpy(detail + n, ": ", 2);
  n += 2;
  memcpy(detail + n, old, keep);
  n += keep;
  if (keep < old_len) {
    size_t tl = strlen(tail);
    memcpy(detail + n, "...", 3);
    memcpy(detail + n + 3, tail, tl);
    n += 3 + tl;
  }
  assert(n <= room);
  detail[n] = '\0';
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
