/*
 * test_record_cache.c - records through the AtomObjectCache (SPEC 8):
 * generated `_load` calls pb_txn_load_decoded, which shares one decoded
 * record per (atom, schema epoch).  The record types are those of
 * test_evolve_compat, two versions of one record: tests/unit/evolve/
 * v1.pbs (evo1.Item) and v2.pbs (evo2.Item [renamed_from = "evo1.Item"],
 * with a new fingerprint, so a database gives it a new epoch when it is
 * registered; the rename gives it evo1.Item's type id).
 *
 *   second_load_hits       a later transaction's load is a hit, equal,
 *                          and two loads in one transaction share memory
 *   views_outlive_eviction a tiny cache that evicts (or rejects) every
 *                          record: what a load gave stays valid until its
 *                          transaction ends (under ASan: no use after free)
 *   epochs_isolate         v1, then v2: a load of v2 before it is
 *                          registered decodes privately (no epoch, nothing
 *                          cached, nothing written); registered (epoch 2),
 *                          v2 is decoded by v2's decoder, v1 still hits;
 *                          both keys live
 *   fingerprint_guard      two databases give two types the same epoch:
 *                          a load of one type never gets the other's object
 *   own_batch_not_cached   put then load before commit: not cached, right;
 *                          the same across a rebase (merge) at commit
 *   cache_off              all limits 0: loads decode privately
 *   errors_as_before       null, missing, non-record and undecodable atoms
 *                          give the errors of pb_txn_load_record + decode;
 *                          nothing failed is cached
 *   no_epoch_falls_back    a load of a version never registered writes
 *                          nothing (a write fault armed on a simulated
 *                          disk stays pending) and decodes privately; the
 *                          registration then hits the fault (PB_ENOSPC),
 *                          and once it succeeds, loads cache
 *   nested_run_escalated   a pb_txn_run whose fn, escalated under run_mu,
 *                          loads a record: the load runs no run of its own
 *                          (alarm: a hang fails)
 *   nested_runs_across_spaces  runs nested A -> B -> A, each escalated:
 *                          the innermost finds A's lock held two frames up
 *   rdonly_txn_registers   a read-only transaction on a writable storage
 *                          loads a version never registered: no commit;
 *                          a read-only storage gives a local epoch
 */
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "corrupt_detail.h"

#include "cache/atomcache.h"
#include "protobase/protobase.h"
#include "storage/file.h"
#include "support/simfs.h"
#include "test_util.h"
#include "txn/space.h"
#include "v1.pb.h"
#include "v2.pb.h"

static const int32_t levels[] = {3, -1, 70000};
static const pb_str tags[] = {{"red", 3}, {"", 0}, {"caf\xc3\xa9", 5}};
static const pb_str words[] = {{"one", 3}, {"two", 3}};

typedef struct env {
  pb_space *sp;
  pb_db *db;
  pb_db *db2; /* another handle, when a test wants one */
} env;

static void env_open(env *e, const pb_space_options *o) {
  pb_storage *st;
  assert_int_equal(pb_storage_open_memory(&st), PB_OK);
  assert_int_equal(pb_space_open_ex(st, o, &e->sp), PB_OK);
  assert_int_equal(pb_db_open(e->sp, "main", PB_CREATE, &e->db), PB_OK);
}

static void env_close(env *e) {
  pb_db_close(e->db);
  assert_int_equal(pb_space_close(e->sp), PB_OK);
}

static pb_cache_stats obj_stats(pb_space *sp) {
  pb_cache_stats s;
  assert_int_equal(pb_space_cache_stats(sp, NULL, &s), PB_OK);
  return s;
}

static void assert_str(pb_str a, const char *want) {
  assert_int_equal(a.len, strlen(want));
  if (a.len) assert_memory_equal(a.ptr, want, a.len);
}

/* A v2 item with every field away from its default; `name` is kept. */
static evo2_Item full_v2(uint64_t id, const char *name) {
  evo2_Item it;
  evo2_Item_init(&it);
  it.id = id;
  it.name = pb_str_from_cstr(name);
  it.done = true;
  it.note = pb_str_from_cstr("a note from v2");
  it.detail.text = pb_str_from_cstr("heavy");
  it.detail.weight = -1234567;
  it.detail.words.items = words;
  it.detail.words.count = 2;
  it.levels.items = levels;
  it.levels.count = 3;
  it.tags.items = tags;
  it.tags.count = 3;
  it.kind = evo2_Kind_TOOL;
  it.score = 9.5;
  it.big = UINT64_MAX;
  it.has_extra = true;
  it.extra = (pb_bytes){(const uint8_t *)"xyz", 3};
  return it;
}

