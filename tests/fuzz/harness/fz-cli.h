/* The command line both supervisors (fuzz-server, fuzz-engine) take. */
#ifndef FZ_CLI_H
#define FZ_CLI_H

#include <stdbool.h>
#include <stdint.h>

struct fz_cli {
  uint64_t seed;                /* base seed of the random iterations */
  unsigned long iterations;     /* random iterations at most ... */
  double time_budget;           /* ... and seconds at most */
  unsigned long only;           /* one random iteration, or ULONG_MAX */
  const char *only_case;        /* one corpus case, "list", or NULL */
  bool do_corpus, do_random;
  bool dump, verbose;
};

/* Parse the command line: the shared options, and the program's own
 * through take_own (true when argv[*i] was one of them; it moves *i past
 * a value it takes), described by own_usage for the usage line.  -1 to
 * go on; otherwise the exit status, after --help, --case list or a
 * mistake has been answered. */
int fz_cli_parse (struct fz_cli *c, int argc, char *argv[],
                  bool (*take_own) (int argc, char *argv[], int *i),
                  const char *own_usage);

#endif
