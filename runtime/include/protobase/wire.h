/*
 * protobase/wire.h - the field-tagged binary encoding that generated code uses.
 *
 * A record body is a sequence of fields.  Each field starts with a key, the
 * varint (tag << 3 | wire_type), followed by its value:
 *
 *   PB_WT_VARINT (0)  LEB128 varint: bool, enums, unsigned ints, and signed
 *                     ints in zigzag form;
 *   PB_WT_I64    (1)  8 bytes little-endian: float64;
 *   PB_WT_LEN    (2)  varint length, then that many bytes: string, bytes;
 *   PB_WT_I32    (5)  4 bytes little-endian: float32.
 *
 * Encoders write fields in ascending tag order and omit a field whose value
 * equals its default, so one value has exactly one encoding.  docs/format.md
 * describes the bytes; this header is the C side of it.
 *
 * Writers (pb_buf) keep a sticky error: after the first failed allocation
 * every later write is a no-op, and pb_buf_error() reports PB_ENOMEM once at
 * the end.  Readers (pb_reader) never read outside [data, data + size) and
 * never allocate: a malformed input gives PB_ECORRUPT.
 *
 * Thread safety: a pb_buf or pb_reader belongs to one thread at a time; the
 * functions keep no global state.
 */
#ifndef PROTOBASE_WIRE_H
#define PROTOBASE_WIRE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "protobase/errors.h"

