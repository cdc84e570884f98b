/*
 * util/errors.c - pb_strerror and pb_errname, generated from the one X-macro
 * list in protobase/errors.h, and pb_version.
 */
#include "protobase/protobase.h"

const char *pb_strerror(int err) {
  switch (err) {
#define PB__ERROR_MSG(name, value, msg) \
  case PB_##name:                       \
    return msg;
    PB_ERROR_LIST(PB__ERROR_MSG)
#undef PB__ERROR_MSG
  }
  return "unknown error";
}

const char *pb_errname(int err) {
  switch (err) {
#define PB__ERROR_NAME(name, value, msg) \
  case PB_##name:                        \
    return "PB_" #name;
    PB_ERROR_LIST(PB__ERROR_NAME)
#undef PB__ERROR_NAME
  }
  return "PB_UNKNOWN";
}

const char *pb_version(void) { return PB_VERSION_STRING; }
