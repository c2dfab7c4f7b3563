/* The receive path for read payloads (lib/engine/scatter.c): the rest
 * of a payload whose header is parsed goes straight into the caller's
 * buffer and what follows into rx; a caller's buffer never receives a
 * byte that no parsed header declared to be its payload, so nothing is
 * ever guessed, and nothing is ever taken back out of a caller's buffer.
 * These tests drive it against fakesrv with replies in order, reordered
 * (--reorder), split in two chunks (--split-reads), sent a few bytes at
 * a time (--write-size), into shared and overlapping buffers (also
 * while another thread keeps overwriting them), with a failing read,
 * mixed with other commands and holes, and with completion callbacks
 * issuing the next commands.  Every read buffer is checked byte for byte
 * (and its guards) and freed in its completion callback (so ASan sees
 * any later use), chunk callbacks check the data present when they run,
 * and the received byte and chunk counters must match what fakesrv sent
 * exactly.  Peeking at buffers of reads still in flight checks that no
 * bytes land in a buffer before its own reply: not in a failing read's
 * (its reply carries no data), and not in the next read's while the
 * replies come in order.
 *
 * Parts (argv[1]): in-order, reorder, split, shared-buffer, scribbled,
 * stray-cleared, mixed, pieces; each runs in simple, structured and
 * extended modes where it applies. */
#include "callbacks.h"

#include <pthread.h>

#define DISK (2 * MiB)
#define DEPTH 64                /* reads in flight: a full plan */
#define NOPS 200                /* commands per connection */
#define SHARED (128 * KiB)      /* the area shared-buffer reads land in */
#define ERR_MSG_LEN 14          /* fakesrv's "injected error" */

enum kind { K_READ, K_WRITE, K_FLUSH, K_ZERO, K_BLOCK_STATUS };

struct run;

struct op {
  struct run *r;
  int seq;                      /* issue order (the server's command number - 1) */
  enum kind kind;
  uint64_t offset;
  size_t count;
  bool shared;                  /* read into the shared area: data undefined */
  size_t shared_at;             /* ... at this offset in it */
  bool with_chunk;              /* read issued with a chunk callback */
  bool hole;                    /* fakesrv answers the read with a hole */
  uint8_t *buf;                 /* read destination / write source */
  uint8_t *expect;              /* what the read must return */
  bool done;
  int calls, error;
  uint64_t chunk_covered;
  int chunk_calls;
  struct extents ex;
};

struct run {
  struct nbd_handle *h;
  enum mode mode;
  char what[160];
  bool split;                   /* server runs with --split-reads */
  bool holes;                   /* ... with --holes (and a zeroed disk) */
  bool refill_cb;               /* completion callbacks issue the next op */
  int upto;                     /* ops drive () issues */
  int fault_seq;                /* op answered with EIO, or -1 */
  struct op *ops;
  int nops, next, in_flight, completed;
  uint8_t *shadow;              /* disk as of the last command issued */
  uint8_t *shared;              /* guarded, SHARED bytes */
  uint64_t want_bytes, want_chunks;
  uint64_t bytes0, chunks0;
  /* findings */
  int bad_data, bad_error, bad_calls, bad_guard, bad_chunk, not_cleared;
  int holes_read;               /* reads answered with a hole */
  int early;                    /* reads whose data was in place before an
                                   earlier read's completion callback ran */
  bool in_order;                /* replies come in request order: then
                                   early landings are stray bytes */
  bool stray_seen;              /* the failing read's buffer changed in flight */
  bool dead;
};

/* Totals over all runs of the part, for the summary line. */
static int total_stray, total_runs;

static size_t
hdr_size (enum mode m)
{
  return m == MODE_SIMPLE ? 16 : m == MODE_STRUCTURED ? 20 : 32;
}

/* Extents fakesrv reports for [off, off+len): one per 64 KiB block. */
static uint64_t
bs_extents (uint64_t off, uint64_t len)
{
  return (off + len - 1) / (64 * KiB) - off / (64 * KiB) + 1;
}

