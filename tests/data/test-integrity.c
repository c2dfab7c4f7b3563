/* End-to-end integrity (argv[1]: nbdkit or qemu).
 *
 * A server started in the background on a Unix socket (nbdkit memory, or
 * qemu-nbd on a sparse raw file) serves one disk to two connections.
 * Connection A writes patterns and zeroes with 64 aio commands in flight,
 * sizes from 1 byte to the server's maximum, random offsets from a fixed
 * seed (commands in flight never overlap, so the outcome is defined); a
 * shadow copy in memory records what the disk must hold.  After a flush,
 * connection B reads everything back, again with 64 commands in flight
 * (a sequential sweep, then random reads, plain and structured), and
 * every byte is compared with the shadow. */
#include "callbacks.h"

#include <math.h>

#define DISK (128 * MiB)
#define DEPTH 64
#define WRITES 600
#define RANDOM_READS 400

static uint8_t *shadow;
static uint64_t rng = 20240501;
static size_t maxsize;

struct op {
  bool busy;
  int64_t cookie;
  uint8_t *buf;
  uint64_t offset;
  size_t count;
  bool is_read;
  struct chunks c;
  int error;
  bool done;
  int index;                    /* writes: position in the list */
};

static struct op ops[DEPTH];
static int completed, failures, mismatches, bad_chunks;
static uint64_t bytes_written, bytes_read;
static int max_in_flight, overlap_waits;
static uint64_t woff[WRITES];
static size_t wlen[WRITES];
static bool wbarrier[WRITES], wdone[WRITES];

static void
note_in_flight (struct nbd_handle *h)
{
  int n = nbd_aio_in_flight (h);
  if (n > max_in_flight)
    max_in_flight = n;
}

/* Sizes spread evenly on a log scale from 1 to maxsize. */
static size_t
random_size (void)
{
  double u = (rng_next (&rng) >> 11) * (1.0 / 9007199254740992.0);
  size_t n = (size_t) exp (u * log ((double) maxsize));
  if (n < 1)
    n = 1;
  if (n > maxsize)
    n = maxsize;
  return n;
}

static bool
overlaps_busy (uint64_t off, size_t n)
{
  for (int i = 0; i < DEPTH; i++)
    if (ops[i].busy && !ops[i].done
        && off < ops[i].offset + ops[i].count && ops[i].offset < off + n)
      return true;
  return false;
}

static int
op_done (void *user_data, int *error)
{
  struct op *o = user_data;

  o->error = *error;
  o->done = true;
  if (!o->is_read)
    wdone[o->index] = true;
  completed++;
  if (*error) {
    failures++;
    fprintf (stderr, "%s of %zu at %" PRIu64 " failed: %s\n", o->is_read ? "read" : "write",
             o->count, o->offset, strerror (*error));
  }
  else if (o->is_read) {
    if (memcmp (o->buf, shadow + o->offset, o->count) != 0) {
      size_t i = 0;
      while (o->buf[i] == shadow[o->offset + i])
        i++;
      if (mismatches++ < 5)
        fprintf (stderr, "MISMATCH: read of %zu at %" PRIu64 ": first difference at "
                 "disk offset %" PRIu64 " (got 0x%02x, want 0x%02x)\n", o->count, o->offset,
                 o->offset + i, o->buf[i], shadow[o->offset + i]);
    }
    if (!guards_intact (o->buf, o->count))
      mismatches++;
    if (o->c.bad)
      bad_chunks++;
  }
  return 1;
}

/* Wait for a free slot, reclaiming finished ones. */
static struct op *
free_slot (struct nbd_handle *h)
{
  for (;;) {
    for (int i = 0; i < DEPTH; i++) {
      if (ops[i].busy && ops[i].done) {
        guarded_free (ops[i].buf);
        ops[i].buf = NULL;
        ops[i].busy = false;
      }
    }
    for (int i = 0; i < DEPTH; i++)
      if (!ops[i].busy)
        return &ops[i];
    if (nbd_poll (h, -1) == -1) {
      fprintf (stderr, "nbd_poll: %s\n", nbd_get_error ());
      exit (1);
    }
  }
}

