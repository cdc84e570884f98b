/*
 * storage/file.h - StandaloneFileStorage internals, shared by file.c (the
 * tier: open, commit, read, close), file_segment.c (segment files and their
 * mappings) and file_recover.c (the scan that runs on open).
 *
 * State and locks:
 *
 *   commit_mu  serializes everything that writes: commit, flush, rollover,
 *              close, and guards the group-commit state (the pending head,
 *              the list of unpublished commits, synced_lsn, syncing,
 *              failed).  It is held across pwrite, but NOT across a
 *              commit's fdatasync: the group leader releases it while it
 *              syncs, so others keep appending (group commit, see file.c).
 *              The fdatasyncs of rollover and flush run under it.
 *   sync_cv    (with commit_mu) broadcast when a sync ends: publication,
 *              failure, or the end of a leader's sync (rollover waiters).
 *   append_cv  (with commit_mu) broadcast when a committer appended or gave
 *              up while a leader waits on it (its window, file.c).
 *   lock       a pthread rwlock over what read_atom looks at: the batch
 *              index, the segment array and each segment's mapping.
 *              Readers share it; a committer takes it exclusively only to
 *              publish, after the fdatasync covering the commit returned,
 *              so a reader is never blocked by a slow disk.
 *   pub_*      the PUBLISHED head (root and LSN) as readers see it: a
 *              seqlock made of atomics only (pb__fs_publish_root,
 *              pb__fs_published_root below), written under commit_mu after
 *              the index holds the batches it points to; read_root takes
 *              no lock.  fs->root and fs->lsn are the same head for
 *              holders of commit_mu.
 *   msg_mu     guards the failure message.
 *
 * A committer reads root/index without `lock` while holding commit_mu:
 * only holders of commit_mu change them, so that read cannot race a write.
 * Every change to what readers look at - publication, but also growing the
 * index or the segment array, which moves memory - takes `lock` for
 * writing.
 *
 * Reads never copy: with mmap (the POSIX layer), every segment is mapped
 * once, read-only and shared, and views point into the mapping; the active
 * segment is mapped with room to grow (see PB__FILE_MAP_RESERVE), and when
 * a frame would not fit, a larger mapping replaces it while the old one is
 * kept ("retired") until close, since views may point into it.  Without
 * mmap (an I/O layer whose `map` is NULL, such as the simulated disk of
 * tests/support/simfs.h), each batch is kept as a heap copy until close.  Either way a
 * view stays valid until close.
 */
#ifndef PB_STORAGE_FILE_H
#define PB_STORAGE_FILE_H

#include <assert.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "io/io.h"
#include "storage/batch_index.h"
#include "storage/file_format.h"
#include "storage/pubroot.h"
#include "storage/storage.h"
#include "util/held.h"
#include "util/thread_idx.h"

/* How far past the needed length the active segment's mapping reaches
 * (capped by segment_size): one mapping usually serves a whole segment. */
#define PB__FILE_MAP_RESERVE (1ull << 30)

/* Capacity of the failure message, NUL included. */
#define PB__FILE_MSG_SIZE 512

/** A mapping that was replaced by a larger one and waits for close. */
typedef struct pb__retired_map {
  const void *addr; /* as returned by io->map */
  size_t len;       /* as given to io->map */
} pb__retired_map;

/** One WAL segment file. */
typedef struct pb__segment {
  uint64_t seq;            /* sequence number (file name and header) */
  uint64_t id_hi;          /* random segment id, from the header */
  uint64_t id_lo;
  char *path;              /* dir + "/seg-<seq>.wal", owned */
  pb__file *file;          /* open handle; only the writer's active segment
                              keeps one after open, else NULL */
  uint64_t end;            /* bytes of header + valid frames; appends go
                              here (changed under commit_mu) */
  uint64_t frames;         /* number of valid frames */
  uint64_t alloc;          /* when > end: the file may reach this far
                              with zeros after `end`, reserved and written
                              ahead of the frames; else no zeros follow
                              (commit_mu; see pb__seg_make_room) */
  const uint8_t *map;      /* read-only mapping of [0, map_len), or NULL */
  size_t map_len;          /* bytes mapped */
  pb__retired_map *retired; /* replaced mappings, unmapped at close */
  size_t n_retired;        /* used entries of retired */
  size_t cap_retired;      /* allocated entries of retired */
} pb__segment;

/** Default GROUP window: how long a leader may wait for more appends. */
#define PB__FILE_GROUP_WINDOW_NS 100000u
/** The longest a leader waits for the committers the last sync released
 * to append again (file.c), unless the group window is longer; never
 * longer than that last sync took. */
