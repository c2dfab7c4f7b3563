/* TLS over an inner transport, with GnuTLS.
 *
 * The TLS transport wraps another transport (normally the plain socket)
 * through GnuTLS's push/pull hooks, so it never touches the fd itself and
 * can be tested over a socketpair.  Everything is non-blocking: the
 * handshake is driven step by step like the rest of the connection. */
#ifndef NBDI_TRANSPORT_TLS_H
#define NBDI_TRANSPORT_TLS_H

#include <stdbool.h>
#include <stddef.h>

struct nbdi_transport;

/* What the handle's TLS settings say (nbd_set_tls_*); any may be NULL. */
struct nbdi_tls_config {
  const char *certificates;     /* dir with ca-cert.pem, client-cert.pem, client-key.pem */
  bool verify_peer;
  const char *username;         /* PSK identity (NULL: current user) */
  const char *psk_file;         /* "username:hexkey" lines: use PSK */
  const char *hostname;         /* checked against the certificate, SNI */
  const char *priority;         /* GnuTLS priority string (NULL: "NORMAL") */
};

/* Wrap `inner` (ownership passes to the new transport on success; on
 * failure inner is untouched).  Returns NULL with *err set to an errno
 * value and msg to a description. */
struct nbdi_transport *nbdi_tls_wrap (struct nbdi_transport *inner,
                                      const struct nbdi_tls_config *cfg,
                                      int *err, char *msg, size_t msglen);

/* Advance the handshake.  1 when complete, 0 when it must wait (then
 * *want_write tells whether it waits to write rather than read), -1 on
 * failure with *err and msg set. */
int nbdi_tls_handshake (struct nbdi_transport *t, bool *want_write,
                        int *err, char *msg, size_t msglen);

#endif
