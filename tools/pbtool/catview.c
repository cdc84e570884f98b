/*
 * tools/pbtool/catview.c - the catalog and the tables of one database, as
 * a read-only transaction sees them (txn/catalog.c and table/table_int.h
 * describe the entries read here).
 */
#include <stdlib.h>
#include <string.h>

#include "pbtool.h"
#include "table/table_int.h"
#include "txn/tcoll.h"

static const pb_str catalog_name = {"\0catalog", 8};

int pbt_open_hidden(pb_txn *txn, char letter, uint32_t id, const char *tail,
                    pb_value_kind kind, void **out) {
  char name[400];
  int n = snprintf(name + 1, sizeof name - 1, "%c%u%s", letter, id,
                   tail ? tail : "");
  if (n < 0 || (size_t)n >= sizeof name - 1) return PB_EINVAL;
  name[0] = '\0';
  pb__tcoll *t;
  int rc = pb__txn_open_root(txn, (pb_str){name, (size_t)n + 1}, kind, false,
                             &t);
  *out = rc == PB_OK ? (void *)t : NULL;
  return rc;
}

static uint64_t le64(const uint8_t *p) {
  uint64_t v = 0;
  for (int i = 7; i >= 0; i--) v = v << 8 | p[i];
  return v;
}

static int varint(const uint8_t **p, const uint8_t *end, uint64_t *out) {
  pb_reader r;
  pb_reader_init(&r, *p, (size_t)(end - *p));
  int rc = pb_reader_varint(&r, out);
  *p = r.pos;
  return rc;
}

static pbt_type *add_type(pbt_catalog *c) {
  pbt_type *g = realloc(c->types, (c->n_types + 1) * sizeof *g);
  if (!g) return NULL;
  c->types = g;
  pbt_type *t = &g[c->n_types++];
  memset(t, 0, sizeof *t);
  return t;
}

/* Pass 1: STRING name -> BYTES id + fingerprints. */
static int load_names(pb_hdict *h, pbt_catalog *c) {
  pb_hdict_iter *it;
  int rc = pb_hdict_iter_open(h, &it);
  if (rc != PB_OK) return rc;
  pb_value k, v;
  while ((rc = pb_hdict_iter_next(it, &k, &v)) == PB_OK) {
    if (k.kind == PB_VALUE_NULL && v.kind == PB_VALUE_UINT)
      c->last_epoch = v.as.u;
    if (k.kind == PB_VALUE_INT && k.as.i == 0 && v.kind == PB_VALUE_UINT)
      c->last_id = v.as.u;
    if (k.kind != PB_VALUE_STRING || v.kind != PB_VALUE_BYTES) continue;
    const uint8_t *p = v.as.bytes.ptr, *end = p + v.as.bytes.len;
    uint64_t id;
    if (varint(&p, end, &id) != PB_OK || (end - p) % 8 != 0) {
      rc = PB_ECORRUPT;
      break;
    }
    pbt_type *t = add_type(c);
    if (!t || !(t->name = strndup(k.as.s.ptr, k.as.s.len))) {
      rc = PB_ENOMEM;
      break;
    }
    t->id = (uint32_t)id;
    t->n_versions = (size_t)(end - p) / 8;
    t->fps = calloc(t->n_versions + 1, sizeof *t->fps);
    t->epochs = calloc(t->n_versions + 1, sizeof *t->epochs);
    if (!t->fps || !t->epochs) {
      rc = PB_ENOMEM;
      break;
    }
    for (size_t i = 0; i < t->n_versions; i++) t->fps[i] = le64(p + 8 * i);
  }
  pb_hdict_iter_close(it);
  return rc == PB_ENOTFOUND ? PB_OK : rc;
}

/* Pass 2: epochs and layouts by fingerprint. */
static int load_versions(pb_hdict *h, pbt_catalog *c) {
  pb_hdict_iter *it;
  int rc = pb_hdict_iter_open(h, &it);
  if (rc != PB_OK) return rc;
  pb_value k, v;
  while ((rc = pb_hdict_iter_next(it, &k, &v)) == PB_OK) {
    uint64_t fp;
    bool epoch = k.kind == PB_VALUE_UINT && v.kind == PB_VALUE_UINT;
    bool layout = k.kind == PB_VALUE_BYTES && k.as.bytes.len == 8 &&
                  v.kind == PB_VALUE_BYTES;
    if (!epoch && !layout) continue;
    fp = epoch ? k.as.u : le64(k.as.bytes.ptr);
    bool found = false;
    for (size_t i = 0; i < c->n_types; i++) {
      pbt_type *t = &c->types[i];
      for (size_t j = 0; j < t->n_versions; j++) {
        if (t->fps[j] != fp) continue;
        found = true;
        if (epoch) t->epochs[j] = v.as.u;
        if (layout && j + 1 == t->n_versions) {
          /* the newest version's layout decodes the records */
          if (t->has_layout) pb__layout_free(&t->layout);
          t->has_layout =
              pb__layout_decode(v.as.bytes, &t->layout) == PB_OK;
        }
      }
    }
    if (!found && epoch) { /* an old catalog: a version without a name */
      pbt_type *t = add_type(c);
      if (!t || !(t->name = strdup("?")) ||
          !(t->fps = calloc(1, sizeof *t->fps)) ||
          !(t->epochs = calloc(1, sizeof *t->epochs))) {
        rc = PB_ENOMEM;
        break;
      }
      t->n_versions = 1;
      t->fps[0] = fp;
      t->epochs[0] = v.as.u;
    }
  }
  pb_hdict_iter_close(it);
  return rc == PB_ENOTFOUND ? PB_OK : rc;
}

