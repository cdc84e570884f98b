/*
 * util/slab.c - the huge-page slab allocator (slab.h).
 *
 * A class is a mutex, its block size, the list of its chunks that have a
 * free block (avail), at most one empty chunk (spare) and counts.  A chunk
 * hands out blocks from its free list first, then from its bump pointer
 * (memory never used is never touched, so a chunk that is not marked for
 * huge pages costs only the 4 KiB pages its blocks reached).  A chunk is
 * on avail exactly when it has a free block and a live one; a full chunk
 * is off every list (its blocks know it by address), and goes back on
 * avail when one of its blocks is freed.
 *
 * The registry says which 2 MiB regions are chunks: one bit per region of
 * a 48-bit address space, in leaves of 2^16 bits (128 GiB of addresses,
 * 8 KiB each) mapped on first use and kept.  A region's bit is set after
 * the chunk is mapped and before any of its blocks is handed out, and
 * cleared before it is unmapped, when none is live: a block's owner
 * always finds its bit set, and a malloc'ed block (which never lies in a
 * mapped chunk) always finds its bit clear.
 */
#ifndef _DEFAULT_SOURCE
#define _DEFAULT_SOURCE /* MAP_ANONYMOUS, madvise, MADV_HUGEPAGE */
#endif
#include "util/slab.h"

#include <assert.h>
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

/* --- AddressSanitizer: blocks not handed out are poisoned --- */

#if defined(__SANITIZE_ADDRESS__)
#define SLAB_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define SLAB_ASAN 1
#endif
#endif
#ifdef SLAB_ASAN
#include <sanitizer/asan_interface.h>
#define POISON(p, n) ASAN_POISON_MEMORY_REGION((p), (n))
#define UNPOISON(p, n) ASAN_UNPOISON_MEMORY_REGION((p), (n))
#else
#define POISON(p, n) ((void)(p), (void)(n))
#define UNPOISON(p, n) ((void)(p), (void)(n))
#endif

#define CHUNK_MAGIC UINT64_C(0x70625f736c616221) /* "pb_slab!" */
#define BIG_MAGIC UINT64_C(0x70625f6269672121)   /* "pb_big!!" */
#define HDR PB__SLAB_ALIGN                        /* chunk and big headers */
#define MASK ((uintptr_t)PB__SLAB_CHUNK - 1)
#define SHIFT 21                                  /* log2(PB__SLAB_CHUNK) */
#define VA_BITS 48
#define LEAF_BITS 16
#define TOP_SLOTS ((size_t)1 << (VA_BITS - SHIFT - LEAF_BITS))
#define LEAF_WORDS (((size_t)1 << LEAF_BITS) / 64)

_Static_assert(PB__SLAB_CHUNK == (size_t)1 << SHIFT, "SHIFT is the chunk's");

/* A chunk's header, at its first byte. */
typedef struct chunk {
  uint64_t magic;            /* CHUNK_MAGIC while mapped */
  void *free;                /* freed blocks, linked through their first word */
  char *bump;                /* next block never handed out */
  char *end;                 /* end of the last whole block */
  struct chunk *next, *prev; /* the class's avail list */
  uint32_t live;             /* blocks handed out and not freed */
  uint16_t cls;              /* its class, fixed while mapped */
  uint8_t listed;            /* on the class's avail list */
  uint8_t advised;           /* marked MADV_HUGEPAGE */
} chunk;
_Static_assert(sizeof(chunk) <= HDR, "a chunk's header fits its 64 bytes");

/* A big block's header, in the 64 bytes in front of it. */
typedef struct big {
  uint64_t magic; /* BIG_MAGIC */
  size_t size;    /* usable bytes (a multiple of 64) */
} big;
_Static_assert(sizeof(big) <= HDR, "a big block's header fits 64 bytes");

typedef struct slab_class {
  _Alignas(64) pthread_mutex_t mu; /* guards everything below, and the
                                      headers of this class's chunks */
  size_t size;                     /* block size, a multiple of 64 */
  chunk *avail;                    /* chunks with a free and a live block */
  chunk *spare;                    /* an empty chunk kept, or NULL */
  chunk *plain;                    /* its chunk not marked, or NULL */
  size_t chunks;                   /* mapped, the spare included */
  size_t advised;                  /* of which marked */
  size_t blocks;                   /* live blocks */
} slab_class;

static slab_class g_class[PB__SLAB_CLASSES];
static pthread_once_t g_once = PTHREAD_ONCE_INIT;
static bool g_huge; /* mark chunks MADV_HUGEPAGE (set once) */

/* The registry: leaves of bits, one per 2 MiB region. */
static _Atomic(atomic_uint_fast64_t *) g_top[TOP_SLOTS];
static pthread_mutex_t g_leaf_mu = PTHREAD_MUTEX_INITIALIZER;

