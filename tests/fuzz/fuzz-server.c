/* fuzz-server: a hostile server must never crash, hang or leak the client.
 *
 * Two parts, both against the fake server of harness/fz-server.h:
 *
 *   corpus  hand-written malformed replies taken from the protocol
 *           document's MUSTs (option replies, NBD_INFO_*, structured and
 *           extended chunks, cookies, ranges), each with what the client
 *           must at least do about it;
 *   random  a few thousand seeded iterations: random client settings and
 *           server personalities, and 1-3 mutations of what the server
 *           says (about 1 in 8 iterations are left valid and must then
 *           work exactly).
 *
 * Every iteration ends in bounded time, checks each closure ran at most
 * once and was freed exactly once, and that no descriptor leaked.  Built
 * against the ASan/UBSan library when available, so any memory error
 * aborts; LeakSanitizer reports leaks at exit.
 *
 * Options:
 *   --seed N         base seed (default 0x5eed2024)
 *   --iterations N   random iterations (default 20000)
 *   --time S         stop the random part after S seconds (default 20)
 *   --only I         run only random iteration I
 *   --case NAME      run only the corpus case NAME ("list" lists them)
 *   --no-corpus / --no-random
 *   --no-fork        run everything in this process (debuggers)
 *   --dump           print every server message (hex) and mutation as sent
 *   --verbose        also print the client's calls
 *
 * Items run in forked children (see supervise): a crash or a sanitizer
 * report costs one item, which is named with the command that replays it.
 */
#include "fz-cli.h"
#include "fz-client.h"
#include "fz-corpus.h"

#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include <limits.h>
#include <sys/mman.h>
#include <sys/wait.h>


/* ------------------------------------------------------------------ */

/* Statistics and progress live in memory shared with the children. */
struct shared {
  volatile long current;     /* item a child is running, -1 between items */
  volatile long done;        /* items the child finished */
  volatile bool out_of_time;
  volatile bool finished;    /* the child ran its items and is exiting */
  unsigned checks, failed;   /* the children's test.h counters */
  struct fz_stats st;
};

enum item_kind { K_CORPUS, K_RANDOM };

static struct fz_cli cli = {
  .seed = 0x5eed2024, .iterations = 20000, .time_budget = 20, .only = ULONG_MAX,
  .do_corpus = true, .do_random = true,
};

static struct {
  bool fork;
  int64_t t0;
  unsigned alarm_s;
  struct shared *sh;
  unsigned crashes;          /* seen by the parent */
} opt = { .fork = true, .alarm_s = 30 };

static void
item_label (enum item_kind k, long i, char *buf, size_t n)
{
  if (k == K_CORPUS)
    snprintf (buf, n, "corpus %s", fz_corpus[i].name);
  else
    snprintf (buf, n, "seed %#" PRIx64 " iteration %ld", cli.seed, i);
}

static void
item_repro (enum item_kind k, long i, char *buf, size_t n)
{
  if (k == K_CORPUS)
    snprintf (buf, n, "--case %s", fz_corpus[i].name);
  else
    snprintf (buf, n, "--seed %#" PRIx64 " --only %ld --no-corpus", cli.seed, i);
}

static void
run_item (enum item_kind k, long i)
{
  struct fz_iter *it = calloc (1, sizeof *it);
  char repro[160];

  item_label (k, i, it->label, sizeof it->label);
  if (k == K_CORPUS)
    fz_corpus_prepare (it, i);
  else {
    it->id = i;
    it->rng.s = fz_seed_for (cli.seed, i);
    fz_random_setup (it);
    fz_random_mutations (it);
  }
  it->time_limit_ms = 10000;
  it->srv.dump = cli.dump;
  it->verbose = cli.verbose;
  fz_run (it);
  if (k == K_CORPUS)
    fz_corpus_check (it, i);
  if (k == K_CORPUS && (cli.verbose || cli.dump))
    fprintf (stderr, "%-50s ready=%d end=%s\n", it->label, it->reached_ready,
             it->end_state);
  fz_account (&opt.sh->st, it);
  if (it->failures) {
    item_repro (k, i, repro, sizeof repro);
    fprintf (stderr, "  -> reproduce with: fuzz-server %s --dump --verbose\n", repro);
  }
  free (it);
}

