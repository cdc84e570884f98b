/*
 * test_wire.c - the field encoding: round trips at every width and edge
 * value, exact bytes where the format fixes them, and rejection of
 * truncated or malformed input.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <math.h>

#include <cmocka.h>

#include "corrupt_detail.h"

#include "protobase/protobase.h" /* pb_atom_ptr */
#include "protobase/wire.h"
#include "atom/utf8.h" /* pb__utf8_valid_short */

/* Encodes one field with `put`, then reads it back as one field. */
static pb_field one_field(pb_buf *b) {
  pb_reader r;
  pb_field f;
  pb_reader_init(&r, b->data, b->len);
  assert_int_equal(pb_reader_next(&r, &f), 1);
  assert_int_equal(pb_reader_next(&r, &f), 0);
  return f;
}

static void varint_bytes_are_leb128(void **state) {
  (void)state;
  pb_buf b;
  pb_buf_init(&b);
  pb_wire_put_uint(&b, 1, 300);
  const uint8_t want[] = {0x08, 0xac, 0x02};
  assert_int_equal(b.len, sizeof want);
  assert_memory_equal(b.data, want, sizeof want);
  pb_buf_reset(&b);
  pb_wire_put_sint(&b, 2, -1); /* zigzag: 1 */
  const uint8_t want2[] = {0x10, 0x01};
  assert_memory_equal(b.data, want2, sizeof want2);
  pb_buf_free(&b);
}

static void unsigned_round_trips(void **state) {
  (void)state;
  const uint64_t vals[] = {0, 1, 127, 128, 16383, 16384, UINT32_MAX,
                           (uint64_t)UINT32_MAX + 1, UINT64_MAX - 1, UINT64_MAX};
  pb_buf b;
  pb_buf_init(&b);
  for (size_t i = 0; i < sizeof vals / sizeof vals[0]; i++) {
    pb_buf_reset(&b);
    pb_wire_put_uint(&b, PB_TAG_MAX, vals[i]);
    pb_field f = one_field(&b);
    uint64_t out;
    assert_int_equal(f.tag, PB_TAG_MAX);
    assert_int_equal(pb_field_u64(&f, &out), PB_OK);
    assert_true(out == vals[i]);
    uint32_t o32;
    assert_int_equal(pb_test_checked(pb_field_u32(&f, &o32), PB_AT_SOURCE),
                     vals[i] <= UINT32_MAX ? PB_OK : PB_ECORRUPT);
  }
  pb_buf_free(&b);
}

static void signed_round_trips(void **state) {
  (void)state;
  const int64_t vals[] = {0, 1, -1, 63, -64, 64, INT8_MIN, INT8_MAX, INT16_MIN,
                          INT32_MIN, INT32_MAX, INT64_MIN, INT64_MAX};
  pb_buf b;
  pb_buf_init(&b);
  for (size_t i = 0; i < sizeof vals / sizeof vals[0]; i++) {
    pb_buf_reset(&b);
    pb_wire_put_sint(&b, 7, vals[i]);
    pb_field f = one_field(&b);
    int64_t out;
    assert_int_equal(pb_field_i64(&f, &out), PB_OK);
    assert_true(out == vals[i]);
    int8_t o8;
    int rc = pb_test_checked(pb_field_i8(&f, &o8), PB_AT_SOURCE);
    assert_int_equal(rc, vals[i] >= INT8_MIN && vals[i] <= INT8_MAX
                             ? PB_OK : PB_ECORRUPT);
  }
  pb_buf_free(&b);
}

