/*
 * test_dict_inplace.c - Dictionary leaves read in place from the stored
 * bytes (collections/dict_inplace.c) and the doorkeeper that admits the
 * leaves missed again into the object cache (cache/atomcache.h).
 *
 *   model_default    random puts and removes, committed, on a file
 *                    storage with the defaults (PB_DURABILITY_SYNC, the
 *                    default caches); after each commit, random gets and
 *                    a hot set checked against a model, across commits,
 *                    two compactions and a reopen: leaves are read in
 *                    place, admitted, and the hot set ends up cached
 *   model_views      the same with values that are views only (strings
 *                    and bytes, some too wide for a slot): cached leaves
 *                    get hash slots and gets answer from them
 *   model_tiny       the same with a 256 KiB object cache
 *   model_nocache    the same with the object cache off: every leaf a get
 *                    reaches is read in place, none is loaded
 *   admission        a leaf read once or twice is not loaded; read a
 *                    third time, it is loaded once, then linked (later
 *                    gets load nothing)
 *   leaf_hints       a get that reads a leaf in place leaves where it
 *                    found the atom in the cached parent (the hint later
 *                    gets prefetch); a stale hint (unmapped memory,
 *                    NULL) changes no answer and is set right again; the
 *                    thread's streak of in-place reads rises and halves
 *   hostile_leaves   hand-made leaves under a level-1 branch: truncated
 *                    values, bad lengths, unordered keys, a wrong count,
 *                    keys outside the parent's bounds, a key that is not a
 *                    STRING, a value with bad UTF-8, a branch where a leaf
 *                    belongs: each PB_ECORRUPT with a detail
 *   mutations        random damage (byte flips, truncations, insertions)
 *                    to valid leaves: the in-place get gives PB_OK,
 *                    PB_ENOTFOUND or PB_ECORRUPT, and the same answer as
 *                    the full decode whenever that decodes the leaf (run
 *                    under ASan in the ASan suite: no read out of bounds)
 *   threads          two readers doing in-place gets while a writer
 *                    commits and a scanner turns the object cache over
 *                    (for the ThreadSanitizer suite: label `threads`)
 *
 * `--tiny` runs with fanout 4.
 */
#include <pthread.h>
#include <sys/mman.h>
#include <unistd.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "atom/atom.h"
#include "atom/value.h"
#include "collections/dict.h"
#include "collections/dict_int.h"
#include "protobase/protobase.h"
#include "support/memstore.h"
#include "test_util.h"
#include "txn/space.h"
#include "txn/tcoll.h"
#include "util/errdetail.h"

/* --- a store, opened and reopened with given cache options --- */

typedef struct store {
  char *dir;
  pb_storage *st;
  pb_space *sp;
  pb_db *db;
  pb_space_options o;
} store;

static void store_open(store *s) {
  pb_file_options fo;
  pb_file_options_init(&fo); /* PB_DURABILITY_SYNC */
  assert_int_equal(pb_storage_open_file(s->dir, &fo, &s->st), PB_OK);
  assert_int_equal(pb_space_open_ex(s->st, &s->o, &s->sp), PB_OK);
  assert_int_equal(pb_db_open(s->sp, "main", PB_CREATE, &s->db), PB_OK);
}

static void store_close(store *s) {
  assert_int_equal(pb_db_close(s->db), PB_OK);
  assert_int_equal(pb_space_close(s->sp), PB_OK);
}

static uint64_t rng_state;
static uint64_t rnd(void) { /* xorshift64* */
  rng_state ^= rng_state >> 12;
  rng_state ^= rng_state << 25;
  rng_state ^= rng_state >> 27;
  return rng_state * 2685821657736338717ull;
}

/* --- the model --- */

#define KEYS 6000u /* the key space */

typedef struct model {
  bool present[KEYS];
  uint32_t ver[KEYS]; /* which value the key holds */
} model;

static pb_str key_of(unsigned i, char *buf) {
  snprintf(buf, 32, "key/%05u/%s", i, i % 7 == 0 ? "longer-suffix" : "k");
  return pb_str_from_cstr(buf);
}

/* Whether val_of gives views only (STRING and BYTES; the BYTES of every
 * 97th key 300 bytes, wider than a hash slot), so that leaves get hash
 * slots (collections/dict_int.h: pb__dslots), except those holding such
 * a value. */
static bool g_views;

/* The value of key i at version v: of several kinds, built into buf (of
 * VAL_BUF bytes). */
#define VAL_BUF 320
static pb_value val_of(unsigned i, uint32_t v, char *buf) {
  pb_value out;
  switch (g_views ? 1 + (i + v) % 2 : (i + v) % 4) {
    case 0:
      out.kind = PB_VALUE_UINT;
      out.as.u = (uint64_t)i << 32 | v;
      return out;
    case 1:
      snprintf(buf, 96, "string %u.%u \xc3\xa9t\xc3\xa9", i, v);
      out.kind = PB_VALUE_STRING;
      out.as.s = pb_str_from_cstr(buf);
      return out;
    case 2:
      out.kind = PB_VALUE_BYTES;
      out.as.bytes.ptr = (const uint8_t *)buf;
      out.as.bytes.len = g_views && i % 97 == 0 ? 300 : 1 + (i + v) % 40;
      memset(buf, (int)(i + v), out.as.bytes.len);
      return out;
    default:
      out.kind = PB_VALUE_INT;
      out.as.i = -(int64_t)i * 1000 - v;
      return out;
  }
}

static void check_val(const pb_value *got, unsigned i, uint32_t v) {
  char buf[VAL_BUF];
  pb_value want = val_of(i, v, buf);
  assert_int_equal(got->kind, want.kind);
  switch (want.kind) {
    case PB_VALUE_UINT: assert_true(got->as.u == want.as.u); break;
    case PB_VALUE_INT: assert_true(got->as.i == want.as.i); break;
    case PB_VALUE_STRING:
      assert_int_equal(got->as.s.len, want.as.s.len);
      assert_memory_equal(got->as.s.ptr, want.as.s.ptr, want.as.s.len);
      break;
    default:
      assert_int_equal(got->as.bytes.len, want.as.bytes.len);
      assert_memory_equal(got->as.bytes.ptr, want.as.bytes.ptr,
                          want.as.bytes.len);
  }
}

/* One commit of `ops` random puts and removes into "d". */
static void model_commit(store *s, model *m, unsigned ops) {
  pb_txn *t;
  pb_dict *d;
  assert_int_equal(pb_txn_begin(s->db, 0, &t), PB_OK);
  assert_int_equal(pb_txn_open_dict(t, "d", PB_CREATE, &d), PB_OK);
  for (unsigned k = 0; k < ops; k++) {
    unsigned i = (unsigned)(rnd() % KEYS);
    char kb[32], vb[VAL_BUF];
    if (rnd() % 5 == 0) {
      int rc = pb_dict_remove(d, key_of(i, kb));
      assert_int_equal(rc, m->present[i] ? PB_OK : PB_ENOTFOUND);
      m->present[i] = false;
    } else {
      m->ver[i]++;
      pb_value v = val_of(i, m->ver[i], vb);
      assert_int_equal(pb_dict_put(d, key_of(i, kb), &v), PB_OK);
      m->present[i] = true;
    }
  }
  assert_int_equal(pb_txn_commit(t), PB_OK);
}

static void get_check(pb_dict *d, const model *m, unsigned i) {
  char kb[32];
  pb_value v;
  int rc = pb_dict_get(d, key_of(i, kb), &v);
  if (!m->present[i]) {
    assert_int_equal(rc, PB_ENOTFOUND);
    return;
  }
  assert_int_equal(rc, PB_OK);
  check_val(&v, i, m->ver[i]);
}

#define HOT 64u /* the hot set: keys 0, 16, 32, ... */

/* A read transaction: `n` random gets (some of keys never present) and
 * the hot set read twice, all checked; then a scan of some of them, which
 * the views must survive. */
