/* Shared helpers for the data-path tests (tests/data).
 *
 * Servers: nbdkit and fakesrv are started per handle with
 * nbd_connect_command; for tests that need two connections to the same
 * disk a server is started in the background on a Unix socket inside a
 * private temporary directory (never a TCP port).
 *
 * meson passes the locations it knows through the environment:
 *   FAKESRV      tests/fakesrv/fakesrv.py
 *   PYTHON       the Python interpreter to run it with
 *   DATA_SRCDIR  this directory (for helper scripts such as erroroffset.py)
 * Missing external programs make a test skip (exit 77), never fail. */
#ifndef FASTNBD_DATA_H
#define FASTNBD_DATA_H

#include "test.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define KiB 1024
#define MiB (1024 * 1024)

/* ---- environment ---- */

static inline bool
have_program (const char *name)
{
  const char *path = getenv ("PATH");
  char buf[4096];

  if (strchr (name, '/'))
    return access (name, X_OK) == 0;
  if (path == NULL)
    path = "/usr/bin:/bin";
  while (*path) {
    const char *colon = strchr (path, ':');
    size_t len = colon ? (size_t) (colon - path) : strlen (path);
    snprintf (buf, sizeof buf, "%.*s/%s", (int) len, path, name);
    if (len && access (buf, X_OK) == 0)
      return true;
    path += len + (colon != NULL);
  }
  return false;
}

static inline const char *
env_or (const char *name, const char *dflt)
{
  const char *v = getenv (name);
  return v && *v ? v : dflt;
}

static inline const char *
fakesrv_path (void)
{
  return env_or ("FAKESRV", "tests/fakesrv/fakesrv.py");
}

static inline const char *
python_path (void)
{
  return env_or ("PYTHON", "python3");
}

static inline void
require_nbdkit (void)
{
  if (!have_program ("nbdkit"))
    TEST_SKIP ("nbdkit is not installed");
}

static inline void
require_fakesrv (void)
{
  if (access (fakesrv_path (), R_OK) != 0)
    TEST_SKIP ("fakesrv not found at %s (set FAKESRV)", fakesrv_path ());
}

static inline double
now_s (void)
{
  struct timespec ts;
  clock_gettime (CLOCK_MONOTONIC, &ts);
  return ts.tv_sec + ts.tv_nsec / 1e9;
}

/* Abort a test that would hang: meson's timeout would also catch it, but
 * this names the cause. */
static const char *watchdog_what = "the test";

static void
watchdog_fired (int sig)
{
  char msg[256];
  int n;
  (void) sig;
  n = snprintf (msg, sizeof msg, "FAIL: watchdog: %s did not finish in time "
                "(hang or deadlock)\n", watchdog_what);
  if (write (2, msg, n) < 0) { /* nothing more to do */ }
  _exit (1);
}

static inline void
watchdog (const char *what, unsigned seconds)
{
  watchdog_what = what;
  signal (SIGALRM, watchdog_fired);
  alarm (seconds);
}

/* ---- connecting ---- */

/* Connect h with nbd_connect_command, or exit 99: a test that cannot
 * reach its server has nothing to test. */
static inline void
must_connect (struct nbd_handle *h, char **argv)
{
  if (nbd_connect_command (h, argv) == -1) {
    fprintf (stderr, "cannot connect to");
    for (char **a = argv; *a; a++)
      fprintf (stderr, " %s", *a);
    fprintf (stderr, ": %s\n", nbd_get_error ());
    exit (99);
  }
}

/* A handle connected to `nbdkit -s --exit-with-parent [filters] ARGS...`.
 * The list of words ends with NULL. */
static inline struct nbd_handle *
open_nbdkit_v (char *const *words)
{
  char *argv[32] = { "nbdkit", "-s", "--exit-with-parent" };
  int n = 3;
  struct nbd_handle *h = test_create ();

  nbd_add_meta_context (h, LIBNBD_CONTEXT_BASE_ALLOCATION);
  for (int i = 0; words[i] && n < 31; i++)
    argv[n++] = words[i];
  argv[n] = NULL;
  must_connect (h, argv);
  return h;
}

#define open_nbdkit(...) \
  open_nbdkit_v ((char *const[]) { __VA_ARGS__, NULL })

/* Modes of a fakesrv connection. */
enum mode { MODE_SIMPLE, MODE_STRUCTURED, MODE_EXTENDED };

static inline const char *
mode_name (enum mode m)
{
  return m == MODE_SIMPLE ? "simple" : m == MODE_STRUCTURED ? "structured"
    : "extended";
}

/* A handle connected to fakesrv in the given mode, with more server
 * arguments (NULL-terminated).  The meta context base:allocation is
 * requested unless the mode is simple. */
