/* NBD URIs (https://github.com/NetworkBlockDevice/nbd/blob/master/doc/uri.md):
 * nbd_aio_connect_uri, nbd_connect_uri, nbd_get_uri and nbd_is_uri.
 *
 * uriparser does the RFC 3986 work (splitting, percent-decoding, the
 * query string); this file only gives the pieces their NBD meaning and
 * applies the handle's URI policy.  Connecting is parse, check, then
 * apply: a URI that is refused leaves every setting of the handle as it
 * was, and the handle still in the created state. */
#include <ctype.h>
#include <limits.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <netinet/in.h>
#ifdef __linux__
#include <linux/vm_sockets.h>
#endif

#include <uriparser/Uri.h>

#include "api/internal.h"
#include "api/io.h"

#define NBD_DEFAULT_PORT 10809
#define NBD_MAX_STRING 4096          /* longest export name the protocol allows */
#define VSOCK_CID_HOST 2             /* the hypervisor, as seen from a guest */

enum uri_transport { URI_TCP, URI_UNIX, URI_VSOCK, URI_SSH };

struct uri_scheme {
  const char *name;
  enum uri_transport transport;
  bool tls;
  uint32_t allow_bit;                /* LIBNBD_ALLOW_TRANSPORT_* */
};

static const struct uri_scheme uri_schemes[] = {
  { "nbd",        URI_TCP,   false, LIBNBD_ALLOW_TRANSPORT_TCP },
  { "nbds",       URI_TCP,   true,  LIBNBD_ALLOW_TRANSPORT_TCP },
  { "nbd+unix",   URI_UNIX,  false, LIBNBD_ALLOW_TRANSPORT_UNIX },
  { "nbds+unix",  URI_UNIX,  true,  LIBNBD_ALLOW_TRANSPORT_UNIX },
  { "nbd+vsock",  URI_VSOCK, false, LIBNBD_ALLOW_TRANSPORT_VSOCK },
  { "nbds+vsock", URI_VSOCK, true,  LIBNBD_ALLOW_TRANSPORT_VSOCK },
  { "nbd+ssh",    URI_SSH,   false, LIBNBD_ALLOW_TRANSPORT_SSH },
  { "nbds+ssh",   URI_SSH,   true,  LIBNBD_ALLOW_TRANSPORT_SSH },
};

/* Everything a URI asks for, decoded; strings are malloc'd, NULL when
 * the URI does not mention them. */
struct uri_request {
  const struct uri_scheme *scheme;
  char *user;
  char *host;                        /* tcp / ssh; vsock: the CID text */
  char *port;                        /* tcp / ssh: decimal, no leading zeros */
  uint32_t vsock_cid, vsock_port;
  char *export_name;                 /* never NULL once parsed */
  char *socket;
  char *tls_certificates;
  char *tls_psk_file;
  char *tls_hostname;
  char *tls_priority;
  int tls_verify_peer;               /* -1: not given */
};

static void
uri_request_free (struct uri_request *r)
{
  free (r->user);
  free (r->host);
  free (r->port);
  free (r->export_name);
  free (r->socket);
  free (r->tls_certificates);
  free (r->tls_psk_file);
  free (r->tls_hostname);
  free (r->tls_priority);
}

static size_t
range_len (const UriTextRangeA *r)
{
  return r->first ? (size_t) (r->afterLast - r->first) : 0;
}

/* Copy [first, afterLast) and percent-decode it.  The result is a C
 * string, so a decoded NUL (%00) ends it there, as it does in libnbd. */
static char *
decode_range (const char *first, const char *afterLast)
{
  size_t len = afterLast - first;
  char *s = malloc (len + 1);

  if (s == NULL) {
    nbdi_set_error (ENOMEM, "out of memory");
    return NULL;
  }
  memcpy (s, first, len);
  s[len] = '\0';
  uriUnescapeInPlaceExA (s, URI_FALSE, URI_BR_DONT_TOUCH);
  return s;
}

/* The port, read as libnbd reads it: digits (uriparser checks that)
 * whose value fits in an int, where 0 stands for no port.  A ':' with
 * nothing after it is refused.  *out is 0 when there is no port. */
