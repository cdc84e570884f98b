/*
 * tests/support/simfs.c - the simulated disk (see simfs.h for the model).
 *
 * Data structure: a tree of reference-counted inodes under one root.  A
 * directory inode holds two views, arrays of (name, inode): the volatile
 * one that operations see and the durable one as of its last sync_dir.  An
 * inode's reference count is the number of view entries that name it, plus
 * its open handles, plus one for the root; it is freed at zero, so a file
 * that is unlinked but still open, or still named by a durable view, lives
 * on.  A file inode holds its volatile content, its durable content and
 * the log of changes between them.
 *
 * A power cut builds a second tree from the durable views (memoizing
 * inodes, so a file with two names stays one file), keeps it aside while
 * the disk is dead, and swaps it in on revive, bumping a generation number
 * that every handle carries: handles of an older generation fail.
 *
 * Everything runs under one mutex.  Out of memory inside the simulation
 * aborts the test: it is not a condition the simulation models.
 */
#include "support/simfs.h"

#include <assert.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Sector size of the simulated disk: a torn write lands in whole sectors. */
#define SECTOR 512u

/* --- Allocation that cannot fail (the simulation aborts instead) --- */

static void *xrealloc(void *p, size_t n) {
  void *q = realloc(p, n ? n : 1);
  if (q == NULL) {
    fprintf(stderr, "simfs: out of memory\n");
    abort();
  }
  return q;
}

static void *xmalloc(size_t n) { return xrealloc(NULL, n); }

static char *xstrdup(const char *s) {
  size_t n = strlen(s) + 1;
  return memcpy(xmalloc(n), s, n);
}

/* --- Contents and change logs --- */

/* A growable byte string: a file's volatile or durable content. */
typedef struct content {
  uint8_t *data; /* bytes, owned */
  size_t len;    /* the file size */
  size_t cap;    /* allocated bytes */
} content;

/* Sets the size; new bytes read as zeros. */
static void content_resize(content *c, size_t len) {
  if (len > c->cap) {
    size_t cap = c->cap ? c->cap : 4096;
    while (cap < len) cap *= 2;
    c->data = xrealloc(c->data, cap);
    c->cap = cap;
  }
  if (len > c->len) memset(c->data + c->len, 0, len - c->len);
  c->len = len;
}

static void content_write(content *c, uint64_t off, const void *buf,
                          size_t n) {
  if (n == 0) return;
  if (off + n > c->len) content_resize(c, (size_t)(off + n));
  memcpy(c->data + off, buf, n);
}

static void content_copy(content *dst, const content *src) {
  dst->len = 0;
  content_resize(dst, src->len);
  if (src->len > 0) memcpy(dst->data, src->data, src->len);
}

/* One change since the last sync of a file. */
typedef enum change_kind { CH_WRITE, CH_TRUNCATE } change_kind;

typedef struct change {
  change_kind kind; /* a pwrite or a truncate */
  uint64_t off;     /* CH_WRITE: offset */
  uint64_t len;     /* CH_WRITE: byte count; CH_TRUNCATE: the new size */
  uint8_t *bytes;   /* CH_WRITE: the bytes written, owned */
} change;

static void change_apply(const change *ch, content *c) {
  if (ch->kind == CH_WRITE)
    content_write(c, ch->off, ch->bytes, (size_t)ch->len);
  else
    content_resize(c, (size_t)ch->len);
}

/* --- Inodes and directory views --- */

typedef struct inode inode;

/* One name in a directory view. */
typedef struct dirent_ {
  char *name; /* owned */
  inode *ino; /* holds a reference */
} dirent_;

/* A directory's entries: the volatile or the durable view. */
typedef struct dirview {
  dirent_ *v; /* entries, in no order */
  size_t n;   /* used entries */
  size_t cap; /* allocated entries */
} dirview;

typedef struct sim_file sim_file;

struct inode {
  unsigned refs;              /* view entries + handles (+1 for the root) */
  bool is_dir;                /* a directory, else a file */
  unsigned gen;               /* generation; only the current one counts
                                 toward the space budget */
  content vol;                /* file: what reads see */
  content dur;                /* file: as of the last datasync/sync */
  change *log;                /* file: changes since then, oldest first */
  size_t nlog;                /* used entries of log */
  size_t caplog;              /* allocated entries of log */
  const sim_file *lock_owner; /* the handle holding the lock, or NULL */
  uint64_t written;           /* file: bytes [0, written) were written by
                                 pwrite (allocate and a growing truncate
                                 leave unwritten space, as fallocate's
                                 unwritten extents are) */
  bool unwritten_dirty;       /* file: a write since the last sync went
                                 into space not written before */
  dirview vview;              /* directory: volatile entries */
  dirview dview;              /* directory: durable entries */
  inode *copy;                /* scratch during a cut: the post-crash copy */
};

