/* The asynchronous engine: one worker thread per connection, each keeping
 * up to --requests reads and writes in flight on its own NBD handles.
 * Workers take the disk a segment at a time from a shared counter, learn
 * the segment's extents by block status, then read data extents and send
 * zero requests (or nothing) for the zero ones. */
#include "nbdcopy.h"

#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "blkhash.h"

/* Big enough that block status is asked rarely, small enough that the
 * workers share the end of the disk evenly. */
#define SEGMENT_SIZE (UINT64_C (64) * 1024 * 1024)

enum slot_state { SLOT_FREE, SLOT_READING, SLOT_READ_DONE, SLOT_WRITING,
                  SLOT_WRITE_DONE };

struct slot {
  _Atomic int state;
  int error;
  uint64_t offset;
  size_t length;
  bool skipped;         /* a zero request or hole, for the progress */
  bool split_off;       /* the rest of another slot's read (-S) */
  const char *buf;      /* own, or the source's mapping */
  char *own;            /* request_size bytes, for reads from NBD */
};

struct worker {
  int conn;
  struct endpoint *src, *dst;
  struct slot *slots;
  unsigned nslots;
  pthread_t thread;
  /* The current segment and how far into it requests have been issued. */
  uint64_t pos, end;
};

static _Atomic uint64_t next_segment;
static atomic_bool failed;
static _Atomic unsigned running;

static void
fail_at (const char *what, uint64_t offset, int err)
{
  bool expected = false;
  if (atomic_compare_exchange_strong (&failed, &expected, true))
    report_failure (what, offset, err);
}

static void
fail_message (const char *message)
{
  bool expected = false;
  if (atomic_compare_exchange_strong (&failed, &expected, true))
    fprintf (stderr, "%s: %s\n", TOOL, message);
}

static int
read_finished (void *user_data, int *error)
{
  struct slot *s = user_data;
  s->error = *error;
  atomic_store (&s->state, SLOT_READ_DONE);
  return 1;
}

static int
write_finished (void *user_data, int *error)
{
  struct slot *s = user_data;
  s->error = *error;
  atomic_store (&s->state, SLOT_WRITE_DONE);
  return 1;
}

static struct slot *
free_slot (struct worker *w)
{
  for (unsigned i = 0; i < w->nslots; i++)
    if (atomic_load (&w->slots[i].state) == SLOT_FREE)
      return &w->slots[i];
  return NULL;
}

static bool
take_segment (struct worker *w)
{
  uint64_t size = (uint64_t) w->src->size;
  uint64_t start = atomic_fetch_add (&next_segment, SEGMENT_SIZE);
  if (start >= size)
    return false;
  w->pos = start;
  w->end = size - start < SEGMENT_SIZE ? size : start + SEGMENT_SIZE;
  return true;
}

/* Starts the write (or zero request) of a slot whose bytes are known.
 * An NBD request leaves the slot in SLOT_WRITING until its callback;
 * a local write, or a zero run the destination already holds, finishes
 * here and leaves it in SLOT_WRITE_DONE. */
static void
start_write (struct worker *w, struct slot *s, bool zero)
{
  struct endpoint *dst = w->dst;

  s->skipped = zero;
  if (zero && !zeroes_need_writing (dst)) {
    s->error = 0;
    atomic_store (&s->state, SLOT_WRITE_DONE);
    return;
  }
  if (dst->kind == ENDPOINT_NBD && !(zero && !dst->can_zero)) {
    struct nbd_handle *h = dst->handles[w->conn];
    nbd_completion_callback cb = { .callback = write_finished,
                                   .user_data = s };
    int64_t cookie;
    atomic_store (&s->state, SLOT_WRITING);
    if (zero)
      cookie = nbd_aio_zero (h, s->length, s->offset, cb,
                             opts.allocated ? LIBNBD_CMD_FLAG_NO_HOLE : 0);
    else
      cookie = nbd_aio_pwrite (h, s->buf, s->length, s->offset, cb, 0);
    if (cookie == -1) {
      s->error = nbd_get_errno ();
      atomic_store (&s->state, SLOT_WRITE_DONE);
    }
    return;
  }
  int r = zero ? endpoint_write_zeroes (dst, w->conn, s->length, s->offset)
               : endpoint_write (dst, w->conn, s->buf, s->length, s->offset);
  if (r == -1)
    atomic_store (&failed, true);   /* the message is already printed */
  s->error = 0;
  atomic_store (&s->state, SLOT_WRITE_DONE);
}

/* Issues the next request of the worker's segments into slot s.  Returns
 * false when there is no more work. */
