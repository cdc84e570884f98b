/*
 * cache/atomcache.c - objects through the object cache, atoms through the
 * bytes cache, and write-through (atomcache.h has the design).
 */
#include "cache/atomcache.h"

#include <stdlib.h>
#include <string.h>

#include "util/errdetail.h"
#include "util/slab.h"

/* A bytes-cache value: one block, the atom after its length. */
typedef struct bytes_val {
  size_t len;
  uint8_t data[];
} bytes_val;

static void bytes_destroy(void *v) { free(v); }

/* The cache dropped its last reference: free, or retire (atomcache.h). */
static void obj_destroy(void *v) {
  pb__obj *o = v;
  if (o->cls->retire) o->cls->retire(o);
  else pb__obj_free(o);
}

void pb__obj_free(pb__obj *o) {
  if (!o) return;
  void *atom = o->atom_copy;
  o->cls->destroy(o);
  pb__slab_free(atom);
}

bool pb__obj_referenced(void *value) {
  pb__obj *o = value;
  return o->cls->referenced && o->cls->referenced(o);
}

int pb__cache_holds_add(pb__cache_holds *holds, pb__cache_handle *h) {
  if (holds->n == holds->cap) {
    size_t cap = holds->cap ? holds->cap * 2 : 16;
    pb__cache_handle **a = realloc(holds->h, cap * sizeof *a);
    if (!a) {
      pb__cache_release(h);
      return PB_ENOMEM;
    }
    holds->h = a;
    holds->cap = cap;
  }
  holds->h[holds->n++] = h;
  return PB_OK;
}

void pb__cache_holds_release(pb__cache_holds *holds) {
  for (size_t i = 0; i < holds->n; i++) pb__cache_release(holds->h[i]);
  holds->n = 0;
}

void pb__cache_holds_free(pb__cache_holds *holds) {
  pb__cache_holds_release(holds);
  free(holds->h);
  holds->h = NULL;
  holds->cap = 0;
}

pb__obj_seen *pb__obj_seen_new(uint64_t cache_bytes) {
  uint64_t slots = PB__OBJ_SEEN_MIN;
  while (slots < PB__OBJ_SEEN_MAX && slots * 2 <= cache_bytes / 65536u)
    slots *= 2;
  pb__obj_seen *t = calloc(1, sizeof *t + slots * sizeof t->tag[0]);
  if (t) t->mask = slots - 1;
  return t;
}

void pb__obj_seen_free(pb__obj_seen *t) { free(t); }

bool pb__obj_cacheable(const pb__src *src, pb_atom_ptr ptr) {
  const pb__src_caches *c = src->caches;
  if (!c || !c->objects || !c->holds || pb_atom_ptr_is_null(ptr))
    return false;
  return ptr.batch_hi != c->own_hi || ptr.batch_lo != c->own_lo;
}

/* Puts a copy of `atom` into the bytes cache, best effort. */
static void bytes_put(pb__cache *bytes, pb_atom_ptr ptr, pb_bytes atom) {
  bytes_val *b = malloc(sizeof *b + atom.len);
  if (!b) return;
  b->len = atom.len;
  memcpy(b->data, atom.ptr, atom.len);
  pb__cache_key k = pb__cache_key_of(ptr, 0);
  pb__cache_item it = {b, sizeof *b + atom.len, bytes_destroy};
  if (pb__cache_put(bytes, &k, &it, NULL) != PB_OK) free(b);
}

/* A private copy of the atom at ptr: from the bytes cache, or else read
 * through the source (then also put into the bytes cache). */
static int atom_copy(const pb__src *src, pb_atom_ptr ptr, uint8_t **copy,
                     size_t *len) {
  pb__cache *bytes = src->caches->bytes;
  pb__cache_handle *h;
  pb__cache_key k = pb__cache_key_of(ptr, 0);
  pb_bytes v;
  if (bytes && pb__cache_get(bytes, &k, &h) == PB_OK) {
    const bytes_val *b = pb__cache_value(h);
    v = (pb_bytes){b->data, b->len};
  } else {
    h = NULL;
    int rc = src->read(src->arg, ptr, &v);
    if (rc == PB_ENOTFOUND)
      return PB__CORRUPT("the atom is missing"); /* something points here */
    if (rc != PB_OK) return rc;
    if (bytes) bytes_put(bytes, ptr, v);
  }
  /* From the slab: the object will live in the cache, read at random. */
  *copy = pb__slab_alloc(v.len ? v.len : 1);
  if (*copy) memcpy(*copy, v.ptr, v.len);
  *len = v.len;
  pb__cache_release(h);
  return *copy ? PB_OK : PB_ENOMEM;
}

