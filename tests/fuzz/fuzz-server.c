/* fuzz-server: a hostile server must never crash, hang or leak the client.
 *
 * Two parts, both against the fake server of fuzz-harness.h:
 *
 *   corpus  hand-written malformed replies taken from the protocol
 *           document's MUSTs (option replies, NBD_INFO_*, structured and
 *           extended chunks, cookies, ranges), each with what the client
 *           must at least do about it;
 *   random  a few thousand seeded iterations: random client settings and
 *           server personalities, and 1-3 mutations of what the server
 *           says (about 1 in 8 iterations are left valid and must then
 *           work exactly).
 *
 * Every iteration ends in bounded time, checks each closure ran at most
 * once and was freed exactly once, and that no descriptor leaked.  Built
 * against the ASan/UBSan library when available, so any memory error
 * aborts; LeakSanitizer reports leaks at exit.
 *
 * Options:
 *   --seed N         base seed (default 0x5eed2024)
 *   --iterations N   random iterations (default 20000)
 *   --time S         stop the random part after S seconds (default 20)
 *   --only I         run only random iteration I
 *   --case NAME      run only the corpus case NAME ("list" lists them)
 *   --no-corpus / --no-random
 *   --no-fork        run everything in this process (debuggers)
 *   --dump           print every server message (hex) and mutation as sent
 *   --verbose        also print the client's calls
 *
 * Items run in forked children (see supervise): a crash or a sanitizer
 * report costs one item, which is named with the command that replays it.
 */
#include "fuzz-harness.h"

#include <limits.h>
#include <sys/mman.h>
#include <sys/wait.h>

/* ------------------------------------------------------------------ */
/* Corpus helpers. */

/* Replace the payload of a message (keeping the header), and its length
 * field when fix_len. */
static void
msg_set_payload (struct fz_msg *m, const void *p, size_t n, bool fix_len)
{
  m->b.len = m->hdr_len;
  fz_buf_add (&m->b, p, n);
  if (fix_len) {
    int w;
    size_t at = fz_msg_length_field (m, &w);
    if (w == 4)
      fz_put32 (m->b.p + at, (uint32_t) n);
    else if (w == 8)
      fz_put64 (m->b.p + at, n);
  }
}

static void
msg_set_len (struct fz_msg *m, uint64_t v)
{
  int w;
  size_t at = fz_msg_length_field (m, &w);
  if (w == 4)
    fz_put32 (m->b.p + at, (uint32_t) v);
  else if (w == 8)
    fz_put64 (m->b.p + at, v);
}

static uint8_t *payload (struct fz_msg *m) { return m->b.p + m->hdr_len; }
static size_t payload_len (const struct fz_msg *m) { return m->b.len - m->hdr_len; }

/* First message matching; counts the hit. */
static bool
first (struct fz_srv *s, bool match)
{
  if (!match || s->tamper_hits)
    return false;
  s->tamper_hits++;
  return true;
}

static bool
is_info (const struct fz_msg *m, uint16_t type)
{
  return m->kind == FM_OPT_REPLY && m->rep == W_REP_INFO && m->b.len >= 22
    && fz_get16 (m->b.p + 20) == type;
}

static bool
is_chunk (const struct fz_msg *m, uint16_t type)
{
  return m->kind == FM_CHUNK && m->chunk == type;
}

/* ------------------------------------------------------------------ */
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

/* ------------------------------------------------------------------ */
/* Tamper hooks: handshake. */

static void
t_greeting_magic (struct fz_srv *s, struct fz_msg *m)
{
  if (first (s, m->kind == FM_GREETING))
    fz_put64 (m->b.p, UINT64_C(0x4e42444d41474944));
}

static void
t_opt_reply_magic (struct fz_srv *s, struct fz_msg *m)
{
  if (first (s, m->kind == FM_OPT_REPLY))
    m->b.p[3] ^= 0x40;
}

/* ACK to STRUCTURED_REPLY announcing 4 GiB of payload that never comes. */
static void
t_opt_len_huge (struct fz_srv *s, struct fz_msg *m)
{
  if (first (s, m->kind == FM_OPT_REPLY && m->opt == W_OPT_STRUCTURED))
    msg_set_len (m, 0xffffffff);
}

/* NBD_REP_INFO announcing 1 MiB, carrying 14 bytes, then hang up. */
static void
t_opt_len_big_truncated (struct fz_srv *s, struct fz_msg *m)
{
  if (first (s, is_info (m, W_INFO_EXPORT))) {
    msg_set_len (m, 1u << 20);
    m->close_after = true;
  }
}

/* An option reply longer than any sensible one, really sent. */
static void
t_opt_len_16m (struct fz_srv *s, struct fz_msg *m)
{
  if (first (s, m->kind == FM_OPT_REPLY && m->opt == W_OPT_SET_META
             && m->rep == W_REP_META_CONTEXT)) {
    size_t n = 16u << 20;
    uint8_t *p = calloc (1, n);
    fz_put32 (p, fz_get32 (payload (m)));
    memset (p + 4, 'x', n - 4);
    msg_set_payload (m, p, n, true);
    free (p);
  }
}

