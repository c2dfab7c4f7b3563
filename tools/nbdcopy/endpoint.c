/* Opening sources and destinations of every kind, and the synchronous I/O
 * both copy engines share. */

#include "nbdcopy.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <linux/fs.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/socket.h>
#include <unistd.h>

#include "human-size.h"

static bool
is_nbd_uri (const char *s)
{
  static const char *const schemes[] = {
    "nbd:", "nbds:", "nbd+unix:", "nbds+unix:", "nbd+vsock:", "nbds+vsock:",
    NULL,
  };
  for (const char *const *p = schemes; *p; p++)
    if (strncmp (s, *p, strlen (*p)) == 0)
      return true;
  return false;
}

int
endpoint_classify (struct endpoint *ep, int argc, char **argv, int *next,
                   bool is_source)
{
  int first = *next;

  memset (ep, 0, sizeof *ep);
  ep->fd = -1;
  ep->is_source = is_source;
  ep->name = argv[first];
  if (strcmp (argv[first], "[") == 0) {
    int end = first + 1;
    while (end < argc && strcmp (argv[end], "]") != 0)
      end++;
    if (end >= argc || end == first + 1) {
      fprintf (stderr, "%s: a subprocess must be written as "
               "[ CMD ARGS ... ] with the brackets as separate "
               "arguments\n", TOOL);
      return -1;
    }
    ep->name = argv[first + 1];
    ep->kind = ENDPOINT_NBD;
    *next = end + 1;
    return target_parse (TOOL, end + 1, argv, first, &ep->target);
  }
  *next = first + 1;
  if (strcmp (argv[first], "-") == 0)
    ep->kind = ENDPOINT_STREAM;
  else if (!is_source && strcmp (argv[first], "null:") == 0)
    ep->kind = ENDPOINT_NULL;
  else if (is_nbd_uri (argv[first])) {
    ep->kind = ENDPOINT_NBD;
    ep->target.uri = argv[first];
  }
  else
    ep->kind = ENDPOINT_FILE;
  return 0;
}

/* On a Unix socket the sender's buffer alone bounds the bytes in transit,
 * and the default (about 200 KiB) is less than one request: the copy then
 * sleeps and the server wakes several times per request.  A buffer of a
 * few requests halves those wake-ups on both sides.  TCP sizes its
 * buffers itself and is left alone; failure only costs speed. */
static void
widen_unix_send_buffer (struct nbd_handle *h)
{
  struct sockaddr_storage addr;
  socklen_t len = sizeof addr;
  int fd = nbd_aio_get_fd (h), size = 1024 * 1024;

  if (fd >= 0 && getsockname (fd, (struct sockaddr *) &addr, &len) == 0 &&
      addr.ss_family == AF_UNIX)
    (void) setsockopt (fd, SOL_SOCKET, SO_SNDBUF, &size, sizeof size);
}

static struct nbd_handle *
connect_one (struct endpoint *ep)
{
  struct nbd_handle *h = nbd_create ();

  if (h == NULL)
    goto fail;
  if (opts.verbose && nbd_set_debug (h, true) == -1)
    goto fail;
  if (ep->is_source && opts.extents &&
      nbd_add_meta_context (h, LIBNBD_CONTEXT_BASE_ALLOCATION) == -1)
    goto fail;
  if (target_connect (h, &ep->target) == -1)
    goto fail;
  widen_unix_send_buffer (h);
  return h;

 fail:
  fprintf (stderr, "%s: %s: %s\n", TOOL, ep->name, nbd_get_error ());
  if (h)
    nbd_close (h);
  return NULL;
}

static int
open_nbd (struct endpoint *ep)
{
  struct nbd_handle *h = connect_one (ep);
  int64_t v;

  if (h == NULL)
    return -1;
  ep->handles[0] = h;
  ep->connections = 1;
  ep->size = nbd_get_size (h);
  if (ep->size == -1) {
    fprintf (stderr, "%s: %s: %s\n", TOOL, ep->name, nbd_get_error ());
    return -1;
  }
  if (!ep->is_source && nbd_is_read_only (h) == 1) {
    fprintf (stderr, "%s: %s: the destination is read-only\n",
             TOOL, ep->name);
    return -1;
  }
  v = nbd_get_block_size (h, LIBNBD_SIZE_PREFERRED);
  ep->preferred_block = v > 0 ? (uint64_t) v : 4096;
  v = nbd_get_block_size (h, LIBNBD_SIZE_MAXIMUM);
  ep->max_block = v > 0 ? (uint64_t) v : 0;
  /* A subprocess serves exactly one connection. */
  ep->can_multi_conn = ep->target.command == NULL &&
                       nbd_can_multi_conn (h) == 1;
  ep->can_zero = nbd_can_zero (h) == 1;
  ep->can_trim = nbd_can_trim (h) == 1;
  ep->can_flush = nbd_can_flush (h) == 1;
  ep->has_extents = ep->is_source && opts.extents &&
    nbd_can_meta_context (h, LIBNBD_CONTEXT_BASE_ALLOCATION) == 1;
  return 0;
}

