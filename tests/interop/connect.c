/* Every connect method against a real server, sync and aio.
 *
 * usage: connect METHOD
 *   unix               nbdkit -U SOCKET
 *   tcp                nbdkit -i 127.0.0.1 -p PORT ("127.0.0.1", "localhost")
 *   socket             a Unix socket we connect ourselves, handed over
 *   command            nbdkit -s, and the fake server, as subprocesses
 *   socket-activation  nbdkit / the fake server given a listening socket
 *   vsock              nbdkit --vsock, only where vsock loopback works
 *
 * For each method: the sync call reaches ready (negotiating in option
 * mode); the aio call is driven by our own poll() loop with the state
 * predicates checked after every step; a second connect on the same
 * handle fails with EINVAL; a connect to nothing fails cleanly.
 */
#include "interop.h"

#define DISK_SIZE (1024 * 1024)

/* The method under test, with what it connects to. */
static const char *method;
static const char *unix_sock;   /* unix, socket */
static char tcp_host[64], tcp_port[16];
static char **cmd_argv;         /* command, socket-activation */
static uint32_t vsock_port;

static const char *
sync_name (void)
{
  static char buf[64];
  if (strcmp (method, "socket-activation") == 0)
    return "nbd_connect_systemd_socket_activation";
  snprintf (buf, sizeof buf, "nbd_connect_%s", method);
  return buf;
}

static const char *
aio_name (void)
{
  static char buf[64];
  if (strcmp (method, "socket-activation") == 0)
    return "nbd_aio_connect_systemd_socket_activation";
  snprintf (buf, sizeof buf, "nbd_aio_connect_%s", method);
  return buf;
}

static int
unix_socket_fd (const char *path)
{
  struct sockaddr_un sun;
  socklen_t len = it_unix_addr (&sun, path);
  int fd = socket (AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd == -1 || connect (fd, (struct sockaddr *) &sun, len) == -1) {
    perror ("connect (unix, by the test)");
    exit (99);
  }
  return fd;
}

static int last_socket_fd = -1;
static bool spare_socket;       /* socket method: hand over an unused fd */

