/* Option negotiation: the automatic sequence, user options in option
 * mode, and the handling of every option reply. */
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/internal.h"
#include "engine/legacy.h"

int
nbdi_rep_errno (uint32_t type)
{
  switch (type) {
  case NBD_REP_ERR_UNSUP: return ENOTSUP;
  case NBD_REP_ERR_POLICY: return EPERM;
  case NBD_REP_ERR_INVALID: return EINVAL;
  case NBD_REP_ERR_PLATFORM: return EOPNOTSUPP;
  case NBD_REP_ERR_TLS_REQD: return ENOTSUP;
  case NBD_REP_ERR_UNKNOWN: return ENOENT;
  case NBD_REP_ERR_SHUTDOWN: return ESHUTDOWN;
  case NBD_REP_ERR_BLOCK_SIZE_REQD: return EINVAL;
  case NBD_REP_ERR_TOO_BIG: return ERANGE;
  case NBD_REP_ERR_EXT_HEADER_REQD: return ENOTSUP;
  default: return EINVAL;
  }
}

static int option_done (struct nbd_handle *h, int err);

/* With TLS required, nothing but STARTTLS (or the goodbye) may leave in
 * plaintext: every path to an export passes through send_option, so
 * this one check keeps export names and everything after them off the
 * wire whatever the path (GO, INFO, EXPORT_NAME fallback, option mode). */
static bool
plaintext_forbidden (struct nbd_handle *h, uint32_t code)
{
  if (h->cfg.tls != LIBNBD_TLS_REQUIRE || h->conn.tls
      || code == NBD_OPT_STARTTLS || code == NBD_OPT_ABORT)
    return false;
  nbdi_engine_die (h, ENOTSUP, "handshake: TLS is required, but it was not "
                   "negotiated before %s", wire_option_name (code));
  return true;
}

/* Queue one option request: header and payload in a fresh store. */
static int
send_option (struct nbd_handle *h, uint32_t code, const void *payload, size_t len)
{
  struct nbdi_conn *c = &h->conn;
  uint8_t *store;

  if (plaintext_forbidden (h, code))
    return -1;
  store = malloc (WIRE_OPTION_SIZE + len);
  if (store == NULL) {
    nbdi_engine_die (h, ENOMEM, "out of memory");
    return -1;
  }
  wire_encode_option (store, code, len);
  if (len)
    memcpy (store + WIRE_OPTION_SIZE, payload, len);
  /* The previous store has been sent: options go one at a time and we
   * waited for the reply of the last one. */
  free (c->tx_store);
  c->tx_store = store;
  if (nbdi_tx_push (c, store, WIRE_OPTION_SIZE + len) == -1) {
    nbdi_engine_die (h, ENOMEM, "out of memory");
    return -1;
  }
  c->chunks_sent++;
  if (h->cfg.debug)
    nbdi_debug (h, "engine", "sending %s", wire_option_name (code));
  c->phase = PH_OPT_REPLY;
  c->need = WIRE_OPTION_REPLY_SIZE;
  return 0;
}

static int
send_export_name (struct nbd_handle *h)
{
  struct nbdi_conn *c = &h->conn;
  const char *name = h->cfg.export_name;

  c->opt.code = NBD_OPT_EXPORT_NAME;
  if (send_option (h, NBD_OPT_EXPORT_NAME, name, strlen (name)) == -1)
    return -1;
  c->phase = PH_EXPORT_NAME_REPLY;
  c->need = (c->client_flags & NBD_FLAG_NO_ZEROES)
    ? WIRE_EXPORT_NAME_REPLY_SHORT : WIRE_EXPORT_NAME_REPLY_SIZE;
  return 0;
}

static void
forget_export (struct nbdi_conn *c)
{
  free (c->info.canonical_name);
  free (c->info.description);
  c->info = (struct nbdi_export_info) { .known = false };
}

static void
clear_metas (struct nbdi_conn *c)
{
  for (size_t i = 0; i < c->nr_metas; i++)
    free (c->metas[i].name);
  c->nr_metas = 0;
  c->meta_valid = false;
}

