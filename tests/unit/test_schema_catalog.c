/*
 * test_schema_catalog.c - the catalog at run time (txn/catalog.c): reads
 * never write, record atoms carry their type's id, and a breaking schema
 * change is refused.  Record types: tests/unit/evolve/v1.pbs (evo1.Item),
 * v2.pbs (evo2.Item [renamed_from = "evo1.Item"], evo2.Detail), and
 * tests/unit/schema/a.pbs (sa.Event, sa.Tag), b.pbs (sb.Event: a's Event
 * with `int64 created` changed to `uint64`).  Storage: a file storage with
 * the default durability (SYNC) on a simulated disk that counts writes and
 * syncs (tests/support/simfs.h).
 *
 *   loads_never_write      a fresh handle loads every record type, also
 *                          versions never registered, in read-only
 *                          transactions and in a writable one: zero
 *                          pwrites, datasyncs, syncs, commits and locked
 *                          runs; a put then writes (the counters count)
 *   put_registers_in_txn   the first put of a type registers it in ITS
 *                          transaction: no commit of its own; an abort
 *                          leaves the catalog as it was
 *   open_types_registers   pb_db_open_types with a schema's generated list
 *                          registers in one commit; again: no commit
 *   type_ids               loading one type's atom as another is
 *                          PB_ESCHEMA naming both types: in the writing
 *                          transaction, after commit, and after a reopen;
 *                          an untyped atom (written before type ids) reads
 *                          as any type
 *   breaking_refused       sb.Event against a database of sa.Event:
 *                          registering, putting and loading are all
 *                          PB_ESCHEMA with the detail of pbc check; an
 *                          old value is never read doubled
 *   read_only_storage      a read-only open writes nothing: a compatible
 *                          unknown version gets a local epoch, a breaking
 *                          one PB_ESCHEMA; pb_db_register only checks
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "a.pb.h"
#include "atom/atom.h"
#include "b.pb.h"
#include "protobase/protobase.h"
#include "storage/file.h"
#include "support/simfs.h"
#include "test_util.h"
#include "txn/space.h"
#include "txn/txn_int.h"
#include "v1.pb.h"
#include "v2.pb.h"

#define SIM_DIR "/db"

typedef struct env {
  pb__simfs *sim;
  pb_space *sp;
  pb_db *db;
} env;

static void env_open(env *e, bool read_only) {
  pb_file_options fo;
  pb_file_options_init(&fo);
  fo.read_only = read_only;
  char msg[256];
  pb_storage *st;
  assert_int_equal(pb__file_storage_open(SIM_DIR, &fo, pb__simfs_io(e->sim),
                                         msg, sizeof msg, &st),
                   PB_OK);
  assert_int_equal(pb_space_open(st, &e->sp), PB_OK);
  assert_int_equal(pb_db_open(e->sp, "main", read_only ? 0 : PB_CREATE,
                              &e->db),
                   PB_OK);
}

static void env_close(env *e) {
  pb_db_close(e->db);
  assert_int_equal(pb_space_close(e->sp), PB_OK);
}

static uint64_t writes(pb__simfs *sim) {
  pb__simfs_counts c;
  pb__simfs_counts_get(sim, &c);
  return c.pwrite + c.datasync + c.sync + c.sync_dir;
}

static pb_space_stats space_stats(pb_space *sp) {
  pb_space_stats s;
  assert_int_equal(pb_space_stats_get(sp, &s), PB_OK);
  return s;
}

static bool detail_has(const char *what) {
  const char *d = pb_errdetail();
  if (!strstr(d, what)) {
    print_error("detail \"%s\" lacks \"%s\"\n", d, what);
    return false;
  }
  return true;
}

/* Atoms of every type, committed: evo1.Item, evo2.Detail, sa.Event,
 * sa.Tag (evo2.Item is left unregistered). */
typedef struct atoms {
  pb_atom_ptr item1, detail, event, tag;
} atoms;

static atoms put_all(pb_db *db) {
  atoms a;
  pb_txn *txn;
  evo1_Item it;
  evo1_Item_init(&it);
  it.id = 1;
  it.name = pb_str_from_cstr("saw");
  it.old_count = 3;
  evo2_Detail d;
  evo2_Detail_init(&d);
  d.text = pb_str_from_cstr("heavy");
  d.weight = 12;
  sa_Event ev;
  sa_Event_init(&ev);
  ev.created = 7;
  ev.title = pb_str_from_cstr("start");
  sa_Tag tag;
  sa_Tag_init(&tag);
  tag.name = pb_str_from_cstr("red");
  assert_int_equal(pb_txn_begin(db, 0, &txn), PB_OK);
  assert_int_equal(evo1_Item_put(txn, &it, &a.item1), PB_OK);
  assert_int_equal(evo2_Detail_put(txn, &d, &a.detail), PB_OK);
  assert_int_equal(sa_Event_put(txn, &ev, &a.event), PB_OK);
  assert_int_equal(sa_Tag_put(txn, &tag, &a.tag), PB_OK);
  assert_int_equal(pb_txn_commit(txn), PB_OK);
  return a;
}

