/*
 * test_table_prop.c - a property test of typed tables (protobase/table.h)
 * against a model, one table shape per record of tables/tprop.pbs: a
 * primary key of each kind (uint64, int64, string, bytes, an enum) and a
 * keyless table, each with a non-unique index (grp), a composite one
 * (grp, score) and a unique one (name).
 *
 * Random transactions insert, upsert, update, delete, get, count, scan a
 * random key range (open or closed ends, forward or reverse), look rows up
 * by index value and prefix, and scan index ranges; each result is
 * compared with the model, and pb_table_check (every row indexed exactly
 * once, no stale entry) runs after every change.  Transactions commit or
 * abort at random, reads also run in read-only transactions, and now and
 * then the storage is closed and reopened.  Keys are drawn from small
 * domains whose natural order is known (negative and positive integers,
 * strings and bytes with embedded 0x00 and 0xFF bytes, prefixes of each
 * other), so ordering is checked in every scan; scores include -0.0,
 * infinities and NaN.  File storage with the defaults (PB_DURABILITY_SYNC).
 *
 * The tables are the generated ones (tprop_R_table, with the key functions
 * pbc generates); the test reaches them through the runtime's generic
 * calls (protobase/table.h), with keys built by protobase/key.h, so the
 * same harness drives every shape.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "protobase/protobase.h"
#include "protobase/table.h"
#include "test_util.h"
#include "tprop.pb.h"

#define NK 48      /* key domain size (the enum has 4) */
#define NNAMES 40  /* names: collisions in the unique index are common */
#define NGRP 4
#define STEPS 400
#define MAXROWS 400 /* keyless ids */

static uint64_t rng;
static uint32_t rnd(void) {
  rng = rng * 6364136223846793005ull + 1442695040888963407ull;
  return (uint32_t)(rng >> 33);
}

/* --- key domains, in natural order --- */

static uint64_t dom_u[NK];
static int64_t dom_i[NK];
static char dom_s[NK][8];
static size_t dom_slen[NK];
static const tprop_Color dom_e[4] = {tprop_Color_NEG, tprop_Color_ZERO,
                                     tprop_Color_ONE, tprop_Color_BIG};

static int cmp_u(const void *a, const void *b) {
  uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
  return x < y ? -1 : x > y;
}
static int cmp_i(const void *a, const void *b) {
  int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
  return x < y ? -1 : x > y;
}
/* Bytewise, shorter first: the order of strings and bytes. */
static int bytes_cmp(const void *a, size_t na, const void *b, size_t nb) {
  int c = memcmp(a, b, na < nb ? na : nb);
  return c ? c : (na > nb) - (na < nb);
}

static void make_domains(void) {
  static const uint64_t us[] = {0, 1, 2, 127, 128, 255, 256, 65535, 65536,
                                (uint64_t)1 << 32, ((uint64_t)1 << 63) - 1,
                                (uint64_t)1 << 63, UINT64_MAX - 1, UINT64_MAX};
  static const int64_t is[] = {INT64_MIN, INT64_MIN + 1, -65536, -256, -255,
                               -2, -1, 0, 1, 2, 255, 256, INT64_MAX - 1,
                               INT64_MAX};
  size_t n = 0;
  for (; n < sizeof us / sizeof *us; n++) dom_u[n] = us[n];
  while (n < NK) { /* more, distinct */
    uint64_t v = ((uint64_t)rnd() << 32) | rnd();
    bool dup = false;
    for (size_t j = 0; j < n; j++) dup |= dom_u[j] == v;
    if (!dup) dom_u[n++] = v;
  }
  qsort(dom_u, NK, sizeof *dom_u, cmp_u);
  for (n = 0; n < sizeof is / sizeof *is; n++) dom_i[n] = is[n];
  while (n < NK) {
    int64_t v = (int64_t)(((uint64_t)rnd() << 32) | rnd());
    bool dup = false;
    for (size_t j = 0; j < n; j++) dup |= dom_i[j] == v;
    if (!dup) dom_i[n++] = v;
  }
  qsort(dom_i, NK, sizeof *dom_i, cmp_i);
  /* Strings over {0x00, 'a', 'b', 0xC3 0xA9 (one letter)}: valid UTF-8,
   * with embedded zeros and prefixes of each other. */
  static const char *const pieces[] = {"\0", "a", "b", "\xc3\xa9"};
  static const size_t plen[] = {1, 1, 1, 2};
  n = 0;
  while (n < NK) {
    char s[8];
    size_t len = 0, parts = rnd() % 4;
    for (size_t p = 0; p < parts; p++) {
      unsigned k = rnd() % 4;
      memcpy(s + len, pieces[k], plen[k]);
      len += plen[k];
    }
    bool dup = false;
    for (size_t j = 0; j < n; j++)
      dup |= dom_slen[j] == len && memcmp(dom_s[j], s, len) == 0;
    if (dup) continue;
    memcpy(dom_s[n], s, len);
    dom_slen[n++] = len;
  }
  /* sort by bytes (insertion sort: tiny) */
  for (size_t i = 1; i < NK; i++)
    for (size_t j = i; j > 0 && bytes_cmp(dom_s[j - 1], dom_slen[j - 1],
                                          dom_s[j], dom_slen[j]) > 0;
         j--) {
      char t[8];
      size_t tl = dom_slen[j];
      memcpy(t, dom_s[j], 8);
      memcpy(dom_s[j], dom_s[j - 1], 8);
      memcpy(dom_s[j - 1], t, 8);
      dom_slen[j] = dom_slen[j - 1];
      dom_slen[j - 1] = tl;
    }
}

