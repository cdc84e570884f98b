/*
 * collections/set.c - walks over the CHAMP trie of hash.c (flush, count,
 * iterators, statistics), the Set calls, and set algebra (hash.h).
 *
 * Flush writes the dirty nodes depth first, children before their parent
 * (whose atom holds their pointers), in the layouts of hash.c, and
 * descends only into slots whose pointer is null: clean subtrees keep
 * their atoms.  Each slot it gives a pointer is logged, so that a failure
 * clears them all again and leaves the handle as it was.
 *
 * Walks keep an explicit stack of at most 14 frames (one per level, see
 * hash.c), loading children as they reach them, so they neither recurse
 * nor loop without a bound.  Iteration visits the slots of each node in
 * bit order, an entry where the slot holds one and the child's entries
 * where it holds a child: that is "hash order" (by the first fragment,
 * then the second, ...; collision lists in encoding order).
 *
 * Count: nodes do not store counts, so the first pb__hash_count of a
 * trie that was opened at a non-null root walks (and loads) all of it;
 * the count is then cached in the handle and kept by put and remove.
 *
 * Set algebra builds a new handle over a's source:
 *   union         a copy of a's trie, then every element of b added;
 *   difference    a copy of a's trie, then every element of b removed;
 *   intersection  an empty trie, then every element of a that b has.
 * The copy shares a's clean subtrees by pointer (not loaded: they are read
 * again through the source when needed) and copies a's dirty nodes, with
 * their keys, into the new handle.  So the work is proportional to b for
 * union and difference, and to a for intersection; unchanged subtrees of
 * a keep their atoms when the result is flushed.
 */
#include "collections/hash_int.h"

#include <stdlib.h>
#include <string.h>

#include "atom/atom.h"

/* One level of a walk. */
typedef struct frame {
  pb__hnode *node; /* the node being walked */
  unsigned pos;    /* next slot (CHAMP) or entry (collision) to visit */
  unsigned level;  /* its level */
  uint64_t prefix; /* the hash bits its path fixes */
} frame;

struct pb__hash_iter {
  pb__hash *h;                           /* the trie */
  bool started;                          /* the root was pushed */
  unsigned depth;                        /* frames in use */
  frame st[PB__HASH_COLL_LEVEL + 1];     /* root first */
};

/* Loads the root (if the trie is not empty) as the first frame. */
static int push_root(pb__hash *h, frame *st, unsigned *depth) {
  *depth = 0;
  if (!h->root.node && pb_atom_ptr_is_null(h->root.ptr)) return PB_OK;
  int rc = pb__hash_ensure(h, &h->root, 0, 0);
  if (rc != PB_OK) return rc;
  st[0] = (frame){h->root.node, 0, 0, 0};
  *depth = 1;
  return PB_OK;
}

/* Loads the child in slot `b` of the CHAMP node of frame `f` and pushes
 * it.  On an error, nothing is pushed. */
static int push_child(pb__hash *h, frame *st, unsigned *depth, unsigned b) {
  frame *f = &st[*depth - 1];
  uint32_t k = pb__hash_index(f->node->nodemap, 1u << b);
  uint64_t prefix = f->prefix | (uint64_t)b << (PB__HASH_BITS * f->level);
  pb__hnode *kid;
  int rc = pb__hash_kid(h, f->node, k, f->level + 1, prefix, &kid);
  if (rc != PB_OK) return rc;
  st[*depth] = (frame){kid, 0, f->level + 1, prefix};
  (*depth)++;
  return PB_OK;
}

/* --- Iterators --- */

int pb__hash_iter_open(pb__hash *h, pb__hash_iter **out) {
  pb__hash_iter *it = calloc(1, sizeof *it);
  if (!it) return PB_ENOMEM;
  it->h = h;
  *out = it;
  return PB_OK;
}

void pb__hash_iter_free(pb__hash_iter *it) { free(it); }

static void give(const pb__hentry *e, pb_value *key, pb_value *val) {
  if (key) *key = e->key;
  if (val) *val = e->val;
}

int pb__hash_iter_next(pb__hash_iter *it, pb_value *key, pb_value *val) {
  if (!it->started) {
    int rc = push_root(it->h, it->st, &it->depth);
    if (rc != PB_OK) return rc;
    it->started = true;
  }
  while (it->depth > 0) {
    frame *f = &it->st[it->depth - 1];
    pb__hnode *n = f->node;
    if (n->collision) {
      if (f->pos < n->nent) {
        give(&n->ents[f->pos++], key, val);
        return PB_OK;
      }
      it->depth--;
      continue;
    }
    unsigned slots = PB__HASH_SLOTS(f->level);
    while (f->pos < slots && !((n->datamap | n->nodemap) & (1u << f->pos)))
      f->pos++;
    if (f->pos == slots) {
      it->depth--;
      continue;
    }
    uint32_t bit = 1u << f->pos;
    if (n->datamap & bit) {
      f->pos++;
      give(&n->ents[pb__hash_index(n->datamap, bit)], key, val);
      return PB_OK;
    }
    int rc = push_child(it->h, it->st, &it->depth, f->pos);
    if (rc != PB_OK) return rc; /* f->pos unchanged: a retry loads again */
    f->pos++;
  }
  return PB_ENOTFOUND;
}

