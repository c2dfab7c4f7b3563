/* Transmission: commands in flight, the cookie map, and reply parsing
 * (simple, structured and extended replies). */
#include <stdlib.h>
#include <string.h>

#include "api/internal.h"
#include "engine/legacy.h"
#include "engine/replies.h"

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
  return cmd->type == NBD_CMD_READ && cmd->count >= BIG_READ;
}

enum { RS_HEADER, RS_DATA_OFFSET, RS_DATA, RS_WHOLE };

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

struct nbdi_cmd *
nbdi_cmd_new (struct nbd_handle *h)
{
  struct nbdi_conn *c = &h->conn;
  struct nbdi_cmd *cmd = c->free_cmds;

  if (cmd)
    c->free_cmds = cmd->next;
  else {
    cmd = malloc (sizeof *cmd);
    if (cmd == NULL) {
      nbdi_set_error (ENOMEM, "out of memory");
      return NULL;
    }
  }
  memset (cmd, 0, offsetof (struct nbdi_cmd, hdr));
  cmd->next = NULL;
  return cmd;
}

static void
recycle (struct nbdi_conn *c, struct nbdi_cmd *cmd)
{
  cmd->next = c->free_cmds;
  c->free_cmds = cmd;
}

static void
free_closures (struct nbdi_cmd *cmd)
{
  if (cmd->chunk.free)
    cmd->chunk.free (cmd->chunk.user_data);
  if (cmd->extent.free)
    cmd->extent.free (cmd->extent.user_data);
  if (cmd->extent64.free)
    cmd->extent64.free (cmd->extent64.user_data);
  if (cmd->completion.free)
    cmd->completion.free (cmd->completion.user_data);
  cmd->completion.free = NULL;
  cmd->chunk.free = cmd->extent.free = cmd->extent64.free = NULL;
}

void
nbdi_cmd_retire (struct nbd_handle *h, struct nbdi_cmd *cmd)
{
  free_closures (cmd);
  free (cmd->error_msg);
  cmd->error_msg = NULL;
  free (cmd->payload);
  cmd->payload = NULL;
  recycle (&h->conn, cmd);
}

void
nbdi_update_ready (struct nbd_handle *h)
{
  enum nbdi_state s = nbdi_get_state (h);

  if (s != NBDI_STATE_READY && s != NBDI_STATE_PROCESSING)
    return;
  /* As libnbd documents: processing while a request is being written
   * or a reply read; waiting for a reply with nothing half done is
   * ready, commands in flight or not. */
  const struct nbdi_conn *c = &h->conn;
  bool writing = c->unsent > 0 || c->tx_partial;        /* a queued disconnect alone is not */

  nbdi_set_state (h, writing || !nbdi_replies_at_boundary (c)
                     ? NBDI_STATE_PROCESSING : NBDI_STATE_READY);
}

int64_t
nbdi_cmd_submit (struct nbd_handle *h, struct nbdi_cmd *cmd)
{
  struct nbdi_conn *c = &h->conn;
  bool ext = c->extended;
  uint16_t flags = cmd->flags;
  size_t hlen;

  cmd->cookie = c->next_cookie++;
  if (ext && (cmd->type == NBD_CMD_WRITE || cmd->payload))
    flags |= NBD_CMD_FLAG_PAYLOAD_LEN;
  cmd->start_seq = c->bytes_queued;
  hlen = wire_encode_request (cmd->hdr, ext, flags, cmd->type, cmd->cookie,
                              cmd->offset,
                              cmd->payload ? cmd->payload_len : cmd->count);
  if (map_insert (&c->map, cmd) == -1)
    goto nomem;
  if (nbdi_tx_push (c, cmd->hdr, hlen) == -1
      || (cmd->type == NBD_CMD_WRITE && cmd->count
          && nbdi_tx_push (c, cmd->wbuf, cmd->count) == -1)
      || (cmd->payload && nbdi_tx_push (c, cmd->payload, cmd->payload_len) == -1)) {
    size_t at = 0;
    map_find (&c->map, cmd->cookie, &at);
    map_remove_at (&c->map, at);
    goto nomem;
  }
  cmd->end_seq = c->bytes_queued;
  c->chunks_sent++;
  /* Stores are atomic: nbd_aio_in_flight reads without the lock. */
  __atomic_store_n (&c->in_flight, c->in_flight + 1, __ATOMIC_RELAXED);
  c->unsent++;
  if (is_big_read (cmd))
    c->big_reads++;
  nbdi_set_state (h, NBDI_STATE_PROCESSING);
  return cmd->cookie;

 nomem:
  nbdi_set_error (ENOMEM, "out of memory");
  return -1;
}

