/* Differential test: one program, built once against the installed libnbd
 * (header and library of the system package) and once against fastnbd.
 * It prints one line per observation; compare.py runs both builds and
 * requires identical output.
 *
 * Only behaviour both libraries are meant to share is printed: return
 * values and errno, never error message text (each library words its own
 * messages) and never version strings.  Calls newer than the installed
 * libnbd (1.14 on Debian 12) are not used.  Where libnbd 1.14 behaves
 * differently from the 1.24 behaviour fastnbd implements, the case is left
 * out with a comment saying why.
 *
 * Lines starting with '#' are facts about the build (which header, which
 * library); compare.py checks them separately instead of comparing them.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE             /* dladdr */
#endif
#include <dlfcn.h>
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <pwd.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* NULL is passed to nonnull parameters on purpose. */
#define LIBNBD_ATTRIBUTE_NONNULL(...)
#include <libnbd.h>

/* Prove at compile time which header this build uses. */
#if DIFF_SYSTEM
# ifdef LIBNBD_HAVE_NBD_GET_VERSION_EXTRA
#  error "the system build found a libnbd.h newer than 1.22 (fastnbd's?)"
# endif
#else
# ifndef LIBNBD_HAVE_NBD_GET_VERSION_EXTRA
#  error "the fastnbd build did not find fastnbd's libnbd.h"
# endif
#endif

static const char *
errname (int e)
{
  switch (e) {
  case 0: return "0";
  case EINVAL: return "EINVAL";
  case EFAULT: return "EFAULT";
  case ENAMETOOLONG: return "ENAMETOOLONG";
  case ENOTCONN: return "ENOTCONN";
  case ENOMEM: return "ENOMEM";
  case ENOENT: return "ENOENT";
  case ERANGE: return "ERANGE";
  case EDEADLK: return "EDEADLK";
  case ENOTSUP: return "ENOTSUP";
  default: {
    static char buf[32];
    snprintf (buf, sizeof buf, "errno%d", e);
    return buf;
  }
  }
}

/* The call's name is the text before the first '(' of the expression. */
static const char *
fn_of (const char *expr, char *buf, size_t size)
{
  size_t n = strcspn (expr, " (");
  if (n >= size)
    n = size - 1;
  memcpy (buf, expr, n);
  buf[n] = '\0';
  return buf;
}

/* After a failure: errno, and whether the message names the call. */
static void
print_error (const char *expr)
{
  char fn[128], prefix[132];
  const char *msg = nbd_get_error ();

  snprintf (prefix, sizeof prefix, "%s: ", fn_of (expr, fn, sizeof fn));
  printf (" errno=%s msg-prefix=%s", errname (nbd_get_errno ()),
          msg && strncmp (msg, prefix, strlen (prefix)) == 0 ? "ok" : "BAD");
}

static void
obs_int (const char *expr, int64_t ret)
{
  printf ("%s = %" PRId64, expr, ret);
  if (ret == -1)
    print_error (expr);
  printf ("\n");
}

static void
obs_str (const char *expr, char *s)
{
  if (s == NULL) {
    printf ("%s = NULL", expr);
    print_error (expr);
    printf ("\n");
  }
  else
    printf ("%s = \"%s\"\n", expr, s);
  free (s);
}

#define INT(expr) obs_int (#expr, (int64_t) (expr))
/* The next observation is a known difference, explained in compare.py. */
#define KNOWN(id) printf ("@known %s\n", (id))
#define STR(expr) obs_str (#expr, (expr))
#define FACT(label, value) printf ("%s = %d\n", (label), (int) (value))

static char *
repeat (char c, size_t n)
{
  char *s = malloc (n + 1);
  if (s == NULL)
    abort ();
  memset (s, c, n);
  s[n] = '\0';
  return s;
}

/* Debug callback bookkeeping. */
struct dbg {
  int calls, frees, wrong_context;
  char last_context[64];
};

static int
dbg_cb (void *opaque, const char *context, const char *msg)
{
  struct dbg *d = opaque;
  (void) msg;
  d->calls++;
  if (context == NULL || strncmp (context, "nbd_", 4) != 0)
    d->wrong_context++;
  else
    snprintf (d->last_context, sizeof d->last_context, "%s", context);
  return 0;
}

static void
dbg_free (void *opaque)
{
  struct dbg *d = opaque;
  d->frees++;
}

static void *
thread_main (void *arg)
{
  struct nbd_handle *h = arg;

  /* A fresh thread has no error of its own yet. */
  FACT ("thread: starts with no error message", nbd_get_error () == NULL);
  INT (nbd_get_errno ());
  INT (nbd_set_export_name (h, NULL));
  INT (nbd_get_errno ());
  return NULL;
}

static void
defaults (struct nbd_handle *h)
{
  STR (nbd_get_export_name (h));
  INT (nbd_get_debug (h));
  INT (nbd_get_tls (h));
  INT (nbd_get_tls_verify_peer (h));
  INT (nbd_get_request_structured_replies (h));
  INT (nbd_get_request_block_size (h));
  INT (nbd_get_full_info (h));
  INT (nbd_get_opt_mode (h));
  INT (nbd_get_pread_initialize (h));
  INT (nbd_get_nr_meta_contexts (h));
  STR (nbd_get_meta_context (h, 0));
  INT (nbd_get_private_data (h));
  /* The masks grew after 1.14: compare each library with its own header. */
  FACT ("handshake flags default == LIBNBD_HANDSHAKE_FLAG_MASK",
        nbd_get_handshake_flags (h) == LIBNBD_HANDSHAKE_FLAG_MASK);
  FACT ("strict mode default == LIBNBD_STRICT_MASK",
        nbd_get_strict_mode (h) == LIBNBD_STRICT_MASK);
  INT (nbd_aio_is_created (h));
  INT (nbd_aio_is_connecting (h));
  INT (nbd_aio_is_negotiating (h));
  INT (nbd_aio_is_ready (h));
  INT (nbd_aio_is_processing (h));
  INT (nbd_aio_is_dead (h));
  INT (nbd_aio_is_closed (h));
  /* The state's name is free-form text: only that there is one. */
  FACT ("connection_state != NULL", nbd_connection_state (h) != NULL);
  INT (nbd_supports_tls (h));
  INT (nbd_supports_uri (h));
  {
    /* The default is $LOGNAME as it is (even empty), else getlogin_r's
     * answer; without a login session (containers, CI) the call fails
     * with getlogin_r's errno.  Which of these the machine gives is not
     * compared, only that both libraries give the same. */
    char *saved = getenv ("LOGNAME") ? strdup (getenv ("LOGNAME")) : NULL;

    setenv ("LOGNAME", "someone", 1);
    STR (nbd_get_tls_username (h));
    setenv ("LOGNAME", "", 1);
    STR (nbd_get_tls_username (h));
    unsetenv ("LOGNAME");
    STR (nbd_get_tls_username (h));
    if (saved)
      setenv ("LOGNAME", saved, 1);
    free (saved);
  }
}

