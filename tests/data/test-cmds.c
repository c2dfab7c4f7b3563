/* Every data call, sync and aio, against one server (argv[1]):
 *
 *   nbdkit            nbdkit memory 16M (nbd_connect_command)
 *   qemu              qemu-nbd -f raw on a sparse 16 MiB file (Unix socket)
 *   fakesrv           fakesrv --holes, structured replies
 *   fakesrv-extended  fakesrv --holes --extended
 *   fakesrv-simple    fakesrv, no structured replies
 *
 * For each call: the sync form succeeds, the aio form returns a positive
 * cookie, its completion callback runs once with *error 0 and its .free
 * once, and the data (read back) is what the call should have left.
 * Block status is checked after writing and trimming known ranges. */
#include "callbacks.h"

static const char *server;
static bool structured, extended, is_fakesrv, sparse_reads;

#define DISK (16 * MiB)

/* Run an aio call with a counting completion callback; wait; check. */
#define AIO_OK(call_with_cb)                                            \
  do {                                                                  \
    struct done d_ = { .ret = 0 };                                      \
    nbd_completion_callback cb = done_closure (&d_);                    \
    int64_t ck_ = (call_with_cb);                                       \
    CHECK (ck_ > 0);                                                    \
    if (ck_ > 0) {                                                      \
      CHECK_INT (wait_for (h, ck_), 1);                                 \
      CHECK_INT (d_.calls, 1);                                          \
      CHECK_INT (d_.error, 0);                                          \
    }                                                                   \
    CHECK_INT (d_.frees, 1);                                            \
  } while (0)

static void
t_write_read (struct nbd_handle *h)
{
  uint8_t *w = guarded_alloc (256 * KiB, 0), *r = guarded_alloc (256 * KiB, 0xAA);
  bool fua = nbd_can_fua (h) == 1;

  /* sync pwrite / pread */
  fill_pattern (w, 64 * KiB, 1, 0);
  CHECK_OK (nbd_pwrite (h, w, 64 * KiB, 0, 0));
  CHECK_OK (nbd_pread (h, r, 64 * KiB, 0, 0));
  CHECK (memcmp (w, r, 64 * KiB) == 0);

  /* FUA */
  fill_pattern (w, 64 * KiB, 2, 64 * KiB);
  if (fua)
    CHECK_OK (nbd_pwrite (h, w, 64 * KiB, 64 * KiB, LIBNBD_CMD_FLAG_FUA));
  else
    CHECK_FAIL (nbd_pwrite (h, w, 64 * KiB, 64 * KiB, LIBNBD_CMD_FLAG_FUA),
                EINVAL, "nbd_pwrite");
  memset (r, 0xAA, 64 * KiB);
  if (fua) {
    CHECK_OK (nbd_pread (h, r, 64 * KiB, 64 * KiB, 0));
    CHECK (memcmp (w, r, 64 * KiB) == 0);
  }

  /* aio pwrite (with and without FUA) / pread, bigger than the direct
   * receive threshold and not aligned */
  fill_pattern (w, 200 * KiB + 7, 3, 300 * KiB + 1);
  AIO_OK (nbd_aio_pwrite (h, w, 200 * KiB + 7, 300 * KiB + 1, cb, 0));
  memset (r, 0xAA, 256 * KiB);
  AIO_OK (nbd_aio_pread (h, r, 200 * KiB + 7, 300 * KiB + 1, cb, 0));
  CHECK (memcmp (w, r, 200 * KiB + 7) == 0);
  if (fua) {
    fill_pattern (w, 4 * KiB, 4, 8 * MiB);
    AIO_OK (nbd_aio_pwrite (h, w, 4 * KiB, 8 * MiB, cb, LIBNBD_CMD_FLAG_FUA));
    AIO_OK (nbd_aio_pread (h, r, 4 * KiB, 8 * MiB, cb, 0));
    CHECK (memcmp (w, r, 4 * KiB) == 0);
  }

  /* one byte, at the very end of the disk */
  w[0] = 0xC3;
  CHECK_OK (nbd_pwrite (h, w, 1, DISK - 1, 0));
  r[0] = 0;
  CHECK_OK (nbd_pread (h, r, 1, DISK - 1, 0));
  CHECK_INT (r[0], 0xC3);

  CHECK (guards_intact (w, 256 * KiB));
  CHECK (guards_intact (r, 256 * KiB));
  guarded_free (w);
  guarded_free (r);
}

