/*
 * txn/space.c - ObjectSpace and Database handles (see space.h).
 *
 * A database handle is a name in a space: opening one checks that the
 * name is in the space root (or creates it with a commit of its own).
 * Publishing a commit swaps the storage root with compare-and-swap; when
 * another database moved the root meanwhile, the space root is rebuilt on
 * top of the new one and the swap retried, so commits to different
 * databases never conflict.  When the same database moved, the caller
 * rebases (txn.c) and publishes again.
 */
#include "txn/space.h"
#include "util/ebr.h"

#include <assert.h>
#include <stdlib.h>
#include <string.h>

#include "atom/value.h"
#include "util/errdetail.h"

/* Reads a published atom, or one of a commit appended but not published
 * yet (a committer rebasing on the pending head needs those). */
static int space_read(void *arg, pb_atom_ptr ptr, pb_bytes *atom) {
  pb_storage *st = arg;
  int rc = st->ops->read_atom(st, ptr, atom);
  if (rc == PB_ENOTFOUND) rc = pb__storage_read_pending(st, ptr, atom);
  return rc;
}

static int batch_write(void *arg, const void *atom, size_t len,
                       pb_atom_ptr *out) {
  return pb__batch_add(arg, atom, len, out);
}

void pb_space_options_init(pb_space_options *opts) {
  if (!opts) return;
  opts->bytes_cache_bytes = PB_CACHE_DEFAULT;
  opts->bytes_cache_entries = 0;
  opts->object_cache_bytes = PB_CACHE_DEFAULT;
  opts->object_cache_entries = 0;
}

/* The sizes PB_CACHE_DEFAULT stands for.  The bytes cache only saves a
 * storage read, so it is off on a tier whose reads are cheap. */
#define BYTES_CACHE_DEFAULT (16u << 20)
#define OBJECT_CACHE_DEFAULT (64u << 20)

void pb__space_cache_opts(uint64_t max_bytes, uint64_t max_entries,
                          pb__cache_opts *o) {
  pb__cache_opts_init(o);
  o->max_bytes = max_bytes;
  o->max_entries = max_entries ? max_entries : PB__CACHE_NO_ENTRY_LIMIT;
  /* The engine's own memory is counted too: the byte limit is memory. */
  o->entry_overhead = PB__CACHE_ENTRY_OVERHEAD;
}

/* Creates one atom cache, or none when its byte limit is 0 (the entry
 * limit must then be 0 too).  `dflt` is what PB_CACHE_DEFAULT means;
 * `objects`: the object cache, whose values readers also reach through
 * links (collections/dict_node.c), which keep them in use. */
static int make_cache(uint64_t max_bytes, uint64_t max_entries,
                      uint64_t dflt, bool objects, pb__cache **out) {
  *out = NULL;
  if (max_bytes == PB_CACHE_DEFAULT) {
    if (dflt == 0) return PB_OK; /* off on this tier, whatever the entries */
    max_bytes = dflt;
  }
  if (max_bytes == 0) return max_entries == 0 ? PB_OK : PB_EINVAL;
  pb__cache_opts o;
  pb__space_cache_opts(max_bytes, max_entries, &o);
  if (objects) o.referenced = pb__obj_referenced;
  return pb__cache_create(&o, out);
}

int pb_space_open(pb_storage *st, pb_space **out) {
  return pb_space_open_ex(st, NULL, out);
}

