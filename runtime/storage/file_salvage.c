/*
 * storage/file_salvage.c - salvage: reading what can be read of a damaged
 * file storage, and writing it as a new, clean store (docs/storage.md,
 * section 14).
 *
 * A salvage open (opts.salvage, read-only) reads the log as any open does
 * (file_recover.c, recover_salvage), but where a normal open returns
 * PB_ECORRUPT it records the damage here and stops the commit chain: every
 * commit before the damage verified (checksums, LSNs, previous roots, the
 * segment chain and MANIFEST), and the last of them is the root it serves.
 * Each verified commit is remembered (LSN and root), for the copy below.
 *
 * pb_storage_salvage writes the state of the last verified commit to a new
 * directory with compaction's walk (pb__fs_compact_copy_ex): one segment
 * that starts a log, then MANIFEST, then the directory's fsync, as a
 * compacted backup does.  The walk is schema-free: it cannot take a child
 * out of a collection node without breaking the node (its counts, its
 * hashes), so a tree with an atom that does not read back is not copied in
 * part.  The next older verified commit is tried instead, up to
 * SALVAGE_TRIES roots, and each unreadable atom met is reported.  With
 * the chain cut at the first damage every atom a verified root reaches
 * sits in a verified batch, so this only happens when a frame whose
 * checksum matches holds a malformed atom (a bug, or memory damage before
 * the write).
 */
#include <assert.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "storage/file.h"
#include "storage/file_salvage.h"
#include "util/errdetail.h"

/* Roots tried, newest first, before a copy gives up. */
#define SALVAGE_TRIES 64

void pb__salv_reset(pb__salvage *s) {
  memset(&s->rep, 0, sizeof s->rep);
  s->n_commits = 0;
  s->found_any = false;
  s->kind = PB_SALVAGE_BAD_HEADER;
  s->stop_off = 0;
  s->foreign = false;
}

void pb__salv_free(pb__salvage *s) {
  if (s == NULL) return;
  free(s->commits);
  free(s);
}

void pb__salv_damage(pb__salvage *s, pb_salvage_kind kind, const char *path,
                     uint64_t offset, const char *detail) {
  if (s->rep.n_damage < PB_SALVAGE_MAX_DAMAGE) {
    pb_salvage_damage *d = &s->rep.damage[s->rep.n_damage];
    const char *base = strrchr(path, '/');
    d->kind = kind;
    snprintf(d->file, sizeof d->file, "%s", base != NULL ? base + 1 : path);
    d->offset = offset;
    snprintf(d->detail, sizeof d->detail, "%s", detail);
  }
  s->rep.n_damage++;
}

int pb__salv_add_commit(pb__salvage *s, uint64_t lsn, pb_atom_ptr root) {
  if (s->n_commits == s->cap_commits) {
    size_t cap = s->cap_commits ? s->cap_commits * 2 : 64;
    pb__salv_commit *v = realloc(s->commits, cap * sizeof *v);
    if (v == NULL) return PB_ENOMEM;
    s->commits = v;
    s->cap_commits = cap;
  }
  s->commits[s->n_commits++] = (pb__salv_commit){.lsn = lsn, .root = root};
  return PB_OK;
}

const char *pb_salvage_kind_name(pb_salvage_kind kind) {
  switch (kind) {
    case PB_SALVAGE_MANIFEST: return "manifest";
    case PB_SALVAGE_MISSING: return "missing";
    case PB_SALVAGE_REPLACED: return "replaced";
    case PB_SALVAGE_SHORT: return "short";
    case PB_SALVAGE_BAD_HEADER: return "bad header";
    case PB_SALVAGE_BAD_FRAME: return "bad frame";
    case PB_SALVAGE_UNREADABLE: return "unreadable";
    case PB_SALVAGE_ATOM: return "atom";
  }
  return "unknown";
}

