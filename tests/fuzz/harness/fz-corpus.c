/* The hand-written corpus: valid transcripts that must work exactly, and
 * malformed replies taken from the protocol's MUSTs, each with what the
 * client must at least do about it. */
#include "fz-corpus-int.h"

/* Base configurations. */

static void
base (struct fz_iter *it)
{
  struct fz_client *c = &it->cl;
  struct fz_srvcfg *sc = &it->srv.cfg;

  *c = (struct fz_client) {
    .req_sr = true, .req_ext = false, .meta = true, .req_bs = true,
    .pread_init = true,                    /* the library default */
    .strict_default = true, .hs_flags = 3, .export_name = "",
  };
  *sc = (struct fz_srvcfg) {
    .style = 0, .no_zeroes = true, .accept_sr = true, .accept_ext = false,
    .meta = true, .size = FZ_EXPORT_SIZE, .bs_min = 1, .bs_pref = 4096,
    .bs_max = 32u << 20, .nexports = 2,
    .eflags = W_EF_HAS_FLAGS | W_EF_SEND_FLUSH | W_EF_SEND_FUA | W_EF_SEND_TRIM
            | W_EF_SEND_ZEROES | W_EF_SEND_DF | W_EF_SEND_CACHE,
  };
  it->ncmds = 1;
  it->cmds[0] = (struct fz_cmd) { .type = C_PREAD_SR, .offset = 8192, .count = 4096 };
}

static void setup_connect (struct fz_iter *it) { base (it); }

static void
setup_ext (struct fz_iter *it)
{
  base (it);
  it->cl.req_ext = true;
  it->srv.cfg.accept_ext = true;
}

/* The client asks for extended headers; the server refuses them. */
static void
setup_ext_refused (struct fz_iter *it)
{
  base (it);
  it->cl.req_ext = true;
}

static void
setup_holes (struct fz_iter *it)
{
  base (it);
  it->srv.cfg.holes = true;
  it->cmds[0] = (struct fz_cmd) { .type = C_PREAD_SR, .offset = 0, .count = 16384 };
}

static void
setup_ext_holes (struct fz_iter *it)
{
  setup_holes (it);
  it->cl.req_ext = true;
  it->srv.cfg.accept_ext = true;
}

static void
setup_bs (struct fz_iter *it)
{
  base (it);
  it->cmds[0] = (struct fz_cmd) { .type = C_BS, .offset = 0, .count = 65536 };
}

static void
setup_ext_bs (struct fz_iter *it)
{
  setup_ext (it);
  it->cmds[0] = (struct fz_cmd) { .type = C_BS64, .offset = 0, .count = 65536 };
}

static void
setup_simple (struct fz_iter *it)
{
  base (it);
  it->cl.req_sr = false;
  it->cmds[0].type = C_PREAD;
}

static void
setup_opt (struct fz_iter *it, enum fz_opt_type t)
{
  base (it);
  it->cl.opt_mode = true;
  it->nopts = 2;
  it->opts[0].type = t;
  it->opts[1].type = O_GO;
}

static void setup_opt_list (struct fz_iter *it) { setup_opt (it, O_LIST); }
static void setup_opt_list_meta (struct fz_iter *it) { setup_opt (it, O_LIST_META); }
static void setup_opt_info (struct fz_iter *it) { setup_opt (it, O_INFO); }

static void
setup_opt_info_full (struct fz_iter *it)
{
  setup_opt (it, O_INFO);
  it->cl.full_info = true;
}

static void
setup_no_fixed (struct fz_iter *it)
{
  base (it);
  it->cl.hs_flags = LIBNBD_HANDSHAKE_FLAG_NO_ZEROES;   /* forces EXPORT_NAME */
}

static void
setup_oldstyle (struct fz_iter *it)
{
  base (it);
  it->srv.cfg.style = 2;
}

