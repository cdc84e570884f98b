/*
 * test_slab.c - the huge-page slab allocator (util/slab.h).  Labels `unit`
 * and `threads` (the ThreadSanitizer suite).  Run with --no-hugepages by
 * the variant test_slab_nohuge, which sets PB_NO_HUGEPAGES=1.
 *
 *   size_classes
 *        every request from 1 byte to past PB__SLAB_MAX is served with at
 *        least its size, a multiple of 64; above 1 KiB rounding wastes at
 *        most 1/8; there are PB__SLAB_CLASSES sizes up to PB__SLAB_MAX
 *   chunks_unmapped_when_empty
 *        (first, in a fresh process) blocks of one class filling four
 *        chunks: the class's first chunk is not marked for huge pages
 *        while it is the only one; the later ones are, and then the first
 *        too (the kernel's VmFlags "hg" agree); none with
 *        PB_NO_HUGEPAGES=1; freed, all but one chunk are unmapped, and
 *        allocating again reuses the one kept
 *   big_and_small
 *        PB__SLAB_MAX is a chunk's, one byte more goes through malloc; both
 *        64-byte aligned, usable, counted, freed (NULL too); an impossible
 *        size is ENOMEM; under ASan a freed block is poisoned
 *   model
 *        random allocations and frees of random sizes (small, mid, big)
 *        against a model: every block aligned, disjoint, its pattern
 *        intact until freed, the counts equal the model's; at the end no
 *        block is live and only spares are mapped
 *   threads_alloc_free
 *        4 threads allocate and free, half of the blocks freed by another
 *        thread (a shared queue); patterns intact, nothing live at the end
 *   alloc_failure
 *        the failure hook fails exactly the chosen call (small and big),
 *        with ENOMEM, and changes nothing; later calls succeed
 *   system_refuses
 *        (not under sanitizers) a child process under a small address
 *        space limit: a new chunk and a big block are ENOMEM, blocks of a
 *        chunk already mapped are still served
 */
#ifndef _DEFAULT_SOURCE
#define _DEFAULT_SOURCE
#endif
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "util/slab.h"

#if defined(__SANITIZE_ADDRESS__)
#define T_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define T_ASAN 1
#endif
#endif
#if defined(__SANITIZE_THREAD__)
#define T_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define T_TSAN 1
#endif
#endif
#ifdef T_ASAN
#include <sanitizer/asan_interface.h>
#endif

static bool g_nohuge; /* --no-hugepages: PB_NO_HUGEPAGES=1 is set */

static uint64_t rnd(uint64_t *s) { /* xorshift64* */
  *s ^= *s >> 12;
  *s ^= *s << 25;
  *s ^= *s >> 27;
  return *s * UINT64_C(2685821657736338717);
}

/* A block's pattern: its first 16 bytes say its size and seed (when it
 * has room), the rest are bytes of the seed's stream. */
static void fill(unsigned char *p, size_t n, uint64_t seed) {
  uint64_t s = seed | 1;
  for (size_t i = 0; i < n; i++) {
    if (i % 8 == 0) rnd(&s);
    p[i] = (unsigned char)(s >> (8 * (i % 8)));
  }
  if (n >= 16) {
    memcpy(p, &n, sizeof n);
    memcpy(p + 8, &seed, sizeof seed);
  }
}

static bool intact(const unsigned char *p, size_t n, uint64_t seed) {
  uint64_t s = seed | 1;
  for (size_t i = 0; i < n; i++) {
    if (i % 8 == 0) rnd(&s);
    if (n >= 16 && i < 16) continue; /* the size and seed, below */
    if (p[i] != (unsigned char)(s >> (8 * (i % 8)))) return false;
  }
  if (n >= 16) {
    size_t n2;
    uint64_t seed2;
    memcpy(&n2, p, sizeof n2);
    memcpy(&seed2, p + 8, sizeof seed2);
    if (n2 != n || seed2 != seed) return false;
  }
  return true;
}