#define PB__FILE_RETURN_WAIT_NS 2000000u

/** A commit appended to the WAL but not published yet (not synced). */
typedef struct pb__pending {
  uint64_t lsn;        /* its LSN */
  pb_atom_ptr root;    /* its new root */
  uint64_t id_hi;      /* its batch id; (0, 0) for a root-only commit */
  uint64_t id_lo;
  pb__batch_loc loc;   /* the index entry to insert at publication; a heap
                          copy at loc.data is owned here until then */
} pb__pending;

/* Stripes of a pin count: a pin counts on its thread's stripe
 * (util/thread_idx.h, modulo this power of two). */
#define PB__PIN_STRIPES 16u

/** One stripe of a pin count, alone on its cache line: the count and its
 * owner are 16 bytes at a 16-byte boundary (never across a line) and
 * stripes are a line apart, so no two counts share a line.  16-byte
 * alignment is what malloc and calloc give. */
typedef struct pb__pin_stripe {
  _Alignas(16) atomic_size_t n; /* pins counted here (and, briefly, pins
                                   being taken that will be undone) */
  struct pb__pins *owner;       /* the record it belongs to (set once) */
  char pad[PB__CACHE_LINE - 16];
} pb__pin_stripe;

/**
 * The pin count of one generation (file_gen.c): the sum of its stripes.
 * A record is never freed before close, because a reader may still hold
 * its address from a load of fs->cur_pins; one is allocated per
 * compaction switch.  The head pad keeps the first stripe off the line of
 * whatever precedes the record (in pb__file_storage: cur_pins, which
 * every pin reads).
 */
typedef struct pb__pins {
  char head[PB__CACHE_LINE];
  pb__pin_stripe stripe[PB__PIN_STRIPES];
  struct pb__pins *next_all;  /* the store's other records (gen_mu) */
} pb__pins;

/**
 * A generation: the segments and index that a compaction replaced.  It is
 * kept, readable, until no pin taken while it (or an older one) was current
 * is held any more, then its files are unmapped, closed and unlinked
 * (file_gen.c).  Pointers of one generation only reach atoms of the same
 * generation, because a commit built on an older snapshot than the switch
 * is refused (PB_ECONFLICT).
 */
typedef struct pb__generation {
  struct pb__generation *next; /* the next OLDER generation, or NULL */
  pb__pins *pins;              /* pins taken while it was current */
  pb__segment **segs;          /* its segments, owned */
  size_t n_segs;               /* entries of segs */
  pb__batch_index index;       /* its batches (heap copies owned when the
                                  layer has no mmap) */
} pb__generation;

/** Name of the manifest file in the store's directory (file_manifest.c). */
#define PB__MANIFEST_NAME "MANIFEST"

/** One segment as a manifest records it. */
typedef struct pb__manifest_seg {
  uint64_t id_hi; /* its header's id */
  uint64_t id_lo;
  uint64_t size;  /* exact for all but the last; a lower bound for it */
} pb__manifest_seg;

/** A decoded manifest: segments first .. first + n - 1. */
typedef struct pb__manifest {
  uint64_t first;        /* sequence number of the first segment */
  size_t n;              /* segments (>= 1) */
  pb__manifest_seg *seg; /* owned */
} pb__manifest;

