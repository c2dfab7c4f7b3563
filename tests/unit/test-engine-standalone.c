/* The engine on its own: linked with the nbd-engine library only (no
 * handle, no socket, no API layer), it negotiates with a scripted
 * server and completes a read whose payload arrives split, landing it
 * in the caller's buffer through the planned iovecs.  Linked with
 * malloc wrapped, it also shows that running out of memory while
 * parsing a reply is reported as ENOMEM. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "test.h"               /* first: it switches off libnbd.h's nonnull */
#include "engine/engine.h"
#include "wire/wire.h"

static int transitions;

/* Allocations of more than this fail while set (0: none fail). */
static size_t fail_above;

void *__real_malloc (size_t size);
void *__wrap_malloc (size_t size);

void *
__wrap_malloc (size_t size)
{
  if (fail_above && size > fail_above)
    return NULL;
  return __real_malloc (size);
}

static void
log_hook (void *opaque, const char *context, const char *msg)
{
  (void) opaque;
  (void) context;
  if (strncmp (msg, "transition: ", 12) == 0)
    transitions++;
}

/* Feed bytes the way a driver would, at most step at a time, into
 * whatever the engine plans (up to max iovecs). */
static void
feed (struct nbdi_engine *e, const uint8_t *p, size_t len, size_t step, int max)
{
  while (len > 0) {
    struct iovec iov[2];
    int n = nbdi_engine_rx_plan (e, iov, max, NULL);
    size_t got = 0;

    CHECK (n > 0);
    for (int i = 0; i < n && got < len && got < step; i++) {
      size_t k = iov[i].iov_len;
      if (k > len - got)
        k = len - got;
      if (k > step - got)
        k = step - got;
      memcpy (iov[i].iov_base, p + got, k);
      got += k;
    }
    CHECK (nbdi_engine_rx_done (e, got) == 0);
    p += got;
    len -= got;
  }
}

/* Everything the client queued, as one byte string; counted as sent. */
static size_t
drain_tx (struct nbdi_engine *e, uint8_t *out, size_t cap)
{
  const struct iovec *iov;
  size_t n = nbdi_engine_tx_plan (e, &iov), len = 0;

  for (size_t i = 0; i < n; i++) {
    CHECK (len + iov[i].iov_len <= cap);
    memcpy (out + len, iov[i].iov_base, iov[i].iov_len);
    len += iov[i].iov_len;
  }
  nbdi_engine_tx_done (e, len);
  return len;
}

static int completed, completed_error;

static int
on_complete (void *user_data, int *error)
{
  (void) user_data;
  completed_error = *error;
  completed++;
  return 1;
}

static void
put_reply (uint8_t *p, uint64_t opt, uint32_t type, uint32_t len)
{
  wire_put64 (p, 0x3e889045565a9ULL);
  wire_put32 (p + 8, opt);
  wire_put32 (p + 12, type);
  wire_put32 (p + 16, len);
}

static void
run (size_t step, int max)
{
  struct nbdi_engine_config cfg = {
    .debug = true, .log = log_hook, .export_name = "",
    .tls = LIBNBD_TLS_DISABLE, .handshake_flags = LIBNBD_HANDSHAKE_FLAG_MASK,
    .strict = LIBNBD_STRICT_MASK, .pread_initialize = true,
  };
  struct nbdi_engine *e = nbdi_engine_new (&cfg);
  uint8_t srv[256], tx[256], buf[4096], reply[16 + sizeof buf];
  size_t n;

  CHECK (e && nbdi_engine_state (e) == NBDI_STATE_CREATED);
  /* Nothing queued yet: an empty plan, pointing at a real array (not a
   * null pointer plus an offset, which is undefined behaviour). */
  {
    const struct iovec *none = NULL;
    CHECK (nbdi_engine_tx_plan (e, &none) == 0 && none != NULL);
  }
  CHECK (nbdi_engine_start (e) == 0);
  CHECK (nbdi_engine_state (e) == NBDI_STATE_HANDSHAKING);

  /* Greeting: NBDMAGIC, IHAVEOPT, fixed newstyle + no zeroes. */
  memcpy (srv, "NBDMAGIC", 8);
  wire_put64 (srv + 8, 0x49484156454F5054ULL);
  wire_put16 (srv + 16, NBD_FLAG_FIXED_NEWSTYLE | NBD_FLAG_NO_ZEROES);
  feed (e, srv, 18, step, max);
  n = drain_tx (e, tx, sizeof tx);
  CHECK (n >= 4 + 16);
  CHECK (wire_get32 (tx) == (NBD_FLAG_FIXED_NEWSTYLE | NBD_FLAG_NO_ZEROES));
  CHECK (wire_get32 (tx + 4 + 8) == NBD_OPT_GO);   /* nothing else asked for */
  CHECK (nbdi_engine_handshake_flags (e)
         == (LIBNBD_HANDSHAKE_FLAG_FIXED_NEWSTYLE | LIBNBD_HANDSHAKE_FLAG_NO_ZEROES));

  /* NBD_REP_INFO (export: size 1 MiB, flags 1), then NBD_REP_ACK. */
  put_reply (srv, NBD_OPT_GO, NBD_REP_INFO, 12);
  wire_put16 (srv + 20, NBD_INFO_EXPORT);
  wire_put64 (srv + 22, 1 << 20);
  wire_put16 (srv + 30, 1);
  put_reply (srv + 32, NBD_OPT_GO, NBD_REP_ACK, 0);
  feed (e, srv, 52, step, max);
  CHECK (nbdi_engine_state (e) == NBDI_STATE_READY);
  CHECK (nbdi_engine_export (e)->known && nbdi_engine_export (e)->size == 1 << 20);

  /* A read, answered with a simple reply whose payload comes split. */
  struct nbdi_command cmd = {
    .type = NBD_CMD_READ, .offset = 4096, .count = sizeof buf, .rbuf = buf,
    .completion = { .callback = on_complete },
  };
  int64_t cookie = nbdi_engine_submit (e, &cmd);
  CHECK (cookie > 0 && nbdi_engine_in_flight (e) == 1);
  n = drain_tx (e, tx, sizeof tx);
  CHECK (n == 28 && wire_get16 (tx + 6) == NBD_CMD_READ);
  wire_put32 (reply, 0x67446698);
  wire_put32 (reply + 4, 0);
  wire_put64 (reply + 8, (uint64_t) cookie);
  for (size_t i = 0; i < sizeof buf; i++)
    reply[16 + i] = (uint8_t) (i * 7);
  completed = 0;
  feed (e, reply, sizeof reply, step, max);
  CHECK (completed == 1 && completed_error == 0 && nbdi_engine_in_flight (e) == 0);
  CHECK (memcmp (buf, reply + 16, sizeof buf) == 0);

  /* The disconnect: once sent, the write side may shut; EOF closes. */
  CHECK (nbdi_engine_disconnect (e) == 0);
  drain_tx (e, tx, sizeof tx);
  CHECK (nbdi_engine_events (e) & NBDI_EV_SHUT_WRITE);
  nbdi_engine_rx_eof (e);
  CHECK (nbdi_engine_state (e) == NBDI_STATE_CLOSED);
  nbdi_engine_free (e);
}

