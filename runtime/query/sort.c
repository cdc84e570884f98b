/*
 * query/sort.c - OrderBy (stable; a top-N heap under a limit; external
 * beyond the memory budget) and Distinct.
 *
 * ORDER.  Rows compare by their keys in turn (pb__qval_cmp: NULL first,
 * numbers by value; PB_DESC reverses one key, so NULLs come last there, as
 * in SQLite), then by their arrival number: every row gets one (pb__hrow's
 * seq), so the order is total and a sort is stable whatever algorithm runs
 * it.  Key values are computed once per row, when it arrives, and held
 * with it (the held row's vals), so a C callback in a key runs once per
 * row.
 *
 * IN MEMORY.  At its first next, OrderBy pulls its whole input into held
 * rows (rowbuf.c) and sorts the pointers with a merge sort.  Under a limit
 * (pb__sort_set_limit, set by the optimizer for Limit over OrderBy) it
 * keeps only the best `limit` rows in a max-heap: a row that is not before
 * the heap's top is never held (a later row with equal keys loses, which is
 * what keeps the top-N stable), and the heap is sorted at the end.
 *
 * EXTERNAL.  When the rows held pass the plan's memory budget, they are
 * sorted and written to a temporary file (a RUN) and freed, and reading
 * goes on; a top-N heap that passes the budget does the same and the sort
 * goes on without a heap (its limit still cuts the output).  At the end the
 * last rows are written as a run too; runs are merged FANIN at a time into
 * longer runs until at most FANIN remain, and those are merged as rows are
 * pulled.  A run is a sequence of rows, each
 *   u32 length | u64 seq | the key values | per source: u8 present,
 *   u64 id, u32 n, the record encoded by def->encode | the column values
 * with values as u8 type and a payload (u8 bool; 8 bytes for INT, UINT and
 * FLOAT; u32 n and the bytes for STR and BYTES), all little-endian.  A row
 * read back is decoded with def->decode into a struct the node owns, its
 * views pointing into the run's read buffer and its arrays into the node's
 * arena: they live until the next call (pb__sort_transient tells the nodes
 * above, which then copy deep what they hold).  Memory beyond the budget:
 * one write buffer and FANIN read buffers of RUN_BUF bytes.
 *
 * THE FILES go through the I/O layer (io/io.h): when the transaction's
 * storage is a writable file storage, its own layer and its directory (the
 * database directory, which the storage lists only for its segment files);
 * else the POSIX layer in $TMPDIR, or /tmp.  They are named pbsort-<pid>-<n>.tmp,
 * created exclusively, and removed when the plan is freed (also after an
 * error); merged runs are removed as soon as they are merged.  A process
 * that dies while sorting leaves its files behind (they are never read
 * again and may be deleted).  A write error (PB_ENOSPC, PB_EIO) stops the
 * plan with that error; the detail names the file.
 *
 * DISTINCT streams: a row is passed on unless an equal one was passed
 * before; the rows seen are remembered by a canonical encoding of their
 * identity (each source's encoded primary key, or its id in a keyless
 * table, and each column's value), in a hash table counted in the budget.
 */
#include <assert.h>
#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "io/io.h"
#include "query/query_int.h"
#include "storage/file.h"
#include "txn/space.h"
#include "txn/txn_int.h"
#include "util/errdetail.h"

#define FANIN 16u               /* runs merged at once */
#define RUN_BUF (16u << 10)     /* a run's read buffer, at least */
#define WRITE_BUF (64u << 10)   /* bytes gathered before a pwrite */

/* --- Comparing rows --- */

static int cmp_keys(const pb_sort_key *keys, size_t n, const pb_qval *a,
                    uint64_t aseq, const pb_qval *b, uint64_t bseq) {
  for (size_t i = 0; i < n; i++) {
    int c = pb__qval_cmp(&a[i], &b[i]);
    if (c != 0) return keys[i].dir == PB_DESC ? -c : c;
  }
  return (aseq > bseq) - (aseq < bseq);
}

static int cmp_hrow(const pb_sort_key *keys, size_t n, const pb__hrow *a,
                    const pb__hrow *b) {
  return cmp_keys(keys, n, a->vals, a->seq, b->vals, b->seq);
}

/* Merge sort of row pointers (tmp: room for n). */
static void sort_rows(const pb_sort_key *keys, size_t nk, pb__hrow **v,
                      pb__hrow **tmp, size_t n) {
  if (n < 2) return;
  if (n <= 8) { /* insertion sort */
    for (size_t i = 1; i < n; i++) {
      pb__hrow *x = v[i];
      size_t j = i;
      while (j > 0 && cmp_hrow(keys, nk, v[j - 1], x) > 0) {
        v[j] = v[j - 1];
        j--;
      }
      v[j] = x;
    }
    return;
  }
  size_t h = n / 2;
  sort_rows(keys, nk, v, tmp, h);
  sort_rows(keys, nk, v + h, tmp, n - h);
  if (cmp_hrow(keys, nk, v[h - 1], v[h]) <= 0) return;
  memcpy(tmp, v, n * sizeof *v);
  size_t i = 0, j = h, k = 0;
  while (i < h && j < n)
    v[k++] = cmp_hrow(keys, nk, tmp[j], tmp[i]) < 0 ? tmp[j++] : tmp[i++];
  while (i < h) v[k++] = tmp[i++];
  while (j < n) v[k++] = tmp[j++];
}