/* An open file.  `base` must be first (pb__file * <-> sim_file *). */
struct sim_file {
  pb__file base;   /* the I/O layer's common header */
  pb__simfs *sim;  /* the disk */
  inode *ino;      /* holds a reference */
  unsigned gen;    /* generation at open; another one means invalid */
  bool writable;   /* opened with PB__IO_WRITE */
  char *path;      /* as given to open, owned (for the sync hook) */
};

/* A one-shot fault armed by pb__simfs_fail. */
typedef struct fault {
  unsigned nth;   /* calls left until it fires; 0 = disarmed */
  int code;       /* the pb_error to return */
  size_t partial; /* pwrite: bytes written before failing */
} fault;

struct pb__simfs {
  pb__io io;                 /* the table handed out; ctx = this */
  pthread_mutex_t mu;        /* guards everything below */
  inode *root;               /* "/" of the live state */
  inode *next_root;          /* post-crash "/", while dead; else NULL */
  uint64_t next_used;        /* space used by the post-crash state */
  unsigned gen;              /* current generation */
  bool dead;                 /* after a cut, until revive */
  size_t handles;            /* open handles, all generations */
  uint64_t used;             /* sum of file sizes (current generation) */
  uint64_t budget;           /* space budget; UINT64_MAX = none */
  pb__simfs_counts counts;   /* calls counted */
  fault faults[PB__SIMFS_N_OPS]; /* armed faults, by op */
  unsigned crash_at;         /* mutating ops left until a cut; 0 = none */
  uint64_t crash_seed;       /* seed for that cut */
  pb__simfs_sync_hook hook;  /* called inside datasync/sync, or NULL */
  void *hook_arg;            /* its argument */
};

static inode *inode_new(unsigned gen, bool is_dir) {
  inode *ino = calloc(1, sizeof *ino);
  if (ino == NULL) abort();
  ino->gen = gen;
  ino->is_dir = is_dir;
  return ino;
}

static void inode_unref(pb__simfs *sim, inode *ino);

static void view_clear(pb__simfs *sim, dirview *dv) {
  for (size_t i = 0; i < dv->n; i++) {
    free(dv->v[i].name);
    inode_unref(sim, dv->v[i].ino);
  }
  free(dv->v);
  *dv = (dirview){0};
}

static void log_clear(inode *ino) {
  for (size_t i = 0; i < ino->nlog; i++) free(ino->log[i].bytes);
  ino->nlog = 0;
}

static void inode_unref(pb__simfs *sim, inode *ino) {
  assert(ino->refs > 0);
  if (--ino->refs > 0) return;
  if (!ino->is_dir && ino->gen == sim->gen) {
    assert(sim->used >= ino->vol.len);
    sim->used -= ino->vol.len;
  }
  view_clear(sim, &ino->vview);
  view_clear(sim, &ino->dview);
  log_clear(ino);
  free(ino->log);
  free(ino->vol.data);
  free(ino->dur.data);
  free(ino);
}

static long view_find(const dirview *dv, const char *name) {
  for (size_t i = 0; i < dv->n; i++)
    if (strcmp(dv->v[i].name, name) == 0) return (long)i;
  return -1;
}

static void view_add(dirview *dv, const char *name, inode *ino) {
  if (dv->n == dv->cap) {
    dv->cap = dv->cap ? dv->cap * 2 : 8;
    dv->v = xrealloc(dv->v, dv->cap * sizeof *dv->v);
  }
  dv->v[dv->n++] = (dirent_){.name = xstrdup(name), .ino = ino};
  ino->refs++;
}

static void view_remove(pb__simfs *sim, dirview *dv, size_t i) {
  assert(i < dv->n);
  free(dv->v[i].name);
  inode *ino = dv->v[i].ino;
  dv->v[i] = dv->v[--dv->n];
  inode_unref(sim, ino);
}

/* Sets a file's volatile size, keeping the space count. */
static void vol_resize(pb__simfs *sim, inode *ino, size_t len) {
  if (ino->gen == sim->gen) sim->used = sim->used - ino->vol.len + len;
  content_resize(&ino->vol, len);
}

static void log_push(inode *ino, change ch) {
  if (ino->nlog == ino->caplog) {
    ino->caplog = ino->caplog ? ino->caplog * 2 : 8;
    ino->log = xrealloc(ino->log, ino->caplog * sizeof *ino->log);
  }
  ino->log[ino->nlog++] = ch;
}

/* --- Paths --- */

/* Copies the next component of *p into name[256]; false at the end. */
static bool next_component(const char **p, char name[256]) {
  const char *s = *p;
  while (*s == '/') s++;
  if (*s == '\0') return false;
  size_t n = 0;
  while (s[n] != '\0' && s[n] != '/') n++;
  if (n > 255) n = 255; /* longer names are cut; the tests use none */
  memcpy(name, s, n);
  name[n] = '\0';
  *p = s + n;
  return true;
}

