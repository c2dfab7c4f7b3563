/* Calls made from inside callbacks on the same handle (beyond libnbd,
 * which forbids them all):
 *  - aio calls work: a pipeline of depth 8 keeps 1000 reads going
 *    entirely from completion callbacks, with no deadlock;
 *  - calls that would wait for the server (sync commands, nbd_poll,
 *    nbd_shutdown, notify) fail at once with EDEADLK and a clear message;
 *  - the outer call's error still names the outer call.
 *
 * argv[1] selects one part: pipeline-nbdkit, pipeline-fakesrv,
 * pipeline-extended, pipeline-sync, edeadlk, error-context. */
#include "callbacks.h"

#define DEPTH 8
#define TOTAL 1000
#define MAXREAD (128 * KiB)
#define DISK (64 * MiB)

struct pipeline {
  struct nbd_handle *h;
  uint64_t rng;
  int issued, completed, failed, bad_data, issue_errors, frees;
  int max_in_flight, bad_in_flight;
  int limit;                    /* in flight allowed: DEPTH, +1 when a sync
                                   call drives the handle */
  struct slot {
    struct pipeline *p;
    uint8_t *buf;
    uint64_t offset;
    size_t count;
    struct chunks c;
  } slot[DEPTH];
};

static int pipe_done (void *user_data, int *error);

static void
pipe_free (void *user_data)
{
  ((struct slot *) user_data)->p->frees++;
}

/* Issue the next read into slot s (from main or from a callback). */
static void
pipe_issue (struct slot *s)
{
  struct pipeline *p = s->p;
  nbd_completion_callback cb = { .callback = pipe_done, .user_data = s,
                                 .free = pipe_free };
  int64_t ck;
  int n;

  s->count = 1 + rng_next (&p->rng) % MAXREAD;
  s->offset = rng_next (&p->rng) % (DISK - s->count);
  memset (s->buf, 0xAA, s->count);
  if (p->issued % 2) {
    s->c = (struct chunks) { .ret = 0 };
    ck = nbd_aio_pread_structured (p->h, s->buf, s->count, s->offset,
                                   (nbd_chunk_callback) { .callback = chunk_cb,
                                                          .user_data = &s->c },
                                   cb, 0);
  }
  else
    ck = nbd_aio_pread (p->h, s->buf, s->count, s->offset, cb, 0);
  if (ck <= 0) {
    p->issue_errors++;
    fprintf (stderr, "issue from callback failed: %s\n", nbd_get_error ());
    return;
  }
  p->issued++;
  n = nbd_aio_in_flight (p->h);
  if (n > p->max_in_flight)
    p->max_in_flight = n;
  if (n < 1 || n > p->limit) {
    if (p->bad_in_flight++ < 5)
      fprintf (stderr, "nbd_aio_in_flight is %d after issuing read %d "
               "(completed %d)\n", n, p->issued, p->completed);
  }
}

static int
pipe_done (void *user_data, int *error)
{
  struct slot *s = user_data;
  struct pipeline *p = s->p;

  p->completed++;
  if (*error) {
    p->failed++;
    fprintf (stderr, "read %d failed: %s\n", p->completed, strerror (*error));
  }
  else if (check_offset_pattern (s->buf, s->count, s->offset) != -1)
    p->bad_data++;
  if (p->issued < TOTAL && !*error)
    pipe_issue (s);
  return 1;
}

/* drive: 0 = nbd_poll, 1 = sync calls on the same handle, 2 = the
 * program's own poll loop (get_fd, get_direction, notify_read/write) */
