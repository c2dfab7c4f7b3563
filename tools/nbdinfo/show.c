/* The default mode and --list: everything the handshake says about an
 * export, as text or JSON.  Everything is gathered first and printed
 * after, so a failure midway prints nothing. */
#include "nbdinfo.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "ansi-color.h"
#include "human-size.h"
#include "json-out.h"
#include "safe-print.h"

struct name_list {
  char **names;
  char **descriptions;    /* from NBD_OPT_LIST; entries may be NULL */
  size_t count;
};

/* The boolean lines, in the order nbdinfo prints them.  In colour, a
 * capability is green when the export has it and red when not. */
struct flag {
  const char *key;
  int (*query) (struct nbd_handle *h);
  bool capability;
};

static const struct flag flags[] = {
  { "is_rotational", nbd_is_rotational, false },
  { "is_read_only", nbd_is_read_only, false },
  /* false, not absent, without extended headers (which it needs) */
  { "can_block_status_payload", nbd_can_block_status_payload, true },
  { "can_cache", nbd_can_cache, true },
  { "can_df", nbd_can_df, true },
  { "can_fast_zero", nbd_can_fast_zero, true },
  { "can_flush", nbd_can_flush, true },
  { "can_fua", nbd_can_fua, true },
  { "can_multi_conn", nbd_can_multi_conn, true },
  { "can_trim", nbd_can_trim, true },
  { "can_zero", nbd_can_zero, true },
};
#define NR_FLAGS (sizeof flags / sizeof flags[0])

static const char *const block_size_keys[] = {
  "block_size_minimum", "block_size_preferred", "block_size_maximum",
};
static const int block_size_kinds[] = {
  LIBNBD_SIZE_MINIMUM, LIBNBD_SIZE_PREFERRED, LIBNBD_SIZE_MAXIMUM,
};
#define NR_BLOCK_SIZES 3

struct export_info {
  char *name;
  char *description;
  char *content;
  char *uri;
  struct name_list contexts;
  int flag_values[NR_FLAGS];
  int64_t block_sizes[NR_BLOCK_SIZES];
  int64_t size;
};

static void
name_list_free (struct name_list *l)
{
  for (size_t i = 0; i < l->count; i++) {
    free (l->names[i]);
    if (l->descriptions)
      free (l->descriptions[i]);
  }
  free (l->names);
  free (l->descriptions);
  memset (l, 0, sizeof *l);
}

static int
name_list_add (struct name_list *l, const char *name, const char *description)
{
  char **names = realloc (l->names, (l->count + 1) * sizeof *names);
  char **descs;

  if (names == NULL)
    return -1;
  l->names = names;
  descs = realloc (l->descriptions, (l->count + 1) * sizeof *descs);
  if (descs == NULL)
    return -1;
  l->descriptions = descs;
  names[l->count] = strdup (name);
  descs[l->count] = description && *description ? strdup (description) : NULL;
  if (names[l->count] == NULL)
    return -1;
  l->count++;
  return 0;
}

static int
collect_name (void *opaque, const char *name, const char *description)
{
  return name_list_add (opaque, name, description);
}

static int
collect_context (void *opaque, const char *name)
{
  return name_list_add (opaque, name, NULL);
}

static void
export_info_free (struct export_info *e)
{
  free (e->name);
  free (e->description);
  free (e->content);
  free (e->uri);
  name_list_free (&e->contexts);
}

/* Lists the meta contexts of the handle's current export, if the server
 * can: a server without structured replies has none, and that is not an
 * error. */
static void
gather_contexts (struct nbd_handle *h, struct export_info *e)
{
  nbd_context_callback cb = { .callback = collect_context,
                              .user_data = &e->contexts };

  if (nbd_aio_is_negotiating (h) != 1)
    return;
  if (nbd_opt_list_meta_context (h, cb) == -1)
    name_list_free (&e->contexts);
}

/* Reads what the handshake (NBD_OPT_INFO or NBD_OPT_GO) told about the
 * export into e. */
static int
gather_flags (struct nbd_handle *h, struct export_info *e)
{
  char *description;

  e->size = nbd_get_size (h);
  if (e->size == -1)
    return -1;
  for (size_t i = 0; i < NR_FLAGS; i++) {
    e->flag_values[i] = flags[i].query (h);
    if (e->flag_values[i] == -1)
      return -1;
  }
  for (size_t i = 0; i < NR_BLOCK_SIZES; i++) {
    e->block_sizes[i] = nbd_get_block_size (h, block_size_kinds[i]);
    if (e->block_sizes[i] == -1)
      return -1;
  }
  description = nbd_get_export_description (h);
  if (description && *description) {
    free (e->description);
    e->description = description;
  }
  else
    free (description);
  return 0;
}

/* The URI of the export name currently set on h, when the tool was given
 * a URI (a subprocess has none worth showing). */
static void
gather_uri (struct nbd_handle *h, const struct target *t,
            struct export_info *e)
{
  if (t->uri)
    e->uri = nbd_get_uri (h);
  if (e->uri == NULL)
    nbd_get_errno ();           /* not having one is not an error */
}

