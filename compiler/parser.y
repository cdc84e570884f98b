/*
 * parser.y - the grammar of the .pbs language (a pure bison parser).
 *
 *   file    := { "package" qname ";" | "import" STRING ";" | enum | record | ";" }
 *   enum    := "enum" IDENT "{" { IDENT "=" ["-"] INT ";" } "}"
 *   record  := "record" IDENT [options] "{" { member } "}"
 *   member  := ["optional"] type name "=" INT [options] ";"
 *            | "reserved" INT { "," INT } ";"
 *            | "index" name "(" name { "," name } ")" [options] ";"
 *            | ";"
 *   type    := qname | qname "<" type { "," type } ">" | type "[" "]"
 *   options := "[" option { "," option } "]"
 *   option  := IDENT [ "=" literal ]
 *   literal := ["-"] INT | ["-"] FLOAT | STRING | "true" | "false" | qname
 *   qname   := IDENT { "." IDENT }
 *   name    := IDENT or a keyword (so a field may be called `index`)
 *
 * Built-in type names (int32, string, ref, map ...) are identifiers; the
 * actions here turn them into pbc_type nodes, and report a generic type with
 * the wrong number of arguments.  Everything else (name resolution,
 * duplicates, tags, option meaning) is check.c's job.
 *
 * Error recovery: a bad member resynchronizes at the next ';', and a bad
 * top-level item at the next ';' or '}'.  Syntax errors are worded by
 * yyreport_syntax_error ("expected ';' or '[', found identifier 'bool'").
 * Every node goes into the arena, so values that error recovery discards
 * need no destructor.
 */
%code top {
#include <stdio.h>
#include <string.h>
}

%code requires {
#include "parse.h"
#ifndef YY_TYPEDEF_YY_SCANNER_T
#define YY_TYPEDEF_YY_SCANNER_T
typedef void *yyscan_t;
#endif
}

%code {
#include "lexer.h"

static void yyerror(YYLTYPE *loc, yyscan_t scanner, pbc_parse_ctx *ctx,
                    const char *msg);
static pbc_loc pbc__at(const pbc_parse_ctx *ctx, YYLTYPE l);
static pbc_vec *pbc__vec(pbc_parse_ctx *ctx, void *first);
static const char *pbc__join(pbc_parse_ctx *ctx, const pbc_vec *parts);
static pbc_type *pbc__named(pbc_parse_ctx *ctx, const pbc_vec *qname,
                            YYLTYPE l);
static pbc_type *pbc__generic(pbc_parse_ctx *ctx, const pbc_vec *qname,
                              pbc_vec *args, YYLTYPE l);
static pbc_type *pbc__array(pbc_parse_ctx *ctx, pbc_type *elem, YYLTYPE l);
static pbc_field *pbc__field(pbc_parse_ctx *ctx, YYLTYPE start, bool optional,
                             pbc_type *type, pbc_token name, YYLTYPE name_loc,
                             pbc_token tag, YYLTYPE tag_loc, pbc_vec *opts);
static pbc_literal *pbc__number(pbc_parse_ctx *ctx, YYLTYPE l, bool negative,
                                bool is_float, pbc_token tok);
static void pbc__package(pbc_parse_ctx *ctx, const pbc_vec *qname, YYLTYPE l);
}

%define api.pure full
%define parse.error custom
%define parse.lac full
%locations
%param {yyscan_t scanner}
%parse-param {pbc_parse_ctx *ctx}

%union {
  pbc_token tok;
  pbc_vec *vec;
  pbc_type *type;
  pbc_literal *lit;
  pbc_option *opt;
  pbc_field *field;
  pbc_decl *decl;
  pbc_index *index;
  pbc_enum_value *eval;
}

%token <tok> IDENT "identifier"
%token <tok> STRING "string literal"
%token <tok> INTLIT "integer"
%token <tok> FLOATLIT "number"
%token PACKAGE "package"
%token IMPORT "import"
%token ENUM "enum"
%token RECORD "record"
%token OPTIONAL "optional"
%token RESERVED "reserved"
%token INDEX "index"
%token TRUE "true"
%token FALSE "false"

