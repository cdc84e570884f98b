/*
 * txn/txn_cache.c - the write-through of what a transaction appended
 * into the space's atom caches (cache/atomcache.h).
 *
 * A transaction reads through the caches of its space with its snapshot
 * (txn/snapshot.h), which keeps every cached object it was given until the
 * transaction ends (snap.holds): that is the lifetime the collections and
 * generated `_load` functions promise for their views.  Eviction meanwhile
 * only unlinks the entry.
 *
 * Its own atoms are not cacheable before they are appended: a rebase
 * truncates the batch and writes other atoms at the same offsets.  Once
 * the storage appended the batch (the pending head), they are immutable
 * like every other atom, and pb__txn_write_through puts them into the
 * caches: each atom's bytes into the bytes cache, and each collection
 * node, decoded, into the object cache, so the next transaction reads what
 * this one wrote from memory.  That is done before the commit waits for
 * its fdatasync, because the next commits begin on the pending head
 * (pb_txn_run) and rewrite these very nodes meanwhile.  If the sync
 * fails, the batch is never published and nothing published points into
 * it: its cached nodes are unreachable (only commits built on it, which
 * fail too, could read them) and leave the cache as it evicts.
 * Records are written through as bytes only: decoding one needs its
 * generated decoder, which the commit does not know.
 *
 * The nodes a commit REPLACED go the other way: the object cache drops
 * them (pb__cache_drop), since no transaction that begins from now on
 * reads them (they begin on the pending head, or later), and a commit that
 * rewrites the same leaf and path as the one before (every commit of 8
 * threads adding keys at one end of a Dictionary does) would otherwise
 * fill the cache with dead versions, each in memory of its own: new pages
 * for the slab, which the kernel must clear.  The handles note what they
 * copied to change (pb__dict_gone); readers still holding a dropped node
 * keep it until their epoch ends, and a reader of an older snapshot that
 * asks for it again loads it again.  If the commit's fdatasync fails, the
 * dropped nodes are simply loaded again by whoever needs them.
 */
#include <stdlib.h>
#include <string.h>

#include "atom/atom.h"
#include "collections/coll.h"
#include "txn/txn_int.h"

void pb__txn_note_gone(pb_txn *txn) {
  pb_buf_reset(&txn->gone);
  if (!txn->db->sp->objects) return;
  for (const pb__tcoll *t = txn->all; t; t = t->next_all) {
    const pb_atom_ptr *g;
    size_t n = pb__tcoll_gone(t, &g);
    if (n) pb_buf_append(&txn->gone, g, n * sizeof *g);
  }
}

/* Drops from the object cache the nodes txn->gone names. */
static void drop_gone(pb_txn *txn) {
  pb__cache *objects = txn->db->sp->objects;
  if (!objects || pb_buf_error(&txn->gone) != PB_OK) return;
  size_t n = txn->gone.len / sizeof(pb_atom_ptr);
  for (size_t i = 0; i < n; i++) {
    pb_atom_ptr p;
    memcpy(&p, txn->gone.data + i * sizeof p, sizeof p);
    pb__cache_key k = pb__cache_key_of(p, 0);
    pb__cache_drop(objects, &k);
  }
  pb_buf_reset(&txn->gone);
}

void pb__txn_write_through(pb_txn *txn) {
  pb_space *sp = txn->db->sp;
  drop_gone(txn);
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
