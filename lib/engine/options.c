/* Option negotiation: the automatic sequence, user options in option
 * mode, and the handling of every option reply. */
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/internal.h"

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

static int option_done (struct nbdi_engine *e, int err);

/* With TLS required, nothing but STARTTLS (or the goodbye) may leave in
 * plaintext: every path to an export passes through send_option, so
 * this one check keeps export names and everything after them off the
 * wire whatever the path (GO, INFO, EXPORT_NAME fallback, option mode). */
static bool
plaintext_forbidden (struct nbdi_engine *e, uint32_t code)
{
  if (e->cfg->tls != LIBNBD_TLS_REQUIRE || e->tls
      || code == NBD_OPT_STARTTLS || code == NBD_OPT_ABORT)
    return false;
  nbdi_engine_die (e, ENOTSUP, "handshake: TLS is required, but it was not "
                   "negotiated before %s", wire_option_name (code));
  return true;
}

/* Queue one option request (header and payload in a fresh store) and
 * wait for its answer in phase next. */
static int
send_option (struct nbdi_engine *e, uint32_t code, const void *payload, size_t len,
             enum nbdi_phase next)
{
  uint8_t *store;

  if (plaintext_forbidden (e, code))
    return -1;
  store = malloc (WIRE_OPTION_SIZE + len);
  if (store == NULL) {
    nbdi_engine_die (e, ENOMEM, "out of memory");
    return -1;
  }
  wire_encode_option (store, code, len);
  if (len)
    memcpy (store + WIRE_OPTION_SIZE, payload, len);
  /* The previous store has been sent: options go one at a time and we
   * waited for the reply of the last one. */
  free (e->tx_store);
  e->tx_store = store;
  if (nbdi_tx_push (e, store, WIRE_OPTION_SIZE + len) < 0) {
    nbdi_engine_die (e, ENOMEM, "out of memory");
    return -1;
  }
  e->stats.chunks_sent++;
  if (e->cfg->debug)
    nbdi_log (e, "engine", "sending %s", wire_option_name (code));
  e->need = WIRE_OPTION_REPLY_SIZE;
  nbdi_enter (e, next);
  return 0;
}

static int
send_export_name (struct nbdi_engine *e)
{
  const char *name = e->cfg->export_name;

  e->opt.code = NBD_OPT_EXPORT_NAME;
  if (send_option (e, NBD_OPT_EXPORT_NAME, name, strlen (name),
                   NBDI_PH_EXPORT_NAME_REPLY) == -1)
    return -1;
  e->need = (e->client_flags & NBD_FLAG_NO_ZEROES)
    ? WIRE_EXPORT_NAME_REPLY_SHORT : WIRE_EXPORT_NAME_REPLY_SIZE;
  return 0;
}

static void
forget_export (struct nbdi_engine *e)
{
  nbdi_free_export (e);
}

static void
clear_metas (struct nbdi_engine *e)
{
  for (size_t i = 0; i < e->nr_metas; i++)
    free (e->metas[i].name);
  e->nr_metas = 0;
  e->meta_valid = false;
}

void
nbdi_engine_forget_export (struct nbdi_engine *e)
{
  forget_export (e);
  clear_metas (e);
}

/* The server agreed to STARTTLS: it forgets everything negotiated in
 * plaintext (the protocol requires it, so that a man in the middle
 * cannot have planted anything), and so do we. */
static void
forget_before_tls (struct nbdi_engine *e)
{
  e->structured = false;
  e->extended = false;
  forget_export (e);
  clear_metas (e);
}

static int
send_go (struct nbdi_engine *e, uint32_t code)
{
  uint16_t infos[3];
  uint16_t n = 0;
  const char *name = e->cfg->export_name;
  size_t len;
  uint8_t *payload;
  int r;

  if (e->cfg->request_block_size)
    infos[n++] = NBD_INFO_BLOCK_SIZE;
  if (e->cfg->full_info) {
    infos[n++] = NBD_INFO_NAME;
    infos[n++] = NBD_INFO_DESCRIPTION;
  }
  /* What we knew described the previous request's export. */
  forget_export (e);
  len = wire_encode_go (NULL, 0, name, infos, n);
  payload = malloc (len);
  if (payload == NULL) {
    nbdi_engine_die (e, ENOMEM, "out of memory");
    return -1;
  }
  wire_encode_go (payload, len, name, infos, n);
  e->opt.code = code;
  r = send_option (e, code, payload, len, NBDI_PH_OPT_REPLY);
  free (payload);
  return r;
}

