/* nbd_set_strict_mode, bit by bit, and nbd_set_pread_initialize.
 *
 * A request refused on the client side sends nothing: nbd_stats_chunks_sent
 * does not move.  A request the strict mode lets through is sent (the
 * counter moves by one) and the server's answer comes back. */
#include "callbacks.h"

#ifdef LIBNBD_HAVE_NBD_STATS_CHUNKS_SENT
#define SENT(h) ((int64_t) nbd_stats_chunks_sent (h))
#else
#define SENT(h) ((int64_t) -1)
#endif

/* expr must fail on the client side with errno err, sending nothing. */
#define REFUSED(h, expr, err, fn)                                       \
  do {                                                                  \
    int64_t before_ = SENT (h);                                         \
    CHECK_FAIL ((expr), (err), (fn));                                   \
    if (before_ >= 0)                                                   \
      CHECK_INT (SENT (h) - before_, 0);                                \
  } while (0)

/* expr must reach the server: exactly one request sent.  Returns the
 * call's result in `res`. */
#define SENT_ONE(h, res, expr)                                          \
  do {                                                                  \
    int64_t before_ = SENT (h);                                         \
    (res) = (expr);                                                     \
    if (before_ >= 0)                                                   \
      CHECK_INT (SENT (h) - before_, 1);                                \
  } while (0)

static char buf[1 * MiB + 4096];

static uint32_t
strict_without (uint32_t bit)
{
  return LIBNBD_STRICT_MASK & ~bit;
}

/* ---- LIBNBD_STRICT_FLAGS ---- */