/* Opens a second connection to read the start of one export, for
 * --list --content (the listing connection never leaves option mode). */
static char *
probe_content_of (const struct target *t, const char *name)
{
  struct nbd_handle *h = nbd_create ();
  char *content = NULL;

  if (h == NULL)
    return NULL;
  if (nbd_set_opt_mode (h, true) == -1 || target_connect (h, t) == -1)
    goto out;
  if (nbd_aio_is_negotiating (h) == 1 &&
      (nbd_set_export_name (h, name) == -1 || nbd_opt_go (h) == -1))
    goto out;
  content = probe_content (h, nbd_get_size (h));
  nbd_shutdown (h, 0);
 out:
  nbd_close (h);
  return content;
}

static void
print_bool_text (FILE *out, const char *key, int value)
{
  fprintf (out, "\t%s: %s\n", key, value ? "true" : "false");
}

/* Starts a colour (or ends one, with ANSI_RESET) when colour is on. */
static void
paint (FILE *out, bool color, const char *code)
{
  if (color)
    fputs (code, out);
}

/* In colour the lines fall into the blocks libnbd's nbdinfo paints
 * them in: the export's name, description, size, content and URI in
 * bold; the contexts and the first flag line in grey; each capability
 * green or red; the block sizes plain. */
static void
print_export_text (FILE *out, const struct export_info *e, bool color)
{
  char hs[HUMAN_SIZE_LEN];
  bool suffix;

  paint (out, color, ANSI_BOLD_BLACK);
  fputs ("export=", out);
  safe_print (out, e->name, true);
  fputs (":\n", out);
  if (e->description) {
    fputs ("\tdescription: ", out);
    safe_print (out, e->description, false);
    putc ('\n', out);
  }
  human_size (hs, (uint64_t) e->size, &suffix);
  fprintf (out, "\texport-size: %" PRIi64, e->size);
  if (suffix)
    fprintf (out, " (%s)", hs);
  putc ('\n', out);
  if (e->content) {
    fputs ("\tcontent: ", out);
    safe_print (out, e->content, false);
    putc ('\n', out);
  }
  if (e->uri) {
    fputs ("\turi: ", out);
    safe_print (out, e->uri, false);
    putc ('\n', out);
  }
  paint (out, color, ANSI_RESET);
  paint (out, color, ANSI_GREY);
  if (e->contexts.count > 0) {
    fputs ("\tcontexts:\n", out);
    for (size_t i = 0; i < e->contexts.count; i++) {
      fputs ("\t\t", out);
      safe_print (out, e->contexts.names[i], false);
      putc ('\n', out);
    }
  }
  for (size_t i = 0; i < NR_FLAGS; i++) {
    if (flags[i].capability)
      paint (out, color, e->flag_values[i] ? ANSI_GREEN : ANSI_RED);
    print_bool_text (out, flags[i].key, e->flag_values[i]);
    /* The grey begun before the contexts ends after the first flag. */
    if (flags[i].capability || i == 0)
      paint (out, color, ANSI_RESET);
  }
  for (size_t i = 0; i < NR_BLOCK_SIZES; i++) {
    if (e->block_sizes[i] <= 0)
      continue;
    human_size (hs, (uint64_t) e->block_sizes[i], &suffix);
    fprintf (out, "\t%s: %" PRIi64, block_size_keys[i], e->block_sizes[i]);
    if (suffix)
      fprintf (out, " (%s)", hs);
    putc ('\n', out);
  }
}

static void
print_json_key_string (FILE *out, const char *key, const char *value)
{
  fprintf (out, "\t\"%s\": ", key);
  json_print_string (out, value);
  fputs (",\n", out);
}

static void
print_export_json (FILE *out, const struct export_info *e)
{
  char hs[HUMAN_SIZE_LEN];

  fputs ("\t{\n", out);
  print_json_key_string (out, "export-name", e->name);
  if (e->description)
    print_json_key_string (out, "description", e->description);
  if (e->content)
    print_json_key_string (out, "content", e->content);
  if (e->uri)
    print_json_key_string (out, "uri", e->uri);
  if (e->contexts.count > 0) {
    fputs ("\t\"contexts\": [\n", out);
    for (size_t i = 0; i < e->contexts.count; i++) {
      fputs ("\t\t", out);
      json_print_string (out, e->contexts.names[i]);
      fputs (i + 1 < e->contexts.count ? ",\n" : "\n", out);
    }
    fputs ("\t],\n", out);
  }
  for (size_t i = 0; i < NR_FLAGS; i++)
    fprintf (out, "\t\"%s\": %s,\n", flags[i].key,
             e->flag_values[i] ? "true" : "false");
  for (size_t i = 0; i < NR_BLOCK_SIZES; i++)
    if (e->block_sizes[i] > 0)
      fprintf (out, "\t\"%s\": %" PRIi64 ",\n", block_size_keys[i],
               e->block_sizes[i]);
  fprintf (out, "\t\"export-size\": %" PRIi64 ",\n", e->size);
  fprintf (out, "\t\"export-size-str\": \"%s\"\n",
           human_size (hs, (uint64_t) e->size, NULL));
  fputs ("\t}", out);
}