/* Loads every record type; returns how many loads succeeded. */
static int load_all(pb_txn *txn, const atoms *a) {
  evo1_Item i1;
  evo2_Item i2;
  evo2_Detail d;
  sa_Event ev;
  sa_Tag tag;
  int ok = 0;
  ok += evo1_Item_load(txn, a->item1, &i1) == PB_OK && i1.old_count == 3;
  ok += evo2_Item_load(txn, a->item1, &i2) == PB_OK && i2.id == 1; /* never
                                                          registered */
  ok += evo2_Detail_load(txn, a->detail, &d) == PB_OK && d.weight == 12;
  ok += sa_Event_load(txn, a->event, &ev) == PB_OK && ev.created == 7;
  ok += sa_Tag_load(txn, a->tag, &tag) == PB_OK && tag.name.len == 3;
  return ok;
}

static void loads_never_write(void **state) {
  (void)state;
  env e = {pb__simfs_new(), NULL, NULL};
  env_open(&e, false);
  atoms a = put_all(e.db);
  env_close(&e);
  env_open(&e, false); /* a fresh handle: nothing cached */
  pb__simfs_reset_counts(e.sim);
  pb_space_stats s0 = space_stats(e.sp);
  for (int round = 0; round < 2; round++) { /* uncached, then cached */
    pb_txn *txn;
    assert_int_equal(pb_txn_begin(e.db, PB_RDONLY, &txn), PB_OK);
    assert_int_equal(load_all(txn, &a), 5);
    assert_int_equal(pb_txn_commit(txn), PB_OK);
  }
  pb_db *other; /* another fresh handle, in a writable transaction */
  assert_int_equal(pb_db_open(e.sp, "main", 0, &other), PB_OK);
  pb_txn *w;
  assert_int_equal(pb_txn_begin(other, 0, &w), PB_OK);
  assert_int_equal(load_all(w, &a), 5);
  assert_int_equal(writes(e.sim), 0);
  pb_space_stats s1 = space_stats(e.sp);
  assert_int_equal(s1.commits, s0.commits);
  assert_int_equal(s1.locked_runs, s0.locked_runs);
  /* The counters count: a put and its commit write and sync. */
  evo2_Item it;
  evo2_Item_init(&it);
  pb_atom_ptr p;
  assert_int_equal(evo2_Item_put(w, &it, &p), PB_OK);
  assert_int_equal(pb_txn_commit(w), PB_OK);
  pb__simfs_counts c;
  pb__simfs_counts_get(e.sim, &c);
  assert_true(c.pwrite > 0 && c.datasync > 0);
  pb_db_close(other);
  env_close(&e);
  pb__simfs_free(e.sim);
}

static void put_registers_in_txn(void **state) {
  (void)state;
  env e = {pb__simfs_new(), NULL, NULL};
  env_open(&e, false);
  pb_space_stats s0 = space_stats(e.sp);
  sa_Tag tag;
  sa_Tag_init(&tag);
  pb_atom_ptr p;
  pb_txn *txn;
  /* Aborted: nothing registered. */
  assert_int_equal(pb_txn_begin(e.db, 0, &txn), PB_OK);
  assert_int_equal(sa_Tag_put(txn, &tag, &p), PB_OK);
  pb_txn_abort(txn);
  assert_int_equal(space_stats(e.sp).commits, s0.commits);
  pb_db *ro;
  assert_int_equal(pb_db_open(e.sp, "main", 0, &ro), PB_OK);
  assert_int_equal(pb_txn_begin(ro, PB_RDONLY, &txn), PB_OK);
  pb_value v;
  assert_int_equal(pb_txn_get(txn, "x", &v), PB_ENOTFOUND);
  pb_txn_abort(txn);
  /* Committed: one commit holds the record and the catalog entry. */
  assert_int_equal(pb_txn_begin(e.db, 0, &txn), PB_OK);
  assert_int_equal(sa_Tag_put(txn, &tag, &p), PB_OK);
  assert_int_equal(sa_Tag_put(txn, &tag, &p), PB_OK);
  assert_int_equal(pb_txn_commit(txn), PB_OK);
  assert_int_equal(space_stats(e.sp).commits, s0.commits + 1);
  /* Registered: the epoch is there, with no commit to give it. */
  uint64_t ep;
  assert_int_equal(pb_db_schema_epoch(ro, &sa_Tag_type, &ep), PB_OK);
  assert_int_equal(ep, 1);
  assert_int_equal(space_stats(e.sp).commits, s0.commits + 1);
  pb_db_close(ro);
  env_close(&e);
  pb__simfs_free(e.sim);
}