/* Scores: their natural order for keys is -inf < ... < +inf < NaN, with
 * -0.0 == +0.0 and every NaN equal (protobase/key.h). */
static const double scores[] = {-INFINITY, -1e300, -2.5, -0.0, 0.0, 5e-324,
                                1.0, 2.5, 1e300, INFINITY, NAN};
#define NSCORES (sizeof scores / sizeof *scores)
static int score_rank(double d) {
  if (isnan(d)) return 100;
  for (int i = 0; i < (int)NSCORES; i++)
    if (d == scores[i]) return i == 3 ? 4 : i; /* -0.0 ranks as +0.0 */
  fail_msg("score %g not in the set", d);
  return -1;
}

static char names[NNAMES][12];

/* --- shapes --- */

typedef struct shape {
  const char *label;
  const pb_table_def *def;
  size_t nk;                           /* key domain size; 0: keyless */
  void (*set_key)(void *rec, size_t ki);
  void (*enc_key)(size_t ki, pb_keybuf *kb);
  size_t (*key_index)(const void *rec);
} shape;

/* The payload, the same fields in every record: read and written through
 * one accessor set per record type. */
typedef struct payload {
  int32_t grp;
  double score;
  unsigned name; /* index into names */
} payload;

#define PAYLOAD_FNS(R)                                                      \
  static void R##_set_payload(void *rec, const payload *p) {                \
    tprop_##R *r = rec;                                                     \
    r->grp = p->grp;                                                        \
    r->score = p->score;                                                    \
    r->name = pb_str_from_cstr(names[p->name]);                             \
  }                                                                         \
  static void R##_get_payload(const void *rec, payload *p) {                \
    const tprop_##R *r = rec;                                               \
    p->grp = r->grp;                                                        \
    p->score = r->score;                                                    \
    p->name = NNAMES;                                                       \
    for (unsigned i = 0; i < NNAMES; i++)                                   \
      if (r->name.len == strlen(names[i]) &&                                \
          memcmp(r->name.ptr, names[i], r->name.len) == 0)                  \
        p->name = i;                                                        \
  }

PAYLOAD_FNS(KU)
PAYLOAD_FNS(KI)
PAYLOAD_FNS(KS)
PAYLOAD_FNS(KB)
PAYLOAD_FNS(KE)
PAYLOAD_FNS(KL)

