/* Option mode: every nbd_opt_* call, sync and through its nbd_aio_opt_*
 * twin (driven by our own poll() loop until nbd_aio_is_connecting turns
 * false), against nbdkit and the fake server; and the callback contract.
 *
 * usage: optmode CASE
 *   list     nbd_opt_list: nbdkit exportname filter, fakesrv --export
 *   info     nbd_opt_info
 *   go       nbd_opt_go, success and refusals
 *   abort    nbd_opt_abort, nbd_shutdown while negotiating
 *   meta     nbd_opt_list_meta_context[_queries], nbd_opt_set_meta_context[_queries]
 *   sr-eh    nbd_opt_structured_reply, nbd_opt_extended_headers
 *   errors   server refusals: callback told the error, sync error has
 *            the server's message, the option is retired
 *   free     .free exactly once (and in order): success, server error,
 *            server death mid-option, nbd_close with an option pending,
 *            calls refused in the wrong state
 *
 * The callback contract checked throughout: the list/context callback
 * runs once per item and the sync return value equals that count; the
 * completion callback runs once, after the items, with *error set; then
 * the item closure's .free, then the completion's .free, each once.
 */
#include "interop.h"

/* ---- helpers ---- */

static struct nbd_handle *
opt_connect (char **argv)
{
  struct nbd_handle *h = test_create ();
  CHECK_OK (nbd_set_opt_mode (h, true));
  if (nbd_connect_command (h, argv) == -1) {
    IT_CHECK (0, "nbd_connect_command in option mode");
    it_print_argv ("server", argv);
    nbd_close (h);
    return NULL;
  }
  IT_CHECK (nbd_aio_is_negotiating (h), "negotiating after connect (%s)", it_pred_name (h));
  return h;
}

/* Drive the pending option with our loop; it must end with the handle
 * negotiating again (or what `want` says). */
static void
drive_option (struct nbd_handle *h, const char *what)
{
  struct it_trace tr;
  IT_CHECK (nbd_aio_is_connecting (h), "%s: connecting while the option is pending (%s)",
            what, it_pred_name (h));
  it_drive (h, it_not_connecting, &tr);
  printf ("   %s: states %s\n", what, tr.states);
}

/* The trace of a successful option with n items: n I's, then CFG. */
static void
check_success_trace (struct it_calls *c, unsigned n)
{
  char want[128] = "";
  for (unsigned i = 0; i < n && i < 100; i++)
    strcat (want, "I");
  strcat (want, "CFG");
  IT_CHECK (strcmp (c->trace, want) == 0, "%s: callback order %s, expected %s",
            c->tag, c->trace, want);
}

static void
check_sync_trace (struct it_calls *c, unsigned n)
{
  char want[128] = "";
  for (unsigned i = 0; i < n && i < 100; i++)
    strcat (want, "I");
  strcat (want, "F");
  IT_CHECK (strcmp (c->trace, want) == 0, "%s: callback order %s, expected %s",
            c->tag, c->trace, want);
}

/* ---- list ---- */

static char **
nbdkit_exports (void)
{
  return it_argv ("nbdkit", "-s", "--exit-with-parent", "--filter=exportname", "memory", "1M",
                  "exportname-list=explicit", "exportname=alpha", "exportname=beta",
                  "exportname=gamma", "exportdesc=script:echo \"desc of $name\"", NULL);
}

static void
list_case (void)
{
  struct nbd_handle *h;
  struct it_calls c;
  int r;

  it_section ("nbd_opt_list against nbdkit --filter=exportname (3 exports)");
  h = opt_connect (nbdkit_exports ());
  if (h == NULL)
    return;
  it_calls_init (&c, "opt_list");
  r = nbd_opt_list (h, it_list_closure (&c));
  printf ("   returned %d; names %s; descriptions %s\n", r, c.names, c.descs);
  CHECK_INT (r, 3);
  CHECK_INT (c.items, 3);
  CHECK_STR (c.names, "alpha,beta,gamma");
  CHECK_STR (c.descs, "desc of alpha,desc of beta,desc of gamma");
  CHECK_INT (c.frees, 1);
  check_sync_trace (&c, 3);
  CHECK (nbd_aio_is_negotiating (h));

  /* nbdkit 1.32 answers a second NBD_OPT_LIST on one connection with an
   * error (the real libnbd sees the same): a new connection each time. */
  nbd_close (h);
  it_section ("nbd_aio_opt_list against the same server (new connection)");
  h = opt_connect (nbdkit_exports ());
  if (h == NULL)
    return;
  it_calls_init (&c, "aio_opt_list");
  CHECK_OK (nbd_aio_opt_list (h, it_list_closure (&c), it_completion_closure (&c)));
  drive_option (h, "aio_opt_list");
  CHECK (nbd_aio_is_negotiating (h));
  CHECK_INT (c.items, 3);
  CHECK_INT (c.completions, 1);
  CHECK_INT (c.error, 0);
  CHECK_INT (c.frees, 2);
  check_success_trace (&c, 3);
  CHECK_STR (c.names, "alpha,beta,gamma");

  nbd_close (h);
  it_section ("nbd_aio_opt_list with nbd_poll, without a completion callback");
  h = opt_connect (nbdkit_exports ());
  if (h == NULL)
    return;
  it_calls_init (&c, "aio_opt_list/poll");
  CHECK_OK (nbd_aio_opt_list (h, it_list_closure (&c), NBD_NULL_COMPLETION));
  CHECK_OK (it_poll_until (h, it_is_negotiating));
  CHECK_INT (c.items, 3);
  CHECK_INT (c.frees, 1);

  it_section ("the export chosen after listing");
  CHECK_OK (nbd_set_export_name (h, "beta"));
  CHECK_OK (nbd_opt_go (h));
  CHECK (nbd_aio_is_ready (h));
  CHECK_INT (nbd_get_size (h), 1024 * 1024);
  nbd_close (h);

  it_section ("nbd_opt_list against fakesrv (3 exports, one without description)");
  h = opt_connect (it_fakesrv ("--export", "a:first disk:1M", "--export", "b::2M",
                               "--export", "c:third:3M", NULL));
  if (h == NULL)
    return;
  it_calls_init (&c, "opt_list");
  r = nbd_opt_list (h, it_list_closure (&c));
  printf ("   returned %d; names %s; descriptions %s\n", r, c.names, c.descs);
  CHECK_INT (r, 3);
  CHECK_INT (c.items, 3);
  CHECK_STR (c.names, "a,b,c");
  CHECK_STR (c.descs, "first disk,,third");
  CHECK_INT (c.frees, 1);
  it_calls_init (&c, "aio_opt_list");
  CHECK_OK (nbd_aio_opt_list (h, it_list_closure (&c), it_completion_closure (&c)));
  drive_option (h, "aio_opt_list");
  CHECK_INT (c.items, 3);
  CHECK_INT (c.completions, 1);
  CHECK_INT (c.error, 0);
  check_success_trace (&c, 3);
  nbd_close (h);

  it_section ("nbd_opt_list with zero exports listed");
  h = opt_connect (it_argv ("nbdkit", "-s", "--exit-with-parent", "--filter=exportname",
                            "memory", "1M", "exportname-list=explicit", NULL));
  if (h) {
    it_calls_init (&c, "empty");
    CHECK_INT (nbd_opt_list (h, it_list_closure (&c)), 0);
    CHECK_INT (c.items, 0);
    CHECK_INT (c.frees, 1);
    nbd_close (h);
  }
}

