/*
 * collections/dict_int.h - the Dictionary's in-memory tree, shared by
 * dict.c (handle, lookups, bulk load, flush), dict_node.c (loading,
 * validating and encoding one node), dict_edit.c (put and remove, with
 * splits and merges) and dict_iter.c (range iteration).  Not a public
 * interface: dict.h is.
 *
 * The tree hangs from a pseudo child slot in the handle (pb__dict.root),
 * so the root is loaded, dirtied and flushed like any other child.  A slot
 * (pb__dkid) is in one of three states:
 *
 *   ptr set,  node NULL   NOT LOADED: load it through the src before use
 *   ptr set,  node set    clean: node is the decoded atom at ptr
 *   ptr null, node set    dirty: node changed (or is new) since the atom
 *
 * and ptr null with node NULL only for the root of an empty dictionary.
 *
 * Every node records its level (0 for a leaf); the level of a child is its
 * parent's minus one, which the decoder checks, so no walk follows more
 * than PB__COLL_MAX_DEPTH nodes whatever the atoms say (a REF to itself or
 * to an ancestor fails the check).
 *
 * Key and value bytes that the handle copied (put, bulk load) live in the
 * handle's arena until pb__dict_free or pb__dict_reuse, because views
 * handed out by get and by iterators must stay valid that long (coll.h).
 * Whatever a handle owns besides its arena is freed in dict.c's
 * dict_release, which both of those call.  Private nodes and
 * their arrays are malloc'ed and freed as the tree changes; shared nodes
 * (below) belong to cached objects that the source holds.
 */
#ifndef PB_COLLECTIONS_DICT_INT_H
#define PB_COLLECTIONS_DICT_INT_H

#include <stdbool.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "collections/dict.h"

/* The 8 bytes at p as a big-endian number (one load and a byte swap:
 * compilers recognize the pattern), so that numbers order as the bytes. */
static inline uint64_t pb__dict_load_be64(const char *p) {
  const uint8_t *b = (const uint8_t *)p;
  return (uint64_t)b[0] << 56 | (uint64_t)b[1] << 48 | (uint64_t)b[2] << 40 |
         (uint64_t)b[3] << 32 | (uint64_t)b[4] << 24 | (uint64_t)b[5] << 16 |
         (uint64_t)b[6] << 8 | (uint64_t)b[7];
}

/** Bytewise order, a shorter key first on a common prefix: words inline
 * for keys of up to 64 bytes (most), the library's compare beyond. */
static inline int pb__dict_key_cmp(pb_str a, pb_str b) {
  size_t n = a.len < b.len ? a.len : b.len;
  if (n > 64) {
    int c = memcmp(a.ptr, b.ptr, n);
    if (c) return c;
  } else {
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
      uint64_t x = pb__dict_load_be64(a.ptr + i);
      uint64_t y = pb__dict_load_be64(b.ptr + i);
      if (x != y) return x < y ? -1 : 1;
    }
    for (; i < n; i++)
      if (a.ptr[i] != b.ptr[i])
        return (uint8_t)a.ptr[i] < (uint8_t)b.ptr[i] ? -1 : 1;
  }
  return (a.len > b.len) - (a.len < b.len);
}

/** The most lines pb__dict_prefetch_value asks for: a value longer than
 * that is read at the speed of a stream anyway. */
#define PB__DICT_VALUE_LINES 4u

/** Asks at once for the cache lines of the bytes [p, end) (at most
 * PB__DICT_VALUE_LINES of them from p's line; 2 when end is not after p):
 * a value a get is about to return, so that the caller's first read of
 * it does not wait for one line after another.  Reads nothing. */
static inline void pb__dict_prefetch_value(const void *p, const void *end) {
  uintptr_t a = (uintptr_t)p & ~(uintptr_t)63, e = (uintptr_t)end;
  if (e <= (uintptr_t)p) e = (uintptr_t)p + 65;
  if (e > a + 64 * PB__DICT_VALUE_LINES) e = a + 64 * PB__DICT_VALUE_LINES;
  for (; a < e; a += 64) __builtin_prefetch((const void *)a);
}

/** The 8 bytes of `k` after its first `skip`, big-endian, zero-padded:
 * key k's WINDOW over a common prefix of `skip` bytes.  Windows of keys
 * that share those bytes order as the keys do (not strictly: keys that
 * agree on 8 more bytes, or a short key and its zero-padded extension,
 * tie). */
