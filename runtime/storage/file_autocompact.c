/*
 * storage/file_autocompact.c - automatic compaction of the file tier: a
 * background thread that runs pb_storage_compact's code when the dead
 * bytes pass a threshold, throttled, stopped at close.
 *
 * Estimate.  Which atoms are dead is known only by walking what the root
 * reaches, which is what a compaction does.  So the estimate is the one a
 * steady workload makes exact: the live bytes are what the last compaction
 * copied (fs->ac_live; its output, the log's first bytes, is fs->ac_base),
 * and the dead bytes are the log bytes appended since (fs->ac_dead), every
 * frame counted as it is appended (pb__ac_appended, under commit_mu: an
 * addition and a compare).  In steady updates each commit writes new
 * versions of about as many bytes as it makes dead, so the estimate is
 * close.  When the data grows, it counts the growth as dead and compacts
 * early, which is cheap (each byte is copied a bounded number of times,
 * since the threshold grows with the base); when data is deleted, the
 * bytes it frees are not counted until a compaction measures them.
 * After an open of a log of at least compact_min_dead bytes (a shorter
 * one is taken as unknown, base 0, without I/O: nothing is due before
 * that many bytes are appended, and the first kick measures), the
 * estimate is read from DIR/ESTIMATE (below), or else the base from the
 * log's first segment: when it
 * begins with a compaction's BATCH frames (a compacted or backed-up
 * store), those frames are the live bytes and they end at the first
 * commit; otherwise nothing is known (base 0) and the first compaction
 * comes after compact_min_dead bytes.  This reads a frame header per
 * batch (1 MiB each), on the thread, not in the open.
 *
 * Trigger: ac_dead >= max(compact_min_dead, compact_dead_pct% of ac_base)
 * (pb__compact_threshold).  The thread then measures before it copies
 * (ac_copy_due): the walk alone finds the live bytes, and when the log
 * holds fewer dead bytes than the threshold of those, it copies nothing
 * and restarts the estimate from the measure (a bulk load, or a reopen of
 * a log no compaction began, is walked once, not rewritten).  The committer that passes it only sets a flag
 * and signals the thread; the compaction runs on the thread, so a commit's
 * latency is untouched but for the final pass, which stops writers for a
 * few fdatasyncs (file_compact.c).
 *
 * Throttle: a compaction that took T is followed by a pause of
 * T * (100 - duty) / duty before the next may start (compact_duty_pct),
 * so at most that share of the time goes to compacting, unless the
 * commits outrun it: when the dead bytes reach twice the threshold, the
 * pause gives way (disk use is bounded before the duty share).  After a failure (a full disk, an I/O error: nothing
 * changed, see pb_storage_compact) the pause is at least PB__AC_RETRY_NS,
 * doubled after each failure in a row up to 64 times that, and the next
 * commit past the threshold tries again; a failed store (PB_EFAILED)
 * stops it for good.
 *
 * Close: pb__ac_stop sets ac_abandon, which the compaction checks at
 * every atom it copies and before its final pass: it then gives up with
 * PB_ECLOSED, removing its output (nothing changed), so close waits at
 * most for one final pass.
 */
#include <assert.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <xxhash.h>

#include "storage/file.h"
#include "storage/file_format.h"
#include "util/endian.h"

/* The shortest pause after a failed automatic compaction. */
#define PB__AC_RETRY_NS 1000000000ull
/* The longest wait for write transactions to leave before a switch. */
#define PB__AC_DRAIN_NS 100000000ull

static uint64_t ac_now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

uint64_t pb__compact_threshold(uint64_t base, uint32_t dead_pct,
                               uint64_t min_dead) {
  uint64_t t = base / 100 * dead_pct + base % 100 * dead_pct / 100;
  if (dead_pct != 0 && t / dead_pct < base / 100) t = UINT64_MAX;
  return t > min_dead ? t : min_dead;
}

int pb__ac_check_options(const pb_file_options *o) {
  if (!o->auto_compact) return PB_OK;
  if (o->compact_duty_pct < 1 || o->compact_duty_pct > 100) return PB_EINVAL;
  if (o->compact_dead_pct == 0 && o->compact_min_dead == 0) return PB_EINVAL;
  return PB_OK;
}

