/* The TLS transport: GnuTLS over an inner transport (see tls.h).
 *
 * GnuTLS reads and writes through our push/pull hooks, which call the
 * inner transport's ops, so this file never does I/O on the fd itself;
 * `fd` is only copied out for the caller's poll().
 *
 * Sending has one subtlety.  After GNUTLS_E_AGAIN, GnuTLS has already
 * encrypted the record (its sequence number is spent) and must be
 * asked to finish it before anything else is sent.  The caller, told
 * nothing was accepted, will offer the same bytes again: a stream
 * cannot do otherwise.  So we remember the size of the record in
 * flight, and the next send flushes it and reports exactly those bytes
 * as accepted before encrypting anything new. */
#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <arpa/inet.h>

#include <gnutls/gnutls.h>

#include "transport/tls.h"
#include "transport/transport.h"

/* The most plaintext one TLS record carries. */
#define RECORD_MAX 16384

struct tls {
  struct nbdi_transport t;      /* first, so the ops can cast back */
  struct nbdi_transport *inner;
  gnutls_session_t session;
  gnutls_certificate_credentials_t x509;
  gnutls_psk_client_credentials_t psk;
  char *hostname;               /* GnuTLS keeps only the pointer */
  bool handshake_done;
  /* Passed to the inner send by the push hook: whether more records
   * follow at once (lets the kernel fill segments). */
  bool more;
  int io_errno;                 /* the inner transport's last failure */
  /* Plaintext bytes of the record GnuTLS holds after GNUTLS_E_AGAIN,
   * not yet reported as accepted. */
  size_t inflight;
  /* The end of the stream (rx_end) or a failure (rx_errno) met by a
   * recv that still had data to return: every later recv reports it.
   * rx_unreported until one has, so pending() sends the caller back. */
  bool rx_end;
  int rx_errno;
  bool rx_unreported;
  int tx_errno;                 /* likewise, met by a send after progress */
  /* Small pieces of the caller's iovecs are gathered here, so a
   * request header and its payload share a record. */
  unsigned char stage[RECORD_MAX];
};

static void __attribute__ ((format (printf, 3, 4)))
set_msg (char *msg, size_t msglen, const char *fmt, ...)
{
  va_list ap;

  if (msglen == 0)
    return;
  va_start (ap, fmt);
  vsnprintf (msg, msglen, fmt, ap);
  va_end (ap);
}

/* ---- the hooks GnuTLS does its I/O through ------------------------------ */

/* Hand the inner transport's failure to GnuTLS: EAGAIN becomes
 * GNUTLS_E_AGAIN, anything else a push/pull error whose errno we keep
 * for the caller. */
static void
hook_failed (struct tls *s, int e)
{
  if (e != EAGAIN && e != EWOULDBLOCK)
    s->io_errno = e;
  gnutls_transport_set_errno (s->session, e);
}

static ssize_t
vec_push (gnutls_transport_ptr_t p, const giovec_t *iov, int iovcnt)
{
  struct tls *s = p;
  ssize_t r = s->inner->ops->send (s->inner, iov, iovcnt, s->more);

  if (r == -1)
    hook_failed (s, errno);
  return r;
}

static ssize_t
push (gnutls_transport_ptr_t p, const void *buf, size_t len)
{
  giovec_t iov = { .iov_base = (void *) buf, .iov_len = len };

  return vec_push (p, &iov, 1);
}

static ssize_t
pull (gnutls_transport_ptr_t p, void *buf, size_t len)
{
  struct tls *s = p;
  struct iovec iov = { .iov_base = buf, .iov_len = len };
  ssize_t r = s->inner->ops->recv (s->inner, &iov, 1, NBDI_WAIT_NONE);

  if (r == -1)
    hook_failed (s, errno);
  return r;
}

/* GnuTLS asks for this only to enforce timeouts, which a non-blocking
 * session does not use; it must still exist with custom pull hooks.
 * Waiting for readability is all it does: no I/O on the fd. */
static int
pull_timeout (gnutls_transport_ptr_t p, unsigned int ms)
{
  struct tls *s = p;
  struct pollfd pfd = { .fd = s->t.fd, .events = POLLIN };
  int timeout, r;

  if (s->inner->ops->pending (s->inner))
    return 1;
  if (ms == GNUTLS_INDEFINITE_TIMEOUT)
    timeout = -1;
  else
    timeout = ms > INT_MAX ? INT_MAX : (int) ms;
  do
    r = poll (&pfd, 1, timeout);
  while (r == -1 && errno == EINTR);
  if (r == -1)
    hook_failed (s, errno);
  return r;
}

