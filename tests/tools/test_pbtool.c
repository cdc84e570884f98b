/*
 * test_pbtool.c - pbtool (tools/pbtool, docs/pbtool.md) run on a fixture
 * store: every subcommand's output and exit code, `verify` on damaged
 * copies (a flipped byte in a segment; an index entry removed, and a
 * stale one added, through the runtime's internal API), `dump --json`
 * parsed back by a small JSON checker, and compact, backup and salvage
 * checked by dumping their results.
 *
 * argv[1] is the pbtool program, argv[2] the fixture schema's path.
 */
#include <errno.h>
#include <fcntl.h>
#include <pty.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "pbtool_fx.pb.h"
#include "protobase/protobase.h"
#include "protobase/key.h"
#include "table/keypack.h"
#include "storage/file.h"
#include "storage/file_format.h"
#include "txn/tcoll.h"
#include "util/endian.h"
#include "txn/txn_int.h"

static const char *pbtool;
static const char *schema;
static char root[256]; /* the scratch folder */
static char store[300];

/* --- Running pbtool. --- */

typedef struct run {
  int status;
  char *out; /* stdout */
  char *err; /* stderr */
} run;

static char *slurp(const char *path) {
  FILE *f = fopen(path, "rb");
  if (!f) return strdup("");
  size_t cap = 4096, n = 0;
  char *b = malloc(cap);
  size_t k;
  while ((k = fread(b + n, 1, cap - n - 1, f)) > 0) {
    n += k;
    if (cap - n < 2) b = realloc(b, cap *= 2);
  }
  b[n] = '\0';
  fclose(f);
  return b;
}

static void run_free(run *r) {
  free(r->out);
  free(r->err);
}

static run tool(const char *fmt, ...) {
  char args[2048], cmd[4096], outp[400], errp[400];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(args, sizeof args, fmt, ap);
  va_end(ap);
  snprintf(outp, sizeof outp, "%s/out.txt", root);
  snprintf(errp, sizeof errp, "%s/err.txt", root);
  snprintf(cmd, sizeof cmd, "'%s' %s >'%s' 2>'%s'", pbtool, args, outp, errp);
  int st = system(cmd);
  run r;
  r.status = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
  r.out = slurp(outp);
  r.err = slurp(errp);
  return r;
}

static void sh(const char *fmt, ...) {
  char cmd[2048];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(cmd, sizeof cmd, fmt, ap);
  va_end(ap);
  assert_int_equal(system(cmd), 0);
}

#define HAS(hay, needle)                                                  \
  do {                                                                    \
    if (!strstr((hay), (needle)))                                         \
      fail_msg("expected \"%s\" in:\n%s", (needle), (hay));               \
  } while (0)

/* --- A small JSON checker (RFC 8259 grammar; no semantics). --- */

static const char *ws(const char *p) {
  while (*p == ' ' || *p == '\n' || *p == '\t' || *p == '\r') p++;
  return p;
}

static const char *jvalue(const char *p, int depth);

static const char *jstring(const char *p) {
  if (*p != '"') return NULL;
  for (p++; *p != '"'; p++) {
    if ((unsigned char)*p < 0x20) return NULL;
    if (*p == '\\') {
      p++;
      if (*p == 'u') {
        for (int i = 1; i <= 4; i++)
          if (!strchr("0123456789abcdefABCDEF", p[i]) || !p[i]) return NULL;
        p += 4;
      } else if (!*p || !strchr("\"\\/bfnrt", *p)) {
        return NULL;
      }
    }
  }
  return p + 1;
}

static const char *jnumber(const char *p) {
  const char *s = p;
  if (*p == '-') p++;
  if (*p == '0') p++;
  else if (*p >= '1' && *p <= '9') while (*p >= '0' && *p <= '9') p++;
  else return NULL;
  if (*p == '.') {
    p++;
    if (*p < '0' || *p > '9') return NULL;
    while (*p >= '0' && *p <= '9') p++;
  }
  if (*p == 'e' || *p == 'E') {
    p++;
    if (*p == '+' || *p == '-') p++;
    if (*p < '0' || *p > '9') return NULL;
    while (*p >= '0' && *p <= '9') p++;
  }
  return p > s ? p : NULL;
}