static void
run_pipeline (struct nbd_handle *h, const char *what, int drive)
{
  static struct pipeline p;
  double t0 = now_s ();
  static uint8_t small[512];

  memset (&p, 0, sizeof p);
  p.h = h;
  p.rng = 42;
  p.limit = DEPTH + (drive == 1);
  for (int i = 0; i < DEPTH; i++) {
    p.slot[i].p = &p;
    p.slot[i].buf = guarded_alloc (MAXREAD, 0xAA);
    pipe_issue (&p.slot[i]);
  }
  CHECK_INT (p.issued, DEPTH);
  while (p.completed < TOTAL && p.failed == 0 && p.issue_errors == 0) {
    int r;
    if (drive == 0)
      r = nbd_poll (h, -1);
    else if (drive == 1)
      r = nbd_pread (h, small, sizeof small, 4096, 0);
    else {
      /* the program's own event loop */
      struct pollfd pfd = { .fd = nbd_aio_get_fd (h) };
      unsigned dir = nbd_aio_get_direction (h);
      pfd.events = ((dir & LIBNBD_AIO_DIRECTION_READ) ? POLLIN : 0)
                   | ((dir & LIBNBD_AIO_DIRECTION_WRITE) ? POLLOUT : 0);
      r = poll (&pfd, 1, 10000);
      if (r == 0) {
        test_count ();
        test_report (__FILE__, __LINE__, "%s: no progress for 10 s (direction %u, "
                     "%d in flight)", what, dir, nbd_aio_in_flight (h));
        break;
      }
      if (r > 0 && (pfd.revents & (POLLIN | POLLHUP | POLLERR)))
        r = nbd_aio_notify_read (h);
      if (r >= 0 && (pfd.revents & POLLOUT)
          && (nbd_aio_get_direction (h) & LIBNBD_AIO_DIRECTION_WRITE))
        r = nbd_aio_notify_write (h);
    }
    if (r == -1) {
      test_count ();
      test_report (__FILE__, __LINE__, "%s: driving the handle failed", what);
      break;
    }
  }
  printf ("%s: %d reads issued, %d completed in %.2f s, max in flight %d\n",
          what, p.issued, p.completed, now_s () - t0, p.max_in_flight);
  CHECK_INT (p.issued, TOTAL);
  CHECK_INT (p.completed, TOTAL);
  CHECK_INT (p.failed, 0);
  CHECK_INT (p.bad_data, 0);
  CHECK_INT (p.issue_errors, 0);
  CHECK_INT (p.bad_in_flight, 0);
  CHECK (p.max_in_flight >= DEPTH && p.max_in_flight <= p.limit);
  CHECK_INT (p.frees, TOTAL);
  CHECK_INT (nbd_aio_in_flight (h), 0);
  CHECK_INT (nbd_aio_peek_command_completed (h), -1);
  for (int i = 0; i < DEPTH; i++) {
    CHECK (guards_intact (p.slot[i].buf, MAXREAD));
    guarded_free (p.slot[i].buf);
  }
}

static void
t_pipeline (const char *server)
{
  struct nbd_handle *h;

  watchdog ("the callback pipeline", 100);
  if (strcmp (server, "nbdkit") == 0)
    h = open_nbdkit ("pattern", "64M");
  else
    h = open_fakesrv (strcmp (server, "extended") == 0 ? MODE_EXTENDED : MODE_STRUCTURED,
                      "--pattern", "--export", "::64M");
  run_pipeline (h, server, 0);
  CHECK_OK (nbd_shutdown (h, 0));
  nbd_close (h);
}

static void
t_pipeline_loop (void)
{
  struct nbd_handle *h = open_nbdkit ("pattern", "64M");

  watchdog ("the callback pipeline driven by an external loop", 100);
  run_pipeline (h, "nbdkit, own event loop", 2);
  nbd_close (h);
}

static void
t_pipeline_sync (void)
{
  struct nbd_handle *h = open_nbdkit ("pattern", "64M");

  watchdog ("the callback pipeline driven by sync calls", 100);
  run_pipeline (h, "nbdkit, driven by nbd_pread", 1);
  nbd_close (h);
}

/* ---- EDEADLK ---- */

struct nested {
  struct nbd_handle *h, *other;
  int runs;
  int fails, wrong_errno, bad_msg, slow;
  int other_ok;
  char msg[256];
};

/* Each call must fail at once with EDEADLK and a message naming it. */
#define MUST_DEADLK(n, expr, fn)                                        \
  do {                                                                  \
    double t_ = now_s ();                                               \
    int64_t r_ = (expr);                                                \
    if (now_s () - t_ > 1)                                              \
      (n)->slow++;                                                      \
    if (r_ != -1)                                                       \
      (n)->fails++;                                                     \
    else {                                                              \
      if (nbd_get_errno () != EDEADLK)                                  \
        (n)->wrong_errno++;                                             \
      if (!test_starts_with (nbd_get_error (), fn ": "))                \
        (n)->bad_msg++;                                                 \
      snprintf ((n)->msg, sizeof (n)->msg, "%s", nbd_get_error ());     \
    }                                                                   \
  } while (0)