/* Connect with the method under test; aio or not. */
static int
do_connect (struct nbd_handle *h, bool aio)
{
  if (strcmp (method, "unix") == 0)
    return aio ? nbd_aio_connect_unix (h, unix_sock) : nbd_connect_unix (h, unix_sock);
  if (strcmp (method, "tcp") == 0)
    return aio ? nbd_aio_connect_tcp (h, tcp_host, tcp_port)
      : nbd_connect_tcp (h, tcp_host, tcp_port);
  if (strcmp (method, "socket") == 0) {
    int fd, sv[2];
    if (spare_socket) {
      /* Refused anyway: do not bother the server with it. */
      if (socketpair (AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == -1)
        abort ();
      close (sv[1]);
      fd = sv[0];
    }
    else
      fd = unix_socket_fd (unix_sock);
    last_socket_fd = fd;
    return aio ? nbd_aio_connect_socket (h, fd) : nbd_connect_socket (h, fd);
  }
  if (strcmp (method, "command") == 0)
    return aio ? nbd_aio_connect_command (h, cmd_argv) : nbd_connect_command (h, cmd_argv);
  if (strcmp (method, "socket-activation") == 0)
    return aio ? nbd_aio_connect_systemd_socket_activation (h, cmd_argv)
      : nbd_connect_systemd_socket_activation (h, cmd_argv);
  if (strcmp (method, "vsock") == 0)
    return aio ? nbd_aio_connect_vsock (h, 1, vsock_port)
      : nbd_connect_vsock (h, 1, vsock_port);
  abort ();
}

/* A second connect must be refused by the state check.  For the socket
 * method the refused fd stays ours (libnbd takes ownership only when the
 * call is accepted), so close it. */
static void
second_connect_fails (struct nbd_handle *h, bool aio, const char *when)
{
  int r;

  printf ("   a second %s while %s fails with EINVAL\n",
          aio ? aio_name () : sync_name (), when);
  spare_socket = true;
  r = do_connect (h, aio);
  spare_socket = false;
  IT_CHECK (r == -1, "second connect while %s fails", when);
  if (r == -1) {
    CHECK_INT (nbd_get_errno (), EINVAL);
    IT_CHECK (test_starts_with (nbd_get_error (), aio ? aio_name () : sync_name ()),
              "the error names the call: %s", nbd_get_error ());
  }
  if (strcmp (method, "socket") == 0 && r == -1) {
    IT_CHECK (fcntl (last_socket_fd, F_GETFD) != -1,
              "a refused nbd_connect_socket leaves the caller's fd open");
    close (last_socket_fd);
  }
}

/* What the connected export must look like. */
static void
check_export (struct nbd_handle *h)
{
  char buf[512];

  CHECK_INT (nbd_get_size (h), DISK_SIZE);
  CHECK_STR (nbd_get_protocol (h), "newstyle-fixed");
  CHECK_INT (nbd_get_structured_replies_negotiated (h), 1);
  memset (buf, 'x', sizeof buf);
  CHECK_OK (nbd_pread (h, buf, sizeof buf, 0, 0));
  CHECK (buf[0] == 0 && buf[511] == 0);
}

static void
check_subprocess (struct nbd_handle *h, bool want)
{
  int64_t pid = nbd_get_subprocess_pid (h);
  if (want) {
    IT_CHECK (pid > 0, "nbd_get_subprocess_pid gives the server's pid");
    if (pid > 0)
      IT_CHECK (kill ((pid_t) pid, 0) == 0, "pid %" PRId64 " is alive", pid);
  }
  else
    CHECK_FAIL (nbd_get_subprocess_pid (h), ESRCH, "nbd_get_subprocess_pid");
}

static bool
has_subprocess (void)
{
  return strcmp (method, "command") == 0
    || strcmp (method, "socket-activation") == 0;
}

/* Was the fd we handed over closed by nbd_close? */
static void
check_socket_closed (int fd)
{
  if (strcmp (method, "socket") != 0)
    return;
  errno = 0;
  IT_CHECK (fcntl (fd, F_GETFD) == -1 && errno == EBADF,
            "nbd_close closed the socket handed over with nbd_connect_socket");
}

/* nbd_close must not keep the program waiting: a server subprocess
 * that is still running after the connection ended (nbdkit keeps
 * listening on an activated socket) is told to go, as libnbd does. */
static void
timed_close (struct nbd_handle *h)
{
  struct timespec t0, t1;
  double secs;

  clock_gettime (CLOCK_MONOTONIC, &t0);
  nbd_close (h);
  clock_gettime (CLOCK_MONOTONIC, &t1);
  secs = (t1.tv_sec - t0.tv_sec) + (t1.tv_nsec - t0.tv_nsec) / 1e9;
  printf ("   nbd_close took %.3f s\n", secs);
  IT_CHECK (secs < 1.0, "nbd_close returns promptly (took %.3f s)", secs);
}

static void
sync_case (bool opt_mode)
{
  struct nbd_handle *h = test_create ();

  it_section ("%s: %s%s", method, sync_name (), opt_mode ? " (option mode)" : "");
  CHECK_OK (nbd_set_opt_mode (h, opt_mode));
  CHECK (nbd_aio_is_created (h));
  CHECK_INT (nbd_aio_get_fd (h), -1);
  if (has_subprocess ())
    CHECK_FAIL (nbd_get_subprocess_pid (h), ESRCH, "nbd_get_subprocess_pid");

  if (do_connect (h, false) == -1) {
    IT_CHECK (0, "%s succeeds", sync_name ());
    nbd_close (h);
    return;
  }
  if (opt_mode) {
    printf ("   connected: negotiating; then nbd_opt_go\n");
    CHECK (nbd_aio_is_negotiating (h));
    CHECK_INT (it_nr_states (h), 1);
    second_connect_fails (h, false, "negotiating");
    CHECK_OK (nbd_opt_go (h));
  }
  CHECK (nbd_aio_is_ready (h));
  CHECK_INT (it_nr_states (h), 1);
  CHECK (nbd_aio_get_fd (h) >= 0);
  check_subprocess (h, has_subprocess ());
  check_export (h);
  second_connect_fails (h, false, "ready");
  second_connect_fails (h, true, "ready");
  CHECK_OK (nbd_shutdown (h, 0));
  CHECK (nbd_aio_is_closed (h));
  second_connect_fails (h, false, "closed");
  {
    int fd = last_socket_fd;
    timed_close (h);
    check_socket_closed (fd);
  }
}

static void
aio_case (bool opt_mode)
{
  struct nbd_handle *h = test_create ();
  struct it_trace tr;
  struct it_calls go;
  char buf[512];
  int64_t cookie;

  it_section ("%s: %s driven by poll() + nbd_aio_notify_*%s", method,
              aio_name (), opt_mode ? " (option mode)" : "");
  CHECK_OK (nbd_set_opt_mode (h, opt_mode));
  if (do_connect (h, true) == -1) {
    IT_CHECK (0, "%s succeeds", aio_name ());
    nbd_close (h);
    return;
  }
  IT_CHECK (nbd_aio_is_connecting (h), "connecting right after %s (state %s)",
            aio_name (), it_pred_name (h));
  CHECK_INT (it_nr_states (h), 1);
  second_connect_fails (h, true, "connecting");

  CHECK_OK (it_drive (h, it_not_connecting, &tr));
  printf ("   states seen: %s (%u polls, %u notifies)\n", tr.states, tr.steps,
          tr.notifies);
  IT_CHECK (tr.connecting_seen > 0, "is_connecting held while handshaking");
  if (opt_mode) {
    IT_CHECK (nbd_aio_is_negotiating (h), "negotiating after the handshake (%s)",
              it_pred_name (h));
    IT_CHECK (strcmp (tr.states, "connecting > negotiating") == 0,
              "states were connecting > negotiating, not %s", tr.states);
    second_connect_fails (h, true, "negotiating");
    it_calls_init (&go, "go");
    printf ("   nbd_aio_opt_go, driven the same way\n");
    CHECK_OK (nbd_aio_opt_go (h, it_completion_closure (&go)));
    IT_CHECK (nbd_aio_is_connecting (h), "connecting while NBD_OPT_GO is pending (%s)",
              it_pred_name (h));
    CHECK_OK (it_drive (h, it_not_connecting, &tr));
    printf ("   states seen: %s\n", tr.states);
    CHECK_INT (go.completions, 1);
    CHECK_INT (go.error, 0);
    CHECK_INT (go.frees, 1);
  }
  else
    IT_CHECK (strcmp (tr.states, "connecting > ready") == 0,
              "states were connecting > ready, not %s", tr.states);
  CHECK (nbd_aio_is_ready (h));
  check_subprocess (h, has_subprocess ());

  /* A command through the same loop. */
  memset (buf, 'x', sizeof buf);
  cookie = nbd_aio_pread (h, buf, sizeof buf, 4096, NBD_NULL_COMPLETION, 0);
  CHECK (cookie > 0);
  IT_CHECK (nbd_aio_is_processing (h) || nbd_aio_is_ready (h),
            "processing (or ready) with a read in flight (%s)", it_pred_name (h));
  /* Waiting for the reply is "ready" too (libnbd documents so): drive
   * until the read is done. */
  CHECK_OK (it_drive (h, it_nothing_in_flight, &tr));
  if (cookie > 0)
    CHECK_INT (nbd_aio_command_completed (h, cookie), 1);
  CHECK (buf[0] == 0 && buf[511] == 0);
  CHECK_INT (nbd_get_size (h), DISK_SIZE);

  printf ("   nbd_aio_disconnect, driven until closed\n");
  CHECK_OK (nbd_aio_disconnect (h, 0));
  CHECK_OK (it_drive (h, it_closed_or_dead, &tr));
  IT_CHECK (nbd_aio_is_closed (h), "closed after the disconnect (%s)", it_pred_name (h));
  second_connect_fails (h, true, "closed");
  {
    int fd = last_socket_fd;
    nbd_close (h);
    check_socket_closed (fd);
  }
}

/* ---- failures ---- */

static void
connect_to_nothing (void)
{
  struct nbd_handle *h;
  char missing[300];

  it_section ("%s: connecting to nothing fails cleanly", method);
  if (strcmp (method, "unix") == 0) {
    /* libnbd marks the handle dead when the connect itself fails. */
    snprintf (missing, sizeof missing, "%s", it_path ("no-such-socket"));
    for (int aio = 0; aio <= 1; aio++) {
      h = test_create ();
      printf ("   %s on a missing path: ENOENT, dead\n",
              aio ? "nbd_aio_connect_unix" : "nbd_connect_unix");
      CHECK_FAIL (aio ? nbd_aio_connect_unix (h, missing) : nbd_connect_unix (h, missing),
                  ENOENT, aio ? "nbd_aio_connect_unix" : "nbd_connect_unix");
      IT_CHECK (nbd_aio_is_dead (h), "dead after a failed connect (%s)", it_pred_name (h));
      CHECK_FAIL (nbd_connect_unix (h, unix_sock), EINVAL, "nbd_connect_unix");
      nbd_close (h);
    }
  }
  else if (strcmp (method, "tcp") == 0) {
    char port[16];
    snprintf (port, sizeof port, "%d", it_free_port ());
    h = test_create ();
    printf ("   nbd_connect_tcp to 127.0.0.1:%s (nobody listens): ECONNREFUSED\n", port);
    CHECK_FAIL (nbd_connect_tcp (h, "127.0.0.1", port), ECONNREFUSED, "nbd_connect_tcp");
    IT_CHECK (!nbd_aio_is_ready (h), "not ready");
    nbd_close (h);
  }
  else if (strcmp (method, "command") == 0) {
    h = test_create ();
    printf ("   nbd_connect_command of a missing program fails, handle dead\n");
    CHECK (nbd_connect_command (h, it_argv ("/nonexistent/fastnbd-no-server", NULL)) == -1);
    CHECK (nbd_get_errno () != 0);
    IT_CHECK (nbd_aio_is_dead (h), "dead (%s)", it_pred_name (h));
    nbd_close (h);
    h = test_create ();
    printf ("   nbd_connect_command with an empty argv: EINVAL\n");
    CHECK_FAIL (nbd_connect_command (h, it_argv (NULL)), EINVAL, "nbd_connect_command");
    nbd_close (h);
  }
  else if (strcmp (method, "socket") == 0) {
    h = test_create ();
    printf ("   nbd_connect_socket with a socket whose peer hung up fails\n");
    {
      int sv[2];
      if (socketpair (AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == -1) {
        perror ("socketpair");
        exit (99);
      }
      close (sv[1]);
      CHECK (nbd_connect_socket (h, sv[0]) == -1);
      CHECK (nbd_get_errno () != 0);
      IT_CHECK (nbd_aio_is_dead (h), "dead (%s)", it_pred_name (h));
    }
    nbd_close (h);
  }
}

/* ---- subprocess control (command) ---- */

/* Wait until a child of the library has exited (a zombie until the
 * library reaps it). */
static bool
wait_exited (int64_t pid)
{
  char path[64];
  snprintf (path, sizeof path, "/proc/%" PRId64 "/stat", pid);
  for (int i = 0; i < 500; i++) {
    char *st = it_slurp (path);
    const char *p = st ? strrchr (st, ')') : NULL;
    bool gone = st == NULL || (p && p[1] == ' ' && (p[2] == 'Z' || p[2] == 'X'));
    free (st);
    if (gone)
      return true;
    usleep (10000);
  }
  return false;
}

static void
kill_subprocess_case (void)
{
  struct nbd_handle *h = test_create ();
  int64_t pid;
  char buf[512];

  it_section ("command: nbd_kill_subprocess / nbd_get_subprocess_pid");
  CHECK_FAIL (nbd_kill_subprocess (h, 0), ESRCH, "nbd_kill_subprocess");
  CHECK_OK (nbd_connect_command (h, cmd_argv));
  pid = nbd_get_subprocess_pid (h);
  IT_CHECK (pid > 0, "subprocess pid %" PRId64, pid);
  if (pid > 0) {
    char path[64], *cmdline;
    snprintf (path, sizeof path, "/proc/%" PRId64 "/cmdline", pid);
    cmdline = it_slurp (path);
    IT_CHECK (cmdline && strcmp (cmdline, cmd_argv[0]) == 0,
              "pid %" PRId64 " runs %s (cmdline starts \"%s\")", pid, cmd_argv[0],
              cmdline ? cmdline : "?");
    free (cmdline);
  }
  CHECK_FAIL (nbd_kill_subprocess (h, -1), EINVAL, "nbd_kill_subprocess");
  printf ("   nbd_kill_subprocess (h, 0) sends SIGTERM: nbdkit then answers\n"
          "   requests with NBD_ESHUTDOWN, or hangs up\n");
  CHECK_OK (nbd_kill_subprocess (h, 0));
  {
    int r = 0;
    for (int i = 0; i < 500 && (r = nbd_pread (h, buf, sizeof buf, 0, 0)) == 0; i++)
      usleep (10000);
    IT_CHECK (r == -1, "a read fails once the server got SIGTERM");
    /* NBD_ESHUTDOWN from the server, or the connection already gone. */
    if (r == -1) {
      int e = nbd_get_errno ();
      IT_CHECK (e == ESHUTDOWN || e == ECONNRESET || e == EPIPE || e == ENOTCONN,
                "the read failed with ESHUTDOWN or a lost connection (errno %d)", e);
    }
  }
  /* The pid is still known until close. */
  CHECK_INT (nbd_get_subprocess_pid (h), pid);
  nbd_close (h);
  if (pid > 0)
    IT_CHECK (kill ((pid_t) pid, 0) == -1 && errno == ESRCH,
              "nbd_close reaped the subprocess %" PRId64, pid);

  printf ("   nbd_kill_subprocess (h, SIGKILL): a read then fails, the handle dies\n");
  h = test_create ();
  CHECK_OK (nbd_connect_command (h, cmd_argv));
  pid = nbd_get_subprocess_pid (h);
  CHECK_OK (nbd_kill_subprocess (h, SIGKILL));
  IT_CHECK (wait_exited (pid), "the server was killed");
  IT_CHECK (nbd_pread (h, buf, sizeof buf, 0, 0) == -1,
            "a read after the server was killed fails");
  IT_CHECK (nbd_aio_is_dead (h), "dead after the server died (%s)", it_pred_name (h));
  CHECK_INT (nbd_get_subprocess_pid (h), pid);
  nbd_close (h);
  if (pid > 0)
    IT_CHECK (kill ((pid_t) pid, 0) == -1 && errno == ESRCH,
              "nbd_close reaped the SIGKILLed subprocess %" PRId64, pid);

  /* Closing a handle whose server is alive: the server exits. */
  h = test_create ();
  CHECK_OK (nbd_connect_command (h, cmd_argv));
  pid = nbd_get_subprocess_pid (h);
  nbd_close (h);
  if (pid > 0)
    IT_CHECK (kill ((pid_t) pid, 0) == -1 && errno == ESRCH,
              "nbd_close of a live connection reaped %" PRId64, pid);
}

/* ---- socket activation name ---- */

static char **
sa_nbdkit_argv (void)
{
  return it_argv ("nbdkit", "--exit-with-parent", "eval",
                  "get_size=echo 1048576",
                  "pread=head -c $3 /dev/zero",
                  "export_description=echo \"names=[$LISTEN_FDNAMES]\"",
                  NULL);
}

static void
sa_name_case (bool aio, const char *name, const char *want_desc)
{
  struct nbd_handle *h = test_create ();
  char *desc;

  it_section ("socket-activation: %s with socket name \"%s\"",
              aio ? "aio" : "sync", name ? name : "(default)");
  if (name)
    CHECK_OK (nbd_set_socket_activation_name (h, name));
  CHECK_OK (nbd_set_full_info (h, true));
  if (aio) {
    CHECK_OK (nbd_aio_connect_systemd_socket_activation (h, sa_nbdkit_argv ()));
    CHECK_OK (it_drive (h, it_not_connecting, NULL));
  }
  else
    CHECK_OK (nbd_connect_systemd_socket_activation (h, sa_nbdkit_argv ()));
  CHECK (nbd_aio_is_ready (h));
  desc = nbd_get_export_description (h);
  printf ("   the server saw LISTEN_FDNAMES: %s\n", desc ? desc : "(no description)");
  CHECK_STR (desc, want_desc);
  free (desc);
  CHECK_OK (nbd_shutdown (h, 0));
  nbd_close (h);
}

static void
sa_fakesrv_case (void)
{
  struct nbd_handle *h = test_create ();
  it_section ("socket-activation: the fake server, which accepts on fd 3");
  CHECK_OK (nbd_connect_systemd_socket_activation (h, it_fakesrv ("--export", ":fake disk:1M",
                                                                  NULL)));
  CHECK (nbd_aio_is_ready (h));
  CHECK_INT (nbd_get_size (h), DISK_SIZE);
  CHECK_OK (nbd_shutdown (h, 0));
  nbd_close (h);
}

/* ---- main ---- */

static pid_t
start_nbdkit_unix (void)
{
  const char *pidfile = it_path ("nbdkit.pid");
  char **argv;
  pid_t pid;

  unix_sock = it_path ("nbdkit.sock");
  argv = it_argv ("nbdkit", "-f", "--exit-with-parent", "-U", unix_sock,
                  "-P", pidfile, "memory", "1M", NULL);
  it_print_argv ("server", argv);
  pid = it_spawn (argv);
  if (!it_wait_file (pid, pidfile)) {
    fprintf (stderr, "nbdkit did not start\n");
    exit (99);
  }
  return pid;
}

static void
start_nbdkit_tcp (void)
{
  for (int attempt = 0; attempt < 5; attempt++) {
    const char *pidfile = it_path ("nbdkit-tcp.pid");
    char **argv;
    pid_t pid;

    snprintf (tcp_port, sizeof tcp_port, "%d", it_free_port ());
    argv = it_argv ("nbdkit", "-f", "--exit-with-parent", "-i", "127.0.0.1",
                    "-p", tcp_port, "-P", pidfile, "memory", "1M", NULL);
    it_print_argv ("server", argv);
    pid = it_spawn (argv);
    if (it_wait_file (pid, pidfile))
      return;
    it_stop (pid);              /* probably lost the port race: again */
  }
  fprintf (stderr, "nbdkit did not start on TCP\n");
  exit (99);
}

static bool
vsock_loopback_works (void)
{
#ifdef AF_VSOCK
  struct { sa_family_t family; unsigned short reserved; unsigned port, cid;
           unsigned char zero[4]; } addr;
  int fd = socket (AF_VSOCK, SOCK_STREAM | SOCK_CLOEXEC, 0);
  bool ok;
  if (fd == -1)
    return false;
  memset (&addr, 0, sizeof addr);
  addr.family = AF_VSOCK;
  addr.port = 0xffffffffu;      /* any */
  addr.cid = 1;                 /* VMADDR_CID_LOCAL */
  ok = bind (fd, (struct sockaddr *) &addr, sizeof addr) == 0;
  close (fd);
  return ok;
#else
  return false;
#endif
}

int
main (int argc, char *argv[])
{
  if (argc != 2) {
    fprintf (stderr, "usage: %s METHOD\n", argv[0]);
    return 99;
  }
  method = argv[1];
  it_init ();
  if (!it_have ("nbdkit"))
    TEST_SKIP ("nbdkit is not installed");

  if (strcmp (method, "unix") == 0 || strcmp (method, "socket") == 0) {
    start_nbdkit_unix ();
    sync_case (false);
    sync_case (true);
    aio_case (false);
    aio_case (true);
    connect_to_nothing ();
  }
  else if (strcmp (method, "tcp") == 0) {
    start_nbdkit_tcp ();
    const char *hosts[] = { "127.0.0.1", "localhost" };
    for (int i = 0; i < 2; i++) {
      snprintf (tcp_host, sizeof tcp_host, "%s", hosts[i]);
      printf ("-- host \"%s\", port %s\n", tcp_host, tcp_port);
      sync_case (false);
      sync_case (true);
      aio_case (false);
      aio_case (true);
    }
    connect_to_nothing ();
  }
  else if (strcmp (method, "command") == 0) {
    cmd_argv = it_argv ("nbdkit", "-s", "--exit-with-parent", "memory", "1M", NULL);
    sync_case (false);
    sync_case (true);
    aio_case (false);
    aio_case (true);
    kill_subprocess_case ();
    it_section ("command: the fake server as a subprocess");
    cmd_argv = it_fakesrv ("--export", ":fake:1M", NULL);
    sync_case (false);
    aio_case (true);
    connect_to_nothing ();
  }
  else if (strcmp (method, "socket-activation") == 0) {
    cmd_argv = it_argv ("nbdkit", "--exit-with-parent", "memory", "1M", NULL);
    sync_case (false);
    sync_case (true);
    aio_case (false);
    aio_case (true);
    sa_name_case (false, "interop-sock", "names=[interop-sock]");
    sa_name_case (true, "a.b_c-9", "names=[a.b_c-9]");
    sa_name_case (false, NULL, "names=[unknown]");
    {
      struct nbd_handle *h = test_create ();
      it_section ("socket-activation: names the server cannot receive are refused");
      CHECK_FAIL (nbd_set_socket_activation_name (h, "has space"), EINVAL,
                  "nbd_set_socket_activation_name");
      CHECK_FAIL (nbd_set_socket_activation_name (h, "colon:name"), EINVAL,
                  "nbd_set_socket_activation_name");
      nbd_close (h);
    }
    sa_fakesrv_case ();
  }
  else if (strcmp (method, "vsock") == 0) {
    struct nbd_handle *h = test_create ();
    int supported = nbd_supports_vsock (h);
    nbd_close (h);
    if (!supported)
      TEST_SKIP ("nbd_supports_vsock is false: connect_vsock not tested");
    vsock_port = 0x40000000u + (uint32_t) (getpid () & 0xffff);
    if (!vsock_loopback_works ()) {
      /* Still: a connect with no server must fail cleanly. */
      h = test_create ();
      it_section ("vsock: no loopback transport; a connect fails cleanly");
      CHECK (nbd_connect_vsock (h, 1, vsock_port) == -1);
      IT_CHECK (test_starts_with (nbd_get_error (), "nbd_connect_vsock: "),
                "message names the call");
      nbd_close (h);
      if (test_failed)
        return test_exit ();
      TEST_SKIP ("AF_VSOCK exists but cannot bind CID 1 (no vsock_loopback): "
                 "nbd_connect_vsock against a server not tested");
    }
    {
      char port[16];
      pid_t pid;
      snprintf (port, sizeof port, "%u", vsock_port);
      pid = it_spawn (it_argv ("nbdkit", "-f", "--exit-with-parent", "--vsock",
                               "-p", port, "-P", it_path ("vsock.pid"),
                               "memory", "1M", NULL));
      if (!it_wait_file (pid, it_path ("vsock.pid")))
        TEST_SKIP ("nbdkit --vsock did not start");
      sync_case (false);
      aio_case (false);
    }
  }
  else {
    fprintf (stderr, "unknown method %s\n", method);
    return 99;
  }
  return test_exit ();
}
