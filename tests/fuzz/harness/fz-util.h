/* Byte strings and big-endian fields for the fake server. */
#ifndef FZ_UTIL_H
#define FZ_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

static inline void fz_put16 (uint8_t *p, uint16_t v) { p[0] = v >> 8; p[1] = v; }
static inline void fz_put32 (uint8_t *p, uint32_t v)
{ fz_put16 (p, v >> 16); fz_put16 (p + 2, v); }
static inline void fz_put64 (uint8_t *p, uint64_t v)
{ fz_put32 (p, v >> 32); fz_put32 (p + 4, v); }
static inline uint16_t fz_get16 (const uint8_t *p) { return (uint16_t) (p[0] << 8 | p[1]); }
static inline uint32_t fz_get32 (const uint8_t *p)
{ return (uint32_t) fz_get16 (p) << 16 | fz_get16 (p + 2); }
static inline uint64_t fz_get64 (const uint8_t *p)
{ return (uint64_t) fz_get32 (p) << 32 | fz_get32 (p + 4); }

/* realloc, or exit: the harness cannot go on without memory. */
void *fz_xrealloc (void *p, size_t n);

/* CLOCK_MONOTONIC in milliseconds. */
int64_t fz_now_ms (void);

/* A growable byte string. */
struct fz_buf {
  uint8_t *p;
  size_t len, cap;
};

/* Append n bytes (uninitialised) and return where they start. */
uint8_t *fz_buf_grow (struct fz_buf *b, size_t n);
/* Make room for n more bytes without adding them. */
void fz_buf_reserve (struct fz_buf *b, size_t n);
void fz_buf_add (struct fz_buf *b, const void *d, size_t n);
void fz_buf_add16 (struct fz_buf *b, uint16_t v);
void fz_buf_add32 (struct fz_buf *b, uint32_t v);
void fz_buf_add64 (struct fz_buf *b, uint64_t v);
void fz_buf_addstr (struct fz_buf *b, const char *s);
void fz_buf_insert (struct fz_buf *b, size_t pos, const void *d, size_t n);
/* Append src's bytes to dst and leave src empty: when dst is empty the
 * two buffers trade places, so that a large message is queued without
 * being copied. */
void fz_buf_take (struct fz_buf *dst, struct fz_buf *src);
void fz_buf_free (struct fz_buf *b);

/* A buffer of exactly n bytes for slot (< FZ_EXACT_SLOTS), valid until
 * the slot is asked again: under ASan a byte before or after it is
 * reported, as with malloc (n), but its memory is reused from one
 * iteration to the next instead of being mapped afresh. */
#define FZ_EXACT_SLOTS 16
uint8_t *fz_exact_buffer (int slot, size_t n);

/* At most limit bytes of p in hex, 32 to a line. */
void fz_hexdump (FILE *f, const uint8_t *p, size_t n, size_t limit);

#endif