%type <vec> qname type_args options option_list reserved_tags index_fields
%type <type> type
%type <lit> literal
%type <opt> option
%type <field> field
%type <decl> record_body enum_body
%type <index> index_decl
%type <eval> enum_value
%type <tok> name

%%

file
  : %empty
  | file item
  ;

item
  : PACKAGE qname ';'         { pbc__package(ctx, $2, @2); }
  | IMPORT STRING ';'
      {
        pbc_import *imp = pbc_arena_alloc(ctx->arena, sizeof *imp);
        imp->path = $2.s;
        imp->len = $2.len;
        imp->loc = pbc__at(ctx, @2);
        pbc_vec_push(ctx->arena, &ctx->file->imports, imp);
      }
  | enum_decl
  | record_decl
  | ';'
  | error ';'
  | error '}'                 /* no yyerrok: a stray '}' after a bad record
                                 header must not be a second error */
  ;

qname
  : IDENT                     { $$ = pbc__vec(ctx, (void *)$1.s); }
  | qname '.' IDENT           { $$ = $1; pbc_vec_push(ctx->arena, $$, (void *)$3.s); }
  ;

name
  : IDENT
  | PACKAGE                   { $$.s = "package"; $$.len = 7; }
  | IMPORT                    { $$.s = "import"; $$.len = 6; }
  | ENUM                      { $$.s = "enum"; $$.len = 4; }
  | RECORD                    { $$.s = "record"; $$.len = 6; }
  | OPTIONAL                  { $$.s = "optional"; $$.len = 8; }
  | RESERVED                  { $$.s = "reserved"; $$.len = 8; }
  | INDEX                     { $$.s = "index"; $$.len = 5; }
  ;

/* --- enum --- */

enum_decl
  : ENUM IDENT '{' enum_body '}'
      {
        pbc_decl *d = $4;
        d->name = $2.s;
        d->loc = pbc__at(ctx, @2);
        d->doc = pbc_doc_take(ctx->file, @1.first_line, @1.first_column);
        d->file = ctx->file;
        pbc_vec_push(ctx->arena, &ctx->file->decls, d);
      }
  ;

enum_body
  : %empty                    { $$ = pbc_decl_new(ctx->arena, PBC_DECL_ENUM); }
  | enum_body enum_value      { $$ = $1; pbc_vec_push(ctx->arena, &$$->values, $2); }
  | enum_body ';'             { $$ = $1; }
  | enum_body error ';'       { $$ = $1; yyerrok; }
  ;

enum_value
  : IDENT '=' INTLIT ';'
      {
        $$ = pbc_arena_alloc(ctx->arena, sizeof *$$);
        $$->name = $1.s;
        $$->loc = pbc__at(ctx, @1);
        $$->doc = pbc_doc_take(ctx->file, @1.first_line, @1.first_column);
        $$->mag = $3.u;
        $$->num_loc = pbc__at(ctx, @3);
      }
  | IDENT '=' '-' INTLIT ';'
      {
        $$ = pbc_arena_alloc(ctx->arena, sizeof *$$);
        $$->name = $1.s;
        $$->loc = pbc__at(ctx, @1);
        $$->doc = pbc_doc_take(ctx->file, @1.first_line, @1.first_column);
        $$->negative = true;
        $$->mag = $4.u;
        $$->num_loc = pbc__at(ctx, @3);
      }
  ;

/* --- record --- */

record_decl
  : RECORD IDENT options '{' record_body '}'
      {
        pbc_decl *d = $5;
        d->name = $2.s;
        d->loc = pbc__at(ctx, @2);
        d->doc = pbc_doc_take(ctx->file, @1.first_line, @1.first_column);
        d->file = ctx->file;
        if ($3)
          d->options = *$3;
        pbc_vec_push(ctx->arena, &ctx->file->decls, d);
      }
  ;

