/*
 * test_members_gen.c - the typed member collections pbc generates
 * (docs/members.md) from tests/unit/members/members.pbs, on a file storage
 * with the default durability: every function once, the errors (NULLs, a
 * missing row or collection, PB_ERANGE, PB_ESCHEMA for a stored value of
 * another type), merging at commit (a set per element, a list as a whole,
 * a member beside an update of its row), deleting a row, and a reopen.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "members.pb.h"
#include "protobase/protobase.h"
#include "protobase/table.h"
#include "support/filedb.h"

#define OK(x) assert_int_equal((x), PB_OK)

static pb_txn *begin(pb_test_filedb *f) {
  pb_txn *t = NULL;
  OK(pb_txn_begin(f->db, 0, &t));
  return t;
}

static mem_Post post(uint64_t id, const char *title) {
  mem_Post p;
  mem_Post_init(&p);
  p.id = id;
  p.title = pb_str_from_cstr(title);
  return p;
}

static bool str_is(pb_str s, const char *c) {
  return s.len == strlen(c) && (s.len == 0 || memcmp(s.ptr, c, s.len) == 0);
}

/* Inserts rows 1..n (titles "p1", ...) in a commit of their own. */
static void insert_posts(pb_test_filedb *f, uint64_t n) {
  pb_txn *t = begin(f);
  for (uint64_t i = 1; i <= n; i++) {
    char title[16];
    snprintf(title, sizeof title, "p%llu", (unsigned long long)i);
    mem_Post p = post(i, title);
    OK(mem_Post_insert(t, &p));
  }
  OK(pb_txn_commit(t));
}

/* --- Every function once --- */

static void lists_of_strings(void **state) {
  (void)state;
  pb_test_filedb f;
  OK(pb_test_filedb_open(&f, PB_DURABILITY_SYNC));
  insert_posts(&f, 1);
  mem_Post p = post(1, "p1");
  pb_txn *t = begin(&f);
  mem_Post_lines *h;
  OK(mem_Post_lines_open(t, &p, PB_CREATE, &h));
  uint64_t n = 99;
  OK(mem_Post_lines_count(h, &n));
  assert_int_equal(n, 0);
  OK(mem_Post_lines_append(h, "b"));
  OK(mem_Post_lines_append(h, "d"));
  OK(mem_Post_lines_insert(h, 0, "a"));
  OK(mem_Post_lines_insert(h, 2, "c"));
  OK(mem_Post_lines_insert(h, 4, "e")); /* i == count appends */
  OK(mem_Post_lines_set(h, 4, "E \xc3\xa9"));
  OK(mem_Post_lines_remove(h, 1)); /* a c d E */
  OK(mem_Post_lines_count(h, &n));
  assert_int_equal(n, 4);
  pb_str s;
  OK(mem_Post_lines_get(h, 3, &s));
  assert_true(str_is(s, "E \xc3\xa9"));
  OK(pb_txn_commit(t));

  t = begin(&f);
  OK(mem_Post_lines_open(t, &p, 0, &h));
  mem_Post_lines_iter *it;
  OK(mem_Post_lines_iter_open(h, 1, 3, &it)); /* [1, 3) */
  OK(mem_Post_lines_iter_next(it, &s));
  assert_true(str_is(s, "c"));
  OK(mem_Post_lines_iter_next(it, &s));
  assert_true(str_is(s, "d"));
  assert_int_equal(mem_Post_lines_iter_next(it, &s), PB_ENOTFOUND);
  mem_Post_lines_iter_close(it);
  mem_Post_lines_iter_close(NULL);
  OK(mem_Post_lines_iter_open(h, 0, UINT64_MAX, &it)); /* to is clamped */
  const char *want[] = {"a", "c", "d", "E \xc3\xa9"};
  for (size_t i = 0; i < 4; i++) {
    OK(mem_Post_lines_iter_next(it, &s));
    assert_true(str_is(s, want[i]));
  }
  assert_int_equal(mem_Post_lines_iter_next(it, &s), PB_ENOTFOUND);
  mem_Post_lines_iter_close(it);
  /* Not UTF-8: refused by the runtime, nothing changes. */
  assert_int_equal(mem_Post_lines_append(h, "\xff"), PB_EINVAL);
  OK(mem_Post_lines_count(h, &n));
  assert_int_equal(n, 4);
  pb_txn_abort(t);
  OK(pb_test_filedb_close(&f));
}

static mem_Comment comment(const char *author, const char *text,
                           const int32_t *votes, size_t nvotes) {
  mem_Comment c;
  mem_Comment_init(&c);
  c.author = pb_str_from_cstr(author);
  c.text = pb_str_from_cstr(text);
  c.votes.items = votes;
  c.votes.count = nvotes;
  return c;
}

