/* Output held in memory until the whole answer is known, so that a
 * failure midway leaves stdout empty and a script never parses half an
 * answer. */
#ifndef TOOLS_HELD_OUTPUT_H
#define TOOLS_HELD_OUTPUT_H

#include <stdio.h>

/* Returns a stream to write the answer to.  Exits with a message on
 * failure (out of memory). */
FILE *held_output_open (const char *tool);

/* Writes everything held to stdout and frees it.  Returns 0, or -1 (with
 * a message) if stdout could not be written. */
int held_output_commit (const char *tool);

/* Frees what is held without writing it. */
void held_output_discard (void);

#endif
