/* The end checks of an iteration that need no handle. */
#include "fz-iter.h"

#include <string.h>

void
fz_cmd_prepare (struct fz_iter *it, int i)
{
  struct fz_cmd *c = &it->cmds[i];
  size_t buflen = c->count ? c->count : 1;

  c->comp = (struct fz_cb) { .it = it, .owner = i };
  c->data = (struct fz_cb) { .it = it, .owner = i };
  c->cookie = -1;
  c->attempted = true;
  if (c->type == C_PREAD || c->type == C_PREAD_SR || c->type == C_PWRITE) {
    c->buf = fz_exact_buffer (i, buflen);      /* exact size: ASan sees overruns */
    if (c->type == C_PWRITE)
      fz_disk_fill (c->buf, c->offset, buflen);
    /* 0xa5 where the engine must write: a byte it leaves shows up in
     * the checks, whatever an earlier iteration left in the buffer.
     * Only a plain read in a damaged transcript is never looked at
     * (fz_check_unmutated compares the buffer; chunk callbacks, only
     * pread_structured's, check holes in every run). */
    else if (c->type == C_PREAD_SR || it->unmutated)
      memset (c->buf, 0xa5, buflen);
  }
}

bool
fz_all_done (struct fz_iter *it)
{
  for (int i = 0; i < it->ncmds; i++)
    if (it->cmds[i].attempted && it->cmds[i].cookie != -1
        && it->cmds[i].comp.calls == 0)
      return false;
  return true;
}

void
fz_check_completions (struct fz_iter *it)
{
  for (int i = 0; i < it->ncmds; i++) {
    struct fz_cmd *c = &it->cmds[i];
    if (!c->attempted || c->cookie == -1)
      continue;
    if ((it->ended_dead || it->ended_closed) && !it->hung)
      ICHECK (it, c->comp.calls == 1,
              "%s: completion called %d times on a %s connection", fz_cmd_name[c->type],
              c->comp.calls, it->ended_dead ? "dead" : "closed");
  }
  for (int i = 0; i < it->nopts && i < it->curopt; i++) {
    struct fz_opt *o = &it->opts[i];
    if (o->rc == 0 && o->type != O_ABORT && !it->hung)
      ICHECK (it, o->comp.calls == 1, "%s: completion called %d times",
              fz_opt_name[o->type], o->comp.calls);
  }
}

static void
fz_check_cb_after_close (struct fz_iter *it, const struct fz_cb *cb,
                         const char *what, const char *which, bool present)
{
  if (!present)
    return;
  ICHECK (it, cb->frees == 1, "%s: %s closure freed %d times", what, which, cb->frees);
  ICHECK (it, cb->calls_after_free == 0, "%s: %s called %d times after its free",
          what, which, cb->calls_after_free);
}

void
fz_check_after_close (struct fz_iter *it)
{
  for (int i = 0; i < it->ncmds; i++) {
    struct fz_cmd *c = &it->cmds[i];
    const char *w = fz_cmd_name[c->type];
    if (!c->attempted)
      continue;
    fz_check_cb_after_close (it, &c->comp, w, "completion", true);
    fz_check_cb_after_close (it, &c->data, w, "chunk/extent", c->has_data_cb);
    ICHECK (it, c->comp.calls <= 1, "%s: completion called %d times", w, c->comp.calls);
    ICHECK (it, c->cookie != -1 || c->comp.calls == 0,
            "%s: refused, yet its completion ran", w);
    ICHECK (it, c->data_after_comp == 0, "%s: %d data callbacks after completion",
            w, c->data_after_comp);
    ICHECK (it, c->bad_range == 0, "%s off=%" PRIu64 " count=%" PRIu64
            ": %d chunk callbacks outside the request", w, c->offset, c->count,
            c->bad_range);
    ICHECK (it, c->bad_status == 0, "%s: %d callbacks with a bad status/context",
            w, c->bad_status);
    ICHECK (it, c->odd_entries == 0, "%s: odd number of extent entries", w);
    ICHECK (it, c->hole_not_zero == 0, "%s: a hole chunk with non-zero bytes", w);
    ICHECK (it, c->data_mismatch == 0, "%s: %d data chunks with wrong bytes",
            w, c->data_mismatch);
    ICHECK (it, c->zero_entries == 0, "%s: %d extent callbacks with no entries",
            w, c->zero_entries);
  }
  for (int i = 0; i < it->nopts && i < it->curopt; i++) {
    struct fz_opt *o = &it->opts[i];
    const char *w = fz_opt_name[o->type];
    if (o->type == O_ABORT)
      continue;
    fz_check_cb_after_close (it, &o->comp, w, "completion", true);
    fz_check_cb_after_close (it, &o->data, w, "list/context", o->has_data_cb);
    ICHECK (it, o->comp.calls <= 1, "%s: completion called %d times", w, o->comp.calls);
    ICHECK (it, o->comp_err != -1000, "%s: NULL string passed to a callback", w);
  }
}