/* Valid transcripts (checked exactly). */
static void
setup_valid_reversed (struct fz_iter *it)
{
  base (it);
  it->srv.cfg.split = true;
  it->srv.cfg.chunk_order = 2;
  it->cmds[0] = (struct fz_cmd) { .type = C_PREAD, .offset = 0, .count = 8192 };
}

static void
setup_valid_reversed_holes (struct fz_iter *it)
{
  setup_valid_reversed (it);
  it->srv.cfg.holes = true;
  it->cmds[0] = (struct fz_cmd) { .type = C_PREAD_SR, .offset = 8192, .count = 8192 };
}

static void
setup_valid_reversed_ext (struct fz_iter *it)
{
  setup_valid_reversed (it);
  it->cl.req_ext = true;
  it->srv.cfg.accept_ext = true;
}

static void
setup_valid_in_order (struct fz_iter *it)
{
  setup_valid_reversed (it);
  it->srv.cfg.chunk_order = 1;
}

static void
setup_valid_mix (struct fz_iter *it)
{
  setup_ext (it);
  it->srv.cfg.holes = true;
  it->srv.cfg.split = true;
  it->srv.cfg.chunk_order = 1;
  it->srv.cfg.piece_max = 7;
  it->cl.final_disc = true;
  it->ncmds = 6;
  it->cmds[0] = (struct fz_cmd) { .type = C_PREAD_SR, .offset = 0, .count = 16384 };
  it->cmds[1] = (struct fz_cmd) { .type = C_PREAD, .offset = 1000, .count = 30000 };
  it->cmds[2] = (struct fz_cmd) { .type = C_PWRITE, .offset = 4096, .count = 4096 };
  it->cmds[3] = (struct fz_cmd) { .type = C_BS, .offset = 0, .count = 65536 };
  it->cmds[4] = (struct fz_cmd) { .type = C_BS64, .offset = 12288, .count = 8192 };
  it->cmds[5] = (struct fz_cmd) { .type = C_FLUSH };
}

static void
setup_valid_opt (struct fz_iter *it)
{
  setup_opt (it, O_LIST);
  it->nopts = 5;
  it->opts[1].type = O_LIST_META;
  it->opts[2].type = O_INFO;
  it->opts[3].type = O_SET_META;
  it->opts[4].type = O_GO;
  it->ncmds = 2;
  it->cmds[1] = (struct fz_cmd) { .type = C_BS, .offset = 4096, .count = 4096 };
}

static void
setup_valid_simple (struct fz_iter *it)
{
  setup_simple (it);
  it->srv.cfg.piece_max = 3;
  it->ncmds = 3;
  it->cmds[1] = (struct fz_cmd) { .type = C_PWRITE, .offset = 0, .count = 512 };
  it->cmds[2] = (struct fz_cmd) { .type = C_TRIM, .offset = 0, .count = 512 };
}

/* Small reads queued ahead of a big write: the server answers the reads
 * while the write's payload is still arriving. */
static void
setup_valid_big_write_behind_reads (struct fz_iter *it)
{
  base (it);
  it->ncmds = 4;
  for (int i = 0; i < 3; i++)
    it->cmds[i] = (struct fz_cmd) { .type = C_PREAD_SR, .offset = 4096 * i, .count = 4096 };
  it->cmds[3] = (struct fz_cmd) { .type = C_PWRITE, .offset = 0, .count = 1000000 };
}

/* Two meta contexts, the filter form of block status, and the chunks of
 * a batch of replies interleaved. */
