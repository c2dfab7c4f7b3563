/* The fake server's answers to options: LIST, INFO, GO, the meta
 * context options, STRUCTURED_REPLY, EXTENDED_HEADERS, ABORT,
 * EXPORT_NAME, and refusals. */
#include "fz-server-int.h"

#include <string.h>

static void
fz_opt_reply (struct fz_srv *s, uint32_t opt, uint32_t rep, const void *payload, size_t len)
{
  struct fz_msg m = { .kind = FM_OPT_REPLY, .opt = opt, .rep = rep, .hdr_len = 20 };
  fz_buf_add64 (&m.b, W_REPLY_MAGIC);
  fz_buf_add32 (&m.b, opt);
  fz_buf_add32 (&m.b, rep);
  fz_buf_add32 (&m.b, (uint32_t) len);
  fz_buf_add (&m.b, payload, len);
  fz_srv_emit (s, &m);
  fz_buf_free (&m.b);
}

static void
fz_opt_error (struct fz_srv *s, uint32_t opt, uint32_t rep)
{
  const char *msg = fz_chance (s->rng, 50) ? "" : "the fake server says no";
  fz_opt_reply (s, opt, rep, msg, strlen (msg));
}

static const char *const fz_export_names[] = { "", "second", "third" };
static const char *const fz_export_descs[] = { "", "the second export", "" };

static void
fz_srv_info (struct fz_srv *s, uint32_t opt, uint16_t type, const char *name)
{
  struct fz_buf p = { 0 };
  fz_buf_add16 (&p, type);
  switch (type) {
  case W_INFO_EXPORT:
    fz_buf_add64 (&p, s->cfg.size);
    fz_buf_add16 (&p, s->cfg.eflags);
    break;
  case W_INFO_NAME:
    fz_buf_addstr (&p, name[0] ? name : "canonical-default");
    break;
  case W_INFO_DESCRIPTION:
    fz_buf_addstr (&p, "a fuzzy export");
    break;
  case W_INFO_BLOCK_SIZE:
    fz_buf_add32 (&p, s->cfg.bs_min);
    fz_buf_add32 (&p, s->cfg.bs_pref);
    fz_buf_add32 (&p, s->cfg.bs_max);
    break;
  }
  fz_opt_reply (s, opt, W_REP_INFO, p.p, p.len);
  fz_buf_free (&p);
}

/* NBD_OPT_INFO / NBD_OPT_GO. */
static void
fz_srv_go (struct fz_srv *s, uint32_t opt, const uint8_t *d, uint32_t len)
{
  uint32_t namelen;
  uint16_t n;
  bool want[4] = { true, false, false, s->cfg.block_size_info };
  char name[256] = "";

  if (len < 6 || (namelen = fz_get32 (d)) > len - 6
      || (n = fz_get16 (d + 4 + namelen), len != 6 + namelen + 2u * n)) {
    fz_opt_error (s, opt, W_REP_ERR_INVALID);
    return;
  }
  memcpy (name, d + 4, namelen < sizeof name - 1 ? namelen : sizeof name - 1);
  for (uint16_t i = 0; i < n; i++) {
    uint16_t t = fz_get16 (d + 6 + namelen + 2 * i);
    if (t < 4)
      want[t] = true;
  }
  if (fz_chance (s->rng, 10))
    want[W_INFO_NAME] = true;        /* unasked information is allowed */
  /* INFO_EXPORT first or last; the rest in between. */
  bool export_last = fz_chance (s->rng, 30);
  if (!export_last)
    fz_srv_info (s, opt, W_INFO_EXPORT, name);
  for (uint16_t t = 1; t < 4; t++)
    if (want[t])
      fz_srv_info (s, opt, t, name);
  if (export_last)
    fz_srv_info (s, opt, W_INFO_EXPORT, name);
  fz_opt_reply (s, opt, W_REP_ACK, NULL, 0);
  if (opt == W_OPT_GO)
    s->state = S_TRANS;
}

