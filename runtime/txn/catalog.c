/*
 * txn/catalog.c - the catalog of a database (SPEC 7): record type
 * fingerprint -> schema_epoch, record type name -> type id (the id record
 * atoms carry, atom/atom.h), and the field layout of every registered
 * version, checked by the rules of `pbc check` (txn/layout.c).
 *
 * The catalog is a HashDictionary in the database root under the name
 * "\0catalog" (8 bytes; no C string names it, so pb_txn_set cannot touch
 * it).  Its entries:
 *
 *   NULL            -> UINT the last epoch given
 *   UINT fp         -> UINT epoch of that fingerprint
 *   INT -epoch      -> UINT fp (so two commits giving one epoch conflict)
 *   INT 0           -> UINT the last type id given (ids start at 17)
 *   INT id          -> STRING name (likewise; and names an id in messages)
 *   STRING name     -> BYTES varint id, then the 8-byte little-endian
 *                      fingerprints of its versions that have a layout
 *                      (a record registered with [renamed_from = OLD],
 *                      OLD's entry not its own, takes OLD's id and
 *                      versions: its atoms stay readable, and its layout
 *                      is checked against OLD's)
 *   BYTES fp (8 LE) -> BYTES the layout of that version (txn/layout.h)
 *
 * A catalog written before type ids and layouts has only the first two
 * kinds; its fingerprints keep their epochs, and get a name entry and a
 * layout when a writer registers them again.
 *
 * Writing (registration) happens only when the application asks: at
 * pb_db_open_types / pb_db_register / pb_db_schema_epoch (a commit of
 * their own, pb_txn_run), or at the first pb_txn_put_record of a type in a
 * writable transaction (into that transaction, committed with it).
 * Registering a version checks it against every cataloged version of its
 * record; a breaking change is PB_ESCHEMA.  Two writers registering at once
 * both change the NULL or INT 0 entries with different reverse entries, so
 * one conflicts and retries: epochs and ids are never given twice; two
 * registering the same version write the same values, which merge.
 *
 * Reading (pb__catalog_find, for loads) never writes, syncs or locks: it
 * reads the catalog in a read-only transaction (committed entries, which
 * it caches per pb_db, read without a lock: below) or in the caller's
 * transaction (its own
 * registrations, not cached).  A version the catalog does not have is
 * checked against the versions it has, and gets no epoch (decoded
 * privately), or on a read-only storage a local one (>= 2^32, counted per
 * process).
 */
#include <assert.h>
#include <inttypes.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "atom/atom.h"
#include "txn/catalog.h"
#include "txn/layout.h"
#include "txn/space.h"
#include "txn/tcoll.h"
#include "txn/txn_int.h"
#include "util/errdetail.h"

static const pb_str catalog_name = {"\0catalog", 8};

/* Epochs given to unknown fingerprints on read-only storages. */
static atomic_uint_fast64_t local_epochs = (uint64_t)1 << 32;

#define RETRIES 100u
#define MAX_DEPTH 64 /* records embedded in records, registered first */

/* --- The per-handle cache: committed entries only. ---
 * Read on every load of a record, by any thread, so a lookup writes
 * nothing: it loads the count of published entries, then the table, and
 * scans that many.  An addition (under cat_mu) writes the entry, or a
 * larger copy of the table with it, before it publishes the table and
 * then the count (release), so every entry below a count a reader loaded
 * (acquire) is in whatever table it loads after it, complete.  Replaced
 * tables stay until the handle closes: a reader may still scan one. */

static bool cache_find(pb_db *db, uint64_t fp, uint64_t *epoch,
                       uint32_t *id) {
  size_t n = atomic_load_explicit(&db->n_epochs, memory_order_acquire);
  const pb__epoch_table *t =
      atomic_load_explicit(&db->epochs, memory_order_acquire);
  assert(n == 0 || (t && n <= t->cap));
  for (size_t i = 0; i < n; i++)
    if (t->e[i].fingerprint == fp) {
      *epoch = t->e[i].epoch;
      *id = t->e[i].type_id;
      return true;
    }
  return false;
}

