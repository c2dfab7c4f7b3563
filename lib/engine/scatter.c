/* Scattered receive: read replies straight into the callers' buffers.
 *
 * Small reads normally land in rx and are copied out, which costs a
 * second copy of every byte.  A server that answers in request order,
 * each read in one piece, makes the next bytes predictable: reply header
 * of the oldest read in flight, its data, the next header, and so on.
 * So one recvmsg can scatter them: headers into rx, payloads straight
 * into the callers' buffers, anything after into the rest of rx.  The
 * headers are then compared byte for byte with the expected ones; the
 * first that differs ends the prediction and everything from there on
 * is gathered back into rx and parsed the ordinary way (the kernel only
 * ever wrote inside buffers of reads in flight, which those reads own
 * until they complete; a read whose buffer took such stray bytes has
 * filled == 0, so it is either overwritten by its own reply or cleared
 * as pread initialization requires).  Servers that reorder replies
 * make predictions fail; each failure doubles how many receives go by
 * before the next attempt. */
#include <stdlib.h>
#include <string.h>

#include "api/internal.h"
#include "engine/engine.h"
#include "engine/replies.h"

/* Only small reads: big payloads are read straight into their buffer
 * anyway (nbdi_direct_want). */
#define SCATTER_MAX_READ (64 * 1024)
/* Bytes of payload one receive may scatter. */
#define SCATTER_MAX_BYTES (256 * 1024)
/* Predictions per receive adapt to how many replies one receive brings
 * (a server that trickles replies makes long plans wasted work). */
#define SCATTER_START_DEPTH 8
#define BACKOFF_MIN 8
#define BACKOFF_MAX 4096

static size_t
header_size (const struct nbdi_conn *c)
{
  uint8_t tmp[WIRE_READ_REPLY_MAX];

  return wire_encode_read_reply (tmp, c->structured, c->extended, 0, 0, 0);
}

static bool
predictable (const struct nbdi_conn *c, const struct nbdi_cmd *cmd)
{
  return cmd && cmd->type == NBD_CMD_READ && cmd->count > 0
         && cmd->count <= SCATTER_MAX_READ
         && cmd->end_seq <= c->bytes_sent      /* the server has it all */
         && cmd->filled == 0 && cmd->covered == 0 && !cmd->scattered;
}

/* Reads in flight may share a buffer (their data is then undefined, but
 * the stream must survive): after a miss, bytes in one buffer must not
 * have been overwritten by a later piece, so planned buffers never
 * overlap.  The planned ranges are kept sorted, so a new one only needs
 * checking against its two neighbours. */
struct range {
  uintptr_t lo, hi;
};

/* Add [buf, buf+len) to the n sorted ranges at r unless it overlaps one
 * of them; false if it does. */
static bool
ranges_add (struct range *r, size_t *n, const void *buf, uint64_t len)
{
  uintptr_t lo = (uintptr_t) buf, hi = lo + len;
  size_t a = 0, b = *n;

  while (a < b) {                       /* first range starting at or after lo */
    size_t m = (a + b) / 2;
    if (r[m].lo < lo)
      a = m + 1;
    else
      b = m;
  }
  if ((a > 0 && r[a - 1].hi > lo) || (a < *n && r[a].lo < hi))
    return false;
  memmove (&r[a + 1], &r[a], (*n - a) * sizeof *r);
  r[a] = (struct range) { lo, hi };
  (*n)++;
  return true;
}

int
nbdi_scatter_plan (struct nbd_handle *h, struct iovec *iov, int max_iov)
{
  struct nbdi_conn *c = &h->conn;
  size_t hsize, n = 0, bytes = 0, tail;
  uint64_t cookie = c->expect_cookie, lead;
  struct range ranges[NBDI_PLAN_MAX];   /* no initializer: only [0, nranges) is read */
  size_t nranges = 0;

  c->plan_len = 0;
  if (c->phase != PH_TRANSMISSION || c->in_flight == 0)
    return 0;
  /* A receive that ended inside a payload leaves its rest to come first. */
  lead = nbdi_replies_lead (c);
  if (lead == 0 && !nbdi_replies_at_boundary (c))
    return 0;
  if (c->scatter_skip > 0) {
    c->scatter_skip--;
    return 0;
  }
  if (lead > 0) {
    if (lead > SCATTER_MAX_BYTES)
      return 0;
    ranges_add (ranges, &nranges, c->direct, lead);
    bytes = lead;
    cookie++;
  }
  hsize = header_size (c);
  c->rx.start = c->rx.end = 0;
  if (c->scatter_depth == 0)
    c->scatter_depth = SCATTER_START_DEPTH;
  while (n < c->scatter_depth && (int) (2 * n + 4) <= max_iov
         && (n + 1) * hsize < c->rx.cap) {
    struct nbdi_cmd *cmd = nbdi_cmd_lookup (c, cookie);
    if (!predictable (c, cmd) || bytes + cmd->count > SCATTER_MAX_BYTES
        || !ranges_add (ranges, &nranges, cmd->rbuf, cmd->count))
      break;
    c->plan[n++] = cmd;
    bytes += cmd->count;
    cookie++;
  }
  if (n == 0)
    return 0;
  if (lead > 0)
    *iov++ = (struct iovec) { .iov_base = c->direct, .iov_len = lead };
  for (size_t i = 0; i < n; i++) {
    iov[2 * i] = (struct iovec) { .iov_base = c->rx.buf + i * hsize, .iov_len = hsize };
    iov[2 * i + 1] = (struct iovec) { .iov_base = c->plan[i]->rbuf,
                                      .iov_len = c->plan[i]->count };
  }
  tail = c->rx.cap - n * hsize;
  if (c->big_reads && tail > 4096)      /* as nbdi_rx_read_size does */
    tail = 4096;
  iov[2 * n] = (struct iovec) { .iov_base = c->rx.buf + n * hsize, .iov_len = tail };
  c->plan_len = n;
  c->plan_hsize = hsize;
  c->plan_lead = lead;
  return (int) (2 * n + 1 + (lead > 0));
}

