/*
 * storage/file_open.c - the life of a file storage handle: open (the
 * directory, the writer's LOCK file, recovery) and close (a last
 * fdatasync, the preallocated zeros cut off, everything freed).  The
 * commit path and the operations table are in file.c.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "storage/file.h"
#include "storage/file_salvage.h"
#include "util/errdetail.h"

/* Frees everything; also used when open fails half-way. */
static void fs_free(pb__file_storage *fs) {
  /* Replaced generations still pinned at close are obsolete: unlink. */
  pb__fs_free_generations(fs, fs->old, !fs->base.read_only);
  while (fs->all_pins != NULL) { /* no pin is held any more */
    pb__pins *p = fs->all_pins;
    fs->all_pins = p->next_all;
    free(p);
  }
  pb__fs_free_index(fs, &fs->index);
  for (size_t i = 0; i < fs->n_pend; i++) /* a failed open or store */
    free((void *)(uintptr_t)fs->pend[i].loc.data);
  free(fs->pend);
  for (size_t i = 0; i < fs->n_segs; i++) pb__seg_free(fs, fs->segs[i]);
  free(fs->segs);
  if (fs->lock_file != NULL) {
    fs->io->unlock(fs->lock_file);
    pb__io_close(fs->lock_file);
  }
  free(fs->dir);
  free(fs->torn_path);
  pb__salv_free(fs->salv);
  pb__ac_destroy(fs);
  pthread_mutex_destroy(&fs->msg_mu);
  pthread_mutex_destroy(&fs->gen_mu);
  pthread_mutex_destroy(&fs->compact_mu);
  pthread_rwlock_destroy(&fs->lock);
  pthread_cond_destroy(&fs->append_cv);
  pthread_cond_destroy(&fs->sync_cv);
  pthread_mutex_destroy(&fs->commit_mu);
  free(fs);
}

int pb__fs_close(pb_storage *st) {
  pb__file_storage *fs = (pb__file_storage *)st;
  pb__ac_stop(fs); /* abandons an automatic compaction before its switch */
  pb__fs_commit_lock(fs);
  int rc = pb__fs_flush_locked(fs);
  /* Leave the last segment ending at its last frame.  Zeros left by a
   * failure are a tail that the next writable open cuts. */
  if (rc == PB_OK && !fs->base.read_only && !fs->failed &&
      pb__seg_trim(fs->segs[fs->n_segs - 1]) != PB_OK)
    rc = PB_EIO;
  /* Every commit is durable now: record how far the last segment goes,
   * so that an open finds out if it is later cut or replaced by an older
   * copy (file_manifest.c). */
  if (rc == PB_OK && !fs->base.read_only && !fs->failed &&
      !pb__fs_manifest_current(fs)) {
    bool renamed;
    if (pb__fs_manifest_update(fs, fs->segs, fs->n_segs, &renamed) != PB_OK)
      rc = PB_EIO;
  }
  if (rc == PB_OK) pb__ac_save(fs); /* best effort: no error of its own */
  pb__fs_commit_unlock(fs);
  fs_free(fs);
  return rc;
}

/* --- Open --- */

/* Allocates the handle with its locks; NULL when out of memory. */
static pb__file_storage *fs_alloc(const char *dir, const pb_file_options *opts,
                                  const pb__io *io) {
  pb__file_storage *fs = calloc(1, sizeof *fs);
  if (fs == NULL) return NULL;
  fs->dir = strdup(dir);
  if (fs->dir == NULL) {
    free(fs);
    return NULL;
  }
  /* Default-attribute mutex/rwlock init does not fail on Linux/glibc. */
  pthread_mutex_init(&fs->commit_mu, NULL);
  pthread_rwlock_init(&fs->lock, NULL);
  pthread_mutex_init(&fs->msg_mu, NULL);
  pthread_mutex_init(&fs->gen_mu, NULL);
  pthread_mutex_init(&fs->compact_mu, NULL);
  pb__fs_pins_init(&fs->pins0);
  atomic_init(&fs->cur_pins, &fs->pins0);
  pb__pubroot_init(&fs->pub);
  pthread_condattr_t ca;
  pthread_condattr_init(&ca);
  pthread_cond_init(&fs->sync_cv, NULL);
  pthread_condattr_setclock(&ca, CLOCK_MONOTONIC); /* group_window */
  pthread_cond_init(&fs->append_cv, &ca);
  pthread_condattr_destroy(&ca);
  atomic_init(&fs->n_entering, 0);
  fs->group_window_ns = PB__FILE_GROUP_WINDOW_NS;
  fs->base.ops = &pb__file_ops;
  fs->base.read_only = opts->read_only;
  fs->io = io;
  fs->opts = *opts;
  fs->use_map = io->map != NULL;
  pb__batch_index_init(&fs->index);
  pb__ac_init(fs);
  return fs;
}