int
nbdi_cmd_disconnect (struct nbd_handle *h)
{
  struct nbdi_conn *c = &h->conn;
  size_t hlen = wire_encode_request (c->disc_hdr, c->extended, 0, NBD_CMD_DISC,
                                     c->next_cookie++, 0, 0);

  if (nbdi_tx_push (c, c->disc_hdr, hlen) == -1)
    return -1;
  __atomic_store_n (&c->disc_queued, true, __ATOMIC_RELAXED);
  return 0;
}

struct nbdi_cmd *
nbdi_cmd_find_done (struct nbd_handle *h, uint64_t cookie, struct nbdi_cmd **prevp)
{
  struct nbdi_cmd *prev = NULL;

  for (struct nbdi_cmd *cmd = h->conn.done_head; cmd; prev = cmd, cmd = cmd->next) {
    if (cmd->cookie == cookie) {
      if (prevp)
        *prevp = prev;
      return cmd;
    }
  }
  return NULL;
}

/* The reply is complete: run the completion callback and retire the
 * command, or keep it for nbd_aio_command_completed. */
static void
complete (struct nbd_handle *h, struct nbdi_cmd *cmd)
{
  struct nbdi_conn *c = &h->conn;
  size_t at = 0;

  if (map_find (&c->map, cmd->cookie, &at))
    map_remove_at (&c->map, at);
  __atomic_store_n (&c->in_flight, c->in_flight - 1, __ATOMIC_RELAXED);
  if (is_big_read (cmd))
    c->big_reads--;
  cmd->done = true;
  if (cmd->init_buf && !cmd->scattered && cmd->filled < cmd->count)
    memset ((char *) cmd->rbuf + cmd->filled, 0, cmd->count - cmd->filled);
  if (cmd->type == NBD_CMD_READ && cmd->error == 0 && c->structured
      && cmd->covered != cmd->count) {
    /* A successful structured read must cover the whole range, once. */
    cmd->error = EIO;
  }
  if (cmd->completion.callback) {
    int error = cmd->error;
    int r = cmd->completion.callback (cmd->completion.user_data, &error);
    /* The callback may report a failure of its own by returning -1 with
     * *error set; it cannot turn a failed command into a success. */
    if (r == -1 && error != 0)
      cmd->error = error;
    if (r == 1) {
      nbdi_cmd_retire (h, cmd);
      nbdi_update_ready (h);
      return;
    }
  }
  cmd->next = NULL;
  if (c->done_tail)
    c->done_tail->next = cmd;
  else
    c->done_head = cmd;
  c->done_tail = cmd;
  nbdi_update_ready (h);
}

void
nbdi_cmds_fail_all (struct nbd_handle *h, int errnum)
{
  struct nbdi_conn *c = &h->conn;

  c->reply_cmd = NULL;
  c->reply_stage = RS_HEADER;
  while (c->map.used > 0) {
    for (size_t i = 0; i <= c->map.mask; i++) {
      struct nbdi_cmd *cmd = c->map.slots[i];
      if (cmd) {
        if (cmd->error == 0)
          cmd->error = errnum;
        complete (h, cmd);
        break;                  /* the map changed under us: rescan */
      }
    }
  }
}