static const char *jvalue(const char *p, int depth) {
  if (depth > 100) return NULL;
  p = ws(p);
  if (*p == '{' || *p == '[') {
    char close = *p == '{' ? '}' : ']';
    bool obj = *p == '{';
    p = ws(p + 1);
    if (*p == close) return p + 1;
    for (;;) {
      if (obj) {
        if (!(p = jstring(ws(p)))) return NULL;
        p = ws(p);
        if (*p++ != ':') return NULL;
      }
      if (!(p = jvalue(p, depth + 1))) return NULL;
      p = ws(p);
      if (*p == close) return p + 1;
      if (*p++ != ',') return NULL;
    }
  }
  if (*p == '"') return jstring(p);
  if (!strncmp(p, "true", 4)) return p + 4;
  if (!strncmp(p, "false", 5)) return p + 5;
  if (!strncmp(p, "null", 4)) return p + 4;
  return jnumber(p);
}

static bool json_valid(const char *s) {
  const char *p = jvalue(s, 0);
  return p && *ws(p) == '\0';
}

static void test_json_checker(void **state) {
  (void)state;
  assert_true(json_valid("{\"a\": [1, -2.5e3, \"x\\n\\u00e9\", true, null]}"));
  assert_false(json_valid("{\"a\": [1,]}"));
  assert_false(json_valid("{\"a\" 1}"));
  assert_false(json_valid("\"tab\there\""));
  assert_false(json_valid("{} x"));
}

/* --- The fixture store. --- */

static void put_task(pb_txn *txn, uint64_t id, int prio, const char *note) {
  char title[32];
  snprintf(title, sizeof title, "task %llu", (unsigned long long)id);
  fx_Task t;
  fx_Task_init(&t);
  t.id = id;
  t.title = pb_str_from_cstr(title);
  if (prio >= 0) {
    t.has_prio = true;
    t.prio = prio;
  }
  t.level = id % 2 ? fx_Level_HIGH : fx_Level_LOW;
  static const uint8_t blob[] = {0x00, 0xff, 0x22};
  t.blob = (pb_bytes){blob, sizeof blob};
  t.at.x = (int32_t)id;
  t.at.y = -3;
  static const int64_t marks[] = {1, -2, 3};
  t.marks.items = marks;
  t.marks.count = 3;
  static const pb_str tags[] = {{"a\"q", 3}, {"tab\t", 4}};
  t.tags.items = tags;
  t.tags.count = 2;
  assert_int_equal(fx_Task_upsert(txn, &t), PB_OK);
  if (note) {
    fx_Task_notes *h;
    assert_int_equal(fx_Task_notes_open(txn, &t, PB_CREATE, &h), PB_OK);
    assert_int_equal(fx_Task_notes_append(h, note), PB_OK);
  }
}