static void
strings (struct nbd_handle *h)
{
  char *s4096 = repeat ('e', 4096), *s4097 = repeat ('e', 4097);

  INT (nbd_set_export_name (h, "disk"));
  STR (nbd_get_export_name (h));
  INT (nbd_set_export_name (h, ""));
  STR (nbd_get_export_name (h));
  INT (nbd_set_export_name (h, NULL));
  INT (nbd_set_export_name (h, s4096));
  {
    char *e = nbd_get_export_name (h);
    FACT ("4096-byte export name round-trips", e && strcmp (e, s4096) == 0);
    free (e);
  }
  INT (nbd_set_export_name (h, s4097));

  INT (nbd_set_handle_name (h, "renamed"));
  STR (nbd_get_handle_name (h));
  INT (nbd_set_handle_name (h, NULL));
  STR (nbd_get_handle_name (h));
  INT (nbd_set_handle_name (h, ""));
  STR (nbd_get_handle_name (h));
  INT (nbd_set_handle_name (h, "renamed"));
  STR (nbd_get_handle_name (h));

  INT (nbd_set_tls_username (h, "alice"));
  STR (nbd_get_tls_username (h));
  INT (nbd_set_tls_username (h, NULL));
  STR (nbd_get_tls_username (h));

  INT (nbd_set_tls_certificates (h, "/nonexistent/dir"));
  INT (nbd_set_tls_certificates (h, NULL));
  INT (nbd_set_tls_psk_file (h, "/nonexistent/file"));
  INT (nbd_set_tls_psk_file (h, NULL));

  free (s4096);
  free (s4097);
}

static void
meta_contexts (struct nbd_handle *h)
{
  char *s4096 = repeat ('m', 4096), *s4097 = repeat ('m', 4097);

  INT (nbd_add_meta_context (h, LIBNBD_CONTEXT_BASE_ALLOCATION));
  INT (nbd_add_meta_context (h, "qemu:dirty-bitmap:b"));
  INT (nbd_get_nr_meta_contexts (h));
  STR (nbd_get_meta_context (h, 0));
  STR (nbd_get_meta_context (h, 1));
  STR (nbd_get_meta_context (h, 2));
  STR (nbd_get_meta_context (h, (size_t) -1));
  INT (nbd_add_meta_context (h, NULL));
  /* The empty name is left out: libnbd 1.14 accepts it (a server would
   * refuse it later); fastnbd refuses it at once with EINVAL, as
   * spec/api.py documents. */
  INT (nbd_add_meta_context (h, s4097));
  INT (nbd_add_meta_context (h, s4096));
  INT (nbd_get_nr_meta_contexts (h));
  INT (nbd_clear_meta_contexts (h));
  INT (nbd_get_nr_meta_contexts (h));
  STR (nbd_get_meta_context (h, 0));
  INT (nbd_clear_meta_contexts (h));

  free (s4096);
  free (s4097);
}

static void
enums_and_flags (struct nbd_handle *h)
{
  INT (nbd_set_tls (h, LIBNBD_TLS_REQUIRE));
  INT (nbd_get_tls (h));
  INT (nbd_set_tls (h, LIBNBD_TLS_ALLOW));
  INT (nbd_get_tls (h));
  INT (nbd_set_tls (h, 3));
  INT (nbd_set_tls (h, -1));
  INT (nbd_get_tls (h));
  INT (nbd_set_tls (h, LIBNBD_TLS_DISABLE));

  INT (nbd_set_uri_allow_tls (h, LIBNBD_TLS_DISABLE));
  INT (nbd_set_uri_allow_tls (h, LIBNBD_TLS_REQUIRE));
  INT (nbd_set_uri_allow_tls (h, 3));
  INT (nbd_set_uri_allow_tls (h, -1));

  INT (nbd_set_handshake_flags (h, 0));
  INT (nbd_get_handshake_flags (h));
  INT (nbd_set_handshake_flags (h, LIBNBD_HANDSHAKE_FLAG_NO_ZEROES));
  INT (nbd_get_handshake_flags (h));
  INT (nbd_set_handshake_flags (h, 4));
  INT (nbd_set_handshake_flags (h, 0x80000000u));
  INT (nbd_get_handshake_flags (h));

  /* 0x20 and 0x40 are left out: libnbd 1.14 predates STRICT_PAYLOAD and
   * STRICT_AUTO_FLAG and refuses them; 1.18+ (and fastnbd) accept them. */
  INT (nbd_set_strict_mode (h, 0));
  INT (nbd_get_strict_mode (h));
  INT (nbd_set_strict_mode (h, LIBNBD_STRICT_COMMANDS | LIBNBD_STRICT_BOUNDS));
  INT (nbd_get_strict_mode (h));
  INT (nbd_set_strict_mode (h, 0x80));
  INT (nbd_set_strict_mode (h, 0x80000000u));
  INT (nbd_get_strict_mode (h));

  /* 0x08 is left out: ALLOW_TRANSPORT_SSH is new in 1.22. */
  INT (nbd_set_uri_allow_transports (h, 0));
  INT (nbd_set_uri_allow_transports (h, LIBNBD_ALLOW_TRANSPORT_UNIX));
  INT (nbd_set_uri_allow_transports (h, 0x10));
  INT (nbd_set_uri_allow_transports (h, 0x80000000u));
}