static int
send_meta_context (struct nbdi_engine *e, uint32_t code,
                   const struct nbdi_strlist *queries)
{
  size_t len;
  uint8_t *payload;
  int r;

  len = wire_encode_meta_context (NULL, 0, e->cfg->export_name,
                                  (const char *const *) queries->items, queries->len);
  payload = malloc (len);
  if (payload == NULL) {
    nbdi_engine_die (e, ENOMEM, "out of memory");
    return -1;
  }
  wire_encode_meta_context (payload, len, e->cfg->export_name,
                            (const char *const *) queries->items, queries->len);
  if (code == NBD_OPT_SET_META_CONTEXT)
    clear_metas (e);
  e->opt.code = code;
  r = send_option (e, code, payload, len, NBDI_PH_OPT_REPLY);
  free (payload);
  return r;
}

/* Whether GO/INFO should first set the requested meta contexts. */
static bool
wants_meta_before_go (struct nbdi_engine *e)
{
  return e->cfg->request_meta_context && e->cfg->meta_requests.len > 0
    && (e->structured || e->extended);
}

void
nbdi_option_export_known (struct nbdi_engine *e)
{
  /* When there was nothing to ask for (no contexts, or no structured
   * replies to carry them), the empty answer is the right one: the
   * meta context list is as valid as if the server had sent it. */
  if (e->cfg->request_meta_context && !wants_meta_before_go (e))
    e->meta_valid = true;
}

/* Start NBD_OPT_GO or NBD_OPT_INFO, preceded by SET_META_CONTEXT when
 * meta contexts were requested. */
static int
start_go (struct nbdi_engine *e, uint32_t code)
{

  if (!(e->client_flags & NBD_FLAG_FIXED_NEWSTYLE)) {
    if (code == NBD_OPT_INFO) {
      nbdi_option_finish (e, ENOTSUP);
      return 0;
    }
    return send_export_name (e);
  }
  if (wants_meta_before_go (e)) {
    e->opt.go_after = true;
    e->opt.go_code = code;
    return send_meta_context (e, NBD_OPT_SET_META_CONTEXT, &e->cfg->meta_requests);
  }
  return send_go (e, code);
}

static void
pause_for_user (struct nbdi_engine *e)
{
  nbdi_enter (e, NBDI_PH_OPT_WAIT_USER);
}

/* Start a fresh automatic option, dropping what the last one left. */
static void
replace_option (struct nbdi_engine *e, uint32_t code)
{
  free (e->opt.server_msg);
  e->opt = (struct nbdi_option) { .code = code };
}

int
nbdi_option_next (struct nbdi_engine *e)
{
  bool fixed = e->client_flags & NBD_FLAG_FIXED_NEWSTYLE;

  if (e->cfg->tls != LIBNBD_TLS_DISABLE && !e->tls && !e->tls_tried) {
    if (!fixed) {
      if (e->cfg->tls == LIBNBD_TLS_REQUIRE) {
        nbdi_engine_die (e, ENOTSUP, "handshake: server is not fixed newstyle, "
                         "so it cannot use STARTTLS, but TLS is required");
        return -1;
      }
    }
    else {
      e->tls_tried = true;
      replace_option (e, NBD_OPT_STARTTLS);
      return send_option (e, NBD_OPT_STARTTLS, NULL, 0, NBDI_PH_OPT_REPLY);
    }
  }
  if (fixed && e->cfg->request_structured_replies
      && e->cfg->request_extended_headers && !e->eh_tried) {
    e->eh_tried = true;
    replace_option (e, NBD_OPT_EXTENDED_HEADERS);
    return send_option (e, NBD_OPT_EXTENDED_HEADERS, NULL, 0, NBDI_PH_OPT_REPLY);
  }
  if (fixed && e->cfg->request_structured_replies && !e->extended && !e->sr_tried) {
    e->sr_tried = true;
    replace_option (e, NBD_OPT_STRUCTURED_REPLY);
    return send_option (e, NBD_OPT_STRUCTURED_REPLY, NULL, 0, NBDI_PH_OPT_REPLY);
  }
  if (e->cfg->opt_mode) {
    pause_for_user (e);
    return 0;
  }
  replace_option (e, NBD_OPT_GO);
  return start_go (e, NBD_OPT_GO);
}

