/* The handshake against nbdkit and the fake server.
 *
 * usage: handshake CASE
 *   oldstyle     oldstyle greeting (fakesrv --oldstyle, nbdkit -o)
 *   newstyle     non-fixed newstyle (fakesrv --no-fixed, nbdkit
 *                --mask-handshake=0, client flags 0)
 *   no-zeroes    NBD_FLAG_NO_ZEROES agreed or not, EXPORT_NAME with and
 *                without the 124 zero bytes
 *   go-fallback  NBD_OPT_GO refused with ERR_UNSUP: NBD_OPT_EXPORT_NAME
 *   full-info    NBD_INFO_NAME / DESCRIPTION / BLOCK_SIZE
 *   structured   structured replies negotiated and not
 *   extended     extended headers negotiated and not
 *   refuse-go    every NBD_REP_ERR_* in answer to GO fails the connect
 *                with the server's message
 */
#include "interop.h"

/* fakesrv --pattern and nbdkit pattern: each 8-byte big-endian word
 * holds its own offset.  Read a few words and check them: proves the
 * data path works after the handshake (e.g. that the 124 zero bytes of
 * an EXPORT_NAME reply were not taken for a reply). */
static void
check_pattern (struct nbd_handle *h, uint64_t offset)
{
  unsigned char buf[512];
  bool ok = true;

  memset (buf, 0xaa, sizeof buf);
  if (nbd_pread (h, buf, sizeof buf, offset, 0) == -1) {
    IT_CHECK (0, "nbd_pread of 512 bytes at %" PRIu64, offset);
    return;
  }
  for (int w = 0; w < 64; w++) {
    uint64_t v = 0;
    for (int i = 0; i < 8; i++)
      v = (v << 8) | buf[w * 8 + i];
    if (v != offset + w * 8)
      ok = false;
  }
  IT_CHECK (ok, "pattern data at offset %" PRIu64 " reads back right", offset);
}

/* The fake server's log, fresh for each use. */
static const char *
new_log (const char *name)
{
  const char *p = it_path (name);
  unlink (p);
  return p;
}

static struct nbd_handle *
connect_or_report (char **argv, bool opt_mode)
{
  struct nbd_handle *h = test_create ();
  it_print_argv ("server", argv);
  CHECK_OK (nbd_set_opt_mode (h, opt_mode));
  if (nbd_connect_command (h, argv) == -1) {
    IT_CHECK (0, "nbd_connect_command succeeds");
    nbd_close (h);
    return NULL;
  }
  return h;
}

/* ---- oldstyle ---- */

static void
oldstyle (void)
{
  struct nbd_handle *h;
  struct it_trace tr;

  it_section ("oldstyle greeting from the fake server");
  h = connect_or_report (it_fakesrv ("--oldstyle", "--pattern", "--export", ":d:2M", NULL),
                         false);
  if (h) {
    CHECK (nbd_aio_is_ready (h));
    CHECK_STR (nbd_get_protocol (h), "oldstyle");
    CHECK_INT (nbd_get_size (h), 2 * 1024 * 1024);
    CHECK_INT (nbd_get_structured_replies_negotiated (h), 0);
    CHECK_INT (nbd_get_extended_headers_negotiated (h), 0);
    printf ("   no handshake flags are agreed in oldstyle: get_handshake_flags is 0\n");
    CHECK_INT (nbd_get_handshake_flags (h), 0);
    check_pattern (h, 4096);
    CHECK_OK (nbd_shutdown (h, 0));
    nbd_close (h);
  }

  it_section ("oldstyle in option mode: nothing to negotiate, straight to ready");
  h = connect_or_report (it_fakesrv ("--oldstyle", "--pattern", NULL), true);
  if (h) {
    IT_CHECK (nbd_aio_is_ready (h), "ready, not negotiating (%s)", it_pred_name (h));
    CHECK_STR (nbd_get_protocol (h), "oldstyle");
    check_pattern (h, 0);
    nbd_close (h);
  }

  it_section ("oldstyle, aio, driven by poll()");
  h = test_create ();
  CHECK_OK (nbd_aio_connect_command (h, it_fakesrv ("--oldstyle", "--pattern", NULL)));
  CHECK_OK (it_drive (h, it_not_connecting, &tr));
  printf ("   states seen: %s\n", tr.states);
  CHECK (nbd_aio_is_ready (h));
  CHECK_STR (nbd_get_protocol (h), "oldstyle");
  nbd_close (h);

  it_section ("oldstyle from nbdkit -o");
  h = connect_or_report (it_argv ("nbdkit", "-s", "-o", "--exit-with-parent", "pattern",
                                  "3M", NULL), false);
  if (h) {
    CHECK_STR (nbd_get_protocol (h), "oldstyle");
    CHECK_INT (nbd_get_size (h), 3 * 1024 * 1024);
    CHECK_INT (nbd_get_handshake_flags (h), 0);
    check_pattern (h, 1024 * 1024);
    CHECK_OK (nbd_shutdown (h, 0));
    nbd_close (h);
  }
}

