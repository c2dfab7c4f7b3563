/* The hand-written corpus of the hostile-server harness.  A case is a
 * base configuration (client settings, server personality, commands),
 * a tamper hook that rewrites one message the server sends (none for a
 * valid transcript, which must then work exactly), and what the client
 * must at least do. */
#ifndef FZ_CORPUS_H
#define FZ_CORPUS_H

#include <stddef.h>

#include "fz-iter.h"

struct fz_corpus_case {
  const char *name;
  void (*setup) (struct fz_iter *);
  fz_tamper_fn tamper;
  enum fz_expect expect;
};

extern const struct fz_corpus_case fz_corpus[];
extern const size_t fz_corpus_count;

/* Fill in iteration it as corpus case i (its RNG seeded from the name). */
void fz_corpus_prepare (struct fz_iter *it, size_t i);

/* After the run: the case's hook found its message. */
void fz_corpus_check (struct fz_iter *it, size_t i);

#endif
