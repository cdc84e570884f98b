/*
 * protobase/protobase.h - the public API of libprotobase.
 *
 * ProtoBase is an embedded, schema-driven object database.  Applications
 * describe records in .pbs schemas, `pbc` generates typed C for them, and the
 * generated code stores records as immutable atoms through this API.
 *
 * Handles and their lifecycle (all handles are opaque):
 *
 *   pb_storage  where atoms live: memory, or a directory of WAL segments.
 *               Opened by pb_storage_open_*; owned by a pb_space once given.
 *   pb_space    an ObjectSpace: named databases over one storage.
 *   pb_db       one named database in a space.
 *   pb_txn      a transaction on one database: it reads a snapshot and
 *               commits atomically.
 *
 *   pb_storage_open_file -> pb_space_open -> pb_db_open -> pb_txn_begin ->
 *   (pb_txn_put_record, pb_txn_set, pb_txn_get ...) -> pb_txn_commit ->
 *   pb_db_close -> pb_space_close
 *
 * Errors: every function that can fail returns PB_OK or a negative pb_error
 * (protobase/errors.h), and lists the codes it can return.  PB_EINVAL for a
 * NULL handle or pointer argument (also a pb_str, pb_bytes or record body
 * whose pointer is NULL while its length is not 0) is implied everywhere
 * and not repeated; such a call changes nothing and does not fail the
 * transaction.  Functions that close or free take NULL as a no-op, and so
 * do the *_options_init functions.  Flags: see "Flags" below.
 *
 * Threads: a pb_space and a pb_db may be used from several threads at once.
 * A pb_txn belongs to one thread at a time.  Each function says so when it
 * differs.
 */
#ifndef PROTOBASE_PROTOBASE_H
#define PROTOBASE_PROTOBASE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "protobase/errors.h"
#include "protobase/wire.h"