static void floats_bools_strings(void **state) {
  (void)state;
  pb_buf b;
  pb_buf_init(&b);
  pb_wire_put_float(&b, 1, -2.5f);
  pb_wire_put_double(&b, 2, 1e300);
  pb_wire_put_bool(&b, 3, true);
  pb_wire_put_str(&b, 4, pb_str_from_cstr("h\xc3\xa9llo"));
  const uint8_t raw[] = {0, 1, 2, 255};
  pb_bytes bytes = {raw, sizeof raw};
  pb_wire_put_bytes(&b, 5, bytes);
  assert_int_equal(pb_buf_error(&b), PB_OK);

  pb_reader r;
  pb_field f;
  pb_reader_init(&r, b.data, b.len);
  float fl;
  double d;
  bool bo;
  pb_str s;
  pb_bytes by;
  assert_int_equal(pb_reader_next(&r, &f), 1);
  assert_int_equal(pb_field_float(&f, &fl), PB_OK);
  assert_true(fl == -2.5f);
  assert_corrupt(pb_field_double(&f, &d), PB_AT_SOURCE); /* wrong width */
  assert_int_equal(pb_reader_next(&r, &f), 1);
  assert_int_equal(pb_field_double(&f, &d), PB_OK);
  assert_true(d == 1e300);
  assert_int_equal(pb_reader_next(&r, &f), 1);
  assert_int_equal(pb_field_bool(&f, &bo), PB_OK);
  assert_true(bo);
  assert_int_equal(pb_reader_next(&r, &f), 1);
  assert_int_equal(pb_field_str(&f, &s), PB_OK);
  assert_int_equal(s.len, 6);
  assert_memory_equal(s.ptr, "h\xc3\xa9llo", 6);
  assert_int_equal(pb_reader_next(&r, &f), 1);
  assert_int_equal(pb_field_bytes(&f, &by), PB_OK);
  assert_int_equal(by.len, 4);
  assert_memory_equal(by.ptr, raw, 4);
  assert_int_equal(pb_reader_next(&r, &f), 0);
  pb_buf_free(&b);
}

static void nan_and_infinity_survive(void **state) {
  (void)state;
  pb_buf b;
  pb_buf_init(&b);
  pb_wire_put_double(&b, 1, NAN);
  pb_field f = one_field(&b);
  double d;
  assert_int_equal(pb_field_double(&f, &d), PB_OK);
  assert_true(isnan(d));
  pb_buf_reset(&b);
  pb_wire_put_float(&b, 1, -INFINITY);
  f = one_field(&b);
  float fl;
  assert_int_equal(pb_field_float(&f, &fl), PB_OK);
  assert_true(isinf(fl) && fl < 0);
  pb_buf_free(&b);
}

static void every_truncation_is_rejected(void **state) {
  (void)state;
  pb_buf b;
  pb_buf_init(&b);
  pb_wire_put_uint(&b, 1, UINT64_MAX);
  pb_wire_put_double(&b, 2, 3.0);
  pb_wire_put_str(&b, 3, pb_str_from_cstr("some text"));
  pb_wire_put_float(&b, 4, 1.0f);
  /* Cutting inside any field must fail; cutting between fields must not. */
  size_t boundaries[] = {0, 11, 11 + 9, 11 + 9 + 11, b.len};
  assert_int_equal(b.len, 11 + 9 + 11 + 5);
  for (size_t cut = 0; cut <= b.len; cut++) {
    pb_reader r;
    pb_field f;
    pb_reader_init(&r, b.data, cut);
    int rc;
    while ((rc = pb_test_checked(pb_reader_next(&r, &f), PB_AT_SOURCE)) == 1) {
    }
    bool at_boundary = false;
    for (size_t i = 0; i < 5; i++) at_boundary |= boundaries[i] == cut;
    assert_int_equal(rc, at_boundary ? 0 : PB_ECORRUPT);
  }
  pb_buf_free(&b);
}