static void
t_flags (void)
{
  struct nbd_handle *h;
  char log[] = "/tmp/fastnbd-data-log-XXXXXX";
  int fd = mkstemp (log), r;
  struct done d = { .ret = 0 };
  struct extents e = { .n = 0 };
  FILE *fp;
  char line[256];
  int read_fua = 0, read_0x100 = 0;

  close (fd);
  h = open_fakesrv (MODE_STRUCTURED, "--log", log);

  /* Default: flags not allowed for the call are refused. */
  REFUSED (h, nbd_pread (h, buf, 512, 0, LIBNBD_CMD_FLAG_FUA), EINVAL, "nbd_pread");
  REFUSED (h, nbd_pread_structured (h, buf, 512, 0, (nbd_chunk_callback) { .callback = chunk_cb, .user_data = &(struct chunks) { .ret = 0 } }, LIBNBD_CMD_FLAG_FUA),
           EINVAL, "nbd_pread_structured");
  REFUSED (h, nbd_pwrite (h, buf, 512, 0, LIBNBD_CMD_FLAG_REQ_ONE), EINVAL, "nbd_pwrite");
  REFUSED (h, nbd_flush (h, LIBNBD_CMD_FLAG_FUA), EINVAL, "nbd_flush");
  REFUSED (h, nbd_trim (h, 512, 0, LIBNBD_CMD_FLAG_NO_HOLE), EINVAL, "nbd_trim");
  REFUSED (h, nbd_cache (h, 512, 0, LIBNBD_CMD_FLAG_FUA), EINVAL, "nbd_cache");
  REFUSED (h, nbd_zero (h, 512, 0, LIBNBD_CMD_FLAG_DF), EINVAL, "nbd_zero");
  REFUSED (h, nbd_block_status (h, 512, 0, extent32_closure (&e), LIBNBD_CMD_FLAG_FUA),
           EINVAL, "nbd_block_status");
  CHECK_INT (e.calls, 0);
  CHECK_INT (e.frees, 1);
#ifdef LIBNBD_HAVE_NBD_BLOCK_STATUS_64
  REFUSED (h, nbd_block_status_64 (h, 512, 0, extent64_closure (&e), LIBNBD_CMD_FLAG_FUA),
           EINVAL, "nbd_block_status_64");
  CHECK_INT (e.frees, 2);
#endif
  /* an unknown bit inside the 16 protocol bits */
  REFUSED (h, nbd_pread (h, buf, 512, 0, 0x100), EINVAL, "nbd_pread");
  /* aio forms: refused, completion callback not called, .free called */
  REFUSED (h, nbd_aio_pread (h, buf, 512, 0, done_closure (&d), LIBNBD_CMD_FLAG_FUA),
           EINVAL, "nbd_aio_pread");
  REFUSED (h, nbd_aio_zero (h, 512, 0, done_closure (&d), LIBNBD_CMD_FLAG_REQ_ONE),
           EINVAL, "nbd_aio_zero");
  CHECK_INT (d.calls, 0);
  CHECK_INT (d.frees, 2);

  /* Without STRICT_FLAGS, they are sent as they are. */
  CHECK_OK (nbd_set_strict_mode (h, strict_without (LIBNBD_STRICT_FLAGS)));
  CHECK_INT (nbd_get_strict_mode (h), strict_without (LIBNBD_STRICT_FLAGS));
  SENT_ONE (h, r, nbd_pread (h, buf, 512, 0, LIBNBD_CMD_FLAG_FUA));
  CHECK_INT (r, 0);
  SENT_ONE (h, r, nbd_pread (h, buf, 512, 0, 0x100));
  CHECK_INT (r, 0);
  SENT_ONE (h, r, nbd_flush (h, LIBNBD_CMD_FLAG_FUA));
  CHECK_INT (r, 0);
  SENT_ONE (h, r, nbd_trim (h, 512, 0, LIBNBD_CMD_FLAG_NO_HOLE));
  CHECK_INT (r, 0);
  d = (struct done) { .ret = 0 };
  {
    int64_t ck;
    SENT_ONE (h, ck, nbd_aio_cache (h, 512, 0, done_closure (&d), LIBNBD_CMD_FLAG_FUA));
    CHECK (ck > 0);
    CHECK_INT (wait_for (h, ck), 1);
    CHECK_INT (d.calls, 1);
  }
  /* Bits outside the 16 protocol bits are always refused. */
  REFUSED (h, nbd_pread (h, buf, 512, 0, 0x10000), EINVAL, "nbd_pread");
  REFUSED (h, nbd_zero (h, 512, 0, 0x80000000u), EINVAL, "nbd_zero");
  CHECK_OK (nbd_shutdown (h, 0));
  nbd_close (h);

  /* The server saw the flags. */
  fp = fopen (log, "r");
  CHECK (fp != NULL);
  while (fp && fgets (line, sizeof line, fp)) {
    if (strstr (line, "CMD READ flags=0x01 "))
      read_fua++;
    if (strstr (line, "CMD READ flags=0x100 "))
      read_0x100++;
  }
  if (fp)
    fclose (fp);
  CHECK_INT (read_fua, 1);
  CHECK_INT (read_0x100, 1);
  unlink (log);

  /* nbd_set_strict_mode itself refuses unknown bits. */
  h = test_create ();
  CHECK_FAIL (nbd_set_strict_mode (h, LIBNBD_STRICT_MASK + 1u), EINVAL,
              "nbd_set_strict_mode");
  nbd_close (h);
}

/* ---- LIBNBD_STRICT_COMMANDS ---- */

