/* Real connections through NBD URIs to nbdkit on loopback, and
 * nbd_get_uri round trips.  nbdkit's info plugin serves the export name
 * the client asked for as the disk's contents, so reading the disk
 * proves which name went over the wire.
 *
 * usage: uri-connect tcp|tcp6|unix|aio|optmode|get-uri|ssh */
#include <net/if.h>

#include "uri-test.h"

/* Read the whole (small) disk and compare it with the export name. */
static void
check_served_name (struct nbd_handle *h, const char *want, const char *what)
{
  int64_t size = nbd_get_size (h);
  char buf[4097] = "";

  if (size < 0 || size > 4096) {
    test_report (__FILE__, __LINE__, "%s: size %" PRId64, what, size);
    return;
  }
  if (size > 0 && nbd_pread (h, buf, size, 0, 0) == -1) {
    test_report (__FILE__, __LINE__, "%s: pread failed", what);
    return;
  }
  buf[size] = '\0';
  test_count ();
  if (strcmp (buf, want) != 0)
    test_report (__FILE__, __LINE__, "%s: server saw export \"%s\", expected \"%s\"",
                 what, buf, want);
}

/* Connect with the URI, check the served name; then connect a second
 * handle with what nbd_get_uri says and check it reaches the same. */
static void
round_trip (const char *uri, const char *export_name, const char *want_uri)
{
  struct nbd_handle *h = test_create (), *h2;
  char *got;

  if (nbd_connect_uri (h, uri) == -1) {
    test_report (__FILE__, __LINE__, "nbd_connect_uri %s failed", uri);
    nbd_close (h);
    return;
  }
  CHECK (nbd_aio_is_ready (h));
  check_served_name (h, export_name, uri);
  got = nbd_get_uri (h);
  if (want_uri)
    CHECK_STR (got, want_uri);
  else
    CHECK (got != NULL);
  if (got) {
    h2 = test_create ();
    CHECK_INT (nbd_set_uri_allow_local_file (h2, true), 0);
    if (nbd_connect_uri (h2, got) == -1)
      test_report (__FILE__, __LINE__, "reconnecting to %s failed", got);
    else
      check_served_name (h2, export_name, got);
    nbd_close (h2);
  }
  /* Still answered once the connection is shut down: the URI is rebuilt
   * from the socket's peer address, which a Unix socket keeps.  A TCP
   * socket loses it as soon as the server's FIN arrives (the kernel then
   * answers ENOTCONN), so there the call may fail; it must not lie. */
  CHECK_OK (nbd_shutdown (h, 0));
  CHECK (nbd_aio_is_closed (h));
  if (got) {
    char *after = nbd_get_uri (h);
    if (strncmp (uri, "nbd+unix:", 9) == 0 || after != NULL)
      CHECK_STR (after, got);
    else
      CHECK_INT (nbd_get_errno (), EINVAL);
    free (after);
  }
  free (got);
  nbd_close (h);
}

static void
test_tcp (void)
{
  int port = ut_nbdkit_tcp (AF_INET, "info", "mode=exportname");
  char uri[512], want[512];

  if (port == -1)
    TEST_SKIP ("nbdkit did not start on 127.0.0.1");

  snprintf (uri, sizeof uri, "nbd://127.0.0.1:%d/hello%%20world", port);
  snprintf (want, sizeof want, "nbd://127.0.0.1:%d/hello%%20world", port);
  round_trip (uri, "hello world", want);

  snprintf (uri, sizeof uri, "nbd://127.0.0.1:%d", port);
  snprintf (want, sizeof want, "nbd://127.0.0.1:%d/", port);
  round_trip (uri, "", want);

  snprintf (uri, sizeof uri, "nbd://127.0.0.1:%d//a/b%%3Fc%%23d%%25e&f", port);
  snprintf (want, sizeof want, "nbd://127.0.0.1:%d//a/b%%3Fc%%23d%%25e&f", port);
  round_trip (uri, "/a/b?c#d%e&f", want);

  /* Leading zeros in the port; a user name (no TLS: just a setting). */
  snprintf (uri, sizeof uri, "nbd://bob@127.0.0.1:00%d/x", port);
  snprintf (want, sizeof want, "nbd://bob@127.0.0.1:%d/x", port);
  round_trip (uri, "x", want);

  /* localhost may resolve to ::1 first, where nothing listens. */
  snprintf (uri, sizeof uri, "nbd://localhost:%d/by-name", port);
  round_trip (uri, "by-name", NULL);

  /* Local file parameters show in nbd_get_uri (this server has no TLS,
   * so they do not matter to the connection). */
  {
    struct nbd_handle *h = test_create ();
    CHECK_OK (nbd_set_uri_allow_local_file (h, true));
    snprintf (uri, sizeof uri,
              "nbd://127.0.0.1:%d/e?tls-certificates=/no/such%%20dir&tls-psk-file=/k", port);
    CHECK_OK (nbd_connect_uri (h, uri));
    snprintf (want, sizeof want,
              "nbd://127.0.0.1:%d/e?tls-certificates=/no/such%%20dir&tls-psk-file=/k", port);
    CHECK_STR_FREE (nbd_get_uri (h), want);
    nbd_close (h);
  }

  /* nbds:// requires TLS, which this server does not offer. */
  {
    struct nbd_handle *h = test_create ();
    snprintf (uri, sizeof uri, "nbds://127.0.0.1:%d/x", port);
    CHECK_INT (nbd_connect_uri (h, uri), -1);
    CHECK (!nbd_aio_is_ready (h));
    nbd_close (h);
  }

  /* A TLS-allowing handle with nbd:// keeps ALLOW, falls back to plain. */
  {
    struct nbd_handle *h = test_create ();
    CHECK_OK (nbd_set_tls (h, LIBNBD_TLS_ALLOW));
    snprintf (uri, sizeof uri, "nbd://127.0.0.1:%d/opportunistic", port);
    if (nbd_connect_uri (h, uri) == 0) {
      CHECK_INT (nbd_get_tls (h), LIBNBD_TLS_ALLOW);
      check_served_name (h, "opportunistic", uri);
    }
    else
      test_report (__FILE__, __LINE__, "TLS ALLOW + nbd:// did not connect");
    nbd_close (h);
  }
}

