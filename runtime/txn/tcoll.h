/*
 * txn/tcoll.h - a collection as one transaction sees it: the handle behind
 * pb_dict, pb_list, pb_set and pb_hdict, with the log of what the
 * transaction did to it, so that commit can replay that onto a newer root
 * (the three-way merge of SPEC section 7).
 *
 * A tcoll wraps one collection handle (collections/dict.h, list.h,
 * hash.h) opened on `base`, the root the transaction's changes are built
 * on: the snapshot's at first, the newer root after each rebase.  Every
 * change is applied to the handle at once (reads see the transaction's
 * own writes) and logged:
 *
 *   PUT k v, REMOVE k   Dictionary and HashDictionary (k: the key)
 *   ADD e, REMOVE e     Set (e: the element)
 *   NESTED k            a Dictionary entry holding a nested collection
 *                       that was opened for change (the child's own log
 *                       holds the changes)
 *   (a List only notes that it changed)
 *
 * Rebase onto `theirs` (pb__tcoll_rebase), when another commit moved the
 * root since `base`:
 *   - theirs == base: nothing to do;
 *   - a List that changed: PB_ECONFLICT (any concurrent change to a List
 *     conflicts); one that did not: reopened on theirs;
 *   - otherwise each logged key is checked against what THEY did to it,
 *     comparing base[k] with theirs[k] (absent and present count):
 *       they left k alone  -> my operation is replayed on theirs;
 *       they changed k     -> PB_ECONFLICT, even if my result for k
 *                             equals theirs (snapshot isolation: the
 *                             first committer wins; two increments from
 *                             5 both write 6, and merging them would lose
 *                             one); a Set element is the exception: add
 *                             and add, or remove and remove, is fine;
 *       NESTED k           -> the child rebases onto mine[k]: their
 *                             version of what the child was opened on
 *                             (theirs[k] with my earlier ops on k
 *                             replayed); a conflict if the child changed
 *                             and they removed it or made it another
 *                             kind; a child that only read is then let
 *                             go (detached and unlinked, so that the
 *                             flush does not put the key back).  A child
 *                             created on a missing key that is still
 *                             missing in mine stays empty-based, and is
 *                             put back into mine as empty.
 *   Keys I did not touch keep their value: theirs.
 * A rebase that fails leaves the tcoll unusable, but the transaction is
 * over then anyway (commit frees it).
 *
 * The run (bulk load and merge): Dictionary puts are logged but not
 * applied one by one.  Each is checked once (key UTF-8 and length, the
 * value) and appended to the run, one RUN op of the log (pb__run, in
 * tcoll.c): a list of chunks holding, per put, its key and value bytes
 * and 8 to 32 bytes of header, and nothing else.  Consecutive puts share
 * one RUN op.  Before anything looks at the handle (a get, count,
 * iteration, remove, nested open, flush: pb__tcoll_settle) the run is
 * settled: an index of its records is sorted by key (stably: the last put
 * of a key wins), then
 *   - into an EMPTY Dictionary, the tree is built and written into the
 *     batch as it is built (pb__dict_bulk_write: each leaf is encoded and
 *     freed at once), and the run's chunks and index are freed: the
 *     written tree, which reads load from the batch, holds the puts;
 *   - into a non-empty one, the sorted puts are merged into the tree in
 *     one pass (pb__dict_merge: only changed leaves and their ancestors
 *     are copied), which keeps views of the run's bytes, so the chunks
 *     and the sorted index (8 bytes a key) stay until the transaction
 *     ends.
 * So reads in the transaction see every put.  A rebase replays a RUN op
 * as the last put of each of its keys (every put of a key is checked
 * against the same base and theirs, and the last one wins): from the
 * sorted index, or, for a run written into an empty Dictionary, by
 * iterating the tree it wrote (a commit flushes, settling every run,
 * before it can need a rebase).  A remove or a nested open settles the
 * run first and is logged after it, so the log keeps the order of changes
 * to each key.  A root tcoll (the database's names, which pb_txn_set
 * changes) runs its puts only while its Dictionary is empty, and applies
 * them one by one after that, so that pb_txn_set reports a failure to
 * read the tree at once.  Errors from settling (a node that fails to load,
 * memory) come from the next read, change or the commit: a merge that
 * failed midway leaves the tcoll broken (pb__tcoll_settle).
 *
 * Flush writes children first: each dirty child is flushed and its new
 * root put into the parent (not logged: the NESTED entry stands for it),
 * then the parent's own dirty nodes.
 *
 * Visibility of nested collections (what the parent shows for the key of
 * an open child; docs/transactions.md says it for users):
 *   - the parent's Dictionary always holds an entry of the child's kind
 *     at the child's key: opening with create on a missing key puts an
 *     empty one at once (not logged), so count, iteration and remove see
 *     the key like any other;
 *   - that entry's pointer is brought up to date lazily: reading the
 *     entry (pb__tcoll_dict_get, pb__tcoll_entry for iterators) flushes
 *     the child into the batch and gives its new root, so the pointer
 *     handed out is always real and holds the child's changes so far,
 *     without changing the parent (its iterators stay valid); the
 *     parent's own entry is rewritten at its flush.  Flushing a child
 *     with a changed grandchild puts the grandchild's root into the
 *     child (which ends the child's own open iterators).
 *
 * Ownership: every tcoll belongs to its transaction, which frees them all
 * at its end; parents list their live children.  A put or remove of a key
 * whose nested child is open detaches that child and every collection
 * opened under it: their later use gives PB_ECLOSED, their changes are
 * dropped, and the key keeps what the put or remove left.
 */
