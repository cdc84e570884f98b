/*
 * protobase/wire.h - the field-tagged binary encoding that generated code uses.
 *
 * A record body is a sequence of fields.  Each field starts with a key, the
 * varint (tag << 3 | wire_type), followed by its value:
 *
 *   PB_WT_VARINT (0)  LEB128 varint: bool, enums, unsigned ints, and signed
 *                     ints in zigzag form;
 *   PB_WT_I64    (1)  8 bytes little-endian: float64;
 *   PB_WT_LEN    (2)  varint length, then that many bytes: string, bytes,
 *                     packed arrays;
 *   PB_WT_PTR    (3)  exactly 20 bytes, no length: an atom pointer (ref<R>
 *                     to a record without a key, list, set and map roots),
 *                     batch_hi u64 LE, batch_lo u64 LE, offset u32 LE;
 *   PB_WT_REC    (4)  varint length, then an embedded record's body;
 *   PB_WT_I32    (5)  4 bytes little-endian: float32.
 *
 * Pointers and embedded records have wire types of their own so that a
 * program can find every atom pointer in a record body without its schema
 * (compaction, atom/refs.h): report each PTR field, descend into each REC
 * payload, skip the rest.  The fixed size of PTR lets a pointer be patched
 * in place.
 *
 * Encoders write fields in ascending tag order and omit a field whose value
 * equals its default, so one value has exactly one encoding.  docs/format.md
 * describes the bytes, docs/generated.md the generated code that uses this
 * header.
 *
 * Besides the field writers and readers, this header holds what generated
 * record code needs around them:
 *
 *   - pb_arena: memory for decoded arrays, freed all at once;
 *   - nested LEN and REC fields (pb_wire_begin_len, pb_wire_begin_rec,
 *     pb_wire_end_len), packed arrays (pb_packed_*), atom pointers
 *     (pb_wire_put_atom_ptr);
 *   - pb_unknown: re-emits the fields of a newer schema that a decoder kept;
 *   - pb_verify_error and the pb_verify_* helpers behind generated _verify.
 *
 * Writers (pb_buf) keep a sticky error: after the first failure (an
 * allocation, or a value that has no encoding) every later write is a
 * no-op, and pb_buf_error() reports that first error once at the end.  Readers (pb_reader) never read outside [data, data + size) and
 * never allocate: a malformed input gives PB_ECORRUPT.
 *
 * NULL arguments: a function that returns an error code returns PB_EINVAL
 * for a NULL pointer argument (the pb_verify_* helpers too; pb_reader_next
 * and pb_packed_next then return PB_EINVAL instead of 1 or 0).  A writer
 * given a NULL buffer does nothing; given NULL data with a non-zero size
 * (a pb_str or pb_bytes view too, or a NULL atom pointer), it writes
 * nothing and makes the buffer's sticky error PB_EINVAL.  pb_buf_error(NULL)
 * is PB_EINVAL.  pb_buf_init, pb_buf_free, pb_buf_reset, pb_reader_init,
 * pb_unknown_init, pb_arena_destroy and pb_arena_reset do nothing with a
 * NULL handle; pb_reader_init with NULL data gives an empty reader;
 * pb_arena_alloc and pb_arena_alloc_array with a NULL arena give NULL;
 * pb_utf8_valid(NULL, n) is false for n > 0.
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
  PB_WT_PTR = 3, /* 20 bytes: an atom pointer (no length prefix) */
  PB_WT_REC = 4, /* varint length, then an embedded record's body */
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
  int err;       /* PB_OK, or the first error (PB_ENOMEM, PB_ETOOBIG,
                    PB_EINVAL: see pb_buf_error) */
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
/**
 * Returns the buffer's sticky error: PB_OK, PB_ENOMEM, PB_ETOOBIG, or
 * PB_EINVAL (a value with no encoding: a string that is not UTF-8, an atom
 * pointer whose offset exceeds UINT32_MAX, kept unknown fields that were
 * not a valid record body).
 */
static inline int pb_buf_error(const pb_buf *b) {
  return b ? b->err : PB_EINVAL;
}

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
/**
 * Field with a string view (PB_WT_LEN).  Text that is not valid UTF-8 is
 * not written and makes the buffer's sticky error PB_EINVAL.
 */
void pb_wire_put_str(pb_buf *b, uint32_t tag, pb_str s);
/** Field with a bytes view (PB_WT_LEN). */
void pb_wire_put_bytes(pb_buf *b, uint32_t tag, pb_bytes v);

