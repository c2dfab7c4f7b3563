/* Helpers shared by the dialer source files; not for other layers. */
#ifndef NBDI_TRANSPORT_DIAL_INTERNAL_H
#define NBDI_TRANSPORT_DIAL_INTERNAL_H

#include "transport/dial.h"

/* Record a failure: d->err = err and d->what formatted (truncated to
 * fit). */
void nbdi_dial_fail (struct nbdi_dialer *d, int err, const char *fmt, ...)
  __attribute__ ((format (printf, 3, 4)));

/* Remove the socket activation directory, if any, and forget it. */
void nbdi_dial_remove_tmpdir (struct nbdi_dialer *d);

#endif
