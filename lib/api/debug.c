/* Debug output and call tracing. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

#include "api/internal.h"

void
nbdi_debug (struct nbd_handle *h, const char *context, const char *fmt, ...)
{
  va_list ap;
  char *msg = NULL;
  int saved_errno = errno;

  va_start (ap, fmt);
  if (vasprintf (&msg, fmt, ap) == -1)
    msg = NULL;
  va_end (ap);
  if (msg == NULL)
    goto out;
  if (h->debug_callback.callback)
    h->debug_callback.callback (h->debug_callback.user_data, context, msg);
  else
    fprintf (stderr, "libnbd: debug: %s: %s: %s\n",
             h->cfg.handle_name, context, msg);
  free (msg);
 out:
  errno = saved_errno;
}

const char *
nbdi_trace_strlist (char **list)
{
  return list ? "[...]" : "(null)";
}

int
nbdi_set_debug_callback (struct nbd_handle *h, nbd_debug_callback cb)
{
  nbdi_clear_debug_callback (h);
  h->debug_callback = cb;
  return 0;
}

int
nbdi_clear_debug_callback (struct nbd_handle *h)
{
  nbd_debug_callback old = h->debug_callback;

  /* Detach first: the .free function may itself emit debug output. */
  h->debug_callback = (nbd_debug_callback) { .callback = NULL };
  if (old.free)
    old.free (old.user_data);
  return 0;
}
