/*
 * tools/pbtool/cmd_dump.c - `pbtool dump DIR [--db NAME] [--table T]
 * [--json]`: the contents of a store, records decoded by field name from
 * the catalog's layouts (values.c says how values print).
 */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "pbtool.h"
#include "table/keypack.h"

static const char help[] =
    "Usage: pbtool dump DIR [--db NAME] [--table TYPE] [--json]\n"
    "Prints the contents of the store at DIR (opened read-only): per\n"
    "database, each table's rows in key order (with their member\n"
    "collections) and the database's other named values and collections.\n"
    "Records are printed field by field, by name, from the record type's\n"
    "layout in the catalog; a field the layout does not know prints as\n"
    "\"#TAG\".\n"
    "  --db NAME      only database NAME\n"
    "  --table TYPE   only the table of record type TYPE (\"shop.Order\");\n"
    "                 other values are then left out\n"
    "  --json         one JSON document: strings escaped, bytes as\n"
    "                 lowercase hex strings, atom pointers as\n"
    "                 \"@<batch id>+<offset>\" in hex, a non-finite float as\n"
    "                 \"nan\", \"inf\" or \"-inf\"\n"
    "Exit codes: 0 done, 1 the store is damaged (what was printed before\n"
    "the damage stands; JSON output is then incomplete), 2 usage or I/O\n"
    "error.\n";

typedef struct dctx {
  pbt_out *o;
  pbt_dbview *v;
  const char *table;
  pbt_progress *prog;
  uint64_t done;
} dctx;

static void nl(pbt_out *o, int indent) {
  if (o->json) return;
  pbt_puts(o, "\n");
  for (int i = 0; i < indent; i++) pbt_puts(o, "  ");
}

static int open_member(void *md, pb_str k, pb_value_kind kind, void **h) {
  switch (kind) {
  case PB_VALUE_DICT: return pb_dict_open_dict(md, k, 0, (pb_dict **)h);
  case PB_VALUE_LIST: return pb_dict_open_list(md, k, 0, (pb_list **)h);
  case PB_VALUE_SET: return pb_dict_open_set(md, k, 0, (pb_set **)h);
  case PB_VALUE_HASHDICT: return pb_dict_open_hdict(md, k, 0, (pb_hdict **)h);
  default: *h = NULL; return PB_OK;
  }
}

static int members(dctx *x, const pbt_table *t, pb_str k, void **md) {
  pbt_out *o = x->o;
  bool first = true;
  for (size_t m = 0; m < t->n_members; m++) {
    if (!md[m]) continue;
    pb_value v;
    int rc = pb_dict_get(md[m], k, &v);
    if (rc == PB_ENOTFOUND) continue;
    if (rc != PB_OK) return rc;
    void *h;
    if ((rc = open_member(md[m], k, v.kind, &h)) != PB_OK) return rc;
    if (o->json) pbt_puts(o, first ? ", \"members\": {" : ", ");
    else nl(o, 3);
    first = false;
    const pb__lfield *f = t->type && t->type->has_layout
                              ? pbt_field(&t->type->layout, t->members[m])
                              : NULL;
    char tagname[16];
    snprintf(tagname, sizeof tagname, "#%u", t->members[m]);
    if (o->json) {
      if (f) pbt_str(o, f->name.ptr, f->name.len);
      else pbt_str(o, tagname, strlen(tagname));
      pbt_puts(o, ": ");
    } else {
      if (f) pbt_printf(o, "%.*s: ", (int)f->name.len, f->name.ptr);
      else pbt_printf(o, "%s: ", tagname);
    }
    if ((rc = pbt_print_value(o, &x->v->cat, &v, h)) != PB_OK) return rc;
  }
  if (o->json && !first) pbt_puts(o, "}");
  return PB_OK;
}

