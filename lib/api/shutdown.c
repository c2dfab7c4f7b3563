/* Ending a connection: nbd_shutdown, nbd_aio_disconnect, and the
 * teardown nbd_close performs. */
#include <poll.h>
#include <signal.h>
#include <time.h>
#include <unistd.h>

#include "api/internal.h"
#include "api/io.h"
#include "engine/engine.h"
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
nothing_in_flight (struct nbd_handle *h, void *arg)
{
  (void) arg;
  enum nbdi_state s = nbdi_get_state (h);

  return h->conn.in_flight == 0
         || (s != NBDI_STATE_READY && s != NBDI_STATE_PROCESSING);
}

static bool
closed_or_dead (struct nbd_handle *h, void *arg)
{
  (void) arg;
  return nbdi_state_permits (h, NBDI_GROUP_CLOSED | NBDI_GROUP_DEAD);
}

int
nbdi_shutdown (struct nbd_handle *h, uint32_t flags)
{
  struct nbdi_conn *c = &h->conn;

  if (nbdi_get_state (h) == NBDI_STATE_NEGOTIATING)
    return nbdi_opt_abort (h);
  if (!(flags & LIBNBD_SHUTDOWN_ABANDON_PENDING))
    if (nbdi_io_wait (h, nothing_in_flight, NULL) == -1)
      return -1;
  if (!c->disc_queued && nbdi_cmd_disconnect (h) == -1)
    return -1;
  if (flags & LIBNBD_SHUTDOWN_ABANDON_PENDING) {
    /* Send the disconnect, then give up on the replies. */
    while (nbdi_tx_pending (c) && nbdi_get_state (h) != NBDI_STATE_DEAD) {
      struct pollfd p = { .fd = nbdi_io_fd (h), .events = POLLOUT };
      if (nbdi_io_send (h) == -1 || (nbdi_tx_pending (c) && poll (&p, 1, -1) == -1))
        break;
    }
    if (c->transport)
      c->transport->ops->shutdown (c->transport);
    c->phase = PH_NONE;
    nbdi_set_state (h, NBDI_STATE_CLOSED);
    nbdi_cmds_fail_all (h, ESHUTDOWN);
    return 0;
  }
  if (nbdi_io_wait (h, closed_or_dead, NULL) == -1)
    return -1;
  if (nbdi_get_state (h) == NBDI_STATE_DEAD) {
    nbdi_set_dead_error (h);
    return -1;
  }
  return 0;
}

/* Best effort at a clean goodbye on close: NBD_CMD_DISC if the
 * connection is live, without waiting long for a slow server. */
static void
say_goodbye (struct nbd_handle *h)
{
  struct nbdi_conn *c = &h->conn;
  enum nbdi_state s = nbdi_get_state (h);
  struct timespec start, now;

  if (c->transport == NULL)
    return;
  if (s == NBDI_STATE_NEGOTIATING)
    nbdi_option_abort (h);
  else if ((s == NBDI_STATE_READY || s == NBDI_STATE_PROCESSING) && !c->disc_queued)
    nbdi_cmd_disconnect (h);
  clock_gettime (CLOCK_MONOTONIC, &start);
  while (nbdi_tx_pending (c) && nbdi_get_state (h) != NBDI_STATE_DEAD) {
    struct pollfd p = { .fd = c->transport->fd, .events = POLLOUT };
    if (nbdi_io_send (h) == -1 || !nbdi_tx_pending (c))
      break;
    clock_gettime (CLOCK_MONOTONIC, &now);
    if (now.tv_sec - start.tv_sec >= 2 || poll (&p, 1, 100) == -1)
      break;
  }
}

/* Wait a little for a server subprocess to exit, then insist. */
static void
reap_child (pid_t pid)
{
  for (int i = 0; i < 100; i++) {
    if (nbdi_child_reap (pid, false))
      return;
    usleep (20000);
  }
  nbdi_child_kill (pid, SIGKILL);
  nbdi_child_reap (pid, true);
}

void
nbdi_connection_close (struct nbd_handle *h)
{
  say_goodbye (h);
  if (h->conn.transport) {
    h->conn.transport->ops->close (h->conn.transport);
    h->conn.transport = NULL;
  }
  nbdi_dialer_cleanup (&h->dialer);
  nbdi_engine_free (h);
  if (h->pid > 0) {
    if (h->pid_listens)
      nbdi_child_kill (h->pid, SIGTERM);
    reap_child (h->pid);
  }
}
