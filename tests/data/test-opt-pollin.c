/* An option started with nbd_aio_opt_* leaves at once, as in libnbd, so
 * that an event loop may wait only for the answer (POLLIN): a loop that
 * never offers POLLOUT must still see the option complete. */
#include <poll.h>

#include "test.h"
#include "data.h"

static bool
answered_by_pollin (struct nbd_handle *h, const char *what)
{
  int fd = nbd_aio_get_fd (h);

  while (nbd_aio_is_connecting (h)) {
    struct pollfd p = { .fd = fd, .events = POLLIN };
    int r = poll (&p, 1, 5000);
    if (r == 0) {
      test_report (__FILE__, __LINE__, "%s: no answer within 5 s while "
                   "waiting for POLLIN only", what);
      return false;
    }
    if (r == 1 && nbd_aio_notify_read (h) == -1)
      return false;
  }
  return true;
}

int
main (void)
{
  struct nbd_handle *h;

  require_nbdkit ();
  watchdog ("opt-pollin", 60);
  h = test_create ();
  CHECK_OK (nbd_set_opt_mode (h, true));
  must_connect (h, (char *[]) { "nbdkit", "-s", "--exit-with-parent",
                                "memory", "1M", NULL });
  CHECK_INT (nbd_aio_is_negotiating (h), 1);

  CHECK_OK (nbd_aio_opt_info (h, NBD_NULL_COMPLETION));
  if (answered_by_pollin (h, "nbd_aio_opt_info"))
    CHECK_INT (nbd_get_size (h), 1024 * 1024);
  CHECK_OK (nbd_aio_opt_go (h, NBD_NULL_COMPLETION));
  if (answered_by_pollin (h, "nbd_aio_opt_go"))
    CHECK_INT (nbd_aio_is_ready (h), 1);
  nbd_close (h);
  return test_exit ();
}
