/*
 * test_power_loss.c - at least 1000 power cuts on the simulated disk
 * (tests/support/simfs.h), at random points in runs of multi-atom commits
 * from 4 threads, then recovery.  The acceptance test of issue 4: every
 * commit acknowledged in a durable mode must survive, nothing partial may
 * be visible, and the store must verify.  A SIGKILL keeps the page cache,
 * so it cannot catch a missing fsync; a cut on the simulated disk drops
 * everything that was not synced (and tears the last write), so it can.
 *
 * One round:
 *   1. open the store on the disk (segment_size 16 KiB, so segments roll
 *      over every ~20 commits; durability SYNC, GROUP or NONE at random,
 *      3:3:2);
 *      sometimes the power is cut during this recovery as well, and the
 *      store is opened once more;
 *   2. check it (below);
 *   3. 4 writer threads commit: writer t's commit number s holds 1..6
 *      atoms whose bytes derive from (t, s, i), and a root atom naming
 *      (t, s, the atom count), the previous root and each of its atoms.
 *      Atoms are records whose pointers are PB_WT_PTR fields, so that
 *      compaction can follow and relocate them.  In half of the rounds a
 *      compactor thread runs pb_storage_compact in a loop next to the
 *      writers, so cuts also land at every step of a compaction.  Each commit follows
 *      the CAS protocol: read_root, build the batch on that root, commit
 *      with it as `expected`, retry on PB_ECONFLICT.  A commit that
 *      returns PB_OK is acknowledged, and recorded;
 *   4. the power is cut at a random point (see arm_cut);
 *   5. the writers see PB_EIO or PB_EFAILED and stop; the store is closed
 *      and the disk revived with its post-crash state.
 * The next round goes on from the recovered store, so state accumulates
 * across cuts over many segments.  Every 100 rounds a fresh disk starts
 * (so that reopening, which scans everything, stays cheap).
 *
 * The check after each cut walks the root chain from the recovered root
 * back to the null root:
 *   (a) every acknowledged commit is on the chain, and its atoms have
 *       exactly the expected bytes;
 *   (b) nothing partial: every commit on the chain is complete and
 *       correct, each writer's commits appear in order and once, and the
 *       chain is exactly LSN links long, less one LSN for each
 *       compaction switch (each one that returned PB_OK, and no other);
 *   (c) the store verifies: the open succeeded (recovery checked every
 *       frame's checksum), and every atom of every commit found is read
 *       back.
 * A commit found on the chain but never acknowledged is allowed (its frame
 * reached the disk, synced or kept by the cut, but the commit had not
 * returned yet); it is counted, and then treated as acknowledged.
 * Commits acknowledged in NONE mode need not survive (a cut there keeps
 * any prefix of several unsynced frames, the last one perhaps torn), but
 * (b) and (c) hold for them just the same.
 *
 * Usage: test_power_loss [seed [rounds]] (defaults: time, 1000).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "atom/atom.h"
#include "atom/batch.h"
#include "storage/file.h"
#include "storage/storage.h"
#include "support/simfs.h"
#include "util/endian.h"

#define DB "/db"
#define N_WRITERS 4
#define SEGMENT_SIZE (16u * 1024u)
#define EPOCH_ROUNDS 100 /* rounds per fresh disk */
#define ATOM_MAX 320
#define ROUND_CAP 80     /* commits per round at most (see arm_cut) */
#define ACK_DURABLE 1    /* acknowledged in SYNC or GROUP: must survive */
#define ACK_NONE 2       /* acknowledged in NONE: may be lost to a cut */

static uint64_t g_seed;   /* from argv or the clock */
static unsigned g_rounds; /* power cuts of the main loop */

/* --- the workload's bytes --- */

static int n_atoms(unsigned t, uint64_t s) {
  return 1 + (int)((s * 7 + t * 3) % 6);
}

/* Atom i of writer t's commit s, into buf[ATOM_MAX]; returns its size. */
static size_t atom_bytes(unsigned t, uint64_t s, int i, uint8_t *buf) {
  size_t len = 16 + (size_t)((t * 977 + s * 131 + (unsigned)i * 61) % 300);
  pb__store_le32(buf, t);
  pb__store_le64(buf + 4, s);
  pb__store_le32(buf + 12, (uint32_t)i);
  for (size_t k = 16; k < len; k++)
    buf[k] = (uint8_t)(t * 17 + s * 31 + (unsigned)i * 7 + k * 13);
  return len;
}

