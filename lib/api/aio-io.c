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
  return nbdi_engine_direction (h);
}

/* Events mean something only while a connection is in progress. */
static int
expects_events (struct nbd_handle *h)
{
  if (nbdi_io_fd (h) == -1) {
    nbdi_set_error (EINVAL, "the handle has no connection to notify about");
    return 0;
  }
  return 1;
}

int
nbdi_aio_notify_read (struct nbd_handle *h)
{
  if (!expects_events (h))
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
  if (!expects_events (h))
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
