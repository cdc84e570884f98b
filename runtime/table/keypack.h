/*
 * table/keypack.h - table keys as Dictionary keys.
 *
 * Dictionary keys are UTF-8 strings (collections/dict.h), while encoded
 * table keys (protobase/key.h) are any bytes.  A table key is stored
 * PACKED: its bits, most significant first, cut into groups of 7, each
 * group one byte below 0x80 (ASCII, so valid UTF-8), the last group padded
 * with zero bits.  n bytes pack into ceil(8n / 7) bytes.
 *
 * Packing keeps bytewise order (shorter first on a common prefix): two
 * keys that first differ at bit i pack into bytes that first differ at
 * bit i of the packed stream too (the same bits in the same places); and
 * when x is a proper prefix of y, pack(x) is pack(y)'s first bytes except
 * that its last byte has zero bits where pack(y)'s has y's next bits, so
 * pack(x) is a prefix of pack(y) or its last byte is smaller: pack(x) <
 * pack(y) either way.  It is one-to-one: ceil(8n / 7) grows with n, so the
 * packed length gives n back.  So a key range [lo, hi) is the packed range
 * [pack(lo), pack(hi)), and a Dictionary iterates a table in key order.
 */
#ifndef PB_TABLE_KEYPACK_H
#define PB_TABLE_KEYPACK_H

#include <stddef.h>
#include <stdint.h>

/** The packed length of n bytes. */
static inline size_t pb__keypack_len(size_t n) { return (8 * n + 6) / 7; }

/** Packs n bytes of `in` into pb__keypack_len(n) bytes at `out`. */
void pb__keypack(const uint8_t *in, size_t n, uint8_t *out);

/**
 * Unpacks m bytes into *n bytes at `out` (room for m bytes is enough).
 * Errors: PB_ECORRUPT when `in` is not a packing: a byte of 0x80 or more,
 * a length no n packs into, or padding bits that are not zero.
 */
int pb__keyunpack(const uint8_t *in, size_t m, uint8_t *out, size_t *n);

#endif /* PB_TABLE_KEYPACK_H */
