/* run-transcript: drive the protocol engine through byte transcripts
 * (tests/engine/transcripts/NAME.t, format in transcript.h), with no
 * socket, no process and no handle: the engine library alone.
 *
 * Every transcript runs three times, delivering the server's bytes
 *   lines  one rx line per delivery, received through up to 4 iovecs;
 *   bytes  one byte per nbdi_engine_rx_done, through 1 iovec, and the
 *          client's output taken back one byte per nbdi_engine_tx_done;
 *   whole  each run of consecutive rx lines as one delivery, 8 iovecs;
 * and each run must pass every tx and expect line.  The three runs must
 * then agree: the same bytes sent, the same closures called with the
 * same arguments in the same order, the same final state.
 *
 *   run-transcript [-v] [--mutate N [--seed S] [--mutate-only K]]
 *                  FILE-OR-DIRECTORY...
 *
 * Calls (call NAME ARGS):
 *   opt_go opt_info opt_list opt_sr opt_ext opt_starttls opt_abort
 *   opt_list_meta [QUERY...]  opt_set_meta [QUERY...]
 *   pread COUNT OFFSET [FLAGS]        no chunk callback
 *   pread_sr COUNT OFFSET [FLAGS]     with a chunk callback
 *   pwrite OFFSET FLAGS BYTES...
 *   flush [FLAGS]  trim|zero|cache COUNT OFFSET [FLAGS]
 *   block_status COUNT OFFSET [FLAGS]    32-bit extent callback
 *   block_status64 COUNT OFFSET [FLAGS]  64-bit extent callback
 *   disc  tls_done  abandon
 * Commands are numbered 1, 2, ... in the order of their call lines.
 *
 * Expectations (expect KEY=VALUE ..., or expect data=K BYTES...):
 *   state=CREATED|HANDSHAKING|NEGOTIATING|OPT_PENDING|READY|PROCESSING|
 *         CLOSED|DEAD
 *   error=ERRNO            the cause of death
 *   message=TEXT           ... and its message contains TEXT
 *   size=N eflags=N block=MIN:PREF:MAX name=TEXT|- description=TEXT|-
 *   structured=0|1 extended=0|1 tls=0|1 protocol=TEXT hsflags=N
 *   known=0|1              the export's size and flags were received
 *   opt_err=ERRNO|0|pending  opt_count=N
 *   server_msg=TEXT        the option's error text contains TEXT
 *   cmd=K err=ERRNO|0|pending   command K's completion (at most once)
 *   chunks=K:N             command K got N chunk or extent callbacks
 *   data=K BYTES...        command K's read buffer
 *   in_flight=N  unconsumed=N  event=TLS|DEAD|CLOSED|SHUT_WRITE
 *   noevent=...  metas=NAME:ID,...  meta_valid=0|1  items=N
 * (items counts list and context callbacks of the options.)
 */
#include "transcript.h"

#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>
#include <time.h>

#include "engine/engine.h"
#include "wire/wire.h"

enum mode { M_LINES, M_BYTES, M_WHOLE, M_COUNT };
static const char *const mode_name[M_COUNT] = { "lines", "bytes", "whole" };
static const int mode_iovs[M_COUNT] = { 4, 1, 8 };

static bool verbose;

/* --mutate N: each transcript replayed N times with 1-3 mutations of the
 * server's bytes; expectations and tx lines are then ignored, calls are
 * made only in the states the API allows them, and the closures'
 * bookkeeping is checked (none called after its .free, completions at
 * most once, every .free exactly once, chunks
 * inside their request), under ASan when the build has it. */
static struct {
  unsigned long count;
  uint64_t seed;
  unsigned long replays;
  unsigned long only;        /* --mutate-only K: replay mutation K alone */
} mutate = { .seed = 0x5eed2024, .only = ULONG_MAX };

#define MAX_CMDS 64

/* One closure's bookkeeping. */
struct closure {
  struct run *run;
  int owner;                 /* command number, or 0 for the option */
  int calls, frees;
};

struct cmd {
  bool used;
  int64_t cookie;
  uint64_t count, offset;
  uint8_t *buf;              /* read buffer or write data */
  struct closure comp, data;
  bool has_data;
  int done_calls;
  int err;
  int chunk_calls;
};

/* A growable text log. */
struct text {
  char *p;
  size_t len, cap;
};

static void text_add (struct text *t, const char *fmt, ...)
  __attribute__ ((format (printf, 2, 3)));