/* --- Readers. --- */

/** A cursor over encoded bytes.  It never reads outside them. */
typedef struct pb_reader {
  const uint8_t *pos; /* next byte to read */
  const uint8_t *end; /* one past the last byte */
} pb_reader;

/** One decoded field.  `key` and `data` point into the reader's input. */
typedef struct pb_field {
  const uint8_t *key;  /* the field's first byte (also set on PB_ECORRUPT) */
  uint32_t tag;        /* 1 .. PB_TAG_MAX */
  uint8_t wire_type;   /* one of enum pb_wire_type */
  uint64_t value;      /* the varint, or the raw I32 / I64 bits */
  const uint8_t *data; /* LEN, REC: the payload; PTR: its 20 bytes */
  size_t size;         /* LEN, REC: payload length; PTR: 20 */
} pb_field;

/** Starts reading `size` bytes at `data`. */
void pb_reader_init(pb_reader *r, const void *data, size_t size);

/**
 * Reads the next field.  Returns 1 and fills *f when a field was read, 0 at
 * the end of the input, or PB_ECORRUPT for a truncated varint or payload
 * (a PTR field needs its 20 bytes), a tag of 0 or above PB_TAG_MAX, or an
 * unknown wire type (6 or 7).  In every case
 * f->key is set to where the field starts (the end of the input for 0).
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
/** A bytes view into the input (LEN only: PB_ECORRUPT otherwise). */
int pb_field_bytes(const pb_field *f, pb_bytes *out);
/** An embedded record's body: a view into the input (REC only: PB_ECORRUPT
 * otherwise). */
int pb_field_rec(const pb_field *f, pb_bytes *out);

/** Returns true when `s` is well-formed UTF-8 (no overlongs, no surrogates). */
bool pb_utf8_valid(const void *s, size_t size);

/* --- Arena: memory for decoded arrays. --- */

/**
 * A region allocator.  Generated `_decode` functions take their array items
 * from an arena (the record struct itself is the caller's).  Memory comes in
 * blocks that never move, so every pointer an arena gave out stays valid
 * until pb_arena_reset or pb_arena_destroy, and is freed by them all at once
 * (there is no per-allocation free).  An arena belongs to one thread at a
 * time.
 */
typedef struct pb_arena pb_arena;

/** Creates an empty arena (allocates nothing yet).  Errors: PB_ENOMEM. */
int pb_arena_create(pb_arena **out);

/** Frees the arena and everything allocated from it.  NULL is a no-op. */
void pb_arena_destroy(pb_arena *a);

/**
 * Returns `size` bytes aligned to 8, or NULL when out of memory (or `a` is
 * NULL).  `size` 0 gives a valid pointer to no bytes.  The bytes are not
 * zeroed.  Valid until pb_arena_reset or pb_arena_destroy.
 */
void *pb_arena_alloc(pb_arena *a, size_t size);

/**
 * Returns room for `count` items of `size` bytes, like pb_arena_alloc, or
 * NULL when count * size overflows or memory runs out.
 */
void *pb_arena_alloc_array(pb_arena *a, size_t count, size_t size);

/**
 * Frees everything allocated from the arena but keeps its largest block for
 * reuse: decoding many records in a loop with a reset between them
 * allocates nothing after the first round.  Invalidates every pointer the
 * arena gave out.
 */
void pb_arena_reset(pb_arena *a);

/** Bytes handed out since create or the last reset (for tests and stats). */
size_t pb_arena_allocated(const pb_arena *a);


/* --- Nested length-delimited fields (embedded records, packed arrays). --- */

/** Where a LEN or REC field started; see pb_wire_begin_len. */
typedef struct pb_len_mark {
  size_t key;  /* offset of the field's key in the buffer */
  size_t body; /* offset of the first byte of its payload */
} pb_len_mark;

/**
 * Starts a LEN field whose payload is written next (by any writers), and
 * whose length is not known yet.  Finish it with pb_wire_end_len.
 */
pb_len_mark pb_wire_begin_len(pb_buf *b, uint32_t tag);

/**
 * Starts a REC field (an embedded record) whose body is written next, like
 * pb_wire_begin_len.  Finish it with pb_wire_end_len.
 */
pb_len_mark pb_wire_begin_rec(pb_buf *b, uint32_t tag);

