/* The fake server's answers to requests: simple replies, structured or
 * extended chunks (data, holes, block status, errors), in or out of
 * order, split or interleaved. */
#include "fz-server-int.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

/* A simple reply's header, with room for len bytes of payload, which
 * the caller appends to m->b before fz_srv_emit. */
static struct fz_msg
fz_simple_begin (struct fz_srv *s, const struct fz_req *r, uint32_t err, size_t len)
{
  struct fz_msg m = {
    .kind = FM_SIMPLE_REPLY, .cmd = r->type, .cookie = r->cookie,
    .req_offset = r->offset, .req_count = r->count, .hdr_len = 16,
  };
  fz_srv_begin (s, &m, 16 + len);
  fz_buf_add32 (&m.b, W_SIMPLE_MAGIC);
  fz_buf_add32 (&m.b, err);
  fz_buf_add64 (&m.b, r->cookie);
  return m;
}

static void
fz_send (struct fz_srv *s, struct fz_msg *m)
{
  fz_srv_emit (s, m);
  fz_buf_free (&m->b);
}

static void
fz_simple (struct fz_srv *s, const struct fz_req *r, uint32_t err)
{
  struct fz_msg m = fz_simple_begin (s, r, err, 0);
  fz_send (s, &m);
}

/* A chunk's header for a payload of len bytes, which the caller appends
 * to m->b before fz_srv_emit (read data is made in place, not copied). */
static struct fz_msg
fz_chunk_begin (struct fz_srv *s, const struct fz_req *r, uint16_t flags,
                uint16_t type, size_t len)
{
  struct fz_msg m = {
    .kind = FM_CHUNK, .cmd = r->type, .chunk = type, .flags = flags,
    .cookie = r->cookie, .req_offset = r->offset, .req_count = r->count,
    .ext = s->ext, .hdr_len = s->ext ? 32 : 20,
  };
  fz_srv_begin (s, &m, m.hdr_len + len);
  if (s->ext) {
    fz_buf_add32 (&m.b, W_EXT_REPLY_MAGIC);
    fz_buf_add16 (&m.b, flags);
    fz_buf_add16 (&m.b, type);
    fz_buf_add64 (&m.b, r->cookie);
    fz_buf_add64 (&m.b, r->offset);
    fz_buf_add64 (&m.b, len);
  }
  else {
    fz_buf_add32 (&m.b, W_STRUCTURED_MAGIC);
    fz_buf_add16 (&m.b, flags);
    fz_buf_add16 (&m.b, type);
    fz_buf_add64 (&m.b, r->cookie);
    fz_buf_add32 (&m.b, (uint32_t) len);
  }
  return m;
}

static void
fz_chunk (struct fz_srv *s, const struct fz_req *r, uint16_t flags, uint16_t type,
          const void *payload, size_t len)
{
  struct fz_msg m = fz_chunk_begin (s, r, flags, type, len);
  fz_buf_add (&m.b, payload, len);
  fz_send (s, &m);
}

static bool
fz_srv_structured (const struct fz_srv *s)
{
  return s->sr || s->ext;
}

/* A final error reply in whichever form fits. */
static void
fz_reply_error (struct fz_srv *s, const struct fz_req *r, uint32_t err)
{
  if (!fz_srv_structured (s))
    fz_simple (s, r, err);
  else {
    const char *msg = fz_chance (s->rng, 50) ? "" : "injected failure";
    bool with_offset = r->type == W_CMD_READ && r->count && fz_chance (s->rng, 30);
    struct fz_buf p = { 0 };
    fz_buf_add32 (&p, err);
    fz_buf_add16 (&p, (uint16_t) strlen (msg));
    fz_buf_addstr (&p, msg);
    if (with_offset)
      fz_buf_add64 (&p, r->offset + fz_below (s->rng, (uint32_t) r->count));
    fz_chunk (s, r, W_REPLY_FLAG_DONE,
              with_offset ? W_CHUNK_ERROR_OFFSET : W_CHUNK_ERROR, p.p, p.len);
    fz_buf_free (&p);
  }
  fz_srv_expect (s, r->cookie, err == W_EPERM ? EPERM : err == W_EIO ? EIO : EINVAL);
}

/* A successful reply with no data. */
static void
fz_reply_ok (struct fz_srv *s, const struct fz_req *r)
{
  if (!fz_srv_structured (s) || (s->cfg.sr_simple && !s->ext))
    fz_simple (s, r, 0);
  else
    fz_chunk (s, r, W_REPLY_FLAG_DONE, W_CHUNK_NONE, NULL, 0);
  fz_srv_expect (s, r->cookie, 0);
}

