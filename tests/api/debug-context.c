/* A call made from inside the debug callback must not change the name
 * that the outer call's own error message starts with: the entry points
 * restore the caller's context when a nested call returns.  (This was a
 * bug until the generator saved and restored it.) */
#include "test.h"

static struct nbd_handle *h;
static int depth;

static int
cb (void *opaque, const char *context, const char *msg)
{
  (void) opaque; (void) context; (void) msg;
  if (depth++ == 0)
    free (nbd_get_handle_name (h));
  depth--;
  return 0;
}

int
main (void)
{
  unsetenv ("LIBNBD_DEBUG");
  h = test_create ();
  CHECK_INT (nbd_set_debug_callback (h, ((nbd_debug_callback) {
          .callback = cb })), 0);
  CHECK_INT (nbd_set_debug (h, true), 0);
  CHECK_FAIL (nbd_set_export_name (h, NULL), EFAULT, "nbd_set_export_name");
  CHECK_FAIL (nbd_set_tls (h, 5), EINVAL, "nbd_set_tls");
  nbd_close (h);
  return test_exit ();
}
