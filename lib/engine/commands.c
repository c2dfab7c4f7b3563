/* Transmission: commands in flight, the cookie map, and reply parsing
 * (simple, structured and extended replies). */
#include <stdlib.h>
#include <string.h>

#include "engine/internal.h"

/* Payloads at least this big are read straight into the caller's buffer. */
#define DIRECT_MIN 16384
/* Reads this big are better received straight into the caller's buffer
 * than through rx (see nbdi_rx_read_size). */
#define BIG_READ (64 * 1024)
/* Largest non-data chunk payload we accept (block status, errors). */
#define MAX_META_PAYLOAD (64u * 1024 * 1024)

static bool
is_big_read (const struct nbdi_cmd *cmd)
{
  return cmd->req.type == NBD_CMD_READ && cmd->req.count >= BIG_READ;
}

static bool replies_at_boundary (const struct nbdi_engine *e);

/* ---- cookie map ---- */

static size_t
slot_of (const struct nbdi_cookie_map *m, uint64_t cookie)
{
  return (size_t) (cookie * UINT64_C (0x9E3779B97F4A7C15) >> 20) & m->mask;
}

static int
map_grow (struct nbdi_cookie_map *m)
{
  size_t size = m->slots ? (m->mask + 1) * 2 : 256;
  struct nbdi_cmd **slots = calloc (size, sizeof *slots);
  struct nbdi_cookie_map old = *m;

  if (slots == NULL)
    return -1;
  m->slots = slots;
  m->mask = size - 1;
  m->used = 0;
  if (old.slots) {
    for (size_t i = 0; i <= old.mask; i++) {
      if (old.slots[i]) {
        size_t j = slot_of (m, old.slots[i]->cookie);
        while (m->slots[j])
          j = (j + 1) & m->mask;
        m->slots[j] = old.slots[i];
        m->used++;
      }
    }
    free (old.slots);
  }
  return 0;
}

static int
map_insert (struct nbdi_cookie_map *m, struct nbdi_cmd *cmd)
{
  size_t i;

  if (m->slots == NULL || (m->used + 1) * 2 > m->mask + 1)
    if (map_grow (m) == -1)
      return -1;
  i = slot_of (m, cmd->cookie);
  while (m->slots[i])
    i = (i + 1) & m->mask;
  m->slots[i] = cmd;
  m->used++;
  return 0;
}

static struct nbdi_cmd *
map_find (const struct nbdi_cookie_map *m, uint64_t cookie, size_t *where)
{
  if (m->slots == NULL)
    return NULL;
  for (size_t i = slot_of (m, cookie); m->slots[i]; i = (i + 1) & m->mask) {
    if (m->slots[i]->cookie == cookie) {
      if (where)
        *where = i;
      return m->slots[i];
    }
  }
  return NULL;
}

/* Remove slot i, shifting later entries of the probe run back. */
static void
map_remove_at (struct nbdi_cookie_map *m, size_t i)
{
  size_t j = i;

  m->slots[i] = NULL;
  m->used--;
  for (;;) {
    size_t k;
    j = (j + 1) & m->mask;
    if (m->slots[j] == NULL)
      return;
    k = slot_of (m, m->slots[j]->cookie);
    /* Move slots[j] into the hole at i if its home k is not in (i, j]. */
    if ((j > i && (k <= i || k > j)) || (j < i && (k <= i && k > j))) {
      m->slots[i] = m->slots[j];
      m->slots[j] = NULL;
      i = j;
    }
  }
}

/* ---- command lifetime ---- */

static struct nbdi_cmd *
cmd_new (struct nbdi_engine *e)
{
  struct nbdi_cmd *cmd = e->free_cmds;

  if (cmd)
    e->free_cmds = cmd->next;
  else {
    cmd = malloc (sizeof *cmd);
    if (cmd == NULL)
      return NULL;
  }
  return cmd;
}

static void
recycle (struct nbdi_engine *e, struct nbdi_cmd *cmd)
{
  cmd->next = e->free_cmds;
  e->free_cmds = cmd;
}

static void
free_closures (struct nbdi_cmd *cmd)
{
  if (cmd->req.chunk.free)
    cmd->req.chunk.free (cmd->req.chunk.user_data);
  if (cmd->req.extent.free)
    cmd->req.extent.free (cmd->req.extent.user_data);
  if (cmd->req.extent64.free)
    cmd->req.extent64.free (cmd->req.extent64.user_data);
  if (cmd->req.completion.free)
    cmd->req.completion.free (cmd->req.completion.user_data);
  cmd->req.completion.free = NULL;
  cmd->req.chunk.free = cmd->req.extent.free = cmd->req.extent64.free = NULL;
}

