/*
 * collections/hash_node.c - loading a node of the CHAMP trie (hash.c has
 * the layouts and the list of checks): decoding an atom, without context,
 * into the object the object cache shares (cache/atomcache.h); checking,
 * on every load, that the node fits the place it was found at; and giving
 * the handle a node of its own.
 *
 * What is decoded once, when the object is built, is everything that does
 * not depend on the parent: the shape (maps fit 32 bits, are disjoint and
 * not both empty, and agree with n; a collision node has two keys at
 * least; children are non-null REFs), the hash of every key (encoding it
 * and running pb__hash_fn: the costly part), and the ascending order of a
 * collision node's keys.  What depends on the place (fits(), run when a
 * handle first loads the node at a place, shared object or private): the node type for the level; the map
 * within 16 slots at level 12; a node below the root not reduced to one
 * entry; each entry's hash against its path's prefix and its own slot; a
 * collision node's hash equal to the whole prefix, and every key of it of
 * that hash.  So corrupt data is PB_ECORRUPT exactly as when each load
 * decoded the atom itself.
 *
 * The hash function.  pb__hash_fn is one global, not per handle: tests
 * replace it (tests/support/hashkeys.h, low entropy, to force deep tries
 * and collisions) before any trie is used, and hash.h says it must not
 * change while tries exist.  But the object cache belongs to a space and
 * may outlive one test's choice of function, and an object built under
 * one function holds hashes a trie read under another must not trust.  So
 * each object records the function its hashes came from, and a load under
 * another function recomputes the hashes of its private copy (the cost of
 * a load without the cache) before fits() checks them.  Objects are never
 * wrong for a handle, only slower, and nothing is keyed by the function.
 *
 * A shared object is never written to.  A handle reads its node in place
 * when its hashes came from pb__hash_fn (shared: hash_int.h), keeping the
 * children it loads under it in its kid map, and copies it only before
 * its first write to it (the entry and slot arrays; keys and values stay
 * views into the object's atom copy, which the source holds as long as
 * its atoms).  It takes the node itself of an object built for this load
 * alone, and a private copy, rehashed, of one hashed under another
 * function.
 */
#include <assert.h>
#include <stdlib.h>
#include <string.h>

#include "atom/atom.h"
#include "atom/value.h"
#include "collections/hash_int.h"
#include "util/errdetail.h"

/* A node decoded with no context: every child NOT LOADED. */
typedef struct hash_obj {
  pb__obj h;
  pb__hnode *node;  /* a CHAMP node of any level, or a collision node */
  pb__hash_fn_t fn; /* the function the entries' hashes come from */
} hash_obj;

/* Hashes the key of every entry under `fn`.  Errors: PB_ENOMEM; any
 * other failure (a key with no encoding) is PB_ECORRUPT. */
static int hash_keys(pb__hnode *n, pb_buf *scratch, pb__hash_fn_t fn) {
  for (uint32_t i = 0; i < n->nent; i++) {
    pb__hentry *e = &n->ents[i];
    int rc = pb__hash_key_hash(scratch, fn, &e->key, &e->hash);
    if (rc != PB_OK)
      return rc == PB_ENOMEM ? rc
                             : PB__CORRUPT("hash node: entry %" PRIu32
                                           " has a key with no encoding",
                                           i);
  }
  return PB_OK;
}

/* A CHAMP node: UINT datamap, UINT nodemap, d entries, c REFs. */
static int champ_decode(const pb__node_view *v, pb__hnode **out) {
  const pb_value *x = v->vals;
  if (v->n < 2 || x[0].kind != PB_VALUE_UINT || x[1].kind != PB_VALUE_UINT)
    return PB__CORRUPT("hash node: %zu values, or no UINT bitmaps", v->n);
  uint64_t dm = x[0].as.u, nm = x[1].as.u;
  if (((dm | nm) >> 32) || (dm & nm) || (dm | nm) == 0)
    return PB__CORRUPT("hash node: bad bitmaps %" PRIx64 " / %" PRIx64, dm, nm);
  uint32_t d = pb__hash_popcount((uint32_t)dm);
  uint32_t c = pb__hash_popcount((uint32_t)nm);
  if (2 + 2 * (uint64_t)d + c != v->n)
    return PB__CORRUPT("hash node: %zu values, the bitmaps say %" PRIu64, v->n,
                       2 + 2 * (uint64_t)d + c);
  for (uint32_t j = 0; j < c; j++) {
    const pb_value *r = &x[2 + 2 * d + j];
    if (r->kind != PB_VALUE_REF || pb_atom_ptr_is_null(r->as.ref))
      return PB__CORRUPT("hash node: child %" PRIu32 " is not a pointer", j);
  }
  pb__hnode *n = pb__hnode_alloc(false, d, c);
  if (!n) return PB_ENOMEM;
  n->datamap = (uint32_t)dm;
  n->nodemap = (uint32_t)nm;
  for (uint32_t i = 0; i < d; i++)
    n->ents[n->nent++] = (pb__hentry){x[2 + 2 * i], x[3 + 2 * i], 0};
  for (uint32_t j = 0; j < c; j++)
    n->kids[n->nkid++] = (pb__hslot){x[2 + 2 * d + j].as.ref, NULL};
  *out = n;
  return PB_OK;
}

