/* The engine's own state and the hooks its files share.  Only files
 * under lib/engine include this: everyone else sees struct nbdi_engine
 * as opaque (engine/engine.h). */
#ifndef NBDI_ENGINE_INTERNAL_H
#define NBDI_ENGINE_INTERNAL_H

#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

#include "engine/engine.h"
#include "wire/wire.h"

/* The option currently being negotiated. */
struct nbdi_option {
  uint32_t code;                /* NBD_OPT_* */
  bool user;                    /* requested by the program */
  bool go_after;                /* SET_META_CONTEXT sent on behalf of GO/INFO */
  uint32_t go_code;             /* ... which one */
  char *server_msg;             /* error text sent by the server */
  int count;                    /* items seen (list / contexts) */
  nbd_list_callback list;
  nbd_context_callback context;
  nbd_completion_callback completion;
  struct nbdi_strlist *queries; /* meta context queries (owned), or NULL */
};

/* A negotiated meta context. */
struct nbdi_meta {
  uint32_t id;
  char *name;
};

/* A command in flight. */
struct nbdi_cmd {
  uint64_t cookie;
  struct nbdi_command req;      /* as submitted; the payload is owned */
  bool init_buf;                /* clear what the server did not fill */
  uint64_t filled;              /* bytes of rbuf covered so far, in order */
  uint64_t covered;             /* bytes covered by all data/hole chunks */
  bool scattered;               /* chunks came out of order */
  int error;                    /* first error, errno value */
  char *error_msg;              /* server's error message, if any */
  bool done;                    /* reply complete */
  uint64_t start_seq;           /* bytes_queued before this request */
  uint64_t end_seq;             /* bytes_queued after this request */
  uint8_t hdr[WIRE_EXTENDED_REQUEST_SIZE];
  struct nbdi_cmd *next;        /* queue / completed list / free list */
};

/* O(1) cookie -> command lookup: open addressing on the cookie. */
struct nbdi_cookie_map {
  struct nbdi_cmd **slots;
  size_t mask, used;
};

/* Receive buffer; payload bytes may bypass it (direct). */
struct nbdi_rx {
  uint8_t *buf;
  size_t cap, start, end;
};

/* What the last receive plan was, so that nbdi_engine_rx_done knows
 * where the bytes went. */
enum nbdi_rx_kind {
  NBDI_RX_INTO_BUF,             /* into rx at rx.end */
  NBDI_RX_DIRECT,               /* straight to direct */
  NBDI_RX_SCATTER,              /* direct first, then rx from its start */
};

/* Where a reply being parsed stands. */
enum nbdi_reply_stage {
  NBDI_RS_HEADER,               /* waiting for a reply or chunk header */
  NBDI_RS_DATA_OFFSET,          /* OFFSET_DATA: its offset */
  NBDI_RS_DATA,                 /* payload going to the caller's buffer */
  NBDI_RS_WHOLE,                /* a non-data chunk, parsed once whole in rx */
};

struct nbdi_engine {
  struct nbdi_engine_published pub;     /* first: see engine/engine.h */
  const struct nbdi_engine_config *cfg;

  /* Output: iovecs not yet sent; the memory they point to stays valid
   * until sent (headers live in commands or in tx_store). */
  struct iovec *tx;
  size_t tx_len, tx_cap, tx_first;
  uint64_t bytes_queued;        /* ever pushed; compare with bytes_sent */
  uint8_t *tx_store;            /* option requests (malloc'd, sent whole) */

  /* Input. */
  struct nbdi_rx rx;
  size_t need;                  /* bytes the current phase waits for */
  uint8_t *direct;              /* payload destination outside rx ... */
  uint64_t direct_left;         /* ... and how many bytes remain */
  enum nbdi_rx_kind rx_kind;

  /* Negotiation. */
  bool greeted;                 /* the server's flags (or oldstyle) came */
  uint16_t hs_flags;            /* server's handshake flags */
  uint32_t client_flags;
  uint8_t client_flags_wire[WIRE_CLIENT_FLAGS_SIZE];
  bool oldstyle;
  bool structured, extended, tls;
  bool sr_tried, eh_tried, tls_tried;
  bool meta_valid;              /* metas answer the requested contexts for
                                 * this export (nbd_can_meta_context) */
  struct nbdi_option opt;
  bool opt_active;              /* opt is the program's and not over */
  int opt_result;               /* outcome of the last program's option */
  int opt_count;                /* ... items it reported */
  char *opt_msg;                /* ... the server's error text, or NULL */
  struct nbdi_export_info info;
  struct nbdi_meta *metas;
  size_t nr_metas;

  /* Transmission. */
  uint64_t next_cookie;
  struct nbdi_cookie_map map;
  size_t unsent;                /* of those, queued since the last flush */
  bool tx_partial;              /* the queue's head is partly sent */
  size_t big_reads;             /* of those, reads with large payloads */
  struct nbdi_cmd *done_head, *done_tail;   /* completed, not retired */
  struct nbdi_cmd *free_cmds;
  struct nbdi_cmd *reply_cmd;   /* command whose reply is being read */
  struct wire_reply reply;      /* header of the reply being read */
  enum nbdi_reply_stage reply_stage;
  uint64_t data_offset;         /* OFFSET_DATA: where the data goes */
  uint8_t disc_hdr[WIRE_EXTENDED_REQUEST_SIZE];

  /* Death. */
  int dead_errno;
  char *dead_msg;

  struct nbdi_engine_stats stats;
};

