/* The parts of the ABI a compiler sees: the layout of the structs passed
 * by value or by pointer, the callback signatures, and the value of every
 * LIBNBD_* constant (libnbd-api.md §3 and §4, 1.24 values). */
#include <stddef.h>
#include <stdalign.h>

#include "test.h"

/* A closure struct is { callback, user_data, free }: 24 bytes on LP64,
 * pointer-aligned, members at 0, 8 and 16. */
#define CHECK_CLOSURE(type)                                             \
  do {                                                                  \
    CHECK_INT (sizeof (type), 3 * sizeof (void *));                     \
    CHECK_INT (alignof (type), alignof (void *));                       \
    CHECK_INT (offsetof (type, callback), 0);                           \
    CHECK_INT (offsetof (type, user_data), sizeof (void *));            \
    CHECK_INT (offsetof (type, free), 2 * sizeof (void *));             \
    CHECK_INT (sizeof (((type *) 0)->user_data), sizeof (void *));      \
    if (sizeof (void *) == 8)                                           \
      CHECK_INT (sizeof (type), 24);                                    \
  } while (0)

/* The callback signatures must be exactly these (a mismatch is a
 * compile error: incompatible pointer types under -Werror). */
static int chunk_fn (void *u, const void *subbuf, size_t count,
                     uint64_t offset, unsigned status, int *error)
{ (void) u; (void) subbuf; (void) count; (void) offset; (void) status; (void) error; return 0; }
static int completion_fn (void *u, int *error)
{ (void) u; (void) error; return 0; }
static int debug_fn (void *u, const char *context, const char *msg)
{ (void) u; (void) context; (void) msg; return 0; }
static int extent_fn (void *u, const char *metacontext, uint64_t offset,
                      uint32_t *entries, size_t nr_entries, int *error)
{ (void) u; (void) metacontext; (void) offset; (void) entries; (void) nr_entries; (void) error; return 0; }
static int extent64_fn (void *u, const char *metacontext, uint64_t offset,
                        nbd_extent *entries, size_t nr_entries, int *error)
{ (void) u; (void) metacontext; (void) offset; (void) entries; (void) nr_entries; (void) error; return 0; }
static int list_fn (void *u, const char *name, const char *description)
{ (void) u; (void) name; (void) description; return 0; }
static int context_fn (void *u, const char *name)
{ (void) u; (void) name; return 0; }
static void free_fn (void *u) { (void) u; }

static void
closures (void)
{
  nbd_chunk_callback chunk = { .callback = chunk_fn, .free = free_fn };
  nbd_completion_callback completion = { .callback = completion_fn, .free = free_fn };
  nbd_debug_callback debug = { .callback = debug_fn, .free = free_fn };
  nbd_extent_callback extent = { .callback = extent_fn, .free = free_fn };
  nbd_extent64_callback extent64 = { .callback = extent64_fn, .free = free_fn };
  nbd_list_callback list = { .callback = list_fn, .free = free_fn };
  nbd_context_callback context = { .callback = context_fn, .free = free_fn };
  nbd_completion_callback null = NBD_NULL_COMPLETION;

  (void) chunk; (void) completion; (void) debug; (void) extent;
  (void) extent64; (void) list; (void) context;
  CHECK_CLOSURE (nbd_chunk_callback);
  CHECK_CLOSURE (nbd_completion_callback);
  CHECK_CLOSURE (nbd_debug_callback);
  CHECK_CLOSURE (nbd_extent_callback);
  CHECK_CLOSURE (nbd_extent64_callback);
  CHECK_CLOSURE (nbd_list_callback);
  CHECK_CLOSURE (nbd_context_callback);
  CHECK (null.callback == NULL && null.user_data == NULL && null.free == NULL);

  CHECK_INT (LIBNBD_HAVE_NBD_CHUNK_CALLBACK, 1);
  CHECK_INT (LIBNBD_HAVE_NBD_COMPLETION_CALLBACK, 1);
  CHECK_INT (LIBNBD_HAVE_NBD_DEBUG_CALLBACK, 1);
  CHECK_INT (LIBNBD_HAVE_NBD_EXTENT_CALLBACK, 1);
  CHECK_INT (LIBNBD_HAVE_NBD_EXTENT64_CALLBACK, 1);
  CHECK_INT (LIBNBD_HAVE_NBD_LIST_CALLBACK, 1);
  CHECK_INT (LIBNBD_HAVE_NBD_CONTEXT_CALLBACK, 1);
}

static void
extent (void)
{
  nbd_extent e = { .length = 1, .flags = 2 };

  (void) e;
  CHECK_INT (sizeof (nbd_extent), 16);
  CHECK_INT (alignof (nbd_extent), 8);
  CHECK_INT (offsetof (nbd_extent, length), 0);
  CHECK_INT (offsetof (nbd_extent, flags), 8);
  CHECK_INT (sizeof e.length, 8);
  CHECK_INT (sizeof e.flags, 8);
}