static void lists_of_records(void **state) {
  (void)state;
  pb_test_filedb f;
  OK(pb_test_filedb_open(&f, PB_DURABILITY_SYNC));
  insert_posts(&f, 1);
  mem_Post p = post(1, "p1");
  static const int32_t votes[] = {1, -1, 7};
  mem_Comment c1 = comment("ann", "first", votes, 3);
  mem_Comment c2 = comment("bob", "second", NULL, 0);
  mem_Comment c3 = comment("cy", "", votes + 2, 1);

  pb_txn *t = begin(&f);
  mem_Post_comments *h;
  OK(mem_Post_comments_open(t, &p, PB_CREATE, &h));
  OK(mem_Post_comments_append(h, &c2));
  OK(mem_Post_comments_insert(h, 0, &c1));
  OK(mem_Post_comments_append(h, &c2));
  OK(mem_Post_comments_set(h, 2, &c3));
  OK(mem_Post_comments_append(h, &c2));
  OK(mem_Post_comments_remove(h, 3)); /* c1 c2 c3 */
  OK(pb_txn_commit(t));

  t = begin(&f);
  pb_arena *arena;
  OK(pb_txn_arena(t, &arena));
  OK(mem_Post_comments_open(t, &p, 0, &h));
  uint64_t n;
  OK(mem_Post_comments_count(h, &n));
  assert_int_equal(n, 3);
  mem_Comment c;
  OK(mem_Post_comments_get(h, 0, &c, arena));
  assert_true(str_is(c.author, "ann"));
  assert_true(str_is(c.text, "first"));
  assert_int_equal(c.votes.count, 3);
  assert_int_equal(c.votes.items[1], -1);
  /* Comment has an array: its decoder needs the arena. */
  assert_int_equal((mem_Post_comments_get)(h, 0, &c, NULL), PB_EINVAL);
  mem_Post_comments_iter *it;
  OK(mem_Post_comments_iter_open(h, 1, 3, &it));
  OK(mem_Post_comments_iter_next(it, &c, arena));
  assert_true(str_is(c.author, "bob"));
  assert_int_equal(c.votes.count, 0);
  OK(mem_Post_comments_iter_next(it, &c, arena));
  assert_true(str_is(c.author, "cy"));
  assert_int_equal(c.votes.count, 1);
  assert_int_equal(c.votes.items[0], 7);
  assert_int_equal(mem_Post_comments_iter_next(it, &c, arena), PB_ENOTFOUND);
  mem_Post_comments_iter_close(it);
  /* A record _encode refuses (a string that is not UTF-8). */
  mem_Comment bad = comment("\xc0\x80", "x", NULL, 0);
  assert_int_equal(mem_Post_comments_append(h, &bad), PB_EINVAL);
  pb_txn_abort(t);
  OK(pb_test_filedb_close(&f));
}

static void sets(void **state) {
  (void)state;
  pb_test_filedb f;
  OK(pb_test_filedb_open(&f, PB_DURABILITY_SYNC));
  insert_posts(&f, 1);
  mem_Post p = post(1, "p1");
  pb_txn *t = begin(&f);
  mem_Post_tags *h;
  OK(mem_Post_tags_open(t, &p, PB_CREATE, &h));
  bool added = false, in = true;
  OK(mem_Post_tags_add(h, "x", &added));
  assert_true(added);
  OK(mem_Post_tags_add(h, "x", &added));
  assert_false(added);
  OK(mem_Post_tags_add(h, "y", NULL));
  OK(mem_Post_tags_add(h, "z", NULL));
  OK(mem_Post_tags_remove(h, "y"));
  assert_int_equal(mem_Post_tags_remove(h, "y"), PB_ENOTFOUND);
  OK(mem_Post_tags_contains(h, "y", &in));
  assert_false(in);
  OK(mem_Post_tags_contains(h, "z", &in));
  assert_true(in);
  uint64_t n;
  OK(mem_Post_tags_count(h, &n));
  assert_int_equal(n, 2);

  mem_Post_moods *m;
  OK(mem_Post_moods_open(t, &p, PB_CREATE, &m));
  OK(mem_Post_moods_add(m, mem_Mood_CROSS, &added));
  assert_true(added);
  OK(mem_Post_moods_add(m, mem_Mood_HAPPY, NULL));
  OK(mem_Post_moods_contains(m, mem_Mood_CALM, &in));
  assert_false(in);
  OK(mem_Post_moods_remove(m, mem_Mood_HAPPY));
  OK(pb_txn_commit(t));

  t = begin(&f);
  OK(mem_Post_tags_open(t, &p, 0, &h));
  mem_Post_tags_iter *it;
  OK(mem_Post_tags_iter_open(h, &it));
  bool seen_x = false, seen_z = false;
  pb_str s;
  for (int i = 0; i < 2; i++) {
    OK(mem_Post_tags_iter_next(it, &s));
    seen_x |= str_is(s, "x");
    seen_z |= str_is(s, "z");
  }
  assert_int_equal(mem_Post_tags_iter_next(it, &s), PB_ENOTFOUND);
  mem_Post_tags_iter_close(it);
  assert_true(seen_x && seen_z);
  OK(mem_Post_moods_open(t, &p, 0, &m));
  mem_Post_moods_iter *mi;
  OK(mem_Post_moods_iter_open(m, &mi));
  mem_Mood mood;
  OK(mem_Post_moods_iter_next(mi, &mood));
  assert_int_equal(mood, mem_Mood_CROSS); /* a negative enum value */
  assert_int_equal(mem_Post_moods_iter_next(mi, &mood), PB_ENOTFOUND);
  mem_Post_moods_iter_close(mi);
  OK(mem_Post_moods_count(m, &n));
  assert_int_equal(n, 1);
  pb_txn_abort(t);
  OK(pb_test_filedb_close(&f));
}

