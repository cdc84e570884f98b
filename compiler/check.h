/*
 * check.h - the semantic checks of a loaded program.
 *
 * pbc_check_program resolves every named type and checks, in each file:
 * duplicate record and enum names (also against same-package imports),
 * enum values (range, duplicates), field names and tags (duplicates, range
 * 1..PB_TAG_MAX, reserved tags), the shape of ref/map/set/optional, field
 * and record options ([key], [default = x], [renamed_from = "X"]), default
 * values against the field's type, indexes (unknown or unindexable fields),
 * and records that contain themselves by value.
 *
 * When any file has a syntax error, no semantic check runs: an AST that
 * error recovery patched would only produce follow-on errors.
 */
#ifndef PBC_CHECK_H
#define PBC_CHECK_H

#include <stdbool.h>

#include "loader.h"

/** Checks every loaded file.  Returns true when no error was reported. */
bool pbc_check_program(pbc_program *p);

/** True when `s` (len bytes) is well-formed UTF-8. */
bool pbc_utf8_valid(const char *s, size_t len);

#endif /* PBC_CHECK_H */