/* Keys. */
static void KU_set_key(void *r, size_t ki) { ((tprop_KU *)r)->k = dom_u[ki]; }
static void KU_enc_key(size_t ki, pb_keybuf *kb) { pb_key_put_u64(kb, dom_u[ki]); }
static size_t KU_key_index(const void *r) {
  for (size_t i = 0; i < NK; i++)
    if (dom_u[i] == ((const tprop_KU *)r)->k) return i;
  return SIZE_MAX;
}
static void KI_set_key(void *r, size_t ki) { ((tprop_KI *)r)->k = dom_i[ki]; }
static void KI_enc_key(size_t ki, pb_keybuf *kb) { pb_key_put_i64(kb, dom_i[ki]); }
static size_t KI_key_index(const void *r) {
  for (size_t i = 0; i < NK; i++)
    if (dom_i[i] == ((const tprop_KI *)r)->k) return i;
  return SIZE_MAX;
}
static void KS_set_key(void *r, size_t ki) {
  ((tprop_KS *)r)->k = (pb_str){dom_s[ki], dom_slen[ki]};
}
static void KS_enc_key(size_t ki, pb_keybuf *kb) {
  pb_key_put_str(kb, (pb_str){dom_s[ki], dom_slen[ki]});
}
static size_t KS_key_index(const void *r) {
  pb_str k = ((const tprop_KS *)r)->k;
  for (size_t i = 0; i < NK; i++)
    if (dom_slen[i] == k.len && (k.len == 0 || memcmp(dom_s[i], k.ptr, k.len) == 0))
      return i;
  return SIZE_MAX;
}
/* Bytes keys: the string domain with 0xC3 0xA9 read as raw bytes, and a
 * 0xFF appended to odd ones; still in bytewise order after re-sorting, so
 * they get a domain of their own. */
static uint8_t dom_b[NK][9];
static size_t dom_blen[NK];
static void make_bytes_domain(void) {
  for (size_t i = 0; i < NK; i++) {
    memcpy(dom_b[i], dom_s[i], dom_slen[i]);
    dom_blen[i] = dom_slen[i];
    if (i % 2) dom_b[i][dom_blen[i]++] = 0xff;
  }
  for (size_t i = 1; i < NK; i++)
    for (size_t j = i; j > 0 && bytes_cmp(dom_b[j - 1], dom_blen[j - 1],
                                          dom_b[j], dom_blen[j]) > 0;
         j--) {
      uint8_t t[9];
      size_t tl = dom_blen[j];
      memcpy(t, dom_b[j], 9);
      memcpy(dom_b[j], dom_b[j - 1], 9);
      memcpy(dom_b[j - 1], t, 9);
      dom_blen[j] = dom_blen[j - 1];
      dom_blen[j - 1] = tl;
    }
  for (size_t i = 1; i < NK; i++) /* distinct */
    assert_int_not_equal(bytes_cmp(dom_b[i - 1], dom_blen[i - 1], dom_b[i],
                                   dom_blen[i]),
                         0);
}
static void KB_set_key(void *r, size_t ki) {
  ((tprop_KB *)r)->k = (pb_bytes){dom_b[ki], dom_blen[ki]};
}
static void KB_enc_key(size_t ki, pb_keybuf *kb) {
  pb_key_put_bytes(kb, (pb_bytes){dom_b[ki], dom_blen[ki]});
}
static size_t KB_key_index(const void *r) {
  pb_bytes k = ((const tprop_KB *)r)->k;
  for (size_t i = 0; i < NK; i++)
    if (dom_blen[i] == k.len && (k.len == 0 || memcmp(dom_b[i], k.ptr, k.len) == 0))
      return i;
  return SIZE_MAX;
}
static void KE_set_key(void *r, size_t ki) { ((tprop_KE *)r)->k = dom_e[ki]; }
static void KE_enc_key(size_t ki, pb_keybuf *kb) { pb_key_put_i32(kb, (int32_t)dom_e[ki]); }
static size_t KE_key_index(const void *r) {
  for (size_t i = 0; i < 4; i++)
    if (dom_e[i] == ((const tprop_KE *)r)->k) return i;
  return SIZE_MAX;
}


typedef struct shape_ops {
  shape s;
  void (*set_payload)(void *rec, const payload *p);
  void (*get_payload)(const void *rec, payload *p);
} shape_ops;

static const shape_ops shapes[] = {
    {{"uint64", &tprop_KU_table, NK, KU_set_key, KU_enc_key, KU_key_index},
     KU_set_payload, KU_get_payload},
    {{"int64", &tprop_KI_table, NK, KI_set_key, KI_enc_key, KI_key_index},
     KI_set_payload, KI_get_payload},
    {{"string", &tprop_KS_table, NK, KS_set_key, KS_enc_key, KS_key_index},
     KS_set_payload, KS_get_payload},
    {{"bytes", &tprop_KB_table, NK, KB_set_key, KB_enc_key, KB_key_index},
     KB_set_payload, KB_get_payload},
    {{"enum", &tprop_KE_table, 4, KE_set_key, KE_enc_key, KE_key_index},
     KE_set_payload, KE_get_payload},
    {{"keyless", &tprop_KL_table, 0, NULL, NULL, NULL}, KL_set_payload,
     KL_get_payload},
};

