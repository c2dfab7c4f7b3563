/* Many handles, many threads, one scratch buffer.
 *
 * A program that does not care what it reads (a benchmark, a cache
 * warmer) may give every command the same buffer: reads land in it and
 * writes are sent from it, on every handle at once.  The data is then
 * undefined, but the connections must survive: the library may only
 * ever parse protocol bytes from memory it owns, because any byte in a
 * caller's buffer can be overwritten by another thread at any moment.
 *
 * 8 threads, each with its own handle to one nbdkit memory server on a
 * Unix socket, keep 64 aio reads and writes of 4 KiB in flight into ONE
 * shared buffer.  nbdkit answers out of order, so a client that guessed
 * the next replies into the callers' buffers would guess wrong all the
 * time, while the other threads rewrite the buffer.  The test's threads all
 * run on one CPU (nbdkit, started before, is left free), which makes a
 * thread switch between a receive and the parsing of its bytes likely.
 * Every command must succeed and every handle must still be ready at
 * the end. */
#include "callbacks.h"

#include <pthread.h>
#include <sched.h>

#define THREADS 8
#define DEPTH 64
#define OPS_PER_THREAD 20000
#define REQUEST (4 * KiB)
#define DISK (64 * MiB)
#define SCRATCH (64 * KiB)

static uint8_t *scratch;        /* every command of every thread uses it */
static const char *sock;

struct worker {
  int id;
  struct nbd_handle *h;
  int issued, completed, failed;
  char first_error[256];        /* the first command's failure */
  char poll_error[256];         /* why nbd_poll failed, if it did */
};

static int
op_done (void *user_data, int *error)
{
  struct worker *w = user_data;

  w->completed++;
  if (*error) {
    if (w->failed++ == 0)
      snprintf (w->first_error, sizeof w->first_error, "errno %d (%s)", *error,
                strerror (*error));
  }
  return 1;
}

static void *
run_worker (void *arg)
{
  struct worker *w = arg;
  uint64_t rng = 1000 + w->id;
  nbd_completion_callback cb = { .callback = op_done, .user_data = w };

  while (w->completed < OPS_PER_THREAD) {
    while (w->issued < OPS_PER_THREAD && nbd_aio_in_flight (w->h) < DEPTH) {
      uint64_t x = rng_next (&rng);
      uint64_t offset = (x >> 8) % (DISK / REQUEST) * REQUEST;
      /* Mostly the very same address, else anywhere in the buffer. */
      uint8_t *buf = x % 8 < 6 ? scratch : scratch + (x >> 40) % (SCRATCH - REQUEST + 1);
      int64_t ck = x % 4 == 0 ? nbd_aio_pwrite (w->h, buf, REQUEST, offset, cb, 0)
                              : nbd_aio_pread (w->h, buf, REQUEST, offset, cb, 0);
      if (ck == -1) {
        snprintf (w->first_error, sizeof w->first_error, "issuing: %s",
                  nbd_get_error ());
        w->failed++;
        return NULL;
      }
      w->issued++;
    }
    if (nbd_poll (w->h, -1) == -1) {
      snprintf (w->poll_error, sizeof w->poll_error, "%s", nbd_get_error ());
      return NULL;
    }
  }
  return NULL;
}

int
main (void)
{
  struct bg_server srv = { .pid = -1 };
  struct worker workers[THREADS];
  pthread_t threads[THREADS];
  cpu_set_t one;
  double t0;

  watchdog ("shared-threads", 110);
  require_nbdkit ();
  if (bg_start (&srv, (char *const[]) { "nbdkit", "-f", "-U", "@SOCK@",
                                        "--exit-with-parent", "memory", "64M",
                                        NULL }) == -1)
    return 99;
  /* One CPU for the test's threads: they take turns on it, so a thread
   * is often switched out between its receive and the parsing of what
   * it received. */
  sched_getaffinity (0, sizeof one, &one);
  for (int cpu = 0; cpu < CPU_SETSIZE; cpu++) {
    if (CPU_ISSET (cpu, &one)) {
      CPU_ZERO (&one);
      CPU_SET (cpu, &one);
      break;
    }
  }
  if (sched_setaffinity (0, sizeof one, &one) == -1) {
    perror ("sched_setaffinity");
    return 99;
  }
  sock = srv.sock;
  scratch = malloc (SCRATCH);
  if (scratch == NULL)
    return 99;
  memset (scratch, 0x5A, SCRATCH);

  t0 = now_s ();
  for (int i = 0; i < THREADS; i++) {
    workers[i] = (struct worker) { .id = i, .h = open_unix (sock) };
    if (pthread_create (&threads[i], NULL, run_worker, &workers[i]) != 0) {
      perror ("pthread_create");
      return 99;
    }
  }
  for (int i = 0; i < THREADS; i++)
    pthread_join (threads[i], NULL);

  for (int i = 0; i < THREADS; i++) {
    struct worker *w = &workers[i];
    test_count ();
    if (w->failed || w->completed != OPS_PER_THREAD || w->poll_error[0])
      test_report (__FILE__, __LINE__, "thread %d: %d of %d commands completed, "
                   "%d failed (first: %s); nbd_poll: %s", i, w->completed,
                   OPS_PER_THREAD, w->failed, w->first_error[0] ? w->first_error : "-",
                   w->poll_error[0] ? w->poll_error : "ok");
    CHECK_INT (nbd_aio_is_ready (w->h), 1);
    CHECK_INT (nbd_aio_in_flight (w->h), 0);
    if (nbd_aio_is_ready (w->h))
      CHECK_OK (nbd_shutdown (w->h, 0));
    nbd_close (w->h);
  }
  printf ("%d threads x %d commands into one %d KiB buffer in %.2f s\n", THREADS,
          OPS_PER_THREAD, SCRATCH / KiB, now_s () - t0);
  free (scratch);
  bg_stop (&srv);
  return test_exit ();
}