/* Strong checks for a transcript nobody damaged. */
void
fz_check_unmutated (struct fz_iter *it)
{
  bool went = !it->cl.opt_mode;
  for (int i = 0; i < it->nopts; i++)
    if (it->opts[i].type == O_GO)
      went = true;
  if (went)
    ICHECK (it, it->reached_ready, "valid transcript, yet the handle never became ready");
  /* NBD_OPT_ABORT cannot be sent unless both sides speak fixed
   * newstyle (the server's greeting and the client's handshake flags):
   * aborting then ends in the dead state, as in libnbd. */
  bool unfixed = it->srv.cfg.style == 1
                 || (it->cl.hs_flags & LIBNBD_HANDSHAKE_FLAG_FIXED_NEWSTYLE) == 0;
  bool abort_unfixed = false;
  for (int i = 0; i < it->nopts; i++)
    if (it->opts[i].type == O_ABORT && unfixed)
      abort_unfixed = true;
  ICHECK (it, !it->ended_dead || abort_unfixed, "valid transcript, yet the handle died");
  for (int i = 0; i < it->ncmds; i++) {
    struct fz_cmd *c = &it->cmds[i];
    if (!c->attempted || c->cookie == -1)
      continue;
    int want = fz_srv_expected (&it->srv, (uint64_t) c->cookie);
    bool early = it->cl.early_disc;
    ICHECK (it, c->comp.calls == 1 || early, "%s: completion called %d times",
            fz_cmd_name[c->type], c->comp.calls);
    if (c->comp.calls != 1)
      continue;
    if (want == 0 && !c->user_failed)
      ICHECK (it, c->comp_err == 0, "%s off=%" PRIu64 " count=%" PRIu64
              ": failed with %d on a valid reply", fz_cmd_name[c->type],
              c->offset, c->count, c->comp_err);
    else if (want > 0 || c->user_failed)
      ICHECK (it, c->comp_err != 0, "%s: succeeded though the %s failed it",
              fz_cmd_name[c->type], c->user_failed ? "callback" : "server");
    if (c->comp_err == 0 && (c->type == C_PREAD || c->type == C_PREAD_SR)) {
      uint64_t k = fz_disk_mismatch (c->buf, c->offset, c->count);
      uint64_t bad = 0, last = k;
      for (uint64_t j = k; j < c->count; j++)
        if (c->buf[j] != fz_disk_byte (c->offset + j)) {
          bad++;
          last = j;
        }
      ICHECK (it, k == c->count, "%s off=%" PRIu64 " count=%" PRIu64
              ": %" PRIu64 " wrong bytes in +%" PRIu64 "..+%" PRIu64
              " (first: %#x, want %#x)", fz_cmd_name[c->type], c->offset,
              c->count, bad, k, last, k < c->count ? c->buf[k] : 0,
              k < c->count ? fz_disk_byte (c->offset + k) : 0);
    }
    ICHECK (it, c->extent_mismatch == 0, "%s: extents disagree with the export",
            fz_cmd_name[c->type]);
    if (c->comp_err == 0 && (c->type == C_BS || c->type == C_BS64 || c->type == C_BSF)) {
      bool want_base = it->srv.meta_set && (c->type != C_BSF || (c->filter & 1));
      bool want_second = it->srv.meta2_set && (c->type != C_BSF || (c->filter & 2));
      ICHECK (it, c->base_calls == want_base && c->second_calls == want_second,
              "%s: extents for base:allocation %d times, fuzz:second %d times; "
              "expected %d and %d", fz_cmd_name[c->type], c->base_calls,
              c->second_calls, want_base, want_second);
    }
  }
  for (int i = 0; i < it->curopt; i++) {
    struct fz_opt *o = &it->opts[i];
    if (o->type == O_LIST && o->rc == 0 && o->comp_err == 0 && it->srv.cfg.style == 0)
      ICHECK (it, o->items == it->srv.cfg.nexports, "opt_list: %d exports, expected %d",
              o->items, it->srv.cfg.nexports);
  }
}

void
fz_check_expectation (struct fz_iter *it)
{
  switch (it->expect) {
  case EXP_ANY:
    break;
  case EXP_NOT_READY:
    ICHECK (it, !it->reached_ready, "the handle became ready on a bad handshake");
    break;
  case EXP_DEAD:
    ICHECK (it, it->ended_dead, "the handle survived (state %s)", it->end_state);
    break;
  case EXP_CMD_FAILS: {
    struct fz_cmd *c = &it->cmds[0];
    ICHECK (it, it->reached_ready, "never became ready");
    ICHECK (it, !it->reached_ready || (c->attempted && c->cookie != -1),
            "the command was refused");
    ICHECK (it, c->comp.calls == 0 || c->comp_err != 0,
            "%s succeeded on a bad reply", fz_cmd_name[c->type]);
    break;
  }
  case EXP_OPT_FAILS: {
    struct fz_opt *o = &it->opts[0];
    ICHECK (it, it->curopt >= 1, "the option was never issued");
    ICHECK (it, o->rc == -1 || o->comp.calls == 0 || o->comp_err != 0,
            "%s succeeded on a bad reply (%d items)", fz_opt_name[o->type], o->items);
    break;
  }
  }
}