record_body
  : %empty                    { $$ = pbc_decl_new(ctx->arena, PBC_DECL_RECORD); }
  | record_body field         { $$ = $1; pbc_vec_push(ctx->arena, &$$->fields, $2); }
  | record_body RESERVED reserved_tags ';'
      {
        $$ = $1;
        for (size_t i = 0; i < $3->len; i++)
          pbc_vec_push(ctx->arena, &$$->reserved, $3->items[i]);
      }
  | record_body index_decl    { $$ = $1; pbc_vec_push(ctx->arena, &$$->indexes, $2); }
  | record_body ';'           { $$ = $1; }
  | record_body error ';'     { $$ = $1; yyerrok; }
  ;

field
  : type name '=' INTLIT options ';'
      { $$ = pbc__field(ctx, @$, false, $1, $2, @2, $4, @4, $5); }
  | OPTIONAL type name '=' INTLIT options ';'
      { $$ = pbc__field(ctx, @$, true, $2, $3, @3, $5, @5, $6); }
  ;

reserved_tags
  : INTLIT
      {
        pbc_reserved *r = pbc_arena_alloc(ctx->arena, sizeof *r);
        r->tag = $1.u;
        r->loc = pbc__at(ctx, @1);
        $$ = pbc__vec(ctx, r);
      }
  | reserved_tags ',' INTLIT
      {
        pbc_reserved *r = pbc_arena_alloc(ctx->arena, sizeof *r);
        r->tag = $3.u;
        r->loc = pbc__at(ctx, @3);
        $$ = $1;
        pbc_vec_push(ctx->arena, $$, r);
      }
  ;

index_decl
  : INDEX name '(' index_fields ')' options ';'
      {
        $$ = pbc_arena_alloc(ctx->arena, sizeof *$$);
        $$->name = $2.s;
        $$->loc = pbc__at(ctx, @2);
        $$->fields = *$4;
        if ($6)
          $$->options = *$6;
      }
  ;

index_fields
  : name
      {
        pbc_ident *id = pbc_arena_alloc(ctx->arena, sizeof *id);
        id->name = $1.s;
        id->loc = pbc__at(ctx, @1);
        $$ = pbc__vec(ctx, id);
      }
  | index_fields ',' name
      {
        pbc_ident *id = pbc_arena_alloc(ctx->arena, sizeof *id);
        id->name = $3.s;
        id->loc = pbc__at(ctx, @3);
        $$ = $1;
        pbc_vec_push(ctx->arena, $$, id);
      }
  ;

/* --- types --- */

type
  : qname                     { $$ = pbc__named(ctx, $1, @1); }
  | qname '<' type_args '>'   { $$ = pbc__generic(ctx, $1, $3, @1); }
  | type '[' ']'              { $$ = pbc__array(ctx, $1, @1); }
  ;

type_args
  : type                      { $$ = pbc__vec(ctx, $1); }
  | type_args ',' type        { $$ = $1; pbc_vec_push(ctx->arena, $$, $3); }
  ;

/* --- options and literals --- */

options
  : %empty                    { $$ = NULL; }
  | '[' option_list ']'       { $$ = $2; }
  ;

option_list
  : option                    { $$ = pbc__vec(ctx, $1); }
  | option_list ',' option    { $$ = $1; pbc_vec_push(ctx->arena, $$, $3); }
  ;

option
  : IDENT
      {
        $$ = pbc_arena_alloc(ctx->arena, sizeof *$$);
        $$->name = $1.s;
        $$->loc = pbc__at(ctx, @1);
      }
  | IDENT '=' literal
      {
        $$ = pbc_arena_alloc(ctx->arena, sizeof *$$);
        $$->name = $1.s;
        $$->loc = pbc__at(ctx, @1);
        $$->value = $3;
      }
  ;