/* ---- the transport ops --------------------------------------------------- */

/* errno for a GnuTLS failure in recv or send. */
static int
io_error (struct tls *s, int r)
{
  switch (r) {
  case GNUTLS_E_PUSH_ERROR:
  case GNUTLS_E_PULL_ERROR:
    return s->io_errno ? s->io_errno : EIO;
  case GNUTLS_E_FATAL_ALERT_RECEIVED:
    /* The server gave up on the connection. */
    return ECONNRESET;
  default:
    return EIO;
  }
}

static ssize_t
tls_recv (struct nbdi_transport *t, const struct iovec *iov, int iovcnt,
          enum nbdi_wait wait)
{
  struct tls *s = (struct tls *) t;
  char *buf = iov[0].iov_base;
  size_t len = iov[0].iov_len, got = 0;

  (void) iovcnt;                /* not raw: the driver passes one buffer */
  (void) wait;                  /* ... and never asks to wait */

  s->rx_unreported = false;
  if (s->rx_end)
    return 0;
  if (s->rx_errno) {
    errno = s->rx_errno;
    return -1;
  }
  /* Each call yields at most one record; keep going while there is
   * room, so one recv takes in what has arrived, as a socket's would. */
  while (got < len) {
    ssize_t r = gnutls_record_recv (s->session, (char *) buf + got, len - got);

    if (r > 0) {
      got += r;
      continue;
    }
    switch (r) {
    case GNUTLS_E_INTERRUPTED:
    case GNUTLS_E_WARNING_ALERT_RECEIVED:
      continue;
    case GNUTLS_E_REHANDSHAKE:
      /* A TLS 1.2 server asking to renegotiate: a client may decline
       * by carrying on, and NBD has no use for renegotiation. */
      continue;
    case GNUTLS_E_AGAIN:
      if (got > 0)
        return got;
      errno = EAGAIN;
      return -1;
    case 0:
    case GNUTLS_E_PREMATURE_TERMINATION:
      /* close_notify, or the server closing without it: many servers
       * do, and NBD's own framing tells a truncated reply anyway. */
      if (got > 0) {
        s->rx_end = s->rx_unreported = true;
        return got;
      }
      return 0;
    default:
      if (got > 0) {
        s->rx_errno = io_error (s, r);
        s->rx_unreported = true;
        return got;
      }
      errno = io_error (s, r);
      return -1;
    }
  }
  return got;
}

/* A position in an iovec array. */
struct cursor {
  const struct iovec *iov;
  int cnt;
  int i;
  size_t off;
};

static void
cursor_advance (struct cursor *c, size_t n)
{
  while (n > 0 && c->i < c->cnt) {
    size_t left = c->iov[c->i].iov_len - c->off;
    if (n < left) {
      c->off += n;
      return;
    }
    n -= left;
    c->i++;
    c->off = 0;
  }
  while (c->i < c->cnt && c->iov[c->i].iov_len == 0)
    c->i++;
}

/* The next record's plaintext starting at c, at most max bytes: the
 * caller's own memory when one iovec holds it all, else gathered into
 * the stage.  c is not moved. */
static const void *
next_record (struct tls *s, const struct cursor *c, size_t max, size_t *n)
{
  const struct iovec *v = &c->iov[c->i];
  size_t avail = v->iov_len - c->off;
  struct cursor g = *c;
  size_t len = 0;

  if (avail >= max || c->i == c->cnt - 1) {
    *n = avail < max ? avail : max;
    return (const char *) v->iov_base + c->off;
  }
  while (len < max && g.i < g.cnt) {
    size_t take = g.iov[g.i].iov_len - g.off;
    if (take > max - len)
      take = max - len;
    memcpy (s->stage + len, (const char *) g.iov[g.i].iov_base + g.off, take);
    len += take;
    cursor_advance (&g, take);
  }
  *n = len;
  return s->stage;
}