static void
setup_valid_two_contexts (struct fz_iter *it)
{
  setup_ext (it);
  it->cl.meta2 = true;
  it->srv.cfg.meta2 = true;
  it->srv.cfg.interleave = true;
  it->srv.cfg.reorder = true;
  it->srv.cfg.holes = true;
  it->srv.cfg.split = true;
  it->srv.cfg.eflags |= W_EF_BS_PAYLOAD;
  it->ncmds = 7;
  it->cmds[0] = (struct fz_cmd) { .type = C_PREAD_SR, .offset = 0, .count = 65536 };
  it->cmds[1] = (struct fz_cmd) { .type = C_BS, .offset = 4096, .count = 65536 };
  it->cmds[2] = (struct fz_cmd) { .type = C_BSF, .offset = 8192, .count = 4096, .filter = 1 };
  it->cmds[3] = (struct fz_cmd) { .type = C_BSF, .offset = 8192, .count = 4096, .filter = 2 };
  it->cmds[4] = (struct fz_cmd) { .type = C_BSF, .offset = 0, .count = 1 << 20, .filter = 3 };
  it->cmds[5] = (struct fz_cmd) { .type = C_PREAD, .offset = 100, .count = 100000,
                                  .spawn = true };
  it->cmds[6] = (struct fz_cmd) { .type = C_BS64, .offset = 0, .count = 4096, .wave = 1 };
}

static void
setup_valid_oldstyle (struct fz_iter *it)
{
  setup_oldstyle (it);
  it->cmds[0].type = C_PREAD;
}


static void
setup_opt_set_meta_then_go (struct fz_iter *it)
{
  setup_opt (it, O_SET_META);
}