#ifndef PB_TXN_TCOLL_H
#define PB_TXN_TCOLL_H

#include "collections/dict.h"
#include "collections/hash.h"
#include "collections/list.h"

typedef struct pb__tcoll pb__tcoll;

/** What a tcoll needs from its transaction. */
typedef struct pb__tcoll_env {
  const pb__src *src;   /* reads atoms: own batch, storage, pending */
  const pb__sink *sink; /* appends atoms to the transaction's batch */
  bool read_only;       /* a read-only transaction: changes give
                           PB_ERDONLY */
  pb__tcoll **pool;     /* ended tcolls kept for reuse, or NULL */
} pb__tcoll_env;

/** The most ended tcolls a pool keeps (each with its arrays). */
#define PB__TCOLL_POOL_MAX 8u

/** The kinds of logged operation. */
typedef enum pb__op_kind {
  PB__OP_PUT,
  PB__OP_REMOVE,
  PB__OP_ADD,
  PB__OP_NESTED,
  PB__OP_RUN /* Dictionary puts, logged compactly (see "The run") */
} pb__op_kind;

typedef struct pb__run pb__run;

typedef struct pb__op {
  pb__op_kind kind;
  pb_value key;     /* owned copy (payload in key_owned) */
  void *key_owned;
  pb_value val;     /* PUT: owned copy */
  void *val_owned;
  pb__tcoll *child; /* NESTED */
  pb__run *run;     /* RUN: owned */
} pb__op;

struct pb__tcoll {
  pb_value_kind kind;       /* PB_VALUE_DICT, _LIST, _SET or _HASHDICT */
  const pb__tcoll_env *env; /* the transaction's */
  union {
    pb__dict *d;            /* DICT */
    pb__list *l;            /* LIST */
    pb__hash *h;            /* SET, HASHDICT */
  } c;
  pb_atom_ptr base;         /* the root the changes are built on */
  pb__op *ops;              /* the log, oldest first */
  size_t n_ops, cap_ops;
  pb__tcoll **kids;         /* open nested children (Dictionary only) */
  size_t n_kids, cap_kids;
  pb__tcoll *next_all;      /* the transaction's list of every tcoll */
  pb_str name;              /* key in the parent (in name_buf), for kids */
  char *name_buf;           /* owned; kept when the tcoll is pooled */
  size_t name_cap;
  pb__run *run;             /* the last op's run while its puts are not
                               in the handle yet (pending), or NULL */
  bool changed;             /* any change logged (a List's only log) */
  bool created;             /* opened with create on a missing key */
  int broken;               /* a merge failed midway: the handle holds
                               part of the run, and every settle gives
                               this error (PB_OK: not broken) */
  bool nested;              /* opened under a parent (pb__tcoll_nested):
                               puts into its non-empty Dictionary are
                               merged as a run; a root (the database's
                               names) applies them one by one */
  bool detached;            /* its key was overwritten in the parent, or
                               an ancestor's was */
  pb__dict *spare_d;        /* pooled shell: an emptied Dictionary handle
                               its next Dictionary open reuses, or NULL */
  bool named;               /* opened by pb__tcoll_open_named: a read
                               transaction's collection at `name` of its
                               database root, with no parent handle */
};

/**
 * Opens a tcoll of `kind` on `root`, linked into *all (the transaction's
 * list, freed by pb__tcoll_free_all), taken from env->pool when it has
 * one.  Errors: PB_ENOMEM.
 */