static inline uint64_t pb__dict_window(pb_str k, size_t skip) {
  size_t r = k.len > skip ? k.len - skip : 0; /* bytes after the skip */
  if (r >= 8) return pb__dict_load_be64(k.ptr + skip);
  if (r == 0) return 0;
  if (k.len >= 8) /* the key's last 8 bytes end with the r wanted */
    return pb__dict_load_be64(k.ptr + k.len - 8) << (8 * (8 - r));
  uint64_t v = 0;
  for (size_t i = 0; i < r; i++)
    v |= (uint64_t)(uint8_t)k.ptr[skip + i] << (56 - 8 * i);
  return v;
}

/**
 * The DIRECTORY of an indexed leaf (PB__TYPE_DICT_LEAF_IDX, dict.c): its
 * value 0, a BYTES of
 *
 *   varint c | byte w (2 or 4) | m windows of 8 bytes | m offsets of w
 *   bytes, little-endian
 *
 * as pb__ddir_open found it.  Views into the atom.
 */
typedef struct pb__ddir {
  size_t m;            /* entries */
  size_t c;            /* bytes common to every key (0 when m <= 1) */
  unsigned w;          /* bytes per offset: 2 or 4 */
  const uint8_t *win;  /* m windows (pb__dict_window(key_i, c), stored
                          big-endian) */
  const uint8_t *off;  /* m offsets: where STRING key_i starts, from base */
  const uint8_t *base; /* the first byte after value 0 (key 0's STRING) */
  size_t span;         /* bytes from base to the end of the atom */
} pb__ddir;

/** Window i of `d`. */
static inline uint64_t pb__ddir_win(const pb__ddir *d, size_t i) {
  return pb__dict_load_be64((const char *)d->win + 8 * i);
}

/** Offset i of `d`. */
static inline size_t pb__ddir_off(const pb__ddir *d, size_t i) {
  const uint8_t *p = d->off + (size_t)d->w * i;
  size_t v = (size_t)p[0] | (size_t)p[1] << 8;
  if (d->w == 4) v |= (size_t)p[2] << 16 | (size_t)p[3] << 24;
  return v;
}

/** Reads the directory of a leaf of `m` entries at r (its value 0), up
 * to the end of r (the atom's), leaving r at value 1.  Checks its shape:
 * a BYTES value whose size is exactly what c, w and m say, c at most
 * PB__DICT_KEY_MAX and 0 when m <= 1, w 2 or 4.  NULL when it holds, else
 * what is wrong (for a PB_ECORRUPT detail). */
const char *pb__ddir_open(pb_reader *r, size_t m, pb__ddir *out);

typedef struct pb__dnode pb__dnode;

/** One entry of a leaf. */
typedef struct pb__dent {
  pb_str key;   /* a view into an atom or into the handle's arena */
  pb_value val; /* likewise */
} pb__dent;

/** One child slot of a branch (and the handle's root slot). */
typedef struct pb__dkid {
  pb_str key;      /* separator: every key of the child is >= key, and
                      every key of the previous child is < key; unused
                      (empty) for the first child of a branch */
  uint64_t count;  /* entries in the child's subtree (>= 1) */
  pb_atom_ptr ptr; /* the child's atom; null when the child is dirty */
  pb__dnode *node; /* the decoded child, or NULL: NOT LOADED */
} pb__dkid;

/**
 * A node: a leaf (level 0, ents) or a branch (level >= 1, kids).
 *
 * SHARED nodes belong to a cached object (dict_node.c): every handle and
 * thread reads them in place, so nothing ever writes to one, a handle
 * never frees one, and their kids' node fields stay NULL (a handle keeps
 * the children it loaded under a shared node in its kid map).  A handle
 * writes only PRIVATE nodes: before its first edit of a shared node it
 * copies it (pb__dict_own; copy on write, the path from the root down).
 *
 * The prefix array (pfx, built for decoded nodes): keys[i] (a leaf's
 * entries, a branch's separators 1..n-1; pfx[0] of a branch is unused)
 * all start with the same `lcp` bytes, those at `cp`; pfx[i] is the next
 * 8 bytes of key i read big-endian, zero-padded.  Nodes the object cache
 * shares have one; nodes built for one handle do not (see
 * pb__dict_prefix_private).  A search compares the
 * key with cp once, then integers, and reads key bytes (memcmp) only on
 * equal prefixes.  An edited node has none (pfx NULL: plain search).
 */