/* The server answers an option the client has not sent yet: with the
 * refusal of EXTENDED_HEADERS comes an ACK for STRUCTURED_REPLY, the
 * option the client will queue next.  The client consumes both in one
 * go, so the ACK completes STRUCTURED_REPLY while its request is still
 * in the output queue. */
static void
t_opt_reply_before_request (struct fz_srv *s, struct fz_msg *m)
{
  if (first (s, m->kind == FM_OPT_REPLY && m->opt == W_OPT_EXTENDED)) {
    uint8_t ack[20];
    fz_put64 (ack, W_REPLY_MAGIC);
    fz_put32 (ack + 8, W_OPT_STRUCTURED);
    fz_put32 (ack + 12, W_REP_ACK);
    fz_put32 (ack + 16, 0);
    fz_buf_add (&m->b, ack, sizeof ack);
  }
}

/* Opt mode: SET_META_CONTEXT is acknowledged twice; the extra ACK waits
 * in the socket and answers the SET_META_CONTEXT that nbd_aio_opt_go
 * queues next, before it is sent. */
static void
t_opt_meta_ack_twice (struct fz_srv *s, struct fz_msg *m)
{
  if (first (s, m->kind == FM_OPT_REPLY && m->opt == W_OPT_SET_META
             && m->rep == W_REP_ACK))
    m->copies = 2;
}

static void
setup_opt_set_meta_then_go (struct fz_iter *it)
{
  setup_opt (it, O_SET_META);
}

static void
t_opt_wrong_option (struct fz_srv *s, struct fz_msg *m)
{
  if (first (s, m->kind == FM_OPT_REPLY && m->opt == W_OPT_STRUCTURED))
    fz_put32 (m->b.p + 8, W_OPT_GO);
}

static void
t_opt_unknown_reply_type (struct fz_srv *s, struct fz_msg *m)
{
  if (first (s, m->kind == FM_OPT_REPLY && m->opt == W_OPT_GO && m->rep == W_REP_ACK))
    fz_put32 (m->b.p + 12, 77);        /* neither ACK nor an error */
}

/* NBD_REP_SERVER whose name length runs past the payload. */
static void
t_server_namelen_over (struct fz_srv *s, struct fz_msg *m)
{
  if (first (s, m->kind == FM_OPT_REPLY && m->rep == W_REP_SERVER))
    fz_put32 (payload (m), (uint32_t) payload_len (m));   /* 4 bytes too many */
}

static void
t_server_namelen_huge (struct fz_srv *s, struct fz_msg *m)
{
  if (first (s, m->kind == FM_OPT_REPLY && m->rep == W_REP_SERVER))
    fz_put32 (payload (m), 0xffffffff);
}

static void
t_server_short (struct fz_srv *s, struct fz_msg *m)
{
  if (first (s, m->kind == FM_OPT_REPLY && m->rep == W_REP_SERVER))
    msg_set_payload (m, "\0\0", 2, true);
}

static void
t_info_export_short (struct fz_srv *s, struct fz_msg *m)
{
  if (first (s, is_info (m, W_INFO_EXPORT)))
    msg_set_payload (m, payload (m), 10, true);
}

static void
t_info_export_long (struct fz_srv *s, struct fz_msg *m)
{
  if (first (s, is_info (m, W_INFO_EXPORT))) {
    uint8_t p[16] = { 0 };
    memcpy (p, payload (m), 12);
    msg_set_payload (m, p, sizeof p, true);
  }
}

static void
t_info_empty (struct fz_srv *s, struct fz_msg *m)
{
  if (first (s, is_info (m, W_INFO_EXPORT)))
    msg_set_payload (m, NULL, 0, true);
}

static void
t_info_one_byte (struct fz_srv *s, struct fz_msg *m)
{
  if (first (s, is_info (m, W_INFO_EXPORT)))
    msg_set_payload (m, "\0", 1, true);
}

static void
t_info_bs_short (struct fz_srv *s, struct fz_msg *m)
{
  if (first (s, is_info (m, W_INFO_BLOCK_SIZE)))
    msg_set_payload (m, payload (m), 12, true);
}

static void
t_info_bs_insane (struct fz_srv *s, struct fz_msg *m)
{
  if (first (s, is_info (m, W_INFO_BLOCK_SIZE))) {
    fz_put32 (payload (m) + 2, 3);          /* minimum not a power of 2 */
    fz_put32 (payload (m) + 6, 0);          /* preferred 0 */
    fz_put32 (payload (m) + 10, 1);         /* maximum below the minimum */
  }
}

static void
t_info_name_long (struct fz_srv *s, struct fz_msg *m)
{
  if (first (s, is_info (m, W_INFO_NAME))) {
    size_t n = 70000;
    uint8_t *p = malloc (n);
    fz_put16 (p, W_INFO_NAME);
    memset (p + 2, 'n', n - 2);
    msg_set_payload (m, p, n, true);
    free (p);
  }
}

static void
t_info_size_huge (struct fz_srv *s, struct fz_msg *m)
{
  if (first (s, is_info (m, W_INFO_EXPORT)))
    fz_put64 (payload (m) + 2, UINT64_C(0xffffffffffffffff));
}