static void
constants (void)
{
  CHECK_INT (LIBNBD_TLS_DISABLE, 0);
  CHECK_INT (LIBNBD_TLS_ALLOW, 1);
  CHECK_INT (LIBNBD_TLS_REQUIRE, 2);
  CHECK_INT (LIBNBD_SIZE_MINIMUM, 0);
  CHECK_INT (LIBNBD_SIZE_PREFERRED, 1);
  CHECK_INT (LIBNBD_SIZE_MAXIMUM, 2);
  CHECK_INT (LIBNBD_SIZE_PAYLOAD, 3);

  CHECK_INT (LIBNBD_CMD_FLAG_FUA, 0x01);
  CHECK_INT (LIBNBD_CMD_FLAG_NO_HOLE, 0x02);
  CHECK_INT (LIBNBD_CMD_FLAG_DF, 0x04);
  CHECK_INT (LIBNBD_CMD_FLAG_REQ_ONE, 0x08);
  CHECK_INT (LIBNBD_CMD_FLAG_FAST_ZERO, 0x10);
  CHECK_INT (LIBNBD_CMD_FLAG_PAYLOAD_LEN, 0x20);
  CHECK_INT (LIBNBD_CMD_FLAG_MASK, 0x3f);

  CHECK_INT (LIBNBD_HANDSHAKE_FLAG_FIXED_NEWSTYLE, 0x01);
  CHECK_INT (LIBNBD_HANDSHAKE_FLAG_NO_ZEROES, 0x02);
  CHECK_INT (LIBNBD_HANDSHAKE_FLAG_MASK, 0x03);

  CHECK_INT (LIBNBD_STRICT_COMMANDS, 0x01);
  CHECK_INT (LIBNBD_STRICT_FLAGS, 0x02);
  CHECK_INT (LIBNBD_STRICT_BOUNDS, 0x04);
  CHECK_INT (LIBNBD_STRICT_ZERO_SIZE, 0x08);
  CHECK_INT (LIBNBD_STRICT_ALIGN, 0x10);
  CHECK_INT (LIBNBD_STRICT_PAYLOAD, 0x20);
  CHECK_INT (LIBNBD_STRICT_AUTO_FLAG, 0x40);
  CHECK_INT (LIBNBD_STRICT_MASK, 0x7f);

  CHECK_INT (LIBNBD_ALLOW_TRANSPORT_TCP, 0x01);
  CHECK_INT (LIBNBD_ALLOW_TRANSPORT_UNIX, 0x02);
  CHECK_INT (LIBNBD_ALLOW_TRANSPORT_VSOCK, 0x04);
  CHECK_INT (LIBNBD_ALLOW_TRANSPORT_SSH, 0x08);
  CHECK_INT (LIBNBD_ALLOW_TRANSPORT_MASK, 0x0f);

  CHECK_INT (LIBNBD_SHUTDOWN_ABANDON_PENDING, 0x10000);
  CHECK_INT (LIBNBD_SHUTDOWN_MASK, 0x10000);

  CHECK_INT (LIBNBD_AIO_DIRECTION_READ, 1);
  CHECK_INT (LIBNBD_AIO_DIRECTION_WRITE, 2);
  CHECK_INT (LIBNBD_AIO_DIRECTION_BOTH, 3);
  CHECK_INT (LIBNBD_READ_DATA, 1);
  CHECK_INT (LIBNBD_READ_HOLE, 2);
  CHECK_INT (LIBNBD_READ_ERROR, 3);

  CHECK_STR (LIBNBD_NAMESPACE_BASE, "base:");
  CHECK_STR (LIBNBD_CONTEXT_BASE_ALLOCATION, "base:allocation");
  CHECK_INT (LIBNBD_STATE_HOLE, 1);
  CHECK_INT (LIBNBD_STATE_ZERO, 2);
  CHECK_STR (LIBNBD_NAMESPACE_QEMU, "qemu:");
  CHECK_STR (LIBNBD_CONTEXT_QEMU_DIRTY_BITMAP, "qemu:dirty-bitmap:");
  CHECK_STR (LIBNBD_CONTEXT_QEMU_ALLOCATION_DEPTH, "qemu:allocation-depth");
  CHECK_INT (LIBNBD_STATE_DIRTY, 1);

  /* Flag macros are unsigned (0x..U), enum-like ones plain ints. */
  CHECK ((LIBNBD_CMD_FLAG_FUA - 2) > 0);
  CHECK ((LIBNBD_STRICT_COMMANDS - 2) > 0);
  CHECK ((LIBNBD_TLS_DISABLE - 1) < 0);
}

int
main (void)
{
  closures ();
  extent ();
  constants ();
  return test_exit ();
}
