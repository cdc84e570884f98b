/*
 * protobase/key.h - the order-preserving key codec: typed key values to
 * bytes whose bytewise order (memcmp, the shorter first on a common prefix)
 * is the values' natural order.
 *
 * Typed tables keep each record in a Dictionary under the encoding of its
 * primary key, and each secondary index entry under enc(index fields...,
 * primary key).  A key is a sequence of components, each encoded by the
 * put function of its declared type and appended to the previous ones:
 *
 *   bool              1 byte, 0x00 or 0x01;
 *   uint8 .. uint64   1, 2, 4 or 8 bytes big-endian (the declared width);
 *   int8 .. int64     the same, with the sign bit flipped (an enum is an
 *                     int32);
 *   float32, float64  the IEEE bits big-endian, transformed: a negative
 *                     number has all its bits inverted, a positive one its
 *                     sign bit set.  -0.0 is written as +0.0, and every NaN
 *                     as the one canonical NaN, which sorts after +inf;
 *   string, bytes     each byte as itself, except 0x00 written 0x00 0xFF,
 *                     then the terminator 0x00 0x01.
 *
 * Each component's encoding is prefix-free (none is a proper prefix of
 * another of its type), so a composite key orders by its first component,
 * then by the second, and so on.  docs/format.md ("Key encoding") gives the
 * bytes and the proof.  Descending components do not exist.
 *
 * Writing: a pb_keybuf holds the key being built, inline up to
 * PB_KEY_INLINE bytes and on the heap beyond, up to PB_KEY_MAX bytes.  Like
 * pb_buf (protobase/wire.h) it keeps a sticky error: after the first
 * failure every put is a no-op, and pb_keybuf_error() reports that first
 * error once at the end.
 *
 * Reading: a pb_keyreader takes the components back, in the order they
 * were written, from bytes that may be hostile: every get and skip checks
 * its bounds, never reads outside [data, data + size), never allocates on
 * an error, and accepts exactly the bytes the matching put writes (so a
 * decoded value re-encodes to the very bytes it came from).  Anything else
 * is PB_ECORRUPT, with pb_errdetail() saying what was wrong.
 *
 * Ranges: every key that starts with a prefix P lies in
 * [P, pb_key_prefix_successor(P)), so an equality on the first fields of an
 * index (or a string prefix, with pb_key_put_str_prefix) is a range scan.
 *
 * NULL arguments: a function that returns an error code returns PB_EINVAL
 * for a NULL pointer argument.  A put given a NULL pb_keybuf does nothing;
 * given a pb_str or pb_bytes whose pointer is NULL while its length is not
 * 0, it writes nothing and makes the sticky error PB_EINVAL.
 * pb_keybuf_init, pb_keybuf_reset and pb_keybuf_free do nothing with NULL.
 *
 * This header is not included by protobase/protobase.h: generated table
 * code and programs that build keys include it themselves.
 *
 * Thread safety: a pb_keybuf or pb_keyreader belongs to one thread at a
 * time; the functions keep no global state (pb_errdetail() is per thread).
 */
#ifndef PROTOBASE_KEY_H
#define PROTOBASE_KEY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "protobase/errors.h"
#include "protobase/wire.h" /* pb_str, pb_bytes, pb_arena */

