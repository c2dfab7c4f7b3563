/* blkhash (see blkhash.h), with GnuTLS's digests.
 *
 * Pieces of the image arrive out of order.  Whole blocks inside a piece
 * are hashed at once by the thread that hands them in, outside the lock,
 * so that the hashing runs on every copy thread.  The block digests wait
 * in a list of runs sorted by block number until the run that continues
 * the outer hash arrives.  A block split between pieces (a piece boundary
 * inside it, or a block larger than the copy's requests) is put together
 * in a buffer of its own first. */
#include "blkhash.h"

#include <gnutls/crypto.h>
#include <gnutls/gnutls.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "human-size.h"
#include "nbdcopy.h"

#define MAX_DIGEST 64           /* sha512 */
#define DEFAULT_BLOCK_SIZE (64 * 1024)

/* How many zero block digests are fed to the outer hash per call. */
#define ZERO_BATCH 64

/* Complete blocks not yet fed to the outer hash. */
struct run {
  struct run *next;
  uint64_t first, count;
  unsigned char *digests;       /* count digests; NULL: blocks of zeroes */
};

/* A block whose bytes came in more than one piece, being put together. */
struct partial {
  struct partial *next;
  uint64_t block;
  uint64_t filled;              /* bytes received so far */
  unsigned char *buf;           /* NULL while only zeroes came */
};

struct blkhash {
  gnutls_digest_algorithm_t digest;
  size_t digest_len;
  uint64_t block_size;
  int64_t size;                 /* -1 until a stream ends */
  unsigned char zero_digests[ZERO_BATCH * MAX_DIGEST];

  pthread_mutex_t lock;         /* protects everything below */
  gnutls_hash_hd_t outer;
  uint64_t next_block;          /* the next block the outer hash needs */
  struct run *runs;             /* sorted by first block */
  struct partial *partials;
};

static const struct {
  const char *name;
  gnutls_digest_algorithm_t digest;
} digests[] = {
  { "md5", GNUTLS_DIG_MD5 },
  { "sha1", GNUTLS_DIG_SHA1 },
  { "sha256", GNUTLS_DIG_SHA256 },
  { "sha512", GNUTLS_DIG_SHA512 },
};

static void *
must_alloc (void *p)
{
  if (p == NULL) {
    perror (TOOL);
    exit (EXIT_FAILURE);
  }
  return p;
}

int
blkhash_parse (const char *arg, int *digest, uint64_t *block_size)
{
  const char *slash;
  size_t name_len;

  *digest = GNUTLS_DIG_SHA256;
  *block_size = DEFAULT_BLOCK_SIZE;
  if (arg == NULL)
    return 0;
  slash = strchr (arg, '/');
  name_len = slash ? (size_t) (slash - arg) : strlen (arg);
  for (size_t i = 0; i < sizeof digests / sizeof digests[0]; i++)
    if (strlen (digests[i].name) == name_len &&
        strncasecmp (arg, digests[i].name, name_len) == 0) {
      *digest = (int) digests[i].digest;
      if (slash && (parse_human_size (slash + 1, block_size) == -1 ||
                    *block_size == 0 || *block_size > SIZE_MAX)) {
        fprintf (stderr, "%s: --blkhash: invalid block size: %s\n",
                 TOOL, slash + 1);
        return -1;
      }
      return 0;
    }
  fprintf (stderr, "%s: --blkhash: unknown digest: %.*s "
           "(expected md5, sha1, sha256 or sha512)\n",
           TOOL, (int) name_len, arg);
  return -1;
}

