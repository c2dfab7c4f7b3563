/* Meta contexts: requested with nbd_add_meta_context, negotiated
 * during the handshake, reported by nbd_can_meta_context, and used by
 * NBD_CMD_BLOCK_STATUS.
 *
 * usage: meta SERVER
 *   nbdkit    base:allocation from nbdkit (memory plugin)
 *   qemu-nbd  base:allocation, qemu:allocation-depth (-A) and
 *             qemu:dirty-bitmap:b0 (-B b0) from a qcow2 image
 *   fakesrv   contexts the fake server offers (--meta-context)
 */
#include "interop.h"

/* What the block status callback saw, per context. */
struct bs_seen {
  unsigned calls;
  char contexts[512];
  /* For the first extent at/after `probe`: the flags. */
  uint64_t probe;
  struct { char name[64]; uint32_t flags; bool found; } at[4];
};

static int
bs_cb (void *ud, const char *meta, uint64_t offset, uint32_t *entries,
       size_t nr, int *error)
{
  struct bs_seen *s = ud;
  uint64_t pos = offset;

  (void) error;
  s->calls++;
  it_append (s->contexts, sizeof s->contexts, meta);
  for (int k = 0; k < 4; k++) {
    if (s->at[k].name[0] == '\0') {
      snprintf (s->at[k].name, sizeof s->at[k].name, "%s", meta);
      for (size_t i = 0; i + 1 < nr; i += 2) {
        if (pos <= s->probe && s->probe < pos + entries[i]) {
          s->at[k].flags = entries[i + 1];
          s->at[k].found = true;
          break;
        }
        pos += entries[i];
      }
      break;
    }
  }
  return 0;
}

/* The 64-bit callback of nbd_block_status_filter: only which contexts
 * reported, and how many extents in all. */
static int
bs64_cb (void *ud, const char *meta, uint64_t offset, nbd_extent *entries,
         size_t nr, int *error)
{
  struct bs_seen *s = ud;

  (void) offset, (void) entries, (void) error;
  s->calls++;
  it_append (s->contexts, sizeof s->contexts, meta);
  s->at[0].flags += (uint32_t) nr;
  return 0;
}

static int
flags_for (struct bs_seen *s, const char *meta)
{
  for (int k = 0; k < 4; k++)
    if (strcmp (s->at[k].name, meta) == 0 && s->at[k].found)
      return (int) s->at[k].flags;
  return -1;
}

static void
block_status_at (struct nbd_handle *h, uint64_t offset, uint64_t len, struct bs_seen *s)
{
  memset (s, 0, sizeof *s);
  s->probe = offset;
  CHECK_OK (nbd_block_status (h, len, offset,
                              (nbd_extent_callback) { .callback = bs_cb, .user_data = s },
                              0));
}

/* ---- nbdkit ---- */

