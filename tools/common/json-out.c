#include "json-out.h"

#include <string.h>

#include "utf8.h"

void
json_print_string (FILE *fp, const char *s)
{
  const unsigned char *p = (const unsigned char *) s;
  size_t left = strlen (s);

  putc ('"', fp);
  while (left > 0) {
    uint32_t cp;
    size_t n = utf8_decode (p, left, &cp);

    if (n == 0) {
      fputs ("\\ufffd", fp);
      n = 1;
    }
    else if (cp == '"' || cp == '\\')
      fprintf (fp, "\\%c", (int) cp);
    else if (cp < 0x20 || (cp >= 0x7f && cp <= 0x9f))
      fprintf (fp, "\\u%04x", (unsigned) cp);
    else
      fwrite (p, 1, n, fp);
    p += n;
    left -= n;
  }
  putc ('"', fp);
}