/* ---- info ---- */

static void
info_case (void)
{
  struct nbd_handle *h;
  struct it_calls c;

  h = opt_connect (it_fakesrv ("--export", "x:the x:2M", "--export", "y:the y:3M",
                               "--read-only", NULL));
  if (h == NULL)
    return;

  it_section ("nbd_opt_info on \"y\", sync");
  CHECK_OK (nbd_set_export_name (h, "y"));
  CHECK_OK (nbd_set_full_info (h, true));
  CHECK_OK (nbd_opt_info (h));
  CHECK (nbd_aio_is_negotiating (h));
  CHECK_INT (nbd_get_size (h), 3 * 1024 * 1024);
  CHECK_INT (nbd_is_read_only (h), 1);
  CHECK_STR_FREE (nbd_get_export_description (h), "the y");

  it_section ("nbd_aio_opt_info on \"x\"");
  CHECK_OK (nbd_set_export_name (h, "x"));
  it_calls_init (&c, "aio_opt_info");
  CHECK_OK (nbd_aio_opt_info (h, it_completion_closure (&c)));
  drive_option (h, "aio_opt_info");
  CHECK (nbd_aio_is_negotiating (h));
  CHECK_INT (c.completions, 1);
  CHECK_INT (c.error, 0);
  CHECK_INT (c.frees, 1);
  CHECK_STR (c.trace, "CG");
  CHECK_INT (nbd_get_size (h), 2 * 1024 * 1024);
  CHECK_STR_FREE (nbd_get_export_description (h), "the x");

  it_section ("nbd_opt_info on an unknown export: ENOENT, still negotiating");
  CHECK_OK (nbd_set_export_name (h, "z"));
  CHECK_FAIL (nbd_opt_info (h), ENOENT, "nbd_opt_info");
  printf ("   error: %s\n", nbd_get_error ());
  CHECK (nbd_aio_is_negotiating (h));
  it_calls_init (&c, "aio_opt_info unknown");
  CHECK_OK (nbd_aio_opt_info (h, it_completion_closure (&c)));
  drive_option (h, "aio_opt_info");
  CHECK_INT (c.completions, 1);
  CHECK_INT (c.error, ENOENT);
  CHECK_INT (c.frees, 1);
  CHECK (nbd_aio_is_negotiating (h));

  it_section ("then nbd_opt_go on \"y\"");
  CHECK_OK (nbd_set_export_name (h, "y"));
  CHECK_OK (nbd_opt_go (h));
  CHECK (nbd_aio_is_ready (h));
  CHECK_INT (nbd_get_size (h), 3 * 1024 * 1024);
  nbd_close (h);

  it_section ("nbd_opt_info against nbdkit -r");
  h = opt_connect (it_argv ("nbdkit", "-s", "-r", "--exit-with-parent", "memory", "5M", NULL));
  if (h) {
    CHECK_OK (nbd_opt_info (h));
    CHECK_INT (nbd_get_size (h), 5 * 1024 * 1024);
    CHECK_INT (nbd_is_read_only (h), 1);
    it_calls_init (&c, "aio_opt_info");
    CHECK_OK (nbd_aio_opt_info (h, it_completion_closure (&c)));
    drive_option (h, "aio_opt_info");
    CHECK_INT (c.completions, 1);
    CHECK_INT (c.error, 0);
    CHECK_OK (nbd_opt_go (h));
    CHECK_INT (nbd_get_size (h), 5 * 1024 * 1024);
    nbd_close (h);
  }
}

/* ---- go ---- */

static void
go_case (void)
{
  struct nbd_handle *h;
  struct it_calls c;

  it_section ("nbd_aio_opt_go on an unknown export, then on a known one");
  h = opt_connect (it_fakesrv ("--export", "good::1M", NULL));
  if (h == NULL)
    return;
  CHECK_OK (nbd_set_export_name (h, "bad"));
  it_calls_init (&c, "aio_opt_go bad");
  CHECK_OK (nbd_aio_opt_go (h, it_completion_closure (&c)));
  drive_option (h, "aio_opt_go");
  CHECK_INT (c.completions, 1);
  CHECK_INT (c.error, ENOENT);
  CHECK_INT (c.frees, 1);
  IT_CHECK (nbd_aio_is_negotiating (h), "still negotiating after GO was refused (%s)",
            it_pred_name (h));
  CHECK_OK (nbd_set_export_name (h, "good"));
  it_calls_init (&c, "aio_opt_go good");
  CHECK_OK (nbd_aio_opt_go (h, it_completion_closure (&c)));
  drive_option (h, "aio_opt_go");
  CHECK_INT (c.completions, 1);
  CHECK_INT (c.error, 0);
  CHECK_INT (c.frees, 1);
  CHECK_STR (c.trace, "CG");
  CHECK (nbd_aio_is_ready (h));
  CHECK_FAIL (nbd_opt_go (h), EINVAL, "nbd_opt_go");
  nbd_close (h);

  it_section ("nbd_opt_go refused with ERR_POLICY: message, errno, still negotiating");
  h = opt_connect (it_fakesrv ("--refuse", "GO=POLICY:go away", NULL));
  if (h == NULL)
    return;
  IT_CHECK (nbd_opt_go (h) == -1, "nbd_opt_go fails");
  printf ("   error: %s (errno %d)\n", nbd_get_error (), nbd_get_errno ());
  CHECK (nbd_get_errno () != 0);
  CHECK_ERR_HAS ("go away");
  CHECK (test_starts_with (nbd_get_error (), "nbd_opt_go: "));
  CHECK (nbd_aio_is_negotiating (h));
  CHECK_OK (nbd_opt_abort (h));
  nbd_close (h);

  it_section ("nbd_opt_go against nbdkit, with meta context");
  h = opt_connect (it_argv ("nbdkit", "-s", "--exit-with-parent", "memory", "1M", NULL));
  if (h == NULL)
    return;
  CHECK_OK (nbd_add_meta_context (h, LIBNBD_CONTEXT_BASE_ALLOCATION));
  it_calls_init (&c, "aio_opt_go");
  CHECK_OK (nbd_aio_opt_go (h, it_completion_closure (&c)));
  drive_option (h, "aio_opt_go");
  CHECK_INT (c.completions, 1);
  CHECK_INT (c.error, 0);
  CHECK (nbd_aio_is_ready (h));
  CHECK_INT (nbd_can_meta_context (h, LIBNBD_CONTEXT_BASE_ALLOCATION), 1);
  nbd_close (h);
}

