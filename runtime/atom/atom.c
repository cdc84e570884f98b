/*
 * atom/atom.c - the atom envelope (see atom.h).
 */
#include "atom/atom.h"

#include "util/errdetail.h"

void pb__atom_begin(pb_buf *b, uint32_t type_id) {
  uint8_t format = PB__ATOM_FORMAT;
  pb_buf_append(b, &format, 1);
  pb_wire_put_varint(b, type_id);
}

int pb__atom_parse(pb_bytes atom, uint32_t *type_id, pb_bytes *body) {
  if (atom.len < 2)
    return PB__CORRUPT("atom of %zu bytes, shorter than its header", atom.len);
  if (atom.ptr[0] != PB__ATOM_FORMAT) return PB_EVERSION;
  pb_reader r;
  pb_reader_init(&r, atom.ptr + 1, atom.len - 1);
  uint64_t id;
  if (pb_reader_varint(&r, &id) != PB_OK || id == 0 || id >= PB__TYPE_MAX)
    return PB__CORRUPT("atom type id missing or out of range");
  *type_id = (uint32_t)id;
  body->ptr = r.pos;
  body->len = (size_t)(r.end - r.pos);
  return PB_OK;
}