void pb__ac_init(pb__file_storage *fs) {
  pthread_mutex_init(&fs->ac_mu, NULL);
  pthread_condattr_t ca;
  pthread_condattr_init(&ca);
  pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
  pthread_cond_init(&fs->ac_cv, &ca);
  pthread_cond_init(&fs->ac_gate_cv, &ca);
  pthread_condattr_destroy(&ca);
  atomic_init(&fs->ac_abandon, false);
  atomic_init(&fs->ac_writers, 0);
  atomic_init(&fs->ac_gate, false);
  fs->ac_threshold = UINT64_MAX; /* until the thread knows the base */
}

void pb__ac_destroy(pb__file_storage *fs) {
  assert(!fs->ac_started);
  pthread_cond_destroy(&fs->ac_gate_cv);
  pthread_cond_destroy(&fs->ac_cv);
  pthread_mutex_destroy(&fs->ac_mu);
}

void pb__ac_kick(pb__file_storage *fs, bool hurry) {
  assert(pb__fs_commit_held(fs));
  fs->ac_kicked = true;
  if (hurry) fs->ac_hurried = true;
  pthread_mutex_lock(&fs->ac_mu);
  fs->ac_kick = true;
  if (hurry) fs->ac_hurry = true;
  pthread_cond_signal(&fs->ac_cv);
  pthread_mutex_unlock(&fs->ac_mu);
}

/* Under commit_mu: the threshold from the base, and a kick when due. */
static void ac_rearm(pb__file_storage *fs) {
  assert(pb__fs_commit_held(fs));
  fs->ac_kicked = false;
  fs->ac_hurried = false;
  fs->ac_threshold =
      fs->opts.auto_compact && !fs->failed /* a failed store: never again */
          ? pb__compact_threshold(fs->ac_base, fs->opts.compact_dead_pct,
                                  fs->opts.compact_min_dead)
          : UINT64_MAX;
  if (fs->ac_started && fs->ac_dead >= fs->ac_threshold)
    pb__ac_kick(fs, fs->ac_dead - fs->ac_threshold >= fs->ac_threshold);
}

void pb__ac_compacted(pb__file_storage *fs, uint64_t base, uint64_t live) {
  assert(pb__fs_commit_held(fs));
  fs->ac_base = base;
  fs->ac_live = live;
  fs->ac_dead = 0;
  fs->ac_learned = true;
  /* The thread re-arms itself after a run it made; an explicit
   * compaction re-arms here (a kick already given stays given). */
  bool kicked = fs->ac_kicked, hurried = fs->ac_hurried;
  ac_rearm(fs);
  fs->ac_kicked = kicked;
  fs->ac_hurried = hurried;
}

/* The log bytes (segment ends).  Under commit_mu. */
static uint64_t log_bytes(const pb__file_storage *fs) {
  uint64_t n = 0;
  for (size_t i = 0; i < fs->n_segs; i++) n += fs->segs[i]->end;
  return n;
}

/* The base a compaction left at the start of the log, read from the first
 * segment's frame headers: *base is where the first commit frame ends
 * when BATCH frames come before it (else 0), *live their payload bytes.
 * Under compact_mu (no switch meanwhile).  Best effort: an I/O error
 * leaves the base unknown (0). */
static void learn_base(pb__file_storage *fs, uint64_t *base, uint64_t *live) {
  *base = *live = 0;
  pthread_rwlock_rdlock(&fs->lock);
  char *path = fs->n_segs > 0 ? strdup(fs->segs[0]->path) : NULL;
  pthread_rwlock_unlock(&fs->lock);
  pb__file *f = NULL;
  if (path == NULL ||
      fs->io->open(fs->io, path, PB__IO_READ, &f) != PB_OK) {
    free(path);
    return;
  }
  uint64_t pos = PB__WAL_HEADER_SIZE, batch_bytes = 0;
  bool batches = false;
  for (;;) {
    uint8_t h[PB__FRAME_HEADER_SIZE];
    pb__frame_header fh;
    if (pb__io_pread_full(f, h, sizeof h, pos) != PB_OK ||
        pb__frame_header_decode(h, &fh) != PB_OK)
      break;
    if (fh.type == PB__FRAME_BATCH) {
      batches = true;
      if (fh.len >= PB__BATCH_FIXED_SIZE)
        batch_bytes += fh.len - PB__BATCH_FIXED_SIZE;
      pos += pb__frame_size(fh.len);
      continue;
    }
    if (batches) { /* the switch commit that follows a compaction's copy */
      *base = pos + pb__frame_size(fh.len);
      *live = batch_bytes;
    }
    break;
  }
  pb__io_close(f);
  free(path);
}

