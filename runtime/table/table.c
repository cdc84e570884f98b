/*
 * table/table.c - typed tables (protobase/table.h): opening a table in a
 * transaction, and its rows: insert, upsert, update, get, delete, count.
 * Indexes are in table_index.c, cursors in cursor.c; the layout in the
 * database root is in table_int.h.
 *
 * Every change reads the row it replaces first (its old index entries
 * must go), checks what can fail (a duplicate key, a unique index) before
 * it changes anything, and then changes the row and its entries through
 * the public Dictionary functions, so a failure after that latches the
 * transaction like any other failed change (protobase.h, pb_txn_begin).
 */
#include <assert.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "table/table_int.h"
#include "txn/catalog.h"
#include "txn/txn_int.h"
#include "txn/validate.h"
#include "util/errdetail.h"

#define D(t) ((pb_dict *)(void *)(t))

/* Records up to this size are decoded on the stack. */
#define REC_STACK 512

int pb__pkey_set(pb__pkey *pk, pb_bytes key) {
  if (key.len > PB_TABLE_KEY_MAX) return PB_ETOOBIG;
  pk->ptr = pk->buf;
  pk->len = pb__keypack_len(key.len);
  pb__keypack(key.ptr, key.len, pk->buf);
  return PB_OK;
}

/* --- opening --- */

bool pb__tab_name_ok(const char *s) {
  if (!s || !*s) return false;
  for (; *s; s++)
    if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') ||
          (*s >= '0' && *s <= '9') || *s == '_'))
      return false;
  return true;
}

/* The part of def_ok that memory safety depends on: checked again on
 * every first use in a transaction, also of a definition the handle
 * resolved before. */
static bool def_shape_ok(const pb_table_def *def) {
  return def && def->type && def->type->name && def->size != 0 &&
         def->init && def->encode && def->decode &&
         def->n_indexes <= PB__TAB_MAX_INDEXES &&
         (def->n_indexes == 0 || def->indexes) &&
         (def->n_members == 0 || def->members);
}

static bool def_ok(const pb_table_def *def) {
  if (!def_shape_ok(def)) return false;
  for (size_t i = 0; i < def->n_indexes; i++) {
    const pb_table_index *x = &def->indexes[i];
    if (!pb__tab_name_ok(x->name) || !x->key || x->n_tags == 0 || !x->tags ||
        (x->flags & ~PB_INDEX_UNIQUE))
      return false;
    for (size_t j = 0; j < i; j++)
      if (strcmp(def->indexes[j].name, x->name) == 0) return false;
  }
  return true;
}

/* The memo entry of def in txn, or NULL. */
static pb__tab *memo_find(pb_txn *txn, const pb_table_def *def) {
  pb__tab *tabs = txn->tabs;
  for (size_t i = 0; i < txn->n_tabs; i++)
    if (tabs[i].def == def) return &tabs[i];
  return NULL;
}

/* A new memo entry of def in txn, zeroed. */
static int memo_add(pb_txn *txn, const pb_table_def *def, pb__tab **out) {
  pb__tab *tabs = txn->tabs;
  if (txn->n_tabs == txn->cap_tabs) {
    size_t cap = txn->cap_tabs ? 2 * txn->cap_tabs : 4;
    pb__tab *n = realloc(txn->tabs, cap * sizeof *n);
    if (!n) return PB_ENOMEM;
    txn->tabs = tabs = n;
    txn->cap_tabs = cap;
  }
  pb__tab *t = &tabs[txn->n_tabs++];
  memset(t, 0, sizeof *t);
  t->def = def;
  *out = t;
  return PB_OK;
}

/* --- resolved tables, per transaction handle (pb_txn.tab_known) ---
 * What a read transaction resolves when it opens a table (the type id
 * from the catalog, the rows' Dictionary from the database root) is a
 * function of the database root and the definition: the handle keeps it,
 * and the next read transaction on the handle that sees the same root
 * opens the rows' Dictionary on the remembered root at once.  A commit
 * gives a new database root (so a table created, emptied or filled since,
 * or a catalog that changed, is resolved again), and a schema version is
 * another definition.  Only tables that exist are kept. */

typedef struct pb__tab_known known;

static known *known_find(pb_txn *txn, const pb_table_def *def) {
  for (unsigned i = 0; i < PB__TAB_KNOWN; i++) {
    known *k = &txn->tab_known[i];
    if (k->def == def && pb_atom_ptr_equal(k->db_root, txn->db_root) &&
        k->type == def->type && def->type &&
        k->fingerprint == def->type->fingerprint)
      return k;
  }
  return NULL;
}

