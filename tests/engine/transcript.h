/* Engine transcripts: a test case as data (tests/engine/transcripts/NAME.t).
 *
 * One directive a line; '#' starts a comment.
 *
 *   config KEY=VALUE ...    engine settings, before anything else
 *   rx BYTES                bytes the server sends (delivered now)
 *   tx BYTES                the next bytes the client must have sent
 *                           by now; at the end, every byte it sent must
 *                           have been expected by a tx line
 *   eof                     the server hangs up
 *   call NAME ARGS...       an option or command (see run-transcript.c)
 *   expect KEY=VALUE ...    a fact that must hold now
 *   include NAME            the lines of NAME (next to this file)
 *
 * BYTES is a list of tokens: hex digits in pairs ("00 0102"), "text" in
 * double quotes (no escapes), u16:N / u32:N / u64:N (big-endian, N
 * decimal or 0x hex), BYTE*COUNT (a hex byte repeated: 00*124), and the
 * protocol's magic numbers by name: NBDMAGIC IHAVEOPT OLDSTYLE
 * OPTREPLY (8 bytes each), REQUEST EXTREQUEST SIMPLE STRUCTURED
 * EXTREPLY (4 bytes each).
 */
#ifndef ENGINE_TRANSCRIPT_H
#define ENGINE_TRANSCRIPT_H

#include <stddef.h>
#include <stdint.h>

enum tr_kind { TR_CONFIG, TR_RX, TR_TX, TR_EOF, TR_CALL, TR_EXPECT };

struct tr_line {
  enum tr_kind kind;
  int lineno;
  /* TR_RX, TR_TX, and "expect data": the bytes */
  uint8_t *bytes;
  size_t len;
  /* TR_CONFIG, TR_CALL, TR_EXPECT: the words after the keyword */
  char **words;
  size_t nwords;
};

struct transcript {
  char *name;                /* file name without directory */
  struct tr_line *lines;
  size_t nlines;
};

/* Parse a transcript file: 0, or -1 with a message on stderr naming the
 * file and line.  (`include NAME` reads the lines of NAME, in the same
 * directory, in its place: the shared handshakes are *.inc files.) */
int tr_load (const char *path, struct transcript *t);
void tr_free (struct transcript *t);

/* Parse BYTES tokens (words[0..n)) into a malloc'd array: 0 or -1. */
int tr_parse_bytes (char *const *words, size_t n, uint8_t **out, size_t *len);

/* realloc, or exit. */
void *tr_xrealloc (void *p, size_t n);

#endif
