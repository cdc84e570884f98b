/*
 * collections/dict.c - the Dictionary (dict.h): a copy-on-write B+tree of
 * atoms.  This file has the handle, lookups, bulk load and flush; the
 * tree's in-memory form is described in dict_int.h, one node's decoding in
 * dict_node.c, put and remove in dict_edit.c, iteration in dict_iter.c.
 *
 * Node layouts (values in the coll.h grammar: varint n, then n values):
 *
 *   leaf   (PB__TYPE_DICT_LEAF = 2), n = 2m for m entries:
 *     STRING key_0, value_0, STRING key_1, value_1, ... key_{m-1}, value_{m-1}
 *   keys strictly ascending (bytewise, shorter first on a common prefix),
 *   each valid UTF-8 of at most PB__DICT_KEY_MAX bytes; values of any kind.
 *
 *   indexed leaf (PB__TYPE_DICT_LEAF_IDX = 8), n = 2m + 1 for m entries:
 *     BYTES directory, then the 2m values of a leaf, as above
 *   directory = varint c | u8 w | m windows of 8 bytes | m offsets of w
 *   bytes (little-endian), exactly that long: c is the length of the
 *   prefix all the keys share (0 when m <= 1), window i is bytes [c, c+8)
 *   of key i zero-padded (big-endian, so windows order as their keys do,
 *   ties allowed), offset i is where STRING key_i starts counted from the
 *   first byte after the directory (offset 0: key 0), w is 2, or 4 when
 *   key m-1 starts 64 KiB or more after key 0.  It lets a get search the
 *   leaf where it is stored (dict_inplace.c) by a binary search of the
 *   windows and one jump, instead of reading every entry before its key.
 *   Every leaf below the root is written so (pb__dnode_write, which flush,
 *   bulk load and merge all go through); a root leaf is written plain,
 *   as a get never reads it in place.  Plain leaves below a branch (stores
 *   written before the indexed leaf) are read as ever; a tree mixes both.
 *
 *   branch (PB__TYPE_DICT_BRANCH = 3), n = 3m for m >= 1 children:
 *     UINT level, UINT count_0, REF child_0,
 *     STRING key_1, UINT count_1, REF child_1, ...,
 *     STRING key_{m-1}, UINT count_{m-1}, REF child_{m-1}
 *   level: the branch's height above the leaves (1 when its children are
 *   leaves; each child is a branch of level - 1), 1 <= level <
 *   PB__COLL_MAX_DEPTH.  count_i >= 1: the entries in child i's subtree.
 *   key_i (the separator): every key under child i is >= key_i and every
 *   key under child i-1 is < key_i; separators strictly ascending.  REFs
 *   are never null.
 *
 * Child 0 has no separator; the level takes its place, so every child is
 * three values.  The level makes the depth limit hold by construction:
 * a child must carry its parent's level minus one, so a REF back to the
 * node itself or to an ancestor is PB_ECORRUPT at once.  An empty
 * dictionary is the null pointer, never an empty leaf (a root leaf with
 * no entries decodes, as an empty dictionary).
 *
 * The fanout (coll.h) is only read when nodes split and merge; any node
 * size that fits PB__NODE_MAX_VALUES decodes.
 */
#include "collections/dict.h"

#include <assert.h>
#include <stdlib.h>
#include <string.h>

#include "atom/arena.h"
#include "atom/value.h"
#include "collections/dict_int.h"

static const pb_atom_ptr null_ptr = {0, 0, 0};

/* Bytes of arena block a reused handle keeps (pb__dict_reuse). */
#define REUSE_ARENA_KEEP 4096u

/* A handle over `root` with arena `arena` and nothing loaded. */
static void dict_init(pb__dict *d, pb_arena *arena, const pb__src *src,
                      pb_atom_ptr root) {
  /* Field by field: kmap_small is cleared when first used (kmap_add),
   * so a reused handle's begin writes a few words, not the whole struct. */
  d->src = *src;
  d->root = (pb__dkid){.ptr = root};
  d->base = root;
  d->dirty = false;
  d->arena = arena;
  d->kmap = NULL;
  d->kmap_cap = d->kmap_used = 0;
  d->n_gone = 0; /* the array is kept by a reused handle */
}

/* Frees what the handle holds besides its arena and itself. */
static void dict_release(pb__dict *d) {
  pb__dnode_free(d->root.node);
  pb__dict_kmap_free(d);
}

