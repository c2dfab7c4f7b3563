/* Ending a connection: nbd_shutdown, nbd_aio_disconnect, and the
 * teardown nbd_close performs. */
#include <signal.h>

#include "api/internal.h"
#include "api/io.h"
#include "engine/engine.h"
#include "transport/transport.h"

static int
queue_disconnect (struct nbd_handle *h)
{
  int r = nbdi_engine_disconnect (h->engine);

  if (r < 0) {
    nbdi_set_error (-r, "%s", strerror (-r));
    return -1;
  }
  return 0;
}

int
nbdi_aio_disconnect (struct nbd_handle *h, uint32_t flags)
{
  (void) flags;
  if (nbdi_engine_disconnect_requested (h->engine)) {
    nbdi_set_error (EINVAL, "a disconnect was already requested");
    return -1;
  }
  return queue_disconnect (h);
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
  struct nbdi_transport *t = h->io.transport;
  int r = nbdi_engine_option_abort (h->engine);

  if (nbdi_get_state (h) == NBDI_STATE_DEAD)
    return 0;                   /* not fixed newstyle: nothing to send */
  if (r < 0) {
    nbdi_set_error (-r, "%s", strerror (-r));
    return -1;
  }
  /* A dozen bytes into an idle socket: they leave now, or never. */
  if (t && nbdi_io_send (h) == 0)
    t->ops->shutdown (t);
  if (nbdi_get_state (h) == NBDI_STATE_DEAD)
    return 0;
  nbdi_engine_close (h->engine);
  return 0;
}

/* Commands already queued leave before NBD_CMD_DISC (or, abandoned,
 * never); the replies of those sent are still read, until the server
 * closes its end. */
int
nbdi_shutdown (struct nbd_handle *h, uint32_t flags)
{
  if (nbdi_get_state (h) == NBDI_STATE_NEGOTIATING)
    return nbdi_abort_negotiation (h);
  if (flags & LIBNBD_SHUTDOWN_ABANDON_PENDING)
    nbdi_engine_abandon_unsent (h->engine);
  if (!nbdi_engine_disconnect_requested (h->engine) && queue_disconnect (h) == -1)
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
  struct nbdi_engine *e = h->engine;

  if (h->io.transport == NULL || nbdi_engine_tx_pending (e))
    return;
  if (s == NBDI_STATE_NEGOTIATING)
    nbdi_abort_negotiation (h);
  else if ((s == NBDI_STATE_READY || s == NBDI_STATE_PROCESSING)
           && !nbdi_engine_disconnect_requested (e) && nbdi_engine_disconnect (e) == 0)
    nbdi_io_send (h);
}

void
nbdi_connection_close (struct nbd_handle *h)
{
  enum nbdi_state s = nbdi_get_state (h);

  /* No completion callback runs from here on, and calls that callbacks'
   * .free make on the handle find it closed. */
  nbdi_engine_release_callbacks (h->engine);
  say_goodbye (h, s);
  nbdi_engine_close (h->engine);
  nbdi_io_close (h);
  if (h->pid > 0) {
    /* A socket-activated server keeps listening: stop it.  One started
     * by nbd_connect_command exits on its own once the socket closes,
     * and may be saving data meanwhile: wait, never kill (libnbd too). */
    if (h->pid_listens)
      nbdi_child_kill (h->pid, SIGTERM);
    nbdi_child_reap (h->pid, true);
  }
}