/* Remembers an entry (best effort: out of memory only costs a lookup). */
static void cache_add(pb_db *db, uint64_t fp, uint64_t epoch, uint32_t id) {
  pthread_mutex_lock(&db->cat_mu);
  size_t n = atomic_load_explicit(&db->n_epochs, memory_order_relaxed);
  pb__epoch_table *t =
      atomic_load_explicit(&db->epochs, memory_order_relaxed);
  bool dup = false;
  for (size_t i = 0; i < n && !dup; i++) dup = t->e[i].fingerprint == fp;
  if (!dup && (!t || n == t->cap)) {
    size_t cap = t ? t->cap * 2 : 8;
    pb__epoch_table *g = malloc(sizeof *g + cap * sizeof g->e[0]);
    if (g) {
      g->older = t;
      g->cap = cap;
      if (n) memcpy(g->e, t->e, n * sizeof g->e[0]);
      atomic_store_explicit(&db->epochs, g, memory_order_release);
      t = g;
    }
  }
  if (!dup && t && n < t->cap) {
    t->e[n] = (pb__epoch_entry){fp, epoch, id};
    atomic_store_explicit(&db->n_epochs, n + 1, memory_order_release);
  }
  pthread_mutex_unlock(&db->cat_mu);
}

/* --- Entries. --- */

/* The catalog of txn; PB_ENOTFOUND when there is none and !create. */
static int cat_open(pb_txn *txn, bool create, pb__tcoll **cat) {
  pb__tcoll **all, *names;
  int rc = pb__txn_names(txn, &all, &names);
  if (rc != PB_OK) return rc;
  return pb__tcoll_nested(names, catalog_name, PB_VALUE_HASHDICT, create,
                          all, cat);
}

static int get(pb__tcoll *cat, pb_value key, pb_value_kind want,
               pb_value *out) {
  int rc = pb__hash_get(cat->c.h, &key, out);
  if (rc == PB_OK && out->kind != want)
    rc = PB__CORRUPT("catalog: an entry of kind %d, not %d", (int)out->kind,
                     (int)want);
  return rc;
}

static void fp_bytes(uint64_t fp, uint8_t out[8]) {
  for (int i = 0; i < 8; i++) out[i] = (uint8_t)(fp >> (8 * i));
}

static uint64_t fp_read(const uint8_t *p) {
  uint64_t v = 0;
  for (int i = 0; i < 8; i++) v |= (uint64_t)p[i] << (8 * i);
  return v;
}

/* A name entry: its id and its versions (views into the entry). */
typedef struct name_entry {
  uint32_t id;
  const uint8_t *fps; /* n * 8 bytes */
  size_t n;
  pb_bytes raw;
} name_entry;

static int name_get(pb__tcoll *cat, const char *name, name_entry *out) {
  pb_value v;
  pb_value key = {.kind = PB_VALUE_STRING,
                  .as.s = {name, strlen(name)}};
  int rc = get(cat, key, PB_VALUE_BYTES, &v);
  if (rc != PB_OK) return rc;
  pb_reader r;
  uint64_t id;
  pb_reader_init(&r, v.as.bytes.ptr, v.as.bytes.len);
  rc = pb_reader_varint(&r, &id);
  if (rc != PB_OK || id <= PB__TYPE_RECORD_UNTYPED || id >= PB__TYPE_MAX ||
      (r.end - r.pos) % 8 != 0)
    return rc != PB_OK ? rc
                       : PB__CORRUPT("catalog: a name entry with a bad id or "
                                     "version list");
  *out = (name_entry){(uint32_t)id, r.pos, (size_t)(r.end - r.pos) / 8,
                      v.as.bytes};
  return PB_OK;
}

/* The layout of version `fp`; PB_ENOTFOUND when it has none. */
static int layout_get(pb__tcoll *cat, uint64_t fp, pb__layout *out) {
  uint8_t k[8];
  fp_bytes(fp, k);
  pb_value v, key = {.kind = PB_VALUE_BYTES, .as.bytes = {k, 8}};
  int rc = get(cat, key, PB_VALUE_BYTES, &v);
  return rc == PB_OK ? pb__layout_decode(v.as.bytes, out) : rc;
}

/* Checks `type` against every cataloged version of its name.
 * PB_ESCHEMA (with the detail) on the first breaking change. */
