/* Facts about the library, and the state predicates. */
#include <stdio.h>
#include <sys/socket.h>
#include <unistd.h>

#include "api/internal.h"

/* The libnbd API level implemented; FASTNBD_VERSION comes from Meson. */
#define LIBNBD_API_VERSION "1.24.0"

const char *
nbdi_get_package_name (struct nbd_handle *h)
{
  (void) h;
  return "libnbd";
}

const char *
nbdi_get_version (struct nbd_handle *h)
{
  (void) h;
  return LIBNBD_API_VERSION;
}

const char *
nbdi_get_version_extra (struct nbd_handle *h)
{
  (void) h;
  return "fastnbd " FASTNBD_VERSION;
}

int
nbdi_supports_tls (struct nbd_handle *h)
{
  (void) h;
  return 1;
}

int
nbdi_supports_uri (struct nbd_handle *h)
{
  (void) h;
  return 1;
}

int
nbdi_supports_vsock (struct nbd_handle *h)
{
  (void) h;
#ifdef AF_VSOCK
  int fd = socket (AF_VSOCK, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd == -1)
    return 0;
  close (fd);
  return 1;
#else
  return 0;
#endif
}

static int
in_state (struct nbd_handle *h, enum nbdi_state state)
{
  return nbdi_get_state (h) == state;
}

static int
in_group (struct nbd_handle *h, unsigned group)
{
  return nbdi_state_permits (h, group);
}

int nbdi_aio_is_created (struct nbd_handle *h) { return in_group (h, NBDI_GROUP_CREATED); }
int nbdi_aio_is_connecting (struct nbd_handle *h) { return in_group (h, NBDI_GROUP_CONNECTING); }
int nbdi_aio_is_negotiating (struct nbd_handle *h) { return in_group (h, NBDI_GROUP_NEGOTIATING); }
int nbdi_aio_is_ready (struct nbd_handle *h) { return in_state (h, NBDI_STATE_READY); }
int nbdi_aio_is_processing (struct nbd_handle *h) { return in_state (h, NBDI_STATE_PROCESSING); }
int nbdi_aio_is_dead (struct nbd_handle *h) { return in_group (h, NBDI_GROUP_DEAD); }
int nbdi_aio_is_closed (struct nbd_handle *h) { return in_group (h, NBDI_GROUP_CLOSED); }

const char *
nbdi_connection_state (struct nbd_handle *h)
{
  return nbdi_state_name (nbdi_get_state (h));
}

static const char *
group_names (unsigned groups, char *buf, size_t size)
{
  static const struct { unsigned bit; const char *name; } all[] = {
    { NBDI_GROUP_CREATED, "newly created" },
    { NBDI_GROUP_CONNECTING, "connecting" },
    { NBDI_GROUP_NEGOTIATING, "negotiating" },
    { NBDI_GROUP_CONNECTED, "connected" },
    { NBDI_GROUP_CLOSED, "shut down" },
    { NBDI_GROUP_DEAD, "dead" },
  };
  size_t used = 0;

  buf[0] = '\0';
  for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) {
    if (groups & all[i].bit) {
      int n = snprintf (buf + used, size - used, "%s%s",
                        used ? " or " : "", all[i].name);
      if (n < 0 || (size_t) n >= size - used)
        break;
      used += n;
    }
  }
  return buf;
}

void
nbdi_state_error (struct nbd_handle *h, unsigned permitted)
{
  enum nbdi_state state = nbdi_get_state (h);
  char want[128];

  nbdi_set_error (state == NBDI_STATE_CREATED ? ENOTCONN : EINVAL,
                  "invalid state: %s: the handle must be %s",
                  nbdi_state_name (state), group_names (permitted, want, sizeof want));
}
