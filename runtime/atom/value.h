/*
 * atom/value.h - the encoding of a pb_value inside an atom.
 *
 *   u8 kind (pb_value_kind), then
 *     NULL, BOOL false/true: nothing more (BOOL stores its value in bit 7
 *                            of the kind byte: 0x01 false, 0x81 true)
 *     INT:     zigzag varint       UINT:   varint
 *     DOUBLE:  8 bytes LE          STRING, BYTES: varint length + bytes
 *     REF, DICT, LIST, SET, HASHDICT:
 *              20 bytes, as atom/ptr.h: batch_hi u64 LE, batch_lo u64 LE,
 *              offset u32 LE (fixed size, so compaction can patch it); for
 *              a collection, its root node (null: empty)
 *     RECORD:  fingerprint u64 LE, varint length, the record's wire body
 *              (its PTR fields are found by atom/refs.c like a record
 *              atom's)
 *
 * One value has one encoding, so equal values give equal bytes.
 */
#ifndef PB_ATOM_VALUE_H
#define PB_ATOM_VALUE_H

#include "protobase/protobase.h"

/**
 * Appends the encoding of `v` to `b` (errors are sticky in `b`): PB_ENOMEM,
 * or PB_EINVAL for a value pb__value_valid rejects (nothing is written).
 */
void pb__value_encode(pb_buf *b, const pb_value *v);

/**
 * Decodes one value at the reader's position.  Strings and bytes are views
 * into the reader's input.  Errors: PB_ECORRUPT (truncated, unknown kind,
 * invalid UTF-8 in a string).
 */
int pb__value_decode(pb_reader *r, pb_value *out);

/** Steps over one value at the reader's position without checking what it
 * holds beyond its length (no UTF-8 check): false, with the position
 * undefined, when it is truncated or of no known kind. */
bool pb__value_skip(pb_reader *r);

/**
 * True when `v` has an encoding: a known kind, valid UTF-8 for a string,
 * and an offset of at most UINT32_MAX for a REF.
 */
bool pb__value_valid(const pb_value *v);

/**
 * True when `a` and `b` are the same value: the same kind and the same
 * encoding (so doubles compare bitwise: -0.0 differs from 0.0, and a NaN
 * equals itself; collections compare by root pointer).
 */
bool pb__value_equal(const pb_value *a, const pb_value *b);

#endif /* PB_ATOM_VALUE_H */
