/* The plain socket transport: the ops table straight onto the fd. */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

#include "transport/transport.h"

/* The socket itself is left blocking (see nbdi_transport_socket), so
 * every call says whether it may wait. */
static ssize_t
sock_recv (struct nbdi_transport *t, const struct iovec *iov, int iovcnt,
           enum nbdi_wait wait)
{
  struct msghdr msg = {
    .msg_iov = (struct iovec *) iov,
    .msg_iovlen = (size_t) iovcnt,
  };
  int flags = wait == NBDI_WAIT_NONE ? MSG_DONTWAIT
              : wait == NBDI_WAIT_ALL ? MSG_WAITALL : 0;
  ssize_t r;

  /* A signal does not end a wait either: libnbd's nbd_poll goes on
   * polling, and so do we.  (MSG_WAITALL cut short by a signal returns
   * what it got, which the caller takes as a short read.) */
  do
    r = recvmsg (t->fd, &msg, flags);
  while (r == -1 && errno == EINTR);
  return r;
}

static ssize_t
sock_send (struct nbdi_transport *t, const struct iovec *iov, int iovcnt,
           bool more)
{
  struct msghdr msg = {
    .msg_iov = (struct iovec *) iov,
    .msg_iovlen = (size_t) iovcnt,
  };
  /* MSG_NOSIGNAL: a server hanging up must be an EPIPE for the engine,
   * not a SIGPIPE killing the program.  MSG_MORE lets the kernel merge
   * a request header with the payload that follows it. */
  int flags = MSG_NOSIGNAL | MSG_DONTWAIT | (more ? MSG_MORE : 0);
  ssize_t r;

  do
    r = sendmsg (t->fd, &msg, flags);
  while (r == -1 && errno == EINTR);
  return r;
}

static bool
sock_pending (struct nbdi_transport *t)
{
  /* The kernel holds every unread byte, so poll() sees them all. */
  (void) t;
  return false;
}

static int
sock_shutdown (struct nbdi_transport *t)
{
  return shutdown (t->fd, SHUT_WR);
}

static void
sock_close (struct nbdi_transport *t)
{
  close (t->fd);
  free (t);
}

static const struct nbdi_transport_ops socket_ops = {
  .recv = sock_recv,
  .send = sock_send,
  .pending = sock_pending,
  .shutdown = sock_shutdown,
  .close = sock_close,
};

struct nbdi_transport *
nbdi_transport_socket (int fd)
{
  struct nbdi_transport *t;
  int flags;

  if (fd < 0) {
    errno = EBADF;
    return NULL;
  }
  /* Blocking mode lets a caller that has nothing to do but wait for
   * the server sleep in recvmsg() instead of poll() then recvmsg(); all
   * other calls pass MSG_DONTWAIT. */
  flags = fcntl (fd, F_GETFL);
  if (flags == -1 || ((flags & O_NONBLOCK)
                      && fcntl (fd, F_SETFL, flags & ~O_NONBLOCK) == -1))
    return NULL;
  t = malloc (sizeof *t);
  if (t == NULL)
    return NULL;
  *t = (struct nbdi_transport) { .ops = &socket_ops, .fd = fd, .raw = true };
  return t;
}