static int
option_start (struct nbdi_engine *e, const struct nbdi_option_request *req)
{
  bool fixed = e->client_flags & NBD_FLAG_FIXED_NEWSTYLE;
  const struct nbdi_option *opt = &e->opt;

  replace_option (e, 0);
  e->opt = (struct nbdi_option) {
    .code = req->code, .user = true, .list = req->list, .context = req->context,
    .completion = req->completion, .queries = req->queries,
  };
  e->opt_active = true;
  if (!fixed && opt->code != NBD_OPT_GO) {
    /* Without fixed newstyle the server would drop the connection on
     * any option but EXPORT_NAME. */
    nbdi_option_finish (e, ENOTSUP);
    return 0;
  }
  switch (opt->code) {
  case NBD_OPT_GO:
  case NBD_OPT_INFO:
    return start_go (e, opt->code);
  case NBD_OPT_LIST_META_CONTEXT:
  case NBD_OPT_SET_META_CONTEXT:
    return send_meta_context (e, opt->code,
                              opt->queries ? opt->queries : &e->cfg->meta_requests);
  default:
    return send_option (e, opt->code, NULL, 0, NBDI_PH_OPT_REPLY);
  }
}

int
nbdi_engine_option_start (struct nbdi_engine *e, const struct nbdi_option_request *req)
{
  if (option_start (e, req) == -1)
    return e->pub.phase == NBDI_PH_DEAD ? -nbdi_engine_dead_errno (e) : -ENOMEM;
  return 0;
}

int
nbdi_engine_option_abort (struct nbdi_engine *e)
{
  /* Such a server would take any option but EXPORT_NAME as an error:
   * there is no clean way out, only hanging up (libnbd too). */
  if (!(e->client_flags & NBD_FLAG_FIXED_NEWSTYLE)) {
    nbdi_engine_die (e, ENOTSUP, "the server is not fixed newstyle, so "
                     "negotiation cannot be aborted: hung up instead");
    return 0;
  }
  replace_option (e, NBD_OPT_ABORT);
  if (send_option (e, NBD_OPT_ABORT, NULL, 0, NBDI_PH_ABORT_WAIT) == -1)
    return -nbdi_engine_dead_errno (e);
  return 0;
}

