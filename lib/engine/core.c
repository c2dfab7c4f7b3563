/* The engine's core: buffers, dispatch by phase, the handshake up to the
 * option phase, and death. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/internal.h"
#include "engine/legacy.h"

/* Big enough for a queue's worth of small replies in one recv, small
 * enough to stay in cache (measured: 128 KiB beat 256 and 64). */
#define RX_SIZE (128 * 1024)

int
nbdi_engine_init (struct nbd_handle *h)
{
  struct nbdi_conn *c = &h->conn;

  c->rx.buf = malloc (RX_SIZE);
  if (c->rx.buf == NULL) {
    nbdi_set_error (ENOMEM, "out of memory");
    return -1;
  }
  c->rx.cap = RX_SIZE;
  c->next_cookie = 1;
  return 0;
}

static void
free_info (struct nbdi_conn *c)
{
  free (c->info.canonical_name);
  free (c->info.description);
  c->info = (struct nbdi_export_info) { .known = false };
  for (size_t i = 0; i < c->nr_metas; i++)
    free (c->metas[i].name);
  free (c->metas);
  c->metas = NULL;
  c->nr_metas = 0;
}

void
nbdi_engine_release_callbacks (struct nbd_handle *h)
{
  struct nbdi_conn *c = &h->conn;

  /* An option not marked active is released without its completion. */
  c->opt_active = false;
  nbdi_option_finish (h, ENOTCONN);
  nbdi_cmds_release (h);
}

void
nbdi_engine_free (struct nbd_handle *h)
{
  struct nbdi_conn *c = &h->conn;

  nbdi_engine_release_callbacks (h);
  nbdi_cmds_free (h);
  free_info (c);
  free (c->rx.buf);
  free (c->tx);
  free (c->tx_store);
  free (c->dead_msg);
  free (c->opt.server_msg);
  free (c->opt_msg);
}

void
nbdi_engine_start (struct nbd_handle *h)
{
  h->conn.phase = PH_GREETING;
  h->conn.need = WIRE_GREETING_SIZE;
  nbdi_set_state (h, NBDI_STATE_HANDSHAKING);
}

/* ---- output queue ---- */

bool
nbdi_tx_pending (const struct nbdi_conn *c)
{
  return c->tx_first < c->tx_len;
}

int
nbdi_tx_push (struct nbdi_conn *c, const void *base, size_t len)
{
  if (c->tx_len == c->tx_cap) {
    /* Reclaim sent slots before growing. */
    if (c->tx_first > 0) {
      memmove (c->tx, c->tx + c->tx_first,
               (c->tx_len - c->tx_first) * sizeof *c->tx);
      c->tx_len -= c->tx_first;
      c->tx_first = 0;
    }
    if (c->tx_len == c->tx_cap) {
      size_t cap = c->tx_cap ? c->tx_cap * 2 : 256;
      struct iovec *tx = realloc (c->tx, cap * sizeof *tx);
      if (tx == NULL) {
        nbdi_set_error (ENOMEM, "out of memory");
        return -1;
      }
      c->tx = tx;
      c->tx_cap = cap;
    }
  }
  c->tx[c->tx_len++] = (struct iovec) { .iov_base = (void *) base, .iov_len = len };
  c->bytes_queued += len;
  return 0;
}

void
nbdi_tx_advance (struct nbdi_conn *c, size_t n)
{
  c->bytes_sent += n;
  while (n > 0 && c->tx_first < c->tx_len) {
    struct iovec *v = &c->tx[c->tx_first];
    if (n < v->iov_len) {
      v->iov_base = (char *) v->iov_base + n;
      v->iov_len -= n;
      return;
    }
    n -= v->iov_len;
    c->tx_first++;
  }
  if (c->tx_first == c->tx_len) {
    c->tx_first = c->tx_len = 0;
    c->unsent = 0;
    c->tx_partial = false;
  }
  else
    c->tx_partial = true;
}

/* Batching: while the server still has plenty of requests to work on,
 * new ones wait to leave together, saving a system call (and a socket
 * buffer) per request.  Below the low water mark, or once a batch is
 * full, they go at once. */
#define BATCH_FULL 8
#define SERVER_LOW_WATER 16

bool
nbdi_tx_worth_sending (const struct nbdi_conn *c)
{
  size_t awaited;

  if (!nbdi_tx_pending (c))
    return false;
  /* A request half sent holds the server up until it is whole. */
  if (c->phase != PH_TRANSMISSION || c->disc_queued || c->tx_partial)
    return true;
  /* Requests whose header left but whose batch did not drain may have
   * been answered already: count conservatively. */
  awaited = c->in_flight > c->unsent ? c->in_flight - c->unsent : 0;
  return c->unsent >= BATCH_FULL || awaited < SERVER_LOW_WATER;
}

/* ---- death ---- */

