/* nbddump: hexdump the content of a disk over NBD.  Command-line
 * compatible with libnbd's nbddump.
 *
 * Block status (base:allocation) tells which regions read as zeroes;
 * those are never read, so a mostly empty export of any size dumps at
 * once. */
#include "nbddump.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <libnbd.h>

#include "command-line.h"
#include "human-size.h"
#include "nbd-error.h"
#include "target.h"

#define READ_CHUNK (1024 * 1024)
/* A block status request for at most this much, keeping it within
 * 32 bits and aligned for any server. */
#define STATUS_CHUNK (UINT64_C (0xffffffff) & ~UINT64_C (0xffff))

static const struct option long_options[] = {
  { "length", required_argument, NULL, 'n' },
  { "limit", required_argument, NULL, 'n' },
  { "offset", required_argument, NULL, 'o' },
  { "skip", required_argument, NULL, 'o' },
  { NULL, 0, NULL, 0 },
};

static const char usage[] =
"\n"
"Hexdump the content of a disk over NBD:\n"
"\n"
"    nbddump [-n N|--length N] [-o N|--offset N] NBD-URI | [ CMD ARGS ... ]\n"
"\n"
"Other options:\n"
"\n"
"    nbddump --help\n"
"    nbddump --version\n"
"\n"
"Examples:\n"
"\n"
"    nbddump nbd://localhost\n"
"    nbddump -- [ qemu-nbd -r -f qcow2 file.qcow2 ]\n";

static const struct tool_cli cli = {
  .name = TOOL,
  .usage = usage,
  .short_options = "n:o:",
  .long_options = long_options,
  .color = true,
};

struct region {
  uint64_t length;
  bool zero;
};

struct status {
  uint64_t asked;            /* the (aligned) offset asked about */
  uint64_t start, end;       /* the range wanted, within what was asked */
  struct region *v;
  size_t len, cap;
};

/* Keeps the part of the base:allocation extents that falls within
 * [s->start, s->end): the request began at s->asked, which may be before
 * s->start when that is not aligned to the minimum block size. */
static int
collect_extents (void *opaque, const char *metacontext, uint64_t offset,
                 nbd_extent *entries, size_t nr_entries, int *error)
{
  struct status *s = opaque;
  uint64_t at = offset;

  (void) error;
  if (strcmp (metacontext, LIBNBD_CONTEXT_BASE_ALLOCATION) != 0 ||
      offset != s->asked || s->len > 0)
    return 0;
  for (size_t i = 0; i < nr_entries && at < s->end; i++) {
    uint64_t length = entries[i].length;
    uint64_t from = at > s->start ? at : s->start;

    if (length == 0)
      break;
    at = length > s->end - at ? s->end : at + length;
    if (at <= from)
      continue;
    if (s->len == s->cap) {
      size_t cap = s->cap ? s->cap * 2 : 64;
      struct region *v = realloc (s->v, cap * sizeof *v);
      if (v == NULL)
        return -1;
      s->v = v;
      s->cap = cap;
    }
    s->v[s->len++] = (struct region) {
      at - from, (entries[i].flags & LIBNBD_STATE_ZERO) != 0
    };
  }
  return 0;
}

/* Reads [offset, offset+len) widened to the server's minimum block size
 * (reads must be aligned to it) and feeds the asked-for part. */
static int
dump_data (struct nbd_handle *h, struct dumper *d, unsigned char *buf,
           uint64_t offset, uint64_t len, uint64_t align, uint64_t size)
{
  while (len > 0) {
    uint64_t n = len < READ_CHUNK ? len : READ_CHUNK;
    uint64_t start = offset - offset % align;
    uint64_t stop = offset + n;

    if (stop % align)
      stop += align - stop % align;
    if (stop > size)
      stop = size;
    if (nbd_pread (h, buf, stop - start, start, 0) == -1)
      return -1;
    dumper_feed (d, buf + (offset - start), n);
    offset += n;
    len -= n;
  }
  return 0;
}

