/* nbddump: what its parts share. */
#ifndef NBDDUMP_H
#define NBDDUMP_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#define TOOL "nbddump"
#define BYTES_PER_LINE 16

/* Turns bytes into hexdump lines, collapsing runs of identical lines into
 * one splat line.  The last line of a dump is always printed, so the
 * reader sees where the dump ends. */
struct dumper {
  FILE *out;
  bool color;
  uint64_t next_offset;               /* offset of the next byte fed */
  unsigned char line[BYTES_PER_LINE]; /* the line being assembled */
  size_t line_len;
  unsigned char prev[BYTES_PER_LINE]; /* the last full line printed */
  bool have_prev;
  bool skipping;                      /* inside a collapsed run */
  uint64_t last_skipped;              /* offset of its last line */
};

/* Starts a dump whose first byte is at offset in the export. */
void dumper_init (struct dumper *d, FILE *out, bool color, uint64_t offset);

/* Feeds len bytes read from the export at d->next_offset. */
void dumper_feed (struct dumper *d, const unsigned char *data, size_t len);

/* Feeds len zero bytes without any buffer: runs of whole zero lines cost
 * the same whatever their length. */
void dumper_feed_zeroes (struct dumper *d, uint64_t len);

/* Prints what is left: a partial line, or the last line of a collapsed
 * run.  at_end_of_export is false when --length cut the dump short. */
void dumper_finish (struct dumper *d, bool at_end_of_export);

#endif
