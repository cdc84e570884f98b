/*
 * collections/flatdict.c - the one-atom sorted Dictionary (see flatdict.h).
 */
#include "collections/flatdict.h"

#include <assert.h>
#include <stdlib.h>
#include <string.h>

#include "atom/atom.h"
#include "atom/value.h"

void pb__flatdict_init(pb__flatdict *d) {
  d->entries = NULL;
  d->count = 0;
  d->cap = 0;
}

void pb__flatdict_free(pb__flatdict *d) {
  for (size_t i = 0; i < d->count; i++) free(d->entries[i].owned);
  free(d->entries);
  pb__flatdict_init(d);
}

/* Bytewise comparison of two keys, shorter first on a common prefix. */
static int key_cmp(pb_str a, pb_str b) {
  size_t n = a.len < b.len ? a.len : b.len;
  int c = n ? memcmp(a.ptr, b.ptr, n) : 0;
  if (c) return c;
  return (a.len > b.len) - (a.len < b.len);
}

/* Binary search: returns true if found; *pos is the match or insertion point. */
static bool find(const pb__flatdict *d, pb_str key, size_t *pos) {
  size_t lo = 0, hi = d->count;
  while (lo < hi) {
    size_t mid = lo + (hi - lo) / 2;
    int c = key_cmp(d->entries[mid].key, key);
    if (c == 0) {
      *pos = mid;
      return true;
    }
    if (c < 0) lo = mid + 1;
    else hi = mid;
  }
  *pos = lo;
  return false;
}

static int grow(pb__flatdict *d, size_t need) {
  if (need <= d->cap) return PB_OK;
  size_t cap = d->cap ? d->cap * 2 : 8;
  while (cap < need) cap *= 2;
  pb__flat_entry *e = realloc(d->entries, cap * sizeof *e);
  if (!e) return PB_ENOMEM;
  d->entries = e;
  d->cap = cap;
  return PB_OK;
}

int pb__flatdict_decode(pb__flatdict *d, pb_bytes body) {
  assert(d->count == 0);
  pb_reader r;
  pb_reader_init(&r, body.ptr, body.len);
  uint64_t count;
  if (pb_reader_varint(&r, &count) != PB_OK) return PB_ECORRUPT;
  /* Every entry takes at least two bytes: this bounds the allocation. */
  if (count > (uint64_t)(r.end - r.pos) / 2) return PB_ECORRUPT;
  if (grow(d, (size_t)count) != PB_OK) return PB_ENOMEM;
  for (uint64_t i = 0; i < count; i++) {
    uint64_t klen;
    if (pb_reader_varint(&r, &klen) != PB_OK ||
        klen > (uint64_t)(r.end - r.pos))
      return PB_ECORRUPT;
    pb__flat_entry *e = &d->entries[d->count];
    e->key.ptr = (const char *)r.pos;
    e->key.len = (size_t)klen;
    e->owned = NULL;
    r.pos += klen;
    if (!pb_utf8_valid(e->key.ptr, e->key.len)) return PB_ECORRUPT;
    if (d->count > 0 && key_cmp(d->entries[d->count - 1].key, e->key) >= 0)
      return PB_ECORRUPT;
    if (pb__value_decode(&r, &e->value) != PB_OK) return PB_ECORRUPT;
    d->count++;
  }
  return r.pos == r.end ? PB_OK : PB_ECORRUPT;
}

/* Loads the dictionary at ptr, read through `read`. */
static int load_with(int (*read)(pb_storage *, pb_atom_ptr, pb_bytes *),
                     pb_storage *st, pb_atom_ptr ptr, pb__flatdict *d) {
  if (pb_atom_ptr_is_null(ptr)) return PB_OK;
  pb_bytes atom, body;
  uint32_t type;
  int rc = read(st, ptr, &atom);
  if (rc != PB_OK) return rc;
  rc = pb__atom_parse(atom, &type, &body);
  if (rc != PB_OK) return rc;
  if (type != PB__TYPE_FLATDICT) return PB_ECORRUPT;
  rc = pb__flatdict_decode(d, body);
  if (rc != PB_OK) pb__flatdict_free(d);
  return rc;
}

int pb__flatdict_load(pb_storage *st, pb_atom_ptr ptr, pb__flatdict *d) {
  return load_with(st->ops->read_atom, st, ptr, d);
}

int pb__flatdict_load_pending(pb_storage *st, pb_atom_ptr ptr,
                              pb__flatdict *d) {
  return load_with(pb__storage_read_pending, st, ptr, d);
}

void pb__flatdict_encode(const pb__flatdict *d, pb_buf *b) {
  pb__atom_begin(b, PB__TYPE_FLATDICT);
  pb_wire_put_varint(b, d->count);
  for (size_t i = 0; i < d->count; i++) {
    pb_wire_put_varint(b, d->entries[i].key.len);
    pb_buf_append(b, d->entries[i].key.ptr, d->entries[i].key.len);
    pb__value_encode(b, &d->entries[i].value);
  }
}

int pb__flatdict_get(const pb__flatdict *d, pb_str key, pb_value *out) {
  size_t pos;
  if (!find(d, key, &pos)) return PB_ENOTFOUND;
  *out = d->entries[pos].value;
  return PB_OK;
}

/* Copies key and payload into one allocation owned by the entry. */
static int own_entry(pb__flat_entry *e, pb_str key, const pb_value *v) {
  const void *payload = NULL;
  size_t plen = 0;
  if (v->kind == PB_VALUE_STRING) payload = v->as.s.ptr, plen = v->as.s.len;
  if (v->kind == PB_VALUE_BYTES) payload = v->as.bytes.ptr, plen = v->as.bytes.len;
  char *mem = malloc(key.len + plen + 1);
  if (!mem) return PB_ENOMEM;
  if (key.len) memcpy(mem, key.ptr, key.len);
  if (plen) memcpy(mem + key.len, payload, plen);
  e->owned = mem;
  e->key.ptr = mem;
  e->key.len = key.len;
  e->value = *v;
  if (v->kind == PB_VALUE_STRING) e->value.as.s.ptr = mem + key.len;
  if (v->kind == PB_VALUE_BYTES)
    e->value.as.bytes.ptr = (const uint8_t *)mem + key.len;
  return PB_OK;
}

int pb__flatdict_put(pb__flatdict *d, pb_str key, const pb_value *v) {
  pb__flat_entry fresh;
  if (own_entry(&fresh, key, v) != PB_OK) return PB_ENOMEM;
  size_t pos;
  if (find(d, key, &pos)) {
    free(d->entries[pos].owned);
    d->entries[pos] = fresh;
    return PB_OK;
  }
  if (grow(d, d->count + 1) != PB_OK) {
    free(fresh.owned);
    return PB_ENOMEM;
  }
  memmove(&d->entries[pos + 1], &d->entries[pos],
          (d->count - pos) * sizeof *d->entries);
  d->entries[pos] = fresh;
  d->count++;
  return PB_OK;
}

int pb__flatdict_remove(pb__flatdict *d, pb_str key) {
  size_t pos;
  if (!find(d, key, &pos)) return PB_ENOTFOUND;
  free(d->entries[pos].owned);
  memmove(&d->entries[pos], &d->entries[pos + 1],
          (d->count - pos - 1) * sizeof *d->entries);
  d->count--;
  return PB_OK;
}