static void open_types_registers(void **state) {
  (void)state;
  env e = {pb__simfs_new(), NULL, NULL};
  env_open(&e, false);
  pb_space_stats s0 = space_stats(e.sp);
  pb_db *db;
  assert_int_equal(pb_db_open_types(e.sp, "main", 0, sa_record_types,
                                    sa_record_types_count, &db),
                   PB_OK);
  assert_int_equal(space_stats(e.sp).commits, s0.commits + 1);
  pb_db_close(db);
  assert_int_equal(pb_db_open_types(e.sp, "main", 0, sa_record_types,
                                    sa_record_types_count, &db),
                   PB_OK);
  assert_int_equal(space_stats(e.sp).commits, s0.commits + 1);
  uint64_t ep1, ep2;
  assert_int_equal(pb_db_schema_epoch(db, &sa_Event_type, &ep1), PB_OK);
  assert_int_equal(pb_db_schema_epoch(db, &sa_Tag_type, &ep2), PB_OK);
  assert_true(ep1 == 1 && ep2 == 2);
  pb_db_close(db);
  /* Embedded records come along: evo2.Item embeds evo2.Detail. */
  const pb_record_type *item[] = {&evo2_Item_type};
  assert_int_equal(pb_db_register(e.db, item, 1), PB_OK);
  assert_int_equal(space_stats(e.sp).commits, s0.commits + 2);
  assert_int_equal(pb_db_schema_epoch(e.db, &evo2_Detail_type, &ep1), PB_OK);
  assert_int_equal(space_stats(e.sp).commits, s0.commits + 2);
  assert_int_equal(pb_db_register(e.db, NULL, 1), PB_EINVAL);
  assert_int_equal(pb_db_open_types(e.sp, "nope", 0, sa_record_types,
                                    sa_record_types_count, &db),
                   PB_ENOTFOUND);
  env_close(&e);
  pb__simfs_free(e.sim);
}

/* Loads the Detail atom as an Item and the Item atom as a Detail. */
static void assert_wrong_types(pb_txn *txn, pb_atom_ptr item,
                               pb_atom_ptr detail) {
  evo2_Item i;
  evo2_Detail d;
  pb_bytes body;
  assert_int_equal(evo2_Item_load(txn, detail, &i), PB_ESCHEMA);
  assert_true(detail_has("is a record of type 'evo2.Detail', not "
                         "'evo2.Item'"));
  assert_int_equal(evo2_Detail_load(txn, item, &d), PB_ESCHEMA);
  assert_true(detail_has("is a record of type 'evo2.Item', not "
                         "'evo2.Detail'"));
  assert_int_equal(pb_txn_load_record(txn, &evo2_Item_type, detail, &body),
                   PB_ESCHEMA);
  /* The right types still load. */
  assert_int_equal(evo2_Item_load(txn, item, &i), PB_OK);
  assert_true(i.id == 42);
  assert_int_equal(evo2_Detail_load(txn, detail, &d), PB_OK);
  assert_true(d.weight == -3);
}

static void type_ids(void **state) {
  (void)state;
  env e = {pb__simfs_new(), NULL, NULL};
  env_open(&e, false);
  evo2_Item it;
  evo2_Item_init(&it);
  it.id = 42;
  evo2_Detail d;
  evo2_Detail_init(&d);
  d.weight = -3;
  pb_atom_ptr pi, pd, untyped;
  pb_txn *txn;
  assert_int_equal(pb_txn_begin(e.db, 0, &txn), PB_OK);
  assert_int_equal(evo2_Item_put(txn, &it, &pi), PB_OK);
  assert_int_equal(evo2_Detail_put(txn, &d, &pd), PB_OK);
  assert_wrong_types(txn, pi, pd); /* in the writing transaction */
  /* An atom as written before type ids: PB__TYPE_RECORD_UNTYPED. */
  pb_buf body, b;
  pb_buf_init(&body);
  pb_buf_init(&b);
  assert_int_equal(evo2_Detail_encode(&d, &body), PB_OK);
  pb__atom_begin(&b, PB__TYPE_RECORD_UNTYPED);
  pb_buf_append(&b, body.data, body.len);
  assert_int_equal(pb__batch_add(&txn->batch, b.data, b.len, &untyped),
                   PB_OK);
  pb_buf_free(&body);
  pb_buf_free(&b);
  assert_int_equal(pb_txn_commit(txn), PB_OK);
  for (int round = 0; round < 2; round++) { /* after commit, and reopen */
    assert_int_equal(pb_txn_begin(e.db, PB_RDONLY, &txn), PB_OK);
    assert_wrong_types(txn, pi, pd);
    evo2_Item i;
    evo2_Detail dd;
    assert_int_equal(evo2_Detail_load(txn, untyped, &dd), PB_OK);
    assert_true(dd.weight == -3);
    /* Untyped: not refused by type, decoded as far as its fields allow,
     * as every record was before type ids (tag 2 is not a string). */
    assert_int_equal(evo2_Item_load(txn, untyped, &i), PB_ECORRUPT);
    pb_txn_abort(txn);
    env_close(&e);
    env_open(&e, false);
  }
  env_close(&e);
  pb__simfs_free(e.sim);
}