static void assert_full_v2(const evo2_Item *got, uint64_t id,
                           const char *name) {
  assert_true(got->id == id);
  assert_str(got->name, name);
  assert_true(got->done);
  assert_str(got->note, "a note from v2");
  assert_str(got->detail.text, "heavy");
  assert_true(got->detail.weight == -1234567);
  assert_int_equal(got->detail.words.count, 2);
  assert_str(got->detail.words.items[0], "one");
  assert_str(got->detail.words.items[1], "two");
  assert_int_equal(got->levels.count, 3);
  assert_memory_equal(got->levels.items, levels, sizeof levels);
  assert_int_equal(got->tags.count, 3);
  for (size_t i = 0; i < 3; i++) {
    assert_int_equal(got->tags.items[i].len, tags[i].len);
    if (tags[i].len)
      assert_memory_equal(got->tags.items[i].ptr, tags[i].ptr, tags[i].len);
  }
  assert_int_equal(got->kind, evo2_Kind_TOOL);
  assert_true(got->score == 9.5);
  assert_true(got->big == UINT64_MAX);
  assert_true(got->has_extra);
  assert_int_equal(got->extra.len, 3);
  assert_memory_equal(got->extra.ptr, "xyz", 3);
  assert_int_equal(got->unknown_fields.len, 0);
}

static pb_atom_ptr put_v2(pb_db *db, uint64_t id, const char *name) {
  pb_txn *txn;
  pb_atom_ptr p;
  evo2_Item it = full_v2(id, name);
  assert_int_equal(pb_txn_begin(db, 0, &txn), PB_OK);
  assert_int_equal(evo2_Item_put(txn, &it, &p), PB_OK);
  assert_int_equal(pb_txn_commit(txn), PB_OK);
  return p;
}

static pb_atom_ptr put_v1(pb_db *db, uint64_t id, const char *name) {
  pb_txn *txn;
  pb_atom_ptr p;
  evo1_Item it;
  evo1_Item_init(&it);
  it.id = id;
  it.name = pb_str_from_cstr(name);
  it.old_count = 7; /* tag 3: unknown to v2, which reserves it */
  it.done = true;
  it.score = 2.5;
  assert_int_equal(pb_txn_begin(db, 0, &txn), PB_OK);
  assert_int_equal(evo1_Item_put(txn, &it, &p), PB_OK);
  assert_int_equal(pb_txn_commit(txn), PB_OK);
  return p;
}

static void assert_v1(const evo1_Item *got, uint64_t id, const char *name) {
  assert_true(got->id == id);
  assert_str(got->name, name);
  assert_int_equal(got->old_count, 7);
  assert_true(got->done);
  assert_true(got->score == 2.5);
  assert_int_equal(got->unknown_fields.len, 0);
}

/* v1's record as v2 sees it: tag 3 kept as unknown, v2's fields default. */
static void assert_v1_as_v2(const evo2_Item *got, uint64_t id,
                            const char *name) {
  assert_true(got->id == id);
  assert_str(got->name, name);
  assert_true(got->done);
  assert_true(got->score == 2.5);
  assert_int_equal(got->kind, evo2_Kind_BOOK); /* v2's default */
  assert_int_equal(got->note.len, 0);
  assert_int_equal(got->levels.count, 0);
  assert_false(got->has_extra);
  assert_true(got->unknown_fields.len > 0); /* old_count, kept */
}

/* The fingerprint of the object cached under (p, epoch), or 0: none. */
static uint64_t cached_fingerprint(pb_space *sp, pb_atom_ptr p,
                                   uint64_t epoch) {
  pb__cache_key k = pb__cache_key_of(p, epoch);
  pb__cache_handle *h;
  if (pb__cache_get(sp->objects, &k, &h) != PB_OK) return 0;
  uint64_t fp = ((const pb__obj *)pb__cache_value(h))->fingerprint;
  pb__cache_release(h);
  return fp;
}

