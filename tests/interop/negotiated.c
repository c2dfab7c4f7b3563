/* What negotiation teaches, and errors before it is known; the
 * disconnect at the end.
 *
 * usage: negotiated CASE
 *   getters   before connecting: ENOTCONN; negotiating before
 *             nbd_opt_info: EINVAL; after opt_info / opt_go / shutdown:
 *             the export's size and flags, compared with the server's
 *             configuration (nbdkit memory, nbdkit -r, nbdkit with
 *             filters turning features off, fakesrv flags)
 *   overflow  an export size above INT64_MAX: nbd_get_size fails with
 *             EOVERFLOW (fakesrv --export NAME:DESC:9E)
 *   disc      nbd_shutdown, nbd_aio_disconnect and nbd_close send
 *             NBD_CMD_DISC (fakesrv --log shows "CMD DISC")
 */
#include "interop.h"

#define ALL_FLAGS 11

/* The facts nbd_is_* / nbd_can_* report, in one order. */
static const char *flag_names[ALL_FLAGS] = {
  "is_read_only", "can_flush", "can_fua", "is_rotational", "can_trim",
  "can_zero", "can_fast_zero", "can_df", "can_multi_conn", "can_cache",
  "can_block_status_payload",
};

static int
get_flag (struct nbd_handle *h, int i)
{
  switch (i) {
  case 0: return nbd_is_read_only (h);
  case 1: return nbd_can_flush (h);
  case 2: return nbd_can_fua (h);
  case 3: return nbd_is_rotational (h);
  case 4: return nbd_can_trim (h);
  case 5: return nbd_can_zero (h);
  case 6: return nbd_can_fast_zero (h);
  case 7: return nbd_can_df (h);
  case 8: return nbd_can_multi_conn (h);
  case 9: return nbd_can_cache (h);
  default: return nbd_can_block_status_payload (h);
  }
}

static const char *
fn_name (int i)
{
  static char buf[64];
  snprintf (buf, sizeof buf, "nbd_%s", flag_names[i]);
  return buf;
}

/* Every export fact fails with err. */
static void
all_fail (struct nbd_handle *h, int err, const char *when)
{
  printf ("   %s: every export fact fails with %s\n", when, strerror (err));
  for (int i = 0; i < ALL_FLAGS; i++) {
    test_count ();
    if (get_flag (h, i) != -1)
      test_report (__FILE__, __LINE__, "%s %s did not fail", fn_name (i), when);
    else
      test_check_error (__FILE__, __LINE__, fn_name (i), err, fn_name (i));
  }
  CHECK_FAIL (nbd_get_size (h), err, "nbd_get_size");
  CHECK_FAIL (nbd_get_block_size (h, LIBNBD_SIZE_MINIMUM), err, "nbd_get_block_size");
  CHECK_FAIL_NULL (nbd_get_export_description (h), err, "nbd_get_export_description");
  CHECK_FAIL_NULL (nbd_get_canonical_export_name (h), err, "nbd_get_canonical_export_name");
}

struct expect {
  const char *what;
  char **argv;
  int64_t size;
  int flags[ALL_FLAGS];
};

static void
check_facts (struct nbd_handle *h, const struct expect *e, const char *when)
{
  printf ("   %s:", when);
  for (int i = 0; i < ALL_FLAGS; i++)
    printf (" %s=%d", strchr (flag_names[i], '_') + 1, get_flag (h, i));
  printf (" size=%" PRId64 "\n", nbd_get_size (h));
  CHECK_INT (nbd_get_size (h), e->size);
  for (int i = 0; i < ALL_FLAGS; i++)
    IT_CHECK (get_flag (h, i) == e->flags[i], "%s: %s is %d, the server says %d",
              when, fn_name (i), get_flag (h, i), e->flags[i]);
}