static ssize_t
tls_send (struct nbdi_transport *t, const struct iovec *iov, int iovcnt,
          bool more)
{
  struct tls *s = (struct tls *) t;
  struct cursor c = { .iov = iov, .cnt = iovcnt };
  size_t total = 0, done = 0, max;
  ssize_t r;
  int i;

  if (s->tx_errno) {
    errno = s->tx_errno;
    return -1;
  }
  for (i = 0; i < iovcnt; i++)
    total += iov[i].iov_len;
  if (total == 0)
    return 0;
  cursor_advance (&c, 0);

  if (s->inflight) {
    /* Finish the record GnuTLS holds; it is the start of what the
     * caller offers now, since the caller was told nothing of it was
     * accepted.  Fewer bytes than that means the caller broke the
     * stream: refuse rather than corrupt it. */
    if (total < s->inflight) {
      errno = EINVAL;
      return -1;
    }
    s->more = more || total > s->inflight;
    r = gnutls_record_send (s->session, NULL, 0);
    if (r == GNUTLS_E_AGAIN || r == GNUTLS_E_INTERRUPTED) {
      errno = EAGAIN;
      return -1;
    }
    if (r < 0) {
      errno = io_error (s, r);
      return -1;
    }
    s->inflight = 0;
    done = (size_t) r;
    cursor_advance (&c, done);
  }

  /* Extensions can shrink records below the usual 16 KiB. */
  max = gnutls_record_get_max_size (s->session);
  if (max == 0 || max > RECORD_MAX)
    max = RECORD_MAX;

  while (done < total) {
    size_t n;
    const void *p = next_record (s, &c, max, &n);

    s->more = more || done + n < total;
    r = gnutls_record_send (s->session, p, n);
    if (r == GNUTLS_E_AGAIN || r == GNUTLS_E_INTERRUPTED) {
      s->inflight = n;
      break;
    }
    if (r < 0) {
      if (done > 0) {
        s->tx_errno = io_error (s, r);
        break;
      }
      errno = io_error (s, r);
      return -1;
    }
    done += (size_t) r;
    cursor_advance (&c, (size_t) r);
  }
  if (done == 0) {
    errno = EAGAIN;
    return -1;
  }
  return done;
}

static bool
tls_pending (struct nbdi_transport *t)
{
  struct tls *s = (struct tls *) t;

  /* Decrypted bytes GnuTLS holds, or an end a recv has still to
   * report: either way poll() would not wake the caller for them. */
  return gnutls_record_check_pending (s->session) > 0 || s->rx_unreported;
}

static int
tls_shutdown (struct nbdi_transport *t)
{
  struct tls *s = (struct tls *) t;

  /* close_notify is a courtesy: when the socket cannot take it at
   * once it is dropped, since shutdown must not wait. */
  if (s->handshake_done) {
    s->more = false;
    gnutls_bye (s->session, GNUTLS_SHUT_WR);
  }
  return s->inner->ops->shutdown (s->inner);
}

/* Frees everything but the inner transport. */
static void
tls_free (struct tls *s)
{
  if (s->session)
    gnutls_deinit (s->session);
  /* Credentials only after the session that points to them. */
  if (s->x509)
    gnutls_certificate_free_credentials (s->x509);
  if (s->psk)
    gnutls_psk_free_client_credentials (s->psk);
  free (s->hostname);
  free (s);
}

static void
tls_close (struct nbdi_transport *t)
{
  struct tls *s = (struct tls *) t;
  struct nbdi_transport *inner = s->inner;

  tls_free (s);
  inner->ops->close (inner);
}

static const struct nbdi_transport_ops tls_ops = {
  .recv = tls_recv,
  .send = tls_send,
  .pending = tls_pending,
  .shutdown = tls_shutdown,
  .close = tls_close,
};

/* ---- credentials --------------------------------------------------------- */

/* The PSK identity when none is set: the same order as
 * nbd_get_tls_username, so what the getter shows is what is used. */
static char *
current_user (void)
{
  const char *env = getenv ("LOGNAME");
  char login[256];
  struct passwd pw, *result = NULL;
  char buf[4096];

  if (env && *env)
    return strdup (env);
  if (getlogin_r (login, sizeof login) == 0)
    return strdup (login);
  if (getpwuid_r (geteuid (), &pw, buf, sizeof buf, &result) == 0 && result)
    return strdup (result->pw_name);
  return NULL;
}