/* --- Runs --- */

typedef struct run {
  char *path;    /* owned; NULL once removed */
  pb__file *f;   /* open for writing, then reading; NULL when closed */
  uint64_t size; /* bytes written */
} run;

/* A run being read. */
typedef struct rcur {
  run *r;
  uint64_t off;      /* the next byte of the file to read into buf */
  uint8_t *buf;      /* read buffer */
  size_t cap, pos, len; /* unread bytes: buf[pos, len) */
  const uint8_t *row; /* the current row's bytes (after its length) */
  size_t row_len;
  uint64_t seq;   /* the current row's */
  pb_qval *keys;  /* its key values (views into buf) */
  const uint8_t *rest; /* its bytes after the keys */
  bool done;      /* no current row */
} rcur;

typedef struct sort_state {
  pb_sort_key *keys; /* owned expressions */
  size_t n_keys;
  bool has_limit;
  uint64_t limit;
  size_t budget; /* n->memory, at open */
  pb__rowbuf rb; /* held rows (limit: none; the sort spills itself) */
  pb__hrow **rows; /* in memory: the rows, or the heap */
  size_t n_rows, cap_rows;
  pb__hrow **tmp; /* merge sort's room */
  pb_qval *kv;    /* the arriving row's key values */
  bool heap;      /* rows is a top-N max-heap */
  bool gated;     /* the scan below asks sort_gate_fn first */
  bool loaded;    /* the input was read */
  size_t pos;     /* in memory: the next row to give */
  uint64_t given; /* rows given */
  int err;        /* sticky */
  /* External. */
  bool external;           /* runs were written */
  const pb__io *io;        /* where the runs go */
  char *dir;               /* owned */
  run *runs;
  size_t n_runs, cap_runs;
  uint64_t runs_written;   /* for explain */
  pb_buf wbuf;             /* a run being written */
  rcur *cur;               /* the final merge's cursors */
  size_t n_cur;
  rcur *last;              /* the cursor whose row was given last */
  void **out_recs;         /* per source: a record struct (def->size) */
  uint64_t *out_ids;
  const void **out_rec_ptrs;
  pb_qval *out_cols;
  pb_arena *out_arena;     /* arrays of decoded records */
} sort_state;

static const pb__qnode_ops sort_ops;

static atomic_uint_fast64_t tmp_counter;

/* Sets the detail "OrderBy: <what> <path>: <errno>" and returns rc. */
static int io_fail(int rc, const char *what, const char *path) {
  if (rc == PB_ENOMEM) return rc;
  char msg[400];
  snprintf(msg, sizeof msg, "OrderBy (external sort): %s %s: %s", what,
           path ? path : "", rc == PB_ENOSPC ? "no space left" : strerror(errno));
  pb__errdetail_set(msg);
  return rc;
}

static void tmp_place(pb_txn *txn, const pb__io **io, const char **dir) {
  pb_storage *st = txn != NULL && txn->db != NULL && txn->db->sp != NULL
                       ? txn->db->sp->st
                       : NULL;
  /* A read-only storage's directory may not be writable: $TMPDIR then. */
  if (st != NULL && st->ops == &pb__file_ops && !st->read_only) {
    const pb__file_storage *fs = (const pb__file_storage *)st;
    *io = fs->io;
    *dir = fs->dir;
    return;
  }
  *io = pb__io_posix();
  const char *t = getenv("TMPDIR");
  *dir = t != NULL && t[0] != '\0' ? t : "/tmp";
}

static int run_new(sort_state *s, run **out) {
  if (s->n_runs == s->cap_runs) {
    size_t cap = s->cap_runs ? s->cap_runs * 2 : 16;
    run *nr = realloc(s->runs, cap * sizeof *nr);
    if (nr == NULL) return PB_ENOMEM;
    s->runs = nr;
    s->cap_runs = cap;
  }
  size_t plen = strlen(s->dir) + 64;
  char *path = malloc(plen);
  if (path == NULL) return PB_ENOMEM;
  pb__file *f = NULL;
  int rc = PB_EEXIST;
  for (int tries = 0; tries < 100 && rc == PB_EEXIST; tries++) {
    snprintf(path, plen, "%s/pbsort-%ld-%llu.tmp", s->dir, (long)getpid(),
             (unsigned long long)atomic_fetch_add(&tmp_counter, 1));
    rc = s->io->open(s->io, path,
                     PB__IO_WRITE | PB__IO_CREATE | PB__IO_EXCL, &f);
  }
  if (rc != PB_OK) {
    rc = io_fail(rc, "create", path);
    free(path);
    return rc;
  }
  run *r = &s->runs[s->n_runs++];
  r->path = path;
  r->f = f;
  r->size = 0;
  s->runs_written++;
  *out = r;
  return PB_OK;
}

