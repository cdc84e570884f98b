/*
 * atom/atom.h - the envelope every atom starts with.
 *
 *   byte 0      format (PB__ATOM_FORMAT; another value is PB_EVERSION)
 *   varint      type id: below PB__TYPE_RECORD_MIN the runtime's own kinds
 *               (collection nodes); from PB__TYPE_RECORD_MIN on, record types:
 *               PB__TYPE_RECORD_UNTYPED (16) is what every record atom
 *               carried before type ids, read as a record of any type;
 *               from 17 on, the id the database's catalog gave the
 *               record type's name (txn/catalog.c)
 *   ...         the body, whose layout the type defines
 *
 * The type id is a small number rather than a 64-bit fingerprint so that a
 * record costs two bytes of envelope, not nine.
 */
#ifndef PB_ATOM_ATOM_H
#define PB_ATOM_ATOM_H

#include "protobase/protobase.h"

#define PB__ATOM_FORMAT 1u

enum {
  /* 0 and 1 are reserved (1 was a one-atom Dictionary before the
   * collections; no store of that format was released). */
  /* Collection nodes (collections/coll.h): body = varint n, then n values
   * (atom/value.h), which each collection reads in its own way. */
  PB__TYPE_NODE_FIRST = 2,
  PB__TYPE_DICT_LEAF = 2,   /* collections/dict.c */
  PB__TYPE_DICT_BRANCH = 3,
  PB__TYPE_LIST_LEAF = 4,   /* collections/list.c */
  PB__TYPE_LIST_BRANCH = 5,
  PB__TYPE_HASH_NODE = 6,   /* collections/hash.c (HashDictionary, Set) */
  PB__TYPE_HASH_COLLISION = 7,
  PB__TYPE_DICT_LEAF_IDX = 8, /* collections/dict.c: a leaf with a
                                 directory, searched in place */
  PB__TYPE_NODE_LAST = 8,   /* 9..15 are reserved too */
  PB__TYPE_RECORD_MIN = 16, /* first id for record types */
  PB__TYPE_RECORD_UNTYPED = 16, /* a record written before type ids */
  PB__TYPE_MAX = 1u << 24   /* a larger id is corrupt */
};

/** Starts an atom of `type_id` in `b` (the body is appended after). */
void pb__atom_begin(pb_buf *b, uint32_t type_id);

/**
 * Splits an atom into its type id and body view (into `atom`).
 * Errors: PB_EVERSION (unknown format byte); PB_ECORRUPT.
 */
int pb__atom_parse(pb_bytes atom, uint32_t *type_id, pb_bytes *body);

#endif /* PB_ATOM_ATOM_H */
