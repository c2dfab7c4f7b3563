/* Debug output: LIBNBD_DEBUG, nbd_set_debug, the debug callback and the
 * lifetime of its closure (.free runs exactly once). */
#include "test.h"

struct log {
  int calls, frees;
  int bad_context;              /* messages whose context is not nbd_* */
  int saw[8];                   /* messages from the names in `want` */
  const char *want[8];
};

static int
log_cb (void *opaque, const char *context, const char *msg)
{
  struct log *l = opaque;

  l->calls++;
  if (context == NULL || msg == NULL || !test_starts_with (context, "nbd_"))
    l->bad_context++;
  for (int i = 0; i < 8 && l->want[i]; i++)
    if (context && strcmp (context, l->want[i]) == 0)
      l->saw[i]++;
  return 0;
}

static void
log_free (void *opaque)
{
  struct log *l = opaque;
  l->frees++;
}

static nbd_debug_callback
closure (struct log *l)
{
  return (nbd_debug_callback) {
    .callback = log_cb, .user_data = l, .free = log_free,
  };
}

static void
environment (void)
{
  static const struct { const char *value; int on; } cases[] = {
    { "1", 1 }, { "0", 0 }, { "", 0 }, { "yes", 0 }, { "11", 0 },
    { "1 ", 0 }, { "true", 0 },
  };
  struct nbd_handle *h;

  unsetenv ("LIBNBD_DEBUG");
  h = test_create ();
  CHECK_INT (nbd_get_debug (h), 0);
  nbd_close (h);

  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    struct log l = { .want = { "nbd_close" } };
    setenv ("LIBNBD_DEBUG", cases[i].value, 1);
    h = test_create ();
    CHECK_INT (nbd_set_debug_callback (h, closure (&l)), 0);
    if (nbd_get_debug (h) != cases[i].on)
      fprintf (stderr, "LIBNBD_DEBUG=\"%s\"\n", cases[i].value);
    CHECK_INT (nbd_get_debug (h), cases[i].on);
    nbd_close (h);
    /* nbd_close itself reports to the callback while debug is on. */
    CHECK_INT (l.saw[0] > 0, cases[i].on);
    CHECK_INT (l.frees, 1);
  }
  unsetenv ("LIBNBD_DEBUG");

  /* The variable is read at nbd_create, not later. */
  h = test_create ();
  setenv ("LIBNBD_DEBUG", "1", 1);
  CHECK_INT (nbd_get_debug (h), 0);
  unsetenv ("LIBNBD_DEBUG");
  nbd_close (h);
}

static void
messages (void)
{
  struct nbd_handle *h = test_create ();
  struct log l = { .want = { "nbd_set_export_name", "nbd_set_tls",
                             "nbd_get_tls" } };

  CHECK_INT (nbd_set_debug_callback (h, closure (&l)), 0);

  /* Debug off: silence. */
  CHECK_INT (nbd_set_export_name (h, "quiet"), 0);
  CHECK_INT (nbd_set_tls (h, 9), -1);
  CHECK_INT (l.calls, 0);

  /* Debug on: each call reports under its own name, failures too. */
  CHECK_INT (nbd_set_debug (h, true), 0);
  l.calls = 0;
  CHECK_INT (nbd_set_export_name (h, "loud"), 0);
  CHECK (l.saw[0] > 0);
  CHECK_FAIL (nbd_set_tls (h, 9), EINVAL, "nbd_set_tls");
  CHECK (l.saw[1] > 0);
  CHECK_INT (nbd_get_tls (h), 0);
  CHECK (l.saw[2] > 0);
  CHECK_INT (l.bad_context, 0);
  CHECK (l.calls >= 3);

  /* Off again: silence again. */
  CHECK_INT (nbd_set_debug (h, false), 0);
  l.calls = 0;
  CHECK_INT (nbd_set_export_name (h, "quiet"), 0);
  CHECK_INT (l.calls, 0);

  CHECK_INT (l.frees, 0);
  nbd_close (h);
  CHECK_INT (l.frees, 1);
}

