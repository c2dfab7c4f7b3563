/* The reactive fake NBD server: a pure byte-in, byte-out object.
 *
 * Feed it what the client sent (fz_srv_feed) and it parses every
 * complete message and queues its answers: greeting, option replies,
 * simple replies or structured/extended chunks, each built as one
 * struct fz_msg that the corpus hook (tamper) and the mutations aimed at
 * it may rewrite before it is queued.  Take the answers in pieces
 * (fz_srv_next_out, then fz_srv_sent with what was delivered); the
 * piece sizes are the server's own choice (cfg.piece_max), so that the
 * client sees messages split anywhere.  When the server hangs up (after
 * a truncation, an abort, a disconnect, or fz_srv_hang_up) `closed` is
 * set and the transport must close its side.
 *
 * It knows nothing of sockets: the socketpair driver (fz-client.c) moves
 * its bytes with recv/send, an in-process driver hands them to the
 * engine directly.  Every choice goes through s->rng, so a seed gives
 * the same bytes whatever carries them.
 */
#ifndef FZ_SERVER_H
#define FZ_SERVER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "fz-rng.h"
#include "fz-util.h"
#include "fz-wire.h"

enum fz_msg_kind {
  FM_GREETING,               /* newstyle: magic, IHAVEOPT, flags */
  FM_OLDSTYLE,               /* oldstyle greeting */
  FM_OPT_REPLY,
  FM_EXPORT_NAME_REPLY,
  FM_SIMPLE_REPLY,
  FM_CHUNK,                  /* structured or extended reply chunk */
};

extern const char *const fz_msg_kind_name[];

/* One message the server is about to send; mutators and hand-written
 * corpus hooks may rewrite buf. */
struct fz_msg {
  enum fz_msg_kind kind;
  int index;                 /* order of emission, from 0 */
  uint32_t opt, rep;         /* FM_OPT_REPLY */
  uint16_t cmd, chunk, flags;/* replies: command type, chunk type, flags */
  uint64_t cookie, req_offset, req_count;
  bool ext;                  /* extended reply header */
  size_t hdr_len;            /* bytes of header before the payload */
  struct fz_buf b;
  /* Set by a hook: */
  int copies;                /* 1 normally; 0 drops, 2 duplicates */
  bool close_after;          /* hang up after this message */
  /* Set by fz_srv_begin: b is the server's output, the message being
   * written at its end (nothing is to change it on its way out). */
  bool in_output;
};

struct fz_srv;
typedef void (*fz_tamper_fn) (struct fz_srv *s, struct fz_msg *m);

enum fz_mut_kind {
  MUT_FLIP, MUT_FIELD16, MUT_FIELD32, MUT_FIELD64, MUT_LENGTH, MUT_TRUNCATE,
  MUT_DUP, MUT_DROP, MUT_INSERT, MUT_COOKIE, MUT_TYPE, MUT_FLAGS, MUT_PAYLOAD32,
  MUT_N
};
extern const char *const fz_mut_name[MUT_N];

struct fz_mut {
  int target;                /* message index */
  enum fz_mut_kind kind;
};

struct fz_srvcfg {
  int style;                 /* 0 fixed newstyle, 1 plain newstyle, 2 oldstyle */
  bool no_zeroes;            /* offer NBD_FLAG_NO_ZEROES */
  bool accept_sr, accept_ext, meta;
  uint16_t eflags;
  uint64_t size;
  bool block_size_info;      /* send NBD_INFO_BLOCK_SIZE unasked */
  uint32_t bs_min, bs_pref, bs_max;
  bool reorder;              /* answer a batch of requests in random order */
  bool holes;                /* OFFSET_HOLE for zero regions */
  bool split;                /* reads in several chunks */
  bool sr_simple;            /* simple replies to non-reads under SR */
  bool none_done;            /* finish structured replies with a NONE chunk */
  int chunk_order;           /* read chunks: 0 shuffled, 1 in order, 2 reversed */
  bool interleave;           /* mix the chunks of different replies */
  bool meta2;                /* also offer the context "fuzz:second" */
  unsigned err_pct;          /* chance of a (valid) error reply */
  size_t piece_max;          /* write at most this much at a time (0: all) */
  int nexports;
};