/**
 * Finishes the LEN or REC field started at `m` (by pb_wire_begin_len or
 * pb_wire_begin_rec): writes the payload's length before
 * it (moving the payload when the length needs more than one byte).  With
 * `omit_empty`, an empty payload removes the whole field, key included.
 */
void pb_wire_end_len(pb_buf *b, pb_len_mark m, bool omit_empty);

/* Elements of packed arrays: values without keys. */

/** Appends a signed integer as a zigzag varint (no key). */
void pb_wire_raw_zigzag(pb_buf *b, int64_t v);
/** Appends a float32 as 4 bytes little-endian (no key). */
void pb_wire_raw_float(pb_buf *b, float v);
/** Appends a float64 as 8 bytes little-endian (no key). */
void pb_wire_raw_double(pb_buf *b, double v);

/* --- Atom pointers (ref<R> to a record without a key, list, set, map). --- */

struct pb_atom_ptr; /* protobase/protobase.h */

/**
 * Field with an atom pointer (PB_WT_PTR): 8 bytes batch_hi, 8 bytes
 * batch_lo, 4 bytes offset, all little-endian.  An offset above UINT32_MAX
 * writes nothing and makes the buffer's sticky error PB_EINVAL.
 */
void pb_wire_put_atom_ptr(pb_buf *b, uint32_t tag, const struct pb_atom_ptr *p);

/**
 * Reads an atom pointer field.  PB_ECORRUPT for another wire type than
 * PB_WT_PTR, or a size other than 20 (only in a field built by hand:
 * pb_reader_next gives a PTR field exactly its 20 bytes).
 */
int pb_field_atom_ptr(const pb_field *f, struct pb_atom_ptr *out);

/* --- Packed arrays: one LEN field holding values without keys. --- */

/** A cursor over the elements of one packed field. */
typedef struct pb_packed {
  pb_reader rd;      /* over the payload */
  uint8_t wire_type; /* of every element: VARINT, I32 or I64 */
} pb_packed;

/**
 * Adds the number of elements of packed field `f` to *count, without
 * decoding them: varints are counted by their last bytes, so the count
 * never exceeds the payload's size.  PB_ECORRUPT when `f` is not a LEN
 * field, a fixed-size payload is not a multiple of the element size, or the
 * last varint is cut off.
 */
int pb_packed_count(const pb_field *f, uint8_t wire_type, size_t *count);

/**
 * Starts reading packed field `f` whose elements have `wire_type`.  Returns
 * PB_OK or PB_ECORRUPT (the same structural checks as pb_packed_count).
 */
int pb_packed_begin(const pb_field *f, uint8_t wire_type, pb_packed *p);

/**
 * Reads the next element into *elem as a field of the element's wire type,
 * so that the pb_field_* accessors apply.  Returns 1, 0 at the end, or
 * PB_ECORRUPT.
 */
int pb_packed_next(pb_packed *p, pb_field *elem);

/**
 * Counts one element of an array whose elements are LEN fields (strings,
 * bytes): adds 1 to *count, or returns PB_ECORRUPT when `f` is not a LEN
 * field.
 */
int pb_len_count(const pb_field *f, size_t *count);

/** Like pb_len_count, for arrays of embedded records (PB_WT_REC): PB_ECORRUPT
 * when `f` is not a REC field. */
int pb_rec_count(const pb_field *f, size_t *count);

/** Like pb_len_count, for arrays of atom pointers (PB_WT_PTR): PB_ECORRUPT
 * when `f` is not a PTR field. */
int pb_ptr_count(const pb_field *f, size_t *count);

/* --- Unknown fields: kept by decoders, written back by encoders. --- */

/**
 * A cursor over a kept record body (a generated struct's unknown_fields)
 * that copies the fields whose tags the encoding schema does not know.
 * Generated encoders call pb_unknown_copy(u, out, T) before writing the
 * known field with tag T, and once with PB_TAG_MAX + 1 at the end, so the
 * output stays in ascending tag order (for a kept body that was).
 */
typedef struct pb_unknown {
  pb_reader rd;          /* the rest of the kept body */
  const uint32_t *known; /* the schema's tags, ascending */
  size_t nknown;         /* number of tags in `known` */
} pb_unknown;

/** Starts a cursor over `kept` (may be empty) for a schema's known tags. */
void pb_unknown_init(pb_unknown *u, pb_bytes kept, const uint32_t *known,
                     size_t nknown);

