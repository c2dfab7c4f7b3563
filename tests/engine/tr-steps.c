/* The config and call lines of a transcript. */
#include "tr-run.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>

#include "wire/wire.h"

/* ---- config ---- */

static bool
bool_value (const char *v)
{
  return strcmp (v, "1") == 0 || strcmp (v, "true") == 0 || strcmp (v, "yes") == 0;
}

void
default_config (struct nbdi_engine_config *cfg)
{
  /* libnbd's defaults. */
  *cfg = (struct nbdi_engine_config) {
    .export_name = strdup (""),
    .tls = LIBNBD_TLS_DISABLE,
    .request_structured_replies = true,
    .request_extended_headers = true,
    .request_meta_context = true,
    .request_block_size = true,
    .handshake_flags = LIBNBD_HANDSHAKE_FLAG_FIXED_NEWSTYLE
                       | LIBNBD_HANDSHAKE_FLAG_NO_ZEROES,
    .strict = LIBNBD_STRICT_MASK,
    .pread_initialize = true,
  };
}

void
config_line (struct run *r, const struct tr_line *l)
{
  struct nbdi_engine_config *c = &r->cfg;

  for (size_t i = 0; i < l->nwords; i++) {
    char *w = l->words[i];
    char *eq = strchr (w, '=');
    if (eq == NULL) {
      fail (r, l->lineno, "config word '%s' has no '='", w);
      continue;
    }
    size_t klen = eq - w;
    const char *v = unquote (eq + 1);
    uint64_t n = 0;
#define KEY(s) (klen == strlen (s) && strncmp (w, s, klen) == 0)
    if (KEY ("export")) {
      free (c->export_name);
      c->export_name = strdup (v);
    }
    else if (KEY ("tls"))
      c->tls = strcmp (v, "require") == 0 ? LIBNBD_TLS_REQUIRE
        : strcmp (v, "allow") == 0 ? LIBNBD_TLS_ALLOW : LIBNBD_TLS_DISABLE;
    else if (KEY ("sr"))
      c->request_structured_replies = bool_value (v);
    else if (KEY ("ext"))
      c->request_extended_headers = bool_value (v);
    else if (KEY ("meta"))
      nbdi_strlist_append (&c->meta_requests, v);
    else if (KEY ("request_meta"))
      c->request_meta_context = bool_value (v);
    else if (KEY ("block_size"))
      c->request_block_size = bool_value (v);
    else if (KEY ("full_info"))
      c->full_info = bool_value (v);
    else if (KEY ("opt_mode"))
      c->opt_mode = bool_value (v);
    else if (KEY ("pread_init"))
      c->pread_initialize = bool_value (v);
    else if (KEY ("flags") && parse_u64 (v, &n))
      c->handshake_flags = (uint32_t) n;
    else if (KEY ("strict") && parse_u64 (v, &n))
      c->strict = (uint32_t) n;
    else
      fail (r, l->lineno, "bad config word '%s'", w);
#undef KEY
  }
}

static void
log_hook (void *opaque, const char *context, const char *msg)
{
  (void) opaque;
  if (verbose)
    fprintf (stderr, "    libnbd: %s: %s\n", context, msg);
}

bool
ensure_started (struct run *r, int lineno)
{
  if (r->e)
    return true;
  r->cfg.debug = verbose;
  r->cfg.log = log_hook;
  r->e = nbdi_engine_new (&r->cfg);
  if (r->e == NULL) {
    fail (r, lineno, "nbdi_engine_new failed");
    return false;
  }
  nbdi_engine_dial (r->e);
  if (nbdi_engine_start (r->e) != 0) {
    fail (r, lineno, "nbdi_engine_start failed");
    return false;
  }
  return true;
}

/* ---- calls ---- */

static bool
word_u64 (struct run *r, const struct tr_line *l, size_t i, uint64_t *v, uint64_t dflt)
{
  if (i >= l->nwords) {
    *v = dflt;
    return true;
  }
  if (!parse_u64 (l->words[i], v)) {
    fail (r, l->lineno, "'%s' is not a number", l->words[i]);
    return false;
  }
  return true;
}