static void
test_tcp6 (void)
{
  int port = ut_nbdkit_tcp (AF_INET6, "info", "mode=exportname");
  char uri[256], want[256];

  if (port == -1)
    TEST_SKIP ("no IPv6 loopback, or nbdkit did not start on ::1");
  snprintf (uri, sizeof uri, "nbd://[::1]:%d/six", port);
  snprintf (want, sizeof want, "nbd://[::1]:%d/six", port);
  round_trip (uri, "six", want);

  /* With a zone id (the loopback interface's number), in both the
   * RFC 6874 form and the bare form libnbd writes; nbd_get_uri gives the
   * bare form, which must connect again. */
  unsigned lo = if_nametoindex ("lo");
  if (lo == 0)
    return;
  snprintf (want, sizeof want, "nbd://[::1%%%u]:%d/six", lo, port);
  snprintf (uri, sizeof uri, "nbd://[::1%%25%u]:%d/six", lo, port);
  round_trip (uri, "six", want);
  snprintf (uri, sizeof uri, "nbd://[::1%%%u]:%d/six", lo, port);
  round_trip (uri, "six", want);
}

static void
test_unix (void)
{
  const char *sock = ut_path ("nbd.sock");
  /* Characters a query value must escape. */
  const char *odd = ut_path ("s o&c+k;=%#.sock");
  char uri[512], want[512];

  if (ut_nbdkit_unix (sock, "info", "mode=exportname") == -1
      || ut_nbdkit_unix (odd, "info", "mode=exportname") == -1)
    TEST_SKIP ("nbdkit did not start on a Unix socket");

  snprintf (uri, sizeof uri, "nbd+unix:///name?socket=%s", sock);
  snprintf (want, sizeof want, "nbd+unix:///name?socket=%s", sock);
  round_trip (uri, "name", want);

  snprintf (uri, sizeof uri, "nbd+unix:///?socket=%s", sock);
  snprintf (want, sizeof want, "nbd+unix:///?socket=%s", sock);
  round_trip (uri, "", want);

  /* The directory part of ut_dir has only plain characters. */
  snprintf (uri, sizeof uri, "nbd+unix:///odd?socket=%.*s/s%%20o%%26c%%2Bk%%3B%%3D%%25%%23.sock",
            (int) strlen (ut_dir), ut_dir);
  snprintf (want, sizeof want, "nbd+unix:///odd?socket=%.*s/s%%20o%%26c%%2Bk%%3B%%3D%%25%%23.sock",
            (int) strlen (ut_dir), ut_dir);
  round_trip (uri, "odd", want);

  /* The user name becomes the TLS user name and shows in the URI. */
  snprintf (uri, sizeof uri, "nbd+unix://carol@/c?socket=%s", sock);
  snprintf (want, sizeof want, "nbd+unix://carol@/c?socket=%s", sock);
  round_trip (uri, "c", want);
  {
    struct nbd_handle *h = test_create ();
    CHECK_OK (nbd_connect_uri (h, uri));
    CHECK_STR_FREE (nbd_get_tls_username (h), "carol");
    nbd_close (h);
  }
  /* The whole userinfo is the user name, so libnbd leaves ':' as it is. */
  snprintf (uri, sizeof uri, "nbd+unix://carol:x@/c?socket=%s", sock);
  snprintf (want, sizeof want, "nbd+unix://carol:x@/c?socket=%s", sock);
  round_trip (uri, "c", want);

  /* nbd_get_uri of handles not connected by URI. */
  {
    struct nbd_handle *h = test_create ();
    CHECK_OK (nbd_set_export_name (h, "plain"));
    CHECK_OK (nbd_connect_unix (h, sock));
    snprintf (want, sizeof want, "nbd+unix:///plain?socket=%s", sock);
    CHECK_STR_FREE (nbd_get_uri (h), want);
    nbd_close (h);
  }
  {
    char *argv[] = { (char *) "nbdkit", (char *) "-s", (char *) "--exit-with-parent",
                     (char *) "info", (char *) "mode=exportname", NULL };
    struct nbd_handle *h = test_create ();
    CHECK_OK (nbd_connect_command (h, argv));
    CHECK_FAIL_NULL (nbd_get_uri (h), EINVAL, "nbd_get_uri");
    nbd_close (h);
  }
  {
    /* A socket the program connected itself: libnbd has no URI for it
     * (nbd_get_uri(3)), even though its peer has an address. */
    struct sockaddr_un addr = { .sun_family = AF_UNIX };
    int fd = socket (AF_UNIX, SOCK_STREAM, 0);
    struct nbd_handle *h = test_create ();

    snprintf (addr.sun_path, sizeof addr.sun_path, "%s", sock);
    CHECK_OK (connect (fd, (struct sockaddr *) &addr, sizeof addr));
    CHECK_OK (nbd_connect_socket (h, fd));
    CHECK_FAIL_NULL (nbd_get_uri (h), EINVAL, "nbd_get_uri");
    nbd_close (h);
  }
  {
    int sv[2];
    struct nbd_handle *h = test_create ();
    CHECK_OK (socketpair (AF_UNIX, SOCK_STREAM, 0, sv));
    CHECK_OK (nbd_aio_connect_socket (h, sv[0]));  /* no server: just the socket */
    CHECK_FAIL_NULL (nbd_get_uri (h), EINVAL, "nbd_get_uri");
    close (sv[1]);
    nbd_close (h);
  }
}

