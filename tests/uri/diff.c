/* Differential test of NBD URIs: built once against the system libnbd
 * (DIFF_SYSTEM=1: its header and libnbd.so.0 only) and once against
 * fastnbd; diff.py runs both on the same servers and compares what they
 * print.  Only calls that libnbd 1.14 has are used.
 *
 * usage: uri-diff-{system,fastnbd} PORT SOCK ODDSOCK CLOSEDPORT NOSOCK
 *   PORT, SOCK, ODDSOCK: nbdkit (memory plugin) on 127.0.0.1 and on two
 *   Unix sockets; CLOSEDPORT, NOSOCK: nothing listens there.
 *
 * Output: one line per case, "ID<TAB>OUTCOME". */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/un.h>

#include <libnbd.h>

#if DIFF_SYSTEM && defined LIBNBD_HAVE_NBD_IS_URI
#error "DIFF_SYSTEM build sees a libnbd.h newer than the system's 1.14"
#endif

static const char *port, *sock, *oddsock, *closedport, *nosock;

static const char *
errname (int e)
{
  switch (e) {
  case 0: return "0";
  case EINVAL: return "EINVAL";
  case EPERM: return "EPERM";
  case ENOENT: return "ENOENT";
  case ENOTCONN: return "ENOTCONN";
  case ECONNREFUSED: return "ECONNREFUSED";
  case ENAMETOOLONG: return "ENAMETOOLONG";
  case EPROTONOSUPPORT: return "EPROTONOSUPPORT";
  case ENOTSUP: return "ENOTSUP";
  case EFAULT: return "EFAULT";
  default: {
    static char b[32];
    snprintf (b, sizeof b, "errno%d", e);
    return b;
  }
  }
}

/* Expand %P %S %O %K %N in a template (letters that are not hex
 * digits, so that percent-encodings stay as they are). */
static const char *
expand (const char *t)
{
  static char out[8192];
  size_t o = 0;

  for (const char *p = t; *p && o < sizeof out - 300; p++) {
    const char *sub = NULL;
    if (p[0] == '%' && p[1]) {
      switch (p[1]) {
      case 'P': sub = port; break;
      case 'S': sub = sock; break;
      case 'O': sub = oddsock; break;
      case 'K': sub = closedport; break;
      case 'N': sub = nosock; break;
      }
    }
    if (sub) {
      o += snprintf (out + o, sizeof out - o, "%s", sub);
      p++;
    }
    else
      out[o++] = *p;
  }
  out[o] = '\0';
  return out;
}

static void
print_str (const char *key, char *owned)
{
  printf (" %s=[%s]", key, owned ? owned : "(null)");
  free (owned);
}

struct policy { unsigned transports; int tls; int local; };
#define DEF { LIBNBD_ALLOW_TRANSPORT_MASK, LIBNBD_TLS_ALLOW, 0 }

struct parse_case {
  const char *id;
  const char *uri;
  struct policy p;
};

/* The parse cases: no server answers (closed port, missing socket), so
 * only the settings and the refusals are compared. */
