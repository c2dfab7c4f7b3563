/* The in-process driver: the protocol engine itself against the fake
 * server, bytes handed across in memory.  No handle, no socket, no
 * process: what the server says goes into a transit buffer (the
 * socket's receive queue) from which the engine takes what its rx plan
 * asks for; what the engine's tx plan offers goes straight into
 * fz_srv_feed.  The iteration's settings, commands, options, closures
 * and end checks are the socketpair driver's; only what the API layer
 * does is done here instead: refusing commands and options outside
 * their states, building the block status filter payload, freeing the
 * closures of a refused call, and ending the connection after
 * NBD_OPT_ABORT. */
#include "fz-engine.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>

#include "engine/engine.h"
#include "wire/wire.h"

struct fz_engine {
  struct nbdi_engine_config cfg;
  struct nbdi_engine *e;
  struct fz_buf transit;     /* server bytes the engine has not taken */
  size_t transit_off;
  bool eof_given;
};

static struct nbdi_engine *
engine_of (struct fz_iter *it)
{
  return ((struct fz_engine *) it->driver)->e;
}

static enum nbdi_state
state_of (struct fz_iter *it)
{
  return nbdi_engine_state (engine_of (it));
}

static bool
gone (struct fz_iter *it)
{
  enum nbdi_state s = state_of (it);
  return s == NBDI_STATE_DEAD || s == NBDI_STATE_CLOSED;
}

static bool
transmitting (struct fz_iter *it)
{
  enum nbdi_state s = state_of (it);
  return s == NBDI_STATE_READY || s == NBDI_STATE_PROCESSING;
}

static void
configure (struct fz_engine *d, const struct fz_client *c)
{
  d->cfg = (struct nbdi_engine_config) {
    .export_name = (char *) c->export_name,
    .tls = LIBNBD_TLS_DISABLE,
    .request_structured_replies = c->req_sr,
    .request_extended_headers = c->req_ext,
    .request_meta_context = true,
    .request_block_size = c->req_bs,
    .full_info = c->full_info,
    .handshake_flags = c->hs_flags,
    .strict = c->strict_default ? LIBNBD_STRICT_MASK : c->strict,
    .opt_mode = c->opt_mode,
    .pread_initialize = c->pread_init,
  };
  if (c->meta)
    nbdi_strlist_append (&d->cfg.meta_requests, "base:allocation");
  if (c->meta2)
    nbdi_strlist_append (&d->cfg.meta_requests, "fuzz:second");
}

/* The server id of a negotiated context, or false. */
static bool
meta_id (struct nbdi_engine *e, const char *name, uint32_t *id)
{
  for (size_t i = 0; i < nbdi_engine_nr_metas (e); i++) {
    const char *n = nbdi_engine_meta_name (e, i, id);
    if (n && strcmp (n, name) == 0)
      return true;
  }
  return false;
}

/* What the API layer checks before it submits a command (strict mode,
 * lib/api/cmds.c): true if it would send this one. */
