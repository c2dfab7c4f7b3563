/* The driver: moves bytes between the transport and the engine, and the
 * poll/notify calls built on it.  The only place that performs I/O on
 * the connection.  It talks to the engine through its byte API only
 * (engine/engine.h): where to receive, what to send, and its events. */
#include <limits.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "api/internal.h"
#include "api/io.h"
#include "engine/engine.h"
#include "transport/transport.h"
#include "transport/tls.h"

#define MAX_IOV 1024

/* Once NBD_CMD_DISC has left, shut the write side: the replies still
 * due keep arriving, and the handle closes when the server closes its
 * end (nbdi_engine_rx_eof), as libnbd's does. */
static void
maybe_shut_write (struct nbd_handle *h)
{
  struct nbdi_driver *d = &h->io;

  if (!d->write_shut && d->transport && nbdi_engine_disconnect_requested (h->engine)
      && (nbdi_engine_events (h->engine) & NBDI_EV_SHUT_WRITE)) {
    d->transport->ops->shutdown (d->transport);
    d->write_shut = true;
  }
}

int
nbdi_io_send (struct nbd_handle *h)
{
  struct nbdi_driver *d = &h->io;
  struct nbdi_engine *e = h->engine;
  const struct iovec *iov;
  size_t cnt;

  while ((cnt = nbdi_engine_tx_plan (e, &iov)) > 0) {
    size_t offered = 0;
    ssize_t n;

    if (cnt > MAX_IOV)
      cnt = MAX_IOV;
    for (size_t i = 0; i < cnt; i++)
      offered += iov[i].iov_len;
    n = d->transport->ops->send (d->transport, iov, (int) cnt, false);
    if (n < 0) {
      if (errno == EAGAIN || errno == EWOULDBLOCK) {
        d->tx_full = true;
        return 0;
      }
      nbdi_engine_die (e, errno, "send: %s", strerror (errno));
      return -1;
    }
    nbdi_engine_tx_done (e, n);
    /* A short send on a plain socket means its buffer is full: trying
     * again before poll() says there is room would only send a sliver.
     * (TLS sends one record at a time, so short is normal there.) */
    if ((size_t) n < offered && !d->tls_wrapped) {
      d->tx_full = true;
      break;
    }
  }
  maybe_shut_write (h);
  return 0;
}

/* STARTTLS was agreed: wrap the socket in TLS (once), then advance the
 * handshake; when it completes, negotiation goes on encrypted. */
static int
tls_step (struct nbd_handle *h)
{
  struct nbdi_driver *d = &h->io;
  char msg[512] = "";
  int err = EIO, r;

  if (!d->tls_wrapped) {
    const struct nbdi_settings *s = &h->cfg;
    struct nbdi_tls_config cfg = {
      .certificates = s->tls_certificates, .verify_peer = nbdi_tls_verifies_peer (h),
      .username = s->tls_username, .psk_file = s->tls_psk_file,
      .hostname = s->tls_hostname, .priority = s->tls_priority,
    };
    struct nbdi_transport *t = nbdi_tls_wrap (d->transport, &cfg, &err, msg, sizeof msg);
    if (t == NULL) {
      nbdi_engine_die (h->engine, err, "TLS: %s", msg);
      return -1;
    }
    d->transport = t;
    d->tls_wrapped = true;
  }
  r = nbdi_tls_handshake (d->transport, &d->tls_want_write, &err, msg, sizeof msg);
  if (r < 0) {
    nbdi_engine_die (h->engine, err, "TLS handshake: %s", msg);
    return -1;
  }
  if (r == 0)
    return 0;
  if (nbdi_engine_tls_done (h->engine) == -1)
    return -1;
  return nbdi_io_send (h);
}

static bool
tls_running (struct nbd_handle *h)
{
  return nbdi_engine_wants_tls (h->engine);
}

