/*
 * collections/dict_node.c - one Dictionary node: searching it, allocating
 * it, and turning it from and into an atom (layouts in dict.c).
 *
 * Decoding trusts nothing.  Besides the shape of the values, it checks
 * that keys are strictly ascending and lie inside the bounds the parent's
 * separators give, that a branch's level is its parent's minus one (so a
 * REF back to an ancestor, which would make a cycle, is PB_ECORRUPT), that
 * child counts are at least 1 and do not overflow, and that a child holds
 * exactly the entries its parent's count says.  Whatever the atoms hold,
 * the in-memory tree is then a well-formed B+tree (possibly with nodes of
 * another fanout, which the editing code accepts).
 *
 * What a node holds is checked once, when the object is built (and may
 * then be shared through the object cache); what depends on its parent
 * (level, bounds, count: fits() and load_checked) is checked when a handle
 * first loads it under that parent, after which the handle keeps it (in a
 * slot, or in its kid map under a shared parent).  Shared nodes are read
 * in place and copied only before a handle's first write (own_slot).
 */
#include <assert.h>
#include <stdlib.h>
#include <string.h>

#include <pthread.h>
#include <stddef.h>

#include "atom/atom.h"
#include "atom/utf8.h"
#include "atom/value.h"
#include "collections/dict_int.h"
#include "util/ebr.h"
#include "util/endian.h"
#include "util/slab.h"
#include "util/errdetail.h"

size_t pb__dict_fanout(void) {
  size_t f = pb__coll_fanout;
  if (f < 4) f = 4;
  if (f > PB__DICT_FANOUT_MAX) f = PB__DICT_FANOUT_MAX;
  return f;
}

size_t pb__dict_min_fill(void) { return (pb__dict_fanout() + 1) / 2; }

/* Key i of `node` (an entry's key, or separator i of a branch). */
static pb_str key_at(const pb__dnode *node, size_t i) {
  return node->level == 0 ? node->ents[i].key : node->kids[i].key;
}

/* The 8 bytes of `k` after its first `skip` (dict_int.h). */
static uint64_t prefix_of(pb_str k, size_t skip) {
  return pb__dict_window(k, skip);
}

/* The first i in [a, b) with v[i] >= x (b when none), v ascending: a
 * binary search whose steps are conditional moves, not branches. */
static size_t first_at_least(const uint64_t *v, size_t a, size_t b,
                             uint64_t x) {
  if (a >= b) return a;
  const uint64_t *p = v + a;
  for (size_t n = b - a; n > 1;) {
    size_t half = n / 2;
    p = p[half] < x ? p + half : p;
    n -= half;
  }
  return (size_t)(p - v) + (*p < x);
}

/* Narrows [*lo, *hi) of `node`'s keys (ascending) to those that may equal
 * `key`, using the prefix array: keys before *lo are < key, keys from *hi
 * on are > key.  Reads no key bytes but the common prefix.  Returns 1
 * when key i == *lo equals `key` (then *hi == *lo + 1), -1 when nothing
 * in [*lo, *hi) needs a compare, 0 when the caller must compare.
 *
 * A key no longer than lcp + 8 bytes is decided without reading key
 * bytes: among keys with its common prefix and its 8-byte prefix (zero
 * padded), a key of the same length is equal, a shorter one is smaller
 * and a longer one larger (the padding sorts a shorter key first). */
static int prefix_narrow(const pb__dnode *node, pb_str key, size_t *lo,
                         size_t *hi) {
  size_t m = key.len < node->lcp ? key.len : node->lcp;
  int c = m ? memcmp(key.ptr, node->cp, m) : 0;
  if (c < 0 || (c == 0 && key.len < node->lcp)) { /* below every key */
    *hi = *lo;
    return -1;
  }
  if (c > 0) { /* above every key */
    *lo = *hi;
    return -1;
  }
  uint64_t kp = prefix_of(key, node->lcp);
  size_t a = *lo, b = *hi;
  if (node->top && b - a > 16) { /* the summary first: one line */
    size_t ja = (a + 7) / 8, jb = (b + 7) / 8, j = ja; /* 8j in [a, b) */
    if (jb - ja <= 16) /* count the smaller ones: no branch to mispredict */
      for (size_t t = ja; t < jb; t++) j += node->top[t] < kp;
    else
      j = first_at_least(node->top, ja, jb, kp);
    if (j < jb) b = 8 * j;      /* pfx[8j] >= kp */
    if (j > ja) a = 8 * j - 7;  /* pfx[8(j-1)] < kp */
    if (node->ents) { /* a leaf: the entries the match is among (about 6
      * lines), asked for now rather than once the prefixes have chosen
      * one (a warm get in one read txn: 2 to 3% faster, the same program
      * switching every 20,000 gets; a branch's children, asked for the
      * same way, cost a warm get as much as they saved an in-place one) */
      const char *q = (const char *)&node->ents[a];
      const char *qe = (const char *)&node->ents[b < *hi ? b + 1 : b];
      for (; q < qe; q += 64) __builtin_prefetch(q); /* a line each */
    }
  }
  a = first_at_least(node->pfx, a, b, kp);
  if (node->vals && a < *hi && node->vals[a]) { /* a cached leaf: the value
    * of the likely match, fetched beside its entry rather than after it:
    * all of its lines, up to where the next entry's value starts (its
    * key's bytes between), so that the caller's read of a value longer
    * than a line waits once (a get in one read txn whose caller reads its
    * 100-byte value: 3.7 to 4% faster than asking for the first two
    * lines, the same program switching every 20,000 gets) */
    const void *next = a + 1 < node->n ? node->vals[a + 1] : NULL;
    pb__dict_prefetch_value(node->vals[a], next);
  }
  size_t e = a;
  while (e < *hi && node->pfx[e] == kp) e++; /* equal prefixes: rare runs */
  *lo = a;
  *hi = e;
  if (a == e || key.len > node->lcp + 8) return a == e ? -1 : 0;
  /* Decided by length: the first key of the run at least as long. */
  while (a < e && key_at(node, a).len < key.len) a++;
  *lo = a;
  if (a < e && key_at(node, a).len == key.len) {
    *hi = a + 1;
    return 1;
  }
  *hi = a;
  return -1;
}