static atomic_uint g_fail = PB__SLAB_NEVER;
static atomic_uint_fast64_t g_maps, g_unmaps;
static atomic_size_t g_big_blocks, g_big_bytes;

/* --- size classes --- */

/* The class of a request of 1..PB__SLAB_MAX bytes. */
static unsigned class_of(size_t n) {
  assert(n >= 1 && n <= PB__SLAB_MAX);
  if (n <= 1024) return (unsigned)((n + 63) / 64 - 1);
  /* 2^k < n <= 2^(k+1), k in 10..15: 8 steps of 2^(k-3). */
  unsigned k = 63u - (unsigned)__builtin_clzll((unsigned long long)(n - 1));
  size_t step = (size_t)1 << (k - 3);
  size_t idx = (n - ((size_t)1 << k) + step - 1) / step; /* 1..8 */
  return 16u + (k - 10u) * 8u + (unsigned)(idx - 1);
}

static size_t class_size(unsigned cls) {
  if (cls < 16) return ((size_t)cls + 1) * 64;
  unsigned k = 10u + (cls - 16u) / 8u;
  size_t idx = (cls - 16u) % 8u + 1;
  return ((size_t)1 << k) + idx * ((size_t)1 << (k - 3));
}

static void init_once(void) {
  for (unsigned i = 0; i < PB__SLAB_CLASSES; i++) {
    (void)pthread_mutex_init(&g_class[i].mu, NULL);
    g_class[i].size = class_size(i);
    assert(g_class[i].size % PB__SLAB_ALIGN == 0);
    assert(i == 0 || g_class[i].size > g_class[i - 1].size);
  }
  assert(g_class[PB__SLAB_CLASSES - 1].size == PB__SLAB_MAX);
#ifdef MADV_HUGEPAGE
  const char *e = getenv("PB_NO_HUGEPAGES");
  g_huge = !(e && e[0] && strcmp(e, "0") != 0);
#else
  g_huge = false;
#endif
}

static void init(void) { (void)pthread_once(&g_once, init_once); }

size_t pb__slab_size_of(size_t n) {
  if (n == 0) n = 1;
  if (n <= PB__SLAB_MAX) return class_size(class_of(n));
  if (n > SIZE_MAX - PB__SLAB_ALIGN) return SIZE_MAX; /* never served */
  return (n + PB__SLAB_ALIGN - 1) & ~(PB__SLAB_ALIGN - 1);
}

bool pb__slab_hugepages(void) {
  init();
  return g_huge;
}

/* --- the registry --- */

static bool registered(uintptr_t c) {
  uintptr_t r = c >> SHIFT;
  if ((r >> LEAF_BITS) >= TOP_SLOTS) return false;
  atomic_uint_fast64_t *leaf =
      atomic_load_explicit(&g_top[r >> LEAF_BITS], memory_order_acquire);
  if (!leaf) return false;
  uintptr_t bit = r & (((uintptr_t)1 << LEAF_BITS) - 1);
  return (atomic_load_explicit(&leaf[bit / 64], memory_order_relaxed) >>
          (bit % 64)) & 1;
}