static bool parse_u32(const char *s, size_t n, uint32_t *out) {
  uint64_t v = 0;
  if (n == 0 || n > 10) return false;
  for (size_t i = 0; i < n; i++) {
    if (s[i] < '0' || s[i] > '9') return false;
    v = v * 10 + (uint64_t)(s[i] - '0');
  }
  if (v > UINT32_MAX) return false;
  *out = (uint32_t)v;
  return true;
}

static pbt_table *table_of(pbt_catalog *c, uint32_t id, bool add) {
  for (size_t i = 0; i < c->n_tables; i++)
    if (c->tables[i].id == id) return &c->tables[i];
  if (!add) return NULL;
  pbt_table *g = realloc(c->tables, (c->n_tables + 1) * sizeof *g);
  if (!g) return NULL;
  c->tables = g;
  pbt_table *t = &g[c->n_tables++];
  memset(t, 0, sizeof *t);
  t->id = id;
  return t;
}

/* The database root's names: tables, members, user values. */
static int load_root(pb_txn *txn, pbt_catalog *c) {
  pb__tcoll **all, *names;
  int rc = pb__txn_names(txn, &all, &names);
  if (rc != PB_OK) return rc;
  pb_dict_iter *it;
  if ((rc = pb_dict_iter_open((pb_dict *)(void *)names, NULL, 0, &it)))
    return rc;
  pb_str k;
  pb_value v;
  while ((rc = pb_dict_iter_next(it, &k, &v)) == PB_OK) {
    if (k.len > 0 && k.ptr[0] != '\0') {
      char **g = realloc(c->values, (c->n_values + 1) * sizeof *g);
      if (!g || !(g[c->n_values] = strndup(k.ptr, k.len))) {
        if (g) c->values = g;
        rc = PB_ENOMEM;
        break;
      }
      c->values = g;
      c->n_values++;
      continue;
    }
    if (k.len < 3) continue;
    const char *colon = memchr(k.ptr, ':', k.len);
    size_t idlen = (colon ? (size_t)(colon - k.ptr) : k.len) - 2;
    uint32_t id;
    if (!parse_u32(k.ptr + 2, idlen, &id)) continue; /* "\0tables" ... */
    if (k.ptr[1] == 't' && !colon) {
      if (!table_of(c, id, true)) rc = PB_ENOMEM;
    } else if (k.ptr[1] == 'm' && colon) {
      uint32_t tag;
      pbt_table *t = table_of(c, id, true);
      if (!t) {
        rc = PB_ENOMEM;
      } else if (parse_u32(colon + 1, (size_t)(k.ptr + k.len - colon - 1),
                           &tag)) {
        uint32_t *g = realloc(t->members, (t->n_members + 1) * sizeof *g);
        if (!g) rc = PB_ENOMEM;
        else (t->members = g)[t->n_members++] = tag;
      }
    }
    if (rc != PB_OK) break;
  }
  pb_dict_iter_close(it);
  return rc == PB_ENOTFOUND ? PB_OK : rc;
}