static int
uri_port (const UriUriA *u, unsigned long *out)
{
  size_t len = range_len (&u->portText);
  unsigned long v = 0;

  *out = 0;
  if (u->portText.first == NULL)
    return 0;
  if (len == 0) {
    nbdi_set_error (EINVAL, "NBD URI: no port number after the ':'");
    return -1;
  }
  for (size_t i = 0; i < len; i++) {
    v = v * 10 + (u->portText.first[i] - '0');
    if (v > INT_MAX) {
      nbdi_set_error (EINVAL, "NBD URI: port number %.*s is too large",
                      (int) len, u->portText.first);
      return -1;
    }
  }
  *out = v;
  return 0;
}

/* The decimal string getaddrinfo and ssh get for a port. */
static int
format_port (unsigned long port, char **out)
{
  if (asprintf (out, "%lu", port) == -1) {
    *out = NULL;
    nbdi_set_error (ENOMEM, "out of memory");
    return -1;
  }
  return 0;
}

/* A vsock CID as libnbd reads it: a decimal number, with what strtoul
 * accepts around it (a sign, trailing text) and its wrap to 32 bits. */
static int
parse_vsock_cid (const char *s, uint32_t *out)
{
  char *end;
  unsigned long v = strtoul (s, &end, 10);

  if (end == s) {
    nbdi_set_error (EINVAL, "NBD URI: vsock CID \"%s\" is not a number", s);
    return -1;
  }
  *out = (uint32_t) v;
  return 0;
}

/* An IPv6 literal may carry a zone id ("[fe80::1%25eth0]", RFC 6874),
 * which uriparser 0.9.7 does not know.  libnbd also takes the zone with
 * a bare '%' ("[fe80::1%eth0]"), and writes it that way in nbd_get_uri,
 * so both forms are accepted.  The zone is cut out of the text before
 * uriparser sees it and put back on the host afterwards.
 */
struct zone_cut {
  char *text;                   /* the URI without the zone, or NULL */
  char *zone;                   /* decoded zone id, or NULL */
  size_t at, len;               /* where the zone was cut, and its length */
};

static int
cut_zone_id (const char *uri, struct zone_cut *z)
{
  const char *authority = strstr (uri, "://"), *open, *close, *pct, *zone;

  memset (z, 0, sizeof *z);
  if (authority == NULL)
    return 0;
  authority += 3;
  open = authority + strcspn (authority, "[/?#");
  if (*open != '[')
    return 0;
  close = strchr (open, ']');
  pct = memchr (open, '%', close ? (size_t) (close - open) : 0);
  if (pct == NULL)
    return 0;
  zone = strncmp (pct, "%25", 3) == 0 ? pct + 3 : pct + 1;
  if (zone == close) {
    nbdi_set_error (EINVAL, "NBD URI: empty zone id in the IPv6 address");
    return -1;
  }
  z->zone = decode_range (zone, close);
  if (z->zone == NULL)
    return -1;
  z->at = pct - uri;
  z->len = close - pct;
  if (asprintf (&z->text, "%.*s%s", (int) z->at, uri, close) == -1) {
    z->text = NULL;
    free (z->zone);
    z->zone = NULL;
    nbdi_set_error (ENOMEM, "out of memory");
    return -1;
  }
  return 0;
}

/* The host of the authority, decoded; NULL (no error) when empty,
 * also when it decodes to nothing.  An IP literal comes without its
 * brackets, as getaddrinfo wants it (an IPvFuture one too, for
 * getaddrinfo to refuse, as in libnbd), with its zone id (if the URI
 * had one) after a '%'. */
static int
take_host (const UriUriA *u, const char *zone, char **out)
{
  *out = NULL;
  if (range_len (&u->hostText) == 0)
    return 0;
  *out = decode_range (u->hostText.first, u->hostText.afterLast);
  if (*out && (*out)[0] == '\0') {
    free (*out);
    *out = NULL;
    return 0;
  }
  if (*out && zone) {
    char *with_zone;

    if (asprintf (&with_zone, "%s%%%s", *out, zone) == -1) {
      nbdi_set_error (ENOMEM, "out of memory");
      with_zone = NULL;
    }
    free (*out);
    *out = with_zone;
  }
  return *out ? 0 : -1;
}

/* The export name: the path without its leading '/', decoded.  Empty
 * path segments matter ("nbd://host//disk" names "/disk"), so the
 * segments are joined again rather than dropped. */