/* Bytes and chunks fakesrv sends in reply to op. */
static void
account (struct run *r, const struct op *o)
{
  size_t hdr = hdr_size (r->mode);
  bool fails = o->seq == r->fault_seq;

  r->want_chunks++;
  if (fails) {
    r->want_bytes += r->mode == MODE_SIMPLE ? 16 : hdr + 6 + ERR_MSG_LEN;
    return;
  }
  switch (o->kind) {
  case K_READ:
    if (r->mode == MODE_SIMPLE)
      r->want_bytes += 16 + o->count;
    else if (o->hole)
      r->want_bytes += hdr + 12;
    else if (r->split && o->count >= 2) {
      r->want_bytes += 2 * (hdr + 8) + o->count;
      r->want_chunks++;
    }
    else
      r->want_bytes += hdr + 8 + o->count;
    break;
  case K_BLOCK_STATUS:
    r->want_bytes += r->mode == MODE_EXTENDED
      ? 32 + 8 + 16 * bs_extents (o->offset, o->count)
      : 20 + 4 + 8 * bs_extents (o->offset, o->count);
    break;
  default:                      /* simple reply, or NONE with extended headers */
    r->want_bytes += r->mode == MODE_EXTENDED ? 32 : 16;
  }
}

/* ---- callbacks ---- */

static void issue (struct run *r, struct op *o);

static int
chunk_check (void *user_data, const void *subbuf, size_t count, uint64_t offset,
             unsigned status, int *error)
{
  struct op *o = user_data;
  const uint8_t *p = subbuf;
  uint64_t rel = offset - o->offset;

  (void) error;
  o->chunk_calls++;
  if (status != (o->hole ? LIBNBD_READ_HOLE : LIBNBD_READ_DATA) || offset < o->offset || rel > o->count
      || count > o->count - rel || count == 0 || p != o->buf + rel) {
    o->r->bad_chunk++;
    fprintf (stderr, "%s: read #%d [%" PRIu64 "+%zu]: bad chunk status %u "
             "offset %" PRIu64 " count %zu\n", o->r->what, o->seq, o->offset,
             o->count, status, offset, count);
    return 0;
  }
  o->chunk_covered += count;
  /* The chunk's bytes must be in the buffer when its callback runs. */
  if (!o->shared && memcmp (p, o->expect + rel, count) != 0) {
    o->r->bad_chunk++;
    fprintf (stderr, "%s: read #%d [%" PRIu64 "+%zu]: chunk at +%" PRIu64
             " (%zu bytes) holds the wrong data when its callback runs\n",
             o->r->what, o->seq, o->offset, o->count, rel, count);
  }
  return 0;
}

static void
check_read (struct run *r, struct op *o)
{
  if (o->shared)
    return;
  if (!guards_intact (o->buf, o->count)) {
    r->bad_guard++;
    fprintf (stderr, "%s: read #%d [%" PRIu64 "+%zu]: a byte next to the "
             "buffer changed\n", r->what, o->seq, o->offset, o->count);
  }
  if (o->seq == r->fault_seq) {
    if (!all_bytes (o->buf, o->count, 0)) {
      r->not_cleared++;
      fprintf (stderr, "%s: failed read #%d [%" PRIu64 "+%zu]: buffer not "
               "cleared (pread_initialize)\n", r->what, o->seq, o->offset, o->count);
    }
    return;
  }
  if (o->error == 0 && memcmp (o->buf, o->expect, o->count) != 0) {
    size_t i = 0;
    while (o->buf[i] == o->expect[i])
      i++;
    r->bad_data++;
    fprintf (stderr, "%s: read #%d [%" PRIu64 "+%zu]%s: byte %zu is 0x%02x, "
             "expected 0x%02x\n", r->what, o->seq, o->offset, o->count,
             o->with_chunk ? " (chunk callback)" : "", i, o->buf[i], o->expect[i]);
  }
  if (o->with_chunk && o->error == 0 && o->chunk_covered != o->count) {
    r->bad_chunk++;
    fprintf (stderr, "%s: read #%d: chunks covered %" PRIu64 " of %zu bytes\n",
             r->what, o->seq, o->chunk_covered, o->count);
  }
}

static void
check_block_status (struct run *r, struct op *o)
{
  bool bad;

  if (o->error)
    return;
  /* fakesrv: 64 KiB extents, odd ones hole|zero. */
  bad = o->ex.raw_entries != bs_extents (o->offset, o->count)
        || extents_flags_at (&o->ex, 0) != ((o->offset / (64 * KiB)) % 2 ? 3 : 0);
  if (bad) {
    r->bad_data++;
    fprintf (stderr, "%s: block status #%d [%" PRIu64 "+%zu]: %zu entries, "
             "flags %" PRId64 " at the start\n", r->what, o->seq, o->offset,
             o->count, o->ex.raw_entries, extents_flags_at (&o->ex, 0));
  }
}

