/* What every tool prints for --version, --long-options and
 * --short-options (the last two are hidden; bash completion reads them). */
#ifndef TOOLS_TOOL_INFO_H
#define TOOLS_TOOL_INFO_H

#include <getopt.h>

/* Prints "TOOL VERSION" and "libnbd LIBVERSION" (the library actually
 * loaded, asked through nbd_get_version).  Returns the exit status. */
int print_version (const char *tool);

/* Prints every long option as --NAME, one a line, except the hidden
 * --long-options and --short-options. */
void print_long_options (const struct option *options);

/* Prints every short option in a getopt string as -X, one a line. */
void print_short_options (const char *optstring);

#endif
