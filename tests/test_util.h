/*
 * tests/test_util.h - small helpers shared by the tests: temporary
 * directories that are removed afterwards.
 */
#ifndef PB_TEST_UTIL_H
#define PB_TEST_UTIL_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Makes a fresh directory under $TMPDIR (or /tmp); free with pb_test_rmdir. */
static inline char *pb_test_tmpdir(void) {
  const char *base = getenv("TMPDIR");
  char tmpl[4096];
  snprintf(tmpl, sizeof tmpl, "%s/pbtest-XXXXXX", base && *base ? base : "/tmp");
  char *dir = mkdtemp(tmpl);
  if (!dir) {
    perror("mkdtemp");
    abort();
  }
  return strdup(dir);
}

/* Removes a directory made by pb_test_tmpdir, and everything in it. */
static inline void pb_test_rmdir(char *dir) {
  char cmd[4200];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
  if (system(cmd) != 0) fprintf(stderr, "warning: could not remove %s\n", dir);
  free(dir);
}

#endif /* PB_TEST_UTIL_H */