static void
wait_all (struct nbd_handle *h)
{
  while (nbd_aio_in_flight (h) > 0)
    if (nbd_poll (h, -1) == -1) {
      fprintf (stderr, "nbd_poll: %s\n", nbd_get_error ());
      exit (1);
    }
  free_slot (h);
  for (int i = 0; i < DEPTH; i++) {
    if (ops[i].busy && ops[i].done) {
      guarded_free (ops[i].buf);
      ops[i].buf = NULL;
      ops[i].busy = false;
    }
  }
}

static void
start_write (struct nbd_handle *h, int w, size_t n, uint64_t off, bool zero)
{
  struct op *o;

  o = free_slot (h);
  /* no overlap with anything in flight (the list is built so that this
   * never waits; if it did, waiting keeps the outcome defined) */
  if (overlaps_busy (off, n))
    overlap_waits++;
  while (overlaps_busy (off, n)) {
    if (nbd_poll (h, -1) == -1)
      exit (1);
    free_slot (h);
  }
  *o = (struct op) { .busy = true, .offset = off, .count = n, .index = w };
  nbd_completion_callback cb = { .callback = op_done, .user_data = o };
  if (zero) {
    memset (shadow + off, 0, n);
    o->cookie = nbd_aio_zero (h, n, off, cb, w % 3 == 0 ? LIBNBD_CMD_FLAG_NO_HOLE : 0);
  }
  else {
    o->buf = guarded_alloc (n, 0);
    fill_pattern (o->buf, n, w, off);
    memcpy (shadow + off, o->buf, n);
    o->cookie = nbd_aio_pwrite (h, o->buf, n, off, cb,
                                w % 7 == 0 && nbd_can_fua (h) == 1 ? LIBNBD_CMD_FLAG_FUA : 0);
    bytes_written += n;
  }
  note_in_flight (h);
  if (o->cookie <= 0) {
    fprintf (stderr, "issuing write %d (%zu at %" PRIu64 "): %s\n", w, n, off,
             nbd_get_error ());
    exit (1);
  }
}

static void
start_read (struct nbd_handle *h, int r, size_t n, uint64_t off)
{
  struct op *o = free_slot (h);
  nbd_completion_callback cb = { .callback = op_done, .user_data = o };

  *o = (struct op) { .busy = true, .offset = off, .count = n, .is_read = true };
  o->buf = guarded_alloc (n, 0xAA);
  if (r % 2) {
    o->c = (struct chunks) { .ret = 0 };
    o->cookie = nbd_aio_pread_structured (h, o->buf, n, off,
                                          (nbd_chunk_callback) { .callback = chunk_cb,
                                                                 .user_data = &o->c },
                                          cb, 0);
    o->c.buf = o->buf;
    o->c.count = n;
    o->c.offset = off;
  }
  else
    o->cookie = nbd_aio_pread (h, o->buf, n, off, cb, 0);
  if (o->cookie <= 0) {
    fprintf (stderr, "issuing read %d (%zu at %" PRIu64 "): %s\n", r, n, off,
             nbd_get_error ());
    exit (1);
  }
  bytes_read += n;
  note_in_flight (h);
}

