/*
 * gen_model.c - what the generator knows about fields and records before it
 * writes any C: the kind of each field (pbc_gen_classify), facts that need
 * a walk over embedded records (MAX_SIZE bound, arena use, trivial _init),
 * and which records of the file lie on a cycle through arrays.
 */
#include <stdlib.h>
#include <string.h>

#include "gen_internal.h"

/* --- Classification --- */

const pbc_field *pbc_gen_key_field(const pbc_decl *d) {
  for (size_t i = 0; i < d->fields.len; i++) {
    const pbc_field *f = d->fields.items[i];
    if (f->is_key)
      return f;
  }
  return NULL;
}

static pbc_gen_elem pbc__classify_type(const pbc_type *t) {
  pbc_gen_elem e = {PBC_GEN_PTR, PBC_BOOL, NULL};
  switch (t->kind) {
  case PBC_TYPE_SCALAR:
    e.kind = PBC_GEN_SCALAR;
    e.scalar = t->scalar;
    break;
  case PBC_TYPE_NAMED:
    e.kind = t->decl->kind == PBC_DECL_ENUM ? PBC_GEN_ENUM : PBC_GEN_RECORD;
    e.decl = t->decl;
    break;
  case PBC_TYPE_REF: {
    /* A record with a key is referenced by its key (check.c allows keys of
     * scalar and enum types only); one without, by an atom pointer. */
    const pbc_field *key = pbc_gen_key_field(t->elem->decl);
    if (key)
      e = pbc__classify_type(key->type);
    break;
  }
  case PBC_TYPE_ARRAY: /* arrays of arrays are rejected by pbc_gen_c_check */
  case PBC_TYPE_LIST:
  case PBC_TYPE_SET:
  case PBC_TYPE_MAP:
    break;
  }
  return e;
}

pbc_gen_field pbc_gen_classify(const pbc_field *f) {
  pbc_gen_field gf;
  gf.f = f;
  gf.array = f->type->kind == PBC_TYPE_ARRAY;
  gf.elem = pbc__classify_type(gf.array ? f->type->elem : f->type);
  return gf;
}

pbc_gen_field *pbc_gen_fields(const pbc_decl *d) {
  size_t n = d->fields.len;
  pbc_gen_field *out = pbc_xmalloc((n ? n : 1) * sizeof *out);
  for (size_t i = 0; i < n; i++)
    out[i] = pbc_gen_classify(d->fields.items[i]);
  return out;
}

static int pbc__tag_cmp(const void *a, const void *b) {
  const pbc_gen_field *x = a, *y = b;
  return x->f->tag < y->f->tag ? -1 : x->f->tag > y->f->tag;
}

pbc_gen_field *pbc_gen_fields_by_tag(const pbc_decl *d) {
  pbc_gen_field *out = pbc_gen_fields(d);
  qsort(out, d->fields.len, sizeof *out, pbc__tag_cmp);
  return out;
}

bool pbc_gen_local(const pbc_gen *g, const pbc_decl *d) {
  return d->file == g->file;
}

/* --- Facts about records (memoized by declaration) --- */

static size_t pbc__ptr_hash(const void *p, size_t cap) {
  uint64_t x = (uint64_t)(uintptr_t)p;
  x ^= x >> 33;
  x *= 0xff51afd7ed558ccdull;
  x ^= x >> 33;
  return (size_t)x & (cap - 1);
}

static pbc_gen_recinfo *pbc__info_slot(pbc_gen *g, const pbc_decl *d) {
  size_t i = pbc__ptr_hash(d, g->info_cap);
  while (g->info[i].decl && g->info[i].decl != d)
    i = (i + 1) & (g->info_cap - 1);
  return &g->info[i];
}

/* Bytes of the varint form of v. */
static unsigned pbc__varint_size(uint64_t v) {
  unsigned n = 1;
  while (v >= 0x80) {
    v >>= 7;
    n++;
  }
  return n;
}

