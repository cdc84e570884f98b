/*
 * test_codegen_roundtrip.c - property tests of the code pbc generates for
 * schemas/every_type.pbs (every field type of the language; it imports
 * schemas/geo.pbs, so nesting also crosses files).
 *
 * Random values come from a fixed-seed PRNG, so a failure reproduces:
 *
 *   - round trip: encode(x) -> decode -> encode gives the same bytes,
 *     _verify accepts them, and the decoded value equals x field by field;
 *   - truncation: every prefix of an encoding is rejected by both _verify
 *     and _decode, or accepted by both (a cut at a field boundary), and
 *     then re-encodes to itself;
 *   - mutation: bit flips, edge bytes, cuts and splices of valid encodings:
 *     _verify and _decode agree, what decodes re-encodes to a fixed point,
 *     and the arena never holds more than a small multiple of the input;
 *   - hand-made bad inputs: _verify names the failing field path and
 *     offset; nesting deeper than PB_WIRE_MAX_DEPTH is rejected;
 *   - MAX_SIZE is reached, put/load work through a transaction.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "corrupt_detail.h"

#include "every_type.pb.h"
#include "protobase/protobase.h"

#define ROUND_TRIPS 10000
#define TRUNCATED 10000 /* values whose every prefix is checked */
#define MUTATIONS 20000

static uint64_t rng_state = 0x2545f4914f6cdd1dull;
static uint64_t rnd(void) { /* xorshift64*, fixed seed */
  rng_state ^= rng_state >> 12;
  rng_state ^= rng_state << 25;
  rng_state ^= rng_state >> 27;
  return rng_state * 0x2545f4914f6cdd1dull;
}
static size_t rnd_below(size_t n) { return (size_t)(rnd() % n); }
static bool coin(void) { return rnd() & 1; }

/* --- random values (their memory comes from one arena per value) --- */

static uint64_t rnd_u64(void) {
  static const uint64_t edge[] = {0, 1, 127, 128, 255, 256, 65535,
                                  4294967295u, UINT64_MAX};
  return coin() ? edge[rnd_below(sizeof edge / sizeof *edge)]
                : rnd() >> rnd_below(64);
}

static int64_t rnd_i64(void) {
  static const int64_t edge[] = {0, 1, -1, 63, -64, INT8_MIN, INT16_MAX,
                                 INT32_MIN, INT64_MIN, INT64_MAX};
  if (coin()) return edge[rnd_below(sizeof edge / sizeof *edge)];
  return (int64_t)(rnd() >> rnd_below(64)) * (coin() ? 1 : -1);
}

static double rnd_double(void) {
  static const double edge[] = {0.0, -0.0, 1.5, -1e300, 1e-310};
  switch (rnd_below(4)) {
  case 0: return edge[rnd_below(sizeof edge / sizeof *edge)];
  case 1: { /* any bits: NaNs with payloads, infinities, subnormals */
    uint64_t bits = rnd();
    double d;
    memcpy(&d, &bits, sizeof d);
    return d;
  }
  default: return (double)rnd_i64() / 16.0;
  }
}

static float rnd_float(void) {
  uint32_t bits = (uint32_t)rnd();
  float f;
  memcpy(&f, &bits, sizeof f);
  return coin() ? f : (float)rnd_double();
}

static pb_str rnd_str(pb_arena *a) {
  static const char *const pieces[] = {"a", "Z", "\xc3\xa9", "\xe2\x82\xac",
                                       "\xf0\x9d\x84\x9e", " ", "\0"};
  size_t n = rnd_below(6);
  char *s = pb_arena_alloc(a, 4 * n + 1);
  size_t len = 0;
  for (size_t i = 0; i < n; i++) {
    const char *p = pieces[rnd_below(sizeof pieces / sizeof *pieces)];
    size_t pl = *p ? strlen(p) : 1;
    memcpy(s + len, p, pl);
    len += pl;
  }
  return (pb_str){len ? s : NULL, len};
}

static pb_bytes rnd_bytes(pb_arena *a) {
  size_t n = rnd_below(7);
  uint8_t *p = pb_arena_alloc(a, n);
  for (size_t i = 0; i < n; i++) p[i] = (uint8_t)rnd();
  return (pb_bytes){n ? p : NULL, n};
}

static every_Color rnd_color(void) {
  static const int32_t v[] = {every_Color_RED, every_Color_GREEN,
                              every_Color_BLUE, 77, -5, INT32_MIN};
  return (every_Color)v[rnd_below(sizeof v / sizeof *v)];
}

