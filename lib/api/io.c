/* The driver: moves bytes between the transport and the engine, and the
 * poll/notify calls built on it.  The only place that performs I/O on
 * the connection. */
#include <limits.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "api/internal.h"
#include "api/io.h"
#include "engine/legacy.h"
#include "transport/transport.h"
#include "transport/tls.h"

#define MAX_IOV 1024

/* Once NBD_CMD_DISC has left, shut the write side: the replies still
 * due keep arriving, and the handle closes when the server closes its
 * end (nbdi_engine_eof), as libnbd's does. */
static void
maybe_closed (struct nbd_handle *h)
{
  struct nbdi_conn *c = &h->conn;

  if (c->disc_queued && !c->write_shut && !nbdi_tx_pending (c)
      && c->phase == PH_TRANSMISSION && c->transport) {
    c->transport->ops->shutdown (c->transport);
    c->write_shut = true;
  }
}

int
nbdi_io_send (struct nbd_handle *h)
{
  struct nbdi_conn *c = &h->conn;

  while (nbdi_tx_pending (c)) {
    size_t cnt = c->tx_len - c->tx_first, offered = 0;
    ssize_t n;

    if (cnt > MAX_IOV)
      cnt = MAX_IOV;
    for (size_t i = 0; i < cnt; i++)
      offered += c->tx[c->tx_first + i].iov_len;
    n = c->transport->ops->send (c->transport, c->tx + c->tx_first, (int) cnt, false);
    if (n < 0) {
      if (errno == EAGAIN || errno == EWOULDBLOCK) {
        c->tx_full = true;
        return 0;
      }
      nbdi_engine_die (h, errno, "send: %s", strerror (errno));
      return -1;
    }
    nbdi_tx_advance (c, n);
    /* A short send on a plain socket means its buffer is full: trying
     * again before poll() says there is room would only send a sliver.
     * (TLS sends one record at a time, so short is normal there.) */
    if ((size_t) n < offered && !c->tls_wrapped) {
      c->tx_full = true;
      break;
    }
  }
  nbdi_update_ready (h);
  maybe_closed (h);
  return 0;
}

/* STARTTLS was agreed: wrap the socket in TLS (once), then advance the
 * handshake; when it completes, negotiation goes on encrypted. */
static int
tls_step (struct nbd_handle *h)
{
  struct nbdi_conn *c = &h->conn;
  char msg[512] = "";
  int err = EIO, r;

  if (!c->tls_wrapped) {
    const struct nbdi_settings *s = &h->cfg;
    struct nbdi_tls_config cfg = {
      .certificates = s->tls_certificates, .verify_peer = nbdi_tls_verifies_peer (h),
      .username = s->tls_username, .psk_file = s->tls_psk_file,
      .hostname = s->tls_hostname, .priority = s->tls_priority,
    };
    struct nbdi_transport *t = nbdi_tls_wrap (c->transport, &cfg, &err, msg, sizeof msg);
    if (t == NULL) {
      nbdi_engine_die (h, err, "TLS: %s", msg);
      return -1;
    }
    c->transport = t;
    c->tls_wrapped = true;
  }
  r = nbdi_tls_handshake (c->transport, &c->tls_want_write, &err, msg, sizeof msg);
  if (r < 0) {
    nbdi_engine_die (h, err, "TLS handshake: %s", msg);
    return -1;
  }
  if (r == 0)
    return 0;
  if (nbdi_option_tls_done (h) == -1)
    return -1;
  return nbdi_io_send (h);
}

/* One receive: straight into the caller's buffer for big payloads; the
 * rest of a small payload into the caller's buffer and what follows
 * into rx (engine/scatter.c); else into rx.  wait: NBDI_WAIT_SOME blocks
 * until something arrives; NBDI_WAIT_ALL also takes a big payload whole
 * in one call, however many pieces the server sends it in.  Returns bytes received, 0 at EOF
 * (handled), -1 on EAGAIN (errno) or death. */