/* The inode at an absolute path, through the volatile views; NULL when
 * there is none. */
static inode *resolve(pb__simfs *sim, const char *path) {
  if (path == NULL || path[0] != '/') return NULL;
  inode *cur = sim->root;
  char name[256];
  const char *p = path;
  while (next_component(&p, name)) {
    if (!cur->is_dir) return NULL;
    long i = view_find(&cur->vview, name);
    if (i < 0) return NULL;
    cur = cur->vview.v[i].ino;
  }
  return cur;
}

/* The directory holding the last component of `path`, and that component
 * in leaf[256].  PB_ENOTFOUND when the directory does not exist (or the
 * path has no last component). */
static int resolve_parent(pb__simfs *sim, const char *path, inode **dir,
                          char leaf[256]) {
  if (path == NULL || path[0] != '/') return PB_ENOTFOUND;
  size_t n = strlen(path);
  while (n > 1 && path[n - 1] == '/') n--;
  size_t start = n;
  while (start > 0 && path[start - 1] != '/') start--;
  if (start == n || n - start > 255) return PB_ENOTFOUND;
  memcpy(leaf, path + start, n - start);
  leaf[n - start] = '\0';
  char parent[4096];
  if (start >= sizeof parent) return PB_ENOTFOUND;
  memcpy(parent, path, start);
  parent[start] = '\0';
  inode *d = resolve(sim, parent);
  if (d == NULL || !d->is_dir) return PB_ENOTFOUND;
  *dir = d;
  return PB_OK;
}

/* --- Errors and faults --- */

static int errno_of(int code) {
  switch (code) {
  case PB_ENOSPC:
    return ENOSPC;
  case PB_ENOTFOUND:
    return ENOENT;
  case PB_EEXIST:
    return EEXIST;
  case PB_ENOMEM:
    return ENOMEM;
  case PB_ELOCKED:
    return EWOULDBLOCK;
  default:
    return EIO;
  }
}

/* Unlocks, sets errno to match `code` and returns it. */
static int done(pb__simfs *sim, int code) {
  pthread_mutex_unlock(&sim->mu);
  if (code != PB_OK) errno = errno_of(code);
  return code;
}

/* Counts a call of an armed fault's op; returns its code when it fires. */
static int take_fault(pb__simfs *sim, pb__simfs_op op, size_t *partial) {
  fault *f = &sim->faults[op];
  if (f->nth == 0 || --f->nth > 0) return PB_OK;
  if (partial != NULL) *partial = f->partial;
  return f->code;
}

static void crash_locked(pb__simfs *sim, uint64_t seed);

/* For a mutating operation: true when the armed automatic cut is due, in
 * which case the power is cut now. */
static bool crash_due(pb__simfs *sim) {
  if (sim->crash_at == 0 || --sim->crash_at > 0) return false;
  crash_locked(sim, sim->crash_seed);
  return true;
}

/* The simulation and handle of a file, with the mutex taken; NULL (with
 * the mutex released) when the disk is dead or the handle is stale. */
static sim_file *enter(pb__file *f) {
  sim_file *sf = (sim_file *)f;
  pb__simfs *sim = sf->sim;
  pthread_mutex_lock(&sim->mu);
  if (sim->dead || sf->gen != sim->gen) {
    pthread_mutex_unlock(&sim->mu);
    return NULL;
  }
  return sf;
}

static int eio(void) {
  errno = EIO;
  return PB_EIO;
}

/* --- Power cuts --- */

