/*
 * tools/pbtool/cmd_verify.c - `pbtool verify DIR`: every reachable atom,
 * and every table against its indexes, checked without generated code:
 * keys and index entries are derived from the record bodies by the
 * catalog's field layouts (record.c), as the generated key functions
 * build them from the structs.
 *
 * Each problem is one line on stdout, with its location:
 *   atom seg-0000000001.wal offset 4242: does not decode (...)
 *   database main, table shop.Order, key id=7, index customer: ...
 */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "pbtool.h"
#include "table/table_int.h"

static const char help[] =
    "Usage: pbtool verify DIR\n"
    "Checks the store at DIR, opened read-only:\n"
    "  - every frame's checksum (the open reads and checks every segment);\n"
    "  - every atom the root reaches: it is there, its envelope, the values\n"
    "    of each collection node and the fields of each record decode;\n"
    "  - every collection of every database reads whole;\n"
    "  - every table: each row decodes by its record type's cataloged\n"
    "    layout and is stored under its own key, each index has exactly\n"
    "    one entry per row naming it, and no other (stale) entry.\n"
    "Each problem is printed on stdout with its location: the segment\n"
    "file and offset of an atom, or the database, table, key and index.\n"
    "A store too damaged to open (a bad checksum, a missing segment) is\n"
    "then read in salvage mode: each piece of damage is printed with its\n"
    "file and offset (\"damage: ...\"), and the last commit that verifies\n"
    "is checked as above.\n"
    "Exit codes: 0 no problem, 1 problems found (or the store does not\n"
    "open because it is damaged), 2 usage or I/O error.\n";

typedef struct vctx {
  pbt_dbview *v;
  pbt_out *out;
  uint64_t problems, rows;
  pb_keybuf kb;
} vctx;

static void problem(vctx *x, const pbt_table *t, const char *key,
                    const char *index, const char *fmt, const char *detail) {
  x->problems++;
  pbt_printf(x->out, "database %s, table %s (type id %u)", x->v->name,
             t->type ? t->type->name : "?", t->id);
  if (key) pbt_printf(x->out, ", %s", key);
  if (index) pbt_printf(x->out, ", index %s", index);
  pbt_printf(x->out, ": %s", fmt);
  if (detail && *detail) pbt_printf(x->out, " (%s)", detail);
  pbt_puts(x->out, "\n");
}

static bool pk_of(pb_str k, uint8_t *buf, pb_bytes *pk) {
  size_t n;
  if (pb__keyunpack((const uint8_t *)k.ptr, k.len, buf, &n) != PB_OK)
    return false;
  *pk = (pb_bytes){buf, n};
  return true;
}

static bool known_version(const pbt_type *t, uint64_t fp) {
  for (size_t i = 0; t && i < t->n_versions; i++)
    if (t->fps[i] == fp) return true;
  return false;
}

/* One row against its key and every index. */
static int check_row(vctx *x, const pbt_table *t, void **ix, pb_bytes pk,
                     const pb_value *v, const char *kt) {
  pbt_catalog *c = &x->v->cat;
  pbt_out quiet = {NULL, false, 0};
  if (v->kind != PB_VALUE_RECORD) {
    problem(x, t, kt, NULL, "the row is not a record", NULL);
    return PB_OK;
  }
  if (t->type && !known_version(t->type, v->as.rec.fingerprint)) {
    char m[120];
    snprintf(m, sizeof m, "the row's fingerprint %016" PRIx64
             " is not a cataloged version of its type",
             v->as.rec.fingerprint);
    problem(x, t, kt, NULL, m, NULL);
  }
  pb_bytes body = v->as.rec.body;
  int rc = pbt_print_record(&quiet, c, t->type, body, false);
  if (rc != PB_OK) {
    problem(x, t, kt, NULL, "the row does not decode", pb_errdetail());
    return PB_OK;
  }
  if (!t->keyless) {
    rc = pbt_record_key(c, t->type, body, &x->kb);
    if (rc != PB_OK)
      problem(x, t, kt, NULL, "the row's key does not encode",
              pb_strerror(rc));
    else if (x->kb.len != pk.len || memcmp(x->kb.ptr, pk.ptr, pk.len) != 0)
      problem(x, t, kt, NULL, "the row is stored under another key", NULL);
  } else {
    pb_keyreader r;
    uint64_t id;
    pb_keyreader_init(&r, pk.ptr, pk.len);
    if (pb_key_get_u64(&r, &id) != PB_OK || pb_key_expect_end(&r) != PB_OK)
      problem(x, t, kt, NULL, "the row's key is not an id", NULL);
    else if (t->next_id && id >= t->next_id)
      problem(x, t, kt, NULL, "the row's id is not below the next id", NULL);
  }
  for (size_t i = 0; i < t->n_idx; i++) {
    if (!ix[i]) continue;
    const pbt_index *d = &t->idx[i];
    rc = pbt_index_entry(c, t->type, d, body, pk, &x->kb);
    if (rc != PB_OK) {
      problem(x, t, kt, d->name, "the row's entry does not encode",
              pb_strerror(rc));
      continue;
    }
    pb__pkey e;
    if (pb__pkey_set(&e, pb_keybuf_bytes(&x->kb)) != PB_OK) {
      problem(x, t, kt, d->name, "the row's entry is too long", NULL);
      continue;
    }
    pb_value ev;
    rc = pb_dict_get(ix[i], pb__pkey_str(&e), &ev);
    if (rc == PB_ENOTFOUND) {
      problem(x, t, kt, d->name, "the row has no index entry", NULL);
    } else if (rc != PB_OK) {
      return rc;
    } else if (ev.kind != PB_VALUE_BYTES || ev.as.bytes.len != pk.len ||
               memcmp(ev.as.bytes.ptr, pk.ptr, pk.len) != 0) {
      problem(x, t, kt, d->name, "the row's index entry names another row",
              NULL);
    }
  }
  return PB_OK;
}