/* Structured replies agreed, a read answered by a 2 MiB non-data chunk
 * that the engine must gather whole: the allocation fails. */
static void
run_out_of_memory (void)
{
  struct nbdi_engine_config cfg = {
    .export_name = "", .tls = LIBNBD_TLS_DISABLE,
    .request_structured_replies = true,
    .handshake_flags = LIBNBD_HANDSHAKE_FLAG_MASK, .strict = LIBNBD_STRICT_MASK,
  };
  struct nbdi_engine *e = nbdi_engine_new (&cfg);
  uint8_t srv[256], tx[256], buf[512], chunk[20];
  int64_t cookie;

  CHECK (e && nbdi_engine_start (e) == 0);
  memcpy (srv, "NBDMAGIC", 8);
  wire_put64 (srv + 8, 0x49484156454F5054ULL);
  wire_put16 (srv + 16, NBD_FLAG_FIXED_NEWSTYLE);
  feed (e, srv, 18, 18, 2);
  drain_tx (e, tx, sizeof tx);
  put_reply (srv, NBD_OPT_STRUCTURED_REPLY, NBD_REP_ACK, 0);
  feed (e, srv, 20, 20, 2);
  drain_tx (e, tx, sizeof tx);
  put_reply (srv, NBD_OPT_GO, NBD_REP_INFO, 12);
  wire_put16 (srv + 20, NBD_INFO_EXPORT);
  wire_put64 (srv + 22, 1 << 20);
  wire_put16 (srv + 30, 0);
  put_reply (srv + 32, NBD_OPT_GO, NBD_REP_ACK, 0);
  feed (e, srv, 52, 52, 2);
  CHECK (nbdi_engine_state (e) == NBDI_STATE_READY && nbdi_engine_structured (e));

  struct nbdi_command cmd = {
    .type = NBD_CMD_READ, .count = sizeof buf, .rbuf = buf,
    .completion = { .callback = on_complete },
  };
  cookie = nbdi_engine_submit (e, &cmd);
  CHECK (cookie > 0);
  drain_tx (e, tx, sizeof tx);
  wire_put32 (chunk, 0x668e33ef);
  wire_put16 (chunk + 4, NBD_REPLY_FLAG_DONE);
  wire_put16 (chunk + 6, NBD_REPLY_TYPE_BLOCK_STATUS);
  wire_put64 (chunk + 8, (uint64_t) cookie);
  wire_put32 (chunk + 16, 2 << 20);
  completed = 0;
  fail_above = 1 << 20;
  {
    struct iovec iov[2];
    CHECK (nbdi_engine_rx_plan (e, iov, 2, NULL) == 1 && iov[0].iov_len >= sizeof chunk);
    memcpy (iov[0].iov_base, chunk, sizeof chunk);
    CHECK (nbdi_engine_rx_done (e, sizeof chunk) == -1);
  }
  fail_above = 0;
  CHECK (nbdi_engine_state (e) == NBDI_STATE_DEAD);
  CHECK (nbdi_engine_dead_errno (e) == ENOMEM);
  CHECK (nbdi_engine_events (e) & NBDI_EV_DEAD);
  CHECK (completed == 1 && completed_error == ENOTCONN);
  nbdi_engine_free (e);
}

int
main (void)
{
  static const size_t steps[] = { 1, 3, 17, 100, 100000 };

  for (size_t i = 0; i < sizeof steps / sizeof steps[0]; i++) {
    transitions = 0;
    run (steps[i], 1);
    run (steps[i], 2);
    CHECK (transitions > 0);
  }
  run_out_of_memory ();
  return test_exit ();
}
