/* Settings whose rules go beyond storing a value (spec/api.py). */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <gnutls/gnutls.h>

#include "api/internal.h"
#include "engine/engine.h"
#include "wire/wire.h"

/* The NBD protocol's limit on export and meta context names. */
#define NBD_MAX_STRING 4096

uintptr_t
nbdi_set_private_data (struct nbd_handle *h, uintptr_t data)
{
  uintptr_t old = h->cfg.private_data;
  h->cfg.private_data = data;
  return old;
}

int
nbdi_set_export_name (struct nbd_handle *h, const char *name)
{
  if (strlen (name) > NBD_MAX_STRING) {
    nbdi_set_error (ENAMETOOLONG, "export name too long for NBD protocol");
    return -1;
  }
  if (h->cfg.proto.export_name && strcmp (h->cfg.proto.export_name, name) == 0)
    return 0;
  if (nbdi_replace_string (&h->cfg.proto.export_name, name) == -1)
    return -1;
  /* In option mode, what nbd_opt_info taught described the old name. */
  nbdi_engine_forget_export (h->engine);
  return 0;
}

int
nbdi_add_meta_context (struct nbd_handle *h, const char *name)
{
  if (name[0] == '\0') {
    nbdi_set_error (EINVAL, "meta context name must not be empty");
    return -1;
  }
  if (strlen (name) > NBD_MAX_STRING) {
    nbdi_set_error (ENAMETOOLONG, "meta context name too long for NBD protocol");
    return -1;
  }
  if (nbdi_strlist_append (&h->cfg.proto.meta_requests, name) == -1) {
    nbdi_set_error (ENOMEM, "out of memory");
    return -1;
  }
  return 0;
}

ssize_t
nbdi_get_nr_meta_contexts (struct nbd_handle *h)
{
  return h->cfg.proto.meta_requests.len;
}

char *
nbdi_get_meta_context (struct nbd_handle *h, size_t i)
{
  if (i >= h->cfg.proto.meta_requests.len) {
    nbdi_set_error (EINVAL, "meta context request out of range: %zu of %zu",
                    i, h->cfg.proto.meta_requests.len);
    return NULL;
  }
  return nbdi_strdup (h->cfg.proto.meta_requests.items[i]);
}

int
nbdi_clear_meta_contexts (struct nbd_handle *h)
{
  nbdi_strlist_clear (&h->cfg.proto.meta_requests);
  return 0;
}

int
nbdi_set_tls_verify_peer (struct nbd_handle *h, bool verify)
{
  h->cfg.tls_verify_peer = verify;
  h->cfg.tls_verify_peer_set = true;
  return 0;
}

bool
nbdi_tls_verifies_peer (const struct nbd_handle *h)
{
  const struct nbdi_settings *s = &h->cfg;

  /* nbd_set_tls_verify_peer's documented default: on for servers named
   * by a host name, off for local sockets, unless the program chose. */
  if (s->tls_verify_peer_set)
    return s->tls_verify_peer;
  return s->tls_verify_peer && s->tls_hostname && *s->tls_hostname;
}

char *
nbdi_get_tls_username (struct nbd_handle *h)
{
  char login[256];
  const char *env = getenv ("LOGNAME");
  int err;

  if (h->cfg.tls_username)
    return nbdi_strdup (h->cfg.tls_username);
  /* libnbd's rule: $LOGNAME as it is (even empty), else the login name
   * of the session; without one (as in containers) the call fails with
   * getlogin_r's errno rather than guessing from the password file. */
  if (env)
    return nbdi_strdup (env);
  err = getlogin_r (login, sizeof login);
  if (err == 0)
    return nbdi_strdup (login);
  nbdi_set_error_errno (err, "getlogin_r");
  return NULL;
}

char *
nbdi_get_tls_hostname (struct nbd_handle *h)
{
  return nbdi_strdup (h->cfg.tls_hostname ? h->cfg.tls_hostname : "");
}

/* libnbd's documented default priority string. */
#define DEFAULT_TLS_PRIORITY "NORMAL"

int
nbdi_set_tls_priority (struct nbd_handle *h, const char *priority)
{
  gnutls_priority_t cache;
  const char *where = NULL;

  if (gnutls_priority_init (&cache, priority, &where) != GNUTLS_E_SUCCESS) {
    nbdi_set_error (EINVAL, "invalid TLS priority string near \"%s\"",
                    where ? where : priority);
    return -1;
  }
  gnutls_priority_deinit (cache);
  return nbdi_replace_string (&h->cfg.tls_priority, priority);
}

char *
nbdi_get_tls_priority (struct nbd_handle *h)
{
  return nbdi_strdup (h->cfg.tls_priority ? h->cfg.tls_priority
                                          : DEFAULT_TLS_PRIORITY);
}

int
nbdi_set_socket_activation_name (struct nbd_handle *h, const char *name)
{
  size_t len = strlen (name);

  /* systemd's rule for LISTEN_FDNAMES entries, kept a little stricter. */
  if (len > 255) {
    nbdi_set_error (EINVAL, "socket activation name longer than 255 characters");
    return -1;
  }
  for (size_t i = 0; i < len; i++) {
    if (!isalnum ((unsigned char) name[i]) && !strchr ("._-", name[i])) {
      nbdi_set_error (EINVAL, "socket activation name may only contain "
                      "letters, digits, '.', '_' and '-'");
      return -1;
    }
  }
  return nbdi_replace_string (&h->cfg.socket_activation_name, name);
}

static size_t
string_size (const char *s)
{
  return s ? strlen (s) + 1 : 0;
}

ssize_t
nbdi_get_handle_size (struct nbd_handle *h)
{
  const struct nbdi_settings *c = &h->cfg;
  size_t size = sizeof *h;

  size += string_size (c->handle_name) + string_size (c->proto.export_name);
  size += string_size (c->tls_certificates) + string_size (c->tls_username);
  size += string_size (c->tls_psk_file) + string_size (c->tls_hostname);
  size += string_size (c->tls_priority) + string_size (c->socket_activation_name);
  size += c->proto.meta_requests.cap * sizeof (char *);
  for (size_t i = 0; i < c->proto.meta_requests.len; i++)
    size += string_size (c->proto.meta_requests.items[i]);
  return size;
}
