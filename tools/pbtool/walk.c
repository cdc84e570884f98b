/*
 * tools/pbtool/walk.c - every atom the storage's root reaches, read and
 * checked without a schema (atom/refs.h): its envelope, a node's values, a
 * record's fields; and where each lives (segment file and offset).
 * Checksums are checked by the open itself: every frame of every segment
 * is read and checked before pb_storage_open_file returns.
 */
#include <inttypes.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "atom/atom.h"
#include "atom/refs.h"
#include "pbtool.h"
#include "storage/file.h"

void pbt_atom_where(pb_storage *st, pb_atom_ptr p, char *out, size_t cap) {
  if (st->ops == &pb__file_ops) {
    pb__file_storage *fs = (pb__file_storage *)(void *)st;
    pthread_rwlock_rdlock(&fs->lock);
    const pb__batch_loc *loc =
        pb__batch_index_find(&fs->index, p.batch_hi, p.batch_lo);
    if (loc && loc->segment < fs->n_segs) {
      const char *path = fs->segs[loc->segment]->path;
      const char *base = strrchr(path, '/');
      snprintf(out, cap, "%s offset %" PRIu64, base ? base + 1 : path,
               loc->offset + p.offset);
      pthread_rwlock_unlock(&fs->lock);
      return;
    }
    pthread_rwlock_unlock(&fs->lock);
  }
  snprintf(out, cap, "batch %016" PRIx64 "%016" PRIx64 " offset %" PRIu64,
           p.batch_hi, p.batch_lo, p.offset);
}

typedef struct item {
  pb_atom_ptr ptr, parent;
} item;

typedef struct walker {
  pb_storage *st;
  pbt_walk *w;
  pb_atom_ptr *set; /* open addressing; null pointer: empty */
  size_t cap, n;
  item *q;
  size_t qn, qcap;
  pb_atom_ptr cur;
} walker;

static uint64_t hash(pb_atom_ptr p) {
  uint64_t h = p.batch_hi ^ (p.batch_lo * 0x9e3779b97f4a7c15ull) ^
               (p.offset * 0xc2b2ae3d27d4eb4full);
  return h ^ (h >> 29);
}

/* Adds p to the visited set; false when it was there already. */
static int visit(walker *k, pb_atom_ptr p, bool *fresh) {
  if ((k->n + 1) * 4 > k->cap * 3) {
    size_t cap = k->cap ? k->cap * 2 : 1024;
    pb_atom_ptr *s = calloc(cap, sizeof *s);
    if (!s) return PB_ENOMEM;
    for (size_t i = 0; i < k->cap; i++) {
      if (pb_atom_ptr_is_null(k->set[i])) continue;
      size_t j = hash(k->set[i]) & (cap - 1);
      while (!pb_atom_ptr_is_null(s[j])) j = (j + 1) & (cap - 1);
      s[j] = k->set[i];
    }
    free(k->set);
    k->set = s;
    k->cap = cap;
  }
  size_t j = hash(p) & (k->cap - 1);
  while (!pb_atom_ptr_is_null(k->set[j])) {
    if (pb_atom_ptr_equal(k->set[j], p)) {
      *fresh = false;
      return PB_OK;
    }
    j = (j + 1) & (k->cap - 1);
  }
  k->set[j] = p;
  k->n++;
  *fresh = true;
  return PB_OK;
}

static int push(void *ctx, pb_atom_ptr p, size_t pos) {
  (void)pos;
  walker *k = ctx;
  bool fresh;
  int rc = visit(k, p, &fresh);
  if (rc != PB_OK || !fresh) return rc;
  if (k->qn == k->qcap) {
    size_t cap = k->qcap ? k->qcap * 2 : 1024;
    item *g = realloc(k->q, cap * sizeof *g);
    if (!g) return PB_ENOMEM;
    k->q = g;
    k->qcap = cap;
  }
  k->q[k->qn++] = (item){p, k->cur};
  return PB_OK;
}

static void problem(walker *k, pb_atom_ptr p, const char *what,
                    const char *detail) {
  char where[300];
  pbt_atom_where(k->st, p, where, sizeof where);
  k->w->problems++;
  pbt_printf(k->w->report, "atom %s: %s%s%s%s\n", where, what,
             detail && *detail ? " (" : "", detail ? detail : "",
             detail && *detail ? ")" : "");
}

int pbt_walk_atoms(pb_storage *st, pbt_walk *w) {
  walker k;
  memset(&k, 0, sizeof k);
  k.st = st;
  k.w = w;
  uint64_t pin;
  pb__storage_pin(st, &pin);
  pb_atom_ptr root;
  int rc = st->ops->read_root(st, &root, NULL);
  if (rc == PB_OK && !pb_atom_ptr_is_null(root)) rc = push(&k, root, 0);
  while (rc == PB_OK && k.qn > 0) {
    item it = k.q[--k.qn]; /* depth first: the queue stays small */
    pb_bytes atom;
    int r = st->ops->read_atom(st, it.ptr, &atom);
    if (r != PB_OK) {
      char at[300], msg[400];
      pbt_atom_where(st, it.ptr, at, sizeof at);
      snprintf(msg, sizeof msg, "points to an atom that is missing (%s)", at);
      if (pb_atom_ptr_is_null(it.parent)) {
        w->problems++;
        pbt_printf(w->report, "root: the root atom is missing (%s)\n", at);
      } else {
        problem(&k, it.parent, msg, NULL);
      }
      continue;
    }
    w->atoms++;
    w->bytes += atom.len;
    pbt_progress_set(w->progress, w->bytes);
    uint32_t type;
    pb_bytes body;
    r = pb__atom_parse(atom, &type, &body);
    if (r != PB_OK) {
      problem(&k, it.ptr, "a malformed atom envelope", pb_errdetail());
      continue;
    }
    if (type >= PB__TYPE_NODE_FIRST && type <= PB__TYPE_NODE_LAST)
      w->node_atoms++;
    else if (type >= PB__TYPE_RECORD_MIN)
      w->record_atoms++;
    k.cur = it.ptr;
    r = pb__atom_refs(atom, push, &k);
    if (r == PB_ENOMEM) rc = r;
    else if (r != PB_OK) problem(&k, it.ptr, "does not decode", pb_errdetail());
  }
  pb__storage_unpin(st, pin);
  free(k.set);
  free(k.q);
  return rc;
}