/* --- Whole-trie walks: count and statistics --- */

/* Visits every node once (loading it), parents first. */
static int walk(pb__hash *h, void (*visit)(void *, const pb__hnode *,
                                           unsigned level),
                void *arg) {
  frame st[PB__HASH_COLL_LEVEL + 1];
  unsigned depth;
  int rc = push_root(h, st, &depth);
  if (rc != PB_OK) return rc;
  if (depth) visit(arg, st[0].node, 0);
  while (depth > 0) {
    frame *f = &st[depth - 1];
    unsigned slots = f->node->collision ? 0 : PB__HASH_SLOTS(f->level);
    while (f->pos < slots && !(f->node->nodemap & (1u << f->pos))) f->pos++;
    if (f->pos >= slots) {
      depth--;
      continue;
    }
    if ((rc = push_child(h, st, &depth, f->pos++)) != PB_OK) return rc;
    visit(arg, st[depth - 1].node, st[depth - 1].level);
  }
  return PB_OK;
}

static void visit_stats(void *arg, const pb__hnode *n, unsigned level) {
  pb__hash_stats_t *s = arg;
  s->entries += n->nent;
  s->depth_sum += (uint64_t)n->nent * (level + 1);
  if (level + 1 > s->depth) s->depth = level + 1;
  if (n->collision) {
    s->collisions++;
    s->coll_keys += n->nent;
  } else {
    s->nodes++;
  }
}

int pb__hash_stats(pb__hash *h, pb__hash_stats_t *out) {
  memset(out, 0, sizeof *out);
  int rc = walk(h, visit_stats, out);
  if (rc != PB_OK) return rc;
  h->count = out->entries;
  h->count_known = true;
  return PB_OK;
}

int pb__hash_count(pb__hash *h, uint64_t *out) {
  if (!h->count_known) {
    pb__hash_stats_t s;
    int rc = pb__hash_stats(h, &s);
    if (rc != PB_OK) return rc;
  }
  *out = h->count;
  return PB_OK;
}

/* --- Flush --- */

/* The slots flush gave a pointer, to clear again if it fails. */
typedef struct undo_log {
  pb__hslot **slots;
  size_t n, cap;
} undo_log;

/* Fills h->vals with the values of node `n`; *cnt is how many. */
static int node_values(pb__hash *h, const pb__hnode *n, size_t *cnt) {
  size_t need = n->collision ? 1 + 2 * (size_t)n->nent
                             : 2 + 2 * (size_t)n->nent + n->nkid;
  if (need > h->vals_cap) {
    pb_value *v = realloc(h->vals, need * sizeof *v);
    if (!v) return PB_ENOMEM;
    h->vals = v;
    h->vals_cap = need;
  }
  pb_value *v = h->vals;
  if (n->collision) {
    *v++ = (pb_value){.kind = PB_VALUE_UINT, .as.u = n->chash};
  } else {
    *v++ = (pb_value){.kind = PB_VALUE_UINT, .as.u = n->datamap};
    *v++ = (pb_value){.kind = PB_VALUE_UINT, .as.u = n->nodemap};
  }
  for (uint32_t i = 0; i < n->nent; i++) {
    *v++ = n->ents[i].key;
    *v++ = n->ents[i].val;
  }
  for (uint32_t i = 0; i < n->nkid; i++)
    *v++ = (pb_value){.kind = PB_VALUE_REF, .as.ref = n->kids[i].ptr};
  *cnt = need;
  return PB_OK;
}

/* Writes the dirty node in `s`, after its dirty children. */
static int write_slot(pb__hash *h, const pb__sink *sink, pb__hslot *s,
                      undo_log *u) {
  pb__hnode *n = s->node;
  for (uint32_t i = 0; i < n->nkid; i++) {
    if (!pb_atom_ptr_is_null(n->kids[i].ptr)) continue; /* clean */
    int rc = write_slot(h, sink, &n->kids[i], u);
    if (rc != PB_OK) return rc;
  }
  if (u->n == u->cap) {
    size_t cap = u->cap ? u->cap * 2 : 64;
    pb__hslot **sl = realloc(u->slots, cap * sizeof *sl);
    if (!sl) return PB_ENOMEM;
    u->slots = sl;
    u->cap = cap;
  }
  size_t cnt;
  int rc = node_values(h, n, &cnt);
  uint32_t type = n->collision ? PB__TYPE_HASH_COLLISION : PB__TYPE_HASH_NODE;
  pb_atom_ptr ptr;
  if (rc == PB_OK) rc = pb__node_write(sink, &h->out, type, h->vals, cnt, &ptr);
  if (rc != PB_OK) return rc;
  s->ptr = ptr;
  u->slots[u->n++] = s;
  return PB_OK;
}