struct pb__dnode {
  /* What a search reads comes first (one line). */
  unsigned level;    /* 0 for a leaf; a branch's children are level - 1 */
  bool shared;       /* read in place by every handle: never written */
  size_t n;          /* entries (leaf) or children (branch) */
  const char *cp;    /* the lcp bytes every key starts with */
  size_t lcp;        /* their length */
  uint64_t *top;     /* NULL, or a summary of pfx: top[j] = pfx[8 j], so a
                        search reads one line of it, then one of pfx */
  uint64_t *pfx;     /* n key prefixes, or NULL (see above) */
  struct pb__dict_obj *obj; /* a shared node's cached object (its links:
                                dict_node.c), NULL for a private node */
  pb__dent *ents;    /* leaf entries in key order; NULL in a branch */
  const void *const *vals; /* a cached leaf's: where each entry's value
                              bytes are (NULL: none), so a search can ask
                              for them before it reads the entry; or NULL */
  pb__dkid *kids;    /* branch children in key order; NULL in a leaf */
  size_t cap;        /* room in ents or kids */
  pb_atom_ptr wrote; /* flush scratch: the atom just written for it */
};

/** The handle's map from (shared node, child index) to the child it
 * loaded there (open addressing; parent NULL: an empty cell). */
typedef struct pb__dkmap_ent {
  const pb__dnode *parent; /* a shared node; NULL: the cell is empty */
  size_t idx;              /* the child's index in it */
  pb__dnode *child;        /* NULL once moved into a private copy of parent */
} pb__dkmap_ent;

/** The keys a node may hold: [lo, hi), a side open when has_* is false. */
typedef struct pb__dbounds {
  pb_str lo, hi;        /* bounds (views into separators) */
  bool has_lo, has_hi;  /* whether each side applies */
} pb__dbounds;

/** Cells of the kid map inside the handle (enough for a get's path). */
#define PB__DKMAP_SMALL 8u

struct pb__dict {
  pb__src src;      /* where not-loaded nodes come from */
  pb__dkid root;    /* the root slot: count is the dictionary's size once
                       the root is loaded (or it is empty) */
  pb_atom_ptr base; /* the root as of the last open or flush */
  bool dirty;       /* changed since the last open or flush */
  pb_arena *arena;  /* copies of keys and values given to put/bulk load */
  pb__dkmap_ent *kmap; /* children loaded under shared nodes, or NULL */
  size_t kmap_cap, kmap_used; /* cells (a power of 2) and cells in use */
  pb__dkmap_ent kmap_small[PB__DKMAP_SMALL]; /* the first cells: a short
                                 read allocates no map */
  pb_atom_ptr *gone;  /* atoms of shared nodes the handle copied to change
                         them (pb__dict_gone), or NULL */
  size_t n_gone, cap_gone;
};

/** Level given to pb__dnode_load when any level is acceptable (the root). */
#define PB__DLEVEL_ANY UINT32_MAX

/* --- dict_node.c --- */

/** The fanout in use: pb__coll_fanout clamped to [4, PB__DICT_FANOUT_MAX]. */
size_t pb__dict_fanout(void);
/** The fewest entries or children a node other than the root keeps. */
size_t pb__dict_min_fill(void);
/** The largest fanout whose nodes still encode (PB__NODE_MAX_VALUES). */
#define PB__DICT_FANOUT_MAX 21845u

/** The first position in `leaf` whose key is >= key; *found when equal. */
size_t pb__dict_leaf_search(const pb__dnode *leaf, pb_str key, bool *found);
/** The child of `branch` whose key range holds `key`. */
size_t pb__dict_kid_search(const pb__dnode *branch, pb_str key);
/** The bounds of child i of `parent`, whose own bounds are `pb`. */
void pb__dict_kid_bounds(const pb__dnode *parent, const pb__dbounds *pb,
                         size_t i, pb__dbounds *out);
/** Entries in the subtree under `node` (n of a leaf, the sum of a branch's
 * child counts). */
uint64_t pb__dict_node_total(const pb__dnode *node);

/** A new empty node of `level` with room for `cap` items.  NULL: ENOMEM. */
pb__dnode *pb__dnode_new(unsigned level, size_t cap);
/** Frees `node` and every loaded node under it (not the arena bytes). */
void pb__dnode_free(pb__dnode *node);
/** Makes room for `want` items.  Errors: PB_ENOMEM (nothing changed). */
int pb__dnode_reserve(pb__dnode *node, size_t want);

