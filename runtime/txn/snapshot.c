/*
 * txn/snapshot.c - one downward snapshot (snapshot.h has the design).
 */
#include "txn/snapshot.h"

#include <assert.h>
#include <stdlib.h>
#include <string.h>

#include "txn/space.h"

/* The most handles whose array a snapshot keeps for its next begin (a
 * transaction that read more does not keep its array alive). */
#define HOLDS_KEEP_MAX 4096u

void pb__snap_init(pb__snap *s, pb_space *sp, const pb__batch_builder *own) {
  memset(s, 0, sizeof *s);
  s->st = sp->st;
  s->own = own;
  s->caches = (pb__src_caches){.bytes = sp->bytes,
                               .objects = sp->objects,
                               .holds = &s->holds,
                               .ebr = true,
                               .cells = sp->cells,
                               .inplace = sp->st->ops->cheap_reads,
                               .seen = sp->seen};
  s->src = (pb__src){pb__snap_read, s, &s->caches};
  pb__ebr_register(&s->ebr);
}

int pb__snap_read(void *arg, pb_atom_ptr ptr, pb_bytes *out) {
  pb__snap *s = arg;
  const pb__batch_builder *own = s->own;
  if (!own || ptr.batch_hi != own->id_hi || ptr.batch_lo != own->id_lo) {
    int rc = s->st->ops->read_atom(s->st, ptr, out);
    if (rc == PB_ENOTFOUND) rc = pb__storage_read_pending(s->st, ptr, out);
    return rc;
  }
  pb_bytes v;
  int rc = pb__batch_atom(own->buf.data, own->buf.len, ptr.offset, &v);
  if (rc != PB_OK) return rc;
  /* The batch buffer moves as it grows: hand out a stable copy. */
  pb__own_copy *c = malloc(sizeof *c + v.len);
  if (!c) return PB_ENOMEM;
  memcpy(c->bytes, v.ptr, v.len);
  c->next = s->copies;
  s->copies = c;
  out->ptr = c->bytes;
  out->len = v.len;
  return PB_OK;
}

/* --- the memo: a database root per space root --- */

/* A sequence lock without fences (ThreadSanitizer does not model them):
 * the writer makes seq odd, stores the fields with release (so a reader
 * that sees a new field also sees seq odd or newer), then makes seq even
 * again with release; a reader loads seq, the fields with acquire (so its
 * second load of seq cannot come before them), then seq again, and uses
 * the fields only when both loads saw the same even value. */
static bool memo_get(pb__root_memo *m, pb_atom_ptr root, pb_atom_ptr *db) {
  uint_fast64_t s1 = atomic_load_explicit(&m->seq, memory_order_acquire);
  if (s1 == 0 || (s1 & 1)) return false; /* empty, or a writer is storing */
  uint64_t r[3], d[3];
  for (int i = 0; i < 3; i++) {
    r[i] = atomic_load_explicit(&m->root[i], memory_order_acquire);
    d[i] = atomic_load_explicit(&m->db_root[i], memory_order_acquire);
  }
  if (atomic_load_explicit(&m->seq, memory_order_relaxed) != s1) return false;
  if (r[0] != root.batch_hi || r[1] != root.batch_lo || r[2] != root.offset)
    return false;
  *db = (pb_atom_ptr){d[0], d[1], d[2]};
  return true;
}

static void memo_put(pb__root_memo *m, pb_atom_ptr root, pb_atom_ptr db) {
  uint_fast64_t s = atomic_load_explicit(&m->seq, memory_order_relaxed);
  /* One writer at a time: whoever makes seq odd; the others skip. */
  if ((s & 1) || !atomic_compare_exchange_strong_explicit(
                     &m->seq, &s, s + 1, memory_order_relaxed,
                     memory_order_relaxed))
    return;
  const uint64_t r[3] = {root.batch_hi, root.batch_lo, root.offset};
  const uint64_t d[3] = {db.batch_hi, db.batch_lo, db.offset};
  for (int i = 0; i < 3; i++) {
    atomic_store_explicit(&m->root[i], r[i], memory_order_release);
    atomic_store_explicit(&m->db_root[i], d[i], memory_order_release);
  }
  atomic_store_explicit(&m->seq, s + 2, memory_order_release);
}

/* --- the collection memo: a named collection's root per database root ---
 * The same sequence lock, one per slot. */

static pb__coll_memo *coll_slot(pb_db *db, pb_str key) {
  uint32_t h = 2166136261u; /* FNV-1a */
  for (size_t i = 0; i < key.len; i++)
    h = (h ^ (uint8_t)key.ptr[i]) * 16777619u;
  return &db->colls[h % PB__COLL_MEMO_SLOTS];
}

/* The key's bytes as the memo's words (zero-padded). */
static void key_words(pb_str key, uint64_t w[PB__COLL_MEMO_KEY / 8]) {
  memset(w, 0, PB__COLL_MEMO_KEY);
  memcpy(w, key.ptr, key.len);
}

