/* The socketpair driver: one handle (nbd_aio_connect_socket) against the
 * fake server on the other end of a socketpair, moved with the
 * asynchronous calls and poll() so that neither side blocks; when
 * neither can move, the server hangs up and the handle must die. */
#ifndef FZ_CLIENT_H
#define FZ_CLIENT_H

#include "fz-callbacks.h"
#include "fz-iter.h"

/* Run one iteration whose configuration is filled in, close the handle,
 * and make every check. */
void fz_run (struct fz_iter *it);

/* Issue command i of the iteration on its handle. */
void fz_issue_cmd (struct fz_iter *it, int i);

#endif
