/*
 * test_autocompact_disk.c - the acceptance workload of automatic
 * compaction (label slow): on the defaults (file tier, PB_DURABILITY_SYNC,
 * one thread, pb_file_options_init), 50,000 records loaded in commits of
 * 1,000, then 200,000 single-record updates, one commit each, and never a
 * compaction call.  At the end the disk use stays within 2x the live data,
 * the live data being what a final explicit compaction copies
 * (pb_compact_stats.atom_bytes); and every record holds its last value.
 *
 *   test_autocompact_disk [UPDATES]   (default 200000)
 *
 * Disk use is measured twice: the segment files right after the last
 * commit returns (an automatic compaction may be running then: its
 * scratch file compact.tmp, which close removes, is left out), and every
 * file of the directory after close.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "protobase/protobase.h"
#include "test_util.h"

#define N 50000u
#define VAL_LEN 100u

static uint64_t g_updates = 200000;
static uint32_t g_round[N];

static uint64_t mix(uint64_t x) {
  x += 0x9e3779b97f4a7c15ull;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
  return x ^ (x >> 31);
}

static void key_of(uint32_t k, char out[16]) {
  char b[24];
  snprintf(b, sizeof b, "r%015u", k);
  memcpy(out, b, 16);
}

static void val_of(uint32_t k, uint32_t round, uint8_t v[VAL_LEN]) {
  for (unsigned i = 0; i < VAL_LEN; i++)
    v[i] = (uint8_t)mix(((uint64_t)k << 32) ^ ((uint64_t)round << 8) ^ i);
}

typedef struct put_arg {
  uint32_t first, count;
} put_arg;

static int put_fn(pb_txn *txn, void *arg) {
  put_arg *a = arg;
  pb_dict *d;
  int rc = pb_txn_open_dict(txn, "records", PB_CREATE, &d);
  for (uint32_t i = 0; rc == PB_OK && i < a->count; i++) {
    uint32_t k = a->first + i;
    char key[16];
    uint8_t v[VAL_LEN];
    key_of(k, key);
    val_of(k, g_round[k] + 1, v);
    pb_value val = {.kind = PB_VALUE_BYTES, .as.bytes = {v, VAL_LEN}};
    rc = pb_dict_put(d, (pb_str){key, 16}, &val);
  }
  return rc;
}

static void put(pb_db *db, uint32_t first, uint32_t count) {
  put_arg a = {first, count};
  assert_int_equal(pb_txn_run(db, put_fn, &a, PB_TXN_RUN_RETRIES), PB_OK);
  for (uint32_t i = 0; i < count; i++) g_round[first + i]++;
}

/* Bytes of the files of `dir`: segments only, or every file. */
static uint64_t dir_bytes(const char *dir, bool segments_only) {
  DIR *d = opendir(dir);
  assert_non_null(d);
  uint64_t total = 0;
  struct dirent *e;
  while ((e = readdir(d)) != NULL) {
    if (segments_only && strncmp(e->d_name, "seg-", 4) != 0) continue;
    char path[4200];
    snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
    struct stat sb;
    if (stat(path, &sb) == 0 && S_ISREG(sb.st_mode))
      total += (uint64_t)sb.st_size;
  }
  closedir(d);
  return total;
}

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void steady_updates_stay_within_2x(void **state) {
  (void)state;
  char *dir = pb_test_tmpdir();
  pb_storage *st;
  pb_space *sp;
  pb_db *db;
  assert_int_equal(pb_storage_open_file(dir, NULL, &st), PB_OK); /* defaults */
  assert_int_equal(pb_space_open(st, &sp), PB_OK);
  assert_int_equal(pb_db_open(sp, "main", PB_CREATE, &db), PB_OK);
  for (uint32_t i = 0; i < N; i += 1000) put(db, i, 1000);
  double t0 = now_s();
  uint64_t peak = 0;
  for (uint64_t u = 0; u < g_updates; u++) {
    put(db, (uint32_t)(mix(u) % N), 1);
    if (u % 10000 == 9999) {
      uint64_t b = dir_bytes(dir, true);
      if (b > peak) peak = b;
    }
  }
  double took = now_s() - t0;
  uint64_t at_end = dir_bytes(dir, true);
  pb_disk_usage du;
  assert_int_equal(pb_storage_disk_usage(st, &du), PB_OK);
  pb_db_close(db);
  assert_int_equal(pb_space_close(sp), PB_OK);
  uint64_t closed = dir_bytes(dir, false);

  /* The live data: what a final explicit compaction copies. */
  assert_int_equal(pb_storage_open_file(dir, NULL, &st), PB_OK);
  assert_int_equal(pb_space_open(st, &sp), PB_OK);
  pb_compact_stats cs;
  assert_int_equal(pb_storage_compact(st, &cs), PB_OK);
  uint64_t live = cs.atom_bytes;
  assert_int_equal(pb_db_open(sp, "main", 0, &db), PB_OK);
  pb_txn *t;
  assert_int_equal(pb_txn_begin(db, PB_RDONLY, &t), PB_OK);
  pb_dict *d;
  assert_int_equal(pb_txn_open_dict(t, "records", 0, &d), PB_OK);
  for (uint32_t k = 0; k < N; k++) {
    char key[16];
    uint8_t want[VAL_LEN];
    key_of(k, key);
    val_of(k, g_round[k], want);
    pb_value v;
    assert_int_equal(pb_dict_get(d, (pb_str){key, 16}, &v), PB_OK);
    assert_int_equal(v.as.bytes.len, VAL_LEN);
    assert_memory_equal(v.as.bytes.ptr, want, VAL_LEN);
  }
  pb_txn_abort(t);
  pb_db_close(db);
  assert_int_equal(pb_space_close(sp), PB_OK);

  print_message("%" PRIu64 " updates in %.1f s (%.0f commits/s), %" PRIu64
                " automatic compactions (%.2f s), %" PRIu64 " failed\n",
                g_updates, took, (double)g_updates / took, du.auto_runs,
                (double)du.auto_ns / 1e9, du.auto_failed);
  print_message("live %.2f MB; segments at the end %.2f MB (%.2fx), after "
                "close %.2f MB (%.2fx); largest sample %.2f MB (%.2fx)\n",
                live / 1e6, at_end / 1e6, (double)at_end / (double)live,
                closed / 1e6, (double)closed / (double)live, peak / 1e6,
                (double)peak / (double)live);
  assert_int_equal(du.auto_failed, 0);
  assert_true(du.auto_runs > 0);
  assert_true(at_end < 2 * live);
  assert_true(closed < 2 * live);
  pb_test_rmdir(dir);
}

int main(int argc, char **argv) {
  if (argc > 1) g_updates = strtoull(argv[1], NULL, 10);
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(steady_updates_stay_within_2x),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
