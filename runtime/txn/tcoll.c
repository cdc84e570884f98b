/*
 * txn/tcoll.c - collections inside a transaction: logged changes, flush,
 * and the three-way merge by replay (see tcoll.h).
 */
#include "txn/tcoll.h"

#include <assert.h>
#include <stdlib.h>
#include <string.h>

#include <xxhash.h>

#include "atom/refs.h"
#include "atom/value.h"

/* --- the underlying handle --- */

typedef union handle {
  pb__dict *d;
  pb__list *l;
  pb__hash *h;
} handle;

static int handle_open(const pb__tcoll_env *env, pb_value_kind kind,
                       pb_atom_ptr root, handle *out) {
  switch (kind) {
  case PB_VALUE_DICT:
    return pb__dict_open(env->src, root, &out->d);
  case PB_VALUE_LIST:
    return pb__list_open(env->src, root, &out->l);
  case PB_VALUE_SET: case PB_VALUE_HASHDICT:
    return pb__hash_open(env->src, root, &out->h);
  default:
    return PB_EINVAL;
  }
}

static void handle_free(pb_value_kind kind, handle h) {
  if (kind == PB_VALUE_DICT)
    pb__dict_free(h.d);
  else if (kind == PB_VALUE_LIST)
    pb__list_free(h.l);
  else
    pb__hash_free(h.h);
}

static bool handle_dirty(const pb__tcoll *t) {
  if (t->kind == PB_VALUE_DICT) return pb__dict_dirty(t->c.d);
  if (t->kind == PB_VALUE_LIST) return pb__list_dirty(t->c.l);
  return pb__hash_dirty(t->c.h);
}

static int handle_flush(pb__tcoll *t, pb_atom_ptr *root) {
  const pb__sink *s = t->env->sink;
  if (t->kind == PB_VALUE_DICT) return pb__dict_flush(t->c.d, s, root);
  if (t->kind == PB_VALUE_LIST) return pb__list_flush(t->c.l, s, root);
  return pb__hash_flush(t->c.h, s, root);
}

static pb_atom_ptr handle_base(const pb__tcoll *t) {
  if (t->kind == PB_VALUE_DICT) return pb__dict_base(t->c.d);
  if (t->kind == PB_VALUE_LIST) return pb__list_base(t->c.l);
  return pb__hash_base(t->c.h);
}

/* --- lifecycle --- */

/* The largest array (ops, kids) a pooled tcoll keeps. */
#define POOL_KEEP_MAX 64u

/* A tcoll from the pool (its arrays, name buffer and spare Dictionary
 * handle kept, the rest zeroed), or a new one.  For a Dictionary, a
 * pooled shell with a spare handle is taken first. */
static pb__tcoll *tcoll_new(const pb__tcoll_env *env, pb_value_kind kind) {
  pb__tcoll **at = env->pool;
  if (!at || !*at) return calloc(1, sizeof(pb__tcoll));
  if (kind == PB_VALUE_DICT)
    for (pb__tcoll **p = at; *p; p = &(*p)->next_all)
      if ((*p)->spare_d) {
        at = p;
        break;
      }
  pb__tcoll *t = *at;
  *at = t->next_all;
  pb__tcoll keep = *t;
  memset(t, 0, sizeof *t);
  t->ops = keep.ops;
  t->cap_ops = keep.cap_ops;
  t->kids = keep.kids;
  t->cap_kids = keep.cap_kids;
  t->name_buf = keep.name_buf;
  t->name_cap = keep.name_cap;
  t->spare_d = keep.spare_d;
  return t;
}

static void tcoll_destroy(pb__tcoll *t) {
  free(t->ops);
  free(t->kids);
  free(t->name_buf);
  pb__dict_free(t->spare_d);
  free(t);
}

/* Opens t's handle: a Dictionary reuses the shell's spare handle, if any
 * (no allocation). */
static int tcoll_handle_open(pb__tcoll *t, const pb__tcoll_env *env,
                             pb_value_kind kind, pb_atom_ptr root,
                             handle *h) {
  if (kind == PB_VALUE_DICT && t->spare_d) {
    pb__dict_reuse(t->spare_d, env->src, root);
    h->d = t->spare_d;
    t->spare_d = NULL;
    return PB_OK;
  }
  return handle_open(env, kind, root, h);
}

int pb__tcoll_open(const pb__tcoll_env *env, pb_value_kind kind,
                   pb_atom_ptr root, pb__tcoll **all, pb__tcoll **out) {
  pb__tcoll *t = tcoll_new(env, kind);
  if (!t) return PB_ENOMEM;
  t->kind = kind;
  t->env = env;
  t->base = root;
  handle h;
  int rc = tcoll_handle_open(t, env, kind, root, &h);
  if (rc != PB_OK) {
    t->next_all = NULL;
    pb__tcoll_free_all(t, env->pool);
    return rc;
  }
  t->c.d = NULL;
  memcpy(&t->c, &h, sizeof h);
  t->next_all = *all;
  *all = t;
  *out = t;
  return PB_OK;
}

/* Gives t the name `key` (a copy in its name_buf).  Errors: PB_ENOMEM. */
static int set_name(pb__tcoll *t, pb_str key) {
  if (t->name_cap < key.len + 1) {
    char *buf = realloc(t->name_buf, key.len + 1);
    if (!buf) return PB_ENOMEM;
    t->name_buf = buf;
    t->name_cap = key.len + 1;
  }
  memcpy(t->name_buf, key.ptr, key.len);
  t->name_buf[key.len] = '\0';
  t->name = (pb_str){t->name_buf, key.len};
  return PB_OK;
}

int pb__tcoll_open_named(const pb__tcoll_env *env, pb_str key,
                         pb_value_kind kind, const pb_value *known,
                         pb__tcoll **all, pb__tcoll **out) {
  assert(env->read_only);
  if (!pb_value_is_collection(kind)) return PB_EINVAL;
  if (known->kind != kind) return PB_ESCHEMA;
  pb__tcoll *t = NULL;
  int rc = pb__tcoll_open(env, kind, known->as.ref, all, &t);
  if (rc != PB_OK) return rc;
  if ((rc = set_name(t, key)) != PB_OK) {
    t->detached = true; /* on the list: freed with the rest */
    return rc;
  }
  t->named = true;
  *out = t;
  return PB_OK;
}

pb__tcoll *pb__tcoll_find_named(pb__tcoll *all, pb_str key) {
  for (pb__tcoll *t = all; t; t = t->next_all)
    if (t->named && !t->detached && t->name.len == key.len &&
        memcmp(t->name.ptr, key.ptr, key.len) == 0)
      return t;
  return NULL;
}

static void run_free(pb__run *r);

static void op_free(pb__op *op) {
  free(op->key_owned);
  free(op->val_owned);
  run_free(op->run);
}