static void malformed_keys_and_values(void **state) {
  (void)state;
  pb_reader r;
  pb_field f;
  const uint8_t tag0[] = {0x00, 0x01};             /* tag 0 */
  const uint8_t wt6[] = {0x0e, 0x00};              /* wire type 6 */
  const uint8_t wt7[] = {0x0f, 0x00};              /* wire type 7 */
  const uint8_t ptr_short[] = {0x0b, 1, 2, 3};     /* PTR: 3 of 20 bytes */
  const uint8_t rec_long[] = {0x0c, 0x05, 0x08};   /* REC: 1 of 5 bytes */
  const uint8_t longvar[] = {0x08, 0xff, 0xff, 0xff, 0xff, 0xff,
                             0xff, 0xff, 0xff, 0xff, 0x02}; /* > 64 bits */
  const uint8_t biglen[] = {0x12, 0xff, 0xff, 0xff, 0xff, 0x0f, 'a'};
  const uint8_t badutf8[] = {0x12, 0x02, 0xc0, 0x80}; /* overlong NUL */
  const uint8_t bool2[] = {0x08, 0x02};
  pb_reader_init(&r, tag0, sizeof tag0);
  assert_corrupt(pb_reader_next(&r, &f), PB_AT_SOURCE);
  pb_reader_init(&r, wt6, sizeof wt6);
  assert_corrupt(pb_reader_next(&r, &f), PB_AT_SOURCE);
  pb_reader_init(&r, wt7, sizeof wt7);
  assert_corrupt(pb_reader_next(&r, &f), PB_AT_SOURCE);
  pb_reader_init(&r, ptr_short, sizeof ptr_short);
  assert_corrupt(pb_reader_next(&r, &f), PB_AT_SOURCE);
  pb_reader_init(&r, rec_long, sizeof rec_long);
  assert_corrupt(pb_reader_next(&r, &f), PB_AT_SOURCE);
  pb_reader_init(&r, longvar, sizeof longvar);
  assert_corrupt(pb_reader_next(&r, &f), PB_AT_SOURCE);
  pb_reader_init(&r, biglen, sizeof biglen);
  assert_corrupt(pb_reader_next(&r, &f), PB_AT_SOURCE);
  pb_reader_init(&r, badutf8, sizeof badutf8);
  assert_int_equal(pb_reader_next(&r, &f), 1);
  pb_str s;
  assert_corrupt(pb_field_str(&f, &s), PB_AT_SOURCE);
  pb_reader_init(&r, bool2, sizeof bool2);
  assert_int_equal(pb_reader_next(&r, &f), 1);
  bool bo;
  assert_corrupt(pb_field_bool(&f, &bo), PB_AT_SOURCE);
}

/* PB_WT_PTR: 20 fixed bytes; PB_WT_REC: a length and a record body. */
static void pointer_and_record_fields(void **state) {
  (void)state;
  pb_atom_ptr p = {UINT64_MAX, 0x8000000000000001ull, UINT32_MAX}, q;
  pb_buf b;
  pb_buf_init(&b);
  pb_wire_put_atom_ptr(&b, PB_TAG_MAX, &p);
  assert_int_equal(b.len, 5 + 20); /* a 5-byte key, no length */
  pb_field f = one_field(&b);
  assert_int_equal(f.tag, PB_TAG_MAX);
  assert_int_equal(f.wire_type, PB_WT_PTR);
  assert_int_equal(f.size, 20);
  assert_ptr_equal(f.data, b.data + 5);
  assert_int_equal(pb_field_atom_ptr(&f, &q), PB_OK);
  assert_true(pb_atom_ptr_equal(p, q));
  /* A pointer is not bytes, nor a number, nor a record. */
  pb_bytes v;
  uint64_t u;
  assert_corrupt(pb_field_bytes(&f, &v), PB_AT_SOURCE);
  assert_corrupt(pb_field_u64(&f, &u), PB_AT_SOURCE);
  assert_corrupt(pb_field_rec(&f, &v), PB_AT_SOURCE);

  pb_buf_reset(&b);
  pb_len_mark m = pb_wire_begin_rec(&b, 7);
  pb_wire_put_uint(&b, 1, 300);
  pb_wire_put_atom_ptr(&b, 2, &p);
  pb_wire_end_len(&b, m, false);
  f = one_field(&b);
  assert_int_equal(f.tag, 7);
  assert_int_equal(f.wire_type, PB_WT_REC);
  assert_int_equal(pb_field_rec(&f, &v), PB_OK);
  assert_int_equal(v.len, 3 + 21);
  assert_corrupt(pb_field_bytes(&f, &v), PB_AT_SOURCE);
  assert_corrupt(pb_field_atom_ptr(&f, &q), PB_AT_SOURCE);
  pb_str s;
  assert_corrupt(pb_field_str(&f, &s), PB_AT_SOURCE);
  /* The payload reads as a record body. */
  pb_reader r;
  pb_field g;
  pb_reader_init(&r, f.data, f.size);
  assert_int_equal(pb_reader_next(&r, &g), 1);
  assert_int_equal(pb_reader_next(&r, &g), 1);
  assert_int_equal(pb_field_atom_ptr(&g, &q), PB_OK);
  assert_true(pb_atom_ptr_equal(p, q));
  assert_int_equal(pb_reader_next(&r, &g), 0);

  /* A LEN field is neither a pointer nor a record. */
  pb_buf_reset(&b);
  pb_wire_put_len(&b, 1, b.data, 0);
  f = one_field(&b);
  assert_corrupt(pb_field_rec(&f, &v), PB_AT_SOURCE);
  assert_corrupt(pb_field_atom_ptr(&f, &q), PB_AT_SOURCE);
  pb_buf_free(&b);
}