static void second_load_hits(void **state) {
  (void)state;
  env e;
  env_open(&e, NULL);
  pb_atom_ptr p = put_v2(e.db, 1, "hammer");
  pb_txn *t1, *t2;
  evo2_Item a, b, c;
  assert_int_equal(pb_txn_begin(e.db, PB_RDONLY, &t1), PB_OK);
  assert_int_equal(evo2_Item_load(t1, p, &a), PB_OK);
  assert_full_v2(&a, 1, "hammer");

  assert_int_equal(pb_txn_begin(e.db, PB_RDONLY, &t2), PB_OK);
  pb_cache_stats s0 = obj_stats(e.sp);
  assert_int_equal(evo2_Item_load(t2, p, &b), PB_OK);
  pb_cache_stats s1 = obj_stats(e.sp);
  assert_int_equal(s1.hits, s0.hits + 1);
  assert_int_equal(s1.loads, s0.loads);
  assert_int_equal(s1.misses, s0.misses);
  assert_full_v2(&b, 1, "hammer");
  /* Shared: both copies point into the one cached object. */
  assert_ptr_equal(a.name.ptr, b.name.ptr);
  assert_ptr_equal(a.levels.items, b.levels.items);
  /* t1 ends; t2's copy still holds the object. */
  pb_txn_abort(t1);
  assert_full_v2(&b, 1, "hammer");
  assert_int_equal(evo2_Item_load(t2, p, &c), PB_OK);
  assert_memory_equal(&b, &c, sizeof b);
  pb_txn_abort(t2);
  assert_int_equal(obj_stats(e.sp).held_entries, 0);
  /* After both ended: a third transaction still hits. */
  assert_int_equal(pb_txn_begin(e.db, PB_RDONLY, &t1), PB_OK);
  s0 = obj_stats(e.sp);
  assert_int_equal(evo2_Item_load(t1, p, &a), PB_OK);
  s1 = obj_stats(e.sp);
  assert_int_equal(s1.hits, s0.hits + 1);
  assert_int_equal(s1.loads, s0.loads);
  assert_full_v2(&a, 1, "hammer");
  pb_txn_abort(t1);
  env_close(&e);
}

#define N_TINY 40

static void views_outlive_eviction(void **state) {
  (void)state;
  /* Room for two objects; then room for none (every record rejected). */
  const uint64_t limits[2][2] = {{1u << 20, 2}, {64, 16}};
  for (int l = 0; l < 2; l++) {
    pb_space_options o = {256, 2, limits[l][0], limits[l][1]};
    env e;
    env_open(&e, &o);
    pb_atom_ptr p[N_TINY];
    char names[N_TINY][16];
    for (int i = 0; i < N_TINY; i++) {
      snprintf(names[i], sizeof names[i], "item-%d", i);
      p[i] = put_v2(e.db, (uint64_t)i, names[i]);
    }
    for (int round = 0; round < 2; round++) { /* cold, then whatever stayed */
      pb_txn *txn;
      evo2_Item got[N_TINY];
      assert_int_equal(pb_txn_begin(e.db, PB_RDONLY, &txn), PB_OK);
      for (int i = 0; i < N_TINY; i++)
        assert_int_equal(evo2_Item_load(txn, p[i], &got[i]), PB_OK);
      for (int i = 0; i < N_TINY; i++)
        assert_full_v2(&got[i], (uint64_t)i, names[i]);
      pb_cache_stats s = obj_stats(e.sp);
      if (l == 0)
        assert_true(s.evictions > 0 && s.entries <= 2);
      else
        assert_true(s.rejected >= N_TINY && s.entries == 0);
      assert_true(s.held_entries > 0); /* what the transaction still uses */
      pb_txn_abort(txn);
      assert_int_equal(obj_stats(e.sp).held_entries, 0);
    }
    env_close(&e);
  }
}

