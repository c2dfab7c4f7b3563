/* Helpers of the URI tests: a private temporary directory, nbdkit
 * servers on loopback (a Unix socket there, or 127.0.0.1 / ::1 on a port
 * found free by binding port 0), always stopped at exit, and a watchdog.
 *
 * Everything is static: each test program includes this once. */
#ifndef FASTNBD_URI_TEST_H
#define FASTNBD_URI_TEST_H

#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <arpa/inet.h>
#include <ftw.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "test.h"

#define UT_MAX_PIDS 16
static char ut_dir[128];
static pid_t ut_pids[UT_MAX_PIDS];

static inline int
ut_rm_one (const char *path, const struct stat *st, int flag, struct FTW *f)
{
  (void) st; (void) flag; (void) f;
  remove (path);
  return 0;
}

static inline void
ut_stop (pid_t pid)
{
  for (int i = 0; i < UT_MAX_PIDS; i++) {
    if (ut_pids[i] == pid) {
      kill (pid, SIGTERM);
      waitpid (pid, NULL, 0);
      ut_pids[i] = 0;
    }
  }
}

static inline void
ut_cleanup (void)
{
  for (int i = 0; i < UT_MAX_PIDS; i++)
    if (ut_pids[i] > 0)
      ut_stop (ut_pids[i]);
  if (ut_dir[0])
    nftw (ut_dir, ut_rm_one, 16, FTW_DEPTH | FTW_PHYS);
  ut_dir[0] = '\0';
}

static inline void
ut_on_alarm (int sig)
{
  (void) sig;
  static const char msg[] = "FAIL: test timed out\n";
  (void) !write (2, msg, sizeof msg - 1);
  for (int i = 0; i < UT_MAX_PIDS; i++)
    if (ut_pids[i] > 0)
      kill (ut_pids[i], SIGKILL);
  _exit (1);
}

static inline void
ut_init (void)
{
  snprintf (ut_dir, sizeof ut_dir, "/tmp/fastnbd-uri-XXXXXX");
  if (mkdtemp (ut_dir) == NULL) {
    perror ("mkdtemp");
    exit (99);
  }
  atexit (ut_cleanup);
  signal (SIGALRM, ut_on_alarm);
  signal (SIGPIPE, SIG_IGN);
  alarm (90);
}

/* A file name in the private directory (static buffer, one of 16 used
 * in turn). */
static inline const char *
ut_path (const char *name)
{
  static char bufs[16][256];
  static int n;
  char *b = bufs[n++ % 16];
  snprintf (b, sizeof bufs[0], "%s/%s", ut_dir, name);
  return b;
}

static inline bool
ut_have (const char *prog)
{
  char cmd[256];
  snprintf (cmd, sizeof cmd, "command -v %s >/dev/null 2>&1", prog);
  return system (cmd) == 0;
}

static inline pid_t
ut_spawn (char **argv)
{
  pid_t pid = fork ();

  if (pid == -1) {
    perror ("fork");
    exit (99);
  }
  if (pid == 0) {
    prctl (PR_SET_PDEATHSIG, SIGKILL);
    execvp (argv[0], argv);
    perror (argv[0]);
    _exit (127);
  }
  for (int i = 0; i < UT_MAX_PIDS; i++) {
    if (ut_pids[i] == 0) {
      ut_pids[i] = pid;
      return pid;
    }
  }
  fprintf (stderr, "too many servers\n");
  exit (99);
}

static inline bool
ut_alive (pid_t pid)
{
  return waitpid (pid, NULL, WNOHANG) == 0;
}

/* Wait until something accepts connections at sa, while pid lives. */
static inline bool
ut_wait_listening (pid_t pid, const struct sockaddr *sa, socklen_t len)
{
  for (int i = 0; i < 500; i++) {
    int fd = socket (sa->sa_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd >= 0 && connect (fd, sa, len) == 0) {
      close (fd);
      return true;
    }
    if (fd >= 0)
      close (fd);
    if (!ut_alive (pid))
      return false;
    usleep (20000);
  }
  return false;
}