/* LIST_META_CONTEXT / SET_META_CONTEXT. */
static void
fz_srv_meta (struct fz_srv *s, uint32_t opt, const uint8_t *d, uint32_t len)
{
  uint32_t namelen, nq, pos;
  bool list = opt == W_OPT_LIST_META;
  struct { size_t off; uint32_t len; } q[64];

  if (len < 8 || (namelen = fz_get32 (d)) > len - 8) {
    fz_opt_error (s, opt, W_REP_ERR_INVALID);
    return;
  }
  nq = fz_get32 (d + 4 + namelen);
  pos = 8 + namelen;
  if (nq > 64) {
    fz_opt_error (s, opt, W_REP_ERR_TOO_BIG);
    return;
  }
  for (uint32_t i = 0; i < nq; i++) {
    if (len - pos < 4 || fz_get32 (d + pos) > len - pos - 4) {
      fz_opt_error (s, opt, W_REP_ERR_INVALID);
      return;
    }
    q[i].len = fz_get32 (d + pos);
    q[i].off = pos + 4;
    pos += 4 + q[i].len;
  }
  if (pos != len) {
    fz_opt_error (s, opt, W_REP_ERR_INVALID);
    return;
  }
  if (!s->sr && !s->ext) {
    fz_opt_error (s, opt, W_REP_ERR_INVALID);
    return;
  }
  if (!list) {
    s->meta_set = s->meta2_set = false;
    s->meta_id = 1 + fz_below (s->rng, 1000);
    s->meta_id2 = s->meta_id + 1 + fz_below (s->rng, 1000);
  }
  /* "fuzz:second" first, when offered and asked for (or listed). */
  for (uint32_t i = 0; i < (nq ? nq : 1) && s->cfg.meta && s->cfg.meta2; i++) {
    if (nq ? (q[i].len == 11 && memcmp (d + q[i].off, "fuzz:second", 11) == 0)
           || (list && q[i].len == 5 && memcmp (d + q[i].off, "fuzz:", 5) == 0)
        : list) {
      uint8_t p[4 + 11];
      fz_put32 (p, list ? 0 : s->meta_id2);
      memcpy (p + 4, "fuzz:second", 11);
      fz_opt_reply (s, opt, W_REP_META_CONTEXT, p, sizeof p);
      if (!list)
        s->meta2_set = true;
      break;
    }
  }
  bool sent = false;
  for (uint32_t i = 0; i < (nq ? nq : 1) && s->cfg.meta && !sent; i++) {
    bool match;
    if (nq == 0)
      match = list;
    else
      match = (q[i].len == 15 && memcmp (d + q[i].off, "base:allocation", 15) == 0)
        || (list && q[i].len == 5 && memcmp (d + q[i].off, "base:", 5) == 0);
    if (match) {
      uint8_t p[4 + 15];
      fz_put32 (p, list ? 0 : s->meta_id);
      memcpy (p + 4, "base:allocation", 15);
      fz_opt_reply (s, opt, W_REP_META_CONTEXT, p, sizeof p);
      sent = true;
      if (!list)
        s->meta_set = true;
    }
  }
  fz_opt_reply (s, opt, W_REP_ACK, NULL, 0);
}

void
fz_srv_option (struct fz_srv *s, uint32_t opt, const uint8_t *d, uint32_t len)
{
  if (s->cfg.style == 1 && opt != W_OPT_EXPORT_NAME) {
    /* Not fixed newstyle: an unknown option ends the session. */
    fz_srv_give_up (s, "option without fixed newstyle");
    s->close_when_flushed = true;
    return;
  }
  switch (opt) {
  case W_OPT_EXPORT_NAME: {
    struct fz_msg m = { .kind = FM_EXPORT_NAME_REPLY, .opt = opt };
    fz_buf_add64 (&m.b, s->cfg.size);
    fz_buf_add16 (&m.b, s->cfg.eflags);
    if (!(s->client_flags & W_FLAG_NO_ZEROES))
      memset (fz_buf_grow (&m.b, 124), 0, 124);
    fz_srv_emit (s, &m);
    fz_buf_free (&m.b);
    s->state = S_TRANS;
    break;
  }
  case W_OPT_ABORT:
    fz_opt_reply (s, opt, W_REP_ACK, NULL, 0);
    fz_srv_give_up (s, "abort");
    s->close_when_flushed = true;
    break;
  case W_OPT_LIST:
    if (len) {
      fz_opt_error (s, opt, W_REP_ERR_INVALID);
      break;
    }
    for (int i = 0; i < s->cfg.nexports; i++) {
      struct fz_buf p = { 0 };
      fz_buf_add32 (&p, (uint32_t) strlen (fz_export_names[i]));
      fz_buf_addstr (&p, fz_export_names[i]);
      fz_buf_addstr (&p, fz_export_descs[i]);
      fz_opt_reply (s, opt, W_REP_SERVER, p.p, p.len);
      fz_buf_free (&p);
    }
    fz_opt_reply (s, opt, W_REP_ACK, NULL, 0);
    break;
  case W_OPT_INFO:
  case W_OPT_GO:
    fz_srv_go (s, opt, d, len);
    break;
  case W_OPT_STRUCTURED:
    if (len)
      fz_opt_error (s, opt, W_REP_ERR_INVALID);
    else if (!s->cfg.accept_sr)
      fz_opt_error (s, opt, W_REP_ERR_UNSUP);
    else {
      fz_opt_reply (s, opt, W_REP_ACK, NULL, 0);
      s->sr = true;
    }
    break;
  case W_OPT_EXTENDED:
    if (len)
      fz_opt_error (s, opt, W_REP_ERR_INVALID);
    else if (!s->cfg.accept_ext)
      fz_opt_error (s, opt, W_REP_ERR_UNSUP);
    else {
      fz_opt_reply (s, opt, W_REP_ACK, NULL, 0);
      s->ext = true;
    }
    break;
  case W_OPT_LIST_META:
  case W_OPT_SET_META:
    fz_srv_meta (s, opt, d, len);
    break;
  case W_OPT_STARTTLS:
    fz_opt_error (s, opt, W_REP_ERR_POLICY);
    break;
  default:
    fz_opt_error (s, opt, W_REP_ERR_UNSUP);
  }
}

