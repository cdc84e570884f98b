/*
 * collections/hash.c - the CHAMP hash trie behind HashDictionary and Set
 * (hash.h): the node layouts, lookup, put and remove.  hash_node.c loads
 * and validates nodes (through the object cache); set.c has the walks
 * over the trie (flush, count, iterators) and the Set calls.
 *
 * Shape.  A key's 64-bit hash (pb__hash_fn over its value encoding) is cut
 * into 5-bit fragments, lowest bits first: level L (0..11) uses bits
 * 5L..5L+4, level 12 the last 4 bits (so its nodes have 16 slots).  Each
 * slot of a node is empty, holds one entry inline, or holds a child node
 * one level down for the keys that share the fragments so far.  Keys whose
 * whole hashes are equal meet past level 12, in a collision node at level
 * 13 (a flat list); nothing is deeper, so a trie has at most 14 levels of
 * nodes (PB__COLL_MAX_DEPTH is 32).
 *
 * Canonical form.  A node exists at level L > 0 exactly when at least two
 * keys share its L fragments, and every key sits in the shallowest node
 * where its next fragment is its own.  Put pushes an entry down (a chain
 * of single-child nodes when two keys share more fragments) when another
 * key takes its slot; remove pulls a node left with a single entry and no
 * children up into its parent, repeatedly.  An empty trie is the null
 * root; a root may hold a single entry.  Collision lists are sorted by
 * key encoding.  So equal contents give byte-identical nodes, whatever the
 * order of the puts and removes.
 *
 * Node atoms (coll.h grammar: envelope, varint n, n values):
 *
 *   PB__TYPE_HASH_NODE (6), levels 0..12:
 *     UINT datamap, UINT nodemap,          (32-bit slot maps, disjoint;
 *                                           16 bits at level 12)
 *     k1, v1, ..., kd, vd,                 d = popcount(datamap), one
 *                                           entry per datamap bit, in bit
 *                                           order
 *     REF child1, ..., REF childc          c = popcount(nodemap), in bit
 *                                           order
 *   PB__TYPE_HASH_COLLISION (7), level 13 only:
 *     UINT hash, k1, v1, ..., kn, vn       n >= 2 keys, all of that hash,
 *                                           strictly ascending by encoding
 *                                           (bytewise, shorter first)
 *
 * A Set stores NULL values.  Loading checks everything, so hostile bytes
 * give PB_ECORRUPT and never a crash: the type for the level; both maps
 * fit 32 bits (16 at level 12), are disjoint and not both empty, and
 * agree with n; a node below the root has two keys at least (not one
 * entry alone); each key's hash agrees with the fragments of its path and
 * its slot (collision: equals the node's hash, which the path fixes
 * whole); collision keys ascend; children are non-null REFs.  Keys are
 * hashed when a node is decoded, which is the price of that check; the
 * object cache keeps decoded nodes with their hashes, so a node shared by
 * many handles is hashed once, while the checks of its place run on every
 * load (hash_node.c).  The level only grows, and no node is loaded past
 * level 13, so a cycle of atoms ends in PB_ECORRUPT too.
 *
 * Errors: an atom that a node (or the root pointer) names but the source
 * does not have is PB_ECORRUPT, not the source's PB_ENOTFOUND, which
 * these calls keep for "no such key" and "no more entries": a damaged
 * trie must not look like a missing key.
 *
 * Memory: loaded keys and values are views into the source's atoms (or
 * into the atom copy of a cached node, which the source holds as long as
 * its atoms); the keys and values given to put are copied into the
 * handle's arena, which lives as long as the handle (so every view handed
 * out stays valid until pb__hash_free, as coll.h promises, at the price of
 * keeping replaced values until then).  Nodes are malloc'd and mutated in
 * place: they belong to this handle only (a load clones what the cache
 * shares).  Recursion (make_pair, flush, free) is bounded by the 14
 * levels.
 */
#include "collections/hash_int.h"

#include <assert.h>
#include <stdlib.h>
#include <string.h>

#include <xxhash.h>

#include "atom/atom.h"
#include "atom/refs.h"
#include "atom/value.h"