static pb_atom_ptr rnd_ptr(void) {
  pb_atom_ptr p = {0, 0, 0};
  /* Offsets take 4 bytes on the wire: UINT64_MAX maps to UINT32_MAX. */
  if (coin())
    p = (pb_atom_ptr){rnd(), rnd(), rnd_u64() % ((uint64_t)UINT32_MAX + 1)};
  return p;
}

static void rnd_point(every_Point *p) {
  every_Point_init(p);
  if (coin()) p->x = rnd_double();
  if (coin()) p->y = rnd_double();
  if (coin()) p->z = (int32_t)rnd_i64();
}

static void rnd_vec2(pb_arena *a, geo_Vec2 *v) {
  geo_Vec2_init(v);
  if (coin()) v->x = rnd_float();
  if (coin()) v->y = rnd_float();
  size_t n = rnd_below(3);
  pb_str *labels = pb_arena_alloc_array(a, n, sizeof *labels);
  for (size_t i = 0; i < n; i++) labels[i] = rnd_str(a);
  v->labels.items = labels;
  v->labels.count = n;
}

static void rnd_node(pb_arena *a, every_Node *n, int depth) {
  every_Node_init(n);
  if (coin()) n->label = rnd_str(a);
  size_t count = depth < 2 ? rnd_below(3) : 0;
  every_Node *kids = pb_arena_alloc_array(a, count, sizeof *kids);
  for (size_t i = 0; i < count; i++) rnd_node(a, &kids[i], depth + 1);
  n->children.items = kids;
  n->children.count = count;
}

/* Fills array `field` with 0 to 4 items of type T, each `fill`. */
#define RND_ARRAY(a, field, T, fill)                                           \
  do {                                                                         \
    size_t n_ = rnd_below(4);                                                  \
    T *items_ = pb_arena_alloc_array((a), n_, sizeof *items_);                 \
    for (size_t i_ = 0; i_ < n_; i_++) items_[i_] = (fill);                    \
    (field).items = items_;                                                    \
    (field).count = n_;                                                        \
  } while (0)

static void rnd_everything(pb_arena *a, every_Everything *r) {
  every_Everything_init(r);
  if (coin()) r->b = coin();
  if (coin()) r->i8 = (int8_t)rnd();
  if (coin()) r->i16 = (int16_t)rnd();
  if (coin()) r->i32 = (int32_t)rnd_i64();
  if (coin()) r->i64 = rnd_i64();
  if (coin()) r->u8 = (uint8_t)rnd_u64();
  if (coin()) r->u16 = (uint16_t)rnd_u64();
  if (coin()) r->u32 = (uint32_t)rnd_u64();
  if (coin()) r->u64 = rnd_u64();
  if (coin()) r->f32 = rnd_float();
  if (coin()) r->f64 = rnd_double();
  if (coin()) r->s = rnd_str(a);
  if (coin()) r->by = rnd_bytes(a);
  if ((r->has_opt_i32 = coin())) r->opt_i32 = (int32_t)rnd_i64();
  if ((r->has_opt_s = coin())) r->opt_s = rnd_str(a);
  if (coin()) r->color = rnd_color();
  if (coin()) r->unit = (geo_Unit)rnd_below(5);
  if ((r->has_opt_color = coin())) r->opt_color = rnd_color();
  if (coin()) rnd_point(&r->where);
  if ((r->has_maybe_where = coin())) rnd_point(&r->maybe_where);
  if (coin()) rnd_vec2(a, &r->v);
  if (coin()) RND_ARRAY(a, r->ints, int32_t, (int32_t)rnd_i64());
  if (coin()) RND_ARRAY(a, r->flags, bool, coin());
  if (coin()) RND_ARRAY(a, r->doubles, double, rnd_double());
  if (coin()) RND_ARRAY(a, r->colors, every_Color, rnd_color());
  if (coin()) RND_ARRAY(a, r->names, pb_str, rnd_str(a));
  if (coin()) RND_ARRAY(a, r->blobs, pb_bytes, rnd_bytes(a));
  if (coin()) {
    size_t n = rnd_below(4);
    every_Point *pts = pb_arena_alloc_array(a, n, sizeof *pts);
    for (size_t i = 0; i < n; i++) rnd_point(&pts[i]);
    r->points.items = pts;
    r->points.count = n;
  }
  if (coin()) {
    size_t n = rnd_below(3);
    geo_Vec2 *vs = pb_arena_alloc_array(a, n, sizeof *vs);
    for (size_t i = 0; i < n; i++) rnd_vec2(a, &vs[i]);
    r->vecs.items = vs;
    r->vecs.count = n;
  }
  if (coin()) r->place = rnd_str(a);
  if (coin()) r->shape = rnd_ptr();
  if (coin()) r->parent = rnd_u64();
  if (coin()) r->path = rnd_ptr();
  if (coin()) r->tags = rnd_ptr();
  if (coin()) r->scores = rnd_ptr();
  if (coin()) r->notes = rnd_ptr();
  if (coin()) RND_ARRAY(a, r->shapes, pb_atom_ptr, rnd_ptr());
  if (coin()) rnd_node(a, &r->tree, 0);
  if (coin()) r->id = rnd_u64();
  if (coin()) RND_ARRAY(a, r->floats, float, rnd_float());
  if (coin()) RND_ARRAY(a, r->counts, uint64_t, rnd_u64());
  if (coin()) RND_ARRAY(a, r->small, int8_t, (int8_t)rnd());
  if (coin()) RND_ARRAY(a, r->mid, uint16_t, (uint16_t)rnd());
  if (coin()) r->far = rnd_i64();
}

