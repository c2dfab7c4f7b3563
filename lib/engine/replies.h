/* Reply parsing hooks shared inside the engine (commands.c serves
 * scatter.c); the driver never uses these. */
#ifndef NBDI_ENGINE_REPLIES_H
#define NBDI_ENGINE_REPLIES_H

#include <stdbool.h>
#include <stdint.h>

#include "engine/conn.h"

struct nbd_handle;

/* The command in flight with this cookie, or NULL. */
struct nbdi_cmd *nbdi_cmd_lookup (struct nbdi_conn *c, uint64_t cookie);

/* No reply is half parsed and rx holds nothing unparsed. */
bool nbdi_replies_at_boundary (const struct nbdi_conn *c);

/* Payload bytes still due for the reply being read when rx holds
 * nothing: its header is parsed, so they come first in the stream and
 * may be read straight to c->direct.  0 otherwise. */
uint64_t nbdi_replies_lead (const struct nbdi_conn *c);

/* got bytes of the payload being read landed at c->direct (from rx or
 * straight from the socket): finish the reply when all of it did. */
void nbdi_payload_landed (struct nbd_handle *h, uint64_t got);

#endif
