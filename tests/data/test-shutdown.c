/* Ending a connection with commands in flight: nbd_shutdown (waits for
 * them), nbd_shutdown with LIBNBD_SHUTDOWN_ABANDON_PENDING (they fail,
 * each completion callback runs once), nbd_aio_disconnect (later
 * commands refused), nbd_close (each .free once). */
#include "callbacks.h"

#define N 4

struct reads {
  uint8_t buf[N][64 * KiB];
  struct done d[N];
  struct chunks c[N];
  int64_t ck[N];
};

/* N reads, even ones plain, odd ones structured with a chunk callback. */
static void
issue_reads (struct nbd_handle *h, struct reads *r)
{
  for (int i = 0; i < N; i++) {
    r->d[i] = (struct done) { .ret = 0 };
    r->c[i] = (struct chunks) { .ret = 0 };
    memset (r->buf[i], 0xAA, sizeof r->buf[i]);
    if (i % 2)
      r->ck[i] = nbd_aio_pread_structured (h, r->buf[i], 64 * KiB, i * 64 * KiB,
                                           chunk_closure (&r->c[i], r->buf[i], 64 * KiB,
                                                          i * 64 * KiB),
                                           done_closure (&r->d[i]), 0);
    else
      r->ck[i] = nbd_aio_pread (h, r->buf[i], 64 * KiB, i * 64 * KiB,
                                done_closure (&r->d[i]), 0);
    CHECK (r->ck[i] > 0);
  }
  CHECK_INT (nbd_aio_in_flight (h), N);
}

static void
t_shutdown_waits (void)
{
  struct nbd_handle *h = open_nbdkit ("--filter=delay", "pattern", "1M", "rdelay=1");
  static struct reads r;
  double t0;

  issue_reads (h, &r);
  t0 = now_s ();
  CHECK_OK (nbd_shutdown (h, 0));
  CHECK (now_s () - t0 >= 0.9);
  CHECK_INT (nbd_aio_is_closed (h), 1);
  CHECK_INT (nbd_aio_in_flight (h), 0);
  for (int i = 0; i < N; i++) {
    CHECK_INT (r.d[i].calls, 1);
    CHECK_INT (r.d[i].error, 0);
    CHECK_INT (check_offset_pattern (r.buf[i], 64 * KiB, i * 64 * KiB), -1);
    CHECK_INT (nbd_aio_command_completed (h, r.ck[i]), 1);
    CHECK_INT (r.d[i].frees, 1);
    if (i % 2)
      CHECK_INT (r.c[i].frees, 1);
  }
  /* no more commands */
  CHECK (nbd_aio_pread (h, r.buf[0], 512, 0, NBD_NULL_COMPLETION, 0) == -1);
  CHECK (nbd_pread (h, r.buf[0], 512, 0, 0) == -1);
  nbd_close (h);
}

static void
check_abandoned (struct nbd_handle *h, struct reads *r)
{
  for (int i = 0; i < N; i++) {
    CHECK_INT (r->d[i].calls, 1);
    CHECK (r->d[i].error != 0);
    CHECK_INT (nbd_aio_command_completed (h, r->ck[i]), -1);
    CHECK (nbd_get_errno () != 0);
    CHECK_INT (r->d[i].frees, 1);
  }
  printf ("abandoned command: %s (%d)\n", nbd_get_error (), nbd_get_errno ());
}

