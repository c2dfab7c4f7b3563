/* TLS in the handshake, through the public API, against nbdkit and the
 * fake server.
 *
 * usage: tls CASE
 *   required  with nbd_set_tls (LIBNBD_TLS_REQUIRE) (or an nbds URI),
 *             every server that cannot or will not do TLS is refused
 *             with ENOTSUP, as libnbd does, before anything but
 *             STARTTLS leaves in plaintext: oldstyle, newstyle without
 *             the fixed flag (from either side), STARTTLS refused for
 *             any reason
 *   verify    the server's certificate is checked by default only when
 *             there is a host name to check it against (TCP, or
 *             nbd_set_tls_hostname); nbd_set_tls_verify_peer decides
 *             once the program calls it
 *   starttls  after nbd_opt_starttls, what was negotiated in plaintext
 *             (structured replies, the export's facts, meta contexts) is
 *             forgotten, and nbd_opt_go negotiates afresh
 */
#include "interop.h"

/* ---- required ---- */

/* Connecting with TLS required fails with ENOTSUP, the handle is dead,
 * and the message names the reason. */
static void
refused (char **argv, bool opt_mode, uint32_t handshake_flags, const char *reason)
{
  struct nbd_handle *h = test_create ();
  char buf[512];

  it_print_argv ("server", argv);
  CHECK_OK (nbd_set_tls (h, LIBNBD_TLS_REQUIRE));
  CHECK_OK (nbd_set_opt_mode (h, opt_mode));
  CHECK_OK (nbd_set_handshake_flags (h, handshake_flags));
  CHECK_FAIL (nbd_connect_command (h, argv), ENOTSUP, "nbd_connect_command");
  CHECK_ERR_HAS (reason);
  CHECK_ERR_HAS ("TLS is required");
  printf ("   %s\n", nbd_get_error ());
  CHECK (nbd_aio_is_dead (h));
  CHECK (nbd_pwrite (h, buf, sizeof buf, 0, 0) == -1);
  nbd_close (h);
}

/* Nothing but STARTTLS reached the fake server.  The log is complete:
 * nbd_close has waited for the server to exit. */
static void
nothing_in_plaintext (const char *log)
{
  static const char *const never[] = {
    "OPT GO", "OPT INFO", "OPT EXPORT_NAME", "OPT LIST", "OPT STRUCTURED_REPLY",
    "OPT SET_META_CONTEXT", "CMD ",
  };
  char *text = it_slurp (log);

  for (size_t i = 0; i < sizeof never / sizeof never[0]; i++)
    IT_CHECK (text == NULL || strstr (text, never[i]) == NULL,
              "the server never saw \"%s\"", never[i]);
  free (text);
}

