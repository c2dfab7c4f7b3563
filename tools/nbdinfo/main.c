/* nbdinfo: display information and metadata about NBD servers and
 * exports.  Command-line compatible with libnbd's nbdinfo. */
#include "nbdinfo.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "command-line.h"
#include "held-output.h"
#include "json-out.h"

enum {
  OPT_CAN = TOOL_OPT_FIRST, OPT_CANNOT, OPT_IS, OPT_ISNT, OPT_HAS, OPT_HASNT,
  OPT_CONTENT, OPT_NO_CONTENT, OPT_JSON, OPT_MAP, OPT_SIZE, OPT_TOTALS,
  OPT_URI,
};

static const struct option long_options[] = {
  { "can", required_argument, NULL, OPT_CAN },
  { "cannot", required_argument, NULL, OPT_CANNOT },
  { "cant", required_argument, NULL, OPT_CANNOT },
  { "content", no_argument, NULL, OPT_CONTENT },
  { "no-content", no_argument, NULL, OPT_NO_CONTENT },
  { "has", required_argument, NULL, OPT_HAS },
  { "hasnt", required_argument, NULL, OPT_HASNT },
  { "is", required_argument, NULL, OPT_IS },
  { "isnt", required_argument, NULL, OPT_ISNT },
  { "json", no_argument, NULL, OPT_JSON },
  { "list", no_argument, NULL, 'L' },
  { "map", optional_argument, NULL, OPT_MAP },
  { "size", no_argument, NULL, OPT_SIZE },
  { "total", no_argument, NULL, OPT_TOTALS },
  { "totals", no_argument, NULL, OPT_TOTALS },
  { "uri", no_argument, NULL, OPT_URI },
  { NULL, 0, NULL, 0 },
};

static const char usage[] =
"\n"
"Display information and metadata about NBD servers and exports:\n"
"\n"
"    nbdinfo [--json] NBD-URI | [ CMD ARGS ... ]\n"
"    nbdinfo --size [--json] NBD-URI | [ CMD ARGS ... ]\n"
"    nbdinfo --uri [--json] NBD-URI | [ CMD ARGS ... ]\n"
"    nbdinfo --is|--isnt read-only|rotational|tls NBD-URI | [ CMD ARGS ... ]\n"
"    nbdinfo --can|--cannot cache|connect|... NBD-URI | [ CMD ARGS ... ]\n"
"    nbdinfo --has|--hasnt structured-reply|... NBD-URI | [ CMD ARGS ... ]\n"
"    nbdinfo --map[=CONTEXT] [--totals] [--json] NBD-URI | [ CMD ARGS ... ]\n"
"    nbdinfo -L|--list [--json] NBD-URI | [ CMD ARGS ... ]\n"
"\n"
"Other options:\n"
"\n"
"    nbdinfo --help\n"
"    nbdinfo --version\n"
"\n"
"Examples:\n"
"\n"
"    nbdinfo nbd://localhost\n"
"    nbdinfo \"nbd+unix:///?socket=/tmp/unixsock\"\n"
"    nbdinfo --size nbd://example.com\n"
"    nbdinfo --can connect nbd://example.com\n"
"    nbdinfo --is read-only nbd://example.com\n"
"    nbdinfo --map nbd://example.com\n"
"    nbdinfo --json nbd://example.com\n"
"    nbdinfo --list nbd://example.com\n"
"    nbdinfo --map -- [ qemu-nbd -r -f qcow2 file.qcow2 ]\n";

static const struct tool_cli cli = {
  .name = TOOL,
  .usage = usage,
  .short_options = "L",
  .long_options = long_options,
  .color = true,
};

enum mode { MODE_INFO, MODE_SIZE, MODE_URI, MODE_MAP, MODE_PROPERTY };

struct settings {
  enum mode mode;
  const char *map_context;
  const char *property;
  bool property_negated;
  bool totals;
  bool json;
  int content;              /* -1 unset, else the --[no-]content choice */
  int color;                /* -1 unset, else the last --[no-]color */
  bool list;
};

static void
set_mode (struct settings *s, enum mode mode)
{
  if (s->mode != MODE_INFO && s->mode != mode) {
    fprintf (stderr, "%s: you cannot use --list, --map, --size, --uri and "
             "the property tests together.\n", TOOL);
    exit (EXIT_FAILURE);
  }
  s->mode = mode;
}

static void
set_property (struct settings *s, const char *property, bool negated)
{
  if (!property_is_known (property)) {
    fprintf (stderr, "%s: unknown --can or --is option: %s\n", TOOL, property);
    exit (EXIT_FAILURE);
  }
  set_mode (s, MODE_PROPERTY);
  s->property = property;
  s->property_negated = negated;
}

