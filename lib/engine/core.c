/* The engine's core: lifetime, the one phase transition, debug text,
 * and death. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/internal.h"

/* Big enough for a queue's worth of small replies in one recv, small
 * enough to stay in cache (measured: 128 KiB beat 256 and 64).  It
 * stays a little under 128 KiB so that, with the allocator's own
 * header, it is below glibc's initial mmap threshold and inside the
 * largest size class of ASan's allocator: creating and freeing many
 * engines (a handle per export, the in-process fuzzers) then reuses
 * heap memory instead of mapping, faulting in and unmapping fresh
 * pages every time. */
#define RX_SIZE (124 * 1024)

/* Output queue slots to start with (it doubles when full). */
#define TX_SLOTS 256

struct nbdi_engine *
nbdi_engine_new (const struct nbdi_engine_config *cfg)
{
  struct nbdi_engine *e = calloc (1, sizeof *e);

  if (e == NULL) {
    errno = ENOMEM;
    return NULL;
  }
  /* The output queue exists from the start, so that its plan is always a
   * real array, even before anything was queued. */
  e->tx = malloc (TX_SLOTS * sizeof *e->tx);
  if (e->tx == NULL) {
    free (e);
    errno = ENOMEM;
    return NULL;
  }
  e->tx_cap = TX_SLOTS;
  e->cfg = cfg;
  e->pub.phase = NBDI_PH_CREATED;
  e->pub.state = NBDI_STATE_CREATED;
  e->next_cookie = 1;
  return e;
}

void
nbdi_free_export (struct nbdi_engine *e)
{
  free (e->info.canonical_name);
  free (e->info.description);
  e->info = (struct nbdi_export_info) { .known = false };
}

static void
free_metas (struct nbdi_engine *e)
{
  for (size_t i = 0; i < e->nr_metas; i++)
    free (e->metas[i].name);
  free (e->metas);
  e->metas = NULL;
  e->nr_metas = 0;
}

/* The public state alone, with no phase change and no trace: only for
 * the mask below, which nbd_close applies (when the debug hook may be
 * gone), not a transition of the protocol. */
static void
publish (struct nbdi_engine *e, enum nbdi_state state)
{
  __atomic_store_n (&e->pub.state, state, __ATOMIC_RELEASE);
}

void
nbdi_engine_release_callbacks (struct nbdi_engine *e)
{
  enum nbdi_state state = e->pub.state;

  publish (e, NBDI_STATE_CLOSED);
  /* An option not marked active is released without its completion. */
  e->opt_active = false;
  nbdi_option_finish (e, ENOTCONN);
  nbdi_cmds_release (e);
  publish (e, state);
}

void
nbdi_engine_free (struct nbdi_engine *e)
{
  if (e == NULL)
    return;
  nbdi_engine_release_callbacks (e);
  nbdi_cmds_free (e);
  nbdi_free_export (e);
  free_metas (e);
  free (e->rx.buf);
  free (e->tx);
  free (e->tx_store);
  free (e->dead_msg);
  free (e->opt.server_msg);
  free (e->opt_msg);
  free (e);
}

/* ---- the transition ---- */

void
nbdi_trace_transition (struct nbdi_engine *e, enum nbdi_phase old,
                       enum nbdi_state old_state)
{
  enum nbdi_state state = e->pub.state;

  if (state != old_state)
    nbdi_log (e, "engine", "transition: %s -> %s, state %s -> %s",
              nbdi_phase_name (old), nbdi_phase_name (e->pub.phase),
              nbdi_state_name (old_state), nbdi_state_name (state));
  else
    nbdi_log (e, "engine", "transition: %s -> %s",
              nbdi_phase_name (old), nbdi_phase_name (e->pub.phase));
}

void
nbdi_log (struct nbdi_engine *e, const char *context, const char *fmt, ...)
{
  va_list ap;
  char *msg = NULL;
  int saved_errno = errno;

  if (e->cfg->log == NULL)
    return;
  va_start (ap, fmt);
  if (vasprintf (&msg, fmt, ap) == -1)
    msg = NULL;
  va_end (ap);
  if (msg)
    e->cfg->log (e->cfg->log_opaque, context, msg);
  free (msg);
  errno = saved_errno;
}

