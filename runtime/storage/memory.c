/*
 * storage/memory.c - MemoryStorage: committed batches kept as encoded bytes
 * in the heap.
 *
 * Each commit copies the batch bytes into one heap block and indexes it by
 * batch id; atoms are read back from those bytes exactly as the file tier
 * reads them from its segments, so tests on memory storage exercise the
 * same codec (SPEC 11: never keep live objects).  Nothing is freed before
 * close, which is what makes views valid until close.
 *
 * Locking: one pthread rwlock.  Readers of atoms share it; a commit takes
 * it exclusively only for the CAS check and publication.  The batch copy
 * is made before taking the lock.  read_root, which every transaction
 * calls at begin, takes no lock: the root and LSN are also published in
 * a sequence lock of atomics (as the file tier's, storage/file.h), stored
 * under the write lock after the index holds the batch, so read
 * transactions on several threads do not write the rwlock's line to
 * begin.  A reader that sees a new root and then reads its atoms takes
 * the read lock, which waits for the commit's write lock to be released.
 */
#include <assert.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "atom/batch.h"
#include "storage/pubroot.h"
#include "storage/batch_index.h"
#include "storage/storage.h"
#include "storage/tier.h"

typedef struct memory_storage {
  pb_storage base;       /* must be first: pb_storage * <-> memory_storage */
  pthread_rwlock_t lock; /* guards everything below */
  pb__batch_index index; /* batch id -> heap copy of its bytes (owned) */
  pb_atom_ptr root;      /* the published root (null before any commit) */
  uint64_t lsn;          /* number of commits so far; the last one's LSN */
  pb__pubroot pub;              /* root and lsn again, for read_root */
} memory_storage;

/* Under the write lock: publishes root and lsn to read_root
 * (storage/pubroot.h). */
static void mem_publish_root(memory_storage *m) {
  pb__pubroot_store(&m->pub, m->root, m->lsn);
}

static memory_storage *mem_of(pb_storage *st) {
  assert(st != NULL);
  return (memory_storage *)st;
}

static int mem_read_atom(pb_storage *st, pb_atom_ptr ptr, pb_bytes *out) {
  if (out == NULL) return PB_EINVAL;
  memory_storage *m = mem_of(st);
  pthread_rwlock_rdlock(&m->lock);
  const pb__batch_loc *loc =
      pb__batch_index_find(&m->index, ptr.batch_hi, ptr.batch_lo);
  int rc = loc == NULL ? PB_ENOTFOUND
                       : pb__batch_atom(loc->data, loc->size, ptr.offset, out);
  pthread_rwlock_unlock(&m->lock);
  return rc;
}

/* Under the write lock: checks and publishes one commit.  `copy` (owned by
 * the index on success) holds the batch bytes, or is NULL for none. */
static int mem_publish(memory_storage *m, const pb__batch *batch,
                       uint8_t *copy, pb_atom_ptr expected,
                       pb_atom_ptr new_root) {
  if (!pb_atom_ptr_equal(m->root, expected)) return PB_ECONFLICT;
  int rc = pb__storage_check_root(batch, &m->index, new_root);
  if (rc != PB_OK) return rc;
  if (batch->size > 0) {
    rc = pb__batch_index_reserve(&m->index, 1);
    if (rc != PB_OK) return rc;
    pb__batch_loc loc = {.data = copy, .size = batch->size};
    rc = pb__batch_index_insert(&m->index, batch->id_hi, batch->id_lo, &loc);
    if (rc != PB_OK) return rc; /* PB_EEXIST: this id is already stored */
  }
  m->root = new_root;
  m->lsn++;
  mem_publish_root(m);
  return PB_OK;
}

static int mem_commit(pb_storage *st, const pb__batch *batch,
                      pb_atom_ptr expected, pb_atom_ptr new_root,
                      uint64_t *lsn_out) {
  memory_storage *m = mem_of(st);
  if (m->base.read_only) return PB_ERDONLY;
  int rc = pb__storage_check_batch(batch);
  if (rc != PB_OK) return rc;
  uint8_t *copy = NULL;
  if (batch->size > 0) {
    copy = malloc(batch->size);
    if (copy == NULL) return PB_ENOMEM;
    memcpy(copy, batch->data, batch->size);
  }
  pthread_rwlock_wrlock(&m->lock);
  rc = mem_publish(m, batch, copy, expected, new_root);
  uint64_t lsn = m->lsn;
  pthread_rwlock_unlock(&m->lock);
  if (rc != PB_OK) {
    free(copy);
    return rc;
  }
  if (lsn_out != NULL) *lsn_out = lsn;
  return PB_OK;
}

static int mem_read_root(pb_storage *st, pb_atom_ptr *root, uint64_t *lsn) {
  if (root == NULL) return PB_EINVAL;
  pb__pubroot_load(&mem_of(st)->pub, root, lsn); /* storage/pubroot.h */
  return PB_OK;
}

static int mem_flush(pb_storage *st) { return PB_OK; }

static int mem_close(pb_storage *st) {
  memory_storage *m = mem_of(st);
  size_t cursor = 0;
  const pb__batch_index_entry *e;
  while (pb__batch_index_next(&m->index, &cursor, &e))
    free((void *)(uintptr_t)e->loc.data);
  pb__batch_index_free(&m->index);
  pthread_rwlock_destroy(&m->lock);
  free(m);
  return PB_OK;
}

static const pb__storage_ops memory_ops = {
    .name = "memory",
    .read_atom = mem_read_atom,
    .commit = mem_commit,
    .read_root = mem_read_root,
    .flush = mem_flush,
    .close = mem_close,
    .errmsg = NULL,
    .cheap_reads = true, /* a lookup in memory: no bytes cache by default */
};

int pb_storage_open_memory(pb_storage **out) {
  if (out == NULL) return PB_EINVAL;
  *out = NULL;
  memory_storage *m = calloc(1, sizeof *m);
  if (m == NULL) return PB_ENOMEM;
  if (pthread_rwlock_init(&m->lock, NULL) != 0) {
    free(m);
    return PB_ENOMEM;
  }
  pb__pubroot_init(&m->pub);
  m->base.ops = &memory_ops;
  m->base.read_only = false;
  pb__batch_index_init(&m->index);
  *out = &m->base;
  return PB_OK;
}