/* Sets or clears c's bit; false (ENOMEM) when a leaf cannot be mapped. */
static bool registry_mark(uintptr_t c, bool on) {
  uintptr_t r = c >> SHIFT;
  assert((r >> LEAF_BITS) < TOP_SLOTS);
  _Atomic(atomic_uint_fast64_t *) *slot = &g_top[r >> LEAF_BITS];
  atomic_uint_fast64_t *leaf = atomic_load_explicit(slot, memory_order_acquire);
  if (!leaf) {
    assert(on); /* a chunk's bit was set before it is cleared */
    pthread_mutex_lock(&g_leaf_mu);
    leaf = atomic_load_explicit(slot, memory_order_relaxed);
    if (!leaf) {
      void *m = mmap(NULL, LEAF_WORDS * sizeof *leaf, PROT_READ | PROT_WRITE,
                     MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
      if (m != MAP_FAILED) { /* zeroed: no bit set */
        leaf = m;
        atomic_store_explicit(slot, leaf, memory_order_release);
      }
    }
    pthread_mutex_unlock(&g_leaf_mu);
    if (!leaf) return false;
  }
  uintptr_t bit = r & (((uintptr_t)1 << LEAF_BITS) - 1);
  uint_fast64_t m = (uint_fast64_t)1 << (bit % 64);
  if (on)
    atomic_fetch_or_explicit(&leaf[bit / 64], m, memory_order_relaxed);
  else
    atomic_fetch_and_explicit(&leaf[bit / 64], ~m, memory_order_relaxed);
  return true;
}

/* --- chunks --- */

/* Marks a chunk MADV_HUGEPAGE; false if the system refuses (no THP). */
static bool advise_huge(void *c) {
#ifdef MADV_HUGEPAGE
  return madvise(c, PB__SLAB_CHUNK, MADV_HUGEPAGE) == 0;
#else
  (void)c;
  return false;
#endif
}

/* Maps a chunk for class cls, 2 MiB aligned: maps twice the size and
 * trims both ends.  Marked for huge pages (if `advise`) before anything
 * in it is touched.  NULL (ENOMEM) when the system refuses.  Under the
 * class's mutex. */
static chunk *chunk_map(unsigned cls, bool advise) {
  size_t len = 2 * PB__SLAB_CHUNK;
  char *m = mmap(NULL, len, PROT_READ | PROT_WRITE,
                 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (m == MAP_FAILED) return NULL;
  uintptr_t a = ((uintptr_t)m + MASK) & ~MASK;
  size_t head = (size_t)(a - (uintptr_t)m);
  size_t tail = len - head - PB__SLAB_CHUNK;
  if (head) (void)munmap(m, head);
  if (tail) (void)munmap((char *)a + PB__SLAB_CHUNK, tail);
  if ((a >> VA_BITS) != 0 || !registry_mark(a, true)) {
    /* Beyond the registry's addresses (never, with Linux's default
     * 47-bit user space), or no memory for a leaf. */
    (void)munmap((void *)a, PB__SLAB_CHUNK);
    return NULL;
  }
  bool advised = advise && advise_huge((void *)a);
  chunk *c = (chunk *)a; /* the first touch */
  size_t size = g_class[cls].size;
  size_t n = (PB__SLAB_CHUNK - HDR) / size;
  memset(c, 0, sizeof *c);
  c->magic = CHUNK_MAGIC;
  c->bump = (char *)a + HDR;
  c->end = c->bump + n * size;
  c->cls = (uint16_t)cls;
  c->advised = advised;
  POISON(c->bump, PB__SLAB_CHUNK - HDR);
  atomic_fetch_add_explicit(&g_maps, 1, memory_order_relaxed);
  return c;
}

/* Unmaps an empty chunk, off every list.  Not under any mutex. */
static void chunk_unmap(chunk *c) {
  assert(c->magic == CHUNK_MAGIC && c->live == 0 && !c->listed);
  c->magic = 0;
  (void)registry_mark((uintptr_t)c, false);
  UNPOISON(c, PB__SLAB_CHUNK); /* whoever maps here next starts clean */
  (void)munmap(c, PB__SLAB_CHUNK);
  atomic_fetch_add_explicit(&g_unmaps, 1, memory_order_relaxed);
}

static void avail_push(slab_class *k, chunk *c) {
  assert(!c->listed);
  c->prev = NULL;
  c->next = k->avail;
  if (k->avail) k->avail->prev = c;
  k->avail = c;
  c->listed = 1;
}

static void avail_remove(slab_class *k, chunk *c) {
  assert(c->listed);
  if (c->prev) c->prev->next = c->next;
  else k->avail = c->next;
  if (c->next) c->next->prev = c->prev;
  c->next = c->prev = NULL;
  c->listed = 0;
}

/* --- the failure hook --- */

void pb__slab_debug_fail_after(unsigned n) {
  atomic_store(&g_fail, n);
}

/* True when this call is the one to fail. */
static bool fail_now(void) {
  unsigned v = atomic_load_explicit(&g_fail, memory_order_relaxed);
  while (v != PB__SLAB_NEVER) {
    unsigned next = v == 0 ? PB__SLAB_NEVER : v - 1;
    if (atomic_compare_exchange_weak(&g_fail, &v, next)) return v == 0;
  }
  return false;
}

/* --- alloc and free --- */

static void *big_alloc(size_t n) {
  if (n > SIZE_MAX - 2 * PB__SLAB_ALIGN) {
    errno = ENOMEM;
    return NULL;
  }
  size_t size = (n + PB__SLAB_ALIGN - 1) & ~(PB__SLAB_ALIGN - 1);
  big *h = aligned_alloc(PB__SLAB_ALIGN, HDR + size);
  if (!h) {
    errno = ENOMEM;
    return NULL;
  }
  h->magic = BIG_MAGIC;
  h->size = size;
  atomic_fetch_add_explicit(&g_big_blocks, 1, memory_order_relaxed);
  atomic_fetch_add_explicit(&g_big_bytes, size, memory_order_relaxed);
  return (char *)h + HDR;
}

void *pb__slab_alloc(size_t n) {
  init();
  if (fail_now()) {
    errno = ENOMEM;
    return NULL;
  }
  if (n == 0) n = 1;
  if (n > PB__SLAB_MAX) return big_alloc(n);
  unsigned cls = class_of(n);
  slab_class *k = &g_class[cls];
  pthread_mutex_lock(&k->mu);
  chunk *c = k->avail;
  if (!c) {
    if (k->spare) {
      c = k->spare;
      k->spare = NULL;
    } else {
      /* A class's first chunk starts on small pages (slab.h, Memory). */
      bool want = g_huge && k->chunks > 0;
      c = chunk_map(cls, want);
      if (!c) {
        pthread_mutex_unlock(&k->mu);
        errno = ENOMEM;
        return NULL;
      }
      k->chunks++;
      k->advised += c->advised;
      if (g_huge && !want) {
        assert(!k->plain); /* it is one of the class's chunks: none */
        k->plain = c;
      } else if (c->advised && k->plain) {
        /* The class outgrew its first chunk: mark that one too, for the
         * kernel's khugepaged to collapse into a huge page later. */
        if (advise_huge(k->plain)) {
          k->plain->advised = 1;
          k->advised++;
        }
        k->plain = NULL;
      }
    }
    avail_push(k, c);
  }
  assert(c->magic == CHUNK_MAGIC && c->cls == cls);
  char *p;
  if (c->free) {
    p = c->free;
    UNPOISON(p, k->size);
    c->free = *(void **)p;
  } else {
    assert(c->bump < c->end);
    p = c->bump;
    UNPOISON(p, k->size);
    c->bump += k->size;
  }
  c->live++;
  k->blocks++;
  if (!c->free && c->bump == c->end) avail_remove(k, c); /* full */
  pthread_mutex_unlock(&k->mu);
  assert(((uintptr_t)p & (PB__SLAB_ALIGN - 1)) == 0);
  return p;
}

void pb__slab_free(void *p) {
  if (!p) return;
  assert(((uintptr_t)p & (PB__SLAB_ALIGN - 1)) == 0);
  uintptr_t a = (uintptr_t)p & ~MASK;
  if (!registered(a)) {
    big *h = (big *)((char *)p - HDR);
    assert(h->magic == BIG_MAGIC);
    atomic_fetch_sub_explicit(&g_big_blocks, 1, memory_order_relaxed);
    atomic_fetch_sub_explicit(&g_big_bytes, h->size, memory_order_relaxed);
    h->magic = 0;
    free(h);
    return;
  }
  chunk *c = (chunk *)a;
  assert(c->magic == CHUNK_MAGIC);
  slab_class *k = &g_class[c->cls];
  chunk *drop = NULL;
  pthread_mutex_lock(&k->mu);
  assert(c->live > 0);
  assert((char *)p >= (char *)c + HDR && (char *)p < c->bump);
  assert(((size_t)((char *)p - (char *)c) - HDR) % k->size == 0);
  *(void **)p = c->free;
  c->free = p;
  POISON(p, k->size);
  c->live--;
  k->blocks--;
  if (c->live == 0) {
    if (c->listed) avail_remove(k, c);
    if (!k->spare) {
      k->spare = c;
    } else {
      drop = c;
      k->chunks--;
      k->advised -= c->advised;
      if (k->plain == c) k->plain = NULL;
    }
  } else if (!c->listed) {
    avail_push(k, c); /* was full */
  }
  pthread_mutex_unlock(&k->mu);
  if (drop) chunk_unmap(drop);
}

size_t pb__slab_usable(const void *p) {
  assert(p);
  uintptr_t a = (uintptr_t)p & ~MASK;
  if (!registered(a)) {
    const big *h = (const big *)((const char *)p - HDR);
    assert(h->magic == BIG_MAGIC);
    return h->size;
  }
  const chunk *c = (const chunk *)a;
  assert(c->magic == CHUNK_MAGIC);
  return g_class[c->cls].size; /* fixed once the class is set up */
}

void pb__slab_stats_get(pb__slab_stats *st) {
  init();
  memset(st, 0, sizeof *st);
  for (unsigned i = 0; i < PB__SLAB_CLASSES; i++) {
    slab_class *k = &g_class[i];
    pthread_mutex_lock(&k->mu);
    st->chunks += k->chunks;
    st->spare_chunks += k->spare != NULL;
    st->advised_chunks += k->advised;
    st->blocks += k->blocks;
    st->block_bytes += k->blocks * k->size;
    pthread_mutex_unlock(&k->mu);
  }
  st->big_blocks = atomic_load(&g_big_blocks);
  st->big_bytes = atomic_load(&g_big_bytes);
  st->maps = atomic_load(&g_maps);
  st->unmaps = atomic_load(&g_unmaps);
}
