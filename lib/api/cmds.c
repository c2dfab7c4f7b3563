/* Data commands, async and sync, with the client-side checks that
 * nbd_set_strict_mode controls. */
#include <stdlib.h>
#include <string.h>

#include "api/internal.h"
#include "api/io.h"
#include "engine/engine.h"
#include "wire/wire.h"

/* The largest read or write the library sends, as libnbd. */
#define NBDI_MAX_REQUEST (64 * 1024 * 1024)

/* Everything a command needs before it is queued. */
struct request {
  uint16_t type;
  uint32_t flags;
  uint64_t offset, count;
  void *rbuf;
  const void *wbuf;
  uint8_t *payload;             /* block status filter: owned, taken by issue */
  uint32_t payload_len;
};

static int
refuse (int err, const char *what)
{
  nbdi_set_error (err, "%s", what);
  return -1;
}

/* Client-side validation, as strict mode asks. */
static int
check (struct nbd_handle *h, const struct request *r)
{
  const struct nbdi_engine *e = h->engine;
  const struct nbdi_export_info *info = nbdi_engine_export (e);
  uint32_t strict = h->cfg.proto.strict;
  uint16_t ef = info->eflags;

  if (nbdi_engine_disconnect_requested (e))
    return refuse (EINVAL, "cannot issue commands after a disconnect");
  if (strict & LIBNBD_STRICT_COMMANDS) {
    if (r->type == NBD_CMD_FLUSH && !(ef & NBD_FLAG_SEND_FLUSH))
      return refuse (EINVAL, "server does not support flush operations");
    if (r->type == NBD_CMD_TRIM && !(ef & NBD_FLAG_SEND_TRIM))
      return refuse (EINVAL, "server does not support trim operations");
    if (r->type == NBD_CMD_WRITE_ZEROES && !(ef & NBD_FLAG_SEND_WRITE_ZEROES))
      return refuse (EINVAL, "server does not support zero operations");
    if (r->type == NBD_CMD_CACHE && !(ef & NBD_FLAG_SEND_CACHE))
      return refuse (EINVAL, "server does not support cache operations");
    /* Only after the above: a command never advertised is EINVAL even on
     * a read-only export. */
    if ((r->type == NBD_CMD_WRITE || r->type == NBD_CMD_TRIM
         || r->type == NBD_CMD_WRITE_ZEROES) && (ef & NBD_FLAG_READ_ONLY))
      return refuse (EPERM, "server does not support write operations");
    if ((r->flags & LIBNBD_CMD_FLAG_FUA) && !(ef & NBD_FLAG_SEND_FUA))
      return refuse (EINVAL, "server does not support the FUA flag");
    if ((r->flags & LIBNBD_CMD_FLAG_DF) && !(ef & NBD_FLAG_SEND_DF))
      return refuse (EINVAL, "server does not support the DF flag");
    if ((r->flags & LIBNBD_CMD_FLAG_FAST_ZERO) && !(ef & NBD_FLAG_SEND_FAST_ZERO))
      return refuse (EINVAL, "server does not support the FAST_ZERO flag");
    if (r->type == NBD_CMD_BLOCK_STATUS && nbdi_engine_nr_metas (e) == 0)
      return refuse (ENOTSUP, "no meta context was negotiated: "
                     "did you call nbd_add_meta_context?");
  }
  if ((strict & LIBNBD_STRICT_ZERO_SIZE) && r->count == 0
      && r->type != NBD_CMD_FLUSH)
    return refuse (EINVAL, "count cannot be 0");
  if ((strict & LIBNBD_STRICT_BOUNDS) && r->type != NBD_CMD_FLUSH
      && (r->offset > info->size || r->count > info->size - r->offset)) {
    /* Writing past the end means "no space", as a server would say. */
    bool writes = r->type == NBD_CMD_WRITE || r->type == NBD_CMD_TRIM
      || r->type == NBD_CMD_WRITE_ZEROES;
    return refuse (writes ? ENOSPC : EINVAL, "request out of bounds");
  }
  if ((strict & LIBNBD_STRICT_ALIGN) && info->block_min > 1
      && r->type != NBD_CMD_FLUSH
      && (r->offset % info->block_min || r->count % info->block_min))
    return refuse (EINVAL, "request is not aligned to the server's minimum block size");
  /* LIBNBD_STRICT_PAYLOAD limits what the client sends (write data) to
   * the payload size; reads, and writes without it, may go up to the
   * library's own limit and the server decides. */
  if (r->type == NBD_CMD_WRITE && (strict & LIBNBD_STRICT_PAYLOAD)
      && r->count > nbdi_payload_size (info))
    return refuse (ERANGE, "request too large: larger than the payload size");
  if ((r->type == NBD_CMD_READ || r->type == NBD_CMD_WRITE)
      && r->count > NBDI_MAX_REQUEST)
    return refuse (ERANGE, "request too large: larger than 64 MiB");
  if (!nbdi_engine_extended (e) && r->count > UINT32_MAX)
    return refuse (ERANGE, "request too large without extended headers");
  return 0;
}