void
nbdi_cmds_release (struct nbd_handle *h)
{
  struct nbdi_conn *c = &h->conn;

  c->reply_cmd = NULL;
  c->reply_stage = RS_HEADER;
  for (size_t i = 0; c->map.slots && i <= c->map.mask; i++) {
    struct nbdi_cmd *cmd = c->map.slots[i];
    if (cmd) {
      c->map.slots[i] = NULL;
      nbdi_cmd_retire (h, cmd);
    }
  }
  c->map.used = 0;
  __atomic_store_n (&c->in_flight, 0, __ATOMIC_RELAXED);
  c->big_reads = 0;
}

void
nbdi_cmds_abandon_unsent (struct nbd_handle *h)
{
  struct nbdi_conn *c = &h->conn;
  uint64_t keep = 0, first_unsent = c->bytes_queued;
  size_t i;

  for (i = 0; c->map.slots && i <= c->map.mask; i++) {
    struct nbdi_cmd *cmd = c->map.slots[i];
    if (cmd && cmd->start_seq >= c->bytes_sent && cmd->start_seq < first_unsent)
      first_unsent = cmd->start_seq;
  }
  if (first_unsent == c->bytes_queued)
    return;
  /* Commands leave in order, so the unsent ones are the queue's tail,
   * starting on an iovec boundary; a queued disconnect goes again. */
  for (i = c->tx_first; i < c->tx_len && keep < first_unsent - c->bytes_sent; i++)
    keep += c->tx[i].iov_len;
  c->tx_len = i;
  if (c->tx_first == c->tx_len)
    c->tx_first = c->tx_len = 0;
  c->bytes_queued = first_unsent;
  c->unsent = 0;
  if (c->disc_queued)
    nbdi_tx_push (c, c->disc_hdr, c->extended ? WIRE_EXTENDED_REQUEST_SIZE
                                              : WIRE_REQUEST_SIZE);
  for (;;) {
    struct nbdi_cmd *cmd = NULL;
    for (i = 0; c->map.slots && i <= c->map.mask && !cmd; i++)
      if (c->map.slots[i] && c->map.slots[i]->start_seq >= first_unsent)
        cmd = c->map.slots[i];
    if (cmd == NULL)
      break;
    if (cmd->error == 0)
      cmd->error = ENOTCONN;
    complete (h, cmd);
  }
}

void
nbdi_cmds_free (struct nbd_handle *h)
{
  struct nbdi_conn *c = &h->conn;
  struct nbdi_cmd *cmd, *next;

  for (cmd = c->done_head; cmd; cmd = next) {
    next = cmd->next;
    nbdi_cmd_retire (h, cmd);
  }
  c->done_head = c->done_tail = NULL;
  for (cmd = c->free_cmds; cmd; cmd = next) {
    next = cmd->next;
    free (cmd);
  }
  c->free_cmds = NULL;
  free (c->map.slots);
  c->map = (struct nbdi_cookie_map) { .slots = NULL };
}

/* ---- reply parsing ---- */

static size_t
rx_avail (const struct nbdi_conn *c)
{
  return c->rx.end - c->rx.start;
}

static void
rx_skip (struct nbdi_conn *c, size_t n)
{
  c->rx.start += n;
  if (c->rx.start == c->rx.end)
    c->rx.start = c->rx.end = 0;
}

static int
protocol_error (struct nbd_handle *h, const char *what)
{
  nbdi_engine_die (h, EPROTO, "protocol error: %s", what);
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
  if (cmd->scattered || off - cmd->offset == cmd->filled)
    return;
  if (cmd->init_buf)
    memset ((char *) cmd->rbuf + cmd->filled, 0, cmd->count - cmd->filled);
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

  if (cmd->chunk.callback == NULL)
    return;
  r = cmd->chunk.callback (cmd->chunk.user_data, sub, len, off, status, &error);
  callback_verdict (cmd, r, error);
}

static const char *
meta_name (struct nbdi_conn *c, uint32_t id)
{
  for (size_t i = 0; i < c->nr_metas; i++)
    if (c->metas[i].id == id)
      return c->metas[i].name;
  return NULL;
}