static bool
start_next (struct worker *w, struct slot *s)
{
  struct extent e;

  if (w->pos >= w->end && !take_segment (w))
    return false;
  if (endpoint_extent (w->src, w->conn, w->pos, w->end - w->pos, &e) == -1) {
    atomic_store (&failed, true);
    return false;
  }
  s->offset = w->pos;
  s->split_off = false;
  if (e.zero) {
    s->length = (size_t) (e.length < (UINT64_C (1) << 30)
                          ? e.length : (UINT64_C (1) << 30));
    w->pos += s->length;
    if (source_hash)
      blkhash_zero (source_hash, s->offset, s->length);
    start_write (w, s, true);
    return true;
  }
  s->length = e.length < opts.request_size ? (size_t) e.length
                                           : (size_t) opts.request_size;
  w->pos += s->length;
  s->buf = s->own;
  if (w->src->map) {
    /* Written straight from the page cache: no read, no copy. */
    s->buf = w->src->map + s->offset;
    s->error = 0;
    atomic_store (&s->state, SLOT_READ_DONE);
    return true;
  }
  if (w->src->kind == ENDPOINT_NBD) {
    nbd_completion_callback cb = { .callback = read_finished,
                                   .user_data = s };
    atomic_store (&s->state, SLOT_READING);
    if (nbd_aio_pread (w->src->handles[w->conn], s->own, s->length,
                       s->offset, cb, 0) == -1) {
      s->error = nbd_get_errno ();
      atomic_store (&s->state, SLOT_READ_DONE);
    }
    return true;
  }
  ssize_t got = endpoint_read (w->src, w->conn, s->own, s->length,
                               s->offset);
  if (got != (ssize_t) s->length) {
    if (got >= 0)
      fail_message ("error: the source file shrank during the copy");
    atomic_store (&failed, true);
    return false;
  }
  s->error = 0;
  atomic_store (&s->state, SLOT_READ_DONE);
  return true;
}

/* Handles one slot whose read finished.  The data may start with a run of
 * zero blocks (-S) followed by data, or the other way round; the first run
 * is written from this slot and the rest moves to a free slot, which the
 * scan then treats as read in turn.  Without a free slot the whole buffer
 * is written as data, which is always correct, only less sparse. */
static void
read_done (struct worker *w, struct slot *s)
{
  bool zero = false;
  size_t run;

  if (s->error) {
    fail_at ("read", s->offset, s->error);
    return;
  }
  if (source_hash && !s->split_off)
    blkhash_data (source_hash, s->offset, s->buf, s->length);
  if (w->dst->kind == ENDPOINT_NULL) {
    s->skipped = false;
    atomic_store (&s->state, SLOT_WRITE_DONE);
    return;
  }
  run = data_run_length (s->buf, s->length, s->offset, &zero);
  if (run < s->length) {
    struct slot *t = free_slot (w);
    if (t == NULL) {
      zero = false;
      run = s->length;
    }
    else {
      t->offset = s->offset + run;
      t->length = s->length - run;
      /* The mapping outlives both slots; a slot's own buffer does not. */
      if (w->src->map)
        t->buf = s->buf + run;
      else {
        memcpy (t->own, s->buf + run, t->length);
        t->buf = t->own;
      }
      t->error = 0;
      t->split_off = true;
      atomic_store (&t->state, SLOT_READ_DONE);
      s->length = run;
    }
  }
  start_write (w, s, zero);
}

static void
write_done (struct worker *w, struct slot *s)
{
  (void) w;
  if (s->error) {
    fail_at (s->skipped ? "zero" : "write", s->offset, s->error);
    return;
  }
  progress_add (s->length, s->skipped);
  atomic_store (&s->state, SLOT_FREE);
}

/* A connection that fails as a whole takes every request in flight on
 * it: the message names the lowest offset among them, so that the user
 * knows where the copy stopped. */
static void
report_lost_connection (struct worker *w, bool destination)
{
  int in_flight = destination ? SLOT_WRITING : SLOT_READING;
  int failed_done = destination ? SLOT_WRITE_DONE : SLOT_READ_DONE;
  uint64_t lowest = UINT64_MAX;
  char message[1024];

  /* The library may already have failed the requests in flight. */
  for (unsigned i = 0; i < w->nslots; i++) {
    const struct slot *s = &w->slots[i];
    int state = atomic_load (&s->state);
    if ((state == in_flight || (state == failed_done && s->error)) &&
        s->offset < lowest)
      lowest = s->offset;
  }
  if (lowest == UINT64_MAX)
    snprintf (message, sizeof message, "%s", nbd_get_error ());
  else
    snprintf (message, sizeof message, "%s at offset %" PRIu64
              " failed: %s", destination ? "write" : "read", lowest,
              nbd_get_error ());
  fail_message (message);
}