/* ---- newstyle, not fixed ---- */

static void
newstyle (void)
{
  struct nbd_handle *h;
  const char *log = new_log ("newstyle.log");

  it_section ("non-fixed newstyle from the fake server: EXPORT_NAME, no options");
  h = connect_or_report (it_fakesrv ("--no-fixed", "--pattern", "--log", log, NULL), false);
  if (h) {
    CHECK_STR (nbd_get_protocol (h), "newstyle");
    printf ("   the server offers NO_ZEROES without FIXED_NEWSTYLE: flags 2\n");
    CHECK_INT (nbd_get_handshake_flags (h), LIBNBD_HANDSHAKE_FLAG_NO_ZEROES);
    CHECK_INT (nbd_get_structured_replies_negotiated (h), 0);
    check_pattern (h, 8192);
    CHECK_OK (nbd_shutdown (h, 0));
    nbd_close (h);
    IT_CHECK (it_file_has (log, "OPT EXPORT_NAME"), "the server saw EXPORT_NAME");
    {
      char *s = it_slurp (log);
      IT_CHECK (s && strstr (s, "OPT GO") == NULL && strstr (s, "OPT STRUCTURED") == NULL,
                "no other option was sent to a non-fixed server");
      free (s);
    }
  }

  it_section ("non-fixed newstyle in option mode: options refused locally, GO works");
  h = connect_or_report (it_fakesrv ("--no-fixed", "--pattern", NULL), true);
  if (h) {
    struct it_calls c;
    IT_CHECK (nbd_aio_is_negotiating (h), "negotiating (%s)", it_pred_name (h));
    it_calls_init (&c, "list");
    CHECK_FAIL (nbd_opt_list (h, it_list_closure (&c)), ENOTSUP, "nbd_opt_list");
    CHECK_INT (c.frees, 1);
    IT_CHECK (nbd_aio_is_negotiating (h), "still negotiating (%s)", it_pred_name (h));
    CHECK_FAIL (nbd_opt_info (h), ENOTSUP, "nbd_opt_info");
    IT_CHECK (nbd_aio_is_negotiating (h), "still negotiating (%s)", it_pred_name (h));
    CHECK_OK (nbd_opt_go (h));
    CHECK (nbd_aio_is_ready (h));
    CHECK_STR (nbd_get_protocol (h), "newstyle");
    check_pattern (h, 0);
    nbd_close (h);
  }

  it_section ("nbdkit --mask-handshake=0: plain newstyle, no flags");
  h = connect_or_report (it_argv ("nbdkit", "-s", "--exit-with-parent",
                                  "--mask-handshake=0", "pattern", "1M", NULL), false);
  if (h) {
    CHECK_STR (nbd_get_protocol (h), "newstyle");
    CHECK_INT (nbd_get_handshake_flags (h), 0);
    check_pattern (h, 65536);
    nbd_close (h);
  }

  for (uint32_t fl = 0; fl <= 3; fl++) {
    it_section ("client handshake flags %u against nbdkit", fl);
    h = test_create ();
    CHECK_OK (nbd_set_handshake_flags (h, fl));
    CHECK_INT (nbd_get_handshake_flags (h), fl);
    CHECK_OK (nbd_connect_command (h, it_argv ("nbdkit", "-s", "--exit-with-parent",
                                               "pattern", "1M", NULL)));
    CHECK_STR (nbd_get_protocol (h),
               (fl & LIBNBD_HANDSHAKE_FLAG_FIXED_NEWSTYLE) ? "newstyle-fixed" : "newstyle");
    CHECK_INT (nbd_get_handshake_flags (h), fl);
    CHECK_INT (nbd_get_structured_replies_negotiated (h),
               (fl & LIBNBD_HANDSHAKE_FLAG_FIXED_NEWSTYLE) ? 1 : 0);
    check_pattern (h, 512);
    nbd_close (h);
  }
}