static void build_fixture(void) {
  pb_storage *st;
  pb_space *sp;
  pb_db *db;
  pb_file_options fo;
  pb_file_options_init(&fo); /* PB_DURABILITY_SYNC */
  assert_int_equal(pb_storage_open_file(store, &fo, &st), PB_OK);
  assert_int_equal(pb_space_open(st, &sp), PB_OK);
  assert_int_equal(pb_db_open_types(sp, "main", PB_CREATE, fx_record_types,
                                    fx_record_types_count, &db),
                   PB_OK);
  for (int c = 0; c < 4; c++) { /* several commits */
    pb_txn *txn;
    assert_int_equal(pb_txn_begin(db, 0, &txn), PB_OK);
    for (int i = 1; i <= 5; i++) {
      uint64_t id = (uint64_t)(c * 5 + i);
      put_task(txn, id, id % 3 ? (int)(id % 4) : -1,
               id % 2 ? "first note" : NULL);
    }
    fx_Note n;
    fx_Note_init(&n);
    n.text = pb_str_from_cstr("note \xc3\xa9");
    n.when = 100 - c;
    uint64_t nid;
    assert_int_equal(fx_Note_insert(txn, &n, &nid), PB_OK);
    assert_int_equal(pb_txn_commit(txn), PB_OK);
  }
  pb_txn *txn;
  assert_int_equal(pb_txn_begin(db, 0, &txn), PB_OK);
  put_task(txn, 3, 9, "second note"); /* an update */
  assert_int_equal(fx_Task_delete(txn, 20), PB_OK);
  pb_value v = {.kind = PB_VALUE_STRING};
  v.as.s = pb_str_from_cstr("hello");
  assert_int_equal(pb_txn_set(txn, "greeting", &v), PB_OK);
  pb_dict *d;
  assert_int_equal(pb_txn_open_dict(txn, "config", PB_CREATE, &d), PB_OK);
  v.kind = PB_VALUE_INT;
  v.as.i = -7;
  assert_int_equal(pb_dict_put(d, pb_str_from_cstr("depth"), &v), PB_OK);
  assert_int_equal(pb_txn_commit(txn), PB_OK);
  pb_db *other;
  assert_int_equal(pb_db_open(sp, "second", PB_CREATE, &other), PB_OK);
  assert_int_equal(pb_txn_begin(other, 0, &txn), PB_OK);
  v.kind = PB_VALUE_UINT;
  v.as.u = 42;
  assert_int_equal(pb_txn_set(txn, "answer", &v), PB_OK);
  assert_int_equal(pb_txn_commit(txn), PB_OK);
  pb_db_close(other);
  pb_db_close(db);
  assert_int_equal(pb_space_close(sp), PB_OK);
}

static int setup(void **state) {
  (void)state;
  const char *tmp = getenv("TMPDIR");
  snprintf(root, sizeof root, "%s/pbtool-test-XXXXXX",
           tmp && *tmp ? tmp : "/tmp");
  if (!mkdtemp(root)) return -1;
  snprintf(store, sizeof store, "%s/store", root);
  build_fixture();
  return 0;
}

static int teardown(void **state) {
  (void)state;
  char cmd[400];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", root);
  if (getenv("PBTOOL_TEST_KEEP")) return 0;
  return system(cmd) == 0 ? 0 : -1;
}

/* --- The tests. --- */

static void test_help_and_usage(void **state) {
  (void)state;
  run r = tool("--help");
  assert_int_equal(r.status, 0);
  HAS(r.out, "Exit codes");
  run_free(&r);
  static const char *const cmds[] = {"info",   "verify",  "dump",
                                     "stats",  "compact", "backup",
                                     "salvage", "check-schema"};
  for (size_t i = 0; i < sizeof cmds / sizeof cmds[0]; i++) {
    r = tool("%s --help", cmds[i]);
    assert_int_equal(r.status, 0);
    HAS(r.out, "Usage: pbtool");
    HAS(r.out, cmds[i]);
    HAS(r.out, "Exit codes");
    run_free(&r);
    r = tool("%s", cmds[i]); /* no DIR */
    assert_int_equal(r.status, 2);
    run_free(&r);
  }
  r = tool("frobnicate '%s'", store);
  assert_int_equal(r.status, 2);
  HAS(r.err, "unknown command");
  run_free(&r);
  r = tool("info '%s/nothing-here'", root);
  assert_int_equal(r.status, 2);
  run_free(&r);
  /* an empty directory is an empty store */
  sh("mkdir -p '%s/empty'", root);
  r = tool("info '%s/empty'", root);
  assert_int_equal(r.status, 0);
  HAS(r.out, "format: no segment with a valid header");
  HAS(r.out, "databases: 0");
  run_free(&r);
  r = tool("verify '%s/empty'", root);
  assert_int_equal(r.status, 0);
  run_free(&r);
  r = tool("dump --db nosuch '%s'", store);
  assert_int_equal(r.status, 2);
  run_free(&r);
}

