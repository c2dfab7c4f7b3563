/* NBD URI parsing and policy, without a server: every accepted form is
 * checked through the public getters after nbd_aio_connect_uri (which
 * then fails or keeps connecting to a closed loopback port or a missing
 * Unix socket), every refusal through its errno, the fact that it left
 * the handle in the created state and its settings untouched, and the
 * sync nbd_connect_uri refusing the same way.  nbd_is_uri on good and bad
 * strings. */
#include "uri-test.h"

#define ALL_TRANSPORTS LIBNBD_ALLOW_TRANSPORT_MASK

struct policy {
  uint32_t transports;
  int tls;                      /* nbd_set_uri_allow_tls */
  bool local_file;
  bool tls_priority;
};

static const struct policy DEFAULT = { ALL_TRANSPORTS, LIBNBD_TLS_ALLOW, false, false };
static const struct policy LOCAL = { ALL_TRANSPORTS, LIBNBD_TLS_ALLOW, true, false };
static const struct policy PRIO = { ALL_TRANSPORTS, LIBNBD_TLS_ALLOW, false, true };

/* A check whose failure names the URI under test. */
#define UCHECK(cond, uri, ...)                                          \
  do {                                                                  \
    test_count ();                                                      \
    if (!(cond)) {                                                      \
      char d_[256];                                                     \
      snprintf (d_, sizeof d_, __VA_ARGS__);                            \
      test_report (__FILE__, __LINE__, "%s: %s [%s]", (uri), d_, #cond); \
    }                                                                   \
  } while (0)

static int port;                /* closed loopback port */
static char nosock[256];        /* missing Unix socket */

static struct nbd_handle *
handle_with (struct policy p)
{
  struct nbd_handle *h = test_create ();

  CHECK_OK (nbd_set_uri_allow_transports (h, p.transports));
  CHECK_OK (nbd_set_uri_allow_tls (h, p.tls));
  CHECK_OK (nbd_set_uri_allow_local_file (h, p.local_file));
  CHECK_OK (nbd_set_uri_allow_tls_priority (h, p.tls_priority));
  return h;
}

/* Settings given before the URI, to see what it changes. */
static void
preset (struct nbd_handle *h)
{
  CHECK_OK (nbd_set_export_name (h, "preset-export"));
  CHECK_OK (nbd_set_tls_username (h, "preset-user"));
  CHECK_OK (nbd_set_tls_hostname (h, "preset-host"));
  CHECK_OK (nbd_set_tls_priority (h, "NORMAL:%COMPAT"));
}

static bool
str_is (char *owned, const char *want)
{
  bool r = owned && want && strcmp (owned, want) == 0;
  free (owned);
  return r;
}

/* Expand "%P" (the closed port) and "%S" (the missing socket). */
static const char *
expand (const char *tmpl)
{
  static char out[8192];
  size_t o = 0;

  for (const char *p = tmpl; *p && o < sizeof out - 300; p++) {
    if (p[0] == '%' && p[1] == 'P') {
      o += snprintf (out + o, sizeof out - o, "%d", port);
      p++;
    }
    else if (p[0] == '%' && p[1] == 'S') {
      o += snprintf (out + o, sizeof out - o, "%s", nosock);
      p++;
    }
    else
      out[o++] = *p;
  }
  out[o] = '\0';
  return out;
}

/* The URI must be refused with errno err, by both calls, leaving the
 * handle created and its settings as they were. */
static void
refused (const char *tmpl, struct policy p, int err)
{
  const char *uri = expand (tmpl);
  const char *fns[] = { "nbd_aio_connect_uri", "nbd_connect_uri" };

  for (int sync = 0; sync <= 1; sync++) {
    struct nbd_handle *h = handle_with (p);
    char prefix[64];
    int r;

    preset (h);
    r = sync ? nbd_connect_uri (h, uri) : nbd_aio_connect_uri (h, uri);
    snprintf (prefix, sizeof prefix, "%s: ", fns[sync]);
    UCHECK (r == -1, uri, "%s returned %d", fns[sync], r);
    UCHECK (nbd_get_errno () == err, uri, "%s: errno %d (%s), expected %d (%s): %s",
            fns[sync], nbd_get_errno (), strerror (nbd_get_errno ()), err,
            strerror (err), nbd_get_error ());
    UCHECK (test_starts_with (nbd_get_error (), prefix), uri, "message %s",
            nbd_get_error ());
    UCHECK (nbd_aio_is_created (h), uri, "state %s", nbd_connection_state (h));
    UCHECK (str_is (nbd_get_export_name (h), "preset-export"), uri, "export changed");
    UCHECK (str_is (nbd_get_tls_username (h), "preset-user"), uri, "user changed");
    UCHECK (str_is (nbd_get_tls_hostname (h), "preset-host"), uri, "hostname changed");
    UCHECK (str_is (nbd_get_tls_priority (h), "NORMAL:%COMPAT"), uri, "priority changed");
    UCHECK (nbd_get_tls (h) == LIBNBD_TLS_DISABLE, uri, "tls changed");
    UCHECK (nbd_get_tls_verify_peer (h) == 1, uri, "verify changed");
    nbd_close (h);
  }
}

/* What an accepted URI must have set.  NULL strings: not changed from
 * the preset; the preset TLS setting is LIBNBD_TLS_DISABLE (0) and
 * peer verification is on, so zero fields mean "unchanged" too. */
struct want {
  const char *export_name;
  int tls;
  const char *user;
  const char *hostname;
  bool no_verify;
  const char *priority;
  const char *in_error;         /* the connect error names this (socket) */
};

static void
accepted (const char *tmpl, struct policy p, struct want w)
{
  const char *uri = expand (tmpl);
  struct nbd_handle *h = handle_with (p);
  const char *msg;
  int r, e;

  preset (h);
  r = nbd_aio_connect_uri (h, uri);
  e = nbd_get_errno ();
  msg = nbd_get_error ();
  /* Parsing succeeded when connecting started: the connection is in
   * progress, or it failed (dead) with the transport's own error. */
  UCHECK (!nbd_aio_is_created (h), uri, "still created: rc %d errno %d: %s", r,
          e, msg);
  UCHECK (r == 0 || (e != EINVAL && e != EPERM && e != ENAMETOOLONG), uri,
          "refused: errno %d: %s", e, msg);
  if (w.in_error)
    UCHECK (r == -1 && msg && strstr (msg, w.in_error), uri,
            "error \"%s\" does not name %s", msg ? msg : "", w.in_error);
  UCHECK (str_is (nbd_get_export_name (h), w.export_name), uri,
          "export name is not \"%s\"", w.export_name);
  UCHECK (nbd_get_tls (h) == w.tls, uri, "tls is %d", nbd_get_tls (h));
  UCHECK (str_is (nbd_get_tls_username (h), w.user ? w.user : "preset-user"), uri,
          "tls username is not %s", w.user ? w.user : "preset-user");
  UCHECK (str_is (nbd_get_tls_hostname (h), w.hostname ? w.hostname : "preset-host"),
          uri, "tls hostname is not %s", w.hostname ? w.hostname : "preset-host");
  UCHECK (nbd_get_tls_verify_peer (h) == !w.no_verify, uri,
          "verify peer is %d", nbd_get_tls_verify_peer (h));
  UCHECK (str_is (nbd_get_tls_priority (h), w.priority ? w.priority : "NORMAL:%COMPAT"),
          uri, "tls priority is not %s", w.priority ? w.priority : "NORMAL:%COMPAT");
  nbd_close (h);
}

/* Like accepted, but without the preset tls hostname (TCP connects take
 * the host as TLS hostname when none is set). */
static void
accepted_tcp (const char *tmpl, struct policy p, const char *export_name,
              const char *host)
{
  const char *uri = expand (tmpl);
  struct nbd_handle *h = handle_with (p);

  nbd_aio_connect_uri (h, uri);
  UCHECK (!nbd_aio_is_created (h), uri, "refused: %s", nbd_get_error ());
  UCHECK (str_is (nbd_get_export_name (h), export_name), uri,
          "export name is not \"%s\"", export_name);
  UCHECK (str_is (nbd_get_tls_hostname (h), host), uri, "host is not \"%s\"", host);
  nbd_close (h);
}

#define W(...) ((struct want) { __VA_ARGS__ })

/* The URI is taken (connecting starts, or fails in the transport), and
 * nbd_get_uri then names the address it went to, as libnbd reads the
 * URI.  Both are templates for expand. */
static void
goes_to (const char *tmpl, const char *want_tmpl)
{
  struct nbd_handle *h = test_create ();
  char uri[512], want[512], *got;

  snprintf (uri, sizeof uri, "%s", expand (tmpl));
  snprintf (want, sizeof want, "%s", expand (want_tmpl));
  nbd_aio_connect_uri (h, uri);
  UCHECK (!nbd_aio_is_created (h), uri, "refused: %s", nbd_get_error ());
  got = nbd_get_uri (h);
  UCHECK (got && strcmp (got, want) == 0, uri, "nbd_get_uri gave %.100s, expected %.100s",
          got ? got : "NULL", want);
  free (got);
  nbd_close (h);
}

static void
test_accepted (void)
{
  /* TCP: export names from the path. */
  accepted ("nbd://127.0.0.1:%P/foo", DEFAULT, W (.export_name = "foo"));
  accepted ("nbd://127.0.0.1:%P", DEFAULT, W (.export_name = ""));
  accepted ("nbd://127.0.0.1:%P/", DEFAULT, W (.export_name = ""));
  accepted ("nbd://127.0.0.1:%P//foo", DEFAULT, W (.export_name = "/foo"));
  accepted ("nbd://127.0.0.1:%P/hello%20world", DEFAULT, W (.export_name = "hello world"));
  accepted ("nbd://127.0.0.1:%P/a/b/", DEFAULT, W (.export_name = "a/b/"));
  accepted ("nbd://127.0.0.1:%P/%2F%3f%23%25%26", DEFAULT, W (.export_name = "/?#%&"));
  accepted ("nbd://127.0.0.1:%P/x/../y/./z", DEFAULT, W (.export_name = "x/../y/./z"));
  accepted ("nbd://127.0.0.1:%P/a+b", DEFAULT, W (.export_name = "a+b"));
  accepted ("nbd://127.0.0.1:%P/x#fragment", DEFAULT, W (.export_name = "x"));
  accepted ("nbd://127.0.0.1:%P?x=y", DEFAULT, W (.export_name = ""));
  accepted ("nbd://127.0.0.1:%P/%C3%BC", DEFAULT, W (.export_name = "\xc3\xbc"));
  {
    char *a = test_repeat ('a', 4096), tmpl[4200];
    snprintf (tmpl, sizeof tmpl, "nbd://127.0.0.1:%%P/%s", a);
    accepted (tmpl, DEFAULT, W (.export_name = a));
    free (a);
  }

  /* TLS and the user name. */
  accepted ("nbds://127.0.0.1:%P/x", DEFAULT, W (.export_name = "x", .tls = LIBNBD_TLS_REQUIRE));
  accepted ("nbds://alice@127.0.0.1:%P/x", DEFAULT,
            W (.export_name = "x", .tls = LIBNBD_TLS_REQUIRE, .user = "alice"));
  accepted ("nbd://alice@127.0.0.1:%P/x", DEFAULT, W (.export_name = "x", .user = "alice"));
  accepted ("nbd://al%40ice@127.0.0.1:%P/x", DEFAULT, W (.export_name = "x", .user = "al@ice"));
  accepted ("nbd://alice:pw@127.0.0.1:%P/x", DEFAULT, W (.export_name = "x", .user = "alice:pw"));
  /* An empty user name: libnbd takes the rest of the URI, from the '@'
   * on and decoded, as the user name. */
  {
    char user[256];
    snprintf (user, sizeof user, "@127.0.0.1:%d/x y#f", port);
    accepted ("nbd://@127.0.0.1:%P/x%20y#f", DEFAULT, W (.export_name = "x y", .user = user));
  }
  /* A decoded NUL ends a string there, as in libnbd. */
  accepted ("nbd://127.0.0.1:%P/a%00b", DEFAULT, W (.export_name = "a"));
  accepted ("nbd://al%00ice@127.0.0.1:%P/x", DEFAULT, W (.export_name = "x", .user = "al"));
  accepted ("nbd://127.0.0.1:%P/x?tls-hostname=a%00b", DEFAULT,
            W (.export_name = "x", .hostname = "a"));

  /* Query parameters. */
  accepted ("nbd://127.0.0.1:%P/x?tls-verify-peer=false", DEFAULT,
            W (.export_name = "x", .no_verify = true));
  for (const char *const *v = (const char *const[]) { "0", "no", "off", "FALSE", NULL }; *v; v++) {
    char tmpl[128];
    snprintf (tmpl, sizeof tmpl, "nbds://127.0.0.1:%%P/x?tls-verify-peer=%s", *v);
    accepted (tmpl, DEFAULT, W (.export_name = "x", .tls = 2, .no_verify = true));
  }
  {
    /* true again after the program turned verification off */
    struct nbd_handle *h = test_create ();
    CHECK_OK (nbd_set_tls_verify_peer (h, false));
    nbd_aio_connect_uri (h, expand ("nbd://127.0.0.1:%P/x?tls-verify-peer=1"));
    CHECK_INT (nbd_get_tls_verify_peer (h), 1);
    nbd_close (h);
  }
  accepted ("nbd://127.0.0.1:%P/x?tls-hostname=example.org", DEFAULT,
            W (.export_name = "x", .hostname = "example.org"));
  accepted ("nbd://127.0.0.1:%P/x?tls-hostname=a&tls-hostname=b", DEFAULT,
            W (.export_name = "x", .hostname = "b"));
  accepted ("nbd://127.0.0.1:%P/x?tls-verify-peer=false;tls-hostname=semi", DEFAULT,
            W (.export_name = "x", .hostname = "semi", .no_verify = true));
  accepted ("nbd://127.0.0.1:%P/x?tls-hostname=a%3Bb", DEFAULT,
            W (.export_name = "x", .hostname = "a;b"));
  accepted ("nbd://127.0.0.1:%P/x?unknown=1&&=2&flag&x-experiment=3", DEFAULT,
            W (.export_name = "x"));
  accepted ("nbd://127.0.0.1:%P/x?tls-certificates=/nonexistent&tls-psk-file=/nonexistent/psk",
            LOCAL, W (.export_name = "x"));
  accepted ("nbd://127.0.0.1:%P/x?tls-priority=NORMAL:-VERS-TLS1.0", PRIO,
            W (.export_name = "x", .priority = "NORMAL:-VERS-TLS1.0"));

  /* Hosts. */
  accepted_tcp ("nbd://127.0.0.1:%P/x", DEFAULT, "x", "127.0.0.1");
  accepted_tcp ("nbd://[::1]:%P/x", DEFAULT, "x", "::1");
  /* A zone id, encoded as RFC 6874 says or with a bare '%' as libnbd
   * also accepts. */
  accepted_tcp ("nbd://[fe80::1%25lo]:%P/x", DEFAULT, "x", "fe80::1%lo");
  accepted_tcp ("nbd://[fe80::1%lo]:%P/x", DEFAULT, "x", "fe80::1%lo");
  accepted_tcp ("nbd://[fe80::1%25%65th0]:%P/x", DEFAULT, "x", "fe80::1%eth0");
  accepted_tcp ("nbd://:%P/x", DEFAULT, "x", "localhost");
  accepted_tcp ("nbd://local%68ost:%P/x", DEFAULT, "x", "localhost");
  accepted_tcp ("nbd://127.0.0.1:000%P/x", DEFAULT, "x", "127.0.0.1");
  /* An IPvFuture literal goes to getaddrinfo, which fails. */
  accepted_tcp ("nbd://[v1.fe]:%P/x", DEFAULT, "x", "v1.fe");

  /* Ports as libnbd reads them: 0 is no port; with no host the port is
   * dropped; a port above 65535 (but within an int) goes to getaddrinfo
   * as it is. */
  goes_to ("nbd://127.0.0.1:000%P/x", "nbd://127.0.0.1:%P/x");
  goes_to ("nbd://127.0.0.1:0/x", "nbd://127.0.0.1:10809/x");
  goes_to ("nbd://:%P/x", "nbd://localhost:10809/x");
  goes_to ("nbd://127.0.0.1:99999/x", "nbd://127.0.0.1:99999/x");
  goes_to ("nbd://127.0.0.1:2147483647/x", "nbd://127.0.0.1:2147483647/x");

  /* Unix sockets: the connect error names the decoded path. */
  accepted ("nbd+unix:///foo?socket=%S", DEFAULT, W (.export_name = "foo", .in_error = nosock));
  accepted ("nbds+unix://bob@/e?socket=%S", DEFAULT,
            W (.export_name = "e", .tls = 2, .user = "bob", .in_error = nosock));
  accepted ("nbd+unix://127.0.0.1:99/x?socket=%S", DEFAULT,
            W (.export_name = "x", .in_error = nosock));
  accepted ("nbd+unix:///x?socket=/elsewhere&socket=%S", DEFAULT,
            W (.export_name = "x", .in_error = nosock));
  accepted ("nbd+unix:///x?socket=/tmp/a%20b%2Bc+d", DEFAULT,
            W (.export_name = "x", .in_error = "/tmp/a b+c+d"));
  accepted ("nbd+unix:///x?socket=%S&tls-certificates=/nonexistent", LOCAL,
            W (.export_name = "x", .in_error = nosock));
  /* An empty socket path is tried as it is, and the connect fails. */
  accepted ("nbd+unix:///x?socket=", DEFAULT, W (.export_name = "x"));
  accepted ("nbd+unix:///x?socket", DEFAULT, W (.export_name = "x"));
  accepted ("nbd+unix:///x?socket=%00abstract", DEFAULT, W (.export_name = "x"));
  accepted ("nbd+unix:///x?socket=%S%00tail", DEFAULT,
            W (.export_name = "x", .in_error = nosock));

  /* vsock (CID 1 is the local loopback). */
  accepted ("nbd+vsock://1:%P/v", DEFAULT, W (.export_name = "v"));
  accepted ("nbds+vsock://1:%P/v", DEFAULT, W (.export_name = "v", .tls = 2));
  /* The CID as strtoul reads it, cut to 32 bits; the port as for TCP. */
  goes_to ("nbd+vsock:///x", "nbd+vsock://2:10809/x");
  goes_to ("nbd+vsock://0x10/x", "nbd+vsock://0:10809/x");
  goes_to ("nbd+vsock://5abc:7/x", "nbd+vsock://5:7/x");
  goes_to ("nbd+vsock://-1/x", "nbd+vsock://4294967295:10809/x");
  goes_to ("nbd+vsock://4294967297:5/x", "nbd+vsock://1:5/x");
  goes_to ("nbd+vsock://99999999999999999999/x", "nbd+vsock://4294967295:10809/x");
  goes_to ("nbd+vsock://1:0/x", "nbd+vsock://1:10809/x");
  goes_to ("nbd+vsock://:5/x", "nbd+vsock://2:10809/x");

  /* Plain nbd:// leaves a TLS choice made by the program alone. */
  {
    struct nbd_handle *h = test_create ();
    CHECK_OK (nbd_set_tls (h, LIBNBD_TLS_ALLOW));
    nbd_aio_connect_uri (h, expand ("nbd://127.0.0.1:%P/x"));
    CHECK_INT (nbd_get_tls (h), LIBNBD_TLS_ALLOW);
    nbd_close (h);
  }
}

static void
test_refused (void)
{
  struct policy p;

  /* Not NBD URIs, or malformed ones. */
  refused ("", DEFAULT, EINVAL);
  refused ("not a uri", DEFAULT, EINVAL);
  refused ("/tmp/disk.img", DEFAULT, EINVAL);
  refused ("http://127.0.0.1:%P/x", DEFAULT, EINVAL);
  refused ("NBD://127.0.0.1:%P/x", DEFAULT, EINVAL);
  refused ("nbd+foo://127.0.0.1:%P/x", DEFAULT, EINVAL);
  refused ("nbd:127.0.0.1", DEFAULT, EINVAL);
  refused ("nbd:/x", DEFAULT, EINVAL);
  refused ("nbd+unix:?socket=%S", DEFAULT, EINVAL);
  refused ("nbd://127.0.0.1:abc/x", DEFAULT, EINVAL);
  refused ("nbd://127.0.0.1:/x", DEFAULT, EINVAL);
  refused ("nbd+unix://h:/x?socket=%S", DEFAULT, EINVAL);
  refused ("nbd://127.0.0.1:2147483648/x", DEFAULT, EINVAL);
  refused ("nbd://127.0.0.1:99999999999999999999999/x", DEFAULT, EINVAL);
  refused ("nbd://127.0.0.1:%P/a b", DEFAULT, EINVAL);
  refused ("nbd://127.0.0.1:%P/\xc3\xbc", DEFAULT, EINVAL);
  refused ("nbd://[fe80::1%]:%P/x", DEFAULT, EINVAL);
  refused ("nbd://[fe80::1%25]:%P/x", DEFAULT, EINVAL);
  refused ("nbd+vsock://[fe80::1%25lo]/x", DEFAULT, EINVAL);
  refused ("nbd://127.0.0.1:%P/x?tls-verify-peer=maybe", DEFAULT, EINVAL);
  refused ("nbd://127.0.0.1:%P/x?tls-verify-peer", DEFAULT, EINVAL);
  refused ("nbd://127.0.0.1:%P/x?tls-priority=NO-SUCH-PRIORITY", PRIO, EINVAL);
  {
    char *a = test_repeat ('a', 4097), tmpl[4200];
    snprintf (tmpl, sizeof tmpl, "nbd://127.0.0.1:%%P/%s", a);
    refused (tmpl, DEFAULT, ENAMETOOLONG);
    free (a);
  }

  /* The socket parameter. */
  refused ("nbd+unix:///x", DEFAULT, EINVAL);
  refused ("nbds+unix:///x?tls-certificates=/d", LOCAL, EINVAL);
  refused ("nbd://127.0.0.1:%P/x?socket=%S", DEFAULT, EINVAL);
  refused ("nbds://127.0.0.1:%P/x?socket=%S", DEFAULT, EINVAL);
  refused ("nbd+vsock://1:%P/x?socket=%S", DEFAULT, EINVAL);

  /* vsock addresses. */
  refused ("nbd+vsock://abc/x", DEFAULT, EINVAL);
  refused ("nbd+vsock://%20/x", DEFAULT, EINVAL);
  refused ("nbd+vsock://[v1.fe]/x", DEFAULT, EINVAL);
  refused ("nbd+vsock://[::1]/x", DEFAULT, EINVAL);
  refused ("nbd+vsock://127.0.0.1/x", DEFAULT, EINVAL);
  refused ("nbd+vsock://1:2147483648/x", DEFAULT, EINVAL);

  /* ssh: a server is needed, and may not look like an option. */
  refused ("nbd+ssh:///x", DEFAULT, EINVAL);
  refused ("nbd+ssh://-oProxyCommand=false/x", DEFAULT, EINVAL);
  refused ("nbd+ssh://-oProxyCommand=false@host/x", DEFAULT, EINVAL);
  refused ("nbd+ssh://host:65536/x", DEFAULT, EINVAL);

  /* Transports. */
  p = DEFAULT;
  p.transports = ALL_TRANSPORTS & ~LIBNBD_ALLOW_TRANSPORT_TCP;
  refused ("nbd://127.0.0.1:%P/x", p, EPERM);
  refused ("nbds://127.0.0.1:%P/x", p, EPERM);
  p.transports = ALL_TRANSPORTS & ~LIBNBD_ALLOW_TRANSPORT_UNIX;
  refused ("nbd+unix:///x?socket=%S", p, EPERM);
  refused ("nbds+unix:///x", p, EPERM);    /* before the missing socket */
  p.transports = ALL_TRANSPORTS & ~LIBNBD_ALLOW_TRANSPORT_VSOCK;
  refused ("nbd+vsock://1:%P/x", p, EPERM);
  refused ("nbds+vsock://1:%P/x", p, EPERM);
  p.transports = ALL_TRANSPORTS & ~LIBNBD_ALLOW_TRANSPORT_SSH;
  refused ("nbd+ssh://host/x", p, EPERM);
  refused ("nbds+ssh://host/x", p, EPERM);
  p.transports = 0;
  refused ("nbd+unix:///x?socket=%S", p, EPERM);
  refused ("nbd:x", p, EINVAL);             /* syntax comes first */

  /* TLS policy. */
  p = DEFAULT;
  p.tls = LIBNBD_TLS_DISABLE;
  refused ("nbds://127.0.0.1:%P/x", p, EPERM);
  refused ("nbds+unix:///x?socket=%S", p, EPERM);
  refused ("nbds+vsock://1:%P/x", p, EPERM);
  refused ("nbds+ssh://host/x", p, EPERM);
  refused ("nbds:x", p, EINVAL);
  p.tls = LIBNBD_TLS_REQUIRE;
  refused ("nbd://127.0.0.1:%P/x", p, EPERM);
  refused ("nbd+unix:///x?socket=%S", p, EPERM);
  refused ("nbd+vsock://1:%P/x", p, EPERM);
  refused ("nbd+ssh://host/x", p, EPERM);
  accepted ("nbds://127.0.0.1:%P/x", p, W (.export_name = "x", .tls = 2));

  /* Local files and the TLS priority. */
  refused ("nbd://127.0.0.1:%P/x?tls-certificates=/d", DEFAULT, EPERM);
  refused ("nbd://127.0.0.1:%P/x?tls-psk-file=/f", DEFAULT, EPERM);
  refused ("nbd://127.0.0.1:%P/x?tls-psk-file=", DEFAULT, EPERM);
  refused ("nbds+unix:///x?socket=%S&tls-certificates=/d", DEFAULT, EPERM);
  refused ("nbd://127.0.0.1:%P/x?tls-priority=NORMAL", DEFAULT, EPERM);
  refused ("nbd://127.0.0.1:%P/x?tls-priority=NORMAL", LOCAL, EPERM);
}

static void
test_handle_rules (void)
{
  struct nbd_handle *h = test_create ();

  /* A refused URI leaves the handle usable. */
  CHECK_FAIL (nbd_connect_uri (h, "nbd+unix:///x"), EINVAL, "nbd_connect_uri");
  CHECK_FAIL (nbd_aio_connect_uri (h, "nbd+bogus://"), EINVAL, "nbd_aio_connect_uri");
  CHECK_FAIL (nbd_aio_connect_uri (h, NULL), EFAULT, "nbd_aio_connect_uri");
  CHECK_FAIL (nbd_connect_uri (h, NULL), EFAULT, "nbd_connect_uri");
  CHECK_FAIL_NULL (nbd_get_uri (h), ENOTCONN, "nbd_get_uri");
  CHECK (nbd_aio_is_created (h));
  CHECK_INT (nbd_aio_connect_uri (h, expand ("nbd://127.0.0.1:%P/later")), 0);
  CHECK (!nbd_aio_is_created (h));
  CHECK_STR_FREE (nbd_get_export_name (h), "later");
  /* One connect per handle. */
  CHECK_FAIL (nbd_aio_connect_uri (h, expand ("nbd://127.0.0.1:%P/again")), EINVAL,
              "nbd_aio_connect_uri");
  CHECK_FAIL (nbd_connect_uri (h, expand ("nbd://127.0.0.1:%P/again")), EINVAL,
              "nbd_connect_uri");
  CHECK_STR_FREE (nbd_get_export_name (h), "later");
  nbd_close (h);

  /* The sync call reports the connect failure. */
  h = test_create ();
  CHECK_FAIL (nbd_connect_uri (h, expand ("nbd://127.0.0.1:%P/x")), ECONNREFUSED,
              "nbd_connect_uri");
  nbd_close (h);
  h = test_create ();
  CHECK_FAIL (nbd_connect_uri (h, expand ("nbd+unix:///x?socket=%S")), ENOENT,
              "nbd_connect_uri");
  CHECK (nbd_aio_is_dead (h));
  nbd_close (h);
}

/* The URI policy of a new handle, seen only through what it accepts:
 * every transport, TLS and plain URIs, no local files, no TLS priority. */
static void
test_defaults (void)
{
  static const char *const parsed[] = {
    "nbd://127.0.0.1:%P/x", "nbds://127.0.0.1:%P/x", "nbd+unix:///x?socket=%S",
    "nbds+unix:///x?socket=%S", "nbd+vsock://1:%P/x", "nbds+vsock://1:%P/x", NULL,
  };
  static const struct { const char *uri; int err; } refusals[] = {
    /* EINVAL for the missing server, not EPERM: ssh is allowed. */
    { "nbd+ssh:///x", EINVAL }, { "nbds+ssh:///x", EINVAL },
    { "nbd://127.0.0.1:%P/x?tls-certificates=/d", EPERM },
    { "nbd://127.0.0.1:%P/x?tls-psk-file=/f", EPERM },
    { "nbd://127.0.0.1:%P/x?tls-priority=NORMAL", EPERM },
  };

  for (const char *const *t = parsed; *t; t++) {
    struct nbd_handle *h = test_create ();
    const char *uri = expand (*t);
    int r = nbd_aio_connect_uri (h, uri);

    UCHECK (!nbd_aio_is_created (h), uri, "refused by default: rc %d: %s", r,
            nbd_get_error ());
    nbd_close (h);
  }
  for (size_t i = 0; i < sizeof refusals / sizeof refusals[0]; i++) {
    struct nbd_handle *h = test_create ();
    const char *uri = expand (refusals[i].uri);

    UCHECK (nbd_aio_connect_uri (h, uri) == -1 && nbd_get_errno () == refusals[i].err,
            uri, "expected errno %d, got %d: %s", refusals[i].err, nbd_get_errno (),
            nbd_get_error ());
    nbd_close (h);
  }
}

static void
test_is_uri (void)
{
  static const char *const good[] = {
    "nbd://example.com", "nbds://example.com/disk", "nbd+unix:///?socket=/s",
    "nbds+unix://alice@/x?socket=/s", "nbd+vsock:///", "nbds+vsock://2:10809/",
    "nbd+ssh://server/", "nbds+ssh://u@server:22/x", "NBD://example.com",
    "Nbds+Unix:///?socket=/s", "nbd:", "nbd:example.com", "nbd+future://x",
    "nbd://[::1]:10809/", "nbd:// not even parseable", NULL,
  };
  static const char *const bad[] = {
    "", "nbd", "nbds", "disk.img", "/tmp/disk.img", "./nbd://x", " nbd://x",
    "http://example.com", "file:///tmp/x", "nbdx://example.com", "nb://x",
    "nbd+://x", "nbd+1://x", "nbd+unix", "nbd.img", "nbd//x", "nbdss://x",
    "nbd-unix://x", "xnbd://x", NULL,
  };
  struct nbd_handle *h = test_create ();

  for (const char *const *s = good; *s; s++)
    UCHECK (nbd_is_uri (h, *s) == 1, *s, "not seen as an NBD URI");
  for (const char *const *s = bad; *s; s++)
    UCHECK (nbd_is_uri (h, *s) == 0, *s, "seen as an NBD URI");
  CHECK_FAIL (nbd_is_uri (h, NULL), EFAULT, "nbd_is_uri");
  /* Any state: also on a dead handle. */
  nbd_aio_connect_uri (h, expand ("nbd+unix:///x?socket=%S"));
  CHECK (nbd_aio_is_dead (h));
  CHECK_INT (nbd_is_uri (h, "nbd://x"), 1);
  nbd_close (h);
}

int
main (void)
{
  ut_init ();
  setenv ("LOGNAME", "uri-test", 1);
  port = ut_free_port (AF_INET);
  if (port <= 0)
    TEST_SKIP ("no loopback TCP");
  snprintf (nosock, sizeof nosock, "%s", ut_path ("no-such.sock"));

  test_defaults ();
  test_accepted ();
  test_refused ();
  test_handle_rules ();
  test_is_uri ();
  return test_exit ();
}