/* The largest encoding of a value of scalar s (0: no bound). */
static uint64_t pbc__scalar_max(pbc_scalar s) {
  switch (s) {
  case PBC_BOOL: return 1;
  case PBC_FLOAT32: return 4;
  case PBC_FLOAT64: return 8;
  case PBC_STRING:
  case PBC_BYTES: return 0;
  default: /* integers: up to 2^bits - 1, plain or zigzag */
    return pbc__varint_size(pbc_scalar_bits(s) == 64
                                ? UINT64_MAX
                                : ((uint64_t)1 << pbc_scalar_bits(s)) - 1);
  }
}

/* Bounds above this are reported as no bound (and cannot overflow). */
#define PBC__MAX_SIZE_LIMIT ((uint64_t)1 << 40)

static const pbc_gen_recinfo *pbc__info_find(const pbc_gen *g,
                                             const pbc_decl *d) {
  size_t i = pbc__ptr_hash(d, g->info_cap);
  while (g->info[i].decl && g->info[i].decl != d)
    i = (i + 1) & (g->info_cap - 1);
  return g->info[i].decl ? &g->info[i] : NULL;
}

static void pbc__info_insert(pbc_gen *g, const pbc_gen_recinfo *ri) {
  if (2 * (g->info_len + 1) > g->info_cap) {
    pbc_gen_recinfo *old = g->info;
    size_t old_cap = g->info_cap;
    g->info_cap *= 2;
    g->info = pbc_xcalloc(g->info_cap, sizeof *g->info);
    for (size_t i = 0; i < old_cap; i++)
      if (old[i].decl)
        *pbc__info_slot(g, old[i].decl) = old[i];
    free(old);
  }
  *pbc__info_slot(g, ri->decl) = *ri;
  g->info_len++;
}

/* The record embedded by value by field f, or NULL. */
static const pbc_decl *pbc__embedded(const pbc_field *f) {
  const pbc_type *t = f->type;
  return t->kind == PBC_TYPE_NAMED && t->decl->kind == PBC_DECL_RECORD
             ? t->decl
             : NULL;
}

/* Computes the facts of d, whose embedded records are all known. */
static pbc_gen_recinfo pbc__info_compute(const pbc_gen *g, const pbc_decl *d) {
  pbc_gen_recinfo ri = {d, true, 0, false, true};
  for (size_t i = 0; i < d->fields.len; i++) {
    pbc_gen_field gf = pbc_gen_classify(d->fields.items[i]);
    uint64_t key = pbc__varint_size((uint64_t)gf.f->tag << 3);
    uint64_t value = 0;
    if (gf.array) {
      ri.bounded = false;
      ri.needs_arena = true;
      continue;
    }
    if (pbc_gen_has_default(&gf))
      ri.zero_init = false;
    switch (gf.elem.kind) {
    case PBC_GEN_SCALAR:
      value = pbc__scalar_max(gf.elem.scalar);
      break;
    case PBC_GEN_ENUM:
      value = 5; /* an int32 in zigzag form */
      break;
    case PBC_GEN_PTR:
      value = 20; /* PB_WT_PTR: no length, a 16-byte id, a u32 offset */
      break;
    case PBC_GEN_RECORD: {
      const pbc_gen_recinfo *sub = pbc__info_find(g, gf.elem.decl);
      ri.needs_arena = ri.needs_arena || sub->needs_arena;
      ri.zero_init = ri.zero_init && sub->zero_init;
      value = sub->bounded ? pbc__varint_size(sub->max_size) + sub->max_size
                           : 0;
      break;
    }
    }
    if (value == 0 || !ri.bounded) {
      ri.bounded = false;
      continue;
    }
    ri.max_size += key + value;
    if (ri.max_size > PBC__MAX_SIZE_LIMIT)
      ri.bounded = false;
  }
  if (!ri.bounded)
    ri.max_size = 0;
  return ri;
}

typedef struct pbc__walk {
  const pbc_decl *decl; /* record being explored */
  size_t next;          /* next field to look at */
} pbc__walk;