/* Whether the kernel has transparent huge pages at all. */
static bool thp_present(void) {
  return access("/sys/kernel/mm/transparent_hugepage/enabled", R_OK) == 0;
}

/* The mapping holding addr in /proc/self/smaps: 1 if its VmFlags has
 * "hg" (MADV_HUGEPAGE), 0 if not, -1 if not found; *anon_huge_kb gets its
 * AnonHugePages. */
static int smaps_hg(const void *addr, long *anon_huge_kb) {
  FILE *f = fopen("/proc/self/smaps", "r");
  if (!f) return -1;
  char line[1024];
  bool in = false;
  int r = -1;
  *anon_huge_kb = 0;
  uintptr_t a = (uintptr_t)addr;
  while (fgets(line, sizeof line, f)) {
    unsigned long lo, hi;
    char dash;
    if (sscanf(line, "%lx%c%lx ", &lo, &dash, &hi) == 3 && dash == '-') {
      if (in) break;
      in = a >= lo && a < hi;
      continue;
    }
    if (!in) continue;
    long kb;
    if (sscanf(line, "AnonHugePages: %ld kB", &kb) == 1) *anon_huge_kb = kb;
    if (!strncmp(line, "VmFlags:", 8)) {
      r = strstr(line, " hg") != NULL;
      break;
    }
  }
  fclose(f);
  return r;
}

static void size_classes(void **state) {
  (void)state;
  size_t distinct = 0, last = 0;
  for (size_t n = 0; n <= PB__SLAB_MAX + 4096; n++) {
    size_t s = pb__slab_size_of(n);
    assert_true(s >= (n ? n : 1));
    assert_int_equal(s % 64, 0);
    if (n > 1024 && n <= PB__SLAB_MAX) assert_true((s - n) * 8 <= n);
    if (n <= 1024) assert_true(s - (n ? n : 1) < 64);
    assert_true(s >= last);
    if (n <= PB__SLAB_MAX && s != last) distinct++;
    last = s;
  }
  assert_int_equal(distinct, PB__SLAB_CLASSES);
  assert_int_equal(pb__slab_size_of(PB__SLAB_MAX), PB__SLAB_MAX);
  assert_int_equal(pb__slab_size_of(PB__SLAB_MAX + 1), PB__SLAB_MAX + 64);
  assert_int_equal(pb__slab_size_of(SIZE_MAX - 8), SIZE_MAX);
}

#define CLS 4096
#define PER_CHUNK ((PB__SLAB_CHUNK - 64) / CLS)
#define NCHUNKS 4

