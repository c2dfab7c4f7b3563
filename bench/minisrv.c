/* minisrv: a deliberately minimal, single-threaded NBD server used to
 * benchmark NBD *clients*.
 *
 * Reads return zeroes, writes are discarded and acknowledged, flushes
 * are acknowledged.  The aim is to spend as little CPU per request as
 * possible so that the client under test is the bottleneck:
 *
 *  - requests are taken in with one large recv() and every complete
 *    request in the buffer is handled before the next recv();
 *  - replies are queued and sent with one sendmsg() carrying many
 *    iovecs; read payloads point at a static all-zero buffer, so no
 *    data is ever copied or cleared in user space;
 *  - the socket stays blocking while there is nothing to send (one
 *    blocking recv() per batch, no poll()), and poll() is only used when
 *    the kernel could not take all queued replies at once.
 *
 * Handshake: fixed newstyle with NO_ZEROES; NBD_OPT_GO / NBD_OPT_INFO
 * (answering NBD_INFO_EXPORT), NBD_OPT_STRUCTURED_REPLY,
 * NBD_OPT_EXPORT_NAME, NBD_OPT_ABORT; every other option gets
 * NBD_REP_ERR_UNSUP.  Any export name is accepted.
 *
 * Usage: minisrv [--size BYTES] [--once] [--holes] PATH   listen on a Unix socket
 *        minisrv [--size BYTES] [--once] [--holes]        socket activation (fd 3)
 * --holes answers reads with an OFFSET_HOLE chunk instead of data (under
 * structured replies), so that no payload crosses the socket and only
 * the client's protocol work is left to measure.
 * Connections are served one after another.
 */

#define _GNU_SOURCE /* accept4, MSG_NOSIGNAL, htobe64 and friends */

#include <endian.h>
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <unistd.h>

/* Protocol constants (values from the NBD protocol description). */
#define NBDMAGIC               UINT64_C (0x4e42444d41474943)
#define IHAVEOPT               UINT64_C (0x49484156454F5054)
#define OPT_REPLY_MAGIC        UINT64_C (0x3e889045565a9)
#define REQUEST_MAGIC          UINT32_C (0x25609513)
#define SIMPLE_REPLY_MAGIC     UINT32_C (0x67446698)
#define STRUCTURED_REPLY_MAGIC UINT32_C (0x668e33ef)

#define FLAG_FIXED_NEWSTYLE    0x0001
#define FLAG_NO_ZEROES         0x0002
#define CFLAG_FIXED_NEWSTYLE   0x00000001u
#define CFLAG_NO_ZEROES        0x00000002u

#define TFLAG_HAS_FLAGS        0x0001
#define TFLAG_SEND_FLUSH       0x0004
#define TFLAG_SEND_FUA         0x0008
#define TFLAG_CAN_MULTI_CONN   0x0100

#define OPT_EXPORT_NAME        1
#define OPT_ABORT              2
#define OPT_INFO               6
#define OPT_GO                 7
#define OPT_STRUCTURED_REPLY   8

#define REP_ACK                1
#define REP_INFO               3
#define REP_ERR_UNSUP          (UINT32_C (1) << 31 | 1)
#define REP_ERR_INVALID        (UINT32_C (1) << 31 | 3)

#define INFO_EXPORT            0

#define CMD_READ               0
#define CMD_WRITE              1
#define CMD_DISC               2
#define CMD_FLUSH              3

#define CMD_FLAG_FUA           0x0001

#define REPLY_FLAG_DONE        0x0001
#define REPLY_TYPE_NONE        0
#define REPLY_TYPE_OFFSET_DATA 1
#define REPLY_TYPE_OFFSET_HOLE 2
#define REPLY_TYPE_ERROR       (1u << 15 | 1)

#define NBD_EINVAL             22