void pb__tcoll_free_all(pb__tcoll *all, pb__tcoll **pool) {
  size_t pooled = 0;
  if (pool)
    for (pb__tcoll *p = *pool; p && pooled < PB__TCOLL_POOL_MAX;
         p = p->next_all)
      pooled++;
  while (all) {
    pb__tcoll *t = all;
    all = t->next_all;
    handle h;
    memcpy(&h, &t->c, sizeof h);
    t->c.d = NULL;
    bool keep = pool && pooled < PB__TCOLL_POOL_MAX;
    if (keep && t->kind == PB_VALUE_DICT && h.d && !t->spare_d) {
      /* A pooled shell keeps one Dictionary handle for its next open (a
       * warm read then opens its Dictionaries without allocating).  Its
       * nodes and copies go now, as with pb__dict_free, while the
       * snapshot still holds the shared nodes it read. */
      pb__dict_reuse(h.d, NULL, (pb_atom_ptr){0, 0, 0});
      t->spare_d = h.d;
    } else if (h.d) {
      handle_free(t->kind, h);
    }
    for (size_t i = 0; i < t->n_ops; i++) op_free(&t->ops[i]);
    t->run = NULL;
    if (keep) {
      t->n_ops = t->n_kids = 0;
      /* A pooled shell keeps small arrays only: a big log is not kept
       * alive by the handle that reuses it. */
      if (t->cap_ops > POOL_KEEP_MAX) {
        free(t->ops);
        t->ops = NULL;
        t->cap_ops = 0;
      }
      if (t->cap_kids > POOL_KEEP_MAX) {
        free(t->kids);
        t->kids = NULL;
        t->cap_kids = 0;
      }
      t->next_all = *pool;
      *pool = t;
      pooled++;
    } else {
      tcoll_destroy(t);
    }
  }
}

void pb__tcoll_pool_free(pb__tcoll *pool) {
  while (pool) {
    pb__tcoll *t = pool;
    pool = t->next_all;
    tcoll_destroy(t);
  }
}

int pb__tcoll_check(const pb__tcoll *t) {
  return t->detached ? PB_ECLOSED : PB_OK;
}

static int check_write(const pb__tcoll *t) {
  if (t->detached) return PB_ECLOSED;
  return t->env->read_only ? PB_ERDONLY : PB_OK;
}

/* --- the log --- */

/* Makes room for one more op (before the change, so that a change is never
 * left unlogged). */
static int log_reserve(pb__tcoll *t) {
  if (t->n_ops < t->cap_ops) return PB_OK;
  size_t cap = t->cap_ops ? t->cap_ops * 2 : 8;
  pb__op *ops = realloc(t->ops, cap * sizeof *ops);
  if (!ops) return PB_ENOMEM;
  t->ops = ops;
  t->cap_ops = cap;
  return PB_OK;
}

/* Prepares an op with copies of key and value (val may be NULL). */
static int op_prepare(pb__op *op, pb__op_kind kind, const pb_value *key,
                      const pb_value *val) {
  memset(op, 0, sizeof *op);
  op->kind = kind;
  int rc = pb__value_copy(key, &op->key, &op->key_owned);
  if (rc == PB_OK && val) rc = pb__value_copy(val, &op->val, &op->val_owned);
  if (rc != PB_OK) op_free(op);
  return rc;
}

/* The open child at `key` of t, or NULL. */
static pb__tcoll *find_kid(const pb__tcoll *t, pb_str key, size_t *at) {
  for (size_t i = 0; i < t->n_kids; i++) {
    pb__tcoll *k = t->kids[i];
    if (k->name.len == key.len && memcmp(k->name.ptr, key.ptr, key.len) == 0) {
      if (at) *at = i;
      return k;
    }
  }
  return NULL;
}

/* Detaches t and every open collection under it: their later use gives
 * PB_ECLOSED and their changes are dropped (they stay on the
 * transaction's list, which frees them). */
static void detach(pb__tcoll *t) {
  t->detached = true;
  for (size_t i = 0; i < t->n_kids; i++) detach(t->kids[i]);
  t->n_kids = 0;
}

/* Detaches the open child at `key`, if any (its key is being replaced). */
static void detach_kid(pb__tcoll *t, pb_str key) {
  size_t at;
  pb__tcoll *k = find_kid(t, key, &at);
  if (!k) return;
  detach(k);
  t->kids[at] = t->kids[--t->n_kids];
}

/* Applies one logged op to handle `h` of kind `kind`.  Removing what is
 * not there is fine (the log records intent). */
static int apply(pb_value_kind kind, handle h, const pb__op *op) {
  int rc = PB_OK;
  switch (op->kind) {
  case PB__OP_PUT:
    if (kind == PB_VALUE_DICT)
      rc = pb__dict_put(h.d, op->key.as.s, &op->val);
    else
      rc = pb__hash_put(h.h, &op->key, &op->val);
    break;
  case PB__OP_REMOVE:
    if (kind == PB_VALUE_DICT)
      rc = pb__dict_remove(h.d, op->key.as.s);
    else
      rc = pb__hash_remove(h.h, &op->key);
    if (rc == PB_ENOTFOUND) rc = PB_OK;
    break;
  case PB__OP_ADD:
    rc = pb__set_add(h.h, &op->key, NULL);
    break;
  case PB__OP_NESTED: case PB__OP_RUN:
    break; /* the child's flush writes it; a run replays by its puts */
  }
  return rc;
}

/* Logs and applies a change to t's own handle. */
static int change(pb__tcoll *t, pb__op_kind kind, const pb_value *key,
                  const pb_value *val) {
  int rc = check_write(t);
  if (rc == PB_OK) rc = pb__tcoll_settle(t);
  if (rc == PB_OK) rc = log_reserve(t);
  pb__op op;
  if (rc == PB_OK) rc = op_prepare(&op, kind, key, val);
  if (rc != PB_OK) return rc;
  handle h;
  memcpy(&h, &t->c, sizeof h);
  if (kind == PB__OP_REMOVE) { /* report a missing key to the caller */
    rc = t->kind == PB_VALUE_DICT ? pb__dict_remove(h.d, key->as.s)
                                  : pb__hash_remove(h.h, key);
  } else {
    rc = apply(t->kind, h, &op);
  }
  if (rc != PB_OK) {
    op_free(&op);
    return rc;
  }
  t->ops[t->n_ops++] = op;
  t->changed = true;
  return PB_OK;
}

/* --- the run: Dictionary puts, logged compactly (tcoll.h) --- */

/*
 * A run's log is a list of chunks (oldest first) of records, one per put,
 * packed back to back with no alignment:
 *
 *   u16 key length, u8 value kind, u8 0, u32 payload length   (8 bytes)
 *   the value's fixed part: 8 bytes (BOOL, INT, UINT, DOUBLE; a RECORD's
 *     fingerprint), 24 (REF and the collection kinds' pointer), else none
 *   the key's bytes, then the payload's (STRING, BYTES, RECORD body)
 *
 * so a put costs its key and payload plus 8 to 32 bytes; settling sorts an
 * index of 16 bytes a put (8 once sorted).
 */
typedef struct run_chunk {
  struct run_chunk *next; /* newer */
  size_t used, size;      /* bytes written, and room after the header */
} run_chunk;

