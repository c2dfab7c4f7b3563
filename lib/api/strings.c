#include <stdlib.h>
#include <string.h>

#include "api/internal.h"

char *
nbdi_strdup (const char *s)
{
  char *copy = strdup (s);
  if (copy == NULL)
    nbdi_set_error (ENOMEM, "out of memory");
  return copy;
}

int
nbdi_replace_string (char **field, const char *s)
{
  char *copy = nbdi_strdup (s);
  if (copy == NULL)
    return -1;
  free (*field);
  *field = copy;
  return 0;
}