void
nbdi_option_forget_export (struct nbd_handle *h)
{
  forget_export (&h->conn);
  clear_metas (&h->conn);
}

/* The server agreed to STARTTLS: it forgets everything negotiated in
 * plaintext (the protocol requires it, so that a man in the middle
 * cannot have planted anything), and so do we. */
static void
forget_before_tls (struct nbdi_conn *c)
{
  c->structured = false;
  c->extended = false;
  forget_export (c);
  clear_metas (c);
}

static int
send_go (struct nbd_handle *h, uint32_t code)
{
  uint16_t infos[3];
  uint16_t n = 0;
  const char *name = h->cfg.export_name;
  size_t len;
  uint8_t *payload;
  int r;

  if (h->cfg.request_block_size)
    infos[n++] = NBD_INFO_BLOCK_SIZE;
  if (h->cfg.full_info) {
    infos[n++] = NBD_INFO_NAME;
    infos[n++] = NBD_INFO_DESCRIPTION;
  }
  /* What we knew described the previous request's export. */
  forget_export (&h->conn);
  len = wire_encode_go (NULL, 0, name, infos, n);
  payload = malloc (len);
  if (payload == NULL) {
    nbdi_engine_die (h, ENOMEM, "out of memory");
    return -1;
  }
  wire_encode_go (payload, len, name, infos, n);
  h->conn.opt.code = code;
  r = send_option (h, code, payload, len);
  free (payload);
  return r;
}

static int
send_meta_context (struct nbd_handle *h, uint32_t code,
                   const struct nbdi_strlist *queries)
{
  size_t len;
  uint8_t *payload;
  int r;

  len = wire_encode_meta_context (NULL, 0, h->cfg.export_name,
                                  (const char *const *) queries->items, queries->len);
  payload = malloc (len);
  if (payload == NULL) {
    nbdi_engine_die (h, ENOMEM, "out of memory");
    return -1;
  }
  wire_encode_meta_context (payload, len, h->cfg.export_name,
                            (const char *const *) queries->items, queries->len);
  if (code == NBD_OPT_SET_META_CONTEXT)
    clear_metas (&h->conn);
  h->conn.opt.code = code;
  r = send_option (h, code, payload, len);
  free (payload);
  return r;
}

/* Whether GO/INFO should first set the requested meta contexts. */
static bool
wants_meta_before_go (struct nbd_handle *h)
{
  const struct nbdi_conn *c = &h->conn;
  return h->cfg.request_meta_context && h->cfg.meta_requests.len > 0
    && (c->structured || c->extended);
}

void
nbdi_option_export_known (struct nbd_handle *h)
{
  /* When there was nothing to ask for (no contexts, or no structured
   * replies to carry them), the empty answer is the right one: the
   * meta context list is as valid as if the server had sent it. */
  if (h->cfg.request_meta_context && !wants_meta_before_go (h))
    h->conn.meta_valid = true;
}

/* Start NBD_OPT_GO or NBD_OPT_INFO, preceded by SET_META_CONTEXT when
 * meta contexts were requested. */
static int
start_go (struct nbd_handle *h, uint32_t code)
{
  struct nbdi_conn *c = &h->conn;

  if (!(c->client_flags & NBD_FLAG_FIXED_NEWSTYLE)) {
    if (code == NBD_OPT_INFO) {
      nbdi_option_finish (h, ENOTSUP);
      return 0;
    }
    return send_export_name (h);
  }
  if (wants_meta_before_go (h)) {
    c->opt.go_after = true;
    c->opt.go_code = code;
    return send_meta_context (h, NBD_OPT_SET_META_CONTEXT, &h->cfg.meta_requests);
  }
  return send_go (h, code);
}

static void
pause_for_user (struct nbd_handle *h)
{
  h->conn.phase = PH_OPT_WAIT_USER;
  nbdi_set_state (h, NBDI_STATE_NEGOTIATING);
}

/* Start a fresh automatic option, dropping what the last one left. */
static void
replace_option (struct nbdi_conn *c, uint32_t code)
{
  free (c->opt.server_msg);
  c->opt = (struct nbdi_option) { .code = code };
}

