/*
 * bench_codec.c - encode and decode cost of one ~100-byte record, for
 * ProtoBase's generated code and, when it was found at configure time, for
 * protobuf-c on the same message (bench.pbs, bench.proto).
 *
 *   bench_codec [--ops N] [--runs K]
 *
 * Workload: 1024 distinct records with the same shape (a 6-byte varint id,
 * three small signed ints, a 36-character name, two float64, a bool and 24
 * bytes: 99 bytes encoded), cycled through so that the numbers are not
 * those of one record in the L1 cache.  Each run does N operations
 * (default 1,000,000); the figure is the median ns/op over K runs (default
 * 7), after one warm-up run.  The runs of every measurement are
 * interleaved (round i runs each one once), so the two sides of a ratio
 * see the same machine.  Time is CLOCK_MONOTONIC around the whole loop.
 * Every result feeds a checksum that is printed, so the compiler cannot
 * drop the work.
 *
 *   encode     ProtoBase: pb_buf_reset, then R_encode into the same buffer
 *              (its storage is reused, so no allocation after the first);
 *              protobuf-c: R__pack into a large-enough buffer, without
 *              get_packed_size (its fastest path).
 *   decode     ProtoBase: R_decode, zero-copy (strings and bytes are views
 *              into the input); protobuf-c: R__unpack with the default
 *              allocator (it copies strings and bytes) and
 *              R__free_unpacked, since a program must free what it unpacks.
 *   verify     ProtoBase only: R_verify, the bounds and UTF-8 checks of
 *              hostile input without decoding.
 *
 * The ratio column is protobuf-c time / ProtoBase time: above 1, ProtoBase
 * is faster.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bench.pb.h"
#ifdef PB_BENCH_PROTOBUF_C
#include "bench.pb-c.h"
#endif

#define NRECORDS 1024 /* a power of two: i & (NRECORDS - 1) picks one */
#define NAME_LEN 36   /* characters in `name` */
#define BLOB_LEN 24   /* bytes in `blob`; with NAME_LEN, ~100 bytes encoded */
#define MAX_RUNS 101

static volatile uint64_t sink; /* where every checksum ends */

typedef struct sample {
  char name[NAME_LEN + 1]; /* NUL-terminated */
  uint8_t blob[BLOB_LEN];  /* the bytes field */
  bench_Row row;     /* views into name and blob */
} sample;

static sample samples[NRECORDS];

/* The encodings of samples[], back to back, for the decode loops. */
typedef struct encoded {
  uint8_t *data;                 /* all encodings */
  size_t off[NRECORDS];          /* where each starts */
  size_t len[NRECORDS];          /* its length */
} encoded;

static uint64_t rng = 0x9e3779b97f4a7c15ull;
static uint64_t rnd(void) {
  rng ^= rng >> 12;
  rng ^= rng << 25;
  rng ^= rng >> 27;
  return rng * 0x2545f4914f6cdd1dull;
}

static void make_samples(void) {
  static const char *const words[] = {"alpha", "bravo", "charlie", "delta",
                                      "echo",  "foxtrot", "golf", "hotel"};
  for (int i = 0; i < NRECORDS; i++) {
    sample *s = &samples[i];
    char text[64];
    snprintf(text, sizeof text, "%s-%s-%s-%08d-padding-padding",
             words[rnd() % 8], words[rnd() % 8], words[rnd() % 8], i);
    memcpy(s->name, text, NAME_LEN); /* the text is longer than NAME_LEN */
    s->name[NAME_LEN] = '\0';
    for (int k = 0; k < BLOB_LEN; k++)
      s->blob[k] = (uint8_t)rnd();
    bench_Row *r = &s->row;
    bench_Row_init(r);
    r->id = 1000000000000ull + (uint64_t)i * 7919u; /* 6-byte varint */
    r->a = (int32_t)(rnd() % 2000) - 1000;
    r->b = (int32_t)(rnd() % 200000) - 100000;
    r->c = (int32_t)(rnd() % 100);
    r->name = pb_str_from_cstr(s->name);
    r->x = (double)(rnd() % 1000000) / 1000.0;
    r->y = -(double)(rnd() % 1000000) / 7.0;
    r->flag = (rnd() & 1) != 0;
    r->blob = (pb_bytes){s->blob, sizeof s->blob};
  }
}

static double now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

/* One timed loop: returns ns per op. */
typedef double (*bench_fn)(long ops);

/* A measurement: a loop, and its ns/op in each run. */
typedef struct bench_case {
  const char *name;     /* what it measures */
  bench_fn fn;          /* the loop */
  double t[MAX_RUNS];   /* ns/op of each run */
} bench_case;

