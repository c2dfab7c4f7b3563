/* A block status reply may carry a chunk for a meta context id that no
 * SET_META_CONTEXT reply named.  libnbd skips such a chunk and keeps the
 * connection; so must fastnbd.  fakesrv's block-status-unknown-context
 * fault sends one before the real chunks, in structured and extended
 * mode, for 32-bit and 64-bit block status alike. */
#include "test.h"
#include "data.h"

static void
run (enum mode m, bool wide)
{
  struct nbd_handle *h = open_fakesrv (m, "--fault", "block-status-unknown-context");
  struct extents e = { .n = 0 };
  char buf[512];
  int r;

  printf ("%s, %s block status\n", mode_name (m), wide ? "64-bit" : "32-bit");
#ifdef LIBNBD_HAVE_NBD_BLOCK_STATUS_64
  if (wide)
    r = nbd_block_status_64 (h, 65536, 0, (nbd_extent64_callback) {
                               .callback = extent64_cb, .user_data = &e,
                               .free = extents_free }, 0);
  else
#endif
    r = nbd_block_status (h, 65536, 0, (nbd_extent_callback) {
                            .callback = extent32_cb, .user_data = &e,
                            .free = extents_free }, 0);
  CHECK_OK (r);
  /* Only the negotiated context reaches the callback, with its extents. */
  CHECK_INT (e.calls, 1);
  CHECK_STR (e.context, LIBNBD_CONTEXT_BASE_ALLOCATION);
  CHECK (e.n >= 1);
  CHECK_INT (e.frees, 1);
  CHECK_INT (nbd_aio_is_ready (h), 1);
  CHECK_OK (nbd_pread (h, buf, sizeof buf, 0, 0));
  nbd_close (h);
}

int
main (void)
{
  require_fakesrv ();
  watchdog ("unknown-context", 60);
  run (MODE_STRUCTURED, false);
  run (MODE_EXTENDED, false);
#ifdef LIBNBD_HAVE_NBD_BLOCK_STATUS_64
  run (MODE_EXTENDED, true);
#endif
  return test_exit ();
}
