/*
 * collections/dict_inplace.c - Dictionary gets that read a leaf IN PLACE
 * from the stored bytes rather than loading it into the object cache.
 *
 * Why.  A leaf that misses the object cache costs a read of the atom, a
 * copy into the slab, a decode of every value (UTF-8 checks included), a
 * node, a block, an insertion, an eviction and a retirement: all to
 * answer one key, when most of those leaves will be evicted before they
 * are read again (a random read over a Dictionary larger than the cache).
 * On a tier whose reads are cheap views (the file tier's mmap, the memory
 * tier: pb__src_caches.inplace), the get reads the leaf's bytes where
 * they are instead, and the cache keeps what it has.
 *
 * The descent.  From the root to the leaf's parent (level 1) as any get
 * descends: through the root's cell, links between cached nodes, the
 * handle's slots and kid map, or loads through the object cache.  At the
 * parent, the leaf is used as a node when it is reachable without a
 * load: a private parent's loaded slot, or a link (a cached leaf that a
 * reader reached before).  Otherwise, unless the source's atoms of that
 * batch may still change (the reader's own batch: loaded as before), the
 * DOORKEEPER (cache/atomcache.h: pb__obj_seen; seen_thrice below)
 * decides: a leaf missed a third time within its window is loaded and
 * cached as before (then linked, so later gets follow the link); a first
 * or second miss is read in place.  With the object cache off there is
 * nothing to admit to: every such leaf is read in place, where before it
 * was decoded privately for the handle.
 *
 * The search.  An indexed leaf (PB__TYPE_DICT_LEAF_IDX, dict.c) is
 * searched by its directory: the key is compared with the common prefix
 * (key 0's first c bytes, read only when c > 0), its window binary-
 * searched among the windows (conditional moves; the directory's lines
 * asked for at once first), and only the entries whose window equals the
 * key's read, by their offsets (one, but for ties).  A plain leaf
 * (PB__TYPE_DICT_LEAF: [STRING k1, v1, ..., STRING km, vm]) is read in
 * order, each key compared with the one asked, up to the first key >= it.
 *
 * The bytes are hostile until checked, and a get checks what it reads, so
 * that its answer never contradicts a byte it read (what it does not read
 * cannot change its answer; the full decode of the same leaf, by an
 * iterator, an edit or a cached load, checks all of it and still reports
 * damage anywhere).  Every length is bounds-checked before it is used, the
 * envelope's type must be a leaf, the count must be twice what the parent
 * says the leaf holds (plus one for the directory; the first varint, so
 * that check is free), and the value returned is decoded by the value
 * decoder (a STRING's UTF-8 checked), and for an indexed leaf must end
 * where the next entry starts.  An indexed leaf's directory must be
 * exactly as long as its c, w and m say; the windows the search reads
 * must not descend (window_search); an entry read must lie between its
 * offset and the next (key 0 at 0), its key be a STRING of at most
 * PB__DICT_KEY_MAX bytes with the common prefix and the window the
 * directory gives, inside the parent's bounds (for the key that equals
 * the one asked, both hold already: the asked key was checked against key
 * 0's prefix and has the window searched, and the descent chose the leaf
 * by it; so a get that finds its key reads no separator).  A plain leaf's keys read
 * must be such STRINGs, strictly ascending and inside the parent's
 * bounds.  Keys are not UTF-8 checked: the one that matches equals the
 * caller's; the others are only compared.
 *
 * Lifetimes.  The views returned point into the source's view of the atom
 * (src->read), which lives as long as the source's other views: for a
 * transaction, until it ends (its storage pin), as those of a node built
 * privately over the same bytes always did.  Nothing is allocated.
 */
#include <assert.h>
#include <string.h>

#include "atom/atom.h"
#include "atom/ptr.h"
#include "atom/value.h"
#include "collections/dict_int.h"
#include "util/errdetail.h"

_Thread_local uint64_t pb__dict_inplace_reads, pb__dict_inplace_admits,
    pb__dict_inplace_plain;
_Thread_local unsigned pb__dict_inplace_streak;

/* Reads a key: a STRING of at most PB__DICT_KEY_MAX bytes, as a view. */
static bool read_key(pb_reader *r, pb_str *k) {
  uint64_t n;
  if (r->pos == r->end || *r->pos != PB_VALUE_STRING) return false;
  r->pos++;
  if (pb_reader_varint(r, &n) != PB_OK || n > PB__DICT_KEY_MAX ||
      n > (uint64_t)(r->end - r->pos))
    return false;
  k->ptr = (const char *)r->pos;
  k->len = (size_t)n;
  r->pos += n;
  return true;
}

