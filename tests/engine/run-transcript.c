/* run-transcript: drive the protocol engine through byte transcripts
 * (tests/engine/transcripts/NAME.t, format in transcript.h), with no
 * socket, no process and no handle: the engine library alone.
 *
 * Every transcript runs three times, delivering the server's bytes
 *   lines  one rx line per delivery, received through up to 4 iovecs;
 *   bytes  one byte per nbdi_engine_rx_done, through 1 iovec, and the
 *          client's output taken back one byte per nbdi_engine_tx_done;
 *   whole  each run of consecutive rx lines as one delivery, 8 iovecs;
 * and each run must pass every tx and expect line.  The three runs must
 * then agree: the same bytes sent, the same closures called with the
 * same arguments in the same order, the same final state.
 *
 *   run-transcript [-v] [--mutate N [--seed S] [--mutate-only K]]
 *                  FILE-OR-DIRECTORY...
 *
 * Calls (call NAME ARGS):
 *   opt_go opt_info opt_list opt_sr opt_ext opt_starttls opt_abort
 *   opt_list_meta [QUERY...]  opt_set_meta [QUERY...]
 *   pread COUNT OFFSET [FLAGS]        no chunk callback
 *   pread_sr COUNT OFFSET [FLAGS]     with a chunk callback
 *   pwrite OFFSET FLAGS BYTES...
 *   flush [FLAGS]  trim|zero|cache COUNT OFFSET [FLAGS]
 *   block_status COUNT OFFSET [FLAGS]    32-bit extent callback
 *   block_status64 COUNT OFFSET [FLAGS]  64-bit extent callback
 *   disc  tls_done  abandon
 * Commands are numbered 1, 2, ... in the order of their call lines.
 *
 * Expectations (expect KEY=VALUE ..., or expect data=K BYTES...):
 *   state=CREATED|HANDSHAKING|NEGOTIATING|OPT_PENDING|READY|PROCESSING|
 *         CLOSED|DEAD
 *   error=ERRNO            the cause of death
 *   message=TEXT           ... and its message contains TEXT
 *   size=N eflags=N block=MIN:PREF:MAX name=TEXT|- description=TEXT|-
 *   structured=0|1 extended=0|1 tls=0|1 protocol=TEXT hsflags=N
 *   known=0|1              the export's size and flags were received
 *   opt_err=ERRNO|0|pending  opt_count=N
 *   server_msg=TEXT        the option's error text contains TEXT
 *   cmd=K err=ERRNO|0|pending   command K's completion (at most once)
 *   chunks=K:N             command K got N chunk or extent callbacks
 *   data=K BYTES...        command K's read buffer
 *   in_flight=N  unconsumed=N  event=TLS|DEAD|CLOSED|SHUT_WRITE
 *   noevent=...  metas=NAME:ID,...  meta_valid=0|1  items=N
 * (items counts list and context callbacks of the options.)
 */
#include "tr-run.h"

#include <dirent.h>
#include <inttypes.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

const char *const mode_name[M_COUNT] = { "lines", "bytes", "whole" };
static const int mode_iovs[M_COUNT] = { 4, 1, 8 };
bool verbose;

/* --mutate N: each transcript replayed N times with 1-3 mutations of the
 * server's bytes; expectations and tx lines are then ignored, calls are
 * made only in the states the API allows them, and the closures'
 * bookkeeping is checked (none called after its .free, completions at
 * most once, every .free exactly once, chunks
 * inside their request), under ASan when the build has it. */
static struct {
  unsigned long count;
  uint64_t seed;
  unsigned long replays;
  unsigned long only;        /* --mutate-only K: replay mutation K alone */
} mutate = { .seed = 0x5eed2024, .only = ULONG_MAX };

/* ---- moving bytes ---- */

static void
take_output (struct run *r)
{
  const struct iovec *iov;
  size_t n;

  while ((n = nbdi_engine_tx_plan (r->e, &iov)) > 0) {
    size_t total = 0;
    for (size_t i = 0; i < n; i++) {
      size_t want = iov[i].iov_len;
      if (r->mode == M_BYTES && want > 1)
        want = 1;
      append (&r->sent, &r->sent_len, &r->sent_cap, iov[i].iov_base, want);
      total += want;
      if (r->mode == M_BYTES && total)
        break;
    }
    if (total == 0)
      break;
    nbdi_engine_tx_done (r->e, total);
  }
}