struct blkhash *
blkhash_new (int digest, uint64_t block_size, int64_t size)
{
  struct blkhash *h = must_alloc (calloc (1, sizeof *h));
  unsigned char *zeroes;
  int r;

  h->digest = (gnutls_digest_algorithm_t) digest;
  h->digest_len = gnutls_hash_get_len (h->digest);
  h->block_size = block_size;
  h->size = size;
  pthread_mutex_init (&h->lock, NULL);
  /* The digest of a block of zeroes, computed once: this is what makes
   * holes free. */
  zeroes = must_alloc (calloc (1, (size_t) block_size));
  r = gnutls_hash_fast (h->digest, zeroes, (size_t) block_size,
                        h->zero_digests);
  free (zeroes);
  if (r == 0)
    r = gnutls_hash_init (&h->outer, h->digest);
  if (r != 0 || h->digest_len == 0 || h->digest_len > MAX_DIGEST) {
    fprintf (stderr, "%s: --blkhash: %s\n", TOOL, gnutls_strerror (r));
    pthread_mutex_destroy (&h->lock);
    free (h);
    return NULL;
  }
  for (size_t i = 1; i < ZERO_BATCH; i++)
    memcpy (h->zero_digests + i * h->digest_len, h->zero_digests,
            h->digest_len);
  return h;
}

/* The length of block k: the last block of the image may be short.  A
 * stream's length is unknown, so its blocks count as whole until it
 * ends. */
static uint64_t
block_length (const struct blkhash *h, uint64_t k)
{
  uint64_t start = k * h->block_size;

  if (h->size >= 0 && (uint64_t) h->size - start < h->block_size)
    return (uint64_t) h->size - start;
  return h->block_size;
}

static void
feed_run (struct blkhash *h, const struct run *r)
{
  if (r->digests) {
    gnutls_hash (h->outer, r->digests, (size_t) r->count * h->digest_len);
    return;
  }
  for (uint64_t left = r->count; left > 0; ) {
    uint64_t n = left < ZERO_BATCH ? left : ZERO_BATCH;
    gnutls_hash (h->outer, h->zero_digests, (size_t) n * h->digest_len);
    left -= n;
  }
}

/* Called with the lock held.  Feeds every run that continues the outer
 * hash. */
static void
drain_runs (struct blkhash *h)
{
  while (h->runs && h->runs->first == h->next_block) {
    struct run *r = h->runs;
    feed_run (h, r);
    h->next_block += r->count;
    h->runs = r->next;
    free (r->digests);
    free (r);
  }
}

/* Takes ownership of digests (NULL: zero blocks). */
static void
add_run (struct blkhash *h, uint64_t first, uint64_t count,
         unsigned char *digests)
{
  struct run *r = must_alloc (malloc (sizeof *r));
  struct run **p;

  r->first = first;
  r->count = count;
  r->digests = digests;
  pthread_mutex_lock (&h->lock);
  for (p = &h->runs; *p && (*p)->first < first; p = &(*p)->next)
    ;
  r->next = *p;
  *p = r;
  drain_runs (h);
  pthread_mutex_unlock (&h->lock);
}

static unsigned char *
digest_of (const struct blkhash *h, const unsigned char *buf, size_t len)
{
  unsigned char *d = must_alloc (malloc (h->digest_len));
  unsigned char *zeroes = NULL;

  if (buf == NULL && len == h->block_size) {
    memcpy (d, h->zero_digests, h->digest_len);
    return d;
  }
  if (buf == NULL)
    buf = zeroes = must_alloc (calloc (1, len));
  gnutls_hash_fast (h->digest, buf, len, d);
  free (zeroes);
  return d;
}

/* Called with the lock held: unlinks and returns the partial block if
 * it is complete. */
static struct partial *
take_if_complete (struct blkhash *h, struct partial **link)
{
  struct partial *b = *link;

  if (b->filled < block_length (h, b->block))
    return NULL;
  *link = b->next;
  return b;
}

static void
complete_partial (struct blkhash *h, struct partial *b)
{
  unsigned char *d = digest_of (h, b->buf,
                                (size_t) block_length (h, b->block));
  add_run (h, b->block, 1, d);
  free (b->buf);
  free (b);
}

/* Adds len bytes at offset in_block of block k (data NULL: zeroes). */
static void
add_to_partial (struct blkhash *h, uint64_t k, uint64_t in_block,
                const unsigned char *data, uint64_t len)
{
  struct partial **p, *done;

  pthread_mutex_lock (&h->lock);
  for (p = &h->partials; *p && (*p)->block != k; p = &(*p)->next)
    ;
  if (*p == NULL) {
    *p = must_alloc (calloc (1, sizeof **p));
    (*p)->block = k;
  }
  if (data) {
    /* calloc, so that zero pieces need not touch the buffer. */
    if ((*p)->buf == NULL)
      (*p)->buf = must_alloc (calloc (1, (size_t) h->block_size));
    memcpy ((*p)->buf + in_block, data, (size_t) len);
  }
  (*p)->filled += len;
  done = take_if_complete (h, p);
  pthread_mutex_unlock (&h->lock);
  if (done)
    complete_partial (h, done);
}