static int check_versions(pb__tcoll *cat, const pb_record_type *type,
                          const name_entry *ne, bool for_read) {
  pb_buf b;
  pb_buf_init(&b);
  pb__layout_encode(type, &b);
  int rc = pb_buf_error(&b);
  pb__layout mine = {0};
  if (rc == PB_OK)
    rc = pb__layout_decode((pb_bytes){b.data, b.len}, &mine);
  for (size_t i = 0; rc == PB_OK && i < ne->n; i++) {
    uint64_t fp = fp_read(ne->fps + 8 * i);
    if (fp == type->fingerprint) continue;
    pb__layout old;
    rc = layout_get(cat, fp, &old);
    if (rc == PB_ENOTFOUND) {
      rc = PB__CORRUPT("catalog: version %016" PRIx64 " is listed "
                       "without a layout", fp);
      break;
    }
    if (rc != PB_OK) break;
    char why[320], msg[512];
    if (!pb__layout_compatible(&old, &mine, for_read, why, sizeof why)) {
      snprintf(msg, sizeof msg, "record '%s' (fingerprint %016" PRIx64
               "): breaking: %s, against the cataloged version %016" PRIx64
               "%s", type->name, type->fingerprint, why, fp,
               for_read ? " (a load by a version never registered)" : "");
      pb__errdetail_set(msg);
      rc = PB_ESCHEMA;
    }
    pb__layout_free(&old);
  }
  pb__layout_free(&mine);
  pb_buf_free(&b);
  return rc;
}

/* The next value of a counter entry (key -> UINT), written back. */
static int bump(pb__tcoll *cat, pb_value key, uint64_t first,
                uint64_t *next) {
  pb_value last;
  int rc = get(cat, key, PB_VALUE_UINT, &last);
  if (rc == PB_ENOTFOUND) {
    *next = first;
  } else if (rc != PB_OK) {
    return rc;
  } else if (last.as.u >= PB__TYPE_MAX - 1 && key.kind == PB_VALUE_INT) {
    return PB_ENOSPC;
  } else if (last.as.u == UINT64_MAX) {
    return PB__CORRUPT("catalog: a counter at its maximum");
  } else {
    *next = last.as.u + 1;
  }
  pb_value v = {.kind = PB_VALUE_UINT, .as.u = *next};
  return pb__tcoll_hash_put(cat, &key, &v);
}

