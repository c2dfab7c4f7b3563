#include "safe-print.h"

#include <stdint.h>
#include <string.h>

#include "utf8.h"

void
print_escaped (FILE *fp, const char *s, bool quoted, bool json)
{
  const unsigned char *p = (const unsigned char *) s;
  size_t left = strlen (s);

  if (quoted)
    putc ('"', fp);
  while (left > 0) {
    uint32_t cp;
    size_t n = utf8_decode (p, left, &cp);

    if (n == 0) {
      if (json)
        fputs ("\\ufffd", fp);
      else
        fprintf (fp, "\\x%02x", p[0]);
      n = 1;
    }
    else if (quoted && (cp == '"' || cp == '\\'))
      fprintf (fp, "\\%c", (int) cp);
    else if (cp < 0x20 || (cp >= 0x7f && cp <= 0x9f))
      fprintf (fp, "\\u%04x", (unsigned) cp);
    else
      fwrite (p, 1, n, fp);
    p += n;
    left -= n;
  }
  if (quoted)
    putc ('"', fp);
}

void
safe_print (FILE *fp, const char *s, bool quoted)
{
  print_escaped (fp, s, quoted, false);
}