static void test_info(void **state) {
  (void)state;
  run r = tool("info '%s'", store);
  assert_int_equal(r.status, 0);
  HAS(r.out, "format: WAL version 1");
  HAS(r.out, "seg-");
  HAS(r.out, "live: ");
  HAS(r.out, "dead: ");
  HAS(r.out, "root: @");
  HAS(r.out, " lsn 9\n");
  HAS(r.out, "torn tail: none");
  HAS(r.out, "databases: 2");
  HAS(r.out, "database main");
  HAS(r.out, "database second");
  HAS(r.out, "fx.Task  type id");
  HAS(r.out, "fingerprint ff825c3eef29853b  epoch");
  HAS(r.out, "fx.Task (type id");
  HAS(r.out, "19 rows, key id");
  HAS(r.out, "index by_title [unique] (title): 19 entries");
  HAS(r.out, "index by_prio (prio, level): 19 entries");
  HAS(r.out, "member notes (tag 9)");
  HAS(r.out, "4 rows, keyless (next id 5)");
  HAS(r.out, "index by_when (when): 4 entries");
  HAS(r.out, "greeting");
  run_free(&r);
}

static void test_verify_clean(void **state) {
  (void)state;
  run r = tool("verify '%s'", store);
  if (r.status != 0) fail_msg("verify: %s\n%s", r.out, r.err);
  HAS(r.out, "23 rows checked: 0 problems");
  assert_string_equal(r.err, ""); /* no progress bar: not a terminal */
  run_free(&r);
}

/* A copy of the store at DIR/name. */
static void copy_store(const char *name, char *out, size_t cap) {
  snprintf(out, cap, "%s/%s", root, name);
  sh("rm -rf '%s' && cp -r '%s' '%s'", out, store, out);
  sh("rm -f '%s/LOCK'", out);
}

static void test_verify_flipped_byte(void **state) {
  (void)state;
  char dir[400], seg[600];
  copy_store("flipped", dir, sizeof dir);
  /* the first segment, a byte in the middle of its first frames */
  snprintf(seg, sizeof seg, "%s/seg-0000000000000001.wal", dir);
  FILE *f = fopen(seg, "r+b");
  if (!f) { /* another naming: take the first seg-* file */
    sh("ls '%s' | grep '^seg-' | head -1 > '%s/segname'", dir, root);
    char path[500];
    snprintf(path, sizeof path, "%s/segname", root);
    char *name = slurp(path);
    name[strcspn(name, "\n")] = '\0';
    snprintf(seg, sizeof seg, "%s/%s", dir, name);
    free(name);
    f = fopen(seg, "r+b");
  }
  assert_non_null(f);
  assert_int_equal(fseek(f, 300, SEEK_SET), 0);
  int c = fgetc(f);
  assert_int_equal(fseek(f, 300, SEEK_SET), 0);
  fputc(c ^ 0x5a, f);
  fclose(f);
  run r = tool("verify '%s'", dir);
  assert_int_equal(r.status, 1);
  HAS(r.err, "seg-"); /* the message names the file */
  HAS(r.err, "checksum");
  HAS(r.out, "damage: seg-"); /* salvage mode: file and offset */
  HAS(r.out, "in salvage mode");
  run_free(&r);
  r = tool("info '%s'", dir);
  assert_int_equal(r.status, 1);
  run_free(&r);
  /* salvage keeps what verifies: the new store is clean */
  char dest[400];
  snprintf(dest, sizeof dest, "%s/flipped-salvaged", root);
  r = tool("salvage '%s' '%s'", dir, dest);
  assert_int_equal(r.status, 1);
  HAS(r.out, "damage: seg-");
  HAS(r.out, "salvage: ");
  run_free(&r);
  r = tool("verify '%s'", dest);
  if (r.status != 0) fail_msg("verify: %s\n%s", r.out, r.err);
  run_free(&r);
}

/* Opens the hidden Dictionary "\0<letter>..." of the database root whose
 * name ends with `suffix`: an index ('i') or a member collection ('m'). */