/* splitmix64: small, good enough, and reproducible from a seed. */
static uint64_t rng_next(uint64_t *s) {
  uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

/* Old inodes whose `copy` was set during a cut, to reset afterwards. */
typedef struct touched {
  inode **v;  /* the inodes */
  size_t n;   /* used entries */
  size_t cap; /* allocated entries */
} touched;

/* The post-crash content of a file: durable content plus a random prefix
 * of its change log, the last kept write possibly torn. */
static void crash_file(pb__simfs *sim, const inode *old, inode *nw,
                       uint64_t *rng) {
  content_copy(&nw->vol, &old->dur);
  size_t n = old->nlog, keep;
  unsigned how = (unsigned)(rng_next(rng) % 8);
  if (how < 2)
    keep = 0; /* nothing unsynced reached the disk */
  else if (how < 4)
    keep = n; /* everything did */
  else
    keep = (size_t)(rng_next(rng) % (n + 1));
  for (size_t i = 0; i < keep; i++) change_apply(&old->log[i], &nw->vol);
  sim->counts.kept += keep;
  size_t dropped = n - keep;
  if (keep < n && old->log[keep].kind == CH_WRITE && rng_next(rng) % 2) {
    /* A torn write: its sectors before some boundary landed. */
    const change *ch = &old->log[keep];
    uint64_t first = ch->off / SECTOR, last = (ch->off + ch->len - 1) / SECTOR;
    if (last > first) {
      uint64_t b = (first + 1 + rng_next(rng) % (last - first)) * SECTOR;
      content_write(&nw->vol, ch->off, ch->bytes, (size_t)(b - ch->off));
      /* Sometimes the new size reached the disk, the data did not. */
      if (rng_next(rng) % 4 == 0 && ch->off + ch->len > nw->vol.len)
        content_resize(&nw->vol, (size_t)(ch->off + ch->len));
      sim->counts.torn++;
      dropped--;
    }
  }
  sim->counts.dropped += dropped;
  content_copy(&nw->dur, &nw->vol);
}

/* Copies the durable tree under `old` into the next generation. */
static inode *crash_copy(pb__simfs *sim, inode *old, touched *t,
                         uint64_t *rng) {
  if (old->copy != NULL) return old->copy;
  inode *nw = inode_new(sim->gen + 1, old->is_dir);
  old->copy = nw;
  if (t->n == t->cap) {
    t->cap = t->cap ? t->cap * 2 : 64;
    t->v = xrealloc(t->v, t->cap * sizeof *t->v);
  }
  t->v[t->n++] = old;
  if (!old->is_dir) {
    crash_file(sim, old, nw, rng);
    nw->written = nw->vol.len; /* what survived counts as written */
    sim->next_used += nw->vol.len;
    return nw;
  }
  for (size_t i = 0; i < old->vview.n; i++) { /* names that vanish */
    long j = view_find(&old->dview, old->vview.v[i].name);
    if (j < 0 || old->dview.v[j].ino != old->vview.v[i].ino)
      sim->counts.unlinked++;
  }
  for (size_t i = 0; i < old->dview.n; i++) {
    long j = view_find(&old->vview, old->dview.v[i].name);
    if (j < 0 || old->vview.v[j].ino != old->dview.v[i].ino)
      sim->counts.relinked++; /* names that come back */
    inode *child = crash_copy(sim, old->dview.v[i].ino, t, rng);
    view_add(&nw->vview, old->dview.v[i].name, child);
    view_add(&nw->dview, old->dview.v[i].name, child);
  }
  return nw;
}

static void crash_locked(pb__simfs *sim, uint64_t seed) {
  if (sim->dead) return;
  uint64_t rng = seed;
  touched t = {0};
  sim->next_used = 0;
  sim->next_root = crash_copy(sim, sim->root, &t, &rng);
  sim->next_root->refs = 1;
  for (size_t i = 0; i < t.n; i++) t.v[i]->copy = NULL;
  free(t.v);
  sim->dead = true;
  sim->crash_at = 0;
  sim->counts.crashes++;
}

/* --- File operations --- */

static int sim_close(pb__file *f) {
  sim_file *sf = (sim_file *)f;
  pb__simfs *sim = sf->sim;
  pthread_mutex_lock(&sim->mu);
  int rc = sim->dead || sf->gen != sim->gen ? PB_EIO : PB_OK;
  if (sf->ino->lock_owner == sf) sf->ino->lock_owner = NULL;
  inode_unref(sim, sf->ino);
  assert(sim->handles > 0);
  sim->handles--;
  free(sf->path);
  free(sf);
  return done(sim, rc);
}

static int sim_pread(pb__file *f, void *buf, size_t size, uint64_t offset,
                     size_t *got) {
  sim_file *sf = enter(f);
  if (sf == NULL) return eio();
  const content *c = &sf->ino->vol;
  size_t n = 0;
  if (offset < c->len) {
    n = c->len - (size_t)offset;
    if (n > size) n = size;
    memcpy(buf, c->data + offset, n);
  }
  *got = n;
  return done(sf->sim, PB_OK);
}

/* Writes bytes into the volatile content and logs the change. */
static void write_logged(pb__simfs *sim, inode *ino, const void *buf,
                         size_t n, uint64_t off) {
  if (n == 0) return;
  if (off + n > ino->written) { /* first data in some of these blocks */
    sim->counts.unwritten_writes++;
    ino->unwritten_dirty = true;
    if (off <= ino->written) ino->written = off + n;
  }
  if (off + n > ino->vol.len) vol_resize(sim, ino, (size_t)(off + n));
  memcpy(ino->vol.data + off, buf, n);
  uint8_t *copy = memcpy(xmalloc(n), buf, n);
  log_push(ino, (change){.kind = CH_WRITE, .off = off, .len = n,
                         .bytes = copy});
  sim->counts.bytes_written += n;
}

/* pwrite and pwritev, counted already: faults, the budget, the write. */
static int write_at(sim_file *sf, const void *buf, size_t size,
                    uint64_t offset) {
  pb__simfs *sim = sf->sim;
  if (crash_due(sim)) return done(sim, PB_EIO);
  if (!sf->writable) return done(sim, PB_EIO); /* EBADF, really */
  size_t partial = 0;
  int rc = take_fault(sim, PB__SIMFS_PWRITE, &partial);
  if (rc != PB_OK) {
    write_logged(sim, sf->ino, buf, partial < size ? partial : size, offset);
    return done(sim, rc);
  }
  /* The space budget: write what fits, then fail as a full disk does. */
  size_t n = size;
  uint64_t end = offset + size, len = sf->ino->vol.len;
  if (sim->budget != UINT64_MAX && end > len &&
      sim->used + (end - len) > sim->budget) {
    uint64_t avail = sim->budget > sim->used ? sim->budget - sim->used : 0;
    uint64_t limit = len + avail; /* the file may grow to here */
    n = limit > offset ? (size_t)(limit - offset) : 0;
    if (n > size) n = size;
    rc = PB_ENOSPC;
  }
  write_logged(sim, sf->ino, buf, n, offset);
  return done(sim, rc);
}

static int sim_pwrite(pb__file *f, const void *buf, size_t size,
                      uint64_t offset) {
  sim_file *sf = enter(f);
  if (sf == NULL) return eio();
  sf->sim->counts.pwrite++;
  return write_at(sf, buf, size, offset);
}

/* A gathered write is one write of the concatenated pieces: the same
 * faults (a failing one lands a prefix of the whole), budget and power-cut
 * model as pwrite, and it counts as a pwrite too. */
static int sim_pwritev(pb__file *f, const pb__iovec *iov, int n,
                       uint64_t offset) {
  assert(n >= 1 && n <= PB__IO_IOV_MAX);
  size_t size = 0;
  for (int i = 0; i < n; i++) size += iov[i].len;
  uint8_t *buf = xmalloc(size ? size : 1);
  size_t at = 0;
  for (int i = 0; i < n; i++) {
    if (iov[i].len > 0) memcpy(buf + at, iov[i].base, iov[i].len);
    at += iov[i].len;
  }
  sim_file *sf = enter(f);
  if (sf == NULL) {
    free(buf);
    return eio();
  }
  sf->sim->counts.pwrite++;
  sf->sim->counts.pwritev++;
  int rc = write_at(sf, buf, size, offset);
  free(buf);
  return rc;
}

/* datasync and sync: the hook, then the log becomes durable. */
static int sync_file(pb__file *f, pb__simfs_op op) {
  sim_file *sf = enter(f);
  if (sf == NULL) return eio();
  pb__simfs *sim = sf->sim;
  if (op == PB__SIMFS_DATASYNC)
    sim->counts.datasync++;
  else
    sim->counts.sync++;
  if (crash_due(sim)) return done(sim, PB_EIO);
  pb__simfs_sync_hook hook = sim->hook;
  void *arg = sim->hook_arg;
  if (hook != NULL) {
    pthread_mutex_unlock(&sim->mu);
    hook(arg, op, sf->path);
    if (enter(f) == NULL) return eio(); /* the power went meanwhile */
  }
  int rc = take_fault(sim, op, NULL);
  if (rc != PB_OK) return done(sim, rc); /* the log stays unsynced */
  inode *ino = sf->ino;
  if (ino->unwritten_dirty) sim->counts.unwritten_syncs++;
  ino->unwritten_dirty = false;
  for (size_t i = 0; i < ino->nlog; i++) change_apply(&ino->log[i], &ino->dur);
  log_clear(ino);
  assert(ino->dur.len == ino->vol.len);
  return done(sim, PB_OK);
}

static int sim_datasync(pb__file *f) {
  return sync_file(f, PB__SIMFS_DATASYNC);
}

static int sim_sync(pb__file *f) { return sync_file(f, PB__SIMFS_SYNC); }

static int sim_truncate(pb__file *f, uint64_t size) {
  sim_file *sf = enter(f);
  if (sf == NULL) return eio();
  pb__simfs *sim = sf->sim;
  sim->counts.truncate++;
  if (crash_due(sim)) return done(sim, PB_EIO);
  if (!sf->writable) return done(sim, PB_EIO);
  int rc = take_fault(sim, PB__SIMFS_TRUNCATE, NULL);
  if (rc != PB_OK) return done(sim, rc);
  vol_resize(sim, sf->ino, (size_t)size);
  if (sf->ino->written > size) sf->ino->written = size;
  log_push(sf->ino, (change){.kind = CH_TRUNCATE, .len = size});
  return done(sim, PB_OK);
}

/* Grows like a truncate (zeros; a cut may drop the growth), but all or
 * nothing against the space budget, as fallocate is. */
static int sim_allocate(pb__file *f, uint64_t size) {
  sim_file *sf = enter(f);
  if (sf == NULL) return eio();
  pb__simfs *sim = sf->sim;
  sim->counts.allocate++;
  if (crash_due(sim)) return done(sim, PB_EIO);
  if (!sf->writable) return done(sim, PB_EIO);
  int rc = take_fault(sim, PB__SIMFS_ALLOCATE, NULL);
  if (rc != PB_OK) return done(sim, rc);
  uint64_t len = sf->ino->vol.len;
  if (size <= len) return done(sim, PB_OK);
  if (sim->budget != UINT64_MAX && sim->used + (size - len) > sim->budget)
    return done(sim, PB_ENOSPC);
  vol_resize(sim, sf->ino, (size_t)size);
  log_push(sf->ino, (change){.kind = CH_TRUNCATE, .len = size});
  return done(sim, PB_OK);
}

static int sim_size(pb__file *f, uint64_t *out) {
  sim_file *sf = enter(f);
  if (sf == NULL) return eio();
  *out = sf->ino->vol.len;
  return done(sf->sim, PB_OK);
}

static int sim_lock(pb__file *f) {
  sim_file *sf = enter(f);
  if (sf == NULL) return eio();
  int rc = PB_OK;
  if (sf->ino->lock_owner != NULL && sf->ino->lock_owner != sf)
    rc = PB_ELOCKED;
  else
    sf->ino->lock_owner = sf;
  return done(sf->sim, rc);
}

static int sim_unlock(pb__file *f) {
  sim_file *sf = enter(f);
  if (sf == NULL) return eio();
  if (sf->ino->lock_owner == sf) sf->ino->lock_owner = NULL;
  return done(sf->sim, PB_OK);
}

/* --- Path operations --- */

static pb__simfs *sim_of(const pb__io *io) { return io->ctx; }

/* Takes the mutex; false (mutex released, errno EIO) when dead. */
static bool enter_io(pb__simfs *sim) {
  pthread_mutex_lock(&sim->mu);
  if (!sim->dead) return true;
  pthread_mutex_unlock(&sim->mu);
  errno = EIO;
  return false;
}

static int sim_open(const pb__io *io, const char *path, unsigned flags,
                    pb__file **out) {
  assert(((flags & PB__IO_READ) != 0) != ((flags & PB__IO_WRITE) != 0));
  pb__simfs *sim = sim_of(io);
  if (!enter_io(sim)) return PB_EIO;
  sim->counts.open++;
  if ((flags & PB__IO_CREATE) && crash_due(sim)) return done(sim, PB_EIO);
  int rc = take_fault(sim, PB__SIMFS_OPEN, NULL);
  if (rc != PB_OK) return done(sim, rc);
  inode *dir;
  char leaf[256];
  rc = resolve_parent(sim, path, &dir, leaf);
  if (rc != PB_OK) return done(sim, rc);
  long i = view_find(&dir->vview, leaf);
  inode *ino;
  if (i >= 0) {
    ino = dir->vview.v[i].ino;
    if ((flags & PB__IO_CREATE) && (flags & PB__IO_EXCL))
      return done(sim, PB_EEXIST);
    if (ino->is_dir) return done(sim, PB_EIO); /* EISDIR */
  } else {
    if (!(flags & PB__IO_CREATE)) return done(sim, PB_ENOTFOUND);
    ino = inode_new(sim->gen, false);
    view_add(&dir->vview, leaf, ino);
  }
  sim_file *sf = calloc(1, sizeof *sf);
  if (sf == NULL) abort();
  sf->base.io = io;
  sf->sim = sim;
  sf->ino = ino;
  sf->gen = sim->gen;
  sf->writable = (flags & PB__IO_WRITE) != 0;
  sf->path = xstrdup(path);
  ino->refs++;
  sim->handles++;
  *out = &sf->base;
  return done(sim, PB_OK);
}

static int sim_unlink(const pb__io *io, const char *path) {
  pb__simfs *sim = sim_of(io);
  if (!enter_io(sim)) return PB_EIO;
  if (crash_due(sim)) return done(sim, PB_EIO);
  inode *dir;
  char leaf[256];
  int rc = resolve_parent(sim, path, &dir, leaf);
  if (rc != PB_OK) return done(sim, rc);
  long i = view_find(&dir->vview, leaf);
  if (i < 0) return done(sim, PB_ENOTFOUND);
  if (dir->vview.v[i].ino->is_dir) return done(sim, PB_EIO); /* EISDIR */
  view_remove(sim, &dir->vview, (size_t)i);
  return done(sim, PB_OK);
}

static int sim_rename(const pb__io *io, const char *from, const char *to) {
  pb__simfs *sim = sim_of(io);
  if (!enter_io(sim)) return PB_EIO;
  if (crash_due(sim)) return done(sim, PB_EIO);
  inode *fdir, *tdir;
  char fleaf[256], tleaf[256];
  int rc = resolve_parent(sim, from, &fdir, fleaf);
  if (rc == PB_OK) rc = resolve_parent(sim, to, &tdir, tleaf);
  if (rc != PB_OK) return done(sim, rc);
  long fi = view_find(&fdir->vview, fleaf);
  if (fi < 0) return done(sim, PB_ENOTFOUND);
  inode *ino = fdir->vview.v[fi].ino;
  if (fdir == tdir && strcmp(fleaf, tleaf) == 0) return done(sim, PB_OK);
  long ti = view_find(&tdir->vview, tleaf);
  if (ti >= 0 && (tdir->vview.v[ti].ino->is_dir || ino->is_dir))
    return done(sim, PB_EIO); /* the tests rename files only */
  ino->refs++; /* keep it alive between the removal and the add */
  if (ti >= 0) view_remove(sim, &tdir->vview, (size_t)ti);
  fi = view_find(&fdir->vview, fleaf); /* removal may have moved it */
  view_remove(sim, &fdir->vview, (size_t)fi);
  view_add(&tdir->vview, tleaf, ino);
  inode_unref(sim, ino);
  return done(sim, PB_OK);
}

static int sim_mkdir(const pb__io *io, const char *path) {
  pb__simfs *sim = sim_of(io);
  if (!enter_io(sim)) return PB_EIO;
  if (crash_due(sim)) return done(sim, PB_EIO);
  inode *dir;
  char leaf[256];
  int rc = resolve_parent(sim, path, &dir, leaf);
  if (rc != PB_OK) return done(sim, rc);
  if (view_find(&dir->vview, leaf) >= 0) return done(sim, PB_EEXIST);
  view_add(&dir->vview, leaf, inode_new(sim->gen, true));
  return done(sim, PB_OK);
}

static int sim_sync_dir(const pb__io *io, const char *path) {
  pb__simfs *sim = sim_of(io);
  if (!enter_io(sim)) return PB_EIO;
  sim->counts.sync_dir++;
  if (crash_due(sim)) return done(sim, PB_EIO);
  int rc = take_fault(sim, PB__SIMFS_SYNC_DIR, NULL);
  if (rc != PB_OK) return done(sim, rc);
  inode *dir = resolve(sim, path);
  if (dir == NULL) return done(sim, PB_ENOTFOUND);
  if (!dir->is_dir) return done(sim, PB_EIO); /* ENOTDIR */
  /* Add the new references before dropping the old ones, so an inode in
   * both views is never freed in between. */
  dirview nv = {0};
  for (size_t i = 0; i < dir->vview.n; i++)
    view_add(&nv, dir->vview.v[i].name, dir->vview.v[i].ino);
  view_clear(sim, &dir->dview);
  dir->dview = nv;
  return done(sim, PB_OK);
}

static int sim_list_dir(const pb__io *io, const char *path, pb__io_dir_fn fn,
                        void *arg) {
  pb__simfs *sim = sim_of(io);
  if (!enter_io(sim)) return PB_EIO;
  inode *dir = resolve(sim, path);
  if (dir == NULL) return done(sim, PB_ENOTFOUND);
  if (!dir->is_dir) return done(sim, PB_EIO);
  size_t n = dir->vview.n;
  char **names = xmalloc(n * sizeof *names);
  for (size_t i = 0; i < n; i++) names[i] = xstrdup(dir->vview.v[i].name);
  pthread_mutex_unlock(&sim->mu);
  int rc = PB_OK;
  for (size_t i = 0; i < n && rc == 0; i++) rc = fn(arg, names[i]);
  for (size_t i = 0; i < n; i++) free(names[i]);
  free(names);
  return rc;
}

/* --- Creation and knobs --- */

pb__simfs *pb__simfs_new(void) {
  pb__simfs *sim = calloc(1, sizeof *sim);
  if (sim == NULL) return NULL;
  pthread_mutex_init(&sim->mu, NULL);
  sim->root = inode_new(0, true);
  sim->root->refs = 1;
  sim->budget = UINT64_MAX;
  sim->io = (pb__io){
      .name = "simfs",
      .ctx = sim,
      .open = sim_open,
      .close = sim_close,
      .pread = sim_pread,
      .pwrite = sim_pwrite,
      .pwritev = sim_pwritev,
      .datasync = sim_datasync,
      .sync = sim_sync,
      .truncate = sim_truncate,
      .allocate = sim_allocate,
      .size = sim_size,
      .lock = sim_lock,
      .unlock = sim_unlock,
      .map = NULL, /* the file tier keeps heap copies */
      .unmap = NULL,
      .unlink = sim_unlink,
      .rename = sim_rename,
      .mkdir = sim_mkdir,
      .sync_dir = sim_sync_dir,
      .list_dir = sim_list_dir,
  };
  return sim;
}

void pb__simfs_free(pb__simfs *sim) {
  if (sim == NULL) return;
  assert(sim->handles == 0 && "close every handle before pb__simfs_free");
  inode_unref(sim, sim->root);
  if (sim->next_root != NULL) inode_unref(sim, sim->next_root);
  pthread_mutex_destroy(&sim->mu);
  free(sim);
}

const pb__io *pb__simfs_io(pb__simfs *sim) { return &sim->io; }

void pb__simfs_counts_get(pb__simfs *sim, pb__simfs_counts *out) {
  pthread_mutex_lock(&sim->mu);
  *out = sim->counts;
  pthread_mutex_unlock(&sim->mu);
}

void pb__simfs_reset_counts(pb__simfs *sim) {
  pthread_mutex_lock(&sim->mu);
  sim->counts = (pb__simfs_counts){0};
  pthread_mutex_unlock(&sim->mu);
}

void pb__simfs_fail(pb__simfs *sim, pb__simfs_op op, unsigned nth, int code,
                    size_t partial) {
  assert(op < PB__SIMFS_N_OPS && (nth == 0 || code < 0));
  pthread_mutex_lock(&sim->mu);
  sim->faults[op] = (fault){.nth = nth, .code = code, .partial = partial};
  pthread_mutex_unlock(&sim->mu);
}

bool pb__simfs_fault_pending(pb__simfs *sim, pb__simfs_op op) {
  assert(op < PB__SIMFS_N_OPS);
  pthread_mutex_lock(&sim->mu);
  bool pending = sim->faults[op].nth > 0;
  pthread_mutex_unlock(&sim->mu);
  return pending;
}

void pb__simfs_set_space(pb__simfs *sim, uint64_t bytes) {
  pthread_mutex_lock(&sim->mu);
  sim->budget = bytes;
  pthread_mutex_unlock(&sim->mu);
}

uint64_t pb__simfs_space_used(pb__simfs *sim) {
  pthread_mutex_lock(&sim->mu);
  uint64_t used = sim->used;
  pthread_mutex_unlock(&sim->mu);
  return used;
}

void pb__simfs_set_sync_hook(pb__simfs *sim, pb__simfs_sync_hook fn,
                             void *arg) {
  pthread_mutex_lock(&sim->mu);
  sim->hook = fn;
  sim->hook_arg = arg;
  pthread_mutex_unlock(&sim->mu);
}

void pb__simfs_crash(pb__simfs *sim, uint64_t seed) {
  pthread_mutex_lock(&sim->mu);
  crash_locked(sim, seed);
  pthread_mutex_unlock(&sim->mu);
}

void pb__simfs_crash_at(pb__simfs *sim, unsigned nth, uint64_t seed) {
  pthread_mutex_lock(&sim->mu);
  sim->crash_at = nth;
  sim->crash_seed = seed;
  pthread_mutex_unlock(&sim->mu);
}

bool pb__simfs_is_dead(pb__simfs *sim) {
  pthread_mutex_lock(&sim->mu);
  bool dead = sim->dead;
  pthread_mutex_unlock(&sim->mu);
  return dead;
}

void pb__simfs_revive(pb__simfs *sim) {
  pthread_mutex_lock(&sim->mu);
  if (sim->dead) {
    inode *old = sim->root;
    sim->gen++; /* old inodes stop counting toward the budget */
    sim->root = sim->next_root;
    sim->next_root = NULL;
    sim->used = sim->next_used;
    inode_unref(sim, old); /* open old handles keep their inodes */
    memset(sim->faults, 0, sizeof sim->faults);
    sim->crash_at = 0;
    sim->dead = false;
  }
  pthread_mutex_unlock(&sim->mu);
}

/* --- Direct access --- */

/* The live file at `path` with the mutex taken, or an error (released). */
static int find_file(pb__simfs *sim, const char *path, inode **out) {
  if (!enter_io(sim)) return PB_EIO;
  inode *ino = resolve(sim, path);
  if (ino == NULL) return done(sim, PB_ENOTFOUND);
  if (ino->is_dir) return done(sim, PB_EIO);
  *out = ino;
  return PB_OK;
}

int pb__simfs_read_file(pb__simfs *sim, const char *path, uint8_t **data,
                        size_t *len) {
  inode *ino;
  int rc = find_file(sim, path, &ino);
  if (rc != PB_OK) return rc;
  *len = ino->vol.len;
  *data = malloc(ino->vol.len ? ino->vol.len : 1);
  if (*data == NULL) return done(sim, PB_ENOMEM);
  if (ino->vol.len > 0) memcpy(*data, ino->vol.data, ino->vol.len);
  return done(sim, PB_OK);
}

int pb__simfs_write_file(pb__simfs *sim, const char *path, const void *data,
                         size_t len) {
  inode *ino;
  int rc = find_file(sim, path, &ino);
  if (rc != PB_OK) return rc;
  log_clear(ino);
  vol_resize(sim, ino, 0);
  vol_resize(sim, ino, len);
  if (len > 0) memcpy(ino->vol.data, data, len);
  content_copy(&ino->dur, &ino->vol);
  return done(sim, PB_OK);
}

bool pb__simfs_exists(pb__simfs *sim, const char *path) {
  if (!enter_io(sim)) return false;
  bool found = resolve(sim, path) != NULL;
  pthread_mutex_unlock(&sim->mu);
  return found;
}