/**
 * Appends, verbatim, the next kept fields with unknown tags below `below`;
 * stops at the first unknown field with a tag >= below.  Fields with known
 * tags are skipped.  Kept bytes that are not a valid record body set the
 * buffer's sticky error to PB_EINVAL.
 */
void pb_unknown_flush(pb_unknown *u, pb_buf *out, uint32_t below);

/** pb_unknown_flush, inline: nothing to do once the kept body is used up. */
static inline void pb_unknown_copy(pb_unknown *u, pb_buf *out, uint32_t below) {
  if (!u || u->rd.pos != u->rd.end) pb_unknown_flush(u, out, below);
}

/* --- Verification of untrusted record bodies (generated `_verify`). --- */

/**
 * Decoders and verifiers stop at this many levels of records nested in
 * records of the same cycle (a record that holds an array of itself, for
 * example); deeper input is PB_ECORRUPT.
 */
#define PB_WIRE_MAX_DEPTH 64

/**
 * For generated decoders: input nested deeper than PB_WIRE_MAX_DEPTH.
 * Sets pb_errdetail() to say so and returns PB_ECORRUPT.
 */
int pb_wire_too_deep(void);

/** Where and why a generated `_verify` rejected its input. */
typedef struct pb_verify_error {
  int code;       /* PB_OK, or PB_ECORRUPT */
  size_t offset;  /* byte offset of the bad field in the outermost input */
  char path[160]; /* the failing field: "Task.where.x", "Task.labels[3]";
                     cut short (at a byte boundary) when longer */
} pb_verify_error;

/** No array index: the `index` argument of the pb_verify_* helpers. */
#define PB_VERIFY_NO_INDEX SIZE_MAX

/** What a field must hold, for pb_field_check and pb_packed_check. */
typedef enum pb_check {
  PB_CHECK_BOOL,   /* pb_field_bool */
  PB_CHECK_I8,     /* pb_field_i8 ... */
  PB_CHECK_I16,
  PB_CHECK_I32,    /* also enums */
  PB_CHECK_I64,
  PB_CHECK_U8,
  PB_CHECK_U16,
  PB_CHECK_U32,
  PB_CHECK_U64,
  PB_CHECK_FLOAT,
  PB_CHECK_DOUBLE,
  PB_CHECK_STR,      /* pb_field_str: LEN, valid UTF-8 */
  PB_CHECK_BYTES,    /* pb_field_bytes: any LEN */
  PB_CHECK_ATOM_PTR, /* pb_field_atom_ptr: PTR */
  PB_CHECK_REC       /* pb_field_rec: REC (its body is checked apart) */
} pb_check;

/**
 * Returns PB_OK exactly when the pb_field_* accessor for `kind` would
 * accept `f` (it calls it), else PB_ECORRUPT.  Allocates nothing.
 */
int pb_field_check(const pb_field *f, pb_check kind);

/**
 * Checks every element of packed field `f` as pb_packed_begin / _next and
 * the accessor for `kind` would, and adds the number of elements to *count.
 * On PB_ECORRUPT, *bad is the failing element's index in the whole array
 * (*count before the call plus its position), or PB_VERIFY_NO_INDEX when
 * the field itself is malformed.
 */
int pb_packed_check(const pb_field *f, pb_check kind, size_t *count,
                    size_t *bad);

/**
 * Records a failure: code PB_ECORRUPT, `offset`, and path `name` (NULL or
 * "" for the record itself) with "[index]" unless index is
 * PB_VERIFY_NO_INDEX.  Returns PB_ECORRUPT.
 */
int pb_verify_fail(pb_verify_error *err, size_t offset, const char *name,
                   size_t index);

/**
 * A nested record at `offset` (of its payload) failed: adds `offset` to
 * err->offset and puts "name[index]." before err->path.  Returns
 * PB_ECORRUPT.
 */
int pb_verify_prefix(pb_verify_error *err, size_t offset, const char *name,
                     size_t index);

/**
 * Like pb_verify_prefix, for a path reported by another record type's
 * public `_verify` ("Point.x"): replaces its first component ("Point") with
 * "name[index]".  Returns PB_ECORRUPT.
 */
int pb_verify_rename(pb_verify_error *err, size_t offset, const char *name,
                     size_t index);

/** Records success (code PB_OK, offset 0, path "").  Returns PB_OK. */
int pb_verify_ok(pb_verify_error *err);

#ifdef __cplusplus
}
#endif
#endif /* PROTOBASE_WIRE_H */