static void maps(void **state) {
  (void)state;
  pb_test_filedb f;
  OK(pb_test_filedb_open(&f, PB_DURABILITY_SYNC));
  insert_posts(&f, 1);
  mem_Post p = post(1, "p1");
  pb_txn *t = begin(&f);
  /* map<string, float64>: a Dictionary, in key order. */
  mem_Post_scores *sc;
  OK(mem_Post_scores_open(t, &p, PB_CREATE, &sc));
  OK(mem_Post_scores_put(sc, "k", 1.5));
  OK(mem_Post_scores_put(sc, "b", -2.0));
  OK(mem_Post_scores_put(sc, "z", 0.25));
  OK(mem_Post_scores_put(sc, "k", 3.5)); /* replaces */
  OK(mem_Post_scores_remove(sc, "z"));
  assert_int_equal(mem_Post_scores_remove(sc, "z"), PB_ENOTFOUND);
  double d;
  OK(mem_Post_scores_get(sc, "k", &d));
  assert_true(d == 3.5);
  assert_int_equal(mem_Post_scores_get(sc, "z", &d), PB_ENOTFOUND);
  /* map<int64, string>: a HashDictionary. */
  mem_Post_notes *no;
  OK(mem_Post_notes_open(t, &p, PB_CREATE, &no));
  OK(mem_Post_notes_put(no, -7, "minus seven"));
  OK(mem_Post_notes_put(no, INT64_MAX, "max"));
  OK(mem_Post_notes_put(no, 3, "three"));
  OK(mem_Post_notes_remove(no, 3));
  assert_int_equal(mem_Post_notes_remove(no, 3), PB_ENOTFOUND);
  pb_str s;
  OK(mem_Post_notes_get(no, -7, &s));
  assert_true(str_is(s, "minus seven"));
  assert_int_equal(mem_Post_notes_get(no, 3, &s), PB_ENOTFOUND);
  /* map<bytes, uint8>. */
  mem_Post_small *sm;
  OK(mem_Post_small_open(t, &p, PB_CREATE, &sm));
  static const uint8_t k0[] = {0, 255};
  OK(mem_Post_small_put(sm, ((pb_bytes){k0, 2}), 200));
  OK(mem_Post_small_put(sm, ((pb_bytes){NULL, 0}), 1));
  uint8_t u8;
  OK(mem_Post_small_get(sm, ((pb_bytes){k0, 2}), &u8));
  assert_int_equal(u8, 200);
  /* map<string, Comment>. */
  mem_Post_by_author *ba;
  OK(mem_Post_by_author_open(t, &p, PB_CREATE, &ba));
  static const int32_t votes[] = {5};
  mem_Comment c1 = comment("ann", "hi", votes, 1);
  OK(mem_Post_by_author_put(ba, "ann", &c1));
  OK(pb_txn_commit(t));

  t = begin(&f);
  pb_arena *arena;
  OK(pb_txn_arena(t, &arena));
  OK(mem_Post_scores_open(t, &p, 0, &sc));
  uint64_t n;
  OK(mem_Post_scores_count(sc, &n));
  assert_int_equal(n, 2);
  mem_Post_scores_iter *si;
  OK(mem_Post_scores_iter_open(sc, &si));
  OK(mem_Post_scores_iter_next(si, &s, &d));
  assert_true(str_is(s, "b") && d == -2.0);
  OK(mem_Post_scores_iter_next(si, &s, &d));
  assert_true(str_is(s, "k") && d == 3.5);
  assert_int_equal(mem_Post_scores_iter_next(si, &s, &d), PB_ENOTFOUND);
  mem_Post_scores_iter_close(si);

  OK(mem_Post_notes_open(t, &p, 0, &no));
  OK(mem_Post_notes_count(no, &n));
  assert_int_equal(n, 2);
  mem_Post_notes_iter *ni;
  OK(mem_Post_notes_iter_open(no, &ni));
  int64_t k, ksum = 0;
  for (int i = 0; i < 2; i++) {
    OK(mem_Post_notes_iter_next(ni, &k, &s));
    assert_true(k == -7 ? str_is(s, "minus seven") : str_is(s, "max"));
    ksum += k == -7 ? 1 : 2;
  }
  assert_int_equal(ksum, 3);
  assert_int_equal(mem_Post_notes_iter_next(ni, &k, &s), PB_ENOTFOUND);
  mem_Post_notes_iter_close(ni);

  OK(mem_Post_small_open(t, &p, 0, &sm));
  OK(mem_Post_small_count(sm, &n));
  assert_int_equal(n, 2);
  mem_Post_small_iter *mi;
  OK(mem_Post_small_iter_open(sm, &mi));
  pb_bytes kb;
  unsigned total = 0;
  for (int i = 0; i < 2; i++) {
    OK(mem_Post_small_iter_next(mi, &kb, &u8));
    assert_int_equal(kb.len, u8 == 200 ? 2 : 0);
    total += u8;
  }
  assert_int_equal(total, 201);
  assert_int_equal(mem_Post_small_iter_next(mi, &kb, &u8), PB_ENOTFOUND);
  mem_Post_small_iter_close(mi);
  OK(mem_Post_small_remove(sm, ((pb_bytes){NULL, 0})));

  OK(mem_Post_by_author_open(t, &p, 0, &ba));
  mem_Comment c;
  OK(mem_Post_by_author_get(ba, "ann", &c, arena));
  assert_true(str_is(c.text, "hi"));
  assert_int_equal(c.votes.count, 1);
  assert_int_equal(c.votes.items[0], 5);
  mem_Post_by_author_iter *bi;
  OK(mem_Post_by_author_iter_open(ba, &bi));
  OK(mem_Post_by_author_iter_next(bi, &s, &c, arena));
  assert_true(str_is(s, "ann") && str_is(c.author, "ann"));
  assert_int_equal(mem_Post_by_author_iter_next(bi, &s, &c, arena),
                   PB_ENOTFOUND);
  mem_Post_by_author_iter_close(bi);
  OK(mem_Post_by_author_count(ba, &n));
  assert_int_equal(n, 1);
  OK(mem_Post_by_author_remove(ba, "ann"));
  OK(mem_Post_by_author_count(ba, &n));
  assert_int_equal(n, 0);
  pb_txn_abort(t);
  OK(pb_test_filedb_close(&f));
}

/* list<int16> and list<list<int32>> (elements given as pb_value). */
static void other_elements(void **state) {
  (void)state;
  pb_test_filedb f;
  OK(pb_test_filedb_open(&f, PB_DURABILITY_SYNC));
  insert_posts(&f, 1);
  mem_Post p = post(1, "p1");
  pb_txn *t = begin(&f);
  mem_Post_shorts *sh;
  OK(mem_Post_shorts_open(t, &p, PB_CREATE, &sh));
  OK(mem_Post_shorts_append(sh, INT16_MIN));
  OK(mem_Post_shorts_append(sh, INT16_MAX));
  int16_t v;
  OK(mem_Post_shorts_get(sh, 0, &v));
  assert_int_equal(v, INT16_MIN);
  mem_Post_nested *ne;
  OK(mem_Post_nested_open(t, &p, PB_CREATE, &ne));
  pb_value empty = {.kind = PB_VALUE_LIST}; /* the null root: empty */
  OK(mem_Post_nested_append(ne, &empty));
  pb_value got;
  OK(mem_Post_nested_get(ne, 0, &got));
  assert_int_equal(got.kind, PB_VALUE_LIST);
  mem_Post_nested_iter *it;
  OK(mem_Post_nested_iter_open(ne, 0, 1, &it));
  OK(mem_Post_nested_iter_next(it, &got));
  assert_int_equal(got.kind, PB_VALUE_LIST);
  mem_Post_nested_iter_close(it);
  OK(pb_txn_commit(t));
  OK(pb_test_filedb_close(&f));
}

