/* The NBD protocol engine: handshake, option negotiation and
 * transmission as a state machine over bytes.
 *
 * Sans-I/O: the engine never calls the kernel and never sees a socket.
 * Its user (the driver in lib/api/io.c, or a test feeding a transcript)
 * asks where the next received bytes must land (nbdi_engine_rx_plan),
 * receives into those places however it likes and reports how many came
 * (nbdi_engine_rx_done); it sends what nbdi_engine_tx_plan names and
 * reports how much left (nbdi_engine_tx_done).  Everything else is
 * submitting options and commands, whose closures the engine calls, and
 * reading what was negotiated through the accessors below.
 *
 * Layering: files under lib/engine include only the C library, the
 * public libnbd.h (for its constants and closure types), lib/wire and
 * lib/util; never lib/api or lib/transport.  The arrows run one way:
 * api -> engine -> wire, api -> transport, engine and api -> util
 * (tests/unit/layering.sh checks it).
 *
 * The engine is not thread-safe: its user serializes calls (the API
 * layer holds the handle lock).  Only nbdi_engine_state,
 * nbdi_engine_in_flight and nbdi_engine_disconnect_requested may be
 * called concurrently with other calls: they read atomically.
 *
 * Errors: calls that can fail return a negative errno (-ENOMEM, ...) and
 * set no global error.  When the connection itself fails the engine goes
 * to the dead state and keeps the cause (nbdi_engine_dead_errno and
 * nbdi_engine_dead_message); every option and command in flight then
 * completes with ENOTCONN. */
#ifndef NBDI_ENGINE_H
#define NBDI_ENGINE_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

#include "libnbd.h"
#include "engine/config.h"
#include "engine/phases.h"
#include "engine/states.h"

struct nbdi_engine;             /* opaque, but for what it publishes: */

/* The few facts read on every public call, some without the user's
 * lock: the first member of every engine, so that reading them costs
 * no function call.  Only the engine writes them (atomically); everyone
 * else reads them through the inline accessors below. */
struct nbdi_engine_published {
  enum nbdi_phase phase;        /* where the protocol stands */
  enum nbdi_state state;        /* the public state */
  size_t in_flight;             /* commands sent or queued, not complete */
  bool disc_queued;             /* NBD_CMD_DISC was queued */
};

static inline const struct nbdi_engine_published *
nbdi_engine_published (const struct nbdi_engine *e)
{
  return (const struct nbdi_engine_published *) e;
}

/* ---- lifetime ---- */

/* A new engine in NBDI_STATE_CREATED, reading cfg (which must outlive
 * it).  NULL with errno = ENOMEM. */
struct nbdi_engine *nbdi_engine_new (const struct nbdi_engine_config *cfg);

/* Release everything; closures still held are released with their
 * .free only (no completion runs). */
void nbdi_engine_free (struct nbdi_engine *e);

/* Forget every option and command in flight, running only each
 * closure's .free (nbd_close runs no completion callbacks).  While the
 * .free hooks run, nbdi_engine_state reads NBDI_STATE_CLOSED, so that a
 * hook calling back into its handle finds it closed. */
void nbdi_engine_release_callbacks (struct nbdi_engine *e);

/* ---- connection phases ---- */

/* The driver is connecting the socket (NBDI_STATE_CONNECTING). */
void nbdi_engine_dial (struct nbdi_engine *e);

/* The socket is connected: wait for the server's greeting.  0, or
 * -ENOMEM (the receive buffer is allocated here). */
int nbdi_engine_start (struct nbdi_engine *e);

/* The connection failed outside the engine (connect, recv, send, TLS):
 * go to the dead state with this cause.  No-op when already closed or
 * dead. */
void nbdi_engine_die (struct nbdi_engine *e, int errnum, const char *fmt, ...)
  __attribute__ ((format (printf, 3, 4)));

/* The driver ended the connection without waiting for the server (after
 * queueing NBD_OPT_ABORT): NBDI_STATE_CLOSED. */
void nbdi_engine_close (struct nbdi_engine *e);

/* The public state (atomic: callable without the user's lock). */
static inline enum nbdi_state
nbdi_engine_state (const struct nbdi_engine *e)
{
  return __atomic_load_n (&nbdi_engine_published (e)->state, __ATOMIC_ACQUIRE);
}

/* The cause of death: errno (EIO if none was recorded) and message
 * ("connection is dead" if none); meaningful in NBDI_STATE_DEAD. */
int nbdi_engine_dead_errno (const struct nbdi_engine *e);
const char *nbdi_engine_dead_message (const struct nbdi_engine *e);

/* ---- bytes in ---- */