/*
 * DIR/ESTIMATE: the estimate as a clean close left it, so that the next
 * open of the same log knows it without a walk (a log that no compaction
 * began would otherwise be measured at every open).  Written by a close
 * with automatic compaction on, of a log of at least compact_min_dead
 * bytes (a shorter one never starts anything at open).  Advisory: written
 * without a sync, and believed only when whole (its checksum)
 * and about this very log (the first segment's sequence number and the
 * log's bytes, which any commit or compaction changes); anything else is
 * ignored, as after a crash.  56 bytes, little-endian: magic "PBEST",
 * 0, 0, 1; the first segment's sequence number; the log's bytes; base;
 * live; dead; XXH3-64 of the 48 bytes before it.
 */
#define EST_NAME "ESTIMATE"
#define EST_SIZE 56u
static const uint8_t est_magic[8] = {'P', 'B', 'E', 'S', 'T', 0, 0, 1};

/* "<dir>/ESTIMATE", malloc'd; NULL when out of memory. */
static char *est_path(const pb__file_storage *fs) {
  size_t n = strlen(fs->dir) + sizeof "/" EST_NAME;
  char *p = malloc(n);
  if (p != NULL) snprintf(p, n, "%s/" EST_NAME, fs->dir);
  return p;
}

void pb__ac_save(pb__file_storage *fs) {
  assert(pb__fs_commit_held(fs));
  /* Only where it spares something: a log shorter than compact_min_dead
   * never starts a compaction, nor a walk, at open. */
  if (!fs->ac_learned || !fs->opts.auto_compact || fs->base.read_only ||
      fs->failed || fs->n_segs == 0 ||
      log_bytes(fs) < fs->opts.compact_min_dead)
    return;
  uint8_t b[EST_SIZE];
  memcpy(b, est_magic, 8);
  pb__store_le64(b + 8, fs->segs[0]->seq);
  pb__store_le64(b + 16, log_bytes(fs));
  pb__store_le64(b + 24, fs->ac_base);
  pb__store_le64(b + 32, fs->ac_live);
  pb__store_le64(b + 40, fs->ac_dead);
  pb__store_le64(b + 48, XXH3_64bits(b, 48));
  char *path = est_path(fs);
  pb__file *f = NULL;
  if (path != NULL &&
      fs->io->open(fs->io, path, PB__IO_WRITE | PB__IO_CREATE, &f) == PB_OK) {
    /* Best effort: a failure leaves a file the next open does not
     * believe (or none), and the estimate is measured again. */
    if (pb__io_pwrite(f, b, EST_SIZE, 0) == PB_OK)
      (void)pb__io_truncate(f, EST_SIZE);
    (void)pb__io_close(f);
  }
  free(path);
}

/* The estimate a clean close left for this log, when there is one to
 * believe (see above).  Under compact_mu. */
static bool est_load(pb__file_storage *fs, uint64_t *base, uint64_t *live,
                     uint64_t *dead) {
  char *path = est_path(fs);
  pb__file *f = NULL;
  uint8_t b[EST_SIZE];
  bool ok = path != NULL &&
            fs->io->open(fs->io, path, PB__IO_READ, &f) == PB_OK;
  uint64_t size = 0;
  ok = ok && pb__io_size(f, &size) == PB_OK && size == EST_SIZE &&
       pb__io_pread_full(f, b, EST_SIZE, 0) == PB_OK &&
       memcmp(b, est_magic, 8) == 0 &&
       pb__load_le64(b + 48) == XXH3_64bits(b, 48);
  if (f != NULL) (void)pb__io_close(f);
  free(path);
  if (!ok) return false;
  pb__fs_commit_lock(fs);
  ok = fs->n_segs > 0 && pb__load_le64(b + 8) == fs->segs[0]->seq &&
       pb__load_le64(b + 16) == log_bytes(fs);
  pb__fs_commit_unlock(fs);
  *base = pb__load_le64(b + 24);
  *live = pb__load_le64(b + 32);
  *dead = pb__load_le64(b + 40);
  return ok && *live <= *base + *dead && *base + *dead <= pb__load_le64(b + 16);
}

