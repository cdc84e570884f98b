/*
 * txn/txn_cache.c - a transaction and the space's atom caches
 * (cache/atomcache.h): the handles it holds, which atoms it lets the
 * caches keep, and the write-through of what it published.
 *
 * A transaction reads through the caches of its space (txn->caches).
 * Every cached object it was given stays valid until it ends, because it
 * holds a handle on it (txn->held), released in pb__txn_caches_release:
 * that is the lifetime the collections and generated `_load` functions
 * promise for their views.  Eviction meanwhile only unlinks the entry.
 *
 * Its own atoms are not cacheable before they are published: a rebase
 * truncates the batch and writes other atoms at the same offsets.  After
 * publication they are immutable like every other atom, and
 * pb__txn_write_through puts them into the caches: each atom's bytes into
 * the bytes cache, and each collection node, decoded, into the object
 * cache, so the next transaction reads what this one wrote from memory.
 * Records are written through as bytes only: decoding one needs its
 * generated decoder, which the commit does not know.
 */
#include <stdlib.h>

#include "atom/atom.h"
#include "collections/coll.h"
#include "txn/txn_int.h"

static int txn_hold(void *arg, pb__cache_handle *h) {
  pb_txn *txn = arg;
  if (txn->n_held == txn->cap_held) {
    size_t cap = txn->cap_held ? txn->cap_held * 2 : 16;
    pb__cache_handle **a = realloc(txn->held, cap * sizeof *a);
    if (!a) {
      pb__cache_release(h);
      return PB_ENOMEM;
    }
    txn->held = a;
    txn->cap_held = cap;
  }
  txn->held[txn->n_held++] = h;
  return PB_OK;
}

static bool txn_cacheable(void *arg, pb_atom_ptr ptr) {
  pb_txn *txn = arg;
  return ptr.batch_hi != txn->batch.id_hi || ptr.batch_lo != txn->batch.id_lo;
}

void pb__txn_caches_init(pb_txn *txn) {
  pb_space *sp = txn->db->sp;
  txn->caches = (pb__src_caches){sp->bytes, sp->objects, txn_hold,
                                 txn_cacheable};
}

void pb__txn_caches_release(pb_txn *txn) {
  for (size_t i = 0; i < txn->n_held; i++) pb__cache_release(txn->held[i]);
  free(txn->held);
  txn->held = NULL;
  txn->n_held = txn->cap_held = 0;
}

void pb__txn_write_through(pb_txn *txn) {
  pb_space *sp = txn->db->sp;
  if (!sp->bytes && !sp->objects) return;
  const uint8_t *data = txn->batch.buf.data;
  size_t size = txn->batch.buf.len;
  for (size_t off = 0; off < size;) {
    pb_bytes atom, body;
    uint32_t type;
    if (pb__batch_atom(data, size, off, &atom) != PB_OK) return;
    pb_atom_ptr ptr = {txn->batch.id_hi, txn->batch.id_lo, off};
    const pb__obj_class *cls = NULL;
    if (sp->objects && pb__atom_parse(atom, &type, &body) == PB_OK)
      cls = pb__coll_obj_class(type);
    /* A node goes to the object cache alone; anything else to bytes. */
    pb__atomcache_write_through(cls ? NULL : sp->bytes, sp->objects, ptr,
                                atom, cls, NULL, 0);
    off += 4 + atom.len;
  }
}
