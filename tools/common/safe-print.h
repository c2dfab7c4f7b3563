/* Printing strings that came from a server to a terminal, so that a
 * hostile server cannot send escape sequences to the user's terminal. */
#ifndef TOOLS_SAFE_PRINT_H
#define TOOLS_SAFE_PRINT_H

#include <stdbool.h>
#include <stdio.h>

/* Writes s with every control character (C0, DEL and C1) written as
 * \uXXXX and every byte that is not valid UTF-8 written as \xNN.  When
 * quoted is true the result is also wrapped in double quotes, with quotes
 * and backslashes escaped, as in the export="..." lines of nbdinfo.
 */
void safe_print (FILE *fp, const char *s, bool quoted);

/* The escaper behind safe_print and json_print_string: with json true,
 * a byte that is not valid UTF-8 is written as \ufffd instead of \xNN,
 * since JSON text must be Unicode. */
void print_escaped (FILE *fp, const char *s, bool quoted, bool json);

#endif
