/*
 * txn/txn.c - transactions: a snapshot to read, a batch to write, and one
 * atomic publish at commit.
 *
 * A transaction reads the storage root once, at begin, and sees that
 * snapshot until it ends.  Atoms it writes go into its own batch, whose
 * pointers are known at once (atom/batch.h), so a record can be put and
 * referenced in the same transaction.  Commit encodes the database root,
 * then the space root, appends the batch and swaps the storage root in one
 * step of the storage tier: either all of it is published or none of it.
 * The database root is a Dictionary of named values (collections/dict.h)
 * held as a logged collection (txn/tcoll.h), like every collection the
 * transaction opens.
 *
 * What it reads, it reads through its snapshot (txn/snapshot.h): the pin,
 * the roots, the own batch, the caches and the cached objects it was
 * given.  Memory handed out as views (copies of own atoms and cached
 * objects: the snapshot's; the arena that generated `_load` functions
 * decode arrays into when they decode privately: pb_txn_arena) lives
 * until the transaction ends.
 *
 * A cheap begin: the database handle keeps ended transaction handles for
 * the next begins, one slot per thread (db->slots, txn/space.h: a thread
 * takes and gives back at its own slot, so two threads beginning and
 * ending at once write no common line; a handle ended on another thread
 * goes to that thread's slot, or any free one), each with the arrays it
 * grew and up to PB__TCOLL_POOL_MAX collection handle shells; the
 * snapshot finds the database root in db's memo when the space root was
 * seen before; the database root handle (txn->names) is opened on first
 * use.  So a read transaction that begins and ends allocates nothing once
 * warm.
 *
 * When another commit to the SAME database landed since the snapshot,
 * commit rebases: it replays this transaction's logged changes onto the
 * newer database root (txn/tcoll.h has the rules), flushes again and
 * publishes again.  A real conflict gives PB_ECONFLICT and publishes
 * nothing.  Nothing can fail after the storage accepted the new root.
 */
#include <assert.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "atom/atom.h"
#include "atom/value.h"
#include "txn/txn_int.h"
#include "txn/validate.h"
#include "util/thread_idx.h"

/* How many times a commit rebases before it gives up with PB_ECONFLICT
 * (each pass means another commit to this database landed meanwhile). */
#define MAX_REBASES 1000

/* The largest scratch buffer a reused handle keeps. */
#define SCRATCH_KEEP_MAX (64u << 10)

/* Frees a handle that has ended (txn_end). */
static void txn_destroy(pb_txn *txn) {
  for (unsigned i = 0; i < PB__TAB_KNOWN; i++)
    pb__dict_free(txn->tab_known[i].d);
  pb__tcoll_pool_free(txn->pool);
  free(txn->tabs);
  pb__snap_free(&txn->snap);
  pb_buf_free(&txn->scratch);
  pb_buf_free(&txn->gone);
  free(txn);
}

/* Keeps an ended handle in one of db's slots (db->slots, txn/space.h):
 * the calling thread's own slot, else any free one; false when all are
 * taken.  A slot is read before it is written, so a full slot's line is
 * not taken from the thread that uses it. */
static bool slot_give(pb_db *db, pb_txn *txn) {
  unsigned me = pb__thread_index() % PB__TXN_SLOTS;
  for (unsigned k = 0; k < PB__TXN_SLOTS; k++) {
    _Atomic(pb_txn *) *slot = &db->slots[(me + k) % PB__TXN_SLOTS].txn;
    pb_txn *none = NULL;
    if (atomic_load_explicit(slot, memory_order_relaxed) == NULL &&
        atomic_compare_exchange_strong_explicit(slot, &none, txn,
                                                memory_order_release,
                                                memory_order_relaxed))
      return true;
  }
  return false;
}

/* Takes an ended handle from db's slots: the calling thread's own first,
 * else any (a handle another thread ended); NULL when all are empty. */
static pb_txn *slot_take(pb_db *db) {
  unsigned me = pb__thread_index() % PB__TXN_SLOTS;
  for (unsigned k = 0; k < PB__TXN_SLOTS; k++) {
    _Atomic(pb_txn *) *slot = &db->slots[(me + k) % PB__TXN_SLOTS].txn;
    if (atomic_load_explicit(slot, memory_order_relaxed) == NULL) continue;
    pb_txn *txn = atomic_exchange_explicit(slot, NULL, memory_order_acquire);
    if (txn) return txn;
  }
  return NULL;
}