/* Give the engine as much of the delivered bytes as it asks for. */
void
pump (struct run *r)
{
  for (;;) {
    struct iovec iov[8];
    int n;
    size_t done = 0;

    take_output (r);
    if (r->avail_len == 0)
      break;
    n = nbdi_engine_rx_plan (r->e, iov, mode_iovs[r->mode], NULL);
    if (n <= 0)
      break;
    for (int i = 0; i < n && done < r->avail_len; i++) {
      size_t k = iov[i].iov_len;
      if (k > r->avail_len - done)
        k = r->avail_len - done;
      if (r->mode == M_BYTES && k > 1)
        k = 1;
      memcpy (iov[i].iov_base, r->avail + done, k);
      done += k;
      if (r->mode == M_BYTES)
        break;
    }
    if (done == 0)
      break;
    memmove (r->avail, r->avail + done, r->avail_len - done);
    r->avail_len -= done;
    nbdi_engine_rx_done (r->e, done);
  }
  take_output (r);
}


/* ---- one run ---- */

static void
tx_line (struct run *r, const struct tr_line *l)
{
  if (!ensure_started (r, l->lineno))
    return;
  pump (r);
  size_t have = r->sent_len - r->sent_checked;
  const uint8_t *got = r->sent + r->sent_checked;
  if (have < l->len || (l->len && memcmp (got, l->bytes, l->len) != 0)) {
    fail (r, l->lineno, "the client sent other bytes");
    fprintf (stderr, "    expected ");
    hex (stderr, l->bytes, l->len);
    fprintf (stderr, "\n    got      ");
    hex (stderr, got, have);
    fprintf (stderr, "\n");
    r->sent_checked = r->sent_len;
  }
  else
    r->sent_checked += l->len;
}

static void
run_one (struct run *r)
{
  const struct transcript *t = r->t;

  default_config (&r->cfg);
  for (size_t i = 0; i < t->nlines; i++) {
    const struct tr_line *l = &t->lines[i];
    switch (l->kind) {
    case TR_CONFIG:
      if (r->e)
        fail (r, l->lineno, "config after the engine started");
      else
        config_line (r, l);
      break;
    case TR_RX:
      if (!ensure_started (r, l->lineno))
        return;
      append (&r->avail, &r->avail_len, &r->avail_cap, l->bytes, l->len);
      /* In the whole mode a run of rx lines is one delivery. */
      if (r->mode != M_WHOLE || i + 1 == t->nlines || t->lines[i + 1].kind != TR_RX)
        pump (r);
      break;
    case TR_TX:
      if (!r->mutated)
        tx_line (r, l);
      break;
    case TR_EOF:
      if (!ensure_started (r, l->lineno))
        return;
      pump (r);
      nbdi_engine_rx_eof (r->e);
      text_add (&r->log, "eof\n");
      pump (r);
      break;
    case TR_CALL:
      call_line (r, l);
      pump (r);
      break;
    case TR_EXPECT:
      if (!r->mutated)
        expect_line (r, l);
      break;
    }
  }
  if (!ensure_started (r, 0))
    return;
  pump (r);
  if (!r->mutated && r->sent_len != r->sent_checked) {
    fail (r, 0, "the client sent bytes no tx line expected:");
    fprintf (stderr, "    ");
    hex (stderr, r->sent + r->sent_checked, r->sent_len - r->sent_checked);
    fprintf (stderr, "\n");
  }
  r->final_state = nbdi_engine_state (r->e);
  text_add (&r->log, "final state %s", state_names[r->final_state]);
  if (r->final_state == NBDI_STATE_DEAD)
    text_add (&r->log, " errno %s", errno_name (nbdi_engine_dead_errno (r->e)));
  text_add (&r->log, "\n");
  /* Commands that never completed are released with .free only. */
  nbdi_engine_free (r->e);
  r->e = NULL;
  check_closures_freed (r);
}

static void
run_cleanup (struct run *r)
{
  free (r->avail);
  free (r->sent);
  free (r->log.p);
  for (int k = 1; k <= r->ncmds; k++)
    free (r->cmds[k].buf);
  free (r->cfg.export_name);
  nbdi_strlist_free (&r->cfg.meta_requests);
}

