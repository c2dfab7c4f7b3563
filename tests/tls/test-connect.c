/* TLS through the public API: nbd_set_tls with a PSK file against nbdkit
 * --tls=require, sync and in option mode (nbd_opt_starttls and
 * nbd_aio_opt_starttls); refusals when the key is wrong
 * or TLS is disabled; TLS allowed but not offered falls back to plain. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>


#include "test.h"

static char dir[] = "/tmp/fastnbd-tls-XXXXXX";
static char psk[256], badpsk[256];

static void
write_file (const char *path, const char *text)
{
  FILE *f = fopen (path, "w");
  if (f == NULL || fputs (text, f) == EOF || fclose (f) != 0) {
    perror (path);
    exit (EXIT_FAILURE);
  }
}

/* A handle set up for PSK as alice, connected to nbdkit with TLS. */
static struct nbd_handle *
tls_handle (int tls, const char *keys, bool opt_mode)
{
  struct nbd_handle *h = nbd_create ();

  CHECK (h != NULL);
  CHECK_OK (nbd_set_tls (h, tls));
  CHECK_OK (nbd_set_tls_psk_file (h, keys));
  CHECK_OK (nbd_set_tls_username (h, "alice"));
  CHECK_OK (nbd_set_opt_mode (h, opt_mode));
  return h;
}

/* Completion callback of nbd_aio_opt_starttls: keeps the outcome. */
static int
note_outcome (void *user_data, int *error)
{
  *(int *) user_data = *error;
  return 1;
}

static char *
server_psk (void)
{
  static char arg[300];
  snprintf (arg, sizeof arg, "--tls-psk=%s", psk);
  return arg;
}

int
main (void)
{
  struct nbd_handle *h;
  char buf[4096], back[4096];
  char *tls_server[] = { "nbdkit", "-s", "--exit-with-parent", "--tls=require",
                         server_psk (), "memory", "1M", NULL };
  char *plain_server[] = { "nbdkit", "-s", "--exit-with-parent", "memory", "1M", NULL };

  if (system ("nbdkit --version >/dev/null 2>&1") != 0) {
    printf ("SKIP: nbdkit missing\n");
    return 77;
  }
  if (mkdtemp (dir) == NULL)
    return EXIT_FAILURE;
  snprintf (psk, sizeof psk, "%s/keys.psk", dir);
  snprintf (badpsk, sizeof badpsk, "%s/bad.psk", dir);
  write_file (psk, "alice:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef\n");
  write_file (badpsk, "alice:fedcba9876543210fedcba9876543210fedcba9876543210fedcba9876543210\n");
  tls_server[4] = server_psk ();

  /* Required TLS: data moves over an encrypted connection. */
  h = tls_handle (LIBNBD_TLS_REQUIRE, psk, false);
  CHECK_OK (nbd_connect_command (h, tls_server));
  CHECK_INT (nbd_get_tls_negotiated (h), 1);
  for (size_t i = 0; i < sizeof buf; i++)
    buf[i] = (char) (i * 13);
  CHECK_OK (nbd_pwrite (h, buf, sizeof buf, 8192, 0));
  CHECK_OK (nbd_pread (h, back, sizeof back, 8192, 0));
  CHECK (memcmp (buf, back, sizeof buf) == 0);
  CHECK_OK (nbd_shutdown (h, 0));
  nbd_close (h);

  /* Option mode: TLS is already up when the handle pauses.  A second
   * nbd_opt_starttls is still sent, as nbd_opt_starttls(3) of libnbd
   * 1.24 describes: the server refuses it (false), and TLS stays. */
  h = tls_handle (LIBNBD_TLS_ALLOW, psk, true);
  CHECK_OK (nbd_connect_command (h, tls_server));
  CHECK_INT (nbd_aio_is_negotiating (h), 1);
  CHECK_INT (nbd_get_tls_negotiated (h), 1);
  CHECK_INT (nbd_opt_starttls (h), 0);
  CHECK_INT (nbd_aio_is_negotiating (h), 1);
  CHECK_INT (nbd_get_tls_negotiated (h), 1);
  CHECK_OK (nbd_opt_go (h));
  CHECK_INT (nbd_get_size (h), 1024 * 1024);
  nbd_close (h);

  /* TLS started by the program without waiting: with TLS left disabled
   * nothing starts it before the handle pauses.  nbd_aio_opt_starttls
   * returns 0 at once, the completion callback gets the outcome once
   * nbd_aio_is_connecting turns false, and GO then works over TLS. */
  h = tls_handle (LIBNBD_TLS_DISABLE, psk, true);
  CHECK_OK (nbd_connect_command (h, tls_server));
  int outcome = -1;
  CHECK_INT (nbd_aio_opt_starttls (h, (nbd_completion_callback) {
                                        .callback = note_outcome,
                                        .user_data = &outcome }), 0);
  while (nbd_aio_is_connecting (h))
    CHECK (nbd_poll (h, 10000) >= 0);
  CHECK_INT (outcome, 0);
  CHECK_INT (nbd_aio_is_negotiating (h), 1);
  CHECK_INT (nbd_get_tls_negotiated (h), 1);
  CHECK_OK (nbd_opt_go (h));
  CHECK_OK (nbd_pread (h, back, 512, 0, 0));
  nbd_close (h);

  /* A wrong key: the handshake fails and the connect reports it. */
  h = tls_handle (LIBNBD_TLS_REQUIRE, badpsk, false);
  CHECK (nbd_connect_command (h, tls_server) == -1);
  CHECK (test_starts_with (nbd_get_error (), "nbd_connect_command: "));
  CHECK (strstr (nbd_get_error (), "TLS") != NULL);
  CHECK_INT (nbd_aio_is_dead (h), 1);
  nbd_close (h);

  /* TLS disabled against a server that requires it: refused. */
  h = tls_handle (LIBNBD_TLS_DISABLE, psk, false);
  CHECK (nbd_connect_command (h, tls_server) == -1);
  nbd_close (h);

  /* TLS allowed, server without TLS: plain connection. */
  h = tls_handle (LIBNBD_TLS_ALLOW, psk, false);
  CHECK_OK (nbd_connect_command (h, plain_server));
  CHECK_INT (nbd_get_tls_negotiated (h), 0);
  CHECK_OK (nbd_pread (h, back, 512, 0, 0));
  nbd_close (h);

  /* TLS required, server without TLS: refused. */
  h = tls_handle (LIBNBD_TLS_REQUIRE, psk, false);
  CHECK (nbd_connect_command (h, plain_server) == -1);
  nbd_close (h);

  unlink (psk);
  unlink (badpsk);
  rmdir (dir);
  return test_exit ();
}