static void
start_option (struct run *r, const struct tr_line *l, uint32_t code)
{
  struct nbdi_option_request req = { .code = code };

  r->opt_comp = (struct closure) { .run = r };
  r->opt_list = (struct closure) { .run = r };
  r->opt_ctx = (struct closure) { .run = r };
  r->opt_started = true;
  r->opt_calls = 0;
  r->opt_err = -2;
  req.completion = (nbd_completion_callback) {
    .callback = opt_completion, .user_data = &r->opt_comp, .free = closure_free };
  if (code == NBD_OPT_LIST)
    req.list = (nbd_list_callback) {
      .callback = list_cb, .user_data = &r->opt_list, .free = closure_free };
  if (code == NBD_OPT_LIST_META_CONTEXT || code == NBD_OPT_SET_META_CONTEXT) {
    req.context = (nbd_context_callback) {
      .callback = context_cb, .user_data = &r->opt_ctx, .free = closure_free };
    if (l->nwords > 1) {
      req.queries = calloc (1, sizeof *req.queries);
      for (size_t i = 1; i < l->nwords; i++)
        nbdi_strlist_append (req.queries, unquote (l->words[i]));
    }
  }
  int rc = nbdi_engine_option_start (r->e, &req);
  text_add (&r->log, "option %s -> %d\n", l->words[0], rc);
}

void
check_closures_freed (struct run *r)
{
  for (int k = 1; k <= r->ncmds; k++) {
    struct cmd *c = &r->cmds[k];
    if (c->cookie <= 0)
      continue;
    if (c->comp.frees != 1)
      fail (r, 0, "command %d: completion freed %d times", k, c->comp.frees);
    if (c->has_data && c->data.frees != 1)
      fail (r, 0, "command %d: chunk/extent closure freed %d times", k, c->data.frees);
  }
  if (r->opt_started && r->opt_comp.frees != 1)
    fail (r, 0, "option completion freed %d times", r->opt_comp.frees);
}

/* What the API layer would allow now (for mutated transcripts, whose
 * calls may come in any state). */
static bool
call_allowed (struct run *r, const char *name)
{
  enum nbdi_state s = nbdi_engine_state (r->e);

  if (strncmp (name, "opt_", 4) == 0)
    return s == NBDI_STATE_NEGOTIATING;
  if (strcmp (name, "tls_done") == 0)
    return (nbdi_engine_events (r->e) & NBDI_EV_TLS) && s != NBDI_STATE_DEAD
      && s != NBDI_STATE_CLOSED;
  if (strcmp (name, "abandon") == 0)
    return true;
  return (s == NBDI_STATE_READY || s == NBDI_STATE_PROCESSING)
    && !nbdi_engine_disconnect_requested (r->e);
}

