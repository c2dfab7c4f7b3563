#include "target.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>


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

/* 1 if the subprocess has exited (*info then says how), 0 if it is
 * still running, -1 if it cannot be waited for (errno says why).
 * WNOWAIT leaves the exit status for the library to collect. */
static int
subprocess_exit_status (pid_t pid, siginfo_t *info)
{
  memset (info, 0, sizeof *info);
  if (waitid (P_PID, pid, info, WEXITED | WNOHANG | WNOWAIT) == -1)
    return -1;
  return info->si_pid == pid;
}

static bool
subprocess_has_exited (pid_t pid)
{
  siginfo_t info;
  int r = subprocess_exit_status (pid, &info);

  return r == 1 || (r == -1 && errno == ECHILD);
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

/* How long a handshake that failed on a dropped connection waits to see
 * the subprocess exit: its socket closes as it exits, so the library may
 * see the connection drop a moment before the process can be waited
 * for. */
#define SUBPROCESS_EXIT_WAIT_MS 1000

void
report_connect_error (const char *tool, struct nbd_handle *h,
                      const struct target *t)
{
  /* Asking for the pid of a handle without one sets an error of its
   * own, so the error being reported is kept aside first. */
  const char *error = nbd_get_error ();
  char *cause = strdup (error ? error : "unknown error");
  int dropped = nbd_get_errno () == ECONNRESET || nbd_get_errno () == EPIPE;
  int64_t pid = t->command ? nbd_get_subprocess_pid (h) : -1;
  int wait_ms = dropped ? SUBPROCESS_EXIT_WAIT_MS : 0;
  siginfo_t info;

  if (pid > 0) {
    for (int waited = 0; waited <= wait_ms; waited += 10) {
      if (subprocess_exit_status ((pid_t) pid, &info) == 1) {
        if (info.si_code == CLD_EXITED)
          fprintf (stderr, "%s: the server subprocess %s exited with status "
                   "%d%s before the NBD handshake finished\n", tool,
                   t->command[0], info.si_status,
                   info.si_status == 126 || info.si_status == 127
                   ? " (it could not be run)" : "");
        else
          fprintf (stderr, "%s: the server subprocess %s was killed by "
                   "signal %d (%s) before the NBD handshake finished\n",
                   tool, t->command[0], info.si_status,
                   strsignal (info.si_status));
        free (cause);
        return;
      }
      nanosleep (&(struct timespec) { 0, 10 * 1000 * 1000 }, NULL);
    }
  }
  fprintf (stderr, "%s: %s\n", tool, cause ? cause : "out of memory");
  free (cause);
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
