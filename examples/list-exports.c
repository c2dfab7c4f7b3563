/* List a server's exports, each with its description and meta contexts,
 * using option mode and the asynchronous nbd_aio_opt_* calls.
 *
 * Usage: list-exports [SERVER-COMMAND ...]
 * The server is started with systemd socket activation; by default an
 * nbdkit with three exports.  Build: see README.md. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <libnbd.h>

#define MAX_EXPORTS 64

struct export { char *name, *desc; };
static struct export exports[MAX_EXPORTS];
static int nr_exports;

static int
on_export (void *user_data, const char *name, const char *desc)
{
  (void) user_data;
  if (nr_exports < MAX_EXPORTS) {
    exports[nr_exports].name = strdup (name);
    exports[nr_exports].desc = strdup (desc);
    nr_exports++;
  }
  return 0;
}

static int
on_context (void *user_data, const char *name)
{
  (void) user_data;
  printf ("    meta context: %s\n", name);
  return 0;
}

/* Completion: remember the server's verdict. */
static int
on_done (void *user_data, int *error)
{
  *(int *) user_data = *error;
  return 1;
}

/* Drive the handle until the pending option is answered. */
static void
wait_for_option (struct nbd_handle *h)
{
  while (nbd_aio_is_connecting (h))
    if (nbd_poll (h, -1) == -1) {
      fprintf (stderr, "%s\n", nbd_get_error ());
      exit (EXIT_FAILURE);
    }
}

int
main (int argc, char *argv[])
{
  char *default_server[] = {
    "nbdkit", "--exit-with-parent", "--filter=exportname", "memory", "64M",
    "exportname-list=explicit", "exportname=alpha", "exportname=beta",
    "exportname=gamma", "exportdesc=script:echo \"the $name disk\"", NULL
  };
  char **server = argc > 1 ? argv + 1 : default_server;
  struct nbd_handle *h = nbd_create ();
  int err = 0;

  if (h == NULL || nbd_set_opt_mode (h, true) == -1
      || nbd_connect_systemd_socket_activation (h, server) == -1) {
    fprintf (stderr, "%s\n", nbd_get_error ());
    return EXIT_FAILURE;
  }
  printf ("connected to %s using %s (%s)\n", server[0], nbd_get_protocol (h),
          nbd_get_version_extra (h));

  nbd_aio_opt_list (h, (nbd_list_callback) { .callback = on_export },
                    (nbd_completion_callback) { .callback = on_done, .user_data = &err });
  wait_for_option (h);
  if (err) {
    fprintf (stderr, "listing exports failed: %s\n", strerror (err));
    return EXIT_FAILURE;
  }

  for (int i = 0; i < nr_exports; i++) {
    printf ("export \"%s\": %s\n", exports[i].name,
            exports[i].desc[0] ? exports[i].desc : "(no description)");
    nbd_set_export_name (h, exports[i].name);
    nbd_aio_opt_list_meta_context (h, (nbd_context_callback) { .callback = on_context },
                                   (nbd_completion_callback) { .callback = on_done,
                                                               .user_data = &err });
    wait_for_option (h);
    if (err)
      printf ("    (no meta contexts: %s)\n", strerror (err));
    free (exports[i].name);
    free (exports[i].desc);
  }

  nbd_opt_abort (h);
  nbd_close (h);
  return EXIT_SUCCESS;
}
