/* Byte strings and big-endian fields for the fake server. */
#include "fz-util.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

void *
fz_xrealloc (void *p, size_t n)
{
  void *q = realloc (p, n ? n : 1);
  if (q == NULL) {
    perror ("realloc");
    exit (99);
  }
  return q;
}

int64_t
fz_now_ms (void)
{
  struct timespec ts;
  clock_gettime (CLOCK_MONOTONIC, &ts);
  return (int64_t) ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Freed buffers are kept for the next ones: the fake server's buffers
 * grow to the size of the largest reply, and allocating that much afresh
 * for every message and every iteration (fresh pages, under ASan fresh
 * mappings) cost more than everything else the fuzzers do.  A buffer
 * starting out takes the smallest kept one that holds what it is first
 * asked for (or the largest), so that the big ones stay for the big
 * replies and are not grown, freed and mapped again. */
#define POOL_SIZE 32
static struct fz_buf pool[POOL_SIZE];
static size_t pool_len;

static void
pool_take (struct fz_buf *b, size_t n)
{
  size_t best = 0;

  for (size_t i = 1; i < pool_len; i++) {
    bool fits = pool[i].cap >= n, best_fits = pool[best].cap >= n;
    if (fits ? !best_fits || pool[i].cap < pool[best].cap
        : !best_fits && pool[i].cap > pool[best].cap)
      best = i;
  }
  *b = pool[best];
  b->len = 0;
  pool[best] = pool[--pool_len];
}

uint8_t *
fz_buf_grow (struct fz_buf *b, size_t n)
{
  if (b->p == NULL && pool_len > 0)
    pool_take (b, n);
  if (b->len + n > b->cap) {
    size_t cap = b->cap ? b->cap : 64;
    while (cap < b->len + n)
      cap *= 2;
    b->p = fz_xrealloc (b->p, cap);
    b->cap = cap;
  }
  b->len += n;
  return b->p + b->len - n;
}

void
fz_buf_reserve (struct fz_buf *b, size_t n)
{
  fz_buf_grow (b, n);
  b->len -= n;
}

void
fz_buf_add (struct fz_buf *b, const void *d, size_t n)
{
  if (n) memcpy (fz_buf_grow (b, n), d, n);
}
void
fz_buf_add16 (struct fz_buf *b, uint16_t v)
{
  fz_put16 (fz_buf_grow (b, 2), v);
}

void
fz_buf_add32 (struct fz_buf *b, uint32_t v)
{
  fz_put32 (fz_buf_grow (b, 4), v);
}

void
fz_buf_add64 (struct fz_buf *b, uint64_t v)
{
  fz_put64 (fz_buf_grow (b, 8), v);
}

void
fz_buf_addstr (struct fz_buf *b, const char *s)
{
  fz_buf_add (b, s, strlen (s));
}

#if defined (__has_feature)
# if __has_feature (address_sanitizer)
#  define FZ_UTIL_ASAN 1
# endif
#endif
#if defined (__SANITIZE_ADDRESS__)
# define FZ_UTIL_ASAN 1
#endif
#ifdef FZ_UTIL_ASAN
# include <sanitizer/asan_interface.h>
#else
# define ASAN_POISON_MEMORY_REGION(p, n) ((void) (p), (void) (n))
# define ASAN_UNPOISON_MEMORY_REGION(p, n) ((void) (p), (void) (n))
#endif

/* Each slot's memory; the buffer handed out is its last n bytes, moved
 * down to an 8-byte boundary (ASan poisons whole 8-byte granules, or
 * their ends), and every byte of the slot around it is poisoned.  Only
 * the bytes of the buffer handed out before and of the new one change
 * state, not the whole slot: a slot grows to the largest buffer ever
 * asked, and marking all of it again for every command cost more than
 * the command. */
struct exact_slot {
  uint8_t *p;
  size_t cap;
  size_t start, n;           /* the buffer handed out last */
};
static struct exact_slot exact[FZ_EXACT_SLOTS];

uint8_t *
fz_exact_buffer (int slot, size_t n)
{
  struct exact_slot *x = &exact[slot];

  if (n == 0)
    n = 1;
  if (x->cap < n) {
    ASAN_UNPOISON_MEMORY_REGION (x->p, x->cap);
    free (x->p);
    x->p = fz_xrealloc (NULL, n);
    x->cap = n;
    x->start = 0;
    x->n = n;                  /* all of it unpoisoned, as malloc left it */
  }
  ASAN_POISON_MEMORY_REGION (x->p + x->start, x->n);
  x->start = (x->cap - n) & ~(size_t) 7;
  x->n = n;
  ASAN_UNPOISON_MEMORY_REGION (x->p + x->start, n);
  return x->p + x->start;
}

void
fz_buf_insert (struct fz_buf *b, size_t pos, const void *d, size_t n)
{
  size_t tail = b->len - pos;
  fz_buf_grow (b, n);
  memmove (b->p + pos + n, b->p + pos, tail);
  memcpy (b->p + pos, d, n);
}

void
fz_buf_take (struct fz_buf *dst, struct fz_buf *src)
{
  if (dst->len == 0) {
    struct fz_buf empty = *dst;
    *dst = *src;
    *src = empty;
  }
  else
    fz_buf_add (dst, src->p, src->len);
  src->len = 0;
}

void
fz_buf_free (struct fz_buf *b)
{
  if (b->p && pool_len == POOL_SIZE) {
    /* Full: keep the larger of this one and the smallest kept. */
    size_t small = 0;
    for (size_t i = 1; i < pool_len; i++)
      if (pool[i].cap < pool[small].cap)
        small = i;
    if (pool[small].cap < b->cap) {
      struct fz_buf t = pool[small];
      pool[small] = *b;
      *b = t;
    }
    free (b->p);
  }
  else if (b->p)
    pool[pool_len++] = *b;
  *b = (struct fz_buf) { 0 };
}

void
fz_hexdump (FILE *f, const uint8_t *p, size_t n, size_t limit)
{
  for (size_t i = 0; i < n && i < limit; i++)
    fprintf (f, "%02x%s", p[i], (i + 1) % 32 == 0 || i + 1 == n ? "\n" : " ");
  if (n > limit)
    fprintf (f, "... (%zu bytes in all)\n", n);
}
