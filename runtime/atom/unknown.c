/*
 * atom/unknown.c - writing back the fields of a newer schema.
 *
 * A generated decoder that meets a tag its schema does not know keeps a view
 * of the whole record body in the struct's unknown_fields (zero-copy; the
 * known fields in it are ignored later).  The generated encoder walks that
 * body with a pb_unknown cursor, merging: before each known field it copies
 * the kept fields with unknown tags below that field's tag, and the rest at
 * the end.  So an old program that decodes and re-encodes a new program's
 * record writes every field it did not understand back, in tag order.
 */
#include <stdlib.h>

#include "protobase/wire.h"

void pb_unknown_init(pb_unknown *u, pb_bytes kept, const uint32_t *known,
                     size_t nknown) {
  if (!u) return;
  pb_reader_init(&u->rd, kept.ptr, kept.len);
  u->known = known;
  u->nknown = nknown;
}

/* Binary search in the schema's ascending tags. */
static bool is_known(const pb_unknown *u, uint32_t tag) {
  size_t lo = 0, hi = u->nknown;
  while (lo < hi) {
    size_t mid = lo + (hi - lo) / 2;
    if (u->known[mid] == tag) return true;
    if (u->known[mid] < tag)
      lo = mid + 1;
    else
      hi = mid;
  }
  return false;
}

void pb_unknown_flush(pb_unknown *u, pb_buf *out, uint32_t below) {
  pb_field f;
  int rc;
  if (!u || !out) {
    if (out && out->err == PB_OK) out->err = PB_EINVAL;
    return;
  }
  for (;;) {
    const uint8_t *start = u->rd.pos;
    rc = pb_reader_next(&u->rd, &f);
    if (rc != 1) break;
    if (is_known(u, f.tag)) continue;
    if (f.tag >= below) {
      u->rd.pos = start; /* read it again at the next call */
      return;
    }
    pb_buf_append(out, start, (size_t)(u->rd.pos - start));
  }
  if (rc != 0 && out->err == PB_OK) out->err = PB_EINVAL;
  u->rd.pos = u->rd.end; /* nothing more to copy */
}
