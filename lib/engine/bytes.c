/* The byte API: where received bytes go, what to send, and the events
 * the driver acts on. */
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "engine/internal.h"

/* ---- bytes out ---- */

int
nbdi_tx_push (struct nbdi_engine *e, const void *base, size_t len)
{
  if (e->tx_len == e->tx_cap) {
    /* Reclaim sent slots before growing. */
    if (e->tx_first > 0) {
      memmove (e->tx, e->tx + e->tx_first,
               (e->tx_len - e->tx_first) * sizeof *e->tx);
      e->tx_len -= e->tx_first;
      e->tx_first = 0;
    }
    if (e->tx_len == e->tx_cap) {
      size_t cap = e->tx_cap * 2;
      struct iovec *tx = realloc (e->tx, cap * sizeof *tx);
      if (tx == NULL)
        return -ENOMEM;
      e->tx = tx;
      e->tx_cap = cap;
    }
  }
  e->tx[e->tx_len++] = (struct iovec) { .iov_base = (void *) base, .iov_len = len };
  e->bytes_queued += len;
  return 0;
}

bool
nbdi_engine_tx_pending (const struct nbdi_engine *e)
{
  return e->tx_first < e->tx_len;
}

size_t
nbdi_engine_tx_plan (struct nbdi_engine *e, const struct iovec **iov)
{
  /* e->tx exists from nbdi_engine_new on, so this is never NULL + 0. */
  *iov = e->tx + e->tx_first;
  return e->tx_len - e->tx_first;
}

void
nbdi_engine_tx_done (struct nbdi_engine *e, size_t n)
{
  e->stats.bytes_sent += n;
  while (n > 0 && e->tx_first < e->tx_len) {
    struct iovec *v = &e->tx[e->tx_first];
    if (n < v->iov_len) {
      v->iov_base = (char *) v->iov_base + n;
      v->iov_len -= n;
      nbdi_update_ready (e);
      return;
    }
    n -= v->iov_len;
    e->tx_first++;
  }
  if (e->tx_first == e->tx_len) {
    e->tx_first = e->tx_len = 0;
    e->unsent = 0;
    e->tx_partial = false;
  }
  else
    e->tx_partial = true;
  nbdi_update_ready (e);
}

/* Batching: while the server still has plenty of requests to work on,
 * new ones wait to leave together, saving a system call (and a socket
 * buffer) per request.  Below the low water mark, or once a batch is
 * full, they go at once. */
#define BATCH_FULL 8
#define SERVER_LOW_WATER 16

bool
nbdi_engine_tx_worth_sending (const struct nbdi_engine *e)
{
  size_t awaited;

  if (!nbdi_engine_tx_pending (e))
    return false;
  /* A request half sent holds the server up until it is whole. */
  if (!nbdi_transmitting (e) || e->pub.disc_queued || e->tx_partial)
    return true;
  awaited = nbdi_engine_awaited (e);
  return e->unsent >= BATCH_FULL || awaited < SERVER_LOW_WATER;
}

/* ---- bytes in ---- */

/* Receive into rx, at most limit bytes. */
static int
plan_into_rx (struct nbdi_engine *e, struct iovec *iov, size_t limit)
{
  struct nbdi_rx *rx = &e->rx;
  size_t size;

  if (rx->end == rx->cap || (rx->start > 0 && rx->cap - rx->start < e->need)) {
    memmove (rx->buf, rx->buf + rx->start, rx->end - rx->start);
    rx->end -= rx->start;
    rx->start = 0;
  }
  size = nbdi_rx_read_size (e);
  if (size > limit)
    size = limit;
  if (size == 0) {
    /* Cannot happen: every message the engine waits for fits rx.  A
     * zero-length receive would read as end of stream, so say why. */
    nbdi_engine_die (e, EPROTO, "protocol error: message larger than the "
                     "receive buffer");
    return 0;
  }
  iov[0] = (struct iovec) { .iov_base = rx->buf + rx->end, .iov_len = size };
  e->rx_kind = NBDI_RX_INTO_BUF;
  return 1;
}

/* Outside transmission, in the phases that wait for the server. */
static int
plan_negotiation (struct nbdi_engine *e, struct iovec *iov)
{
  size_t avail = e->rx.end - e->rx.start;

  /* The TLS handshake phase reads nothing: those bytes are TLS, the
   * driver's.  The paused option phase still receives, so that the
   * server hanging up is seen. */
  if (e->rx.buf == NULL || (nbdi_phase_io (e->pub.phase) != NBDI_IO_READ
                            && e->pub.phase != NBDI_PH_OPT_WAIT_USER))
    return 0;
  /* What follows an agreed STARTTLS is the server's first TLS record,
   * which the TLS library must read from the socket itself: so take the
   * reply and nothing past it. */
  if (e->pub.phase == NBDI_PH_OPT_REPLY && e->opt.code == NBD_OPT_STARTTLS
      && e->need > avail)
    return plan_into_rx (e, iov, e->need - avail);
  return plan_into_rx (e, iov, SIZE_MAX);
}

int
nbdi_engine_rx_plan (struct nbdi_engine *e, struct iovec *iov, int max,
                     bool *exact)
{
  uint64_t direct;

  if (exact)
    *exact = false;
  if (!nbdi_transmitting (e))
    return plan_negotiation (e, iov);
  /* A big payload goes straight to the caller's buffer, whole. */
  direct = nbdi_direct_want (e);
  if (direct) {
    iov[0] = (struct iovec) { .iov_base = e->direct,
                              .iov_len = direct > SSIZE_MAX ? SSIZE_MAX : direct };
    e->rx_kind = NBDI_RX_DIRECT;
    if (exact)
      *exact = true;
    return 1;
  }
  if (max >= 2 && nbdi_replies_lead (e)) {
    nbdi_scatter_plan (e, iov);
    e->rx_kind = NBDI_RX_SCATTER;
    return 2;
  }
  return plan_into_rx (e, iov, SIZE_MAX);
}

int
nbdi_engine_rx_done (struct nbdi_engine *e, size_t n)
{
  e->stats.bytes_received += n;
  switch (e->rx_kind) {
  case NBDI_RX_DIRECT:
    e->direct += n;
    e->direct_left -= n;
    break;
  case NBDI_RX_SCATTER:
    nbdi_scatter_landed (e, n);
    break;
  case NBDI_RX_INTO_BUF:
    e->rx.end += n;
    break;
  }
  e->rx_kind = NBDI_RX_INTO_BUF;
  if (nbdi_engine_consume (e) == -1)
    return -1;
  nbdi_update_ready (e);
  return 0;
}

/* ---- events ---- */

unsigned
nbdi_engine_events (const struct nbdi_engine *e)
{
  switch (e->pub.phase) {
  case NBDI_PH_TLS_HANDSHAKE:
    return NBDI_EV_TLS;
  case NBDI_PH_DEAD:
    return NBDI_EV_DEAD;
  case NBDI_PH_CLOSED:
    return NBDI_EV_CLOSED;
  case NBDI_PH_READY:
  case NBDI_PH_PROCESSING:
    return e->pub.disc_queued && !nbdi_engine_tx_pending (e) ? NBDI_EV_SHUT_WRITE : 0;
  default:
    return 0;
  }
}