/* --- equality (floats by bits: NaN payloads and -0.0 survive) --- */

static void eq_mem(const void *a, const void *b, size_t n) {
  if (n) assert_memory_equal(a, b, n);
}
static void eq_str(pb_str a, pb_str b) {
  assert_int_equal(a.len, b.len);
  eq_mem(a.ptr, b.ptr, a.len);
}
static void eq_bytes(pb_bytes a, pb_bytes b) {
  assert_int_equal(a.len, b.len);
  eq_mem(a.ptr, b.ptr, a.len);
}
static void eq_ptr(pb_atom_ptr a, pb_atom_ptr b) {
  assert_true(pb_atom_ptr_equal(a, b));
}
static void eq_point(const every_Point *a, const every_Point *b) {
  eq_mem(&a->x, &b->x, sizeof a->x);
  eq_mem(&a->y, &b->y, sizeof a->y);
  assert_int_equal(a->z, b->z);
}
static void eq_vec2(const geo_Vec2 *a, const geo_Vec2 *b) {
  eq_mem(&a->x, &b->x, sizeof a->x);
  eq_mem(&a->y, &b->y, sizeof a->y);
  assert_int_equal(a->labels.count, b->labels.count);
  for (size_t i = 0; i < a->labels.count; i++)
    eq_str(a->labels.items[i], b->labels.items[i]);
}
static void eq_node(const every_Node *a, const every_Node *b) {
  eq_str(a->label, b->label);
  assert_int_equal(a->children.count, b->children.count);
  for (size_t i = 0; i < a->children.count; i++)
    eq_node(&a->children.items[i], &b->children.items[i]);
}

#define EQ_ARRAY(x, y, field)                                                  \
  do {                                                                         \
    assert_int_equal((x)->field.count, (y)->field.count);                      \
    eq_mem((x)->field.items, (y)->field.items,                                 \
           (x)->field.count * sizeof *(x)->field.items);                       \
  } while (0)

