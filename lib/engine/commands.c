/* Commands in flight: submission, completion and retirement, the
 * completed list, and the transmission state they decide. */
#include <stdlib.h>
#include <string.h>

#include "engine/cookie-map.h"
#include "engine/internal.h"

/* Reads this big are better received straight into the caller's buffer
 * than through rx (see nbdi_rx_read_size). */
#define BIG_READ (64 * 1024)

static bool
is_big_read (const struct nbdi_cmd *cmd)
{
  return cmd->req.type == NBD_CMD_READ && cmd->req.count >= BIG_READ;
}

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
  phase = writing || !nbdi_replies_at_boundary (e)
          ? NBDI_PH_PROCESSING : NBDI_PH_READY;
  if (phase != e->pub.phase)
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
  if (e->pub.phase != NBDI_PH_PROCESSING)
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
  /* NBD_CMD_DISC is a request like any other for nbd_stats_chunks_sent,
   * although no reply follows it. */
  e->stats.chunks_sent++;
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
void
nbdi_cmd_complete (struct nbdi_engine *e, struct nbdi_cmd *cmd)
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
        nbdi_cmd_complete (e, cmd);
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
    nbdi_cmd_complete (e, cmd);
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