static int64_t
issue (struct nbd_handle *h, const struct request *r, nbd_completion_callback completion,
       nbd_chunk_callback chunk, nbd_extent_callback extent,
       nbd_extent64_callback extent64)
{
  struct nbdi_command cmd = {
    .type = r->type, .flags = r->flags, .offset = r->offset, .count = r->count,
    .rbuf = r->rbuf, .wbuf = r->wbuf,
    .payload = r->payload, .payload_len = r->payload_len,
    .completion = completion, .chunk = chunk, .extent = extent, .extent64 = extent64,
  };
  uint8_t *payload = r->payload;  /* ours until the engine holds it */
  int64_t cookie;

  if (check (h, r) == -1)
    goto fail;
  cookie = nbdi_engine_submit (h->engine, &cmd);
  if (cookie < 0) {
    nbdi_set_error ((int) -cookie, "%s", strerror ((int) -cookie));
    goto fail;
  }
  /* A lone command leaves at once: no reply is coming that would send
   * it, and an event loop may already sleep on POLLIN (libnbd sends at
   * once too).  With others in flight it joins the queue, which the next
   * poll or reply batch sends with one system call; so does one issued
   * by a completion callback, which the receive sends when it ends. */
  if (nbdi_engine_in_flight (h->engine) == 1 && !h->io.in_receive)
    (void) nbdi_io_send (h);    /* a failure completes the command with
                                 * the error; its cookie stays valid */
  return cookie;

 fail:
  free (payload);
  if (r->rbuf && h->cfg.proto.pread_initialize)
    memset (r->rbuf, 0, r->count);
  if (chunk.free) chunk.free (chunk.user_data);
  if (extent.free) extent.free (extent.user_data);
  if (extent64.free) extent64.free (extent64.user_data);
  if (completion.free) completion.free (completion.user_data);
  return -1;
}

#define NO_CHUNK ((nbd_chunk_callback) { .callback = NULL })
#define NO_EXTENT ((nbd_extent_callback) { .callback = NULL })
#define NO_EXTENT64 ((nbd_extent64_callback) { .callback = NULL })

int64_t
nbdi_aio_pread (struct nbd_handle *h, void *buf, size_t count, uint64_t offset,
                nbd_completion_callback cb, uint32_t flags)
{
  struct request r = { .type = NBD_CMD_READ, .flags = flags, .offset = offset, .count = count,
                       .rbuf = buf };
  return issue (h, &r, cb, NO_CHUNK, NO_EXTENT, NO_EXTENT64);
}

int64_t
nbdi_aio_pread_structured (struct nbd_handle *h, void *buf, size_t count,
                           uint64_t offset, nbd_chunk_callback chunk,
                           nbd_completion_callback cb, uint32_t flags)
{
  struct request r = { .type = NBD_CMD_READ, .flags = flags, .offset = offset, .count = count,
                       .rbuf = buf };
  return issue (h, &r, cb, chunk, NO_EXTENT, NO_EXTENT64);
}

