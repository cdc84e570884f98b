/*
 * collections/dict_slots.c - the HASH SLOTS of a cached leaf
 * (collections/dict_int.h: pb__dslots): a table at the end of the leaf's
 * block where each entry's key and value are copied at the place the
 * key's hash gives, so that a get that has only the link to the leaf can
 * ask for that place's lines at once and answer from them (dict_node.c
 * builds the table in block_build and keeps each linked child's GEO
 * beside its link; dict_inplace.c's get reads it).
 *
 * A slot is [u8 used][u8 value kind][u16 key length][u32 value length]
 * [u64 record fingerprint], then the key's bytes and the value's: SLOT_HEAD
 * bytes and the entry, in a stride of SLOT_ALIGN bytes, at most SLOT_MAX.
 * A leaf of n entries has 2n slots (half full: a get reads 1.5 slots on
 * average when its key is there, 2.5 when not), placed by linear probing
 * from the key's hash.  The GEO (32 bits) places the table for a reader
 * that has only the block's address: its offset from the block's start in
 * lines (16 bits), the slots (12 bits), the stride in SLOT_ALIGN units less
 * one (4 bits); 0 means none.
 */
#include <assert.h>
#include <string.h>
#include <xxhash.h>

#include "collections/dict_int.h"

#define SLOT_HEAD 16u
#define SLOT_ALIGN 16u
#define SLOT_MAX 256u
#define SLOT_COUNT_MAX 0xfffu
#define LINE 64u

_Thread_local uint64_t pb__dict_slot_gets;

/* The first slot of `key` among `slots`: its hash's top 32 bits scaled to
 * [0, slots). */
static size_t slot_of(pb_str key, size_t slots) {
  uint64_t h = XXH3_64bits(key.ptr, key.len) >> 32;
  return (size_t)((h * slots) >> 32);
}

bool pb__dict_value_view(const pb_value *v, const void **p, size_t *len) {
  switch (v->kind) {
    case PB_VALUE_STRING:
      *p = v->as.s.ptr, *len = v->as.s.len;
      return true;
    case PB_VALUE_BYTES:
      *p = v->as.bytes.ptr, *len = v->as.bytes.len;
      return true;
    case PB_VALUE_RECORD:
      *p = v->as.rec.body.ptr, *len = v->as.rec.body.len;
      return true;
    default:
      return false;
  }
}

size_t pb__dslots_count(size_t n) { return 2 * n; }

size_t pb__dslots_stride(const pb__ddir *dir, size_t m) {
  size_t widest = 0;
  for (size_t i = 0; i < m; i++) {
    size_t at = pb__ddir_off(dir, i);
    size_t end = i + 1 < m ? pb__ddir_off(dir, i + 1) : dir->span;
    if (end <= at || end > dir->span) return 0;
    if (end - at > widest) widest = end - at;
  }
  if (m == 0 || widest > SLOT_MAX - SLOT_HEAD) return 0;
  return (SLOT_HEAD + widest + SLOT_ALIGN - 1) / SLOT_ALIGN * SLOT_ALIGN;
}

uint32_t pb__dslots_geo(size_t offset, size_t slots, size_t stride) {
  assert(offset % LINE == 0 && stride % SLOT_ALIGN == 0 && stride > 0 &&
         stride <= SLOT_MAX && slots > 0);
  if (offset / LINE > 0xffffu || slots > SLOT_COUNT_MAX) return 0;
  return (uint32_t)(offset / LINE) | (uint32_t)slots << 16 |
         (uint32_t)(stride / SLOT_ALIGN - 1) << 28;
}

bool pb__dslots_fill(const pb__dnode *leaf, uint8_t *area, size_t stride,
                     size_t slots) {
  assert(slots > leaf->n); /* an empty slot ends every probe */
  for (size_t i = 0; i < leaf->n; i++) {
    const pb__dent *e = &leaf->ents[i];
    const void *v;
    size_t vlen;
    if (!pb__dict_value_view(&e->val, &v, &vlen) ||
        SLOT_HEAD + e->key.len + vlen > stride)
      return false;
    size_t j = slot_of(e->key, slots);
    while (area[j * stride]) j = j + 1 < slots ? j + 1 : 0;
    uint8_t *q = area + j * stride;
    uint16_t klen = (uint16_t)e->key.len;
    uint32_t vl = (uint32_t)vlen;
    uint64_t fp = e->val.kind == PB_VALUE_RECORD ? e->val.as.rec.fingerprint
                                                 : 0;
    q[0] = 1;
    q[1] = (uint8_t)e->val.kind;
    memcpy(q + 2, &klen, 2);
    memcpy(q + 4, &vl, 4);
    memcpy(q + 8, &fp, 8);
    memcpy(q + SLOT_HEAD, e->key.ptr, e->key.len);
    if (vlen) memcpy(q + SLOT_HEAD + e->key.len, v, vlen);
  }
  return true;
}

void pb__dslots_at(const void *block, uint32_t geo, pb_str key,
                   pb__dslots *out) {
  assert(geo != 0);
  out->area = (const uint8_t *)block + (size_t)(geo & 0xffffu) * LINE;
  out->slots = (geo >> 16) & SLOT_COUNT_MAX;
  out->stride = (size_t)((geo >> 28) + 1) * SLOT_ALIGN;
  out->at = slot_of(key, out->slots);
  /* The slot's lines, and the next slot's first (a probe that goes on). */
  uintptr_t q = (uintptr_t)(out->area + out->at * out->stride);
  for (uintptr_t l = q & ~(uintptr_t)(LINE - 1);
       l < q + out->stride + SLOT_HEAD; l += LINE)
    __builtin_prefetch((const void *)l);
}

int pb__dict_slot_get(const pb__dslots *s, pb_str key, pb_value *out) {
  for (size_t j = s->at;; j = j + 1 < s->slots ? j + 1 : 0) {
    const uint8_t *q = s->area + j * s->stride;
    if (!q[0]) return PB_ENOTFOUND; /* half full: an empty slot ends it */
    uint16_t klen;
    memcpy(&klen, q + 2, 2);
    if (klen != key.len || memcmp(q + SLOT_HEAD, key.ptr, key.len) != 0)
      continue;
    uint32_t vlen;
    memcpy(&vlen, q + 4, 4);
    const uint8_t *v = q + SLOT_HEAD + klen;
    out->kind = (pb_value_kind)q[1];
    if (out->kind == PB_VALUE_STRING) {
      out->as.s = (pb_str){(const char *)v, vlen};
    } else if (out->kind == PB_VALUE_BYTES) {
      out->as.bytes = (pb_bytes){v, vlen};
    } else {
      assert(out->kind == PB_VALUE_RECORD);
      memcpy(&out->as.rec.fingerprint, q + 8, 8);
      out->as.rec.body = (pb_bytes){v, vlen};
    }
    pb__dict_slot_gets++;
    return PB_OK;
  }
}