static const struct parse_case parse_cases[] = {
  { "export-plain", "nbd://127.0.0.1:%K/foo", DEF },
  { "export-none", "nbd://127.0.0.1:%K", DEF },
  { "export-slash", "nbd://127.0.0.1:%K/", DEF },
  { "export-double-slash", "nbd://127.0.0.1:%K//foo", DEF },
  { "export-escaped", "nbd://127.0.0.1:%K/hello%20world%2F%3F%23%25", DEF },
  { "export-segments", "nbd://127.0.0.1:%K/a/../b/./c/", DEF },
  { "export-plus", "nbd://127.0.0.1:%K/a+b", DEF },
  { "export-fragment", "nbd://127.0.0.1:%K/x#frag", DEF },
  { "export-utf8", "nbd://127.0.0.1:%K/%C3%BC", DEF },
  { "export-nul", "nbd://127.0.0.1:%K/a%00b", DEF },
  { "export-space", "nbd://127.0.0.1:%K/a b", DEF },
  { "nbds", "nbds://127.0.0.1:%K/x", DEF },
  { "user", "nbd://alice@127.0.0.1:%K/x", DEF },
  { "user-nbds", "nbds://alice@127.0.0.1:%K/x", DEF },
  { "user-escaped", "nbd://al%40ice@127.0.0.1:%K/x", DEF },
  { "user-password", "nbd://alice:pw@127.0.0.1:%K/x", DEF },
  { "user-empty", "nbd://@127.0.0.1:%K/x", DEF },
  { "user-empty-unix", "nbds+unix://@/x?socket=%N&a=%25", DEF },
  { "user-nul", "nbd://a%00b@127.0.0.1:%K/x", DEF },
  { "ipv6", "nbd://[::1]:%K/x", DEF },
  { "ipv6-zone", "nbd://[fe80::1%25lo]:%K/x", DEF },
  { "ipv6-zone-raw", "nbd://[fe80::1%lo]:%K/x", DEF },
  { "ipfuture", "nbd://[v1.x]:%K/x", DEF },
  { "host-escaped", "nbd://127.0.0.%31:%K/x", DEF },
  { "port-leading-zeros", "nbd://127.0.0.1:00%C/x", DEF },
  { "port-alpha", "nbd://127.0.0.1:abc/x", DEF },
  { "port-too-big", "nbd://127.0.0.1:99999/x", DEF },
  { "port-empty", "nbd://127.0.0.1:/x", DEF },
  { "port-above-int", "nbd://127.0.0.1:2147483648/x", DEF },
  { "port-empty-unix", "nbd+unix://h:/x?socket=%N", DEF },
  { "unknown-param", "nbd://127.0.0.1:%K/x?foo=bar&&=x&flag", DEF },
  { "verify-peer-false", "nbds://127.0.0.1:%K/x?tls-verify-peer=false", DEF },
  { "verify-peer-bad", "nbds://127.0.0.1:%K/x?tls-verify-peer=maybe", DEF },
  { "tls-hostname", "nbds://127.0.0.1:%K/x?tls-hostname=h", DEF },
  { "tls-priority", "nbds://127.0.0.1:%K/x?tls-priority=NORMAL", DEF },
  { "param-case", "nbd://127.0.0.1:%K/x?TLS-CERTIFICATES=/d", DEF },
  { "socket-with-tcp", "nbd://127.0.0.1:%K/x?socket=%N", DEF },
  { "certs-denied", "nbds://127.0.0.1:%K/x?tls-certificates=/d", DEF },
  { "certs-allowed", "nbds://127.0.0.1:%K/x?tls-certificates=/d",
    { LIBNBD_ALLOW_TRANSPORT_MASK, LIBNBD_TLS_ALLOW, 1 } },
  { "psk-denied", "nbds://127.0.0.1:%K/x?tls-psk-file=/f", DEF },
  { "psk-denied-empty", "nbds://127.0.0.1:%K/x?tls-psk-file=", DEF },
  { "psk-allowed", "nbds://127.0.0.1:%K/x?tls-psk-file=/f",
    { LIBNBD_ALLOW_TRANSPORT_MASK, LIBNBD_TLS_ALLOW, 1 } },
  { "unix", "nbd+unix:///foo?socket=%N", DEF },
  { "unix-nbds-user", "nbds+unix://bob@/e?socket=%N", DEF },
  { "unix-authority", "nbd+unix://127.0.0.1:99/x?socket=%N", DEF },
  { "unix-socket-escaped", "nbd+unix:///x?socket=/tmp/a%20b%2Bc+d", DEF },
  { "unix-socket-twice", "nbd+unix:///x?socket=/elsewhere&socket=%N", DEF },
  { "unix-semicolon", "nbd+unix:///x?foo=bar;socket=%N", DEF },
  { "unix-no-socket", "nbd+unix:///x", DEF },
  { "unix-empty-socket", "nbd+unix:///x?socket=", DEF },
  { "unix-socket-no-value", "nbd+unix:///x?socket", DEF },
  { "unix-socket-nul", "nbd+unix:///x?socket=%N%00tail", DEF },
  { "unix-no-slashes", "nbd+unix:?socket=%N", DEF },
  { "unix-certs-no-socket", "nbds+unix:///x?tls-certificates=/d", DEF },
  { "vsock", "nbd+vsock://1:%K/v", DEF },
  { "vsock-nbds", "nbds+vsock://1:%K/v", DEF },
  { "vsock-bad-cid", "nbd+vsock://abc/x", DEF },
  { "vsock-ipv6", "nbd+vsock://[::1]/x", DEF },
  { "vsock-hex-cid", "nbd+vsock://0x10/x", DEF },
  { "vsock-cid-overflow", "nbd+vsock://4294967296/x", DEF },
  { "vsock-port-overflow", "nbd+vsock://1:4294967296/x", DEF },
  { "vsock-port-above-int", "nbd+vsock://1:2147483648/x", DEF },
  { "vsock-cid-negative", "nbd+vsock://-1/x", DEF },
  { "vsock-cid-trailing", "nbd+vsock://5abc/x", DEF },
  { "vsock-cid-space", "nbd+vsock://%20/x", DEF },
  { "vsock-socket", "nbd+vsock://1:%K/x?socket=%N", DEF },
  { "ssh", "nbd+ssh://server/x", { LIBNBD_ALLOW_TRANSPORT_MASK & ~0x8u, LIBNBD_TLS_ALLOW, 0 } },
  { "empty", "", DEF },
  { "not-a-uri", "not a uri", DEF },
  { "file-name", "/tmp/disk.img", DEF },
  { "http", "http://127.0.0.1:%K/x", DEF },
  { "upper-scheme", "NBD://127.0.0.1:%K/x", DEF },
  { "unknown-scheme", "nbd+foo://127.0.0.1:%K/x", DEF },
  { "no-slashes", "nbd:127.0.0.1", DEF },
  { "no-slashes-path", "nbd:/x", DEF },
  { "deny-tcp", "nbd://127.0.0.1:%K/x", { LIBNBD_ALLOW_TRANSPORT_UNIX, LIBNBD_TLS_ALLOW, 0 } },
  { "deny-unix", "nbd+unix:///x?socket=%N", { LIBNBD_ALLOW_TRANSPORT_TCP, LIBNBD_TLS_ALLOW, 0 } },
  { "deny-unix-first", "nbds+unix:///x", { LIBNBD_ALLOW_TRANSPORT_TCP, LIBNBD_TLS_ALLOW, 0 } },
  { "deny-vsock", "nbd+vsock://1:%K/x", { LIBNBD_ALLOW_TRANSPORT_TCP, LIBNBD_TLS_ALLOW, 0 } },
  { "deny-all-syntax", "nbd:x", { 0, LIBNBD_TLS_ALLOW, 0 } },
  { "deny-tls", "nbds://127.0.0.1:%K/x", { LIBNBD_ALLOW_TRANSPORT_MASK, LIBNBD_TLS_DISABLE, 0 } },
  { "deny-tls-unix", "nbds+unix:///x?socket=%N", { LIBNBD_ALLOW_TRANSPORT_MASK, LIBNBD_TLS_DISABLE, 0 } },
  { "deny-tls-syntax", "nbds:x", { LIBNBD_ALLOW_TRANSPORT_MASK, LIBNBD_TLS_DISABLE, 0 } },
  { "require-tls", "nbd://127.0.0.1:%K/x", { LIBNBD_ALLOW_TRANSPORT_MASK, LIBNBD_TLS_REQUIRE, 0 } },
  { "require-tls-ok", "nbds://127.0.0.1:%K/x", { LIBNBD_ALLOW_TRANSPORT_MASK, LIBNBD_TLS_REQUIRE, 0 } },
  { "require-tls-unix", "nbd+unix:///x?socket=%N", { LIBNBD_ALLOW_TRANSPORT_MASK, LIBNBD_TLS_REQUIRE, 0 } },
};