size_t pb__dict_leaf_search(const pb__dnode *leaf, pb_str key, bool *found) {
  size_t lo = 0, hi = leaf->n;
  *found = false;
  if (leaf->pfx) {
    int r = prefix_narrow(leaf, key, &lo, &hi);
    if (r != 0) {
      *found = r > 0;
      return lo;
    }
  }
  while (lo < hi) {
    size_t mid = lo + (hi - lo) / 2;
    int c = pb__dict_key_cmp(leaf->ents[mid].key, key);
    if (c == 0) {
      *found = true;
      return mid;
    }
    if (c < 0) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

size_t pb__dict_kid_search(const pb__dnode *branch, pb_str key) {
  /* The last child whose separator is <= key (child 0 has none). */
  size_t lo = 1, hi = branch->n;
  if (branch->pfx && lo < hi) {
    int r = prefix_narrow(branch, key, &lo, &hi);
    if (r > 0) return lo; /* separator lo equals the key */
    if (r < 0) return lo - 1;
  }
  while (lo < hi) {
    size_t mid = lo + (hi - lo) / 2;
    if (pb__dict_key_cmp(branch->kids[mid].key, key) <= 0) lo = mid + 1;
    else hi = mid;
  }
  return lo - 1;
}

/* The length of the common prefix of node's keys (dict_int.h: lcp). */
static size_t common_prefix(const pb__dnode *node) {
  size_t first = node->level == 0 ? 0 : 1;
  if (node->n <= first) return 0;
  pb_str a = key_at(node, first), b = key_at(node, node->n - 1);
  size_t l = 0, m = a.len < b.len ? a.len : b.len;
  while (l < m && a.ptr[l] == b.ptr[l]) l++; /* keys ascend: lcp(first, last) */
  return l;
}

/* Fills node's prefix array `pfx` (n entries) and, when `top` is not
 * NULL, its summary (top[j] = pfx[8 j]), over a common prefix of `lcp`
 * bytes whose copy is `cp`. */
static void fill_prefixes(pb__dnode *node, uint64_t *pfx, uint64_t *top,
                          const char *cp, size_t lcp) {
  size_t first = node->level == 0 ? 0 : 1;
  pfx[0] = 0;
  for (size_t i = first; i < node->n; i++)
    pfx[i] = prefix_of(key_at(node, i), lcp);
  if (top)
    for (size_t j = 0; 8 * j < node->n; j++) top[j] = pfx[8 * j];
  node->pfx = pfx;
  node->top = top;
  node->cp = cp;
  node->lcp = lcp;
}

/* Builds the prefix array of a node a handle owns (no summary), pointing
 * into its keys.  Errors: PB_ENOMEM. */
static int build_prefixes(pb__dnode *node) {
  size_t first = node->level == 0 ? 0 : 1;
  if (node->n <= first) return PB_OK; /* nothing to search */
  uint64_t *pfx = malloc(node->n * sizeof *pfx);
  if (!pfx) return PB_ENOMEM;
  fill_prefixes(node, pfx, NULL, key_at(node, first).ptr, common_prefix(node));
  return PB_OK;
}

void pb__dict_kid_bounds(const pb__dnode *parent, const pb__dbounds *pb,
                         size_t i, pb__dbounds *out) {
  *out = *pb;
  if (i > 0) {
    out->lo = parent->kids[i].key;
    out->has_lo = true;
  }
  if (i + 1 < parent->n) {
    out->hi = parent->kids[i + 1].key;
    out->has_hi = true;
  }
}

uint64_t pb__dict_node_total(const pb__dnode *node) {
  if (node->level == 0) return node->n;
  uint64_t t = 0;
  for (size_t i = 0; i < node->n; i++) t += node->kids[i].count;
  return t;
}

pb__dnode *pb__dnode_new(unsigned level, size_t cap) {
  pb__dnode *node = calloc(1, sizeof *node);
  if (!node) return NULL;
  if (cap == 0) cap = 1;
  node->level = level;
  node->cap = cap;
  if (level == 0) node->ents = malloc(cap * sizeof *node->ents);
  else node->kids = malloc(cap * sizeof *node->kids);
  if (!node->ents && !node->kids) {
    free(node);
    return NULL;
  }
  return node;
}

void pb__dnode_free(pb__dnode *node) {
  if (!node || node->shared) return; /* a cached object's, not the handle's */
  assert(node->level < PB__COLL_MAX_DEPTH); /* bounds the recursion */
  if (node->level > 0)
    for (size_t i = 0; i < node->n; i++) pb__dnode_free(node->kids[i].node);
  free(node->ents);
  free(node->kids);
  free(node->pfx);
  free(node);
}

int pb__dnode_reserve(pb__dnode *node, size_t want) {
  if (want <= node->cap) return PB_OK;
  size_t cap = node->cap * 2 > want ? node->cap * 2 : want;
  if (node->level == 0) {
    pb__dent *e = realloc(node->ents, cap * sizeof *e);
    if (!e) return PB_ENOMEM;
    node->ents = e;
  } else {
    pb__dkid *k = realloc(node->kids, cap * sizeof *k);
    if (!k) return PB_ENOMEM;
    node->kids = k;
  }
  node->cap = cap;
  return PB_OK;
}

/* --- decoding --- */

/*
 * A node is decoded in ONE pass over its atom, straight into the array
 * that will hold its entries or children (a cached build's block, or a
 * private node's): no intermediate array of values, no intermediate node.
 * Every check is made as the bytes go by: the value count (the first
 * varint) fits the atom and the node's kind, keys are STRINGs of at most
 * PB__DICT_KEY_MAX bytes of valid UTF-8 (checked once, here), strictly
 * ascending, a branch's level, counts (>= 1, no overflow) and REFs (not
 * null), and no byte is left after the last value.
 */

static bool above_lo(const pb__dbounds *b, pb_str k, bool strict) {
  if (!b->has_lo) return true;
  int c = pb__dict_key_cmp(k, b->lo);
  return strict ? c > 0 : c >= 0;
}

static bool below_hi(const pb__dbounds *b, pb_str k) {
  return !b->has_hi || pb__dict_key_cmp(k, b->hi) < 0;
}

/* A Dictionary node atom opened for decoding. */
typedef struct dict_atom {
  unsigned level; /* 0: a leaf */
  size_t m;       /* its entries (a leaf) or children (a branch) */
  size_t key0;    /* the length of its first key (a leaf's key 0, a
                     branch's separator 1) as its header says, at most
                     PB__DICT_KEY_MAX; 0 when it has none or it is not a
                     key (decoding then fails, or there is no prefix) */
  pb_reader r;    /* at its first entry, or its child 0's count */
  bool idx;       /* an indexed leaf (PB__TYPE_DICT_LEAF_IDX): dir is set */
  pb__ddir dir;   /* its directory, its shape checked (not yet its
                     contents: decode_leaf checks them against the keys) */
} dict_atom;

/* The length a STRING value at r says it has (r is a copy: nothing is
 * consumed), at most PB__DICT_KEY_MAX; 0 when it is not a STRING. */
static size_t peek_key_len(pb_reader r) {
  if (r.pos == r.end || *r.pos != PB_VALUE_STRING) return 0;
  r.pos++;
  uint64_t len;
  if (pb_reader_varint(&r, &len) != PB_OK) return 0;
  return len < PB__DICT_KEY_MAX ? (size_t)len : PB__DICT_KEY_MAX;
}

/* Opens `atom`: its envelope, its value count (checked against its kind
 * and its size), a branch's level.  Errors: PB_ECORRUPT, PB_EVERSION. */
static int open_atom(pb_bytes atom, dict_atom *a) {
  uint32_t type;
  pb_bytes body;
  int rc = pb__atom_parse(atom, &type, &body);
  if (rc != PB_OK) return rc;
  if (type != PB__TYPE_DICT_LEAF && type != PB__TYPE_DICT_LEAF_IDX &&
      type != PB__TYPE_DICT_BRANCH)
    return PB__CORRUPT("node type %" PRIu32 ", expected %u, %u or %u", type,
                       (unsigned)PB__TYPE_DICT_LEAF,
                       (unsigned)PB__TYPE_DICT_LEAF_IDX,
                       (unsigned)PB__TYPE_DICT_BRANCH);
  pb_reader_init(&a->r, body.ptr, body.len);
  a->idx = false;
  uint64_t n;
  if (pb_reader_varint(&a->r, &n) != PB_OK || n > PB__NODE_MAX_VALUES ||
      n > (uint64_t)(a->r.end - a->r.pos)) /* a value takes a byte at least */
    return PB__CORRUPT("node: bad value count");
  if (type == PB__TYPE_DICT_LEAF) {
    if (n % 2 != 0)
      return PB__CORRUPT("dict leaf: %" PRIu64 " values, not an even number",
                         n);
    a->level = 0;
    a->m = (size_t)n / 2;
    a->key0 = peek_key_len(a->r);
    return PB_OK;
  }
  if (type == PB__TYPE_DICT_LEAF_IDX) {
    if (n % 2 != 1)
      return PB__CORRUPT("dict leaf: %" PRIu64 " values, not an odd number",
                         n);
    a->level = 0;
    a->m = (size_t)n / 2;
    const char *why = pb__ddir_open(&a->r, a->m, &a->dir);
    if (why) return PB__CORRUPT("dict leaf: directory: %s", why);
    a->idx = true;
    a->key0 = peek_key_len(a->r);
    return PB_OK;
  }
  if (n < 3 || n % 3 != 0)
    return PB__CORRUPT("dict branch: %" PRIu64
                       " values, not a multiple of 3 above 0",
                       n);
  pb_value lv;
  if (pb__value_decode(&a->r, &lv) != PB_OK || lv.kind != PB_VALUE_UINT ||
      lv.as.u < 1 || lv.as.u >= PB__COLL_MAX_DEPTH)
    return PB__CORRUPT("dict branch: bad level");
  a->level = (unsigned)lv.as.u;
  a->m = (size_t)n / 3;
  a->key0 = 0;
  if (a->m > 1) { /* separator 1 follows child 0's count and REF */
    pb_reader q = a->r;
    pb_value skip;
    if (pb__value_decode(&q, &skip) == PB_OK &&
        pb__value_decode(&q, &skip) == PB_OK)
      a->key0 = peek_key_len(q);
  }
  return PB_OK;
}

/* Reads a key: a STRING value of at most PB__DICT_KEY_MAX bytes of valid
 * UTF-8, as a view into the atom.  False: anything else. */
static bool read_key(pb_reader *r, pb_str *k) {
  if (r->end - r->pos < 2 || *r->pos != PB_VALUE_STRING) return false;
  r->pos++;
  uint64_t len;
  if (*r->pos < 0x80) /* a one-byte length: keys up to 127 bytes */
    len = *r->pos++;
  else if (pb_reader_varint(r, &len) != PB_OK)
    return false;
  if (len > PB__DICT_KEY_MAX || len > (uint64_t)(r->end - r->pos) ||
      !pb__utf8_valid_short(r->pos, (size_t)len))
    return false;
  k->ptr = (const char *)r->pos;
  k->len = (size_t)len;
  r->pos += len;
  return true;
}

/* The common value, inline: BYTES, or STRING of valid UTF-8, with a
 * one-byte length that fits the atom.  False, consuming nothing, for
 * anything else (pb__value_decode then decodes it, or says why not). */
static bool read_short_bytes(pb_reader *r, pb_value *v) {
  const uint8_t *p = r->pos;
  if (r->end - p < 2 || (p[0] != PB_VALUE_BYTES && p[0] != PB_VALUE_STRING) ||
      p[1] >= 0x80 || p[1] > r->end - p - 2)
    return false;
  size_t len = p[1];
  if (p[0] == PB_VALUE_STRING) {
    if (!pb__utf8_valid_short(p + 2, len)) return false;
    *v = (pb_value){.kind = PB_VALUE_STRING,
                    .as.s = {(const char *)p + 2, len}};
  } else {
    *v = (pb_value){.kind = PB_VALUE_BYTES, .as.bytes = {p + 2, len}};
  }
  r->pos = p + 2 + len;
  return true;
}

/* The common value of a table's rows, inline: a RECORD (kind, 8-byte
 * fingerprint) whose body has a one-byte length that fits the atom.
 * False, consuming nothing, for anything else (pb__value_decode then
 * decodes it, or says why not). */
static bool read_short_record(pb_reader *r, pb_value *v) {
  const uint8_t *p = r->pos;
  if (r->end - p < 10 || p[0] != PB_VALUE_RECORD || p[9] >= 0x80 ||
      p[9] > r->end - p - 10)
    return false;
  size_t len = p[9];
  memset(v, 0, sizeof *v);
  v->kind = PB_VALUE_RECORD;
  v->as.rec.fingerprint = pb__load_le64(p + 1);
  v->as.rec.body.ptr = p + 10;
  v->as.rec.body.len = len;
  r->pos = p + 10 + len;
  return true;
}

/* The length of the prefix common to a and b. */
static size_t common_len(pb_str a, pb_str b) {
  size_t l = 0, m = a.len < b.len ? a.len : b.len;
  while (l < m && a.ptr[l] == b.ptr[l]) l++;
  return l;
}

/* Leaf: [STRING k1, v1, ..., STRING kn, vn], keys strictly ascending;
 * decoded into ents (a->m of them).  An indexed leaf's directory must say
 * exactly what the keys do: where each starts, its window, and their
 * common prefix (so a search in place may trust what it checked of it). */
static int decode_leaf(dict_atom *a, pb__dent *ents) {
  const pb__ddir *dir = a->idx ? &a->dir : NULL;
  for (size_t i = 0; i < a->m; i++) {
    if (dir && (size_t)(a->r.pos - dir->base) != pb__ddir_off(dir, i))
      return PB__CORRUPT("dict leaf: directory: offset %zu is not where "
                         "key %zu starts", i, i);
    if (!read_key(&a->r, &ents[i].key))
      return PB__CORRUPT("dict leaf: key %zu is not a valid key", i);
    if (i > 0 && pb__dict_key_cmp(ents[i - 1].key, ents[i].key) >= 0)
      return PB__CORRUPT("dict leaf: key %zu not ascending", i);
    if (!read_short_bytes(&a->r, &ents[i].val) &&
        !read_short_record(&a->r, &ents[i].val) &&
        pb__value_decode(&a->r, &ents[i].val) != PB_OK)
      return PB__CORRUPT("dict leaf: value %zu of %zu: %s", i, a->m,
                         pb_errdetail()); /* value_decode's reason */
  }
  if (a->r.pos != a->r.end)
    return PB__CORRUPT("node: bytes after its %zu values",
                       2 * a->m + (dir ? 1 : 0));
  if (dir) {
    size_t c = a->m > 1 ? common_len(ents[0].key, ents[a->m - 1].key) : 0;
    if (dir->c != c)
      return PB__CORRUPT("dict leaf: directory: common prefix of %zu bytes, "
                         "the keys share %zu", dir->c, c);
    for (size_t i = 0; i < a->m; i++)
      if (pb__ddir_win(dir, i) != pb__dict_window(ents[i].key, c))
        return PB__CORRUPT("dict leaf: directory: window %zu is not key "
                           "%zu's", i, i);
  }
  return PB_OK;
}

/* --- the directory of an indexed leaf (dict_int.h) --- */

const char *pb__ddir_open(pb_reader *r, size_t m, pb__ddir *out) {
  uint64_t len, c;
  if (r->pos == r->end || *r->pos != PB_VALUE_BYTES) return "not a BYTES";
  r->pos++;
  if (pb_reader_varint(r, &len) != PB_OK ||
      len > (uint64_t)(r->end - r->pos))
    return "truncated";
  pb_reader d;
  pb_reader_init(&d, r->pos, (size_t)len);
  r->pos += len;
  if (pb_reader_varint(&d, &c) != PB_OK || d.pos == d.end)
    return "truncated";
  if (c > PB__DICT_KEY_MAX || (m <= 1 && c != 0))
    return "bad common prefix length";
  unsigned w = *d.pos++;
  if (w != 2 && w != 4) return "bad offset width";
  /* m <= PB__NODE_MAX_VALUES / 2: no overflow */
  if ((size_t)(d.end - d.pos) != m * (8 + w))
    return "its size is not what its count says";
  *out = (pb__ddir){m, (size_t)c, w, d.pos, d.pos + 8 * m, r->pos,
                    (size_t)(r->end - r->pos)};
  return NULL;
}

/* Branch: [UINT level, UINT c0, REF p0, STRING s1, UINT c1, REF p1, ...]
 * (the level was read by open_atom); separators strictly ascending,
 * counts at least 1 whose sum does not overflow, REFs not null; decoded
 * into kids (a->m of them), their sum into *total. */
static int decode_branch(dict_atom *a, pb__dkid *kids, uint64_t *total) {
  uint64_t t = 0;
  for (size_t i = 0; i < a->m; i++) {
    pb__dkid *k = &kids[i];
    pb_value cnt, ref;
    if (i == 0) k->key = (pb_str){"", 0};
    else if (!read_key(&a->r, &k->key) ||
             (i > 1 && pb__dict_key_cmp(kids[i - 1].key, k->key) >= 0))
      goto bad;
    if (pb__value_decode(&a->r, &cnt) != PB_OK ||
        cnt.kind != PB_VALUE_UINT || cnt.as.u < 1 ||
        pb__value_decode(&a->r, &ref) != PB_OK ||
        ref.kind != PB_VALUE_REF || pb_atom_ptr_is_null(ref.as.ref))
      goto bad;
    if (cnt.as.u > UINT64_MAX - t)
      return PB__CORRUPT("dict branch: counts overflow at child %zu", i);
    t += cnt.as.u;
    k->count = cnt.as.u;
    k->ptr = ref.as.ref;
    k->node = NULL;
    continue;
  bad:
    return PB__CORRUPT(
        "dict branch: child %zu has a bad separator, count or pointer", i);
  }
  if (a->r.pos != a->r.end)
    return PB__CORRUPT("node: bytes after its %zu values", 3 * a->m);
  *total = t;
  return PB_OK;
}

/* Decodes the opened atom into `node`, whose level is a->level and whose
 * array holds a->m items; sets n and *total.  Errors: PB_ECORRUPT. */
static int decode_into(dict_atom *a, pb__dnode *node, uint64_t *total) {
  assert(node->level == a->level && node->cap >= a->m);
  int rc = a->level == 0 ? decode_leaf(a, node->ents)
                         : decode_branch(a, node->kids, total);
  if (rc != PB_OK) return rc;
  if (a->level == 0) *total = a->m;
  node->n = a->m;
  return PB_OK;
}

/* --- the decoded node as the object cache shares it --- */

_Atomic uint64_t pb__dict_copies;

/*
 * A node decoded with no context (any level, open bounds), with its
 * prefix array: SHARED once in the cache (every handle reads it in place),
 * or taken over by the one handle that loaded it when built privately.
 *
 * LINKS.  A cached branch reaches its cached children directly: links[i]
 * is the object of child i, or NULL.  A reader inside an epoch (the
 * source's caches say so: a transaction's snapshot, util/ebr.h) follows a
 * link with one atomic load: no cache lookup, no lock, no reference, no
 * write.  The link is made by the first reader that loads child i through
 * the cache under this parent, after checking that the child fits there
 * (level, bounds, count), so that check runs once per (parent, child),
 * not once per handle.
 *
 * A child is named by at most one link (its `back`); a parent built
 * later (a newer version of the tree: `gen`) takes the link over, so the
 * link follows the tree that new transactions read.  Links are made and
 * cleared only under link_mu; readers only load them.  When the cache
 * drops an object (obj_retire), it clears the link that names it and the
 * links it holds, is marked dead (no link is made to or from it again),
 * and is retired: freed once every reader that might still be inside it
 * has ended its epoch.  A reader that loaded a link before it was
 * cleared began before the retirement, so it is one of those.
 */
typedef struct pb__dict_obj {
  pb__dnode inl;     /* first: the node of a cached build (block), what a
                        search reads first */
  _Atomic(struct pb__dict_obj *) *links; /* a cached branch's n links, or
                                            NULL (a leaf, a private build) */
  pb__obj h;         /* the object header (obj_of) */
  pb__dnode *node;   /* &inl, or a private build's node; its kids are all
                        NOT LOADED */
  uint64_t total;    /* entries in its subtree */
  _Atomic(struct pb__dict_obj *) *back; /* the link or root cell that
                                names it, or NULL (link_mu) */
  uint64_t back_gen;         /* gen of the parent that link is in; 0 for a
                                root cell */
  uint64_t gen;              /* build order: a newer parent takes links */
  pb_atom_ptr ptr;           /* its atom, once linked from a root cell */
  bool has_ptr;              /* ptr is set (link_mu; then never again) */
  bool dead;                 /* retired (link_mu) */
  bool block;                /* node is `inl`, all in this one block */
  atomic_bool used;          /* reached through a link or cell since the
                                cache last asked (obj_referenced) */
  pb__ebr_node ebr;          /* its place among the retired */
  uint32_t geo;              /* a leaf's hash slots (pb__dslots_geo), or 0 */
} dict_obj;

/* The object whose header is `h`. */
static dict_obj *obj_of(const pb__obj *h) {
  return (dict_obj *)((char *)h - offsetof(dict_obj, h));
}

/* A cache line. */
#define LINE 64u

/* The lines of a block a search reads (its node, common prefix, summary
 * and the prefixes of a default-fanout node; a leaf's value places too). */
#define PREFETCH_LINES 16u
#define PREFETCH_LINES_LEAF 22u

static size_t round_up(size_t x, size_t a) { return (x + a - 1) / a * a; }

/*
 * The object of a cached build: ONE block, line-aligned, holding what a
 * search reads in the order it reads it, so a descent through a node
 * touches few lines and follows no pointer out of it:
 *
 *   the object and its node | the common prefix's bytes | the summary
 *   (top) | the prefixes (line-aligned) | the links (a branch) | the
 *   leaf hints and the children's slot geos (a branch of level 1) | the
 *   entries or children | with `with_slots`, a leaf's hash slots
 *
 * Allocated once, before decoding (the opened atom gives the count, and
 * its first key's length bounds the common prefix), then the atom is
 * decoded straight into its entries or children; views into the atom stay
 * views into the atom.  *size is the block's size.  Errors: PB_ECORRUPT
 * (nothing allocated is left), PB_ENOMEM.
 */
static int block_build(dict_atom *a, bool with_slots, dict_obj **out,
                       uint64_t *size) {
  size_t n = a->m, first = a->level ? 1 : 0;
  bool pfx = n > first; /* something to search */
  size_t cp_cap = pfx ? a->key0 : 0; /* >= the common prefix */
  size_t ntop = pfx && n > 16 ? (n + 7) / 8 : 0;
  size_t item = a->level ? sizeof(pb__dkid) : sizeof(pb__dent);
  size_t o_cp = sizeof(dict_obj);
  size_t o_top = round_up(o_cp + cp_cap, 8);
  size_t o_pfx = round_up(o_top + ntop * sizeof(uint64_t), LINE);
  /* After the prefixes: a branch's links, or a leaf's value places. */
  size_t o_links = o_pfx + (pfx ? n * sizeof(uint64_t) : 0);
  size_t o_hints = o_links + n * (a->level ? sizeof(_Atomic(dict_obj *))
                                           : sizeof(const void *));
  size_t o_geo =
      o_hints + (a->level == 1 ? n * sizeof(_Atomic(const uint8_t *)) : 0);
  size_t o_items =
      round_up(o_geo + (a->level == 1 ? n * sizeof(_Atomic uint32_t) : 0), 8);
  size_t total = round_up(o_items + (n ? n : 1) * item, LINE);
  /* A leaf's hash slots last (sized by its directory). */
  size_t stride = with_slots && a->level == 0 && a->idx
                      ? pb__dslots_stride(&a->dir, n)
                      : 0;
  size_t slots = stride ? pb__dslots_count(n) : 0;
  size_t o_slots = total;
  if (slots && !pb__dslots_geo(o_slots, slots, stride))
    stride = slots = 0; /* too far or too many for a geo */
  total += slots * stride;
  /* From the slab: line-aligned, on huge pages (a read touches a few
   * nodes scattered over the whole cache: util/slab.h). */
  char *base = pb__slab_alloc(total);
  if (!base) return PB_ENOMEM;
  memset(base, 0, o_items); /* the object, the links, hints and geos all
                               NULL */
  if (slots) memset(base + o_slots, 0, slots * stride);
  dict_obj *o = (dict_obj *)base;
  pb__dnode *node = &o->inl;
  node->level = a->level;
  node->cap = n ? n : 1;
  if (a->level) {
    node->kids = (pb__dkid *)(base + o_items);
    o->links = (_Atomic(dict_obj *) *)(base + o_links);
    assert(a->level != 1 || (char *)(o->links + n) == base + o_hints);
  } else {
    node->ents = (pb__dent *)(base + o_items);
  }
  int rc = decode_into(a, node, &o->total);
  if (rc != PB_OK) {
    pb__slab_free(base);
    return rc;
  }
  if (!a->level) { /* where each value's bytes are */
    const void **vals = (const void **)(base + o_links);
    for (size_t i = 0; i < n; i++) {
      size_t len;
      if (!pb__dict_value_view(&node->ents[i].val, &vals[i], &len))
        vals[i] = NULL;
    }
    node->vals = vals;
    if (slots && pb__dslots_fill(node, (uint8_t *)base + o_slots, stride,
                                 slots))
      o->geo = pb__dslots_geo(o_slots, slots, stride);
  }
  if (pfx) {
    size_t lcp = common_prefix(node);
    assert(lcp <= cp_cap); /* no longer than the first key */
    if (lcp > cp_cap) lcp = cp_cap;
    memcpy(base + o_cp, key_at(node, first).ptr, lcp);
    fill_prefixes(node, (uint64_t *)(base + o_pfx),
                  ntop ? (uint64_t *)(base + o_top) : NULL, base + o_cp, lcp);
  }
  o->block = true;
  o->node = node;
  *size = total;
  *out = o;
  return PB_OK;
}

/* A private copy of the block node `s` for the one handle that loaded it
 * (no links, no summary; prefixes only for the tests that ask). */
static pb__dnode *private_copy(const pb__dnode *s) {
  pb__dnode *c = pb__dnode_new(s->level, s->n ? s->n : 1);
  if (!c) return NULL;
  if (s->level == 0) memcpy(c->ents, s->ents, s->n * sizeof *s->ents);
  else memcpy(c->kids, s->kids, s->n * sizeof *s->kids);
  c->n = s->n;
  if (pb__dict_prefix_private && build_prefixes(c) != PB_OK) {
    pb__dnode_free(c);
    return NULL;
  }
  return c;
}

/* The geos of a cached level-1 branch's children (after its hints in
 * its block: block_build), or NULL.  Child i's is its slots' geo once it
 * has been linked (0 before, or when it has none). */
static _Atomic uint32_t *obj_geos(const dict_obj *o) {
  if (!o->links || o->inl.level != 1) return NULL;
  return (_Atomic uint32_t *)(void *)(o->links + 2 * o->inl.n);
}

static pthread_mutex_t link_mu = PTHREAD_MUTEX_INITIALIZER;
static _Atomic uint64_t g_gen;
_Atomic uint64_t pb__dict_links;

/* The ctx that load_node gives pb__obj_load for a node that will be
 * built for one handle (not cached): no prefix array, which would cost
 * more to build (a pass over the keys) than the handle's few searches
 * save, and no links.  Any other ctx (NULL: the cache's loads and
 * write-through) builds both. */
static const char private_build;
/* The ctx of a reader's load (load_node): a cached leaf built for it gets
 * hash slots.  One built for a commit's write-through (ctx NULL) does not:
 * most of a large commit's leaves are evicted unread, and the table costs
 * about as much again as the rest of the block. */
static const char reader_build;

bool pb__dict_prefix_private = false;

static int obj_build(const void *ctx, pb_bytes atom, pb__obj **out,
                     uint64_t *extra) {
  dict_atom a;
  int rc = open_atom(atom, &a);
  if (rc != PB_OK) return rc;
  dict_obj *o;
  uint64_t size;
  pb__dnode *node;
  if (ctx != &private_build) { /* for the cache: one block */
    rc = block_build(&a, ctx == &reader_build, &o, &size);
    if (rc != PB_OK) return rc;
    node = o->node;
  } else {
    node = pb__dnode_new(a.level, a.m);
    o = calloc(1, sizeof *o);
    if (!node || !o) {
      free(o);
      pb__dnode_free(node); /* not shared yet */
      return PB_ENOMEM;
    }
    rc = decode_into(&a, node, &o->total);
    if (rc == PB_OK && pb__dict_prefix_private) rc = build_prefixes(node);
    if (rc != PB_OK) {
      free(o);
      pb__dnode_free(node);
      return rc;
    }
    o->node = node;
    size = sizeof *o + sizeof *node +
           node->cap * (node->level ? sizeof *node->kids : sizeof *node->ents) +
           (node->pfx ? node->n * sizeof *node->pfx : 0);
  }
  o->h = (pb__obj){&pb__dict_obj_class, 0, NULL};
  node->shared = true; /* until a handle takes over a private build */
  node->obj = o;
  o->gen = atomic_fetch_add_explicit(&g_gen, 1, memory_order_relaxed);
  *extra = size;
  *out = &o->h;
  return PB_OK;
}

static void obj_destroy(pb__obj *h) {
  dict_obj *o = obj_of(h);
  if (o->block) {
    pb__slab_free(o);
    return;
  }
  if (o->node) {
    o->node->shared = false; /* now it is ours to free */
    pb__dnode_free(o->node);
  }
  free(o);
}

static void obj_free_retired(pb__ebr_node *n) {
  dict_obj *o = (dict_obj *)((char *)n - offsetof(dict_obj, ebr));
  pb__obj_free(&o->h);
}

/* The cache dropped it: unlink it both ways, then retire it. */
static void obj_retire(pb__obj *h) {
  dict_obj *o = obj_of(h);
  pthread_mutex_lock(&link_mu);
  assert(!o->dead);
  o->dead = true;
  if (o->back) { /* the link or cell that names it */
    assert(atomic_load_explicit(o->back, memory_order_relaxed) == o);
    atomic_store_explicit(o->back, NULL, memory_order_relaxed);
    o->back = NULL;
  }
  for (size_t i = 0; o->links && i < o->node->n; i++) { /* its own */
    dict_obj *c = atomic_load_explicit(&o->links[i], memory_order_relaxed);
    if (!c) continue;
    assert(c->back == &o->links[i]);
    c->back = NULL;
    atomic_store_explicit(&o->links[i], NULL, memory_order_relaxed);
  }
  pthread_mutex_unlock(&link_mu);
  pb__ebr_retire(&o->ebr, obj_free_retired); /* after the unlinking */
}

static bool obj_referenced(pb__obj *h) {
  dict_obj *o = obj_of(h);
  return atomic_load_explicit(&o->used, memory_order_relaxed) &&
         atomic_exchange_explicit(&o->used, false, memory_order_relaxed);
}

const pb__obj_class pb__dict_obj_class = {"dict node", obj_build,
                                          obj_destroy, obj_retire,
                                          obj_referenced};

/* Marks c used (for the cache's second chance), writing its line only
 * when the mark is not there yet. */
static void mark_used(dict_obj *c) {
  if (!atomic_load_explicit(&c->used, memory_order_relaxed))
    atomic_store_explicit(&c->used, true, memory_order_relaxed);
}

/* Points `cell` at c (link_mu held): c's previous link or cell, and the
 * cell's previous object, are cleared first. */
static void set_cell(_Atomic(dict_obj *) *cell, dict_obj *c, uint64_t gen) {
  dict_obj *was = atomic_load_explicit(cell, memory_order_relaxed);
  if (was) {
    assert(was->back == cell);
    was->back = NULL;
  }
  if (c->back) atomic_store_explicit(c->back, NULL, memory_order_relaxed);
  c->back = cell;
  c->back_gen = gen;
  atomic_store_explicit(cell, c, memory_order_release);
  atomic_fetch_add_explicit(&pb__dict_links, 1, memory_order_relaxed);
}

/* Links child i of the cached parent p to the cached child c, which was
 * checked to fit there; best effort (see dict_obj). */
static void link_child(dict_obj *p, size_t i, dict_obj *c) {
  assert(p->links && i < p->node->n && c->node->shared);
  pthread_mutex_lock(&link_mu);
  if (!p->dead && !c->dead &&
      !atomic_load_explicit(&p->links[i], memory_order_relaxed) &&
      (!c->back || c->back_gen < p->gen)) {
    set_cell(&p->links[i], c, p->gen);
    _Atomic uint32_t *geos = obj_geos(p);
    if (geos) atomic_store_explicit(&geos[i], c->geo, memory_order_relaxed);
  }
  pthread_mutex_unlock(&link_mu);
}

/* The leaf hints of a cached level-1 branch (right after its links in
 * its block: block_build), or NULL. */
static _Atomic(const uint8_t *) *obj_hints(const dict_obj *o) {
  if (!o->links || o->inl.level != 1) return NULL;
  return (_Atomic(const uint8_t *) *)(void *)(o->links + o->inl.n);
}

/* Asks at once for the lines of c's block that a search reads (node,
 * common prefix, summary, prefixes, and a leaf's value places), rather
 * than one after another as the search meets them.  (Asking for a level-1
 * branch's leaf hints here too, for gets that read leaves in place, was
 * tried: it cost gets of cached leaves up to 25% in bench_table, and
 * gained nothing over the get's own read of the one hint it needs.) */
static void prefetch_search(const dict_obj *c, bool leaf) {
  unsigned lines = leaf ? PREFETCH_LINES_LEAF : PREFETCH_LINES;
  for (unsigned l = 0; l < lines; l++)
    __builtin_prefetch((const char *)c + l * LINE);
}

/* Links the root cell `cell` to the cached root c of the atom `ptr`; the
 * newest root wins the cell (roots change at every commit). */
static void link_root(_Atomic(void *) *vcell, dict_obj *c, pb_atom_ptr ptr) {
  _Atomic(dict_obj *) *cell = (_Atomic(dict_obj *) *)vcell;
  pthread_mutex_lock(&link_mu);
  if (!c->dead && !c->back) {
    if (!c->has_ptr) { /* written once, before any cell names it */
      c->ptr = ptr;
      c->has_ptr = true;
    }
    set_cell(cell, c, 0);
  }
  pthread_mutex_unlock(&link_mu);
}

/* The root of atom `ptr` from its cell, or NULL. */
static dict_obj *cell_root(_Atomic(void *) *vcell, pb_atom_ptr ptr) {
  _Atomic(dict_obj *) *cell = (_Atomic(dict_obj *) *)vcell;
  dict_obj *c = atomic_load_explicit(cell, memory_order_acquire);
  if (!c || c->ptr.offset != ptr.offset || c->ptr.batch_lo != ptr.batch_lo ||
      c->ptr.batch_hi != ptr.batch_hi)
    return NULL;
  prefetch_search(c, false); /* a root: most are branches */
  mark_used(c);
  return c;
}

/* Whether a context-free node fits where it was found: its level, and
 * its keys inside the bounds its parent gives (they ascend inside it).
 * Decoding checked everything inside the node once; this is the part
 * that depends on the parent: two integer compares and two key compares,
 * once per handle per node (a handle keeps what it loaded). */
static bool fits(const pb__dnode *n, unsigned level, const pb__dbounds *b) {
  if (level != PB__DLEVEL_ANY && n->level != level) return false;
  if (n->level == 0)
    return n->n == 0 || (above_lo(b, n->ents[0].key, false) &&
                         below_hi(b, n->ents[n->n - 1].key));
  return n->n < 2 || (above_lo(b, n->kids[1].key, true) &&
                      below_hi(b, n->kids[n->n - 1].key));
}

/* Reads the node of `kid` (object cache, bytes cache, storage), checks it
 * fits `level` and `b`, and gives it: the cached object's SHARED node
 * itself (no copy), or, when built for this load alone, its node, which
 * the handle takes over; *total is its subtree's size. */
static int load_node(pb__dict *d, const pb__dkid *kid, unsigned level,
                     const pb__dbounds *b, pb__dnode **out, uint64_t *total) {
  const pb__obj *h;
  pb__obj *owned;
  const void *ctx =
      pb__obj_cacheable(&d->src, kid->ptr) ? &reader_build : &private_build;
  int rc = pb__obj_load(&d->src, kid->ptr, 0, &pb__dict_obj_class, ctx, 0,
                        &h, &owned);
  if (rc != PB_OK) return rc;
  const dict_obj *o = obj_of(h);
  if (!fits(o->node, level, b)) {
    rc = PB__CORRUPT(PB__ATOM_FMT
                     " (dict node): not at level %u or outside its bounds",
                     PB__ATOM_ARGS(kid->ptr), level);
  } else if (owned && o->node == &o->inl) { /* a block: copy the node */
    *out = private_copy(o->node);
    if (!*out) rc = PB_ENOMEM;
  } else if (owned) { /* built for this load alone: take its node */
    *out = o->node;
    (*out)->shared = false;
    (*out)->obj = NULL;
    obj_of(owned)->node = NULL;
  } else {
    *out = o->node; /* shared (obj_build marked it): read in place */
  }
  if (rc == PB_OK) *total = o->total;
  pb__obj_free(owned);
  return rc;
}

/* Loads `kid` into *out (not into the slot), checking its count. */
static int load_checked(pb__dict *d, const pb__dkid *kid, unsigned level,
                        const pb__dbounds *b, pb__dnode **out) {
  assert(!pb_atom_ptr_is_null(kid->ptr));
  pb__dnode *node;
  uint64_t total;
  int rc = load_node(d, kid, level, b, &node, &total);
  if (rc != PB_OK) return rc;
  if (total != kid->count) {
    pb__dnode_free(node);
    return PB__CORRUPT(PB__ATOM_FMT " (dict node): holds %" PRIu64
                                    " keys, its parent says %" PRIu64,
                       PB__ATOM_ARGS(kid->ptr), total, kid->count);
  }
  *out = node;
  return PB_OK;
}

int pb__dict_leaf_scratch(pb__dict *d, const pb__dkid *kid,
                          const pb__dbounds *b, pb__dnode **scratch) {
  assert(!pb_atom_ptr_is_null(kid->ptr));
  pb_bytes atom;
  int rc = d->src.read(d->src.arg, kid->ptr, &atom);
  if (rc == PB_ENOTFOUND)
    rc = PB__CORRUPT("the dict leaf is missing"); /* its parent names it */
  /* The scan reads every byte of the leaf, in order: ask for all its
   * lines at once, so their misses overlap rather than come one by one
   * as the decode reaches them. */
  if (rc == PB_OK)
    for (size_t o = 0; o < atom.len; o += LINE)
      __builtin_prefetch(atom.ptr + o);
  dict_atom a;
  if (rc == PB_OK) rc = open_atom(atom, &a);
  if (rc == PB_OK && a.level != 0)
    rc = PB__CORRUPT("a dict branch where its parent says a leaf");
  pb__dnode *n = *scratch;
  if (rc == PB_OK && (!n || n->cap < a.m)) {
    pb__dnode_free(n);
    *scratch = n = pb__dnode_new(0, a.m ? a.m : 1);
    if (!n) rc = PB_ENOMEM;
  }
  uint64_t total = 0;
  if (rc == PB_OK) rc = decode_into(&a, n, &total);
  if (rc == PB_OK && !fits(n, 0, b))
    rc = PB__CORRUPT("dict leaf outside its bounds");
  if (rc == PB_OK && total != kid->count)
    rc = PB__CORRUPT("dict leaf holds %" PRIu64 " keys, its parent says %" PRIu64,
                     total, kid->count);
  if (rc != PB_OK && n) n->n = 0; /* nothing half-decoded is read */
  return rc == PB_ENOMEM ? rc : pb__errdetail_atom(rc, kid->ptr, "dict leaf");
}

int pb__dict_load(pb__dict *d, pb__dkid *kid, unsigned level,
                  const pb__dbounds *b) {
  if (kid->node) return PB_OK;
  return load_checked(d, kid, level, b, &kid->node);
}

/* --- the kid map: children loaded under shared nodes --- */

static size_t kmap_slot(const pb__dnode *parent, size_t idx, size_t cap) {
  uint64_t h = ((uint64_t)(uintptr_t)parent >> 4) * 0x9E3779B97F4A7C15u;
  h ^= idx * 0xC2B2AE3D27D4EB4Fu;
  return (size_t)(h ^ (h >> 29)) & (cap - 1);
}

static pb__dkmap_ent *kmap_find(const pb__dict *d, const pb__dnode *parent,
                                size_t idx) {
  if (!d->kmap) return NULL;
  for (size_t s = kmap_slot(parent, idx, d->kmap_cap);;
       s = (s + 1) & (d->kmap_cap - 1)) {
    pb__dkmap_ent *e = &d->kmap[s];
    if (!e->parent) return NULL;
    if (e->parent == parent && e->idx == idx) return e;
  }
}

static void kmap_put_cell(pb__dkmap_ent *cells, size_t cap,
                          const pb__dkmap_ent *e) {
  size_t s = kmap_slot(e->parent, e->idx, cap);
  while (cells[s].parent) s = (s + 1) & (cap - 1);
  cells[s] = *e;
}

/* Adds (parent, idx) -> child; the map has no such key.  PB_ENOMEM. */
static int kmap_add(pb__dict *d, const pb__dnode *parent, size_t idx,
                    pb__dnode *child) {
  if (2 * (d->kmap_used + 1) > d->kmap_cap) {
    size_t cap = d->kmap_cap ? 2 * d->kmap_cap : PB__DKMAP_SMALL;
    pb__dkmap_ent *cells = d->kmap_small; /* cleared on first use */
    if (d->kmap_cap) cells = calloc(cap, sizeof *cells);
    else memset(cells, 0, sizeof d->kmap_small);
    if (!cells) return PB_ENOMEM;
    for (size_t i = 0; i < d->kmap_cap; i++)
      if (d->kmap[i].parent) kmap_put_cell(cells, cap, &d->kmap[i]);
    if (d->kmap != d->kmap_small) free(d->kmap);
    d->kmap = cells;
    d->kmap_cap = cap;
  }
  pb__dkmap_ent e = {parent, idx, child};
  kmap_put_cell(d->kmap, d->kmap_cap, &e);
  d->kmap_used++;
  return PB_OK;
}

void pb__dict_kmap_free(pb__dict *d) {
  for (size_t i = 0; i < d->kmap_cap; i++)
    if (d->kmap[i].parent) pb__dnode_free(d->kmap[i].child);
  if (d->kmap != d->kmap_small) free(d->kmap);
  d->kmap = NULL;
  d->kmap_cap = d->kmap_used = 0;
}

pb__dnode *pb__dict_linked_kid(const pb__dict *d, const pb__dnode *parent,
                               size_t i) {
  assert(parent->level > 0 && i < parent->n);
  const dict_obj *po = parent->obj; /* NULL for a private node */
  if (!po || !po->links || !d->src.caches || !d->src.caches->ebr)
    return NULL;
  const dict_obj *c =
      atomic_load_explicit(&po->links[i], memory_order_acquire);
  if (!c) return NULL;
  prefetch_search(c, parent->level == 1);
  assert(c->block && c->node == &c->inl); /* only blocks are linked */
  mark_used((dict_obj *)c);
  return (pb__dnode *)&c->inl;
}

bool pb__dict_slots(const pb__dict *d, const pb__dnode *parent, size_t i,
                    pb_str key, pb__dslots *out) {
  assert(parent->level > 0 && i < parent->n);
  const dict_obj *po = parent->obj; /* NULL for a private node */
  _Atomic uint32_t *geos = po ? obj_geos(po) : NULL;
  if (!geos || !d->src.caches || !d->src.caches->ebr) return false;
  uint32_t geo = atomic_load_explicit(&geos[i], memory_order_relaxed);
  if (!geo) return false;
  /* The child the geo belongs to: any build of child i's atom has the
   * same slots, and the one linked stays allocated until this reader's
   * epoch ends, unlinked or not. */
  const dict_obj *c =
      atomic_load_explicit(&po->links[i], memory_order_acquire);
  if (!c) return false;
  pb__dslots_at(c, geo, key, out);
  return true;
}

const uint8_t *pb__dict_leaf_hint(const pb__dnode *parent, size_t i) {
  assert(parent->level == 1 && i < parent->n);
  const dict_obj *po = parent->obj; /* NULL for a private node */
  _Atomic(const uint8_t *) *hints = po ? obj_hints(po) : NULL;
  return hints ? atomic_load_explicit(&hints[i], memory_order_relaxed) : NULL;
}

void pb__dict_leaf_hint_set(const pb__dnode *parent, size_t i,
                            const uint8_t *at) {
  assert(parent->level == 1 && i < parent->n);
  const dict_obj *po = parent->obj;
  _Atomic(const uint8_t *) *hints = po ? obj_hints(po) : NULL;
  if (hints && atomic_load_explicit(&hints[i], memory_order_relaxed) != at)
    atomic_store_explicit(&hints[i], at, memory_order_relaxed);
}

pb__dnode *pb__dict_near_kid(const pb__dict *d, const pb__dnode *parent,
                             size_t i) {
  if (!parent->shared && parent->kids[i].node) /* a private parent's slot */
    return parent->kids[i].node;
  return pb__dict_linked_kid(d, parent, i); /* the fast path: a link */
}

int pb__dict_kid(pb__dict *d, pb__dnode *parent, const pb__dbounds *pb,
                 size_t i, pb__dnode **out) {
  assert(parent->level > 0 && i < parent->n);
  pb__dkid *k = &parent->kids[i];
  pb__dnode *c = pb__dict_near_kid(d, parent, i);
  if (c) {
    *out = c;
    return PB_OK;
  }
  dict_obj *po = parent->shared ? parent->obj : NULL;
  bool linked = po && po->links && d->src.caches && d->src.caches->ebr;
  pb__dbounds b;
  pb__dict_kid_bounds(parent, pb, i, &b);
  if (!parent->shared) {
    int rc = pb__dict_load(d, k, parent->level - 1, &b);
    *out = k->node;
    return rc;
  }
  pb__dkmap_ent *e = kmap_find(d, parent, i);
  if (e && e->child) {
    *out = e->child;
    return PB_OK;
  }
  pb__dnode *node;
  int rc = load_checked(d, k, parent->level - 1, &b, &node);
  if (rc != PB_OK) return rc;
  if (linked && node->shared) { /* a cached child: link it, no map */
    link_child(po, i, node->obj);
    *out = node;
    return PB_OK;
  }
  if (e) e->child = node;
  else if ((rc = kmap_add(d, parent, i, node)) != PB_OK) {
    pb__dnode_free(node);
    return rc;
  }
  *out = node;
  return PB_OK;
}

/* A private copy of the shared node `s` (the views in it still point into
 * the shared object's atom), with the children this handle loaded under
 * `s` moved into its slots. */
static pb__dnode *copy_shared(pb__dict *d, const pb__dnode *s) {
  assert(s->shared);
  pb__dnode *c = pb__dnode_new(s->level, s->n ? s->n : 1);
  if (!c) return NULL;
  if (s->level == 0) {
    memcpy(c->ents, s->ents, s->n * sizeof *s->ents);
  } else {
    memcpy(c->kids, s->kids, s->n * sizeof *s->kids);
    for (size_t i = 0; i < s->n; i++) {
      pb__dkmap_ent *e = kmap_find(d, s, i);
      if (e) {
        c->kids[i].node = e->child; /* the copy owns it now */
        e->child = NULL;
      }
    }
  }
  c->n = s->n;
  atomic_fetch_add_explicit(&pb__dict_copies, 1, memory_order_relaxed);
  return c;
}

/* Makes the node in slot `k` (loaded) private. */
/* Notes that the handle copied the shared node of atom `ptr` to change
 * it (pb__dict_gone).  Best effort: without memory, it is not noted. */
static void note_gone(pb__dict *d, pb_atom_ptr ptr) {
  if (pb_atom_ptr_is_null(ptr)) return;
  if (d->n_gone == d->cap_gone) {
    size_t cap = d->cap_gone ? 2 * d->cap_gone : 8;
    pb_atom_ptr *g = realloc(d->gone, cap * sizeof *g);
    if (!g) return;
    d->gone = g;
    d->cap_gone = cap;
  }
  d->gone[d->n_gone++] = ptr;
}

static int own_slot(pb__dict *d, pb__dkid *k) {
  pb__dnode *n = k->node;
  if (n->shared) {
    pb__dnode *c = copy_shared(d, n);
    if (!c) return PB_ENOMEM;
    note_gone(d, k->ptr);
    k->node = c;
  } else if (n->pfx) { /* about to change: its prefixes would go stale */
    free(n->pfx);
    n->pfx = NULL;
  }
  return PB_OK;
}

int pb__dict_own_kid(pb__dict *d, pb__dnode *parent, const pb__dbounds *pb,
                     size_t i, pb__dnode **out) {
  assert(!parent->shared);
  pb__dnode *unused;
  int rc = pb__dict_kid(d, parent, pb, i, &unused);
  if (rc == PB_OK) rc = own_slot(d, &parent->kids[i]);
  *out = parent->kids[i].node;
  return rc;
}

int pb__dict_own_root(pb__dict *d) {
  assert(d->root.node);
  return own_slot(d, &d->root);
}

int pb__dict_load_root(pb__dict *d) {
  if (d->root.node || pb_atom_ptr_is_null(d->root.ptr)) return PB_OK;
  const pb__src_caches *sc = d->src.caches;
  _Atomic(void *) *cell = sc && sc->ebr && sc->cells
                              ? pb__obj_cell(sc->cells, d->root.ptr)
                              : NULL;
  dict_obj *c = cell ? cell_root(cell, d->root.ptr) : NULL;
  if (c) { /* the fast path: the root's cell */
    d->root.node = &c->inl;
    d->root.count = c->total;
    return PB_OK;
  }
  static const pb__dbounds open = {{"", 0}, {"", 0}, false, false};
  pb__dnode *node;
  uint64_t total;
  int rc = load_node(d, &d->root, PB__DLEVEL_ANY, &open, &node, &total);
  if (rc != PB_OK) return rc;
  if (cell && node->shared && node->obj->block)
    link_root(cell, node->obj, d->root.ptr);
  d->root.node = node;
  d->root.count = total;
  return PB_OK;
}

/* --- encoding --- */

static int grow_scratch(pb_value **scratch, size_t *cap, size_t want) {
  if (want <= *cap) return PB_OK;
  pb_value *v = realloc(*scratch, want * sizeof *v);
  if (!v) return PB_ENOMEM;
  *scratch = v;
  *cap = want;
  return PB_OK;
}

static pb_value str_value(pb_str s) {
  return (pb_value){.kind = PB_VALUE_STRING, .as.s = s};
}

static pb_value uint_value(uint64_t u) {
  return (pb_value){.kind = PB_VALUE_UINT, .as.u = u};
}

/* Bytes of `v` as a varint. */
static size_t varint_len(uint64_t v) {
  size_t n = 1;
  while (v >= 0x80) {
    v >>= 7;
    n++;
  }
  return n;
}

/*
 * Writes a leaf as an indexed leaf (PB__TYPE_DICT_LEAF_IDX, dict.c).  The
 * entries are encoded first (their offsets are known only then: each is
 * kept in `scratch`), then moved up by the size of what goes before them,
 * which is written into the room left: the envelope, the value count, and
 * the directory.  The offsets are 2 bytes when the last key starts within
 * 64 KiB of the first (a leaf of the default fanout: always), else 4.
 */
static int write_leaf_idx(const pb__dnode *node, const pb__sink *sink,
                          pb_buf *buf, pb_value **scratch,
                          size_t *scratch_cap, pb_atom_ptr *out) {
  size_t m = node->n;
  int rc = grow_scratch(scratch, scratch_cap, m ? m : 1);
  if (rc != PB_OK) return rc;
  pb_value *offs = *scratch; /* offs[i].as.u: where key i starts */
  pb_buf_reset(buf);
  for (size_t i = 0; i < m; i++) {
    pb_value k = str_value(node->ents[i].key);
    offs[i].as.u = buf->len;
    pb__value_encode(buf, &k);
    pb__value_encode(buf, &node->ents[i].val);
  }
  if ((rc = pb_buf_error(buf)) != PB_OK) return rc;
  if (m > 0 && offs[m - 1].as.u > UINT32_MAX) return PB_ETOOBIG; /* no w */
  size_t body = buf->len;
  size_t c = m > 1 ? common_len(node->ents[0].key, node->ents[m - 1].key) : 0;
  unsigned w = m == 0 || offs[m - 1].as.u <= 0xFFFF ? 2 : 4;
  size_t dir = varint_len(c) + 1 + m * (8 + w);
  size_t head = 1 + varint_len(PB__TYPE_DICT_LEAF_IDX) +
                varint_len(2 * m + 1) + 1 + varint_len(dir) + dir;
  if ((rc = pb_buf_reserve(buf, head)) != PB_OK) return rc;
  uint8_t *p = buf->data;
  memmove(p + head, p, body);
  size_t at = 0;
  p[at++] = PB__ATOM_FORMAT;
  at += pb__put_varint(p + at, PB__TYPE_DICT_LEAF_IDX);
  at += pb__put_varint(p + at, 2 * m + 1);
  p[at++] = PB_VALUE_BYTES;
  at += pb__put_varint(p + at, dir);
  at += pb__put_varint(p + at, c);
  p[at++] = (uint8_t)w;
  uint8_t *win = p + at, *off = win + 8 * m;
  assert(off + w * m == p + head);
  for (size_t i = 0; i < m; i++) {
    uint64_t v = pb__dict_window(node->ents[i].key, c);
    for (unsigned b = 0; b < 8; b++)
      win[8 * i + b] = (uint8_t)(v >> (56 - 8 * b));
    for (unsigned b = 0; b < w; b++)
      off[w * i + b] = (uint8_t)(offs[i].as.u >> (8 * b));
  }
  buf->len = head + body;
  return sink->write(sink->arg, buf->data, buf->len, out);
}

bool pb__dict_write_plain_leaves = false;

int pb__dnode_write(const pb__dnode *node, bool root, const pb__sink *sink,
                    pb_buf *buf, pb_value **scratch, size_t *scratch_cap,
                    pb_atom_ptr *out) {
  bool leaf = node->level == 0;
  bool plain = leaf && (root || pb__dict_write_plain_leaves);
  size_t nv = leaf ? 2 * node->n + !plain : 3 * node->n;
  if (nv > PB__NODE_MAX_VALUES) return PB_ETOOBIG; /* cannot happen */
  if (leaf && !plain)
    return write_leaf_idx(node, sink, buf, scratch, scratch_cap, out);
  int rc = grow_scratch(scratch, scratch_cap, nv ? nv : 1);
  if (rc != PB_OK) return rc;
  pb_value *v = *scratch;
  if (leaf) { /* the plain layout: a root leaf (or tests) */
    for (size_t i = 0; i < node->n; i++) {
      v[2 * i] = str_value(node->ents[i].key);
      v[2 * i + 1] = node->ents[i].val;
    }
  } else {
    for (size_t i = 0; i < node->n; i++) {
      const pb__dkid *k = &node->kids[i];
      v[3 * i] = i > 0 ? str_value(k->key) : uint_value(node->level);
      v[3 * i + 1] = uint_value(k->count);
      v[3 * i + 2] = (pb_value){.kind = PB_VALUE_REF,
                                .as.ref = k->node && pb_atom_ptr_is_null(k->ptr)
                                              ? k->node->wrote
                                              : k->ptr};
    }
  }
  return pb__node_write(sink, buf, leaf ? PB__TYPE_DICT_LEAF
                                        : PB__TYPE_DICT_BRANCH, v, nv, out);
}
