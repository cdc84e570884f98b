/*
 * tools/pbtool/cmd_maint.c - `pbtool compact`, `backup` and `salvage`:
 * the runtime's maintenance calls from the shell.
 */
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <string.h>
#include <time.h>

#include "pbtool.h"

static const char compact_help[] =
    "Usage: pbtool compact DIR\n"
    "Compacts the store at DIR (pb_storage_compact): copies what the\n"
    "current root reaches into a new segment and deletes the old ones.\n"
    "Needs the writer lock: fails (exit 2) while a program has the store\n"
    "open for writing.  Prints the sizes before and after.\n"
    "Exit codes: 0 done, 1 the store is damaged, 2 usage or I/O error.\n";

static const char backup_help[] =
    "Usage: pbtool backup DIR DEST [--compact]\n"
    "Writes a consistent copy of the store at DIR into DEST, which must\n"
    "not exist or be empty (pb_storage_backup).  The store is opened\n"
    "read-only, so a writer may go on meanwhile: the copy holds the state\n"
    "of the latest commit when the backup began.\n"
    "  --compact   write only the live data (as `compact` would keep)\n"
    "Exit codes: 0 done, 1 the store is damaged, 2 usage or I/O error\n"
    "(DEST exists and is not empty, no space, ...).\n";

static const char salvage_help[] =
    "Usage: pbtool salvage DIR NEWDIR\n"
    "Writes a new, clean, compacted store into NEWDIR (which must not\n"
    "exist or be empty) from what can be read of the store at DIR, as\n"
    "SQLite's .recover does (pb_storage_salvage): the state of the last\n"
    "commit that verifies, read in order until the log's chain breaks (a\n"
    "flipped byte, a missing, replaced or truncated segment).  DIR is\n"
    "opened read-only and never changed.  Prints each piece of damage\n"
    "(file, offset, what) and what was written and skipped.\n"
    "Exit codes: 0 the store was whole and NEWDIR holds all of it; 1\n"
    "damage was found (NEWDIR holds every commit before it), or nothing\n"
    "could be recovered (NEWDIR not written); 2 usage or I/O error.\n";

/* A progress bar that moves while a blocking call runs: it cannot know
 * how far the call is, so it fills towards 95% and ends at 100%. */
typedef struct ticker {
  pbt_progress prog;
  atomic_bool done;
  pthread_t th;
  bool started;
} ticker;

static void *tick(void *arg) {
  ticker *t = arg;
  uint64_t i = 0;
  while (!atomic_load(&t->done)) {
    struct timespec ts = {0, 100 * 1000 * 1000};
    nanosleep(&ts, NULL);
    i++;
    pbt_progress_set(&t->prog, 950 - 950 * 20 / (20 + i));
  }
  return NULL;
}

static void ticker_start(ticker *t, const char *label) {
  memset(t, 0, sizeof *t);
  pbt_progress_start(&t->prog, label, 1000);
  atomic_store(&t->done, false);
  t->started = t->prog.on && pthread_create(&t->th, NULL, tick, t) == 0;
}

static void ticker_end(ticker *t) {
  atomic_store(&t->done, true);
  if (t->started) pthread_join(t->th, NULL);
  pbt_progress_end(&t->prog);
}

int pbt_cmd_compact(int argc, char **argv) {
  if (pbt_wants_help(argc, argv, compact_help)) return PBT_EXIT_OK;
  if (argc != 2) {
    pbt_err("compact", "needs one argument: DIR (try --help)");
    return PBT_EXIT_USAGE;
  }
  pbt_store s;
  int ex = pbt_open("compact", argv[1], true, &s);
  if (ex != PBT_EXIT_OK) return ex;
  pb_compact_stats cs;
  ticker t;
  ticker_start(&t, "compact");
  int rc = pb_storage_compact(s.st, &cs);
  ticker_end(&t);
  if (rc == PB_OK) {
    printf("compact: %" PRIu64 " bytes before, %" PRIu64 " after; %" PRIu64
           " live atoms (%" PRIu64 " bytes)\n", cs.bytes_before,
           cs.bytes_after, cs.atoms, cs.atom_bytes);
  } else {
    pbt_err("compact", "%s: %s (%s)", argv[1], pb_strerror(rc),
            pb_errdetail());
    ex = pbt_exit_for(rc);
  }
  pbt_close(&s);
  return ex;
}

