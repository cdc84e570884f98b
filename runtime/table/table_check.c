/*
 * table/table_check.c - pb_table_check (protobase/table.h): a table and its
 * indexes agree.
 *
 * Every row decodes, and (keyed) its key function gives back the key it
 * is stored under; for every index, the row's entry exists and names the
 * row; and each index has as many entries as the table has rows, so with
 * one entry per row found there is no other (stale) entry.
 */
#include <stdlib.h>
#include <string.h>

#include "table/table_int.h"
#include "util/errdetail.h"

#define D(t) ((pb_dict *)(void *)(t))

static int problem(const pb__tab *t, const char *what, const char *index) {
  return PB__CORRUPT("table %s%s%s: %s", t->def->type->name,
                     index ? ", index " : "", index ? index : "", what);
}

/* Checks one row (packed key k, value v) against the indexes. */
static int check_row(pb_txn *txn, pb__tab *t, pb_str k, const pb_value *v,
                     void *rec, uint8_t *pkb, pb__pkey *e) {
  size_t n;
  if (pb__keyunpack((const uint8_t *)k.ptr, k.len, pkb, &n) != PB_OK)
    return problem(t, "a row key that is not packed", NULL);
  pb_bytes pk = {pkb, n};
  int rc = pb__tab_decode(txn, t, v, rec);
  if (rc != PB_OK) return rc;
  if (t->def->key) {
    pb_keybuf kb;
    pb_keybuf_init(&kb);
    rc = pb__tab_key(t, rec, &kb);
    bool same = rc == PB_OK && kb.len == n && memcmp(kb.ptr, pkb, n) == 0;
    pb_keybuf_free(&kb);
    if (rc != PB_OK) return rc;
    if (!same) return problem(t, "a row stored under another key", NULL);
  }
  for (size_t i = 0; i < t->def->n_indexes; i++) {
    const char *name = t->def->indexes[i].name;
    pb__tcoll *ix;
    if ((rc = pb__tab_index(txn, t, i, &ix)) != PB_OK) return rc;
    if ((rc = pb__tab_entry(t, i, rec, pk, e)) != PB_OK) return rc;
    pb_value ev;
    rc = pb_dict_get(D(ix), pb__pkey_str(e), &ev);
    if (rc == PB_ENOTFOUND) return problem(t, "a row without its entry", name);
    if (rc != PB_OK) return rc;
    if (ev.kind != PB_VALUE_BYTES || ev.as.bytes.len != n ||
        memcmp(ev.as.bytes.ptr, pkb, n) != 0)
      return problem(t, "an entry that names another row", name);
  }
  return PB_OK;
}

int pb_table_check(pb_txn *txn, const pb_table_def *def) {
  pb__tab *t;
  int rc = pb__tab_open(txn, def, false, &t);
  if (rc != PB_OK) return rc;
  pb__tab tab = *t; /* the memo may move while indexes open */
  uint64_t rows = 0;
  if (tab.rows) {
    pb_dict_iter *it;
    if ((rc = pb_dict_iter_open(D(tab.rows), NULL, 0, &it)) != PB_OK)
      return rc;
    void *rec = malloc(def->size);
    uint8_t *pkb = malloc(PB_TABLE_KEY_MAX + 8);
    pb__pkey *e = malloc(sizeof *e);
    if (!rec || !pkb || !e) rc = PB_ENOMEM;
    pb_str k;
    pb_value v;
    while (rc == PB_OK && (rc = pb_dict_iter_next(it, &k, &v)) == PB_OK) {
      rows++;
      rc = check_row(txn, &tab, k, &v, rec, pkb, e);
    }
    if (rc == PB_ENOTFOUND) rc = PB_OK;
    pb_dict_iter_close(it);
    free(rec);
    free(pkb);
    free(e);
    if (rc != PB_OK) return rc;
  }
  for (size_t i = 0; i < def->n_indexes && tab.type_id; i++) {
    pb__tcoll *ix;
    if ((rc = pb__tab_index(txn, &tab, i, &ix)) != PB_OK) {
      if (rc == PB_ESCHEMA && rows == 0) continue; /* never built: none */
      return rc;
    }
    uint64_t n;
    if ((rc = pb_dict_count(D(ix), &n)) != PB_OK) return rc;
    if (n != rows)
      return problem(&tab, "more entries than rows (a stale entry)",
                     def->indexes[i].name);
  }
  return PB_OK;
}
