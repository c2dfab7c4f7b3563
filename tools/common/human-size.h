/* Sizes written and read the way the libnbd tools do: a power-of-1024
 * suffix (K, M, G, T, P, E). */
#ifndef TOOLS_HUMAN_SIZE_H
#define TOOLS_HUMAN_SIZE_H

#include <stdbool.h>
#include <stdint.h>

#define HUMAN_SIZE_LEN 32

/* Formats n with the largest suffix that divides it exactly (1048576 is
 * "1M", 2125119488 is "2075312K", 1000 is "1000") into buf and returns
 * buf.  *has_suffix, when not NULL, says whether a suffix was used.
 */
char *human_size (char buf[HUMAN_SIZE_LEN], uint64_t n, bool *has_suffix);

/* Parses a decimal size with an optional suffix (k/K, m/M, ... e/E,
 * s/S for 512-byte sectors, or b/B for bytes), as libnbd's tools do:
 * leading blanks and a + sign are allowed.  Returns 0, or -1 if str is
 * not such a size, is negative, or does not fit in a signed 64-bit
 * offset.
 */
int parse_human_size (const char *str, uint64_t *result);

#endif