int pb_storage_salvage_report(pb_storage *st, pb_salvage_report *out) {
  if (st == NULL || out == NULL) return PB_EINVAL;
  memset(out, 0, sizeof *out);
  if (st->ops != &pb__file_ops) return PB_ENOTSUP;
  const pb__file_storage *fs = (const pb__file_storage *)st;
  if (fs->salv == NULL) return PB_EINVAL;
  *out = fs->salv->rep;
  return PB_OK;
}

/* --- The copy --- */

static char *join(const char *dir, const char *name) {
  size_t n = strlen(dir) + 1 + strlen(name) + 1;
  char *p = malloc(n);
  if (p != NULL) snprintf(p, n, "%s/%s", dir, name);
  return p;
}

static int count_entry(void *arg, const char *name) {
  (void)name;
  ++*(size_t *)arg;
  return 0;
}

/* Creates `dir` (*created), or checks that it is an empty directory. */
static int prepare_dir(pb__file_storage *fs, const char *dir, bool *created) {
  const pb__io *io = fs->io;
  *created = false;
  int rc = io->mkdir(io, dir);
  if (rc == PB_OK) {
    *created = true;
    return PB_OK;
  }
  if (rc != PB_EEXIST)
    return pb__fs_fail(fs, rc, true, "salvage: create %s", dir);
  size_t n = 0;
  rc = io->list_dir(io, dir, count_entry, &n);
  if (rc != PB_OK)
    return pb__fs_fail(fs, PB_EEXIST, true,
                       "salvage: %s exists and is not a directory we can list",
                       dir);
  if (n > 0)
    return pb__fs_fail(fs, PB_EEXIST, false,
                       "salvage: %s is not empty (%zu entries); give a new or "
                       "empty directory",
                       dir, n);
  return PB_OK;
}

/* Names in the destination, to remove after a failure. */
typedef struct name_list {
  char **v;
  size_t n, cap;
} name_list;

static int collect_name(void *arg, const char *name) {
  name_list *l = arg;
  if (l->n == l->cap) {
    size_t cap = l->cap ? l->cap * 2 : 8;
    char **v = realloc(l->v, cap * sizeof *v);
    if (v == NULL) return PB_ENOMEM;
    l->v = v;
    l->cap = cap;
  }
  l->v[l->n] = strdup(name);
  if (l->v[l->n] == NULL) return PB_ENOMEM;
  l->n++;
  return 0;
}

/* After a failure: removes every file in `dir` (it was empty before), and
 * on the real file system `dir` itself when this salvage created it.
 * Best effort. */
static void undo(pb__file_storage *fs, const char *dir, bool created) {
  const pb__io *io = fs->io;
  name_list l = {0};
  io->list_dir(io, dir, collect_name, &l);
  for (size_t i = 0; i < l.n; i++) {
    char *p = join(dir, l.v[i]);
    if (p != NULL) io->unlink(io, p);
    free(p);
    free(l.v[i]);
  }
  free(l.v);
  if (created && io == pb__io_posix()) rmdir(dir);
  else io->sync_dir(io, dir);
}

/* An empty store in `dir` (the source is whole, and has no commit). */
static int write_empty(pb__file_storage *fs, const char *dir) {
  pb_file_options o;
  pb_file_options_init(&o);
  pb_storage *st = NULL;
  char msg[PB__FILE_MSG_SIZE];
  int rc = pb__file_storage_open(dir, &o, fs->io, msg, sizeof msg, &st);
  if (rc == PB_OK) rc = pb_storage_close(st);
  if (rc != PB_OK)
    pb__fs_fail(fs, rc, false, "salvage: write an empty store in %s: %s", dir,
                msg);
  return rc;
}

/* Writes the newest verified commit whose whole tree reads into `dir`:
 * one segment, then MANIFEST, then the directory's fsync. */
