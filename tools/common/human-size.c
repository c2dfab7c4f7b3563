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
  uint64_t value;
  unsigned shift = 0;

  /* strtoull accepts a sign and leading spaces; a size has neither. */
  if (!isdigit ((unsigned char) str[0]))
    return -1;
  errno = 0;
  value = strtoull (str, &end, 10);
  if (errno != 0)
    return -1;
  if (*end != '\0') {
    const char *s = strchr (suffixes, toupper ((unsigned char) *end));
    if (toupper ((unsigned char) *end) == 'B')
      shift = 0;
    else if (s != NULL && *s != '\0')
      shift = 10 * (unsigned) (s - suffixes + 1);
    else
      return -1;
    if (end[1] != '\0')
      return -1;
  }
  if (shift > 0 && value > (UINT64_MAX >> shift))
    return -1;
  *result = value << shift;
  return 0;
}