static void
t_shutdown_abandon (void)
{
  struct nbd_handle *h;
  static struct reads r;
  double t0;

  /* slow server */
  h = open_nbdkit ("--filter=delay", "pattern", "1M", "rdelay=10");
  issue_reads (&*h, &r);
  t0 = now_s ();
  CHECK_OK (nbd_shutdown (h, LIBNBD_SHUTDOWN_ABANDON_PENDING));
  CHECK (now_s () - t0 < 5);
  CHECK_INT (nbd_aio_is_closed (h), 1);
  CHECK_INT (nbd_aio_in_flight (h), 0);
  check_abandoned (h, &r);
  nbd_close (h);
  for (int i = 0; i < N; i++) {
    CHECK_INT (r.d[i].calls, 1);
    CHECK_INT (r.d[i].frees, 1);
    if (i % 2)
      CHECK_INT (r.c[i].frees, 1);
  }

  /* a server that never answers; this time the callbacks retire */
  h = open_fakesrv (MODE_STRUCTURED, "--fault", "hang");
  issue_reads (h, &r);
  for (int i = 0; i < N; i++)
    r.d[i].ret = 1;
  CHECK_INT (nbd_poll (h, 200), 0);
  t0 = now_s ();
  CHECK_OK (nbd_shutdown (h, LIBNBD_SHUTDOWN_ABANDON_PENDING));
  CHECK (now_s () - t0 < 5);
  for (int i = 0; i < N; i++) {
    CHECK_INT (r.d[i].calls, 1);
    CHECK (r.d[i].error != 0);
    CHECK_INT (r.d[i].frees, 1);
  }
  nbd_close (h);
  for (int i = 0; i < N; i++) {
    CHECK_INT (r.d[i].calls, 1);
    CHECK_INT (r.d[i].frees, 1);
    if (i % 2)
      CHECK_INT (r.c[i].frees, 1);
  }

  /* unknown flags */
  h = open_nbdkit ("memory", "1M");
  CHECK_FAIL (nbd_shutdown (h, 0x100), EINVAL, "nbd_shutdown");
  CHECK_INT (nbd_aio_is_ready (h), 1);
  CHECK_OK (nbd_shutdown (h, 0));
  nbd_close (h);
}

static void
t_disconnect (void)
{
  struct nbd_handle *h;
  static struct reads r;
  static char buf[512];
  struct done d = { .ret = 0 };

  /* fakesrv answers in order: the reads sent before NBD_CMD_DISC are
   * answered before it closes */
  h = open_fakesrv (MODE_STRUCTURED, "--pattern");
  issue_reads (h, &r);
  CHECK_OK (nbd_aio_disconnect (h, 0));
  /* nothing more may be issued */
  CHECK_FAIL (nbd_aio_pread (h, buf, 512, 0, done_closure (&d), 0), EINVAL,
              "nbd_aio_pread");
  CHECK_INT (d.calls, 0);
  CHECK_INT (d.frees, 1);
  CHECK_FAIL (nbd_aio_flush (h, NBD_NULL_COMPLETION, 0), EINVAL, "nbd_aio_flush");
  CHECK (nbd_pread (h, buf, 512, 0, 0) == -1);
  CHECK_INT (nbd_get_errno (), EINVAL);
  /* as in libnbd, the queued NBD_CMD_DISC may count as in flight */
  CHECK (nbd_aio_in_flight (h) == N || nbd_aio_in_flight (h) == N + 1);
  /* the commands in flight still complete, then the handle closes */
  for (int i = 0; i < 100 && !nbd_aio_is_closed (h) && !nbd_aio_is_dead (h); i++)
    CHECK (nbd_poll (h, 1000) != -1);
  CHECK_INT (nbd_aio_is_closed (h), 1);
  for (int i = 0; i < N; i++) {
    CHECK_INT (r.d[i].calls, 1);
    CHECK_INT (r.d[i].error, 0);
    CHECK_INT (check_offset_pattern (r.buf[i], 64 * KiB, i * 64 * KiB), -1);
    CHECK_INT (nbd_aio_command_completed (h, r.ck[i]), 1);
  }
  CHECK (nbd_aio_pread (h, buf, 512, 0, NBD_NULL_COMPLETION, 0) == -1);
  nbd_close (h);

  /* nbdkit abandons slow requests on NBD_CMD_DISC (it answers them with
   * an error): each still completes once, and the handle ends closed */
  h = open_nbdkit ("--filter=delay", "pattern", "1M", "rdelay=1");
  issue_reads (h, &r);
  CHECK_OK (nbd_aio_disconnect (h, 0));
  CHECK_FAIL (nbd_aio_pread (h, buf, 512, 0, NBD_NULL_COMPLETION, 0), EINVAL,
              "nbd_aio_pread");
  for (int i = 0; i < 100 && !nbd_aio_is_closed (h) && !nbd_aio_is_dead (h); i++)
    CHECK (nbd_poll (h, 1000) != -1);
  CHECK_INT (nbd_aio_is_closed (h), 1);
  for (int i = 0; i < N; i++) {
    CHECK_INT (r.d[i].calls, 1);
    if (r.d[i].error == 0)
      CHECK_INT (check_offset_pattern (r.buf[i], 64 * KiB, i * 64 * KiB), -1);
  }
  nbd_close (h);
  for (int i = 0; i < N; i++)
    CHECK_INT (r.d[i].frees, 1);

  /* with nothing in flight; flags are refused */
  h = open_nbdkit ("memory", "1M");
  CHECK_FAIL (nbd_aio_disconnect (h, LIBNBD_CMD_FLAG_FUA), EINVAL, "nbd_aio_disconnect");
  CHECK_OK (nbd_aio_disconnect (h, 0));
  CHECK_FAIL (nbd_aio_pread (h, buf, 512, 0, NBD_NULL_COMPLETION, 0), EINVAL,
              "nbd_aio_pread");
  for (int i = 0; i < 100 && !nbd_aio_is_closed (h) && !nbd_aio_is_dead (h); i++)
    CHECK (nbd_poll (h, 1000) != -1);
  CHECK_INT (nbd_aio_is_closed (h), 1);
  nbd_close (h);
}

