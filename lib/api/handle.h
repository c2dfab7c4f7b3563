/* The handle: user settings, the engine, the driver, callbacks. */
#ifndef NBDI_API_HANDLE_H
#define NBDI_API_HANDLE_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "api/io.h"
#include "engine/config.h"
#include "engine/engine.h"
#include "engine/states.h"

/* What the user chose with nbd_set_*.  Plain accessors in spec/api.py
 * (field=...) read and write these members by name; the settings the
 * protocol engine reads are its configuration, proto, which the engine
 * keeps a pointer to. */
struct nbdi_settings {
  struct nbdi_engine_config proto;
  char *handle_name;
  uintptr_t private_data;
  char *tls_certificates;
  bool tls_verify_peer;
  bool tls_verify_peer_set;            /* chosen by the program, not defaulted */
  char *tls_username;
  char *tls_psk_file;
  char *tls_hostname;
  char *tls_priority;
  char *socket_activation_name;
  uint32_t uri_allow_transports;
  int uri_allow_tls;
  bool uri_allow_local_file;
  bool uri_allow_tls_priority;
};

/* Where the program asked to connect, as given (for nbd_get_uri);
 * NBDI_PEER_SOCKET: a socket the program handed over (nbd_connect_socket). */
enum nbdi_peer_kind {
  NBDI_PEER_NONE, NBDI_PEER_TCP, NBDI_PEER_UNIX, NBDI_PEER_VSOCK, NBDI_PEER_SOCKET,
};
struct nbdi_peer {
  enum nbdi_peer_kind kind;
  char *host, *port;                   /* tcp */
  char *path;                          /* unix */
  uint32_t cid, vport;                 /* vsock */
};

struct nbd_handle {
  pthread_mutex_t lock;
  struct nbdi_settings cfg;
  nbd_debug_callback debug_callback;   /* .callback NULL: print to stderr */
  struct nbdi_engine *engine;          /* the protocol's state */
  struct nbdi_driver io;               /* the connection's I/O state */
  struct nbdi_peer peer;
  pid_t pid;                           /* server subprocess, or -1 */
  bool pid_listens;                    /* it keeps listening: stop it on close */
};

/* The public state, which the engine keeps (read without the lock). */
static inline enum nbdi_state
nbdi_get_state (const struct nbd_handle *h)
{
  return nbdi_engine_state (h->engine);
}

static inline bool
nbdi_state_permits (const struct nbd_handle *h, unsigned groups)
{
  return (nbdi_state_group (nbdi_get_state (h)) & groups) != 0;
}

/* Tear down the connection (goodbye to the server, free the engine,
 * reap a server subprocess); used by nbd_close. */
void nbdi_connection_close (struct nbd_handle *h);

/* Report a call made in the wrong state: ENOTCONN before connecting,
 * EINVAL otherwise, naming the state and what was required. */
void nbdi_state_error (struct nbd_handle *h, unsigned permitted_groups);

/* The largest write payload the export takes (nbd_get_block_size's
 * LIBNBD_SIZE_PAYLOAD) once its facts are known. */
uint32_t nbdi_payload_size (const struct nbdi_export_info *info);

/* Whether the TLS handshake should verify the server's certificate:
 * the program's choice, or else the default for this connection. */
bool nbdi_tls_verifies_peer (const struct nbd_handle *h);

#endif
