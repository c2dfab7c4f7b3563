/* nbdinfo: what the modes share. */
#ifndef NBDINFO_H
#define NBDINFO_H

#include <stdbool.h>
#include <stdio.h>

#include <libnbd.h>

#include "nbd-error.h"
#include "target.h"

#define TOOL "nbdinfo"

struct info_options {
  bool json;
  bool content;        /* probe the content with file(1) */
  bool list;
  bool color;          /* ANSI colours in text output */
};

struct map_options {
  const char *context;
  bool totals;
  bool json;
  bool color;          /* ANSI colours in text output */
};

/* The default mode and --list: writes the description of one export (or
 * of every export) to out.  h is connected in option mode.  Returns 0 or
 * -1 after reporting the error. */
int show_info (struct nbd_handle *h, const struct target *t,
               const struct info_options *o, FILE *out);

/* --map[=CONTEXT] [--totals]: h is connected (transmission phase) with
 * the context requested.  Returns 0 or -1 after reporting the error. */
int show_map (struct nbd_handle *h, const struct map_options *o, FILE *out);

/* --is, --isnt, --can, --cannot, --has, --hasnt: the property's value
 * on a connected handle: 1 true, 0 false, -1 error (reported). */
int test_property (struct nbd_handle *h, const char *property);

/* Whether property names something --is/--can/--has know. */
bool property_is_known (const char *property);

/* Runs file(1) on the first bytes of the export, read through h, and
 * returns its one-line answer (malloc'd), or NULL if it could not. */
char *probe_content (struct nbd_handle *h, int64_t size);

#endif