/* ---- abort ---- */

static void
abort_case (void)
{
  struct nbd_handle *h;
  const char *log = it_path ("abort.log");
  struct it_trace tr;

  it_section ("nbd_opt_abort: closed, the server saw NBD_OPT_ABORT");
  h = opt_connect (it_fakesrv ("--log", log, NULL));
  if (h == NULL)
    return;
  CHECK_OK (nbd_opt_abort (h));
  IT_CHECK (nbd_aio_is_closed (h), "closed after opt_abort (%s)", it_pred_name (h));
  {
    struct it_calls c;
    it_calls_init (&c, "after abort");
    CHECK_FAIL (nbd_opt_list (h, it_list_closure (&c)), EINVAL, "nbd_opt_list");
    CHECK_INT (c.frees, 1);
  }
  CHECK_FAIL (nbd_opt_go (h), EINVAL, "nbd_opt_go");
  nbd_close (h);
  IT_CHECK (it_file_has (log, "OPT ABORT"), "the server saw ABORT");

  it_section ("nbd_aio_opt_abort, driven by poll() until closed");
  unlink (log);
  h = opt_connect (it_fakesrv ("--log", log, NULL));
  if (h == NULL)
    return;
  CHECK_OK (nbd_aio_opt_abort (h));
  CHECK_OK (it_drive (h, it_closed_or_dead, &tr));
  printf ("   states %s\n", tr.states);
  IT_CHECK (nbd_aio_is_closed (h), "closed (%s)", it_pred_name (h));
  nbd_close (h);
  IT_CHECK (it_file_has (log, "OPT ABORT"), "the server saw ABORT");

  it_section ("nbd_opt_abort against nbdkit");
  h = opt_connect (it_argv ("nbdkit", "-s", "--exit-with-parent", "memory", "1M", NULL));
  if (h) {
    CHECK_OK (nbd_opt_abort (h));
    CHECK (nbd_aio_is_closed (h));
    nbd_close (h);
  }

  it_section ("nbd_shutdown while negotiating ends it like an abort");
  unlink (log);
  h = opt_connect (it_fakesrv ("--log", log, NULL));
  if (h) {
    CHECK_OK (nbd_shutdown (h, 0));
    IT_CHECK (nbd_aio_is_closed (h), "closed (%s)", it_pred_name (h));
    nbd_close (h);
    IT_CHECK (it_file_has (log, "OPT ABORT"), "the server saw ABORT");
  }

  it_section ("nbd_close while negotiating: the server sees a clean end");
  unlink (log);
  h = opt_connect (it_fakesrv ("--log", log, NULL));
  if (h) {
    nbd_close (h);
    IT_CHECK (it_file_has (log, "CLOSE"), "the server logged CLOSE");
  }
}

/* ---- meta contexts ---- */