const struct fz_corpus_case fz_corpus[] = {
  /* Valid transcripts: everything must work and read the right bytes
   * (a NULL hook marks them). */
  { "valid-chunks-in-order", setup_valid_in_order, NULL, EXP_ANY },
  { "valid-chunks-reversed", setup_valid_reversed, NULL, EXP_ANY },
  { "valid-chunks-reversed-holes", setup_valid_reversed_holes, NULL, EXP_ANY },
  { "valid-chunks-reversed-ext", setup_valid_reversed_ext, NULL, EXP_ANY },
  { "valid-mixed-commands-ext", setup_valid_mix, NULL, EXP_ANY },
  { "valid-opt-mode", setup_valid_opt, NULL, EXP_ANY },
  { "valid-simple-replies", setup_valid_simple, NULL, EXP_ANY },
  { "valid-oldstyle", setup_valid_oldstyle, NULL, EXP_ANY },
  { "valid-two-contexts-filter-interleaved", setup_valid_two_contexts, NULL, EXP_ANY },
  { "valid-big-write-behind-reads", setup_valid_big_write_behind_reads, NULL, EXP_ANY },
  /* Handshake. */
  { "greeting-bad-magic", setup_connect, t_greeting_magic, EXP_DEAD },
  { "opt-reply-bad-magic", setup_connect, t_opt_reply_magic, EXP_DEAD },
  { "opt-reply-len-4g", setup_connect, t_opt_len_huge, EXP_NOT_READY },
  { "opt-reply-len-1m-truncated", setup_connect, t_opt_len_big_truncated, EXP_NOT_READY },
  { "opt-reply-len-16m-sent", setup_connect, t_opt_len_16m, EXP_ANY },
  { "opt-reply-wrong-option", setup_connect, t_opt_wrong_option, EXP_NOT_READY },
  { "opt-reply-before-request", setup_ext_refused, t_opt_reply_before_request, EXP_ANY },
  { "opt-reply-ack-twice-opt-mode", setup_opt_set_meta_then_go, t_opt_meta_ack_twice, EXP_ANY },
  { "opt-reply-unknown-type", setup_connect, t_opt_unknown_reply_type, EXP_NOT_READY },
  { "rep-server-namelen-over-payload", setup_opt_list, t_server_namelen_over, EXP_OPT_FAILS },
  { "rep-server-namelen-4g", setup_opt_list, t_server_namelen_huge, EXP_OPT_FAILS },
  { "rep-server-short", setup_opt_list, t_server_short, EXP_OPT_FAILS },
  { "rep-info-export-10-bytes", setup_connect, t_info_export_short, EXP_NOT_READY },
  { "rep-info-export-16-bytes", setup_connect, t_info_export_long, EXP_ANY },
  { "rep-info-empty", setup_connect, t_info_empty, EXP_NOT_READY },
  { "rep-info-1-byte", setup_connect, t_info_one_byte, EXP_NOT_READY },
  { "rep-info-export-10-bytes-opt-info", setup_opt_info, t_info_export_short, EXP_OPT_FAILS },
  { "rep-info-block-size-12-bytes", setup_connect, t_info_bs_short, EXP_ANY },
  { "rep-info-block-size-insane", setup_connect, t_info_bs_insane, EXP_ANY },
  { "rep-info-name-70000", setup_opt_info_full, t_info_name_long, EXP_ANY },
  { "rep-info-size-2^64-1", setup_connect, t_info_size_huge, EXP_ANY },
  { "rep-meta-context-2-bytes", setup_connect, t_meta_short, EXP_NOT_READY },
  { "rep-meta-context-empty-name", setup_opt_list_meta, t_meta_empty_name, EXP_ANY },
  { "rep-err-message-70000", setup_ext_refused, t_refusal_huge_msg, EXP_ANY },
  { "export-name-reply-truncated", setup_no_fixed, t_export_name_short, EXP_NOT_READY },
  { "oldstyle-truncated", setup_oldstyle, t_oldstyle_truncated, EXP_NOT_READY },
  { "oldstyle-size-0", setup_oldstyle, t_oldstyle_zero_size, EXP_ANY },
  /* Structured chunks whose length disagrees with the type. */
  { "chunk-hole-length-8", setup_holes, t_hole_len_8, EXP_CMD_FAILS },
  { "chunk-hole-size-0", setup_holes, t_hole_size_0, EXP_CMD_FAILS },
  { "chunk-hole-outside-request", setup_holes, t_hole_outside, EXP_CMD_FAILS },
  { "chunk-hole-2g", setup_holes, t_hole_too_big, EXP_CMD_FAILS },
  { "chunk-hole-outside-request-ext", setup_ext_holes, t_hole_outside, EXP_CMD_FAILS },
  { "chunk-data-length-4", setup_connect, t_data_len_4, EXP_CMD_FAILS },
  { "chunk-data-length-8", setup_connect, t_data_len_8, EXP_CMD_FAILS },
  { "chunk-data-length-4g", setup_connect, t_data_len_huge, EXP_CMD_FAILS },
  { "chunk-ext-length-2^63", setup_ext, t_ext_len_2_63, EXP_CMD_FAILS },
  { "chunk-none-with-payload", setup_connect, t_none_with_payload, EXP_CMD_FAILS },
  { "chunk-none-without-done", setup_connect, t_none_without_done, EXP_CMD_FAILS },
  { "chunk-unknown-type", setup_connect, t_unknown_chunk_type, EXP_CMD_FAILS },
  { "chunk-unknown-error-type", setup_connect, t_unknown_error_type, EXP_CMD_FAILS },
  { "chunk-bs-length-6", setup_bs, t_bs_len_6, EXP_CMD_FAILS },
  { "chunk-bs-length-16", setup_bs, t_bs_len_not_multiple, EXP_CMD_FAILS },
  { "chunk-ext-bs-length-32", setup_ext_bs, t_bs_ext_len_odd, EXP_CMD_FAILS },
  { "chunk-compact-bs-in-ext", setup_ext_bs, t_bs_as_compact_in_ext, EXP_CMD_FAILS },
  /* Block status. */
  { "bs-0-descriptors", setup_bs, t_bs_zero_desc, EXP_CMD_FAILS },
  { "bs-ext-0-descriptors", setup_ext_bs, t_bs_ext_zero_desc, EXP_CMD_FAILS },
  { "bs-ext-count-over-length", setup_ext_bs, t_bs_ext_count_over, EXP_CMD_FAILS },
  { "bs-ext-count-4g", setup_ext_bs, t_bs_ext_count_huge, EXP_CMD_FAILS },
  { "bs-unknown-context", setup_bs, t_bs_unknown_context, EXP_ANY },
  { "bs-ext-unknown-context", setup_ext_bs, t_bs_unknown_context, EXP_ANY },
  { "bs-zero-length-extent", setup_bs, t_bs_zero_length_extent, EXP_ANY },
  /* Error chunks. */
  { "error-length-3", setup_connect, t_err_len_3, EXP_CMD_FAILS },
  { "error-message-beyond-chunk", setup_connect, t_err_msg_beyond, EXP_CMD_FAILS },
  { "error-message-length-65535", setup_connect, t_err_msg_ffff, EXP_CMD_FAILS },
  { "error-offset-message-overlaps-offset", setup_connect, t_err_offset_msg_overlaps, EXP_CMD_FAILS },
  { "error-offset-outside-request", setup_connect, t_err_offset_outside, EXP_CMD_FAILS },
  { "error-offset-without-offset", setup_connect, t_err_offset_no_offset, EXP_CMD_FAILS },
  { "error-errno-0", setup_connect, t_err_zero_errno, EXP_CMD_FAILS },
  { "error-errno-unknown", setup_connect, t_err_unknown_errno, EXP_CMD_FAILS },
  { "error-then-data", setup_connect, t_err_without_done, EXP_CMD_FAILS },
  { "error-then-data-ext", setup_ext, t_err_without_done, EXP_CMD_FAILS },
  /* Ranges. */
  { "data-runs-past-request", setup_connect, t_data_after_range, EXP_CMD_FAILS },
  { "data-before-request", setup_connect, t_data_before_range, EXP_CMD_FAILS },
  { "data-just-after-request", setup_connect, t_data_past_range, EXP_CMD_FAILS },
  { "data-offset-wraps", setup_connect, t_data_offset_wraps, EXP_CMD_FAILS },
  { "data-runs-past-request-ext", setup_ext, t_data_after_range, EXP_CMD_FAILS },
  { "ext-reply-wrong-offset", setup_ext, t_ext_wrong_offset, EXP_ANY },
  /* Cookies, magic, reply kinds. */
  { "chunk-unknown-cookie", setup_connect, t_chunk_unknown_cookie, EXP_DEAD },
  { "chunk-unknown-cookie-ext", setup_ext, t_chunk_unknown_cookie, EXP_DEAD },
  { "simple-unknown-cookie", setup_simple, t_simple_unknown_cookie, EXP_DEAD },
  { "reply-bad-magic", setup_connect, t_reply_magic, EXP_DEAD },
  { "done-missing", setup_connect, t_done_missing, EXP_CMD_FAILS },
  { "done-twice", setup_connect, t_done_twice, EXP_DEAD },
  { "simple-reply-in-ext-mode", setup_ext, t_simple_in_ext, EXP_CMD_FAILS },
  { "compact-chunk-in-ext-mode", setup_ext, t_compact_in_ext, EXP_CMD_FAILS },
  { "chunk-without-structured-replies", setup_simple, t_chunk_not_negotiated, EXP_CMD_FAILS },
  { "simple-read-reply-under-sr", setup_connect, t_simple_read_sr, EXP_ANY },
  { "simple-error-then-garbage", setup_simple, t_simple_error_then_data, EXP_ANY },
};


const size_t fz_corpus_count = sizeof fz_corpus / sizeof fz_corpus[0];

void
fz_corpus_prepare (struct fz_iter *it, size_t i)
{
  const struct fz_corpus_case *cc = &fz_corpus[i];
  uint64_t h = 0;

  for (const char *p = cc->name; *p; p++)
    h = h * 131 + (unsigned char) *p;
  it->rng.s = h;
  cc->setup (it);
  it->srv.tamper = cc->tamper;
  it->unmutated = cc->tamper == NULL;
  it->expect = cc->expect;
}

void
fz_corpus_check (struct fz_iter *it, size_t i)
{
  if (fz_corpus[i].tamper)
    ICHECK (it, it->srv.tamper_hits == 1, "the hook never found its message");
}