/* Ends what a transaction reads: its collection handles, then its
 * snapshot (its views die: holds, copies, the pin, then its epoch, so
 * what the caches dropped meanwhile can be freed).  Its batch stays.
 * Idempotent. */
static void txn_end_reads(pb_txn *txn) {
  for (unsigned i = 0; i < PB__TAB_KNOWN; i++) {
    struct pb__tab_known *k = &txn->tab_known[i];
    if (k->d && k->d_txn != 0) { /* its nodes and copies go now, while the
                                    snapshot still holds what it read */
      pb__dict_reuse(k->d, NULL, (pb_atom_ptr){0, 0, 0});
      k->d_txn = 0;
    }
  }
  pb__tcoll_free_all(txn->all, &txn->pool);
  txn->all = txn->names = NULL;
  txn->n_tabs = 0;
  pb__snap_end(&txn->snap);
}

/* Ends a transaction: frees what it made, ends its snapshot, and keeps the
 * handle in a slot of its database for a next begin (no allocation, and
 * the arrays it grew are kept), or frees it when every slot is taken. */
static void txn_free(pb_txn *txn) {
  txn_end_reads(txn);
  if (txn->writer) { /* after its commit's wait: nothing of it is left */
    txn->writer = false;
    pb__storage_writer_leave(txn->db->sp->st);
  }
  pb__batch_free(&txn->batch);
  pb_arena_destroy(txn->arena);
  txn->arena = NULL;
  if (txn->scratch.cap > SCRATCH_KEEP_MAX) pb_buf_free(&txn->scratch);
  if (txn->gone.cap > SCRATCH_KEEP_MAX) pb_buf_free(&txn->gone);
  pb_buf_reset(&txn->gone);
  if (!slot_give(txn->db, txn)) txn_destroy(txn);
}

void pb__txn_drop_spare(pb_db *db) {
  for (unsigned i = 0; i < PB__TXN_SLOTS; i++) {
    pb_txn *txn = atomic_exchange_explicit(&db->slots[i].txn, NULL,
                                           memory_order_acquire);
    if (txn) txn_destroy(txn);
  }
}

static int txn_write(void *arg, const void *atom, size_t len,
                     pb_atom_ptr *out) {
  pb_txn *txn = arg;
  return pb__batch_add(&txn->batch, atom, len, out);
}

int pb_txn_begin(pb_db *db, unsigned flags, pb_txn **out) {
  return pb__txn_begin_ex(db, flags, false, out);
}

/* A handle for db: a kept one, or a new one. */
static pb_txn *txn_handle(pb_db *db) {
  pb_txn *txn = slot_take(db);
  if (txn) return txn;
  /* Cache-line aligned: the handles of two threads share no line. */
  size_t size = (sizeof *txn + PB__CACHE_LINE - 1) &
                ~(size_t)(PB__CACHE_LINE - 1);
  txn = aligned_alloc(PB__CACHE_LINE, size);
  if (!txn) return NULL;
  memset(txn, 0, size);
  txn->db = db;
  pb__snap_init(&txn->snap, db->sp, &txn->batch);
  txn->sink = (pb__sink){txn_write, txn};
  pb_buf_init(&txn->scratch);
  pb_buf_init(&txn->gone);
  return txn;
}

int pb__txn_begin_ex(pb_db *db, unsigned flags, bool on_pending,
                     pb_txn **out) {
  if (!db || !out || !pb__flags_ok(flags, PB_RDONLY)) return PB_EINVAL;
  assert(!(on_pending && (flags & PB_RDONLY))); /* readers see durable data */
  pb_storage *st = db->sp->st;
  if (!(flags & PB_RDONLY) && st->read_only) return PB_ERDONLY;
  pb_txn *txn = txn_handle(db);
  if (!txn) return PB_ENOMEM;
  assert(txn->db == db && !txn->all && !txn->arena);
  txn->flags = flags;
  txn->failed = PB_OK;
  txn->seq++;
  txn->env = (pb__tcoll_env){&txn->snap.src, &txn->sink,
                             (flags & PB_RDONLY) != 0, &txn->pool};
  /* A read-only transaction writes no atom, so it needs no batch id (and
   * no getrandom call); its batch stays empty with id 0, which no stored
   * atom has. */
  int rc = PB_OK;
  memset(&txn->batch, 0, sizeof txn->batch);
  pb_buf_init(&txn->batch.buf);
  if (!(flags & PB_RDONLY)) rc = pb__batch_init(&txn->batch);
  if (rc == PB_OK && !(flags & PB_RDONLY)) {
    /* Before the snapshot: an automatic compaction's switch waits for
     * the writers inside, and holds new ones here until it is done. */
    pb__storage_writer_enter(st);
    txn->writer = true;
  }
  if (rc == PB_OK) rc = pb__snap_begin(&txn->snap, db, on_pending);
  if (rc == PB_OK) txn->db_root = txn->snap.db_root;
  if (rc != PB_OK) {
    txn_free(txn);
    return rc;
  }
  *out = txn;
  return PB_OK;
}

