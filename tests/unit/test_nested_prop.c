/*
 * test_nested_prop.c - a property test of nested collections in
 * transactions (issue 13, "Visibility"): random creates, replaces,
 * removes, copies, puts and reads of Dictionaries, Lists, Sets and
 * HashDictionaries nested up to MAX_DEPTH levels under the database
 * root, checked against a simple in-memory model
 *   - inside the transaction after every step (everything it did is seen
 *     by its own reads, at every level),
 *   - after commit or abort, in a new transaction,
 *   - after closing and reopening the storage.
 * Some transactions abort; in some, another thread commits meanwhile
 * (puts, removes and new empty Dictionaries under keys named "~n", in
 * Dictionaries that exist, its own included), so that the commit
 * rebases.  Such a commit must conflict exactly as predict_conflict says
 * (the rules of txn/tcoll.h); otherwise both sides' changes are kept.
 * Fixed seeds; file storage with the default options (PB_DURABILITY_SYNC).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "protobase/protobase.h"
#include "support/collstore.h"
#include "test_util.h"

#define MAX_DEPTH 3   /* collections live at depths 1..MAX_DEPTH */
#define N_KEYS 4      /* my keys: "a" .. "d" */
#define N_BG_KEYS 3   /* the other thread's: "~0" .. "~2" */
#define MAX_ELEMS 12  /* entries of a List, Set or HashDictionary */
#define KEYLEN 8
#define MAX_PATHS 256 /* logged puts and removes per transaction */

/* --- the model --- */

typedef struct mnode mnode;

typedef struct ment {
  char key[KEYLEN];   /* Dictionary key */
  int64_t k;          /* Set element, HashDictionary key */
  pb_value_kind kind; /* PB_VALUE_INT, or a collection kind (c) */
  int64_t i;          /* the INT value (List item, HashDictionary value) */
  mnode *c;
} ment;

struct mnode {
  pb_value_kind kind;
  ment *e; /* Dictionary: sorted by key; Set: by k; others: as is */
  size_t n, cap;
};

static mnode *m_new(pb_value_kind kind) {
  mnode *m = calloc(1, sizeof *m);
  assert_non_null(m);
  m->kind = kind;
  return m;
}

static void m_free(mnode *m) {
  if (!m) return;
  for (size_t i = 0; i < m->n; i++) m_free(m->e[i].c);
  free(m->e);
  free(m);
}

static mnode *m_copy(const mnode *m) {
  mnode *c = m_new(m->kind);
  c->cap = c->n = m->n;
  c->e = calloc(m->n ? m->n : 1, sizeof *c->e);
  assert_non_null(c->e);
  for (size_t i = 0; i < m->n; i++) {
    c->e[i] = m->e[i];
    if (m->e[i].c) c->e[i].c = m_copy(m->e[i].c);
  }
  return c;
}

/* Index of Dictionary key `key` (or where it would go, *found false). */
static size_t m_find(const mnode *m, const char *key, bool *found) {
  size_t i = 0;
  while (i < m->n && strcmp(m->e[i].key, key) < 0) i++;
  *found = i < m->n && strcmp(m->e[i].key, key) == 0;
  return i;
}

static size_t m_find_k(const mnode *m, int64_t k, bool *found) {
  size_t i = 0;
  while (i < m->n && m->e[i].k < k) i++;
  *found = i < m->n && m->e[i].k == k;
  return i;
}

static void m_insert_at(mnode *m, size_t at, const ment *e) {
  if (m->n == m->cap) {
    m->cap = m->cap ? m->cap * 2 : 8;
    m->e = realloc(m->e, m->cap * sizeof *m->e);
    assert_non_null(m->e);
  }
  memmove(&m->e[at + 1], &m->e[at], (m->n - at) * sizeof *m->e);
  m->e[at] = *e;
  m->n++;
}

static void m_remove_at(mnode *m, size_t at) {
  m_free(m->e[at].c);
  memmove(&m->e[at], &m->e[at + 1], (m->n - at - 1) * sizeof *m->e);
  m->n--;
}

