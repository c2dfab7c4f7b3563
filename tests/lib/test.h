/* Shared helpers for fastnbd's C tests.
 *
 * Every check is non-fatal: a failed check prints file:line, the
 * expression, and the thread's last libnbd error, then the test carries
 * on so that one run reports every problem.  End main() with
 * `return test_exit ();`, which prints a summary and returns the exit
 * status meson expects (0 pass, 1 fail, 77 skip).
 *
 * Include this header instead of <libnbd.h>: the tests pass NULL to
 * parameters the header marks nonnull, on purpose, so the attribute is
 * switched off here (the library compiles its entry points the same way).
 */
#ifndef FASTNBD_TEST_H
#define FASTNBD_TEST_H

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define LIBNBD_ATTRIBUTE_NONNULL(...)
#include <libnbd.h>

/* Counters shared by all checks of one test program.  Atomic, because a
 * few tests check from several threads. */
static unsigned test_checks, test_failed;

static void
test_report (const char *file, int line, const char *fmt, ...)
  __attribute__ ((format (printf, 3, 4)));

static void
test_report (const char *file, int line, const char *fmt, ...)
{
  va_list ap;
  const char *err = nbd_get_error ();

  __atomic_add_fetch (&test_failed, 1, __ATOMIC_RELAXED);
  fprintf (stderr, "%s:%d: FAIL: ", file, line);
  va_start (ap, fmt);
  vfprintf (stderr, fmt, ap);
  va_end (ap);
  fprintf (stderr, "\n    (nbd_get_error: %s; nbd_get_errno: %d)\n",
           err ? err : "NULL", nbd_get_errno ());
}

static inline void
test_count (void)
{
  __atomic_add_fetch (&test_checks, 1, __ATOMIC_RELAXED);
}

/* Print the summary; the value to return from main. */
static inline int
test_exit (void)
{
  printf ("%u checks, %u failed\n", test_checks, test_failed);
  return test_failed ? 1 : 0;
}

/* Skip the whole program (meson counts exit code 77 as skipped). */
#define TEST_SKIP(...)                                   \
  do {                                                   \
    printf ("SKIP: ");                                   \
    printf (__VA_ARGS__);                                \
    printf ("\n");                                       \
    exit (77);                                           \
  } while (0)

/* A plain condition. */
#define CHECK(cond)                                                     \
  do {                                                                  \
    test_count ();                                                      \
    if (!(cond))                                                        \
      test_report (__FILE__, __LINE__, "%s", #cond);                    \
  } while (0)

/* Two integers (any integer type up to 64 bits) must be equal. */
#define CHECK_INT(expr, want)                                           \
  do {                                                                  \
    int64_t got_ = (int64_t) (expr), want_ = (int64_t) (want);          \
    test_count ();                                                      \
    if (got_ != want_)                                                  \
      test_report (__FILE__, __LINE__, "%s is %" PRId64 ", expected %"  \
                   PRId64, #expr, got_, want_);                         \
  } while (0)

/* A call returning int/int64 must succeed (not -1). */
#define CHECK_OK(expr)                                                  \
  do {                                                                  \
    int64_t got_ = (int64_t) (expr);                                    \
    test_count ();                                                      \
    if (got_ == -1)                                                     \
      test_report (__FILE__, __LINE__, "%s failed", #expr);             \
  } while (0)

/* A const string result (NULL allowed as `want`). */
#define CHECK_STR(expr, want)                                           \
  do {                                                                  \
    const char *got_ = (expr), *want_ = (want);                         \
    test_count ();                                                      \
    if (!test_str_eq (got_, want_))                                     \
      test_report (__FILE__, __LINE__, "%s is %s%s%s, expected %s%s%s", \
                   #expr, got_ ? "\"" : "", got_ ? got_ : "NULL",       \
                   got_ ? "\"" : "", want_ ? "\"" : "",                 \
                   want_ ? want_ : "NULL", want_ ? "\"" : "");          \
  } while (0)

/* A call returning a malloc'd string the caller frees: compare, free. */
#define CHECK_STR_FREE(expr, want)                                      \
  do {                                                                  \
    char *owned_ = (expr);                                              \
    CHECK_STR (owned_, (want));                                         \
    free (owned_);                                                      \
  } while (0)

/* `failed` is the call's error return (the expression is evaluated once
 * and compared with it); the call must set errno `err` and a message
 * starting with "fn: ". */
#define CHECK_FAIL_AS(expr, failed, err, fn)                            \
  do {                                                                  \
    test_count ();                                                      \
    if (!((expr) == (failed)))                                          \
      test_report (__FILE__, __LINE__, "%s did not fail", #expr);       \
    else                                                                \
      test_check_error (__FILE__, __LINE__, #expr, (err), (fn));        \
  } while (0)

/* The usual case: an int / int64 / ssize_t call failing with -1. */
#define CHECK_FAIL(expr, err, fn) CHECK_FAIL_AS ((expr), -1, (err), (fn))

/* A call returning a pointer, failing with NULL. */
#define CHECK_FAIL_NULL(expr, err, fn)                                  \
  do {                                                                  \
    void *p_ = (void *) (expr);                                         \
    test_count ();                                                      \
    if (p_ != NULL) {                                                   \
      test_report (__FILE__, __LINE__, "%s did not fail", #expr);       \
      free (p_);                                                        \
    }                                                                   \
    else                                                                \
      test_check_error (__FILE__, __LINE__, #expr, (err), (fn));        \
  } while (0)

static inline bool
test_str_eq (const char *a, const char *b)
{
  if (a == NULL || b == NULL)
    return a == b;
  return strcmp (a, b) == 0;
}

static inline bool
test_starts_with (const char *s, const char *prefix)
{
  return s != NULL && strncmp (s, prefix, strlen (prefix)) == 0;
}

static inline void
test_check_error (const char *file, int line, const char *what,
                  int err, const char *fn)
{
  const char *msg = nbd_get_error ();
  int got = nbd_get_errno ();
  char prefix[256];

  snprintf (prefix, sizeof prefix, "%s: ", fn);
  if (got != err)
    test_report (file, line, "%s: errno %d (%s), expected %d (%s)", what,
                 got, strerror (got), err, strerror (err));
  if (!test_starts_with (msg, prefix))
    test_report (file, line, "%s: error message does not start with \"%s\"",
                 what, prefix);
}

/* A string of n copies of c (caller frees). */
static inline char *
test_repeat (char c, size_t n)
{
  char *s = malloc (n + 1);
  if (s == NULL) {
    perror ("malloc");
    exit (99);
  }
  memset (s, c, n);
  s[n] = '\0';
  return s;
}

/* nbd_create, or exit: nothing can be tested without a handle. */
static inline struct nbd_handle *
test_create (void)
{
  struct nbd_handle *h = nbd_create ();
  if (h == NULL) {
    fprintf (stderr, "nbd_create: %s\n", nbd_get_error ());
    exit (99);
  }
  return h;
}

#endif