static void eq_everything(const every_Everything *x, const every_Everything *y) {
  assert_int_equal(x->b, y->b);
  assert_int_equal(x->i8, y->i8);
  assert_int_equal(x->i16, y->i16);
  assert_int_equal(x->i32, y->i32);
  assert_true(x->i64 == y->i64);
  assert_int_equal(x->u8, y->u8);
  assert_int_equal(x->u16, y->u16);
  assert_true(x->u32 == y->u32);
  assert_true(x->u64 == y->u64);
  eq_mem(&x->f32, &y->f32, sizeof x->f32);
  eq_mem(&x->f64, &y->f64, sizeof x->f64);
  eq_str(x->s, y->s);
  eq_bytes(x->by, y->by);
  assert_int_equal(x->has_opt_i32, y->has_opt_i32);
  if (x->has_opt_i32) assert_int_equal(x->opt_i32, y->opt_i32);
  assert_int_equal(x->has_opt_s, y->has_opt_s);
  if (x->has_opt_s) eq_str(x->opt_s, y->opt_s);
  assert_int_equal(x->color, y->color);
  assert_int_equal(x->unit, y->unit);
  assert_int_equal(x->has_opt_color, y->has_opt_color);
  if (x->has_opt_color) assert_int_equal(x->opt_color, y->opt_color);
  eq_point(&x->where, &y->where);
  assert_int_equal(x->has_maybe_where, y->has_maybe_where);
  if (x->has_maybe_where) eq_point(&x->maybe_where, &y->maybe_where);
  eq_vec2(&x->v, &y->v);
  EQ_ARRAY(x, y, ints);
  EQ_ARRAY(x, y, flags);
  EQ_ARRAY(x, y, doubles);
  EQ_ARRAY(x, y, colors);
  assert_int_equal(x->names.count, y->names.count);
  for (size_t i = 0; i < x->names.count; i++)
    eq_str(x->names.items[i], y->names.items[i]);
  assert_int_equal(x->blobs.count, y->blobs.count);
  for (size_t i = 0; i < x->blobs.count; i++)
    eq_bytes(x->blobs.items[i], y->blobs.items[i]);
  assert_int_equal(x->points.count, y->points.count);
  for (size_t i = 0; i < x->points.count; i++)
    eq_point(&x->points.items[i], &y->points.items[i]);
  assert_int_equal(x->vecs.count, y->vecs.count);
  for (size_t i = 0; i < x->vecs.count; i++)
    eq_vec2(&x->vecs.items[i], &y->vecs.items[i]);
  eq_str(x->place, y->place);
  eq_ptr(x->shape, y->shape);
  assert_true(x->parent == y->parent);
  eq_ptr(x->path, y->path);
  eq_ptr(x->tags, y->tags);
  eq_ptr(x->scores, y->scores);
  eq_ptr(x->notes, y->notes);
  assert_int_equal(x->shapes.count, y->shapes.count);
  for (size_t i = 0; i < x->shapes.count; i++)
    eq_ptr(x->shapes.items[i], y->shapes.items[i]);
  eq_node(&x->tree, &y->tree);
  assert_true(x->id == y->id);
  EQ_ARRAY(x, y, floats);
  EQ_ARRAY(x, y, counts);
  EQ_ARRAY(x, y, small);
  EQ_ARRAY(x, y, mid);
  assert_true(x->far == y->far);
}

/* --- the properties --- */

/* A heap copy of exactly n bytes, so that ASan sees any overread. */
static uint8_t *exact_copy(const uint8_t *p, size_t n) {
  uint8_t *c = malloc(n ? n : 1);
  assert_non_null(c);
  if (n) memcpy(c, p, n);
  return c;
}

/*
 * Runs _verify and _decode on n bytes at p and checks that they agree.
 * Returns the shared outcome: PB_OK or PB_ECORRUPT.  On PB_OK, *out holds
 * the decoded record (its arrays in `arena`).
 */
static int verify_and_decode(const uint8_t *p, size_t n, pb_arena *arena,
                             every_Everything *out) {
  uint8_t *c = exact_copy(p, n);
  pb_verify_error err;
  int rv = pb_test_checked(every_Everything_verify(c, n, &err), PB_AT_SOURCE);
  int rd = pb_test_checked(every_Everything_decode(out, c, n, arena),
                           PB_AT_SOURCE);
  assert_true(rv == PB_OK || rv == PB_ECORRUPT);
  assert_int_equal(err.code, rv);
  if (rv == PB_ECORRUPT) {
    assert_true(err.offset <= n);
    assert_non_null(strstr(err.path, "Everything"));
  }
  if (rv != rd)
    fail_msg("verify says %d but decode says %d (%zu bytes; path %s at %zu)",
             rv, rd, n, err.path, err.offset);
  /* The decoded views point into the copy: re-encode before freeing it. */
  if (rd == PB_OK) {
    pb_buf b1, b2;
    every_Everything again;
    pb_buf_init(&b1);
    pb_buf_init(&b2);
    assert_int_equal(every_Everything_encode(out, &b1), PB_OK);
    assert_int_equal(every_Everything_decode(&again, b1.data, b1.len, arena),
                     PB_OK);
    assert_int_equal(every_Everything_encode(&again, &b2), PB_OK);
    assert_int_equal(b1.len, b2.len); /* a fixed point */
    assert_memory_equal(b1.data, b2.data, b1.len);
    pb_buf_free(&b1);
    pb_buf_free(&b2);
  }
  free(c);
  return rd;
}