/* An offset above UINT32_MAX has no encoding: a sticky PB_EINVAL. */
static void pointer_offset_over_u32_is_einval(void **state) {
  (void)state;
  pb_atom_ptr p = {1, 2, (uint64_t)UINT32_MAX + 1};
  pb_buf b;
  pb_buf_init(&b);
  pb_wire_put_uint(&b, 1, 1);
  pb_wire_put_atom_ptr(&b, 2, &p);
  assert_int_equal(pb_buf_error(&b), PB_EINVAL);
  assert_int_equal(b.len, 2); /* only the first field */
  pb_wire_put_uint(&b, 3, 1); /* later writes are no-ops */
  assert_int_equal(b.len, 2);
  assert_int_equal(pb_buf_error(&b), PB_EINVAL);
  pb_buf_reset(&b); /* clears the error */
  assert_int_equal(pb_buf_error(&b), PB_OK);
  pb_buf_free(&b);
}

/* UTF-8 as RFC 3629 defines it, the slow obvious way: decode each code
 * point and check its length, range and surrogates. */
static bool ref_utf8_valid(const uint8_t *p, size_t n) {
  for (size_t i = 0; i < n;) {
    uint32_t c = p[i], min;
    size_t len;
    if (c < 0x80) {
      i++;
      continue;
    } else if ((c & 0xe0) == 0xc0) {
      len = 2, c &= 0x1f, min = 0x80;
    } else if ((c & 0xf0) == 0xe0) {
      len = 3, c &= 0x0f, min = 0x800;
    } else if ((c & 0xf8) == 0xf0) {
      len = 4, c &= 0x07, min = 0x10000;
    } else {
      return false;
    }
    if (n - i < len) return false;
    for (size_t k = 1; k < len; k++) {
      if ((p[i + k] & 0xc0) != 0x80) return false;
      c = c << 6 | (p[i + k] & 0x3f);
    }
    if (c < min || c > 0x10ffff || (c >= 0xd800 && c <= 0xdfff)) return false;
    i += len;
  }
  return true;
}

static uint64_t utf8_rng = 0x243f6a8885a308d3ull;
static uint64_t utf8_rnd(void) { /* xorshift64*, fixed seed */
  utf8_rng ^= utf8_rng >> 12;
  utf8_rng ^= utf8_rng << 25;
  utf8_rng ^= utf8_rng >> 27;
  return utf8_rng * 0x2545f4914f6cdd1dull;
}

/* Appends code point c, encoded, to p; returns its length. */
static size_t put_cp(uint8_t *p, uint32_t c) {
  if (c < 0x80) return p[0] = (uint8_t)c, 1;
  if (c < 0x800)
    return p[0] = (uint8_t)(0xc0 | c >> 6), p[1] = (uint8_t)(0x80 | (c & 63)), 2;
  if (c < 0x10000)
    return p[0] = (uint8_t)(0xe0 | c >> 12),
           p[1] = (uint8_t)(0x80 | (c >> 6 & 63)),
           p[2] = (uint8_t)(0x80 | (c & 63)), 3;
  return p[0] = (uint8_t)(0xf0 | c >> 18),
         p[1] = (uint8_t)(0x80 | (c >> 12 & 63)),
         p[2] = (uint8_t)(0x80 | (c >> 6 & 63)),
         p[3] = (uint8_t)(0x80 | (c & 63)), 4;
}

/* pb_utf8_valid agrees with the reference on every 1- and 2-byte string,
 * on 3- and 4-byte strings over the bytes where the rules change, after
 * ASCII runs of every length up to 40 (each path of the word loops and
 * their tails), at every alignment, and on random mixes of ASCII runs,
 * valid sequences and random bytes. */