static char *
take_export_name (const UriUriA *u)
{
  size_t len = 0;
  char *joined, *p, *name;

  for (const UriPathSegmentA *s = u->pathHead; s; s = s->next)
    len += range_len (&s->text) + 1;
  joined = p = malloc (len + 1);
  if (joined == NULL) {
    nbdi_set_error (ENOMEM, "out of memory");
    return NULL;
  }
  for (const UriPathSegmentA *s = u->pathHead; s; s = s->next) {
    if (s != u->pathHead)
      *p++ = '/';
    memcpy (p, s->text.first, range_len (&s->text));
    p += range_len (&s->text);
  }
  name = decode_range (joined, p);
  free (joined);
  if (name && strlen (name) > NBD_MAX_STRING) {
    nbdi_set_error (ENAMETOOLONG, "NBD URI: export name longer than the %d bytes "
                    "the NBD protocol allows", NBD_MAX_STRING);
    free (name);
    return NULL;
  }
  return name;
}

static int
replace (char **field, const char *value)
{
  char *copy = strdup (value ? value : "");

  if (copy == NULL) {
    nbdi_set_error (ENOMEM, "out of memory");
    return -1;
  }
  free (*field);
  *field = copy;
  return 0;
}

static int
parse_bool (const char *v, int *out)
{
  static const char *const yes[] = { "1", "true", "yes", "on" };
  static const char *const no[] = { "0", "false", "no", "off" };

  for (size_t i = 0; i < sizeof yes / sizeof yes[0]; i++) {
    if (strcasecmp (v, yes[i]) == 0) {
      *out = 1;
      return 0;
    }
    if (strcasecmp (v, no[i]) == 0) {
      *out = 0;
      return 0;
    }
  }
  return -1;
}

/* The query string.  Both '&' and ';' separate parameters; a parameter
 * given twice keeps its last value; parameters we do not know are
 * ignored (with a debug message), as libnbd does. */
static int
take_query (struct nbd_handle *h, const char *fn, const UriUriA *u,
            struct uri_request *r)
{
  size_t len = range_len (&u->query);
  UriQueryListA *list = NULL, *q;
  int count, ret = -1;
  char *text;

  if (len == 0)
    return 0;
  text = strndup (u->query.first, len);
  if (text == NULL) {
    nbdi_set_error (ENOMEM, "out of memory");
    return -1;
  }
  /* A literal ';' is a separator; an encoded one (%3B) stays data. */
  for (char *p = text; *p; p++)
    if (*p == ';')
      *p = '&';
  if (uriDissectQueryMallocExA (&list, &count, text, text + len, URI_FALSE,
                                URI_BR_DONT_TOUCH) != URI_SUCCESS) {
    nbdi_set_error (EINVAL, "NBD URI: cannot parse the query string \"%s\"", text);
    goto out;
  }
  for (q = list; q; q = q->next) {
    const char *k = q->key, *v = q->value ? q->value : "";
    char **slot = NULL;

    if (k == NULL || *k == '\0')
      continue;
    if (strcmp (k, "socket") == 0)
      slot = &r->socket;
    else if (strcmp (k, "tls-certificates") == 0)
      slot = &r->tls_certificates;
    else if (strcmp (k, "tls-psk-file") == 0)
      slot = &r->tls_psk_file;
    else if (strcmp (k, "tls-hostname") == 0)
      slot = &r->tls_hostname;
    else if (strcmp (k, "tls-priority") == 0)
      slot = &r->tls_priority;
    else if (strcmp (k, "tls-verify-peer") == 0) {
      if (parse_bool (v, &r->tls_verify_peer) == -1) {
        nbdi_set_error (EINVAL, "NBD URI: tls-verify-peer=%s: expected a boolean "
                        "(true/false, 1/0, yes/no, on/off)", v);
        goto out;
      }
      continue;
    }
    else {
      if (h->cfg.proto.debug)
        nbdi_debug (h, fn, "ignoring unknown NBD URI query parameter \"%s\"", k);
      continue;
    }
    if (replace (slot, v) == -1)
      goto out;
  }
  ret = 0;
 out:
  uriFreeQueryListA (list);
  free (text);
  return ret;
}

/* Refuse a query parameter given with a transport that has no use for it. */
static int
check_socket_param (const struct uri_request *r)
{
  enum uri_transport t = r->scheme->transport;

  /* An empty socket= is passed on, as libnbd does: the connect fails. */
  if (t == URI_UNIX && r->socket == NULL) {
    nbdi_set_error (EINVAL, "NBD URI: %s:// needs the socket=PATH query parameter, "
                    "as in \"%s:///export?socket=/path/to/sock\"",
                    r->scheme->name, r->scheme->name);
    return -1;
  }
  if (t != URI_UNIX && t != URI_SSH && r->socket != NULL) {
    nbdi_set_error (EINVAL, "NBD URI: the socket query parameter cannot be used "
                    "with %s:// (only with +unix or +ssh)", r->scheme->name);
    return -1;
  }
  return 0;
}