/* Whether k's Dictionary handle is open in this transaction: the entry
 * is not given to another table until it ends (a get of one table, then
 * another table resolved in the same transaction, would otherwise take
 * it), so that the transaction's end still finds and releases what the
 * handle holds. */
static bool known_busy(const pb_txn *txn, const known *k) {
  return k->d && k->d_txn == txn->seq;
}

static void known_put(pb_txn *txn, const pb__tab *t) {
  assert((txn->flags & PB_RDONLY) && t->type_id && t->rows);
  known *k = NULL;
  for (unsigned i = 0; i < PB__TAB_KNOWN && !k; i++)
    if (txn->tab_known[i].def == t->def) k = &txn->tab_known[i];
  for (unsigned i = 0; i < PB__TAB_KNOWN && !k; i++) {
    known *v = &txn->tab_known[txn->tab_known_next];
    txn->tab_known_next = (txn->tab_known_next + 1) % PB__TAB_KNOWN;
    if (!known_busy(txn, v)) k = v;
  }
  if (!k || known_busy(txn, k)) return; /* all in use: not remembered */
  struct pb__dict *d = k->d; /* kept: the next get reopens it */
  *k = (known){.def = t->def,
               .type = t->def->type,
               .fingerprint = t->def->type->fingerprint,
               .db_root = txn->db_root,
               .rows = t->rows->base,
               .type_id = t->type_id,
               .d = d,
               .d_txn = 0};
  /* Its handle now, while the table is resolved (which allocates anyway),
   * so that the handle's warm gets allocate nothing; on failure, the
   * first get tries again. */
  if (!k->d && pb__dict_open(&txn->snap.src, k->rows, &k->d) != PB_OK)
    k->d = NULL;
}

/* The rows' Dictionary of the table k names, for a get in this read
 * transaction: k's own handle, opened on the rows' root once per
 * transaction (a transaction handle's first get allocates it).  Errors:
 * PB_ENOMEM. */
static int known_rows(pb_txn *txn, known *k, pb__dict **out) {
  if (!k->d) {
    int rc = pb__dict_open(&txn->snap.src, k->rows, &k->d);
    if (rc != PB_OK) return rc;
  } else if (k->d_txn != txn->seq) {
    pb__dict_reuse(k->d, &txn->snap.src, k->rows);
  }
  k->d_txn = txn->seq;
  *out = k->d;
  return PB_OK;
}

size_t pb__tab_name(char *buf, const char *head, uint32_t id) {
  size_t n = 0;
  while (*head) buf[n++] = *head++;
  char digits[10];
  size_t d = 0;
  do digits[d++] = (char)('0' + id % 10);
  while ((id /= 10) != 0);
  while (d) buf[n++] = digits[--d];
  return n;
}

/* The root name of the rows: "\0t<id>". */
static pb_str rows_name(uint32_t id, char buf[16]) {
  buf[0] = '\0';
  return (pb_str){buf, 1 + pb__tab_name(buf + 1, "t", id)};
}

const pb_str pb__tab_meta_name = {"\0tables", 7};

int pb__tab_open_meta(pb_txn *txn, pb__tab *t, bool create) {
  if (t->meta) return PB_OK;
  int rc = pb__txn_open_root(txn, pb__tab_meta_name, PB_VALUE_DICT, create, &t->meta);
  if (rc == PB_ENOTFOUND && !create) t->meta = NULL;
  return rc;
}