static void
t_commands (void)
{
  struct nbd_handle *h;
  int r;
  int64_t ck;
  struct done d = { .ret = 0 };

  /* read-only export: writes refused with EPERM on the client side */
  h = open_nbdkit ("-r", "memory", "1M");
  CHECK_INT (nbd_is_read_only (h), 1);
  REFUSED (h, nbd_pwrite (h, buf, 512, 0, 0), EPERM, "nbd_pwrite");
  /* As in libnbd, a command the server does not advertise at all is
   * EINVAL before the read-only check (nbdkit -r advertises neither trim
   * nor zero); only an advertised one is EPERM. */
  REFUSED (h, nbd_trim (h, 512, 0, 0), nbd_can_trim (h) == 1 ? EPERM : EINVAL,
           "nbd_trim");
  REFUSED (h, nbd_zero (h, 512, 0, 0), nbd_can_zero (h) == 1 ? EPERM : EINVAL,
           "nbd_zero");
  REFUSED (h, nbd_aio_pwrite (h, buf, 512, 0, done_closure (&d), 0), EPERM,
           "nbd_aio_pwrite");
  CHECK_INT (d.calls, 0);
  CHECK_INT (d.frees, 1);
  /* without the bit: the server refuses */
  CHECK_OK (nbd_set_strict_mode (h, strict_without (LIBNBD_STRICT_COMMANDS)));
  SENT_ONE (h, r, nbd_pwrite (h, buf, 512, 0, 0));
  CHECK_INT (r, -1);
  CHECK_INT (nbd_get_errno (), EPERM);
  CHECK (test_starts_with (nbd_get_error (), "nbd_pwrite: "));
  d = (struct done) { .ret = 0 };
  SENT_ONE (h, ck, nbd_aio_zero (h, 512, 0, done_closure (&d), 0));
  CHECK (ck > 0);
  CHECK_INT (wait_for (h, ck), -1);
  CHECK_INT (nbd_get_errno (), EPERM);
  CHECK_INT (d.calls, 1);
  CHECK_INT (d.error, EPERM);
  CHECK_INT (d.frees, 1);
  CHECK_INT (nbd_aio_is_ready (h), 1);
  nbd_close (h);

  /* a server with no flush, trim, zero, FUA, cache or fast zero */
  h = open_nbdkit ("--filter=nozero", "eval", "get_size=echo 1M",
                   "pread=dd if=/dev/zero count=$3 iflag=count_bytes 2>/dev/null",
                   "pwrite=cat >/dev/null", "can_write=exit 0", "can_trim=exit 3",
                   "can_flush=exit 3", "can_fua=echo none", "can_cache=echo none");
  CHECK_INT (nbd_can_flush (h), 0);
  CHECK_INT (nbd_can_trim (h), 0);
  CHECK_INT (nbd_can_zero (h), 0);
  CHECK_INT (nbd_can_fua (h), 0);
  CHECK_INT (nbd_can_cache (h), 0);
  CHECK_INT (nbd_can_fast_zero (h), 0);
  REFUSED (h, nbd_flush (h, 0), EINVAL, "nbd_flush");
  REFUSED (h, nbd_trim (h, 512, 0, 0), EINVAL, "nbd_trim");
  REFUSED (h, nbd_zero (h, 512, 0, 0), EINVAL, "nbd_zero");
  REFUSED (h, nbd_cache (h, 512, 0, 0), EINVAL, "nbd_cache");
  REFUSED (h, nbd_pwrite (h, buf, 512, 0, LIBNBD_CMD_FLAG_FUA), EINVAL, "nbd_pwrite");
  REFUSED (h, nbd_aio_flush (h, NBD_NULL_COMPLETION, 0), EINVAL, "nbd_aio_flush");
  CHECK_OK (nbd_pwrite (h, buf, 512, 0, 0));
  CHECK_OK (nbd_set_strict_mode (h, strict_without (LIBNBD_STRICT_COMMANDS)));
  /* sent: whatever nbdkit answers, the request went out and the
   * connection survives */
  SENT_ONE (h, r, nbd_flush (h, 0));
  SENT_ONE (h, r, nbd_trim (h, 512, 0, 0));
  SENT_ONE (h, r, nbd_zero (h, 512, 0, 0));
  SENT_ONE (h, r, nbd_cache (h, 512, 0, 0));
  SENT_ONE (h, r, nbd_pwrite (h, buf, 512, 0, LIBNBD_CMD_FLAG_FUA));
  (void) r;
  CHECK_INT (nbd_aio_is_ready (h), 1);
  CHECK_OK (nbd_pread (h, buf, 512, 0, 0));
  nbd_close (h);

  /* fast zero: refused where the server does not advertise it */
  h = open_nbdkit ("--filter=nozero", "memory", "1M", "zeromode=notrim",
                   "fastzeromode=none");
  if (nbd_can_zero (h) == 1 && nbd_can_fast_zero (h) == 0) {
    REFUSED (h, nbd_zero (h, 512, 0, LIBNBD_CMD_FLAG_FAST_ZERO), EINVAL, "nbd_zero");
    CHECK_OK (nbd_set_strict_mode (h, strict_without (LIBNBD_STRICT_COMMANDS)));
    /* nbdkit 1.32 asserts (and dies) on a fast zero it did not
     * advertise, so only check that the request went out. */
    SENT_ONE (h, r, nbd_zero (h, 512, 0, LIBNBD_CMD_FLAG_FAST_ZERO));
    CHECK_INT (r, -1);
  }
  else
    printf ("nozero fastzeromode=none: can_zero=%d can_fast_zero=%d: skipped\n",
            nbd_can_zero (h), nbd_can_fast_zero (h));
  nbd_close (h);

  /* DF without structured replies; block status without a context */
  h = open_fakesrv (MODE_SIMPLE, "--pattern");
  CHECK_INT (nbd_can_df (h), 0);
  REFUSED (h, nbd_pread_structured (h, buf, 512, 0, (nbd_chunk_callback) { .callback = chunk_cb, .user_data = &(struct chunks) { .ret = 0 } }, LIBNBD_CMD_FLAG_DF),
           EINVAL, "nbd_pread_structured");
  {
    struct extents e = { .n = 0 };
    REFUSED (h, nbd_block_status (h, 512, 0, extent32_closure (&e), 0), ENOTSUP,
             "nbd_block_status");
    CHECK_INT (e.frees, 1);
  }
  CHECK_OK (nbd_set_strict_mode (h, strict_without (LIBNBD_STRICT_COMMANDS)));
  {
    struct chunks c = { .ret = 0 };
    memset (buf, 0xAA, 512);
    SENT_ONE (h, r, nbd_pread_structured (h, buf, 512, 4096, chunk_closure (&c, buf, 512, 4096),
                                          LIBNBD_CMD_FLAG_DF));
    CHECK_INT (r, 0);
    CHECK_INT (check_offset_pattern (buf, 512, 4096), -1);
  }
  nbd_close (h);
}

