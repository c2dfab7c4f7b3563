/* The transport: a byte stream to the server, plain socket or TLS.
 *
 * One small ops table so the engine's driver never cares which one it
 * talks through.  recv/send follow the socket conventions: >0 bytes,
 * 0 for end of stream (recv only), -1 with errno (EAGAIN when the call
 * would block). */
#ifndef NBDI_TRANSPORT_H
#define NBDI_TRANSPORT_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>
#include <sys/uio.h>

struct nbdi_transport;

enum nbdi_wait { NBDI_WAIT_NONE, NBDI_WAIT_SOME, NBDI_WAIT_ALL };

struct nbdi_transport_ops {
  /* wait (only where raw is set): NBDI_WAIT_SOME blocks until something
   * arrives, NBDI_WAIT_ALL until the iovecs are full (or end of stream,
   * or an error). */
  ssize_t (*recv) (struct nbdi_transport *t, const struct iovec *iov, int iovcnt,
                   enum nbdi_wait wait);
  /* more: further data follows soon (MSG_MORE / TLS record batching). */
  ssize_t (*send) (struct nbdi_transport *t, const struct iovec *iov, int iovcnt,
                   bool more);
  /* Bytes already received and decrypted, so poll() would not see them. */
  bool (*pending) (struct nbdi_transport *t);
  /* Shut down the write side (after NBD_CMD_DISC); 0 or -1. */
  int (*shutdown) (struct nbdi_transport *t);
  void (*close) (struct nbdi_transport *t);
};

struct nbdi_transport {
  const struct nbdi_transport_ops *ops;
  int fd;
  /* A plain socket: recv may wait, and may scatter over several iovecs
   * (TLS takes one buffer and never waits). */
  bool raw;
};

/* A plain socket transport owning fd; NULL with errno on failure. */
struct nbdi_transport *nbdi_transport_socket (int fd);

#endif
