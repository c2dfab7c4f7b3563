/* Reading engine transcripts (the format is described in transcript.h). */
#include "transcript.h"

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void *
tr_xrealloc (void *p, size_t n)
{
  void *q = realloc (p, n ? n : 1);
  if (q == NULL) {
    perror ("realloc");
    exit (99);
  }
  return q;
}

static void
put_be (uint8_t *p, uint64_t v, int width)
{
  for (int i = width - 1; i >= 0; i--) {
    p[i] = (uint8_t) v;
    v >>= 8;
  }
}

static const struct { const char *name; uint64_t value; int width; } magics[] = {
  { "NBDMAGIC", UINT64_C(0x4e42444d41474943), 8 },
  { "IHAVEOPT", UINT64_C(0x49484156454f5054), 8 },
  { "OLDSTYLE", UINT64_C(0x0000420281861253), 8 },
  { "OPTREPLY", UINT64_C(0x0003e889045565a9), 8 },
  { "REQUEST", 0x25609513, 4 },
  { "EXTREQUEST", 0x21e41c71, 4 },
  { "SIMPLE", 0x67446698, 4 },
  { "STRUCTURED", 0x668e33ef, 4 },
  { "EXTREPLY", 0x6e8a278c, 4 },
};

static int
hexval (int c)
{
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

/* One token appended to *out; false if it is not a BYTES token. */
static bool
parse_token (const char *w, uint8_t **out, size_t *len)
{
  size_t n = strlen (w);
  const char *star;
  char *end;

  if (n >= 2 && w[0] == '"' && w[n - 1] == '"') {
    *out = tr_xrealloc (*out, *len + n - 2);
    memcpy (*out + *len, w + 1, n - 2);
    *len += n - 2;
    return true;
  }
  for (size_t i = 0; i < sizeof magics / sizeof magics[0]; i++)
    if (strcmp (w, magics[i].name) == 0) {
      *out = tr_xrealloc (*out, *len + magics[i].width);
      put_be (*out + *len, magics[i].value, magics[i].width);
      *len += magics[i].width;
      return true;
    }
  if (w[0] == 'u' && (strncmp (w, "u16:", 4) == 0 || strncmp (w, "u32:", 4) == 0
                      || strncmp (w, "u64:", 4) == 0)) {
    int width = w[1] == '1' ? 2 : w[1] == '3' ? 4 : 8;
    errno = 0;
    uint64_t v = strtoull (w + 4, &end, 0);
    if (errno || *end || end == w + 4)
      return false;
    if (width < 8 && v >> (8 * width))
      return false;
    *out = tr_xrealloc (*out, *len + width);
    put_be (*out + *len, v, width);
    *len += width;
    return true;
  }
  if ((star = strchr (w, '*')) != NULL) {
    if (star - w != 2 || hexval (w[0]) < 0 || hexval (w[1]) < 0)
      return false;
    unsigned long count = strtoul (star + 1, &end, 0);
    if (*end || end == star + 1 || count > (64u << 20))
      return false;
    *out = tr_xrealloc (*out, *len + count);
    memset (*out + *len, hexval (w[0]) << 4 | hexval (w[1]), count);
    *len += count;
    return true;
  }
  if (n % 2)
    return false;
  for (size_t i = 0; i < n; i++)
    if (hexval (w[i]) < 0)
      return false;
  *out = tr_xrealloc (*out, *len + n / 2);
  for (size_t i = 0; i < n; i += 2)
    (*out)[*len + i / 2] = (uint8_t) (hexval (w[i]) << 4 | hexval (w[i + 1]));
  *len += n / 2;
  return true;
}

int
tr_parse_bytes (char *const *words, size_t n, uint8_t **out, size_t *len)
{
  *out = NULL;
  *len = 0;
  for (size_t i = 0; i < n; i++)
    if (!parse_token (words[i], out, len)) {
      fprintf (stderr, "bad byte token '%s'\n", words[i]);
      free (*out);
      *out = NULL;
      return -1;
    }
  return 0;
}

/* Split a line into words: runs of non-blank characters, where a double
 * quote protects blanks up to the next one (the quotes stay). */
static char **
split_words (char *s, size_t *n)
{
  char **w = NULL;

  *n = 0;
  for (;;) {
    while (*s && isspace ((unsigned char) *s))
      s++;
    if (*s == '\0' || *s == '#')
      break;
    char *start = s;
    bool quoted = false;
    while (*s && (quoted || !isspace ((unsigned char) *s))) {
      if (*s == '"')
        quoted = !quoted;
      s++;
    }
    if (*s)
      *s++ = '\0';
    w = tr_xrealloc (w, (*n + 1) * sizeof *w);
    w[(*n)++] = strdup (start);
  }
  return w;
}

static int load_into (const char *path, struct transcript *t, int depth, int at_line);

static const struct { const char *word; enum tr_kind kind; } keywords[] = {
  { "config", TR_CONFIG }, { "rx", TR_RX }, { "tx", TR_TX }, { "eof", TR_EOF },
  { "call", TR_CALL }, { "expect", TR_EXPECT },
};

/* The lines of the file at path appended to t; included lines take the
 * line number of their include line (at_line, or their own when 0). */
static int
load_into (const char *path, struct transcript *t, int depth, int at_line)
{
  FILE *f = fopen (path, "r");
  char *line = NULL;
  size_t cap = 0;
  int lineno = 0, r = 0;

  if (f == NULL) {
    fprintf (stderr, "%s: %s\n", path, strerror (errno));
    return -1;
  }
  while (getline (&line, &cap, f) != -1) {
    size_t nw;
    char **w;
    struct tr_line l = { .lineno = at_line ? at_line : lineno + 1 };
    size_t k;

    lineno++;
    w = split_words (line, &nw);
    if (nw == 0) {
      free (w);
      continue;
    }
    if (strcmp (w[0], "include") == 0) {
      /* include NAME: the lines of NAME, next to this file. */
      const char *slash = strrchr (path, '/');
      char *inc = NULL;
      if (nw != 2 || depth > 4
          || asprintf (&inc, "%.*s%s", slash ? (int) (slash - path + 1) : 0, path,
                       w[1]) == -1) {
        fprintf (stderr, "%s:%d: bad include\n", path, lineno);
        r = -1;
      }
      else if (load_into (inc, t, depth + 1, at_line ? at_line : lineno) == -1)
        r = -1;
      free (inc);
      for (size_t j = 0; j < nw; j++)
        free (w[j]);
      free (w);
      continue;
    }
    for (k = 0; k < sizeof keywords / sizeof keywords[0]; k++)
      if (strcmp (w[0], keywords[k].word) == 0)
        break;
    if (k == sizeof keywords / sizeof keywords[0]) {
      fprintf (stderr, "%s:%d: unknown directive '%s'\n", path, lineno, w[0]);
      r = -1;
    }
    else {
      l.kind = keywords[k].kind;
      if ((l.kind == TR_RX || l.kind == TR_TX)
          && tr_parse_bytes (w + 1, nw - 1, &l.bytes, &l.len) == -1) {
        fprintf (stderr, "%s:%d: bad bytes\n", path, lineno);
        r = -1;
      }
    }
    free (w[0]);
    l.words = w;
    memmove (w, w + 1, (nw - 1) * sizeof *w);
    l.nwords = nw - 1;
    t->lines = tr_xrealloc (t->lines, (t->nlines + 1) * sizeof *t->lines);
    t->lines[t->nlines++] = l;
  }
  free (line);
  fclose (f);
  return r;
}

int
tr_load (const char *path, struct transcript *t)
{
  const char *slash = strrchr (path, '/');

  *t = (struct transcript) { .name = strdup (slash ? slash + 1 : path) };
  return load_into (path, t, 0, 0);
}

void
tr_free (struct transcript *t)
{
  for (size_t i = 0; i < t->nlines; i++) {
    for (size_t j = 0; j < t->lines[i].nwords; j++)
      free (t->lines[i].words[j]);
    free (t->lines[i].words);
    free (t->lines[i].bytes);
  }
  free (t->lines);
  free (t->name);
  *t = (struct transcript) { 0 };
}
