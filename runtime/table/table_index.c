/*
 * table/table_index.c - the secondary indexes of typed tables
 * (protobase/table.h, INDEXES): their definitions in "\0tables", building
 * a new one, dropping one, keeping entries right on every change, and the
 * consistency check.
 *
 * An entry of index X for a row with primary key P is keyed by X's
 * encoded fields F, then P (a unique index: F alone), packed; its value is
 * BYTES P.  So the entries of one value F are one key range, ordered by
 * primary key, and a unique index's duplicate is a key that exists with
 * another P.  Two transactions that give two rows one unique value both
 * write key F: the second conflicts (first committer wins), is retried by
 * pb_txn_run, and then sees the first's row.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "atom/value.h"
#include "table/table_int.h"
#include "txn/catalog.h"
#include "txn/txn_int.h"
#include "txn/validate.h"
#include "util/errdetail.h"

#define D(t) ((pb_dict *)(void *)(t))

/* --- definitions --- */

/* "<id>:<name>", the definition's key in "\0tables". */
static pb_str def_key(uint32_t id, const char *name, char *buf, size_t cap) {
  int n = snprintf(buf, cap, "%" PRIu32 ":%s", id, name);
  return (pb_str){buf, n < 0 ? 0 : (size_t)n < cap ? (size_t)n : cap - 1};
}

/* "\0i<id>:<name>", the index's root name. */
static pb_str idx_name(uint32_t id, const char *name, char *buf, size_t cap) {
  int n = snprintf(buf + 1, cap - 1, "i%" PRIu32 ":%s", id, name);
  buf[0] = '\0';
  size_t len = n < 0 ? 0 : (size_t)n + 1;
  return (pb_str){buf, len < cap ? len : cap - 1};
}

/* The definition's bytes: varint flags, varint n, n varint tags. */
static void def_encode(const pb_table_index *x, pb_buf *b) {
  pb_wire_put_varint(b, x->flags);
  pb_wire_put_varint(b, x->n_tags);
  for (size_t i = 0; i < x->n_tags; i++) pb_wire_put_varint(b, x->tags[i]);
}

/* Whether x's definition encodes to `stored`: 1 yes, 0 no, or the
 * error of encoding it (PB_ENOMEM), which is not a schema mismatch. */
static int def_equal(const pb_table_index *x, pb_bytes stored) {
  pb_buf b;
  pb_buf_init(&b);
  def_encode(x, &b);
  int rc = pb_buf_error(&b);
  int eq = rc != PB_OK ? rc
                       : b.len == stored.len &&
                             memcmp(b.data, stored.ptr, b.len) == 0;
  pb_buf_free(&b);
  return eq;
}

#define NAME_CAP 300 /* "\0i" + id + ':' + a name of up to 255 bytes */

/* Sets the detail and returns PB_ESCHEMA. */
static int schema_error(const pb__tab *t, const char *name, const char *why) {
  char msg[400];
  snprintf(msg, sizeof msg, "table %s, index %s: %s", t->def->type->name,
           name, why);
  pb__errdetail_set(msg);
  return PB_ESCHEMA;
}

/* --- entries --- */

int pb__tab_entry(const pb__tab *t, size_t i, const void *rec, pb_bytes pk,
                    pb__pkey *out) {
  const pb_table_index *x = &t->def->indexes[i];
  pb_keybuf kb;
  pb_keybuf_init(&kb);
  int rc = x->key(rec, &kb);
  if (rc == PB_OK) rc = pb_keybuf_error(&kb);
  if (rc == PB_OK && !(x->flags & PB_INDEX_UNIQUE)) {
    /* fields, then the primary key's bytes as they are (they are a whole
     * encoded key: concatenation keeps the order, component by
     * component) */
    if (kb.len + pk.len > PB_TABLE_KEY_MAX) {
      rc = PB_ETOOBIG;
    } else {
      uint8_t tmp[PB_TABLE_KEY_MAX];
      memcpy(tmp, kb.ptr, kb.len);
      memcpy(tmp + kb.len, pk.ptr, pk.len);
      rc = pb__pkey_set(out, (pb_bytes){tmp, kb.len + pk.len});
    }
  } else if (rc == PB_OK) {
    rc = pb__pkey_set(out, pb_keybuf_bytes(&kb));
  }
  pb_keybuf_free(&kb);
  return rc;
}