/* Registers one version into `txn`, and the records it embeds. */
static int reg_one(pb_txn *txn, pb__tcoll *cat, const pb_record_type *type,
                   unsigned depth, uint64_t *epoch, uint32_t *id) {
  if (!type->name || !*type->name ||
      (type->n_fields && !type->fields) ||
      (type->n_reserved && !type->reserved))
    return PB_EINVAL;
  if (depth > MAX_DEPTH) return PB_EINVAL;
  for (size_t i = 0; i < type->n_fields; i++)
    if (!type->fields[i].type) return PB_EINVAL;
  uint64_t fp = type->fingerprint;
  pb_value fpkey = {.kind = PB_VALUE_UINT, .as.u = fp}, v;
  int rc = get(cat, fpkey, PB_VALUE_UINT, &v);
  bool have_fp = rc == PB_OK;
  if (rc != PB_OK && rc != PB_ENOTFOUND) return rc;
  name_entry ne = {0};
  rc = name_get(cat, type->name, &ne);
  if (rc == PB_ENOTFOUND && type->renamed_from) /* takes the old one over */
    rc = name_get(cat, type->renamed_from, &ne);
  bool have_name = rc == PB_OK;
  if (rc != PB_OK && rc != PB_ENOTFOUND) return rc;
  bool listed = false;
  for (size_t i = 0; have_name && i < ne.n; i++)
    listed = listed || fp_read(ne.fps + 8 * i) == fp;
  if (have_fp && listed) {
    *epoch = v.as.u;
    *id = ne.id;
    return PB_OK;
  }
  if (have_name) {
    rc = check_versions(cat, type, &ne, false);
    if (rc != PB_OK) return rc;
  }
  if (have_fp) {
    *epoch = v.as.u;
  } else {
    pb_value null_key = {.kind = PB_VALUE_NULL};
    rc = bump(cat, null_key, 1, epoch);
    if (rc == PB_OK && *epoch > INT64_MAX)
      rc = PB__CORRUPT("catalog: epoch %" PRIu64 " out of range", *epoch);
    pb_value ev = {.kind = PB_VALUE_UINT, .as.u = *epoch};
    pb_value back = {.kind = PB_VALUE_INT, .as.i = -(int64_t)*epoch};
    if (rc == PB_OK) rc = pb__tcoll_hash_put(cat, &fpkey, &ev);
    if (rc == PB_OK) rc = pb__tcoll_hash_put(cat, &back, &fpkey);
    if (rc != PB_OK) return rc;
  }
  uint64_t nid = ne.id;
  if (!have_name) {
    pb_value zero = {.kind = PB_VALUE_INT, .as.i = 0};
    rc = bump(cat, zero, PB__TYPE_RECORD_UNTYPED + 1, &nid);
    pb_value idkey = {.kind = PB_VALUE_INT, .as.i = (int64_t)nid};
    pb_value nm = {.kind = PB_VALUE_STRING,
                   .as.s = {type->name, strlen(type->name)}};
    if (rc == PB_OK) rc = pb__tcoll_hash_put(cat, &idkey, &nm);
    if (rc != PB_OK) return rc;
  }
  /* The name entry gains this version; its layout is stored. */
  pb_buf b;
  pb_buf_init(&b);
  pb_wire_put_varint(&b, nid);
  if (have_name) pb_buf_append(&b, ne.fps, ne.n * 8);
  uint8_t k[8];
  fp_bytes(fp, k);
  pb_buf_append(&b, k, 8);
  size_t entry_len = b.len;
  pb__layout_encode(type, &b);
  rc = pb_buf_error(&b);
  pb_value nkey = {.kind = PB_VALUE_STRING,
                   .as.s = {type->name, strlen(type->name)}};
  pb_value nval = {.kind = PB_VALUE_BYTES, .as.bytes = {b.data, entry_len}};
  pb_value lkey = {.kind = PB_VALUE_BYTES, .as.bytes = {k, 8}};
  pb_value lval = {.kind = PB_VALUE_BYTES,
                   .as.bytes = {b.data + entry_len, b.len - entry_len}};
  if (rc == PB_OK) rc = pb__tcoll_hash_put(cat, &nkey, &nval);
  if (rc == PB_OK) rc = pb__tcoll_hash_put(cat, &lkey, &lval);
  if (rc == PB_OK && type->renamed_from) {
    /* The old name maps to the same id, so that programs built with
     * either name read the record's atoms. */
    name_entry re;
    int r2 = name_get(cat, type->renamed_from, &re);
    pb_value rkey = {.kind = PB_VALUE_STRING,
                     .as.s = {type->renamed_from, strlen(type->renamed_from)}};
    if (r2 == PB_ENOTFOUND || (r2 == PB_OK && re.id == nid))
      rc = pb__tcoll_hash_put(cat, &rkey, &nval);
    else if (r2 != PB_OK)
      rc = r2;
  }
  pb_buf_free(&b);
  if (rc == PB_OK) *id = (uint32_t)nid;
  /* Then the records it embeds (after itself, so that records embedding
   * each other through arrays find each other registered). */
  for (size_t i = 0; rc == PB_OK && i < type->n_fields; i++) {
    const pb_record_type *e = type->fields[i].embedded;
    uint64_t ee;
    uint32_t ei;
    if (e && e != type) rc = reg_one(txn, cat, e, depth + 1, &ee, &ei);
  }
  return rc;
}

int pb__catalog_register(pb_txn *txn, const pb_record_type *type,
                         uint32_t *type_id) {
  uint64_t epoch;
  if (!type->name || !*type->name) return PB_EINVAL;
  if (cache_find(txn->db, type->fingerprint, &epoch, type_id) &&
      *type_id > PB__TYPE_RECORD_UNTYPED)
    return PB_OK; /* committed already */
  pb__tcoll *cat;
  int rc = cat_open(txn, true, &cat);
  return rc == PB_OK ? reg_one(txn, cat, type, 0, &epoch, type_id) : rc;
}

