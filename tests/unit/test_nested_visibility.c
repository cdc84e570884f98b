/*
 * test_nested_visibility.c - regression tests for issue 13, "Visibility":
 * a collection created in a transaction was invisible to its parent until
 * commit (get, count and iteration missed its key, and a remove of the
 * key was lost: the key came back at commit).  Each test runs for the
 * four kinds of child (Dictionary, List, Set, HashDictionary), at the
 * database root and nested in a Dictionary, on a file storage with the
 * default options (PB_DURABILITY_SYNC).  Then: the pointer that get gives
 * for an open child with unflushed changes is real, a grandchild's
 * changes show through every level, a replaced or removed child is closed
 * for good, and two rebase bugs found on the way (a key removed by them
 * came back when this transaction had only read its collection; a
 * collection removed and created again here got its old entries back).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "protobase/protobase.h"
#include "support/collstore.h"
#include "test_util.h"

typedef struct env {
  char *dir;
  pb_storage *st;
  pb_space *sp;
  pb_db *db;
} env;

static void env_open(env *e) {
  pb_file_options o;
  pb_file_options_init(&o); /* the defaults: PB_DURABILITY_SYNC */
  assert_int_equal(pb_storage_open_file(e->dir, &o, &e->st), PB_OK);
  assert_int_equal(pb_space_open(e->st, &e->sp), PB_OK);
  assert_int_equal(pb_db_open(e->sp, "main", PB_CREATE, &e->db), PB_OK);
}

static void env_close(env *e) {
  assert_int_equal(pb_db_close(e->db), PB_OK);
  assert_int_equal(pb_space_close(e->sp), PB_OK);
}

static void env_start(env *e) {
  e->dir = pb_test_tmpdir();
  env_open(e);
}

static void env_end(env *e) {
  env_close(e);
  pb_test_rmdir(e->dir);
}

static const pb_value_kind kinds[] = {PB_VALUE_DICT, PB_VALUE_LIST,
                                      PB_VALUE_SET, PB_VALUE_HASHDICT};

static pb_str S(const char *s) { return pb_str_from_cstr(s); }

static pb_value ival(int64_t i) {
  return (pb_value){.kind = PB_VALUE_INT, .as.i = i};
}

/* Opens (flags) a child of `kind` named `name`: in the database root when
 * parent is NULL, else in Dictionary parent.  Returns its rc. */
static int open_child(pb_txn *txn, pb_dict *parent, const char *name,
                      pb_value_kind kind, unsigned flags, void **out) {
  switch (kind) {
  case PB_VALUE_DICT:
    return parent ? pb_dict_open_dict(parent, S(name), flags, (pb_dict **)out)
                  : pb_txn_open_dict(txn, name, flags, (pb_dict **)out);
  case PB_VALUE_LIST:
    return parent ? pb_dict_open_list(parent, S(name), flags, (pb_list **)out)
                  : pb_txn_open_list(txn, name, flags, (pb_list **)out);
  case PB_VALUE_SET:
    return parent ? pb_dict_open_set(parent, S(name), flags, (pb_set **)out)
                  : pb_txn_open_set(txn, name, flags, (pb_set **)out);
  default:
    return parent
               ? pb_dict_open_hdict(parent, S(name), flags, (pb_hdict **)out)
               : pb_txn_open_hdict(txn, name, flags, (pb_hdict **)out);
  }
}

/* Adds one entry (number i) to a child; returns its rc. */
static int child_add(pb_value_kind kind, void *c, int64_t i) {
  pb_value v = ival(i);
  char key[32];
  snprintf(key, sizeof key, "k%lld", (long long)i);
  switch (kind) {
  case PB_VALUE_DICT: return pb_dict_put(c, S(key), &v);
  case PB_VALUE_LIST: return pb_list_append(c, &v);
  case PB_VALUE_SET: return pb_set_add(c, &v, NULL);
  default: return pb_hdict_put(c, &v, &v);
  }
}

