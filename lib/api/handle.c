/* Creating and closing handles. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/internal.h"

__thread struct nbdi_lock_frame *nbdi_held_locks NBDI_FAST_TLS;

/* Handles are named nbd1, nbd2, ... in creation order, per process. */
static unsigned long handle_counter;

/* The engine's debug text joins the handle's debug channel. */
static void
engine_log (void *opaque, const char *context, const char *msg)
{
  nbdi_debug (opaque, context, "%s", msg);
}

static void
set_defaults (struct nbd_handle *h)
{
  const char *env = getenv ("LIBNBD_DEBUG");

  h->cfg = (struct nbdi_settings) {
    .proto = {
      .debug = env && strcmp (env, "1") == 0,
      .log = engine_log,
      .log_opaque = h,
      .tls = LIBNBD_TLS_DISABLE,
      .request_structured_replies = true,
      .request_extended_headers = true,
      .request_meta_context = true,
      .request_block_size = true,
      .handshake_flags = LIBNBD_HANDSHAKE_FLAG_MASK,
      .strict = LIBNBD_STRICT_MASK,
      .pread_initialize = true,
    },
    .tls_verify_peer = true,
    .uri_allow_transports = LIBNBD_ALLOW_TRANSPORT_MASK,
    .uri_allow_tls = LIBNBD_TLS_ALLOW,
  };
}

static void
free_settings (struct nbdi_settings *cfg)
{
  free (cfg->handle_name);
  free (cfg->proto.export_name);
  free (cfg->tls_certificates);
  free (cfg->tls_username);
  free (cfg->tls_psk_file);
  free (cfg->tls_hostname);
  free (cfg->tls_priority);
  free (cfg->socket_activation_name);
  nbdi_strlist_free (&cfg->proto.meta_requests);
}

struct nbd_handle *
nbd_create (void)
{
  struct nbd_handle *h;
  unsigned long n;

  nbdi_set_context ("nbd_create");
  h = calloc (1, sizeof *h);
  if (h == NULL)
    goto nomem;
  set_defaults (h);
  n = __atomic_add_fetch (&handle_counter, 1, __ATOMIC_RELAXED);
  if (asprintf (&h->cfg.handle_name, "nbd%lu", n) == -1) {
    h->cfg.handle_name = NULL;
    goto nomem;
  }
  h->cfg.proto.export_name = strdup ("");
  h->cfg.socket_activation_name = strdup ("");
  if (!h->cfg.proto.export_name || !h->cfg.socket_activation_name)
    goto nomem;
  h->engine = nbdi_engine_new (&h->cfg.proto);
  if (h->engine == NULL)
    goto nomem;
  pthread_mutex_init (&h->lock, NULL);
  h->pid = -1;
  nbdi_dialer_init (&h->io.dialer);
  if (h->cfg.proto.debug)
    nbdi_debug (h, "nbd_create", "opening handle (%s)", nbdi_get_version_extra (h));
  return h;

 nomem:
  if (h) {
    nbdi_engine_free (h->engine);
    free_settings (&h->cfg);
  }
  free (h);
  nbdi_set_error (ENOMEM, "out of memory");
  return NULL;
}

void
nbd_close (struct nbd_handle *h)
{
  struct nbdi_lock_frame frame;

  if (h == NULL)
    return;
  nbdi_set_context ("nbd_close");
  /* From one of the handle's own callbacks (nbd_close's too: .free runs
   * while it tears down) the handle is still in use by the caller of the
   * callback: ignore the call rather than free it under that caller. */
  if (nbdi_lock (h, &frame)) {
    if (h->cfg.proto.debug)
      nbdi_debug (h, "nbd_close", "ignored: called from a callback on this handle");
    nbdi_set_error (EDEADLK, "cannot close a handle from its own callback");
    return;
  }
  if (h->cfg.proto.debug)
    nbdi_debug (h, "nbd_close", "closing handle");
  nbdi_connection_close (h);
  free (h->peer.host);
  free (h->peer.port);
  free (h->peer.path);
  nbdi_clear_debug_callback (h);
  free_settings (&h->cfg);
  nbdi_unlock (h, &frame);
  pthread_mutex_destroy (&h->lock);
  nbdi_engine_free (h->engine);
  free (h);
}