static int
op_done (void *user_data, int *error)
{
  struct op *o = user_data;
  struct run *r = o->r;
  int want = o->seq == r->fault_seq ? EIO : 0;

  o->calls++;
  o->error = *error;
  if (o->calls > 1) {
    r->bad_calls++;
    return 1;
  }
  o->done = true;
  r->in_flight--;
  r->completed++;
  if (o->error != want) {
    r->bad_error++;
    fprintf (stderr, "%s: command #%d (kind %d, [%" PRIu64 "+%zu]) completed "
             "with error %d, expected %d\n", r->what, o->seq, o->kind, o->offset,
             o->count, o->error, want);
  }

  /* Peek at buffers of reads still in flight (single-threaded: the
   * library is not writing them now).  Replies in order, the next read's
   * reply has not been parsed yet, so its buffer must be untouched; bytes
   * in the failing read's buffer before it failed would be stray bytes
   * of another reply. */
  if (o->seq + 1 < r->next) {
    struct op *n = &r->ops[o->seq + 1];
    if (n->kind == K_READ && !n->shared && !n->done
        && !all_bytes (n->buf, n->count, 0xAA))
      r->early++;
  }
  if (r->fault_seq >= 0 && r->fault_seq < r->next) {
    struct op *f = &r->ops[r->fault_seq];
    if (!f->done && f != o && !all_bytes (f->buf, f->count, 0xAA))
      r->stray_seen = true;
  }

  if (o->kind == K_READ) {
    check_read (r, o);
    if (!o->shared)
      guarded_free (o->buf);
    o->buf = NULL;              /* freed in the callback: the library must
                                   not touch it any more */
    free (o->expect);
    o->expect = NULL;
  }
  else if (o->kind == K_BLOCK_STATUS)
    check_block_status (r, o);
  else if (o->kind == K_WRITE) {
    guarded_free (o->buf);
    o->buf = NULL;
  }
  /* Issuing from the callback: possibly in the middle of the engine
   * completing the reads of one scattered receive. */
  if (r->refill_cb && r->next < r->upto && r->in_flight < DEPTH)
    issue (r, &r->ops[r->next++]);
  return 1;
}

/* ---- driving ---- */

static void
issue (struct run *r, struct op *o)
{
  nbd_completion_callback cb = { .callback = op_done, .user_data = o };
  int64_t ck = -1;

  o->r = r;
  o->seq = (int) (o - r->ops);
  switch (o->kind) {
  case K_READ:
    o->buf = o->shared ? r->shared + o->shared_at : guarded_alloc (o->count, 0xAA);
    o->expect = malloc (o->count);
    if (o->expect == NULL)
      exit (99);
    memcpy (o->expect, r->shadow + o->offset, o->count);
    /* fakesrv --holes: a read inside one odd 64 KiB extent reading as
     * zeroes (structured replies only). */
    o->hole = r->holes && r->mode != MODE_SIMPLE
              && o->offset / (64 * KiB) == (o->offset + o->count - 1) / (64 * KiB)
              && (o->offset / (64 * KiB)) % 2 == 1 && all_bytes (o->expect, o->count, 0);
    r->holes_read += o->hole;
    o->with_chunk = o->seq % 3 == 1;
    if (o->with_chunk)
      ck = nbd_aio_pread_structured (r->h, o->buf, o->count, o->offset,
                                     (nbd_chunk_callback) { .callback = chunk_check,
                                                            .user_data = o },
                                     cb, 0);
    else
      ck = nbd_aio_pread (r->h, o->buf, o->count, o->offset, cb, 0);
    break;
  case K_WRITE:
    o->buf = guarded_alloc (o->count, 0);
    fill_pattern (o->buf, o->count, o->seq, o->offset);
    memcpy (r->shadow + o->offset, o->buf, o->count);
    ck = nbd_aio_pwrite (r->h, o->buf, o->count, o->offset, cb, 0);
    break;
  case K_FLUSH:
    ck = nbd_aio_flush (r->h, cb, 0);
    break;
  case K_ZERO:
    memset (r->shadow + o->offset, 0, o->count);
    ck = nbd_aio_zero (r->h, o->count, o->offset, cb, 0);
    break;
  case K_BLOCK_STATUS:
    o->ex = (struct extents) { .n = 0 };
#ifdef LIBNBD_HAVE_NBD_AIO_BLOCK_STATUS_64
    if (r->mode == MODE_EXTENDED)
      ck = nbd_aio_block_status_64 (r->h, o->count, o->offset,
                                    (nbd_extent64_callback) { .callback = extent64_cb,
                                                              .user_data = &o->ex },
                                    cb, 0);
    else
#endif
      ck = nbd_aio_block_status (r->h, o->count, o->offset,
                                 (nbd_extent_callback) { .callback = extent32_cb,
                                                         .user_data = &o->ex },
                                 cb, 0);
    break;
  }
  test_count ();
  if (ck <= 0) {
    test_report (__FILE__, __LINE__, "%s: issuing command #%d (kind %d) failed",
                 r->what, o->seq, o->kind);
    exit (1);
  }
  r->in_flight++;
  account (r, o);
}