struct protocol {
  const char *name;
  int tls, structured, extended;
};

static int
gather_protocol (struct nbd_handle *h, struct protocol *p)
{
  p->name = nbd_get_protocol (h);
  p->tls = nbd_get_tls_negotiated (h);
  p->structured = nbd_get_structured_replies_negotiated (h);
  p->extended = nbd_get_extended_headers_negotiated (h);
  if (p->name == NULL || p->tls == -1 || p->structured == -1 ||
      p->extended == -1)
    return -1;
  return 0;
}

static void
print_all (FILE *out, const struct protocol *p, const struct export_info *e,
           size_t count, const struct info_options *o)
{
  if (o->json) {
    fputs ("{\n", out);
    fputs ("\"protocol\": ", out);
    json_print_string (out, p->name);
    fprintf (out, ",\n\"TLS\": %s,\n", p->tls ? "true" : "false");
    fprintf (out, "\"structured\": %s,\n", p->structured ? "true" : "false");
    fprintf (out, "\"extended\": %s,\n", p->extended ? "true" : "false");
    fputs ("\"exports\": [\n", out);
    for (size_t i = 0; i < count; i++) {
      print_export_json (out, &e[i]);
      fputs (i + 1 < count ? ",\n" : " ]\n", out);
    }
    if (count == 0)
      fputs ("]\n", out);
    fputs ("}\n", out);
    return;
  }
  paint (out, o->color, ANSI_GREY);
  fprintf (out, "protocol: ");
  safe_print (out, p->name, false);
  fprintf (out, " %s TLS, using %s packets\n",
           p->tls ? "with" : "without",
           p->extended ? "extended" : p->structured ? "structured" : "simple");
  paint (out, o->color, ANSI_RESET);
  for (size_t i = 0; i < count; i++)
    print_export_text (out, &e[i], o->color);
}

/* One export, the one the target names: its contexts are listed while
 * negotiating, then NBD_OPT_GO makes the content readable. */
static int
gather_one (struct nbd_handle *h, const struct target *t,
            const struct info_options *o, struct export_info *e)
{
  e->name = nbd_get_export_name (h);
  if (e->name == NULL)
    return -1;
  gather_contexts (h, e);
  if (nbd_aio_is_negotiating (h) == 1 && nbd_opt_go (h) == -1)
    return -1;
  if (gather_flags (h, e) == -1)
    return -1;
  gather_uri (h, t, e);
  if (o->content)
    e->content = probe_content (h, e->size);
  return 0;
}

/* Every export the server lists, each described by NBD_OPT_INFO on the
 * same connection. */
static int
gather_list (struct nbd_handle *h, const struct target *t,
             const struct info_options *o, struct export_info **exports,
             size_t *count)
{
  struct name_list names = { 0 };
  nbd_list_callback cb = { .callback = collect_name, .user_data = &names };
  struct export_info *e;

  if (nbd_aio_is_negotiating (h) != 1) {
    fprintf (stderr, "%s: --list: the server does not support listing "
             "exports (it is not in option negotiation)\n", TOOL);
    return -1;
  }
  if (nbd_opt_list (h, cb) == -1) {
    report_nbd_error (TOOL);
    name_list_free (&names);
    return -1;
  }
  e = calloc (names.count ? names.count : 1, sizeof *e);
  if (e == NULL) {
    name_list_free (&names);
    return -1;
  }
  *exports = e;
  *count = 0;
  for (size_t i = 0; i < names.count; i++) {
    struct export_info *x = &e[i];

    (*count)++;
    x->name = strdup (names.names[i]);
    if (names.descriptions[i])
      x->description = strdup (names.descriptions[i]);
    if (x->name == NULL || nbd_set_export_name (h, x->name) == -1 ||
        nbd_opt_info (h) == -1 || gather_flags (h, x) == -1) {
      report_nbd_error (TOOL);
      name_list_free (&names);
      return -1;
    }
    gather_contexts (h, x);
    gather_uri (h, t, x);
    if (o->content)
      x->content = probe_content_of (t, x->name);
  }
  name_list_free (&names);
  return 0;
}

int
show_info (struct nbd_handle *h, const struct target *t,
           const struct info_options *o, FILE *out)
{
  struct export_info one = { 0 };
  struct export_info *exports = NULL;
  size_t count = 0;
  struct protocol p;
  int r = -1;

  if (o->list) {
    if (gather_list (h, t, o, &exports, &count) == -1)
      goto out;
  }
  else {
    if (gather_one (h, t, o, &one) == -1) {
      report_nbd_error (TOOL);
      goto out;
    }
    exports = &one;
    count = 1;
  }
  if (gather_protocol (h, &p) == -1) {
    report_nbd_error (TOOL);
    goto out;
  }
  print_all (out, &p, exports, count, o);
  r = 0;
 out:
  if (o->list) {
    for (size_t i = 0; i < count; i++)
      export_info_free (&exports[i]);
    free (exports);
  }
  else
    export_info_free (&one);
  return r;
}
