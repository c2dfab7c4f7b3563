/* The hexdump layout of nbddump:
 *
 *   0000000000: 68 65 6c 6c 6f 00 00 00  00 00 00 00 00 00 00 00 |hello...........|
 *
 * With colour, the same layout with ANSI colours per field, box-drawing
 * bars, "·" for unprintable bytes and "☆" for the splat line. */
#include "nbddump.h"

#include <ctype.h>
#include <inttypes.h>
#include <string.h>

#include "ansi-color.h"

#define COLOR_OFFSET ANSI_GREEN
#define COLOR_PUNCT ANSI_GREY
#define COLOR_ZERO ANSI_GREY
#define COLOR_HEX ANSI_BOLD_BLUE
#define COLOR_ALNUM ANSI_BOLD_RED
#define COLOR_SYMBOL ANSI_BOLD_MAGENTA
#define COLOR_RESET ANSI_RESET

static const unsigned char zero_line[BYTES_PER_LINE];

void
dumper_init (struct dumper *d, FILE *out, bool color, uint64_t offset)
{
  memset (d, 0, sizeof *d);
  d->out = out;
  d->color = color;
  d->next_offset = offset;
}

static bool
printable (unsigned char c)
{
  return c >= 0x20 && c < 0x7f;
}

static void
print_line (struct dumper *d, uint64_t offset, const unsigned char *b,
            size_t n)
{
  FILE *out = d->out;
  size_t padding = (BYTES_PER_LINE - n) * 3 + (n < 8 ? 1 : 0);
  const char *bar = d->color ? "\342\224\202" : "|";

  if (d->color)
    fprintf (out, COLOR_OFFSET "%010" PRIx64 COLOR_PUNCT ": ", offset);
  else
    fprintf (out, "%010" PRIx64 ": ", offset);
  for (size_t i = 0; i < n; i++) {
    if (d->color)
      fputs (b[i] ? COLOR_HEX : COLOR_ZERO, out);
    fprintf (out, i == 7 ? "%02x  " : "%02x ", b[i]);
  }
  if (d->color)
    fputs (COLOR_PUNCT, out);
  fprintf (out, "%*s%s", (int) padding, "", bar);
  for (size_t i = 0; i < n; i++) {
    if (d->color) {
      if (printable (b[i]))
        fprintf (out, "%s%c", isalnum (b[i]) ? COLOR_ALNUM : COLOR_SYMBOL,
                 b[i]);
      else
        fputs (COLOR_PUNCT "\302\267", out);
    }
    else
      putc (printable (b[i]) ? b[i] : '.', out);
  }
  if (d->color)
    fputs (COLOR_PUNCT, out);
  fprintf (out, "%*s%s\n", (int) (BYTES_PER_LINE - n), "", bar);
  if (d->color)
    fputs (COLOR_RESET, out);
}

static void
emit_full_line (struct dumper *d, uint64_t offset, const unsigned char *b)
{
  if (d->have_prev && memcmp (d->prev, b, BYTES_PER_LINE) == 0) {
    if (!d->skipping)
      fputs (d->color ? "\342\230\206\n" : "*\n", d->out);
    d->skipping = true;
    d->last_skipped = offset;
    return;
  }
  d->skipping = false;
  print_line (d, offset, b, BYTES_PER_LINE);
  memcpy (d->prev, b, BYTES_PER_LINE);
  d->have_prev = true;
}

void
dumper_feed (struct dumper *d, const unsigned char *data, size_t len)
{
  while (len > 0) {
    size_t n = BYTES_PER_LINE - d->line_len;

    if (d->line_len == 0 && len >= BYTES_PER_LINE) {
      emit_full_line (d, d->next_offset, data);
      n = BYTES_PER_LINE;
    }
    else {
      if (n > len)
        n = len;
      memcpy (d->line + d->line_len, data, n);
      d->line_len += n;
      if (d->line_len == BYTES_PER_LINE) {
        emit_full_line (d, d->next_offset - (BYTES_PER_LINE - n), d->line);
        d->line_len = 0;
      }
    }
    d->next_offset += n;
    data += n;
    len -= n;
  }
}

void
dumper_feed_zeroes (struct dumper *d, uint64_t len)
{
  uint64_t lines;

  /* Complete a partial line first, and feed the first two whole lines
   * one by one: after them any further zero line is a repeat. */
  while (len > 0 && (d->line_len != 0 || len < 3 * BYTES_PER_LINE)) {
    size_t n = len < BYTES_PER_LINE ? (size_t) len : BYTES_PER_LINE;
    if (d->line_len)
      n = n < BYTES_PER_LINE - d->line_len ? n : BYTES_PER_LINE - d->line_len;
    dumper_feed (d, zero_line, n);
    len -= n;
  }
  if (len == 0)
    return;
  dumper_feed (d, zero_line, BYTES_PER_LINE);
  dumper_feed (d, zero_line, BYTES_PER_LINE);
  len -= 2 * BYTES_PER_LINE;
  lines = len / BYTES_PER_LINE;
  if (lines > 0) {
    /* The two lines just fed were zeroes, so these are all repeats. */
    d->last_skipped = d->next_offset + (lines - 1) * BYTES_PER_LINE;
    d->next_offset += lines * BYTES_PER_LINE;
    len -= lines * BYTES_PER_LINE;
  }
  if (len > 0)
    dumper_feed (d, zero_line, (size_t) len);
}

void
dumper_finish (struct dumper *d, bool at_end_of_export)
{
  /* A dump cut short by --length leaves a final repeat collapsed, as
   * libnbd's nbddump does: the partial line, padded with zeroes, equals
   * the line before.  At the end of the export the last line is always
   * shown. */
  if (d->line_len > 0) {
    memset (d->line + d->line_len, 0, BYTES_PER_LINE - d->line_len);
    if (!at_end_of_export && d->have_prev &&
        memcmp (d->line, d->prev, BYTES_PER_LINE) == 0) {
      if (!d->skipping)
        fputs (d->color ? "\342\230\206\n" : "*\n", d->out);
      return;
    }
    print_line (d, d->next_offset - d->line_len, d->line, d->line_len);
  }
  else if (d->skipping && at_end_of_export)
    print_line (d, d->last_skipped, d->prev, BYTES_PER_LINE);
}