static void epochs_isolate(void **state) {
  (void)state;
  env e;
  env_open(&e, NULL);
  pb_atom_ptr p = put_v1(e.db, 5, "saw");
  pb_txn *txn;
  evo1_Item v1, v1b;
  evo2_Item v2;
  uint64_t ep;
  assert_int_equal(pb_txn_begin(e.db, PB_RDONLY, &txn), PB_OK);
  assert_int_equal(evo1_Item_load(txn, p, &v1), PB_OK);
  assert_v1(&v1, 5, "saw");
  assert_int_equal(pb_db_schema_epoch(e.db, &evo1_Item_type, &ep), PB_OK);
  assert_int_equal(ep, 1);
  pb_txn_abort(txn);

  /* v2: a new fingerprint, not registered: a load never registers, so
   * it is decoded privately (not cached under any epoch). */
  pb_space_stats ss0, ss1;
  assert_int_equal(pb_space_stats_get(e.sp, &ss0), PB_OK);
  assert_int_equal(pb_txn_begin(e.db, PB_RDONLY, &txn), PB_OK);
  pb_cache_stats s0 = obj_stats(e.sp);
  assert_int_equal(evo2_Item_load(txn, p, &v2), PB_OK);
  pb_cache_stats s1 = obj_stats(e.sp);
  assert_v1_as_v2(&v2, 5, "saw");
  assert_int_equal(s1.entries, s0.entries);
  assert_int_equal(s1.loads, s0.loads);
  assert_int_equal(pb_space_stats_get(e.sp, &ss1), PB_OK);
  assert_int_equal(ss1.commits, ss0.commits);
  pb_txn_abort(txn);
  /* Registered (epoch 2): decoded anew by v2's decoder and cached. */
  const pb_record_type *v2types[] = {&evo2_Item_type};
  assert_int_equal(pb_db_register(e.db, v2types, 1), PB_OK);
  assert_int_equal(pb_db_schema_epoch(e.db, &evo2_Item_type, &ep), PB_OK);
  assert_int_equal(ep, 2);
  assert_int_equal(pb_txn_begin(e.db, PB_RDONLY, &txn), PB_OK);
  s0 = obj_stats(e.sp);
  assert_int_equal(evo2_Item_load(txn, p, &v2), PB_OK);
  s1 = obj_stats(e.sp);
  assert_v1_as_v2(&v2, 5, "saw");
  assert_true(s1.loads > s0.loads); /* decoded anew, not v1's object */
  /* v1 again, in the same transaction: a hit on v1's object. */
  s0 = obj_stats(e.sp);
  assert_int_equal(evo1_Item_load(txn, p, &v1b), PB_OK);
  s1 = obj_stats(e.sp);
  assert_int_equal(s1.hits, s0.hits + 1);
  assert_int_equal(s1.loads, s0.loads);
  assert_v1(&v1b, 5, "saw");
  /* And v2's view is still v2's (nothing overwrote it). */
  assert_v1_as_v2(&v2, 5, "saw");
  pb_txn_abort(txn);
  /* Both live side by side, each under its own epoch. */
  assert_true(cached_fingerprint(e.sp, p, 1) == evo1_Item_FINGERPRINT);
  assert_true(cached_fingerprint(e.sp, p, 2) == evo2_Item_FINGERPRINT);
  env_close(&e);
}

static void fingerprint_guard(void **state) {
  (void)state;
  env e;
  env_open(&e, NULL);
  pb_db *other;
  assert_int_equal(pb_db_open(e.sp, "other", PB_CREATE, &other), PB_OK);
  uint64_t ep;
  /* Each database gives ITS first type epoch 1. */
  assert_int_equal(pb_db_schema_epoch(e.db, &evo1_Item_type, &ep), PB_OK);
  assert_int_equal(ep, 1);
  assert_int_equal(pb_db_schema_epoch(other, &evo2_Item_type, &ep), PB_OK);
  assert_int_equal(ep, 1);
  pb_atom_ptr p = put_v1(e.db, 9, "drill");
  pb_txn *ta, *tb;
  evo1_Item v1;
  evo2_Item v2;
  assert_int_equal(pb_txn_begin(e.db, PB_RDONLY, &ta), PB_OK);
  assert_int_equal(evo1_Item_load(ta, p, &v1), PB_OK); /* (p, 1): v1 */
  assert_true(cached_fingerprint(e.sp, p, 1) == evo1_Item_FINGERPRINT);
  /* The same pointer as v2 in `other`: the same key, another type. */
  assert_int_equal(pb_txn_begin(other, PB_RDONLY, &tb), PB_OK);
  for (int i = 0; i < 2; i++) {
    assert_int_equal(evo2_Item_load(tb, p, &v2), PB_OK);
    assert_v1_as_v2(&v2, 9, "drill");
  }
  assert_v1(&v1, 9, "drill");
  pb_txn_abort(tb);
  pb_txn_abort(ta);
  /* v1's object is still the one cached there. */
  assert_true(cached_fingerprint(e.sp, p, 1) == evo1_Item_FINGERPRINT);
  pb_db_close(other);
  env_close(&e);
}

