/*
 * query/rowbuf.c - rows held by a node, out of the row they came in.
 *
 * A node's row is valid until that node's next call (protobase/query.h,
 * LIFETIME), so OrderBy, GroupBy, Distinct and the joins copy what they
 * keep.  A held row (pb__hrow) is ONE allocation, laid out as
 *
 *   pb__hrow | recs[n_recs] | ids[n_recs] | cols[n_cols] | vals[n_vals]
 *            | record structs (def->size each, 16-aligned)
 *            | bytes: deep-copied strings, encoded records
 *
 * so freeing it is one free() and its size is known exactly for the
 * budget.  A record struct is copied as its bytes: the views in it point
 * into the transaction's data and stay valid until the transaction ends
 * (protobase/table.h, VIEWS).  Records that came from a node whose records
 * live only until its next call (an external sort decodes them from its
 * run files: pb__plan_transient) are copied deep instead: encoded with
 * def->encode into the allocation and decoded from there, so their views
 * point into the held row itself (arrays into the rowbuf's arena).
 * Columns' STR and BYTES values are always copied deep: a C callback's
 * result lives only until its next call.
 *
 * The budget: rb->used counts every held byte (and what the owner counts
 * with pb__rowbuf_take: hash tables, arrays of pointers); a hold that would
 * pass rb->limit is PB_ENOMEM with a detail naming the node, except where
 * the owner (OrderBy) raises the limit and spills on its own.
 */
#include <assert.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "query/query_int.h"
#include "util/errdetail.h"

#include <xxhash.h>

#define ALIGN16(x) (((x) + 15u) & ~(size_t)15u)

void pb__rowbuf_init(pb__rowbuf *rb, const char *node, size_t limit) {
  memset(rb, 0, sizeof *rb);
  rb->node = node;
  rb->limit = limit;
  rb->transient = -1;
  pb_buf_init(&rb->scratch);
}

void pb__rowbuf_free(pb__rowbuf *rb) {
  if (rb == NULL) return;
  pb_arena_destroy(rb->arena);
  rb->arena = NULL;
  if (rb->arena_counted <= rb->used) rb->used -= rb->arena_counted;
  rb->arena_counted = 0;
  pb_buf_free(&rb->scratch);
}

int pb__rowbuf_over(const pb__rowbuf *rb, size_t want) {
  char msg[256];
  snprintf(msg, sizeof msg,
           "%s: the rows held need more than the plan's memory budget "
           "(%zu bytes held, %zu more wanted, budget %zu: "
           "pb_plan_set_memory)",
           rb->node, rb->used, want, rb->limit);
  pb__errdetail_set(msg);
  return PB_ENOMEM;
}

int pb__rowbuf_take(pb__rowbuf *rb, size_t bytes) {
  if (bytes > rb->limit || rb->used > rb->limit - bytes)
    return pb__rowbuf_over(rb, bytes);
  rb->used += bytes;
  return PB_OK;
}

void pb__rowbuf_give(pb__rowbuf *rb, size_t bytes) {
  assert(bytes <= rb->used);
  rb->used -= bytes;
}

bool pb__plan_transient(const pb_plan *n) {
  if (n == NULL) return false;
  if (pb__sort_transient(n)) return true;
  return pb__plan_transient(n->kid[0]) || pb__plan_transient(n->kid[1]);
}

static bool is_bytes(pb_qtype t) { return t == PB_QSTR || t == PB_QBYTES; }

/* Bytes a deep copy of the values needs beyond their pb_qval. */
static size_t deep_bytes(const pb_qval *v, size_t n) {
  size_t b = 0;
  for (size_t i = 0; i < n; i++)
    if (is_bytes(v[i].type)) b += v[i].as.s.len;
  return b;
}

/* Copies values, their bytes at *at (advanced). */
static void copy_vals(pb_qval *dst, const pb_qval *src, size_t n,
                      uint8_t **at) {
  for (size_t i = 0; i < n; i++) {
    dst[i] = src[i];
    if (is_bytes(src[i].type)) {
      if (src[i].as.s.len > 0) {
        memcpy(*at, src[i].as.s.ptr, src[i].as.s.len);
        dst[i].as.s.ptr = *at;
        *at += src[i].as.s.len;
      } else {
        dst[i].as.s.ptr = (const uint8_t *)"";
      }
    }
  }
}