/* Closes and removes a run's file. */
static void run_remove(sort_state *s, run *r) {
  if (r->f != NULL) (void)pb__io_close(r->f);
  r->f = NULL;
  if (r->path != NULL) (void)s->io->unlink(s->io, r->path);
  free(r->path);
  r->path = NULL;
}

static int run_flush(sort_state *s, run *r) {
  if (s->wbuf.len == 0) return PB_OK;
  int rc = pb__io_pwrite(r->f, s->wbuf.data, s->wbuf.len, r->size);
  if (rc != PB_OK) return io_fail(rc, "write", r->path);
  r->size += s->wbuf.len;
  pb_buf_reset(&s->wbuf);
  return PB_OK;
}

static void put_le(pb_buf *b, uint64_t x, int n) {
  uint8_t t[8];
  for (int i = 0; i < n; i++) t[i] = (uint8_t)(x >> (8 * i));
  pb_buf_append(b, t, (size_t)n);
}

static uint64_t get_le(const uint8_t *p, int n) {
  uint64_t x = 0;
  for (int i = 0; i < n; i++) x |= (uint64_t)p[i] << (8 * i);
  return x;
}

static void put_val(pb_buf *b, const pb_qval *v) {
  uint8_t t = (uint8_t)v->type;
  pb_buf_append(b, &t, 1);
  switch (v->type) {
    case PB_QNULL:
      break;
    case PB_QBOOL:
      t = v->as.b ? 1 : 0;
      pb_buf_append(b, &t, 1);
      break;
    case PB_QINT:
    case PB_QUINT:
    case PB_QFLOAT:
      put_le(b, v->as.u, 8);
      break;
    case PB_QSTR:
    case PB_QBYTES:
      put_le(b, v->as.s.len, 4);
      if (v->as.s.len) pb_buf_append(b, v->as.s.ptr, v->as.s.len);
      break;
  }
}

/* Reads a value at *p (before end); NULL when the bytes are bad. */
static const uint8_t *get_val(const uint8_t *p, const uint8_t *end,
                              pb_qval *v) {
  if (p >= end) return NULL;
  uint8_t t = *p++;
  *v = pb_qnull();
  switch (t) {
    case PB_QNULL:
      return p;
    case PB_QBOOL:
      if (p >= end) return NULL;
      *v = pb_qbool(*p != 0);
      return p + 1;
    case PB_QINT:
    case PB_QUINT:
    case PB_QFLOAT:
      if (end - p < 8) return NULL;
      v->type = (pb_qtype)t;
      v->as.u = get_le(p, 8);
      return p + 8;
    case PB_QSTR:
    case PB_QBYTES: {
      if (end - p < 4) return NULL;
      size_t n = (size_t)get_le(p, 4);
      p += 4;
      if ((size_t)(end - p) < n) return NULL;
      v->type = (pb_qtype)t;
      v->as.s.ptr = n ? p : (const uint8_t *)"";
      v->as.s.len = n;
      return p + n;
    }
    default:
      return NULL;
  }
}

/* Appends a held row to the run being written. */
static int write_row(sort_state *s, const pb_plan *n, run *r,
                     const pb__hrow *h) {
  pb_buf *b = &s->wbuf;
  size_t at = b->len;
  put_le(b, 0, 4); /* the length, patched below */
  put_le(b, h->seq, 8);
  for (size_t i = 0; i < s->n_keys; i++) put_val(b, &h->vals[i]);
  for (size_t i = 0; i < h->row.n_recs; i++) {
    const void *rec = h->row.recs[i];
    uint8_t present = rec != NULL;
    pb_buf_append(b, &present, 1);
    if (!present) continue;
    put_le(b, h->row.ids[i], 8);
    size_t lat = b->len;
    put_le(b, 0, 4);
    int rc = n->shape.srcs[i]->encode(rec, b);
    if (rc != PB_OK) return rc;
    if (b->err == PB_OK) {
      uint64_t len = b->len - lat - 4;
      for (int k = 0; k < 4; k++) b->data[lat + k] = (uint8_t)(len >> (8 * k));
    }
  }
  for (size_t i = 0; i < h->row.n_cols; i++) put_val(b, &h->row.cols[i]);
  int rc = pb_buf_error(b);
  if (rc != PB_OK) return rc;
  uint64_t len = b->len - at - 4;
  if (len > UINT32_MAX) return PB_ETOOBIG;
  for (int k = 0; k < 4; k++) b->data[at + k] = (uint8_t)(len >> (8 * k));
  if (b->len >= WRITE_BUF) return run_flush(s, r);
  return PB_OK;
}