static void own_batch_not_cached(void **state) {
  (void)state;
  env e;
  env_open(&e, NULL);
  pb_txn *t, *side;
  pb_atom_ptr p;
  evo2_Item it = full_v2(3, "plane"), got;
  /* Registered first, so that the loads below read no catalog (its
   * nodes would count in the cache's statistics). */
  assert_int_equal(pb_db_open_types(e.sp, "main", 0, evo2_record_types,
                                    evo2_record_types_count, &e.db2),
                   PB_OK);
  pb_db_close(e.db2);
  const pb_record_type *v2types[] = {&evo2_Item_type};
  assert_int_equal(pb_db_register(e.db, v2types, 1), PB_OK);
  assert_int_equal(pb_txn_begin(e.db, 0, &t), PB_OK);
  assert_int_equal(evo2_Item_put(t, &it, &p), PB_OK);
  pb_value ref = {.kind = PB_VALUE_REF, .as.ref = p};
  assert_int_equal(pb_txn_set(t, "it", &ref), PB_OK);
  /* Another commit lands meanwhile: t's commit will rebase (merge). */
  pb_value one = {.kind = PB_VALUE_INT, .as.i = 1};
  assert_int_equal(pb_txn_begin(e.db, 0, &side), PB_OK);
  assert_int_equal(pb_txn_set(side, "other", &one), PB_OK);
  assert_int_equal(pb_txn_commit(side), PB_OK);
  pb_cache_stats s0 = obj_stats(e.sp);
  for (int i = 0; i < 2; i++) {
    assert_int_equal(evo2_Item_load(t, p, &got), PB_OK);
    assert_full_v2(&got, 3, "plane");
  }
  pb_cache_stats s1 = obj_stats(e.sp);
  assert_int_equal(s1.hits, s0.hits); /* not even looked up */
  assert_int_equal(s1.misses, s0.misses);
  assert_int_equal(s1.entries, s0.entries);
  pb_space_stats ss0, ss1;
  assert_int_equal(pb_space_stats_get(e.sp, &ss0), PB_OK);
  assert_int_equal(pb_txn_commit(t), PB_OK);
  assert_int_equal(pb_space_stats_get(e.sp, &ss1), PB_OK);
  assert_int_equal(ss1.merges, ss0.merges + 1);
  /* Published: now it is cached, and right. */
  pb_value v;
  assert_int_equal(pb_txn_begin(e.db, PB_RDONLY, &t), PB_OK);
  assert_int_equal(pb_txn_get(t, "it", &v), PB_OK);
  assert_true(pb_atom_ptr_equal(v.as.ref, p));
  s0 = obj_stats(e.sp);
  assert_int_equal(evo2_Item_load(t, p, &got), PB_OK);
  assert_full_v2(&got, 3, "plane");
  s1 = obj_stats(e.sp);
  assert_int_equal(s1.loads, s0.loads + 1);
  pb_txn_abort(t);
  env_close(&e);
}

static void cache_off(void **state) {
  (void)state;
  pb_space_options o = {0, 0, 0, 0};
  env e;
  env_open(&e, &o);
  pb_atom_ptr p1 = put_v1(e.db, 1, "one"), p2 = put_v2(e.db, 2, "two");
  pb_txn *txn;
  evo1_Item a;
  evo2_Item b, c, d;
  assert_int_equal(pb_txn_begin(e.db, PB_RDONLY, &txn), PB_OK);
  assert_int_equal(evo1_Item_load(txn, p1, &a), PB_OK);
  assert_int_equal(evo2_Item_load(txn, p1, &b), PB_OK);
  assert_int_equal(evo2_Item_load(txn, p2, &c), PB_OK);
  assert_int_equal(evo2_Item_load(txn, p2, &d), PB_OK);
  assert_v1(&a, 1, "one");
  assert_v1_as_v2(&b, 1, "one");
  assert_full_v2(&c, 2, "two");
  assert_full_v2(&d, 2, "two");
  assert_ptr_not_equal(c.levels.items, d.levels.items); /* private each */
  pb_txn_abort(txn);
  pb_cache_stats s = obj_stats(e.sp);
  assert_int_equal(s.hits + s.misses + s.loads + s.max_bytes, 0);
  env_close(&e);
}