static pb__tcoll *open_hidden(pb_txn *txn, char letter, const char *suffix) {
  pb__tcoll **all, *names;
  assert_int_equal(pb__txn_names(txn, &all, &names), PB_OK);
  pb_dict_iter *it;
  assert_int_equal(pb_dict_iter_open((pb_dict *)(void *)names, NULL, 0, &it),
                   PB_OK);
  pb_str k;
  pb_value v;
  char name[64] = "";
  size_t len = 0;
  while (pb_dict_iter_next(it, &k, &v) == PB_OK)
    if (k.len > 2 && k.ptr[0] == '\0' && k.ptr[1] == letter &&
        k.len >= strlen(suffix) &&
        memcmp(k.ptr + k.len - strlen(suffix), suffix, strlen(suffix)) == 0) {
      memcpy(name, k.ptr, k.len);
      len = k.len;
    }
  pb_dict_iter_close(it);
  assert_true(len > 0);
  pb__tcoll *t;
  assert_int_equal(pb__txn_open_root(txn, (pb_str){name, len}, PB_VALUE_DICT,
                                     false, &t),
                   PB_OK);
  return t;
}

static void test_verify_damaged_index(void **state) {
  (void)state;
  char dir[400];
  copy_store("badindex", dir, sizeof dir);
  pb_storage *st;
  pb_space *sp;
  pb_db *db;
  assert_int_equal(pb_storage_open_file(dir, NULL, &st), PB_OK);
  assert_int_equal(pb_space_open(st, &sp), PB_OK);
  assert_int_equal(pb_db_open(sp, "main", 0, &db), PB_OK);
  pb_txn *txn;
  assert_int_equal(pb_txn_begin(db, 0, &txn), PB_OK);
  /* by_title: remove the entry of one row, whatever it is */
  pb__tcoll *ix = open_hidden(txn, 'i', ":by_title");
  pb_dict_iter *it;
  pb_str k;
  pb_value v;
  char first[256];
  size_t flen;
  assert_int_equal(pb_dict_iter_open((pb_dict *)(void *)ix, NULL, 0, &it),
                   PB_OK);
  assert_int_equal(pb_dict_iter_next(it, &k, &v), PB_OK);
  memcpy(first, k.ptr, k.len);
  flen = k.len;
  pb_dict_iter_close(it);
  assert_int_equal(pb_dict_remove((pb_dict *)(void *)ix,
                                  (pb_str){first, flen}),
                   PB_OK);
  /* by_when: a stale entry naming a row that does not exist (id 99) */
  pb__tcoll *iw = open_hidden(txn, 'i', ":by_when");
  pb_keybuf pk, entry;
  pb_keybuf_init(&pk);
  pb_keybuf_init(&entry);
  pb_key_put_u64(&pk, 99);
  pb_key_put_i64(&entry, 50); /* when, then the primary key */
  pb_key_put_u64(&entry, 99);
  uint8_t packed[64];
  pb__keypack(entry.ptr, entry.len, packed);
  pb_value stale = {.kind = PB_VALUE_BYTES};
  stale.as.bytes = pb_keybuf_bytes(&pk);
  assert_int_equal(
      pb_dict_put((pb_dict *)(void *)iw,
                  (pb_str){(const char *)packed, pb__keypack_len(entry.len)},
                  &stale),
      PB_OK);
  pb_keybuf_free(&pk);
  pb_keybuf_free(&entry);
  assert_int_equal(pb_txn_commit(txn), PB_OK);
  pb_db_close(db);
  assert_int_equal(pb_space_close(sp), PB_OK);

  run r = tool("verify '%s'", dir);
  assert_int_equal(r.status, 1);
  HAS(r.out, "database main, table fx.Task (type id");
  HAS(r.out, "index by_title: the row has no index entry");
  HAS(r.out, "id=1, index by_title"); /* the first title, "task 1" */
  HAS(r.out, "table fx.Note");
  HAS(r.out, "id=99, index by_when: a stale entry: its row does not exist");
  HAS(r.out, "2 problems");
  run_free(&r);
}

/* The segment file and offset of atom p in the store at dir. */
static void atom_place(pb_storage *st, pb_atom_ptr p, char *path, size_t cap,
                       uint64_t *off) {
  pb__file_storage *fs = (pb__file_storage *)(void *)st;
  const pb__batch_loc *loc =
      pb__batch_index_find(&fs->index, p.batch_hi, p.batch_lo);
  assert_non_null(loc);
  snprintf(path, cap, "%s", fs->segs[loc->segment]->path);
  *off = loc->offset + p.offset;
}

