/* UTF-8 decoding shared by the JSON and terminal-safe printers. */
#ifndef TOOLS_UTF8_H
#define TOOLS_UTF8_H

#include <stddef.h>
#include <stdint.h>

/* Decodes one UTF-8 sequence at s (len bytes available).  Returns its
 * length (1 to 4) and stores the code point in *cp, or returns 0 when the
 * bytes are not a valid, shortest-form sequence of a Unicode scalar value
 * (overlong forms, surrogates and values past U+10FFFF are all invalid).
 */
size_t utf8_decode (const unsigned char *s, size_t len, uint32_t *cp);

#endif