#define REQUEST_SIZE           28
/* Largest request length accepted; larger ones fail with EINVAL. */
#define MAX_REQUEST_LEN        (UINT32_C (32) << 20)
/* Option payloads beyond this are refused (the connection is dropped):
 * no option we understand comes anywhere near it.
 */
#define MAX_OPTION_LEN         (64 * 1024)

/* Reads are answered from here; several iovecs may point at it for
 * requests larger than the buffer.  Zero-initialised static storage
 * (.bss, not const, so it is not stored in the binary): its pages are the
 * kernel's shared zero page until written, and nothing writes them.
 */
#define ZERO_BUF_SIZE          (1024 * 1024)
static unsigned char zero_buf[ZERO_BUF_SIZE];
/* --holes: answer reads under structured replies with one OFFSET_HOLE
 * chunk (the zeroes stated, not sent). */
static bool holes;

#define IN_BUF_SIZE            (1024 * 1024)
#define MAX_IOV                1024

static uint64_t export_size = UINT64_C (1) << 30;
static const uint16_t transmission_flags =
  TFLAG_HAS_FLAGS | TFLAG_SEND_FLUSH | TFLAG_SEND_FUA | TFLAG_CAN_MULTI_CONN;

/* ---------- small helpers ---------- */

static void
put16 (unsigned char *p, uint16_t v)
{
  v = htobe16 (v);
  memcpy (p, &v, sizeof v);
}

static void
put32 (unsigned char *p, uint32_t v)
{
  v = htobe32 (v);
  memcpy (p, &v, sizeof v);
}

static void
put64 (unsigned char *p, uint64_t v)
{
  v = htobe64 (v);
  memcpy (p, &v, sizeof v);
}

static uint16_t
get16 (const unsigned char *p)
{
  uint16_t v;
  memcpy (&v, p, sizeof v);
  return be16toh (v);
}

static uint32_t
get32 (const unsigned char *p)
{
  uint32_t v;
  memcpy (&v, p, sizeof v);
  return be32toh (v);
}

static uint64_t
get64 (const unsigned char *p)
{
  uint64_t v;
  memcpy (&v, p, sizeof v);
  return be64toh (v);
}

/* Blocking full read/write, used only during the handshake. */
static bool
read_full (int fd, void *buf, size_t len)
{
  unsigned char *p = buf;

  while (len > 0) {
    ssize_t r = recv (fd, p, len, 0);
    if (r == -1 && errno == EINTR)
      continue;
    if (r <= 0)
      return false;
    p += r;
    len -= (size_t) r;
  }
  return true;
}

static bool
write_full (int fd, const void *buf, size_t len)
{
  const unsigned char *p = buf;

  while (len > 0) {
    ssize_t r = send (fd, p, len, MSG_NOSIGNAL);
    if (r == -1 && errno == EINTR)
      continue;
    if (r <= 0)
      return false;
    p += r;
    len -= (size_t) r;
  }
  return true;
}

/* ---------- handshake ---------- */

static bool
send_option_reply (int fd, uint32_t option, uint32_t type,
                   const void *data, uint32_t len)
{
  unsigned char hdr[20];

  put64 (hdr, OPT_REPLY_MAGIC);
  put32 (hdr + 8, option);
  put32 (hdr + 12, type);
  put32 (hdr + 16, len);
  if (!write_full (fd, hdr, sizeof hdr))
    return false;
  return len == 0 || write_full (fd, data, len);
}

/* Result of the handshake. */
enum handshake_result { HS_FAILED, HS_TRANSMISSION };

