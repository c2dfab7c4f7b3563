/* Errors inside a read or block status reply, and errors a mid-command
 * callback reports.
 *
 * error-offset: erroroffset.py (fakesrv whose failed READ is answered by
 *   an ERROR_OFFSET chunk for the second half, then a DATA chunk for the
 *   first half): the chunk callback sees LIBNBD_READ_ERROR with count 0,
 *   the offset of the error and *error = EIO, then LIBNBD_READ_DATA with
 *   *error = EIO (the earlier error); the read fails with EIO; the data
 *   half is in the buffer; the connection stays up.
 * callback-errors: libnbd(3) "Callbacks with int *error parameter": a
 *   chunk or extent callback fails a command by returning -1 (with
 *   *error, default EPROTO); a store into *error with any other return
 *   value is ignored. */
#include "callbacks.h"

static struct nbd_handle *
open_erroroffset (enum mode m)
{
  char script[4096];
  struct nbd_handle *h = test_create ();
  char *argv[] = { (char *) python_path (), script, "--pattern", "--fault", "error-reply",
                   "--fault-at", "2", m == MODE_EXTENDED ? "--extended" : NULL, NULL };

  snprintf (script, sizeof script, "%s/erroroffset.py", env_or ("DATA_SRCDIR", "tests/data"));
  if (access (script, R_OK) != 0)
    TEST_SKIP ("%s not found (set DATA_SRCDIR)", script);
  nbd_add_meta_context (h, LIBNBD_CONTEXT_BASE_ALLOCATION);
#ifdef LIBNBD_HAVE_NBD_SET_REQUEST_EXTENDED_HEADERS
  nbd_set_request_extended_headers (h, m == MODE_EXTENDED);
#endif
  must_connect (h, argv);
  return h;
}

static void
t_error_offset (enum mode m)
{
  struct nbd_handle *h = open_erroroffset (m);
  const size_t n = 64 * KiB;
  const uint64_t off = 128 * KiB;
  uint8_t *buf = guarded_alloc (n, 0xAA);
  struct chunks c = { .ret = 0 };
  struct done d = { .ret = 0 };
  int64_t ck;

  printf ("--- %s\n", mode_name (m));
  /* the first read is fine */
  CHECK_OK (nbd_pread_structured (h, buf, n, off, chunk_closure (&c, buf, n, off), 0));
  CHECK_INT (c.errors, 0);
  CHECK_INT (check_offset_pattern (buf, n, off), -1);

  /* the second gets the two chunks */
  c = (struct chunks) { .ret = 0 };
  memset (buf, 0xAA, n);
  ck = nbd_aio_pread_structured (h, buf, n, off, chunk_closure (&c, buf, n, off),
                                 done_closure (&d), 0);
  CHECK (ck > 0);
  CHECK_INT (wait_for (h, ck), -1);
  CHECK_INT (nbd_get_errno (), EIO);
  printf ("error: %s\n", nbd_get_error ());
  CHECK_INT (c.calls, 2);
  CHECK_INT (c.status[0], LIBNBD_READ_ERROR);
  CHECK_INT (c.error_in[0], EIO);
  CHECK_INT (c.err_offset, off + n / 2);
  CHECK_INT (c.status[1], LIBNBD_READ_DATA);
  CHECK_INT (c.error_in[1], EIO);     /* the error detected earlier */
  CHECK_INT (c.bad, 0);
  CHECK_INT (c.frees, 1);
  CHECK_INT (d.calls, 1);
  CHECK_INT (d.error, EIO);
  CHECK_INT (d.frees, 1);
  CHECK_INT (check_offset_pattern (buf, n / 2, off), -1);
  CHECK (guards_intact (buf, n));
  /* a clean error: the connection carries on */
  CHECK_INT (nbd_aio_is_ready (h), 1);
  CHECK_OK (nbd_pread (h, buf, n, 0, 0));
  CHECK_INT (check_offset_pattern (buf, n, 0), -1);
  CHECK_OK (nbd_shutdown (h, 0));
  nbd_close (h);
  guarded_free (buf);
}

