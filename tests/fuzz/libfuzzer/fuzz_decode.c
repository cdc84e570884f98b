/*
 * fuzz_decode.c - libFuzzer target for the decoders of stored bytes.
 *
 * Every input goes, as it is, to:
 *
 *   - each generated record's _verify and _decode, for every record of
 *     schemas/every_type.pbs and the geo.pbs it imports (FUZZ_RECORDS
 *     below lists them);
 *   - the runtime's internal decoders of stored data: the atom envelope
 *     (pb__atom_parse), the collections over hostile nodes (fuzz_nodes.h:
 *     the input as one node and as a store of nodes), the batch of a commit
 *     (pb__batch_check), a commit record (pb__commit_decode), and the
 *     schema-free pointer walker (pb__atom_refs, on the input as an atom
 *     and on the input behind a record envelope).
 *
 * The properties, each checked on every input (a failure aborts, which
 * libFuzzer reports as a crash with the input saved):
 *
 *   1. no decoder reads outside the input, reads uninitialised memory,
 *      leaks, overflows, or takes longer than -timeout (the sanitizers and
 *      libFuzzer see to that);
 *   2. each returns PB_OK or one of its documented errors;
 *   3. _verify and _decode agree: verify accepts exactly what decode
 *      accepts, and its error report is well formed (code, an offset
 *      inside the input, a NUL-terminated path); verify gives the same
 *      answer without an error out-parameter;
 *   4. decoding allocates a bounded amount (at most FUZZ_ARENA_FACTOR
 *      times the input, plus FUZZ_ARENA_SLACK, from the arena);
 *   5. what decodes re-encodes without error, the re-encoding verifies and
 *      decodes, and encoding that again gives the same bytes (the encoding
 *      is deterministic, so decode-then-encode reaches a fixed point after
 *      one round); a record with a _MAX_SIZE and no unknown fields
 *      encodes to at most that many bytes;
 *   6. the collections accept only consistent trees, and stay consistent
 *      through a change and a flush (the properties of fuzz_nodes.h);
 *   7. the pointer walker returns a documented code and reports only
 *      non-null pointers, each inside the atom, after the previous one,
 *      and equal to its 20 bytes.
 *
 * The input is copied into an exact-size heap block first, so that
 * AddressSanitizer catches a read one byte past the end.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "atom/atom.h"
#include "atom/batch.h"
#include "atom/ptr.h"
#include "atom/refs.h"
#include "../../corrupt_detail.h"
#include "fuzz_nodes.h"
#include "protobase/protobase.h"
#include "storage/file_format.h"

/* The fuzzed schema: every field type of the language, across two files. */
#include "every_type.pb.h"
#include "geo.pb.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Reports a broken property and aborts, so libFuzzer keeps the input. */
#define FUZZ_CHECK(cond, ...)                                                  \
  do {                                                                         \
    if (!(cond)) {                                                             \
      fprintf(stderr, "fuzz_decode: property failed: %s: ", #cond);            \
      fprintf(stderr, __VA_ARGS__);                                            \
      fputc('\n', stderr);                                                     \
      abort();                                                                 \
    }                                                                          \
  } while (0)

/*
 * The generated API for one record type R, as called here.  These two
 * definitions are the only lines that know the signatures:
 *   int R_verify(const void *data, size_t size, pb_verify_error *err);
 *   int R_decode(R *r, const void *data, size_t size, pb_arena *arena);
 */
#define FUZZ_VERIFY(R, data, size, err) R##_verify((data), (size), (err))
#define FUZZ_DECODE(R, r, data, size, arena)                                   \
  R##_decode((r), (data), (size), (arena))

static pb_arena *fuzz_arena_new(void) {
  pb_arena *a = NULL;
  int rc = pb_arena_create(&a);
  FUZZ_CHECK(rc == PB_OK && a != NULL, "pb_arena_create gave %d", rc);
  return a;
}

static int fuzz_rc_ok(int rc) { return rc == PB_OK || rc == PB_ECORRUPT; }

/* What _verify says about a failure: its code, an offset inside the input,
   and a NUL-terminated field path. */
static void fuzz_check_verify_error(const char *record, int rc,
                                    const pb_verify_error *err, size_t size) {
  FUZZ_CHECK(err->code == rc, "%s_verify returned %d but err.code is %d",
             record, rc, err->code);
  FUZZ_CHECK(rc == PB_OK || err->offset <= size,
             "%s_verify: error offset %zu is past the %zu-byte input", record,
             err->offset, size);
  FUZZ_CHECK(memchr(err->path, '\0', sizeof err->path) != NULL,
             "%s_verify: the error path is not NUL-terminated", record);
}

/*
 * The arena bound of property 4.  The generated _decode promises "a small
 * multiple of `size`": the worst case is an array of empty embedded
 * records, 2 bytes of input each for a struct of up to 40 bytes, plus
 * 8-byte alignment per allocation.
 */
#define FUZZ_ARENA_FACTOR 64
#define FUZZ_ARENA_SLACK 1024

/*
 * Defines fuzz_<R>(data, size), which checks properties 2 to 5 for record
 * type R.
 */
#define FUZZ_DEFINE_RECORD(R)                                                  \
  static void fuzz_##R(const uint8_t *data, size_t size) {                     \
    pb_verify_error err;                                                       \
    memset(&err, 0, sizeof err);                                               \
    int vrc = FUZZ_VERIFY(R, data, size, &err);                                \
    FUZZ_CHECK(pb_test_corrupt_ok(vrc, PB_AT_SOURCE),                          \
               #R "_verify: PB_ECORRUPT without a detail");                    \
    pb_arena *arena = fuzz_arena_new();                                        \
    R r;                                                                       \
    int drc = FUZZ_DECODE(R, &r, data, size, arena);                           \
    FUZZ_CHECK(pb_test_corrupt_ok(drc, PB_AT_SOURCE),                          \
               #R "_decode: PB_ECORRUPT without a detail");                    \
    FUZZ_CHECK(fuzz_rc_ok(vrc), #R "_verify returned %d", vrc);                \
    fuzz_check_verify_error(#R, vrc, &err, size);                              \
    int vrc_nul = FUZZ_VERIFY(R, data, size, NULL);                            \
    FUZZ_CHECK(vrc_nul == vrc, #R "_verify gave %d with an error out and %d "  \
               "without", vrc, vrc_nul);                                       \
    FUZZ_CHECK(fuzz_rc_ok(drc), #R "_decode returned %d", drc);                \
    FUZZ_CHECK((vrc == PB_OK) == (drc == PB_OK),                               \
               #R "_verify gave %d but " #R "_decode gave %d", vrc, drc);      \
    FUZZ_CHECK(pb_arena_allocated(arena) <=                                    \
                   FUZZ_ARENA_FACTOR * size + FUZZ_ARENA_SLACK,                \
               #R "_decode took %zu arena bytes for a %zu-byte input",         \
               pb_arena_allocated(arena), size);                               \
    if (drc == PB_OK) {                                                        \
      pb_buf once, twice;                                                      \
      pb_buf_init(&once);                                                      \
      pb_buf_init(&twice);                                                     \
      int erc = R##_encode(&r, &once);                                         \
      FUZZ_CHECK(erc == PB_OK, #R "_encode of a decoded value gave %d", erc);  \
      fuzz_check_max_size_##R(&r, once.len);                                   \
      vrc = FUZZ_VERIFY(R, once.data, once.len, &err);                         \
      FUZZ_CHECK(vrc == PB_OK, #R "_verify of a re-encoding gave %d", vrc);    \
      pb_arena *arena2 = fuzz_arena_new();                                     \
      R r2;                                                                    \
      drc = FUZZ_DECODE(R, &r2, once.data, once.len, arena2);                  \
      FUZZ_CHECK(drc == PB_OK, #R "_decode of a re-encoding gave %d", drc);    \
      erc = R##_encode(&r2, &twice);                                           \
      FUZZ_CHECK(erc == PB_OK, #R "_encode (second round) gave %d", erc);      \
      FUZZ_CHECK(once.len == twice.len &&                                      \
                     (once.len == 0 ||                                         \
                      memcmp(once.data, twice.data, once.len) == 0),           \
                 #R ": encode(decode(x)) is not a fixed point (%zu vs %zu "    \
                    "bytes)", once.len, twice.len);                            \
      pb_arena_destroy(arena2);                                                \
      pb_buf_free(&once);                                                      \
      pb_buf_free(&twice);                                                     \
    }                                                                          \
    pb_arena_destroy(arena);                                                   \
  }

/* _MAX_SIZE, where the generator gives one (no unknown fields kept). */
#define FUZZ_NO_MAX_SIZE(R)                                                    \
  static void fuzz_check_max_size_##R(const R *r, size_t len) {                \
    (void)r, (void)len;                                                        \
  }
FUZZ_NO_MAX_SIZE(every_Node)
FUZZ_NO_MAX_SIZE(every_Everything)
FUZZ_NO_MAX_SIZE(geo_Place)
FUZZ_NO_MAX_SIZE(geo_Shape)
FUZZ_NO_MAX_SIZE(geo_Vec2)
static void fuzz_check_max_size_every_Point(const every_Point *r, size_t len) {
  FUZZ_CHECK(r->unknown_fields.len > 0 || len <= every_Point_MAX_SIZE,
             "every_Point encodes to %zu bytes, over its _MAX_SIZE %d", len,
             (int)every_Point_MAX_SIZE);
}

/* The records of the schema; add a line per record to fuzz it too. */
#define FUZZ_RECORDS(X)                                                        \
  X(every_Point)                                                               \
  X(every_Node)                                                                \
  X(every_Everything)                                                          \
  X(geo_Place)                                                                 \
  X(geo_Shape)                                                                 \
  X(geo_Vec2)

FUZZ_RECORDS(FUZZ_DEFINE_RECORD)

/* Property 7: where pb__atom_refs reports, and what. */
typedef struct fuzz_walk {
  pb_bytes atom; /* the atom walked */
  size_t next;   /* the least position the next pointer may have */
} fuzz_walk;

static int fuzz_ref(void *ctx, pb_atom_ptr ptr, size_t pos) {
  fuzz_walk *w = ctx;
  FUZZ_CHECK(!pb_atom_ptr_is_null(ptr), "a null pointer was reported");
  FUZZ_CHECK(pos >= w->next && w->atom.len >= PB__PTR_SIZE &&
                 pos <= w->atom.len - PB__PTR_SIZE,
             "pointer at %zu: out of order or outside the %zu-byte atom",
             pos, w->atom.len);
  FUZZ_CHECK(pb_atom_ptr_equal(ptr, pb__ptr_load(w->atom.ptr + pos)),
             "the pointer at %zu is not its bytes", pos);
  w->next = pos + PB__PTR_SIZE;
  return 0;
}

/* Walks `size` bytes at `atom` and checks property 7. */
static void fuzz_refs(const uint8_t *atom, size_t size) {
  fuzz_walk w = {{atom, size}, 0};
  int rc = pb__atom_refs(w.atom, fuzz_ref, &w);
  FUZZ_CHECK(rc == PB_OK || rc == PB_ECORRUPT || rc == PB_EVERSION ||
                 rc == PB_ENOMEM,
             "pb__atom_refs returned %d", rc);
  FUZZ_CHECK(pb_test_corrupt_ok(rc, PB_AT_SOURCE),
             "pb__atom_refs: PB_ECORRUPT without a detail");
}

/* The input as an atom, and as a record body behind an envelope (an
   exact-size copy, like the input). */
static void fuzz_walker(const uint8_t *data, size_t size) {
  fuzz_refs(data, size);
  uint8_t *atom = malloc(size + 2);
  if (!atom)
    return;
  atom[0] = PB__ATOM_FORMAT;
  atom[1] = PB__TYPE_RECORD_MIN;
  if (size)
    memcpy(atom + 2, data, size);
  fuzz_refs(atom, size + 2);
  free(atom);
}

static void fuzz_runtime(const uint8_t *data, size_t size) {
  pb_bytes all = {data, size};
  uint32_t type = 0;
  pb_bytes body;
  int rc = pb__atom_parse(all, &type, &body);
  FUZZ_CHECK(rc == PB_OK || rc == PB_ECORRUPT || rc == PB_EVERSION,
             "pb__atom_parse returned %d", rc);
  FUZZ_CHECK(pb_test_corrupt_ok(rc, PB_AT_SOURCE),
             "pb__atom_parse: PB_ECORRUPT without a detail");
  if (rc == PB_OK) {
    FUZZ_CHECK(body.len <= size && (body.len == 0 ||
                                    (body.ptr >= data &&
                                     body.ptr + body.len <= data + size)),
               "pb__atom_parse gave a body outside its input");
  }
  pb_fuzz_nodes(data, size);
  fuzz_walker(data, size);

  rc = pb__batch_check(data, size);
  FUZZ_CHECK(rc == PB_OK || rc == PB_ECORRUPT, "pb__batch_check returned %d",
             rc);
  FUZZ_CHECK(pb_test_corrupt_ok(rc, PB_AT_SOURCE),
             "pb__batch_check: PB_ECORRUPT without a detail");

  pb__commit_record c;
  const char *why = NULL;
  rc = pb__commit_decode(data, size, &c, &why);
  FUZZ_CHECK(rc == PB_OK || rc == PB_ECORRUPT, "pb__commit_decode returned %d",
             rc);
  FUZZ_CHECK(rc == PB_OK || why != NULL, "pb__commit_decode gave no reason");
  FUZZ_CHECK(pb_test_corrupt_ok(rc, PB_AT_SOURCE),
             "pb__commit_decode: PB_ECORRUPT without a detail");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  uint8_t *copy = malloc(size ? size : 1);
  if (!copy)
    return 0;
  if (size)
    memcpy(copy, data, size);
#define FUZZ_CALL_RECORD(R) fuzz_##R(copy, size);
  FUZZ_RECORDS(FUZZ_CALL_RECORD)
#undef FUZZ_CALL_RECORD
  fuzz_runtime(copy, size);
  free(copy);
  return 0;
}