static void
text_add (struct text *t, const char *fmt, ...)
{
  va_list ap;
  for (;;) {
    size_t room = t->cap - t->len;
    va_start (ap, fmt);
    int n = vsnprintf (t->p ? t->p + t->len : NULL, room, fmt, ap);
    va_end (ap);
    if (n < 0)
      return;
    if ((size_t) n < room) {
      t->len += n;
      return;
    }
    t->cap = (t->cap + n + 1) * 2;
    t->p = realloc (t->p, t->cap);
    if (t->p == NULL) {
      perror ("realloc");
      exit (99);
    }
  }
}

struct run {
  const struct transcript *t;
  enum mode mode;
  struct nbdi_engine_config cfg;
  struct nbdi_engine *e;
  int failures;
  /* Server bytes delivered and not yet taken by the engine. */
  uint8_t *avail;
  size_t avail_len, avail_cap;
  /* Everything the client sent, and how much the tx lines checked. */
  uint8_t *sent;
  size_t sent_len, sent_cap, sent_checked;
  struct text log;
  struct cmd cmds[MAX_CMDS + 1];
  int ncmds;
  /* The option in progress (the last started). */
  struct closure opt_comp, opt_list, opt_ctx;
  bool opt_started;
  int opt_calls, opt_err, items;
  int final_state;
  bool mutated;              /* expectations off, calls gated by state */
};

static void fail (struct run *r, int lineno, const char *fmt, ...)
  __attribute__ ((format (printf, 3, 4)));

static void
fail (struct run *r, int lineno, const char *fmt, ...)
{
  va_list ap;
  fprintf (stderr, "%s:%d: [%s] FAIL: ", r->t->name, lineno, mode_name[r->mode]);
  va_start (ap, fmt);
  vfprintf (stderr, fmt, ap);
  va_end (ap);
  fputc ('\n', stderr);
  r->failures++;
}


static void
append (uint8_t **buf, size_t *len, size_t *cap, const void *p, size_t n)
{
  if (n == 0)
    return;
  if (*len + n > *cap) {
    *cap = (*len + n) * 2 + 64;
    *buf = tr_xrealloc (*buf, *cap);
  }
  memcpy (*buf + *len, p, n);
  *len += n;
}

static void
hex (FILE *f, const uint8_t *p, size_t n)
{
  for (size_t i = 0; i < n && i < 96; i++)
    fprintf (f, "%02x", p[i]);
  if (n > 96)
    fprintf (f, "... (%zu bytes)", n);
}

/* ---- errno names ---- */

static const struct { const char *name; int value; } errnos[] = {
  { "0", 0 }, { "EPROTO", EPROTO }, { "EINVAL", EINVAL }, { "ENOTSUP", ENOTSUP },
  { "EPERM", EPERM }, { "ENOENT", ENOENT }, { "ESHUTDOWN", ESHUTDOWN },
  { "ERANGE", ERANGE }, { "EIO", EIO }, { "ENOTCONN", ENOTCONN },
  { "ENOMEM", ENOMEM }, { "EOVERFLOW", EOVERFLOW }, { "ENOSPC", ENOSPC },
  { "EFBIG", EFBIG }, { "ECONNRESET", ECONNRESET }, { "EBADMSG", EBADMSG },
  { "ESHUTDOWN", ESHUTDOWN }, { "EUCLEAN", EUCLEAN }, { "EAGAIN", EAGAIN },
  { "ECONNREFUSED", ECONNREFUSED }, { "EOPNOTSUPP", EOPNOTSUPP },
};

static bool
parse_errno (const char *s, int *out)
{
  for (size_t i = 0; i < sizeof errnos / sizeof errnos[0]; i++)
    if (strcmp (s, errnos[i].name) == 0) {
      *out = errnos[i].value;
      return true;
    }
  char *end;
  long v = strtol (s, &end, 0);
  if (*s && *end == '\0') {
    *out = (int) v;
    return true;
  }
  return false;
}

static const char *
errno_name (int v)
{
  static char buf[16];
  for (size_t i = 0; i < sizeof errnos / sizeof errnos[0]; i++)
    if (errnos[i].value == v)
      return errnos[i].name;
  snprintf (buf, sizeof buf, "%d", v);
  return buf;
}

static const char *const state_names[] = {
#define X(name, group, text) #name,
  NBDI_STATES (X)
#undef X
};

static bool
parse_u64 (const char *s, uint64_t *v)
{
  char *end;
  errno = 0;
  *v = strtoull (s, &end, 0);
  return *s && *end == '\0' && errno == 0;
}

/* "TEXT" or TEXT: the value with its quotes removed (static buffer). */
static const char *
unquote (const char *s)
{
  static char buf[4096];
  size_t n = strlen (s);
  if (n >= 2 && s[0] == '"' && s[n - 1] == '"') {
    snprintf (buf, sizeof buf, "%.*s", (int) (n - 2), s + 1);
    return buf;
  }
  return s;
}