/* Looks `key` up in the body (at its value count) of an old leaf
 * (PB__TYPE_DICT_LEAF), child `kid` of a level-1 parent whose bounds for
 * it are `b`: read in order (see the top of the file). */
static int parse_leaf(pb_reader r, const pb__dkid *kid, const pb__dbounds *b,
                      pb_str key, pb_value *out) {
  uint64_t n;
  if (pb_reader_varint(&r, &n) != PB_OK || n > PB__NODE_MAX_VALUES ||
      n > (uint64_t)(r.end - r.pos))
    return PB__CORRUPT("dict leaf read in place: bad value count");
  if (n % 2 != 0 || n / 2 != kid->count)
    return PB__CORRUPT("dict leaf read in place: %" PRIu64
                       " values, its parent says %" PRIu64 " keys",
                       n, kid->count);
  pb_str prev = {NULL, 0};
  for (uint64_t i = 0; i < n / 2; i++) {
    pb_str k;
    if (!read_key(&r, &k))
      return PB__CORRUPT("dict leaf read in place: key %" PRIu64
                         " is not a valid key", i);
    if (i == 0 ? b->has_lo && pb__dict_key_cmp(k, b->lo) < 0
               : pb__dict_key_cmp(prev, k) >= 0)
      return PB__CORRUPT("dict leaf read in place: key %" PRIu64
                         " not ascending or below its bounds", i);
    int c = pb__dict_key_cmp(k, key);
    if (c > 0) {
      if (b->has_hi && pb__dict_key_cmp(k, b->hi) >= 0)
        return PB__CORRUPT("dict leaf read in place: key %" PRIu64
                           " above its bounds", i);
      return PB_ENOTFOUND;
    }
    if (c == 0) {
      if (pb__value_decode(&r, out) != PB_OK)
        return PB__CORRUPT("dict leaf read in place: value %" PRIu64 ": %s",
                           i, pb_errdetail());
      return PB_OK;
    }
    if (!pb__value_skip(&r))
      return PB__CORRUPT("dict leaf read in place: value %" PRIu64
                         " truncated or of no known kind", i);
    prev = k;
  }
  return PB_ENOTFOUND; /* every key is below the one asked */
}

/* The first i in [0, m) whose window is >= x (m when none), m >= 1: a
 * binary search whose steps are conditional moves, not branches.  It
 * also checks that the windows it reads do not descend (so its answer
 * never contradicts them): those below x are read left to right, so each
 * must be at least the last; those at or above x right to left, so each
 * at most the last; and window i, when it exists, at most the smallest
 * read at or above x.  *bad when one does not. */
static size_t window_search(const pb__ddir *d, uint64_t x, bool *bad) {
  const uint8_t *p = d->win;
  uint64_t lo = 0, hi = UINT64_MAX; /* the last read below x, at or above */
  bool b = false;
  for (size_t n = d->m; n > 1;) {
    size_t half = n / 2;
    uint64_t v = pb__dict_load_be64((const char *)p + 8 * half);
    bool below = v < x;
    b |= below ? v < lo : v > hi;
    lo = below ? v : lo;
    hi = below ? hi : v;
    p = below ? p + 8 * half : p;
    n -= half;
  }
  uint64_t v = pb__dict_load_be64((const char *)p);
  bool below = v < x;
  b |= below ? v < lo : v > hi;
  size_t i = (size_t)(p - d->win) / 8 + below;
  if (below && i < d->m) b |= pb__ddir_win(d, i) > hi;
  *bad = b;
  return i;
}

/* Entry i of an indexed leaf: its key (checked as read_key does, and
 * inside the entry) and a reader over its value, which ends where the
 * next entry starts.  False: the key is bad or leaves the entry.  With
 * `whole` (an entry whose value may be returned), the entry's lines are
 * asked for at once before its first byte is read, so that the caller's
 * read of the value waits for no line after the key's (a get per read
 * txn whose caller reads its 100-byte value: 2.5% faster, the same
 * program switching every 20,000 gets). */
static bool entry_at(const pb__ddir *d, size_t i, bool whole, pb_str *k,
                     pb_reader *v) {
  size_t at = pb__ddir_off(d, i);
  size_t end = i + 1 < d->m ? pb__ddir_off(d, i + 1) : d->span;
  if (at >= end || end > d->span || (i == 0 && at != 0)) return false;
  if (whole) pb__dict_prefetch_value(d->base + at, d->base + end);
  pb_reader_init(v, d->base + at, end - at);
  return read_key(v, k);
}

