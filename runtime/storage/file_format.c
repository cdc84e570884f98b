/*
 * storage/file_format.c - encoding, decoding and validation of segment
 * headers, frame headers and commit records (layout in file_format.h).
 *
 * Decoders treat their input as hostile: every length is checked against
 * the bytes actually present before it is used, and nothing here
 * allocates except the explicit incremental hasher.
 */
#define XXH_STATIC_LINKING_ONLY /* XXH3_state_t on the stack */
#include "storage/file_format.h"

#include <assert.h>
#include <string.h>
#include <xxhash.h>

#include "atom/batch.h"
#include "util/endian.h"
#include "util/errdetail.h"

/* Offsets inside the segment header. */
enum {
  SH_MAGIC = 0,
  SH_VERSION = 8,
  SH_HEADER_SIZE = 12,
  SH_SEQ = 16,
  SH_ID = 24,
  SH_PREV = 40,
  SH_CHECKSUM = 56
};

/* Offsets inside the commit payload. */
enum {
  CR_LSN = 0,
  CR_BATCH_ID = 8,
  CR_ROOT = 24,
  CR_PREV_ROOT = 48,
  CR_BATCH_SIZE = 72
};

void pb__seg_header_encode(const pb__seg_header *h,
                           uint8_t out[PB__WAL_HEADER_SIZE]) {
  assert(h->seq >= 1);
  memset(out, 0, PB__WAL_HEADER_SIZE);
  memcpy(out + SH_MAGIC, PB__WAL_MAGIC, PB__WAL_MAGIC_SIZE);
  pb__store_le32(out + SH_VERSION, h->version);
  pb__store_le32(out + SH_HEADER_SIZE, PB__WAL_HEADER_SIZE);
  pb__store_le64(out + SH_SEQ, h->seq);
  pb__store_le64(out + SH_ID, h->id_hi);
  pb__store_le64(out + SH_ID + 8, h->id_lo);
  pb__store_le64(out + SH_PREV, h->prev_hi);
  pb__store_le64(out + SH_PREV + 8, h->prev_lo);
  pb__store_le64(out + SH_CHECKSUM, XXH3_64bits(out, SH_CHECKSUM));
}

int pb__seg_header_decode(const uint8_t *buf, size_t size, pb__seg_header *h,
                          const char **why) {
  if (size < PB__WAL_MAGIC_SIZE ||
      memcmp(buf + SH_MAGIC, PB__WAL_MAGIC, PB__WAL_MAGIC_SIZE) != 0) {
    *why = "bad magic (not a ProtoBase WAL segment)";
    return PB__CORRUPT("%s", *why);
  }
  if (size < SH_HEADER_SIZE) {
    *why = "truncated segment header";
    return PB__CORRUPT("%s", *why);
  }
  /* The version comes before the checksum: a later version may lay out
   * (and checksum) its header differently. */
  h->version = pb__load_le32(buf + SH_VERSION);
  if (h->version != PB__WAL_VERSION) {
    *why = "unknown segment format version";
    return PB_EVERSION;
  }
  if (size < PB__WAL_HEADER_SIZE) {
    *why = "truncated segment header";
    return PB__CORRUPT("%s", *why);
  }
  if (pb__load_le32(buf + SH_HEADER_SIZE) != PB__WAL_HEADER_SIZE) {
    *why = "bad segment header size";
    return PB__CORRUPT("%s", *why);
  }
  if (pb__load_le64(buf + SH_CHECKSUM) != XXH3_64bits(buf, SH_CHECKSUM)) {
    *why = "segment header checksum mismatch";
    return PB__CORRUPT("%s", *why);
  }
  h->seq = pb__load_le64(buf + SH_SEQ);
  h->id_hi = pb__load_le64(buf + SH_ID);
  h->id_lo = pb__load_le64(buf + SH_ID + 8);
  h->prev_hi = pb__load_le64(buf + SH_PREV);
  h->prev_lo = pb__load_le64(buf + SH_PREV + 8);
  if (h->seq == 0 || (h->id_hi | h->id_lo) == 0) {
    *why = "segment header has a zero sequence number or id";
    return PB__CORRUPT("%s", *why);
  }
  return PB_OK;
}

uint64_t pb__frame_checksum(const uint8_t head8[8], const uint8_t *payload,
                            size_t len) {
  XXH3_state_t state;
  XXH3_64bits_reset(&state);
  XXH3_64bits_update(&state, head8, 8);
  if (len > 0) XXH3_64bits_update(&state, payload, len);
  return XXH3_64bits_digest(&state);
}

/* The incremental hasher is an XXH3 state; the struct tag only names it. */
struct pb__frame_hasher {
  XXH3_state_t state; /* xxHash's streaming state */
};

pb__frame_hasher *pb__frame_hasher_new(const uint8_t head8[8]) {
  /* XXH3_createState returns memory aligned as XXH3_state_t needs. */
  pb__frame_hasher *hs = (pb__frame_hasher *)XXH3_createState();
  if (hs == NULL) return NULL;
  XXH3_64bits_reset(&hs->state);
  XXH3_64bits_update(&hs->state, head8, 8);
  return hs;
}

void pb__frame_hasher_update(pb__frame_hasher *hs, const void *p, size_t n) {
  if (n > 0) XXH3_64bits_update(&hs->state, p, n);
}

uint64_t pb__frame_hasher_digest(const pb__frame_hasher *hs) {
  return XXH3_64bits_digest(&hs->state);
}

void pb__frame_hasher_free(pb__frame_hasher *hs) {
  XXH3_freeState((XXH3_state_t *)hs);
}

