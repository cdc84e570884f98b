/*
 * cache/atomcache.h - the read path of SPEC section 8: a decoded object
 * comes from the AtomObjectCache, else is built from the atom's bytes,
 * which come from the AtomBytesCache, else from the storage.
 *
 *   pb__obj_load(src, ptr, epoch, class)
 *     objects cache, key (ptr, epoch)      hit: the shared object
 *     miss (single-flight, one loader per key):
 *       bytes cache, key (ptr, 0)          hit: the cached copy
 *       miss: src->read (storage view)     then a copy into the bytes cache
 *       build(copy of the atom)            the object owns that copy
 *
 * LIFETIMES, and why nothing dangles.  Both caches hold COPIES, never
 * views into a storage tier: a bytes entry is a malloc'ed copy of the
 * atom, and an object owns its own copy of the atom it was built from,
 * into which all its views point.  An object therefore outlives any
 * eviction of the bytes entry, any compaction that replaces the segment,
 * and any unmap: what it points into is its own (tests/unit/
 * test_atomcache.c compacts and evicts under a cached object, under ASan).
 * Views onto storage (mmap) are only ever handed out by src->read, under
 * the reader's storage pin, exactly as without a cache.  A caller of
 * pb__obj_load gets an object that lives as long as the source's views:
 * the handle goes into the source's holds (src->caches->holds, a plain
 * container the reader owns; a transaction's snapshot releases them when
 * it ends).  The cache calls nothing of the reader but src->read, the
 * source's own read of its batch and pinned storage, below it.
 *
 * Cached objects are SHARED between transactions and threads, so they are
 * immutable once built: a collection copies what it will change (a node's
 * arrays) into its own handle before the first write (copy-on-write).
 *
 * Keys: nodes are schema-free, so they are cached under epoch 0; a record
 * decoded by a generated decoder is cached under its type's schema epoch
 * (>= 1), so a schema change (a new fingerprint, a new epoch) never sees
 * an object decoded under the old schema.  A hit is also checked against
 * the class and fingerprint asked for; a mismatch (possible only with
 * crossed references or damage) builds a private object instead.
 *
 * Atoms that may change under the same pointer are never cached: those of
 * a transaction's own batch before it is published (a rebase rewrites
 * them): src->caches->own_hi/own_lo name that batch.
 *
 * Write-through (pb__atomcache_write_through) puts what a commit wrote
 * into both caches AFTER publication, best effort: every failure is
 * ignored, and a commit never fails because of the cache.
 *
 * Threads: everything here may be called from any thread; the caches are
 * thread-safe, and objects are immutable.
 */
#ifndef PB_CACHE_ATOMCACHE_H
#define PB_CACHE_ATOMCACHE_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cache/cache.h"

/** What a reader keeps of the caches: the handles of the cached objects
 * whose views it was given, released all at once when its views die
 * (pb__cache_holds_release).  A plain container owned by the reader (a
 * transaction's snapshot, txn/snapshot.h): the cache appends to it and
 * never calls back.  The array is kept across releases, so a reader that
 * is reused allocates it once. */
typedef struct pb__cache_holds {
  pb__cache_handle **h;
  size_t n, cap;
} pb__cache_holds;

/** Appends `h` to `holds`, taking it over (on failure it releases h).
 * Errors: PB_ENOMEM. */
int pb__cache_holds_add(pb__cache_holds *holds, pb__cache_handle *h);
/** Releases every handle in `holds`, keeping the array. */
void pb__cache_holds_release(pb__cache_holds *holds);
/** Releases every handle and frees the array. */
void pb__cache_holds_free(pb__cache_holds *holds);

/**
 * Cells through which a class reaches hot cached objects with no lookup:
 * a direct-mapped table, the cell of an atom pointer chosen by its hash.
 * The table only holds them; the class that uses them keeps them
 * consistent (collections/dict_node.c: the roots of Dictionaries, which
 * every transaction opens).  Owned by the space, freed after its object
 * cache, whose objects clear their cells as the cache drops them.
 */
#define PB__OBJ_CELLS 256u

/** A 64-bit hash of an atom pointer (a multiply-xorshift mix of its three
 * words), for the direct-mapped tables below. */
