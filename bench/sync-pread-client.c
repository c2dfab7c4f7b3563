/* The C reference for bench/python-bench's sync workload: the same loop
 * as python-bench-client.py's sync mode (nbd_pread of 4 KiB, sequential
 * offsets wrapping in the export, the clock read every 64 reads), with
 * the same slice protocol on stdin and stdout, so the harness can run
 * the library alone beside the Python bindings.  Built twice, against
 * libnbd and against fastnbd.
 *
 *   sync-pread-client SOCKET
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <libnbd.h>

#define REQUEST 4096

static double
seconds_of (clockid_t clock)
{
  struct timespec t;

  clock_gettime (clock, &t);
  return t.tv_sec + t.tv_nsec / 1e9;
}

int
main (int argc, char **argv)
{
  static char buf[REQUEST];
  struct nbd_handle *h;
  char line[256], mode[16];
  double slice;
  uint64_t offset = 0;
  int64_t size;

  if (argc != 2) {
    fprintf (stderr, "usage: %s SOCKET\n", argv[0]);
    return EXIT_FAILURE;
  }
  h = nbd_create ();
  if (h == NULL || nbd_connect_unix (h, argv[1]) == -1 ||
      (size = nbd_get_size (h)) == -1) {
    fprintf (stderr, "%s\n", nbd_get_error ());
    return EXIT_FAILURE;
  }
  printf ("ready module=c\n");
  fflush (stdout);
  while (fgets (line, sizeof line, stdin)) {
    double start, cpu, deadline;
    long ops = 0;

    if (sscanf (line, "%15s %lf", mode, &slice) != 2 || strcmp (mode, "sync") != 0) {
      fprintf (stderr, "only sync slices: %s", line);
      return EXIT_FAILURE;
    }
    cpu = seconds_of (CLOCK_PROCESS_CPUTIME_ID);
    start = seconds_of (CLOCK_MONOTONIC);
    deadline = start + slice;
    while (seconds_of (CLOCK_MONOTONIC) < deadline) {
      for (int i = 0; i < 64; i++) {
        if (nbd_pread (h, buf, REQUEST, offset, 0) == -1) {
          fprintf (stderr, "%s\n", nbd_get_error ());
          return EXIT_FAILURE;
        }
        offset = (offset + REQUEST) % size;
      }
      ops += 64;
    }
    printf ("ops=%ld secs=%.6f cpu=%.6f\n", ops, seconds_of (CLOCK_MONOTONIC) - start,
            seconds_of (CLOCK_PROCESS_CPUTIME_ID) - cpu);
    fflush (stdout);
  }
  nbd_shutdown (h, 0);
  nbd_close (h);
  return EXIT_SUCCESS;
}