/* Sets the estimate from the log, once per open, unless a compaction of
 * this open set it already: from what a clean close left (est_load), or
 * from the log's first frames (learn_base).  Takes compact_mu, then
 * commit_mu. */
static void ac_learn(pb__file_storage *fs) {
  pb__fs_commit_lock(fs);
  bool learned = fs->ac_learned;
  pb__fs_commit_unlock(fs);
  if (learned) return; /* the usual case: no wait for a compaction */
  pthread_mutex_lock(&fs->compact_mu);
  pb__fs_commit_lock(fs);
  learned = fs->ac_learned;
  pb__fs_commit_unlock(fs);
  uint64_t base, live, dead;
  if (!learned && est_load(fs, &base, &live, &dead)) {
    pb__fs_commit_lock(fs);
    fs->ac_base = base;
    fs->ac_live = live;
    fs->ac_dead = dead;
    fs->ac_learned = true;
    ac_rearm(fs);
    pb__fs_commit_unlock(fs);
  } else if (!learned) {
    learn_base(fs, &base, &live);
    pb__fs_commit_lock(fs);
    uint64_t total = log_bytes(fs);
    fs->ac_base = base <= total ? base : 0;
    fs->ac_live = fs->ac_base != 0 ? live : 0;
    fs->ac_dead = total - fs->ac_base;
    fs->ac_learned = true;
    ac_rearm(fs);
    pb__fs_commit_unlock(fs);
  }
  pthread_mutex_unlock(&fs->compact_mu);
}

/* Before a copy, the walk alone (pb__fs_measure_live): the estimate
 * counts every byte appended as dead, growth included, and knows nothing
 * of a log that no compaction began (a bulk load, then a reopen), so a
 * kick may come when little is dead.  The walk starts at the published
 * root, which accounts for the log but for the commits appended and not
 * yet published (their batches, counted out).  When the dead bytes it
 * finds (those log bytes less the live ones) are below the threshold of
 * the live bytes, no copy is made: the estimate starts again from the
 * measure, as after a compaction to the live bytes, with every byte
 * appended since the root counted dead as usual (a big commit still in
 * flight then kicks again, and is measured once published).  True: a
 * copy is due (or the walk failed: the copy then reports what it finds). */
static bool ac_copy_due(pb__file_storage *fs) {
  pb_atom_ptr root;
  pthread_mutex_lock(&fs->compact_mu); /* no explicit compaction either */
  pb__fs_commit_lock(fs); /* no publication meanwhile */
  uint64_t covered = log_bytes(fs);
  for (size_t i = 0; i < fs->n_pend; i++)
    covered -= covered > fs->pend[i].loc.size ? fs->pend[i].loc.size
                                              : covered;
  int rc = fs->base.ops->read_root(&fs->base, &root, NULL);
  pb__fs_commit_unlock(fs);
  uint64_t live = 0;
  if (rc == PB_OK) rc = pb__fs_measure_live(fs, root, &live);
  uint64_t dead = covered > live ? covered - live : 0;
  bool due = rc != PB_OK ||
             dead >= pb__compact_threshold(live, fs->opts.compact_dead_pct,
                                           fs->opts.compact_min_dead);
  if (!due) {
    pb__fs_commit_lock(fs);
    uint64_t total = log_bytes(fs);
    fs->ac_base = live;
    fs->ac_live = live;
    fs->ac_dead = total > live ? total - live : 0;
    fs->ac_learned = true;
    pb__fs_commit_unlock(fs);
  }
  pthread_mutex_unlock(&fs->compact_mu);
  return due;
}