static void
meta_case (void)
{
  struct nbd_handle *h;
  struct it_calls c;
  int r;
  char *q_b1[] = { "b:1", "nosuch:x", NULL };
  char *q_a[] = { "a:", NULL };
  char *q_none[] = { NULL };

  h = opt_connect (it_fakesrv ("--meta-context", "base:allocation", "--meta-context", "a:1",
                               "--meta-context", "a:2", "--meta-context", "b:1", NULL));
  if (h == NULL)
    return;

  it_section ("nbd_opt_list_meta_context, empty request list: everything");
  it_calls_init (&c, "list all");
  r = nbd_opt_list_meta_context (h, it_context_closure (&c));
  printf ("   %d: %s\n", r, c.names);
  CHECK_INT (r, 4);
  CHECK_INT (c.items, 4);
  CHECK_STR (c.names, "base:allocation,a:1,a:2,b:1");
  CHECK_INT (c.frees, 1);
  check_sync_trace (&c, 4);

  it_section ("nbd_aio_opt_list_meta_context, request list [\"a:\"]");
  CHECK_OK (nbd_add_meta_context (h, "a:"));
  it_calls_init (&c, "aio list a:");
  CHECK_OK (nbd_aio_opt_list_meta_context (h, it_context_closure (&c),
                                           it_completion_closure (&c)));
  drive_option (h, "aio_opt_list_meta_context");
  CHECK_INT (c.items, 2);
  CHECK_STR (c.names, "a:1,a:2");
  CHECK_INT (c.completions, 1);
  CHECK_INT (c.error, 0);
  CHECK_INT (c.frees, 2);
  check_success_trace (&c, 2);

  it_section ("nbd_opt_list_meta_context_queries [\"b:1\", \"nosuch:x\"]");
  it_calls_init (&c, "list queries");
  r = nbd_opt_list_meta_context_queries (h, q_b1, it_context_closure (&c));
  CHECK_INT (r, 1);
  CHECK_INT (c.items, 1);
  CHECK_STR (c.names, "b:1");
  CHECK_INT (c.frees, 1);
  it_calls_init (&c, "aio list queries");
  CHECK_OK (nbd_aio_opt_list_meta_context_queries (h, q_none, it_context_closure (&c),
                                                   it_completion_closure (&c)));
  drive_option (h, "aio_opt_list_meta_context_queries (no queries)");
  CHECK_INT (c.items, 4);
  CHECK_INT (c.completions, 1);
  CHECK_INT (c.frees, 2);
  check_success_trace (&c, 4);
  /* The handle's own list was not touched by the queries. */
  CHECK_INT (nbd_get_nr_meta_contexts (h), 1);

  it_section ("nbd_opt_set_meta_context with the request list [\"a:\"]");
  it_calls_init (&c, "set");
  r = nbd_opt_set_meta_context (h, it_context_closure (&c));
  CHECK_INT (r, 2);
  CHECK_INT (c.items, 2);
  CHECK_STR (c.names, "a:1,a:2");
  CHECK_INT (c.frees, 1);

  it_section ("nbd_aio_opt_set_meta_context_queries [\"b:1\", \"nosuch:x\"]");
  it_calls_init (&c, "aio set queries");
  CHECK_OK (nbd_aio_opt_set_meta_context_queries (h, q_b1, it_context_closure (&c),
                                                  it_completion_closure (&c)));
  drive_option (h, "aio_opt_set_meta_context_queries");
  CHECK_INT (c.items, 1);
  CHECK_STR (c.names, "b:1");
  CHECK_INT (c.completions, 1);
  CHECK_INT (c.error, 0);
  CHECK_INT (c.frees, 2);
  check_success_trace (&c, 1);

  it_section ("go without re-requesting: the last SET_META_CONTEXT (b:1) holds");
  CHECK_OK (nbd_set_request_meta_context (h, false));
  CHECK_OK (nbd_opt_go (h));
  CHECK_INT (nbd_can_meta_context (h, "b:1"), 1);
  CHECK_INT (nbd_can_meta_context (h, "a:1"), 0);
  nbd_close (h);

  it_section ("aio set_meta_context with the handle's list, then go");
  h = opt_connect (it_fakesrv ("--meta-context", "base:allocation", "--meta-context", "a:1",
                               "--meta-context", "a:2", "--meta-context", "b:1", NULL));
  if (h == NULL)
    return;
  CHECK_OK (nbd_add_meta_context (h, "a:2"));
  CHECK_OK (nbd_add_meta_context (h, LIBNBD_CONTEXT_BASE_ALLOCATION));
  it_calls_init (&c, "aio set");
  CHECK_OK (nbd_aio_opt_set_meta_context (h, it_context_closure (&c),
                                          it_completion_closure (&c)));
  drive_option (h, "aio_opt_set_meta_context");
  CHECK_INT (c.items, 2);
  CHECK_INT (c.completions, 1);
  CHECK_INT (c.frees, 2);
  check_success_trace (&c, 2);
  it_calls_init (&c, "set a:");
  CHECK_INT (nbd_opt_set_meta_context_queries (h, q_a, it_context_closure (&c)), 2);
  CHECK_OK (nbd_set_request_meta_context (h, false));
  CHECK_OK (nbd_opt_go (h));
  CHECK_INT (nbd_can_meta_context (h, "a:1"), 1);
  CHECK_INT (nbd_can_meta_context (h, "a:2"), 1);
  CHECK_INT (nbd_can_meta_context (h, LIBNBD_CONTEXT_BASE_ALLOCATION), 0);
  nbd_close (h);

  it_section ("nbdkit: list and set base:allocation");
  h = opt_connect (it_argv ("nbdkit", "-s", "--exit-with-parent", "memory", "1M", NULL));
  if (h == NULL)
    return;
  it_calls_init (&c, "nbdkit list");
  r = nbd_opt_list_meta_context (h, it_context_closure (&c));
  CHECK_INT (r, (int) c.items);
  CHECK (it_list_has (c.names, LIBNBD_CONTEXT_BASE_ALLOCATION));
  {
    char *q[] = { LIBNBD_CONTEXT_BASE_ALLOCATION, NULL };
    it_calls_init (&c, "nbdkit set");
    CHECK_INT (nbd_opt_set_meta_context_queries (h, q, it_context_closure (&c)), 1);
    CHECK_STR (c.names, LIBNBD_CONTEXT_BASE_ALLOCATION);
  }
  CHECK_OK (nbd_set_request_meta_context (h, false));
  CHECK_OK (nbd_opt_go (h));
  CHECK_INT (nbd_can_meta_context (h, LIBNBD_CONTEXT_BASE_ALLOCATION), 1);
  nbd_close (h);
}

/* ---- structured replies, extended headers ---- */