static inline uint64_t pb__obj_ptr_hash(pb_atom_ptr p) {
  uint64_t h = (p.batch_hi * 0x9E3779B97F4A7C15u) ^ p.batch_lo ^
               ((uint64_t)p.offset << 1);
  h *= 0xC2B2AE3D27D4EB4Fu;
  return h ^ (h >> 31);
}
typedef struct pb__obj_cells {
  _Atomic(void *) cell[PB__OBJ_CELLS];
} pb__obj_cells;

/** The cell of `ptr` in `t`. */
static inline _Atomic(void *) *pb__obj_cell(pb__obj_cells *t,
                                            pb_atom_ptr ptr) {
  return &t->cell[(pb__obj_ptr_hash(ptr) >> 56) % PB__OBJ_CELLS];
}

/**
 * The DOORKEEPER of leaves read in place (collections/dict_inplace.c): a
 * Dictionary leaf that a get misses in the object cache is read from the
 * stored bytes, not decoded and cached, unless it was missed recently.
 * The table remembers recent misses: a direct-mapped table of tags (a
 * hash of the atom pointer), the slot chosen by the hash too, so a tag
 * stays until a miss of another atom lands on its slot: about `mask + 1`
 * misses later.  A leaf missed twice within that window is admitted
 * (loaded and cached as before); one read once (a scan, a random read
 * over a set far larger than the cache) is not, so it neither costs a
 * decode nor pushes a cached object out.  Relaxed atomics, no lock: a
 * lost race only admits a leaf once more or once less.  Owned by the
 * space (with the object cache), sized from the cache: one slot per
 * 64 KiB of it (about one per four cached leaves of the default fanout).
 */
typedef struct pb__obj_seen {
  uint64_t mask;               /* slots - 1 (slots: a power of 2) */
  _Atomic uint64_t tag[];      /* a tag (never 0), or 0: empty */
} pb__obj_seen;

/** The smallest and largest doorkeepers (slots). */
#define PB__OBJ_SEEN_MIN 256u
#define PB__OBJ_SEEN_MAX 65536u

/** A doorkeeper for an object cache of `cache_bytes`: one slot per 64
 * KiB, a power of 2 within [PB__OBJ_SEEN_MIN, PB__OBJ_SEEN_MAX].  NULL:
 * ENOMEM. */
pb__obj_seen *pb__obj_seen_new(uint64_t cache_bytes);
/** Frees `t` (NULL: no-op). */
void pb__obj_seen_free(pb__obj_seen *t);

/** Records a miss of `ptr` in `t`: true when `ptr` was missed within the
 * window (admit it), false when this is its first miss there (its tag is
 * now in its slot). */
static inline bool pb__obj_seen_again(pb__obj_seen *t, pb_atom_ptr ptr) {
  uint64_t h = pb__obj_ptr_hash(ptr), tag = h | 1u;
  _Atomic uint64_t *slot = &t->tag[(h >> 40) & t->mask];
  if (atomic_load_explicit(slot, memory_order_relaxed) == tag) return true;
  atomic_store_explicit(slot, tag, memory_order_relaxed);
  return false;
}

/** The caches a source reads through, and where it keeps what it is
 * handed out: plain data, no callbacks (the caches never call the reader
 * above them).  Any cache may be NULL (off); `holds` NULL turns the object
 * cache off for this source. */
typedef struct pb__src_caches {
  pb__cache *bytes;        /* AtomBytesCache: atom copies, key (ptr, 0) */
  pb__cache *objects;      /* AtomObjectCache: objects, key (ptr, epoch) */
  pb__cache_holds *holds;  /* the reader's: handles it keeps */
  /* A batch whose atoms may still change under the same pointer (the
   * reader's own unpublished batch; ids 0, 0: none, since no stored atom
   * has batch id 0), so they are never cached. */
  uint64_t own_hi, own_lo;
  /* The reader is inside an epoch (util/ebr.h) for as long as its views
   * live, so objects it reaches through plain pointers between cached
   * objects (a class's links, below) stay allocated: it may follow and
   * make such links. */
  bool ebr;
  pb__obj_cells *cells; /* the space's cells, or NULL (used with ebr) */
  /* The source's reads are cheap views that live as long as its other
   * views (the file tier's mmap, the memory tier): a Dictionary get may
   * read a leaf in place instead of loading it (dict_inplace.c). */
  bool inplace;
  pb__obj_seen *seen; /* the space's doorkeeper, or NULL: with the object
                         cache off (then every leaf is read in place) */
} pb__src_caches;

