/* nbdcopy: copy to and from an NBD server.  Command-line compatible with
 * libnbd's nbdcopy; built on the public libnbd API only. */
#ifndef NBDCOPY_H
#define NBDCOPY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <libnbd.h>

#include "target.h"

#define TOOL "nbdcopy"

/* The NBD protocol does not allow larger payloads. */
#define MAX_REQUEST_SIZE (32 * 1024 * 1024)
#define MAX_CONNECTIONS 64

enum endpoint_kind {
  ENDPOINT_NBD,         /* NBD URI or [ CMD ARGS ... ] */
  ENDPOINT_FILE,        /* regular file or block device */
  ENDPOINT_STREAM,      /* "-": stdin or stdout, read or written in order */
  ENDPOINT_NULL,        /* "null:": every write is thrown away */
};

/* One extent of the source, as block status (or SEEK_DATA) reports it. */
struct extent {
  uint64_t offset;
  uint64_t length;
  bool zero;            /* reads as zeroes */
};

/* Extents learned ahead of the reads, one cache per connection so that
 * each worker asks its own handle. */
struct extent_cache {
  struct extent *extents;
  size_t count, used, capacity;
};

struct endpoint {
  const char *name;             /* as written on the command line */
  enum endpoint_kind kind;
  bool is_source;
  struct target target;         /* ENDPOINT_NBD */
  struct nbd_handle *handles[MAX_CONNECTIONS];
  struct extent_cache caches[MAX_CONNECTIONS];
  /* Per connection: file bytes written and not yet sent to the disk,
   * and those sent last (see write_behind in endpoint.c). */
  struct extent unsent[MAX_CONNECTIONS], sent[MAX_CONNECTIONS];
  int connections;              /* handles opened so far */
  int fd;                       /* ENDPOINT_FILE, ENDPOINT_STREAM */
  bool is_block_device;
  bool starts_zeroed;           /* a file nbdcopy just truncated */
  const char *map;              /* a regular file source, mapped whole */
  int64_t size;                 /* -1: a stream whose length is unknown */
  uint64_t preferred_block;
  uint64_t max_block;           /* largest payload the server takes, or 0 */
  bool can_multi_conn, can_zero, can_trim, can_flush, has_extents;
};

struct options {
  bool allocated, destination_is_zero, flush, extents, synchronous;
  bool verbose, progress;
  int progress_fd;              /* -1 unless --progress=FD */
  unsigned connections, requests, threads;
  uint64_t queue_size, request_size, sparse_size;
  bool sparse_size_given;
  bool blkhash;                 /* --blkhash */
  int blkhash_digest;
  uint64_t blkhash_block_size;
  const char *blkhash_file;     /* NULL: stdout */
};

extern struct options opts;

/* The blkhash of the source, or NULL without --blkhash.  The copy
 * engines hand it every piece of the source they read or skip. */
extern struct blkhash *source_hash;

/* endpoint.c: opening and I/O on any kind of endpoint.  The connection
 * index chooses the NBD handle; file endpoints share one descriptor. */
int endpoint_classify (struct endpoint *ep, int argc, char **argv,
                       int *next, bool is_source);
int endpoint_open (struct endpoint *ep);
int endpoint_open_more (struct endpoint *ep, int connections);
/* Maps a regular file source into memory, so that the copy can send
 * from the page cache; leaves ep->map NULL where that is not possible. */
void endpoint_map_source (struct endpoint *ep);
void endpoint_close (struct endpoint *ep);
/* Empties a regular file destination and gives it the source's size
 * (-1: a stream, whose length the copy sets at the end). */
int endpoint_resize (struct endpoint *ep, int64_t size);
int endpoint_resize_end (struct endpoint *ep, uint64_t size);
void endpoint_describe (const struct endpoint *ep);

/* Extent at offset (limited to at most max bytes) of the source. */
int endpoint_extent (struct endpoint *ep, int conn, uint64_t offset,
                     uint64_t max, struct extent *out);

/* Synchronous I/O.  Each prints its own one-line error and returns -1. */
ssize_t endpoint_read (struct endpoint *ep, int conn, void *buf,
                       size_t len, uint64_t offset);
int endpoint_write (struct endpoint *ep, int conn, const void *buf,
                    size_t len, uint64_t offset);
int endpoint_write_zeroes (struct endpoint *ep, int conn, uint64_t len,
                           uint64_t offset);
int endpoint_flush (struct endpoint *ep);
void report_failure (const char *what, uint64_t offset, int err);

/* sparse.c */
bool is_all_zero (const void *buf, size_t len);
bool zeroes_need_writing (const struct endpoint *dst);
size_t data_run_length (const char *buf, size_t len, uint64_t offset,
                        bool *zero);

/* copy-sync.c and copy-async.c: each returns 0 or -1 (error printed). */
int copy_synchronous (struct endpoint *src, struct endpoint *dst);
/* workers: one thread per connection (file endpoints share their
 * descriptor among all of them). */
int copy_asynchronous (struct endpoint *src, struct endpoint *dst,
                       int workers);

/* progress.c */
void progress_start (int64_t total);
void progress_add (uint64_t bytes, bool skipped);
void progress_tick (void);
void progress_finish (bool success);

#endif
