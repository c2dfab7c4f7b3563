/* Randomness: a seeded PRNG, or the bytes of a fuzzer's input (then the
 * PRNG once they run out).  Every choice the harness makes goes through
 * one of these, so the same seed or input gives the same bytes. */
#ifndef FZ_RNG_H
#define FZ_RNG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct fz_rng {
  uint64_t s;                /* PRNG state */
  const uint8_t *data;       /* fuzzer input, or NULL */
  size_t len, pos;
};

/* One step of splitmix64 on *s. */
uint64_t fz_splitmix (uint64_t *s);

/* A number in [0, n). */
uint32_t fz_below (struct fz_rng *r, uint32_t n);
uint32_t fz_u32 (struct fz_rng *r);

/* True pct times in 100. */
bool fz_chance (struct fz_rng *r, unsigned pct);

#endif
