/* Corpus hooks that damage replies: chunk lengths and types, block
 * status, error chunks, ranges, cookies, reply kinds. */
#include "fz-corpus-int.h"

#include <string.h>

void
t_hole_len_8 (struct fz_srv *s, struct fz_msg *m)
{
  if (first (s, is_chunk (m, W_CHUNK_OFFSET_HOLE)))
    msg_set_payload (m, payload (m), 8, true);
}

void
t_hole_size_0 (struct fz_srv *s, struct fz_msg *m)
{
  if (first (s, is_chunk (m, W_CHUNK_OFFSET_HOLE)))
    fz_put32 (payload (m) + 8, 0);
}

void
t_hole_outside (struct fz_srv *s, struct fz_msg *m)
{
  if (first (s, is_chunk (m, W_CHUNK_OFFSET_HOLE)))
    fz_put64 (payload (m), m->req_offset + m->req_count);
}

void
t_hole_too_big (struct fz_srv *s, struct fz_msg *m)
{
  if (first (s, is_chunk (m, W_CHUNK_OFFSET_HOLE)))
    fz_put32 (payload (m) + 8, 0x80000000u);
}

void
t_data_len_4 (struct fz_srv *s, struct fz_msg *m)
{
  if (first (s, is_chunk (m, W_CHUNK_OFFSET_DATA)))
    msg_set_payload (m, payload (m), 4, true);
}

void
t_data_len_8 (struct fz_srv *s, struct fz_msg *m)
{
  /* An offset and no data at all. */
  if (first (s, is_chunk (m, W_CHUNK_OFFSET_DATA)))
    msg_set_payload (m, payload (m), 8, true);
}

void
t_data_after_range (struct fz_srv *s, struct fz_msg *m)
{
  /* Starts inside the request, ends 100 bytes past it. */
  if (first (s, is_chunk (m, W_CHUNK_OFFSET_DATA)))
    fz_put64 (payload (m), m->req_offset + 100);
}

void
t_data_before_range (struct fz_srv *s, struct fz_msg *m)
{
  if (first (s, is_chunk (m, W_CHUNK_OFFSET_DATA)))
    fz_put64 (payload (m), m->req_offset - 1);
}

void
t_data_past_range (struct fz_srv *s, struct fz_msg *m)
{
  if (first (s, is_chunk (m, W_CHUNK_OFFSET_DATA)))
    fz_put64 (payload (m), m->req_offset + m->req_count);
}

void
t_data_offset_wraps (struct fz_srv *s, struct fz_msg *m)
{
  if (first (s, is_chunk (m, W_CHUNK_OFFSET_DATA)))
    fz_put64 (payload (m), UINT64_C(0xffffffffffffff00));
}

void
t_data_len_huge (struct fz_srv *s, struct fz_msg *m)
{
  if (first (s, is_chunk (m, W_CHUNK_OFFSET_DATA)))
    msg_set_len (m, 0xffffffff);
}

void
t_ext_len_2_63 (struct fz_srv *s, struct fz_msg *m)
{
  if (first (s, is_chunk (m, W_CHUNK_OFFSET_DATA)))
    msg_set_len (m, UINT64_C(0x8000000000000000));
}

void
t_ext_wrong_offset (struct fz_srv *s, struct fz_msg *m)
{
  if (first (s, is_chunk (m, W_CHUNK_OFFSET_DATA) && m->ext))
    fz_put64 (m->b.p + 16, m->req_offset + 4096);
}

void
t_none_with_payload (struct fz_srv *s, struct fz_msg *m)
{
  /* The read's single data chunk becomes NONE+DONE with 4 bytes. */
  if (first (s, is_chunk (m, W_CHUNK_OFFSET_DATA))) {
    fz_put16 (m->b.p + 6, W_CHUNK_NONE);
    fz_put16 (m->b.p + 4, W_REPLY_FLAG_DONE);
    msg_set_payload (m, "abcd", 4, true);
  }
}

void
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

void
t_done_missing (struct fz_srv *s, struct fz_msg *m)
{
  if (first (s, m->kind == FM_CHUNK && (m->flags & W_REPLY_FLAG_DONE)))
    fz_put16 (m->b.p + 4, 0);
}

void
t_done_twice (struct fz_srv *s, struct fz_msg *m)
{
  if (first (s, m->kind == FM_CHUNK && (m->flags & W_REPLY_FLAG_DONE)))
    m->copies = 2;
}

void
t_unknown_chunk_type (struct fz_srv *s, struct fz_msg *m)
{
  /* Unknown non-error type: the client cannot know its layout. */
  if (first (s, is_chunk (m, W_CHUNK_OFFSET_DATA)))
    fz_put16 (m->b.p + 6, 3);
}

void
t_unknown_error_type (struct fz_srv *s, struct fz_msg *m)
{
  /* Unknown error type, with a valid error payload: still a failure. */
  if (first (s, is_chunk (m, W_CHUNK_OFFSET_DATA))) {
    uint8_t p[6] = { 0, 0, 0, W_EIO, 0, 0 };
    fz_put16 (m->b.p + 6, 0x8000 | 100);
    msg_set_payload (m, p, sizeof p, true);
  }
}

void
t_bs_len_6 (struct fz_srv *s, struct fz_msg *m)
{
  if (first (s, is_chunk (m, W_CHUNK_BLOCK_STATUS)))
    msg_set_payload (m, payload (m), 6, true);
}

void
t_bs_len_not_multiple (struct fz_srv *s, struct fz_msg *m)
{
  if (first (s, is_chunk (m, W_CHUNK_BLOCK_STATUS) && payload_len (m) >= 12))
    msg_set_payload (m, payload (m), 4 + 8 + 4, true);   /* 1.5 descriptors */
}