_Static_assert(PB__HASH_COLL_LEVEL + 1 <= PB__COLL_MAX_DEPTH,
               "a hash trie must fit the collection depth limit");

/* The most entries a collision node may hold: 1 + 2n values must decode. */
#define COLL_MAX_ENTRIES ((PB__NODE_MAX_VALUES - 1u) / 2u)

uint64_t pb__hash_xxh3(const void *bytes, size_t len) {
  return XXH3_64bits(bytes, len);
}

pb__hash_fn_t pb__hash_fn = pb__hash_xxh3;

/* --- Keys: hashing, ordering, copying --- */

int pb__hash_key_hash(pb_buf *scratch, pb__hash_fn_t fn, const pb_value *key,
                      uint64_t *out) {
  pb_buf_reset(scratch);
  pb__value_encode(scratch, key);
  int rc = pb_buf_error(scratch);
  if (rc != PB_OK) return rc;
  *out = fn(scratch->data, scratch->len);
  return PB_OK;
}

int pb__hash_key_cmp(pb_buf *scratch, const pb_value *a, const pb_value *b,
                     int *cmp) {
  pb_buf_reset(scratch);
  pb__value_encode(scratch, a);
  size_t la = scratch->len;
  pb__value_encode(scratch, b);
  int rc = pb_buf_error(scratch);
  if (rc != PB_OK) return rc;
  size_t lb = scratch->len - la, n = la < lb ? la : lb;
  int c = n ? memcmp(scratch->data, scratch->data + la, n) : 0;
  *cmp = c ? c : (la > lb) - (la < lb);
  return PB_OK;
}

/* The hash of `key` under pb__hash_fn, in the handle's scratch. */
static int key_hash(pb__hash *h, const pb_value *key, uint64_t *out) {
  return pb__hash_key_hash(&h->scratch, pb__hash_fn, key, out);
}

static int key_cmp(pb__hash *h, const pb_value *a, const pb_value *b,
                   int *cmp) {
  return pb__hash_key_cmp(&h->scratch, a, b, cmp);
}

int pb__hash_own_value(pb__hash *h, const pb_value *in, pb_value *out) {
  *out = *in;
  const void *src = NULL;
  size_t len = 0;
  if (in->kind == PB_VALUE_STRING) src = in->as.s.ptr, len = in->as.s.len;
  else if (in->kind == PB_VALUE_BYTES)
    src = in->as.bytes.ptr, len = in->as.bytes.len;
  else if (in->kind == PB_VALUE_RECORD)
    src = in->as.rec.body.ptr, len = in->as.rec.body.len;
  if (len == 0) return PB_OK; /* no payload, or a view of length 0 */
  if (!h->arena && pb_arena_create(&h->arena) != PB_OK) return PB_ENOMEM;
  uint8_t *copy = pb_arena_alloc(h->arena, len);
  if (!copy) return PB_ENOMEM;
  memcpy(copy, src, len);
  if (in->kind == PB_VALUE_STRING) out->as.s.ptr = (const char *)copy;
  else if (in->kind == PB_VALUE_BYTES) out->as.bytes.ptr = copy;
  else out->as.rec.body.ptr = copy;
  return PB_OK;
}

/* --- Nodes in memory --- */

pb__hnode *pb__hnode_alloc(bool collision, uint32_t cap_ent,
                           uint32_t cap_kid) {
  pb__hnode *n = calloc(1, sizeof *n);
  if (!n) return NULL;
  n->collision = collision;
  n->ents = cap_ent ? malloc(cap_ent * sizeof *n->ents) : NULL;
  n->kids = cap_kid ? malloc(cap_kid * sizeof *n->kids) : NULL;
  if ((cap_ent && !n->ents) || (cap_kid && !n->kids)) {
    pb__hnode_free(n);
    return NULL;
  }
  n->cap_ent = cap_ent;
  n->cap_kid = cap_kid;
  return n;
}

void pb__hnode_free(pb__hnode *n) {
  if (!n || n->shared) return;
  for (uint32_t i = 0; i < n->nkid; i++) pb__hnode_free(n->kids[i].node);
  free(n->ents);
  free(n->kids);
  free(n);
}