/* Run items [first, last) in this process; returns the next item to run
 * (last, unless the time budget ran out). */
static long
run_items (enum item_kind k, long first, long last, bool timed)
{
  for (long i = first; i < last; i++) {
    if (timed && (fz_now_ms () - opt.t0) > cli.time_budget * 1000) {
      opt.sh->out_of_time = true;
      return i;
    }
    opt.sh->current = i;
    alarm (opt.alarm_s);       /* a call that never returns */
    run_item (k, i);
    alarm (0);
    /* Hand the counters over item by item: a later crash keeps them. */
    __atomic_add_fetch (&opt.sh->checks, test_checks, __ATOMIC_RELAXED);
    __atomic_add_fetch (&opt.sh->failed, test_failed, __ATOMIC_RELAXED);
    test_checks = test_failed = 0;
    opt.sh->current = -1;
    opt.sh->done++;
  }
  return last;
}

/* Fork a child for [first, last); it reports its checks through opt.sh
 * item by item and exits 0.  Returns the wait status. */
static int
child_run (enum item_kind k, long first, long last, bool timed, bool quiet)
{
  fflush (stdout);
  fflush (stderr);
  opt.sh->finished = false;
  pid_t pid = fork ();
  if (pid == -1) {
    perror ("fork");
    exit (99);
  }
  if (pid == 0) {
    if (quiet) {
      int fd = open ("/dev/null", O_WRONLY);
      dup2 (fd, 2);
      dup2 (fd, 1);
    }
    run_items (k, first, last, timed);
    opt.sh->finished = true;
    fflush (stdout);
    exit (0);                     /* LeakSanitizer checks here */
  }
  int status;
  while (waitpid (pid, &status, 0) == -1)
    if (errno != EINTR) {
      perror ("waitpid");
      exit (99);
    }
  return status;
}

/* The child got to its exit() and nothing objected on the way out. */
static bool
clean_exit (int status)
{
  return opt.sh->finished && WIFEXITED (status) && WEXITSTATUS (status) == 0;
}

static void
describe (int status, char *buf, size_t n)
{
  if (WIFSIGNALED (status))
    snprintf (buf, n, "killed by signal %d (%s)", WTERMSIG (status),
              strsignal (WTERMSIG (status)));
  else
    snprintf (buf, n, "exit status %d", WEXITSTATUS (status));
}

static void
parent_failure (const char *fmt, ...) __attribute__ ((format (printf, 1, 2)));

static void
parent_failure (const char *fmt, ...)
{
  va_list ap;
  char msg[512];
  va_start (ap, fmt);
  vsnprintf (msg, sizeof msg, fmt, ap);
  va_end (ap);
  test_count ();
  test_report (__FILE__, __LINE__, "%s", msg);
  opt.crashes++;
}

/* The items of [first, last) all completed, but the child died at exit:
 * a leak report.  Halve the range until one item is left. */
static void
find_leak (enum item_kind k, long first, long last)
{
  char label[160], repro[160];

  while (last - first > 1) {
    long mid = first + (last - first) / 2;
    opt.sh->current = -1;
    if (!clean_exit (child_run (k, first, mid, false, true)))
      last = mid;
    else
      first = mid;
  }
  item_label (k, first, label, sizeof label);
  item_repro (k, first, repro, sizeof repro);
  fprintf (stderr, "*** the sanitizer's exit-time report (a leak) comes from %s:\n", label);
  child_run (k, first, first + 1, false, false);
  parent_failure ("leak (or exit-time sanitizer report) in %s; reproduce with: "
                  "fuzz-server %s", label, repro);
}