static inline struct nbd_handle *
open_fakesrv_v (enum mode m, char *const *words)
{
  char *argv[40];
  int n = 0;
  struct nbd_handle *h = test_create ();

  argv[n++] = (char *) python_path ();
  argv[n++] = (char *) fakesrv_path ();
  if (m == MODE_EXTENDED)
    argv[n++] = "--extended";
  for (int i = 0; words[i] && n < 39; i++)
    argv[n++] = words[i];
  argv[n] = NULL;
  if (m == MODE_SIMPLE)
    nbd_set_request_structured_replies (h, false);
  else
    nbd_add_meta_context (h, LIBNBD_CONTEXT_BASE_ALLOCATION);
#ifdef LIBNBD_HAVE_NBD_SET_REQUEST_EXTENDED_HEADERS
  nbd_set_request_extended_headers (h, m == MODE_EXTENDED);
#endif
  must_connect (h, argv);
  return h;
}

#define open_fakesrv(m, ...) \
  open_fakesrv_v ((m), (char *const[]) { __VA_ARGS__, NULL })

/* ---- background servers on a Unix socket ---- */

struct bg_server {
  pid_t pid;
  char dir[64];
  char sock[128];
};

/* Start argv (any word equal to "@SOCK@" is replaced by the socket
 * path) and wait up to 20 s until the socket accepts connections.
 * Returns 0, or -1 after printing why. */
static inline int
bg_start (struct bg_server *s, char *const *argv)
{
  char *args[40];
  int i;

  strcpy (s->dir, "/tmp/fastnbd-data-XXXXXX");
  if (mkdtemp (s->dir) == NULL) {
    perror ("mkdtemp");
    return -1;
  }
  snprintf (s->sock, sizeof s->sock, "%s/sock", s->dir);
  for (i = 0; argv[i] && i < 39; i++)
    args[i] = strcmp (argv[i], "@SOCK@") == 0 ? s->sock : argv[i];
  args[i] = NULL;

  s->pid = fork ();
  if (s->pid == -1) {
    perror ("fork");
    return -1;
  }
  if (s->pid == 0) {
    int null = open ("/dev/null", O_RDWR);
    if (null >= 0) {
      dup2 (null, 0);
      dup2 (null, 1);
    }
    execvp (args[0], args);
    perror (args[0]);
    _exit (127);
  }
  for (int tries = 0; tries < 400; tries++) {
    struct stat st;
    int status;

    if (waitpid (s->pid, &status, WNOHANG) == s->pid) {
      fprintf (stderr, "%s exited before listening\n", args[0]);
      s->pid = -1;
      return -1;
    }
    /* Probe with a real handshake ended by NBD_OPT_ABORT, which servers
     * take quietly (a bare connect and close makes them complain). */
    if (stat (s->sock, &st) == 0 && S_ISSOCK (st.st_mode)) {
      struct nbd_handle *probe = nbd_create ();
      bool up = false;
      if (probe && nbd_set_opt_mode (probe, true) == 0
          && nbd_connect_unix (probe, s->sock) == 0) {
        up = true;
        nbd_opt_abort (probe);
      }
      nbd_close (probe);
      if (up)
        return 0;
    }
    usleep (50000);
  }
  fprintf (stderr, "%s never listened on %s\n", args[0], s->sock);
  return -1;
}

static inline void
bg_stop (struct bg_server *s)
{
  if (s->pid > 0) {
    kill (s->pid, SIGTERM);
    for (int i = 0; i < 100; i++) {
      if (waitpid (s->pid, NULL, WNOHANG) == s->pid) {
        s->pid = -1;
        break;
      }
      usleep (20000);
    }
    if (s->pid > 0) {
      kill (s->pid, SIGKILL);
      waitpid (s->pid, NULL, 0);
    }
    s->pid = -1;
  }
  unlink (s->sock);
  rmdir (s->dir);
}

static inline struct nbd_handle *
open_unix (const char *sock)
{
  struct nbd_handle *h = test_create ();

  nbd_add_meta_context (h, LIBNBD_CONTEXT_BASE_ALLOCATION);
  if (nbd_connect_unix (h, sock) == -1) {
    fprintf (stderr, "nbd_connect_unix %s: %s\n", sock, nbd_get_error ());
    exit (99);
  }
  return h;
}

/* ---- driving ---- */

/* nbd_poll until nothing is in flight; returns -1 (error left set) if
 * nbd_poll failed. */
static inline int
drain (struct nbd_handle *h)
{
  while (nbd_aio_in_flight (h) > 0) {
    if (nbd_poll (h, -1) == -1)
      return -1;
  }
  return 0;
}

/* Drive h until the command is complete, then retire it; returns what
 * nbd_aio_command_completed returned (1 or -1). */
static inline int
wait_for (struct nbd_handle *h, int64_t cookie)
{
  int r;

  while ((r = nbd_aio_command_completed (h, cookie)) == 0) {
    if (nbd_poll (h, -1) == -1)
      return -1;
  }
  return r;
}

/* ---- deterministic data ---- */

static inline uint64_t
rng_next (uint64_t *s)
{
  /* splitmix64 */
  uint64_t z = (*s += UINT64_C (0x9E3779B97F4A7C15));
  z = (z ^ (z >> 30)) * UINT64_C (0xBF58476D1CE4E5B9);
  z = (z ^ (z >> 27)) * UINT64_C (0x94D049BB133111EB);
  return z ^ (z >> 31);
}

