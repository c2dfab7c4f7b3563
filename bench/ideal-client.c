/* ideal-client: a hand-written NBD client with no library, as a ceiling.
 *
 * It does only what the benchmark workload needs and nothing a general
 * library must do (no state machine, no error reporting, no callbacks,
 * no locking): blocking socket, structured replies, one large recv per
 * batch of replies, payloads copied out of the receive buffer by the
 * slot index carried in the cookie, and every request made free by a
 * batch sent with one sendmsg.  Against a given server it shows how fast
 * any client can go on this machine, so bench/ceiling can tell how far
 * a target is from what the machine allows.
 *
 * Same options and result line as nbd-bench (lib=none):
 *   ideal-client --unix PATH --op read|write --size BYTES --depth N
 *                --seconds S [--warmup S]
 */

#define _GNU_SOURCE

#include <endian.h>
#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#define NBDMAGIC            UINT64_C (0x4e42444d41474943)
#define IHAVEOPT            UINT64_C (0x49484156454F5054)
#define OPT_REPLY_MAGIC     UINT64_C (0x3e889045565a9)
#define REQUEST_MAGIC       0x25609513u
#define STRUCTURED_MAGIC    0x668e33efu
#define SIMPLE_MAGIC        0x67446698u
#define OPT_EXPORT_NAME     1u
#define OPT_STRUCTURED      8u
#define REP_ACK             1u
#define CMD_READ            0
#define CMD_WRITE           1
#define CMD_DISC            2
#define REPLY_FLAG_DONE     1
#define TYPE_NONE           0
#define TYPE_OFFSET_DATA    1
#define TYPE_OFFSET_HOLE    2

#define RX_SIZE (128 * 1024)
#define REQ_SIZE 28

static int fd;

static void
die (const char *what)
{
  fprintf (stderr, "ideal-client: %s: %s\n", what, errno ? strerror (errno) : "protocol");
  exit (EXIT_FAILURE);
}

static void
recv_all (void *buf, size_t len)
{
  for (char *p = buf; len > 0;) {
    ssize_t r = recv (fd, p, len, 0);
    if (r <= 0)
      die ("recv");
    p += r;
    len -= r;
  }
}

static void
send_all (const void *buf, size_t len)
{
  for (const char *p = buf; len > 0;) {
    ssize_t r = send (fd, p, len, MSG_NOSIGNAL);
    if (r <= 0)
      die ("send");
    p += r;
    len -= r;
  }
}

static uint32_t get32 (const unsigned char *p) { uint32_t v; memcpy (&v, p, 4); return be32toh (v); }
static uint16_t get16 (const unsigned char *p) { uint16_t v; memcpy (&v, p, 2); return be16toh (v); }
static uint64_t get64 (const unsigned char *p) { uint64_t v; memcpy (&v, p, 8); return be64toh (v); }

static void
option (uint32_t code, const void *data, uint32_t len)
{
  unsigned char hdr[16];
  uint64_t magic = htobe64 (IHAVEOPT);
  uint32_t c = htobe32 (code), l = htobe32 (len);

  memcpy (hdr, &magic, 8);
  memcpy (hdr + 8, &c, 4);
  memcpy (hdr + 12, &l, 4);
  send_all (hdr, 16);
  send_all (data, len);
}

/* Newstyle handshake: structured replies, then the default export.
 * Returns the export size. */
static uint64_t
handshake (void)
{
  unsigned char greet[18], rep[20], info[10];
  uint32_t flags = htobe32 (3);         /* FIXED_NEWSTYLE | NO_ZEROES */

  recv_all (greet, 18);
  if (get64 (greet) != NBDMAGIC || get64 (greet + 8) != IHAVEOPT)
    die ("not a newstyle server");
  send_all (&flags, 4);
  option (OPT_STRUCTURED, "", 0);
  recv_all (rep, 20);
  if (get64 (rep) != OPT_REPLY_MAGIC || get32 (rep + 12) != REP_ACK || get32 (rep + 16) != 0)
    die ("structured replies refused");
  option (OPT_EXPORT_NAME, "", 0);
  recv_all (info, 10);
  return get64 (info);
}

