/* How the tools report a failed libnbd call. */
#ifndef TOOLS_NBD_ERROR_H
#define TOOLS_NBD_ERROR_H

/* Prints "TOOL: MESSAGE" to stderr, MESSAGE being libnbd's last error
 * (which names the call that failed). */
void report_nbd_error (const char *tool);

#endif
