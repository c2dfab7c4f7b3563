/* libnbd.h must be usable from strict ISO C99: compiled with
 * -std=c99 -pedantic -Wall -Wextra -Werror and no feature-test macros
 * (see meson.build).  The header comes first, so it must include what it
 * needs itself; including it twice must be harmless. */
#include <libnbd.h>
#include <libnbd.h>

#include <stdio.h>
#include <stdlib.h>

static int
on_debug (void *user_data, const char *context, const char *msg)
{
  (void) user_data; (void) context; (void) msg;
  return 0;
}

static void
on_free (void *user_data)
{
  (void) user_data;
}

int
main (void)
{
  struct nbd_handle *h = nbd_create ();
  nbd_debug_callback debug = { on_debug, NULL, on_free };
  nbd_completion_callback completion = NBD_NULL_COMPLETION;
  nbd_extent extent = { 4096, LIBNBD_STATE_HOLE | LIBNBD_STATE_ZERO };
  char *name;

  if (h == NULL) {
    fprintf (stderr, "%s\n", nbd_get_error ());
    return 1;
  }
  (void) completion;
  (void) extent;
  if (nbd_set_debug_callback (h, debug) == -1 ||
      nbd_set_export_name (h, "") == -1 ||
      nbd_set_tls (h, LIBNBD_TLS_DISABLE) == -1 ||
      nbd_set_strict_mode (h, LIBNBD_STRICT_MASK) == -1) {
    fprintf (stderr, "%s\n", nbd_get_error ());
    nbd_close (h);
    return 1;
  }
  name = nbd_get_handle_name (h);
  printf ("%s: %s %s\n", name ? name : "?", nbd_get_package_name (h),
          nbd_get_version (h));
  free (name);
  nbd_close (h);
  return 0;
}