int pb__tab_open(pb_txn *txn, const pb_table_def *def, bool change,
                 pb__tab **out) {
  if (!txn || !def) return PB_EINVAL;
  bool ro = (txn->flags & PB_RDONLY) != 0;
  pb__tab *t = memo_find(txn, def);
  /* The definition is checked when the transaction first uses it; its
   * indexes' names only once per handle when the handle resolved it
   * before (checked then). */
  const known *k = NULL;
  if (!t) {
    if (ro && !change) k = known_find(txn, def);
    if (k ? !def_shape_ok(def) : !def_ok(def)) return PB_EINVAL;
  }
  int rc = pb__txn_latched(txn);
  if (rc != PB_OK) return rc;
  if (change && ro) return PB_ERDONLY;
  bool fresh = !t;
  if (fresh && (rc = memo_add(txn, def, &t)) != PB_OK) return rc;
  if (k) { /* resolved in this database root before */
    assert(fresh && !t->rows);
    rc = pb__tcoll_open(&txn->env, PB_VALUE_DICT, k->rows, &txn->all,
                        &t->rows);
    if (rc != PB_OK) return rc; /* the entry stays unresolved */
    t->type_id = k->type_id;
    *out = t;
    return PB_OK;
  }
  if (change && !t->registered) {
    if ((rc = pb__catalog_register(txn, def->type, &t->type_id)) != PB_OK)
      return rc;
    t->registered = true;
    t->rows = NULL; /* reopened below, created */
  } else if (!t->type_id) {
    uint64_t epoch;
    rc = pb__catalog_find(txn, def->type, &epoch, &t->type_id);
    if (rc != PB_OK) return rc;
    if (!t->type_id) { /* never registered: no table yet */
      *out = t;
      return PB_OK;
    }
  }
  if (!t->rows) {
    char buf[16];
    rc = pb__txn_open_root(txn, rows_name(t->type_id, buf), PB_VALUE_DICT,
                           change, &t->rows);
    if (rc == PB_ENOTFOUND && !change) rc = PB_OK, t->rows = NULL;
    if (rc != PB_OK) return change ? pb__txn_note(txn, rc) : rc;
    if (ro && fresh && t->rows) known_put(txn, t);
  }
  if (!t->meta && change) { /* readers open it when they use an index */
    rc = pb__tab_open_meta(txn, t, true);
    if (rc != PB_OK) return pb__txn_note(txn, rc);
  }
  if (change && !t->synced) {
    if ((rc = pb__tab_sync_indexes(txn, t)) != PB_OK) return rc;
    t->synced = true;
  }
  *out = t;
  return PB_OK;
}

/* --- rows --- */

/* pb__tab_decode of a row of def's table. */
static int decode_row(pb_txn *txn, const pb_table_def *def,
                      const pb_value *row, void *rec) {
  if (row->kind != PB_VALUE_RECORD)
    return PB__CORRUPT("table %s: a row that is not a record (kind %d)",
                       def->type->name, (int)row->kind);
  pb_arena *arena = NULL; /* a warm read allocates nothing without arrays */
  int rc = def->arena ? pb_txn_arena(txn, &arena) : PB_OK;
  if (rc != PB_OK) return rc;
  /* The generated decoder initializes rec first (docs/generated.md). */
  rc = def->decode(rec, row->as.rec.body.ptr, row->as.rec.body.len, arena);
  if (rc == PB_ECORRUPT)
    pb__errdetail_prefix("table %s: row: ", def->type->name);
  return rc;
}

int pb__tab_decode(pb_txn *txn, const pb__tab *t, const pb_value *row,
                   void *rec) {
  return decode_row(txn, t->def, row, rec);
}

/* Scratch for one record struct: on the stack when small. */
typedef struct recbuf {
  void *p;
  _Alignas(max_align_t) unsigned char small[REC_STACK];
} recbuf;

static void *rec_alloc(recbuf *b, size_t size) {
  b->p = size <= sizeof b->small ? (void *)b->small : malloc(size);
  return b->p;
}

static void rec_free(recbuf *b) {
  if (b->p != (void *)b->small) free(b->p);
}

int pb__tab_key(const pb__tab *t, const void *rec, pb_keybuf *kb) {
  pb_keybuf_reset(kb);
  int rc = t->def->key(rec, kb);
  if (rc == PB_OK) rc = pb_keybuf_error(kb);
  if (rc == PB_OK && kb->len > PB_TABLE_KEY_MAX) rc = PB_ETOOBIG;
  return rc;
}

/* Reads the row at packed key pk: PB_OK with *row, or PB_ENOTFOUND. */
static int row_get(pb__tab *t, const pb__pkey *pk, pb_value *row) {
  if (!t->rows) return PB_ENOTFOUND;
  return pb_dict_get(D(t->rows), pb__pkey_str(pk), row);
}

/* Writes rec as the row at pk (whose encoded primary key is `key`),
 * replacing `old` (NULL: a new row), with its index entries. */
static int row_put(pb_txn *txn, pb__tab *t, const pb__pkey *pk, pb_bytes key,
                   const void *old, const void *rec) {
  int rc = pb__tab_reindex(txn, t, old, rec, key);
  if (rc != PB_OK) return rc;
  pb_buf body;
  pb_buf_init(&body);
  rc = t->def->encode(rec, &body);
  if (rc == PB_OK) {
    pb_value v = {.kind = PB_VALUE_RECORD,
                  .as.rec = {t->def->type->fingerprint,
                             {body.data, body.len}}};
    rc = pb_dict_put(D(t->rows), pb__pkey_str(pk), &v);
  }
  pb_buf_free(&body);
  return rc;
}