/* ---- NO_ZEROES ---- */

static void
no_zeroes (void)
{
  struct nbd_handle *h;
  struct { const char *what; uint32_t client; bool server_offers; uint32_t agreed; } cases[] = {
    { "both sides willing", 3, true, 3 },
    { "server does not offer NO_ZEROES", 3, false, 1 },
    { "client does not want NO_ZEROES", 1, true, 1 },
    { "neither", 1, false, 1 },
  };

  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    const char *log = new_log ("nz.log");
    it_section ("NO_ZEROES, %s; GO refused so that EXPORT_NAME is used", cases[i].what);
    h = test_create ();
    CHECK_OK (nbd_set_handshake_flags (h, cases[i].client));
    if (cases[i].server_offers)
      CHECK_OK (nbd_connect_command (h, it_fakesrv ("--refuse", "GO=UNSUP", "--pattern",
                                                    "--log", log, NULL)));
    else
      CHECK_OK (nbd_connect_command (h, it_fakesrv ("--refuse", "GO=UNSUP", "--pattern",
                                                    "--no-no-zeroes", "--log", log,
                                                    NULL)));
    CHECK (nbd_aio_is_ready (h));
    CHECK_INT (nbd_get_handshake_flags (h), cases[i].agreed);
    printf ("   agreed flags %u; EXPORT_NAME reply %s zeroes\n",
            nbd_get_handshake_flags (h),
            (cases[i].agreed & LIBNBD_HANDSHAKE_FLAG_NO_ZEROES) ? "without" : "with");
    CHECK_INT (nbd_get_size (h), 1024 * 1024);
    check_pattern (h, 0);
    check_pattern (h, 1024 * 1024 - 512);
    nbd_close (h);
    IT_CHECK (it_file_has (log, "OPT EXPORT_NAME"), "the server saw EXPORT_NAME");
  }

  it_section ("NO_ZEROES with non-fixed newstyle (client flags NO_ZEROES only)");
  h = test_create ();
  CHECK_OK (nbd_set_handshake_flags (h, LIBNBD_HANDSHAKE_FLAG_NO_ZEROES));
  CHECK_OK (nbd_connect_command (h, it_fakesrv ("--pattern", NULL)));
  CHECK_STR (nbd_get_protocol (h), "newstyle");
  CHECK_INT (nbd_get_handshake_flags (h), LIBNBD_HANDSHAKE_FLAG_NO_ZEROES);
  check_pattern (h, 4096);
  nbd_close (h);

  it_section ("flags 0 (no NO_ZEROES, no FIXED): 124 zero bytes after EXPORT_NAME");
  h = test_create ();
  CHECK_OK (nbd_set_handshake_flags (h, 0));
  CHECK_OK (nbd_connect_command (h, it_fakesrv ("--pattern", NULL)));
  CHECK_INT (nbd_get_handshake_flags (h), 0);
  check_pattern (h, 4096);
  nbd_close (h);

  it_section ("unknown handshake flag bits are refused");
  h = test_create ();
  CHECK_FAIL (nbd_set_handshake_flags (h, 4), EINVAL, "nbd_set_handshake_flags");
  nbd_close (h);
}

/* ---- GO refused: EXPORT_NAME ---- */