int pb_space_open_ex(pb_storage *st, const pb_space_options *opts,
                     pb_space **out) {
  if (!st || !out) {
    pb_storage_close(st);
    return PB_EINVAL;
  }
  pb_space_options defaults;
  if (!opts) {
    pb_space_options_init(&defaults);
    opts = &defaults;
  }
  pb_space *sp = calloc(1, sizeof *sp);
  if (!sp || pthread_mutex_init(&sp->run_mu, NULL) != 0) {
    free(sp);
    pb_storage_close(st);
    return PB_ENOMEM;
  }
  sp->st = st;
  int crc = make_cache(opts->bytes_cache_bytes, opts->bytes_cache_entries,
                       st->ops->cheap_reads ? 0 : BYTES_CACHE_DEFAULT,
                       false, &sp->bytes);
  if (crc == PB_OK)
    crc = make_cache(opts->object_cache_bytes, opts->object_cache_entries,
                     OBJECT_CACHE_DEFAULT, true, &sp->objects);
  if (crc == PB_OK && sp->objects &&
      !(sp->cells = calloc(1, sizeof *sp->cells)))
    crc = PB_ENOMEM;
  if (crc == PB_OK && sp->objects && st->ops->cheap_reads &&
      !(sp->seen = pb__obj_seen_new(
            opts->object_cache_bytes == PB_CACHE_DEFAULT
                ? OBJECT_CACHE_DEFAULT
                : opts->object_cache_bytes)))
    crc = PB_ENOMEM;
  if (crc != PB_OK) {
    pb_space_close(sp);
    return crc;
  }
  sp->src = (pb__src){space_read, st, NULL};
  /* Check that the space root decodes, so damage is reported at open. */
  pb_atom_ptr root;
  uint64_t lsn;
  pb__dict *d = NULL;
  uint64_t n;
  int rc = st->ops->read_root(st, &root, &lsn);
  if (rc == PB_OK) rc = pb__dict_open(&sp->src, root, &d);
  if (rc == PB_OK) rc = pb__dict_count(d, &n);
  pb__dict_free(d);
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
  pb__cache_destroy(sp->bytes);
  pb__cache_destroy(sp->objects); /* its objects clear their cells */
  free(sp->cells);
  pb__obj_seen_free(sp->seen);
  pb__ebr_reclaim(); /* what the cache retired, unless a reader is left */
  pthread_mutex_destroy(&sp->run_mu);
  free(sp);
  return rc;
}

int pb_space_cache_stats(pb_space *sp, pb_cache_stats *bytes,
                         pb_cache_stats *objects) {
  if (!sp) return PB_EINVAL;
  pb__cache *c[2] = {sp->bytes, sp->objects};
  pb_cache_stats *o[2] = {bytes, objects};
  for (int i = 0; i < 2; i++) {
    if (!o[i]) continue;
    memset(o[i], 0, sizeof *o[i]);
    if (c[i]) pb__cache_stats(c[i], o[i]);
  }
  return PB_OK;
}

int pb_space_stats_get(pb_space *sp, pb_space_stats *out) {
  if (!sp || !out) return PB_EINVAL;
  out->commits = atomic_load(&sp->n_commits);
  out->merges = atomic_load(&sp->n_merges);
  out->conflicts = atomic_load(&sp->n_conflicts);
  out->retries = atomic_load(&sp->n_retries);
  out->locked_runs = atomic_load(&sp->n_locked);
  out->combined = atomic_load(&sp->n_combined);
  return PB_OK;
}

int pb__space_find_db(const pb__src *src, pb_atom_ptr space_root,
                      pb_str name, pb_atom_ptr *db_root) {
  pb__dict *d = NULL;
  pb_value v;
  int rc = pb__dict_open(src, space_root, &d);
  if (rc == PB_OK) rc = pb__dict_get(d, name, &v);
  if (rc == PB_OK && v.kind != PB_VALUE_DICT)
    rc = PB__CORRUPT(PB__ATOM_FMT
                     " (space root): database \"%.*s\" is not a DICT",
                     PB__ATOM_ARGS(space_root), (int)name.len, name.ptr);
  if (rc == PB_OK) *db_root = v.as.ref;
  pb__dict_free(d);
  return rc;
}

