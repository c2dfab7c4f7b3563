/* Small helpers of run-transcript: text logs, failures, errno and
 * state names, numbers and quoted values. */
#include "tr-run.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>

void
text_add (struct text *t, const char *fmt, ...)
{
  va_list ap;
  for (;;) {
    size_t room = t->cap - t->len;
    va_start (ap, fmt);
    int n = vsnprintf (t->p ? t->p + t->len : NULL, room, fmt, ap);
    va_end (ap);
    if (n < 0)
      return;
    if ((size_t) n < room) {
      t->len += n;
      return;
    }
    t->cap = (t->cap + n + 1) * 2;
    t->p = realloc (t->p, t->cap);
    if (t->p == NULL) {
      perror ("realloc");
      exit (99);
    }
  }
}


void
fail (struct run *r, int lineno, const char *fmt, ...)
{
  va_list ap;
  fprintf (stderr, "%s:%d: [%s] FAIL: ", r->t->name, lineno, mode_name[r->mode]);
  va_start (ap, fmt);
  vfprintf (stderr, fmt, ap);
  va_end (ap);
  fputc ('\n', stderr);
  r->failures++;
}


void
append (uint8_t **buf, size_t *len, size_t *cap, const void *p, size_t n)
{
  if (n == 0)
    return;
  if (*len + n > *cap) {
    *cap = (*len + n) * 2 + 64;
    *buf = tr_xrealloc (*buf, *cap);
  }
  memcpy (*buf + *len, p, n);
  *len += n;
}

void
hex (FILE *f, const uint8_t *p, size_t n)
{
  for (size_t i = 0; i < n && i < 96; i++)
    fprintf (f, "%02x", p[i]);
  if (n > 96)
    fprintf (f, "... (%zu bytes)", n);
}

/* ---- errno names ---- */

static const struct { const char *name; int value; } errnos[] = {
  { "0", 0 }, { "EPROTO", EPROTO }, { "EINVAL", EINVAL }, { "ENOTSUP", ENOTSUP },
  { "EPERM", EPERM }, { "ENOENT", ENOENT }, { "ESHUTDOWN", ESHUTDOWN },
  { "ERANGE", ERANGE }, { "EIO", EIO }, { "ENOTCONN", ENOTCONN },
  { "ENOMEM", ENOMEM }, { "EOVERFLOW", EOVERFLOW }, { "ENOSPC", ENOSPC },
  { "EFBIG", EFBIG }, { "ECONNRESET", ECONNRESET }, { "EBADMSG", EBADMSG },
  { "ESHUTDOWN", ESHUTDOWN }, { "EUCLEAN", EUCLEAN }, { "EAGAIN", EAGAIN },
  { "ECONNREFUSED", ECONNREFUSED }, { "EOPNOTSUPP", EOPNOTSUPP },
};

bool
parse_errno (const char *s, int *out)
{
  for (size_t i = 0; i < sizeof errnos / sizeof errnos[0]; i++)
    if (strcmp (s, errnos[i].name) == 0) {
      *out = errnos[i].value;
      return true;
    }
  char *end;
  long v = strtol (s, &end, 0);
  if (*s && *end == '\0') {
    *out = (int) v;
    return true;
  }
  return false;
}

const char *
errno_name (int v)
{
  static char buf[16];
  for (size_t i = 0; i < sizeof errnos / sizeof errnos[0]; i++)
    if (errnos[i].value == v)
      return errnos[i].name;
  snprintf (buf, sizeof buf, "%d", v);
  return buf;
}

const char *const state_names[] = {
#define X(name, group, text) #name,
  NBDI_STATES (X)
#undef X
};

bool
parse_u64 (const char *s, uint64_t *v)
{
  char *end;
  errno = 0;
  *v = strtoull (s, &end, 0);
  return *s && *end == '\0' && errno == 0;
}

/* "TEXT" or TEXT: the value with its quotes removed (static buffer). */
const char *
unquote (const char *s)
{
  static char buf[4096];
  size_t n = strlen (s);
  if (n >= 2 && s[0] == '"' && s[n - 1] == '"') {
    snprintf (buf, sizeof buf, "%.*s", (int) (n - 2), s + 1);
    return buf;
  }
  return s;
}

