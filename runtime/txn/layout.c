/*
 * txn/layout.c - record layouts in the catalog, and the breaking rules of
 * `pbc check` (compiler/evolve.c) applied to them at run time.
 *
 * The rules and their wording are those of compiler/evolve.c, for one
 * pair of versions of one record: the key, then fields by tag (type,
 * optional, default, enum values), then reserved tags.  Compatible
 * changes are not reported.  Types are compared by their qualified
 * spelling; a record embedded by value is registered, hence checked, on
 * its own (txn/catalog.c), as `pbc check` reports its changes at that
 * record.
 */
#include "txn/layout.h"
#include "util/errdetail.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void put_str(pb_buf *b, const char *s) {
  size_t n = s ? strlen(s) : 0;
  pb_wire_put_varint(b, n);
  pb_buf_append(b, s ? s : "", n);
}

void pb__layout_encode(const pb_record_type *t, pb_buf *b) {
  put_str(b, t->name);
  pb_wire_put_varint(b, t->n_fields);
  for (size_t i = 0; i < t->n_fields; i++) {
    const pb_record_field *f = &t->fields[i];
    pb_wire_put_varint(b, f->tag);
    pb_wire_put_varint(b, f->flags);
    put_str(b, f->name);
    put_str(b, f->type);
    put_str(b, f->default_value);
    put_str(b, f->enum_values);
    put_str(b, f->embedded ? f->embedded->name : NULL);
    put_str(b, f->renames);
  }
  pb_wire_put_varint(b, t->n_reserved);
  for (size_t i = 0; i < t->n_reserved; i++)
    pb_wire_put_varint(b, t->reserved[i]);
}

static int get_u32(pb_reader *r, uint32_t *out) {
  uint64_t v;
  int rc = pb_reader_varint(r, &v);
  if (rc == PB_OK && v > UINT32_MAX)
    rc = PB__CORRUPT("layout: a number over 32 bits");
  if (rc == PB_OK) *out = (uint32_t)v;
  return rc;
}

static int get_str(pb_reader *r, pb_str *out) {
  uint64_t n;
  int rc = pb_reader_varint(r, &n);
  if (rc != PB_OK) return rc;
  if (n > (uint64_t)(r->end - r->pos))
    return PB__CORRUPT("layout: a string past the end");
  *out = (pb_str){(const char *)r->pos, (size_t)n};
  r->pos += n;
  return PB_OK;
}

/* A count of items of at least `min` bytes each, checked against what is
 * left, so a damaged count never allocates much. */
static int get_count(pb_reader *r, size_t min, size_t *out) {
  uint64_t n;
  int rc = pb_reader_varint(r, &n);
  if (rc == PB_OK && n > (uint64_t)(r->end - r->pos) / min)
    rc = PB__CORRUPT("layout: a count past the end");
  if (rc == PB_OK) *out = (size_t)n;
  return rc;
}

int pb__layout_decode(pb_bytes b, pb__layout *out) {
  memset(out, 0, sizeof *out);
  pb_reader r;
  pb_reader_init(&r, b.ptr, b.len);
  int rc = get_str(&r, &out->name);
  if (rc == PB_OK) rc = get_count(&r, 8, &out->n_fields);
  if (rc == PB_OK && out->n_fields) {
    out->fields = calloc(out->n_fields, sizeof *out->fields);
    if (!out->fields) rc = PB_ENOMEM;
  }
  for (size_t i = 0; rc == PB_OK && i < out->n_fields; i++) {
    pb__lfield *f = &out->fields[i];
    rc = get_u32(&r, &f->tag);
    if (rc == PB_OK) rc = get_u32(&r, &f->flags);
    if (rc == PB_OK) rc = get_str(&r, &f->name);
    if (rc == PB_OK) rc = get_str(&r, &f->type);
    if (rc == PB_OK) rc = get_str(&r, &f->dflt);
    if (rc == PB_OK) rc = get_str(&r, &f->enums);
    if (rc == PB_OK) rc = get_str(&r, &f->embedded);
    if (rc == PB_OK) rc = get_str(&r, &f->renames);
  }
  if (rc == PB_OK) rc = get_count(&r, 1, &out->n_reserved);
  if (rc == PB_OK && out->n_reserved) {
    out->reserved = calloc(out->n_reserved, sizeof *out->reserved);
    if (!out->reserved) rc = PB_ENOMEM;
  }
  for (size_t i = 0; rc == PB_OK && i < out->n_reserved; i++)
    rc = get_u32(&r, &out->reserved[i]);
  if (rc == PB_OK && r.pos != r.end)
    rc = PB__CORRUPT("layout: bytes after the end");
  if (rc != PB_OK) pb__layout_free(out);
  return rc;
}

void pb__layout_free(pb__layout *l) {
  free(l->fields);
  free(l->reserved);
  memset(l, 0, sizeof *l);
}

/* --- The rules. --- */

static bool str_eq(pb_str a, pb_str b) {
  return a.len == b.len && (a.len == 0 || memcmp(a.ptr, b.ptr, a.len) == 0);
}

