/*
 * storage/file_format.h - the bytes of a WAL segment (docs/storage.md has
 * the same layout as a table).  Pure encode/decode/validate functions: no
 * I/O, no allocation, so they are easy to test and to fuzz.
 *
 * Segment file "seg-<16 hex digits of seq>.wal":
 *
 *   header, 64 bytes, all integers little-endian:
 *     0   8  magic "PBWAL\r\n\x1a" (the \r\n and ^Z catch text-mode copies)
 *     8   4  format version (1)
 *    12   4  header size (64)
 *    16   8  sequence number (1, 2, ... contiguous)
 *    24  16  segment id (random; hi then lo)
 *    40  16  previous segment's id; zeros for a segment that STARTS
 *            the log (sequence number 1, or the output of a compaction:
 *            recovery starts at the newest such segment, see
 *            file_recover.c)
 *    56   8  XXH3-64 of bytes [0, 56)
 *
 *   then frames, each starting at an 8-byte aligned offset:
 *     0   4  payload length L
 *     4   1  type (1 = COMMIT, 2 = BATCH)
 *     5   3  reserved, zero
 *     8   8  XXH3-64 of (bytes [0, 8) of this frame header ++ payload)
 *    16   L  payload
 *   16+L  .  zero padding to the next multiple of 8 (not checksummed)
 *
 *   COMMIT payload (80 bytes, then the batch):
 *     0   8  LSN (+1 from the previous commit; the log's first commit
 *            has LSN 1, or any LSN after a compaction)
 *     8  16  batch id (hi, lo); zero only when the batch is empty
 *    24  24  new root: batch_hi, batch_lo, offset
 *    48  24  previous root (the root this commit replaced)
 *    72   8  batch size B (= L - 80)
 *    80   B  batch bytes (atom/batch.h): atoms, each u32 length + bytes
 *
 *   BATCH payload (16 bytes, then the batch), written only by compaction,
 *   only at the start of a segment that starts the log, before its first
 *   commit: the relocated atoms, under a fresh batch id:
 *     0  16  batch id (hi, lo), never zero
 *    16   B  batch bytes (B = L - 16 > 0)
 *
 * Since frames and the header are multiples of 8, batch bytes always start
 * 8-aligned in the file, and so in a mapping of it.
 */
#ifndef PB_STORAGE_FILE_FORMAT_H
#define PB_STORAGE_FILE_FORMAT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "protobase/protobase.h"

#define PB__WAL_MAGIC "PBWAL\r\n\x1a"       /* 8 bytes, no NUL stored */
#define PB__WAL_MAGIC_SIZE 8u
#define PB__WAL_VERSION 1u                  /* the only version we read */
#define PB__WAL_HEADER_SIZE 64u             /* segment header bytes */
#define PB__FRAME_HEADER_SIZE 16u           /* frame header bytes */
#define PB__FRAME_ALIGN 8u                  /* frames start 8-aligned */
#define PB__FRAME_COMMIT 1u                 /* frame type: commit record */
#define PB__FRAME_BATCH 2u                  /* frame type: relocated batch */
#define PB__BATCH_FIXED_SIZE 16u            /* batch payload before bytes */
#define PB__COMMIT_FIXED_SIZE 80u           /* commit payload before batch */
#define PB__FRAME_MAX_PAYLOAD UINT32_MAX    /* L is a u32 */
/* The largest batch one commit frame can carry. */
#define PB__COMMIT_MAX_BATCH (PB__FRAME_MAX_PAYLOAD - PB__COMMIT_FIXED_SIZE)

/** A decoded segment header. */
typedef struct pb__seg_header {
  uint32_t version; /* PB__WAL_VERSION */
  uint64_t seq;     /* sequence number, from 1 */
  uint64_t id_hi;   /* this segment's random id */
  uint64_t id_lo;
  uint64_t prev_hi; /* previous segment's id; zero for seq 1 */
  uint64_t prev_lo;
} pb__seg_header;

/** Writes the 64-byte header for `h`, checksum included. */
void pb__seg_header_encode(const pb__seg_header *h,
                           uint8_t out[PB__WAL_HEADER_SIZE]);
/**
 * Decodes and validates a header from the first `size` bytes of a file,
 * checking magic, then version, then header size and checksum.
 * Errors: PB_ECORRUPT (too short, bad magic, size or checksum);
 * PB_EVERSION (a valid magic with an unknown version).  On error, *why is
 * a short static phrase for a message.
 */