static void
fz_reply_read (struct fz_srv *s, const struct fz_req *r)
{
  uint64_t off = r->offset, cnt = r->count;

  if (!fz_srv_structured (s)) {
    struct fz_msg m = fz_simple_begin (s, r, 0, cnt);
    fz_disk_fill (fz_buf_grow (&m.b, cnt), off, cnt);
    fz_send (s, &m);
    fz_srv_expect (s, r->cookie, 0);
    return;
  }

  /* Pieces: runs of equal zero-ness, cut at 4 KiB (split) or not at all. */
  struct piece { uint64_t off, len; bool zero; } *pc;
  size_t np = 0;
  bool df = r->flags & W_CF_DF;
  bool split = (s->cfg.split || s->cfg.holes) && !df;
  /* At most one piece per 4 KiB block touched: allocated once. */
  pc = fz_xrealloc (NULL, (split ? (cnt >> 12) + 2 : 1) * sizeof *pc);
  for (uint64_t o = off; o < off + cnt;) {
    uint64_t end = split ? ((o >> 12) + 1) << 12 : off + cnt;
    if (end > off + cnt)
      end = off + cnt;
    bool zero = split && fz_is_zero_region (o);
    if (np && split && pc[np - 1].zero == zero && !s->cfg.split)
      pc[np - 1].len += end - o;
    else
      pc[np++] = (struct piece) { o, end - o, zero };
    o = end;
  }
  /* Any order will do (unless DF). */
  if (!df && s->cfg.chunk_order == 2)
    for (size_t i = 0; i < np / 2; i++) {
      struct piece t = pc[i]; pc[i] = pc[np - 1 - i]; pc[np - 1 - i] = t;
    }
  else if (!df && s->cfg.chunk_order == 0)
    for (size_t i = np; i > 1; i--) {
      size_t j = fz_below (s->rng, (uint32_t) i);
      struct piece t = pc[i - 1]; pc[i - 1] = pc[j]; pc[j] = t;
    }
  bool none_done = s->cfg.none_done || np == 0;
  for (size_t i = 0; i < np; i++) {
    uint16_t flags = (i + 1 == np && !none_done) ? W_REPLY_FLAG_DONE : 0;
    bool hole = pc[i].zero && s->cfg.holes;
    struct fz_msg m = fz_chunk_begin (s, r, flags,
                                      hole ? W_CHUNK_OFFSET_HOLE : W_CHUNK_OFFSET_DATA,
                                      hole ? 12 : 8 + pc[i].len);
    fz_buf_add64 (&m.b, pc[i].off);
    if (hole)
      fz_buf_add32 (&m.b, (uint32_t) pc[i].len);
    else
      fz_disk_fill (fz_buf_grow (&m.b, pc[i].len), pc[i].off, pc[i].len);
    fz_send (s, &m);
  }
  if (none_done)
    fz_chunk (s, r, W_REPLY_FLAG_DONE, W_CHUNK_NONE, NULL, 0);
  free (pc);
  fz_srv_expect (s, r->cookie, 0);
}

/* One status chunk for one context; the chunk's DONE flag as asked. */
static void
fz_block_status_chunk (struct fz_srv *s, const struct fz_req *r, uint32_t id,
                       bool second, uint16_t flags)
{
  struct fz_buf p = { 0 };
  uint32_t n = 0;
  size_t count_at;

  fz_buf_add32 (&p, id);
  count_at = p.len;
  if (s->ext)
    fz_buf_add32 (&p, 0);           /* descriptor count, filled below */
  for (uint64_t o = r->offset; o < s->cfg.size && n < 64;) {
    uint64_t end = ((o >> 12) + 1) << 12;
    bool zero = fz_is_zero_region (o);
    if (second)                     /* one flat extent */
      end = r->offset + (r->count ? r->count : 1);
    else
      while (end < s->cfg.size && fz_is_zero_region (end) == zero)
        end += 4096;
    if (end > s->cfg.size)
      end = s->cfg.size;
    if ((r->flags & W_CF_REQ_ONE) && end - o > r->count && r->count)
      end = o + r->count;
    uint64_t st = second ? 0x5a : zero ? 3 : 0;
    if (s->ext) {
      fz_buf_add64 (&p, end - o);
      fz_buf_add64 (&p, st);
    }
    else {
      fz_buf_add32 (&p, (uint32_t) (end - o));
      fz_buf_add32 (&p, (uint32_t) st);
    }
    n++;
    if ((r->flags & W_CF_REQ_ONE) || end >= r->offset + r->count)
      break;
    o = end;
  }
  if (s->ext)
    fz_put32 (p.p + count_at, n);
  fz_chunk (s, r, flags, s->ext ? W_CHUNK_BS_EXT : W_CHUNK_BLOCK_STATUS, p.p, p.len);
  fz_buf_free (&p);
}