struct pb__run {
  run_chunk *first, *last; /* the log (NULL once built: freed) */
  size_t n;                /* puts logged */
  size_t next_size;        /* the next chunk's room */
  const uint8_t **idx;     /* the last put of each key, in key order:
                              kept once settled by merge (for rebase), and
                              while pending after a settle that failed
                              (until the next put); else NULL */
  size_t m;                /* keys settled */
  pb_atom_ptr root;        /* settled by build: the tree written */
  bool built;              /* settled into an empty Dictionary by build:
                              the log is freed, the tree holds it */
  /* The last put of each key, by key hash (open addressing, NULL:
   * empty): built by the first get that finds the run pending
   * (run_find), then kept by every put, so gets between puts read the
   * run and the tree as they are instead of settling the run.  A
   * bulk load that never gets has none. */
  const uint8_t **hx;
  size_t hx_cap, hx_used;
  bool viewed;             /* a get gave views into the log: it stays
                              until the run is freed (not freed by a
                              build) */
};

#define RUN_CHUNK_FIRST 4096u
#define RUN_CHUNK_MAX (1u << 20)
#define REC_HEAD 8u

/* The payload a value points to (none for most kinds). */
static pb_bytes payload(const pb_value *v) {
  if (v->kind == PB_VALUE_STRING)
    return (pb_bytes){(const uint8_t *)v->as.s.ptr, v->as.s.len};
  if (v->kind == PB_VALUE_BYTES) return v->as.bytes;
  if (v->kind == PB_VALUE_RECORD) return v->as.rec.body;
  return (pb_bytes){NULL, 0};
}

/* The bytes of a value's fixed part in a record. */
static size_t fixed_len(pb_value_kind k) {
  switch (k) {
  case PB_VALUE_BOOL: case PB_VALUE_INT: case PB_VALUE_UINT:
  case PB_VALUE_DOUBLE: case PB_VALUE_RECORD:
    return 8;
  case PB_VALUE_REF: case PB_VALUE_DICT: case PB_VALUE_LIST:
  case PB_VALUE_SET: case PB_VALUE_HASHDICT:
    return sizeof(pb_atom_ptr);
  default:
    return 0;
  }
}

static void run_free(pb__run *r) {
  if (!r) return;
  while (r->first) {
    run_chunk *c = r->first;
    r->first = c->next;
    free(c);
  }
  free(r->idx);
  free(r->hx);
  free(r);
}

/* Decodes the record at p: the put's key and value (views into it). */
static void rec_read(const uint8_t *p, pb_str *key, pb_value *v) {
  uint16_t klen;
  uint32_t plen;
  memcpy(&klen, p, 2);
  pb_value_kind kind = (pb_value_kind)p[2];
  memcpy(&plen, p + 4, 4);
  p += REC_HEAD;
  memset(v, 0, sizeof *v);
  v->kind = kind;
  switch (kind) {
  case PB_VALUE_BOOL: {
    uint64_t b;
    memcpy(&b, p, 8);
    v->as.b = b != 0;
    break;
  }
  case PB_VALUE_INT: memcpy(&v->as.i, p, 8); break;
  case PB_VALUE_UINT: memcpy(&v->as.u, p, 8); break;
  case PB_VALUE_DOUBLE: memcpy(&v->as.d, p, 8); break;
  case PB_VALUE_RECORD: memcpy(&v->as.rec.fingerprint, p, 8); break;
  case PB_VALUE_REF: case PB_VALUE_DICT: case PB_VALUE_LIST:
  case PB_VALUE_SET: case PB_VALUE_HASHDICT:
    memcpy(&v->as.ref, p, sizeof v->as.ref);
    break;
  default: break;
  }
  p += fixed_len(kind);
  *key = (pb_str){klen ? (const char *)p : NULL, klen};
  const uint8_t *pay = plen ? p + klen : NULL;
  if (kind == PB_VALUE_STRING) v->as.s = (pb_str){(const char *)pay, plen};
  else if (kind == PB_VALUE_BYTES) v->as.bytes = (pb_bytes){pay, plen};
  else if (kind == PB_VALUE_RECORD) v->as.rec.body = (pb_bytes){pay, plen};
}

static void hx_note(pb__run *r, const uint8_t *p);

/* Appends a checked put to the run r: one copy of key and value. */
static int rec_append(pb__run *r, pb_str key, const pb_value *v) {
  pb_bytes pay = payload(v);
  size_t fix = fixed_len(v->kind);
  assert(key.len <= PB__DICT_KEY_MAX && key.len <= UINT16_MAX);
  if (pay.len > UINT32_MAX) return PB_ETOOBIG;
  size_t need = REC_HEAD + fix + key.len + pay.len;
  run_chunk *c = r->last;
  if (!c || c->size - c->used < need) {
    size_t size = r->next_size ? r->next_size : RUN_CHUNK_FIRST;
    if (size < need) size = need;
    c = malloc(sizeof *c + size);
    if (!c) return PB_ENOMEM;
    c->next = NULL;
    c->used = 0;
    c->size = size;
    if (r->last) r->last->next = c;
    else r->first = c;
    r->last = c;
    r->next_size = size < RUN_CHUNK_MAX / 2 ? size * 2 : RUN_CHUNK_MAX;
  }
  uint8_t *p = (uint8_t *)(c + 1) + c->used;
  uint16_t klen = (uint16_t)key.len;
  uint32_t plen = (uint32_t)pay.len;
  memcpy(p, &klen, 2);
  p[2] = (uint8_t)v->kind;
  p[3] = 0;
  memcpy(p + 4, &plen, 4);
  uint8_t *q = p + REC_HEAD;
  switch (v->kind) {
  case PB_VALUE_BOOL: {
    uint64_t b = v->as.b;
    memcpy(q, &b, 8);
    break;
  }
  case PB_VALUE_INT: memcpy(q, &v->as.i, 8); break;
  case PB_VALUE_UINT: memcpy(q, &v->as.u, 8); break;
  case PB_VALUE_DOUBLE: memcpy(q, &v->as.d, 8); break;
  case PB_VALUE_RECORD: memcpy(q, &v->as.rec.fingerprint, 8); break;
  case PB_VALUE_REF: case PB_VALUE_DICT: case PB_VALUE_LIST:
  case PB_VALUE_SET: case PB_VALUE_HASHDICT:
    memcpy(q, &v->as.ref, sizeof v->as.ref);
    break;
  default: break;
  }
  q += fix;
  if (key.len) memcpy(q, key.ptr, key.len);
  if (pay.len) memcpy(q + key.len, pay.ptr, pay.len);
  c->used += need;
  r->n++;
  hx_note(r, p);
  return PB_OK;
}

/* --- the run's key hash (pb__run.hx) --- */

static pb_str rec_key(const uint8_t *p);

static size_t key_hash(pb_str k) { return (size_t)XXH3_64bits(k.ptr, k.len); }

static bool key_eq(pb_str a, pb_str b) {
  return a.len == b.len && (a.len == 0 || memcmp(a.ptr, b.ptr, a.len) == 0);
}

/* Puts record p (the newest put of its key) into the hash, which has
 * room. */
static void hx_put(pb__run *r, const uint8_t *p) {
  pb_str k = rec_key(p);
  size_t mask = r->hx_cap - 1, i = key_hash(k) & mask;
  while (r->hx[i]) {
    if (key_eq(rec_key(r->hx[i]), k)) {
      r->hx[i] = p; /* a later put of the key */
      return;
    }
    i = (i + 1) & mask;
  }
  r->hx[i] = p;
  r->hx_used++;
}