int pb__seg_header_decode(const uint8_t *buf, size_t size, pb__seg_header *h,
                          const char **why);

/** A decoded frame header. */
typedef struct pb__frame_header {
  uint32_t len;      /* payload length */
  uint8_t type;      /* PB__FRAME_COMMIT */
  uint64_t checksum; /* as stored */
} pb__frame_header;

/** Bytes a frame with an `len`-byte payload occupies, padding included. */
static inline uint64_t pb__frame_size(uint64_t len) {
  uint64_t n = PB__FRAME_HEADER_SIZE + len;
  return (n + PB__FRAME_ALIGN - 1) & ~(uint64_t)(PB__FRAME_ALIGN - 1);
}

/**
 * Writes the 16-byte frame header for a payload; the payload must already
 * be final, since the header's checksum covers it.
 */
void pb__frame_header_encode(uint8_t out[PB__FRAME_HEADER_SIZE], uint8_t type,
                             const uint8_t *payload, uint32_t len);
/**
 * The same for a payload in two parts, `a` then `b` (len = na + nb), so
 * that a commit can checksum its record and the batch where each lies and
 * write them with one pwritev.
 */
void pb__frame_header_encode2(uint8_t out[PB__FRAME_HEADER_SIZE], uint8_t type,
                              const uint8_t *a, size_t na, const uint8_t *b,
                              size_t nb);
/**
 * Parses a frame header without looking at the payload.
 * Errors: PB_ECORRUPT (unknown type or non-zero reserved bytes).
 */
int pb__frame_header_decode(const uint8_t in[PB__FRAME_HEADER_SIZE],
                            pb__frame_header *fh);
/** XXH3-64 over the first 8 bytes of a frame header, then the payload. */
uint64_t pb__frame_checksum(const uint8_t head8[8], const uint8_t *payload,
                            size_t len);

/** An incremental form of pb__frame_checksum, for payloads read in parts. */
typedef struct pb__frame_hasher pb__frame_hasher;
/** Allocates a hasher seeded with a frame header's first 8 bytes.
 * Returns NULL when out of memory. */
pb__frame_hasher *pb__frame_hasher_new(const uint8_t head8[8]);
void pb__frame_hasher_update(pb__frame_hasher *hs, const void *p, size_t n);
uint64_t pb__frame_hasher_digest(const pb__frame_hasher *hs);
void pb__frame_hasher_free(pb__frame_hasher *hs);

/** A decoded commit record. */
typedef struct pb__commit_record {
  uint64_t lsn;          /* commit sequence number, from 1 */
  uint64_t batch_hi;     /* batch id; zero only with no batch bytes */
  uint64_t batch_lo;
  pb_atom_ptr root;      /* the root this commit publishes */
  pb_atom_ptr prev_root; /* the root it replaced (its CAS `expected`) */
  uint64_t batch_size;   /* bytes at batch */
  const uint8_t *batch;  /* decode: points into the payload; encode: unused */
} pb__commit_record;

/** Writes the 16 fixed bytes of a BATCH payload (its id). */
void pb__batchframe_encode_fixed(uint64_t id_hi, uint64_t id_lo,
                                 uint8_t out[PB__BATCH_FIXED_SIZE]);
/**
 * Decodes and validates a BATCH payload: a non-zero id and a non-empty,
 * well-formed batch.  *data / *size give the batch bytes inside payload.
 * Errors: PB_ECORRUPT, with *why set.
 */
int pb__batchframe_decode(const uint8_t *payload, size_t len, uint64_t *id_hi,
                          uint64_t *id_lo, const uint8_t **data, size_t *size,
                          const char **why);

/** Writes the 80 fixed bytes of a commit payload (not the batch). */
void pb__commit_encode_fixed(const pb__commit_record *c,
                             uint8_t out[PB__COMMIT_FIXED_SIZE]);
/**
 * Decodes and deeply validates a commit payload: length consistent with the
 * batch size, batch id zero exactly when the batch is empty, the batch
 * well-formed (pb__batch_check).  Errors: PB_ECORRUPT, with *why set.
 */
int pb__commit_decode(const uint8_t *payload, size_t len,
                      pb__commit_record *c, const char **why);

#endif /* PB_STORAGE_FILE_FORMAT_H */