/**
 * Loads slot `kid` if it is not loaded: reads its atom through d->src and
 * decodes it as a node of `level` (PB__DLEVEL_ANY: any) whose keys lie in
 * `b` and whose subtree holds kid->count entries (not checked for the root
 * slot).  Errors: PB_ECORRUPT (also a missing atom), PB_EVERSION,
 * PB_EIO, PB_ENOMEM; the slot stays not loaded.
 */
int pb__dict_load(pb__dict *d, pb__dkid *kid, unsigned level,
                  const pb__dbounds *b);
/** Gives child i of `parent` (whose bounds are `pb`) in *out, loading it
 * as above when needed: into the parent's slot for a private parent, into
 * the handle's kid map for a shared one.  The child may be shared (read
 * only).  Errors: as above. */
int pb__dict_kid(pb__dict *d, pb__dnode *parent, const pb__dbounds *pb,
                 size_t i, pb__dnode **out);
/** Child i of `parent` when a link gives it (a cached parent, a source
 * inside an epoch: dict_node.c), with no load and no check; else NULL. */
/** Child i of `parent` when it is in memory without a load: a private
 * parent's loaded slot, or a link from a cached parent (as
 * pb__dict_linked_kid); NULL otherwise. */
pb__dnode *pb__dict_near_kid(const pb__dict *d, const pb__dnode *parent,
                             size_t i);
pb__dnode *pb__dict_linked_kid(const pb__dict *d, const pb__dnode *parent,
                               size_t i);
/** Makes child i of the PRIVATE `parent` private (loading it, and copying
 * it when shared) and gives it.  Errors: as above. */
int pb__dict_own_kid(pb__dict *d, pb__dnode *parent, const pb__dbounds *pb,
                     size_t i, pb__dnode **out);
/** Frees the kid map and the private children in it. */
void pb__dict_kmap_free(pb__dict *d);
/** Makes the (loaded) root private.  Errors: PB_ENOMEM. */
int pb__dict_own_root(pb__dict *d);
/** Whether nodes built for one handle (not cached) get a prefix array
 * too; false by default (building it costs more than a few searches
 * save).  Tests set it, so the prefix search runs on every path. */
extern bool pb__dict_prefix_private;
/** Whether leaves are written in the old layout (PB__TYPE_DICT_LEAF, no
 * directory) rather than indexed; false by default.  Tests set it, to make
 * stores as they were written before the indexed leaf. */
extern bool pb__dict_write_plain_leaves;
/** Whether iterators load every leaf through the object cache, as before
 * they read leaves from their stored bytes (dict_iter.c); false by
 * default.  Tests set it, to put a scan's loads through the cache. */
extern bool pb__dict_scan_cached;
/** How many shared nodes handles copied (pb__dict_own), since start: for
 * tests that reads copy nothing. */
extern _Atomic uint64_t pb__dict_copies;
/** How many links from a cached branch to a cached child were made (see
 * dict_node.c), since start: for tests that links are followed. */
extern _Atomic uint64_t pb__dict_links;
/** Loads the root slot and sets d->root.count.  Errors: as above. */
int pb__dict_load_root(pb__dict *d);

/**
 * Encodes `node` (its dirty children must already carry their new atom in
 * `wrote`) and writes it through `sink`, giving its atom in *out.  A leaf
 * is written INDEXED (PB__TYPE_DICT_LEAF_IDX: a directory for searching it
 * in place) unless it is the `root` (a root leaf is never read in place:
 * plain, PB__TYPE_DICT_LEAF, smaller) or pb__dict_write_plain_leaves is
 * set.  `scratch` is a reusable value array.  Errors: the sink's,
 * PB_EINVAL, PB_ENOMEM, PB_ETOOBIG (a leaf of 4 GiB or more).
 */
int pb__dnode_write(const pb__dnode *node, bool root, const pb__sink *sink,
                    pb_buf *buf, pb_value **scratch, size_t *scratch_cap,
                    pb_atom_ptr *out);

/* --- dict_edit.c --- */

/** The nodes from the root down to the leaf where a key is or would be. */
typedef struct pb__dpath {
  size_t depth;                           /* nodes on the path */
  pb__dnode *node[PB__COLL_MAX_DEPTH];    /* node[0] is the root */
  size_t idx[PB__COLL_MAX_DEPTH];         /* child taken; in the leaf, the
                                             key's position */
  pb__dbounds bounds[PB__COLL_MAX_DEPTH]; /* the keys node[l] may hold,
                                             for l < nbounds */
  size_t nbounds;                         /* levels whose bounds are set:
                                             depth, unless links were
                                             followed (then some node on
                                             the path is shared) */
  bool found;                             /* the leaf holds the key */
} pb__dpath;