/* Changes byte `at` of file `path` to `v` and reseals the frame around it
 * (its checksum), so that only the atom's own checks can find it. */
static void poke_resealed(const char *path, uint64_t at, uint8_t v) {
  FILE *f = fopen(path, "r+b");
  assert_non_null(f);
  assert_int_equal(fseek(f, 0, SEEK_END), 0);
  long size = ftell(f);
  uint8_t *b = malloc((size_t)size);
  assert_int_equal(fseek(f, 0, SEEK_SET), 0);
  assert_int_equal(fread(b, 1, (size_t)size, f), (size_t)size);
  b[at] = v;
  uint64_t pos = PB__WAL_HEADER_SIZE;
  bool sealed = false;
  while (pos + PB__FRAME_HEADER_SIZE <= (uint64_t)size) {
    uint32_t len = (uint32_t)b[pos] | (uint32_t)b[pos + 1] << 8 |
                   (uint32_t)b[pos + 2] << 16 | (uint32_t)b[pos + 3] << 24;
    if (len == 0) break;
    if (at >= pos + PB__FRAME_HEADER_SIZE &&
        at < pos + PB__FRAME_HEADER_SIZE + len) {
      pb__store_le64(b + pos + 8, pb__frame_checksum(
                                      b + pos, b + pos + PB__FRAME_HEADER_SIZE,
                                      len));
      sealed = true;
      break;
    }
    pos += pb__frame_size(len);
  }
  assert_true(sealed);
  assert_int_equal(fseek(f, 0, SEEK_SET), 0);
  assert_int_equal(fwrite(b, 1, (size_t)size, f), (size_t)size);
  fclose(f);
  free(b);
}

static void test_verify_damaged_atom(void **state) {
  (void)state;
  char dir[400], seg[600];
  copy_store("badatom", dir, sizeof dir);
  /* the root node of row 3's notes list */
  pb_storage *st;
  pb_space *sp;
  pb_db *db;
  pb_file_options fo;
  pb_file_options_init(&fo);
  fo.read_only = true;
  assert_int_equal(pb_storage_open_file(dir, &fo, &st), PB_OK);
  assert_int_equal(pb_space_open(st, &sp), PB_OK);
  assert_int_equal(pb_db_open(sp, "main", 0, &db), PB_OK);
  pb_txn *txn;
  assert_int_equal(pb_txn_begin(db, PB_RDONLY, &txn), PB_OK);
  pb__tcoll *m = open_hidden(txn, 'm', ":9"); /* the notes, by row */
  pb_keybuf k;
  pb_keybuf_init(&k);
  pb_key_put_u64(&k, 3);
  uint8_t packed[16];
  pb__keypack(k.ptr, k.len, packed);
  pb_value v;
  assert_int_equal(pb_dict_get((pb_dict *)(void *)m,
                               (pb_str){(const char *)packed,
                                        pb__keypack_len(k.len)},
                               &v),
                   PB_OK);
  pb_keybuf_free(&k);
  assert_int_equal(v.kind, PB_VALUE_LIST);
  uint64_t off;
  atom_place(st, v.as.ref, seg, sizeof seg, &off);
  pb_txn_abort(txn);
  pb_db_close(db);
  assert_int_equal(pb_space_close(sp), PB_OK);
  /* u32 length, format byte, then the type id: 9 is reserved */
  poke_resealed(seg, off + 5, 9);

  char where[300];
  const char *base = strrchr(seg, '/') + 1;
  snprintf(where, sizeof where, "atom %s offset %llu: does not decode", base,
           (unsigned long long)off);
  run r = tool("verify '%s'", dir);
  assert_int_equal(r.status, 1);
  HAS(r.out, where);
  HAS(r.out, "id=3: a member collection does not read");
  run_free(&r);
}