/* Split and check a URI against the handle's policy.  Nothing is
 * changed on the handle. */
static int
parse_request (struct nbd_handle *h, const char *fn, const char *text,
               struct uri_request *r)
{
  UriUriA u;
  struct zone_cut zone;
  const char *errpos = NULL, *parsed;
  unsigned long port;
  size_t slen;
  int ret = -1;

  memset (r, 0, sizeof *r);
  r->tls_verify_peer = -1;
  if (cut_zone_id (text, &zone) == -1)
    return -1;
  parsed = zone.text ? zone.text : text;
  if (uriParseSingleUriA (&u, parsed, &errpos) != URI_SUCCESS) {
    ptrdiff_t offset = errpos ? errpos - parsed : 0;

    if (zone.text && (size_t) offset >= zone.at)
      offset += zone.len;
    nbdi_set_error (EINVAL, "cannot parse NBD URI \"%s\": invalid at offset %td%s",
                    text, offset, errpos && *errpos ? "" : " (end of string)");
    free (zone.text);
    free (zone.zone);
    return -1;
  }
  if (uri_port (&u, &port) == -1)
    goto out;
  /* A zone id belongs to an IP literal only. */
  if (zone.zone && u.hostData.ip6 == NULL && u.hostData.ipFuture.first == NULL) {
    nbdi_set_error (EINVAL, "NBD URI: a zone id (%%) needs an IPv6 address");
    goto out;
  }

  slen = range_len (&u.scheme);
  if (slen == 0) {
    nbdi_set_error (EINVAL, "\"%s\" is not an NBD URI: it has no scheme "
                    "(NBD URIs start with nbd://, nbds://, nbd+unix://...)", text);
    goto out;
  }
  for (size_t i = 0; i < sizeof uri_schemes / sizeof uri_schemes[0]; i++) {
    if (strlen (uri_schemes[i].name) == slen
        && memcmp (uri_schemes[i].name, u.scheme.first, slen) == 0)
      r->scheme = &uri_schemes[i];
  }
  if (r->scheme == NULL) {
    nbdi_set_error (EINVAL, "unknown NBD URI scheme \"%.*s\" (known: nbd, nbds, "
                    "nbd+unix, nbds+unix, nbd+vsock, nbds+vsock, nbd+ssh, nbds+ssh)",
                    (int) slen, u.scheme.first);
    goto out;
  }
  /* uriparser leaves hostText.first NULL when there is no "//". */
  if (u.hostText.first == NULL) {
    nbdi_set_error (EINVAL, "NBD URI must start with \"%s://\"", r->scheme->name);
    goto out;
  }

  /* The handle's policy, before anything else the URI says. */
  if ((h->cfg.uri_allow_transports & r->scheme->allow_bit) == 0) {
    nbdi_set_error (EPERM, "NBD URI transport %s:// is not permitted "
                    "(see nbd_set_uri_allow_transports)", r->scheme->name);
    goto out;
  }
  if (r->scheme->tls && h->cfg.uri_allow_tls == LIBNBD_TLS_DISABLE) {
    nbdi_set_error (EPERM, "NBD URI %s:// asks for TLS, which is not permitted "
                    "(see nbd_set_uri_allow_tls)", r->scheme->name);
    goto out;
  }
  if (!r->scheme->tls && h->cfg.uri_allow_tls == LIBNBD_TLS_REQUIRE) {
    nbdi_set_error (EPERM, "NBD URI %s:// does not use TLS, but TLS is required "
                    "(see nbd_set_uri_allow_tls)", r->scheme->name);
    goto out;
  }

  /* Userinfo: the whole of it is the TLS user name.  An empty one, as
   * in "nbd://@host/x", makes libnbd take everything from the '@' to the
   * end of the URI as the user name ("@host/x"), and so do we.  The
   * zone id was cut out after the '@', so the offset holds in text. */
  if (range_len (&u.userInfo) > 0)
    r->user = decode_range (u.userInfo.first, u.userInfo.afterLast);
  else if (u.userInfo.first != NULL) {
    const char *at = text + (u.userInfo.first - parsed);
    r->user = decode_range (at, at + strlen (at));
  }
  if (u.userInfo.first != NULL && r->user == NULL)
    goto out;