/* Sorts the rows held and writes them as a run; frees them. */
static int spill(pb_plan *n, sort_state *s) {
  assert(s->wbuf.len == 0);
  if (s->n_rows == 0) return PB_OK;
  if (s->io == NULL) {
    const char *dir;
    tmp_place(n->txn, &s->io, &dir);
    s->dir = strdup(dir);
    if (s->dir == NULL) return PB_ENOMEM;
  }
  sort_rows(s->keys, s->n_keys, s->rows, s->tmp, s->n_rows);
  run *r;
  int rc = run_new(s, &r);
  for (size_t i = 0; i < s->n_rows && rc == PB_OK; i++)
    rc = write_row(s, n, r, s->rows[i]);
  if (rc == PB_OK) rc = run_flush(s, r);
  pb_buf_reset(&s->wbuf);
  for (size_t i = 0; i < s->n_rows; i++) pb__rowbuf_drop(&s->rb, s->rows[i]);
  s->n_rows = 0;
  s->heap = false;
  s->external = true;
  return rc;
}

/* --- Reading runs --- */

static int rcur_ensure(rcur *c, size_t need) {
  if (c->len - c->pos >= need) return PB_OK;
  if (c->pos > 0) {
    memmove(c->buf, c->buf + c->pos, c->len - c->pos);
    c->len -= c->pos;
    c->pos = 0;
  }
  if (need > c->cap) {
    size_t cap = c->cap ? c->cap : RUN_BUF;
    while (cap < need) cap *= 2;
    uint8_t *nb = realloc(c->buf, cap);
    if (nb == NULL) return PB_ENOMEM;
    c->buf = nb;
    c->cap = cap;
  }
  while (c->len < need) {
    size_t want = c->cap - c->len;
    if (c->off + want > c->r->size) want = (size_t)(c->r->size - c->off);
    if (want == 0) break;
    size_t got = 0;
    int rc = pb__io_pread(c->r->f, c->buf + c->len, want, c->off, &got);
    if (rc != PB_OK) return io_fail(rc, "read", c->r->path);
    if (got == 0) break;
    c->len += got;
    c->off += got;
  }
  return c->len >= need ? PB_OK : PB_ENOTFOUND;
}

/* Moves c to its next row (parses its seq and keys). */
static int rcur_next(rcur *c, size_t n_keys) {
  int rc = rcur_ensure(c, 4);
  if (rc == PB_ENOTFOUND) {
    if (c->len - c->pos == 0 && c->off == c->r->size) {
      c->done = true;
      return PB_OK;
    }
    return PB__CORRUPT("external sort run %s: a row's length is cut",
                       c->r->path);
  }
  if (rc != PB_OK) return rc;
  size_t len = (size_t)get_le(c->buf + c->pos, 4);
  rc = rcur_ensure(c, 4 + len);
  if (rc == PB_ENOTFOUND)
    return PB__CORRUPT("external sort run %s: a row is cut", c->r->path);
  if (rc != PB_OK) return rc;
  c->row = c->buf + c->pos + 4;
  c->row_len = len;
  c->pos += 4 + len;
  const uint8_t *p = c->row, *end = c->row + len;
  if (len < 8)
    return PB__CORRUPT("external sort run %s: a row is too short",
                       c->r->path);
  c->seq = get_le(p, 8);
  p += 8;
  for (size_t i = 0; i < n_keys; i++) {
    p = get_val(p, end, &c->keys[i]);
    if (p == NULL)
      return PB__CORRUPT("external sort run %s: a key does not decode",
                         c->r->path);
  }
  c->rest = p;
  return PB_OK;
}

static void rcur_free(rcur *c) {
  free(c->buf);
  free(c->keys);
  memset(c, 0, sizeof *c);
}

static int rcur_open(sort_state *s, rcur *c, run *r) {
  memset(c, 0, sizeof *c);
  c->r = r;
  if (s->n_keys) {
    c->keys = calloc(s->n_keys, sizeof *c->keys);
    if (c->keys == NULL) return PB_ENOMEM;
  }
  return rcur_next(c, s->n_keys);
}

/* The cursor with the least row, or NULL when all are done. */
static rcur *least(sort_state *s, rcur *cur, size_t n) {
  rcur *best = NULL;
  for (size_t i = 0; i < n; i++) {
    if (cur[i].done) continue;
    if (best == NULL || cmp_keys(s->keys, s->n_keys, cur[i].keys, cur[i].seq,
                                 best->keys, best->seq) < 0)
      best = &cur[i];
  }
  return best;
}

/* Merges runs [from, from + k) into one new run (appended), removing
 * them. */