int64_t
nbdi_aio_pwrite (struct nbd_handle *h, const void *buf, size_t count,
                 uint64_t offset, nbd_completion_callback cb, uint32_t flags)
{
  struct request r = { .type = NBD_CMD_WRITE, .flags = flags & ~LIBNBD_CMD_FLAG_PAYLOAD_LEN,
                       .offset = offset, .count = count, .wbuf = buf };
  return issue (h, &r, cb, NO_CHUNK, NO_EXTENT, NO_EXTENT64);
}

int64_t
nbdi_aio_flush (struct nbd_handle *h, nbd_completion_callback cb, uint32_t flags)
{
  struct request r = { .type = NBD_CMD_FLUSH, .flags = flags };
  return issue (h, &r, cb, NO_CHUNK, NO_EXTENT, NO_EXTENT64);
}

int64_t
nbdi_aio_trim (struct nbd_handle *h, uint64_t count, uint64_t offset,
               nbd_completion_callback cb, uint32_t flags)
{
  struct request r = { .type = NBD_CMD_TRIM, .flags = flags, .offset = offset, .count = count };
  return issue (h, &r, cb, NO_CHUNK, NO_EXTENT, NO_EXTENT64);
}

int64_t
nbdi_aio_cache (struct nbd_handle *h, uint64_t count, uint64_t offset,
                nbd_completion_callback cb, uint32_t flags)
{
  struct request r = { .type = NBD_CMD_CACHE, .flags = flags, .offset = offset, .count = count };
  return issue (h, &r, cb, NO_CHUNK, NO_EXTENT, NO_EXTENT64);
}

int64_t
nbdi_aio_zero (struct nbd_handle *h, uint64_t count, uint64_t offset,
               nbd_completion_callback cb, uint32_t flags)
{
  struct request r = { .type = NBD_CMD_WRITE_ZEROES, .flags = flags, .offset = offset,
                       .count = count };
  return issue (h, &r, cb, NO_CHUNK, NO_EXTENT, NO_EXTENT64);
}

/* Without extended headers a block status request is limited to 32 bits;
 * the server answers for a prefix anyway, so clamp instead of failing. */
static uint64_t
status_count (struct nbd_handle *h, uint64_t count)
{
  if (!nbdi_engine_extended (h->engine) && count > UINT32_MAX)
    return UINT32_MAX & ~(uint64_t) 511;
  return count;
}

int64_t
nbdi_aio_block_status (struct nbd_handle *h, uint64_t count, uint64_t offset,
                       nbd_extent_callback extent, nbd_completion_callback cb,
                       uint32_t flags)
{
  struct request r = { .type = NBD_CMD_BLOCK_STATUS, .flags = flags, .offset = offset,
                       .count = status_count (h, count) };
  return issue (h, &r, cb, NO_CHUNK, extent, NO_EXTENT64);
}

int64_t
nbdi_aio_block_status_64 (struct nbd_handle *h, uint64_t count, uint64_t offset,
                          nbd_extent64_callback extent, nbd_completion_callback cb,
                          uint32_t flags)
{
  struct request r = { .type = NBD_CMD_BLOCK_STATUS, .flags = flags, .offset = offset,
                       .count = status_count (h, count) };
  return issue (h, &r, cb, NO_CHUNK, NO_EXTENT, extent);
}

/* The filter form names the meta contexts to report in a payload of
 * the effect length followed by their ids. */
