/* Counting callbacks shared by the data tests. */
#ifndef FASTNBD_DATA_CALLBACKS_H
#define FASTNBD_DATA_CALLBACKS_H

#include "data.h"

/* One completion callback's record. */
struct done {
  int calls, frees;
  int error;                    /* *error as the callback saw it */
  int ret;                      /* what the callback returns */
  int set_error;                /* stored into *error if nonzero ... */
  bool store;                   /* ... or if this is set */
};

static int
done_cb (void *user_data, int *error)
{
  struct done *d = user_data;
  d->calls++;
  d->error = *error;
  if (d->set_error || d->store)
    *error = d->set_error;
  return d->ret;
}

static void
done_free (void *user_data)
{
  ((struct done *) user_data)->frees++;
}

static inline nbd_completion_callback
done_closure (struct done *d)
{
  return (nbd_completion_callback) { .callback = done_cb, .user_data = d,
                                     .free = done_free };
}

/* Chunk callback record. */
struct chunks {
  int calls, frees;
  int data, holes, errors;
  uint64_t covered;             /* sum of counts of DATA and HOLE chunks */
  const uint8_t *buf;           /* the read's buffer */
  size_t count;
  uint64_t offset;              /* the read's offset */
  int bad;                      /* chunks outside the buffer / bad offsets */
  int error_in[8];              /* *error on entry, per call */
  unsigned status[8];
  uint64_t err_offset;          /* offset of the last READ_ERROR */
  int ret;                      /* what the callback returns */
  int set_error;                /* stored into *error if nonzero */
};

static int
chunk_cb (void *user_data, const void *subbuf, size_t count, uint64_t offset,
          unsigned status, int *error)
{
  struct chunks *c = user_data;
  const uint8_t *p = subbuf;

  if (c->calls < 8) {
    c->error_in[c->calls] = *error;
    c->status[c->calls] = status;
  }
  c->calls++;
  switch (status) {
  case LIBNBD_READ_DATA:
    c->data++;
    c->covered += count;
    break;
  case LIBNBD_READ_HOLE:
    c->holes++;
    c->covered += count;
    if (!all_bytes (subbuf, count, 0))
      c->bad++;
    break;
  case LIBNBD_READ_ERROR:
    c->errors++;
    c->err_offset = offset;
    if (count != 0)
      c->bad++;
    break;
  default:
    c->bad++;
  }
  if (c->buf) {
    if (offset < c->offset || offset - c->offset > c->count
        || count > c->count - (offset - c->offset)
        || p != c->buf + (offset - c->offset))
      c->bad++;
  }
  if (c->set_error)
    *error = c->set_error;
  return c->ret;
}

static void
chunk_free (void *user_data)
{
  ((struct chunks *) user_data)->frees++;
}

static inline nbd_chunk_callback
chunk_closure (struct chunks *c, const void *buf, size_t count, uint64_t offset)
{
  c->buf = buf;
  c->count = count;
  c->offset = offset;
  return (nbd_chunk_callback) { .callback = chunk_cb, .user_data = c,
                                .free = chunk_free };
}

static inline nbd_extent_callback
extent32_closure (struct extents *e)
{
  return (nbd_extent_callback) { .callback = extent32_cb, .user_data = e,
                                 .free = extents_free };
}

#ifdef LIBNBD_HAVE_NBD_BLOCK_STATUS_64
static inline nbd_extent64_callback
extent64_closure (struct extents *e)
{
  return (nbd_extent64_callback) { .callback = extent64_cb, .user_data = e,
                                   .free = extents_free };
}
#endif

#endif