static int
hex_value (int c)
{
  if (c >= '0' && c <= '9')
    return c - '0';
  if (c >= 'a' && c <= 'f')
    return c - 'a' + 10;
  if (c >= 'A' && c <= 'F')
    return c - 'A' + 10;
  return -1;
}

/* Decode hex into key (room for strlen (hex) / 2 bytes); -1 if hex is
 * empty, odd or not hex. */
static ssize_t
hex_decode (const char *hex, unsigned char *key)
{
  size_t len = strlen (hex), i;

  if (len == 0 || len % 2 != 0)
    return -1;
  for (i = 0; i < len; i += 2) {
    int hi = hex_value ((unsigned char) hex[i]);
    int lo = hex_value ((unsigned char) hex[i + 1]);
    if (hi < 0 || lo < 0)
      return -1;
    key[i / 2] = (unsigned char) (hi << 4 | lo);
  }
  return (ssize_t) (len / 2);
}

static int
load_psk (struct tls *s, const struct nbdi_tls_config *cfg,
          int *err, char *msg, size_t msglen)
{
  char *user = cfg->username ? strdup (cfg->username) : current_user ();
  FILE *fp = NULL;
  char *line = NULL;
  size_t cap = 0, ulen;
  ssize_t len;
  unsigned char *key = NULL;
  size_t keycap = 0;
  ssize_t keylen;
  bool found = false;
  int r, ret = -1;

  if (user == NULL) {
    *err = cfg->username ? ENOMEM : ENOENT;
    set_msg (msg, msglen, "%s", cfg->username ? strerror (ENOMEM)
             : "cannot find the name of the current user for the PSK identity");
    return -1;
  }
  ulen = strlen (user);
  fp = fopen (cfg->psk_file, "re");
  if (fp == NULL) {
    *err = errno;
    set_msg (msg, msglen, "PSK file %s: %s", cfg->psk_file, strerror (errno));
    goto out;
  }
  while ((len = getline (&line, &cap, fp)) != -1) {
    while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r'))
      line[--len] = '\0';
    if ((size_t) len > ulen && line[ulen] == ':'
        && memcmp (line, user, ulen) == 0) {
      found = true;
      break;
    }
  }
  if (ferror (fp)) {
    *err = errno;
    set_msg (msg, msglen, "PSK file %s: %s", cfg->psk_file, strerror (errno));
    goto out;
  }
  if (!found) {
    *err = ENOENT;
    set_msg (msg, msglen, "PSK file %s has no key for user \"%s\"",
             cfg->psk_file, user);
    goto out;
  }
  keycap = strlen (line + ulen + 1) / 2 + 1;
  key = malloc (keycap);
  if (key == NULL) {
    *err = errno;
    set_msg (msg, msglen, "%s", strerror (errno));
    goto out;
  }
  keylen = hex_decode (line + ulen + 1, key);
  if (keylen == -1) {
    *err = EINVAL;
    set_msg (msg, msglen, "PSK file %s: the key for user \"%s\" is not a hex string",
             cfg->psk_file, user);
    goto out;
  }

  r = gnutls_psk_allocate_client_credentials (&s->psk);
  if (r == GNUTLS_E_SUCCESS) {
    gnutls_datum_t datum = { .data = key, .size = (unsigned) keylen };
    r = gnutls_psk_set_client_credentials (s->psk, user, &datum,
                                           GNUTLS_PSK_KEY_RAW);
  }
  if (r == GNUTLS_E_SUCCESS)
    r = gnutls_credentials_set (s->session, GNUTLS_CRD_PSK, s->psk);
  if (r != GNUTLS_E_SUCCESS) {
    *err = r == GNUTLS_E_MEMORY_ERROR ? ENOMEM : EINVAL;
    set_msg (msg, msglen, "PSK credentials: %s", gnutls_strerror (r));
    goto out;
  }
  ret = 0;

 out:
  /* The key should not linger in freed memory. */
  if (line)
    gnutls_memset (line, 0, cap);
  free (line);
  if (key)
    gnutls_memset (key, 0, keycap);
  free (key);
  if (fp)
    fclose (fp);
  free (user);
  return ret;
}

/* dir/name, or NULL (errno ENOMEM). */
static char *
path_in (const char *dir, const char *name)
{
  char *path;

  if (asprintf (&path, "%s/%s", dir, name) == -1)
    return NULL;
  return path;
}