/* Room for `need` entries (grows by doubling; nothing else changes). */
static int reserve_ents(pb__hnode *n, uint32_t need) {
  if (need <= n->cap_ent) return PB_OK;
  uint32_t cap = n->cap_ent ? n->cap_ent * 2 : 2;
  if (cap < need) cap = need;
  pb__hentry *e = realloc(n->ents, cap * sizeof *e);
  if (!e) return PB_ENOMEM;
  n->ents = e;
  n->cap_ent = cap;
  return PB_OK;
}

static int reserve_kids(pb__hnode *n, uint32_t need) {
  if (need <= n->cap_kid) return PB_OK;
  uint32_t cap = n->cap_kid ? n->cap_kid * 2 : 2;
  if (cap < need) cap = need;
  pb__hslot *k = realloc(n->kids, cap * sizeof *k);
  if (!k) return PB_ENOMEM;
  n->kids = k;
  n->cap_kid = cap;
  return PB_OK;
}

/* --- The handle --- */

int pb__hash_open(const pb__src *src, pb_atom_ptr root, pb__hash **out) {
  pb__hash *h = calloc(1, sizeof *h);
  if (!h) return PB_ENOMEM;
  h->src = *src;
  h->root.ptr = root;
  h->base = root;
  h->count_known = pb_atom_ptr_is_null(root);
  pb_buf_init(&h->scratch);
  pb_buf_init(&h->out);
  *out = h;
  return PB_OK;
}

void pb__hash_free(pb__hash *h) {
  if (!h) return;
  pb__hnode_free(h->root.node);
  pb__hash_kmap_free(h);
  pb_arena_destroy(h->arena);
  pb_buf_free(&h->scratch);
  pb_buf_free(&h->out);
  free(h->vals);
  free(h);
}

bool pb__hash_dirty(const pb__hash *h) {
  return !pb_atom_ptr_equal(h->root.ptr, h->base) ||
         (h->root.node && pb_atom_ptr_is_null(h->root.ptr));
}

pb_atom_ptr pb__hash_base(const pb__hash *h) { return h->base; }

static bool trie_empty(const pb__hash *h) {
  return !h->root.node && pb_atom_ptr_is_null(h->root.ptr);
}

/* --- Descending toward a hash --- */

/* The nodes from the root down to the node where a key of some hash is
 * or would be: node[i] is the node of level i, and (after a descent with
 * `write`) slot[i] the slot of a private parent (or the root slot) that
 * holds it. */
typedef struct hpath {
  pb__hnode *node[PB__HASH_COLL_LEVEL + 1];
  pb__hslot *slot[PB__HASH_COLL_LEVEL + 1];
  unsigned depth; /* nodes on the path; node[depth - 1] is the bottom */
} hpath;

/* Walks (loading) from the non-empty root along `hash`.  With `write`,
 * every node on the path is made private first (copy on write), so the
 * caller may edit them and mark their slots; without it nothing is
 * copied and the path is read only. */
static int descend(pb__hash *h, uint64_t hash, bool write, hpath *p) {
  int rc = pb__hash_ensure(h, &h->root, 0, 0);
  if (rc == PB_OK && write) rc = pb__hash_own_root(h);
  if (rc != PB_OK) return rc;
  pb__hslot *s = &h->root;
  pb__hnode *n = h->root.node;
  uint64_t prefix = 0;
  for (unsigned level = 0;; level++) {
    p->node[level] = n;
    p->slot[level] = s;
    p->depth = level + 1;
    if (n->collision) return PB_OK;
    assert(level < PB__HASH_COLL_LEVEL); /* level 13 is collision only */
    unsigned f = pb__hash_frag(hash, level);
    if (!(n->nodemap & (1u << f))) return PB_OK;
    uint32_t k = pb__hash_index(n->nodemap, 1u << f);
    prefix |= (uint64_t)f << (PB__HASH_BITS * level);
    pb__hnode *kid;
    rc = write ? pb__hash_own_kid(h, n, k, level + 1, prefix, &kid)
               : pb__hash_kid(h, n, k, level + 1, prefix, &kid);
    if (rc != PB_OK) return rc;
    s = &n->kids[k]; /* written only when write made n private */
    n = kid;
  }
}

