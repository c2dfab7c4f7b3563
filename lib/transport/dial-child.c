/* Dialers that start the server as a child process: a command talking
 * over a socketpair, and a systemd socket-activated server.
 *
 * The library may be used from threaded programs, where after fork()
 * only async-signal-safe calls are allowed in the child (another thread
 * may have held the malloc lock at the moment of the fork).  So
 * everything the child needs is prepared beforehand in a struct
 * exec_plan: the candidate file names from the PATH search, the
 * fallback argument vector for scripts without "#!", the environment,
 * and a fixed slot where the child writes its own pid.  The child then
 * only calls dup2, fcntl, sigaction, sigprocmask, getpid, execve and
 * _exit.  The PATH search is ours rather than execvp's because execvp
 * is not on the async-signal-safe list. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "transport/dial.h"
#include "transport/dial-internal.h"

/* The PATH used when the environment has none, as the C library's
 * exec functions do. */
#define DEFAULT_PATH "/bin:/usr/bin"

#define LISTEN_PID_PREFIX "LISTEN_PID="
/* Room for the digits of any pid_t plus the NUL. */
#define PID_DIGITS 24

struct exec_plan {
  char **argv;                  /* the caller's vector */
  char **paths;                 /* files to try in order, NULL-terminated */
  char **sh_argv;               /* "/bin/sh", <file>, argv[1..], NULL */
  char **envp;                  /* environment for the child */
  char **own_env;               /* envp when we built it, else NULL */
  char *pid_var;                /* "LISTEN_PID=" + slot, or NULL */
  char *fdnames_var;            /* "LISTEN_FDNAMES=...", or NULL */
  char *pid_slot;               /* where the child writes its pid */
  sigset_t empty_mask;
  struct sigaction default_action;
};

static void
plan_free (struct exec_plan *p)
{
  size_t i;

  if (p->paths != NULL) {
    for (i = 0; p->paths[i] != NULL; i++)
      free (p->paths[i]);
  }
  free (p->paths);
  free (p->sh_argv);
  free (p->own_env);
  free (p->pid_var);
  free (p->fdnames_var);
}

/* Fill p->paths with the files execvp would try for argv[0]. */
static int
plan_paths (struct exec_plan *p)
{
  const char *file = p->argv[0];
  const char *path, *seg;
  size_t n = 1, i = 0;

  /* A name with a slash, or an empty one, is used as it is. */
  if (file[0] == '\0' || strchr (file, '/') != NULL) {
    p->paths = calloc (2, sizeof *p->paths);
    if (p->paths == NULL)
      return -1;
    p->paths[0] = strdup (file);
    return p->paths[0] == NULL ? -1 : 0;
  }

  path = getenv ("PATH");
  if (path == NULL)
    path = DEFAULT_PATH;
  for (seg = path; *seg; seg++)
    n += *seg == ':';
  p->paths = calloc (n + 1, sizeof *p->paths);
  if (p->paths == NULL)
    return -1;
  seg = path;
  for (;;) {
    size_t len = strcspn (seg, ":");
    int r;

    /* An empty element means the current directory. */
    if (len == 0)
      r = asprintf (&p->paths[i], "./%s", file);
    else
      r = asprintf (&p->paths[i], "%.*s/%s", (int) len, seg, file);
    if (r == -1) {
      p->paths[i] = NULL;
      return -1;
    }
    i++;
    if (seg[len] == '\0')
      break;
    seg += len + 1;
  }
  return 0;
}

static bool
is_listen_var (const char *e)
{
  return strncmp (e, "LISTEN_PID=", 11) == 0 ||
    strncmp (e, "LISTEN_FDS=", 11) == 0 ||
    strncmp (e, "LISTEN_FDNAMES=", 15) == 0;
}

/* The socket activation environment: ours minus any inherited
 * LISTEN_* variables, plus the three that describe fd 3. */
static int
plan_activation_env (struct exec_plan *p, const char *name)
{
  static char listen_fds[] = "LISTEN_FDS=1";
  size_t n = 0, k = 0, i;

  if (name == NULL || name[0] == '\0')
    name = "unknown";
  for (i = 0; environ != NULL && environ[i] != NULL; i++)
    n++;
  p->own_env = calloc (n + 4, sizeof *p->own_env);
  p->pid_var = malloc (sizeof LISTEN_PID_PREFIX - 1 + PID_DIGITS);
  if (p->own_env == NULL || p->pid_var == NULL ||
      asprintf (&p->fdnames_var, "LISTEN_FDNAMES=%s", name) == -1) {
    p->fdnames_var = NULL;
    return -1;
  }
  memcpy (p->pid_var, LISTEN_PID_PREFIX, sizeof LISTEN_PID_PREFIX);
  p->pid_slot = p->pid_var + sizeof LISTEN_PID_PREFIX - 1;

  for (i = 0; i < n; i++) {
    if (!is_listen_var (environ[i]))
      p->own_env[k++] = environ[i];
  }
  p->own_env[k++] = p->pid_var;
  p->own_env[k++] = listen_fds;
  p->own_env[k++] = p->fdnames_var;
  p->own_env[k] = NULL;
  p->envp = p->own_env;
  return 0;
}