static int
on_block_status (struct nbd_handle *h, struct nbdi_cmd *cmd, const uint8_t *p,
                 uint64_t len)
{
  struct nbdi_conn *c = &h->conn;
  bool ext = c->reply.type == NBD_REPLY_TYPE_BLOCK_STATUS_EXT;
  uint32_t id;
  int64_t n = wire_decode_block_status (p, len, ext, &id);
  const char *name;
  int error = cmd->error, r = 0;

  if (cmd->type != NBD_CMD_BLOCK_STATUS || n <= 0 || ext != c->extended)
    return protocol_error (h, "invalid block status chunk");
  /* A context the client never asked for carries nothing the program
   * can use: skip the chunk and keep the connection, as libnbd does. */
  name = meta_name (c, id);
  if (name == NULL) {
    if (h->cfg.debug)
      nbdi_debug (h, "engine", "ignoring block status for meta context id %"
                  PRIu32 ", which was never negotiated", id);
    return 0;
  }
  if (cmd->extent64.callback) {
    nbd_extent *e = malloc (n * sizeof *e);
    if (e == NULL)
      return protocol_error (h, "out of memory");
    for (int64_t i = 0; i < n; i++)
      wire_block_descriptor (p, ext, i, &e[i].length, &e[i].flags);
    r = cmd->extent64.callback (cmd->extent64.user_data, name, cmd->offset, e, n,
                                &error);
    free (e);
  }
  else if (cmd->extent.callback) {
    uint32_t *e = malloc (n * 2 * sizeof *e);
    if (e == NULL)
      return protocol_error (h, "out of memory");
    for (int64_t i = 0; i < n; i++) {
      uint64_t l, f;
      wire_block_descriptor (p, ext, i, &l, &f);
      e[2 * i] = l > UINT32_MAX ? UINT32_MAX : (uint32_t) l;
      e[2 * i + 1] = (uint32_t) f;
    }
    r = cmd->extent.callback (cmd->extent.user_data, name, cmd->offset, e, n * 2,
                              &error);
    free (e);
  }
  callback_verdict (cmd, r, error);
  return 0;
}

/* A non-data chunk whose whole payload is in rx. */
static int
on_whole_chunk (struct nbd_handle *h, struct nbdi_cmd *cmd, const uint8_t *p)
{
  struct nbdi_conn *c = &h->conn;
  const struct wire_reply *r = &c->reply;

  switch (r->type) {
  case NBD_REPLY_TYPE_OFFSET_HOLE: {
    uint64_t off, len;
    if (cmd->type != NBD_CMD_READ
        || wire_decode_chunk_hole (p, r->length, c->extended, &off, &len) < 0
        || off < cmd->offset || len > cmd->count
        || off - cmd->offset > cmd->count - len)
      return protocol_error (h, "invalid hole chunk");
    before_fill (cmd, off);
    memset ((char *) cmd->rbuf + (off - cmd->offset), 0, len);
    note_filled (cmd, len);
    chunk_callback (cmd, (char *) cmd->rbuf + (off - cmd->offset), len, off,
                    LIBNBD_READ_HOLE, 0);
    return 0;
  }
  case NBD_REPLY_TYPE_BLOCK_STATUS:
  case NBD_REPLY_TYPE_BLOCK_STATUS_EXT:
    return on_block_status (h, cmd, p, r->length);
  case NBD_REPLY_TYPE_ERROR:
  case NBD_REPLY_TYPE_ERROR_OFFSET: {
    struct wire_chunk_error e;
    int err;
    if (wire_decode_chunk_error (p, r->length, r->type, &e) < 0)
      return protocol_error (h, "invalid error chunk");
    err = wire_nbd_errno (e.error);
    if (r->type == NBD_REPLY_TYPE_ERROR_OFFSET) {
      if (cmd->type != NBD_CMD_READ || e.offset < cmd->offset
          || e.offset - cmd->offset >= cmd->count)
        return protocol_error (h, "error offset outside the request");
      chunk_callback (cmd, (char *) cmd->rbuf + (e.offset - cmd->offset), 0,
                      e.offset, LIBNBD_READ_ERROR, err);
    }
    set_cmd_error (cmd, err);
    if (cmd->error_msg == NULL && e.msg_len)
      cmd->error_msg = strndup (e.msg, e.msg_len);
    if (h->cfg.debug)
      nbdi_debug (h, "engine", "server error for %s: %.*s",
                  wire_command_name (cmd->type), (int) e.msg_len, e.msg);
    return 0;
  }
  case NBD_REPLY_TYPE_NONE:
    return 0;
  default:
    if (r->type & NBD_REPLY_TYPE_ERROR_BIT) {
      set_cmd_error (cmd, EINVAL);
      return 0;
    }
    return protocol_error (h, "unknown structured reply type");
  }
}

