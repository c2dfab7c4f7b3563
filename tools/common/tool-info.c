#include "tool-info.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libnbd.h>

int
print_version (const char *tool)
{
  struct nbd_handle *h;
  const char *library;

  printf ("%s %s\n", tool, FASTNBD_VERSION);
  h = nbd_create ();
  if (h == NULL) {
    fprintf (stderr, "%s: %s\n", tool, nbd_get_error ());
    return EXIT_FAILURE;
  }
  library = nbd_get_version (h);
  printf ("libnbd %s\n", library ? library : "unknown");
  nbd_close (h);
  return fflush (stdout) == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}

/* The options that list the options stay out of the list themselves. */
static int
is_hidden (const char *name)
{
  return strcmp (name, "long-options") == 0 || strcmp (name, "short-options") == 0;
}

void
print_long_options (const struct option *options)
{
  for (; options->name; options++)
    if (!is_hidden (options->name))
      printf ("--%s\n", options->name);
}

void
print_short_options (const char *optstring)
{
  for (; *optstring; optstring++)
    if (*optstring != ':' && *optstring != '+')
      printf ("-%c\n", *optstring);
}