static enum handshake_result
handshake (int fd, bool *structured)
{
  unsigned char buf[18];
  unsigned char *option_data = NULL;
  uint32_t client_flags;
  bool no_zeroes;

  *structured = false;

  put64 (buf, NBDMAGIC);
  put64 (buf + 8, IHAVEOPT);
  put16 (buf + 16, FLAG_FIXED_NEWSTYLE | FLAG_NO_ZEROES);
  if (!write_full (fd, buf, 18))
    return HS_FAILED;

  if (!read_full (fd, buf, 4))
    return HS_FAILED;
  client_flags = get32 (buf);
  if (client_flags & ~(CFLAG_FIXED_NEWSTYLE | CFLAG_NO_ZEROES)) {
    fprintf (stderr, "minisrv: unknown client flags 0x%" PRIx32 "\n",
             client_flags);
    return HS_FAILED;
  }
  no_zeroes = client_flags & CFLAG_NO_ZEROES;

  option_data = malloc (MAX_OPTION_LEN);
  if (option_data == NULL)
    return HS_FAILED;

  for (;;) {
    unsigned char hdr[16];
    uint32_t option, len;

    if (!read_full (fd, hdr, sizeof hdr))
      goto fail;
    if (get64 (hdr) != IHAVEOPT) {
      fprintf (stderr, "minisrv: bad option magic\n");
      goto fail;
    }
    option = get32 (hdr + 8);
    len = get32 (hdr + 12);
    if (len > MAX_OPTION_LEN) {
      fprintf (stderr, "minisrv: option %" PRIu32 " too long\n", option);
      goto fail;
    }
    if (len > 0 && !read_full (fd, option_data, len))
      goto fail;

    switch (option) {
    case OPT_EXPORT_NAME:
      {
        unsigned char reply[10 + 124];
        size_t reply_len = no_zeroes ? 10 : sizeof reply;

        memset (reply, 0, sizeof reply);
        put64 (reply, export_size);
        put16 (reply + 8, transmission_flags);
        if (!write_full (fd, reply, reply_len))
          goto fail;
        free (option_data);
        return HS_TRANSMISSION;
      }

    case OPT_ABORT:
      send_option_reply (fd, option, REP_ACK, NULL, 0);
      goto fail;

    case OPT_STRUCTURED_REPLY:
      if (len != 0) {
        if (!send_option_reply (fd, option, REP_ERR_INVALID, NULL, 0))
          goto fail;
        break;
      }
      *structured = true;
      if (!send_option_reply (fd, option, REP_ACK, NULL, 0))
        goto fail;
      break;

    case OPT_INFO:
    case OPT_GO:
      {
        uint32_t name_len;
        uint16_t requests;
        unsigned char info[12];

        /* Validate the layout: name length, name, count, requests. */
        bool valid = len >= 6;
        if (valid) {
          name_len = get32 (option_data);
          valid = name_len <= len - 6;
        }
        if (valid) {
          requests = get16 (option_data + 4 + name_len);
          valid = len == 4 + name_len + 2 + 2 * (uint32_t) requests;
        }
        if (!valid) {
          if (!send_option_reply (fd, option, REP_ERR_INVALID, NULL, 0))
            goto fail;
          break;
        }
        /* NBD_INFO_EXPORT is always sent; other requests are ignored,
         * which the protocol allows.
         */
        put16 (info, INFO_EXPORT);
        put64 (info + 2, export_size);
        put16 (info + 10, transmission_flags);
        if (!send_option_reply (fd, option, REP_INFO, info, sizeof info) ||
            !send_option_reply (fd, option, REP_ACK, NULL, 0))
          goto fail;
        if (option == OPT_GO) {
          free (option_data);
          return HS_TRANSMISSION;
        }
      }
      break;

    default:
      if (!send_option_reply (fd, option, REP_ERR_UNSUP, NULL, 0))
        goto fail;
      break;
    }
  }

 fail:
  free (option_data);
  return HS_FAILED;
}

/* ---------- transmission ---------- */

/* A queued reply: its header bytes plus how many payload bytes of
 * zeroes follow.  The queue is rebuilt into iovecs for each sendmsg, so
 * it can be reallocated freely while replies are pending.
 */
struct reply {
  unsigned char header[32];
  uint32_t header_len;
  uint32_t data_len;
};

struct conn {
  int fd;
  bool structured;