/* nbd_close with commands in flight, no shutdown first */
static void
t_close (void)
{
  struct nbd_handle *h = open_nbdkit ("--filter=delay", "pattern", "1M", "rdelay=10");
  static struct reads r;
  double t0;

  issue_reads (h, &r);
  t0 = now_s ();
  nbd_close (h);
  CHECK (now_s () - t0 < 5);
  for (int i = 0; i < N; i++) {
    CHECK (r.d[i].calls <= 1);
    CHECK_INT (r.d[i].frees, 1);
    if (i % 2)
      CHECK_INT (r.c[i].frees, 1);
  }
}

/* Completion callbacks that react to their failure by issuing more
 * commands while nbd_close is failing the commands in flight: refused
 * or accepted, nothing may crash, and every .free runs once. */
struct reissue {
  struct nbd_handle *h;
  int calls, frees, reissued, refused, re_frees;
  char buf[4096];
};

static void
reissue_free (void *user_data)
{
  ((struct reissue *) user_data)->re_frees++;
}

static int
reissue_done (void *user_data, int *error)
{
  struct reissue *r = user_data;
  r->calls++;
  if (*error) {
    int64_t ck = nbd_aio_pread (r->h, r->buf, sizeof r->buf, 0,
                                (nbd_completion_callback) { .callback = NULL,
                                                            .user_data = r,
                                                            .free = reissue_free }, 0);
    if (ck > 0)
      r->reissued++;
    else
      r->refused++;
  }
  return 1;
}

static void
reissue_main_free (void *user_data)
{
  ((struct reissue *) user_data)->frees++;
}

static void
t_close_reissue (void)
{
  struct nbd_handle *h = open_fakesrv (MODE_STRUCTURED, "--fault", "hang");
  static struct reissue r[N];
  double t0;

  for (int i = 0; i < N; i++) {
    r[i] = (struct reissue) { .h = h };
    CHECK (nbd_aio_pread (h, r[i].buf, sizeof r[i].buf, 0,
                          (nbd_completion_callback) { .callback = reissue_done,
                                                      .user_data = &r[i],
                                                      .free = reissue_main_free },
                          0) > 0);
  }
  CHECK_INT (nbd_poll (h, 200), 0);
  t0 = now_s ();
  nbd_close (h);
  CHECK (now_s () - t0 < 5);
  for (int i = 0; i < N; i++) {
    CHECK (r[i].calls <= 1);
    CHECK_INT (r[i].frees, 1);
    /* whatever was issued from the callback was freed too */
    CHECK_INT (r[i].re_frees, r[i].reissued + r[i].refused);
  }
  printf ("close-reissue: callbacks %d, reissued %d, refused %d\n", r[0].calls,
          r[0].reissued, r[0].refused);
}

int
main (int argc, char *argv[])
{
  const char *only = argc > 1 ? argv[1] : NULL;

  require_nbdkit ();
  require_fakesrv ();
  watchdog ("shutdown", 110);
#define RUN(name) if (!only || strcmp (only, #name) == 0) t_##name ()
  RUN (shutdown_waits);
  RUN (shutdown_abandon);
  RUN (disconnect);
  RUN (close);
  RUN (close_reissue);
  return test_exit ();
}