static void *ac_main(void *arg) {
  pb__file_storage *fs = arg;
  /* What the log holds of a compaction before this open, from the files
   * (ESTIMATE, the first segment's frames): only when the log is long
   * enough to be due at once.  A shorter one is taken as all unknown
   * (base 0) without reading anything: it starts nothing until the
   * appends pass compact_min_dead, and that first kick measures.  So the
   * open of a small store does no I/O on this thread. */
  pb__fs_commit_lock(fs);
  bool small = log_bytes(fs) < fs->opts.compact_min_dead;
  if (small) {
    fs->ac_dead = log_bytes(fs);
    ac_rearm(fs);
  }
  pb__fs_commit_unlock(fs);
  if (!small) ac_learn(fs);

  pthread_mutex_lock(&fs->ac_mu);
  for (;;) {
    while (!fs->ac_stop && !fs->ac_kick)
      pthread_cond_wait(&fs->ac_cv, &fs->ac_mu);
    /* The throttle's pause; a kick stays pending meanwhile. */
    while (!fs->ac_stop && !(fs->ac_hurry && fs->ac_fail_run == 0) &&
           ac_now() < fs->ac_not_before) {
      struct timespec dl = {
          .tv_sec = (time_t)(fs->ac_not_before / 1000000000u),
          .tv_nsec = (long)(fs->ac_not_before % 1000000000u)};
      pthread_cond_timedwait(&fs->ac_cv, &fs->ac_mu, &dl);
    }
    if (fs->ac_stop) break;
    fs->ac_kick = false;
    fs->ac_hurry = false;
    fs->ac_running = true;
    pthread_mutex_unlock(&fs->ac_mu);

    uint64_t t0 = ac_now();
    bool copy = ac_copy_due(fs);
    int rc = copy ? pb__fs_compact_run(fs, NULL, true) : PB_OK;
    uint64_t took = ac_now() - t0;

    pb__fs_commit_lock(fs);
    ac_rearm(fs); /* after a failure too: the next commit tries again */
    pb__fs_commit_unlock(fs);

    pthread_mutex_lock(&fs->ac_mu);
    fs->ac_running = false;
    fs->ac_ns += took;
    if (rc == PB_ECLOSED) continue; /* closing: the loop ends */
    uint32_t duty = fs->opts.compact_duty_pct;
    uint64_t pause = took / duty * (100 - duty);
    if (rc == PB_OK && !copy) {
      fs->ac_measured++;
    } else if (rc == PB_OK) {
      fs->ac_last_error = rc;
      fs->ac_runs++;
    } else if (rc == PB_EUNAVAILABLE) {
      fs->ac_busy++; /* a write transaction stayed open: later */
    } else {
      fs->ac_last_error = rc;
      fs->ac_failed++;
      /* 1 s, then twice as long after each failure in a row, to 64 s. */
      unsigned shift = fs->ac_fail_run < 6 ? fs->ac_fail_run : 6;
      fs->ac_fail_run++;
      if (pause < (PB__AC_RETRY_NS << shift)) pause = PB__AC_RETRY_NS << shift;
    }
    if (rc == PB_OK) fs->ac_fail_run = 0;
    fs->ac_not_before = ac_now() + pause;
  }
  pthread_mutex_unlock(&fs->ac_mu);
  return NULL;
}

/* --- The writers' gate --- */

void pb__ac_writer_enter(pb_storage *st) {
  pb__file_storage *fs = (pb__file_storage *)st;
  for (;;) {
    /* Counted first, then the gate looked at (both sequentially
     * consistent): either the switch sees this writer, or this writer
     * sees the gate closed. */
    atomic_fetch_add(&fs->ac_writers, 1);
    if (!atomic_load(&fs->ac_gate)) return;
    pb__ac_writer_leave(st); /* step back and wait for the switch */
    pthread_mutex_lock(&fs->ac_mu);
    while (atomic_load(&fs->ac_gate))
      pthread_cond_wait(&fs->ac_gate_cv, &fs->ac_mu);
    pthread_mutex_unlock(&fs->ac_mu);
  }
}

void pb__ac_writer_leave(pb_storage *st) {
  pb__file_storage *fs = (pb__file_storage *)st;
  unsigned was = atomic_fetch_sub(&fs->ac_writers, 1);
  assert(was > 0);
  if (was == 1 && atomic_load(&fs->ac_gate)) {
    pthread_mutex_lock(&fs->ac_mu); /* the switch waits under ac_mu */
    pthread_cond_broadcast(&fs->ac_gate_cv);
    pthread_mutex_unlock(&fs->ac_mu);
  }
}