static void
t_pread_structured (struct nbd_handle *h)
{
  const size_t n = 128 * KiB;
  uint8_t *w = guarded_alloc (n, 0), *r = guarded_alloc (n, 0xAA);
  struct chunks c = { .ret = 0 };

  fill_pattern (w, n, 5, 1 * MiB);
  CHECK_OK (nbd_pwrite (h, w, n, 1 * MiB, 0));

  /* sync: written data comes back as DATA chunks covering the range */
  CHECK_OK (nbd_pread_structured (h, r, n, 1 * MiB, chunk_closure (&c, r, n, 1 * MiB), 0));
  CHECK (memcmp (w, r, n) == 0);
  CHECK (c.calls >= 1);
  CHECK (c.data >= 1);
  CHECK_INT (c.errors, 0);
  CHECK_INT (c.covered, n);
  CHECK_INT (c.bad, 0);
  CHECK_INT (c.frees, 1);

  /* DF, where the server supports it: one chunk */
  if (nbd_can_df (h) == 1) {
    memset (&c, 0, sizeof c);
    memset (r, 0xAA, n);
    CHECK_OK (nbd_pread_structured (h, r, n, 1 * MiB, chunk_closure (&c, r, n, 1 * MiB),
                                    LIBNBD_CMD_FLAG_DF));
    CHECK (memcmp (w, r, n) == 0);
    CHECK_INT (c.calls, 1);
    CHECK_INT (c.frees, 1);
  }

  /* aio */
  memset (&c, 0, sizeof c);
  memset (r, 0xAA, n);
  AIO_OK (nbd_aio_pread_structured (h, r, n, 1 * MiB, chunk_closure (&c, r, n, 1 * MiB),
                                    cb, 0));
  CHECK (memcmp (w, r, n) == 0);
  CHECK (c.data >= 1);
  CHECK_INT (c.covered, n);
  CHECK_INT (c.bad, 0);
  CHECK_INT (c.frees, 1);

  /* Never written: a server that reads sparsely reports a hole.  For
   * fakesrv, [64K,128K) is a hole extent; elsewhere, use 12 MiB. */
  {
    uint64_t off = is_fakesrv ? 64 * KiB : 12 * MiB;
    size_t len = 64 * KiB;
    memset (&c, 0, sizeof c);
    memset (r, 0xAA, n);
    if (is_fakesrv) {
      /* t_write_read wrote [0,128K): make the hole extent zero again. */
      CHECK_OK (nbd_zero (h, len, off, 0));
    }
    CHECK_OK (nbd_pread_structured (h, r, len, off, chunk_closure (&c, r, len, off), 0));
    CHECK (all_bytes (r, len, 0));
    CHECK_INT (c.covered, len);
    CHECK_INT (c.bad, 0);
    CHECK_INT (c.frees, 1);
    printf ("%s: unwritten range read as %d data and %d hole chunks\n", server,
            c.data, c.holes);
    if (sparse_reads)
      CHECK (c.holes >= 1);
    /* aio, same range */
    memset (&c, 0, sizeof c);
    memset (r, 0xAA, n);
    AIO_OK (nbd_aio_pread_structured (h, r, len, off, chunk_closure (&c, r, len, off),
                                      cb, 0));
    CHECK (all_bytes (r, len, 0));
    CHECK_INT (c.covered, len);
    if (sparse_reads)
      CHECK (c.holes >= 1);
  }
  CHECK (guards_intact (w, n));
  CHECK (guards_intact (r, n));
  guarded_free (w);
  guarded_free (r);
}

static void
t_flush_cache (struct nbd_handle *h)
{
  if (nbd_can_flush (h) == 1) {
    CHECK_OK (nbd_flush (h, 0));
    AIO_OK (nbd_aio_flush (h, cb, 0));
  }
  else
    CHECK_FAIL (nbd_flush (h, 0), EINVAL, "nbd_flush");
  if (nbd_can_cache (h) == 1) {
    CHECK_OK (nbd_cache (h, 1 * MiB, 0, 0));
    AIO_OK (nbd_aio_cache (h, 64 * KiB, 2 * MiB, cb, 0));
  }
  else
    CHECK_FAIL (nbd_cache (h, 1 * MiB, 0, 0), EINVAL, "nbd_cache");
}

/* Write pattern data over [off, off+len), run op, then expect zeroes. */
static void
expect_zeroed (struct nbd_handle *h, uint64_t off, size_t len, const char *what)
{
  uint8_t *r = guarded_alloc (len, 0xAA);
  CHECK_OK (nbd_pread (h, r, len, off, 0));
  if (!all_bytes (r, len, 0)) {
    test_count ();
    test_report (__FILE__, __LINE__, "%s: [%" PRIu64 ", +%zu) does not read as zero",
                 what, off, len);
  }
  CHECK (guards_intact (r, len));
  guarded_free (r);
}