/* Builds the new space root on `space_root` into bb; see publish. */
static int build_space_root(pb_space *sp, pb__batch_builder *bb,
                            pb_atom_ptr space_root, pb_str name,
                            pb__publish_op op, pb_atom_ptr expect_db,
                            pb_atom_ptr new_db_root, bool *moved,
                            pb_atom_ptr *cur, pb_atom_ptr *new_root) {
  pb__dict *d = NULL;
  pb_value v;
  int rc = pb__dict_open(&sp->src, space_root, &d);
  int found = rc == PB_OK ? pb__dict_get(d, name, &v) : rc;
  if (found != PB_OK && found != PB_ENOTFOUND) rc = found;
  if (rc == PB_OK && found == PB_OK && v.kind != PB_VALUE_DICT)
    rc = PB__CORRUPT(PB__ATOM_FMT
                     " (space root): database \"%.*s\" is not a DICT",
                     PB__ATOM_ARGS(space_root), (int)name.len, name.ptr);
  if (rc == PB_OK) {
    if (op == PB__PUBLISH_CREATE && found == PB_OK) {
      rc = PB_EEXIST;
    } else if (op != PB__PUBLISH_CREATE && found != PB_OK) {
      rc = PB_ENOTFOUND; /* dropped meanwhile */
    } else if (op == PB__PUBLISH_SET &&
               !pb_atom_ptr_equal(v.as.ref, expect_db)) {
      *moved = true;
      *cur = v.as.ref;
      rc = PB_ECONFLICT;
    }
  }
  pb_value ref = {.kind = PB_VALUE_DICT, .as.ref = new_db_root};
  if (rc == PB_OK)
    rc = op == PB__PUBLISH_DROP ? pb__dict_remove(d, name)
                                : pb__dict_put(d, name, &ref);
  pb__sink sink = {batch_write, bb};
  if (rc == PB_OK) rc = pb__dict_flush(d, &sink, new_root);
  pb__dict_free(d);
  return rc;
}

/* Keeps the tier's detail of its latest failure for pb_errdetail(). */
static void space_errdetail(pb_space *sp) {
  char msg[512];
  pb__storage_errmsg(sp->st, msg, sizeof msg);
  pb__errdetail_set(msg);
}

int pb__space_wait(pb_space *sp, uint64_t lsn) {
  int rc = pb__storage_wait_durable(sp->st, lsn);
  if (rc != PB_OK) space_errdetail(sp);
  return rc;
}

int pb__space_publish(pb_space *sp, pb__batch_builder *bb, size_t keep,
                      uint64_t snap_lsn, pb_str name, pb__publish_op op,
                      pb_atom_ptr expect_db, pb_atom_ptr new_db_root,
                      bool *moved, pb_atom_ptr *cur, uint64_t *lsn_out) {
  pb_storage *st = sp->st;
  assert(keep <= bb->buf.len && !st->read_only);
  *moved = false;
  pb_atom_ptr head;
  int rc = pb__storage_pending_root(st, &head, NULL);
  while (rc == PB_OK) {
    pb_atom_ptr new_root;
    bb->buf.len = keep; /* drop the space root of an earlier attempt */
    rc = build_space_root(sp, bb, head, name, op, expect_db, new_db_root,
                          moved, cur, &new_root);
    if (rc != PB_OK) break;
    pb__batch batch = {bb->id_hi, bb->id_lo, bb->buf.data, bb->buf.len,
                       snap_lsn};
    rc = pb__storage_append(st, &batch, head, new_root, lsn_out);
    if (rc != PB_ECONFLICT) {
      if (rc != PB_OK) space_errdetail(sp);
      break;
    }
    /* Someone else moved the root: build on it (a change to this same
     * database is detected by build_space_root).  When the root did not
     * move, the tier refused the snapshot itself (a compaction replaced
     * what it saw): retrying cannot help. */
    pb_atom_ptr tried = head;
    rc = pb__storage_pending_root(st, &head, NULL);
    if (rc == PB_OK && pb_atom_ptr_equal(tried, head)) rc = PB_ECONFLICT;
  }
  return rc;
}

/* --- databases --- */

int pb__space_check_name(const char *name, pb_str *out) {
  if (!name) return PB_EINVAL;
  *out = pb_str_from_cstr(name);
  if (out->len == 0 || out->len > 255 || !pb_utf8_valid(out->ptr, out->len))
    return PB_EINVAL;
  return PB_OK;
}

/* Creates or drops database `name` with a commit of its own. */
static int db_commit(pb_space *sp, pb_str name, pb__publish_op op) {
  if (sp->st->read_only) return PB_ERDONLY;
  pb__batch_builder bb;
  int rc = pb__batch_init(&bb);
  bool moved;
  pb_atom_ptr null_ptr = {0, 0, 0}, cur;
  uint64_t lsn = 0;
  if (rc == PB_OK)
    rc = pb__space_publish(sp, &bb, 0, 0, name, op, null_ptr, null_ptr,
                           &moved, &cur, &lsn);
  if (rc == PB_OK) rc = pb__space_wait(sp, lsn);
  pb__batch_free(&bb);
  if (rc == PB_OK) atomic_fetch_add(&sp->n_commits, 1);
  return rc;
}