static int merge_some(sort_state *s, size_t from, size_t k) {
  rcur cur[FANIN];
  memset(cur, 0, sizeof cur);
  int rc = PB_OK;
  size_t opened = 0;
  for (; opened < k && rc == PB_OK; opened++)
    rc = rcur_open(s, &cur[opened], &s->runs[from + opened]);
  run *out = NULL;
  if (rc == PB_OK) rc = run_new(s, &out);
  /* run_new may move s->runs: re-aim the cursors. */
  for (size_t i = 0; i < opened; i++) cur[i].r = &s->runs[from + i];
  size_t out_i = out != NULL ? (size_t)(out - s->runs) : 0;
  while (rc == PB_OK) {
    rcur *c = least(s, cur, k);
    if (c == NULL) break;
    pb_buf_append(&s->wbuf, c->row - 4, c->row_len + 4);
    rc = pb_buf_error(&s->wbuf);
    if (rc == PB_OK && s->wbuf.len >= WRITE_BUF)
      rc = run_flush(s, &s->runs[out_i]);
    if (rc == PB_OK) rc = rcur_next(c, s->n_keys);
  }
  if (rc == PB_OK && out != NULL) rc = run_flush(s, &s->runs[out_i]);
  pb_buf_reset(&s->wbuf);
  for (size_t i = 0; i < opened; i++) rcur_free(&cur[i]);
  return rc;
}

/* Merges until at most FANIN runs are left, keeping their order. */
static int merge_passes(sort_state *s) {
  while (s->n_runs > FANIN) {
    size_t n0 = s->n_runs;
    for (size_t i = 0; i < n0; i += FANIN) {
      size_t k = n0 - i < FANIN ? n0 - i : FANIN;
      int rc = merge_some(s, i, k);
      if (rc != PB_OK) return rc;
      for (size_t j = i; j < i + k; j++) run_remove(s, &s->runs[j]);
    }
    /* Keep the new runs, in their order. */
    size_t m = 0;
    for (size_t i = n0; i < s->n_runs; i++) s->runs[m++] = s->runs[i];
    s->n_runs = m;
  }
  return PB_OK;
}

/* Decodes the row of cursor c into the node's output row. */
static int decode_row(pb_plan *n, sort_state *s, rcur *c, pb_row *row) {
  const uint8_t *p = c->rest, *end = c->row + c->row_len;
  pb_arena_reset(s->out_arena);
  for (size_t i = 0; i < n->shape.n_srcs; i++) {
    if (p >= end) goto bad;
    uint8_t present = *p++;
    if (!present) {
      s->out_rec_ptrs[i] = NULL;
      s->out_ids[i] = 0;
      continue;
    }
    if (end - p < 12) goto bad;
    s->out_ids[i] = get_le(p, 8);
    size_t len = (size_t)get_le(p + 8, 4);
    p += 12;
    if ((size_t)(end - p) < len) goto bad;
    const pb_table_def *def = n->shape.srcs[i];
    if (def->init != NULL) def->init(s->out_recs[i]);
    int rc = def->decode(s->out_recs[i], p, len,
                         def->arena ? s->out_arena : NULL);
    if (rc != PB_OK) return rc;
    s->out_rec_ptrs[i] = s->out_recs[i];
    p += len;
  }
  for (size_t i = 0; i < n->shape.n_cols; i++) {
    p = get_val(p, end, &s->out_cols[i]);
    if (p == NULL) goto bad;
  }
  row->recs = s->out_rec_ptrs;
  row->ids = s->out_ids;
  row->n_recs = n->shape.n_srcs;
  row->cols = s->out_cols;
  row->n_cols = n->shape.n_cols;
  return PB_OK;
bad:
  return PB__CORRUPT("external sort run %s: a row does not decode",
                     c->r->path);
}

static int open_final(pb_plan *n, sort_state *s) {
  size_t ns = n->shape.n_srcs;
  if (ns) {
    s->out_recs = calloc(ns, sizeof *s->out_recs);
    s->out_ids = calloc(ns, sizeof *s->out_ids);
    s->out_rec_ptrs = calloc(ns, sizeof *s->out_rec_ptrs);
    if (!s->out_recs || !s->out_ids || !s->out_rec_ptrs) return PB_ENOMEM;
    for (size_t i = 0; i < ns; i++) {
      s->out_recs[i] = calloc(1, n->shape.srcs[i]->size);
      if (s->out_recs[i] == NULL) return PB_ENOMEM;
    }
  }
  if (n->shape.n_cols) {
    s->out_cols = calloc(n->shape.n_cols, sizeof *s->out_cols);
    if (s->out_cols == NULL) return PB_ENOMEM;
  }
  int rc = pb_arena_create(&s->out_arena);
  if (rc != PB_OK) return rc;
  s->cur = calloc(s->n_runs, sizeof *s->cur);
  if (s->cur == NULL) return PB_ENOMEM;
  s->n_cur = s->n_runs;
  for (size_t i = 0; i < s->n_runs; i++) {
    rc = rcur_open(s, &s->cur[i], &s->runs[i]);
    if (rc != PB_OK) return rc;
  }
  return PB_OK;
}

/* --- The heap (top-N): a max-heap by (keys, seq) --- */

static void heap_down(sort_state *s, size_t i) {
  pb__hrow **h = s->rows;
  size_t n = s->n_rows;
  for (;;) {
    size_t l = 2 * i + 1, r = l + 1, m = i;
    if (l < n && cmp_hrow(s->keys, s->n_keys, h[l], h[m]) > 0) m = l;
    if (r < n && cmp_hrow(s->keys, s->n_keys, h[r], h[m]) > 0) m = r;
    if (m == i) return;
    pb__hrow *t = h[i];
    h[i] = h[m];
    h[m] = t;
    i = m;
  }
}