static void
t_meta_short (struct fz_srv *s, struct fz_msg *m)
{
  if (first (s, m->kind == FM_OPT_REPLY && m->rep == W_REP_META_CONTEXT))
    msg_set_payload (m, "\0\0", 2, true);
}

static void
t_meta_empty_name (struct fz_srv *s, struct fz_msg *m)
{
  if (first (s, m->kind == FM_OPT_REPLY && m->rep == W_REP_META_CONTEXT))
    msg_set_payload (m, payload (m), 4, true);
}

static void
t_refusal_huge_msg (struct fz_srv *s, struct fz_msg *m)
{
  if (first (s, m->kind == FM_OPT_REPLY && m->opt == W_OPT_EXTENDED
             && m->rep == W_REP_ERR_UNSUP)) {
    size_t n = 70000;
    uint8_t *p = malloc (n);
    memset (p, 'r', n);
    msg_set_payload (m, p, n, true);
    free (p);
  }
}

static void
t_export_name_short (struct fz_srv *s, struct fz_msg *m)
{
  if (first (s, m->kind == FM_EXPORT_NAME_REPLY)) {
    m->b.len = 7;
    m->close_after = true;
  }
}

static void
t_oldstyle_truncated (struct fz_srv *s, struct fz_msg *m)
{
  if (first (s, m->kind == FM_OLDSTYLE)) {
    m->b.len = 20;
    m->close_after = true;
  }
}

static void
t_oldstyle_zero_size (struct fz_srv *s, struct fz_msg *m)
{
  if (first (s, m->kind == FM_OLDSTYLE))
    fz_put64 (m->b.p + 16, 0);
}

/* ------------------------------------------------------------------ */
/* Tamper hooks: transmission. */

static void
t_hole_len_8 (struct fz_srv *s, struct fz_msg *m)
{
  if (first (s, is_chunk (m, W_CHUNK_OFFSET_HOLE)))
    msg_set_payload (m, payload (m), 8, true);
}

static void
t_hole_size_0 (struct fz_srv *s, struct fz_msg *m)
{
  if (first (s, is_chunk (m, W_CHUNK_OFFSET_HOLE)))
    fz_put32 (payload (m) + 8, 0);
}

static void
t_hole_outside (struct fz_srv *s, struct fz_msg *m)
{
  if (first (s, is_chunk (m, W_CHUNK_OFFSET_HOLE)))
    fz_put64 (payload (m), m->req_offset + m->req_count);
}

static void
t_hole_too_big (struct fz_srv *s, struct fz_msg *m)
{
  if (first (s, is_chunk (m, W_CHUNK_OFFSET_HOLE)))
    fz_put32 (payload (m) + 8, 0x80000000u);
}

static void
t_data_len_4 (struct fz_srv *s, struct fz_msg *m)
{
  if (first (s, is_chunk (m, W_CHUNK_OFFSET_DATA)))
    msg_set_payload (m, payload (m), 4, true);
}

static void
t_data_len_8 (struct fz_srv *s, struct fz_msg *m)
{
  /* An offset and no data at all. */
  if (first (s, is_chunk (m, W_CHUNK_OFFSET_DATA)))
    msg_set_payload (m, payload (m), 8, true);
}

static void
t_data_after_range (struct fz_srv *s, struct fz_msg *m)
{
  /* Starts inside the request, ends 100 bytes past it. */
  if (first (s, is_chunk (m, W_CHUNK_OFFSET_DATA)))
    fz_put64 (payload (m), m->req_offset + 100);
}

static void
t_data_before_range (struct fz_srv *s, struct fz_msg *m)
{
  if (first (s, is_chunk (m, W_CHUNK_OFFSET_DATA)))
    fz_put64 (payload (m), m->req_offset - 1);
}

static void
t_data_past_range (struct fz_srv *s, struct fz_msg *m)
{
  if (first (s, is_chunk (m, W_CHUNK_OFFSET_DATA)))
    fz_put64 (payload (m), m->req_offset + m->req_count);
}

static void
t_data_offset_wraps (struct fz_srv *s, struct fz_msg *m)
{
  if (first (s, is_chunk (m, W_CHUNK_OFFSET_DATA)))
    fz_put64 (payload (m), UINT64_C(0xffffffffffffff00));
}

static void
t_data_len_huge (struct fz_srv *s, struct fz_msg *m)
{
  if (first (s, is_chunk (m, W_CHUNK_OFFSET_DATA)))
    msg_set_len (m, 0xffffffff);
}

static void
t_ext_len_2_63 (struct fz_srv *s, struct fz_msg *m)
{
  if (first (s, is_chunk (m, W_CHUNK_OFFSET_DATA)))
    msg_set_len (m, UINT64_C(0x8000000000000000));
}

static void
t_ext_wrong_offset (struct fz_srv *s, struct fz_msg *m)
{
  if (first (s, is_chunk (m, W_CHUNK_OFFSET_DATA) && m->ext))
    fz_put64 (m->b.p + 16, m->req_offset + 4096);
}

