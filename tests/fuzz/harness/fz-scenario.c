/* Random client settings, server personalities and mutations. */
#include "fz-iter.h"

#include <stdio.h>
#include <stdlib.h>

const char *const fz_cmd_name[C_NTYPES] = {
  "pread", "pread_structured", "pwrite", "block_status", "block_status_64",
  "flush", "trim", "zero", "cache", "block_status_filter",
};

const char *const fz_opt_name[O_NTYPES] = {
  "opt_list", "opt_list_meta_context", "opt_set_meta_context", "opt_info",
  "opt_structured_reply", "opt_extended_headers", "opt_go", "opt_abort",
};

void
fz_check (struct fz_iter *it, bool ok, const char *file, int line,
          const char *fmt, ...)
{
  char msg[512];
  va_list ap;

  if (ok) {
    test_count ();
    return;
  }
  va_start (ap, fmt);
  vsnprintf (msg, sizeof msg, fmt, ap);
  va_end (ap);
  test_check_at (false, file, line, "%s  [%s]", msg, it->label);
  it->failures++;
}

void
fz_random_setup (struct fz_iter *it)
{
  struct fz_rng *r = &it->rng;
  struct fz_client *c = &it->cl;
  struct fz_srvcfg *sc = &it->srv.cfg;

  c->req_sr = fz_chance (r, 85);
  c->req_ext = fz_chance (r, 55);
  c->meta = fz_chance (r, 70);
  c->meta2 = fz_chance (r, 30);
  c->opt_mode = fz_chance (r, 25);
  c->full_info = fz_chance (r, 30);
  c->req_bs = fz_chance (r, 60);
  c->pread_init = fz_chance (r, 50);
  c->strict_default = fz_chance (r, 80);
  c->strict = fz_below (r, LIBNBD_STRICT_MASK + 1);
  c->hs_flags = fz_chance (r, 85) ? 3 : fz_below (r, 4);
  c->export_name = fz_chance (r, 85) ? "" : "second";
  c->early_disc = fz_chance (r, 5);
  c->final_disc = fz_chance (r, 60);

  unsigned style = fz_below (r, 100);
  sc->style = style < 86 ? 0 : style < 93 ? 1 : 2;
  sc->no_zeroes = fz_chance (r, 85);
  sc->accept_sr = fz_chance (r, 85);
  sc->accept_ext = fz_chance (r, 60);
  sc->meta = fz_chance (r, 85);
  sc->meta2 = fz_chance (r, 50);
  sc->interleave = fz_chance (r, 50);
  sc->eflags = W_EF_HAS_FLAGS;
  static const uint16_t optional[] = {
    W_EF_SEND_FLUSH, W_EF_SEND_FUA, W_EF_ROTATIONAL, W_EF_SEND_TRIM,
    W_EF_SEND_ZEROES, W_EF_SEND_DF, W_EF_MULTI_CONN, W_EF_SEND_CACHE,
    W_EF_FAST_ZERO, W_EF_BS_PAYLOAD,
  };
  for (size_t i = 0; i < sizeof optional / sizeof optional[0]; i++)
    if (fz_chance (r, 75))
      sc->eflags |= optional[i];
  if (fz_chance (r, 8))
    sc->eflags |= W_EF_READ_ONLY;
  sc->size = fz_chance (r, 90) ? FZ_EXPORT_SIZE : 1 + fz_below (r, 200000);
  sc->block_size_info = fz_chance (r, 40);
  sc->bs_min = fz_chance (r, 80) ? 1 : 512;
  sc->bs_pref = 4096;
  sc->bs_max = fz_chance (r, 80) ? 32u << 20 : 65536;
  sc->reorder = fz_chance (r, 40);
  sc->holes = fz_chance (r, 50);
  sc->split = fz_chance (r, 50);
  sc->sr_simple = fz_chance (r, 30);
  sc->none_done = fz_chance (r, 30);
  sc->err_pct = fz_chance (r, 25) ? 25 : 0;
  sc->piece_max = fz_chance (r, 50) ? 0 : 1 + fz_below (r, 64);
  sc->nexports = 1 + fz_below (r, 3);

  /* Commands. */
  it->ncmds = 1 + fz_below (r, 8);
  for (int i = 0; i < it->ncmds; i++) {
    struct fz_cmd *cmd = &it->cmds[i];
    static const enum fz_cmd_type weighted[] = {
      C_PREAD, C_PREAD, C_PREAD_SR, C_PREAD_SR, C_PREAD_SR, C_PWRITE, C_PWRITE,
      C_BS, C_BS, C_BS64, C_BS64, C_FLUSH, C_TRIM, C_ZERO, C_CACHE, C_BSF,
    };
    cmd->type = weighted[fz_below (r, sizeof weighted / sizeof weighted[0])];
    cmd->count = fz_chance (r, 70) ? 1 + fz_below (r, 65536) : 1 + fz_below (r, 512);
    if (fz_chance (r, 5))
      cmd->count = 131072 + fz_below (r, 1u << 20);   /* beyond the receive buffer */
    if (fz_chance (r, 40))
      cmd->count = (cmd->count + 4095) & ~(uint64_t) 4095;
    uint64_t lim = sc->size > cmd->count ? sc->size - cmd->count : 0;
    cmd->offset = fz_below (r, (uint32_t) lim + 1);
    if (fz_chance (r, 40))
      cmd->offset &= ~(uint64_t) 4095;
    if (fz_chance (r, 3))
      cmd->offset = sc->size - fz_below (r, 3);      /* past the end */
    if (cmd->type == C_FLUSH)
      cmd->offset = cmd->count = 0;
    cmd->flags = 0;
    if ((cmd->type == C_PWRITE || cmd->type == C_ZERO || cmd->type == C_TRIM)
        && fz_chance (r, 20))
      cmd->flags |= LIBNBD_CMD_FLAG_FUA;
    if (cmd->type == C_PREAD_SR && fz_chance (r, 20))
      cmd->flags |= LIBNBD_CMD_FLAG_DF;
    cmd->filter = 1 + fz_below (r, 3);
    if ((cmd->type == C_BS || cmd->type == C_BS64 || cmd->type == C_BSF)
        && fz_chance (r, 25))
      cmd->flags |= LIBNBD_CMD_FLAG_REQ_ONE;
    cmd->manual_retire = fz_chance (r, 25);
    cmd->wave = fz_chance (r, 25);
    cmd->spawn = fz_chance (r, 30);
    cmd->user_fail = fz_chance (r, 5);
  }

  /* Options, in opt mode. */
  if (c->opt_mode) {
    it->nopts = fz_below (r, 5);
    for (int i = 0; i < it->nopts; i++)
      it->opts[i].type = fz_below (r, O_GO);
    it->opts[it->nopts++].type = fz_chance (r, 88) ? O_GO : O_ABORT;
  }
}

