/*
 * table/cursor.c - ordered scans of typed tables (protobase/table.h):
 * over the rows by primary key, or over an index's entries, each then
 * read from the rows.
 *
 * Bounds are encoded keys; the Dictionary holds packed ones, and packing
 * keeps the order (table/keypack.h), so a range of encoded keys is the
 * range of their packings.  An index entry is its fields' encoding
 * followed by the primary key, so index bounds are PREFIXES: every entry
 * of the value F starts with F, and lies in [F, successor(F)).  Hence for
 * an index, "lo exclusive" starts at successor(lo) and "hi inclusive"
 * ends before successor(hi); primary-key scans do the same with
 * PB_SCAN_PREFIX (bounds that are the first components of a composite
 * key).
 */
#include <stdlib.h>
#include <string.h>

#include "table/table_int.h"
#include "txn/txn_int.h"
#include "txn/validate.h"
#include "util/errdetail.h"

#define D(t) ((pb_dict *)(void *)(t))

/* How many index entries a cursor reads ahead of the row it gives. */
#define AHEAD 8

/* An index entry read ahead: its row's packed primary key, or an error
 * met reading it (given when its turn comes). */
typedef struct ahead {
  int rc;
  uint8_t *pk;
  size_t len, cap;
} ahead;

struct pb_cursor {
  pb_txn *txn;
  pb__tab tab;        /* a copy: the transaction's memo may move */
  pb_dict_iter *it;   /* NULL: an empty table (nothing to iterate) */
  bool index;         /* entries of an index, not rows */
  int err;            /* a sticky error, or PB_OK */
  /* Index cursors read up to AHEAD entries ahead and prefetch their rows
   * (pb__tcoll_dict_prefetch), so the rows' lookups wait for memory
   * together: ring[head], ..., n of them, in order. */
  ahead ring[AHEAD];
  unsigned head, n;
  bool drained;       /* the index iterator is at its end (or failed) */
};

/* One bound, packed.  `succ`: the successor of the prefix instead;
 * *open is set when it has none (the range is open on that side). */
static int bound(pb_bytes b, bool succ, pb__pkey *out, bool *open) {
  *open = false;
  if (!succ) return pb__pkey_set(out, b);
  pb_keybuf kb;
  pb_keybuf_init(&kb);
  int rc = pb_key_prefix_successor(b.ptr, b.len, &kb);
  if (rc == PB_ENOTFOUND) {
    *open = true;
    rc = PB_OK;
  } else if (rc == PB_OK) {
    rc = pb__pkey_set(out, pb_keybuf_bytes(&kb));
  }
  pb_keybuf_free(&kb);
  return rc;
}

static int open_cursor(pb_txn *txn, pb__tab *t, pb__tcoll *coll, bool index,
                       const pb_bytes *lo, const pb_bytes *hi,
                       unsigned flags, pb_cursor **out) {
  if ((lo && !lo->ptr && lo->len) || (hi && !hi->ptr && hi->len))
    return PB_EINVAL;
  bool prefix = index || (flags & PB_SCAN_PREFIX);
  pb_cursor *c = calloc(1, sizeof *c);
  pb__pkey *bl = malloc(2 * sizeof *bl);
  if (!c || !bl) {
    free(c);
    free(bl);
    return PB_ENOMEM;
  }
  c->txn = txn;
  c->tab = *t;
  c->index = index;
  pb_dict_range r = {.lo_incl = true};
  int rc = PB_OK;
  bool open = false;
  if (lo) {
    bool excl = (flags & PB_SCAN_LO_EXCL) != 0;
    rc = bound(*lo, prefix && excl, &bl[0], &open);
    if (rc == PB_OK && open) { /* nothing lies above an all-0xFF prefix */
      free(bl);
      *out = c; /* empty */
      return PB_OK;
    }
    r.has_lo = true;
    r.lo = pb__pkey_str(&bl[0]);
    r.lo_incl = prefix || !excl;
  }
  if (rc == PB_OK && hi) {
    bool incl = (flags & PB_SCAN_HI_INCL) != 0;
    rc = bound(*hi, prefix && incl, &bl[1], &open);
    if (rc == PB_OK && !open) {
      r.has_hi = true;
      r.hi = pb__pkey_str(&bl[1]);
      r.hi_incl = !prefix && incl;
    }
  }
  if (rc == PB_OK && coll)
    rc = pb_dict_iter_open(D(coll), &r,
                           (flags & PB_SCAN_REVERSE) ? PB_REVERSE : 0,
                           &c->it);
  free(bl);
  if (rc != PB_OK) {
    free(c);
    return rc;
  }
  *out = c;
  return PB_OK;
}

