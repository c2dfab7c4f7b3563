/* --map and --map --totals.
 *
 * The export is cut into windows, each no longer than one block status
 * request may ask for, and several windows are asked for at once, so the
 * walk is not one round trip per reply.  A server may answer a window
 * with fewer extents than the window holds; the rest of that window is
 * then asked for again.  Windows finish in any order but are appended in
 * offset order, merging neighbours of the same type. */
#include "nbdinfo.h"

#include <inttypes.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ansi-color.h"
#include "json-out.h"
#include "safe-print.h"

#define WINDOWS_IN_FLIGHT 16

struct extent {
  uint64_t offset, length, type;
};

struct extent_list {
  struct extent *v;
  size_t len, cap;
};

struct window {
  uint64_t start, end;      /* the part of the export this window covers */
  uint64_t reached;         /* everything before this is in extents */
  struct extent_list extents;
  bool in_flight;
  int error;                /* errno of a failed request, or 0 */
};

struct walk {
  struct nbd_handle *h;
  const char *context;
  bool extended;            /* 64-bit block status */
  struct window *windows;
  size_t nr_windows;
  const char *protocol_error;
};

static int
extent_list_append (struct extent_list *l, uint64_t offset, uint64_t length,
                    uint64_t type)
{
  if (l->len > 0) {
    struct extent *last = &l->v[l->len - 1];
    if (last->type == type && last->offset + last->length == offset) {
      last->length += length;
      return 0;
    }
  }
  if (l->len == l->cap) {
    size_t cap = l->cap ? l->cap * 2 : 64;
    struct extent *v = realloc (l->v, cap * sizeof *v);
    if (v == NULL)
      return -1;
    l->v = v;
    l->cap = cap;
  }
  l->v[l->len++] = (struct extent) { offset, length, type };
  return 0;
}

/* Adds one extent the server sent for window w, clipped to the window.
 * Returns -1 (with walk->protocol_error set) if the server went backwards
 * or sent nothing usable. */
static int
take_extent (struct walk *walk, struct window *w, uint64_t length,
             uint64_t type)
{
  uint64_t left = w->end - w->reached;

  if (length == 0) {
    walk->protocol_error = "the server sent an extent of length 0";
    return -1;
  }
  if (left == 0)
    return 0;
  if (length > left)
    length = left;
  if (extent_list_append (&w->extents, w->reached, length, type) == -1) {
    walk->protocol_error = "out of memory";
    return -1;
  }
  w->reached += length;
  return 0;
}

struct request {
  struct walk *walk;
  struct window *window;
  uint64_t offset;          /* where this request started */
};

static int
extents32 (void *opaque, const char *metacontext, uint64_t offset,
           uint32_t *entries, size_t nr_entries, int *error)
{
  struct request *rq = opaque;

  (void) error;
  if (strcmp (metacontext, rq->walk->context) != 0)
    return 0;
  if (offset != rq->offset || rq->window->reached != rq->offset)
    return 0;               /* only the first answer for a context counts */
  for (size_t i = 0; i + 1 < nr_entries; i += 2)
    if (take_extent (rq->walk, rq->window, entries[i], entries[i + 1]) == -1)
      return -1;
  return 0;
}

static int
extents64 (void *opaque, const char *metacontext, uint64_t offset,
           nbd_extent *entries, size_t nr_entries, int *error)
{
  struct request *rq = opaque;

  (void) error;
  if (strcmp (metacontext, rq->walk->context) != 0)
    return 0;
  if (offset != rq->offset || rq->window->reached != rq->offset)
    return 0;
  for (size_t i = 0; i < nr_entries; i++)
    if (take_extent (rq->walk, rq->window, entries[i].length,
                     entries[i].flags) == -1)
      return -1;
  return 0;
}