int pb__dict_open(const pb__src *src, pb_atom_ptr root, pb__dict **out) {
  if (!src || !out) return PB_EINVAL;
  pb__dict *d = malloc(sizeof *d);
  if (!d) return PB_ENOMEM;
  pb_arena *arena;
  if (pb_arena_create(&arena) != PB_OK) {
    free(d);
    return PB_ENOMEM;
  }
  d->gone = NULL;
  d->cap_gone = 0;
  dict_init(d, arena, src, root);
  *out = d;
  return PB_OK;
}

void pb__dict_reuse(pb__dict *d, const pb__src *src, pb_atom_ptr root) {
  assert(d);
  pb__src s = src ? *src : d->src;
  dict_release(d);
  pb__arena_reset_max(d->arena, REUSE_ARENA_KEEP);
  dict_init(d, d->arena, &s, root);
}

void pb__dict_free(pb__dict *d) {
  if (!d) return;
  dict_release(d);
  pb_arena_destroy(d->arena);
  free(d->gone);
  free(d);
}

size_t pb__dict_gone(const pb__dict *d, const pb_atom_ptr **out) {
  *out = d->gone;
  return d->n_gone;
}

int pb__dict_get(pb__dict *d, pb_str key, pb_value *out) {
  if (!d || !out) return PB_EINVAL;
  int rc = pb__dict_load_root(d);
  if (rc != PB_OK) return rc;
  if (!d->root.node) return PB_ENOTFOUND;
  if (d->root.node->level > 0 && pb__dict_inplace_on(d))
    return pb__dict_get_inplace(d, key, out); /* leaves read in place */
  pb__dpath p;
  if ((rc = pb__dict_descend(d, key, false, &p)) != PB_OK) return rc;
  if (!p.found) return PB_ENOTFOUND;
  *out = p.node[p.depth - 1]->ents[p.idx[p.depth - 1]].val;
  return PB_OK;
}

int pb__dict_count(pb__dict *d, uint64_t *out) {
  if (!d || !out) return PB_EINVAL;
  int rc = pb__dict_load_root(d);
  if (rc != PB_OK) return rc;
  *out = d->root.node ? d->root.count : 0;
  return PB_OK;
}

int pb__dict_height(pb__dict *d, unsigned *out) {
  if (!d || !out) return PB_EINVAL;
  int rc = pb__dict_load_root(d);
  if (rc != PB_OK) return rc;
  *out = d->root.node ? d->root.node->level + 1 : 0;
  return PB_OK;
}

bool pb__dict_dirty(const pb__dict *d) { return d->dirty; }

pb_atom_ptr pb__dict_base(const pb__dict *d) { return d->base; }

/* --- bulk load --- */

/* Checks every entry before anything is built. */
static int bulk_check(const pb_str *keys, const pb_value *vals, size_t n) {
  for (size_t i = 0; i < n; i++) {
    int rc = pb__dict_check_key(keys[i]);
    if (rc != PB_OK) return rc;
    if (!pb__value_valid(&vals[i])) return PB_EINVAL;
    if (i > 0 && pb__dict_key_cmp(keys[i - 1], keys[i]) >= 0)
      return PB_EINVAL;
  }
  return PB_OK;
}

/* Cuts n items into full nodes, left to right; when the last would hold
 * fewer than the minimum, the last two share their items evenly.  Gives
 * the size of chunk i of *chunks. */
static size_t chunk_size(size_t n, size_t i, size_t *chunks) {
  size_t f = pb__dict_fanout(), k = (n + f - 1) / f;
  size_t last = n - (k - 1) * f;
  *chunks = k;
  if (i + 2 < k || k == 1) return i + 1 < k ? f : last;
  if (last >= pb__dict_min_fill()) return i + 1 < k ? f : last;
  return i + 2 == k ? (f + last + 1) / 2 : (f + last) / 2;
}

static void free_slots(pb__dkid *slots, size_t from, size_t to) {
  for (size_t i = from; i < to; i++) pb__dnode_free(slots[i].node);
}

/* Builds the leaves into out[0..*nout) from keys[i], vals[i], copied into
 * the arena. */
static int bulk_leaves(pb__dict *d, const pb_str *keys, const pb_value *vals,
                       size_t n, pb__dkid *out, size_t *nout) {
  size_t chunks = 1, at = 0;
  for (size_t c = 0; c < chunks; c++) {
    size_t size = chunk_size(n, c, &chunks);
    pb__dnode *leaf = pb__dnode_new(0, size);
    int rc = leaf ? PB_OK : PB_ENOMEM;
    for (size_t i = 0; rc == PB_OK && i < size; i++)
      rc = pb__dict_copy_entry(d, keys[at + i], &vals[at + i],
                               &leaf->ents[i]);
    if (rc != PB_OK) {
      pb__dnode_free(leaf);
      free_slots(out, 0, c);
      return rc;
    }
    leaf->n = size;
    out[c] = (pb__dkid){leaf->ents[0].key, size, null_ptr, leaf};
    at += size;
  }
  *nout = chunks;
  return PB_OK;
}

