/* The connection engine: NBD handshake, option negotiation and
 * transmission as a state machine over byte buffers.
 *
 * Sans-I/O: the engine never calls the kernel.  It queues outgoing bytes
 * as iovecs (tx) and says where incoming bytes must land (rx, or straight
 * into a caller's read buffer); the driver (lib/api/io.c) moves bytes
 * through the transport and calls nbdi_engine_step.  Everything here runs
 * with the handle lock held. */
#ifndef NBDI_ENGINE_CONN_H
#define NBDI_ENGINE_CONN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

#include "libnbd.h"
#include "util/strlist.h"
#include "wire/wire.h"

struct nbd_handle;

struct nbdi_transport;

/* Fine-grained phase of the engine, below the public states. */
enum nbdi_phase {
  PH_NONE,                      /* not connected */
  PH_DIAL,                      /* waiting for connect() to finish */
  PH_GREETING,                  /* 16 bytes: NBDMAGIC + style */
  PH_OLDSTYLE,                  /* rest of an oldstyle greeting */
  PH_HS_FLAGS,                  /* newstyle handshake flags */
  PH_OPT_NEXT,                  /* choose the next option to send */
  PH_OPT_REPLY,                 /* option reply header (+ payload) */
  PH_EXPORT_NAME_REPLY,         /* reply to NBD_OPT_EXPORT_NAME */
  PH_OPT_WAIT_USER,             /* opt mode: paused for the program */
  PH_ABORT_WAIT,                /* sent NBD_OPT_ABORT, draining */
  PH_TLS_HANDSHAKE,             /* STARTTLS agreed: the driver runs TLS */
  PH_TRANSMISSION,              /* commands and replies */
};

/* The option currently being negotiated. */
struct nbdi_option {
  uint32_t code;                /* NBD_OPT_* */
  bool user;                    /* requested by an nbd_opt_* call */
  bool go_after;                /* SET_META_CONTEXT sent on behalf of GO/INFO */
  uint32_t go_code;             /* ... which one */
  int err;                      /* errno for the completion, 0 = success */
  char *server_msg;             /* error text sent by the server */
  int count;                    /* items seen (list / contexts) */
  nbd_list_callback list;
  nbd_context_callback context;
  nbd_completion_callback completion;
  struct nbdi_strlist *queries; /* meta context queries (owned), or NULL */
};

/* What the server told us during negotiation. */
struct nbdi_export_info {
  bool known;                   /* size and flags received */
  uint64_t size;
  uint16_t eflags;
  uint32_t block_min, block_pref, block_max;
  char *canonical_name, *description;
};

/* A negotiated meta context. */
struct nbdi_meta {
  uint32_t id;
  char *name;
};

/* A command in flight. */
struct nbdi_cmd {
  uint64_t cookie;
  uint16_t type, flags;
  uint64_t offset, count;
  void *rbuf;                   /* read destination */
  const void *wbuf;             /* write source */
  uint8_t *payload;             /* block status filter payload (owned) */
  uint32_t payload_len;
  nbd_completion_callback completion;
  nbd_chunk_callback chunk;
  nbd_extent_callback extent;
  nbd_extent64_callback extent64;
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

/* Receive buffer; payload bytes may bypass it (rx_direct). */
struct nbdi_rx {
  uint8_t *buf;
  size_t cap, start, end;
};

struct nbdi_conn {
  enum nbdi_phase phase;
  struct nbdi_transport *transport;

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

  /* Negotiation. */
  uint16_t hs_flags;            /* server's handshake flags */
  uint32_t client_flags;
  uint8_t client_flags_wire[WIRE_CLIENT_FLAGS_SIZE];
  bool oldstyle;
  bool structured, extended, tls;
  bool sr_tried, eh_tried, tls_tried;
  bool tls_want_write;          /* the TLS handshake waits to write */
  bool tls_wrapped;             /* the transport is the TLS one */
  bool meta_valid;              /* metas answer the requested contexts for
                                 * this export (nbd_can_meta_context) */
  struct nbdi_option opt;
  bool opt_active;
  int opt_result;               /* outcome of the last user option: errno */
  int opt_count;                /* ... items it reported */
  char *opt_msg;                /* ... the server's error text, or NULL */
  struct nbdi_export_info info;
  struct nbdi_meta *metas;
  size_t nr_metas;

  /* Transmission. */
  uint64_t next_cookie;
  struct nbdi_cookie_map map;
  size_t in_flight;             /* sent or queued, reply not complete;
                                 * written atomically (read unlocked) */
  size_t unsent;                /* of those, queued since the last flush */
  bool tx_partial;              /* the queue's head is partly sent */
  size_t big_reads;             /* of those, reads with large payloads */
  bool recv_hot;                /* the last read found data waiting */
  bool tx_full;                 /* the last send found the socket full */
  bool in_receive;              /* replies are being received: commands
                                 * issued now leave when it ends */
  struct nbdi_cmd *done_head, *done_tail;   /* completed, not retired */
  struct nbdi_cmd *free_cmds;
  struct nbdi_cmd *reply_cmd;   /* command whose reply is being read */
  struct wire_reply reply;      /* header of the reply being read */
  int reply_stage;              /* RS_* in commands.c */
  uint64_t data_offset;         /* OFFSET_DATA: where the data goes */
  bool disc_queued;
  bool write_shut;              /* NBD_CMD_DISC sent, write side shut */
  uint8_t disc_hdr[WIRE_EXTENDED_REQUEST_SIZE];

  /* Death. */
  int dead_errno;
  char *dead_msg;

  /* Statistics. */
  uint64_t bytes_sent, bytes_received, chunks_sent, chunks_received;
};

#endif