static void
run_parse_case (const struct parse_case *c)
{
  struct nbd_handle *h = nbd_create ();
  const char *uri = expand (c->uri);
  int r, e;

  nbd_set_uri_allow_transports (h, c->p.transports);
  nbd_set_uri_allow_tls (h, c->p.tls);
  nbd_set_uri_allow_local_file (h, c->p.local);
  r = nbd_aio_connect_uri (h, uri);
  e = r == -1 ? nbd_get_errno () : 0;
  printf ("%s\t", c->id);
  /* libnbd 1.14 leaves a failed TCP connect in the created state too, so
   * a refusal is told apart by its errno. */
  if (r == -1 && (e == EINVAL || e == EPERM || e == ENAMETOOLONG))
    printf ("refused %s", errname (e));
  else {
    printf ("parsed");
    print_str ("export", nbd_get_export_name (h));
    printf (" tls=%d verify=%d", nbd_get_tls (h), nbd_get_tls_verify_peer (h));
    print_str ("user", nbd_get_tls_username (h));
  }
  printf ("\n");
  nbd_close (h);
}

/* nbd_get_uri alone, without trying the URI: for vsock, where no
 * server answers and a connect could wait long. */
static void
show_uri_only (const char *id, struct nbd_handle *h)
{
  char *u = nbd_get_uri (h);

  printf ("%s\t%s", id, u ? u : "NULL");
  if (u == NULL)
    printf (" %s", errname (nbd_get_errno ()));
  printf ("\n");
  free (u);
}