static void
nbdkit_cases (void)
{
  struct nbd_handle *h;
  struct bs_seen s;
  char **argv = it_argv ("nbdkit", "-s", "--exit-with-parent", "memory", "1M", NULL);
  char data[65536];

  it_section ("nbdkit: base:allocation requested and negotiated");
  h = test_create ();
  CHECK_OK (nbd_add_meta_context (h, LIBNBD_CONTEXT_BASE_ALLOCATION));
  CHECK_INT (nbd_get_nr_meta_contexts (h), 1);
  CHECK_OK (nbd_connect_command (h, argv));
  CHECK_INT (nbd_can_meta_context (h, LIBNBD_CONTEXT_BASE_ALLOCATION), 1);
  CHECK_INT (nbd_can_meta_context (h, "qemu:allocation-depth"), 0);
  memset (data, 'd', sizeof data);
  CHECK_OK (nbd_pwrite (h, data, sizeof data, 65536, 0));
  block_status_at (h, 0, 1024 * 1024, &s);
  printf ("   block status: %u callback(s), contexts %s; flags at 0: %d\n",
          s.calls, s.contexts, flags_for (&s, LIBNBD_CONTEXT_BASE_ALLOCATION));
  CHECK_INT (s.calls, 1);
  CHECK_STR (s.contexts, LIBNBD_CONTEXT_BASE_ALLOCATION);
  CHECK_INT (flags_for (&s, LIBNBD_CONTEXT_BASE_ALLOCATION),
             LIBNBD_STATE_HOLE | LIBNBD_STATE_ZERO);
  block_status_at (h, 65536, 65536, &s);
  CHECK_INT (flags_for (&s, LIBNBD_CONTEXT_BASE_ALLOCATION), 0);
  nbd_close (h);

  it_section ("nbdkit: nothing requested, nothing negotiated");
  h = test_create ();
  CHECK_OK (nbd_connect_command (h, argv));
  CHECK_INT (nbd_can_meta_context (h, LIBNBD_CONTEXT_BASE_ALLOCATION), 0);
  nbd_close (h);

  it_section ("nbdkit: requested, but nbd_set_request_meta_context (false)");
  h = test_create ();
  CHECK_OK (nbd_add_meta_context (h, LIBNBD_CONTEXT_BASE_ALLOCATION));
  CHECK_OK (nbd_set_request_meta_context (h, false));
  CHECK_OK (nbd_connect_command (h, argv));
  /* Contexts requested but never negotiated: nbd_can_meta_context(3)
   * of libnbd 1.24 fails (1.14 answered 0; 1.24 is the spec). */
  CHECK_FAIL (nbd_can_meta_context (h, LIBNBD_CONTEXT_BASE_ALLOCATION), EINVAL,
              "nbd_can_meta_context");
  nbd_close (h);

  it_section ("nbdkit: requested, but no structured replies: not negotiated");
  h = test_create ();
  CHECK_OK (nbd_add_meta_context (h, LIBNBD_CONTEXT_BASE_ALLOCATION));
  CHECK_OK (nbd_set_request_structured_replies (h, false));
  CHECK_OK (nbd_connect_command (h, argv));
  CHECK_INT (nbd_can_meta_context (h, LIBNBD_CONTEXT_BASE_ALLOCATION), 0);
  nbd_close (h);

  it_section ("nbdkit: a context nbdkit does not know is not negotiated");
  h = test_create ();
  CHECK_OK (nbd_add_meta_context (h, "qemu:dirty-bitmap:b0"));
  CHECK_OK (nbd_add_meta_context (h, LIBNBD_CONTEXT_BASE_ALLOCATION));
  CHECK_OK (nbd_connect_command (h, argv));
  CHECK_INT (nbd_can_meta_context (h, "qemu:dirty-bitmap:b0"), 0);
  CHECK_INT (nbd_can_meta_context (h, LIBNBD_CONTEXT_BASE_ALLOCATION), 1);
  nbd_close (h);

  it_section ("nbdkit: option mode, list all contexts, then go");
  h = test_create ();
  CHECK_OK (nbd_set_opt_mode (h, true));
  CHECK_OK (nbd_connect_command (h, argv));
  {
    struct it_calls c;
    int r;
    it_calls_init (&c, "list");
    r = nbd_opt_list_meta_context (h, it_context_closure (&c));
    printf ("   nbd_opt_list_meta_context: %d (%s)\n", r, c.names);
    CHECK_INT (r, (int) c.items);
    CHECK (r >= 1);
    CHECK (it_list_has (c.names, LIBNBD_CONTEXT_BASE_ALLOCATION));
    CHECK_INT (c.frees, 1);
  }
  CHECK_OK (nbd_add_meta_context (h, LIBNBD_CONTEXT_BASE_ALLOCATION));
  CHECK_OK (nbd_opt_go (h));
  CHECK_INT (nbd_can_meta_context (h, LIBNBD_CONTEXT_BASE_ALLOCATION), 1);
  nbd_close (h);
}

/* ---- qemu-nbd ---- */

static const char *qemu_sock;