/* Issue ops up to index `upto` (never more than DEPTH in flight) and
 * poll until all issued so far have completed.  Polls alternate between
 * waiting forever, where the library waits inside its receive, and a
 * timeout, where it polls first and then receives without waiting. */
static void
drive (struct run *r, int upto)
{
  int polls = 0;

  r->upto = upto;
  while (!r->dead && (r->next < upto || r->in_flight > 0)) {
    int before = r->completed, rc;
    while (r->next < upto && r->in_flight < DEPTH)
      issue (r, &r->ops[r->next++]);
    rc = nbd_poll (r->h, polls++ % 2 ? 10000 : -1);
    if (rc == -1 || rc == 0) {
      test_report (__FILE__, __LINE__, "%s: nbd_poll %s with %d of %d commands "
                   "completed", r->what, rc ? "failed" : "stalled for 10 s",
                   before, upto);
      r->dead = true;
    }
  }
}

/* Connect to fakesrv in mode m with the extra arguments (NULL-ended). */
static void
run_open (struct run *r, enum mode m, int nops, char *const *args)
{
  char *argv[16] = { "--export", "::2M" };
  int n = 2;

  memset (r, 0, sizeof *r);
  r->mode = m;
  r->fault_seq = -1;
  r->in_order = true;
  snprintf (r->what, sizeof r->what, "%s", mode_name (m));
  for (int i = 0; args[i] && n < 14; i++) {
    size_t len = strlen (r->what);
    argv[n++] = args[i];
    snprintf (r->what + len, sizeof r->what - len, " %s", args[i]);
    if (strcmp (args[i], "--split-reads") == 0)
      r->split = true;
    if (strcmp (args[i], "--holes") == 0)
      r->holes = true;
    if (strcmp (args[i], "--reorder") == 0 && args[i + 1] && atoi (args[i + 1]) > 1)
      r->in_order = false;
  }
  if (!r->holes)                /* holes need zeroes: the disk starts zeroed */
    argv[n++] = "--pattern";
  argv[n] = NULL;
  r->h = open_fakesrv_v (m, argv);
  CHECK_INT (nbd_get_pread_initialize (r->h), 1);
  r->nops = nops;
  r->ops = calloc (nops, sizeof *r->ops);
  r->shadow = malloc (DISK);
  r->shared = guarded_alloc (SHARED, 0xAA);
  if (r->ops == NULL || r->shadow == NULL)
    exit (99);
  for (uint64_t i = 0; i < DISK; i++)
    r->shadow[i] = r->holes ? 0 : offset_pattern_byte (i);
  r->bytes0 = nbd_stats_bytes_received (r->h);
  r->chunks0 = nbd_stats_chunks_received (r->h);
}

#define ARGS(...) ((char *const[]) { __VA_ARGS__, NULL })