static void
sr_eh_case (void)
{
  struct nbd_handle *h;
  struct it_calls c;
  char buf[512];
  int r;

  it_section ("nbd_opt_structured_reply against nbdkit (not requested automatically)");
  h = test_create ();
  CHECK_OK (nbd_set_opt_mode (h, true));
  CHECK_OK (nbd_set_request_structured_replies (h, false));
  CHECK_OK (nbd_connect_command (h, it_argv ("nbdkit", "-s", "--exit-with-parent", "memory",
                                             "1M", NULL)));
  CHECK_INT (nbd_get_structured_replies_negotiated (h), 0);
  CHECK_INT (nbd_opt_structured_reply (h), 1);
  CHECK_INT (nbd_get_structured_replies_negotiated (h), 1);
  CHECK (nbd_aio_is_negotiating (h));
  /* nbd_opt_structured_reply(3) of 1.24: a second request is sent; the
   * server's answer is returned, and never undoes the first. */
  r = nbd_opt_structured_reply (h);
  printf ("   a second request: nbdkit answers %d\n", r);
  CHECK (r == 0 || r == 1);
  CHECK_INT (nbd_get_structured_replies_negotiated (h), 1);
  CHECK_OK (nbd_opt_go (h));
  CHECK_INT (nbd_get_structured_replies_negotiated (h), 1);
  CHECK_OK (nbd_pread (h, buf, sizeof buf, 0, 0));
  nbd_close (h);

  it_section ("nbd_aio_opt_structured_reply against the fake server");
  h = test_create ();
  CHECK_OK (nbd_set_opt_mode (h, true));
  CHECK_OK (nbd_set_request_structured_replies (h, false));
  CHECK_OK (nbd_connect_command (h, it_fakesrv (NULL)));
  it_calls_init (&c, "aio sr");
  CHECK_OK (nbd_aio_opt_structured_reply (h, it_completion_closure (&c)));
  drive_option (h, "aio_opt_structured_reply");
  CHECK_INT (c.completions, 1);
  CHECK_INT (c.error, 0);
  CHECK_INT (c.frees, 1);
  CHECK_INT (nbd_get_structured_replies_negotiated (h), 1);
  CHECK_OK (nbd_opt_go (h));
  CHECK_OK (nbd_pread (h, buf, sizeof buf, 0, 0));
  nbd_close (h);

  it_section ("nbd_opt_structured_reply refused (ERR_UNSUP): returns false, not an error");
  h = test_create ();
  CHECK_OK (nbd_set_opt_mode (h, true));
  CHECK_OK (nbd_set_request_structured_replies (h, false));
  CHECK_OK (nbd_connect_command (h, it_fakesrv ("--refuse", "STRUCTURED_REPLY=UNSUP:no sr",
                                                NULL)));
  CHECK_INT (nbd_opt_structured_reply (h), 0);
  CHECK_INT (nbd_get_structured_replies_negotiated (h), 0);
  CHECK (nbd_aio_is_negotiating (h));
  it_calls_init (&c, "aio sr refused");
  CHECK_OK (nbd_aio_opt_structured_reply (h, it_completion_closure (&c)));
  drive_option (h, "aio_opt_structured_reply");
  CHECK_INT (c.completions, 1);
  printf ("   completion *error for the refusal: %d\n", c.error);
  CHECK_INT (c.frees, 1);
  CHECK (nbd_aio_is_negotiating (h));
  CHECK_OK (nbd_opt_go (h));
  CHECK_INT (nbd_get_structured_replies_negotiated (h), 0);
  CHECK_OK (nbd_pread (h, buf, sizeof buf, 0, 0));
  nbd_close (h);

  it_section ("nbd_opt_extended_headers against fakesrv --extended");
  h = test_create ();
  CHECK_OK (nbd_set_opt_mode (h, true));
  CHECK_OK (nbd_set_request_structured_replies (h, false));
  CHECK_OK (nbd_connect_command (h, it_fakesrv ("--extended", NULL)));
  CHECK_INT (nbd_get_extended_headers_negotiated (h), 0);
  CHECK_INT (nbd_opt_extended_headers (h), 1);
  CHECK_INT (nbd_get_extended_headers_negotiated (h), 1);
  CHECK_INT (nbd_get_structured_replies_negotiated (h), 1);
  CHECK_OK (nbd_opt_go (h));
  CHECK_OK (nbd_pread (h, buf, sizeof buf, 0, 0));
  CHECK_INT (nbd_get_extended_headers_negotiated (h), 1);
  nbd_close (h);

  it_section ("nbd_aio_opt_extended_headers against fakesrv --extended");
  h = test_create ();
  CHECK_OK (nbd_set_opt_mode (h, true));
  CHECK_OK (nbd_set_request_extended_headers (h, false));
  CHECK_OK (nbd_connect_command (h, it_fakesrv ("--extended", NULL)));
  printf ("   structured replies were negotiated automatically: %d\n",
          nbd_get_structured_replies_negotiated (h));
  CHECK_INT (nbd_get_extended_headers_negotiated (h), 0);
  it_calls_init (&c, "aio eh");
  CHECK_OK (nbd_aio_opt_extended_headers (h, it_completion_closure (&c)));
  drive_option (h, "aio_opt_extended_headers");
  CHECK_INT (c.completions, 1);
  CHECK_INT (c.frees, 1);
  printf ("   extended headers after structured replies: negotiated %d (completion error %d)\n",
          nbd_get_extended_headers_negotiated (h), c.error);
  CHECK (nbd_aio_is_negotiating (h));
  CHECK_OK (nbd_opt_go (h));
  CHECK_OK (nbd_pread (h, buf, sizeof buf, 0, 0));
  nbd_close (h);

  it_section ("nbd_opt_extended_headers without server support: false");
  h = test_create ();
  CHECK_OK (nbd_set_opt_mode (h, true));
  CHECK_OK (nbd_set_request_structured_replies (h, false));
  CHECK_OK (nbd_connect_command (h, it_fakesrv (NULL)));
  CHECK_INT (nbd_opt_extended_headers (h), 0);
  CHECK_INT (nbd_get_extended_headers_negotiated (h), 0);
  CHECK (nbd_aio_is_negotiating (h));
  CHECK_INT (nbd_opt_structured_reply (h), 1);
  CHECK_OK (nbd_opt_go (h));
  CHECK_OK (nbd_pread (h, buf, sizeof buf, 0, 0));
  nbd_close (h);

  it_section ("nbd_opt_extended_headers against nbdkit 1.32 (no support): false");
  h = test_create ();
  CHECK_OK (nbd_set_opt_mode (h, true));
  CHECK_OK (nbd_set_request_structured_replies (h, false));
  CHECK_OK (nbd_connect_command (h, it_argv ("nbdkit", "-s", "--exit-with-parent", "memory",
                                             "1M", NULL)));
  CHECK_INT (nbd_opt_extended_headers (h), 0);
  CHECK (nbd_aio_is_negotiating (h));
  CHECK_OK (nbd_opt_go (h));
  CHECK_OK (nbd_pread (h, buf, sizeof buf, 0, 0));
  nbd_close (h);
}

/* ---- server errors ---- */

