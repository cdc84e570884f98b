/*
 * util/errdetail.c - pb_errdetail() and its thread-local buffer.
 */
#include "util/errdetail.h"

#include <stdio.h>

#include "protobase/protobase.h"

static _Thread_local char detail[512];

void pb__errdetail_set(const char *msg) {
  snprintf(detail, sizeof detail, "%s", msg ? msg : "");
}

const char *pb_errdetail(void) { return detail; }