static void
go_fallback (void)
{
  struct nbd_handle *h;
  const char *log = new_log ("fallback.log");
  char *s;

  it_section ("GO refused with ERR_UNSUP: the client falls back to EXPORT_NAME");
  h = test_create ();
  CHECK_OK (nbd_set_export_name (h, "named"));
  CHECK_OK (nbd_connect_command (h, it_fakesrv ("--refuse", "GO=UNSUP:no go here",
                                                "--export", "named:desc:2M", "--pattern",
                                                "--log", log, NULL)));
  CHECK (nbd_aio_is_ready (h));
  CHECK_STR (nbd_get_protocol (h), "newstyle-fixed");
  CHECK_INT (nbd_get_size (h), 2 * 1024 * 1024);
  printf ("   structured replies were agreed before GO, and still hold\n");
  CHECK_INT (nbd_get_structured_replies_negotiated (h), 1);
  check_pattern (h, 1024 * 1024);
  CHECK_OK (nbd_shutdown (h, 0));
  nbd_close (h);
  IT_CHECK (it_file_has (log, "OPT EXPORT_NAME name=\"named\""),
            "the server saw EXPORT_NAME \"named\"");
  s = it_slurp (log);
  IT_CHECK (s && strstr (s, "OPT GO") && strstr (s, "OPT EXPORT_NAME")
            && strstr (s, "OPT GO") < strstr (s, "OPT EXPORT_NAME"),
            "GO came first, then EXPORT_NAME");
  if (s)
    printf ("   server log:\n%s", s);
  free (s);

  it_section ("GO refused, aio connect driven by poll()");
  h = test_create ();
  CHECK_OK (nbd_aio_connect_command (h, it_fakesrv ("--refuse", "GO=UNSUP", "--pattern",
                                                    NULL)));
  CHECK_OK (it_drive (h, it_not_connecting, NULL));
  CHECK (nbd_aio_is_ready (h));
  check_pattern (h, 0);
  nbd_close (h);

  it_section ("GO refused and the name unknown: EXPORT_NAME fails, connect fails");
  h = test_create ();
  CHECK_OK (nbd_set_export_name (h, "missing"));
  CHECK (nbd_connect_command (h, it_fakesrv ("--refuse", "GO=UNSUP", NULL)) == -1);
  CHECK (nbd_get_errno () != 0);
  IT_CHECK (!nbd_aio_is_ready (h), "not ready (%s)", it_pred_name (h));
  nbd_close (h);

  it_section ("option mode, GO and INFO refused: opt_info fails, opt_go falls back");
  h = test_create ();
  CHECK_OK (nbd_set_opt_mode (h, true));
  CHECK_OK (nbd_connect_command (h, it_fakesrv ("--refuse", "GO=UNSUP:no go",
                                                "--refuse", "INFO=UNSUP:no info",
                                                "--pattern", NULL)));
  CHECK (nbd_aio_is_negotiating (h));
  CHECK_FAIL (nbd_opt_info (h), ENOTSUP, "nbd_opt_info");
  CHECK_ERR_HAS ("no info");
  CHECK (nbd_aio_is_negotiating (h));
  CHECK_FAIL (nbd_get_size (h), EINVAL, "nbd_get_size");
  CHECK_OK (nbd_opt_go (h));
  CHECK (nbd_aio_is_ready (h));
  CHECK_INT (nbd_get_size (h), 1024 * 1024);
  check_pattern (h, 0);
  nbd_close (h);
}

/* ---- NBD_INFO_* ---- */

static char **
nbdkit_info_argv (void)
{
  return it_argv ("nbdkit", "-s", "--exit-with-parent",
                  "--filter=exportname", "--filter=blocksize-policy",
                  "pattern", "1M",
                  "default-export=canon",
                  "exportdesc=fixed:my description",
                  "blocksize-minimum=512", "blocksize-preferred=16384",
                  "blocksize-maximum=65536", NULL);
}

