/* Writing JSON string literals that stay valid whatever bytes a server
 * sent. */
#ifndef TOOLS_JSON_OUT_H
#define TOOLS_JSON_OUT_H

#include <stdio.h>

/* Writes s as a quoted JSON string.  Quotes and backslashes are escaped,
 * control characters (C0, DEL and C1) become \uXXXX so the output is also
 * safe on a terminal, and every byte that is not part of valid UTF-8
 * becomes \ufffd (JSON text must be Unicode; the replacement character is
 * the standard stand-in for undecodable input).
 */
void json_print_string (FILE *fp, const char *s);

#endif
