/*
 * atom/verify.c - the failure reports of generated _verify functions.
 *
 * A generated verifier walks a record body the way its decoder does, and
 * on the first bad field reports the field's offset and name.  Paths are
 * built from the inside out, only on failure: the innermost record writes
 * "x", each enclosing record puts its field name in front ("where.x"), and
 * the public function adds the record name ("Task.where.x").  So a valid
 * input costs no string work at all.
 */
#include <string.h>

#include "protobase/wire.h"
#include "util/errdetail.h"

/*
 * Writes "name[index]" (or "name") into buf, cut to cap - 1 bytes, and
 * returns its length.  No snprintf: hostile input may fail verification
 * millions of times, and this is its only cost beyond the walk itself.
 */
static size_t component(char *buf, size_t cap, const char *name,
                        size_t index) {
  size_t n = 0;
  for (const char *s = name ? name : ""; *s && n + 1 < cap; s++)
    buf[n++] = *s;
  if (index != PB_VERIFY_NO_INDEX) {
    char digits[24];
    size_t nd = 0;
    do {
      digits[nd++] = (char)('0' + index % 10);
      index /= 10;
    } while (index);
    if (n + 1 < cap) buf[n++] = '[';
    while (nd > 0 && n + 1 < cap) buf[n++] = digits[--nd];
    if (n + 1 < cap) buf[n++] = ']';
  }
  buf[n] = '\0';
  return n;
}

/* The detail of a rejected input: the failing field and its byte offset
 * (renewed as each enclosing record adds its part of the path). */
static int verify_detail(const pb_verify_error *err) {
  return PB__CORRUPT("verify: %s at byte %zu of the input",
                     err->path[0] ? err->path : "the record", err->offset);
}

int pb_verify_fail(pb_verify_error *err, size_t offset, const char *name,
                   size_t index) {
  if (!err) return PB_EINVAL;
  err->offset = offset;
  component(err->path, sizeof err->path, name, index);
  return err->code = verify_detail(err);
}

/* Puts "name[index]" and a '.' (when the path is not empty) before it. */
static void prepend(pb_verify_error *err, const char *name, size_t index,
                    size_t skip) {
  char head[sizeof err->path];
  size_t cap = sizeof err->path - 1;
  size_t hn = component(head, sizeof head, name, index);
  size_t tn = strlen(err->path + skip);
  size_t dot = tn > 0 && hn < cap;
  size_t keep = tn < cap - hn - dot ? tn : cap - hn - dot;
  memmove(err->path + hn + dot, err->path + skip, keep);
  memcpy(err->path, head, hn);
  if (dot) err->path[hn] = '.';
  err->path[hn + dot + keep] = '\0';
}

int pb_verify_prefix(pb_verify_error *err, size_t offset, const char *name,
                     size_t index) {
  if (!err) return PB_EINVAL;
  err->offset += offset;
  prepend(err, name, index, 0);
  return err->code = verify_detail(err);
}

int pb_verify_rename(pb_verify_error *err, size_t offset, const char *name,
                     size_t index) {
  if (!err) return PB_EINVAL;
  const char *dot = strchr(err->path, '.');
  size_t skip = dot ? (size_t)(dot + 1 - err->path) : strlen(err->path);
  err->offset += offset;
  prepend(err, name, index, skip);
  return err->code = verify_detail(err);
}

int pb_verify_ok(pb_verify_error *err) {
  if (!err) return PB_EINVAL;
  err->code = PB_OK;
  err->offset = 0;
  err->path[0] = '\0';
  return PB_OK;
}