static int
request_done (void *opaque, int *error)
{
  struct request *rq = opaque;

  rq->window->in_flight = false;
  if (*error)
    rq->window->error = *error;
  else if (rq->window->reached == rq->offset && !rq->walk->protocol_error)
    rq->walk->protocol_error = "the server sent no extents for a "
      "block status request";
  return 1;                 /* retire the command: nothing else waits */
}

static int
issue (struct walk *walk, struct window *w)
{
  struct request *rq = malloc (sizeof *rq);
  uint64_t count = w->end - w->reached;
  nbd_completion_callback done = { .callback = request_done,
                                   .user_data = rq, .free = free };
  int64_t cookie;

  if (rq == NULL)
    return -1;
  *rq = (struct request) { walk, w, w->reached };
  w->in_flight = true;
  if (walk->extended) {
    nbd_extent64_callback cb = { .callback = extents64, .user_data = rq };
    cookie = nbd_aio_block_status_64 (walk->h, count, w->reached, cb, done, 0);
  }
  else {
    nbd_extent_callback cb = { .callback = extents32, .user_data = rq };
    cookie = nbd_aio_block_status (walk->h, count, w->reached, cb, done, 0);
  }
  if (cookie == -1) {
    w->in_flight = false;
    return -1;
  }
  return 0;
}

/* The largest request length: 32-bit block status takes at most 4 GiB
 * less one, rounded down to the server's minimum block size so that no
 * request but the last is misaligned.  64-bit block status could ask for
 * more, but windows of this size keep several requests in flight. */
static uint64_t
window_size (struct nbd_handle *h)
{
  int64_t minimum = nbd_get_block_size (h, LIBNBD_SIZE_MINIMUM);
  uint64_t align = minimum > 512 ? (uint64_t) minimum : 512;

  return (UINT32_MAX / align) * align;
}

static int
plan_windows (struct walk *walk, uint64_t size)
{
  uint64_t step = window_size (walk->h);

  walk->nr_windows = size / step + (size % step != 0);
  walk->windows = calloc (walk->nr_windows ? walk->nr_windows : 1,
                          sizeof *walk->windows);
  if (walk->windows == NULL)
    return -1;
  for (size_t i = 0; i < walk->nr_windows; i++) {
    struct window *w = &walk->windows[i];
    w->start = w->reached = (uint64_t) i * step;
    w->end = size - w->start < step ? size : w->start + step;
  }
  return 0;
}

static void
free_windows (struct walk *walk)
{
  for (size_t i = 0; i < walk->nr_windows; i++)
    free (walk->windows[i].extents.v);
  free (walk->windows);
}

/* Runs the whole walk; afterwards every window has reached its end.
 * Returns 0, or -1 after reporting the error. */
static int
walk_export (struct walk *walk)
{
  size_t next = 0;          /* the first window never issued */
  size_t done = 0;          /* windows before this one are complete */
  size_t in_flight = 0;

  while (done < walk->nr_windows) {
    /* Re-issue windows answered only in part, then start new ones. */
    in_flight = 0;
    for (size_t i = done; i < next; i++) {
      struct window *w = &walk->windows[i];
      if (w->error) {
        fprintf (stderr, "%s: block status of %s at offset %" PRIu64
                 " failed: %s\n", TOOL, walk->context, w->reached,
                 strerror (w->error));
        return -1;
      }
      if (walk->protocol_error) {
        fprintf (stderr, "%s: --map: %s\n", TOOL, walk->protocol_error);
        return -1;
      }
      if (!w->in_flight && w->reached < w->end && issue (walk, w) == -1)
        goto nbd_failed;
      in_flight += w->in_flight;
    }
    while (next < walk->nr_windows && in_flight < WINDOWS_IN_FLIGHT) {
      if (issue (walk, &walk->windows[next]) == -1)
        goto nbd_failed;
      next++;
      in_flight++;
    }
    while (done < next && !walk->windows[done].in_flight &&
           walk->windows[done].reached == walk->windows[done].end &&
           !walk->windows[done].error)
      done++;
    if (done == walk->nr_windows)
      break;
    if (in_flight > 0 && nbd_poll (walk->h, -1) == -1)
      goto nbd_failed;
  }
  return 0;

 nbd_failed:
  report_nbd_error (TOOL);
  return -1;
}