/* A loopback port nobody listens on now (bind to port 0, then let go). */
static inline int
ut_free_port (int family)
{
  struct sockaddr_storage ss = { 0 };
  socklen_t len;
  int fd = socket (family, SOCK_STREAM | SOCK_CLOEXEC, 0), port;

  if (family == AF_INET6) {
    struct sockaddr_in6 *a = (struct sockaddr_in6 *) &ss;
    a->sin6_family = AF_INET6;
    a->sin6_addr = in6addr_loopback;
    len = sizeof *a;
  }
  else {
    struct sockaddr_in *a = (struct sockaddr_in *) &ss;
    a->sin_family = AF_INET;
    a->sin_addr.s_addr = htonl (INADDR_LOOPBACK);
    len = sizeof *a;
  }
  if (fd == -1 || bind (fd, (struct sockaddr *) &ss, len) == -1
      || getsockname (fd, (struct sockaddr *) &ss, &len) == -1) {
    if (fd != -1)
      close (fd);
    return -1;
  }
  port = ntohs (family == AF_INET6 ? ((struct sockaddr_in6 *) &ss)->sin6_port
                                   : ((struct sockaddr_in *) &ss)->sin_port);
  close (fd);
  return port;
}

/* nbdkit on a loopback TCP port (family AF_INET or AF_INET6); returns
 * the port, or -1 when it could not be started (retried with another
 * port if one was taken between the probe and nbdkit's bind). */
static inline int
ut_nbdkit_tcp (int family, const char *plugin, const char *arg)
{
  for (int attempt = 0; attempt < 5; attempt++) {
    int port = ut_free_port (family);
    char portstr[16];
    const char *ip = family == AF_INET6 ? "::1" : "127.0.0.1";
    char *argv[] = { (char *) "nbdkit", (char *) "-f", (char *) "--exit-with-parent",
                     (char *) "-i", (char *) ip, (char *) "-p", portstr,
                     (char *) plugin, (char *) arg, NULL };
    struct sockaddr_storage ss = { 0 };
    socklen_t len;
    pid_t pid;

    if (port <= 0)
      return -1;
    snprintf (portstr, sizeof portstr, "%d", port);
    if (family == AF_INET6) {
      struct sockaddr_in6 *a = (struct sockaddr_in6 *) &ss;
      a->sin6_family = AF_INET6;
      a->sin6_addr = in6addr_loopback;
      a->sin6_port = htons (port);
      len = sizeof *a;
    }
    else {
      struct sockaddr_in *a = (struct sockaddr_in *) &ss;
      a->sin_family = AF_INET;
      a->sin_addr.s_addr = htonl (INADDR_LOOPBACK);
      a->sin_port = htons (port);
      len = sizeof *a;
    }
    pid = ut_spawn (argv);
    if (ut_wait_listening (pid, (struct sockaddr *) &ss, len))
      return port;
    ut_stop (pid);
  }
  return -1;
}

/* nbdkit on a Unix socket; 0, or -1 when it did not start. */
static inline int
ut_nbdkit_unix (const char *path, const char *plugin, const char *arg)
{
  char *argv[] = { (char *) "nbdkit", (char *) "-f", (char *) "--exit-with-parent",
                   (char *) "-U", (char *) path, (char *) plugin, (char *) arg, NULL };
  struct sockaddr_un sun = { .sun_family = AF_UNIX };
  pid_t pid;

  snprintf (sun.sun_path, sizeof sun.sun_path, "%s", path);
  pid = ut_spawn (argv);
  return ut_wait_listening (pid, (struct sockaddr *) &sun, sizeof sun) ? 0 : -1;
}

/* Drive an aio connect until the handshake is over. */
static inline void
ut_poll_connected (struct nbd_handle *h)
{
  while (nbd_aio_is_connecting (h))
    if (nbd_poll (h, 5000) == -1)
      break;
}

static inline char *
ut_slurp (const char *path)
{
  FILE *f = fopen (path, "r");
  char *buf = NULL;
  size_t n = 0;

  if (f == NULL)
    return NULL;
  if (getdelim (&buf, &n, '\0', f) == -1) {
    free (buf);
    buf = NULL;
  }
  fclose (f);
  return buf;
}

#endif