static ssize_t
receive_once (struct nbd_handle *h, size_t *asked, enum nbdi_wait wait)
{
  struct nbdi_conn *c = &h->conn;
  struct nbdi_transport *t = c->transport;
  uint64_t direct = nbdi_direct_want (c);
  struct iovec iov, scatter[2];
  int planned = 0;
  ssize_t n;

  if (direct) {
    *asked = direct > SSIZE_MAX ? SSIZE_MAX : direct;
    iov = (struct iovec) { .iov_base = c->direct, .iov_len = *asked };
    n = t->ops->recv (t, &iov, 1, wait);
    if (n > 0) {
      c->direct += n;
      c->direct_left -= n;
    }
  }
  else if (t->raw && (planned = nbdi_scatter_plan (h, scatter)) > 0) {
    *asked = scatter[0].iov_len + scatter[1].iov_len;
    n = t->ops->recv (t, scatter, planned, wait ? NBDI_WAIT_SOME : NBDI_WAIT_NONE);
  }
  else {
    struct nbdi_rx *rx = &c->rx;
    if (rx->end == rx->cap || (rx->start > 0 && rx->cap - rx->start < c->need)) {
      memmove (rx->buf, rx->buf + rx->start, rx->end - rx->start);
      rx->end -= rx->start;
      rx->start = 0;
    }
    *asked = nbdi_rx_read_size (c);
    if (*asked == 0) {
      /* Cannot happen: every message the engine waits for fits rx.  A
       * zero-length recv would read as end of stream, so say why. */
      nbdi_engine_die (h, EPROTO, "protocol error: message larger than the "
                       "receive buffer");
      errno = EPROTO;
      return -1;
    }
    iov = (struct iovec) { .iov_base = rx->buf + rx->end, .iov_len = *asked };
    n = t->ops->recv (t, &iov, 1, wait ? NBDI_WAIT_SOME : NBDI_WAIT_NONE);
    if (n > 0)
      rx->end += n;
  }
  if (n > 0) {
    c->bytes_received += n;
    if (planned > 0)
      nbdi_scatter_landed (h, n);
  }
  return n;
}

/* Receive once and let the engine consume it: 1 if bytes came, 0 if
 * none were waiting (or EOF handled), -1 on death. */
static int
recv_and_consume (struct nbd_handle *h, bool *drained, enum nbdi_wait wait)
{
  size_t asked = 0;
  ssize_t n;

  if (h->conn.phase == PH_TLS_HANDSHAKE) {
    *drained = true;
    return tls_step (h);
  }
  n = receive_once (h, &asked, wait);

  *drained = true;
  if (n == 0) {
    nbdi_engine_eof (h);
    return nbdi_get_state (h) == NBDI_STATE_DEAD ? -1 : 0;
  }
  if (n < 0) {
    if (errno == EAGAIN || errno == EWOULDBLOCK) {
      h->conn.recv_hot = false;
      return 0;
    }
    nbdi_engine_die (h, errno, "recv: %s", strerror (errno));   /* no-op if dead */
    return -1;
  }
  h->conn.recv_hot = true;
  /* A full read suggests more is waiting: the caller may read again
   * before polling. */
  *drained = (size_t) n < asked;
  if (nbdi_engine_consume (h) == -1)
    return -1;
  if (h->conn.phase == PH_TLS_HANDSHAKE)
    return tls_step (h);
  /* Commands issued by completion callbacks leave together. */
  if (!h->conn.tx_full && nbdi_tx_worth_sending (&h->conn) && nbdi_io_send (h) == -1)
    return -1;
  nbdi_update_ready (h);
  return 1;
}

/* While a receive runs, completion callbacks (scattered reads complete
 * inside receive_once) may issue commands: those wait for the send at
 * its end instead of each lone one leaving on its own. */
static int
io_recv (struct nbd_handle *h, bool *drained, enum nbdi_wait wait)
{
  int r;

  h->conn.in_receive = true;
  r = recv_and_consume (h, drained, wait);
  h->conn.in_receive = false;
  return r;
}

int
nbdi_io_recv (struct nbd_handle *h, bool *drained)
{
  return io_recv (h, drained, NBDI_WAIT_NONE);
}

/* Nothing to do but wait for the server: a blocking receive does in one
 * system call what poll() and a receive do in two. */
static bool
may_wait_in_recv (struct nbd_handle *h)
{
  const struct nbdi_conn *c = &h->conn;

  return c->transport && c->transport->raw
         && c->phase != PH_DIAL && c->phase != PH_TLS_HANDSHAKE
         && nbdi_engine_direction (h) == LIBNBD_AIO_DIRECTION_READ;
}

