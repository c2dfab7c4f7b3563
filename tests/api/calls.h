/* The calls of spec/api.py that are limited to some handle states, or
 * that may not be called from a callback on their own handle, as one
 * X-macro table shared by states.c and wrong-state.c.
 *
 *   X (name, kind, states, reentrant, closures, args...)
 *
 * kind       I: returns int/int64 (-1 on error); S: returns a string the
 *            caller frees (NULL on error); C: returns a static string.
 * states     the permitted states, from spec/api.py (ST_* bits below).
 * reentrant  RE, or NO for calls refused (EDEADLK) inside a callback.
 * closures   how many closures the call takes (each has a .free that
 *            must run exactly once, whatever happens).
 * args       arguments after h: valid in form, and chosen so that a
 *            connect in the created state fails fast without a server.
 *
 * tests/api/coverage.py checks this table against spec/api.py: every
 * state-limited or non-reentrant call has a row, with the same states
 * and reentrancy.
 */
#ifndef FASTNBD_TEST_CALLS_H
#define FASTNBD_TEST_CALLS_H

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "test.h"

#define ST_CREATED     0x01
#define ST_CONNECTING  0x02
#define ST_NEGOTIATING 0x04
#define ST_CONNECTED   0x08
#define ST_CLOSED      0x10
#define ST_DEAD        0x20
#define ST_ANY         0x3f

#define C_  ST_CREATED
#define CN  (ST_CREATED | ST_NEGOTIATING)
#define N_  ST_NEGOTIATING
#define NCC (ST_NEGOTIATING | ST_CONNECTED | ST_CLOSED)
#define NC  (ST_NEGOTIATING | ST_CONNECTED)
#define CO  ST_CONNECTED
#define CCD (ST_CONNECTED | ST_CLOSED | ST_DEAD)
#define AC  (ST_ANY & ~ST_CREATED)
#define ANY ST_ANY

#define RE 1
#define NO 0

/* Arguments used by the rows (set up by calls_init). */
static char buf[512];
static char *no_such_program[] = { (char *) "/nonexistent/fastnbd-no-such-server", NULL };
static char *queries[] = { (char *) "base:", NULL };
static char *filter_contexts[] = { (char *) "base:allocation", NULL };
static char closed_port[16];
static struct sockaddr_un no_such_socket = {
  .sun_family = AF_UNIX, .sun_path = "/nonexistent/fastnbd-test.sock",
};

/* Every closure passed counts its .free here. */
static int frees;
static void count_free (void *p) { (void) p; frees++; }
static int chunk_cb (void *p, const void *b, size_t c, uint64_t o, unsigned s, int *e)
{ (void) p; (void) b; (void) c; (void) o; (void) s; (void) e; return 0; }
static int completion_cb (void *p, int *e) { (void) p; (void) e; return 1; }
static int extent_cb (void *p, const char *m, uint64_t o, uint32_t *en, size_t n, int *e)
{ (void) p; (void) m; (void) o; (void) en; (void) n; (void) e; return 0; }
static int extent64_cb (void *p, const char *m, uint64_t o, nbd_extent *en, size_t n, int *e)
{ (void) p; (void) m; (void) o; (void) en; (void) n; (void) e; return 0; }
static int list_cb (void *p, const char *n, const char *d) { (void) p; (void) n; (void) d; return 0; }
static int context_cb (void *p, const char *n) { (void) p; (void) n; return 0; }

#define CHUNK ((nbd_chunk_callback) { .callback = chunk_cb, .free = count_free })
#define COMPLETION ((nbd_completion_callback) { .callback = completion_cb, .free = count_free })
#define EXTENT ((nbd_extent_callback) { .callback = extent_cb, .free = count_free })
#define EXTENT64 ((nbd_extent64_callback) { .callback = extent64_cb, .free = count_free })
#define LIST ((nbd_list_callback) { .callback = list_cb, .free = count_free })
#define CONTEXT ((nbd_context_callback) { .callback = context_cb, .free = count_free })
#define SUN ((const struct sockaddr *) &no_such_socket), ((socklen_t) sizeof no_such_socket)

