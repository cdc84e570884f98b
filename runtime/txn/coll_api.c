/*
 * txn/coll_api.c - the public collection functions (protobase.h,
 * "Collections"): thin wrappers that check arguments, convert the opaque
 * handles to the transaction's tcoll (txn/tcoll.h) and route changes
 * through its log.
 *
 * The public handle types (pb_dict, pb_list, pb_set, pb_hdict and their
 * iterators) are never defined: a pointer to one is a pointer to the
 * pb__tcoll (or collection iterator) it was converted from, so users get
 * distinct types and the library one struct.  A Dictionary iterator is
 * the exception: it points to a dict_iter (below), which also knows the
 * tcoll, so that an open nested collection's entry gives its current root
 * (txn/tcoll.h, "Visibility").
 */
#include <stdlib.h>

#include "collections/dict_int.h" /* pb__dent */
#include "txn/tcoll.h"
#include "txn/validate.h"

#define T(h) ((pb__tcoll *)(void *)(h))

/* The write latch (txn/validate.h): every function but the iterators'
 * next and close returns the transaction's latched error first, and each
 * change notes its result.  LATCHED returns from the calling function. */
#define LATCHED(t)                                                         \
  do {                                                                     \
    int latched_ = pb__txn_latched(pb__tcoll_txn(t));                      \
    if (latched_ != PB_OK) return latched_;                                \
  } while (0)
#define NOTE(t, rc) pb__txn_note(pb__tcoll_txn(t), (rc))
/* The pointers a stored value holds must name atoms (txn/validate.h); in
 * a read-only transaction the change itself gives PB_ERDONLY first. */
#define VALID(t, v)                                                        \
  ((t)->env->read_only ? PB_OK : pb__validate_value(pb__tcoll_txn(t), (v)))
/* A view with a NULL pointer and a length is a NULL argument. */
#define BAD_VIEW(s) (!(s).ptr && (s).len != 0)

/* --- opening --- */

/* Notes the result of an opening that may create.  A key too long to
 * store is refused before the parent changes (pb__tcoll_nested), so
 * unlike a PB_ETOOBIG from inside a change it does not latch. */
static int note_open(pb_txn *txn, int rc) {
  return rc == PB_ETOOBIG ? rc : pb__txn_note(txn, rc);
}

static int open_root(pb_txn *txn, const char *name, pb_value_kind kind,
                     unsigned flags, pb__tcoll **out) {
  if (!txn || !name || !out || !pb__flags_ok(flags, PB_CREATE))
    return PB_EINVAL;
  int rc = pb__txn_latched(txn);
  if (rc != PB_OK) return rc;
  pb_str key = pb_str_from_cstr(name);
  if (key.len == 0) return PB_EINVAL;
  rc = pb__txn_open_root(txn, key, kind, (flags & PB_CREATE) != 0, out);
  /* Only an opening that may create is a write. */
  return (flags & PB_CREATE) ? note_open(txn, rc) : rc;
}

static int open_nested(pb__tcoll *parent, pb_str key, pb_value_kind kind,
                       unsigned flags, pb__tcoll **out) {
  if (!parent || !out || parent->kind != PB_VALUE_DICT ||
      !pb__flags_ok(flags, PB_CREATE) || BAD_VIEW(key))
    return PB_EINVAL;
  LATCHED(parent);
  /* The child is linked into the transaction's list right after its
   * parent, so the transaction frees it with the rest. */
  int rc = pb__tcoll_nested(parent, key, kind, (flags & PB_CREATE) != 0,
                            &parent->next_all, out);
  return (flags & PB_CREATE) ? note_open(pb__tcoll_txn(parent), rc) : rc;
}

#define OPENERS(NAME, TYPE, KIND)                                           \
  int pb_txn_open_##NAME(pb_txn *txn, const char *name, unsigned flags,    \
                         TYPE **out) {                                     \
    pb__tcoll *t = NULL;                                                   \
    if (!out) return PB_EINVAL;                                            \
    int rc = open_root(txn, name, KIND, flags, &t);                        \
    if (rc == PB_OK) *out = (TYPE *)(void *)t;                             \
    return rc;                                                             \
  }                                                                        \
  int pb_dict_open_##NAME(pb_dict *d, pb_str key, unsigned flags,          \
                          TYPE **out) {                                    \
    pb__tcoll *t = NULL;                                                   \
    if (!out) return PB_EINVAL;                                            \
    int rc = open_nested(T(d), key, KIND, flags, &t);                      \
    if (rc == PB_OK) *out = (TYPE *)(void *)t;                             \
    return rc;                                                             \
  }