/* verify with stderr on a terminal draws its progress bar there; stdout
 * (the report) stays clean. */
static void test_progress_on_a_terminal(void **state) {
  (void)state;
  int master;
  pid_t pid = forkpty(&master, NULL, NULL, NULL);
  assert_true(pid >= 0);
  if (pid == 0) {
    int fd = open("/dev/null", O_WRONLY);
    if (fd < 0 || dup2(fd, STDOUT_FILENO) < 0) _exit(126);
    execl(pbtool, pbtool, "verify", store, (char *)NULL);
    _exit(127);
  }
  char buf[8192];
  size_t n = 0;
  for (;;) {
    ssize_t k = read(master, buf + n, sizeof buf - 1 - n);
    if (k > 0) n += (size_t)k;
    else if (k < 0 && errno == EINTR) continue;
    else break; /* EIO once the child has gone */
    if (n == sizeof buf - 1) break;
  }
  buf[n] = '\0';
  close(master);
  int st;
  assert_int_equal(waitpid(pid, &st, 0), pid);
  assert_true(WIFEXITED(st));
  assert_int_equal(WEXITSTATUS(st), 0);
  HAS(buf, "atoms    [");
  HAS(buf, "] 100%");
  HAS(buf, "tables   [");
  assert_null(strstr(buf, "verify: ")); /* the report went to stdout */
}

static void test_dump(void **state) {
  (void)state;
  run r = tool("dump '%s'", store);
  assert_int_equal(r.status, 0);
  HAS(r.out, "database main");
  HAS(r.out, "table fx.Task (type id");
  HAS(r.out, "id=3 {id: 3, title: \"task 3\", prio: 9, level: \"HIGH\", "
             "blob: \"00ff22\", at: {x: 3, y: -3}, marks: [1, -2, 3], "
             "tags: [\"a\\\"q\", \"tab\\t\"]}");
  HAS(r.out, "notes: [\"first note\", \"second note\"]");
  /* an absent optional field is left out; an absent field shows its
   * default (encoders omit it) */
  HAS(r.out, "id=6 {id: 6, title: \"task 6\", level: \"LOW\", blob: ");
  HAS(r.out, "id=1 {text: \"note \xc3\xa9\", when: 100}");
  HAS(r.out, "value config: {\"depth\": -7}");
  HAS(r.out, "database second");
  HAS(r.out, "value answer: 42");
  assert_null(strstr(r.out, "id=20 "));
  run_free(&r);

  r = tool("dump --db main --table fx.Note '%s'", store);
  assert_int_equal(r.status, 0);
  HAS(r.out, "table fx.Note");
  assert_null(strstr(r.out, "fx.Task"));
  assert_null(strstr(r.out, "database second"));
  run_free(&r);
}

static void test_dump_json(void **state) {
  (void)state;
  run r = tool("dump --json '%s'", store);
  assert_int_equal(r.status, 0);
  if (!json_valid(r.out)) fail_msg("not valid JSON:\n%s", r.out);
  HAS(r.out, "\"record\": {\"id\": 3, \"title\": \"task 3\", \"prio\": 9, "
             "\"level\": \"HIGH\", \"blob\": \"00ff22\"");
  HAS(r.out, "\"tags\": [\"a\\\"q\", \"tab\\t\"]");
  HAS(r.out, "\"members\": {\"notes\": [\"first note\", \"second note\"]}");
  HAS(r.out, "{\"key\": 1, \"record\": {\"text\": \"note \xc3\xa9\"");
  HAS(r.out, "\"values\": {\"config\": {\"depth\": -7}, \"greeting\": "
             "\"hello\"}");
  run_free(&r);
  r = tool("dump --json --table fx.Task --db main '%s'", store);
  assert_int_equal(r.status, 0);
  assert_true(json_valid(r.out));
  run_free(&r);
}

static void test_stats(void **state) {
  (void)state;
  run r = tool("stats '%s'", store);
  assert_int_equal(r.status, 0);
  HAS(r.out, "segments: ");
  HAS(r.out, "live: ");
  HAS(r.out, "database main: ");
  HAS(r.out, "23 rows");
  HAS(r.out, "object cache: ");
  run_free(&r);
}