static int backup_to(const char *cmd, const char *dir, const char *dest,
                     unsigned flags) {
  pbt_store s;
  int ex = pbt_open(cmd, dir, false, &s);
  if (ex != PBT_EXIT_OK) return ex;
  ticker t;
  ticker_start(&t, cmd);
  int rc = pb_storage_backup(s.st, dest, flags);
  ticker_end(&t);
  if (rc == PB_OK) {
    pb_recovery_info ri;
    if (pb_storage_recovery_info(s.st, &ri) == PB_OK)
      printf("%s: %s -> %s at lsn %" PRIu64 "%s\n", cmd, dir, dest, ri.lsn,
             flags & PB_BACKUP_COMPACT ? " (compacted)" : "");
  } else {
    pbt_err(cmd, "%s -> %s: %s (%s)", dir, dest, pb_strerror(rc),
            pb_errdetail());
    ex = pbt_exit_for(rc);
  }
  pbt_close(&s);
  return ex;
}

int pbt_cmd_backup(int argc, char **argv) {
  if (pbt_wants_help(argc, argv, backup_help)) return PBT_EXIT_OK;
  const char *dir = NULL, *dest = NULL;
  unsigned flags = 0;
  for (int i = 1; i < argc; i++) {
    if (strcmp(argv[i], "--compact") == 0) flags |= PB_BACKUP_COMPACT;
    else if (argv[i][0] == '-' || (dir && dest)) {
      pbt_err("backup", "unexpected argument '%s' (try --help)", argv[i]);
      return PBT_EXIT_USAGE;
    } else if (!dir) dir = argv[i];
    else dest = argv[i];
  }
  if (!dest) {
    pbt_err("backup", "needs DIR and DEST (try --help)");
    return PBT_EXIT_USAGE;
  }
  return backup_to("backup", dir, dest, flags);
}

void pbt_print_damage(const pb_salvage_report *r) {
  for (uint64_t i = 0; i < r->n_damage && i < PB_SALVAGE_MAX_DAMAGE; i++) {
    const pb_salvage_damage *d = &r->damage[i];
    if (d->file[0])
      printf("damage: %s offset %" PRIu64 ": %s: %s\n", d->file, d->offset,
             pb_salvage_kind_name(d->kind), d->detail);
    else
      printf("damage: %s: %s\n", pb_salvage_kind_name(d->kind), d->detail);
  }
  if (r->n_damage > PB_SALVAGE_MAX_DAMAGE)
    printf("damage: ... and %" PRIu64 " more\n",
           r->n_damage - PB_SALVAGE_MAX_DAMAGE);
}

int pbt_cmd_salvage(int argc, char **argv) {
  if (pbt_wants_help(argc, argv, salvage_help)) return PBT_EXIT_OK;
  if (argc != 3) {
    pbt_err("salvage", "needs DIR and NEWDIR (try --help)");
    return PBT_EXIT_USAGE;
  }
  pb_salvage_report rep;
  memset(&rep, 0, sizeof rep);
  ticker t;
  ticker_start(&t, "salvage");
  int rc = pb_storage_salvage(argv[1], argv[2], &rep);
  ticker_end(&t);
  if (rc == PB_OK || rc == PB_ECORRUPT) pbt_print_damage(&rep);
  if (rc != PB_OK) {
    pbt_err("salvage", "%s -> %s: %s (%s)", argv[1], argv[2],
            pb_strerror(rc), pb_errdetail());
    return pbt_exit_for(rc);
  }
  printf("salvage: %s -> %s: lsn %" PRIu64 " written (the last verified "
         "commit: lsn %" PRIu64 ", %" PRIu64 " commits read), %" PRIu64
         " atoms (%" PRIu64 " bytes); skipped: %" PRIu64 " bytes, %" PRIu64
         " later commits, %" PRIu64 " missing segments, %" PRIu64
         " unreadable atoms\n",
         argv[1], argv[2], rep.lsn_copied, rep.lsn, rep.commits,
         rep.atoms_copied, rep.atom_bytes, rep.bytes_skipped,
         rep.commits_dropped, rep.segments_missing, rep.atoms_unreadable);
  return rep.n_damage || rep.atoms_unreadable ? PBT_EXIT_PROBLEMS
                                              : PBT_EXIT_OK;
}
