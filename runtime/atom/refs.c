/*
 * atom/refs.c - the schema-free pointer walker (see refs.h).
 *
 * A record body is walked as a flat sequence of fields with a stack of the
 * end offsets of the embedded records it is inside.  A REC field pushes the
 * current end and narrows the reader to its payload (so a field of the
 * payload can never run past it); reaching the end of a payload pops back
 * to the parent, which continues right after the payload.  The stack lives
 * on the heap and grows by doubling: hostile input nested thousands of
 * levels deep costs memory proportional to its size (every level takes at
 * least two bytes), never C stack.
 */
#include "atom/refs.h"

#include <stdlib.h>

#include "atom/atom.h"
#include "atom/ptr.h"
#include "atom/value.h"
#include "util/errdetail.h"

/* Reports the pointer at `at` (inside `atom`) unless it is null. */
static int report(pb_bytes atom, const uint8_t *at, pb__ref_fn fn, void *ctx) {
  pb_atom_ptr p = pb__ptr_load(at);
  if (pb_atom_ptr_is_null(p)) return PB_OK;
  return fn(ctx, p, (size_t)(at - atom.ptr));
}

static int record_refs(pb_bytes atom, pb_bytes body, pb__ref_fn fn,
                       void *ctx);

/* Walks a collection node body: varint n, then n values.  REF and the
 * collection kinds hold a pointer after their kind byte; a RECORD value's
 * body is walked like a record atom's. */
static int node_refs(pb_bytes atom, pb_bytes body, pb__ref_fn fn, void *ctx) {
  pb_reader r;
  uint64_t n;
  pb_value v;
  pb_reader_init(&r, body.ptr, body.len);
  if (pb_reader_varint(&r, &n) != PB_OK)
    return PB__CORRUPT("node: truncated value count");
  for (uint64_t i = 0; i < n; i++) {
    const uint8_t *value_at = r.pos;
    if (pb__value_decode(&r, &v) != PB_OK)
      return PB__CORRUPT(
          "node: value %" PRIu64 " of %" PRIu64 ": %s", i, n,
          pb_errdetail()); /* value_decode's reason */
    int rc = PB_OK;
    if (v.kind == PB_VALUE_REF || pb_value_is_collection(v.kind))
      rc = report(atom, value_at + 1, fn, ctx);
    else if (v.kind == PB_VALUE_RECORD)
      rc = record_refs(atom, v.as.rec.body, fn, ctx);
    if (rc != PB_OK) return rc;
  }
  return r.pos == r.end
             ? PB_OK
             : PB__CORRUPT("node: bytes after its %" PRIu64 " values", n);
}

/* A growable stack of the ends of the embedded records being walked. */
typedef struct end_stack {
  const uint8_t **aEnd; /* parents' ends, innermost last */
  size_t n;             /* entries in use */
  size_t cap;           /* entries allocated */
} end_stack;

/* Pushes `end`.  Errors: PB_ENOMEM. */
static int push(end_stack *s, const uint8_t *end) {
  if (s->n == s->cap) {
    size_t cap = s->cap ? s->cap * 2 : 16;
    const uint8_t **a = realloc(s->aEnd, cap * sizeof *a);
    if (!a) return PB_ENOMEM;
    s->aEnd = a;
    s->cap = cap;
  }
  s->aEnd[s->n++] = end;
  return PB_OK;
}

/* Walks a record body: PTR fields are reported, REC payloads entered. */
static int record_refs(pb_bytes atom, pb_bytes body, pb__ref_fn fn,
                       void *ctx) {
  end_stack stack = {NULL, 0, 0};
  pb_reader r;
  pb_field f;
  int rc;
  pb_reader_init(&r, body.ptr, body.len);
  for (;;) {
    rc = pb_reader_next(&r, &f);
    if (rc == 0) { /* the end of the current payload */
      if (stack.n == 0) break; /* of the body: done */
      r.end = stack.aEnd[--stack.n];
      continue;
    }
    if (rc != 1) break; /* PB_ECORRUPT */
    rc = PB_OK;
    if (f.wire_type == PB_WT_PTR) {
      rc = report(atom, f.data, fn, ctx);
    } else if (f.wire_type == PB_WT_REC && f.size > 0) {
      rc = push(&stack, r.end);
      r.pos = f.data; /* pb_reader_next checked it lies inside r.end */
      r.end = f.data + f.size;
    }
    if (rc != PB_OK) break;
  }
  free(stack.aEnd);
  return rc;
}

int pb__atom_refs(pb_bytes atom, pb__ref_fn fn, void *ctx) {
  uint32_t type;
  pb_bytes body;
  int rc = pb__atom_parse(atom, &type, &body);
  if (rc != PB_OK) return rc;
  if (type >= PB__TYPE_NODE_FIRST && type <= PB__TYPE_NODE_LAST)
    return node_refs(atom, body, fn, ctx);
  if (type < PB__TYPE_RECORD_MIN)
    return PB__CORRUPT("reserved atom type id %" PRIu32, type); /* reserved */
  return record_refs(atom, body, fn, ctx);
}

int pb__record_refs(pb_bytes body, pb__ref_fn fn, void *ctx) {
  return record_refs(body, body, fn, ctx);
}

/* Stops the walk at the first pointer (pb__value_has_refs). */
static int found_one(void *ctx, pb_atom_ptr ptr, size_t pos) {
  (void)ptr;
  (void)pos;
  *(bool *)ctx = true;
  return 1;
}

int pb__value_has_refs(const pb_value *v, bool *out) {
  *out = false;
  if (v->kind == PB_VALUE_REF || pb_value_is_collection(v->kind)) {
    *out = !pb_atom_ptr_is_null(v->as.ref);
    return PB_OK;
  }
  if (v->kind != PB_VALUE_RECORD) return PB_OK;
  int rc = record_refs(v->as.rec.body, v->as.rec.body, found_one, out);
  return rc == 1 ? PB_OK : rc;
}

static int ignore_ref(void *ctx, pb_atom_ptr ptr, size_t pos) {
  (void)ctx;
  (void)ptr;
  (void)pos;
  return PB_OK;
}

int pb__value_check(const pb_value *v) {
  if (!pb__value_valid(v)) return PB_EINVAL;
  if (v->kind != PB_VALUE_RECORD) return PB_OK;
  int rc = record_refs(v->as.rec.body, v->as.rec.body, ignore_ref, NULL);
  return rc == PB_ECORRUPT ? PB_EINVAL : rc;
}
