/*
 * make_decode_seeds.c - writes seed inputs for fuzz_decode into a directory.
 *
 *   make_decode_seeds DIR
 *
 * The build runs it (tests/fuzz/libfuzzer/CMakeLists.txt), so the seeds
 * always match the current encoding; the committed corpus/decode/ holds a
 * copy made the same way, for a fuzzer run outside the build.  Every seed
 * is built with the encoders the runtime and the generated code use, never
 * typed in by hand:
 *
 *   wire-*       field sequences: each wire type at a range of tags (an
 *                embedded record holding a pointer for REC), edge values
 *                (0, 1, 2^63, 2^64 - 1), and an empty input;
 *   record-*     generated encodings of the records of every_type.pbs and
 *                geo.pbs: defaults, every field set, a nested tree, a
 *                field of a newer schema;
 *   atom-*       each record inside an atom envelope;
 *   node-*       one collection node of each kind (Dictionary, List,
 *                Set, HashDictionary), the atom alone;
 *   store-*      a multi-level collection of each kind as a store of
 *                frames, children first, root last (fuzz_nodes.h);
 *   batch-*      a commit's batch of atoms, and a whole commit payload.
 *
 * Output is deterministic: the same build writes the same bytes.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "atom/atom.h"
#include "atom/batch.h"
#include "protobase/protobase.h"
#include "storage/file_format.h"
#include "fuzz_nodes.h"

#include "every_type.pb.h"
#include "geo.pb.h"

static const char *out_dir;

static void put_file(const char *name, const void *data, size_t size) {
  char path[4096];
  snprintf(path, sizeof path, "%s/%s", out_dir, name);
  FILE *f = fopen(path, "wb");
  if (!f || (size && fwrite(data, 1, size, f) != size) || fclose(f) != 0) {
    fprintf(stderr, "make_decode_seeds: %s: %s\n", path, strerror(errno));
    exit(1);
  }
}

static void put_buf(const char *name, pb_buf *b) {
  if (pb_buf_error(b) != PB_OK) {
    fprintf(stderr, "make_decode_seeds: %s: encoding failed\n", name);
    exit(1);
  }
  put_file(name, b->data, b->len);
  pb_buf_reset(b);
}

static void wire_seeds(pb_buf *b) {
  put_file("wire-empty", "", 0);
  static const uint32_t tags[] = {1, 2, 3, 4, 5, 6, 7, 8, 15, 16, 100};
  static const uint64_t varints[] = {0, 1, 127, 128, 300, 1ull << 63,
                                     UINT64_MAX};
  char name[64];
  for (size_t i = 0; i < sizeof tags / sizeof *tags; i++) {
    uint32_t t = tags[i];
    for (size_t k = 0; k < sizeof varints / sizeof *varints; k++)
      pb_wire_put_uint(b, t, varints[k]);
    snprintf(name, sizeof name, "wire-varint-%u", (unsigned)t);
    put_buf(name, b);
    pb_wire_put_double(b, t, -1.5);
    snprintf(name, sizeof name, "wire-i64-%u", (unsigned)t);
    put_buf(name, b);
    pb_wire_put_float(b, t, 2.5f);
    snprintf(name, sizeof name, "wire-i32-%u", (unsigned)t);
    put_buf(name, b);
    pb_wire_put_str(b, t, pb_str_from_cstr("h\xc3\xa9llo"));
    snprintf(name, sizeof name, "wire-len-%u", (unsigned)t);
    put_buf(name, b);
    pb_atom_ptr p = {t, UINT64_MAX, t == 100 ? UINT32_MAX : t};
    pb_wire_put_atom_ptr(b, t, &p);
    snprintf(name, sizeof name, "wire-ptr-%u", (unsigned)t);
    put_buf(name, b);
    pb_len_mark m = pb_wire_begin_rec(b, t);
    pb_wire_put_atom_ptr(b, 1, &p);
    pb_wire_end_len(b, m, false);
    snprintf(name, sizeof name, "wire-rec-%u", (unsigned)t);
    put_buf(name, b);
  }
  /* One field of each wire type at consecutive tags: a shape any record
     with a few scalar fields half accepts. */
  pb_wire_put_uint(b, 1, 42);
  pb_wire_put_str(b, 2, pb_str_from_cstr("title"));
  pb_wire_put_uint(b, 3, 1);
  pb_wire_put_sint(b, 4, -7);
  pb_wire_put_double(b, 5, 0.25);
  pb_wire_put_bytes(b, 6, (pb_bytes){(const uint8_t *)"\0\1\2", 3});
  pb_wire_put_float(b, 7, -0.0f);
  put_buf("wire-mixed", b);
}