/* ---- closures ---- */

static void
closure_free (void *ud)
{
  struct closure *c = ud;
  c->frees++;
}

static void
closure_enter (struct closure *c, int lineno_unused)
{
  (void) lineno_unused;
  c->calls++;
  if (c->frees)
    fail (c->run, 0, "closure of %s %d called after its .free",
          c->owner ? "command" : "option", c->owner);
}

static int
cmd_completion (void *ud, int *error)
{
  struct closure *c = ud;
  struct cmd *cmd = &c->run->cmds[c->owner];
  closure_enter (c, 0);
  cmd->done_calls++;
  cmd->err = error ? *error : -1;
  text_add (&c->run->log, "cmd %d complete err=%s\n", c->owner, errno_name (cmd->err));
  if (cmd->done_calls > 1)
    fail (c->run, 0, "command %d completed %d times", c->owner, cmd->done_calls);
  return 1;
}

static int
chunk_cb (void *ud, const void *subbuf, size_t count, uint64_t offset,
          unsigned status, int *error)
{
  struct closure *c = ud;
  struct cmd *cmd = &c->run->cmds[c->owner];
  (void) error;
  closure_enter (c, 0);
  cmd->chunk_calls++;
  text_add (&c->run->log, "cmd %d chunk off=%" PRIu64 " len=%zu status=%u ",
            c->owner, offset, count, status);
  for (size_t i = 0; i < count && i < 16; i++)
    text_add (&c->run->log, "%02x", ((const uint8_t *) subbuf)[i]);
  text_add (&c->run->log, "\n");
  if (count && (offset < cmd->offset || offset - cmd->offset > cmd->count
                || count > cmd->count - (offset - cmd->offset)))
    fail (c->run, 0, "command %d: chunk %" PRIu64 "+%zu outside the request",
          c->owner, offset, count);
  return 0;
}

static int
extent_cb (void *ud, const char *ctx, uint64_t offset, uint32_t *entries,
           size_t n, int *error)
{
  struct closure *c = ud;
  (void) error;
  closure_enter (c, 0);
  c->run->cmds[c->owner].chunk_calls++;
  text_add (&c->run->log, "cmd %d extent ctx=%s off=%" PRIu64, c->owner,
            ctx ? ctx : "(null)", offset);
  for (size_t i = 0; i < n; i++)
    text_add (&c->run->log, " %" PRIu32, entries[i]);
  text_add (&c->run->log, "\n");
  return 0;
}

static int
extent64_cb (void *ud, const char *ctx, uint64_t offset, nbd_extent *entries,
             size_t n, int *error)
{
  struct closure *c = ud;
  (void) error;
  closure_enter (c, 0);
  c->run->cmds[c->owner].chunk_calls++;
  text_add (&c->run->log, "cmd %d extent64 ctx=%s off=%" PRIu64, c->owner,
            ctx ? ctx : "(null)", offset);
  for (size_t i = 0; i < n; i++)
    text_add (&c->run->log, " %" PRIu64 "/%" PRIu64, entries[i].length,
              entries[i].flags);
  text_add (&c->run->log, "\n");
  return 0;
}

static int
opt_completion (void *ud, int *error)
{
  struct closure *c = ud;
  closure_enter (c, 0);
  c->run->opt_calls++;
  c->run->opt_err = error ? *error : -1;
  text_add (&c->run->log, "opt complete err=%s\n", errno_name (c->run->opt_err));
  return 1;
}

static int
list_cb (void *ud, const char *name, const char *desc)
{
  struct closure *c = ud;
  closure_enter (c, 0);
  c->run->items++;
  text_add (&c->run->log, "opt list name=\"%s\" desc=\"%s\"\n",
            name ? name : "(null)", desc ? desc : "(null)");
  return 0;
}

static int
context_cb (void *ud, const char *name)
{
  struct closure *c = ud;
  closure_enter (c, 0);
  c->run->items++;
  text_add (&c->run->log, "opt context \"%s\"\n", name ? name : "(null)");
  return 0;
}

/* ---- moving bytes ---- */

static void
take_output (struct run *r)
{
  const struct iovec *iov;
  size_t n;

  while ((n = nbdi_engine_tx_plan (r->e, &iov)) > 0) {
    size_t total = 0;
    for (size_t i = 0; i < n; i++) {
      size_t want = iov[i].iov_len;
      if (r->mode == M_BYTES && want > 1)
        want = 1;
      append (&r->sent, &r->sent_len, &r->sent_cap, iov[i].iov_base, want);
      total += want;
      if (r->mode == M_BYTES && total)
        break;
    }
    if (total == 0)
      break;
    nbdi_engine_tx_done (r->e, total);
  }
}