static const char *
describe (const char *context, uint64_t type, char *buf, size_t len)
{
  if (strcmp (context, LIBNBD_CONTEXT_BASE_ALLOCATION) == 0) {
    /* Indexed by the hole and zero bits; other bits are not described. */
    static const char *const names[] = { "data", "hole", "zero", "hole,zero" };

    if (type == 0)
      return names[0];
    type &= LIBNBD_STATE_HOLE | LIBNBD_STATE_ZERO;
    return type ? names[type] : NULL;
  }
  if (strcmp (context, "qemu:allocation-depth") == 0) {
    if (type == 0)
      return "absent";
    if (type == 1)
      return "local";
    snprintf (buf, len, "backing depth %" PRIu64, type);
    return buf;
  }
  if (strncmp (context, "qemu:dirty-bitmap:", 18) == 0)
    return type & 1 ? "dirty" : "clean";
  return NULL;
}

/* The colour libnbd's nbdinfo shows an extent of this type in, or NULL
 * for none: allocated data stands out, and so do the local and backing
 * layers of an allocation depth map and the bits of a dirty bitmap. */
static const char *
extent_color (const char *context, uint64_t type)
{
  if (strcmp (context, LIBNBD_CONTEXT_BASE_ALLOCATION) == 0)
    return type == 0 ? ANSI_BOLD_BLACK : NULL;
  if (strcmp (context, "qemu:allocation-depth") == 0) {
    if (type == 0)
      return NULL;
    return type == 1 ? ANSI_BOLD_WHITE_ON_BLACK : ANSI_ON_WHITE;
  }
  if (strncmp (context, "qemu:dirty-bitmap:", 18) == 0)
    return type & 1 ? ANSI_RED : ANSI_GREEN;
  return NULL;
}

/* Writes value in decimal, right-aligned in width columns, at p; returns
 * the end.  A map has a line per extent (hundreds of thousands on a big
 * fragmented disk), and printf's format parsing would be most of the
 * time spent printing them. */
static char *
put_decimal (char *p, uint64_t value, int width)
{
  char digits[20];
  int n = 0;

  do {
    digits[n++] = (char) ('0' + value % 10);
    value /= 10;
  } while (value > 0);
  for (; width > n; width--)
    *p++ = ' ';
  while (n > 0)
    *p++ = digits[--n];
  return p;
}

static char *
put_string (char *p, const char *s)
{
  size_t len = strlen (s);

  memcpy (p, s, len);
  return p + len;
}

static void
print_map (FILE *out, const struct map_options *o,
           const struct extent_list *l)
{
  const char *context = o->context;
  bool json = o->json;
  char buf[64];
  /* Room for a colour, three 20-digit numbers, their padding, a
   * description from describe (shorter than buf) and the reset. */
  char line[200];

  if (json)
    fputs ("[\n", out);
  for (size_t i = 0; i < l->len; i++) {
    const struct extent *e = &l->v[i];
    const char *d = describe (context, e->type, buf, sizeof buf);

    if (json) {
      fprintf (out, "{ \"offset\": %" PRIu64 ", \"length\": %" PRIu64
               ", \"type\": %" PRIu64, e->offset, e->length, e->type);
      if (d) {
        fputs (", \"description\": ", out);
        json_print_string (out, d);
      }
      fputs (i + 1 < l->len ? "},\n" : "}\n", out);
    }
    else {
      const char *color = o->color ? extent_color (context, e->type) : NULL;
      char *p = color ? put_string (line, color) : line;

      p = put_decimal (p, e->offset, 10);
      p = put_decimal (put_string (p, "  "), e->length, 10);
      p = put_decimal (put_string (p, "  "), e->type, 3);
      if (d)
        p = put_string (put_string (p, "  "), d);
      if (color)
        p = put_string (p, ANSI_RESET);
      *p++ = '\n';
      fwrite (line, 1, (size_t) (p - line), out);
    }
  }
  if (json)
    fputs (l->len == 0 ? "\n]\n" : "]\n", out);
}