static int
wait_for_handles (struct worker *w)
{
  struct pollfd fds[2];
  struct nbd_handle *hs[2];
  int n = 0;

  if (w->src->kind == ENDPOINT_NBD)
    hs[n++] = w->src->handles[w->conn];
  if (w->dst->kind == ENDPOINT_NBD)
    hs[n++] = w->dst->handles[w->conn];
  for (int i = 0; i < n; i++) {
    unsigned dir = nbd_aio_get_direction (hs[i]);
    fds[i].fd = nbd_aio_get_fd (hs[i]);
    fds[i].events = ((dir & LIBNBD_AIO_DIRECTION_READ) ? POLLIN : 0) |
                    ((dir & LIBNBD_AIO_DIRECTION_WRITE) ? POLLOUT : 0);
    fds[i].revents = 0;
  }
  if (poll (fds, (nfds_t) n, 1000) == -1) {
    if (errno == EINTR)
      return 0;
    fail_message ("poll failed");
    return -1;
  }
  for (int i = 0; i < n; i++) {
    int r = 0;
    if (fds[i].revents & (POLLIN | POLLHUP | POLLERR))
      r = nbd_aio_notify_read (hs[i]);
    else if (fds[i].revents & POLLOUT)
      r = nbd_aio_notify_write (hs[i]);
    if (r == -1) {
      report_lost_connection (w, hs[i] == w->dst->handles[w->conn] &&
                                 w->dst->kind == ENDPOINT_NBD);
      return -1;
    }
  }
  return 0;
}

static void *
worker_run (void *arg)
{
  struct worker *w = arg;
  bool more = true;

  while (!atomic_load (&failed)) {
    bool progressed = false, busy = false;
    struct slot *s;

    while (more && (s = free_slot (w)) != NULL) {
      more = start_next (w, s);
      progressed = true;
    }
    for (unsigned i = 0; i < w->nslots && !atomic_load (&failed); i++) {
      s = &w->slots[i];
      switch (atomic_load (&s->state)) {
      case SLOT_READ_DONE: read_done (w, s); progressed = true; break;
      case SLOT_WRITE_DONE: write_done (w, s); progressed = true; break;
      case SLOT_READING: case SLOT_WRITING: busy = true; break;
      default: break;
      }
    }
    if (!more && !busy && !progressed)
      break;
    if (!progressed && busy && wait_for_handles (w) == -1)
      break;
  }
  atomic_fetch_sub (&running, 1);
  return NULL;
}

static struct worker *kept_after_failure;

static bool
discard_reads (const struct endpoint *dst)
{
  return dst->kind == ENDPOINT_NULL && source_hash == NULL;
}

int
copy_asynchronous (struct endpoint *src, struct endpoint *dst,
                   int workers_count)
{
  struct worker *workers = calloc ((size_t) workers_count, sizeof *workers);
  unsigned nslots = opts.requests;

  if (opts.queue_size / opts.request_size < nslots)
    nslots = (unsigned) (opts.queue_size / opts.request_size);
  if (nslots < 2)
    nslots = 2;
  if (workers == NULL) {
    perror (TOOL);
    return -1;
  }
  atomic_store (&running, (unsigned) workers_count);
  for (int i = 0; i < workers_count; i++) {
    struct worker *w = &workers[i];
    w->conn = i;
    w->src = src;
    w->dst = dst;
    w->nslots = nslots;
    w->slots = calloc (nslots, sizeof *w->slots);
    if (w->slots == NULL) {
      perror (TOOL);
      exit (EXIT_FAILURE);
    }
    for (unsigned j = 0; j < nslots; j++) {
      /* Buffers are never zeroed: every byte is filled by a read first.
       * Bytes going to null: are never looked at (unless hashed), so
       * all the reads of a worker land in one buffer, which stays in
       * the processor's cache instead of a cold one per request. */
      if (src->map || (j > 0 && discard_reads (dst)))
        w->slots[j].own = j > 0 ? w->slots[0].own : NULL;
      else if ((w->slots[j].own = malloc (opts.request_size)) == NULL) {
        perror (TOOL);
        exit (EXIT_FAILURE);
      }
    }
    int err = pthread_create (&w->thread, NULL, worker_run, w);
    if (err) {
      fprintf (stderr, "%s: pthread_create: %s\n", TOOL, strerror (err));
      exit (EXIT_FAILURE);
    }
  }
  while (atomic_load (&running) > 0) {
    usleep (100 * 1000);
    progress_tick ();
  }
  for (int i = 0; i < workers_count; i++)
    pthread_join (workers[i].thread, NULL);
  if (atomic_load (&failed)) {
    /* After a failure a handle closed later may still own callbacks
     * that point at the slots, so they stay allocated (and reachable)
     * until the process exits. */
    kept_after_failure = workers;
    return -1;
  }
  for (int i = 0; i < workers_count; i++) {
    for (unsigned j = 0; j < nslots; j++)
      if (j == 0 || workers[i].slots[j].own != workers[i].slots[0].own)
        free (workers[i].slots[j].own);
    free (workers[i].slots);
  }
  free (workers);
  return 0;
}