static void
required_case (void)
{
  static const char *const starttls_errors[] = { "POLICY", "UNSUP", "INVALID", "TLS_REQD" };
  const char *log;

  it_section ("oldstyle servers cannot do TLS: refused before the first command");
  log = it_fresh_path ("oldstyle.log");
  refused (it_fakesrv ("--oldstyle", "--log", log, NULL), false,
           LIBNBD_HANDSHAKE_FLAG_MASK, "oldstyle");
  nothing_in_plaintext (log);
  refused (it_argv ("nbdkit", "-s", "-o", "--exit-with-parent", "memory", "1M", NULL),
           false, LIBNBD_HANDSHAKE_FLAG_MASK, "oldstyle");
  refused (it_fakesrv ("--oldstyle", NULL), true, LIBNBD_HANDSHAKE_FLAG_MASK, "oldstyle");

  it_section ("newstyle without the fixed flag has no STARTTLS: refused");
  log = it_fresh_path ("no-fixed.log");
  refused (it_fakesrv ("--no-fixed", "--log", log, NULL), false,
           LIBNBD_HANDSHAKE_FLAG_MASK, "fixed newstyle");
  nothing_in_plaintext (log);
  refused (it_fakesrv ("--no-fixed", NULL), true, LIBNBD_HANDSHAKE_FLAG_MASK,
           "fixed newstyle");
  printf ("   the client clearing the fixed flag itself (nbd_set_handshake_flags)\n");
  log = it_fresh_path ("client-no-fixed.log");
  refused (it_fakesrv ("--log", log, NULL), false, 0, "fixed newstyle");
  nothing_in_plaintext (log);

  for (size_t i = 0; i < sizeof starttls_errors / sizeof starttls_errors[0]; i++) {
    char arg[64];
    snprintf (arg, sizeof arg, "STARTTLS=%s:no TLS here", starttls_errors[i]);
    it_section ("STARTTLS refused with ERR_%s: ENOTSUP, whatever the reason",
                starttls_errors[i]);
    log = it_fresh_path ("refused.log");
    refused (it_fakesrv ("--refuse", arg, "--log", log, NULL), false,
             LIBNBD_HANDSHAKE_FLAG_MASK, "no TLS here");
    IT_CHECK (it_file_has (log, "OPT STARTTLS"), "STARTTLS was asked for");
    nothing_in_plaintext (log);
    log = it_fresh_path ("refused-opt.log");
    refused (it_fakesrv ("--refuse", arg, "--log", log, NULL), true,
             LIBNBD_HANDSHAKE_FLAG_MASK, "no TLS here");
    nothing_in_plaintext (log);
  }

  it_section ("an nbds+unix URI to nbdkit without TLS: ENOTSUP (libnbd's errno)");
  {
    const char *sock = it_path ("plain.sock");
    pid_t pid = it_spawn (it_argv ("nbdkit", "-f", "--exit-with-parent", "-U", sock,
                                   "memory", "1M", NULL));
    char uri[512];
    struct nbd_handle *h = test_create ();

    if (it_wait_unix (pid, sock)) {
      snprintf (uri, sizeof uri, "nbds+unix:///?socket=%s", sock);
      CHECK_FAIL (nbd_connect_uri (h, uri), ENOTSUP, "nbd_connect_uri");
      CHECK_ERR_HAS ("TLS is required");
      CHECK (nbd_aio_is_dead (h));
    }
    else
      IT_CHECK (0, "nbdkit listens on %s", sock);
    nbd_close (h);
    it_stop (pid);
  }

  it_section ("TLS allowed (not required): the same servers connect in plaintext");
  {
    struct nbd_handle *h = test_create ();
    CHECK_OK (nbd_set_tls (h, LIBNBD_TLS_ALLOW));
    CHECK_OK (nbd_connect_command (h, it_fakesrv ("--oldstyle", NULL)));
    CHECK_INT (nbd_get_tls_negotiated (h), 0);
    nbd_close (h);
    h = test_create ();
    CHECK_OK (nbd_set_tls (h, LIBNBD_TLS_ALLOW));
    CHECK_OK (nbd_connect_command (h, it_fakesrv (NULL)));
    CHECK_INT (nbd_get_tls_negotiated (h), 0);
    nbd_close (h);
  }
}

/* ---- verify ---- */

/* Run a shell command in the temporary directory; false if it failed. */
static bool
sh_in_dir (const char *cmd)
{
  char line[4096];
  snprintf (line, sizeof line, "cd '%s' && (%s) >/dev/null 2>&1", it_path (""), cmd);
  return system (line) == 0;
}

/* A CA signing the server's certificate for "localhost" (server/, and
 * its CA alone in good/), and an unrelated CA (in other/). */
static bool
make_certificates (void)
{
  return sh_in_dir (
    "mkdir server good other"
    " && printf 'cn = test CA\\nca\\ncert_signing_key\\nexpiration_days = 2\\n' > ca.info"
    " && printf 'cn = localhost\\ndns_name = localhost\\ntls_www_server\\n"
    "encryption_key\\nsigning_key\\nexpiration_days = 2\\n' > server.info"
    " && certtool --generate-privkey --outfile ca-key.pem"
    " && certtool --generate-self-signed --load-privkey ca-key.pem"
    "      --template ca.info --outfile good/ca-cert.pem"
    " && certtool --generate-privkey --outfile server/server-key.pem"
    " && certtool --generate-certificate --load-ca-certificate good/ca-cert.pem"
    "      --load-ca-privkey ca-key.pem --load-privkey server/server-key.pem"
    "      --template server.info --outfile server/server-cert.pem"
    " && cp good/ca-cert.pem server/"
    " && certtool --generate-privkey --outfile other-key.pem"
    " && certtool --generate-self-signed --load-privkey other-key.pem"
    "      --template ca.info --outfile other/ca-cert.pem");
}

enum peer { OVER_UNIX, OVER_TCP };

struct verify_server {
  const char *sock;
  char port[16];
};