static void
retire (struct nbdi_engine *e, struct nbdi_cmd *cmd)
{
  free_closures (cmd);
  free (cmd->error_msg);
  cmd->error_msg = NULL;
  free (cmd->req.payload);
  cmd->req.payload = NULL;
  recycle (e, cmd);
}

void
nbdi_update_ready (struct nbdi_engine *e)
{
  enum nbdi_phase phase;
  bool writing;

  if (!nbdi_transmitting (e))
    return;
  /* As libnbd documents: processing while a request is being written
   * or a reply read; waiting for a reply with nothing half done is
   * ready, commands in flight or not. */
  writing = e->unsent > 0 || e->tx_partial;     /* a queued disconnect alone is not */
  phase = writing || !replies_at_boundary (e) ? NBDI_PH_PROCESSING : NBDI_PH_READY;
  if (phase != e->phase)
    nbdi_enter (e, phase);
}

static int64_t
cmd_submit (struct nbdi_engine *e, struct nbdi_cmd *cmd)
{
  bool ext = e->extended;
  uint16_t flags = cmd->req.flags;
  size_t hlen;

  cmd->cookie = e->next_cookie++;
  if (ext && (cmd->req.type == NBD_CMD_WRITE || cmd->req.payload))
    flags |= NBD_CMD_FLAG_PAYLOAD_LEN;
  cmd->start_seq = e->bytes_queued;
  hlen = wire_encode_request (cmd->hdr, ext, flags, cmd->req.type, cmd->cookie,
                              cmd->req.offset,
                              cmd->req.payload ? cmd->req.payload_len : cmd->req.count);
  if (map_insert (&e->map, cmd) == -1)
    goto nomem;
  if (nbdi_tx_push (e, cmd->hdr, hlen) < 0
      || (cmd->req.type == NBD_CMD_WRITE && cmd->req.count
          && nbdi_tx_push (e, cmd->req.wbuf, cmd->req.count) < 0)
      || (cmd->req.payload
          && nbdi_tx_push (e, cmd->req.payload, cmd->req.payload_len) < 0)) {
    size_t at = 0;
    map_find (&e->map, cmd->cookie, &at);
    map_remove_at (&e->map, at);
    goto nomem;
  }
  cmd->end_seq = e->bytes_queued;
  e->stats.chunks_sent++;
  /* Stores are atomic: nbd_aio_in_flight reads without the lock. */
  __atomic_store_n (&e->pub.in_flight, e->pub.in_flight + 1, __ATOMIC_RELAXED);
  e->unsent++;
  if (is_big_read (cmd))
    e->big_reads++;
  if (e->phase != NBDI_PH_PROCESSING)
    nbdi_enter (e, NBDI_PH_PROCESSING);
  return cmd->cookie;

 nomem:
  return -ENOMEM;
}

int64_t
nbdi_engine_submit (struct nbdi_engine *e, const struct nbdi_command *req)
{
  struct nbdi_cmd *cmd;
  int64_t cookie;

  if (!nbdi_transmitting (e))
    return -ENOTCONN;
  cmd = cmd_new (e);
  if (cmd == NULL)
    return -ENOMEM;
  /* The request as given; what its reply has done so far starts at 0. */
  cmd->req = *req;
  memset (&cmd->init_buf, 0,
          offsetof (struct nbdi_cmd, hdr) - offsetof (struct nbdi_cmd, init_buf));
  cmd->init_buf = req->rbuf && e->cfg->pread_initialize;
  cmd->next = NULL;
  cookie = cmd_submit (e, cmd);
  if (cookie < 0)
    recycle (e, cmd);           /* the caller keeps closures and payload */
  return cookie;
}

int
nbdi_engine_disconnect (struct nbdi_engine *e)
{
  size_t hlen = wire_encode_request (e->disc_hdr, e->extended, 0, NBD_CMD_DISC,
                                     e->next_cookie++, 0, 0);

  if (nbdi_tx_push (e, e->disc_hdr, hlen) < 0)
    return -ENOMEM;
  __atomic_store_n (&e->pub.disc_queued, true, __ATOMIC_RELAXED);
  nbdi_update_ready (e);
  return 0;
}