void pb__frame_header_encode(uint8_t out[PB__FRAME_HEADER_SIZE], uint8_t type,
                             const uint8_t *payload, uint32_t len) {
  pb__store_le32(out, len);
  out[4] = type;
  out[5] = out[6] = out[7] = 0;
  pb__store_le64(out + 8, pb__frame_checksum(out, payload, len));
}

void pb__frame_header_encode2(uint8_t out[PB__FRAME_HEADER_SIZE], uint8_t type,
                              const uint8_t *a, size_t na, const uint8_t *b,
                              size_t nb) {
  assert(na + nb <= PB__FRAME_MAX_PAYLOAD);
  pb__store_le32(out, (uint32_t)(na + nb));
  out[4] = type;
  out[5] = out[6] = out[7] = 0;
  XXH3_state_t state;
  XXH3_64bits_reset(&state);
  XXH3_64bits_update(&state, out, 8);
  if (na > 0) XXH3_64bits_update(&state, a, na);
  if (nb > 0) XXH3_64bits_update(&state, b, nb);
  pb__store_le64(out + 8, XXH3_64bits_digest(&state));
}

int pb__frame_header_decode(const uint8_t in[PB__FRAME_HEADER_SIZE],
                            pb__frame_header *fh) {
  fh->len = pb__load_le32(in);
  fh->type = in[4];
  fh->checksum = pb__load_le64(in + 8);
  if (in[5] != 0 || in[6] != 0 || in[7] != 0)
    return PB__CORRUPT("frame header: non-zero reserved bytes");
  if (fh->type != PB__FRAME_COMMIT && fh->type != PB__FRAME_BATCH)
    return PB__CORRUPT("frame header: unknown frame type %u", fh->type);
  return PB_OK;
}

static void store_ptr(uint8_t *p, pb_atom_ptr a) {
  pb__store_le64(p, a.batch_hi);
  pb__store_le64(p + 8, a.batch_lo);
  pb__store_le64(p + 16, a.offset);
}

static pb_atom_ptr load_ptr(const uint8_t *p) {
  pb_atom_ptr a = {.batch_hi = pb__load_le64(p),
                   .batch_lo = pb__load_le64(p + 8),
                   .offset = pb__load_le64(p + 16)};
  return a;
}

void pb__commit_encode_fixed(const pb__commit_record *c,
                             uint8_t out[PB__COMMIT_FIXED_SIZE]) {
  assert(c->lsn >= 1);
  assert(c->batch_size <= PB__COMMIT_MAX_BATCH);
  pb__store_le64(out + CR_LSN, c->lsn);
  pb__store_le64(out + CR_BATCH_ID, c->batch_hi);
  pb__store_le64(out + CR_BATCH_ID + 8, c->batch_lo);
  store_ptr(out + CR_ROOT, c->root);
  store_ptr(out + CR_PREV_ROOT, c->prev_root);
  pb__store_le64(out + CR_BATCH_SIZE, c->batch_size);
}

int pb__commit_decode(const uint8_t *payload, size_t len,
                      pb__commit_record *c, const char **why) {
  if (len < PB__COMMIT_FIXED_SIZE) {
    *why = "commit record shorter than its fixed part";
    return PB__CORRUPT("%s", *why);
  }
  c->lsn = pb__load_le64(payload + CR_LSN);
  c->batch_hi = pb__load_le64(payload + CR_BATCH_ID);
  c->batch_lo = pb__load_le64(payload + CR_BATCH_ID + 8);
  c->root = load_ptr(payload + CR_ROOT);
  c->prev_root = load_ptr(payload + CR_PREV_ROOT);
  c->batch_size = pb__load_le64(payload + CR_BATCH_SIZE);
  c->batch = payload + PB__COMMIT_FIXED_SIZE;
  if (c->batch_size != len - PB__COMMIT_FIXED_SIZE) {
    *why = "commit record's batch size disagrees with the frame length";
    return PB__CORRUPT("%s", *why);
  }
  if (c->lsn == 0) {
    *why = "commit record has LSN 0";
    return PB__CORRUPT("%s", *why);
  }
  bool zero_id = (c->batch_hi | c->batch_lo) == 0;
  if (zero_id != (c->batch_size == 0)) {
    *why = "commit record's batch id and batch size disagree";
    return PB__CORRUPT("%s", *why);
  }
  if (pb__batch_check(c->batch, c->batch_size) != PB_OK) {
    *why = "commit record's batch is malformed";
    return PB__CORRUPT("%s", *why);
  }
  return PB_OK;
}

void pb__batchframe_encode_fixed(uint64_t id_hi, uint64_t id_lo,
                                 uint8_t out[PB__BATCH_FIXED_SIZE]) {
  pb__store_le64(out, id_hi);
  pb__store_le64(out + 8, id_lo);
}

int pb__batchframe_decode(const uint8_t *payload, size_t len, uint64_t *id_hi,
                          uint64_t *id_lo, const uint8_t **data, size_t *size,
                          const char **why) {
  if (len <= PB__BATCH_FIXED_SIZE) {
    *why = "batch frame without atoms";
    return PB__CORRUPT("%s", *why);
  }
  *id_hi = pb__load_le64(payload);
  *id_lo = pb__load_le64(payload + 8);
  *data = payload + PB__BATCH_FIXED_SIZE;
  *size = len - PB__BATCH_FIXED_SIZE;
  if ((*id_hi | *id_lo) == 0) {
    *why = "batch frame with a zero batch id";
    return PB__CORRUPT("%s", *why);
  }
  if (pb__batch_check(*data, *size) != PB_OK) {
    *why = "batch frame's atoms are malformed";
    return PB__CORRUPT("%s", *why);
  }
  return PB_OK;
}
