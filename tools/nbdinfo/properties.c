/* --is/--isnt, --can/--cannot, --has/--hasnt: one table of the
 * properties nbdinfo can test.  Any verb takes any property, so that
 * "--can structured-reply" and "--has structured-reply" both work. */
#include "nbdinfo.h"

#include <string.h>

static int
always_true (struct nbd_handle *h)
{
  (void) h;
  return 1;
}

static int
can_write (struct nbd_handle *h)
{
  int r = nbd_is_read_only (h);
  return r == -1 ? -1 : !r;
}

struct property {
  const char *name;
  int (*query) (struct nbd_handle *h);
};

static const struct property properties[] = {
  { "block-status-payload", nbd_can_block_status_payload },
  { "cache", nbd_can_cache },
  { "connect", always_true },
  { "df", nbd_can_df },
  { "extended-headers", nbd_get_extended_headers_negotiated },
  { "fast-zero", nbd_can_fast_zero },
  { "flush", nbd_can_flush },
  { "fua", nbd_can_fua },
  { "multi-conn", nbd_can_multi_conn },
  { "read", always_true },
  { "read-only", nbd_is_read_only },
  { "rotational", nbd_is_rotational },
  { "structured-reply", nbd_get_structured_replies_negotiated },
  { "tls", nbd_get_tls_negotiated },
  { "trim", nbd_can_trim },
  { "write", can_write },
  { "zero", nbd_can_zero },
};

static const struct property *
find (const char *name)
{
  for (size_t i = 0; i < sizeof properties / sizeof properties[0]; i++)
    if (strcmp (properties[i].name, name) == 0)
      return &properties[i];
  return NULL;
}

bool
property_is_known (const char *property)
{
  return find (property) != NULL;
}

int
test_property (struct nbd_handle *h, const char *property)
{
  int r = find (property)->query (h);

  if (r == -1)
    report_nbd_error (TOOL);
  return r;
}