void
nbdi_engine_die (struct nbd_handle *h, int errnum, const char *fmt, ...)
{
  struct nbdi_conn *c = &h->conn;
  va_list ap;
  char *msg = NULL;
  enum nbdi_state state = nbdi_get_state (h);

  if (state == NBDI_STATE_DEAD || state == NBDI_STATE_CLOSED)
    return;
  va_start (ap, fmt);
  if (vasprintf (&msg, fmt, ap) == -1)
    msg = NULL;
  va_end (ap);
  free (c->dead_msg);
  c->dead_msg = msg;
  c->dead_errno = errnum;
  if (h->cfg.debug)
    nbdi_debug (h, "engine", "connection dead: %s", msg ? msg : "?");
  nbdi_set_state (h, NBDI_STATE_DEAD);
  c->phase = PH_NONE;
  c->tx_first = c->tx_len = 0;
  c->direct = NULL;
  c->direct_left = 0;
  /* The cause stays with the call that saw it (dead_errno); what was
   * waiting for the server can only say it is gone, as libnbd does. */
  if (c->opt_active)
    nbdi_option_finish (h, ENOTCONN);
  nbdi_cmds_fail_all (h, ENOTCONN);
}

/* End of stream from the server: normal after an abort, or in
 * transmission with nothing in flight (as libnbd, the handle is then
 * closed, not dead); fatal otherwise. */
void
nbdi_engine_eof (struct nbd_handle *h)
{
  struct nbdi_conn *c = &h->conn;

  /* After NBD_CMD_DISC the server closing is the normal end; commands
   * it stranded fail with ENOTCONN, as nbd_aio_in_flight(3) says. */
  if (c->phase == PH_ABORT_WAIT
      || (c->phase == PH_TRANSMISSION && (c->disc_queued || c->in_flight == 0))) {
    c->phase = PH_NONE;
    nbdi_set_state (h, NBDI_STATE_CLOSED);
    if (c->opt_active)
      nbdi_option_finish (h, 0);
    nbdi_cmds_fail_all (h, ENOTCONN);
    return;
  }
  if (c->phase == PH_EXPORT_NAME_REPLY)
    nbdi_engine_die (h, ENOENT, "server closed the connection: it has no "
                     "export named \"%s\"", h->cfg.export_name);
  else
    nbdi_engine_die (h, c->phase == PH_TRANSMISSION ? ENOTCONN : ECONNRESET,
                     "server closed the connection unexpectedly");
}

unsigned
nbdi_engine_direction (struct nbd_handle *h)
{
  struct nbdi_conn *c = &h->conn;
  unsigned dir = 0;

  switch (c->phase) {
  case PH_NONE:
    return 0;
  case PH_DIAL:
    return LIBNBD_AIO_DIRECTION_WRITE;
  case PH_OPT_WAIT_USER:
    break;
  case PH_TLS_HANDSHAKE:
    return c->tls_want_write ? LIBNBD_AIO_DIRECTION_WRITE : LIBNBD_AIO_DIRECTION_READ;
  default:
    dir |= LIBNBD_AIO_DIRECTION_READ;
  }
  if (nbdi_tx_worth_sending (c))
    dir |= LIBNBD_AIO_DIRECTION_WRITE;
  return dir;
}

/* ---- handshake up to the option phase ---- */

static size_t
rx_avail (const struct nbdi_conn *c)
{
  return c->rx.end - c->rx.start;
}

static const uint8_t *
rx_take (struct nbdi_conn *c, size_t n)
{
  const uint8_t *p = c->rx.buf + c->rx.start;
  c->rx.start += n;
  if (c->rx.start == c->rx.end)
    c->rx.start = c->rx.end = 0;
  return p;
}

static int
export_known (struct nbd_handle *h, const uint8_t *p)
{
  struct wire_export e;

  wire_decode_export (p, &e);
  h->conn.info.known = true;
  h->conn.info.size = e.size;
  h->conn.info.eflags = e.eflags;
  return 0;
}

static void
enter_transmission (struct nbd_handle *h)
{
  h->conn.phase = PH_TRANSMISSION;
  nbdi_set_state (h, NBDI_STATE_READY);
  if (h->cfg.debug)
    nbdi_debug (h, "engine", "negotiated: size=%" PRIu64 " flags=0x%x "
                "structured=%d extended=%d", h->conn.info.size,
                h->conn.info.eflags, h->conn.structured, h->conn.extended);
}

static int
on_greeting (struct nbd_handle *h)
{
  struct nbdi_conn *c = &h->conn;
  struct wire_greeting g;

  if (wire_decode_greeting (rx_take (c, WIRE_GREETING_SIZE), &g) < 0) {
    nbdi_engine_die (h, EPROTO, "handshake: server did not send the NBD magic: "
                     "not an NBD server?");
    return -1;
  }
  c->oldstyle = g.oldstyle;
  if (g.oldstyle) {
    /* Oldstyle has no STARTTLS: refuse before the first command. */
    if (h->cfg.tls == LIBNBD_TLS_REQUIRE) {
      nbdi_engine_die (h, ENOTSUP, "handshake: server is oldstyle, so it "
                       "cannot use STARTTLS, but TLS is required");
      return -1;
    }
    c->phase = PH_OLDSTYLE;
    c->need = WIRE_OLDSTYLE_REST_SIZE;
  }
  else {
    c->phase = PH_HS_FLAGS;
    c->need = WIRE_HANDSHAKE_FLAGS_SIZE;
  }
  return 0;
}