static void
t_none_with_payload (struct fz_srv *s, struct fz_msg *m)
{
  /* The read's single data chunk becomes NONE+DONE with 4 bytes. */
  if (first (s, is_chunk (m, W_CHUNK_OFFSET_DATA))) {
    fz_put16 (m->b.p + 6, W_CHUNK_NONE);
    fz_put16 (m->b.p + 4, W_REPLY_FLAG_DONE);
    msg_set_payload (m, "abcd", 4, true);
  }
}

static void
t_none_without_done (struct fz_srv *s, struct fz_msg *m)
{
  /* A NONE chunk must carry DONE: here it does not, and then the
   * server goes quiet. */
  if (first (s, is_chunk (m, W_CHUNK_OFFSET_DATA))) {
    fz_put16 (m->b.p + 6, W_CHUNK_NONE);
    fz_put16 (m->b.p + 4, 0);
    msg_set_payload (m, NULL, 0, true);
  }
}

static void
t_done_missing (struct fz_srv *s, struct fz_msg *m)
{
  if (first (s, m->kind == FM_CHUNK && (m->flags & W_REPLY_FLAG_DONE)))
    fz_put16 (m->b.p + 4, 0);
}

static void
t_done_twice (struct fz_srv *s, struct fz_msg *m)
{
  if (first (s, m->kind == FM_CHUNK && (m->flags & W_REPLY_FLAG_DONE)))
    m->copies = 2;
}

static void
t_unknown_chunk_type (struct fz_srv *s, struct fz_msg *m)
{
  /* Unknown non-error type: the client cannot know its layout. */
  if (first (s, is_chunk (m, W_CHUNK_OFFSET_DATA)))
    fz_put16 (m->b.p + 6, 3);
}

static void
t_unknown_error_type (struct fz_srv *s, struct fz_msg *m)
{
  /* Unknown error type, with a valid error payload: still a failure. */
  if (first (s, is_chunk (m, W_CHUNK_OFFSET_DATA))) {
    uint8_t p[6] = { 0, 0, 0, W_EIO, 0, 0 };
    fz_put16 (m->b.p + 6, 0x8000 | 100);
    msg_set_payload (m, p, sizeof p, true);
  }
}

static void
t_bs_len_6 (struct fz_srv *s, struct fz_msg *m)
{
  if (first (s, is_chunk (m, W_CHUNK_BLOCK_STATUS)))
    msg_set_payload (m, payload (m), 6, true);
}

static void
t_bs_len_not_multiple (struct fz_srv *s, struct fz_msg *m)
{
  if (first (s, is_chunk (m, W_CHUNK_BLOCK_STATUS) && payload_len (m) >= 12))
    msg_set_payload (m, payload (m), 4 + 8 + 4, true);   /* 1.5 descriptors */
}

static void
t_bs_zero_desc (struct fz_srv *s, struct fz_msg *m)
{
  if (first (s, is_chunk (m, W_CHUNK_BLOCK_STATUS)))
    msg_set_payload (m, payload (m), 4, true);
}

static void
t_bs_unknown_context (struct fz_srv *s, struct fz_msg *m)
{
  if (first (s, is_chunk (m, W_CHUNK_BLOCK_STATUS) || is_chunk (m, W_CHUNK_BS_EXT)))
    fz_put32 (payload (m), 0x7ffffff0);
}

static void
t_bs_zero_length_extent (struct fz_srv *s, struct fz_msg *m)
{
  if (first (s, is_chunk (m, W_CHUNK_BLOCK_STATUS)))
    fz_put32 (payload (m) + 4, 0);
}

static void
t_bs_ext_zero_desc (struct fz_srv *s, struct fz_msg *m)
{
  if (first (s, is_chunk (m, W_CHUNK_BS_EXT))) {
    uint8_t p[8];
    memcpy (p, payload (m), 4);
    fz_put32 (p + 4, 0);
    msg_set_payload (m, p, 8, true);
  }
}

static void
t_bs_ext_count_over (struct fz_srv *s, struct fz_msg *m)
{
  /* Descriptor count larger than the chunk holds. */
  if (first (s, is_chunk (m, W_CHUNK_BS_EXT)))
    fz_put32 (payload (m) + 4, fz_get32 (payload (m) + 4) + 5);
}

static void
t_bs_ext_count_huge (struct fz_srv *s, struct fz_msg *m)
{
  if (first (s, is_chunk (m, W_CHUNK_BS_EXT)))
    fz_put32 (payload (m) + 4, 0xffffffff);
}

static void
t_bs_ext_len_odd (struct fz_srv *s, struct fz_msg *m)
{
  if (first (s, is_chunk (m, W_CHUNK_BS_EXT) && payload_len (m) >= 24))
    msg_set_payload (m, payload (m), 8 + 16 + 8, true);
}

static void
t_bs_as_compact_in_ext (struct fz_srv *s, struct fz_msg *m)
{
  /* 32-bit block status type in extended mode (the spec forbids it). */
  if (first (s, is_chunk (m, W_CHUNK_BS_EXT)))
    fz_put16 (m->b.p + 6, W_CHUNK_BLOCK_STATUS);
}