_Static_assert (offsetof (struct nbdi_engine, pub) == 0,
                "the published facts start the engine");

/* ---- core.c ---- */

/* Trace a transition that just happened (core.c). */
void nbdi_trace_transition (struct nbdi_engine *e, enum nbdi_phase old,
                            enum nbdi_state old_state);

/* The one transition: enter phase, publishing the public state it maps
 * to (and tracing the step when debugging).  Inline: transmission goes
 * from ready to processing and back for every command. */
static inline void
nbdi_enter (struct nbdi_engine *e, enum nbdi_phase phase)
{
  enum nbdi_phase old = e->pub.phase;
  enum nbdi_state old_state = e->pub.state, state = nbdi_phase_state (phase);

  /* The option phases belong to the program while its option runs. */
  if (state == NBDI_STATE_HANDSHAKING && e->opt_active)
    state = NBDI_STATE_OPT_PENDING;
  if (phase == old && state == old_state)
    return;
  e->pub.phase = phase;
  if (state != old_state)
    __atomic_store_n (&e->pub.state, state, __ATOMIC_RELEASE);
  if (e->cfg->debug)
    nbdi_trace_transition (e, old, old_state);
}

/* In transmission (ready or processing). */
static inline bool
nbdi_transmitting (const struct nbdi_engine *e)
{
  return e->pub.phase == NBDI_PH_READY || e->pub.phase == NBDI_PH_PROCESSING;
}

/* Debug text through the log hook; callers test e->cfg->debug first so
 * that the arguments cost nothing when tracing is off. */
void nbdi_log (struct nbdi_engine *e, const char *context, const char *fmt, ...)
  __attribute__ ((format (printf, 3, 4)));

/* Queue len bytes at base (which stays valid until sent): 0 or -ENOMEM. */
int nbdi_tx_push (struct nbdi_engine *e, const void *base, size_t len);

/* Parse what rx holds, as far as it goes: 0, or -1 when dead. */
int nbdi_engine_consume (struct nbdi_engine *e);

/* ---- options.c ---- */

/* Pick and send the next automatic option (or pause / finish). */
int nbdi_option_next (struct nbdi_engine *e);
/* Handle one complete option reply (header + payload). */
int nbdi_option_reply (struct nbdi_engine *e, const struct wire_option_reply *rep,
                       const uint8_t *payload);
/* Complete the running option with err (0 = success) and release it. */
void nbdi_option_finish (struct nbdi_engine *e, int err);
/* The export's size and flags arrived: mark the meta context list
 * valid when no request for it was due. */
void nbdi_option_export_known (struct nbdi_engine *e);
void nbdi_free_export (struct nbdi_engine *e);

/* ---- commands.c ---- */

/* The reply is complete: run the completion callback and retire the
 * command, or keep it for nbdi_engine_take_completed. */
void nbdi_cmd_complete (struct nbdi_engine *e, struct nbdi_cmd *cmd);
void nbdi_cmds_fail_all (struct nbdi_engine *e, int errnum);
void nbdi_cmds_release (struct nbdi_engine *e);
void nbdi_cmds_free (struct nbdi_engine *e);
/* Ready or processing, after a change in what is half sent or read. */
void nbdi_update_ready (struct nbdi_engine *e);

/* ---- replies.c (and how a read payload should arrive, inline: every
 * receive asks) ---- */

/* Payloads at least this big are read straight into the caller's buffer. */
#define NBDI_DIRECT_MIN 16384

/* Payload bytes still due for the reply being read when rx holds
 * nothing: its header is parsed, so they come first in the stream.  0
 * otherwise. */
static inline uint64_t
nbdi_replies_lead (const struct nbdi_engine *e)
{
  if (e->reply_stage == NBDI_RS_DATA && e->rx.start == e->rx.end)
    return e->direct_left;
  return 0;
}

/* How many payload bytes may be received straight into the caller's
 * buffer right now (0: receive into rx). */
static inline uint64_t
nbdi_direct_want (const struct nbdi_engine *e)
{
  uint64_t lead = nbdi_replies_lead (e);

  return lead >= NBDI_DIRECT_MIN ? lead : 0;
}

/* How much to receive into rx at once: a lot, so that many small
 * replies come in one system call; but while big reads are in flight,
 * just enough for a reply header, so that their payloads are not copied
 * twice (the rest then goes straight to the caller's buffer).  Only a
 * non-data chunk must come whole. */
static inline size_t
nbdi_rx_read_size (const struct nbdi_engine *e)
{
  size_t room = e->rx.cap - e->rx.end;

  if (e->big_reads && e->reply_stage != NBDI_RS_WHOLE && room > 4096)
    return 4096;
  return room;
}

int nbdi_replies_consume (struct nbdi_engine *e);
/* No reply is half parsed and rx holds nothing unparsed. */
static inline bool
nbdi_replies_at_boundary (const struct nbdi_engine *e)
{
  return e->reply_stage == NBDI_RS_HEADER && e->rx.start == e->rx.end;
}
/* got bytes of the payload being read landed at e->direct: finish the
 * reply when all of it did. */
void nbdi_payload_landed (struct nbdi_engine *e, uint64_t got);

/* ---- scatter.c ---- */

/* In transmission, with payload bytes leading (nbdi_replies_lead): the
 * rest of the payload, then rx. */
void nbdi_scatter_plan (struct nbdi_engine *e, struct iovec iov[2]);
void nbdi_scatter_landed (struct nbdi_engine *e, size_t got);

#endif