/* Wraps wire fields into a record atom (envelope + body) in `out`. */
static void record_begin(pb_buf *out) {
  pb_buf_reset(out);
  pb__atom_begin(out, PB__TYPE_RECORD_MIN);
}

/* The root atom of writer t's commit s: 1 t, 2 s, 3 natoms, 4 the previous
 * root (absent when null), 5 each atom, in order. */
static void root_atom(unsigned t, uint64_t s, int natoms, pb_atom_ptr prev,
                      const pb_atom_ptr *atoms, pb_buf *out) {
  record_begin(out);
  pb_wire_put_uint(out, 1, t);
  pb_wire_put_uint(out, 2, s);
  pb_wire_put_uint(out, 3, (uint64_t)natoms);
  if (!pb_atom_ptr_is_null(prev)) pb_wire_put_atom_ptr(out, 4, &prev);
  for (int i = 0; i < natoms; i++) pb_wire_put_atom_ptr(out, 5, &atoms[i]);
}

/* A decoded root atom. */
typedef struct root_rec {
  unsigned t;
  uint64_t s;
  int natoms;
  pb_atom_ptr prev;
  pb_atom_ptr atoms[8];
  int n_ptrs;
} root_rec;

/* Decodes a root atom; false when it is not one. */
static bool root_parse(pb_bytes atom, root_rec *r) {
  uint32_t type;
  pb_bytes body;
  if (pb__atom_parse(atom, &type, &body) != PB_OK ||
      type != PB__TYPE_RECORD_MIN)
    return false;
  memset(r, 0, sizeof *r);
  r->natoms = -1;
  pb_reader rd;
  pb_field f;
  pb_reader_init(&rd, body.ptr, body.len);
  int rc;
  bool ok = true;
  while (ok && (rc = pb_reader_next(&rd, &f)) == 1) {
    if (f.tag == 1 && f.wire_type == PB_WT_VARINT) r->t = (unsigned)f.value;
    else if (f.tag == 2 && f.wire_type == PB_WT_VARINT) r->s = f.value;
    else if (f.tag == 3 && f.wire_type == PB_WT_VARINT) r->natoms = (int)f.value;
    else if (f.tag == 4) ok = pb_field_atom_ptr(&f, &r->prev) == PB_OK;
    else if (f.tag == 5 && r->n_ptrs < 8)
      ok = pb_field_atom_ptr(&f, &r->atoms[r->n_ptrs++]) == PB_OK;
    else ok = false;
  }
  return ok && rc == 0 && r->natoms >= 1 && r->natoms == r->n_ptrs;
}

/* --- what each writer did --- */

typedef struct writer_log {
  uint64_t next_seq; /* the next commit number to try */
  uint8_t *acked;    /* acked[s]: commit s was acknowledged: ACK_DURABLE
                        (SYNC, GROUP, or found after a cut) or ACK_NONE */
  uint8_t *found;    /* found[s]: commit s is on the recovered chain */
  size_t cap;        /* entries of acked and found */
} writer_log;

static void log_grow(writer_log *w, uint64_t s) {
  if (s < w->cap) return;
  size_t cap = w->cap ? w->cap : 1024;
  while (cap <= s) cap *= 2;
  w->acked = realloc(w->acked, cap);
  w->found = realloc(w->found, cap);
  if (w->acked == NULL || w->found == NULL) abort();
  memset(w->acked + w->cap, 0, cap - w->cap);
  memset(w->found + w->cap, 0, cap - w->cap);
  w->cap = cap;
}