static void utf8_matches_reference(void **state) {
  (void)state;
  static const uint8_t edge[] = {0x00, 0x41, 0x7f, 0x80, 0x8f, 0x90, 0x9f,
                                 0xa0, 0xbf, 0xc0, 0xc1, 0xc2, 0xdf, 0xe0,
                                 0xed, 0xef, 0xf0, 0xf4, 0xf5, 0xff};
  const size_t ne = sizeof edge;
  uint8_t buf[128], *q;
  for (unsigned a = 0; a < 256; a++)
    for (unsigned b = 0; b < 256; b++) {
      uint8_t s2[2] = {(uint8_t)a, (uint8_t)b};
      assert_int_equal(pb_utf8_valid(s2, 1), ref_utf8_valid(s2, 1));
      assert_int_equal(pb_utf8_valid(s2, 2), ref_utf8_valid(s2, 2));
    }
  for (unsigned a = 0xe0; a < 0xf5; a++) /* 3- and 4-byte leads */
    for (unsigned b = 0; b < 256; b++)
      for (unsigned c = 0; c < 256; c++)
        for (size_t k = 0; k < (a < 0xf0 ? 1 : ne); k++) {
          uint8_t s4[4] = {(uint8_t)a, (uint8_t)b, (uint8_t)c, edge[k]};
          size_t len = a < 0xf0 ? 3 : 4;
          if (pb_utf8_valid(s4, len) != ref_utf8_valid(s4, len))
            fail_msg("%02x %02x %02x %02x (%zu bytes)", a, b, c, edge[k],
                     len);
        }
  for (size_t run = 0; run <= 40; run++) {
    q = buf + run % 8; /* every alignment */
    memset(q, 'a', run);
    for (unsigned a = 0x80; a < 256; a++)
      for (size_t i = 0; i < ne; i++)
        for (size_t j = 0; j < ne; j++) {
          q[run] = (uint8_t)a, q[run + 1] = edge[i], q[run + 2] = edge[j];
          q[run + 3] = edge[(i + j) % ne], q[run + 4] = 'z';
          for (size_t len = run + 1; len <= run + 5; len++)
            if (pb_utf8_valid(q, len) != ref_utf8_valid(q, len))
              fail_msg("run %zu len %zu: %02x %02x %02x %02x", run, len, a,
                       edge[i], edge[j], edge[(i + j) % ne]);
        }
  }
  for (int t = 0; t < 200000; t++) {
    size_t align = utf8_rnd() % 8, n = 0;
    q = buf + align;
    while (n < 100) {
      uint64_t r = utf8_rnd();
      switch (r % 4) {
      case 0: { /* an ASCII run */
        size_t len = (size_t)(r >> 8) % 24;
        if (n + len > 100) len = 100 - n;
        memset(q + n, 'a' + (int)(r >> 16) % 26, len);
        n += len;
        break;
      }
      case 1: case 2: { /* a valid code point (or a surrogate, invalid) */
        uint32_t c = (uint32_t)(r >> 8) % 0x110000;
        n += put_cp(q + n, c);
        break;
      }
      default:
        q[n++] = (uint8_t)(r >> 8);
      }
      if (utf8_rnd() % 8 == 0) break;
    }
    size_t len = n > 100 ? 100 : n;
    if (pb_utf8_valid(q, len) != ref_utf8_valid(q, len))
      fail_msg("random string %d (length %zu) disagrees", t, len);
  }
}

/* pb__utf8_valid_short (the inline front a Dictionary leaf's keys go
 * through) agrees with pb_utf8_valid and the reference at every length 0
 * to 24 (its byte, 4-byte-word, 8-byte-word and call paths) and every
 * alignment: all ASCII; an invalid byte (a stray continuation, an
 * overlong lead, 0xff) in each position; a 2-, 3- and 4-byte character
 * at each position (across the 4- and 8-byte word boundaries), whole and
 * cut short by the end.  The bytes after the string are 0xff, and a
 * load past its end is a read out of bounds the ASan suite reports. */
