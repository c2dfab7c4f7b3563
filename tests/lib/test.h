/* Shared helpers for fastnbd's C tests (code in test.c, built once as
 * the static library tests/lib/libnbdtest.a).
 *
 * Every check is non-fatal: a failed check prints file:line, what was
 * wrong, and the thread's last libnbd error, then the test carries on so
 * that one run reports every problem.  End main() with
 * `return test_exit ();`, which prints a summary and returns the exit
 * status meson expects (0 pass, 1 fail, 77 skip).
 *
 * There is one check primitive, CHECK_MSG (condition, printf-format,
 * ...): every other CHECK_* macro here, and the checks other test
 * helpers define (the fuzz harness's ICHECK, interop's), is a spelling
 * of it.
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

/* Counters shared by all checks of one test program (updated
 * atomically: a few tests check from several threads). */
extern unsigned test_checks, test_failed;

/* Count a failure: print file:line and the message, then the thread's
 * last libnbd error. */
void test_report (const char *file, int line, const char *fmt, ...)
  __attribute__ ((format (printf, 3, 4)));

/* Count one check. */
void test_count (void);

/* Count one check; when !ok, report it.  Returns ok. */
bool test_check_at (bool ok, const char *file, int line, const char *fmt, ...)
  __attribute__ ((format (printf, 4, 5)));

/* Print the summary; the value to return from main. */
int test_exit (void);

/* Skip the whole program (meson counts exit code 77 as skipped). */
#define TEST_SKIP(...)                                   \
  do {                                                   \
    printf ("SKIP: ");                                   \
    printf (__VA_ARGS__);                                \
    printf ("\n");                                       \
    exit (77);                                           \
  } while (0)

/* The check: a condition, and what to print when it is false. */
#define CHECK_MSG(cond, ...) \
  ((void) test_check_at ((cond) ? true : false, __FILE__, __LINE__, __VA_ARGS__))

/* A plain condition. */
#define CHECK(cond) CHECK_MSG ((cond), "%s", #cond)

/* Two integers (any integer type up to 64 bits) must be equal. */
#define CHECK_INT(expr, want)                                           \
  do {                                                                  \
    int64_t got_ = (int64_t) (expr), want_ = (int64_t) (want);          \
    CHECK_MSG (got_ == want_, "%s is %" PRId64 ", expected %" PRId64,   \
               #expr, got_, want_);                                     \
  } while (0)

/* A call returning int/int64 must succeed (not -1). */
#define CHECK_OK(expr)                                                  \
  do {                                                                  \
    int64_t got_ = (int64_t) (expr);                                    \
    CHECK_MSG (got_ != -1, "%s failed", #expr);                         \
  } while (0)

/* A const string result (NULL allowed as `want`). */
#define CHECK_STR(expr, want) \
  test_check_str ((expr), (want), #expr, __FILE__, __LINE__)

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
    bool did_fail_ = (expr) == (failed);                                \
    CHECK_MSG (did_fail_, "%s did not fail", #expr);                    \
    if (did_fail_)                                                      \
      test_check_error (__FILE__, __LINE__, #expr, (err), (fn));        \
  } while (0)

/* The usual case: an int / int64 / ssize_t call failing with -1. */
#define CHECK_FAIL(expr, err, fn) CHECK_FAIL_AS ((expr), -1, (err), (fn))

/* A call returning a pointer, failing with NULL (a non-NULL result is
 * freed). */
#define CHECK_FAIL_NULL(expr, err, fn)                                  \
  do {                                                                  \
    void *p_ = (void *) (expr);                                         \
    CHECK_MSG (p_ == NULL, "%s did not fail", #expr);                   \
    if (p_ == NULL)                                                     \
      test_check_error (__FILE__, __LINE__, #expr, (err), (fn));        \
    free (p_);                                                          \
  } while (0)

/* Both NULL, or equal strings. */
bool test_str_eq (const char *a, const char *b);

/* s is not NULL and begins with prefix. */
bool test_starts_with (const char *s, const char *prefix);

/* CHECK_STR's body: got must equal want (either may be NULL). */
void test_check_str (const char *got, const char *want, const char *what,
                     const char *file, int line);

/* The thread's last error must have errno err and a message starting
 * with "fn: " (reported, not counted: the caller counted the check). */
void test_check_error (const char *file, int line, const char *what,
                       int err, const char *fn);

/* A string of n copies of c (caller frees); exits when out of memory. */
char *test_repeat (char c, size_t n);

/* nbd_create, or exit: nothing can be tested without a handle. */
struct nbd_handle *test_create (void);

#endif