  if (take_query (h, fn, &u, r) == -1)
    goto out;
  if (check_socket_param (r) == -1)
    goto out;

  switch (r->scheme->transport) {
  case URI_TCP:
    if (take_host (&u, zone.zone, &r->host) == -1)
      goto out;
    /* With no host, libnbd goes to localhost's NBD port, whatever port
     * the URI names.  A port above 65535 goes to getaddrinfo as it is. */
    if (r->host == NULL) {
      if (replace (&r->host, "localhost") == -1)
        goto out;
      port = 0;
    }
    if (format_port (port ? port : NBD_DEFAULT_PORT, &r->port) == -1)
      goto out;
    break;
  case URI_UNIX:
    /* The authority "should not be present" for +unix; like libnbd we
     * do not insist, and ignore its host and port. */
    break;
  case URI_VSOCK:
    if (u.hostData.ip4 || u.hostData.ip6 || u.hostData.ipFuture.first) {
      nbdi_set_error (EINVAL, "NBD URI: the host of %s:// must be a numeric "
                      "vsock CID", r->scheme->name);
      goto out;
    }
    if (take_host (&u, zone.zone, &r->host) == -1)
      goto out;
    r->vsock_cid = VSOCK_CID_HOST;
    if (r->host == NULL)
      port = 0;           /* as for TCP: no host, no port */
    else if (parse_vsock_cid (r->host, &r->vsock_cid) == -1)
      goto out;
    r->vsock_port = port ? port : NBD_DEFAULT_PORT;
    break;
  case URI_SSH:
    if (take_host (&u, zone.zone, &r->host) == -1)
      goto out;
    if (r->host == NULL) {
      nbdi_set_error (EINVAL, "NBD URI: %s:// needs the name of the ssh server",
                      r->scheme->name);
      goto out;
    }
    /* ssh would read "-oProxyCommand=..." as an option. */
    if (r->host[0] == '-' || (r->user && r->user[0] == '-')) {
      nbdi_set_error (EINVAL, "NBD URI: ssh server or user name may not start "
                      "with '-'");
      goto out;
    }
    if (port > 65535) {
      nbdi_set_error (EINVAL, "NBD URI: ssh port %lu is out of range", port);
      goto out;
    }
    if (port && format_port (port, &r->port) == -1)
      goto out;
    break;
  }

  r->export_name = take_export_name (&u);
  if (r->export_name == NULL)
    goto out;

  /* Parameters that read local files or change TLS security. */
  if (!h->cfg.uri_allow_local_file) {
    const char *param = r->tls_certificates ? "tls-certificates"
                        : r->tls_psk_file ? "tls-psk-file" : NULL;
    if (param) {
      nbdi_set_error (EPERM, "NBD URI parameter %s reads a local file, which is "
                      "not permitted (see nbd_set_uri_allow_local_file)", param);
      goto out;
    }
  }
  if (r->tls_priority && !h->cfg.uri_allow_tls_priority) {
    nbdi_set_error (EPERM, "NBD URI parameter tls-priority is not permitted "
                    "(see nbd_set_uri_allow_tls_priority)");
    goto out;
  }
  ret = 0;
 out:
  uriFreeUriMembersA (&u);
  free (zone.text);
  free (zone.zone);
  if (ret == -1)
    uri_request_free (r);
  return ret;
}

/* Quote s for the remote shell that ssh runs the command with. */
static char *
shell_quote (const char *s)
{
  size_t n = 2;
  char *q, *p;

  for (const char *c = s; *c; c++)
    n += *c == '\'' ? 4 : 1;
  q = p = malloc (n + 1);
  if (q == NULL)
    return NULL;
  *p++ = '\'';
  for (const char *c = s; *c; c++) {
    if (*c == '\'') {
      memcpy (p, "'\\''", 4);
      p += 4;
    }
    else
      *p++ = *c;
  }
  *p++ = '\'';
  *p = '\0';
  return q;
}

/* nbd+ssh: run ssh to the server, which runs nc there to reach the NBD
 * server: a Unix socket when socket= is given, else localhost:10809. */