/** The file tier's handle. */
typedef struct pb__file_storage {
  pb_storage base;           /* must be first */
  const pb__io *io;          /* every file operation goes through it */
  char *dir;                 /* the directory path, owned */
  pb_file_options opts;      /* as given (defaults filled in) */
  bool use_map;              /* io->map exists: views point into mappings */
  pb__file *lock_file;       /* DIR/LOCK, flock'd; NULL when read-only */
  pthread_mutex_t commit_mu; /* serializes writers (see above) */
  pb__owner commit_owner;    /* who holds commit_mu, for assertions */
  pthread_rwlock_t lock;     /* guards the published state (see above) */
  pb__segment **segs;        /* segments by ascending seq; last = active */
  size_t n_segs;             /* used entries of segs */
  size_t cap_segs;           /* allocated entries of segs */
  pb__batch_index index;     /* batch id -> (segment, offset, size) */
  pb_atom_ptr root;          /* the PUBLISHED head (commit_mu; readers
                                without it use pub_*) */
  uint64_t lsn;              /* LSN of the published root (0: none yet) */
  pb__pubroot pub;              /* the published root and its LSN */
  pb_atom_ptr pending_root;  /* the PENDING head: root of the last commit
                                appended (synced or not); the CAS checks
                                against it (commit_mu) */
  uint64_t pending_lsn;      /* its LSN (commit_mu) */
  uint64_t synced_lsn;       /* every commit up to it is durable */
  pb__pending *pend;         /* appended, unpublished commits, by LSN
                                (fs->lsn + 1 .. pending_lsn; commit_mu) */
  size_t n_pend;             /* used entries of pend */
  size_t cap_pend;           /* allocated entries of pend */
  bool syncing;              /* a leader's fdatasync is in flight */
  size_t n_roll_waiting;     /* committers waiting for it to roll over */
  atomic_uint n_entering;    /* committers inside fs_commit that have not
                                appended or given up yet (GROUP window) */
  uint64_t group_window_ns;  /* the leader's longest wait (file.c) */
  /* The committers the last publication released, expected back (file.c,
   * "returning committers"; commit_mu): */
  uint64_t release_epoch;    /* publications so far */
  uint64_t release_ns;       /* when the last one happened (CLOCK_MONOTONIC) */
  uint64_t last_sync_ns;     /* how long the last leader's fdatasync took */
  size_t n_returning;        /* commits it published whose committers have
                                not appended again since */
  bool leader_waiting;       /* a leader waits on append_cv */
  uint64_t n_leader_waits;   /* leaders that waited before syncing
                                (statistics, commit_mu) */
  uint64_t n_syncs;          /* fdatasyncs by group leaders (statistics) */
  pthread_cond_t sync_cv;    /* see above */
  pthread_cond_t append_cv;  /* see above */
  bool failed;               /* a sync failed: refuse writes (PB_EFAILED) */
  bool no_prealloc;          /* the file system cannot reserve blocks
                                (fallocate); zeros are still written */
  /* commit scratch: the frame header and the commit record, written by
   * one pwritev with the batch's own bytes and the padding */
  uint8_t frame_head[PB__FRAME_HEADER_SIZE + PB__COMMIT_FIXED_SIZE];
  /* Compaction and generations (file_compact.c, file_gen.c).  Lock order:
   * commit_mu, then gen_mu, then lock. */
  pthread_mutex_t compact_mu; /* one compaction at a time */
  pthread_mutex_t gen_mu;    /* guards `old` (with lock) and all_pins;
                                pins themselves take no lock */
  _Atomic(pb__pins *) cur_pins; /* the current generation's pin count */
  pb__pins pins0;            /* the first generation's */
  pb__pins *all_pins;        /* later ones, freed at close (gen_mu) */
  pb__generation *old;       /* replaced generations, newest first; the
                                list is changed under gen_mu AND lock */
  uint64_t switch_lsn;       /* LSN of the last compaction's switch in this
                                open (0: none); a commit whose snapshot is
                                older is refused (commit_mu) */
  void (*compact_hook)(void *arg, int pass); /* tests: see below */
  void *compact_hook_arg;
  /* Automatic compaction (file_autocompact.c).  Lock order: commit_mu,
   * then ac_mu. */
  uint64_t ac_base;          /* log bytes right after the last compaction,
                                or found at open; 0: unknown (commit_mu) */
  uint64_t ac_live;          /* the atom bytes it copied (commit_mu) */
  uint64_t ac_dead;          /* log bytes appended since (commit_mu) */
  uint64_t ac_threshold;     /* ac_dead that starts one; UINT64_MAX: off
                                or not known yet (commit_mu) */
  bool ac_kicked;            /* the thread was told and has not finished
                                (commit_mu) */
  bool ac_hurried;           /* ... and told to skip its pause (commit_mu) */
  bool ac_learned;           /* ac_base and ac_live are set (commit_mu) */
  bool ac_started;           /* the thread runs (set before it starts) */
  pthread_t ac_thread;
  pthread_mutex_t ac_mu;     /* guards the fields below */
  pthread_cond_t ac_cv;      /* kick and stop; CLOCK_MONOTONIC */
  bool ac_kick;              /* a compaction is due */
  bool ac_hurry;             /* dead bytes reached twice the threshold:
                                no pause before the next one */
  bool ac_stop;              /* close: the thread ends */
  bool ac_running;           /* one runs now */
  uint64_t ac_not_before;    /* throttle: no start before (monotonic ns) */
  uint64_t ac_runs, ac_failed, ac_busy, ac_ns; /* statistics */
  uint64_t ac_measured;      /* kicks a measure answered with no copy */
  unsigned ac_fail_run;      /* failures in a row (the retry pause) */
  int ac_last_error;
  atomic_bool ac_abandon;    /* close: a running automatic compaction gives
                                up at its next atom (no lock) */
  atomic_uint ac_writers;    /* write transactions inside (writer_enter) */
  atomic_bool ac_gate;       /* an automatic switch is due: new write
                                transactions wait (ac_gate_cv, ac_mu) */
  pthread_cond_t ac_gate_cv; /* the gate opened, or the writers left */
  /* The manifest (file_manifest.c; commit_mu after open): */
  bool man_valid;            /* MANIFEST on disk describes fs->segs, with
                                the last segment's size man_last_size */
  uint64_t man_last_seq;     /* its last segment */
  uint64_t man_last_size;    /* the size it records for it */
  pb_recovery_info rinfo;    /* what the open found (pb_storage_recovery_info) */
  /* Recovery's deferred changes (file_recover.c), made only once every
   * check passed: */
  uint64_t tail_pos;         /* a torn tail of the last segment starts here */
  uint64_t tail_fsize;       /* ... and the file ends here (0: no tail) */
  char *torn_path;           /* a torn, frame-less last segment to remove */
  struct pb__salvage *salv;  /* opts.salvage: what was read and skipped
                                (file_salvage.h); NULL otherwise */
  unsigned n_rereads;        /* read-only open: frames read again, and */
  unsigned n_rescans;        /* scans started over (file_recover.c) */
  pthread_mutex_t msg_mu;    /* guards msg */
  char msg[PB__FILE_MSG_SIZE]; /* latest failure, "" when none */
} pb__file_storage;