/* The parent directory of `dir` ("." when it has no slash), malloc'd. */
static char *parent_of(const char *dir) {
  size_t n = strlen(dir);
  while (n > 1 && dir[n - 1] == '/') n--; /* trailing slashes */
  while (n > 0 && dir[n - 1] != '/') n--; /* the last component */
  while (n > 1 && dir[n - 1] == '/') n--; /* slashes before it */
  if (n == 0) return strdup(".");
  char *p = malloc(n + 1);
  if (p != NULL) {
    memcpy(p, dir, n);
    p[n] = '\0';
  }
  return p;
}

/* Creates the directory when missing; fsyncs its parent when it did. */
static int make_dir(pb__file_storage *fs) {
  int rc = fs->io->mkdir(fs->io, fs->dir);
  if (rc == PB_EEXIST) return PB_OK;
  if (rc != PB_OK) return pb__fs_fail(fs, rc, true, "create the directory");
  char *parent = parent_of(fs->dir);
  if (parent == NULL) return PB_ENOMEM;
  rc = fs->io->sync_dir(fs->io, parent);
  if (rc != PB_OK) pb__fs_fail(fs, rc, true, "fsync %s", parent);
  free(parent);
  return rc;
}

/* Takes DIR/LOCK exclusively for the writer's lifetime. */
static int take_lock(pb__file_storage *fs) {
  size_t n = strlen(fs->dir) + sizeof "/LOCK";
  char *path = malloc(n);
  if (path == NULL) return PB_ENOMEM;
  snprintf(path, n, "%s/LOCK", fs->dir);
  int rc = fs->io->open(fs->io, path, PB__IO_WRITE | PB__IO_CREATE,
                        &fs->lock_file);
  if (rc != PB_OK) {
    pb__fs_fail(fs, rc, true, "open %s", path);
  } else {
    rc = fs->io->lock(fs->lock_file);
    if (rc == PB_ELOCKED)
      pb__fs_fail(fs, rc, false,
                  "%s is held: another writer (this process or another) has "
                  "the storage open; open it read_only, or close the other",
                  path);
    else if (rc != PB_OK)
      pb__fs_fail(fs, rc, true, "lock %s", path);
    if (rc != PB_OK) {
      pb__io_close(fs->lock_file);
      fs->lock_file = NULL;
    }
  }
  free(path);
  return rc;
}

int pb__file_storage_open(const char *dir, const pb_file_options *opts,
                          const pb__io *io, char *errbuf, size_t errbuf_size,
                          pb_storage **out) {
  if (errbuf != NULL && errbuf_size > 0) errbuf[0] = '\0';
  if (out == NULL || dir == NULL || dir[0] == '\0' || io == NULL)
    return PB_EINVAL;
  *out = NULL;
  pb_file_options defaults;
  pb_file_options_init(&defaults);
  if (opts == NULL) opts = &defaults;
  if (opts->segment_size == 0 || opts->durability > PB_DURABILITY_NONE ||
      pb__ac_check_options(opts) != PB_OK)
    return PB_EINVAL;
  pb_file_options salvage_opts;
  if (opts->salvage) { /* salvage implies read_only */
    salvage_opts = *opts;
    salvage_opts.read_only = true;
    opts = &salvage_opts;
  }
  pb__file_storage *fs = fs_alloc(dir, opts, io);
  if (fs == NULL) return PB_ENOMEM;
  if (opts->salvage) {
    fs->salv = calloc(1, sizeof *fs->salv);
    if (fs->salv == NULL) {
      fs_free(fs);
      return PB_ENOMEM;
    }
  }
  int rc = PB_OK;
  if (!opts->read_only) {
    rc = make_dir(fs);
    if (rc == PB_OK) rc = take_lock(fs);
  }
  if (rc == PB_OK) rc = pb__fs_recover(fs);
  if (rc == PB_OK) { /* both heads start at the recovered commit */
    fs->pending_root = fs->root;
    fs->pending_lsn = fs->synced_lsn = fs->lsn;
    pb__fs_publish_root(fs, fs->root, fs->lsn);
    if (!opts->read_only) rc = pb__ac_start(fs);
  }
  if (rc != PB_OK) {
    int saved = errno;
    if (errbuf != NULL && errbuf_size > 0)
      snprintf(errbuf, errbuf_size, "%s", fs->msg);
    fs_free(fs);
    errno = saved;
    return rc;
  }
  *out = &fs->base;
  return PB_OK;
}

int pb_storage_open_file(const char *dir, const pb_file_options *opts,
                         pb_storage **out) {
  char msg[512] = "";
  int rc = pb__file_storage_open(dir, opts, pb__io_posix(), msg, sizeof msg,
                                 out);
  if (rc != PB_OK) pb__errdetail_set(msg);
  return rc;
}
