/* Completion bookkeeping: cookies, nbd_aio_command_completed,
 * nbd_aio_peek_command_completed, nbd_aio_in_flight, completion callbacks
 * (return value, *error), callback lifetimes (.free once, in libnbd's
 * order) and the statistics counters.
 *
 * argv[1] selects one part (cookies, lifecycle, retire, error, lifetimes,
 * stats); without it every part runs. */
#include "callbacks.h"

/* nbdkit memory whose reads take 1 s, so that they stay in flight. */
static struct nbd_handle *
open_slow (void)
{
  return open_nbdkit ("--filter=delay", "memory", "1M", "rdelay=1");
}

static void
t_cookies (void)
{
  struct nbd_handle *h = open_nbdkit ("memory", "1M"), *h2;
  static char buf[64 * KiB];
  int64_t ck[12], prev = 0;
  int n = 0;
  struct extents e = { .n = 0 };

  ck[n++] = nbd_aio_pwrite (h, buf, 4096, 0, NBD_NULL_COMPLETION, 0);
  ck[n++] = nbd_aio_pread (h, buf, 4096, 0, NBD_NULL_COMPLETION, 0);
  ck[n++] = nbd_aio_pread_structured (h, buf, 4096, 0, (nbd_chunk_callback) { .callback = chunk_cb, .user_data = &(struct chunks) { .ret = 0 } },
                                      NBD_NULL_COMPLETION, 0);
  ck[n++] = nbd_aio_flush (h, NBD_NULL_COMPLETION, 0);
  ck[n++] = nbd_aio_trim (h, 4096, 0, NBD_NULL_COMPLETION, 0);
  ck[n++] = nbd_aio_cache (h, 4096, 0, NBD_NULL_COMPLETION, 0);
  ck[n++] = nbd_aio_zero (h, 4096, 0, NBD_NULL_COMPLETION, 0);
  ck[n++] = nbd_aio_block_status (h, 4096, 0, extent32_closure (&e), NBD_NULL_COMPLETION, 0);
#ifdef LIBNBD_HAVE_NBD_AIO_BLOCK_STATUS_64
  ck[n++] = nbd_aio_block_status_64 (h, 4096, 0, extent64_closure (&e),
                                     NBD_NULL_COMPLETION, 0);
#endif
  CHECK_OK (nbd_pread (h, buf, 4096, 0, 0));  /* a sync call in between */
  ck[n++] = nbd_aio_pread (h, buf, 4096, 0, NBD_NULL_COMPLETION, 0);
  for (int i = 0; i < n; i++) {
    test_count ();
    if (ck[i] <= prev)
      test_report (__FILE__, __LINE__, "cookie %d is %" PRId64 ", previous %" PRId64,
                   i, ck[i], prev);
    prev = ck[i];
  }
  CHECK_OK (drain (h));
  for (int i = 0; i < n; i++)
    CHECK_INT (nbd_aio_command_completed (h, ck[i]), 1);

  /* every handle has its own cookies, positive too */
  h2 = open_nbdkit ("memory", "1M");
  CHECK (nbd_aio_pread (h2, buf, 512, 0, NBD_NULL_COMPLETION, 0) > 0);
  CHECK_OK (drain (h2));
  nbd_close (h2);
  nbd_close (h);
}