/**
 * Opens a file storage through a given I/O layer (pb_storage_open_file uses
 * pb__io_posix()).  On failure, when errbuf is not NULL, a sentence naming
 * the file and offset is copied there.  Errors: as pb_storage_open_file.
 */
int pb__file_storage_open(const char *dir, const pb_file_options *opts,
                          const pb__io *io, char *errbuf, size_t errbuf_size,
                          pb_storage **out);

/**
 * Records a failure message ("<dir>: " + the formatted text, and when
 * `with_errno`, the text of the errno current at the call) and returns rc.
 * errno is preserved.
 */
int pb__fs_fail(pb__file_storage *fs, int rc, bool with_errno,
                const char *fmt, ...) __attribute__((format(printf, 4, 5)));

/**
 * Under commit_mu: fails the store, which then refuses writes until
 * reopened (PB_EFAILED); no unpublished commit will ever be published, and
 * their committers are woken to get PB_EIO.
 */
void pb__fs_fail_store(pb__file_storage *fs);

/**
 * Under commit_mu: waits for a sync in flight, then makes every appended
 * commit durable and publishes it (so fs->n_pend is 0 on success).
 * Errors: PB_EIO (the sync failed; the store is failed, see file.c).
 */
int pb__fs_flush_locked(pb__file_storage *fs);

/** The file tier's operations (file.c), which open installs. */
extern const pb__storage_ops pb__file_ops;
/** Closes the store: flush, cut the preallocated zeros, free (file_open.c).
 * Errors: PB_EIO (the last fdatasync, or the cut, failed). */
int pb__fs_close(pb_storage *st);

/**
 * Sets the GROUP window of a file storage: the longest time, in ns, a
 * group leader waits for committers that are on their way to append
 * before it syncs (0: never wait).  Errors: PB_EINVAL (not a file tier).
 */
int pb__file_set_group_window(pb_storage *st, uint64_t ns);
/**
 * The PENDING head: the root and LSN of the last commit appended, synced
 * or not; a commit whose `expected` is this root passes the CAS, so a
 * caller can build on a commit that is not durable yet (its atoms may not
 * be readable by read_atom before publication).  read_root gives the
 * PUBLISHED head.  lsn may be NULL.
 */
void pb__file_pending_root(pb_storage *st, pb_atom_ptr *root, uint64_t *lsn);
/** fdatasyncs issued by commit group leaders since open (statistics). */
uint64_t pb__file_sync_count(pb_storage *st);

/* --- Generations and pins (file_gen.c) --- */

/** The bytes of a batch at `loc` among segments `segs`. */
const uint8_t *pb__fs_loc_bytes(pb__segment *const *segs, size_t n_segs,
                                const pb__batch_loc *loc);
/**
 * Finds a published batch in the current generation, then in the old
 * ones; gives its bytes and size.  Under fs->lock (read or write).
 * Returns false when absent.
 */
bool pb__fs_find_batch(const pb__file_storage *fs, uint64_t hi, uint64_t lo,
                       const uint8_t **data, uint64_t *size);