int
nbdi_engine_tls_done (struct nbdi_engine *e)
{
  e->tls = true;
  if (e->cfg->debug)
    nbdi_log (e, "engine", "TLS handshake complete");
  /* Back to the option phase, so that option_done goes on negotiating. */
  nbdi_enter (e, NBDI_PH_OPT_REPLY);
  return option_done (e, 0) == -1 ? -1 : 0;
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
nbdi_option_finish (struct nbdi_engine *e, int err)
{
  struct nbdi_option opt = e->opt;
  int error = err;

  e->opt = (struct nbdi_option) { .code = 0 };
  if (!e->opt_active) {
    free_option (&opt);
    return;
  }
  e->opt_active = false;
  e->opt_result = err;
  e->opt_count = opt.count;
  free (e->opt_msg);
  e->opt_msg = opt.server_msg;
  opt.server_msg = NULL;
  /* Back to the program unless the option ended negotiation. */
  if (!nbdi_transmitting (e) && e->pub.phase != NBDI_PH_CLOSED
      && e->pub.phase != NBDI_PH_ABORT_WAIT && e->pub.phase != NBDI_PH_DEAD)
    pause_for_user (e);
  if (opt.completion.callback)
    opt.completion.callback (opt.completion.user_data, &error);
  free_option (&opt);
}

/* An error reply from the server. */
static void
record_server_error (struct nbdi_engine *e, const struct wire_option_reply *rep,
                     const uint8_t *payload)
{
  char *msg = NULL;

  if (asprintf (&msg, "server replied to %s with %s%s%.*s",
                wire_option_name (rep->option), wire_reply_name (rep->type),
                rep->length ? ": " : "", (int) rep->length,
                (const char *) payload) == -1)
    msg = NULL;
  free (e->opt.server_msg);
  e->opt.server_msg = msg;
  if (e->cfg->debug)
    nbdi_log (e, "engine", "%s", msg ? msg : "server error");
}

/* The option is over: report it, then carry on negotiating. */
static int
option_done (struct nbdi_engine *e, int err)
{
  bool user = e->opt.user;

  if (e->opt.go_after) {
    /* SET_META_CONTEXT on behalf of GO/INFO: whatever the answer, the
     * export request follows (without contexts if they failed). */
    uint32_t code = e->opt.go_code;
    e->opt.go_after = false;
    return send_go (e, code);
  }
  if (user) {
    nbdi_option_finish (e, err);
    return 0;
  }
  free (e->opt.server_msg);
  e->opt.server_msg = NULL;
  if (nbdi_transmitting (e))
    return 0;
  return nbdi_option_next (e);
}

static char *
strndup_or_die (struct nbdi_engine *e, const char *s, size_t len)
{
  char *copy = strndup (s, len);
  if (copy == NULL)
    nbdi_engine_die (e, ENOMEM, "out of memory");
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
on_info (struct nbdi_engine *e, const uint8_t *payload, uint32_t length)
{
  struct nbdi_export_info *info = &e->info;
  struct wire_rep_info ri;

  if (wire_decode_rep_info (payload, length, &ri) < 0) {
    nbdi_engine_die (e, EPROTO, "handshake: malformed NBD_REP_INFO");
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
    info->canonical_name = strndup_or_die (e, ri.str, ri.str_len);
    if (!info->canonical_name)
      return -1;
    break;
  case NBD_INFO_DESCRIPTION:
    free (info->description);
    info->description = strndup_or_die (e, ri.str, ri.str_len);
    if (!info->description)
      return -1;
    break;
  case NBD_INFO_BLOCK_SIZE:
    /* nbd_get_block_size promises powers of 2 within the protocol's
     * bounds: a server breaking them advertised nothing usable. */
    if (!block_sizes_valid (ri.min_block, ri.pref_block, ri.max_block)) {
      if (e->cfg->debug)
        nbdi_log (e, "engine", "ignoring invalid NBD_INFO_BLOCK_SIZE %" PRIu32
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
on_server (struct nbdi_engine *e, const uint8_t *payload, uint32_t length)
{
  struct nbdi_option *opt = &e->opt;
  struct wire_rep_server rs;
  char *name, *desc;

  if (wire_decode_rep_server (payload, length, &rs) < 0) {
    nbdi_engine_die (e, EPROTO, "handshake: malformed NBD_REP_SERVER");
    return -1;
  }
  opt->count++;
  if (!opt->list.callback)
    return 0;
  name = strndup_or_die (e, rs.name, rs.name_len);
  desc = strndup_or_die (e, rs.desc, rs.desc_len);
  if (name && desc)
    opt->list.callback (opt->list.user_data, name, desc);
  free (name);
  free (desc);
  return name && desc ? 0 : -1;
}

static int
on_meta_context (struct nbdi_engine *e, const uint8_t *payload, uint32_t length)
{
  struct nbdi_option *opt = &e->opt;
  struct wire_rep_meta_context rm;
  char *name;

  if (wire_decode_rep_meta_context (payload, length, &rm) < 0) {
    nbdi_engine_die (e, EPROTO, "handshake: malformed NBD_REP_META_CONTEXT");
    return -1;
  }
  name = strndup_or_die (e, rm.name, rm.name_len);
  if (name == NULL)
    return -1;
  opt->count++;
  if (opt->code == NBD_OPT_SET_META_CONTEXT) {
    struct nbdi_meta *m = realloc (e->metas, (e->nr_metas + 1) * sizeof *m);
    if (m == NULL) {
      free (name);
      nbdi_engine_die (e, ENOMEM, "out of memory");
      return -1;
    }
    e->metas = m;
    e->metas[e->nr_metas].id = rm.id;
    e->metas[e->nr_metas].name = strdup (name);
    if (e->metas[e->nr_metas].name)
      e->nr_metas++;
  }
  if (opt->context.callback)
    opt->context.callback (opt->context.user_data, name);
  free (name);
  return 0;
}

static int
unexpected (struct nbdi_engine *e, const struct wire_option_reply *rep)
{
  nbdi_engine_die (e, EPROTO, "handshake: unexpected %s in reply to %s",
                   wire_reply_name (rep->type), wire_option_name (rep->option));
  return -1;
}

int
nbdi_option_reply (struct nbdi_engine *e, const struct wire_option_reply *rep,
                   const uint8_t *payload)
{
  struct nbdi_option *opt = &e->opt;
  bool is_err = rep->type & NBD_REP_ERR_BIT;

  e->stats.chunks_received++;
  if (rep->option != opt->code)
    return unexpected (e, rep);
  /* Whatever the server says to NBD_OPT_ABORT, the connection ends. */
  if (opt->code == NBD_OPT_ABORT) {
    nbdi_enter (e, NBDI_PH_CLOSED);
    return 0;
  }
  /* The protocol gives NBD_REP_ACK no payload: a server sending one is
   * broken, and libnbd ends the handshake there. */
  if (rep->type == NBD_REP_ACK && rep->length != 0) {
    nbdi_engine_die (e, EPROTO, "handshake: invalid NBD_REP_ACK option reply "
                     "length %" PRIu32 " in reply to %s", rep->length,
                     wire_option_name (opt->code));
    return -1;
  }
  if (is_err)
    record_server_error (e, rep, payload);

  switch (opt->code) {

  case NBD_OPT_EXTENDED_HEADERS:
  case NBD_OPT_STRUCTURED_REPLY:
    if (rep->type == NBD_REP_ACK) {
      if (opt->code == NBD_OPT_EXTENDED_HEADERS)
        e->extended = true;
      e->structured = true;
      return option_done (e, 0);
    }
    if (is_err)
      return option_done (e, nbdi_rep_errno (rep->type));
    return unexpected (e, rep);

  case NBD_OPT_STARTTLS:
    if (rep->type == NBD_REP_ACK && e->tls) {
      nbdi_engine_die (e, EPROTO, "handshake: server accepted STARTTLS a second "
                       "time, inside TLS");
      return -1;
    }
    if (rep->type == NBD_REP_ACK) {
      /* The receive plan stopped at the end of this reply, so the
       * bytes after it are still in the socket for TLS; none can be
       * here unless a driver received past its plan. */
      if (e->rx.end != e->rx.start) {
        nbdi_engine_die (e, EPROTO, "handshake: data after the STARTTLS reply");
        return -1;
      }
      forget_before_tls (e);
      nbdi_enter (e, NBDI_PH_TLS_HANDSHAKE);
      return 0;
    }
    if (is_err) {
      /* ENOTSUP whatever the server's reason, as libnbd reports it. */
      if (!opt->user && e->cfg->tls == LIBNBD_TLS_REQUIRE) {
        nbdi_engine_die (e, ENOTSUP, "handshake: %s, but TLS is required",
                         opt->server_msg ? opt->server_msg : "server refused TLS");
        return -1;
      }
      /* nbd_opt_starttls's completion hears what libnbd's does: the
       * request was invalid, or else TLS is simply not on offer. */
      return option_done (e, rep->type == NBD_REP_ERR_INVALID ? EINVAL : ENOTSUP);
    }
    return unexpected (e, rep);

  case NBD_OPT_LIST:
    if (rep->type == NBD_REP_SERVER)
      return on_server (e, payload, rep->length);
    if (rep->type == NBD_REP_ACK)
      return option_done (e, 0);
    if (is_err)
      return option_done (e, nbdi_rep_errno (rep->type));
    return unexpected (e, rep);

  case NBD_OPT_LIST_META_CONTEXT:
  case NBD_OPT_SET_META_CONTEXT:
    if (rep->type == NBD_REP_META_CONTEXT)
      return on_meta_context (e, payload, rep->length);
    if (rep->type == NBD_REP_ACK) {
      if (opt->code == NBD_OPT_SET_META_CONTEXT)
        e->meta_valid = true;
      return option_done (e, 0);
    }
    if (is_err)
      return option_done (e, nbdi_rep_errno (rep->type));
    return unexpected (e, rep);

  case NBD_OPT_GO:
  case NBD_OPT_INFO:
    if (rep->type == NBD_REP_INFO)
      return on_info (e, payload, rep->length);
    if (rep->type == NBD_REP_ACK) {
      /* Without NBD_INFO_EXPORT the size and flags stay unknown: as with
       * libnbd the option still succeeds, and the calls that need them
       * (nbd_get_size, nbd_is_read_only, ...) fail with EINVAL. */
      if (!e->info.known && e->cfg->debug)
        nbdi_log (e, "engine", "server finished %s without NBD_INFO_EXPORT: "
                  "the export's size and flags are unknown",
                  wire_option_name (opt->code));
      nbdi_option_export_known (e);
      if (opt->code == NBD_OPT_GO) {
        nbdi_enter (e, NBDI_PH_READY);
        if (!e->meta_valid)
          clear_metas (e);
        if (opt->user)
          nbdi_option_finish (e, 0);
        return 0;
      }
      return option_done (e, 0);
    }
    if (is_err) {
      /* Old servers know only NBD_OPT_EXPORT_NAME. */
      if (opt->code == NBD_OPT_GO && rep->type == NBD_REP_ERR_UNSUP)
        return send_export_name (e);
      if (!opt->user) {
        nbdi_engine_die (e, nbdi_rep_errno (rep->type), "%s",
                         opt->server_msg ? opt->server_msg : "server refused the export");
        return -1;
      }
      /* A refused export leaves nothing known about it. */
      forget_export (e);
      clear_metas (e);
      return option_done (e, nbdi_rep_errno (rep->type));
    }
    return unexpected (e, rep);

  default:
    return unexpected (e, rep);
  }
}

void
nbdi_engine_option_result (const struct nbdi_engine *e, struct nbdi_option_result *res)
{
  *res = (struct nbdi_option_result) {
    .err = e->opt_result, .count = e->opt_count, .server_msg = e->opt_msg,
  };
}
