/* Dialers for sockets: unix, tcp, a raw sockaddr, vsock and adopted fds.
 *
 * The dialers that start a child process live in dial-child.c.
 *
 * Every connect is started on a non-blocking socket.  When connect()
 * answers EINPROGRESS the dialer leaves d->in_progress set, and the
 * caller polls for POLLOUT and calls nbdi_dial_continue.  While an
 * attempt is in progress d->what already names it ("connect: ..."),
 * so a failure reported later by SO_ERROR only has to fill in d->err:
 * the dialer has no other room to remember which address was tried. */
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>
#ifdef __linux__
#include <linux/vm_sockets.h>
#endif

#include "transport/dial.h"
#include "transport/dial-internal.h"

void
nbdi_dialer_init (struct nbdi_dialer *d)
{
  *d = (struct nbdi_dialer) {
    .fd = -1,
    .pid = -1,
  };
}

void
nbdi_dial_fail (struct nbdi_dialer *d, int err, const char *fmt, ...)
{
  va_list ap;

  d->err = err;
  va_start (ap, fmt);
  vsnprintf (d->what, sizeof d->what, fmt, ap);
  va_end (ap);
}

/* Write "connect: <address>" for addr into d->what.  Numeric forms
 * only: a reverse lookup here could block for seconds. */
static void
describe_connect (struct nbdi_dialer *d, const struct sockaddr *addr,
                  socklen_t addrlen)
{
  /* Numeric forms are short: an IPv6 address with a scope name fits. */
  char host[64], serv[16];

  if (addrlen >= sizeof (sa_family_t) && addr->sa_family == AF_UNIX) {
    const struct sockaddr_un *sun = (const struct sockaddr_un *) addr;
    size_t base = offsetof (struct sockaddr_un, sun_path);
    size_t max = addrlen > base ? addrlen - base : 0;

    if (max > sizeof sun->sun_path)
      max = sizeof sun->sun_path;
    /* sun_path need not be NUL-terminated when it fills the field. */
    snprintf (d->what, sizeof d->what, "connect: %.*s",
              (int) strnlen (sun->sun_path, max), sun->sun_path);
    return;
  }
#ifdef AF_VSOCK
  if (addrlen >= sizeof (struct sockaddr_vm) && addr->sa_family == AF_VSOCK) {
    const struct sockaddr_vm *svm = (const struct sockaddr_vm *) addr;

    snprintf (d->what, sizeof d->what, "connect: vsock cid %u port %u",
              svm->svm_cid, svm->svm_port);
    return;
  }
#endif
  if (getnameinfo (addr, addrlen, host, sizeof host, serv, sizeof serv,
                   NI_NUMERICHOST | NI_NUMERICSERV) == 0)
    snprintf (d->what, sizeof d->what, "connect: %s port %s", host, serv);
  else if (addrlen >= sizeof (sa_family_t))
    snprintf (d->what, sizeof d->what, "connect: address family %d",
              (int) addr->sa_family);
  else
    snprintf (d->what, sizeof d->what, "connect: invalid address");
}

/* Create a socket and start connecting it to addr.  Returns 0 with
 * d->fd set (in progress or already connected) or -1 with the error
 * recorded and no socket left open. */
static int
start_connect (struct nbdi_dialer *d, int family, int protocol,
               const struct sockaddr *addr, socklen_t addrlen)
{
  int fd;

  describe_connect (d, addr, addrlen);
  fd = socket (family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, protocol);
  if (fd == -1) {
    d->err = errno;
    return -1;
  }
  /* A non-blocking connect interrupted by a signal goes on in the
   * background exactly as if it had answered EINPROGRESS.  On a unix
   * socket EAGAIN means the listen backlog is full and nothing is in
   * progress: it is an error, since waiting would mean blocking. */
  if (connect (fd, addr, addrlen) == 0)
    d->in_progress = false;
  else if (errno == EINPROGRESS || errno == EINTR)
    d->in_progress = true;
  else {
    d->err = errno;
    close (fd);
    return -1;
  }
  d->fd = fd;
  /* An earlier address's failure must not be mistaken for this one's. */
  d->err = 0;
  return 0;
}

int
nbdi_dial_unix (struct nbdi_dialer *d, const char *path)
{
  struct sockaddr_un sun = { .sun_family = AF_UNIX };
  size_t len;

  if (path == NULL) {
    nbdi_dial_fail (d, EINVAL, "connect: no socket path");
    return -1;
  }
  len = strlen (path);
  /* Leave room for the NUL so the path is always terminated. */
  if (len >= sizeof sun.sun_path) {
    nbdi_dial_fail (d, ENAMETOOLONG, "connect: %s", path);
    return -1;
  }
  memcpy (sun.sun_path, path, len + 1);
  return start_connect (d, AF_UNIX, 0, (struct sockaddr *) &sun,
                        (socklen_t) sizeof sun);
}

/* Map a getaddrinfo failure to the closest errno. */
static int
gai_errno (int r)
{
  switch (r) {
  case EAI_SYSTEM: return errno ? errno : EIO;
  case EAI_MEMORY: return ENOMEM;
  case EAI_AGAIN: return EAGAIN;
  case EAI_FAMILY: return EAFNOSUPPORT;
  case EAI_SOCKTYPE: return ESOCKTNOSUPPORT;
  case EAI_SERVICE: return EINVAL;
  case EAI_BADFLAGS: return EINVAL;
  case EAI_FAIL: return EHOSTUNREACH;
  default: return ENOENT;       /* EAI_NONAME, EAI_NODATA: no such host */
  }
}