static bool
exists (const char *path)
{
  return access (path, F_OK) == 0;
}

static int
load_x509 (struct tls *s, const struct nbdi_tls_config *cfg,
           int *err, char *msg, size_t msglen)
{
  const char *dir = cfg->certificates;
  char *ca = NULL, *crl = NULL, *cert = NULL, *key = NULL;
  bool have_ca = false;
  struct stat st;
  int r, ret = -1;

  r = gnutls_certificate_allocate_credentials (&s->x509);
  if (r != GNUTLS_E_SUCCESS) {
    *err = ENOMEM;
    set_msg (msg, msglen, "certificate credentials: %s", gnutls_strerror (r));
    return -1;
  }

  if (dir) {
    int e = stat (dir, &st) == -1 ? errno : !S_ISDIR (st.st_mode) ? ENOTDIR : 0;

    if (e) {
      *err = e;
      set_msg (msg, msglen, "certificates directory %s: %s", dir, strerror (e));
      return -1;
    }
    ca = path_in (dir, "ca-cert.pem");
    crl = path_in (dir, "ca-crl.pem");
    cert = path_in (dir, "client-cert.pem");
    key = path_in (dir, "client-key.pem");
    if (!ca || !crl || !cert || !key) {
      *err = ENOMEM;
      set_msg (msg, msglen, "%s", strerror (ENOMEM));
      goto out;
    }
    if (exists (ca)) {
      r = gnutls_certificate_set_x509_trust_file (s->x509, ca, GNUTLS_X509_FMT_PEM);
      if (r <= 0) {
        *err = EINVAL;
        set_msg (msg, msglen, "%s: %s", ca,
                 r == 0 ? "no certificates found" : gnutls_strerror (r));
        goto out;
      }
      have_ca = true;
    }
    if (exists (crl)) {
      r = gnutls_certificate_set_x509_crl_file (s->x509, crl, GNUTLS_X509_FMT_PEM);
      if (r < 0) {
        *err = EINVAL;
        set_msg (msg, msglen, "%s: %s", crl, gnutls_strerror (r));
        goto out;
      }
    }
    /* A certificate without its key (or the reverse) is a mistake in
     * the directory; going on without either would only show up as a
     * puzzling refusal by a server that wants client certificates. */
    if (exists (cert) != exists (key)) {
      *err = ENOENT;
      set_msg (msg, msglen, "%s without %s", exists (cert) ? cert : key,
               exists (cert) ? key : cert);
      goto out;
    }
    if (exists (cert)) {
      r = gnutls_certificate_set_x509_key_file (s->x509, cert, key,
                                                GNUTLS_X509_FMT_PEM);
      if (r < 0) {
        *err = EINVAL;
        set_msg (msg, msglen, "%s, %s: %s", cert, key, gnutls_strerror (r));
        goto out;
      }
    }
  }
  /* Without a CA of our own, trust the system's.  A system with no
   * trust store is not an error here: verification will say so, and
   * without verify_peer nothing needs it. */
  if (!have_ca)
    gnutls_certificate_set_x509_system_trust (s->x509);

  r = gnutls_credentials_set (s->session, GNUTLS_CRD_CERTIFICATE, s->x509);
  if (r != GNUTLS_E_SUCCESS) {
    *err = EINVAL;
    set_msg (msg, msglen, "certificate credentials: %s", gnutls_strerror (r));
    goto out;
  }
  ret = 0;

 out:
  free (ca);
  free (crl);
  free (cert);
  free (key);
  return ret;
}

/* ---- wrap and handshake -------------------------------------------------- */

/* SNI carries DNS names only (RFC 6066), never address literals. */
static bool
is_ip_literal (const char *host)
{
  unsigned char addr[sizeof (struct in6_addr)];

  return inet_pton (AF_INET, host, addr) == 1
    || inet_pton (AF_INET6, host, addr) == 1
    || (host[0] == '[' && strchr (host, ']'));
}

/* Whether GnuTLS ranks AES-GCM above ChaCha20, which it does when AES
 * runs in hardware (there several times faster).
 *
 * This matters for PSK under TLS 1.3: a PSK is tied to SHA-256, which
 * excludes GnuTLS's first choice (AES-256-GCM with SHA-384) and leaves
 * ChaCha20 next in line, ahead of AES-128-GCM.  With the default
 * priority we move ChaCha20 behind it, keeping GnuTLS's own judgement
 * of which is faster; a priority string the user set is left alone. */