bool pb__coll_memo_get(pb_db *db, pb_atom_ptr db_root, pb_str key,
                       pb_value *v) {
  if (key.len > PB__COLL_MEMO_KEY) return false;
  pb__coll_memo *m = coll_slot(db, key);
  uint_fast64_t s1 = atomic_load_explicit(&m->seq, memory_order_acquire);
  if (s1 == 0 || (s1 & 1)) return false;
  uint64_t d[3], r[3], kw[PB__COLL_MEMO_KEY / 8], want[PB__COLL_MEMO_KEY / 8];
  for (int i = 0; i < 3; i++) {
    d[i] = atomic_load_explicit(&m->db_root[i], memory_order_acquire);
    r[i] = atomic_load_explicit(&m->ref[i], memory_order_acquire);
  }
  uint64_t kl = atomic_load_explicit(&m->kind_len, memory_order_acquire);
  for (unsigned i = 0; i < PB__COLL_MEMO_KEY / 8; i++)
    kw[i] = atomic_load_explicit(&m->key[i], memory_order_acquire);
  if (atomic_load_explicit(&m->seq, memory_order_relaxed) != s1) return false;
  key_words(key, want);
  if (d[0] != db_root.batch_hi || d[1] != db_root.batch_lo ||
      d[2] != db_root.offset || (kl & 0xffffffffu) != key.len ||
      memcmp(kw, want, sizeof kw) != 0)
    return false;
  *v = (pb_value){.kind = (pb_value_kind)(kl >> 32),
                  .as.ref = {r[0], r[1], r[2]}};
  assert(pb_value_is_collection(v->kind));
  return true;
}

void pb__coll_memo_put(pb_db *db, pb_atom_ptr db_root, pb_str key,
                       const pb_value *v) {
  if (key.len > PB__COLL_MEMO_KEY || !pb_value_is_collection(v->kind))
    return;
  pb__coll_memo *m = coll_slot(db, key);
  uint_fast64_t s = atomic_load_explicit(&m->seq, memory_order_relaxed);
  if ((s & 1) || !atomic_compare_exchange_strong_explicit(
                     &m->seq, &s, s + 1, memory_order_relaxed,
                     memory_order_relaxed))
    return;
  const uint64_t d[3] = {db_root.batch_hi, db_root.batch_lo, db_root.offset};
  const uint64_t r[3] = {v->as.ref.batch_hi, v->as.ref.batch_lo,
                         v->as.ref.offset};
  uint64_t kw[PB__COLL_MEMO_KEY / 8];
  key_words(key, kw);
  for (int i = 0; i < 3; i++) {
    atomic_store_explicit(&m->db_root[i], d[i], memory_order_release);
    atomic_store_explicit(&m->ref[i], r[i], memory_order_release);
  }
  atomic_store_explicit(&m->kind_len,
                        (uint64_t)v->kind << 32 | (uint64_t)key.len,
                        memory_order_release);
  for (unsigned i = 0; i < PB__COLL_MEMO_KEY / 8; i++)
    atomic_store_explicit(&m->key[i], kw[i], memory_order_release);
  atomic_store_explicit(&m->seq, s + 2, memory_order_release);
}

bool pb__snap_find_coll(pb__snap *s, pb_atom_ptr dict_root, pb_str key,
                        pb_value *v) {
  const pb__src plain = {pb__snap_read, s, NULL}; /* not cached */
  pb__dict *d = NULL;
  int rc = pb__dict_open(&plain, dict_root, &d);
  if (rc == PB_OK) rc = pb__dict_get(d, key, v);
  pb__dict_free(d);
  return rc == PB_OK && pb_value_is_collection(v->kind);
}

int pb__snap_begin(pb__snap *s, pb_db *db, bool on_pending) {
  assert(!s->pinned && s->holds.n == 0 && !s->copies);
  pb_storage *st = s->st;
  /* Own atoms are never cached; a reader's empty batch has id 0, which no
   * stored atom has. */
  s->caches.own_hi = s->own ? s->own->id_hi : 0;
  s->caches.own_lo = s->own ? s->own->id_lo : 0;
  pb__ebr_enter(&s->ebr); /* before anything is reached */
  pb__storage_pin(st, &s->pin); /* before reading the root */
  s->pinned = true;
  int rc = on_pending ? pb__storage_pending_root(st, &s->root, &s->lsn)
                      : st->ops->read_root(st, &s->root, &s->lsn);
  if (rc == PB_OK && !memo_get(&db->memo, s->root, &s->db_root)) {
    /* Once per space root and handle: the space root's nodes are decoded
     * privately, not cached (no later transaction asks for them). */
    const pb__src plain = {pb__snap_read, s, NULL};
    rc = pb__space_find_db(&plain, s->root, db->name, &s->db_root);
    if (rc == PB_OK) memo_put(&db->memo, s->root, s->db_root);
  }
  if (rc != PB_OK) pb__snap_end(s);
  return rc;
}

void pb__snap_end(pb__snap *s) {
  /* Handles and copies first: views die before the pin that kept the
   * storage under them. */
  pb__cache_holds_release(&s->holds);
  if (s->holds.cap > HOLDS_KEEP_MAX) pb__cache_holds_free(&s->holds);
  while (s->copies) {
    pb__own_copy *c = s->copies;
    s->copies = c->next;
    free(c);
  }
  if (s->pinned) pb__storage_unpin(s->st, s->pin);
  if (s->pinned) pb__ebr_exit(&s->ebr); /* after the last view */
  s->pinned = false;
}

void pb__snap_free(pb__snap *s) {
  pb__snap_end(s);
  pb__cache_holds_free(&s->holds);
  pb__ebr_unregister(&s->ebr);
}
