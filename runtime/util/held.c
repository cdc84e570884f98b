/*
 * util/held.c - the thread-local byte whose address names a thread in
 * pb__owner (util/held.h).
 */
#include "util/held.h"

_Thread_local char pb__thread_token;