static void
error_chunk (struct fz_msg *m, uint16_t type, uint32_t err, uint16_t msglen,
             const char *msg, size_t real, const uint64_t *offset)
{
  struct fz_buf p = { 0 };
  fz_buf_add32 (&p, err);
  fz_buf_add16 (&p, msglen);
  fz_buf_add (&p, msg, real);
  if (offset)
    fz_buf_add64 (&p, *offset);
  fz_put16 (m->b.p + 4, W_REPLY_FLAG_DONE);
  fz_put16 (m->b.p + 6, type);
  msg_set_payload (m, p.p, p.len, true);
  fz_buf_free (&p);
}

static void
t_err_len_3 (struct fz_srv *s, struct fz_msg *m)
{
  if (first (s, is_chunk (m, W_CHUNK_OFFSET_DATA))) {
    fz_put16 (m->b.p + 4, W_REPLY_FLAG_DONE);
    fz_put16 (m->b.p + 6, W_CHUNK_ERROR);
    msg_set_payload (m, "\0\0\0", 3, true);
  }
}

static void
t_err_msg_beyond (struct fz_srv *s, struct fz_msg *m)
{
  if (first (s, is_chunk (m, W_CHUNK_OFFSET_DATA)))
    error_chunk (m, W_CHUNK_ERROR, W_EIO, 200, "short", 5, NULL);
}

static void
t_err_msg_ffff (struct fz_srv *s, struct fz_msg *m)
{
  if (first (s, is_chunk (m, W_CHUNK_OFFSET_DATA)))
    error_chunk (m, W_CHUNK_ERROR, W_EIO, 0xffff, "", 0, NULL);
}

static void
t_err_offset_msg_overlaps (struct fz_srv *s, struct fz_msg *m)
{
  /* The message length eats the offset field: 6+4+8 bytes, msglen 8. */
  uint64_t off = m->req_offset;
  if (first (s, is_chunk (m, W_CHUNK_OFFSET_DATA)))
    error_chunk (m, W_CHUNK_ERROR_OFFSET, W_EIO, 8, "oops", 4, &off);
}

static void
t_err_offset_outside (struct fz_srv *s, struct fz_msg *m)
{
  uint64_t off = m->req_offset + m->req_count + 4096;
  if (first (s, is_chunk (m, W_CHUNK_OFFSET_DATA)))
    error_chunk (m, W_CHUNK_ERROR_OFFSET, W_EIO, 3, "bad", 3, &off);
}

static void
t_err_offset_no_offset (struct fz_srv *s, struct fz_msg *m)
{
  if (first (s, is_chunk (m, W_CHUNK_OFFSET_DATA)))
    error_chunk (m, W_CHUNK_ERROR_OFFSET, W_EIO, 0, "", 0, NULL);
}

static void
t_err_zero_errno (struct fz_srv *s, struct fz_msg *m)
{
  if (first (s, is_chunk (m, W_CHUNK_OFFSET_DATA)))
    error_chunk (m, W_CHUNK_ERROR, 0, 0, "", 0, NULL);
}

static void
t_err_unknown_errno (struct fz_srv *s, struct fz_msg *m)
{
  if (first (s, is_chunk (m, W_CHUNK_OFFSET_DATA)))
    error_chunk (m, W_CHUNK_ERROR, 0x7fffffff, 0, "", 0, NULL);
}

static void
t_err_without_done (struct fz_srv *s, struct fz_msg *m)
{
  /* An error chunk that is not the last one, then the real data: the
   * command must still fail. */
  if (first (s, is_chunk (m, W_CHUNK_OFFSET_DATA))) {
    struct fz_msg e = { .kind = FM_CHUNK, .hdr_len = m->hdr_len, .ext = m->ext };
    fz_buf_add (&e.b, m->b.p, m->hdr_len);
    error_chunk (&e, W_CHUNK_ERROR, W_EIO, 4, "half", 4, NULL);
    fz_put16 (e.b.p + 4, 0);
    /* e first, then the original message. */
    fz_buf_insert (&m->b, 0, e.b.p, e.b.len);
    fz_buf_free (&e.b);
  }
}

static void
t_chunk_unknown_cookie (struct fz_srv *s, struct fz_msg *m)
{
  if (first (s, m->kind == FM_CHUNK))
    fz_put64 (m->b.p + 8, m->cookie + 1000);
}

static void
t_simple_unknown_cookie (struct fz_srv *s, struct fz_msg *m)
{
  if (first (s, m->kind == FM_SIMPLE_REPLY))
    fz_put64 (m->b.p + 8, m->cookie ^ UINT64_C(0xdead000000000000));
}

static void
t_reply_magic (struct fz_srv *s, struct fz_msg *m)
{
  if (first (s, m->kind == FM_CHUNK || m->kind == FM_SIMPLE_REPLY))
    fz_put32 (m->b.p, 0x12345678);
}

static void
t_simple_in_ext (struct fz_srv *s, struct fz_msg *m)
{
  /* Extended headers negotiated, but a simple reply comes. */
  if (first (s, m->kind == FM_CHUNK && m->ext)) {
    struct fz_buf b = { 0 };
    fz_buf_add32 (&b, W_SIMPLE_MAGIC);
    fz_buf_add32 (&b, 0);
    fz_buf_add64 (&b, m->cookie);
    fz_buf_free (&m->b);
    m->b = b;
  }
}