/* The index of `key` in the bottom node `n` (at `level`), or -1. */
static long find_in(const pb__hnode *n, unsigned level, const pb_value *key,
                    uint64_t hash) {
  if (n->collision) {
    for (uint32_t i = 0; i < n->nent; i++)
      if (pb__value_equal(&n->ents[i].key, key)) return (long)i;
    return -1;
  }
  uint32_t bit = 1u << pb__hash_frag(hash, level);
  if (!(n->datamap & bit)) return -1;
  uint32_t i = pb__hash_index(n->datamap, bit);
  const pb__hentry *e = &n->ents[i];
  return e->hash == hash && pb__value_equal(&e->key, key) ? (long)i : -1;
}

/* Clears the pointers of path slots 0..upto-1: they are dirty now. */
static void mark_dirty(hpath *p, unsigned upto) {
  for (unsigned i = 0; i < upto; i++) p->slot[i]->ptr = (pb_atom_ptr){0};
}

int pb__hash_get(pb__hash *h, const pb_value *key, pb_value *out) {
  uint64_t hash;
  int rc = key_hash(h, key, &hash);
  if (rc != PB_OK) return rc;
  if (trie_empty(h)) return PB_ENOTFOUND;
  hpath p;
  rc = descend(h, hash, false, &p);
  if (rc != PB_OK) return rc;
  pb__hnode *n = p.node[p.depth - 1];
  long i = find_in(n, p.depth - 1, key, hash);
  if (i < 0) return PB_ENOTFOUND;
  if (out) *out = n->ents[i].val;
  return PB_OK;
}

/* --- Put --- */

/* A new subtree at `level` holding two entries of different keys. */
static int make_pair(pb__hash *h, const pb__hentry *a, const pb__hentry *b,
                     unsigned level, pb__hnode **out) {
  if (level == PB__HASH_COLL_LEVEL) { /* equal hashes */
    int cmp;
    int rc = key_cmp(h, &a->key, &b->key, &cmp);
    if (rc != PB_OK) return rc;
    pb__hnode *n = pb__hnode_alloc(true, 2, 0);
    if (!n) return PB_ENOMEM;
    n->chash = a->hash;
    n->ents[0] = cmp < 0 ? *a : *b;
    n->ents[1] = cmp < 0 ? *b : *a;
    n->nent = 2;
    *out = n;
    return PB_OK;
  }
  unsigned fa = pb__hash_frag(a->hash, level);
  unsigned fb = pb__hash_frag(b->hash, level);
  pb__hnode *child = NULL;
  if (fa == fb) {
    int rc = make_pair(h, a, b, level + 1, &child);
    if (rc != PB_OK) return rc;
  }
  pb__hnode *n = pb__hnode_alloc(false, child ? 0 : 2, child ? 1 : 0);
  if (!n) {
    pb__hnode_free(child);
    return PB_ENOMEM;
  }
  if (child) {
    n->nodemap = 1u << fa;
    n->kids[0] = (pb__hslot){{0}, child};
    n->nkid = 1;
  } else {
    n->datamap = (1u << fa) | (1u << fb);
    n->ents[0] = fa < fb ? *a : *b;
    n->ents[1] = fa < fb ? *b : *a;
    n->nent = 2;
  }
  *out = n;
  return PB_OK;
}

/* Puts `e` into the free slot `bit` of a CHAMP node. */
static int add_entry(pb__hnode *n, uint32_t bit, const pb__hentry *e) {
  int rc = reserve_ents(n, n->nent + 1);
  if (rc != PB_OK) return rc;
  uint32_t i = pb__hash_index(n->datamap, bit);
  memmove(&n->ents[i + 1], &n->ents[i], (n->nent - i) * sizeof *n->ents);
  n->ents[i] = *e;
  n->datamap |= bit;
  n->nent++;
  return PB_OK;
}

/* Slot `bit` of a CHAMP node at `level` holds another key: both go down
 * into a new child. */
