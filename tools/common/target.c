#include "target.h"

#include <stdio.h>
#include <string.h>

int
target_parse (const char *tool, int argc, char **argv, int first,
              struct target *t)
{
  int count = argc - first;

  t->uri = NULL;
  t->command = NULL;
  if (count >= 1 && strcmp (argv[first], "[") == 0) {
    if (count < 3 || strcmp (argv[argc - 1], "]") != 0) {
      fprintf (stderr, "%s: a subprocess must be written as "
               "[ CMD ARGS ... ] with the brackets as separate "
               "arguments\n", tool);
      return -1;
    }
    argv[argc - 1] = NULL;
    t->command = &argv[first + 1];
    return 0;
  }
  if (count != 1) {
    fprintf (stderr, "%s: expected one NBD URI or [ CMD ARGS ... ] "
             "(see %s --help)\n", tool, tool);
    return -1;
  }
  t->uri = argv[first];
  return 0;
}

int
target_connect (struct nbd_handle *h, const struct target *t)
{
  if (t->command)
    return nbd_connect_systemd_socket_activation (h, t->command);
  if (nbd_set_uri_allow_local_file (h, true) == -1)
    return -1;
  return nbd_connect_uri (h, t->uri);
}

const char *
target_connect_call (const struct target *t)
{
  return t->command ? "nbd_connect_systemd_socket_activation"
                    : "nbd_connect_uri";
}