/* Connect with the CA in dir (under the temporary directory); verify
 * -1 leaves nbd_set_tls_verify_peer alone.  Returns the connect's
 * result; the handle is closed. */
static int
try_verify (const struct verify_server *srv, enum peer peer, const char *dir,
            int verify, const char *hostname)
{
  struct nbd_handle *h = test_create ();
  int r;

  CHECK_OK (nbd_set_tls (h, LIBNBD_TLS_REQUIRE));
  CHECK_OK (nbd_set_tls_certificates (h, it_path (dir)));
  if (verify != -1)
    CHECK_OK (nbd_set_tls_verify_peer (h, verify));
  if (hostname)
    CHECK_OK (nbd_set_tls_hostname (h, hostname));
  /* The getter reports the flag, whose default is true. */
  CHECK_INT (nbd_get_tls_verify_peer (h), verify != 0);
  if (peer == OVER_UNIX)
    r = nbd_connect_unix (h, srv->sock);
  else
    r = nbd_connect_tcp (h, "localhost", srv->port);
  printf ("   %s, CA %s, verify %s%s%s: %s\n", peer == OVER_UNIX ? "unix" : "tcp", dir,
          verify == -1 ? "default" : verify ? "on" : "off",
          hostname ? ", host name " : "", hostname ? hostname : "",
          r == 0 ? "connected" : nbd_get_error ());
  if (r == -1) {
    CHECK_INT (nbd_get_errno (), EACCES);
    CHECK_ERR_HAS ("certificate");
  }
  else
    CHECK_INT (nbd_get_tls_negotiated (h), 1);
  nbd_close (h);
  return r;
}

static void
verify_case (void)
{
  struct verify_server srv = { .sock = it_path ("tls.sock") };
  char certs[512];
  pid_t unix_pid, tcp_pid;
  int port;

  if (!it_have ("certtool"))
    TEST_SKIP ("certtool (Debian: gnutls-bin) is not installed");
  if (!make_certificates ()) {
    IT_CHECK (0, "certtool made the certificates");
    return;
  }
  snprintf (certs, sizeof certs, "--tls-certificates=%s", it_path ("server"));
  unix_pid = it_spawn (it_argv ("nbdkit", "-f", "--exit-with-parent", "--tls=require", certs,
                                "-U", srv.sock, "memory", "1M", NULL));
  port = it_free_port ();
  snprintf (srv.port, sizeof srv.port, "%d", port);
  tcp_pid = it_spawn (it_argv ("nbdkit", "-f", "--exit-with-parent", "--tls=require", certs,
                               "-i", "127.0.0.1", "-p", srv.port, "memory", "1M", NULL));
  if (!it_wait_unix (unix_pid, srv.sock) || !it_wait_tcp (tcp_pid, port)) {
    IT_CHECK (0, "both nbdkit servers listen");
    return;
  }

  it_section ("Unix socket, a certificate from a CA we do not trust");
  /* libnbd 1.14 connects here too: no host name, no verification. */
  CHECK_INT (try_verify (&srv, OVER_UNIX, "other", -1, NULL), 0);
  printf ("   once the program asks for verification, it happens\n");
  CHECK_INT (try_verify (&srv, OVER_UNIX, "other", 1, NULL), -1);
  printf ("   a host name set by the program is checked, as over TCP\n");
  CHECK_INT (try_verify (&srv, OVER_UNIX, "other", -1, "localhost"), -1);
  CHECK_INT (try_verify (&srv, OVER_UNIX, "good", -1, "localhost"), 0);

  it_section ("TCP: verified by default");
  CHECK_INT (try_verify (&srv, OVER_TCP, "other", -1, NULL), -1);
  CHECK_INT (try_verify (&srv, OVER_TCP, "good", -1, NULL), 0);
  CHECK_INT (try_verify (&srv, OVER_TCP, "other", 0, NULL), 0);
  it_stop (unix_pid);
  it_stop (tcp_pid);
}

/* ---- starttls ---- */