static void model_read(store *s, const model *m, unsigned n) {
  pb_txn *t;
  pb_dict *d;
  assert_int_equal(pb_txn_begin(s->db, PB_RDONLY, &t), PB_OK);
  assert_int_equal(pb_txn_open_dict(t, "d", 0, &d), PB_OK);
  pb_value first;
  char kb[32];
  unsigned fi = 0;
  while (!m->present[fi]) fi++;
  assert_int_equal(pb_dict_get(d, key_of(fi, kb), &first), PB_OK);
  for (unsigned k = 0; k < n; k++) get_check(d, m, (unsigned)(rnd() % KEYS));
  for (unsigned r = 0; r < 2; r++)
    for (unsigned h = 0; h < HOT; h++) get_check(d, m, h * 16);
  char absent[40];
  snprintf(absent, sizeof absent, "key/%05u/zz", (unsigned)(rnd() % KEYS));
  pb_value v;
  assert_int_equal(pb_dict_get(d, pb_str_from_cstr(absent), &v),
                   PB_ENOTFOUND);
  assert_int_equal(pb_dict_get(d, pb_str_from_cstr("zzz"), &v),
                   PB_ENOTFOUND);
  assert_int_equal(pb_dict_get(d, pb_str_from_cstr(""), &v), PB_ENOTFOUND);
  check_val(&first, fi, m->ver[fi]); /* a view given first still holds */
  assert_int_equal(pb_txn_abort(t), PB_OK);
}

/* The property test over a store opened with options `o`.  Gives the
 * in-place reads and admissions it caused. */
static void run_model(const pb_space_options *o, uint64_t *reads,
                      uint64_t *admits) {
  static model m; /* zero: empty */
  memset(&m, 0, sizeof m);
  rng_state = 0x9E3779B97F4A7C15ull;
  store s = {.dir = pb_test_tmpdir(), .o = *o};
  store_open(&s);
  uint64_t r0 = pb__dict_inplace_reads, a0 = pb__dict_inplace_admits;
  model_commit(&s, &m, 3 * KEYS); /* most keys present */
  for (unsigned round = 0; round < 12; round++) {
    model_read(&s, &m, 1500);
    model_commit(&s, &m, 300);
    model_read(&s, &m, 500);
    if (round == 4 || round == 9) {
      pb_compact_stats cs;
      assert_int_equal(pb_storage_compact(s.st, &cs), PB_OK);
      assert_true(cs.atoms > 0);
      model_read(&s, &m, 500);
    }
    if (round == 7) { /* reopen: empty caches */
      store_close(&s);
      store_open(&s);
      model_read(&s, &m, 500);
    }
  }
  store_close(&s);
  pb_test_rmdir(s.dir);
  *reads = pb__dict_inplace_reads - r0;
  *admits = pb__dict_inplace_admits - a0;
}

static void model_default(void **state) {
  (void)state;
  pb_space_options o;
  pb_space_options_init(&o);
  uint64_t reads, admits, s0 = pb__dict_slot_gets;
  run_model(&o, &reads, &admits);
  if (getenv("PB_TEST_VERBOSE"))
    printf("default: %llu in place, %llu admitted\n",
           (unsigned long long)reads, (unsigned long long)admits);
  assert_true(reads > 100);  /* fresh leaves of each commit */
  assert_true(admits > 100); /* and their second misses */
  /* Integers in every leaf of the default fanout: no leaf has hash slots
   * (with fanout 4, a leaf of views only is common). */
  if (pb__coll_fanout != 4) assert_int_equal(pb__dict_slot_gets - s0, 0);
}

/* The same with views only: the cached leaves have hash slots, and the
 * gets that find their leaf linked answer from them, also for absent keys
 * (the rest of model_read's checks are the same). */
static void model_views(void **state) {
  (void)state;
  pb_space_options o;
  pb_space_options_init(&o);
  uint64_t reads, admits, s0 = pb__dict_slot_gets;
  g_views = true;
  run_model(&o, &reads, &admits);
  g_views = false;
  uint64_t slot_gets = pb__dict_slot_gets - s0;
  if (getenv("PB_TEST_VERBOSE"))
    printf("views: %llu in place, %llu admitted, %llu from slots\n",
           (unsigned long long)reads, (unsigned long long)admits,
           (unsigned long long)slot_gets);
  assert_true(slot_gets > 1000);
}

static void model_tiny(void **state) {
  (void)state;
  pb_space_options o;
  pb_space_options_init(&o);
  o.object_cache_bytes = 256u << 10;
  uint64_t reads, admits;
  run_model(&o, &reads, &admits);
  if (getenv("PB_TEST_VERBOSE"))
    printf("tiny: %llu in place, %llu admitted\n", (unsigned long long)reads,
           (unsigned long long)admits);
  assert_true(reads > 1000);
  assert_true(admits > 100);
}

static void model_nocache(void **state) {
  (void)state;
  pb_space_options o;
  pb_space_options_init(&o);
  o.object_cache_bytes = 0;
  uint64_t reads, admits;
  run_model(&o, &reads, &admits);
  assert_true(reads > 12 * 2000); /* every get under a branch root */
  assert_int_equal(admits, 0);    /* nothing to admit to */
}

/* --- admission --- */

/* A store with the default caches, loaded with 3 * KEYS random puts and
 * removes (rng seed `seed`, mirrored in *m), then reopened: empty caches,
 * so every leaf misses. */
static void loaded_store(store *s, model *m, uint64_t seed) {
  *s = (store){.dir = pb_test_tmpdir()};
  pb_space_options_init(&s->o);
  store_open(s);
  memset(m, 0, sizeof *m);
  rng_state = seed;
  model_commit(s, m, 3 * KEYS);
  store_close(s);
  store_open(s);
}

static void admission(void **state) {
  (void)state;
  store s;
  static model m;
  loaded_store(&s, &m, 12345);
  pb_cache_stats o0, o1, o2, o3;
  unsigned i = 0;
  while (!m.present[i]) i++;
  pb_txn *t;
  pb_dict *d;
  assert_int_equal(pb_txn_begin(s.db, PB_RDONLY, &t), PB_OK);
  assert_int_equal(pb_txn_open_dict(t, "d", 0, &d), PB_OK);
  uint64_t r0 = pb__dict_inplace_reads, a0 = pb__dict_inplace_admits;
  assert_int_equal(pb_space_cache_stats(s.sp, NULL, &o0), PB_OK);
  get_check(d, &m, i); /* the first miss: read in place */
  assert_int_equal(pb_space_cache_stats(s.sp, NULL, &o1), PB_OK);
  assert_int_equal(pb__dict_inplace_reads - r0, 1);
  assert_int_equal(pb__dict_inplace_admits - a0, 0);
  assert_true(o1.loads > o0.loads); /* the branches, not the leaf */
  get_check(d, &m, i); /* the second: in place again, nothing loaded */
  assert_int_equal(pb_space_cache_stats(s.sp, NULL, &o2), PB_OK);
  assert_int_equal(pb__dict_inplace_reads - r0, 2);
  assert_int_equal(pb__dict_inplace_admits - a0, 0);
  assert_int_equal(o2.loads, o1.loads);
  get_check(d, &m, i); /* the third: admitted, loaded once */
  assert_int_equal(pb_space_cache_stats(s.sp, NULL, &o2), PB_OK);
  assert_int_equal(pb__dict_inplace_reads - r0, 2);
  assert_int_equal(pb__dict_inplace_admits - a0, 1);
  assert_int_equal(o2.loads, o1.loads + 1);
  assert_int_equal(pb_txn_abort(t), PB_OK);
  for (unsigned r = 0; r < 3; r++) { /* then through its link */
    assert_int_equal(pb_txn_begin(s.db, PB_RDONLY, &t), PB_OK);
    assert_int_equal(pb_txn_open_dict(t, "d", 0, &d), PB_OK);
    get_check(d, &m, i);
    assert_int_equal(pb_txn_abort(t), PB_OK);
  }
  assert_int_equal(pb_space_cache_stats(s.sp, NULL, &o3), PB_OK);
  assert_int_equal(o3.loads, o2.loads);
  assert_int_equal(o3.misses, o2.misses);
  assert_int_equal(pb__dict_inplace_reads - r0, 2);
  assert_int_equal(pb__dict_inplace_admits - a0, 1);
  store_close(&s);
  pb_test_rmdir(s.dir);
}

