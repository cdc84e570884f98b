/*
 * tests/support/memstore.c - atoms in memory (see memstore.h).  Failures
 * of the test's own making (a full store, no memory) abort: they are not
 * what the tests check.
 */
#include "support/memstore.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int pb_test_mem_read(void *arg, pb_atom_ptr p, pb_bytes *out) {
  pb_test_memstore *m = arg;
  pb_atom_ptr first = PB_TEST_MEM_PTR(1);
  if (p.batch_hi != first.batch_hi || p.batch_lo != first.batch_lo ||
      p.offset == 0 || p.offset > m->n)
    return PB_ENOTFOUND;
  *out = (pb_bytes){m->atom[p.offset - 1], m->len[p.offset - 1]};
  return PB_OK;
}

/* Room for one more atom, or aborts. */
static void grow(pb_test_memstore *m) {
  if (m->n < m->cap) return;
  size_t cap = m->cap ? m->cap * 2 : 64;
  uint8_t **a = m->n < PB_TEST_MEM_MAX ? realloc(m->atom, cap * sizeof *a)
                                       : NULL;
  if (a) m->atom = a;
  size_t *l = a ? realloc(m->len, cap * sizeof *l) : NULL;
  if (!l) {
    fprintf(stderr, "memstore: full or out of memory\n");
    abort();
  }
  m->len = l;
  m->cap = cap;
}

int pb_test_mem_write(void *arg, const void *atom, size_t len,
                      pb_atom_ptr *out) {
  pb_test_memstore *m = arg;
  grow(m);
  uint8_t *copy = malloc(len ? len : 1);
  if (!copy) {
    fprintf(stderr, "memstore: out of memory\n");
    abort();
  }
  memcpy(copy, atom, len);
  m->atom[m->n] = copy;
  m->len[m->n] = len;
  *out = PB_TEST_MEM_PTR(++m->n);
  return PB_OK;
}

void pb_test_mem_free(pb_test_memstore *m) {
  for (size_t i = 0; i < m->n; i++) free(m->atom[i]);
  free(m->atom);
  free(m->len);
  m->atom = NULL;
  m->len = NULL;
  m->n = m->cap = 0;
}

pb_atom_ptr pb_test_mem_next(const pb_test_memstore *m) {
  return PB_TEST_MEM_PTR(m->n + 1);
}

pb_atom_ptr pb_test_mem_node(pb_test_memstore *m, uint32_t type,
                             const pb_value *vals, size_t n) {
  pb__sink sink = {pb_test_mem_write, m};
  pb_buf b;
  pb_buf_init(&b);
  pb_atom_ptr p;
  if (pb__node_write(&sink, &b, type, vals, n, &p) != PB_OK) {
    fprintf(stderr, "memstore: pb__node_write failed\n");
    abort();
  }
  pb_buf_free(&b);
  return p;
}

pb_atom_ptr pb_test_mem_raw(pb_test_memstore *m, const void *bytes,
                            size_t len) {
  pb_atom_ptr p;
  pb_test_mem_write(m, bytes, len, &p);
  return p;
}