void
call_line (struct run *r, const struct tr_line *l)
{
  const char *name = l->nwords ? l->words[0] : "";
  static const struct { const char *name; uint32_t code; } opts[] = {
    { "opt_go", NBD_OPT_GO }, { "opt_info", NBD_OPT_INFO }, { "opt_list", NBD_OPT_LIST },
    { "opt_sr", NBD_OPT_STRUCTURED_REPLY }, { "opt_ext", NBD_OPT_EXTENDED_HEADERS },
    { "opt_starttls", NBD_OPT_STARTTLS },
    { "opt_list_meta", NBD_OPT_LIST_META_CONTEXT },
    { "opt_set_meta", NBD_OPT_SET_META_CONTEXT },
  };
  static const struct { const char *name; uint16_t type; int shape; } cmds[] = {
    /* shape: 0 count offset flags; 1 flags only; 2 write */
    { "pread", NBD_CMD_READ, 0 }, { "pread_sr", NBD_CMD_READ, 0 },
    { "pwrite", NBD_CMD_WRITE, 2 }, { "flush", NBD_CMD_FLUSH, 1 },
    { "trim", NBD_CMD_TRIM, 0 }, { "zero", NBD_CMD_WRITE_ZEROES, 0 },
    { "cache", NBD_CMD_CACHE, 0 }, { "block_status", NBD_CMD_BLOCK_STATUS, 0 },
    { "block_status64", NBD_CMD_BLOCK_STATUS, 0 },
  };

  if (!ensure_started (r, l->lineno))
    return;
  if (r->mutated && !call_allowed (r, name)) {
    text_add (&r->log, "call %s skipped\n", name);
    return;
  }
  for (size_t i = 0; i < sizeof opts / sizeof opts[0]; i++)
    if (strcmp (name, opts[i].name) == 0) {
      start_option (r, l, opts[i].code);
      return;
    }
  if (strcmp (name, "opt_abort") == 0) {
    text_add (&r->log, "option abort -> %d\n", nbdi_engine_option_abort (r->e));
    return;
  }
  if (strcmp (name, "tls_done") == 0) {
    /* The bytes the engine left belong to the TLS handshake, which the
     * driver runs: they are not the engine's to see. */
    text_add (&r->log, "tls handshake took %zu bytes\n", r->avail_len);
    r->avail_len = 0;
    text_add (&r->log, "tls_done -> %d\n", nbdi_engine_tls_done (r->e));
    return;
  }
  if (strcmp (name, "disc") == 0) {
    text_add (&r->log, "disconnect -> %d\n", nbdi_engine_disconnect (r->e));
    return;
  }
  if (strcmp (name, "abandon") == 0) {
    nbdi_engine_abandon_unsent (r->e);
    return;
  }
  for (size_t i = 0; i < sizeof cmds / sizeof cmds[0]; i++) {
    if (strcmp (name, cmds[i].name) != 0)
      continue;
    if (r->ncmds == MAX_CMDS) {
      fail (r, l->lineno, "too many commands");
      return;
    }
    int k = ++r->ncmds;
    struct cmd *c = &r->cmds[k];
    struct nbdi_command nc = { .type = cmds[i].type };
    uint64_t flags = 0;
    *c = (struct cmd) { .used = true, .err = -2 };
    c->comp = (struct closure) { .run = r, .owner = k };
    c->data = (struct closure) { .run = r, .owner = k };
    if (cmds[i].shape == 0) {
      if (!word_u64 (r, l, 1, &c->count, 0) || !word_u64 (r, l, 2, &c->offset, 0)
          || !word_u64 (r, l, 3, &flags, 0))
        return;
    }
    else if (cmds[i].shape == 1) {
      if (!word_u64 (r, l, 1, &flags, 0))
        return;
    }
    else {
      size_t len;
      if (!word_u64 (r, l, 1, &c->offset, 0) || !word_u64 (r, l, 2, &flags, 0))
        return;
      if (tr_parse_bytes (l->words + 3, l->nwords > 3 ? l->nwords - 3 : 0,
                          &c->buf, &len) == -1) {
        fail (r, l->lineno, "bad write data");
        return;
      }
      c->count = len;
      nc.wbuf = c->buf;
    }
    nc.offset = c->offset;
    nc.count = c->count;
    nc.flags = (uint16_t) flags;
    if (nc.type == NBD_CMD_READ) {
      c->buf = malloc (c->count ? c->count : 1);
      memset (c->buf, 0xa5, c->count);
      nc.rbuf = c->buf;
    }
    nc.completion = (nbd_completion_callback) {
      .callback = cmd_completion, .user_data = &c->comp, .free = closure_free };
    if (strcmp (name, "pread_sr") == 0) {
      c->has_data = true;
      nc.chunk = (nbd_chunk_callback) {
        .callback = chunk_cb, .user_data = &c->data, .free = closure_free };
    }
    else if (strcmp (name, "block_status") == 0) {
      c->has_data = true;
      nc.extent = (nbd_extent_callback) {
        .callback = extent_cb, .user_data = &c->data, .free = closure_free };
    }
    else if (strcmp (name, "block_status64") == 0) {
      c->has_data = true;
      nc.extent64 = (nbd_extent64_callback) {
        .callback = extent64_cb, .user_data = &c->data, .free = closure_free };
    }
    c->cookie = nbdi_engine_submit (r->e, &nc);
    text_add (&r->log, "cmd %d %s -> cookie %" PRId64 "\n", k, name, c->cookie);
    if (c->cookie <= 0)
      fail (r, l->lineno, "submitting %s failed: %" PRId64, name, c->cookie);
    return;
  }
  fail (r, l->lineno, "unknown call '%s'", name);
}

