/* nbdcopy: copy to and from an NBD server.  Command-line compatible with
 * libnbd's nbdcopy. */
#include "nbdcopy.h"

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "blkhash.h"
#include "command-line.h"
#include "human-size.h"

struct options opts = {
  .extents = true,
  .progress_fd = -1,
  .connections = 4,
  .requests = 64,
  .queue_size = 16 * 1024 * 1024,
  .request_size = 1024 * 1024,
  .sparse_size = 4096,
};

enum {
  OPT_ALLOCATED = TOOL_OPT_FIRST,
  OPT_DESTINATION_IS_ZERO, OPT_FLUSH, OPT_NO_EXTENTS, OPT_QUEUE_SIZE,
  OPT_REQUEST_SIZE, OPT_SYNCHRONOUS, OPT_BLKHASH, OPT_BLKHASH_FILE,
};

static const struct option long_options[] = {
  { "allocated", no_argument, NULL, OPT_ALLOCATED },
  { "blkhash", optional_argument, NULL, OPT_BLKHASH },
  { "blkhash-file", required_argument, NULL, OPT_BLKHASH_FILE },
  { "connections", required_argument, NULL, 'C' },
  { "destination-is-zero", no_argument, NULL, OPT_DESTINATION_IS_ZERO },
  { "flush", no_argument, NULL, OPT_FLUSH },
  { "no-extents", no_argument, NULL, OPT_NO_EXTENTS },
  { "progress", optional_argument, NULL, 'p' },
  { "queue-size", required_argument, NULL, OPT_QUEUE_SIZE },
  { "request-size", required_argument, NULL, OPT_REQUEST_SIZE },
  { "requests", required_argument, NULL, 'R' },
  { "sparse", required_argument, NULL, 'S' },
  { "synchronous", no_argument, NULL, OPT_SYNCHRONOUS },
  { "target-is-zero", no_argument, NULL, OPT_DESTINATION_IS_ZERO },
  { "threads", required_argument, NULL, 'T' },
  { "verbose", no_argument, NULL, 'v' },
  { NULL, 0, NULL, 0 },
};

static const char usage[] =
"\n"
"Copy to and from an NBD server:\n"
"\n"
"    nbdcopy [--allocated] [--blkhash=DIGEST[/SIZE]] [--blkhash-file=FILE]\n"
"            [-C N|--connections=N]\n"
"            [--destination-is-zero|--target-is-zero] [--flush]\n"
"            [--no-extents] [-p|--progress|--progress=FD]\n"
"            [--queue-size=N] [--request-size=N] [-R N|--requests=N]\n"
"            [-S N|--sparse=N] [--synchronous] [-T N|--threads=N]\n"
"            [-v|--verbose]\n"
"            SOURCE DESTINATION\n"
"\n"
"    SOURCE, DESTINATION := - | FILE | DEVICE | NBD-URI | [ CMD ARGS ... ]\n"
"    DESTINATION += null:\n"
"\n"
"Other options:\n"
"\n"
"    nbdcopy --help\n"
"    nbdcopy -V|--version\n"
"\n"
"Examples:\n"
"\n"
"    nbdcopy nbd://example.com local.img\n"
"    nbdcopy local.img nbd://example.com\n"
"    nbdcopy nbd://example.com - | file -\n"
"    cat disk1 disk2 | nbdcopy -- - [ qemu-nbd -f qcow2 output.qcow2 ]\n";

static const struct tool_cli cli = {
  .name = TOOL,
  .usage = usage,
  .short_options = "C:pR:S:T:v",
  .long_options = long_options,
  .usage_on_error = true,
};

static unsigned
parse_count (const char *option, const char *arg, unsigned min)
{
  char *end;
  errno = 0;
  unsigned long v = strtoul (arg, &end, 10);
  if (errno || end == arg || *end || v > UINT_MAX || v < min ||
      arg[0] == '-') {
    fprintf (stderr, "%s: invalid %s: %s\n", TOOL, option, arg);
    exit (EXIT_FAILURE);
  }
  return (unsigned) v;
}

static uint64_t
parse_size (const char *option, const char *arg)
{
  uint64_t v;
  if (parse_human_size (arg, &v) == -1) {
    fprintf (stderr, "%s: invalid %s: %s\n", TOOL, option, arg);
    exit (EXIT_FAILURE);
  }
  return v;
}

static void
parse_options (int argc, char **argv)
{
  for (;;) {
    int c = tool_getopt (&cli, argc, argv);
    if (c == -1)
      break;
    switch (c) {
    case OPT_ALLOCATED: opts.allocated = true; break;
    case OPT_BLKHASH:
      opts.blkhash = true;
      if (blkhash_parse (optarg, &opts.blkhash_digest,
                         &opts.blkhash_block_size) == -1)
        exit (EXIT_FAILURE);
      break;
    case OPT_BLKHASH_FILE: opts.blkhash_file = optarg; break;
    case 'C': opts.connections = parse_count ("connections", optarg, 1);
      break;
    case OPT_DESTINATION_IS_ZERO: opts.destination_is_zero = true; break;
    case OPT_FLUSH: opts.flush = true; break;
    case OPT_NO_EXTENTS: opts.extents = false; break;
    case 'p':
      if (optarg == NULL)
        opts.progress = true;
      else
        opts.progress_fd = (int) parse_count ("progress fd", optarg, 0);
      break;
    case OPT_QUEUE_SIZE:
      opts.queue_size = parse_size ("queue size", optarg);
      break;
    case OPT_REQUEST_SIZE:
      opts.request_size = parse_size ("request size", optarg);
      if (opts.request_size < 512 || opts.request_size > MAX_REQUEST_SIZE) {
        fprintf (stderr, "%s: request size must be between 512 and %d\n",
                 TOOL, MAX_REQUEST_SIZE);
        exit (EXIT_FAILURE);
      }
      break;
    case 'R': opts.requests = parse_count ("requests", optarg, 1); break;
    case 'S':
      opts.sparse_size = parse_size ("sparse size", optarg);
      opts.sparse_size_given = true;
      if (opts.sparse_size != 0 && opts.sparse_size < 512) {
        fprintf (stderr, "%s: sparse size must be 0 or at least 512\n",
                 TOOL);
        exit (EXIT_FAILURE);
      }
      break;
    case OPT_SYNCHRONOUS: opts.synchronous = true; break;
    case 'T': opts.threads = parse_count ("threads", optarg, 0); break;
    case 'v': opts.verbose = true; break;
    }
  }
}