static void
full_info (void)
{
  struct nbd_handle *h;
  char *s;

  it_section ("nbdkit: NBD_INFO_NAME, _DESCRIPTION, _BLOCK_SIZE with full info");
  h = test_create ();
  CHECK_OK (nbd_set_full_info (h, true));
  CHECK_INT (nbd_get_full_info (h), 1);
  it_print_argv ("server", nbdkit_info_argv ());
  CHECK_OK (nbd_connect_command (h, nbdkit_info_argv ()));
  CHECK_STR_FREE (nbd_get_canonical_export_name (h), "canon");
  CHECK_STR_FREE (nbd_get_export_description (h), "my description");
  CHECK_INT (nbd_get_block_size (h, LIBNBD_SIZE_MINIMUM), 512);
  CHECK_INT (nbd_get_block_size (h, LIBNBD_SIZE_PREFERRED), 16384);
  CHECK_INT (nbd_get_block_size (h, LIBNBD_SIZE_MAXIMUM), 65536);
  s = nbd_get_export_name (h);
  CHECK_STR (s, "");
  free (s);
  check_pattern (h, 512);
  nbd_close (h);

  it_section ("nbdkit: the same in option mode, with nbd_opt_info then nbd_opt_go");
  h = test_create ();
  CHECK_OK (nbd_set_opt_mode (h, true));
  CHECK_OK (nbd_connect_command (h, nbdkit_info_argv ()));
  CHECK_OK (nbd_set_full_info (h, true));
  {
    char *d = nbd_get_export_description (h);
    IT_CHECK (d == NULL, "no description before nbd_opt_info");
    free (d);
  }
  CHECK_OK (nbd_opt_info (h));
  CHECK_STR_FREE (nbd_get_canonical_export_name (h), "canon");
  CHECK_STR_FREE (nbd_get_export_description (h), "my description");
  CHECK_INT (nbd_get_block_size (h, LIBNBD_SIZE_PREFERRED), 16384);
  CHECK_OK (nbd_opt_go (h));
  CHECK_STR_FREE (nbd_get_export_description (h), "my description");
  nbd_close (h);

  it_section ("nbdkit: without full info there is no description");
  h = test_create ();
  CHECK_OK (nbd_connect_command (h, nbdkit_info_argv ()));
  CHECK_FAIL_NULL (nbd_get_export_description (h), ENOTSUP, "nbd_get_export_description");
  CHECK_INT (nbd_get_block_size (h, LIBNBD_SIZE_MINIMUM), 512);
  nbd_close (h);

  it_section ("fakesrv --block-size 512:8192:131072, named export with description");
  {
    const char *log = new_log ("info.log");
    h = test_create ();
    CHECK_OK (nbd_set_full_info (h, true));
    CHECK_OK (nbd_set_export_name (h, "disk"));
    CHECK_OK (nbd_connect_command (h, it_fakesrv ("--block-size", "512:8192:131072",
                                                  "--export", "disk:the disk:4M",
                                                  "--pattern", "--log", log, NULL)));
    CHECK_INT (nbd_get_block_size (h, LIBNBD_SIZE_MINIMUM), 512);
    CHECK_INT (nbd_get_block_size (h, LIBNBD_SIZE_PREFERRED), 8192);
    CHECK_INT (nbd_get_block_size (h, LIBNBD_SIZE_MAXIMUM), 131072);
    CHECK_STR_FREE (nbd_get_canonical_export_name (h), "disk");
    CHECK_STR_FREE (nbd_get_export_description (h), "the disk");
    CHECK_INT (nbd_get_size (h), 4 * 1024 * 1024);
    check_pattern (h, 3 * 1024 * 1024);
    nbd_close (h);
    IT_CHECK (it_file_has (log, "infos=BLOCK_SIZE,NAME,DESCRIPTION"),
              "GO asked for BLOCK_SIZE, NAME and DESCRIPTION");
  }

  it_section ("NBD_INFO_BLOCK_SIZE breaking the protocol's rules is ignored");
  {
    /* min:pref:max, and whether the constraints are kept. */
    static const struct { const char *sizes; bool kept; } cases[] = {
      { "1:512:512", true }, { "65536:65536:65536", true },
      { "1:4096:1000000", true }, { "512:4096:4294967295", true },
      { "3:4096:1048576", false },      /* min not a power of 2 */
      { "131072:131072:1048576", false },       /* min over 64 KiB */
      { "512:1000:1048576", false },    /* pref not a power of 2 */
      { "1:256:1048576", false },       /* pref under 512 */
      { "4096:512:1048576", false },    /* pref under min */
      { "512:4096:2048", false },       /* max under pref */
      { "512:4096:6000", false },       /* max not a multiple of min */
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
      unsigned min, pref, max;
      sscanf (cases[i].sizes, "%u:%u:%u", &min, &pref, &max);
      h = test_create ();
      CHECK_OK (nbd_connect_command (h, it_fakesrv ("--block-size", cases[i].sizes, NULL)));
      CHECK_INT (nbd_get_block_size (h, LIBNBD_SIZE_MINIMUM), cases[i].kept ? min : 0);
      CHECK_INT (nbd_get_block_size (h, LIBNBD_SIZE_PREFERRED), cases[i].kept ? pref : 0);
      CHECK_INT (nbd_get_block_size (h, LIBNBD_SIZE_MAXIMUM), cases[i].kept ? max : 0);
      nbd_close (h);
    }
  }

  it_section ("request_block_size false: GO does not ask for BLOCK_SIZE");
  {
    const char *log = new_log ("info2.log");
    h = test_create ();
    CHECK_OK (nbd_set_request_block_size (h, false));
    CHECK_OK (nbd_connect_command (h, it_fakesrv ("--log", log, NULL)));
    nbd_close (h);
    IT_CHECK (it_file_has (log, "OPT GO"), "GO was sent");
    s = it_slurp (log);
    IT_CHECK (s && strstr (s, "BLOCK_SIZE") == NULL, "GO did not ask for BLOCK_SIZE");
    free (s);
  }
}