/* Asks for the lines of [p, p + n), each once, all at once. */
static void prefetch_lines(const uint8_t *p, size_t n) {
  for (size_t o = 0; o < n; o += 64) __builtin_prefetch(p + o);
}

/* What a leaf hint asks for: the envelope, and the directory of a leaf
 * of the default fanout (prefetch_head asks for the rest once the atom is
 * located). */
#define HINT_AHEAD 896u

/* The most a leaf's first lines are asked for at once (a fanout far above
 * the default's makes a directory longer than a search reads of it). */
#define PREFETCH_HEAD_MAX 2048u

/* Whether prefetch_head asks for the whole directory of a leaf of `count`
 * keys (and key 0's first line): its 128 bytes cover the envelope, the
 * directory's varint and byte, and key 0's line; 12 per key cover a
 * window and the widest offset. */
static bool head_covers_directory(uint64_t count) {
  return count < PREFETCH_HEAD_MAX / 12;
}

/* Asks at once for the lines of the leaf atom `atom` (of `count` keys, as
 * its parent says) that a search reads before it knows its entry: the
 * envelope, the directory (a varint, a byte, then count windows of 8 bytes
 * and count offsets of at most 4) and key 0's first line.  Without this
 * the envelope's line is one memory wait and the directory's lines, asked
 * for only once the envelope is parsed, a second (docs/cache.md: a get per
 * read transaction went from 679 to 611 ns, the same program switching
 * between the two every 20,000 gets).  Reads nothing: the count is only a
 * size, and a hostile one asks for at most PREFETCH_HEAD_MAX bytes. */
static void prefetch_head(pb_bytes atom, uint64_t count) {
  size_t want = head_covers_directory(count) ? 128 + (size_t)count * 12
                                             : PREFETCH_HEAD_MAX;
  prefetch_lines(atom.ptr, want < atom.len ? want : atom.len);
}

/* Looks `key` up in the body (at its value count) of an indexed leaf
 * (PB__TYPE_DICT_LEAF_IDX): the directory's size checked, the key's
 * common prefix compared with key 0's, its window searched among the
 * windows (those read checked in order), and only the entries of an
 * equal window read, each checked against the directory and the bounds
 * before it is believed (see the top of the file). */
static int search_leaf(pb_reader r, const pb__dkid *kid, const pb__dbounds *b,
                       pb_str key, pb_value *out) {
  uint64_t n;
  if (pb_reader_varint(&r, &n) != PB_OK || n > PB__NODE_MAX_VALUES ||
      n > (uint64_t)(r.end - r.pos))
    return PB__CORRUPT("dict leaf read in place: bad value count");
  if (n % 2 != 1 || n / 2 != kid->count)
    return PB__CORRUPT("dict leaf read in place: %" PRIu64
                       " values, its parent says %" PRIu64 " keys and "
                       "a directory", n, kid->count);
  pb__ddir d;
  const char *why = pb__ddir_open(&r, (size_t)(n / 2), &d);
  if (why) return PB__CORRUPT("dict leaf read in place: directory: %s", why);
  /* All of the directory's lines at once (and key 0's), rather than one
   * after another as the search meets them: the caller asked for them
   * (prefetch_head), unless the directory is longer than that asks for. */
  if (!head_covers_directory(kid->count))
    prefetch_lines(d.win, (size_t)(d.base - d.win) +
                              (d.span < 64 ? d.span : 64));
  assert(d.m > 0); /* kid->count >= 1 */
  pb_str k0 = {NULL, 0};
  if (d.c > 0) { /* the common prefix: key 0's first c bytes */
    pb_reader v;
    if (!entry_at(&d, 0, false, &k0, &v) || k0.len < d.c)
      return PB__CORRUPT("dict leaf read in place: key 0 is not a valid "
                         "key of the directory's common prefix");
    size_t l = key.len < d.c ? key.len : d.c;
    int c = memcmp(key.ptr, k0.ptr, l);
    if (c != 0 || key.len < d.c) return PB_ENOTFOUND; /* outside the leaf */
  }
  uint64_t kw = pb__dict_window(key, d.c);
  bool bad;
  size_t i = window_search(&d, kw, &bad);
  if (bad)
    return PB__CORRUPT("dict leaf read in place: directory: windows "
                       "descending");
  for (; i < d.m && pb__ddir_win(&d, i) == kw; i++) {
    /* A candidate: believed once its bytes agree with the directory. */
    pb_str k;
    pb_reader v;
    if (!entry_at(&d, i, true, &k, &v))
      return PB__CORRUPT("dict leaf read in place: key %zu is not a valid "
                         "key inside its entry", i);
    int c = pb__dict_key_cmp(k, key);
    /* A key equal to the one asked agrees with the directory (the key
     * has key 0's common prefix and the window kw, both checked above)
     * and lies inside the bounds (the descent chose this leaf by the
     * key): nothing more to read.  Any other key is checked against
     * both before it decides anything (reading the parent's separators
     * only then, off the path of a get that finds its key). */
    if (c != 0 && (k.len < d.c || (d.c && memcmp(k.ptr, k0.ptr, d.c) != 0) ||
                   pb__dict_window(k, d.c) != kw))
      return PB__CORRUPT("dict leaf read in place: key %zu does not match "
                         "the directory", i);
    if (c != 0 && ((b->has_lo && pb__dict_key_cmp(k, b->lo) < 0) ||
                   (b->has_hi && pb__dict_key_cmp(k, b->hi) >= 0)))
      return PB__CORRUPT("dict leaf read in place: key %zu outside its "
                         "bounds", i);
    if (c > 0) return PB_ENOTFOUND;
    if (c < 0) continue; /* a tie of windows: the next */
    if (pb__value_decode(&v, out) != PB_OK)
      return PB__CORRUPT("dict leaf read in place: value %zu: %s", i,
                         pb_errdetail());
    if (v.pos != v.end)
      return PB__CORRUPT("dict leaf read in place: value %zu does not end "
                         "where the next entry starts", i);
    return PB_OK;
  }
  return PB_ENOTFOUND;
}