OPENERS(dict, pb_dict, PB_VALUE_DICT)
OPENERS(list, pb_list, PB_VALUE_LIST)
OPENERS(set, pb_set, PB_VALUE_SET)
OPENERS(hdict, pb_hdict, PB_VALUE_HASHDICT)

/* --- Dictionary --- */

int pb_dict_get(pb_dict *d, pb_str key, pb_value *out) {
  if (!d || !out || BAD_VIEW(key)) return PB_EINVAL;
  LATCHED(T(d));
  return pb__tcoll_dict_get(T(d), key, out);
}

int pb_dict_put(pb_dict *d, pb_str key, const pb_value *v) {
  if (!d || !v || BAD_VIEW(key)) return PB_EINVAL;
  LATCHED(T(d));
  int rc = VALID(T(d), v);
  if (rc == PB_OK) rc = pb__tcoll_dict_put(T(d), key, v);
  return NOTE(T(d), rc);
}

int pb_dict_remove(pb_dict *d, pb_str key) {
  if (!d || BAD_VIEW(key)) return PB_EINVAL;
  LATCHED(T(d));
  return NOTE(T(d), pb__tcoll_dict_remove(T(d), key));
}

int pb_dict_count(pb_dict *d, uint64_t *out) {
  if (!d || !out) return PB_EINVAL;
  LATCHED(T(d));
  int rc = pb__tcoll_check(T(d));
  if (rc == PB_OK) rc = pb__tcoll_settle(T(d));
  return rc == PB_OK ? pb__dict_count(T(d)->c.d, out) : rc;
}

/* A Dictionary iterator: the collection's, and the tcoll whose open
 * nested collections' entries it brings up to date (pb__tcoll_entry). */
typedef struct dict_iter {
  pb__dict_iter *it;
  pb__tcoll *t;
  const pb__dent *run; /* the rest of the run pb__dict_iter_run gave: */
  size_t n;            /* n entries, given one by one */
} dict_iter;

int pb_dict_iter_open(pb_dict *d, const pb_dict_range *range, unsigned flags,
                      pb_dict_iter **out) {
  if (!d || !out || !pb__flags_ok(flags, PB_REVERSE) ||
      (range && ((range->has_lo && BAD_VIEW(range->lo)) ||
                 (range->has_hi && BAD_VIEW(range->hi)))))
    return PB_EINVAL;
  LATCHED(T(d));
  int rc = pb__tcoll_check(T(d));
  if (rc == PB_OK) rc = pb__tcoll_settle(T(d));
  if (rc != PB_OK) return rc;
  pb__dict_range r;
  if (range)
    r = (pb__dict_range){range->lo, range->hi, range->has_lo, range->has_hi,
                         range->lo_incl, range->hi_incl};
  dict_iter *di = malloc(sizeof *di);
  if (!di) return PB_ENOMEM;
  di->t = T(d);
  di->run = NULL;
  di->n = 0;
  rc = pb__dict_iter_open(T(d)->c.d, range ? &r : NULL,
                          (flags & PB_REVERSE) != 0, &di->it);
  if (rc != PB_OK) {
    free(di);
    return rc;
  }
  *out = (pb_dict_iter *)(void *)di;
  return PB_OK;
}

int pb_dict_iter_next(pb_dict_iter *it, pb_str *key, pb_value *val) {
  if (!it || !key || !val) return PB_EINVAL;
  dict_iter *di = (dict_iter *)(void *)it;
  /* A leaf's entries a run at a time (pb__dict_iter_run), each given by
   * pointer arithmetic over the run; a change to the Dictionary ends the
   * iterator, so the run stays what the leaf holds. */
  if (di->n == 0) {
    int rc = pb__dict_iter_run(di->it, &di->run, &di->n);
    if (rc != PB_OK) return rc;
  }
  const pb__dent *e = di->run++;
  di->n--;
  *key = e->key;
  *val = e->val;
  return pb_value_is_collection(val->kind)
             ? pb__tcoll_entry(di->t, *key, val)
             : PB_OK;
}

void pb_dict_iter_close(pb_dict_iter *it) {
  dict_iter *di = (dict_iter *)(void *)it;
  if (!di) return;
  pb__dict_iter_free(di->it);
  free(di);
}

/* --- List --- */

int pb_list_count(pb_list *l, uint64_t *out) {
  if (!l || !out) return PB_EINVAL;
  LATCHED(T(l));
  int rc = pb__tcoll_check(T(l));
  return rc == PB_OK ? pb__list_count(T(l)->c.l, out) : rc;
}

int pb_list_get(pb_list *l, uint64_t i, pb_value *out) {
  if (!l || !out) return PB_EINVAL;
  LATCHED(T(l));
  int rc = pb__tcoll_check(T(l));
  return rc == PB_OK ? pb__list_get(T(l)->c.l, i, out) : rc;
}

