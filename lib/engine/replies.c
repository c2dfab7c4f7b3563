/* Reply parsing: simple, structured and extended replies, and how the
 * bytes of a read payload should arrive. */
#include <stdlib.h>
#include <string.h>

#include "engine/cookie-map.h"
#include "engine/internal.h"

/* Largest non-data chunk payload we accept (block status, errors). */
#define MAX_META_PAYLOAD (64u * 1024 * 1024)

static size_t
rx_avail (const struct nbdi_engine *e)
{
  return e->rx.end - e->rx.start;
}

static void
rx_skip (struct nbdi_engine *e, size_t n)
{
  e->rx.start += n;
  if (e->rx.start == e->rx.end)
    e->rx.start = e->rx.end = 0;
}

static int
protocol_error (struct nbdi_engine *e, const char *what)
{
  nbdi_engine_die (e, EPROTO, "protocol error: %s", what);
  return -1;
}

static int
out_of_memory (struct nbdi_engine *e)
{
  nbdi_engine_die (e, ENOMEM, "out of memory");
  return -1;
}

static void
set_cmd_error (struct nbdi_cmd *cmd, int err)
{
  if (cmd->error == 0)
    cmd->error = err;
}

/* Before a chunk lands at off: pread initialization only has to clear
 * what the server leaves unwritten, which is cheap to track while chunks
 * arrive in order.  The first chunk out of order clears everything not
 * yet written, once, before its own bytes land. */
static void
before_fill (struct nbdi_cmd *cmd, uint64_t off)
{
  if (cmd->scattered || off - cmd->req.offset == cmd->filled)
    return;
  if (cmd->init_buf)
    memset ((char *) cmd->req.rbuf + cmd->filled, 0, cmd->req.count - cmd->filled);
  cmd->scattered = true;
}

/* After a chunk of len bytes landed (before_fill was called for it). */
static void
note_filled (struct nbdi_cmd *cmd, uint64_t len)
{
  cmd->covered += len;
  if (!cmd->scattered)
    cmd->filled += len;
}

/* The outcome of a chunk or extent callback: returning -1 fails the
 * command with *error (EPROTO if the callback left it 0); anything
 * else leaves the command as it was. */
static void
callback_verdict (struct nbdi_cmd *cmd, int r, int error)
{
  if (r == -1)
    set_cmd_error (cmd, error ? error : EPROTO);
}

static void
chunk_callback (struct nbdi_cmd *cmd, const void *sub, uint64_t len,
                uint64_t off, unsigned status, int err)
{
  /* The callback sees the command's error so far (or this chunk's). */
  int error = err ? err : cmd->error;
  int r;

  if (cmd->req.chunk.callback == NULL)
    return;
  r = cmd->req.chunk.callback (cmd->req.chunk.user_data, sub, len, off, status, &error);
  callback_verdict (cmd, r, error);
}

static const char *
meta_name (struct nbdi_engine *e, uint32_t id)
{
  for (size_t i = 0; i < e->nr_metas; i++)
    if (e->metas[i].id == id)
      return e->metas[i].name;
  return NULL;
}

static int
on_block_status (struct nbdi_engine *e, struct nbdi_cmd *cmd, const uint8_t *p,
                 uint64_t len)
{
  bool ext = e->reply.type == NBD_REPLY_TYPE_BLOCK_STATUS_EXT;
  uint32_t id;
  int64_t n = wire_decode_block_status (p, len, ext, &id);
  const char *name;
  int error = cmd->error, r = 0;

  if (cmd->req.type != NBD_CMD_BLOCK_STATUS || n <= 0 || ext != e->extended)
    return protocol_error (e, "invalid block status chunk");
  /* A context the client never asked for carries nothing the program
   * can use: skip the chunk and keep the connection, as libnbd does. */
  name = meta_name (e, id);
  if (name == NULL) {
    if (e->cfg->debug)
      nbdi_log (e, "engine", "ignoring block status for meta context id %"
                  PRIu32 ", which was never negotiated", id);
    return 0;
  }
  if (cmd->req.extent64.callback) {
    nbd_extent *x = malloc (n * sizeof *x);
    if (x == NULL)
      return out_of_memory (e);
    for (int64_t i = 0; i < n; i++)
      wire_block_descriptor (p, ext, i, &x[i].length, &x[i].flags);
    r = cmd->req.extent64.callback (cmd->req.extent64.user_data, name,
                                    cmd->req.offset, x, n, &error);
    free (x);
  }
  else if (cmd->req.extent.callback) {
    uint32_t *x = malloc (n * 2 * sizeof *x);
    if (x == NULL)
      return out_of_memory (e);
    for (int64_t i = 0; i < n; i++) {
      uint64_t l, f;
      wire_block_descriptor (p, ext, i, &l, &f);
      x[2 * i] = l > UINT32_MAX ? UINT32_MAX : (uint32_t) l;
      x[2 * i + 1] = (uint32_t) f;
    }
    r = cmd->req.extent.callback (cmd->req.extent.user_data, name,
                                  cmd->req.offset, x, n * 2, &error);
    free (x);
  }
  callback_verdict (cmd, r, error);
  return 0;
}