static void
getters_case (void)
{
  /*                       ro fl fua rot tr ze fz df mc ca bsp */
  struct expect cases[] = {
    { "nbdkit memory", it_argv ("nbdkit", "-s", "--exit-with-parent", "memory", "1M", NULL),
      1024 * 1024, { 0, 1, 1, 0, 1, 1, 1, 1, 1, 1, 0 } },
    { "nbdkit -r memory", it_argv ("nbdkit", "-s", "-r", "--exit-with-parent", "memory", "2M",
                                   NULL),
      2 * 1024 * 1024, { 1, 1, 0, 0, 0, 0, 0, 1, 1, 1, 0 } },
    { "nbdkit memory, fua/nocache/multi-conn/nozero filters",
      it_argv ("nbdkit", "-s", "--exit-with-parent", "--filter=fua", "--filter=nocache",
               "--filter=multi-conn", "--filter=nozero", "memory", "3M", "cachemode=none",
               "multi-conn-mode=disable", "zeromode=none", NULL),
      3 * 1024 * 1024, { 0, 1, 0, 0, 1, 0, 0, 1, 0, 0, 0 } },
    { "fakesrv", it_fakesrv ("--export", ":d:5M", NULL),
      5 * 1024 * 1024, { 0, 1, 1, 0, 1, 1, 1, 1, 1, 1, 0 } },
    { "fakesrv --read-only --rotational",
      it_fakesrv ("--read-only", "--rotational", "--export", ":d:6M", NULL),
      6 * 1024 * 1024, { 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0 } },
    { "fakesrv --extended", it_fakesrv ("--extended", "--export", ":d:7M", NULL),
      7 * 1024 * 1024, { 0, 1, 1, 0, 1, 1, 1, 1, 1, 1, 1 } },
  };

  for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
    struct expect *e = &cases[k];
    struct nbd_handle *h = test_create ();

    it_section ("%s", e->what);
    it_print_argv ("server", e->argv);
    all_fail (h, ENOTCONN, "before connecting");
    CHECK_FAIL (nbd_can_meta_context (h, LIBNBD_CONTEXT_BASE_ALLOCATION), ENOTCONN,
                "nbd_can_meta_context");
    CHECK_FAIL_NULL (nbd_get_protocol (h), ENOTCONN, "nbd_get_protocol");
    CHECK_OK (nbd_set_opt_mode (h, true));
    if (nbd_connect_command (h, e->argv) == -1) {
      IT_CHECK (0, "connect");
      nbd_close (h);
      continue;
    }
    all_fail (h, EINVAL, "negotiating, before nbd_opt_info");
    /* nbd_can_meta_context(3) of libnbd 1.24 fails only when contexts
     * were requested: with none, the answer is no, not an error
     * (libnbd 1.14 still failed with EINVAL; 1.24 is the spec). */
    CHECK_INT (nbd_can_meta_context (h, LIBNBD_CONTEXT_BASE_ALLOCATION), 0);
    printf ("   known while negotiating: protocol %s, structured replies %d, "
            "extended headers %d, tls %d\n",
            nbd_get_protocol (h), nbd_get_structured_replies_negotiated (h),
            nbd_get_extended_headers_negotiated (h), nbd_get_tls_negotiated (h));
    CHECK_STR (nbd_get_protocol (h), "newstyle-fixed");
    CHECK_INT (nbd_get_structured_replies_negotiated (h), 1);
    CHECK_INT (nbd_get_tls_negotiated (h), 0);

    CHECK_OK (nbd_opt_info (h));
    check_facts (h, e, "after nbd_opt_info");
    CHECK_OK (nbd_opt_go (h));
    check_facts (h, e, "after nbd_opt_go");
    CHECK_OK (nbd_shutdown (h, 0));
    CHECK (nbd_aio_is_closed (h));
    check_facts (h, e, "after nbd_shutdown");
    nbd_close (h);

    /* The same without option mode, and with the aio connect. */
    h = test_create ();
    CHECK_OK (nbd_aio_connect_command (h, e->argv));
    CHECK_OK (it_drive (h, it_not_connecting, NULL));
    check_facts (h, e, "after nbd_aio_connect_command");
    nbd_close (h);
  }

  it_section ("without structured replies: can_df is false even if the export could");
  {
    struct nbd_handle *h = test_create ();
    CHECK_OK (nbd_set_request_structured_replies (h, false));
    CHECK_OK (nbd_connect_command (h, it_fakesrv (NULL)));
    CHECK_INT (nbd_can_df (h), 0);
    CHECK_INT (nbd_get_structured_replies_negotiated (h), 0);
    nbd_close (h);
  }

  it_section ("a failed nbd_opt_info / nbd_opt_go forgets what an earlier INFO taught");
  {
    struct nbd_handle *h = test_create ();
    CHECK_OK (nbd_set_opt_mode (h, true));
    CHECK_OK (nbd_set_full_info (h, true));
    CHECK_OK (nbd_connect_command (h, it_fakesrv ("--export", "a:about a:1M", NULL)));
    CHECK_OK (nbd_set_export_name (h, "a"));
    CHECK_OK (nbd_opt_info (h));
    CHECK_INT (nbd_get_size (h), 1024 * 1024);
    /* libnbd 1.24 forgets the previous export's facts when the name
     * changes (libnbd 1.14 kept them; 1.24 is the spec). */
    printf ("   renaming forgets the facts of the old name\n");
    CHECK_OK (nbd_set_export_name (h, "b"));
    CHECK_FAIL (nbd_get_size (h), EINVAL, "nbd_get_size");
    printf ("   INFO on \"b\" fails: the facts of \"a\" must not be reported for it\n");
    CHECK_FAIL (nbd_opt_info (h), ENOENT, "nbd_opt_info");
    CHECK_FAIL (nbd_get_size (h), EINVAL, "nbd_get_size");
    CHECK_FAIL (nbd_can_flush (h), EINVAL, "nbd_can_flush");
    CHECK_FAIL_NULL (nbd_get_export_description (h), EINVAL, "nbd_get_export_description");
    CHECK_OK (nbd_set_export_name (h, "a"));
    CHECK_OK (nbd_opt_info (h));
    CHECK_INT (nbd_get_size (h), 1024 * 1024);
    printf ("   GO on \"b\" fails: likewise\n");
    CHECK_OK (nbd_set_export_name (h, "b"));
    CHECK_FAIL (nbd_opt_go (h), ENOENT, "nbd_opt_go");
    CHECK (nbd_aio_is_negotiating (h));
    CHECK_FAIL (nbd_get_size (h), EINVAL, "nbd_get_size");
    CHECK_FAIL (nbd_is_read_only (h), EINVAL, "nbd_is_read_only");
    nbd_close (h);
  }

  it_section ("a failed nbd_opt_info teaches nothing");
  {
    struct nbd_handle *h = test_create ();
    CHECK_OK (nbd_set_opt_mode (h, true));
    CHECK_OK (nbd_set_export_name (h, "missing"));
    CHECK_OK (nbd_connect_command (h, it_fakesrv (NULL)));
    CHECK_FAIL (nbd_opt_info (h), ENOENT, "nbd_opt_info");
    CHECK_FAIL (nbd_get_size (h), EINVAL, "nbd_get_size");
    CHECK_FAIL (nbd_can_flush (h), EINVAL, "nbd_can_flush");
    nbd_close (h);
  }
}

