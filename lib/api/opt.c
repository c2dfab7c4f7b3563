/* Option mode: nbd_opt_* and nbd_aio_opt_*.  Each sync call is its aio
 * twin plus a wait until the option is over. */
#include <stdlib.h>
#include <string.h>

#include "api/internal.h"
#include "api/io.h"
#include "engine/engine.h"
#include "wire/wire.h"

static void
free_closures (nbd_list_callback *l, nbd_context_callback *c,
               nbd_completion_callback *done)
{
  if (l && l->free)
    l->free (l->user_data);
  if (c && c->free)
    c->free (c->user_data);
  if (done && done->free)
    done->free (done->user_data);
}

static int
start (struct nbd_handle *h, uint32_t code, nbd_list_callback list,
       nbd_context_callback context, nbd_completion_callback completion,
       struct nbdi_strlist *queries)
{
  struct nbdi_option_request opt = {
    .code = code, .list = list, .context = context, .completion = completion,
    .queries = queries,
  };
  int r;

  /* Meta context options go to the server even without structured
   * replies: its answer, not a guess of ours, decides. */
  r = nbdi_engine_option_start (h->engine, &opt);
  if (r < 0) {
    if (nbdi_get_state (h) == NBDI_STATE_DEAD)
      nbdi_set_dead_error (h);
    else
      nbdi_set_error (-r, "%s", strerror (-r));
    return -1;
  }
  /* The option leaves at once, as in libnbd: an event loop may wait for
   * POLLIN only until the answer comes.  One started by a callback
   * during a receive leaves when that receive ends. */
  if (!h->io.in_receive)
    (void) nbdi_io_send (h);    /* a failure ends the option with the error */
  return 0;
}

/* Copy a NULL-terminated query list; NULL with ENOMEM set. */
static struct nbdi_strlist *
copy_queries (char **queries)
{
  struct nbdi_strlist *list = calloc (1, sizeof *list);

  if (list == NULL) {
    nbdi_set_error (ENOMEM, "out of memory");
    return NULL;
  }
  for (size_t i = 0; queries[i]; i++) {
    if (nbdi_strlist_append (list, queries[i]) == -1) {
      nbdi_set_error (ENOMEM, "out of memory");
      nbdi_strlist_free (list);
      free (list);
      return NULL;
    }
  }
  return list;
}


int
nbdi_aio_opt_go (struct nbd_handle *h, nbd_completion_callback cb)
{
  return start (h, NBD_OPT_GO, (nbd_list_callback) { 0 }, (nbd_context_callback) { 0 },
                cb, NULL);
}

int
nbdi_aio_opt_info (struct nbd_handle *h, nbd_completion_callback cb)
{
  return start (h, NBD_OPT_INFO, (nbd_list_callback) { 0 }, (nbd_context_callback) { 0 },
                cb, NULL);
}

int
nbdi_aio_opt_list (struct nbd_handle *h, nbd_list_callback list,
                   nbd_completion_callback cb)
{
  return start (h, NBD_OPT_LIST, list, (nbd_context_callback) { 0 }, cb, NULL);
}

int
nbdi_aio_opt_list_meta_context (struct nbd_handle *h, nbd_context_callback ctx,
                                nbd_completion_callback cb)
{
  return start (h, NBD_OPT_LIST_META_CONTEXT, (nbd_list_callback) { 0 }, ctx, cb, NULL);
}

/* The _queries forms: the same option with the caller's own list. */
static int
start_with_queries (struct nbd_handle *h, uint32_t code, char **queries,
                    nbd_context_callback ctx, nbd_completion_callback cb)
{
  struct nbdi_strlist *q = copy_queries (queries);

  if (q == NULL) {
    free_closures (NULL, &ctx, &cb);
    return -1;
  }
  return start (h, code, (nbd_list_callback) { 0 }, ctx, cb, q);
}

int
nbdi_aio_opt_list_meta_context_queries (struct nbd_handle *h, char **queries,
                                        nbd_context_callback ctx,
                                        nbd_completion_callback cb)
{
  return start_with_queries (h, NBD_OPT_LIST_META_CONTEXT, queries, ctx, cb);
}