/* Grows the hash to hold `want` keys at most half full, rehashing.
 * Errors: PB_ENOMEM (the hash is unchanged). */
static int hx_grow(pb__run *r, size_t want) {
  if (want * 2 <= r->hx_cap) return PB_OK;
  size_t cap = r->hx_cap ? r->hx_cap : 64;
  while (cap < want * 2) cap *= 2;
  const uint8_t **old = r->hx;
  size_t old_cap = r->hx_cap;
  r->hx = calloc(cap, sizeof *r->hx);
  if (!r->hx) {
    r->hx = old;
    return PB_ENOMEM;
  }
  r->hx_cap = cap;
  r->hx_used = 0;
  for (size_t i = 0; i < old_cap; i++)
    if (old[i]) hx_put(r, old[i]);
  free(old);
  return PB_OK;
}

/* Notes a new record in the hash, if the run has one.  A hash that
 * cannot grow is dropped (the next get builds it again, or settles). */
static void hx_note(pb__run *r, const uint8_t *p) {
  if (!r->hx) return;
  if (hx_grow(r, r->hx_used + 1) != PB_OK) {
    free(r->hx);
    r->hx = NULL;
    r->hx_cap = r->hx_used = 0;
    return;
  }
  hx_put(r, p);
}

/* The newest put of `key` in the run: *p, or NULL when the run has none.
 * Builds the hash on first use.  Errors: PB_ENOMEM. */
static int run_find(pb__run *r, pb_str key, const uint8_t **p) {
  *p = NULL;
  if (!r->hx) {
    int rc = hx_grow(r, r->n);
    if (rc != PB_OK) return rc;
    for (const run_chunk *c = r->first; c; c = c->next) {
      const uint8_t *q = (const uint8_t *)(c + 1), *end = q + c->used;
      while (q < end) {
        pb_str k;
        pb_value v;
        rec_read(q, &k, &v);
        hx_put(r, q);
        q += REC_HEAD + fixed_len(v.kind) + k.len + payload(&v).len;
      }
    }
  }
  size_t mask = r->hx_cap - 1, i = key_hash(key) & mask;
  for (; r->hx[i]; i = (i + 1) & mask)
    if (key_eq(rec_key(r->hx[i]), key)) {
      *p = r->hx[i];
      return PB_OK;
    }
  return PB_OK;
}

/* An index entry while sorting: the key's first 8 bytes (big-endian,
 * zero-padded) and the record. */
typedef struct run_ix {
  uint64_t pfx;
  const uint8_t *rec;
} run_ix;

static pb_str rec_key(const uint8_t *p) {
  uint16_t klen;
  memcpy(&klen, p, 2);
  const uint8_t *k = p + REC_HEAD + fixed_len((pb_value_kind)p[2]);
  return (pb_str){(const char *)k, klen};
}

/* The 8 bytes of k from `skip` on (a prefix every key of the run shares),
 * big-endian, zero-padded. */
static uint64_t key_pfx(pb_str k, size_t skip) {
  uint64_t x = 0;
  for (size_t i = skip; i < skip + 8; i++)
    x = x << 8 | (i < k.len ? (uint8_t)k.ptr[i] : 0);
  return x;
}

/* How many first bytes a and b share. */
static size_t common(pb_str a, pb_str b) {
  size_t n = a.len < b.len ? a.len : b.len, i = 0;
  while (i < n && a.ptr[i] == b.ptr[i]) i++;
  return i;
}

/* Key order (the prefix first: the keys agree before it, equal keys
 * have equal prefixes, and a smaller prefix is a smaller key). */
static int ix_cmp(const run_ix *a, const run_ix *b) {
  if (a->pfx != b->pfx) return a->pfx < b->pfx ? -1 : 1;
  pb_str x = rec_key(a->rec), y = rec_key(b->rec);
  size_t n = x.len < y.len ? x.len : y.len;
  int c = n ? memcmp(x.ptr, y.ptr, n) : 0; /* the Dictionary's order */
  if (c) return c;
  return (x.len > y.len) - (x.len < y.len);
}

/* Sorts a[0..n) by key, stably (equal keys stay in put order), with
 * scratch tmp[0..n): a bottom-up merge sort over runs of 16 sorted by
 * insertion. */
static void ix_sort(run_ix *a, run_ix *tmp, size_t n) {
  const size_t RUN = 16;
  for (size_t lo = 0; lo < n; lo += RUN) {
    size_t hi = lo + RUN < n ? lo + RUN : n;
    for (size_t i = lo + 1; i < hi; i++) {
      run_ix x = a[i];
      size_t j = i;
      while (j > lo && ix_cmp(&a[j - 1], &x) > 0) {
        a[j] = a[j - 1];
        j--;
      }
      a[j] = x;
    }
  }
  run_ix *src = a, *dst = tmp;
  for (size_t w = RUN; w < n; w *= 2) {
    for (size_t lo = 0; lo < n; lo += 2 * w) {
      size_t mid = lo + w < n ? lo + w : n, hi = lo + 2 * w < n ? lo + 2 * w : n;
      size_t i = lo, j = mid, k = lo;
      while (i < mid && j < hi)
        dst[k++] = ix_cmp(&src[j], &src[i]) < 0 ? src[j++] : src[i++];
      while (i < mid) dst[k++] = src[i++];
      while (j < hi) dst[k++] = src[j++];
    }
    run_ix *t = src;
    src = dst;
    dst = t;
  }
  if (src != a) memcpy(a, src, n * sizeof *a);
}

/* Sorts the run's puts by key and keeps the last of each key: r->idx and
 * r->m.  Errors: PB_ENOMEM. */
static int run_sort(pb__run *r) {
  size_t n = r->n;
  run_ix *ix = malloc(n * sizeof *ix), *tmp = malloc(n * sizeof *tmp);
  if (!ix || !tmp) {
    free(ix);
    free(tmp);
    return PB_ENOMEM;
  }
  size_t i = 0, skip = SIZE_MAX;
  pb_str k0 = {NULL, 0};
  for (const run_chunk *c = r->first; c; c = c->next) {
    const uint8_t *p = (const uint8_t *)(c + 1), *end = p + c->used;
    while (p < end) {
      pb_str k;
      pb_value v;
      rec_read(p, &k, &v);
      if (i == 0) k0 = k;
      size_t l = common(k0, k);
      if (l < skip) skip = l;
      ix[i++] = (run_ix){0, p};
      p += REC_HEAD + fixed_len(v.kind) + k.len + payload(&v).len;
    }
  }
  assert(i == n);
  for (i = 0; i < n; i++) ix[i].pfx = key_pfx(rec_key(ix[i].rec), skip);
  ix_sort(ix, tmp, n);
  free(tmp);
  const uint8_t **idx = malloc(n * sizeof *idx);
  if (!idx) {
    free(ix);
    return PB_ENOMEM;
  }
  size_t m = 0;
  for (i = 0; i < n; i++)
    if (i + 1 == n || ix_cmp(&ix[i], &ix[i + 1]) != 0) idx[m++] = ix[i].rec;
  free(ix);
  r->idx = idx;
  r->m = m;
  return PB_OK;
}