/* Encodes one record with `encode` into a seed file, and its atom too. */
#define PUT_RECORD(name, R, r, b, atom)                                        \
  do {                                                                         \
    if (R##_encode((r), (b)) != PB_OK) {                                       \
      fprintf(stderr, "make_decode_seeds: %s: encode failed\n", name);         \
      exit(1);                                                                 \
    }                                                                          \
    pb__atom_begin((atom), PB__TYPE_RECORD_MIN);                               \
    pb_buf_append((atom), (b)->data, (b)->len);                                \
    put_buf("record-" name, (b));                                              \
    put_buf("atom-" name, (atom));                                             \
  } while (0)

/* Records of the fuzzed schema (schemas/every_type.pbs, geo.pbs). */
static void record_seeds(pb_buf *b, pb_buf *atom) {
  every_Everything e;
  every_Everything_init(&e);
  PUT_RECORD("everything-default", every_Everything, &e, b, atom);

  static const int32_t ints[] = {0, -1, 2147483647, -2147483647 - 1};
  static const bool flags[] = {true, false, true};
  static const double doubles[] = {0.5, -0.0, 1e300};
  static const every_Color colors[] = {every_Color_RED, every_Color_BLUE};
  static const float floats[] = {1.25f, -3.0f};
  static const uint64_t counts[] = {0, 1, UINT64_MAX};
  static const int8_t small[] = {-128, 127};
  static const uint16_t mid[] = {65535, 1};
  pb_str names[2] = {pb_str_from_cstr("a"),
                     pb_str_from_cstr("\xc3\xa9t\xc3\xa9")};
  pb_bytes blobs[2] = {{(const uint8_t *)"\0\1", 2}, {NULL, 0}};
  every_Point points[2];
  every_Point_init(&points[0]);
  every_Point_init(&points[1]);
  points[0].x = 1.5;
  points[1].z = -9;
  pb_str labels[1] = {pb_str_from_cstr("north")};
  geo_Vec2 vecs[1];
  geo_Vec2_init(&vecs[0]);
  vecs[0].x = 2.0f;
  vecs[0].labels.items = labels;
  vecs[0].labels.count = 1;
  pb_atom_ptr shapes[2] = {{1, 2, 3}, {0, 0, 0}};
  every_Node leaves[2];
  every_Node_init(&leaves[0]);
  every_Node_init(&leaves[1]);
  leaves[0].label = pb_str_from_cstr("leaf");

  e.b = false;
  e.i8 = 7;
  e.i16 = -300;
  e.i32 = 5;
  e.i64 = 1234567890123;
  e.u8 = 1;
  e.u16 = 65535;
  e.u32 = 7;
  e.u64 = 1;
  e.f32 = -2.5f;
  e.f64 = 3.0;
  e.s = pb_str_from_cstr("hi \xe2\x9c\x93");
  e.by = (pb_bytes){(const uint8_t *)"\xff", 1};
  e.has_opt_i32 = true;
  e.opt_i32 = 0;
  e.has_opt_s = true;
  e.opt_s = pb_str_from_cstr("");
  e.color = every_Color_BLUE;
  e.unit = geo_Unit_FOOT;
  e.has_opt_color = true;
  e.opt_color = every_Color_RED;
  e.where = points[0];
  e.has_maybe_where = true;
  e.maybe_where = points[1];
  e.v = vecs[0];
  e.ints.items = ints, e.ints.count = 4;
  e.flags.items = flags, e.flags.count = 3;
  e.doubles.items = doubles, e.doubles.count = 3;
  e.colors.items = colors, e.colors.count = 2;
  e.names.items = names, e.names.count = 2;
  e.blobs.items = blobs, e.blobs.count = 2;
  e.points.items = points, e.points.count = 2;
  e.vecs.items = vecs, e.vecs.count = 1;
  e.place = pb_str_from_cstr("Paris");
  e.shape = (pb_atom_ptr){9, 8, 7};
  e.parent = 42;
  e.path = (pb_atom_ptr){1, 1, 16};
  e.tags = (pb_atom_ptr){1, 1, 32};
  e.scores = (pb_atom_ptr){1, 1, 48};
  e.notes = (pb_atom_ptr){1, 1, 64};
  e.shapes.items = shapes, e.shapes.count = 2;
  e.tree.label = pb_str_from_cstr("root");
  e.tree.children.items = leaves;
  e.tree.children.count = 2;
  e.id = 77;
  e.floats.items = floats, e.floats.count = 2;
  e.counts.items = counts, e.counts.count = 3;
  e.small.items = small, e.small.count = 2;
  e.mid.items = mid, e.mid.count = 2;
  e.far = -1;
  PUT_RECORD("everything-full", every_Everything, &e, b, atom);

  /* A tree four levels deep: nesting that the depth limit counts. */
  every_Node chain[4];
  for (int i = 3; i >= 0; i--) {
    every_Node_init(&chain[i]);
    chain[i].label = pb_str_from_cstr("n");
    if (i < 3) {
      chain[i].children.items = &chain[i + 1];
      chain[i].children.count = 1;
    }
  }
  PUT_RECORD("node-chain", every_Node, &chain[0], b, atom);
  PUT_RECORD("point", every_Point, &points[0], b, atom);
  PUT_RECORD("vec2", geo_Vec2, &vecs[0], b, atom);

  geo_Place place;
  geo_Place_init(&place);
  place.name = pb_str_from_cstr("Lyon");
  place.lat = 45.76;
  place.lon = 4.83;
  PUT_RECORD("place", geo_Place, &place, b, atom);
  geo_Shape shape;
  geo_Shape_init(&shape);
  shape.outline = (pb_bytes){(const uint8_t *)"\1\2\3\4", 4};
  PUT_RECORD("shape", geo_Shape, &shape, b, atom);

  /* A Place followed by a field of a newer schema: unknown_fields. */
  if (geo_Place_encode(&place, b) != PB_OK)
    exit(1);
  pb_wire_put_str(b, 99, pb_str_from_cstr("from the future"));
  put_buf("record-place-unknown-field", b);
}

