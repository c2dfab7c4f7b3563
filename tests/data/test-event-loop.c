/* A program driving the handle from its own poll() loop (as nbdcopy
 * does, with nbd_aio_get_direction and nbd_aio_notify_*) while keeping
 * 64 large writes, then reads, in flight.  Regression test: requests
 * held back for batching must never leave a request half sent while the
 * handle asks only to read, or client and server wait for each other.
 *
 * Part "lone": a command issued with nothing else in flight is on the
 * wire when the call returns, even right after a receive completed
 * several commands: a loop already asleep on POLLIN (another thread's,
 * say) would otherwise never send it.  libnbd behaves so too. */
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "test.h"

#define DEPTH 64
#define SIZE (256 * 1024)
#define TOTAL (64 * 1024 * 1024)

static int in_flight_cb;

static int
done_cb (void *user_data, int *error)
{
  (void) user_data;
  if (*error)
    fprintf (stderr, "command failed: %s\n", strerror (*error));
  in_flight_cb--;
  return 1;
}

/* One round of the program's own event loop: poll what the handle asks
 * for, then tell it what happened. */
static void
step (struct nbd_handle *h)
{
  unsigned dir = nbd_aio_get_direction (h);
  struct pollfd p = { .fd = nbd_aio_get_fd (h) };

  if (dir & LIBNBD_AIO_DIRECTION_READ)
    p.events |= POLLIN;
  if (dir & LIBNBD_AIO_DIRECTION_WRITE)
    p.events |= POLLOUT;
  if (poll (&p, 1, 5000) <= 0) {
    fprintf (stderr, "no progress for 5 s (direction %u, in flight %d)\n",
             dir, nbd_aio_in_flight (h));
    exit (EXIT_FAILURE);
  }
  if (p.revents & (POLLIN | POLLHUP | POLLERR))
    CHECK_OK (nbd_aio_notify_read (h));
  /* The read may have sent what was queued: as with libnbd, writability
   * is news only while the handle still waits for it. */
  if ((p.revents & POLLOUT)
      && (nbd_aio_get_direction (h) & LIBNBD_AIO_DIRECTION_WRITE))
    CHECK_OK (nbd_aio_notify_write (h));
}

static void
run (int write)
{
  char *argv[] = { "nbdkit", "-s", "--exit-with-parent", "memory", "64M", NULL };
  struct nbd_handle *h = nbd_create ();
  static char bufs[DEPTH][SIZE];
  uint64_t offset = 0;
  int slot = 0;

  CHECK_OK (nbd_connect_command (h, argv));
  for (int i = 0; i < DEPTH; i++)
    for (size_t j = 0; j < SIZE; j += 8)
      memset (bufs[i] + j, (char) (i + j / 4096), 8);
  while (offset < TOTAL) {
    while (nbd_aio_in_flight (h) < DEPTH && offset < TOTAL) {
      nbd_completion_callback cb = { .callback = done_cb };
      int64_t c = write
        ? nbd_aio_pwrite (h, bufs[slot], SIZE, offset, cb, 0)
        : nbd_aio_pread (h, bufs[slot], SIZE, offset, cb, 0);
      CHECK (c > 0);
      in_flight_cb++;
      offset += SIZE;
      slot = (slot + 1) % DEPTH;
    }
    step (h);
  }
  while (nbd_aio_in_flight (h) > 0)
    step (h);
  CHECK_INT (in_flight_cb, 0);
  CHECK_OK (nbd_shutdown (h, 0));
  nbd_close (h);
}

static int lone_done;

static int
lone_cb (void *user_data, int *error)
{
  (void) error;
  if (user_data)
    lone_done = 1;
  return 1;
}

static void
lone (void)
{
  char *argv[] = { "nbdkit", "-s", "--exit-with-parent", "memory", "1M", NULL };
  struct nbd_handle *h = nbd_create ();
  static char wbuf[4096], rbuf[4096];
  struct pollfd p;

  CHECK_OK (nbd_connect_command (h, argv));
  /* Two writes whose replies come in together, taken in one receive. */
  CHECK (nbd_aio_pwrite (h, wbuf, sizeof wbuf, 0,
                         (nbd_completion_callback) { .callback = lone_cb }, 0) > 0);
  CHECK (nbd_aio_pwrite (h, wbuf, sizeof wbuf, 4096,
                         (nbd_completion_callback) { .callback = lone_cb }, 0) > 0);
  while (nbd_aio_get_direction (h) & LIBNBD_AIO_DIRECTION_WRITE)
    CHECK_OK (nbd_aio_notify_write (h));
  usleep (200000);
  while (nbd_aio_in_flight (h) > 0)     /* fastnbd: one notify takes both */
    CHECK_OK (nbd_aio_notify_read (h));
  /* Now a lone read: its reply must come without any further call. */
  CHECK (nbd_aio_pread (h, rbuf, sizeof rbuf, 0,
                        (nbd_completion_callback) { .callback = lone_cb,
                                                    .user_data = rbuf }, 0) > 0);
  p = (struct pollfd) { .fd = nbd_aio_get_fd (h), .events = POLLIN };
  CHECK_INT (poll (&p, 1, 5000), 1);
  while (!lone_done)
    CHECK (nbd_poll (h, -1) >= 0);
  CHECK_OK (nbd_shutdown (h, 0));
  nbd_close (h);
}

int
main (int argc, char **argv)
{
  if (system ("nbdkit --version >/dev/null 2>&1") != 0)
    TEST_SKIP ("nbdkit missing");
  alarm (100);
  if (argc > 1 && strcmp (argv[1], "lone") == 0) {
    lone ();
    return test_exit ();
  }
  run (1);
  run (0);
  return test_exit ();
}