/* --- the model --- */

typedef struct mrow {
  bool present;
  payload p;
} mrow;

typedef struct model {
  mrow rows[MAXROWS]; /* by key index (keyed) or id (keyless) */
  uint64_t next_id;   /* keyless: the next id the table gives */
} model;

static size_t slots(const shape_ops *sh) { return sh->s.nk ? sh->s.nk : MAXROWS; }

/* The row that has name n, other than `except`; SIZE_MAX: none. */
static size_t name_owner(const model *m, const shape_ops *sh, unsigned n,
                         size_t except) {
  for (size_t i = 0; i < slots(sh); i++)
    if (i != except && m->rows[i].present && m->rows[i].p.name == n) return i;
  return SIZE_MAX;
}

/* The composite index order: (grp, score rank), then the primary key
 * (key index order = natural order; keyless: id order). */
static int tuple_cmp(const payload *a, const payload *b) {
  if (a->grp != b->grp) return a->grp < b->grp ? -1 : 1;
  int ra = score_rank(a->score), rb = score_rank(b->score);
  return (ra > rb) - (ra < rb);
}

/* --- the harness --- */

typedef struct world {
  char *dir;
  pb_storage *st;
  pb_space *sp;
  pb_db *db;
} world;

static void wopen(world *w) {
  assert_int_equal(pb_storage_open_file(w->dir, NULL, &w->st), PB_OK);
  assert_int_equal(pb_space_open(w->st, &w->sp), PB_OK);
  assert_int_equal(pb_db_open(w->sp, "t", PB_CREATE, &w->db), PB_OK);
}

static void wclose(world *w) {
  assert_int_equal(pb_db_close(w->db), PB_OK);
  assert_int_equal(pb_space_close(w->sp), PB_OK);
}

static void random_payload(payload *p) {
  p->grp = (int32_t)(rnd() % NGRP) - 1; /* -1 .. 2: a negative group too */
  p->score = scores[rnd() % NSCORES];
  p->name = rnd() % NNAMES;
}

static void check_payload(const shape_ops *sh, const void *rec,
                          const payload *want) {
  payload got;
  sh->get_payload(rec, &got);
  assert_int_equal(got.grp, want->grp);
  assert_int_equal(score_rank(got.score), score_rank(want->score));
  assert_true(signbit(got.score) == signbit(want->score) || isnan(want->score));
  assert_int_equal(got.name, want->name);
}

/* Reads the cursor to its end: the slots of its rows, in order. */
static size_t drain(const shape_ops *sh, pb_cursor *c, size_t *out,
                    const model *m) {
  size_t n = 0;
  _Alignas(max_align_t) unsigned char rec[256];
  uint64_t id;
  int rc;
  while ((rc = pb_cursor_next(c, rec, &id)) == PB_OK) {
    size_t slot = sh->s.nk ? sh->s.key_index(rec) : (size_t)id;
    assert_true(slot < slots(sh));
    assert_true(m->rows[slot].present);
    check_payload(sh, rec, &m->rows[slot].p);
    assert_true(n < MAXROWS);
    out[n++] = slot;
  }
  assert_int_equal(rc, PB_ENOTFOUND);
  assert_int_equal(pb_cursor_next(c, rec, NULL), PB_ENOTFOUND);
  pb_cursor_close(c);
  return n;
}

static void enc_slot(const shape_ops *sh, size_t slot, pb_keybuf *kb) {
  pb_keybuf_reset(kb);
  if (sh->s.nk) sh->s.enc_key(slot, kb);
  else pb_key_put_u64(kb, slot);
}