/* pb__dict_at_fn over a sorted run. */
static void run_at(const void *ctx, size_t i, pb_str *key, pb_value *val) {
  const pb__run *r = ctx;
  assert(i < r->m);
  rec_read(r->idx[i], key, val);
}

int pb__tcoll_settle(pb__tcoll *t) {
  pb__run *r = t->run;
  if (t->broken != PB_OK) return t->broken;
  if (!r) return PB_OK;
  assert(t->kind == PB_VALUE_DICT && t->n_ops > 0 &&
         t->ops[t->n_ops - 1].run == r && r->n > 0);
  uint64_t count;
  int rc = pb__dict_count(t->c.d, &count);
  if (rc == PB_OK && !r->idx) rc = run_sort(r);
  if (rc == PB_OK && count == 0) {
    /* Into an empty Dictionary: the tree is written as it is built, and
     * the log goes (the written tree holds every put). */
    rc = pb__dict_bulk_write(t->c.d, t->env->sink, run_at, r, r->m,
                             &r->root);
    if (rc == PB_OK) {
      r->built = true;
      free(r->idx);
      r->idx = NULL;
      free(r->hx);
      r->hx = NULL;
      r->hx_cap = r->hx_used = 0;
      while (!r->viewed && r->first) {
        run_chunk *c = r->first;
        r->first = c->next;
        free(c);
      }
      r->last = NULL;
    }
  } else if (rc == PB_OK) {
    rc = pb__dict_merge(t->c.d, run_at, r, r->m);
    if (rc != PB_OK) t->broken = rc; /* the handle holds part of it */
  }
  if (rc == PB_OK) t->run = NULL;
  return rc;
}

int pb__tcoll_dict_put(pb__tcoll *t, pb_str key, const pb_value *v) {
  pb_value k = {.kind = PB_VALUE_STRING, .as.s = key};
  if (!pb__value_valid(&k)) return PB_EINVAL;
  int rc = pb__value_check(v);
  if (rc == PB_OK) rc = check_write(t);
  if (rc != PB_OK) return rc;
  if (key.len > PB__DICT_KEY_MAX) return PB_ETOOBIG;
  if (payload(v).len > UINT32_MAX) return PB_ETOOBIG;
  if (!t->run && !t->nested) { /* a root: a run only into an empty one */
    uint64_t n;
    if ((rc = pb__dict_count(t->c.d, &n)) != PB_OK) return rc;
    if (n > 0) {
      rc = change(t, PB__OP_PUT, &k, v);
      if (rc == PB_OK) detach_kid(t, key);
      return rc;
    }
  }
  if (!t->run) { /* a new run: its op first */
    if ((rc = log_reserve(t)) != PB_OK) return rc;
    pb__run *r = calloc(1, sizeof *r);
    if (!r) return PB_ENOMEM;
    pb__op *op = &t->ops[t->n_ops++];
    memset(op, 0, sizeof *op);
    op->kind = PB__OP_RUN;
    op->run = r;
    t->run = r;
  }
  rc = rec_append(t->run, key, v);
  if (rc != PB_OK) {
    if (t->run->n == 0) { /* drop the empty run */
      run_free(t->run);
      t->run = NULL;
      t->n_ops--;
    }
    return rc;
  }
  if (t->run->idx) { /* sorted by a settle that then failed: stale now */
    free(t->run->idx);
    t->run->idx = NULL;
  }
  t->changed = true;
  detach_kid(t, key);
  return PB_OK;
}

int pb__tcoll_dict_remove(pb__tcoll *t, pb_str key) {
  pb_value k = {.kind = PB_VALUE_STRING, .as.s = key};
  if (!pb__value_valid(&k)) return PB_EINVAL;
  int rc = change(t, PB__OP_REMOVE, &k, NULL);
  if (rc == PB_OK) detach_kid(t, key);
  return rc;
}

int pb__tcoll_hash_put(pb__tcoll *t, const pb_value *key, const pb_value *v) {
  int rc = pb__value_check(key);
  if (rc == PB_OK) rc = pb__value_check(v);
  return rc == PB_OK ? change(t, PB__OP_PUT, key, v) : rc;
}

int pb__tcoll_hash_remove(pb__tcoll *t, const pb_value *key) {
  if (!pb__value_valid(key)) return PB_EINVAL;
  return change(t, PB__OP_REMOVE, key, NULL);
}

int pb__tcoll_set_add(pb__tcoll *t, const pb_value *e, bool *added) {
  bool had = false;
  int rc = pb__value_check(e);
  if (rc == PB_OK) rc = check_write(t);
  if (rc == PB_OK) rc = pb__set_contains(t->c.h, e, &had);
  if (rc == PB_OK) rc = change(t, PB__OP_ADD, e, NULL);
  if (rc == PB_OK && added) *added = !had;
  return rc;
}

int pb__tcoll_set_remove(pb__tcoll *t, const pb_value *e) {
  if (!pb__value_valid(e)) return PB_EINVAL;
  return change(t, PB__OP_REMOVE, e, NULL);
}

int pb__tcoll_list_touch(pb__tcoll *t, const pb_value *v) {
  int rc = v ? pb__value_check(v) : PB_OK;
  if (rc == PB_OK) rc = check_write(t);
  if (rc == PB_OK) t->changed = true;
  return rc;
}

/* --- nested collections --- */

int pb__tcoll_nested(pb__tcoll *parent, pb_str key, pb_value_kind kind,
                     bool create, pb__tcoll **all, pb__tcoll **out) {
  return pb__tcoll_nested_known(parent, key, kind, create, NULL, all, out);
}