static void
t_lifecycle (void)
{
  struct nbd_handle *h = open_slow ();
  static char buf[16][4096];
  int64_t ck, cks[16], peek;
  int seen = 0;

  CHECK_INT (nbd_aio_in_flight (h), 0);
  CHECK_FAIL (nbd_aio_peek_command_completed (h), EINVAL,
              "nbd_aio_peek_command_completed");

  ck = nbd_aio_pread (h, buf[0], 4096, 0, NBD_NULL_COMPLETION, 0);
  CHECK (ck > 0);
  CHECK_INT (nbd_aio_command_completed (h, ck), 0);
  CHECK_INT (nbd_aio_in_flight (h), 1);
  CHECK_INT (nbd_aio_peek_command_completed (h), 0);
  CHECK_OK (drain (h));
  CHECK_INT (nbd_aio_in_flight (h), 0);
  CHECK_INT (nbd_aio_is_ready (h), 1);
  CHECK_INT (nbd_aio_peek_command_completed (h), ck);
  CHECK_INT (nbd_aio_command_completed (h, ck), 1);
  CHECK_INT (nbd_aio_command_completed (h, ck), 0);
  CHECK_FAIL (nbd_aio_peek_command_completed (h), EINVAL,
              "nbd_aio_peek_command_completed");

  /* 16 in flight: the count goes down only as replies complete; done
   * but unretired commands are not in flight; peek finds each */
  for (int i = 0; i < 16; i++)
    cks[i] = nbd_aio_pread (h, buf[i], 4096, i * 4096, NBD_NULL_COMPLETION, 0);
  CHECK_INT (nbd_aio_in_flight (h), 16);
  CHECK_OK (drain (h));
  CHECK_INT (nbd_aio_in_flight (h), 0);
  while ((peek = nbd_aio_peek_command_completed (h)) > 0) {
    bool ours = false;
    for (int i = 0; i < 16; i++)
      ours |= cks[i] == peek;
    CHECK (ours);
    CHECK_INT (nbd_aio_command_completed (h, peek), 1);
    seen++;
  }
  CHECK_INT (seen, 16);

  /* unknown cookies: 0 is invalid, the others read as in flight (as
   * libnbd answers) */
  CHECK_FAIL (nbd_aio_command_completed (h, 0), EINVAL, "nbd_aio_command_completed");
  CHECK_INT (nbd_aio_command_completed (h, 1000000), 0);
  CHECK_INT (nbd_aio_command_completed (h, UINT64_MAX), 0);
  /* ... also while something else is in flight */
  ck = nbd_aio_pread (h, buf[0], 4096, 0, NBD_NULL_COMPLETION, 0);
  CHECK_INT (nbd_aio_command_completed (h, ck + 1000), 0);
  CHECK_OK (drain (h));
  CHECK_INT (nbd_aio_command_completed (h, ck), 1);
  nbd_close (h);
}

/* Retirement by the completion callback, and already-retired cookies,
 * with another command still in flight (fakesrv never answers the 3rd
 * command). */
static void
t_retire (void)
{
  struct nbd_handle *h = open_fakesrv (MODE_STRUCTURED, "--fault", "hang", "--fault-at", "3");
  static char buf[3][4096];
  struct done d1 = { .ret = 1 }, d2 = { .ret = 0 }, d3 = { .ret = 1 };
  int64_t c1, c2, c3, csync;

  c1 = nbd_aio_pread (h, buf[0], 4096, 0, done_closure (&d1), 0);
  c2 = nbd_aio_pread (h, buf[1], 4096, 0, done_closure (&d2), 0);
  c3 = nbd_aio_pread (h, buf[2], 4096, 0, done_closure (&d3), 0);
  CHECK (c1 > 0 && c2 > c1 && c3 > c2);
  for (int i = 0; i < 100 && (d1.calls == 0 || d2.calls == 0); i++)
    CHECK (nbd_poll (h, 100) != -1);
  CHECK_INT (d1.calls, 1);
  CHECK_INT (d2.calls, 1);
  CHECK_INT (d3.calls, 0);
  CHECK_INT (nbd_aio_in_flight (h), 1);
  /* returned 1: retired, .free ran; the cookie now reads as in flight (0), as in libnbd */
  CHECK_INT (d1.frees, 1);
  CHECK_INT (nbd_aio_command_completed (h, c1), 0);
  /* returned 0: waits for nbd_aio_command_completed, .free not yet */
  CHECK_INT (d2.frees, 0);
  CHECK_INT (nbd_aio_peek_command_completed (h), c2);
  CHECK_INT (nbd_aio_command_completed (h, c2), 1);
  CHECK_INT (d2.frees, 1);
  CHECK_INT (nbd_aio_command_completed (h, c2), 0);
  /* still in flight */
  CHECK_INT (nbd_aio_command_completed (h, c3), 0);
  CHECK_INT (nbd_aio_peek_command_completed (h), 0);
  nbd_close (h);
  CHECK (d3.calls <= 1);
  CHECK_INT (d3.frees, 1);

  /* the same with nothing else in flight */
  h = open_nbdkit ("memory", "1M");
  d1 = (struct done) { .ret = 1 };
  c1 = nbd_aio_pread (h, buf[0], 4096, 0, done_closure (&d1), 0);
  CHECK_OK (drain (h));
  CHECK_INT (d1.calls, 1);
  CHECK_INT (d1.frees, 1);
  CHECK_INT (nbd_aio_command_completed (h, c1), 0);
  /* a sync call's cookie is retired by the call itself */
  CHECK_OK (nbd_pread (h, buf[0], 4096, 0, 0));
  csync = c1 + 1;
  CHECK_INT (nbd_aio_command_completed (h, csync), 0);
  nbd_close (h);
}

