/*
 * fuzz_pbc_parse.c - libFuzzer target for pbc's front end.
 *
 * Each input is the text of one schema file, "fuzz.pbs", held in memory.
 * It goes through the stages pbc runs (compiler/main.c), in pbc's order:
 *
 *   1. load: the flex lexer and the bison parser, then the imports, which
 *      all resolve to nothing (pbc_load_memory never opens a file), so each
 *      one is a not-found diagnostic;
 *   2. check: every semantic check (check.c);
 *   3. when the schema is clean: the generator's own checks, and then the
 *      generation of both C files in memory, which are dropped.
 *
 * Diagnostics go to /dev/null: their wording is tested elsewhere
 * (tests/compiler).  They are still formatted, in text for inputs of even
 * length and as JSON (--error-format=json) for odd ones, so that the
 * reporter's escaping of hostile names and strings is fuzzed too.
 *
 * What counts as a bug: a crash, any AddressSanitizer or
 * UndefinedBehaviorSanitizer report, a leak (LeakSanitizer runs at the end
 * and, with -detect_leaks=1, on new inputs), an exit() (flex's fatal
 * errors, pbc's out-of-memory path) and a run over the -timeout.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "check.h"
#include "diag.h"
#include "loader.h"
#include "gen_c.h"
#include "loader.h"
#include "util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The discarded sink, opened once; the process exit closes it. */
static FILE *pbc_fuzz_sink(void) {
  static FILE *sink;
  if (!sink) {
    sink = fopen("/dev/null", "w");
    if (!sink) {
      perror("fuzz_pbc_parse: /dev/null");
      abort();
    }
  }
  return sink;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  pbc_diag diag;
  pbc_diag_init(&diag, pbc_fuzz_sink());
  diag.format = size % 2 ? PBC_DIAG_JSON : PBC_DIAG_TEXT;
  pbc_program prog;
  pbc_program_init(&prog, &diag, NULL, 0);

  pbc_file *f = pbc_load_memory(&prog, "fuzz.pbs", data, size);
  if (f && pbc_check_program(&prog) && diag.errors == 0 &&
      pbc_gen_c_check(f, &diag) && diag.errors == 0) {
    pbc_strbuf h, c;
    pbc_sb_init(&h);
    pbc_sb_init(&c);
    pbc_gen_c(f, &h, &c);
    pbc_sb_free(&h);
    pbc_sb_free(&c);
  }
  pbc_program_free(&prog);
  pbc_diag_finish(&diag);
  return 0;
}