static bool
start_qemu_nbd (void)
{
  const char *img = it_path ("img.qcow2"), *pidfile = it_path ("qemu-nbd.pid");
  char cmd[1024];
  pid_t pid;
  char **argv;

  snprintf (cmd, sizeof cmd,
            "qemu-img create -q -f qcow2 '%s' 4M && qemu-img bitmap --add '%s' b0",
            img, img);
  printf ("   %s\n", cmd);
  if (system (cmd) != 0) {
    fprintf (stderr, "qemu-img failed\n");
    return false;
  }
  qemu_sock = it_path ("qemu.sock");
  argv = it_argv ("qemu-nbd", "-k", qemu_sock, "--pid-file", pidfile, "-f", "qcow2",
                  "-A", "-B", "b0", "-t", img, NULL);
  it_print_argv ("server", argv);
  pid = it_spawn (argv);
  return it_wait_file (pid, pidfile) && it_wait_unix (pid, qemu_sock);
}

static void
qemu_cases (void)
{
  static const char *all[] = {
    LIBNBD_CONTEXT_BASE_ALLOCATION, "qemu:allocation-depth", "qemu:dirty-bitmap:b0",
  };
  struct nbd_handle *h;
  struct bs_seen s;
  char data[65536];

  if (!it_have ("qemu-nbd") || !it_have ("qemu-img"))
    TEST_SKIP ("qemu-nbd / qemu-img not installed");
  it_section ("qemu-nbd serving a qcow2 with bitmap b0, -A, -B b0");
  if (!start_qemu_nbd ()) {
    IT_CHECK (0, "qemu-nbd started");
    return;
  }

  it_section ("qemu-nbd: three contexts requested, all negotiated");
  h = test_create ();
  for (int i = 0; i < 3; i++)
    CHECK_OK (nbd_add_meta_context (h, all[i]));
  CHECK_INT (nbd_get_nr_meta_contexts (h), 3);
  CHECK_OK (nbd_connect_unix (h, qemu_sock));
  for (int i = 0; i < 3; i++)
    IT_CHECK (nbd_can_meta_context (h, all[i]) == 1, "can_meta_context (%s)", all[i]);
  CHECK_INT (nbd_can_meta_context (h, "qemu:dirty-bitmap:b1"), 0);

  /* Write 64K at 1M: data there, allocated at depth 1, dirty in b0. */
  memset (data, 'q', sizeof data);
  CHECK_OK (nbd_pwrite (h, data, sizeof data, 1024 * 1024, 0));
  CHECK_OK (nbd_flush (h, 0));
  block_status_at (h, 1024 * 1024, 65536, &s);
  printf ("   block status at 1M: %u callbacks, contexts %s\n", s.calls, s.contexts);
  CHECK_INT (s.calls, 3);
  for (int i = 0; i < 3; i++)
    IT_CHECK (it_list_has (s.contexts, all[i]), "block status reported %s", all[i]);
  printf ("   flags: base:allocation %d, allocation-depth %d, dirty-bitmap %d\n",
          flags_for (&s, all[0]), flags_for (&s, all[1]), flags_for (&s, all[2]));
  CHECK_INT (flags_for (&s, all[0]), 0);
  CHECK_INT (flags_for (&s, all[1]), 1);
  CHECK_INT (flags_for (&s, all[2]), 1);
  block_status_at (h, 3 * 1024 * 1024, 65536, &s);
  printf ("   flags at 3M: base:allocation %d, allocation-depth %d, dirty-bitmap %d\n",
          flags_for (&s, all[0]), flags_for (&s, all[1]), flags_for (&s, all[2]));
  CHECK_INT (flags_for (&s, all[0]), LIBNBD_STATE_HOLE | LIBNBD_STATE_ZERO);
  CHECK_INT (flags_for (&s, all[1]), 0);
  CHECK_INT (flags_for (&s, all[2]), 0);
  CHECK_OK (nbd_shutdown (h, 0));
  nbd_close (h);

  it_section ("qemu-nbd: only the bitmap requested");
  h = test_create ();
  CHECK_OK (nbd_add_meta_context (h, "qemu:dirty-bitmap:b0"));
  CHECK_OK (nbd_connect_unix (h, qemu_sock));
  CHECK_INT (nbd_can_meta_context (h, "qemu:dirty-bitmap:b0"), 1);
  CHECK_INT (nbd_can_meta_context (h, LIBNBD_CONTEXT_BASE_ALLOCATION), 0);
  block_status_at (h, 1024 * 1024, 65536, &s);
  CHECK_STR (s.contexts, "qemu:dirty-bitmap:b0");
  nbd_close (h);

  it_section ("qemu-nbd: option mode, list contexts (all, then \"qemu:\"), set, go");
  h = test_create ();
  CHECK_OK (nbd_set_opt_mode (h, true));
  CHECK_OK (nbd_connect_unix (h, qemu_sock));
  {
    struct it_calls c;
    int r;
    char *q[] = { "qemu:", NULL };

    it_calls_init (&c, "all");
    r = nbd_opt_list_meta_context (h, it_context_closure (&c));
    printf ("   all: %d (%s)\n", r, c.names);
    CHECK_INT (r, (int) c.items);
    for (int i = 0; i < 3; i++)
      IT_CHECK (it_list_has (c.names, all[i]), "listed %s", all[i]);
    CHECK_INT (c.frees, 1);

    it_calls_init (&c, "qemu:");
    r = nbd_opt_list_meta_context_queries (h, q, it_context_closure (&c));
    printf ("   \"qemu:\": %d (%s)\n", r, c.names);
    CHECK_INT (r, (int) c.items);
    CHECK (r >= 1);
    IT_CHECK (!it_list_has (c.names, LIBNBD_CONTEXT_BASE_ALLOCATION),
              "base:allocation not listed for qemu:");
    CHECK_INT (c.frees, 1);

    it_calls_init (&c, "set");
    {
      char *qs[] = { "qemu:allocation-depth", "qemu:dirty-bitmap:b0", "nosuch:ctx", NULL };
      r = nbd_opt_set_meta_context_queries (h, qs, it_context_closure (&c));
    }
    printf ("   set_meta_context_queries: %d (%s)\n", r, c.names);
    CHECK_INT (r, 2);
    CHECK_INT (c.items, 2);
    CHECK_INT (c.frees, 1);
    CHECK_OK (nbd_set_request_meta_context (h, false));
    CHECK_OK (nbd_opt_go (h));
    CHECK_INT (nbd_can_meta_context (h, "qemu:allocation-depth"), 1);
    CHECK_INT (nbd_can_meta_context (h, "qemu:dirty-bitmap:b0"), 1);
    CHECK_INT (nbd_can_meta_context (h, LIBNBD_CONTEXT_BASE_ALLOCATION), 0);
  }
  nbd_close (h);
}