static void random_values_round_trip(void **state) {
  (void)state;
  pb_arena *gen, *dec;
  assert_int_equal(pb_arena_create(&gen), PB_OK);
  assert_int_equal(pb_arena_create(&dec), PB_OK);
  pb_buf b1, b2;
  pb_buf_init(&b1);
  pb_buf_init(&b2);
  size_t total = 0;
  for (int i = 0; i < ROUND_TRIPS; i++) {
    every_Everything x, y;
    rnd_everything(gen, &x);
    pb_buf_reset(&b1);
    pb_buf_reset(&b2);
    assert_int_equal(every_Everything_encode(&x, &b1), PB_OK);
    assert_int_equal(every_Everything_verify(b1.data, b1.len, NULL), PB_OK);
    assert_int_equal(every_Everything_decode(&y, b1.data, b1.len, dec), PB_OK);
    assert_int_equal(y.unknown_fields.len, 0);
    eq_everything(&x, &y);
    assert_int_equal(every_Everything_encode(&y, &b2), PB_OK);
    assert_int_equal(b1.len, b2.len);
    assert_memory_equal(b1.data, b2.data, b1.len);
    total += b1.len;
    pb_arena_reset(gen);
    pb_arena_reset(dec);
  }
  print_message("%d values, %zu bytes on average\n", ROUND_TRIPS,
                total / ROUND_TRIPS);
  pb_buf_free(&b1);
  pb_buf_free(&b2);
  pb_arena_destroy(gen);
  pb_arena_destroy(dec);
}

static void every_prefix_is_rejected_or_whole(void **state) {
  (void)state;
  pb_arena *gen, *dec;
  assert_int_equal(pb_arena_create(&gen), PB_OK);
  assert_int_equal(pb_arena_create(&dec), PB_OK);
  pb_buf b, again;
  pb_buf_init(&b);
  pb_buf_init(&again);
  size_t accepted = 0, rejected = 0;
  for (int i = 0; i < TRUNCATED; i++) {
    every_Everything x, y;
    rnd_everything(gen, &x);
    pb_buf_reset(&b);
    assert_int_equal(every_Everything_encode(&x, &b), PB_OK);
    /* Each prefix is copied to the end of one heap block, so that ASan
     * sees a read past it (a malloc per prefix would be slower). */
    uint8_t *block = exact_copy(b.data, b.len);
    for (size_t k = 0; k < b.len; k++) {
      uint8_t *c = block + (b.len - k);
      memmove(c, b.data, k);
      pb_verify_error err;
      int rv = every_Everything_verify(c, k, &err);
      int rd = every_Everything_decode(&y, c, k, dec);
      if (rv != rd)
        fail_msg("prefix %zu of %zu: verify %d, decode %d", k, b.len, rv, rd);
      if (rd == PB_OK) { /* a cut between fields: a valid, smaller record */
        pb_buf_reset(&again);
        assert_int_equal(every_Everything_encode(&y, &again), PB_OK);
        assert_int_equal(again.len, k);
        eq_mem(again.data, c, k);
        accepted++;
      } else {
        assert_corrupt_rc(rd, PB_AT_SOURCE);
        assert_true(err.offset <= k);
        rejected++;
      }
      pb_arena_reset(dec);
    }
    free(block);
    pb_arena_reset(gen);
  }
  print_message("%zu prefixes accepted, %zu rejected\n", accepted, rejected);
  assert_true(accepted > 0 && rejected > 0);
  pb_buf_free(&b);
  pb_buf_free(&again);
  pb_arena_destroy(gen);
  pb_arena_destroy(dec);
}

static void mutate(uint8_t *p, size_t *n, size_t cap) {
  switch (rnd_below(5)) {
  case 0: /* flip bits */
    for (int k = 0; k < 3 && *n; k++) p[rnd_below(*n)] ^= (uint8_t)(1u << rnd_below(8));
    break;
  case 1: /* cut */
    if (*n) *n = rnd_below(*n);
    break;
  case 2: /* an edge byte */
    if (*n) p[rnd_below(*n)] = (uint8_t[]){0, 1, 2, 0x7f, 0x80, 0xff}[rnd_below(6)];
    break;
  case 3: /* duplicate a slice at the end */
    if (*n) {
      size_t from = rnd_below(*n), len = rnd_below(*n - from + 1);
      if (*n + len <= cap) {
        memmove(p + *n, p + from, len);
        *n += len;
      }
    }
    break;
  default: /* append a random field, maybe of an unknown tag */
    if (*n + 12 <= cap) {
      uint32_t tag = (uint32_t)(rnd_below(3) ? 1 + rnd_below(50) : rnd());
      uint64_t key = (uint64_t)tag << 3 | rnd_below(8);
      while (key >= 0x80) {
        p[(*n)++] = (uint8_t)(key | 0x80);
        key >>= 7;
      }
      p[(*n)++] = (uint8_t)key;
      for (size_t k = rnd_below(4); k > 0; k--) p[(*n)++] = (uint8_t)rnd();
    }
    break;
  }
}