/* ---- LIBNBD_STRICT_BOUNDS ---- */

static void
t_bounds (void)
{
  struct nbd_handle *h = open_nbdkit ("memory", "1M");
  const uint64_t size = 1 * MiB;
  struct extents e = { .n = 0 };
  int r;

  CHECK_INT (nbd_get_size (h), size);
  REFUSED (h, nbd_pread (h, buf, 512, size, 0), EINVAL, "nbd_pread");
  REFUSED (h, nbd_pread (h, buf, 1024, size - 512, 0), EINVAL, "nbd_pread");
  REFUSED (h, nbd_pread (h, buf, 512, UINT64_MAX - 100, 0), EINVAL, "nbd_pread");
  /* As in libnbd: commands that write fail with ENOSPC past the end,
   * the others with EINVAL. */
  REFUSED (h, nbd_pwrite (h, buf, 1024, size - 512, 0), ENOSPC, "nbd_pwrite");
  REFUSED (h, nbd_trim (h, 1024, size - 512, 0), ENOSPC, "nbd_trim");
  REFUSED (h, nbd_zero (h, 1024, size - 512, 0), ENOSPC, "nbd_zero");
  REFUSED (h, nbd_cache (h, 1024, size - 512, 0), EINVAL, "nbd_cache");
  REFUSED (h, nbd_zero (h, UINT64_MAX, 1, 0), ENOSPC, "nbd_zero");
  REFUSED (h, nbd_block_status (h, 1024, size, extent32_closure (&e), 0), EINVAL,
           "nbd_block_status");
#ifdef LIBNBD_SIZE_PAYLOAD
  /* LIBNBD_STRICT_PAYLOAD refuses writes above the payload size (ERANGE,
   * nothing sent); larger than 64 MiB is ERANGE whatever the strict
   * mode, for reads too. */
  {
    int64_t payload = nbd_get_block_size (h, LIBNBD_SIZE_PAYLOAD);
    char *big = malloc (64 * MiB + 1);
    CHECK (payload >= 1 * MiB && payload <= 64 * MiB);
    if (big && payload > 0) {
      /* (the export is smaller: without the bounds check) */
      CHECK_OK (nbd_set_strict_mode (h, LIBNBD_STRICT_MASK & ~LIBNBD_STRICT_BOUNDS));
      if (payload < 64 * MiB)
        REFUSED (h, nbd_pwrite (h, big, payload + 1, 0, 0), ERANGE, "nbd_pwrite");
      CHECK_OK (nbd_set_strict_mode (h, 0));
      REFUSED (h, nbd_pread (h, big, 64 * MiB + 1, 0, 0), ERANGE, "nbd_pread");
      REFUSED (h, nbd_pwrite (h, big, 64 * MiB + 1, 0, 0), ERANGE, "nbd_pwrite");
      CHECK_OK (nbd_set_strict_mode (h, LIBNBD_STRICT_MASK));
    }
    free (big);
  }
#endif
  /* the last byte is fine */
  CHECK_OK (nbd_pread (h, buf, 1, size - 1, 0));
  CHECK_OK (nbd_pread (h, buf, size, 0, 0));

  CHECK_OK (nbd_set_strict_mode (h, strict_without (LIBNBD_STRICT_BOUNDS)));
  SENT_ONE (h, r, nbd_pread (h, buf, 1024, size - 512, 0));
  CHECK_INT (r, -1);
  CHECK (nbd_get_errno () != 0);
  printf ("bounds: server's answer to an out of bounds read: %s (%d)\n", nbd_get_error (),
          nbd_get_errno ());
  SENT_ONE (h, r, nbd_pwrite (h, buf, 1024, size - 512, 0));
  CHECK_INT (r, -1);
  printf ("bounds: server's answer to an out of bounds write: %s (%d)\n", nbd_get_error (),
          nbd_get_errno ());
  SENT_ONE (h, r, nbd_zero (h, 1024, size, 0));
  CHECK_INT (r, -1);
  /* the connection survives */
  CHECK_INT (nbd_aio_is_ready (h), 1);
  CHECK_OK (nbd_pread (h, buf, 512, 0, 0));
  nbd_close (h);
}