/* Final checks; closes the handle and frees everything. */
static void
run_close (struct run *r)
{
  uint64_t bytes = nbd_stats_bytes_received (r->h) - r->bytes0;
  uint64_t chunks = nbd_stats_chunks_received (r->h) - r->chunks0;

  test_count ();
  if (r->bad_data || r->bad_error || r->bad_calls || r->bad_guard || r->bad_chunk
      || r->not_cleared)
    test_report (__FILE__, __LINE__, "%s: wrong data %d, wrong errors %d, "
                 "callbacks run twice %d, guards broken %d, bad chunks %d, "
                 "failed read not cleared %d", r->what, r->bad_data, r->bad_error,
                 r->bad_calls, r->bad_guard, r->bad_chunk, r->not_cleared);
  test_count ();
  if (!r->dead && (r->completed != r->nops || r->in_flight != 0))
    test_report (__FILE__, __LINE__, "%s: %d of %d commands completed, %d in flight",
                 r->what, r->completed, r->nops, r->in_flight);
  CHECK (!r->dead);
  CHECK_INT (nbd_aio_is_ready (r->h), 1);
  CHECK_INT (nbd_aio_in_flight (r->h), 0);
  test_count ();
  if (!r->dead && (bytes != r->want_bytes || chunks != r->want_chunks))
    test_report (__FILE__, __LINE__, "%s: received %" PRIu64 " bytes in %"
                 PRIu64 " chunks, the server sent %" PRIu64 " in %" PRIu64,
                 r->what, bytes, chunks, r->want_bytes, r->want_chunks);
  test_count ();
  if (r->stray_seen || (r->in_order && r->early))
    test_report (__FILE__, __LINE__, "%s: bytes landed in the buffer of a read "
                 "whose reply had not come (%s)", r->what,
                 r->stray_seen ? "the failing read's" : "the next read's");
  test_count ();
  if (!guards_intact (r->shared, SHARED))
    test_report (__FILE__, __LINE__, "%s: a byte next to the shared area changed",
                 r->what);
  total_stray += r->stray_seen;
  total_runs++;
  if (!r->dead)
    CHECK_OK (nbd_shutdown (r->h, 0));
  nbd_close (r->h);
  for (int i = 0; i < r->nops; i++) {
    struct op *o = &r->ops[i];
    if (o->kind == K_READ && !o->shared)
      guarded_free (o->buf);
    else if (o->kind == K_WRITE)
      guarded_free (o->buf);
    free (o->expect);
  }
  guarded_free (r->shared);
  free (r->ops);
  free (r->shadow);
}

/* ---- workloads ---- */

/* Sizes around every threshold the receive path has: 1 byte, sector
 * and page sizes, the 16 KiB direct-receive size, the 64 KiB largest
 * scattered read (also the "big read" size), and a little beyond. */
static const size_t edge_sizes[] = {
  1, 2, 3, 7, 8, 9, 15, 16, 17, 511, 512, 513, 4095, 4096, 4097,
  16383, 16384, 16385, 32768, 65535, 65536, 65537,
};

static size_t
pick_size (uint64_t *rng)
{
  uint64_t x = rng_next (rng) % 100;

  if (x < 15)
    return edge_sizes[rng_next (rng) % (sizeof edge_sizes / sizeof edge_sizes[0])];
  if (x < 55)
    return 1 + rng_next (rng) % 512;
  if (x < 80)
    return 1 + rng_next (rng) % 8192;
  if (x < 97)
    return 1 + rng_next (rng) % (64 * KiB);
  return 64 * KiB + 1 + rng_next (rng) % (96 * KiB);   /* never scattered */
}

static void
plan_read (struct op *o, uint64_t *rng, size_t count)
{
  o->kind = K_READ;
  o->count = count;
  o->offset = rng_next (rng) % (DISK - count + 1);
}

/* nops reads of random sizes with distinct buffers. */
static void
plan_reads (struct run *r, uint64_t seed)
{
  uint64_t rng = seed;
  for (int i = 0; i < r->nops; i++)
    plan_read (&r->ops[i], &rng, pick_size (&rng));
}

static bool refill_cb;          /* for one_run */

static void
one_run (enum mode m, uint64_t seed, char *const *args,
         void (*plan) (struct run *, uint64_t), int fault_seq)
{
  struct run r;

  run_open (&r, m, NOPS, args);
  plan (&r, seed);
  r.fault_seq = fault_seq;
  r.refill_cb = refill_cb;
  if (refill_cb) {
    size_t len = strlen (r.what);
    snprintf (r.what + len, sizeof r.what - len, " (issuing from callbacks)");
  }
  drive (&r, r.nops);
  printf ("%s: %d commands, %d early landings%s", r.what, r.completed, r.early,
          fault_seq >= 0 ? (r.stray_seen ? ", stray bytes seen" : ", no stray bytes seen")
          : "");
  if (r.holes)
    printf (", %d reads answered with a hole", r.holes_read);
  printf ("\n");
  run_close (&r);
}

static void
part_in_order (void)
{
  for (enum mode m = MODE_SIMPLE; m <= MODE_EXTENDED; m++) {
    for (int round = 0; round < 3; round++) {
      refill_cb = round == 2;
      one_run (m, 100 + m * 10 + round, ARGS ("--reorder", "0"), plan_reads, -1);
    }
    refill_cb = false;
  }
}

/* Reads of at most 64 KiB (all predictable), random sizes or all of
 * one size depending on the seed. */
static void
plan_scatterable (struct run *r, uint64_t seed)
{
  uint64_t rng = seed;
  size_t same = seed % 2 ? 0 : edge_sizes[rng_next (&rng) % (sizeof edge_sizes / sizeof edge_sizes[0])];
  for (int i = 0; i < r->nops; i++) {
    size_t count = same ? same : pick_size (&rng);
    plan_read (&r->ops[i], &rng, count > 64 * KiB ? 64 * KiB : count);
  }
}