static void
dirty (struct nbd_handle *h, uint64_t off, size_t len)
{
  uint8_t *w = malloc (len);
  fill_pattern (w, len, off, off);
  CHECK_OK (nbd_pwrite (h, w, len, off, 0));
  free (w);
}

static void
t_trim_zero (struct nbd_handle *h)
{
  const size_t len = 128 * KiB;

  if (nbd_can_trim (h) == 1) {
    dirty (h, 4 * MiB, len);
    CHECK_OK (nbd_trim (h, len, 4 * MiB, 0));
    expect_zeroed (h, 4 * MiB, len, "trim");
    dirty (h, 4 * MiB, len);
    AIO_OK (nbd_aio_trim (h, len, 4 * MiB, cb, 0));
    expect_zeroed (h, 4 * MiB, len, "aio_trim");
    if (nbd_can_fua (h) == 1) {
      dirty (h, 4 * MiB, len);
      CHECK_OK (nbd_trim (h, len, 4 * MiB, LIBNBD_CMD_FLAG_FUA));
      expect_zeroed (h, 4 * MiB, len, "trim FUA");
    }
  }
  else
    CHECK_FAIL (nbd_trim (h, len, 4 * MiB, 0), EINVAL, "nbd_trim");

  if (nbd_can_zero (h) != 1) {
    CHECK_FAIL (nbd_zero (h, len, 5 * MiB, 0), EINVAL, "nbd_zero");
    return;
  }
  dirty (h, 5 * MiB, len);
  CHECK_OK (nbd_zero (h, len, 5 * MiB, 0));
  expect_zeroed (h, 5 * MiB, len, "zero");
  dirty (h, 5 * MiB, len);
  AIO_OK (nbd_aio_zero (h, len, 5 * MiB, cb, 0));
  expect_zeroed (h, 5 * MiB, len, "aio_zero");
  dirty (h, 5 * MiB, len);
  CHECK_OK (nbd_zero (h, len, 5 * MiB, LIBNBD_CMD_FLAG_NO_HOLE));
  expect_zeroed (h, 5 * MiB, len, "zero NO_HOLE");
  dirty (h, 5 * MiB, len);
  AIO_OK (nbd_aio_zero (h, len, 5 * MiB, cb, LIBNBD_CMD_FLAG_NO_HOLE));
  expect_zeroed (h, 5 * MiB, len, "aio_zero NO_HOLE");
  /* unaligned */
  dirty (h, 5 * MiB, len);
  CHECK_OK (nbd_zero (h, 1000, 5 * MiB + 17, 0));
  expect_zeroed (h, 5 * MiB + 17, 1000, "zero unaligned");
  if (nbd_can_fua (h) == 1) {
    dirty (h, 5 * MiB, len);
    CHECK_OK (nbd_zero (h, len, 5 * MiB, LIBNBD_CMD_FLAG_FUA));
    expect_zeroed (h, 5 * MiB, len, "zero FUA");
  }
  if (nbd_can_fast_zero (h) == 1) {
    /* The server may refuse a fast zero it cannot do fast (ENOTSUP),
     * but on these servers zeroing is always fast. */
    dirty (h, 5 * MiB, len);
    CHECK_OK (nbd_zero (h, len, 5 * MiB, LIBNBD_CMD_FLAG_FAST_ZERO));
    expect_zeroed (h, 5 * MiB, len, "zero FAST_ZERO");
    dirty (h, 5 * MiB, len);
    AIO_OK (nbd_aio_zero (h, len, 5 * MiB, cb, LIBNBD_CMD_FLAG_FAST_ZERO));
    expect_zeroed (h, 5 * MiB, len, "aio_zero FAST_ZERO");
  }
  else
    CHECK_FAIL (nbd_zero (h, len, 5 * MiB, LIBNBD_CMD_FLAG_FAST_ZERO), EINVAL,
                "nbd_zero");
  printf ("%s: can_fua=%d can_trim=%d can_zero=%d can_fast_zero=%d can_cache=%d "
          "can_df=%d\n", server, nbd_can_fua (h), nbd_can_trim (h), nbd_can_zero (h),
          nbd_can_fast_zero (h), nbd_can_cache (h), nbd_can_df (h));
}

