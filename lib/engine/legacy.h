/* Engine entry points, used by the driver (lib/api/io.c) and the API.
 *
 * Layering note: the engine needs the user's settings, the debug
 * channel and the public error form, so it takes the handle itself
 * rather than a narrower context; it still never performs I/O. */
#ifndef NBDI_ENGINE_LEGACY_H
#define NBDI_ENGINE_LEGACY_H

#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>

#include "engine/conn.h"

struct nbd_handle;

/* Allocate buffers; 0 or -1 (ENOMEM set). */
int nbdi_engine_init (struct nbd_handle *h);
void nbdi_engine_free (struct nbd_handle *h);
/* Forget every option and command in flight, running only each
 * closure's .free (nbd_close runs no completion callbacks). */
void nbdi_engine_release_callbacks (struct nbd_handle *h);

/* The socket is connected: start reading the server's greeting. */
void nbdi_engine_start (struct nbd_handle *h);

/* Bytes were added to rx (or landed in the direct destination):
 * advance as far as they allow.  Returns 0, or -1 when the connection
 * died (already recorded). */
int nbdi_engine_consume (struct nbd_handle *h);

/* The server closed its end. */
void nbdi_engine_eof (struct nbd_handle *h);

/* Fatal error: the handle goes to the dead state, every pending option
 * and command completes with errnum, and the message is kept for the
 * calls that fail afterwards. */
void nbdi_engine_die (struct nbd_handle *h, int errnum, const char *fmt, ...)
  __attribute__ ((format (printf, 3, 4)));

/* Directions the engine wants now (LIBNBD_AIO_DIRECTION_*). */
unsigned nbdi_engine_direction (struct nbd_handle *h);

/* Output queue. */
bool nbdi_tx_pending (const struct nbdi_conn *c);
/* Whether queued output should leave now rather than wait for more. */
bool nbdi_tx_worth_sending (const struct nbdi_conn *c);
int nbdi_tx_push (struct nbdi_conn *c, const void *base, size_t len);
/* Account for n bytes sent from the front of the queue. */
void nbdi_tx_advance (struct nbdi_conn *c, size_t n);

/* ---- options (engine/options.c) ---- */

/* Begin a user option in the negotiating state.  The option's closures
 * are owned by the engine from here on.  0, or -1 with the error set. */
int nbdi_option_start (struct nbd_handle *h, const struct nbdi_option *opt);

/* Pick and send the next automatic option (or pause / finish). */
int nbdi_option_next (struct nbd_handle *h);

/* Handle one complete option reply (header + payload in rx). */
int nbdi_option_reply (struct nbd_handle *h, const struct wire_option_reply *rep,
                       const uint8_t *payload);

/* Complete the running option with err (0 = success) and release it. */
void nbdi_option_finish (struct nbd_handle *h, int err);

/* errno for an NBD_REP_ERR_* reply. */
int nbdi_rep_errno (uint32_t type);

/* The driver finished the TLS handshake: carry on negotiating. */
int nbdi_option_tls_done (struct nbd_handle *h);

/* The program chose another export: what the last one was (size,
 * flags, names, meta contexts) no longer applies. */
void nbdi_option_forget_export (struct nbd_handle *h);

/* The export's size and flags arrived (GO, INFO, EXPORT_NAME or
 * oldstyle): mark the meta context list valid when no request for it
 * was due. */
void nbdi_option_export_known (struct nbd_handle *h);

/* Queue NBD_OPT_ABORT (the driver sends it and closes without waiting
 * for an answer); against a server that is not fixed newstyle nothing
 * can be sent and the handle dies instead.  0 or -1. */
int nbdi_option_abort (struct nbd_handle *h);

/* ---- transmission (engine/commands.c) ---- */

/* Get a zeroed command with the next cookie. */
struct nbdi_cmd *nbdi_cmd_new (struct nbd_handle *h);
/* Queue it for sending and track it until its reply; returns its cookie. */
int64_t nbdi_cmd_submit (struct nbd_handle *h, struct nbdi_cmd *cmd);
/* Parse replies from rx. */
int nbdi_replies_consume (struct nbd_handle *h);
/* Fail every command in flight (connection died). */
void nbdi_cmds_fail_all (struct nbd_handle *h, int errnum);
/* Forget every command in flight, running only .free. */
void nbdi_cmds_release (struct nbd_handle *h);
/* LIBNBD_SHUTDOWN_ABANDON_PENDING: drop the commands not one byte of
 * which was sent; each completes with ENOTCONN. */
void nbdi_cmds_abandon_unsent (struct nbd_handle *h);
/* Retire a completed command (frees its closures). */
void nbdi_cmd_retire (struct nbd_handle *h, struct nbdi_cmd *cmd);
/* Find a completed-but-unretired command. */
struct nbdi_cmd *nbdi_cmd_find_done (struct nbd_handle *h, uint64_t cookie,
                                     struct nbdi_cmd **prev);
void nbdi_cmds_free (struct nbd_handle *h);
/* Queue NBD_CMD_DISC. */
int nbdi_cmd_disconnect (struct nbd_handle *h);

/* Payload bytes the driver may read straight into a caller's buffer
 * now (0: read into rx instead). */
uint64_t nbdi_direct_want (const struct nbdi_conn *c);
/* How many bytes to read into rx at once (after compaction). */
size_t nbdi_rx_read_size (const struct nbdi_conn *c);

/* ---- scattered receive (engine/scatter.c) ---- */

/* When the bytes due next are the rest of a payload whose header is
 * parsed, lay out one receive that puts them straight into the caller's
 * buffer and what follows into rx: fills iov[0] and iov[1] and returns
 * 2; else 0, to receive into rx as usual. */
int nbdi_scatter_plan (struct nbd_handle *h, struct iovec iov[2]);
/* That receive took got bytes (> 0): account for the payload bytes
 * (completing the reply when all came) and leave the rest in rx for
 * nbdi_engine_consume. */
void nbdi_scatter_landed (struct nbd_handle *h, size_t got);

/* Transmission state after a change in commands in flight. */
void nbdi_update_ready (struct nbd_handle *h);

#endif