literal
  : INTLIT                    { $$ = pbc__number(ctx, @1, false, false, $1); }
  | '-' INTLIT                { $$ = pbc__number(ctx, @1, true, false, $2); }
  | FLOATLIT                  { $$ = pbc__number(ctx, @1, false, true, $1); }
  | '-' FLOATLIT              { $$ = pbc__number(ctx, @1, true, true, $2); }
  | STRING
      {
        $$ = pbc_literal_new(ctx->arena, PBC_LIT_STRING, pbc__at(ctx, @1));
        $$->text = $1.s;
        $$->len = $1.len;
      }
  | TRUE
      {
        $$ = pbc_literal_new(ctx->arena, PBC_LIT_BOOL, pbc__at(ctx, @1));
        $$->b = true;
      }
  | FALSE                     { $$ = pbc_literal_new(ctx->arena, PBC_LIT_BOOL, pbc__at(ctx, @1)); }
  | qname
      {
        $$ = pbc_literal_new(ctx->arena, PBC_LIT_IDENT, pbc__at(ctx, @1));
        $$->text = pbc__join(ctx, $1);
      }
  ;

%%

static pbc_loc pbc__at(const pbc_parse_ctx *ctx, YYLTYPE l) {
  return pbc_parse_loc(ctx, l.first_line, l.first_column);
}

static pbc_vec *pbc__vec(pbc_parse_ctx *ctx, void *first) {
  pbc_vec *v = pbc_arena_alloc(ctx->arena, sizeof *v);
  pbc_vec_push(ctx->arena, v, first);
  return v;
}

static const char *pbc__join(pbc_parse_ctx *ctx, const pbc_vec *parts) {
  if (parts->len == 1)
    return parts->items[0];
  size_t len = 0;
  for (size_t i = 0; i < parts->len; i++)
    len += strlen(parts->items[i]) + 1;
  char *s = pbc_arena_alloc(ctx->arena, len);
  char *p = s;
  for (size_t i = 0; i < parts->len; i++) {
    size_t n = strlen(parts->items[i]);
    memcpy(p, parts->items[i], n);
    p += n;
    *p++ = i + 1 < parts->len ? '.' : '\0';
  }
  return s;
}

static void pbc__package(pbc_parse_ctx *ctx, const pbc_vec *qname, YYLTYPE l) {
  pbc_file *f = ctx->file;
  if (f->package) {
    pbc_error(ctx->diag, pbc__at(ctx, l), "duplicate package declaration");
    pbc_note(ctx->diag, f->package_loc, "first declared here");
    return;
  }
  f->package = pbc__join(ctx, qname);
  f->package_loc = pbc__at(ctx, l);
}

static pbc_type *pbc__named(pbc_parse_ctx *ctx, const pbc_vec *qname,
                            YYLTYPE l) {
  const char *name = pbc__join(ctx, qname);
  pbc_scalar s;
  if (qname->len == 1 && pbc_scalar_lookup(name, &s)) {
    pbc_type *t = pbc_type_new(ctx->arena, PBC_TYPE_SCALAR, pbc__at(ctx, l));
    t->scalar = s;
    return t;
  }
  pbc_type *t = pbc_type_new(ctx->arena, PBC_TYPE_NAMED, pbc__at(ctx, l));
  t->name = name;
  return t;
}

/* Reports a type that just became too deep (only once per type). */
static void pbc__depth(pbc_parse_ctx *ctx, pbc_type *t) {
  if (t->depth == PBC_MAX_TYPE_DEPTH + 1)
    pbc_error(ctx->diag, t->loc, "type is nested more than %d levels deep",
              PBC_MAX_TYPE_DEPTH);
}