static void
t_compact_in_ext (struct fz_srv *s, struct fz_msg *m)
{
  /* Extended headers negotiated, but a compact structured chunk comes. */
  if (first (s, is_chunk (m, W_CHUNK_OFFSET_DATA) && m->ext)) {
    struct fz_buf b = { 0 };
    size_t n = payload_len (m);
    fz_buf_add32 (&b, W_STRUCTURED_MAGIC);
    fz_buf_add16 (&b, W_REPLY_FLAG_DONE);
    fz_buf_add16 (&b, W_CHUNK_OFFSET_DATA);
    fz_buf_add64 (&b, m->cookie);
    fz_buf_add32 (&b, (uint32_t) n);
    fz_buf_add (&b, payload (m), n);
    fz_buf_free (&m->b);
    m->b = b;
  }
}

static void
t_chunk_not_negotiated (struct fz_srv *s, struct fz_msg *m)
{
  /* Structured replies not negotiated, yet a chunk. */
  if (first (s, m->kind == FM_SIMPLE_REPLY)) {
    struct fz_buf b = { 0 };
    fz_buf_add32 (&b, W_STRUCTURED_MAGIC);
    fz_buf_add16 (&b, W_REPLY_FLAG_DONE);
    fz_buf_add16 (&b, W_CHUNK_OFFSET_DATA);
    fz_buf_add64 (&b, m->cookie);
    fz_buf_add32 (&b, 8 + 16);
    fz_buf_add64 (&b, m->req_offset);
    memset (fz_buf_grow (&b, 16), 0x55, 16);
    fz_buf_free (&m->b);
    m->b = b;
  }
}

static void
t_simple_read_sr (struct fz_srv *s, struct fz_msg *m)
{
  /* Structured replies negotiated; a simple success reply with data. */
  if (first (s, is_chunk (m, W_CHUNK_OFFSET_DATA) && !m->ext)) {
    struct fz_buf b = { 0 };
    fz_buf_add32 (&b, W_SIMPLE_MAGIC);
    fz_buf_add32 (&b, 0);
    fz_buf_add64 (&b, m->cookie);
    fz_buf_add (&b, payload (m) + 8, payload_len (m) - 8);
    fz_buf_free (&m->b);
    m->b = b;
  }
}

static void
t_simple_error_then_data (struct fz_srv *s, struct fz_msg *m)
{
  /* No structured replies: the simple reply says EIO, then data follows
   * anyway (it is garbage for the next header). */
  if (first (s, m->kind == FM_SIMPLE_REPLY))
    fz_put32 (m->b.p + 4, W_EIO);
}

/* ------------------------------------------------------------------ */

struct corpus_case {
  const char *name;
  void (*setup) (struct fz_iter *);
  fz_tamper_fn tamper;
  enum fz_expect expect;
};