/* A collision node: UINT hash, then n >= 2 keys and values, the keys
 * strictly ascending by encoding. */
static int collision_decode(const pb__node_view *v, pb_buf *scratch,
                            pb__hnode **out) {
  const pb_value *x = v->vals;
  if (v->n < 5 || v->n % 2 == 0 || x[0].kind != PB_VALUE_UINT)
    return PB__CORRUPT("hash collision node: %zu values, or no UINT hash",
                       v->n);
  uint32_t cnt = (uint32_t)((v->n - 1) / 2);
  for (uint32_t i = 1; i < cnt; i++) {
    int cmp;
    int rc = pb__hash_key_cmp(scratch, &x[2 * i - 1], &x[2 * i + 1], &cmp);
    if (rc != PB_OK)
      return rc == PB_ENOMEM ? rc
                             : PB__CORRUPT("hash collision node: key %" PRIu32
                                           " has no encoding",
                                           i);
    if (cmp >= 0)
      return PB__CORRUPT("hash collision node: key %" PRIu32 " not ascending",
                         i);
  }
  pb__hnode *n = pb__hnode_alloc(true, cnt, 0);
  if (!n) return PB_ENOMEM;
  n->chash = x[0].as.u;
  for (uint32_t i = 0; i < cnt; i++)
    n->ents[n->nent++] = (pb__hentry){x[1 + 2 * i], x[2 + 2 * i], 0};
  *out = n;
  return PB_OK;
}

static int obj_build(const void *ctx, pb_bytes atom, pb__obj **out,
                     uint64_t *extra) {
  (void)ctx;
  pb__hash_fn_t fn = pb__hash_fn;
  pb__node_view v;
  int rc = pb__node_decode(atom, PB__TYPE_HASH_NODE, PB__TYPE_HASH_COLLISION,
                           &v);
  if (rc != PB_OK) return rc;
  pb_buf scratch;
  pb_buf_init(&scratch);
  pb__hnode *n = NULL;
  if (v.type == PB__TYPE_HASH_NODE) rc = champ_decode(&v, &n);
  else rc = collision_decode(&v, &scratch, &n);
  pb__node_view_free(&v);
  if (rc == PB_OK) rc = hash_keys(n, &scratch, fn);
  pb_buf_free(&scratch);
  hash_obj *o = rc == PB_OK ? malloc(sizeof *o) : NULL;
  if (!o) {
    pb__hnode_free(n);
    return rc == PB_OK ? PB_ENOMEM : rc;
  }
  o->h = (pb__obj){&pb__hash_obj_class, 0, NULL};
  n->shared = true; /* private again if this load alone takes it */
  o->node = n;
  o->fn = fn;
  *extra = sizeof *o + sizeof *n + (uint64_t)n->cap_ent * sizeof *n->ents +
           (uint64_t)n->cap_kid * sizeof *n->kids;
  *out = &o->h;
  return PB_OK;
}

static void obj_destroy(pb__obj *h) {
  hash_obj *o = (hash_obj *)h;
  if (o->node) o->node->shared = false; /* its owner frees it */
  pb__hnode_free(o->node);
  free(o);
}

const pb__obj_class pb__hash_obj_class = {"hash node", obj_build,
                                          obj_destroy, NULL, NULL};

/* Whether a node fits level `level` under the hash bits `prefix` (the
 * place-dependent checks of the header comment). */
