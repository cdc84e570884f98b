/* The consumer: store one note in a file storage and read it back. */
#include <stdio.h>
#include <string.h>

#include <protobase/protobase.h>

#include "notes.pb.h"

int main(int argc, char **argv) {
  pb_storage *st;
  pb_space *sp;
  pb_db *db;
  pb_txn *txn;
  pb_atom_ptr ptr;
  notes_Note n, back;
  if (argc < 2) return 2;
  if (pb_storage_open_file(argv[1], NULL, &st) || pb_space_open(st, &sp) ||
      pb_db_open(sp, "notes", PB_CREATE, &db) || pb_txn_begin(db, 0, &txn))
    return 1;
  notes_Note_init(&n);
  n.id = 7;
  n.text = pb_str_from_cstr("installed and found");
  if (notes_Note_put(txn, &n, &ptr) || notes_Note_load(txn, ptr, &back))
    return 1;
  /* back.text is a view: valid until the transaction ends, so use it now. */
  printf("consumer ok: note %u \"%.*s\" (protobase %s)\n", back.id,
         (int)back.text.len, back.text.ptr, pb_version());
  if (pb_txn_commit(txn)) return 1;
  pb_db_close(db);
  return pb_space_close(sp) == PB_OK ? 0 : 1;
}