/* A record without a key: members of the row with an id. */
static void keyless_rows(void **state) {
  (void)state;
  pb_test_filedb f;
  OK(pb_test_filedb_open(&f, PB_DURABILITY_SYNC));
  pb_txn *t = begin(&f);
  mem_Memo m;
  mem_Memo_init(&m);
  m.body = pb_str_from_cstr("memo");
  uint64_t id1, id2;
  OK(mem_Memo_insert(t, &m, &id1));
  OK(mem_Memo_insert(t, &m, &id2));
  mem_Memo_counts *h1, *h2;
  OK(mem_Memo_counts_open(t, id1, PB_CREATE, &h1));
  OK(mem_Memo_counts_open(t, id2, PB_CREATE, &h2));
  assert_ptr_not_equal(h1, h2);
  OK(mem_Memo_counts_append(h1, UINT32_MAX));
  OK(mem_Memo_counts_append(h2, 1));
  OK(mem_Memo_counts_append(h2, 2));
  assert_int_equal(mem_Memo_counts_open(t, id2 + 1, PB_CREATE, &h1),
                   PB_ENOTFOUND);
  assert_null(h1);
  OK(pb_txn_commit(t));

  t = begin(&f);
  OK(mem_Memo_counts_open(t, id1, 0, &h1));
  uint32_t u;
  OK(mem_Memo_counts_get(h1, 0, &u));
  assert_int_equal(u, UINT32_MAX);
  uint64_t n;
  OK(mem_Memo_counts_open(t, id2, 0, &h2));
  OK(mem_Memo_counts_count(h2, &n));
  assert_int_equal(n, 2);
  pb_txn_abort(t);
  OK(pb_test_filedb_close(&f));
}

/* --- Errors --- */