struct fz_req {
  uint16_t flags, type;
  uint64_t cookie, offset, count;
  bool bad_payload;          /* block status payload the server rejects */
  bool only_base, only_second;   /* block status payload: ids asked for */
};

/* Messages of one reply, kept apart to be interleaved with others. */
struct fz_msglist {
  struct fz_buf *m;
  size_t n, next;
};

struct fz_srv {
  struct fz_srvcfg cfg;
  struct fz_rng *rng;
  bool closed;               /* hung up: takes and gives no more bytes */
  bool close_when_flushed;
  bool muted;                /* emit nothing more (after a truncation) */
  bool peer_gone;            /* the transport saw the client go */
  enum { S_FLAGS, S_OPT, S_TRANS, S_GAVE_UP } state;
  uint32_t client_flags;
  bool sr, ext;              /* what the server believes was negotiated */
  uint32_t meta_id, meta_id2;
  bool meta_set, meta2_set;
  struct fz_msglist *capture;    /* emit into this list, not out */
  struct fz_buf in;          /* an incomplete message, from its start */
  size_t in_off;
  struct fz_req skip_req;    /* a request whose payload is arriving ... */
  uint64_t skip;             /* ... with this many bytes still to come */
  uint64_t skipped;          /* ... and this many of it in (header too) */
  struct fz_buf out;
  size_t out_off;
  size_t sent_total;
  int nmsgs;
  struct fz_mut muts[FZ_MAX_MUTS];
  int nmuts;
  int muts_applied;
  fz_tamper_fn tamper;
  int tamper_hits;
  int tamper_state;          /* free for the hook */
  struct fz_req *pend;
  size_t npend, cappend;
  struct { uint64_t cookie; int err; } *expect;
  size_t nexpect, capexpect;
  size_t nreq_seen;
  bool dump;
};

/* Begin: queue the greeting (fixed/plain newstyle or oldstyle). */
void fz_srv_start (struct fz_srv *s);

/* The client's bytes, all that arrived since the last call. */
void fz_srv_feed (struct fz_srv *s, const void *p, size_t n);

/* The next piece to send, 0 when none; then fz_srv_sent (n delivered). */
size_t fz_srv_next_out (struct fz_srv *s, const uint8_t **p);
void fz_srv_sent (struct fz_srv *s, size_t n);

/* How many bytes of an incomplete message the server holds (0 once it
 * gave up): a client that stops there stalled mid-request. */
size_t fz_srv_partial_request (const struct fz_srv *s);

/* Stop: nothing more is taken or given. */
void fz_srv_hang_up (struct fz_srv *s);
void fz_srv_free (struct fz_srv *s);

/* The errno the server's reply to cookie means (0: success), or -1 if
 * it never answered that cookie. */
int fz_srv_expected (const struct fz_srv *s, uint64_t cookie);

/* The export's contents: a pattern with zero holes every 16 KiB. */
bool fz_is_zero_region (uint64_t off);
uint8_t fz_disk_byte (uint64_t off);
/* n bytes of the export from off into dst. */
void fz_disk_fill (uint8_t *dst, uint64_t off, size_t n);
/* Where p (n bytes read from off) first differs from the export: n if
 * nowhere. */
size_t fz_disk_mismatch (const uint8_t *p, uint64_t off, size_t n);

/* Where a message's own length field is, and its width (0: none). */
size_t fz_msg_length_field (const struct fz_msg *m, int *width);

/* Apply one mutation of kind k to m (drawing from s->rng). */
void fz_apply_mutation (struct fz_srv *s, struct fz_msg *m, enum fz_mut_kind k);

#endif