/* ---- LIBNBD_STRICT_ZERO_SIZE ---- */

static void
t_zero_size (void)
{
  char log[] = "/tmp/fastnbd-data-log-XXXXXX";
  int fd = mkstemp (log), r, n = 0;
  struct nbd_handle *h;
  struct extents e = { .n = 0 };
  FILE *fp;
  char line[256];

  close (fd);
  h = open_fakesrv (MODE_STRUCTURED, "--log", log);
  REFUSED (h, nbd_pread (h, buf, 0, 0, 0), EINVAL, "nbd_pread");
  REFUSED (h, nbd_pwrite (h, buf, 0, 0, 0), EINVAL, "nbd_pwrite");
  REFUSED (h, nbd_trim (h, 0, 0, 0), EINVAL, "nbd_trim");
  REFUSED (h, nbd_zero (h, 0, 0, 0), EINVAL, "nbd_zero");
  REFUSED (h, nbd_cache (h, 0, 0, 0), EINVAL, "nbd_cache");
  REFUSED (h, nbd_block_status (h, 0, 0, extent32_closure (&e), 0), EINVAL,
           "nbd_block_status");
  CHECK_OK (nbd_flush (h, 0));          /* flush has no size */

  CHECK_OK (nbd_set_strict_mode (h, strict_without (LIBNBD_STRICT_ZERO_SIZE)));
  SENT_ONE (h, r, nbd_pread (h, buf, 0, 0, 0));
  CHECK_INT (r, 0);
  SENT_ONE (h, r, nbd_pwrite (h, buf, 0, 0, 0));
  CHECK_INT (r, 0);
  SENT_ONE (h, r, nbd_zero (h, 0, 4096, 0));
  CHECK_INT (r, 0);
  CHECK_INT (nbd_aio_is_ready (h), 1);
  CHECK_OK (nbd_shutdown (h, 0));
  nbd_close (h);
  fp = fopen (log, "r");
  while (fp && fgets (line, sizeof line, fp))
    if (strstr (line, "length=0\n") && strncmp (line, "CMD ", 4) == 0
        && !strstr (line, "FLUSH") && !strstr (line, "DISC"))
      n++;
  if (fp)
    fclose (fp);
  CHECK_INT (n, 3);
  unlink (log);
}