/* Dictionary: key := e (takes e->c). */
static void m_put(mnode *m, const char *key, ment e) {
  bool found;
  size_t at = m_find(m, key, &found);
  snprintf(e.key, KEYLEN, "%s", key);
  if (found) {
    m_free(m->e[at].c);
    m->e[at] = e;
  } else {
    m_insert_at(m, at, &e);
  }
}

/* The Dictionary at `path` (depth entries), or NULL. */
static mnode *m_at(mnode *root, char (*path)[KEYLEN], int depth) {
  mnode *m = root;
  for (int i = 0; i < depth; i++) {
    bool found;
    size_t at = m_find(m, path[i], &found);
    if (!found || m->e[at].kind != PB_VALUE_DICT) return NULL;
    m = m->e[at].c;
  }
  return m;
}

static bool debug; /* PB_PROP_DEBUG set: print the steps */

/* --- the random source (xorshift64*, fixed seeds) --- */

static uint64_t rng;
static unsigned rnd(unsigned n) {
  rng ^= rng >> 12;
  rng ^= rng << 25;
  rng ^= rng >> 27;
  return (unsigned)((rng * 2685821657736338717ull) >> 33) % n;
}

/* --- handles --- */

static const pb_value_kind kinds[] = {PB_VALUE_DICT, PB_VALUE_LIST,
                                      PB_VALUE_SET, PB_VALUE_HASHDICT};

static pb_str S(const char *s) { return pb_str_from_cstr(s); }
static pb_value ival(int64_t i) {
  return (pb_value){.kind = PB_VALUE_INT, .as.i = i};
}

/* Opens child `name` of `kind` in Dictionary d, or in the root (d NULL). */
static int open_child(pb_txn *txn, pb_dict *d, const char *name,
                      pb_value_kind kind, unsigned flags, void **out) {
  switch (kind) {
  case PB_VALUE_DICT:
    return d ? pb_dict_open_dict(d, S(name), flags, (pb_dict **)out)
             : pb_txn_open_dict(txn, name, flags, (pb_dict **)out);
  case PB_VALUE_LIST:
    return d ? pb_dict_open_list(d, S(name), flags, (pb_list **)out)
             : pb_txn_open_list(txn, name, flags, (pb_list **)out);
  case PB_VALUE_SET:
    return d ? pb_dict_open_set(d, S(name), flags, (pb_set **)out)
             : pb_txn_open_set(txn, name, flags, (pb_set **)out);
  default:
    return d ? pb_dict_open_hdict(d, S(name), flags, (pb_hdict **)out)
             : pb_txn_open_hdict(txn, name, flags, (pb_hdict **)out);
  }
}

static int d_get(pb_txn *txn, pb_dict *d, const char *key, pb_value *v) {
  return d ? pb_dict_get(d, S(key), v) : pb_txn_get(txn, key, v);
}
static int d_put(pb_txn *txn, pb_dict *d, const char *key,
                 const pb_value *v) {
  return d ? pb_dict_put(d, S(key), v) : pb_txn_set(txn, key, v);
}
static int d_remove(pb_txn *txn, pb_dict *d, const char *key) {
  return d ? pb_dict_remove(d, S(key)) : pb_txn_remove(txn, key);
}

/* The Dictionary handle at `path` (NULL for the root). */
static pb_dict *dict_at(pb_txn *txn, char (*path)[KEYLEN], int depth) {
  pb_dict *d = NULL;
  for (int i = 0; i < depth; i++) {
    void *c;
    assert_int_equal(open_child(txn, d, path[i], PB_VALUE_DICT, 0, &c),
                     PB_OK);
    d = c;
  }
  return d;
}

static int coll_count(pb_value_kind kind, void *h, uint64_t *n) {
  switch (kind) {
  case PB_VALUE_DICT: return pb_dict_count(h, n);
  case PB_VALUE_LIST: return pb_list_count(h, n);
  case PB_VALUE_SET: return pb_set_count(h, n);
  default: return pb_hdict_count(h, n);
  }
}