/* A store of one frame holds the atom right after its length varint. */
static void put_single_node(const char *name, pb_buf *store) {
  pb_reader r;
  pb_reader_init(&r, store->data, store->len);
  uint64_t len;
  if (pb_reader_varint(&r, &len) != PB_OK ||
      len != (uint64_t)(r.end - r.pos)) {
    fprintf(stderr, "make_decode_seeds: %s: not one frame\n", name);
    exit(1);
  }
  put_file(name, r.pos, (size_t)len);
  pb_buf_reset(store);
}

static void node_seeds(pb_buf *b) {
  static const struct {
    const char *name;
    pb_value_kind kind;
  } kinds[] = {{"dict", PB_VALUE_DICT}, {"list", PB_VALUE_LIST},
               {"set", PB_VALUE_SET}, {"hdict", PB_VALUE_HASHDICT}};
  char name[64];
  for (size_t i = 0; i < sizeof kinds / sizeof kinds[0]; i++) {
    if (pb_fuzz_node_seed(b, kinds[i].kind, 3) != PB_OK) exit(1);
    snprintf(name, sizeof name, "node-%s", kinds[i].name);
    put_single_node(name, b);
    if (pb_fuzz_node_seed(b, kinds[i].kind, 40) != PB_OK) exit(1);
    snprintf(name, sizeof name, "store-%s", kinds[i].name);
    put_buf(name, b);
  }
  /* A Dictionary whose leaves are plain, as stores written before the
   * indexed leaf have them (store-dict's are indexed). */
  if (pb_fuzz_node_seed_ex(b, PB_VALUE_DICT, 40, true) != PB_OK) exit(1);
  put_buf("store-dict-plain", b);
}

static void batch_seeds(pb_buf *b) {
  pb__batch_builder bb;
  if (pb__batch_init(&bb) != PB_OK)
    exit(1);
  pb_atom_ptr p;
  pb__atom_begin(b, PB__TYPE_RECORD_MIN);
  pb_wire_put_uint(b, 1, 9);
  pb__batch_add(&bb, b->data, b->len, &p);
  pb_buf_reset(b);
  pb__atom_begin(b, PB__TYPE_DICT_LEAF); /* an empty Dictionary leaf */
  pb_wire_put_varint(b, 0);
  pb__batch_add(&bb, b->data, b->len, &p);
  pb_buf_reset(b);
  put_buf("batch-two-atoms", &bb.buf);

  /* A commit payload: the fixed part, then the batch.  Fixed ids, so that
     the seed is the same on every run. */
  pb__commit_record c;
  memset(&c, 0, sizeof c);
  c.lsn = 1;
  c.batch_hi = 0x0123456789abcdefull;
  c.batch_lo = 0xfedcba9876543210ull;
  c.root = (pb_atom_ptr){c.batch_hi, c.batch_lo, p.offset};
  c.batch_size = bb.buf.len;
  uint8_t fixed[PB__COMMIT_FIXED_SIZE];
  pb__commit_encode_fixed(&c, fixed);
  pb_buf_append(b, fixed, sizeof fixed);
  pb_buf_append(b, bb.buf.data, bb.buf.len);
  put_buf("batch-commit", b);
  pb__batch_free(&bb);
}

int main(int argc, char **argv) {
  if (argc != 2) {
    fputs("usage: make_decode_seeds DIR\n", stderr);
    return 2;
  }
  out_dir = argv[1];
  pb_buf b, atom;
  pb_buf_init(&b);
  pb_buf_init(&atom);
  wire_seeds(&b);
  record_seeds(&b, &atom);
  node_seeds(&b);
  batch_seeds(&b);
  pb_buf_free(&b);
  pb_buf_free(&atom);
  return 0;
}
