/*
 * tests/support/collstore.c - see collstore.h.
 */
#include "support/collstore.h"

#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "storage/storage.h"

struct pb_test_copy {
  pb_test_copy *next;
  uint8_t bytes[];
};

static void die(const char *what, int rc) {
  fprintf(stderr, "collstore: %s: %s\n", what, pb_strerror(rc));
  abort();
}

static int src_read(void *arg, pb_atom_ptr ptr, pb_bytes *atom) {
  pb_test_cstore *cs = arg;
  if (ptr.batch_hi != cs->bb.id_hi || ptr.batch_lo != cs->bb.id_lo)
    return cs->st->ops->read_atom(cs->st, ptr, atom);
  pb_bytes v;
  int rc = pb__batch_atom(cs->bb.buf.data, cs->bb.buf.len, ptr.offset, &v);
  if (rc != PB_OK) return rc;
  pb_test_copy *c = malloc(sizeof *c + v.len);
  if (!c) return PB_ENOMEM;
  memcpy(c->bytes, v.ptr, v.len);
  c->next = cs->copies;
  cs->copies = c;
  atom->ptr = c->bytes;
  atom->len = v.len;
  return PB_OK;
}

static int sink_write(void *arg, const void *atom, size_t len,
                      pb_atom_ptr *out) {
  pb_test_cstore *cs = arg;
  int rc = pb__batch_add(&cs->bb, atom, len, out);
  if (rc == PB_OK) cs->atoms_written++;
  return rc;
}

static void free_copies(pb_test_cstore *cs) {
  while (cs->copies) {
    pb_test_copy *c = cs->copies;
    cs->copies = c->next;
    free(c);
  }
}

static void open_store(pb_test_cstore *cs) {
  pb_file_options o;
  pb_file_options_init(&o);
  o.durability = PB_DURABILITY_NONE; /* reopen after close: still durable */
  /* This store commits raw roots through the storage interface and reads
   * atoms without pins, so nothing may move or free them between its
   * commits: no automatic compaction (which only transactions, which pin,
   * may run beside; test_autocompact covers it). */
  o.auto_compact = false;
  int rc = pb_storage_open_file(cs->dir, &o, &cs->st);
  if (rc != PB_OK) die("open", rc);
  uint64_t lsn;
  rc = cs->st->ops->read_root(cs->st, &cs->root, &lsn);
  if (rc != PB_OK) die("read_root", rc);
  rc = pb__batch_init(&cs->bb);
  if (rc != PB_OK) die("batch_init", rc);
}

void pb_test_cstore_open(pb_test_cstore *cs, const char *dir) {
  memset(cs, 0, sizeof *cs);
  snprintf(cs->dir, sizeof cs->dir, "%s", dir);
  cs->src = (pb__src){src_read, cs, NULL};
  cs->sink = (pb__sink){sink_write, cs};
  open_store(cs);
}

void pb_test_cstore_commit(pb_test_cstore *cs, pb_atom_ptr root) {
  pb__batch b = {.id_hi = cs->bb.id_hi, .id_lo = cs->bb.id_lo,
                 .data = cs->bb.buf.data, .size = cs->bb.buf.len};
  uint64_t lsn;
  int rc = cs->st->ops->commit(cs->st, &b, cs->root, root, &lsn);
  if (rc != PB_OK) die("commit", rc);
  cs->root = root;
  cs->commits++;
  free_copies(cs);
  pb__batch_free(&cs->bb);
  rc = pb__batch_init(&cs->bb);
  if (rc != PB_OK) die("batch_init", rc);
}

void pb_test_cstore_close(pb_test_cstore *cs) {
  free_copies(cs);
  pb__batch_free(&cs->bb);
  int rc = pb_storage_close(cs->st);
  if (rc != PB_OK) die("close", rc);
  cs->st = NULL;
}

void pb_test_cstore_reopen(pb_test_cstore *cs) {
  pb_test_cstore_close(cs);
  open_store(cs);
}

bool pb_test_coll_args(int argc, char **argv) {
  for (int i = 1; i < argc; i++)
    if (strcmp(argv[i], "--tiny") == 0) {
      pb__coll_fanout = 4;
      return true;
    }
  return false;
}