int pb_db_open(pb_space *sp, const char *name, unsigned flags, pb_db **out) {
  pb_str n;
  if (!sp || !out || (flags & ~PB_CREATE) != 0) return PB_EINVAL;
  int rc = pb__space_check_name(name, &n);
  if (rc != PB_OK) return rc;
  pb_atom_ptr root, db_root;
  uint64_t lsn, pin;
  pb__storage_pin(sp->st, &pin); /* the atoms read below stay readable */
  rc = sp->st->ops->read_root(sp->st, &root, &lsn);
  if (rc == PB_OK) rc = pb__space_find_db(&sp->src, root, n, &db_root);
  if (rc == PB_ENOTFOUND && (flags & PB_CREATE)) {
    rc = db_commit(sp, n, PB__PUBLISH_CREATE);
    if (rc == PB_EEXIST) rc = PB_OK; /* created meanwhile: fine */
  }
  pb__storage_unpin(sp->st, pin);
  if (rc != PB_OK) return rc;
  pb_db *db = calloc(1, sizeof *db);
  char *copy = malloc(n.len + 1);
  if (!db || !copy || pthread_mutex_init(&db->cat_mu, NULL) != 0) {
    free(db);
    free(copy);
    return PB_ENOMEM;
  }
  bool publish_made = pthread_mutex_init(&db->publish_mu, NULL) == 0;
  if (!publish_made || pthread_mutex_init(&db->turn_mu, NULL) != 0) {
    if (publish_made) pthread_mutex_destroy(&db->publish_mu);
    pthread_mutex_destroy(&db->cat_mu);
    free(db);
    free(copy);
    return PB_ENOMEM;
  }
  memcpy(copy, n.ptr, n.len + 1);
  db->sp = sp;
  atomic_init(&db->epochs, NULL);
  atomic_init(&db->n_epochs, 0);
  for (unsigned i = 0; i < PB__TXN_SLOTS; i++)
    atomic_init(&db->slots[i].txn, NULL);
  db->name.ptr = copy;
  db->name.len = n.len;
  *out = db;
  return PB_OK;
}

int pb_db_close(pb_db *db) {
  if (!db) return PB_OK;
  pb__txn_drop_spare(db);
  pthread_mutex_destroy(&db->cat_mu);
  pthread_mutex_destroy(&db->publish_mu);
  pthread_mutex_destroy(&db->turn_mu);
  pb__epoch_table *t = atomic_load(&db->epochs);
  while (t) {
    pb__epoch_table *older = t->older;
    free(t);
    t = older;
  }
  free((char *)db->name.ptr);
  free(db);
  return PB_OK;
}

int pb_space_drop(pb_space *sp, const char *name) {
  pb_str n;
  if (!sp) return PB_EINVAL;
  int rc = pb__space_check_name(name, &n);
  if (rc != PB_OK) return rc;
  return db_commit(sp, n, PB__PUBLISH_DROP);
}

int pb_space_list(pb_space *sp, int (*fn)(void *arg, const char *name),
                  void *arg) {
  if (!sp || !fn) return PB_EINVAL;
  pb_atom_ptr root;
  uint64_t lsn, pin;
  pb__dict *d = NULL;
  pb__dict_iter *it = NULL;
  pb__storage_pin(sp->st, &pin);
  int rc = sp->st->ops->read_root(sp->st, &root, &lsn);
  if (rc == PB_OK) rc = pb__dict_open(&sp->src, root, &d);
  if (rc == PB_OK) rc = pb__dict_iter_open(d, NULL, false, &it);
  char name[256];
  while (rc == PB_OK) {
    pb_str key;
    pb_value v;
    rc = pb__dict_iter_next(it, &key, &v);
    if (rc != PB_OK) break;
    if (key.len >= sizeof name) {
      rc = PB__CORRUPT(PB__ATOM_FMT
                       " (space root): a database name of %zu bytes",
                       PB__ATOM_ARGS(root), key.len);
      break;
    }
    memcpy(name, key.ptr, key.len);
    name[key.len] = '\0';
    rc = fn(arg, name);
  }
  if (rc == PB_ENOTFOUND) rc = PB_OK;
  pb__dict_iter_free(it);
  pb__dict_free(d);
  pb__storage_unpin(sp->st, pin);
  return rc;
}