/* nbd_get_uri on live connections. */
static void
show_uri (const char *id, struct nbd_handle *h, int r)
{
  char *u;

  printf ("%s\t", id);
  if (r == -1) {
    printf ("connect failed %s\n", errname (nbd_get_errno ()));
    return;
  }
  u = nbd_get_uri (h);
  if (u) {
    /* Round trip: the URI reaches a server again. */
    struct nbd_handle *h2 = nbd_create ();
    nbd_set_uri_allow_local_file (h2, 1);
    printf ("%s reconnect=%s", u, nbd_connect_uri (h2, u) == 0 ? "ok" : "failed");
    nbd_close (h2);
  }
  else
    printf ("NULL %s", errname (nbd_get_errno ()));
  printf ("\n");
  free (u);
}

static void
run_get_uri_cases (void)
{
  struct nbd_handle *h;
  char uri[1024];

  h = nbd_create ();
  show_uri ("get-created", h, 0);
  nbd_close (h);

  h = nbd_create ();
  show_uri ("get-tcp", h, nbd_connect_tcp (h, "127.0.0.1", port));
  nbd_close (h);

  h = nbd_create ();
  nbd_set_export_name (h, "a b/c?d&e#f%");
  show_uri ("get-tcp-export-escaping", h, nbd_connect_tcp (h, "127.0.0.1", port));
  nbd_close (h);

  h = nbd_create ();
  nbd_set_export_name (h, "!$'()*+,;=:@-._~");
  show_uri ("get-tcp-export-subdelims", h, nbd_connect_tcp (h, "127.0.0.1", port));
  nbd_close (h);

  h = nbd_create ();
  nbd_set_tls (h, LIBNBD_TLS_ALLOW);
  nbd_set_tls_username (h, "carol");
  show_uri ("get-tls-allow-user", h, nbd_connect_tcp (h, "127.0.0.1", port));
  nbd_close (h);

  h = nbd_create ();
  nbd_set_tls_username (h, "d@ve");
  show_uri ("get-user-escaping", h, nbd_connect_tcp (h, "127.0.0.1", port));
  nbd_close (h);

  h = nbd_create ();
  nbd_set_tls (h, LIBNBD_TLS_ALLOW);
  nbd_set_tls_verify_peer (h, false);
  show_uri ("get-verify-peer-off", h, nbd_connect_tcp (h, "127.0.0.1", port));
  nbd_close (h);

  h = nbd_create ();
  nbd_set_tls_username (h, ":a:b");
  show_uri ("get-user-colon", h, nbd_connect_tcp (h, "127.0.0.1", port));
  nbd_close (h);

  h = nbd_create ();
  nbd_set_tls_certificates (h, "/no/such dir");
  show_uri ("get-tls-certificates", h, nbd_connect_tcp (h, "127.0.0.1", port));
  nbd_close (h);

  h = nbd_create ();
  show_uri ("get-unix", h, nbd_connect_unix (h, sock));
  nbd_shutdown (h, 0);
  show_uri ("get-unix-closed", h, 0);
  nbd_close (h);

  h = nbd_create ();
  nbd_set_export_name (h, "e");
  show_uri ("get-unix-odd-path", h, nbd_connect_unix (h, oddsock));
  nbd_close (h);

  /* An empty socket= is tried as it is; the connect fails. */
  h = nbd_create ();
  nbd_aio_connect_uri (h, "nbd+unix:///x?socket=");
  show_uri ("get-unix-empty-socket", h, 0);
  nbd_close (h);

  /* The vsock address a URI asked for, with CIDs strtoul reads. */
  {
    static const char *const vsock_uris[][2] = {
      { "get-vsock-hex-cid", "nbd+vsock://0x10/x" },
      { "get-vsock-cid-wrap", "nbd+vsock://4294967297:5/x" },
      { "get-vsock-no-host-port", "nbd+vsock://:5/x" },
      { "get-vsock-port-zero", "nbd+vsock://1:0/x" },
    };
    for (size_t i = 0; i < sizeof vsock_uris / sizeof vsock_uris[0]; i++) {
      h = nbd_create ();
      if (nbd_aio_connect_uri (h, vsock_uris[i][1]) == -1 && nbd_aio_is_created (h))
        printf ("%s\trefused %s\n", vsock_uris[i][0], errname (nbd_get_errno ()));
      else
        show_uri_only (vsock_uris[i][0], h);
      nbd_close (h);
    }
  }

  h = nbd_create ();
  snprintf (uri, sizeof uri, "nbd://bob@127.0.0.1:%s/u", port);
  show_uri ("get-uri-tcp-user", h, nbd_connect_uri (h, uri));
  nbd_close (h);

  h = nbd_create ();
  snprintf (uri, sizeof uri, "nbd+unix:///u%%20v?socket=%s", sock);
  show_uri ("get-uri-unix", h, nbd_connect_uri (h, uri));
  nbd_close (h);

  h = nbd_create ();
  nbd_set_opt_mode (h, 1);
  snprintf (uri, sizeof uri, "nbd://127.0.0.1:%s/first", port);
  show_uri ("get-optmode", h, nbd_connect_uri (h, uri));
  nbd_set_export_name (h, "second");
  show_uri ("get-optmode-renamed", h, 0);
  nbd_opt_abort (h);
  show_uri ("get-optmode-aborted", h, 0);
  nbd_close (h);

  {
    char *argv[] = { (char *) "nbdkit", (char *) "-s", (char *) "--exit-with-parent",
                     (char *) "memory", (char *) "1M", NULL };
    h = nbd_create ();
    show_uri ("get-command", h, nbd_connect_command (h, argv));
    nbd_close (h);
  }

  {
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons (atoi (port)) };
    int fd = socket (AF_INET, SOCK_STREAM, 0);

    inet_pton (AF_INET, "127.0.0.1", &a.sin_addr);
    h = nbd_create ();
    if (connect (fd, (struct sockaddr *) &a, sizeof a) == 0)
      show_uri ("get-socket-tcp", h, nbd_connect_socket (h, fd));
    nbd_close (h);

    {
      struct sockaddr_un un = { .sun_family = AF_UNIX };

      snprintf (un.sun_path, sizeof un.sun_path, "%s", sock);
      fd = socket (AF_UNIX, SOCK_STREAM, 0);
      h = nbd_create ();
      if (connect (fd, (struct sockaddr *) &un, sizeof un) == 0)
        show_uri ("get-socket-unix", h, nbd_connect_socket (h, fd));
      nbd_close (h);
    }

    h = nbd_create ();
    nbd_aio_connect (h, (struct sockaddr *) &a, sizeof a);
    while (nbd_aio_is_connecting (h))
      nbd_poll (h, 5000);
    show_uri ("get-aio-sockaddr", h, 0);
    nbd_close (h);
  }
}

int
main (int argc, char *argv[])
{
  if (argc != 6) {
    fprintf (stderr, "usage: %s PORT SOCK ODDSOCK CLOSEDPORT NOSOCK\n", argv[0]);
    return 99;
  }
  port = argv[1];
  sock = argv[2];
  oddsock = argv[3];
  closedport = argv[4];
  nosock = argv[5];
  for (size_t i = 0; i < sizeof parse_cases / sizeof parse_cases[0]; i++)
    run_parse_case (&parse_cases[i]);
  run_get_uri_cases ();
  return 0;
}
