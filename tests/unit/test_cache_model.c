/*
 * test_cache_model.c - the cache engine against a model of 2Q, op by op.
 *
 * The model is the paper's algorithm written the plainest way: three
 * arrays, head first, shifted with memmove, with the engine's documented
 * choices (limits in bytes and entries, Kin as either share, a re-put
 * keeps the cached value, an entry over the byte limit is not cached).
 * For each of 60 random configurations (1..40 entries, 1..400 bytes, Kin
 * 0..100%, Kout 0..200%, one shard), 3,000 random operations over 80 keys
 * (get, put, get-or-load, with sizes from 0 to past the byte limit, and
 * handles kept for a while and released in any order) run on both, and
 * after EVERY operation:
 *
 *   - pb__cache_check passes (links, counters, table, and both limits);
 *   - the three queues hold the same keys in the same order as the
 *     model's;
 *   - hits, misses, insertions, evictions, ghost hits, rejections, bytes,
 *     entries, ghosts and held values equal the model's counts;
 *   - every handle still held gives its key's value, intact.
 *
 * At the end every value was destroyed exactly once.  A failure prints
 * the configuration and the step (seeds are fixed).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cache/cache.h"

#define NKEYS 80
#define MAXQ 128 /* > NKEYS: a key is in one queue at most */
#define MAXHELD 8

typedef struct mq { /* a model queue, head first */
  uint64_t key[MAXQ + 1];
  uint64_t size[MAXQ + 1];
  const void *val[MAXQ + 1]; /* the value cached (which entry it is) */
  size_t n;
} mq;

typedef struct model {
  uint64_t max_bytes, max_entries, kin_b, kin_e, kout;
  mq in, am, out;
  uint64_t hits, misses, insertions, evictions, ghost_hits, rejected;
} model;

static long made, destroyed;

typedef struct val {
  uint64_t key;
  uint64_t check; /* ~key */
} val;

static void val_destroy(void *p) {
  val *v = p;
  assert_int_equal(v->check, ~v->key);
  v->check = 0;
  destroyed++;
  free(v);
}

static val *val_new(uint64_t k) {
  val *v = malloc(sizeof *v);
  v->key = k;
  v->check = ~k;
  made++;
  return v;
}

static uint64_t rng_state;
static uint64_t rnd(uint64_t n) { /* xorshift64*, in [0, n) */
  rng_state ^= rng_state >> 12;
  rng_state ^= rng_state << 25;
  rng_state ^= rng_state >> 27;
  return (rng_state * 2685821657736338717ull >> 11) % n;
}

static long find(const mq *q, uint64_t k) {
  for (size_t i = 0; i < q->n; i++)
    if (q->key[i] == k) return (long)i;
  return -1;
}
static void push_head(mq *q, uint64_t k, uint64_t size, const void *v) {
  memmove(&q->key[1], &q->key[0], q->n * sizeof q->key[0]);
  memmove(&q->size[1], &q->size[0], q->n * sizeof q->size[0]);
  memmove(&q->val[1], &q->val[0], q->n * sizeof q->val[0]);
  q->key[0] = k;
  q->size[0] = size;
  q->val[0] = v;
  q->n++;
}
static void remove_at(mq *q, size_t i) {
  memmove(&q->key[i], &q->key[i + 1], (q->n - i - 1) * sizeof q->key[0]);
  memmove(&q->size[i], &q->size[i + 1], (q->n - i - 1) * sizeof q->size[0]);
  memmove(&q->val[i], &q->val[i + 1], (q->n - i - 1) * sizeof q->val[0]);
  q->n--;
}
static uint64_t qbytes(const mq *q) {
  uint64_t b = 0;
  for (size_t i = 0; i < q->n; i++) b += q->size[i];
  return b;
}