int pb__tcoll_open(const pb__tcoll_env *env, pb_value_kind kind,
                   pb_atom_ptr root, pb__tcoll **all, pb__tcoll **out);
/**
 * A read transaction's collection at key `key` of its database root, whose
 * value there is `known` (a collection of `kind`): opened straight on that
 * root, with no handle of the database root as its parent (what a warm
 * read transaction saves: pb__txn_open_root).  Linked into *all; find it
 * again with pb__tcoll_find_named.  Errors: PB_EINVAL (kind not a
 * collection); PB_ESCHEMA (known is another kind); PB_ENOMEM.
 */
int pb__tcoll_open_named(const pb__tcoll_env *env, pb_str key,
                         pb_value_kind kind, const pb_value *known,
                         pb__tcoll **all, pb__tcoll **out);
/** The collection pb__tcoll_open_named opened at `key` on the list `all`,
 * or NULL. */
pb__tcoll *pb__tcoll_find_named(pb__tcoll *all, pb_str key);

/** Ends every tcoll of a transaction's list: frees their collection
 * handles and logs, and keeps up to PB__TCOLL_POOL_MAX of them (with the
 * arrays they grew, and a Dictionary's handle emptied by pb__dict_reuse)
 * in *pool for the next pb__tcoll_open of an env with that pool; frees
 * the rest (all of them when pool is NULL).  Every view the handles gave
 * dies here either way. */
void pb__tcoll_free_all(pb__tcoll *all, pb__tcoll **pool);
/** Frees a pool's tcolls. */
void pb__tcoll_pool_free(pb__tcoll *pool);

/**
 * The nested collection at Dictionary key `key` of `parent`, opened once
 * per key (the same handle again after that).  With `create`, a missing
 * key is a new empty collection (written at commit).  Errors:
 * PB_ENOTFOUND (missing, no create); PB_ESCHEMA (the key holds a value of
 * another kind); PB_ECLOSED; PB_ERDONLY (create in a read-only
 * transaction); and the Dictionary's read errors.
 */
int pb__tcoll_nested(pb__tcoll *parent, pb_str key, pb_value_kind kind,
                     bool create, pb__tcoll **all, pb__tcoll **out);
/** pb__tcoll_nested, when the caller knows what the parent's Dictionary
 * holds at `key` (*known; NULL: look it up).  Errors: pb__tcoll_nested's. */
int pb__tcoll_nested_known(pb__tcoll *parent, pb_str key, pb_value_kind kind,
                           bool create, const pb_value *known,
                           pb__tcoll **all, pb__tcoll **out);

/**
 * Looks `key` up in Dictionary `t`, as the transaction sees it: the entry
 * of an open nested collection gives that collection's current root,
 * flushed into the batch first when it has unflushed changes (see
 * above).  Errors: PB_ENOTFOUND; PB_ECLOSED; the Dictionary's read
 * errors, and when a flush is needed the sink's and the collections'.
 */
int pb__tcoll_dict_get(pb__tcoll *t, pb_str key, pb_value *v);
/**
 * Brings a value read from Dictionary `t` at `key` (by get or an
 * iterator) up to date: when it is the entry of an open nested
 * collection, v->as.ref becomes that collection's current root (flushed
 * first).  Other values are left alone.  Errors: as pb__tcoll_flush.
 */
int pb__tcoll_entry(pb__tcoll *t, pb_str key, pb_value *v);

/* Logged changes; each returns the collection's errors, or PB_EINVAL (a
 * value that pb__value_check refuses; for hashed keys, one holding a
 * pointer, collections/hash.h), PB_ECLOSED (detached), PB_ERDONLY,
 * PB_ENOMEM. */
int pb__tcoll_dict_put(pb__tcoll *t, pb_str key, const pb_value *v);
/** A hint that `key` of Dictionary t will be got soon (pb__dict_prefetch):
 * nothing while puts are pending.  Cannot fail. */
void pb__tcoll_dict_prefetch(pb__tcoll *t, pb_str key);
int pb__tcoll_dict_remove(pb__tcoll *t, pb_str key);
int pb__tcoll_hash_put(pb__tcoll *t, const pb_value *key, const pb_value *v);
int pb__tcoll_hash_remove(pb__tcoll *t, const pb_value *key);
int pb__tcoll_set_add(pb__tcoll *t, const pb_value *e, bool *added);
int pb__tcoll_set_remove(pb__tcoll *t, const pb_value *e);
/** Marks a List changed and checks it may be, and that `v` (NULL for a
 * remove) may be stored (PB_EINVAL, PB_ECLOSED, PB_ERDONLY). */