/* Looks `key` up in the leaf atom `atom`, child `kid` of a level-1 parent
 * whose bounds for it are `b`: an indexed leaf by its directory, an old
 * one in order. */
static int read_leaf(pb_bytes atom, const pb__dkid *kid,
                     const pb__dbounds *b, pb_str key, pb_value *out) {
  uint32_t type;
  pb_bytes body;
  int rc = pb__atom_parse(atom, &type, &body);
  if (rc != PB_OK) return rc;
  pb_reader r;
  pb_reader_init(&r, body.ptr, body.len);
  if (type == PB__TYPE_DICT_LEAF_IDX) return search_leaf(r, kid, b, key, out);
  if (type == PB__TYPE_DICT_LEAF) {
    pb__dict_inplace_plain++;
    return parse_leaf(r, kid, b, key, out);
  }
  return PB__CORRUPT("dict leaf read in place: type %" PRIu32
                     " under a branch of level 1",
                     type);
}

/* Records a miss of `ptr` in the doorkeeper `t` (cache/atomcache.h):
 * true on its THIRD miss within the window (admit it), false on its first
 * two.  The slot's tag carries the count in its two low bits (01: missed
 * once, 11: twice), the rest is the pointer's hash, as the doorkeeper's
 * own tags (whose low bit is 1 too, so an empty slot, 0, is never a tag).
 *
 * Why the third and not the second: an in-place get of an indexed leaf
 * costs about what a get of the cached leaf does, while an admission
 * (read, decode, build a block, evict, retire) costs several times that.
 * Under uniform random gets over a Dictionary larger than the cache,
 * admitting on a second miss admitted a leaf on about 6% of gets, to
 * evict another as likely to be read next; on a third, about 0.5%: gets
 * were faster (see docs/cache.md).  A hot set is still missed many times
 * within a window, and is cached after its third miss. */
static bool seen_thrice(pb__obj_seen *t, pb_atom_ptr ptr) {
  uint64_t h = pb__obj_ptr_hash(ptr);
  uint64_t once = (h & ~(uint64_t)3) | 1u, twice = once | 2u;
  _Atomic uint64_t *slot = &t->tag[(h >> 40) & t->mask];
  uint64_t was = atomic_load_explicit(slot, memory_order_relaxed);
  if (was == twice) return true;
  atomic_store_explicit(slot, was == once ? twice : once,
                        memory_order_relaxed);
  return false;
}

/* Whether the leaf `ptr` is read in place rather than loaded (see the top
 * of the file): not the reader's own batch, and the doorkeeper, when
 * there is an object cache to admit to, has not seen it twice recently. */
bool pb__dict_read_in_place(const pb__src *src, pb_atom_ptr ptr) {
  const pb__src_caches *c = src->caches;
  if (ptr.batch_hi == c->own_hi && ptr.batch_lo == c->own_lo)
    return false; /* may change under the pointer: a stable copy instead */
  if (!c->seen || !pb__obj_cacheable(src, ptr)) return true;
  if (!seen_thrice(c->seen, ptr)) return true;
  pb__dict_inplace_admits++;
  return false;
}

