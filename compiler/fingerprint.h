/*
 * fingerprint.h - 64-bit schema fingerprints (SPEC section 2).
 *
 * A fingerprint is XXH3-64 of a canonical text form of a record: its
 * package-qualified name, and for each field in tag order its tag, its
 * canonical type, optional/key flags and its default.  Field names,
 * comments, whitespace and indexes are not part of it, so renaming a field
 * or adding a comment keeps the fingerprint, while changing a tag's type or
 * a default changes it.  The exact canonical form is documented in
 * fingerprint.c and docs/evolution.md.
 *
 * Both functions need a file that check.c accepted (types resolved).
 */
#ifndef PBC_FINGERPRINT_H
#define PBC_FINGERPRINT_H

#include <stdint.h>

#include "ast.h"
#include "util.h"

/** The fingerprint of a record declaration. */
uint64_t pbc_fingerprint_record(const pbc_decl *rec);

/** The fingerprint of a whole schema file (all its records and enums). */
uint64_t pbc_fingerprint_file(const pbc_file *f);

/** Appends the canonical form of `rec` to sb (for tests and --explain). */
void pbc_fingerprint_canonical(const pbc_decl *rec, pbc_strbuf *sb);

#endif /* PBC_FINGERPRINT_H */