/* ---- LIBNBD_STRICT_ALIGN ---- */

static void
t_align (void)
{
  struct nbd_handle *h = open_fakesrv (MODE_STRUCTURED, "--block-size", "512:4096:1048576");
  int r;

  CHECK_INT (nbd_get_block_size (h, LIBNBD_SIZE_MINIMUM), 512);
  REFUSED (h, nbd_pread (h, buf, 100, 0, 0), EINVAL, "nbd_pread");
  REFUSED (h, nbd_pwrite (h, buf, 512, 100, 0), EINVAL, "nbd_pwrite");
  CHECK_OK (nbd_pread (h, buf, 1024, 512, 0));
  CHECK_OK (nbd_set_strict_mode (h, strict_without (LIBNBD_STRICT_ALIGN)));
  SENT_ONE (h, r, nbd_pread (h, buf, 100, 0, 0));
  CHECK_INT (r, -1);
  CHECK_INT (nbd_get_errno (), EINVAL);
  CHECK_INT (nbd_aio_is_ready (h), 1);
  nbd_close (h);
}

/* ---- bit by bit: clearing one bit relaxes exactly that check ---- */

enum { P_COMMANDS, P_FLAGS, P_BOUNDS, P_ZERO_SIZE, P_ALIGN, NPROBES };
static const uint32_t probe_bit[NPROBES] = {
  LIBNBD_STRICT_COMMANDS, LIBNBD_STRICT_FLAGS, LIBNBD_STRICT_BOUNDS,
  LIBNBD_STRICT_ZERO_SIZE, LIBNBD_STRICT_ALIGN,
};
static const char *const probe_name[NPROBES] = {
  "COMMANDS", "FLAGS", "BOUNDS", "ZERO_SIZE", "ALIGN",
};

/* Each probe violates exactly one strict check on a read-only export of
 * 1 MiB with 512-byte minimum blocks. */
static int
probe (struct nbd_handle *h, int p)
{
  switch (p) {
  case P_COMMANDS: return nbd_pwrite (h, buf, 512, 0, 0);
  case P_FLAGS: return nbd_pread (h, buf, 512, 0, LIBNBD_CMD_FLAG_FUA);
  case P_BOUNDS: return nbd_pread (h, buf, 512, 1 * MiB, 0);
  case P_ZERO_SIZE: return nbd_pread (h, buf, 0, 512, 0);
  case P_ALIGN: return nbd_pread (h, buf, 100, 0, 0);
  }
  return -2;
}

static void
t_bit_by_bit (void)
{
  struct nbd_handle *h = open_fakesrv (MODE_STRUCTURED, "--read-only",
                                       "--block-size", "512:4096:1048576");

  for (int cleared = -1; cleared < NPROBES; cleared++) {
    uint32_t mode = cleared < 0 ? LIBNBD_STRICT_MASK : strict_without (probe_bit[cleared]);
    CHECK_OK (nbd_set_strict_mode (h, mode));
    for (int p = 0; p < NPROBES; p++) {
      int64_t before = SENT (h);
      int r = probe (h, p);
      int64_t sent = before >= 0 ? SENT (h) - before : (p == cleared);
      test_count ();
      if (p == cleared && sent != 1)
        test_report (__FILE__, __LINE__, "strict mode without %s: the %s probe "
                     "was not sent (r=%d)", probe_name[cleared], probe_name[p], r);
      if (p != cleared && (sent != 0 || r != -1))
        test_report (__FILE__, __LINE__, "strict mode without %s: the %s probe "
                     "was not refused on the client side (r=%d, sent=%" PRId64 ")",
                     cleared < 0 ? "nothing" : probe_name[cleared], probe_name[p], r,
                     sent);
    }
    CHECK_INT (nbd_aio_is_ready (h), 1);
  }
  nbd_close (h);
}

/* ---- nbd_set_pread_initialize ---- */

