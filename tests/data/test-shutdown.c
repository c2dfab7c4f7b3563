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

/* As in libnbd, nbd_shutdown sends NBD_CMD_DISC behind the commands
 * already queued without waiting for their replies first, then reads
 * on until the server closes: a server answering in order has answered
 * them all by then. */
static void
t_shutdown_waits (void)
{
  struct nbd_handle *h = open_fakesrv (MODE_STRUCTURED, "--pattern");
  static struct reads r;

  issue_reads (h, &r);
  CHECK_OK (nbd_shutdown (h, 0));
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


/* ---- the connection's end, as libnbd has it ---- */

static int
completion_count (struct done *d, int calls, int frees)
{
  return d->calls == calls && d->frees == frees;
}

static int
list_ignore (void *user_data, const char *name, const char *description)
{
  (void) user_data; (void) name; (void) description;
  return 0;
}

/* nbd_close with options or commands in flight runs no completion
 * callback: each closure only gets its .free, once. */
static void
t_close_frees_only (void)
{
  struct nbd_handle *h;
  static struct done d[N];
  static struct chunks ch[N];
  static char buf[N][4096];

  h = open_fakesrv (MODE_STRUCTURED, "--fault", "hang");
  for (int i = 0; i < N; i++) {
    d[i] = (struct done) { .ret = 0 };
    ch[i] = (struct chunks) { .ret = 0 };
    CHECK (nbd_aio_pread_structured (h, buf[i], sizeof buf[i], 0,
                                     chunk_closure (&ch[i], buf[i], sizeof buf[i], 0),
                                     done_closure (&d[i]), 0) > 0);
  }
  CHECK_INT (nbd_poll (h, 200), 0);
  nbd_close (h);
  for (int i = 0; i < N; i++) {
    CHECK_INT (d[i].calls, 0);
    CHECK_INT (d[i].frees, 1);
    CHECK_INT (ch[i].frees, 1);
  }

  /* an option in flight */
  h = test_create ();
  nbd_set_opt_mode (h, true);
  nbd_set_request_structured_replies (h, false);
  must_connect (h, (char *[]) { (char *) python_path (), (char *) fakesrv_path (),
                                "--fault", "rep-hang", NULL });
  d[0] = d[1] = (struct done) { .ret = 0 };
  CHECK_OK (nbd_aio_opt_list (h, (nbd_list_callback) { .callback = list_ignore,
                                                       .user_data = &d[1],
                                                       .free = done_free },
                              done_closure (&d[0])));
  CHECK_INT (nbd_poll (h, 200), 0);
  nbd_close (h);
  CHECK (completion_count (&d[0], 0, 1));
  CHECK_INT (d[1].frees, 1);
}

/* nbd_close and nbd_shutdown from the handle's own callbacks: shutdown
 * fails with EDEADLK, close is ignored; nothing is freed twice. */
struct reentry {
  struct nbd_handle *h;
  int calls, frees, shutdown_ret, shutdown_errno;
};

static int
reentry_done (void *user_data, int *error)
{
  struct reentry *r = user_data;
  (void) error;
  r->calls++;
  r->shutdown_ret = nbd_shutdown (r->h, 0);
  r->shutdown_errno = nbd_get_errno ();
  nbd_close (r->h);
  return 1;
}

static void
reentry_free (void *user_data)
{
  struct reentry *r = user_data;
  r->frees++;
  nbd_close (r->h);
  CHECK (nbd_shutdown (r->h, 0) == -1);
}

static void
t_close_from_callback (void)
{
  struct nbd_handle *h = open_fakesrv (MODE_STRUCTURED, "--pattern");
  static struct reentry r[1];
  static char buf[1][4096];

  r[0] = (struct reentry) { .h = h };
  /* a completion that runs: it tries both, then retires */
  CHECK (nbd_aio_pread (h, buf[0], sizeof buf[0], 0,
                        (nbd_completion_callback) { .callback = reentry_done,
                                                    .user_data = &r[0],
                                                    .free = reentry_free }, 0) > 0);
  for (int i = 0; i < 100 && r[0].calls == 0; i++)
    CHECK (nbd_poll (h, 1000) != -1);
  CHECK_INT (r[0].calls, 1);
  CHECK_INT (r[0].shutdown_ret, -1);
  CHECK_INT (r[0].shutdown_errno, EDEADLK);
  CHECK_INT (r[0].frees, 1);
  CHECK_INT (nbd_aio_is_ready (h), 1);
  nbd_close (h);
}

/* Closures that only close the handle, on a command still in flight
 * when nbd_close runs: the nested nbd_close must not free the handle
 * under the outer one (under ASan a use after free aborts). */
static int
close_done (void *user_data, int *error)
{
  struct reentry *r = user_data;
  (void) error;
  r->calls++;
  nbd_close (r->h);
  return 1;
}

static void
close_free (void *user_data)
{
  struct reentry *r = user_data;
  r->frees++;
  nbd_close (r->h);
}

static void
t_close_nested (void)
{
  struct nbd_handle *h = open_fakesrv (MODE_STRUCTURED, "--fault", "hang");
  static struct reentry r;
  static char buf[4096];

  r = (struct reentry) { .h = h };
  CHECK (nbd_aio_pread (h, buf, sizeof buf, 0,
                        (nbd_completion_callback) { .callback = close_done,
                                                    .user_data = &r,
                                                    .free = close_free }, 0) > 0);
  CHECK_INT (nbd_poll (h, 200), 0);
  nbd_close (h);
  CHECK_INT (r.calls, 0);
  CHECK_INT (r.frees, 1);
}

/* A .free run by nbd_close itself, calling nbd_close and nbd_shutdown:
 * under ASan a use of the freed handle aborts. */
static void
t_close_from_free (void)
{
  struct nbd_handle *h = open_fakesrv (MODE_STRUCTURED, "--fault", "hang");
  static struct reentry r;
  static char buf[4096];

  r = (struct reentry) { .h = h };
  CHECK (nbd_aio_pread (h, buf, sizeof buf, 0,
                        (nbd_completion_callback) { .callback = reentry_done,
                                                    .user_data = &r,
                                                    .free = reentry_free }, 0) > 0);
  CHECK_INT (nbd_poll (h, 200), 0);
  nbd_close (h);
  CHECK_INT (r.calls, 0);
  CHECK_INT (r.frees, 1);
}

/* The commands a dead connection strands complete with ENOTCONN; the
 * call that saw it die reports the cause. */
static void
t_stranded_enotconn (void)
{
  struct nbd_handle *h;
  static struct reads r;
  static char buf[512];

  /* shutdown with abandon against a server that answers nothing: the
   * commands sent wait for the server's close, then fail ENOTCONN */
  h = open_fakesrv (MODE_STRUCTURED, "--fault", "hang");
  issue_reads (h, &r);
  CHECK_INT (nbd_poll (h, 200), 0);
  CHECK_OK (nbd_shutdown (h, LIBNBD_SHUTDOWN_ABANDON_PENDING));
  CHECK_INT (nbd_aio_is_closed (h), 1);
  for (int i = 0; i < N; i++) {
    CHECK_INT (r.d[i].calls, 1);
    CHECK_INT (r.d[i].error, ENOTCONN);
  }
  nbd_close (h);

  /* the server dies: commands in flight ENOTCONN, the sync call the
   * death interrupted gets the death's own error */
  h = open_nbdkit ("--filter=delay", "pattern", "1M", "rdelay=5");
  issue_reads (h, &r);
  CHECK_OK (nbd_kill_subprocess (h, SIGKILL));
  CHECK (nbd_pread (h, buf, sizeof buf, 0, 0) == -1);
  CHECK (nbd_get_errno () != ENOTCONN && nbd_get_errno () != 0);
  CHECK_INT (nbd_aio_is_dead (h), 1);
  for (int i = 0; i < N; i++) {
    CHECK_INT (r.d[i].calls, 1);
    CHECK_INT (r.d[i].error, ENOTCONN);
    CHECK_INT (nbd_aio_command_completed (h, r.ck[i]), -1);
    CHECK_INT (nbd_get_errno (), ENOTCONN);
  }
  nbd_close (h);
}

/* nbd_opt_abort and nbd_shutdown while negotiating never wait for the
 * server; without fixed newstyle nothing is sent and the handle dies. */
static struct nbd_handle *
negotiating (const char *extra)
{
  struct nbd_handle *h = test_create ();

  nbd_set_opt_mode (h, true);
  nbd_set_request_structured_replies (h, false);
  must_connect (h, (char *[]) { (char *) python_path (), (char *) fakesrv_path (),
                                (char *) extra, "--log", "shutdown-abort.log", NULL });
  CHECK_INT (nbd_aio_is_negotiating (h), 1);
  return h;
}

static void
t_abort_no_wait (void)
{
  struct nbd_handle *h;
  double t0;
  FILE *f;
  char line[256];
  bool sent = false;

  h = negotiating ("--fault=rep-hang");
  t0 = now_s ();
  CHECK_OK (nbd_opt_abort (h));
  CHECK (now_s () - t0 < 2);
  CHECK_INT (nbd_aio_is_closed (h), 1);
  nbd_close (h);

  h = negotiating ("--fault=rep-hang");
  CHECK_OK (nbd_aio_opt_abort (h));
  CHECK_INT (nbd_aio_is_closed (h), 1);
  CHECK_INT (nbd_aio_get_direction (h), 0);
  nbd_close (h);

  h = negotiating ("--fault=rep-hang");
  t0 = now_s ();
  CHECK_OK (nbd_shutdown (h, 0));
  CHECK (now_s () - t0 < 2);
  CHECK_INT (nbd_aio_is_closed (h), 1);
  nbd_close (h);

  unlink ("shutdown-abort.log");
  h = negotiating ("--no-fixed");
  CHECK_OK (nbd_opt_abort (h));
  CHECK_INT (nbd_aio_is_dead (h), 1);
  nbd_close (h);
  f = fopen ("shutdown-abort.log", "r");
  CHECK (f != NULL);
  while (f && fgets (line, sizeof line, f))
    if (strstr (line, "OPT ABORT"))
      sent = true;
  if (f)
    fclose (f);
  CHECK (!sent);
  unlink ("shutdown-abort.log");
}

/* A server started by nbd_connect_command that takes its time to exit
 * (here: a shell holding the socket, which then writes a marker) is
 * waited for, never killed. */
static void
t_subprocess_exit (void)
{
  struct nbd_handle *h = test_create ();
  double t0;

  unlink ("shutdown-marker");
  must_connect (h, (char *[]) { "sh", "-c",
                                "nbdkit -s memory 1M; sleep 3; echo ok > shutdown-marker",
                                NULL });
  t0 = now_s ();
  CHECK_OK (nbd_shutdown (h, 0));
  CHECK (now_s () - t0 >= 2.5);         /* until the server's end closed */
  nbd_close (h);
  CHECK (access ("shutdown-marker", F_OK) == 0);
  unlink ("shutdown-marker");

  h = test_create ();
  must_connect (h, (char *[]) { "sh", "-c",
                                "nbdkit -s memory 1M; sleep 3; echo ok > shutdown-marker",
                                NULL });
  nbd_close (h);
  CHECK (access ("shutdown-marker", F_OK) == 0);
  unlink ("shutdown-marker");
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
  RUN (close_frees_only);
  RUN (close_from_callback);
  RUN (close_from_free);
  RUN (close_nested);
  RUN (stranded_enotconn);
  RUN (abort_no_wait);
  RUN (subprocess_exit);
  return test_exit ();
}