static int
open_file (struct endpoint *ep)
{
  struct stat st;

  if (ep->is_source)
    ep->fd = open (ep->name, O_RDONLY | O_CLOEXEC);
  else
    ep->fd = open (ep->name, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
  if (ep->fd == -1 || fstat (ep->fd, &st) == -1) {
    fprintf (stderr, "%s: %s: %s\n", TOOL, ep->name, strerror (errno));
    return -1;
  }
  ep->preferred_block = 4096;
  ep->can_multi_conn = true;
  ep->can_flush = true;
  if (S_ISBLK (st.st_mode)) {
    uint64_t bytes;
    ep->is_block_device = true;
    if (ioctl (ep->fd, BLKGETSIZE64, &bytes) == -1) {
      fprintf (stderr, "%s: %s: BLKGETSIZE64: %s\n", TOOL, ep->name,
               strerror (errno));
      return -1;
    }
    ep->size = (int64_t) bytes;
  }
  else if (S_ISREG (st.st_mode)) {
    ep->size = st.st_size;
    ep->has_extents = ep->is_source && opts.extents;
  }
  else {
    /* A pipe, socket or character device given by name is a stream. */
    ep->kind = ENDPOINT_STREAM;
    ep->size = -1;
    return 0;
  }
  ep->can_zero = ep->can_trim = true;
  return 0;
}

int
endpoint_open (struct endpoint *ep)
{
  switch (ep->kind) {
  case ENDPOINT_NBD:
    return open_nbd (ep);
  case ENDPOINT_FILE:
    return open_file (ep);
  case ENDPOINT_STREAM:
    ep->fd = ep->is_source ? STDIN_FILENO : STDOUT_FILENO;
    ep->size = -1;
    ep->preferred_block = 4096;
    return 0;
  case ENDPOINT_NULL:
    ep->size = INT64_MAX;
    ep->preferred_block = 4096;
    ep->can_multi_conn = ep->can_zero = ep->can_trim = true;
    ep->starts_zeroed = true;
    return 0;
  }
  return -1;
}

int
endpoint_open_more (struct endpoint *ep, int connections)
{
  if (ep->kind != ENDPOINT_NBD)
    return 0;
  while (ep->connections < connections) {
    struct nbd_handle *h = connect_one (ep);
    if (h == NULL)
      return -1;
    ep->handles[ep->connections++] = h;
  }
  return 0;
}

/* Touching a page of the mapping beyond the end of a file that shrank
 * raises SIGBUS: that is the same error pread reports as a short read,
 * and it ends the copy with a message, not a crash. */
static void
source_shrank (int sig)
{
  static const char message[] =
    TOOL ": error: the source file shrank during the copy\n";

  (void) sig;
  (void) !write (STDERR_FILENO, message, sizeof message - 1);
  _exit (EXIT_FAILURE);
}

void
endpoint_map_source (struct endpoint *ep)
{
  struct sigaction sa = { .sa_handler = source_shrank };
  void *p;

  if (ep->kind != ENDPOINT_FILE || !ep->is_source || ep->is_block_device ||
      ep->size <= 0 || (uint64_t) ep->size > SIZE_MAX)
    return;
  p = mmap (NULL, (size_t) ep->size, PROT_READ, MAP_SHARED, ep->fd, 0);
  if (p == MAP_FAILED)
    return;             /* pread still works */
  /* Read ahead generously; pages already sent may be dropped. */
  madvise (p, (size_t) ep->size, MADV_SEQUENTIAL);
  sigemptyset (&sa.sa_mask);
  sigaction (SIGBUS, &sa, NULL);
  ep->map = p;
}

void
endpoint_close (struct endpoint *ep)
{
  for (int i = 0; i < ep->connections; i++) {
    if (!ep->is_source)
      nbd_shutdown (ep->handles[i], 0);
    nbd_close (ep->handles[i]);
    free (ep->caches[i].extents);
  }
  ep->connections = 0;
  if (ep->kind == ENDPOINT_FILE) {
    for (int i = 0; i < MAX_CONNECTIONS; i++)
      free (ep->caches[i].extents);
    if (ep->map)
      munmap ((void *) ep->map, (size_t) ep->size);
    if (ep->fd >= 0)
      close (ep->fd);
  }
}

static const char *
kind_name (enum endpoint_kind kind)
{
  switch (kind) {
  case ENDPOINT_NBD: return "nbd";
  case ENDPOINT_FILE: return "file";
  case ENDPOINT_STREAM: return "pipe";
  case ENDPOINT_NULL: return "null";
  }
  return "?";
}

void
endpoint_describe (const struct endpoint *ep)
{
  const char *side = ep->is_source ? "src" : "dst";
  char human[HUMAN_SIZE_LEN];

  fprintf (stderr, "%s: %s: %s \"%s\"\n", TOOL, side, kind_name (ep->kind),
           ep->name);
  if (ep->size >= 0)
    fprintf (stderr, "%s: %s: size=%" PRIi64 " (%s), "
             "preferred block size=%" PRIu64 "\n", TOOL, side, ep->size,
             human_size (human, (uint64_t) ep->size, NULL),
             ep->preferred_block);
  else
    fprintf (stderr, "%s: %s: size unknown (stream)\n", TOOL, side);
}

void
report_failure (const char *what, uint64_t offset, int err)
{
  fprintf (stderr, "%s: %s at offset %" PRIu64 " failed: %s\n",
           TOOL, what, offset, strerror (err ? err : EIO));
}

/* NBD block status for the source, remembered in the connection's cache
 * so that one round trip answers many reads. */
static int
remember_extents (void *user_data, const char *context, uint64_t offset,
                  uint32_t *entries, size_t count, int *error)
{
  struct extent_cache *cache = user_data;

  (void) error;
  if (strcmp (context, LIBNBD_CONTEXT_BASE_ALLOCATION) != 0)
    return 0;
  for (size_t i = 0; i + 1 < count; i += 2) {
    if (cache->count == cache->capacity) {
      size_t n = cache->capacity ? cache->capacity * 2 : 64;
      struct extent *e = realloc (cache->extents, n * sizeof *e);
      if (e == NULL)
        return -1;
      cache->extents = e;
      cache->capacity = n;
    }
    cache->extents[cache->count++] = (struct extent) {
      .offset = offset, .length = entries[i],
      .zero = (entries[i + 1] & LIBNBD_STATE_ZERO) != 0,
    };
    offset += entries[i];
  }
  return 0;
}

static int
nbd_source_extent (struct endpoint *ep, int conn, uint64_t offset, uint64_t max,
            struct extent *out)
{
  struct extent_cache *cache = &ep->caches[conn];

  for (int attempt = 0; attempt < 2; attempt++) {
    for (; cache->used < cache->count; cache->used++) {
      const struct extent *e = &cache->extents[cache->used];
      if (e->length == 0 || e->offset + e->length <= offset)
        continue;
      if (e->offset > offset)
        break;
      out->offset = offset;
      out->length = e->offset + e->length - offset;
      if (out->length > max)
        out->length = max;
      out->zero = e->zero;
      return 0;
    }
    cache->count = cache->used = 0;
    /* Ask for a generous span; the server may answer for less. */
    uint64_t span = max < (UINT64_C (1) << 31) ? max : UINT64_C (1) << 31;
    nbd_extent_callback cb = { .callback = remember_extents,
                               .user_data = cache };
    if (nbd_block_status (ep->handles[conn], span, offset, cb, 0) == -1) {
      fprintf (stderr, "%s: block status at offset %" PRIu64
               " failed: %s\n", TOOL, offset, nbd_get_error ());
      return -1;
    }
  }
  /* A server that answers without covering the offset: treat as data. */
  *out = (struct extent) { .offset = offset, .length = max, .zero = false };
  return 0;
}

static int
file_extent (struct endpoint *ep, uint64_t offset, uint64_t max,
             struct extent *out)
{
  off_t data = lseek (ep->fd, (off_t) offset, SEEK_DATA);

  *out = (struct extent) { .offset = offset, .length = max, .zero = false };
  if (data == -1) {
    /* ENXIO: nothing but a hole from here to the end. */
    if (errno == ENXIO)
      out->zero = true;
    return 0;
  }
  if ((uint64_t) data > offset) {
    out->zero = true;
    if ((uint64_t) data - offset < max)
      out->length = (uint64_t) data - offset;
    return 0;
  }
  off_t hole = lseek (ep->fd, (off_t) offset, SEEK_HOLE);
  if (hole != -1 && (uint64_t) hole > offset &&
      (uint64_t) hole - offset < max)
    out->length = (uint64_t) hole - offset;
  return 0;
}

/* SEEK_HOLE can cost time in proportion to the data before the hole
 * (ext4 walks the page cache of a file just written), so each extent a
 * file reports is remembered and used up before asking again. */
static int
cached_file_extent (struct endpoint *ep, int conn, uint64_t offset,
                    uint64_t max, struct extent *out)
{
  struct extent_cache *cache = &ep->caches[conn];

  if (cache->extents == NULL) {
    cache->extents = malloc (sizeof *cache->extents);
    if (cache->extents == NULL) {
      perror (TOOL);
      return -1;
    }
    cache->capacity = 1;
  }
  struct extent *e = cache->extents;
  if (cache->count == 0 || offset < e->offset ||
      offset >= e->offset + e->length) {
    /* Asked up to the end of the file, not just max, so that one answer
     * serves all the requests of a long extent. */
    if (file_extent (ep, offset, (uint64_t) ep->size - offset, e) == -1)
      return -1;
    cache->count = 1;
  }
  out->offset = offset;
  out->length = e->offset + e->length - offset;
  if (out->length > max)
    out->length = max;
  out->zero = e->zero;
  return 0;
}

int
endpoint_extent (struct endpoint *ep, int conn, uint64_t offset,
                 uint64_t max, struct extent *out)
{
  if (ep->has_extents && ep->kind == ENDPOINT_NBD)
    return nbd_source_extent (ep, conn, offset, max, out);
  if (ep->has_extents && ep->kind == ENDPOINT_FILE)
    return cached_file_extent (ep, conn, offset, max, out);
  *out = (struct extent) { .offset = offset, .length = max, .zero = false };
  return 0;
}

ssize_t
endpoint_read (struct endpoint *ep, int conn, void *buf, size_t len,
               uint64_t offset)
{
  size_t done = 0;

  if (ep->kind == ENDPOINT_NBD) {
    if (nbd_pread (ep->handles[conn], buf, len, offset, 0) == -1) {
      report_failure ("read", offset, nbd_get_errno ());
      return -1;
    }
    return (ssize_t) len;
  }
  while (done < len) {
    ssize_t r = ep->kind == ENDPOINT_STREAM
      ? read (ep->fd, (char *) buf + done, len - done)
      : pread (ep->fd, (char *) buf + done, len - done,
               (off_t) (offset + done));
    if (r == -1 && errno == EINTR)
      continue;
    if (r == -1) {
      report_failure ("read", offset + done, errno);
      return -1;
    }
    if (r == 0)
      break;
    done += (size_t) r;
  }
  return (ssize_t) done;
}

/* A copy into a regular file would otherwise leave the whole image dirty
 * in the page cache, for the kernel to throttle the copy (and every other
 * writer) once the dirty limit is reached.  So the bytes each connection
 * writes go to the disk in batches of WRITE_BEHIND, and the batch before,
 * written out by then or soon, is dropped from the cache. */
#define WRITE_BEHIND (UINT64_C (8) * 1024 * 1024)

static void
send_batch (struct endpoint *ep, int conn)
{
  struct extent *unsent = &ep->unsent[conn], *sent = &ep->sent[conn];

  (void) sync_file_range (ep->fd, (off_t) unsent->offset,
                          (off_t) unsent->length, SYNC_FILE_RANGE_WRITE);
  if (sent->length)
    (void) posix_fadvise (ep->fd, (off_t) sent->offset,
                          (off_t) sent->length, POSIX_FADV_DONTNEED);
  *sent = *unsent;
  unsent->length = 0;
}

static void
write_behind (struct endpoint *ep, int conn, uint64_t offset, size_t len)
{
  struct extent *unsent = &ep->unsent[conn];

  if (ep->is_block_device)
    return;
  if (unsent->length && unsent->offset + unsent->length != offset)
    send_batch (ep, conn);
  if (unsent->length == 0)
    *unsent = (struct extent) { .offset = offset, .length = 0 };
  unsent->length += len;
  if (unsent->length >= WRITE_BEHIND)
    send_batch (ep, conn);
}

int
endpoint_write (struct endpoint *ep, int conn, const void *buf, size_t len,
                uint64_t offset)
{
  size_t done = 0;

  switch (ep->kind) {
  case ENDPOINT_NULL:
    return 0;
  case ENDPOINT_NBD:
    if (nbd_pwrite (ep->handles[conn], buf, len, offset, 0) == -1) {
      report_failure ("write", offset, nbd_get_errno ());
      return -1;
    }
    return 0;
  case ENDPOINT_FILE:
  case ENDPOINT_STREAM:
    break;
  }
  while (done < len) {
    ssize_t r = ep->kind == ENDPOINT_STREAM
      ? write (ep->fd, (const char *) buf + done, len - done)
      : pwrite (ep->fd, (const char *) buf + done, len - done,
                (off_t) (offset + done));
    if (r == -1 && errno == EINTR)
      continue;
    if (r == -1) {
      report_failure ("write", offset + done, errno);
      return -1;
    }
    done += (size_t) r;
  }
  if (ep->kind == ENDPOINT_FILE)
    write_behind (ep, conn, offset, len);
  return 0;
}

static int
write_zero_buffer (struct endpoint *ep, int conn, uint64_t len,
                   uint64_t offset)
{
  static const char zeroes[65536];

  while (len > 0) {
    size_t n = len < sizeof zeroes ? (size_t) len : sizeof zeroes;
    if (endpoint_write (ep, conn, zeroes, n, offset) == -1)
      return -1;
    len -= n;
    offset += n;
  }
  return 0;
}

/* The largest zero request sent at once: servers take far more than a
 * data payload, but a bound keeps each request's latency modest. */
#define MAX_ZERO_REQUEST (UINT64_C (1) << 30)

int
endpoint_write_zeroes (struct endpoint *ep, int conn, uint64_t len,
                       uint64_t offset)
{
  switch (ep->kind) {
  case ENDPOINT_NULL:
    return 0;
  case ENDPOINT_STREAM:
    return write_zero_buffer (ep, conn, len, offset);
  case ENDPOINT_NBD:
    if (!ep->can_zero)
      return write_zero_buffer (ep, conn, len, offset);
    while (len > 0) {
      uint64_t n = len < MAX_ZERO_REQUEST ? len : MAX_ZERO_REQUEST;
      uint32_t flags = opts.allocated ? LIBNBD_CMD_FLAG_NO_HOLE : 0;
      if (nbd_zero (ep->handles[conn], n, offset, flags) == -1) {
        report_failure ("zero", offset, nbd_get_errno ());
        return -1;
      }
      len -= n;
      offset += n;
    }
    return 0;
  case ENDPOINT_FILE:
    if (ep->starts_zeroed && !opts.allocated)
      return 0;
    {
      int mode = opts.allocated ? FALLOC_FL_ZERO_RANGE
                                : FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE;
      if (fallocate (ep->fd, mode, (off_t) offset, (off_t) len) == 0)
        return 0;
    }
    return write_zero_buffer (ep, conn, len, offset);
  }
  return -1;
}

int
endpoint_flush (struct endpoint *ep)
{
  switch (ep->kind) {
  case ENDPOINT_NBD:
    for (int i = 0; i < ep->connections; i++)
      if (ep->can_flush && nbd_flush (ep->handles[i], 0) == -1) {
        fprintf (stderr, "%s: flush failed: %s\n", TOOL, nbd_get_error ());
        return -1;
      }
    return 0;
  case ENDPOINT_FILE:
    if (fsync (ep->fd) == -1) {
      fprintf (stderr, "%s: %s: fsync: %s\n", TOOL, ep->name,
               strerror (errno));
      return -1;
    }
    return 0;
  case ENDPOINT_STREAM:
  case ENDPOINT_NULL:
    return 0;
  }
  return 0;
}

/* Makes the whole file a hole.  Truncating a file to length 0 is the
 * obvious way, but ext4 then takes the file for one being replaced and
 * writes all of it out at close(2) (its auto_da_alloc heuristic), which
 * makes the copy wait for the disk; punching a hole does not. */
static int
empty_file (int fd)
{
  struct stat st;

  if (fstat (fd, &st) == -1)
    return -1;
  if (st.st_size == 0)
    return 0;
  if (fallocate (fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, 0,
                 st.st_size) == 0)
    return 0;
  return ftruncate (fd, 0);
}

int
endpoint_resize (struct endpoint *ep, int64_t size)
{
  /* A stream's length is known only at its end: the copy sets it then,
   * cutting off whatever the file held beyond it. */
  if (empty_file (ep->fd) == -1 ||
      (size >= 0 && ftruncate (ep->fd, (off_t) size) == -1)) {
    fprintf (stderr, "%s: %s: truncate: %s\n", TOOL, ep->name,
             strerror (errno));
    return -1;
  }
  ep->size = size;
  ep->starts_zeroed = true;
  return 0;
}

int
endpoint_resize_end (struct endpoint *ep, uint64_t size)
{
  if (ftruncate (ep->fd, (off_t) size) == -1) {
    fprintf (stderr, "%s: %s: truncate: %s\n", TOOL, ep->name,
             strerror (errno));
    return -1;
  }
  return 0;
}
