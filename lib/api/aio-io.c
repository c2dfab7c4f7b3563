/* The public event-loop calls: fd, direction, notify, poll. */
#include "api/internal.h"
#include "api/io.h"
#include "engine/engine.h"

int
nbdi_aio_get_fd (struct nbd_handle *h)
{
  int fd = nbdi_io_fd (h);

  if (fd == -1)
    nbdi_set_error (EINVAL, "the handle has no connection");
  return fd;
}

unsigned
nbdi_aio_get_direction (struct nbd_handle *h)
{
  return nbdi_io_direction (h);
}

/* As in libnbd, an event is accepted only when the handle waits for it
 * (nbd_aio_get_direction names it): in any other state it is refused
 * with EINVAL and nothing happens. */
static int
expects (struct nbd_handle *h, unsigned direction, const char *event)
{
  if ((nbdi_io_direction (h) & direction) == 0) {
    nbdi_set_error (EINVAL, "the handle does not wait for the connection to "
                    "be %s in state %s", event,
                    nbdi_state_name (nbdi_get_state (h)));
    return 0;
  }
  return 1;
}

int
nbdi_aio_notify_read (struct nbd_handle *h)
{
  if (!expects (h, LIBNBD_AIO_DIRECTION_READ, "readable"))
    return -1;
  if (nbdi_io_notify_read (h) == -1) {
    nbdi_set_dead_error (h);
    return -1;
  }
  return 0;
}

int
nbdi_aio_notify_write (struct nbd_handle *h)
{
  if (!expects (h, LIBNBD_AIO_DIRECTION_WRITE, "writable"))
    return -1;
  if (nbdi_io_notify_write (h) == -1) {
    nbdi_set_dead_error (h);
    return -1;
  }
  return 0;
}

int
nbdi_poll (struct nbd_handle *h, int timeout)
{
  return nbdi_io_poll (h, -1, timeout);
}

int
nbdi_poll2 (struct nbd_handle *h, int fd, int timeout)
{
  return nbdi_io_poll (h, fd, timeout);
}