static void heap_up(sort_state *s, size_t i) {
  pb__hrow **h = s->rows;
  while (i > 0) {
    size_t p = (i - 1) / 2;
    if (cmp_hrow(s->keys, s->n_keys, h[i], h[p]) <= 0) return;
    pb__hrow *t = h[i];
    h[i] = h[p];
    h[p] = t;
    i = p;
  }
}

static int push_row(sort_state *s, pb__hrow *h) {
  if (s->n_rows == s->cap_rows) {
    size_t cap = s->cap_rows ? s->cap_rows * 2 : 64;
    pb__hrow **nr = realloc(s->rows, cap * sizeof *nr);
    if (nr == NULL) return PB_ENOMEM;
    s->rows = nr;
    pb__hrow **nt = realloc(s->tmp, cap * sizeof *nt);
    if (nt == NULL) return PB_ENOMEM;
    s->tmp = nt;
    s->cap_rows = cap;
  }
  s->rows[s->n_rows++] = h;
  return PB_OK;
}

/* --- The node --- */

static int sort_load(pb_plan *n, sort_state *s) {
  pb_plan *kid = n->kid[0];
  pb_row row;
  int rc;
  s->heap = s->has_limit;
  for (;;) {
    rc = pb__pull(kid, &row);
    if (rc != PB_OK) break;
    for (size_t i = 0; i < s->n_keys; i++) {
      rc = pb__expr_eval(s->keys[i].expr, &row, &s->kv[i]);
      if (rc != PB_OK) return rc;
    }
    if (s->heap && s->n_rows == s->limit) {
      /* Full: the row goes in only if it comes before the top (it
       * arrived last, so equal keys lose: stable). */
      const pb__hrow *top = s->rows[0];
      if (cmp_keys(s->keys, s->n_keys, s->kv, s->rb.seq, top->vals,
                   top->seq) >= 0) {
        s->rb.seq++;
        continue;
      }
    }
    pb__hrow *h;
    rc = pb__rowbuf_hold(&s->rb, kid, &row, s->kv, s->n_keys, &h);
    if (rc != PB_OK) return rc;
    if (s->heap && s->n_rows == s->limit) {
      pb__rowbuf_drop(&s->rb, s->rows[0]);
      s->rows[0] = h;
      heap_down(s, 0);
    } else {
      rc = push_row(s, h);
      if (rc != PB_OK) {
        pb__rowbuf_drop(&s->rb, h);
        return rc;
      }
      if (s->heap) heap_up(s, s->n_rows - 1);
    }
    if (s->rb.used > s->budget) {
      rc = spill(n, s);
      if (rc != PB_OK) return rc;
    }
  }
  if (rc != PB_ENOTFOUND) return rc;
  if (s->external) {
    rc = spill(n, s);
    if (rc == PB_OK) rc = merge_passes(s);
    if (rc == PB_OK) rc = open_final(n, s);
    return rc;
  }
  sort_rows(s->keys, s->n_keys, s->rows, s->tmp, s->n_rows);
  s->heap = false;
  return PB_OK;
}

static int sort_open(pb_plan *n) {
  sort_state *s = n->state;
  s->budget = n->memory;
  return PB_OK;
}

static int sort_next(pb_plan *n, pb_row *row) {
  sort_state *s = n->state;
  if (s->err != PB_OK) return s->err;
  int rc = PB_OK;
  if (!s->loaded) {
    s->loaded = true;
    if (s->has_limit && s->limit == 0) return PB_ENOTFOUND;
    rc = sort_load(n, s);
    if (rc != PB_OK) return s->err = rc;
  }
  if (s->has_limit && s->given >= s->limit) return PB_ENOTFOUND;
  assert(!s->heap); /* sorted by now */
  if (!s->external) {
    assert(s->pos <= s->n_rows);
    if (s->pos >= s->n_rows) return PB_ENOTFOUND;
    *row = s->rows[s->pos++]->row;
    s->given++;
    return PB_OK;
  }
  if (s->last != NULL) {
    rc = rcur_next(s->last, s->n_keys);
    s->last = NULL;
    if (rc != PB_OK) return s->err = rc;
  }
  assert(s->n_cur <= FANIN);
  rcur *c = least(s, s->cur, s->n_cur);
  if (c == NULL) return PB_ENOTFOUND;
  rc = decode_row(n, s, c, row);
  if (rc != PB_OK) return s->err = rc;
  s->last = c;
  s->given++;
  return PB_OK;
}