/* --- checking a handle against the model --- */

static void check_coll(pb_txn *txn, const mnode *m, void *h);

static void check_value(const ment *e, const pb_value *v) {
  assert_int_equal(v->kind, e->kind);
  if (e->kind == PB_VALUE_INT) assert_int_equal(v->as.i, e->i);
}

/* A Dictionary (d NULL: the database root, which has no count or
 * iteration; every key that may exist is looked up instead). */
static void check_dict(pb_txn *txn, pb_dict *d, const mnode *m) {
  pb_value v;
  if (d) {
    uint64_t n;
    assert_int_equal(pb_dict_count(d, &n), PB_OK);
    assert_int_equal(n, m->n);
    pb_dict_iter *it;
    unsigned flags = rnd(2) ? PB_REVERSE : 0;
    assert_int_equal(pb_dict_iter_open(d, NULL, flags, &it), PB_OK);
    pb_str key;
    for (size_t i = 0; i < m->n; i++) {
      const ment *e = &m->e[flags ? m->n - 1 - i : i];
      assert_int_equal(pb_dict_iter_next(it, &key, &v), PB_OK);
      assert_int_equal(key.len, strlen(e->key));
      assert_memory_equal(key.ptr, e->key, key.len);
      check_value(e, &v);
    }
    assert_int_equal(pb_dict_iter_next(it, &key, &v), PB_ENOTFOUND);
    pb_dict_iter_close(it);
  }
  char key[KEYLEN];
  for (int i = 0; i < N_KEYS + N_BG_KEYS; i++) {
    if (i < N_KEYS) snprintf(key, sizeof key, "%c", 'a' + i);
    else snprintf(key, sizeof key, "~%d", i - N_KEYS);
    bool found;
    size_t at = m_find(m, key, &found);
    int rc = d_get(txn, d, key, &v);
    if (!found) {
      assert_int_equal(rc, PB_ENOTFOUND);
      continue;
    }
    assert_int_equal(rc, PB_OK);
    check_value(&m->e[at], &v);
    if (m->e[at].c) {
      void *c;
      assert_int_equal(open_child(txn, d, key, m->e[at].kind, 0, &c), PB_OK);
      check_coll(txn, m->e[at].c, c);
    }
  }
}

static void check_coll(pb_txn *txn, const mnode *m, void *h) {
  uint64_t n;
  assert_int_equal(coll_count(m->kind, h, &n), PB_OK);
  assert_int_equal(n, m->n);
  pb_value v, k;
  switch (m->kind) {
  case PB_VALUE_DICT:
    check_dict(txn, h, m);
    break;
  case PB_VALUE_LIST: {
    pb_list_iter *it;
    assert_int_equal(pb_list_iter_open(h, 0, UINT64_MAX, &it), PB_OK);
    for (size_t i = 0; i < m->n; i++) {
      assert_int_equal(pb_list_iter_next(it, &v), PB_OK);
      check_value(&m->e[i], &v);
    }
    assert_int_equal(pb_list_iter_next(it, &v), PB_ENOTFOUND);
    pb_list_iter_close(it);
    if (m->n) {
      size_t i = rnd((unsigned)m->n);
      assert_int_equal(pb_list_get(h, i, &v), PB_OK);
      check_value(&m->e[i], &v);
    }
    assert_int_equal(pb_list_get(h, m->n, &v), PB_ERANGE);
    break;
  }
  case PB_VALUE_SET: {
    pb_set_iter *it;
    assert_int_equal(pb_set_iter_open(h, &it), PB_OK);
    size_t seen = 0;
    while (pb_set_iter_next(it, &v) == PB_OK) {
      bool found;
      assert_int_equal(v.kind, PB_VALUE_INT);
      m_find_k(m, v.as.i, &found);
      assert_true(found);
      seen++;
    }
    pb_set_iter_close(it);
    assert_int_equal(seen, m->n);
    for (size_t i = 0; i < m->n; i++) {
      bool in;
      k = ival(m->e[i].k);
      assert_int_equal(pb_set_contains(h, &k, &in), PB_OK);
      assert_true(in);
    }
    break;
  }
  default: {
    pb_hdict_iter *it;
    assert_int_equal(pb_hdict_iter_open(h, &it), PB_OK);
    size_t seen = 0;
    while (pb_hdict_iter_next(it, &k, &v) == PB_OK) {
      bool found;
      assert_int_equal(k.kind, PB_VALUE_INT);
      size_t at = m_find_k(m, k.as.i, &found);
      assert_true(found);
      check_value(&m->e[at], &v);
      seen++;
    }
    pb_hdict_iter_close(it);
    assert_int_equal(seen, m->n);
    for (size_t i = 0; i < m->n; i++) {
      k = ival(m->e[i].k);
      assert_int_equal(pb_hdict_get(h, &k, &v), PB_OK);
      check_value(&m->e[i], &v);
    }
    break;
  }
  }
}

