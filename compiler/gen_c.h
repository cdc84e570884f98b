/*
 * gen_c.h - generates tasks.pb.h / tasks.pb.c from a checked schema file.
 *
 * Generation has two steps, so that nothing is written unless every input
 * is valid:
 *
 *   1. pbc_gen_c_check reports what this generator cannot express for an
 *      input file: arrays of arrays, field names that are C or C++ keywords
 *      or likely macros (INT64_MAX, pb_x) or the generated member
 *      unknown_fields, a field that clashes with another's has_ flag,
 *      generated C names that collide or enter the runtime's pb_ namespace,
 *      and file names that cannot appear in #include.
 *   2. pbc_gen_c builds both files in memory.  The output is a pure
 *      function of the schema and the input's base name: no timestamps, no
 *      absolute paths.
 *
 * The generated API (per record R in package P) is described in
 * docs/generated.md: P_R, P_R_type, P_R_MAX_SIZE, P_R_FINGERPRINT,
 * P_R_init, P_R_encode, P_R_decode, P_R_verify, P_R_put, P_R_load, and per
 * enum E: P_E, P_E_name, P_E_from_name.  gen_internal.h says which file
 * generates what.
 */
#ifndef PBC_GEN_C_H
#define PBC_GEN_C_H

#include <stdbool.h>

#include "ast.h"
#include "diag.h"
#include "util.h"

#ifndef PBC_VERSION
#error "PBC_VERSION must be defined by the build (compiler/CMakeLists.txt does)"
#endif

/**
 * Reports what cannot be generated for `f`.  Returns true when f can be
 * generated.
 */
bool pbc_gen_c_check(const pbc_file *f, pbc_diag *diag);

/**
 * Returns the heap name that outputs for `input_path` start with: its base
 * name without ".pbs" ("dir/tasks.pbs" -> "tasks").
 */
char *pbc_gen_c_base(const char *input_path);

/** Writes the header into h and the source into c (both appended to). */
void pbc_gen_c(const pbc_file *f, pbc_strbuf *h, pbc_strbuf *c);

#endif /* PBC_GEN_C_H */