/* An error chunk: ERROR, ERROR_OFFSET, or a type this client does not
 * know, which begins with the same error number and message as every
 * error chunk, so that its errno can still fail the command. */
static int
on_error_chunk (struct nbdi_engine *e, struct nbdi_cmd *cmd, const uint8_t *p)
{
  const struct wire_reply *r = &e->reply;
  struct wire_chunk_error ce;
  int err;

  if (wire_decode_chunk_error (p, r->length, r->type, &ce) < 0)
    return protocol_error (e, "invalid error chunk");
  /* Error number 0 in an error chunk still fails the command; libnbd
   * makes that EINVAL. */
  err = ce.error ? wire_nbd_errno (ce.error) : EINVAL;
  if (r->type == NBD_REPLY_TYPE_ERROR_OFFSET) {
    if (cmd->req.type != NBD_CMD_READ || ce.offset < cmd->req.offset
        || ce.offset - cmd->req.offset >= cmd->req.count)
      return protocol_error (e, "error offset outside the request");
    chunk_callback (cmd, (char *) cmd->req.rbuf + (ce.offset - cmd->req.offset), 0,
                    ce.offset, LIBNBD_READ_ERROR, err);
  }
  set_cmd_error (cmd, err);
  if (cmd->error_msg == NULL && ce.msg_len)
    cmd->error_msg = strndup (ce.msg, ce.msg_len);
  if (e->cfg->debug)
    nbdi_log (e, "engine", "server error for %s: %.*s",
              wire_command_name (cmd->req.type), (int) ce.msg_len, ce.msg);
  return 0;
}

/* A non-data chunk whose whole payload is in rx. */
static int
on_whole_chunk (struct nbdi_engine *e, struct nbdi_cmd *cmd, const uint8_t *p)
{
  const struct wire_reply *r = &e->reply;

  switch (r->type) {
  case NBD_REPLY_TYPE_OFFSET_HOLE: {
    uint64_t off, len;
    if (cmd->req.type != NBD_CMD_READ
        || wire_decode_chunk_hole (p, r->length, e->extended, &off, &len) < 0
        || off < cmd->req.offset || len > cmd->req.count
        || off - cmd->req.offset > cmd->req.count - len)
      return protocol_error (e, "invalid hole chunk");
    before_fill (cmd, off);
    memset ((char *) cmd->req.rbuf + (off - cmd->req.offset), 0, len);
    note_filled (cmd, len);
    chunk_callback (cmd, (char *) cmd->req.rbuf + (off - cmd->req.offset), len, off,
                    LIBNBD_READ_HOLE, 0);
    return 0;
  }
  case NBD_REPLY_TYPE_BLOCK_STATUS:
  case NBD_REPLY_TYPE_BLOCK_STATUS_EXT:
    return on_block_status (e, cmd, p, r->length);
  case NBD_REPLY_TYPE_NONE:
    return 0;
  default:
    if (r->type & NBD_REPLY_TYPE_ERROR_BIT)
      return on_error_chunk (e, cmd, p);
    return protocol_error (e, "unknown structured reply type");
  }
}

/* End of one chunk (or simple reply): complete the command if done. */
static void
end_chunk (struct nbdi_engine *e, struct nbdi_cmd *cmd, bool last)
{

  e->reply_cmd = NULL;
  e->reply_stage = NBDI_RS_HEADER;
  e->stats.chunks_received++;
  if (last)
    nbdi_cmd_complete (e, cmd);
}

/* The payload of the data chunk (or simple reply) being read has all
 * landed in the caller's buffer. */
static void
data_done (struct nbdi_engine *e, struct nbdi_cmd *cmd)
{
  uint64_t len = e->reply.magic == NBD_SIMPLE_REPLY_MAGIC ? cmd->req.count
                                                          : e->reply.length - 8;

  note_filled (cmd, len);
  chunk_callback (cmd, (char *) cmd->req.rbuf + (e->data_offset - cmd->req.offset), len,
                  e->data_offset, LIBNBD_READ_DATA, 0);
  end_chunk (e, cmd, e->reply.flags & NBD_REPLY_FLAG_DONE);
}

void
nbdi_payload_landed (struct nbdi_engine *e, uint64_t got)
{

  e->direct += got;
  e->direct_left -= got;
  if (e->direct_left == 0) {
    e->direct = NULL;
    data_done (e, e->reply_cmd);
  }
}