/* Whether a unique index's entry `e` belongs to another row than pk. */
static int unique_taken(pb__tcoll *ix, const pb__pkey *e, pb_bytes pk,
                        bool *taken) {
  pb_value v;
  int rc = pb_dict_get(D(ix), pb__pkey_str(e), &v);
  *taken = false;
  if (rc == PB_ENOTFOUND) return PB_OK;
  if (rc != PB_OK) return rc;
  if (v.kind != PB_VALUE_BYTES) return PB__CORRUPT("index entry: not BYTES");
  *taken = v.as.bytes.len != pk.len ||
           (pk.len && memcmp(v.as.bytes.ptr, pk.ptr, pk.len) != 0);
  return PB_OK;
}

static bool pkey_eq(const pb__pkey *a, const pb__pkey *b) {
  return a->len == b->len && memcmp(a->ptr, b->ptr, a->len) == 0;
}

int pb__tab_reindex(pb_txn *txn, pb__tab *t, const void *old,
                    const void *rec, pb_bytes pk) {
  const pb_table_def *def = t->def;
  if (def->n_indexes == 0) return PB_OK;
  pb__pkey *ent = malloc(2 * def->n_indexes * sizeof *ent);
  if (!ent) return PB_ENOMEM;
  pb__pkey *olds = ent, *news = ent + def->n_indexes;
  int rc = PB_OK;
  /* First what can fail without changing anything: the entries, the
   * index handles, the unique checks. */
  for (size_t i = 0; i < def->n_indexes && rc == PB_OK; i++) {
    pb__tcoll *ix;
    rc = pb__tab_index(txn, t, i, &ix);
    if (rc == PB_OK && old) rc = pb__tab_entry(t, i, old, pk, &olds[i]);
    if (rc == PB_OK && rec) rc = pb__tab_entry(t, i, rec, pk, &news[i]);
    if (rc == PB_OK && rec && (def->indexes[i].flags & PB_INDEX_UNIQUE) &&
        !(old && pkey_eq(&olds[i], &news[i]))) {
      bool taken;
      rc = unique_taken(ix, &news[i], pk, &taken);
      if (rc == PB_OK && taken) {
        char msg[300];
        snprintf(msg, sizeof msg,
                 "table %s: unique index %s has the value in another row",
                 def->type->name, def->indexes[i].name);
        pb__errdetail_set(msg);
        rc = PB_EEXIST;
      }
    }
  }
  pb_value pkv = {.kind = PB_VALUE_BYTES, .as.bytes = pk};
  for (size_t i = 0; i < def->n_indexes && rc == PB_OK; i++) {
    pb__tcoll *ix = t->idx[i];
    bool same = old && rec && pkey_eq(&olds[i], &news[i]);
    if (same) continue;
    if (old) rc = pb_dict_remove(D(ix), pb__pkey_str(&olds[i]));
    if (rc == PB_ENOTFOUND) /* the row's entry must be there */
      rc = pb__txn_note(txn, PB__CORRUPT("table %s: index %s lacks an "
                                         "entry of a row",
                                         def->type->name,
                                         def->indexes[i].name));
    if (rc == PB_OK && rec)
      rc = pb_dict_put(D(ix), pb__pkey_str(&news[i]), &pkv);
  }
  free(ent);
  return rc;
}

/* --- opening, building, dropping --- */

/* Builds index i (a new definition) from every row, in this writable
 * transaction, and catalogs its definition. */