/* --- the run --- */

typedef struct run {
  char *dir;
  pb_storage *st;
  pb_space *sp;
  pb_db *db;
  mnode *committed; /* what a new transaction must see */
  /* this transaction's changes, as "a/b/c" paths: puts and removes of
   * keys (put), creates and changes inside a List, Set or HashDictionary
   * (not put) */
  char paths[MAX_PATHS][MAX_DEPTH * KEYLEN + 1];
  bool put[MAX_PATHS];
  size_t n_paths;
  bool overflow; /* too many to track: the outcome is not predicted */
} run;

static void run_open(run *r) {
  pb_file_options o;
  pb_file_options_init(&o); /* the defaults: PB_DURABILITY_SYNC */
  assert_int_equal(pb_storage_open_file(r->dir, &o, &r->st), PB_OK);
  assert_int_equal(pb_space_open(r->st, &r->sp), PB_OK);
  assert_int_equal(pb_db_open(r->sp, "main", PB_CREATE, &r->db), PB_OK);
}

static void run_close(run *r) {
  assert_int_equal(pb_db_close(r->db), PB_OK);
  assert_int_equal(pb_space_close(r->sp), PB_OK);
}

static void check_committed(run *r) {
  pb_txn *txn;
  assert_int_equal(pb_txn_begin(r->db, PB_RDONLY, &txn), PB_OK);
  check_dict(txn, NULL, r->committed);
  assert_int_equal(pb_txn_commit(txn), PB_OK);
}

static void join_path(char *out, char (*path)[KEYLEN], int depth,
                      const char *key) {
  out[0] = '\0';
  for (int i = 0; i < depth; i++) {
    strcat(out, path[i]);
    strcat(out, "/");
  }
  strcat(out, key);
}

static void log_path(run *r, char (*path)[KEYLEN], int depth,
                     const char *key, bool put) {
  if (r->n_paths == MAX_PATHS) {
    r->overflow = true;
    return;
  }
  r->put[r->n_paths] = put;
  join_path(r->paths[r->n_paths++], path, depth, key);
}

/* The other thread's commit: a put (of an INT, or of a new empty
 * Dictionary) or remove of "~n" in the Dictionary at `path` of the
 * committed state.  The transactions of the test walk into such
 * Dictionaries too, but only ever change keys "a" .. "d". */
typedef struct bg_job {
  pb_db *db;
  char path[MAX_DEPTH][KEYLEN];
  int depth;
  char key[KEYLEN];
  bool put;
  bool mkdict;       /* put a new empty Dictionary */
  bool removed_coll; /* it removes or replaces a collection */
  int64_t val;
  bool changed; /* it changed something (a missing key was not removed) */
  int rc;
} bg_job;