int pb__ac_gate_close(pb__file_storage *fs) {
  uint64_t end = ac_now() + PB__AC_DRAIN_NS;
  struct timespec dl = {.tv_sec = (time_t)(end / 1000000000u),
                        .tv_nsec = (long)(end % 1000000000u)};
  pthread_mutex_lock(&fs->ac_mu);
  atomic_store(&fs->ac_gate, true);
  while (atomic_load(&fs->ac_writers) > 0 && !atomic_load(&fs->ac_abandon) &&
         ac_now() < end)
    pthread_cond_timedwait(&fs->ac_gate_cv, &fs->ac_mu, &dl);
  int rc = PB_OK;
  if (atomic_load(&fs->ac_abandon))
    rc = PB_ECLOSED;
  else if (atomic_load(&fs->ac_writers) > 0)
    rc = PB_EUNAVAILABLE;
  if (rc != PB_OK) {
    atomic_store(&fs->ac_gate, false);
    pthread_cond_broadcast(&fs->ac_gate_cv);
  }
  pthread_mutex_unlock(&fs->ac_mu);
  return rc;
}

void pb__ac_gate_open(pb__file_storage *fs) {
  pthread_mutex_lock(&fs->ac_mu);
  atomic_store(&fs->ac_gate, false);
  pthread_cond_broadcast(&fs->ac_gate_cv);
  pthread_mutex_unlock(&fs->ac_mu);
}

int pb__ac_start(pb__file_storage *fs) {
  if (!fs->opts.auto_compact || fs->base.read_only) return PB_OK;
  fs->ac_started = true;
  if (pthread_create(&fs->ac_thread, NULL, ac_main, fs) != 0) {
    fs->ac_started = false;
    return pb__fs_fail(fs, PB_ENOMEM, true,
                       "start the automatic compaction thread");
  }
  return PB_OK;
}

void pb__ac_stop(pb__file_storage *fs) {
  if (!fs->ac_started) return;
  pthread_mutex_lock(&fs->ac_mu);
  fs->ac_stop = true;
  atomic_store(&fs->ac_abandon, true);
  pthread_cond_signal(&fs->ac_cv);
  pthread_cond_broadcast(&fs->ac_gate_cv); /* a drain in progress */
  pthread_mutex_unlock(&fs->ac_mu);
  pthread_join(fs->ac_thread, NULL);
  fs->ac_started = false;
}

int pb__fs_disk_usage(pb_storage *st, pb_disk_usage *out) {
  pb__file_storage *fs = (pb__file_storage *)st;
  ac_learn(fs); /* without the thread (read-only, or off): on first use */
  pb__fs_commit_lock(fs);
  out->log_bytes = log_bytes(fs);
  for (size_t i = 0; i < fs->n_segs; i++) {
    const pb__segment *s = fs->segs[i];
    out->file_bytes += s->alloc > s->end ? s->alloc : s->end;
  }
  pthread_mutex_lock(&fs->gen_mu);
  for (const pb__generation *g = fs->old; g != NULL; g = g->next)
    for (size_t i = 0; i < g->n_segs; i++) {
      const pb__segment *s = g->segs[i];
      out->file_bytes += s->alloc > s->end ? s->alloc : s->end;
    }
  pthread_mutex_unlock(&fs->gen_mu);
  out->base_bytes = fs->ac_base;
  out->live_bytes = fs->ac_live;
  out->dead_bytes = fs->ac_dead;
  out->next_auto = fs->ac_threshold;
  pthread_mutex_lock(&fs->ac_mu);
  out->auto_runs = fs->ac_runs;
  out->auto_measured = fs->ac_measured;
  out->auto_failed = fs->ac_failed;
  out->auto_busy = fs->ac_busy;
  out->auto_ns = fs->ac_ns;
  out->auto_last_error = fs->ac_last_error;
  out->auto_running = fs->ac_running;
  pthread_mutex_unlock(&fs->ac_mu);
  pb__fs_commit_unlock(fs);
  return PB_OK;
}