/* Byte of "generation" gen at absolute disk offset off. */
static inline uint8_t
pattern_byte (uint64_t gen, uint64_t off)
{
  uint64_t z = off * UINT64_C (0x9E3779B97F4A7C15) ^ (gen + 1) * UINT64_C (0xD6E8FEB86659FD93);
  z ^= z >> 29;
  z *= UINT64_C (0xBF58476D1CE4E5B9);
  return (uint8_t) (z >> 56);
}

static inline void
fill_pattern (void *buf, size_t len, uint64_t gen, uint64_t off)
{
  uint8_t *p = buf;
  for (size_t i = 0; i < len; i++)
    p[i] = pattern_byte (gen, off + i);
}

/* nbdkit pattern / fakesrv --pattern: each 8-byte big-endian word holds
 * its own offset. */
static inline uint8_t
offset_pattern_byte (uint64_t off)
{
  uint64_t word = off & ~UINT64_C (7);
  return (uint8_t) (word >> (8 * (7 - (off & 7))));
}

/* Index of the first byte of buf (which holds disk offset off) that
 * differs from the offset pattern, or -1. */
static inline int64_t
check_offset_pattern (const void *buf, size_t len, uint64_t off)
{
  const uint8_t *p = buf;
  for (size_t i = 0; i < len; i++)
    if (p[i] != offset_pattern_byte (off + i))
      return i;
  return -1;
}

static inline bool
all_bytes (const void *buf, size_t len, uint8_t c)
{
  const uint8_t *p = buf;
  for (size_t i = 0; i < len; i++)
    if (p[i] != c)
      return false;
  return true;
}

/* ---- guarded buffers: canaries on both sides catch stray writes ---- */

#define GUARD 64
#define GUARD_BYTE 0x5A

static inline void *
guarded_alloc (size_t len, uint8_t fill)
{
  uint8_t *p = malloc (len + 2 * GUARD);
  if (p == NULL) {
    perror ("malloc");
    exit (99);
  }
  memset (p, GUARD_BYTE, GUARD);
  memset (p + GUARD, fill, len);
  memset (p + GUARD + len, GUARD_BYTE, GUARD);
  return p + GUARD;
}

static inline bool
guards_intact (const void *buf, size_t len)
{
  const uint8_t *p = (const uint8_t *) buf - GUARD;
  return all_bytes (p, GUARD, GUARD_BYTE) && all_bytes (p + GUARD + len, GUARD, GUARD_BYTE);
}

static inline void
guarded_free (void *buf)
{
  if (buf)
    free ((uint8_t *) buf - GUARD);
}

/* ---- extents ---- */

/* Merged (length, flags) list collected by an extent callback. */
struct extents {
  char context[64];
  int calls;
  size_t n;
  uint64_t len[256];
  uint32_t flags[256];
  size_t raw_entries;           /* entries as the callback received them */
  int frees;
};

static inline void
extents_add (struct extents *e, uint64_t len, uint32_t flags)
{
  if (e->n && e->flags[e->n - 1] == flags)
    e->len[e->n - 1] += len;
  else if (e->n < 256) {
    e->len[e->n] = len;
    e->flags[e->n] = flags;
    e->n++;
  }
}

static inline int
extent32_cb (void *user_data, const char *metacontext, uint64_t offset,
             uint32_t *entries, size_t nr_entries, int *error)
{
  struct extents *e = user_data;
  (void) offset;
  (void) error;
  e->calls++;
  snprintf (e->context, sizeof e->context, "%s", metacontext);
  if (strcmp (metacontext, LIBNBD_CONTEXT_BASE_ALLOCATION) != 0)
    return 0;
  e->raw_entries += nr_entries / 2;
  for (size_t i = 0; i + 1 < nr_entries; i += 2)
    extents_add (e, entries[i], entries[i + 1]);
  return 0;
}

#ifdef LIBNBD_HAVE_NBD_BLOCK_STATUS_64
static inline int
extent64_cb (void *user_data, const char *metacontext, uint64_t offset,
             nbd_extent *entries, size_t nr_entries, int *error)
{
  struct extents *e = user_data;
  (void) offset;
  (void) error;
  e->calls++;
  snprintf (e->context, sizeof e->context, "%s", metacontext);
  if (strcmp (metacontext, LIBNBD_CONTEXT_BASE_ALLOCATION) != 0)
    return 0;
  e->raw_entries += nr_entries;
  for (size_t i = 0; i < nr_entries; i++)
    extents_add (e, entries[i].length, (uint32_t) entries[i].flags);
  return 0;
}
#endif

static inline void
extents_free (void *user_data)
{
  ((struct extents *) user_data)->frees++;
}

/* Flags of the merged extent covering byte `at` relative to the start of
 * the query, or -1 when not covered. */
static inline int64_t
extents_flags_at (const struct extents *e, uint64_t at)
{
  uint64_t pos = 0;
  for (size_t i = 0; i < e->n; i++) {
    if (at < pos + e->len[i])
      return e->flags[i];
    pos += e->len[i];
  }
  return -1;
}

#endif
