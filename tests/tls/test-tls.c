/* The TLS transport against a real TLS server: nbdkit.
 *
 *   test-tls psk    PSK: handshake, NBD_OPT_GO and data both ways over
 *                   TLS 1.3 and 1.2, through a socket with a tiny send
 *                   buffer and through an inner transport that makes
 *                   GnuTLS see short writes and EAGAIN at every turn;
 *                   wrong key, unknown user, bad files and priorities.
 *   test-tls x509   certificates made with certtool: CA checks, host
 *                   names, a server that wants client certificates.
 *
 * The program speaks just enough NBD itself (newstyle greeting,
 * STARTTLS, GO, simple replies) to need nothing but the transport
 * sources.  Exits 77 (skip) when nbdkit, or certtool for x509, is
 * missing. */
#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "test.h"
#include "transport/tls.h"
#include "transport/transport.h"

#define NBD_MAGIC          UINT64_C (0x4e42444d41474943)
#define NBD_IHAVEOPT       UINT64_C (0x49484156454F5054)
#define NBD_REP_MAGIC      UINT64_C (0x3e889045565a9)
#define NBD_OPT_GO         7
#define NBD_OPT_STARTTLS   5
#define NBD_REP_ACK        1
#define NBD_REP_INFO       3
#define NBD_INFO_EXPORT    0
#define NBD_REQUEST_MAGIC  0x25609513
#define NBD_REPLY_MAGIC    0x67446698
#define NBD_CMD_READ       0
#define NBD_CMD_WRITE      1
#define NBD_CMD_DISC       2

#define DISK_SIZE (1024 * 1024)
#define TIMEOUT_MS 20000

static char tmpdir[64];
static pid_t servers[4];
static int nservers;

/* Check a failed wrap/handshake: its errno, and a message containing
 * want (when non-NULL). */
#define CHECK_FAILURE(err, msg, want_err, want) \
  check_failure (__LINE__, (err), (msg), (want_err), (want))

static void
check_failure (int line, int err, const char *msg, int want_err,
               const char *want)
{
  printf ("   -> err %d (%s), \"%s\"\n", err, strerror (err), msg);
  test_count ();
  if (err != want_err || msg[0] == '\0'
      || (want != NULL && strstr (msg, want) == NULL)) {
    test_report (__FILE__, line, "wanted err %d (%s) and a message with \"%s\"",
                 want_err, strerror (want_err), want ? want : "");
  }
}

static void
section (const char *name)
{
  printf ("== %s\n", name);
  fflush (stdout);
}

