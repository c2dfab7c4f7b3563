/* Every setter: good values round-trip through the getter, each class of
 * bad value fails with its errno and a message naming the call, and a
 * refused value leaves the old one in place. */
#include <limits.h>

#include "test.h"

static void
booleans (struct nbd_handle *h)
{
  /* Each bool setting, set to the opposite of its default and back. */
#define ROUND_TRIP_BOOL(name)                   \
  do {                                          \
    CHECK_INT (nbd_set_##name (h, false), 0);   \
    CHECK_INT (nbd_get_##name (h), 0);          \
    CHECK_INT (nbd_set_##name (h, true), 0);    \
    CHECK_INT (nbd_get_##name (h), 1);          \
    CHECK_INT (nbd_set_##name (h, true), 0);    \
    CHECK_INT (nbd_get_##name (h), 1);          \
  } while (0)

  ROUND_TRIP_BOOL (debug);
  CHECK_INT (nbd_set_debug (h, false), 0);
  ROUND_TRIP_BOOL (request_structured_replies);
  ROUND_TRIP_BOOL (request_extended_headers);
  ROUND_TRIP_BOOL (request_meta_context);
  ROUND_TRIP_BOOL (request_block_size);
  ROUND_TRIP_BOOL (full_info);
  ROUND_TRIP_BOOL (opt_mode);
  CHECK_INT (nbd_set_opt_mode (h, false), 0);
  ROUND_TRIP_BOOL (pread_initialize);
  ROUND_TRIP_BOOL (tls_verify_peer);

  /* Write-only settings (no getter in the API). */
  CHECK_INT (nbd_set_uri_allow_local_file (h, true), 0);
  CHECK_INT (nbd_set_uri_allow_local_file (h, false), 0);
  CHECK_INT (nbd_set_uri_allow_tls_priority (h, true), 0);
  CHECK_INT (nbd_set_uri_allow_tls_priority (h, false), 0);
}

static void
names (struct nbd_handle *h)
{
  char *long4096 = test_repeat ('e', 4096);
  char *long4097 = test_repeat ('e', 4097);
  char *long100k = test_repeat ('e', 100000);

  /* Handle name: any string, NULL refused. */
  CHECK_INT (nbd_set_handle_name (h, "my handle"), 0);
  CHECK_STR_FREE (nbd_get_handle_name (h), "my handle");
  CHECK_FAIL (nbd_set_handle_name (h, NULL), EFAULT, "nbd_set_handle_name");
  CHECK_STR_FREE (nbd_get_handle_name (h), "my handle");
  CHECK_INT (nbd_set_handle_name (h, ""), 0);
  CHECK_STR_FREE (nbd_get_handle_name (h), "");
  CHECK_INT (nbd_set_handle_name (h, long100k), 0);
  CHECK_STR_FREE (nbd_get_handle_name (h), long100k);

  /* Export name: up to 4096 bytes (the protocol's limit). */
  CHECK_INT (nbd_set_export_name (h, "disk"), 0);
  CHECK_STR_FREE (nbd_get_export_name (h), "disk");
  CHECK_INT (nbd_set_export_name (h, "d\xc3\xa9j\xc3\xa0 vu/\xe2\x82\xac"), 0);
  CHECK_STR_FREE (nbd_get_export_name (h), "d\xc3\xa9j\xc3\xa0 vu/\xe2\x82\xac");
  CHECK_INT (nbd_set_export_name (h, long4096), 0);
  CHECK_STR_FREE (nbd_get_export_name (h), long4096);
  CHECK_INT (nbd_set_export_name (h, "before"), 0);
  CHECK_FAIL (nbd_set_export_name (h, long4097), ENAMETOOLONG,
              "nbd_set_export_name");
  CHECK_FAIL (nbd_set_export_name (h, long100k), ENAMETOOLONG,
              "nbd_set_export_name");
  CHECK_FAIL (nbd_set_export_name (h, NULL), EFAULT, "nbd_set_export_name");
  CHECK_STR_FREE (nbd_get_export_name (h), "before");
  CHECK_INT (nbd_set_export_name (h, ""), 0);
  CHECK_STR_FREE (nbd_get_export_name (h), "");

  free (long4096);
  free (long4097);
  free (long100k);
}

static void
meta_contexts (struct nbd_handle *h)
{
  char *long4096 = test_repeat ('m', 4096);
  char *long4097 = test_repeat ('m', 4097);

  CHECK_INT (nbd_get_nr_meta_contexts (h), 0);
  CHECK_INT (nbd_clear_meta_contexts (h), 0);       /* empty: still fine */
  CHECK_INT (nbd_add_meta_context (h, LIBNBD_CONTEXT_BASE_ALLOCATION), 0);
  CHECK_INT (nbd_add_meta_context (h, "qemu:dirty-bitmap:bitmap0"), 0);
  CHECK_INT (nbd_add_meta_context (h, long4096), 0);
  CHECK_INT (nbd_get_nr_meta_contexts (h), 3);
  CHECK_STR_FREE (nbd_get_meta_context (h, 0), "base:allocation");
  CHECK_STR_FREE (nbd_get_meta_context (h, 1), "qemu:dirty-bitmap:bitmap0");
  CHECK_STR_FREE (nbd_get_meta_context (h, 2), long4096);

  CHECK_FAIL_NULL (nbd_get_meta_context (h, 3), EINVAL, "nbd_get_meta_context");
  CHECK_FAIL_NULL (nbd_get_meta_context (h, SIZE_MAX), EINVAL,
                   "nbd_get_meta_context");
  CHECK_FAIL (nbd_add_meta_context (h, ""), EINVAL, "nbd_add_meta_context");
  CHECK_FAIL (nbd_add_meta_context (h, long4097), ENAMETOOLONG,
              "nbd_add_meta_context");
  CHECK_FAIL (nbd_add_meta_context (h, NULL), EFAULT, "nbd_add_meta_context");
  CHECK_INT (nbd_get_nr_meta_contexts (h), 3);      /* refusals added nothing */

  /* Many entries keep their order. */
  for (int i = 0; i < 100; i++) {
    char name[32];
    snprintf (name, sizeof name, "x:%d", i);
    CHECK_INT (nbd_add_meta_context (h, name), 0);
  }
  CHECK_INT (nbd_get_nr_meta_contexts (h), 103);
  CHECK_STR_FREE (nbd_get_meta_context (h, 3), "x:0");
  CHECK_STR_FREE (nbd_get_meta_context (h, 102), "x:99");

  CHECK_INT (nbd_clear_meta_contexts (h), 0);
  CHECK_INT (nbd_get_nr_meta_contexts (h), 0);
  CHECK_FAIL_NULL (nbd_get_meta_context (h, 0), EINVAL, "nbd_get_meta_context");
  CHECK_INT (nbd_add_meta_context (h, "base:allocation"), 0);
  CHECK_INT (nbd_get_nr_meta_contexts (h), 1);
  CHECK_INT (nbd_clear_meta_contexts (h), 0);

  free (long4096);
  free (long4097);
}

static void
enums (struct nbd_handle *h)
{
  static const int bad[] = { -1, 3, 4, 100, INT_MAX, INT_MIN };

  for (int v = LIBNBD_TLS_DISABLE; v <= LIBNBD_TLS_REQUIRE; v++) {
    CHECK_INT (nbd_set_tls (h, v), 0);
    CHECK_INT (nbd_get_tls (h), v);
    CHECK_INT (nbd_set_uri_allow_tls (h, v), 0);
  }
  CHECK_INT (nbd_set_tls (h, LIBNBD_TLS_ALLOW), 0);
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    CHECK_FAIL (nbd_set_tls (h, bad[i]), EINVAL, "nbd_set_tls");
    CHECK_FAIL (nbd_set_uri_allow_tls (h, bad[i]), EINVAL,
                "nbd_set_uri_allow_tls");
  }
  CHECK_INT (nbd_get_tls (h), LIBNBD_TLS_ALLOW);
  CHECK_INT (nbd_set_tls (h, LIBNBD_TLS_DISABLE), 0);
}

/* Every subset of `mask` is accepted and read back (if `get`); each bit
 * outside it is refused with EINVAL and leaves the value unchanged. */
static void
flags (struct nbd_handle *h, const char *fn, uint32_t mask,
       int (*set) (struct nbd_handle *, uint32_t),
       uint32_t (*get) (struct nbd_handle *))
{
  for (uint32_t v = 0; v <= mask; v++) {
    if ((v & ~mask) != 0)
      continue;
    CHECK_INT (set (h, v), 0);
    if (get)
      CHECK_INT (get (h), v);
  }
  CHECK_INT (set (h, mask), 0);
  for (int bit = 0; bit < 32; bit++) {
    uint32_t v = UINT32_C (1) << bit;
    if (v & mask)
      continue;
    CHECK_FAIL (set (h, v), EINVAL, fn);
    CHECK_FAIL (set (h, v | mask), EINVAL, fn);
    if (get)
      CHECK_INT (get (h), mask);
  }
  CHECK_FAIL (set (h, UINT32_MAX), EINVAL, fn);
}

static void
all_flags (struct nbd_handle *h)
{
  flags (h, "nbd_set_handshake_flags", LIBNBD_HANDSHAKE_FLAG_MASK,
         nbd_set_handshake_flags, nbd_get_handshake_flags);
  flags (h, "nbd_set_strict_mode", LIBNBD_STRICT_MASK,
         nbd_set_strict_mode, nbd_get_strict_mode);
  flags (h, "nbd_set_uri_allow_transports", LIBNBD_ALLOW_TRANSPORT_MASK,
         nbd_set_uri_allow_transports, NULL);
  CHECK_INT (LIBNBD_HANDSHAKE_FLAG_MASK, 0x03);
  CHECK_INT (LIBNBD_STRICT_MASK, 0x7f);
  CHECK_INT (LIBNBD_ALLOW_TRANSPORT_MASK, 0x0f);
}

static void
tls_strings (struct nbd_handle *h)
{
  char *long300 = test_repeat ('u', 300);

  /* Paths are not checked for existence until TLS is set up. */
  CHECK_INT (nbd_set_tls_certificates (h, "/nonexistent/pki"), 0);
  CHECK_INT (nbd_set_tls_certificates (h, ""), 0);
  CHECK_FAIL (nbd_set_tls_certificates (h, NULL), EFAULT,
              "nbd_set_tls_certificates");
  CHECK_INT (nbd_set_tls_psk_file (h, "/nonexistent/keys.psk"), 0);
  CHECK_FAIL (nbd_set_tls_psk_file (h, NULL), EFAULT, "nbd_set_tls_psk_file");

  CHECK_INT (nbd_set_tls_username (h, "alice"), 0);
  CHECK_STR_FREE (nbd_get_tls_username (h), "alice");
  CHECK_FAIL (nbd_set_tls_username (h, NULL), EFAULT, "nbd_set_tls_username");
  CHECK_STR_FREE (nbd_get_tls_username (h), "alice");
  CHECK_INT (nbd_set_tls_username (h, long300), 0);
  CHECK_STR_FREE (nbd_get_tls_username (h), long300);

  CHECK_INT (nbd_set_tls_hostname (h, "server.example.com"), 0);
  CHECK_STR_FREE (nbd_get_tls_hostname (h), "server.example.com");
  CHECK_FAIL (nbd_set_tls_hostname (h, NULL), EFAULT, "nbd_set_tls_hostname");
  CHECK_STR_FREE (nbd_get_tls_hostname (h), "server.example.com");

  /* The priority string is checked by GnuTLS when set. */
  CHECK_INT (nbd_set_tls_priority (h, "NORMAL:-VERS-TLS1.0"), 0);
  CHECK_STR_FREE (nbd_get_tls_priority (h), "NORMAL:-VERS-TLS1.0");
  CHECK_INT (nbd_set_tls_priority (h, "SECURE256:+SECURE128"), 0);
  CHECK_STR_FREE (nbd_get_tls_priority (h), "SECURE256:+SECURE128");
  CHECK_FAIL (nbd_set_tls_priority (h, "NO-SUCH-PRIORITY:!!"), EINVAL,
              "nbd_set_tls_priority");
  CHECK_FAIL (nbd_set_tls_priority (h, "NORMAL:+NOT-A-CIPHER"), EINVAL,
              "nbd_set_tls_priority");
  CHECK_FAIL (nbd_set_tls_priority (h, NULL), EFAULT, "nbd_set_tls_priority");
  CHECK_STR_FREE (nbd_get_tls_priority (h), "SECURE256:+SECURE128");
  CHECK_INT (nbd_set_tls_priority (h, "NORMAL"), 0);
  CHECK_STR_FREE (nbd_get_tls_priority (h), "NORMAL");

  free (long300);
}

static void
socket_activation_name (struct nbd_handle *h)
{
  static const char *bad[] = {
    "a b", "a/b", "a:b", "a\nb", "tab\t", "quote\"", "semi;colon",
    "caf\xc3\xa9", "star*", "=",
  };
  char *max = test_repeat ('s', 255), *over = test_repeat ('s', 256);

  CHECK_INT (nbd_set_socket_activation_name (h, "nbd.sock_1-A"), 0);
  CHECK_STR_FREE (nbd_get_socket_activation_name (h), "nbd.sock_1-A");
  CHECK_INT (nbd_set_socket_activation_name (h, max), 0);
  CHECK_STR_FREE (nbd_get_socket_activation_name (h), max);
  CHECK_INT (nbd_set_socket_activation_name (h, "keep"), 0);
  CHECK_FAIL (nbd_set_socket_activation_name (h, over), EINVAL,
              "nbd_set_socket_activation_name");
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
    CHECK_FAIL (nbd_set_socket_activation_name (h, bad[i]), EINVAL,
                "nbd_set_socket_activation_name");
  CHECK_FAIL (nbd_set_socket_activation_name (h, NULL), EFAULT,
              "nbd_set_socket_activation_name");
  CHECK_STR_FREE (nbd_get_socket_activation_name (h), "keep");
  CHECK_INT (nbd_set_socket_activation_name (h, ""), 0);
  CHECK_STR_FREE (nbd_get_socket_activation_name (h), "");

  free (max);
  free (over);
}

static void
private_data (void)
{
  struct nbd_handle *a = test_create (), *b = test_create ();
  int x;

  CHECK_INT (nbd_set_private_data (a, 42), 0);
  CHECK_INT (nbd_get_private_data (a), 42);
  CHECK_INT (nbd_set_private_data (a, (uintptr_t) &x), 42);
  CHECK (nbd_get_private_data (a) == (uintptr_t) &x);
  CHECK (nbd_set_private_data (a, UINTPTR_MAX) == (uintptr_t) &x);
  CHECK (nbd_get_private_data (a) == UINTPTR_MAX);
  CHECK_INT (nbd_get_private_data (b), 0);          /* per handle */
  CHECK (nbd_set_private_data (a, 0) == UINTPTR_MAX);
  CHECK_INT (nbd_get_private_data (a), 0);
  nbd_close (a);
  nbd_close (b);
}

static void
handle_size (void)
{
  struct nbd_handle *h = test_create ();
  char *name = test_repeat ('n', 4000);
  ssize_t before = nbd_get_handle_size (h), after;

  CHECK (before > 0);
  CHECK_INT (nbd_set_export_name (h, name), 0);
  after = nbd_get_handle_size (h);
  CHECK (after >= before + 4000);
  CHECK_INT (nbd_add_meta_context (h, name), 0);
  CHECK (nbd_get_handle_size (h) >= after + 4000);
  CHECK_INT (nbd_clear_meta_contexts (h), 0);
  CHECK_INT (nbd_set_export_name (h, ""), 0);
  CHECK (nbd_get_handle_size (h) < after);
  free (name);
  nbd_close (h);
}

int
main (void)
{
  struct nbd_handle *h;

  unsetenv ("LIBNBD_DEBUG");
  h = test_create ();
  booleans (h);
  names (h);
  meta_contexts (h);
  enums (h);
  all_flags (h);
  tls_strings (h);
  socket_activation_name (h);
  /* Still in the created state after all of that. */
  CHECK_INT (nbd_aio_is_created (h), 1);
  nbd_close (h);

  private_data ();
  handle_size ();
  return test_exit ();
}