/* #0 alone; #1 alone, answered at once; #2..#n sent together and
 * answered newest first.  Only then does the client receive: #1's
 * reply, then #n's where a guess would have put #2's.  #2's reply comes
 * last, so its buffer must be untouched when #1's callback runs. */
static void
scripted_prefix (enum mode m, uint64_t seed, int n, bool split)
{
  struct run r;
  char group[16];

  snprintf (group, sizeof group, "%d", n - 1);
  if (split)
    run_open (&r, m, n + 1, ARGS ("--reorder", group, "--split-reads"));
  else
    run_open (&r, m, n + 1, ARGS ("--reorder", group));
  plan_scatterable (&r, seed);
  r.in_order = true;            /* as far as #1 and #2 go */
  /* #1's reply waits unread while the server answers the rest: a big
   * one would fill the socket and hold those answers back. */
  if (r.ops[1].count > 4096)
    r.ops[1].count = 4096;
  drive (&r, 1);
  issue (&r, &r.ops[r.next++]);         /* alone: sent at once */
  usleep (20000);
  while (r.next < r.nops)
    issue (&r, &r.ops[r.next++]);
  CHECK_OK (nbd_aio_notify_write (r.h));
  usleep (30000);
  drive (&r, r.nops);
  printf ("%s: scripted, %d reads\n", r.what, n);
  run_close (&r);
}

static void
part_reorder (void)
{
  static char *const groups[] = { "5", "64", "2", NULL };

  for (enum mode m = MODE_SIMPLE; m <= MODE_EXTENDED; m++) {
    for (int g = 0; groups[g]; g++)
      for (int round = 0; round < 2; round++) {
        refill_cb = round == 1;
        one_run (m, 200 + m * 100 + g * 10 + round,
                 ARGS ("--reorder", groups[g]), plan_reads, -1);
      }
    refill_cb = false;
    for (int i = 0; i < 4; i++)
      scripted_prefix (m, 250 + m * 100 + i, 3 + i * 11, m != MODE_SIMPLE && i == 3);
  }
}

/* Replies arriving a few bytes at a time: receives end anywhere, inside
 * a predicted header, inside a payload, inside the tail. */
static void
plan_tiny (struct run *r, uint64_t seed)
{
  uint64_t rng = seed;
  for (int i = 0; i < r->nops; i++)
    plan_read (&r->ops[i], &rng, 1 + rng_next (&rng) % (i % 10 ? 48 : 300));
}

/* Reads of `seed` bytes each. */
static void
plan_fixed (struct run *r, uint64_t seed)
{
  uint64_t rng = seed;
  for (int i = 0; i < r->nops; i++)
    plan_read (&r->ops[i], &rng, seed);
}

static void
part_pieces (void)
{
  static char *const sizes[] = { "1", "7", "13", "100", NULL };

  for (enum mode m = MODE_SIMPLE; m <= MODE_EXTENDED; m++)
    for (int i = 0; sizes[i]; i++) {
      one_run (m, 700 + m * 100 + i, ARGS ("--write-size", sizes[i]), plan_tiny, -1);
      one_run (m, 750 + m * 100 + i, ARGS ("--write-size", sizes[i], "--reorder", "3"),
               plan_tiny, -1);
    }
  /* Reads of 16 or 100 bytes split in two chunks, each chunk sent in a
   * write of its own: receives end between chunks, often between the
   * two of one read, which (half filled) must not be predicted. */
  for (enum mode m = MODE_STRUCTURED; m <= MODE_EXTENDED; m++)
    for (int i = 0; i < 2; i++) {
      size_t count = i ? 100 : 16;
      char wsize[16];
      snprintf (wsize, sizeof wsize, "%zu", (m == MODE_EXTENDED ? 40 : 28) + count / 2);
      one_run (m, count, ARGS ("--write-size", wsize, "--split-reads"), plan_fixed, -1);
    }
}

static void
part_split (void)
{
  for (enum mode m = MODE_STRUCTURED; m <= MODE_EXTENDED; m++) {
    one_run (m, 300 + m, ARGS ("--split-reads"), plan_reads, -1);
    one_run (m, 310 + m, ARGS ("--split-reads", "--reorder", "5"), plan_reads, -1);
  }
  /* Simple replies ignore --split-reads. */
  one_run (MODE_SIMPLE, 320, ARGS ("--split-reads"), plan_reads, -1);
}

