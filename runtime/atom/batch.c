/*
 * atom/batch.c - building and reading commit batches (see batch.h).
 */
#include "atom/batch.h"

#include <assert.h>
#include <string.h>

#include "util/endian.h"
#include "util/errdetail.h"
#include "util/random.h"

int pb__batch_init(pb__batch_builder *bb) {
  pb_buf_init(&bb->buf);
  return pb__random_id(&bb->id_hi, &bb->id_lo);
}

void pb__batch_free(pb__batch_builder *bb) { pb_buf_free(&bb->buf); }

int pb__batch_add(pb__batch_builder *bb, const void *atom, size_t size,
                  pb_atom_ptr *out) {
  if (size > PB__ATOM_MAX_SIZE ||
      bb->buf.len + 4 + (uint64_t)size > PB__BATCH_MAX_SIZE)
    return PB_ETOOBIG;
  int rc = pb_buf_reserve(&bb->buf, 4 + size);
  if (rc != PB_OK) return rc;
  uint64_t offset = bb->buf.len;
  pb__store_le32(bb->buf.data + bb->buf.len, (uint32_t)size);
  if (size) memcpy(bb->buf.data + bb->buf.len + 4, atom, size);
  bb->buf.len += 4 + size;
  out->batch_hi = bb->id_hi;
  out->batch_lo = bb->id_lo;
  out->offset = offset;
  return PB_OK;
}

int pb__batch_atom(const uint8_t *data, size_t size, uint64_t offset,
                   pb_bytes *out) {
  if (offset >= size || size - offset < 4) return PB_ENOTFOUND;
  uint32_t n = pb__load_le32(data + offset);
  if (n > size - offset - 4)
    return PB__CORRUPT("atom length %" PRIu32 " at batch offset %" PRIu64
                       " runs past the batch (%zu bytes)",
                       n, offset, size);
  out->ptr = data + offset + 4;
  out->len = n;
  return PB_OK;
}

int pb__batch_check(const uint8_t *data, size_t size) {
  size_t pos = 0;
  while (pos < size) {
    if (size - pos < 4)
      return PB__CORRUPT("truncated atom length at batch offset %zu of %zu",
                         pos, size);
    uint32_t n = pb__load_le32(data + pos);
    if (n > size - pos - 4 || n > PB__ATOM_MAX_SIZE)
      return PB__CORRUPT(
          "atom length %" PRIu32
          " at batch offset %zu runs past the batch (%zu bytes) or the limit",
          n, pos, size);
    pos += 4 + (size_t)n;
  }
  assert(pos == size);
  return PB_OK;
}
