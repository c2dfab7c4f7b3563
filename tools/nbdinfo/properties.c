/* --is/--isnt, --can/--cannot, --has/--hasnt: one table of the
 * properties nbdinfo can test.  Any verb takes any property, so that
 * "--can structured-reply" and "--has structured-reply" both work. */
#include "nbdinfo.h"

#include <ctype.h>

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

/* A property and the spellings nbdinfo accepts for it, written with
 * '-' between words.  As libnbd's nbdinfo does, case does not matter and
 * '_' may stand for '-'; where spaced is set, so may ' '. */
struct property {
  const char *names[4];
  bool spaced;
  int (*query) (struct nbd_handle *h);
};

static const struct property properties[] = {
  { { "block-status-payload" }, true, nbd_can_block_status_payload },
  { { "cache" }, false, nbd_can_cache },
  { { "connect", "read" }, false, always_true },
  { { "df" }, false, nbd_can_df },
  { { "extended-headers", "extended-header", "eh" }, true,
    nbd_get_extended_headers_negotiated },
  { { "fast-zero", "fastzero" }, false, nbd_can_fast_zero },
  { { "flush" }, false, nbd_can_flush },
  { { "fua" }, false, nbd_can_fua },
  { { "multi-conn", "multiconn" }, false, nbd_can_multi_conn },
  { { "read-only", "readonly" }, false, nbd_is_read_only },
  { { "rotational" }, false, nbd_is_rotational },
  { { "structured-reply", "structured-replies", "structured", "sr" }, true,
    nbd_get_structured_replies_negotiated },
  { { "tls" }, false, nbd_get_tls_negotiated },
  { { "trim" }, false, nbd_can_trim },
  { { "write" }, false, can_write },
  { { "zero" }, false, nbd_can_zero },
};

static bool
spelling_matches (const char *name, bool spaced, const char *given)
{
  for (; *name && *given; name++, given++) {
    char c = (char) tolower ((unsigned char) *given);
    if (c == '_' || (spaced && c == ' '))
      c = '-';
    if (c != *name)
      return false;
  }
  return *name == *given;
}

static const struct property *
find (const char *given)
{
  for (size_t i = 0; i < sizeof properties / sizeof properties[0]; i++) {
    const struct property *p = &properties[i];
    for (size_t j = 0; j < 4 && p->names[j]; j++)
      if (spelling_matches (p->names[j], p->spaced, given))
        return p;
  }
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