static void *bg_main(void *arg) {
  bg_job *j = arg;
  pb_txn *txn;
  j->rc = pb_txn_begin(j->db, 0, &txn);
  if (j->rc != PB_OK) return NULL;
  pb_dict *d = NULL;
  for (int i = 0; i < j->depth && j->rc == PB_OK; i++)
    j->rc = d ? pb_dict_open_dict(d, S(j->path[i]), 0, &d)
              : pb_txn_open_dict(txn, j->path[i], 0, &d);
  pb_value v = ival(j->val);
  if (j->rc == PB_OK && j->mkdict) {
    j->rc = d_remove(txn, d, j->key);
    void *c;
    if (j->rc == PB_OK || j->rc == PB_ENOTFOUND)
      j->rc = open_child(txn, d, j->key, PB_VALUE_DICT, PB_CREATE, &c);
  } else if (j->rc == PB_OK) {
    j->rc = j->put ? d_put(txn, d, j->key, &v) : d_remove(txn, d, j->key);
  }
  j->changed = j->rc == PB_OK;
  if (j->rc == PB_ENOTFOUND) j->rc = PB_OK; /* removing a missing key */
  if (j->rc == PB_OK) j->rc = pb_txn_commit(txn);
  else pb_txn_abort(txn);
  return NULL;
}

/* Applies a job to a model (the Dictionary at its path exists). */
static void bg_apply(mnode *root, const bg_job *j) {
  if (!j->changed) return;
  mnode *m = m_at(root, (char (*)[KEYLEN])j->path, j->depth);
  assert_non_null(m);
  bool found;
  size_t at = m_find(m, j->key, &found);
  if (j->mkdict)
    m_put(m, j->key, (ment){.kind = PB_VALUE_DICT, .c = m_new(PB_VALUE_DICT)});
  else if (j->put)
    m_put(m, j->key, (ment){.kind = PB_VALUE_INT, .i = j->val});
  else if (found)
    m_remove_at(m, at);
}

/* Picks a random Dictionary of `root` by a random walk. */
static int pick_dict(mnode *root, char (*path)[KEYLEN]) {
  mnode *m = root;
  int depth = 0;
  while (depth < MAX_DEPTH && rnd(3) != 0) {
    size_t dicts[N_KEYS + N_BG_KEYS], n = 0;
    for (size_t i = 0; i < m->n; i++)
      if (m->e[i].kind == PB_VALUE_DICT) dicts[n++] = i;
    if (n == 0) break;
    size_t at = dicts[rnd((unsigned)n)];
    snprintf(path[depth++], KEYLEN, "%s", m->e[at].key);
    m = m->e[at].c;
  }
  return depth;
}

/* Runs the other thread's commit now (it waits for it, so that the run
 * stays deterministic), and records it. */
static void bg_commit(run *r, bg_job *jobs, int *n_jobs) {
  bg_job *j = &jobs[(*n_jobs)++];
  memset(j, 0, sizeof *j);
  j->db = r->db;
  j->depth = pick_dict(r->committed, j->path);
  snprintf(j->key, KEYLEN, "~%u", rnd(N_BG_KEYS));
  j->put = rnd(3) != 0;
  bool found;
  mnode *m = m_at(r->committed, j->path, j->depth);
  size_t at = m_find(m, j->key, &found);
  bool coll = found && m->e[at].c;
  j->mkdict = j->put && !coll && rnd(2);
  j->removed_coll = coll; /* a put of an INT, or a remove */
  /* Two changes of one key may leave it as it was, maybe even its root
   * pointer (a Dictionary empty again), or make it another Dictionary
   * that rebases like the old one: the model could not tell whether that
   * conflicts.  So a transaction sees one change per key of the other
   * thread. */
  if (*n_jobs == 2 && jobs[0].depth == j->depth &&
      strcmp(jobs[0].key, j->key) == 0 &&
      memcmp(jobs[0].path, j->path, sizeof j->path) == 0) {
    (*n_jobs)--;
    return;
  }
  static int64_t next_val = 1000; /* never a value that is there already */
  j->val = next_val++;
  pthread_t th;
  assert_int_equal(pthread_create(&th, NULL, bg_main, j), 0);
  assert_int_equal(pthread_join(th, NULL), 0);
  assert_int_equal(j->rc, PB_OK);
  if (debug) {
    char p[64];
    join_path(p, j->path, j->depth, j->key);
    fprintf(stderr, "  bg %s %s changed %d\n", j->put ? "put" : "remove", p,
            j->changed);
  }
  bg_apply(r->committed, j);
}

