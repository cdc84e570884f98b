/*
 * bench_util.h - what the storage benchmarks share: a clock, a mixer, the
 * data directory and its file system, and exiting on a failed engine.
 *
 * The data directory is chosen once by bench_set_dir: --dir, else
 * $PB_BENCH_DIR, else build-bench/data (relative to the working directory;
 * scripts/bench runs from the repository root, so on the repository's disk,
 * never /tmp).  Each engine and workload gets a fresh subdirectory of it
 * (bench_fresh_dir).  bench_print_machine prints the cores and the file
 * system of the directory, and warns on tmpfs, where fdatasync costs nothing.
 *
 * Nothing here is timed work: these helpers run around the measurements.
 */
#ifndef PB_BENCH_UTIL_H
#define PB_BENCH_UTIL_H

#include <stdint.h>

/* The data directory, set by bench_set_dir. */
extern const char *bench_dir;

/* CLOCK_MONOTONIC in seconds. */
double bench_now(void);

/* splitmix64's output function: a fixed, well-mixed hash of x. */
uint64_t bench_mix(uint64_t x);

/* A malloc'd shuffle of 0..n-1 (Fisher-Yates driven by bench_mix from
 * `seed`): the same permutation in every run with the same seed. */
uint64_t *bench_shuffled(uint64_t n, uint64_t seed);

/* Prints "PROG: what: detail" to stderr and exits 1.  PROG is the name
 * given to bench_set_dir. */
_Noreturn void bench_die(const char *what, const char *detail);

/* Names the program (for bench_die) and picks the data directory: `opt`
 * (from --dir) when not NULL or empty, else $PB_BENCH_DIR, else
 * build-bench/data; creates it. */
void bench_set_dir(const char *prog, const char *opt);

/* mkdir -p; dies on failure. */
void bench_mkdir_p(const char *path);

/* Empties (removes and recreates) bench_dir/name and returns its malloc'd
 * path. */
char *bench_fresh_dir(const char *name);

/* Bytes on disk of the regular files in dir (not recursive), as du counts
 * them (st_blocks). */
uint64_t bench_disk_bytes(const char *dir);

/* The name of a statfs f_type; *is_tmpfs tells whether it lives in memory. */
const char *bench_fs_name(long type, int *is_tmpfs);

/* Prints "machine: N cores; data dir PATH on FS (statfs type 0x..)", and a
 * warning when bench_dir is in memory. */
void bench_print_machine(void);

#endif /* PB_BENCH_UTIL_H */