int pb_list_set(pb_list *l, uint64_t i, const pb_value *v) {
  if (!l || !v) return PB_EINVAL;
  LATCHED(T(l));
  int rc = VALID(T(l), v);
  if (rc == PB_OK) rc = pb__tcoll_list_touch(T(l), v);
  if (rc == PB_OK) rc = pb__list_set(T(l)->c.l, i, v);
  return NOTE(T(l), rc);
}

int pb_list_insert(pb_list *l, uint64_t i, const pb_value *v) {
  if (!l || !v) return PB_EINVAL;
  LATCHED(T(l));
  int rc = VALID(T(l), v);
  if (rc == PB_OK) rc = pb__tcoll_list_touch(T(l), v);
  if (rc == PB_OK) rc = pb__list_insert(T(l)->c.l, i, v);
  return NOTE(T(l), rc);
}

int pb_list_append(pb_list *l, const pb_value *v) {
  if (!l || !v) return PB_EINVAL;
  LATCHED(T(l));
  int rc = VALID(T(l), v);
  if (rc == PB_OK) rc = pb__tcoll_list_touch(T(l), v);
  if (rc == PB_OK) rc = pb__list_append(T(l)->c.l, v);
  return NOTE(T(l), rc);
}

int pb_list_remove(pb_list *l, uint64_t i) {
  if (!l) return PB_EINVAL;
  LATCHED(T(l));
  int rc = pb__tcoll_list_touch(T(l), NULL);
  if (rc == PB_OK) rc = pb__list_remove(T(l)->c.l, i);
  return NOTE(T(l), rc);
}

int pb_list_iter_open(pb_list *l, uint64_t from, uint64_t to,
                      pb_list_iter **out) {
  if (!l || !out) return PB_EINVAL;
  LATCHED(T(l));
  int rc = pb__tcoll_check(T(l));
  pb__list_iter *it;
  if (rc == PB_OK) rc = pb__list_iter_open(T(l)->c.l, from, to, &it);
  if (rc == PB_OK) *out = (pb_list_iter *)(void *)it;
  return rc;
}

int pb_list_iter_next(pb_list_iter *it, pb_value *val) {
  if (!it || !val) return PB_EINVAL;
  return pb__list_iter_next((pb__list_iter *)(void *)it, val);
}

void pb_list_iter_close(pb_list_iter *it) {
  pb__list_iter_free((pb__list_iter *)(void *)it);
}

/* --- Set --- */

int pb_set_add(pb_set *s, const pb_value *e, bool *added) {
  if (!s || !e) return PB_EINVAL;
  LATCHED(T(s));
  return NOTE(T(s), pb__tcoll_set_add(T(s), e, added));
}

int pb_set_remove(pb_set *s, const pb_value *e) {
  if (!s || !e) return PB_EINVAL;
  LATCHED(T(s));
  return NOTE(T(s), pb__tcoll_set_remove(T(s), e));
}

int pb_set_contains(pb_set *s, const pb_value *e, bool *out) {
  if (!s || !e || !out) return PB_EINVAL;
  LATCHED(T(s));
  int rc = pb__tcoll_check(T(s));
  return rc == PB_OK ? pb__set_contains(T(s)->c.h, e, out) : rc;
}

int pb_set_count(pb_set *s, uint64_t *out) {
  if (!s || !out) return PB_EINVAL;
  LATCHED(T(s));
  int rc = pb__tcoll_check(T(s));
  return rc == PB_OK ? pb__hash_count(T(s)->c.h, out) : rc;
}

/* Applies the set algebra element by element, so that every change is
 * logged (and merges per element). */
static int algebra_apply(pb__tcoll *s, pb__tcoll *o, pb__set_op op);

static int algebra(pb__tcoll *s, pb__tcoll *o, pb__set_op op) {
  if (!s || !o || s->kind != PB_VALUE_SET || o->kind != PB_VALUE_SET)
    return PB_EINVAL;
  LATCHED(s);
  return NOTE(s, algebra_apply(s, o, op));
}

