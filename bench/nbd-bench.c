/* nbd-bench: closed-loop NBD client benchmark.
 *
 * Uses only the public libnbd API, so the same source can be compiled
 * against the system libnbd and against fastnbd and the two binaries
 * compared side by side (see bench/run).
 *
 * The workload keeps a fixed number of requests in flight: it issues
 * nbd_aio_pread / nbd_aio_pwrite with a completion callback that only
 * counts (and returns 1 so the library retires the command itself), then
 * waits in nbd_poll and tops the queue up again.  That is the portable
 * way to drive both libraries without relying on anything but the
 * documented asynchronous API.
 *
 * Output: one line
 *   ops=<n> secs=<s> ops_per_s=<x> cpu_us_per_op=<y> total_ops=<t> lib=<path>
 * The first four cover the measured section only (warm-up, connection
 * set-up and tear-down are excluded).  total_ops counts every request of
 * the connection, warm-up included, so a caller can divide a server's
 * CPU time by it.  lib= names the shared object that actually provided
 * nbd_create, so the caller can check which library ran.
 */

#define _GNU_SOURCE /* dladdr */

#include <dlfcn.h>
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include <libnbd.h>

enum bench_op { OP_READ, OP_WRITE };

/* One request slot: a buffer that belongs to at most one in-flight
 * command.  Giving each command its own buffer keeps concurrent reads
 * from scribbling over the same memory, which a real user would never
 * do either.
 */
struct slot {
  struct bench *bench;
  unsigned index;
};

struct bench {
  struct nbd_handle *nbd;
  enum bench_op op;
  uint64_t request_size;
  unsigned depth;

  unsigned char *buffers;  /* depth * request_size bytes */
  struct slot *slots;
  unsigned *free_slots;    /* stack of slot indexes not in flight */
  unsigned free_count;

  uint64_t blocks;         /* export size / request size */
  uint64_t next_block;     /* sequential offset pattern, wraps */

  uint64_t completed;      /* completions seen by the callback */
  int first_error;         /* first non-zero *error from a callback */
};

static void
die_nbd (const char *what)
{
  const char *msg = nbd_get_error ();

  fprintf (stderr, "nbd-bench: %s failed: %s (errno %d)\n",
           what, msg ? msg : "no error message", nbd_get_errno ());
  exit (EXIT_FAILURE);
}

static void
die (const char *fmt, const char *arg)
{
  fprintf (stderr, "nbd-bench: ");
  fprintf (stderr, fmt, arg);
  fprintf (stderr, "\n");
  exit (EXIT_FAILURE);
}

static double
now_seconds (void)
{
  struct timespec ts;

  clock_gettime (CLOCK_MONOTONIC, &ts);
  return (double) ts.tv_sec + (double) ts.tv_nsec / 1e9;
}

/* User plus system CPU time of the whole process (all threads), in
 * seconds.  A library that moves work to helper threads is charged for
 * it too.
 */
static double
cpu_seconds (void)
{
  struct rusage ru;

  if (getrusage (RUSAGE_SELF, &ru) == -1) {
    perror ("getrusage");
    exit (EXIT_FAILURE);
  }
  return (double) ru.ru_utime.tv_sec + (double) ru.ru_utime.tv_usec / 1e6
       + (double) ru.ru_stime.tv_sec + (double) ru.ru_stime.tv_usec / 1e6;
}

/* Parse a size such as 4096, 4k, 256K, 1m, 1G (binary multiples). */
static uint64_t
parse_size (const char *text)
{
  char *end;
  uint64_t value, scale = 1;

  errno = 0;
  value = strtoull (text, &end, 10);
  if (errno != 0 || end == text)
    die ("invalid size: %s", text);
  switch (*end) {
  case '\0': break;
  case 'k': case 'K': scale = UINT64_C (1) << 10; end++; break;
  case 'm': case 'M': scale = UINT64_C (1) << 20; end++; break;
  case 'g': case 'G': scale = UINT64_C (1) << 30; end++; break;
  default: die ("invalid size suffix: %s", text);
  }
  if (*end != '\0' || value == 0 || value > UINT64_MAX / scale)
    die ("invalid size: %s", text);
  return value * scale;
}

static double
parse_seconds (const char *text)
{
  char *end;
  double value;

  errno = 0;
  value = strtod (text, &end);
  if (errno != 0 || end == text || *end != '\0' || value < 0)
    die ("invalid number of seconds: %s", text);
  return value;
}

static uint64_t
parse_count (const char *text)
{
  char *end;
  uint64_t value;

  errno = 0;
  value = strtoull (text, &end, 10);
  if (errno != 0 || end == text || *end != '\0' || value == 0)
    die ("invalid count: %s", text);
  return value;
}

/* Completion callback: runs inside the library.  It only records the
 * outcome and gives the slot back; returning 1 tells the library to
 * retire the command so nbd_aio_command_completed is never needed.
 */
