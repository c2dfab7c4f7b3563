/* The ANSI escape sequences the tools colour their text output with,
 * the same ones libnbd's tools use, so that coloured output is
 * byte-for-byte the same. */
#ifndef TOOLS_ANSI_COLOR_H
#define TOOLS_ANSI_COLOR_H

#define ANSI_RESET "\033[0m"
#define ANSI_GREY "\033[22;90m"
#define ANSI_GREEN "\033[22;32m"
#define ANSI_RED "\033[22;31m"
#define ANSI_BOLD_BLACK "\033[1;30m"
#define ANSI_BOLD_RED "\033[1;31m"
#define ANSI_BOLD_BLUE "\033[1;34m"
#define ANSI_BOLD_MAGENTA "\033[1;35m"
#define ANSI_BOLD_WHITE_ON_BLACK "\033[1;37m\033[40m"
#define ANSI_ON_WHITE "\033[47m"

#endif
