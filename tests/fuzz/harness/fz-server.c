/* The reactive fake NBD server. */
#include "fz-server-int.h"

#include <stdlib.h>
#include <string.h>

const char *const fz_msg_kind_name[] = {
  "greeting", "oldstyle", "opt-reply", "export-name-reply", "simple-reply", "chunk",
};

/* ------------------------------------------------------------------ */
/* The export's contents: a pattern with zero holes every 16 KiB. */

bool
fz_is_zero_region (uint64_t off)
{
  return (off >> 12) % 4 == 3;
}

static uint8_t
disk_byte_at (uint64_t off)
{
  if (fz_is_zero_region (off))
    return 0;
  return (uint8_t) (off * 31 + (off >> 9) + 7) | 1;   /* never 0 */
}

/* The pattern is computed once for the offsets reads reach in practice
 * (every export is at most FZ_EXPORT_SIZE, every read about as long):
 * filling and checking buffers is then memcpy and memcmp, which also
 * make ASan check every byte of the buffer at once. */
#define DISK_TABLE_SIZE (4 * FZ_EXPORT_SIZE)
static uint8_t disk_table[DISK_TABLE_SIZE];
static bool disk_table_ready;

static const uint8_t *
disk_table_at (uint64_t off, size_t n)
{
  if (off > DISK_TABLE_SIZE || n > DISK_TABLE_SIZE - off)
    return NULL;
  if (!disk_table_ready) {
    for (uint64_t i = 0; i < DISK_TABLE_SIZE; i++)
      disk_table[i] = disk_byte_at (i);
    disk_table_ready = true;
  }
  return disk_table + off;
}

uint8_t
fz_disk_byte (uint64_t off)
{
  const uint8_t *t = disk_table_at (off, 1);
  return t ? *t : disk_byte_at (off);
}

void
fz_disk_fill (uint8_t *dst, uint64_t off, size_t n)
{
  const uint8_t *t = disk_table_at (off, n);
  if (t)
    memcpy (dst, t, n);
  else
    for (size_t i = 0; i < n; i++)
      dst[i] = disk_byte_at (off + i);
}

size_t
fz_disk_mismatch (const uint8_t *p, uint64_t off, size_t n)
{
  const uint8_t *t = disk_table_at (off, n);
  if (t) {
    /* Damaged data is common: find the first wrong byte block by block
     * (the first memcmp also checks the whole range under ASan). */
    size_t i = 0;
    if (memcmp (p, t, n) == 0)
      return n;
    while (n - i > 64 && memcmp (p + i, t + i, 64) == 0)
      i += 64;
    while (i < n && p[i] == t[i])
      i++;
    return i;
  }
  for (size_t i = 0; i < n; i++)
    if (p[i] != disk_byte_at (off + i))
      return i;
  return n;
}

void
fz_srv_expect (struct fz_srv *s, uint64_t cookie, int err)
{
  if (s->nexpect == s->capexpect) {
    s->capexpect = s->capexpect ? 2 * s->capexpect : 8;
    s->expect = fz_xrealloc (s->expect, s->capexpect * sizeof *s->expect);
  }
  s->expect[s->nexpect].cookie = cookie;
  s->expect[s->nexpect].err = err;
  s->nexpect++;
}

/* -1: the server never answered that cookie. */
int
fz_srv_expected (const struct fz_srv *s, uint64_t cookie)
{
  for (size_t i = 0; i < s->nexpect; i++)
    if (s->expect[i].cookie == cookie)
      return s->expect[i].err;
  return -1;
}


/* Queue one message, after the hook and any mutations aimed at it; its
 * bytes move out of m->b. */
void
fz_srv_begin (struct fz_srv *s, struct fz_msg *m, size_t len)
{
  bool targeted = false;

  for (int i = 0; i < s->nmuts; i++)
    if (s->muts[i].target == s->nmsgs)
      targeted = true;
  if (!targeted && !s->muted && !s->tamper && !s->capture && !s->dump
      && m->b.p == NULL) {
    m->b = s->out;
    s->out = (struct fz_buf) { 0 };
    m->in_output = true;
  }
  fz_buf_reserve (&m->b, len);
}