/* End of one chunk (or simple reply): complete the command if done. */
static void
end_chunk (struct nbd_handle *h, struct nbdi_cmd *cmd, bool last)
{
  struct nbdi_conn *c = &h->conn;

  c->reply_cmd = NULL;
  c->reply_stage = RS_HEADER;
  c->chunks_received++;
  if (last)
    complete (h, cmd);
}

/* The payload of the data chunk (or simple reply) being read has all
 * landed in the caller's buffer. */
static void
data_done (struct nbd_handle *h, struct nbdi_cmd *cmd)
{
  struct nbdi_conn *c = &h->conn;
  uint64_t len = c->reply.magic == NBD_SIMPLE_REPLY_MAGIC ? cmd->count
                                                          : c->reply.length - 8;

  note_filled (cmd, len);
  chunk_callback (cmd, (char *) cmd->rbuf + (c->data_offset - cmd->offset), len,
                  c->data_offset, LIBNBD_READ_DATA, 0);
  end_chunk (h, cmd, c->reply.flags & NBD_REPLY_FLAG_DONE);
}

struct nbdi_cmd *
nbdi_cmd_lookup (struct nbdi_conn *c, uint64_t cookie)
{
  return map_find (&c->map, cookie, NULL);
}

bool
nbdi_replies_at_boundary (const struct nbdi_conn *c)
{
  return c->reply_stage == RS_HEADER && c->rx.start == c->rx.end;
}

uint64_t
nbdi_replies_lead (const struct nbdi_conn *c)
{
  if (c->reply_stage == RS_DATA && c->rx.start == c->rx.end)
    return c->direct_left;
  return 0;
}

void
nbdi_payload_landed (struct nbd_handle *h, uint64_t got)
{
  struct nbdi_conn *c = &h->conn;

  c->direct += got;
  c->direct_left -= got;
  if (c->direct_left == 0) {
    c->direct = NULL;
    data_done (h, c->reply_cmd);
  }
}

static int
start_reply (struct nbd_handle *h)
{
  struct nbdi_conn *c = &h->conn;
  struct wire_reply *r = &c->reply;
  const uint8_t *p = c->rx.buf + c->rx.start;
  int size = wire_reply_size (p);
  struct nbdi_cmd *cmd;

  if (size < 0)
    return protocol_error (h, "bad reply magic");
  if (rx_avail (c) < (size_t) size)
    return 1;
  wire_decode_reply (p, r);
  rx_skip (c, size);
  cmd = map_find (&c->map, r->cookie, NULL);
  if (cmd == NULL)
    return protocol_error (h, "reply with an unknown cookie");
  /* A server cannot answer what it has not received; one that does
   * would let the command (and its buffers) be retired while we still
   * send from them. */
  if (cmd->end_seq > c->bytes_sent)
    return protocol_error (h, "reply to a request not yet sent in full");
  c->reply_cmd = cmd;

  if (r->magic == NBD_SIMPLE_REPLY_MAGIC) {
    if (c->extended)
      return protocol_error (h, "simple reply after extended headers");
    if (r->error)
      set_cmd_error (cmd, wire_nbd_errno (r->error));
    if (cmd->type == NBD_CMD_READ && r->error == 0 && cmd->count > 0) {
      if (c->structured)
        return protocol_error (h, "simple reply with data after structured replies");
      c->data_offset = cmd->offset;
      c->direct = cmd->rbuf;
      c->direct_left = cmd->count;
      c->reply.flags = NBD_REPLY_FLAG_DONE;
      c->reply.length = cmd->count;
      c->reply_stage = RS_DATA;
      return 0;
    }
    end_chunk (h, cmd, true);
    return 0;
  }

  /* Structured or extended chunk. */
  if (!c->structured)
    return protocol_error (h, "structured reply that was not negotiated");
  if (c->extended != (r->magic == NBD_EXTENDED_REPLY_MAGIC))
    return protocol_error (h, "reply header style differs from the negotiated one");
  if (c->extended && r->offset != cmd->offset)
    return protocol_error (h, "extended reply offset differs from the request");
  if (r->type == NBD_REPLY_TYPE_OFFSET_DATA) {
    /* At least one byte of data: the protocol forbids empty data chunks. */
    if (cmd->type != NBD_CMD_READ || r->length <= 8 || r->length - 8 > cmd->count)
      return protocol_error (h, "invalid data chunk");
    c->reply_stage = RS_DATA_OFFSET;
    return 0;
  }
  if (r->type == NBD_REPLY_TYPE_NONE && r->length != 0)
    return protocol_error (h, "NONE chunk with a payload");
  if (r->length > MAX_META_PAYLOAD)
    return protocol_error (h, "chunk payload too large");
  c->reply_stage = RS_WHOLE;
  return 0;
}

