#include "nbd-error.h"

#include <stdio.h>

#include <libnbd.h>

void
report_nbd_error (const char *tool)
{
  const char *msg = nbd_get_error ();

  fprintf (stderr, "%s: %s\n", tool, msg ? msg : "unknown error");
}