/* One option refused by the fake server: sync, then aio. */
static void
refused_option (const char *option, const char *err, const char *msg)
{
  char arg[128];
  struct nbd_handle *h;
  struct it_calls c;
  int r, sync_errno = 0;
  char *q[] = { "base:allocation", NULL };

  snprintf (arg, sizeof arg, "%s=%s:%s", option, err, msg);
  it_section ("%s refused with ERR_%s:\"%s\"", option, err, msg);
  h = opt_connect (it_fakesrv ("--refuse", arg, NULL));
  if (h == NULL)
    return;

  it_calls_init (&c, "sync");
  if (strcmp (option, "LIST") == 0)
    r = nbd_opt_list (h, it_list_closure (&c));
  else if (strcmp (option, "INFO") == 0) {
    r = nbd_opt_info (h);
    c.frees = 1;
  }
  else if (strcmp (option, "LIST_META_CONTEXT") == 0)
    r = nbd_opt_list_meta_context_queries (h, q, it_context_closure (&c));
  else
    r = nbd_opt_set_meta_context_queries (h, q, it_context_closure (&c));
  IT_CHECK (r == -1, "the sync call fails");
  sync_errno = nbd_get_errno ();
  printf ("   sync: %s (errno %d)\n", nbd_get_error (), sync_errno);
  IT_CHECK (sync_errno != 0, "errno is set");
  if (strcmp (err, "POLICY") == 0)
    CHECK_INT (sync_errno, EPERM);
  CHECK_ERR_HAS (msg);
  CHECK_INT (c.items, 0);
  CHECK_INT (c.frees, 1);
  IT_CHECK (nbd_aio_is_negotiating (h), "still negotiating (%s)", it_pred_name (h));

  it_calls_init (&c, "aio");
  c.completion_ret = 0;         /* the option is retired anyway */
  if (strcmp (option, "LIST") == 0)
    r = nbd_aio_opt_list (h, it_list_closure (&c), it_completion_closure (&c));
  else if (strcmp (option, "INFO") == 0) {
    r = nbd_aio_opt_info (h, it_completion_closure (&c));
    c.frees++;
  }
  else if (strcmp (option, "LIST_META_CONTEXT") == 0)
    r = nbd_aio_opt_list_meta_context_queries (h, q, it_context_closure (&c),
                                               it_completion_closure (&c));
  else
    r = nbd_aio_opt_set_meta_context_queries (h, q, it_context_closure (&c),
                                              it_completion_closure (&c));
  CHECK_OK (r);
  drive_option (h, "aio");
  CHECK_INT (c.completions, 1);
  printf ("   aio: completion *error %d\n", c.error);
  IT_CHECK (c.error != 0, "the completion callback is told the server's error");
  IT_CHECK (c.error == sync_errno, "the same errno as the sync form (%d vs %d)",
            c.error, sync_errno);
  CHECK_INT (c.frees, 2);
  IT_CHECK (nbd_aio_is_negotiating (h), "still negotiating (%s)", it_pred_name (h));

  /* The completion returned 0, yet the option is over: another works. */
  it_calls_init (&c, "next");
  r = nbd_opt_list (h, it_list_closure (&c));
  if (strcmp (option, "LIST") == 0)
    IT_CHECK (r == -1, "LIST is still refused");
  else
    IT_CHECK (r == 1, "a further nbd_opt_list works (returned %d)", r);
  CHECK_INT (c.frees, 1);
  CHECK_OK (nbd_opt_abort (h));
  nbd_close (h);
}

static void
errors_case (void)
{
  static const char *errs[] = {
    "UNSUP", "POLICY", "INVALID", "PLATFORM", "TLS_REQD", "UNKNOWN", "SHUTDOWN",
    "BLOCK_SIZE_REQD", "TOO_BIG",
  };

  refused_option ("LIST", "POLICY", "nope");
  for (size_t i = 0; i < sizeof errs / sizeof errs[0]; i++) {
    char msg[64];
    snprintf (msg, sizeof msg, "list says %s", errs[i]);
    refused_option ("LIST", errs[i], msg);
  }
  refused_option ("INFO", "POLICY", "no info for you");
  refused_option ("INFO", "UNKNOWN", "which export");
  refused_option ("LIST_META_CONTEXT", "POLICY", "no contexts");
  refused_option ("SET_META_CONTEXT", "INVALID", "bad contexts");

  it_section ("the completion callback may change *error; the option ends anyway");
  {
    struct nbd_handle *h = opt_connect (it_fakesrv (NULL));
    struct it_calls c;
    if (h) {
      it_calls_init (&c, "ret0");
      c.completion_ret = 0;
      CHECK_OK (nbd_aio_opt_list (h, it_list_closure (&c), it_completion_closure (&c)));
      drive_option (h, "aio_opt_list");
      CHECK_INT (c.completions, 1);
      CHECK_INT (c.error, 0);
      CHECK (nbd_aio_is_negotiating (h));
      CHECK_OK (nbd_opt_info (h));
      CHECK_OK (nbd_opt_go (h));
      nbd_close (h);
    }
  }
}

/* ---- what option mode forgets (nbd_set_export_name, libnbd 1.24) ---- */

/* A GO completion that records the handle's state when it runs. */
struct go_seen {
  struct nbd_handle *h;
  int calls, error, ready;
};

static int
go_seen_cb (void *ud, int *error)
{
  struct go_seen *g = ud;
  g->calls++;
  g->error = *error;
  g->ready = nbd_aio_is_ready (g->h);
  return 1;
}