int pb__tcoll_nested_known(pb__tcoll *parent, pb_str key, pb_value_kind kind,
                           bool create, const pb_value *known,
                           pb__tcoll **all, pb__tcoll **out) {
  if (parent->kind != PB_VALUE_DICT || !pb_value_is_collection(kind))
    return PB_EINVAL;
  int rc = pb__tcoll_check(parent);
  if (rc == PB_OK) rc = pb__tcoll_settle(parent);
  if (rc != PB_OK) return rc;
  pb__tcoll *open = find_kid(parent, key, NULL);
  if (open) {
    if (open->kind != kind) return PB_ESCHEMA;
    *out = open;
    return PB_OK;
  }
  pb_value v;
  bool created = false;
  if (known) v = *known;
  else rc = pb__dict_get(parent->c.d, key, &v);
  if (rc == PB_ENOTFOUND && create) {
    if (parent->env->read_only) return PB_ERDONLY;
    if (!pb__value_valid(&(pb_value){.kind = PB_VALUE_STRING, .as.s = key}))
      return PB_EINVAL;
    v = (pb_value){.kind = kind}; /* empty: the null root */
    created = true;
    rc = PB_OK;
  }
  if (rc != PB_OK) return rc;
  if (v.kind != kind) return PB_ESCHEMA;
  if (parent->n_kids == parent->cap_kids) {
    size_t cap = parent->cap_kids ? parent->cap_kids * 2 : 4;
    pb__tcoll **kids = realloc(parent->kids, cap * sizeof *kids);
    if (!kids) return PB_ENOMEM;
    parent->kids = kids;
    parent->cap_kids = cap;
  }
  pb_value k = {.kind = PB_VALUE_STRING, .as.s = key};
  pb__op op;
  bool logged = !parent->env->read_only;
  if (logged) {
    rc = log_reserve(parent);
    if (rc == PB_OK) rc = op_prepare(&op, PB__OP_NESTED, &k, NULL);
    if (rc != PB_OK) return rc;
  }
  pb__tcoll *child = NULL;
  rc = pb__tcoll_open(parent->env, kind, v.as.ref, all, &child);
  if (rc == PB_OK && (rc = set_name(child, key)) != PB_OK)
    detach(child); /* on the list: freed with the rest */
  if (rc == PB_OK) {
    /* A created collection is in its parent at once, as an empty one
     * (not logged: the NESTED op stands for it, and the entry gets the
     * child's real root whenever it is read or flushed). */
    if (created) rc = pb__dict_put(parent->c.d, key, &v);
    if (rc != PB_OK) detach(child); /* on the list: freed with the rest */
  }
  if (rc != PB_OK) {
    if (logged) op_free(&op);
    return rc;
  }
  child->created = created;
  child->nested = true;
  child->changed = created; /* creating is a change: the key must exist */
  parent->kids[parent->n_kids++] = child;
  if (logged) {
    op.child = child;
    parent->ops[parent->n_ops++] = op;
  }
  *out = child;
  return PB_OK;
}

int pb__tcoll_entry(pb__tcoll *t, pb_str key, pb_value *v) {
  if (t->kind != PB_VALUE_DICT || !pb_value_is_collection(v->kind))
    return PB_OK;
  pb__tcoll *k = find_kid(t, key, NULL);
  if (!k) return PB_OK;
  assert(k->kind == v->kind); /* a put of the key would have detached it */
  pb_atom_ptr root;
  int rc = pb__tcoll_flush(k, &root);
  if (rc == PB_OK) v->as.ref = root;
  return rc;
}

int pb__tcoll_dict_get(pb__tcoll *t, pb_str key, pb_value *out) {
  int rc = pb__tcoll_check(t);
  if (rc != PB_OK) return rc;
  const uint8_t *p = NULL;
  /* A pending run holds only puts: the newest put of the key, or else the
   * tree's value, is the key's value, so a get need not settle the run
   * (which would merge it, put by put, between puts).  Without memory
   * for the run's hash, it settles. */
  if (!t->run || t->broken != PB_OK || run_find(t->run, key, &p) != PB_OK)
    rc = pb__tcoll_settle(t);
  if (rc == PB_OK && p) {
    pb_str k;
    rec_read(p, &k, out);
    t->run->viewed = true; /* views into the log: it stays */
    return PB_OK; /* its put detached any open child of the key */
  }
  if (rc == PB_OK) rc = pb__dict_get(t->c.d, key, out);
  if (rc == PB_OK) rc = pb__tcoll_entry(t, key, out);
  return rc;
}

void pb__tcoll_dict_prefetch(pb__tcoll *t, pb_str key) {
  if (t->kind == PB_VALUE_DICT && !t->run && t->broken == PB_OK &&
      pb__tcoll_check(t) == PB_OK)
    pb__dict_prefetch(t->c.d, key);
}

/* --- flush --- */

static bool has_changes(const pb__tcoll *t) {
  if (t->detached) return false;
  if (t->changed) return true;
  for (size_t i = 0; i < t->n_kids; i++)
    if (has_changes(t->kids[i])) return true;
  return false;
}

bool pb__tcoll_dirty(const pb__tcoll *t) {
  if (t->detached) return false;
  if (handle_dirty(t) || t->changed) return true;
  for (size_t i = 0; i < t->n_kids; i++)
    if (pb__tcoll_dirty(t->kids[i])) return true;
  return false;
}

int pb__tcoll_flush(pb__tcoll *t, pb_atom_ptr *root) {
  int src = pb__tcoll_settle(t);
  if (src != PB_OK) return src;
  for (size_t i = 0; i < t->n_kids; i++) {
    pb__tcoll *k = t->kids[i];
    pb_atom_ptr r;
    int rc = pb__tcoll_flush(k, &r);
    if (rc != PB_OK) return rc;
    pb_value want = {.kind = k->kind, .as.ref = r}, cur;
    rc = pb__dict_get(t->c.d, k->name, &cur);
    if (rc == PB_ENOTFOUND || (rc == PB_OK && !pb__value_equal(&cur, &want)))
      rc = pb__dict_put(t->c.d, k->name, &want);
    if (rc != PB_OK) return rc;
  }
  if (!handle_dirty(t)) {
    *root = handle_base(t);
    return PB_OK;
  }
  return handle_flush(t, root);
}

/* --- rebase --- */

/* Looks `key` up in a Dictionary or HashDictionary handle; *found tells
 * whether it is there. */
static int lookup(pb_value_kind kind, handle h, const pb_value *key,
                  pb_value *out, bool *found) {
  int rc = kind == PB_VALUE_DICT ? pb__dict_get(h.d, key->as.s, out)
                                 : pb__hash_get(h.h, key, out);
  *found = rc == PB_OK;
  return rc == PB_ENOTFOUND ? PB_OK : rc;
}

static bool same(bool fa, const pb_value *a, bool fb, const pb_value *b) {
  if (fa != fb) return false;
  return !fa || pb__value_equal(a, b);
}

/* Reopens t on `theirs`, detaching its children (for a tcoll without
 * changes: nothing to replay). */
static int reopen(pb__tcoll *t, pb_atom_ptr theirs) {
  handle h, old;
  int rc = handle_open(t->env, t->kind, theirs, &h);
  if (rc != PB_OK) return rc;
  memcpy(&old, &t->c, sizeof old);
  handle_free(t->kind, old);
  memcpy(&t->c, &h, sizeof h);
  t->base = theirs;
  t->run = NULL; /* none without changes; a detached one's is dropped */
  for (size_t i = 0; i < t->n_kids; i++) detach(t->kids[i]);
  t->n_kids = 0;
  return PB_OK;
}

/*
 * Replays a NESTED op of `t`: moves the child onto what `mine` (their
 * root with my earlier ops replayed) holds at its key.  That is their
 * version of the collection the child was opened on: my earlier ops on
 * the key are in mine (a child opened after I removed its key was
 * created, and starts empty), and a later put or remove of the key
 * detached the child.  A child created here goes back into mine as an
 * empty collection at once, like when it was opened.
 */