/* A random primary-key range scan, against the model. */
static void check_scan(pb_txn *t, const shape_ops *sh, const model *m) {
  size_t n = slots(sh);
  bool has_lo = rnd() % 4 != 0, has_hi = rnd() % 4 != 0;
  size_t lo = rnd() % n, hi = rnd() % n;
  unsigned flags = rnd() % 8; /* LO_EXCL, HI_INCL, REVERSE */
  pb_keybuf kl, kh;
  pb_keybuf_init(&kl);
  pb_keybuf_init(&kh);
  enc_slot(sh, lo, &kl);
  enc_slot(sh, hi, &kh);
  pb_bytes bl = pb_keybuf_bytes(&kl), bh = pb_keybuf_bytes(&kh);
  pb_cursor *c;
  assert_int_equal(pb_table_scan(t, sh->s.def, has_lo ? &bl : NULL,
                                 has_hi ? &bh : NULL, flags, &c),
                   PB_OK);
  size_t got[MAXROWS], want[MAXROWS], ng = drain(sh, c, got, m), nw = 0;
  for (size_t i = 0; i < n; i++) {
    size_t s = flags & PB_SCAN_REVERSE ? n - 1 - i : i;
    if (!m->rows[s].present) continue;
    if (has_lo && (s < lo || (s == lo && (flags & PB_SCAN_LO_EXCL)))) continue;
    if (has_hi && (s > hi || (s == hi && !(flags & PB_SCAN_HI_INCL)))) continue;
    want[nw++] = s;
  }
  assert_int_equal(ng, nw);
  for (size_t i = 0; i < nw; i++) assert_int_equal(got[i], want[i]);
  pb_keybuf_free(&kl);
  pb_keybuf_free(&kh);
}

/* Index lookups: by_grp equality, by_grp_score prefix (grp) and a range
 * of (grp, score) tuples, by_name (unique) equality. */
static void check_index(pb_txn *t, const shape_ops *sh, const model *m) {
  size_t n = slots(sh);
  pb_keybuf kb, kh;
  pb_keybuf_init(&kb);
  pb_keybuf_init(&kh);
  size_t got[MAXROWS], want[MAXROWS], ng, nw;
  pb_cursor *c;
  /* by_grp = g, and by_grp_score's prefix grp = g: rows of g by pk, and
   * by (score, pk) */
  int32_t g = (int32_t)(rnd() % NGRP) - 1;
  pb_key_put_i32(&kb, g);
  assert_int_equal(pb_table_find(t, sh->s.def, 0, pb_keybuf_bytes(&kb), &c),
                   PB_OK);
  ng = drain(sh, c, got, m);
  nw = 0;
  for (size_t s = 0; s < n; s++)
    if (m->rows[s].present && m->rows[s].p.grp == g) want[nw++] = s;
  assert_int_equal(ng, nw);
  for (size_t i = 0; i < nw; i++) assert_int_equal(got[i], want[i]);
  assert_int_equal(pb_table_find(t, sh->s.def, 1, pb_keybuf_bytes(&kb), &c),
                   PB_OK);
  ng = drain(sh, c, got, m);
  /* want sorted by (score rank, pk): insertion sort of the same rows */
  for (size_t i = 1; i < nw; i++)
    for (size_t j = i; j > 0 && score_rank(m->rows[want[j - 1]].p.score) >
                                    score_rank(m->rows[want[j]].p.score);
         j--) {
      size_t x = want[j];
      want[j] = want[j - 1];
      want[j - 1] = x;
    }
  assert_int_equal(ng, nw);
  for (size_t i = 0; i < nw; i++) assert_int_equal(got[i], want[i]);
  /* a (grp, score) range with random ends and flags */
  payload lo, hi;
  random_payload(&lo);
  random_payload(&hi);
  bool has_lo = rnd() % 3 != 0, has_hi = rnd() % 3 != 0;
  unsigned flags = rnd() % 8;
  pb_keybuf_reset(&kb);
  pb_key_put_i32(&kb, lo.grp);
  pb_key_put_f64(&kb, lo.score);
  pb_key_put_i32(&kh, hi.grp);
  pb_key_put_f64(&kh, hi.score);
  pb_bytes bl = pb_keybuf_bytes(&kb), bh = pb_keybuf_bytes(&kh);
  assert_int_equal(pb_table_index_scan(t, sh->s.def, 1, has_lo ? &bl : NULL,
                                       has_hi ? &bh : NULL, flags, &c),
                   PB_OK);
  ng = drain(sh, c, got, m);
  nw = 0;
  for (size_t s = 0; s < n; s++) {
    if (!m->rows[s].present) continue;
    const payload *p = &m->rows[s].p;
    if (has_lo) {
      int cl = tuple_cmp(p, &lo);
      if (cl < 0 || (cl == 0 && (flags & PB_SCAN_LO_EXCL))) continue;
    }
    if (has_hi) {
      int ch = tuple_cmp(p, &hi);
      if (ch > 0 || (ch == 0 && !(flags & PB_SCAN_HI_INCL))) continue;
    }
    want[nw++] = s;
  }
  /* ordered by (tuple, pk); reversed entirely by REVERSE */
  for (size_t i = 1; i < nw; i++)
    for (size_t j = i; j > 0; j--) {
      int c2 = tuple_cmp(&m->rows[want[j - 1]].p, &m->rows[want[j]].p);
      if (c2 < 0 || (c2 == 0 && want[j - 1] < want[j])) break;
      size_t x = want[j];
      want[j] = want[j - 1];
      want[j - 1] = x;
    }
  assert_int_equal(ng, nw);
  for (size_t i = 0; i < nw; i++)
    assert_int_equal(got[i], flags & PB_SCAN_REVERSE ? want[nw - 1 - i]
                                                     : want[i]);
  /* by_name = a name: its one row, or none */
  unsigned nm = rnd() % NNAMES;
  pb_keybuf_reset(&kb);
  pb_key_put_str(&kb, pb_str_from_cstr(names[nm]));
  assert_int_equal(pb_table_find(t, sh->s.def, 2, pb_keybuf_bytes(&kb), &c),
                   PB_OK);
  ng = drain(sh, c, got, m);
  size_t owner = name_owner(m, sh, nm, SIZE_MAX);
  assert_int_equal(ng, owner == SIZE_MAX ? 0 : 1);
  if (ng) assert_int_equal(got[0], owner);
  pb_keybuf_free(&kb);
  pb_keybuf_free(&kh);
}