static int
on_complete (void *user_data, int *error)
{
  struct slot *slot = user_data;
  struct bench *b = slot->bench;

  if (*error != 0 && b->first_error == 0)
    b->first_error = *error;
  b->completed++;
  b->free_slots[b->free_count++] = slot->index;
  return 1;
}

static void
issue_one (struct bench *b)
{
  unsigned index;
  uint64_t offset;
  void *buf;
  nbd_completion_callback cb;
  int64_t cookie;

  if (b->free_count == 0) {
    /* nbd_aio_in_flight said there was room but every slot is taken:
     * the library's count disagrees with its callbacks.
     */
    fprintf (stderr, "nbd-bench: in-flight count and completions disagree\n");
    exit (EXIT_FAILURE);
  }
  index = b->free_slots[--b->free_count];
  buf = b->buffers + (size_t) index * b->request_size;

  offset = b->next_block * b->request_size;
  if (++b->next_block == b->blocks)
    b->next_block = 0;

  cb.callback = on_complete;
  cb.user_data = &b->slots[index];
  cb.free = NULL;

  if (b->op == OP_READ)
    cookie = nbd_aio_pread (b->nbd, buf, b->request_size, offset, cb, 0);
  else
    cookie = nbd_aio_pwrite (b->nbd, buf, b->request_size, offset, cb, 0);
  if (cookie == -1)
    die_nbd (b->op == OP_READ ? "nbd_aio_pread" : "nbd_aio_pwrite");
}

static void
check_callback_error (const struct bench *b)
{
  if (b->first_error != 0) {
    fprintf (stderr, "nbd-bench: command failed: %s\n",
             strerror (b->first_error));
    exit (EXIT_FAILURE);
  }
}

static int64_t
in_flight (struct bench *b)
{
  int64_t n = nbd_aio_in_flight (b->nbd);

  if (n == -1)
    die_nbd ("nbd_aio_in_flight");
  return n;
}

static void
poll_once (struct bench *b)
{
  if (nbd_poll (b->nbd, -1) == -1)
    die_nbd ("nbd_poll");
  check_callback_error (b);
}

/* Path of the shared object that defines nbd_create, i.e. the library
 * this process is really using.
 */
static const char *
library_path (void)
{
  Dl_info info;
  static char resolved[PATH_MAX];

  if (dladdr ((void *) nbd_create, &info) == 0 || info.dli_fname == NULL)
    return "unknown";
  if (realpath (info.dli_fname, resolved) == NULL)
    return info.dli_fname;
  return resolved;
}

static void
usage (FILE *out)
{
  fprintf (out,
"usage: nbd-bench [options] --unix PATH\n"
"       nbd-bench [options] -- SERVER-COMMAND [ARG...]\n"
"  --unix PATH      connect to an NBD server on a Unix socket\n"
"  -- CMD...        start CMD with systemd socket activation instead\n"
"  --op read|write  request type (default read)\n"
"  --size N         request size, suffix k/m/g allowed (default 4k)\n"
"  --depth N        requests kept in flight (default 64)\n"
"  --seconds S      measured duration (default 3)\n"
"  --ops N          measure exactly N completed requests instead\n"
"  --warmup S       unmeasured warm-up before measuring (default 0.5)\n");
}

