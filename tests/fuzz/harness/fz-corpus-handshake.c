/* Corpus hooks that damage the handshake: greetings, option replies,
 * NBD_INFO_*, meta contexts, refusals. */
#include "fz-corpus-int.h"

#include <string.h>

void
t_greeting_magic (struct fz_srv *s, struct fz_msg *m)
{
  if (first (s, m->kind == FM_GREETING))
    fz_put64 (m->b.p, UINT64_C(0x4e42444d41474944));
}

void
t_opt_reply_magic (struct fz_srv *s, struct fz_msg *m)
{
  if (first (s, m->kind == FM_OPT_REPLY))
    m->b.p[3] ^= 0x40;
}

/* ACK to STRUCTURED_REPLY announcing 4 GiB of payload that never comes. */
void
t_opt_len_huge (struct fz_srv *s, struct fz_msg *m)
{
  if (first (s, m->kind == FM_OPT_REPLY && m->opt == W_OPT_STRUCTURED))
    msg_set_len (m, 0xffffffff);
}

/* NBD_REP_INFO announcing 1 MiB, carrying 14 bytes, then hang up. */
void
t_opt_len_big_truncated (struct fz_srv *s, struct fz_msg *m)
{
  if (first (s, is_info (m, W_INFO_EXPORT))) {
    msg_set_len (m, 1u << 20);
    m->close_after = true;
  }
}

/* An option reply longer than any sensible one, really sent. */
void
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
void
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
void
t_opt_meta_ack_twice (struct fz_srv *s, struct fz_msg *m)
{
  if (first (s, m->kind == FM_OPT_REPLY && m->opt == W_OPT_SET_META
             && m->rep == W_REP_ACK))
    m->copies = 2;
}

void
t_opt_wrong_option (struct fz_srv *s, struct fz_msg *m)
{
  if (first (s, m->kind == FM_OPT_REPLY && m->opt == W_OPT_STRUCTURED))
    fz_put32 (m->b.p + 8, W_OPT_GO);
}

void
t_opt_unknown_reply_type (struct fz_srv *s, struct fz_msg *m)
{
  if (first (s, m->kind == FM_OPT_REPLY && m->opt == W_OPT_GO && m->rep == W_REP_ACK))
    fz_put32 (m->b.p + 12, 77);        /* neither ACK nor an error */
}

/* NBD_REP_SERVER whose name length runs past the payload. */
void
t_server_namelen_over (struct fz_srv *s, struct fz_msg *m)
{
  if (first (s, m->kind == FM_OPT_REPLY && m->rep == W_REP_SERVER))
    fz_put32 (payload (m), (uint32_t) payload_len (m));   /* 4 bytes too many */
}

void
t_server_namelen_huge (struct fz_srv *s, struct fz_msg *m)
{
  if (first (s, m->kind == FM_OPT_REPLY && m->rep == W_REP_SERVER))
    fz_put32 (payload (m), 0xffffffff);
}

void
t_server_short (struct fz_srv *s, struct fz_msg *m)
{
  if (first (s, m->kind == FM_OPT_REPLY && m->rep == W_REP_SERVER))
    msg_set_payload (m, "\0\0", 2, true);
}

void
t_info_export_short (struct fz_srv *s, struct fz_msg *m)
{
  if (first (s, is_info (m, W_INFO_EXPORT)))
    msg_set_payload (m, payload (m), 10, true);
}

void
t_info_export_long (struct fz_srv *s, struct fz_msg *m)
{
  if (first (s, is_info (m, W_INFO_EXPORT))) {
    uint8_t p[16] = { 0 };
    memcpy (p, payload (m), 12);
    msg_set_payload (m, p, sizeof p, true);
  }
}

void
t_info_empty (struct fz_srv *s, struct fz_msg *m)
{
  if (first (s, is_info (m, W_INFO_EXPORT)))
    msg_set_payload (m, NULL, 0, true);
}

void
t_info_one_byte (struct fz_srv *s, struct fz_msg *m)
{
  if (first (s, is_info (m, W_INFO_EXPORT)))
    msg_set_payload (m, "\0", 1, true);
}

void
t_info_bs_short (struct fz_srv *s, struct fz_msg *m)
{
  if (first (s, is_info (m, W_INFO_BLOCK_SIZE)))
    msg_set_payload (m, payload (m), 12, true);
}

void
t_info_bs_insane (struct fz_srv *s, struct fz_msg *m)
{
  if (first (s, is_info (m, W_INFO_BLOCK_SIZE))) {
    fz_put32 (payload (m) + 2, 3);          /* minimum not a power of 2 */
    fz_put32 (payload (m) + 6, 0);          /* preferred 0 */
    fz_put32 (payload (m) + 10, 1);         /* maximum below the minimum */
  }
}

void
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

void
t_info_size_huge (struct fz_srv *s, struct fz_msg *m)
{
  if (first (s, is_info (m, W_INFO_EXPORT)))
    fz_put64 (payload (m) + 2, UINT64_C(0xffffffffffffffff));
}

void
t_meta_short (struct fz_srv *s, struct fz_msg *m)
{
  if (first (s, m->kind == FM_OPT_REPLY && m->rep == W_REP_META_CONTEXT))
    msg_set_payload (m, "\0\0", 2, true);
}

void
t_meta_empty_name (struct fz_srv *s, struct fz_msg *m)
{
  if (first (s, m->kind == FM_OPT_REPLY && m->rep == W_REP_META_CONTEXT))
    msg_set_payload (m, payload (m), 4, true);
}

void
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

void
t_export_name_short (struct fz_srv *s, struct fz_msg *m)
{
  if (first (s, m->kind == FM_EXPORT_NAME_REPLY)) {
    m->b.len = 7;
    m->close_after = true;
  }
}

void
t_oldstyle_truncated (struct fz_srv *s, struct fz_msg *m)
{
  if (first (s, m->kind == FM_OLDSTYLE)) {
    m->b.len = 20;
    m->close_after = true;
  }
}

void
t_oldstyle_zero_size (struct fz_srv *s, struct fz_msg *m)
{
  if (first (s, m->kind == FM_OLDSTYLE))
    fz_put64 (m->b.p + 16, 0);
}

