/*
 * util.h - memory helpers shared by every stage of pbc.
 *
 * pbc is a short-lived batch program, so it keeps memory management simple:
 *
 *   - pbc_x* allocate or exit: an out-of-memory condition prints
 *     "pbc: error: out of memory" and exits with status 2 (an I/O-class
 *     failure), so no caller has to handle NULL;
 *   - the whole AST of every loaded file lives in one pbc_arena, freed at
 *     once at the end.  This is what makes bison's error recovery leak-free
 *     without %destructor rules: discarded values are simply never freed
 *     one by one;
 *   - pbc_vec is a growable array of pointers stored in the arena;
 *   - pbc_strbuf is a growable heap string used to build generated files
 *     in memory before they are written atomically.
 */
#ifndef PBC_UTIL_H
#define PBC_UTIL_H

#include <stdarg.h>
#include <stddef.h>

#if defined(__GNUC__)
#define PBC_PRINTF(fmt, args) __attribute__((format(printf, fmt, args)))
#define PBC_NORETURN __attribute__((noreturn))
#else
#define PBC_PRINTF(fmt, args)
#define PBC_NORETURN
#endif

/* --- Checked heap allocation (exit(2) on failure). --- */

void *pbc_xmalloc(size_t size);
void *pbc_xcalloc(size_t count, size_t size);
void *pbc_xrealloc(void *ptr, size_t size);
char *pbc_xstrdup(const char *s);
char *pbc_xstrndup(const char *s, size_t len);
/** Prints the out-of-memory message and exits with status 2. */
PBC_NORETURN void pbc_out_of_memory(void);

/* --- Arena: many small allocations, one free. --- */

typedef struct pbc_arena_block pbc_arena_block;

typedef struct pbc_arena {
  pbc_arena_block *head; /* newest block; each block links to the older one */
} pbc_arena;

void pbc_arena_init(pbc_arena *a);
/** Returns `size` zeroed bytes aligned for any type, valid until freed. */
void *pbc_arena_alloc(pbc_arena *a, size_t size);
/** Copies `len` bytes of `s` into the arena and adds a terminating NUL. */
char *pbc_arena_strndup(pbc_arena *a, const char *s, size_t len);
char *pbc_arena_strdup(pbc_arena *a, const char *s);
/** Frees every block.  The arena may be reused after pbc_arena_init. */
void pbc_arena_free(pbc_arena *a);

/* --- A growable array of pointers, stored in an arena. --- */

typedef struct pbc_vec {
  void **items; /* items[0 .. len) */
  size_t len;   /* number of items */
  size_t cap;   /* allocated slots */
} pbc_vec;

/** Appends `item`.  Growing copies into a new arena chunk (doubling). */
void pbc_vec_push(pbc_arena *a, pbc_vec *v, void *item);

/* --- A growable NUL-terminated heap string. --- */

typedef struct pbc_strbuf {
  char *data; /* NUL-terminated once anything was appended, else NULL */
  size_t len; /* bytes before the NUL */
  size_t cap; /* bytes allocated */
} pbc_strbuf;

void pbc_sb_init(pbc_strbuf *sb);
void pbc_sb_free(pbc_strbuf *sb);
void pbc_sb_putn(pbc_strbuf *sb, const char *s, size_t len);
void pbc_sb_puts(pbc_strbuf *sb, const char *s);
void pbc_sb_putc(pbc_strbuf *sb, char c);
void pbc_sb_printf(pbc_strbuf *sb, const char *fmt, ...) PBC_PRINTF(2, 3);
void pbc_sb_vprintf(pbc_strbuf *sb, const char *fmt, va_list ap);
/** Appends `count` copies of `c`. */
void pbc_sb_pad(pbc_strbuf *sb, char c, size_t count);
/** Returns the text so far ("" when empty); owned by the buffer. */
const char *pbc_sb_str(const pbc_strbuf *sb);

/* --- Small path helpers. --- */

/** Returns a pointer to the last component of `path` (after the last '/'). */
const char *pbc_basename(const char *path);
/** Returns a heap copy of the directory part of `path`, or "." if none. */
char *pbc_dirname(const char *path);
/** Returns a heap string "dir/name" ("name" alone when dir is "."). */
char *pbc_path_join(const char *dir, const char *name);

#endif /* PBC_UTIL_H */
