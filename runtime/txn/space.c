/*
 * txn/space.c - ObjectSpace and Database handles (see space.h).
 *
 * A database handle is just a name in a space: opening one checks that the
 * name exists in the space root (or creates it with a commit of its own).
 * Publishing a commit swaps the storage root with compare-and-swap; when
 * another database moved the root meanwhile, the space root is rebuilt on
 * top of the new one and the swap retried, so commits to different
 * databases never conflict.
 */
#include "txn/space.h"

#include <stdlib.h>
#include <string.h>

#include "atom/value.h"
#include "util/errdetail.h"

int pb_space_open(pb_storage *st, pb_space **out) {
  if (!st || !out) {
    pb_storage_close(st);
    return PB_EINVAL;
  }
  pb_space *sp = calloc(1, sizeof *sp);
  if (!sp) {
    pb_storage_close(st);
    return PB_ENOMEM;
  }
  sp->st = st;
  /* Check that the space root decodes, so damage is reported at open. */
  pb_atom_ptr root;
  uint64_t lsn;
  pb__flatdict d;
  pb__flatdict_init(&d);
  int rc = st->ops->read_root(st, &root, &lsn);
  if (rc == PB_OK) rc = pb__flatdict_load(st, root, &d);
  pb__flatdict_free(&d);
  if (rc != PB_OK) {
    pb_space_close(sp);
    return rc;
  }
  *out = sp;
  return PB_OK;
}

int pb_space_close(pb_space *sp) {
  if (!sp) return PB_OK;
  int rc = pb_storage_close(sp->st);
  free(sp);
  return rc;
}

int pb__space_find_db(pb_space *sp, pb_atom_ptr space_root, pb_str name,
                      pb_atom_ptr *db_root) {
  pb__flatdict d;
  pb__flatdict_init(&d);
  pb_value v;
  int rc = pb__flatdict_load(sp->st, space_root, &d);
  if (rc == PB_OK) rc = pb__flatdict_get(&d, name, &v);
  if (rc == PB_OK && v.kind != PB_VALUE_REF) rc = PB_ECORRUPT;
  if (rc == PB_OK) *db_root = v.as.ref;
  pb__flatdict_free(&d);
  return rc;
}

int pb__space_publish(pb_space *sp, pb__batch_builder *bb, size_t keep,
                      pb_atom_ptr snap_root, uint64_t snap_lsn, pb_str name,
                      const pb_atom_ptr *expect_db, pb_atom_ptr new_db_root) {
  pb_storage *st = sp->st;
  pb_buf atom;
  pb_buf_init(&atom);
  /* Build on the PENDING head: a commit appended but not yet synced is a
   * base like any other, so concurrent commits share one fdatasync.  The
   * check below still refuses a change to this database since snap_root. */
  int rc = pb__storage_pending_root(st, &snap_root);
  for (; rc == PB_OK;) {
    pb__flatdict d;
    pb__flatdict_init(&d);
    rc = pb__flatdict_load_pending(st, snap_root, &d);
    pb_value cur;
    int found = rc == PB_OK ? pb__flatdict_get(&d, name, &cur) : rc;
    if (rc == PB_OK && expect_db == NULL && found == PB_OK) rc = PB_EEXIST;
    if (rc == PB_OK && expect_db != NULL &&
        (found != PB_OK || cur.kind != PB_VALUE_REF ||
         !pb_atom_ptr_equal(cur.as.ref, *expect_db)))
      rc = PB_ECONFLICT;
    pb_value ref = {.kind = PB_VALUE_REF, .as.ref = new_db_root};
    if (rc == PB_OK) rc = pb__flatdict_put(&d, name, &ref);
    pb_buf_reset(&atom);
    if (rc == PB_OK) {
      pb__flatdict_encode(&d, &atom);
      rc = pb_buf_error(&atom);
    }
    pb__flatdict_free(&d);
    pb_atom_ptr new_root;
    bb->buf.len = keep; /* drop the space root of an earlier attempt */
    if (rc == PB_OK) rc = pb__batch_add(bb, atom.data, atom.len, &new_root);
    if (rc != PB_OK) break;
    pb__batch batch = {bb->id_hi, bb->id_lo, bb->buf.data, bb->buf.len,
                       snap_lsn};
    uint64_t lsn;
    rc = st->ops->commit(st, &batch, snap_root, new_root, &lsn);
    if (rc != PB_ECONFLICT) {
      if (rc != PB_OK) { /* keep the tier's detail for pb_errdetail() */
        char msg[512];
        pb__storage_errmsg(st, msg, sizeof msg);
        pb__errdetail_set(msg);
      }
      break;
    }
    /* Someone else moved the root: rebase on it (a change to this same
     * database is detected above on the next pass).  When the root did
     * not move, the tier refused the snapshot itself (a compaction
     * replaced what it saw): retrying cannot help. */
    pb_atom_ptr tried = snap_root;
    rc = pb__storage_pending_root(st, &snap_root);
    if (rc == PB_OK && pb_atom_ptr_equal(tried, snap_root)) rc = PB_ECONFLICT;
  }
  pb_buf_free(&atom);
  return rc;
}

/* --- databases --- */

/* Checks a database name: 1..255 bytes of UTF-8. */
static int check_name(const char *name, pb_str *out) {
  if (!name) return PB_EINVAL;
  *out = pb_str_from_cstr(name);
  if (out->len == 0 || out->len > 255 || !pb_utf8_valid(out->ptr, out->len))
    return PB_EINVAL;
  return PB_OK;
}

/* Creates an empty database `name` with a commit of its own. */
static int create_db(pb_space *sp, pb_atom_ptr root, pb_str name) {
  if (sp->st->read_only) return PB_ERDONLY;
  pb__batch_builder bb;
  int rc = pb__batch_init(&bb);
  pb_atom_ptr empty = {0, 0, 0};
  if (rc == PB_OK)
    rc = pb__space_publish(sp, &bb, 0, root, 0, name, NULL, empty);
  pb__batch_free(&bb);
  return rc == PB_EEXIST ? PB_OK : rc; /* created meanwhile: fine */
}

int pb_db_open(pb_space *sp, const char *name, unsigned flags, pb_db **out) {
  pb_str n;
  if (!sp || !out) return PB_EINVAL;
  int rc = check_name(name, &n);
  if (rc != PB_OK) return rc;
  pb_atom_ptr root, db_root;
  uint64_t lsn, pin;
  pb__storage_pin(sp->st, &pin); /* the atoms read below stay readable */
  rc = sp->st->ops->read_root(sp->st, &root, &lsn);
  if (rc == PB_OK) rc = pb__space_find_db(sp, root, n, &db_root);
  if (rc == PB_ENOTFOUND && (flags & PB_CREATE)) rc = create_db(sp, root, n);
  pb__storage_unpin(sp->st, pin);
  if (rc != PB_OK) return rc;
  pb_db *db = calloc(1, sizeof *db);
  char *copy = malloc(n.len + 1);
  if (!db || !copy) {
    free(db);
    free(copy);
    return PB_ENOMEM;
  }
  memcpy(copy, n.ptr, n.len + 1);
  db->sp = sp;
  db->name.ptr = copy;
  db->name.len = n.len;
  *out = db;
  return PB_OK;
}

int pb_db_close(pb_db *db) {
  if (!db) return PB_OK;
  free((char *)db->name.ptr);
  free(db);
  return PB_OK;
}
