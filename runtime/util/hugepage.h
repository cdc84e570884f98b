/*
 * util/hugepage.h - asking the kernel for transparent huge pages under
 * memory that is read at random and lives long: the nodes the object
 * cache holds.
 *
 * A point read through a large cache touches a few nodes scattered over
 * hundreds of megabytes; with 4 KiB pages each one costs a TLB miss and a
 * page walk, as much as the rest of the read.  pb__hugepage_advise(p, n)
 * marks the 2 MiB regions under [p, p + n) MADV_HUGEPAGE (once per
 * region: a small table remembers the regions it marked), so the kernel
 * backs them with huge pages where it can (the system setting
 * "madvise", Debian's default, honours exactly this).  It is a hint:
 * failures are ignored, and memory is never moved.
 *
 * Threads: any; the table is atomics (a region marked twice costs one
 * more system call, nothing else).
 */
#ifndef PB_UTIL_HUGEPAGE_H
#define PB_UTIL_HUGEPAGE_H

#include <stdbool.h>
#include <stddef.h>

/** Marks the 2 MiB regions under [p, p + n) for huge pages, best effort. */
void pb__hugepage_advise(const void *p, size_t n);

/** Whether pb__hugepage_advise does anything (default true; the
 * environment variable PB_NO_HUGEPAGES=1 turns it off, for comparisons). */
extern bool pb__hugepage_on;

#endif /* PB_UTIL_HUGEPAGE_H */