/* ---- sizes above INT64_MAX ---- */

static void
overflow_case (void)
{
  static const char *sizes[] = { "8E", "9E", "15E" };

  for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
    char exp[64];
    struct nbd_handle *h;
    char buf[512];

    snprintf (exp, sizeof exp, ":huge:%s", sizes[i]);
    it_section ("export size %s (above INT64_MAX): EOVERFLOW", sizes[i]);
    h = test_create ();
    if (nbd_connect_command (h, it_fakesrv ("--export", exp, NULL)) == -1) {
      IT_CHECK (0, "connecting to a %s export", sizes[i]);
      nbd_close (h);
      continue;
    }
    CHECK_FAIL (nbd_get_size (h), EOVERFLOW, "nbd_get_size");
    printf ("   nbd_get_size: %s\n", nbd_get_error ());
    /* The connection itself is fine. */
    CHECK_OK (nbd_pread (h, buf, sizeof buf, 0, 0));
    nbd_close (h);

    h = test_create ();
    CHECK_OK (nbd_set_opt_mode (h, true));
    CHECK_OK (nbd_connect_command (h, it_fakesrv ("--export", exp, NULL)));
    CHECK_OK (nbd_opt_info (h));
    CHECK_FAIL (nbd_get_size (h), EOVERFLOW, "nbd_get_size");
    CHECK_INT (nbd_is_read_only (h), 0);
    nbd_close (h);
  }

  it_section ("export size 7E fits");
  {
    struct nbd_handle *h = test_create ();
    CHECK_OK (nbd_connect_command (h, it_fakesrv ("--export", ":big:7E", NULL)));
    CHECK_INT (nbd_get_size (h), (int64_t) 7 << 60);
    nbd_close (h);
  }
}

/* ---- NBD_CMD_DISC ---- */

static const char *
fresh_log (const char *name)
{
  const char *p = it_path (name);
  unlink (p);
  return p;
}