/*
 * Runs every case once to warm up, then `runs` rounds in which each case
 * runs once, in turn: ProtoBase and protobuf-c share every round, so a
 * burst of load from another process hits both sides of a ratio alike.
 */
static void run_cases(bench_case *cases, int ncases, long ops, int runs) {
  for (int c = 0; c < ncases; c++)
    cases[c].fn(ops / 10 + 1);
  for (int i = 0; i < runs; i++)
    for (int c = 0; c < ncases; c++)
      cases[c].t[i] = cases[c].fn(ops);
}

static double median_of(bench_case *c, int runs) {
  qsort(c->t, (size_t)runs, sizeof *c->t, cmp_double);
  return c->t[runs / 2];
}

static void die(const char *what, int rc) {
  fprintf(stderr, "bench_codec: %s failed (%d)\n", what, rc);
  exit(1);
}

/* --- ProtoBase --- */

static encoded pb_enc;
static pb_arena *pb_decode_arena;

static void pb_prepare(void) {
  pb_buf b;
  pb_buf_init(&b);
  for (int i = 0; i < NRECORDS; i++) {
    pb_enc.off[i] = b.len;
    int rc = bench_Row_encode(&samples[i].row, &b);
    if (rc != PB_OK)
      die("bench_Row_encode", rc);
    pb_enc.len[i] = b.len - pb_enc.off[i];
  }
  pb_enc.data = b.data; /* kept until exit */
  int rc = pb_arena_create(&pb_decode_arena);
  if (rc != PB_OK)
    die("pb_arena_create", rc);
}

static double pb_encode_loop(long ops) {
  pb_buf b;
  pb_buf_init(&b);
  uint64_t sum = 0;
  double t0 = now_ns();
  for (long i = 0; i < ops; i++) {
    pb_buf_reset(&b);
    int rc = bench_Row_encode(&samples[i & (NRECORDS - 1)].row, &b);
    sum += (uint64_t)rc + b.len + b.data[b.len - 1];
  }
  double t1 = now_ns();
  sink += sum;
  pb_buf_free(&b);
  return (t1 - t0) / (double)ops;
}

static double pb_decode_loop(long ops) {
  uint64_t sum = 0;
  double t0 = now_ns();
  for (long i = 0; i < ops; i++) {
    size_t k = (size_t)i & (NRECORDS - 1);
    bench_Row r;
    int rc = bench_Row_decode(&r, pb_enc.data + pb_enc.off[k], pb_enc.len[k],
                              pb_decode_arena);
    sum += (uint64_t)rc + r.id + r.name.len + (uint64_t)r.a + r.blob.len;
  }
  double t1 = now_ns();
  sink += sum;
  pb_arena_reset(pb_decode_arena);
  return (t1 - t0) / (double)ops;
}

static double pb_verify_loop(long ops) {
  uint64_t sum = 0;
  double t0 = now_ns();
  for (long i = 0; i < ops; i++) {
    size_t k = (size_t)i & (NRECORDS - 1);
    pb_verify_error err;
    int rc = bench_Row_verify(pb_enc.data + pb_enc.off[k], pb_enc.len[k],
                              &err);
    sum += (uint64_t)rc + 1;
  }
  double t1 = now_ns();
  sink += sum;
  return (t1 - t0) / (double)ops;
}

/* --- protobuf-c --- */

#ifdef PB_BENCH_PROTOBUF_C
static Bench__Row pc_msgs[NRECORDS];
static encoded pc_enc;

static void pc_prepare(void) {
  size_t total = 0;
  for (int i = 0; i < NRECORDS; i++) {
    const bench_Row *r = &samples[i].row;
    Bench__Row *m = &pc_msgs[i];
    bench__row__init(m);
    m->id = r->id;
    m->a = r->a;
    m->b = r->b;
    m->c = r->c;
    m->name = samples[i].name;
    m->x = r->x;
    m->y = r->y;
    m->flag = r->flag;
    m->blob.len = r->blob.len;
    m->blob.data = samples[i].blob;
    total += bench__row__get_packed_size(m);
  }
  pc_enc.data = malloc(total);
  if (!pc_enc.data)
    die("malloc", 0);
  size_t at = 0;
  for (int i = 0; i < NRECORDS; i++) {
    pc_enc.off[i] = at;
    pc_enc.len[i] = bench__row__pack(&pc_msgs[i], pc_enc.data + at);
    at += pc_enc.len[i];
  }
}

