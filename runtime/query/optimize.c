/*
 * query/optimize.c - placeholder, replaced by q-opt.
 *
 * Until the optimizer lands, a plan runs as it was built: this only copies
 * the root's memory budget down the tree (plan.c copies it again when it
 * opens the nodes).
 */
#include "query/query_int.h"

static void pb__opt_memory(pb_plan *n, size_t memory) {
  if (!n)
    return;
  n->memory = memory;
  pb__opt_memory(n->kid[0], memory);
  pb__opt_memory(n->kid[1], memory);
}

int pb__plan_optimize(pb_plan *root) {
  pb__opt_memory(root, root->memory);
  return PB_OK;
}