static void null_arguments(void **state) {
  (void)state;
  pb_test_filedb f;
  OK(pb_test_filedb_open(&f, PB_DURABILITY_SYNC));
  insert_posts(&f, 1);
  mem_Post p = post(1, "p1");
  pb_txn *t = begin(&f);
  mem_Post_lines *l;
  mem_Post_comments *c;
  mem_Post_tags *s;
  mem_Post_scores *d;
  mem_Post_notes *hd;
  mem_Post_by_author *ba;
  mem_Post_nested *ne;
  assert_int_equal((mem_Post_lines_open)(NULL, &p, PB_CREATE, &l), PB_EINVAL);
  assert_int_equal((mem_Post_lines_open)(t, NULL, PB_CREATE, &l), PB_EINVAL);
  assert_int_equal((mem_Post_lines_open)(t, &p, PB_CREATE, NULL), PB_EINVAL);
  assert_int_equal(mem_Post_lines_open(t, &p, 0x1u, &l), PB_EINVAL);
  assert_null(l);
  mem_Memo_counts *mc;
  assert_int_equal((mem_Memo_counts_open)(NULL, 1, 0, &mc), PB_EINVAL);
  assert_int_equal((mem_Memo_counts_open)(t, 1, 0, NULL), PB_EINVAL);
  OK(mem_Post_lines_open(t, &p, PB_CREATE, &l));
  OK(mem_Post_comments_open(t, &p, PB_CREATE, &c));
  OK(mem_Post_tags_open(t, &p, PB_CREATE, &s));
  OK(mem_Post_scores_open(t, &p, PB_CREATE, &d));
  OK(mem_Post_notes_open(t, &p, PB_CREATE, &hd));
  OK(mem_Post_by_author_open(t, &p, PB_CREATE, &ba));
  OK(mem_Post_nested_open(t, &p, PB_CREATE, &ne));
  uint64_t n;
  pb_str str;
  pb_arena *arena;
  OK(pb_txn_arena(t, &arena));
  mem_Comment cm = comment("a", "b", NULL, 0);
  /* list */
  assert_int_equal((mem_Post_lines_count)(NULL, &n), PB_EINVAL);
  assert_int_equal((mem_Post_lines_count)(l, NULL), PB_EINVAL);
  assert_int_equal((mem_Post_lines_get)(NULL, 0, &str), PB_EINVAL);
  assert_int_equal((mem_Post_lines_get)(l, 0, NULL), PB_EINVAL);
  assert_int_equal((mem_Post_lines_set)(NULL, 0, "x"), PB_EINVAL);
  assert_int_equal((mem_Post_lines_set)(l, 0, NULL), PB_EINVAL);
  assert_int_equal((mem_Post_lines_insert)(NULL, 0, "x"), PB_EINVAL);
  assert_int_equal((mem_Post_lines_insert)(l, 0, NULL), PB_EINVAL);
  assert_int_equal((mem_Post_lines_append)(NULL, "x"), PB_EINVAL);
  assert_int_equal((mem_Post_lines_append)(l, NULL), PB_EINVAL);
  assert_int_equal((mem_Post_lines_remove)(NULL, 0), PB_EINVAL);
  mem_Post_lines_iter *li;
  assert_int_equal((mem_Post_lines_iter_open)(NULL, 0, 1, &li), PB_EINVAL);
  assert_int_equal((mem_Post_lines_iter_open)(l, 0, 1, NULL), PB_EINVAL);
  assert_int_equal((mem_Post_lines_iter_next)(NULL, &str), PB_EINVAL);
  OK(mem_Post_lines_iter_open(l, 0, 1, &li));
  assert_int_equal((mem_Post_lines_iter_next)(li, NULL), PB_EINVAL);
  mem_Post_lines_iter_close(li);
  /* list of records */
  mem_Comment out;
  assert_int_equal((mem_Post_comments_append)(c, NULL), PB_EINVAL);
  assert_int_equal((mem_Post_comments_append)(NULL, &cm), PB_EINVAL);
  assert_int_equal((mem_Post_comments_set)(c, 0, NULL), PB_EINVAL);
  assert_int_equal((mem_Post_comments_insert)(c, 0, NULL), PB_EINVAL);
  assert_int_equal((mem_Post_comments_get)(c, 0, NULL, arena), PB_EINVAL);
  assert_int_equal((mem_Post_comments_get)(NULL, 0, &out, arena), PB_EINVAL);
  /* set */
  bool b;
  assert_int_equal((mem_Post_tags_add)(NULL, "x", &b), PB_EINVAL);
  assert_int_equal((mem_Post_tags_add)(s, NULL, &b), PB_EINVAL);
  assert_int_equal((mem_Post_tags_remove)(NULL, "x"), PB_EINVAL);
  assert_int_equal((mem_Post_tags_remove)(s, NULL), PB_EINVAL);
  assert_int_equal((mem_Post_tags_contains)(NULL, "x", &b), PB_EINVAL);
  assert_int_equal((mem_Post_tags_contains)(s, NULL, &b), PB_EINVAL);
  assert_int_equal((mem_Post_tags_contains)(s, "x", NULL), PB_EINVAL);
  assert_int_equal((mem_Post_tags_count)(s, NULL), PB_EINVAL);
  mem_Post_tags_iter *si;
  assert_int_equal((mem_Post_tags_iter_open)(NULL, &si), PB_EINVAL);
  assert_int_equal((mem_Post_tags_iter_open)(s, NULL), PB_EINVAL);
  assert_int_equal((mem_Post_tags_iter_next)(NULL, &str), PB_EINVAL);
  mem_Post_tags_iter_close(NULL);
  /* maps */
  double dv;
  assert_int_equal((mem_Post_scores_put)(NULL, "k", 1.0), PB_EINVAL);
  assert_int_equal((mem_Post_scores_put)(d, NULL, 1.0), PB_EINVAL);
  assert_int_equal((mem_Post_scores_get)(d, NULL, &dv), PB_EINVAL);
  assert_int_equal((mem_Post_scores_get)(d, "k", NULL), PB_EINVAL);
  assert_int_equal((mem_Post_scores_remove)(d, NULL), PB_EINVAL);
  assert_int_equal((mem_Post_scores_count)(NULL, &n), PB_EINVAL);
  mem_Post_scores_iter *di;
  assert_int_equal((mem_Post_scores_iter_open)(d, NULL), PB_EINVAL);
  OK(mem_Post_scores_iter_open(d, &di));
  assert_int_equal((mem_Post_scores_iter_next)(di, NULL, &dv), PB_EINVAL);
  assert_int_equal((mem_Post_scores_iter_next)(di, &str, NULL), PB_EINVAL);
  mem_Post_scores_iter_close(di);
  assert_int_equal((mem_Post_notes_put)(hd, 1, NULL), PB_EINVAL);
  assert_int_equal((mem_Post_notes_put)(NULL, 1, "x"), PB_EINVAL);
  assert_int_equal((mem_Post_notes_get)(hd, 1, NULL), PB_EINVAL);
  assert_int_equal((mem_Post_notes_remove)(NULL, 1), PB_EINVAL);
  assert_int_equal((mem_Post_by_author_put)(ba, "a", NULL), PB_EINVAL);
  assert_int_equal((mem_Post_by_author_put)(ba, NULL, &cm), PB_EINVAL);
  assert_int_equal((mem_Post_by_author_get)(ba, "a", NULL, arena), PB_EINVAL);
  mem_Post_small *sm;
  OK(mem_Post_small_open(t, &p, PB_CREATE, &sm));
  assert_int_equal((mem_Post_small_put)(sm, ((pb_bytes){NULL, 3}), 1), PB_EINVAL);
  assert_int_equal((mem_Post_nested_append)(ne, NULL), PB_EINVAL);
  /* Nothing was written by the refused calls. */
  OK(mem_Post_lines_count(l, &n));
  assert_int_equal(n, 0);
  OK(mem_Post_comments_count(c, &n));
  assert_int_equal(n, 0);
  OK(mem_Post_scores_count(d, &n));
  assert_int_equal(n, 0);
  OK(mem_Post_small_count(sm, &n));
  assert_int_equal(n, 0);
  OK(pb_txn_commit(t));
  OK(pb_test_filedb_close(&f));
}

