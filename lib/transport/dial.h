/* Dialers: every way of getting a connected stream socket to a server.
 *
 * This layer knows nothing of NBD or of handles.  A dialer starts a
 * connection without blocking; when the socket is not connected yet
 * (a TCP or vsock connect in progress) the caller waits until it is
 * writable and calls nbdi_dial_continue.  Errors are reported as an
 * errno value plus a short description in the dialer (d->what), which
 * the API layer turns into the public error message. */
#ifndef NBDI_TRANSPORT_DIAL_H
#define NBDI_TRANSPORT_DIAL_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/types.h>

struct addrinfo;

struct nbdi_dialer {
  int fd;                       /* -1 until a socket exists */
  bool in_progress;             /* connect() returned EINPROGRESS */
  struct addrinfo *addrs;       /* tcp: the getaddrinfo result ... */
  struct addrinfo *next_addr;   /* ... and the next address to try */
  pid_t pid;                    /* command / socket activation child, or -1 */
  char *tmpdir;                 /* socket activation: our private directory */
  int err;                      /* errno of the last failure */
  char what[256];               /* what failed, e.g. "connect: 127.0.0.1:10809" */
};

/* Initialise an empty dialer (fd -1, pid -1). */
void nbdi_dialer_init (struct nbdi_dialer *d);

/* Each returns 0 with d->fd set (d->in_progress true when the caller
 * must wait for POLLOUT and call nbdi_dial_continue), or -1 with
 * d->err and d->what set.  All sockets are non-blocking and
 * close-on-exec. */
int nbdi_dial_unix (struct nbdi_dialer *d, const char *path);
int nbdi_dial_tcp (struct nbdi_dialer *d, const char *host, const char *port);
int nbdi_dial_sockaddr (struct nbdi_dialer *d, const struct sockaddr *addr,
                        socklen_t addrlen);
int nbdi_dial_vsock (struct nbdi_dialer *d, uint32_t cid, uint32_t port);
/* Adopt a socket the caller owns from now on (made non-blocking). */
int nbdi_dial_socket (struct nbdi_dialer *d, int sock);
/* socketpair + fork + exec argv[0] (PATH searched) with the other end
 * as stdin and stdout; only async-signal-safe calls in the child. */
int nbdi_dial_command (struct nbdi_dialer *d, char **argv);
/* Start argv as a systemd socket-activated server: bind a unix socket
 * in a private temporary directory, pass it as fd 3 with LISTEN_PID,
 * LISTEN_FDS=1 and LISTEN_FDNAMES=<name or "unknown">, then connect. */
int nbdi_dial_socket_activation (struct nbdi_dialer *d, char **argv,
                                 const char *name);

/* After POLLOUT on an in-progress connect: 1 when connected, 0 when a
 * further address is being tried (d->fd changed, wait again), -1 when
 * every address failed (d->err/d->what describe the last failure). */
int nbdi_dial_continue (struct nbdi_dialer *d);

/* Hand the connected socket over (d->fd becomes -1). */
int nbdi_dialer_take_fd (struct nbdi_dialer *d);

/* Free address lists and the temporary directory; close d->fd if it was
 * not taken.  Does not touch the child process (see below). */
void nbdi_dialer_cleanup (struct nbdi_dialer *d);

/* Child process management for command / socket activation servers. */
int nbdi_child_kill (pid_t pid, int signum);      /* 0 or -1 with errno */
/* Reap the child if it has exited (non-blocking); true once reaped. */
bool nbdi_child_reap (pid_t pid, bool wait);

bool nbdi_vsock_supported (void);

#endif
