#include "held-output.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

static FILE *held;
static char *held_buf;
static size_t held_len;

FILE *
held_output_open (const char *tool)
{
  held = open_memstream (&held_buf, &held_len);
  if (held == NULL) {
    fprintf (stderr, "%s: open_memstream: %s\n", tool, strerror (errno));
    exit (EXIT_FAILURE);
  }
  return held;
}

int
held_output_commit (const char *tool)
{
  int r = 0;

  if (fclose (held) != 0) {
    fprintf (stderr, "%s: %s\n", tool, strerror (errno));
    r = -1;
  }
  else if (fwrite (held_buf, 1, held_len, stdout) != held_len ||
           fflush (stdout) != 0) {
    fprintf (stderr, "%s: writing to stdout: %s\n", tool, strerror (errno));
    r = -1;
  }
  held = NULL;
  free (held_buf);
  held_buf = NULL;
  return r;
}

void
held_output_discard (void)
{
  if (held) {
    fclose (held);
    held = NULL;
  }
  free (held_buf);
  held_buf = NULL;
}