/* The child's count; asserts it can be read. */
static int child_count(pb_value_kind kind, void *c, uint64_t *n) {
  switch (kind) {
  case PB_VALUE_DICT: return pb_dict_count(c, n);
  case PB_VALUE_LIST: return pb_list_count(c, n);
  case PB_VALUE_SET: return pb_set_count(c, n);
  default: return pb_hdict_count(c, n);
  }
}

static int parent_get(pb_txn *txn, pb_dict *parent, const char *name,
                      pb_value *v) {
  return parent ? pb_dict_get(parent, S(name), v) : pb_txn_get(txn, name, v);
}

static int parent_remove(pb_txn *txn, pb_dict *parent, const char *name) {
  return parent ? pb_dict_remove(parent, S(name)) : pb_txn_remove(txn, name);
}

/* Opens the parent for `level`: NULL (the root) for level 0, else a
 * Dictionary "p" in the root (created when missing). */
static pb_dict *parent_for(pb_txn *txn, int level) {
  if (level == 0) return NULL;
  pb_dict *p;
  assert_int_equal(pb_txn_open_dict(txn, "p", PB_CREATE, &p), PB_OK);
  return p;
}

/* Asserts that `name` is (or is not) in the committed state. */
static void assert_committed(env *e, int level, const char *name,
                             bool present, pb_value_kind kind) {
  pb_txn *r;
  assert_int_equal(pb_txn_begin(e->db, PB_RDONLY, &r), PB_OK);
  pb_dict *p = NULL;
  if (level) assert_int_equal(pb_txn_open_dict(r, "p", 0, &p), PB_OK);
  pb_value v;
  int rc = parent_get(r, p, name, &v);
  if (present) {
    assert_int_equal(rc, PB_OK);
    assert_int_equal(v.kind, kind);
  } else {
    assert_int_equal(rc, PB_ENOTFOUND);
  }
  assert_int_equal(pb_txn_commit(r), PB_OK);
}

/* --- the symptoms, one test each --- */

/* get: the created child's key gives a value of its kind at once. */
static void created_child_invisible_to_get(void **state) {
  (void)state;
  env e;
  env_start(&e);
  for (int level = 0; level < 2; level++)
    for (size_t k = 0; k < 4; k++) {
      char name[16];
      snprintf(name, sizeof name, "c%d%zu", level, k);
      pb_txn *txn;
      assert_int_equal(pb_txn_begin(e.db, 0, &txn), PB_OK);
      pb_dict *p = parent_for(txn, level);
      pb_value v;
      assert_int_equal(parent_get(txn, p, name, &v), PB_ENOTFOUND);
      void *c;
      assert_int_equal(open_child(txn, p, name, kinds[k], PB_CREATE, &c),
                       PB_OK);
      assert_int_equal(parent_get(txn, p, name, &v), PB_OK);
      assert_int_equal(v.kind, kinds[k]);
      assert_int_equal(child_add(kinds[k], c, 1), PB_OK);
      assert_int_equal(parent_get(txn, p, name, &v), PB_OK);
      assert_int_equal(v.kind, kinds[k]);
      assert_int_equal(pb_txn_commit(txn), PB_OK);
      assert_committed(&e, level, name, true, kinds[k]);
    }
  env_end(&e);
}

/* count: the parent's count includes the created child. */
static void created_child_invisible_to_count(void **state) {
  (void)state;
  env e;
  env_start(&e);
  for (size_t k = 0; k < 4; k++) {
    char name[16];
    snprintf(name, sizeof name, "c%zu", k);
    pb_txn *txn;
    assert_int_equal(pb_txn_begin(e.db, 0, &txn), PB_OK);
    pb_dict *p = parent_for(txn, 1);
    uint64_t before, after;
    assert_int_equal(pb_dict_count(p, &before), PB_OK);
    assert_int_equal(before, k);
    void *c;
    assert_int_equal(open_child(txn, p, name, kinds[k], PB_CREATE, &c),
                     PB_OK);
    assert_int_equal(pb_dict_count(p, &after), PB_OK);
    assert_int_equal(after, before + 1);
    assert_int_equal(child_add(kinds[k], c, 1), PB_OK);
    assert_int_equal(pb_dict_count(p, &after), PB_OK);
    assert_int_equal(after, before + 1);
    assert_int_equal(pb_txn_commit(txn), PB_OK);
  }
  env_end(&e);
}

