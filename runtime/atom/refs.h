/*
 * atom/refs.h - finding every atom pointer inside an atom, without its
 * schema.
 *
 * Compaction (vacuum) copies the atoms that are still reachable and
 * rewrites the pointers between them.  It must do so for atoms written by
 * a newer program, whose fields this program's schema does not know (they
 * are kept raw, and may hold pointers).  So the encodings make pointers
 * visible by their bytes alone:
 *
 *   - a record body (type id >= PB__TYPE_RECORD_MIN) marks each pointer
 *     with wire type PB_WT_PTR and each embedded record with PB_WT_REC,
 *     whatever the field's tag; every other wire type holds no pointer;
 *   - a collection node (type ids 2..8, collections/coll.h) is a count
 *     and that many values: REF values and nested collections (DICT,
 *     LIST, SET, HASHDICT) hold a pointer, and a RECORD value's body is
 *     walked like a record's;
 *   - type ids 0, 1 and 9..15 are reserved: PB_ECORRUPT.
 *
 * Every pointer takes exactly PB__PTR_SIZE bytes (atom/ptr.h), so a caller
 * can patch a copy of the atom in place at the reported position.
 */
#ifndef PB_ATOM_REFS_H
#define PB_ATOM_REFS_H

#include <stdbool.h>
#include <stddef.h>

#include "protobase/protobase.h"

/* Called for each non-null pointer in an atom; pos is the byte offset,
 * from the start of the atom (envelope included), of its 20-byte
 * encoding, so a caller can patch a copy with pb__ptr_store.  A non-zero
 * return stops the walk and is returned by pb__atom_refs. */
typedef int (*pb__ref_fn)(void *ctx, pb_atom_ptr ptr, size_t pos);

/**
 * Calls fn(ctx, ptr, pos) for each non-null pointer in `atom` (an atom with
 * its envelope), in the order of the bytes.  Null pointers (all 20 bytes
 * zero) are skipped.  Embedded records are walked with a heap stack, so any
 * nesting depth is safe; reads stay inside `atom`.  The walk may call fn
 * for some pointers before it finds that a later byte is malformed.
 *
 * Errors: PB_EVERSION (unknown atom format byte); PB_ECORRUPT (malformed
 * envelope, body, field, node value, or a REC payload that runs past
 * its parent; a reserved type id); PB_ENOMEM; or fn's
 * non-zero return.
 * Thread safety: none needed beyond fn's own; no global state.
 */
int pb__atom_refs(pb_bytes atom, pb__ref_fn fn, void *ctx);

/**
 * Calls fn(ctx, ptr, pos) for each non-null pointer in a bare record body
 * (no envelope), as pb__atom_refs does for a record atom; pos is the
 * offset from the start of `body`.  Errors: PB_ECORRUPT (the body is not
 * a well-formed sequence of fields); PB_ENOMEM; or fn's non-zero return.
 */
int pb__record_refs(pb_bytes body, pb__ref_fn fn, void *ctx);

/**
 * Whether `v`'s encoding holds a non-null atom pointer: a non-null REF or
 * nested collection, or a RECORD whose body has a non-null PTR field
 * (at any depth of embedded records).  HashDictionary keys and Set
 * elements may not (collections/hash.h): compaction rewrites pointers in
 * place, which would change such a key's hash but not its place in the
 * trie.  Errors: PB_ECORRUPT (a malformed record body), PB_ENOMEM.
 */
int pb__value_has_refs(const pb_value *v, bool *out);

/**
 * Checks a value from outside before it is stored: pb__value_valid, and a
 * RECORD's body must be a well-formed sequence of fields (the walker
 * above must be able to find its pointers, or compaction could not copy
 * the node holding it).  Errors: PB_EINVAL, PB_ENOMEM.
 */
int pb__value_check(const pb_value *v);

#endif /* PB_ATOM_REFS_H */