/* --- Reading. --- */

/* What a read-only look-up found. */
typedef struct found {
  bool fp;        /* the fingerprint has an epoch */
  uint64_t epoch;
  uint32_t id;    /* 0: the name has no id */
  bool listed;    /* the version is in its name's entry */
} found;

static int find_in(pb__tcoll *cat, const pb_record_type *type, found *f) {
  pb_value key = {.kind = PB_VALUE_UINT, .as.u = type->fingerprint}, v;
  memset(f, 0, sizeof *f);
  int rc = get(cat, key, PB_VALUE_UINT, &v);
  if (rc == PB_OK) {
    f->fp = true;
    f->epoch = v.as.u;
  } else if (rc != PB_ENOTFOUND) {
    return rc;
  }
  name_entry ne;
  rc = name_get(cat, type->name, &ne);
  if (rc == PB_ENOTFOUND && type->renamed_from)
    rc = name_get(cat, type->renamed_from, &ne);
  if (rc == PB_ENOTFOUND) return PB_OK;
  if (rc != PB_OK) return rc;
  f->id = ne.id;
  for (size_t i = 0; i < ne.n; i++)
    f->listed = f->listed || fp_read(ne.fps + 8 * i) == type->fingerprint;
  return PB_OK;
}

/* Committed entries, in a read-only transaction of their own. */
static int find_committed(pb_db *db, const pb_record_type *type, found *f) {
  pb_txn *txn;
  memset(f, 0, sizeof *f);
  int rc = pb_txn_begin(db, PB_RDONLY, &txn);
  if (rc != PB_OK) return rc;
  pb__tcoll *cat;
  rc = cat_open(txn, false, &cat);
  if (rc == PB_OK) rc = find_in(cat, type, f);
  if (rc == PB_ENOTFOUND) rc = PB_OK; /* no catalog yet */
  pb_txn_abort(txn);
  return rc;
}

/* Checks an unregistered version against the catalog `txn` sees. */
static int check_unregistered(pb_txn *txn, const pb_record_type *type,
                              bool for_read, found *f) {
  pb__tcoll *cat;
  int rc = cat_open(txn, false, &cat);
  if (rc == PB_ENOTFOUND) return PB_OK;
  if (rc == PB_OK) rc = find_in(cat, type, f);
  if (rc != PB_OK || f->listed || !f->id) return rc;
  name_entry ne;
  rc = name_get(cat, type->name, &ne);
  if (rc == PB_ENOTFOUND && type->renamed_from)
    rc = name_get(cat, type->renamed_from, &ne);
  return rc == PB_OK ? check_versions(cat, type, &ne, for_read) : rc;
}

/* pb__catalog_find; !for_read: the rules of a registration (a check on
 * a read-only storage, which must not cache what it checked). */
static int find(pb_txn *txn, const pb_record_type *type, bool for_read,
                uint64_t *epoch, uint32_t *type_id) {
  pb_db *db = txn->db;
  if (!type->name || !*type->name) return PB_EINVAL;
  uint64_t fp = type->fingerprint;
  if (cache_find(db, fp, epoch, type_id)) return PB_OK;
  found f;
  int rc = find_committed(db, type, &f);
  if (rc != PB_OK) return rc;
  if (f.fp && f.listed) {
    cache_add(db, fp, f.epoch, f.id);
    *epoch = f.epoch;
    *type_id = f.id;
    return PB_OK;
  }
  /* Not registered (or registered before layouts): this transaction's
   * own registrations count, and the version must be compatible. */
  rc = check_unregistered(txn, type, for_read, &f);
  if (rc != PB_OK) return rc;
  *type_id = f.id;
  *epoch = 0;
  if (db->sp->st->read_only) {
    *epoch = f.fp ? f.epoch : atomic_fetch_add(&local_epochs, 1);
    cache_add(db, fp, *epoch, f.id);
  }
  return PB_OK;
}

int pb__catalog_find(pb_txn *txn, const pb_record_type *type,
                     uint64_t *epoch, uint32_t *type_id) {
  return find(txn, type, true, epoch, type_id);
}