int pb__rowbuf_hold(pb__rowbuf *rb, const pb_plan *from, const pb_row *row,
                    const pb_qval *vals, size_t n_vals, pb__hrow **out) {
  assert(rb != NULL && row != NULL && out != NULL);
  *out = NULL;
  const pb__qshape *sh = from != NULL ? &from->shape : NULL;
  size_t n_recs = row->n_recs, n_cols = row->n_cols;
  /* Asked for each row, not once: a node that concatenates its kids
   * (a union) may give stable records first and transient ones later.
   * The walk is a few pointers. */
  bool deep = pb__plan_transient(from);
  if (deep) rb->transient = 1;

  /* Records copied deep are encoded first (into scratch, back to back),
   * so the allocation's size is known before it is made; ends[i] is where
   * record i's encoding ends in scratch. */
  size_t ends_small[16], *ends = ends_small;
  size_t enc_total = 0;
  if (deep) {
    if (n_recs > 16) {
      ends = malloc(n_recs * sizeof *ends);
      if (ends == NULL) return PB_ENOMEM;
    }
    pb_buf_reset(&rb->scratch);
    for (size_t i = 0; i < n_recs; i++) {
      if (row->recs[i] != NULL) {
        assert(sh != NULL && i < sh->n_srcs);
        int rc = sh->srcs[i]->encode(row->recs[i], &rb->scratch);
        if (rc == PB_OK) rc = pb_buf_error(&rb->scratch);
        if (rc != PB_OK) {
          if (ends != ends_small) free(ends);
          return rc;
        }
      }
      ends[i] = rb->scratch.len;
    }
    enc_total = rb->scratch.len;
  }

  size_t head = ALIGN16(sizeof(pb__hrow) + n_recs * sizeof(void *) +
                        n_recs * sizeof(uint64_t) +
                        (n_cols + n_vals) * sizeof(pb_qval));
  size_t recs_bytes = 0;
  for (size_t i = 0; i < n_recs; i++)
    if (row->recs[i] != NULL) recs_bytes += ALIGN16(sh->srcs[i]->size);
  size_t total = head + recs_bytes + deep_bytes(row->cols, n_cols) +
                 deep_bytes(vals, n_vals) + enc_total;

  int rc = pb__rowbuf_take(rb, total);
  uint8_t *mem = NULL;
  if (rc == PB_OK) {
    mem = malloc(total);
    if (mem == NULL) {
      pb__rowbuf_give(rb, total);
      rc = PB_ENOMEM;
    }
  }
  if (rc != PB_OK) {
    if (ends != ends_small) free(ends);
    return rc;
  }
  pb__hrow *h = (pb__hrow *)mem;
  const void **recs = (const void **)(mem + sizeof(pb__hrow));
  uint64_t *ids = (uint64_t *)(recs + n_recs);
  pb_qval *cols = (pb_qval *)(ids + n_recs);
  pb_qval *hv = cols + n_cols;
  uint8_t *rec_at = mem + head;
  uint8_t *at = rec_at + recs_bytes;

  h->bytes = total;
  h->seq = rb->seq++;
  h->matched = false;
  h->n_vals = n_vals;
  h->vals = n_vals ? hv : NULL;
  h->row.recs = n_recs ? recs : NULL;
  h->row.ids = n_recs ? ids : NULL;
  h->row.n_recs = n_recs;
  h->row.cols = n_cols ? cols : NULL;
  h->row.n_cols = n_cols;

  for (size_t i = 0; i < n_recs; i++) {
    ids[i] = row->ids != NULL ? row->ids[i] : 0;
    if (row->recs[i] == NULL) {
      recs[i] = NULL;
      continue;
    }
    const pb_table_def *def = sh->srcs[i];
    if (!deep) {
      memcpy(rec_at, row->recs[i], def->size);
    } else {
      size_t start = i ? ends[i - 1] : 0, len = ends[i] - start;
      memcpy(at, rb->scratch.data + start, len);
      if (rb->arena == NULL && def->arena) rc = pb_arena_create(&rb->arena);
      if (rc == PB_OK) {
        if (def->init != NULL) def->init(rec_at);
        rc = def->decode(rec_at, at, len, def->arena ? rb->arena : NULL);
      }
      if (rc != PB_OK) {
        if (ends != ends_small) free(ends);
        pb__rowbuf_give(rb, total);
        free(mem);
        return rc;
      }
      at += len;
    }
    recs[i] = rec_at;
    rec_at += ALIGN16(def->size);
  }
  if (ends != ends_small) free(ends);
  copy_vals(cols, row->cols, n_cols, &at);
  copy_vals(hv, vals, n_vals, &at);
  assert(at <= mem + total);

  if (rb->arena != NULL) {
    size_t now = pb_arena_allocated(rb->arena);
    if (now > rb->arena_counted) {
      /* Arena bytes are counted but never refused: they are made. */
      rb->used += now - rb->arena_counted;
      rb->arena_counted = now;
    }
  }
  *out = h;
  return PB_OK;
}