void
fz_srv_emit (struct fz_srv *s, struct fz_msg *m)
{
  m->index = s->nmsgs++;
  m->copies = 1;
  m->close_after = false;
  if (m->in_output) {
    s->out = m->b;
    m->b = (struct fz_buf) { 0 };
    m->in_output = false;
    return;
  }
  if (s->muted)
    return;
  if (s->tamper)
    s->tamper (s, m);
  for (int i = 0; i < s->nmuts; i++)
    if (s->muts[i].target == m->index) {
      fz_apply_mutation (s, m, s->muts[i].kind);
      s->muts_applied++;
      if (s->dump)
        fprintf (stderr, "[srv] mutation %s on message %d\n",
                 fz_mut_name[s->muts[i].kind], m->index);
    }
  if (s->dump) {
    fprintf (stderr, "[srv] msg %d %s x%d%s (%zu bytes):\n", m->index,
             fz_msg_kind_name[m->kind], m->copies,
             m->close_after ? " then hang up" : "", m->b.len);
    fz_hexdump (stderr, m->b.p, m->b.len, 256);
  }
  /* The last copy takes the message's own buffer (m->b is left empty):
   * a read reply is not copied again on its way out. */
  for (int i = 0; i < m->copies; i++) {
    struct fz_buf *dst = &s->out;
    if (s->capture) {
      struct fz_msglist *l = s->capture;
      l->m = fz_xrealloc (l->m, (l->n + 1) * sizeof *l->m);
      l->m[l->n] = (struct fz_buf) { 0 };
      dst = &l->m[l->n++];
    }
    if (i + 1 == m->copies)
      fz_buf_take (dst, &m->b);
    else
      fz_buf_add (dst, m->b.p, m->b.len);
  }
  if (m->close_after) {
    s->muted = true;
    s->close_when_flushed = true;
  }
}

void
fz_srv_hang_up (struct fz_srv *s)
{
  if (!s->closed) {
    if (s->dump)
      fprintf (stderr, "[srv] hang up after %zu bytes\n", s->sent_total);
    s->closed = true;
  }
}

void
fz_srv_give_up (struct fz_srv *s, const char *why)
{
  if (s->dump && s->state != S_GAVE_UP)
    fprintf (stderr, "[srv] stops answering: %s\n", why);
  s->state = S_GAVE_UP;
}

/* A request has arrived whole: answer it, or keep it to answer in a
 * shuffled batch. */
static void
fz_srv_request (struct fz_srv *s, const struct fz_req *r)
{
  s->nreq_seen++;
  if (r->type == W_CMD_DISC) {
    fz_srv_flush_pending (s);
    fz_srv_give_up (s, "disconnect");
    s->close_when_flushed = true;
    return;
  }
  if (s->cfg.reorder) {
    if (s->npend == s->cappend) {
      s->cappend = s->cappend ? 2 * s->cappend : 8;
      s->pend = fz_xrealloc (s->pend, s->cappend * sizeof *s->pend);
    }
    s->pend[s->npend++] = *r;
  }
  else
    fz_srv_answer (s, r);
}

/* Parse and answer every complete message in the n bytes at base;
 * returns how many bytes that was (all of them once the server gave
 * up). */
static size_t
fz_srv_parse (struct fz_srv *s, const uint8_t *base, size_t n)
{
  size_t used = 0;

  for (;;) {
    const uint8_t *p = base + used;
    size_t avail = n - used;

    if (s->state == S_GAVE_UP)
      return n;
    if (s->skip) {
      /* A request whose payload the server does not read: it is
       * answered once the last byte is in, and not kept meanwhile. */
      size_t k = avail < s->skip ? avail : s->skip;
      used += k;
      s->skip -= k;
      s->skipped += k;
      if (s->skip)
        break;
      fz_srv_request (s, &s->skip_req);
      continue;
    }
    if (s->state == S_FLAGS) {
      if (avail < 4)
        break;
      s->client_flags = fz_get32 (p);
      used += 4;
      s->state = S_OPT;
      continue;
    }
    if (s->state == S_OPT) {
      if (avail < 16)
        break;
      if (fz_get64 (p) != W_IHAVEOPT) {
        fz_srv_give_up (s, "bad option magic");
        continue;
      }
      uint32_t opt = fz_get32 (p + 8), len = fz_get32 (p + 12);
      if (len > (1u << 20)) {
        fz_srv_give_up (s, "option too long");
        continue;
      }
      if (avail < 16u + len)
        break;
      used += 16 + len;
      fz_srv_option (s, opt, p + 16, len);
      continue;
    }
    /* S_TRANS */
    if (avail < 4)
      break;
    uint32_t magic = fz_get32 (p);
    size_t hlen = magic == W_REQUEST_MAGIC ? 28 : magic == W_EXT_REQUEST_MAGIC ? 32 : 0;
    if (hlen == 0) {
      fz_srv_give_up (s, "bad request magic");
      continue;
    }
    if (avail < hlen)
      break;
    struct fz_req r = {
      .flags = fz_get16 (p + 4), .type = fz_get16 (p + 6), .cookie = fz_get64 (p + 8),
      .offset = fz_get64 (p + 16),
      .count = hlen == 28 ? fz_get32 (p + 24) : fz_get64 (p + 24),
    };
    uint64_t payload = 0;
    if (r.type == W_CMD_WRITE || (hlen == 32 && (r.flags & W_CF_PAYLOAD_LEN)))
      payload = r.count;
    if (payload > (64u << 20)) {
      fz_srv_give_up (s, "payload too large");
      continue;
    }
    if (avail < hlen + payload && r.type != W_CMD_BLOCK_STATUS) {
      used += hlen;
      s->skip_req = r;
      s->skip = payload;
      s->skipped = hlen;
      continue;
    }
    if (avail < hlen + payload)
      break;
    if (r.type == W_CMD_BLOCK_STATUS && payload) {
      /* Filter payload: effect length, then the context ids wanted. */
      const uint8_t *q = p + hlen;
      if (payload < 12 || (payload - 8) % 4)
        r.bad_payload = true;
      else {
        r.count = fz_get64 (q);
        bool b = false, sec = false;
        for (uint64_t k = 8; k < payload; k += 4) {
          uint32_t id = fz_get32 (q + k);
          if (s->meta_set && id == s->meta_id)
            b = true;
          else if (s->meta2_set && id == s->meta_id2)
            sec = true;
          else
            r.bad_payload = true;
        }
        r.only_base = b && !sec;
        r.only_second = sec && !b;
      }
    }
    used += hlen + payload;
    fz_srv_request (s, &r);
  }
  return used;
}