static int build(pb_txn *txn, pb__tab *t, size_t i) {
  const pb_table_index *x = &t->def->indexes[i];
  char buf[NAME_CAP];
  pb__tcoll *ix;
  int rc = pb__txn_open_root(txn, idx_name(t->type_id, x->name, buf,
                                           sizeof buf),
                             PB_VALUE_DICT, true, &ix);
  if (rc != PB_OK) return pb__txn_note(txn, rc);
  uint64_t n;
  if ((rc = pb_dict_count(D(ix), &n)) != PB_OK) return rc;
  if (n > 0) /* a leftover of a definition that was never cataloged */
    return PB__CORRUPT("table %s: index %s has entries but no definition",
                       t->def->type->name, x->name);
  t->idx[i] = ix;
  pb_dict_iter *it;
  if ((rc = pb_dict_iter_open(D(t->rows), NULL, 0, &it)) != PB_OK) return rc;
  void *rec = malloc(t->def->size);
  pb__pkey *e = malloc(sizeof *e);
  uint8_t *pkb = malloc(PB_TABLE_KEY_MAX + 8);
  if (!rec || !e || !pkb) rc = PB_ENOMEM;
  pb_str k;
  pb_value row;
  /* Entries are put after the iteration: a put ends the iterators of
   * its own Dictionary only, and ix is another. */
  while (rc == PB_OK && (rc = pb_dict_iter_next(it, &k, &row)) == PB_OK) {
    size_t pkn;
    if (pb__keyunpack((const uint8_t *)k.ptr, k.len, pkb, &pkn) != PB_OK) {
      rc = PB__CORRUPT("table %s: a row key that is not packed",
                       t->def->type->name);
      break;
    }
    pb_bytes pk = {pkb, pkn};
    rc = pb__tab_decode(txn, t, &row, rec);
    if (rc == PB_OK) rc = pb__tab_entry(t, i, rec, pk, e);
    if (rc == PB_OK && (x->flags & PB_INDEX_UNIQUE)) {
      bool taken;
      rc = unique_taken(ix, e, pk, &taken);
      if (rc == PB_OK && taken)
        rc = schema_error(t, x->name, "unique, but two rows have one value"),
        rc = PB_EEXIST;
    }
    if (rc == PB_OK) {
      pb_value v = {.kind = PB_VALUE_BYTES, .as.bytes = pk};
      rc = pb_dict_put(D(ix), pb__pkey_str(e), &v);
    }
  }
  if (rc == PB_ENOTFOUND) rc = PB_OK;
  pb_dict_iter_close(it);
  free(rec);
  free(e);
  free(pkb);
  if (rc != PB_OK) return rc;
  pb_buf b;
  pb_buf_init(&b);
  def_encode(x, &b);
  rc = pb_buf_error(&b);
  if (rc == PB_OK) {
    pb_value v = {.kind = PB_VALUE_BYTES, .as.bytes = {b.data, b.len}};
    rc = pb_dict_put(D(t->meta),
                     def_key(t->type_id, x->name, buf, sizeof buf), &v);
  }
  pb_buf_free(&b);
  return rc;
}

int pb__tab_sync_indexes(pb_txn *txn, pb__tab *t) {
  const pb_table_def *def = t->def;
  /* The cataloged definitions of this type: keys "<id>:" .. "<id>;". */
  char lo[16], hi[16];
  int nl = snprintf(lo, sizeof lo, "%" PRIu32 ":", t->type_id);
  int nh = snprintf(hi, sizeof hi, "%" PRIu32 ";", t->type_id);
  pb_dict_range r = {{lo, (size_t)nl}, {hi, (size_t)nh}, true, true, true,
                     false};
  pb_dict_iter *it;
  int rc = pb_dict_iter_open(D(t->meta), &r, 0, &it);
  if (rc != PB_OK) return rc;
  bool known[PB__TAB_MAX_INDEXES] = {false};
  pb_str k;
  pb_value v;
  while ((rc = pb_dict_iter_next(it, &k, &v)) == PB_OK) {
    const char *name = k.ptr + nl;
    size_t len = k.len - (size_t)nl;
    size_t i = 0;
    while (i < def->n_indexes && !(strlen(def->indexes[i].name) == len &&
                                   memcmp(def->indexes[i].name, name,
                                          len) == 0))
      i++;
    char nm[260];
    snprintf(nm, sizeof nm, "%.*s", (int)(len < 255 ? len : 255), name);
    if (i == def->n_indexes) {
      rc = schema_error(t, nm,
                        "the database has it and the schema does not: "
                        "drop it (pb_table_drop_index) or declare it");
      break;
    }
    int eq = v.kind == PB_VALUE_BYTES ? def_equal(&def->indexes[i],
                                                  v.as.bytes)
                                      : 0;
    if (eq < 0) {
      rc = eq;
      break;
    }
    if (!eq) {
      rc = schema_error(t, nm,
                        "its fields or flags changed: drop it "
                        "(pb_table_drop_index), then it is built anew");
      break;
    }
    known[i] = true;
  }
  pb_dict_iter_close(it);
  if (rc != PB_ENOTFOUND) return rc;
  rc = PB_OK;
  for (size_t i = 0; i < def->n_indexes && rc == PB_OK; i++)
    if (!known[i]) rc = build(txn, t, i);
  return rc;
}