void pb__rowbuf_drop(pb__rowbuf *rb, pb__hrow *h) {
  if (h == NULL) return;
  pb__rowbuf_give(rb, h->bytes);
  free(h);
}

/* --- Values --- */

int pb__qval_own(pb_qval *v) {
  if (!is_bytes(v->type)) return PB_OK;
  size_t len = v->as.s.len;
  uint8_t *p = malloc(len ? len : 1);
  if (p == NULL) return PB_ENOMEM;
  if (len) memcpy(p, v->as.s.ptr, len);
  v->as.s.ptr = p;
  return PB_OK;
}

void pb__qval_disown(pb_qval *v) {
  if (is_bytes(v->type)) free((void *)v->as.s.ptr);
  *v = pb_qnull();
}

static void put_u64(pb_buf *out, uint8_t tag, uint64_t x) {
  uint8_t b[9];
  b[0] = tag;
  for (int i = 0; i < 8; i++) b[1 + i] = (uint8_t)(x >> (56 - 8 * i));
  pb_buf_append(out, b, sizeof b);
}

enum { C_NULL, C_BOOL, C_INT, C_UINT, C_FLOAT, C_NAN, C_STR, C_BYTES };

void pb__qval_canon(const pb_qval *v, pb_buf *out) {
  switch (v->type) {
    case PB_QNULL: {
      uint8_t t = C_NULL;
      pb_buf_append(out, &t, 1);
      return;
    }
    case PB_QBOOL: {
      uint8_t b[2] = {C_BOOL, v->as.b ? 1 : 0};
      pb_buf_append(out, b, 2);
      return;
    }
    case PB_QINT:
      put_u64(out, C_INT, (uint64_t)v->as.i);
      return;
    case PB_QUINT:
      if (v->as.u <= (uint64_t)INT64_MAX)
        put_u64(out, C_INT, v->as.u);
      else
        put_u64(out, C_UINT, v->as.u);
      return;
    case PB_QFLOAT: {
      double f = v->as.f;
      if (isnan(f)) {
        uint8_t t = C_NAN;
        pb_buf_append(out, &t, 1);
        return;
      }
      /* An integral value is written as the integer it equals, so that
       * 1.0 and 1 meet; -0.0 is 0. */
      if (f >= -9223372036854775808.0 && f < 9223372036854775808.0 &&
          (double)(int64_t)f == f) {
        put_u64(out, C_INT, (uint64_t)(int64_t)f);
        return;
      }
      if (f >= 9223372036854775808.0 && f < 18446744073709551616.0 &&
          (double)(uint64_t)f == f) {
        put_u64(out, C_UINT, (uint64_t)f);
        return;
      }
      uint64_t bits;
      memcpy(&bits, &f, sizeof bits);
      put_u64(out, C_FLOAT, bits);
      return;
    }
    case PB_QSTR:
    case PB_QBYTES: {
      put_u64(out, v->type == PB_QSTR ? C_STR : C_BYTES, v->as.s.len);
      if (v->as.s.len) pb_buf_append(out, v->as.s.ptr, v->as.s.len);
      return;
    }
  }
  assert(!"a value of no type");
}

/* --- The hash table of canonical keys --- */

static uint64_t key_hash(const uint8_t *key, size_t len) {
  return XXH3_64bits(key, len) | 1u;
}

