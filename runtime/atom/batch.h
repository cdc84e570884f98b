/*
 * atom/batch.h - the batch: the atoms one commit writes, as one byte string.
 *
 * A batch is a concatenation of atoms, each stored as a 4-byte little-endian
 * length followed by that many bytes.  An atom's offset is the position of
 * its length prefix inside the batch, so a transaction knows the pointer of
 * every atom it writes the moment it writes it, with no I/O and no lock, and
 * every storage tier stores the same bytes.  docs/format.md has the layout.
 */
#ifndef PB_ATOM_BATCH_H
#define PB_ATOM_BATCH_H

#include "protobase/protobase.h"

/** The largest atom (1 GiB). */
#define PB__ATOM_MAX_SIZE (1u << 30)
/**
 * The largest batch: 4 GiB less 1 KiB.  Every atom offset then fits the u32
 * of an encoded pointer (atom/ptr.h), and a batch fits one WAL frame with
 * its commit record (storage/file_format.h).
 */
#define PB__BATCH_MAX_SIZE (UINT32_MAX - 1023u)

typedef struct pb__batch_builder {
  uint64_t id_hi; /* this batch's id, drawn at random on init */
  uint64_t id_lo;
  pb_buf buf;     /* the batch bytes written so far */
} pb__batch_builder;

/** Starts an empty batch with a fresh random id.  Errors: PB_EIO. */
int pb__batch_init(pb__batch_builder *bb);
/** Frees the builder's bytes. */
void pb__batch_free(pb__batch_builder *bb);
/**
 * Appends one atom and gives its pointer.
 * Errors: PB_ENOMEM; PB_ETOOBIG (the atom is over PB__ATOM_MAX_SIZE, or
 * the batch would pass PB__BATCH_MAX_SIZE; nothing is appended).
 */
int pb__batch_add(pb__batch_builder *bb, const void *atom, size_t size,
                  pb_atom_ptr *out);
/**
 * Finds the atom at `offset` in batch bytes [data, data + size) and gives a
 * view of it.  Errors: PB_ENOTFOUND (offset outside the batch);
 * PB_ECORRUPT (the length runs past the batch).
 */
int pb__batch_atom(const uint8_t *data, size_t size, uint64_t offset,
                   pb_bytes *out);
/**
 * Checks that a batch is a well-formed sequence of atoms.
 * Errors: PB_ECORRUPT.
 */
int pb__batch_check(const uint8_t *data, size_t size);

#endif /* PB_ATOM_BATCH_H */