static void
try_blocking_calls (struct nested *n)
{
  static char b[512];
  struct extents e = { .n = 0 };

  n->runs++;
  MUST_DEADLK (n, nbd_pread (n->h, b, 512, 0, 0), "nbd_pread");
  MUST_DEADLK (n, nbd_pwrite (n->h, b, 512, 0, 0), "nbd_pwrite");
  MUST_DEADLK (n, nbd_flush (n->h, 0), "nbd_flush");
  MUST_DEADLK (n, nbd_block_status (n->h, 512, 0, extent32_closure (&e), 0),
               "nbd_block_status");
  MUST_DEADLK (n, nbd_poll (n->h, 0), "nbd_poll");
  MUST_DEADLK (n, nbd_poll (n->h, -1), "nbd_poll");
  MUST_DEADLK (n, nbd_poll2 (n->h, -1, 100), "nbd_poll2");
  MUST_DEADLK (n, nbd_aio_notify_read (n->h), "nbd_aio_notify_read");
  MUST_DEADLK (n, nbd_aio_notify_write (n->h), "nbd_aio_notify_write");
  MUST_DEADLK (n, nbd_shutdown (n->h, 0), "nbd_shutdown");
  /* nbd_close returns nothing: it must leave the handle alone and say
   * why through the error */
  nbd_close (n->h);
  if (nbd_get_errno () != EDEADLK)
    n->wrong_errno++;
  /* the same calls on another handle work */
  if (n->other && nbd_pread (n->other, b, 512, 0, 0) == 0)
    n->other_ok++;
}

static int
nested_done (void *user_data, int *error)
{
  (void) error;
  try_blocking_calls (user_data);
  return 1;
}

static int
nested_chunk (void *user_data, const void *subbuf, size_t count, uint64_t offset,
              unsigned status, int *error)
{
  (void) subbuf; (void) count; (void) offset; (void) status; (void) error;
  try_blocking_calls (user_data);
  return 0;
}

static int
nested_extent (void *user_data, const char *metacontext, uint64_t offset,
               uint32_t *entries, size_t nr_entries, int *error)
{
  (void) metacontext; (void) offset; (void) entries; (void) nr_entries; (void) error;
  try_blocking_calls (user_data);
  return 0;
}

static void
check_nested (struct nested *n, int runs, const char *where)
{
  test_count ();
  if (n->runs != runs || n->fails || n->wrong_errno || n->bad_msg || n->slow
      || (n->other && n->other_ok != runs))
    test_report (__FILE__, __LINE__, "%s: runs %d, not refused %d, wrong errno %d, "
                 "bad message %d, slow %d, other handle ok %d; last message \"%s\"",
                 where, n->runs, n->fails, n->wrong_errno, n->bad_msg, n->slow,
                 n->other_ok, n->msg);
  else
    printf ("%s: refused as expected: %s\n", where, n->msg);
}