int pb__tab_index(pb_txn *txn, pb__tab *t, size_t i, pb__tcoll **out) {
  if (t->idx[i]) {
    *out = t->idx[i];
    return PB_OK;
  }
  const pb_table_index *x = &t->def->indexes[i];
  char buf[NAME_CAP];
  int rc;
  if (!t->synced) { /* a reader: the index must be built as def says */
    pb_value v;
    rc = pb__tab_open_meta(txn, t, false);
    if (rc == PB_OK)
      rc = pb_dict_get(D(t->meta), def_key(t->type_id, x->name, buf,
                                           sizeof buf),
                       &v);
    if (rc == PB_ENOTFOUND)
      return schema_error(t, x->name,
                          "not built yet (a writable transaction that uses "
                          "the table builds it)");
    if (rc != PB_OK) return rc;
    int eq = v.kind == PB_VALUE_BYTES ? def_equal(x, v.as.bytes) : 0;
    if (eq < 0) return eq;
    if (!eq)
      return schema_error(t, x->name,
                          "built with other fields or flags than the "
                          "schema's");
  }
  rc = pb__txn_open_root(txn, idx_name(t->type_id, x->name, buf, sizeof buf),
                         PB_VALUE_DICT, false, &t->idx[i]);
  if (rc == PB_ENOTFOUND)
    return PB__CORRUPT("table %s: index %s is cataloged but missing",
                       t->def->type->name, x->name);
  if (rc == PB_OK) *out = t->idx[i];
  return rc;
}

int pb_table_drop_index(pb_txn *txn, const pb_table_def *def,
                        const char *name) {
  if (!txn || !def || !pb__tab_name_ok(name)) return PB_EINVAL;
  /* Registration only: the sync would refuse the very index to drop. */
  int rc = pb__txn_latched(txn);
  if (rc != PB_OK) return rc;
  if (txn->flags & PB_RDONLY) return PB_ERDONLY;
  uint32_t id;
  if ((rc = pb__catalog_register(txn, def->type, &id)) != PB_OK) return rc;
  pb__tcoll *meta;
  rc = pb__txn_open_root(txn, pb__tab_meta_name, PB_VALUE_DICT, false,
                         &meta);
  if (rc != PB_OK) return rc; /* PB_ENOTFOUND: no index at all */
  char buf[NAME_CAP];
  pb_str dk = def_key(id, name, buf, sizeof buf);
  if ((rc = pb_dict_remove(D(meta), dk)) != PB_OK) return rc;
  pb__tcoll **all, *names;
  if ((rc = pb__txn_names(txn, &all, &names)) != PB_OK)
    return pb__txn_note(txn, rc);
  rc = pb__tcoll_dict_remove(names, idx_name(id, name, buf, sizeof buf));
  if (rc == PB_ENOTFOUND) rc = PB_OK; /* an index of no row is still one */
  /* This transaction's memo of the table forgets the index. */
  pb__tab *tabs = txn->tabs;
  for (size_t j = 0; j < txn->n_tabs; j++)
    for (size_t i = 0; i < tabs[j].def->n_indexes; i++)
      if (tabs[j].type_id == id && !strcmp(tabs[j].def->indexes[i].name, name)) {
        tabs[j].idx[i] = NULL;
        tabs[j].synced = false;
      }
  return pb__txn_note(txn, rc);
}
