/* The NBD argument every tool takes: an NBD URI, or a server to run as a
 * subprocess, written "[ CMD ARGS ... ]" (socket activation). */
#ifndef TOOLS_TARGET_H
#define TOOLS_TARGET_H

#include <libnbd.h>

struct target {
  const char *uri;   /* the URI, or NULL for a subprocess */
  char **command;    /* NULL-terminated argv of the subprocess, or NULL */
};

/* Reads the target from argv[first .. argc-1], which must be exactly one
 * URI or exactly one bracketed command.  The command vector points into
 * argv (whose closing "]" is replaced by NULL).  Returns 0, or -1 after
 * printing "TOOL: ..." to stderr when the arguments are not of that form.
 */
int target_parse (const char *tool, int argc, char **argv, int first,
                  struct target *t);

/* Connects h to the target: nbd_connect_uri (with local files allowed in
 * the URI, for TLS certificates and PSK files) or
 * nbd_connect_systemd_socket_activation.  Returns the libnbd result.
 */
int target_connect (struct nbd_handle *h, const struct target *t);

/* Reports, on one line of stderr, why target_connect failed on h.  When
 * the target is a subprocess that has exited, that is the cause, and the
 * line says how it exited (libnbd would only tell that the connection
 * was reset); otherwise it is libnbd's error. */
void report_connect_error (const char *tool, struct nbd_handle *h,
                           const struct target *t);

#endif