static void mutated_inputs_verify_and_decode_agree(void **state) {
  (void)state;
  pb_arena *gen, *dec;
  assert_int_equal(pb_arena_create(&gen), PB_OK);
  assert_int_equal(pb_arena_create(&dec), PB_OK);
  pb_buf b;
  pb_buf_init(&b);
  enum { CAP = 8192 };
  uint8_t *work = malloc(CAP);
  assert_non_null(work);
  size_t ok = 0;
  for (int i = 0; i < MUTATIONS; i++) {
    every_Everything x, y;
    rnd_everything(gen, &x);
    pb_buf_reset(&b);
    assert_int_equal(every_Everything_encode(&x, &b), PB_OK);
    if (b.len > CAP / 2) continue;
    size_t n = b.len;
    memcpy(work, b.data, n);
    for (size_t m = 1 + rnd_below(3); m > 0; m--) mutate(work, &n, CAP);
    if (verify_and_decode(work, n, dec, &y) == PB_OK) ok++;
    /* Items are bounded by the input: a Node (48 bytes) per 2 bytes. */
    assert_true(pb_arena_allocated(dec) <= 24 * n + 64);
    pb_arena_reset(dec);
    pb_arena_reset(gen);
  }
  /* Random bytes too. */
  for (int i = 0; i < MUTATIONS / 4; i++) {
    size_t n = rnd_below(64);
    for (size_t k = 0; k < n; k++) work[k] = (uint8_t)rnd();
    every_Everything y;
    if (verify_and_decode(work, n, dec, &y) == PB_OK) ok++;
    pb_arena_reset(dec);
  }
  print_message("%zu mutated or random inputs decoded\n", ok);
  assert_true(ok > 0);
  free(work);
  pb_buf_free(&b);
  pb_arena_destroy(gen);
  pb_arena_destroy(dec);
}

/* --- verify's reports --- */

/* Expects _verify to reject b with `path` at `offset`, and _decode too. */
static void expect_bad(const pb_buf *b, const char *path, size_t offset) {
  pb_verify_error err;
  pb_arena *arena;
  every_Everything r;
  assert_corrupt(every_Everything_verify(b->data, b->len, &err), PB_AT_SOURCE);
  assert_corrupt_rc(err.code, PB_AT_SOURCE);
  assert_string_equal(err.path, path);
  assert_int_equal(err.offset, offset);
  assert_corrupt(every_Everything_verify(b->data, b->len, NULL), PB_AT_SOURCE);
  assert_int_equal(pb_arena_create(&arena), PB_OK);
  assert_corrupt(every_Everything_decode(&r, b->data, b->len, arena), PB_AT_SOURCE);
  pb_arena_destroy(arena);
}

