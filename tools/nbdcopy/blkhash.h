/* The blkhash of the source, computed during the copy (--blkhash).
 *
 * blkhash is Nir Soffer's block based hash: the image is cut into blocks
 * of a fixed size (the last one may be shorter), and the result is
 *
 *     H( H(block 0) || H(block 1) || ... || H(block N-1) || le64(size) )
 *
 * where H is the chosen digest and le64 the image size in bytes as a
 * little-endian 64 bit integer.  A block of zeroes has a known digest,
 * so holes and zero extents are hashed without reading or hashing their
 * bytes.
 *
 * The copy hands pieces of the image in any order and from any thread;
 * the block digests are fed to the outer hash in block order. */
#ifndef NBDCOPY_BLKHASH_H
#define NBDCOPY_BLKHASH_H

#include <stddef.h>
#include <stdint.h>

struct blkhash;

/* Parses the argument of --blkhash: "DIGEST" or "DIGEST/SIZE" (NULL for
 * the default sha256/64k).  Prints an error and returns -1 if it is not
 * valid. */
int blkhash_parse (const char *arg, int *digest, uint64_t *block_size);

/* size is the image size, or -1 for a stream whose size is only known
 * at blkhash_finish.  Prints an error and returns NULL on failure. */
struct blkhash *blkhash_new (int digest, uint64_t block_size, int64_t size);

/* The image bytes [offset, offset + len) are buf. */
void blkhash_data (struct blkhash *h, uint64_t offset, const void *buf,
                   size_t len);
/* The image bytes [offset, offset + len) read as zeroes. */
void blkhash_zero (struct blkhash *h, uint64_t offset, uint64_t len);

/* Every byte of an image of size bytes has been given: writes the digest
 * as lower-case hex with a terminating NUL into hex (at least
 * BLKHASH_HEX_MAX bytes).  Returns -1 (error printed) if bytes are
 * missing. */
#define BLKHASH_HEX_MAX 129
int blkhash_finish (struct blkhash *h, uint64_t size, char *hex);

void blkhash_free (struct blkhash *h);

#endif