/* One receive where the engine says: straight into the caller's buffer
 * for big payloads; the rest of a small payload into the caller's
 * buffer and what follows into the engine's buffer (a plain socket
 * only: TLS takes one buffer); else into the engine's buffer.  wait:
 * NBDI_WAIT_SOME blocks until something arrives; NBDI_WAIT_ALL also
 * takes a big payload whole in one call, however many pieces the server
 * sends it in.  Returns bytes received (handed to the engine), 0 at EOF
 * (handled), -1 on EAGAIN (errno) or death. */
static ssize_t
receive_once (struct nbd_handle *h, size_t *asked, enum nbdi_wait wait)
{
  struct nbdi_transport *t = h->io.transport;
  struct iovec iov[2];
  bool exact;
  int cnt = nbdi_engine_rx_plan (h->engine, iov, t->raw ? 2 : 1, &exact);
  ssize_t n;

  if (cnt == 0)
    return 0;                   /* closed or dead: handled as the end */
  *asked = cnt == 1 ? iov[0].iov_len : iov[0].iov_len + iov[1].iov_len;
  if (wait == NBDI_WAIT_ALL && !exact)
    wait = NBDI_WAIT_SOME;
  n = t->ops->recv (t, iov, cnt, wait);
  if (n > 0 && nbdi_engine_rx_done (h->engine, n) == -1)
    return -1;
  return n;
}

/* Receive once and let the engine consume it: 1 if bytes came, 0 if
 * none were waiting (or EOF handled), -1 on death. */
static int
recv_and_consume (struct nbd_handle *h, bool *drained, enum nbdi_wait wait)
{
  struct nbdi_driver *d = &h->io;
  size_t asked = 0;
  ssize_t n;

  *drained = true;
  if (tls_running (h))
    return tls_step (h);
  n = receive_once (h, &asked, wait);
  if (n == 0) {
    nbdi_engine_rx_eof (h->engine);
    return nbdi_engine_state (h->engine) == NBDI_STATE_DEAD ? -1 : 0;
  }
  if (n < 0) {
    if (nbdi_engine_state (h->engine) == NBDI_STATE_DEAD)
      return -1;
    if (errno == EAGAIN || errno == EWOULDBLOCK) {
      d->recv_hot = false;
      return 0;
    }
    nbdi_engine_die (h->engine, errno, "recv: %s", strerror (errno));
    return -1;
  }
  d->recv_hot = true;
  /* A full read suggests more is waiting: the caller may read again
   * before polling. */
  *drained = (size_t) n < asked;
  if (tls_running (h))
    return tls_step (h);
  /* Commands issued by completion callbacks leave together. */
  if (!d->tx_full && nbdi_engine_tx_worth_sending (h->engine) && nbdi_io_send (h) == -1)
    return -1;
  return 1;
}

/* While a receive runs, completion callbacks (scattered reads complete
 * inside it) may issue commands: those wait for the send at its end
 * instead of each lone one leaving on its own. */
static int
io_recv (struct nbd_handle *h, bool *drained, enum nbdi_wait wait)
{
  int r;

  h->io.in_receive = true;
  r = recv_and_consume (h, drained, wait);
  h->io.in_receive = false;
  return r;
}

int
nbdi_io_recv (struct nbd_handle *h, bool *drained)
{
  return io_recv (h, drained, NBDI_WAIT_NONE);
}

static bool
dialing (struct nbd_handle *h)
{
  return nbdi_engine_state (h->engine) == NBDI_STATE_CONNECTING;
}

unsigned
nbdi_io_direction (struct nbd_handle *h)
{
  if (tls_running (h))
    return h->io.tls_want_write ? LIBNBD_AIO_DIRECTION_WRITE : LIBNBD_AIO_DIRECTION_READ;
  return nbdi_engine_direction (h->engine);
}

/* Nothing to do but wait for the server: a blocking receive does in one
 * system call what poll() and a receive do in two. */
static bool
may_wait_in_recv (struct nbd_handle *h)
{
  return h->io.transport && h->io.transport->raw && !tls_running (h)
         && nbdi_engine_direction (h->engine) == LIBNBD_AIO_DIRECTION_READ;
}

