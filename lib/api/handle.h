/* The handle: user settings, the connection's engine state, callbacks. */
#ifndef NBDI_API_HANDLE_H
#define NBDI_API_HANDLE_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "engine/states.h"
#include "engine/conn.h"
#include "transport/dial.h"


/* What the user chose with nbd_set_*.  Plain accessors in spec/api.py
 * (field=...) read and write these members by name. */
struct nbdi_settings {
  bool debug;
  char *handle_name;
  uintptr_t private_data;
  char *export_name;
  int tls;
  char *tls_certificates;
  bool tls_verify_peer;
  bool tls_verify_peer_set;            /* chosen by the program, not defaulted */
  char *tls_username;
  char *tls_psk_file;
  char *tls_hostname;
  char *tls_priority;
  bool request_structured_replies;
  bool request_extended_headers;
  bool request_meta_context;
  bool request_block_size;
  bool full_info;
  uint32_t handshake_flags;
  uint32_t strict;
  bool opt_mode;
  bool pread_initialize;
  char *socket_activation_name;
  struct nbdi_strlist meta_requests;
  uint32_t uri_allow_transports;
  int uri_allow_tls;
  bool uri_allow_local_file;
  bool uri_allow_tls_priority;
};

/* Where the program asked to connect, as given (for nbd_get_uri);
 * PEER_SOCKET: a socket the program handed over (nbd_connect_socket). */
enum nbdi_peer_kind { PEER_NONE, PEER_TCP, PEER_UNIX, PEER_VSOCK, PEER_SOCKET };
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
  enum nbdi_state state;               /* read without the lock: atomics */
  struct nbdi_conn conn;               /* the engine's connection state */
  struct nbdi_dialer dialer;           /* while connecting */
  struct nbdi_peer peer;
  pid_t pid;                           /* server subprocess, or -1 */
  bool pid_listens;                    /* it keeps listening: stop it on close */
};

static inline enum nbdi_state
nbdi_get_state (const struct nbd_handle *h)
{
  return __atomic_load_n (&h->state, __ATOMIC_ACQUIRE);
}

static inline void
nbdi_set_state (struct nbd_handle *h, enum nbdi_state state)
{
  __atomic_store_n (&h->state, state, __ATOMIC_RELEASE);
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

/* Whether the TLS handshake should verify the server's certificate:
 * the program's choice, or else the default for this connection. */
bool nbdi_tls_verifies_peer (const struct nbd_handle *h);

#endif
