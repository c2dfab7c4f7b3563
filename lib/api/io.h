/* The driver's interface to the rest of the API layer. */
#ifndef NBDI_API_IO_H
#define NBDI_API_IO_H

#include <stdbool.h>
#include <stdint.h>

#include "transport/dial.h"

struct nbd_handle;
struct nbdi_transport;

/* The driver's own state: the connection as the kernel sees it, and the
 * heuristics that save system calls.  The protocol's state is the
 * engine's (h->engine). */
struct nbdi_driver {
  struct nbdi_dialer dialer;    /* while connecting */
  struct nbdi_transport *transport;     /* once connected */
  bool tls_wrapped;             /* the transport is the TLS one */
  bool tls_want_write;          /* the TLS handshake waits to write */
  bool recv_hot;                /* the last read found data waiting */
  bool tx_full;                 /* the last send found the socket full */
  bool in_receive;              /* replies are being received: commands
                                 * issued now leave when it ends */
  bool write_shut;              /* NBD_CMD_DISC sent, write side shut */
};

int nbdi_io_send (struct nbd_handle *h);
int nbdi_io_recv (struct nbd_handle *h, bool *drained);
int nbdi_io_notify_read (struct nbd_handle *h);
int nbdi_io_notify_write (struct nbd_handle *h);
int nbdi_io_fd (struct nbd_handle *h);
int nbdi_io_poll (struct nbd_handle *h, int extra_fd, int timeout);
/* The dialer's socket is connected: wrap it and start the handshake. */
int nbdi_io_attach (struct nbd_handle *h);
/* Drive I/O until done (h, arg); 0, or -1 with the error set. */
int nbdi_io_wait (struct nbd_handle *h, bool (*done) (struct nbd_handle *, void *),
                  void *arg);
/* The sync connect calls: after the aio connect returned r, wait for the
 * handshake to end (ready, or negotiating in option mode); 0 or -1. */
int nbdi_connect_finish (struct nbd_handle *h, int r);

/* Waiters of the generated sync calls (spec/api.py sync_of): each takes
 * the result of the aio twin and returns the sync call's result. */
int nbdi_wait_command (struct nbd_handle *h, int64_t cookie);
int nbdi_wait_option_count (struct nbd_handle *h, int r);
int nbdi_wait_option_done (struct nbd_handle *h, int r);

/* End negotiation: send NBD_OPT_ABORT as far as the socket takes it
 * now, shut the write side and close, never waiting for the server
 * (lib/api/shutdown.c).  0 or -1. */
int nbdi_abort_negotiation (struct nbd_handle *h);

/* Set the public error from the recorded cause of death. */
void nbdi_set_dead_error (struct nbd_handle *h);

/* Directions the handle waits for (LIBNBD_AIO_DIRECTION_*): the
 * engine's, or the TLS handshake's while it runs. */
unsigned nbdi_io_direction (struct nbd_handle *h);

/* Close the transport, if any. */
void nbdi_io_close (struct nbd_handle *h);

#endif
