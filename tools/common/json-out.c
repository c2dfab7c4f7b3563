#include "json-out.h"

#include "safe-print.h"

void
json_print_string (FILE *fp, const char *s)
{
  print_escaped (fp, s, true, true);
}
