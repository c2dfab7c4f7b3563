/* Handles: creation, names nbd1, nbd2, ... in creation order, closing,
 * and handles used from several threads. */
#include <pthread.h>

#include "test.h"

/* The number in a default name "nbd<N>", or -1. */
static long
name_number (struct nbd_handle *h)
{
  char *name = nbd_get_handle_name (h), *end;
  long n = -1;

  if (name && strncmp (name, "nbd", 3) == 0 && name[3] >= '1' && name[3] <= '9') {
    n = strtol (name + 3, &end, 10);
    if (*end != '\0')
      n = -1;
  }
  free (name);
  return n;
}

static void
names (void)
{
  struct nbd_handle *a = test_create (), *b = test_create (), *c;

  /* The first handle of the process is nbd1. */
  CHECK_STR_FREE (nbd_get_handle_name (a), "nbd1");
  CHECK_STR_FREE (nbd_get_handle_name (b), "nbd2");

  /* Numbers are never reused, even after a close. */
  nbd_close (a);
  c = test_create ();
  CHECK_STR_FREE (nbd_get_handle_name (c), "nbd3");

  /* A chosen name replaces the default for that handle only. */
  CHECK_INT (nbd_set_handle_name (b, "backup-disk"), 0);
  CHECK_STR_FREE (nbd_get_handle_name (b), "backup-disk");
  CHECK_STR_FREE (nbd_get_handle_name (c), "nbd3");
  nbd_close (b);
  nbd_close (c);
}

/* Handles created concurrently still get distinct, increasing numbers. */
#define NTHREADS 4
#define PER_THREAD 50

static long numbers[NTHREADS][PER_THREAD];

static void *
creator (void *arg)
{
  long *out = arg;
  for (int i = 0; i < PER_THREAD; i++) {
    struct nbd_handle *h = test_create ();
    out[i] = name_number (h);
    nbd_close (h);
  }
  return NULL;
}

static void
concurrent_names (void)
{
  pthread_t t[NTHREADS];
  static char seen[NTHREADS * PER_THREAD + 16];
  long base;
  struct nbd_handle *h = test_create ();
  int dup = 0, increasing = 1;

  base = name_number (h);          /* the next numbers start after it */
  nbd_close (h);
  CHECK (base > 0);
  for (int i = 0; i < NTHREADS; i++)
    CHECK (pthread_create (&t[i], NULL, creator, numbers[i]) == 0);
  for (int i = 0; i < NTHREADS; i++)
    pthread_join (t[i], NULL);
  for (int i = 0; i < NTHREADS; i++) {
    for (int j = 0; j < PER_THREAD; j++) {
      long k = numbers[i][j] - base - 1;
      CHECK (k >= 0 && k < NTHREADS * PER_THREAD);
      if (k >= 0 && k < NTHREADS * PER_THREAD) {
        dup += seen[k];
        seen[k] = 1;
      }
      if (j > 0 && numbers[i][j] <= numbers[i][j - 1])
        increasing = 0;
    }
  }
  CHECK_INT (dup, 0);
  CHECK (increasing);
}

/* Several threads using one handle at once. */
static struct nbd_handle *shared;

static void *
user (void *arg)
{
  uintptr_t n = (uintptr_t) arg;
  char name[32];
  int bad = 0;

  snprintf (name, sizeof name, "export-%u", (unsigned) n);
  for (int i = 0; i < 1000; i++) {
    char *got;
    if (nbd_set_export_name (shared, name) != 0)
      bad++;
    got = nbd_get_export_name (shared);
    if (got == NULL || strncmp (got, "export-", 7) != 0)
      bad++;
    free (got);
    if (nbd_add_meta_context (shared, name) != 0)
      bad++;
  }
  CHECK_INT (bad, 0);
  return NULL;
}

static void
shared_handle (void)
{
  pthread_t t[NTHREADS];

  shared = test_create ();
  for (uintptr_t i = 0; i < NTHREADS; i++)
    CHECK (pthread_create (&t[i], NULL, user, (void *) i) == 0);
  for (int i = 0; i < NTHREADS; i++)
    pthread_join (t[i], NULL);
  CHECK_INT (nbd_get_nr_meta_contexts (shared), NTHREADS * 1000);
  nbd_close (shared);
}

int
main (void)
{
  unsetenv ("LIBNBD_DEBUG");
  names ();
  concurrent_names ();
  shared_handle ();

  /* Closing NULL is allowed and does nothing. */
  nbd_close (NULL);
  CHECK (nbd_get_error () == NULL);
  return test_exit ();
}
