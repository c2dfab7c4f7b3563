/* The handle lock.
 *
 * An ordinary mutex, plus a per-thread list of the handles this thread
 * holds.  The list lets a callback, which runs with the lock held, call
 * back into its own handle: such a nested call does not lock again, and
 * calls that would wait for the server refuse it (EDEADLK) instead of
 * deadlocking as libnbd documents for itself. */
#ifndef NBDI_API_LOCK_H
#define NBDI_API_LOCK_H

#include <pthread.h>
#include <stdbool.h>

struct nbd_handle;

struct nbdi_lock_frame {
  struct nbd_handle *h;
  struct nbdi_lock_frame *prev;
  bool nested;
};

/* initial-exec: every public call touches these thread variables, and
 * the default model for a shared object costs a __tls_get_addr call
 * each time; they are small enough for the static TLS reserve that
 * glibc keeps for objects loaded by dlopen. */
#define NBDI_FAST_TLS __attribute__ ((tls_model ("initial-exec")))
extern __thread struct nbdi_lock_frame *nbdi_held_locks NBDI_FAST_TLS;

/* True if this thread already holds h's lock (we are inside a callback). */
static inline bool
nbdi_holds_lock (const struct nbd_handle *h)
{
  for (const struct nbdi_lock_frame *f = nbdi_held_locks; f; f = f->prev)
    if (f->h == h)
      return true;
  return false;
}

/* Take h's lock unless this thread holds it already; returns true in
 * that nested case.  Pair with nbdi_unlock on the same frame. */
static inline bool
nbdi_lock_mutex (struct nbd_handle *h, pthread_mutex_t *m,
                 struct nbdi_lock_frame *frame)
{
  frame->h = h;
  frame->nested = nbdi_holds_lock (h);
  if (frame->nested)
    return true;
  pthread_mutex_lock (m);
  frame->prev = nbdi_held_locks;
  nbdi_held_locks = frame;
  return false;
}

static inline void
nbdi_unlock_mutex (pthread_mutex_t *m, struct nbdi_lock_frame *frame)
{
  if (frame->nested)
    return;
  nbdi_held_locks = frame->prev;
  pthread_mutex_unlock (m);
}

#define nbdi_lock(h, frame) nbdi_lock_mutex ((h), &(h)->lock, (frame))
#define nbdi_unlock(h, frame) nbdi_unlock_mutex (&(h)->lock, (frame))

#endif