static bool
api_allows (struct fz_engine *d, const struct nbdi_command *nc)
{
  const struct nbdi_export_info *x = nbdi_engine_export (d->e);
  uint32_t strict = d->cfg.strict;
  uint16_t ef = x->eflags;
  uint16_t t = nc->type;
  bool writes = t == NBD_CMD_WRITE || t == NBD_CMD_TRIM || t == NBD_CMD_WRITE_ZEROES;
  uint64_t payload_max = x->block_max == 0 ? 32u << 20
    : x->block_max < (1u << 20) ? 1u << 20
    : x->block_max > (64u << 20) ? 64u << 20 : x->block_max;

  if (strict & LIBNBD_STRICT_COMMANDS) {
    if ((t == NBD_CMD_FLUSH && !(ef & NBD_FLAG_SEND_FLUSH))
        || (t == NBD_CMD_TRIM && !(ef & NBD_FLAG_SEND_TRIM))
        || (t == NBD_CMD_WRITE_ZEROES && !(ef & NBD_FLAG_SEND_WRITE_ZEROES))
        || (t == NBD_CMD_CACHE && !(ef & NBD_FLAG_SEND_CACHE))
        || (writes && (ef & NBD_FLAG_READ_ONLY))
        || ((nc->flags & LIBNBD_CMD_FLAG_FUA) && !(ef & NBD_FLAG_SEND_FUA))
        || ((nc->flags & LIBNBD_CMD_FLAG_DF) && !(ef & NBD_FLAG_SEND_DF))
        || (t == NBD_CMD_BLOCK_STATUS && nbdi_engine_nr_metas (d->e) == 0)
        || (nc->payload && !(ef & NBD_FLAG_BLOCK_STAT_PAYLOAD)))
      return false;
  }
  if ((strict & LIBNBD_STRICT_ZERO_SIZE) && nc->count == 0 && t != NBD_CMD_FLUSH)
    return false;
  if ((strict & LIBNBD_STRICT_BOUNDS) && t != NBD_CMD_FLUSH
      && (nc->offset > x->size || nc->count > x->size - nc->offset))
    return false;
  if ((strict & LIBNBD_STRICT_ALIGN) && x->block_min > 1 && t != NBD_CMD_FLUSH
      && (nc->offset % x->block_min || nc->count % x->block_min))
    return false;
  if (t == NBD_CMD_WRITE && (strict & LIBNBD_STRICT_PAYLOAD) && nc->count > payload_max)
    return false;
  if ((t == NBD_CMD_READ || t == NBD_CMD_WRITE) && nc->count > (64u << 20))
    return false;
  if (!nbdi_engine_extended (d->e) && nc->count > UINT32_MAX)
    return false;
  return true;
}

/* A call the API layer would refuse: its closures are freed at once. */
static void
refuse (struct fz_cmd *c)
{
  c->cookie = -1;
  fz_cb_free (&c->comp);
  if (c->has_data_cb)
    fz_cb_free (&c->data);
}

static void
issue_cmd (struct fz_iter *it, int i)
{
  struct fz_engine *d = it->driver;
  struct fz_cmd *c = &it->cmds[i];
  struct nbdi_command nc = {
    .offset = c->offset, .count = c->count, .flags = (uint16_t) c->flags,
    .completion = fz_completion_for (&c->comp, fz_cmd_completion),
  };

  fz_cmd_prepare (it, i);
  switch (c->type) {
  case C_PREAD:
    nc.type = NBD_CMD_READ;
    nc.rbuf = c->buf;
    break;
  case C_PREAD_SR:
    nc.type = NBD_CMD_READ;
    nc.rbuf = c->buf;
    c->has_data_cb = true;
    nc.chunk = (nbd_chunk_callback) { .callback = fz_chunk_cb, .user_data = &c->data,
                                      .free = fz_cb_free };
    break;
  case C_PWRITE:
    nc.type = NBD_CMD_WRITE;
    nc.wbuf = c->buf;
    break;
  case C_BS:
    nc.type = NBD_CMD_BLOCK_STATUS;
    c->has_data_cb = true;
    nc.extent = (nbd_extent_callback) { .callback = fz_extent_cb, .user_data = &c->data,
                                        .free = fz_cb_free };
    break;
  case C_BS64:
  case C_BSF:
    nc.type = NBD_CMD_BLOCK_STATUS;
    c->has_data_cb = true;
    nc.extent64 = (nbd_extent64_callback) { .callback = fz_extent64_cb,
                                            .user_data = &c->data, .free = fz_cb_free };
    break;
  case C_FLUSH: nc.type = NBD_CMD_FLUSH; break;
  case C_TRIM: nc.type = NBD_CMD_TRIM; break;
  case C_ZERO: nc.type = NBD_CMD_WRITE_ZEROES; break;
  case C_CACHE: nc.type = NBD_CMD_CACHE; break;
  case C_NTYPES: break;
  }
  /* The API layer's state check: commands only while transmitting, and
   * none once the disconnect is queued. */
  if (!transmitting (it) || nbdi_engine_disconnect_requested (d->e)) {
    refuse (c);
    return;
  }
  if (c->type == C_BSF) {
    /* The filter payload: the effect length, then the context ids. */
    uint32_t ids[2];
    int n = 0;
    if (!nbdi_engine_extended (d->e)
        || ((c->filter & 1) && !meta_id (d->e, "base:allocation", &ids[n++]))
        || ((c->filter & 2) && !meta_id (d->e, "fuzz:second", &ids[n++]))) {
      refuse (c);
      return;
    }
    nc.payload_len = 8 + 4 * n;
    nc.payload = fz_xrealloc (NULL, nc.payload_len);
    fz_put64 (nc.payload, c->count);
    for (int k = 0; k < n; k++)
      fz_put32 (nc.payload + 8 + 4 * k, ids[k]);
  }
  if (!api_allows (d, &nc)) {
    free (nc.payload);
    refuse (c);
    return;
  }
  c->cookie = nbdi_engine_submit (d->e, &nc);
  if (c->cookie <= 0) {
    free (nc.payload);
    refuse (c);
  }
  if (it->verbose)
    fprintf (stderr, "[eng] %s off=%" PRIu64 " count=%" PRIu64 " flags=%#x -> %" PRId64 "\n",
             fz_cmd_name[c->type], c->offset, c->count, c->flags, c->cookie);
}