  unsigned char *in;     /* receive buffer */
  size_t in_len;         /* bytes currently held in `in` */
  uint64_t skip;         /* write payload bytes still to discard */
  uint64_t write_cookie; /* the write whose payload is being skipped */
  uint32_t write_error;  /* and the verdict to send once it is all in */

  struct reply *queue;   /* pending replies, [head, tail) */
  size_t head, tail, capacity;
  size_t head_sent;      /* bytes of queue[head] already sent */

  bool disconnect;       /* NBD_CMD_DISC seen: close once drained */
};

static struct reply *
queue_push (struct conn *c)
{
  if (c->tail == c->capacity) {
    if (c->head > 0) {
      /* Slide the live part down before growing. */
      memmove (c->queue, c->queue + c->head,
               (c->tail - c->head) * sizeof *c->queue);
      c->tail -= c->head;
      c->head = 0;
    }
    if (c->tail == c->capacity) {
      size_t cap = c->capacity ? c->capacity * 2 : 256;
      struct reply *q = realloc (c->queue, cap * sizeof *q);
      if (q == NULL) {
        fprintf (stderr, "minisrv: out of memory\n");
        exit (EXIT_FAILURE);
      }
      c->queue = q;
      c->capacity = cap;
    }
  }
  return &c->queue[c->tail++];
}

static void
queue_simple (struct conn *c, uint64_t cookie, uint32_t error)
{
  struct reply *r = queue_push (c);

  put32 (r->header, SIMPLE_REPLY_MAGIC);
  put32 (r->header + 4, error);
  put64 (r->header + 8, cookie);
  r->header_len = 16;
  r->data_len = 0;
}

/* Queue the final structured chunk of a reply: its 20-byte header, to
 * which the caller appends `length` bytes of chunk payload (header_len
 * counts them once written). */
static struct reply *
queue_chunk (struct conn *c, uint64_t cookie, uint16_t type, uint32_t length)
{
  struct reply *r = queue_push (c);

  put32 (r->header, STRUCTURED_REPLY_MAGIC);
  put16 (r->header + 4, REPLY_FLAG_DONE);
  put16 (r->header + 6, type);
  put64 (r->header + 8, cookie);
  put32 (r->header + 16, length);
  r->header_len = 20;
  r->data_len = 0;
  return r;
}

static void
queue_read_data (struct conn *c, uint64_t cookie, uint64_t offset,
                 uint32_t len)
{
  struct reply *r;

  if (c->structured && holes) {
    r = queue_chunk (c, cookie, REPLY_TYPE_OFFSET_HOLE, 12);
    put64 (r->header + 20, offset);
    put32 (r->header + 28, len);
    r->header_len = 32;
    return;
  }
  if (c->structured) {
    r = queue_chunk (c, cookie, REPLY_TYPE_OFFSET_DATA, 8 + len);
    put64 (r->header + 20, offset);
    r->header_len = 28;
  }
  else {
    r = queue_push (c);
    put32 (r->header, SIMPLE_REPLY_MAGIC);
    put32 (r->header + 4, 0);
    put64 (r->header + 8, cookie);
    r->header_len = 16;
  }
  r->data_len = len;
}

/* A zero-length read has no data to carry: with structured replies it
 * is answered by a NONE chunk.
 */
static void
queue_structured_none (struct conn *c, uint64_t cookie)
{
  queue_chunk (c, cookie, REPLY_TYPE_NONE, 0);
}

/* Failing a read under structured replies needs an error chunk, never a
 * simple reply.
 */
static void
queue_read_error (struct conn *c, uint64_t cookie, uint32_t error)
{
  struct reply *r;

  if (!c->structured) {
    queue_simple (c, cookie, error);
    return;
  }
  r = queue_chunk (c, cookie, REPLY_TYPE_ERROR, 6);
  put32 (r->header + 20, error);
  put16 (r->header + 24, 0);    /* no message */
  r->header_len = 26;
}