int
nbdi_option_next (struct nbd_handle *h)
{
  struct nbdi_conn *c = &h->conn;
  bool fixed = c->client_flags & NBD_FLAG_FIXED_NEWSTYLE;

  if (h->cfg.tls != LIBNBD_TLS_DISABLE && !c->tls && !c->tls_tried) {
    if (!fixed) {
      if (h->cfg.tls == LIBNBD_TLS_REQUIRE) {
        nbdi_engine_die (h, ENOTSUP, "handshake: server is not fixed newstyle, "
                         "so it cannot use STARTTLS, but TLS is required");
        return -1;
      }
    }
    else {
      c->tls_tried = true;
      replace_option (c, NBD_OPT_STARTTLS);
      return send_option (h, NBD_OPT_STARTTLS, NULL, 0);
    }
  }
  if (fixed && h->cfg.request_structured_replies
      && h->cfg.request_extended_headers && !c->eh_tried) {
    c->eh_tried = true;
    replace_option (c, NBD_OPT_EXTENDED_HEADERS);
    return send_option (h, NBD_OPT_EXTENDED_HEADERS, NULL, 0);
  }
  if (fixed && h->cfg.request_structured_replies && !c->extended && !c->sr_tried) {
    c->sr_tried = true;
    replace_option (c, NBD_OPT_STRUCTURED_REPLY);
    return send_option (h, NBD_OPT_STRUCTURED_REPLY, NULL, 0);
  }
  if (h->cfg.opt_mode) {
    pause_for_user (h);
    return 0;
  }
  replace_option (c, NBD_OPT_GO);
  return start_go (h, NBD_OPT_GO);
}

int
nbdi_option_start (struct nbd_handle *h, const struct nbdi_option *opt)
{
  struct nbdi_conn *c = &h->conn;
  bool fixed = c->client_flags & NBD_FLAG_FIXED_NEWSTYLE;

  replace_option (c, 0);
  c->opt = *opt;
  c->opt.user = true;
  c->opt_active = true;
  nbdi_set_state (h, NBDI_STATE_OPT_PENDING);
  if (!fixed && opt->code != NBD_OPT_GO) {
    /* Without fixed newstyle the server would drop the connection on
     * any option but EXPORT_NAME. */
    nbdi_option_finish (h, ENOTSUP);
    return 0;
  }
  switch (opt->code) {
  case NBD_OPT_GO:
  case NBD_OPT_INFO:
    return start_go (h, opt->code);
  case NBD_OPT_LIST_META_CONTEXT:
  case NBD_OPT_SET_META_CONTEXT:
    return send_meta_context (h, opt->code,
                              opt->queries ? opt->queries : &h->cfg.meta_requests);
  default:
    return send_option (h, opt->code, NULL, 0);
  }
}

int
nbdi_option_abort (struct nbd_handle *h)
{
  struct nbdi_conn *c = &h->conn;

  /* Such a server would take any option but EXPORT_NAME as an error:
   * there is no clean way out, only hanging up (libnbd too). */
  if (!(c->client_flags & NBD_FLAG_FIXED_NEWSTYLE)) {
    nbdi_engine_die (h, ENOTSUP, "the server is not fixed newstyle, so "
                     "negotiation cannot be aborted: hung up instead");
    return 0;
  }
  replace_option (c, NBD_OPT_ABORT);
  if (send_option (h, NBD_OPT_ABORT, NULL, 0) == -1)
    return -1;
  c->phase = PH_ABORT_WAIT;
  return 0;
}

int
nbdi_option_tls_done (struct nbd_handle *h)
{
  struct nbdi_conn *c = &h->conn;

  c->tls = true;
  c->phase = PH_OPT_REPLY;      /* so option_done continues negotiating */
  if (h->cfg.debug)
    nbdi_debug (h, "engine", "TLS handshake complete");
  return option_done (h, 0);
}

static void
free_option (struct nbdi_option *opt)
{
  if (opt->list.free)
    opt->list.free (opt->list.user_data);
  if (opt->context.free)
    opt->context.free (opt->context.user_data);
  if (opt->completion.free)
    opt->completion.free (opt->completion.user_data);
  if (opt->queries) {
    nbdi_strlist_free (opt->queries);
    free (opt->queries);
  }
  free (opt->server_msg);
  *opt = (struct nbdi_option) { .code = 0 };
}