/* Finish a non-blocking connect, then start the handshake. */
static int
dial_step (struct nbd_handle *h)
{
  struct nbdi_dialer *dl = &h->io.dialer;
  int r = nbdi_dial_continue (dl);

  if (r == 0)
    return 0;
  if (r < 0) {
    nbdi_engine_die (h->engine, dl->err, "%s: %s", dl->what, strerror (dl->err));
    return -1;
  }
  return nbdi_io_attach (h);
}

int
nbdi_io_attach (struct nbd_handle *h)
{
  int fd = nbdi_dialer_take_fd (&h->io.dialer), r;

  nbdi_dialer_cleanup (&h->io.dialer);
  h->io.transport = nbdi_transport_socket (fd);
  if (h->io.transport == NULL) {
    close (fd);
    nbdi_engine_die (h->engine, errno, "out of memory");
    return -1;
  }
  r = nbdi_engine_start (h->engine);
  if (r < 0) {
    nbdi_engine_die (h->engine, -r, "%s", strerror (-r));
    return -1;
  }
  return 0;
}

void
nbdi_io_close (struct nbd_handle *h)
{
  if (h->io.transport) {
    h->io.transport->ops->close (h->io.transport);
    h->io.transport = NULL;
  }
  nbdi_dialer_cleanup (&h->io.dialer);
}

int
nbdi_io_notify_read (struct nbd_handle *h)
{
  bool drained;

  if (h->io.transport == NULL)
    return 0;
  return nbdi_io_recv (h, &drained);
}

int
nbdi_io_notify_write (struct nbd_handle *h)
{
  if (dialing (h))
    return dial_step (h);
  if (h->io.transport == NULL)
    return 0;
  if (tls_running (h))
    return tls_step (h);
  h->io.tx_full = false;        /* poll() said there is room */
  return nbdi_io_send (h);
}

