/*
 * util/slab.h - a size-class allocator over 2 MiB chunks that the kernel
 * can back with transparent huge pages: memory for objects that live long
 * and are read at random (the nodes the object cache holds).
 *
 * Why.  A warm point read through a large cache touches a few nodes
 * scattered over hundreds of megabytes.  With 4 KiB pages each one costs
 * a TLB miss and a page walk, as much as the rest of the read.  glibc can
 * back its heap with huge pages only when the process sets a tunable
 * (GLIBC_TUNABLES=glibc.malloc.hugetlb=1), which a library cannot do, and
 * madvise after malloc does not help: the heap grows by brk, and memory
 * already touched stays on small pages.  So this allocator maps its own
 * memory: 2 MiB chunks, 2 MiB aligned, marked MADV_HUGEPAGE before they
 * are first touched, so the first touch faults in one huge page (with the
 * system setting "madvise", the common default, exactly this is honoured).
 *
 * Layout.  A chunk serves one size class.  Its first 64 bytes are its
 * header (the class, a magic, a free list, a bump pointer, the count of
 * live blocks); the blocks follow, each a multiple of 64 bytes, so every
 * block is 64-byte aligned (cache lines).  The chunk of a block is
 * p & ~(2 MiB - 1).  Classes: 64-byte steps up to 1 KiB, then 8 classes
 * per power of two up to PB__SLAB_MAX (64 KiB): 64 classes, and a block
 * above 1 KiB wastes at most 1/8 of its size to rounding.  A request above
 * PB__SLAB_MAX goes to malloc (aligned_alloc) with a 64-byte header in
 * front; pb__slab_free tells the two apart by a registry of the chunks
 * mapped (one bit per 2 MiB of address space, in lazily mapped leaves),
 * never by reading memory in front of the block.
 *
 * Memory (RSS).  A huge page is faulted in whole: a class in use costs at
 * least 2 MiB.  To keep that off small users, a class's FIRST chunk is not
 * marked (it is faulted in 4 KiB pages, as it is used); a further chunk of
 * a class that already has one is marked before its first touch, and the
 * first one is then marked too (the kernel's khugepaged may collapse it
 * into a huge page later; the system setting "madvise" allows that).
 * Small users pay for what they touch; a class that needs more than 2 MiB
 * gets huge pages at once for all but its first 2 MiB.  A chunk whose last
 * block is freed is unmapped, except that each class keeps at most one
 * empty chunk (so a class hovering at a chunk's boundary does not map and
 * unmap on every call).  The environment variable PB_NO_HUGEPAGES=1 (any
 * value but empty or "0"; read once, at the first allocation) leaves every
 * chunk unmarked, for comparisons.
 *
 * Threads: every function may be called from any thread; a block may be
 * freed by a thread other than the one that allocated it.  One mutex per
 * class, taken for each allocation and free of that class; the big path
 * takes none.
 *
 * Sanitizers: under AddressSanitizer, blocks not allocated are poisoned,
 * so a use after pb__slab_free is reported as with malloc.
 */
#ifndef PB_UTIL_SLAB_H
#define PB_UTIL_SLAB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/** Bytes of a chunk (and its alignment). */
#define PB__SLAB_CHUNK ((size_t)2 << 20)
/** Largest request served from chunks; larger ones go to malloc. */
#define PB__SLAB_MAX ((size_t)64 << 10)
/** Alignment of every block, both paths. */
#define PB__SLAB_ALIGN ((size_t)64)
/** Number of size classes. */
#define PB__SLAB_CLASSES 64

/**
 * Allocates n bytes, 64-byte aligned (n == 0 is served as 1).  Returns
 * NULL with errno ENOMEM when the system has no memory for it (mmap or
 * malloc failed) or when a test's failure hook says so
 * (pb__slab_debug_fail_after).  n > PB__SLAB_MAX: through malloc.
 */
void *pb__slab_alloc(size_t n);

/** Frees a block from pb__slab_alloc (either path).  NULL: no-op. */
void pb__slab_free(void *p);

/** The bytes usable at p (its class's size, or the big block's rounded
 * size): at least what was asked; all of it may be written. */
size_t pb__slab_usable(const void *p);

/** The size a request of n bytes is served with (n <= PB__SLAB_MAX: its
 * class's size; larger: n rounded up to 64; SIZE_MAX if that overflows). */
size_t pb__slab_size_of(size_t n);

/** Counts, for tests and measurements: a consistent sum over the classes
 * (each class read under its mutex), the big path read with atomics. */
typedef struct pb__slab_stats {
  size_t chunks;         /* chunks mapped now, spares included */
  size_t spare_chunks;   /* of which empty, kept for their class */
  size_t advised_chunks; /* of which marked MADV_HUGEPAGE */
  size_t blocks;         /* live blocks in chunks */
  size_t block_bytes;    /* their sizes (class sizes) */
  size_t big_blocks;     /* live blocks through malloc */
  size_t big_bytes;      /* their rounded sizes, headers excluded */
  uint64_t maps;         /* chunks mapped since the process began */
  uint64_t unmaps;       /* chunks unmapped since the process began */
} pb__slab_stats;

/** Fills *st. */
void pb__slab_stats_get(pb__slab_stats *st);

/** Whether chunks are marked for huge pages (false when the environment
 * says PB_NO_HUGEPAGES=1 or the system has no MADV_HUGEPAGE). */
bool pb__slab_hugepages(void);

/**
 * Allocation failures on demand (tests): the next n calls of
 * pb__slab_alloc succeed as usual and the one after returns NULL (ENOMEM)
 * without changing anything; later calls succeed again.  Process-wide;
 * pb__slab_debug_fail_after(PB__SLAB_NEVER) turns it off.
 */
void pb__slab_debug_fail_after(unsigned n);
#define PB__SLAB_NEVER 0xffffffffu

#endif /* PB_UTIL_SLAB_H */