typedef struct world {
  pb__simfs *sim;                 /* the disk */
  pb_storage *st;                 /* the store of this round */
  writer_log w[N_WRITERS];        /* owned by writer t during a round */
  atomic_int unexpected;          /* an error other than a cut's */
  char unexpected_msg[600];       /* its description */
  atomic_uint round_acked;        /* commits acknowledged this round */
  atomic_uint cut_after;          /* the writer acknowledging this commit
                                     of the round cuts the power */
  atomic_uint sync_countdown;     /* the sync hook cuts the power inside
                                     the datasync/sync that takes it to 0 */
  uint64_t cut_seed;              /* the seed for this round's cut */
  uint8_t ack_kind;               /* ACK_DURABLE or ACK_NONE this round */
  /* totals */
  uint64_t acked;                 /* commits acknowledged */
  uint64_t lost;                  /* acknowledged, then not recovered */
  uint64_t extra;                 /* recovered without acknowledgment */
  uint64_t acked_none;            /* acknowledged in NONE mode */
  uint64_t lost_none;             /* of those, dropped by a cut */
  uint64_t conflicts;             /* PB_ECONFLICT retries */
  uint64_t segments;              /* largest segment count seen */
  uint64_t switches_known;        /* compaction switches in this store */
  uint64_t round_switches;        /* compactions that returned PB_OK in
                                     the round being checked */
  uint64_t compactions;           /* compactions that returned PB_OK */
  uint64_t compactions_cut;       /* compactions a cut interrupted */
  atomic_bool gate;               /* writers wait for it (see below) */
  uint64_t cuts;                  /* cuts during the writers' runs */
  uint64_t recovery_cuts;         /* cuts during a recovery */
  uint64_t longest_chain;         /* most commits in one store */
  pb__simfs_counts disk;          /* summed over the disks */
} world;

typedef struct writer_arg {
  world *wd;   /* shared */
  unsigned t;  /* writer number */
  uint64_t acked;     /* its commits that returned PB_OK (SYNC, GROUP) */
  uint64_t acked_none; /* the same, in NONE mode */
  uint64_t conflicts; /* its PB_ECONFLICT retries */
} writer_arg;

/* One attempt at writer t's commit s on the current root. */
static int try_commit(pb_storage *st, unsigned t, uint64_t s) {
  pb_atom_ptr root, p;
  uint64_t lsn;
  int rc = st->ops->read_root(st, &root, &lsn);
  if (rc != PB_OK) return rc;
  pb__batch_builder bb;
  rc = pb__batch_init(&bb);
  if (rc != PB_OK) return rc;
  int natoms = n_atoms(t, s);
  uint8_t buf[ATOM_MAX];
  pb_atom_ptr atoms[8];
  pb_buf rec;
  pb_buf_init(&rec);
  for (int i = 0; i < natoms && rc == PB_OK; i++) {
    record_begin(&rec);
    pb_wire_put_bytes(&rec, 1, (pb_bytes){buf, atom_bytes(t, s, i, buf)});
    rc = pb_buf_error(&rec);
    if (rc == PB_OK) rc = pb__batch_add(&bb, rec.data, rec.len, &atoms[i]);
  }
  root_atom(t, s, natoms, root, atoms, &rec);
  if (rc == PB_OK) rc = pb_buf_error(&rec);
  if (rc == PB_OK) rc = pb__batch_add(&bb, rec.data, rec.len, &p);
  pb_buf_free(&rec);
  pb__batch b = {.id_hi = bb.id_hi, .id_lo = bb.id_lo,
                 .data = bb.buf.data, .size = bb.buf.len};
  if (rc == PB_OK) rc = st->ops->commit(st, &b, root, p, NULL);
  pb__batch_free(&bb);
  return rc;
}

static void *writer(void *arg) {
  writer_arg *a = arg;
  world *wd = a->wd;
  writer_log *w = &wd->w[a->t];
  while (!atomic_load(&wd->gate) && !pb__simfs_is_dead(wd->sim))
    usleep(50);
  for (;;) {
    uint64_t s = w->next_seq++;
    log_grow(w, s);
    int rc;
    while ((rc = try_commit(wd->st, a->t, s)) == PB_ECONFLICT) a->conflicts++;
    if (rc == PB_OK) {
      w->acked[s] = wd->ack_kind;
      if (wd->ack_kind == ACK_DURABLE)
        a->acked++;
      else
        a->acked_none++;
      unsigned k = atomic_fetch_add(&wd->round_acked, 1) + 1;
      if (k == atomic_load(&wd->cut_after) || k == ROUND_CAP)
        pb__simfs_crash(wd->sim, wd->cut_seed);
      continue;
    }
    /* After a cut, I/O fails (PB_EIO) and the store refuses writes
     * (PB_EFAILED); nothing else is expected, and nothing before it. */
    if ((rc == PB_EIO || rc == PB_EFAILED) && pb__simfs_is_dead(wd->sim))
      return NULL;
    int zero = 0;
    if (atomic_compare_exchange_strong(&wd->unexpected, &zero, 1)) {
      char msg[512];
      pb__storage_errmsg(wd->st, msg, sizeof msg);
      snprintf(wd->unexpected_msg, sizeof wd->unexpected_msg,
               "writer %u commit %" PRIu64 ": %s (%s)", a->t, s,
               pb_errname(rc), msg);
    }
    return NULL;
  }
}