/* Requests whose header left but whose batch did not drain may have
 * been answered already: counted conservatively. */
size_t
nbdi_engine_awaited (const struct nbdi_engine *e)
{
  return e->pub.in_flight > e->unsent ? e->pub.in_flight - e->unsent : 0;
}

static struct nbdi_cmd *
find_done (const struct nbdi_engine *e, uint64_t cookie, struct nbdi_cmd **prevp)
{
  struct nbdi_cmd *prev = NULL;

  for (struct nbdi_cmd *cmd = e->done_head; cmd; prev = cmd, cmd = cmd->next) {
    if (cmd->cookie == cookie) {
      if (prevp)
        *prevp = prev;
      return cmd;
    }
  }
  return NULL;
}

bool
nbdi_engine_is_completed (const struct nbdi_engine *e, uint64_t cookie)
{
  return find_done (e, cookie, NULL) != NULL;
}

uint64_t
nbdi_engine_peek_completed (const struct nbdi_engine *e)
{
  return e->done_head ? e->done_head->cookie : 0;
}

int
nbdi_engine_take_completed (struct nbdi_engine *e, uint64_t cookie,
                            struct nbdi_completed *out)
{
  struct nbdi_cmd *prev = NULL, *cmd = find_done (e, cookie, &prev);

  if (cmd == NULL)
    return 0;
  if (prev)
    prev->next = cmd->next;
  else
    e->done_head = cmd->next;
  if (e->done_tail == cmd)
    e->done_tail = prev;
  *out = (struct nbdi_completed) {
    .type = cmd->req.type, .error = cmd->error, .server_msg = cmd->error_msg,
  };
  cmd->error_msg = NULL;
  retire (e, cmd);
  return 1;
}

/* The reply is complete: run the completion callback and retire the
 * command, or keep it for nbd_aio_command_completed. */
static void
complete (struct nbdi_engine *e, struct nbdi_cmd *cmd)
{
  size_t at = 0;

  if (map_find (&e->map, cmd->cookie, &at))
    map_remove_at (&e->map, at);
  __atomic_store_n (&e->pub.in_flight, e->pub.in_flight - 1, __ATOMIC_RELAXED);
  if (is_big_read (cmd))
    e->big_reads--;
  cmd->done = true;
  if (cmd->init_buf && !cmd->scattered && cmd->filled < cmd->req.count)
    memset ((char *) cmd->req.rbuf + cmd->filled, 0, cmd->req.count - cmd->filled);
  if (cmd->req.type == NBD_CMD_READ && cmd->error == 0 && e->structured
      && cmd->covered != cmd->req.count) {
    /* A successful structured read must cover the whole range, once. */
    cmd->error = EIO;
  }
  if (cmd->req.completion.callback) {
    int error = cmd->error;
    int r = cmd->req.completion.callback (cmd->req.completion.user_data, &error);
    /* The callback may report a failure of its own by returning -1 with
     * *error set; it cannot turn a failed command into a success. */
    if (r == -1 && error != 0)
      cmd->error = error;
    if (r == 1) {
      retire (e, cmd);
      nbdi_update_ready (e);
      return;
    }
  }
  cmd->next = NULL;
  if (e->done_tail)
    e->done_tail->next = cmd;
  else
    e->done_head = cmd;
  e->done_tail = cmd;
  nbdi_update_ready (e);
}

void
nbdi_cmds_fail_all (struct nbdi_engine *e, int errnum)
{

  e->reply_cmd = NULL;
  e->reply_stage = NBDI_RS_HEADER;
  while (e->map.used > 0) {
    for (size_t i = 0; i <= e->map.mask; i++) {
      struct nbdi_cmd *cmd = e->map.slots[i];
      if (cmd) {
        if (cmd->error == 0)
          cmd->error = errnum;
        complete (e, cmd);
        break;                  /* the map changed under us: rescan */
      }
    }
  }
}

void
nbdi_cmds_release (struct nbdi_engine *e)
{

  e->reply_cmd = NULL;
  e->reply_stage = NBDI_RS_HEADER;
  for (size_t i = 0; e->map.slots && i <= e->map.mask; i++) {
    struct nbdi_cmd *cmd = e->map.slots[i];
    if (cmd) {
      e->map.slots[i] = NULL;
      retire (e, cmd);
    }
  }
  e->map.used = 0;
  __atomic_store_n (&e->pub.in_flight, 0, __ATOMIC_RELAXED);
  e->big_reads = 0;
}