/* Known layout: [B, B+1M) data, [B+1M, B+2M) trimmed, [B+2M, B+3M) data. */
static void
check_layout (struct extents *e, const char *what)
{
  int64_t a = extents_flags_at (e, 512 * KiB);
  int64_t b = extents_flags_at (e, 1536 * KiB);
  int64_t c = extents_flags_at (e, 2560 * KiB);

  if (a < 0 || (a & LIBNBD_STATE_HOLE) || b < 0 || !(b & LIBNBD_STATE_HOLE)
      || c < 0 || (c & LIBNBD_STATE_HOLE)) {
    test_count ();
    test_report (__FILE__, __LINE__, "%s: flags at +0.5M/+1.5M/+2.5M are "
                 "%" PRId64 "/%" PRId64 "/%" PRId64 ", expected data/hole/data",
                 what, a, b, c);
  }
  else
    test_count ();
  if (b >= 0 && (b & LIBNBD_STATE_HOLE))
    CHECK (b & LIBNBD_STATE_ZERO);
}

static void
t_block_status (struct nbd_handle *h)
{
  const uint64_t B = 8 * MiB;
  struct extents e;
  bool bs64 = false;

  if (nbd_can_meta_context (h, LIBNBD_CONTEXT_BASE_ALLOCATION) != 1) {
    struct extents e0 = { .n = 0 };
    printf ("%s: no base:allocation, block status refused\n", server);
    CHECK_FAIL (nbd_block_status (h, 1 * MiB, 0, extent32_closure (&e0), 0),
                ENOTSUP, "nbd_block_status");
    CHECK_INT (e0.frees, 1);
    return;
  }
#ifdef LIBNBD_HAVE_NBD_BLOCK_STATUS_64
  bs64 = true;
#endif

  if (!is_fakesrv) {
    dirty (h, B, 1 * MiB);
    dirty (h, B + 1 * MiB, 1 * MiB);
    dirty (h, B + 2 * MiB, 1 * MiB);
    CHECK_OK (nbd_trim (h, 1 * MiB, B + 1 * MiB, 0));
    CHECK_OK (nbd_flush (h, 0));
  }

  /* sync, 32-bit */
  memset (&e, 0, sizeof e);
  if (is_fakesrv) {
    /* fakesrv: fixed 64 KiB extents, data then hole|zero, alternating */
    CHECK_OK (nbd_block_status (h, 256 * KiB, 0, extent32_closure (&e), 0));
    CHECK_INT (e.calls, 1);
    CHECK_STR (e.context, LIBNBD_CONTEXT_BASE_ALLOCATION);
    CHECK_INT (e.raw_entries, 4);
    CHECK_INT (extents_flags_at (&e, 0), 0);
    CHECK_INT (extents_flags_at (&e, 64 * KiB), LIBNBD_STATE_HOLE | LIBNBD_STATE_ZERO);
    CHECK_INT (extents_flags_at (&e, 192 * KiB), LIBNBD_STATE_HOLE | LIBNBD_STATE_ZERO);
  }
  else {
    CHECK_OK (nbd_block_status (h, 3 * MiB, B, extent32_closure (&e), 0));
    CHECK (e.calls >= 1);
    CHECK_STR (e.context, LIBNBD_CONTEXT_BASE_ALLOCATION);
    check_layout (&e, "block_status");
  }
  CHECK_INT (e.frees, 1);

  /* aio, 32-bit */
  memset (&e, 0, sizeof e);
  AIO_OK (nbd_aio_block_status (h, 3 * MiB, is_fakesrv ? 0 : B, extent32_closure (&e), cb, 0));
  if (!is_fakesrv)
    check_layout (&e, "aio_block_status");
  else
    CHECK_INT (extents_flags_at (&e, 64 * KiB), 3);
  CHECK_INT (e.frees, 1);

  /* REQ_ONE: exactly one extent, not longer than asked */
  memset (&e, 0, sizeof e);
  CHECK_OK (nbd_block_status (h, 3 * MiB, is_fakesrv ? 64 * KiB : B + 1 * MiB,
                              extent32_closure (&e), LIBNBD_CMD_FLAG_REQ_ONE));
  CHECK_INT (e.raw_entries, 1);
  CHECK (e.n == 1 && e.len[0] <= 3 * MiB && e.len[0] > 0);
  CHECK (e.n == 1 && (e.flags[0] & LIBNBD_STATE_HOLE));
  CHECK_INT (e.frees, 1);
  memset (&e, 0, sizeof e);
  AIO_OK (nbd_aio_block_status (h, 3 * MiB, is_fakesrv ? 0 : B, extent32_closure (&e), cb,
                                LIBNBD_CMD_FLAG_REQ_ONE));
  CHECK_INT (e.raw_entries, 1);
  CHECK (e.n == 1 && !(e.flags[0] & LIBNBD_STATE_HOLE));

#ifdef LIBNBD_HAVE_NBD_BLOCK_STATUS_64
  /* 64-bit forms, with or without extended headers */
  memset (&e, 0, sizeof e);
  CHECK_OK (nbd_block_status_64 (h, 3 * MiB, is_fakesrv ? 0 : B, extent64_closure (&e), 0));
  if (is_fakesrv) {
    CHECK_INT (e.raw_entries, 48);
    CHECK_INT (extents_flags_at (&e, 0), 0);
    CHECK_INT (extents_flags_at (&e, 64 * KiB), 3);
    CHECK_INT (extents_flags_at (&e, 3 * MiB - 1), 3);
  }
  else
    check_layout (&e, "block_status_64");
  CHECK_INT (e.frees, 1);
  memset (&e, 0, sizeof e);
  AIO_OK (nbd_aio_block_status_64 (h, 3 * MiB, is_fakesrv ? 0 : B, extent64_closure (&e),
                                   cb, 0));
  if (!is_fakesrv)
    check_layout (&e, "aio_block_status_64");
  CHECK_INT (e.frees, 1);
  memset (&e, 0, sizeof e);
  CHECK_OK (nbd_block_status_64 (h, 3 * MiB, is_fakesrv ? 64 * KiB : B + 1 * MiB,
                                 extent64_closure (&e), LIBNBD_CMD_FLAG_REQ_ONE));
  CHECK_INT (e.raw_entries, 1);
  CHECK (e.n == 1 && (e.flags[0] & LIBNBD_STATE_HOLE));
  memset (&e, 0, sizeof e);
  AIO_OK (nbd_aio_block_status_64 (h, 3 * MiB, is_fakesrv ? 0 : B, extent64_closure (&e),
                                   cb, LIBNBD_CMD_FLAG_REQ_ONE));
  CHECK_INT (e.raw_entries, 1);
#endif
  (void) bs64;
}