/* Counts the keys an iteration over p gives (range: NULL for all), and
 * checks that `name`, if met, has `kind`. */
static int iter_keys(pb_dict *p, const pb_dict_range *range, unsigned flags,
                     const char *name, pb_value_kind kind, bool *met) {
  pb_dict_iter *it;
  assert_int_equal(pb_dict_iter_open(p, range, flags, &it), PB_OK);
  pb_str key;
  pb_value v;
  int n = 0, rc;
  *met = false;
  while ((rc = pb_dict_iter_next(it, &key, &v)) == PB_OK) {
    n++;
    if (key.len == strlen(name) && memcmp(key.ptr, name, key.len) == 0) {
      assert_int_equal(v.kind, kind);
      *met = true;
    }
  }
  assert_int_equal(rc, PB_ENOTFOUND);
  pb_dict_iter_close(it);
  return n;
}

/* iteration and range iteration, both orders, see the created child. */
static void created_child_invisible_to_iteration(void **state) {
  (void)state;
  env e;
  env_start(&e);
  pb_txn *txn;
  assert_int_equal(pb_txn_begin(e.db, 0, &txn), PB_OK);
  pb_dict *p = parent_for(txn, 1);
  pb_value one = ival(1);
  assert_int_equal(pb_dict_put(p, S("a"), &one), PB_OK);
  assert_int_equal(pb_dict_put(p, S("z"), &one), PB_OK);
  assert_int_equal(pb_txn_commit(txn), PB_OK);
  for (size_t k = 0; k < 4; k++) {
    char name[16];
    snprintf(name, sizeof name, "m%zu", k);
    assert_int_equal(pb_txn_begin(e.db, 0, &txn), PB_OK);
    p = parent_for(txn, 1);
    void *c;
    assert_int_equal(open_child(txn, p, name, kinds[k], PB_CREATE, &c),
                     PB_OK);
    assert_int_equal(child_add(kinds[k], c, 7), PB_OK);
    bool met;
    assert_int_equal(iter_keys(p, NULL, 0, name, kinds[k], &met),
                     (int)k + 3);
    assert_true(met);
    assert_int_equal(iter_keys(p, NULL, PB_REVERSE, name, kinds[k], &met),
                     (int)k + 3);
    assert_true(met);
    pb_dict_range r = {.lo = S("b"), .hi = S("y"), .has_lo = true,
                       .has_hi = true, .lo_incl = true, .hi_incl = true};
    assert_int_equal(iter_keys(p, &r, 0, name, kinds[k], &met), (int)k + 1);
    assert_true(met);
    r.lo = S(name); /* exactly the new key */
    r.hi = S(name);
    assert_int_equal(iter_keys(p, &r, PB_REVERSE, name, kinds[k], &met), 1);
    assert_true(met);
    assert_int_equal(pb_txn_commit(txn), PB_OK);
  }
  env_end(&e);
}

/* remove: removing the created child's key succeeds, closes the handle,
 * and the key does not come back at commit (nor after a reopen). */
static void created_child_remove_lost(void **state) {
  (void)state;
  env e;
  env_start(&e);
  for (int level = 0; level < 2; level++)
    for (size_t k = 0; k < 4; k++) {
      char name[16];
      snprintf(name, sizeof name, "r%d%zu", level, k);
      pb_txn *txn;
      assert_int_equal(pb_txn_begin(e.db, 0, &txn), PB_OK);
      pb_dict *p = parent_for(txn, level);
      void *c;
      assert_int_equal(open_child(txn, p, name, kinds[k], PB_CREATE, &c),
                       PB_OK);
      assert_int_equal(child_add(kinds[k], c, 1), PB_OK);
      assert_int_equal(parent_remove(txn, p, name), PB_OK);
      pb_value v;
      assert_int_equal(parent_get(txn, p, name, &v), PB_ENOTFOUND);
      uint64_t n;
      assert_int_equal(child_count(kinds[k], c, &n), PB_ECLOSED);
      assert_int_equal(child_add(kinds[k], c, 2), PB_ECLOSED);
      assert_int_equal(parent_remove(txn, p, name), PB_ENOTFOUND);
      /* something else to commit, so that commit has work to do */
      pb_value one = ival(1);
      assert_int_equal(pb_txn_set(txn, "other", &one), PB_OK);
      assert_int_equal(pb_txn_commit(txn), PB_OK);
      assert_committed(&e, level, name, false, kinds[k]);
    }
  env_close(&e);
  env_open(&e);
  for (int level = 0; level < 2; level++)
    for (size_t k = 0; k < 4; k++) {
      char name[16];
      snprintf(name, sizeof name, "r%d%zu", level, k);
      assert_committed(&e, level, name, false, kinds[k]);
    }
  env_end(&e);
}