static void chunks_unmapped_when_empty(void **state) {
  (void)state;
  assert_int_equal(pb__slab_hugepages(), !g_nohuge);
  pb__slab_stats s0, s1, s2, s3;
  pb__slab_stats_get(&s0);
  assert_int_equal(s0.chunks, 0); /* first test: nothing mapped yet */
  size_t n = NCHUNKS * PER_CHUNK;
  void **p = calloc(n, sizeof *p);
  assert_non_null(p);
  bool expect_marks = !g_nohuge && thp_present();
  for (size_t i = 0; i < n; i++) {
    if (i == PER_CHUNK) { /* the first chunk is full, and not marked */
      long huge_kb = 0;
      pb__slab_stats_get(&s1);
      assert_int_equal(s1.chunks, 1);
      assert_int_equal(s1.advised_chunks, 0);
      assert_int_equal(smaps_hg(p[0], &huge_kb), 0);
      assert_int_equal(huge_kb, 0);
    }
    p[i] = pb__slab_alloc(CLS - 100);
    assert_non_null(p[i]);
    assert_int_equal(pb__slab_usable(p[i]), CLS);
    fill(p[i], CLS, i);
    if (i > 0 && i % PER_CHUNK == 0) /* a new chunk, not the same */
      assert_true(((uintptr_t)p[i] & ~(PB__SLAB_CHUNK - 1)) !=
                  ((uintptr_t)p[i - 1] & ~(PB__SLAB_CHUNK - 1)));
  }
  pb__slab_stats_get(&s1);
  assert_int_equal(s1.chunks, NCHUNKS);
  assert_int_equal(s1.maps - s0.maps, NCHUNKS);
  assert_int_equal(s1.blocks, n);
  assert_int_equal(s1.block_bytes, n * CLS);
  /* The later chunks were marked, and then the first one too. */
  assert_int_equal(s1.advised_chunks, expect_marks ? NCHUNKS : 0);
  for (size_t c = 0; c < NCHUNKS; c++) {
    long huge_kb = 0;
    int hg = smaps_hg(p[c * PER_CHUNK], &huge_kb);
    assert_int_not_equal(hg, -1);
    assert_int_equal(hg, expect_marks);
    printf("chunk %zu: VmFlags hg=%d, AnonHugePages %ld kB\n", c, hg,
           huge_kb);
  }
  for (size_t i = 0; i < n; i++) {
    assert_true(intact(p[i], CLS, i));
    pb__slab_free(p[i]);
  }
  pb__slab_stats_get(&s2);
  assert_int_equal(s2.blocks, 0);
  assert_int_equal(s2.chunks, 1); /* one kept */
  assert_int_equal(s2.spare_chunks, 1);
  assert_int_equal(s2.unmaps - s1.unmaps, NCHUNKS - 1);
  /* Allocating again takes the chunk kept: nothing is mapped. */
  void *q = pb__slab_alloc(CLS);
  assert_non_null(q);
  pb__slab_stats_get(&s3);
  assert_int_equal(s3.maps, s2.maps);
  assert_int_equal(s3.chunks, 1);
  assert_int_equal(s3.spare_chunks, 0);
  pb__slab_free(q);
  free(p);
}

static void big_and_small(void **state) {
  (void)state;
  pb__slab_stats s0, s1, s2;
  pb__slab_stats_get(&s0);
  unsigned char *a = pb__slab_alloc(PB__SLAB_MAX);
  unsigned char *b = pb__slab_alloc(PB__SLAB_MAX + 1);
  unsigned char *z = pb__slab_alloc(0);
  assert_non_null(a);
  assert_non_null(b);
  assert_non_null(z);
  assert_int_equal((uintptr_t)a % 64, 0);
  assert_int_equal((uintptr_t)b % 64, 0);
  assert_int_equal((uintptr_t)z % 64, 0);
  assert_int_equal(pb__slab_usable(a), PB__SLAB_MAX);
  assert_int_equal(pb__slab_usable(b), PB__SLAB_MAX + 64);
  assert_int_equal(pb__slab_usable(z), 64);
  memset(a, 0xa5, pb__slab_usable(a));
  memset(b, 0x5a, pb__slab_usable(b));
  memset(z, 0x11, 64);
  pb__slab_stats_get(&s1);
  assert_int_equal(s1.blocks - s0.blocks, 2);
  assert_int_equal(s1.block_bytes - s0.block_bytes, PB__SLAB_MAX + 64);
  assert_int_equal(s1.big_blocks - s0.big_blocks, 1);
  assert_int_equal(s1.big_bytes - s0.big_bytes, PB__SLAB_MAX + 64);
  pb__slab_free(a);
  pb__slab_free(b);
  pb__slab_free(z);
  pb__slab_free(NULL);
#ifdef T_ASAN
  assert_true(__asan_address_is_poisoned(a));
  assert_true(__asan_address_is_poisoned(a + PB__SLAB_MAX - 1));
  assert_true(__asan_address_is_poisoned(z));
#endif
  pb__slab_stats_get(&s2);
  assert_int_equal(s2.blocks, s0.blocks);
  assert_int_equal(s2.big_blocks, s0.big_blocks);
  assert_int_equal(s2.big_bytes, s0.big_bytes);
  errno = 0;
  assert_null(pb__slab_alloc(SIZE_MAX - 8));
  assert_int_equal(errno, ENOMEM);
}