static const pb__lfield *field_at(const pb__layout *l, uint32_t tag) {
  for (size_t i = 0; i < l->n_fields; i++)
    if (l->fields[i].tag == tag) return &l->fields[i];
  return NULL;
}

static const pb__lfield *key_of(const pb__layout *l) {
  for (size_t i = 0; i < l->n_fields; i++)
    if (l->fields[i].flags & PB_FIELD_KEY) return &l->fields[i];
  return NULL;
}

static bool reserves(const pb__layout *l, uint32_t tag) {
  for (size_t i = 0; i < l->n_reserved; i++)
    if (l->reserved[i] == tag) return true;
  return false;
}

/* One value of an enum_values list: "NAME=NUMBER". */
typedef struct enum_val {
  pb_str name;
  long long num;
} enum_val;

/* Walks "A=0,B=1": the i-th value, false past the end (or malformed). */
static bool enum_at(pb_str s, size_t i, enum_val *out) {
  const char *p = s.ptr, *end = s.ptr + s.len;
  for (size_t k = 0; p && p < end; k++) {
    const char *comma = memchr(p, ',', (size_t)(end - p));
    const char *stop = comma ? comma : end;
    const char *eq = memchr(p, '=', (size_t)(stop - p));
    if (!eq) return false;
    if (k == i) {
      char num[32];
      size_t n = (size_t)(stop - eq - 1);
      if (n == 0 || n >= sizeof num) return false;
      memcpy(num, eq + 1, n);
      num[n] = 0;
      *out = (enum_val){{p, (size_t)(eq - p)}, strtoll(num, NULL, 10)};
      return true;
    }
    p = comma ? comma + 1 : NULL;
  }
  return false;
}

static bool enum_by_name(pb_str s, pb_str name, enum_val *out) {
  enum_val v;
  for (size_t i = 0; enum_at(s, i, &v); i++)
    if (str_eq(v.name, name)) {
      *out = v;
      return true;
    }
  return false;
}

static bool enum_by_num(pb_str s, long long num, enum_val *out) {
  enum_val v;
  for (size_t i = 0; enum_at(s, i, &v); i++)
    if (v.num == num) {
      *out = v;
      return true;
    }
  return false;
}

/* The enum's unqualified name, from a type such as "pkg.Unit[]". */
static pb_str enum_name(pb_str type) {
  size_t end = type.len;
  if (end >= 2 && type.ptr[end - 1] == ']') end -= 2;
  size_t start = end;
  while (start > 0 && type.ptr[start - 1] != '.') start--;
  return (pb_str){type.ptr + start, end - start};
}

/* A default as `pbc check` shows it (the stored form is the exact one). */
static void shown(const pb__lfield *f, char *out, size_t cap) {
  enum_val v;
  pb_str d = f->dflt;
  if (f->enums.len && enum_by_num(f->enums, strtoll(d.ptr, NULL, 10), &v)) {
    snprintf(out, cap, "%.*s", (int)v.name.len, v.name.ptr);
    return;
  }
  const char *colon = memchr(d.ptr, ':', d.len);
  if (colon && (str_eq(f->type, (pb_str){"string", 6}) ||
                str_eq(f->type, (pb_str){"bytes", 5}))) {
    size_t n = d.len - (size_t)(colon + 1 - d.ptr);
    const char *nul = memchr(colon + 1, 0, n);
    if (nul) n = (size_t)(nul - colon - 1);
    snprintf(out, cap, "\"%.*s\"", (int)n, colon + 1);
    return;
  }
  snprintf(out, cap, "%.*s", (int)d.len, d.ptr);
}

#define S(x) (int)(x).len, (x).ptr

/* The enum rules of pbc check for one field's enum (false: breaking). */
static bool enum_compatible(const pb__lfield *o, const pb__lfield *n,
                            bool for_read, char *msg, size_t cap) {
  pb_str en = enum_name(n->type);
  enum_val nv, ov, x;
  for (size_t i = 0; enum_at(n->enums, i, &nv); i++) {
    if (enum_by_name(o->enums, nv.name, &ov)) {
      if (ov.num != nv.num) {
        snprintf(msg, cap, "enum value '%.*s.%.*s' renumbered from %lld to "
                 "%lld", S(en), S(nv.name), ov.num, nv.num);
        return false;
      }
    } else if (enum_by_num(o->enums, nv.num, &ov) &&
               enum_by_name(n->enums, ov.name, &x)) {
      snprintf(msg, cap, "enum value '%.*s.%.*s' takes number %lld from "
               "'%.*s'", S(en), S(nv.name), nv.num, S(ov.name));
      return false;
    }
  }
  for (size_t i = 0; !for_read && enum_at(o->enums, i, &ov); i++) {
    if (enum_by_name(n->enums, ov.name, &x)) continue;
    if (enum_by_num(n->enums, ov.num, &nv) &&
        !enum_by_name(o->enums, nv.name, &x))
      continue; /* renamed */
    snprintf(msg, cap, "enum value '%.*s.%.*s' (%lld) removed", S(en),
             S(ov.name), ov.num);
    return false;
  }
  return true;
}