void
nbdi_option_finish (struct nbd_handle *h, int err)
{
  struct nbdi_conn *c = &h->conn;
  struct nbdi_option opt = c->opt;
  int error = err;

  c->opt = (struct nbdi_option) { .code = 0 };
  if (!c->opt_active) {
    free_option (&opt);
    return;
  }
  c->opt_active = false;
  c->opt_result = err;
  c->opt_count = opt.count;
  free (c->opt_msg);
  c->opt_msg = opt.server_msg;
  opt.server_msg = NULL;
  /* Back to the program unless the option ended negotiation. */
  if (c->phase != PH_TRANSMISSION && c->phase != PH_NONE
      && c->phase != PH_ABORT_WAIT && nbdi_get_state (h) != NBDI_STATE_DEAD)
    pause_for_user (h);
  if (opt.completion.callback)
    opt.completion.callback (opt.completion.user_data, &error);
  free_option (&opt);
}

/* An error reply from the server. */
static void
record_server_error (struct nbd_handle *h, const struct wire_option_reply *rep,
                     const uint8_t *payload)
{
  struct nbdi_conn *c = &h->conn;
  char *msg = NULL;

  if (asprintf (&msg, "server replied to %s with %s%s%.*s",
                wire_option_name (rep->option), wire_reply_name (rep->type),
                rep->length ? ": " : "", (int) rep->length,
                (const char *) payload) == -1)
    msg = NULL;
  free (c->opt.server_msg);
  c->opt.server_msg = msg;
  if (h->cfg.debug)
    nbdi_debug (h, "engine", "%s", msg ? msg : "server error");
}

/* The option is over: report it, then carry on negotiating. */
static int
option_done (struct nbd_handle *h, int err)
{
  struct nbdi_conn *c = &h->conn;
  bool user = c->opt.user;

  if (c->opt.go_after) {
    /* SET_META_CONTEXT on behalf of GO/INFO: whatever the answer, the
     * export request follows (without contexts if they failed). */
    uint32_t code = c->opt.go_code;
    c->opt.go_after = false;
    return send_go (h, code);
  }
  if (user) {
    nbdi_option_finish (h, err);
    return 0;
  }
  free (c->opt.server_msg);
  c->opt.server_msg = NULL;
  if (c->phase == PH_TRANSMISSION)
    return 0;
  return nbdi_option_next (h);
}

static char *
strndup_or_die (struct nbd_handle *h, const char *s, size_t len)
{
  char *copy = strndup (s, len);
  if (copy == NULL)
    nbdi_engine_die (h, ENOMEM, "out of memory");
  return copy;
}

static bool
power_of_2 (uint32_t v)
{
  return v != 0 && (v & (v - 1)) == 0;
}

/* The protocol's rules: minimum a power of 2 up to 64 KiB; preferred a
 * power of 2, at least the minimum and 512; maximum at least the
 * preferred, and a multiple of the minimum unless it is "no limit". */
static bool
block_sizes_valid (uint32_t min, uint32_t pref, uint32_t max)
{
  return power_of_2 (min) && min <= 65536
         && power_of_2 (pref) && pref >= min && pref >= 512
         && max >= pref && (max == UINT32_MAX || max % min == 0);
}