static void
disc_case (void)
{
  struct nbd_handle *h;
  const char *log;
  char buf[512];
  struct it_trace tr;

  it_section ("nbd_shutdown sends NBD_CMD_DISC");
  log = fresh_log ("disc1.log");
  h = test_create ();
  CHECK_OK (nbd_connect_command (h, it_fakesrv ("--log", log, NULL)));
  CHECK_OK (nbd_pread (h, buf, sizeof buf, 0, 0));
  CHECK_OK (nbd_shutdown (h, 0));
  CHECK (nbd_aio_is_closed (h));
  IT_CHECK (it_file_has (log, "CMD DISC"), "the server logged CMD DISC");
  CHECK_FAIL (nbd_shutdown (h, 0), EINVAL, "nbd_shutdown");
  nbd_close (h);

  it_section ("nbd_shutdown (LIBNBD_SHUTDOWN_ABANDON_PENDING) sends NBD_CMD_DISC");
  log = fresh_log ("disc2.log");
  h = test_create ();
  CHECK_OK (nbd_connect_command (h, it_fakesrv ("--log", log, NULL)));
  CHECK (nbd_aio_pread (h, buf, sizeof buf, 0, NBD_NULL_COMPLETION, 0) > 0);
  CHECK_OK (nbd_shutdown (h, LIBNBD_SHUTDOWN_ABANDON_PENDING));
  IT_CHECK (it_file_has (log, "CMD DISC"), "the server logged CMD DISC");
  nbd_close (h);

  it_section ("nbd_aio_disconnect, driven by poll(), sends NBD_CMD_DISC");
  log = fresh_log ("disc3.log");
  h = test_create ();
  CHECK_OK (nbd_connect_command (h, it_fakesrv ("--log", log, NULL)));
  CHECK_OK (nbd_aio_disconnect (h, 0));
  printf ("   after nbd_aio_disconnect: %s\n", it_pred_name (h));
  printf ("   a command after the disconnect is refused\n");
  CHECK_FAIL (nbd_aio_pread (h, buf, sizeof buf, 0, NBD_NULL_COMPLETION, 0), EINVAL,
              "nbd_aio_pread");
  printf ("   a second nbd_aio_disconnect is refused too\n");
  CHECK_FAIL (nbd_aio_disconnect (h, 0), EINVAL, "nbd_aio_disconnect");
  CHECK_OK (it_drive (h, it_closed_or_dead, &tr));
  printf ("   states %s\n", tr.states);
  CHECK (nbd_aio_is_closed (h));
  IT_CHECK (it_file_has (log, "CMD DISC"), "the server logged CMD DISC");
  IT_CHECK (it_file_has (log, "CLOSE"), "the server logged a clean CLOSE");
  CHECK_FAIL (nbd_aio_disconnect (h, 0), EINVAL, "nbd_aio_disconnect");
  nbd_close (h);

  it_section ("nbd_aio_disconnect with a read in flight: the read completes first");
  log = fresh_log ("disc4.log");
  h = test_create ();
  CHECK_OK (nbd_connect_command (h, it_fakesrv ("--log", log, "--pattern", NULL)));
  {
    int64_t cookie = nbd_aio_pread (h, buf, sizeof buf, 4096, NBD_NULL_COMPLETION, 0);
    CHECK (cookie > 0);
    CHECK_OK (nbd_aio_disconnect (h, 0));
    CHECK_OK (it_drive (h, it_closed_or_dead, NULL));
    CHECK (nbd_aio_is_closed (h));
    if (cookie > 0)
      CHECK_INT (nbd_aio_command_completed (h, cookie), 1);
    CHECK (buf[7] == 0 && (unsigned char) buf[6] == 0x10);
  }
  nbd_close (h);
  IT_CHECK (it_file_has (log, "CMD DISC"), "the server logged CMD DISC");

  it_section ("nbd_close on a ready handle sends NBD_CMD_DISC");
  log = fresh_log ("disc5.log");
  h = test_create ();
  CHECK_OK (nbd_connect_command (h, it_fakesrv ("--log", log, NULL)));
  CHECK_OK (nbd_pread (h, buf, sizeof buf, 0, 0));
  nbd_close (h);
  IT_CHECK (it_file_has (log, "CMD DISC"), "the server logged CMD DISC");

  it_section ("nbd_close on a handle connected with unix socket (fakesrv --unix)");
  {
    const char *sock = it_path ("fake.sock");
    pid_t pid;
    log = fresh_log ("disc6.log");
    pid = it_spawn (it_fakesrv ("--unix", sock, "--log", log, "--max-connections", "1", NULL));
    if (!it_wait_exists (pid, sock)) {
      IT_CHECK (0, "fakesrv --unix started");
      return;
    }
    h = test_create ();
    CHECK_OK (nbd_connect_unix (h, sock));
    CHECK_OK (nbd_pread (h, buf, sizeof buf, 0, 0));
    nbd_close (h);
    IT_CHECK (it_file_has (log, "CMD DISC"), "the server logged CMD DISC");
  }
}

int
main (int argc, char *argv[])
{
  static const struct it_case cases[] = {
    { "getters", getters_case },
    { "overflow", overflow_case },
    { "disc", disc_case },
    { NULL, NULL },
  };
  return it_main (argc, argv, cases);
}