static void missing_rows_and_ranges(void **state) {
  (void)state;
  pb_test_filedb f;
  OK(pb_test_filedb_open(&f, PB_DURABILITY_SYNC));
  mem_Post p1 = post(1, "p1"), p9 = post(9, "nine");
  mem_Post_lines *l = NULL;
  /* No table yet at all. */
  pb_txn *t = begin(&f);
  assert_int_equal(mem_Post_lines_open(t, &p1, 0, &l), PB_ENOTFOUND);
  assert_int_equal(mem_Post_lines_open(t, &p1, PB_CREATE, &l), PB_ENOTFOUND);
  pb_txn_abort(t);
  insert_posts(&f, 1);
  t = begin(&f);
  /* No such row, with or without PB_CREATE. */
  assert_int_equal(mem_Post_lines_open(t, &p9, 0, &l), PB_ENOTFOUND);
  assert_int_equal(mem_Post_lines_open(t, &p9, PB_CREATE, &l), PB_ENOTFOUND);
  assert_null(l);
  /* The row, but no list yet: only PB_CREATE makes one. */
  assert_int_equal(mem_Post_lines_open(t, &p1, 0, &l), PB_ENOTFOUND);
  mem_Post_tags *s;
  assert_int_equal(mem_Post_tags_open(t, &p1, 0, &s), PB_ENOTFOUND);
  OK(mem_Post_lines_open(t, &p1, PB_CREATE, &l));
  /* Only the title counts? No: the key. A struct with other fields opens
   * the same row's list. */
  mem_Post other = post(1, "another title");
  mem_Post_lines *l2;
  OK(mem_Post_lines_open(t, &other, 0, &l2));
  assert_ptr_equal(l, l2);
  pb_str str;
  assert_int_equal(mem_Post_lines_get(l, 0, &str), PB_ERANGE);
  assert_int_equal(mem_Post_lines_set(l, 0, "x"), PB_ERANGE);
  assert_int_equal(mem_Post_lines_insert(l, 1, "x"), PB_ERANGE);
  assert_int_equal(mem_Post_lines_remove(l, 0), PB_ERANGE);
  OK(mem_Post_lines_append(l, "a"));
  assert_int_equal(mem_Post_lines_get(l, 1, &str), PB_ERANGE);
  mem_Post_lines_iter *it = NULL;
  assert_int_equal(mem_Post_lines_iter_open(l, 2, 3, &it), PB_ERANGE);
  assert_null(it);
  assert_int_equal(mem_Post_lines_iter_open(l, 1, 0, &it), PB_ERANGE);
  OK(pb_txn_commit(t));
  /* Read-only: nothing is created, nothing changes. */
  OK(pb_txn_begin(f.db, PB_RDONLY, &t));
  assert_int_equal(mem_Post_tags_open(t, &p1, PB_CREATE, &s), PB_ERDONLY);
  OK(mem_Post_lines_open(t, &p1, 0, &l));
  assert_int_equal(mem_Post_lines_append(l, "b"), PB_ERDONLY);
  OK(mem_Post_lines_get(l, 0, &str));
  assert_true(str_is(str, "a"));
  pb_txn_abort(t);
  OK(pb_test_filedb_close(&f));
}

/* A stored value of another type than the schema's is PB_ESCHEMA. */
static void wrong_stored_kind(void **state) {
  (void)state;
  pb_test_filedb f;
  OK(pb_test_filedb_open(&f, PB_DURABILITY_SYNC));
  insert_posts(&f, 1);
  mem_Post p = post(1, "p1");
  pb_txn *t = begin(&f);
  /* Write through the untyped runtime call what the typed one would not. */
  pb_keybuf key;
  pb_keybuf_init(&key);
  OK(mem_Post_table.key(&p, &key));
  void *raw;
  OK(pb_table_open_member(t, &mem_Post_table, pb_keybuf_bytes(&key), 3,
                          PB_VALUE_LIST, PB_CREATE, &raw));
  pb_value i = {.kind = PB_VALUE_INT, .as.i = 5};
  OK(pb_list_append(raw, &i));
  OK(pb_table_open_member(t, &mem_Post_table, pb_keybuf_bytes(&key), 10,
                          PB_VALUE_LIST, PB_CREATE, &raw));
  pb_value big = {.kind = PB_VALUE_INT, .as.i = 40000}; /* not an int16 */
  OK(pb_list_append(raw, &big));
  OK(pb_table_open_member(t, &mem_Post_table, pb_keybuf_bytes(&key), 4,
                          PB_VALUE_LIST, PB_CREATE, &raw));
  OK(pb_list_append(raw, &i));
  OK(pb_table_open_member(t, &mem_Post_table, pb_keybuf_bytes(&key), 7,
                          PB_VALUE_HASHDICT, PB_CREATE, &raw));
  pb_value skey = {.kind = PB_VALUE_STRING, .as.s = pb_str_from_cstr("s")};
  OK(pb_hdict_put(raw, &skey, &skey)); /* a string key in map<int64, _> */
  pb_keybuf_free(&key);

  mem_Post_lines *l;
  OK(mem_Post_lines_open(t, &p, 0, &l));
  pb_str s;
  assert_int_equal(mem_Post_lines_get(l, 0, &s), PB_ESCHEMA);
  mem_Post_lines_iter *it;
  OK(mem_Post_lines_iter_open(l, 0, 1, &it));
  assert_int_equal(mem_Post_lines_iter_next(it, &s), PB_ESCHEMA);
  mem_Post_lines_iter_close(it);
  mem_Post_shorts *sh;
  OK(mem_Post_shorts_open(t, &p, 0, &sh));
  int16_t v16;
  assert_int_equal(mem_Post_shorts_get(sh, 0, &v16), PB_ESCHEMA);
  mem_Post_comments *c;
  OK(mem_Post_comments_open(t, &p, 0, &c));
  mem_Comment cm;
  pb_arena *arena;
  OK(pb_txn_arena(t, &arena));
  assert_int_equal(mem_Post_comments_get(c, 0, &cm, arena), PB_ESCHEMA);
  mem_Post_notes *no;
  OK(mem_Post_notes_open(t, &p, 0, &no));
  mem_Post_notes_iter *ni;
  OK(mem_Post_notes_iter_open(no, &ni));
  int64_t k;
  assert_int_equal(mem_Post_notes_iter_next(ni, &k, &s), PB_ESCHEMA);
  mem_Post_notes_iter_close(ni);
  pb_txn_abort(t);
  OK(pb_test_filedb_close(&f));
}

/* --- Merging at commit --- */