/* Give the engine as much of the delivered bytes as it asks for. */
static void
pump (struct run *r)
{
  for (;;) {
    struct iovec iov[8];
    int n;
    size_t done = 0;

    take_output (r);
    if (r->avail_len == 0)
      break;
    n = nbdi_engine_rx_plan (r->e, iov, mode_iovs[r->mode], NULL);
    if (n <= 0)
      break;
    for (int i = 0; i < n && done < r->avail_len; i++) {
      size_t k = iov[i].iov_len;
      if (k > r->avail_len - done)
        k = r->avail_len - done;
      if (r->mode == M_BYTES && k > 1)
        k = 1;
      memcpy (iov[i].iov_base, r->avail + done, k);
      done += k;
      if (r->mode == M_BYTES)
        break;
    }
    if (done == 0)
      break;
    memmove (r->avail, r->avail + done, r->avail_len - done);
    r->avail_len -= done;
    nbdi_engine_rx_done (r->e, done);
  }
  take_output (r);
}

/* ---- config ---- */

static bool
bool_value (const char *v)
{
  return strcmp (v, "1") == 0 || strcmp (v, "true") == 0 || strcmp (v, "yes") == 0;
}

static void
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

static void
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

static bool
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

static void
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

static void
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

/* ---- expectations ---- */

static void
expect_str (struct run *r, int lineno, const char *key, const char *got,
            const char *want)
{
  bool ok = strcmp (want, "-") == 0 ? got == NULL : got && strcmp (got, want) == 0;
  if (!ok)
    fail (r, lineno, "%s is %s%s%s, expected %s", key, got ? "\"" : "",
          got ? got : "NULL", got ? "\"" : "", want);
}

static void
expect_num (struct run *r, int lineno, const char *key, uint64_t got, const char *want)
{
  uint64_t w;
  if (!parse_u64 (want, &w))
    fail (r, lineno, "%s: '%s' is not a number", key, want);
  else if (got != w)
    fail (r, lineno, "%s is %" PRIu64 " (%#" PRIx64 "), expected %s", key, got, got, want);
}

static void
expect_errno (struct run *r, int lineno, const char *key, int got, const char *want)
{
  int w;
  if (strcmp (want, "pending") == 0) {
    if (got != -2)
      fail (r, lineno, "%s is %s, expected pending", key, errno_name (got));
    return;
  }
  if (!parse_errno (want, &w))
    fail (r, lineno, "%s: unknown errno '%s'", key, want);
  else if (got != w)
    fail (r, lineno, "%s is %s, expected %s", key, got == -2 ? "pending" : errno_name (got),
          want);
}

static unsigned
event_bit (const char *v)
{
  if (strcmp (v, "TLS") == 0) return NBDI_EV_TLS;
  if (strcmp (v, "DEAD") == 0) return NBDI_EV_DEAD;
  if (strcmp (v, "CLOSED") == 0) return NBDI_EV_CLOSED;
  if (strcmp (v, "SHUT_WRITE") == 0) return NBDI_EV_SHUT_WRITE;
  return 0;
}

static struct cmd *
cmd_arg (struct run *r, int lineno, const char *v)
{
  uint64_t k;
  if (!parse_u64 (v, &k) || k < 1 || k > (uint64_t) r->ncmds) {
    fail (r, lineno, "no command %s", v);
    return NULL;
  }
  return &r->cmds[k];
}