/** Pins the current generation: *token names it and the stripe counted
 * (the calling thread's; the pin may be released on any thread).  Cannot
 * fail; takes no lock (a few atomic operations on a line no other thread
 * writes, as long as threads have distinct stripes). */
void pb__fs_pin(pb__file_storage *fs, uint64_t *token);
/** Releases a pin; the last pin of a replaced generation frees the old
 * generations nobody can read any more (under gen_mu). */
void pb__fs_unpin(pb__file_storage *fs, uint64_t token);
/**
 * Retires the current generation (its segments and index, counted by
 * fs->cur_pins) and makes `segs` / `index` current.  Under commit_mu,
 * gen_mu and the write lock; cannot fail: `g` is preallocated.  Pins still
 * count against the retired generation until pb__fs_switch_pins.
 */
void pb__fs_retire(pb__file_storage *fs, pb__generation *g,
                   pb__segment **segs, size_t n_segs, size_t cap_segs,
                   pb__batch_index *index);
/**
 * Under commit_mu and gen_mu, after pb__fs_retire and after the new root
 * is published (pb__fs_publish_root): new pins count on `fresh`
 * (preallocated, zeroed here; kept until close).  The caller then frees what
 * pb__fs_collect_old detaches, after dropping the locks.
 */
void pb__fs_switch_pins(pb__file_storage *fs, pb__pins *fresh);
/** Zeroes a pin count record (its stripes and their owners). */
void pb__fs_pins_init(pb__pins *p);
/** The pins counted by `p`: the sum of its stripes, each read
 * sequentially consistently (file_gen.c). */
size_t pb__fs_pins_held(pb__pins *p);
/**
 * Detaches, under gen_mu (it takes the write lock itself), the old generations nobody
 * pins (oldest first, stopping at a pinned one) and returns them as a list
 * for pb__fs_free_generations.
 */
pb__generation *pb__fs_collect_old(pb__file_storage *fs);
/** Unmaps, closes, unlinks and frees detached generations (no locks). */
void pb__fs_free_generations(pb__file_storage *fs, pb__generation *list,
                             bool unlink_files);
/** Frees a batch index and, without mmap, the heap copies it owns. */
void pb__fs_free_index(const pb__file_storage *fs, pb__batch_index *ix);

/* --- Compaction (file_compact.c) --- */

/** The compact op: see pb_storage_compact. */
int pb__fs_compact(pb_storage *st, pb_compact_stats *stats);
/**
 * Tests: calls fn(arg, pass) after each catch-up pass that runs without
 * blocking writers (pass 0, 1, ...) and with `pass` -1 just before the
 * final pass takes commit_mu, on the compacting thread, holding no lock
 * but the compaction's own.  fn NULL removes it.  Set it while no
 * compaction runs.  Errors: PB_EINVAL (not a file tier).
 */
int pb__file_set_compact_hook(pb_storage *st, void (*fn)(void *, int),
                              void *arg);

/**
 * Runs a compaction: pb_storage_compact when `automatic` is false; when
 * true, it gives up with PB_ECLOSED, changing nothing, once fs->ac_abandon
 * is set, at any point before its final pass.
 */
int pb__fs_compact_run(pb__file_storage *fs, pb_compact_stats *stats,
                       bool automatic);
/**
 * The walk of a compaction without its copy: *live gets the bytes of the
 * atoms `root` (published) reaches, each counted once.  Writes nothing.
 * The caller holds compact_mu (no switch: the views stay).  Gives up with PB_ECLOSED once fs->ac_abandon is set.
 * Errors: PB_ECORRUPT (an atom the root reaches is missing or malformed),
 * PB_ENOMEM, PB_ECLOSED.
 */
int pb__fs_measure_live(pb__file_storage *fs, pb_atom_ptr root,
                        uint64_t *live);

/* --- Automatic compaction (file_autocompact.c) --- */

/** The dead bytes at which an automatic compaction starts, given the
 * bytes after the last compaction (`base`, 0 when unknown): the larger of
 * `min_dead` and `dead_pct` percent of `base` (saturating). */
uint64_t pb__compact_threshold(uint64_t base, uint32_t dead_pct,
                               uint64_t min_dead);
/** Checks the options of automatic compaction.  Errors: PB_EINVAL. */
int pb__ac_check_options(const pb_file_options *o);
/** Initializes the state (fs_alloc); cannot fail. */
void pb__ac_init(pb__file_storage *fs);
/** Starts the thread of a writable open whose options turn it on (after
 * recovery).  Errors: PB_ENOMEM (the thread could not be created). */
