/*
 * txn/tcoll.c - collections inside a transaction: logged changes, flush,
 * and the three-way merge by replay (see tcoll.h).
 */
#include "txn/tcoll.h"

#include <assert.h>
#include <stdlib.h>
#include <string.h>

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

static void op_free(pb__op *op) {
  free(op->key_owned);
  free(op->val_owned);
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
    pb_arena_destroy(t->run_arena);
    t->run_arena = NULL;
    t->run_n = 0;
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
  case PB__OP_NESTED:
    break; /* the child's flush writes it */
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

/* --- the run of puts into an empty Dictionary (tcoll.h) --- */

/* The payload a value points to (none for most kinds). */
static pb_bytes payload(const pb_value *v) {
  if (v->kind == PB_VALUE_STRING)
    return (pb_bytes){(const uint8_t *)v->as.s.ptr, v->as.s.len};
  if (v->kind == PB_VALUE_BYTES) return v->as.bytes;
  if (v->kind == PB_VALUE_RECORD) return v->as.rec.body;
  return (pb_bytes){NULL, 0};
}

/* Points v's payload at `at`. */
static void repoint(pb_value *v, const uint8_t *at) {
  if (v->kind == PB_VALUE_STRING)
    v->as.s.ptr = (const char *)at;
  else if (v->kind == PB_VALUE_BYTES)
    v->as.bytes.ptr = at;
  else if (v->kind == PB_VALUE_RECORD)
    v->as.rec.body.ptr = at;
}

/* Whether a put into t joins (or starts) the run: t is a Dictionary with
 * a run already, or an empty one. */
static int run_takes(pb__tcoll *t, bool *yes) {
  *yes = t->run_n > 0;
  if (*yes) return PB_OK;
  uint64_t n;
  int rc = pb__dict_count(t->c.d, &n);
  *yes = rc == PB_OK && n == 0;
  return rc;
}

/* Logs a checked put into the run: one copy of key and value. */
static int run_put(pb__tcoll *t, pb_str key, const pb_value *v) {
  int rc = log_reserve(t);
  if (rc != PB_OK) return rc;
  if (!t->run_arena && pb_arena_create(&t->run_arena) != PB_OK)
    return PB_ENOMEM;
  pb_bytes pay = payload(v);
  if (pay.len > SIZE_MAX - key.len) return PB_ENOMEM;
  pb__op *op = &t->ops[t->n_ops];
  memset(op, 0, sizeof *op);
  op->kind = PB__OP_PUT;
  op->key = (pb_value){.kind = PB_VALUE_STRING, .as.s = key};
  op->val = *v;
  if (key.len + pay.len > 0) {
    uint8_t *mem = pb_arena_alloc(t->run_arena, key.len + pay.len);
    if (!mem) return PB_ENOMEM;
    if (key.len) memcpy(mem, key.ptr, key.len);
    if (pay.len) memcpy(mem + key.len, pay.ptr, pay.len);
    op->key.as.s.ptr = key.len ? (const char *)mem : NULL;
    repoint(&op->val, pay.len ? mem + key.len : NULL);
  }
  t->n_ops++;
  t->run_n++;
  t->changed = true;
  return PB_OK;
}

int pb__tcoll_settle(pb__tcoll *t) {
  if (t->run_n == 0) return PB_OK;
  assert(t->kind == PB_VALUE_DICT && t->run_n <= t->n_ops);
  const pb__op *run = &t->ops[t->n_ops - t->run_n];
#ifndef NDEBUG
  for (size_t i = 0; i < t->run_n; i++)
    assert(run[i].kind == PB__OP_PUT && !run[i].key_owned &&
           !run[i].val_owned);
#endif
  int rc = pb__dict_bulk_adopt(t->c.d, &run->key.as.s, &run->val,
                               sizeof *run, t->run_n);
  if (rc == PB_OK) t->run_n = 0;
  return rc;
}

int pb__tcoll_dict_put(pb__tcoll *t, pb_str key, const pb_value *v) {
  pb_value k = {.kind = PB_VALUE_STRING, .as.s = key};
  if (!pb__value_valid(&k)) return PB_EINVAL;
  int rc = pb__value_check(v);
  if (rc == PB_OK) rc = check_write(t);
  bool run = false;
  if (rc == PB_OK) rc = run_takes(t, &run);
  if (rc == PB_OK && run) {
    if (key.len > PB__DICT_KEY_MAX) return PB_ETOOBIG;
    rc = run_put(t, key, v);
  } else if (rc == PB_OK) {
    rc = change(t, PB__OP_PUT, &k, v);
  }
  if (rc == PB_OK) detach_kid(t, key);
  return rc;
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
  if (rc == PB_OK && child->name_cap < key.len + 1) {
    char *buf = realloc(child->name_buf, key.len + 1);
    if (buf) {
      child->name_buf = buf;
      child->name_cap = key.len + 1;
    } else {
      rc = PB_ENOMEM;
      detach(child); /* on the list: freed with the rest */
    }
  }
  if (rc == PB_OK) {
    memcpy(child->name_buf, key.ptr, key.len);
    child->name_buf[key.len] = '\0';
    child->name = (pb_str){child->name_buf, key.len};
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
  if (rc == PB_OK) rc = pb__tcoll_settle(t);
  if (rc == PB_OK) rc = pb__dict_get(t->c.d, key, out);
  if (rc == PB_OK) rc = pb__tcoll_entry(t, key, out);
  return rc;
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
  t->run_n = 0; /* none without changes; a detached one's is dropped */
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

/* Replays one op of tc onto `mine` after checking it against what they
 * did. */
static int replay(pb__tcoll *tc, pb__op *op, handle base, handle theirs,
                  handle mine) {
  pb_value_kind kind = tc->kind;
  if (op->kind == PB__OP_NESTED) return replay_nested(tc, op, mine);
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

int pb__tcoll_rebase(pb__tcoll *t, pb_atom_ptr theirs, bool *merged) {
  if (pb_atom_ptr_equal(theirs, t->base)) return PB_OK;
  if (!has_changes(t)) return reopen(t, theirs);
  if (t->kind == PB_VALUE_LIST) return PB_ECONFLICT; /* any change */
  *merged = true;
  handle base = {0}, their = {0}, mine = {0};
  int rc = handle_open(t->env, t->kind, t->base, &base);
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
  t->run_n = 0; /* mine has every logged put */
  return PB_OK;
}
