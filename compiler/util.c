/*
 * util.c - checked allocation, the AST arena, pbc_vec, pbc_strbuf and path
 * helpers.  See util.h for why pbc exits on out-of-memory instead of
 * propagating it: every stage would otherwise need an error path for a
 * condition a schema compiler cannot recover from anyway.
 */
#include "util.h"

#include <assert.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void pbc_out_of_memory(void) {
  fputs("pbc: error: out of memory\n", stderr);
  exit(2);
}

void *pbc_xmalloc(size_t size) {
  void *p = malloc(size ? size : 1);
  if (!p)
    pbc_out_of_memory();
  return p;
}

void *pbc_xcalloc(size_t count, size_t size) {
  void *p = calloc(count ? count : 1, size ? size : 1);
  if (!p)
    pbc_out_of_memory();
  return p;
}

void *pbc_xrealloc(void *ptr, size_t size) {
  void *p = realloc(ptr, size ? size : 1);
  if (!p)
    pbc_out_of_memory();
  return p;
}

char *pbc_xstrndup(const char *s, size_t len) {
  char *p = pbc_xmalloc(len + 1);
  memcpy(p, s, len);
  p[len] = '\0';
  return p;
}

char *pbc_xstrdup(const char *s) { return pbc_xstrndup(s, strlen(s)); }

/* --- Arena --- */

/*
 * A block is a header followed by its payload.  Allocations are carved from
 * the newest block; one that does not fit gets a new block (its own, when it
 * is larger than the default block size).
 */
struct pbc_arena_block {
  pbc_arena_block *prev; /* older block, or NULL */
  size_t used;           /* payload bytes handed out */
  size_t size;           /* payload bytes available */
  max_align_t payload[]; /* the memory itself, aligned for any type */
};

enum { PBC_ARENA_BLOCK = 64 * 1024 };

void pbc_arena_init(pbc_arena *a) { a->head = NULL; }

void *pbc_arena_alloc(pbc_arena *a, size_t size) {
  const size_t align = sizeof(max_align_t);
  size = (size + align - 1) / align * align;
  if (size == 0)
    size = align;
  pbc_arena_block *b = a->head;
  if (!b || b->size - b->used < size) {
    size_t payload = size > PBC_ARENA_BLOCK ? size : PBC_ARENA_BLOCK;
    if (payload > SIZE_MAX - sizeof(pbc_arena_block))
      pbc_out_of_memory();
    b = pbc_xmalloc(sizeof(pbc_arena_block) + payload);
    b->used = 0;
    b->size = payload;
    b->prev = a->head;
    a->head = b;
  }
  void *p = (char *)b->payload + b->used;
  b->used += size;
  memset(p, 0, size);
  return p;
}

char *pbc_arena_strndup(pbc_arena *a, const char *s, size_t len) {
  char *p = pbc_arena_alloc(a, len + 1);
  if (len)
    memcpy(p, s, len);
  p[len] = '\0';
  return p;
}

char *pbc_arena_strdup(pbc_arena *a, const char *s) {
  return pbc_arena_strndup(a, s, strlen(s));
}

void pbc_arena_free(pbc_arena *a) {
  pbc_arena_block *b = a->head;
  while (b) {
    pbc_arena_block *prev = b->prev;
    free(b);
    b = prev;
  }
  a->head = NULL;
}

void pbc_vec_push(pbc_arena *a, pbc_vec *v, void *item) {
  if (v->len == v->cap) {
    size_t cap = v->cap ? v->cap * 2 : 4;
    void **items = pbc_arena_alloc(a, cap * sizeof(void *));
    if (v->len)
      memcpy(items, v->items, v->len * sizeof(void *));
    v->items = items; /* the old chunk stays in the arena until the end */
    v->cap = cap;
  }
  v->items[v->len++] = item;
}

/* --- String buffer --- */

void pbc_sb_init(pbc_strbuf *sb) {
  sb->data = NULL;
  sb->len = 0;
  sb->cap = 0;
}

void pbc_sb_free(pbc_strbuf *sb) {
  free(sb->data);
  pbc_sb_init(sb);
}

static void pbc__sb_reserve(pbc_strbuf *sb, size_t extra) {
  if (sb->cap - sb->len > extra)
    return;
  size_t cap = sb->cap ? sb->cap : 256;
  while (cap - sb->len <= extra) {
    if (cap > SIZE_MAX / 2)
      pbc_out_of_memory();
    cap *= 2;
  }
  sb->data = pbc_xrealloc(sb->data, cap);
  sb->cap = cap;
}

void pbc_sb_putn(pbc_strbuf *sb, const char *s, size_t len) {
  pbc__sb_reserve(sb, len);
  if (len)
    memcpy(sb->data + sb->len, s, len);
  sb->len += len;
  sb->data[sb->len] = '\0';
}

void pbc_sb_puts(pbc_strbuf *sb, const char *s) { pbc_sb_putn(sb, s, strlen(s)); }

void pbc_sb_putc(pbc_strbuf *sb, char c) { pbc_sb_putn(sb, &c, 1); }

void pbc_sb_pad(pbc_strbuf *sb, char c, size_t count) {
  pbc__sb_reserve(sb, count);
  memset(sb->data + sb->len, c, count);
  sb->len += count;
  sb->data[sb->len] = '\0';
}

void pbc_sb_vprintf(pbc_strbuf *sb, const char *fmt, va_list ap) {
  va_list ap2;
  va_copy(ap2, ap);
  int n = vsnprintf(NULL, 0, fmt, ap2);
  va_end(ap2);
  assert(n >= 0 && "vsnprintf with a valid format cannot fail");
  if (n < 0)
    return;
  pbc__sb_reserve(sb, (size_t)n);
  vsnprintf(sb->data + sb->len, (size_t)n + 1, fmt, ap);
  sb->len += (size_t)n;
}

void pbc_sb_printf(pbc_strbuf *sb, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  pbc_sb_vprintf(sb, fmt, ap);
  va_end(ap);
}

const char *pbc_sb_str(const pbc_strbuf *sb) { return sb->data ? sb->data : ""; }

/* --- Paths --- */

const char *pbc_basename(const char *path) {
  const char *slash = strrchr(path, '/');
  return slash ? slash + 1 : path;
}

char *pbc_dirname(const char *path) {
  const char *slash = strrchr(path, '/');
  if (!slash)
    return pbc_xstrdup(".");
  if (slash == path)
    return pbc_xstrdup("/");
  return pbc_xstrndup(path, (size_t)(slash - path));
}

char *pbc_path_join(const char *dir, const char *name) {
  if (strcmp(dir, ".") == 0)
    return pbc_xstrdup(name);
  size_t dlen = strlen(dir);
  while (dlen > 1 && dir[dlen - 1] == '/')
    dlen--;
  size_t nlen = strlen(name);
  char *p = pbc_xmalloc(dlen + 1 + nlen + 1);
  memcpy(p, dir, dlen);
  size_t at = dlen;
  if (!(dlen == 1 && dir[0] == '/'))
    p[at++] = '/';
  memcpy(p + at, name, nlen + 1);
  return p;
}