static void
fz_reply_block_status (struct fz_srv *s, const struct fz_req *r)
{
  bool base = s->meta_set && !r->only_second;
  bool second = s->meta2_set && !r->only_base;

  if (!fz_srv_structured (s) || r->bad_payload || (!base && !second)
      || r->offset >= s->cfg.size) {
    fz_reply_error (s, r, W_EINVAL);
    return;
  }
  /* Either order; DONE on the last one or on a NONE chunk after them. */
  bool second_first = fz_chance (s->rng, 50);
  bool none_done = s->cfg.none_done;
  for (int k = 0; k < 2; k++) {
    bool is_second = (k == 0) == second_first;
    if (is_second ? !second : !base)
      continue;
    bool last = k == 1 || (is_second ? !base : !second);
    fz_block_status_chunk (s, r, is_second ? s->meta_id2 : s->meta_id, is_second,
                           last && !none_done ? W_REPLY_FLAG_DONE : 0);
  }
  if (none_done)
    fz_chunk (s, r, W_REPLY_FLAG_DONE, W_CHUNK_NONE, NULL, 0);
  fz_srv_expect (s, r->cookie, 0);
}

void
fz_srv_answer (struct fz_srv *s, const struct fz_req *r)
{
  bool inject = s->cfg.err_pct && fz_chance (s->rng, s->cfg.err_pct);
  bool writes = r->type == W_CMD_WRITE || r->type == W_CMD_TRIM || r->type == W_CMD_ZEROES;

  if (r->type != W_CMD_FLUSH && (r->offset > s->cfg.size || r->count > s->cfg.size - r->offset)) {
    fz_reply_error (s, r, W_EINVAL);
    return;
  }
  if (writes && (s->cfg.eflags & W_EF_READ_ONLY)) {
    fz_reply_error (s, r, W_EPERM);
    return;
  }
  if (inject && r->type != W_CMD_BLOCK_STATUS) {
    fz_reply_error (s, r, W_EIO);
    return;
  }
  switch (r->type) {
  case W_CMD_READ:
    fz_reply_read (s, r);
    break;
  case W_CMD_BLOCK_STATUS:
    fz_reply_block_status (s, r);
    break;
  case W_CMD_WRITE: case W_CMD_FLUSH: case W_CMD_TRIM: case W_CMD_CACHE:
  case W_CMD_ZEROES:
    fz_reply_ok (s, r);
    break;
  default:
    fz_reply_error (s, r, W_EINVAL);
  }
}

void
fz_srv_flush_pending (struct fz_srv *s)
{
  for (size_t i = s->npend; i > 1; i--) {
    size_t j = fz_below (s->rng, (uint32_t) i);
    struct fz_req t = s->pend[i - 1]; s->pend[i - 1] = s->pend[j]; s->pend[j] = t;
  }
  if (!s->cfg.interleave || s->npend < 2) {
    for (size_t i = 0; i < s->npend; i++)
      fz_srv_answer (s, &s->pend[i]);
    s->npend = 0;
    return;
  }
  /* Each reply's messages in order, the replies mixed together. */
  struct fz_msglist *l = calloc (s->npend, sizeof *l);
  size_t left = 0;
  for (size_t i = 0; i < s->npend; i++) {
    s->capture = &l[i];
    fz_srv_answer (s, &s->pend[i]);
    left += l[i].n;
  }
  s->capture = NULL;
  while (left) {
    size_t i = fz_below (s->rng, (uint32_t) s->npend);
    while (l[i].next == l[i].n)
      i = (i + 1) % s->npend;
    fz_buf_take (&s->out, &l[i].m[l[i].next]);
    fz_buf_free (&l[i].m[l[i].next]);
    l[i].next++;
    left--;
  }
  for (size_t i = 0; i < s->npend; i++)
    free (l[i].m);
  free (l);
  s->npend = 0;
}

