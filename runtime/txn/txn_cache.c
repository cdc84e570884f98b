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
 */
#include <stdlib.h>

#include "atom/atom.h"
#include "collections/coll.h"
#include "txn/txn_int.h"

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
