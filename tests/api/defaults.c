/* The value every getter reports on a new handle (libnbd-api.md §5), and
 * the facts calls about the library itself. */
#include <pwd.h>
#include <sys/socket.h>
#include <unistd.h>

#include "test.h"

static void
settings (struct nbd_handle *h)
{
  struct passwd *pw = getpwuid (geteuid ());

  CHECK_INT (nbd_get_debug (h), 0);
  CHECK_INT (nbd_get_private_data (h), 0);
  CHECK_STR_FREE (nbd_get_export_name (h), "");
  CHECK_INT (nbd_get_request_structured_replies (h), 1);
  CHECK_INT (nbd_get_request_extended_headers (h), 1);
  CHECK_INT (nbd_get_request_meta_context (h), 1);
  CHECK_INT (nbd_get_request_block_size (h), 1);
  CHECK_INT (nbd_get_full_info (h), 0);
  CHECK_INT (nbd_get_handshake_flags (h), LIBNBD_HANDSHAKE_FLAG_MASK);
  CHECK_INT (nbd_get_handshake_flags (h), 0x03);
  CHECK_INT (nbd_get_strict_mode (h), LIBNBD_STRICT_MASK);
  CHECK_INT (nbd_get_strict_mode (h), 0x7f);
  CHECK_INT (nbd_get_opt_mode (h), 0);
  CHECK_INT (nbd_get_pread_initialize (h), 1);
  CHECK_STR_FREE (nbd_get_socket_activation_name (h), "");

  CHECK_INT (nbd_get_nr_meta_contexts (h), 0);
  CHECK_FAIL_NULL (nbd_get_meta_context (h, 0), EINVAL, "nbd_get_meta_context");

  CHECK_INT (nbd_get_tls (h), LIBNBD_TLS_DISABLE);
  CHECK_INT (nbd_get_tls_verify_peer (h), 1);
  CHECK_STR_FREE (nbd_get_tls_hostname (h), "");
  CHECK_STR_FREE (nbd_get_tls_priority (h), "NORMAL");
  /* $LOGNAME decides (tests/diff compares the other cases with libnbd). */
  CHECK (pw != NULL);
  if (pw) {
    setenv ("LOGNAME", pw->pw_name, 1);
    CHECK_STR_FREE (nbd_get_tls_username (h), pw->pw_name);
  }
}

static void
library_facts (struct nbd_handle *h)
{
  int fd, vsock;

  CHECK_STR (nbd_get_package_name (h), "libnbd");
  CHECK_STR (nbd_get_version (h), "1.24.0");
  CHECK (test_starts_with (nbd_get_version_extra (h), "fastnbd"));
  CHECK (nbd_get_handle_size (h) > 0);
  CHECK_INT (nbd_supports_tls (h), 1);
  CHECK_INT (nbd_supports_uri (h), 1);
  /* nbd_is_uri recognises NBD URIs without parsing them further. */
  CHECK_INT (nbd_is_uri (h, "nbd://localhost/x"), 1);
  CHECK_INT (nbd_is_uri (h, "nbds+unix:///?socket=/s"), 1);
  CHECK_INT (nbd_is_uri (h, "/dev/sda"), 0);
  CHECK_INT (nbd_is_uri (h, "http://example.com/"), 0);

  /* vsock support means the kernel lets us make such a socket. */
#ifdef AF_VSOCK
  fd = socket (AF_VSOCK, SOCK_STREAM, 0);
  vsock = fd >= 0;
  if (fd >= 0)
    close (fd);
#else
  (void) fd;
  vsock = 0;
#endif
  CHECK_INT (nbd_supports_vsock (h), vsock);
}

/* Calls allowed in any state that only mean something with a connection:
 * on a new handle they report "nothing" or fail with the errno libnbd
 * uses (checked against libnbd 1.14 by tests/diff). */
static void
no_connection (struct nbd_handle *h)
{
  CHECK_INT (nbd_aio_get_direction (h), 0);
  CHECK_FAIL (nbd_aio_get_fd (h), EINVAL, "nbd_aio_get_fd");
  CHECK_FAIL (nbd_poll (h, 0), EINVAL, "nbd_poll");
  CHECK_FAIL (nbd_poll2 (h, -1, 0), EINVAL, "nbd_poll2");
  CHECK_FAIL (nbd_aio_command_completed (h, 0), EINVAL,
              "nbd_aio_command_completed");
  CHECK_FAIL (nbd_aio_peek_command_completed (h), EINVAL,
              "nbd_aio_peek_command_completed");
  CHECK_FAIL (nbd_kill_subprocess (h, 0), ESRCH, "nbd_kill_subprocess");
  CHECK_FAIL (nbd_get_subprocess_pid (h), ESRCH, "nbd_get_subprocess_pid");
  CHECK_INT (nbd_stats_bytes_sent (h), 0);
  CHECK_INT (nbd_stats_chunks_sent (h), 0);
  CHECK_INT (nbd_stats_bytes_received (h), 0);
  CHECK_INT (nbd_stats_chunks_received (h), 0);
  CHECK_INT (nbd_aio_is_created (h), 1);
}

static void
state (struct nbd_handle *h)
{
  CHECK_INT (nbd_aio_is_created (h), 1);
  CHECK_INT (nbd_aio_is_connecting (h), 0);
  CHECK_INT (nbd_aio_is_negotiating (h), 0);
  CHECK_INT (nbd_aio_is_ready (h), 0);
  CHECK_INT (nbd_aio_is_processing (h), 0);
  CHECK_INT (nbd_aio_is_dead (h), 0);
  CHECK_INT (nbd_aio_is_closed (h), 0);
  CHECK (nbd_connection_state (h) != NULL);
  CHECK (nbd_connection_state (h) && nbd_connection_state (h)[0] != '\0');
}

int
main (void)
{
  struct nbd_handle *h;

  unsetenv ("LIBNBD_DEBUG");
  h = test_create ();
  settings (h);
  library_facts (h);
  no_connection (h);
  state (h);
  nbd_close (h);

  /* A second handle starts from the same defaults. */
  h = test_create ();
  settings (h);
  state (h);
  nbd_close (h);
  return test_exit ();
}