/* Builds one level of branches over in[0..m) into out[0..*nout).  On
 * failure every node under in and out is freed. */
static int bulk_branches(pb__dkid *in, size_t m, unsigned level,
                         pb__dkid *out, size_t *nout) {
  size_t chunks = 1, at = 0;
  for (size_t c = 0; c < chunks; c++) {
    size_t size = chunk_size(m, c, &chunks);
    pb__dnode *b = pb__dnode_new(level, size);
    if (!b) {
      free_slots(out, 0, c);
      free_slots(in, at, m);
      return PB_ENOMEM;
    }
    memcpy(b->kids, &in[at], size * sizeof *in);
    b->n = size;
    out[c] = (pb__dkid){b->kids[0].key, pb__dict_node_total(b), null_ptr, b};
    b->kids[0].key = (pb_str){NULL, 0};
    at += size;
  }
  *nout = chunks;
  return PB_OK;
}

/* True when the dictionary holds no entry (loading the root). */
static int is_empty(pb__dict *d, bool *empty) {
  int rc = pb__dict_load_root(d);
  if (rc != PB_OK) return rc;
  *empty = !d->root.node || d->root.count == 0;
  return PB_OK;
}

/* Builds the tree over n >= 1 checked entries in ascending order (see
 * bulk_leaves) and makes it the (empty) dictionary's. */
static int bulk_build(pb__dict *d, const pb_str *keys, const pb_value *vals,
                      size_t n) {
  assert(n > 0);
  int rc = PB_OK;
  size_t f = pb__dict_fanout(), nleaves = (n + f - 1) / f, m;
  pb__dkid *a = malloc(nleaves * sizeof *a), *b = malloc(nleaves * sizeof *b);
  if (!a || !b) rc = PB_ENOMEM;
  if (rc == PB_OK) rc = bulk_leaves(d, keys, vals, n, a, &m);
  for (unsigned level = 1; rc == PB_OK && m > 1; level++) {
    rc = bulk_branches(a, m, level, b, &m);
    pb__dkid *t = a;
    a = b;
    b = t;
  }
  if (rc == PB_OK) {
    pb__dnode_free(d->root.node); /* an empty root leaf, if any */
    d->root = (pb__dkid){{NULL, 0}, n, null_ptr, a[0].node};
    d->dirty = true;
  }
  free(a);
  free(b);
  return rc;
}

int pb__dict_bulk_load(pb__dict *d, const pb_str *keys, const pb_value *vals,
                       size_t n) {
  if (!d || (n > 0 && (!keys || !vals))) return PB_EINVAL;
  bool empty;
  int rc = is_empty(d, &empty);
  if (rc != PB_OK) return rc;
  if (!empty) return PB_EINVAL;
  if ((rc = bulk_check(keys, vals, n)) != PB_OK) return rc;
  if (n == 0) return PB_OK;
  return bulk_build(d, keys, vals, n);
}

/* What writing nodes needs (bulk write and flush). */
typedef struct flush_ctx {
  const pb__sink *sink; /* where atoms go */
  pb_buf buf;           /* encoding buffer */
  pb_value *vals;       /* value scratch */
  size_t cap;           /* its room */
} flush_ctx;

/* --- bulk write: the tree of an empty dictionary, written as built --- */

/* Writes one level of nodes over in[0..m) (leaves when `level` is 0: then
 * in is unused and the entries come from `at`), reusing `node` as the
 * node being encoded; out[c] gets each written node's slot (its first key
 * as the key).  *nout: how many. */
static int write_level(pb__dnode *node, unsigned level, const pb__dkid *in,
                       size_t m, pb__dict_at_fn at, const void *ctx,
                       flush_ctx *c, pb__dkid *out, size_t *nout) {
  size_t chunks = 1, pos = 0;
  for (size_t k = 0; k < chunks; k++) {
    size_t size = chunk_size(m, k, &chunks);
    assert(size <= node->cap);
    node->level = level;
    node->n = size;
    pb_str first;
    if (level == 0) {
      for (size_t i = 0; i < size; i++)
        at(ctx, pos + i, &node->ents[i].key, &node->ents[i].val);
      first = node->ents[0].key;
    } else {
      memcpy(node->kids, &in[pos], size * sizeof *in);
      first = node->kids[0].key;
      node->kids[0].key = (pb_str){NULL, 0};
    }
    pb_atom_ptr ptr;
    int rc = pb__dnode_write(node, chunks == 1, c->sink, &c->buf, &c->vals,
                             &c->cap, &ptr);
    if (rc != PB_OK) return rc;
    out[k] = (pb__dkid){first, pb__dict_node_total(node), ptr, NULL};
    pos += size;
  }
  *nout = chunks;
  return PB_OK;
}