/* One random step of a transaction on model w. */
static void step(run *r, pb_txn *txn, mnode *w) {
  char path[MAX_DEPTH][KEYLEN];
  int depth = pick_dict(w, path);
  mnode *m = m_at(w, path, depth);
  pb_dict *d = dict_at(txn, path, depth);
  char key[KEYLEN];
  snprintf(key, sizeof key, "%c", 'a' + rnd(N_KEYS));
  bool found;
  size_t at = m_find(m, key, &found);
  ment *e = found ? &m->e[at] : NULL;
  void *old = NULL; /* the open child a put or remove closes */
  pb_value_kind old_kind = e ? e->kind : PB_VALUE_INT;
  if (e && e->c)
    assert_int_equal(open_child(txn, d, key, e->kind, 0, &old), PB_OK);
  pb_value v;
  unsigned op = rnd(10);
  if (debug) {
    char p[64];
    join_path(p, path, depth, key);
    fprintf(stderr, "  step op %u at %s (%s)\n", op, p,
            found ? (e->c ? "coll" : "int") : "absent");
  }
  if (op == 0) { /* put a plain value */
    v = ival(rnd(100));
    assert_int_equal(d_put(txn, d, key, &v), PB_OK);
    m_put(m, key, (ment){.kind = PB_VALUE_INT, .i = v.as.i});
    log_path(r, path, depth, key, true);
  } else if (op == 1) { /* remove */
    int rc = d_remove(txn, d, key);
    if (!found) {
      assert_int_equal(rc, PB_ENOTFOUND);
      old = NULL;
    } else {
      assert_int_equal(rc, PB_OK);
      m_remove_at(m, at);
      log_path(r, path, depth, key, true);
    }
  } else if (op <= 3 && depth < MAX_DEPTH) { /* create, or replace */
    pb_value_kind kind = kinds[rnd(4)];
    if (found && rnd(2)) { /* replace: remove, then create */
      assert_int_equal(d_remove(txn, d, key), PB_OK);
      m_remove_at(m, at);
      log_path(r, path, depth, key, true);
      found = false;
    }
    at = m_find(m, key, &found);
    void *c;
    int rc = open_child(txn, d, key, kind, PB_CREATE, &c);
    if (found && m->e[at].kind != kind) {
      assert_int_equal(rc, PB_ESCHEMA);
    } else {
      assert_int_equal(rc, PB_OK);
      if (!found) {
        m_put(m, key, (ment){.kind = kind, .c = m_new(kind)});
        log_path(r, path, depth, key, false);
      }
    }
    if (found) old = NULL; /* not replaced: still open */
  } else if (op == 4 && e && e->c) {
    /* copy a collection to another key of the same Dictionary */
    char to[KEYLEN];
    snprintf(to, sizeof to, "%c", 'a' + rnd(N_KEYS));
    if (strcmp(to, key) == 0) return;
    assert_int_equal(d_get(txn, d, key, &v), PB_OK);
    assert_int_equal(v.kind, e->kind);
    bool had;
    size_t to_at = m_find(m, to, &had);
    void *to_old = NULL;
    pb_value_kind to_kind = had ? m->e[to_at].kind : PB_VALUE_INT;
    if (had && m->e[to_at].c)
      assert_int_equal(open_child(txn, d, to, m->e[to_at].kind, 0, &to_old),
                       PB_OK);
    assert_int_equal(d_put(txn, d, to, &v), PB_OK);
    mnode *copy = m_copy(e->c);
    m_put(m, to, (ment){.kind = copy->kind, .c = copy});
    log_path(r, path, depth, to, true);
    if (to_old) {
      uint64_t n;
      assert_int_equal(coll_count(to_kind, to_old, &n), PB_ECLOSED);
    }
    old = NULL; /* the source stays open */
  } else if (e && e->c && e->kind != PB_VALUE_DICT) {
    /* change a List, Set or HashDictionary child */
    mnode *c = e->c;
    void *h = old;
    old = NULL;
    bool mutated = true; /* logged: all but a remove of what is not there */
    int64_t x = rnd(16);
    v = ival(x);
    if (c->kind == PB_VALUE_LIST) {
      unsigned what = rnd(4);
      if (c->n >= MAX_ELEMS && what < 2) what = 3;
      if (c->n == 0) what = 0;
      ment it = {.kind = PB_VALUE_INT, .i = x};
      size_t i = rnd((unsigned)c->n + 1);
      if (what == 0) {
        assert_int_equal(pb_list_append(h, &v), PB_OK);
        m_insert_at(c, c->n, &it);
      } else if (what == 1) {
        assert_int_equal(pb_list_insert(h, i, &v), PB_OK);
        m_insert_at(c, i, &it);
      } else if (what == 2) {
        i = rnd((unsigned)c->n);
        assert_int_equal(pb_list_set(h, i, &v), PB_OK);
        c->e[i].i = x;
      } else {
        i = rnd((unsigned)c->n);
        assert_int_equal(pb_list_remove(h, i), PB_OK);
        m_remove_at(c, i);
      }
    } else {
      bool in;
      size_t k_at = m_find_k(c, x, &in);
      bool add = !in || rnd(2);
      if (c->n >= MAX_ELEMS) add = false;
      if (c->kind == PB_VALUE_SET) {
        if (add) {
          bool added;
          assert_int_equal(pb_set_add(h, &v, &added), PB_OK);
          assert_int_equal(added, !in);
          if (!in) m_insert_at(c, k_at, &(ment){.kind = PB_VALUE_INT, .k = x});
        } else {
          assert_int_equal(pb_set_remove(h, &v), in ? PB_OK : PB_ENOTFOUND);
          if (in) m_remove_at(c, k_at);
          mutated = in;
        }
      } else {
        pb_value val = ival(rnd(100));
        if (add) {
          assert_int_equal(pb_hdict_put(h, &v, &val), PB_OK);
          if (in) c->e[k_at].i = val.as.i;
          else
            m_insert_at(c, k_at,
                        &(ment){.kind = PB_VALUE_INT, .k = x, .i = val.as.i});
        } else {
          assert_int_equal(pb_hdict_remove(h, &v), in ? PB_OK : PB_ENOTFOUND);
          if (in) m_remove_at(c, k_at);
          mutated = in;
        }
      }
    }
    if (mutated) log_path(r, path, depth, key, false);
  } else { /* read */
    old = NULL;
    int rc = d_get(txn, d, key, &v);
    if (!found) assert_int_equal(rc, PB_ENOTFOUND);
    else check_value(e, &v);
  }
  if (old) { /* a put or remove of its key closed it */
    uint64_t n;
    assert_int_equal(coll_count(old_kind, old, &n), PB_ECLOSED);
  }
}