int
nbdi_io_fd (struct nbd_handle *h)
{
  if (h->io.transport)
    return h->io.transport->fd;
  if (dialing (h))
    return h->io.dialer.fd;
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

static bool
tls_has_pending (struct nbd_handle *h)
{
  return h->io.transport && h->io.transport->ops->pending (h->io.transport);
}

/* The one poll loop: wait until the connection is ready in the
 * directions it waits for (when it waits for any) or extra_fd is
 * readable, at most timeout ms, then act on what is ready.  Returns how
 * many descriptors were ready (0 on timeout), or -1 with the public
 * error set (a failed poll, or the connection's death). */
static int
poll_and_dispatch (struct nbd_handle *h, int extra_fd, int timeout, bool *drained)
{
  struct pollfd fds[2];
  unsigned dir = nbdi_io_direction (h);
  int fd = nbdi_io_fd (h), nfds = 0, r;

  if (fd != -1 && dir != 0)
    fds[nfds++] = (struct pollfd) {
      .fd = fd,
      .events = ((dir & LIBNBD_AIO_DIRECTION_READ) ? POLLIN : 0)
                | ((dir & LIBNBD_AIO_DIRECTION_WRITE) ? POLLOUT : 0),
    };
  if (extra_fd >= 0)
    fds[nfds++] = (struct pollfd) { .fd = extra_fd, .events = POLLIN };
  /* Decrypted bytes already buffered are invisible to poll(). */
  if (tls_has_pending (h))
    timeout = 0;
  r = poll_restarting (fds, nfds, timeout);
  if (r == -1) {
    nbdi_set_error_errno (errno, "poll");
    return -1;
  }
  if (nfds && fds[0].fd == fd && fds[0].revents) {
    if (dialing (h)) {
      if (dial_step (h) == -1)
        goto dead;
    }
    else {
      if ((fds[0].revents & (POLLIN | POLLHUP | POLLERR))
          && io_recv (h, drained, NBDI_WAIT_NONE) == -1)
        goto dead;
      if ((fds[0].revents & POLLOUT) && nbdi_io_notify_write (h) == -1)
        goto dead;
    }
  }
  if (tls_has_pending (h) && io_recv (h, drained, NBDI_WAIT_NONE) == -1)
    goto dead;
  return r;

 dead:
  nbdi_set_dead_error (h);
  return -1;
}

/* Queued requests go out before sleeping: no poll round needed. */
static int
send_if_worth (struct nbd_handle *h)
{
  if (h->io.transport && !h->io.tx_full && !tls_running (h)
      && nbdi_engine_tx_worth_sending (h->engine))
    return nbdi_io_send (h);
  return 0;
}

/* Poll the connection (and optionally one more fd) once, then act on
 * what is ready.  Returns 1 if something happened, 0 on timeout, -1 on
 * error (set). */
int
nbdi_io_poll (struct nbd_handle *h, int extra_fd, int timeout)
{
  struct nbdi_engine *e = h->engine;
  bool drained;
  int r;

  if (send_if_worth (h) == -1)
    goto dead;
  if (timeout < 0 && extra_fd < 0 && may_wait_in_recv (h)) {
    /* Return after the first piece, as libnbd's poll does: other
     * threads wait for the handle lock meanwhile. */
    if (io_recv (h, &drained, NBDI_WAIT_SOME) == -1)
      goto dead;
    return 1;
  }
  /* Replies kept arriving last time: read before polling, which saves
   * the poll() while the server keeps up.  Not with only a request or
   * two out: the server cannot have answered one just sent. */
  if (h->io.recv_hot && nbdi_state_permits (h, NBDI_GROUP_CONNECTED)
      && nbdi_engine_awaited (e) >= 4) {
    r = nbdi_io_recv (h, &drained);
    if (r == -1)
      goto dead;
    if (r == 1)
      return 1;
  }
  if (nbdi_io_direction (h) == 0) {
    if (nbdi_state_permits (h, NBDI_GROUP_CLOSED))
      return 1;                 /* sending the disconnect closed the handle */
    if (extra_fd < 0) {
      nbdi_set_error (EINVAL, "the handle is not waiting for the server");
      return -1;
    }
  }
  else if (nbdi_io_fd (h) == -1 && extra_fd < 0) {
    nbdi_set_error (EINVAL, "the handle is not waiting for the server");
    return -1;
  }
  r = poll_and_dispatch (h, extra_fd, timeout, &drained);
  return r < 0 ? -1 : r > 0;

 dead:
  nbdi_set_dead_error (h);
  return -1;
}

void
nbdi_set_dead_error (struct nbd_handle *h)
{
  nbdi_set_error (nbdi_engine_dead_errno (h->engine), "%s",
                  nbdi_engine_dead_message (h->engine));
}

/* The sync calls' loop: drive I/O until done (h) returns true.  Reads
 * again without polling while the socket keeps delivering full buffers. */
int
nbdi_io_wait (struct nbd_handle *h, bool (*done) (struct nbd_handle *, void *),
              void *arg)
{
  struct nbdi_engine *e = h->engine;
  bool drained = true;

  for (;;) {
    if (done (h, arg))
      return 0;
    if (nbdi_engine_state (e) == NBDI_STATE_DEAD) {
      nbdi_set_dead_error (h);
      return -1;
    }
    if (h->io.transport && nbdi_engine_tx_pending (e) && !h->io.tx_full) {
      if (nbdi_io_send (h) == -1) {
        nbdi_set_dead_error (h);
        return -1;
      }
      if (done (h, arg))
        return 0;
    }
    if (!drained && h->io.transport) {
      if (nbdi_io_recv (h, &drained) == -1) {
        nbdi_set_dead_error (h);
        return -1;
      }
      continue;
    }
    if (nbdi_io_direction (h) == 0) {
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
    if (poll_and_dispatch (h, -1, -1, &drained) == -1)
      return -1;
  }
}