int
nbdi_aio_opt_set_meta_context (struct nbd_handle *h, nbd_context_callback ctx,
                               nbd_completion_callback cb)
{
  return start (h, NBD_OPT_SET_META_CONTEXT, (nbd_list_callback) { 0 }, ctx, cb, NULL);
}

int
nbdi_aio_opt_set_meta_context_queries (struct nbd_handle *h, char **queries,
                                       nbd_context_callback ctx,
                                       nbd_completion_callback cb)
{
  return start_with_queries (h, NBD_OPT_SET_META_CONTEXT, queries, ctx, cb);
}

/* A feature already agreed is asked for again all the same, as libnbd
 * does: the program may be testing how a server answers that (the
 * protocol calls it a client error; servers usually refuse it, and a
 * refusal takes nothing away). */
static int
feature_option (struct nbd_handle *h, uint32_t code, nbd_completion_callback cb)
{
  return start (h, code, (nbd_list_callback) { 0 }, (nbd_context_callback) { 0 },
                cb, NULL);
}

int
nbdi_aio_opt_structured_reply (struct nbd_handle *h, nbd_completion_callback cb)
{
  return feature_option (h, NBD_OPT_STRUCTURED_REPLY, cb);
}

int
nbdi_aio_opt_extended_headers (struct nbd_handle *h, nbd_completion_callback cb)
{
  return feature_option (h, NBD_OPT_EXTENDED_HEADERS, cb);
}

int
nbdi_aio_opt_starttls (struct nbd_handle *h, nbd_completion_callback cb)
{
  return feature_option (h, NBD_OPT_STARTTLS, cb);
}

int
nbdi_aio_opt_abort (struct nbd_handle *h)
{
  return nbdi_abort_negotiation (h);
}

/* ---- sync forms ---- */

static bool
option_over (struct nbd_handle *h, void *arg)
{
  (void) arg;
  return nbdi_get_state (h) != NBDI_STATE_OPT_PENDING;
}

/* The sync option calls (generated from the table) are their aio twin
 * followed by one of these.  Wait for the option started by r, then
 * report its outcome: the number of items it saw, or -1 with the
 * server's reason. */
int
nbdi_wait_option_count (struct nbd_handle *h, int r)
{
  struct nbdi_option_result res;

  if (r == -1)
    return -1;
  if (nbdi_io_wait (h, option_over, NULL) == -1)
    return -1;
  nbdi_engine_option_result (h->engine, &res);
  if (res.err) {
    if (nbdi_get_state (h) == NBDI_STATE_DEAD)
      nbdi_set_dead_error (h);
    else if (res.server_msg)
      nbdi_set_error (res.err, "%s", res.server_msg);
    else
      nbdi_set_error (res.err, "the server refused the option: %s",
                      strerror (res.err));
    return -1;
  }
  return res.count;
}

/* The same for options that report no items. */
int
nbdi_wait_option_done (struct nbd_handle *h, int r)
{
  return nbdi_wait_option_count (h, r) < 0 ? -1 : 0;
}

/* The feature options answer whether the server agreed; a refusal is
 * not an error. */
static int
feature_result (struct nbd_handle *h, int r)
{
  struct nbdi_option_result res;

  if (r == -1)
    return -1;
  if (nbdi_io_wait (h, option_over, NULL) == -1)
    return -1;
  if (nbdi_get_state (h) == NBDI_STATE_DEAD) {
    nbdi_set_dead_error (h);
    return -1;
  }
  nbdi_engine_option_result (h->engine, &res);
  return res.err == 0;
}

int
nbdi_opt_structured_reply (struct nbd_handle *h)
{
  return feature_result (h, nbdi_aio_opt_structured_reply (h, NBD_NULL_COMPLETION));
}

int
nbdi_opt_extended_headers (struct nbd_handle *h)
{
  return feature_result (h, nbdi_aio_opt_extended_headers (h, NBD_NULL_COMPLETION));
}

int
nbdi_opt_starttls (struct nbd_handle *h)
{
  return feature_result (h, nbdi_aio_opt_starttls (h, NBD_NULL_COMPLETION));
}

/* As in libnbd, the sync form does not wait for the server either:
 * nothing it could answer would change the outcome. */
int
nbdi_opt_abort (struct nbd_handle *h)
{
  return nbdi_abort_negotiation (h);
}