static int algebra_apply(pb__tcoll *s, pb__tcoll *o, pb__set_op op) {
  int rc = pb__tcoll_check(o);
  if (rc != PB_OK) return rc;
  /* Intersection walks s (removing what o lacks), the others walk o.  A
   * walk must not see its own changes, so it walks a snapshot: a result
   * computed first (pb__set_algebra), then replayed as logged changes. */
  pb__hash *res = NULL;
  rc = pb__set_algebra(s->c.h, o->c.h, op, &res);
  pb__hash_iter *it = NULL;
  /* Add what the result has and s lacks... */
  if (rc == PB_OK) rc = pb__hash_iter_open(res, &it);
  pb_value e, unused;
  while (rc == PB_OK && (rc = pb__hash_iter_next(it, &e, &unused)) == PB_OK) {
    bool in = false;
    rc = pb__set_contains(s->c.h, &e, &in);
    if (rc == PB_OK && !in) rc = pb__tcoll_set_add(s, &e, NULL);
  }
  pb__hash_iter_free(it);
  it = NULL;
  if (rc == PB_ENOTFOUND) rc = PB_OK;
  /* ...then remove what s has and the result lacks (collected first:
   * removing while iterating s would invalidate the iterator). */
  if (rc == PB_OK && op != PB__SET_UNION) {
    pb__hash *gone = NULL;
    rc = pb__set_algebra(s->c.h, res, PB__SET_DIFFERENCE, &gone);
    if (rc == PB_OK) rc = pb__hash_iter_open(gone, &it);
    while (rc == PB_OK &&
           (rc = pb__hash_iter_next(it, &e, &unused)) == PB_OK)
      rc = pb__tcoll_set_remove(s, &e);
    if (rc == PB_ENOTFOUND) rc = PB_OK;
    pb__hash_iter_free(it);
    pb__hash_free(gone);
  }
  pb__hash_free(res);
  return rc;
}

int pb_set_union(pb_set *s, pb_set *other) {
  return algebra(T(s), T(other), PB__SET_UNION);
}

int pb_set_intersect(pb_set *s, pb_set *other) {
  return algebra(T(s), T(other), PB__SET_INTERSECTION);
}

int pb_set_subtract(pb_set *s, pb_set *other) {
  return algebra(T(s), T(other), PB__SET_DIFFERENCE);
}

int pb_set_iter_open(pb_set *s, pb_set_iter **out) {
  if (!s || !out) return PB_EINVAL;
  LATCHED(T(s));
  int rc = pb__tcoll_check(T(s));
  pb__hash_iter *it;
  if (rc == PB_OK) rc = pb__hash_iter_open(T(s)->c.h, &it);
  if (rc == PB_OK) *out = (pb_set_iter *)(void *)it;
  return rc;
}

int pb_set_iter_next(pb_set_iter *it, pb_value *elem) {
  if (!it || !elem) return PB_EINVAL;
  pb_value unused;
  return pb__hash_iter_next((pb__hash_iter *)(void *)it, elem, &unused);
}

void pb_set_iter_close(pb_set_iter *it) {
  pb__hash_iter_free((pb__hash_iter *)(void *)it);
}

/* --- HashDictionary --- */

int pb_hdict_get(pb_hdict *h, const pb_value *key, pb_value *out) {
  if (!h || !key || !out) return PB_EINVAL;
  LATCHED(T(h));
  int rc = pb__tcoll_check(T(h));
  return rc == PB_OK ? pb__hash_get(T(h)->c.h, key, out) : rc;
}

int pb_hdict_put(pb_hdict *h, const pb_value *key, const pb_value *v) {
  if (!h || !key || !v) return PB_EINVAL;
  LATCHED(T(h));
  int rc = VALID(T(h), v); /* keys never hold pointers (PB_EINVAL) */
  if (rc == PB_OK) rc = pb__tcoll_hash_put(T(h), key, v);
  return NOTE(T(h), rc);
}

int pb_hdict_remove(pb_hdict *h, const pb_value *key) {
  if (!h || !key) return PB_EINVAL;
  LATCHED(T(h));
  return NOTE(T(h), pb__tcoll_hash_remove(T(h), key));
}

int pb_hdict_count(pb_hdict *h, uint64_t *out) {
  if (!h || !out) return PB_EINVAL;
  LATCHED(T(h));
  int rc = pb__tcoll_check(T(h));
  return rc == PB_OK ? pb__hash_count(T(h)->c.h, out) : rc;
}

int pb_hdict_iter_open(pb_hdict *h, pb_hdict_iter **out) {
  if (!h || !out) return PB_EINVAL;
  LATCHED(T(h));
  int rc = pb__tcoll_check(T(h));
  pb__hash_iter *it;
  if (rc == PB_OK) rc = pb__hash_iter_open(T(h)->c.h, &it);
  if (rc == PB_OK) *out = (pb_hdict_iter *)(void *)it;
  return rc;
}

int pb_hdict_iter_next(pb_hdict_iter *it, pb_value *key, pb_value *val) {
  if (!it || !key || !val) return PB_EINVAL;
  return pb__hash_iter_next((pb__hash_iter *)(void *)it, key, val);
}

void pb_hdict_iter_close(pb_hdict_iter *it) {
  pb__hash_iter_free((pb__hash_iter *)(void *)it);
}