static int
connect_ssh (struct nbd_handle *h, const struct uri_request *r)
{
  char *argv[12], *remote = NULL, *quoted = NULL;
  size_t i = 0;
  int ret;

  if (r->socket) {
    quoted = shell_quote (r->socket);
    if (quoted == NULL || asprintf (&remote, "nc -U %s", quoted) == -1)
      remote = NULL;
  }
  else if (asprintf (&remote, "nc localhost %d", NBD_DEFAULT_PORT) == -1)
    remote = NULL;
  if (remote == NULL) {
    free (quoted);
    nbdi_set_error (ENOMEM, "out of memory");
    return -1;
  }
  argv[i++] = (char *) "ssh";
  if (r->port) {
    argv[i++] = (char *) "-p";
    argv[i++] = r->port;
  }
  if (r->user) {
    argv[i++] = (char *) "-l";
    argv[i++] = r->user;
  }
  argv[i++] = (char *) "--";
  argv[i++] = r->host;
  argv[i++] = remote;
  argv[i] = NULL;
  ret = nbdi_aio_connect_command (h, argv);
  free (remote);
  free (quoted);
  return ret;
}

/* Apply the settings the URI asks for, then start connecting. */
static int
apply_and_connect (struct nbd_handle *h, const struct uri_request *r)
{
  struct nbdi_settings *c = &h->cfg;

  /* The one setting that can still be refused goes first, so that a
   * refusal leaves the handle as it was. */
  if (r->tls_priority && nbdi_set_tls_priority (h, r->tls_priority) == -1)
    return -1;
  if (nbdi_set_export_name (h, r->export_name) == -1)
    return -1;
  /* nbds asks for TLS; plain nbd leaves the handle's own choice (so a
   * program may still use nbd_set_tls for opportunistic TLS). */
  if (r->scheme->tls)
    c->proto.tls = LIBNBD_TLS_REQUIRE;
  if ((r->user && nbdi_replace_string (&c->tls_username, r->user) == -1)
      || (r->tls_certificates
          && nbdi_replace_string (&c->tls_certificates, r->tls_certificates) == -1)
      || (r->tls_psk_file
          && nbdi_replace_string (&c->tls_psk_file, r->tls_psk_file) == -1)
      || (r->tls_hostname
          && nbdi_replace_string (&c->tls_hostname, r->tls_hostname) == -1))
    return -1;
  if (r->tls_verify_peer != -1) {
    c->tls_verify_peer = r->tls_verify_peer;
    c->tls_verify_peer_set = true;
  }

  switch (r->scheme->transport) {
  case URI_TCP:
    return nbdi_aio_connect_tcp (h, r->host, r->port);
  case URI_UNIX:
    return nbdi_aio_connect_unix (h, r->socket);
  case URI_VSOCK:
    return nbdi_aio_connect_vsock (h, r->vsock_cid, r->vsock_port);
  case URI_SSH:
    /* A certificate, if TLS is used through the tunnel, names the
     * server we ssh to. */
    if (c->tls_hostname == NULL && nbdi_replace_string (&c->tls_hostname, r->host) == -1)
      return -1;
    return connect_ssh (h, r);
  }
  nbdi_set_error (EINVAL, "internal error: unknown URI transport");
  return -1;
}

static int
start_connect (struct nbd_handle *h, const char *fn, const char *uri)
{
  struct uri_request r;
  int ret;

  if (parse_request (h, fn, uri, &r) == -1)
    return -1;
  if (h->cfg.proto.debug)
    nbdi_debug (h, fn, "NBD URI: %s transport, export name \"%s\"",
                r.scheme->name, r.export_name);
  ret = apply_and_connect (h, &r);
  uri_request_free (&r);
  return ret;
}

int
nbdi_aio_connect_uri (struct nbd_handle *h, const char *uri)
{
  return start_connect (h, "nbd_aio_connect_uri", uri);
}


/* ---- nbd_get_uri ---------------------------------------------------------- */

/* Characters a part of the URI may carry unescaped, beyond RFC 3986's
 * unreserved set (letters, digits, "-._~"). */
#define URI_SUB_DELIMS "!$&'()*+,;="
#define SAFE_USER  URI_SUB_DELIMS ":"     /* as libnbd: the whole userinfo is the user */
#define SAFE_PATH  URI_SUB_DELIMS "@/"     /* ':' escaped, as libnbd does */
#define SAFE_QUERY "!$'()*,:@/"           /* not '&', ';', '=', '+', which split or change it */