static void check_all_reads(pb_txn *t, const shape_ops *sh, const model *m) {
  uint64_t cnt, want = 0;
  for (size_t s = 0; s < slots(sh); s++) want += m->rows[s].present;
  assert_int_equal(pb_table_count(t, sh->s.def, &cnt), PB_OK);
  assert_int_equal(cnt, want);
  check_scan(t, sh, m);
  check_index(t, sh, m);
  assert_int_equal(pb_table_check(t, sh->s.def), PB_OK);
}

/* One random change in t, mirrored in m. */
static void change(pb_txn *t, const shape_ops *sh, model *m) {
  const pb_table_def *def = sh->s.def;
  _Alignas(max_align_t) unsigned char rec[256];
  payload p;
  random_payload(&p);
  def->init(rec);
  sh->set_payload(rec, &p);
  pb_keybuf kb;
  pb_keybuf_init(&kb);
  unsigned op = rnd() % 5;
  int rc;
  if (!sh->s.nk) { /* keyless: insert, update by id, delete by id, get */
    size_t id = m->next_id > 1 ? 1 + rnd() % (m->next_id - 1) : 1;
    if (op <= 1 && m->next_id < MAXROWS) {
      uint64_t got;
      rc = pb_table_insert(t, def, rec, &got);
      if (name_owner(m, sh, p.name, SIZE_MAX) != SIZE_MAX) {
        assert_int_equal(rc, PB_EEXIST);
      } else {
        assert_int_equal(rc, PB_OK);
        assert_int_equal(got, m->next_id);
        m->rows[m->next_id++] = (mrow){true, p};
      }
    } else if (op == 2) {
      rc = pb_table_update_id(t, def, id, rec);
      if (!m->rows[id].present) assert_int_equal(rc, PB_ENOTFOUND);
      else if (name_owner(m, sh, p.name, id) != SIZE_MAX)
        assert_int_equal(rc, PB_EEXIST);
      else {
        assert_int_equal(rc, PB_OK);
        m->rows[id].p = p;
      }
    } else if (op == 3) {
      pb_key_put_u64(&kb, id);
      rc = pb_table_delete(t, def, pb_keybuf_bytes(&kb));
      assert_int_equal(rc, m->rows[id].present ? PB_OK : PB_ENOTFOUND);
      m->rows[id].present = false;
    } else {
      pb_key_put_u64(&kb, id);
      rc = pb_table_get(t, def, pb_keybuf_bytes(&kb), rec);
      assert_int_equal(rc, m->rows[id].present ? PB_OK : PB_ENOTFOUND);
      if (rc == PB_OK) check_payload(sh, rec, &m->rows[id].p);
    }
    pb_keybuf_free(&kb);
    return;
  }
  size_t ki = rnd() % sh->s.nk;
  sh->s.set_key(rec, ki);
  bool present = m->rows[ki].present;
  bool taken = name_owner(m, sh, p.name, ki) != SIZE_MAX;
  switch (op) {
    case 0: /* insert */
      rc = pb_table_insert(t, def, rec, NULL);
      if (present || taken) {
        assert_int_equal(rc, PB_EEXIST);
      } else {
        assert_int_equal(rc, PB_OK);
        m->rows[ki] = (mrow){true, p};
      }
      break;
    case 1: /* upsert */
      rc = pb_table_upsert(t, def, rec);
      if (taken) {
        assert_int_equal(rc, PB_EEXIST);
      } else {
        assert_int_equal(rc, PB_OK);
        m->rows[ki] = (mrow){true, p};
      }
      break;
    case 2: /* update */
      rc = pb_table_update(t, def, rec);
      if (!present) assert_int_equal(rc, PB_ENOTFOUND);
      else if (taken) assert_int_equal(rc, PB_EEXIST);
      else {
        assert_int_equal(rc, PB_OK);
        m->rows[ki].p = p;
      }
      break;
    case 3: /* delete */
      sh->s.enc_key(ki, &kb);
      rc = pb_table_delete(t, def, pb_keybuf_bytes(&kb));
      assert_int_equal(rc, present ? PB_OK : PB_ENOTFOUND);
      m->rows[ki].present = false;
      break;
    default: /* get */
      sh->s.enc_key(ki, &kb);
      rc = pb_table_get(t, def, pb_keybuf_bytes(&kb), rec);
      assert_int_equal(rc, present ? PB_OK : PB_ENOTFOUND);
      if (rc == PB_OK) {
        assert_int_equal(sh->s.key_index(rec), ki);
        check_payload(sh, rec, &m->rows[ki].p);
      }
  }
  pb_keybuf_free(&kb);
}