/* Run [first, last) in children: a crash costs only its own item. */
static void
supervise (enum item_kind k, long first, long last, bool timed)
{
  long next = first;
  char label[160], repro[160], how[96];

  if (!opt.fork) {
    run_items (k, first, last, timed);
    return;
  }
  /* (run_items moved this process's counters to opt.sh as it went.) */
  while (next < last && !opt.sh->out_of_time) {
    opt.sh->current = -1;
    long done_before = opt.sh->done;
    int status = child_run (k, next, last, timed, false);
    long ran = opt.sh->done - done_before;
    if (clean_exit (status))
      return;
    describe (status, how, sizeof how);
    if (opt.sh->finished || opt.sh->current == -1) {
      /* Every item finished: the report came at exit. */
      find_leak (k, next, next + ran);
      return;
    }
    long bad = opt.sh->current;
    item_label (k, bad, label, sizeof label);
    item_repro (k, bad, repro, sizeof repro);
    parent_failure ("%s: the child was %s%s; reproduce with: fuzz-server %s --dump",
                    label, how,
                    WIFSIGNALED (status) && WTERMSIG (status) == SIGALRM
                    ? " (hung inside a library call)" : "", repro);
    opt.sh->st.runs++;
    opt.sh->st.failed++;
    next = bad + 1;
  }
}

static void
print_stats (const char *what, const struct fz_stats *st, double secs)
{
  printf ("%s: %lu runs in %.1f s; %lu reached ready, %lu ended dead, %lu closed; "
          "%lu unmutated; %lu mutations applied; %lu hung; %lu failed\n",
          what, st->runs, secs, st->ready, st->dead, st->closed, st->unmutated,
          st->mutations, st->hung, st->failed);
}

/* This program's own option. */
static bool
take_own_option (int argc, char *argv[], int *i)
{
  (void) argc;
  if (strcmp (argv[*i], "--no-fork") == 0) {
    opt.fork = false;
    return true;
  }
  return false;
}

int
main (int argc, char *argv[])
{
  int status = fz_cli_parse (&cli, argc, argv, take_own_option, "[--no-fork]");

  if (status >= 0)
    return status;
  setvbuf (stdout, NULL, _IOLBF, 0);
  fz_install_crash_handler ();
  opt.sh = mmap (NULL, sizeof *opt.sh, PROT_READ | PROT_WRITE,
                 MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  if (opt.sh == MAP_FAILED) {
    perror ("mmap");
    return 99;
  }
  /* A lone item runs in this process: simplest under a debugger. */
  if (cli.only_case || cli.only != ULONG_MAX)
    opt.fork = false;

  if (cli.do_corpus) {
    long first = 0, last = (long) fz_corpus_count;
    if (cli.only_case) {
      for (first = 0; first < (long) fz_corpus_count; first++)
        if (strcmp (cli.only_case, fz_corpus[first].name) == 0)
          break;
      if (first == (long) fz_corpus_count) {
        fprintf (stderr, "no corpus case %s (try --case list)\n", cli.only_case);
        return 2;
      }
      last = first + 1;
    }
    opt.t0 = fz_now_ms ();
    opt.sh->st = (struct fz_stats) { 0 };
    supervise (K_CORPUS, first, last, false);
    print_stats ("corpus", &opt.sh->st, (fz_now_ms () - opt.t0) / 1000.0);
  }

  if (cli.do_random) {
    opt.t0 = fz_now_ms ();
    opt.sh->st = (struct fz_stats) { 0 };
    opt.sh->out_of_time = false;
    if (cli.only != ULONG_MAX)
      supervise (K_RANDOM, cli.only, cli.only + 1, false);
    else
      supervise (K_RANDOM, 0, cli.iterations, true);
    if (opt.sh->out_of_time)
      printf ("time budget of %.0f s reached\n", cli.time_budget);
    printf ("seed %#" PRIx64 ": ", cli.seed);
    print_stats ("random", &opt.sh->st, (fz_now_ms () - opt.t0) / 1000.0);
  }
  test_checks += opt.sh->checks;
  test_failed += opt.sh->failed;
  return test_exit ();
}