/* The compaction hook: a round whose writers wait for the compaction's
 * first copy lets them in here, so that the cut lands in its catch-up,
 * its switch, or after it, rather than in the copy. */
static void open_gate(void *arg, int pass) {
  (void)pass;
  world *wd = arg;
  atomic_store(&wd->gate, true);
}

/* Compacts in a loop until the power goes. */
typedef struct compactor_arg {
  world *wd;
  uint64_t ok;  /* compactions that returned PB_OK (each switched) */
  uint64_t cut; /* the one the cut interrupted (0 or 1) */
} compactor_arg;

static void *compactor(void *arg) {
  compactor_arg *a = arg;
  world *wd = a->wd;
  while (!pb__simfs_is_dead(wd->sim)) {
    int rc = pb_storage_compact(wd->st, NULL);
    if (rc == PB_OK) {
      a->ok++;
      continue;
    }
    if ((rc == PB_EIO || rc == PB_EFAILED) && pb__simfs_is_dead(wd->sim)) {
      a->cut++;
      break;
    }
    int zero = 0;
    if (atomic_compare_exchange_strong(&wd->unexpected, &zero, 1)) {
      char msg[512];
      pb__storage_errmsg(wd->st, msg, sizeof msg);
      snprintf(wd->unexpected_msg, sizeof wd->unexpected_msg,
               "compactor: %s (%s)", pb_errname(rc), msg);
    }
    break;
  }
  return NULL;
}

/* --- the check after a cut --- */

/* Walks the chain from the recovered root; see (a), (b), (c) above. */
static void check_store(world *wd, pb_storage *st, unsigned round) {
  pb_atom_ptr ptr;
  uint64_t lsn;
  assert_int_equal(st->ops->read_root(st, &ptr, &lsn), PB_OK);
  uint64_t last[N_WRITERS];
  for (unsigned t = 0; t < N_WRITERS; t++) {
    writer_log *w = &wd->w[t];
    if (w->cap) memset(w->found, 0, w->cap);
    last[t] = UINT64_MAX;
  }
  uint64_t links = 0;
  while (!pb_atom_ptr_is_null(ptr)) {
    pb_bytes v;
    root_rec rr;
    int rc = st->ops->read_atom(st, ptr, &v);
    if (rc != PB_OK || !root_parse(v, &rr)) {
      print_error("round %u: root atom %" PRIu64 " links down: %s, %zu "
                  "bytes\n", round, links, pb_errname(rc), v.len);
      fail();
    }
    unsigned t = rr.t;
    uint64_t s = rr.s;
    int natoms = rr.natoms;
    pb_atom_ptr prev = rr.prev;
    assert_true(t < N_WRITERS);
    writer_log *w = &wd->w[t];
    /* Tried, once, and in each writer's order. */
    assert_true(s < w->next_seq && s < last[t]);
    assert_false(w->found[s]);
    assert_int_equal(natoms, n_atoms(t, s));
    /* Every atom complete and exact. */
    for (int i = 0; i < natoms; i++) {
      uint8_t want[ATOM_MAX];
      size_t len = atom_bytes(t, s, i, want);
      pb_bytes a, body;
      uint32_t type;
      pb_reader rd;
      pb_field f;
      assert_int_equal(st->ops->read_atom(st, rr.atoms[i], &a), PB_OK);
      assert_int_equal(pb__atom_parse(a, &type, &body), PB_OK);
      pb_reader_init(&rd, body.ptr, body.len);
      assert_int_equal(pb_reader_next(&rd, &f), 1);
      assert_int_equal(f.tag, 1);
      assert_int_equal(f.size, len);
      assert_memory_equal(f.data, want, len);
      assert_int_equal(pb_reader_next(&rd, &f), 0);
    }
    w->found[s] = 1;
    last[t] = s;
    if (++links > lsn) {
      print_error("round %u: the chain is longer than LSN %" PRIu64 "\n",
                  round, lsn);
      fail();
    }
    ptr = prev;
  }
  /* One link per commit, none missing; the switch commits of compactions
   * add an LSN each and no link. */
  uint64_t switches = wd->switches_known + wd->round_switches;
  if (links + switches != lsn) {
    print_error("round %u: %" PRIu64 " links + %" PRIu64 " compactions != "
                "LSN %" PRIu64 "\n", round, links, switches, lsn);
    fail();
  }
  wd->switches_known = switches;
  wd->round_switches = 0;
  if (links > wd->longest_chain) wd->longest_chain = links;
  for (unsigned t = 0; t < N_WRITERS; t++) {
    writer_log *w = &wd->w[t];
    for (uint64_t s = 0; s < w->next_seq; s++) {
      if (w->acked[s] == ACK_DURABLE && !w->found[s]) {
        print_error("round %u: LOST writer %u commit %" PRIu64
                    " (acknowledged; recovered LSN %" PRIu64 ")\n",
                    round, t, s, lsn);
        wd->lost++;
        w->acked[s] = 0; /* count it once */
      } else if (w->acked[s] == ACK_NONE && !w->found[s]) {
        wd->lost_none++; /* allowed in NONE mode */
        w->acked[s] = 0;
      } else if (w->found[s] && w->acked[s] != ACK_DURABLE) {
        if (!w->acked[s])
          wd->extra++; /* on disk, but the cut came before its return */
        w->acked[s] = ACK_DURABLE; /* recovered, so durable from now on */
      }
    }
  }
}