int64_t
nbdi_aio_block_status_filter (struct nbd_handle *h, uint64_t count, uint64_t offset,
                              char **contexts, nbd_extent64_callback extent,
                              nbd_completion_callback cb, uint32_t flags)
{
  const struct nbdi_engine *e = h->engine;
  struct request r = { .type = NBD_CMD_BLOCK_STATUS,
                       .flags = flags & ~LIBNBD_CMD_FLAG_PAYLOAD_LEN,
                       .offset = offset, .count = count };
  size_t n = 0;
  uint8_t *payload;

  while (contexts[n])
    n++;
  if (!nbdi_engine_extended (e)
      || ((h->cfg.proto.strict & LIBNBD_STRICT_COMMANDS)
          && !(nbdi_engine_export (e)->eflags & NBD_FLAG_BLOCK_STAT_PAYLOAD))) {
    nbdi_set_error (ENOTSUP, "the server does not support block status filtering");
    goto fail;
  }
  if (n == 0 || n > 1024) {
    nbdi_set_error (EINVAL, "between 1 and 1024 meta contexts must be named");
    goto fail;
  }
  payload = malloc (8 + 4 * n);
  if (payload == NULL) {
    nbdi_set_error (ENOMEM, "out of memory");
    goto fail;
  }
  wire_put64 (payload, count);
  for (size_t i = 0; i < n; i++) {
    size_t j, nr = nbdi_engine_nr_metas (e);
    uint32_t id = 0;
    for (j = 0; j < nr; j++)
      if (strcmp (nbdi_engine_meta_name (e, j, &id), contexts[i]) == 0)
        break;
    if (j == nr) {
      nbdi_set_error (EINVAL, "meta context \"%s\" was not negotiated", contexts[i]);
      free (payload);
      goto fail;
    }
    wire_put32 (payload + 8 + 4 * i, id);
  }
  r.payload = payload;
  r.payload_len = 8 + 4 * n;
  return issue (h, &r, cb, NO_CHUNK, NO_EXTENT, extent);

 fail:
  if (extent.free) extent.free (extent.user_data);
  if (cb.free) cb.free (cb.user_data);
  return -1;
}


/* ---- completion bookkeeping ---- */

int
nbdi_aio_command_completed (struct nbd_handle *h, uint64_t cookie)
{
  struct nbdi_completed done;
  int error;

  /* No command has cookie 0.  Any other cookie that is not complete
   * answers "still in flight", even one never issued or already
   * retired: libnbd's answer, which programs written for it expect. */
  if (cookie == 0) {
    nbdi_set_error (EINVAL, "invalid aio cookie 0");
    return -1;
  }
  if (nbdi_engine_take_completed (h->engine, cookie, &done) == 0)
    return 0;
  error = done.error;
  if (error) {
    if (done.server_msg)
      nbdi_set_error (error, "%s: %s", wire_command_name (done.type), done.server_msg);
    else
      nbdi_set_error (error, "%s failed: %s", wire_command_name (done.type),
                      strerror (error));
  }
  free (done.server_msg);
  return error ? -1 : 1;
}

int64_t
nbdi_aio_peek_command_completed (struct nbd_handle *h)
{
  uint64_t cookie = nbdi_engine_peek_completed (h->engine);

  if (cookie)
    return cookie;
  if (nbdi_engine_in_flight (h->engine))
    return 0;
  nbdi_set_error (EINVAL, "no commands are in flight");
  return -1;
}

int
nbdi_aio_in_flight (struct nbd_handle *h)
{
  /* Called without the handle lock (a program polls it once per command
   * it issues): one atomic load each, as the engine stores them.  As in
   * libnbd, a requested disconnect counts until the handle closes. */
  size_t n = nbdi_engine_in_flight (h->engine);
  bool disc = nbdi_engine_disconnect_requested (h->engine)
              && nbdi_state_permits (h, NBDI_GROUP_CONNECTED);
  return (int) n + disc;
}

/* ---- sync forms (generated from the table): the aio call, then this ---- */

static bool
cookie_done (struct nbd_handle *h, void *arg)
{
  return nbdi_engine_is_completed (h->engine, *(uint64_t *) arg);
}

int
nbdi_wait_command (struct nbd_handle *h, int64_t cookie)
{
  uint64_t c = cookie;

  if (cookie == -1)
    return -1;
  int r = nbdi_io_wait (h, cookie_done, &c);

  if (r == -1 && !cookie_done (h, &c))
    return -1;
  if (nbdi_aio_command_completed (h, c) == 1)
    return 0;
  /* The call that saw the connection die tells why, not just the
   * command's ENOTCONN. */
  if (r == -1 && nbdi_get_state (h) == NBDI_STATE_DEAD)
    nbdi_set_dead_error (h);
  return -1;
}









