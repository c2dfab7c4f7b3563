/* The harness's randomness. */
#include "fz-rng.h"

uint64_t
fz_splitmix (uint64_t *s)
{
  uint64_t z = (*s += UINT64_C(0x9e3779b97f4a7c15));
  z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
  z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
  return z ^ (z >> 31);
}

uint32_t
fz_below (struct fz_rng *r, uint32_t n)
{
  if (n <= 1)
    return 0;
  if (r->data && r->pos < r->len) {
    uint32_t v = r->data[r->pos++];
    if (n > 256 && r->pos + 2 < r->len) {
      v = v << 24 | (uint32_t) r->data[r->pos] << 16
        | (uint32_t) r->data[r->pos + 1] << 8 | r->data[r->pos + 2];
      r->pos += 3;
    }
    return v % n;
  }
  return (uint32_t) (fz_splitmix (&r->s) >> 32) % n;
}

uint32_t
fz_u32 (struct fz_rng *r)
{
  return fz_below (r, 0xffffffffu) ^ (fz_below (r, 2) << 31);
}

bool
fz_chance (struct fz_rng *r, unsigned pct)
{
  return fz_below (r, 100) < pct;
}