static void
t_edeadlk (void)
{
  struct nbd_handle *h = open_nbdkit ("memory", "1M");
  struct nbd_handle *other = open_nbdkit ("memory", "1M");
  static char buf[4096];
  struct nested n = { .h = h, .other = other };
  int64_t ck;

  watchdog ("blocking calls from callbacks", 60);
  /* completion callback, driven by nbd_poll */
  ck = nbd_aio_pread (h, buf, 4096, 0,
                      (nbd_completion_callback) { .callback = nested_done, .user_data = &n },
                      0);
  CHECK (ck > 0);
  CHECK_OK (drain (h));
  check_nested (&n, 1, "completion callback");

  /* completion callback of a command completed inside a sync call */
  memset (&n, 0, sizeof n);
  n.h = h;
  ck = nbd_aio_flush (h, (nbd_completion_callback) { .callback = nested_done,
                                                     .user_data = &n }, 0);
  CHECK_OK (nbd_pread (h, buf, 4096, 0, 0));
  CHECK_OK (drain (h));
  check_nested (&n, 1, "completion callback inside nbd_pread");

  /* chunk callback of a sync read: the read itself succeeds */
  memset (&n, 0, sizeof n);
  n.h = h;
  CHECK_OK (nbd_pread_structured (h, buf, 4096, 0,
                                  (nbd_chunk_callback) { .callback = nested_chunk,
                                                         .user_data = &n }, 0));
  check_nested (&n, 1, "chunk callback");

  /* extent callback */
  memset (&n, 0, sizeof n);
  n.h = h;
  CHECK_OK (nbd_block_status (h, 4096, 0,
                              (nbd_extent_callback) { .callback = nested_extent,
                                                      .user_data = &n }, 0));
  check_nested (&n, 1, "extent callback");

  /* the handle is fine afterwards */
  CHECK_INT (nbd_aio_is_ready (h), 1);
  CHECK_OK (nbd_pwrite (h, buf, 4096, 0, 0));
  CHECK_OK (nbd_shutdown (h, 0));
  nbd_close (h);
  nbd_close (other);
}

/* ---- the outer call's error after calls from a callback ---- */

static int
poll_nested_done (void *user_data, int *error)
{
  struct nbd_handle *h = user_data;
  (void) error;
  /* any call on the handle from inside the callback */
  (void) nbd_poll (h, 0);
  (void) nbd_aio_in_flight (h);
  return 1;
}

static int
failing_nested_done (void *user_data, int *error)
{
  struct nbd_handle *h = user_data;
  static char b[512];
  (void) error;
  /* a program refilling its pipeline on a dead handle */
  (void) nbd_aio_pread (h, b, 512, 0, NBD_NULL_COMPLETION, 0);
  return 1;
}

static void
t_error_context (void)
{
  struct nbd_handle *h;
  static char buf[4096];

  /* fakesrv fails the 2nd command with EIO.  The 1st, an aio read, is
   * completed inside the sync nbd_pread, and its callback calls into the
   * handle; nbd_pread's error must still name nbd_pread. */
  h = open_fakesrv (MODE_STRUCTURED, "--pattern", "--fault", "error-reply", "--fault-at", "2");
  CHECK (nbd_aio_pread (h, buf, 512, 0, (nbd_completion_callback) {
           .callback = poll_nested_done, .user_data = h }, 0) > 0);
  CHECK_FAIL (nbd_pread (h, buf, 4096, 0, 0), EIO, "nbd_pread");
  nbd_close (h);

  /* the server breaks the protocol: nbd_poll fails, after completion
   * callbacks that tried to issue more reads */
  h = open_fakesrv (MODE_STRUCTURED, "--pattern", "--fault", "bad-magic");
  for (int i = 0; i < 4; i++)
    CHECK (nbd_aio_pread (h, buf, 512, 0, (nbd_completion_callback) {
             .callback = failing_nested_done, .user_data = h }, 0) > 0);
  {
    int r = 0;
    while (r != -1 && nbd_aio_in_flight (h) > 0)
      r = nbd_poll (h, -1);
    CHECK_INT (r, -1);
    test_count ();
    if (!test_starts_with (nbd_get_error (), "nbd_poll: "))
      test_report (__FILE__, __LINE__, "nbd_poll's error is \"%s\"", nbd_get_error ());
  }
  CHECK_INT (nbd_aio_is_dead (h), 1);
  nbd_close (h);
}

int
main (int argc, char *argv[])
{
  const char *only = argc > 1 ? argv[1] : NULL;

  require_nbdkit ();
  require_fakesrv ();
#define RUN(name, call) if (!only || strcmp (only, name) == 0) call
  RUN ("pipeline-nbdkit", t_pipeline ("nbdkit"));
  RUN ("pipeline-fakesrv", t_pipeline ("structured"));
  RUN ("pipeline-extended", t_pipeline ("extended"));
  RUN ("pipeline-sync", t_pipeline_sync ());
  RUN ("pipeline-loop", t_pipeline_loop ());
  RUN ("edeadlk", t_edeadlk ());
  RUN ("error-context", t_error_context ());
  return test_exit ();
}