/* Every entry of index i names a row whose entry it is. */
static int check_entries(vctx *x, const pbt_table *t, void *rows, void *ix,
                         const pbt_index *d, uint8_t *buf, uint8_t *buf2) {
  pb_dict_iter *it;
  int rc = pb_dict_iter_open(ix, NULL, 0, &it);
  if (rc != PB_OK) return rc;
  pb_str k;
  pb_value v;
  char kt[400];
  while ((rc = pb_dict_iter_next(it, &k, &v)) == PB_OK) {
    pb_bytes ek;
    if (!pk_of(k, buf2, &ek)) {
      problem(x, t, NULL, d->name, "an entry key that is not packed", NULL);
      continue;
    }
    if (v.kind != PB_VALUE_BYTES) {
      problem(x, t, NULL, d->name, "an entry whose value is not a key",
              NULL);
      continue;
    }
    pb_bytes pk = v.as.bytes;
    pbt_key_text(&x->v->cat, t, pk, kt, sizeof kt);
    pb__pkey pp;
    pb_value row;
    if (pb__pkey_set(&pp, pk) != PB_OK ||
        (rc = rows ? pb_dict_get(rows, pb__pkey_str(&pp), &row)
                   : PB_ENOTFOUND) == PB_ENOTFOUND) {
      problem(x, t, kt, d->name, "a stale entry: its row does not exist",
              NULL);
      rc = PB_OK;
      continue;
    }
    if (rc != PB_OK) break;
    if (row.kind != PB_VALUE_RECORD) continue; /* reported with the row */
    memcpy(buf, pk.ptr, pk.len);
    if (pbt_index_entry(&x->v->cat, t->type, d, row.as.rec.body,
                        (pb_bytes){buf, pk.len}, &x->kb) != PB_OK)
      continue; /* reported with the row */
    if (x->kb.len != ek.len || memcmp(x->kb.ptr, ek.ptr, ek.len) != 0)
      problem(x, t, kt, d->name,
              "a stale entry: the row's values are not the entry's", NULL);
  }
  pb_dict_iter_close(it);
  return rc == PB_ENOTFOUND ? PB_OK : rc;
}

/* Member collections: each belongs to a row and reads whole. */
static int check_members(vctx *x, const pbt_table *t, void *rows,
                         uint8_t *buf) {
  for (size_t m = 0; m < t->n_members; m++) {
    char tail[16];
    void *md;
    snprintf(tail, sizeof tail, ":%u", t->members[m]);
    int rc = pbt_open_hidden(x->v->txn, 'm', t->id, tail, PB_VALUE_DICT, &md);
    if (rc != PB_OK) return rc;
    pb_dict_iter *it;
    if ((rc = pb_dict_iter_open(md, NULL, 0, &it)) != PB_OK) return rc;
    pb_str k;
    pb_value v;
    char kt[400];
    while ((rc = pb_dict_iter_next(it, &k, &v)) == PB_OK) {
      pb_bytes pk;
      if (!pk_of(k, buf, &pk)) {
        problem(x, t, NULL, NULL, "a member collection key is not packed",
                NULL);
        continue;
      }
      pbt_key_text(&x->v->cat, t, pk, kt, sizeof kt);
      pb_value row;
      if (!rows || pb_dict_get(rows, k, &row) == PB_ENOTFOUND)
        problem(x, t, kt, NULL, "a member collection of a row that does "
                "not exist", NULL);
      if (!pb_value_is_collection(v.kind)) {
        problem(x, t, kt, NULL, "a member that is not a collection", NULL);
        continue;
      }
      pb_value wrapped = v;
      pbt_out quiet = {NULL, false, 0};
      void *h = NULL;
      switch (v.kind) {
      case PB_VALUE_DICT: rc = pb_dict_open_dict(md, k, 0, (pb_dict **)&h); break;
      case PB_VALUE_LIST: rc = pb_dict_open_list(md, k, 0, (pb_list **)&h); break;
      case PB_VALUE_SET: rc = pb_dict_open_set(md, k, 0, (pb_set **)&h); break;
      default: rc = pb_dict_open_hdict(md, k, 0, (pb_hdict **)&h); break;
      }
      if (rc == PB_OK) rc = pbt_print_value(&quiet, &x->v->cat, &wrapped, h);
      if (rc != PB_OK) {
        problem(x, t, kt, NULL, "a member collection does not read",
                pb_errdetail());
        rc = PB_OK;
      }
    }
    pb_dict_iter_close(it);
    if (rc != PB_ENOTFOUND) return rc;
  }
  return PB_OK;
}