#define SCAN_FLAGS \
  (PB_SCAN_LO_EXCL | PB_SCAN_HI_INCL | PB_SCAN_REVERSE | PB_SCAN_PREFIX)

int pb_table_scan(pb_txn *txn, const pb_table_def *def, const pb_bytes *lo,
                  const pb_bytes *hi, unsigned flags, pb_cursor **out) {
  if (!out || (flags & ~SCAN_FLAGS)) return PB_EINVAL;
  *out = NULL;
  pb__tab *t;
  int rc = pb__tab_open(txn, def, false, &t);
  if (rc != PB_OK) return rc;
  return open_cursor(txn, t, t->rows, false, lo, hi, flags, out);
}

int pb_table_index_scan(pb_txn *txn, const pb_table_def *def, size_t index,
                        const pb_bytes *lo, const pb_bytes *hi,
                        unsigned flags, pb_cursor **out) {
  if (!out || (flags & ~SCAN_FLAGS)) return PB_EINVAL;
  *out = NULL;
  if (def && index >= def->n_indexes) return PB_EINVAL;
  pb__tab *t;
  int rc = pb__tab_open(txn, def, false, &t);
  if (rc != PB_OK) return rc;
  pb__tcoll *ix = NULL;
  if (t->type_id && (rc = pb__tab_index(txn, t, index, &ix)) != PB_OK)
    return rc;
  return open_cursor(txn, t, t->rows ? ix : NULL, true, lo, hi, flags, out);
}

int pb_table_find(pb_txn *txn, const pb_table_def *def, size_t index,
                  pb_bytes prefix, pb_cursor **out) {
  return pb_table_index_scan(txn, def, index, &prefix, &prefix,
                             PB_SCAN_HI_INCL, out);
}

/* The id of a keyless table's row from its packed key. */
static int id_of(const pb__tab *t, pb_str k, uint64_t *id) {
  uint8_t raw[16];
  size_t n;
  pb_keyreader r;
  if (k.len > 10 ||
      pb__keyunpack((const uint8_t *)k.ptr, k.len, raw, &n) != PB_OK)
    goto bad;
  pb_keyreader_init(&r, raw, n);
  if (pb_key_get_u64(&r, id) != PB_OK || pb_key_expect_end(&r) != PB_OK)
    goto bad;
  return PB_OK;
bad:
  return PB__CORRUPT("table %s: a row key that is not an id",
                     t->def->type->name);
}

/* Reads index entries ahead until AHEAD are waiting or the index ends,
 * packing each one's primary key and prefetching its row. */