/* The cached level-1 node above key i in the handle under `d`, its
 * child's index there (*at), and where that child's atom lies (*atom). */
static pb__dnode *level1_of(pb_dict *d, unsigned i, size_t *at,
                            pb_bytes *atom) {
  pb__dict *dd = ((pb__tcoll *)(void *)d)->c.d;
  char kb[32];
  pb__dpath p;
  assert_int_equal(pb__dict_load_root(dd), PB_OK);
  assert_non_null(dd->root.node);
  assert_int_equal(pb__dict_descend_to(dd, key_of(i, kb), false, 1, &p),
                   PB_OK);
  pb__dnode *node = p.node[p.depth - 1];
  assert_int_equal(node->level, 1);
  assert_non_null(node->obj); /* shared: cached through the object cache */
  *at = p.idx[p.depth - 1];
  assert_int_equal(
      dd->src.read(dd->src.arg, node->kids[*at].ptr, atom), PB_OK);
  return node;
}

static void leaf_hints(void **state) {
  (void)state;
  store s;
  static model m;
  loaded_store(&s, &m, 777);
  unsigned i = 0;
  while (!m.present[i]) i++;
  /* Memory that was mapped and is no more: a hint no get may read. */
  long page = sysconf(_SC_PAGESIZE);
  uint8_t *gone = mmap(NULL, (size_t)page, PROT_READ | PROT_WRITE,
                       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  assert_true(gone != MAP_FAILED);
  assert_int_equal(munmap(gone, (size_t)page), 0);
  pb_txn *t;
  pb_dict *d;
  assert_int_equal(pb_txn_begin(s.db, PB_RDONLY, &t), PB_OK);
  assert_int_equal(pb_txn_open_dict(t, "d", 0, &d), PB_OK);
  pb__dict_inplace_streak = 0;
  uint64_t r0 = pb__dict_inplace_reads;
  get_check(d, &m, i); /* read in place: the hint is set */
  assert_int_equal(pb__dict_inplace_reads - r0, 1);
  assert_int_equal(pb__dict_inplace_streak, 1);
  size_t at;
  pb_bytes atom;
  pb__dnode *node = level1_of(d, i, &at, &atom);
  assert_ptr_equal(pb__dict_leaf_hint(node, at), atom.ptr);
  /* A stale hint: the next get prefetches it, reads the leaf where it
   * is, answers right, and sets the hint right. */
  pb__dict_leaf_hint_set(node, at, gone);
  assert_ptr_equal(pb__dict_leaf_hint(node, at), gone);
  get_check(d, &m, i);
  assert_int_equal(pb__dict_inplace_reads - r0, 2);
  assert_int_equal(pb__dict_inplace_streak, 2);
  assert_ptr_equal(pb__dict_leaf_hint(node, at), atom.ptr);
  assert_int_equal(pb_txn_abort(t), PB_OK);
  /* Every hint of the node stale, then every key under it read in place
   * once in a transaction of its own: every answer right. */
  assert_int_equal(pb_txn_begin(s.db, PB_RDONLY, &t), PB_OK);
  assert_int_equal(pb_txn_open_dict(t, "d", 0, &d), PB_OK);
  node = level1_of(d, i, &at, &atom);
  for (size_t c = 0; c < node->n; c++)
    pb__dict_leaf_hint_set(node, c, c % 2 ? gone : (const uint8_t *)NULL);
  for (unsigned k = 0; k < KEYS; k++) get_check(d, &m, k);
  assert_int_equal(pb_txn_abort(t), PB_OK);
  /* The leaf of key i, read a third time, is admitted and then linked:
   * a get through the link halves the streak. */
  assert_int_equal(pb_txn_begin(s.db, PB_RDONLY, &t), PB_OK);
  assert_int_equal(pb_txn_open_dict(t, "d", 0, &d), PB_OK);
  unsigned streak = 0;
  for (unsigned r = 0; r < 3; r++) {
    streak = pb__dict_inplace_streak;
    get_check(d, &m, i);
  }
  assert_int_equal(pb__dict_inplace_streak, streak / 2);
  assert_int_equal(pb_txn_abort(t), PB_OK);
  store_close(&s);
  pb_test_rmdir(s.dir);
}

/* --- hostile leaves, in memory --- */

static pb_value sv(const char *s) {
  return (pb_value){.kind = PB_VALUE_STRING, .as.s = pb_str_from_cstr(s)};
}
static pb_value uv(uint64_t u) {
  return (pb_value){.kind = PB_VALUE_UINT, .as.u = u};
}
static pb_value rv(pb_atom_ptr p) {
  return (pb_value){.kind = PB_VALUE_REF, .as.ref = p};
}

/* A source over `m` that reads leaves in place, with no object cache. */
static pb__src_caches inplace_caches = {NULL, NULL, NULL, 0,    0,
                                        false, NULL, true, NULL};

/* Gets `key` from the tree at `root` in `m`, in place (inplace) or by
 * the full decode. */
static int get_from(pb_test_memstore *m, pb_atom_ptr root, pb_str key,
                    bool inplace, pb_value *v) {
  pb__src src = {pb_test_mem_read, m, inplace ? &inplace_caches : NULL};
  pb__dict *d;
  assert_int_equal(pb__dict_open(&src, root, &d), PB_OK);
  int rc = pb__dict_get(d, key, v);
  pb__dict_free(d);
  return rc;
}

/* A root branch of level 1 over the leaf atom `leaf` (claimed to hold
 * `count` keys, all >= "b") and a good leaf with keys >= "m". */
static pb_atom_ptr tree_over(pb_test_memstore *m, pb_atom_ptr leaf,
                             uint64_t count) {
  pb_value good[] = {sv("m"), uv(1), sv("n"), uv(2)};
  pb_atom_ptr g = pb_test_mem_node(m, PB__TYPE_DICT_LEAF, good, 4);
  pb_value br[] = {uv(1), uv(count), rv(leaf), sv("m"), uv(2), rv(g)};
  return pb_test_mem_node(m, PB__TYPE_DICT_BRANCH, br, 6);
}

/* Expects PB_ECORRUPT, with a detail, for a get of `key` over `leaf`. */
#define expect_corrupt(m, leaf, count, key) \
  expect_corrupt_at(m, leaf, count, key, __LINE__)
static void expect_corrupt_at(pb_test_memstore *m, pb_atom_ptr leaf,
                              uint64_t count, const char *key, int line) {
  pb_atom_ptr root = tree_over(m, leaf, count);
  pb_value v;
  unsigned long before = pb__errdetail_count();
  int rc = get_from(m, root, pb_str_from_cstr(key), true, &v);
  if (rc != PB_ECORRUPT) printf("line %d: %d\n", line, rc);
  assert_int_equal(rc, PB_ECORRUPT);
  assert_true(pb__errdetail_count() > before);
  assert_non_null(strstr(pb_errdetail(), "dict leaf"));
}

/* Appends a varint to p; gives its end. */
static uint8_t *put_varint(uint8_t *p, uint64_t x) {
  while (x >= 0x80) {
    *p++ = (uint8_t)(x | 0x80);
    x >>= 7;
  }
  *p++ = (uint8_t)x;
  return p;
}

/* A raw leaf atom: envelope of `type`, count n, then `body` bytes. */
static pb_atom_ptr raw_leaf(pb_test_memstore *m, uint32_t type, uint64_t n,
                            const void *body, size_t len) {
  uint8_t buf[512], *p = buf;
  *p++ = PB__ATOM_FORMAT;
  p = put_varint(p, type);
  p = put_varint(p, n);
  memcpy(p, body, len);
  return pb_test_mem_raw(m, buf, (size_t)(p - buf) + len);
}

static void hostile_leaves(void **state) {
  (void)state;
  pb_test_memstore m = {0};
  /* A good leaf first: both paths agree. */
  pb_value ok[] = {sv("b"), sv("B"), sv("c"), uv(3), sv("d"), sv("D")};
  pb_atom_ptr good = pb_test_mem_node(&m, PB__TYPE_DICT_LEAF, ok, 6);
  pb_atom_ptr root = tree_over(&m, good, 3);
  pb_value v;
  assert_int_equal(get_from(&m, root, pb_str_from_cstr("c"), true, &v),
                   PB_OK);
  assert_true(v.kind == PB_VALUE_UINT && v.as.u == 3);
  assert_int_equal(get_from(&m, root, pb_str_from_cstr("d"), true, &v),
                   PB_OK);
  assert_true(v.kind == PB_VALUE_STRING && v.as.s.len == 1);
  assert_int_equal(get_from(&m, root, pb_str_from_cstr("ca"), true, &v),
                   PB_ENOTFOUND);
  assert_int_equal(get_from(&m, root, pb_str_from_cstr("n"), true, &v),
                   PB_OK);

  /* The wrong count: the parent says 2, the leaf holds 3. */
  expect_corrupt(&m, good, 2, "c");
  expect_corrupt(&m, good, 4, "b");
  /* An odd number of values. */
  pb_value odd[] = {sv("b"), uv(1), sv("c")};
  expect_corrupt(&m, pb_test_mem_node(&m, PB__TYPE_DICT_LEAF, odd, 3), 1,
                 "b");
  /* Keys not ascending, or equal (seen by a get that reads past them). */
  pb_value unord[] = {sv("c"), uv(1), sv("b"), uv(2)};
  expect_corrupt(&m, pb_test_mem_node(&m, PB__TYPE_DICT_LEAF, unord, 4), 2,
                 "d");
  pb_value dup[] = {sv("b"), uv(1), sv("b"), uv(2)};
  expect_corrupt(&m, pb_test_mem_node(&m, PB__TYPE_DICT_LEAF, dup, 4), 2,
                 "c");
  /* Keys outside the parent's bounds: one at or above "m", one below the
   * lower bound of the right child. */
  pb_value high[] = {sv("b"), uv(1), sv("mm"), uv(2)};
  expect_corrupt(&m, pb_test_mem_node(&m, PB__TYPE_DICT_LEAF, high, 4), 2,
                 "c");
  {
    pb_value lowleaf[] = {sv("a"), uv(1)};
    pb_atom_ptr l0 = pb_test_mem_node(&m, PB__TYPE_DICT_LEAF, ok, 6);
    pb_atom_ptr l1 = pb_test_mem_node(&m, PB__TYPE_DICT_LEAF, lowleaf, 2);
    pb_value br[] = {uv(1), uv(3), rv(l0), sv("m"), uv(1), rv(l1)};
    pb_atom_ptr r = pb_test_mem_node(&m, PB__TYPE_DICT_BRANCH, br, 6);
    assert_int_equal(get_from(&m, r, pb_str_from_cstr("q"), true, &v),
                     PB_ECORRUPT);
  }
  /* A key that is not a STRING. */
  pb_value notkey[] = {uv(7), uv(1)};
  expect_corrupt(&m, pb_test_mem_node(&m, PB__TYPE_DICT_LEAF, notkey, 2), 1,
                 "b");
  /* A branch where a leaf belongs. */
  pb_value br[] = {uv(1), uv(1), rv(good)};
  expect_corrupt(&m, pb_test_mem_node(&m, PB__TYPE_DICT_BRANCH, br, 3), 3,
                 "b");
  /* Raw bytes: a key whose length runs past the end. */
  const uint8_t longkey[] = {PB_VALUE_STRING, 0x7f, 'b'};
  expect_corrupt(&m, raw_leaf(&m, PB__TYPE_DICT_LEAF, 2, longkey,
                              sizeof longkey), 1, "b");
  /* A key longer than PB__DICT_KEY_MAX (its bytes there). */
  {
    static uint8_t big[PB__DICT_KEY_MAX + 16];
    uint8_t *p = big;
    *p++ = PB__ATOM_FORMAT;
    p = put_varint(p, PB__TYPE_DICT_LEAF);
    p = put_varint(p, 2);
    *p++ = PB_VALUE_STRING;
    p = put_varint(p, PB__DICT_KEY_MAX + 1);
    memset(p, 'b', PB__DICT_KEY_MAX + 1);
    p += PB__DICT_KEY_MAX + 1;
    *p++ = PB_VALUE_NULL;
    pb_atom_ptr a = pb_test_mem_raw(&m, big, (size_t)(p - big));
    expect_corrupt(&m, a, 1, "c");
  }
  /* A skipped value truncated: "b" then a STRING value of 9 bytes with 2
   * left, asked for "c". */
  const uint8_t truncv[] = {PB_VALUE_STRING, 1, 'b', PB_VALUE_STRING, 9,
                            'x', 'y'};
  expect_corrupt(&m, raw_leaf(&m, PB__TYPE_DICT_LEAF, 4, truncv,
                              sizeof truncv), 2, "c");
  /* The same, the value asked for. */
  expect_corrupt(&m, raw_leaf(&m, PB__TYPE_DICT_LEAF, 2, truncv,
                              sizeof truncv), 1, "b");
  /* Truncated fixed-size values: a DOUBLE, a REF, a RECORD's body. */
  const uint8_t truncd[] = {PB_VALUE_STRING, 1, 'b', PB_VALUE_DOUBLE, 1, 2};
  expect_corrupt(&m, raw_leaf(&m, PB__TYPE_DICT_LEAF, 4, truncd,
                              sizeof truncd), 2, "c");
  const uint8_t truncr[] = {PB_VALUE_STRING, 1, 'b', PB_VALUE_REF, 1, 2, 3};
  expect_corrupt(&m, raw_leaf(&m, PB__TYPE_DICT_LEAF, 4, truncr,
                              sizeof truncr), 2, "c");
  const uint8_t truncrec[] = {PB_VALUE_STRING, 1, 'b', PB_VALUE_RECORD,
                              1, 2, 3, 4, 5, 6, 7, 8, 5, 'x'};
  expect_corrupt(&m, raw_leaf(&m, PB__TYPE_DICT_LEAF, 4, truncrec,
                              sizeof truncrec), 2, "c");
  /* A varint that never ends. */
  const uint8_t badvar[] = {PB_VALUE_STRING, 1, 'b', PB_VALUE_UINT, 0xff,
                            0xff};
  expect_corrupt(&m, raw_leaf(&m, PB__TYPE_DICT_LEAF, 4, badvar,
                              sizeof badvar), 2, "c");
  /* A value of no known kind. */
  const uint8_t badkind[] = {PB_VALUE_STRING, 1, 'b', 0x7e, 0};
  expect_corrupt(&m, raw_leaf(&m, PB__TYPE_DICT_LEAF, 4, badkind,
                              sizeof badkind), 2, "c");
  /* A count larger than the bytes. */
  const uint8_t few[] = {PB_VALUE_STRING, 1, 'b', PB_VALUE_NULL};
  expect_corrupt(&m, raw_leaf(&m, PB__TYPE_DICT_LEAF, 400, few, sizeof few),
                 200, "b");
  /* The value returned: a STRING with bad UTF-8. */
  const uint8_t badutf[] = {PB_VALUE_STRING, 1, 'b', PB_VALUE_STRING, 2,
                            0xc3, 0x28};
  expect_corrupt(&m, raw_leaf(&m, PB__TYPE_DICT_LEAF, 2, badutf,
                              sizeof badutf), 1, "b");
  /* A bad envelope. */
  const uint8_t env[] = {9, PB__TYPE_DICT_LEAF, 0};
  pb_atom_ptr e = pb_test_mem_raw(&m, env, sizeof env);
  assert_int_equal(get_from(&m, tree_over(&m, e, 1), pb_str_from_cstr("b"),
                            true, &v),
                   PB_EVERSION);
  pb_atom_ptr z = pb_test_mem_raw(&m, env, 0);
  assert_int_equal(get_from(&m, tree_over(&m, z, 1), pb_str_from_cstr("b"),
                            true, &v),
                   PB_ECORRUPT);
  /* A missing leaf. */
  expect_corrupt(&m, PB_TEST_MEM_PTR(60000), 1, "b");
  pb_test_mem_free(&m);
}

/* --- mutations --- */

static pb_atom_ptr write_leaf(pb_test_memstore *m, const pb_value *vals,
                              size_t n, bool plain);

static void mutations(void **state) {
  (void)state;
  pb_test_memstore m = {0};
  rng_state = 777;
  char kb[16][16];
  char vb[16][32];
  pb_value vals[32];
  for (unsigned i = 0; i < 16; i++) {
    snprintf(kb[i], sizeof kb[i], "b%02u", 2 * i);
    snprintf(vb[i], sizeof vb[i], "v%u\xc3\xa9", i);
    vals[2 * i] = sv(kb[i]);
    switch (i % 4) {
      case 0: vals[2 * i + 1] = sv(vb[i]); break;
      case 1: vals[2 * i + 1] = uv(i * 1000); break;
      case 2:
        vals[2 * i + 1] = (pb_value){.kind = PB_VALUE_DOUBLE, .as.d = i};
        break;
      default: vals[2 * i + 1] = rv((pb_atom_ptr){1, 2, i});
    }
  }
  for (int plain = 1; plain >= 0; plain--) { /* both layouts */
  pb_atom_ptr good = plain
                         ? pb_test_mem_node(&m, PB__TYPE_DICT_LEAF, vals, 32)
                         : write_leaf(&m, vals, 32, false);
  uint8_t orig[1024];
  size_t olen = m.len[good.offset - 1];
  assert_true(olen <= sizeof orig);
  memcpy(orig, m.atom[good.offset - 1], olen);
  unsigned corrupt = 0, agreed = 0;
  for (unsigned trial = 0; trial < 3000; trial++) {
    uint8_t buf[1100];
    size_t len = olen;
    memcpy(buf, orig, olen);
    unsigned kind = (unsigned)(rnd() % 4);
    if (kind == 0) { /* flip 1-3 bytes */
      for (unsigned f = 0, nf = 1 + (unsigned)(rnd() % 3); f < nf; f++)
        buf[rnd() % len] ^= (uint8_t)(1u << (rnd() % 8));
    } else if (kind == 1) { /* truncate */
      len = (size_t)(rnd() % len);
    } else if (kind == 2) { /* a random byte */
      buf[rnd() % len] = (uint8_t)rnd();
    } else { /* insert a byte */
      size_t at = (size_t)(rnd() % len);
      memmove(buf + at + 1, buf + at, len - at);
      buf[at] = (uint8_t)rnd();
      len++;
    }
    /* Exactly as long as the damage: ASan catches a read past it. */
    pb_atom_ptr leaf = pb_test_mem_raw(&m, buf, len);
    pb_atom_ptr root = tree_over(&m, leaf, 16);
    char key[16];
    snprintf(key, sizeof key, "b%02u", (unsigned)(rnd() % 34));
    pb_value a, b;
    int ra = get_from(&m, root, pb_str_from_cstr(key), true, &a);
    int rb = get_from(&m, root, pb_str_from_cstr(key), false, &b);
    assert_true(ra == PB_OK || ra == PB_ENOTFOUND || ra == PB_ECORRUPT ||
                ra == PB_EVERSION);
    if (ra == PB_ECORRUPT) corrupt++;
    if (rb == PB_OK || rb == PB_ENOTFOUND) { /* the full decode accepts */
      assert_int_equal(ra, rb);
      if (ra == PB_OK) assert_true(pb__value_equal(&a, &b));
      agreed++;
    }
  }
  if (getenv("PB_TEST_VERBOSE"))
    printf("mutations (%s): %u corrupt, %u agreed\n",
           plain ? "plain" : "indexed", corrupt, agreed);
  assert_true(corrupt > 300);
  assert_true(agreed > 300);
  }
  pb_test_mem_free(&m);
}

/* --- indexed leaves (PB__TYPE_DICT_LEAF_IDX) --- */

/* Writes a leaf of the n / 2 entries `vals` (key, value, ...) as a flush
 * writes one below the root: indexed, or plain when `plain`. */
static pb_atom_ptr write_leaf(pb_test_memstore *m, const pb_value *vals,
                              size_t n, bool plain) {
  pb__dnode *node = pb__dnode_new(0, n / 2 ? n / 2 : 1);
  assert_non_null(node);
  for (size_t i = 0; i < n / 2; i++) {
    node->ents[i].key = vals[2 * i].as.s;
    node->ents[i].val = vals[2 * i + 1];
  }
  node->n = n / 2;
  pb__sink sink = {pb_test_mem_write, m};
  pb_buf buf;
  pb_buf_init(&buf);
  pb_value *scratch = NULL;
  size_t cap = 0;
  pb_atom_ptr out;
  pb__dict_write_plain_leaves = plain;
  assert_int_equal(
      pb__dnode_write(node, false, &sink, &buf, &scratch, &cap, &out), PB_OK);
  pb__dict_write_plain_leaves = false;
  pb_buf_free(&buf);
  free(scratch);
  pb__dnode_free(node);
  return out;
}

static uint64_t get_varint(const uint8_t *p, size_t *at) {
  uint64_t v = 0;
  for (unsigned s = 0;; s += 7) {
    uint8_t b = p[(*at)++];
    v |= (uint64_t)(b & 0x7f) << s;
    if (b < 0x80) return v;
  }
}

/* Where the parts of an indexed leaf atom are (read here independently of
 * the runtime, so a test also checks the layout docs/format.md gives). */
typedef struct idx_at {
  size_t n_at, kind_at, dirlen_at, c_at, w_at, win_at, off_at, base_at;
  size_t m, c, w, len;
} idx_at;

static idx_at idx_layout(const uint8_t *a, size_t len) {
  idx_at L = {.len = len};
  size_t at = 0;
  assert_int_equal(a[at++], PB__ATOM_FORMAT);
  assert_int_equal(get_varint(a, &at), PB__TYPE_DICT_LEAF_IDX);
  L.n_at = at;
  uint64_t n = get_varint(a, &at);
  assert_int_equal(n % 2, 1);
  L.m = (size_t)n / 2;
  L.kind_at = at;
  assert_int_equal(a[at++], PB_VALUE_BYTES);
  L.dirlen_at = at;
  size_t dirlen = (size_t)get_varint(a, &at), start = at;
  L.c_at = at;
  L.c = (size_t)get_varint(a, &at);
  L.w_at = at;
  L.w = a[at++];
  assert_true(L.w == 2 || L.w == 4);
  L.win_at = at;
  L.off_at = at + 8 * L.m;
  L.base_at = L.off_at + L.w * L.m;
  assert_int_equal(L.base_at, start + dirlen);
  return L;
}

static size_t idx_off(const uint8_t *a, const idx_at *L, size_t i) {
  size_t v = 0;
  for (size_t b = 0; b < L->w; b++) v |= (size_t)a[L->off_at + L->w * i + b]
                                         << (8 * b);
  return v;
}

static void idx_set_off(uint8_t *a, const idx_at *L, size_t i, size_t v) {
  for (size_t b = 0; b < L->w; b++)
    a[L->off_at + L->w * i + b] = (uint8_t)(v >> (8 * b));
}

/* PB_ECORRUPT for a get of `key` over `leaf`, in place (with a detail
 * naming the leaf) and by the full decode alike. */
#define expect_corrupt_both(m, leaf, count, key) \
  expect_corrupt_both_at(m, leaf, count, key, __LINE__)
static void expect_corrupt_both_at(pb_test_memstore *m, pb_atom_ptr leaf,
                                   uint64_t count, const char *key,
                                   int line) {
  expect_corrupt_at(m, leaf, count, key, line);
  pb_value v;
  int rc = get_from(m, tree_over(m, leaf, count), pb_str_from_cstr(key),
                    false, &v);
  if (rc != PB_ECORRUPT) printf("line %d: full decode: %d\n", line, rc);
  assert_int_equal(rc, PB_ECORRUPT);
}

/* The good leaf of idx_leaves: keys b00, b02, ... b30, values of several
 * kinds (kb and vb hold their bytes). */
static void idx_entries(pb_value *vals, char kb[16][16], char vb[16][32]) {
  for (unsigned i = 0; i < 16; i++) {
    snprintf(kb[i], sizeof kb[i], "b%02u", 2 * i);
    snprintf(vb[i], sizeof vb[i], "v%u\xc3\xa9", i);
    vals[2 * i] = sv(kb[i]);
    switch (i % 4) {
      case 0: vals[2 * i + 1] = sv(vb[i]); break;
      case 1: vals[2 * i + 1] = uv(i * 1000); break;
      case 2:
        vals[2 * i + 1] = (pb_value){.kind = PB_VALUE_DOUBLE, .as.d = i};
        break;
      default: vals[2 * i + 1] = rv((pb_atom_ptr){1, 2, i});
    }
  }
}

/* A copy of atom `p` of `m` in `buf` (its length). */
static size_t atom_copy(pb_test_memstore *m, pb_atom_ptr p, uint8_t *buf,
                        size_t cap) {
  size_t len = m->len[p.offset - 1];
  assert_true(len <= cap);
  memcpy(buf, m->atom[p.offset - 1], len);
  return len;
}

static void idx_leaves(void **state) {
  (void)state;
  pb_test_memstore m = {0};
  char kb[16][16], vb[16][32];
  pb_value vals[32], v, w;
  idx_entries(vals, kb, vb);
  pb_atom_ptr good = write_leaf(&m, vals, 32, false);
  uint8_t g[1024], b[1100];
  size_t glen = atom_copy(&m, good, g, sizeof g);
  idx_at L = idx_layout(g, glen);
  assert_int_equal(L.m, 16);
  assert_int_equal(L.c, 1); /* "b" */
  assert_int_equal(L.w, 2);
  assert_int_equal(idx_off(g, &L, 0), 0);
  assert_memory_equal(g + L.win_at + 8 * 3, "06\0\0\0\0\0\0", 8);
  const uint8_t k3[] = {PB_VALUE_STRING, 3, 'b', '0', '6'};
  assert_memory_equal(g + L.base_at + idx_off(g, &L, 3), k3, 5);
  /* Every key found, in place and by the full decode alike; absent keys
   * (between, before, after, longer, shorter, off the prefix) not. */
  pb_atom_ptr root = tree_over(&m, good, 16);
  uint64_t plain0 = pb__dict_inplace_plain;
  for (unsigned i = 0; i < 16; i++) {
    assert_int_equal(get_from(&m, root, vals[2 * i].as.s, true, &v), PB_OK);
    assert_int_equal(get_from(&m, root, vals[2 * i].as.s, false, &w), PB_OK);
    assert_true(pb__value_equal(&v, &vals[2 * i + 1]));
    assert_true(pb__value_equal(&w, &vals[2 * i + 1]));
  }
  static const char *const absent[] = {"b01", "b31", "b", "a", "", "b0",
                                       "b000", "b30\x01", "c", "b99", "ab",
                                       "b29"};
  for (size_t i = 0; i < sizeof absent / sizeof *absent; i++)
    assert_int_equal(get_from(&m, root, pb_str_from_cstr(absent[i]), true,
                              &v),
                     PB_ENOTFOUND);
  assert_int_equal(pb__dict_inplace_plain, plain0); /* all by the directory */

#define TAMPER(key, ...)                                                     \
  do {                                                                       \
    size_t len = glen;                                                       \
    memcpy(b, g, glen);                                                      \
    __VA_ARGS__;                                                             \
    expect_corrupt_both(&m, pb_test_mem_raw(&m, b, len), 16, key);           \
  } while (0)
  /* The directory's shape: not a BYTES, a bad width, a width whose size
   * is not the directory's, a byte too many, cut short. */
  TAMPER("b04", b[L.kind_at] = PB_VALUE_STRING);
  TAMPER("b04", b[L.w_at] = 3);
  TAMPER("b04", b[L.w_at] = 4);
  TAMPER("b04", {
        size_t dl = L.base_at - L.c_at + 1; /* still a 2-byte varint */
        assert_true(dl >= 128 && dl < 16384);
        memmove(b + L.base_at + 1, b + L.base_at, glen - L.base_at);
        b[L.base_at] = 0;
        b[L.dirlen_at] = (uint8_t)(dl | 0x80);
        b[L.dirlen_at + 1] = (uint8_t)(dl >> 7);
        len++;
      });
  TAMPER("b04", len = L.off_at + 3);
  /* Offsets: not 0 first, not ascending, equal, outside the atom.  A get
   * checks the offsets and windows it reads (its answer never contradicts
   * them; those it does not read cannot change it): each case asks for a
   * key whose search reads the damage.  The full decode checks them all. */
  TAMPER("b04", idx_set_off(b, &L, 0, 1));
  TAMPER("b06", {
        size_t o3 = idx_off(g, &L, 3), o4 = idx_off(g, &L, 4);
        idx_set_off(b, &L, 3, o4);
        idx_set_off(b, &L, 4, o3);
      });
  TAMPER("b06", idx_set_off(b, &L, 4, idx_off(g, &L, 3)));
  TAMPER("b30", idx_set_off(b, &L, 15, 0xffff));
  TAMPER("b30", idx_set_off(b, &L, 15, glen - L.base_at)); /* just past */
  /* Windows descending (06 and 08 swapped): the search for b06 reads
   * both. */
  TAMPER("b06", {
        memcpy(b + L.win_at + 8 * 3, g + L.win_at + 8 * 4, 8);
        memcpy(b + L.win_at + 8 * 4, g + L.win_at + 8 * 3, 8);
      });
  /* A window that is not its key's (still in order): the key asked has
   * it, the candidate's bytes say otherwise. */
  TAMPER("b01", memcpy(b + L.win_at + 8 * 1, "01\0\0\0\0\0\0", 8));
  /* A key off the common prefix (key 5, b10, made a10). */
  TAMPER("b10", b[L.base_at + idx_off(g, &L, 5) + 2] = 'a');
  /* An entry whose value ends before the next offset, and one too short
   * for its key. */
  TAMPER("b04", idx_set_off(b, &L, 3, idx_off(g, &L, 3) + 1));
  TAMPER("b04", idx_set_off(b, &L, 3, idx_off(g, &L, 2) + 2));
  /* The count: even, or not the parent's. */
  TAMPER("b04", b[L.n_at] = 32);
  expect_corrupt_both(&m, good, 15, "b04");
  expect_corrupt_both(&m, good, 17, "b04");
  /* A plain leaf labelled indexed, and an indexed one labelled plain. */
  {
    pb_atom_ptr p = write_leaf(&m, vals, 32, true);
    size_t len = atom_copy(&m, p, b, sizeof b);
    assert_int_equal(b[1], PB__TYPE_DICT_LEAF);
    b[1] = PB__TYPE_DICT_LEAF_IDX;
    expect_corrupt_both(&m, pb_test_mem_raw(&m, b, len), 16, "b04");
  }
  TAMPER("b04", b[1] = PB__TYPE_DICT_LEAF);
#undef TAMPER
  /* A common prefix on a leaf of one key. */
  {
    pb_atom_ptr one = write_leaf(&m, vals, 2, false);
    size_t len = atom_copy(&m, one, b, sizeof b);
    idx_at L1 = idx_layout(b, len);
    assert_int_equal(L1.c, 0);
    assert_int_equal(get_from(&m, tree_over(&m, one, 1), vals[0].as.s, true,
                              &v),
                     PB_OK);
    b[L1.c_at] = 1;
    expect_corrupt_both(&m, pb_test_mem_raw(&m, b, len), 1, "b00");
  }
  /* A candidate outside the parent's bounds: keys that tie on 8 bytes
   * with the key asked, one of them at or above the separator. */
  {
    pb_value lv[] = {sv("a"), uv(1), sv("bbbbbbbbb2"), uv(2)};
    pb_value rvals[] = {sv("bbbbbbbbb1"), uv(3), sv("c"), uv(4)};
    pb_atom_ptr l0 = write_leaf(&m, lv, 4, false);
    pb_atom_ptr l1 = write_leaf(&m, rvals, 4, false);
    pb_value br[] = {uv(1), uv(2), rv(l0), sv("bbbbbbbbb1"), uv(2), rv(l1)};
    pb_atom_ptr r = pb_test_mem_node(&m, PB__TYPE_DICT_BRANCH, br, 6);
    unsigned long before = pb__errdetail_count();
    assert_int_equal(get_from(&m, r, pb_str_from_cstr("bbbbbbbbb0"), true,
                              &v),
                     PB_ECORRUPT);
    assert_true(pb__errdetail_count() > before);
    assert_non_null(strstr(pb_errdetail(), "bounds"));
    assert_int_equal(get_from(&m, r, pb_str_from_cstr("bbbbbbbbb0"), false,
                              &v),
                     PB_ECORRUPT);
    /* whereas a key whose window differs is not read at all */
    assert_int_equal(get_from(&m, r, pb_str_from_cstr("b"), true, &v),
                     PB_ENOTFOUND);
  }
  /* 4-byte offsets: a leaf whose last key starts past 64 KiB. */
  {
    static char big[4][30000];
    pb_value bv[8];
    for (unsigned i = 0; i < 4; i++) {
      memset(big[i], 'x' + (int)i, sizeof big[i]);
      bv[2 * i] = sv(kb[i]);
      bv[2 * i + 1] = (pb_value){.kind = PB_VALUE_BYTES,
                                 .as.bytes = {(const uint8_t *)big[i],
                                              sizeof big[i]}};
    }
    pb_atom_ptr p = write_leaf(&m, bv, 8, false);
    idx_at LB = idx_layout(m.atom[p.offset - 1], m.len[p.offset - 1]);
    assert_int_equal(LB.w, 4);
    pb_atom_ptr r = tree_over(&m, p, 4);
    for (unsigned i = 0; i < 4; i++) {
      assert_int_equal(get_from(&m, r, bv[2 * i].as.s, true, &v), PB_OK);
      assert_true(pb__value_equal(&v, &bv[2 * i + 1]));
    }
    assert_int_equal(get_from(&m, r, pb_str_from_cstr("b01"), true, &v),
                     PB_ENOTFOUND);
  }
  pb_test_mem_free(&m);
}

/* --- gets against a model, over both layouts --- */

#define PKEYS 96u

typedef struct pkey {
  char b[32];
  size_t len;
} pkey;

static pb_str pkey_str(const pkey *k) { return (pb_str){k->b, k->len}; }

static int pkey_cmp(const void *a, const void *b) {
  return pb__dict_key_cmp(pkey_str(a), pkey_str(b));
}

/* A random key: `pfx` (plen bytes), then up to 12 bytes of NUL, a, b, c:
 * common prefixes of any length, ties of 8-byte windows, and short keys
 * whose zero padding ties with longer keys ending in NULs. */
static void pkey_gen(pkey *k, const char *pfx, size_t plen) {
  static const char al[] = {'\0', 'a', 'b', 'c'};
  memcpy(k->b, pfx, plen);
  k->len = plen + (size_t)(rnd() % 13);
  for (size_t i = plen; i < k->len; i++) k->b[i] = al[rnd() % 4];
}

/* The model's answer for `k` among the sorted keys[0..n): its index, or
 * -1. */
static long pkey_find(const pkey *keys, size_t n, const pkey *k) {
  const pkey *f = bsearch(k, keys, n, sizeof *keys, pkey_cmp);
  return f ? (long)(f - keys) : -1;
}

/* Gets `k` from the tree in place and by the full decode, and checks both
 * against the model. */
static void pget_check(pb_test_memstore *m, pb_atom_ptr root,
                       const pkey *keys, size_t n, const pb_value *vals,
                       const pkey *k) {
  long at = pkey_find(keys, n, k);
  for (int inplace = 1; inplace >= 0; inplace--) {
    pb_value v;
    int rc = get_from(m, root, pkey_str(k), inplace, &v);
    if (at < 0) {
      assert_int_equal(rc, PB_ENOTFOUND);
    } else {
      assert_int_equal(rc, PB_OK);
      assert_true(pb__value_equal(&v, &vals[2 * at + 1]));
    }
  }
}

static void layouts_model(void **state) {
  (void)state;
  rng_state = 4242;
  static pkey keys[4 * PKEYS];
  static char vbuf[PKEYS][32];
  pb_value vals[2 * PKEYS];
  uint64_t gets = 0, plain0 = pb__dict_inplace_plain,
           reads0 = pb__dict_inplace_reads;
  for (unsigned trial = 0; trial < 300; trial++) {
    pb_test_memstore m = {0};
    char pfx[12];
    size_t plen = (size_t)(rnd() % 12);
    for (size_t i = 0; i < plen; i++) pfx[i] = rnd() % 2 ? 'a' : 'b';
    size_t want = 1 + (size_t)(rnd() % PKEYS), n = 0;
    for (size_t i = 0; i < 4 * want; i++) pkey_gen(&keys[i], pfx, plen);
    qsort(keys, 4 * want, sizeof *keys, pkey_cmp);
    for (size_t i = 0; i < 4 * want && n < want; i++) /* unique */
      if (n == 0 || pkey_cmp(&keys[n - 1], &keys[i]) != 0) keys[n++] = keys[i];
    for (size_t i = 0; i < n; i++) {
      vals[2 * i] = (pb_value){.kind = PB_VALUE_STRING,
                               .as.s = pkey_str(&keys[i])};
      if (i % 3 == 0) {
        snprintf(vbuf[i], sizeof vbuf[i], "v%u.%zu", trial, i);
        vals[2 * i + 1] = sv(vbuf[i]);
      } else {
        vals[2 * i + 1] = uv(trial * 1000u + i);
      }
    }
    pb_value right[] = {sv("d"), uv(1), sv("e"), uv(2)};
    pb_atom_ptr rl = pb_test_mem_node(&m, PB__TYPE_DICT_LEAF, right, 4);
    for (int plain = 0; plain <= 1; plain++) {
      pb_atom_ptr leaf = write_leaf(&m, vals, 2 * n, plain);
      pb_value br[] = {uv(1), uv(n), rv(leaf), sv("d"), uv(2), rv(rl)};
      pb_atom_ptr root = pb_test_mem_node(&m, PB__TYPE_DICT_BRANCH, br, 6);
      for (size_t i = 0; i < n; i++) { /* each key, and its neighbours */
        pkey k = keys[i];
        pget_check(&m, root, keys, n, vals, &k);
        k.b[k.len++] = '\0';
        pget_check(&m, root, keys, n, vals, &k);
        k.b[k.len - 1] = 'a';
        pget_check(&m, root, keys, n, vals, &k);
        k.len -= keys[i].len > 0 ? 2 : 1;
        pget_check(&m, root, keys, n, vals, &k);
        gets += 4;
      }
      for (size_t i = 0; i < 2 * n; i++) { /* random ones, mostly absent */
        pkey k;
        pkey_gen(&k, pfx, rnd() % 4 ? plen : (size_t)(rnd() % (plen + 1)));
        pget_check(&m, root, keys, n, vals, &k);
        gets++;
      }
    }
    pb_test_mem_free(&m);
  }
  if (getenv("PB_TEST_VERBOSE"))
    printf("layouts: %llu gets each way\n", (unsigned long long)gets);
  /* both layouts were read in place (each get once in place) */
  uint64_t plain = pb__dict_inplace_plain - plain0;
  uint64_t reads = pb__dict_inplace_reads - reads0;
  assert_true(plain > 1000 && reads - plain > 1000);
}

/* --- an old store: its leaves written plain --- */

static void old_store(void **state) {
  (void)state;
  static model m;
  memset(&m, 0, sizeof m);
  rng_state = 99;
  store s = {.dir = pb_test_tmpdir()};
  pb_space_options_init(&s.o);
  store_open(&s);
  pb__dict_write_plain_leaves = true; /* as before the indexed leaf */
  model_commit(&s, &m, 3 * KEYS);
  pb__dict_write_plain_leaves = false;
  store_close(&s);
  store_open(&s);
  uint64_t p0 = pb__dict_inplace_plain, r0 = pb__dict_inplace_reads;
  model_read(&s, &m, 2000);
  assert_true(pb__dict_inplace_plain - p0 > 100);
  assert_int_equal(pb__dict_inplace_plain - p0, pb__dict_inplace_reads - r0);
  /* Edits write indexed leaves beside the old ones. */
  for (unsigned round = 0; round < 3; round++) {
    model_commit(&s, &m, 8);
    model_read(&s, &m, 1000);
  }
  pb_compact_stats cs;
  assert_int_equal(pb_storage_compact(s.st, &cs), PB_OK);
  store_close(&s);
  store_open(&s);
  p0 = pb__dict_inplace_plain;
  r0 = pb__dict_inplace_reads;
  model_read(&s, &m, 2000);
  uint64_t plain = pb__dict_inplace_plain - p0,
           idx = pb__dict_inplace_reads - r0 - plain;
  if (getenv("PB_TEST_VERBOSE"))
    printf("old store: %llu plain, %llu indexed\n", (unsigned long long)plain,
           (unsigned long long)idx);
  assert_true(plain > 10 && idx > 10); /* both layouts in one tree */
  store_close(&s);
  pb_test_rmdir(s.dir);
}

/* --- threads --- */

#define TKEYS 30000u /* several times the doorkeeper's 256 slots in leaves */
#define BIGKEYS 20000u

typedef struct tctx {
  store *s;
  unsigned seed;
  _Atomic bool *stop;
  unsigned txns;
  uint64_t inplace; /* leaves this thread read in place */
} tctx;

static pb_str tkey(unsigned i, char *buf) {
  snprintf(buf, 24, "t%06u", i);
  return pb_str_from_cstr(buf);
}

/* A value naming its key: "v<key>-<gen>". */
static void tval(unsigned i, unsigned gen, char *buf) {
  snprintf(buf, 48, "v%06u-%u", i, gen);
}

static void *reader(void *arg) {
  tctx *c = arg;
  uint64_t x = c->seed, r0 = pb__dict_inplace_reads;
  for (unsigned n = 0; n < c->txns; n++) {
    pb_txn *t;
    pb_dict *d;
    if (pb_txn_begin(c->s->db, PB_RDONLY, &t) != PB_OK) abort();
    if (pb_txn_open_dict(t, "d", 0, &d) != PB_OK) abort();
    for (unsigned k = 0; k < 60; k++) {
      x = x * 6364136223846793005ull + 1442695040888963407ull;
      unsigned i = (unsigned)((x >> 33) % TKEYS);
      char kb[24], want[16];
      pb_value v;
      if (pb_dict_get(d, tkey(i, kb), &v) != PB_OK) abort();
      snprintf(want, sizeof want, "v%06u-", i);
      if (v.kind != PB_VALUE_STRING || v.as.s.len < 8 ||
          memcmp(v.as.s.ptr, want, 8) != 0)
        abort();
    }
    pb_txn_abort(t);
  }
  c->inplace = pb__dict_inplace_reads - r0;
  return NULL;
}

static void *writer(void *arg) {
  tctx *c = arg;
  for (unsigned n = 0; n < c->txns; n++) {
    pb_txn *t;
    pb_dict *d;
    if (pb_txn_begin(c->s->db, 0, &t) != PB_OK) abort();
    if (pb_txn_open_dict(t, "d", 0, &d) != PB_OK) abort();
    for (unsigned k = 0; k < 20; k++) {
      unsigned i = (n * 97 + k * 211) % TKEYS;
      char kb[24], vb[48];
      tval(i, n + 1, vb);
      pb_value v = {.kind = PB_VALUE_STRING, .as.s = pb_str_from_cstr(vb)};
      if (pb_dict_put(d, tkey(i, kb), &v) != PB_OK) abort();
    }
    if (pb_txn_commit(t) != PB_OK) abort();
  }
  return NULL;
}

static void *scanner(void *arg) {
  tctx *c = arg;
  while (!atomic_load(c->stop)) {
    pb_txn *t;
    pb_dict *d;
    pb_dict_iter *it;
    if (pb_txn_begin(c->s->db, PB_RDONLY, &t) != PB_OK) abort();
    if (pb_txn_open_dict(t, "big", 0, &d) != PB_OK) abort();
    if (pb_dict_iter_open(d, NULL, 0, &it) != PB_OK) abort();
    pb_str k;
    pb_value v;
    unsigned n = 0;
    while (pb_dict_iter_next(it, &k, &v) == PB_OK) n++;
    if (n != BIGKEYS) abort();
    pb_dict_iter_close(it);
    pb_txn_abort(t);
    c->txns++;
  }
  return NULL;
}

static void threads(void **state) {
  (void)state;
  store s = {.dir = pb_test_tmpdir()};
  pb_space_options_init(&s.o);
  s.o.object_cache_bytes = 512u << 10; /* "big" is several times that */
  store_open(&s);
  pb_txn *t;
  pb_dict *d;
  assert_int_equal(pb_txn_begin(s.db, 0, &t), PB_OK);
  assert_int_equal(pb_txn_open_dict(t, "d", PB_CREATE, &d), PB_OK);
  for (unsigned i = 0; i < TKEYS; i++) {
    char kb[24], vb[48];
    tval(i, 0, vb);
    pb_value v = {.kind = PB_VALUE_STRING, .as.s = pb_str_from_cstr(vb)};
    assert_int_equal(pb_dict_put(d, tkey(i, kb), &v), PB_OK);
  }
  assert_int_equal(pb_txn_open_dict(t, "big", PB_CREATE, &d), PB_OK);
  for (unsigned i = 0; i < BIGKEYS; i++) {
    char kb[24], vb[48];
    snprintf(kb, sizeof kb, "big%06u", i);
    tval(i, 0, vb);
    pb_value v = {.kind = PB_VALUE_STRING, .as.s = pb_str_from_cstr(vb)};
    assert_int_equal(pb_dict_put(d, pb_str_from_cstr(kb), &v), PB_OK);
  }
  assert_int_equal(pb_txn_commit(t), PB_OK);
  _Atomic bool stop = false;
  tctx rc1 = {&s, 1, &stop, 150, 0}, rc2 = {&s, 2, &stop, 150, 0};
  tctx wc = {&s, 3, &stop, 30, 0}, sc = {&s, 4, &stop, 0, 0};
  pthread_t th[4];
  assert_int_equal(pthread_create(&th[0], NULL, reader, &rc1), 0);
  assert_int_equal(pthread_create(&th[1], NULL, reader, &rc2), 0);
  assert_int_equal(pthread_create(&th[2], NULL, writer, &wc), 0);
  assert_int_equal(pthread_create(&th[3], NULL, scanner, &sc), 0);
  for (int i = 0; i < 3; i++) assert_int_equal(pthread_join(th[i], NULL), 0);
  atomic_store(&stop, true);
  assert_int_equal(pthread_join(th[3], NULL), 0);
  if (getenv("PB_TEST_VERBOSE"))
    printf("threads: %llu and %llu in place, %u scans\n",
           (unsigned long long)rc1.inplace, (unsigned long long)rc2.inplace,
           sc.txns);
  assert_true(rc1.inplace > 250 && rc2.inplace > 250);
  assert_true(sc.txns >= 1);
  store_close(&s);
  pb_test_rmdir(s.dir);
}

int main(int argc, char **argv) {
  for (int i = 1; i < argc; i++)
    if (strcmp(argv[i], "--tiny") == 0) pb__coll_fanout = 4;
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(model_default), cmocka_unit_test(model_views),
      cmocka_unit_test(model_tiny),
      cmocka_unit_test(model_nocache), cmocka_unit_test(admission),
      cmocka_unit_test(leaf_hints),
      cmocka_unit_test(hostile_leaves), cmocka_unit_test(mutations),
      cmocka_unit_test(idx_leaves), cmocka_unit_test(layouts_model),
      cmocka_unit_test(old_store), cmocka_unit_test(threads),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