/* Overwriting the created child's key with a plain value replaces it for
 * good; a grandchild opened under it is closed too. */
static void created_child_overwrite_lost(void **state) {
  (void)state;
  env e;
  env_start(&e);
  for (int level = 0; level < 2; level++)
    for (size_t k = 0; k < 4; k++) {
      char name[16];
      snprintf(name, sizeof name, "o%d%zu", level, k);
      pb_txn *txn;
      assert_int_equal(pb_txn_begin(e.db, 0, &txn), PB_OK);
      pb_dict *p = parent_for(txn, level);
      void *c;
      assert_int_equal(open_child(txn, p, name, kinds[k], PB_CREATE, &c),
                       PB_OK);
      assert_int_equal(child_add(kinds[k], c, 1), PB_OK);
      pb_dict *g = NULL;
      if (kinds[k] == PB_VALUE_DICT)
        assert_int_equal(pb_dict_open_dict(c, S("g"), PB_CREATE, &g), PB_OK);
      pb_value five = ival(5), v;
      if (level) assert_int_equal(pb_dict_put(p, S(name), &five), PB_OK);
      else assert_int_equal(pb_txn_set(txn, name, &five), PB_OK);
      assert_int_equal(child_add(kinds[k], c, 2), PB_ECLOSED);
      if (g) assert_int_equal(pb_dict_put(g, S("x"), &five), PB_ECLOSED);
      assert_int_equal(parent_get(txn, p, name, &v), PB_OK);
      assert_int_equal(v.kind, PB_VALUE_INT);
      assert_int_equal(pb_txn_commit(txn), PB_OK);
      assert_committed(&e, level, name, true, PB_VALUE_INT);
    }
  env_end(&e);
}

/* --- beyond the symptoms --- */

/* Creating under a key that cannot be stored fails at once (not at
 * commit), and leaves nothing behind. */
static void created_child_bad_key(void **state) {
  (void)state;
  env e;
  env_start(&e);
  size_t len = 5000;
  char *big = malloc(len + 1);
  assert_non_null(big);
  memset(big, 'k', len);
  big[len] = '\0';
  pb_txn *txn;
  assert_int_equal(pb_txn_begin(e.db, 0, &txn), PB_OK);
  pb_dict *p = parent_for(txn, 1), *c;
  pb_list *l;
  assert_int_equal(pb_txn_open_list(txn, big, PB_CREATE, &l), PB_ETOOBIG);
  assert_int_equal(pb_dict_open_dict(p, S(big), PB_CREATE, &c), PB_ETOOBIG);
  assert_int_equal(pb_dict_open_dict(p, (pb_str){"\xff", 1}, PB_CREATE, &c),
                   PB_EINVAL);
  uint64_t n;
  assert_int_equal(pb_dict_count(p, &n), PB_OK);
  assert_int_equal(n, 0);
  assert_int_equal(pb_txn_commit(txn), PB_OK);
  assert_committed(&e, 0, big, false, PB_VALUE_LIST);
  free(big);
  env_end(&e);
}

/* The pointer that get gives for an open child with unflushed changes is
 * real: put under another key, it holds the child as it was then. */