static void
cleanup (void)
{
  char cmd[128];
  int i;

  for (i = 0; i < nservers; i++) {
    kill (servers[i], SIGTERM);
    waitpid (servers[i], NULL, 0);
  }
  nservers = 0;
  if (tmpdir[0]) {
    snprintf (cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
    if (system (cmd) != 0)
      fprintf (stderr, "could not remove %s\n", tmpdir);
    tmpdir[0] = '\0';
  }
}

static void __attribute__ ((noreturn, format (printf, 1, 2)))
die (const char *fmt, ...)
{
  va_list ap;

  va_start (ap, fmt);
  fprintf (stderr, "FATAL: ");
  vfprintf (stderr, fmt, ap);
  fprintf (stderr, "\n");
  va_end (ap);
  exit (1);
}

static void
write_file (const char *name, const char *content)
{
  char path[256];
  FILE *fp;

  snprintf (path, sizeof path, "%s/%s", tmpdir, name);
  fp = fopen (path, "w");
  if (fp == NULL || fputs (content, fp) == EOF || fclose (fp) == EOF)
    die ("%s: %s", path, strerror (errno));
}

static long
now_ms (void)
{
  struct timespec ts;

  clock_gettime (CLOCK_MONOTONIC, &ts);
  return ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Run nbdkit with args (NULL-terminated, after the socket) serving a
 * 1 MiB memory disk on sock; wait until it listens. */
static void
start_nbdkit (const char *sock, ...)
{
  const char *argv[32];
  int argc = 0;
  va_list ap;
  pid_t pid;
  long deadline = now_ms () + TIMEOUT_MS;
  const char *a;

  argv[argc++] = "nbdkit";
  argv[argc++] = "--exit-with-parent";
  argv[argc++] = "-f";
  argv[argc++] = "-U";
  argv[argc++] = sock;
  va_start (ap, sock);
  while ((a = va_arg (ap, const char *)) != NULL)
    argv[argc++] = a;
  va_end (ap);
  argv[argc++] = "memory";
  argv[argc++] = "1M";
  argv[argc] = NULL;

  pid = fork ();
  if (pid == -1)
    die ("fork: %s", strerror (errno));
  if (pid == 0) {
    execvp ("nbdkit", (char **) argv);
    _exit (127);
  }
  servers[nservers++] = pid;
  while (access (sock, F_OK) == -1) {
    int status;
    if (waitpid (pid, &status, WNOHANG) == pid) {
      nservers--;
      die ("nbdkit exited early (status %d)", status);
    }
    if (now_ms () > deadline)
      die ("nbdkit did not create %s", sock);
    usleep (10000);
  }
}

/* ---- plain-text NBD up to STARTTLS ---- */

static void
read_full (int fd, void *buf, size_t len)
{
  size_t got = 0;

  while (got < len) {
    ssize_t r = read (fd, (char *) buf + got, len - got);
    if (r <= 0)
      die ("read: %s", r == 0 ? "end of file" : strerror (errno));
    got += r;
  }
}

static void
write_full (int fd, const void *buf, size_t len)
{
  if (write (fd, buf, len) != (ssize_t) len)
    die ("write: %s", strerror (errno));
}

/* Connect to sock, do the newstyle greeting and STARTTLS; the
 * non-blocking socket, ready for the TLS handshake. */
static int
connect_starttls (const char *sock, int sndbuf)
{
  struct sockaddr_un addr = { .sun_family = AF_UNIX };
  unsigned char greeting[18], reply[20], opt[16];
  uint32_t flags = htobe32 (3);       /* FIXED_NEWSTYLE | NO_ZEROES */
  uint64_t u64;
  uint32_t u32;
  int fd;

  fd = socket (AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd == -1)
    die ("socket: %s", strerror (errno));
  /* A tiny send buffer makes sure big writes meet EAGAIN midway. */
  if (sndbuf > 0)
    setsockopt (fd, SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof sndbuf);
  snprintf (addr.sun_path, sizeof addr.sun_path, "%s", sock);
  if (connect (fd, (struct sockaddr *) &addr, sizeof addr) == -1)
    die ("connect %s: %s", sock, strerror (errno));

  read_full (fd, greeting, sizeof greeting);
  memcpy (&u64, greeting, 8);
  if (be64toh (u64) != NBD_MAGIC)
    die ("no NBDMAGIC");
  memcpy (&u64, greeting + 8, 8);
  if (be64toh (u64) != NBD_IHAVEOPT)
    die ("not a newstyle server");
  write_full (fd, &flags, 4);

  u64 = htobe64 (NBD_IHAVEOPT);
  memcpy (opt, &u64, 8);
  u32 = htobe32 (NBD_OPT_STARTTLS);
  memcpy (opt + 8, &u32, 4);
  memset (opt + 12, 0, 4);
  write_full (fd, opt, sizeof opt);

  read_full (fd, reply, sizeof reply);
  memcpy (&u64, reply, 8);
  CHECK (be64toh (u64) == NBD_REP_MAGIC);
  memcpy (&u32, reply + 8, 4);
  CHECK (be32toh (u32) == NBD_OPT_STARTTLS);
  memcpy (&u32, reply + 12, 4);
  if (be32toh (u32) != NBD_REP_ACK)
    die ("STARTTLS refused: reply type 0x%x", be32toh (u32));

  fcntl (fd, F_SETFL, fcntl (fd, F_GETFL) | O_NONBLOCK);
  return fd;
}

/* ---- an inner transport that makes every write short and fails
 * every third call with EAGAIN, for GnuTLS's retry paths ---- */

struct flaky {
  struct nbdi_transport t;
  struct nbdi_transport *real;
  unsigned calls;
};

static unsigned flaky_eagains;

static ssize_t
flaky_recv (struct nbdi_transport *t, const struct iovec *iov, int iovcnt,
            enum nbdi_wait wait)
{
  struct flaky *f = (struct flaky *) t;
  struct iovec cut = iov[0];

  (void) iovcnt;
  if (++f->calls % 3 == 0) {
    flaky_eagains++;
    errno = EAGAIN;
    return -1;
  }
  if (cut.iov_len > 777)
    cut.iov_len = 777;
  return f->real->ops->recv (f->real, &cut, 1, wait);
}

/* One receive into one buffer, never waiting. */
static ssize_t
recv_one (struct nbdi_transport *t, void *buf, size_t len)
{
  struct iovec iov = { .iov_base = buf, .iov_len = len };

  return t->ops->recv (t, &iov, 1, false);
}

static ssize_t
flaky_send (struct nbdi_transport *t, const struct iovec *iov, int iovcnt,
            bool more)
{
  struct flaky *f = (struct flaky *) t;
  struct iovec cut[64];
  size_t room = 1000;
  int i, n = 0;

  if (++f->calls % 3 == 0) {
    flaky_eagains++;
    errno = EAGAIN;
    return -1;
  }
  for (i = 0; i < iovcnt && n < 64 && room > 0; i++) {
    cut[n] = iov[i];
    if (cut[n].iov_len > room)
      cut[n].iov_len = room;
    room -= cut[n].iov_len;
    n++;
  }
  return f->real->ops->send (f->real, cut, n, more);
}

static bool
flaky_pending (struct nbdi_transport *t)
{
  struct flaky *f = (struct flaky *) t;
  return f->real->ops->pending (f->real);
}

static int
flaky_shutdown (struct nbdi_transport *t)
{
  struct flaky *f = (struct flaky *) t;
  return f->real->ops->shutdown (f->real);
}

static void
flaky_close (struct nbdi_transport *t)
{
  struct flaky *f = (struct flaky *) t;
  f->real->ops->close (f->real);
  free (f);
}

static const struct nbdi_transport_ops flaky_ops = {
  .recv = flaky_recv, .send = flaky_send, .pending = flaky_pending,
  .shutdown = flaky_shutdown, .close = flaky_close,
};

static struct nbdi_transport *
flaky_new (struct nbdi_transport *real)
{
  struct flaky *f = calloc (1, sizeof *f);

  if (f == NULL)
    die ("calloc");
  f->t = (struct nbdi_transport) { .ops = &flaky_ops, .fd = real->fd };
  f->real = real;
  return &f->t;
}

/* ---- driving the TLS transport ---- */

static unsigned send_eagains;

static bool
wait_fd (int fd, short events, long deadline)
{
  struct pollfd pfd = { .fd = fd, .events = events };
  long left = deadline - now_ms ();

  if (left <= 0)
    return false;
  return poll (&pfd, 1, (int) left) >= 0;
}

/* Run the handshake to the end: 1 done, -1 failed (err, msg set). */
static int
handshake (struct nbdi_transport *t, int *err, char *msg, size_t msglen)
{
  long deadline = now_ms () + TIMEOUT_MS;

  for (;;) {
    bool want_write = false;
    int r = nbdi_tls_handshake (t, &want_write, err, msg, msglen);
    if (r != 0)
      return r;
    if (!wait_fd (t->fd, want_write ? POLLOUT : POLLIN, deadline)) {
      *err = ETIMEDOUT;
      snprintf (msg, msglen, "test: handshake timed out");
      return -1;
    }
  }
}

/* Send all of iov the way the library does: advance by what each call
 * accepted, poll on EAGAIN.  0, or -1 (errno). */
static int
send_all (struct nbdi_transport *t, struct iovec *iov, int iovcnt)
{
  long deadline = now_ms () + TIMEOUT_MS;

  while (iovcnt > 0) {
    ssize_t n = t->ops->send (t, iov, iovcnt, false);
    if (n == -1) {
      if (errno != EAGAIN)
        return -1;
      send_eagains++;
      if (!wait_fd (t->fd, POLLOUT, deadline)) {
        errno = ETIMEDOUT;
        return -1;
      }
      continue;
    }
    CHECK (n > 0);
    while (iovcnt > 0 && (size_t) n >= iov->iov_len) {
      n -= iov->iov_len;
      iov++;
      iovcnt--;
    }
    if (iovcnt > 0) {
      iov->iov_base = (char *) iov->iov_base + n;
      iov->iov_len -= n;
    }
  }
  return 0;
}

/* Receive exactly len bytes.  0, or -1 (errno; 0 for end of stream). */
static int
recv_all (struct nbdi_transport *t, void *buf, size_t len)
{
  long deadline = now_ms () + TIMEOUT_MS;
  size_t got = 0;

  while (got < len) {
    ssize_t n = recv_one (t, (char *) buf + got, len - got);
    if (n > 0) {
      got += n;
      continue;
    }
    if (n == 0) {
      errno = 0;
      return -1;
    }
    if (errno != EAGAIN)
      return -1;
    /* Only what GnuTLS has not decrypted yet is worth a poll. */
    if (t->ops->pending (t))
      continue;
    if (!wait_fd (t->fd, POLLIN, deadline)) {
      errno = ETIMEDOUT;
      return -1;
    }
  }
  return 0;
}

/* NBD_OPT_GO for the default export over the TLS transport; the
 * export size, or -1. */
static int64_t
opt_go (struct nbdi_transport *t)
{
  unsigned char opt[16 + 6] = { 0 };
  uint64_t u64 = htobe64 (NBD_IHAVEOPT), size = 0;
  uint32_t u32;
  struct iovec iov = { opt, sizeof opt };
  bool have_size = false;

  memcpy (opt, &u64, 8);
  u32 = htobe32 (NBD_OPT_GO);
  memcpy (opt + 8, &u32, 4);
  u32 = htobe32 (6);
  memcpy (opt + 12, &u32, 4);   /* name length 0, "" , 0 info requests */
  if (send_all (t, &iov, 1) == -1) {
    fprintf (stderr, "send NBD_OPT_GO: %s\n", strerror (errno));
    return -1;
  }
  for (;;) {
    unsigned char hdr[20], payload[256];
    uint32_t type, len;

    if (recv_all (t, hdr, sizeof hdr) == -1) {
      fprintf (stderr, "recv option reply: %s\n",
               errno ? strerror (errno) : "end of stream");
      return -1;
    }
    memcpy (&u64, hdr, 8);
    CHECK (be64toh (u64) == NBD_REP_MAGIC);
    memcpy (&u32, hdr + 8, 4);
    CHECK (be32toh (u32) == NBD_OPT_GO);
    memcpy (&u32, hdr + 12, 4);
    type = be32toh (u32);
    memcpy (&u32, hdr + 16, 4);
    len = be32toh (u32);
    if (len > sizeof payload) {
      fprintf (stderr, "option reply too long: %u\n", len);
      return -1;
    }
    if (len > 0 && recv_all (t, payload, len) == -1)
      return -1;
    if (type == NBD_REP_ACK)
      break;
    if (type & 0x80000000) {
      fprintf (stderr, "NBD_OPT_GO error reply 0x%x\n", type);
      return -1;
    }
    if (type == NBD_REP_INFO && len >= 12
        && payload[0] == 0 && payload[1] == NBD_INFO_EXPORT) {
      memcpy (&size, payload + 2, 8);
      size = be64toh (size);
      have_size = true;
    }
  }
  CHECK (have_size);
  return have_size ? (int64_t) size : -1;
}

static void
request (unsigned char *req, uint16_t type, uint64_t cookie,
         uint64_t offset, uint32_t len)
{
  uint32_t u32 = htobe32 (NBD_REQUEST_MAGIC);
  uint16_t u16;
  uint64_t u64;

  memcpy (req, &u32, 4);
  memset (req + 4, 0, 2);
  u16 = htobe16 (type);
  memcpy (req + 6, &u16, 2);
  u64 = htobe64 (cookie);
  memcpy (req + 8, &u64, 8);
  u64 = htobe64 (offset);
  memcpy (req + 16, &u64, 8);
  u32 = htobe32 (len);
  memcpy (req + 24, &u32, 4);
}

/* A simple reply with no error: its cookie, or 0. */
static uint64_t
reply_cookie (struct nbdi_transport *t)
{
  unsigned char rep[16];
  uint32_t u32;
  uint64_t u64;

  if (recv_all (t, rep, sizeof rep) == -1) {
    fprintf (stderr, "recv reply: %s\n", errno ? strerror (errno) : "end of stream");
    return 0;
  }
  memcpy (&u32, rep, 4);
  if (be32toh (u32) != NBD_REPLY_MAGIC)
    return 0;
  memcpy (&u32, rep + 4, 4);
  if (u32 != 0)
    return 0;
  memcpy (&u64, rep + 8, 8);
  return be64toh (u64);
}

static bool
reply_ok (struct nbdi_transport *t, uint64_t cookie)
{
  return reply_cookie (t) == cookie;
}

/* Write the whole disk with a pattern, read it back in pipelined
 * chunks, compare; then NBD_CMD_DISC and an orderly shutdown. */
static void
transfer (struct nbdi_transport *t, unsigned seed)
{
  unsigned char *pattern = malloc (DISK_SIZE), *back = malloc (DISK_SIZE);
  unsigned char req[28], reqs[16][28];
  struct iovec iov[20];
  size_t i;
  const size_t chunk = DISK_SIZE / 16;

  if (!pattern || !back)
    die ("malloc");
  for (i = 0; i < DISK_SIZE; i++)
    pattern[i] = (unsigned char) (i * 7 + seed + (i >> 12));

  /* One write, as header + a short piece + the rest, so the transport
   * gathers the first record from three iovecs. */
  request (req, NBD_CMD_WRITE, 1, 0, DISK_SIZE);
  iov[0] = (struct iovec) { req, sizeof req };
  iov[1] = (struct iovec) { pattern, 100 };
  iov[2] = (struct iovec) { pattern + 100, DISK_SIZE - 100 };
  CHECK (send_all (t, iov, 3) == 0);
  CHECK (reply_ok (t, 1));

  /* Sixteen reads in one send: sixteen headers, one record. */
  for (i = 0; i < 16; i++) {
    request (reqs[i], NBD_CMD_READ, 100 + i, i * chunk, chunk);
    iov[i] = (struct iovec) { reqs[i], sizeof reqs[i] };
  }
  CHECK (send_all (t, iov, 16) == 0);
  memset (back, 0, DISK_SIZE);
  /* nbdkit serves requests in parallel: replies come in any order. */
  for (i = 0; i < 16; i++) {
    uint64_t cookie = reply_cookie (t);
    CHECK (cookie >= 100 && cookie < 116);
    if (cookie < 100 || cookie >= 116)
      break;
    CHECK (recv_all (t, back + (cookie - 100) * chunk, chunk) == 0);
  }
  CHECK (memcmp (pattern, back, DISK_SIZE) == 0);

  request (req, NBD_CMD_DISC, 2, 0, 0);
  iov[0] = (struct iovec) { req, sizeof req };
  CHECK (send_all (t, iov, 1) == 0);
  CHECK (t->ops->shutdown (t) == 0);
  /* The server closes after DISC: the stream ends (EOF, not an error). */
  {
    unsigned char c;
    long deadline = now_ms () + TIMEOUT_MS;
    ssize_t n;
    for (;;) {
      n = recv_one (t, &c, 1);
      if (n != -1 || errno != EAGAIN || !wait_fd (t->fd, POLLIN, deadline))
        break;
    }
    CHECK (n == 0);
  }
  free (pattern);
  free (back);
}

/* ---- PSK ---- */

static const char key_good[] =
  "0123456789abcdef0123456789ABCDEF0123456789abcdef0123456789abcdef";
static const char key_bad[] =
  "fedcba9876543210fedcba9876543210fedcba9876543210fedcba9876543210";

/* Connect, STARTTLS, wrap: the TLS transport or NULL (err, msg). */
static struct nbdi_transport *
tls_connect (const char *sock, const struct nbdi_tls_config *cfg, int sndbuf,
             bool flaky, int *err, char *msg, size_t msglen)
{
  int fd = connect_starttls (sock, sndbuf);
  struct nbdi_transport *inner = nbdi_transport_socket (fd), *t;

  if (inner == NULL)
    die ("nbdi_transport_socket: %s", strerror (errno));
  if (flaky)
    inner = flaky_new (inner);
  msg[0] = '\0';
  t = nbdi_tls_wrap (inner, cfg, err, msg, msglen);
  if (t == NULL) {
    inner->ops->close (inner);
    return NULL;
  }
  CHECK (t->fd == fd);
  return t;
}

/* A full session: handshake, GO, transfer.  true if it all worked. */
static bool
session (const char *sock, const struct nbdi_tls_config *cfg, int sndbuf,
         bool flaky, unsigned seed)
{
  char msg[512];
  int err = 0;
  struct nbdi_transport *t = tls_connect (sock, cfg, sndbuf, flaky, &err,
                                          msg, sizeof msg);
  bool ok;

  if (t == NULL) {
    fprintf (stderr, "wrap: %s (%s)\n", msg, strerror (err));
    return false;
  }
  ok = handshake (t, &err, msg, sizeof msg) == 1;
  if (!ok)
    fprintf (stderr, "handshake: %s (%s)\n", msg, strerror (err));
  if (ok) {
    int64_t size = opt_go (t);
    CHECK (size == DISK_SIZE);
    ok = size == DISK_SIZE;
  }
  if (ok) {
    unsigned before = test_failed;
    transfer (t, seed);
    ok = test_failed == before;
  }
  t->ops->close (t);
  return ok;
}

/* Wrap over a socketpair we never use: for the checks wrap makes
 * before any I/O. */
static void
wrap_fails (const struct nbdi_tls_config *cfg, int want_err, const char *want)
{
  int sv[2];
  struct nbdi_transport *inner, *t;
  char msg[512] = "";
  int err = 0;

  if (socketpair (AF_UNIX, SOCK_STREAM, 0, sv) == -1)
    die ("socketpair: %s", strerror (errno));
  inner = nbdi_transport_socket (sv[0]);
  t = nbdi_tls_wrap (inner, cfg, &err, msg, sizeof msg);
  CHECK (t == NULL);
  if (t) {
    t->ops->close (t);
  }
  else {
    CHECK_FAILURE (err, msg, want_err, want);
    /* Still ours, and still whole. */
    inner->ops->close (inner);
  }
  close (sv[1]);
}

static void
test_psk (void)
{
  char sock[128], pskfile[128], content[256];
  struct nbdi_tls_config cfg = { .username = "alice", .psk_file = pskfile };

  snprintf (sock, sizeof sock, "%s/psk.sock", tmpdir);
  snprintf (pskfile, sizeof pskfile, "%s/keys.psk", tmpdir);
  snprintf (content, sizeof content, "# keys\nbob:00112233\nalice:%s\n", key_good);
  write_file ("keys.psk", content);
  start_nbdkit (sock, "--tls=require", "--tls-psk", pskfile, NULL);

  section ("PSK: handshake, NBD_OPT_GO, 1 MiB write + read back (default priority)");
  CHECK (session (sock, &cfg, 4096, false, 1));
  printf ("   send calls that met EAGAIN: %u\n", send_eagains);
  CHECK (send_eagains > 0);

  section ("PSK over TLS 1.2");
  cfg.priority = "NORMAL:-VERS-TLS1.3";
  CHECK (session (sock, &cfg, 4096, false, 2));
  cfg.priority = NULL;

  section ("PSK through an inner transport with short writes and EAGAIN");
  flaky_eagains = 0;
  CHECK (session (sock, &cfg, 0, true, 3));
  printf ("   injected EAGAINs: %u\n", flaky_eagains);
  CHECK (flaky_eagains > 100);
  cfg.priority = "NORMAL:-VERS-TLS1.3";
  CHECK (session (sock, &cfg, 0, true, 4));
  cfg.priority = NULL;

  section ("PSK identity from LOGNAME when no username is set");
  setenv ("LOGNAME", "alice", 1);
  cfg.username = NULL;
  CHECK (session (sock, &cfg, 0, false, 5));
  cfg.username = "alice";

  section ("PSK: the wrong key fails the handshake");
  {
    char badfile[128], msg[512];
    struct nbdi_tls_config bad = { .username = "alice", .psk_file = badfile };
    struct nbdi_transport *t;
    int err = 0;

    snprintf (badfile, sizeof badfile, "%s/bad.psk", tmpdir);
    snprintf (content, sizeof content, "alice:%s\n", key_bad);
    write_file ("bad.psk", content);
    t = tls_connect (sock, &bad, 0, false, &err, msg, sizeof msg);
    CHECK (t != NULL);
    if (t) {
      msg[0] = '\0';
      CHECK (handshake (t, &err, msg, sizeof msg) == -1);
      printf ("   -> err %d (%s), \"%s\"\n", err, strerror (err), msg);
      CHECK (err != 0 && err != ETIMEDOUT);
      CHECK (msg[0] != '\0');
      t->ops->close (t);
    }
  }

  section ("PSK: wrap refuses bad settings");
  cfg.username = "carol";
  wrap_fails (&cfg, ENOENT, "\"carol\"");
  cfg.username = "alic";        /* a prefix of a user is not the user */
  wrap_fails (&cfg, ENOENT, "\"alic\"");
  cfg.username = "alice";
  {
    struct nbdi_tls_config c = cfg;
    char nofile[128], oddfile[128];

    snprintf (nofile, sizeof nofile, "%s/missing.psk", tmpdir);
    c.psk_file = nofile;
    wrap_fails (&c, ENOENT, "missing.psk");

    snprintf (oddfile, sizeof oddfile, "%s/odd.psk", tmpdir);
    write_file ("odd.psk", "alice:0123456789abcdeg\n");
    c.psk_file = oddfile;
    wrap_fails (&c, EINVAL, "hex");

    c.psk_file = pskfile;
    c.priority = "NORMAL:+NO-SUCH-THING";
    wrap_fails (&c, EINVAL, "NO-SUCH-THING");
  }
}

/* ---- X.509 ---- */

static bool
run (const char *fmt, ...)
{
  char cmd[4096];
  va_list ap;

  va_start (ap, fmt);
  vsnprintf (cmd, sizeof cmd, fmt, ap);
  va_end (ap);
  if (system (cmd) != 0) {
    fprintf (stderr, "command failed: %s\n", cmd);
    return false;
  }
  return true;
}

static void
make_certificates (void)
{
  const char *d = tmpdir;

  write_file ("ca.info", "cn = fastnbd test CA\nca\ncert_signing_key\nexpiration_days = 2\n");
  write_file ("server.info",
              "organization = fastnbd test\ncn = localhost\ndns_name = localhost\n"
              "tls_www_server\nencryption_key\nsigning_key\nexpiration_days = 2\n");
  write_file ("client.info",
              "organization = fastnbd test\ncn = alice\ntls_www_client\n"
              "encryption_key\nsigning_key\nexpiration_days = 2\n");
  if (!run ("cd %s && mkdir server client noca caonly halfclient"
            " && certtool -q --generate-privkey --key-type=ecdsa --outfile ca-key.pem 2>/dev/null"
            " && certtool -q --generate-self-signed --load-privkey ca-key.pem"
            "    --template ca.info --outfile ca-cert.pem 2>/dev/null"
            " && certtool -q --generate-privkey --key-type=ecdsa --outfile server/server-key.pem 2>/dev/null"
            " && certtool -q --generate-certificate --load-ca-certificate ca-cert.pem"
            "    --load-ca-privkey ca-key.pem --load-privkey server/server-key.pem"
            "    --template server.info --outfile server/server-cert.pem 2>/dev/null"
            " && certtool -q --generate-privkey --key-type=ecdsa --outfile client/client-key.pem 2>/dev/null"
            " && certtool -q --generate-certificate --load-ca-certificate ca-cert.pem"
            "    --load-ca-privkey ca-key.pem --load-privkey client/client-key.pem"
            "    --template client.info --outfile client/client-cert.pem 2>/dev/null"
            " && cp ca-cert.pem server/ && cp ca-cert.pem client/ && cp ca-cert.pem caonly/"
            " && cp client/client-cert.pem client/client-key.pem noca/"
            " && cp ca-cert.pem client/client-cert.pem halfclient/", d))
    die ("certtool failed");
}

/* Connect + handshake with cfg; the handshake result (err, msg set on
 * failure).  On success also NBD_OPT_GO, whose result lands in *go. */
static int
x509_try (const char *sock, const struct nbdi_tls_config *cfg, int *err,
          char *msg, size_t msglen, bool *go)
{
  struct nbdi_transport *t = tls_connect (sock, cfg, 0, false, err, msg, msglen);
  int r;

  *go = false;
  if (t == NULL) {
    fprintf (stderr, "wrap: %s\n", msg);
    return -2;
  }
  msg[0] = '\0';
  r = handshake (t, err, msg, msglen);
  if (r == 1)
    *go = opt_go (t) == DISK_SIZE;
  t->ops->close (t);
  return r;
}

static void
test_x509 (void)
{
  char sock[128], sock2[128], srvdir[128], dir[128], msg[512];
  struct nbdi_tls_config cfg = { .certificates = dir, .verify_peer = true,
                                 .hostname = "localhost" };
  int err;
  bool go;

  make_certificates ();
  snprintf (srvdir, sizeof srvdir, "%s/server", tmpdir);
  snprintf (sock, sizeof sock, "%s/x509.sock", tmpdir);
  snprintf (sock2, sizeof sock2, "%s/x509-verify.sock", tmpdir);
  start_nbdkit (sock, "--tls=require", "--tls-certificates", srvdir, NULL);
  start_nbdkit (sock2, "--tls=require", "--tls-certificates", srvdir,
                "--tls-verify-peer", NULL);

  section ("X.509: our CA, verify_peer, hostname localhost");
  snprintf (dir, sizeof dir, "%s/client", tmpdir);
  CHECK (session (sock, &cfg, 4096, false, 6));

  section ("X.509: verify_peer, no hostname: the chain alone");
  cfg.hostname = NULL;
  CHECK (x509_try (sock, &cfg, &err, msg, sizeof msg, &go) == 1 && go);
  cfg.hostname = "localhost";

  section ("X.509: the wrong hostname is refused");
  cfg.hostname = "not-localhost.example";
  CHECK (x509_try (sock, &cfg, &err, msg, sizeof msg, &go) == -1);
  CHECK_FAILURE (err, msg, EACCES, "name");
  cfg.hostname = "localhost";

  section ("X.509: without our CA, verify_peer refuses the server");
  snprintf (dir, sizeof dir, "%s/noca", tmpdir);
  CHECK (x509_try (sock, &cfg, &err, msg, sizeof msg, &go) == -1);
  CHECK_FAILURE (err, msg, EACCES, "issuer");
  cfg.certificates = NULL;      /* system trust only */
  CHECK (x509_try (sock, &cfg, &err, msg, sizeof msg, &go) == -1);
  CHECK_FAILURE (err, msg, EACCES, NULL);
  cfg.certificates = dir;

  section ("X.509: without verify_peer, an unknown CA is accepted");
  cfg.verify_peer = false;
  CHECK (x509_try (sock, &cfg, &err, msg, sizeof msg, &go) == 1 && go);
  cfg.verify_peer = true;

  section ("X.509: a server that wants a client certificate");
  snprintf (dir, sizeof dir, "%s/client", tmpdir);
  CHECK (x509_try (sock2, &cfg, &err, msg, sizeof msg, &go) == 1 && go);
  /* With no certificate to give, the server refuses us: in TLS 1.3
   * only after our side of the handshake is done, so the failure may
   * show up as the first reply that never comes. */
  snprintf (dir, sizeof dir, "%s/caonly", tmpdir);
  {
    int r = x509_try (sock2, &cfg, &err, msg, sizeof msg, &go);
    if (r == -1)
      printf ("   -> err %d (%s), \"%s\"\n", err, strerror (err), msg);
    else
      printf ("   -> handshake done, then NBD_OPT_GO %s\n", go ? "worked" : "failed");
    CHECK (r == -1 || !go);
  }

  section ("X.509: wrap refuses bad directories");
  snprintf (dir, sizeof dir, "%s/halfclient", tmpdir);
  wrap_fails (&cfg, ENOENT, "client-key.pem");
  snprintf (dir, sizeof dir, "%s/no-such-dir", tmpdir);
  wrap_fails (&cfg, ENOENT, "no-such-dir");
  cfg.priority = "NORMAL:%BOGUS";
  snprintf (dir, sizeof dir, "%s/client", tmpdir);
  wrap_fails (&cfg, EINVAL, "BOGUS");
}

int
main (int argc, char **argv)
{
  bool x509 = argc > 1 && strcmp (argv[1], "x509") == 0;

  signal (SIGPIPE, SIG_IGN);
  setvbuf (stdout, NULL, _IOLBF, 0);
  if (system ("nbdkit --version >/dev/null 2>&1") != 0) {
    printf ("SKIP: nbdkit is not installed\n");
    return 77;
  }
  if (x509 && system ("certtool --version >/dev/null 2>&1") != 0) {
    printf ("SKIP: certtool (Debian: gnutls-bin) is not installed\n");
    return 77;
  }
  strcpy (tmpdir, "/tmp/fastnbd-tls-XXXXXX");
  if (mkdtemp (tmpdir) == NULL)
    die ("mkdtemp: %s", strerror (errno));
  atexit (cleanup);

  if (x509)
    test_x509 ();
  else
    test_psk ();

  return test_exit ();
}
