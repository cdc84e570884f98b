/*
 * pbc_test_util.h - helpers shared by the pbc tests: run pbc as a child
 * process and capture its output, and manage temporary directories.
 *
 * pbc is tested as users meet it, through its command line: exit status,
 * stderr text and the files it writes.  The child's stdout and stderr go to
 * temporary files (not pipes), so a chatty child can never block.
 *
 * Everything here is static inline, so each test program includes only
 * what it uses without unused-function warnings.
 */
#ifndef PBC_TEST_UTIL_H
#define PBC_TEST_UTIL_H

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#ifndef PBC_PATH
#error "PBC_PATH (the pbc executable) must be defined by the build"
#endif

/** The outcome of one pbc run. */
typedef struct pbc_run_result {
  int status; /* exit status; 128 + signal number when killed by a signal */
  char *out;  /* everything written to stdout, NUL-terminated; heap */
  char *err;  /* everything written to stderr, NUL-terminated; heap */
} pbc_run_result;

static inline const char *pbc_test_tmpdir(void) {
  const char *t = getenv("TMPDIR");
  return t && *t ? t : "/tmp";
}

/** Reads a whole file; returns NULL if it cannot be read.  *len may be NULL. */
static inline char *pbc_read_file(const char *path, size_t *len) {
  FILE *f = fopen(path, "rb");
  if (!f)
    return NULL;
  size_t cap = 4096, n = 0;
  char *buf = malloc(cap + 1);
  size_t got;
  while (buf && (got = fread(buf + n, 1, cap - n, f)) > 0) {
    n += got;
    if (n == cap) {
      char *bigger = realloc(buf, 2 * cap + 1);
      if (!bigger) {
        free(buf);
        buf = NULL;
        break;
      }
      buf = bigger;
      cap *= 2;
    }
  }
  fclose(f);
  if (!buf)
    return NULL;
  buf[n] = '\0';
  if (len)
    *len = n;
  return buf;
}

/** Writes a whole file; returns false on failure. */
static inline bool pbc_write_file(const char *path, const void *data,
                                  size_t len) {
  FILE *f = fopen(path, "wb");
  if (!f)
    return false;
  bool ok = fwrite(data, 1, len, f) == len;
  return fclose(f) == 0 && ok;
}

/** Makes a fresh temporary directory; returns its heap path, or NULL. */
static inline char *pbc_make_tmpdir(const char *tag) {
  size_t len = strlen(pbc_test_tmpdir()) + strlen(tag) + 16;
  char *path = malloc(len);
  if (!path)
    return NULL;
  snprintf(path, len, "%s/%s-XXXXXX", pbc_test_tmpdir(), tag);
  if (!mkdtemp(path)) {
    free(path);
    return NULL;
  }
  return path;
}

/** Number of entries in a directory other than . and .., or -1. */
static inline int pbc_count_entries(const char *dir) {
  DIR *d = opendir(dir);
  if (!d)
    return -1;
  int n = 0;
  struct dirent *e;
  while ((e = readdir(d)) != NULL)
    if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0)
      n++;
  closedir(d);
  return n;
}

/** Removes a directory and the files directly inside it; frees `dir`. */
static inline void pbc_remove_tmpdir(char *dir) {
  if (!dir)
    return;
  DIR *d = opendir(dir);
  if (d) {
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
      if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
        continue;
      size_t len = strlen(dir) + strlen(e->d_name) + 2;
      char *p = malloc(len);
      if (p) {
        snprintf(p, len, "%s/%s", dir, e->d_name);
        unlink(p);
        free(p);
      }
    }
    closedir(d);
  }
  rmdir(dir);
  free(dir);
}

/** Returns a heap string "a/b". */
static inline char *pbc_join(const char *a, const char *b) {
  size_t len = strlen(a) + strlen(b) + 2;
  char *p = malloc(len);
  if (p)
    snprintf(p, len, "%s/%s", a, b);
  return p;
}

static inline int pbc__capture_fd(char *path_template) {
  int fd = mkstemp(path_template);
  if (fd >= 0)
    unlink(path_template); /* anonymous: gone when closed */
  return fd;
}

static inline char *pbc__slurp_fd(int fd) {
  size_t cap = 4096, n = 0;
  char *buf = malloc(cap + 1);
  if (!buf)
    return NULL;
  lseek(fd, 0, SEEK_SET);
  for (;;) {
    ssize_t got = read(fd, buf + n, cap - n);
    if (got < 0 && errno == EINTR)
      continue;
    if (got <= 0)
      break;
    n += (size_t)got;
    if (n == cap) {
      char *bigger = realloc(buf, 2 * cap + 1);
      if (!bigger)
        break;
      buf = bigger;
      cap *= 2;
    }
  }
  buf[n] = '\0';
  return buf;
}

/**
 * Runs pbc with `args` (argv[1..], NULL-terminated).  Returns false if the
 * child could not be started at all.
 */
static inline bool pbc_run(const char *const *args, pbc_run_result *res) {
  memset(res, 0, sizeof *res);
  size_t nargs = 0;
  while (args[nargs])
    nargs++;
  char **argv = calloc(nargs + 2, sizeof *argv);
  if (!argv)
    return false;
  argv[0] = (char *)PBC_PATH;
  for (size_t i = 0; i < nargs; i++)
    argv[i + 1] = (char *)args[i];

  size_t tlen = strlen(pbc_test_tmpdir()) + 32;
  char *tout = malloc(tlen), *terr = malloc(tlen);
  if (!tout || !terr) {
    free(tout);
    free(terr);
    free(argv);
    return false;
  }
  snprintf(tout, tlen, "%s/pbc-out-XXXXXX", pbc_test_tmpdir());
  snprintf(terr, tlen, "%s/pbc-err-XXXXXX", pbc_test_tmpdir());
  int fd_out = pbc__capture_fd(tout), fd_err = pbc__capture_fd(terr);
  free(tout);
  free(terr);
  if (fd_out < 0 || fd_err < 0) {
    if (fd_out >= 0)
      close(fd_out);
    if (fd_err >= 0)
      close(fd_err);
    free(argv);
    return false;
  }
  fflush(stdout);
  fflush(stderr);
  pid_t pid = fork();
  if (pid == 0) {
    int null_in = open("/dev/null", O_RDONLY);
    if (null_in >= 0)
      dup2(null_in, 0);
    dup2(fd_out, 1);
    dup2(fd_err, 2);
    execv(PBC_PATH, argv);
    _exit(127);
  }
  free(argv);
  bool started = pid > 0;
  if (started) {
    int st = 0;
    while (waitpid(pid, &st, 0) < 0 && errno == EINTR) {
    }
    res->status = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
    res->out = pbc__slurp_fd(fd_out);
    res->err = pbc__slurp_fd(fd_err);
  }
  close(fd_out);
  close(fd_err);
  return started && res->out && res->err;
}

static inline void pbc_run_free(pbc_run_result *res) {
  free(res->out);
  free(res->err);
  memset(res, 0, sizeof *res);
}

/** True when a sanitizer reported a problem in the child's stderr. */
static inline bool pbc_sanitizer_fired(const char *err) {
  return strstr(err, "Sanitizer") != NULL || strstr(err, "runtime error:") != NULL;
}

#endif /* PBC_TEST_UTIL_H */