static void
forget_case (void)
{
  struct nbd_handle *h;
  struct it_calls c;
  const char *log = it_fresh_path ("forget.log");

  /* libnbd 1.14 kept the old export's facts after a rename; 1.24 forgets
   * them (nbd_set_export_name resets what nbd_opt_info taught), and
   * 1.24 is the spec. */
  it_section ("nbd_set_export_name with a new name forgets the previous export");
  h = test_create ();
  CHECK_OK (nbd_set_opt_mode (h, true));
  CHECK_OK (nbd_set_full_info (h, true));
  CHECK_OK (nbd_add_meta_context (h, LIBNBD_CONTEXT_BASE_ALLOCATION));
  CHECK_OK (nbd_connect_command (h, it_fakesrv ("--export", "a:about a:1M",
                                                "--export", "b::2M", NULL)));
  CHECK_OK (nbd_set_export_name (h, "a"));
  CHECK_OK (nbd_opt_info (h));
  CHECK_INT (nbd_get_size (h), 1024 * 1024);
  CHECK_INT (nbd_can_meta_context (h, LIBNBD_CONTEXT_BASE_ALLOCATION), 1);
  CHECK_STR_FREE (nbd_get_export_description (h), "about a");
  CHECK_OK (nbd_set_export_name (h, "a"));
  printf ("   the same name again changes nothing\n");
  CHECK_INT (nbd_get_size (h), 1024 * 1024);
  CHECK_INT (nbd_can_meta_context (h, LIBNBD_CONTEXT_BASE_ALLOCATION), 1);
  CHECK_OK (nbd_set_export_name (h, "b"));
  CHECK_FAIL (nbd_get_size (h), EINVAL, "nbd_get_size");
  CHECK_FAIL (nbd_is_read_only (h), EINVAL, "nbd_is_read_only");
  CHECK_FAIL (nbd_can_flush (h), EINVAL, "nbd_can_flush");
  CHECK_FAIL (nbd_get_block_size (h, LIBNBD_SIZE_PREFERRED), EINVAL, "nbd_get_block_size");
  CHECK_FAIL_NULL (nbd_get_export_description (h), EINVAL, "nbd_get_export_description");
  CHECK_FAIL_NULL (nbd_get_canonical_export_name (h), EINVAL,
                   "nbd_get_canonical_export_name");
  CHECK_FAIL (nbd_can_meta_context (h, LIBNBD_CONTEXT_BASE_ALLOCATION), EINVAL,
              "nbd_can_meta_context");
  CHECK_OK (nbd_opt_info (h));
  CHECK_INT (nbd_get_size (h), 2 * 1024 * 1024);
  CHECK_STR_FREE (nbd_get_canonical_export_name (h), "b");
  CHECK_INT (nbd_can_meta_context (h, LIBNBD_CONTEXT_BASE_ALLOCATION), 1);
  nbd_close (h);

  /* nbd_can_meta_context(3) of 1.24 fails only while requested contexts
   * lack a negotiation that went through; 1.14 wanted export facts
   * first, and 1.24 is the spec. */
  it_section ("nbd_can_meta_context answers after nbd_opt_set_meta_context, before any INFO");
  h = opt_connect (it_fakesrv ("--meta-context", "base:allocation", "--meta-context", "a:1",
                               NULL));
  if (h) {
    CHECK_INT (nbd_can_meta_context (h, LIBNBD_CONTEXT_BASE_ALLOCATION), 0);
    CHECK_OK (nbd_add_meta_context (h, "a:1"));
    CHECK_FAIL (nbd_can_meta_context (h, "a:1"), EINVAL, "nbd_can_meta_context");
    it_calls_init (&c, "set");
    CHECK_INT (nbd_opt_set_meta_context (h, it_context_closure (&c)), 1);
    CHECK_INT (nbd_can_meta_context (h, "a:1"), 1);
    CHECK_INT (nbd_can_meta_context (h, LIBNBD_CONTEXT_BASE_ALLOCATION), 0);
    CHECK_FAIL (nbd_get_size (h), EINVAL, "nbd_get_size");
    nbd_close (h);
  }

  /* libnbd 1.14 refused these locally without structured replies; 1.24
   * sends them and reports the server's answer, and 1.24 is the spec. */
  it_section ("meta context options go to the server without structured replies");
  h = test_create ();
  CHECK_OK (nbd_set_opt_mode (h, true));
  CHECK_OK (nbd_set_request_structured_replies (h, false));
  CHECK_OK (nbd_add_meta_context (h, LIBNBD_CONTEXT_BASE_ALLOCATION));
  CHECK_OK (nbd_connect_command (h, it_fakesrv ("--log", log, NULL)));
  CHECK_INT (nbd_get_structured_replies_negotiated (h), 0);
  it_calls_init (&c, "list without sr");
  CHECK_INT (nbd_opt_list_meta_context (h, it_context_closure (&c)), 1);
  CHECK_STR (c.names, LIBNBD_CONTEXT_BASE_ALLOCATION);
  printf ("   fakesrv wants structured replies before SET_META_CONTEXT: ERR_INVALID\n");
  it_calls_init (&c, "set without sr");
  CHECK_FAIL (nbd_opt_set_meta_context (h, it_context_closure (&c)), EINVAL,
              "nbd_opt_set_meta_context");
  CHECK (nbd_aio_is_negotiating (h));
  CHECK (it_file_has (log, "OPT LIST_META_CONTEXT"));
  CHECK (it_file_has (log, "OPT SET_META_CONTEXT"));
  nbd_close (h);

  it_section ("the GO completion on the NBD_OPT_EXPORT_NAME fallback sees the handle ready");
  h = opt_connect (it_fakesrv ("--refuse", "GO=UNSUP", "--refuse", "INFO=UNSUP", NULL));
  if (h) {
    struct go_seen g = { .h = h, .error = -1 };
    CHECK_OK (nbd_aio_opt_go (h, (nbd_completion_callback) { .callback = go_seen_cb,
                                                             .user_data = &g }));
    drive_option (h, "aio_opt_go (EXPORT_NAME fallback)");
    CHECK_INT (g.calls, 1);
    CHECK_INT (g.error, 0);
    CHECK_INT (g.ready, 1);
    CHECK (nbd_aio_is_ready (h));
    nbd_close (h);
  }
}

/* ---- .free ---- */

