/* Signals while the handle waits for the server.  libnbd's nbd_poll
 * does not return on a signal, with or without SA_RESTART: it polls
 * again (checked against libnbd 1.14 by building this file against it).
 * fastnbd often sleeps in a blocking recvmsg instead of poll(), so these
 * pin down the same behaviour on both paths, and sync calls too.  The
 * handler is installed without SA_RESTART, so every wait really sees
 * EINTR. */
#include <pthread.h>
#include <time.h>

#include "callbacks.h"

static volatile sig_atomic_t signals_seen;

static void
on_signal (int sig)
{
  (void) sig;
  signals_seen++;
}

struct kicker {
  pthread_t target;
  int count;
  unsigned delay_ms;
};

/* Sends SIGUSR1 to the target thread `count` times, delay_ms apart. */
static void *
kick (void *arg)
{
  struct kicker *k = arg;

  for (int i = 0; i < k->count; i++) {
    usleep (k->delay_ms * 1000);
    pthread_kill (k->target, SIGUSR1);
  }
  return NULL;
}

static void
catch_usr1 (void)
{
  struct sigaction sa = { .sa_handler = on_signal, .sa_flags = 0 };

  sigemptyset (&sa.sa_mask);
  sigaction (SIGUSR1, &sa, NULL);
}

static double
seconds_since (const struct timespec *t0)
{
  struct timespec t;

  clock_gettime (CLOCK_MONOTONIC, &t);
  return (t.tv_sec - t0->tv_sec) + (t.tv_nsec - t0->tv_nsec) / 1e9;
}

/* A read the server never answers, nbd_poll with a timeout: a signal
 * at 0.3 s does not end it; it times out (0) and the read is still in
 * flight. */
static void
t_poll_timeout (void)
{
  struct nbd_handle *h = open_fakesrv (MODE_STRUCTURED, "--fault", "hang",
                                       "--fault-at", "1");
  struct kicker k = { .target = pthread_self (), .count = 1, .delay_ms = 300 };
  static uint8_t buf[4096];
  struct timespec t0;
  pthread_t thread;
  double spent;
  int r;

  CHECK (nbd_aio_pread (h, buf, sizeof buf, 0, NBD_NULL_COMPLETION, 0) > 0);
  signals_seen = 0;
  clock_gettime (CLOCK_MONOTONIC, &t0);
  CHECK (pthread_create (&thread, NULL, kick, &k) == 0);
  do
    r = nbd_poll (h, 1500);
  while (r == 1);
  spent = seconds_since (&t0);
  pthread_join (thread, NULL);
  CHECK_INT (r, 0);
  CHECK (signals_seen == 1);
  CHECK (spent >= 1.4);
  CHECK_INT (nbd_aio_in_flight (h), 1);
  CHECK (nbd_aio_is_ready (h) == 1);  /* waiting for a reply is "ready" */
  nbd_close (h);
}

/* nbd_poll(-1) while signals keep arriving and the server takes a
 * second (nbdkit's delay filter): no call fails, the read completes with
 * the right data. */
static void
t_poll_forever (void)
{
  struct nbd_handle *h = open_nbdkit ("--filter=delay", "pattern", "1M", "rdelay=1");
  struct kicker k = { .target = pthread_self (), .count = 5, .delay_ms = 100 };
  static uint8_t buf[64 * KiB];
  struct done d = { .ret = 0 };
  pthread_t thread;
  int64_t ck;
  int failures = 0;

  ck = nbd_aio_pread (h, buf, sizeof buf, 64 * KiB, done_closure (&d), 0);
  CHECK (ck > 0);
  signals_seen = 0;
  CHECK (pthread_create (&thread, NULL, kick, &k) == 0);
  while (nbd_aio_command_completed (h, ck) == 0)
    if (nbd_poll (h, -1) == -1 && ++failures > 3)
      break;
  pthread_join (thread, NULL);
  CHECK_INT (failures, 0);
  CHECK (signals_seen == 5);
  CHECK (check_offset_pattern (buf, sizeof buf, 64 * KiB) == -1);
  nbd_close (h);
}

/* Sync calls do not give up on a signal either. */
static void
t_sync_through_signals (void)
{
  struct nbd_handle *h = open_nbdkit ("--filter=delay", "pattern", "1M", "rdelay=1");
  struct kicker k = { .target = pthread_self (), .count = 5, .delay_ms = 100 };
  static uint8_t buf[64 * KiB];
  pthread_t thread;

  signals_seen = 0;
  CHECK (pthread_create (&thread, NULL, kick, &k) == 0);
  CHECK_OK (nbd_pread (h, buf, sizeof buf, 128 * KiB, 0));
  pthread_join (thread, NULL);
  CHECK (signals_seen == 5);
  CHECK (check_offset_pattern (buf, sizeof buf, 128 * KiB) == -1);
  nbd_close (h);
}

int
main (int argc, char *argv[])
{
  const char *only = argc > 1 ? argv[1] : NULL;

  require_nbdkit ();
  require_fakesrv ();
  watchdog ("signal", 60);
  catch_usr1 ();
#define RUN(name) if (!only || strcmp (only, #name) == 0) t_##name ()
  RUN (poll_timeout);
  RUN (poll_forever);
  RUN (sync_through_signals);
  return test_exit ();
}
