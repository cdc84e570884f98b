/*
 * txn/catalog.c - the catalog of a database: record type fingerprint ->
 * schema_epoch (SPEC 7), behind pb_db_schema_epoch.
 *
 * The catalog is a HashDictionary in the database root under the name
 * "\0catalog" (8 bytes; no C string names it, so pb_txn_set cannot touch
 * it).  Its entries are UINT fingerprint -> UINT epoch, plus NULL -> the
 * last epoch given.  A fingerprint seen for the first time gets last + 1,
 * in a commit of its own (pb_txn_run): two processes registering two new
 * fingerprints at once both change the NULL entry, so one of them
 * conflicts and retries, and epochs are never given twice; two registering
 * the SAME fingerprint write the same values, which merge.  A known
 * fingerprint keeps its epoch forever, so builds of two schema versions in
 * use at once never flip it.  On a read-only storage an unknown
 * fingerprint gets a local epoch (>= 2^32, counted per process).
 *
 * Each pb_db caches what it learned (cat_mu), so the storage is read once
 * per type and handle.
 *
 * Every record load asks (txn/record.c: the epoch keys the object cache),
 * so this runs inside open transactions, also inside pb_txn_run's fn,
 * perhaps escalated: the registration's pb_txn_run then nests under the
 * caller's writer lock (txn/run.c).  No lock is held across it here.
 */
#include <stdlib.h>

#include "txn/space.h"
#include "txn/tcoll.h"
#include "util/errdetail.h"

static const pb_str catalog_name = {"\0catalog", 8};

/* Epochs given to unknown fingerprints on read-only storages. */
static atomic_uint_fast64_t local_epochs = (uint64_t)1 << 32;

#define RETRIES 100u

typedef struct cat_arg {
  uint64_t fingerprint;
  uint64_t epoch; /* out */
} cat_arg;

/* Looks the fingerprint up, and gives it the next epoch when missing. */
static int register_fn(pb_txn *txn, void *arg) {
  cat_arg *a = arg;
  pb__tcoll **all, *cat;
  pb__tcoll *names = pb__txn_names(txn, &all);
  int rc = pb__tcoll_nested(names, catalog_name, PB_VALUE_HASHDICT, true,
                            all, &cat);
  pb_value key = {.kind = PB_VALUE_UINT, .as.u = a->fingerprint}, v;
  if (rc == PB_OK) rc = pb__hash_get(cat->c.h, &key, &v);
  if (rc == PB_OK) {
    a->epoch = v.as.u;
    return v.kind == PB_VALUE_UINT
               ? PB_OK
               : PB__CORRUPT("the catalog entry for fingerprint %016" PRIx64
                             " is not a UINT",
                             a->fingerprint);
  }
  if (rc != PB_ENOTFOUND) return rc;
  pb_value last_key = {.kind = PB_VALUE_NULL}, last;
  rc = pb__hash_get(cat->c.h, &last_key, &last);
  uint64_t next = 1;
  if (rc == PB_OK) {
    if (last.kind != PB_VALUE_UINT || last.as.u == UINT64_MAX)
      return PB__CORRUPT(
          "the catalog's last epoch is not a UINT below the maximum");
    next = last.as.u + 1;
  } else if (rc != PB_ENOTFOUND) {
    return rc;
  }
  pb_value ev = {.kind = PB_VALUE_UINT, .as.u = next};
  rc = pb__tcoll_hash_put(cat, &last_key, &ev);
  if (rc == PB_OK) rc = pb__tcoll_hash_put(cat, &key, &ev);
  if (rc == PB_OK) a->epoch = next;
  return rc;
}

/* Reads the catalog in a read-only transaction.  PB_ENOTFOUND: unknown. */
static int lookup(pb_db *db, uint64_t fp, uint64_t *epoch) {
  pb_txn *txn;
  int rc = pb_txn_begin(db, PB_RDONLY, &txn);
  if (rc != PB_OK) return rc;
  pb__tcoll **all, *cat;
  pb__tcoll *names = pb__txn_names(txn, &all);
  rc = pb__tcoll_nested(names, catalog_name, PB_VALUE_HASHDICT, false, all,
                        &cat);
  pb_value key = {.kind = PB_VALUE_UINT, .as.u = fp}, v;
  if (rc == PB_OK) rc = pb__hash_get(cat->c.h, &key, &v);
  if (rc == PB_OK && v.kind != PB_VALUE_UINT)
    rc = PB__CORRUPT(
        "the catalog entry for fingerprint %016" PRIx64 " is not a UINT", fp);
  if (rc == PB_OK) *epoch = v.as.u;
  pb_txn_abort(txn);
  return rc;
}

static bool cache_find(pb_db *db, uint64_t fp, uint64_t *epoch) {
  bool found = false;
  pthread_mutex_lock(&db->cat_mu);
  for (size_t i = 0; i < db->n_epochs && !found; i++)
    if (db->epochs[i].fingerprint == fp) {
      *epoch = db->epochs[i].epoch;
      found = true;
    }
  pthread_mutex_unlock(&db->cat_mu);
  return found;
}

/* Remembers an entry (best effort: out of memory only costs a lookup). */
static void cache_add(pb_db *db, uint64_t fp, uint64_t epoch) {
  pthread_mutex_lock(&db->cat_mu);
  if (db->n_epochs == db->cap_epochs) {
    size_t cap = db->cap_epochs ? db->cap_epochs * 2 : 8;
    pb__epoch_entry *e = realloc(db->epochs, cap * sizeof *e);
    if (e) {
      db->epochs = e;
      db->cap_epochs = cap;
    }
  }
  if (db->n_epochs < db->cap_epochs)
    db->epochs[db->n_epochs++] = (pb__epoch_entry){fp, epoch};
  pthread_mutex_unlock(&db->cat_mu);
}

int pb_db_schema_epoch(pb_db *db, const pb_record_type *type,
                       uint64_t *epoch) {
  if (!db || !type || !epoch) return PB_EINVAL;
  uint64_t fp = type->fingerprint;
  if (cache_find(db, fp, epoch)) return PB_OK;
  int rc = lookup(db, fp, epoch);
  if (rc == PB_ENOTFOUND) {
    if (db->sp->st->read_only) {
      *epoch = atomic_fetch_add(&local_epochs, 1);
      rc = PB_OK;
    } else {
      cat_arg a = {fp, 0};
      rc = pb_txn_run(db, register_fn, &a, RETRIES);
      *epoch = a.epoch;
    }
  }
  if (rc == PB_OK) cache_add(db, fp, *epoch);
  return rc;
}