/* The database root handle, opened on first use (a transaction that only
 * begins and ends opens nothing). */
static int names_of(pb_txn *txn, pb__tcoll **out) {
  if (!txn->names) {
    int rc = pb__tcoll_open(&txn->env, PB_VALUE_DICT, txn->db_root,
                            &txn->all, &txn->names);
    if (rc != PB_OK) return rc;
  }
  *out = txn->names;
  return PB_OK;
}

int pb_txn_abort(pb_txn *txn) {
  if (txn) txn_free(txn);
  return PB_OK;
}

/* Rebases onto `cur`, this database's root in a newer space root. */
static int rebase_onto(pb_txn *txn, pb__tcoll *names, pb_atom_ptr cur) {
  bool merged = false;
  int rc = pb__tcoll_rebase(names, cur, &merged);
  if (rc != PB_OK) return rc;
  txn->db_root = cur;
  if (merged) atomic_fetch_add(&txn->db->sp->n_merges, 1);
  return PB_OK;
}

/* Before a flush: when a commit appended since the space root *seen
 * moved this database, rebases onto it first.  Flushing first would be
 * wasted: the append would lose, and the flushed nodes, which nothing
 * references after the rebase, would still go out with the batch (a
 * second leaf and path per rebased commit).  A failure to look is left to
 * the append, which looks again. */
static int rebase_early(pb_txn *txn, pb__tcoll *names, pb_atom_ptr *seen) {
  pb_space *sp = txn->db->sp;
  pb_atom_ptr head, cur;
  if (pb__storage_pending_root(sp->st, &head, NULL) != PB_OK ||
      pb_atom_ptr_equal(head, *seen))
    return PB_OK;
  *seen = head;
  if (pb__space_find_db(&sp->src, head, txn->db->name, &cur) != PB_OK ||
      pb_atom_ptr_equal(cur, txn->db_root))
    return PB_OK;
  return rebase_onto(txn, names, cur);
}

/* --- combined commits ---
 * Commits through one database handle publish one at a time: whoever has
 * the handle's TURN rebases, flushes and appends (db->publish_mu is held
 * for that), and the others wait for it in a queue.  The commit whose turn
 * it is first ABSORBS the waiting commits it can (pb__tcoll_absorb): their
 * changes are checked against its own result as a rebase would check them
 * and applied to its handles, so one flush writes every changed leaf and
 * branch once and one append carries them all; each absorbed commit then
 * gets that commit's outcome and LSN (and waits for its durability
 * itself), without flushing, appending or writing through anything.  A
 * commit that cannot be absorbed (its shape, a conflict with what goes
 * first) keeps its place and commits on its own when its turn comes: the
 * turn passes to the first waiting commit.  A commit that absorbed others
 * and whose append then loses to another handle's commit fails with them
 * (PB_ECONFLICT) rather than rebase: their changes are in its handles,
 * unlogged.  Hot databases gain most: every commit of a group rewrites
 * the same path otherwise. */

typedef enum turn_state { TURN_WAITING, TURN_GO, TURN_DONE } turn_state;

/* A commit waiting for its turn (on its committer's stack). */
typedef struct pb__turn_wait {
  pb_txn *txn;
  pthread_cond_t cv;
  turn_state state;
  int rc;       /* TURN_DONE: the absorbing commit's outcome */
  uint64_t lsn; /* TURN_DONE with PB_OK: that commit's LSN */
  struct pb__turn_wait *next;
} pb__turn_wait;

