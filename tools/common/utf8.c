#include "utf8.h"

size_t
utf8_decode (const unsigned char *s, size_t len, uint32_t *cp)
{
  size_t need;
  uint32_t value, minimum;

  if (len == 0)
    return 0;
  if (s[0] < 0x80) {
    *cp = s[0];
    return 1;
  }
  if ((s[0] & 0xe0) == 0xc0) {
    need = 2; value = s[0] & 0x1f; minimum = 0x80;
  }
  else if ((s[0] & 0xf0) == 0xe0) {
    need = 3; value = s[0] & 0x0f; minimum = 0x800;
  }
  else if ((s[0] & 0xf8) == 0xf0) {
    need = 4; value = s[0] & 0x07; minimum = 0x10000;
  }
  else
    return 0;
  if (len < need)
    return 0;
  for (size_t i = 1; i < need; i++) {
    if ((s[i] & 0xc0) != 0x80)
      return 0;
    value = (value << 6) | (s[i] & 0x3f);
  }
  if (value < minimum || value > 0x10ffff ||
      (value >= 0xd800 && value <= 0xdfff))
    return 0;
  *cp = value;
  return need;
}
