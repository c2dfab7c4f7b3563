/* The expect lines of a transcript. */
#include "tr-run.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>

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

void
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