static void
issue_opt (struct fz_iter *it, int i)
{
  struct fz_engine *d = it->driver;
  struct fz_opt *o = &it->opts[i];
  static const uint32_t codes[O_NTYPES] = {
    [O_LIST] = NBD_OPT_LIST, [O_LIST_META] = NBD_OPT_LIST_META_CONTEXT,
    [O_SET_META] = NBD_OPT_SET_META_CONTEXT, [O_INFO] = NBD_OPT_INFO,
    [O_SR] = NBD_OPT_STRUCTURED_REPLY, [O_EXT] = NBD_OPT_EXTENDED_HEADERS,
    [O_GO] = NBD_OPT_GO, [O_ABORT] = NBD_OPT_ABORT,
  };
  struct nbdi_option_request req = {
    .code = codes[o->type],
    .completion = fz_completion_for (&o->comp, fz_opt_completion),
  };

  o->comp = (struct fz_cb) { .it = it, .owner = i, .is_opt = true };
  o->data = (struct fz_cb) { .it = it, .owner = i, .is_opt = true };
  o->comp_err = -2;
  if (o->type == O_ABORT) {
    o->rc = nbdi_engine_option_abort (d->e) < 0 ? -1 : 0;
    o->comp.frees = 1;           /* no closures */
    if (o->rc == 0 && !gone (it)) {
      /* The driver sends the abort and hangs up without waiting. */
      const struct iovec *iov;
      size_t n = nbdi_engine_tx_plan (d->e, &iov), total = 0;
      for (size_t k = 0; k < n; k++) {
        fz_srv_feed (&it->srv, iov[k].iov_base, iov[k].iov_len);
        total += iov[k].iov_len;
      }
      nbdi_engine_tx_done (d->e, total);
      nbdi_engine_close (d->e);
    }
    return;
  }
  if (o->type == O_LIST) {
    o->has_data_cb = true;
    req.list = (nbd_list_callback) { .callback = fz_list_cb, .user_data = &o->data,
                                     .free = fz_cb_free };
  }
  else if (o->type == O_LIST_META || o->type == O_SET_META) {
    o->has_data_cb = true;
    req.context = (nbd_context_callback) { .callback = fz_context_cb,
                                           .user_data = &o->data, .free = fz_cb_free };
  }
  o->rc = nbdi_engine_option_start (d->e, &req) < 0 ? -1 : 0;
  if (it->verbose)
    fprintf (stderr, "[eng] %s -> %d\n", fz_opt_name[o->type], o->rc);
}