void
t_bs_zero_desc (struct fz_srv *s, struct fz_msg *m)
{
  if (first (s, is_chunk (m, W_CHUNK_BLOCK_STATUS)))
    msg_set_payload (m, payload (m), 4, true);
}

void
t_bs_unknown_context (struct fz_srv *s, struct fz_msg *m)
{
  if (first (s, is_chunk (m, W_CHUNK_BLOCK_STATUS) || is_chunk (m, W_CHUNK_BS_EXT)))
    fz_put32 (payload (m), 0x7ffffff0);
}

void
t_bs_zero_length_extent (struct fz_srv *s, struct fz_msg *m)
{
  if (first (s, is_chunk (m, W_CHUNK_BLOCK_STATUS)))
    fz_put32 (payload (m) + 4, 0);
}

void
t_bs_ext_zero_desc (struct fz_srv *s, struct fz_msg *m)
{
  if (first (s, is_chunk (m, W_CHUNK_BS_EXT))) {
    uint8_t p[8];
    memcpy (p, payload (m), 4);
    fz_put32 (p + 4, 0);
    msg_set_payload (m, p, 8, true);
  }
}

void
t_bs_ext_count_over (struct fz_srv *s, struct fz_msg *m)
{
  /* Descriptor count larger than the chunk holds. */
  if (first (s, is_chunk (m, W_CHUNK_BS_EXT)))
    fz_put32 (payload (m) + 4, fz_get32 (payload (m) + 4) + 5);
}

void
t_bs_ext_count_huge (struct fz_srv *s, struct fz_msg *m)
{
  if (first (s, is_chunk (m, W_CHUNK_BS_EXT)))
    fz_put32 (payload (m) + 4, 0xffffffff);
}

void
t_bs_ext_len_odd (struct fz_srv *s, struct fz_msg *m)
{
  if (first (s, is_chunk (m, W_CHUNK_BS_EXT) && payload_len (m) >= 24))
    msg_set_payload (m, payload (m), 8 + 16 + 8, true);
}

void
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

void
t_err_len_3 (struct fz_srv *s, struct fz_msg *m)
{
  if (first (s, is_chunk (m, W_CHUNK_OFFSET_DATA))) {
    fz_put16 (m->b.p + 4, W_REPLY_FLAG_DONE);
    fz_put16 (m->b.p + 6, W_CHUNK_ERROR);
    msg_set_payload (m, "\0\0\0", 3, true);
  }
}

void
t_err_msg_beyond (struct fz_srv *s, struct fz_msg *m)
{
  if (first (s, is_chunk (m, W_CHUNK_OFFSET_DATA)))
    error_chunk (m, W_CHUNK_ERROR, W_EIO, 200, "short", 5, NULL);
}

void
t_err_msg_ffff (struct fz_srv *s, struct fz_msg *m)
{
  if (first (s, is_chunk (m, W_CHUNK_OFFSET_DATA)))
    error_chunk (m, W_CHUNK_ERROR, W_EIO, 0xffff, "", 0, NULL);
}

void
t_err_offset_msg_overlaps (struct fz_srv *s, struct fz_msg *m)
{
  /* The message length eats the offset field: 6+4+8 bytes, msglen 8. */
  uint64_t off = m->req_offset;
  if (first (s, is_chunk (m, W_CHUNK_OFFSET_DATA)))
    error_chunk (m, W_CHUNK_ERROR_OFFSET, W_EIO, 8, "oops", 4, &off);
}

void
t_err_offset_outside (struct fz_srv *s, struct fz_msg *m)
{
  uint64_t off = m->req_offset + m->req_count + 4096;
  if (first (s, is_chunk (m, W_CHUNK_OFFSET_DATA)))
    error_chunk (m, W_CHUNK_ERROR_OFFSET, W_EIO, 3, "bad", 3, &off);
}

void
t_err_offset_no_offset (struct fz_srv *s, struct fz_msg *m)
{
  if (first (s, is_chunk (m, W_CHUNK_OFFSET_DATA)))
    error_chunk (m, W_CHUNK_ERROR_OFFSET, W_EIO, 0, "", 0, NULL);
}

void
t_err_zero_errno (struct fz_srv *s, struct fz_msg *m)
{
  if (first (s, is_chunk (m, W_CHUNK_OFFSET_DATA)))
    error_chunk (m, W_CHUNK_ERROR, 0, 0, "", 0, NULL);
}

void
t_err_unknown_errno (struct fz_srv *s, struct fz_msg *m)
{
  if (first (s, is_chunk (m, W_CHUNK_OFFSET_DATA)))
    error_chunk (m, W_CHUNK_ERROR, 0x7fffffff, 0, "", 0, NULL);
}

void
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

void
t_chunk_unknown_cookie (struct fz_srv *s, struct fz_msg *m)
{
  if (first (s, m->kind == FM_CHUNK))
    fz_put64 (m->b.p + 8, m->cookie + 1000);
}

void
t_simple_unknown_cookie (struct fz_srv *s, struct fz_msg *m)
{
  if (first (s, m->kind == FM_SIMPLE_REPLY))
    fz_put64 (m->b.p + 8, m->cookie ^ UINT64_C(0xdead000000000000));
}

void
t_reply_magic (struct fz_srv *s, struct fz_msg *m)
{
  if (first (s, m->kind == FM_CHUNK || m->kind == FM_SIMPLE_REPLY))
    fz_put32 (m->b.p, 0x12345678);
}

void
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

void
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

void
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

void
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

void
t_simple_error_then_data (struct fz_srv *s, struct fz_msg *m)
{
  /* No structured replies: the simple reply says EIO, then data follows
   * anyway (it is garbage for the next header). */
  if (first (s, m->kind == FM_SIMPLE_REPLY))
    fz_put32 (m->b.p + 4, W_EIO);
}