/* Finish a non-blocking connect, then start the handshake. */
static int
dial_step (struct nbd_handle *h)
{
  int r = nbdi_dial_continue (&h->dialer);

  if (r == 0)
    return 0;
  if (r < 0) {
    nbdi_engine_die (h, h->dialer.err, "%s: %s", h->dialer.what,
                     strerror (h->dialer.err));
    return -1;
  }
  return nbdi_io_attach (h);
}

int
nbdi_io_attach (struct nbd_handle *h)
{
  int fd = nbdi_dialer_take_fd (&h->dialer);

  nbdi_dialer_cleanup (&h->dialer);
  h->conn.transport = nbdi_transport_socket (fd);
  if (h->conn.transport == NULL) {
    close (fd);
    nbdi_engine_die (h, errno, "out of memory");
    return -1;
  }
  nbdi_engine_start (h);
  return 0;
}

int
nbdi_io_notify_read (struct nbd_handle *h)
{
  bool drained;

  if (h->conn.transport == NULL || h->conn.phase == PH_DIAL)
    return 0;
  return nbdi_io_recv (h, &drained);
}

int
nbdi_io_notify_write (struct nbd_handle *h)
{
  if (h->conn.phase == PH_DIAL)
    return dial_step (h);
  if (h->conn.transport == NULL)
    return 0;
  if (h->conn.phase == PH_TLS_HANDSHAKE)
    return tls_step (h);
  h->conn.tx_full = false;      /* poll() said there is room */
  return nbdi_io_send (h);
}

int
nbdi_io_fd (struct nbd_handle *h)
{
  if (h->conn.phase == PH_DIAL)
    return h->dialer.fd;
  if (h->conn.transport)
    return h->conn.transport->fd;
  return -1;
}

/* poll(), carried on across signals for what is left of the timeout,
 * as libnbd's nbd_poll also does not return on a signal. */
static int
poll_restarting (struct pollfd *fds, nfds_t nfds, int timeout)
{
  struct timespec start, now;
  int left = timeout, r;

  if (timeout > 0)
    clock_gettime (CLOCK_MONOTONIC, &start);
  while ((r = poll (fds, nfds, left)) == -1 && errno == EINTR) {
    if (timeout > 0) {
      long long spent;
      clock_gettime (CLOCK_MONOTONIC, &now);
      spent = (now.tv_sec - start.tv_sec) * 1000LL
              + (now.tv_nsec - start.tv_nsec) / 1000000;
      left = spent >= timeout ? 0 : timeout - (int) spent;
    }
  }
  return r;
}

/* Poll the connection (and optionally one more fd) once, then act on
 * what is ready.  Returns 1 if something happened, 0 on timeout, -1 on
 * error (set). */
int
nbdi_io_poll (struct nbd_handle *h, int extra_fd, int timeout)
{
  struct pollfd fds[2];
  unsigned dir;
  int fd = nbdi_io_fd (h), nfds = 0, r;

  /* Queued requests go out before sleeping: no poll round needed. */
  if (h->conn.phase != PH_DIAL && h->conn.transport && !h->conn.tx_full
      && nbdi_tx_worth_sending (&h->conn) && nbdi_io_send (h) == -1)
    goto dead;
  if (timeout < 0 && extra_fd < 0 && may_wait_in_recv (h)) {
    bool drained;
    /* Return after the first piece, as libnbd's poll does: other
     * threads wait for the handle lock meanwhile. */
    if (io_recv (h, &drained, NBDI_WAIT_SOME) == -1)
      goto dead;
    return 1;
  }
  /* Replies kept arriving last time: read before polling, which saves
   * the poll() while the server keeps up.  Not with only a request or
   * two out: the server cannot have answered one just sent. */
  if (h->conn.phase == PH_TRANSMISSION && h->conn.recv_hot
      && h->conn.in_flight >= h->conn.unsent + 4) {
    bool drained;
    r = nbdi_io_recv (h, &drained);
    if (r == -1)
      goto dead;
    if (r == 1)
      return 1;
  }
  dir = nbdi_engine_direction (h);
  if (dir == 0 && nbdi_state_permits (h, NBDI_GROUP_CLOSED))
    return 1;                   /* sending the disconnect closed the handle */

  if (fd == -1 || dir == 0) {
    if (extra_fd < 0) {
      nbdi_set_error (EINVAL, "the handle is not waiting for the server");
      return -1;
    }
  }
  else {
    fds[nfds++] = (struct pollfd) {
      .fd = fd,
      .events = ((dir & LIBNBD_AIO_DIRECTION_READ) ? POLLIN : 0)
                | ((dir & LIBNBD_AIO_DIRECTION_WRITE) ? POLLOUT : 0),
    };
  }
  if (extra_fd >= 0)
    fds[nfds++] = (struct pollfd) { .fd = extra_fd, .events = POLLIN };
  /* Decrypted bytes already buffered are invisible to poll(). */
  if (h->conn.transport && h->conn.transport->ops->pending (h->conn.transport))
    timeout = 0;
  r = poll_restarting (fds, nfds, timeout);
  if (r == -1) {
    nbdi_set_error_errno (errno, "poll");
    return -1;
  }
  if (nfds && fds[0].fd == fd) {
    if (fds[0].revents & (POLLIN | POLLHUP | POLLERR))
      if (nbdi_io_notify_read (h) == -1)
        goto dead;
    if (fds[0].revents & POLLOUT)
      if (nbdi_io_notify_write (h) == -1)
        goto dead;
  }
  if (h->conn.transport && h->conn.transport->ops->pending (h->conn.transport))
    if (nbdi_io_notify_read (h) == -1)
      goto dead;
  return r > 0;

 dead:
  nbdi_set_dead_error (h);
  return -1;
}

