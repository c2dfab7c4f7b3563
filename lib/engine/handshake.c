/* The handshake up to the option phase, and the dispatch of received
 * bytes by phase. */
#include "engine/internal.h"


static size_t
rx_avail (const struct nbdi_engine *e)
{
  return e->rx.end - e->rx.start;
}

static const uint8_t *
rx_take (struct nbdi_engine *e, size_t n)
{
  const uint8_t *p = e->rx.buf + e->rx.start;
  e->rx.start += n;
  if (e->rx.start == e->rx.end)
    e->rx.start = e->rx.end = 0;
  return p;
}

static void
export_known (struct nbdi_engine *e, const struct wire_export *x)
{
  e->info.known = true;
  e->info.size = x->size;
  e->info.eflags = x->eflags;
}

static void
enter_transmission (struct nbdi_engine *e)
{
  nbdi_enter (e, NBDI_PH_READY);
  if (e->cfg->debug)
    nbdi_log (e, "engine", "negotiated: size=%" PRIu64 " flags=0x%x "
                "structured=%d extended=%d", e->info.size,
                e->info.eflags, e->structured, e->extended);
}

static int
on_greeting (struct nbdi_engine *e)
{
  struct wire_greeting g;

  if (wire_decode_greeting (rx_take (e, WIRE_GREETING_SIZE), &g) < 0) {
    nbdi_engine_die (e, EPROTO, "handshake: server did not send the NBD magic: "
                     "not an NBD server?");
    return -1;
  }
  e->oldstyle = g.oldstyle;
  if (g.oldstyle) {
    /* Oldstyle has no STARTTLS: refuse before the first command. */
    if (e->cfg->tls == LIBNBD_TLS_REQUIRE) {
      nbdi_engine_die (e, ENOTSUP, "handshake: server is oldstyle, so it "
                       "cannot use STARTTLS, but TLS is required");
      return -1;
    }
    e->need = WIRE_OLDSTYLE_REST_SIZE;
    nbdi_enter (e, NBDI_PH_OLDSTYLE);
  }
  else {
    e->need = WIRE_HANDSHAKE_FLAGS_SIZE;
    nbdi_enter (e, NBDI_PH_HS_FLAGS);
  }
  return 0;
}

static int
on_oldstyle (struct nbdi_engine *e)
{
  struct wire_export x;

  wire_decode_oldstyle (rx_take (e, WIRE_OLDSTYLE_REST_SIZE), &x);
  export_known (e, &x);
  e->greeted = true;            /* oldstyle has no handshake flags */
  nbdi_option_export_known (e);
  enter_transmission (e);
  return 0;
}

static int
on_hs_flags (struct nbdi_engine *e)
{
  uint16_t flags = wire_get16 (rx_take (e, WIRE_HANDSHAKE_FLAGS_SIZE));
  uint32_t wanted = e->cfg->handshake_flags;

  e->hs_flags = flags;
  e->client_flags = flags & wanted & (NBD_FLAG_FIXED_NEWSTYLE | NBD_FLAG_NO_ZEROES);
  wire_put32 (e->client_flags_wire, e->client_flags);
  if (nbdi_tx_push (e, e->client_flags_wire, WIRE_CLIENT_FLAGS_SIZE) < 0) {
    nbdi_engine_die (e, ENOMEM, "out of memory");
    return -1;
  }
  /* Report what was agreed from now on. */
  e->greeted = true;
  return nbdi_option_next (e);
}

/* A reply before our request left in full is impossible for an honest
 * server, and the request's buffer is about to be reused: fatal. */
static bool
replied_too_soon (struct nbdi_engine *e, const char *request)
{
  if (!nbdi_engine_tx_pending (e))
    return false;
  nbdi_engine_die (e, EPROTO, "handshake: server replied before receiving "
                   "the whole %s", request);
  return true;
}

static int
on_export_name_reply (struct nbdi_engine *e)
{
  struct wire_export x;

  if (replied_too_soon (e, "export name"))
    return -1;
  wire_decode_export (rx_take (e, e->need), &x);
  export_known (e, &x);
  nbdi_option_export_known (e);
  /* The program's GO completion sees the handle ready, as after a GO. */
  enter_transmission (e);
  if (e->opt_active)
    nbdi_option_finish (e, 0);
  return 0;
}

static int
on_option_reply (struct nbdi_engine *e)
{
  struct wire_option_reply rep;
  const uint8_t *p = e->rx.buf + e->rx.start;

  if (replied_too_soon (e, "option request"))
    return -1;

  if (wire_decode_option_reply (p, &rep) < 0) {
    nbdi_engine_die (e, EPROTO, "handshake: bad option reply magic");
    return -1;
  }
  /* Option replies carry at most a few protocol strings; one that does
   * not fit the receive buffer is hostile. */
  if (rep.length > e->rx.cap - WIRE_OPTION_REPLY_SIZE) {
    nbdi_engine_die (e, EPROTO, "handshake: option reply too long (%" PRIu32
                     " bytes)", rep.length);
    return -1;
  }
  if (rx_avail (e) < WIRE_OPTION_REPLY_SIZE + rep.length) {
    e->need = WIRE_OPTION_REPLY_SIZE + rep.length;
    return 1;                   /* wait for the payload */
  }
  rx_take (e, WIRE_OPTION_REPLY_SIZE + rep.length);
  e->need = WIRE_OPTION_REPLY_SIZE;
  return nbdi_option_reply (e, &rep, p + WIRE_OPTION_REPLY_SIZE);
}

int
nbdi_engine_consume (struct nbdi_engine *e)
{

  for (;;) {
    enum nbdi_phase phase = e->pub.phase;
    int r;

    if (phase == NBDI_PH_READY || phase == NBDI_PH_PROCESSING)
      return nbdi_replies_consume (e);
    if (phase == NBDI_PH_DEAD)
      return -1;
    if (nbdi_phase_io (phase) != NBDI_IO_READ)
      return 0;
    if (rx_avail (e) < e->need)
      return 0;
    switch (phase) {
    case NBDI_PH_GREETING: r = on_greeting (e); break;
    case NBDI_PH_OLDSTYLE: r = on_oldstyle (e); break;
    case NBDI_PH_HS_FLAGS: r = on_hs_flags (e); break;
    case NBDI_PH_OPT_REPLY:
    case NBDI_PH_ABORT_WAIT: r = on_option_reply (e); break;
    case NBDI_PH_EXPORT_NAME_REPLY: r = on_export_name_reply (e); break;
    default: r = 0;
    }
    if (r < 0)
      return -1;
    if (r > 0 && rx_avail (e) < e->need)
      return 0;
  }
}
