/* Handle-state rules past the created state, for every call of calls.h:
 * in each state a handle can be brought to with a real server (nbdkit's
 * memory plugin as a subprocess), each call not permitted there fails
 * with EINVAL and a message naming it, runs the .free of each closure it
 * was given exactly once, and leaves the handle in the same state.
 *
 * States reached: connecting (nbd_aio_connect_command, not yet driven),
 * negotiating (option mode), connected (ready), closed (after
 * nbd_shutdown) and dead (the server killed under a request).
 * Exit 77 (skipped) when nbdkit is not installed; ./run-tests installs it.
 */
#include <signal.h>

#include "calls.h"

static char *nbdkit[] = {
  (char *) "nbdkit", (char *) "-s", (char *) "--exit-with-parent",
  (char *) "memory", (char *) "1M", NULL
};

static bool
in_path (const char *prog)
{
  const char *path = getenv ("PATH");
  char dir[4096];

  while (path && *path) {
    size_t n = strcspn (path, ":");
    if (n > 0 && n < sizeof dir - strlen (prog) - 2) {
      snprintf (dir, sizeof dir, "%.*s/%s", (int) n, path, prog);
      if (access (dir, X_OK) == 0)
        return true;
    }
    path += n + (path[n] == ':');
  }
  return false;
}

static const char *
state_name (unsigned st)
{
  switch (st) {
  case ST_CREATED: return "created";
  case ST_CONNECTING: return "connecting";
  case ST_NEGOTIATING: return "negotiating";
  case ST_CONNECTED: return "connected";
  case ST_CLOSED: return "closed";
  case ST_DEAD: return "dead";
  default: return "?";
  }
}

/* A handle in state `st`, or NULL (reported) if it cannot be reached. */
static struct nbd_handle *
reach (unsigned st)
{
  struct nbd_handle *h = test_create ();
  int ok = 0;

  switch (st) {
  case ST_CONNECTING:
    ok = nbd_aio_connect_command (h, nbdkit) == 0;
    break;
  case ST_NEGOTIATING:
    ok = nbd_set_opt_mode (h, true) == 0 && nbd_connect_command (h, nbdkit) == 0;
    break;
  case ST_CONNECTED:
    ok = nbd_connect_command (h, nbdkit) == 0;
    break;
  case ST_CLOSED:
    ok = nbd_connect_command (h, nbdkit) == 0 && nbd_shutdown (h, 0) == 0;
    break;
  case ST_DEAD:
    ok = nbd_connect_command (h, nbdkit) == 0 &&
      nbd_kill_subprocess (h, SIGKILL) == 0;
    /* The next request finds the server gone; the handle dies. */
    if (ok)
      nbd_pread (h, buf, sizeof buf, 0, 0);
    break;
  }
  if (!ok || current_state (h) != st) {
    fprintf (stderr, "could not bring a handle to the %s state (%s; "
             "nbd_connection_state: %s)\n", state_name (st),
             nbd_get_error () ? nbd_get_error () : "no error",
             nbd_connection_state (h));
    CHECK (!"state reached");
    nbd_close (h);
    return NULL;
  }
  return h;
}

/* What the any-state calls report once connected to a subprocess. */
static void
connected_facts (void)
{
  struct nbd_handle *h = reach (ST_CONNECTED);

  if (h == NULL)
    return;
  CHECK (nbd_get_subprocess_pid (h) > 0);
  CHECK (nbd_aio_get_fd (h) >= 0);
  CHECK (nbd_stats_bytes_sent (h) > 0);
  CHECK (nbd_stats_chunks_sent (h) > 0);
  CHECK (nbd_stats_bytes_received (h) > 0);
  CHECK (nbd_stats_chunks_received (h) > 0);
  CHECK_INT (nbd_aio_in_flight (h), 0);
  CHECK_INT (nbd_get_size (h), 1024 * 1024);
  nbd_close (h);
}

static void
refusals (unsigned st)
{
  struct nbd_handle *h = reach (st);
  unsigned checked = 0;

  if (h == NULL)
    return;
  for (size_t i = 0; i < NROWS; i++) {
    const struct row *r = &rows[i];
    int64_t ret;

    if (r->states & st)
      continue;
    frees = 0;
    ret = r->invoke (h);
    if (ret != -1 || nbd_get_errno () != EINVAL)
      fprintf (stderr, "%s in the %s state: ret %" PRId64 ", errno %d\n",
               r->name, state_name (st), ret, nbd_get_errno ());
    CHECK_INT (ret, -1);
    if (ret == -1)
      test_check_error (__FILE__, __LINE__, r->name, EINVAL, r->name);
    CHECK_INT (frees, r->closures);
    if (current_state (h) != st)
      fprintf (stderr, "%s in the %s state moved the handle to %s\n",
               r->name, state_name (st), nbd_connection_state (h));
    CHECK_INT (current_state (h), st);
    checked++;
  }
  printf ("%s: %u calls refused\n", state_name (st), checked);
  nbd_close (h);
}

int
main (void)
{
  static const unsigned states[] = {
    ST_CONNECTING, ST_NEGOTIATING, ST_CONNECTED, ST_CLOSED, ST_DEAD,
  };

  unsetenv ("LIBNBD_DEBUG");
  if (!in_path ("nbdkit"))
    TEST_SKIP ("nbdkit is not installed (./run-tests installs it)");
  calls_init ();
  for (size_t i = 0; i < sizeof states / sizeof states[0]; i++)
    refusals (states[i]);
  connected_facts ();
  return test_exit ();
}