static double
now (void)
{
  struct timespec t;
  clock_gettime (CLOCK_MONOTONIC, &t);
  return t.tv_sec + t.tv_nsec / 1e9;
}

static double
cpu_seconds (void)
{
  struct rusage u;
  getrusage (RUSAGE_SELF, &u);
  return u.ru_utime.tv_sec + u.ru_utime.tv_usec / 1e6
         + u.ru_stime.tv_sec + u.ru_stime.tv_usec / 1e6;
}

/* Requests waiting for the next sendmsg: header and (writes) payload. */
static unsigned char *req_hdrs;
static struct iovec *req_iov;
static int req_count;

static void
queue_request (uint16_t type, uint64_t slot, uint64_t offset, uint32_t len,
               unsigned char *payload)
{
  unsigned char *h = req_hdrs + req_count * REQ_SIZE;
  uint32_t magic = htobe32 (REQUEST_MAGIC), l = htobe32 (len);
  uint16_t flags = 0, t = htobe16 (type);
  uint64_t cookie = htobe64 (slot), off = htobe64 (offset);
  int n = 0;

  memcpy (h, &magic, 4);
  memcpy (h + 4, &flags, 2);
  memcpy (h + 6, &t, 2);
  memcpy (h + 8, &cookie, 8);
  memcpy (h + 16, &off, 8);
  memcpy (h + 24, &l, 4);
  req_iov[2 * req_count] = (struct iovec) { h, REQ_SIZE };
  if (payload)
    n = len;
  req_iov[2 * req_count + 1] = (struct iovec) { payload, n };
  req_count++;
}

static void
flush_requests (void)
{
  struct iovec *iov = req_iov;
  int cnt = 2 * req_count;

  while (cnt > 0) {
    struct msghdr msg = { .msg_iov = iov, .msg_iovlen = cnt > 1024 ? 1024 : cnt };
    ssize_t r = sendmsg (fd, &msg, MSG_NOSIGNAL);
    if (r <= 0)
      die ("sendmsg");
    while (cnt > 0 && (size_t) r >= iov->iov_len) {
      r -= iov->iov_len;
      iov++;
      cnt--;
    }
    if (cnt > 0) {
      iov->iov_base = (char *) iov->iov_base + r;
      iov->iov_len -= r;
    }
  }
  req_count = 0;
}