/* The *error parameter, as libnbd(3) "Callbacks with int *error
 * parameter" defines it: the callback sees the error so far; it changes
 * the outcome by storing a nonzero value and returning -1; a store with
 * any other return value, or a store of 0, has no effect. */
struct error_case {
  const char *what;
  bool fail;                    /* the server fails the command (EPERM) */
  int ret, set;                 /* callback returns ret after *error = set */
  bool store;                   /* ... the store happens at all */
  int want;                     /* resulting errno, 0 for success */
};

static const struct error_case error_cases[] = {
  { "success, untouched", false, 0, 0, false, 0 },
  { "success, -1 and ENOSPC", false, -1, ENOSPC, true, ENOSPC },
  { "success, 1 and ENOSPC (retires)", false, 1, ENOSPC, true, -1 },
  { "success, 0 and ENOSPC", false, 0, ENOSPC, true, 0 },
  { "success, -1 and 0", false, -1, 0, true, 0 },
  { "failure, untouched", true, 0, 0, false, EPERM },
  { "failure, -1 and ENOSPC", true, -1, ENOSPC, true, ENOSPC },
  { "failure, -1 and 0", true, -1, 0, true, EPERM },
  { "failure, 0 and 0", true, 0, 0, true, EPERM },
};

static void
t_error (void)
{
  struct nbd_handle *h = open_nbdkit ("-r", "memory", "1M");
  static char buf[4096];

  /* the server refuses writes: no client-side check in the way */
  CHECK_OK (nbd_set_strict_mode (h, 0));
  for (size_t i = 0; i < sizeof error_cases / sizeof error_cases[0]; i++) {
    const struct error_case *t = &error_cases[i];
    struct done d = { .ret = t->ret, .set_error = t->set, .store = t->store };
    int64_t ck;
    int r;

    ck = t->fail ? nbd_aio_pwrite (h, buf, 512, 0, done_closure (&d), 0)
      : nbd_aio_pread (h, buf, 512, 0, done_closure (&d), 0);
    CHECK (ck > 0);
    CHECK_OK (drain (h));
    test_count ();
    if (d.calls != 1 || d.error != (t->fail ? EPERM : 0))
      test_report (__FILE__, __LINE__, "%s: callback ran %d times, saw *error=%d",
                   t->what, d.calls, d.error);
    r = nbd_aio_command_completed (h, ck);
    test_count ();
    if (t->want == -1) {
      if (r != 0)             /* a retired cookie reads as in flight */
        test_report (__FILE__, __LINE__, "%s: not retired by the callback (r=%d)",
                     t->what, r);
    }
    else if (t->want == 0) {
      if (r != 1)
        test_report (__FILE__, __LINE__, "%s: command failed (r=%d), expected success",
                     t->what, r);
    }
    else if (r != -1 || nbd_get_errno () != t->want)
      test_report (__FILE__, __LINE__, "%s: r=%d errno=%d, expected failure with %d",
                   t->what, r, r == -1 ? nbd_get_errno () : 0, t->want);
    else if (!test_starts_with (nbd_get_error (), "nbd_aio_command_completed: "))
      test_report (__FILE__, __LINE__, "%s: message \"%s\"", t->what, nbd_get_error ());
    CHECK_INT (d.frees, 1);
  }
  nbd_close (h);

  /* the server's own errno and message reach the callback and the
   * caller: fakesrv answers the 2nd command with EIO "injected error" */
  h = open_fakesrv (MODE_STRUCTURED, "--fault", "error-reply", "--fault-at", "2");
  {
    struct done d[3] = { { .ret = 0 }, { .ret = 0 }, { .ret = 0 } };
    int64_t ck[3];
    for (int i = 0; i < 3; i++)
      ck[i] = nbd_aio_pread (h, buf, 512, 0, done_closure (&d[i]), 0);
    CHECK_OK (drain (h));
    CHECK_INT (d[0].error, 0);
    CHECK_INT (d[1].error, EIO);
    CHECK_INT (d[2].error, 0);
    CHECK_INT (nbd_aio_command_completed (h, ck[0]), 1);
    CHECK_FAIL (nbd_aio_command_completed (h, ck[1]), EIO, "nbd_aio_command_completed");
    printf ("server error as reported: %s\n", nbd_get_error ());
    CHECK_INT (nbd_aio_command_completed (h, ck[2]), 1);
    CHECK_INT (nbd_aio_is_ready (h), 1);
  }
  nbd_close (h);
}

