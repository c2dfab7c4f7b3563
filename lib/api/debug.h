/* Debug messages: to the handle's debug callback, else to stderr.
 * Callers test h->cfg.proto.debug first so that tracing costs nothing when off. */
#ifndef NBDI_API_DEBUG_H
#define NBDI_API_DEBUG_H

struct nbd_handle;

void nbdi_debug (struct nbd_handle *h, const char *context, const char *fmt, ...)
  __attribute__ ((format (printf, 3, 4)));

/* Printable forms of arguments for traces. */
#define nbdi_trace_str(s) ((s) ? (s) : "(null)")
const char *nbdi_trace_strlist (char **list);

#endif