static void
closure_lifetime (void)
{
  struct nbd_handle *h = test_create ();
  struct log a = { 0 }, b = { 0 }, c = { 0 }, d = { 0 };

  /* Clearing with nothing set is fine. */
  CHECK_INT (nbd_clear_debug_callback (h), 0);

  /* Replace: the old closure is freed once, the new one not yet. */
  CHECK_INT (nbd_set_debug_callback (h, closure (&a)), 0);
  CHECK_INT (nbd_set_debug_callback (h, closure (&b)), 0);
  CHECK_INT (a.frees, 1);
  CHECK_INT (b.frees, 0);

  /* Only the current one hears messages. */
  CHECK_INT (nbd_set_debug (h, true), 0);
  CHECK_INT (nbd_set_export_name (h, "x"), 0);
  CHECK_INT (a.calls, 0);
  CHECK (b.calls > 0);
  CHECK_INT (nbd_set_debug (h, false), 0);

  /* Clear: freed once; clearing again frees nothing more. */
  CHECK_INT (nbd_clear_debug_callback (h), 0);
  CHECK_INT (b.frees, 1);
  CHECK_INT (nbd_clear_debug_callback (h), 0);
  CHECK_INT (b.frees, 1);

  /* As in libnbd, a closure with only a .free is taken (replacing the
   * one in place, whose .free runs); its .free runs when it goes.  One
   * with neither is refused (EFAULT), leaving the closure in place. */
  CHECK_INT (nbd_set_debug_callback (h, closure (&c)), 0);
  CHECK_INT (nbd_set_debug_callback (h, ((nbd_debug_callback) {
          .callback = NULL, .user_data = &d, .free = log_free })), 0);
  CHECK_INT (c.frees, 1);
  CHECK_INT (d.frees, 0);
  CHECK_INT (nbd_set_debug_callback (h, closure (&c)), 0);
  CHECK_INT (d.frees, 1);
  c.frees = 0;
  CHECK_FAIL (nbd_set_debug_callback (h, ((nbd_debug_callback) {
          .callback = NULL })), EFAULT, "nbd_set_debug_callback");
  CHECK_INT (c.frees, 0);
  CHECK_INT (nbd_set_debug (h, true), 0);
  c.calls = 0;
  CHECK_INT (nbd_set_export_name (h, "y"), 0);
  CHECK (c.calls > 0);

  /* A closure without .free is fine too. */
  CHECK_INT (nbd_set_debug_callback (h, ((nbd_debug_callback) {
          .callback = log_cb, .user_data = &d })), 0);
  CHECK_INT (c.frees, 1);

  /* Close: the current closure is freed exactly once. */
  CHECK_INT (nbd_set_debug_callback (h, closure (&c)), 0);
  nbd_close (h);
  CHECK_INT (a.frees, 1);
  CHECK_INT (b.frees, 1);
  CHECK_INT (c.frees, 2);
  CHECK_INT (d.frees, 1);

  /* Closing a handle that never had a callback frees nothing. */
  h = test_create ();
  nbd_close (h);
}

/* Calls on the same handle from inside the debug callback must not
 * deadlock (fastnbd's lock notices the nesting). */
static struct nbd_handle *nested_h;
static int nested_depth, nested_ok;

static int
nested_cb (void *opaque, const char *context, const char *msg)
{
  (void) opaque; (void) context; (void) msg;
  if (nested_depth++ == 0) {
    char *name = nbd_get_handle_name (nested_h);
    nested_ok += name != NULL && nbd_get_tls (nested_h) == LIBNBD_TLS_DISABLE;
    free (name);
  }
  nested_depth--;
  return 0;
}

static void
nested_calls (void)
{
  nested_h = test_create ();
  CHECK_INT (nbd_set_debug_callback (nested_h, ((nbd_debug_callback) {
          .callback = nested_cb })), 0);
  CHECK_INT (nbd_set_debug (nested_h, true), 0);
  CHECK_INT (nbd_set_export_name (nested_h, "nested"), 0);
  CHECK (nested_ok > 0);
  CHECK_STR_FREE (nbd_get_export_name (nested_h), "nested");
  nbd_close (nested_h);
}

/* nbd_close from inside a callback on the same handle would free the
 * handle under the running call: it is refused (EDEADLK) and the handle
 * stays usable. */
static struct nbd_handle *closing_h;
static int close_tries, close_errno, close_prefix_ok;

static int
close_cb (void *opaque, const char *context, const char *msg)
{
  (void) opaque; (void) context; (void) msg;
  if (close_tries++ == 0) {
    nbd_close (closing_h);
    close_errno = nbd_get_errno ();
    close_prefix_ok = test_starts_with (nbd_get_error (), "nbd_close: ");
  }
  return 0;
}

static void
close_from_callback (void)
{
  struct log l = { 0 };

  closing_h = test_create ();
  CHECK_INT (nbd_set_debug_callback (closing_h, ((nbd_debug_callback) {
          .callback = close_cb, .user_data = &l, .free = log_free })), 0);
  CHECK_INT (nbd_set_debug (closing_h, true), 0);
  CHECK_INT (nbd_set_export_name (closing_h, "still here"), 0);
  CHECK (close_tries > 0);
  CHECK_INT (close_errno, EDEADLK);
  CHECK (close_prefix_ok);
  CHECK_INT (l.frees, 0);
  CHECK_STR_FREE (nbd_get_export_name (closing_h), "still here");
  nbd_close (closing_h);
  CHECK_INT (l.frees, 1);
}

int
main (void)
{
  environment ();
  messages ();
  closure_lifetime ();
  nested_calls ();
  close_from_callback ();
  return test_exit ();
}