void
fz_from_fuzzer_input (struct fz_iter *it, const uint8_t *data, size_t size)
{
  static bool dump, dump_known;
  uint64_t h = UINT64_C(1469598103934665603);

  if (!dump_known) {
    dump = getenv ("FUZZ_DUMP") != NULL;
    dump_known = true;
  }
  for (size_t i = 0; i < size; i++)
    h = (h ^ data[i]) * UINT64_C(1099511628211);
  it->rng = (struct fz_rng) { .s = h, .data = data, .len = size };
  snprintf (it->label, sizeof it->label, "libFuzzer input of %zu bytes", size);
  fz_random_setup (it);
  fz_random_mutations (it);
  it->time_limit_ms = 5000;
  it->srv.dump = dump;
  it->verbose = dump;
}

uint64_t
fz_seed_for (uint64_t base, uint64_t i)
{
  uint64_t s = base ^ (i * UINT64_C(0x9e3779b97f4a7c15));
  fz_splitmix (&s);
  return s;
}

void
fz_account (struct fz_stats *st, const struct fz_iter *it)
{
  st->runs++;
  st->ready += it->reached_ready;
  st->dead += it->ended_dead;
  st->closed += it->ended_closed;
  st->unmutated += it->unmutated;
  st->mutations += it->srv.muts_applied;
  st->hung += it->hung;
  st->failed += it->failures != 0;
}

/* Mutations for a fuzzed iteration (none for the unmutated share). */
void
fz_random_mutations (struct fz_iter *it)
{
  struct fz_rng *r = &it->rng;
  it->unmutated = fz_chance (r, 12);
  if (it->unmutated)
    return;
  it->srv.nmuts = 1 + fz_below (r, 3);
  for (int i = 0; i < it->srv.nmuts; i++) {
    it->srv.muts[i].target = fz_chance (r, 50) ? fz_below (r, 8) : fz_below (r, 32);
    it->srv.muts[i].kind = fz_below (r, MUT_N);
  }
}