static bool
in_bounds (uint64_t offset, uint32_t len)
{
  return offset <= export_size && len <= export_size - offset;
}

/* Handle one parsed request header. */
static bool
handle_request (struct conn *c, const unsigned char *req)
{
  uint16_t flags = get16 (req + 4);
  uint16_t type = get16 (req + 6);
  uint64_t cookie = get64 (req + 8);
  uint64_t offset = get64 (req + 16);
  uint32_t len = get32 (req + 24);
  bool flags_ok = (flags & ~CMD_FLAG_FUA) == 0;

  if (get32 (req) != REQUEST_MAGIC) {
    fprintf (stderr, "minisrv: bad request magic\n");
    return false;
  }

  switch (type) {
  case CMD_READ:
    if (!flags_ok || len > MAX_REQUEST_LEN || !in_bounds (offset, len))
      queue_read_error (c, cookie, NBD_EINVAL);
    else if (len == 0 && c->structured)
      queue_structured_none (c, cookie);
    else
      queue_read_data (c, cookie, offset, len);
    break;

  case CMD_WRITE:
    /* The payload follows whatever the verdict and must be consumed.
     * The reply waits until all of it has arrived: a client may still
     * be sending the payload and is entitled to treat an early reply
     * as a protocol error.
     */
    c->write_error = flags_ok && in_bounds (offset, len) ? 0 : NBD_EINVAL;
    if (len == 0)
      queue_simple (c, cookie, c->write_error);
    else {
      c->skip = len;
      c->write_cookie = cookie;
    }
    break;

  case CMD_FLUSH:
    queue_simple (c, cookie, 0);
    break;

  case CMD_DISC:
    c->disconnect = true;
    break;

  default:
    /* Nothing else was advertised. */
    if (c->structured)
      queue_read_error (c, cookie, NBD_EINVAL);
    else
      queue_simple (c, cookie, NBD_EINVAL);
    break;
  }
  return true;
}

/* Consume as much of the input buffer as possible: write payloads are
 * skipped, complete request headers handled.  A partial header is moved
 * to the front of the buffer for the next recv to complete.
 */
static bool
process_input (struct conn *c)
{
  size_t pos = 0;

  while (!c->disconnect) {
    size_t avail = c->in_len - pos;

    if (c->skip > 0) {
      size_t n = c->skip < avail ? (size_t) c->skip : avail;
      c->skip -= n;
      pos += n;
      if (c->skip > 0)
        break;
      queue_simple (c, c->write_cookie, c->write_error);
      continue;
    }
    if (avail < REQUEST_SIZE)
      break;
    if (!handle_request (c, c->in + pos))
      return false;
    pos += REQUEST_SIZE;
  }

  if (pos > 0) {
    memmove (c->in, c->in + pos, c->in_len - pos);
    c->in_len -= pos;
  }
  return true;
}

/* Send as many queued replies as the socket takes without blocking.
 * Returns false on a dead connection.
 */
static bool
flush_output (struct conn *c)
{
  static struct iovec iov[MAX_IOV];

  while (c->head < c->tail) {
    size_t n = 0;
    size_t skip = c->head_sent;

    /* Build iovecs from the queue, leaving out what was already sent
     * of the first reply.
     */
    for (size_t i = c->head; i < c->tail && n + 2 <= MAX_IOV; i++) {
      const struct reply *r = &c->queue[i];

      if (skip < r->header_len) {
        iov[n].iov_base = (void *) (r->header + skip);
        iov[n].iov_len = r->header_len - skip;
        n++;
        skip = 0;
      }
      else
        skip -= r->header_len;

      uint32_t data_left = r->data_len - (uint32_t) skip;
      skip = 0;
      while (data_left > 0 && n < MAX_IOV) {
        uint32_t chunk = data_left < ZERO_BUF_SIZE ? data_left : ZERO_BUF_SIZE;
        iov[n].iov_base = zero_buf;
        iov[n].iov_len = chunk;
        n++;
        data_left -= chunk;
      }
      if (data_left > 0)
        break;
    }

    struct msghdr msg = { .msg_iov = iov, .msg_iovlen = n };
    ssize_t sent = sendmsg (c->fd, &msg, MSG_DONTWAIT | MSG_NOSIGNAL);
    if (sent == -1) {
      if (errno == EINTR)
        continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK)
        return true;
      return false;
    }

    /* Retire fully sent replies. */
    size_t done = (size_t) sent + c->head_sent;
    while (c->head < c->tail) {
      const struct reply *r = &c->queue[c->head];
      size_t total = (size_t) r->header_len + r->data_len;
      if (done < total)
        break;
      done -= total;
      c->head++;
    }
    c->head_sent = done;
    if (c->head == c->tail) {
      c->head = c->tail = 0;
      c->head_sent = 0;
    }
  }
  return true;
}