static bool fits(const pb__hnode *n, unsigned level, uint64_t prefix) {
  if (n->collision != (level == PB__HASH_COLL_LEVEL)) return false;
  if (n->collision) {
    if (n->chash != prefix) return false; /* the path fixes the whole hash */
    for (uint32_t i = 0; i < n->nent; i++)
      if (n->ents[i].hash != prefix) return false;
    return true;
  }
  uint64_t slots = ((uint64_t)1 << PB__HASH_SLOTS(level)) - 1;
  if ((n->datamap | n->nodemap) & ~slots) return false;
  if (level > 0 && n->nent == 1 && n->nkid == 0)
    return false; /* a lone entry below the root: not pulled up */
  uint64_t mask = pb__hash_prefix_mask(level + 1);
  uint32_t i = 0;
  for (unsigned f = 0; f < 32; f++) {
    if (!(n->datamap & (1u << f))) continue;
    if ((n->ents[i++].hash & mask) !=
        (prefix | (uint64_t)f << (PB__HASH_BITS * level)))
      return false; /* an entry in the wrong slot for its hash */
  }
  return true;
}

_Atomic uint64_t pb__hash_copies;

/* --- The kid map --- */

static size_t kmap_slot(const pb__hnode *parent, uint32_t idx, size_t cap) {
  uint64_t x = (uint64_t)(uintptr_t)parent * 0x9E3779B97F4A7C15u ^ idx;
  x ^= x >> 29;
  return (size_t)(x * 0xBF58476D1CE4E5B9u >> 32) & (cap - 1);
}

static pb__hkmap_ent *kmap_find(const pb__hash *h, const pb__hnode *parent,
                                uint32_t idx) {
  if (!h->kmap) return NULL;
  for (size_t s = kmap_slot(parent, idx, h->kmap_cap);;
       s = (s + 1) & (h->kmap_cap - 1)) {
    pb__hkmap_ent *e = &h->kmap[s];
    if (!e->parent) return NULL;
    if (e->parent == parent && e->idx == idx) return e;
  }
}

static void kmap_put_cell(pb__hkmap_ent *cells, size_t cap,
                          const pb__hkmap_ent *e) {
  size_t s = kmap_slot(e->parent, e->idx, cap);
  while (cells[s].parent) s = (s + 1) & (cap - 1);
  cells[s] = *e;
}

/* Keeps `e->child` as child e->idx of the shared e->parent.  Errors:
 * PB_ENOMEM. */
static int kmap_set(pb__hash *h, const pb__hkmap_ent *e) {
  pb__hkmap_ent *old = kmap_find(h, e->parent, e->idx);
  if (old) { /* moved out before: the cell is free again */
    assert(!old->child);
    *old = *e;
    return PB_OK;
  }
  if (2 * (h->kmap_used + 1) > h->kmap_cap) {
    size_t cap = h->kmap_cap ? 2 * h->kmap_cap : PB__HKMAP_SMALL;
    pb__hkmap_ent *cells =
        h->kmap_cap ? calloc(cap, sizeof *cells) : h->kmap_small;
    if (!cells) return PB_ENOMEM;
    if (!h->kmap_cap) memset(cells, 0, cap * sizeof *cells);
    for (size_t i = 0; i < h->kmap_cap; i++)
      if (h->kmap[i].parent) kmap_put_cell(cells, cap, &h->kmap[i]);
    if (h->kmap != h->kmap_small) free(h->kmap);
    h->kmap = cells;
    h->kmap_cap = cap;
  }
  kmap_put_cell(h->kmap, h->kmap_cap, e);
  h->kmap_used++;
  return PB_OK;
}

void pb__hash_kmap_free(pb__hash *h) {
  for (size_t i = 0; i < h->kmap_cap; i++)
    if (h->kmap[i].parent) pb__hnode_free(h->kmap[i].child);
  if (h->kmap != h->kmap_small) free(h->kmap);
  h->kmap = NULL;
  h->kmap_cap = h->kmap_used = 0;
}

/* A private copy of the shared node `n` (keys and values stay views into
 * the shared object's atom copy), with the children the handle loaded
 * under n moved from the kid map into its slots. */
static pb__hnode *clone(pb__hash *h, const pb__hnode *n) {
  pb__hnode *c = pb__hnode_alloc(n->collision, n->nent, n->nkid);
  if (!c) return NULL;
  c->datamap = n->datamap;
  c->nodemap = n->nodemap;
  c->chash = n->chash;
  if (n->nent) memcpy(c->ents, n->ents, n->nent * sizeof *n->ents);
  if (n->nkid) memcpy(c->kids, n->kids, n->nkid * sizeof *n->kids);
  c->nent = n->nent;
  c->nkid = n->nkid;
  if (n->shared && h->kmap_used)
    for (uint32_t i = 0; i < n->nkid; i++) {
      pb__hkmap_ent *e = kmap_find(h, n, i);
      if (e && e->child) {
        c->kids[i].node = e->child;
        e->child = NULL;
      }
    }
  atomic_fetch_add_explicit(&pb__hash_copies, 1, memory_order_relaxed);
  return c;
}