/* Dumps [start, end) of an export of the given size. */
static int
dump (struct nbd_handle *h, struct dumper *d, uint64_t start, uint64_t end,
      uint64_t size)
{
  int64_t minimum = nbd_get_block_size (h, LIBNBD_SIZE_MINIMUM);
  uint64_t align = minimum > 0 ? (uint64_t) minimum : 1;
  bool have_status = nbd_can_meta_context (h,
                                LIBNBD_CONTEXT_BASE_ALLOCATION) == 1;
  unsigned char *buf = malloc (READ_CHUNK + 2 * align);
  struct status s = { 0 };
  uint64_t offset = start;
  int r = -1;

  if (buf == NULL) {
    fprintf (stderr, "%s: out of memory\n", TOOL);
    return -1;
  }
  while (offset < end) {
    /* Block status must be aligned at both ends, even where --offset
     * and --length are not.  The minimum block size is a power of two
     * no larger than 64K, so STATUS_CHUNK is a multiple of it. */
    uint64_t asked = offset - offset % align;
    uint64_t ask = end - asked;

    if (ask > STATUS_CHUNK)
      ask = STATUS_CHUNK;
    else if (ask % align)
      ask += align - ask % align;
    if (ask > size - asked)
      ask = size - asked;

    s.len = 0;
    s.asked = asked;
    s.start = offset;
    s.end = asked + ask < end ? asked + ask : end;
    if (have_status) {
      nbd_extent64_callback cb = { .callback = collect_extents,
                                   .user_data = &s };
      if (nbd_block_status_64 (h, ask, asked, cb, 0) == -1)
        goto nbd_failed;
    }
    if (s.len == 0) {           /* no status: everything is data */
      if (dump_data (h, d, buf, offset, s.end - offset, align, size) == -1)
        goto nbd_failed;
      offset = s.end;
      continue;
    }
    for (size_t i = 0; i < s.len; i++) {
      if (s.v[i].zero)
        dumper_feed_zeroes (d, s.v[i].length);
      else if (dump_data (h, d, buf, offset, s.v[i].length, align,
                          size) == -1)
        goto nbd_failed;
      offset += s.v[i].length;
    }
  }
  dumper_finish (d, end == size);
  r = 0;
  goto out;

 nbd_failed:
  fflush (d->out);
  report_nbd_error (TOOL);
 out:
  free (s.v);
  free (buf);
  return r;
}

/* The value of a size option (a number with an optional K, M, G ...
 * suffix); exits with a one-line error if it is not one. */
static uint64_t
size_argument (const char *option, const char *arg)
{
  uint64_t v;

  if (parse_human_size (arg, &v) == -1) {
    fprintf (stderr, "%s: %s: could not parse '%s' as a size\n",
             TOOL, option, arg);
    exit (EXIT_FAILURE);
  }
  return v;
}

int
main (int argc, char **argv)
{
  int color = -1;
  uint64_t limit = UINT64_MAX, start = 0;
  struct target t;
  struct nbd_handle *h;
  struct dumper d;
  int64_t size;
  int c, status = EXIT_FAILURE;

  /* getopt names the program by argv[0] in its messages. */
  argv[0] = (char *) TOOL;
  for (;;) {
    c = tool_getopt (&cli, argc, argv);
    if (c == -1)
      break;
    switch (c) {
    case TOOL_OPT_COLOR: color = 1; break;
    case TOOL_OPT_NO_COLOR: color = 0; break;
    case 'n': limit = size_argument ("--length", optarg); break;
    case 'o': start = size_argument ("--offset", optarg); break;
    }
  }
  if (target_parse (TOOL, argc, argv, optind, &t) == -1)
    exit (EXIT_FAILURE);
  if (color == -1)
    color = isatty (STDOUT_FILENO);

  h = nbd_create ();
  if (h == NULL) {
    report_nbd_error (TOOL);
    exit (EXIT_FAILURE);
  }
  if (nbd_add_meta_context (h, LIBNBD_CONTEXT_BASE_ALLOCATION) == -1) {
    report_nbd_error (TOOL);
    nbd_close (h);
    exit (EXIT_FAILURE);
  }
  if (target_connect (h, &t) == -1) {
    report_connect_error (TOOL, h, &t);
    nbd_close (h);
    exit (EXIT_FAILURE);
  }
  if ((size = nbd_get_size (h)) == -1) {
    report_nbd_error (TOOL);
    nbd_close (h);
    exit (EXIT_FAILURE);
  }
  if (start > (uint64_t) size) {
    fprintf (stderr, "%s: --offset %" PRIu64 " is beyond the end of the "
             "export (%" PRIi64 " bytes)\n", TOOL, start, size);
    goto out;
  }
  dumper_init (&d, stdout, color, start);
  if (dump (h, &d, start,
            limit < (uint64_t) size - start ? start + limit : (uint64_t) size,
            (uint64_t) size) == 0)
    status = EXIT_SUCCESS;
  if (fflush (stdout) != 0) {
    perror (TOOL ": stdout");
    status = EXIT_FAILURE;
  }
  nbd_shutdown (h, 0);
 out:
  nbd_close (h);
  return status;
}
