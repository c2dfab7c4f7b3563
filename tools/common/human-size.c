#include "human-size.h"

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char suffixes[] = "KMGTPE";

char *
human_size (char buf[HUMAN_SIZE_LEN], uint64_t n, bool *has_suffix)
{
  int unit = -1;

  while (n != 0 && n % 1024 == 0 && unit + 1 < (int) strlen (suffixes)) {
    n /= 1024;
    unit++;
  }
  if (unit >= 0)
    snprintf (buf, HUMAN_SIZE_LEN, "%" PRIu64 "%c", n, suffixes[unit]);
  else
    snprintf (buf, HUMAN_SIZE_LEN, "%" PRIu64, n);
  if (has_suffix)
    *has_suffix = unit >= 0;
  return buf;
}

int
parse_human_size (const char *str, uint64_t *result)
{
  char *end;
  long long value;
  unsigned shift = 0;

  /* As libnbd's tools read sizes: strtoll's syntax (leading blanks and
   * a sign allowed), no negative value, and the result must fit in a
   * signed 64-bit offset. */
  errno = 0;
  value = strtoll (str, &end, 10);
  if (end == str || errno != 0 || value < 0)
    return -1;
  if (*end != '\0') {
    int c = toupper ((unsigned char) *end);
    const char *s = c ? strchr (suffixes, c) : NULL;

    if (c == 'B')
      shift = 0;
    else if (c == 'S')
      shift = 9;                /* 512-byte sectors */
    else if (s != NULL)
      shift = 10 * (unsigned) (s - suffixes + 1);
    else
      return -1;
    if (end[1] != '\0')
      return -1;
  }
  if (value > (INT64_MAX >> shift))
    return -1;
  *result = (uint64_t) value << shift;
  return 0;
}