int pb__dict_bulk_write(pb__dict *d, const pb__sink *sink, pb__dict_at_fn at,
                        const void *ctx, size_t n, pb_atom_ptr *root) {
  if (!d || !sink || !at || n == 0) return PB_EINVAL;
  bool empty;
  int rc = is_empty(d, &empty);
  if (rc != PB_OK) return rc;
  if (!empty) return PB_EINVAL;
  size_t f = pb__dict_fanout(), nleaves = (n + f - 1) / f, m = n;
  pb__dkid *a = malloc(nleaves * sizeof *a), *b = malloc(nleaves * sizeof *b);
  pb__dnode *leaf = pb__dnode_new(0, f), *branch = pb__dnode_new(1, f);
  flush_ctx c = {sink, {0}, NULL, 0};
  pb_buf_init(&c.buf);
  rc = a && b && leaf && branch ? PB_OK : PB_ENOMEM;
  if (rc == PB_OK) rc = write_level(leaf, 0, NULL, n, at, ctx, &c, a, &m);
  unsigned level = 1;
  for (; rc == PB_OK && m > 1; level++) {
    if (level >= PB__COLL_MAX_DEPTH) {
      rc = PB_ETOOBIG; /* cannot happen with a fanout of 4 or more */
      break;
    }
    rc = write_level(branch, level, a, m, NULL, NULL, &c, b, &m);
    pb__dkid *t = a;
    a = b;
    b = t;
  }
  if (rc == PB_OK) {
    pb__dnode_free(d->root.node); /* an empty root leaf, if any */
    d->root = (pb__dkid){{NULL, 0}, n, a[0].ptr, NULL};
    d->dirty = true;
    if (root) *root = a[0].ptr;
  }
  branch->n = 0; /* its slots were views, not children */
  pb__dnode_free(leaf);
  pb__dnode_free(branch);
  pb_buf_free(&c.buf);
  free(c.vals);
  free(a);
  free(b);
  return rc;
}

/* --- flush --- */

/* Writes the dirty nodes under and including `node` (the `root`, or
 * under it), children first, leaving each one's new atom in its `wrote`;
 * no slot changes yet.  The recursion is bounded by the node's level
 * (< PB__COLL_MAX_DEPTH). */
static int write_dirty(flush_ctx *c, pb__dnode *node, bool root) {
  assert(node->level < PB__COLL_MAX_DEPTH);
  for (size_t i = 0; node->level > 0 && i < node->n; i++) {
    pb__dkid *k = &node->kids[i];
    if (!pb_atom_ptr_is_null(k->ptr)) continue; /* clean: shared as is */
    int rc = write_dirty(c, k->node, false);
    if (rc != PB_OK) return rc;
  }
  return pb__dnode_write(node, root, c->sink, &c->buf, &c->vals, &c->cap,
                         &node->wrote);
}

/* Gives every dirty slot under `node` the atom written for it. */
static void adopt_written(pb__dnode *node) {
  assert(node->level < PB__COLL_MAX_DEPTH);
  for (size_t i = 0; node->level > 0 && i < node->n; i++) {
    pb__dkid *k = &node->kids[i];
    if (!pb_atom_ptr_is_null(k->ptr)) continue;
    adopt_written(k->node);
    k->ptr = k->node->wrote;
  }
}

int pb__dict_flush(pb__dict *d, const pb__sink *sink, pb_atom_ptr *root) {
  if (!d || !sink || !root) return PB_EINVAL;
  if (d->root.node && pb_atom_ptr_is_null(d->root.ptr)) {
    flush_ctx c = {sink, {0}, NULL, 0};
    pb_buf_init(&c.buf);
    int rc = write_dirty(&c, d->root.node, true);
    pb_buf_free(&c.buf);
    free(c.vals);
    if (rc != PB_OK) return rc;
    adopt_written(d->root.node);
    d->root.ptr = d->root.node->wrote;
  }
  *root = d->root.ptr;
  d->base = d->root.ptr;
  d->dirty = false;
  return PB_OK;
}