/* Reads into one shared area: starting at its beginning (the same
 * buffer) or anywhere in it (overlapping).  Unless all are shared, a
 * third have buffers of their own and must come back exact. */
static void
plan_into_shared (struct run *r, uint64_t seed, bool all)
{
  uint64_t rng = seed;
  for (int i = 0; i < r->nops; i++) {
    struct op *o = &r->ops[i];
    size_t count = pick_size (&rng);
    int kind = all ? i % 2 : (int) (rng_next (&rng) % 3);
    if (count > SHARED / 2)
      count = SHARED / 2;
    plan_read (o, &rng, count);
    if (kind == 0 || kind == 1) {
      o->shared = true;
      o->shared_at = kind == 0 ? 0 : rng_next (&rng) % (SHARED - count + 1);
    }
  }
}

static void
plan_shared (struct run *r, uint64_t seed)
{
  plan_into_shared (r, seed, false);
}

static void
part_shared_buffer (void)
{
  static char *const groups[] = { "0", "5", "64", NULL };

  for (enum mode m = MODE_SIMPLE; m <= MODE_EXTENDED; m++)
    for (int g = 0; groups[g]; g++)
      for (int round = 0; round < 2; round++)
        one_run (m, 400 + m * 100 + g * 10 + round,
                 ARGS ("--reorder", groups[g]), plan_shared, -1);
}

/* A read that fails must end all zeroes (pread_initialize), even if
 * the bytes of other replies went into its buffer on a miss. */
static void
plan_same_size (struct run *r, uint64_t seed)
{
  uint64_t rng = seed;
  static const size_t sizes[] = { 4096, 1, 777, 16384, 65536, 100 };
  size_t count = sizes[seed % (sizeof sizes / sizeof sizes[0])];
  for (int i = 0; i < r->nops; i++)
    plan_read (&r->ops[i], &rng, count);
}

static void
stray_scripted (enum mode m, uint64_t seed)
{
  struct run r;

  /* #0 alone; #1 goes out alone and is answered alone; #2..#4 come
   * back newest first, #2 (the third command) with an error: a guess
   * of #2, #3, #4 would put the replies of #4 and #3 into the buffers
   * of #2 and #3.  #2's buffer must stay untouched until it fails, and
   * then be cleared. */
  run_open (&r, m, 5, ARGS ("--reorder", "3", "--fault", "error-reply",
                            "--fault-at", "3"));
  plan_same_size (&r, seed);
  r.fault_seq = 2;
  drive (&r, 1);
  drive (&r, 5);
  printf ("%s: scripted, %zu-byte reads: %s\n", r.what, r.ops[0].count,
          r.stray_seen ? "stray bytes seen" : "no stray bytes seen");
  run_close (&r);
}

static void
part_stray_cleared (void)
{
  for (enum mode m = MODE_SIMPLE; m <= MODE_EXTENDED; m++) {
    for (uint64_t s = 0; s < 6; s++)
      stray_scripted (m, s);
    /* Random sizes, replies reordered in groups of 2..9, the K-th
     * command failing. */
    for (int round = 0; round < 4; round++) {
      char n[16], k[16];
      uint64_t seed = 500 + m * 100 + round, rng = seed;
      snprintf (n, sizeof n, "%d", 2 + (int) (rng_next (&rng) % 8));
      snprintf (k, sizeof k, "%d", 2 + (int) (rng_next (&rng) % 100));
      one_run (m, seed, ARGS ("--reorder", n, "--fault", "error-reply",
                              "--fault-at", k),
               plan_reads, atoi (k) - 1);
    }
  }
  printf ("stray bytes seen in %d of %d runs\n", total_stray, total_runs);
}

/* Reads into the shared area while another thread keeps overwriting
 * all of it, as other handles reading into the same buffer do: bytes
 * that land in a caller's buffer may change at any moment, so the
 * connection survives only if none of them is ever parsed.  Replies
 * in order and reordered (where a guess of the next reply would miss),
 * split, and in small pieces (receives ending inside headers and
 * payloads). */
struct scribbler {
  uint8_t *area;
  bool stop;
  unsigned long passes;
};

static void *
scribble (void *arg)
{
  struct scribbler *s = arg;

  while (!__atomic_load_n (&s->stop, __ATOMIC_RELAXED)) {
    memset (s->area, (int) (s->passes * 37 + 1), SHARED);
    __atomic_signal_fence (__ATOMIC_SEQ_CST);   /* keep every pass */
    s->passes++;
  }
  return NULL;
}