static void
expect_line (struct run *r, const struct tr_line *l)
{
  struct nbdi_engine *e = r->e;
  struct cmd *cur = NULL;

  if (!ensure_started (r, l->lineno))
    return;
  pump (r);
  for (size_t i = 0; i < l->nwords; i++) {
    char *w = l->words[i];
    char *eq = strchr (w, '=');
    if (eq == NULL) {
      fail (r, l->lineno, "expect word '%s' has no '='", w);
      continue;
    }
    size_t klen = eq - w;
    const char *v = unquote (eq + 1);
    const struct nbdi_export_info *x = nbdi_engine_export (e);
#define KEY(s) (klen == strlen (s) && strncmp (w, s, klen) == 0)
    if (KEY ("state")) {
      enum nbdi_state s = nbdi_engine_state (e);
      if (strcmp (state_names[s], v) != 0)
        fail (r, l->lineno, "state is %s, expected %s", state_names[s], v);
    }
    else if (KEY ("error"))
      expect_errno (r, l->lineno, "dead errno",
                    nbdi_engine_state (e) == NBDI_STATE_DEAD ? nbdi_engine_dead_errno (e) : -2,
                    v);
    else if (KEY ("message")) {
      const char *m = nbdi_engine_dead_message (e);
      if (m == NULL || strstr (m, v) == NULL)
        fail (r, l->lineno, "dead message \"%s\" does not contain \"%s\"",
              m ? m : "(null)", v);
    }
    else if (KEY ("size"))
      expect_num (r, l->lineno, "size", x->size, v);
    else if (KEY ("known"))
      expect_num (r, l->lineno, "known", x->known, v);
    else if (KEY ("eflags"))
      expect_num (r, l->lineno, "eflags", x->eflags, v);
    else if (KEY ("block")) {
      char got[64];
      snprintf (got, sizeof got, "%" PRIu32 ":%" PRIu32 ":%" PRIu32,
                x->block_min, x->block_pref, x->block_max);
      expect_str (r, l->lineno, "block sizes", got, v);
    }
    else if (KEY ("name"))
      expect_str (r, l->lineno, "canonical name", x->canonical_name, v);
    else if (KEY ("description"))
      expect_str (r, l->lineno, "description", x->description, v);
    else if (KEY ("structured"))
      expect_num (r, l->lineno, "structured", nbdi_engine_structured (e), v);
    else if (KEY ("extended"))
      expect_num (r, l->lineno, "extended", nbdi_engine_extended (e), v);
    else if (KEY ("tls"))
      expect_num (r, l->lineno, "tls", nbdi_engine_tls_negotiated (e), v);
    else if (KEY ("protocol"))
      expect_str (r, l->lineno, "protocol", nbdi_engine_protocol (e), v);
    else if (KEY ("hsflags"))
      expect_num (r, l->lineno, "handshake flags", nbdi_engine_handshake_flags (e), v);
    else if (KEY ("opt_err"))
      expect_errno (r, l->lineno, "option result", r->opt_calls ? r->opt_err : -2, v);
    else if (KEY ("opt_count") || KEY ("server_msg")) {
      struct nbdi_option_result res;
      nbdi_engine_option_result (e, &res);
      if (KEY ("opt_count"))
        expect_num (r, l->lineno, "option count", (uint64_t) res.count, v);
      else if (res.server_msg == NULL || strstr (res.server_msg, v) == NULL)
        fail (r, l->lineno, "server message \"%s\" does not contain \"%s\"",
              res.server_msg ? res.server_msg : "(null)", v);
    }
    else if (KEY ("items"))
      expect_num (r, l->lineno, "list/context items", (uint64_t) r->items, v);
    else if (KEY ("cmd"))
      cur = cmd_arg (r, l->lineno, v);
    else if (KEY ("err")) {
      if (cur == NULL)
        fail (r, l->lineno, "err= without cmd=");
      else {
        if (cur->done_calls > 1)
          fail (r, l->lineno, "command completed %d times", cur->done_calls);
        expect_errno (r, l->lineno, "command result", cur->done_calls ? cur->err : -2, v);
      }
    }
    else if (KEY ("chunks")) {
      char *colon = strchr (v, ':');
      struct cmd *c = colon ? (*colon = '\0', cmd_arg (r, l->lineno, v)) : NULL;
      if (c)
        expect_num (r, l->lineno, "chunk callbacks", (uint64_t) c->chunk_calls, colon + 1);
    }
    else if (KEY ("data")) {
      struct cmd *c = cmd_arg (r, l->lineno, v);
      uint8_t *want;
      size_t len;
      if (c && tr_parse_bytes (l->words + i + 1, l->nwords - i - 1, &want, &len) == 0) {
        if (len != c->count || memcmp (want, c->buf, len) != 0) {
          fail (r, l->lineno, "command %s's buffer differs", v);
          fprintf (stderr, "    got ");
          hex (stderr, c->buf, c->count);
          fprintf (stderr, "\n");
        }
        free (want);
      }
      break;                    /* the rest of the line was the bytes */
    }
    else if (KEY ("in_flight"))
      expect_num (r, l->lineno, "in flight", nbdi_engine_in_flight (e), v);
    else if (KEY ("unconsumed"))
      expect_num (r, l->lineno, "unconsumed bytes", r->avail_len, v);
    else if (KEY ("event") || KEY ("noevent")) {
      unsigned bit = event_bit (v);
      bool set = nbdi_engine_events (e) & bit;
      if (bit == 0)
        fail (r, l->lineno, "unknown event %s", v);
      else if (set != KEY ("event"))
        fail (r, l->lineno, "event %s is %s", v, set ? "set" : "not set");
    }
    else if (KEY ("meta_valid"))
      expect_num (r, l->lineno, "meta_valid", nbdi_engine_meta_valid (e), v);
    else if (KEY ("metas")) {
      struct text got = { 0 };
      text_add (&got, "%s", "");
      for (size_t m = 0; m < nbdi_engine_nr_metas (e); m++) {
        uint32_t id = 0;
        const char *n = nbdi_engine_meta_name (e, m, &id);
        text_add (&got, "%s%s:%" PRIu32, m ? "," : "", n, id);
      }
      expect_str (r, l->lineno, "metas", got.p, v);
      free (got.p);
    }
    else
      fail (r, l->lineno, "unknown expectation '%s'", w);
#undef KEY
  }
}