/* The id counter of a keyless table: its key in "\0tables", and the
 * next id (1 when there is none yet). */
static int peek_id(pb__tab *t, char name[16], pb_str *key, uint64_t *next) {
  *key = (pb_str){name, pb__tab_name(name, "", t->type_id)};
  pb_value v;
  int rc = pb_dict_get(D(t->meta), *key, &v);
  *next = 1;
  if (rc == PB_ENOTFOUND) return PB_OK;
  if (rc != PB_OK) return rc;
  if (v.kind != PB_VALUE_UINT || v.as.u == 0)
    return PB__CORRUPT("table %s: a bad id counter", t->def->type->name);
  if (v.as.u == UINT64_MAX) return PB_ETOOBIG; /* ids exhausted */
  *next = v.as.u;
  return PB_OK;
}

/* The encoded key of id. */
static int id_key(uint64_t id, pb_keybuf *kb) {
  pb_keybuf_reset(kb);
  pb_key_put_u64(kb, id);
  return pb_keybuf_error(kb);
}

/* Replaces (or, with `must_exist` false, also inserts) the row at the
 * encoded key `key`; with `must_be_new`, PB_EEXIST if it exists. */
static int write_row(pb_txn *txn, pb__tab *t, pb_bytes key, const void *rec,
                     bool must_exist, bool must_be_new) {
  pb__pkey pk;
  int rc = pb__pkey_set(&pk, key);
  if (rc != PB_OK) return rc;
  pb_value row;
  rc = row_get(t, &pk, &row);
  if (rc == PB_OK && must_be_new) return PB_EEXIST;
  if (rc == PB_ENOTFOUND && must_exist) return PB_ENOTFOUND;
  if (rc != PB_OK && rc != PB_ENOTFOUND) return rc;
  recbuf ob = {0};
  void *old = NULL;
  if (rc == PB_OK) {
    if (!(old = rec_alloc(&ob, t->def->size))) return PB_ENOMEM;
    rc = pb__tab_decode(txn, t, &row, old);
  } else {
    rc = PB_OK;
  }
  if (rc == PB_OK) rc = row_put(txn, t, &pk, key, old, rec);
  if (old) rec_free(&ob);
  return rc;
}

int pb_table_insert(pb_txn *txn, const pb_table_def *def, const void *rec,
                    uint64_t *id) {
  if (id) *id = 0;
  if (!rec) return PB_EINVAL;
  pb__tab *t;
  int rc = pb__tab_open(txn, def, true, &t);
  if (rc != PB_OK) return rc;
  pb_keybuf kb;
  pb_keybuf_init(&kb);
  uint64_t n = 0;
  char name[16];
  pb_str counter;
  if (def->key) {
    rc = pb__tab_key(t, rec, &kb);
  } else if (!id) {
    rc = PB_EINVAL; /* a keyless insert must say where the id goes */
  } else {
    rc = peek_id(t, name, &counter, &n);
    if (rc == PB_OK) rc = id_key(n, &kb);
  }
  if (rc == PB_OK)
    rc = write_row(txn, t, pb_keybuf_bytes(&kb), rec, false, true);
  /* The counter moves only once the row is in: a refused insert (a
   * unique index) uses no id. */
  if (rc == PB_OK && !def->key) {
    pb_value v = {.kind = PB_VALUE_UINT, .as.u = n + 1};
    rc = pb_dict_put(D(t->meta), counter, &v);
  }
  pb_keybuf_free(&kb);
  if (rc == PB_OK && id) *id = n;
  return rc;
}

static int keyed_write(pb_txn *txn, const pb_table_def *def, const void *rec,
                       bool must_exist) {
  if (!rec || (def && !def->key)) return PB_EINVAL;
  pb__tab *t;
  int rc = pb__tab_open(txn, def, true, &t);
  if (rc != PB_OK) return rc;
  pb_keybuf kb;
  pb_keybuf_init(&kb);
  rc = pb__tab_key(t, rec, &kb);
  if (rc == PB_OK)
    rc = write_row(txn, t, pb_keybuf_bytes(&kb), rec, must_exist, false);
  pb_keybuf_free(&kb);
  return rc;
}