#define CALLS(X)                                                              \
  X (set_export_name, I, CN, RE, 0, "e")                                      \
  X (set_request_structured_replies, I, C_, RE, 0, true)                      \
  X (set_request_extended_headers, I, C_, RE, 0, true)                        \
  X (set_request_meta_context, I, CN, RE, 0, true)                            \
  X (set_request_block_size, I, CN, RE, 0, true)                              \
  X (set_full_info, I, CN, RE, 0, false)                                      \
  X (set_handshake_flags, I, C_, RE, 0, LIBNBD_HANDSHAKE_FLAG_MASK)           \
  X (set_opt_mode, I, C_, RE, 0, false)                                       \
  X (set_socket_activation_name, I, C_, RE, 0, "n")                           \
  X (add_meta_context, I, CN, RE, 0, "base:allocation")                       \
  X (clear_meta_contexts, I, CN, RE, 0)                                       \
  X (set_tls, I, C_, RE, 0, LIBNBD_TLS_DISABLE)                               \
  X (set_tls_certificates, I, C_, RE, 0, "/nonexistent")                      \
  X (set_tls_verify_peer, I, C_, RE, 0, true)                                 \
  X (set_tls_username, I, C_, RE, 0, "u")                                     \
  X (set_tls_psk_file, I, C_, RE, 0, "/nonexistent/psk")                      \
  X (set_tls_hostname, I, C_, RE, 0, "host")                                  \
  X (set_tls_priority, I, C_, RE, 0, "NORMAL")                                \
  X (set_uri_allow_transports, I, C_, RE, 0, LIBNBD_ALLOW_TRANSPORT_MASK)     \
  X (set_uri_allow_tls, I, C_, RE, 0, LIBNBD_TLS_ALLOW)                       \
  X (set_uri_allow_local_file, I, C_, RE, 0, false)                           \
  X (set_uri_allow_tls_priority, I, C_, RE, 0, false)                         \
  X (aio_connect_unix, I, C_, RE, 0, no_such_socket.sun_path)                 \
  X (connect_unix, I, C_, NO, 0, no_such_socket.sun_path)                     \
  X (aio_connect_uri, I, C_, RE, 0,                                           \
     "nbd+unix:///?socket=/nonexistent/fastnbd-test.sock")                    \
  X (connect_uri, I, C_, NO, 0,                                               \
     "nbd+unix:///?socket=/nonexistent/fastnbd-test.sock")                    \
  X (get_uri, S, AC, RE, 0)                                                   \
  X (aio_connect_tcp, I, C_, RE, 0, "127.0.0.1", closed_port)                 \
  X (connect_tcp, I, C_, NO, 0, "127.0.0.1", closed_port)                     \
  X (aio_connect_vsock, I, C_, RE, 0, 1, 1)                                   \
  X (connect_vsock, I, C_, NO, 0, 1, 1)                                       \
  X (aio_connect_socket, I, C_, RE, 0, -1)                                    \
  X (connect_socket, I, C_, NO, 0, -1)                                        \
  X (aio_connect_command, I, C_, RE, 0, no_such_program)                      \
  X (connect_command, I, C_, NO, 0, no_such_program)                          \
  X (aio_connect_systemd_socket_activation, I, C_, RE, 0, no_such_program)    \
  X (connect_systemd_socket_activation, I, C_, NO, 0, no_such_program)        \
  X (aio_connect, I, C_, RE, 0, SUN)                                          \
  X (aio_notify_read, I, ANY, NO, 0)                                          \
  X (aio_notify_write, I, ANY, NO, 0)                                         \
  X (poll, I, ANY, NO, 0, 0)                                                  \
  X (poll2, I, ANY, NO, 0, -1, 0)                                             \
  X (opt_go, I, N_, NO, 0)                                                    \
  X (aio_opt_go, I, N_, RE, 1, COMPLETION)                                    \
  X (opt_info, I, N_, NO, 0)                                                  \
  X (aio_opt_info, I, N_, RE, 1, COMPLETION)                                  \
  X (opt_list, I, N_, NO, 1, LIST)                                            \
  X (aio_opt_list, I, N_, RE, 2, LIST, COMPLETION)                            \
  X (opt_list_meta_context, I, N_, NO, 1, CONTEXT)                            \
  X (aio_opt_list_meta_context, I, N_, RE, 2, CONTEXT, COMPLETION)            \
  X (opt_list_meta_context_queries, I, N_, NO, 1, queries, CONTEXT)           \
  X (aio_opt_list_meta_context_queries, I, N_, RE, 2, queries, CONTEXT,       \
     COMPLETION)                                                              \
  X (opt_set_meta_context, I, N_, NO, 1, CONTEXT)                             \
  X (aio_opt_set_meta_context, I, N_, RE, 2, CONTEXT, COMPLETION)             \
  X (opt_set_meta_context_queries, I, N_, NO, 1, queries, CONTEXT)            \
  X (aio_opt_set_meta_context_queries, I, N_, RE, 2, queries, CONTEXT,        \
     COMPLETION)                                                              \
  X (opt_structured_reply, I, N_, NO, 0)                                      \
  X (aio_opt_structured_reply, I, N_, RE, 1, COMPLETION)                      \
  X (opt_extended_headers, I, N_, NO, 0)                                      \
  X (aio_opt_extended_headers, I, N_, RE, 1, COMPLETION)                      \
  X (opt_starttls, I, N_, NO, 0)                                              \
  X (aio_opt_starttls, I, N_, RE, 1, COMPLETION)                              \
  X (opt_abort, I, N_, NO, 0)                                                 \
  X (aio_opt_abort, I, N_, RE, 0)                                             \
  X (is_read_only, I, NCC, RE, 0)                                             \
  X (can_flush, I, NCC, RE, 0)                                                \
  X (can_fua, I, NCC, RE, 0)                                                  \
  X (is_rotational, I, NCC, RE, 0)                                            \
  X (can_trim, I, NCC, RE, 0)                                                 \
  X (can_zero, I, NCC, RE, 0)                                                 \
  X (can_df, I, NCC, RE, 0)                                                   \
  X (can_multi_conn, I, NCC, RE, 0)                                           \
  X (can_cache, I, NCC, RE, 0)                                                \
  X (can_fast_zero, I, NCC, RE, 0)                                            \
  X (can_block_status_payload, I, NCC, RE, 0)                                 \
  X (can_meta_context, I, NCC, RE, 0, "base:allocation")                      \
  X (get_size, I, NCC, RE, 0)                                                 \
  X (get_block_size, I, NCC, RE, 0, LIBNBD_SIZE_PREFERRED)                    \
  X (get_protocol, C, NCC, RE, 0)                                             \
  X (get_canonical_export_name, S, NCC, RE, 0)                                \
  X (get_export_description, S, NCC, RE, 0)                                   \
  X (get_structured_replies_negotiated, I, NCC, RE, 0)                        \
  X (get_extended_headers_negotiated, I, NCC, RE, 0)                          \
  X (get_tls_negotiated, I, NCC, RE, 0)                                       \
  X (shutdown, I, NC, NO, 0, 0)                                               \
  X (aio_disconnect, I, CO, RE, 0, 0)                                         \
  X (pread, I, CO, NO, 0, buf, sizeof buf, 0, 0)                              \
  X (aio_pread, I, CO, RE, 1, buf, sizeof buf, 0, COMPLETION, 0)              \
  X (pread_structured, I, CO, NO, 1, buf, sizeof buf, 0, CHUNK, 0)            \
  X (aio_pread_structured, I, CO, RE, 2, buf, sizeof buf, 0, CHUNK,           \
     COMPLETION, 0)                                                           \
  X (pwrite, I, CO, NO, 0, buf, sizeof buf, 0, 0)                             \
  X (aio_pwrite, I, CO, RE, 1, buf, sizeof buf, 0, COMPLETION, 0)             \
  X (flush, I, CO, NO, 0, 0)                                                  \
  X (aio_flush, I, CO, RE, 1, COMPLETION, 0)                                  \
  X (trim, I, CO, NO, 0, 512, 0, 0)                                           \
  X (aio_trim, I, CO, RE, 1, 512, 0, COMPLETION, 0)                           \
  X (cache, I, CO, NO, 0, 512, 0, 0)                                          \
  X (aio_cache, I, CO, RE, 1, 512, 0, COMPLETION, 0)                          \
  X (zero, I, CO, NO, 0, 512, 0, 0)                                           \
  X (aio_zero, I, CO, RE, 1, 512, 0, COMPLETION, 0)                           \
  X (block_status, I, CO, NO, 1, 512, 0, EXTENT, 0)                           \
  X (aio_block_status, I, CO, RE, 2, 512, 0, EXTENT, COMPLETION, 0)           \
  X (block_status_64, I, CO, NO, 1, 512, 0, EXTENT64, 0)                      \
  X (aio_block_status_64, I, CO, RE, 2, 512, 0, EXTENT64, COMPLETION, 0)      \
  X (block_status_filter, I, CO, NO, 1, 512, 0, filter_contexts, EXTENT64, 0) \
  X (aio_block_status_filter, I, CO, RE, 2, 512, 0, filter_contexts, EXTENT64,  \
     COMPLETION, 0)                                                           \
  X (aio_in_flight, I, CCD, RE, 0)

