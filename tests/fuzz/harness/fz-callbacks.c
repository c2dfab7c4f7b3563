/* The closures the client driver hands to the library. */
#include "fz-callbacks.h"

#include <string.h>

static void
fz_cb_enter (struct fz_cb *cb)
{
  cb->calls++;
  if (cb->frees)
    cb->calls_after_free++;
}

void
fz_cb_free (void *ud)
{
  struct fz_cb *cb = ud;
  cb->frees++;
}

static struct fz_cmd *
fz_cmd_of (struct fz_cb *cb)
{
  return &cb->it->cmds[cb->owner];
}

int
fz_cmd_completion (void *ud, int *error)
{
  struct fz_cb *cb = ud;
  struct fz_cmd *c = fz_cmd_of (cb);
  fz_cb_enter (cb);
  c->comp_err = error ? *error : -1;
  /* Issue the next command from inside the callback (fastnbd allows aio
   * calls there; on a dying handle they must fail cleanly). */
  if (c->spawn && cb->it->issue_cmd)
    for (int i = 0; i < cb->it->ncmds; i++)
      if (cb->it->cmds[i].wave == 1 && !cb->it->cmds[i].attempted) {
        cb->it->issue_cmd (cb->it, i);
        break;
      }
  return c->manual_retire ? 0 : 1;
}

static int
fz_data_failure (struct fz_cmd *c, int *error)
{
  if (c->user_fail && !c->user_failed) {
    c->user_failed = true;
    *error = EUCLEAN;
    return -1;
  }
  return 0;
}

int
fz_chunk_cb (void *ud, const void *subbuf, size_t count, uint64_t offset,
             unsigned status, int *error)
{
  struct fz_cb *cb = ud;
  struct fz_cmd *c = fz_cmd_of (cb);
  const uint8_t *p = subbuf;

  fz_cb_enter (cb);
  if (c->comp.calls)
    c->data_after_comp++;
  if (status != LIBNBD_READ_DATA && status != LIBNBD_READ_HOLE
      && status != LIBNBD_READ_ERROR)
    c->bad_status++;
  if (count && (offset < c->offset || offset - c->offset > c->count
                || count > c->count - (offset - c->offset)))
    c->bad_range++;
  else if (count && p) {
    /* Compare every byte (memcmp also makes ASan check the whole range
     * at once: any pointer outside the buffer is reported). */
    if (status == LIBNBD_READ_HOLE) {
      if (p[0] || (count > 1 && memcmp (p, p + 1, count - 1) != 0))
        c->hole_not_zero++;
    }
    else if (fz_disk_mismatch (p, offset, count) != count
             && status == LIBNBD_READ_DATA && cb->it->unmutated)
      c->data_mismatch++;
  }
  return fz_data_failure (c, error);
}

static void
fz_extent_common (struct fz_cb *cb, struct fz_cmd *c, const char *ctx,
                  uint64_t offset, size_t n, uint64_t first_flags)
{
  fz_cb_enter (cb);
  if (c->comp.calls)
    c->data_after_comp++;
  if (ctx == NULL)
    c->bad_status++;
  else
    (void) strlen (ctx);
  if (n == 0)
    c->zero_entries++;
  if (ctx && strcmp (ctx, "fuzz:second") == 0)
    c->second_calls++;
  else if (ctx && strcmp (ctx, "base:allocation") == 0)
    c->base_calls++;
  if (cb->it->unmutated) {
    bool second = ctx && strcmp (ctx, "fuzz:second") == 0;
    if (ctx == NULL || offset != c->offset
        || (!second && strcmp (ctx, "base:allocation") != 0)
        || (second && (n != 1 || first_flags != 0x5a))
        || (!second && n && first_flags != (fz_is_zero_region (c->offset) ? 3u : 0u))
        || (c->type == C_BSF && !(c->filter & (second ? 2 : 1))))
      c->extent_mismatch++;
  }
}

int
fz_extent_cb (void *ud, const char *ctx, uint64_t offset, uint32_t *entries,
              size_t n, int *error)
{
  struct fz_cb *cb = ud;
  struct fz_cmd *c = fz_cmd_of (cb);
  volatile uint32_t sink = 0;
  for (size_t i = 0; i < n; i++)
    sink ^= entries[i];
  (void) sink;
  if (n % 2)
    c->odd_entries++;
  fz_extent_common (cb, c, ctx, offset, n / 2, n >= 2 ? entries[1] : 0);
  return fz_data_failure (c, error);
}

int
fz_extent64_cb (void *ud, const char *ctx, uint64_t offset, nbd_extent *entries,
                size_t n, int *error)
{
  struct fz_cb *cb = ud;
  struct fz_cmd *c = fz_cmd_of (cb);
  volatile uint64_t sink = 0;
  for (size_t i = 0; i < n; i++)
    sink ^= entries[i].length ^ entries[i].flags;
  (void) sink;
  fz_extent_common (cb, c, ctx, offset, n, n ? entries[0].flags : 0);
  return fz_data_failure (c, error);
}

/* Options. */
static struct fz_opt *
fz_opt_of (struct fz_cb *cb)
{
  return &cb->it->opts[cb->owner];
}

int
fz_opt_completion (void *ud, int *error)
{
  struct fz_cb *cb = ud;
  fz_cb_enter (cb);
  fz_opt_of (cb)->comp_err = error ? *error : -1;
  return 1;
}

int
fz_list_cb (void *ud, const char *name, const char *desc)
{
  struct fz_cb *cb = ud;
  fz_cb_enter (cb);
  if (name == NULL || desc == NULL)
    fz_opt_of (cb)->comp_err = -1000;
  else
    (void) (strlen (name) + strlen (desc));
  fz_opt_of (cb)->items++;
  return 0;
}

int
fz_context_cb (void *ud, const char *name)
{
  struct fz_cb *cb = ud;
  fz_cb_enter (cb);
  if (name == NULL)
    fz_opt_of (cb)->comp_err = -1000;
  else
    (void) strlen (name);
  fz_opt_of (cb)->items++;
  return 0;
}

int
fz_extra_completion (void *ud, int *error)
{
  (void) error;
  fz_cb_enter (ud);
  return 1;
}

nbd_completion_callback
fz_completion_for (struct fz_cb *cb, int (*fn) (void *, int *))
{
  return (nbd_completion_callback) { .callback = fn, .user_data = cb, .free = fz_cb_free };
}
