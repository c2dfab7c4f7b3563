/* Thread-local last error (nbd_get_error, nbd_get_errno). */
#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/internal.h"

struct last_error {
  const char *context;          /* public call running on this thread */
  const char *owner;            /* the call the stored error belongs to */
  char *msg;                    /* malloc'd, or NULL */
  int errnum;
};

static __thread struct last_error last NBDI_FAST_TLS;

/* Frees a thread's message when the thread exits. */
static pthread_key_t cleanup_key;
static pthread_once_t cleanup_once = PTHREAD_ONCE_INIT;

static void
free_message (void *p)
{
  free (p);
}

static void
make_key (void)
{
  pthread_key_create (&cleanup_key, free_message);
}

const char *
nbdi_set_context (const char *function)
{
  const char *old = last.context;
  last.context = function;
  return old;
}

static void
store (int errnum, const char *fmt, va_list ap, bool with_strerror)
{
  char *body = NULL, *msg = NULL;
  int saved = errnum;

  if (vasprintf (&body, fmt, ap) == -1)
    body = NULL;
  if (asprintf (&msg, "%s: %s%s%s", last.context ? last.context : "libnbd",
                body ? body : "(out of memory)",
                with_strerror ? ": " : "",
                with_strerror ? strerror (saved) : "") == -1)
    msg = NULL;
  free (body);
  free (last.msg);
  last.msg = msg;
  last.errnum = saved;
  last.owner = last.context;
  pthread_once (&cleanup_once, make_key);
  pthread_setspecific (cleanup_key, msg);
}

void
nbdi_set_error (int errnum, const char *fmt, ...)
{
  va_list ap;
  va_start (ap, fmt);
  store (errnum, fmt, ap, false);
  va_end (ap);
}

void
nbdi_set_error_errno (int errnum, const char *fmt, ...)
{
  va_list ap;
  va_start (ap, fmt);
  store (errnum, fmt, ap, true);
  va_end (ap);
}

bool
nbdi_error_set_by (const char *function)
{
  return last.errnum != 0 && last.owner && strcmp (last.owner, function) == 0;
}

const char *
nbd_get_error (void)
{
  return last.msg;
}

int
nbd_get_errno (void)
{
  return last.errnum;
}