static int
start_reply (struct nbdi_engine *e)
{
  struct wire_reply *r = &e->reply;
  const uint8_t *p = e->rx.buf + e->rx.start;
  int size = wire_reply_size (p);
  struct nbdi_cmd *cmd;

  if (size < 0)
    return protocol_error (e, "bad reply magic");
  if (rx_avail (e) < (size_t) size)
    return 1;
  wire_decode_reply (p, r);
  rx_skip (e, size);
  cmd = map_find (&e->map, r->cookie, NULL);
  if (cmd == NULL)
    return protocol_error (e, "reply with an unknown cookie");
  /* A server cannot answer what it has not received; one that does
   * would let the command (and its buffers) be retired while we still
   * send from them. */
  if (cmd->end_seq > e->stats.bytes_sent)
    return protocol_error (e, "reply to a request not yet sent in full");
  e->reply_cmd = cmd;

  if (r->magic == NBD_SIMPLE_REPLY_MAGIC) {
    if (e->extended)
      return protocol_error (e, "simple reply after extended headers");
    if (r->error)
      set_cmd_error (cmd, wire_nbd_errno (r->error));
    if (cmd->req.type == NBD_CMD_READ && r->error == 0 && cmd->req.count > 0) {
      if (e->structured)
        return protocol_error (e, "simple reply with data after structured replies");
      e->data_offset = cmd->req.offset;
      e->direct = cmd->req.rbuf;
      e->direct_left = cmd->req.count;
      e->reply.flags = NBD_REPLY_FLAG_DONE;
      e->reply.length = cmd->req.count;
      e->reply_stage = NBDI_RS_DATA;
      return 0;
    }
    end_chunk (e, cmd, true);
    return 0;
  }

  /* Structured or extended chunk. */
  if (!e->structured)
    return protocol_error (e, "structured reply that was not negotiated");
  if (e->extended != (r->magic == NBD_EXTENDED_REPLY_MAGIC))
    return protocol_error (e, "reply header style differs from the negotiated one");
  if (e->extended && r->offset != cmd->req.offset)
    return protocol_error (e, "extended reply offset differs from the request");
  if (r->type == NBD_REPLY_TYPE_OFFSET_DATA) {
    /* At least one byte of data: the protocol forbids empty data chunks. */
    if (cmd->req.type != NBD_CMD_READ || r->length <= 8 || r->length - 8 > cmd->req.count)
      return protocol_error (e, "invalid data chunk");
    e->reply_stage = NBDI_RS_DATA_OFFSET;
    return 0;
  }
  if (r->type == NBD_REPLY_TYPE_NONE && r->length != 0)
    return protocol_error (e, "NONE chunk with a payload");
  if (r->length > MAX_META_PAYLOAD)
    return protocol_error (e, "chunk payload too large");
  e->reply_stage = NBDI_RS_WHOLE;
  return 0;
}

/* Make room so that `need` bytes can sit contiguously in rx. */
static int
rx_reserve (struct nbdi_engine *e, size_t need)
{
  struct nbdi_rx *rx = &e->rx;

  if (need > rx->cap) {
    uint8_t *buf = malloc (need);
    if (buf == NULL)
      return out_of_memory (e);
    memcpy (buf, rx->buf + rx->start, rx->end - rx->start);
    free (rx->buf);
    rx->buf = buf;
    rx->end -= rx->start;
    rx->start = 0;
    rx->cap = need;
  }
  return 0;
}

int
nbdi_replies_consume (struct nbdi_engine *e)
{

  for (;;) {
    struct nbdi_cmd *cmd = e->reply_cmd;
    int r;

    if (e->pub.phase == NBDI_PH_DEAD)
      return -1;
    switch (e->reply_stage) {
    case NBDI_RS_HEADER:
      if (rx_avail (e) < 4)
        return 0;
      r = start_reply (e);
      if (r != 0)
        return r < 0 ? -1 : 0;
      break;

    case NBDI_RS_DATA_OFFSET: {
      uint64_t off, len = e->reply.length - 8;
      if (rx_avail (e) < 8)
        return 0;
      off = wire_get64 (e->rx.buf + e->rx.start);
      rx_skip (e, 8);
      if (off < cmd->req.offset || off - cmd->req.offset > cmd->req.count - len)
        return protocol_error (e, "data chunk outside the request");
      e->data_offset = off;
      before_fill (cmd, off);
      e->direct = (uint8_t *) cmd->req.rbuf + (off - cmd->req.offset);
      e->direct_left = len;
      e->reply_stage = NBDI_RS_DATA;
      break;
    }

    case NBDI_RS_DATA: {
      size_t n = rx_avail (e) < e->direct_left ? rx_avail (e) : e->direct_left;
      if (n) {
        memcpy (e->direct, e->rx.buf + e->rx.start, n);
        rx_skip (e, n);
      }
      nbdi_payload_landed (e, n);
      if (e->direct_left)       /* more of the payload to come */
        return 0;
      break;
    }

    case NBDI_RS_WHOLE:
      if (rx_avail (e) < e->reply.length) {
        if (rx_reserve (e, e->reply.length) == -1)
          return -1;
        return 0;
      }
      r = on_whole_chunk (e, cmd, e->rx.buf + e->rx.start);
      if (r < 0)
        return -1;
      rx_skip (e, e->reply.length);
      end_chunk (e, cmd, e->reply.flags & NBD_REPLY_FLAG_DONE);
      break;
    }
  }
}