/* --- rounds --- */

static uint64_t rng_next(uint64_t *s) {
  uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

static pb_storage *open_store(world *wd, pb_durability dur, unsigned round) {
  pb_file_options o;
  pb_file_options_init(&o);
  o.segment_size = SEGMENT_SIZE;
  o.durability = dur;
  /* The checker counts the switches of the compactions this test runs;
   * automatic ones have their own power-cut sweep (test_autocompact). */
  o.auto_compact = false;
  char msg[512];
  pb_storage *st = NULL;
  int rc = pb__file_storage_open(DB, &o, pb__simfs_io(wd->sim), msg,
                                 sizeof msg, &st);
  if (rc != PB_OK) {
    print_error("round %u: open after the cut: %s: %s\n", round,
                pb_errname(rc), msg);
    fail();
  }
  return st;
}

/* Sometimes the power goes again during recovery (the cut, the torn-tail
 * truncate, the removal of a torn segment, the LOCK file...). */
static void maybe_cut_recovery(world *wd, uint64_t *rng) {
  if (rng_next(rng) % 8 != 0) return;
  pb__simfs_crash_at(wd->sim, 1 + (unsigned)(rng_next(rng) % 6),
                     rng_next(rng));
  pb_file_options o;
  pb_file_options_init(&o);
  o.segment_size = SEGMENT_SIZE;
  o.auto_compact = false;
  pb_storage *st = NULL;
  char msg[512];
  if (pb__file_storage_open(DB, &o, pb__simfs_io(wd->sim), msg, sizeof msg,
                            &st) == PB_OK)
    pb_storage_close(st);
  if (pb__simfs_is_dead(wd->sim)) {
    wd->recovery_cuts++;
    pb__simfs_revive(wd->sim);
  }
  pb__simfs_crash_at(wd->sim, 0, 0);
}

/* The sync hook: cuts the power inside a datasync or sync, after the
 * write it should make durable, before it does. */
static void cut_in_sync(void *arg, pb__simfs_op op, const char *path) {
  world *wd = arg;
  unsigned v = atomic_load(&wd->sync_countdown);
  while (v > 0 &&
         !atomic_compare_exchange_weak(&wd->sync_countdown, &v, v - 1)) {
  }
  if (v == 1) pb__simfs_crash(wd->sim, wd->cut_seed);
}

/* How the power will be cut this round, one of four ways:
 *   0 after a random 0-2 ms on the main thread's clock;
 *   1 when a writer acknowledges the round's Tth commit (T random 1..60):
 *     that writer cuts, the others are somewhere in a commit;
 *   2 at the Nth mutating disk operation (N random 1..120), exactly at a
 *     pwrite, an fdatasync or a step of segment creation;
 *   3 inside the Nth datasync or sync (N random 1..60), after the write it
 *     was to make durable: a cut that always has an unsynced frame (or
 *     segment header) to drop, keep or tear.
 * Modes 1-3 are armed before the writers start, because the main thread
 * may not run again for a while (2 cores, 4 busy writers); for the same
 * reason, whatever the mode, the writer that acknowledges the round's
 * ROUND_CAP-th commit cuts, so a round's work stays bounded. */
static int arm_cut(world *wd, uint64_t *rng) {
  wd->cut_seed = rng_next(rng);
  atomic_store(&wd->round_acked, 0);
  atomic_store(&wd->cut_after, 0);
  atomic_store(&wd->sync_countdown, 0);
  int mode = (int)(rng_next(rng) % 4);
  if (mode == 1)
    atomic_store(&wd->cut_after, 1 + (unsigned)(rng_next(rng) % 60));
  if (mode == 2)
    pb__simfs_crash_at(wd->sim, 1 + (unsigned)(rng_next(rng) % 120),
                       wd->cut_seed);
  if (mode == 3)
    atomic_store(&wd->sync_countdown, 1 + (unsigned)(rng_next(rng) % 60));
  return mode;
}

/* With the writers running: cuts (mode 0), or waits for the cut. */
static void await_cut(world *wd, int mode, uint64_t *rng) {
  if (mode == 0) {
    usleep((useconds_t)(rng_next(rng) % 2000));
    pb__simfs_crash(wd->sim, wd->cut_seed); /* no-op if a writer did */
    return;
  }
  for (int waited = 0; !pb__simfs_is_dead(wd->sim); waited++) {
    if (waited > 50000 || atomic_load(&wd->unexpected)) { /* ~5 s */
      pb__simfs_crash(wd->sim, wd->cut_seed);
      break;
    }
    usleep(100);
  }
}

static void new_disk(world *wd) {
  if (wd->sim != NULL) {
    pb__simfs_counts c;
    pb__simfs_counts_get(wd->sim, &c);
    wd->disk.crashes += c.crashes;
    wd->disk.kept += c.kept;
    wd->disk.torn += c.torn;
    wd->disk.dropped += c.dropped;
    wd->disk.unlinked += c.unlinked;
    wd->disk.datasync += c.datasync;
    wd->disk.sync_dir += c.sync_dir;
    pb__simfs_free(wd->sim);
  }
  wd->sim = pb__simfs_new();
  assert_non_null(wd->sim);
  wd->switches_known = 0;
  wd->round_switches = 0;
  pb__simfs_set_sync_hook(wd->sim, cut_in_sync, wd);
  for (unsigned t = 0; t < N_WRITERS; t++) {
    free(wd->w[t].acked);
    free(wd->w[t].found);
    wd->w[t] = (writer_log){0};
  }
}

static void power_loss(void **state) {
  (void)state;
  world *wd = calloc(1, sizeof *wd);
  assert_non_null(wd);
  uint64_t rng = g_seed;
  struct timespec t0, t1;
  clock_gettime(CLOCK_MONOTONIC, &t0);
  for (unsigned round = 0; round < g_rounds; round++) {
    if (round % EPOCH_ROUNDS == 0) new_disk(wd);
    unsigned pick = (unsigned)(rng_next(&rng) % 8);
    pb_durability dur = pick < 3   ? PB_DURABILITY_SYNC
                        : pick < 6 ? PB_DURABILITY_GROUP
                                   : PB_DURABILITY_NONE;
    wd->ack_kind = dur == PB_DURABILITY_NONE ? ACK_NONE : ACK_DURABLE;
    if (round % EPOCH_ROUNDS != 0) maybe_cut_recovery(wd, &rng);
    wd->st = open_store(wd, dur, round);
    check_store(wd, wd->st, round);
    size_t segs = ((const pb__file_storage *)wd->st)->n_segs;
    if (segs > wd->segments) wd->segments = segs;

    /* Half of the rounds compact next to the writers; in half of those,
     * the writers start only once the first copy is done. */
    bool compacting = rng_next(&rng) % 2 == 0;
    atomic_store(&wd->gate, !compacting || rng_next(&rng) % 2 == 0);
    assert_int_equal(pb__file_set_compact_hook(wd->st, open_gate, wd), PB_OK);
    int mode = arm_cut(wd, &rng);
    writer_arg args[N_WRITERS];
    pthread_t th[N_WRITERS];
    for (unsigned t = 0; t < N_WRITERS; t++) {
      args[t] = (writer_arg){.wd = wd, .t = t};
      assert_int_equal(pthread_create(&th[t], NULL, writer, &args[t]), 0);
    }
    compactor_arg ca = {.wd = wd};
    pthread_t cth;
    if (compacting)
      assert_int_equal(pthread_create(&cth, NULL, compactor, &ca), 0);
    await_cut(wd, mode, &rng);
    if (compacting) {
      pthread_join(cth, NULL);
      wd->round_switches += ca.ok;
      wd->compactions += ca.ok;
      wd->compactions_cut += ca.cut;
    }
    for (unsigned t = 0; t < N_WRITERS; t++) {
      pthread_join(th[t], NULL);
      wd->conflicts += args[t].conflicts;
      wd->acked += args[t].acked;
      wd->acked_none += args[t].acked_none;
    }
    if (atomic_load(&wd->unexpected)) {
      print_error("round %u: %s\n", round, wd->unexpected_msg);
      fail();
    }
    atomic_store(&wd->sync_countdown, 0); /* not in the next recovery */
    wd->cuts++;
    pb_storage_close(wd->st); /* fails (the disk is dead); frees anyway */
    wd->st = NULL;
    pb__simfs_revive(wd->sim);
  }
  /* The last cut's recovery, checked too. */
  wd->st = open_store(wd, PB_DURABILITY_SYNC, g_rounds);
  check_store(wd, wd->st, g_rounds);
  pb_storage_close(wd->st);
  new_disk(wd);
  clock_gettime(CLOCK_MONOTONIC, &t1);
  double secs = (double)(t1.tv_sec - t0.tv_sec) +
                (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
  print_message(
      "power loss (seed %" PRIu64 "): %" PRIu64 " cuts during commits + %" PRIu64
      " during recovery; %" PRIu64 " commits acknowledged in SYNC/GROUP mode; "
      "%" PRIu64 " in NONE mode, %" PRIu64 " of them dropped by cuts "
      "(allowed); %" PRIu64
      " more found that had reached the disk but not returned; %" PRIu64
      " conflicts retried; longest chain %" PRIu64 " commits over up to %" PRIu64
      " segments; unsynced changes at the cuts: %" PRIu64 " kept, %" PRIu64
      " torn, %" PRIu64 " dropped, %" PRIu64 " new names not yet in a durable "
      "directory; %" PRIu64 " compactions completed next to the writers, "
      "%" PRIu64 " cut in progress; LOST: %" PRIu64 "; %.1f s\n",
      g_seed, wd->cuts, wd->recovery_cuts, wd->acked, wd->acked_none,
      wd->lost_none, wd->extra,
      wd->conflicts, wd->longest_chain, wd->segments, wd->disk.kept,
      wd->disk.torn, wd->disk.dropped, wd->disk.unlinked, wd->compactions,
      wd->compactions_cut, wd->lost, secs);
  assert_int_equal(wd->lost, 0);
  /* Compaction really ran, and was really cut. */
  assert_true((wd->compactions > 0 && wd->compactions_cut > 0) ||
              g_rounds < 100);
  assert_true(wd->cuts + wd->recovery_cuts >= 1000 || g_rounds < 1000);
  pb__simfs_free(wd->sim);
  for (unsigned t = 0; t < N_WRITERS; t++) {
    free(wd->w[t].acked);
    free(wd->w[t].found);
  }
  free(wd);
}

int main(int argc, char **argv) {
  g_seed = argc > 1 ? strtoull(argv[1], NULL, 0) : (uint64_t)time(NULL);
  g_rounds = argc > 2 ? (unsigned)strtoul(argv[2], NULL, 0) : 1000;
  const struct CMUnitTest tests[] = {cmocka_unit_test(power_loss)};
  return cmocka_run_group_tests(tests, NULL, NULL);
}