/* ---- structured replies ---- */

static void
structured (void)
{
  struct nbd_handle *h;
  struct { const char *what; bool request; char **argv; int want; } cases[] = {
    { "nbdkit, requested", true,
      it_argv ("nbdkit", "-s", "--exit-with-parent", "pattern", "1M", NULL), 1 },
    { "nbdkit, not requested", false,
      it_argv ("nbdkit", "-s", "--exit-with-parent", "pattern", "1M", NULL), 0 },
    { "nbdkit --no-sr, requested", true,
      it_argv ("nbdkit", "-s", "--exit-with-parent", "--no-sr", "pattern", "1M", NULL), 0 },
    { "fakesrv, requested", true, it_fakesrv ("--pattern", NULL), 1 },
    { "fakesrv refusing STRUCTURED_REPLY", true,
      it_fakesrv ("--pattern", "--refuse", "STRUCTURED_REPLY=UNSUP", NULL), 0 },
  };

  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    it_section ("structured replies: %s", cases[i].what);
    h = test_create ();
    CHECK_OK (nbd_set_request_structured_replies (h, cases[i].request));
    CHECK_INT (nbd_get_request_structured_replies (h), cases[i].request);
    CHECK_OK (nbd_connect_command (h, cases[i].argv));
    CHECK_INT (nbd_get_structured_replies_negotiated (h), cases[i].want);
    printf ("   negotiated: %d; can_df: %d\n",
            nbd_get_structured_replies_negotiated (h), nbd_can_df (h));
    if (!cases[i].want)
      CHECK_INT (nbd_can_df (h), 0);
    CHECK_INT (nbd_get_extended_headers_negotiated (h), 0);
    check_pattern (h, 2048 + 512);
    nbd_close (h);
  }
}

/* ---- extended headers ---- */

static void
extended (void)
{
  struct nbd_handle *h;
  const char *log;

  it_section ("extended headers: fakesrv --extended");
  log = new_log ("eh.log");
  h = test_create ();
  CHECK_OK (nbd_connect_command (h, it_fakesrv ("--extended", "--pattern", "--log", log,
                                                NULL)));
  CHECK_INT (nbd_get_extended_headers_negotiated (h), 1);
  printf ("   extended headers imply structured replies\n");
  CHECK_INT (nbd_get_structured_replies_negotiated (h), 1);
  check_pattern (h, 4096);
  nbd_close (h);
  IT_CHECK (it_file_has (log, "OPT EXTENDED_HEADERS"), "the server saw EXTENDED_HEADERS");

  it_section ("extended headers: fakesrv without --extended");
  h = test_create ();
  CHECK_OK (nbd_connect_command (h, it_fakesrv ("--pattern", NULL)));
  CHECK_INT (nbd_get_extended_headers_negotiated (h), 0);
  CHECK_INT (nbd_get_structured_replies_negotiated (h), 1);
  check_pattern (h, 4096);
  nbd_close (h);

  it_section ("extended headers: not requested");
  h = test_create ();
  CHECK_OK (nbd_set_request_extended_headers (h, false));
  CHECK_OK (nbd_connect_command (h, it_fakesrv ("--extended", "--pattern", NULL)));
  CHECK_INT (nbd_get_extended_headers_negotiated (h), 0);
  CHECK_INT (nbd_get_structured_replies_negotiated (h), 1);
  check_pattern (h, 4096);
  nbd_close (h);

  it_section ("extended headers: structured replies not requested turns them off too");
  log = new_log ("eh2.log");
  h = test_create ();
  CHECK_OK (nbd_set_request_structured_replies (h, false));
  CHECK_OK (nbd_connect_command (h, it_fakesrv ("--extended", "--pattern", "--log", log,
                                                NULL)));
  CHECK_INT (nbd_get_extended_headers_negotiated (h), 0);
  CHECK_INT (nbd_get_structured_replies_negotiated (h), 0);
  check_pattern (h, 4096);
  nbd_close (h);
  {
    char *s = it_slurp (log);
    IT_CHECK (s && strstr (s, "EXTENDED_HEADERS") == NULL,
              "EXTENDED_HEADERS was not sent");
    free (s);
  }

  it_section ("extended headers: nbdkit 1.32 does not have them");
  h = test_create ();
  CHECK_OK (nbd_connect_command (h, it_argv ("nbdkit", "-s", "--exit-with-parent",
                                             "pattern", "1M", NULL)));
  CHECK_INT (nbd_get_extended_headers_negotiated (h), 0);
  CHECK_INT (nbd_get_structured_replies_negotiated (h), 1);
  check_pattern (h, 4096);
  nbd_close (h);
}