static int
compare_type (const void *a, const void *b)
{
  const struct extent *x = a, *y = b;
  return x->type < y->type ? -1 : x->type > y->type;
}

static int
print_totals (FILE *out, const struct map_options *o,
              const struct extent_list *l, uint64_t size)
{
  const char *context = o->context;
  bool json = o->json;
  struct extent_list sums = { 0 };
  char buf[64];

  /* Sum per type: sort a copy by type, then add up equal neighbours. */
  sums.v = malloc ((l->len ? l->len : 1) * sizeof *sums.v);
  if (sums.v == NULL)
    return -1;
  sums.len = sums.cap = l->len;
  if (l->len)
    memcpy (sums.v, l->v, l->len * sizeof *l->v);
  qsort (sums.v, sums.len, sizeof *sums.v, compare_type);
  if (json)
    fputs ("[", out);
  for (size_t i = 0, first = 1; i < sums.len; ) {
    uint64_t type = sums.v[i].type, total = 0;
    const char *d = describe (context, type, buf, sizeof buf);
    double percent;

    for (; i < sums.len && sums.v[i].type == type; i++)
      total += sums.v[i].length;
    percent = size ? 100.0 * (double) total / (double) size : 0;
    if (json) {
      fprintf (out, "%s\n{ \"size\": %" PRIu64 ", \"percent\": %g"
               ", \"type\": %" PRIu64, first ? "" : ",", total, percent, type);
      if (d) {
        fputs (", \"description\": ", out);
        json_print_string (out, d);
      }
      fputs (" }", out);
    }
    else {
      const char *color = o->color ? extent_color (context, type) : NULL;

      if (color)
        fputs (color, out);
      fprintf (out, "%10" PRIu64 " %5.1f%% %3" PRIu64, total, percent, type);
      if (d)
        fprintf (out, " %s", d);
      if (color)
        fputs (ANSI_RESET, out);
      putc ('\n', out);
    }
    first = 0;
  }
  if (json)
    fputs (sums.len ? "\n]\n" : "]\n", out);
  free (sums.v);
  return 0;
}

int
show_map (struct nbd_handle *h, const struct map_options *o, FILE *out)
{
  const char *context = o->context;
  struct walk walk = { .h = h, .context = context };
  struct extent_list all = { 0 };
  int64_t size = nbd_get_size (h);
  int r = -1;

  if (size == -1) {
    report_nbd_error (TOOL);
    return -1;
  }
  if (nbd_can_meta_context (h, context) != 1) {
    fprintf (stderr, "%s: --map: server does not support metadata "
             "context \"", TOOL);
    safe_print (stderr, context, false);
    fprintf (stderr, "\"\n");
    return -1;
  }
  walk.extended = nbd_get_extended_headers_negotiated (h) == 1;
  if (plan_windows (&walk, (uint64_t) size) == -1 || walk_export (&walk) == -1)
    goto out;
  for (size_t i = 0; i < walk.nr_windows; i++) {
    const struct extent_list *l = &walk.windows[i].extents;
    for (size_t j = 0; j < l->len; j++)
      if (extent_list_append (&all, l->v[j].offset, l->v[j].length,
                              l->v[j].type) == -1)
        goto out;
  }
  if (o->totals)
    r = print_totals (out, o, &all, (uint64_t) size);
  else {
    print_map (out, o, &all);
    r = 0;
  }
 out:
  free (all.v);
  free_windows (&walk);
  return r;
}