int pb__catalog_type_name(pb_txn *txn, uint32_t id, char *out, size_t cap) {
  pb__tcoll *cat;
  pb_value key = {.kind = PB_VALUE_INT, .as.i = id}, v;
  int rc = cat_open(txn, false, &cat);
  if (rc == PB_OK) rc = get(cat, key, PB_VALUE_STRING, &v);
  if (rc == PB_OK)
    snprintf(out, cap, "%.*s", (int)v.as.s.len, v.as.s.ptr);
  else
    snprintf(out, cap, "type id %" PRIu32, id);
  return rc;
}

/* --- Registration in a commit of its own. --- */

typedef struct reg_arg {
  const pb_record_type *const *types;
  size_t n;
  uint64_t *epochs; /* out, n */
  uint32_t *ids;    /* out, n */
} reg_arg;

static int register_fn(pb_txn *txn, void *arg) {
  reg_arg *a = arg;
  pb__tcoll *cat;
  int rc = cat_open(txn, true, &cat);
  for (size_t i = 0; rc == PB_OK && i < a->n; i++)
    rc = reg_one(txn, cat, a->types[i], 0, &a->epochs[i], &a->ids[i]);
  return rc;
}

/* Checks (never writes) on a read-only storage. */
static int register_ro(pb_db *db, const pb_record_type *const *types,
                       size_t n, uint64_t *epochs) {
  pb_txn *txn = NULL;
  int rc = pb_txn_begin(db, PB_RDONLY, &txn);
  for (size_t i = 0; rc == PB_OK && i < n; i++) {
    uint32_t id;
    rc = find(txn, types[i], false, &epochs[i], &id);
    /* Then the records it embeds; those checked are cached (a read-only
     * storage caches every version it checked), so cycles end. */
    for (size_t k = 0; rc == PB_OK && k < types[i]->n_fields; k++) {
      const pb_record_type *e = types[i]->fields[k].embedded;
      uint64_t ee;
      uint32_t ei;
      if (e && !cache_find(db, e->fingerprint, &ee, &ei))
        rc = register_ro(db, &e, 1, &ee);
    }
  }
  if (txn) pb_txn_abort(txn);
  return rc;
}

static int register_all(pb_db *db, const pb_record_type *const *types,
                        size_t n, uint64_t *epochs) {
  for (size_t i = 0; i < n; i++)
    if (!types[i]) return PB_EINVAL;
  if (db->sp->st->read_only) return register_ro(db, types, n, epochs);
  uint32_t *ids = calloc(n ? n : 1, sizeof *ids);
  if (!ids) return PB_ENOMEM;
  reg_arg a = {types, n, epochs, ids};
  int rc = pb_txn_run(db, register_fn, &a, RETRIES);
  for (size_t i = 0; rc == PB_OK && i < n; i++)
    cache_add(db, types[i]->fingerprint, epochs[i], ids[i]);
  free(ids);
  return rc;
}

int pb_db_register(pb_db *db, const pb_record_type *const *types,
                   size_t n_types) {
  if (!db || (!types && n_types)) return PB_EINVAL;
  if (n_types == 0) return PB_OK;
  uint64_t *epochs = calloc(n_types, sizeof *epochs);
  if (!epochs) return PB_ENOMEM;
  int rc = register_all(db, types, n_types, epochs);
  free(epochs);
  return rc;
}

int pb_db_open_types(pb_space *sp, const char *name, unsigned flags,
                     const pb_record_type *const *types, size_t n_types,
                     pb_db **out) {
  if (!sp || !out || (!types && n_types)) return PB_EINVAL;
  pb_db *db;
  int rc = pb_db_open(sp, name, flags, &db);
  if (rc != PB_OK) return rc;
  rc = pb_db_register(db, types, n_types);
  if (rc != PB_OK) {
    pb_db_close(db);
    return rc;
  }
  *out = db;
  return PB_OK;
}

int pb_db_schema_epoch(pb_db *db, const pb_record_type *type,
                       uint64_t *epoch) {
  if (!db || !type || !epoch) return PB_EINVAL;
  uint32_t id;
  if (cache_find(db, type->fingerprint, epoch, &id)) return PB_OK;
  return register_all(db, &type, 1, epoch);
}