#ifdef __cplusplus
extern "C" {
#endif

/** The largest tag a field may have (as in protobuf: 2^29 - 1). */
#define PB_TAG_MAX 536870911u

/** Wire types: how a field's value is laid out after its key. */
enum pb_wire_type {
  PB_WT_VARINT = 0,
  PB_WT_I64 = 1,
  PB_WT_LEN = 2,
  PB_WT_I32 = 5
};

/**
 * A zero-copy view of UTF-8 text: `ptr` is NOT NUL-terminated.  The bytes
 * belong to whoever produced the view; its lifetime is stated where the view
 * is returned (for a decoded record: as long as the decoded bytes, and for a
 * record loaded in a transaction: until that transaction ends).
 */
typedef struct pb_str {
  const char *ptr; /* first byte, or NULL when len == 0 */
  size_t len;      /* length in bytes */
} pb_str;

/** A zero-copy view of bytes, with the same lifetime rules as pb_str. */
typedef struct pb_bytes {
  const uint8_t *ptr; /* first byte, or NULL when len == 0 */
  size_t len;         /* length in bytes */
} pb_bytes;

/** Makes a pb_str view of a NUL-terminated C string (NULL gives ""). */
pb_str pb_str_from_cstr(const char *s);

/** A growable output buffer with a sticky error. */
typedef struct pb_buf {
  uint8_t *data; /* heap storage, owned by the buffer */
  size_t len;    /* bytes written */
  size_t cap;    /* bytes allocated */
  int err;       /* PB_OK, or the first error (PB_ENOMEM, PB_ETOOBIG) */
} pb_buf;

/** Initializes an empty buffer.  Allocates nothing. */
void pb_buf_init(pb_buf *b);
/** Frees the buffer's storage and leaves it empty, ready for reuse. */
void pb_buf_free(pb_buf *b);
/** Empties the buffer and clears its error, keeping its storage. */
void pb_buf_reset(pb_buf *b);
/**
 * Ensures room for `extra` more bytes.  Returns PB_OK, or PB_ENOMEM (also
 * made sticky), or the buffer's earlier error.
 */
int pb_buf_reserve(pb_buf *b, size_t extra);
/** Appends raw bytes (no-op once the buffer has an error). */
void pb_buf_append(pb_buf *b, const void *data, size_t size);
/** Returns the buffer's sticky error: PB_OK, PB_ENOMEM or PB_ETOOBIG. */
static inline int pb_buf_error(const pb_buf *b) { return b->err; }

/* --- Writers: each appends one complete field (key and value). --- */

/** Appends a raw LEB128 varint (no key). */
void pb_wire_put_varint(pb_buf *b, uint64_t v);
/** Field with an unsigned integer, bool or enum value (PB_WT_VARINT). */
void pb_wire_put_uint(pb_buf *b, uint32_t tag, uint64_t v);
/** Field with a signed integer in zigzag form (PB_WT_VARINT). */
void pb_wire_put_sint(pb_buf *b, uint32_t tag, int64_t v);
/** Field with a bool (PB_WT_VARINT, 0 or 1). */
void pb_wire_put_bool(pb_buf *b, uint32_t tag, bool v);
/** Field with a float32 (PB_WT_I32). */
void pb_wire_put_float(pb_buf *b, uint32_t tag, float v);
/** Field with a float64 (PB_WT_I64). */
void pb_wire_put_double(pb_buf *b, uint32_t tag, double v);
/** Field with a length-delimited payload (PB_WT_LEN). */
void pb_wire_put_len(pb_buf *b, uint32_t tag, const void *data, size_t size);
/** Field with a string view (PB_WT_LEN). */
void pb_wire_put_str(pb_buf *b, uint32_t tag, pb_str s);
/** Field with a bytes view (PB_WT_LEN). */
void pb_wire_put_bytes(pb_buf *b, uint32_t tag, pb_bytes v);

/* --- Readers. --- */

/** A cursor over encoded bytes.  It never reads outside them. */
typedef struct pb_reader {
  const uint8_t *pos; /* next byte to read */
  const uint8_t *end; /* one past the last byte */
} pb_reader;

/** One decoded field.  `data` points into the reader's input. */
typedef struct pb_field {
  uint32_t tag;        /* 1 .. PB_TAG_MAX */
  uint8_t wire_type;   /* one of enum pb_wire_type */
  uint64_t value;      /* the varint, or the raw I32 / I64 bits */
  const uint8_t *data; /* PB_WT_LEN: the payload */
  size_t size;         /* PB_WT_LEN: payload length */
} pb_field;

/** Starts reading `size` bytes at `data`. */
void pb_reader_init(pb_reader *r, const void *data, size_t size);

/**
 * Reads the next field.  Returns 1 and fills *f when a field was read, 0 at
 * the end of the input, or PB_ECORRUPT for a truncated varint or payload, a
 * tag of 0 or above PB_TAG_MAX, or an unknown wire type.
 */
int pb_reader_next(pb_reader *r, pb_field *f);

/** Reads a raw varint.  Returns PB_OK or PB_ECORRUPT. */
int pb_reader_varint(pb_reader *r, uint64_t *out);

/*
 * Typed accessors for a field read by pb_reader_next.  Each returns PB_OK, or
 * PB_ECORRUPT when the wire type does not match the expected type or the
 * value does not fit the C type (for example 300 in a uint8 field).
 */
int pb_field_u64(const pb_field *f, uint64_t *out);
int pb_field_u32(const pb_field *f, uint32_t *out);
int pb_field_u16(const pb_field *f, uint16_t *out);
int pb_field_u8(const pb_field *f, uint8_t *out);
int pb_field_i64(const pb_field *f, int64_t *out);
int pb_field_i32(const pb_field *f, int32_t *out);
int pb_field_i16(const pb_field *f, int16_t *out);
int pb_field_i8(const pb_field *f, int8_t *out);
int pb_field_bool(const pb_field *f, bool *out);
int pb_field_float(const pb_field *f, float *out);
int pb_field_double(const pb_field *f, double *out);
/** A string view into the input; PB_ECORRUPT also for invalid UTF-8. */
int pb_field_str(const pb_field *f, pb_str *out);
/** A bytes view into the input. */
int pb_field_bytes(const pb_field *f, pb_bytes *out);

/** Returns true when `s` is well-formed UTF-8 (no overlongs, no surrogates). */
bool pb_utf8_valid(const void *s, size_t size);

#ifdef __cplusplus
}
#endif
#endif /* PROTOBASE_WIRE_H */