static int check_table(vctx *x, const pbt_table *t) {
  void *rows = NULL, *ix[64] = {0};
  int rc = pbt_open_hidden(x->v->txn, 't', t->id, NULL, PB_VALUE_DICT, &rows);
  if (rc == PB_ENOTFOUND) rows = NULL;
  else if (rc != PB_OK) return rc;
  if (!t->type || !t->type->has_layout) {
    /* a catalog written before layouts: not damage, but unchecked */
    pbt_printf(x->out, "note: database %s, table %u: the catalog has no "
               "layout for its type (written before layouts were kept); "
               "its rows and indexes were not checked\n", x->v->name, t->id);
    return PB_OK;
  }
  uint64_t n_rows = 0;
  if (rows && (rc = pb_dict_count(rows, &n_rows)) != PB_OK) return rc;
  for (size_t i = 0; i < t->n_idx && i < 64; i++) {
    char tail[300];
    snprintf(tail, sizeof tail, ":%s", t->idx[i].name);
    rc = pbt_open_hidden(x->v->txn, 'i', t->id, tail, PB_VALUE_DICT, &ix[i]);
    if (rc == PB_ENOTFOUND) {
      ix[i] = NULL;
      if (n_rows) problem(x, t, NULL, t->idx[i].name,
                          "the index is declared but not built", NULL);
    } else if (rc != PB_OK) {
      return rc;
    }
  }
  /* room for any Dictionary key unpacked (at most PB_KEY_MAX bytes) */
  uint8_t *buf = malloc(PB_KEY_MAX + 64);
  uint8_t *buf2 = malloc(PB_KEY_MAX + 64);
  if (!buf || !buf2) rc = PB_ENOMEM;
  if (rows && rc == PB_OK) {
    pb_dict_iter *it;
    if ((rc = pb_dict_iter_open(rows, NULL, 0, &it)) == PB_OK) {
      pb_str k;
      pb_value v;
      char kt[400];
      while ((rc = pb_dict_iter_next(it, &k, &v)) == PB_OK) {
        pb_bytes pk;
        x->rows++;
        if (!pk_of(k, buf, &pk)) {
          problem(x, t, NULL, NULL, "a row key that is not packed", NULL);
          continue;
        }
        pbt_key_text(&x->v->cat, t, pk, kt, sizeof kt);
        if ((rc = check_row(x, t, ix, pk, &v, kt)) != PB_OK) break;
      }
      pb_dict_iter_close(it);
      if (rc == PB_ENOTFOUND) rc = PB_OK;
    }
  }
  for (size_t i = 0; rc == PB_OK && i < t->n_idx && i < 64; i++)
    if (ix[i]) rc = check_entries(x, t, rows, ix[i], &t->idx[i], buf, buf2);
  if (rc == PB_OK) rc = check_members(x, t, rows, buf);
  free(buf);
  free(buf2);
  return rc;
}