int pb__hash_flush(pb__hash *h, const pb__sink *sink, pb_atom_ptr *root) {
  undo_log u = {NULL, 0, 0};
  if (h->root.node && pb_atom_ptr_is_null(h->root.ptr)) {
    int rc = write_slot(h, sink, &h->root, &u);
    if (rc != PB_OK) { /* as before: every slot written here is dirty again */
      for (size_t i = 0; i < u.n; i++) u.slots[i]->ptr = (pb_atom_ptr){0};
      free(u.slots);
      return rc;
    }
  }
  free(u.slots);
  h->base = h->root.ptr;
  *root = h->base;
  return PB_OK;
}

/* --- Set --- */

static const pb_value null_value = {.kind = PB_VALUE_NULL};

int pb__set_add(pb__hash *s, const pb_value *elem, bool *added) {
  pb__hash_put_result res;
  int rc = pb__hash_insert(s, elem, &null_value, false, &res);
  if (rc == PB_OK && added) *added = res == PB__HASH_ADDED;
  return rc;
}

int pb__set_contains(pb__hash *s, const pb_value *elem, bool *out) {
  int rc = pb__hash_get(s, elem, NULL);
  if (rc != PB_OK && rc != PB_ENOTFOUND) return rc;
  *out = rc == PB_OK;
  return PB_OK;
}

/* --- Set algebra --- */

/* A copy of node `n` owned by `dst`: clean children by pointer, dirty
 * ones copied (recursion bounded by the 14 levels). */
static int clone_node(pb__hash *dst, const pb__hnode *n, pb__hnode **out) {
  pb__hnode *c = pb__hnode_alloc(n->collision, n->nent, n->nkid);
  if (!c) return PB_ENOMEM;
  c->datamap = n->datamap;
  c->nodemap = n->nodemap;
  c->chash = n->chash;
  int rc = PB_OK;
  for (uint32_t i = 0; rc == PB_OK && i < n->nent; i++) {
    c->ents[i].hash = n->ents[i].hash;
    rc = pb__hash_own_value(dst, &n->ents[i].key, &c->ents[i].key);
    if (rc == PB_OK)
      rc = pb__hash_own_value(dst, &n->ents[i].val, &c->ents[i].val);
    c->nent = i + 1;
  }
  for (uint32_t i = 0; rc == PB_OK && i < n->nkid; i++) {
    const pb__hslot *k = &n->kids[i];
    c->kids[i] = (pb__hslot){k->ptr, NULL};
    c->nkid = i + 1;
    if (pb_atom_ptr_is_null(k->ptr)) /* dirty: copy it */
      rc = clone_node(dst, k->node, &c->kids[i].node);
  }
  if (rc != PB_OK) {
    pb__hnode_free(c);
    return rc;
  }
  *out = c;
  return PB_OK;
}

/* A new handle over a's source holding a's entries (see the top). */
static int clone_trie(pb__hash *a, pb__hash **out) {
  pb__hash *r;
  int rc = pb__hash_open(&a->src, (pb_atom_ptr){0}, &r);
  if (rc != PB_OK) return rc;
  r->root.ptr = a->root.ptr; /* a clean root is shared by pointer */
  if (a->root.node && pb_atom_ptr_is_null(a->root.ptr))
    rc = clone_node(r, a->root.node, &r->root.node);
  r->count = a->count;
  r->count_known = a->count_known;
  if (rc != PB_OK) {
    pb__hash_free(r);
    return rc;
  }
  *out = r;
  return PB_OK;
}

/* Adds to `r` every element of `from` that `other` has (keep true) or
 * lacks (keep false); other == NULL: every element.  With `drop`, removes
 * them from `r` instead. */
static int apply(pb__hash *r, pb__hash *from, pb__hash *other, bool keep,
                 bool drop) {
  pb__hash_iter *it = NULL;
  int rc = pb__hash_iter_open(from, &it);
  while (rc == PB_OK) {
    pb_value k;
    bool has = true;
    rc = pb__hash_iter_next(it, &k, NULL);
    if (rc == PB_ENOTFOUND) { /* the end (a missing atom is PB_ECORRUPT) */
      rc = PB_OK;
      break;
    }
    if (rc == PB_OK && other) rc = pb__set_contains(other, &k, &has);
    if (rc != PB_OK || has != keep) continue;
    if (drop) {
      rc = pb__hash_remove(r, &k);
      if (rc == PB_ENOTFOUND) rc = PB_OK;
    } else {
      rc = pb__set_add(r, &k, NULL);
    }
  }
  pb__hash_iter_free(it);
  return rc;
}

int pb__set_algebra(pb__hash *a, pb__hash *b, pb__set_op op, pb__hash **out) {
  pb__hash *r = NULL;
  int rc;
  if (op == PB__SET_INTERSECTION) {
    rc = pb__hash_open(&a->src, (pb_atom_ptr){0}, &r);
    if (rc == PB_OK) rc = apply(r, a, b, true, false);
  } else if (op == PB__SET_UNION || op == PB__SET_DIFFERENCE) {
    rc = clone_trie(a, &r);
    if (rc == PB_OK) rc = apply(r, b, NULL, true, op == PB__SET_DIFFERENCE);
  } else {
    rc = PB_EINVAL;
  }
  if (rc != PB_OK) {
    pb__hash_free(r);
    return rc;
  }
  *out = r;
  return PB_OK;
}