static void run_shape(const shape_ops *sh) {
  world w = {pb_test_tmpdir(), NULL, NULL, NULL};
  wopen(&w);
  model *m = calloc(1, sizeof *m), *committed = calloc(1, sizeof *m);
  assert_non_null(m);
  assert_non_null(committed);
  m->next_id = committed->next_id = 1;
  for (int step = 0; step < STEPS; step++) {
    pb_txn *t;
    assert_int_equal(pb_txn_begin(w.db, 0, &t), PB_OK);
    unsigned ops = 1 + rnd() % 12;
    for (unsigned i = 0; i < ops; i++) {
      change(t, sh, m);
      if (rnd() % 4 == 0) check_all_reads(t, sh, m);
    }
    assert_int_equal(pb_table_check(t, sh->s.def), PB_OK);
    if (rnd() % 5 == 0) {
      assert_int_equal(pb_txn_abort(t), PB_OK);
      *m = *committed;
    } else {
      assert_int_equal(pb_txn_commit(t), PB_OK);
      *committed = *m;
    }
    if (rnd() % 3 == 0) { /* reads in a read-only transaction */
      assert_int_equal(pb_txn_begin(w.db, PB_RDONLY, &t), PB_OK);
      check_all_reads(t, sh, committed);
      assert_int_equal(pb_txn_abort(t), PB_OK);
    }
    if (rnd() % 40 == 0) {
      wclose(&w);
      wopen(&w);
    }
  }
  wclose(&w);
  wopen(&w); /* and once more after the last reopen */
  pb_txn *t;
  assert_int_equal(pb_txn_begin(w.db, PB_RDONLY, &t), PB_OK);
  check_all_reads(t, sh, committed);
  assert_int_equal(pb_txn_abort(t), PB_OK);
  wclose(&w);
  free(m);
  free(committed);
  pb_test_rmdir(w.dir);
}

/* Misuse of the runtime's table calls: NULLs, a malformed def, bad flags,
 * a keyed call on a keyless table and the reverse, a read-only
 * transaction's writes, an index out of range: each refused with its
 * documented error, and nothing written. */