static int
on_info (struct nbd_handle *h, const uint8_t *payload, uint32_t length)
{
  struct nbdi_export_info *info = &h->conn.info;
  struct wire_rep_info ri;

  if (wire_decode_rep_info (payload, length, &ri) < 0) {
    nbdi_engine_die (h, EPROTO, "handshake: malformed NBD_REP_INFO");
    return -1;
  }
  switch (ri.type) {
  case NBD_INFO_EXPORT:
    info->known = true;
    info->size = ri.export.size;
    info->eflags = ri.export.eflags;
    break;
  case NBD_INFO_NAME:
    free (info->canonical_name);
    info->canonical_name = strndup_or_die (h, ri.str, ri.str_len);
    if (!info->canonical_name)
      return -1;
    break;
  case NBD_INFO_DESCRIPTION:
    free (info->description);
    info->description = strndup_or_die (h, ri.str, ri.str_len);
    if (!info->description)
      return -1;
    break;
  case NBD_INFO_BLOCK_SIZE:
    /* nbd_get_block_size promises powers of 2 within the protocol's
     * bounds: a server breaking them advertised nothing usable. */
    if (!block_sizes_valid (ri.min_block, ri.pref_block, ri.max_block)) {
      if (h->cfg.debug)
        nbdi_debug (h, "engine", "ignoring invalid NBD_INFO_BLOCK_SIZE %" PRIu32
                    "/%" PRIu32 "/%" PRIu32, ri.min_block, ri.pref_block,
                    ri.max_block);
      break;
    }
    info->block_min = ri.min_block;
    info->block_pref = ri.pref_block;
    info->block_max = ri.max_block;
    break;
  default:
    break;                      /* unknown info: ignored, as the spec says */
  }
  return 0;
}

static int
on_server (struct nbd_handle *h, const uint8_t *payload, uint32_t length)
{
  struct nbdi_option *opt = &h->conn.opt;
  struct wire_rep_server rs;
  char *name, *desc;

  if (wire_decode_rep_server (payload, length, &rs) < 0) {
    nbdi_engine_die (h, EPROTO, "handshake: malformed NBD_REP_SERVER");
    return -1;
  }
  opt->count++;
  if (!opt->list.callback)
    return 0;
  name = strndup_or_die (h, rs.name, rs.name_len);
  desc = strndup_or_die (h, rs.desc, rs.desc_len);
  if (name && desc)
    opt->list.callback (opt->list.user_data, name, desc);
  free (name);
  free (desc);
  return name && desc ? 0 : -1;
}

static int
on_meta_context (struct nbd_handle *h, const uint8_t *payload, uint32_t length)
{
  struct nbdi_conn *c = &h->conn;
  struct nbdi_option *opt = &c->opt;
  struct wire_rep_meta_context rm;
  char *name;

  if (wire_decode_rep_meta_context (payload, length, &rm) < 0) {
    nbdi_engine_die (h, EPROTO, "handshake: malformed NBD_REP_META_CONTEXT");
    return -1;
  }
  name = strndup_or_die (h, rm.name, rm.name_len);
  if (name == NULL)
    return -1;
  opt->count++;
  if (opt->code == NBD_OPT_SET_META_CONTEXT) {
    struct nbdi_meta *m = realloc (c->metas, (c->nr_metas + 1) * sizeof *m);
    if (m == NULL) {
      free (name);
      nbdi_engine_die (h, ENOMEM, "out of memory");
      return -1;
    }
    c->metas = m;
    c->metas[c->nr_metas].id = rm.id;
    c->metas[c->nr_metas].name = strdup (name);
    if (c->metas[c->nr_metas].name)
      c->nr_metas++;
  }
  if (opt->context.callback)
    opt->context.callback (opt->context.user_data, name);
  free (name);
  return 0;
}

static int
unexpected (struct nbd_handle *h, const struct wire_option_reply *rep)
{
  nbdi_engine_die (h, EPROTO, "handshake: unexpected %s in reply to %s",
                   wire_reply_name (rep->type), wire_option_name (rep->option));
  return -1;
}

