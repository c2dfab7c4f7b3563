/* fuzz-engine: the hostile-server harness against the protocol engine
 * in process (harness/fz-engine.c): the corpus of fuzz-server, then
 * seeded random iterations, all in this one process, with the same end
 * checks as fuzz-server (each completion at most once, exactly once when
 * the connection ended; every .free exactly once; chunks inside their
 * request; an undamaged transcript works exactly).  Built with ASan and
 * UBSan when available; LeakSanitizer checks for leaks at exit.
 *
 *   fuzz-engine [--seed N] [--iterations N] [--time S] [--only I]
 *               [--case NAME|list] [--no-corpus] [--no-random]
 *               [--max-count N] [--dump] [--verbose]
 *
 * Iteration I of seed N is the same bytes as in fuzz-server (the same
 * scenario and mutations); a crash prints the iteration, replayed alone
 * with --seed N --only I --no-corpus --dump. */
#include "fz-corpus.h"
#include "fz-engine.h"

#include <limits.h>
#include <signal.h>
#include <time.h>

static struct {
  bool dump, verbose;
  uint64_t seed;
  double time_budget;
  uint64_t max_count;        /* 0, or the largest command length */
} opt = { .seed = 0x5eed2024, .time_budget = 20 };


/* SIGINT or SIGTERM ends the random part after the current iteration,
 * with its statistics printed. */
static volatile sig_atomic_t stop_requested;

static void
request_stop (int sig)
{
  (void) sig;
  stop_requested = 1;
}