/* Builds an object over an atom copy it takes over (freed on failure). */
static int build_owned(const pb__obj_class *cls, const void *ctx,
                       uint8_t *copy, size_t len, pb__cache_item *out) {
  pb__obj *o;
  uint64_t extra = 0;
  int rc = cls->build(ctx, (pb_bytes){copy, len}, &o, &extra);
  if (rc != PB_OK) {
    pb__slab_free(copy);
    return rc;
  }
  o->atom_copy = copy;
  *out = (pb__cache_item){o, len + extra, obj_destroy};
  return PB_OK;
}

typedef struct load_arg {
  const pb__src *src;
  pb_atom_ptr ptr;
  const pb__obj_class *cls;
  const void *ctx;
} load_arg;

static int obj_loader(void *arg, const pb__cache_key *key,
                      pb__cache_item *out) {
  (void)key;
  load_arg *a = arg;
  uint8_t *copy;
  size_t len;
  int rc = atom_copy(a->src, a->ptr, &copy, &len);
  if (rc != PB_OK) return rc;
  return build_owned(a->cls, a->ctx, copy, len, out);
}

/* Builds an object over the source's own view of the atom. */
static int build_private(const pb__src *src, pb_atom_ptr ptr,
                         const pb__obj_class *cls, const void *ctx,
                         pb__obj **out) {
  pb_bytes v;
  int rc = src->read(src->arg, ptr, &v);
  if (rc == PB_ENOTFOUND) return PB__CORRUPT("the atom is missing");
  if (rc != PB_OK) return rc;
  uint64_t extra;
  rc = cls->build(ctx, v, out, &extra);
  if (rc == PB_OK) (*out)->atom_copy = NULL;
  return rc;
}

int pb__obj_load(const pb__src *src, pb_atom_ptr ptr, uint64_t epoch,
                 const pb__obj_class *cls, const void *ctx,
                 uint64_t fingerprint, const pb__obj **out, pb__obj **owned) {
  *out = NULL;
  *owned = NULL;
  if (pb__obj_cacheable(src, ptr)) {
    const pb__src_caches *c = src->caches;
    pb__cache_key k = pb__cache_key_of(ptr, epoch);
    load_arg a = {src, ptr, cls, ctx};
    pb__cache_handle *h;
    int rc = pb__cache_get_or_load(c->objects, &k, obj_loader, &a, &h);
    if (rc == PB_OK) {
      const pb__obj *o = pb__cache_value(h);
      if (o->cls == cls && o->fingerprint == fingerprint) {
        rc = pb__cache_holds_add(c->holds, h);
        if (rc != PB_OK) return rc; /* released h */
        *out = o;
        return PB_OK;
      }
      pb__cache_release(h); /* another kind cached here: build privately */
    } else if (rc != PB_ENOMEM && rc != PB_ECORRUPT) {
      return rc; /* the loader's error: the atom is unreadable */
    } /* the cache could not allocate: the load need not fail for that; a
       * PB_ECORRUPT may be another thread's load (its detail is in that
       * thread): the private build below finds it again, in this one */
  }
  int rc = build_private(src, ptr, cls, ctx, owned);
  if (rc == PB_OK) *out = *owned;
  return pb__errdetail_atom(rc, ptr, cls->name);
}

void pb__atomcache_write_through(pb__cache *bytes, pb__cache *objects,
                                 pb_atom_ptr ptr, pb_bytes atom,
                                 const pb__obj_class *cls, const void *ctx,
                                 uint64_t epoch) {
  if (bytes) bytes_put(bytes, ptr, atom);
  if (!objects || !cls) return;
  uint8_t *copy = pb__slab_alloc(atom.len ? atom.len : 1);
  if (!copy) return;
  memcpy(copy, atom.ptr, atom.len);
  pb__cache_item it;
  if (build_owned(cls, ctx, copy, atom.len, &it) != PB_OK) return;
  pb__cache_key k = pb__cache_key_of(ptr, epoch);
  if (pb__cache_put(objects, &k, &it, NULL) != PB_OK) pb__obj_free(it.value);
}
