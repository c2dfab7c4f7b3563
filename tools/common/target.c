#include "target.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>

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

/* How often the wait for a subprocess's handshake looks whether the
 * subprocess is still running. */
#define SUBPROCESS_CHECK_MS 100

static bool
subprocess_has_exited (pid_t pid)
{
  siginfo_t info;

  /* WNOWAIT leaves the exit status for the library to collect. */
  memset (&info, 0, sizeof info);
  if (waitid (P_PID, pid, &info, WEXITED | WNOHANG | WNOWAIT) == -1)
    return errno == ECHILD;
  return info.si_pid == pid;
}

/* nbd_connect_systemd_socket_activation, except that a server which
 * exits before it has finished the handshake ends the wait.  Usually
 * its exit closes the listening socket and so the connection, but a
 * process it started (a shell's background job, say) may still hold the
 * socket, and the connection would then wait for an answer forever.
 * Shutting the connection down makes the library fail the handshake as
 * for any server that hangs up. */
static int
connect_subprocess (struct nbd_handle *h, char **command)
{
  int64_t pid;

  if (nbd_aio_connect_systemd_socket_activation (h, command) == -1)
    return -1;
  pid = nbd_get_subprocess_pid (h);
  while (nbd_aio_is_connecting (h) == 1) {
    if (nbd_poll (h, SUBPROCESS_CHECK_MS) == -1)
      return -1;
    if (pid > 0 && nbd_aio_is_connecting (h) == 1 &&
        subprocess_has_exited ((pid_t) pid)) {
      shutdown (nbd_aio_get_fd (h), SHUT_RDWR);
      pid = 0;
    }
  }
  return 0;
}

int
target_connect (struct nbd_handle *h, const struct target *t)
{
  if (t->command)
    return connect_subprocess (h, t->command);
  if (nbd_set_uri_allow_local_file (h, true) == -1)
    return -1;
  return nbd_connect_uri (h, t->uri);
}