/* Read every accessor: under ASan this touches what the handshake stored. */
static void
poke_accessors (struct fz_iter *it)
{
  struct nbdi_engine *e = engine_of (it);
  const struct nbdi_export_info *x = nbdi_engine_export (e);
  struct nbdi_engine_stats st;
  struct nbdi_option_result res;

  if (it->unmutated && transmitting (it))
    ICHECK (it, x->known && x->size == it->srv.cfg.size, "export size %" PRIu64
            " (known %d), the server said %" PRIu64, x->size, x->known, it->srv.cfg.size);
  if (x->canonical_name)
    (void) strlen (x->canonical_name);
  if (x->description)
    (void) strlen (x->description);
  (void) strlen (nbdi_engine_protocol (e));
  (void) (nbdi_engine_structured (e) + nbdi_engine_extended (e)
          + nbdi_engine_handshake_flags (e) + nbdi_engine_in_flight (e)
          + nbdi_engine_meta_valid (e));
  for (size_t i = 0; i < nbdi_engine_nr_metas (e); i++) {
    uint32_t id;
    const char *n = nbdi_engine_meta_name (e, i, &id);
    if (n)
      (void) strlen (n);
  }
  nbdi_engine_stats (e, &st);
  nbdi_engine_option_result (e, &res);
  if (res.server_msg)
    (void) strlen (res.server_msg);
  if (state_of (it) == NBDI_STATE_DEAD)
    (void) strlen (nbdi_engine_dead_message (e));
}

/* Retire the commands whose completion left them for the program. */
static void
retire_manual (struct fz_iter *it, const char *when)
{
  for (int i = 0; i < it->ncmds; i++) {
    struct fz_cmd *c = &it->cmds[i];
    if (c->attempted && c->cookie > 0 && c->manual_retire && c->comp.calls == 1
        && !c->retired) {
      struct nbdi_completed out = { 0 };
      int r = nbdi_engine_take_completed (engine_of (it), (uint64_t) c->cookie, &out);
      c->retired = true;
      ICHECK (it, r == 1 && out.error == c->comp_err,
              "take_completed(%s) %s = %d, error %d; the completion said %d",
              fz_cmd_name[c->type], when, r, out.error, c->comp_err);
      free (out.server_msg);
    }
  }
}

enum phase { T_CONNECT, T_OPT, T_ISSUE, T_WAIT, T_FINISH, T_DISC, T_END };

static enum phase
actions (struct fz_iter *it, enum phase t, bool *progress)
{
  struct nbdi_engine *e = engine_of (it);
  enum nbdi_state s = state_of (it);

  switch (t) {
  case T_CONNECT:
  case T_OPT:
    if (gone (it))
      return T_END;
    if (transmitting (it)) {
      *progress = true;
      return T_ISSUE;
    }
    if (s != NBDI_STATE_NEGOTIATING)
      return t;
    if (t == T_CONNECT) {
      *progress = true;
      return T_OPT;
    }
    if (it->curopt > 0)
      poke_accessors (it);
    if (it->curopt >= it->nopts)
      return T_END;
    issue_opt (it, it->curopt++);
    *progress = true;
    return t;
  case T_ISSUE:
    it->reached_ready = true;
    poke_accessors (it);
    for (int i = 0; i < it->ncmds; i++)
      if (it->cmds[i].wave == 0)
        issue_cmd (it, i);
    *progress = true;
    if (it->cl.early_disc && transmitting (it) && nbdi_engine_disconnect (e) == 0)
      return T_DISC;
    return T_WAIT;
  case T_WAIT:
    if (gone (it))
      return T_END;
    if (!fz_all_done (it))
      return t;
    *progress = true;
    return T_FINISH;
  case T_FINISH: {
    retire_manual (it, "when done");
    *progress = true;
    bool more = false;
    for (int i = 0; i < it->ncmds; i++)
      if (it->cmds[i].wave == 1 && !it->cmds[i].attempted) {
        issue_cmd (it, i);
        more = true;
      }
    if (more)
      return T_WAIT;
    if (it->cl.final_disc && transmitting (it) && !nbdi_engine_disconnect_requested (e)
        && nbdi_engine_disconnect (e) == 0)
      return T_DISC;
    return T_END;
  }
  case T_DISC:
    return gone (it) ? T_END : t;
  case T_END:
    break;
  }
  return T_END;
}

