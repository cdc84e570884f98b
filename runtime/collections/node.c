/*
 * collections/node.c - the node encoding every collection shares (see
 * coll.h): envelope, varint n, n values.
 */
#include "collections/coll.h"

#include <stdlib.h>
#include <string.h>

#include "atom/atom.h"
#include "atom/value.h"
#include "util/errdetail.h"

unsigned pb__coll_fanout = PB__FANOUT_DEFAULT;

int pb__node_decode(pb_bytes atom, uint32_t want_a, uint32_t want_b,
                    pb__node_view *out) {
  memset(out, 0, sizeof *out);
  uint32_t type;
  pb_bytes body;
  int rc = pb__atom_parse(atom, &type, &body);
  if (rc != PB_OK) return rc;
  if (type != want_a && type != want_b)
    return PB__CORRUPT("node type %" PRIu32 ", expected %" PRIu32
                       " or %" PRIu32,
                       type, want_a, want_b);
  pb_reader r;
  uint64_t n;
  pb_reader_init(&r, body.ptr, body.len);
  if (pb_reader_varint(&r, &n) != PB_OK || n > PB__NODE_MAX_VALUES ||
      n > (uint64_t)(r.end - r.pos)) /* every value takes a byte at least */
    return PB__CORRUPT("node: bad value count");
  pb_value *vals = NULL;
  if (n > 0) {
    vals = malloc((size_t)n * sizeof *vals);
    if (!vals) return PB_ENOMEM;
  }
  for (uint64_t i = 0; i < n; i++) {
    if (pb__value_decode(&r, &vals[i]) != PB_OK) {
      free(vals);
      return PB__CORRUPT(
          "node: value %" PRIu64 " of %" PRIu64 ": %s", i, n,
          pb_errdetail()); /* value_decode's reason */
    }
  }
  if (r.pos != r.end) {
    free(vals);
    return PB__CORRUPT("node: bytes after its %" PRIu64 " values", n);
  }
  out->type = type;
  out->vals = vals;
  out->n = (size_t)n;
  return PB_OK;
}

void pb__node_view_free(pb__node_view *v) {
  free(v->vals);
  v->vals = NULL;
  v->n = 0;
}

int pb__node_load(const pb__src *src, pb_atom_ptr ptr, uint32_t want_a,
                  uint32_t want_b, pb__node_view *out) {
  pb_bytes atom;
  int rc = src->read(src->arg, ptr, &atom);
  if (rc == PB_ENOTFOUND) /* a tree points at nothing */
    return PB__CORRUPT(PB__ATOM_FMT ": the node is missing",
                       PB__ATOM_ARGS(ptr));
  if (rc != PB_OK) return rc;
  return pb__errdetail_atom(pb__node_decode(atom, want_a, want_b, out), ptr,
                            "node");
}

const pb__obj_class *pb__coll_obj_class(uint32_t type) {
  switch (type) {
    case PB__TYPE_DICT_LEAF:
    case PB__TYPE_DICT_LEAF_IDX:
    case PB__TYPE_DICT_BRANCH:
      return &pb__dict_obj_class;
    case PB__TYPE_LIST_LEAF:
    case PB__TYPE_LIST_BRANCH:
      return &pb__list_obj_class;
    case PB__TYPE_HASH_NODE:
    case PB__TYPE_HASH_COLLISION:
      return &pb__hash_obj_class;
    default:
      return NULL;
  }
}

int pb__node_write(const pb__sink *sink, pb_buf *b, uint32_t type,
                   const pb_value *vals, size_t n, pb_atom_ptr *out) {
  pb_buf_reset(b);
  pb__atom_begin(b, type);
  pb_wire_put_varint(b, n);
  for (size_t i = 0; i < n; i++) pb__value_encode(b, &vals[i]);
  int rc = pb_buf_error(b);
  if (rc != PB_OK) return rc;
  return sink->write(sink->arg, b->data, b->len, out);
}

int pb__value_copy(const pb_value *in, pb_value *out, void **owned) {
  *owned = NULL;
  if (!pb__value_valid(in)) return PB_EINVAL;
  *out = *in;
  const void *src = NULL;
  size_t len = 0;
  if (in->kind == PB_VALUE_STRING) {
    src = in->as.s.ptr;
    len = in->as.s.len;
  } else if (in->kind == PB_VALUE_BYTES) {
    src = in->as.bytes.ptr;
    len = in->as.bytes.len;
  } else if (in->kind == PB_VALUE_RECORD) {
    src = in->as.rec.body.ptr;
    len = in->as.rec.body.len;
  }
  if (len == 0) return PB_OK; /* nothing to copy; views of length 0 */
  uint8_t *copy = malloc(len);
  if (!copy) return PB_ENOMEM;
  memcpy(copy, src, len);
  if (in->kind == PB_VALUE_STRING)
    out->as.s.ptr = (const char *)copy;
  else if (in->kind == PB_VALUE_BYTES)
    out->as.bytes.ptr = copy;
  else
    out->as.rec.body.ptr = copy;
  *owned = copy;
  return PB_OK;
}