static void
plan_all_shared (struct run *r, uint64_t seed)
{
  plan_into_shared (r, seed, true);
}

static void
scribbled_run (enum mode m, uint64_t seed, char *const *args)
{
  struct run r;
  struct scribbler s;
  pthread_t t;

  run_open (&r, m, NOPS, args);
  plan_all_shared (&r, seed);
  s = (struct scribbler) { .area = r.shared };
  if (pthread_create (&t, NULL, scribble, &s) != 0) {
    perror ("pthread_create");
    exit (99);
  }
  drive (&r, r.nops);
  __atomic_store_n (&s.stop, true, __ATOMIC_RELAXED);
  pthread_join (t, NULL);
  printf ("%s: %d commands into an area overwritten %lu times meanwhile\n",
          r.what, r.completed, s.passes);
  run_close (&r);
}

static void
part_scribbled (void)
{
  for (enum mode m = MODE_SIMPLE; m <= MODE_EXTENDED; m++)
    for (int round = 0; round < 2; round++) {
      uint64_t seed = 900 + m * 100 + round * 10;
      scribbled_run (m, seed, ARGS ("--reorder", "0"));
      scribbled_run (m, seed + 1, ARGS ("--reorder", "5"));
      scribbled_run (m, seed + 2, ARGS ("--reorder", "64"));
      scribbled_run (m, seed + 3, ARGS ("--reorder", "3", "--write-size", "100"));
      if (m != MODE_SIMPLE)
        scribbled_run (m, seed + 4, ARGS ("--reorder", "2", "--split-reads"));
    }
}

/* Reads mixed with writes, write zeroes, flushes and block status (not
 * in simple mode: no meta context), which stop a plan. */
static void
plan_mixed (struct run *r, uint64_t seed)
{
  uint64_t rng = seed;
  for (int i = 0; i < r->nops; i++) {
    struct op *o = &r->ops[i];
    uint64_t x = rng_next (&rng) % 100;
    if (x < 60)
      plan_read (o, &rng, pick_size (&rng));
    else if (x < 75) {
      plan_read (o, &rng, pick_size (&rng));
      o->kind = K_WRITE;
    }
    else if (x < 82)
      o->kind = K_FLUSH;
    else if (x < 90) {
      plan_read (o, &rng, 1 + rng_next (&rng) % (128 * KiB));
      o->kind = K_ZERO;
    }
    else if (r->mode != MODE_SIMPLE) {
      plan_read (o, &rng, 1 + rng_next (&rng) % (256 * KiB));
      o->kind = K_BLOCK_STATUS;
    }
    else
      plan_read (o, &rng, 1 + rng_next (&rng) % 64);
  }
}

static void
part_mixed (void)
{
  for (enum mode m = MODE_SIMPLE; m <= MODE_EXTENDED; m++) {
    one_run (m, 600 + m, ARGS ("--reorder", "0"), plan_mixed, -1);
    one_run (m, 610 + m, ARGS ("--reorder", "5"), plan_mixed, -1);
    one_run (m, 620 + m, ARGS ("--reorder", "64"), plan_mixed, -1);
    if (m != MODE_SIMPLE) {
      one_run (m, 630 + m, ARGS ("--reorder", "3", "--split-reads"), plan_mixed, -1);
      one_run (m, 640 + m, ARGS ("--holes"), plan_mixed, -1);
      one_run (m, 650 + m, ARGS ("--holes", "--reorder", "4"), plan_mixed, -1);
    }
  }
}

int
main (int argc, char *argv[])
{
  static const struct {
    const char *name;
    void (*fn) (void);
  } parts[] = {
    { "in-order", part_in_order },
    { "reorder", part_reorder },
    { "split", part_split },
    { "shared-buffer", part_shared_buffer },
    { "scribbled", part_scribbled },
    { "stray-cleared", part_stray_cleared },
    { "mixed", part_mixed },
    { "pieces", part_pieces },
  };

  if (argc != 2) {
    fprintf (stderr, "usage: %s PART\n", argv[0]);
    return 99;
  }
  require_fakesrv ();
  watchdog (argv[1], 60);
  for (size_t i = 0; i < sizeof parts / sizeof parts[0]; i++) {
    if (strcmp (argv[1], parts[i].name) == 0) {
      parts[i].fn ();
      printf ("%d runs\n", total_runs);
      return test_exit ();
    }
  }
  fprintf (stderr, "unknown part %s\n", argv[1]);
  return 99;
}