int pb_table_upsert(pb_txn *txn, const pb_table_def *def, const void *rec) {
  return keyed_write(txn, def, rec, false);
}

int pb_table_update(pb_txn *txn, const pb_table_def *def, const void *rec) {
  return keyed_write(txn, def, rec, true);
}

int pb_table_update_id(pb_txn *txn, const pb_table_def *def, uint64_t id,
                       const void *rec) {
  if (!rec || (def && def->key)) return PB_EINVAL;
  pb__tab *t;
  int rc = pb__tab_open(txn, def, true, &t);
  if (rc != PB_OK) return rc;
  pb_keybuf kb;
  pb_keybuf_init(&kb);
  rc = id_key(id, &kb);
  if (rc == PB_OK)
    rc = write_row(txn, t, pb_keybuf_bytes(&kb), rec, true, false);
  pb_keybuf_free(&kb);
  return rc;
}

/* pb_table_get in a read transaction, of a table its handle resolved in
 * this database root before (known_find) and not opened otherwise in this
 * transaction: straight from the rows' Dictionary through the entry's own
 * handle, with no collection handle and no memo entry (a warm typed get
 * per read transaction: about 15 ns less).  *done false: not such a get,
 * nothing done. */
static int known_get(pb_txn *txn, const pb_table_def *def, pb_bytes key,
                     void *rec, bool *done) {
  *done = false;
  if (!txn || !def || !(txn->flags & PB_RDONLY) || memo_find(txn, def))
    return PB_OK;
  known *k = known_find(txn, def);
  if (!k) return PB_OK;
  /* The definition is checked once per transaction, as pb__tab_open does
   * (its indexes' names were checked when the handle resolved it). */
  if (k->d_txn != txn->seq && !def_shape_ok(def)) return PB_OK;
  *done = true;
  int rc = pb__txn_latched(txn);
  if (rc != PB_OK) return rc;
  pb__pkey pk;
  if ((rc = pb__pkey_set(&pk, key)) != PB_OK) return rc;
  pb__dict *rows;
  if ((rc = known_rows(txn, k, &rows)) != PB_OK) return rc;
  pb_value row;
  if ((rc = pb__dict_get(rows, pb__pkey_str(&pk), &row)) != PB_OK) return rc;
  return decode_row(txn, def, &row, rec);
}

int pb_table_get(pb_txn *txn, const pb_table_def *def, pb_bytes key,
                 void *rec) {
  if (!rec || (!key.ptr && key.len)) return PB_EINVAL;
  bool done;
  int rc = known_get(txn, def, key, rec, &done);
  if (done) return rc;
  pb__tab *t;
  rc = pb__tab_open(txn, def, false, &t);
  if (rc != PB_OK) return rc;
  pb__pkey pk;
  if ((rc = pb__pkey_set(&pk, key)) != PB_OK) return rc;
  pb_value row;
  if ((rc = row_get(t, &pk, &row)) != PB_OK) return rc;
  return pb__tab_decode(txn, t, &row, rec);
}

int pb_table_delete(pb_txn *txn, const pb_table_def *def, pb_bytes key) {
  if (!key.ptr && key.len) return PB_EINVAL;
  pb__tab *t;
  int rc = pb__tab_open(txn, def, true, &t);
  if (rc != PB_OK) return rc;
  pb__pkey pk;
  if ((rc = pb__pkey_set(&pk, key)) != PB_OK) return rc;
  pb_value row;
  if ((rc = row_get(t, &pk, &row)) != PB_OK) return rc;
  recbuf ob = {0};
  void *old = rec_alloc(&ob, def->size);
  if (!old) return PB_ENOMEM;
  rc = pb__tab_decode(txn, t, &row, old);
  if (rc == PB_OK) rc = pb__tab_reindex(txn, t, old, NULL, key);
  pb__tab tab = *t; /* the memo may move while member tables open */
  if (rc == PB_OK) rc = pb__tab_drop_members(txn, &tab, &pk);
  if (rc == PB_OK) rc = pb_dict_remove(D(tab.rows), pb__pkey_str(&pk));
  rec_free(&ob);
  return rc;
}

int pb_table_count(pb_txn *txn, const pb_table_def *def, uint64_t *out) {
  if (!out) return PB_EINVAL;
  *out = 0;
  pb__tab *t;
  int rc = pb__tab_open(txn, def, false, &t);
  if (rc != PB_OK || !t->rows) return rc;
  return pb_dict_count(D(t->rows), out);
}
