/*
 * txn/record.c - records in a transaction: put (an atom of the batch),
 * load (a view of the body), load decoded (through the object cache), and
 * the arena generated decoders use.
 *
 * pb_txn_load_decoded is what generated `_load` functions call.  A record
 * is decoded once per (atom, schema epoch) and shared: the space's object
 * cache (cache/atomcache.h) keeps a REC_OBJ under key (ptr, epoch of the
 * type in txn->db), holding the decoded struct, the arena of its arrays,
 * and (through pb__obj) its own copy of the atom, into which its views
 * point.  The caller gets a shallow copy of the struct: its views and
 * arrays point into the object, which the transaction holds until it ends
 * (the lifetime _load always promised).  The copy is valid because a
 * generated struct never points into itself: strings and bytes are views
 * into the body (or static defaults), arrays are in the arena, embedded
 * records are members by value (compiler/gen_decode.c).
 *
 * A schema change gives the type a new fingerprint, hence a new epoch
 * (txn/catalog.c), hence new keys: an object decoded under the old schema
 * is never returned.  A hit must also match the fingerprint (checked by
 * pb__obj_load), the decoder and the struct size; anything else is
 * decoded privately.
 *
 * The private path, used when the atom is not cacheable (this
 * transaction's own unpublished batch), when the type has no epoch (its
 * registration commit failed), on a mismatch, and on any error of the
 * cached path but PB_ENOMEM, is the path of pb_txn_load_record: the body
 * is decoded into the transaction's arena.  So caching never makes a load
 * fail that would otherwise succeed, and errors are those of that path.
 */
#include <inttypes.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "atom/arena.h"
#include "atom/atom.h"
#include "txn/catalog.h"
#include "txn/txn_int.h"
#include "txn/validate.h"
#include "util/errdetail.h"

/* The first arena block of a cached record: its body's size, which is
 * about what its arrays take, so a small record wastes little. */
#define REC_ARENA_MIN 64u

/* What a build needs (pb__obj_load's ctx). */
typedef struct rec_ctx {
  pb_record_decode_fn decode;
  size_t rec_size;
  uint64_t fingerprint;
  uint32_t type_id; /* of the type's name; 0: none */
} rec_ctx;

/* A decoded record in the object cache. */
typedef struct rec_obj {
  pb__obj hdr;                /* cls, fingerprint, atom_copy */
  pb_record_decode_fn decode; /* the decoder that built it */
  size_t rec_size;            /* sizeof the generated struct */
  pb_arena *arena;            /* its arrays; NULL when it has none */
  max_align_t rec[];          /* the struct, rec_size bytes */
} rec_obj;

static int rec_build(const void *ctx, pb_bytes atom, pb__obj **out,
                     uint64_t *extra);

static void rec_destroy(pb__obj *o) {
  rec_obj *r = (rec_obj *)o;
  pb_arena_destroy(r->arena);
  free(r);
}

static const pb__obj_class rec_class = {"record", rec_build, rec_destroy,
                                        NULL, NULL};

static int rec_build(const void *ctx, pb_bytes atom, pb__obj **out,
                     uint64_t *extra) {
  const rec_ctx *c = ctx;
  uint32_t type_id;
  pb_bytes body;
  int rc = pb__atom_parse(atom, &type_id, &body);
  if (rc != PB_OK) return rc;
  if (type_id < PB__TYPE_RECORD_MIN)
    return PB__CORRUPT("atom type id %" PRIu32 " is not a record's", type_id);
  if (type_id != PB__TYPE_RECORD_UNTYPED && type_id != c->type_id)
    return PB_ESCHEMA; /* the private path says which types */
  size_t size = offsetof(rec_obj, rec) + c->rec_size;
  rec_obj *r = malloc(size);
  if (!r) return PB_ENOMEM;
  rc = pb__arena_create_sized(body.len > REC_ARENA_MIN ? body.len
                                                       : REC_ARENA_MIN,
                              &r->arena);
  if (rc != PB_OK) {
    free(r);
    return rc;
  }
  size_t empty = pb__arena_footprint(r->arena);
  unsigned long details = pb__errdetail_count();
  rc = c->decode(r->rec, body.ptr, body.len, r->arena);
  if (rc == PB_ECORRUPT && pb__errdetail_count() == details) /* no detail */
    rc = PB__CORRUPT("the record's decoder rejects its body");
  if (rc != PB_OK) {
    pb_arena_destroy(r->arena);
    free(r);
    return rc;
  }
  size_t arena_bytes = pb__arena_footprint(r->arena);
  if (arena_bytes == empty) { /* no arrays: no arena to keep */
    pb_arena_destroy(r->arena);
    r->arena = NULL;
    arena_bytes = 0;
  }
  r->hdr = (pb__obj){&rec_class, c->fingerprint, NULL};
  r->decode = c->decode;
  r->rec_size = c->rec_size;
  *out = &r->hdr;
  *extra = size + arena_bytes;
  return PB_OK;
}