static void set_adds_merge(void **state) {
  (void)state;
  pb_test_filedb f;
  OK(pb_test_filedb_open(&f, PB_DURABILITY_SYNC));
  insert_posts(&f, 2);
  mem_Post p = post(1, "p1");
  pb_txn *t = begin(&f);
  mem_Post_tags *h;
  OK(mem_Post_tags_open(t, &p, PB_CREATE, &h));
  OK(mem_Post_tags_add(h, "old", NULL));
  OK(pb_txn_commit(t));

  pb_txn *t1 = begin(&f), *t2 = begin(&f);
  mem_Post_tags *h1, *h2;
  OK(mem_Post_tags_open(t1, &p, 0, &h1));
  OK(mem_Post_tags_open(t2, &p, 0, &h2));
  OK(mem_Post_tags_add(h1, "one", NULL));
  OK(mem_Post_tags_add(h2, "two", NULL));
  OK(mem_Post_tags_remove(h2, "old"));
  OK(pb_txn_commit(t1));
  OK(pb_txn_commit(t2)); /* different elements: both land */

  t = begin(&f);
  OK(mem_Post_tags_open(t, &p, 0, &h));
  bool in;
  OK(mem_Post_tags_contains(h, "one", &in));
  assert_true(in);
  OK(mem_Post_tags_contains(h, "two", &in));
  assert_true(in);
  OK(mem_Post_tags_contains(h, "old", &in));
  assert_false(in);
  uint64_t n;
  OK(mem_Post_tags_count(h, &n));
  assert_int_equal(n, 2);
  pb_txn_abort(t);

  /* Two rows' lists are two collections: appends to each both land. */
  mem_Post q = post(2, "p2");
  t1 = begin(&f);
  t2 = begin(&f);
  mem_Post_lines *l1, *l2;
  OK(mem_Post_lines_open(t1, &p, PB_CREATE, &l1));
  OK(mem_Post_lines_open(t2, &q, PB_CREATE, &l2));
  OK(mem_Post_lines_append(l1, "to 1"));
  OK(mem_Post_lines_append(l2, "to 2"));
  OK(pb_txn_commit(t1));
  OK(pb_txn_commit(t2));
  t = begin(&f);
  OK(mem_Post_lines_open(t, &q, 0, &l2));
  OK(mem_Post_lines_count(l2, &n));
  assert_int_equal(n, 1);
  OK(mem_Post_lines_open(t, &p, 0, &l1));
  OK(mem_Post_lines_count(l1, &n));
  assert_int_equal(n, 1);
  pb_txn_abort(t);

  /* Both create row 2's set (it has none yet) and add to it: both land. */
  t1 = begin(&f);
  t2 = begin(&f);
  OK(mem_Post_tags_open(t1, &q, PB_CREATE, &h1));
  OK(mem_Post_tags_open(t2, &q, PB_CREATE, &h2));
  OK(mem_Post_tags_add(h1, "a", NULL));
  OK(mem_Post_tags_add(h2, "b", NULL));
  OK(pb_txn_commit(t1));
  OK(pb_txn_commit(t2));
  t = begin(&f);
  OK(mem_Post_tags_open(t, &q, 0, &h));
  OK(mem_Post_tags_count(h, &n));
  assert_int_equal(n, 2);
  pb_txn_abort(t);
  OK(pb_test_filedb_close(&f));
}

typedef struct append_run {
  pb_test_filedb *f;
  int attempts;
} append_run;

/* Appends "mine"; on the first attempt, another transaction appends
 * "theirs" to the same list and commits first. */
static int append_racing(pb_txn *txn, void *arg) {
  append_run *a = arg;
  mem_Post p = post(1, "p1");
  if (a->attempts++ == 0) {
    pb_txn *other = begin(a->f);
    mem_Post_lines *h;
    int rc = mem_Post_lines_open(other, &p, 0, &h);
    if (rc == PB_OK) rc = mem_Post_lines_append(h, "theirs");
    if (rc != PB_OK) {
      pb_txn_abort(other);
      return rc;
    }
    if ((rc = pb_txn_commit(other)) != PB_OK) return rc;
  }
  mem_Post_lines *h;
  int rc = mem_Post_lines_open(txn, &p, 0, &h);
  if (rc == PB_OK) rc = mem_Post_lines_append(h, "mine");
  return rc;
}

static void list_appends_conflict(void **state) {
  (void)state;
  pb_test_filedb f;
  OK(pb_test_filedb_open(&f, PB_DURABILITY_SYNC));
  insert_posts(&f, 1);
  mem_Post p = post(1, "p1");
  pb_txn *t = begin(&f);
  mem_Post_lines *h;
  OK(mem_Post_lines_open(t, &p, PB_CREATE, &h));
  OK(mem_Post_lines_append(h, "first"));
  OK(pb_txn_commit(t));

  pb_txn *t1 = begin(&f), *t2 = begin(&f);
  mem_Post_lines *h1, *h2;
  OK(mem_Post_lines_open(t1, &p, 0, &h1));
  OK(mem_Post_lines_open(t2, &p, 0, &h2));
  OK(mem_Post_lines_append(h1, "a"));
  OK(mem_Post_lines_append(h2, "b"));
  OK(pb_txn_commit(t1));
  assert_int_equal(pb_txn_commit(t2), PB_ECONFLICT);

  append_run a = {&f, 0};
  OK(pb_txn_run(f.db, append_racing, &a, PB_TXN_RUN_RETRIES));
  assert_int_equal(a.attempts, 2); /* conflicted once, then retried */

  t = begin(&f);
  OK(mem_Post_lines_open(t, &p, 0, &h));
  uint64_t n;
  OK(mem_Post_lines_count(h, &n));
  assert_int_equal(n, 4);
  const char *want[] = {"first", "a", "theirs", "mine"};
  for (uint64_t i = 0; i < n; i++) {
    pb_str s;
    OK(mem_Post_lines_get(h, i, &s));
    assert_true(str_is(s, want[i]));
  }
  pb_txn_abort(t);
  OK(pb_test_filedb_close(&f));
}