static int write_copy(pb__file_storage *fs, const char *dir,
                      pb_salvage_report *rep) {
  pb__salvage *sv = fs->salv;
  assert(fs->n_segs > 0 && sv->n_commits > 0);
  uint64_t seq = fs->segs[fs->n_segs - 1]->seq + 1; /* never 1: the log
                                                       starts at a copy */
  char name[25];
  pb__seg_name(seq, name);
  char *path = join(dir, name);
  if (path == NULL) return PB_ENOMEM;
  pb__manifest_seg one = {0};
  pb_compact_stats stats = {0};
  int rc = PB_OK;
  size_t tries = 0;
  for (size_t i = sv->n_commits; i-- > 0 && tries < SALVAGE_TRIES; tries++) {
    const pb__salv_commit *c = &sv->commits[i];
    rc = pb__fs_compact_copy_ex(fs, path, c->root, c->lsn, seq, &one.id_hi,
                                &one.id_lo, &one.size, &stats);
    if (rc != PB_ECORRUPT) {
      if (rc == PB_OK) rep->lsn_copied = c->lsn;
      break;
    }
    rep->atoms_unreadable++;
    pb__salv_damage(sv, PB_SALVAGE_ATOM, "", 0, fs->msg);
  }
  if (rc == PB_ECORRUPT) /* every root tried met an unreadable atom */
    rc = pb__fs_fail(fs, PB__CORRUPT("no verified root reads whole"), false,
                     "salvage: none of the %zu newest verified commits has a "
                     "tree that reads whole; nothing was written",
                     tries);
  if (rc == PB_OK) {
    rep->atoms_copied = stats.atoms;
    rep->atom_bytes = stats.atom_bytes;
    pb__manifest man = {.first = seq, .n = 1, .seg = &one};
    bool renamed;
    rc = pb__manifest_write(fs, dir, &man, &renamed);
  }
  if (rc == PB_OK) {
    rc = fs->io->sync_dir(fs->io, dir);
    if (rc != PB_OK) pb__fs_fail(fs, rc, true, "salvage: fsync %s", dir);
  }
  free(path);
  return rc;
}

int pb__file_salvage(const char *dir, const char *newdir, const pb__io *io,
                     pb_salvage_report *rep) {
  pb_salvage_report local;
  if (rep == NULL) rep = &local;
  memset(rep, 0, sizeof *rep);
  if (dir == NULL || newdir == NULL || dir[0] == '\0' || newdir[0] == '\0' ||
      io == NULL)
    return PB_EINVAL;
  pb_file_options o;
  pb_file_options_init(&o);
  o.salvage = true;
  char msg[PB__FILE_MSG_SIZE];
  pb_storage *st = NULL;
  int rc = pb__file_storage_open(dir, &o, io, msg, sizeof msg, &st);
  if (rc != PB_OK) {
    pb__errdetail_set(msg);
    return rc;
  }
  pb__file_storage *fs = (pb__file_storage *)st;
  pb__salvage *sv = fs->salv;
  if (!sv->found_any)
    rc = pb__fs_fail(fs, PB_ENOTFOUND, false,
                     "salvage: no segment and no " PB__MANIFEST_NAME
                     ": not a store");
  else if (sv->n_commits == 0 && sv->rep.n_damage > 0)
    rc = pb__fs_fail(fs, PB__CORRUPT("nothing to salvage"), false,
                     "salvage: damaged before its first commit (%s); nothing "
                     "can be recovered, nothing was written",
                     sv->rep.damage[0].detail);
  *rep = sv->rep;
  bool created = false, prepared = false;
  if (rc == PB_OK) {
    rc = prepare_dir(fs, newdir, &created);
    prepared = rc == PB_OK;
  }
  if (rc == PB_OK)
    rc = sv->n_commits == 0 ? write_empty(fs, newdir)
                            : write_copy(fs, newdir, rep);
  if (rc != PB_OK && prepared) undo(fs, newdir, created);
  /* The copy may have found unreadable atoms: the damage list grew. */
  rep->n_damage = sv->rep.n_damage;
  memcpy(rep->damage, sv->rep.damage, sizeof rep->damage);
  if (rc != PB_OK) pb__errdetail_set(fs->msg);
  pb_storage_close(st);
  return rc;
}

int pb_storage_salvage(const char *dir, const char *newdir,
                       pb_salvage_report *rep) {
  return pb__file_salvage(dir, newdir, pb__io_posix(), rep);
}