/* ---- callback lifetimes ---- */

static char events[512];

static void
ev (const char *s)
{
  strcat (events, s);
  strcat (events, " ");
}

static int ev_chunk (void *u, const void *b, size_t c, uint64_t o, unsigned s, int *e)
{ (void) u; (void) b; (void) c; (void) o; (void) s; (void) e; ev ("chunk"); return 0; }
static int ev_extent (void *u, const char *m, uint64_t o, uint32_t *en, size_t n, int *e)
{ (void) u; (void) m; (void) o; (void) en; (void) n; (void) e; ev ("extent"); return 0; }
static int ev_comp (void *u, int *e) { (void) e; ev ("comp"); return *(int *) u; }
static void ev_chunk_free (void *u) { (void) u; ev ("chunkfree"); }
static void ev_extent_free (void *u) { (void) u; ev ("extentfree"); }
static void ev_comp_free (void *u) { (void) u; ev ("compfree"); }

#define EV_CHUNK ((nbd_chunk_callback) { .callback = ev_chunk, .free = ev_chunk_free })
#define EV_EXTENT ((nbd_extent_callback) { .callback = ev_extent, .free = ev_extent_free })
#define EV_COMP(r) ((nbd_completion_callback) { .callback = ev_comp, .user_data = (r), \
                                                .free = ev_comp_free })

static void
t_lifetimes (void)
{
  struct nbd_handle *h = open_nbdkit ("memory", "1M");
  static char buf[4096];
  static int ret0 = 0, ret1 = 1;
  int64_t ck;

  /* libnbd(3), "Callback lifetimes": mid-command callbacks, completion
   * callback, mid-command free, completion free. */
  events[0] = 0;
  ck = nbd_aio_pread_structured (h, buf, 4096, 0, EV_CHUNK, EV_COMP (&ret1), 0);
  CHECK_OK (drain (h));
  ev ("|");
  CHECK_STR (events, "chunk comp chunkfree compfree | ");

  /* returning 0: the frees wait for retirement */
  events[0] = 0;
  ck = nbd_aio_pread_structured (h, buf, 4096, 0, EV_CHUNK, EV_COMP (&ret0), 0);
  CHECK_OK (drain (h));
  ev ("|");
  CHECK_INT (nbd_aio_command_completed (h, ck), 1);
  CHECK_STR (events, "chunk comp | chunkfree compfree ");

  events[0] = 0;
  ck = nbd_aio_block_status (h, 4096, 0, EV_EXTENT, EV_COMP (&ret1), 0);
  CHECK_OK (drain (h));
  CHECK_STR (events, "extent comp extentfree compfree ");

  /* a NULL callback with a .free: freed once, at retirement */
  events[0] = 0;
  ck = nbd_aio_pread (h, buf, 4096, 0,
                      (nbd_completion_callback) { .callback = NULL, .free = ev_comp_free }, 0);
  CHECK_OK (drain (h));
  ev ("|");
  CHECK_INT (nbd_aio_command_completed (h, ck), 1);
  CHECK_STR (events, "| compfree ");

  /* refused at once: each .free once */
  events[0] = 0;
  CHECK_FAIL (nbd_aio_pread_structured (h, buf, 4096, 0, EV_CHUNK, EV_COMP (&ret1),
                                        LIBNBD_CMD_FLAG_FUA),
              EINVAL, "nbd_aio_pread_structured");
  CHECK_STR (events, "chunkfree compfree ");
  events[0] = 0;
  CHECK_FAIL (nbd_aio_pread_structured (h, buf, 4096, 1 * MiB, EV_CHUNK, EV_COMP (&ret1), 0),
              EINVAL, "nbd_aio_pread_structured");
  CHECK_STR (events, "chunkfree compfree ");

  /* the sync forms free their callback once too */
  events[0] = 0;
  CHECK_OK (nbd_pread_structured (h, buf, 4096, 0, EV_CHUNK, 0));
  CHECK_STR (events, "chunk chunkfree ");
  nbd_close (h);
}

