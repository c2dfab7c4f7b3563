/* The shared test helpers declared in test.h. */
#include "test.h"

/* Programs that drive the protocol engine alone (tests/engine, the
 * in-process fuzzer) link no libnbd: there is then no libnbd error to
 * print, and these weak references stay NULL. */
#pragma weak nbd_get_error
#pragma weak nbd_get_errno
#pragma weak nbd_create

unsigned test_checks, test_failed;

static void
test_vreport (const char *file, int line, const char *fmt, va_list ap)
{
  __atomic_add_fetch (&test_failed, 1, __ATOMIC_RELAXED);
  fprintf (stderr, "%s:%d: FAIL: ", file, line);
  vfprintf (stderr, fmt, ap);
  if (nbd_get_error) {
    const char *err = nbd_get_error ();
    fprintf (stderr, "\n    (nbd_get_error: %s; nbd_get_errno: %d)",
             err ? err : "NULL", nbd_get_errno ());
  }
  fputc ('\n', stderr);
}

void
test_report (const char *file, int line, const char *fmt, ...)
{
  va_list ap;

  va_start (ap, fmt);
  test_vreport (file, line, fmt, ap);
  va_end (ap);
}

void
test_count (void)
{
  __atomic_add_fetch (&test_checks, 1, __ATOMIC_RELAXED);
}

bool
test_check_at (bool ok, const char *file, int line, const char *fmt, ...)
{
  va_list ap;

  test_count ();
  if (!ok) {
    va_start (ap, fmt);
    test_vreport (file, line, fmt, ap);
    va_end (ap);
  }
  return ok;
}

int
test_exit (void)
{
  printf ("%u checks, %u failed\n", test_checks, test_failed);
  return test_failed ? 1 : 0;
}

bool
test_str_eq (const char *a, const char *b)
{
  if (a == NULL || b == NULL)
    return a == b;
  return strcmp (a, b) == 0;
}

bool
test_starts_with (const char *s, const char *prefix)
{
  return s != NULL && strncmp (s, prefix, strlen (prefix)) == 0;
}

void
test_check_str (const char *got, const char *want, const char *what,
                const char *file, int line)
{
  test_check_at (test_str_eq (got, want), file, line,
                 "%s is %s%s%s, expected %s%s%s", what,
                 got ? "\"" : "", got ? got : "NULL", got ? "\"" : "",
                 want ? "\"" : "", want ? want : "NULL", want ? "\"" : "");
}

void
test_check_error (const char *file, int line, const char *what,
                  int err, const char *fn)
{
  const char *msg = nbd_get_error ? nbd_get_error () : NULL;
  int got = nbd_get_errno ? nbd_get_errno () : 0;
  char prefix[256];

  snprintf (prefix, sizeof prefix, "%s: ", fn);
  if (got != err)
    test_report (file, line, "%s: errno %d (%s), expected %d (%s)", what,
                 got, strerror (got), err, strerror (err));
  if (!test_starts_with (msg, prefix))
    test_report (file, line, "%s: error message does not start with \"%s\"",
                 what, prefix);
}

char *
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

struct nbd_handle *
test_create (void)
{
  struct nbd_handle *h = nbd_create ? nbd_create () : NULL;

  if (h == NULL) {
    fprintf (stderr, "nbd_create: %s\n", nbd_get_error ());
    exit (99);
  }
  return h;
}