static void
parse_options (int argc, char **argv, struct settings *s)
{
  int c;

  for (;;) {
    c = tool_getopt (&cli, argc, argv);
    if (c == -1)
      break;
    switch (c) {
    case OPT_CAN: case OPT_IS: case OPT_HAS:
      set_property (s, optarg, false);
      break;
    case OPT_CANNOT: case OPT_ISNT: case OPT_HASNT:
      set_property (s, optarg, true);
      break;
    case TOOL_OPT_COLOR: s->color = 1; break;
    case TOOL_OPT_NO_COLOR: s->color = 0; break;
    case OPT_CONTENT: s->content = 1; break;
    case OPT_NO_CONTENT: s->content = 0; break;
    case OPT_JSON: s->json = true; break;
    case 'L': s->list = true; break;
    case OPT_MAP:
      set_mode (s, MODE_MAP);
      /* "--map=" asks for the context named "", which no server has. */
      s->map_context = optarg ? optarg : LIBNBD_CONTEXT_BASE_ALLOCATION;
      break;
    case OPT_SIZE: set_mode (s, MODE_SIZE); break;
    case OPT_TOTALS: s->totals = true; break;
    case OPT_URI: set_mode (s, MODE_URI); break;
    }
  }
  if (s->list && s->mode != MODE_INFO) {
    fprintf (stderr, "%s: you cannot use --list with --map, --size, --uri "
             "or the property tests.\n", TOOL);
    exit (EXIT_FAILURE);
  }
  if (s->totals && s->mode != MODE_MAP) {
    fprintf (stderr, "%s: you must use --totals only with --map option.\n",
             TOOL);
    exit (EXIT_FAILURE);
  }
}

/* Connects the way the mode needs: option mode for the description and
 * the list (which negotiate themselves), straight to transmission
 * otherwise.  Returns the handle or NULL after reporting the error. */
static struct nbd_handle *
open_connection (const struct settings *s, const struct target *t)
{
  struct nbd_handle *h = nbd_create ();

  if (h == NULL) {
    report_nbd_error (TOOL);
    return NULL;
  }
  if (nbd_set_full_info (h, true) == -1)
    goto failed;
  if (s->mode == MODE_INFO && nbd_set_opt_mode (h, true) == -1)
    goto failed;
  if (s->mode == MODE_MAP && nbd_add_meta_context (h, s->map_context) == -1)
    goto failed;
  if (target_connect (h, t) == -1) {
    report_connect_error (TOOL, h, t);
    nbd_close (h);
    return NULL;
  }
  return h;

 failed:
  report_nbd_error (TOOL);
  nbd_close (h);
  return NULL;
}

static int
print_uri (struct nbd_handle *h, bool json, FILE *out)
{
  char *uri = nbd_get_uri (h);

  if (uri == NULL) {
    report_nbd_error (TOOL);
    return -1;
  }
  if (json) {
    json_print_string (out, uri);
    putc ('\n', out);
  }
  else
    fprintf (out, "%s\n", uri);
  free (uri);
  return 0;
}

static int
run_mode (struct nbd_handle *h, const struct settings *s,
          const struct target *t, FILE *out)
{
  int64_t size;

  switch (s->mode) {
  case MODE_SIZE:
    size = nbd_get_size (h);
    if (size == -1) {
      report_nbd_error (TOOL);
      return -1;
    }
    fprintf (out, "%" PRIi64 "\n", size);
    return 0;
  case MODE_URI:
    return print_uri (h, s->json, out);
  case MODE_MAP: {
    struct map_options o = {
      .context = s->map_context,
      .totals = s->totals,
      .json = s->json,
      .color = s->color && !s->json,
    };
    return show_map (h, &o, out);
  }
  default: {
    struct info_options o = {
      .json = s->json,
      .list = s->list,
      .content = s->content == -1 ? !s->list : s->content,
      .color = s->color && !s->json,
    };
    return show_info (h, t, &o, out);
  }
  }
}

int
main (int argc, char **argv)
{
  struct settings s = { .mode = MODE_INFO, .content = -1, .color = -1 };
  struct target t;
  struct nbd_handle *h;
  FILE *out;
  int status = EXIT_FAILURE;

  /* getopt names the program by argv[0] in its messages. */
  argv[0] = (char *) TOOL;
  parse_options (argc, argv, &s);
  if (target_parse (TOOL, argc, argv, optind, &t) == -1)
    exit (EXIT_FAILURE);
  /* The answer is held in memory before it is written, so whether to
   * colour it depends on where stdout goes, not on where it is held. */
  if (s.color == -1)
    s.color = isatty (STDOUT_FILENO);

  h = open_connection (&s, &t);
  if (h == NULL)
    exit (EXIT_FAILURE);

  if (s.mode == MODE_PROPERTY) {
    int r = test_property (h, s.property);
    if (r != -1)
      status = (r == 1) != s.property_negated ? EXIT_SUCCESS : 2;
  }
  else {
    out = held_output_open (TOOL);
    if (run_mode (h, &s, &t, out) == 0 && held_output_commit (TOOL) == 0)
      status = EXIT_SUCCESS;
    else
      held_output_discard ();
  }
  /* Commands that a failed answer left in flight point into its state,
   * which is gone: nbd_shutdown would run their callbacks as their
   * replies arrive, nbd_close only frees them. */
  if (nbd_aio_in_flight (h) == 0)
    nbd_shutdown (h, 0);
  nbd_close (h);
  return status;
}