/* Copy from src (n bytes) to where the engine's rx plan asks, as long
 * as it asks; returns how many bytes it took. */
static size_t
give_engine (struct nbdi_engine *e, const uint8_t *src, size_t n)
{
  size_t taken = 0;

  while (taken < n) {
    struct iovec iov[4];
    int k = nbdi_engine_rx_plan (e, iov, 4, NULL);
    size_t done = 0;
    if (k <= 0)
      break;
    for (int i = 0; i < k && taken + done < n; i++) {
      size_t len = iov[i].iov_len < n - taken - done ? iov[i].iov_len : n - taken - done;
      memcpy (iov[i].iov_base, src + taken + done, len);
      done += len;
    }
    if (done == 0)
      break;
    taken += done;
    if (nbdi_engine_rx_done (e, done) == -1)
      break;
  }
  return taken;
}

/* Server to engine: the server's next piece joins what is in transit
 * (the socket's receive queue), and the engine takes what its rx plan
 * asks for.  When nothing waits before it the piece is read straight
 * from the server's output (which stays put until the server is fed
 * again), and only what the engine leaves is copied into transit.
 * Returns whether bytes moved. */
static bool
server_to_engine (struct fz_iter *it)
{
  struct fz_engine *d = it->driver;
  struct fz_srv *s = &it->srv;
  const uint8_t *p = NULL;
  size_t piece = fz_srv_next_out (s, &p);
  bool moved = false;

  if (piece) {
    fz_srv_sent (s, piece);
    moved = true;
  }
  if (d->transit.len > d->transit_off) {
    fz_buf_add (&d->transit, p, piece);
    size_t taken = give_engine (d->e, d->transit.p + d->transit_off,
                                d->transit.len - d->transit_off);
    d->transit_off += taken;
    moved |= taken > 0;
  }
  else if (piece) {
    size_t taken = give_engine (d->e, p, piece);
    fz_buf_add (&d->transit, p + taken, piece - taken);
  }
  if (d->transit_off == d->transit.len)
    d->transit.len = d->transit_off = 0;
  /* The server hung up and everything it sent was read: end of file. */
  if (s->closed && d->transit.len == 0 && !d->eof_given && !gone (it)
      && nbdi_engine_rx_plan (d->e, (struct iovec[1]) { { 0 } }, 1, NULL) > 0) {
    d->eof_given = true;
    nbdi_engine_rx_eof (d->e);
    moved = true;
  }
  return moved;
}

/* Engine to server: everything queued, as one write. */
static bool
engine_to_server (struct fz_iter *it)
{
  struct fz_engine *d = it->driver;
  const struct iovec *iov;
  size_t n, total = 0;

  /* Like the library's driver, ask for the plan only when something is
   * queued. */
  if (!nbdi_engine_tx_pending (d->e) || gone (it))
    return false;
  n = nbdi_engine_tx_plan (d->e, &iov);
  if (it->srv.closed) {
    /* Writing to a peer that hung up. */
    nbdi_engine_die (d->e, EPIPE, "fuzz: the server hung up");
    return true;
  }
  for (size_t k = 0; k < n; k++) {
    fz_srv_feed (&it->srv, iov[k].iov_base, iov[k].iov_len);
    total += iov[k].iov_len;
  }
  nbdi_engine_tx_done (d->e, total);
  return total > 0;
}