int
main (int argc, char *argv[])
{
  const char *path = NULL, *op = "read";
  uint64_t size = 4096, total = 0, measured = 0, next = 0;
  unsigned depth = 64;
  double seconds = 3, warmup = 0.5;

  for (int i = 1; i + 1 < argc; i += 2) {
    if (strcmp (argv[i], "--unix") == 0) path = argv[i + 1];
    else if (strcmp (argv[i], "--op") == 0) op = argv[i + 1];
    else if (strcmp (argv[i], "--size") == 0) size = strtoull (argv[i + 1], NULL, 10);
    else if (strcmp (argv[i], "--depth") == 0) depth = strtoul (argv[i + 1], NULL, 10);
    else if (strcmp (argv[i], "--seconds") == 0) seconds = atof (argv[i + 1]);
    else if (strcmp (argv[i], "--warmup") == 0) warmup = atof (argv[i + 1]);
    else {
      fprintf (stderr, "ideal-client: unknown option %s\n", argv[i]);
      return EXIT_FAILURE;
    }
  }
  bool writing = strcmp (op, "write") == 0;
  if (path == NULL || depth == 0 || size == 0 || size > UINT32_MAX
      || (!writing && strcmp (op, "read") != 0)) {
    fprintf (stderr, "usage: ideal-client --unix PATH --op read|write --size B --depth N --seconds S [--warmup S]\n");
    return EXIT_FAILURE;
  }

  struct sockaddr_un addr = { .sun_family = AF_UNIX };
  snprintf (addr.sun_path, sizeof addr.sun_path, "%s", path);
  fd = socket (AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd == -1 || connect (fd, (struct sockaddr *) &addr, sizeof addr) == -1)
    die ("connect");
  uint64_t blocks = handshake () / size;
  if (blocks == 0)
    die ("export smaller than one request");

  unsigned char *buffers = malloc (size * depth), *rx = malloc (RX_SIZE);
  req_hdrs = malloc ((size_t) depth * REQ_SIZE);
  req_iov = malloc ((size_t) depth * 2 * sizeof *req_iov);
  if (!buffers || !rx || !req_hdrs || !req_iov)
    die ("malloc");
  memset (buffers, 0x5a, size * depth);

  for (unsigned s = 0; s < depth; s++, next++)
    queue_request (writing ? CMD_WRITE : CMD_READ, s, (next % blocks) * size,
                   size, writing ? buffers + s * size : NULL);
  flush_requests ();

  double start = now (), t0 = 0, c0 = 0;
  bool measuring = false, stopping = false;
  size_t rx_start = 0, rx_end = 0;
  unsigned outstanding = depth;
  uint64_t data_left = 0, data_slot = 0;        /* payload still to copy */

  while (outstanding > 0) {
    if (rx_end == RX_SIZE) {
      memmove (rx, rx + rx_start, rx_end - rx_start);
      rx_end -= rx_start;
      rx_start = 0;
    }
    ssize_t r = recv (fd, rx + rx_end, RX_SIZE - rx_end, 0);
    if (r <= 0)
      die ("recv");
    rx_end += r;

    for (;;) {
      size_t avail = rx_end - rx_start;
      if (data_left > 0) {                      /* a payload spanning receives */
        size_t n = avail < data_left ? avail : data_left;
        memcpy (buffers + data_slot * size + (size - data_left), rx + rx_start, n);
        rx_start += n;
        data_left -= n;
        if (data_left > 0)
          break;
        goto done_one;
      }
      if (avail < 16)
        break;
      const unsigned char *h = rx + rx_start;
      uint64_t slot = get64 (h + 8);
      if (slot >= depth)
        die ("unexpected cookie");
      if (get32 (h) == SIMPLE_MAGIC) {       /* allowed for non-reads */
        if (get32 (h + 4) != 0 || !writing)
          die ("unexpected simple reply");
        rx_start += 16;
        data_slot = slot;
        goto done_one;
      }
      if (avail < 20)
        break;
      uint32_t len = get32 (h + 16);
      if (get32 (h) != STRUCTURED_MAGIC || !(get16 (h + 4) & REPLY_FLAG_DONE))
        die ("unexpected reply");
      if (get16 (h + 6) == TYPE_OFFSET_DATA) {
        if (avail < 28)
          break;
        if (len != size + 8)
          die ("unexpected read reply");
        rx_start += 28;
        data_slot = slot;
        data_left = size;
        continue;
      }
      if (get16 (h + 6) == TYPE_OFFSET_HOLE) {
        if (avail < 32)
          break;
        if (len != 12 || get32 (h + 28) != size)
          die ("unexpected hole reply");
        memset (buffers + slot * size, 0, size);
        rx_start += 32;
        data_slot = slot;
        goto done_one;
      }
      if (get16 (h + 6) != TYPE_NONE || len != 0)
        die ("unexpected reply type");
      rx_start += 20;
      data_slot = slot;
    done_one:
      total++;
      if (measuring)
        measured++;
      outstanding--;
      if (!stopping) {
        queue_request (writing ? CMD_WRITE : CMD_READ, data_slot,
                       (next++ % blocks) * size, size,
                       writing ? buffers + data_slot * size : NULL);
        outstanding++;
      }
    }
    if (rx_start == rx_end)
      rx_start = rx_end = 0;
    flush_requests ();

    double t = now ();
    if (!measuring && t - start >= warmup) {
      measuring = true;
      t0 = t;
      c0 = cpu_seconds ();
      measured = 0;
    }
    else if (measuring && !stopping && t - t0 >= seconds)
      stopping = true;
  }
  double secs = now () - t0, cpu = cpu_seconds () - c0;

  queue_request (CMD_DISC, 0, 0, 0, NULL);
  flush_requests ();
  close (fd);
  printf ("ops=%" PRIu64 " secs=%f ops_per_s=%.1f cpu_us_per_op=%.4f total_ops=%" PRIu64
          " lib=none\n", measured, secs, measured / secs, cpu * 1e6 / measured, total);
  return EXIT_SUCCESS;
}
