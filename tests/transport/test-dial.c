/* Tests for the dialers and the plain socket transport, over real
 * loopback sockets and real child processes.
 *
 * The dialer sources are compiled into this program, so the program
 * can also stand in for getaddrinfo: a few host names ending in
 * ".fastnbd.test" resolve to address lists we choose, which is the only
 * way to exercise the walk over several addresses on a machine whose
 * "localhost" has a single address.  Every other name goes to the C
 * library. */
#include <dirent.h>
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "test.h"
#include "transport/dial.h"
#include "transport/transport.h"

static char tmpdir[256];

/* A dialer check also shows the dialer's error. */
#define CHECK_DIALER(d, cond)                                           \
  CHECK_MSG ((cond), "%s (err %d %s, what \"%s\")", #cond, (d)->err,   \
             strerror ((d)->err), (d)->what)

static void
section (const char *name)
{
  printf ("== %s\n", name);
  fflush (stdout);
}

/* ---- the stand-in resolver ---- */

struct fake_node {
  struct addrinfo ai;
  struct sockaddr_storage ss;
};

#define MAX_FAKE_LISTS 16
static struct addrinfo *fake_lists[MAX_FAKE_LISTS];

static struct addrinfo *
fake_node (const char *ip, int port, socklen_t forced_len)
{
  struct fake_node *n = calloc (1, sizeof *n);
  struct sockaddr_in *sin = (struct sockaddr_in *) &n->ss;
  struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *) &n->ss;

  if (n == NULL)
    abort ();
  n->ai.ai_socktype = SOCK_STREAM;
  n->ai.ai_protocol = IPPROTO_TCP;
  n->ai.ai_addr = (struct sockaddr *) &n->ss;
  if (inet_pton (AF_INET, ip, &sin->sin_addr) == 1) {
    sin->sin_family = AF_INET;
    sin->sin_port = htons (port);
    n->ai.ai_family = AF_INET;
    n->ai.ai_addrlen = sizeof *sin;
  }
  else if (inet_pton (AF_INET6, ip, &sin6->sin6_addr) == 1) {
    sin6->sin6_family = AF_INET6;
    sin6->sin6_port = htons (port);
    n->ai.ai_family = AF_INET6;
    n->ai.ai_addrlen = sizeof *sin6;
  }
  else
    abort ();
  /* A truncated address makes connect() fail with EINVAL: a failure
   * that differs from ECONNREFUSED without touching any network. */
  if (forced_len)
    n->ai.ai_addrlen = forced_len;
  return &n->ai;
}

/* Build a list from "ip" entries; "!ip" means the same address with a
 * truncated length. */
static struct addrinfo *
fake_list (int port, const char *const *ips)
{
  struct addrinfo *head = NULL, **tail = &head;
  size_t i;

  for (i = 0; ips[i] != NULL; i++) {
    const char *ip = ips[i];
    socklen_t forced = 0;

    if (ip[0] == '!') {
      ip++;
      forced = 2;
    }
    *tail = fake_node (ip, port, forced);
    tail = &(*tail)->ai_next;
  }
  for (i = 0; i < MAX_FAKE_LISTS; i++) {
    if (fake_lists[i] == NULL) {
      fake_lists[i] = head;
      return head;
    }
  }
  abort ();
}

int
getaddrinfo (const char *node, const char *service,
             const struct addrinfo *hints, struct addrinfo **res)
{
  static const char *const refuse_then_ok[] =
    { "127.0.0.2", "::1", "127.0.0.1", NULL };
  static const char *const badlen_then_refuse[] =
    { "!127.0.0.1", "127.0.0.1", NULL };
  static const char *const refuse_then_badlen[] =
    { "127.0.0.1", "!127.0.0.1", NULL };
  int (*real) (const char *, const char *, const struct addrinfo *,
               struct addrinfo **);
  int port = service ? atoi (service) : 0;

  if (node != NULL && strcmp (node, "refuse-then-ok.fastnbd.test") == 0) {
    *res = fake_list (port, refuse_then_ok);
    return 0;
  }
  if (node != NULL && strcmp (node, "badlen-then-refuse.fastnbd.test") == 0) {
    *res = fake_list (port, badlen_then_refuse);
    return 0;
  }
  if (node != NULL && strcmp (node, "refuse-then-badlen.fastnbd.test") == 0) {
    *res = fake_list (port, refuse_then_badlen);
    return 0;
  }
  *(void **) &real = dlsym (RTLD_NEXT, "getaddrinfo");
  if (real == NULL)
    abort ();
  return real (node, service, hints, res);
}

void
freeaddrinfo (struct addrinfo *res)
{
  void (*real) (struct addrinfo *);
  size_t i;

  for (i = 0; i < MAX_FAKE_LISTS; i++) {
    if (res != NULL && fake_lists[i] == res) {
      fake_lists[i] = NULL;
      while (res) {
        struct addrinfo *next = res->ai_next;
        free (res);             /* ai is the first member of fake_node */
        res = next;
      }
      return;
    }
  }
  *(void **) &real = dlsym (RTLD_NEXT, "freeaddrinfo");
  if (real == NULL)
    abort ();
  real (res);
}