static int push_down(pb__hash *h, pb__hnode *n, unsigned level, uint32_t bit,
                     const pb__hentry *e) {
  uint32_t i = pb__hash_index(n->datamap, bit);
  pb__hnode *child;
  int rc = make_pair(h, &n->ents[i], e, level + 1, &child);
  if (rc != PB_OK) return rc;
  if ((rc = reserve_kids(n, n->nkid + 1)) != PB_OK) {
    pb__hnode_free(child);
    return rc;
  }
  memmove(&n->ents[i], &n->ents[i + 1], (n->nent - i - 1) * sizeof *n->ents);
  n->datamap &= ~bit;
  n->nent--;
  uint32_t k = pb__hash_index(n->nodemap, bit);
  memmove(&n->kids[k + 1], &n->kids[k], (n->nkid - k) * sizeof *n->kids);
  n->kids[k] = (pb__hslot){{0}, child};
  n->nodemap |= bit;
  n->nkid++;
  return PB_OK;
}

/* Adds a new key to a collision node, keeping the encoding order. */
static int collision_add(pb__hash *h, pb__hnode *n, const pb__hentry *e) {
  if (n->nent >= COLL_MAX_ENTRIES) return PB_ETOOBIG;
  uint32_t i = 0;
  for (int cmp = 1; i < n->nent; i++) {
    int rc = key_cmp(h, &e->key, &n->ents[i].key, &cmp);
    if (rc != PB_OK) return rc;
    if (cmp < 0) break;
  }
  int rc = reserve_ents(n, n->nent + 1);
  if (rc != PB_OK) return rc;
  memmove(&n->ents[i + 1], &n->ents[i], (n->nent - i) * sizeof *n->ents);
  n->ents[i] = *e;
  n->nent++;
  return PB_OK;
}

/* A new key: copied, then placed in the bottom node `n` at `level`. */
static int add_new(pb__hash *h, pb__hnode *n, unsigned level,
                   const pb_value *key, const pb_value *val, uint64_t hash) {
  pb__hentry e = {.hash = hash};
  int rc = pb__hash_own_value(h, key, &e.key);
  if (rc == PB_OK) rc = pb__hash_own_value(h, val, &e.val);
  if (rc != PB_OK) return rc;
  if (n->collision) return collision_add(h, n, &e);
  uint32_t bit = 1u << pb__hash_frag(hash, level);
  if (n->datamap & bit) return push_down(h, n, level, bit, &e);
  return add_entry(n, bit, &e);
}

/* The first key of an empty trie: a root with one entry. */
static int new_root(pb__hash *h, const pb_value *key, const pb_value *val,
                    uint64_t hash) {
  pb__hnode *n = pb__hnode_alloc(false, 1, 0);
  if (!n) return PB_ENOMEM;
  int rc = add_new(h, n, 0, key, val, hash);
  if (rc != PB_OK) {
    pb__hnode_free(n);
    return rc;
  }
  h->root.node = n;
  return PB_OK;
}

int pb__hash_insert(pb__hash *h, const pb_value *key, const pb_value *val,
                    bool replace, pb__hash_put_result *res) {
  pb__hash_put_result r = PB__HASH_UNCHANGED;
  uint64_t hash;
  bool refs = false;
  int rc = pb__value_valid(val) ? pb__value_has_refs(key, &refs) : PB_EINVAL;
  if (rc == PB_ECORRUPT || refs) rc = PB_EINVAL; /* see hash.h */
  if (rc == PB_OK) rc = key_hash(h, key, &hash);
  hpath p = {.depth = 0};
  if (rc == PB_OK && trie_empty(h)) {
    rc = new_root(h, key, val, hash);
    r = PB__HASH_ADDED;
  } else if (rc == PB_OK && (rc = descend(h, hash, false, &p)) == PB_OK) {
    unsigned level = p.depth - 1;
    pb__hnode *n = p.node[level];
    long i = find_in(n, level, key, hash);
    bool change = i < 0 || (replace && !pb__value_equal(&n->ents[i].val, val));
    if (change) rc = descend(h, hash, true, &p); /* copy on write */
    if (rc == PB_OK && change) {
      n = p.node[level]; /* the same path, private now */
      if (i < 0) {
        rc = add_new(h, n, level, key, val, hash);
        r = PB__HASH_ADDED;
      } else {
        rc = pb__hash_own_value(h, val, &n->ents[i].val);
        r = PB__HASH_REPLACED;
      }
    }
  }
  if (rc != PB_OK) return rc;
  mark_dirty(&p, r == PB__HASH_UNCHANGED ? 0 : p.depth);
  if (r == PB__HASH_ADDED) h->count++; /* meaningful once count_known */
  if (res) *res = r;
  return PB_OK;
}