/* Try d->next_addr onwards until one connect starts.  Returns 0 with
 * d->fd set, or -1 once the list is used up, keeping the last error. */
static int
try_addresses (struct nbdi_dialer *d)
{
  while (d->next_addr != NULL) {
    struct addrinfo *a = d->next_addr;

    d->next_addr = a->ai_next;
    if (start_connect (d, a->ai_family, a->ai_protocol,
                       a->ai_addr, a->ai_addrlen) == 0)
      return 0;
  }
  return -1;
}

int
nbdi_dial_tcp (struct nbdi_dialer *d, const char *host, const char *port)
{
  struct addrinfo hints = {
    .ai_family = AF_UNSPEC,
    .ai_socktype = SOCK_STREAM,
  };
  int r;

  if (host == NULL || port == NULL) {
    nbdi_dial_fail (d, EINVAL, "getaddrinfo: missing %s",
                    host == NULL ? "host name" : "port");
    return -1;
  }
  if (d->addrs != NULL)
    freeaddrinfo (d->addrs);
  d->addrs = d->next_addr = NULL;

  errno = 0;
  r = getaddrinfo (host, port, &hints, &d->addrs);
  if (r != 0) {
    int err = gai_errno (r);

    d->addrs = NULL;
    nbdi_dial_fail (d, err, "getaddrinfo: %s:%s: %s", host, port,
                    r == EAI_SYSTEM ? strerror (err) : gai_strerror (r));
    return -1;
  }
  if (d->addrs == NULL) {
    nbdi_dial_fail (d, ENOENT, "getaddrinfo: %s:%s: no addresses",
                    host, port);
    return -1;
  }
  d->next_addr = d->addrs;
  return try_addresses (d);
}

int
nbdi_dial_sockaddr (struct nbdi_dialer *d, const struct sockaddr *addr,
                    socklen_t addrlen)
{
  if (addr == NULL || addrlen < sizeof (sa_family_t)) {
    nbdi_dial_fail (d, EINVAL, "connect: invalid address");
    return -1;
  }
  return start_connect (d, addr->sa_family, 0, addr, addrlen);
}

int
nbdi_dial_vsock (struct nbdi_dialer *d, uint32_t cid, uint32_t port)
{
#ifdef AF_VSOCK
  struct sockaddr_vm svm = {
    .svm_family = AF_VSOCK,
    .svm_cid = cid,
    .svm_port = port,
  };

  return start_connect (d, AF_VSOCK, 0, (struct sockaddr *) &svm,
                        (socklen_t) sizeof svm);
#else
  nbdi_dial_fail (d, EAFNOSUPPORT, "connect: vsock cid %u port %u",
                  cid, port);
  return -1;
#endif
}

bool
nbdi_vsock_supported (void)
{
#ifdef AF_VSOCK
  /* The address family exists only when the kernel has it loaded or
   * can load it; creating a socket is the one reliable test. */
  int fd = socket (AF_VSOCK, SOCK_STREAM | SOCK_CLOEXEC, 0);

  if (fd == -1)
    return false;
  close (fd);
  return true;
#else
  return false;
#endif
}

int
nbdi_dial_socket (struct nbdi_dialer *d, int sock)
{
  int flags;

  if (sock < 0) {
    nbdi_dial_fail (d, EBADF, "socket: invalid file descriptor %d", sock);
    return -1;
  }
  /* On failure the descriptor is left as it was: it stays the
   * caller's, since we could not make it usable. */
  flags = fcntl (sock, F_GETFL);
  if (flags == -1 ||
      ((flags & O_NONBLOCK) == 0 &&
       fcntl (sock, F_SETFL, flags | O_NONBLOCK) == -1)) {
    nbdi_dial_fail (d, errno, "fcntl: file descriptor %d", sock);
    return -1;
  }
  flags = fcntl (sock, F_GETFD);
  if (flags == -1 ||
      ((flags & FD_CLOEXEC) == 0 &&
       fcntl (sock, F_SETFD, flags | FD_CLOEXEC) == -1)) {
    nbdi_dial_fail (d, errno, "fcntl: file descriptor %d", sock);
    return -1;
  }
  d->fd = sock;
  d->in_progress = false;
  return 0;
}

int
nbdi_dial_continue (struct nbdi_dialer *d)
{
  int err = 0;
  socklen_t len = sizeof err;

  if (!d->in_progress) {
    if (d->fd >= 0)
      return 1;
    if (d->err == 0)
      nbdi_dial_fail (d, ENOTCONN, "connect: no connection in progress");
    return -1;
  }
  if (getsockopt (d->fd, SOL_SOCKET, SO_ERROR, &err, &len) == -1)
    err = errno;
  if (err == 0) {
    d->in_progress = false;
    return 1;
  }
  /* d->what already names this attempt (see start_connect). */
  d->err = err;
  close (d->fd);
  d->fd = -1;
  d->in_progress = false;
  if (try_addresses (d) == -1)
    return -1;
  return d->in_progress ? 0 : 1;
}

int
nbdi_dialer_take_fd (struct nbdi_dialer *d)
{
  int fd = d->fd;

  d->fd = -1;
  d->in_progress = false;
  return fd;
}

void
nbdi_dialer_cleanup (struct nbdi_dialer *d)
{
  if (d->addrs != NULL)
    freeaddrinfo (d->addrs);
  d->addrs = d->next_addr = NULL;
  nbdi_dial_remove_tmpdir (d);
  if (d->fd >= 0)
    close (d->fd);
  d->fd = -1;
  d->in_progress = false;
}
