/* A program may load libnbd with dlopen, use it from several threads,
 * unload it with dlclose and carry on.  Threads that saw an error keep
 * running across the dlclose and exit afterwards; the main thread exits
 * last.  Nothing the library left behind (thread-key destructors above
 * all) may then point into the unmapped library.
 *
 * usage: api-dlclose PATH-TO-libnbd.so.0
 * Exit status 0 on success; a crash is the failure this test looks for.
 */
#include <dlfcn.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>

struct nbd_handle;

static struct nbd_handle *(*create) (void);
static void (*close_handle) (struct nbd_handle *);
static int (*connect_unix) (struct nbd_handle *, const char *);
static const char *(*get_error) (void);
static int (*get_errno) (void);

enum { EARLY_THREADS = 3, LATE_THREADS = 4 };

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t changed = PTHREAD_COND_INITIALIZER;
static int errors_seen;
static bool unloaded;
static int failures;

static void
fail (const char *what)
{
  pthread_mutex_lock (&lock);
  fprintf (stderr, "api-dlclose: %s\n", what);
  failures++;
  pthread_mutex_unlock (&lock);
}

/* Fails a connect on purpose, so that this thread gets an error message
 * stored by the library. */
static void
cause_error (void)
{
  struct nbd_handle *h = create ();
  if (h == NULL) {
    fail ("nbd_create failed");
    return;
  }
  if (connect_unix (h, "/nonexistent/api-dlclose.sock") != -1)
    fail ("connect to a missing socket succeeded");
  else if (get_error () == NULL || get_errno () == 0)
    fail ("a failed connect left no error");
  close_handle (h);
}

static void *
early_thread (void *arg)
{
  (void) arg;
  cause_error ();
  return NULL;
}

/* Sees an error, then waits until the library is gone before exiting. */
static void *
late_thread (void *arg)
{
  (void) arg;
  cause_error ();
  pthread_mutex_lock (&lock);
  errors_seen++;
  pthread_cond_broadcast (&changed);
  while (!unloaded)
    pthread_cond_wait (&changed, &lock);
  pthread_mutex_unlock (&lock);
  return NULL;
}

static void *
must_find (void *lib, const char *name)
{
  void *p = dlsym (lib, name);
  if (p == NULL) {
    fprintf (stderr, "api-dlclose: %s: %s\n", name, dlerror ());
    exit (1);
  }
  return p;
}

int
main (int argc, char **argv)
{
  pthread_t early[EARLY_THREADS], late[LATE_THREADS];
  void *lib;
  int i;

  if (argc != 2) {
    fprintf (stderr, "usage: api-dlclose PATH-TO-libnbd.so.0\n");
    return 1;
  }
  lib = dlopen (argv[1], RTLD_NOW | RTLD_LOCAL);
  if (lib == NULL) {
    fprintf (stderr, "api-dlclose: %s\n", dlerror ());
    return 1;
  }
  create = must_find (lib, "nbd_create");
  close_handle = must_find (lib, "nbd_close");
  connect_unix = must_find (lib, "nbd_connect_unix");
  get_error = must_find (lib, "nbd_get_error");
  get_errno = must_find (lib, "nbd_get_errno");

  for (i = 0; i < EARLY_THREADS; i++)
    pthread_create (&early[i], NULL, early_thread, NULL);
  for (i = 0; i < EARLY_THREADS; i++)
    pthread_join (early[i], NULL);
  for (i = 0; i < LATE_THREADS; i++)
    pthread_create (&late[i], NULL, late_thread, NULL);
  cause_error ();

  pthread_mutex_lock (&lock);
  while (errors_seen < LATE_THREADS)
    pthread_cond_wait (&changed, &lock);
  pthread_mutex_unlock (&lock);

  if (dlclose (lib) != 0)
    fail ("dlclose failed");
  /* fastnbd is linked so that it is never unloaded, which is what keeps
   * the threads below safe; libnbd 1.14 is unloaded and cleans up
   * itself.  Either way is right, so this is only reported. */
  printf ("api-dlclose: the library %s after dlclose\n",
          dlopen (argv[1], RTLD_NOW | RTLD_NOLOAD) ? "stayed loaded" : "was unloaded");

  pthread_mutex_lock (&lock);
  unloaded = true;
  pthread_cond_broadcast (&changed);
  pthread_mutex_unlock (&lock);
  for (i = 0; i < LATE_THREADS; i++)
    pthread_join (late[i], NULL);

  if (failures > 0)
    return 1;
  printf ("api-dlclose: %d threads saw errors across dlclose; no crash\n",
          EARLY_THREADS + LATE_THREADS + 1);
  return 0;
}