static void sort_free(pb_plan *n) {
  sort_state *s = n->state;
  if (s == NULL) return;
  for (size_t i = 0; i < s->n_keys; i++) pb_expr_free(s->keys[i].expr);
  free(s->keys);
  for (size_t i = 0; i < s->n_rows; i++) pb__rowbuf_drop(&s->rb, s->rows[i]);
  free(s->rows);
  free(s->tmp);
  free(s->kv);
  pb__rowbuf_free(&s->rb);
  for (size_t i = 0; i < s->n_cur; i++) rcur_free(&s->cur[i]);
  free(s->cur);
  for (size_t i = 0; i < s->n_runs; i++) run_remove(s, &s->runs[i]);
  free(s->runs);
  free(s->dir);
  pb_buf_free(&s->wbuf);
  if (s->out_recs != NULL)
    for (size_t i = 0; i < n->shape.n_srcs; i++) free(s->out_recs[i]);
  free(s->out_recs);
  free(s->out_ids);
  free(s->out_rec_ptrs);
  free(s->out_cols);
  pb_arena_destroy(s->out_arena);
  free(s);
  n->state = NULL;
}

static void puts_buf(pb_buf *out, const char *s) {
  pb_buf_append(out, s, strlen(s));
}

static void sort_explain(const pb_plan *n, pb_buf *out) {
  const sort_state *s = n->state;
  puts_buf(out, "by ");
  for (size_t i = 0; i < s->n_keys; i++) {
    if (i) puts_buf(out, ", ");
    pb__expr_print(s->keys[i].expr, &n->kid[0]->shape, out);
    puts_buf(out, s->keys[i].dir == PB_DESC ? " DESC" : " ASC");
  }
  char t[96];
  if (s->has_limit) {
    snprintf(t, sizeof t, "; top %llu (heap)",
             (unsigned long long)s->limit);
    puts_buf(out, t);
    if (s->gated) puts_buf(out, ", keys read from the encoded rows");
  }
  if (s->external) {
    snprintf(t, sizeof t, "; external: %llu runs written",
             (unsigned long long)s->runs_written);
    puts_buf(out, t);
  }
}

static const pb__qnode_ops sort_ops = {
    .kind = "OrderBy",
    .open = sort_open,
    .next = sort_next,
    .free = sort_free,
    .explain = sort_explain,
};

int pb_plan_order_by(pb_plan **p, const pb_sort_key *keys, size_t n) {
  int rc = PB_OK;
  bool null_expr = false;
  for (size_t i = 0; keys != NULL && i < n; i++)
    if (keys[i].expr == NULL) null_expr = true;
  if (p == NULL || *p == NULL || keys == NULL || n == 0) {
    pb__errdetail_set("OrderBy: no plan, or no key");
    rc = PB_EINVAL;
  } else if (null_expr) {
    rc = PB_ENOMEM;
  }
  for (size_t i = 0; rc == PB_OK && i < n; i++) {
    if (keys[i].dir != PB_ASC && keys[i].dir != PB_DESC) {
      char msg[96];
      snprintf(msg, sizeof msg,
               "OrderBy: key %zu: direction %u is neither PB_ASC nor PB_DESC",
               i, keys[i].dir);
      pb__errdetail_set(msg);
      rc = PB_EINVAL;
      break;
    }
    rc = pb__expr_check(keys[i].expr, &(*p)->shape, "OrderBy", false);
  }
  sort_state *s = NULL;
  pb_plan *node = NULL;
  if (rc == PB_OK) {
    s = calloc(1, sizeof *s);
    node = pb__plan_node(&sort_ops, (*p)->txn);
    if (s != NULL) {
      s->keys = malloc(n * sizeof *s->keys);
      s->kv = calloc(n, sizeof *s->kv);
    }
    if (s == NULL || node == NULL || s->keys == NULL || s->kv == NULL ||
        pb__qshape_concat(&node->shape, &(*p)->shape, NULL) != PB_OK)
      rc = PB_ENOMEM;
  }
  if (rc != PB_OK) {
    if (s != NULL) {
      free(s->keys);
      free(s->kv);
      free(s);
    }
    pb__plan_node_free(node);
    for (size_t i = 0; keys != NULL && i < n; i++) pb_expr_free(keys[i].expr);
    return rc;
  }
  memcpy(s->keys, keys, n * sizeof *keys);
  s->n_keys = n;
  pb__rowbuf_init(&s->rb, "OrderBy", SIZE_MAX);
  pb_buf_init(&s->wbuf);
  node->state = s;
  node->kid[0] = *p;
  *p = node;
  return PB_OK;
}

const pb_sort_key *pb__sort_keys(const pb_plan *n, size_t *n_keys) {
  if (n == NULL || n->ops != &sort_ops) return NULL;
  const sort_state *s = n->state;
  if (n_keys != NULL) *n_keys = s->n_keys;
  return s->keys;
}

void pb__sort_set_limit(pb_plan *n, uint64_t limit) {
  if (n == NULL || n->ops != &sort_ops) return;
  sort_state *s = n->state;
  if (!s->has_limit || limit < s->limit) s->limit = limit;
  s->has_limit = true;
}

/* The scan's gate (pb__scan_gate): whether a row with key values kv would
 * enter the heap now.  A row it turns away counts as an arrival, as
 * sort_load counts one it turns away. */