static int dump_table(dctx *x, const pbt_table *t, bool first_table) {
  pbt_out *o = x->o;
  const char *name = t->type ? t->type->name : "?";
  void *rows = NULL, *md[64] = {0};
  int rc = pbt_open_hidden(x->v->txn, 't', t->id, NULL, PB_VALUE_DICT, &rows);
  if (rc == PB_ENOTFOUND) rows = NULL;
  else if (rc != PB_OK) return rc;
  for (size_t m = 0; m < t->n_members && m < 64; m++) {
    char tail[16];
    snprintf(tail, sizeof tail, ":%u", t->members[m]);
    rc = pbt_open_hidden(x->v->txn, 'm', t->id, tail, PB_VALUE_DICT, &md[m]);
    if (rc == PB_ENOTFOUND) md[m] = NULL;
    else if (rc != PB_OK) return rc;
  }
  if (o->json) {
    pbt_puts(o, first_table ? "" : ", ");
    pbt_puts(o, "{\"type\": ");
    pbt_str(o, name, strlen(name));
    pbt_printf(o, ", \"type_id\": %u, \"rows\": [", t->id);
  } else {
    pbt_printf(o, "  table %s (type id %u)\n", name, t->id);
  }
  uint8_t *buf = malloc(PB_KEY_MAX + 64); /* any Dictionary key unpacks */
  if (!buf) return PB_ENOMEM;
  bool first = true;
  if (rows) {
    pb_dict_iter *it;
    if ((rc = pb_dict_iter_open(rows, NULL, 0, &it)) != PB_OK) {
      free(buf);
      return rc;
    }
    pb_str k;
    pb_value v;
    char kt[400];
    while ((rc = pb_dict_iter_next(it, &k, &v)) == PB_OK) {
      size_t n;
      if (pb__keyunpack((const uint8_t *)k.ptr, k.len, buf, &n) != PB_OK) {
        rc = PB_ECORRUPT;
        break;
      }
      pbt_key_text(&x->v->cat, t, (pb_bytes){buf, n}, kt, sizeof kt);
      if (o->json) {
        pbt_puts(o, first ? "{\"key\": " : ", {\"key\": ");
        if (t->keyless && strncmp(kt, "id=", 3) == 0)
          pbt_puts(o, kt + 3);
        else
          pbt_hex(o, buf, n);
        pbt_puts(o, ", \"record\": ");
      } else {
        pbt_printf(o, "    %s ", kt);
      }
      first = false;
      if (v.kind == PB_VALUE_RECORD)
        rc = pbt_print_record(o, &x->v->cat, t->type, v.as.rec.body, false);
      else
        rc = pbt_print_value(o, &x->v->cat, &v, NULL);
      if (rc == PB_OK) rc = members(x, t, k, md);
      if (rc != PB_OK) break;
      pbt_puts(o, o->json ? "}" : "\n");
      pbt_progress_set(x->prog, ++x->done);
    }
    pb_dict_iter_close(it);
    if (rc == PB_ENOTFOUND) rc = PB_OK;
  }
  free(buf);
  if (o->json) pbt_puts(o, "]}");
  return rc;
}

static int dump_values(dctx *x) {
  pbt_out *o = x->o;
  pb_txn *txn = x->v->txn;
  int rc = PB_OK;
  for (size_t i = 0; rc == PB_OK && i < x->v->cat.n_values; i++) {
    const char *name = x->v->cat.values[i];
    pb_value v;
    void *h = NULL;
    if ((rc = pb_txn_get(txn, name, &v)) != PB_OK) break;
    switch (v.kind) {
    case PB_VALUE_DICT: rc = pb_txn_open_dict(txn, name, 0, (pb_dict **)&h); break;
    case PB_VALUE_LIST: rc = pb_txn_open_list(txn, name, 0, (pb_list **)&h); break;
    case PB_VALUE_SET: rc = pb_txn_open_set(txn, name, 0, (pb_set **)&h); break;
    case PB_VALUE_HASHDICT: rc = pb_txn_open_hdict(txn, name, 0, (pb_hdict **)&h); break;
    default: break;
    }
    if (rc != PB_OK) break;
    if (o->json) {
      pbt_puts(o, i ? ", " : "");
      pbt_str(o, name, strlen(name));
      pbt_puts(o, ": ");
    } else {
      pbt_printf(o, "  value %s: ", name);
    }
    rc = pbt_print_value(o, &x->v->cat, &v, h);
    if (!o->json) pbt_puts(o, "\n");
  }
  return rc;
}