static pbc_type *pbc__generic(pbc_parse_ctx *ctx, const pbc_vec *qname,
                              pbc_vec *args, YYLTYPE l) {
  const char *name = pbc__join(ctx, qname);
  pbc_loc at = pbc__at(ctx, l);
  static const struct {
    const char *name;  /* generic type */
    pbc_type_kind kind;
    size_t nargs;
  } generics[] = {{"ref", PBC_TYPE_REF, 1},
                  {"list", PBC_TYPE_LIST, 1},
                  {"set", PBC_TYPE_SET, 1},
                  {"map", PBC_TYPE_MAP, 2}};
  for (size_t i = 0; i < sizeof generics / sizeof generics[0]; i++) {
    if (strcmp(name, generics[i].name) != 0)
      continue;
    if (args->len != generics[i].nargs) {
      pbc_error(ctx->diag, at, "'%s' takes %zu type argument%s, not %zu", name,
                generics[i].nargs, generics[i].nargs == 1 ? "" : "s",
                args->len);
      break;
    }
    pbc_type *t = pbc_type_new(ctx->arena, generics[i].kind, at);
    t->elem = args->items[args->len - 1];
    t->key = args->len == 2 ? args->items[0] : NULL;
    t->depth = 1 + t->elem->depth;
    if (t->key && t->key->depth + 1 > t->depth)
      t->depth = 1 + t->key->depth;
    pbc__depth(ctx, t);
    return t;
  }
  pbc_scalar s;
  if (pbc_scalar_lookup(name, &s))
    pbc_error(ctx->diag, at, "'%s' does not take type arguments", name);
  else if (qname->len > 1 || !(strcmp(name, "ref") == 0 ||
                               strcmp(name, "list") == 0 ||
                               strcmp(name, "set") == 0 ||
                               strcmp(name, "map") == 0))
    pbc_error(ctx->diag, at,
              "unknown generic type '%s' (expected ref, list, set or map)",
              name);
  return pbc__named(ctx, qname, l);
}

static pbc_type *pbc__array(pbc_parse_ctx *ctx, pbc_type *elem, YYLTYPE l) {
  pbc_type *t = pbc_type_new(ctx->arena, PBC_TYPE_ARRAY, pbc__at(ctx, l));
  t->elem = elem;
  t->depth = elem->depth + 1;
  pbc__depth(ctx, t);
  return t;
}

static pbc_field *pbc__field(pbc_parse_ctx *ctx, YYLTYPE start, bool optional,
                             pbc_type *type, pbc_token name, YYLTYPE name_loc,
                             pbc_token tag, YYLTYPE tag_loc, pbc_vec *opts) {
  pbc_field *f = pbc_arena_alloc(ctx->arena, sizeof *f);
  f->name = name.s;
  f->loc = pbc__at(ctx, name_loc);
  f->doc = pbc_doc_take(ctx->file, start.first_line, start.first_column);
  f->optional = optional;
  f->optional_loc = optional ? pbc__at(ctx, start) : f->loc;
  f->type = type;
  f->tag = tag.u;
  f->tag_loc = pbc__at(ctx, tag_loc);
  if (opts)
    f->options = *opts;
  return f;
}

static pbc_literal *pbc__number(pbc_parse_ctx *ctx, YYLTYPE l, bool negative,
                                bool is_float, pbc_token tok) {
  pbc_literal *lit = pbc_literal_new(
      ctx->arena, is_float ? PBC_LIT_FLOAT : PBC_LIT_INT, pbc__at(ctx, l));
  lit->negative = negative;
  lit->u = tok.u;
  lit->f = tok.f;
  lit->text = tok.s;
  return lit;
}

static void yyerror(YYLTYPE *loc, yyscan_t scanner, pbc_parse_ctx *ctx,
                    const char *msg) {
  (void)scanner;
  pbc_error(ctx->diag, pbc__at(ctx, *loc), "%s", msg);
}

/* How a token kind is named in messages. */
static const char *pbc__symbol(yysymbol_kind_t k) {
  switch (k) {
  case YYSYMBOL_YYEOF:
    return "end of file";
  case YYSYMBOL_IDENT:
  case YYSYMBOL_STRING:
  case YYSYMBOL_INTLIT:
  case YYSYMBOL_FLOATLIT:
    return yysymbol_name(k);
  default:
    break;
  }
  /* Keywords and punctuation: quoted as written, like 'record' or ';'. */
  static const struct {
    yysymbol_kind_t kind;
    const char *text;
  } quoted[] = {{YYSYMBOL_PACKAGE, "'package'"},   {YYSYMBOL_IMPORT, "'import'"},
                {YYSYMBOL_ENUM, "'enum'"},         {YYSYMBOL_RECORD, "'record'"},
                {YYSYMBOL_OPTIONAL, "'optional'"}, {YYSYMBOL_RESERVED, "'reserved'"},
                {YYSYMBOL_INDEX, "'index'"},       {YYSYMBOL_TRUE, "'true'"},
                {YYSYMBOL_FALSE, "'false'"}};
  for (size_t i = 0; i < sizeof quoted / sizeof quoted[0]; i++)
    if (quoted[i].kind == k)
      return quoted[i].text;
  return yysymbol_name(k); /* character tokens are already ';' */
}