static void utf8_short_front(void **state) {
  (void)state;
  static const uint8_t bad[] = {0x80, 0xbf, 0xc0, 0xc1, 0xf5, 0xff};
  static const uint32_t cps[] = {0xe9, 0x20ac, 0x1f600};
  uint8_t buf[64];
  for (size_t align = 0; align < 8; align++)
    for (size_t n = 0; n <= 24; n++) {
      uint8_t *q = buf + align;
      memset(buf, 0xff, sizeof buf);
      for (size_t i = 0; i < n; i++) q[i] = (uint8_t)('a' + i % 26);
      if (!pb__utf8_valid_short(q, n))
        fail_msg("ASCII, length %zu, alignment %zu: invalid", n, align);
      for (size_t i = 0; i < n; i++)
        for (size_t b = 0; b < sizeof bad; b++) {
          uint8_t keep = q[i];
          q[i] = bad[b];
          if (pb__utf8_valid_short(q, n) || pb_utf8_valid(q, n))
            fail_msg("0x%02x at %zu of %zu: valid", bad[b], i, n);
          q[i] = keep;
        }
      for (size_t c = 0; c < 3; c++)
        for (size_t i = 0; i < n; i++) {
          uint8_t save[4];
          memcpy(save, q + i, 4);
          uint8_t enc[4];
          size_t len = put_cp(enc, cps[c]);
          size_t fit = n - i < len ? n - i : len; /* cut by the end */
          memcpy(q + i, enc, fit);
          bool want = ref_utf8_valid(q, n);
          assert_int_equal(want, fit == len);
          if (pb__utf8_valid_short(q, n) != want ||
              pb_utf8_valid(q, n) != want)
            fail_msg("U+%04x at %zu of %zu (%zu of %zu bytes): disagrees",
                     (unsigned)cps[c], i, n, fit, len);
          memcpy(q + i, save, 4);
        }
    }
}

static void utf8_validation(void **state) {
  (void)state;
  assert_true(pb_utf8_valid("", 0));
  assert_true(pb_utf8_valid("abc", 3));
  assert_true(pb_utf8_valid("\xf0\x9f\x98\x80", 4));       /* U+1F600 */
  assert_false(pb_utf8_valid("\xed\xa0\x80", 3));           /* surrogate */
  assert_false(pb_utf8_valid("\xf4\x90\x80\x80", 4));       /* > U+10FFFF */
  assert_false(pb_utf8_valid("\xe0\x80\xaf", 3));           /* overlong */
  assert_false(pb_utf8_valid("\xe2\x82", 2));               /* truncated */
  assert_false(pb_utf8_valid("\xff", 1));
  /* The eight-bytes-at-a-time ASCII path, and what follows it. */
  assert_true(pb_utf8_valid("abcdefghijklmnop", 16));
  assert_true(pb_utf8_valid("abcdefgh\xc3\xa9ijklmnopq", 18));
  assert_false(pb_utf8_valid("abcdefghij\xff", 11));
  assert_false(pb_utf8_valid("abcdefgh12345678\xed\xa0\x80", 19));
  assert_false(pb_utf8_valid("abcdefg\xe2\x82", 9)); /* truncated at the end */
}

static void buffer_reuse_and_reset(void **state) {
  (void)state;
  pb_buf b;
  pb_buf_init(&b);
  for (int i = 0; i < 10000; i++) pb_wire_put_uint(&b, 1, (uint64_t)i);
  assert_int_equal(pb_buf_error(&b), PB_OK);
  size_t cap = b.cap;
  pb_buf_reset(&b);
  assert_int_equal(b.len, 0);
  assert_int_equal(b.cap, cap);
  pb_buf_free(&b);
  assert_null(b.data);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(varint_bytes_are_leb128),
      cmocka_unit_test(unsigned_round_trips),
      cmocka_unit_test(signed_round_trips),
      cmocka_unit_test(floats_bools_strings),
      cmocka_unit_test(nan_and_infinity_survive),
      cmocka_unit_test(every_truncation_is_rejected),
      cmocka_unit_test(malformed_keys_and_values),
      cmocka_unit_test(pointer_and_record_fields),
      cmocka_unit_test(pointer_offset_over_u32_is_einval),
      cmocka_unit_test(utf8_validation),
      cmocka_unit_test(utf8_matches_reference),
      cmocka_unit_test(utf8_short_front),
      cmocka_unit_test(buffer_reuse_and_reset),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