static void dirty_child_pointer_is_real(void **state) {
  (void)state;
  env e;
  env_start(&e);
  pb_txn *txn;
  assert_int_equal(pb_txn_begin(e.db, 0, &txn), PB_OK);
  pb_dict *p = parent_for(txn, 1), *c, *g;
  assert_int_equal(pb_dict_open_dict(p, S("c"), PB_CREATE, &c), PB_OK);
  assert_int_equal(pb_dict_open_dict(c, S("g"), PB_CREATE, &g), PB_OK);
  pb_value one = ival(1), two = ival(2), v1, v2;
  assert_int_equal(pb_dict_put(g, S("x"), &one), PB_OK);
  assert_int_equal(pb_dict_get(p, S("c"), &v1), PB_OK);
  assert_int_equal(pb_dict_put(g, S("y"), &two), PB_OK);
  assert_int_equal(pb_dict_get(p, S("c"), &v2), PB_OK);
  assert_int_equal(v2.kind, PB_VALUE_DICT);
  assert_false(pb_atom_ptr_is_null(v1.as.ref));
  assert_false(pb_atom_ptr_equal(v1.as.ref, v2.as.ref));
  assert_int_equal(pb_dict_put(p, S("copy1"), &v1), PB_OK);
  assert_int_equal(pb_txn_set(txn, "copy2", &v2), PB_OK);
  /* copies are plain values: reading them opens their own handles */
  pb_dict *c1, *g1;
  assert_int_equal(pb_dict_open_dict(p, S("copy1"), 0, &c1), PB_OK);
  assert_int_equal(pb_dict_open_dict(c1, S("g"), 0, &g1), PB_OK);
  uint64_t n;
  assert_int_equal(pb_dict_count(g1, &n), PB_OK);
  assert_int_equal(n, 1);
  assert_int_equal(pb_txn_commit(txn), PB_OK);
  env_close(&e);
  env_open(&e);
  assert_int_equal(pb_txn_begin(e.db, PB_RDONLY, &txn), PB_OK);
  pb_dict *c2, *g2;
  assert_int_equal(pb_txn_open_dict(txn, "copy2", 0, &c2), PB_OK);
  assert_int_equal(pb_dict_open_dict(c2, S("g"), 0, &g2), PB_OK);
  assert_int_equal(pb_dict_count(g2, &n), PB_OK);
  assert_int_equal(n, 2);
  p = parent_for(txn, 1);
  assert_int_equal(pb_dict_open_dict(p, S("copy1"), 0, &c1), PB_OK);
  assert_int_equal(pb_dict_open_dict(c1, S("g"), 0, &g1), PB_OK);
  assert_int_equal(pb_dict_count(g1, &n), PB_OK);
  assert_int_equal(n, 1);
  assert_int_equal(pb_dict_open_dict(p, S("c"), 0, &c), PB_OK);
  assert_int_equal(pb_dict_open_dict(c, S("g"), 0, &g), PB_OK);
  assert_int_equal(pb_dict_count(g, &n), PB_OK);
  assert_int_equal(n, 2);
  assert_int_equal(pb_txn_commit(txn), PB_OK);
  env_end(&e);
}

/* An iterator over the parent gives the current root of an open child
 * changed during the iteration, and goes on. */
static void iteration_sees_child_changes(void **state) {
  (void)state;
  env e;
  env_start(&e);
  pb_txn *txn;
  assert_int_equal(pb_txn_begin(e.db, 0, &txn), PB_OK);
  pb_dict *p = parent_for(txn, 1);
  pb_list *l[3];
  char name[8];
  for (int i = 0; i < 3; i++) {
    snprintf(name, sizeof name, "l%d", i);
    assert_int_equal(pb_dict_open_list(p, S(name), PB_CREATE, &l[i]), PB_OK);
  }
  pb_dict_iter *it;
  assert_int_equal(pb_dict_iter_open(p, NULL, 0, &it), PB_OK);
  pb_str key;
  pb_value v, one = ival(1);
  for (int i = 0; i < 3; i++) {
    /* change every list before the iterator reaches it */
    for (int j = i; j < 3; j++)
      assert_int_equal(pb_list_append(l[j], &one), PB_OK);
    assert_int_equal(pb_dict_iter_next(it, &key, &v), PB_OK);
    assert_int_equal(v.kind, PB_VALUE_LIST);
    pb_value g;
    assert_int_equal(pb_dict_get(p, key, &g), PB_OK);
    assert_true(pb_atom_ptr_equal(g.as.ref, v.as.ref));
    assert_false(pb_atom_ptr_is_null(v.as.ref));
  }
  assert_int_equal(pb_dict_iter_next(it, &key, &v), PB_ENOTFOUND);
  pb_dict_iter_close(it);
  assert_int_equal(pb_txn_commit(txn), PB_OK);
  env_end(&e);
}