static bool sort_gate_fn(void *ctx, const pb_qval *kv) {
  sort_state *s = ctx;
  if (!s->heap || s->n_rows < s->limit) return true;
  if (s->limit > 0) {
    const pb__hrow *top = s->rows[0];
    if (cmp_keys(s->keys, s->n_keys, kv, s->rb.seq, top->vals, top->seq) < 0)
      return true;
  }
  s->rb.seq++;
  return false;
}

int pb__sort_gate(pb_plan *n) {
  if (n == NULL || n->ops != &sort_ops || n->opened) return PB_OK;
  sort_state *s = n->state;
  if (!s->has_limit || s->gated) return PB_OK;
  pb_plan *k = n->kid[0];
  while (pb__where_pushed(k)) k = k->kid[0];
  bool set = false;
  int rc = pb__scan_gate(k, s->keys, s->n_keys, sort_gate_fn, s, &set);
  s->gated = set;
  return rc;
}

bool pb__sort_transient(const pb_plan *n) {
  if (n == NULL || n->ops != &sort_ops || n->state == NULL) return false;
  const sort_state *s = n->state;
  return s->external;
}

/* --- Distinct --- */

typedef struct distinct_state {
  pb__rowbuf rb;  /* counts the table */
  pb__qhash seen; /* identities of the rows given */
  pb_buf key;     /* the identity being built */
  pb_keybuf kb;   /* a source's primary key */
  int err;
} distinct_state;

static const pb__qnode_ops distinct_ops;

static int identity(const pb_plan *n, distinct_state *s, const pb_row *row) {
  pb_buf *b = &s->key;
  pb_buf_reset(b);
  for (size_t i = 0; i < row->n_recs; i++) {
    const void *rec = row->recs[i];
    const pb_table_def *def = n->shape.srcs[i];
    uint8_t tag = rec == NULL ? 0 : 1;
    pb_buf_append(b, &tag, 1);
    if (rec == NULL) continue;
    if (def->key == NULL) {
      put_le(b, row->ids != NULL ? row->ids[i] : 0, 8);
      continue;
    }
    pb_keybuf_reset(&s->kb);
    int rc = def->key(rec, &s->kb);
    if (rc != PB_OK) return rc;
    put_le(b, s->kb.len, 4);
    pb_buf_append(b, s->kb.ptr, s->kb.len);
  }
  for (size_t i = 0; i < row->n_cols; i++) pb__qval_canon(&row->cols[i], b);
  return pb_buf_error(b);
}

static int distinct_open(pb_plan *n) {
  distinct_state *s = n->state;
  s->rb.limit = n->memory;
  return PB_OK;
}

static int distinct_next(pb_plan *n, pb_row *row) {
  distinct_state *s = n->state;
  if (s->err != PB_OK) return s->err;
  pb_plan *kid = n->kid[0];
  for (;;) {
    int rc = pb__pull(kid, row);
    if (rc == PB_ENOTFOUND) return rc;
    if (rc == PB_OK) rc = identity(n, s, row);
    size_t *found;
    bool added = false;
    if (rc == PB_OK)
      rc = pb__qhash_put(&s->seen, &s->rb, s->key.data, s->key.len,
                         s->seen.n, &found, &added);
    if (rc != PB_OK) return s->err = rc;
    if (added) return PB_OK;
  }
}

static void distinct_free(pb_plan *n) {
  distinct_state *s = n->state;
  if (s == NULL) return;
  pb__qhash_free(&s->seen, &s->rb);
  pb__rowbuf_free(&s->rb);
  pb_buf_free(&s->key);
  pb_keybuf_free(&s->kb);
  free(s);
  n->state = NULL;
}

static void distinct_explain(const pb_plan *n, pb_buf *out) {
  (void)n;
  puts_buf(out, "(sources by primary key, columns by value)");
}

static const pb__qnode_ops distinct_ops = {
    .kind = "Distinct",
    .open = distinct_open,
    .next = distinct_next,
    .free = distinct_free,
    .explain = distinct_explain,
};

int pb_plan_distinct(pb_plan **p) {
  if (p == NULL || *p == NULL) {
    pb__errdetail_set("Distinct: no plan");
    return PB_EINVAL;
  }
  distinct_state *s = calloc(1, sizeof *s);
  pb_plan *node = pb__plan_node(&distinct_ops, (*p)->txn);
  if (s == NULL || node == NULL ||
      pb__qshape_concat(&node->shape, &(*p)->shape, NULL) != PB_OK) {
    free(s);
    pb__plan_node_free(node);
    return PB_ENOMEM;
  }
  pb__rowbuf_init(&s->rb, "Distinct", PB_PLAN_MEMORY_DEFAULT);
  pb__qhash_init(&s->seen);
  pb_buf_init(&s->key);
  pb_keybuf_init(&s->kb);
  node->state = s;
  node->kid[0] = *p;
  *p = node;
  return PB_OK;
}