/* ---- the fake server ---- */

static void
fakesrv_cases (void)
{
  struct nbd_handle *h;
  struct bs_seen s;
  char **argv = it_fakesrv ("--meta-context", "base:allocation", "--meta-context", "x:one",
                            "--meta-context", "x:two", "--export", ":d:1M", NULL);

  it_section ("fakesrv: three contexts offered, two requested");
  h = test_create ();
  CHECK_OK (nbd_add_meta_context (h, LIBNBD_CONTEXT_BASE_ALLOCATION));
  CHECK_OK (nbd_add_meta_context (h, "x:two"));
  CHECK_OK (nbd_connect_command (h, argv));
  CHECK_INT (nbd_can_meta_context (h, LIBNBD_CONTEXT_BASE_ALLOCATION), 1);
  CHECK_INT (nbd_can_meta_context (h, "x:two"), 1);
  CHECK_INT (nbd_can_meta_context (h, "x:one"), 0);
  block_status_at (h, 65536, 65536, &s);
  printf ("   contexts in block status: %s\n", s.contexts);
  CHECK_INT (s.calls, 2);
  CHECK (it_list_has (s.contexts, "x:two"));
  CHECK_INT (flags_for (&s, LIBNBD_CONTEXT_BASE_ALLOCATION),
             LIBNBD_STATE_HOLE | LIBNBD_STATE_ZERO);
  nbd_close (h);

  it_section ("fakesrv --extended: the same with extended headers");
  h = test_create ();
  CHECK_OK (nbd_add_meta_context (h, "x:one"));
  CHECK_OK (nbd_connect_command (h, it_fakesrv ("--extended", "--meta-context", "x:one",
                                                NULL)));
  CHECK_INT (nbd_get_extended_headers_negotiated (h), 1);
  CHECK_INT (nbd_can_meta_context (h, "x:one"), 1);
  block_status_at (h, 0, 65536, &s);
  CHECK_STR (s.contexts, "x:one");
  nbd_close (h);

  it_section ("fakesrv --extended: block status filtered to one of two contexts");
  h = test_create ();
  CHECK_OK (nbd_add_meta_context (h, "x:one"));
  CHECK_OK (nbd_add_meta_context (h, "x:two"));
  CHECK_OK (nbd_connect_command (h, it_fakesrv ("--extended", "--meta-context", "x:one",
                                                "--meta-context", "x:two", NULL)));
  CHECK_INT (nbd_can_block_status_payload (h), 1);
  char *only_two[] = { "x:two", NULL };
  nbd_extent64_callback cb64 = { .callback = bs64_cb, .user_data = &s };
  memset (&s, 0, sizeof s);
  CHECK_OK (nbd_block_status_filter (h, 65536, 0, only_two, cb64, 0));
  CHECK_INT (s.calls, 1);
  CHECK_STR (s.contexts, "x:two");
  CHECK (s.at[0].flags >= 1);
  /* The same without waiting: a cookie, retired by
   * nbd_aio_command_completed once the reply is in. */
  memset (&s, 0, sizeof s);
  int64_t cookie = nbd_aio_block_status_filter (h, 65536, 0, only_two, cb64,
                                                NBD_NULL_COMPLETION, 0);
  CHECK (cookie >= 1);
  int done;
  while ((done = nbd_aio_command_completed (h, (uint64_t) cookie)) == 0)
    CHECK (nbd_poll (h, 10000) >= 0);
  CHECK_INT (done, 1);
  CHECK_INT (s.calls, 1);
  CHECK_STR (s.contexts, "x:two");
  nbd_close (h);

  it_section ("fakesrv refusing SET_META_CONTEXT: connect works, nothing negotiated");
  h = test_create ();
  CHECK_OK (nbd_add_meta_context (h, LIBNBD_CONTEXT_BASE_ALLOCATION));
  CHECK_OK (nbd_connect_command (h, it_fakesrv ("--refuse", "SET_META_CONTEXT=POLICY:no",
                                                NULL)));
  CHECK (nbd_aio_is_ready (h));
  /* A failed SET_META_CONTEXT: nbd_can_meta_context(3) of libnbd 1.24
   * fails rather than answer (1.14 answered 0; 1.24 is the spec). */
  CHECK_FAIL (nbd_can_meta_context (h, LIBNBD_CONTEXT_BASE_ALLOCATION), EINVAL,
              "nbd_can_meta_context");
  nbd_close (h);
}

int
main (int argc, char *argv[])
{
  if (argc != 2) {
    fprintf (stderr, "usage: %s SERVER\n", argv[0]);
    return 99;
  }
  it_init ();
  if (strcmp (argv[1], "nbdkit") == 0) {
    if (!it_have ("nbdkit"))
      TEST_SKIP ("nbdkit is not installed");
    nbdkit_cases ();
  }
  else if (strcmp (argv[1], "qemu-nbd") == 0)
    qemu_cases ();
  else if (strcmp (argv[1], "fakesrv") == 0)
    fakesrv_cases ();
  else {
    fprintf (stderr, "unknown server %s\n", argv[1]);
    return 99;
  }
  return test_exit ();
}
