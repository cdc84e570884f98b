/*
 * util/errdetail.h - the thread-local detail behind pb_errdetail(): a
 * sentence naming the file, offset or peer of the last error, for calls
 * whose failure leaves no handle to ask (an open that failed).
 */
#ifndef PB_UTIL_ERRDETAIL_H
#define PB_UTIL_ERRDETAIL_H

/** Sets this thread's detail (a copy of `msg`, truncated to 511 bytes). */
void pb__errdetail_set(const char *msg);

#endif /* PB_UTIL_ERRDETAIL_H */