static void errors_as_before(void **state) {
  (void)state;
  env e;
  env_open(&e, NULL);
  pb_atom_ptr p = put_v2(e.db, 1, "x"), bad, node;
  pb_txn *txn;
  assert_int_equal(pb_txn_begin(e.db, 0, &txn), PB_OK);
  /* A record body (well-formed fields, so pb_txn_put_record takes it)
   * that evo2.Item's decoder refuses: its uint64 id (tag 1) as a LEN. */
  assert_int_equal(pb_txn_put_record(txn, &evo2_Item_type, "\x0a\x00", 2,
                                     &bad),
                   PB_OK);
  pb_list *l;
  pb_value one = {.kind = PB_VALUE_INT, .as.i = 1};
  assert_int_equal(pb_txn_open_list(txn, "l", PB_CREATE, &l), PB_OK);
  assert_int_equal(pb_list_append(l, &one), PB_OK);
  assert_int_equal(pb_txn_commit(txn), PB_OK);
  pb_value v;
  assert_int_equal(pb_txn_begin(e.db, PB_RDONLY, &txn), PB_OK);
  assert_int_equal(pb_txn_get(txn, "l", &v), PB_OK);
  node = v.as.ref; /* a List node: not a record */
  pb_atom_ptr nowhere = p;
  nowhere.offset += 1u << 20;
  pb_atom_ptr null = {0, 0, 0};
  evo2_Item got;
  pb_bytes body;
  assert_int_equal(evo2_Item_load(txn, null, &got), PB_ENOTFOUND);
  assert_corrupt(pb_txn_load_record(txn, &evo2_Item_type, node, &body), PB_AT_ATOM);
  int want = pb_txn_load_record(txn, &evo2_Item_type, nowhere, &body);
  assert_int_not_equal(want, PB_OK);
  uint64_t ep; /* registered now: the loads below read no catalog */
  assert_int_equal(pb_db_schema_epoch(e.db, &evo2_Item_type, &ep), PB_OK);
  pb_cache_stats s0 = obj_stats(e.sp);
  for (int i = 0; i < 2; i++) {
    assert_corrupt(evo2_Item_load(txn, node, &got), PB_AT_ATOM);
    assert_int_equal(evo2_Item_load(txn, nowhere, &got), want);
    assert_corrupt(evo2_Item_load(txn, bad, &got), PB_AT_ATOM);
  }
  pb_cache_stats s1 = obj_stats(e.sp);
  assert_true(s1.load_errors >= s0.load_errors + 6); /* none was cached */
  assert_int_equal(s1.hits, s0.hits);
  /* The good one still loads. */
  assert_int_equal(evo2_Item_load(txn, p, &got), PB_OK);
  assert_full_v2(&got, 1, "x");
  assert_int_equal(pb_txn_load_decoded(txn, &evo2_Item_type, p, 0, NULL, &got),
                   PB_EINVAL);
  pb_txn_abort(txn);
  env_close(&e);
}

#define SIM_DIR "/db"

static void no_epoch_falls_back(void **state) {
  (void)state;
  pb__simfs *sim = pb__simfs_new();
  assert_non_null(sim);
  pb_file_options fo;
  pb_file_options_init(&fo);
  char msg[256];
  pb_storage *st;
  assert_int_equal(pb__file_storage_open(SIM_DIR, &fo, pb__simfs_io(sim), msg,
                                         sizeof msg, &st),
                   PB_OK);
  env e;
  assert_int_equal(pb_space_open(st, &e.sp), PB_OK);
  assert_int_equal(pb_db_open(e.sp, "main", PB_CREATE, &e.db), PB_OK);
  pb_atom_ptr p = put_v1(e.db, 4, "vise");
  pb_txn *txn;
  evo2_Item got;
  /* The next write would fail: a load must not write at all. */
  pb__simfs_fail(sim, PB__SIMFS_PWRITE, 1, PB_ENOSPC, 0);
  assert_int_equal(pb_txn_begin(e.db, PB_RDONLY, &txn), PB_OK);
  pb_cache_stats s0 = obj_stats(e.sp);
  assert_int_equal(evo2_Item_load(txn, p, &got), PB_OK);
  assert_true(pb__simfs_fault_pending(sim, PB__SIMFS_PWRITE));
  pb_cache_stats s1 = obj_stats(e.sp);
  assert_v1_as_v2(&got, 4, "vise");
  assert_int_equal(s1.entries, s0.entries); /* decoded privately */
  /* Registering writes: it gets the fault. */
  const pb_record_type *v2types[] = {&evo2_Item_type};
  assert_int_equal(pb_db_register(e.db, v2types, 1), PB_ENOSPC);
  assert_false(pb__simfs_fault_pending(sim, PB__SIMFS_PWRITE));
  pb_txn_abort(txn);
  /* The disk has room again: registered, the next load caches. */
  assert_int_equal(pb_db_register(e.db, v2types, 1), PB_OK);
  assert_int_equal(pb_txn_begin(e.db, PB_RDONLY, &txn), PB_OK);
  evo2_Item again;
  assert_int_equal(evo2_Item_load(txn, p, &again), PB_OK);
  assert_v1_as_v2(&again, 4, "vise");
  uint64_t ep;
  assert_int_equal(pb_db_schema_epoch(e.db, &evo2_Item_type, &ep), PB_OK);
  assert_true(cached_fingerprint(e.sp, p, ep) == evo2_Item_FINGERPRINT);
  assert_v1_as_v2(&got, 4, "vise");
  pb_txn_abort(txn);
  env_close(&e);
  pb__simfs_free(sim);
}