#ifdef __cplusplus
extern "C" {
#endif

/** The longest key in bytes (the Dictionary's key limit). */
#define PB_KEY_MAX 4096

/** Bytes a pb_keybuf holds before it allocates. */
#define PB_KEY_INLINE 128

/**
 * A key being built.  `ptr` points at `inline_` until the key outgrows it,
 * then at heap memory the buffer owns, so a pb_keybuf must NOT be copied by
 * assignment (the copy would point into the original, or share its heap
 * block): pass it by pointer.  Read the key through ptr and len, or
 * pb_keybuf_bytes().
 */
typedef struct pb_keybuf {
  uint8_t *ptr; /* the key's first byte: inline_, or the heap block */
  size_t len;   /* bytes written */
  size_t cap;   /* bytes available at ptr */
  int err;      /* PB_OK, or the first error (PB_ENOMEM, PB_ETOOBIG,
                   PB_EINVAL: see pb_keybuf_error) */
  uint8_t inline_[PB_KEY_INLINE]; /* storage of keys up to PB_KEY_INLINE */
} pb_keybuf;

/** Makes `k` an empty key over its inline storage.  Allocates nothing. */
void pb_keybuf_init(pb_keybuf *k);

/** Empties the key and clears its error, keeping its storage. */
void pb_keybuf_reset(pb_keybuf *k);

/** Frees the heap block, if any, and leaves `k` empty, ready for reuse. */
void pb_keybuf_free(pb_keybuf *k);

/**
 * Returns the sticky error: PB_OK; PB_ETOOBIG (the key would exceed
 * PB_KEY_MAX bytes); PB_ENOMEM (growing past PB_KEY_INLINE failed);
 * PB_EINVAL (a string that is not UTF-8, or a NULL view with a non-zero
 * length); PB_EINVAL also for k == NULL.  Once it is not PB_OK, the bytes
 * in the buffer are not a key.
 */
static inline int pb_keybuf_error(const pb_keybuf *k) {
  return k ? k->err : PB_EINVAL;
}

/** A view of the key's bytes (empty for NULL), valid until the next put,
 * reset or free. */
static inline pb_bytes pb_keybuf_bytes(const pb_keybuf *k) {
  pb_bytes v = {NULL, 0};
  if (k && k->len) {
    v.ptr = k->ptr;
    v.len = k->len;
  }
  return v;
}

/* --- Encoders: each appends one component (no-op once `k` has an error). */

void pb_key_put_bool(pb_keybuf *k, bool v);
void pb_key_put_u8(pb_keybuf *k, uint8_t v);
void pb_key_put_u16(pb_keybuf *k, uint16_t v);
void pb_key_put_u32(pb_keybuf *k, uint32_t v);
void pb_key_put_u64(pb_keybuf *k, uint64_t v);
void pb_key_put_i8(pb_keybuf *k, int8_t v);
void pb_key_put_i16(pb_keybuf *k, int16_t v);
/** Also enums: an enum value is written as its int32. */
void pb_key_put_i32(pb_keybuf *k, int32_t v);
void pb_key_put_i64(pb_keybuf *k, int64_t v);
/** -0.0 is written as +0.0, every NaN as the canonical NaN (after +inf). */
void pb_key_put_f32(pb_keybuf *k, float v);
/** -0.0 is written as +0.0, every NaN as the canonical NaN (after +inf). */
void pb_key_put_f64(pb_keybuf *k, double v);
/** A string: text that is not valid UTF-8 writes nothing and makes the
 * sticky error PB_EINVAL (as pb_dict_put and pb_wire_put_str refuse it). */
void pb_key_put_str(pb_keybuf *k, pb_str s);
/** A bytes value: any bytes. */
void pb_key_put_bytes(pb_keybuf *k, pb_bytes v);

/**
 * The escaped bytes of `s` WITHOUT the terminator: not a component, but the
 * last piece of a range prefix.  The keys whose string component (at this
 * position) starts with `s` are exactly those that start with the bytes
 * written so far, so they lie in [prefix, pb_key_prefix_successor(prefix)).
 * Invalid UTF-8 is PB_EINVAL as in pb_key_put_str.
 */
void pb_key_put_str_prefix(pb_keybuf *k, pb_str s);
/** Like pb_key_put_str_prefix, for a bytes component. */
void pb_key_put_bytes_prefix(pb_keybuf *k, pb_bytes v);

/* --- Ranges. --- */

/**
 * Writes into `out` the smallest key greater than every key that starts
 * with the `len` bytes at `prefix`: the prefix without its trailing 0xFF
 * bytes, with its last byte increased by one.  Every key that starts with
 * the prefix is below it, and every key at or above it does not start with
 * the prefix.  `out` is reset first; `prefix` may point into `out`'s own
 * bytes (pb_key_prefix_successor(k->ptr, k->len, k) works in place).
 *
 * Errors: PB_ENOTFOUND when there is no such key (the prefix is empty or
 * all 0xFF): then every key above the prefix starts with it, the range has
 * no upper bound, and `out` is left empty; PB_ETOOBIG for len > PB_KEY_MAX;
 * PB_ENOMEM; PB_EINVAL for a NULL `out`, or a NULL `prefix` with len > 0.
 * The error is also left as `out`'s sticky error, except PB_ENOTFOUND.
 */
int pb_key_prefix_successor(const void *prefix, size_t len, pb_keybuf *out);

/* --- Decoders. --- */

/** A cursor over key bytes.  It never reads outside them. */
typedef struct pb_keyreader {
  const uint8_t *start; /* the key's first byte */
  const uint8_t *pos;   /* the next component */
  const uint8_t *end;   /* one past the key's last byte */
} pb_keyreader;

/** Starts reading the `size` bytes at `data` (NULL data: an empty key).
 * Does nothing with a NULL reader. */
void pb_keyreader_init(pb_keyreader *r, const void *data, size_t size);

/** Bytes consumed so far: after skipping an index entry's index fields,
 * where its primary-key suffix starts.  0 for NULL. */
static inline size_t pb_keyreader_offset(const pb_keyreader *r) {
  return r ? (size_t)(r->pos - r->start) : 0;
}

/** True when every byte has been consumed (and for NULL). */
static inline bool pb_keyreader_done(const pb_keyreader *r) {
  return !r || r->pos == r->end;
}

/*
 * Each get reads the next component as the matching put wrote it and
 * advances past it.  Errors: PB_ECORRUPT when the bytes left are too few,
 * or are not exactly what the put writes for some value (a bool byte other
 * than 0 and 1; the encoding of -0.0 or of a NaN other than the canonical
 * one; an unescaped 0x00 followed by anything but 0xFF or 0x01; a string
 * that is not UTF-8), and for any component of a key longer than
 * PB_KEY_MAX; PB_EINVAL for NULL arguments.  On an error the reader
 * does not move and *out is not written.
 */
int pb_key_get_bool(pb_keyreader *r, bool *out);
int pb_key_get_u8(pb_keyreader *r, uint8_t *out);
int pb_key_get_u16(pb_keyreader *r, uint16_t *out);
int pb_key_get_u32(pb_keyreader *r, uint32_t *out);
int pb_key_get_u64(pb_keyreader *r, uint64_t *out);
int pb_key_get_i8(pb_keyreader *r, int8_t *out);
int pb_key_get_i16(pb_keyreader *r, int16_t *out);
int pb_key_get_i32(pb_keyreader *r, int32_t *out);
int pb_key_get_i64(pb_keyreader *r, int64_t *out);
int pb_key_get_f32(pb_keyreader *r, float *out);
int pb_key_get_f64(pb_keyreader *r, double *out);

/**
 * Reads a bytes component.  When it holds no 0x00 byte, *out is a view into
 * the reader's input (valid as long as those bytes); otherwise the bytes
 * are unescaped into memory from `arena` (valid until the arena is reset or
 * destroyed).  `arena` may be NULL when the caller knows no copy is needed.
 * Errors: as the gets above; PB_EINVAL also when a copy is needed and
 * `arena` is NULL (the reader does not move); PB_ENOMEM when the arena
 * fails.  Nothing is allocated on an error.
 */
int pb_key_get_bytes(pb_keyreader *r, pb_arena *arena, pb_bytes *out);

/** Like pb_key_get_bytes, for a string; PB_ECORRUPT also for bytes that are
 * not UTF-8. */
int pb_key_get_str(pb_keyreader *r, pb_arena *arena, pb_str *out);

/** The kinds of components, for pb_key_skip. */
typedef enum pb_key_kind {
  PB_KEY_BOOL,
  PB_KEY_U8,
  PB_KEY_U16,
  PB_KEY_U32,
  PB_KEY_U64,
  PB_KEY_I8,
  PB_KEY_I16,
  PB_KEY_I32, /* also enums */
  PB_KEY_I64,
  PB_KEY_F32,
  PB_KEY_F64,
  PB_KEY_STR,
  PB_KEY_BYTES
} pb_key_kind;

/**
 * Advances past the next component of kind `kind`, checking it exactly as
 * the matching get does (a string's UTF-8 too), without decoding or
 * copying it.  Errors: PB_ECORRUPT as the gets; PB_EINVAL for a NULL reader
 * or an unknown kind.  On an error the reader does not move.
 */
int pb_key_skip(pb_keyreader *r, pb_key_kind kind);

/** PB_OK when every byte has been consumed, else PB_ECORRUPT (bytes after
 * the last component, or a key longer than PB_KEY_MAX); PB_EINVAL for
 * NULL. */
int pb_key_expect_end(const pb_keyreader *r);

#ifdef __cplusplus
}
#endif
#endif /* PROTOBASE_KEY_H */