static void member_and_row_update_merge(void **state) {
  (void)state;
  pb_test_filedb f;
  OK(pb_test_filedb_open(&f, PB_DURABILITY_SYNC));
  insert_posts(&f, 1);
  mem_Post p = post(1, "p1");
  pb_txn *t = begin(&f);
  mem_Post_scores *h;
  OK(mem_Post_scores_open(t, &p, PB_CREATE, &h));
  OK(pb_txn_commit(t));

  pb_txn *t1 = begin(&f), *t2 = begin(&f);
  OK(mem_Post_scores_open(t1, &p, 0, &h));
  OK(mem_Post_scores_put(h, "k", 1.5));
  mem_Post renamed = post(1, "renamed");
  OK(mem_Post_update(t2, &renamed));
  OK(pb_txn_commit(t1));
  OK(pb_txn_commit(t2)); /* the row and its member: both land */

  t = begin(&f);
  mem_Post got;
  OK(mem_Post_get(t, 1, &got));
  assert_true(str_is(got.title, "renamed"));
  OK(mem_Post_scores_open(t, &p, 0, &h));
  double d;
  OK(mem_Post_scores_get(h, "k", &d));
  assert_true(d == 1.5);
  pb_txn_abort(t);
  OK(pb_test_filedb_close(&f));
}

/* --- Deleting a row; a reopen --- */

static void delete_row_removes_members(void **state) {
  (void)state;
  pb_test_filedb f;
  OK(pb_test_filedb_open(&f, PB_DURABILITY_SYNC));
  insert_posts(&f, 2);
  mem_Post p = post(1, "p1"), q = post(2, "p2");
  pb_txn *t = begin(&f);
  mem_Post_lines *l;
  mem_Post_tags *s;
  OK(mem_Post_lines_open(t, &p, PB_CREATE, &l));
  OK(mem_Post_lines_append(l, "x"));
  OK(mem_Post_tags_open(t, &p, PB_CREATE, &s));
  OK(mem_Post_tags_add(s, "x", NULL));
  OK(mem_Post_tags_open(t, &q, PB_CREATE, &s));
  OK(mem_Post_tags_add(s, "q", NULL));
  OK(pb_txn_commit(t));

  t = begin(&f);
  OK(mem_Post_delete(t, 1));
  assert_int_equal(mem_Post_lines_open(t, &p, 0, &l), PB_ENOTFOUND);
  OK(pb_txn_commit(t));

  t = begin(&f);
  assert_int_equal(mem_Post_lines_open(t, &p, 0, &l), PB_ENOTFOUND);
  OK(mem_Post_insert(t, &p));
  /* The row again, but not its old members: it starts empty. */
  assert_int_equal(mem_Post_lines_open(t, &p, 0, &l), PB_ENOTFOUND);
  assert_int_equal(mem_Post_tags_open(t, &p, 0, &s), PB_ENOTFOUND);
  OK(mem_Post_tags_open(t, &p, PB_CREATE, &s));
  uint64_t n;
  OK(mem_Post_tags_count(s, &n));
  assert_int_equal(n, 0);
  /* The other row keeps its own. */
  OK(mem_Post_tags_open(t, &q, 0, &s));
  bool in;
  OK(mem_Post_tags_contains(s, "q", &in));
  assert_true(in);
  OK(pb_txn_commit(t));
  OK(pb_test_filedb_close(&f));
}

static void survives_reopen(void **state) {
  (void)state;
  pb_test_filedb f;
  OK(pb_test_filedb_open(&f, PB_DURABILITY_SYNC));
  insert_posts(&f, 3);
  pb_txn *t = begin(&f);
  for (uint64_t id = 1; id <= 3; id++) {
    mem_Post p = post(id, "");
    mem_Post_lines *l;
    mem_Post_notes *no;
    OK(mem_Post_lines_open(t, &p, PB_CREATE, &l));
    OK(mem_Post_notes_open(t, &p, PB_CREATE, &no));
    for (uint64_t i = 0; i < 50 * id; i++) {
      char buf[32];
      snprintf(buf, sizeof buf, "%llu/%llu", (unsigned long long)id,
               (unsigned long long)i);
      OK(mem_Post_lines_append(l, buf));
      OK(mem_Post_notes_put(no, (int64_t)i - 20, buf));
    }
  }
  OK(pb_txn_commit(t));

  OK(pb_db_close(f.db));
  OK(pb_space_close(f.sp));
  pb_file_options o;
  pb_file_options_init(&o);
  OK(pb_storage_open_file(f.dir, &o, &f.st));
  OK(pb_space_open(f.st, &f.sp));
  OK(pb_db_open(f.sp, "main", 0, &f.db));

  OK(pb_txn_begin(f.db, PB_RDONLY, &t));
  for (uint64_t id = 1; id <= 3; id++) {
    mem_Post p = post(id, "");
    mem_Post_lines *l;
    mem_Post_notes *no;
    OK(mem_Post_lines_open(t, &p, 0, &l));
    OK(mem_Post_notes_open(t, &p, 0, &no));
    uint64_t n;
    OK(mem_Post_lines_count(l, &n));
    assert_int_equal(n, 50 * id);
    OK(mem_Post_notes_count(no, &n));
    assert_int_equal(n, 50 * id);
    pb_str s;
    char buf[32];
    snprintf(buf, sizeof buf, "%llu/%llu", (unsigned long long)id,
             (unsigned long long)(50 * id - 1));
    OK(mem_Post_lines_get(l, 50 * id - 1, &s));
    assert_true(str_is(s, buf));
    OK(mem_Post_notes_get(no, (int64_t)(50 * id - 1) - 20, &s));
    assert_true(str_is(s, buf));
  }
  pb_txn_abort(t);
  OK(pb_test_filedb_close(&f));
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(lists_of_strings),
      cmocka_unit_test(lists_of_records),
      cmocka_unit_test(sets),
      cmocka_unit_test(maps),
      cmocka_unit_test(other_elements),
      cmocka_unit_test(keyless_rows),
      cmocka_unit_test(null_arguments),
      cmocka_unit_test(missing_rows_and_ranges),
      cmocka_unit_test(wrong_stored_kind),
      cmocka_unit_test(set_adds_merge),
      cmocka_unit_test(list_appends_conflict),
      cmocka_unit_test(member_and_row_update_merge),
      cmocka_unit_test(delete_row_removes_members),
      cmocka_unit_test(survives_reopen),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