/* `dump` of dir equals `dump` of the fixture. */
static void same_dump(const char *dir) {
  run a = tool("dump '%s'", store);
  run b = tool("dump '%s'", dir);
  assert_int_equal(a.status, 0);
  assert_int_equal(b.status, 0);
  assert_string_equal(a.out, b.out);
  run_free(&a);
  run_free(&b);
  run v = tool("verify '%s'", dir);
  assert_int_equal(v.status, 0);
  run_free(&v);
}

static void test_compact(void **state) {
  (void)state;
  char dir[400];
  copy_store("compacted", dir, sizeof dir);
  run r = tool("compact '%s'", dir);
  if (r.status != 0) fail_msg("compact: %s", r.err);
  HAS(r.out, "compact: ");
  HAS(r.out, "bytes before");
  run_free(&r);
  same_dump(dir);
}

static void test_backup(void **state) {
  (void)state;
  char dest[400], dest2[400];
  snprintf(dest, sizeof dest, "%s/backup", root);
  snprintf(dest2, sizeof dest2, "%s/backup-compact", root);
  run r = tool("backup '%s' '%s'", store, dest);
  if (r.status != 0) fail_msg("backup: %s", r.err);
  HAS(r.out, "backup: ");
  run_free(&r);
  same_dump(dest);
  r = tool("backup '%s' '%s' --compact", store, dest2);
  assert_int_equal(r.status, 0);
  HAS(r.out, "(compacted)");
  run_free(&r);
  same_dump(dest2);
  r = tool("backup '%s' '%s'", store, dest); /* not empty */
  assert_int_equal(r.status, 2);
  run_free(&r);
}

static void test_salvage(void **state) {
  (void)state;
  char dest[400];
  snprintf(dest, sizeof dest, "%s/salvaged", root);
  run r = tool("salvage '%s' '%s'", store, dest);
  if (r.status != 0) fail_msg("salvage: %s", r.err);
  HAS(r.out, "lsn 9 written");
  assert_null(strstr(r.out, "damage"));
  run_free(&r);
  same_dump(dest);
}

static void test_check_schema(void **state) {
  (void)state;
  run r = tool("check-schema '%s' '%s'", store, schema);
  if (r.status != 0) fail_msg("check-schema: %s\n%s", r.out, r.err);
  HAS(r.out, "checked against 2 database(s), 0 breaking");
  run_free(&r);
  /* title's type changed: breaking */
  char bad[400];
  snprintf(bad, sizeof bad, "%s/bad.pbs", root);
  sh("sed 's/string title = 2;/int64 title = 2;/' '%s' > '%s'", schema, bad);
  r = tool("check-schema '%s' '%s' --db main", store, bad);
  assert_int_equal(r.status, 1);
  HAS(r.err, "breaking");
  HAS(r.err, "title");
  HAS(r.out, "1 breaking");
  run_free(&r);
  r = tool("check-schema '%s' '%s/none.pbs'", store, root);
  assert_int_equal(r.status, 2);
  run_free(&r);
}

int main(int argc, char **argv) {
  if (argc < 3) {
    fprintf(stderr, "usage: test_pbtool PBTOOL SCHEMA.pbs\n");
    return 2;
  }
  pbtool = argv[1];
  schema = argv[2];
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_json_checker),
      cmocka_unit_test(test_help_and_usage),
      cmocka_unit_test(test_info),
      cmocka_unit_test(test_verify_clean),
      cmocka_unit_test(test_verify_flipped_byte),
      cmocka_unit_test(test_verify_damaged_index),
      cmocka_unit_test(test_verify_damaged_atom),
      cmocka_unit_test(test_progress_on_a_terminal),
      cmocka_unit_test(test_dump),
      cmocka_unit_test(test_dump_json),
      cmocka_unit_test(test_stats),
      cmocka_unit_test(test_compact),
      cmocka_unit_test(test_backup),
      cmocka_unit_test(test_salvage),
      cmocka_unit_test(test_check_schema),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}