static void read_ahead(pb_cursor *c) {
  while (c->n < AHEAD && !c->drained) {
    ahead *a = &c->ring[(c->head + c->n) % AHEAD];
    pb_str k;
    pb_value v;
    a->rc = pb_dict_iter_next(c->it, &k, &v);
    if (a->rc == PB_ENOTFOUND) {
      c->drained = true;
      return;
    }
    c->n++;
    if (a->rc == PB_OK && v.kind != PB_VALUE_BYTES)
      a->rc = PB__CORRUPT("table %s: an index entry that is not BYTES",
                          c->tab.def->type->name);
    if (a->rc == PB_OK && v.as.bytes.len > PB_TABLE_KEY_MAX)
      a->rc = PB__CORRUPT("table %s: an index entry's key is too long",
                          c->tab.def->type->name);
    if (a->rc != PB_OK) {
      c->drained = true; /* the iterator gives this error again: stop */
      return;
    }
    size_t len = pb__keypack_len(v.as.bytes.len);
    if (a->cap < len) {
      uint8_t *pk = realloc(a->pk, len);
      if (!pk) {
        a->rc = PB_ENOMEM;
        c->drained = true;
        return;
      }
      a->pk = pk;
      a->cap = len;
    }
    pb__keypack(v.as.bytes.ptr, v.as.bytes.len, a->pk);
    a->len = len;
    pb__tcoll_dict_prefetch(c->tab.rows,
                            (pb_str){(const char *)a->pk, a->len});
  }
}

/* The next row of an index cursor (c->err is PB_OK): its stored value. */
static int next_by_index(pb_cursor *c, pb_value *v, uint64_t *id) {
  read_ahead(c);
  if (c->n == 0) return PB_ENOTFOUND;
  ahead *a = &c->ring[c->head];
  c->head = (c->head + 1) % AHEAD;
  c->n--;
  int rc = a->rc;
  pb_str k = {(const char *)a->pk, a->len};
  if (rc == PB_OK) rc = pb_dict_get(D(c->tab.rows), k, v);
  if (rc == PB_ENOTFOUND)
    rc = PB__CORRUPT("table %s: an index entry names no row",
                     c->tab.def->type->name);
  if (rc == PB_OK && id && !c->tab.def->key) rc = id_of(&c->tab, k, id);
  return rc;
}

/* The next row's stored value (and id): PB_OK, PB_ENOTFOUND, or an error
 * (made sticky). */
static int next_value(pb_cursor *c, pb_value *v, uint64_t *id) {
  if (id) *id = 0;
  if (c->err != PB_OK) return c->err;
  if (!c->it) return PB_ENOTFOUND;
  int rc;
  if (c->index) {
    rc = next_by_index(c, v, id);
  } else {
    pb_str k;
    rc = pb_dict_iter_next(c->it, &k, v);
    if (rc == PB_OK && id && !c->tab.def->key) rc = id_of(&c->tab, k, id);
  }
  if (rc != PB_OK && rc != PB_ENOTFOUND) c->err = rc;
  return rc;
}

int pb_cursor_next(pb_cursor *c, void *rec, uint64_t *id) {
  if (!c || !rec) return PB_EINVAL;
  pb_value v;
  int rc = next_value(c, &v, id);
  if (rc == PB_OK) rc = pb__tab_decode(c->txn, &c->tab, &v, rec);
  if (rc != PB_OK && rc != PB_ENOTFOUND) c->err = rc;
  return rc;
}

int pb__cursor_next_raw(pb_cursor *c, pb_bytes *body, uint64_t *id) {
  if (!c || !body) return PB_EINVAL;
  pb_value v;
  int rc = next_value(c, &v, id);
  if (rc == PB_OK && v.kind != PB_VALUE_RECORD)
    rc = c->err = PB__CORRUPT("table %s: a row that is not a record (kind "
                              "%d)", c->tab.def->type->name, (int)v.kind);
  if (rc == PB_OK) *body = v.as.rec.body;
  return rc;
}

int pb__cursor_decode(pb_cursor *c, pb_bytes body, void *rec) {
  if (!c || !rec) return PB_EINVAL;
  if (c->err != PB_OK) return c->err;
  pb_value v;
  memset(&v, 0, sizeof v);
  v.kind = PB_VALUE_RECORD;
  v.as.rec.body = body;
  int rc = pb__tab_decode(c->txn, &c->tab, &v, rec);
  if (rc != PB_OK) c->err = rc;
  return rc;
}

void pb_cursor_close(pb_cursor *c) {
  if (!c) return;
  pb_dict_iter_close(c->it);
  for (unsigned i = 0; i < AHEAD; i++) free(c->ring[i].pk);
  free(c);
}