/* One invoker per row: -1 for failure, else 0 or the call's result. */
#define INVOKE_I(name, ...) return (int64_t) nbd_##name (h, ##__VA_ARGS__);
#define INVOKE_S(name, ...)                                             \
  char *s = nbd_##name (h, ##__VA_ARGS__);                              \
  if (s == NULL)                                                        \
    return -1;                                                          \
  free (s);                                                             \
  return 0;
#define INVOKE_C(name, ...) return nbd_##name (h, ##__VA_ARGS__) ? 0 : -1;
#define DEFINE_INVOKER(name, kind, states, re, ncl, ...)                \
  static int64_t                                                        \
  invoke_##name (struct nbd_handle *h)                                  \
  {                                                                     \
    INVOKE_##kind (name, ##__VA_ARGS__)                                 \
  }
CALLS (DEFINE_INVOKER)

struct row {
  const char *name;             /* "nbd_..." */
  unsigned states;
  int reentrant;
  int closures;
  int64_t (*invoke) (struct nbd_handle *h);
};

#define ROW(name, kind, states, re, ncl, ...) \
  { "nbd_" #name, (states), (re), (ncl), invoke_##name },
static const struct row rows[] = { CALLS (ROW) };
#define NROWS (sizeof rows / sizeof rows[0])

/* Pick a TCP port on 127.0.0.1 with nobody listening. */
static void
calls_init (void)
{
  struct sockaddr_in sin = { .sin_family = AF_INET };
  socklen_t len = sizeof sin;
  int fd = socket (AF_INET, SOCK_STREAM, 0);

  snprintf (closed_port, sizeof closed_port, "1");
  sin.sin_addr.s_addr = htonl (INADDR_LOOPBACK);
  if (fd >= 0 && bind (fd, (struct sockaddr *) &sin, sizeof sin) == 0 &&
      getsockname (fd, (struct sockaddr *) &sin, &len) == 0)
    snprintf (closed_port, sizeof closed_port, "%u", ntohs (sin.sin_port));
  if (fd >= 0)
    close (fd);                 /* bound, never listened: refuses */
}

/* The state a handle is in, as one ST_* bit (0 if none or several). */
static inline unsigned
current_state (struct nbd_handle *h)
{
  unsigned s = 0, n = 0;

  if (nbd_aio_is_created (h)) s |= ST_CREATED, n++;
  if (nbd_aio_is_connecting (h)) s |= ST_CONNECTING, n++;
  if (nbd_aio_is_negotiating (h)) s |= ST_NEGOTIATING, n++;
  if (nbd_aio_is_ready (h)) s |= ST_CONNECTED, n++;
  if (nbd_aio_is_processing (h)) s |= ST_CONNECTED, n++;
  if (nbd_aio_is_closed (h)) s |= ST_CLOSED, n++;
  if (nbd_aio_is_dead (h)) s |= ST_DEAD, n++;
  return n == 1 ? s : 0;
}

#endif