void pb__qhash_init(pb__qhash *h) {
  memset(h, 0, sizeof *h);
  pb_buf_init(&h->keys);
}

void pb__qhash_free(pb__qhash *h, pb__rowbuf *rb) {
  if (h == NULL) return;
  free(h->slots);
  pb_buf_free(&h->keys);
  if (rb != NULL) pb__rowbuf_give(rb, h->counted);
  memset(h, 0, sizeof *h);
}

static size_t slot_of(const pb__qhash *h, uint64_t hash, const uint8_t *key,
                      size_t len, bool *hit) {
  size_t mask = h->cap - 1, i = (size_t)hash & mask;
  for (;;) {
    const pb__qhash_slot *s = &h->slots[i];
    if (s->hash == 0) {
      *hit = false;
      return i;
    }
    if (s->hash == hash && s->len == len &&
        (len == 0 || memcmp(h->keys.data + s->off, key, len) == 0)) {
      *hit = true;
      return i;
    }
    i = (i + 1) & mask;
  }
}

/* Counts the table's current size in rb: its slots and its key bytes. */
static int recount(pb__qhash *h, pb__rowbuf *rb, size_t slots_cap,
                   size_t keys_cap) {
  size_t want = slots_cap * sizeof(pb__qhash_slot) + keys_cap;
  if (want > h->counted) {
    int rc = pb__rowbuf_take(rb, want - h->counted);
    if (rc != PB_OK) return rc;
  } else {
    pb__rowbuf_give(rb, h->counted - want);
  }
  h->counted = want;
  return PB_OK;
}

int pb__qhash_put(pb__qhash *h, pb__rowbuf *rb, const uint8_t *key,
                  size_t len, size_t val, size_t **at, bool *added) {
  uint64_t hash = key_hash(key, len);
  bool hit = false;
  if (h->cap != 0) {
    size_t i = slot_of(h, hash, key, len, &hit);
    if (hit) {
      *at = &h->slots[i].val;
      *added = false;
      return PB_OK;
    }
  }
  /* Grow at 1/2 full. */
  if ((h->n + 1) * 2 > h->cap) {
    size_t cap = h->cap ? h->cap * 2 : 64;
    int rc = recount(h, rb, cap, h->keys.cap);
    if (rc != PB_OK) return rc;
    pb__qhash_slot *ns = calloc(cap, sizeof *ns);
    if (ns == NULL) {
      (void)recount(h, rb, h->cap, h->keys.cap);
      return PB_ENOMEM;
    }
    pb__qhash_slot *old = h->slots;
    size_t ocap = h->cap;
    h->slots = ns;
    h->cap = cap;
    for (size_t j = 0; j < ocap; j++) {
      if (old[j].hash == 0) continue;
      size_t k = (size_t)old[j].hash & (cap - 1);
      while (ns[k].hash != 0) k = (k + 1) & (cap - 1);
      ns[k] = old[j];
    }
    free(old);
  }
  size_t off = h->keys.len;
  if (h->keys.len + len > h->keys.cap) {
    size_t newcap = h->keys.cap ? h->keys.cap : 256;
    while (newcap < h->keys.len + len) newcap *= 2;
    int rc = recount(h, rb, h->cap, newcap);
    if (rc != PB_OK) return rc;
    rc = pb_buf_reserve(&h->keys, newcap - h->keys.len);
    if (rc != PB_OK) return rc;
    (void)recount(h, rb, h->cap, h->keys.cap);
  }
  if (len) pb_buf_append(&h->keys, key, len);
  int rc = pb_buf_error(&h->keys);
  if (rc != PB_OK) return rc;
  size_t i = slot_of(h, hash, key, len, &hit);
  assert(!hit);
  h->slots[i].hash = hash;
  h->slots[i].off = off;
  h->slots[i].len = len;
  h->slots[i].val = val;
  h->n++;
  *at = &h->slots[i].val;
  *added = true;
  return PB_OK;
}

bool pb__qhash_get(const pb__qhash *h, const uint8_t *key, size_t len,
                   size_t *val) {
  if (h->cap == 0) return false;
  bool hit = false;
  size_t i = slot_of(h, key_hash(key, len), key, len, &hit);
  if (hit) *val = h->slots[i].val;
  return hit;
}
