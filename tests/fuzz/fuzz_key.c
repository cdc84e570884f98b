/*
 * tests/fuzz/fuzz_key.c - the checks of fuzz_key.h.
 */
#include "fuzz_key.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../corrupt_detail.h"
#include "../key_values.h"
#include "protobase/key.h"

/* Reports a broken property and aborts, so a fuzzer keeps the input. */
#define FUZZ_CHECK(cond, ...)                                        \
  do {                                                               \
    if (!(cond)) {                                                   \
      fprintf(stderr, "fuzz_key: %s:%d: %s: ", __FILE__, __LINE__,   \
              #cond);                                                \
      fprintf(stderr, __VA_ARGS__);                                  \
      fputc('\n', stderr);                                           \
      abort();                                                       \
    }                                                                \
  } while (0)

#define UNKNOWN_KIND 13

/* Reads one component of `kind` with its get and appends it, encoded
 * again, to `again`.  Returns the get's code. */
static int get_and_put(pb_keyreader *r, int kind, pb_arena *arena,
                       pb_keybuf *again) {
  int rc = PB_EINVAL;
  switch (kind) {
#define GET_PUT(K, T, name)                       \
  case K: {                                       \
    T x;                                          \
    rc = pb_key_get_##name(r, &x);                \
    if (rc == PB_OK) pb_key_put_##name(again, x); \
    return rc;                                    \
  }
    GET_PUT(PB_KEY_BOOL, bool, bool)
    GET_PUT(PB_KEY_U8, uint8_t, u8)
    GET_PUT(PB_KEY_U16, uint16_t, u16)
    GET_PUT(PB_KEY_U32, uint32_t, u32)
    GET_PUT(PB_KEY_U64, uint64_t, u64)
    GET_PUT(PB_KEY_I8, int8_t, i8)
    GET_PUT(PB_KEY_I16, int16_t, i16)
    GET_PUT(PB_KEY_I32, int32_t, i32)
    GET_PUT(PB_KEY_I64, int64_t, i64)
    GET_PUT(PB_KEY_F32, float, f32)
    GET_PUT(PB_KEY_F64, double, f64)
#undef GET_PUT
    case PB_KEY_STR: {
      pb_str s;
      rc = pb_key_get_str(r, arena, &s);
      if (rc == PB_OK) pb_key_put_str(again, s);
      return rc;
    }
    case PB_KEY_BYTES: {
      pb_bytes b;
      rc = pb_key_get_bytes(r, arena, &b);
      if (rc == PB_OK) pb_key_put_bytes(again, b);
      return rc;
    }
    default: return pb_key_skip(r, (pb_key_kind)kind); /* unknown kind */
  }
}

/* True when the component at [from, to) holds an escaped 0x00. */
static bool has_escape(const uint8_t *from, const uint8_t *to) {
  for (const uint8_t *p = from; p + 2 < to; p++)
    if (p[0] == 0 && p[1] == 0xff) return true;
  return false;
}

/* Properties 2 and 3 over the key. */
static void check_decoders(const uint8_t *key, size_t len, const int *kinds,
                           size_t nkinds) {
  pb_arena *arena;
  FUZZ_CHECK(pb_arena_create(&arena) == PB_OK, "arena");
  pb_keyreader r, s, t;
  pb_keyreader_init(&r, key, len);
  pb_keyreader_init(&s, key, len);
  pb_keyreader_init(&t, key, len);
  pb_keybuf again;
  pb_keybuf_init(&again);
  for (size_t i = 0; i < nkinds; i++) {
    int kind = kinds[i];
    size_t at = pb_keyreader_offset(&r), used = pb_arena_allocated(arena);
    pb_keybuf_reset(&again);
    pb_test_detail_clear();
    int rc = get_and_put(&r, kind, arena, &again);
    FUZZ_CHECK(pb_test_corrupt_ok(rc, PB_AT_SOURCE), "component %zu", i);
    int rs = pb_key_skip(&s, kind == UNKNOWN_KIND ? (pb_key_kind)99
                                                  : (pb_key_kind)kind);
    FUZZ_CHECK(pb_test_corrupt_ok(rs, PB_AT_SOURCE), "skip %zu", i);
    FUZZ_CHECK(rs == rc, "skip %d, get %d (kind %d)", rs, rc, kind);
    if (kind == UNKNOWN_KIND) {
      FUZZ_CHECK(rc == PB_EINVAL, "unknown kind: %d", rc);
      break;
    }
    FUZZ_CHECK(rc == PB_OK || rc == PB_ECORRUPT, "kind %d: %d", kind, rc);
    if (rc != PB_OK) {
      FUZZ_CHECK(pb_keyreader_offset(&r) == at, "a failed get moved");
      FUZZ_CHECK(pb_keyreader_offset(&s) == at, "a failed skip moved");
      FUZZ_CHECK(pb_arena_allocated(arena) == used, "a failed get took memory");
      break;
    }
    size_t end = pb_keyreader_offset(&r);
    FUZZ_CHECK(end > at && end <= len, "component %zu: [%zu, %zu)", i, at,
               end);
    FUZZ_CHECK(pb_keyreader_offset(&s) == end, "skip ended elsewhere");
    FUZZ_CHECK(pb_keybuf_error(&again) == PB_OK, "re-encoding: %d",
               pb_keybuf_error(&again));
    FUZZ_CHECK(again.len == end - at && memcmp(again.ptr, key + at,
                                               again.len) == 0,
               "component %zu (kind %d) re-encodes to other bytes", i, kind);
    /* Without an arena: the same, or PB_EINVAL where a copy is needed. */
    pb_keybuf_reset(&again);
    int rt = get_and_put(&t, kind, NULL, &again);
    if (rt == PB_EINVAL) {
      FUZZ_CHECK(kind == PB_KEY_STR || kind == PB_KEY_BYTES, "EINVAL");
      FUZZ_CHECK(has_escape(key + at, key + end), "EINVAL without escape");
      FUZZ_CHECK(pb_keyreader_offset(&t) == at, "EINVAL moved");
      break;
    }
    FUZZ_CHECK(rt == PB_OK && pb_keyreader_offset(&t) == end,
               "without an arena: %d", rt);
    if (i + 1 == nkinds) {
      int re = pb_key_expect_end(&r);
      FUZZ_CHECK(pb_test_corrupt_ok(re, PB_AT_SOURCE), "expect_end");
      FUZZ_CHECK((re == PB_OK) == pb_keyreader_done(&r), "expect_end %d",
                 re);
    }
  }
  pb_keybuf_free(&again);
  pb_arena_destroy(arena);
}

/* Property 4. */
static void check_successor(const uint8_t *key, size_t len) {
  pb_keybuf succ, in_place;
  pb_keybuf_init(&succ);
  pb_keybuf_init(&in_place);
  int rc = pb_key_prefix_successor(key, len, &succ);
  size_t strip = len;
  while (strip > 0 && key[strip - 1] == 0xff) strip--;
  if (len > PB_KEY_MAX) {
    FUZZ_CHECK(rc == PB_ETOOBIG, "%d", rc);
  } else if (strip == 0) {
    FUZZ_CHECK(rc == PB_ENOTFOUND && succ.len == 0, "%d", rc);
  } else {
    FUZZ_CHECK(rc == PB_OK, "%d", rc);
    FUZZ_CHECK(succ.len == strip, "length %zu", succ.len);
    FUZZ_CHECK(kv_cmp_bytes(key, len, succ.ptr, succ.len) < 0, "not above");
    FUZZ_CHECK(!(succ.len >= len && memcmp(succ.ptr, key, len) == 0),
               "the successor starts with the prefix");
    /* Above every extension: the largest ones start with key + 0xFF... */
    FUZZ_CHECK(memcmp(succ.ptr, key, succ.len) > 0, "an extension is above");
    pb_keybuf_free(&in_place);
    pb_keybuf_init(&in_place);
    for (size_t i = 0; i < len; i++) pb_key_put_u8(&in_place, key[i]);
    FUZZ_CHECK(pb_key_prefix_successor(in_place.ptr, in_place.len,
                                       &in_place) == PB_OK,
               "in place");
    FUZZ_CHECK(in_place.len == succ.len &&
                   memcmp(in_place.ptr, succ.ptr, succ.len) == 0,
               "in place differs");
  }
  pb_keybuf_free(&succ);
  pb_keybuf_free(&in_place);
}

/* Property 5: the halves of the key as bytes and as strings. */
static void check_halves(const uint8_t *key, size_t len) {
  size_t half = len / 2;
  const uint8_t *a = key, *b = key + half;
  size_t na = half, nb = len - half;
  for (int as_str = 0; as_str < 2; as_str++) {
    bool utf8 = pb_utf8_valid(a, na) && pb_utf8_valid(b, nb);
    pb_keybuf ka, kb;
    pb_keybuf_init(&ka);
    pb_keybuf_init(&kb);
    if (as_str) {
      pb_key_put_str(&ka, (pb_str){(const char *)a, na});
      pb_key_put_str(&kb, (pb_str){(const char *)b, nb});
    } else {
      pb_key_put_bytes(&ka, (pb_bytes){a, na});
      pb_key_put_bytes(&kb, (pb_bytes){b, nb});
    }
    int ea = pb_keybuf_error(&ka), eb = pb_keybuf_error(&kb);
    if (as_str && !utf8) {
      FUZZ_CHECK(ea == PB_EINVAL || eb == PB_EINVAL, "not UTF-8 accepted");
    } else if (ea == PB_OK && eb == PB_OK) {
      FUZZ_CHECK(kv_cmp_bytes(ka.ptr, ka.len, kb.ptr, kb.len) ==
                     kv_cmp_bytes(a, na, b, nb),
                 "halves order differently encoded");
      pb_arena *arena;
      FUZZ_CHECK(pb_arena_create(&arena) == PB_OK, "arena");
      pb_keyreader r;
      pb_keyreader_init(&r, ka.ptr, ka.len);
      pb_bytes v;
      FUZZ_CHECK(pb_key_get_bytes(&r, arena, &v) == PB_OK && v.len == na &&
                     (na == 0 || memcmp(v.ptr, a, na) == 0) &&
                     pb_keyreader_done(&r),
                 "half does not decode back");
      pb_arena_destroy(arena);
    } else {
      FUZZ_CHECK((ea == PB_OK || ea == PB_ETOOBIG) &&
                     (eb == PB_OK || eb == PB_ETOOBIG),
                 "%d %d", ea, eb);
    }
    pb_keybuf_free(&ka);
    pb_keybuf_free(&kb);
  }
}

void pb_fuzz_key(const uint8_t *data, size_t size) {
  if (size == 0) return;
  size_t nkinds = 1 + data[0] % 4;
  if (size < 1 + nkinds) return;
  int kinds[4];
  for (size_t i = 0; i < nkinds; i++) kinds[i] = data[1 + i] % 14;
  size_t len = size - 1 - nkinds;
  uint8_t *key = malloc(len ? len : 1); /* exact size: ASan sees overreads */
  FUZZ_CHECK(key != NULL, "malloc");
  memcpy(key, data + 1 + nkinds, len);
  check_decoders(key, len, kinds, nkinds);
  check_successor(key, len);
  check_halves(key, len);
  free(key);
}