static void verify_names_the_failing_field(void **state) {
  (void)state;
  pb_buf b, inner;
  pb_buf_init(&b);
  pb_buf_init(&inner);
  pb_len_mark m;

  /* A bool that is 2, after a valid field. */
  pb_wire_put_uint(&b, 1, 2);
  expect_bad(&b, "Everything.b", 0);

  /* An embedded record's field with the wrong wire type. */
  pb_buf_reset(&b);
  pb_wire_put_uint(&b, 3, 7);              /* i16: 2 bytes */
  m = pb_wire_begin_rec(&b, 19);           /* where: key 2 bytes, len 1 */
  pb_wire_put_double(&b, 1, 1.0);          /* x: 9 bytes */
  pb_wire_put_uint(&b, 2, 1);              /* y as a varint: wrong */
  pb_wire_end_len(&b, m, true);
  expect_bad(&b, "Everything.where.y", 2 + 3 + 9);

  /* The second string of an array, not UTF-8. */
  pb_buf_reset(&b);
  pb_wire_put_str(&b, 26, pb_str_from_cstr("ok"));  /* 2 + 1 + 2 bytes */
  pb_wire_put_len(&b, 26, "\xed\xa0\x80", 3); /* a surrogate, raw */
  expect_bad(&b, "Everything.names[1]", 5);

  /* A field of a record from another file (geo.Vec2). */
  pb_buf_reset(&b);
  m = pb_wire_begin_rec(&b, 21);
  pb_wire_put_str(&b, 3, pb_str_from_cstr("fine"));
  pb_wire_put_len(&b, 3, "\xc0\x80", 2); /* overlong, raw */
  pb_wire_end_len(&b, m, true);
  expect_bad(&b, "Everything.v.labels[1]", 3 + 6);

  /* An int32 out of range inside the second item of a record array. */
  pb_buf_reset(&b);
  m = pb_wire_begin_rec(&b, 28);
  pb_wire_end_len(&b, m, false); /* points[0]: empty */
  m = pb_wire_begin_rec(&b, 28);
  pb_wire_put_sint(&b, 3, (int64_t)1 << 40);
  pb_wire_end_len(&b, m, false);
  expect_bad(&b, "Everything.points[1].z", 3 + 3);

  /* A packed array whose third element overflows int32. */
  pb_buf_reset(&b);
  m = pb_wire_begin_len(&b, 22);
  pb_wire_raw_zigzag(&b, 1);
  pb_wire_raw_zigzag(&b, -1);
  pb_wire_raw_zigzag(&b, (int64_t)1 << 35);
  pb_wire_end_len(&b, m, false);
  expect_bad(&b, "Everything.ints[2]", 0);

  /* A packed float array whose length is not a multiple of 4. */
  pb_buf_reset(&b);
  const uint8_t floats[] = {0xd2, 0x02, 3, 0, 0, 0}; /* tag 42, LEN 3 */
  pb_buf_append(&b, floats, sizeof floats);
  expect_bad(&b, "Everything.floats", 0);

  /* A cut key at the end: the record itself, at the cut. */
  pb_buf_reset(&b);
  pb_wire_put_uint(&b, 3, 1);
  pb_wire_put_varint(&b, 0x80);
  b.len--; /* leave 0x80: a key that never ends */
  expect_bad(&b, "Everything", 2);

  /* An atom pointer in the LEN form of ABI 2 (wire type PTR is needed). */
  pb_buf_reset(&b);
  const uint8_t ptr[20] = {0};
  pb_wire_put_len(&b, 31, ptr, sizeof ptr);
  expect_bad(&b, "Everything.shape", 0);

  /* An embedded record in a LEN field (wire type REC is needed). */
  pb_buf_reset(&b);
  pb_wire_put_uint(&b, 3, 7);              /* i16: 2 bytes */
  m = pb_wire_begin_len(&b, 19);
  pb_wire_put_double(&b, 1, 1.0);
  pb_wire_end_len(&b, m, true);
  expect_bad(&b, "Everything.where", 2);
  pb_buf_free(&b);
  pb_buf_free(&inner);
}

/* Encodes a chain of `depth` nested Nodes: children[0] inside children[0]. */
static void nested_nodes(pb_buf *out, int depth) {
  if (depth == 0) return;
  pb_len_mark m = pb_wire_begin_rec(out, 2);
  nested_nodes(out, depth - 1);
  pb_wire_end_len(out, m, false);
}

static void nesting_depth_is_bounded(void **state) {
  (void)state;
  pb_arena *arena;
  assert_int_equal(pb_arena_create(&arena), PB_OK);
  pb_buf b;
  pb_buf_init(&b);
  every_Node n;
  nested_nodes(&b, PB_WIRE_MAX_DEPTH);
  assert_int_equal(every_Node_verify(b.data, b.len, NULL), PB_OK);
  assert_int_equal(every_Node_decode(&n, b.data, b.len, arena), PB_OK);
  pb_buf_reset(&b);
  nested_nodes(&b, PB_WIRE_MAX_DEPTH + 1);
  pb_verify_error err;
  assert_corrupt(every_Node_verify(b.data, b.len, &err), PB_AT_SOURCE);
  assert_memory_equal(err.path, "Node.children[0].children[0].", 29);
  assert_corrupt(every_Node_decode(&n, b.data, b.len, arena), PB_AT_SOURCE);
  /* The same chain inside Everything.tree: the depth counts on. */
  pb_buf wrapped;
  pb_buf_init(&wrapped);
  pb_len_mark m = pb_wire_begin_rec(&wrapped, 38);
  pb_buf_append(&wrapped, b.data, b.len);
  pb_wire_end_len(&wrapped, m, false);
  every_Everything e;
  assert_corrupt(every_Everything_verify(wrapped.data, wrapped.len, &err), PB_AT_SOURCE);
  assert_memory_equal(err.path, "Everything.tree.children[0]", 27);
  assert_corrupt(every_Everything_decode(&e, wrapped.data, wrapped.len, arena), PB_AT_SOURCE);
  pb_buf_free(&wrapped);
  pb_buf_free(&b);
  pb_arena_destroy(arena);
}