static void misuse(void **state) {
  (void)state;
  world w = {pb_test_tmpdir(), NULL, NULL, NULL};
  wopen(&w);
  pb_txn *t;
  assert_int_equal(pb_txn_begin(w.db, 0, &t), PB_OK);
  const pb_table_def *ku = &tprop_KU_table, *kl = &tprop_KL_table;
  tprop_KU r;
  tprop_KU_init(&r);
  uint64_t id, n;
  pb_cursor *c = (pb_cursor *)&r; /* must be cleared on refusal */
  pb_bytes k = {NULL, 0};
  assert_int_equal(pb_table_insert(NULL, ku, &r, NULL), PB_EINVAL);
  assert_int_equal(pb_table_insert(t, NULL, &r, NULL), PB_EINVAL);
  assert_int_equal(pb_table_insert(t, ku, NULL, NULL), PB_EINVAL);
  assert_int_equal(pb_table_insert(t, kl, &r, NULL), PB_EINVAL); /* no id */
  assert_int_equal(pb_table_upsert(t, kl, &r), PB_EINVAL);
  assert_int_equal(pb_table_update(t, kl, &r), PB_EINVAL);
  assert_int_equal(pb_table_update_id(t, ku, 1, &r), PB_EINVAL);
  assert_int_equal(pb_table_get(t, ku, (pb_bytes){NULL, 3}, &r), PB_EINVAL);
  assert_int_equal(pb_table_get(t, ku, k, NULL), PB_EINVAL);
  assert_int_equal(pb_table_delete(NULL, ku, k), PB_EINVAL);
  assert_int_equal(pb_table_count(t, ku, NULL), PB_EINVAL);
  assert_int_equal(pb_table_scan(t, ku, NULL, NULL, 0x100, &c), PB_EINVAL);
  assert_int_equal(pb_table_scan(t, ku, NULL, NULL, 0, NULL), PB_EINVAL);
  assert_int_equal(pb_table_index_scan(t, ku, 3, NULL, NULL, 0, &c),
                   PB_EINVAL);
  assert_null(c);
  assert_int_equal(pb_cursor_next(NULL, &r, NULL), PB_EINVAL);
  pb_cursor_close(NULL);
  assert_int_equal(pb_table_drop_index(t, ku, "no such"), PB_EINVAL);
  assert_int_equal(pb_table_drop_index(t, ku, NULL), PB_EINVAL);
  assert_int_equal(pb_table_open_member(t, ku, k, 99, PB_VALUE_LIST, 0,
                                        (void **)&c),
                   PB_EINVAL); /* KU has no member field 99 */
  assert_int_equal(pb_table_check(NULL, ku), PB_EINVAL);
  /* a malformed def: an index without a key function */
  pb_table_def bad = *ku;
  pb_table_index ix = ku->indexes[0];
  ix.key = NULL;
  bad.indexes = &ix;
  bad.n_indexes = 1;
  assert_int_equal(pb_table_insert(t, &bad, &r, NULL), PB_EINVAL);
  assert_int_equal(pb_table_count(t, ku, &n), PB_OK);
  assert_int_equal(n, 0); /* nothing written */
  assert_int_equal(pb_txn_abort(t), PB_OK);
  /* a read-only transaction's writes */
  assert_int_equal(pb_txn_begin(w.db, PB_RDONLY, &t), PB_OK);
  assert_int_equal(pb_table_insert(t, ku, &r, NULL), PB_ERDONLY);
  assert_int_equal(pb_table_insert(t, kl, &r, &id), PB_ERDONLY);
  assert_int_equal(pb_table_delete(t, ku, k), PB_ERDONLY);
  assert_int_equal(pb_table_drop_index(t, ku, "by_grp"), PB_ERDONLY);
  assert_int_equal(pb_table_count(t, ku, &n), PB_OK); /* reads work */
  assert_int_equal(n, 0);
  assert_int_equal(pb_txn_abort(t), PB_OK);
  wclose(&w);
  pb_test_rmdir(w.dir);
}

static int setup(void **state) {
  (void)state;
  rng = 0x7ab1e5ull;
  make_domains();
  make_bytes_domain();
  for (unsigned i = 0; i < NNAMES; i++)
    snprintf(names[i], sizeof names[i], "name-%02u", (i * 7) % NNAMES);
  return 0;
}

#define SHAPE_TEST(i, fn)                                                  \
  static void fn(void **state) {                                           \
    (void)state;                                                           \
    rng = 0x5eed0000ull + (i);                                             \
    run_shape(&shapes[i]);                                                 \
  }
SHAPE_TEST(0, key_uint64)
SHAPE_TEST(1, key_int64)
SHAPE_TEST(2, key_string)
SHAPE_TEST(3, key_bytes)
SHAPE_TEST(4, key_enum)
SHAPE_TEST(5, keyless)

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(key_uint64), cmocka_unit_test(key_int64),
      cmocka_unit_test(key_string), cmocka_unit_test(key_bytes),
      cmocka_unit_test(key_enum),   cmocka_unit_test(keyless),
      cmocka_unit_test(misuse),
  };
  return cmocka_run_group_tests(tests, setup, NULL);
}