static const struct corpus_case corpus[] = {
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

#define NCORPUS (sizeof corpus / sizeof corpus[0])

/* ------------------------------------------------------------------ */

/* Statistics and progress live in memory shared with the children. */
struct stats {
  unsigned long runs, ready, dead, closed, unmutated, mutations, hung, failed;
};

struct shared {
  volatile long current;     /* item a child is running, -1 between items */
  volatile long done;        /* items the child finished */
  volatile bool out_of_time;
  volatile bool finished;    /* the child ran its items and is exiting */
  unsigned checks, failed;   /* the children's test.h counters */
  struct stats st;
};

enum item_kind { K_CORPUS, K_RANDOM };

static struct {
  bool dump, verbose, fork;
  uint64_t seed;
  double time_budget;
  int64_t t0;
  unsigned alarm_s;
  struct shared *sh;
  unsigned crashes;          /* seen by the parent */
} opt = { .fork = true, .seed = 0x5eed2024, .time_budget = 20, .alarm_s = 30 };

static uint64_t
seed_for (uint64_t base, uint64_t i)
{
  uint64_t s = base ^ (i * UINT64_C(0x9e3779b97f4a7c15));
  fz_splitmix (&s);
  return s;
}

static void
account (struct stats *st, const struct fz_iter *it)
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

static void
item_label (enum item_kind k, long i, char *buf, size_t n)
{
  if (k == K_CORPUS)
    snprintf (buf, n, "corpus %s", corpus[i].name);
  else
    snprintf (buf, n, "seed %#" PRIx64 " iteration %ld", opt.seed, i);
}

static void
item_repro (enum item_kind k, long i, char *buf, size_t n)
{
  if (k == K_CORPUS)
    snprintf (buf, n, "--case %s", corpus[i].name);
  else
    snprintf (buf, n, "--seed %#" PRIx64 " --only %ld --no-corpus", opt.seed, i);
}

static void
run_item (enum item_kind k, long i)
{
  struct fz_iter *it = calloc (1, sizeof *it);
  char repro[160];

  item_label (k, i, it->label, sizeof it->label);
  if (k == K_CORPUS) {
    const struct corpus_case *cc = &corpus[i];
    uint64_t h = 0;
    for (const char *p = cc->name; *p; p++)
      h = h * 131 + (unsigned char) *p;
    it->rng.s = h;
    cc->setup (it);
    it->srv.tamper = cc->tamper;
    it->unmutated = cc->tamper == NULL;
    it->expect = cc->expect;
  }
  else {
    it->id = i;
    it->rng.s = seed_for (opt.seed, i);
    fz_random_setup (it);
    fz_random_mutations (it);
  }
  it->time_limit_ms = 10000;
  it->srv.dump = opt.dump;
  it->verbose = opt.verbose;
  fz_run (it);
  if (k == K_CORPUS && corpus[i].tamper)
    ICHECK (it, it->srv.tamper_hits == 1, "the hook never found its message");
  if (k == K_CORPUS && (opt.verbose || opt.dump))
    fprintf (stderr, "%-50s ready=%d end=%s\n", it->label, it->reached_ready,
             it->end_state);
  account (&opt.sh->st, it);
  if (it->failures) {
    item_repro (k, i, repro, sizeof repro);
    fprintf (stderr, "  -> reproduce with: fuzz-server %s --dump --verbose\n", repro);
  }
  free (it);
}

/* Run items [first, last) in this process; returns the next item to run
 * (last, unless the time budget ran out). */
static long
run_items (enum item_kind k, long first, long last, bool timed)
{
  for (long i = first; i < last; i++) {
    if (timed && (fz_now_ms () - opt.t0) > opt.time_budget * 1000) {
      opt.sh->out_of_time = true;
      return i;
    }
    opt.sh->current = i;
    alarm (opt.alarm_s);       /* a call that never returns */
    run_item (k, i);
    alarm (0);
    /* Hand the counters over item by item: a later crash keeps them. */
    __atomic_add_fetch (&opt.sh->checks, test_checks, __ATOMIC_RELAXED);
    __atomic_add_fetch (&opt.sh->failed, test_failed, __ATOMIC_RELAXED);
    test_checks = test_failed = 0;
    opt.sh->current = -1;
    opt.sh->done++;
  }
  return last;
}

/* Fork a child for [first, last); it reports its checks through opt.sh
 * item by item and exits 0.  Returns the wait status. */
static int
child_run (enum item_kind k, long first, long last, bool timed, bool quiet)
{
  fflush (stdout);
  fflush (stderr);
  opt.sh->finished = false;
  pid_t pid = fork ();
  if (pid == -1) {
    perror ("fork");
    exit (99);
  }
  if (pid == 0) {
    if (quiet) {
      int fd = open ("/dev/null", O_WRONLY);
      dup2 (fd, 2);
      dup2 (fd, 1);
    }
    run_items (k, first, last, timed);
    opt.sh->finished = true;
    fflush (stdout);
    exit (0);                     /* LeakSanitizer checks here */
  }
  int status;
  while (waitpid (pid, &status, 0) == -1)
    if (errno != EINTR) {
      perror ("waitpid");
      exit (99);
    }
  return status;
}

/* The child got to its exit() and nothing objected on the way out. */
static bool
clean_exit (int status)
{
  return opt.sh->finished && WIFEXITED (status) && WEXITSTATUS (status) == 0;
}

static void
describe (int status, char *buf, size_t n)
{
  if (WIFSIGNALED (status))
    snprintf (buf, n, "killed by signal %d (%s)", WTERMSIG (status),
              strsignal (WTERMSIG (status)));
  else
    snprintf (buf, n, "exit status %d", WEXITSTATUS (status));
}

static void
parent_failure (const char *fmt, ...) __attribute__ ((format (printf, 1, 2)));

static void
parent_failure (const char *fmt, ...)
{
  va_list ap;
  char msg[512];
  va_start (ap, fmt);
  vsnprintf (msg, sizeof msg, fmt, ap);
  va_end (ap);
  test_count ();
  test_report (__FILE__, __LINE__, "%s", msg);
  opt.crashes++;
}

/* The items of [first, last) all completed, but the child died at exit:
 * a leak report.  Halve the range until one item is left. */
static void
find_leak (enum item_kind k, long first, long last)
{
  char label[160], repro[160];

  while (last - first > 1) {
    long mid = first + (last - first) / 2;
    opt.sh->current = -1;
    if (!clean_exit (child_run (k, first, mid, false, true)))
      last = mid;
    else
      first = mid;
  }
  item_label (k, first, label, sizeof label);
  item_repro (k, first, repro, sizeof repro);
  fprintf (stderr, "*** the sanitizer's exit-time report (a leak) comes from %s:\n", label);
  child_run (k, first, first + 1, false, false);
  parent_failure ("leak (or exit-time sanitizer report) in %s; reproduce with: "
                  "fuzz-server %s", label, repro);
}

/* Run [first, last) in children: a crash costs only its own item. */
static void
supervise (enum item_kind k, long first, long last, bool timed)
{
  long next = first;
  char label[160], repro[160], how[96];

  if (!opt.fork) {
    run_items (k, first, last, timed);
    return;
  }
  /* (run_items moved this process's counters to opt.sh as it went.) */
  while (next < last && !opt.sh->out_of_time) {
    opt.sh->current = -1;
    long done_before = opt.sh->done;
    int status = child_run (k, next, last, timed, false);
    long ran = opt.sh->done - done_before;
    if (clean_exit (status))
      return;
    describe (status, how, sizeof how);
    if (opt.sh->finished || opt.sh->current == -1) {
      /* Every item finished: the report came at exit. */
      find_leak (k, next, next + ran);
      return;
    }
    long bad = opt.sh->current;
    item_label (k, bad, label, sizeof label);
    item_repro (k, bad, repro, sizeof repro);
    parent_failure ("%s: the child was %s%s; reproduce with: fuzz-server %s --dump",
                    label, how,
                    WIFSIGNALED (status) && WTERMSIG (status) == SIGALRM
                    ? " (hung inside a library call)" : "", repro);
    opt.sh->st.runs++;
    opt.sh->st.failed++;
    next = bad + 1;
  }
}

static void
print_stats (const char *what, const struct stats *st, double secs)
{
  printf ("%s: %lu runs in %.1f s; %lu reached ready, %lu ended dead, %lu closed; "
          "%lu unmutated; %lu mutations applied; %lu hung; %lu failed\n",
          what, st->runs, secs, st->ready, st->dead, st->closed, st->unmutated,
          st->mutations, st->hung, st->failed);
}

int
main (int argc, char *argv[])
{
  unsigned long iterations = 20000, only = ULONG_MAX;
  const char *only_case = NULL;
  bool do_corpus = true, do_random = true;

  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    const char *v = i + 1 < argc ? argv[i + 1] : NULL;
    if (strcmp (a, "--seed") == 0 && v) { opt.seed = strtoull (v, NULL, 0); i++; }
    else if (strcmp (a, "--iterations") == 0 && v) { iterations = strtoul (v, NULL, 0); i++; }
    else if (strcmp (a, "--time") == 0 && v) { opt.time_budget = strtod (v, NULL); i++; }
    else if (strcmp (a, "--only") == 0 && v) { only = strtoul (v, NULL, 0); i++; }
    else if (strcmp (a, "--case") == 0 && v) { only_case = v; do_random = false; i++; }
    else if (strcmp (a, "--no-corpus") == 0) do_corpus = false;
    else if (strcmp (a, "--no-random") == 0) do_random = false;
    else if (strcmp (a, "--no-fork") == 0) opt.fork = false;
    else if (strcmp (a, "--dump") == 0) opt.dump = true;
    else if (strcmp (a, "--verbose") == 0) opt.verbose = true;
    else if (strcmp (a, "--help") == 0) {
      printf ("usage: %s [--seed N] [--iterations N] [--time S] [--only I]\n"
              "       [--case NAME|list] [--no-corpus] [--no-random] [--no-fork]\n"
              "       [--dump] [--verbose]\n", argv[0]);
      return 0;
    }
    else {
      fprintf (stderr, "usage: %s [--seed N] [--iterations N] [--time S] [--only I]\n"
               "       [--case NAME|list] [--no-corpus] [--no-random] [--no-fork]\n"
               "       [--dump] [--verbose]\n", argv[0]);
      return 2;
    }
  }
  if (only_case && strcmp (only_case, "list") == 0) {
    for (size_t k = 0; k < NCORPUS; k++)
      printf ("%s\n", corpus[k].name);
    return 0;
  }
  setvbuf (stdout, NULL, _IOLBF, 0);
  fz_install_crash_handler ();
  opt.sh = mmap (NULL, sizeof *opt.sh, PROT_READ | PROT_WRITE,
                 MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  if (opt.sh == MAP_FAILED) {
    perror ("mmap");
    return 99;
  }
  /* A lone item runs in this process: simplest under a debugger. */
  if (only_case || only != ULONG_MAX)
    opt.fork = false;

  if (do_corpus) {
    long first = 0, last = NCORPUS;
    if (only_case) {
      for (first = 0; first < (long) NCORPUS; first++)
        if (strcmp (only_case, corpus[first].name) == 0)
          break;
      if (first == (long) NCORPUS) {
        fprintf (stderr, "no corpus case %s (try --case list)\n", only_case);
        return 2;
      }
      last = first + 1;
    }
    opt.t0 = fz_now_ms ();
    opt.sh->st = (struct stats) { 0 };
    supervise (K_CORPUS, first, last, false);
    print_stats ("corpus", &opt.sh->st, (fz_now_ms () - opt.t0) / 1000.0);
  }

  if (do_random) {
    opt.t0 = fz_now_ms ();
    opt.sh->st = (struct stats) { 0 };
    opt.sh->out_of_time = false;
    if (only != ULONG_MAX)
      supervise (K_RANDOM, only, only + 1, false);
    else
      supervise (K_RANDOM, 0, iterations, true);
    if (opt.sh->out_of_time)
      printf ("time budget of %.0f s reached\n", opt.time_budget);
    printf ("seed %#" PRIx64 ": ", opt.seed);
    print_stats ("random", &opt.sh->st, (fz_now_ms () - opt.t0) / 1000.0);
  }
  test_checks += opt.sh->checks;
  test_failed += opt.sh->failed;
  return test_exit ();
}