/* A grandchild's changes show through every level, in the transaction,
 * after commit and after a reopen; a child reopened through its parent is
 * the same handle. */
static void deep_changes_visible(void **state) {
  (void)state;
  env e;
  env_start(&e);
  pb_txn *txn;
  assert_int_equal(pb_txn_begin(e.db, 0, &txn), PB_OK);
  pb_dict *d[5];
  assert_int_equal(pb_txn_open_dict(txn, "d0", PB_CREATE, &d[0]), PB_OK);
  for (int i = 1; i < 5; i++)
    assert_int_equal(pb_dict_open_dict(d[i - 1], S("n"), PB_CREATE, &d[i]),
                     PB_OK);
  pb_set *s;
  assert_int_equal(pb_dict_open_set(d[4], S("s"), PB_CREATE, &s), PB_OK);
  pb_value one = ival(1), v;
  assert_int_equal(pb_set_add(s, &one, NULL), PB_OK);
  for (int pass = 0; pass < 3; pass++) {
    pb_dict *x;
    assert_int_equal(pb_txn_open_dict(txn, "d0", 0, &x), PB_OK);
    for (int i = 1; i < 5; i++) {
      assert_int_equal(pb_dict_get(x, S("n"), &v), PB_OK);
      assert_int_equal(v.kind, PB_VALUE_DICT);
      assert_int_equal(pb_dict_open_dict(x, S("n"), 0, &x), PB_OK);
      if (pass == 0) assert_ptr_equal(x, d[i]);
    }
    pb_set *y;
    assert_int_equal(pb_dict_open_set(x, S("s"), 0, &y), PB_OK);
    bool in;
    assert_int_equal(pb_set_contains(y, &one, &in), PB_OK);
    assert_true(in);
    if (pass == 0) {
      assert_int_equal(pb_txn_commit(txn), PB_OK);
      assert_int_equal(pb_txn_begin(e.db, PB_RDONLY, &txn), PB_OK);
    } else if (pass == 1) {
      assert_int_equal(pb_txn_commit(txn), PB_OK);
      env_close(&e);
      env_open(&e);
      assert_int_equal(pb_txn_begin(e.db, PB_RDONLY, &txn), PB_OK);
    }
  }
  assert_int_equal(pb_txn_commit(txn), PB_OK);
  env_end(&e);
}

/* Created children survive a rebase onto another commit (at the root and
 * nested), and a removed one stays removed. */