static int dump_db(dctx *x) {
  pbt_out *o = x->o;
  int rc = PB_OK;
  if (o->json) {
    pbt_puts(o, "{\"name\": ");
    pbt_str(o, x->v->name, strlen(x->v->name));
    pbt_puts(o, ", \"tables\": [");
  } else {
    pbt_printf(o, "database %s\n", x->v->name);
  }
  bool first = true;
  for (size_t i = 0; rc == PB_OK && i < x->v->cat.n_tables; i++) {
    const pbt_table *t = &x->v->cat.tables[i];
    if (x->table && (!t->type || strcmp(t->type->name, x->table) != 0))
      continue;
    rc = dump_table(x, t, first);
    first = false;
  }
  if (o->json) pbt_puts(o, "], \"values\": {");
  if (rc == PB_OK && !x->table) rc = dump_values(x);
  if (o->json) pbt_puts(o, "}}");
  return rc;
}

int pbt_cmd_dump(int argc, char **argv) {
  if (pbt_wants_help(argc, argv, help)) return PBT_EXIT_OK;
  const char *dir = NULL, *db = NULL, *table = NULL;
  bool json = false;
  for (int i = 1; i < argc; i++) {
    if (strcmp(argv[i], "--json") == 0) {
      json = true;
    } else if ((strcmp(argv[i], "--db") == 0 ||
                strcmp(argv[i], "--table") == 0) && i + 1 < argc) {
      *(argv[i][2] == 'd' ? &db : &table) = argv[i + 1];
      i++;
    } else if (argv[i][0] == '-' || dir) {
      pbt_err("dump", "unexpected argument '%s' (try --help)", argv[i]);
      return PBT_EXIT_USAGE;
    } else {
      dir = argv[i];
    }
  }
  if (!dir) {
    pbt_err("dump", "needs DIR (try --help)");
    return PBT_EXIT_USAGE;
  }
  pbt_store s;
  int ex = pbt_open("dump", dir, false, &s);
  if (ex != PBT_EXIT_OK) return ex;
  pbt_out o = {stdout, json, 0};
  pbt_names dbs;
  int rc = pbt_databases(s.sp, &dbs);
  if (rc == PB_OK && db) {
    bool found = false;
    for (size_t i = 0; i < dbs.n; i++) found |= strcmp(dbs.v[i], db) == 0;
    if (!found) {
      pbt_err("dump", "%s: no database '%s'", dir, db);
      pbt_names_free(&dbs);
      pbt_close(&s);
      return PBT_EXIT_USAGE;
    }
  }
  pbt_progress prog;
  pbt_progress_start(&prog, "dump", 0);
  if (o.json) {
    pbt_puts(&o, "{\"store\": ");
    pbt_str(&o, dir, strlen(dir));
    pbt_puts(&o, ", \"databases\": [");
  }
  bool first = true;
  for (size_t i = 0; rc == PB_OK && i < dbs.n; i++) {
    if (db && strcmp(dbs.v[i], db) != 0) continue;
    pbt_dbview v;
    if ((rc = pbt_db_begin(s.sp, dbs.v[i], &v)) != PB_OK) break;
    /* the progress bar counts rows */
    for (size_t t = 0; t < v.cat.n_tables; t++) {
      void *rows;
      uint64_t n;
      if (pbt_open_hidden(v.txn, 't', v.cat.tables[t].id, NULL,
                          PB_VALUE_DICT, &rows) == PB_OK &&
          pb_dict_count(rows, &n) == PB_OK)
        prog.total += n;
    }
    dctx x = {&o, &v, table, &prog, 0};
    if (o.json && !first) pbt_puts(&o, ", ");
    first = false;
    rc = dump_db(&x);
    pbt_db_end(&v);
  }
  pbt_names_free(&dbs);
  if (o.json) pbt_puts(&o, "]}\n");
  pbt_progress_end(&prog);
  if (rc != PB_OK) {
    pbt_err("dump", "%s: %s (%s)", dir, pb_strerror(rc), pb_errdetail());
    ex = pbt_exit_for(rc);
  }
  pbt_close(&s);
  return ex;
}