static double pc_encode_loop(long ops) {
  uint8_t buf[256]; /* more than any Row packs to */
  uint64_t sum = 0;
  double t0 = now_ns();
  for (long i = 0; i < ops; i++) {
    size_t n = bench__row__pack(&pc_msgs[i & (NRECORDS - 1)], buf);
    sum += n + buf[n - 1];
  }
  double t1 = now_ns();
  sink += sum;
  return (t1 - t0) / (double)ops;
}

static double pc_decode_loop(long ops) {
  uint64_t sum = 0;
  double t0 = now_ns();
  for (long i = 0; i < ops; i++) {
    size_t k = (size_t)i & (NRECORDS - 1);
    Bench__Row *m =
        bench__row__unpack(NULL, pc_enc.len[k], pc_enc.data + pc_enc.off[k]);
    if (!m)
      die("bench__row__unpack", 0);
    sum += m->id + (uint64_t)m->a + m->blob.len + (uint8_t)m->name[0];
    bench__row__free_unpacked(m, NULL);
  }
  double t1 = now_ns();
  sink += sum;
  return (t1 - t0) / (double)ops;
}
#endif

static void print_row(const char *op, double pb, double pc) {
  if (pc > 0)
    printf("| %-6s | %15.1f | %16.1f | %22.2f |\n", op, pb, pc, pc / pb);
  else
    printf("| %-6s | %15.1f | %16s | %22s |\n", op, pb, "-", "-");
}

int main(int argc, char **argv) {
  long ops = 1000000;
  int runs = 7;
  for (int i = 1; i < argc; i++) {
    if (strcmp(argv[i], "--ops") == 0 && i + 1 < argc)
      ops = atol(argv[++i]);
    else if (strcmp(argv[i], "--runs") == 0 && i + 1 < argc)
      runs = atoi(argv[++i]);
    else {
      fputs("usage: bench_codec [--ops N] [--runs K]\n", stderr);
      return 2;
    }
  }
  if (ops < 1 || runs < 1 || runs > MAX_RUNS) {
    fputs("bench_codec: bad --ops or --runs\n", stderr);
    return 2;
  }
  make_samples();
  pb_prepare();
  size_t pb_bytes_total = 0;
  for (int i = 0; i < NRECORDS; i++)
    pb_bytes_total += pb_enc.len[i];

  bench_case cases[5];
  int ncases = 0;
  cases[ncases++] = (bench_case){.name = "encode", .fn = pb_encode_loop};
  cases[ncases++] = (bench_case){.name = "decode", .fn = pb_decode_loop};
  cases[ncases++] = (bench_case){.name = "verify", .fn = pb_verify_loop};
#ifdef PB_BENCH_PROTOBUF_C
  pc_prepare();
  size_t pc_bytes_total = 0;
  for (int i = 0; i < NRECORDS; i++)
    pc_bytes_total += pc_enc.len[i];
  int pc_first = ncases;
  cases[ncases++] = (bench_case){.name = "pc encode", .fn = pc_encode_loop};
  cases[ncases++] = (bench_case){.name = "pc decode", .fn = pc_decode_loop};
#endif
  run_cases(cases, ncases, ops, runs);
  double pb_e = median_of(&cases[0], runs);
  double pb_d = median_of(&cases[1], runs);
  double pb_v = median_of(&cases[2], runs);
  double pc_e = -1, pc_d = -1;
#ifdef PB_BENCH_PROTOBUF_C
  pc_e = median_of(&cases[pc_first], runs);
  pc_d = median_of(&cases[pc_first + 1], runs);
#endif

  printf("bench_codec: one record of bench/bench.pbs, %ld ops per run, "
         "median of %d runs\n", ops, runs);
  printf("encoded size: ProtoBase %.1f bytes",
         (double)pb_bytes_total / NRECORDS);
#ifdef PB_BENCH_PROTOBUF_C
  printf(", protobuf-c %.1f bytes (%s)\n", (double)pc_bytes_total / NRECORDS,
         protobuf_c_version());
#else
  printf("; protobuf-c: not built (needs protoc-c and libprotobuf-c: "
         "apt-get install protobuf-c-compiler libprotobuf-c-dev)\n");
#endif
  printf("\n| op     | ProtoBase ns/op | protobuf-c ns/op "
         "| protobuf-c / ProtoBase |\n");
  printf("|--------|-----------------|------------------"
         "|------------------------|\n");
  print_row("encode", pb_e, pc_e);
  print_row("decode", pb_d, pc_d);
  print_row("verify", pb_v, -1);
  printf("\nchecksum: %llu\n", (unsigned long long)sink);
  return 0;
}