/* The most commits one commit absorbs (bounds its turn). */
#define ABSORB_MAX_TXNS 16u

void (*pb__txn_turn_hook)(pb_txn *txn);

size_t pb__txn_turn_waiting(pb_db *db) {
  size_t n = 0;
  pthread_mutex_lock(&db->turn_mu);
  for (const pb__turn_wait *w = db->turn_head; w; w = w->next) n++;
  pthread_mutex_unlock(&db->turn_mu);
  return n;
}

/* Takes db's turn for txn: true when txn has it (at once, or handed
 * over); false when another commit absorbed txn meanwhile, with that
 * commit's outcome in *rc and LSN in *lsn. */
static bool turn_take(pb_txn *txn, int *rc, uint64_t *lsn) {
  pb_db *db = txn->db;
  pthread_mutex_lock(&db->turn_mu);
  if (!db->turn_taken) {
    db->turn_taken = true;
    pthread_mutex_unlock(&db->turn_mu);
    return true;
  }
  pb__turn_wait w = {.txn = txn, .state = TURN_WAITING};
  pthread_cond_init(&w.cv, NULL);
  if (db->turn_tail) db->turn_tail->next = &w;
  else db->turn_head = &w;
  db->turn_tail = &w;
  while (w.state == TURN_WAITING) pthread_cond_wait(&w.cv, &db->turn_mu);
  pthread_mutex_unlock(&db->turn_mu);
  pthread_cond_destroy(&w.cv);
  if (w.state == TURN_GO) return true;
  *rc = w.rc;
  *lsn = w.lsn;
  return false;
}

/* Passes db's turn to the first waiting commit, or frees it. */
static void turn_give(pb_db *db) {
  pthread_mutex_lock(&db->turn_mu);
  pb__turn_wait *w = db->turn_head;
  if (w) {
    db->turn_head = w->next;
    if (!db->turn_head) db->turn_tail = NULL;
    w->state = TURN_GO; /* w may be gone once turn_mu is released */
    pthread_cond_signal(&w->cv);
  } else {
    db->turn_taken = false;
  }
  pthread_mutex_unlock(&db->turn_mu);
}

/* Whether the waiting transaction w could be absorbed at all: no latched
 * error, nothing written into its batch (so nothing it commits lives
 * outside its handles' logs). */
static bool may_absorb(const pb_txn *w) {
  return w->failed == PB_OK && w->names && w->batch.buf.len == 0;
}

/* Takes the commits waiting for db's turn and absorbs into names those it
 * can (chained on *absorbed, in order); the others go back to the head of
 * the queue, in order.  An error: one was applied in part, so this commit
 * must not be published. */
static int absorb_waiting(pb_txn *txn, pb__tcoll *names,
                          pb__turn_wait **absorbed) {
  pb_db *db = txn->db;
  pthread_mutex_lock(&db->turn_mu);
  pb__turn_wait *list = db->turn_head;
  db->turn_head = db->turn_tail = NULL;
  pthread_mutex_unlock(&db->turn_mu);
  pb__turn_wait *keep = NULL, *keep_last = NULL, **done = absorbed;
  unsigned n = 0;
  int rc = PB_OK;
  while (list) {
    pb__turn_wait *w = list;
    list = w->next;
    w->next = NULL;
    bool applied = false;
    if (rc == PB_OK && n < ABSORB_MAX_TXNS && may_absorb(w->txn)) {
      int r = pb__tcoll_absorb(names, &txn->all, w->txn->names, &applied);
      if (applied && r != PB_OK) rc = r;
    }
    if (applied) {
      *done = w;
      done = &w->next;
      n++;
    } else {
      if (keep_last) keep_last->next = w;
      else keep = w;
      keep_last = w;
    }
  }
  if (keep) {
    pthread_mutex_lock(&db->turn_mu);
    keep_last->next = db->turn_head;
    if (!db->turn_head) db->turn_tail = keep_last;
    db->turn_head = keep;
    pthread_mutex_unlock(&db->turn_mu);
  }
  return rc;
}