static int replay_nested(pb__tcoll *t, pb__op *op, handle mine) {
  pb__tcoll *child = op->child;
  if (child->detached) return PB_OK;
  pb_value m;
  bool fm;
  int rc = lookup(PB_VALUE_DICT, mine, &op->key, &m, &fm);
  if (rc != PB_OK) return rc;
  bool usable = fm && m.kind == child->kind;
  if (!has_changes(child)) { /* only read: follow theirs, or let go */
    if (usable) return pb__tcoll_rebase(child, m.as.ref, &(bool){false});
    size_t at;
    if (find_kid(t, child->name, &at) == child)
      t->kids[at] = t->kids[--t->n_kids];
    detach(child);
    return PB_OK;
  }
  if (fm && !usable) return PB_ECONFLICT; /* they made it another kind */
  if (!fm && !child->created) return PB_ECONFLICT; /* they removed it */
  bool merged;
  rc = pb__tcoll_rebase(child, fm ? m.as.ref : (pb_atom_ptr){0, 0, 0},
                        &merged);
  if (rc == PB_OK && !fm) {
    pb_value empty = {.kind = child->kind};
    rc = pb__dict_put(mine.d, op->key.as.s, &empty);
  }
  return rc;
}

static int replay_run(pb__tcoll *tc, const pb__run *r, handle base,
                      handle theirs, handle mine);

/* Replays one op of tc onto `mine` after checking it against what they
 * did. */
static int replay(pb__tcoll *tc, pb__op *op, handle base, handle theirs,
                  handle mine) {
  pb_value_kind kind = tc->kind;
  if (op->kind == PB__OP_NESTED) return replay_nested(tc, op, mine);
  if (op->kind == PB__OP_RUN)
    return replay_run(tc, op->run, base, theirs, mine);
  pb_value b, t;
  bool fb, ft;
  int rc;
  if (kind == PB_VALUE_SET) {
    rc = pb__set_contains(base.h, &op->key, &fb);
    if (rc == PB_OK) rc = pb__set_contains(theirs.h, &op->key, &ft);
    if (rc != PB_OK) return rc;
    if (fb != ft && ft != (op->kind == PB__OP_ADD)) return PB_ECONFLICT;
  } else {
    rc = lookup(kind, base, &op->key, &b, &fb);
    if (rc == PB_OK) rc = lookup(kind, theirs, &op->key, &t, &ft);
    if (rc != PB_OK) return rc;
    /* Snapshot isolation: the first committer of a key wins, even when
     * both wrote the same value (two increments of 5 both write 6). */
    if (!same(fb, &b, ft, &t)) return PB_ECONFLICT;
  }
  return apply(kind, mine, op);
}

/* Replays a settled run: the last put of each key, as a PUT (every put
 * of a key is checked against the same base and theirs, and the last one
 * wins).  A run built into an empty Dictionary is read back from the tree
 * it wrote. */
static int replay_run(pb__tcoll *tc, const pb__run *r, handle base,
                      handle theirs, handle mine) {
  pb__op op = {.kind = PB__OP_PUT, .key = {.kind = PB_VALUE_STRING}};
  int rc = PB_OK;
  if (!r->built) {
    assert(r->idx);
    for (size_t i = 0; rc == PB_OK && i < r->m; i++) {
      rec_read(r->idx[i], &op.key.as.s, &op.val);
      rc = replay(tc, &op, base, theirs, mine);
    }
    return rc;
  }
  pb__dict *tree;
  pb__dict_iter *it = NULL;
  rc = pb__dict_open(tc->env->src, r->root, &tree);
  if (rc != PB_OK) return rc;
  rc = pb__dict_iter_open(tree, NULL, false, &it);
  while (rc == PB_OK &&
         (rc = pb__dict_iter_next(it, &op.key.as.s, &op.val)) == PB_OK)
    rc = replay(tc, &op, base, theirs, mine);
  if (rc == PB_ENOTFOUND) rc = PB_OK; /* the end */
  pb__dict_iter_free(it);
  pb__dict_free(tree);
  return rc;
}

int pb__tcoll_rebase(pb__tcoll *t, pb_atom_ptr theirs, bool *merged) {
  if (pb_atom_ptr_equal(theirs, t->base)) return PB_OK;
  if (!has_changes(t)) return reopen(t, theirs);
  if (t->kind == PB_VALUE_LIST) return PB_ECONFLICT; /* any change */
  *merged = true;
  int rc = pb__tcoll_settle(t); /* (flush has settled it already) */
  if (rc != PB_OK) return rc;
  handle base = {0}, their = {0}, mine = {0};
  rc = handle_open(t->env, t->kind, t->base, &base);
  if (rc == PB_OK) rc = handle_open(t->env, t->kind, theirs, &their);
  if (rc == PB_OK) rc = handle_open(t->env, t->kind, theirs, &mine);
  for (size_t i = 0; rc == PB_OK && i < t->n_ops; i++)
    rc = replay(t, &t->ops[i], base, their, mine);
  if (base.d) handle_free(t->kind, base);
  if (their.d) handle_free(t->kind, their);
  if (rc != PB_OK) {
    if (mine.d) handle_free(t->kind, mine);
    return rc;
  }
  handle old;
  memcpy(&old, &t->c, sizeof old);
  handle_free(t->kind, old);
  memcpy(&t->c, &mine, sizeof mine);
  t->base = theirs;
  t->run = NULL; /* settled: mine has every logged put */
  return PB_OK;
}

/* --- absorption: combined commits (tcoll.h, txn.c) --- */

/* Settles t and every open collection under it. */
static int settle_all(pb__tcoll *t) {
  if (t->detached) return PB_OK;
  int rc = pb__tcoll_settle(t);
  for (size_t i = 0; rc == PB_OK && i < t->n_kids; i++)
    rc = settle_all(t->kids[i]);
  return rc;
}

/* Sorts the pending run of t and of every open collection under it (the
 * index a settle then reuses), without merging it into the handle: what
 * absorption reads of a waiting commit's puts. */
static int sort_all(pb__tcoll *t) {
  if (t->detached) return PB_OK;
  int rc = t->broken;
  if (rc == PB_OK && t->run && !t->run->idx) rc = run_sort(t->run);
  for (size_t i = 0; rc == PB_OK && i < t->n_kids; i++)
    rc = sort_all(t->kids[i]);
  return rc;
}

/* Whether op (a PUT or REMOVE, or a RUN's puts) of t touches `key`. */
static bool op_touches(const pb__op *op, pb_str key) {
  if (op->kind == PB__OP_PUT || op->kind == PB__OP_REMOVE)
    return op->key.as.s.len == key.len &&
           memcmp(op->key.as.s.ptr, key.ptr, key.len) == 0;
  if (op->kind != PB__OP_RUN) return false;
  for (size_t i = 0; i < op->run->m; i++) {
    pb_str k;
    pb_value v;
    rec_read(op->run->idx[i], &k, &v);
    if (k.len == key.len && memcmp(k.ptr, key.ptr, key.len) == 0) return true;
  }
  return false;
}

/* Counts one change of `key` to `v` (NULL: a remove) into *n and *bytes;
 * false once either passes its bound. */
static bool absorb_count(pb_str key, const pb_value *v, size_t *n,
                         size_t *bytes) {
  *n += 1;
  *bytes += key.len + (v ? payload(v).len : 0);
  return *n <= PB__ABSORB_MAX_CHANGES && *bytes <= PB__ABSORB_MAX_BYTES;
}