static void created_child_across_rebase(void **state) {
  (void)state;
  env e;
  env_start(&e);
  pb_txn *a, *b;
  assert_int_equal(pb_txn_begin(e.db, 0, &a), PB_OK);
  (void)parent_for(a, 1);
  assert_int_equal(pb_txn_commit(a), PB_OK);
  for (size_t k = 0; k < 4; k++) {
    assert_int_equal(pb_txn_begin(e.db, 0, &a), PB_OK);
    assert_int_equal(pb_txn_begin(e.db, 0, &b), PB_OK);
    pb_dict *p = parent_for(a, 1);
    void *c0, *c1, *gone;
    assert_int_equal(open_child(a, NULL, "keep0", kinds[k], PB_CREATE, &c0),
                     PB_OK);
    assert_int_equal(open_child(a, p, "keep1", kinds[k], PB_CREATE, &c1),
                     PB_OK);
    assert_int_equal(open_child(a, p, "gone", kinds[k], PB_CREATE, &gone),
                     PB_OK);
    assert_int_equal(child_add(kinds[k], c1, 3), PB_OK);
    assert_int_equal(pb_dict_remove(p, S("gone")), PB_OK);
    pb_value one = ival(1);
    assert_int_equal(pb_txn_set(b, "theirs", &one), PB_OK);
    pb_dict *pb_;
    assert_int_equal(pb_txn_open_dict(b, "p", 0, &pb_), PB_OK);
    assert_int_equal(pb_dict_put(pb_, S("theirs"), &one), PB_OK);
    assert_int_equal(pb_txn_commit(b), PB_OK);
    assert_int_equal(pb_txn_commit(a), PB_OK); /* rebases */
    assert_committed(&e, 0, "keep0", true, kinds[k]);
    assert_committed(&e, 1, "keep1", true, kinds[k]);
    assert_committed(&e, 1, "gone", false, kinds[k]);
    assert_committed(&e, 1, "theirs", true, PB_VALUE_INT);
    pb_txn *r;
    assert_int_equal(pb_txn_begin(e.db, PB_RDONLY, &r), PB_OK);
    p = parent_for(r, 1);
    assert_int_equal(open_child(r, p, "keep1", kinds[k], 0, &c1), PB_OK);
    uint64_t n;
    assert_int_equal(child_count(kinds[k], c1, &n), PB_OK);
    assert_int_equal(n, 1);
    assert_int_equal(pb_txn_commit(r), PB_OK);
    /* clean up for the next kind */
    assert_int_equal(pb_txn_begin(e.db, 0, &a), PB_OK);
    assert_int_equal(pb_txn_remove(a, "keep0"), PB_OK);
    p = parent_for(a, 1);
    assert_int_equal(pb_dict_remove(p, S("keep1")), PB_OK);
    assert_int_equal(pb_txn_commit(a), PB_OK);
  }
  env_end(&e);
}

/* They removed a collection that this transaction only read (while
 * changing something else): the key stays removed. */
static void read_child_resurrected_by_rebase(void **state) {
  (void)state;
  env e;
  env_start(&e);
  pb_txn *a, *b;
  pb_dict *c;
  pb_value one = ival(1), v;
  assert_int_equal(pb_txn_begin(e.db, 0, &a), PB_OK);
  assert_int_equal(pb_txn_open_dict(a, "c", PB_CREATE, &c), PB_OK);
  assert_int_equal(pb_dict_put(c, S("x"), &one), PB_OK);
  assert_int_equal(pb_txn_commit(a), PB_OK);
  assert_int_equal(pb_txn_begin(e.db, 0, &a), PB_OK);
  assert_int_equal(pb_txn_begin(e.db, 0, &b), PB_OK);
  assert_int_equal(pb_txn_open_dict(a, "c", 0, &c), PB_OK);
  assert_int_equal(pb_dict_get(c, S("x"), &v), PB_OK);
  assert_int_equal(pb_txn_set(a, "y", &one), PB_OK);
  assert_int_equal(pb_txn_remove(b, "c"), PB_OK);
  assert_int_equal(pb_txn_commit(b), PB_OK);
  assert_int_equal(pb_txn_commit(a), PB_OK);
  assert_committed(&e, 0, "c", false, PB_VALUE_DICT);
  assert_committed(&e, 0, "y", true, PB_VALUE_INT);
  env_end(&e);
}

/* This transaction removed a collection and created it again, while
 * another commit changed something else: the new one does not get the
 * old one's entries back at the rebase. */