const pbc_gen_recinfo *pbc_gen_info(pbc_gen *g, const pbc_decl *d) {
  const pbc_gen_recinfo *known = pbc__info_find(g, d);
  if (known)
    return known;
  /* Post-order over embedded records, iteratively: a schema may chain
   * thousands of records by value.  Embedding is acyclic (check.c). */
  size_t cap = 16, top = 0;
  pbc__walk *stack = pbc_xmalloc(cap * sizeof *stack);
  stack[top++] = (pbc__walk){d, 0};
  while (top > 0) {
    pbc__walk *w = &stack[top - 1];
    if (w->next < w->decl->fields.len) {
      const pbc_decl *sub = pbc__embedded(w->decl->fields.items[w->next++]);
      if (sub && !pbc__info_find(g, sub)) {
        if (top == cap)
          stack = pbc_xrealloc(stack, (cap *= 2) * sizeof *stack);
        stack[top++] = (pbc__walk){sub, 0};
      }
      continue;
    }
    if (!pbc__info_find(g, w->decl)) {
      pbc_gen_recinfo ri = pbc__info_compute(g, w->decl);
      pbc__info_insert(g, &ri);
    }
    top--;
  }
  free(stack);
  return pbc__info_find(g, d);
}

static int pbc__ptr_cmp(const void *a, const void *b) {
  uintptr_t x = (uintptr_t) * (const pbc_decl *const *)a;
  uintptr_t y = (uintptr_t) * (const pbc_decl *const *)b;
  return x < y ? -1 : x > y;
}

/* The record that field f of this file leads to (by value or in an array). */
static const pbc_decl *pbc__local_target(const pbc_file *file,
                                         const pbc_field *f) {
  const pbc_type *t = f->type->kind == PBC_TYPE_ARRAY ? f->type->elem : f->type;
  if (t->kind != PBC_TYPE_NAMED || t->decl->kind != PBC_DECL_RECORD ||
      t->decl->file != file)
    return NULL;
  return t->decl;
}

/*
 * Finds the records of the file that lie on a cycle of "contains" edges
 * (only arrays can close one).  A DFS from each record over the file's
 * records by index: O(records * (records + fields)), small next to the rest.
 */
void pbc_gen_find_recursive(pbc_gen *g) {
  const pbc_file *file = g->file;
  size_t n = file->decls.len;
  const pbc_decl **sorted = pbc_xmalloc((n ? n : 1) * sizeof *sorted);
  for (size_t i = 0; i < n; i++)
    sorted[i] = file->decls.items[i];
  qsort(sorted, n, sizeof *sorted, pbc__ptr_cmp);
  size_t *stamp = pbc_xcalloc(n ? n : 1, sizeof *stamp);
  size_t *stack = pbc_xmalloc((n ? n : 1) * sizeof *stack);
  g->recur = pbc_xmalloc((n ? n : 1) * sizeof *g->recur);
  g->nrecur = 0;
  for (size_t r = 0; r < n; r++) {
    const pbc_decl *root = sorted[r];
    if (root->kind != PBC_DECL_RECORD)
      continue;
    bool found = false;
    size_t top = 0;
    stack[top++] = r;
    while (top > 0 && !found) {
      const pbc_decl *d = sorted[stack[--top]];
      for (size_t i = 0; i < d->fields.len && !found; i++) {
        const pbc_decl *to = pbc__local_target(file, d->fields.items[i]);
        if (!to)
          continue;
        if (to == root) {
          found = true;
          break;
        }
        const pbc_decl **hit =
            bsearch(&to, sorted, n, sizeof *sorted, pbc__ptr_cmp);
        size_t k = (size_t)(hit - sorted);
        if (stamp[k] != r + 1) {
          stamp[k] = r + 1;
          stack[top++] = k;
        }
      }
    }
    if (found)
      g->recur[g->nrecur++] = root; /* stays sorted: sorted[] is */
  }
  free(stack);
  free(stamp);
  free(sorted);
}

bool pbc_gen_recursive(const pbc_gen *g, const pbc_decl *d) {
  return g->nrecur > 0 &&
         bsearch(&d, g->recur, g->nrecur, sizeof *g->recur, pbc__ptr_cmp);
}
