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
#include "fz-cli.h"
#include "fz-corpus.h"
#include "fz-engine.h"

#include <limits.h>
#include <signal.h>
#include <time.h>

static struct fz_cli cli = {
  .seed = 0x5eed2024, .iterations = 200000, .time_budget = 20, .only = ULONG_MAX,
  .do_corpus = true, .do_random = true,
};
static uint64_t max_count;      /* 0, or the largest command length */


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
  it->srv.dump = cli.dump;
  it->verbose = cli.verbose;
  fz_engine_run (it);
  fz_corpus_check (it, i);
  if (cli.verbose || cli.dump)
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

  snprintf (it->label, sizeof it->label, "seed %#" PRIx64 " iteration %lu", cli.seed, i);
  it->id = i;
  it->rng.s = fz_seed_for (cli.seed, i);
  fz_random_setup (it);
  fz_random_mutations (it);
  /* --max-count: the same scenario with shorter commands, for speed
   * (most of an iteration's time is spent making and checking data). */
  for (int k = 0; max_count && k < it->ncmds; k++)
    if (it->cmds[k].count > max_count)
      it->cmds[k].count = 1 + it->cmds[k].count % max_count;
  it->time_limit_ms = 10000;
  it->srv.dump = cli.dump;
  it->verbose = cli.verbose;
  fz_engine_run (it);
  if (it->failures)
    fprintf (stderr, "  -> reproduce with: fuzz-engine --seed %#" PRIx64
             " --only %lu --no-corpus --dump --verbose\n", cli.seed, i);
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

/* This program's own option. */
static bool
take_own_option (int argc, char *argv[], int *i)
{
  if (strcmp (argv[*i], "--max-count") == 0 && *i + 1 < argc) {
    max_count = strtoull (argv[++*i], NULL, 0);
    return true;
  }
  return false;
}

int
main (int argc, char *argv[])
{
  int status = fz_cli_parse (&cli, argc, argv, take_own_option, "[--max-count N]");

  if (status >= 0)
    return status;
  setvbuf (stdout, NULL, _IOLBF, 0);
  fz_install_crash_handler ();
  signal (SIGINT, request_stop);
  signal (SIGTERM, request_stop);

  if (cli.do_corpus) {
    struct fz_stats st = { 0 };
    int64_t t0 = fz_now_ms ();
    double c0 = cpu_seconds ();
    size_t found = 0;
    for (size_t k = 0; k < fz_corpus_count; k++)
      if (cli.only_case == NULL || strcmp (cli.only_case, fz_corpus[k].name) == 0) {
        run_corpus_case (k, &st);
        found++;
      }
    if (cli.only_case && found == 0) {
      fprintf (stderr, "no corpus case %s (try --case list)\n", cli.only_case);
      return 2;
    }
    print_stats ("corpus", &st, (fz_now_ms () - t0) / 1000.0, cpu_seconds () - c0);
  }
  if (cli.do_random) {
    struct fz_stats st = { 0 };
    int64_t t0 = fz_now_ms ();
    double c0 = cpu_seconds ();
    bool out_of_time = false;
    if (cli.only != ULONG_MAX)
      run_random (cli.only, &st);
    else
      for (unsigned long i = 0; i < cli.iterations; i++) {
        if (stop_requested
            || ((i & 63) == 0 && (fz_now_ms () - t0) > cli.time_budget * 1000)) {
          out_of_time = true;
          break;
        }
        run_random (i, &st);
      }
    if (out_of_time)
      printf ("%s\n", stop_requested ? "stopped by a signal"
              : "time budget reached");
    printf ("seed %#" PRIx64 ": ", cli.seed);
    print_stats ("random", &st, (fz_now_ms () - t0) / 1000.0, cpu_seconds () - c0);
  }
  return test_exit ();
}