static void
put_escaped (FILE *f, const char *s, const char *safe)
{
  for (const unsigned char *p = (const unsigned char *) s; *p; p++) {
    if (isalnum (*p) || strchr ("-._~", *p) || (*p && strchr (safe, *p)))
      fputc (*p, f);
    else
      fprintf (f, "%%%02X", *p);
  }
}

static void
put_param (FILE *f, bool *first, const char *key, const char *value)
{
  fputc (*first ? '?' : '&', f);
  *first = false;
  fputs (key, f);
  fputc ('=', f);
  put_escaped (f, value, SAFE_QUERY);
}

/* Where the connection goes, in URI terms: the address the program
 * asked for when it used nbd_connect_{tcp,unix,vsock,uri}, else the
 * socket's peer address (nbd_aio_connect, socket activation). */
struct uri_target {
  const char *transport;        /* "", "+unix", "+vsock" */
  char host[NI_MAXHOST + 2];    /* tcp: bracketed if IPv6; vsock: cid */
  char port[NI_MAXSERV];
  char path[sizeof ((struct sockaddr_un *) 0)->sun_path + 1];   /* unix */
};

static int
target_from_socket (struct nbd_handle *h, struct uri_target *t)
{
  struct sockaddr_storage ss;
  socklen_t len = sizeof ss;
  char host[NI_MAXHOST];
  int fd = nbdi_io_fd (h);

  if (fd == -1) {
    nbdi_set_error (EINVAL, "cannot construct a URI: the handle has no connection "
                    "(its socket is gone)");
    return -1;
  }
  memset (&ss, 0, sizeof ss);
  if (getpeername (fd, (struct sockaddr *) &ss, &len) == -1) {
    nbdi_set_error (EINVAL, "cannot construct a URI: %s",
                    errno == ENOTCONN ? "the socket is not connected (yet)"
                                      : strerror (errno));
    return -1;
  }
  switch (ss.ss_family) {
  case AF_INET:
  case AF_INET6:
    if (getnameinfo ((struct sockaddr *) &ss, len, host, sizeof host, t->port,
                     sizeof t->port, NI_NUMERICHOST | NI_NUMERICSERV) != 0) {
      nbdi_set_error (EINVAL, "cannot construct a URI: cannot format the peer address");
      return -1;
    }
    snprintf (t->host, sizeof t->host, ss.ss_family == AF_INET6 ? "[%s]" : "%s", host);
    return 0;
  case AF_UNIX: {
    const struct sockaddr_un *sun = (const struct sockaddr_un *) &ss;
    size_t n;

    if (len <= offsetof (struct sockaddr_un, sun_path)) {
      nbdi_set_error (EINVAL, "cannot construct a URI for this connection: it has "
                      "no address (nbd_connect_command or nbd+ssh)");
      return -1;
    }
    if (sun->sun_path[0] == '\0') {
      nbdi_set_error (EPROTONOSUPPORT, "cannot construct a URI: Unix sockets in "
                      "the abstract namespace have no NBD URI form");
      return -1;
    }
    n = len - offsetof (struct sockaddr_un, sun_path);
    if (n > sizeof sun->sun_path)
      n = sizeof sun->sun_path;
    memcpy (t->path, sun->sun_path, n);
    t->path[n] = '\0';
    t->transport = "+unix";
    return 0;
  }
#ifdef AF_VSOCK
  case AF_VSOCK: {
    const struct sockaddr_vm *vm = (const struct sockaddr_vm *) &ss;
    t->transport = "+vsock";
    snprintf (t->host, sizeof t->host, "%" PRIu32, (uint32_t) vm->svm_cid);
    snprintf (t->port, sizeof t->port, "%" PRIu32, (uint32_t) vm->svm_port);
    return 0;
  }
#endif
  default:
    nbdi_set_error (EINVAL, "cannot construct a URI for address family %d",
                    (int) ss.ss_family);
    return -1;
  }
}