static void recreated_child_merged_with_old(void **state) {
  (void)state;
  env e;
  env_start(&e);
  pb_txn *a, *b;
  pb_dict *c;
  pb_value one = ival(1);
  uint64_t n;
  assert_int_equal(pb_txn_begin(e.db, 0, &a), PB_OK);
  assert_int_equal(pb_txn_open_dict(a, "c", PB_CREATE, &c), PB_OK);
  assert_int_equal(pb_dict_put(c, S("old"), &one), PB_OK);
  assert_int_equal(pb_txn_commit(a), PB_OK);
  assert_int_equal(pb_txn_begin(e.db, 0, &a), PB_OK);
  assert_int_equal(pb_txn_begin(e.db, 0, &b), PB_OK);
  assert_int_equal(pb_txn_remove(a, "c"), PB_OK);
  assert_int_equal(pb_txn_open_dict(a, "c", PB_CREATE, &c), PB_OK);
  assert_int_equal(pb_dict_count(c, &n), PB_OK);
  assert_int_equal(n, 0);
  assert_int_equal(pb_dict_put(c, S("new"), &one), PB_OK);
  assert_int_equal(pb_txn_set(b, "other", &one), PB_OK);
  assert_int_equal(pb_txn_commit(b), PB_OK);
  assert_int_equal(pb_txn_commit(a), PB_OK);
  assert_int_equal(pb_txn_begin(e.db, PB_RDONLY, &a), PB_OK);
  assert_int_equal(pb_txn_open_dict(a, "c", 0, &c), PB_OK);
  assert_int_equal(pb_dict_count(c, &n), PB_OK);
  assert_int_equal(n, 1);
  pb_value v;
  assert_int_equal(pb_dict_get(c, S("old"), &v), PB_ENOTFOUND);
  assert_int_equal(pb_dict_get(c, S("new"), &v), PB_OK);
  assert_int_equal(pb_txn_commit(a), PB_OK);
  env_end(&e);
}

/* Both transactions create the same name: Dictionaries merge per key,
 * Lists conflict (any concurrent change to a List). */
static void created_by_both(void **state) {
  (void)state;
  env e;
  env_start(&e);
  pb_txn *a, *b;
  pb_dict *da, *db_;
  pb_list *la, *lb;
  pb_value one = ival(1), two = ival(2), v;
  assert_int_equal(pb_txn_begin(e.db, 0, &a), PB_OK);
  assert_int_equal(pb_txn_begin(e.db, 0, &b), PB_OK);
  assert_int_equal(pb_txn_open_dict(a, "d", PB_CREATE, &da), PB_OK);
  assert_int_equal(pb_dict_put(da, S("x"), &one), PB_OK);
  assert_int_equal(pb_txn_open_dict(b, "d", PB_CREATE, &db_), PB_OK);
  assert_int_equal(pb_dict_put(db_, S("y"), &two), PB_OK);
  assert_int_equal(pb_txn_commit(b), PB_OK);
  assert_int_equal(pb_txn_commit(a), PB_OK);
  assert_int_equal(pb_txn_begin(e.db, PB_RDONLY, &a), PB_OK);
  assert_int_equal(pb_txn_open_dict(a, "d", 0, &da), PB_OK);
  assert_int_equal(pb_dict_get(da, S("x"), &v), PB_OK);
  assert_int_equal(v.as.i, 1);
  assert_int_equal(pb_dict_get(da, S("y"), &v), PB_OK);
  assert_int_equal(v.as.i, 2);
  assert_int_equal(pb_txn_commit(a), PB_OK);
  assert_int_equal(pb_txn_begin(e.db, 0, &a), PB_OK);
  assert_int_equal(pb_txn_begin(e.db, 0, &b), PB_OK);
  assert_int_equal(pb_txn_open_list(a, "l", PB_CREATE, &la), PB_OK);
  assert_int_equal(pb_list_append(la, &one), PB_OK);
  assert_int_equal(pb_txn_open_list(b, "l", PB_CREATE, &lb), PB_OK);
  assert_int_equal(pb_list_append(lb, &two), PB_OK);
  assert_int_equal(pb_txn_commit(b), PB_OK);
  assert_int_equal(pb_txn_commit(a), PB_ECONFLICT);
  env_end(&e);
}

int main(int argc, char **argv) {
  pb_test_coll_args(argc, argv);
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(created_child_invisible_to_get),
      cmocka_unit_test(created_child_invisible_to_count),
      cmocka_unit_test(created_child_invisible_to_iteration),
      cmocka_unit_test(created_child_remove_lost),
      cmocka_unit_test(created_child_overwrite_lost),
      cmocka_unit_test(created_child_bad_key),
      cmocka_unit_test(dirty_child_pointer_is_real),
      cmocka_unit_test(iteration_sees_child_changes),
      cmocka_unit_test(deep_changes_visible),
      cmocka_unit_test(created_child_across_rebase),
      cmocka_unit_test(read_child_resurrected_by_rebase),
      cmocka_unit_test(recreated_child_merged_with_old),
      cmocka_unit_test(created_by_both),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