/* The aio form, driven with nbd_poll; nbd_get_uri while negotiating. */
static void
test_aio_optmode (void)
{
  const char *sock = ut_path ("nbd.sock");
  char uri[512], want[512];
  struct nbd_handle *h;

  if (ut_nbdkit_unix (sock, "info", "mode=exportname") == -1)
    TEST_SKIP ("nbdkit did not start on a Unix socket");

  h = test_create ();
  snprintf (uri, sizeof uri, "nbd+unix:///aio?socket=%s", sock);
  CHECK_OK (nbd_aio_connect_uri (h, uri));
  snprintf (want, sizeof want, "nbd+unix:///aio?socket=%s", sock);
  CHECK_STR_FREE (nbd_get_uri (h), want);          /* connecting */
  ut_poll_connected (h);
  CHECK (nbd_aio_is_ready (h));
  check_served_name (h, "aio", uri);
  nbd_close (h);

  h = test_create ();
  CHECK_OK (nbd_set_opt_mode (h, true));
  snprintf (uri, sizeof uri, "nbd+unix:///first?socket=%s", sock);
  CHECK_OK (nbd_connect_uri (h, uri));
  CHECK (nbd_aio_is_negotiating (h));
  snprintf (want, sizeof want, "nbd+unix:///first?socket=%s", sock);
  CHECK_STR_FREE (nbd_get_uri (h), want);
  /* Option mode may override the URI's export name. */
  CHECK_OK (nbd_set_export_name (h, "second"));
  snprintf (want, sizeof want, "nbd+unix:///second?socket=%s", sock);
  CHECK_STR_FREE (nbd_get_uri (h), want);
  CHECK_OK (nbd_opt_go (h));
  check_served_name (h, "second", "opt mode");
  nbd_close (h);
}

/* nbd+ssh with a stand-in ssh on PATH: it records its arguments and
 * runs the remote command locally, where a stand-in nc joins stdin and
 * stdout to the Unix socket (and refuses TCP: no fixed ports here). */