/* The database's own values and collections read whole. */
static int check_values(vctx *x) {
  pbt_out quiet = {NULL, false, 0};
  for (size_t i = 0; i < x->v->cat.n_values; i++) {
    const char *name = x->v->cat.values[i];
    pb_value v;
    int rc = pb_txn_get(x->v->txn, name, &v);
    void *h = NULL;
    if (rc == PB_OK) {
      switch (v.kind) {
      case PB_VALUE_DICT: rc = pb_txn_open_dict(x->v->txn, name, 0, (pb_dict **)&h); break;
      case PB_VALUE_LIST: rc = pb_txn_open_list(x->v->txn, name, 0, (pb_list **)&h); break;
      case PB_VALUE_SET: rc = pb_txn_open_set(x->v->txn, name, 0, (pb_set **)&h); break;
      case PB_VALUE_HASHDICT: rc = pb_txn_open_hdict(x->v->txn, name, 0, (pb_hdict **)&h); break;
      default: break;
      }
    }
    if (rc == PB_OK) rc = pbt_print_value(&quiet, &x->v->cat, &v, h);
    if (rc == PB_ENOMEM) return rc;
    if (rc != PB_OK) {
      x->problems++;
      pbt_printf(x->out, "database %s, value %s: does not read: %s (%s)\n",
                 x->v->name, name, pb_strerror(rc), pb_errdetail());
    }
  }
  return PB_OK;
}

int pbt_cmd_verify(int argc, char **argv) {
  if (pbt_wants_help(argc, argv, help)) return PBT_EXIT_OK;
  if (argc != 2) {
    pbt_err("verify", "needs one argument: DIR (try --help)");
    return PBT_EXIT_USAGE;
  }
  const char *dir = argv[1];
  pbt_store s;
  int ex = pbt_open("verify", dir, false, &s);
  uint64_t damage = 0;
  if (ex == PBT_EXIT_PROBLEMS) {
    /* damaged: read what verifies, in salvage mode, and check that */
    pb_salvage_report rep;
    if (pbt_open_salvage(dir, &s, &rep) != PB_OK) return ex;
    pbt_print_damage(&rep);
    damage = rep.n_damage ? rep.n_damage : 1;
    printf("verify: checking the last commit that verifies (lsn %" PRIu64
           ") in salvage mode\n", rep.lsn);
  } else if (ex != PBT_EXIT_OK) {
    return ex;
  }
  pbt_out out = {stdout, false, 0};

  char **segs;
  uint64_t *sizes, total = 0;
  int n = pbt_segments(dir, &segs, &sizes);
  for (int i = 0; i < n; i++) total += sizes[i];
  pbt_segments_free(segs, sizes, n < 0 ? 0 : n);

  pbt_progress prog;
  pbt_walk w;
  memset(&w, 0, sizeof w);
  w.report = &out;
  w.progress = &prog;
  pbt_progress_start(&prog, "atoms", total);
  int rc = pbt_walk_atoms(s.st, &w);
  pbt_progress_end(&prog);
  uint64_t problems = w.problems + damage, tables = 0, rows = 0;

  pbt_names dbs = {NULL, 0};
  if (rc == PB_OK) rc = pbt_databases(s.sp, &dbs);
  pbt_progress_start(&prog, "tables", dbs.n);
  for (size_t i = 0; rc == PB_OK && i < dbs.n; i++) {
    pbt_dbview v;
    rc = pbt_db_begin(s.sp, dbs.v[i], &v);
    if (rc != PB_OK) {
      if (rc == PB_ENOMEM || rc == PB_EIO) break;
      problems++;
      printf("database %s: does not read: %s (%s)\n", dbs.v[i],
             pb_strerror(rc), pb_errdetail());
      rc = PB_OK;
      continue;
    }
    vctx x;
    memset(&x, 0, sizeof x);
    x.v = &v;
    x.out = &out;
    pb_keybuf_init(&x.kb);
    for (size_t t = 0; rc == PB_OK && t < v.cat.n_tables; t++) {
      tables++;
      rc = check_table(&x, &v.cat.tables[t]);
      if (rc != PB_OK && rc != PB_ENOMEM && rc != PB_EIO) {
        problem(&x, &v.cat.tables[t], NULL, NULL, "does not read",
                pb_errdetail());
        rc = PB_OK;
      }
    }
    if (rc == PB_OK) rc = check_values(&x);
    pb_keybuf_free(&x.kb);
    problems += x.problems;
    rows += x.rows;
    pbt_db_end(&v);
    pbt_progress_set(&prog, i + 1);
  }
  pbt_progress_end(&prog);
  pbt_names_free(&dbs);
  if (rc != PB_OK) {
    pbt_err("verify", "%s: %s (%s)", dir, pb_strerror(rc), pb_errdetail());
    ex = PBT_EXIT_USAGE;
  } else {
    printf("verify: %" PRIu64 " atoms (%" PRIu64 " bytes), %" PRIu64
           " tables, %" PRIu64 " rows checked: %" PRIu64 " problem%s\n",
           w.atoms, w.bytes, tables, rows, problems,
           problems == 1 ? "" : "s");
    ex = problems ? PBT_EXIT_PROBLEMS : PBT_EXIT_OK;
  }
  pbt_close(&s);
  return ex;
}
