/*
 * tools/pbtool/store.c - opening a store, messages, the progress bar and
 * the list of segment files.
 */
#include <dirent.h>
#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "pbtool.h"

void pbt_err(const char *cmd, const char *fmt, ...) {
  va_list ap;
  fflush(stdout);
  fprintf(stderr, "pbtool %s: ", cmd);
  va_start(ap, fmt);
  vfprintf(stderr, fmt, ap);
  va_end(ap);
  fputc('\n', stderr);
}

int pbt_exit_for(int rc) {
  return rc == PB_ECORRUPT || rc == PB_EVERSION ? PBT_EXIT_PROBLEMS
                                                : PBT_EXIT_USAGE;
}

int pbt_open(const char *cmd, const char *dir, bool writable,
             pbt_store *out) {
  memset(out, 0, sizeof *out);
  out->dir = dir;
  struct stat sb;
  if (stat(dir, &sb) != 0 || !S_ISDIR(sb.st_mode)) {
    pbt_err(cmd, "%s: no such store (not a directory)", dir);
    return PBT_EXIT_USAGE;
  }
  pb_file_options fo;
  pb_file_options_init(&fo);
  fo.read_only = !writable;
  int rc = pb_storage_open_file(dir, &fo, &out->st);
  if (rc == PB_OK) {
    rc = pb_space_open(out->st, &out->sp);
    if (rc != PB_OK) out->sp = NULL;
  }
  if (rc != PB_OK) {
    const char *d = pb_errdetail();
    pbt_err(cmd, "%s: cannot open the store: %s%s%s%s", dir, pb_strerror(rc),
            d && *d ? " (" : "", d && *d ? d : "", d && *d ? ")" : "");
    out->st = NULL;
    return pbt_exit_for(rc);
  }
  return PBT_EXIT_OK;
}

int pbt_open_salvage(const char *dir, pbt_store *out,
                     pb_salvage_report *rep) {
  memset(out, 0, sizeof *out);
  out->dir = dir;
  pb_file_options fo;
  pb_file_options_init(&fo);
  fo.read_only = true;
  fo.salvage = true;
  int rc = pb_storage_open_file(dir, &fo, &out->st);
  if (rc != PB_OK) {
    out->st = NULL;
    return rc;
  }
  rc = pb_storage_salvage_report(out->st, rep);
  if (rc == PB_OK) {
    rc = pb_space_open(out->st, &out->sp); /* owns st, also on failure */
  } else {
    pb_storage_close(out->st);
  }
  if (rc != PB_OK) {
    out->sp = NULL;
    out->st = NULL;
  }
  return rc;
}

void pbt_close(pbt_store *s) {
  if (s->sp) pb_space_close(s->sp);
  s->sp = NULL;
  s->st = NULL;
}

/* --- Progress bar. --- */

static uint64_t now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

void pbt_progress_start(pbt_progress *p, const char *label, uint64_t total) {
  memset(p, 0, sizeof *p);
  p->on = isatty(STDERR_FILENO) == 1;
  p->label = label;
  p->total = total;
  p->last_pct = -1;
  if (p->on) pbt_progress_set(p, 0);
}

void pbt_progress_set(pbt_progress *p, uint64_t done) {
  if (!p || !p->on) return;
  int pct = p->total ? (int)(done >= p->total ? 100 : done * 100 / p->total)
                     : 0;
  uint64_t t = now_ms();
  if (pct == p->last_pct || (t - p->last_drawn_ms < 100 && pct != 100))
    return;
  p->last_pct = pct;
  p->last_drawn_ms = t;
  char bar[31];
  int full = pct * 30 / 100;
  for (int i = 0; i < 30; i++) bar[i] = i < full ? '#' : '.';
  bar[30] = '\0';
  fprintf(stderr, "\r%-8s [%s] %3d%%", p->label, bar, pct);
  fflush(stderr);
}

void pbt_progress_end(pbt_progress *p) {
  if (!p || !p->on) return;
  if (p->last_pct != 100) {
    p->last_pct = -1;
    p->last_drawn_ms = 0;
    pbt_progress_set(p, p->total);
  }
  fputc('\n', stderr);
  p->on = false;
}

/* --- Segment files. --- */

static int by_name(const void *a, const void *b) {
  return strcmp(*(char *const *)a, *(char *const *)b);
}

int pbt_segments(const char *dir, char ***names, uint64_t **sizes) {
  *names = NULL;
  *sizes = NULL;
  DIR *d = opendir(dir);
  if (!d) return -1;
  int n = 0, cap = 0;
  struct dirent *e;
  while ((e = readdir(d)) != NULL) {
    size_t len = strlen(e->d_name);
    if (strncmp(e->d_name, "seg-", 4) != 0 || len < 8 ||
        strcmp(e->d_name + len - 4, ".wal") != 0)
      continue;
    if (n == cap) {
      cap = cap ? cap * 2 : 8;
      char **g = realloc(*names, (size_t)cap * sizeof *g);
      if (!g) break;
      *names = g;
    }
    (*names)[n] = strdup(e->d_name);
    if (!(*names)[n]) break;
    n++;
  }
  closedir(d);
  if (n) qsort(*names, (size_t)n, sizeof **names, by_name);
  *sizes = calloc((size_t)n + 1, sizeof **sizes);
  if (!*sizes) {
    pbt_segments_free(*names, NULL, n);
    *names = NULL;
    errno = ENOMEM;
    return -1;
  }
  for (int i = 0; i < n; i++) {
    char path[4096];
    struct stat sb;
    snprintf(path, sizeof path, "%s/%s", dir, (*names)[i]);
    (*sizes)[i] = stat(path, &sb) == 0 ? (uint64_t)sb.st_size : 0;
  }
  return n;
}

void pbt_segments_free(char **names, uint64_t *sizes, int n) {
  for (int i = 0; i < n; i++) free(names[i]);
  free(names);
  free(sizes);
}

/* --- Databases. --- */

static int add_name(void *arg, const char *name) {
  pbt_names *a = arg;
  char **g = realloc(a->v, (a->n + 1) * sizeof *g);
  if (!g) return PB_ENOMEM;
  a->v = g;
  if (!(g[a->n] = strdup(name))) return PB_ENOMEM;
  a->n++;
  return 0;
}

int pbt_databases(pb_space *sp, pbt_names *out) {
  memset(out, 0, sizeof *out);
  return pb_space_list(sp, add_name, out);
}

void pbt_names_free(pbt_names *n) {
  for (size_t i = 0; i < n->n; i++) free(n->v[i]);
  free(n->v);
  memset(n, 0, sizeof *n);
}

int pbt_db_begin(pb_space *sp, const char *name, pbt_dbview *out) {
  memset(out, 0, sizeof *out);
  out->name = name;
  int rc = pb_db_open(sp, name, 0, &out->db);
  if (rc == PB_OK) rc = pb_txn_begin(out->db, PB_RDONLY, &out->txn);
  if (rc == PB_OK) {
    rc = pbt_catalog_load(out->txn, &out->cat);
    out->have_cat = rc == PB_OK;
  }
  if (rc != PB_OK) pbt_db_end(out);
  return rc;
}

void pbt_db_end(pbt_dbview *v) {
  if (v->have_cat) pbt_catalog_free(&v->cat);
  if (v->txn) pb_txn_abort(v->txn);
  if (v->db) pb_db_close(v->db);
  v->have_cat = false;
  v->txn = NULL;
  v->db = NULL;
}