static void
test_ssh (void)
{
  const char *sock = ut_path ("ssh.sock");
  const char *bin = ut_path ("bin");
  const char *log = ut_path ("ssh-args");
  char path[4096], script[1024], uri[512], *args;
  FILE *f;
  struct nbd_handle *h;

  if (!ut_have ("python3"))
    TEST_SKIP ("python3 is needed for the stand-in nc");
  if (ut_nbdkit_unix (sock, "info", "mode=exportname") == -1)
    TEST_SKIP ("nbdkit did not start on a Unix socket");
  mkdir (bin, 0700);

  snprintf (script, sizeof script, "%s/ssh", bin);
  f = fopen (script, "w");
  fprintf (f,
           "#!/bin/sh\n"
           "printf '%%s\\n' \"$@\" > '%s'\n"
           "while [ $# -gt 0 ]; do\n"
           "  case \"$1\" in\n"
           "    --) shift; break ;;\n"
           "    -p|-l) shift 2 ;;\n"
           "    *) shift ;;\n"
           "  esac\n"
           "done\n"
           "shift   # the host\n"
           "exec /bin/sh -c \"$*\"\n", log);
  fclose (f);
  chmod (script, 0700);

  snprintf (script, sizeof script, "%s/nc", bin);
  f = fopen (script, "w");
  fprintf (f,
           "#!/usr/bin/env python3\n"
           "import os, socket, sys, threading\n"
           "if sys.argv[1:2] != ['-U']:\n"
           "    sys.exit('stand-in nc: only -U SOCKET')\n"
           "s = socket.socket(socket.AF_UNIX)\n"
           "s.connect(sys.argv[2])\n"
           "def up():\n"
           "    while True:\n"
           "        d = os.read(0, 65536)\n"
           "        if not d:\n"
           "            s.shutdown(socket.SHUT_WR)\n"
           "            return\n"
           "        s.sendall(d)\n"
           "threading.Thread(target=up, daemon=True).start()\n"
           "while True:\n"
           "    d = s.recv(65536)\n"
           "    if not d:\n"
           "        break\n"
           "    while d:\n"
           "        d = d[os.write(1, d):]\n");
  fclose (f);
  chmod (script, 0700);

  snprintf (path, sizeof path, "%s:%s", bin, getenv ("PATH") ? getenv ("PATH") : "/usr/bin:/bin");
  setenv ("PATH", path, 1);

  h = test_create ();
  snprintf (uri, sizeof uri, "nbd+ssh://bob@fake-server:2222/via%%20ssh?socket=%s", sock);
  if (nbd_connect_uri (h, uri) == -1)
    test_report (__FILE__, __LINE__, "nbd_connect_uri %s failed", uri);
  else {
    check_served_name (h, "via ssh", uri);
    CHECK_STR_FREE (nbd_get_tls_username (h), "bob");
    CHECK_STR_FREE (nbd_get_tls_hostname (h), "fake-server");
    /* A tunnel has no address to rebuild a URI from. */
    CHECK_FAIL_NULL (nbd_get_uri (h), EINVAL, "nbd_get_uri");
  }
  nbd_close (h);
  args = ut_slurp (log);
  {
    char want[1024];
    snprintf (want, sizeof want, "-p\n2222\n-l\nbob\n--\nfake-server\nnc -U '%s'\n", sock);
    CHECK_STR (args, want);
  }
  free (args);

  /* Without socket=: nc to the remote's port 10809 (our nc refuses, so
   * the handshake fails; the arguments are what is checked). */
  h = test_create ();
  CHECK_INT (nbd_connect_uri (h, "nbd+ssh://fake-server/x"), -1);
  nbd_close (h);
  args = ut_slurp (log);
  CHECK_STR (args, "--\nfake-server\nnc localhost 10809\n");
  free (args);

  /* A socket path with a quote survives the remote shell. */
  {
    const char *q = ut_path ("it's.sock");
    char enc[512];

    if (ut_nbdkit_unix (q, "info", "mode=exportname") == 0) {
      snprintf (enc, sizeof enc, "nbd+ssh://fake-server/q?socket=%.*s/it%%27s.sock",
                (int) strlen (ut_dir), ut_dir);
      h = test_create ();
      if (nbd_connect_uri (h, enc) == -1)
        test_report (__FILE__, __LINE__, "nbd_connect_uri %s failed", enc);
      else
        check_served_name (h, "q", enc);
      nbd_close (h);
    }
  }
}

int
main (int argc, char *argv[])
{
  if (argc != 2) {
    fprintf (stderr, "usage: %s tcp|tcp6|unix|aio-optmode|ssh\n", argv[0]);
    return 99;
  }
  if (!ut_have ("nbdkit"))
    TEST_SKIP ("nbdkit is not installed");
  ut_init ();
  setenv ("LOGNAME", "uri-test", 1);

  if (strcmp (argv[1], "tcp") == 0)
    test_tcp ();
  else if (strcmp (argv[1], "tcp6") == 0)
    test_tcp6 ();
  else if (strcmp (argv[1], "unix") == 0)
    test_unix ();
  else if (strcmp (argv[1], "aio-optmode") == 0)
    test_aio_optmode ();
  else if (strcmp (argv[1], "ssh") == 0)
    test_ssh ();
  else {
    fprintf (stderr, "unknown test %s\n", argv[1]);
    return 99;
  }
  return test_exit ();
}
