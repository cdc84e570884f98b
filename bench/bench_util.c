/*
 * bench_util.c - the helpers of bench_util.h: the clock, splitmix64, the
 * shuffle, the data directory (choice, fresh subdirectories, bytes on disk,
 * file system type).
 *
 * The directory code uses nftw to empty a subdirectory and statfs to name
 * the file system; both are Linux/glibc, as the benchmarks are.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "bench_util.h"

#include <dirent.h>
#include <errno.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <time.h>
#include <unistd.h>

const char *bench_dir;
static const char *g_prog = "bench";

double bench_now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

uint64_t bench_mix(uint64_t x) { /* splitmix64 */
  x += 0x9e3779b97f4a7c15ull;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
  return x ^ (x >> 31);
}

uint64_t *bench_shuffled(uint64_t n, uint64_t seed) {
  uint64_t *p = malloc((n ? n : 1) * sizeof *p);
  if (!p) bench_die("malloc", strerror(errno));
  for (uint64_t i = 0; i < n; i++) p[i] = i;
  uint64_t s = seed;
  for (uint64_t i = n ? n - 1 : 0; i > 0; i--) {
    s = bench_mix(s);
    uint64_t j = s % (i + 1);
    uint64_t t = p[i]; p[i] = p[j]; p[j] = t;
  }
  return p;
}

_Noreturn void bench_die(const char *what, const char *detail) {
  fprintf(stderr, "%s: %s: %s\n", g_prog, what, detail);
  exit(1);
}

/* --- directories --- */

static int rm_entry(const char *path, const struct stat *sb, int flag,
                    struct FTW *ftw) {
  (void)sb; (void)flag; (void)ftw;
  return remove(path);
}

void bench_mkdir_p(const char *path) {
  char buf[4096];
  snprintf(buf, sizeof buf, "%s", path);
  for (char *p = buf + 1; *p; p++) {
    if (*p != '/') continue;
    *p = 0;
    mkdir(buf, 0755);
    *p = '/';
  }
  if (mkdir(buf, 0755) != 0 && errno != EEXIST)
    bench_die(path, strerror(errno));
}

void bench_set_dir(const char *prog, const char *opt) {
  g_prog = prog;
  bench_dir = opt && *opt ? opt : getenv("PB_BENCH_DIR");
  if (!bench_dir || !*bench_dir) bench_dir = "build-bench/data";
  bench_mkdir_p(bench_dir);
}

char *bench_fresh_dir(const char *name) {
  char *p = NULL;
  if (asprintf(&p, "%s/%s", bench_dir, name) < 0)
    bench_die("asprintf", "no memory");
  nftw(p, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
  bench_mkdir_p(p);
  return p;
}

uint64_t bench_disk_bytes(const char *dir) {
  DIR *d = opendir(dir);
  if (!d) return 0;
  uint64_t total = 0;
  struct dirent *e;
  while ((e = readdir(d))) {
    char p[4096];
    struct stat sb;
    snprintf(p, sizeof p, "%s/%s", dir, e->d_name);
    if (lstat(p, &sb) == 0 && S_ISREG(sb.st_mode))
      total += (uint64_t)sb.st_blocks * 512;
  }
  closedir(d);
  return total;
}

const char *bench_fs_name(long type, int *is_tmpfs) {
  *is_tmpfs = 0;
  switch ((unsigned long)type) {
  case 0xEF53: return "ext2/3/4";
  case 0x58465342: return "xfs";
  case 0x9123683E: return "btrfs";
  case 0x01021994: *is_tmpfs = 1; return "tmpfs";
  case 0x858458f6: *is_tmpfs = 1; return "ramfs";
  case 0x794c7630: return "overlayfs";
  case 0x2fc12fc1: return "zfs";
  case 0x6969: return "nfs";
  case 0xF2F52010: return "f2fs";
  case 0x65735546: return "fuse";
  default: return "unknown";
  }
}

void bench_print_machine(void) {
  struct statfs sfs;
  memset(&sfs, 0, sizeof sfs);
  int tmpfs = 0;
  const char *fst = "?";
  if (statfs(bench_dir, &sfs) == 0)
    fst = bench_fs_name((long)sfs.f_type, &tmpfs);
  char real[4096];
  if (!realpath(bench_dir, real)) snprintf(real, sizeof real, "%s", bench_dir);
  printf("machine: %ld cores; data dir %s on %s (statfs type 0x%lx)\n",
         sysconf(_SC_NPROCESSORS_ONLN), real, fst,
         (unsigned long)sfs.f_type);
  if (tmpfs)
    printf("WARNING: %s is in memory (tmpfs): fdatasync costs nothing there, "
           "so durable-commit figures mean nothing; use --dir or "
           "$PB_BENCH_DIR on a real disk\n", real);
}