/* ---- statistics ---- */

#ifdef LIBNBD_HAVE_NBD_STATS_BYTES_SENT
struct stats { uint64_t bs, br, cs, cr; };

static struct stats
stats (struct nbd_handle *h)
{
  return (struct stats) { nbd_stats_bytes_sent (h), nbd_stats_bytes_received (h),
                          nbd_stats_chunks_sent (h), nbd_stats_chunks_received (h) };
}

static void
t_stats (void)
{
  struct nbd_handle *h = open_nbdkit ("memory", "1M");
  static char buf[64 * KiB];
  struct stats a, b;
  struct extents e = { .n = 0 };

  a = stats (h);
  /* the handshake is counted */
  CHECK (a.bs > 0 && a.br > 0 && a.cs > 0 && a.cr > 0);

  CHECK_OK (nbd_pwrite (h, buf, 64 * KiB, 0, 0));
  b = stats (h);
  CHECK (b.bs - a.bs >= 64 * KiB + 28);
  CHECK (b.bs - a.bs <= 64 * KiB + 64);
  CHECK_INT (b.cs - a.cs, 1);
  CHECK_INT (b.cr - a.cr, 1);
  CHECK (b.br - a.br >= 16 && b.br - a.br <= 64);

  a = b;
  CHECK_OK (nbd_pread (h, buf, 64 * KiB, 0, 0));
  b = stats (h);
  CHECK (b.br - a.br >= 64 * KiB);
  CHECK (b.br - a.br <= 64 * KiB + 64);
  CHECK (b.bs - a.bs >= 28 && b.bs - a.bs <= 64);
  CHECK_INT (b.cs - a.cs, 1);
  CHECK (b.cr - a.cr >= 1);

  /* 8 aio reads of 64 KiB */
  a = b;
  for (int i = 0; i < 8; i++)
    CHECK (nbd_aio_pread (h, buf, 64 * KiB, 0, NBD_NULL_COMPLETION, 0) > 0);
  CHECK_OK (drain (h));
  b = stats (h);
  CHECK (b.br - a.br >= 8 * 64 * KiB);
  CHECK_INT (b.cs - a.cs, 8);
  CHECK (b.cr - a.cr >= 8);

  a = b;
  CHECK_OK (nbd_block_status (h, 64 * KiB, 0, extent32_closure (&e), 0));
  CHECK_OK (nbd_flush (h, 0));
  b = stats (h);
  CHECK_INT (b.cs - a.cs, 2);
  CHECK (b.cr - a.cr >= 2);

  /* refused on the client side: nothing counted */
  a = b;
  CHECK (nbd_pread (h, buf, 512, 1 * MiB, 0) == -1);
  b = stats (h);
  CHECK (memcmp (&a, &b, sizeof a) == 0);

  /* the disconnect request is a chunk like any other */
  CHECK_OK (nbd_shutdown (h, 0));
  b = stats (h);
  CHECK_INT (b.cs - a.cs, 1);
  CHECK (b.bs - a.bs >= 28 && b.bs - a.bs <= 32);
  nbd_close (h);
}
#else
static void t_stats (void) { printf ("no nbd_stats_* in this libnbd\n"); }
#endif

/* ---- many commands: the cookie map grows, shrinks, and is searched
 * after deletions in every order ---- */

#define MANY 6000