/* The client's bytes, all that arrived since the last call: parse and
 * answer every complete message among them.  They are parsed where
 * they are when nothing is left over from before (a write's payload is
 * not copied); only an incomplete message's bytes are kept. */
void
fz_srv_feed (struct fz_srv *s, const void *p, size_t n)
{
  if (s->closed || n == 0)
    return;
  if (s->in.len == s->in_off) {
    size_t used = fz_srv_parse (s, p, n);
    if (s->state != S_GAVE_UP)
      fz_buf_add (&s->in, (const uint8_t *) p + used, n - used);
  }
  else {
    if (s->state != S_GAVE_UP)
      fz_buf_add (&s->in, p, n);
    s->in_off += fz_srv_parse (s, s->in.p + s->in_off, s->in.len - s->in_off);
  }
  fz_srv_flush_pending (s);
  if (s->in_off == s->in.len)
    s->in.len = s->in_off = 0;
}

size_t
fz_srv_partial_request (const struct fz_srv *s)
{
  if (s->state == S_GAVE_UP)
    return 0;
  return s->in.len - s->in_off + (s->skip ? s->skipped : 0);
}

/* The next piece of output to send: 0 when there is none (and then the
 * server may just have hung up). */
size_t
fz_srv_next_out (struct fz_srv *s, const uint8_t **p)
{
  size_t avail, piece;

  if (s->closed)
    return 0;
  avail = s->out.len - s->out_off;
  if (avail == 0) {
    if (s->close_when_flushed)
      fz_srv_hang_up (s);
    return 0;
  }
  piece = avail;
  /* Small pieces now and then make the client see partial messages;
   * not always, or a big read would take thousands of steps. */
  if (s->cfg.piece_max && piece > 1 && fz_chance (s->rng, 50))
    piece = 1 + fz_below (s->rng, (uint32_t) (piece < s->cfg.piece_max ? piece : s->cfg.piece_max));
  *p = s->out.p + s->out_off;
  return piece;
}

/* n bytes of the piece fz_srv_next_out offered were delivered. */
void
fz_srv_sent (struct fz_srv *s, size_t n)
{
  s->out_off += n;
  s->sent_total += n;
  if (s->out_off == s->out.len) {
    s->out.len = s->out_off = 0;
    if (s->close_when_flushed)
      fz_srv_hang_up (s);
  }
}

void
fz_srv_start (struct fz_srv *s)
{
  if (s->cfg.style == 2) {
    struct fz_msg m = { .kind = FM_OLDSTYLE, .hdr_len = 16 };
    fz_buf_add64 (&m.b, W_NBDMAGIC);
    fz_buf_add64 (&m.b, W_OLDSTYLE_MAGIC);
    fz_buf_add64 (&m.b, s->cfg.size);
    fz_buf_add32 (&m.b, s->cfg.eflags);     /* 16 bits global + 16 export */
    memset (fz_buf_grow (&m.b, 124), 0, 124);
    fz_srv_emit (s, &m);
    fz_buf_free (&m.b);
    s->state = S_TRANS;
    return;
  }
  struct fz_msg m = { .kind = FM_GREETING, .hdr_len = 16 };
  fz_buf_add64 (&m.b, W_NBDMAGIC);
  fz_buf_add64 (&m.b, W_IHAVEOPT);
  fz_buf_add16 (&m.b, (s->cfg.style == 0 ? W_FLAG_FIXED_NEWSTYLE : 0)
                | (s->cfg.no_zeroes ? W_FLAG_NO_ZEROES : 0));
  fz_srv_emit (s, &m);
  fz_buf_free (&m.b);
  s->state = S_FLAGS;
}

void
fz_srv_free (struct fz_srv *s)
{
  fz_srv_hang_up (s);
  fz_buf_free (&s->in);
  fz_buf_free (&s->out);
  free (s->pend);
  free (s->expect);
}