void
nbdi_engine_abandon_unsent (struct nbdi_engine *e)
{
  uint64_t keep = 0, first_unsent = e->bytes_queued;
  size_t i;

  for (i = 0; e->map.slots && i <= e->map.mask; i++) {
    struct nbdi_cmd *cmd = e->map.slots[i];
    if (cmd && cmd->start_seq >= e->stats.bytes_sent && cmd->start_seq < first_unsent)
      first_unsent = cmd->start_seq;
  }
  if (first_unsent == e->bytes_queued)
    return;
  /* Commands leave in order, so the unsent ones are the queue's tail,
   * starting on an iovec boundary; a queued disconnect goes again. */
  for (i = e->tx_first; i < e->tx_len && keep < first_unsent - e->stats.bytes_sent; i++)
    keep += e->tx[i].iov_len;
  e->tx_len = i;
  if (e->tx_first == e->tx_len)
    e->tx_first = e->tx_len = 0;
  e->bytes_queued = first_unsent;
  e->unsent = 0;
  if (e->pub.disc_queued)
    nbdi_tx_push (e, e->disc_hdr, e->extended ? WIRE_EXTENDED_REQUEST_SIZE
                                              : WIRE_REQUEST_SIZE);
  for (;;) {
    struct nbdi_cmd *cmd = NULL;
    for (i = 0; e->map.slots && i <= e->map.mask && !cmd; i++)
      if (e->map.slots[i] && e->map.slots[i]->start_seq >= first_unsent)
        cmd = e->map.slots[i];
    if (cmd == NULL)
      break;
    if (cmd->error == 0)
      cmd->error = ENOTCONN;
    complete (e, cmd);
  }
}

void
nbdi_cmds_free (struct nbdi_engine *e)
{
  struct nbdi_cmd *cmd, *next;

  for (cmd = e->done_head; cmd; cmd = next) {
    next = cmd->next;
    retire (e, cmd);
  }
  e->done_head = e->done_tail = NULL;
  for (cmd = e->free_cmds; cmd; cmd = next) {
    next = cmd->next;
    free (cmd);
  }
  e->free_cmds = NULL;
  free (e->map.slots);
  e->map = (struct nbdi_cookie_map) { .slots = NULL };
}

/* ---- reply parsing ---- */

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
  case NBD_REPLY_TYPE_ERROR:
  case NBD_REPLY_TYPE_ERROR_OFFSET: {
    struct wire_chunk_error ce;
    int err;
    if (wire_decode_chunk_error (p, r->length, r->type, &ce) < 0)
      return protocol_error (e, "invalid error chunk");
    err = wire_nbd_errno (ce.error);
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
  case NBD_REPLY_TYPE_NONE:
    return 0;
  default:
    if (r->type & NBD_REPLY_TYPE_ERROR_BIT) {
      set_cmd_error (cmd, EINVAL);
      return 0;
    }
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
    complete (e, cmd);
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

static bool
replies_at_boundary (const struct nbdi_engine *e)
{
  return e->reply_stage == NBDI_RS_HEADER && e->rx.start == e->rx.end;
}

uint64_t
nbdi_replies_lead (const struct nbdi_engine *e)
{
  if (e->reply_stage == NBDI_RS_DATA && e->rx.start == e->rx.end)
    return e->direct_left;
  return 0;
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

    if (e->phase == NBDI_PH_DEAD)
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

/* How much the driver should read into rx at once: a lot, so that many
 * small replies come in one system call; but while big reads are in
 * flight, just enough for a reply header, so that their payloads are not
 * copied twice (the rest then goes straight to the caller's buffer).
 * Only a non-data chunk must come whole. */
size_t
nbdi_rx_read_size (const struct nbdi_engine *e)
{
  size_t room = e->rx.cap - e->rx.end;

  if (e->big_reads && e->reply_stage != NBDI_RS_WHOLE && room > 4096)
    return 4096;
  return room;
}

/* How many payload bytes the driver may read straight into the caller's
 * buffer right now (0: read into rx). */
uint64_t
nbdi_direct_want (const struct nbdi_engine *e)
{
  if (e->reply_stage == NBDI_RS_DATA && e->direct_left >= DIRECT_MIN
      && e->rx.start == e->rx.end)
    return e->direct_left;
  return 0;
}
