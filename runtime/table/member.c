/*
 * table/member.c - the list, set and map members of table rows
 * (protobase/table.h, pb_table_open_member).
 *
 * A row's member collection is a nested collection in the Dictionary
 * "\0m<type id>:<tag>" of the database root, under the row's packed
 * primary key: beside the row, not inside its record, so that it is
 * opened, changed and merged as any nested collection is (per key or
 * element, docs/transactions.md), and a change to it does not rewrite the
 * row.  Deleting the row removes its entries here (pb__tab_drop_members).
 */

#include "table/table_int.h"
#include "txn/txn_int.h"
#include "txn/validate.h"

#define D(t) ((pb_dict *)(void *)(t))

/* "\0m<id>:<tag>". */
static pb_str member_name(uint32_t id, uint32_t tag, char *buf, size_t cap) {
  (void)cap; /* 32: "\0m", 10 digits, ':', 10 digits */
  buf[0] = '\0';
  size_t n = 1 + pb__tab_name(buf + 1, "m", id);
  n += pb__tab_name(buf + n, ":", tag);
  return (pb_str){buf, n};
}

static bool is_member(const pb_table_def *def, uint32_t tag) {
  for (size_t i = 0; i < def->n_members; i++)
    if (def->members[i] == tag) return true;
  return false;
}

int pb_table_open_member(pb_txn *txn, const pb_table_def *def, pb_bytes key,
                         uint32_t tag, pb_value_kind kind, unsigned flags,
                         void **out) {
  if (!out || !def || (!key.ptr && key.len) || !is_member(def, tag) ||
      !pb_value_is_collection(kind) || (flags & ~PB_CREATE) ||
      (def->n_members > 0 && !def->members))
    return PB_EINVAL;
  *out = NULL;
  bool create = (flags & PB_CREATE) != 0;
  pb__tab *t;
  int rc = pb__tab_open(txn, def, create, &t);
  if (rc != PB_OK) return rc;
  uint32_t id = t->type_id;
  pb__tcoll *rows = t->rows; /* t may move when another table opens */
  if (!rows) return PB_ENOTFOUND;
  pb__pkey pk;
  if ((rc = pb__pkey_set(&pk, key)) != PB_OK) return rc;
  pb_value row;
  if ((rc = pb_dict_get(D(rows), pb__pkey_str(&pk), &row)) != PB_OK)
    return rc; /* PB_ENOTFOUND: no such row */
  char buf[32];
  pb__tcoll *side;
  rc = pb__txn_open_root(txn, member_name(id, tag, buf, sizeof buf),
                         PB_VALUE_DICT, create, &side);
  if (rc != PB_OK) return create ? pb__txn_note(txn, rc) : rc;
  pb_str k = pb__pkey_str(&pk);
  switch (kind) {
    case PB_VALUE_DICT:
      return pb_dict_open_dict(D(side), k, flags, (pb_dict **)out);
    case PB_VALUE_LIST:
      return pb_dict_open_list(D(side), k, flags, (pb_list **)out);
    case PB_VALUE_SET:
      return pb_dict_open_set(D(side), k, flags, (pb_set **)out);
    default:
      return pb_dict_open_hdict(D(side), k, flags, (pb_hdict **)out);
  }
}

int pb__tab_drop_members(pb_txn *txn, const pb__tab *t, const pb__pkey *pk) {
  for (size_t i = 0; i < t->def->n_members; i++) {
    char buf[32];
    pb__tcoll *side;
    int rc = pb__txn_open_root(
        txn, member_name(t->type_id, t->def->members[i], buf, sizeof buf),
        PB_VALUE_DICT, false, &side);
    if (rc == PB_ENOTFOUND) continue; /* no row has this member yet */
    if (rc == PB_OK) rc = pb_dict_remove(D(side), pb__pkey_str(pk));
    if (rc != PB_OK && rc != PB_ENOTFOUND) return rc;
  }
  return PB_OK;
}
