/* Progress: -p draws one line (updated in place on a terminal, plain
 * lines otherwise) and --progress=FD writes the "N/100" lines other
 * programs parse, as the nbdcopy manual documents. */
#include "nbdcopy.h"

#include <stdatomic.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static int64_t total = -1;
static _Atomic uint64_t copied, skipped;
static int last_percent = -1, last_tenth = -1;
static double started, last_draw;
static bool terminal;

static double
now (void)
{
  struct timespec ts;
  clock_gettime (CLOCK_MONOTONIC, &ts);
  return (double) ts.tv_sec + (double) ts.tv_nsec / 1e9;
}

static void
write_percent (int percent)
{
  char line[16];
  int n = snprintf (line, sizeof line, "%d/100\n", percent);
  /* A reader that went away must not stop the copy. */
  if (write (opts.progress_fd, line, (size_t) n) != n)
    return;
}

static const char *
scaled (char *buf, size_t len, double bytes)
{
  static const char units[] = "BKMGTPE";
  int u = 0;
  while (bytes >= 1024 && u < 6) {
    bytes /= 1024;
    u++;
  }
  if (u == 0)
    snprintf (buf, len, "%.0fB", bytes);
  else
    snprintf (buf, len, "%.1f%c", bytes, units[u]);
  return buf;
}

static void
draw (bool final)
{
  uint64_t c = atomic_load (&copied), s = atomic_load (&skipped);
  double elapsed = now () - started;
  char a[32], b[32], k[32], r[32], left[32] = "";
  double rate = elapsed > 0 ? (double) (c + s) / elapsed : 0;
  int percent = total > 0 ? (int) ((c + s) * 100 / (uint64_t) total) : 100;

  if (!final && total > 0 && rate > 0) {
    double secs = ((double) total - (double) (c + s)) / rate;
    snprintf (left, sizeof left, ", %d:%02d left",
              (int) secs / 60, (int) secs % 60);
  }
  fprintf (stderr, "%s%3d%% copied %s of %s, skipped %s, %s/s%s%s",
           terminal ? "\r" : "", percent, scaled (a, sizeof a, (double) c),
           total >= 0 ? scaled (b, sizeof b,
                                (double) total - (double) s) : "?",
           scaled (k, sizeof k, (double) s),
           scaled (r, sizeof r, (double) c / (elapsed > 0 ? elapsed : 1)),
           left, terminal ? "\033[K" : "\n");
  if (final && terminal)
    fputc ('\n', stderr);
  fflush (stderr);
}

void
progress_start (int64_t size)
{
  total = size;
  started = last_draw = now ();
  terminal = isatty (STDERR_FILENO);
  if (opts.progress_fd >= 0) {
    write_percent (0);
    last_percent = 0;
  }
  if (opts.progress && terminal)
    draw (false);
}

void
progress_add (uint64_t bytes, bool was_skipped)
{
  atomic_fetch_add (was_skipped ? &skipped : &copied, bytes);
}

void
progress_tick (void)
{
  uint64_t done = atomic_load (&copied) + atomic_load (&skipped);
  int percent;

  if (total <= 0 || (!opts.progress && opts.progress_fd < 0))
    return;
  percent = (int) (done * 100 / (uint64_t) total);
  if (percent > 100)
    percent = 100;
  if (opts.progress_fd >= 0 && percent != last_percent && percent < 100) {
    write_percent (percent);
    last_percent = percent;
  }
  if (opts.progress) {
    double t = now ();
    if (terminal ? t - last_draw >= 0.2 : percent / 10 != last_tenth) {
      last_draw = t;
      last_tenth = percent / 10;
      if (terminal || percent < 100)
        draw (false);
    }
  }
}

void
progress_finish (bool success)
{
  if (!success) {
    if (opts.progress && terminal)
      fputc ('\n', stderr);
    return;
  }
  if (opts.progress_fd >= 0)
    write_percent (100);
  if (opts.progress)
    draw (true);
}