int
nbdi_option_reply (struct nbd_handle *h, const struct wire_option_reply *rep,
                   const uint8_t *payload)
{
  struct nbdi_conn *c = &h->conn;
  struct nbdi_option *opt = &c->opt;
  bool is_err = rep->type & NBD_REP_ERR_BIT;

  c->chunks_received++;
  if (rep->option != opt->code)
    return unexpected (h, rep);
  if (is_err)
    record_server_error (h, rep, payload);

  switch (opt->code) {
  case NBD_OPT_ABORT:
    c->phase = PH_NONE;
    nbdi_set_state (h, NBDI_STATE_CLOSED);
    return 0;

  case NBD_OPT_EXTENDED_HEADERS:
  case NBD_OPT_STRUCTURED_REPLY:
    if (rep->type == NBD_REP_ACK) {
      if (opt->code == NBD_OPT_EXTENDED_HEADERS)
        c->extended = true;
      c->structured = true;
      return option_done (h, 0);
    }
    if (is_err)
      return option_done (h, nbdi_rep_errno (rep->type));
    return unexpected (h, rep);

  case NBD_OPT_STARTTLS:
    if (rep->type == NBD_REP_ACK && c->tls) {
      nbdi_engine_die (h, EPROTO, "handshake: server accepted STARTTLS a second "
                       "time, inside TLS");
      return -1;
    }
    if (rep->type == NBD_REP_ACK) {
      /* Nothing may follow the ACK in plaintext: the server waits for
       * our ClientHello.  Bytes already here would be an attack. */
      if (c->rx.end != c->rx.start) {
        nbdi_engine_die (h, EPROTO, "handshake: data after the STARTTLS reply");
        return -1;
      }
      forget_before_tls (c);
      c->phase = PH_TLS_HANDSHAKE;
      return 0;
    }
    if (is_err) {
      /* ENOTSUP whatever the server's reason, as libnbd reports it. */
      if (!opt->user && h->cfg.tls == LIBNBD_TLS_REQUIRE) {
        nbdi_engine_die (h, ENOTSUP, "handshake: %s, but TLS is required",
                         opt->server_msg ? opt->server_msg : "server refused TLS");
        return -1;
      }
      /* nbd_opt_starttls's completion hears what libnbd's does: the
       * request was invalid, or else TLS is simply not on offer. */
      return option_done (h, rep->type == NBD_REP_ERR_INVALID ? EINVAL : ENOTSUP);
    }
    return unexpected (h, rep);

  case NBD_OPT_LIST:
    if (rep->type == NBD_REP_SERVER)
      return on_server (h, payload, rep->length);
    if (rep->type == NBD_REP_ACK)
      return option_done (h, 0);
    if (is_err)
      return option_done (h, nbdi_rep_errno (rep->type));
    return unexpected (h, rep);

  case NBD_OPT_LIST_META_CONTEXT:
  case NBD_OPT_SET_META_CONTEXT:
    if (rep->type == NBD_REP_META_CONTEXT)
      return on_meta_context (h, payload, rep->length);
    if (rep->type == NBD_REP_ACK) {
      if (opt->code == NBD_OPT_SET_META_CONTEXT)
        c->meta_valid = true;
      return option_done (h, 0);
    }
    if (is_err)
      return option_done (h, nbdi_rep_errno (rep->type));
    return unexpected (h, rep);

  case NBD_OPT_GO:
  case NBD_OPT_INFO:
    if (rep->type == NBD_REP_INFO)
      return on_info (h, payload, rep->length);
    if (rep->type == NBD_REP_ACK) {
      if (!c->info.known) {
        nbdi_engine_die (h, EPROTO, "handshake: server finished %s without "
                         "sending the export size", wire_option_name (opt->code));
        return -1;
      }
      nbdi_option_export_known (h);
      if (opt->code == NBD_OPT_GO) {
        c->phase = PH_TRANSMISSION;
        nbdi_set_state (h, NBDI_STATE_READY);
        if (!c->meta_valid)
          clear_metas (c);
        if (opt->user)
          nbdi_option_finish (h, 0);
        return 0;
      }
      return option_done (h, 0);
    }
    if (is_err) {
      /* Old servers know only NBD_OPT_EXPORT_NAME. */
      if (opt->code == NBD_OPT_GO && rep->type == NBD_REP_ERR_UNSUP)
        return send_export_name (h);
      if (!opt->user) {
        nbdi_engine_die (h, nbdi_rep_errno (rep->type), "%s",
                         opt->server_msg ? opt->server_msg : "server refused the export");
        return -1;
      }
      /* A refused export leaves nothing known about it. */
      forget_export (c);
      clear_metas (c);
      return option_done (h, nbdi_rep_errno (rep->type));
    }
    return unexpected (h, rep);

  default:
    return unexpected (h, rep);
  }
}