/* Prepare everything the child will need.  activation_name is NULL
 * for a plain command (which gets our environment unchanged). */
static int
plan_init (struct exec_plan *p, char **argv, bool activation,
           const char *activation_name)
{
  size_t argc, i;

  *p = (struct exec_plan) { .argv = argv, .envp = environ };
  sigemptyset (&p->empty_mask);
  p->default_action.sa_handler = SIG_DFL;
  sigemptyset (&p->default_action.sa_mask);

  for (argc = 0; argv[argc] != NULL; argc++)
    ;
  /* A file without "#!" that the kernel refuses with ENOEXEC is run
   * by the shell, as execvp does; slot 1 is filled in by the child. */
  p->sh_argv = calloc (argc + 2, sizeof *p->sh_argv);
  if (p->sh_argv == NULL)
    goto fail;
  p->sh_argv[0] = (char *) "/bin/sh";
  for (i = 1; i < argc; i++)
    p->sh_argv[i + 1] = argv[i];

  if (plan_paths (p) == -1)
    goto fail;
  if (activation && plan_activation_env (p, activation_name) == -1)
    goto fail;
  return 0;

 fail:
  plan_free (p);
  return -1;
}

/* Decimal digits of pid into slot, without library calls that might
 * not be async-signal-safe. */
static void
format_pid (char *slot, pid_t pid)
{
  char digits[PID_DIGITS];
  unsigned long v = (unsigned long) pid;
  size_t n = 0, i;

  do {
    digits[n++] = (char) ('0' + v % 10);
    v /= 10;
  } while (v != 0 && n < sizeof digits - 1);
  for (i = 0; i < n; i++)
    slot[i] = digits[n - 1 - i];
  slot[n] = '\0';
}

/* In the child: restore the signal state a server expects, then run
 * the first candidate that the kernel accepts.  Never returns. */
static void __attribute__ ((noreturn))
exec_child (struct exec_plan *p)
{
  size_t i;

  /* We may ignore SIGPIPE and block signals; a server must not
   * inherit either (ignored signals and the mask survive exec). */
  sigaction (SIGPIPE, &p->default_action, NULL);
  sigprocmask (SIG_SETMASK, &p->empty_mask, NULL);

  for (i = 0; p->paths[i] != NULL; i++) {
    execve (p->paths[i], p->argv, p->envp);
    if (errno == ENOEXEC) {
      p->sh_argv[1] = p->paths[i];
      execve (p->sh_argv[0], p->sh_argv, p->envp);
      break;
    }
    /* The same errors execvp steps over while searching PATH. */
    if (errno != ENOENT && errno != ENOTDIR && errno != EACCES &&
        errno != ESTALE && errno != ENODEV && errno != ETIMEDOUT)
      break;
  }
  _exit (126);
}

static int
check_argv (struct nbdi_dialer *d, char **argv)
{
  if (argv == NULL || argv[0] == NULL) {
    nbdi_dial_fail (d, EINVAL, "exec: empty command");
    return -1;
  }
  return 0;
}

static int
set_nonblocking (int fd)
{
  int flags = fcntl (fd, F_GETFL);

  if (flags == -1)
    return -1;
  return fcntl (fd, F_SETFL, flags | O_NONBLOCK);
}

static void __attribute__ ((noreturn))
command_child (int sock, struct exec_plan *p)
{
  if (dup2 (sock, STDIN_FILENO) == -1 || dup2 (sock, STDOUT_FILENO) == -1)
    _exit (126);
  /* dup2 onto the same number keeps close-on-exec, which happens when
   * the socket already was fd 0 or 1; clear it in every case. */
  if (fcntl (STDIN_FILENO, F_SETFD, 0) == -1 ||
      fcntl (STDOUT_FILENO, F_SETFD, 0) == -1)
    _exit (126);
  exec_child (p);
}