static void
handle_events (struct fz_iter *it)
{
  struct fz_engine *d = it->driver;
  unsigned ev = nbdi_engine_events (d->e);

  /* The fake server has no TLS: a handshake over its bytes would fail. */
  if ((ev & NBDI_EV_TLS) && !gone (it))
    nbdi_engine_die (d->e, EIO, "fuzz: no TLS here");
}

static void
drive (struct fz_iter *it)
{
  struct fz_srv *s = &it->srv;
  int64_t deadline = fz_now_ms () + it->time_limit_ms;
  enum phase t = T_CONNECT;
  int idle_after_close = 0;

  for (;;) {
    bool progress = false;

    t = actions (it, t, &progress);
    if (t == T_END)
      break;
    it->steps++;
    if ((it->steps & 63) == 0 && fz_now_ms () > deadline) {
      it->hung = true;
      ICHECK (it, false, "no end after %d ms (state %s)", it->time_limit_ms,
              nbdi_state_name (state_of (it)));
      break;
    }
    if (engine_to_server (it))
      progress = true;
    if (server_to_engine (it))
      progress = true;
    handle_events (it);
    if (progress) {
      idle_after_close = 0;
      continue;
    }
    if (!s->closed) {
      if (!gone (it) && fz_srv_partial_request (s) > 0)
        ICHECK (it, false, "stall: the client stopped sending in the middle of a "
                "request (%zu bytes of it received; state %s)", fz_srv_partial_request (s),
                nbdi_state_name (state_of (it)));
      fz_srv_hang_up (s);
      continue;
    }
    if (++idle_after_close > 3) {
      it->hung = true;
      ICHECK (it, false, "engine stuck after the server hung up (state %s, in flight %zu)",
              nbdi_state_name (state_of (it)), nbdi_engine_in_flight (engine_of (it)));
      break;
    }
  }
  it->ended_dead = state_of (it) == NBDI_STATE_DEAD;
  it->ended_closed = state_of (it) == NBDI_STATE_CLOSED;
  const char *name = nbdi_state_name (state_of (it));
  size_t n = strnlen (name, sizeof it->end_state - 1);
  memcpy (it->end_state, name, n);
  it->end_state[n] = '\0';
}

static void
check_before_close (struct fz_iter *it)
{
  poke_accessors (it);
  retire_manual (it, "at the end");
  fz_check_completions (it);
}

void
fz_engine_run (struct fz_iter *it)
{
  struct fz_engine d = { 0 };

  fz_set_current (it->label);
  it->srv.rng = &it->rng;
  it->driver = &d;
  it->issue_cmd = issue_cmd;
  configure (&d, &it->cl);
  d.e = nbdi_engine_new (&d.cfg);
  if (d.e == NULL) {
    perror ("nbdi_engine_new");
    exit (99);
  }
  fz_srv_start (&it->srv);
  nbdi_engine_dial (d.e);
  if (nbdi_engine_start (d.e) != 0)
    ICHECK (it, false, "nbdi_engine_start failed");
  else
    drive (it);
  check_before_close (it);
  /* What nbd_close does: the closures still held get their .free. */
  nbdi_engine_release_callbacks (d.e);
  nbdi_engine_free (d.e);
  it->issue_cmd = NULL;
  it->driver = NULL;
  fz_check_after_close (it);
  if (it->unmutated && !it->hung)
    fz_check_unmutated (it);
  fz_check_expectation (it);
  fz_srv_free (&it->srv);
  fz_buf_free (&d.transit);
  nbdi_strlist_free (&d.cfg.meta_requests);
  for (int i = 0; i < it->ncmds; i++)
    it->cmds[i].buf = NULL;
}