static int
on_oldstyle (struct nbd_handle *h)
{
  struct wire_export e;

  wire_decode_oldstyle (rx_take (&h->conn, WIRE_OLDSTYLE_REST_SIZE), &e);
  h->conn.info.known = true;
  h->conn.info.size = e.size;
  h->conn.info.eflags = e.eflags;
  h->cfg.handshake_flags = 0;   /* oldstyle has none */
  nbdi_option_export_known (h);
  enter_transmission (h);
  return 0;
}

static int
on_hs_flags (struct nbd_handle *h)
{
  struct nbdi_conn *c = &h->conn;
  uint16_t flags = wire_get16 (rx_take (c, WIRE_HANDSHAKE_FLAGS_SIZE));
  uint32_t wanted = h->cfg.handshake_flags;

  c->hs_flags = flags;
  c->client_flags = flags & wanted & (NBD_FLAG_FIXED_NEWSTYLE | NBD_FLAG_NO_ZEROES);
  wire_put32 (c->client_flags_wire, c->client_flags);
  if (nbdi_tx_push (c, c->client_flags_wire, WIRE_CLIENT_FLAGS_SIZE) == -1) {
    nbdi_engine_die (h, ENOMEM, "out of memory");
    return -1;
  }
  /* Report what was agreed from now on. */
  h->cfg.handshake_flags = c->client_flags;
  c->phase = PH_OPT_NEXT;
  return nbdi_option_next (h);
}

/* A reply before our request left in full is impossible for an honest
 * server, and the request's buffer is about to be reused: fatal. */
static bool
replied_too_soon (struct nbd_handle *h, const char *request)
{
  if (!nbdi_tx_pending (&h->conn))
    return false;
  nbdi_engine_die (h, EPROTO, "handshake: server replied before receiving "
                   "the whole %s", request);
  return true;
}

static int
on_export_name_reply (struct nbd_handle *h)
{
  struct nbdi_conn *c = &h->conn;

  if (replied_too_soon (h, "export name"))
    return -1;

  export_known (h, rx_take (c, c->need));
  nbdi_option_export_known (h);
  /* The program's GO completion sees the handle ready, as after a GO. */
  enter_transmission (h);
  if (c->opt_active)
    nbdi_option_finish (h, 0);
  return 0;
}

static int
on_option_reply (struct nbd_handle *h)
{
  struct nbdi_conn *c = &h->conn;
  struct wire_option_reply rep;
  const uint8_t *p = c->rx.buf + c->rx.start;

  if (replied_too_soon (h, "option request"))
    return -1;

  if (wire_decode_option_reply (p, &rep) < 0) {
    nbdi_engine_die (h, EPROTO, "handshake: bad option reply magic");
    return -1;
  }
  /* Option replies carry at most a few protocol strings; one that does
   * not fit the receive buffer is hostile. */
  if (rep.length > c->rx.cap - WIRE_OPTION_REPLY_SIZE) {
    nbdi_engine_die (h, EPROTO, "handshake: option reply too long (%" PRIu32
                     " bytes)", rep.length);
    return -1;
  }
  if (rx_avail (c) < WIRE_OPTION_REPLY_SIZE + rep.length) {
    c->need = WIRE_OPTION_REPLY_SIZE + rep.length;
    return 1;                   /* wait for the payload */
  }
  rx_take (c, WIRE_OPTION_REPLY_SIZE + rep.length);
  c->need = WIRE_OPTION_REPLY_SIZE;
  return nbdi_option_reply (h, &rep, p + WIRE_OPTION_REPLY_SIZE);
}

int
nbdi_engine_consume (struct nbd_handle *h)
{
  struct nbdi_conn *c = &h->conn;

  for (;;) {
    enum nbdi_phase phase = c->phase;
    int r;

    if (phase == PH_TRANSMISSION)
      return nbdi_replies_consume (h);
    if (phase == PH_NONE || phase == PH_OPT_WAIT_USER || phase == PH_DIAL
        || phase == PH_OPT_NEXT || phase == PH_TLS_HANDSHAKE)
      return 0;
    if (rx_avail (c) < c->need)
      return 0;
    switch (phase) {
    case PH_GREETING: r = on_greeting (h); break;
    case PH_OLDSTYLE: r = on_oldstyle (h); break;
    case PH_HS_FLAGS: r = on_hs_flags (h); break;
    case PH_OPT_REPLY:
    case PH_ABORT_WAIT: r = on_option_reply (h); break;
    case PH_EXPORT_NAME_REPLY: r = on_export_name_reply (h); break;
    default: r = 0;
    }
    if (r < 0)
      return -1;
    if (r > 0 && rx_avail (c) < c->need)
      return 0;
  }
}