int pb__dict_get_inplace(pb__dict *d, pb_str key, pb_value *out) {
  static const pb__dbounds open = {{NULL, 0}, {NULL, 0}, false, false};
  assert(pb__dict_inplace_on(d) && d->root.node && d->root.node->level > 0);
  /* To the leaf's parent, as any get descends (bounds only where it
   * loads: a descent through links needs none). */
  pb__dpath p;
  int rc = pb__dict_descend_to(d, key, false, 1, &p);
  if (rc != PB_OK) return rc;
  size_t l = p.depth - 1;
  pb__dnode *node = p.node[l];
  size_t i = p.idx[l];
  /* A linked leaf with hash slots: its key's slot asked for now, with
   * the lines of the leaf that the link asks for, and read instead of
   * searching the leaf (dict_int.h: pb__dslots). */
  pb__dslots slots;
  bool slotted = pb__dict_slots(d, node, i, key, &slots);
  pb__dnode *leaf = pb__dict_near_kid(d, node, i);
  if (slotted && leaf) {
    if (pb__dict_inplace_streak) pb__dict_inplace_streak /= 2; /* cached */
    return pb__dict_slot_get(&slots, key, out);
  }
  const uint8_t *hint = NULL;
  if (!leaf && pb__dict_inplace_streak >= PB__DICT_STREAK_HINTS) {
    /* The leaf's first lines, where they were last found, on their way
     * while the child's slot is read and the atom located (only while
     * this thread's gets read their leaves in place: a hint of a leaf
     * found in the cache would ask for lines nobody reads). */
    hint = pb__dict_leaf_hint(node, i);
    if (hint) prefetch_lines(hint, HINT_AHEAD);
  }
  const pb__dkid *kid = &node->kids[i];
  if (!leaf && pb__dict_read_in_place(&d->src, kid->ptr)) {
    assert(!pb_atom_ptr_is_null(kid->ptr));
    /* The leaf's bounds: its parent's separators, within the parent's
     * own bounds when the descent knows them (no link followed). */
    pb__dbounds kb;
    pb__dict_kid_bounds(node, p.nbounds > l ? &p.bounds[l] : &open, i, &kb);
    pb_bytes atom;
    rc = d->src.read(d->src.arg, kid->ptr, &atom);
    if (rc == PB_ENOTFOUND)
      rc = PB__CORRUPT("the dict leaf is missing"); /* its parent names it */
    if (rc == PB_OK) {
      pb__dict_leaf_hint_set(node, i, atom.ptr);
      prefetch_head(atom, kid->count);
      rc = read_leaf(atom, kid, &kb, key, out);
    }
    pb__dict_inplace_reads++;
    if (pb__dict_inplace_streak < 16) pb__dict_inplace_streak++;
    return rc == PB_ENOTFOUND ? rc
                              : pb__errdetail_atom(rc, kid->ptr, "dict leaf");
  }
  if (!leaf) {
    if (hint) pb__dict_leaf_hint_set(node, i, NULL); /* cached from now on */
    pb__dict_path_bounds(&p, l);
    if ((rc = pb__dict_kid(d, node, &p.bounds[l], i, &leaf)) != PB_OK)
      return rc;
  }
  if (pb__dict_inplace_streak) pb__dict_inplace_streak /= 2; /* cached */
  bool found;
  size_t at = pb__dict_leaf_search(leaf, key, &found);
  if (!found) return PB_ENOTFOUND;
  *out = leaf->ents[at].val;
  return PB_OK;
}

void pb__dict_prefetch(pb__dict *d, pb_str key) {
  if (pb__dict_load_root(d) != PB_OK || !d->root.node ||
      d->root.node->level == 0 || !pb__dict_inplace_on(d))
    return;
  pb__dpath p;
  if (pb__dict_descend_to(d, key, false, 1, &p) != PB_OK) return;
  size_t l = p.depth - 1;
  pb__dnode *node = p.node[l];
  size_t i = p.idx[l];
  const pb__dkid *kid = &node->kids[i];
  if (pb__dict_near_kid(d, node, i)) return; /* in memory (a link
                                                  prefetched its lines) */
  pb_bytes atom;
  if (pb_atom_ptr_is_null(kid->ptr) ||
      d->src.read(d->src.arg, kid->ptr, &atom) != PB_OK)
    return;
  prefetch_head(atom, kid->count);
}