static bool
aes_is_fast (void)
{
  gnutls_priority_t p;
  const unsigned int *list;
  int n, i, aes = -1, chacha = -1;

  if (gnutls_priority_init (&p, "NORMAL", NULL) != GNUTLS_E_SUCCESS)
    return false;
  n = gnutls_priority_cipher_list (p, &list);
  for (i = 0; i < n; i++) {
    if (list[i] == GNUTLS_CIPHER_AES_256_GCM && aes < 0)
      aes = i;
    if (list[i] == GNUTLS_CIPHER_CHACHA20_POLY1305 && chacha < 0)
      chacha = i;
  }
  gnutls_priority_deinit (p);
  return aes >= 0 && chacha >= 0 && aes < chacha;
}

struct nbdi_transport *
nbdi_tls_wrap (struct nbdi_transport *inner, const struct nbdi_tls_config *cfg,
               int *err, char *msg, size_t msglen)
{
  struct tls *s;
  const char *base = cfg->priority ? cfg->priority : "NORMAL";
  char *priority = NULL;
  const char *where = NULL;
  int r;

  s = calloc (1, sizeof *s);
  if (s == NULL) {
    *err = errno;
    set_msg (msg, msglen, "%s", strerror (errno));
    return NULL;
  }
  s->t = (struct nbdi_transport) { .ops = &tls_ops, .fd = inner->fd };
  s->inner = inner;

  r = gnutls_init (&s->session, GNUTLS_CLIENT | GNUTLS_NONBLOCK);
  if (r != GNUTLS_E_SUCCESS) {
    s->session = NULL;
    *err = ENOMEM;
    set_msg (msg, msglen, "gnutls_init: %s", gnutls_strerror (r));
    goto fail;
  }

  /* PSK key exchanges are not in GnuTLS's default sets: add them when
   * a PSK file is what we authenticate with (and, by default, put
   * AES-128-GCM ahead of ChaCha20: see aes_is_fast). */
  if (asprintf (&priority, "%s%s%s", base,
                cfg->psk_file && cfg->priority == NULL && aes_is_fast ()
                ? ":-CHACHA20-POLY1305:+CHACHA20-POLY1305" : "",
                cfg->psk_file ? ":+ECDHE-PSK:+DHE-PSK:+PSK" : "") == -1) {
    priority = NULL;
    *err = ENOMEM;
    set_msg (msg, msglen, "%s", strerror (ENOMEM));
    goto fail;
  }
  r = gnutls_priority_set_direct (s->session, priority, &where);
  if (r != GNUTLS_E_SUCCESS) {
    /* Point into the caller's string, not at our PSK additions. */
    size_t at = where && where >= priority && where < priority + strlen (base)
      ? (size_t) (where - priority) : 0;

    *err = EINVAL;
    set_msg (msg, msglen, "invalid TLS priority string \"%s\" near \"%s\"",
             base, base + at);
    goto fail;
  }

  if (cfg->psk_file) {
    if (load_psk (s, cfg, err, msg, msglen) == -1)
      goto fail;
  }
  else {
    if (load_x509 (s, cfg, err, msg, msglen) == -1)
      goto fail;
    if (cfg->hostname && *cfg->hostname) {
      s->hostname = strdup (cfg->hostname);
      if (s->hostname == NULL) {
        *err = ENOMEM;
        set_msg (msg, msglen, "%s", strerror (ENOMEM));
        goto fail;
      }
      if (!is_ip_literal (s->hostname)) {
        r = gnutls_server_name_set (s->session, GNUTLS_NAME_DNS, s->hostname,
                                    strlen (s->hostname));
        if (r != GNUTLS_E_SUCCESS) {
          *err = EINVAL;
          set_msg (msg, msglen, "server name %s: %s", s->hostname,
                   gnutls_strerror (r));
          goto fail;
        }
      }
    }
    /* Without a hostname only the chain is checked: still proves the
     * server holds a certificate from a CA we trust. */
    if (cfg->verify_peer)
      gnutls_session_set_verify_cert (s->session, s->hostname, 0);
  }

  gnutls_transport_set_ptr (s->session, s);
  gnutls_transport_set_push_function (s->session, push);
  gnutls_transport_set_vec_push_function (s->session, vec_push);
  gnutls_transport_set_pull_function (s->session, pull);
  gnutls_transport_set_pull_timeout_function (s->session, pull_timeout);
  /* The caller keeps its own time; GnuTLS's clock would only fire at
   * the wrong moment in a non-blocking handshake. */
  gnutls_handshake_set_timeout (s->session, 0);

  free (priority);
  return &s->t;

 fail:
  free (priority);
  tls_free (s);
  return NULL;
}