/* ---- one run ---- */

static void
tx_line (struct run *r, const struct tr_line *l)
{
  if (!ensure_started (r, l->lineno))
    return;
  pump (r);
  size_t have = r->sent_len - r->sent_checked;
  const uint8_t *got = r->sent + r->sent_checked;
  if (have < l->len || (l->len && memcmp (got, l->bytes, l->len) != 0)) {
    fail (r, l->lineno, "the client sent other bytes");
    fprintf (stderr, "    expected ");
    hex (stderr, l->bytes, l->len);
    fprintf (stderr, "\n    got      ");
    hex (stderr, got, have);
    fprintf (stderr, "\n");
    r->sent_checked = r->sent_len;
  }
  else
    r->sent_checked += l->len;
}

static void
run_one (struct run *r)
{
  const struct transcript *t = r->t;

  default_config (&r->cfg);
  for (size_t i = 0; i < t->nlines; i++) {
    const struct tr_line *l = &t->lines[i];
    switch (l->kind) {
    case TR_CONFIG:
      if (r->e)
        fail (r, l->lineno, "config after the engine started");
      else
        config_line (r, l);
      break;
    case TR_RX:
      if (!ensure_started (r, l->lineno))
        return;
      append (&r->avail, &r->avail_len, &r->avail_cap, l->bytes, l->len);
      /* In the whole mode a run of rx lines is one delivery. */
      if (r->mode != M_WHOLE || i + 1 == t->nlines || t->lines[i + 1].kind != TR_RX)
        pump (r);
      break;
    case TR_TX:
      if (!r->mutated)
        tx_line (r, l);
      break;
    case TR_EOF:
      if (!ensure_started (r, l->lineno))
        return;
      pump (r);
      nbdi_engine_rx_eof (r->e);
      text_add (&r->log, "eof\n");
      pump (r);
      break;
    case TR_CALL:
      call_line (r, l);
      pump (r);
      break;
    case TR_EXPECT:
      if (!r->mutated)
        expect_line (r, l);
      break;
    }
  }
  if (!ensure_started (r, 0))
    return;
  pump (r);
  if (!r->mutated && r->sent_len != r->sent_checked) {
    fail (r, 0, "the client sent bytes no tx line expected:");
    fprintf (stderr, "    ");
    hex (stderr, r->sent + r->sent_checked, r->sent_len - r->sent_checked);
    fprintf (stderr, "\n");
  }
  r->final_state = nbdi_engine_state (r->e);
  text_add (&r->log, "final state %s", state_names[r->final_state]);
  if (r->final_state == NBDI_STATE_DEAD)
    text_add (&r->log, " errno %s", errno_name (nbdi_engine_dead_errno (r->e)));
  text_add (&r->log, "\n");
  /* Commands that never completed are released with .free only. */
  nbdi_engine_free (r->e);
  r->e = NULL;
  check_closures_freed (r);
}

static void
run_cleanup (struct run *r)
{
  free (r->avail);
  free (r->sent);
  free (r->log.p);
  for (int k = 1; k <= r->ncmds; k++)
    free (r->cmds[k].buf);
  free (r->cfg.export_name);
  nbdi_strlist_free (&r->cfg.meta_requests);
}

