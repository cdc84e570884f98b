/*
 * txn/layout.h - the field layout of a record type version, as the
 * catalog stores it (txn/catalog.c), and the rules of `pbc check` applied
 * to two layouts (docs/evolution.md, "Checks at run time").
 *
 * Encoding (the value of a catalog entry; every number a LEB128 varint,
 * every string a varint length then its bytes, "" standing for NULL):
 *
 *   name, n_fields, then per field in ascending tag order:
 *     tag, flags, name, type, default, enum values, embedded record name,
 *     renames
 *   n_reserved, then the reserved tags
 */
#ifndef PB_TXN_LAYOUT_H
#define PB_TXN_LAYOUT_H

#include "protobase/protobase.h"

typedef struct pb__lfield {
  uint32_t tag, flags;
  pb_str name, type, dflt, enums, embedded; /* len 0: none */
  pb_str renames; /* "New=Old,...": records of `type` renamed */
} pb__lfield;

/** A decoded layout; its strings point into the encoded bytes. */
typedef struct pb__layout {
  pb_str name;
  size_t n_fields;
  pb__lfield *fields; /* malloc'd */
  size_t n_reserved;
  uint32_t *reserved; /* malloc'd */
} pb__layout;

/** Appends the layout of `t` to `b` (errors are b's sticky error). */
void pb__layout_encode(const pb_record_type *t, pb_buf *b);

/**
 * Decodes a layout from `b`, whose bytes must outlive *out.
 * Errors: PB_ECORRUPT; PB_ENOMEM.
 */
int pb__layout_decode(pb_bytes b, pb__layout *out);

/** Frees what pb__layout_decode allocated.  Zeroed: no-op. */
void pb__layout_free(pb__layout *l);

/**
 * Applies the breaking rules of `pbc check` to a change from `old` to
 * `new`.  Returns true when the change is compatible; otherwise writes the
 * first breaking change into msg (cap bytes, NUL-terminated) in the words
 * `pbc check` uses, such as "field 'created' (tag 2) changed type from
 * 'int64' to 'uint64'", and returns false.  With `for_read` (a load by
 * a version the catalog does not have, older or newer than `old`), only
 * the rules about what one tag means in both apply: its type, optional,
 * default and enum value numbers; what a future field could do to a
 * removed or reserved tag, and the key, matter to writers only.
 */
bool pb__layout_compatible(const pb__layout *old, const pb__layout *new,
                           bool for_read, char *msg, size_t cap);

#endif /* PB_TXN_LAYOUT_H */
