#include "command-line.h"

#include <stdlib.h>
#include <string.h>

#include <libnbd.h>

enum {
  OPT_HELP = TOOL_OPT_PRIVATE_, OPT_LONG_OPTIONS, OPT_SHORT_OPTIONS,
};

/* Room for the longest table a tool has, with the shared options. */
#define MAX_LONG_OPTIONS 64
#define MAX_SHORT_OPTIONS 64

static const struct option shared_options[] = {
  { "help", no_argument, NULL, OPT_HELP },
  { "long-options", no_argument, NULL, OPT_LONG_OPTIONS },
  { "short-options", no_argument, NULL, OPT_SHORT_OPTIONS },
  { "version", no_argument, NULL, 'V' },
  { NULL, 0, NULL, 0 },
};

static const struct option color_options[] = {
  { "color", no_argument, NULL, TOOL_OPT_COLOR },
  { "colors", no_argument, NULL, TOOL_OPT_COLOR },
  { "colour", no_argument, NULL, TOOL_OPT_COLOR },
  { "colours", no_argument, NULL, TOOL_OPT_COLOR },
  { "no-color", no_argument, NULL, TOOL_OPT_NO_COLOR },
  { "no-colors", no_argument, NULL, TOOL_OPT_NO_COLOR },
  { "no-colour", no_argument, NULL, TOOL_OPT_NO_COLOR },
  { "no-colours", no_argument, NULL, TOOL_OPT_NO_COLOR },
  { NULL, 0, NULL, 0 },
};

/* The table getopt_long reads, built once from the shared options and
 * the tool's own. */
static struct option long_options[MAX_LONG_OPTIONS];
static char short_options[MAX_SHORT_OPTIONS];

static size_t
append_options (size_t n, const struct option *from)
{
  for (; from->name; from++) {
    if (n + 1 >= MAX_LONG_OPTIONS)
      abort ();                 /* MAX_LONG_OPTIONS is too small */
    long_options[n++] = *from;
  }
  return n;
}

static void
build_tables (const struct tool_cli *cli)
{
  size_t n = 0;

  if (long_options[0].name)
    return;
  n = append_options (n, shared_options);
  if (cli->color)
    n = append_options (n, color_options);
  n = append_options (n, cli->long_options);
  long_options[n] = (struct option) { NULL, 0, NULL, 0 };
  if (strlen (cli->short_options) + 2 > MAX_SHORT_OPTIONS)
    abort ();                   /* MAX_SHORT_OPTIONS is too small */
  strcpy (short_options, cli->short_options);
  strcat (short_options, "V");
}

static int
print_version (const char *tool)
{
  struct nbd_handle *h;
  const char *library;

  printf ("%s %s\n", tool, FASTNBD_VERSION);
  h = nbd_create ();
  if (h == NULL) {
    fprintf (stderr, "%s: %s\n", tool, nbd_get_error ());
    return EXIT_FAILURE;
  }
  /* The version of the library actually loaded, which need not be the
   * one the tool was built with. */
  library = nbd_get_version (h);
  printf ("libnbd %s\n", library ? library : "unknown");
  nbd_close (h);
  return fflush (stdout) == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}

/* The options that list the options stay out of the list themselves. */
static void
print_long_options (void)
{
  for (const struct option *o = long_options; o->name; o++)
    if (o->val != OPT_LONG_OPTIONS && o->val != OPT_SHORT_OPTIONS)
      printf ("--%s\n", o->name);
}

static void
print_short_options (void)
{
  for (const char *c = short_options; *c; c++)
    if (*c != ':' && *c != '+')
      printf ("-%c\n", *c);
}

void
tool_usage (const struct tool_cli *cli, FILE *fp, int status)
{
  fputs (cli->usage, fp);
  fprintf (fp, "\nPlease read the %s(1) manual page for full usage.\n\n",
           cli->name);
  exit (status);
}

int
tool_getopt (const struct tool_cli *cli, int argc, char **argv)
{
  int c;

  build_tables (cli);
  c = getopt_long (argc, argv, short_options, long_options, NULL);
  switch (c) {
  case OPT_HELP:
    tool_usage (cli, stdout, EXIT_SUCCESS);
  case OPT_LONG_OPTIONS:
    print_long_options ();
    exit (EXIT_SUCCESS);
  case OPT_SHORT_OPTIONS:
    print_short_options ();
    exit (EXIT_SUCCESS);
  case 'V':
    exit (print_version (cli->name));
  case '?':
    /* getopt has already said what is wrong, in one line. */
    if (cli->usage_on_error)
      tool_usage (cli, stderr, EXIT_FAILURE);
    exit (EXIT_FAILURE);
  default:
    return c;
  }
}