void
nbdi_set_dead_error (struct nbd_handle *h)
{
  struct nbdi_conn *c = &h->conn;

  nbdi_set_error (c->dead_errno ? c->dead_errno : EIO, "%s",
                  c->dead_msg ? c->dead_msg : "connection is dead");
}

/* The sync calls' loop: drive I/O until done (h) returns true.  Reads
 * again without polling while the socket keeps delivering full buffers. */
int
nbdi_io_wait (struct nbd_handle *h, bool (*done) (struct nbd_handle *, void *),
              void *arg)
{
  bool drained = true;

  for (;;) {
    struct nbdi_conn *c = &h->conn;

    if (done (h, arg))
      return 0;
    if (nbdi_get_state (h) == NBDI_STATE_DEAD) {
      nbdi_set_dead_error (h);
      return -1;
    }
    if (c->phase != PH_DIAL && c->transport && nbdi_tx_pending (c) && !c->tx_full) {
      if (nbdi_io_send (h) == -1) {
        nbdi_set_dead_error (h);
        return -1;
      }
      if (done (h, arg))
        return 0;
    }
    if (!drained && c->transport && c->phase != PH_DIAL) {
      if (nbdi_io_recv (h, &drained) == -1) {
        nbdi_set_dead_error (h);
        return -1;
      }
      continue;
    }
    if (nbdi_engine_direction (h) == 0) {
      if (done (h, arg))
        return 0;
      nbdi_set_error (EINVAL, "the handle cannot make progress (state %s)",
                      nbdi_state_name (nbdi_get_state (h)));
      return -1;
    }
    if (may_wait_in_recv (h)) {
      /* A sync call holds the lock to the end anyway (libnbd's too). */
      if (io_recv (h, &drained, NBDI_WAIT_ALL) == -1) {
        nbdi_set_dead_error (h);
        return -1;
      }
      continue;
    }
    {
      struct pollfd pfd;
      unsigned dir = nbdi_engine_direction (h);
      int r;
      pfd.fd = nbdi_io_fd (h);
      pfd.events = ((dir & LIBNBD_AIO_DIRECTION_READ) ? POLLIN : 0)
                   | ((dir & LIBNBD_AIO_DIRECTION_WRITE) ? POLLOUT : 0);
      r = poll (&pfd, 1, -1);
      if (r == -1) {
        if (errno == EINTR)
          continue;
        nbdi_set_error_errno (errno, "poll");
        return -1;
      }
      if ((pfd.revents & POLLOUT) || (c->phase == PH_DIAL && pfd.revents)) {
        if (nbdi_io_notify_write (h) == -1) {
          nbdi_set_dead_error (h);
          return -1;
        }
      }
      if (pfd.revents & (POLLIN | POLLHUP | POLLERR)) {
        if (c->phase == PH_DIAL)
          continue;
        if (nbdi_io_recv (h, &drained) == -1) {
          nbdi_set_dead_error (h);
          return -1;
        }
      }
    }
  }
}