static int
find_target (struct nbd_handle *h, struct uri_target *t)
{
  const struct nbdi_peer *p = &h->peer;

  switch (p->kind) {
  case NBDI_PEER_TCP:
    snprintf (t->host, sizeof t->host, strchr (p->host, ':') ? "[%s]" : "%s", p->host);
    snprintf (t->port, sizeof t->port, "%s", p->port);
    return 0;
  case NBDI_PEER_UNIX:
    /* libnbd takes an empty path for the abstract namespace. */
    if (p->path[0] == '\0') {
      nbdi_set_error (EPROTONOSUPPORT, "cannot construct a URI: Unix sockets in "
                      "the abstract namespace have no NBD URI form");
      return -1;
    }
    t->transport = "+unix";
    snprintf (t->path, sizeof t->path, "%s", p->path);
    return 0;
  case NBDI_PEER_VSOCK:
    t->transport = "+vsock";
    snprintf (t->host, sizeof t->host, "%" PRIu32, p->cid);
    snprintf (t->port, sizeof t->port, "%" PRIu32, p->vport);
    return 0;
  case NBDI_PEER_SOCKET:
    /* As nbd_get_uri(3) says of nbd_connect_socket: libnbd knows no
     * address for such a socket, so it makes no URI of it. */
    nbdi_set_error (EINVAL, "cannot construct a URI for a connection made with "
                    "nbd_connect_socket");
    return -1;
  case NBDI_PEER_NONE:
    break;
  }
  return target_from_socket (h, t);
}

char *
nbdi_get_uri (struct nbd_handle *h)
{
  const struct nbdi_settings *c = &h->cfg;
  struct uri_target t = { .transport = "" };
  char *buf = NULL;
  size_t size = 0;
  bool first = true;
  FILE *f;

  if (find_target (h, &t) == -1)
    return NULL;

  f = open_memstream (&buf, &size);
  if (f == NULL) {
    nbdi_set_error_errno (ENOMEM, "open_memstream");
    return NULL;
  }
  fprintf (f, "%s%s://", c->proto.tls == LIBNBD_TLS_REQUIRE ? "nbds" : "nbd", t.transport);
  if (c->tls_username && c->tls_username[0]) {
    put_escaped (f, c->tls_username, SAFE_USER);
    fputc ('@', f);
  }
  if (t.path[0] == '\0') {
    if (t.host[0] == '[') {
      /* A zone id follows a bare '%' ("[fe80::1%eth0]"), as libnbd
       * writes it; cut_zone_id reads that form back. */
      char *zone;

      t.host[strlen (t.host) - 1] = '\0';
      zone = strchr (t.host, '%');
      if (zone)
        *zone++ = '\0';
      fputc ('[', f);
      put_escaped (f, t.host + 1, ":");
      if (zone) {
        fputc ('%', f);
        put_escaped (f, zone, "");
      }
      fputc (']', f);
    }
    else
      fputs (t.host, f);
    fprintf (f, ":%s", t.port);
  }
  fputc ('/', f);
  put_escaped (f, c->proto.export_name ? c->proto.export_name : "", SAFE_PATH);
  if (t.path[0])
    put_param (f, &first, "socket", t.path);
  if (c->tls_certificates)
    put_param (f, &first, "tls-certificates", c->tls_certificates);
  if (c->tls_psk_file)
    put_param (f, &first, "tls-psk-file", c->tls_psk_file);
  if (c->proto.tls != LIBNBD_TLS_DISABLE) {
    /* Only what differs from what reconnecting would assume anyway. */
    if (c->tls_hostname && c->tls_hostname[0]
        && (t.path[0] || strcmp (t.transport, "+vsock") == 0
            || strcmp (c->tls_hostname, t.host) != 0))
      put_param (f, &first, "tls-hostname", c->tls_hostname);
    if (!c->tls_verify_peer)
      put_param (f, &first, "tls-verify-peer", "false");
    if (c->tls_priority)
      put_param (f, &first, "tls-priority", c->tls_priority);
  }
  if (fclose (f) != 0 || buf == NULL) {
    free (buf);
    nbdi_set_error (ENOMEM, "out of memory");
    return NULL;
  }
  return buf;
}

/* ---- nbd_is_uri ------------------------------------------------------------ */

/* A heuristic, as libnbd documents it: does the string start with a
 * scheme of the NBD family ("nbd", "nbds", or either followed by "+"
 * and a transport name, in any letter case) and a ':'?  Whether it then
 * parses, or names a transport this library knows, is left to
 * nbd_connect_uri, whose error message says what is wrong. */
int
nbdi_is_uri (struct nbd_handle *h, const char *uri)
{
  const char *p = uri;

  (void) h;
  if (strncasecmp (p, "nbd", 3) != 0)
    return 0;
  p += 3;
  if (*p == 's' || *p == 'S')
    p++;
  if (*p == '+') {
    p++;
    if (!isalpha ((unsigned char) *p))
      return 0;
    while (isalnum ((unsigned char) *p) || *p == '+' || *p == '-' || *p == '.')
      p++;
  }
  return *p == ':';
}
