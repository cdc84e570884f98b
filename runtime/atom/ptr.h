/*
 * atom/ptr.h - the fixed-size encoding of an atom pointer, shared by the
 * wire format (PB_WT_PTR fields, wire.c) and tagged values (REF, value.c).
 *
 *   batch_hi  u64 little-endian
 *   batch_lo  u64 little-endian
 *   offset    u32 little-endian
 *
 * The size never depends on the value, so compaction can rewrite a pointer
 * in place in a copy of an atom (refs.h finds where) without moving any
 * other byte.  An offset above UINT32_MAX has no encoding: writers check
 * for it and report PB_EINVAL before calling pb__ptr_store.
 */
#ifndef PB_ATOM_PTR_H
#define PB_ATOM_PTR_H

#include "protobase/protobase.h"
#include "util/endian.h"

/** Bytes of one encoded pointer. */
#define PB__PTR_SIZE 20

/** Writes `p` to out[0..PB__PTR_SIZE).  Requires p->offset <= UINT32_MAX. */
static inline void pb__ptr_store(uint8_t *out, const pb_atom_ptr *p) {
  pb__store_le64(out, p->batch_hi);
  pb__store_le64(out + 8, p->batch_lo);
  pb__store_le32(out + 16, (uint32_t)p->offset);
}

/** Reads a pointer from in[0..PB__PTR_SIZE).  Every 20 bytes are valid. */
static inline pb_atom_ptr pb__ptr_load(const uint8_t *in) {
  pb_atom_ptr p;
  p.batch_hi = pb__load_le64(in);
  p.batch_lo = pb__load_le64(in + 8);
  p.offset = pb__load_le32(in + 16);
  return p;
}

#endif /* PB_ATOM_PTR_H */