int pb__ac_start(pb__file_storage *fs);
/** Stops and joins the thread, abandoning a compaction that has not
 * reached its final pass; without commit_mu.  A no-op when not started. */
void pb__ac_stop(pb__file_storage *fs);
/** Frees the state (fs_free). */
void pb__ac_destroy(pb__file_storage *fs);
/** Under commit_mu, after a commit appended `bytes` to the log: counts
 * them as dead and wakes the thread when the threshold is passed. */
static inline void pb__ac_appended(pb__file_storage *fs, uint64_t bytes);
/** Under commit_mu, at a compaction's switch: the log is now `base` bytes,
 * holding `live` bytes of atoms. */
void pb__ac_compacted(pb__file_storage *fs, uint64_t base, uint64_t live);
/** Wakes the thread (under commit_mu); `hurry`: skip the pause too. */
void pb__ac_kick(pb__file_storage *fs, bool hurry);
/** At a clean close (commit_mu held, every commit durable): leaves the
 * estimate in DIR/ESTIMATE for the next open of the same log, best
 * effort (file_autocompact.c). */
void pb__ac_save(pb__file_storage *fs);
/** The writer_enter and writer_leave ops (storage/storage.h). */
void pb__ac_writer_enter(pb_storage *st);
void pb__ac_writer_leave(pb_storage *st);
/**
 * Before an automatic compaction's final pass: closes the gate (new write
 * transactions wait in writer_enter) and waits until no write transaction
 * is inside, at most PB__AC_DRAIN_NS.  Errors: PB_EUNAVAILABLE (one stayed
 * longer: the gate is open again and the caller gives up for now).
 */
int pb__ac_gate_close(pb__file_storage *fs);
/** Opens the gate closed by pb__ac_gate_close. */
void pb__ac_gate_open(pb__file_storage *fs);
/** The disk_usage op: see pb_storage_disk_usage. */
int pb__fs_disk_usage(pb_storage *st, pb_disk_usage *out);

static inline void pb__ac_appended(pb__file_storage *fs, uint64_t bytes) {
  fs->ac_dead += bytes;
  if (fs->ac_dead < fs->ac_threshold) return;
  if (!fs->ac_kicked) pb__ac_kick(fs, false);
  /* Falling behind the commits: the throttle's pause gives way. */
  if (!fs->ac_hurried && fs->ac_dead - fs->ac_threshold >= fs->ac_threshold)
    pb__ac_kick(fs, true);
}

/* --- The manifest (file_manifest.c) --- */

/** Frees a manifest's entries. */
void pb__manifest_free(pb__manifest *m);
/**
 * Reads and validates DIR/MANIFEST into *m (freed with pb__manifest_free).
 * Errors: PB_ENOTFOUND (no manifest: a store from before it, no message);
 * PB_ECORRUPT (bad magic, version, size or checksum, naming the file);
 * PB_EIO; PB_ENOMEM.
 */
int pb__fs_manifest_read(pb__file_storage *fs, pb__manifest *m);
/** Writes `m` to `dir`/MANIFEST.tmp and fsyncs it (removed on failure).
 * Errors: PB_ENOSPC; PB_EIO; PB_ENOMEM. */
int pb__manifest_prepare(pb__file_storage *fs, const char *dir,
                         const pb__manifest *m);
/** Renames `dir`/MANIFEST.tmp over MANIFEST and fsyncs `dir`.  After a
 * failure it is unknown which one a crash would leave.  Errors: PB_EIO;
 * PB_ENOMEM. */
int pb__manifest_install(pb__file_storage *fs, const char *dir);
/**
 * Writes `m` as `dir`/MANIFEST atomically: MANIFEST.tmp written and
 * fsynced, renamed over MANIFEST, then `dir` fsynced.  *renamed is set
 * once the rename was tried: a failure after that leaves it unknown which
 * manifest a crash would find.  Errors: PB_ENOSPC; PB_EIO; PB_ENOMEM.
 */
int pb__manifest_write(pb__file_storage *fs, const char *dir,
                       const pb__manifest *m, bool *renamed);
/** The manifest describing segs[0, n) (the last one's size: its end).
 * Errors: PB_ENOMEM. */
int pb__fs_manifest_of(const pb__file_storage *fs, pb__segment *const *segs,
                       size_t n, pb__manifest *m);
/** Writes the manifest of segs[0, n) to fs->dir (pb__manifest_write) and
 * records it in fs->man_*.  Errors: as pb__manifest_write. */
