/* The part of the command line every tool shares.
 *
 * Each tool describes its command line once, in a struct tool_cli: its
 * own short and long options, its --help text, and whether it takes the
 * colour options.  tool_getopt adds what all tools accept alike (--help,
 * -V/--version, the hidden --long-options and --short-options that bash
 * completion reads, and the eight spellings of --color and --no-color),
 * answers those itself, and hands the tool only its own options. */
#ifndef TOOLS_COMMAND_LINE_H
#define TOOLS_COMMAND_LINE_H

#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>

/* The codes tool_getopt returns for the colour options.  A tool numbers
 * its own long-only options from TOOL_OPT_FIRST up. */
enum {
  TOOL_OPT_COLOR = 256, TOOL_OPT_NO_COLOR,
  TOOL_OPT_PRIVATE_,            /* the shared codes tool_getopt answers */
  TOOL_OPT_FIRST = TOOL_OPT_PRIVATE_ + 8,
};

struct tool_cli {
  const char *name;             /* the tool, as messages name it */
  /* The text of --help, which ends with a pointer to the manual page. */
  const char *usage;
  /* The tool's own options in getopt's syntax; "V" is added. */
  const char *short_options;
  /* The tool's own long options, ending with an entry whose name is NULL. */
  const struct option *long_options;
  bool color;                   /* accepts --color and --no-color */
  /* How an unknown option or a missing argument is answered after
   * getopt's one-line message: with the --help text on stderr too, or
   * with nothing more. */
  bool usage_on_error;
};

/* getopt_long over the tool's options and the shared ones.  Returns the
 * code of the next option that is the tool's own (or TOOL_OPT_COLOR or
 * TOOL_OPT_NO_COLOR), or -1 after the last option; optind and optarg
 * are getopt's.  --help, --version, --long-options and --short-options
 * print their answer and exit; a bad option exits with status 1. */
int tool_getopt (const struct tool_cli *cli, int argc, char **argv);

/* Prints the --help text to fp and exits with status. */
_Noreturn void tool_usage (const struct tool_cli *cli, FILE *fp, int status);

#endif
