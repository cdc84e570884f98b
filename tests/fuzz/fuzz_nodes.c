/*
 * tests/fuzz/fuzz_nodes.c - the collections over hostile atoms (see
 * fuzz_nodes.h for the input format and the properties).
 *
 * A store holds views of the input's frames and copies of what flush
 * writes; the collections read it through a pb__src and write to it
 * through a pb__sink, as they would a transaction's batch.
 */
#include "fuzz_nodes.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../corrupt_detail.h"
#include "atom/value.h"
#include "collections/dict.h"
#include "collections/dict_int.h"
#include "collections/hash.h"
#include "collections/list.h"

/* Iterating further than this counts as not accepted (bounded work). */
#define MAX_ITEMS (1u << 17)
/* Lookups of iterated entries checked per collection. */
#define MAX_LOOKUPS 256u

#define CHECK(cond, ...)                                                       \
  do {                                                                         \
    if (!(cond)) {                                                             \
      fprintf(stderr, "fuzz_nodes: property failed: %s: ", #cond);             \
      fprintf(stderr, __VA_ARGS__);                                            \
      fputc('\n', stderr);                                                     \
      abort();                                                                 \
    }                                                                          \
  } while (0)

/* What reading a hostile tree may return; a PB_ECORRUPT names the atom
 * (and the source line) in pb_errdetail(). */
static bool read_rc(int rc) {
  return (rc == PB_OK || rc == PB_ECORRUPT || rc == PB_EVERSION ||
          rc == PB_ENOMEM) &&
         pb_test_corrupt_ok(rc, PB_AT_ATOM);
}
/* ... and a lookup or a remove also PB_ENOTFOUND; a change PB_ETOOBIG. */
static bool lookup_rc(int rc) { return read_rc(rc) || rc == PB_ENOTFOUND; }
static bool change_rc(int rc) { return read_rc(rc) || rc == PB_ETOOBIG; }

/* --- the store --- */

typedef struct store {
  pb_bytes atoms[2 * PB_FUZZ_MAX_ATOMS + 64]; /* input frames, then flushes */
  uint8_t *owned[2 * PB_FUZZ_MAX_ATOMS + 64]; /* copies made by the sink */
  size_t n;
} store;

static int st_read(void *arg, pb_atom_ptr p, pb_bytes *out) {
  store *s = arg;
  if (p.batch_hi != 0 || p.batch_lo != 1 || p.offset == 0 || p.offset > s->n)
    return PB_ENOTFOUND;
  *out = s->atoms[p.offset - 1];
  return PB_OK;
}

static int st_write(void *arg, const void *atom, size_t len, pb_atom_ptr *out) {
  store *s = arg;
  if (s->n == sizeof s->atoms / sizeof s->atoms[0]) return PB_ETOOBIG;
  uint8_t *copy = malloc(len ? len : 1);
  if (!copy) return PB_ENOMEM;
  memcpy(copy, atom, len);
  s->owned[s->n] = copy;
  s->atoms[s->n++] = (pb_bytes){copy, len};
  *out = pb_fuzz_ptr(s->n);
  return PB_OK;
}

static void store_free(store *s) {
  for (size_t i = 0; i < s->n; i++) free(s->owned[i]);
}

/* Frames of `data`; stops at the first that runs past the end. */
static void store_frames(store *s, const uint8_t *data, size_t size) {
  pb_reader r;
  pb_reader_init(&r, data, size);
  uint64_t len;
  while (s->n < PB_FUZZ_MAX_ATOMS && pb_reader_varint(&r, &len) == PB_OK &&
         len <= (uint64_t)(r.end - r.pos)) {
    s->owned[s->n] = NULL;
    s->atoms[s->n++] = (pb_bytes){r.pos, (size_t)len};
    r.pos += len;
  }
}

void pb_fuzz_store_frame(pb_buf *b, const void *atom, size_t len) {
  pb_wire_put_varint(b, len);
  pb_buf_append(b, atom, len);
}

/* --- Dictionary --- */

/* Iterates the whole Dictionary; true when it ended cleanly. */
static bool dict_walk(pb__dict *d, uint64_t *n, pb_str *first) {
  pb__dict_iter *it;
  int rc = pb__dict_iter_open(d, NULL, false, &it);
  CHECK(read_rc(rc), "pb__dict_iter_open gave %d", rc);
  if (rc != PB_OK) return false;
  pb_str k, prev = {NULL, 0};
  pb_value v, got;
  *n = 0;
  while ((rc = pb__dict_iter_next(it, &k, &v)) == PB_OK && *n < MAX_ITEMS) {
    if (*n == 0) *first = k;
    if (*n < MAX_LOOKUPS) {
      int g = pb__dict_get(d, k, &got);
      CHECK(g == PB_OK && pb__value_equal(&got, &v),
            "iterated key %zu not found again (%d)", (size_t)*n, g);
    }
    if (*n > 0) {
      size_t m = prev.len < k.len ? prev.len : k.len;
      int c = m ? memcmp(prev.ptr, k.ptr, m) : 0;
      CHECK(c < 0 || (c == 0 && prev.len < k.len), "keys do not ascend");
    }
    prev = k;
    ++*n;
  }
  pb__dict_iter_free(it);
  CHECK(lookup_rc(rc), "pb__dict_iter_next gave %d", rc);
  return rc == PB_ENOTFOUND;
}

/* The Dictionary read through `caches` (NULL: every node built privately;
 * else the nodes are built as the object cache builds them, one block
 * each, decoded straight from the atom). */
static void fuzz_dict_with(store *s, const pb__src_caches *caches) {
  pb__src src = {st_read, s, caches};
  pb__sink sink = {st_write, s};
  pb__dict *d;
  CHECK(pb__dict_open(&src, pb_fuzz_ptr(s->n), &d) == PB_OK, "dict open");
  uint64_t n = 0, count = 0;
  pb_str first = {NULL, 0};
  bool whole = dict_walk(d, &n, &first);
  int rc = pb__dict_count(d, &count);
  CHECK(read_rc(rc), "pb__dict_count gave %d", rc);
  int vrc = pb__dict_verify(d, false);
  CHECK(read_rc(vrc) || vrc == PB_ENOTFOUND, "pb__dict_verify gave %d", vrc);
  whole = whole && rc == PB_OK && vrc == PB_OK;
  if (whole) CHECK(count == n, "count %zu, iterated %zu", (size_t)count,
                   (size_t)n);
  /* A change, a flush, and the tree again from its new root. */
  pb_str key = pb_str_from_cstr("~fuzz~");
  pb_value v = {.kind = PB_VALUE_UINT, .as.u = 7}, got;
  bool had = pb__dict_get(d, key, &got) == PB_OK;
  int prc = pb__dict_put(d, key, &v);
  CHECK(change_rc(prc), "pb__dict_put gave %d", prc);
  int rrc = PB_ENOTFOUND;
  if (first.len && (first.len != key.len || memcmp(first.ptr, key.ptr, 6)))
    rrc = pb__dict_remove(d, first);
  CHECK(lookup_rc(rrc), "pb__dict_remove gave %d", rrc);
  pb_atom_ptr root;
  int frc = pb__dict_flush(d, &sink, &root);
  CHECK(change_rc(frc), "pb__dict_flush gave %d", frc);
  pb__dict_free(d);
  if (!whole || prc != PB_OK || frc != PB_OK) return;
  uint64_t want = n + !had - (rrc == PB_OK), again;
  CHECK(pb__dict_open(&src, root, &d) == PB_OK, "dict reopen");
  CHECK(pb__dict_verify(d, false) == PB_OK, "the flushed tree is not valid");
  CHECK(pb__dict_count(d, &again) == PB_OK && again == want,
        "flushed count %zu, want %zu", (size_t)again, (size_t)want);
  CHECK(pb__dict_get(d, key, &got) == PB_OK && got.as.u == 7, "put lost");
  pb__dict_free(d);
}

static void fuzz_dict(store *s) { fuzz_dict_with(s, NULL); }

/* Through a small object cache of its own (the input's pointers name
 * other bytes in the next input). */
static void fuzz_dict_cached(store *s) {
  pb__cache_opts o = {.max_bytes = 1u << 20, .max_entries = 256,
                      .in_pct = 25, .out_pct = 50, .shards = 1};
  pb__cache *objects;
  CHECK(pb__cache_create(&o, &objects) == PB_OK, "cache create");
  pb__cache_holds held = {0};
  pb__src_caches caches = {.objects = objects, .holds = &held};
  fuzz_dict_with(s, &caches);
  pb__cache_holds_free(&held);
  CHECK(pb__cache_check(objects) == PB_OK, "cache check");
  pb__cache_destroy(objects);
}

/* Reading leaves IN PLACE (dict_inplace.c), as a file store's gets do:
 * an indexed leaf by its directory, a plain one in order. */
static void fuzz_dict_inplace(store *s) {
  pb__src_caches caches = {.inplace = true};
  fuzz_dict_with(s, &caches);
}

/* --- List --- */

static void fuzz_list(store *s) {
  pb__src src = {st_read, s, NULL};
  pb__sink sink = {st_write, s};
  pb__list *l;
  CHECK(pb__list_open(&src, pb_fuzz_ptr(s->n), &l) == PB_OK, "list open");
  uint64_t count = 0, n = 0;
  int crc = pb__list_count(l, &count);
  CHECK(read_rc(crc), "pb__list_count gave %d", crc);
  pb__list_iter *it;
  int rc = pb__list_iter_open(l, 0, UINT64_MAX, &it);
  CHECK(read_rc(rc) || rc == PB_ERANGE, "pb__list_iter_open gave %d", rc);
  if (rc == PB_OK) {
    pb_value v, got;
    while ((rc = pb__list_iter_next(it, &v)) == PB_OK && n < MAX_ITEMS) {
      if (n < MAX_LOOKUPS) {
        int g = pb__list_get(l, n, &got);
        CHECK(g == PB_OK && pb__value_equal(&got, &v),
              "iterated index %zu not got again (%d)", (size_t)n, g);
      }
      n++;
    }
    pb__list_iter_free(it);
    CHECK(lookup_rc(rc), "pb__list_iter_next gave %d", rc);
  }
  bool whole = rc == PB_ENOTFOUND && crc == PB_OK;
  if (whole) CHECK(count == n, "count %zu, iterated %zu", (size_t)count,
                   (size_t)n);
  pb_value v = {.kind = PB_VALUE_INT, .as.i = -7}, got;
  int arc = pb__list_append(l, &v);
  CHECK(change_rc(arc), "pb__list_append gave %d", arc);
  pb_atom_ptr root;
  int frc = pb__list_flush(l, &sink, &root);
  CHECK(change_rc(frc), "pb__list_flush gave %d", frc);
  pb__list_free(l);
  if (!whole || arc != PB_OK || frc != PB_OK) return;
  CHECK(pb__list_open(&src, root, &l) == PB_OK, "list reopen");
  CHECK(pb__list_count(l, &count) == PB_OK && count == n + 1,
        "flushed count %zu, want %zu", (size_t)count, (size_t)n + 1);
  CHECK(pb__list_get(l, n, &got) == PB_OK && got.as.i == -7, "append lost");
  pb__list_free(l);
}

/* --- HashDictionary (and Set: the same trie) --- */

static void fuzz_hash(store *s) {
  pb__src src = {st_read, s, NULL};
  pb__sink sink = {st_write, s};
  pb__hash *h;
  CHECK(pb__hash_open(&src, pb_fuzz_ptr(s->n), &h) == PB_OK, "hash open");
  pb__hash_iter *it;
  int rc = pb__hash_iter_open(h, &it);
  CHECK(read_rc(rc), "pb__hash_iter_open gave %d", rc);
  uint64_t n = 0, count = 0;
  pb_value k, v, got, first = {.kind = PB_VALUE_NULL};
  bool have_first = false;
  if (rc == PB_OK) {
    while ((rc = pb__hash_iter_next(it, &k, &v)) == PB_OK && n < MAX_ITEMS) {
      if (!have_first) first = k, have_first = true;
      if (n < MAX_LOOKUPS) {
        int g = pb__hash_get(h, &k, &got);
        CHECK(read_rc(g) || g == PB_EINVAL, "pb__hash_get gave %d", g);
      }
      n++;
    }
    pb__hash_iter_free(it);
    CHECK(lookup_rc(rc), "pb__hash_iter_next gave %d", rc);
  }
  int crc = pb__hash_count(h, &count);
  CHECK(read_rc(crc), "pb__hash_count gave %d", crc);
  bool whole = rc == PB_ENOTFOUND && crc == PB_OK;
  if (whole) CHECK(count == n, "count %zu, iterated %zu", (size_t)count,
                   (size_t)n);
  pb_value key = {.kind = PB_VALUE_STRING, .as.s = pb_str_from_cstr("~fz")};
  bool had = false;
  int grc = pb__set_contains(h, &key, &had);
  CHECK(read_rc(grc), "pb__set_contains gave %d", grc);
  pb_value seven = {.kind = PB_VALUE_UINT, .as.u = 7};
  int prc = pb__hash_put(h, &key, &seven);
  CHECK(change_rc(prc) || prc == PB_EINVAL, "pb__hash_put gave %d", prc);
  int rrc = have_first && !pb__value_equal(&first, &key)
                ? pb__hash_remove(h, &first)
                : PB_ENOTFOUND;
  CHECK(lookup_rc(rrc) || rrc == PB_EINVAL, "pb__hash_remove gave %d", rrc);
  pb_atom_ptr root;
  int frc = pb__hash_flush(h, &sink, &root);
  CHECK(change_rc(frc), "pb__hash_flush gave %d", frc);
  pb__hash_free(h);
  if (!whole || grc != PB_OK || prc != PB_OK || frc != PB_OK) return;
  uint64_t want = n + !had - (rrc == PB_OK);
  CHECK(pb__hash_open(&src, root, &h) == PB_OK, "hash reopen");
  CHECK(pb__hash_count(h, &count) == PB_OK && count == want,
        "flushed count %zu, want %zu", (size_t)count, (size_t)want);
  CHECK(pb__hash_get(h, &key, &got) == PB_OK && got.as.u == 7, "put lost");
  pb__hash_free(h);
}

/* --- both readings --- */

static void run_all(const store *in) {
  void (*const fns[])(store *) = {fuzz_dict, fuzz_dict_cached,
                                  fuzz_dict_inplace, fuzz_list, fuzz_hash};
  for (size_t i = 0; i < sizeof fns / sizeof fns[0]; i++) {
    store s = *in; /* views of the input only: nothing owned yet */
    fns[i](&s);
    store_free(&s);
  }
}

void pb_fuzz_nodes(const uint8_t *data, size_t size) {
  store s;
  memset(&s, 0, sizeof s);
  pb_test_detail_clear();
  s.atoms[0] = (pb_bytes){data, size};
  s.n = 1;
  run_all(&s);
  memset(&s, 0, sizeof s);
  store_frames(&s, data, size);
  if (s.n > 0) run_all(&s);
}

/* --- seeds --- */

typedef struct seed_sink {
  pb_buf *out;
  uint64_t n; /* atoms written */
} seed_sink;

static int seed_write(void *arg, const void *atom, size_t len,
                      pb_atom_ptr *out) {
  seed_sink *s = arg;
  pb_fuzz_store_frame(s->out, atom, len);
  *out = pb_fuzz_ptr(++s->n);
  return pb_buf_error(s->out);
}

/* Entry i of a seed: a short string key and a value of a rotating kind. */
static pb_value seed_value(unsigned i, char *buf) {
  pb_value v = {.kind = PB_VALUE_UINT, .as.u = i * 977u};
  if (i % 3 == 1) v = (pb_value){.kind = PB_VALUE_INT, .as.i = -(int64_t)i};
  if (i % 3 == 2) {
    v.kind = PB_VALUE_STRING;
    v.as.s.len = (size_t)snprintf(buf, 16, "v%u", i);
    v.as.s.ptr = buf;
  }
  return v;
}

int pb_fuzz_node_seed(pb_buf *out, pb_value_kind kind, unsigned n) {
  return pb_fuzz_node_seed_ex(out, kind, n, false);
}

int pb_fuzz_node_seed_ex(pb_buf *out, pb_value_kind kind, unsigned n,
                         bool plain) {
  unsigned fanout = pb__coll_fanout;
  pb__coll_fanout = 4;
  pb__dict_write_plain_leaves = plain;
  store none = {.n = 0};
  pb__src src = {st_read, &none, NULL};
  seed_sink ss = {out, 0};
  pb__sink sink = {seed_write, &ss};
  pb_atom_ptr root;
  int rc = PB_OK;
  if (kind == PB_VALUE_DICT) {
    pb__dict *d;
    rc = pb__dict_open(&src, (pb_atom_ptr){0, 0, 0}, &d);
    for (unsigned i = 0; rc == PB_OK && i < n; i++) {
      char kb[16], vb[16];
      snprintf(kb, sizeof kb, "k%05u", i);
      pb_value v = seed_value(i, vb);
      rc = pb__dict_put(d, pb_str_from_cstr(kb), &v);
    }
    if (rc == PB_OK) rc = pb__dict_flush(d, &sink, &root);
    pb__dict_free(d);
  } else if (kind == PB_VALUE_LIST) {
    pb__list *l;
    rc = pb__list_open(&src, (pb_atom_ptr){0, 0, 0}, &l);
    for (unsigned i = 0; rc == PB_OK && i < n; i++) {
      char vb[16];
      pb_value v = seed_value(i, vb);
      rc = pb__list_append(l, &v);
    }
    if (rc == PB_OK) rc = pb__list_flush(l, &sink, &root);
    pb__list_free(l);
  } else {
    pb__hash *h;
    rc = pb__hash_open(&src, (pb_atom_ptr){0, 0, 0}, &h);
    for (unsigned i = 0; rc == PB_OK && i < n; i++) {
      char vb[16];
      pb_value k = seed_value(i, vb), v = {.kind = PB_VALUE_UINT, .as.u = i};
      rc = kind == PB_VALUE_SET ? pb__set_add(h, &k, NULL)
                                : pb__hash_put(h, &k, &v);
    }
    if (rc == PB_OK) rc = pb__hash_flush(h, &sink, &root);
    pb__hash_free(h);
  }
  pb__coll_fanout = fanout;
  pb__dict_write_plain_leaves = false;
  return rc;
}