/* True when path `a` is strictly under path `b`. */
static bool under(const char *a, const char *b) {
  size_t len = strlen(b);
  return strncmp(a, b, len) == 0 && a[len] == '/';
}

/* Does this transaction conflict with the jobs (txn/tcoll.h)?  (a) It put
 * or removed a key whose old value holds what a job changed (the first
 * committer of a key wins); (b) it changed something inside a collection
 * that a job removed or replaced by an INT.  Otherwise it merges, and a
 * collection it only read that a job removed stays removed. */
static bool predict_conflict(const run *r, const bg_job *jobs, int n_jobs) {
  for (int j = 0; j < n_jobs; j++) {
    if (!jobs[j].changed) continue;
    char b[MAX_DEPTH * KEYLEN + KEYLEN + 2];
    join_path(b, (char (*)[KEYLEN])jobs[j].path, jobs[j].depth, jobs[j].key);
    for (size_t i = 0; i < r->n_paths; i++) {
      if (r->put[i] && under(b, r->paths[i])) return true;          /* (a) */
      if (jobs[j].removed_coll && under(r->paths[i], b)) return true; /* (b) */
    }
  }
  return false;
}

typedef struct counts {
  int commits, aborts, conflicts, rebased;
} counts;

static void one_txn(run *r, counts *cnt) {
  pb_txn *txn;
  assert_int_equal(pb_txn_begin(r->db, 0, &txn), PB_OK);
  mnode *w = m_copy(r->committed);
  r->n_paths = 0;
  r->overflow = false;
  bg_job jobs[2];
  int n_jobs = 0;
  bool concurrent = rnd(3) == 0;
  int steps = 1 + (int)rnd(12);
  for (int s = 0; s < steps; s++) {
    if (concurrent && n_jobs < 2 && rnd(4) == 0) bg_commit(r, jobs, &n_jobs);
    step(r, txn, w);
    check_dict(txn, NULL, w);
  }
  if (concurrent && n_jobs == 0) bg_commit(r, jobs, &n_jobs);
  if (rnd(8) == 0) {
    assert_int_equal(pb_txn_abort(txn), PB_OK);
    cnt->aborts++;
    m_free(w);
    return;
  }
  int rc = pb_txn_commit(txn);
  if (debug) fprintf(stderr, "commit %d\n", rc);
  bool conflict = predict_conflict(r, jobs, n_jobs);
  if (!r->overflow) assert_int_equal(rc, conflict ? PB_ECONFLICT : PB_OK);
  if (rc == PB_OK) {
    for (int j = 0; j < n_jobs; j++) bg_apply(w, &jobs[j]);
    m_free(r->committed);
    r->committed = w;
    cnt->commits++;
    if (n_jobs) cnt->rebased++;
  } else {
    assert_int_equal(rc, PB_ECONFLICT);
    m_free(w);
    cnt->conflicts++;
  }
}