int pb_txn_put_record(pb_txn *txn, const pb_record_type *type,
                      const void *body, size_t size, pb_atom_ptr *out) {
  if (!txn || !type || (!body && size) || !out) return PB_EINVAL;
  if (txn->failed) return txn->failed;
  if (txn->flags & PB_RDONLY) return PB_ERDONLY;
  if (size > PB__ATOM_MAX_SIZE - 16) return PB_ETOOBIG;
  int rc = pb__validate_record(txn, body, size); /* txn/validate.h */
  if (rc != PB_OK) return pb__txn_note(txn, rc);
  /* The type id of the type's name, registering it in this transaction
   * when the catalog does not have this version yet. */
  uint32_t type_id;
  rc = pb__catalog_register(txn, type, &type_id);
  if (rc != PB_OK) return pb__txn_note(txn, rc);
  pb_buf_reset(&txn->scratch);
  pb__atom_begin(&txn->scratch, type_id);
  pb_buf_append(&txn->scratch, body, size);
  rc = pb_buf_error(&txn->scratch);
  if (rc == PB_OK)
    rc = pb__batch_add(&txn->batch, txn->scratch.data, txn->scratch.len, out);
  return pb__txn_note(txn, rc);
}

/* PB_ESCHEMA, with a detail naming both types. */
static int wrong_type(pb_txn *txn, const pb_record_type *type,
                      pb_atom_ptr ptr, uint32_t type_id) {
  char other[256], msg[512];
  pb__catalog_type_name(txn, type_id, other, sizeof other);
  snprintf(msg, sizeof msg,
           "the atom at %016" PRIx64 "%016" PRIx64 ":%" PRIu64
           " is a record of type '%s', not '%s'",
           ptr.batch_hi, ptr.batch_lo, ptr.offset, other, type->name);
  pb__errdetail_set(msg);
  return PB_ESCHEMA;
}

int pb_txn_load_record(pb_txn *txn, const pb_record_type *type,
                       pb_atom_ptr ptr, pb_bytes *body) {
  if (!txn || !type || !body) return PB_EINVAL;
  if (pb_atom_ptr_is_null(ptr)) return PB_ENOTFOUND;
  pb_bytes atom;
  uint32_t type_id, want;
  uint64_t epoch;
  int rc = pb__catalog_find(txn, type, &epoch, &want);
  if (rc == PB_OK) rc = pb__txn_read(txn, ptr, &atom);
  if (rc == PB_OK) rc = pb__atom_parse(atom, &type_id, body);
  if (rc == PB_OK && type_id < PB__TYPE_RECORD_MIN)
    rc = PB__CORRUPT("atom type id %" PRIu32 " is not a record's", type_id);
  if (rc == PB_OK && type_id != PB__TYPE_RECORD_UNTYPED && type_id != want)
    rc = wrong_type(txn, type, ptr, type_id);
  return pb__errdetail_atom(rc, ptr, "record");
}

/* Through the object cache: PB_OK with *rec filled, or an error after
 * which the caller decodes privately (PB_ENOMEM excepted). */
static int load_cached(pb_txn *txn, const pb_record_type *type,
                       pb_atom_ptr ptr, size_t rec_size,
                       pb_record_decode_fn decode, void *rec) {
  uint64_t epoch;
  uint32_t type_id;
  int rc = pb__catalog_find(txn, type, &epoch, &type_id);
  if (rc != PB_OK || epoch == 0)
    return PB_ENOTFOUND; /* no epoch: the private path (never PB_ENOMEM) */
  rec_ctx c = {decode, rec_size, type->fingerprint, type_id};
  const pb__obj *o;
  pb__obj *owned;
  rc = pb__obj_load(&txn->snap.src, ptr, epoch, &rec_class, &c, type->fingerprint,
                    &o, &owned);
  if (rc != PB_OK) return rc;
  if (owned) { /* another record cached under this key: not ours to keep */
    pb__obj_free(owned);
    return PB_ESCHEMA;
  }
  const rec_obj *r = (const rec_obj *)o;
  if (r->decode != decode || r->rec_size != rec_size)
    return PB_ESCHEMA; /* the same type, another build of it */
  memcpy(rec, r->rec, rec_size);
  return PB_OK;
}

int pb_txn_load_decoded(pb_txn *txn, const pb_record_type *type,
                        pb_atom_ptr ptr, size_t rec_size,
                        pb_record_decode_fn decode, void *rec) {
  if (!txn || !type || !decode || !rec || rec_size == 0 ||
      rec_size > SIZE_MAX / 2)
    return PB_EINVAL;
  if (pb__obj_cacheable(&txn->snap.src, ptr)) {
    int rc = load_cached(txn, type, ptr, rec_size, decode, rec);
    if (rc == PB_OK || rc == PB_ENOMEM) return rc;
  }
  pb_bytes body;
  pb_arena *arena;
  int rc = pb_txn_load_record(txn, type, ptr, &body);
  if (rc == PB_OK) rc = pb_txn_arena(txn, &arena);
  if (rc == PB_OK) {
    unsigned long details = pb__errdetail_count();
    rc = decode(rec, body.ptr, body.len, arena);
    if (rc == PB_ECORRUPT && pb__errdetail_count() == details) /* none */
      rc = PB__CORRUPT("the record's decoder rejects its body");
    rc = pb__errdetail_atom(rc, ptr, "record");
  }
  return rc;
}

int pb_txn_arena(pb_txn *txn, pb_arena **out) {
  if (!txn || !out) return PB_EINVAL;
  if (!txn->arena) {
    int rc = pb_arena_create(&txn->arena);
    if (rc != PB_OK) return rc;
  }
  *out = txn->arena;
  return PB_OK;
}