/* ---- helpers ---- */

static int
count_fds (void)
{
  DIR *dir = opendir ("/proc/self/fd");
  struct dirent *e;
  int n = 0;

  if (dir == NULL)
    return -1;
  while ((e = readdir (dir)) != NULL) {
    if (e->d_name[0] != '.')
      n++;
  }
  closedir (dir);
  return n;
}

static bool
fd_is_nonblocking_cloexec (int fd)
{
  int fl = fcntl (fd, F_GETFL), fdfl = fcntl (fd, F_GETFD);

  return fl != -1 && fdfl != -1 && (fl & O_NONBLOCK) && (fdfl & FD_CLOEXEC);
}

/* Drive a dial to its end the way the library's sync path would. */
static int
finish (struct nbdi_dialer *d, int r)
{
  while (r == 0 && d->in_progress) {
    struct pollfd p = { .fd = d->fd, .events = POLLOUT };

    if (poll (&p, 1, 10000) != 1) {
      test_report (__FILE__, __LINE__, "connect did not finish in 10s");
      return -1;
    }
    r = nbdi_dial_continue (d);
    if (r == 1)
      return 0;
    if (r == -1)
      return -1;
  }
  return r;
}

static int
tcp_listener (const char *ip, int *port)
{
  struct sockaddr_in sin = { .sin_family = AF_INET };
  socklen_t len = sizeof sin;
  int fd = socket (AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

  if (fd == -1)
    return -1;
  inet_pton (AF_INET, ip, &sin.sin_addr);
  if (bind (fd, (struct sockaddr *) &sin, sizeof sin) == -1 ||
      listen (fd, 16) == -1 ||
      getsockname (fd, (struct sockaddr *) &sin, &len) == -1) {
    close (fd);
    return -1;
  }
  *port = ntohs (sin.sin_port);
  return fd;
}

/* A port on 127.0.0.1 where nothing listens: bound then released. */
static int
closed_port (void)
{
  int port, fd = tcp_listener ("127.0.0.1", &port);

  if (fd == -1)
    abort ();
  close (fd);
  return port;
}

static int
unix_listener (const char *path)
{
  struct sockaddr_un sun = { .sun_family = AF_UNIX };
  int fd = socket (AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

  if (fd == -1)
    return -1;
  snprintf (sun.sun_path, sizeof sun.sun_path, "%s", path);
  if (bind (fd, (struct sockaddr *) &sun, sizeof sun) == -1 ||
      listen (fd, 16) == -1) {
    close (fd);
    return -1;
  }
  return fd;
}

/* Read until EOF or size-1 bytes, waiting up to 10s per read. */
static size_t
read_all (int fd, char *buf, size_t size)
{
  size_t got = 0;

  while (got < size - 1) {
    struct pollfd p = { .fd = fd, .events = POLLIN };
    ssize_t r;

    if (poll (&p, 1, 10000) != 1)
      break;
    r = read (fd, buf + got, size - 1 - got);
    if (r == -1 && (errno == EAGAIN || errno == EINTR))
      continue;
    if (r <= 0)
      break;
    got += (size_t) r;
  }
  buf[got] = '\0';
  return got;
}

/* Wait for exactly n bytes (a partial answer is enough for some
 * tests, where the peer keeps the connection open). */
static size_t
read_n (int fd, char *buf, size_t n)
{
  size_t got = 0;

  while (got < n) {
    struct pollfd p = { .fd = fd, .events = POLLIN };
    ssize_t r;

    if (poll (&p, 1, 10000) != 1)
      break;
    r = read (fd, buf + got, n - got);
    if (r == -1 && (errno == EAGAIN || errno == EINTR))
      continue;
    if (r <= 0)
      break;
    got += (size_t) r;
  }
  return got;
}

static int
child_exit_status (pid_t pid)
{
  int status;

  while (waitpid (pid, &status, 0) == -1) {
    if (errno != EINTR)
      return -1;
  }
  return WIFEXITED (status) ? WEXITSTATUS (status) : 1000 + WTERMSIG (status);
}

/* ---- unix ---- */

static void
test_unix (void)
{
  struct nbdi_dialer d;
  char path[512], stale[512], longpath[300];
  int lfd, sfd, peer;

  section ("unix");
  snprintf (path, sizeof path, "%s/listen.sock", tmpdir);
  lfd = unix_listener (path);
  CHECK (lfd >= 0);

  nbdi_dialer_init (&d);
  CHECK (d.fd == -1 && d.pid == -1 && d.tmpdir == NULL);
  CHECK_DIALER (&d, finish (&d, nbdi_dial_unix (&d, path)) == 0);
  CHECK (d.fd >= 0 && !d.in_progress);
  CHECK (fd_is_nonblocking_cloexec (d.fd));
  CHECK (nbdi_dial_continue (&d) == 1);
  peer = accept (lfd, NULL, NULL);
  CHECK (peer >= 0);
  sfd = nbdi_dialer_take_fd (&d);
  CHECK (sfd >= 0 && d.fd == -1);
  CHECK (write (sfd, "x", 1) == 1);
  {
    char c = 0;
    CHECK (read (peer, &c, 1) == 1 && c == 'x');
  }
  nbdi_dialer_cleanup (&d);
  /* The fd was taken, so cleanup must have left it open. */
  CHECK (fcntl (sfd, F_GETFD) != -1);
  close (sfd);
  close (peer);
  close (lfd);
  unlink (path);

  /* A missing path. */
  snprintf (path, sizeof path, "%s/missing.sock", tmpdir);
  nbdi_dialer_init (&d);
  CHECK (nbdi_dial_unix (&d, path) == -1);
  CHECK_DIALER (&d, d.err == ENOENT);
  CHECK_DIALER (&d, strstr (d.what, "connect: ") == d.what &&
                strstr (d.what, path) != NULL);
  CHECK (d.fd == -1);
  nbdi_dialer_cleanup (&d);

  /* A socket file nobody listens on any more. */
  snprintf (stale, sizeof stale, "%s/stale.sock", tmpdir);
  lfd = unix_listener (stale);
  CHECK (lfd >= 0);
  close (lfd);
  nbdi_dialer_init (&d);
  CHECK (nbdi_dial_unix (&d, stale) == -1);
  CHECK_DIALER (&d, d.err == ECONNREFUSED);
  CHECK_DIALER (&d, strstr (d.what, stale) != NULL);
  nbdi_dialer_cleanup (&d);
  unlink (stale);

  /* Longer than sun_path. */
  memset (longpath, 'a', sizeof longpath - 1);
  longpath[0] = '/';
  longpath[sizeof longpath - 1] = '\0';
  nbdi_dialer_init (&d);
  CHECK (nbdi_dial_unix (&d, longpath) == -1);
  CHECK_DIALER (&d, d.err == ENAMETOOLONG);
  nbdi_dialer_cleanup (&d);
}

/* ---- tcp ---- */

static void
check_peer_is (int fd, const char *ip)
{
  struct sockaddr_storage ss;
  socklen_t len = sizeof ss;
  char host[64];

  CHECK (getpeername (fd, (struct sockaddr *) &ss, &len) == 0);
  CHECK (getnameinfo ((struct sockaddr *) &ss, len, host, sizeof host,
                      NULL, 0, NI_NUMERICHOST) == 0);
  if (strcmp (host, ip) != 0) {
    test_report (__FILE__, __LINE__, "connected to %s, expected %s", host, ip);
  }
}

static void
test_tcp_simple (void)
{
  struct nbdi_dialer d;
  char portstr[16];
  int port, lfd, peer;

  section ("tcp 127.0.0.1");
  lfd = tcp_listener ("127.0.0.1", &port);
  CHECK (lfd >= 0);
  snprintf (portstr, sizeof portstr, "%d", port);

  nbdi_dialer_init (&d);
  CHECK_DIALER (&d, finish (&d, nbdi_dial_tcp (&d, "127.0.0.1", portstr)) == 0);
  CHECK (d.fd >= 0 && !d.in_progress);
  CHECK (fd_is_nonblocking_cloexec (d.fd));
  check_peer_is (d.fd, "127.0.0.1");
  peer = accept (lfd, NULL, NULL);
  CHECK (peer >= 0);
  close (peer);
  nbdi_dialer_cleanup (&d);
  CHECK (d.fd == -1 && d.addrs == NULL);

  section ("sockaddr 127.0.0.1");
  {
    struct sockaddr_in sin = {
      .sin_family = AF_INET,
      .sin_port = htons (port),
      .sin_addr.s_addr = htonl (INADDR_LOOPBACK),
    };

    nbdi_dialer_init (&d);
    CHECK_DIALER (&d, finish (&d, nbdi_dial_sockaddr (&d,
                                                      (struct sockaddr *) &sin,
                                                      sizeof sin)) == 0);
    CHECK (fd_is_nonblocking_cloexec (d.fd));
    peer = accept (lfd, NULL, NULL);
    CHECK (peer >= 0);
    close (peer);
    nbdi_dialer_cleanup (&d);
  }
  close (lfd);
}

static void
test_tcp_fallback (void)
{
  struct nbdi_dialer d;
  char portstr[16], expect[128];
  int port, lfd, peer, cport;

  section ("tcp: first addresses refuse, a later one answers");
  lfd = tcp_listener ("127.0.0.1", &port);
  CHECK (lfd >= 0);
  snprintf (portstr, sizeof portstr, "%d", port);
  nbdi_dialer_init (&d);
  CHECK_DIALER (&d, finish (&d, nbdi_dial_tcp (&d, "refuse-then-ok.fastnbd.test",
                                               portstr)) == 0);
  CHECK (d.fd >= 0 && !d.in_progress);
  check_peer_is (d.fd, "127.0.0.1");
  peer = accept (lfd, NULL, NULL);
  CHECK (peer >= 0);
  close (peer);
  nbdi_dialer_cleanup (&d);

  /* The same through the real resolver, when localhost has more than
   * one address and the first is not the one we listen on. */
  section ("tcp: localhost through the real resolver");
  {
    struct addrinfo hints = { .ai_family = AF_UNSPEC,
                              .ai_socktype = SOCK_STREAM };
    struct addrinfo *res = NULL, *a;
    char host[64];
    int n = 0, first_is_v4lo = 0, later_v4lo = 0;

    if (getaddrinfo ("localhost", portstr, &hints, &res) == 0) {
      for (a = res; a; a = a->ai_next, n++) {
        if (getnameinfo (a->ai_addr, a->ai_addrlen, host, sizeof host,
                         NULL, 0, NI_NUMERICHOST) != 0)
          continue;
        if (strcmp (host, "127.0.0.1") == 0) {
          if (n == 0)
            first_is_v4lo = 1;
          else
            later_v4lo = 1;
        }
      }
      freeaddrinfo (res);
    }
    if (n < 2 || first_is_v4lo || !later_v4lo)
      printf ("SKIP: localhost resolves to %d address(es) here, not"
              " ::1 before 127.0.0.1; the fallback was checked above"
              " with a stand-in resolver\n", n);
    else {
      nbdi_dialer_init (&d);
      CHECK_DIALER (&d, finish (&d, nbdi_dial_tcp (&d, "localhost",
                                                   portstr)) == 0);
      check_peer_is (d.fd, "127.0.0.1");
      peer = accept (lfd, NULL, NULL);
      CHECK (peer >= 0);
      close (peer);
      nbdi_dialer_cleanup (&d);
    }
  }
  close (lfd);

  section ("tcp: every address fails, the last error is reported");
  cport = closed_port ();
  snprintf (portstr, sizeof portstr, "%d", cport);
  nbdi_dialer_init (&d);
  CHECK (finish (&d, nbdi_dial_tcp (&d, "127.0.0.1", portstr)) == -1);
  CHECK_DIALER (&d, d.err == ECONNREFUSED);
  snprintf (expect, sizeof expect, "connect: 127.0.0.1 port %d", cport);
  CHECK_DIALER (&d, strcmp (d.what, expect) == 0);
  CHECK (d.fd == -1);
  nbdi_dialer_cleanup (&d);

  nbdi_dialer_init (&d);
  CHECK (finish (&d, nbdi_dial_tcp (&d, "badlen-then-refuse.fastnbd.test",
                                    portstr)) == -1);
  CHECK_DIALER (&d, d.err == ECONNREFUSED);
  CHECK_DIALER (&d, strcmp (d.what, expect) == 0);
  CHECK (d.fd == -1);
  nbdi_dialer_cleanup (&d);

  nbdi_dialer_init (&d);
  CHECK (finish (&d, nbdi_dial_tcp (&d, "refuse-then-badlen.fastnbd.test",
                                    portstr)) == -1);
  CHECK_DIALER (&d, d.err == EINVAL);
  CHECK_DIALER (&d, strncmp (d.what, "connect: ", 9) == 0 &&
                strcmp (d.what, expect) != 0);
  CHECK (d.fd == -1);
  nbdi_dialer_cleanup (&d);
}

static void
test_tcp_names (void)
{
  struct nbdi_dialer d;

  section ("tcp: bad names");
  nbdi_dialer_init (&d);
  CHECK (nbdi_dial_tcp (&d, "example.invalid", "80") == -1);
  CHECK_DIALER (&d, d.err != 0);
  CHECK_DIALER (&d, strncmp (d.what, "getaddrinfo: example.invalid:80: ",
                             33) == 0 && strlen (d.what) > 33);
  CHECK (d.fd == -1 && d.addrs == NULL);
  printf ("  example.invalid -> %s (%s)\n", d.what, strerror (d.err));
  nbdi_dialer_cleanup (&d);

  nbdi_dialer_init (&d);
  CHECK (nbdi_dial_tcp (&d, "127.0.0.1", "no-such-service-fastnbd") == -1);
  CHECK_DIALER (&d, d.err != 0);
  CHECK_DIALER (&d, strncmp (d.what,
                             "getaddrinfo: 127.0.0.1:no-such-service-fastnbd: ",
                             48) == 0);
  nbdi_dialer_cleanup (&d);

  nbdi_dialer_init (&d);
  CHECK (nbdi_dial_tcp (&d, NULL, "80") == -1);
  CHECK_DIALER (&d, d.err == EINVAL);
  nbdi_dialer_cleanup (&d);
}

/* ---- vsock, adoption ---- */

static void
test_vsock (void)
{
  struct nbdi_dialer d;
  int r;

  section ("vsock");
  nbdi_dialer_init (&d);
  /* cid 1 is the local loopback cid; nothing listens on this port, so
   * the dial must fail one way or another, never hang. */
  r = finish (&d, nbdi_dial_vsock (&d, 1, 0x7ffffff0));
  if (!nbdi_vsock_supported ()) {
    CHECK (r == -1);
    CHECK_DIALER (&d, d.err == EAFNOSUPPORT);
  }
  else if (r == -1)
    CHECK_DIALER (&d, d.err != 0 && strstr (d.what, "vsock") != NULL);
  printf ("  vsock supported: %s; dial: %s\n",
          nbdi_vsock_supported () ? "yes" : "no",
          r == 0 ? "connected" : d.what);
  nbdi_dialer_cleanup (&d);
}

static void
test_adopt (void)
{
  struct nbdi_dialer d;
  int sv[2], fd;

  section ("adopt a socket");
  CHECK (socketpair (AF_UNIX, SOCK_STREAM, 0, sv) == 0);
  CHECK (!fd_is_nonblocking_cloexec (sv[0]));
  nbdi_dialer_init (&d);
  CHECK_DIALER (&d, nbdi_dial_socket (&d, sv[0]) == 0);
  CHECK (d.fd == sv[0] && !d.in_progress);
  CHECK (fd_is_nonblocking_cloexec (sv[0]));
  CHECK (nbdi_dial_continue (&d) == 1);
  nbdi_dialer_cleanup (&d);
  /* Cleanup closes an fd that was not taken. */
  CHECK (send (sv[1], "x", 1, MSG_NOSIGNAL) == -1 && errno == EPIPE);
  close (sv[1]);

  nbdi_dialer_init (&d);
  CHECK (nbdi_dial_socket (&d, -1) == -1);
  CHECK_DIALER (&d, d.err == EBADF);
  nbdi_dialer_cleanup (&d);

  /* A number that is not open. */
  fd = open ("/dev/null", O_RDONLY | O_CLOEXEC);
  CHECK (fd >= 0);
  close (fd);
  nbdi_dialer_init (&d);
  CHECK (nbdi_dial_socket (&d, fd) == -1);
  CHECK_DIALER (&d, d.err == EBADF);
  nbdi_dialer_cleanup (&d);
}

/* ---- commands ---- */

static void
test_command (void)
{
  char *hello_argv[] = {
    (char *) "sh", (char *) "-c",
    (char *) "printf hello; cat >/dev/null; exit 7", NULL
  };
  char *status_argv[] = {
    (char *) "cat", (char *) "/proc/self/status", NULL
  };
  char *missing_argv[] = { (char *) "no-such-program-fastnbd", NULL };
  char *missing_abs_argv[] = { (char *) "/nonexistent/fastnbd", NULL };
  char *empty_argv[] = { NULL };
  struct nbdi_dialer d;
  struct nbdi_transport *t;
  char buf[8192];
  pid_t pid;

  section ("command: sh -c 'printf hello; cat >/dev/null'");
  nbdi_dialer_init (&d);
  CHECK_DIALER (&d, nbdi_dial_command (&d, hello_argv) == 0);
  CHECK (d.fd >= 0 && d.pid > 0 && !d.in_progress);
  CHECK (fd_is_nonblocking_cloexec (d.fd));
  pid = d.pid;
  CHECK (read_n (d.fd, buf, 5) == 5 && memcmp (buf, "hello", 5) == 0);
  CHECK (!nbdi_child_reap (pid, false));
  /* Closing our write side ends cat's input, so the shell exits. */
  t = nbdi_transport_socket (nbdi_dialer_take_fd (&d));
  CHECK (t != NULL);
  CHECK (t->ops->shutdown (t) == 0);
  CHECK (child_exit_status (pid) == 7);
  CHECK (nbdi_child_reap (pid, false));  /* already gone: still true */
  t->ops->close (t);
  nbdi_dialer_cleanup (&d);

  section ("command: the child gets default SIGPIPE and an empty mask");
  {
    struct sigaction ign = { .sa_handler = SIG_IGN }, old;
    sigset_t block, oldmask;
    unsigned long long blk = ~0ULL, ignmask = ~0ULL;
    char *p;

    sigemptyset (&ign.sa_mask);
    sigaction (SIGPIPE, &ign, &old);
    sigemptyset (&block);
    sigaddset (&block, SIGUSR1);
    sigprocmask (SIG_BLOCK, &block, &oldmask);
    nbdi_dialer_init (&d);
    CHECK_DIALER (&d, nbdi_dial_command (&d, status_argv) == 0);
    sigprocmask (SIG_SETMASK, &oldmask, NULL);
    sigaction (SIGPIPE, &old, NULL);
    pid = d.pid;
    read_all (d.fd, buf, sizeof buf);
    if ((p = strstr (buf, "SigBlk:")) != NULL)
      blk = strtoull (p + 7, NULL, 16);
    if ((p = strstr (buf, "SigIgn:")) != NULL)
      ignmask = strtoull (p + 7, NULL, 16);
    CHECK (blk == 0);
    CHECK ((ignmask & (1ULL << (SIGPIPE - 1))) == 0);
    CHECK (nbdi_child_reap (pid, true));
    nbdi_dialer_cleanup (&d);
  }

  section ("command: a file without #! runs through /bin/sh");
  {
    char script[512];
    char *script_argv[] = { script, (char *) "arg1", NULL };
    FILE *fp;

    snprintf (script, sizeof script, "%s/noshebang", tmpdir);
    fp = fopen (script, "w");
    CHECK (fp != NULL);
    if (fp != NULL) {
      fputs ("printf 'plain %s' \"$1\"\n", fp);
      fclose (fp);
    }
    CHECK (chmod (script, 0755) == 0);
    nbdi_dialer_init (&d);
    CHECK_DIALER (&d, nbdi_dial_command (&d, script_argv) == 0);
    pid = d.pid;
    read_all (d.fd, buf, sizeof buf);
    CHECK (strcmp (buf, "plain arg1") == 0);
    CHECK (child_exit_status (pid) == 0);
    nbdi_dialer_cleanup (&d);

    /* Not executable at all. */
    CHECK (chmod (script, 0644) == 0);
    nbdi_dialer_init (&d);
    CHECK_DIALER (&d, nbdi_dial_command (&d, script_argv) == 0);
    CHECK (child_exit_status (d.pid) == 126);
    nbdi_dialer_cleanup (&d);
    unlink (script);
  }

  section ("command: a program that does not exist");
  nbdi_dialer_init (&d);
  CHECK_DIALER (&d, nbdi_dial_command (&d, missing_argv) == 0);
  pid = d.pid;
  /* The child's end closes when it exits: we read end of stream. */
  CHECK (read_all (d.fd, buf, sizeof buf) == 0);
  CHECK (child_exit_status (pid) == 126);
  nbdi_dialer_cleanup (&d);

  nbdi_dialer_init (&d);
  CHECK_DIALER (&d, nbdi_dial_command (&d, missing_abs_argv) == 0);
  pid = d.pid;
  /* Reap through the dialer API this time; poll until it is gone. */
  {
    int tries = 0;

    while (!nbdi_child_reap (pid, false) && tries++ < 1000)
      usleep (10000);
    CHECK (tries < 1000);
  }
  nbdi_dialer_cleanup (&d);

  section ("command: empty argv");
  nbdi_dialer_init (&d);
  CHECK (nbdi_dial_command (&d, empty_argv) == -1);
  CHECK_DIALER (&d, d.err == EINVAL);
  CHECK (nbdi_dial_command (&d, NULL) == -1);
  CHECK_DIALER (&d, d.err == EINVAL);
  CHECK (d.fd == -1 && d.pid == -1);
  nbdi_dialer_cleanup (&d);
}

static void
test_kill_reap (void)
{
  char *sleep_argv[] = { (char *) "sleep", (char *) "100", NULL };
  struct nbdi_dialer d;
  int status;

  section ("child kill / reap");
  nbdi_dialer_init (&d);
  CHECK_DIALER (&d, nbdi_dial_command (&d, sleep_argv) == 0);
  CHECK (!nbdi_child_reap (d.pid, false));
  CHECK (nbdi_child_kill (d.pid, SIGTERM) == 0);
  CHECK (nbdi_child_reap (d.pid, true));
  /* Reaped: waitpid has nothing left. */
  CHECK (waitpid (d.pid, &status, WNOHANG) == -1 && errno == ECHILD);
  nbdi_dialer_cleanup (&d);

  errno = 0;
  CHECK (nbdi_child_kill (0, SIGTERM) == -1 && errno == ESRCH);
  errno = 0;
  CHECK (nbdi_child_kill (-1, SIGTERM) == -1 && errno == ESRCH);
  CHECK (nbdi_child_reap (-1, false));
}

/* ---- socket activation ---- */

static const char activation_server[] =
  "import os, socket\n"
  "s = socket.socket(fileno=3)\n"
  "c, _ = s.accept()\n"
  "socks = []\n"
  "for fd in os.listdir('/proc/self/fd'):\n"
  "    try:\n"
  "        l = os.readlink('/proc/self/fd/' + fd)\n"
  "    except OSError:\n"
  "        continue\n"
  "    if l.startswith('socket:') and int(fd) not in (3, c.fileno()):\n"
  "        socks.append(l[8:-1])\n"
  "env = os.environ\n"
  "ok = env.get('LISTEN_PID') == str(os.getpid())\n"
  "msg = '%s pid=%s listen_pid=%s fds=%s names=%s socks=%s\\n' % (\n"
  "    'ok' if ok else 'bad', os.getpid(), env.get('LISTEN_PID'),\n"
  "    env.get('LISTEN_FDS'), env.get('LISTEN_FDNAMES'), ','.join(socks))\n"
  "c.sendall(msg.encode())\n"
  "c.close()\n";

static void
run_activation (const char *name, const char *expect_name)
{
  char *argv[] = {
    (char *) "python3", (char *) "-c", (char *) activation_server, NULL
  };
  struct nbdi_dialer d;
  struct stat st;
  char buf[1024], expect[256], dir[256], *socks;
  pid_t pid;

  nbdi_dialer_init (&d);
  CHECK_DIALER (&d, finish (&d, nbdi_dial_socket_activation (&d, argv,
                                                             name)) == 0);
  if (d.fd < 0) {
    nbdi_dialer_cleanup (&d);
    return;
  }
  CHECK (fd_is_nonblocking_cloexec (d.fd));
  CHECK (d.pid > 0 && d.tmpdir != NULL);
  pid = d.pid;
  snprintf (dir, sizeof dir, "%s", d.tmpdir);
  CHECK (stat (dir, &st) == 0 && S_ISDIR (st.st_mode) &&
         (st.st_mode & 0777) == 0700);

  read_all (d.fd, buf, sizeof buf);
  printf ("  server said: %s", buf);
  snprintf (expect, sizeof expect,
            "ok pid=%d listen_pid=%d fds=1 names=%s socks=",
            (int) pid, (int) pid, expect_name);
  CHECK (strncmp (buf, expect, strlen (expect)) == 0);
  /* Our end of the connection must not have leaked into the server. */
  {
    char ino[32];

    CHECK (fstat (d.fd, &st) == 0);
    snprintf (ino, sizeof ino, "%lu", (unsigned long) st.st_ino);
    socks = strstr (buf, "socks=");
    CHECK (socks != NULL && strstr (socks, ino) == NULL);
  }
  CHECK (child_exit_status (pid) == 0);
  nbdi_dialer_cleanup (&d);
  CHECK (d.tmpdir == NULL && d.fd == -1);
  CHECK (stat (dir, &st) == -1 && errno == ENOENT);
}

static void
test_socket_activation (void)
{
  char *missing_argv[] = { (char *) "no-such-program-fastnbd", NULL };
  char *empty_argv[] = { NULL };
  struct nbdi_dialer d;
  int saved3 = -1, saved3_flags = 0, nullfd;

  /* An inherited LISTEN_PID must be replaced, not passed on. */
  setenv ("LISTEN_PID", "1", 1);
  setenv ("LISTEN_FDNAMES", "stale", 1);

  /* With fd 3 free the listening socket lands on 3 itself, the case
   * where dup2 cannot be used to clear close-on-exec. */
  section ("socket activation: listening socket already on fd 3");
  if (fcntl (3, F_GETFD) != -1) {
    saved3_flags = fcntl (3, F_GETFD);
    saved3 = fcntl (3, F_DUPFD_CLOEXEC, 100);
    close (3);
  }
  run_activation ("nbd", "nbd");
  if (saved3 >= 0) {
    dup2 (saved3, 3);
    fcntl (3, F_SETFD, saved3_flags);
    close (saved3);
  }

  section ("socket activation: fd 3 taken by something else");
  nullfd = -1;
  if (fcntl (3, F_GETFD) == -1)
    nullfd = open ("/dev/null", O_RDONLY);     /* not close-on-exec */
  CHECK (fcntl (3, F_GETFD) != -1);
  run_activation ("", "unknown");
  run_activation (NULL, "unknown");
  if (nullfd >= 0)
    close (nullfd);

  unsetenv ("LISTEN_PID");
  unsetenv ("LISTEN_FDNAMES");

  section ("socket activation: errors");
  nbdi_dialer_init (&d);
  CHECK (nbdi_dial_socket_activation (&d, empty_argv, "x") == -1);
  CHECK_DIALER (&d, d.err == EINVAL);
  CHECK (d.tmpdir == NULL && d.fd == -1 && d.pid == -1);
  nbdi_dialer_cleanup (&d);

  /* A missing program: the dial itself works (the socket is queued),
   * the child exits 126. */
  nbdi_dialer_init (&d);
  CHECK_DIALER (&d, nbdi_dial_socket_activation (&d, missing_argv, "x") == 0);
  CHECK (child_exit_status (d.pid) == 126);
  nbdi_dialer_cleanup (&d);

  /* A $TMPDIR too long for sun_path: the directory is made then
   * removed again. */
  {
    char longdir[200], *old = getenv ("TMPDIR"), *saved = NULL;
    int n;

    n = snprintf (longdir, sizeof longdir, "%s/", tmpdir);
    memset (longdir + n, 'd', sizeof longdir - 1 - (size_t) n);
    longdir[sizeof longdir - 1] = '\0';
    CHECK (mkdir (longdir, 0700) == 0);
    if (old)
      saved = strdup (old);
    setenv ("TMPDIR", longdir, 1);
    nbdi_dialer_init (&d);
    CHECK (nbdi_dial_socket_activation (&d, missing_argv, "x") == -1);
    CHECK_DIALER (&d, d.err == ENAMETOOLONG);
    CHECK (d.tmpdir == NULL && d.pid == -1 && d.fd == -1);
    nbdi_dialer_cleanup (&d);
    /* Nothing may be left inside: rmdir fails on a non-empty dir. */
    CHECK (rmdir (longdir) == 0);
    if (saved) {
      setenv ("TMPDIR", saved, 1);
      free (saved);
    }
    else
      unsetenv ("TMPDIR");
  }
}

/* ---- the socket transport ---- */

static ssize_t
recv_one (struct nbdi_transport *t, void *buf, size_t len, bool wait)
{
  struct iovec iov = { .iov_base = buf, .iov_len = len };

  return t->ops->recv (t, &iov, 1, wait);
}

static void
test_transport (void)
{
  struct nbdi_dialer d;
  struct nbdi_transport *t;
  struct iovec iov[4];
  char buf[64];
  int sv[2], status = -1;
  ssize_t r;

  section ("socket transport");
  CHECK (socketpair (AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == 0);
  nbdi_dialer_init (&d);
  CHECK (nbdi_dial_socket (&d, sv[0]) == 0);
  t = nbdi_transport_socket (nbdi_dialer_take_fd (&d));
  nbdi_dialer_cleanup (&d);
  CHECK (t != NULL && t->fd == sv[0]);
  /* The dialer left it non-blocking; the transport wants it blocking
   * (every call that must not wait says MSG_DONTWAIT). */
  CHECK ((fcntl (sv[0], F_GETFL) & O_NONBLOCK) == 0);
  if (t == NULL)
    return;
  CHECK (!t->ops->pending (t));

  iov[0] = (struct iovec) { .iov_base = (void *) "abc", .iov_len = 3 };
  iov[1] = (struct iovec) { .iov_base = (void *) "", .iov_len = 0 };
  iov[2] = (struct iovec) { .iov_base = (void *) "defgh", .iov_len = 5 };
  iov[3] = (struct iovec) { .iov_base = (void *) "!", .iov_len = 1 };
  CHECK (t->ops->send (t, iov, 3, true) == 8);
  CHECK (t->ops->send (t, &iov[3], 1, false) == 1);
  CHECK (read_n (sv[1], buf, 9) == 9 && memcmp (buf, "abcdefgh!", 9) == 0);

  /* Nothing to read yet: a receive that may not wait says EAGAIN. */
  CHECK (t->raw);
  errno = 0;
  CHECK (recv_one (t, buf, sizeof buf, false) == -1 && errno == EAGAIN);
  CHECK (write (sv[1], "reply", 5) == 5);
  r = recv_one (t, buf, sizeof buf, false);
  CHECK (r == 5 && memcmp (buf, "reply", 5) == 0);

  /* A waiting receive sleeps until the peer writes (from a child, a
   * little later), and one receive may scatter over several buffers. */
  {
    char a[3], b[8];
    struct iovec two[2] = {
      { .iov_base = a, .iov_len = sizeof a }, { .iov_base = b, .iov_len = sizeof b },
    };
    pid_t pid = fork ();
    if (pid == 0) {
      usleep (100 * 1000);
      _exit (write (sv[1], "scatter", 7) == 7 ? 0 : 1);
    }
    r = t->ops->recv (t, two, 2, true);
    CHECK (r == 7 && memcmp (a, "sca", 3) == 0 && memcmp (b, "tter", 4) == 0);
    CHECK (pid > 0 && waitpid (pid, &status, 0) == pid && status == 0);
  }

  /* Half close: the peer sees end of stream, we can still receive. */
  CHECK (t->ops->shutdown (t) == 0);
  CHECK (read (sv[1], buf, sizeof buf) == 0);
  CHECK (write (sv[1], "late", 4) == 4);
  CHECK (recv_one (t, buf, sizeof buf, false) == 4);
  close (sv[1]);
  CHECK (recv_one (t, buf, sizeof buf, true) == 0);
  t->ops->close (t);

  /* Sending to a closed peer is EPIPE, not a SIGPIPE that kills us
   * (SIGPIPE is at its default action here). */
  CHECK (socketpair (AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == 0);
  t = nbdi_transport_socket (sv[0]);
  CHECK (t != NULL);
  close (sv[1]);
  errno = 0;
  CHECK (t->ops->send (t, iov, 1, false) == -1 && errno == EPIPE);
  errno = 0;
  CHECK (t->ops->send (t, iov, 1, true) == -1 && errno == EPIPE);
  t->ops->close (t);

  errno = 0;
  CHECK (nbdi_transport_socket (-1) == NULL && errno == EBADF);
}

int
main (void)
{
  const char *tmp = getenv ("TMPDIR");
  struct sigaction dfl = { .sa_handler = SIG_DFL };
  int fds_before, fds_after;

  setvbuf (stdout, NULL, _IOLBF, 0);
  sigemptyset (&dfl.sa_mask);
  sigaction (SIGPIPE, &dfl, NULL);
  snprintf (tmpdir, sizeof tmpdir, "%s/test-dial.XXXXXX",
            tmp && *tmp ? tmp : "/tmp");
  if (mkdtemp (tmpdir) == NULL) {
    perror ("mkdtemp");
    return 1;
  }

  fds_before = count_fds ();
  test_unix ();
  test_tcp_simple ();
  test_tcp_fallback ();
  test_tcp_names ();
  test_vsock ();
  test_adopt ();
  test_command ();
  test_kill_reap ();
  test_socket_activation ();
  test_transport ();
  fds_after = count_fds ();
  printf ("== open fds: %d before, %d after\n", fds_before, fds_after);
  CHECK (fds_before == fds_after);

  if (rmdir (tmpdir) == -1)
    test_report (__FILE__, __LINE__, "temporary directory not empty: %s", tmpdir);
  return test_exit ();
}