/**
 * Walks from the (loaded, non-empty) root to the leaf for `key`, loading
 * what it needs.  With `write`, every node on the path is made private
 * first (pb__dict_own_kid), so the caller may edit it; without, the nodes
 * may be shared and must not be written.  Errors: those of pb__dict_load.
 */
int pb__dict_descend(pb__dict *d, pb_str key, bool write, pb__dpath *p);
/** The same, stopping at the node of level `stop` (not above the root's):
 * with stop > 0, node[depth - 1] is that node and idx[depth - 1] the child
 * that holds `key` (not loaded); found is false. */
int pb__dict_descend_to(pb__dict *d, pb_str key, bool write, unsigned stop,
                        pb__dpath *p);
/** Sets the bounds of p->node[0..l] that a descent left unset (it sets
 * them only where it loads: nbounds). */
void pb__dict_path_bounds(pb__dpath *p, size_t l);

/**
 * Copies key and value into the handle's arena (one block) and gives the
 * entry.  Errors: PB_EINVAL (key not UTF-8, value with no encoding),
 * PB_ETOOBIG (key too long), PB_ENOMEM.
 */
int pb__dict_copy_entry(pb__dict *d, pb_str key, const pb_value *v,
                        pb__dent *out);
/** Checks a key: PB_ETOOBIG (too long), PB_EINVAL (not UTF-8), or PB_OK. */
int pb__dict_check_key(pb_str key);

/* --- dict_check.c --- */

/**
 * Checks the whole tree, loading every node: key order and separator
 * bounds, levels, counts, no empty node below the root, and, when
 * `strict`, at most pb__dict_fanout() items per node and at least
 * pb__dict_min_fill() in every node but the root (a branch root has two
 * children at least).  For tests.  Errors: PB_ECORRUPT (a rule broken),
 * and those of pb__dict_load.
 */
int pb__dict_verify(pb__dict *d, bool strict);

/* --- dict_inplace.c --- */

/** How many leaves this thread's gets read in place, how many the
 * doorkeeper admitted for them (loaded through the object cache on a
 * third miss), and how many of those read in place were plain leaves
 * (PB__TYPE_DICT_LEAF, parsed in order), since the thread started: for
 * tests.  Per thread, so that readers on several threads write no common
 * line. */
extern _Thread_local uint64_t pb__dict_inplace_reads, pb__dict_inplace_admits,
    pb__dict_inplace_plain;

/** This thread's STREAK of in-place reads: up by one (to at most 16) at
 * each get that reads its leaf in place, halved at each get that finds
 * its leaf cached.  At PB__DICT_STREAK_HINTS or more, a get whose leaf is
 * not cached prefetches the leaf's hint (pb__dict_leaf_hint), which pays
 * only when leaves are read in place: a hint left on a leaf since cached
 * would ask for lines nobody reads. */
extern _Thread_local unsigned pb__dict_inplace_streak;
#define PB__DICT_STREAK_HINTS 4u

/**
 * The leaf HINT of child i of the level-1 node `parent`: where the last
 * get that read that leaf in place found its atom's bytes (a cached
 * parent keeps one per child; NULL when none, or for a private parent).
 * A get asks for the lines there at once, before it locates the atom
 * through the source, so that the leaf's first lines are on their way
 * while it reads the child's slot (docs/cache.md).  A hint is only ever
 * PREFETCHED, never read: when the leaf's bytes moved (a compaction, a
 * new mapping, an unmapped segment), a stale hint costs a useless
 * prefetch, which never faults.  Relaxed atomics: any thread may set one,
 * and a lost race costs a prefetch.
 */
const uint8_t *pb__dict_leaf_hint(const pb__dnode *parent, size_t i);

/**
 * A cached leaf's HASH SLOTS (dict_node.c, block_build): a table in the
 * leaf's block where each entry's key and value are copied at a place
 * that the key's hash gives, so that a get whose leaf is linked asks for
 * that place's lines as soon as it has the link, beside the block's, and
 * reads key and value there: no search of the leaf, and no wait for the
 * value after it.  Only an indexed leaf whose values are all views
 * (STRING, BYTES, RECORD) and whose entries fit 240 bytes has them.
 */
typedef struct pb__dslots {
  const uint8_t *area; /* the leaf's slot table */
  size_t stride;       /* bytes per slot */
  size_t slots;        /* how many (more than the leaf's entries) */
  size_t at;           /* the key's first slot */
} pb__dslots;