int pb__fs_manifest_update(pb__file_storage *fs, pb__segment *const *segs,
                           size_t n, bool *renamed);
/** True when MANIFEST already records fs->segs as they are now. */
bool pb__fs_manifest_current(const pb__file_storage *fs);

/* --- Backup (file_backup.c) --- */

/** The backup op: see pb_storage_backup. */
int pb__fs_backup(pb_storage *st, const char *dir, unsigned flags);
/** The recovery_info op: see pb_storage_recovery_info. */
int pb__fs_recovery_info(pb_storage *st, pb_recovery_info *out);
/**
 * For a compacted backup (file_compact.c): writes what `root` reaches
 * into a new file `path` (created, must not exist) as one segment that
 * starts a log: BATCH frames, then a root-only commit with LSN `lsn`
 * whose previous root is `root`, then the header (sequence number `seq`,
 * no predecessor), and fdatasyncs it.  The caller pins the generation
 * `root` belongs to.  *id_hi, *id_lo, *size describe the segment.
 * Errors: PB_ECORRUPT (a damaged atom); PB_ENOSPC; PB_EIO; PB_ENOMEM;
 * PB_EEXIST (the file exists).  On error the file is removed.
 */
int pb__fs_compact_copy(pb__file_storage *fs, const char *path,
                        pb_atom_ptr root, uint64_t lsn, uint64_t seq,
                        uint64_t *id_hi, uint64_t *id_lo, uint64_t *size);
/** pb__fs_compact_copy that also gives what it copied (stats->atoms and
 * stats->atom_bytes; NULL: not wanted), for salvage (file_salvage.c). */
int pb__fs_compact_copy_ex(pb__file_storage *fs, const char *path,
                           pb_atom_ptr root, uint64_t lsn, uint64_t seq,
                           uint64_t *id_hi, uint64_t *id_lo, uint64_t *size,
                           pb_compact_stats *stats);

/* --- Segments (file_segment.c) --- */

/** File name of segment `seq` (without the directory), into name[25]. */
void pb__seg_name(uint64_t seq, char name[25]);
/** Parses a segment file name; false for any other name. */
bool pb__seg_parse_name(const char *name, uint64_t *seq);
/** Allocates a segment struct for `seq` in fs->dir.  NULL: out of memory. */
pb__segment *pb__seg_alloc(const pb__file_storage *fs, uint64_t seq);
/** Closes, unmaps and frees a segment (NULL is a no-op). */
void pb__seg_free(const pb__file_storage *fs, pb__segment *seg);
/** Makes room for one more segment in fs->segs.  Errors: PB_ENOMEM. */
int pb__seg_reserve(pb__file_storage *fs);
/** Appends a segment to fs->segs; room must have been reserved. */
void pb__seg_push(pb__file_storage *fs, pb__segment *seg);
/**
 * Creates segment `seq` following `prev` (NULL for the first): writes its
 * header, fdatasyncs it, and fsyncs the directory.  The new file stays
 * open for writing in (*out)->file.  Room in fs->segs must be reserved;
 * the caller publishes it with pb__seg_push.
 * Errors: PB_ENOMEM; PB_EIO; PB_ENOSPC.
 */
int pb__seg_create(pb__file_storage *fs, uint64_t seq,
                   const pb__segment *prev, pb__segment **out);
/**
 * Preallocation, written.  Appending past a file's end makes every
 * fdatasync also write the inode (the new size), and writing into space
 * that fallocate reserved makes it convert the unwritten extents (measured
 * on ext4: 181 us a commit into a new block, against 122 us into blocks
 * already written; docs/storage.md).
 * So before a commit comes within PB__FILE_ZERO_AHEAD of seg->alloc, the
 * active segment is reserved (pb__io_allocate, best effort: PB_ENOTSUP
 * turns it off for this store) and WRITTEN with zeros for the next
 * PB__FILE_PREALLOC bytes, capped at segment_size (never below what the
 * frame needs); one commit's fdatasync in about a thousand then makes that
 * chunk durable, and the others overwrite written blocks: data only.  A
 * failed zero write is left to the frame's pwrite that follows.  A frame
 * larger than PB__FILE_ZERO_AHEAD gets no zeros: its own write grows the
 * file.  The zeros
 * after `end` read as a torn frame with nothing valid after it, which
 * recovery cuts from the last segment; a sealed segment is never cut, so
 * pb__seg_trim cuts the zeros (and fsyncs) before a successor exists, and
 * at close.
 */