/* --- the rest of the API --- */

static void max_size_is_the_worst_case(void **state) {
  (void)state;
  every_Point p;
  every_Point_init(&p);
  p.x = -1.0;
  p.y = 2.0;
  p.z = INT32_MIN; /* zigzag 2^32 - 1: five bytes */
  pb_buf b;
  pb_buf_init(&b);
  assert_int_equal(every_Point_encode(&p, &b), PB_OK);
  assert_int_equal(b.len, every_Point_MAX_SIZE);
  pb_buf_free(&b);
  assert_true(every_Point_type.fingerprint == every_Point_FINGERPRINT);
  assert_true(every_Point_FINGERPRINT != every_Node_FINGERPRINT);
  assert_string_equal(every_Everything_type.name, "every.Everything");
  assert_true(EVERY_TYPE_PB_FINGERPRINT != GEO_PB_FINGERPRINT);
}

static void decode_needs_an_arena_only_for_arrays(void **state) {
  (void)state;
  every_Everything e;
  every_Point p;
  assert_int_equal(every_Everything_decode(&e, "", 0, NULL), PB_EINVAL);
  assert_int_equal(every_Point_decode(&p, "", 0, NULL), PB_OK);
  assert_int_equal(every_Color_from_name("BLUE", &(every_Color){0}), PB_OK);
  assert_string_equal(every_Color_name(every_Color_BLUE), "BLUE");
  assert_null(every_Color_name((every_Color)77));
}

static void put_and_load_through_a_transaction(void **state) {
  (void)state;
  pb_storage *st;
  pb_space *sp;
  pb_db *db;
  pb_txn *txn;
  pb_arena *gen;
  assert_int_equal(pb_arena_create(&gen), PB_OK);
  assert_int_equal(pb_storage_open_memory(&st), PB_OK);
  assert_int_equal(pb_space_open(st, &sp), PB_OK);
  assert_int_equal(pb_db_open(sp, "every", PB_CREATE, &db), PB_OK);
  every_Everything x, y;
  do {
    rnd_everything(gen, &x);
  } while (x.names.count == 0 || x.points.count == 0);
  pb_atom_ptr ptr;
  assert_int_equal(pb_txn_begin(db, 0, &txn), PB_OK);
  assert_int_equal(every_Everything_put(txn, &x, &ptr), PB_OK);
  assert_int_equal(every_Everything_load(txn, ptr, &y), PB_OK);
  eq_everything(&x, &y);
  pb_value ref = {.kind = PB_VALUE_REF, .as.ref = ptr};
  assert_int_equal(pb_txn_set(txn, "x", &ref), PB_OK);
  assert_int_equal(pb_txn_commit(txn), PB_OK);
  assert_int_equal(pb_txn_begin(db, PB_RDONLY, &txn), PB_OK);
  assert_int_equal(every_Everything_load(txn, ptr, &y), PB_OK);
  eq_everything(&x, &y); /* arrays live in the txn's arena until here */
  pb_txn_abort(txn);
  pb_db_close(db);
  pb_space_close(sp);
  pb_arena_destroy(gen);
}

/*
 * One binary, two ctest entries: test_codegen_roundtrip (label unit) runs
 * the value tests; `test_codegen_roundtrip hostile` is test_codegen_hostile
 * (label fuzz): the truncation and mutation sweeps, which take most of the
 * time under ASan.
 */
int main(int argc, char **argv) {
  const struct CMUnitTest hostile[] = {
      cmocka_unit_test(every_prefix_is_rejected_or_whole),
      cmocka_unit_test(mutated_inputs_verify_and_decode_agree),
  };
  const struct CMUnitTest values[] = {
      cmocka_unit_test(random_values_round_trip),
      cmocka_unit_test(verify_names_the_failing_field),
      cmocka_unit_test(nesting_depth_is_bounded),
      cmocka_unit_test(max_size_is_the_worst_case),
      cmocka_unit_test(decode_needs_an_arena_only_for_arrays),
      cmocka_unit_test(put_and_load_through_a_transaction),
  };
  if (argc > 1 && strcmp(argv[1], "hostile") == 0)
    return cmocka_run_group_tests(hostile, NULL, NULL);
  return cmocka_run_group_tests(values, NULL, NULL);
}
