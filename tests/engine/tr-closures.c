/* The closures run-transcript hands the engine: each logs its calls (the
 * delivery modes must log the same) and counts calls and frees. */
#include "tr-run.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>

/* ---- closures ---- */

void
closure_free (void *ud)
{
  struct closure *c = ud;
  c->frees++;
}

static void
closure_enter (struct closure *c, int lineno_unused)
{
  (void) lineno_unused;
  c->calls++;
  if (c->frees)
    fail (c->run, 0, "closure of %s %d called after its .free",
          c->owner ? "command" : "option", c->owner);
}

int
cmd_completion (void *ud, int *error)
{
  struct closure *c = ud;
  struct cmd *cmd = &c->run->cmds[c->owner];
  closure_enter (c, 0);
  cmd->done_calls++;
  cmd->err = error ? *error : -1;
  text_add (&c->run->log, "cmd %d complete err=%s\n", c->owner, errno_name (cmd->err));
  if (cmd->done_calls > 1)
    fail (c->run, 0, "command %d completed %d times", c->owner, cmd->done_calls);
  return 1;
}

int
chunk_cb (void *ud, const void *subbuf, size_t count, uint64_t offset,
          unsigned status, int *error)
{
  struct closure *c = ud;
  struct cmd *cmd = &c->run->cmds[c->owner];
  (void) error;
  closure_enter (c, 0);
  cmd->chunk_calls++;
  text_add (&c->run->log, "cmd %d chunk off=%" PRIu64 " len=%zu status=%u ",
            c->owner, offset, count, status);
  for (size_t i = 0; i < count && i < 16; i++)
    text_add (&c->run->log, "%02x", ((const uint8_t *) subbuf)[i]);
  text_add (&c->run->log, "\n");
  if (count && (offset < cmd->offset || offset - cmd->offset > cmd->count
                || count > cmd->count - (offset - cmd->offset)))
    fail (c->run, 0, "command %d: chunk %" PRIu64 "+%zu outside the request",
          c->owner, offset, count);
  return 0;
}

int
extent_cb (void *ud, const char *ctx, uint64_t offset, uint32_t *entries,
           size_t n, int *error)
{
  struct closure *c = ud;
  (void) error;
  closure_enter (c, 0);
  c->run->cmds[c->owner].chunk_calls++;
  text_add (&c->run->log, "cmd %d extent ctx=%s off=%" PRIu64, c->owner,
            ctx ? ctx : "(null)", offset);
  for (size_t i = 0; i < n; i++)
    text_add (&c->run->log, " %" PRIu32, entries[i]);
  text_add (&c->run->log, "\n");
  return 0;
}

int
extent64_cb (void *ud, const char *ctx, uint64_t offset, nbd_extent *entries,
             size_t n, int *error)
{
  struct closure *c = ud;
  (void) error;
  closure_enter (c, 0);
  c->run->cmds[c->owner].chunk_calls++;
  text_add (&c->run->log, "cmd %d extent64 ctx=%s off=%" PRIu64, c->owner,
            ctx ? ctx : "(null)", offset);
  for (size_t i = 0; i < n; i++)
    text_add (&c->run->log, " %" PRIu64 "/%" PRIu64, entries[i].length,
              entries[i].flags);
  text_add (&c->run->log, "\n");
  return 0;
}

int
opt_completion (void *ud, int *error)
{
  struct closure *c = ud;
  closure_enter (c, 0);
  c->run->opt_calls++;
  c->run->opt_err = error ? *error : -1;
  text_add (&c->run->log, "opt complete err=%s\n", errno_name (c->run->opt_err));
  return 1;
}

int
list_cb (void *ud, const char *name, const char *desc)
{
  struct closure *c = ud;
  closure_enter (c, 0);
  c->run->items++;
  text_add (&c->run->log, "opt list name=\"%s\" desc=\"%s\"\n",
            name ? name : "(null)", desc ? desc : "(null)");
  return 0;
}

int
context_cb (void *ud, const char *name)
{
  struct closure *c = ud;
  closure_enter (c, 0);
  c->run->items++;
  text_add (&c->run->log, "opt context \"%s\"\n", name ? name : "(null)");
  return 0;
}