static void
t_many (void)
{
  struct nbd_handle *h = open_nbdkit ("pattern", "64M");
  static int64_t ck[MANY];
  static uint8_t buf[MANY][64];
  static struct done d[MANY];
  uint64_t rng = 7;
  int live = 0, retired = 0, wrong = 0, bad = 0;

  /* issue all before polling; every 3rd retires itself */
  for (int i = 0; i < MANY; i++) {
    d[i] = (struct done) { .ret = i % 3 == 0 };
    ck[i] = nbd_aio_pread (h, buf[i], 64, (uint64_t) i * 4096, done_closure (&d[i]), 0);
    if (ck[i] <= 0)
      bad++;
  }
  CHECK_INT (bad, 0);
  CHECK_INT (nbd_aio_in_flight (h), MANY);
  /* retire in random order while replies arrive */
  for (int round = 0; retired < MANY - MANY / 3 && round < 1000000; round++) {
    int i = rng_next (&rng) % MANY;
    int r;
    if (d[i].ret == 1 || d[i].frees)
      continue;
    r = nbd_aio_command_completed (h, ck[i]);
    if (r == 1) {
      retired++;
      if (check_offset_pattern (buf[i], 64, (uint64_t) i * 4096) != -1)
        wrong++;
    }
    else if (r == 0) {
      if (nbd_poll (h, -1) == -1)
        break;
    }
    else
      bad++;
  }
  CHECK_INT (retired, MANY - MANY / 3);
  CHECK_INT (bad, 0);
  CHECK_INT (wrong, 0);
  /* Self-retiring reads may still be on their way (the server answers
   * in any order): wait for them, then nothing may be left. */
  for (int round = 0; nbd_aio_in_flight (h) > 0 && round < 100000; round++)
    if (nbd_poll (h, -1) == -1)
      break;
  CHECK_INT (nbd_aio_in_flight (h), 0);
  for (int i = 0; i < MANY; i++) {
    live += d[i].calls != 1 || d[i].frees != 1;
    if (d[i].ret == 1 && check_offset_pattern (buf[i], 64, (uint64_t) i * 4096) != -1)
      wrong++;
  }
  CHECK_INT (live, 0);
  CHECK_INT (wrong, 0);
  CHECK_FAIL (nbd_aio_peek_command_completed (h), EINVAL,
              "nbd_aio_peek_command_completed");
  for (int i = 0; i < MANY; i += 97)
    CHECK_INT (nbd_aio_command_completed (h, ck[i]), 0);
  nbd_close (h);
}

/* ---- one handle, several threads ---- */

#include <pthread.h>

#define THREADS 4
#define ROUNDS 200
#define REGION (1 * MiB)

struct worker {
  struct nbd_handle *h;
  int id, errors, mismatches;
};

static void *
worker_main (void *arg)
{
  struct worker *w = arg;
  uint64_t rng = 1000 + w->id;
  static __thread uint8_t wbuf[64 * KiB], rbuf[64 * KiB];

  for (int i = 0; i < ROUNDS; i++) {
    size_t n = 1 + rng_next (&rng) % sizeof wbuf;
    uint64_t off = (uint64_t) w->id * REGION + rng_next (&rng) % (REGION - n);
    fill_pattern (wbuf, n, (uint64_t) w->id * ROUNDS + i, off);
    if (nbd_pwrite (w->h, wbuf, n, off, 0) == -1
        || nbd_pread (w->h, rbuf, n, off, 0) == -1) {
      w->errors++;
      fprintf (stderr, "thread %d: %s\n", w->id, nbd_get_error ());
      continue;
    }
    if (memcmp (wbuf, rbuf, n) != 0)
      w->mismatches++;
  }
  return NULL;
}

static void
t_threads (void)
{
  struct nbd_handle *h = open_nbdkit ("memory", "16M");
  pthread_t tid[THREADS];
  struct worker w[THREADS];

  for (int i = 0; i < THREADS; i++) {
    w[i] = (struct worker) { .h = h, .id = i };
    pthread_create (&tid[i], NULL, worker_main, &w[i]);
  }
  for (int i = 0; i < THREADS; i++) {
    pthread_join (tid[i], NULL);
    CHECK_INT (w[i].errors, 0);
    CHECK_INT (w[i].mismatches, 0);
  }
  CHECK_INT (nbd_aio_in_flight (h), 0);
  CHECK_INT (nbd_aio_is_ready (h), 1);
  nbd_close (h);
}

int
main (int argc, char *argv[])
{
  const char *only = argc > 1 ? argv[1] : NULL;

  require_nbdkit ();
  require_fakesrv ();
  watchdog ("completion", 110);
#define RUN(name) if (!only || strcmp (only, #name) == 0) t_##name ()
  RUN (cookies);
  RUN (lifecycle);
  RUN (retire);
  RUN (error);
  RUN (lifetimes);
  RUN (stats);
  RUN (threads);
  RUN (many);
  return test_exit ();
}