/* --- the model --- */

typedef struct live {
  unsigned char *p;
  size_t n;
  uint64_t seed;
} live;

static size_t pick_size(uint64_t *s) {
  uint64_t r = rnd(s) % 100;
  if (r < 25) return 8000 + rnd(s) % 600; /* a few hot classes: */
  if (r < 45) return 2200 + rnd(s) % 200; /* several chunks each */
  if (r < 60) return 1 + rnd(s) % 2048;
  if (r < 85) return 2049 + rnd(s) % 14000;
  if (r < 95) return 16384 + rnd(s) % (PB__SLAB_MAX - 16384 + 1);
  return PB__SLAB_MAX + 1 + rnd(s) % 200000;
}

static int cmp_ptr(const void *x, const void *y) {
  const live *a = x, *b = y;
  return a->p < b->p ? -1 : a->p > b->p;
}

static void check_model(live *m, size_t k) {
  pb__slab_stats st;
  pb__slab_stats_get(&st);
  size_t small = 0, small_bytes = 0, bigs = 0, big_bytes = 0;
  for (size_t i = 0; i < k; i++) {
    assert_true(intact(m[i].p, m[i].n, m[i].seed));
    if (m[i].n <= PB__SLAB_MAX) {
      small++;
      small_bytes += pb__slab_size_of(m[i].n);
    } else {
      bigs++;
      big_bytes += pb__slab_size_of(m[i].n);
    }
  }
  assert_int_equal(st.blocks, small);
  assert_int_equal(st.block_bytes, small_bytes);
  assert_int_equal(st.big_blocks, bigs);
  assert_int_equal(st.big_bytes, big_bytes);
  /* Disjoint: sorted by address, each ends before the next begins. */
  live *c = malloc(k * sizeof *c + 1);
  assert_non_null(c);
  memcpy(c, m, k * sizeof *c);
  qsort(c, k, sizeof *c, cmp_ptr);
  for (size_t i = 1; i < k; i++)
    assert_true(c[i - 1].p + pb__slab_usable(c[i - 1].p) <= c[i].p);
  free(c);
}

static void model(void **state) {
  (void)state;
  enum { CAP = 3000, OPS = 40000 };
  live *m = calloc(CAP, sizeof *m);
  assert_non_null(m);
  size_t k = 0;
  uint64_t s = 0x5eed5eedULL, seeds = 1;
  size_t peak_chunks = 0;
  for (int op = 0; op < OPS; op++) {
    /* Grow to CAP, then shrink to nothing, then grow again. */
    int phase = (op / 10000) % 2;
    bool alloc = k == 0 || (k < CAP && rnd(&s) % 100 < (phase ? 35u : 65u));
    if (alloc) {
      size_t n = pick_size(&s);
      unsigned char *p = pb__slab_alloc(n);
      assert_non_null(p);
      assert_int_equal((uintptr_t)p % 64, 0);
      assert_true(pb__slab_usable(p) >= n);
      assert_int_equal(pb__slab_usable(p), pb__slab_size_of(n));
      m[k] = (live){p, n, seeds++};
      fill(p, n, m[k].seed);
      k++;
    } else {
      size_t i = rnd(&s) % k;
      assert_true(intact(m[i].p, m[i].n, m[i].seed));
      pb__slab_free(m[i].p);
      m[i] = m[--k];
    }
    if (op % 4000 == 3999) {
      check_model(m, k);
      pb__slab_stats st;
      pb__slab_stats_get(&st);
      if (st.chunks > peak_chunks) peak_chunks = st.chunks;
    }
  }
  check_model(m, k);
  while (k) {
    assert_true(intact(m[k - 1].p, m[k - 1].n, m[k - 1].seed));
    pb__slab_free(m[--k].p);
  }
  pb__slab_stats st;
  pb__slab_stats_get(&st);
  assert_int_equal(st.blocks, 0);
  assert_int_equal(st.big_blocks, 0);
  assert_int_equal(st.chunks, st.spare_chunks); /* only spares mapped */
  assert_true(st.spare_chunks <= PB__SLAB_CLASSES);
  assert_true(peak_chunks > st.chunks); /* chunks were unmapped */
  free(m);
}