/* Whether b (its runs sorted) can be absorbed, counting its changes into
 * *n and their keys' and values' bytes into *bytes: Dictionaries whose
 * logs hold puts and removes (a run's puts sorted, pending or merged, not
 * built into an empty Dictionary) and nested Dictionaries of the same
 * shape, opened on keys that b did not also put or remove, none created
 * by b. */
static bool absorbable(const pb__tcoll *b, size_t *n, size_t *bytes) {
  if (b->kind != PB_VALUE_DICT || b->broken != PB_OK || b->created ||
      (b->run && !b->run->idx))
    return false;
  for (size_t i = 0; i < b->n_ops; i++) {
    const pb__op *op = &b->ops[i];
    if (op->kind == PB__OP_PUT || op->kind == PB__OP_REMOVE) {
      if (!absorb_count(op->key.as.s, op->kind == PB__OP_PUT ? &op->val : NULL,
                        n, bytes))
        return false;
    } else if (op->kind == PB__OP_RUN) {
      if (op->run->built || !op->run->idx) return false;
      for (size_t j = 0; j < op->run->m; j++) {
        pb_str k;
        pb_value v;
        rec_read(op->run->idx[j], &k, &v);
        if (!absorb_count(k, &v, n, bytes)) return false;
      }
    } else if (op->kind == PB__OP_NESTED) {
      const pb__tcoll *c = op->child;
      if (c->detached || !has_changes(c)) continue;
      for (size_t j = 0; j < b->n_ops; j++)
        if (op_touches(&b->ops[j], c->name)) return false;
      if (!absorbable(c, n, bytes)) return false;
    } else {
      return false;
    }
  }
  return true;
}

/* Checks b's change of `key` against what the combined state (a, or the
 * handle `theirs` when a has no tcoll here) holds: b's base and the
 * combined state must agree on the key, as a rebase checks it; a key
 * whose nested collection a has open counts as changed. */
static int absorb_check_key(const pb__tcoll *a, handle base, handle theirs,
                            pb_str key) {
  if (a && find_kid(a, key, NULL)) return PB_ECONFLICT;
  pb_value k = {.kind = PB_VALUE_STRING, .as.s = key}, vb, vt;
  bool fb, ft;
  int rc = lookup(PB_VALUE_DICT, base, &k, &vb, &fb);
  if (rc == PB_OK) rc = lookup(PB_VALUE_DICT, theirs, &k, &vt, &ft);
  if (rc == PB_OK && !same(fb, &vb, ft, &vt)) rc = PB_ECONFLICT;
  return rc;
}

/* Checks every change of b against the combined state: a (the absorbing
 * transaction's tcoll at this place, settled), or, when a is NULL, the
 * collection at `root` (read through env).  Changes nothing. */
static int absorb_check(const pb__tcoll_env *env, const pb__tcoll *a,
                        pb_atom_ptr root, const pb__tcoll *b) {
  handle base = {0}, tmp = {0};
  int rc = handle_open(b->env, PB_VALUE_DICT, b->base, &base);
  if (rc == PB_OK && !a) rc = handle_open(env, PB_VALUE_DICT, root, &tmp);
  handle theirs = a ? (handle){.d = a->c.d} : tmp;
  for (size_t i = 0; rc == PB_OK && i < b->n_ops; i++) {
    const pb__op *op = &b->ops[i];
    if (op->kind == PB__OP_PUT || op->kind == PB__OP_REMOVE) {
      rc = absorb_check_key(a, base, theirs, op->key.as.s);
    } else if (op->kind == PB__OP_RUN) {
      for (size_t j = 0; rc == PB_OK && j < op->run->m; j++) {
        pb_str k;
        pb_value v;
        rec_read(op->run->idx[j], &k, &v);
        rc = absorb_check_key(a, base, theirs, k);
      }
    } else if (op->kind == PB__OP_NESTED) {
      const pb__tcoll *c = op->child;
      if (c->detached || !has_changes(c)) continue;
      const pb__tcoll *ak = a ? find_kid(a, c->name, NULL) : NULL;
      if (ak) {
        rc = ak->kind != c->kind || ak->detached
                 ? PB_ECONFLICT
                 : absorb_check(env, ak, (pb_atom_ptr){0, 0, 0}, c);
      } else {
        pb_value v;
        bool found;
        rc = lookup(PB_VALUE_DICT, theirs, &op->key, &v, &found);
        if (rc == PB_OK && (!found || v.kind != c->kind)) rc = PB_ECONFLICT;
        if (rc == PB_OK) rc = absorb_check(env, NULL, v.as.ref, c);
      }
    }
  }
  if (base.d) handle_free(PB_VALUE_DICT, base);
  if (tmp.d) handle_free(PB_VALUE_DICT, tmp);
  return rc;
}

/* Applies b's changes (checked) to a's handles, unlogged: a rebase of a
 * drops them (it rebuilds from a's own log), and the flush writes them.
 * A nested collection a has not opened is opened (only read, as far as
 * a's log says). */
static int absorb_apply(pb__tcoll *a, pb__tcoll **all, const pb__tcoll *b) {
  int rc = PB_OK;
  for (size_t i = 0; rc == PB_OK && i < b->n_ops; i++) {
    const pb__op *op = &b->ops[i];
    if (op->kind == PB__OP_PUT || op->kind == PB__OP_REMOVE) {
      rc = apply(PB_VALUE_DICT, (handle){.d = a->c.d}, op);
    } else if (op->kind == PB__OP_RUN) {
      pb__op put = {.kind = PB__OP_PUT, .key = {.kind = PB_VALUE_STRING}};
      for (size_t j = 0; rc == PB_OK && j < op->run->m; j++) {
        rec_read(op->run->idx[j], &put.key.as.s, &put.val);
        rc = apply(PB_VALUE_DICT, (handle){.d = a->c.d}, &put);
      }
    } else if (op->kind == PB__OP_NESTED) {
      const pb__tcoll *c = op->child;
      if (c->detached || !has_changes(c)) continue;
      pb__tcoll *ak = NULL;
      rc = pb__tcoll_nested(a, c->name, c->kind, false, all, &ak);
      if (rc == PB_OK) rc = absorb_apply(ak, all, c);
    }
  }
  return rc;
}

int pb__tcoll_absorb(pb__tcoll *a, pb__tcoll **all, pb__tcoll *b,
                     bool *applied) {
  *applied = false;
  if (a->kind != PB_VALUE_DICT || a->detached || b->detached) return PB_EINVAL;
  int rc = sort_all(b);
  size_t n = 0, bytes = 0;
  if (rc != PB_OK || !absorbable(b, &n, &bytes)) return PB_EINVAL;
  if ((rc = settle_all(a)) != PB_OK) return rc;
  rc = absorb_check(a->env, a, (pb_atom_ptr){0, 0, 0}, b);
  if (rc != PB_OK) return rc == PB_ECONFLICT ? rc : PB_EINVAL;
  *applied = true; /* from here on a holds part of b on a failure */
  return absorb_apply(a, all, b);
}

size_t pb__tcoll_gone(const pb__tcoll *t, const pb_atom_ptr **out) {
  *out = NULL;
  if (t->kind != PB_VALUE_DICT || t->detached || !t->c.d) return 0;
  return pb__dict_gone(t->c.d, out);
}