/* Run a transcript in every mode; the number of failures. */
static int
run_modes (const struct transcript *tp, bool mutated, const char *what)
{
  const struct transcript t = *tp;
  struct run *runs;
  int failures = 0;

  runs = calloc (M_COUNT, sizeof *runs);
  for (int m = 0; m < M_COUNT; m++) {
    runs[m].t = tp;
    runs[m].mode = m;
    runs[m].mutated = mutated;
    run_one (&runs[m]);
    failures += runs[m].failures;
  }
  /* A damaged transcript may have the server answer before the client's
   * request has left, and how far the request got then depends on how
   * finely the bytes were handed over: the runs need not agree. */
  for (int m = 1; m < M_COUNT && !mutated; m++) {
    const struct run *a = &runs[0], *b = &runs[m];
    if (a->sent_len != b->sent_len
        || (a->sent_len && memcmp (a->sent, b->sent, a->sent_len) != 0)) {
      fprintf (stderr, "%s: FAIL: the %s and %s runs sent different bytes\n",
               t.name, mode_name[0], mode_name[m]);
      fprintf (stderr, "    %s: ", mode_name[0]);
      hex (stderr, a->sent, a->sent_len);
      fprintf (stderr, "\n    %s: ", mode_name[m]);
      hex (stderr, b->sent, b->sent_len);
      fprintf (stderr, "\n");
      failures++;
    }
    if (a->log.len != b->log.len
        || (a->log.len && memcmp (a->log.p, b->log.p, a->log.len) != 0)) {
      fprintf (stderr, "%s: FAIL: the %s and %s runs differ:\n--- %s\n%.*s--- %s\n%.*s",
               t.name, mode_name[0], mode_name[m], mode_name[0], (int) a->log.len,
               a->log.p, mode_name[m], (int) b->log.len, b->log.p);
      failures++;
    }
  }
  if (verbose)
    fprintf (stderr, "%s:\n%.*s", t.name, (int) runs[0].log.len, runs[0].log.p);
  if (failures && what)
    fprintf (stderr, "%s: the failure above was %s\n", t.name, what);
  for (int m = 0; m < M_COUNT; m++)
    run_cleanup (&runs[m]);
  free (runs);
  return failures;
}


static uint64_t
splitmix (uint64_t *s)
{
  uint64_t z = (*s += UINT64_C(0x9e3779b97f4a7c15));
  z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
  z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
  return z ^ (z >> 31);
}

static uint32_t
below (uint64_t *s, uint32_t n)
{
  return n ? (uint32_t) (splitmix (s) >> 32) % n : 0;
}

/* One mutation of one rx line of t (a private copy). */
static void
mutate_line (struct transcript *t, uint64_t *rng)
{
  static const uint64_t boundary[] = {
    0, 1, 0x7f, 0x80, 0xff, 0xffff, 0x7fffffff, 0x80000000, 0xffffffff,
    UINT64_C(0xffffffffffffffff), UINT64_C(0x8000000000000000), 0x1000, 0x100000,
  };
  size_t rx[1024], n = 0;

  for (size_t i = 0; i < t->nlines && n < 1024; i++)
    if (t->lines[i].kind == TR_RX)
      rx[n++] = i;
  if (n == 0)
    return;
  struct tr_line *l = &t->lines[rx[below (rng, n)]];
  size_t len = l->len;
  switch (below (rng, 8)) {
  case 0:                       /* flip 1-4 bits */
    for (unsigned k = 1 + below (rng, 4); k && len; k--)
      l->bytes[below (rng, len)] ^= 1u << below (rng, 8);
    break;
  case 1: {                     /* a field set to a boundary value */
    int width = 1 << below (rng, 4);      /* 1, 2, 4, 8 */
    if (len >= (size_t) width) {
      size_t at = below (rng, len - width + 1);
      uint64_t v = boundary[below (rng, sizeof boundary / sizeof boundary[0])];
      for (int k = width - 1; k >= 0; k--, v >>= 8)
        l->bytes[at + k] = (uint8_t) v;
    }
    break;
  }
  case 2:                       /* truncated */
    l->len = below (rng, len + 1);
    break;
  case 3:                       /* dropped */
    l->len = 0;
    break;
  case 4:                       /* sent twice */
    l->bytes = tr_xrealloc (l->bytes, 2 * len);
    memcpy (l->bytes + len, l->bytes, len);
    l->len = 2 * len;
    break;
  case 5: {                     /* random bytes inserted */
    size_t k = 1 + below (rng, 8), at = below (rng, len + 1);
    l->bytes = tr_xrealloc (l->bytes, len + k);
    memmove (l->bytes + at + k, l->bytes + at, len - at);
    for (size_t j = 0; j < k; j++)
      l->bytes[at + j] = (uint8_t) below (rng, 256);
    l->len = len + k;
    break;
  }
  case 6:                       /* random bytes in place */
    for (size_t j = 0; j < len; j++)
      l->bytes[j] = (uint8_t) below (rng, 256);
    break;
  default:                      /* the server hangs up there */
    l->kind = TR_EOF;
    break;
  }
}

