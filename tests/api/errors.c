/* nbd_get_error / nbd_get_errno: per thread, set only by failing calls,
 * never disturbed by calls that cannot fail. */
#include <pthread.h>

#include "test.h"

/* ---- one thread's error is invisible to the others ----------------------- */

static pthread_barrier_t barrier;
static struct nbd_handle *shared;

/* Thread A fails first, then waits while B looks and fails differently,
 * then checks that its own error is untouched. */
static void *
thread_a (void *arg)
{
  (void) arg;
  CHECK_FAIL (nbd_set_tls (shared, 42), EINVAL, "nbd_set_tls");
  pthread_barrier_wait (&barrier);      /* 1: A has failed */
  pthread_barrier_wait (&barrier);      /* 2: B has looked and failed */
  CHECK_INT (nbd_get_errno (), EINVAL);
  CHECK (test_starts_with (nbd_get_error (), "nbd_set_tls: "));
  return NULL;
}

static void *
thread_b (void *arg)
{
  (void) arg;
  pthread_barrier_wait (&barrier);      /* 1 */
  CHECK (nbd_get_error () == NULL);
  CHECK_INT (nbd_get_errno (), 0);
  CHECK_FAIL (nbd_set_export_name (shared, NULL), EFAULT,
              "nbd_set_export_name");
  pthread_barrier_wait (&barrier);      /* 2 */
  CHECK_INT (nbd_get_errno (), EFAULT);
  return NULL;
}

static void
two_threads (void)
{
  pthread_t a, b;

  /* The main thread's own error must survive both threads. */
  CHECK_FAIL (nbd_set_handshake_flags (shared, 0x100), EINVAL,
              "nbd_set_handshake_flags");
  CHECK (pthread_barrier_init (&barrier, NULL, 2) == 0);
  CHECK (pthread_create (&a, NULL, thread_a, NULL) == 0);
  CHECK (pthread_create (&b, NULL, thread_b, NULL) == 0);
  pthread_join (a, NULL);
  pthread_join (b, NULL);
  pthread_barrier_destroy (&barrier);
  CHECK_INT (nbd_get_errno (), EINVAL);
  CHECK (test_starts_with (nbd_get_error (), "nbd_set_handshake_flags: "));
}

/* ---- many threads failing at once each keep their own ---------------- */

#define NTHREADS 8
#define ROUNDS 2000

static void *
stress (void *arg)
{
  uintptr_t n = (uintptr_t) arg;
  struct nbd_handle *h = n % 2 ? shared : test_create ();
  unsigned bad = 0;

  for (int i = 0; i < ROUNDS; i++) {
    int want;
    const char *fn;

    switch ((n + i) % 3) {
    case 0:
      nbd_set_tls (h, 7);
      want = EINVAL, fn = "nbd_set_tls: ";
      break;
    case 1:
      nbd_set_export_name (h, NULL);
      want = EFAULT, fn = "nbd_set_export_name: ";
      break;
    default: {
      char *s = test_repeat ('x', 5000);
      nbd_add_meta_context (h, s);
      free (s);
      want = ENAMETOOLONG, fn = "nbd_add_meta_context: ";
      break;
    }
    }
    /* Successful calls in between must not matter. */
    nbd_get_tls (h);
    free (nbd_get_export_name (h));
    if (nbd_get_errno () != want || !test_starts_with (nbd_get_error (), fn))
      bad++;
  }
  CHECK_INT (bad, 0);
  if (h != shared)
    nbd_close (h);
  return NULL;
}

static void
many_threads (void)
{
  pthread_t t[NTHREADS];

  for (uintptr_t i = 0; i < NTHREADS; i++)
    CHECK (pthread_create (&t[i], NULL, stress, (void *) i) == 0);
  for (int i = 0; i < NTHREADS; i++)
    pthread_join (t[i], NULL);
}

/* ---- calls that cannot fail leave the last error alone ----------------- */

static void
never_fail_calls_keep_error (void)
{
  struct nbd_handle *h = shared;
  char *saved;

  CHECK_FAIL (nbd_set_strict_mode (h, 0x80000000u), EINVAL,
              "nbd_set_strict_mode");
  saved = strdup (nbd_get_error ());

  nbd_get_debug (h);
  nbd_set_private_data (h, 1);
  nbd_get_private_data (h);
  nbd_get_request_structured_replies (h);
  nbd_get_request_extended_headers (h);
  nbd_get_handshake_flags (h);
  nbd_get_strict_mode (h);
  nbd_get_opt_mode (h);
  nbd_get_pread_initialize (h);
  nbd_get_tls (h);
  nbd_get_tls_verify_peer (h);
  nbd_get_package_name (h);
  nbd_get_version (h);
  nbd_get_version_extra (h);
  nbd_supports_tls (h);
  nbd_supports_vsock (h);
  nbd_supports_uri (h);
  nbd_aio_is_created (h);
  nbd_aio_is_connecting (h);
  nbd_aio_is_negotiating (h);
  nbd_aio_is_ready (h);
  nbd_aio_is_processing (h);
  nbd_aio_is_dead (h);
  nbd_aio_is_closed (h);
  CHECK_INT (nbd_get_errno (), EINVAL);
  CHECK_STR (nbd_get_error (), saved);

  /* Calls that can fail but succeed do not clear it either (as libnbd). */
  CHECK_INT (nbd_set_export_name (h, "fine"), 0);
  CHECK_INT (nbd_get_request_block_size (h), 1);
  CHECK_INT (nbd_get_nr_meta_contexts (h), 0);
  CHECK (nbd_connection_state (h) != NULL);
  CHECK (nbd_get_handle_size (h) > 0);
  CHECK_INT (nbd_get_errno (), EINVAL);
  CHECK_STR (nbd_get_error (), saved);
  free (saved);

  /* The next failure replaces the message. */
  CHECK_FAIL (nbd_set_uri_allow_transports (h, 0x100), EINVAL,
              "nbd_set_uri_allow_transports");
}

int
main (void)
{
  unsetenv ("LIBNBD_DEBUG");
  /* Before any failure, there is no error in this thread. */
  CHECK (nbd_get_error () == NULL);
  CHECK_INT (nbd_get_errno (), 0);

  shared = test_create ();
  /* Creating a handle is a success: still no error. */
  CHECK (nbd_get_error () == NULL);
  CHECK_INT (nbd_get_errno (), 0);

  two_threads ();
  many_threads ();
  never_fail_calls_keep_error ();
  nbd_close (shared);
  nbd_close (NULL);
  CHECK_INT (nbd_get_errno (), EINVAL);             /* close changes nothing */
  return test_exit ();
}
