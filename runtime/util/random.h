/*
 * util/random.h - unpredictable 128-bit ids for batches and segments.
 */
#ifndef PB_UTIL_RANDOM_H
#define PB_UTIL_RANDOM_H

#include <stdint.h>

/**
 * Draws a random 128-bit id from the kernel (getrandom), never all zero.
 * Errors: PB_EIO (the kernel gave no randomness).
 */
int pb__random_id(uint64_t *hi, uint64_t *lo);

#endif /* PB_UTIL_RANDOM_H */