static void
starttls_case (void)
{
  const char *keys = it_path ("keys.psk");
  char psk_arg[512];
  char buf[512];
  FILE *f = fopen (keys, "w");
  struct nbd_handle *h;

  if (f == NULL || fputs ("alice:00112233445566778899aabbccddeeff\n", f) == EOF
      || fclose (f) != 0) {
    IT_CHECK (0, "write %s", keys);
    return;
  }
  snprintf (psk_arg, sizeof psk_arg, "--tls-psk=%s", keys);

  it_section ("nbd_opt_starttls refused: false, and the completion hears ENOTSUP or EINVAL");
  {
    static const struct { const char *refusal; int err; } refusals[] = {
      { "STARTTLS=POLICY", ENOTSUP }, { "STARTTLS=UNSUP", ENOTSUP },
      { "STARTTLS=INVALID", EINVAL },
    };
    for (size_t i = 0; i < sizeof refusals / sizeof refusals[0]; i++) {
      struct it_calls c;
      h = test_create ();
      CHECK_OK (nbd_set_opt_mode (h, true));
      CHECK_OK (nbd_connect_command (h, it_fakesrv ("--refuse", refusals[i].refusal, NULL)));
      CHECK_INT (nbd_opt_starttls (h), 0);
      it_calls_init (&c, refusals[i].refusal);
      CHECK_OK (nbd_aio_opt_starttls (h, it_completion_closure (&c)));
      CHECK_OK (it_drive (h, it_not_connecting, NULL));
      printf ("   %s: completion error %s\n", refusals[i].refusal, strerror (c.error));
      CHECK_INT (c.error, refusals[i].err);
      CHECK (nbd_aio_is_negotiating (h));
      CHECK_INT (nbd_get_tls_negotiated (h), 0);
      CHECK_OK (nbd_opt_go (h));
      nbd_close (h);
    }
  }

  for (int renegotiate = 0; renegotiate <= 1; renegotiate++) {
    it_section ("structured replies, INFO and meta contexts in plaintext, then STARTTLS%s",
                renegotiate ? ", then nbd_opt_structured_reply again" : "");
    h = test_create ();
    /* TLS left disabled, so that nothing starts it before the program. */
    CHECK_OK (nbd_set_opt_mode (h, true));
    CHECK_OK (nbd_set_tls_psk_file (h, keys));
    CHECK_OK (nbd_set_tls_username (h, "alice"));
    CHECK_OK (nbd_add_meta_context (h, LIBNBD_CONTEXT_BASE_ALLOCATION));
    CHECK_OK (nbd_connect_command (h, it_argv ("nbdkit", "-s", "--exit-with-parent",
                                               "--tls=on", psk_arg, "memory", "1M",
                                               NULL)));
    CHECK_INT (nbd_get_tls_negotiated (h), 0);
    CHECK_INT (nbd_get_structured_replies_negotiated (h), 1);
    CHECK_OK (nbd_opt_info (h));
    CHECK_INT (nbd_get_size (h), 1024 * 1024);
    CHECK_INT (nbd_can_meta_context (h, LIBNBD_CONTEXT_BASE_ALLOCATION), 1);

    CHECK_INT (nbd_opt_starttls (h), 1);
    CHECK_INT (nbd_get_tls_negotiated (h), 1);
    printf ("   after STARTTLS everything learned in plaintext is gone\n");
    CHECK_INT (nbd_get_structured_replies_negotiated (h), 0);
    CHECK_FAIL (nbd_get_size (h), EINVAL, "nbd_get_size");
    CHECK_FAIL (nbd_can_flush (h), EINVAL, "nbd_can_flush");
    CHECK_FAIL (nbd_can_meta_context (h, LIBNBD_CONTEXT_BASE_ALLOCATION), EINVAL,
                "nbd_can_meta_context");

    if (renegotiate)
      CHECK_INT (nbd_opt_structured_reply (h), 1);
    CHECK_OK (nbd_opt_go (h));
    CHECK_INT (nbd_get_size (h), 1024 * 1024);
    CHECK_INT (nbd_get_structured_replies_negotiated (h), renegotiate);
    /* Without structured replies there was nothing to ask, so the
     * answer is a valid no; with them, GO asked again. */
    CHECK_INT (nbd_can_meta_context (h, LIBNBD_CONTEXT_BASE_ALLOCATION), renegotiate);
    CHECK_INT (nbd_can_df (h), renegotiate);
    CHECK_OK (nbd_pread (h, buf, sizeof buf, 0, 0));
    CHECK_OK (nbd_shutdown (h, 0));
    nbd_close (h);
  }
}

int
main (int argc, char *argv[])
{
  static const struct it_case cases[] = {
    { "required", required_case },
    { "verify", verify_case },
    { "starttls", starttls_case },
    { NULL, NULL },
  };
  return it_main (argc, argv, cases);
}