typedef struct esc_arg {
  pb_db *db;
  pb_atom_ptr p;
  int calls;
  bool loaded_right;
} esc_arg;

/* Conflicts three times (a commit of "hot" behind its back), so that the
 * fourth attempt runs escalated, under run_mu; that one loads a record. */
static int esc_fn(pb_txn *txn, void *arg) {
  esc_arg *a = arg;
  pb_value v = {.kind = PB_VALUE_INT, .as.i = ++a->calls};
  if (a->calls <= 3) {
    pb_txn *side;
    assert_int_equal(pb_txn_begin(a->db, 0, &side), PB_OK);
    assert_int_equal(pb_txn_set(side, "hot", &v), PB_OK);
    assert_int_equal(pb_txn_commit(side), PB_OK);
  } else {
    evo1_Item got;
    int rc = evo1_Item_load(txn, a->p, &got);
    if (rc != PB_OK) return rc;
    a->loaded_right = got.id == 11 && got.name.len == 6 &&
                      memcmp(got.name.ptr, "wrench", 6) == 0 &&
                      got.old_count == 7;
  }
  return pb_txn_set(txn, "hot", &v);
}

static void nested_run_escalated(void **state) {
  (void)state;
  alarm(30); /* a deadlock fails the test instead of hanging it */
  env e;
  env_open(&e, NULL);
  pb_atom_ptr p = put_v1(e.db, 11, "wrench");
  esc_arg a = {e.db, p, 0, false};
  pb_space_stats s0, s1;
  assert_int_equal(pb_space_stats_get(e.sp, &s0), PB_OK);
  assert_int_equal(pb_txn_run(e.db, esc_fn, &a, 10), PB_OK);
  assert_int_equal(pb_space_stats_get(e.sp, &s1), PB_OK);
  assert_int_equal(a.calls, 4);
  assert_true(a.loaded_right);
  /* Only the outer attempt ran locked: the load ran no run of its own. */
  assert_int_equal(s1.locked_runs, s0.locked_runs + 1);
  assert_int_equal(s1.commits, s0.commits + 4); /* 3 side commits, 1 run */
  /* The put registered the type: another handle reads it back. */
  pb_db *db2;
  uint64_t e1, e2;
  assert_int_equal(pb_db_open(e.sp, "main", 0, &db2), PB_OK);
  assert_int_equal(pb_db_schema_epoch(e.db, &evo1_Item_type, &e1), PB_OK);
  assert_int_equal(pb_db_schema_epoch(db2, &evo1_Item_type, &e2), PB_OK);
  assert_int_equal(e1, 1);
  assert_int_equal(e2, 1);
  pb_db_close(db2);
  /* The run's own change was committed. */
  pb_txn *txn;
  pb_value v;
  assert_int_equal(pb_txn_begin(e.db, PB_RDONLY, &txn), PB_OK);
  assert_int_equal(pb_txn_get(txn, "hot", &v), PB_OK);
  assert_int_equal(v.as.i, 4);
  pb_txn_abort(txn);
  env_close(&e);
  alarm(0);
}

/* A run that sets `key`, conflicting on it three times, then (escalated,
 * holding its space's run_mu) calls next(next_arg) too. */
typedef struct hot_run {
  pb_db *db;
  const char *key;
  int calls;
  int (*next)(void *arg);
  void *next_arg;
} hot_run;

static int hot_fn(pb_txn *txn, void *arg) {
  hot_run *h = arg;
  pb_value v = {.kind = PB_VALUE_INT, .as.i = ++h->calls};
  if (h->calls <= 3) {
    pb_txn *side;
    assert_int_equal(pb_txn_begin(h->db, 0, &side), PB_OK);
    assert_int_equal(pb_txn_set(side, h->key, &v), PB_OK);
    assert_int_equal(pb_txn_commit(side), PB_OK);
  } else if (h->next) {
    int rc = h->next(h->next_arg);
    if (rc != PB_OK) return rc;
  }
  return pb_txn_set(txn, h->key, &v);
}

static int run_hot(void *arg) {
  hot_run *h = arg;
  return pb_txn_run(h->db, hot_fn, h, 10);
}