int pb__hash_put(pb__hash *h, const pb_value *key, const pb_value *v) {
  return pb__hash_insert(h, key, v, true, NULL);
}

/* --- Remove --- */

/* Whether the node at path index (and level) `i` goes away, its one key
 * left moving up into its parent, after it lost an entry
 * (`entry_removed`) or after its only child turned into an entry. */
static bool collapses(const pb__hnode *n, unsigned i, bool entry_removed) {
  if (i == 0) return false; /* the root may hold a single entry */
  if (entry_removed) return n->nent == 2 && n->nkid == 0;
  return n->nent == 0 && n->nkid == 1;
}

/* Removes entry `i` from the bottom node, which stays (it keeps two keys
 * at least, or it is the root; an empty root leaves the trie empty). */
static void remove_here(pb__hash *h, hpath *p, uint32_t i, uint64_t hash) {
  unsigned b = p->depth - 1;
  pb__hnode *n = p->node[b];
  memmove(&n->ents[i], &n->ents[i + 1], (n->nent - i - 1) * sizeof *n->ents);
  n->nent--;
  if (!n->collision) n->datamap &= ~(1u << pb__hash_frag(hash, b));
  mark_dirty(p, p->depth);
  if (b == 0 && n->nent == 0 && n->nkid == 0) {
    pb__hnode_free(n);
    h->root = (pb__hslot){{0}, NULL};
  }
}

/* Removes entry `i` (of two) from the bottom node, which collapses: the
 * other key moves up to the nearest ancestor that does not collapse, in
 * place of the chain of nodes that led to it.  Errors: PB_ENOMEM, with
 * nothing changed. */
static int remove_pull_up(hpath *p, uint32_t i, uint64_t hash) {
  pb__hnode *n = p->node[p->depth - 1];
  pb__hentry keep = n->ents[1 - i];
  unsigned r = p->depth - 2;
  while (collapses(p->node[r], r, false)) r--;
  pb__hnode *up = p->node[r];
  int rc = reserve_ents(up, up->nent + 1);
  if (rc != PB_OK) return rc;
  uint32_t bit = 1u << pb__hash_frag(hash, r);
  uint32_t k = pb__hash_index(up->nodemap, bit);
  pb__hnode *gone = up->kids[k].node; /* the chain, n at its end */
  memmove(&up->kids[k], &up->kids[k + 1],
          (up->nkid - k - 1) * sizeof *up->kids);
  up->nodemap &= ~bit;
  up->nkid--;
  rc = add_entry(up, bit, &keep); /* room reserved: cannot fail */
  assert(rc == PB_OK);
  pb__hnode_free(gone);
  mark_dirty(p, r + 1);
  return PB_OK;
}

int pb__hash_remove(pb__hash *h, const pb_value *key) {
  uint64_t hash;
  int rc = key_hash(h, key, &hash);
  if (rc != PB_OK) return rc;
  if (trie_empty(h)) return PB_ENOTFOUND;
  hpath p;
  if ((rc = descend(h, hash, false, &p)) != PB_OK) return rc;
  unsigned b = p.depth - 1;
  long i = find_in(p.node[b], b, key, hash);
  if (i < 0) return PB_ENOTFOUND; /* read only: nothing copied */
  if ((rc = descend(h, hash, true, &p)) != PB_OK) return rc;
  assert(p.depth - 1 == b);
  if (collapses(p.node[b], b, true))
    rc = remove_pull_up(&p, (uint32_t)i, hash);
  else
    remove_here(h, &p, (uint32_t)i, hash);
  if (rc == PB_OK) h->count--; /* meaningful once count_known */
  return rc;
}
