/*
 * tools/pbtool/cmd_stats.c - `pbtool stats DIR`: storage figures, and the
 * atom caches' figures after one read of everything.
 */
#include <inttypes.h>
#include <string.h>

#include "pbtool.h"

static const char help[] =
    "Usage: pbtool stats DIR\n"
    "Prints storage figures (segments, bytes on disk, live bytes that the\n"
    "root reaches, atoms, LSN, torn tail) and then reads every table's\n"
    "rows once, through a space with the default caches, and prints the\n"
    "figures of its two atom caches (bytes cache,\n"
    "object cache: lookups, hits, misses, hit ratio, entries, bytes,\n"
    "evictions, loads and their mean time), and per database its tables'\n"
    "row counts.  Opens the store read-only.\n"
    "Exit codes: 0 done, 1 the store is damaged, 2 usage or I/O error.\n";

static void cache(const char *name, const pb_cache_stats *c) {
  printf("%s cache: %" PRIu64 " hits, %" PRIu64 " misses (hit ratio %.3f), %"
         PRIu64 " entries, %" PRIu64 " bytes of %" PRIu64 ", %" PRIu64
         " evictions, %" PRIu64 " loads (%.0f ns each)\n", name, c->hits,
         c->misses, c->hit_ratio, c->entries, c->bytes, c->max_bytes,
         c->evictions, c->loads,
         c->loads ? (double)c->load_ns / (double)c->loads : 0.0);
}

int pbt_cmd_stats(int argc, char **argv) {
  if (pbt_wants_help(argc, argv, help)) return PBT_EXIT_OK;
  if (argc != 2) {
    pbt_err("stats", "needs one argument: DIR (try --help)");
    return PBT_EXIT_USAGE;
  }
  const char *dir = argv[1];
  pbt_store s;
  int ex = pbt_open("stats", dir, false, &s);
  if (ex != PBT_EXIT_OK) return ex;
  char **segs;
  uint64_t *sizes, total = 0;
  int n = pbt_segments(dir, &segs, &sizes);
  for (int i = 0; i < n; i++) total += sizes[i];
  pbt_segments_free(segs, sizes, n < 0 ? 0 : n);
  printf("segments: %d, %" PRIu64 " bytes\n", n < 0 ? 0 : n, total);

  pbt_out quiet = {NULL, false, 0};
  pbt_progress prog;
  pbt_walk w;
  memset(&w, 0, sizeof w);
  w.report = &quiet;
  w.progress = &prog;
  pbt_progress_start(&prog, "stats", total);
  int rc = pbt_walk_atoms(s.st, &w);
  pbt_progress_end(&prog);
  if (rc == PB_OK)
    printf("live: %" PRIu64 " bytes in %" PRIu64 " atoms (%.1f%% of the "
           "files)\n", w.bytes, w.atoms,
           total ? 100.0 * (double)w.bytes / (double)total : 0.0);
  pb_recovery_info ri;
  if (pb_storage_recovery_info(s.st, &ri) == PB_OK)
    printf("lsn: %" PRIu64 ", torn tail: %" PRIu64 " bytes\n", ri.lsn,
           ri.tail_bytes);

  pbt_names dbs = {NULL, 0};
  if (rc == PB_OK) rc = pbt_databases(s.sp, &dbs);
  for (size_t i = 0; rc == PB_OK && i < dbs.n; i++) {
    pbt_dbview v;
    if ((rc = pbt_db_begin(s.sp, dbs.v[i], &v)) != PB_OK) break;
    uint64_t rows = 0;
    for (size_t t = 0; rc == PB_OK && t < v.cat.n_tables; t++) {
      void *d;
      uint64_t nr = 0;
      rc = pbt_open_hidden(v.txn, 't', v.cat.tables[t].id, NULL,
                           PB_VALUE_DICT, &d);
      if (rc == PB_OK) {
        rc = pb_dict_count(d, &nr);
        if (rc == PB_OK) rc = pbt_print_coll(&quiet, &v.cat, PB_VALUE_DICT, d);
      } else if (rc == PB_ENOTFOUND) {
        rc = PB_OK;
      }
      rows += nr;
    }
    printf("database %s: %zu record types, %zu tables, %" PRIu64 " rows, %zu "
           "other values\n", dbs.v[i], v.cat.n_types, v.cat.n_tables, rows,
           v.cat.n_values);
    pbt_db_end(&v);
  }
  pbt_names_free(&dbs);
  pb_cache_stats bytes, objects;
  if (rc == PB_OK && pb_space_cache_stats(s.sp, &bytes, &objects) == PB_OK) {
    cache("bytes", &bytes);
    cache("object", &objects);
  }
  if (rc != PB_OK) {
    pbt_err("stats", "%s: %s (%s)", dir, pb_strerror(rc), pb_errdetail());
    ex = pbt_exit_for(rc);
  }
  pbt_close(&s);
  return ex;
}
