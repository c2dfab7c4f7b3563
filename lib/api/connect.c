/* Every connect method, async and sync.  The sync form is the async one
 * plus nbdi_io_wait until the handshake is over. */
#include <string.h>
#include <unistd.h>

#include "api/internal.h"
#include "api/io.h"
#include "engine/engine.h"

/* Common tail of the aio connect calls: the dialer has a socket.  A
 * socket the library connected itself (by address) waits for the first
 * nbd_aio_notify_write even when connect() finished at once, as in
 * libnbd: programs that drive the connect by hand expect that event. */
static int
dialed_by (struct nbd_handle *h, int r, bool by_address)
{
  struct nbdi_dialer *d = &h->io.dialer;

  if (r == -1) {
    /* As in libnbd, a failed connect is final: the handle is dead. */
    nbdi_set_error (d->err, "%s: %s", d->what, strerror (d->err));
    nbdi_engine_die (h->engine, d->err, "%s: %s", d->what, strerror (d->err));
    nbdi_dialer_cleanup (d);
    return -1;
  }
  if (d->pid > 0)
    h->pid = d->pid;
  if (d->in_progress || by_address) {
    nbdi_engine_dial (h->engine);
    return 0;
  }
  if (nbdi_io_attach (h) == -1) {
    nbdi_set_dead_error (h);
    return -1;
  }
  return 0;
}

static int
dialed (struct nbd_handle *h, int r)
{
  return dialed_by (h, r, false);
}

static int
dialed_address (struct nbd_handle *h, int r)
{
  return dialed_by (h, r, true);
}

int
nbdi_aio_connect_unix (struct nbd_handle *h, const char *path)
{
  h->peer.kind = NBDI_PEER_UNIX;
  if (nbdi_replace_string (&h->peer.path, path) == -1)
    return -1;
  nbdi_dialer_init (&h->io.dialer);
  return dialed_address (h, nbdi_dial_unix (&h->io.dialer, path));
}

int
nbdi_aio_connect_tcp (struct nbd_handle *h, const char *host, const char *port)
{
  nbdi_dialer_init (&h->io.dialer);
  if (h->cfg.tls_hostname == NULL && nbdi_replace_string (&h->cfg.tls_hostname, host) == -1)
    return -1;
  h->peer.kind = NBDI_PEER_TCP;
  if (nbdi_replace_string (&h->peer.host, host) == -1
      || nbdi_replace_string (&h->peer.port, port) == -1)
    return -1;
  return dialed_address (h, nbdi_dial_tcp (&h->io.dialer, host, port));
}

int
nbdi_aio_connect (struct nbd_handle *h, const struct sockaddr *addr, socklen_t len)
{
  nbdi_dialer_init (&h->io.dialer);
  return dialed_address (h, nbdi_dial_sockaddr (&h->io.dialer, addr, len));
}

int
nbdi_aio_connect_vsock (struct nbd_handle *h, uint32_t cid, uint32_t port)
{
  h->peer = (struct nbdi_peer) { .kind = NBDI_PEER_VSOCK, .cid = cid, .vport = port };
  nbdi_dialer_init (&h->io.dialer);
  return dialed_address (h, nbdi_dial_vsock (&h->io.dialer, cid, port));
}

int
nbdi_aio_connect_socket (struct nbd_handle *h, int sock)
{
  h->peer.kind = NBDI_PEER_SOCKET;
  nbdi_dialer_init (&h->io.dialer);
  return dialed (h, nbdi_dial_socket (&h->io.dialer, sock));
}

static int
check_argv (char **argv)
{
  if (argv[0] == NULL) {
    nbdi_set_error (EINVAL, "argv must contain at least the program name");
    return -1;
  }
  return 0;
}

int
nbdi_aio_connect_command (struct nbd_handle *h, char **argv)
{
  if (check_argv (argv) == -1)
    return -1;
  nbdi_dialer_init (&h->io.dialer);
  return dialed (h, nbdi_dial_command (&h->io.dialer, argv));
}

int
nbdi_aio_connect_systemd_socket_activation (struct nbd_handle *h, char **argv)
{
  if (check_argv (argv) == -1)
    return -1;
  nbdi_dialer_init (&h->io.dialer);
  /* A socket-activated server outlives our connection (it could accept
   * another), so nbd_close stops it rather than waiting. */
  h->pid_listens = true;
  return dialed (h, nbdi_dial_socket_activation (&h->io.dialer, argv,
                                                 h->cfg.socket_activation_name));
}

static bool
handshake_over (struct nbd_handle *h, void *arg)
{
  (void) arg;
  return !nbdi_state_permits (h, NBDI_GROUP_CREATED | NBDI_GROUP_CONNECTING);
}

int
nbdi_connect_finish (struct nbd_handle *h, int r)
{
  if (r == -1)
    return -1;
  if (nbdi_io_wait (h, handshake_over, NULL) == -1)
    return -1;
  if (nbdi_get_state (h) == NBDI_STATE_DEAD) {
    nbdi_set_dead_error (h);
    return -1;
  }
  if (nbdi_get_state (h) == NBDI_STATE_CLOSED) {
    nbdi_set_error (ESHUTDOWN, "server closed the connection during the handshake");
    return -1;
  }
  return 0;
}






