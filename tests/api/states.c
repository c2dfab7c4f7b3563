/* Handle-state rules seen from the created state, for every call limited
 * to some states (the table in calls.h):
 *  - a call permitted in the created state is accepted there: setters
 *    succeed; a connect may fail (nothing listens) but never for the
 *    state (ENOTCONN);
 *  - a call not permitted there fails with ENOTCONN and a message naming
 *    it, leaves the handle created, and runs the .free of each closure
 *    it was given exactly once;
 *  - a call that waits for the server (reentrant = NO), made from a
 *    callback running on the same handle, fails with EDEADLK instead of
 *    deadlocking, and frees its closures once.
 * The other states are covered by wrong-state.c (with nbdkit), and
 * tests/diff compares much of this with libnbd.
 *
 * TODO, not yet covered anywhere:
 *  - calls permitted in negotiating/connected/closed, checked there for
 *    their effect rather than only the refusals (the interop and data
 *    suites do much of it);
 *  - defaults visible only through nbd_connect_uri (not in the table
 *    yet): uri_allow_transports (all), uri_allow_tls (ALLOW),
 *    uri_allow_local_file (off), uri_allow_tls_priority (off);
 *  - that tls_certificates and tls_psk_file start unset, once TLS lands;
 *  - pread_initialize clearing the buffer of a read the server fails
 *    (the refused-for-state case is compared with libnbd in tests/diff);
 *  - EDEADLK from completion callbacks (only debug callbacks so far).
 */
#include "calls.h"

static void
created_state (const struct row *r)
{
  struct nbd_handle *h = test_create ();
  int64_t ret;

  frees = 0;
  ret = r->invoke (h);
  if (r->states & ST_CREATED) {
    if (strncmp (r->name, "nbd_set_", 8) == 0 ||
        strstr (r->name, "meta_context")) {
      if (ret != 0)
        fprintf (stderr, "%s refused in the created state\n", r->name);
      CHECK_INT (ret, 0);
      CHECK_INT (nbd_aio_is_created (h), 1);
    }
    else if (ret == -1) {
      /* A connect that failed: for want of a server, not of a state. */
      if (nbd_get_errno () == ENOTCONN || nbd_get_errno () == 0)
        fprintf (stderr, "%s: errno %d in the created state\n", r->name,
                 nbd_get_errno ());
      CHECK (nbd_get_errno () != ENOTCONN && nbd_get_errno () != 0);
      CHECK (test_starts_with (nbd_get_error (), r->name));
    }
  }
  else {
    if (ret != -1)
      fprintf (stderr, "%s accepted in the created state\n", r->name);
    CHECK_INT (ret, -1);
    if (ret == -1)
      test_check_error (__FILE__, __LINE__, r->name, ENOTCONN, r->name);
    CHECK_INT (nbd_aio_is_created (h), 1);
  }
  if (frees != r->closures)
    fprintf (stderr, "%s: %d closures freed, expected %d\n", r->name, frees,
             r->closures);
  CHECK_INT (frees, r->closures);
  nbd_close (h);
}

/* From inside the debug callback, call the row's function once. */
static const struct row *nested_row;
static struct nbd_handle *nested_h;
static int nested_depth, nested_calls, nested_errno, nested_prefix_ok;
/* nested_calls: how many times the row's call was made (once). */
static int64_t nested_ret;

static int
nested_cb (void *opaque, const char *context, const char *msg)
{
  char prefix[128];

  (void) opaque; (void) context; (void) msg;
  if (nested_depth++ == 0 && nested_calls == 0) {
    nested_calls++;
    nested_ret = nested_row->invoke (nested_h);
    nested_errno = nbd_get_errno ();
    snprintf (prefix, sizeof prefix, "%s: ", nested_row->name);
    nested_prefix_ok = test_starts_with (nbd_get_error (), prefix);
  }
  nested_depth--;
  return 0;
}

static void
from_callback (const struct row *r)
{
  nested_h = test_create ();
  nested_row = r;
  nested_calls = 0;
  frees = 0;
  CHECK_INT (nbd_set_debug_callback (nested_h, ((nbd_debug_callback) {
          .callback = nested_cb })), 0);
  CHECK_INT (nbd_set_debug (nested_h, true), 0);
  CHECK_INT (nbd_get_tls (nested_h), LIBNBD_TLS_DISABLE);   /* a message */
  CHECK_INT (nbd_set_debug (nested_h, false), 0);
  CHECK_INT (nested_calls, 1);
  if (nested_ret != -1 || nested_errno != EDEADLK)
    fprintf (stderr, "%s from a callback: ret %" PRId64 ", errno %d\n",
             r->name, nested_ret, nested_errno);
  CHECK_INT (nested_ret, -1);
  CHECK_INT (nested_errno, EDEADLK);
  CHECK (nested_prefix_ok);
  CHECK_INT (frees, r->closures);
  CHECK_INT (nbd_aio_is_created (nested_h), 1);
  nbd_close (nested_h);
}

int
main (void)
{
  unsigned deadlock_rows = 0, state_rows = 0;

  unsetenv ("LIBNBD_DEBUG");
  calls_init ();
  for (size_t i = 0; i < NROWS; i++) {
    if (rows[i].states != ST_ANY) {
      created_state (&rows[i]);
      state_rows++;
    }
    if (!rows[i].reentrant) {
      from_callback (&rows[i]);
      deadlock_rows++;
    }
  }
  printf ("%u calls checked in the created state, %u from a callback\n",
          state_rows, deadlock_rows);
  return test_exit ();
}