struct blkhash *source_hash;

/* Prints the source's blkhash on stdout or into --blkhash-file, one line
 * of hex. */
static int
print_blkhash (uint64_t size)
{
  char hex[BLKHASH_HEX_MAX];
  FILE *fp = stdout;

  if (blkhash_finish (source_hash, size, hex) == -1)
    return -1;
  if (opts.blkhash_file && (fp = fopen (opts.blkhash_file, "w")) == NULL) {
    fprintf (stderr, "%s: %s: %s\n", TOOL, opts.blkhash_file,
             strerror (errno));
    return -1;
  }
  fprintf (fp, "%s\n", hex);
  if ((fp == stdout ? fflush (fp) : fclose (fp)) == EOF) {
    fprintf (stderr, "%s: %s: %s\n", TOOL,
             opts.blkhash_file ? opts.blkhash_file : "stdout",
             strerror (errno));
    return -1;
  }
  return 0;
}

static uint64_t
smaller_nonzero (uint64_t a, uint64_t b)
{
  return b != 0 && b < a ? b : a;
}

/* How many connections each NBD side gets: multi-conn only where every
 * NBD side advertises it. */
static int
choose_connections (const struct endpoint *src, const struct endpoint *dst,
                    bool synchronous)
{
  int n = (int) (opts.connections < MAX_CONNECTIONS ? opts.connections
                                                    : MAX_CONNECTIONS);
  unsigned threads = opts.threads;

  if (synchronous)
    return 1;
  /* One thread per connection, and no more threads than processors
   * unless -T asks: more only take turns on the same cores. */
  if (threads == 0) {
    long cpus = sysconf (_SC_NPROCESSORS_ONLN);
    threads = cpus > 0 ? (unsigned) cpus : 1;
  }
  if ((unsigned) n > threads)
    n = (int) threads;
  if ((src->kind == ENDPOINT_NBD && !src->can_multi_conn) ||
      (dst->kind == ENDPOINT_NBD && !dst->can_multi_conn))
    return 1;
  return n;
}

int
main (int argc, char **argv)
{
  struct endpoint src, dst;
  int next, workers, r = -1;
  bool synchronous;

  parse_options (argc, argv);
  next = optind;
  if (argc - next < 2)
    tool_usage (&cli, stderr, EXIT_FAILURE);
  if (endpoint_classify (&src, argc, argv, &next, true) == -1)
    exit (EXIT_FAILURE);
  if (next >= argc)
    tool_usage (&cli, stderr, EXIT_FAILURE);
  if (endpoint_classify (&dst, argc, argv, &next, false) == -1)
    exit (EXIT_FAILURE);
  if (next != argc)
    tool_usage (&cli, stderr, EXIT_FAILURE);

  if (endpoint_open (&src) == -1 || endpoint_open (&dst) == -1)
    goto out;
  if (src.size >= 0 && dst.size >= 0 && dst.size < src.size &&
      !(dst.kind == ENDPOINT_FILE && !dst.is_block_device)) {
    fprintf (stderr, "%s: error: destination size is smaller than "
             "source size\n", TOOL);
    goto out;
  }
  if (dst.kind == ENDPOINT_FILE && !dst.is_block_device &&
      endpoint_resize (&dst, src.size) == -1)
    goto out;

  synchronous = opts.synchronous || src.kind == ENDPOINT_STREAM ||
                dst.kind == ENDPOINT_STREAM;
  workers = choose_connections (&src, &dst, synchronous);
  opts.request_size = smaller_nonzero (opts.request_size, src.max_block);
  opts.request_size = smaller_nonzero (opts.request_size, dst.max_block);
  if (!opts.sparse_size_given && dst.preferred_block > opts.sparse_size)
    opts.sparse_size = dst.preferred_block;
  if (opts.verbose) {
    endpoint_describe (&src);
    endpoint_describe (&dst);
    fprintf (stderr, "%s: connections=%d requests=%u request size=%" PRIu64
             " synchronous=%s\n", TOOL, workers, opts.requests,
             opts.request_size, synchronous ? "true" : "false");
  }
  if (endpoint_open_more (&src, workers) == -1 ||
      endpoint_open_more (&dst, workers) == -1)
    goto out;
  if (!synchronous)
    endpoint_map_source (&src);

  if (opts.blkhash &&
      (source_hash = blkhash_new (opts.blkhash_digest,
                                  opts.blkhash_block_size,
                                  src.size)) == NULL)
    goto out;
  progress_start (src.size);
  r = synchronous ? copy_synchronous (&src, &dst)
                  : copy_asynchronous (&src, &dst, workers);
  progress_finish (r == 0);
  if (r == 0 && opts.flush)
    r = endpoint_flush (&dst);
  if (r == 0 && source_hash)
    r = print_blkhash ((uint64_t) src.size);

 out:
  endpoint_close (&src);
  endpoint_close (&dst);
  blkhash_free (source_hash);
  exit (r == 0 ? EXIT_SUCCESS : EXIT_FAILURE);
}