/** Where a collection reads atoms: read(arg, ptr, &atom) gives the whole
 * atom (envelope included), a view valid while the source's atoms are.
 * Errors it may return: PB_ENOTFOUND, PB_ECORRUPT, PB_EIO, PB_ENOMEM.
 * `caches` may be NULL: then every object is built privately. */
typedef struct pb__src {
  int (*read)(void *arg, pb_atom_ptr ptr, pb_bytes *atom);
  void *arg;
  const pb__src_caches *caches;
} pb__src;

typedef struct pb__obj pb__obj;

/** A kind of decoded object. */
typedef struct pb__obj_class {
  const char *name; /* for messages: "dict node", "record" ... */
  /**
   * Builds the object from `atom` (the whole atom), which outlives the
   * object, so the object may point into it.  *extra gets the bytes it
   * allocated (for the cache's accounting).  `ctx` is pb__obj_load's.
   * Errors: PB_ECORRUPT, PB_EVERSION, PB_ENOMEM, or the class's own.
   */
  int (*build)(const void *ctx, pb_bytes atom, pb__obj **out,
               uint64_t *extra);
  /** Frees what build made (not the atom). */
  void (*destroy)(pb__obj *o);
  /**
   * NULL, or what the object cache calls instead of freeing an object of
   * this class when it drops the last reference to it: a class whose
   * cached objects point at each other (readers in an epoch follow those
   * pointers with no reference) makes the object unreachable, then
   * retires it (util/ebr.h), which frees it (pb__obj_free) once no
   * reader can be inside it.
   */
  void (*retire)(pb__obj *o);
  /** NULL, or whether a reader used the object through such a pointer
   * since the last call, clearing the mark (the object cache's
   * referenced option, cache/cache.h: a second chance in Am). */
  bool (*referenced)(pb__obj *o);
} pb__obj_class;

/** The object cache's referenced option (cache/cache.h) for values that
 * are objects: asks the object's class. */
bool pb__obj_referenced(void *value);

/** The header every object starts with (build fills cls and fingerprint;
 * pb__obj_load fills atom). */
struct pb__obj {
  const pb__obj_class *cls;
  uint64_t fingerprint; /* a record's type; 0 for nodes */
  void *atom_copy;      /* the atom copy it owns, or NULL */
};

/**
 * Gives the object of class `cls` for the atom at `ptr`, decoded under
 * `epoch` (0 for nodes) and, for records, `fingerprint`.  Through the
 * object cache when the source has one and the atom is cacheable: then
 * *owned is NULL and the object lives as long as the source's views (the
 * source holds it).  Otherwise the object is built privately over the
 * source's own view of the atom: *owned is the object, which the caller
 * frees with pb__obj_free when done with it (views into the ATOM stay
 * valid as long as the source's; only the object's own arrays go).
 * When the cache itself cannot allocate (PB_ENOMEM from it), the object
 * is built privately instead: caching never makes a load fail.
 * Errors: PB_ECORRUPT (also an atom the source does not have: something
 * points at it), PB_EVERSION, PB_EIO, PB_ENOMEM, and build's.
 */
int pb__obj_load(const pb__src *src, pb_atom_ptr ptr, uint64_t epoch,
                 const pb__obj_class *cls, const void *ctx,
                 uint64_t fingerprint, const pb__obj **out, pb__obj **owned);

/** Whether pb__obj_load would use the object cache for `ptr`. */
bool pb__obj_cacheable(const pb__src *src, pb_atom_ptr ptr);

/** Frees an object (its class's part, then its atom copy).  NULL: no-op. */
void pb__obj_free(pb__obj *o);

/**
 * Write-through of one published atom, best effort (errors are dropped):
 * a copy into `bytes` (may be NULL) and, when `cls` is not NULL, the
 * object built from another copy into `objects` (may be NULL) under
 * `epoch`.  Counts an insertion in each cache that took it.
 */
void pb__atomcache_write_through(pb__cache *bytes, pb__cache *objects,
                                 pb_atom_ptr ptr, pb_bytes atom,
                                 const pb__obj_class *cls, const void *ctx,
                                 uint64_t epoch);

#endif /* PB_CACHE_ATOMCACHE_H */