int
main (int argc, char *argv[])
{
  enum { OPT_UNIX = 256, OPT_OP, OPT_SIZE, OPT_DEPTH, OPT_SECONDS,
         OPT_OPS, OPT_WARMUP, OPT_HELP };
  static const struct option long_options[] = {
    { "unix",    required_argument, NULL, OPT_UNIX },
    { "op",      required_argument, NULL, OPT_OP },
    { "size",    required_argument, NULL, OPT_SIZE },
    { "depth",   required_argument, NULL, OPT_DEPTH },
    { "seconds", required_argument, NULL, OPT_SECONDS },
    { "ops",     required_argument, NULL, OPT_OPS },
    { "warmup",  required_argument, NULL, OPT_WARMUP },
    { "help",    no_argument,       NULL, OPT_HELP },
    { NULL, 0, NULL, 0 }
  };
  const char *unix_path = NULL;
  struct bench b = { .op = OP_READ, .request_size = 4096, .depth = 64 };
  double seconds = 3.0, warmup = 0.5;
  uint64_t ops_target = 0;  /* 0: run for `seconds` instead */
  int c;

  while ((c = getopt_long (argc, argv, "+h", long_options, NULL)) != -1) {
    switch (c) {
    case OPT_UNIX: unix_path = optarg; break;
    case OPT_OP:
      if (strcmp (optarg, "read") == 0) b.op = OP_READ;
      else if (strcmp (optarg, "write") == 0) b.op = OP_WRITE;
      else die ("--op must be read or write, not %s", optarg);
      break;
    case OPT_SIZE: b.request_size = parse_size (optarg); break;
    case OPT_DEPTH:
      {
        uint64_t d = parse_count (optarg);
        if (d > 65536)
          die ("--depth too large: %s", optarg);
        b.depth = (unsigned) d;
      }
      break;
    case OPT_SECONDS: seconds = parse_seconds (optarg); break;
    case OPT_OPS: ops_target = parse_count (optarg); break;
    case OPT_WARMUP: warmup = parse_seconds (optarg); break;
    case 'h': case OPT_HELP: usage (stdout); return EXIT_SUCCESS;
    default: usage (stderr); return EXIT_FAILURE;
    }
  }
  if ((unix_path == NULL) == (optind >= argc)) {
    fprintf (stderr, "nbd-bench: give exactly one of --unix PATH "
             "or -- SERVER-COMMAND\n");
    usage (stderr);
    return EXIT_FAILURE;
  }
  if (b.request_size > (UINT64_C (1) << 30))
    die ("%s", "--size larger than 1 GiB is not supported");

  /* Buffers, one per slot.  Page alignment keeps large transfers from
   * straddling pages needlessly.
   */
  {
    size_t total = (size_t) b.depth * (size_t) b.request_size;
    void *mem;

    if (posix_memalign (&mem, 4096, total) != 0)
      die ("%s", "out of memory for buffers");
    b.buffers = mem;
    /* Touch every page now so page faults do not land in the measured
     * section; writes send a non-zero pattern.
     */
    memset (b.buffers, b.op == OP_WRITE ? 0xa5 : 0, total);
  }
  b.slots = calloc (b.depth, sizeof *b.slots);
  b.free_slots = calloc (b.depth, sizeof *b.free_slots);
  if (b.slots == NULL || b.free_slots == NULL)
    die ("%s", "out of memory");
  for (unsigned i = 0; i < b.depth; i++) {
    b.slots[i].bench = &b;
    b.slots[i].index = i;
    b.free_slots[i] = b.depth - 1 - i;
  }
  b.free_count = b.depth;

  b.nbd = nbd_create ();
  if (b.nbd == NULL)
    die_nbd ("nbd_create");
  if (unix_path != NULL) {
    if (nbd_connect_unix (b.nbd, unix_path) == -1)
      die_nbd ("nbd_connect_unix");
  }
  else {
    if (nbd_connect_systemd_socket_activation (b.nbd, &argv[optind]) == -1)
      die_nbd ("nbd_connect_systemd_socket_activation");
  }

  {
    int64_t size = nbd_get_size (b.nbd);

    if (size == -1)
      die_nbd ("nbd_get_size");
    b.blocks = (uint64_t) size / b.request_size;
    if (b.blocks == 0)
      die ("%s", "export is smaller than one request");
  }
  if (b.op == OP_WRITE) {
    int ro = nbd_is_read_only (b.nbd);

    if (ro == -1)
      die_nbd ("nbd_is_read_only");
    if (ro)
      die ("%s", "export is read-only, cannot benchmark writes");
  }

  /* Warm-up: same loop, not measured. */
  {
    double warm_end = now_seconds () + warmup;

    while (warmup > 0 && now_seconds () < warm_end) {
      while (in_flight (&b) < (int64_t) b.depth)
        issue_one (&b);
      poll_once (&b);
    }
  }

  /* Measured section. */
  double t0 = now_seconds ();
  double cpu0 = cpu_seconds ();
  uint64_t completed0 = b.completed;
  double t1;

  if (ops_target > 0) {
    /* Requests still in flight from the warm-up complete inside the
     * window and count, so issue only enough new ones to reach exactly
     * ops_target completions.
     */
    uint64_t pending_at_start = (uint64_t) in_flight (&b);
    uint64_t to_issue = ops_target > pending_at_start
                        ? ops_target - pending_at_start : 0;

    while (b.completed - completed0 < ops_target) {
      while (to_issue > 0 && in_flight (&b) < (int64_t) b.depth) {
        issue_one (&b);
        to_issue--;
      }
      poll_once (&b);
    }
    t1 = now_seconds ();
  }
  else {
    double deadline = t0 + seconds;

    for (;;) {
      while (in_flight (&b) < (int64_t) b.depth)
        issue_one (&b);
      poll_once (&b);
      t1 = now_seconds ();
      if (t1 >= deadline)
        break;
    }
  }
  double cpu1 = cpu_seconds ();
  uint64_t ops = b.completed - completed0;

  /* Drain and disconnect cleanly, outside the measurement. */
  while (in_flight (&b) > 0)
    poll_once (&b);
  if (nbd_shutdown (b.nbd, 0) == -1)
    die_nbd ("nbd_shutdown");
  nbd_close (b.nbd);

  double secs = t1 - t0;
  printf ("ops=%" PRIu64 " secs=%.6f ops_per_s=%.1f cpu_us_per_op=%.4f"
          " total_ops=%" PRIu64 " lib=%s\n",
          ops, secs, ops / secs,
          ops > 0 ? (cpu1 - cpu0) * 1e6 / (double) ops : 0.0,
          b.completed, library_path ());

  free (b.free_slots);
  free (b.slots);
  free (b.buffers);
  return EXIT_SUCCESS;
}