static void
serve_transmission (int fd, bool structured)
{
  struct conn c = { .fd = fd, .structured = structured };

  c.in = malloc (IN_BUF_SIZE);
  if (c.in == NULL) {
    fprintf (stderr, "minisrv: out of memory\n");
    return;
  }

  for (;;) {
    bool pending = c.head < c.tail;
    int recv_flags = 0;

    if (c.disconnect && !pending)
      break;
    if (pending) {
      /* The kernel did not take everything: wait until it can take more
       * or new requests arrive, whichever comes first.  Reading on
       * meanwhile avoids a deadlock with a client that is itself
       * blocked writing.
       */
      struct pollfd pfd = { .fd = fd, .events = POLLOUT };

      if (!c.disconnect)
        pfd.events |= POLLIN;
      if (poll (&pfd, 1, -1) == -1) {
        if (errno == EINTR)
          continue;
        perror ("minisrv: poll");
        break;
      }
      if (pfd.revents & (POLLOUT | POLLERR | POLLHUP)) {
        if (!flush_output (&c))
          break;
      }
      if (!(pfd.revents & POLLIN))
        continue;
      recv_flags = MSG_DONTWAIT;
    }

    /* One large recv: everything the client has sent so far. */
    ssize_t r = recv (fd, c.in + c.in_len, IN_BUF_SIZE - c.in_len,
                      recv_flags);
    if (r == -1) {
      if (errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK)
        continue;
      break;            /* connection error */
    }
    if (r == 0)
      break;            /* client went away */
    c.in_len += (size_t) r;

    if (!process_input (&c))
      break;
    if (!flush_output (&c))
      break;
  }

  free (c.in);
  free (c.queue);
}

/* A large send buffer lets one sendmsg take a whole queue depth of
 * replies (64 x 4 KiB reads is more than the default), so the server
 * does not fall back to poll() just because the kernel buffer is full.
 * SO_SNDBUFFORCE works past the sysctl limit when running as root;
 * otherwise SO_SNDBUF gives whatever the limit allows.
 */
static void
enlarge_send_buffer (int fd)
{
  int size = 8 * 1024 * 1024;

  if (setsockopt (fd, SOL_SOCKET, SO_SNDBUFFORCE, &size, sizeof size) == -1)
    setsockopt (fd, SOL_SOCKET, SO_SNDBUF, &size, sizeof size);
}

static void
serve_connection (int fd)
{
  bool structured;

  enlarge_send_buffer (fd);

  if (handshake (fd, &structured) == HS_TRANSMISSION)
    serve_transmission (fd, structured);
  close (fd);
}

/* ---------- listening ---------- */

static int
listen_unix (const char *path)
{
  struct sockaddr_un addr = { .sun_family = AF_UNIX };
  int fd;

  if (strlen (path) >= sizeof addr.sun_path) {
    fprintf (stderr, "minisrv: socket path too long: %s\n", path);
    exit (EXIT_FAILURE);
  }
  strcpy (addr.sun_path, path);
  fd = socket (AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd == -1) {
    perror ("minisrv: socket");
    exit (EXIT_FAILURE);
  }
  unlink (path);
  if (bind (fd, (struct sockaddr *) &addr, sizeof addr) == -1 ||
      listen (fd, 16) == -1) {
    perror ("minisrv: bind/listen");
    exit (EXIT_FAILURE);
  }
  return fd;
}