/* Make room so that `need` bytes can sit contiguously in rx. */
static int
rx_reserve (struct nbd_handle *h, size_t need)
{
  struct nbdi_rx *rx = &h->conn.rx;

  if (need > rx->cap) {
    uint8_t *buf = malloc (need);
    if (buf == NULL)
      return protocol_error (h, "out of memory");
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
nbdi_replies_consume (struct nbd_handle *h)
{
  struct nbdi_conn *c = &h->conn;

  for (;;) {
    struct nbdi_cmd *cmd = c->reply_cmd;
    int r;

    if (nbdi_get_state (h) == NBDI_STATE_DEAD)
      return -1;
    switch (c->reply_stage) {
    case RS_HEADER:
      if (rx_avail (c) < 4)
        return 0;
      r = start_reply (h);
      if (r != 0)
        return r < 0 ? -1 : 0;
      break;

    case RS_DATA_OFFSET: {
      uint64_t off, len = c->reply.length - 8;
      if (rx_avail (c) < 8)
        return 0;
      off = wire_get64 (c->rx.buf + c->rx.start);
      rx_skip (c, 8);
      if (off < cmd->offset || off - cmd->offset > cmd->count - len)
        return protocol_error (h, "data chunk outside the request");
      c->data_offset = off;
      before_fill (cmd, off);
      c->direct = (uint8_t *) cmd->rbuf + (off - cmd->offset);
      c->direct_left = len;
      c->reply_stage = RS_DATA;
      break;
    }

    case RS_DATA: {
      size_t n = rx_avail (c) < c->direct_left ? rx_avail (c) : c->direct_left;
      if (n) {
        memcpy (c->direct, c->rx.buf + c->rx.start, n);
        rx_skip (c, n);
      }
      nbdi_payload_landed (h, n);
      if (c->direct_left)       /* more of the payload to come */
        return 0;
      break;
    }

    case RS_WHOLE:
      if (rx_avail (c) < c->reply.length) {
        if (rx_reserve (h, c->reply.length) == -1)
          return -1;
        return 0;
      }
      r = on_whole_chunk (h, cmd, c->rx.buf + c->rx.start);
      if (r < 0)
        return -1;
      rx_skip (c, c->reply.length);
      end_chunk (h, cmd, c->reply.flags & NBD_REPLY_FLAG_DONE);
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
nbdi_rx_read_size (const struct nbdi_conn *c)
{
  size_t room = c->rx.cap - c->rx.end;

  if (c->big_reads && c->reply_stage != RS_WHOLE && room > 4096)
    return 4096;
  return room;
}

/* How many payload bytes the driver may read straight into the caller's
 * buffer right now (0: read into rx). */
uint64_t
nbdi_direct_want (const struct nbdi_conn *c)
{
  if (c->reply_stage == RS_DATA && c->direct_left >= DIRECT_MIN
      && c->rx.start == c->rx.end)
    return c->direct_left;
  return 0;
}
