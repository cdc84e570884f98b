/*
 * tools/pbtool/cmd_info.c - `pbtool info DIR`: what a store holds and how
 * it is laid out.
 */
#include <fcntl.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "pbtool.h"
#include "storage/file_format.h"
#include "storage/storage.h"

static const char help[] =
    "Usage: pbtool info DIR\n"
    "Prints the store's format version, its segment files and sizes, the\n"
    "live bytes (every atom the root reaches, read to count them) and the\n"
    "rest (old versions, framing, preallocated space), the root and its\n"
    "LSN, what the open's recovery found (a torn tail), and per database:\n"
    "the record types with their fingerprints and epochs, the tables with\n"
    "their row counts, and their indexes.  Opens the store read-only, so\n"
    "it may run beside a writer.\n"
    "Exit codes: 0 done, 1 the store is damaged, 2 usage or I/O error.\n";

/* Segment `seg`'s header: PB_OK and its version, or an error and why. */
static int seg_header(const char *dir, const char *seg, uint32_t *version,
                      const char **why) {
  char path[4096];
  uint8_t buf[PB__WAL_HEADER_SIZE];
  snprintf(path, sizeof path, "%s/%s", dir, seg);
  *why = "cannot be read";
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return PB_EIO;
  ssize_t n = read(fd, buf, sizeof buf);
  close(fd);
  if (n < 0) return PB_EIO;
  pb__seg_header h;
  int rc = pb__seg_header_decode(buf, (size_t)n, &h, why);
  if (rc == PB_OK) *version = h.version;
  return rc;
}

static int tables_info(pbt_dbview *v) {
  pbt_catalog *c = &v->cat;
  printf("  record types: %zu (last epoch %" PRIu64 ")\n", c->n_types,
         c->last_epoch);
  for (size_t i = 0; i < c->n_types; i++) {
    const pbt_type *t = &c->types[i];
    printf("    %s  type id %u\n", t->name, t->id);
    for (size_t j = 0; j < t->n_versions; j++)
      printf("      fingerprint %016" PRIx64 "  epoch %" PRIu64 "%s\n",
             t->fps[j], t->epochs[j],
             j + 1 == t->n_versions && t->has_layout ? "  (newest)" : "");
  }
  printf("  tables: %zu\n", c->n_tables);
  for (size_t i = 0; i < c->n_tables; i++) {
    const pbt_table *t = &c->tables[i];
    void *rows;
    uint64_t n = 0;
    int rc = pbt_open_hidden(v->txn, 't', t->id, NULL, PB_VALUE_DICT, &rows);
    if (rc == PB_OK) rc = pb_dict_count(rows, &n);
    else if (rc == PB_ENOTFOUND) rc = PB_OK;
    if (rc != PB_OK) return rc;
    const pb__lfield *k =
        t->type && t->type->has_layout ? pbt_key_field(&t->type->layout)
                                       : NULL;
    printf("    %s (type id %u): %" PRIu64 " rows, ",
           t->type ? t->type->name : "?", t->id, n);
    if (k) printf("key %.*s\n", (int)k->name.len, k->name.ptr);
    else printf("keyless (next id %" PRIu64 ")\n", t->next_id);
    for (size_t j = 0; j < t->n_idx; j++) {
      const pbt_index *x = &t->idx[j];
      printf("      index %s%s (", x->name,
             x->flags & PB_INDEX_UNIQUE ? " [unique]" : "");
      for (size_t f = 0; f < x->n_tags; f++) {
        const pb__lfield *lf =
            t->type && t->type->has_layout ? pbt_field(&t->type->layout,
                                                       x->tags[f])
                                           : NULL;
        if (lf) printf("%s%.*s", f ? ", " : "", (int)lf->name.len,
                       lf->name.ptr);
        else printf("%stag %u", f ? ", " : "", x->tags[f]);
      }
      void *ix;
      uint64_t en = 0;
      char tail[300];
      snprintf(tail, sizeof tail, ":%s", x->name);
      rc = pbt_open_hidden(v->txn, 'i', t->id, tail, PB_VALUE_DICT, &ix);
      if (rc == PB_OK) rc = pb_dict_count(ix, &en);
      else if (rc == PB_ENOTFOUND) rc = PB_OK;
      if (rc != PB_OK) return rc;
      printf("): %" PRIu64 " entries\n", en);
    }
    for (size_t j = 0; j < t->n_members; j++) {
      const pb__lfield *lf =
          t->type && t->type->has_layout
              ? pbt_field(&t->type->layout, t->members[j])
              : NULL;
      if (lf) printf("      member %.*s (tag %u)\n", (int)lf->name.len,
                     lf->name.ptr, t->members[j]);
      else printf("      member tag %u\n", t->members[j]);
    }
  }
  printf("  other values: %zu\n", c->n_values);
  for (size_t i = 0; i < c->n_values; i++) printf("    %s\n", c->values[i]);
  return PB_OK;
}