/* "\0tables": index definitions and keyless counters. */
static int load_meta(pb_txn *txn, pbt_catalog *c) {
  pb__tcoll *m;
  int rc = pb__txn_open_root(txn, pb__tab_meta_name, PB_VALUE_DICT, false,
                             &m);
  if (rc == PB_ENOTFOUND) return PB_OK;
  if (rc != PB_OK) return rc;
  pb_dict_iter *it;
  if ((rc = pb_dict_iter_open((pb_dict *)(void *)m, NULL, 0, &it)))
    return rc;
  pb_str k;
  pb_value v;
  while ((rc = pb_dict_iter_next(it, &k, &v)) == PB_OK) {
    const char *colon = memchr(k.ptr, ':', k.len);
    uint32_t id;
    if (!parse_u32(k.ptr, colon ? (size_t)(colon - k.ptr) : k.len, &id))
      continue;
    pbt_table *t = table_of(c, id, true);
    if (!t) {
      rc = PB_ENOMEM;
      break;
    }
    if (!colon) {
      if (v.kind == PB_VALUE_UINT) t->next_id = v.as.u;
      continue;
    }
    if (v.kind != PB_VALUE_BYTES) continue;
    const uint8_t *p = v.as.bytes.ptr, *end = p + v.as.bytes.len;
    uint64_t flags, n;
    if (varint(&p, end, &flags) || varint(&p, end, &n) || n == 0 ||
        n > 64) {
      rc = PB_ECORRUPT;
      break;
    }
    pbt_index *g = realloc(t->idx, (t->n_idx + 1) * sizeof *g);
    if (!g) {
      rc = PB_ENOMEM;
      break;
    }
    t->idx = g;
    pbt_index *x = &g[t->n_idx];
    memset(x, 0, sizeof *x);
    x->name = strndup(colon + 1, (size_t)(k.ptr + k.len - colon - 1));
    x->tags = calloc((size_t)n, sizeof *x->tags);
    if (!x->name || !x->tags) {
      free(x->name);
      free(x->tags);
      rc = PB_ENOMEM;
      break;
    }
    t->n_idx++;
    x->flags = (uint32_t)flags;
    x->n_tags = (size_t)n;
    for (size_t i = 0; i < n && rc == PB_OK; i++) {
      uint64_t tag;
      if (varint(&p, end, &tag)) rc = PB_ECORRUPT;
      x->tags[i] = (uint32_t)tag;
    }
    if (rc != PB_OK) break;
  }
  pb_dict_iter_close(it);
  return rc == PB_ENOTFOUND ? PB_OK : rc;
}

int pbt_catalog_load(pb_txn *txn, pbt_catalog *c) {
  memset(c, 0, sizeof *c);
  pb__tcoll *h;
  int rc = pb__txn_open_root(txn, catalog_name, PB_VALUE_HASHDICT, false, &h);
  if (rc == PB_OK) {
    rc = load_names((pb_hdict *)(void *)h, c);
    if (rc == PB_OK) rc = load_versions((pb_hdict *)(void *)h, c);
  } else if (rc == PB_ENOTFOUND) {
    rc = PB_OK;
  }
  if (rc == PB_OK) rc = load_root(txn, c);
  if (rc == PB_OK) rc = load_meta(txn, c);
  for (size_t i = 0; rc == PB_OK && i < c->n_tables; i++) {
    pbt_table *t = &c->tables[i];
    t->type = pbt_type_by_id(c, t->id);
    t->keyless = !t->type || !t->type->has_layout ||
                 !pbt_key_field(&t->type->layout);
  }
  if (rc != PB_OK) pbt_catalog_free(c);
  return rc;
}

void pbt_catalog_free(pbt_catalog *c) {
  for (size_t i = 0; i < c->n_types; i++) {
    pbt_type *t = &c->types[i];
    free(t->name);
    free(t->fps);
    free(t->epochs);
    if (t->has_layout) pb__layout_free(&t->layout);
  }
  free(c->types);
  for (size_t i = 0; i < c->n_tables; i++) {
    pbt_table *t = &c->tables[i];
    for (size_t j = 0; j < t->n_idx; j++) {
      free(t->idx[j].name);
      free(t->idx[j].tags);
    }
    free(t->idx);
    free(t->members);
  }
  free(c->tables);
  for (size_t i = 0; i < c->n_values; i++) free(c->values[i]);
  free(c->values);
  memset(c, 0, sizeof *c);
}

const pbt_type *pbt_type_by_id(const pbt_catalog *c, uint32_t id) {
  for (size_t i = 0; i < c->n_types; i++)
    if (c->types[i].id == id && id != 0) return &c->types[i];
  return NULL;
}

const pbt_type *pbt_type_by_name(const pbt_catalog *c, pb_str name) {
  for (size_t i = 0; i < c->n_types; i++)
    if (strlen(c->types[i].name) == name.len &&
        memcmp(c->types[i].name, name.ptr, name.len) == 0)
      return &c->types[i];
  return NULL;
}

const pbt_type *pbt_type_by_fp(const pbt_catalog *c, uint64_t fp,
                               uint64_t *epoch) {
  for (size_t i = 0; i < c->n_types; i++)
    for (size_t j = 0; j < c->types[i].n_versions; j++)
      if (c->types[i].fps[j] == fp) {
        if (epoch) *epoch = c->types[i].epochs[j];
        return &c->types[i];
      }
  return NULL;
}

const pb__lfield *pbt_field(const pb__layout *l, uint32_t tag) {
  for (size_t i = 0; i < l->n_fields; i++)
    if (l->fields[i].tag == tag) return &l->fields[i];
  return NULL;
}

const pb__lfield *pbt_key_field(const pb__layout *l) {
  for (size_t i = 0; i < l->n_fields; i++)
    if (l->fields[i].flags & PB_FIELD_KEY) return &l->fields[i];
  return NULL;
}