static unsigned n_txns = 300;

static void run_seed(uint64_t seed) {
  rng = seed;
  run *r = calloc(1, sizeof *r);
  assert_non_null(r);
  r->dir = pb_test_tmpdir();
  r->committed = m_new(PB_VALUE_DICT);
  run_open(r);
  counts cnt = {0};
  for (unsigned t = 0; t < n_txns; t++) {
    one_txn(r, &cnt);
    check_committed(r);
    if (t % 50 == 49) {
      run_close(r);
      run_open(r);
      check_committed(r);
    }
  }
  run_close(r);
  run_open(r);
  check_committed(r);
  run_close(r);
  printf("seed %llu: %d commits (%d rebased), %d conflicts, %d aborts\n",
         (unsigned long long)seed, cnt.commits, cnt.rebased, cnt.conflicts,
         cnt.aborts);
  /* every path ran */
  assert_true(cnt.commits > 0 && cnt.rebased > 0 && cnt.conflicts > 0 &&
              cnt.aborts > 0);
  m_free(r->committed);
  pb_test_rmdir(r->dir);
  free(r);
}

static void nested_prop_seed_1(void **state) {
  (void)state;
  run_seed(1);
}

static void nested_prop_seed_2(void **state) {
  (void)state;
  run_seed(0x9e3779b97f4a7c15ull);
}

static void nested_prop_seed_3(void **state) {
  (void)state;
  run_seed(20261206);
}

int main(int argc, char **argv) {
  pb_test_coll_args(argc, argv);
  debug = getenv("PB_PROP_DEBUG") != NULL;
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(nested_prop_seed_1),
      cmocka_unit_test(nested_prop_seed_2),
      cmocka_unit_test(nested_prop_seed_3),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