int
main (int argc, char *argv[])
{
  struct nbd_handle *h;
  struct bg_server srv = { .pid = -1 };
  char file[64] = "";

  if (argc != 2) {
    fprintf (stderr, "usage: %s nbdkit|qemu|fakesrv|fakesrv-extended|fakesrv-simple\n",
             argv[0]);
    return 99;
  }
  server = argv[1];
  watchdog (server, 110);
  if (strcmp (server, "nbdkit") == 0) {
    require_nbdkit ();
    h = open_nbdkit ("memory", "16M");
  }
  else if (strcmp (server, "qemu") == 0) {
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
                                          "--discard=unmap", "-e", "4", "-t", file,
                                          NULL }) == -1)
      return 99;
    h = open_unix (srv.sock);
    sparse_reads = true;
  }
  else if (strncmp (server, "fakesrv", 7) == 0) {
    enum mode m = strcmp (server, "fakesrv-extended") == 0 ? MODE_EXTENDED
      : strcmp (server, "fakesrv-simple") == 0 ? MODE_SIMPLE : MODE_STRUCTURED;
    require_fakesrv ();
    is_fakesrv = true;
    h = open_fakesrv (m, "--holes", "--export", "::16M");
    sparse_reads = m != MODE_SIMPLE;
  }
  else {
    fprintf (stderr, "unknown server %s\n", server);
    return 99;
  }
  structured = nbd_get_structured_replies_negotiated (h) == 1;
#ifdef LIBNBD_HAVE_NBD_GET_EXTENDED_HEADERS_NEGOTIATED
  extended = nbd_get_extended_headers_negotiated (h) == 1;
#endif
  printf ("%s: size=%" PRId64 " structured=%d extended=%d\n", server, nbd_get_size (h),
          structured, extended);
  CHECK_INT (nbd_get_size (h), DISK);
  if (strcmp (server, "fakesrv-extended") == 0)
    CHECK (extended);

  t_write_read (h);
  t_pread_structured (h);
  t_flush_cache (h);
  t_trim_zero (h);
  t_block_status (h);

  CHECK_OK (nbd_shutdown (h, 0));
  nbd_close (h);
  bg_stop (&srv);
  if (*file)
    unlink (file);
  return test_exit ();
}