static void
t_pread_initialize (void)
{
  struct nbd_handle *h;
  uint8_t *b = guarded_alloc (64 * KiB, 0xAA);
  struct done d = { .ret = 0 };
  int64_t ck;

  /* a server error: fakesrv answers the 2nd command with EIO */
  for (enum mode m = MODE_SIMPLE; m <= MODE_STRUCTURED; m++) {
    h = open_fakesrv (m, "--pattern", "--fault", "error-reply", "--fault-at", "2");
    CHECK_INT (nbd_get_pread_initialize (h), 1);
    CHECK_OK (nbd_pread (h, b, 64 * KiB, 0, 0));
    CHECK_INT (check_offset_pattern (b, 64 * KiB, 0), -1);
    memset (b, 0xAA, 64 * KiB);
    CHECK_FAIL (nbd_pread (h, b, 64 * KiB, 0, 0), EIO, "nbd_pread");
    CHECK (all_bytes (b, 64 * KiB, 0));
    CHECK (guards_intact (b, 64 * KiB));
    nbd_close (h);
  }

  /* the same through aio and a chunk callback */
  h = open_fakesrv (MODE_STRUCTURED, "--pattern", "--fault", "error-reply");
  memset (b, 0xAA, 64 * KiB);
  {
    struct chunks c = { .ret = 0 };
    ck = nbd_aio_pread_structured (h, b, 4096, 8192, chunk_closure (&c, b, 4096, 8192),
                                   done_closure (&d), 0);
    CHECK (ck > 0);
    CHECK_INT (wait_for (h, ck), -1);
    CHECK_INT (nbd_get_errno (), EIO);
    CHECK_INT (d.error, EIO);
    CHECK (all_bytes (b, 4096, 0));
    CHECK (all_bytes (b + 4096, 64 * KiB - 4096, 0xAA));
  }
  nbd_close (h);

  /* refused on the client side: out of bounds, bad flag, zero size */
  h = open_nbdkit ("memory", "1M");
  memset (b, 0xAA, 64 * KiB);
  CHECK_FAIL (nbd_pread (h, b, 64 * KiB, 1 * MiB - 4096, 0), EINVAL, "nbd_pread");
  CHECK (all_bytes (b, 64 * KiB, 0));
  memset (b, 0xAA, 64 * KiB);
  CHECK_FAIL (nbd_aio_pread (h, b, 64 * KiB, 1 * MiB, NBD_NULL_COMPLETION, 0), EINVAL,
              "nbd_aio_pread");
  CHECK (all_bytes (b, 64 * KiB, 0));
  memset (b, 0xAA, 64 * KiB);
  CHECK_FAIL (nbd_pread (h, b, 64 * KiB, 0, LIBNBD_CMD_FLAG_FUA), EINVAL, "nbd_pread");
  CHECK (all_bytes (b, 64 * KiB, 0));
  /* out of bounds answered by the server */
  CHECK_OK (nbd_set_strict_mode (h, strict_without (LIBNBD_STRICT_BOUNDS)));
  memset (b, 0xAA, 64 * KiB);
  CHECK (nbd_pread (h, b, 64 * KiB, 1 * MiB - 4096, 0) == -1);
  CHECK (all_bytes (b, 64 * KiB, 0));
  CHECK (guards_intact (b, 64 * KiB));
  nbd_close (h);

  /* with it off, a successful read still fills the buffer */
  h = open_nbdkit ("pattern", "1M");
  CHECK_OK (nbd_set_pread_initialize (h, false));
  CHECK_INT (nbd_get_pread_initialize (h), 0);
  memset (b, 0xAA, 64 * KiB);
  CHECK_OK (nbd_pread (h, b, 64 * KiB, 4096, 0));
  CHECK_INT (check_offset_pattern (b, 64 * KiB, 4096), -1);
  nbd_close (h);
  guarded_free (b);
}

int
main (int argc, char *argv[])
{
  const char *only = argc > 1 ? argv[1] : NULL;

  require_nbdkit ();
  require_fakesrv ();
  watchdog ("strict", 110);
#define RUN(name) if (!only || strcmp (only, #name) == 0) t_##name ()
  RUN (flags);
  RUN (commands);
  RUN (bounds);
  RUN (zero_size);
  RUN (align);
  RUN (bit_by_bit);
  RUN (pread_initialize);
  return test_exit ();
}
