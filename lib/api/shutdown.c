/* Ending a connection: nbd_shutdown, nbd_aio_disconnect, and the
 * teardown nbd_close performs. */
#include <signal.h>

#include "api/internal.h"
#include "api/io.h"
#include "engine/legacy.h"
#include "transport/transport.h"

int
nbdi_aio_disconnect (struct nbd_handle *h, uint32_t flags)
{
  (void) flags;
  if (h->conn.disc_queued) {
    nbdi_set_error (EINVAL, "a disconnect was already requested");
    return -1;
  }
  if (nbdi_cmd_disconnect (h) == -1)
    return -1;
  nbdi_update_ready (h);
  return 0;
}

static bool
closed_or_dead (struct nbd_handle *h, void *arg)
{
  (void) arg;
  return nbdi_state_permits (h, NBDI_GROUP_CLOSED | NBDI_GROUP_DEAD);
}

int
nbdi_abort_negotiation (struct nbd_handle *h)
{
  struct nbdi_conn *c = &h->conn;

  if (nbdi_option_abort (h) == -1)
    return -1;
  if (nbdi_get_state (h) == NBDI_STATE_DEAD)
    return 0;                   /* not fixed newstyle: nothing to send */
  /* A dozen bytes into an idle socket: they leave now, or never. */
  if (c->transport && nbdi_io_send (h) == 0)
    c->transport->ops->shutdown (c->transport);
  if (nbdi_get_state (h) == NBDI_STATE_DEAD)
    return 0;
  c->tx_first = c->tx_len = 0;
  c->phase = PH_NONE;
  nbdi_set_state (h, NBDI_STATE_CLOSED);
  return 0;
}

/* Commands already queued leave before NBD_CMD_DISC (or, abandoned,
 * never); the replies of those sent are still read, until the server
 * closes its end. */
int
nbdi_shutdown (struct nbd_handle *h, uint32_t flags)
{
  struct nbdi_conn *c = &h->conn;

  if (nbdi_get_state (h) == NBDI_STATE_NEGOTIATING)
    return nbdi_abort_negotiation (h);
  if (flags & LIBNBD_SHUTDOWN_ABANDON_PENDING)
    nbdi_cmds_abandon_unsent (h);
  if (!c->disc_queued && nbdi_cmd_disconnect (h) == -1)
    return -1;
  if (nbdi_io_wait (h, closed_or_dead, NULL) == -1)
    return -1;
  if (nbdi_get_state (h) == NBDI_STATE_DEAD) {
    nbdi_set_dead_error (h);
    return -1;
  }
  return 0;
}

/* A courtesy on close: NBD_CMD_DISC (or NBD_OPT_ABORT), only when the
 * socket is idle and only what it takes at once.  Nothing else queued
 * is sent: the closures have been released, so the buffers of unsent
 * writes may be gone. */
static void
say_goodbye (struct nbd_handle *h, enum nbdi_state s)
{
  struct nbdi_conn *c = &h->conn;

  if (c->transport == NULL || nbdi_tx_pending (c))
    return;
  if (s == NBDI_STATE_NEGOTIATING)
    nbdi_abort_negotiation (h);
  else if ((s == NBDI_STATE_READY || s == NBDI_STATE_PROCESSING) && !c->disc_queued
           && nbdi_cmd_disconnect (h) == 0)
    nbdi_io_send (h);
}

void
nbdi_connection_close (struct nbd_handle *h)
{
  enum nbdi_state s = nbdi_get_state (h);

  /* No completion callback runs from here on, and calls that callbacks'
   * .free make on the handle find it closed. */
  nbdi_set_state (h, NBDI_STATE_CLOSED);
  nbdi_engine_release_callbacks (h);
  nbdi_set_state (h, s);
  say_goodbye (h, s);
  nbdi_set_state (h, NBDI_STATE_CLOSED);
  if (h->conn.transport) {
    h->conn.transport->ops->close (h->conn.transport);
    h->conn.transport = NULL;
  }
  nbdi_dialer_cleanup (&h->dialer);
  nbdi_engine_free (h);
  if (h->pid > 0) {
    /* A socket-activated server keeps listening: stop it.  One started
     * by nbd_connect_command exits on its own once the socket closes,
     * and may be saving data meanwhile: wait, never kill (libnbd too). */
    if (h->pid_listens)
      nbdi_child_kill (h->pid, SIGTERM);
    nbdi_child_reap (h->pid, true);
  }
}