/* Reads the node at `ptr` and checks it fits `level` and `prefix`: the
 * shared node itself when the cache holds one hashed under pb__hash_fn,
 * else a private node (built for this load alone, or a copy rehashed). */
static int load(pb__hash *h, pb_atom_ptr ptr, unsigned level, uint64_t prefix,
                pb__hnode **out) {
  if (level > PB__HASH_COLL_LEVEL)
    return PB__CORRUPT(PB__ATOM_FMT " (hash node): below level %u",
                       PB__ATOM_ARGS(ptr), level); /* cannot happen */
  const pb__obj *ob;
  pb__obj *owned;
  int rc = pb__obj_load(&h->src, ptr, 0, &pb__hash_obj_class, NULL, 0, &ob,
                        &owned);
  if (rc == PB_ENOTFOUND)
    return PB__CORRUPT(PB__ATOM_FMT " (hash node): the node is missing",
                       PB__ATOM_ARGS(ptr)); /* see "Errors" in hash.c */
  if (rc != PB_OK) return rc;
  const hash_obj *o = (const hash_obj *)ob;
  pb__hnode *n;
  if (owned) { /* built for this load alone: take its node */
    n = o->node;
    n->shared = false;
    ((hash_obj *)owned)->node = NULL;
  } else if (o->fn != pb__hash_fn) { /* hashed under another function */
    n = clone(h, o->node);
  } else {
    n = o->node; /* shared: read in place */
  }
  if (!n) rc = PB_ENOMEM;
  else if (!n->shared && o->fn != pb__hash_fn)
    rc = hash_keys(n, &h->scratch, pb__hash_fn);
  if (rc == PB_OK && !fits(n, level, prefix))
    rc = PB__CORRUPT(PB__ATOM_FMT
                     " (hash node): its keys do not belong at level %u",
                     PB__ATOM_ARGS(ptr), level);
  pb__obj_free(owned);
  if (rc != PB_OK) {
    pb__hnode_free(n);
    return rc;
  }
  *out = n;
  return PB_OK;
}

int pb__hash_ensure(pb__hash *h, pb__hslot *s, unsigned level,
                    uint64_t prefix) {
  if (s->node) return PB_OK;
  assert(!pb_atom_ptr_is_null(s->ptr)); /* the empty root is never loaded */
  return load(h, s->ptr, level, prefix, &s->node);
}

int pb__hash_kid(pb__hash *h, pb__hnode *parent, uint32_t k, unsigned level,
                 uint64_t prefix, pb__hnode **out) {
  assert(!parent->collision && k < parent->nkid);
  if (!parent->shared) {
    int rc = pb__hash_ensure(h, &parent->kids[k], level, prefix);
    if (rc == PB_OK) *out = parent->kids[k].node;
    return rc;
  }
  pb__hkmap_ent *e = kmap_find(h, parent, k);
  if (e && e->child) {
    /* Checked when loaded; a shared parent met at another place (hostile
     * bytes) has its child checked again for this one. */
    if ((e->level != level || e->prefix != prefix) &&
        (level > PB__HASH_COLL_LEVEL || !fits(e->child, level, prefix)))
      return PB__CORRUPT(PB__ATOM_FMT
                         " (hash node): its keys do not belong at level %u",
                         PB__ATOM_ARGS(parent->kids[k].ptr), level);
    *out = e->child;
    return PB_OK;
  }
  pb__hnode *n;
  int rc = load(h, parent->kids[k].ptr, level, prefix, &n);
  if (rc != PB_OK) return rc;
  pb__hkmap_ent ne = {parent, k, level, prefix, n};
  if ((rc = kmap_set(h, &ne)) != PB_OK) {
    pb__hnode_free(n);
    return rc;
  }
  *out = n;
  return PB_OK;
}

int pb__hash_own_kid(pb__hash *h, pb__hnode *parent, uint32_t k,
                     unsigned level, uint64_t prefix, pb__hnode **out) {
  assert(!parent->shared);
  pb__hnode *n;
  int rc = pb__hash_kid(h, parent, k, level, prefix, &n);
  if (rc != PB_OK) return rc;
  if (n->shared) {
    if (!(n = clone(h, n))) return PB_ENOMEM;
    parent->kids[k].node = n;
  }
  *out = n;
  return PB_OK;
}

int pb__hash_own_root(pb__hash *h) {
  pb__hnode *n = h->root.node;
  assert(n);
  if (!n->shared) return PB_OK;
  if (!(n = clone(h, n))) return PB_ENOMEM;
  h->root.node = n;
  return PB_OK;
}