/* A copy of t whose rx lines can be changed. */
static void
copy_transcript (struct transcript *dst, const struct transcript *src)
{
  *dst = *src;
  dst->lines = tr_xrealloc (NULL, src->nlines * sizeof *dst->lines);
  for (size_t i = 0; i < src->nlines; i++) {
    dst->lines[i] = src->lines[i];
    if (src->lines[i].len) {
      dst->lines[i].bytes = tr_xrealloc (NULL, src->lines[i].len);
      memcpy (dst->lines[i].bytes, src->lines[i].bytes, src->lines[i].len);
    }
    else
      dst->lines[i].bytes = NULL;
  }
}

static void
free_copy (struct transcript *t)
{
  for (size_t i = 0; i < t->nlines; i++)
    free (t->lines[i].bytes);
  free (t->lines);
}


static int
run_transcript (const char *path)
{
  struct transcript t;
  int failures;

  if (tr_load (path, &t) == -1) {
    tr_free (&t);
    return 1;
  }
  if (mutate.count == 0) {
    failures = run_modes (&t, false, NULL);
    printf ("%s %s\n", failures ? "FAIL" : "ok  ", t.name);
  }
  else {
    uint64_t h = mutate.seed;
    failures = 0;
    for (const char *p = t.name; *p; p++)
      h = h * 131 + (unsigned char) *p;
    for (unsigned long k = 0; k < mutate.count; k++) {
      struct transcript m;
      uint64_t rng = h ^ (k * UINT64_C(0x9e3779b97f4a7c15));
      char what[128];
      copy_transcript (&m, &t);
      for (unsigned j = 1 + below (&rng, 3); j; j--)
        mutate_line (&m, &rng);
      snprintf (what, sizeof what, "mutation %lu (--mutate-only %lu --seed %#" PRIx64 ")",
                k, k, mutate.seed);
      if (mutate.only == ULONG_MAX || mutate.only == k)
        failures += run_modes (&m, true, what);
      mutate.replays++;
      free_copy (&m);
    }
    printf ("%s %s (%lu mutations)\n", failures ? "FAIL" : "ok  ", t.name, mutate.count);
  }
  tr_free (&t);
  return failures;
}

static int
compare_names (const void *a, const void *b)
{
  return strcmp (*(char *const *) a, *(char *const *) b);
}

/* Every *.t in a directory, in name order. */
static int
run_directory (const char *dir, int *count)
{
  DIR *d = opendir (dir);
  struct dirent *ent;
  char **names = NULL;
  size_t n = 0;
  int failed = 0;

  if (d == NULL) {
    perror (dir);
    return 1;
  }
  while ((ent = readdir (d)) != NULL) {
    size_t len = strlen (ent->d_name);
    if (len > 2 && strcmp (ent->d_name + len - 2, ".t") == 0) {
      names = tr_xrealloc (names, (n + 1) * sizeof *names);
      if (asprintf (&names[n++], "%s/%s", dir, ent->d_name) == -1)
        exit (99);
    }
  }
  closedir (d);
  qsort (names, n, sizeof *names, compare_names);
  for (size_t i = 0; i < n; i++) {
    failed += run_transcript (names[i]) != 0;
    (*count)++;
    free (names[i]);
  }
  free (names);
  return failed;
}

int
main (int argc, char *argv[])
{
  int failed = 0, count = 0;

  /* One line at a time, so that a long run killed early says how far
   * it got. */
  setvbuf (stdout, NULL, _IOLBF, 0);

  for (int i = 1; i < argc; i++) {
    if (strcmp (argv[i], "-v") == 0) {
      verbose = true;
      continue;
    }
    if (strcmp (argv[i], "--mutate") == 0 && i + 1 < argc) {
      mutate.count = strtoul (argv[++i], NULL, 0);
      continue;
    }
    if (strcmp (argv[i], "--mutate-only") == 0 && i + 1 < argc) {
      mutate.only = strtoul (argv[++i], NULL, 0);
      continue;
    }
    if (strcmp (argv[i], "--seed") == 0 && i + 1 < argc) {
      mutate.seed = strtoull (argv[++i], NULL, 0);
      continue;
    }
    DIR *d = opendir (argv[i]);
    if (d) {
      closedir (d);
      failed += run_directory (argv[i], &count);
    }
    else {
      failed += run_transcript (argv[i]) != 0;
      count++;
    }
  }
  printf ("%d transcripts, %d failed\n", count, failed);
  if (mutate.count) {
    struct timespec ts;
    clock_gettime (CLOCK_PROCESS_CPUTIME_ID, &ts);
    double cpu = ts.tv_sec + ts.tv_nsec / 1e9;
    printf ("%lu mutated replays (each fed in %d ways) in %.1f s CPU: %.0f per CPU second\n",
            mutate.replays, M_COUNT, cpu, cpu > 0 ? mutate.replays / cpu : 0);
  }
  return failed ? 1 : 0;
}