/* A hit: Am moves to its head; A1in stays.  False on a miss. */
static bool m_access(model *m, uint64_t k) {
  long i = find(&m->am, k);
  if (i >= 0) {
    uint64_t size = m->am.size[i];
    const void *v = m->am.val[i];
    remove_at(&m->am, (size_t)i);
    push_head(&m->am, k, size, v);
    return true;
  }
  return find(&m->in, k) >= 0;
}

static void m_insert(model *m, uint64_t k, uint64_t size, const void *v) {
  if (m_access(m, k)) return; /* resident: kept, counts as an access */
  if (size > m->max_bytes) {
    m->rejected++;
    return;
  }
  mq *target = &m->in;
  long g = find(&m->out, k);
  if (g >= 0) {
    remove_at(&m->out, (size_t)g);
    target = &m->am;
    m->ghost_hits++;
  }
  while (qbytes(&m->in) + qbytes(&m->am) + size > m->max_bytes ||
         m->in.n + m->am.n + 1 > m->max_entries) {
    bool over = qbytes(&m->in) > m->kin_b || m->in.n > m->kin_e;
    if (m->in.n > 0 && (over || m->am.n == 0)) {
      uint64_t victim = m->in.key[m->in.n - 1];
      m->in.n--;
      if (m->kout > 0) {
        push_head(&m->out, victim, 0, NULL);
        if (m->out.n > m->kout) m->out.n--;
      }
    } else {
      m->am.n--;
    }
    m->evictions++;
  }
  push_head(target, k, size, v);
  m->insertions++;
}

static void compare(pb__cache *c, const model *m, pb__cache_handle **held,
                    size_t nheld, int cfg, int step) {
  if (pb__cache_check(c) != PB_OK) fail_msg("config %d step %d", cfg, step);
  const struct {
    pb__cache_queue q;
    const mq *mq;
  } qs[3] = {{PB__CACHE_A1IN, &m->in}, {PB__CACHE_AM, &m->am},
             {PB__CACHE_A1OUT, &m->out}};
  for (int i = 0; i < 3; i++) {
    pb__cache_key keys[MAXQ];
    size_t n = 0;
    assert_int_equal(pb__cache_debug_keys(c, 0, qs[i].q, keys, MAXQ, &n),
                     PB_OK);
    if (n != qs[i].mq->n)
      fail_msg("config %d step %d: queue %d has %zu keys, model %zu", cfg,
               step, (int)qs[i].q, n, qs[i].mq->n);
    for (size_t j = 0; j < n; j++)
      if (keys[j].offset != qs[i].mq->key[j])
        fail_msg("config %d step %d: queue %d position %zu", cfg, step,
                 (int)qs[i].q, j);
  }
  pb_cache_stats s;
  assert_int_equal(pb__cache_stats(c, &s), PB_OK);
  assert_int_equal(s.hits, m->hits);
  assert_int_equal(s.misses, m->misses);
  assert_int_equal(s.insertions, m->insertions);
  assert_int_equal(s.evictions, m->evictions);
  assert_int_equal(s.ghost_hits, m->ghost_hits);
  assert_int_equal(s.rejected, m->rejected);
  assert_int_equal(s.bytes, qbytes(&m->in) + qbytes(&m->am));
  assert_int_equal(s.entries, m->in.n + m->am.n);
  assert_int_equal(s.ghosts, m->out.n);
  assert_true(s.bytes <= m->max_bytes && s.entries <= m->max_entries);
  /* Held and not resident: what the engine counts as held. */
  uint64_t held_out = 0;
  for (size_t i = 0; i < nheld; i++) {
    const val *v = pb__cache_value(held[i]);
    assert_int_equal(v->check, ~v->key);
    bool dup = false; /* count each entry once */
    for (size_t j = 0; j < i; j++) dup |= held[j] == held[i];
    bool cached = false; /* this very value, not just its key */
    for (size_t j = 0; j < m->in.n; j++) cached |= m->in.val[j] == v;
    for (size_t j = 0; j < m->am.n; j++) cached |= m->am.val[j] == v;
    if (!dup && !cached) held_out++;
  }
  assert_int_equal(s.held_entries, held_out);
}