static void
booleans (struct nbd_handle *h)
{
#define BOOL_ROUND_TRIP(name)                     \
  INT (nbd_set_##name (h, false));                \
  INT (nbd_get_##name (h));                       \
  INT (nbd_set_##name (h, true));                 \
  INT (nbd_get_##name (h))

  BOOL_ROUND_TRIP (debug);
  INT (nbd_set_debug (h, false));
  BOOL_ROUND_TRIP (tls_verify_peer);
  BOOL_ROUND_TRIP (request_structured_replies);
  BOOL_ROUND_TRIP (request_block_size);
  BOOL_ROUND_TRIP (full_info);
  BOOL_ROUND_TRIP (opt_mode);
  BOOL_ROUND_TRIP (pread_initialize);
  INT (nbd_set_uri_allow_local_file (h, true));
  INT (nbd_set_uri_allow_local_file (h, false));
}

static void
private_data (struct nbd_handle *h)
{
  INT (nbd_set_private_data (h, 42));
  INT (nbd_set_private_data (h, 7));
  INT (nbd_get_private_data (h));
}

static void
debug_callbacks (void)
{
  struct dbg a = { 0 }, b = { 0 }, c = { 0 };
  struct nbd_handle *h = nbd_create ();

  INT (nbd_set_debug (h, true));
  INT (nbd_set_debug_callback (h, ((nbd_debug_callback) {
          .callback = dbg_cb, .user_data = &a, .free = dbg_free })));
  INT (nbd_set_export_name (h, "x"));
  FACT ("debug on: callback called", a.calls > 0);
  FACT ("debug on: every context names a call", a.wrong_context == 0);
  printf ("debug on: a context seen = %s\n", a.last_context);
  FACT ("set_debug_callback: no free yet", a.frees);

  /* Replacing frees the old closure once. */
  INT (nbd_set_debug_callback (h, ((nbd_debug_callback) {
          .callback = dbg_cb, .user_data = &b, .free = dbg_free })));
  FACT ("replace: frees of old", a.frees);
  FACT ("replace: frees of new", b.frees);

  /* Debug off: the callback stays silent. */
  INT (nbd_set_debug (h, false));
  b.calls = 0;
  INT (nbd_set_export_name (h, "y"));
  FACT ("debug off: callback calls", b.calls);

  INT (nbd_clear_debug_callback (h));
  FACT ("clear: frees", b.frees);
  INT (nbd_clear_debug_callback (h));
  FACT ("clear twice: frees", b.frees);

  /* A closure with neither callback nor free is a NULL closure.  (One
   * with only .free is left out: libnbd 1.14 stores it and would later
   * call a NULL function, fastnbd refuses it with EFAULT.) */
  INT (nbd_set_debug_callback (h, ((nbd_debug_callback) { .callback = NULL })));

  INT (nbd_set_debug_callback (h, ((nbd_debug_callback) {
          .callback = dbg_cb, .user_data = &c, .free = dbg_free })));
  nbd_close (h);
  FACT ("close: frees", c.frees);
  FACT ("close: frees of earlier closures", a.frees + b.frees);
}

static void
debug_environment (void)
{
  static const char *values[] = { "1", "0", "", "yes", "11", " 1", NULL };
  struct nbd_handle *h;

  for (size_t i = 0; values[i]; i++) {
    setenv ("LIBNBD_DEBUG", values[i], 1);
    h = nbd_create ();
    /* Keep the debug output of this test off stderr. */
    nbd_set_debug_callback (h, ((nbd_debug_callback) { .callback = dbg_cb,
            .user_data = &(struct dbg) { 0 } }));
    printf ("LIBNBD_DEBUG=\"%s\": ", values[i]);
    INT (nbd_get_debug (h));
    nbd_close (h);
  }
  unsetenv ("LIBNBD_DEBUG");
}

static void
errors_across_threads (void)
{
  struct nbd_handle *h = nbd_create ();
  pthread_t t;

  INT (nbd_set_tls (h, 99));
  if (pthread_create (&t, NULL, thread_main, h) != 0)
    abort ();
  pthread_join (t, NULL);
  /* The thread's EFAULT did not replace our EINVAL... */
  INT (nbd_get_errno ());
  FACT ("main thread's message still names nbd_set_tls",
        nbd_get_error () != NULL &&
        strncmp (nbd_get_error (), "nbd_set_tls: ", 13) == 0);
  INT (nbd_set_export_name (h, NULL));
  /* ...and a later successful call leaves the last error in place. */
  INT (nbd_set_export_name (h, "ok"));
  INT (nbd_get_errno ());
  FACT ("error kept after success names nbd_set_export_name",
        nbd_get_error () != NULL &&
        strncmp (nbd_get_error (), "nbd_set_export_name: ", 21) == 0);
  nbd_close (h);
}


/* ---- calls that need a connection, on a new handle ------------------- */

static int frees;
static void count_free (void *p) { (void) p; frees++; }
static int chunk_cb (void *p, const void *b, size_t c, uint64_t o, unsigned s, int *e)
{ (void) p; (void) b; (void) c; (void) o; (void) s; (void) e; return 0; }
static int completion_cb (void *p, int *e) { (void) p; (void) e; return 0; }
static int list_cb (void *p, const char *n, const char *d)
{ (void) p; (void) n; (void) d; return 0; }
static int context_cb (void *p, const char *n) { (void) p; (void) n; return 0; }

/* Extents seen by block status callbacks. */
static int extent_calls;
static uint32_t first_length, first_flags;
static char extent_context[64];
static int extent_cb (void *p, const char *m, uint64_t o, uint32_t *en, size_t n, int *e)
{
  (void) p; (void) o; (void) e;
  if (extent_calls++ == 0 && n >= 2) {
    first_length = en[0];
    first_flags = en[1];
    snprintf (extent_context, sizeof extent_context, "%s", m);
  }
  return 0;
}

#define CHUNK ((nbd_chunk_callback) { .callback = chunk_cb, .free = count_free })
#define COMPLETION ((nbd_completion_callback) { .callback = completion_cb, .free = count_free })
#define EXTENT ((nbd_extent_callback) { .callback = extent_cb, .free = count_free })
#define LIST ((nbd_list_callback) { .callback = list_cb, .free = count_free })
#define CONTEXT ((nbd_context_callback) { .callback = context_cb, .free = count_free })

/* A call taking closures: its result, then how many .free ran. */
#define INT_FREES(expr)                                  \
  do {                                                   \
    frees = 0;                                           \
    obs_int (#expr, (int64_t) (expr));                   \
    printf ("  closures freed: %d\n", frees);            \
  } while (0)

static void
cstr (const char *expr, const char *s)
{
  obs_str (expr, s ? strdup (s) : NULL);
}
#define CSTR(expr) cstr (#expr, (expr))

/* Every call of the transmission and option phases is refused on a new
 * handle (ENOTCONN) before its arguments are looked at, and frees the
 * closures it was given. */
static void
not_connected (void)
{
  struct nbd_handle *h = nbd_create ();
  char buf[512];

  INT (nbd_is_read_only (h));
  INT (nbd_can_flush (h));
  INT (nbd_can_fua (h));
  INT (nbd_is_rotational (h));
  INT (nbd_can_trim (h));
  INT (nbd_can_zero (h));
  INT (nbd_can_df (h));
  INT (nbd_can_multi_conn (h));
  INT (nbd_can_cache (h));
  INT (nbd_can_fast_zero (h));
  INT (nbd_can_meta_context (h, LIBNBD_CONTEXT_BASE_ALLOCATION));
  INT (nbd_can_meta_context (h, NULL));
  INT (nbd_get_size (h));
  INT (nbd_get_block_size (h, LIBNBD_SIZE_PREFERRED));
  INT (nbd_get_block_size (h, 99));
  CSTR (nbd_get_protocol (h));
  STR (nbd_get_canonical_export_name (h));
  STR (nbd_get_export_description (h));
  INT (nbd_get_structured_replies_negotiated (h));
  INT (nbd_get_tls_negotiated (h));

  INT (nbd_opt_go (h));
  INT (nbd_opt_info (h));
  INT (nbd_opt_abort (h));
  INT_FREES (nbd_opt_list (h, LIST));
  INT_FREES (nbd_opt_list (h, ((nbd_list_callback) { .callback = NULL })));
  INT_FREES (nbd_opt_list_meta_context (h, CONTEXT));
  INT_FREES (nbd_aio_opt_go (h, COMPLETION));
  INT_FREES (nbd_aio_opt_info (h, COMPLETION));
  INT_FREES (nbd_aio_opt_list (h, LIST, COMPLETION));
  INT_FREES (nbd_aio_opt_list_meta_context (h, CONTEXT, COMPLETION));
  INT (nbd_aio_opt_abort (h));

  INT (nbd_shutdown (h, 0));
  INT (nbd_shutdown (h, 0xffffff));
  INT (nbd_aio_disconnect (h, 0));
  INT (nbd_pread (h, buf, sizeof buf, 0, 0));
  /* (nbd_pread with a NULL buffer is left out: libnbd 1.14 clears the
   * buffer before any check and crashes; fastnbd refuses the call.) */
  INT (nbd_pwrite (h, buf, sizeof buf, 0, 0));
  INT (nbd_pwrite (h, buf, sizeof buf, 0, 0xffffffffu));
  INT (nbd_flush (h, 0));
  INT (nbd_trim (h, 512, 0, 0));
  INT (nbd_cache (h, 512, 0, 0));
  INT (nbd_zero (h, 512, 0, 0));
  INT_FREES (nbd_pread_structured (h, buf, sizeof buf, 0, CHUNK, 0));
  INT_FREES (nbd_block_status (h, 512, 0, EXTENT, 0));
  INT_FREES (nbd_aio_pread (h, buf, sizeof buf, 0, COMPLETION, 0));
  INT_FREES (nbd_aio_pread (h, buf, sizeof buf, 0, NBD_NULL_COMPLETION, 0));
  INT_FREES (nbd_aio_pread_structured (h, buf, sizeof buf, 0, CHUNK, COMPLETION, 0));
  INT_FREES (nbd_aio_pwrite (h, buf, sizeof buf, 0, COMPLETION, 0));
  INT_FREES (nbd_aio_flush (h, COMPLETION, 0));
  INT_FREES (nbd_aio_trim (h, 512, 0, COMPLETION, 0));
  INT_FREES (nbd_aio_cache (h, 512, 0, COMPLETION, 0));
  INT_FREES (nbd_aio_zero (h, 512, 0, COMPLETION, 0));
  INT_FREES (nbd_aio_block_status (h, 512, 0, EXTENT, COMPLETION, 0));
  INT (nbd_aio_in_flight (h));

  /* A read refused for the state still clears the caller's buffer
   * while pread_initialize is on (the default), and only then. */
  memset (buf, 0xaa, sizeof buf);
  INT (nbd_pread (h, buf, sizeof buf, 0, 0));
  FACT ("refused pread cleared the buffer", buf[0] == 0 && buf[511] == 0);
  INT (nbd_set_pread_initialize (h, false));
  memset (buf, 0xaa, sizeof buf);
  INT (nbd_pread (h, buf, sizeof buf, 0, 0));
  FACT ("refused pread, pread_initialize off, cleared the buffer",
        buf[0] == 0 && buf[511] == 0);

  /* Calls allowed in any state. */
  INT (nbd_aio_get_fd (h));
  INT (nbd_aio_get_direction (h));
  INT (nbd_poll (h, 0));
  INT (nbd_kill_subprocess (h, 0));
  INT (nbd_aio_command_completed (h, 0));
  INT (nbd_aio_peek_command_completed (h));
  INT (nbd_aio_notify_read (h));
  INT (nbd_aio_notify_write (h));
  /* Cookie 0 is never valid; any other cookie not (yet) complete is
   * "still in flight", even one never issued (libnbd 1.24 too). */
  INT (nbd_aio_command_completed (h, 1));
  INT (nbd_aio_command_completed (h, UINT64_MAX));
  INT (nbd_aio_is_created (h));

  /* Connects check their arguments, and stay created when refused. */
  INT (nbd_connect_unix (h, NULL));
  INT (nbd_connect_tcp (h, NULL, "10809"));
  INT (nbd_connect_tcp (h, "localhost", NULL));
  INT (nbd_connect_command (h, NULL));
  INT (nbd_connect_systemd_socket_activation (h, NULL));
  INT (nbd_aio_connect_unix (h, NULL));
  INT (nbd_aio_connect_tcp (h, NULL, "10809"));
  INT (nbd_aio_connect_command (h, NULL));
  INT (nbd_aio_connect_systemd_socket_activation (h, NULL));
  INT (nbd_aio_connect (h, NULL, 0));
  INT (nbd_aio_is_created (h));
  nbd_close (h);
}

/* A connect that fails. */
static void
failed_connect (void)
{
  struct nbd_handle *h = nbd_create ();

  INT (nbd_connect_unix (h, "/nonexistent/fastnbd-diff.sock"));
  /* The failure is final: the handle is dead. */
  INT (nbd_aio_is_created (h));
  INT (nbd_aio_is_dead (h));
  INT (nbd_connect_unix (h, "/nonexistent/fastnbd-diff.sock"));
  INT (nbd_set_export_name (h, "after a failed connect"));
  nbd_close (h);
}

/* ---- connected to a real server ------------------------------------------ */

static char *nbdkit[] = {
  (char *) "nbdkit", (char *) "-s", (char *) "--exit-with-parent",
  (char *) "memory", (char *) "1M", NULL
};

/* Drive the handle until the command with this cookie is done. */
static void
wait_for (struct nbd_handle *h, int64_t cookie)
{
  for (int i = 0; i < 1000; i++) {
    int r = nbd_aio_command_completed (h, cookie);
    if (r != 0)
      return;
    if (nbd_poll (h, 1000) == -1)
      return;
  }
}

static void
connected (void)
{
  struct nbd_handle *h = nbd_create ();
  char buf[512], back[512];
  int64_t cookie;

  INT (nbd_add_meta_context (h, LIBNBD_CONTEXT_BASE_ALLOCATION));
  INT (nbd_connect_command (h, nbdkit));
  INT (nbd_aio_is_created (h));
  INT (nbd_aio_is_connecting (h));
  INT (nbd_aio_is_negotiating (h));
  INT (nbd_aio_is_ready (h));
  INT (nbd_aio_is_processing (h));
  INT (nbd_aio_is_dead (h));
  INT (nbd_aio_is_closed (h));
  INT (nbd_get_size (h));
  INT (nbd_is_read_only (h));
  INT (nbd_can_flush (h));
  INT (nbd_can_fua (h));
  INT (nbd_is_rotational (h));
  INT (nbd_can_trim (h));
  INT (nbd_can_zero (h));
  INT (nbd_can_df (h));
  INT (nbd_can_multi_conn (h));
  INT (nbd_can_cache (h));
  INT (nbd_can_fast_zero (h));
  INT (nbd_can_meta_context (h, LIBNBD_CONTEXT_BASE_ALLOCATION));
  INT (nbd_can_meta_context (h, "qemu:allocation-depth"));
  INT (nbd_get_structured_replies_negotiated (h));
  INT (nbd_get_tls_negotiated (h));
  CSTR (nbd_get_protocol (h));
  INT (nbd_get_block_size (h, LIBNBD_SIZE_MINIMUM));
  INT (nbd_get_block_size (h, LIBNBD_SIZE_PREFERRED));
  INT (nbd_get_block_size (h, LIBNBD_SIZE_MAXIMUM));
  INT (nbd_get_block_size (h, 99));
  INT (nbd_aio_in_flight (h));
  FACT ("aio_get_fd >= 0", nbd_aio_get_fd (h) >= 0);

  /* Settings of the handshake are refused once connected (EINVAL). */
  INT (nbd_set_export_name (h, "x"));
  INT (nbd_set_tls (h, LIBNBD_TLS_DISABLE));
  INT (nbd_set_opt_mode (h, true));
  INT (nbd_add_meta_context (h, "x:y"));
  INT (nbd_clear_meta_contexts (h));
  INT (nbd_set_request_structured_replies (h, true));
  INT (nbd_set_handshake_flags (h, 0));
  INT (nbd_set_uri_allow_tls (h, LIBNBD_TLS_ALLOW));
  INT (nbd_opt_go (h));
  INT_FREES (nbd_opt_list (h, LIST));
  INT (nbd_connect_command (h, nbdkit));
  /* ...while the any-state ones still work. */
  INT (nbd_set_strict_mode (h, LIBNBD_STRICT_COMMANDS | LIBNBD_STRICT_FLAGS |
                            LIBNBD_STRICT_BOUNDS | LIBNBD_STRICT_ZERO_SIZE |
                            LIBNBD_STRICT_ALIGN));
  INT (nbd_set_handle_name (h, "connected"));
  INT (nbd_set_debug (h, false));

  /* Synchronous I/O. */
  memset (buf, 'x', sizeof buf);
  INT (nbd_pwrite (h, buf, sizeof buf, 4096, 0));
  INT (nbd_pwrite (h, buf, sizeof buf, 4096, LIBNBD_CMD_FLAG_FUA));
  INT (nbd_pread (h, back, sizeof back, 4096, 0));
  FACT ("read back what was written", memcmp (buf, back, sizeof buf) == 0);
  INT (nbd_pread (h, back, sizeof back, 0, 0));
  FACT ("unwritten area reads as zeroes", back[0] == 0 && back[511] == 0);
  INT (nbd_pread (h, back, sizeof back, 1024 * 1024, 0));
  INT (nbd_pread (h, back, sizeof back, 1024 * 1024 - 256, 0));
  INT (nbd_pread (h, back, 0, 0, 0));
  INT (nbd_pread (h, back, sizeof back, 0, LIBNBD_CMD_FLAG_FUA));
  INT (nbd_pwrite (h, buf, sizeof buf, 0, LIBNBD_CMD_FLAG_DF));
  INT (nbd_pwrite (h, buf, sizeof buf, 0, 0x40));
  INT (nbd_pwrite (h, NULL, sizeof buf, 0, 0));
  INT (nbd_flush (h, 0));
  INT (nbd_flush (h, LIBNBD_CMD_FLAG_FUA));
  INT (nbd_trim (h, 4096, 8192, 0));
  INT (nbd_trim (h, 0, 8192, 0));
  INT (nbd_cache (h, 4096, 0, 0));
  INT (nbd_zero (h, 4096, 4096, 0));
  INT (nbd_zero (h, 4096, 4096, LIBNBD_CMD_FLAG_NO_HOLE | LIBNBD_CMD_FLAG_FUA));
  INT (nbd_zero (h, 4096, 4096, LIBNBD_CMD_FLAG_FAST_ZERO));
  INT (nbd_pread (h, back, sizeof back, 4096, 0));
  FACT ("zeroed area reads as zeroes", back[0] == 0 && back[511] == 0);
  extent_calls = 0;
  INT_FREES (nbd_block_status (h, 65536, 0, EXTENT, 0));
  FACT ("block status: callback calls", extent_calls);
  printf ("block status: context %s, first extent %" PRIu32 " bytes, "
          "flags %" PRIu32 "\n", extent_context, first_length, first_flags);
  INT_FREES (nbd_block_status (h, 65536, 0, EXTENT, LIBNBD_CMD_FLAG_REQ_ONE));
  INT_FREES (nbd_block_status (h, 65536, 0, EXTENT, LIBNBD_CMD_FLAG_FUA));
  INT_FREES (nbd_block_status (h, 65536, 0,
                               ((nbd_extent_callback) { .callback = NULL }), 0));
  INT_FREES (nbd_pread_structured (h, back, sizeof back, 4096, CHUNK, 0));

  /* Asynchronous I/O. */
  frees = 0;
  cookie = nbd_aio_pwrite (h, buf, sizeof buf, 8192, COMPLETION, 0);
  FACT ("aio_pwrite cookie > 0", cookie > 0);
  FACT ("aio_in_flight after aio_pwrite", nbd_aio_in_flight (h) >= 0);
  wait_for (h, cookie);
  FACT ("aio_pwrite: closures freed", frees);
  /* Already retired by wait_for: "still in flight", as libnbd says. */
  INT (nbd_aio_command_completed (h, cookie));
  INT (nbd_aio_command_completed (h, 0));
  cookie = nbd_aio_pread (h, back, sizeof back, 8192, NBD_NULL_COMPLETION, 0);
  FACT ("aio_pread cookie > 0", cookie > 0);
  wait_for (h, cookie);
  FACT ("aio_pread read back", memcmp (buf, back, sizeof buf) == 0);
  INT (nbd_aio_in_flight (h));
  INT (nbd_aio_peek_command_completed (h));
  INT (nbd_aio_is_ready (h));

  /* Shut down: closed, the facts remain readable, I/O is refused. */
  INT (nbd_shutdown (h, 0xffffff));
  INT (nbd_shutdown (h, 0));
  INT (nbd_aio_is_closed (h));
  INT (nbd_aio_is_ready (h));
  INT (nbd_get_size (h));
  INT (nbd_can_flush (h));
  INT (nbd_pread (h, back, sizeof back, 0, 0));
  INT (nbd_shutdown (h, 0));
  INT (nbd_aio_in_flight (h));
  INT (nbd_aio_get_direction (h));
  nbd_close (h);
}

static void
option_mode (void)
{
  struct nbd_handle *h = nbd_create ();

  INT (nbd_set_opt_mode (h, true));
  INT (nbd_connect_command (h, nbdkit));
  INT (nbd_aio_is_negotiating (h));
  INT (nbd_aio_is_connecting (h));
  INT (nbd_get_size (h));
  INT_FREES (nbd_opt_list (h, LIST));
  INT (nbd_set_export_name (h, ""));
  INT (nbd_add_meta_context (h, LIBNBD_CONTEXT_BASE_ALLOCATION));
  INT (nbd_set_full_info (h, true));
  INT (nbd_set_tls (h, LIBNBD_TLS_DISABLE));
  INT (nbd_pread (h, (char[512]) { 0 }, 512, 0, 0));
  INT (nbd_opt_info (h));
  INT (nbd_aio_is_negotiating (h));
  INT (nbd_get_size (h));
  INT (nbd_can_meta_context (h, LIBNBD_CONTEXT_BASE_ALLOCATION));
  INT_FREES (nbd_opt_list_meta_context (h, CONTEXT));
  INT (nbd_opt_go (h));
  INT (nbd_aio_is_ready (h));
  INT (nbd_can_meta_context (h, LIBNBD_CONTEXT_BASE_ALLOCATION));
  INT (nbd_opt_go (h));
  nbd_close (h);

  /* Abort from option mode: the handle ends up closed. */
  h = nbd_create ();
  INT (nbd_set_opt_mode (h, true));
  INT (nbd_connect_command (h, nbdkit));
  INT (nbd_opt_abort (h));
  INT (nbd_aio_is_closed (h));
  INT (nbd_get_size (h));
  INT (nbd_opt_go (h));
  nbd_close (h);
}

static void
dead (void)
{
  struct nbd_handle *h = nbd_create ();

  INT (nbd_connect_command (h, nbdkit));
  INT (nbd_kill_subprocess (h, SIGKILL));
  /* How the dead connection is noticed (EPIPE, ECONNRESET, EOF...) is
   * not compared, only that the request fails and the handle dies. */
  FACT ("pread after the server died fails",
        nbd_pread (h, (char[512]) { 0 }, 512, 0, 0) == -1);
  INT (nbd_aio_is_dead (h));
  INT (nbd_aio_is_ready (h));
  INT (nbd_pread (h, (char[512]) { 0 }, 512, 0, 0));
  INT (nbd_get_size (h));
  INT (nbd_aio_in_flight (h));
  INT (nbd_shutdown (h, 0));
  nbd_close (h);
}

/* ---- argument checks: which one wins, and with which errno ----------- */

#define ONLY_FREE_CHUNK ((nbd_chunk_callback) { .free = count_free })
#define ONLY_FREE_EXTENT ((nbd_extent_callback) { .free = count_free })
#define NO_CHUNK ((nbd_chunk_callback) { .callback = NULL })

static void
argument_order (void)
{
  struct nbd_handle *h = nbd_create ();
  char buf[512];

  INT (nbd_add_meta_context (h, LIBNBD_CONTEXT_BASE_ALLOCATION));
  INT (nbd_connect_command (h, nbdkit));
  /* A closure with only a .free is a closure: the next check (here the
   * bounds) decides, and the .free runs once. */
  INT_FREES (nbd_pread_structured (h, buf, sizeof buf, 1 << 30, ONLY_FREE_CHUNK, 0));
  INT_FREES (nbd_aio_pread_structured (h, buf, sizeof buf, 1 << 30, ONLY_FREE_CHUNK,
                                       COMPLETION, 0));
  INT_FREES (nbd_block_status (h, 512, 1 << 30, ONLY_FREE_EXTENT, 0));
  INT_FREES (nbd_aio_block_status (h, 512, 1 << 30, ONLY_FREE_EXTENT, COMPLETION, 0));
  /* With neither, it is missing (EFAULT) before the bounds are looked at. */
  INT_FREES (nbd_pread_structured (h, buf, sizeof buf, 1 << 30, NO_CHUNK, 0));
  INT_FREES (nbd_aio_pread_structured (h, buf, sizeof buf, 1 << 30, NO_CHUNK,
                                       COMPLETION, 0));
  /* Arguments are checked in order: the closure, then the flags.  (A
   * NULL buffer is left out: libnbd 1.14 clears it before any check.) */
  INT_FREES (nbd_pread_structured (h, buf, sizeof buf, 0, NO_CHUNK, 0x10000));
  INT_FREES (nbd_pread_structured (h, buf, sizeof buf, 1 << 30, CHUNK, 0x10000));
  INT_FREES (nbd_aio_block_status (h, 512, 0, EXTENT, COMPLETION, 0x10000));
  INT_FREES (nbd_aio_block_status (h, 0, 1 << 30, EXTENT, COMPLETION, 0));
  /* A valid request whose chunk closure has no callback succeeds. */
  INT_FREES (nbd_pread_structured (h, buf, sizeof buf, 0, ONLY_FREE_CHUNK, 0));
  INT (nbd_shutdown (h, 0));
  nbd_close (h);
}

/* ---- payload limits ------------------------------------------------------- */

static char *nbdkit_1m_max[] = {
  (char *) "nbdkit", (char *) "-s", (char *) "--exit-with-parent",
  (char *) "--filter=blocksize-policy", (char *) "memory", (char *) "80M",
  (char *) "blocksize-minimum=1", (char *) "blocksize-preferred=4096",
  (char *) "blocksize-maximum=1M", (char *) "blocksize-error-policy=allow", NULL
};

static void
payload_limits (void)
{
  struct nbd_handle *h = nbd_create ();
  size_t big = 64 * 1024 * 1024;
  char *buf = calloc (1, big + 1);

  if (buf == NULL)
    abort ();
  INT (nbd_connect_command (h, nbdkit_1m_max));
  INT (nbd_get_block_size (h, LIBNBD_SIZE_MAXIMUM));
  /* Reads are limited only by the library's 64 MiB, whatever the server
   * advertises or the strict mode says. */
  INT (nbd_pread (h, buf, 2 * 1024 * 1024, 0, 0));
  INT (nbd_pread (h, buf, big, 0, 0));
  INT (nbd_pread (h, buf, big + 1, 0, 0));
  /* Writes above the server's maximum need LIBNBD_STRICT_PAYLOAD
   * cleared (libnbd 1.14 has no such bit and sends them anyway; with it
   * set, 1.16+ and fastnbd refuse them with ERANGE: tests/api checks
   * that); 64 MiB stays the limit. */
  INT (nbd_set_strict_mode (h, nbd_get_strict_mode (h) & ~0x20u));
  INT (nbd_pwrite (h, buf, 2 * 1024 * 1024, 0, 0));
  INT (nbd_pwrite (h, buf, big, 0, 0));
  INT (nbd_pwrite (h, buf, big + 1, 0, 0));
  INT (nbd_shutdown (h, 0));
  nbd_close (h);
  free (buf);
}

/* ---- events and state predicates, state by state -------------------------- */

/* Every state predicate and the direction, on one line. */
static void
state_line (const char *state, struct nbd_handle *h)
{
  printf ("%s: created=%d connecting=%d negotiating=%d ready=%d processing=%d "
          "closed=%d dead=%d direction=%u\n", state,
          nbd_aio_is_created (h), nbd_aio_is_connecting (h),
          nbd_aio_is_negotiating (h), nbd_aio_is_ready (h),
          nbd_aio_is_processing (h), nbd_aio_is_closed (h), nbd_aio_is_dead (h),
          nbd_aio_get_direction (h));
}

/* The predicates, then both events (write first: a read may move the
 * handle on), then the predicates again. */
static void
events_in (const char *state, struct nbd_handle *h)
{
  state_line (state, h);
  printf ("%s: ", state);
  INT (nbd_aio_notify_write (h));
  printf ("%s: ", state);
  INT (nbd_aio_notify_read (h));
  state_line (state, h);
}

static void
put_be (unsigned char *p, uint64_t v, int bytes)
{
  for (int i = bytes - 1; i >= 0; i--, v >>= 8)
    p[i] = v & 0xff;
}

/* A handle on one end of a socket pair; the test plays the server on
 * the other end (*server), so that the handle stays in any state. */
static struct nbd_handle *
paired (int *server)
{
  struct nbd_handle *h = nbd_create ();
  int sv[2];

  if (socketpair (AF_UNIX, SOCK_STREAM, 0, sv) == -1)
    abort ();
  INT (nbd_aio_connect_socket (h, sv[0]));
  *server = sv[1];
  return h;
}

/* The oldstyle greeting: magic, size (1 MiB), flags, 124 zeroes. */
static void
send_oldstyle_greeting (int server)
{
  unsigned char g[152] = { 0 };

  memcpy (g, "NBDMAGIC", 8);
  put_be (g + 8, 0x00420281861253ULL, 8);
  put_be (g + 16, 1024 * 1024, 8);
  put_be (g + 24, 1, 4);          /* NBD_FLAG_HAS_FLAGS */
  if (write (server, g, sizeof g) != sizeof g)
    abort ();
}

static void
event_states (void)
{
  struct nbd_handle *h = nbd_create ();
  struct sockaddr_un addr = { .sun_family = AF_UNIX };
  char dir[] = "/tmp/fastnbd-diff-XXXXXX";
  int server, listener;

  events_in ("created", h);
  nbd_close (h);

  /* Connecting by address: the connect is finished by notify_write
   * (a listening socket that never accepts is enough). */
  if (mkdtemp (dir) == NULL)
    abort ();
  snprintf (addr.sun_path, sizeof addr.sun_path, "%s/sock", dir);
  listener = socket (AF_UNIX, SOCK_STREAM, 0);
  if (listener == -1 || bind (listener, (struct sockaddr *) &addr, sizeof addr) == -1
      || listen (listener, 1) == -1)
    abort ();
  h = nbd_create ();
  INT (nbd_aio_connect (h, (struct sockaddr *) &addr, sizeof addr));
  events_in ("connect by address", h);
  nbd_close (h);
  close (listener);
  unlink (addr.sun_path);
  rmdir (dir);

  /* Waiting for the greeting, then part of it. */
  h = paired (&server);
  events_in ("awaiting the greeting", h);
  if (write (server, "NBDMAGIC", 8) != 8)
    abort ();
  events_in ("half a greeting", h);
  nbd_close (h);
  close (server);

  /* Ready; a garbage reply kills it. */
  h = paired (&server);
  send_oldstyle_greeting (server);
  INT (nbd_aio_notify_read (h));
  state_line ("ready", h);
  printf ("ready: ");
  INT (nbd_aio_notify_write (h));
  if (write (server, "not a reply at all", 16) != 16)
    abort ();
  printf ("garbage: ");
  INT (nbd_aio_notify_read (h) == -1);
  events_in ("dead", h);
  nbd_close (h);
  close (server);

  /* The server hangs up with nothing in flight: closed, not dead. */
  h = paired (&server);
  send_oldstyle_greeting (server);
  INT (nbd_aio_notify_read (h));
  close (server);
  printf ("hang-up: ");
  INT (nbd_aio_notify_read (h));
  events_in ("hung up", h);
  nbd_close (h);

  /* Negotiating in option mode, and closed after nbd_shutdown. */
  h = nbd_create ();
  INT (nbd_set_opt_mode (h, true));
  INT (nbd_connect_command (h, nbdkit));
  events_in ("negotiating", h);
  INT (nbd_opt_go (h));
  INT (nbd_shutdown (h, 0));
  events_in ("shut down", h);
  nbd_close (h);
}

static bool
nbdkit_installed (void)
{
  return system ("nbdkit --version >/dev/null 2>&1") == 0;
}

int
main (void)
{
  struct nbd_handle *h, *h2;
  Dl_info info;

  /* One line at a time, so that a crash shows where it happened. */
  setvbuf (stdout, NULL, _IOLBF, 0);

  /* Build facts, checked by compare.py and not compared. */
  printf ("# header-version-extra %d\n",
#ifdef LIBNBD_HAVE_NBD_GET_VERSION_EXTRA
          1
#else
          0
#endif
          );
  if (dladdr ((void *) nbd_create, &info) && info.dli_fname)
    printf ("# library %s\n", info.dli_fname);

  unsetenv ("LIBNBD_DEBUG");
  FACT ("main thread starts with no error message", nbd_get_error () == NULL);
  INT (nbd_get_errno ());

  h = nbd_create ();
  h2 = nbd_create ();
  if (h == NULL || h2 == NULL)
    abort ();
  printf ("# version %s\n", nbd_get_version (h));
  STR (nbd_get_handle_name (h));
  STR (nbd_get_handle_name (h2));
  printf ("package name = %s\n", nbd_get_package_name (h));
  nbd_close (h2);
  nbd_close (NULL);

  defaults (h);
  strings (h);
  meta_contexts (h);
  enums_and_flags (h);
  booleans (h);
  private_data (h);
  nbd_close (h);

  debug_callbacks ();
  debug_environment ();
  errors_across_threads ();
  not_connected ();
  failed_connect ();

  printf ("# nbdkit %s\n", nbdkit_installed () ? "yes" : "no");
  connected ();
  option_mode ();
  dead ();
  argument_order ();
  payload_limits ();
  event_states ();

  /* Handle numbering continues across all the handles made above. */
  h = nbd_create ();
  STR (nbd_get_handle_name (h));
  nbd_close (h);
  return 0;
}