/* Run a transcript in every mode; the number of failures. */
static int
run_modes (const struct transcript *tp, bool mutated, const char *what)
{
  const struct transcript t = *tp;
  struct run *runs;
  int failures = 0;

  runs = calloc (M_COUNT, sizeof *runs);
  for (int m = 0; m < M_COUNT; m++) {
    runs[m].t = tp;
    runs[m].mode = m;
    runs[m].mutated = mutated;
    run_one (&runs[m]);
    failures += runs[m].failures;
  }
  /* A damaged transcript may have the server answer before the client's
   * request has left, and how far the request got then depends on how
   * finely the bytes were handed over: the runs need not agree. */
  for (int m = 1; m < M_COUNT && !mutated; m++) {
    const struct run *a = &runs[0], *b = &runs[m];
    if (a->sent_len != b->sent_len
        || (a->sent_len && memcmp (a->sent, b->sent, a->sent_len) != 0)) {
      fprintf (stderr, "%s: FAIL: the %s and %s runs sent different bytes\n",
               t.name, mode_name[0], mode_name[m]);
      fprintf (stderr, "    %s: ", mode_name[0]);
      hex (stderr, a->sent, a->sent_len);
      fprintf (stderr, "\n    %s: ", mode_name[m]);
      hex (stderr, b->sent, b->sent_len);
      fprintf (stderr, "\n");
      failures++;
    }
    if (a->log.len != b->log.len
        || (a->log.len && memcmp (a->log.p, b->log.p, a->log.len) != 0)) {
      fprintf (stderr, "%s: FAIL: the %s and %s runs differ:\n--- %s\n%.*s--- %s\n%.*s",
               t.name, mode_name[0], mode_name[m], mode_name[0], (int) a->log.len,
               a->log.p, mode_name[m], (int) b->log.len, b->log.p);
      failures++;
    }
  }
  if (verbose)
    fprintf (stderr, "%s:\n%.*s", t.name, (int) runs[0].log.len, runs[0].log.p);
  if (failures && what)
    fprintf (stderr, "%s: the failure above was %s\n", t.name, what);
  for (int m = 0; m < M_COUNT; m++)
    run_cleanup (&runs[m]);
  free (runs);
  return failures;
}

static uint64_t
splitmix (uint64_t *s)
{
  uint64_t z = (*s += UINT64_C(0x9e3779b97f4a7c15));
  z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
  z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
  return z ^ (z >> 31);
}

static uint32_t
below (uint64_t *s, uint32_t n)
{
  return n ? (uint32_t) (splitmix (s) >> 32) % n : 0;
}

/* One mutation of one rx line of t (a private copy). */
static void
mutate_line (struct transcript *t, uint64_t *rng)
{
  static const uint64_t boundary[] = {
    0, 1, 0x7f, 0x80, 0xff, 0xffff, 0x7fffffff, 0x80000000, 0xffffffff,
    UINT64_C(0xffffffffffffffff), UINT64_C(0x8000000000000000), 0x1000, 0x100000,
  };
  size_t rx[1024], n = 0;

  for (size_t i = 0; i < t->nlines && n < 1024; i++)
    if (t->lines[i].kind == TR_RX)
      rx[n++] = i;
  if (n == 0)
    return;
  struct tr_line *l = &t->lines[rx[below (rng, n)]];
  size_t len = l->len;
  switch (below (rng, 8)) {
  case 0:                       /* flip 1-4 bits */
    for (unsigned k = 1 + below (rng, 4); k && len; k--)
      l->bytes[below (rng, len)] ^= 1u << below (rng, 8);
    break;
  case 1: {                     /* a field set to a boundary value */
    int width = 1 << below (rng, 4);      /* 1, 2, 4, 8 */
    if (len >= (size_t) width) {
      size_t at = below (rng, len - width + 1);
      uint64_t v = boundary[below (rng, sizeof boundary / sizeof boundary[0])];
      for (int k = width - 1; k >= 0; k--, v >>= 8)
        l->bytes[at + k] = (uint8_t) v;
    }
    break;
  }
  case 2:                       /* truncated */
    l->len = below (rng, len + 1);
    break;
  case 3:                       /* dropped */
    l->len = 0;
    break;
  case 4:                       /* sent twice */
    l->bytes = tr_xrealloc (l->bytes, 2 * len);
    memcpy (l->bytes + len, l->bytes, len);
    l->len = 2 * len;
    break;
  case 5: {                     /* random bytes inserted */
    size_t k = 1 + below (rng, 8), at = below (rng, len + 1);
    l->bytes = tr_xrealloc (l->bytes, len + k);
    memmove (l->bytes + at + k, l->bytes + at, len - at);
    for (size_t j = 0; j < k; j++)
      l->bytes[at + j] = (uint8_t) below (rng, 256);
    l->len = len + k;
    break;
  }
  case 6:                       /* random bytes in place */
    for (size_t j = 0; j < len; j++)
      l->bytes[j] = (uint8_t) below (rng, 256);
    break;
  default:                      /* the server hangs up there */
    l->kind = TR_EOF;
    break;
  }
}