/* Gives the absorbed commits their outcome and wakes them. */
static void absorbed_done(pb_db *db, pb__turn_wait *list, int rc,
                          uint64_t lsn) {
  pthread_mutex_lock(&db->turn_mu);
  while (list) {
    pb__turn_wait *w = list;
    list = w->next; /* w may be gone once turn_mu is released */
    w->rc = rc;
    w->lsn = lsn;
    w->state = TURN_DONE;
    pthread_cond_signal(&w->cv);
  }
  pthread_mutex_unlock(&db->turn_mu);
}

/* Flushes and appends, rebasing while other commits to this database
 * overtake it, in db's turn (above): commits through one handle (the
 * threads of pb_txn_run) then rebase before they flush, and their appends
 * do not lose to each other, so each flushes once; and those waiting for
 * the turn are absorbed when they can be.  On PB_OK the commit is the
 * storage's pending head, LSN *lsn, not durable yet; *absorbed tells that
 * another commit carried it. */
static int commit_changes(pb_txn *txn, uint64_t *lsn, bool *absorbed) {
  assert(!(txn->flags & PB_RDONLY)); /* a reader never appends */
  pb_space *sp = txn->db->sp;
  pb__tcoll *names;
  *absorbed = false;
  int rc = names_of(txn, &names);
  if (rc != PB_OK) return rc;
  if (!turn_take(txn, &rc, lsn)) {
    *absorbed = true;
    return rc;
  }
  if (pb__txn_turn_hook) pb__txn_turn_hook(txn);
  pb_atom_ptr seen = txn->snap.root; /* the space root last looked at */
  pthread_mutex_lock(&txn->db->publish_mu);
  pb__turn_wait *carried = NULL; /* the commits this one absorbed */
  rc = PB_ECONFLICT;
  for (int pass = 0; pass < MAX_REBASES; pass++) {
    pb_atom_ptr new_db_root, cur;
    rc = rebase_early(txn, names, &seen);
    if (rc == PB_OK && pass == 0) rc = absorb_waiting(txn, names, &carried);
    if (rc == PB_OK) rc = pb__tcoll_flush(names, &new_db_root);
    if (rc != PB_OK) break;
    bool moved;
    rc = pb__space_publish(sp, &txn->batch, txn->batch.buf.len,
                           txn->snap.lsn, txn->db->name, PB__PUBLISH_SET,
                           txn->db_root, new_db_root, &moved, &cur, lsn);
    /* Carrying others, it does not rebase: their changes are unlogged. */
    if (rc != PB_ECONFLICT || !moved || carried) break;
    /* A commit through another handle of this database. */
    rc = rebase_onto(txn, names, cur);
    if (rc != PB_OK) break;
    rc = PB_ECONFLICT;
  }
  pthread_mutex_unlock(&txn->db->publish_mu);
  if (carried) absorbed_done(txn->db, carried, rc, rc == PB_OK ? *lsn : 0);
  turn_give(txn->db);
  return rc;
}

int pb_txn_commit(pb_txn *txn) { return pb__txn_commit_ex(txn, NULL); }

int pb__txn_commit_ex(pb_txn *txn, const pb__after_append *hook) {
  if (!txn) return PB_EINVAL;
  int failed = txn->failed; /* a latched write error: publish nothing */
  if (failed != PB_OK) return txn_free(txn), failed;
  if ((txn->flags & PB_RDONLY) ||
      ((!txn->names || !pb__tcoll_dirty(txn->names)) &&
       txn->batch.buf.len == 0)) {
    txn_free(txn);
    return PB_OK;
  }
  pb_space *sp = txn->db->sp;
  uint64_t lsn = 0;
  bool absorbed;
  int rc = commit_changes(txn, &lsn, &absorbed);
  if (rc == PB_OK && absorbed) atomic_fetch_add(&sp->n_combined, 1);
  if (rc == PB_OK) {
    assert(lsn > txn->snap.lsn); /* appended after its snapshot */
    /* Appended: its atoms are final, and the next commits build on them
     * (they begin on the pending head), so they go into the caches now,
     * not after the fdatasync: the next attempt finds the nodes it
     * rewrites decoded (txn_cache.c).  Then others may build on it
     * (hook), while this one waits for the fdatasync that covers it,
     * perhaps leading it.  Its reads end first: the write-through makes
     * the cache drop nodes, which its epoch would keep allocated. */
    pb__txn_note_gone(txn);
    txn_end_reads(txn);
    pb__txn_write_through(txn);
    if (hook) hook->fn(hook->arg);
    rc = pb__space_wait(sp, lsn);
  }
  if (rc == PB_OK) {
    atomic_fetch_add(&sp->n_commits, 1);
  } else if (rc == PB_ECONFLICT)
    atomic_fetch_add(&sp->n_conflicts, 1);
  txn_free(txn);
  return rc;
}