static uint64_t item_size(const model *m) {
  switch (rnd(10)) {
  case 0: return 0;
  case 1: return m->max_bytes + 1 + rnd(3); /* not cached */
  case 2: return m->max_bytes;              /* exactly the limit */
  default: return 1 + rnd(m->max_bytes / 4 + 1);
  }
}

static uint64_t load_size;    /* what the next load gives */
static const void *last_load; /* the value it gave */
static int load_fn(void *arg, const pb__cache_key *k, pb__cache_item *out) {
  (void)arg;
  *out = (pb__cache_item){val_new(k->offset), load_size, val_destroy};
  last_load = out->value;
  return PB_OK;
}

static void run_config(int cfg) {
  rng_state = 0x9e3779b97f4a7c15ull * (uint64_t)(cfg + 1);
  pb__cache_opts o;
  pb__cache_opts_init(&o);
  o.max_entries = 1 + rnd(40);
  o.max_bytes = 1 + rnd(400);
  o.in_pct = (uint32_t)rnd(101);
  o.out_pct = (uint32_t)rnd(201);
  o.shards = 1;
  model m = {0};
  m.max_bytes = o.max_bytes;
  m.max_entries = o.max_entries;
  m.kin_b = o.max_bytes * o.in_pct / 100;
  m.kin_e = o.max_entries * o.in_pct / 100;
  m.kout = o.max_entries * o.out_pct / 100;
  pb__cache *c = NULL;
  assert_int_equal(pb__cache_create(&o, &c), PB_OK);
  pb__cache_handle *held[MAXHELD];
  size_t nheld = 0;
  for (int step = 0; step < 3000; step++) {
    uint64_t k = rnd(NKEYS);
    pb__cache_key key = {1, 2, k, 0};
    pb__cache_handle *h = NULL;
    uint64_t op = rnd(10);
    if (op < 3) { /* get */
      int rc = pb__cache_get(c, &key, &h);
      bool hit = m_access(&m, k);
      assert_int_equal(rc, hit ? PB_OK : PB_ENOTFOUND);
      if (hit) m.hits++;
      else m.misses++;
    } else if (op < 6) { /* put, with or without a handle */
      uint64_t size = item_size(&m);
      pb__cache_item it = {val_new(k), size, val_destroy};
      bool want = rnd(2);
      assert_int_equal(pb__cache_put(c, &key, &it, want ? &h : NULL), PB_OK);
      m_insert(&m, k, size, it.value);
    } else if (op < 9) { /* get or load */
      load_size = item_size(&m);
      assert_int_equal(pb__cache_get_or_load(c, &key, load_fn, NULL, &h),
                       PB_OK);
      if (m_access(&m, k)) {
        m.hits++;
      } else {
        m.misses++;
        m_insert(&m, k, load_size, last_load);
      }
    } else if (nheld > 0) { /* release a held handle */
      size_t i = (size_t)rnd(nheld);
      pb__cache_release(held[i]);
      held[i] = held[--nheld];
    }
    if (h) {
      assert_int_equal(((const val *)pb__cache_value(h))->key, k);
      if (nheld < MAXHELD && rnd(3) == 0) held[nheld++] = h;
      else pb__cache_release(h);
    }
    compare(c, &m, held, nheld, cfg, step);
  }
  while (nheld > 0) pb__cache_release(held[--nheld]);
  pb_cache_stats s;
  assert_int_equal(pb__cache_stats(c, &s), PB_OK);
  assert_int_equal(s.held_entries, 0);
  assert_int_equal(made - destroyed, (long)s.entries);
  pb__cache_destroy(c);
  assert_int_equal(made, destroyed);
}

static void test_against_model(void **state) {
  (void)state;
  for (int cfg = 0; cfg < 60; cfg++) run_config(cfg);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_against_model),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