static double
cpu_seconds (void)
{
  struct timespec ts;
  clock_gettime (CLOCK_PROCESS_CPUTIME_ID, &ts);
  return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void
run_corpus_case (size_t i, struct fz_stats *st)
{
  struct fz_iter *it = calloc (1, sizeof *it);

  snprintf (it->label, sizeof it->label, "corpus %s", fz_corpus[i].name);
  fz_corpus_prepare (it, i);
  it->time_limit_ms = 10000;
  it->srv.dump = opt.dump;
  it->verbose = opt.verbose;
  fz_engine_run (it);
  fz_corpus_check (it, i);
  if (opt.verbose || opt.dump)
    fprintf (stderr, "%-50s ready=%d end=%s\n", it->label, it->reached_ready,
             it->end_state);
  if (it->failures)
    fprintf (stderr, "  -> reproduce with: fuzz-engine --case %s --dump --verbose\n",
             fz_corpus[i].name);
  fz_account (st, it);
  free (it);
}

static void
run_random (unsigned long i, struct fz_stats *st)
{
  struct fz_iter *it = calloc (1, sizeof *it);

  snprintf (it->label, sizeof it->label, "seed %#" PRIx64 " iteration %lu", opt.seed, i);
  it->id = i;
  it->rng.s = fz_seed_for (opt.seed, i);
  fz_random_setup (it);
  fz_random_mutations (it);
  /* --max-count: the same scenario with shorter commands, for speed
   * (most of an iteration's time is spent making and checking data). */
  for (int k = 0; opt.max_count && k < it->ncmds; k++)
    if (it->cmds[k].count > opt.max_count)
      it->cmds[k].count = 1 + it->cmds[k].count % opt.max_count;
  it->time_limit_ms = 10000;
  it->srv.dump = opt.dump;
  it->verbose = opt.verbose;
  fz_engine_run (it);
  if (it->failures)
    fprintf (stderr, "  -> reproduce with: fuzz-engine --seed %#" PRIx64
             " --only %lu --no-corpus --dump --verbose\n", opt.seed, i);
  fz_account (st, it);
  free (it);
}

static void
print_stats (const char *what, const struct fz_stats *st, double wall, double cpu)
{
  printf ("%s: %lu runs in %.1f s (%.1f s CPU): %.0f runs/s, %.0f runs per CPU second; "
          "%lu reached ready, %lu ended dead, %lu closed; %lu unmutated; "
          "%lu mutations applied; %lu hung; %lu failed\n",
          what, st->runs, wall, cpu, wall > 0 ? st->runs / wall : 0,
          cpu > 0 ? st->runs / cpu : 0, st->ready, st->dead, st->closed,
          st->unmutated, st->mutations, st->hung, st->failed);
}

static void
usage (FILE *f, const char *prog)
{
  fprintf (f, "usage: %s [--seed N] [--iterations N] [--time S] [--only I]\n"
           "       [--case NAME|list] [--no-corpus] [--no-random] [--max-count N]\n"
           "       [--dump] [--verbose]\n",
           prog);
}

int
main (int argc, char *argv[])
{
  unsigned long iterations = 200000, only = ULONG_MAX;
  const char *only_case = NULL;
  bool do_corpus = true, do_random = true;

  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    const char *v = i + 1 < argc ? argv[i + 1] : NULL;
    if (strcmp (a, "--seed") == 0 && v) { opt.seed = strtoull (v, NULL, 0); i++; }
    else if (strcmp (a, "--iterations") == 0 && v) { iterations = strtoul (v, NULL, 0); i++; }
    else if (strcmp (a, "--time") == 0 && v) { opt.time_budget = strtod (v, NULL); i++; }
    else if (strcmp (a, "--only") == 0 && v) { only = strtoul (v, NULL, 0); i++; }
    else if (strcmp (a, "--case") == 0 && v) { only_case = v; do_random = false; i++; }
    else if (strcmp (a, "--no-corpus") == 0) do_corpus = false;
    else if (strcmp (a, "--no-random") == 0) do_random = false;
    else if (strcmp (a, "--max-count") == 0 && v) { opt.max_count = strtoull (v, NULL, 0); i++; }
    else if (strcmp (a, "--dump") == 0) opt.dump = true;
    else if (strcmp (a, "--verbose") == 0) opt.verbose = true;
    else if (strcmp (a, "--help") == 0) { usage (stdout, argv[0]); return 0; }
    else { usage (stderr, argv[0]); return 2; }
  }
  if (only_case && strcmp (only_case, "list") == 0) {
    for (size_t k = 0; k < fz_corpus_count; k++)
      printf ("%s\n", fz_corpus[k].name);
    return 0;
  }
  setvbuf (stdout, NULL, _IOLBF, 0);
  fz_install_crash_handler ();
  signal (SIGINT, request_stop);
  signal (SIGTERM, request_stop);

  if (do_corpus) {
    struct fz_stats st = { 0 };
    int64_t t0 = fz_now_ms ();
    double c0 = cpu_seconds ();
    size_t found = 0;
    for (size_t k = 0; k < fz_corpus_count; k++)
      if (only_case == NULL || strcmp (only_case, fz_corpus[k].name) == 0) {
        run_corpus_case (k, &st);
        found++;
      }
    if (only_case && found == 0) {
      fprintf (stderr, "no corpus case %s (try --case list)\n", only_case);
      return 2;
    }
    print_stats ("corpus", &st, (fz_now_ms () - t0) / 1000.0, cpu_seconds () - c0);
  }
  if (do_random) {
    struct fz_stats st = { 0 };
    int64_t t0 = fz_now_ms ();
    double c0 = cpu_seconds ();
    bool out_of_time = false;
    if (only != ULONG_MAX)
      run_random (only, &st);
    else
      for (unsigned long i = 0; i < iterations; i++) {
        if (stop_requested
            || ((i & 63) == 0 && (fz_now_ms () - t0) > opt.time_budget * 1000)) {
          out_of_time = true;
          break;
        }
        run_random (i, &st);
      }
    if (out_of_time)
      printf ("%s\n", stop_requested ? "stopped by a signal"
              : "time budget reached");
    printf ("seed %#" PRIx64 ": ", opt.seed);
    print_stats ("random", &st, (fz_now_ms () - t0) / 1000.0, cpu_seconds () - c0);
  }
  return test_exit ();
}