/* A copy of t whose rx lines can be changed. */
static void
copy_transcript (struct transcript *dst, const struct transcript *src)
{
  *dst = *src;
  dst->lines = tr_xrealloc (NULL, src->nlines * sizeof *dst->lines);
  for (size_t i = 0; i < src->nlines; i++) {
    dst->lines[i] = src->lines[i];
    if (src->lines[i].len) {
      dst->lines[i].bytes = tr_xrealloc (NULL, src->lines[i].len);
      memcpy (dst->lines[i].bytes, src->lines[i].bytes, src->lines[i].len);
    }
    else
      dst->lines[i].bytes = NULL;
  }
}

static void
free_copy (struct transcript *t)
{
  for (size_t i = 0; i < t->nlines; i++)
    free (t->lines[i].bytes);
  free (t->lines);
}

static int
run_transcript (const char *path)
{
  struct transcript t;
  int failures;

  if (tr_load (path, &t) == -1) {
    tr_free (&t);
    return 1;
  }
  if (mutate.count == 0) {
    failures = run_modes (&t, false, NULL);
    printf ("%s %s\n", failures ? "FAIL" : "ok  ", t.name);
  }
  else {
    uint64_t h = mutate.seed;
    failures = 0;
    for (const char *p = t.name; *p; p++)
      h = h * 131 + (unsigned char) *p;
    for (unsigned long k = 0; k < mutate.count; k++) {
      struct transcript m;
      uint64_t rng = h ^ (k * UINT64_C(0x9e3779b97f4a7c15));
      char what[128];
      copy_transcript (&m, &t);
      for (unsigned j = 1 + below (&rng, 3); j; j--)
        mutate_line (&m, &rng);
      snprintf (what, sizeof what, "mutation %lu (--mutate-only %lu --seed %#" PRIx64 ")",
                k, k, mutate.seed);
      if (mutate.only == ULONG_MAX || mutate.only == k)
        failures += run_modes (&m, true, what);
      mutate.replays++;
      free_copy (&m);
    }
    printf ("%s %s (%lu mutations)\n", failures ? "FAIL" : "ok  ", t.name, mutate.count);
  }
  tr_free (&t);
  return failures;
}

static int
compare_names (const void *a, const void *b)
{
  return strcmp (*(char *const *) a, *(char *const *) b);
}

/* Every *.t in a directory, in name order. */
static int
run_directory (const char *dir, int *count)
{
  DIR *d = opendir (dir);
  struct dirent *ent;
  char **names = NULL;
  size_t n = 0;
  int failed = 0;

  if (d == NULL) {
    perror (dir);
    return 1;
  }
  while ((ent = readdir (d)) != NULL) {
    size_t len = strlen (ent->d_name);
    if (len > 2 && strcmp (ent->d_name + len - 2, ".t") == 0) {
      names = tr_xrealloc (names, (n + 1) * sizeof *names);
      if (asprintf (&names[n++], "%s/%s", dir, ent->d_name) == -1)
        exit (99);
    }
  }
  closedir (d);
  qsort (names, n, sizeof *names, compare_names);
  for (size_t i = 0; i < n; i++) {
    failed += run_transcript (names[i]) != 0;
    (*count)++;
    free (names[i]);
  }
  free (names);
  return failed;
}

int
main (int argc, char *argv[])
{
  int failed = 0, count = 0;

  for (int i = 1; i < argc; i++) {
    if (strcmp (argv[i], "-v") == 0) {
      verbose = true;
      continue;
    }
    if (strcmp (argv[i], "--mutate") == 0 && i + 1 < argc) {
      mutate.count = strtoul (argv[++i], NULL, 0);
      continue;
    }
    if (strcmp (argv[i], "--mutate-only") == 0 && i + 1 < argc) {
      mutate.only = strtoul (argv[++i], NULL, 0);
      continue;
    }
    if (strcmp (argv[i], "--seed") == 0 && i + 1 < argc) {
      mutate.seed = strtoull (argv[++i], NULL, 0);
      continue;
    }
    DIR *d = opendir (argv[i]);
    if (d) {
      closedir (d);
      failed += run_directory (argv[i], &count);
    }
    else {
      failed += run_transcript (argv[i]) != 0;
      count++;
    }
  }
  printf ("%d transcripts, %d failed\n", count, failed);
  if (mutate.count) {
    struct timespec ts;
    clock_gettime (CLOCK_PROCESS_CPUTIME_ID, &ts);
    double cpu = ts.tv_sec + ts.tv_nsec / 1e9;
    printf ("%lu mutated replays (each fed in %d ways) in %.1f s CPU: %.0f per CPU second\n",
            mutate.replays, M_COUNT, cpu, cpu > 0 ? mutate.replays / cpu : 0);
  }
  return failed ? 1 : 0;
}