/* Alerts that mean "not you": wrong key, unknown identity, a
 * certificate the server would not take. */
static bool
is_auth_alert (gnutls_alert_description_t a)
{
  switch (a) {
  case GNUTLS_A_UNKNOWN_PSK_IDENTITY:
  case GNUTLS_A_ACCESS_DENIED:
  case GNUTLS_A_BAD_CERTIFICATE:
  case GNUTLS_A_UNSUPPORTED_CERTIFICATE:
  case GNUTLS_A_CERTIFICATE_REVOKED:
  case GNUTLS_A_CERTIFICATE_EXPIRED:
  case GNUTLS_A_CERTIFICATE_UNKNOWN:
  case GNUTLS_A_UNKNOWN_CA:
  case GNUTLS_A_DECRYPT_ERROR:
  case GNUTLS_A_CERTIFICATE_REQUIRED:
    return true;
  default:
    return false;
  }
}

int
nbdi_tls_handshake (struct nbdi_transport *t, bool *want_write,
                    int *err, char *msg, size_t msglen)
{
  struct tls *s = (struct tls *) t;
  int r;

  if (s->handshake_done)
    return 1;
  s->more = false;
  do
    r = gnutls_handshake (s->session);
  while (r == GNUTLS_E_WARNING_ALERT_RECEIVED);

  if (r == GNUTLS_E_SUCCESS) {
    s->handshake_done = true;
    return 1;
  }
  if (r == GNUTLS_E_AGAIN || r == GNUTLS_E_INTERRUPTED) {
    *want_write = gnutls_record_get_direction (s->session) == 1;
    return 0;
  }

  switch (r) {
  case GNUTLS_E_CERTIFICATE_VERIFICATION_ERROR: {
    unsigned status = gnutls_session_get_verify_cert_status (s->session);
    gnutls_datum_t text = { NULL, 0 };

    *err = EACCES;
    if (gnutls_certificate_verification_status_print (status, GNUTLS_CRT_X509,
                                                      &text, 0) == GNUTLS_E_SUCCESS) {
      size_t len = strlen ((char *) text.data);

      /* GnuTLS ends each sentence with a space. */
      while (len > 0 && text.data[len - 1] == ' ')
        text.data[--len] = '\0';
      set_msg (msg, msglen, "server certificate verification failed: %s",
               (char *) text.data);
      gnutls_free (text.data);
    }
    else
      set_msg (msg, msglen, "server certificate verification failed");
    break;
  }
  case GNUTLS_E_FATAL_ALERT_RECEIVED: {
    gnutls_alert_description_t a = gnutls_alert_get (s->session);
    const char *name = gnutls_alert_get_name (a);

    *err = is_auth_alert (a) ? EACCES : EPROTO;
    set_msg (msg, msglen, "%s: %s", gnutls_strerror (r), name ? name : "unknown alert");
    break;
  }
  case GNUTLS_E_PUSH_ERROR:
  case GNUTLS_E_PULL_ERROR:
    *err = s->io_errno ? s->io_errno : EIO;
    set_msg (msg, msglen, "%s: %s", gnutls_strerror (r), strerror (*err));
    break;
  case GNUTLS_E_PREMATURE_TERMINATION:
    /* Servers often just hang up on a client they refuse (nbdkit does
     * with a PSK it cannot match), so name the likely cause. */
    *err = ECONNRESET;
    set_msg (msg, msglen, "the server closed the connection during the handshake%s",
             s->psk ? " (is the PSK username and key one the server has?)"
             : s->x509 ? " (does the server require a client certificate?)" : "");
    break;
  default:
    *err = EPROTO;
    set_msg (msg, msglen, "%s", gnutls_strerror (r));
    break;
  }
  return -1;
}