/* --- threads --- */

#define NTHREADS 4
#define QCAP 256

static struct {
  pthread_mutex_t mu;
  live q[QCAP]; /* blocks another thread frees */
  size_t n;
} g_q = {PTHREAD_MUTEX_INITIALIZER, {{0}}, 0};

static bool q_push(live b) {
  bool ok = false;
  pthread_mutex_lock(&g_q.mu);
  if (g_q.n < QCAP) {
    g_q.q[g_q.n++] = b;
    ok = true;
  }
  pthread_mutex_unlock(&g_q.mu);
  return ok;
}

static bool q_pop(live *b) {
  bool ok = false;
  pthread_mutex_lock(&g_q.mu);
  if (g_q.n) {
    *b = g_q.q[--g_q.n];
    ok = true;
  }
  pthread_mutex_unlock(&g_q.mu);
  return ok;
}

static void *worker(void *arg) {
  uintptr_t id = (uintptr_t)arg;
  uint64_t s = 0x1234567ULL * (id + 1), seeds = (uint64_t)id << 40;
  enum { CAP = 200, OPS = 20000 };
  live m[CAP];
  size_t k = 0;
  long bad = 0;
  for (int op = 0; op < OPS; op++) {
    uint64_t r = rnd(&s) % 100;
    if (k < CAP && (k == 0 || r < 50)) {
      size_t n = rnd(&s) % 8 == 0 ? pick_size(&s) : 1 + rnd(&s) % 4096;
      unsigned char *p = pb__slab_alloc(n);
      if (!p || (uintptr_t)p % 64) return (void *)1;
      m[k] = (live){p, n, ++seeds};
      fill(p, n, m[k].seed);
      k++;
    } else if (r < 75) {
      size_t i = rnd(&s) % k;
      if (!q_push(m[i])) continue; /* queue full: keep it */
      m[i] = m[--k];
    } else {
      live b;
      if (r < 88 && q_pop(&b)) { /* another thread's, most often */
        bad += !intact(b.p, b.n, b.seed);
        pb__slab_free(b.p);
      } else {
        size_t i = rnd(&s) % k;
        bad += !intact(m[i].p, m[i].n, m[i].seed);
        pb__slab_free(m[i].p);
        m[i] = m[--k];
      }
    }
  }
  while (k) {
    bad += !intact(m[k - 1].p, m[k - 1].n, m[k - 1].seed);
    pb__slab_free(m[--k].p);
  }
  return (void *)(uintptr_t)(bad != 0);
}

static void threads_alloc_free(void **state) {
  (void)state;
  pthread_t t[NTHREADS];
  for (uintptr_t i = 0; i < NTHREADS; i++)
    assert_int_equal(pthread_create(&t[i], NULL, worker, (void *)i), 0);
  for (int i = 0; i < NTHREADS; i++) {
    void *r;
    assert_int_equal(pthread_join(t[i], &r), 0);
    assert_null(r);
  }
  live b;
  while (q_pop(&b)) {
    assert_true(intact(b.p, b.n, b.seed));
    pb__slab_free(b.p);
  }
  pb__slab_stats st;
  pb__slab_stats_get(&st);
  assert_int_equal(st.blocks, 0);
  assert_int_equal(st.big_blocks, 0);
  assert_int_equal(st.chunks, st.spare_chunks);
}

/* --- failures --- */