#define PB__FILE_PREALLOC (1ull << 20)
/** Written room left after a frame below which the next chunk is written. */
#define PB__FILE_ZERO_AHEAD (PB__FILE_PREALLOC / 2)
/** Grows the active segment so that [0, end + frame_size) is reserved and
 * written (zeros past `end`), refilling ahead as described above. */
void pb__seg_make_room(pb__file_storage *fs, pb__segment *seg,
                       uint64_t frame_size);
/**
 * Cuts a preallocated tail (seg->alloc > seg->end) and fsyncs, so that the
 * file ends at its last frame.  Errors: PB_EIO; the tail is then still
 * there.
 */
int pb__seg_trim(pb__segment *seg);
/**
 * Makes sure the segment's mapping covers [0, need): maps it the first
 * time, or prepares a larger mapping in *new_map / *new_len to install with
 * pb__seg_install_map once the data is durable (NULL when none is needed).
 * Errors: PB_ENOMEM; PB_EIO.
 */
int pb__seg_prepare_map(pb__file_storage *fs, pb__segment *seg, uint64_t need,
                        bool active, const void **new_map, size_t *new_len);
/** Installs a prepared mapping, retiring the old one.  Cannot fail. */
void pb__seg_install_map(pb__segment *seg, const void *map, size_t len);
/** Undoes a prepared mapping that will not be installed. */
void pb__seg_drop_map(pb__file_storage *fs, const void *map, size_t len);

/* --- Recovery (file_recover.c) --- */

/**
 * Lists and scans every segment of fs->dir, checks them against MANIFEST
 * (file_manifest.c), fills fs->segs, fs->index, fs->root, fs->lsn and
 * fs->rinfo, and then only, in a writable open, cuts a torn tail of the
 * last segment, creates segment 1 in an empty directory and writes
 * MANIFEST when the log differs from it.  A
 * read-only open, beside which a writer may be at work, reads again what
 * changed under it, and lists and scans again when a file it listed went
 * away (file_recover.c).
 * Errors: PB_ECORRUPT; PB_EVERSION; PB_EIO; PB_ENOMEM; PB_ENOTFOUND.
 */
int pb__fs_recover(pb__file_storage *fs);
/**
 * Tests: how many times the open of `st` read a frame again, and started
 * its scan over, because a writer changed the files under it (read-only
 * opens only; 0 for a writable open).  Errors: PB_EINVAL (not a file tier).
 */
int pb__file_open_retries(pb_storage *st, unsigned *rereads,
                          unsigned *rescans);


/* --- The published head: a seqlock of atomics --- */

/**
 * Publishes root and LSN to readers.  Under commit_mu (one writer at a
 * time) or before the store is shared, after the index holds the batch
 * the root points to.  The data stores are release stores, so none can
 * become visible before the odd sequence number (no standalone fence,
 * which ThreadSanitizer would not model).
 */
static inline void pb__fs_publish_root(pb__file_storage *fs, pb_atom_ptr root,
                                       uint64_t lsn) {
  pb__pubroot_store(&fs->pub, root, lsn);
}

/** Reads the published root and LSN without a lock (storage/pubroot.h). */
static inline void pb__fs_published_root(pb__file_storage *fs,
                                         pb_atom_ptr *root, uint64_t *lsn) {
  pb__pubroot_load(&fs->pub, root, lsn);
}

/* --- commit_mu, with its holder recorded (util/held.h) --- */

/** Takes commit_mu.  Every function documented "under commit_mu" asserts
 * pb__fs_commit_held(fs). */
static inline void pb__fs_commit_lock(pb__file_storage *fs) {
  pthread_mutex_lock(&fs->commit_mu);
  pb__owner_set(&fs->commit_owner);
}

/** Releases commit_mu. */
static inline void pb__fs_commit_unlock(pb__file_storage *fs) {
  assert(pb__held(&fs->commit_owner));
  pb__owner_clear(&fs->commit_owner);
  pthread_mutex_unlock(&fs->commit_mu);
}

/** pthread_cond_wait on `cv` with commit_mu, which it releases meanwhile. */
static inline void pb__fs_commit_wait(pb__file_storage *fs,
                                      pthread_cond_t *cv) {
  assert(pb__held(&fs->commit_owner));
  pb__owner_clear(&fs->commit_owner);
  pthread_cond_wait(cv, &fs->commit_mu);
  pb__owner_set(&fs->commit_owner);
}

/** True when the calling thread holds commit_mu. */
static inline bool pb__fs_commit_held(pb__file_storage *fs) {
  return pb__held(&fs->commit_owner);
}

#endif /* PB_STORAGE_FILE_H */
