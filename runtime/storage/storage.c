/*
 * storage/storage.c - the tier-independent entry points of the storage
 * layer: closing any tier, file options, and failure messages.  The tiers
 * themselves live in memory.c and file*.c.
 */
#include "storage/storage.h"

#include <assert.h>
#include <string.h>

#include "atom/batch.h"
#include "storage/tier.h"

/* Default size at which the file tier rolls to a new WAL segment. */
#define PB__DEFAULT_SEGMENT_SIZE (64ull << 20)
/* Defaults of automatic compaction (docs/storage.md). */
#define PB__DEFAULT_COMPACT_DEAD_PCT 50u
#define PB__DEFAULT_COMPACT_MIN_DEAD (1ull << 20)
#define PB__DEFAULT_COMPACT_DUTY_PCT 50u

void pb_file_options_init(pb_file_options *opts) {
  if (opts == NULL) return;
  memset(opts, 0, sizeof *opts);
  opts->durability = PB_DURABILITY_SYNC;
  opts->segment_size = PB__DEFAULT_SEGMENT_SIZE;
  opts->read_only = false;
  opts->auto_compact = true;
  opts->compact_dead_pct = PB__DEFAULT_COMPACT_DEAD_PCT;
  opts->compact_min_dead = PB__DEFAULT_COMPACT_MIN_DEAD;
  opts->compact_duty_pct = PB__DEFAULT_COMPACT_DUTY_PCT;
}

int pb_storage_close(pb_storage *st) {
  if (st == NULL) return PB_OK;
  assert(st->ops != NULL && st->ops->close != NULL);
  return st->ops->close(st);
}

void pb__storage_errmsg(pb_storage *st, char *buf, size_t size) {
  if (buf == NULL || size == 0) return;
  buf[0] = '\0';
  if (st != NULL && st->ops->errmsg != NULL) st->ops->errmsg(st, buf, size);
}

int pb_storage_compact(pb_storage *st, pb_compact_stats *stats) {
  if (st == NULL) return PB_EINVAL;
  if (stats != NULL) memset(stats, 0, sizeof *stats);
  if (st->ops->compact == NULL) return PB_ENOTSUP;
  if (st->read_only) return PB_ERDONLY;
  return st->ops->compact(st, stats);
}

int pb_storage_recovery_info(pb_storage *st, pb_recovery_info *out) {
  if (st == NULL || out == NULL) return PB_EINVAL;
  memset(out, 0, sizeof *out);
  if (st->ops->recovery_info == NULL) return PB_ENOTSUP;
  return st->ops->recovery_info(st, out);
}

int pb_storage_backup(pb_storage *st, const char *dir, unsigned flags) {
  if (st == NULL || dir == NULL || dir[0] == '\0' ||
      (flags & ~PB_BACKUP_COMPACT) != 0)
    return PB_EINVAL;
  if (st->ops->backup == NULL) return PB_ENOTSUP;
  return st->ops->backup(st, dir, flags);
}

int pb_storage_disk_usage(pb_storage *st, pb_disk_usage *out) {
  if (st == NULL || out == NULL) return PB_EINVAL;
  memset(out, 0, sizeof *out);
  if (st->ops->disk_usage == NULL) return PB_ENOTSUP;
  return st->ops->disk_usage(st, out);
}

int pb__storage_check_batch(const pb__batch *batch) {
  if (batch == NULL) return PB_EINVAL;
  if (batch->size == 0) return PB_OK; /* a root-only commit */
  if (batch->data == NULL || (batch->id_hi | batch->id_lo) == 0)
    return PB_EINVAL;
  return pb__batch_check(batch->data, batch->size) == PB_OK ? PB_OK
                                                            : PB_EINVAL;
}

int pb__storage_check_root(const pb__batch *batch, const pb__batch_index *ix,
                           pb_atom_ptr root) {
  if (pb_atom_ptr_is_null(root)) return PB_OK;
  uint64_t size;
  if (batch->size > 0 && root.batch_hi == batch->id_hi &&
      root.batch_lo == batch->id_lo) {
    size = batch->size;
  } else {
    const pb__batch_loc *loc = pb__batch_index_find(ix, root.batch_hi,
                                                    root.batch_lo);
    if (loc == NULL) return PB_EINVAL;
    size = loc->size;
  }
  /* The root must at least address an atom's length prefix. */
  return size >= 4 && root.offset <= size - 4 ? PB_OK : PB_EINVAL;
}
