/* The synchronous engine: one request at a time, in order.  Used for
 * streams (which can only be read or written in order) and for
 * --synchronous. */
#include "nbdcopy.h"

#include "blkhash.h"

#include <inttypes.h>
#include <stdlib.h>

static int
write_with_holes (struct endpoint *dst, const char *buf, size_t len,
                  uint64_t offset)
{
  bool detect = dst->kind != ENDPOINT_STREAM && dst->kind != ENDPOINT_NULL;

  while (len > 0) {
    bool zero = false;
    size_t n = detect ? data_run_length (buf, len, offset, &zero) : len;
    if (zero) {
      if (zeroes_need_writing (dst) &&
          endpoint_write_zeroes (dst, 0, n, offset) == -1)
        return -1;
    }
    else if (endpoint_write (dst, 0, buf, n, offset) == -1)
      return -1;
    progress_add (n, zero);
    buf += n;
    offset += n;
    len -= n;
  }
  return 0;
}

static int
copy_zero_extent (struct endpoint *dst, uint64_t len, uint64_t offset)
{
  if ((zeroes_need_writing (dst) || dst->kind == ENDPOINT_STREAM) &&
      endpoint_write_zeroes (dst, 0, len, offset) == -1)
    return -1;
  if (source_hash)
    blkhash_zero (source_hash, offset, len);
  progress_add (len, true);
  return 0;
}

int
copy_synchronous (struct endpoint *src, struct endpoint *dst)
{
  char *buf = malloc (opts.request_size);
  uint64_t offset = 0;
  int r = -1;

  if (buf == NULL) {
    perror (TOOL);
    return -1;
  }
  for (;;) {
    struct extent e;
    uint64_t left = src->size >= 0 ? (uint64_t) src->size - offset
                                   : UINT64_MAX;
    if (left == 0)
      break;
    if (endpoint_extent (src, 0, offset, left, &e) == -1)
      goto out;
    if (e.zero) {
      if (copy_zero_extent (dst, e.length, offset) == -1)
        goto out;
      offset += e.length;
      continue;
    }
    size_t want = e.length < opts.request_size ? (size_t) e.length
                                               : (size_t) opts.request_size;
    ssize_t got = endpoint_read (src, 0, buf, want, offset);
    if (got == -1)
      goto out;
    if (got == 0)
      break;            /* end of the input stream */
    if (src->size == -1 && dst->size >= 0 &&
        offset + (uint64_t) got > (uint64_t) dst->size) {
      fprintf (stderr, "%s: error: destination size is smaller than "
               "source size\n", TOOL);
      goto out;
    }
    if (source_hash)
      blkhash_data (source_hash, offset, buf, (size_t) got);
    if (write_with_holes (dst, buf, (size_t) got, offset) == -1)
      goto out;
    offset += (uint64_t) got;
    progress_tick ();
  }
  /* A stream into a regular file may end in a hole that was never
   * written: the file's length is the stream's. */
  if (src->size == -1 && dst->kind == ENDPOINT_FILE && !dst->is_block_device
      && endpoint_resize_end (dst, offset) == -1)
    goto out;
  /* The stream's length is known now. */
  if (src->size == -1)
    src->size = (int64_t) offset;
  r = 0;
 out:
  free (buf);
  return r;
}