/*
 * Words a syntax error: "expected X, Y or Z, found W" when there are few
 * expected tokens, else "unexpected W".  W names the lookahead token and,
 * for identifiers and numbers, shows its text.
 */
static int yyreport_syntax_error(const yypcontext_t *yyctx, yyscan_t scanner,
                                 pbc_parse_ctx *ctx) {
  (void)scanner;
  enum { MAX_LISTED = 5 };
  yysymbol_kind_t la = yypcontext_token(yyctx);
  if (la == YYSYMBOL_YYEOF && ctx->eof_reported)
    return 0; /* the lexer already said why the input ended early */
  yysymbol_kind_t expected[YYNTOKENS];
  int n = yypcontext_expected_tokens(yyctx, expected, YYNTOKENS);
  if (n < 0)
    return n; /* LAC ran out of memory: bison reports it */
  if (n > MAX_LISTED) {
    /* Too many to list.  At the end of the input, say what closes it. */
    int brace = -1;
    for (int i = 0; i < n; i++)
      if (strcmp(yysymbol_name(expected[i]), "'}'") == 0)
        brace = i;
    if (la == YYSYMBOL_YYEOF && brace >= 0) {
      expected[0] = expected[brace];
      n = 1;
    } else {
      n = 0;
    }
  }

  pbc_strbuf msg;
  pbc_sb_init(&msg);
  if (n > 0) {
    pbc_sb_puts(&msg, "expected ");
    for (int i = 0; i < n; i++) {
      if (i > 0)
        pbc_sb_puts(&msg, i + 1 == n ? " or " : ", ");
      pbc_sb_puts(&msg, pbc__symbol(expected[i]));
    }
    pbc_sb_puts(&msg, ", found ");
  } else {
    pbc_sb_puts(&msg, "unexpected ");
  }
  pbc_sb_puts(&msg, pbc__symbol(la));
  if (la == YYSYMBOL_IDENT || la == YYSYMBOL_INTLIT || la == YYSYMBOL_FLOATLIT) {
    size_t len = ctx->tok_len > 40 ? 40 : ctx->tok_len;
    pbc_sb_printf(&msg, " '%.*s'", (int)len,
                  ctx->file->src->text + ctx->tok_offset);
  }
  pbc_error(ctx->diag, pbc__at(ctx, *yypcontext_location(yyctx)), "%s",
            pbc_sb_str(&msg));
  pbc_sb_free(&msg);
  return 0;
}

bool pbc_parse_file(pbc_arena *arena, pbc_diag *diag, pbc_file *f) {
  pbc_parse_ctx ctx;
  memset(&ctx, 0, sizeof ctx);
  ctx.arena = arena;
  ctx.diag = diag;
  ctx.file = f;
  ctx.errors_before = diag->errors;
  ctx.line = ctx.col = 1;
  ctx.end_line = ctx.end_col = 1;
  pbc_sb_init(&ctx.doc);

  yyscan_t scanner;
  if (yylex_init_extra(&ctx, &scanner) != 0)
    pbc_out_of_memory();
  /* The size limit (1 MiB) keeps the length well inside int. */
  YY_BUFFER_STATE buf = yy_scan_bytes(f->src->text, (int)f->src->len, scanner);
  int rc = yyparse(scanner, &ctx);
  yy_delete_buffer(buf, scanner);
  yylex_destroy(scanner);
  pbc_sb_free(&ctx.doc);

  f->syntax_ok = rc == 0 && diag->errors == ctx.errors_before;
  return f->syntax_ok;
}