int pbt_cmd_info(int argc, char **argv) {
  if (pbt_wants_help(argc, argv, help)) return PBT_EXIT_OK;
  if (argc != 2) {
    pbt_err("info", "needs one argument: DIR (try --help)");
    return PBT_EXIT_USAGE;
  }
  const char *dir = argv[1];
  pbt_store s;
  int ex = pbt_open("info", dir, false, &s);
  if (ex != PBT_EXIT_OK) return ex;
  char **segs;
  uint64_t *sizes, total = 0;
  int n = pbt_segments(dir, &segs, &sizes);
  printf("store: %s\n", dir);
  uint32_t version = 0;
  for (int i = 0; i < n && version == 0; i++) {
    const char *why;
    if (seg_header(dir, segs[i], &version, &why) != PB_OK) version = 0;
  }
  if (version)
    printf("format: WAL version %u (this pbtool reads version %u; library "
           "%s)\n", version, PB__WAL_VERSION, pb_version());
  else
    printf("format: no segment with a valid header (an empty store; the "
           "library writes WAL version %u)\n", PB__WAL_VERSION);
  printf("segments: %d\n", n < 0 ? 0 : n);
  for (int i = 0; i < n; i++) {
    uint32_t v;
    const char *why;
    if (seg_header(dir, segs[i], &v, &why) == PB_OK)
      printf("  %s  %" PRIu64 " bytes\n", segs[i], sizes[i]);
    else
      printf("  %s  %" PRIu64 " bytes, header not valid: %s (an interrupted "
             "segment creation, which the next writable open removes)\n",
             segs[i], sizes[i], why);
    total += sizes[i];
  }
  pbt_segments_free(segs, sizes, n < 0 ? 0 : n);
  printf("total: %" PRIu64 " bytes\n", total);

  pbt_out quiet = {NULL, false, 0};
  pbt_walk w;
  memset(&w, 0, sizeof w);
  w.report = &quiet;
  int rc = pbt_walk_atoms(s.st, &w);
  if (rc == PB_OK) {
    printf("live: %" PRIu64 " bytes in %" PRIu64 " atoms (%" PRIu64
           " nodes, %" PRIu64 " records)\n", w.bytes, w.atoms, w.node_atoms,
           w.record_atoms);
    printf("dead: %" PRIu64 " bytes (old versions, framing, preallocated "
           "space)%s\n", total > w.bytes ? total - w.bytes : 0,
           w.problems ? "; the walk found problems: run pbtool verify" : "");
  } else {
    printf("live: unknown (%s)\n", pb_strerror(rc));
  }

  pb_recovery_info ri;
  if (pb_storage_recovery_info(s.st, &ri) == PB_OK) {
    pb_atom_ptr root = {0, 0, 0};
    uint64_t lsn = 0;
    s.st->ops->read_root(s.st, &root, &lsn);
    printf("root: @%016" PRIx64 "%016" PRIx64 "+%" PRIx64 " lsn %" PRIu64
           "\n", root.batch_hi, root.batch_lo, root.offset, lsn);
    if (ri.segments)
      printf("recovery: segments %" PRIu64 "..%" PRIu64 ", manifest %s\n",
             ri.first_segment, ri.first_segment + ri.segments - 1,
             ri.manifest_found ? "found" : "absent");
    else
      printf("recovery: no segment in the log, manifest %s\n",
             ri.manifest_found ? "found" : "absent");
    if (ri.tail_bytes)
      printf("torn tail: %" PRIu64 " bytes at offset %" PRIu64
             " of the last segment (%" PRIu64 " written, %" PRIu64
             " incomplete commits); %s\n", ri.tail_bytes, ri.tail_offset,
             ri.tail_data_bytes, ri.tail_frames,
             ri.tail_cut ? "cut" : "ignored by this read-only open; the "
                                   "next writable open cuts it");
    else
      printf("torn tail: none\n");
  }

  pbt_names dbs;
  rc = pbt_databases(s.sp, &dbs);
  if (rc == PB_OK) printf("databases: %zu\n", dbs.n);
  for (size_t i = 0; rc == PB_OK && i < dbs.n; i++) {
    pbt_dbview v;
    printf("database %s\n", dbs.v[i]);
    rc = pbt_db_begin(s.sp, dbs.v[i], &v);
    if (rc == PB_OK) {
      rc = tables_info(&v);
      pbt_db_end(&v);
    }
  }
  pbt_names_free(&dbs);
  if (rc != PB_OK) {
    const char *d = pb_errdetail();
    pbt_err("info", "%s: %s%s%s", dir, pb_strerror(rc), *d ? ": " : "", d);
    ex = pbt_exit_for(rc);
  }
  pbt_close(&s);
  return ex;
}