static void alloc_failure(void **state) {
  (void)state;
  void *keep = pb__slab_alloc(100); /* a chunk of this class exists */
  assert_non_null(keep);
  size_t sizes[] = {100, 30000, PB__SLAB_MAX + 1000};
  for (size_t j = 0; j < sizeof sizes / sizeof *sizes; j++) {
    for (unsigned after = 0; after < 3; after++) {
      pb__slab_stats s0, s1;
      void *ok[3] = {NULL, NULL, NULL};
      pb__slab_debug_fail_after(after);
      for (unsigned i = 0; i < after; i++) {
        ok[i] = pb__slab_alloc(sizes[j]);
        assert_non_null(ok[i]);
      }
      pb__slab_stats_get(&s0);
      errno = 0;
      assert_null(pb__slab_alloc(sizes[j])); /* this one */
      assert_int_equal(errno, ENOMEM);
      pb__slab_stats_get(&s1);
      assert_memory_equal(&s0, &s1, sizeof s0); /* nothing changed */
      void *next = pb__slab_alloc(sizes[j]);    /* once only */
      assert_non_null(next);
      pb__slab_free(next);
      for (unsigned i = 0; i < after; i++) pb__slab_free(ok[i]);
    }
  }
  /* Off. */
  pb__slab_debug_fail_after(PB__SLAB_NEVER);
  for (int i = 0; i < 10; i++) {
    void *p = pb__slab_alloc(64);
    assert_non_null(p);
    pb__slab_free(p);
  }
  pb__slab_free(keep);
}

/* The system refuses memory: a child under an address-space limit. */
static void system_refuses(void **state) {
  (void)state;
#if defined(T_ASAN) || defined(T_TSAN)
  skip(); /* sanitizers map far more than any limit we could set */
#else
  void *warm = pb__slab_alloc(200); /* its chunk is mapped */
  assert_non_null(warm);
  pid_t pid = fork();
  assert_true(pid >= 0);
  if (pid == 0) {
    /* Only a little more than what is mapped now. */
    FILE *f = fopen("/proc/self/statm", "r");
    unsigned long pages = 0;
    if (!f || fscanf(f, "%lu", &pages) != 1) _exit(10);
    fclose(f);
    struct rlimit rl;
    rl.rlim_cur = rl.rlim_max = pages * (unsigned long)sysconf(_SC_PAGESIZE) +
                                ((unsigned long)1 << 20);
    if (setrlimit(RLIMIT_AS, &rl) != 0) _exit(11);
    /* Blocks of a class until its chunks (a spare from the tests before,
     * perhaps) are full and a new one must be mapped: it cannot be. */
    int i = 0;
    for (errno = 0; i < 200 && pb__slab_alloc(40000); i++) continue;
    if (i == 200 || errno != ENOMEM) _exit(12);
    errno = 0;
    if (pb__slab_alloc((size_t)256 << 20) != NULL || errno != ENOMEM) _exit(13);
    void *p = pb__slab_alloc(200); /* a mapped chunk still serves */
    if (!p) _exit(14);
    pb__slab_free(p);
    pb__slab_stats st;
    pb__slab_stats_get(&st);
    if (st.blocks != 1 + (size_t)i) _exit(15);
    _exit(0);
  }
  int status;
  assert_int_equal(waitpid(pid, &status, 0), pid);
  assert_true(WIFEXITED(status));
  assert_int_equal(WEXITSTATUS(status), 0);
  pb__slab_free(warm);
#endif
}

int main(int argc, char **argv) {
  for (int i = 1; i < argc; i++)
    if (!strcmp(argv[i], "--no-hugepages")) g_nohuge = true;
  if (g_nohuge) {
    const char *e = getenv("PB_NO_HUGEPAGES");
    if (!e || strcmp(e, "1") != 0) {
      fprintf(stderr, "--no-hugepages needs PB_NO_HUGEPAGES=1\n");
      return 2;
    }
  }
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(chunks_unmapped_when_empty), /* first: fresh state */
      cmocka_unit_test(size_classes),
      cmocka_unit_test(big_and_small),
      cmocka_unit_test(model),
      cmocka_unit_test(threads_alloc_free),
      cmocka_unit_test(alloc_failure),
      cmocka_unit_test(system_refuses),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
