/* Shared helpers of the interop tests: a private temporary directory,
 * real servers started in the background (and always stopped), free
 * loopback ports, the fake server's command line, and an event loop of
 * our own that drives a handle through nbd_aio_get_fd/_get_direction,
 * poll() and nbd_aio_notify_read/_write while checking the state
 * predicates after every step.
 *
 * Everything is static: each test program includes this once.
 *
 * Environment (set by tests/interop/meson.build):
 *   INTEROP_PYTHON   the python interpreter for the fake server
 *   INTEROP_FAKESRV  absolute path of tests/fakesrv/fakesrv.py
 */
#ifndef FASTNBD_INTEROP_H
#define FASTNBD_INTEROP_H

#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <arpa/inet.h>
#include <fcntl.h>
#include <ftw.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "test.h"

/* ---- sections and notes ---- */

static inline void
it_section (const char *fmt, ...) __attribute__ ((format (printf, 1, 2)));
static inline void
it_section (const char *fmt, ...)
{
  va_list ap;
  printf ("== ");
  va_start (ap, fmt);
  vprintf (fmt, ap);
  va_end (ap);
  printf ("\n");
  fflush (stdout);
}

/* A check with a formatted description printed either way. */
#define IT_CHECK(cond, ...)                                             \
  do {                                                                  \
    test_count ();                                                      \
    if (!(cond)) {                                                      \
      char d_[512];                                                     \
      snprintf (d_, sizeof d_, __VA_ARGS__);                            \
      test_report (__FILE__, __LINE__, "%s [%s]", d_, #cond);           \
    }                                                                   \
  } while (0)

/* The last error message contains a substring. */
#define CHECK_ERR_HAS(needle)                                           \
  do {                                                                  \
    const char *m_ = nbd_get_error ();                                  \
    test_count ();                                                      \
    if (m_ == NULL || strstr (m_, (needle)) == NULL)                    \
      test_report (__FILE__, __LINE__,                                  \
                   "error message does not contain \"%s\"", (needle));  \
  } while (0)

/* ---- temporary directory and background servers ---- */

#define IT_MAX_PIDS 32
static char it_dir[128];
static pid_t it_pids[IT_MAX_PIDS];

static inline int
it_rm_one (const char *path, const struct stat *st, int flag, struct FTW *f)
{
  (void) st; (void) flag; (void) f;
  remove (path);
  return 0;
}

static inline void
it_stop (pid_t pid)
{
  int status;

  if (pid <= 0)
    return;
  kill (pid, SIGTERM);
  for (int i = 0; i < 250; i++) {
    if (waitpid (pid, &status, WNOHANG) != 0)
      goto reaped;
    usleep (20000);
  }
  kill (pid, SIGKILL);
  waitpid (pid, &status, 0);
 reaped:
  for (int i = 0; i < IT_MAX_PIDS; i++)
    if (it_pids[i] == pid)
      it_pids[i] = 0;
}

static inline void
it_cleanup (void)
{
  for (int i = 0; i < IT_MAX_PIDS; i++)
    if (it_pids[i] > 0)
      it_stop (it_pids[i]);
  if (it_dir[0])
    nftw (it_dir, it_rm_one, 16, FTW_DEPTH | FTW_PHYS);
  it_dir[0] = '\0';
}

static inline void
it_on_alarm (int sig)
{
  static const char msg[] = "FAIL: test timed out (alarm)\n";
  (void) sig;
  if (write (2, msg, sizeof msg - 1) < 0) { }
  _exit (1);
}

/* Call first: temp dir, cleanup at exit, a watchdog, no inherited
 * socket activation variables, unbuffered-ish output. */
static inline void
it_init (void)
{
  const char *tmp = getenv ("TMPDIR");

  setvbuf (stdout, NULL, _IOLBF, 0);
  snprintf (it_dir, sizeof it_dir, "%s/fastnbd-interop-XXXXXX",
            tmp && *tmp && strlen (tmp) < 60 ? tmp : "/tmp");
  if (mkdtemp (it_dir) == NULL) {
    perror ("mkdtemp");
    exit (99);
  }
  atexit (it_cleanup);
  signal (SIGALRM, it_on_alarm);
  signal (SIGPIPE, SIG_IGN);
  alarm (55);
  unsetenv ("LISTEN_PID");
  unsetenv ("LISTEN_FDS");
  unsetenv ("LISTEN_FDNAMES");
  unsetenv ("LIBNBD_DEBUG");
}

/* tmpdir/name in a rotating set of static buffers. */
static inline const char *
it_path (const char *name)
{
  static char bufs[16][256];
  static unsigned next;
  char *b = bufs[next++ % 16];
  snprintf (b, 256, "%s/%s", it_dir, name);
  return b;
}

/* it_path (name), with any file left there by an earlier use removed
 * (for server logs that must describe one connection). */
static inline const char *
it_fresh_path (const char *name)
{
  const char *p = it_path (name);
  unlink (p);
  return p;
}

/* Start argv in the background; it dies with us (PDEATHSIG). */
static inline pid_t
it_spawn (char **argv)
{
  pid_t pid;

  fflush (stdout);
  fflush (stderr);
  pid = fork ();
  if (pid == -1) {
    perror ("fork");
    exit (99);
  }
  if (pid == 0) {
    int null = open ("/dev/null", O_RDWR);
    prctl (PR_SET_PDEATHSIG, SIGKILL);
    if (null >= 0) {
      dup2 (null, 0);
      dup2 (null, 1);
    }
    execvp (argv[0], argv);
    fprintf (stderr, "exec %s: %s\n", argv[0], strerror (errno));
    _exit (127);
  }
  for (int i = 0; i < IT_MAX_PIDS; i++)
    if (it_pids[i] == 0) {
      it_pids[i] = pid;
      break;
    }
  return pid;
}

static inline bool
it_alive (pid_t pid)
{
  int status;
  if (waitpid (pid, &status, WNOHANG) == pid) {
    for (int i = 0; i < IT_MAX_PIDS; i++)
      if (it_pids[i] == pid)
        it_pids[i] = 0;
    return false;
  }
  return true;
}

static inline bool
it_try_connect (const struct sockaddr *sa, socklen_t len)
{
  int fd = socket (sa->sa_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
  bool ok;
  if (fd == -1)
    return false;
  ok = connect (fd, sa, len) == 0;
  close (fd);
  return ok;
}

static inline socklen_t
it_unix_addr (struct sockaddr_un *sun, const char *path)
{
  memset (sun, 0, sizeof *sun);
  sun->sun_family = AF_UNIX;
  snprintf (sun->sun_path, sizeof sun->sun_path, "%s", path);
  return sizeof *sun;
}

/* Poll ready (arg) every 10 ms for up to 20 s, giving up early if the
 * server process pid has died. */
static inline bool
it_wait_until (pid_t pid, bool (*ready) (const void *arg), const void *arg)
{
  for (int i = 0; i < 2000; i++) {
    if (ready (arg))
      return true;
    if (!it_alive (pid))
      return false;
    usleep (10000);
  }
  return false;
}

static inline bool
it_unix_accepts (const void *path)
{
  struct sockaddr_un sun;
  socklen_t len = it_unix_addr (&sun, path);
  return it_try_connect ((struct sockaddr *) &sun, len);
}

static inline bool
it_tcp_accepts (const void *port)
{
  struct sockaddr_in sin = { .sin_family = AF_INET,
                             .sin_port = htons (*(const int *) port) };
  sin.sin_addr.s_addr = htonl (INADDR_LOOPBACK);
  return it_try_connect ((struct sockaddr *) &sin, sizeof sin);
}

static inline bool
it_file_filled (const void *path)
{
  struct stat st;
  return stat (path, &st) == 0 && st.st_size > 0;
}

static inline bool
it_path_exists (const void *path)
{
  struct stat st;
  return stat (path, &st) == 0;
}

/* Wait until the server pid accepts on the Unix socket. */
static inline bool
it_wait_unix (pid_t pid, const char *path)
{
  return it_wait_until (pid, it_unix_accepts, path);
}

/* Wait until the server pid accepts on 127.0.0.1:port. */
static inline bool
it_wait_tcp (pid_t pid, int port)
{
  return it_wait_until (pid, it_tcp_accepts, &port);
}

/* Wait until a file (say a pid file) exists and is not empty. */
static inline bool
it_wait_file (pid_t pid, const char *path)
{
  return it_wait_until (pid, it_file_filled, path);
}

/* Wait until a path exists (a socket file, say). */
static inline bool
it_wait_exists (pid_t pid, const char *path)
{
  return it_wait_until (pid, it_path_exists, path);
}

/* A loopback TCP port nobody listens on right now. */
static inline int
it_free_port (void)
{
  struct sockaddr_in sin = { .sin_family = AF_INET };
  socklen_t len = sizeof sin;
  int fd = socket (AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), port;

  sin.sin_addr.s_addr = htonl (INADDR_LOOPBACK);
  if (fd == -1 || bind (fd, (struct sockaddr *) &sin, sizeof sin) == -1
      || getsockname (fd, (struct sockaddr *) &sin, &len) == -1) {
    perror ("free port");
    exit (99);
  }
  port = ntohs (sin.sin_port);
  close (fd);
  return port;
}

/* Is a program in PATH? */
static inline bool
it_have (const char *prog)
{
  char cmd[256];
  snprintf (cmd, sizeof cmd, "command -v %s >/dev/null 2>&1", prog);
  return system (cmd) == 0;
}

/* ---- argv building ---- */

/* A NULL-terminated argv from a NULL-terminated list of strings, in a
 * rotating set of static slots. */
#define IT_ARGV_MAX 48
static inline char **
it_argv_v (const char *first, va_list ap)
{
  static char *slots[8][IT_ARGV_MAX + 1];
  static unsigned next;
  char **argv = slots[next++ % 8];
  int n = 0;

  for (const char *a = first; a != NULL; a = va_arg (ap, const char *)) {
    if (n == IT_ARGV_MAX) {
      fprintf (stderr, "argv too long\n");
      exit (99);
    }
    argv[n++] = (char *) a;
  }
  argv[n] = NULL;
  return argv;
}

static inline char **
it_argv (const char *first, ...)
{
  va_list ap;
  char **r;
  va_start (ap, first);
  r = it_argv_v (first, ap);
  va_end (ap);
  return r;
}

static inline const char *
it_python (void)
{
  const char *p = getenv ("INTEROP_PYTHON");
  return p && *p ? p : "python3";
}

static inline const char *
it_fakesrv_path (void)
{
  const char *p = getenv ("INTEROP_FAKESRV");
  if (p == NULL || *p == '\0') {
    fprintf (stderr, "INTEROP_FAKESRV is not set\n");
    exit (99);
  }
  return p;
}

/* python fakesrv.py ARGS... (NULL-terminated). */
static inline char **
it_fakesrv (const char *first, ...)
{
  static char *slots[8][IT_ARGV_MAX + 3];
  static unsigned next;
  char **argv = slots[next++ % 8];
  va_list ap;
  int n = 0;

  argv[n++] = (char *) it_python ();
  argv[n++] = (char *) it_fakesrv_path ();
  va_start (ap, first);
  for (const char *a = first; a != NULL; a = va_arg (ap, const char *)) {
    if (n == IT_ARGV_MAX + 2) {
      fprintf (stderr, "argv too long\n");
      exit (99);
    }
    argv[n++] = (char *) a;
  }
  va_end (ap);
  argv[n] = NULL;
  return argv;
}

/* Print an argv (for the log). */
static inline void
it_print_argv (const char *what, char **argv)
{
  printf ("   %s:", what);
  for (int i = 0; argv[i]; i++)
    printf (" %s", argv[i]);
  printf ("\n");
}

/* ---- reading files ---- */

/* Whole file (caller frees), or NULL. */
static inline char *
it_slurp (const char *path)
{
  FILE *fp = fopen (path, "r");
  char *buf = NULL;
  size_t len = 0;

  if (fp == NULL)
    return NULL;
  {
    FILE *mem = open_memstream (&buf, &len);
    int c;
    while ((c = getc (fp)) != EOF)
      putc (c, mem);
    fclose (mem);
  }
  fclose (fp);
  return buf;
}

/* Does the file contain the string?  Retries for a moment, because a
 * server may write its log line just after the client returns. */
static inline bool
it_file_has (const char *path, const char *needle)
{
  for (int i = 0; i < 200; i++) {
    char *s = it_slurp (path);
    bool found = s && strstr (s, needle);
    free (s);
    if (found)
      return true;
    usleep (10000);
  }
  return false;
}

/* ---- the handle ---- */

/* Exactly one of the seven state predicates must hold. */
static inline int
it_nr_states (struct nbd_handle *h)
{
  return nbd_aio_is_created (h) + nbd_aio_is_connecting (h)
    + nbd_aio_is_negotiating (h) + nbd_aio_is_ready (h)
    + nbd_aio_is_processing (h) + nbd_aio_is_dead (h) + nbd_aio_is_closed (h);
}

static inline const char *
it_pred_name (struct nbd_handle *h)
{
  if (nbd_aio_is_created (h)) return "created";
  if (nbd_aio_is_connecting (h)) return "connecting";
  if (nbd_aio_is_negotiating (h)) return "negotiating";
  if (nbd_aio_is_ready (h)) return "ready";
  if (nbd_aio_is_processing (h)) return "processing";
  if (nbd_aio_is_dead (h)) return "dead";
  if (nbd_aio_is_closed (h)) return "closed";
  return "?";
}

typedef bool (*it_until_fn) (struct nbd_handle *h);

static inline bool it_not_connecting (struct nbd_handle *h) { return !nbd_aio_is_connecting (h); }
static inline bool it_is_negotiating (struct nbd_handle *h) { return nbd_aio_is_negotiating (h); }
static inline bool it_is_ready (struct nbd_handle *h) { return nbd_aio_is_ready (h); }
static inline bool it_nothing_in_flight (struct nbd_handle *h)
{ return nbd_aio_in_flight (h) == 0 || nbd_aio_is_dead (h); }
static inline bool it_closed_or_dead (struct nbd_handle *h)
{ return nbd_aio_is_closed (h) || nbd_aio_is_dead (h); }

/* What our loop saw. */
struct it_trace {
  unsigned steps;               /* poll rounds */
  unsigned notifies;            /* notify_read + notify_write calls */
  unsigned connecting_seen;     /* rounds in which is_connecting held */
  char states[512];             /* predicate names, changes only */
};

/* Drive the handle ourselves until `until` holds, the handle is dead or
 * closed, or 30 s pass.  After every step exactly one predicate must
 * hold and nbd_connection_state must return a string.  Returns 0 when
 * `until` holds. */
static inline int
it_drive (struct nbd_handle *h, it_until_fn until, struct it_trace *tr)
{
  struct it_trace local;
  const char *last = "";
  time_t start = time (NULL);

  if (tr == NULL)
    tr = &local;
  memset (tr, 0, sizeof *tr);
  for (;;) {
    const char *now = it_pred_name (h);
    const char *cs = nbd_connection_state (h);
    int n = it_nr_states (h);
    unsigned dir;
    int fd, r;
    struct pollfd p;

    if (n != 1)
      IT_CHECK (n == 1, "exactly one aio_is_* predicate holds (%d hold, "
                "connection_state \"%s\")", n, cs ? cs : "NULL");
    if (cs == NULL)
      IT_CHECK (cs != NULL, "nbd_connection_state returns a string");
    if (strcmp (now, last) != 0) {
      size_t used = strlen (tr->states);
      snprintf (tr->states + used, sizeof tr->states - used, "%s%s",
                used ? " > " : "", now);
      last = now;
    }
    if (nbd_aio_is_connecting (h))
      tr->connecting_seen++;
    if (until (h))
      return 0;
    if (nbd_aio_is_dead (h) || nbd_aio_is_closed (h) || nbd_aio_is_created (h))
      return -1;
    if (time (NULL) - start > 30) {
      IT_CHECK (0, "driving the handle timed out in state %s", now);
      return -1;
    }
    fd = nbd_aio_get_fd (h);
    dir = nbd_aio_get_direction (h);
    if (fd == -1) {
      IT_CHECK (fd != -1, "nbd_aio_get_fd while %s", now);
      return -1;
    }
    if (dir == 0) {
      /* Nothing to wait for, yet `until` does not hold: stuck. */
      IT_CHECK (dir != 0, "nbd_aio_get_direction is 0 while %s", now);
      return -1;
    }
    p.fd = fd;
    p.events = ((dir & LIBNBD_AIO_DIRECTION_READ) ? POLLIN : 0)
      | ((dir & LIBNBD_AIO_DIRECTION_WRITE) ? POLLOUT : 0);
    p.revents = 0;
    tr->steps++;
    r = poll (&p, 1, 1000);
    if (r == -1) {
      if (errno == EINTR)
        continue;
      perror ("poll");
      return -1;
    }
    if (r == 0)
      continue;
    if ((dir & LIBNBD_AIO_DIRECTION_READ)
        && (p.revents & (POLLIN | POLLHUP | POLLERR))) {
      tr->notifies++;
      if (nbd_aio_notify_read (h) == -1)
        return -1;
    }
    else if ((dir & LIBNBD_AIO_DIRECTION_WRITE)
             && (p.revents & (POLLOUT | POLLHUP | POLLERR))) {
      tr->notifies++;
      if (nbd_aio_notify_write (h) == -1)
        return -1;
    }
  }
}

/* nbd_poll until `until` holds (or dead/closed); 0 when it holds. */
static inline int
it_poll_until (struct nbd_handle *h, it_until_fn until)
{
  time_t start = time (NULL);
  while (!until (h)) {
    if (nbd_aio_is_dead (h) || nbd_aio_is_closed (h))
      return -1;
    if (time (NULL) - start > 30)
      return -1;
    if (nbd_poll (h, 1000) == -1)
      return -1;
  }
  return 0;
}

/* ---- closure bookkeeping ---- */

/* One user_data for all the closures of one call: what ran, how often. */
struct it_calls {
  const char *tag;
  unsigned items;               /* list/context callback runs */
  unsigned completions;         /* completion callback runs */
  int error;                    /* *error seen by the completion callback */
  unsigned frees;               /* .free runs (all closures sharing it) */
  int completion_ret;           /* what the completion callback returns */
  char names[1024];             /* items seen, comma separated */
  char descs[1024];             /* descriptions seen (list) */
  char trace[256];              /* I per item, C completion, F item free,
                                 * G completion free, in order */
};

static inline void
it_calls_init (struct it_calls *c, const char *tag)
{
  memset (c, 0, sizeof *c);
  c->tag = tag;
  c->error = -12345;
  c->completion_ret = 1;
}

static inline void
it_append (char *buf, size_t size, const char *s)
{
  size_t used = strlen (buf);
  snprintf (buf + used, size - used, "%s%s", used ? "," : "", s);
}

static inline void
it_event (struct it_calls *c, const char *ev)
{
  size_t used = strlen (c->trace);
  snprintf (c->trace + used, sizeof c->trace - used, "%s", ev);
}

static inline int
it_list_cb (void *ud, const char *name, const char *desc)
{
  struct it_calls *c = ud;
  c->items++;
  it_event (c, "I");
  it_append (c->names, sizeof c->names, name);
  it_append (c->descs, sizeof c->descs, desc);
  return 0;
}

static inline int
it_context_cb (void *ud, const char *name)
{
  struct it_calls *c = ud;
  c->items++;
  it_event (c, "I");
  it_append (c->names, sizeof c->names, name);
  return 0;
}

static inline int
it_completion_cb (void *ud, int *error)
{
  struct it_calls *c = ud;
  c->completions++;
  c->error = *error;
  it_event (c, "C");
  return c->completion_ret;
}

static inline void
it_free_cb (void *ud)
{
  struct it_calls *c = ud;
  c->frees++;
  it_event (c, "F");
}

static inline void
it_free_completion_cb (void *ud)
{
  struct it_calls *c = ud;
  c->frees++;
  it_event (c, "G");
}

static inline nbd_list_callback
it_list_closure (struct it_calls *c)
{
  return (nbd_list_callback) { .callback = it_list_cb, .user_data = c,
                               .free = it_free_cb };
}

static inline nbd_context_callback
it_context_closure (struct it_calls *c)
{
  return (nbd_context_callback) { .callback = it_context_cb, .user_data = c,
                                  .free = it_free_cb };
}

static inline nbd_completion_callback
it_completion_closure (struct it_calls *c)
{
  return (nbd_completion_callback) { .callback = it_completion_cb,
                                     .user_data = c, .free = it_free_completion_cb };
}

/* Is an item in a comma separated list? */
static inline bool
it_list_has (const char *list, const char *item)
{
  size_t n = strlen (item);
  for (const char *p = list; (p = strstr (p, item)) != NULL; p += n)
    if ((p == list || p[-1] == ',') && (p[n] == ',' || p[n] == '\0'))
      return true;
  return false;
}

/* One program per area, one named case per test: main() of each runs
 * the case named on its command line from a table ending in { NULL }. */
struct it_case {
  const char *name;
  void (*run) (void);
};

static inline int
it_main (int argc, char *argv[], const struct it_case *cases)
{
  if (argc != 2) {
    fprintf (stderr, "usage: %s CASE\n", argv[0]);
    return 99;
  }
  it_init ();
  if (!it_have ("nbdkit"))
    TEST_SKIP ("nbdkit is not installed");
  for (const struct it_case *c = cases; c->name; c++) {
    if (strcmp (argv[1], c->name) == 0) {
      c->run ();
      return test_exit ();
    }
  }
  fprintf (stderr, "unknown case %s\n", argv[1]);
  return 99;
}

#endif