#ifdef __cplusplus
extern "C" {
#endif

/* --- Versions --- */

#define PB_VERSION_MAJOR 0
#define PB_VERSION_MINOR 1
#define PB_VERSION_PATCH 0
#define PB_VERSION_STRING "0.1.0"

/**
 * The interface between generated code and this runtime.  pbc writes the
 * value it was built for into each generated file, which refuses to compile
 * (#error) against a runtime with another value.
 */
#define PB_GENERATED_ABI 7 /* 3: PB_WT_PTR and PB_WT_REC; 4: _load calls
                               pb_txn_load_decoded; 5: pb_record_type has
                               the field layout, and <prefix>record_types;
                               6: typed tables (protobase/table.h); 7:
                               pb_record_field has ctype, offset and
                               has_offset (protobase/query.h) */

/** Returns PB_VERSION_STRING of the library actually linked. */
const char *pb_version(void);

/* --- Atom pointers --- */

/**
 * The address of an atom: the 128-bit id of the commit batch that wrote it
 * (random, so unique across processes and nodes), and the atom's byte offset
 * inside that batch.  All zero is the null pointer.  Stored pointers take
 * 20 bytes, with a 4-byte offset: writing one whose offset exceeds
 * UINT32_MAX fails with PB_EINVAL.  See docs/format.md.
 */
typedef struct pb_atom_ptr {
  uint64_t batch_hi; /* batch id, high 64 bits */
  uint64_t batch_lo; /* batch id, low 64 bits */
  uint64_t offset;   /* offset of the atom inside its batch */
} pb_atom_ptr;

/** True when `p` is the null pointer (no atom). */
static inline bool pb_atom_ptr_is_null(pb_atom_ptr p) {
  return (p.batch_hi | p.batch_lo | p.offset) == 0;
}

/** True when `a` and `b` address the same atom. */
static inline bool pb_atom_ptr_equal(pb_atom_ptr a, pb_atom_ptr b) {
  return a.batch_hi == b.batch_hi && a.batch_lo == b.batch_lo &&
         a.offset == b.offset;
}

/* --- Values stored under names in a database --- */

typedef enum pb_value_kind {
  PB_VALUE_NULL = 0,
  PB_VALUE_BOOL = 1,
  PB_VALUE_INT = 2,    /* int64 */
  PB_VALUE_UINT = 3,   /* uint64 */
  PB_VALUE_DOUBLE = 4,
  PB_VALUE_STRING = 5, /* UTF-8 */
  PB_VALUE_BYTES = 6,
  PB_VALUE_REF = 7,    /* a pb_atom_ptr, for example a stored record */
  PB_VALUE_RECORD = 8, /* an encoded record held inline: as.rec */
  /* Nested collections: as.ref is the root node (the null pointer is an
   * empty collection).  Commit merges them per key or element. */
  PB_VALUE_DICT = 9,     /* Dictionary: string keys, ordered */
  PB_VALUE_LIST = 10,    /* List: indexable */
  PB_VALUE_SET = 11,     /* Set of values */
  PB_VALUE_HASHDICT = 12 /* HashDictionary: any value as key */
} pb_value_kind;

/** True for the kinds whose value is a nested collection (as.ref). */
static inline bool pb_value_is_collection(pb_value_kind k) {
  return k >= PB_VALUE_DICT && k <= PB_VALUE_HASHDICT;
}

/**
 * A tagged value.  Strings and bytes are views: a value returned by
 * pb_txn_get stays valid until its transaction ends; a value passed to
 * pb_txn_set is copied before the call returns.
 */
typedef struct pb_value {
  pb_value_kind kind; /* which member of the union is set */
  union {
    bool b;          /* PB_VALUE_BOOL */
    int64_t i;       /* PB_VALUE_INT */
    uint64_t u;      /* PB_VALUE_UINT */
    double d;        /* PB_VALUE_DOUBLE */
    pb_str s;        /* PB_VALUE_STRING */
    pb_bytes bytes;  /* PB_VALUE_BYTES */
    pb_atom_ptr ref; /* PB_VALUE_REF, and the collection kinds */
    struct {
      uint64_t fingerprint; /* pb_record_type.fingerprint of its type */
      pb_bytes body;        /* the record's encoded fields */
    } rec;                  /* PB_VALUE_RECORD */
  } as;
} pb_value;

/* --- Record types (filled in by generated code) --- */

typedef struct pb_record_type pb_record_type;

/** pb_record_field.flags: the field is `optional`. */
#define PB_FIELD_OPTIONAL 0x1u
/** pb_record_field.flags: the field is the record's `[key]`. */
#define PB_FIELD_KEY 0x2u

/**
 * One field of a record type, as the catalog keeps it to check a schema
 * change (docs/evolution.md, "Checks at run time").  pbc fills these in;
 * the strings are those `pbc check` compares and prints.
 */
typedef struct pb_record_field {
  uint32_t tag;
  uint32_t flags;   /* PB_FIELD_OPTIONAL, PB_FIELD_KEY */
  const char *name; /* the field's name (only for messages) */
  const char *type; /* as the schema spells it, names qualified:
                       "int64", "common.Vec2[]", "ref<common.Person>" */
  const char *default_value; /* the effective default, exact ("0",
                                "false", "1.5", "3:abc", an enum's number);
                                NULL for a type without defaults */
  const char *enum_values;   /* an enum (or enum array) field: its values,
                                "LOW=0,NORMAL=1"; else NULL */
  const pb_record_type *embedded; /* the record a field holds by value (or
                                     in an array); else NULL */
  const char *renames; /* records in `type` renamed with [renamed_from]:
                          "pkg.New=pkg.Old", joined by ','; else NULL */
  /* Where the field lives in the generated struct, for queries
   * (protobase/query.h) and tools: */
  uint32_t ctype;      /* PB_CTYPE_*: the C type of the member; NONE for a
                          field queries cannot read (an array, an embedded
                          record, a member collection, a keyless ref) */
  uint32_t offset;     /* offsetof the member */
  uint32_t has_offset; /* an optional field: offsetof its bool has_<name> */
} pb_record_field;

/** pb_record_field.ctype.  A ref<R> by key has its key's type; an enum is
 * an int32_t-sized C enum (generated code asserts the size). */
typedef enum pb_ctype {
  PB_CTYPE_NONE = 0,
  PB_CTYPE_BOOL = 1, /* bool */
  PB_CTYPE_I8 = 2,
  PB_CTYPE_I16 = 3,
  PB_CTYPE_I32 = 4,
  PB_CTYPE_I64 = 5,
  PB_CTYPE_U8 = 6,
  PB_CTYPE_U16 = 7,
  PB_CTYPE_U32 = 8,
  PB_CTYPE_U64 = 9,
  PB_CTYPE_F32 = 10,
  PB_CTYPE_F64 = 11,
  PB_CTYPE_STR = 12,   /* pb_str */
  PB_CTYPE_BYTES = 13, /* pb_bytes */
  PB_CTYPE_ENUM = 14   /* an enum, read as int32_t */
} pb_ctype;

/** What the runtime knows of a generated record type. */
struct pb_record_type {
  const char *name;     /* package-qualified, such as "tasks.Task" */
  uint64_t fingerprint; /* XXH3-64 of the record's canonical form */
  const pb_record_field *fields; /* ascending tags; NULL when n_fields 0 */
  size_t n_fields;
  const uint32_t *reserved; /* reserved tags; NULL when n_reserved 0 */
  size_t n_reserved;
  const char *renamed_from; /* [renamed_from]: the qualified name this
                               record had before, whose atoms and type id
                               it takes over; else NULL */
};

/* --- Storage --- */

typedef struct pb_storage pb_storage;

/** When a commit is durable. */
typedef enum pb_durability {
  PB_DURABILITY_SYNC = 0,  /* default: durable when pb_txn_commit returns */
  PB_DURABILITY_GROUP = 1, /* concurrent commits share one fdatasync */
  PB_DURABILITY_NONE = 2   /* no fdatasync: a crash may lose recent commits */
} pb_durability;

/** Options of a file storage.  Fill with pb_file_options_init first. */
typedef struct pb_file_options {
  pb_durability durability; /* default PB_DURABILITY_SYNC */
  uint64_t segment_size;    /* roll to a new WAL segment past this; 64 MiB */
  bool read_only;           /* open without the writer lock; no commits */
  bool salvage;             /* tolerate damage (implies read_only): serve
                               the last commit that verifies and report
                               what was skipped (pb_storage_salvage_report) */
  /* Automatic compaction (docs/storage.md, "Automatic compaction"): a
   * background thread of a writable open compacts (as pb_storage_compact)
   * once the dead bytes, estimated as the log bytes appended since the
   * last compaction, reach compact_dead_pct percent of the live bytes (the
   * last compaction's size) and at least compact_min_dead bytes.  Its
   * switch waits (at most 100 ms, else it is put off) until no write
   * transaction is open, holding new ones back meanwhile, so it never
   * makes one conflict; pb_storage_close abandons one in progress. */
  bool auto_compact;          /* default true; false: only explicit calls */
  uint32_t compact_dead_pct;  /* default 50 (percent of the live bytes) */
  uint64_t compact_min_dead;  /* default 1 MiB */
  uint32_t compact_duty_pct;  /* throttle: at most this percent of the
                                 time is spent compacting, 1..100,
                                 unless the dead bytes reach twice the
                                 threshold; default 50 */
} pb_file_options;

/** Sets `opts` to the documented defaults. */
void pb_file_options_init(pb_file_options *opts);

/**
 * Opens a storage that keeps encoded atoms in memory (not persistent).
 * Errors: PB_ENOMEM.
 */
int pb_storage_open_memory(pb_storage **out);

/**
 * Opens (creating if needed) a file storage in directory `dir`: a folder of
 * append-only WAL segments.  Recovery runs before this returns.  `opts` may
 * be NULL for the defaults.  A read_only open may run beside a writer in
 * another process: it sees a whole prefix of the commits, at least every
 * commit acknowledged before it began, and keeps that snapshot until it is
 * closed (docs/storage.md, section 8).  A writable open with
 * opts->auto_compact starts the background thread of automatic
 * compaction; pb_storage_close stops it.
 * Errors: PB_EINVAL (segment_size 0, an unknown durability, or with
 * auto_compact: compact_duty_pct not in 1..100, or compact_dead_pct and
 * compact_min_dead both 0); PB_ENOMEM (the thread too);
 * PB_EIO (a system call failed; errno is kept);
 * PB_ELOCKED (another process has the directory open for writing);
 * PB_ECORRUPT (a damaged segment that recovery must not cut);
 * PB_EVERSION (a segment of an unknown format version);
 * PB_ENOTFOUND (read_only and no such directory).
 */
int pb_storage_open_file(const char *dir, const pb_file_options *opts,
                         pb_storage **out);

/** What a compaction did (pb_storage_compact). */
typedef struct pb_compact_stats {
  uint64_t bytes_before; /* bytes of the segment files before */
  uint64_t bytes_after;  /* bytes of the segment files right after */
  uint64_t atoms;        /* atoms copied: those the live root reaches */
  uint64_t atom_bytes;   /* their bytes (the live data) */
  uint64_t passes;       /* catch-up passes over commits that landed */
  uint64_t switch_lsn;   /* LSN of the switch commit */
} pb_compact_stats;

/**
 * Compacts (vacuums) a storage: copies every atom that the current root
 * reaches into a new segment, catching up on the commits that land
 * meanwhile, then switches to it in one durable step (a commit of its own,
 * whose LSN is stats->switch_lsn) and deletes the old segments once no
 * transaction that began before the switch is still open.  Readers and
 * writers keep working throughout; writers wait only during the final
 * catch-up.  A transaction that began before the switch and commits after
 * it gets PB_ECONFLICT.  A crash at any point leaves the storage either as
 * before or as after the switch.  May be called while a space uses `st`,
 * from any thread; compactions of one storage run one at a time.
 * `stats` may be NULL.
 * Errors: PB_ENOTSUP (the memory tier does not compact); PB_ERDONLY;
 * PB_EFAILED (an earlier sync failed); PB_ECORRUPT (an atom the root
 * reaches is missing or malformed; nothing changed); PB_ENOSPC, PB_EIO
 * (writing the new segment failed; nothing changed, unless the failure
 * came after the switch was durable, which fails the store like a commit's
 * failed sync); PB_ENOMEM.
 */
int pb_storage_compact(pb_storage *st, pb_compact_stats *stats);

/** A file storage's bytes and its automatic compaction
 * (pb_storage_disk_usage).  The live and dead bytes are estimates, see
 * docs/storage.md, "Automatic compaction". */
typedef struct pb_disk_usage {
  uint64_t log_bytes;    /* the log's segments: headers and frames, without
                            the preallocated zeros after the last frame */
  uint64_t file_bytes;   /* the segment files' sizes: the log, the zeros
                            preallocated ahead, and the segments a
                            compaction replaced that a pinned reader still
                            keeps */
  uint64_t base_bytes;   /* log bytes right after the last compaction (in
                            this open, or found at open); 0: none known */
  uint64_t live_bytes;   /* estimate of the live data: the atom bytes that
                            compaction copied; 0: none known */
  uint64_t dead_bytes;   /* estimate of the dead data: the log bytes
                            appended since that compaction (the whole log
                            when none is known) */
  uint64_t next_auto;    /* dead_bytes at which the next automatic
                            compaction starts (UINT64_MAX: off) */
  uint64_t auto_runs;    /* automatic compactions done since open */
  uint64_t auto_measured; /* times the dead bytes passed the threshold but
                            a walk of the live data (no copy) found fewer
                            dead bytes than that, since open: no copy made,
                            the estimate reset from the walk */
  uint64_t auto_failed;  /* automatic compactions that failed (nothing
                            changed: the store goes on) */
  uint64_t auto_busy;    /* automatic compactions put off because a
                            write transaction stayed open over 100 ms
                            when the switch was due (tried again later) */
  uint64_t auto_ns;      /* time spent in automatic compactions */
  int auto_last_error;   /* the last automatic compaction's result */
  bool auto_running;     /* one runs now */
} pb_disk_usage;

/**
 * Copies a file storage's bytes, its estimates of live and dead data and
 * the state of its automatic compaction.  Cheap: no I/O, but for the
 * first call on an open whose compaction thread does not run (read-only,
 * or auto_compact off), which reads the frame headers of the first
 * segment (docs/storage.md).  Any thread.
 * Errors: PB_EINVAL (a NULL argument); PB_ENOTSUP (the memory tier).
 */
int pb_storage_disk_usage(pb_storage *st, pb_disk_usage *out);

/** What the open of a file storage found and did (pb_storage_recovery_info). */
typedef struct pb_recovery_info {
  uint64_t lsn;           /* LSN of the commit the open recovered (0: none) */
  uint64_t first_segment; /* sequence number of the log's first segment */
  uint64_t segments;      /* segments in the log */
  uint64_t tail_offset;   /* where the torn tail began in the last segment
                             (when tail_bytes > 0) */
  uint64_t tail_bytes;    /* bytes after the last valid frame of the last
                             segment: cut by a writable open, ignored by a
                             read-only one (0: none) */
  uint64_t tail_data_bytes; /* of those, the bytes up to the last non-zero
                               one: what incomplete frames wrote; the rest
                               were preallocated zeros */
  uint64_t tail_frames;   /* incomplete frames begun in the tail, each a
                             commit that never completed (never acknowledged
                             in SYNC or GROUP, unless the disk lost it) */
  uint64_t removed_segments; /* leftover segment files a writable open
                                deleted: an interrupted segment creation,
                                segments a compaction had replaced */
  bool tail_cut;          /* the tail was cut (writable open) */
  bool manifest_found;    /* MANIFEST was there and checked; false for a
                             store written before it existed */
  bool manifest_written;  /* this writable open wrote MANIFEST (it was
                             missing, or the recovered log outgrew it) */
} pb_recovery_info;

/**
 * Copies what the open of `st` found: the recovered LSN, the log's
 * segments, a torn tail (cut or ignored) and the manifest's state
 * (docs/storage.md, section 7).  Errors: PB_EINVAL (a NULL argument);
 * PB_ENOTSUP (a tier without recovery: memory).
 */
int pb_storage_recovery_info(pb_storage *st, pb_recovery_info *out);

/** pb_storage_backup flag: write only the live data (as a compaction
 * would), not the segments as they are. */
#define PB_BACKUP_COMPACT 0x1u

/**
 * Writes a consistent copy of a file storage to directory `dir` while
 * writers go on: the copy holds exactly the state of the commit that was
 * the latest published one when the backup began (every commit
 * acknowledged before the call, none of those that come later), and opens
 * as a store of its own.  With flags 0 the segments are copied as they
 * are (old versions included); with PB_BACKUP_COMPACT only what the root
 * reaches is written, as one segment.  The copy goes through the I/O
 * layer and is fsynced, its directory too.  `dir` must not exist (it is
 * created) or be empty.  Works on read-only opens too.  On failure every
 * file the backup created in `dir` is removed (the directory itself is
 * left, empty, when it created it); should the removal fail as well, what
 * is left holds a MANIFEST naming segments that are missing or short, so
 * it opens as PB_ECORRUPT, never as an older state.
 * Errors: PB_EINVAL (NULL, or an unknown flag); PB_ENOTSUP (the memory
 * tier); PB_EEXIST (`dir` exists and is not empty, or is not a
 * directory); PB_EFAILED (the store failed after a sync error; reopen it);
 * PB_ENOSPC, PB_EIO (writing the copy failed; the source is unchanged);
 * PB_ECORRUPT (PB_BACKUP_COMPACT: an atom the root reaches is damaged);
 * PB_ENOMEM.  pb_errdetail() names the file.
 */
int pb_storage_backup(pb_storage *st, const char *dir, unsigned flags);

/* --- Salvage: reading a damaged file storage (docs/storage.md, section 13) --- */

/** What a piece of damage is (pb_salvage_damage.kind). */
typedef enum pb_salvage_kind {
  PB_SALVAGE_MANIFEST = 1,    /* MANIFEST unreadable or damaged: the log was
                                 read without its checks */
  PB_SALVAGE_MISSING = 2,     /* a segment the log needs is not there */
  PB_SALVAGE_REPLACED = 3,    /* a segment is not the one MANIFEST names
                                 (another id), or does not chain */
  PB_SALVAGE_SHORT = 4,       /* a segment ends before the size MANIFEST
                                 records (truncated, or an older copy) */
  PB_SALVAGE_BAD_HEADER = 5,  /* a segment header that does not verify */
  PB_SALVAGE_BAD_FRAME = 6,   /* a frame that does not verify (checksum,
                                 structure, or a commit that does not
                                 follow the previous one) */
  PB_SALVAGE_UNREADABLE = 7,  /* a segment the system cannot read (EIO) */
  PB_SALVAGE_ATOM = 8         /* pb_storage_salvage: an atom the root
                                 reaches cannot be read */
} pb_salvage_kind;

/** The kind's name in lower case ("missing", "replaced", "short",
 * "bad header", "bad frame", "unreadable", "manifest", "atom"), for
 * messages; "unknown" for any other value.  Never NULL; static. */
const char *pb_salvage_kind_name(pb_salvage_kind kind);

/** One piece of damage that salvage found. */
typedef struct pb_salvage_damage {
  pb_salvage_kind kind;
  char file[32];     /* the file's name in the directory ("seg-....wal",
                        "MANIFEST"); "" for an atom */
  uint64_t offset;   /* where in the file the damage begins (a frame's
                        offset; 0 for a whole file) */
  char detail[224];  /* a sentence: what failed, the file, the offset */
} pb_salvage_damage;

/** Damage entries a report holds; n_damage counts every one found. */
#define PB_SALVAGE_MAX_DAMAGE 16

/** What a salvage read and what it skipped (pb_storage_salvage_report,
 * pb_storage_salvage). */
typedef struct pb_salvage_report {
  uint64_t lsn;              /* LSN of the last commit that verified: the
                                root a salvage open serves (0: none) */
  uint64_t commits;          /* commits verified in the log, that one last */
  uint64_t first_lsn;        /* LSN of the first of them (a log that starts
                                at a compaction's output goes on from its
                                LSN) */
  uint64_t segments_read;    /* segments whose frames were used, the one
                                where the chain broke included */
  uint64_t segments_missing; /* segments named (by MANIFEST or by the gap
                                in their numbers) but not there */
  uint64_t segments_skipped; /* present segments after the break, unused */
  uint64_t bytes_skipped;    /* bytes of segment files not used: from the
                                break to the end of its file, plus every
                                skipped segment */
  uint64_t commits_dropped;  /* checksum-valid commit frames found after
                                the break and not used: a lower bound of
                                the commits lost (a missing segment's are
                                not counted) */
  uint64_t lsn_copied;       /* pb_storage_salvage: the LSN of the state
                                written (lsn, or older when an atom of a
                                newer root could not be read) */
  uint64_t atoms_copied;     /* pb_storage_salvage: atoms written */
  uint64_t atom_bytes;       /* pb_storage_salvage: their bytes */
  uint64_t atoms_unreadable; /* pb_storage_salvage: atoms a root reached
                                that could not be read (each made that
                                root unusable) */
  uint64_t n_damage;         /* damage found (0: the store is whole) */
  pb_salvage_damage damage[PB_SALVAGE_MAX_DAMAGE]; /* the first ones, in the
                                                      order found */
} pb_salvage_report;

/**
 * Copies the salvage report of a storage opened with opts.salvage: the
 * damage found, the commits used and skipped.  A salvage open never fails
 * on damage: it serves the last commit that verifies, reading the log in
 * order and stopping where the chain breaks (a missing or replaced
 * segment, a bad frame anywhere, a sealed segment shorter than MANIFEST
 * records), and every read of an atom it does not hold gives PB_ECORRUPT.
 * Errors: PB_EINVAL (a NULL argument, or `st` was not opened with
 * opts.salvage); PB_ENOTSUP (the memory tier).
 */
int pb_storage_salvage_report(pb_storage *st, pb_salvage_report *out);

/**
 * Salvages the file storage in `dir` into a new, clean, compacted store in
 * `newdir`, as SQLite's .recover does: `dir` is opened in salvage mode
 * (read-only: nothing in it changes), and the state of its last commit
 * that verifies is written to `newdir` as one segment, with everything its
 * root reaches.  Should an atom that root reaches not read back (a frame
 * that verified but holds a malformed atom), the next older verified
 * commit whose whole tree reads is written instead, and the report counts
 * the unreadable atoms and the LSN written (lsn_copied).  The copy opens
 * normally.  When no commit verifies, nothing is written.  `newdir` must
 * not exist (it is created) or be an empty directory.  `rep` may be NULL;
 * it is filled on success and on PB_ECORRUPT.
 * Errors: PB_EINVAL (NULL or empty paths); PB_ENOTFOUND (`dir` does not
 * exist, or holds no segment and no MANIFEST: not a store);
 * PB_EEXIST (`newdir` exists and is not empty, or is not a directory);
 * PB_ECORRUPT (`dir` is damaged before its first commit: nothing could be
 * recovered, and nothing was written); PB_EVERSION (the store's first
 * segment is of a newer format); PB_ENOSPC, PB_EIO (writing `newdir`
 * failed: every file written there is removed, and `newdir` too when this
 * call created it); PB_ENOMEM.  pb_errdetail() names the file.
 */
int pb_storage_salvage(const char *dir, const char *newdir,
                       pb_salvage_report *rep);

/**
 * Closes a storage that was never given to pb_space_open.  NULL is a no-op.
 * Errors: PB_EIO (a final flush failed, or cutting the preallocated end
 * of the last WAL segment failed; the storage is closed anyway, and in the
 * second case every commit is durable and the next open cuts the zeros).
 */
int pb_storage_close(pb_storage *st);

/* --- ObjectSpace --- */

typedef struct pb_space pb_space;

/**
 * Opens an object space over `st`, which it owns from then on (also on
 * failure: the storage is closed).
 * Errors: PB_ENOMEM; PB_ECORRUPT (the root atom is damaged); PB_EIO.
 */
int pb_space_open(pb_storage *st, pb_space **out);

/** A cache size meaning "the default for this storage tier". */
#define PB_CACHE_DEFAULT UINT64_MAX

/** Options of a space: the sizes of its two atom caches (docs/cache.md).
 * Fill with pb_space_options_init first.
 *
 * Caches are limited by bytes: each entry counts its memory (the object's
 * struct and arrays, the atom copy it owns, and the cache's own record of
 * it, about 136 bytes).  An entry limit is optional: 0 (the default) means
 * none, so the byte limit alone decides; a non-zero one bounds the count
 * too.  A byte limit of 0 turns that cache off (its entry limit must then
 * be 0 too).  PB_CACHE_DEFAULT takes the tier's default: the object cache
 * gets 64 MiB on every tier; the bytes cache gets 16 MiB where a storage
 * read is expensive, and is off where it costs a memory lookup (the file
 * tier reads through mmap, the memory tier from memory), whatever its
 * entry limit says. */
typedef struct pb_space_options {
  uint64_t bytes_cache_bytes;    /* AtomBytesCache, atom copies:
                                    PB_CACHE_DEFAULT (off on the file and
                                    memory tiers, else 16 MiB) */
  uint64_t bytes_cache_entries;  /* 0: no entry limit */
  uint64_t object_cache_bytes;   /* AtomObjectCache, decoded nodes and
                                    records: PB_CACHE_DEFAULT (64 MiB) */
  uint64_t object_cache_entries; /* 0: no entry limit */
} pb_space_options;

/** Sets `opts` to the documented defaults. */
void pb_space_options_init(pb_space_options *opts);

/**
 * pb_space_open with options; `opts` may be NULL for the defaults.
 * Errors: those of pb_space_open; PB_EINVAL (a cache's byte limit is 0
 * and its entry limit is not).
 */
int pb_space_open_ex(pb_storage *st, const pb_space_options *opts,
                     pb_space **out);

/**
 * Closes the space and its storage.  Every pb_db must be closed first.
 * NULL is a no-op.  Errors: PB_EIO (the final flush failed).
 */
int pb_space_close(pb_space *sp);

/**
 * Calls fn(arg, name) for each database of the latest committed space root,
 * in name order; a non-zero return from fn stops the listing and is
 * returned.  Errors: PB_ENOMEM; PB_EIO; PB_ECORRUPT.
 */
int pb_space_list(pb_space *sp, int (*fn)(void *arg, const char *name),
                  void *arg);

/**
 * Drops database `name` and everything in it, in a commit of its own.
 * Handles already open on it get PB_ENOTFOUND from pb_txn_begin.
 * Errors: PB_ENOTFOUND; PB_ERDONLY; PB_EINVAL (a bad name); and
 * pb_txn_commit's errors.
 */
int pb_space_drop(pb_space *sp, const char *name);

/** Counters of a space since it was opened (pb_space_stats). */
typedef struct pb_space_stats {
  uint64_t commits;   /* transactions committed with changes */
  uint64_t merges;    /* commits whose snapshot was overtaken by another
                         commit to the same database, merged
                         (docs/transactions.md) */
  uint64_t conflicts; /* commits that failed with PB_ECONFLICT */
  uint64_t retries;   /* pb_txn_run attempts after a conflict */
  uint64_t locked_runs; /* pb_txn_run attempts under the writer lock */
  uint64_t combined;  /* commits written out by another commit of the same
                         database handle, in its batch (combined commits:
                         docs/transactions.md); counted in commits too */
} pb_space_stats;

/** Copies the counters.  Thread-safe.  Errors: none beyond PB_EINVAL. */
int pb_space_stats_get(pb_space *sp, pb_space_stats *out);

/* --- Database --- */

typedef struct pb_db pb_db;

/*
 * Flags.  Every flag of the API has a bit of its own (no two flags share a
 * bit, whatever functions they belong to), and each function that takes
 * flags refuses, with PB_EINVAL and before doing anything, a bit it does
 * not accept: an unknown bit, or a flag of another function (PB_RDONLY
 * given to pb_db_open, PB_CREATE given to pb_txn_begin).
 *
 *   pb_db_open                       PB_CREATE
 *   pb_txn_begin                     PB_RDONLY
 *   pb_txn_open_*, pb_dict_open_*    PB_CREATE
 *   pb_dict_iter_open                PB_REVERSE
 */

/** pb_db_open, pb_txn_open_* and pb_dict_open_* flag: create what does
 * not exist. */
#define PB_CREATE 0x40000u

/**
 * Opens database `name` (1 to 255 bytes of UTF-8) in `sp`.  With PB_CREATE,
 * a missing database is created by a commit of its own.  Flags: PB_CREATE
 * or 0.
 * Errors: PB_ENOTFOUND (no such database, and no PB_CREATE); PB_ENOMEM;
 * PB_EIO; PB_ECORRUPT; PB_ERDONLY (PB_CREATE on a read-only storage);
 * PB_EINVAL (a NULL argument, a bad name, or a flag other than PB_CREATE).
 */
int pb_db_open(pb_space *sp, const char *name, unsigned flags, pb_db **out);

/** Closes a database handle.  NULL is a no-op.  Always returns PB_OK. */
int pb_db_close(pb_db *db);

/**
 * Registers record types in the catalog of `db` (docs/evolution.md): each
 * version (fingerprint) the catalog does not have yet, and the records each
 * embeds by value, get an epoch, their name a type id (the first time), and
 * the version's field layout is kept, all in one commit of its own (none when
 * every version is known).  Each new version is first checked against every
 * cataloged version of its record by the rules of `pbc check`: a breaking
 * change registers nothing and returns PB_ESCHEMA, whose pb_errdetail names
 * the record, the field, its tag and the two types (or what else changed), as
 * `pbc check` words it.  On a read-only storage nothing is written: the
 * versions are only checked (PB_ESCHEMA likewise), and unknown ones get local
 * epochs.  Generated code lists a schema's types in `<prefix>record_types`
 * (docs/generated.md).  Types are also registered by their first
 * pb_txn_put_record; loads never register.
 * Errors: PB_ESCHEMA; PB_EINVAL (a NULL or malformed type); PB_ECONFLICT
 * (still conflicting after 100 retries); PB_ENOSPC; PB_ENOMEM; PB_EIO;
 * PB_ECORRUPT; and pb_txn_commit's.
 */
int pb_db_register(pb_db *db, const pb_record_type *const *types,
                   size_t n_types);

/**
 * pb_db_open, then pb_db_register(types, n_types): the usual way to open a
 * database with the record types of a program (pass the generated
 * `<prefix>record_types` and `<prefix>record_types_count`).  On failure
 * nothing is left open.  Errors: pb_db_open's and pb_db_register's.
 */
int pb_db_open_types(pb_space *sp, const char *name, unsigned flags,
                     const pb_record_type *const *types, size_t n_types,
                     pb_db **out);

/* --- Transactions --- */

typedef struct pb_txn pb_txn;

/** pb_txn_begin flag: a read-only transaction (never blocks, never blocked). */
#define PB_RDONLY 0x20000u

/**
 * Begins a transaction that reads the latest committed snapshot of `db`.
 * Flags: PB_RDONLY or 0.  A write transaction on a file storage may wait
 * here while an automatic compaction switches (its final pass: a few
 * fdatasyncs), so that no switch happens while it is open.
 * Errors: PB_ENOMEM; PB_EIO; PB_ECORRUPT; PB_ERDONLY (a writable transaction
 * on a read-only storage); PB_EINVAL (a NULL argument, or a flag other than
 * PB_RDONLY, such as PB_CREATE).
 *
 * A transaction latches its first failed write (docs/transactions.md): once
 * a change (pb_txn_set, pb_txn_remove, pb_txn_put_record, a collection's
 * put, add, append, insert, set, remove or set algebra, or an opening with
 * PB_CREATE) has failed with an error that may have left part of the change
 * behind, every later call on the transaction or its collections returns
 * that error, and pb_txn_commit returns it too, publishing nothing.  The
 * errors of a change that was refused before anything was touched do not
 * latch: PB_EINVAL, PB_ENOTFOUND, PB_ERDONLY, PB_ECLOSED, PB_ERANGE and
 * PB_ESCHEMA.  Every other error latches (PB_ENOMEM, PB_EIO, PB_ECORRUPT,
 * PB_ETOOBIG, ...).  Not latched: the pb_*_iter_next functions, and
 * pb_txn_load_record / pb_txn_load_decoded / pb_txn_arena (reads of
 * records, which still work).
 */
int pb_txn_begin(pb_db *db, unsigned flags, pb_txn **out);

/**
 * Commits and frees the transaction (also when it fails).  On success every
 * change is durable as the storage's durability mode says, and visible to
 * transactions that begin afterwards.  On failure nothing is published.
 * Errors: the latched error of a failed write (see pb_txn_begin; nothing
 * is published); PB_ECONFLICT (another commit changed the database since this
 * transaction's snapshot); PB_ENOSPC (nothing was written); PB_ENOMEM;
 * PB_EIO (when the sync failed, the outcome is unknown: the commit may be
 * found after a reopen, whole, never in part; the storage then refuses
 * writes until reopened); PB_EFAILED (the storage refuses writes after an
 * earlier sync failure).
 */
int pb_txn_commit(pb_txn *txn);

/** Discards and frees the transaction.  NULL is a no-op.  Returns PB_OK. */
int pb_txn_abort(pb_txn *txn);

/**
 * Stores an encoded record body as a new atom of this transaction and gives
 * its pointer, usable at once in this transaction and, after commit,
 * everywhere.  The body is copied.  Generated `_put` functions call this.
 * The body must be a record body: a well-formed sequence of fields (the
 * empty body is one), and each of its non-null pointer fields (PB_WT_PTR,
 * also inside embedded records) must name an atom this transaction can
 * read, from its own writes or from the storage.
 * The atom carries the catalog's type id of `type`'s name.  The first put
 * of a version the catalog does not have registers it (as pb_db_register
 * does, checked the same way) in THIS transaction: its commit writes the
 * catalog entries, with no commit of their own; a concurrent registration
 * may make that commit conflict (PB_ECONFLICT; pb_txn_run retries).
 * Errors: PB_EINVAL (not a record body, or a malformed `type`);
 * PB_ENOTFOUND (a pointer field names no atom); PB_ERDONLY; PB_ENOMEM;
 * PB_ETOOBIG (over 1 GiB); PB_ESCHEMA (the version is breaking against a
 * cataloged one, pb_errdetail says how); PB_ENOSPC (type ids exhausted);
 * PB_ECORRUPT; PB_EIO; the latched error of a failed write (see
 * pb_txn_begin).
 */
int pb_txn_put_record(pb_txn *txn, const pb_record_type *type,
                      const void *body, size_t size, pb_atom_ptr *out);

/**
 * Reads a record atom and gives a view of its encoded body, valid until the
 * transaction ends.  Generated `_load` functions go through
 * pb_txn_load_decoded, which calls this when it decodes privately.
 * Errors: PB_ENOTFOUND (no atom at `ptr`); PB_ECORRUPT (the atom is damaged
 * or is not a record); PB_ESCHEMA (the atom is a record of another type:
 * record atoms carry the catalog's type id of their record's name, and
 * pb_errdetail names both types; or this version of `type` is not
 * registered and is breaking against a cataloged one); PB_EINVAL (also a
 * `type` without a name); PB_EIO; PB_ENOMEM.  Records written before type
 * ids (docs/format.md) are read as any type.
 */
int pb_txn_load_record(pb_txn *txn, const pb_record_type *type,
                       pb_atom_ptr ptr, pb_bytes *body);

/**
 * A generated decoder, as pb_txn_load_decoded calls it: decodes `size`
 * bytes at `data` into the record struct at `rec`, taking array items from
 * `arena` (never NULL here); the struct may point into `data` and `arena`,
 * never into itself.  Generated `_load` functions pass a wrapper of their
 * `_decode`.  Returns PB_OK or an error, which is passed on as it is.
 */
typedef int (*pb_record_decode_fn)(void *rec, const void *data, size_t size,
                                   pb_arena *arena);

/**
 * Reads the record atom at `ptr` and gives it decoded by `decode` into the
 * struct at `rec` (`rec_size` bytes: sizeof the generated struct).
 * Generated `_load` functions call this.  Everything *rec points to (views
 * and array items) stays valid until the transaction ends.
 *
 * Records are decoded once and shared through the space's object cache
 * (docs/cache.md), under the key (ptr, schema epoch of `type` in this
 * database):
 * *rec is a shallow copy of the cached struct, which the transaction holds
 * until it ends.  A schema change (a new fingerprint) gives a new epoch,
 * so a record decoded under another version of the schema is never
 * returned.  A load never writes: it never registers a type, commits,
 * syncs or takes the writer lock.  A version the catalog does not have
 * (never registered by pb_db_register or a put) is checked against the
 * versions it has (PB_ESCHEMA when breaking) and decoded privately; on a
 * read-only storage it gets a local epoch and is cached.  Records of this
 * transaction's own batch (not published yet, so not cacheable), and all
 * records with the cache turned off, are also decoded privately into the
 * transaction's arena, as pb_txn_load_record + pb_txn_arena + `decode`
 * would: caching never makes a load fail that would otherwise succeed,
 * except for lack of memory.
 *
 * Errors: PB_EINVAL (also rec_size 0, or `decode` NULL); PB_ENOTFOUND (no
 * atom at `ptr`, or the null pointer); PB_ECORRUPT (the atom is damaged or
 * is not a record); PB_EIO; PB_ENOMEM; and whatever `decode` returns (such
 * as PB_ECORRUPT); PB_ESCHEMA (as for pb_txn_load_record).  On an error
 * *rec may be partly decoded.
 */
int pb_txn_load_decoded(pb_txn *txn, const pb_record_type *type,
                        pb_atom_ptr ptr, size_t rec_size,
                        pb_record_decode_fn decode, void *rec);

/**
 * Gives the transaction's arena, created on first use and destroyed when
 * the transaction commits or aborts.  pb_txn_load_decoded decodes arrays
 * into it when it decodes privately (not through the object cache), so
 * they live exactly as long as the record's string views.
 * Errors: PB_ENOMEM.
 */
int pb_txn_arena(pb_txn *txn, pb_arena **out);

/**
 * Names a value in the database root: after commit, pb_txn_get(name) in a
 * later transaction returns it.  Strings and bytes are copied.  A non-null
 * REF must name an atom this transaction can read (its own writes or the
 * storage), a nested collection's root a node of that collection's kind,
 * and a RECORD's pointer fields atoms too (the null pointer is fine).
 * Errors: PB_ERDONLY; PB_ENOMEM; PB_EINVAL (empty name or not UTF-8, an
 * invalid value kind, a string that is not UTF-8, a RECORD whose body does
 * not parse, or a REF whose offset exceeds UINT32_MAX); PB_ENOTFOUND (a
 * pointer that names no atom); PB_EIO; the latched error of a failed
 * write (see pb_txn_begin).
 */
int pb_txn_set(pb_txn *txn, const char *name, const pb_value *value);

/**
 * Looks a name up in the database root as this transaction sees it.  Views
 * in *out stay valid until the transaction ends, or until this transaction
 * sets or removes the same name, whichever comes first.  A collection
 * opened by pb_txn_open_dict and the like (also one just created) gives
 * its current root, written to the batch first if it changed, as
 * pb_dict_get does ("Collections" below).
 * Errors: PB_ENOTFOUND; PB_ECORRUPT; PB_EIO; when a collection is
 * written, PB_ENOMEM and PB_ETOOBIG; the latched error of a failed write
 * (see pb_txn_begin).
 */
int pb_txn_get(pb_txn *txn, const char *name, pb_value *out);

/**
 * Removes a name from the database root (also one that holds a collection
 * this transaction created: its handles are closed, PB_ECLOSED, and the
 * name stays removed at commit).
 * Errors: PB_ENOTFOUND; PB_ERDONLY; PB_ENOMEM; the latched error of a
 * failed write (see pb_txn_begin).
 */
int pb_txn_remove(pb_txn *txn, const char *name);

/** The retries to give pb_txn_run when in doubt: enough that a hot key
 * written by many threads at once never makes it give up (it escalates to
 * the writer lock after 3 conflicts). */
#define PB_TXN_RUN_RETRIES 100u

/**
 * Runs fn(txn, arg) in a writable transaction of `db` and commits it,
 * again on PB_ECONFLICT, at most max_retries more times
 * (PB_TXN_RUN_RETRIES is a good default).  fn must not commit or abort;
 * returning non-zero aborts and returns that value.
 *
 * Each attempt begins on the newest commit APPENDED to the storage, even
 * one whose fdatasync is still in flight (a plain pb_txn_begin reads the
 * newest durable one).  Its commit is appended behind those and is
 * acknowledged only once they are durable too; if their sync fails, this
 * commit fails with them (PB_EIO).  So commits to one hot key chain, and
 * share fdatasyncs, instead of conflicting while another one syncs; and fn
 * never sees data that could be lost without its own commit failing.
 * After a conflict it backs off (a yield, then a short random sleep that
 * grows to 256 us); after 3 conflicts the attempts run under the space's
 * writer lock, which every pb_txn_run of the space then takes too, from
 * begin to the append of the commit (not during its fdatasync), so a hot
 * key cannot starve a caller.  fn may call pb_txn_run again (so may what
 * it calls, such as pb_db_register; loads never do): a nested run on the
 * same thread works under the writer lock its caller holds instead of
 * waiting for it.
 * Errors: fn's; PB_ECONFLICT (still conflicting after max_retries
 * retries); PB_ERDONLY (a read-only storage); and pb_txn_begin's and
 * pb_txn_commit's.
 */
int pb_txn_run(pb_db *db, int (*fn)(pb_txn *txn, void *arg), void *arg,
               unsigned max_retries);

/**
 * The schema epoch of record type `type` in `db` (docs/evolution.md),
 * registering the type as pb_db_register does when the catalog does not have
 * it: the catalog maps each fingerprint registered to an epoch, the next one
 * (1, 2, ...) for a fingerprint seen for the first time, persisted in a
 * commit of its own; a known fingerprint keeps its epoch (and costs no
 * commit).  On a read-only storage an unknown fingerprint gets a local
 * epoch, >= 2^32, never persisted.  Thread-safe.  Loads do not call this.
 * Errors: pb_db_register's.
 */
int pb_db_schema_epoch(pb_db *db, const pb_record_type *type,
                       uint64_t *epoch);

/* --- Collections (docs/coll-dict.md, coll-list.md, coll-hash.md) --- */

/*
 * A collection handle belongs to the transaction that opened it and dies
 * with it; like the transaction, it is used by one thread at a time.
 * Changes are seen at once by the same transaction and published by its
 * commit.  Values read are views valid until the transaction ends (or
 * until the same key is changed).  Values given are copied.
 *
 * Opening flags: PB_CREATE makes a missing collection (empty); any other
 * bit is PB_EINVAL.  Opening
 * the same name or key twice gives the same handle.  Opening a name that
 * holds another kind of value gives PB_ESCHEMA.  Putting or removing a key
 * whose nested collection is open detaches that handle, and every handle
 * opened under it (PB_ECLOSED): their changes are dropped, and the key
 * keeps what the put or remove left, also at commit.
 *
 * Nested collections are seen at once, at every level: a collection
 * created with PB_CREATE is in its parent from then on (get gives a value
 * of its kind, count and iteration include its key, remove removes it),
 * and reopening a nested collection through its parent gives the handle
 * with its changes.  The value that get or iteration gives for the key of
 * an open nested collection is always real: when that collection has
 * changes not yet written, they are written to the transaction's batch
 * first, and the value points at the result (the batch is published at
 * commit).  Such a value is a copy as of that moment: putting it under
 * another key copies the collection as it is then, and later changes
 * through the open handle do not reach the copy.  Writing a collection
 * this way changes nothing a reader of the parent sees, and the parent's
 * iterators stay valid; but when the collection's own nested collections
 * changed, their entries in it are brought up to date, which ends its
 * open iterators (only its own).  Each such read writes the changed
 * nodes again (at most the height of each changed tree, per changed
 * collection), so a loop that changes and reads a nested collection by
 * turns grows the batch; reading through the nested handle costs nothing
 * of the kind.
 *
 * Errors common to every collection function: PB_ECORRUPT, PB_EIO (a node
 * could not be read), PB_ENOMEM, PB_ECLOSED (a detached handle), PB_ERDONLY
 * (a change in a read-only transaction), and the latched error of a failed
 * write of the transaction (see pb_txn_begin; not from the *_iter_next
 * functions).  A value put, set, inserted or appended follows pb_txn_set's
 * rules for pointers: PB_ENOTFOUND when one names no atom.
 */
typedef struct pb_dict pb_dict;   /* Dictionary: string keys, ordered */
typedef struct pb_list pb_list;   /* List: indexable */
typedef struct pb_set pb_set;     /* Set of values */
typedef struct pb_hdict pb_hdict; /* HashDictionary: any value as key */

/** Opens the collection named `name` in the database root; with
 * PB_CREATE, a missing name gets an empty collection at once
 * (pb_txn_get sees it).
 * Errors: PB_ENOTFOUND (no PB_CREATE); PB_ESCHEMA; PB_EINVAL (bad name);
 * PB_ETOOBIG (PB_CREATE with a name longer than 4096 bytes). */
int pb_txn_open_dict(pb_txn *txn, const char *name, unsigned flags,
                     pb_dict **out);
int pb_txn_open_list(pb_txn *txn, const char *name, unsigned flags,
                     pb_list **out);
int pb_txn_open_set(pb_txn *txn, const char *name, unsigned flags,
                    pb_set **out);
int pb_txn_open_hdict(pb_txn *txn, const char *name, unsigned flags,
                      pb_hdict **out);

/** Opens the collection nested at key `key` of a Dictionary; with
 * PB_CREATE, a missing key gets an empty collection at once (see above).
 * Errors: as pb_txn_open_dict. */
int pb_dict_open_dict(pb_dict *d, pb_str key, unsigned flags, pb_dict **out);
int pb_dict_open_list(pb_dict *d, pb_str key, unsigned flags, pb_list **out);
int pb_dict_open_set(pb_dict *d, pb_str key, unsigned flags, pb_set **out);
int pb_dict_open_hdict(pb_dict *d, pb_str key, unsigned flags,
                       pb_hdict **out);

/* Dictionary.  Keys: UTF-8, at most 4096 bytes (PB_ETOOBIG), compared
 * bytewise. */
/** The value at `key`; for an open nested collection, its current root,
 * written to the batch first if it changed (see above).
 * Errors: PB_ENOTFOUND; and, when a nested collection is written, those
 * of writing it (PB_ENOMEM, PB_ETOOBIG). */
int pb_dict_get(pb_dict *d, pb_str key, pb_value *out);
/** Errors: PB_EINVAL (key not UTF-8, a value with no encoding, or a
 * RECORD whose body does not parse); PB_ETOOBIG. */
int pb_dict_put(pb_dict *d, pb_str key, const pb_value *v);
/** Errors: PB_ENOTFOUND. */
int pb_dict_remove(pb_dict *d, pb_str key);
int pb_dict_count(pb_dict *d, uint64_t *out);

/** A key range for iteration; a side whose has_* is false is open. */
typedef struct pb_dict_range {
  pb_str lo, hi;
  bool has_lo, has_hi;
  bool lo_incl, hi_incl; /* inclusive bounds */
} pb_dict_range;

/** pb_dict_iter_open flag: descending key order. */
#define PB_REVERSE 0x80000u

typedef struct pb_dict_iter pb_dict_iter;
/** Iterates over `range` (NULL: all keys).  A change to the Dictionary
 * ends its iterators (their use is then undefined).  Flags: PB_REVERSE or
 * 0; any other bit is PB_EINVAL. */
int pb_dict_iter_open(pb_dict *d, const pb_dict_range *range, unsigned flags,
                      pb_dict_iter **out);
/** Gives the next entry, or PB_ENOTFOUND after the last.  An open nested
 * collection's entry gives its current root, as pb_dict_get does (and
 * with its errors). */
int pb_dict_iter_next(pb_dict_iter *it, pb_str *key, pb_value *val);
void pb_dict_iter_close(pb_dict_iter *it);

/* List. */
int pb_list_count(pb_list *l, uint64_t *out);
/** Errors: PB_ERANGE (i >= count). */
int pb_list_get(pb_list *l, uint64_t i, pb_value *out);
/** Errors: PB_ERANGE; PB_EINVAL. */
int pb_list_set(pb_list *l, uint64_t i, const pb_value *v);
/** Inserts before i (i == count appends).  Errors: PB_ERANGE; PB_EINVAL. */
int pb_list_insert(pb_list *l, uint64_t i, const pb_value *v);
int pb_list_append(pb_list *l, const pb_value *v);
/** Errors: PB_ERANGE. */
int pb_list_remove(pb_list *l, uint64_t i);
typedef struct pb_list_iter pb_list_iter;
/** Iterates over the slice [from, to) (to clamped to the count).
 * Errors: PB_ERANGE (from past the count or past to). */
int pb_list_iter_open(pb_list *l, uint64_t from, uint64_t to,
                      pb_list_iter **out);
int pb_list_iter_next(pb_list_iter *it, pb_value *val);
void pb_list_iter_close(pb_list_iter *it);

/* Set.  Elements are values, equal when their encodings are.  An element
 * (like a HashDictionary key) may not hold a non-null atom pointer: REF,
 * a nested collection, or a RECORD with a pointer field.  Compaction
 * moves atoms and rewrites pointers, which would change the element. */
/** *added (may be NULL) tells whether e was new.  Errors: PB_EINVAL (an
 * element with a pointer, or a RECORD whose body does not parse);
 * PB_ETOOBIG (more than 32,767 elements share one 64-bit hash). */
int pb_set_add(pb_set *s, const pb_value *e, bool *added);
/** Errors: PB_ENOTFOUND. */
int pb_set_remove(pb_set *s, const pb_value *e);
int pb_set_contains(pb_set *s, const pb_value *e, bool *out);
int pb_set_count(pb_set *s, uint64_t *out);
/** s becomes s | other, s & other, or s - other (other is unchanged). */
int pb_set_union(pb_set *s, pb_set *other);
int pb_set_intersect(pb_set *s, pb_set *other);
int pb_set_subtract(pb_set *s, pb_set *other);
typedef struct pb_set_iter pb_set_iter;
int pb_set_iter_open(pb_set *s, pb_set_iter **out);
/** Gives the next element, or PB_ENOTFOUND after the last. */
int pb_set_iter_next(pb_set_iter *it, pb_value *elem);
void pb_set_iter_close(pb_set_iter *it);

/* HashDictionary. */
/** Errors: PB_ENOTFOUND. */
int pb_hdict_get(pb_hdict *h, const pb_value *key, pb_value *out);
/** Errors: PB_EINVAL (a key as pb_set_add refuses, or an invalid value);
 * PB_ETOOBIG (as pb_set_add). */
int pb_hdict_put(pb_hdict *h, const pb_value *key, const pb_value *v);
/** Errors: PB_ENOTFOUND. */
int pb_hdict_remove(pb_hdict *h, const pb_value *key);
int pb_hdict_count(pb_hdict *h, uint64_t *out);
typedef struct pb_hdict_iter pb_hdict_iter;
int pb_hdict_iter_open(pb_hdict *h, pb_hdict_iter **out);
int pb_hdict_iter_next(pb_hdict_iter *it, pb_value *key, pb_value *val);
void pb_hdict_iter_close(pb_hdict_iter *it);

/* --- Atom cache statistics (docs/cache.md) --- */

/** Buckets of pb_cache_stats.load_latency. */
#define PB_CACHE_LATENCY_BUCKETS 20

/**
 * Counters of one atom cache (the bytes cache or the object cache) since
 * it was created, and its size now.  Memory is fixed: the load times go to
 * a histogram of PB_CACHE_LATENCY_BUCKETS buckets whose bounds double:
 * bucket 0 counts loads faster than 256 ns, bucket i (1 <= i <= 18) loads
 * of at least 2^(i+7) ns and less than 2^(i+8) ns (the last of these ends
 * at 67.1 ms), bucket 19 the slower ones.  A lookup is a get, or the
 * lookup of a get-or-load; a caller that waited for another's load
 * counts as a miss and as a wait.
 */
typedef struct pb_cache_stats {
  uint64_t hits;         /* lookups that found the key resident */
  uint64_t misses;       /* lookups that did not (waits included) */
  double hit_ratio;      /* hits / (hits + misses); 0 before any lookup */
  uint64_t insertions;   /* new keys cached (puts and loads) */
  uint64_t evictions;    /* entries removed to make room */
  uint64_t ghost_hits;   /* insertions of a key found in the ghost list,
                            which went straight to the protected queue */
  uint64_t rejected;     /* values larger than a shard's byte limit,
                            given out but not cached */
  uint64_t bytes;        /* what the resident entries count against
                            max_bytes (their memory, in a space), now */
  uint64_t entries;      /* resident entries, now */
  uint64_t a1in_entries; /* of which on probation (A1in), now */
  uint64_t am_entries;   /* of which protected (Am), now */
  uint64_t ghosts;       /* keys in the ghost list (A1out), now */
  uint64_t max_bytes;    /* the byte limit */
  uint64_t max_entries;  /* the entry limit; 0: none (bytes alone) */
  uint64_t held_entries; /* values no longer cached that a reader still
                            holds (outside the limits), now */
  uint64_t held_bytes;   /* their sizes, now */
  uint64_t waits;        /* single-flight: lookups that waited for the
                            load another caller was running */
  uint64_t loads;        /* loader runs */
  uint64_t load_errors;  /* loader runs that returned an error */
  uint64_t load_ns;      /* total time spent in loaders, nanoseconds */
  uint64_t load_latency[PB_CACHE_LATENCY_BUCKETS]; /* loads by run time */
} pb_cache_stats;

/**
 * Copies the statistics of the space's AtomBytesCache into *bytes and of
 * its AtomObjectCache into *objects; either may be NULL.  A cache that is
 * turned off gives all zeros.  Thread-safe; each cache shard is read
 * under its lock, so the figures are a snapshot only when nothing else
 * runs.  Errors: PB_EINVAL (sp NULL).
 */
int pb_space_cache_stats(pb_space *sp, pb_cache_stats *bytes,
                         pb_cache_stats *objects);

#ifdef __cplusplus
}
#endif
#endif /* PROTOBASE_PROTOBASE_H */