/* Where the next received bytes must land: fills up to max iovecs (max
 * >= 1) and returns how many, or 0 when nothing can be received now
 * (not started, closed, dead, or NBDI_EV_TLS: the bytes on the stream
 * then belong to TLS, which the driver runs).  While the reply to
 * NBD_OPT_STARTTLS is due the plan ends exactly where that reply ends,
 * so that a server's first TLS bytes stay unread in the stream, however
 * early they come.  max >= 2 allows a scattered receive:
 * the rest of a small read payload straight into the caller's buffer
 * and the bytes after it into the engine's buffer, in one readv.
 * *exact (may be NULL) is set when every planned byte is already owed
 * by the server (a large payload going straight to the caller's
 * buffer): the driver may then wait until all of them came.
 *
 * The plan stays valid until the next call into the engine; receive at
 * most the planned bytes, in order, then call nbdi_engine_rx_done. */
int nbdi_engine_rx_plan (struct nbdi_engine *e, struct iovec *iov, int max,
                         bool *exact);

/* n (> 0) bytes landed where the last plan said, in order: parse them,
 * running whatever closures they complete.  0, or -1 when the
 * connection died (state dead, cause recorded). */
int nbdi_engine_rx_done (struct nbdi_engine *e, size_t n);

/* The server closed its end.  After NBD_OPT_ABORT or NBD_CMD_DISC, or
 * in transmission with nothing in flight, the engine closes cleanly;
 * otherwise it dies. */
void nbdi_engine_rx_eof (struct nbdi_engine *e);

/* ---- bytes out ---- */

/* The queued output, in order: *iov points at the engine's array (valid
 * until the next call into the engine); returns how many iovecs. */
size_t nbdi_engine_tx_plan (struct nbdi_engine *e, const struct iovec **iov);

/* n bytes from the front of the queue were sent. */
void nbdi_engine_tx_done (struct nbdi_engine *e, size_t n);

/* Output is queued. */
bool nbdi_engine_tx_pending (const struct nbdi_engine *e);

/* Queued output should leave now rather than wait for more: requests
 * are batched while the server has plenty to work on. */
bool nbdi_engine_tx_worth_sending (const struct nbdi_engine *e);

/* ---- events for the driver ---- */

#define NBDI_EV_TLS        0x1u /* STARTTLS agreed: run the TLS handshake
                                 * on the raw stream, then call
                                 * nbdi_engine_tls_done; no byte past the
                                 * server's reply has been taken */
#define NBDI_EV_SHUT_WRITE 0x2u /* NBD_CMD_DISC has left in full: the
                                 * write side may be shut */
#define NBDI_EV_DEAD       0x4u /* the connection died (see dead_errno) */
#define NBDI_EV_CLOSED     0x8u /* the connection ended cleanly */

unsigned nbdi_engine_events (const struct nbdi_engine *e);

/* The NBDI_EV_TLS event alone, which the driver asks before every
 * receive: inline. */
static inline bool
nbdi_engine_wants_tls (const struct nbdi_engine *e)
{
  return nbdi_engine_published (e)->phase == NBDI_PH_TLS_HANDSHAKE;
}

/* The TLS handshake succeeded: negotiation goes on inside TLS.  0 or -1
 * (dead). */
int nbdi_engine_tls_done (struct nbdi_engine *e);

/* Directions the engine wants now, as LIBNBD_AIO_DIRECTION_* bits (in
 * NBDI_EV_TLS the driver decides instead). */
unsigned nbdi_engine_direction (const struct nbdi_engine *e);

/* ---- options ---- */

/* An option the program asked for (nbd_opt_* in option mode).  The
 * engine owns the closures and queries from nbdi_engine_option_start
 * on, whatever it returns. */
struct nbdi_option_request {
  uint32_t code;                /* NBD_OPT_* */
  nbd_list_callback list;       /* NBD_OPT_LIST: one call per export */
  nbd_context_callback context; /* meta context options: one per context */
  nbd_completion_callback completion;
  struct nbdi_strlist *queries; /* meta context queries (owned), or NULL
                                 * for cfg->meta_requests */
};

/* Begin a program's option in NBDI_STATE_NEGOTIATING (the state goes to
 * NBDI_STATE_OPT_PENDING).  0, or -errno: -ENOMEM, or another when the
 * connection died (see dead_errno). */
int nbdi_engine_option_start (struct nbdi_engine *e,
                              const struct nbdi_option_request *req);

/* Queue NBD_OPT_ABORT; the driver sends it and ends the connection
 * without waiting (nbdi_engine_close).  A server that is not fixed
 * newstyle cannot be sent it: the engine dies instead.  0 or -errno. */
int nbdi_engine_option_abort (struct nbdi_engine *e);

/* The program chose another export: what the last one was (size,
 * flags, names, meta contexts) no longer applies. */
void nbdi_engine_forget_export (struct nbdi_engine *e);

/* The outcome of the last program's option: its errno (0 = success),
 * the items it reported, and the server's error text (or NULL). */
struct nbdi_option_result {
  int err;
  int count;
  const char *server_msg;
};
void nbdi_engine_option_result (const struct nbdi_engine *e,
                                struct nbdi_option_result *res);

