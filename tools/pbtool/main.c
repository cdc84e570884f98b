/*
 * tools/pbtool/main.c - pbtool's command line: the subcommands, --help and
 * the exit codes (docs/pbtool.md).
 */
#include <stdio.h>
#include <string.h>

#include "pbtool.h"

static const char usage[] =
    "Usage: pbtool COMMAND [OPTIONS] DIR ...\n"
    "Looks into, checks and maintains a ProtoBase store (a directory of\n"
    "WAL segments).\n"
    "\n"
    "Commands:\n"
    "  info DIR                 format, segments, sizes, root, recovery,\n"
    "                           databases, record types, tables, indexes\n"
    "  verify DIR               checks every reachable atom and every\n"
    "                           table's index entries; each problem with\n"
    "                           its location\n"
    "  dump DIR [--db NAME] [--table T] [--json]\n"
    "                           the contents, as text or JSON\n"
    "  stats DIR                storage and cache figures\n"
    "  compact DIR              compacts the store (keeps the live data)\n"
    "  backup DIR DEST [--compact]\n"
    "                           a consistent copy into DEST\n"
    "  salvage DIR NEWDIR       a clean store from what can be read\n"
    "  check-schema DIR SCHEMA.pbs [-I DIR]... [--db NAME]\n"
    "                           do this schema's records agree with the\n"
    "                           catalog (the run-time schema check)\n"
    "\n"
    "Every command takes --help.  A progress bar is drawn on stderr for\n"
    "long operations when stderr is a terminal.\n"
    "\n"
    "Exit codes:\n"
    "  0  done (verify: no problem found)\n"
    "  1  problems found: damage (verify, a store that does not open),\n"
    "     a breaking schema change (check-schema)\n"
    "  2  usage error, or an I/O or other error\n";

bool pbt_wants_help(int argc, char **argv, const char *help) {
  for (int i = 1; i < argc; i++) {
    if (strcmp(argv[i], "--") == 0) break;
    if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) {
      fputs(help, stdout);
      return true;
    }
  }
  return false;
}

static const struct {
  const char *name;
  int (*fn)(int argc, char **argv);
} commands[] = {
    {"info", pbt_cmd_info},       {"verify", pbt_cmd_verify},
    {"dump", pbt_cmd_dump},       {"stats", pbt_cmd_stats},
    {"compact", pbt_cmd_compact}, {"backup", pbt_cmd_backup},
    {"salvage", pbt_cmd_salvage}, {"check-schema", pbt_cmd_check_schema},
};

int main(int argc, char **argv) {
  if (argc < 2) {
    fputs(usage, stderr);
    return PBT_EXIT_USAGE;
  }
  if (strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0 ||
      strcmp(argv[1], "help") == 0) {
    fputs(usage, stdout);
    return PBT_EXIT_OK;
  }
  if (strcmp(argv[1], "--version") == 0) {
    printf("pbtool %s\n", pb_version());
    return PBT_EXIT_OK;
  }
  for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
    if (strcmp(argv[1], commands[i].name) == 0) {
      int rc = commands[i].fn(argc - 1, argv + 1);
      if (fflush(stdout) != 0 && rc == PBT_EXIT_OK) rc = PBT_EXIT_USAGE;
      return rc;
    }
  fprintf(stderr, "pbtool: unknown command '%s'\nTry 'pbtool --help'.\n",
          argv[1]);
  return PBT_EXIT_USAGE;
}
