/*
 * storage/file_salvage.h - salvage mode of the file tier (opts.salvage):
 * the state a salvage open keeps (fs->salv) and the calls between
 * file_recover.c, which reads the log and stops where its chain breaks,
 * and file_salvage.c, which reports it and writes the salvaged copy
 * (pb_storage_salvage).  docs/storage.md, section 14.
 */
#ifndef PB_STORAGE_FILE_SALVAGE_H
#define PB_STORAGE_FILE_SALVAGE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "protobase/protobase.h"

struct pb__file_storage;

/** A verified commit: its LSN and root (the candidates of a copy). */
typedef struct pb__salv_commit {
  uint64_t lsn;
  pb_atom_ptr root;
} pb__salv_commit;

/** What a salvage open read and skipped. */
typedef struct pb__salvage {
  pb_salvage_report rep;    /* the report, as pb_storage_salvage_report
                               gives it */
  pb__salv_commit *commits; /* every verified commit, in log order */
  size_t n_commits, cap_commits;
  bool found_any;           /* the directory held a segment or MANIFEST */
  pb_salvage_kind kind;     /* the kind of the damage being reported
                               (set by the check that found it) */
  uint64_t stop_off;        /* where the chain broke in the segment that
                               load_segment stopped in */
  bool foreign;             /* that segment is not this store's (another
                               id): its frames are not counted as dropped */
} pb__salvage;

/** Forgets what an earlier scan recorded (a read-only open scans again). */
void pb__salv_reset(pb__salvage *s);
/** Frees the state (NULL is a no-op). */
void pb__salv_free(pb__salvage *s);
/**
 * Records one piece of damage: `kind`, the file `path` (its last component
 * is kept), `offset`, and the sentence `detail`.  Cannot fail: past
 * PB_SALVAGE_MAX_DAMAGE only the count grows.
 */
void pb__salv_damage(pb__salvage *s, pb_salvage_kind kind, const char *path,
                     uint64_t offset, const char *detail);
/** Records a verified commit.  Errors: PB_ENOMEM. */
int pb__salv_add_commit(pb__salvage *s, uint64_t lsn, pb_atom_ptr root);

struct pb__io;
/**
 * pb_storage_salvage through a given I/O layer (tests: the simulated
 * disk).  Errors: as pb_storage_salvage.
 */
int pb__file_salvage(const char *dir, const char *newdir,
                     const struct pb__io *io, pb_salvage_report *rep);

#endif /* PB_STORAGE_FILE_SALVAGE_H */