/* errno for an NBD_REP_ERR_* reply. */
int nbdi_rep_errno (uint32_t type);

/* ---- commands ---- */

/* A command to send.  For a read, rbuf receives count bytes; a write
 * sends count bytes from wbuf, which must stay valid until the command
 * completes (sends are zero-copy).  payload: the block status filter
 * payload, owned by the engine once submitted. */
struct nbdi_command {
  uint16_t type;                /* NBD_CMD_* */
  uint16_t flags;               /* NBD_CMD_FLAG_* */
  uint64_t offset, count;
  void *rbuf;
  const void *wbuf;
  uint8_t *payload;
  uint32_t payload_len;
  nbd_completion_callback completion;
  nbd_chunk_callback chunk;
  nbd_extent_callback extent;
  nbd_extent64_callback extent64;
};

/* Queue a command and track it until its reply: its cookie (> 0), or
 * -ENOMEM with nothing queued and nothing taken (the caller still owns
 * the closures and the payload). */
int64_t nbdi_engine_submit (struct nbdi_engine *e, const struct nbdi_command *cmd);

/* Queue NBD_CMD_DISC (after every command queued so far).  0 or -ENOMEM. */
int nbdi_engine_disconnect (struct nbdi_engine *e);

/* NBD_CMD_DISC was queued (atomic). */
static inline bool
nbdi_engine_disconnect_requested (const struct nbdi_engine *e)
{
  return __atomic_load_n (&nbdi_engine_published (e)->disc_queued, __ATOMIC_RELAXED);
}

/* LIBNBD_SHUTDOWN_ABANDON_PENDING: drop the commands not one byte of
 * which was sent; each completes with ENOTCONN. */
void nbdi_engine_abandon_unsent (struct nbdi_engine *e);

/* Commands sent or queued whose reply is not complete (atomic). */
static inline size_t
nbdi_engine_in_flight (const struct nbdi_engine *e)
{
  return __atomic_load_n (&nbdi_engine_published (e)->in_flight, __ATOMIC_RELAXED);
}

/* Of those, how many already left in full (the server may be answering
 * them). */
size_t nbdi_engine_awaited (const struct nbdi_engine *e);

/* A completed command whose completion closure did not retire it (did
 * not return 1) waits here until taken. */
struct nbdi_completed {
  uint16_t type;                /* NBD_CMD_* */
  int error;                    /* errno, 0 = success */
  char *server_msg;             /* the server's error text (caller frees), or NULL */
};

/* The command with this cookie has completed and is not taken yet. */
bool nbdi_engine_is_completed (const struct nbdi_engine *e, uint64_t cookie);

/* Take (retire) a completed command: 1 with *out filled, or 0 when the
 * cookie names no completed command. */
int nbdi_engine_take_completed (struct nbdi_engine *e, uint64_t cookie,
                                struct nbdi_completed *out);

/* The cookie of the oldest completed command, or 0. */
uint64_t nbdi_engine_peek_completed (const struct nbdi_engine *e);

/* ---- what negotiation taught ---- */

struct nbdi_export_info {
  bool known;                   /* size and flags received */
  uint64_t size;
  uint16_t eflags;              /* NBD_FLAG_* transmission flags */
  uint32_t block_min, block_pref, block_max;    /* 0: not sent */
  char *canonical_name, *description;           /* NULL: not sent */
};

/* The export's facts (known is false until the server sent them). */
const struct nbdi_export_info *nbdi_engine_export (const struct nbdi_engine *e);

bool nbdi_engine_structured (const struct nbdi_engine *e);
bool nbdi_engine_extended (const struct nbdi_engine *e);
bool nbdi_engine_tls_negotiated (const struct nbdi_engine *e);

/* "oldstyle", "newstyle" or "newstyle-fixed" (before the greeting:
 * "newstyle"). */
const char *nbdi_engine_protocol (const struct nbdi_engine *e);

/* The handshake flags: those agreed once the server's flags arrived
 * (0 for oldstyle), before that cfg->handshake_flags. */
uint32_t nbdi_engine_handshake_flags (const struct nbdi_engine *e);

/* The negotiated meta contexts.  valid: the list answers the requested
 * contexts for the current export (nbd_can_meta_context may answer). */
bool nbdi_engine_meta_valid (const struct nbdi_engine *e);
size_t nbdi_engine_nr_metas (const struct nbdi_engine *e);
/* Context i's name and server id (i < nr_metas). */
const char *nbdi_engine_meta_name (const struct nbdi_engine *e, size_t i,
                                   uint32_t *id);

struct nbdi_engine_stats {
  uint64_t bytes_sent, bytes_received, chunks_sent, chunks_received;
};
void nbdi_engine_stats (const struct nbdi_engine *e, struct nbdi_engine_stats *s);

#endif