int
nbdi_dial_command (struct nbdi_dialer *d, char **argv)
{
  struct exec_plan plan;
  int sv[2];
  pid_t pid;

  if (check_argv (d, argv) == -1)
    return -1;
  if (plan_init (&plan, argv, false, NULL) == -1) {
    nbdi_dial_fail (d, ENOMEM, "malloc");
    return -1;
  }
  /* Both ends close-on-exec: the child's end is dup'd to 0 and 1,
   * which clears the flag on those copies only.  Only our end is
   * non-blocking, as the server expects ordinary blocking stdio. */
  if (socketpair (AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == -1) {
    nbdi_dial_fail (d, errno, "socketpair");
    plan_free (&plan);
    return -1;
  }
  if (set_nonblocking (sv[0]) == -1) {
    nbdi_dial_fail (d, errno, "fcntl");
    goto fail;
  }

  pid = fork ();
  if (pid == -1) {
    nbdi_dial_fail (d, errno, "fork");
    goto fail;
  }
  if (pid == 0)
    command_child (sv[1], &plan);

  close (sv[1]);
  plan_free (&plan);
  d->fd = sv[0];
  d->in_progress = false;
  d->pid = pid;
  return 0;

 fail:
  close (sv[0]);
  close (sv[1]);
  plan_free (&plan);
  return -1;
}

static void __attribute__ ((noreturn))
activation_child (int lsock, struct exec_plan *p)
{
  /* The protocol fixes the first passed socket at fd 3. */
  if (lsock == 3) {
    if (fcntl (3, F_SETFD, 0) == -1)
      _exit (126);
  }
  else if (dup2 (lsock, 3) == -1)
    _exit (126);
  format_pid (p->pid_slot, getpid ());
  exec_child (p);
}

void
nbdi_dial_remove_tmpdir (struct nbdi_dialer *d)
{
  char sock[PATH_MAX];
  int n;

  if (d->tmpdir == NULL)
    return;
  n = snprintf (sock, sizeof sock, "%s/sock", d->tmpdir);
  if (n > 0 && (size_t) n < sizeof sock)
    unlink (sock);
  rmdir (d->tmpdir);
  free (d->tmpdir);
  d->tmpdir = NULL;
}

int
nbdi_dial_socket_activation (struct nbdi_dialer *d, char **argv,
                             const char *name)
{
  struct sockaddr_un sun = { .sun_family = AF_UNIX };
  struct exec_plan plan;
  const char *tmp;
  char *dir;
  int lsock, n;
  pid_t pid;

  if (check_argv (d, argv) == -1)
    return -1;

  tmp = getenv ("TMPDIR");
  if (tmp == NULL || tmp[0] == '\0')
    tmp = "/tmp";
  if (asprintf (&dir, "%s/fastnbdXXXXXX", tmp) == -1) {
    nbdi_dial_fail (d, ENOMEM, "malloc");
    return -1;
  }
  if (mkdtemp (dir) == NULL) {
    nbdi_dial_fail (d, errno, "mkdtemp: %s", dir);
    free (dir);
    return -1;
  }
  d->tmpdir = dir;

  n = snprintf (sun.sun_path, sizeof sun.sun_path, "%s/sock", dir);
  if (n < 0 || (size_t) n >= sizeof sun.sun_path) {
    nbdi_dial_fail (d, ENAMETOOLONG, "bind: %s/sock", dir);
    nbdi_dial_remove_tmpdir (d);
    return -1;
  }
  /* The listening socket stays blocking: it is the server's now. */
  lsock = socket (AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (lsock == -1) {
    nbdi_dial_fail (d, errno, "socket");
    nbdi_dial_remove_tmpdir (d);
    return -1;
  }
  if (bind (lsock, (struct sockaddr *) &sun, sizeof sun) == -1) {
    nbdi_dial_fail (d, errno, "bind: %s", sun.sun_path);
    goto fail_lsock;
  }
  if (listen (lsock, SOMAXCONN) == -1) {
    nbdi_dial_fail (d, errno, "listen: %s", sun.sun_path);
    goto fail_lsock;
  }
  /* Connect before the fork: a unix connect to a listening socket is
   * queued at once, so nothing can fail after the child exists and we
   * never have to kill a server we just started. */
  if (nbdi_dial_unix (d, sun.sun_path) == -1)
    goto fail_lsock;

  if (plan_init (&plan, argv, true, name) == -1) {
    nbdi_dial_fail (d, ENOMEM, "malloc");
    goto fail_connected;
  }
  pid = fork ();
  if (pid == -1) {
    nbdi_dial_fail (d, errno, "fork");
    plan_free (&plan);
    goto fail_connected;
  }
  if (pid == 0)
    activation_child (lsock, &plan);

  close (lsock);
  plan_free (&plan);
  d->pid = pid;
  return 0;

 fail_connected:
  close (d->fd);
  d->fd = -1;
  d->in_progress = false;
 fail_lsock:
  close (lsock);
  nbdi_dial_remove_tmpdir (d);
  return -1;
}

int
nbdi_child_kill (pid_t pid, int signum)
{
  /* kill() with 0 or a negative pid would hit a whole process group. */
  if (pid <= 0) {
    errno = ESRCH;
    return -1;
  }
  return kill (pid, signum);
}

bool
nbdi_child_reap (pid_t pid, bool wait)
{
  /* waitpid(-1) would steal some other child's status. */
  if (pid <= 0)
    return true;
  for (;;) {
    int status;
    pid_t r = waitpid (pid, &status, wait ? 0 : WNOHANG);

    if (r == pid)
      return true;
    if (r == 0)
      return false;
    if (errno == EINTR)
      continue;
    /* ECHILD: already reaped elsewhere, nothing left to wait for. */
    return errno == ECHILD;
  }
}