/** The slots of the linked child i of the level-1 node `parent` for
 * `key`, whose first slot's lines are asked for at once: true when the
 * child is linked (a reader inside an epoch, a cached parent: as
 * pb__dict_linked_kid) and has slots.  Reads nothing of the child. */
bool pb__dict_slots(const pb__dict *d, const pb__dnode *parent, size_t i,
                    pb_str key, pb__dslots *out);

/* --- dict_slots.c: the slot table's format --- */

/** The bytes and length of `v` when it is a view (STRING, BYTES, RECORD);
 * false for any other kind. */
bool pb__dict_value_view(const pb_value *v, const void **p, size_t *len);
/** The slots a leaf of `n` entries gets. */
size_t pb__dslots_count(size_t n);
/** The stride (bytes per slot) of an indexed leaf of `m` entries whose
 * directory is `dir`, from its entries' spans; 0 when it gets no slots
 * (no entry, one wider than a slot, offsets that do not ascend). */
size_t pb__dslots_stride(const pb__ddir *dir, size_t m);
/** The geo of a table of `slots` of `stride` bytes, `offset` bytes (a
 * multiple of a line) from its block's start; 0 when a geo cannot say so. */
uint32_t pb__dslots_geo(size_t offset, size_t slots, size_t stride);
/** Fills the zeroed table `area` with the entries of `leaf` (fewer than
 * `slots`): false, and the table not to be used, when a value is not a
 * view or an entry does not fit a slot (a damaged directory's spans). */
bool pb__dslots_fill(const pb__dnode *leaf, uint8_t *area, size_t stride,
                     size_t slots);
/** The slots of `key` in the table that `geo` places in the block at
 * `block`; the key's first slot's lines are asked for at once. */
void pb__dslots_at(const void *block, uint32_t geo, pb_str key,
                   pb__dslots *out);

/** The value of `key` from slots `s`: PB_OK, or PB_ENOTFOUND when the
 * leaf has no such key (the table holds every entry of the leaf).  The
 * view lives as long as the leaf's block: until the reader's epoch ends,
 * as any view into a linked node. */
int pb__dict_slot_get(const pb__dslots *s, pb_str key, pb_value *out);

/** Gets this thread answered from hash slots, since it started (tests). */
extern _Thread_local uint64_t pb__dict_slot_gets;
/** Sets child i's hint to `at` (a no-op for a private parent, and without
 * a write when it is already `at`). */
void pb__dict_leaf_hint_set(const pb__dnode *parent, size_t i,
                            const uint8_t *at);

/**
 * A get whose leaf may be read IN PLACE from the stored bytes (its
 * source says reads are cheap: pb__src_caches.inplace): descends through
 * links, slots and the object cache to the leaf's parent and, when the
 * leaf is not reachable without a load and is not admitted by the
 * doorkeeper, parses the leaf atom up to the key, giving views into the
 * source's bytes.  The root must be loaded and a branch.  Errors:
 * PB_ENOTFOUND (no such key), PB_ECORRUPT, PB_EVERSION, PB_EIO,
 * PB_ENOMEM.
 */
int pb__dict_get_inplace(pb__dict *d, pb_str key, pb_value *out);

/** Whether the leaf `ptr`, which a reader is about to enter and no link
 * or private slot gives, is read from its stored bytes rather than loaded
 * into the object cache: not the reader's own batch, and the doorkeeper
 * has not seen it twice recently (dict_inplace.c).  Records the miss. */
bool pb__dict_read_in_place(const pb__src *src, pb_atom_ptr ptr);

/**
 * Decodes the leaf `kid` of a parent whose bounds for it are `b` from its
 * stored bytes into *scratch, a private leaf the caller reuses (made or
 * grown here; free it with pb__dnode_free), checked as a load checks it
 * (a leaf, inside its bounds, the count its parent says).  Its keys and
 * values are views into the stored bytes, valid as long as the source's
 * views.  Nothing is cached.  Errors: PB_ECORRUPT, PB_ENOMEM, the source's.
 */
int pb__dict_leaf_scratch(pb__dict *d, const pb__dkid *kid,
                          const pb__dbounds *b, pb__dnode **scratch);

/** Whether gets on `d` may read leaves in place. */
static inline bool pb__dict_inplace_on(const pb__dict *d) {
  return d->src.caches && d->src.caches->inplace;
}

#endif /* PB_COLLECTIONS_DICT_INT_H */
