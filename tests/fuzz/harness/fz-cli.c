/* The shared command line options of the supervisors. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fz-cli.h"
#include "fz-corpus.h"

/* An option without a value. */
static bool
take_flag (struct fz_cli *c, const char *a)
{
  if (strcmp (a, "--no-corpus") == 0)
    c->do_corpus = false;
  else if (strcmp (a, "--no-random") == 0)
    c->do_random = false;
  else if (strcmp (a, "--dump") == 0)
    c->dump = true;
  else if (strcmp (a, "--verbose") == 0)
    c->verbose = true;
  else
    return false;
  return true;
}

/* An option with the value v. */
static bool
take_valued (struct fz_cli *c, const char *a, const char *v)
{
  if (strcmp (a, "--seed") == 0)
    c->seed = strtoull (v, NULL, 0);
  else if (strcmp (a, "--iterations") == 0)
    c->iterations = strtoul (v, NULL, 0);
  else if (strcmp (a, "--time") == 0)
    c->time_budget = strtod (v, NULL);
  else if (strcmp (a, "--only") == 0)
    c->only = strtoul (v, NULL, 0);
  else if (strcmp (a, "--case") == 0) {
    c->only_case = v;
    c->do_random = false;
  }
  else
    return false;
  return true;
}

/* One of the shared options: take it (and its value). */
static bool
take_shared (struct fz_cli *c, int argc, char *argv[], int *i)
{
  if (take_flag (c, argv[*i]))
    return true;
  if (*i + 1 < argc && take_valued (c, argv[*i], argv[*i + 1])) {
    (*i)++;
    return true;
  }
  return false;
}

static void
usage (FILE *f, const char *prog, const char *own_usage)
{
  fprintf (f, "usage: %s [--seed N] [--iterations N] [--time S] [--only I]\n"
           "       [--case NAME|list] [--no-corpus] [--no-random] %s\n"
           "       [--dump] [--verbose]\n", prog, own_usage);
}

int
fz_cli_parse (struct fz_cli *c, int argc, char *argv[],
              bool (*take_own) (int argc, char *argv[], int *i),
              const char *own_usage)
{
  for (int i = 1; i < argc; i++) {
    if (take_shared (c, argc, argv, &i) || take_own (argc, argv, &i))
      continue;
    if (strcmp (argv[i], "--help") == 0) {
      usage (stdout, argv[0], own_usage);
      return 0;
    }
    usage (stderr, argv[0], own_usage);
    return 2;
  }
  if (c->only_case && strcmp (c->only_case, "list") == 0) {
    for (size_t k = 0; k < fz_corpus_count; k++)
      printf ("%s\n", fz_corpus[k].name);
    return 0;
  }
  return -1;
}
