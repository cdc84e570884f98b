/*
 * parse.h - the state shared by the flex lexer (lexer.l) and the bison
 * parser (parser.y), and the entry point that parses one file.
 *
 * Both are reentrant: all state lives in one pbc_parse_ctx, which the
 * parser receives as a parse parameter and the lexer as its "extra" data.
 * There are no globals, so files can be parsed one after the other (the
 * loader parses an import while its importer's AST is complete).
 *
 * Positions: the lexer tracks line, column and byte offset itself (a column
 * counts bytes, a tab is one column), and fills bison's YYLTYPE with them.
 */
#ifndef PBC_PARSE_H
#define PBC_PARSE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ast.h"
#include "diag.h"
#include "util.h"

/** The semantic value of a token. */
typedef struct pbc_token {
  const char *s; /* IDENT, STRING, FLOATLIT: arena text (NUL-terminated) */
  size_t len;    /* bytes in s (a STRING may contain NULs) */
  uint64_t u;    /* INTLIT: the value */
  double f;      /* FLOATLIT: the value */
} pbc_token;

typedef struct pbc_parse_ctx {
  pbc_arena *arena;    /* where the AST goes */
  pbc_diag *diag;      /* where errors go */
  pbc_file *file;      /* the file being parsed */
  int errors_before;   /* diag->errors when parsing began */
  /* Lexer position: of the next byte to scan. */
  int line;            /* 1-based */
  int col;             /* 1-based */
  size_t offset;       /* byte offset */
  /* The token most recently returned (the parser's lookahead). */
  size_t tok_offset;   /* its first byte */
  size_t tok_len;      /* its length in bytes */
  int end_line;        /* position just after it */
  int end_col;
  /* Lexer bookkeeping. */
  pbc_loc comment_loc; /* start of the open block comment */
  pbc_strbuf doc;      /* /// lines seen since the last token */
  bool doc_pending;    /* doc holds a comment not yet attached */
  bool eof_reported;   /* an unterminated comment or string ran to the end
                          of the input and was reported: a syntax error at
                          the end of the input would only repeat it */
} pbc_parse_ctx;

/**
 * Parses f->src into f (package, imports, declarations).  Reports syntax
 * errors through `diag`.  Returns true when the file had no errors.
 */
bool pbc_parse_file(pbc_arena *arena, pbc_diag *diag, pbc_file *f);

/** A pbc_loc in the file being parsed. */
static inline pbc_loc pbc_parse_loc(const pbc_parse_ctx *ctx, int line,
                                    int col) {
  pbc_loc loc = {ctx->file->src, line, col};
  return loc;
}

#endif /* PBC_PARSE_H */