int pb__tcoll_list_touch(pb__tcoll *t, const pb_value *v);
/** Applies a Dictionary's pending run of puts to its handle (see above;
 * a no-op without one).  On an error the run stays pending; when a merge
 * failed midway the handle holds part of it, and every later settle (so
 * every read, change and flush of the tcoll) returns the same error.
 * Errors: PB_ENOMEM, PB_ETOOBIG (the tree would be too deep), the sink's
 * and the Dictionary's read errors. */
int pb__tcoll_settle(pb__tcoll *t);
/** PB_ECLOSED when detached, else PB_OK (for reads). */
int pb__tcoll_check(const pb__tcoll *t);

/** True when this tcoll or a child has changes not flushed yet. */
bool pb__tcoll_dirty(const pb__tcoll *t);
/** Flushes children, then this collection; gives the new root.
 * Errors: the sink's and the collections'. */
int pb__tcoll_flush(pb__tcoll *t, pb_atom_ptr *root);
/**
 * Replays this tcoll's log onto `theirs` (see above); *merged is set when
 * there was something to merge.  Errors: PB_ECONFLICT, and the
 * collections' read errors.
 */
int pb__tcoll_rebase(pb__tcoll *t, pb_atom_ptr theirs, bool *merged);

/** The most changes (puts and removes, a run's puts counted one by one)
 * of a transaction that another commit absorbs (pb__tcoll_absorb):
 * replaying more would hold the absorbing commit's turn long for a small
 * saving. */
#define PB__ABSORB_MAX_CHANGES 64u
/** The most bytes of keys and values those changes may hold (the
 * absorbing commit's batch must stay far below PB__COMMIT_MAX_BATCH). */
#define PB__ABSORB_MAX_BYTES (64u << 10)

/**
 * ABSORPTION (txn.c, "Combined commits"): replays the changes of `b`, the
 * database root tcoll of another transaction of the same database that
 * waits to commit, onto `a`, the database root tcoll of the committing
 * transaction, as if b had rebased onto a's result: every change of b is
 * checked first, against b's base and what a holds now (the rebase's
 * rule: the first committer of a key wins; a key whose nested collection
 * a has open counts as changed), and only when all pass are they applied
 * to a's handles, unlogged (a rebase of a rebuilds from a's own log and
 * drops them; a's flush writes them).  b's pending runs are sorted, not
 * merged into its handles (that would copy its leaves for nothing); it
 * must hold only Dictionaries whose logs are puts and removes (a run
 * sorted, not built into an empty Dictionary), at most
 * PB__ABSORB_MAX_CHANGES of them holding at most PB__ABSORB_MAX_BYTES,
 * nested Dictionaries opened on keys b did not also put or remove, none
 * created by b; and its transaction must have written nothing into its
 * batch (txn.c checks).
 * Nested collections of b's that a has not opened are opened in a (as
 * only read).  *applied is false when nothing of b was applied (b then
 * commits on its own; the result says why: PB_ECONFLICT, PB_EINVAL for a
 * shape not absorbed, or an error sorting, settling or reading); true
 * when b's changes went into a, and then an error means a holds part of
 * them and must not be published.  b is only read (and its runs sorted);
 * `all` is a's transaction's list of tcolls.
 */
int pb__tcoll_absorb(pb__tcoll *a, pb__tcoll **all, pb__tcoll *b,
                     bool *applied);

/** The atoms of cached nodes that the Dictionary of t (none for another
 * kind, or a detached tcoll) copied to change (pb__dict_gone).  Views
 * valid until t changes or ends. */
size_t pb__tcoll_gone(const pb__tcoll *t, const pb_atom_ptr **out);

/** The database root handle of a transaction (*names, opened on first
 * use), and its list of handles (txn.c; for the public collection
 * functions of coll_api.c and the catalog).  Errors: PB_ENOMEM. */
int pb__txn_names(pb_txn *txn, pb__tcoll ***all, pb__tcoll **names);

/**
 * Opens the named collection `key` of the transaction's database root (as
 * pb__tcoll_nested on the database root handle).  A read-only transaction
 * takes its root from the database handle's memo when this database root
 * was seen before (txn/snapshot.h), and remembers it otherwise.  Errors:
 * pb__tcoll_nested's.
 */
int pb__txn_open_root(pb_txn *txn, pb_str key, pb_value_kind kind,
                      bool create, pb__tcoll **out);

#endif /* PB_TXN_TCOLL_H */