/* systemd-style socket activation: LISTEN_FDS=1 (and LISTEN_PID, if
 * set, naming us) means the listening socket is fd 3.
 */
static int
activation_fd (void)
{
  const char *fds = getenv ("LISTEN_FDS");
  const char *pid = getenv ("LISTEN_PID");

  if (fds == NULL || strcmp (fds, "1") != 0)
    return -1;
  if (pid != NULL && strtol (pid, NULL, 10) != (long) getpid ())
    return -1;
  unsetenv ("LISTEN_FDS");
  unsetenv ("LISTEN_PID");
  unsetenv ("LISTEN_FDNAMES");
  return 3;
}

static void
usage (FILE *out)
{
  fprintf (out,
"usage: minisrv [--size BYTES] [--once] [--holes] SOCKET-PATH\n"
"       minisrv [--size BYTES] [--once] [--holes]   (socket activation: LISTEN_FDS=1)\n"
"  --size BYTES  export size, suffix k/m/g allowed (default 1g)\n"
"  --once        exit after the first connection ends\n"
"  --holes       answer reads with an OFFSET_HOLE chunk (structured replies)\n");
}

static uint64_t
parse_size (const char *text)
{
  char *end;
  uint64_t value, scale = 1;

  errno = 0;
  value = strtoull (text, &end, 10);
  if (errno != 0 || end == text)
    goto bad;
  switch (*end) {
  case '\0': break;
  case 'k': case 'K': scale = UINT64_C (1) << 10; end++; break;
  case 'm': case 'M': scale = UINT64_C (1) << 20; end++; break;
  case 'g': case 'G': scale = UINT64_C (1) << 30; end++; break;
  default: goto bad;
  }
  if (*end != '\0' || value > INT64_MAX / scale)
    goto bad;
  return value * scale;
 bad:
  fprintf (stderr, "minisrv: invalid size: %s\n", text);
  exit (EXIT_FAILURE);
}

int
main (int argc, char *argv[])
{
  const char *path = NULL;
  bool once = false;
  int listen_fd;

  for (int i = 1; i < argc; i++) {
    if (strcmp (argv[i], "--size") == 0 && i + 1 < argc)
      export_size = parse_size (argv[++i]);
    else if (strcmp (argv[i], "--once") == 0)
      once = true;
    else if (strcmp (argv[i], "--holes") == 0)
      holes = true;
    else if (strcmp (argv[i], "--help") == 0 || strcmp (argv[i], "-h") == 0) {
      usage (stdout);
      return EXIT_SUCCESS;
    }
    else if (argv[i][0] != '-' && path == NULL)
      path = argv[i];
    else {
      usage (stderr);
      return EXIT_FAILURE;
    }
  }

  /* A client that vanishes mid-send must not kill the server. */
  signal (SIGPIPE, SIG_IGN);

  listen_fd = activation_fd ();
  if (listen_fd == -1) {
    if (path == NULL) {
      usage (stderr);
      return EXIT_FAILURE;
    }
    listen_fd = listen_unix (path);
  }
  else if (path != NULL) {
    fprintf (stderr, "minisrv: socket activation and a path both given\n");
    return EXIT_FAILURE;
  }

  do {
    int fd = accept4 (listen_fd, NULL, NULL, SOCK_CLOEXEC);
    if (fd == -1) {
      if (errno == EINTR || errno == ECONNABORTED)
        continue;
      perror ("minisrv: accept");
      return EXIT_FAILURE;
    }
    serve_connection (fd);
  } while (!once);

  return EXIT_SUCCESS;
}