/* The transaction's database root handle (coll_api.c, catalog.c). */
int pb__txn_names(pb_txn *txn, pb__tcoll ***all, pb__tcoll **names) {
  *all = &txn->all;
  return names_of(txn, names);
}

int pb__txn_open_root(pb_txn *txn, pb_str key, pb_value_kind kind,
                      bool create, pb__tcoll **out) {
  /* A reader's database root never changes: what it holds at key is a
   * function of (db_root, key), which the database handle remembers. */
  bool ro = (txn->flags & PB_RDONLY) != 0;
  if (ro) { /* opened before, straight on its root: the same handle */
    pb__tcoll *open = pb__tcoll_find_named(txn->all, key);
    if (open) {
      if (open->kind != kind) return PB_ESCHEMA;
      *out = open;
      return PB_OK;
    }
  }
  pb_value known;
  bool have = false;
  if (ro && txn->last_len == key.len && key.len > 0 &&
      pb_atom_ptr_equal(txn->last_root, txn->db_root) &&
      memcmp(txn->last_key, key.ptr, key.len) == 0) {
    known = txn->last_val; /* this handle's last: no atomics */
    have = true;
  } else if (ro) {
    have = pb__coll_memo_get(txn->db, txn->db_root, key, &known);
    if (!have) {
      /* Once per database root and name: read privately, then
       * remembered, so the database root's nodes are not cached for it. */
      have = pb__snap_find_coll(&txn->snap, txn->db_root, key, &known);
      if (have) pb__coll_memo_put(txn->db, txn->db_root, key, &known);
    }
    if (have && key.len <= sizeof txn->last_key) {
      txn->last_root = txn->db_root;
      txn->last_len = key.len;
      memcpy(txn->last_key, key.ptr, key.len);
      txn->last_val = known;
    }
  }
  /* Known, and no handle of the database root open: straight on the
   * collection's root, without one (a warm read transaction's open). */
  if (have && !txn->names)
    return pb__tcoll_open_named(&txn->env, key, kind, &known, &txn->all,
                                out);
  pb__tcoll *names;
  int rc = names_of(txn, &names);
  if (rc != PB_OK) return rc;
  return pb__tcoll_nested_known(names, key, kind, create,
                                have ? &known : NULL, &txn->all, out);
}

/* --- named values --- */

int pb_txn_set(pb_txn *txn, const char *name, const pb_value *value) {
  if (!txn || !name || !value) return PB_EINVAL;
  if (txn->failed) return txn->failed;
  if (txn->flags & PB_RDONLY) return PB_ERDONLY;
  pb_str key = pb_str_from_cstr(name);
  if (key.len == 0) return PB_EINVAL;
  pb__tcoll *names = NULL;
  int rc = pb__validate_value(txn, value);
  if (rc == PB_OK) rc = names_of(txn, &names);
  if (rc == PB_OK) rc = pb__tcoll_dict_put(names, key, value);
  return pb__txn_note(txn, rc);
}

int pb_txn_get(pb_txn *txn, const char *name, pb_value *out) {
  if (!txn || !name || !out) return PB_EINVAL;
  if (txn->failed) return txn->failed;
  pb_str key = pb_str_from_cstr(name);
  if (key.len == 0) return PB_EINVAL;
  pb__tcoll *names;
  int rc = names_of(txn, &names);
  return rc == PB_OK ? pb__tcoll_dict_get(names, key, out) : rc;
}

int pb_txn_remove(pb_txn *txn, const char *name) {
  if (!txn || !name) return PB_EINVAL;
  if (txn->failed) return txn->failed;
  if (txn->flags & PB_RDONLY) return PB_ERDONLY;
  pb_str key = pb_str_from_cstr(name);
  if (key.len == 0) return PB_EINVAL;
  pb__tcoll *names;
  int rc = names_of(txn, &names);
  if (rc == PB_OK) rc = pb__tcoll_dict_remove(names, key);
  return pb__txn_note(txn, rc);
}