/* ---- starting and ending ---- */

void
nbdi_engine_dial (struct nbdi_engine *e)
{
  nbdi_enter (e, NBDI_PH_DIAL);
}

int
nbdi_engine_start (struct nbdi_engine *e)
{
  if (e->rx.buf == NULL) {
    e->rx.buf = malloc (RX_SIZE);
    if (e->rx.buf == NULL)
      return -ENOMEM;
    e->rx.cap = RX_SIZE;
  }
  e->need = WIRE_GREETING_SIZE;
  nbdi_enter (e, NBDI_PH_GREETING);
  return 0;
}

void
nbdi_engine_close (struct nbdi_engine *e)
{
  e->tx_first = e->tx_len = 0;
  nbdi_enter (e, NBDI_PH_CLOSED);
}

void
nbdi_engine_die (struct nbdi_engine *e, int errnum, const char *fmt, ...)
{
  va_list ap;
  char *msg = NULL;

  if (e->pub.phase == NBDI_PH_DEAD || e->pub.phase == NBDI_PH_CLOSED)
    return;
  va_start (ap, fmt);
  if (vasprintf (&msg, fmt, ap) == -1)
    msg = NULL;
  va_end (ap);
  free (e->dead_msg);
  e->dead_msg = msg;
  e->dead_errno = errnum;
  if (e->cfg->debug)
    nbdi_log (e, "engine", "connection dead: %s", msg ? msg : "?");
  nbdi_enter (e, NBDI_PH_DEAD);
  e->tx_first = e->tx_len = 0;
  e->direct = NULL;
  e->direct_left = 0;
  /* The cause stays with the call that saw it (dead_errno); what was
   * waiting for the server can only say it is gone, as libnbd does. */
  if (e->opt_active)
    nbdi_option_finish (e, ENOTCONN);
  nbdi_cmds_fail_all (e, ENOTCONN);
}

int
nbdi_engine_dead_errno (const struct nbdi_engine *e)
{
  return e->dead_errno ? e->dead_errno : EIO;
}

const char *
nbdi_engine_dead_message (const struct nbdi_engine *e)
{
  return e->dead_msg ? e->dead_msg : "connection is dead";
}

/* End of stream from the server: normal after an abort, or in
 * transmission with nothing in flight (as libnbd, the handle is then
 * closed, not dead); fatal otherwise. */
void
nbdi_engine_rx_eof (struct nbdi_engine *e)
{
  /* After NBD_CMD_DISC the server closing is the normal end; commands
   * it stranded fail with ENOTCONN, as nbd_aio_in_flight(3) says. */
  if (e->pub.phase == NBDI_PH_ABORT_WAIT
      || (nbdi_transmitting (e) && (e->pub.disc_queued || e->pub.in_flight == 0))) {
    nbdi_enter (e, NBDI_PH_CLOSED);
    if (e->opt_active)
      nbdi_option_finish (e, 0);
    nbdi_cmds_fail_all (e, ENOTCONN);
    return;
  }
  if (e->pub.phase == NBDI_PH_EXPORT_NAME_REPLY)
    nbdi_engine_die (e, ENOENT, "server closed the connection: it has no "
                     "export named \"%s\"", e->cfg->export_name);
  else
    nbdi_engine_die (e, nbdi_transmitting (e) ? ENOTCONN : ECONNRESET,
                     "server closed the connection unexpectedly");
}

unsigned
nbdi_engine_direction (const struct nbdi_engine *e)
{
  unsigned dir = 0;

  switch (nbdi_phase_io (e->pub.phase)) {
  case NBDI_IO_DIAL:
    return LIBNBD_AIO_DIRECTION_WRITE;
  case NBDI_IO_TLS:
    return LIBNBD_AIO_DIRECTION_READ;
  case NBDI_IO_READ:
    dir |= LIBNBD_AIO_DIRECTION_READ;
    break;
  case NBDI_IO_NONE:
    if (e->pub.phase != NBDI_PH_OPT_WAIT_USER)
      return 0;
    break;
  }
  if (nbdi_engine_tx_worth_sending (e))
    dir |= LIBNBD_AIO_DIRECTION_WRITE;
  return dir;
}
