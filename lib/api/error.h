/* The one place errors take their public form: a thread-local errno and
 * a message that starts with the name of the public call that failed. */
#ifndef NBDI_API_ERROR_H
#define NBDI_API_ERROR_H

#include <stdbool.h>

/* Name the public call now running on this thread (a string literal),
 * returning the previous one: a callback may call into the library
 * while an outer call is still running, so entry points restore it. */
const char *nbdi_set_context (const char *function);

/* Record the failure of the current call: errnum (never 0) and a
 * printf-style message, prefixed with the call's name. */
void nbdi_set_error (int errnum, const char *fmt, ...)
  __attribute__ ((format (printf, 2, 3)));

/* Like nbdi_set_error, appending ": strerror (errnum)". */
void nbdi_set_error_errno (int errnum, const char *fmt, ...)
  __attribute__ ((format (printf, 2, 3)));

/* The error stored last on this thread was recorded while function was
 * the running call.  Only the failure path of debug builds asks, to
 * check that every failed call explains itself. */
bool nbdi_error_set_by (const char *function);

#endif