int
main (int argc, char *argv[])
{
  struct bg_server srv = { .pid = -1 };
  struct nbd_handle *a, *b;
  char file[64] = "";
  double t0;
  int64_t max;
  int reads = 0;

  if (argc != 2 || (strcmp (argv[1], "nbdkit") && strcmp (argv[1], "qemu"))) {
    fprintf (stderr, "usage: %s nbdkit|qemu\n", argv[0]);
    return 99;
  }
  watchdog (argv[1], 115);
  if (strcmp (argv[1], "nbdkit") == 0) {
    require_nbdkit ();
    if (bg_start (&srv, (char *const[]) { "nbdkit", "-f", "-U", "@SOCK@",
                                          "--exit-with-parent", "memory", "128M",
                                          NULL }) == -1)
      return 99;
  }
  else {
    int fd;
    if (!have_program ("qemu-nbd"))
      TEST_SKIP ("qemu-nbd is not installed");
    strcpy (file, "/tmp/fastnbd-data-disk-XXXXXX");
    fd = mkstemp (file);
    if (fd == -1 || ftruncate (fd, DISK) == -1) {
      perror ("disk file");
      return 99;
    }
    close (fd);
    if (bg_start (&srv, (char *const[]) { "qemu-nbd", "-f", "raw", "-k", "@SOCK@",
                                          "-e", "4", "-t", file, NULL }) == -1)
      return 99;
  }
  a = open_unix (srv.sock);
  b = open_unix (srv.sock);
  CHECK_INT (nbd_get_size (a), DISK);
  max = nbd_get_block_size (a, LIBNBD_SIZE_MAXIMUM);
  if (max <= 0 || max > 32 * MiB)
    max = 32 * MiB;
#ifdef LIBNBD_SIZE_PAYLOAD
  if (nbd_get_block_size (a, LIBNBD_SIZE_PAYLOAD) > 0
      && nbd_get_block_size (a, LIBNBD_SIZE_PAYLOAD) < max)
    max = nbd_get_block_size (a, LIBNBD_SIZE_PAYLOAD);
#endif
  maxsize = max;
  printf ("%s: disk %d MiB, largest request %zu, block size min %" PRId64 "\n", argv[1],
          DISK / MiB, maxsize, nbd_get_block_size (a, LIBNBD_SIZE_MINIMUM));
  shadow = calloc (1, DISK);
  if (shadow == NULL)
    return 99;

  /* ---- writes on A ---- */
  t0 = now_s ();
  /* The list of writes, fixed by the seed: each write avoids the 63
   * before it, so any 64 in flight together are disjoint; a write over
   * 1 MiB is a barrier (issued alone after the others finish). */
  for (int w = 0; w < WRITES; w++) {
    size_t n = w == 0 ? 1 : w == 1 ? maxsize : random_size ();
    bool clash;
    int tries = 0;

    if (w > 1 && w % 64 != 0 && n > 1 * MiB)
      n = 1 + n % MiB;        /* most writes stay under 1 MiB */
    wlen[w] = n;
    wbarrier[w] = n > 1 * MiB;
    do {
      woff[w] = rng_next (&rng) % (DISK - n + 1);
      clash = false;
      for (int j = w - 1; !wbarrier[w] && j >= 0 && j > w - DEPTH; j--)
        clash |= woff[w] < woff[j] + wlen[j] && woff[j] < woff[w] + n;
    } while (clash && ++tries < 10000);
    if (clash) {
      fprintf (stderr, "cannot place write %d\n", w);
      return 99;
    }
  }
  for (int w = 0, low = 0; w < WRITES; w++) {
    if (wbarrier[w])
      wait_all (a);
    /* a sliding window over the list: everything before w-63 is done */
    for (;;) {
      while (low < w && wdone[low])
        low++;
      if (low > w - DEPTH)
        break;
      if (nbd_poll (a, -1) == -1)
        return 1;
    }
    start_write (a, w, wlen[w], woff[w], w % 10 == 9);
  }
  wait_all (a);
  CHECK_OK (nbd_flush (a, 0));
  printf ("%d writes and zeroes (%" PRIu64 " bytes written) in %.2f s\n", WRITES,
          bytes_written, now_s () - t0);
  CHECK_INT (completed, WRITES);
  CHECK_INT (max_in_flight, DEPTH);
  CHECK_INT (overlap_waits, 0);
  max_in_flight = 0;
  CHECK_INT (failures, 0);

  /* ---- reads on B: a sweep, then random ---- */
  t0 = now_s ();
  completed = 0;
  for (uint64_t off = 0; off < DISK; reads++) {
    size_t n = random_size ();
    if (n > DISK - off)
      n = DISK - off;
    start_read (b, reads, n, off);
    off += n;
  }
  for (int i = 0; i < RANDOM_READS; i++, reads++) {
    size_t n = i == 0 ? 1 : i == 1 ? maxsize : random_size ();
    start_read (b, reads, n, rng_next (&rng) % (DISK - n + 1));
  }
  wait_all (b);
  printf ("%d reads (%" PRIu64 " bytes) in %.2f s: %d mismatches\n", reads, bytes_read,
          now_s () - t0, mismatches);
  CHECK_INT (completed, reads);
  CHECK_INT (max_in_flight, DEPTH);
  CHECK_INT (failures, 0);
  CHECK_INT (mismatches, 0);
  CHECK_INT (bad_chunks, 0);

  CHECK_OK (nbd_shutdown (a, 0));
  CHECK_OK (nbd_shutdown (b, 0));
  nbd_close (a);
  nbd_close (b);
  bg_stop (&srv);
  if (*file)
    unlink (file);
  free (shadow);
  return test_exit ();
}