static void breaking_refused(void **state) {
  (void)state;
  env e = {pb__simfs_new(), NULL, NULL};
  env_open(&e, false);
  pb_db *db;
  assert_int_equal(pb_db_open_types(e.sp, "main", 0, sa_record_types,
                                    sa_record_types_count, &db),
                   PB_OK);
  pb_db_close(db);
  atoms a = put_all(e.db);
  pb_space_stats s0 = space_stats(e.sp);
  const char *why = "field 'created' (tag 1) changed type from 'int64' to "
                    "'uint64'";
  /* Registering: refused, nothing written. */
  assert_int_equal(pb_db_open_types(e.sp, "main", 0, sb_record_types,
                                    sb_record_types_count, &db),
                   PB_ESCHEMA);
  assert_true(detail_has("record 'sb.Event'"));
  assert_true(detail_has(why));
  const pb_record_type *t[] = {&sb_Event_type};
  assert_int_equal(pb_db_register(e.db, t, 1), PB_ESCHEMA);
  uint64_t ep;
  assert_int_equal(pb_db_schema_epoch(e.db, &sb_Event_type, &ep), PB_ESCHEMA);
  assert_int_equal(space_stats(e.sp).commits, s0.commits);
  /* Putting: refused. */
  pb_txn *txn;
  sb_Event ev;
  sb_Event_init(&ev);
  pb_atom_ptr p;
  assert_int_equal(pb_txn_begin(e.db, 0, &txn), PB_OK);
  assert_int_equal(sb_Event_put(txn, &ev, &p), PB_ESCHEMA);
  assert_true(detail_has(why));
  pb_txn_abort(txn);
  /* Loading an old atom: refused, never 14 for 7. */
  for (int round = 0; round < 2; round++) {
    assert_int_equal(pb_txn_begin(e.db, round ? 0 : PB_RDONLY, &txn), PB_OK);
    ev.created = 0;
    assert_int_equal(sb_Event_load(txn, a.event, &ev), PB_ESCHEMA);
    assert_true(detail_has(why));
    assert_true(ev.created != 14);
    pb_txn_abort(txn);
  }
  assert_int_equal(space_stats(e.sp).commits, s0.commits);
  env_close(&e);
  pb__simfs_free(e.sim);
}

static void read_only_storage(void **state) {
  (void)state;
  env e = {pb__simfs_new(), NULL, NULL};
  env_open(&e, false);
  atoms a = put_all(e.db);
  env_close(&e);
  env_open(&e, true);
  pb__simfs_reset_counts(e.sim);
  pb_txn *txn;
  assert_int_equal(pb_txn_begin(e.db, PB_RDONLY, &txn), PB_OK);
  assert_int_equal(load_all(txn, &a), 5);
  sb_Event ev;
  assert_int_equal(sb_Event_load(txn, a.event, &ev), PB_ESCHEMA);
  pb_txn_abort(txn);
  uint64_t ep;
  assert_int_equal(pb_db_schema_epoch(e.db, &evo2_Item_type, &ep), PB_OK);
  assert_true(ep >= (uint64_t)1 << 32); /* local: never registered */
  assert_int_equal(pb_db_schema_epoch(e.db, &sa_Event_type, &ep), PB_OK);
  assert_true(ep < (uint64_t)1 << 32);
  const pb_record_type *t[] = {&sb_Event_type};
  assert_int_equal(pb_db_register(e.db, t, 1), PB_ESCHEMA);
  assert_true(detail_has("changed type from 'int64' to 'uint64'"));
  assert_int_equal(pb_db_register(e.db, evo2_record_types,
                                  evo2_record_types_count),
                   PB_OK);
  assert_int_equal(writes(e.sim), 0);
  env_close(&e);
  pb__simfs_free(e.sim);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(loads_never_write),
      cmocka_unit_test(put_registers_in_txn),
      cmocka_unit_test(open_types_registers),
      cmocka_unit_test(type_ids),
      cmocka_unit_test(breaking_refused),
      cmocka_unit_test(read_only_storage),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