static void
free_case (void)
{
  struct nbd_handle *h;
  struct it_calls c;

  it_section ("free: server dies mid-option (fakesrv --fault rep-huge-length)");
  h = test_create ();
  CHECK_OK (nbd_set_opt_mode (h, true));
  CHECK_OK (nbd_set_request_structured_replies (h, false));
  CHECK_OK (nbd_connect_command (h, it_fakesrv ("--fault", "rep-huge-length", NULL)));
  it_calls_init (&c, "huge");
  CHECK_OK (nbd_aio_opt_list (h, it_list_closure (&c), it_completion_closure (&c)));
  drive_option (h, "aio_opt_list");
  IT_CHECK (nbd_aio_is_dead (h), "dead (%s)", it_pred_name (h));
  CHECK_INT (c.completions, 1);
  IT_CHECK (c.error != 0, "completion told an error (%d)", c.error);
  CHECK_INT (c.frees, 2);
  CHECK_STR (c.trace, "CFG");
  nbd_close (h);
  CHECK_INT (c.frees, 2);

  it_section ("free: server sends a bad reply magic mid-option (sync)");
  h = test_create ();
  CHECK_OK (nbd_set_opt_mode (h, true));
  CHECK_OK (nbd_set_request_structured_replies (h, false));
  CHECK_OK (nbd_connect_command (h, it_fakesrv ("--fault", "rep-bad-magic", NULL)));
  it_calls_init (&c, "bad magic");
  CHECK (nbd_opt_list (h, it_list_closure (&c)) == -1);
  printf ("   error: %s\n", nbd_get_error ());
  CHECK (nbd_aio_is_dead (h));
  CHECK_INT (c.frees, 1);
  nbd_close (h);
  CHECK_INT (c.frees, 1);

  it_section ("free: the third option dies (--fault-at 3 counts automatic options)");
  h = test_create ();
  CHECK_OK (nbd_set_opt_mode (h, true));
  CHECK_OK (nbd_connect_command (h, it_fakesrv ("--fault", "rep-huge-length", "--fault-at",
                                                "3", NULL)));
  it_calls_init (&c, "ctx");
  CHECK_OK (nbd_aio_opt_list_meta_context (h, it_context_closure (&c),
                                           it_completion_closure (&c)));
  drive_option (h, "aio_opt_list_meta_context");
  CHECK (nbd_aio_is_dead (h));
  CHECK_INT (c.completions, 1);
  CHECK_INT (c.frees, 2);
  nbd_close (h);

  it_section ("free: the server is killed while the option is pending");
  h = test_create ();
  CHECK_OK (nbd_set_opt_mode (h, true));
  /* The server never answers the option (the third, counting the two
   * automatic ones), so the kill always finds it pending: a server that
   * answered at once could win the race and complete the option. */
  CHECK_OK (nbd_connect_command (h, it_fakesrv ("--fault", "rep-hang", "--fault-at",
                                                "3", NULL)));
  it_calls_init (&c, "killed");
  CHECK_OK (nbd_aio_opt_list (h, it_list_closure (&c), it_completion_closure (&c)));
  CHECK_OK (nbd_kill_subprocess (h, SIGKILL));
  drive_option (h, "aio_opt_list");
  IT_CHECK (nbd_aio_is_dead (h), "dead (%s)", it_pred_name (h));
  CHECK_INT (c.completions, 1);
  IT_CHECK (c.error != 0, "completion told an error (%d)", c.error);
  CHECK_INT (c.frees, 2);
  nbd_close (h);
  CHECK_INT (c.frees, 2);

  it_section ("free: nbd_close while an aio option is pending");
  {
    static const char *kinds[] = { "list", "info", "go", "list_meta", "set_meta", "sr" };
    for (size_t k = 0; k < sizeof kinds / sizeof kinds[0]; k++) {
      unsigned want;
      h = test_create ();
      CHECK_OK (nbd_set_opt_mode (h, true));
      /* Only the "sr" case needs structured replies left to negotiate;
       * the fake server refuses SET_META_CONTEXT without them. */
      CHECK_OK (nbd_set_request_structured_replies (h, k != 5));
      CHECK_OK (nbd_connect_command (h, it_fakesrv (NULL)));
      it_calls_init (&c, kinds[k]);
      switch (k) {
      case 0: CHECK_OK (nbd_aio_opt_list (h, it_list_closure (&c), it_completion_closure (&c)));
        want = 2; break;
      case 1: CHECK_OK (nbd_aio_opt_info (h, it_completion_closure (&c))); want = 1; break;
      case 2: CHECK_OK (nbd_aio_opt_go (h, it_completion_closure (&c))); want = 1; break;
      case 3: CHECK_OK (nbd_aio_opt_list_meta_context (h, it_context_closure (&c),
                                                       it_completion_closure (&c)));
        want = 2; break;
      case 4: CHECK_OK (nbd_aio_opt_set_meta_context (h, it_context_closure (&c),
                                                      it_completion_closure (&c)));
        want = 2; break;
      default: CHECK_OK (nbd_aio_opt_structured_reply (h, it_completion_closure (&c)));
        want = 1; break;
      }
      IT_CHECK (c.frees == 0, "%s: nothing freed while pending", kinds[k]);
      nbd_close (h);
      printf ("   %s: after nbd_close: frees %u, completions %u, order %s\n", kinds[k],
              c.frees, c.completions, c.trace);
      IT_CHECK (c.frees == want, "%s: each .free ran once (%u, want %u)", kinds[k],
                c.frees, want);
      IT_CHECK (c.completions <= 1, "%s: completion at most once", kinds[k]);
      IT_CHECK (strstr (c.trace, "FG") || strcmp (c.trace + strlen (c.trace) - 1, "G") == 0,
                "%s: completion's .free last (%s)", kinds[k], c.trace);
    }
  }

  it_section ("free: calls refused by the state check free their closures");
  h = test_create ();
  it_calls_init (&c, "created");
  CHECK_FAIL (nbd_aio_opt_list (h, it_list_closure (&c), it_completion_closure (&c)),
              ENOTCONN, "nbd_aio_opt_list");
  CHECK_INT (c.frees, 2);
  CHECK_INT (c.completions, 0);
  it_calls_init (&c, "created sync");
  CHECK_FAIL (nbd_opt_list (h, it_list_closure (&c)), ENOTCONN, "nbd_opt_list");
  CHECK_INT (c.frees, 1);
  CHECK_OK (nbd_connect_command (h, it_fakesrv (NULL)));
  it_calls_init (&c, "ready");
  CHECK_FAIL (nbd_aio_opt_set_meta_context (h, it_context_closure (&c),
                                            it_completion_closure (&c)),
              EINVAL, "nbd_aio_opt_set_meta_context");
  CHECK_INT (c.frees, 2);
  it_calls_init (&c, "ready info");
  CHECK_FAIL (nbd_aio_opt_info (h, it_completion_closure (&c)), EINVAL, "nbd_aio_opt_info");
  CHECK_INT (c.frees, 1);
  nbd_close (h);

  it_section ("free: an option already pending refuses a second one, and frees it");
  h = opt_connect (it_fakesrv (NULL));
  if (h) {
    struct it_calls c2;
    it_calls_init (&c, "first");
    it_calls_init (&c2, "second");
    CHECK_OK (nbd_aio_opt_list (h, it_list_closure (&c), it_completion_closure (&c)));
    IT_CHECK (nbd_aio_opt_list (h, it_list_closure (&c2), it_completion_closure (&c2)) == -1,
              "a second option while one is pending is refused");
    CHECK_INT (c2.frees, 2);
    CHECK_INT (c2.completions, 0);
    drive_option (h, "first");
    CHECK_INT (c.completions, 1);
    CHECK_INT (c.frees, 2);
    nbd_close (h);
  }

  it_section ("free: completion with .callback NULL and .free set");
  h = opt_connect (it_fakesrv (NULL));
  if (h) {
    it_calls_init (&c, "null callback");
    CHECK_OK (nbd_aio_opt_list (h, it_list_closure (&c),
                                (nbd_completion_callback) { .callback = NULL, .user_data = &c,
                                                            .free = it_free_completion_cb }));
    drive_option (h, "aio_opt_list");
    CHECK_INT (c.items, 1);
    CHECK_INT (c.frees, 2);
    CHECK_STR (c.trace, "IFG");
    nbd_close (h);
  }
}

int
main (int argc, char *argv[])
{
  static const struct it_case cases[] = {
    { "list", list_case },
    { "info", info_case },
    { "go", go_case },
    { "abort", abort_case },
    { "meta", meta_case },
    { "sr-eh", sr_eh_case },
    { "errors", errors_case },
    { "free", free_case },
    { "forget", forget_case },
    { NULL, NULL },
  };
  return it_main (argc, argv, cases);
}