/* ---- callback errors ---- */

struct cb_case {
  const char *what;
  int ret, set;                 /* the callback stores set (if nonzero), returns ret */
  int want;                     /* resulting errno, 0 for success */
};

static const struct cb_case cb_cases[] = {
  { "returns 0", 0, 0, 0 },
  { "returns -1", -1, 0, EPROTO },
  { "returns -1 with ENOSPC", -1, ENOSPC, ENOSPC },
  { "returns 0 with ENOSPC", 0, ENOSPC, 0 },
};

struct ext_state {
  int ret, set, calls;
};

static int
ext_cb (void *user_data, const char *metacontext, uint64_t offset, uint32_t *entries,
        size_t nr_entries, int *error)
{
  struct ext_state *s = user_data;
  (void) metacontext; (void) offset; (void) entries; (void) nr_entries;
  s->calls++;
  if (s->set)
    *error = s->set;
  return s->ret;
}

#ifdef LIBNBD_HAVE_NBD_BLOCK_STATUS_64
static int
ext64_cb (void *user_data, const char *metacontext, uint64_t offset,
          nbd_extent *entries, size_t nr_entries, int *error)
{
  struct ext_state *s = user_data;
  (void) metacontext; (void) offset; (void) entries; (void) nr_entries;
  s->calls++;
  if (s->set)
    *error = s->set;
  return s->ret;
}
#endif

static void
expect (int r, const struct cb_case *t, const char *kind)
{
  test_count ();
  if (t->want == 0 ? r != 0 : (r != -1 || nbd_get_errno () != t->want))
    test_report (__FILE__, __LINE__, "%s callback %s: call returned %d (errno %d), "
                 "expected %s %d", kind, t->what, r, r == -1 ? nbd_get_errno () : 0,
                 t->want ? "failure with" : "success", t->want);
}

static void
t_callback_errors (void)
{
  struct nbd_handle *h = open_nbdkit ("memory", "1M");
  static char buf[4096];

  for (size_t i = 0; i < sizeof cb_cases / sizeof cb_cases[0]; i++) {
    const struct cb_case *t = &cb_cases[i];
    struct chunks c = { .ret = t->ret, .set_error = t->set };
    struct ext_state e = { .ret = t->ret, .set = t->set };
    int r;

    r = nbd_pread_structured (h, buf, sizeof buf, 0,
                              chunk_closure (&c, buf, sizeof buf, 0), 0);
    CHECK (c.calls >= 1);
    expect (r, t, "chunk");
    r = nbd_block_status (h, sizeof buf, 0,
                          (nbd_extent_callback) { .callback = ext_cb, .user_data = &e }, 0);
    CHECK_INT (e.calls, 1);
    expect (r, t, "extent");
#ifdef LIBNBD_HAVE_NBD_BLOCK_STATUS_64
    e = (struct ext_state) { .ret = t->ret, .set = t->set };
    r = nbd_block_status_64 (h, sizeof buf, 0,
                             (nbd_extent64_callback) { .callback = ext64_cb,
                                                       .user_data = &e }, 0);
    CHECK_INT (e.calls, 1);
    expect (r, t, "extent64");
#endif
    CHECK_INT (nbd_aio_is_ready (h), 1);
  }
  nbd_close (h);
}

int
main (int argc, char *argv[])
{
  const char *only = argc > 1 ? argv[1] : NULL;

  require_fakesrv ();
  watchdog ("read errors", 100);
  if (!only || strcmp (only, "error-offset") == 0) {
    t_error_offset (MODE_STRUCTURED);
    t_error_offset (MODE_EXTENDED);
  }
  if (!only || strcmp (only, "callback-errors") == 0) {
    require_nbdkit ();
    t_callback_errors ();
  }
  return test_exit ();
}