/* The old name of record `name` by the renames "New=Old,...", or name. */
static pb_str renamed(pb_str renames, pb_str name) {
  const char *p = renames.ptr, *end = renames.ptr + renames.len;
  while (p && p < end) {
    const char *comma = memchr(p, ',', (size_t)(end - p));
    const char *stop = comma ? comma : end;
    const char *eq = memchr(p, '=', (size_t)(stop - p));
    if (eq && str_eq((pb_str){p, (size_t)(eq - p)}, name))
      return (pb_str){eq + 1, (size_t)(stop - eq - 1)};
    p = comma ? comma + 1 : NULL;
  }
  return name;
}

/* The same type, where a record renamed with [renamed_from] counts under
 * its old name (as pbc check compares): the names in n's type are mapped
 * through its renames, token by token. */
static bool same_type(const pb__lfield *o, const pb__lfield *n) {
  if (str_eq(o->type, n->type)) return true;
  if (!n->renames.len) return false;
  const char *a = o->type.ptr, *ae = a + o->type.len;
  const char *b = n->type.ptr, *be = b + n->type.len;
  static const char seps[] = "<>,[]";
  while (a < ae && b < be) {
    if (strchr(seps, *a) || strchr(seps, *b)) {
      if (*a != *b) return false;
      a++, b++;
      continue;
    }
    const char *as = a, *bs = b;
    while (a < ae && !strchr(seps, *a)) a++;
    while (b < be && !strchr(seps, *b)) b++;
    pb_str old = {as, (size_t)(a - as)};
    if (!str_eq(old, renamed(n->renames, (pb_str){bs, (size_t)(b - bs)})))
      return false;
  }
  return a == ae && b == be;
}

static bool same_tag(const pb__lfield *o, const pb__lfield *n, bool for_read,
                     char *msg, size_t cap) {
  if (!same_type(o, n)) {
    snprintf(msg, cap, "field '%.*s' (tag %" PRIu32 ") changed type from "
             "'%.*s' to '%.*s'", S(n->name), n->tag, S(o->type), S(n->type));
    return false;
  }
  if ((o->flags ^ n->flags) & PB_FIELD_OPTIONAL) {
    snprintf(msg, cap, "field '%.*s' (tag %" PRIu32 ") %s", S(n->name),
             n->tag, n->flags & PB_FIELD_OPTIONAL ? "became optional"
                                                  : "is no longer optional");
    return false;
  }
  if (!str_eq(o->dflt, n->dflt)) {
    char a[128], b[128];
    shown(o, a, sizeof a);
    shown(n, b, sizeof b);
    snprintf(msg, cap, "default of field '%.*s' (tag %" PRIu32 ") changed "
             "from %s to %s", S(n->name), n->tag, a, b);
    return false;
  }
  return enum_compatible(o, n, for_read, msg, cap);
}

bool pb__layout_compatible(const pb__layout *old, const pb__layout *new,
                           bool for_read, char *msg, size_t cap) {
  if (for_read) { /* only what the same tag means in both */
    for (size_t i = 0; i < old->n_fields; i++) {
      const pb__lfield *o = &old->fields[i], *n = field_at(new, o->tag);
      if (n && !same_tag(o, n, true, msg, cap)) return false;
    }
    return true;
  }
  const pb__lfield *ok = key_of(old), *nk = key_of(new);
  if (!ok && nk) {
    snprintf(msg, cap, "key added: field '%.*s' (tag %" PRIu32 ")",
             S(nk->name), nk->tag);
    return false;
  }
  if (ok && !nk) {
    snprintf(msg, cap, "key removed: field '%.*s' (tag %" PRIu32 ") is no "
             "longer the key", S(ok->name), ok->tag);
    return false;
  }
  if (ok && nk && ok->tag != nk->tag) {
    snprintf(msg, cap, "key moved from field '%.*s' (tag %" PRIu32 ") to "
             "field '%.*s' (tag %" PRIu32 ")", S(ok->name), ok->tag,
             S(nk->name), nk->tag);
    return false;
  }
  for (size_t i = 0; i < old->n_fields; i++) {
    const pb__lfield *o = &old->fields[i], *n = field_at(new, o->tag);
    if (n && !same_tag(o, n, false, msg, cap)) return false;
    if (!n && !reserves(new, o->tag)) {
      snprintf(msg, cap, "field '%.*s' (tag %" PRIu32 ") removed without "
               "reserving its tag", S(o->name), o->tag);
      return false;
    }
  }
  for (size_t i = 0; i < new->n_fields; i++) {
    const pb__lfield *n = &new->fields[i];
    if (!field_at(old, n->tag) && reserves(old, n->tag)) {
      snprintf(msg, cap, "field '%.*s' reuses tag %" PRIu32 ", reserved in "
               "the old schema", S(n->name), n->tag);
      return false;
    }
  }
  for (size_t i = 0; i < old->n_reserved; i++) {
    uint32_t t = old->reserved[i];
    if (!reserves(new, t) && !field_at(new, t)) {
      snprintf(msg, cap, "tag %" PRIu32 " is no longer reserved (a later "
               "field could reuse it)", t);
      return false;
    }
  }
  return true;
}