static void nested_runs_across_spaces(void **state) {
  (void)state;
  alarm(30); /* a deadlock fails the test instead of hanging it */
  env a, b;
  env_open(&a, NULL);
  env_open(&b, NULL);
  /* A (escalated) -> B (escalated) -> A again: A's lock is held two
   * frames up; the innermost run must see it and not take it again. */
  hot_run inner = {a.db, "calm", 3, NULL, NULL}; /* no conflict: plain */
  hot_run mid = {b.db, "hot", 0, run_hot, &inner};
  hot_run outer = {a.db, "hot", 0, run_hot, &mid};
  assert_int_equal(run_hot(&outer), PB_OK);
  assert_int_equal(outer.calls, 4);
  assert_int_equal(mid.calls, 4);
  assert_int_equal(inner.calls, 4);
  pb_space_stats sa, sb;
  assert_int_equal(pb_space_stats_get(a.sp, &sa), PB_OK);
  assert_int_equal(pb_space_stats_get(b.sp, &sb), PB_OK);
  assert_int_equal(sa.locked_runs, 2); /* outer's 4th, and inner */
  assert_int_equal(sb.locked_runs, 1);
  env_close(&b);
  env_close(&a);
  alarm(0);
}

static void rdonly_txn_registers(void **state) {
  (void)state;
  char *dir = pb_test_tmpdir();
  pb_storage *st;
  env e;
  assert_int_equal(pb_storage_open_file(dir, NULL, &st), PB_OK);
  assert_int_equal(pb_space_open(st, &e.sp), PB_OK);
  assert_int_equal(pb_db_open(e.sp, "main", PB_CREATE, &e.db), PB_OK);
  pb_atom_ptr p = put_v2(e.db, 8, "level");
  pb_space_stats s0, s1;
  assert_int_equal(pb_space_stats_get(e.sp, &s0), PB_OK);
  pb_txn *txn;
  evo2_Item got;
  assert_int_equal(pb_txn_begin(e.db, PB_RDONLY, &txn), PB_OK);
  assert_int_equal(evo2_Item_load(txn, p, &got), PB_OK);
  assert_full_v2(&got, 8, "level");
  assert_int_equal(pb_space_stats_get(e.sp, &s1), PB_OK);
  assert_int_equal(s1.commits, s0.commits); /* a load never commits */
  assert_int_equal(pb_txn_commit(txn), PB_OK);
  env_close(&e);

  /* The same storage, read-only: the epoch is read back; a type never
   * seen gets a local one (>= 2^32), and is cached under it. */
  pb_file_options fo;
  pb_file_options_init(&fo);
  fo.read_only = true;
  assert_int_equal(pb_storage_open_file(dir, &fo, &st), PB_OK);
  assert_int_equal(pb_space_open(st, &e.sp), PB_OK);
  assert_int_equal(pb_db_open(e.sp, "main", 0, &e.db), PB_OK);
  uint64_t ep;
  assert_int_equal(pb_db_schema_epoch(e.db, &evo2_Item_type, &ep), PB_OK);
  assert_int_equal(ep, 1);
  evo1_Item v1;
  assert_int_equal(pb_txn_begin(e.db, PB_RDONLY, &txn), PB_OK);
  assert_int_equal(evo2_Item_load(txn, p, &got), PB_OK);
  assert_int_equal(evo1_Item_load(txn, p, &v1), PB_OK);
  assert_full_v2(&got, 8, "level");
  assert_true(v1.id == 8 && v1.unknown_fields.len > 0);
  assert_int_equal(pb_db_schema_epoch(e.db, &evo1_Item_type, &ep), PB_OK);
  assert_true(ep >= (uint64_t)1 << 32);
  assert_true(cached_fingerprint(e.sp, p, ep) == evo1_Item_FINGERPRINT);
  pb_txn_abort(txn);
  env_close(&e);
  pb_test_rmdir(dir);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(second_load_hits),
      cmocka_unit_test(views_outlive_eviction),
      cmocka_unit_test(epochs_isolate),
      cmocka_unit_test(fingerprint_guard),
      cmocka_unit_test(own_batch_not_cached),
      cmocka_unit_test(cache_off),
      cmocka_unit_test(errors_as_before),
      cmocka_unit_test(no_epoch_falls_back),
      cmocka_unit_test(nested_run_escalated),
      cmocka_unit_test(nested_runs_across_spaces),
      cmocka_unit_test(rdonly_txn_registers),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