/* Copy the first len bytes the plan's pieces hold, from piece `first`
 * on (piece 2i: header slot i, 2i+1: buffer of plan[i], then the tail
 * of rx), to out. */
static void
gather (struct nbdi_conn *c, size_t first, size_t len, uint8_t *out)
{
  size_t hsize = c->plan_hsize;

  for (size_t i = first; len > 0; i++) {
    const uint8_t *src;
    size_t size;
    if (i >= 2 * c->plan_len) {         /* the tail of rx */
      src = c->rx.buf + c->plan_len * hsize;
      size = len;
    }
    else if (i % 2 == 0) {
      src = c->rx.buf + (i / 2) * hsize;
      size = hsize;
    }
    else {
      src = c->plan[i / 2]->rbuf;
      size = c->plan[i / 2]->count;
    }
    if (size > len)
      size = len;
    memcpy (out, src, size);
    out += size;
    len -= size;
  }
}

int
nbdi_scatter_landed (struct nbd_handle *h, size_t got)
{
  struct nbdi_conn *c = &h->conn;
  size_t hsize = c->plan_hsize, pos = 0, matched = 0, n = c->plan_len;
  size_t partial = 0;           /* payload bytes of plan[matched] ... */
  bool cut = false;             /* ... when the receive ended inside it */
  bool mismatch = false;
  uint64_t lead = c->plan_lead;

  c->plan_lead = 0;
  if (got <= lead) {            /* nothing beyond the half-read payload */
    c->plan_len = 0;
    nbdi_payload_landed (h, got);
    return 0;
  }
  got -= lead;
  while (matched < n) {
    struct nbdi_cmd *cmd = c->plan[matched];
    uint8_t want[WIRE_READ_REPLY_MAX];
    size_t left = got - pos;

    if (left < hsize)
      break;
    wire_encode_read_reply (want, c->structured, c->extended, cmd->cookie,
                            cmd->offset, cmd->count);
    if (memcmp (c->rx.buf + matched * hsize, want, hsize) != 0) {
      mismatch = true;
      break;
    }
    if (left - hsize < cmd->count) {
      partial = left - hsize;
      cut = true;
      pos = got;
      break;
    }
    pos += hsize + cmd->count;
    matched++;
  }

  /* Put the bytes not yet accounted for where parsing expects them,
   * before any callback runs. */
  if (mismatch) {
    size_t len = got - pos, cap = c->rx.cap > len ? c->rx.cap : len;
    uint8_t *buf = malloc (cap);
    if (buf == NULL) {
      nbdi_engine_die (h, ENOMEM, "out of memory");
      return -1;
    }
    gather (c, 2 * matched, len, buf);
    c->plan_len = 0;
    free (c->rx.buf);
    c->rx = (struct nbdi_rx) { .buf = buf, .cap = cap, .start = 0, .end = len };
    c->scatter_skip = c->scatter_backoff;
    c->scatter_backoff = c->scatter_backoff < BACKOFF_MIN ? BACKOFF_MIN
                         : c->scatter_backoff >= BACKOFF_MAX / 2 ? BACKOFF_MAX
                         : c->scatter_backoff * 2;
  }
  else {
    c->plan_len = 0;
    /* A header cut short sits in its own slot; bytes after the last
     * prediction sit in the tail, which starts where slot n would. */
    c->rx.start = matched * hsize;
    c->rx.end = c->rx.start + (got - pos);
    if (c->rx.start == c->rx.end)
      c->rx.start = c->rx.end = 0;
    if (matched > 0 && c->scatter_backoff > BACKOFF_MIN)
      c->scatter_backoff /= 2;
  }

  {
    /* Replies that came after the whole plan sat in the tail and will be
     * copied out of rx: next time, plan for as many as may be in flight. */
    size_t used = !mismatch && matched == n && got > pos ? NBDI_PLAN_MAX
                  : 2 * (matched + cut);
    c->scatter_depth = used < 2 ? 2 : used > NBDI_PLAN_MAX ? NBDI_PLAN_MAX : used;
  }
  if (lead > 0)
    nbdi_payload_landed (h, lead);
  for (size_t i = 0; i < matched; i++)
    nbdi_read_landed (h, c->plan[i], c->plan[i]->count);
  if (cut)
    nbdi_read_landed (h, c->plan[matched], partial);
  return 0;
}