/* ---- every error in answer to GO ---- */

static void
refuse_go (void)
{
  static const char *errs[] = {
    "POLICY", "INVALID", "PLATFORM", "TLS_REQD", "UNKNOWN", "SHUTDOWN",
    "BLOCK_SIZE_REQD", "TOO_BIG", "EXT_HEADER_REQD",
  };

  for (size_t i = 0; i < sizeof errs / sizeof errs[0]; i++) {
    char arg[128], msg[96];
    struct nbd_handle *h;

    snprintf (msg, sizeof msg, "server says %s to you", errs[i]);
    snprintf (arg, sizeof arg, "GO=%s:%s", errs[i], msg);
    for (int aio = 0; aio <= 1; aio++) {
      it_section ("GO answered with NBD_REP_ERR_%s (%s)", errs[i], aio ? "aio" : "sync");
      h = test_create ();
      if (aio) {
        int r = nbd_aio_connect_command (h, it_fakesrv ("--refuse", arg, NULL));
        CHECK_OK (r);
        if (r == 0)
          IT_CHECK (it_drive (h, it_not_connecting, NULL) == -1 || !nbd_aio_is_ready (h),
                    "the handshake does not end in ready");
        IT_CHECK (nbd_aio_is_dead (h), "dead after the refusal (%s)", it_pred_name (h));
        /* The reason is kept: a call needing a connection reports it. */
        {
          char buf[16];
          IT_CHECK (nbd_pread (h, buf, sizeof buf, 0, 0) == -1, "pread on the dead handle fails");
          printf ("   pread afterwards: %s\n", nbd_get_error ());
        }
      }
      else {
        IT_CHECK (nbd_connect_command (h, it_fakesrv ("--refuse", arg, NULL)) == -1,
                  "nbd_connect_command fails");
        printf ("   error: %s (errno %d)\n", nbd_get_error (), nbd_get_errno ());
        CHECK (nbd_get_errno () != 0);
        CHECK_ERR_HAS (msg);
        IT_CHECK (test_starts_with (nbd_get_error (), "nbd_connect_command: "),
                  "the message names the call");
        IT_CHECK (nbd_aio_is_dead (h), "dead after the refusal (%s)", it_pred_name (h));
      }
      nbd_close (h);
    }
  }

  it_section ("GO answered with ERR_UNSUP is not fatal (EXPORT_NAME follows)");
  {
    struct nbd_handle *h = test_create ();
    CHECK_OK (nbd_connect_command (h, it_fakesrv ("--refuse", "GO=UNSUP:old server", NULL)));
    CHECK (nbd_aio_is_ready (h));
    nbd_close (h);
  }

  it_section ("the export does not exist (real ERR_UNKNOWN from the fake server)");
  {
    struct nbd_handle *h = test_create ();
    CHECK_OK (nbd_set_export_name (h, "nope"));
    CHECK_FAIL (nbd_connect_command (h, it_fakesrv (NULL)), ENOENT, "nbd_connect_command");
    printf ("   error: %s\n", nbd_get_error ());
    nbd_close (h);
  }

  it_section ("nbdkit refusing an unknown export (exportname-strict)");
  {
    struct nbd_handle *h = test_create ();
    CHECK_OK (nbd_set_export_name (h, "other"));
    CHECK (nbd_connect_command (h, it_argv ("nbdkit", "-s", "--exit-with-parent",
                                            "--filter=exportname", "memory", "1M",
                                            "exportname=a", "exportname-strict=true",
                                            NULL)) == -1);
    printf ("   error: %s (errno %d)\n", nbd_get_error (), nbd_get_errno ());
    CHECK (nbd_get_errno () != 0);
    CHECK (nbd_aio_is_dead (h));
    nbd_close (h);
  }
}

int
main (int argc, char *argv[])
{
  static const struct it_case cases[] = {
    { "oldstyle", oldstyle },
    { "newstyle", newstyle },
    { "no-zeroes", no_zeroes },
    { "go-fallback", go_fallback },
    { "full-info", full_info },
    { "structured", structured },
    { "extended", extended },
    { "refuse-go", refuse_go },
    { NULL, NULL },
  };
  return it_main (argc, argv, cases);
}