/* How many whole blocks from block k fit in len bytes. */
static uint64_t
whole_blocks (const struct blkhash *h, uint64_t k, uint64_t len)
{
  uint64_t n = 0, bytes = 0;

  while (bytes < len) {
    uint64_t b = block_length (h, k + n);
    if (b == 0 || len - bytes < b)
      break;
    bytes += b;
    n++;
  }
  return n;
}

static void
add_piece (struct blkhash *h, uint64_t offset, const unsigned char *data,
           uint64_t len)
{
  while (len > 0) {
    uint64_t k = offset / h->block_size, in_block = offset % h->block_size;
    uint64_t n = in_block == 0 ? whole_blocks (h, k, len) : 0;
    uint64_t bytes;

    if (n == 0) {
      bytes = block_length (h, k) - in_block;
      if (bytes > len)
        bytes = len;
      add_to_partial (h, k, in_block, data, bytes);
    }
    else if (data == NULL) {
      bytes = n * h->block_size;
      if (bytes > len)             /* the image's short last block */
        bytes = len;
      add_run (h, k, n, NULL);
    }
    else {
      unsigned char *d = must_alloc (malloc ((size_t) n * h->digest_len));
      bytes = 0;
      for (uint64_t i = 0; i < n; i++) {
        size_t b = (size_t) block_length (h, k + i);
        unsigned char *out = d + i * h->digest_len;
        if (b == h->block_size && is_all_zero (data + bytes, b))
          memcpy (out, h->zero_digests, h->digest_len);
        else
          gnutls_hash_fast (h->digest, data + bytes, b, out);
        bytes += b;
      }
      add_run (h, k, n, d);
    }
    offset += bytes;
    if (data)
      data += bytes;
    len -= bytes;
  }
}

void
blkhash_data (struct blkhash *h, uint64_t offset, const void *buf,
              size_t len)
{
  add_piece (h, offset, buf, len);
}

void
blkhash_zero (struct blkhash *h, uint64_t offset, uint64_t len)
{
  add_piece (h, offset, NULL, len);
}

int
blkhash_finish (struct blkhash *h, uint64_t size, char *hex)
{
  unsigned char out[MAX_DIGEST], le_size[8];
  uint64_t blocks = (size + h->block_size - 1) / h->block_size;
  struct partial **p;

  /* A stream's last block is only known to be complete now. */
  h->size = (int64_t) size;
  for (p = &h->partials; *p; ) {
    struct partial *done = take_if_complete (h, p);
    if (done)
      complete_partial (h, done);
    else
      p = &(*p)->next;
  }
  if (h->next_block != blocks || h->runs || h->partials) {
    fprintf (stderr, "%s: internal error: --blkhash did not see every "
             "block of the source\n", TOOL);
    return -1;
  }
  for (int i = 0; i < 8; i++)
    le_size[i] = (unsigned char) (size >> (8 * i));
  gnutls_hash (h->outer, le_size, sizeof le_size);
  gnutls_hash_output (h->outer, out);
  for (size_t i = 0; i < h->digest_len; i++)
    sprintf (hex + 2 * i, "%02x", out[i]);
  hex[2 * h->digest_len] = '\0';
  return 0;
}

void
blkhash_free (struct blkhash *h)
{
  if (h == NULL)
    return;
  while (h->runs) {
    struct run *r = h->runs;
    h->runs = r->next;
    free (r->digests);
    free (r);
  }
  while (h->partials) {
    struct partial *b = h->partials;
    h->partials = b->next;
    free (b->buf);
    free (b);
  }
  gnutls_hash_deinit (h->outer, NULL);
  pthread_mutex_destroy (&h->lock);
  free (h);
}
