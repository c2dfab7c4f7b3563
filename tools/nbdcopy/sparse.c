/* Finding runs of zeroes in data just read, so that they can become holes
 * or zero requests on the destination instead of writes (-S). */
#include "nbdcopy.h"

#include <string.h>

bool
is_all_zero (const void *buf, size_t len)
{
  const unsigned char *p = buf;
  size_t head = len < 16 ? len : 16;

  /* After the first bytes are known to be zero, comparing the buffer
   * with itself shifted checks the rest at memcmp speed. */
  for (size_t i = 0; i < head; i++)
    if (p[i] != 0)
      return false;
  return len <= 16 || memcmp (p, p + 16, len - 16) == 0;
}

bool
zeroes_need_writing (const struct endpoint *dst)
{
  if (opts.allocated)
    return dst->kind != ENDPOINT_NULL;
  return !opts.destination_is_zero && !dst->starts_zeroed;
}

size_t
data_run_length (const char *buf, size_t len, uint64_t offset, bool *zero)
{
  uint64_t block = opts.sparse_size;
  size_t pos = 0;
  bool first_zero = false;

  *zero = false;
  if (block == 0 || opts.allocated)
    return len;
  while (pos < len) {
    /* Blocks are aligned to the destination offset, so that zero runs
     * line up with the destination's own blocks. */
    size_t n = (size_t) (block - (offset + pos) % block);
    if (n > len - pos)
      n = len - pos;
    bool z = n == block && is_all_zero (buf + pos, n);
    if (pos == 0)
      first_zero = z;
    else if (z != first_zero)
      break;
    pos += n;
  }
  *zero = first_zero;
  return pos;
}
