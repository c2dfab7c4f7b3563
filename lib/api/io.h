/* The driver's interface to the rest of the API layer. */
#ifndef NBDI_API_IO_H
#define NBDI_API_IO_H

#include <stdbool.h>
#include <stdint.h>

struct nbd_handle;

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

#endif
